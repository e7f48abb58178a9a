/*
 * test_group.c - the group coordinator driven through its request handlers:
 * JoinGroup/SyncGroup rebalances with parked requests, heartbeats, leave,
 * session and rebalance timeouts via kb_groups_tick with a fake clock,
 * OffsetCommit/OffsetFetch, persistence of offsets across close/open, a
 * torn journal tail, and truncated/random requests that must never crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/group.h"
#include "broker/group_int.h" /* compaction threshold, for one test */
#include "broker/handlers.h"
#include "broker/store.h"
#include "common/util.h"

/* ---- fixture ----------------------------------------------------------- */

typedef struct fx {
    kb_broker b;
    char dir[256];
} fx;

static void open_groups(fx *f) {
    char err[512];
    if (kb_groups_open(&f->b.groups, &f->b, f->dir, err, sizeof(err)) != 0)
        fail_msg("kb_groups_open: %s", err);
}

static int setup(void **state) {
    fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/kb-test-group-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    kb_config_defaults(&f->b.cfg);
    kf_strlcpy(f->b.cfg.data_dir, f->dir, sizeof(f->b.cfg.data_dir));
    f->b.cfg.group_initial_rebalance_delay_ms = 0;
    f->b.cfg.group_min_session_ms = 10;
    kf_strlcpy(f->b.cfg.advertised_host, "broker.example", sizeof(f->b.cfg.advertised_host));
    f->b.cfg.advertised_port = 9092;
    f->b.cfg.node_id = 7;
    /* The store is opened so topic/partition checks are real. */
    kb_log_cfg lc;
    memset(&lc, 0, sizeof(lc));
    lc.segment_bytes = 1 << 20;
    lc.segment_ms = 604800000;
    lc.retention_bytes = -1;
    lc.retention_ms = -1;
    lc.flush_messages = INT64_MAX;
    lc.flush_ms = INT64_MAX;
    lc.index_interval_bytes = 4096;
    lc.segment_index_bytes = 10485760;
    lc.max_message_bytes = 1048588;
    char err[512];
    if (kb_store_open(&f->b.store, f->dir, &lc, err, sizeof(err)) != 0)
        fail_msg("kb_store_open: %s", err);
    kb_topic *t;
    assert_int_equal(kb_store_create(f->b.store, "t1", 4, NULL, &t, err, sizeof(err)), 0);
    assert_int_equal(kb_store_create(f->b.store, "t2", 2, NULL, &t, err, sizeof(err)), 0);
    open_groups(f);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx *f = *state;
    kb_groups_close(f->b.groups);
    if (f->b.store)
        kb_store_close(f->b.store);
    kb_config_free(&f->b.cfg);
    kf_rmtree(f->dir);
    free(f);
    return 0;
}

/* ---- request plumbing ---------------------------------------------------- */

static void req_init(kb_req *r, int16_t key, int16_t ver, int flex, const kf_buf *body,
                     const char *client_id) {
    memset(r, 0, sizeof(*r));
    r->api_key = key;
    r->api_version = ver;
    r->flex = flex;
    r->frame = malloc(body->len + 1);
    if (body->len)
        memcpy(r->frame, body->data, body->len);
    r->frame_len = body->len;
    r->arrived_ms = kf_now_ms();
    r->peer = "10.1.2.3:5555";
    r->client_id = client_id;
    r->client_id_len = client_id ? (int32_t)strlen(client_id) : -1;
}

static void req_free(kb_req *r) {
    if (r->park_free && r->park_state)
        r->park_free(r->park_state);
    r->park_state = NULL;
    free(r->frame);
    r->frame = NULL;
}

/* Runs a handler; a parked request stays in r for rerun()/req_free(). */
static int run(kb_broker *b, kb_handler_fn h, kb_req *r, kf_buf *out) {
    kf_buf_reset(out);
    int rc = h(b, r, out);
    if (rc == KB_PARK)
        r->retries++;
    return rc;
}

static int call(kb_broker *b, kb_handler_fn h, int16_t key, int16_t ver, int flex,
                const kf_buf *body, kf_buf *out) {
    kb_req r;
    req_init(&r, key, ver, flex, body, "cli");
    int rc = run(b, h, &r, out);
    assert_int_not_equal(rc, KB_PARK);
    req_free(&r);
    return rc;
}

/* ---- JoinGroup / SyncGroup / Heartbeat / LeaveGroup ---------------------- */

typedef struct jres {
    int16_t err;
    int32_t gen;
    char proto[64], leader[128], member[128];
    int nmembers;
    char members[4][128];
    char meta[4][64];
} jres;

static void rd_cstr(kf_rd *rd, char *dst, size_t n) {
    const char *s;
    int32_t l = kf_rd_str(rd, 0, &s);
    assert_true(l >= 0 && (size_t)l < n);
    memcpy(dst, s, (size_t)l);
    dst[l] = '\0';
}

static void parse_join(const kf_buf *out, int16_t ver, jres *j) {
    memset(j, 0, sizeof(*j));
    kf_rd rd;
    kf_rd_init(&rd, out->data, out->len);
    if (ver >= 2)
        assert_int_equal(kf_rd_i32(&rd), 0);
    j->err = kf_rd_i16(&rd);
    j->gen = kf_rd_i32(&rd);
    rd_cstr(&rd, j->proto, sizeof(j->proto));
    rd_cstr(&rd, j->leader, sizeof(j->leader));
    rd_cstr(&rd, j->member, sizeof(j->member));
    j->nmembers = kf_rd_arr(&rd, 0, 1);
    assert_true(j->nmembers >= 0 && j->nmembers <= 4);
    for (int i = 0; i < j->nmembers; i++) {
        rd_cstr(&rd, j->members[i], sizeof(j->members[i]));
        if (ver >= 5) {
            const char *s;
            assert_int_equal(kf_rd_str(&rd, 0, &s), -1);
        }
        const uint8_t *m;
        int32_t ml = kf_rd_bytes(&rd, 0, &m);
        assert_true(ml >= 0 && ml < 64);
        memcpy(j->meta[i], m, (size_t)ml);
    }
    assert_true(kf_rd_ok(&rd));
    assert_int_equal(kf_rd_left(&rd), 0);
}

/* A JoinGroup request; protos is "name=meta,name=meta". */
static void join_req(kb_req *r, int16_t ver, const char *group, int32_t session, int32_t rebalance,
                     const char *member, const char *protos) {
    kf_buf body;
    kf_buf_init(&body, 0);
    kf_wr_cstr(&body, 0, group);
    kf_wr_i32(&body, session);
    if (ver >= 1)
        kf_wr_i32(&body, rebalance);
    kf_wr_cstr(&body, 0, member);
    if (ver >= 5)
        kf_wr_cstr(&body, 0, NULL);
    kf_wr_cstr(&body, 0, "consumer");
    char tmp[256];
    kf_strlcpy(tmp, protos, sizeof(tmp));
    int n = 0;
    for (char *p = tmp; p; p = strchr(p, ','), p = p ? p + 1 : NULL)
        n++;
    kf_wr_arr(&body, 0, n);
    char *save = NULL;
    for (char *tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        *eq = '\0';
        kf_wr_cstr(&body, 0, tok);
        kf_wr_bytes(&body, 0, eq + 1, (int32_t)strlen(eq + 1));
    }
    req_init(r, KF_API_JOIN_GROUP, ver, 0, &body, "cli");
    kf_buf_free(&body);
}

/* Runs a JoinGroup that must answer now. */
static void join_now(kb_broker *b, int16_t ver, const char *group, int32_t session,
                     const char *member, const char *protos, jres *j) {
    kb_req r;
    kf_buf out;
    kf_buf_init(&out, 0);
    join_req(&r, ver, group, session, session, member, protos);
    assert_int_equal(run(b, kb_h_join_group, &r, &out), KB_OK);
    parse_join(&out, ver, j);
    req_free(&r);
    kf_buf_free(&out);
}

/* v5 join of a new member: MEMBER_ID_REQUIRED, then the real join, left
 * parked in r (or answered: returns the rc). */
static int join_new_v5(kb_broker *b, const char *group, int32_t session, const char *protos,
                       char *id, size_t idlen, kb_req *r, kf_buf *out) {
    jres j;
    join_now(b, 5, group, session, "", protos, &j);
    assert_int_equal(j.err, KF_ERR_MEMBER_ID_REQUIRED);
    assert_int_equal(j.gen, -1);
    assert_true(strncmp(j.member, "cli-", 4) == 0);
    assert_int_equal(strlen(j.member), 4 + 36);
    kf_strlcpy(id, j.member, idlen);
    join_req(r, 5, group, session, session, id, protos);
    return run(b, kb_h_join_group, r, out);
}

static void sync_req(kb_req *r, int16_t ver, const char *group, int32_t gen, const char *member,
                     int nasg, const char **ids, const char **asg) {
    kf_buf body;
    kf_buf_init(&body, 0);
    kf_wr_cstr(&body, 0, group);
    kf_wr_i32(&body, gen);
    kf_wr_cstr(&body, 0, member);
    if (ver >= 3)
        kf_wr_cstr(&body, 0, NULL);
    kf_wr_arr(&body, 0, nasg);
    for (int i = 0; i < nasg; i++) {
        kf_wr_cstr(&body, 0, ids[i]);
        kf_wr_bytes(&body, 0, asg[i], (int32_t)strlen(asg[i]));
    }
    req_init(r, KF_API_SYNC_GROUP, ver, 0, &body, "cli");
    kf_buf_free(&body);
}

static int16_t parse_sync(const kf_buf *out, int16_t ver, char *asg, size_t n) {
    kf_rd rd;
    kf_rd_init(&rd, out->data, out->len);
    if (ver >= 1)
        assert_int_equal(kf_rd_i32(&rd), 0);
    int16_t err = kf_rd_i16(&rd);
    const uint8_t *a;
    int32_t l = kf_rd_bytes(&rd, 0, &a);
    assert_true(l >= 0 && (size_t)l < n);
    memcpy(asg, a, (size_t)l);
    asg[l] = '\0';
    assert_true(kf_rd_ok(&rd));
    assert_int_equal(kf_rd_left(&rd), 0);
    return err;
}

static int16_t simple_call(kb_broker *b, kb_handler_fn h, int16_t key, int16_t ver,
                           const char *group, int32_t gen, const char *member) {
    kf_buf body, out;
    kf_buf_init(&body, 0);
    kf_buf_init(&out, 0);
    kf_wr_cstr(&body, 0, group);
    if (key == KF_API_HEARTBEAT)
        kf_wr_i32(&body, gen);
    kf_wr_cstr(&body, 0, member);
    if (key == KF_API_HEARTBEAT && ver >= 3)
        kf_wr_cstr(&body, 0, NULL);
    assert_int_equal(call(b, h, key, ver, 0, &body, &out), KB_OK);
    kf_rd rd;
    kf_rd_init(&rd, out.data, out.len);
    if (ver >= 1)
        assert_int_equal(kf_rd_i32(&rd), 0);
    int16_t err = kf_rd_i16(&rd);
    assert_true(kf_rd_ok(&rd));
    assert_int_equal(kf_rd_left(&rd), 0);
    kf_buf_free(&body);
    kf_buf_free(&out);
    return err;
}

static int16_t heartbeat(kb_broker *b, const char *group, int32_t gen, const char *member) {
    return simple_call(b, kb_h_heartbeat, KF_API_HEARTBEAT, 3, group, gen, member);
}

static int16_t leave(kb_broker *b, const char *group, const char *member) {
    return simple_call(b, kb_h_leave_group, KF_API_LEAVE_GROUP, 1, group, 0, member);
}

static void test_find_coordinator(void **state) {
    fx *f = *state;
    for (int16_t v = 0; v <= 2; v++) {
        kf_buf body, out;
        kf_buf_init(&body, 0);
        kf_buf_init(&out, 0);
        kf_wr_cstr(&body, 0, "g");
        if (v >= 1)
            kf_wr_i8(&body, 0);
        assert_int_equal(
            call(&f->b, kb_h_find_coordinator, KF_API_FIND_COORDINATOR, v, 0, &body, &out), KB_OK);
        kf_rd rd;
        kf_rd_init(&rd, out.data, out.len);
        if (v >= 1)
            assert_int_equal(kf_rd_i32(&rd), 0);
        assert_int_equal(kf_rd_i16(&rd), 0);
        const char *s;
        if (v >= 1)
            assert_int_equal(kf_rd_str(&rd, 0, &s), -1);
        assert_int_equal(kf_rd_i32(&rd), 7);
        assert_int_equal(kf_rd_str(&rd, 0, &s), 14);
        assert_memory_equal(s, "broker.example", 14);
        assert_int_equal(kf_rd_i32(&rd), 9092);
        assert_int_equal(kf_rd_left(&rd), 0);
        kf_buf_free(&body);
        kf_buf_free(&out);
    }
}

/* Two members (librdkafka-style v5 with MEMBER_ID_REQUIRED), one
 * generation, leader assigns, both sync; a leave rebalances. */
static void test_two_members_rebalance(void **state) {
    fx *f = *state;
    kb_broker *b = &f->b;
    kf_buf out;
    kf_buf_init(&out, 0);
    char id1[128], id2[128], asg[64];
    kb_req r1, r2;
    jres j;

    /* First member: an Empty group with no initial delay completes at once. */
    assert_int_equal(
        join_new_v5(b, "g", 10000, "range=m1,roundrobin=m1rr", id1, sizeof(id1), &r1, &out), KB_OK);
    parse_join(&out, 5, &j);
    assert_int_equal(j.err, 0);
    assert_int_equal(j.gen, 1);
    assert_string_equal(j.proto, "range");
    assert_string_equal(j.leader, id1);
    assert_string_equal(j.member, id1);
    assert_int_equal(j.nmembers, 1);
    req_free(&r1);

    /* Second member arrives before the first synced: a new rebalance. */
    assert_int_equal(
        join_new_v5(b, "g", 10000, "roundrobin=m2rr,range=m2", id2, sizeof(id2), &r2, &out),
        KB_PARK);
    assert_int_equal(run(b, kb_h_join_group, &r2, &out), KB_PARK);
    assert_int_equal(heartbeat(b, "g", 1, id1), KF_ERR_REBALANCE_IN_PROGRESS);
    sync_req(&r1, 1, "g", 1, id1, 0, NULL, NULL);
    assert_int_equal(run(b, kb_h_sync_group, &r1, &out), KB_OK);
    assert_int_equal(parse_sync(&out, 1, asg, sizeof(asg)), KF_ERR_REBALANCE_IN_PROGRESS);
    req_free(&r1);

    /* The first member rejoins: everybody is in, generation 2. */
    join_req(&r1, 5, "g", 10000, 10000, id1, "range=m1,roundrobin=m1rr");
    assert_int_equal(run(b, kb_h_join_group, &r1, &out), KB_OK);
    parse_join(&out, 5, &j);
    assert_int_equal(j.err, 0);
    assert_int_equal(j.gen, 2);
    /* Votes: member 1 prefers range, member 2 roundrobin; tie -> the
     * first member's order. */
    assert_string_equal(j.proto, "range");
    assert_string_equal(j.leader, id1);
    assert_int_equal(j.nmembers, 2);
    assert_string_equal(j.members[0], id1);
    assert_string_equal(j.meta[0], "m1");
    assert_string_equal(j.members[1], id2);
    assert_string_equal(j.meta[1], "m2");
    req_free(&r1);
    assert_int_equal(run(b, kb_h_join_group, &r2, &out), KB_OK);
    parse_join(&out, 5, &j);
    assert_int_equal(j.err, 0);
    assert_int_equal(j.gen, 2);
    assert_string_equal(j.leader, id1);
    assert_string_equal(j.member, id2);
    assert_int_equal(j.nmembers, 0);
    req_free(&r2);

    /* Follower syncs first and parks; the leader's sync answers both. */
    assert_int_equal(heartbeat(b, "g", 2, id2), 0); /* CompletingRebalance */
    sync_req(&r2, 3, "g", 2, id2, 0, NULL, NULL);
    assert_int_equal(run(b, kb_h_sync_group, &r2, &out), KB_PARK);
    const char *ids[] = {id1, id2};
    const char *asgs[] = {"A1", "A2"};
    sync_req(&r1, 3, "g", 2, id1, 2, ids, asgs);
    assert_int_equal(run(b, kb_h_sync_group, &r1, &out), KB_OK);
    assert_int_equal(parse_sync(&out, 3, asg, sizeof(asg)), 0);
    assert_string_equal(asg, "A1");
    req_free(&r1);
    assert_true(b->woken);
    assert_int_equal(run(b, kb_h_sync_group, &r2, &out), KB_OK);
    assert_int_equal(parse_sync(&out, 3, asg, sizeof(asg)), 0);
    assert_string_equal(asg, "A2");
    req_free(&r2);

    assert_int_equal(heartbeat(b, "g", 2, id1), 0);
    assert_int_equal(heartbeat(b, "g", 2, id2), 0);
    assert_int_equal(heartbeat(b, "g", 1, id2), KF_ERR_ILLEGAL_GENERATION);
    assert_int_equal(heartbeat(b, "g", 2, "nobody"), KF_ERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(heartbeat(b, "nogroup", 2, id1), KF_ERR_UNKNOWN_MEMBER_ID);

    /* A follower rejoining with unchanged metadata while Stable gets the
     * current generation back without a rebalance. */
    join_now(b, 5, "g", 10000, id2, "roundrobin=m2rr,range=m2", &j);
    assert_int_equal(j.err, 0);
    assert_int_equal(j.gen, 2);
    assert_int_equal(heartbeat(b, "g", 2, id1), 0);

    /* Sync while Stable returns the stored assignment. */
    sync_req(&r2, 1, "g", 2, id2, 0, NULL, NULL);
    assert_int_equal(run(b, kb_h_sync_group, &r2, &out), KB_OK);
    assert_int_equal(parse_sync(&out, 1, asg, sizeof(asg)), 0);
    assert_string_equal(asg, "A2");
    req_free(&r2);

    /* Member 2 leaves: rebalance, member 1 alone in generation 3. */
    assert_int_equal(leave(b, "g", id2), 0);
    assert_int_equal(leave(b, "g", id2), KF_ERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(heartbeat(b, "g", 2, id1), KF_ERR_REBALANCE_IN_PROGRESS);
    join_now(b, 5, "g", 10000, id1, "range=m1,roundrobin=m1rr", &j);
    assert_int_equal(j.err, 0);
    assert_int_equal(j.gen, 3);
    assert_int_equal(j.nmembers, 1);

    /* Last member leaves: Empty, generation bumps. */
    assert_int_equal(leave(b, "g", id1), 0);
    assert_int_equal(heartbeat(b, "g", 3, id1), KF_ERR_UNKNOWN_MEMBER_ID);
    kf_buf_free(&out);
}

/* kafka-python style: JoinGroup v2 with an empty member id joins at once. */
static void test_join_v2_and_errors(void **state) {
    fx *f = *state;
    kb_broker *b = &f->b;
    jres j;
    join_now(b, 2, "g2", 10000, "", "range=x", &j);
    assert_int_equal(j.err, 0);
    assert_int_equal(j.gen, 1);
    assert_true(strncmp(j.member, "cli-", 4) == 0);
    assert_string_equal(j.leader, j.member);

    join_now(b, 2, "g2", 5, "", "range=x", &j);
    assert_int_equal(j.err, KF_ERR_INVALID_SESSION_TIMEOUT);
    join_now(b, 2, "g2", 10000000, "", "range=x", &j);
    assert_int_equal(j.err, KF_ERR_INVALID_SESSION_TIMEOUT);
    join_now(b, 2, "", 10000, "", "range=x", &j);
    assert_int_equal(j.err, KF_ERR_INVALID_GROUP_ID);
    join_now(b, 2, "g2", 10000, "", "sticky=x", &j);
    assert_int_equal(j.err, KF_ERR_INCONSISTENT_GROUP_PROTOCOL);
    join_now(b, 2, "g2", 10000, "ghost", "range=x", &j);
    assert_int_equal(j.err, KF_ERR_UNKNOWN_MEMBER_ID);
    assert_string_equal(j.member, "ghost");
    join_now(b, 2, "newgroup", 10000, "ghost", "range=x", &j);
    assert_int_equal(j.err, KF_ERR_UNKNOWN_MEMBER_ID);
}

/* Session expiry through kb_groups_tick with a fake clock. */
static void test_session_expiry(void **state) {
    fx *f = *state;
    kb_broker *b = &f->b;
    kf_buf out;
    kf_buf_init(&out, 0);
    jres j1, j2;
    kb_req r1, r2;
    /* m1: 1 s session, m2: 10 min. Both join in the initial delay. */
    b->cfg.group_initial_rebalance_delay_ms = 50;
    join_req(&r1, 2, "gs", 1000, 60000, "", "range=a");
    assert_int_equal(run(b, kb_h_join_group, &r1, &out), KB_PARK);
    join_req(&r2, 2, "gs", 600000, 60000, "", "range=b");
    assert_int_equal(run(b, kb_h_join_group, &r2, &out), KB_PARK);
    int64_t now = kf_now_ms();
    kb_groups_tick(b->groups, now + 60); /* delay over; new member -> delay again */
    kb_groups_tick(b->groups, now + 200);
    assert_int_equal(run(b, kb_h_join_group, &r1, &out), KB_OK);
    parse_join(&out, 2, &j1);
    assert_int_equal(run(b, kb_h_join_group, &r2, &out), KB_OK);
    parse_join(&out, 2, &j2);
    req_free(&r1);
    req_free(&r2);
    assert_int_equal(j1.gen, 1);
    assert_int_equal(j2.gen, 1);
    assert_int_equal(j1.nmembers, 2);
    assert_int_equal(j2.nmembers, 0);

    kb_groups_tick(b->groups, now + 5000);
    assert_int_equal(heartbeat(b, "gs", 1, j1.member), KF_ERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(heartbeat(b, "gs", 1, j2.member), KF_ERR_REBALANCE_IN_PROGRESS);
    jres j;
    join_now(b, 2, "gs", 600000, j2.member, "range=b", &j);
    assert_int_equal(j.err, 0);
    assert_int_equal(j.gen, 2);
    assert_string_equal(j.leader, j2.member);
    assert_int_equal(j.nmembers, 1);
    kf_buf_free(&out);
}

/* A member that does not rejoin within the rebalance timeout is dropped;
 * a parked request whose connection went away leaves nothing behind. */
static void test_rebalance_timeout(void **state) {
    fx *f = *state;
    kb_broker *b = &f->b;
    kf_buf out;
    kf_buf_init(&out, 0);
    jres ja, jb, j;
    join_now(b, 1, "gr", 600000, "", "range=a", &ja);
    assert_int_equal(ja.gen, 1);
    kb_req r;
    join_req(&r, 1, "gr", 600000, 5000, "", "range=b");
    assert_int_equal(run(b, kb_h_join_group, &r, &out), KB_PARK);
    join_now(b, 1, "gr", 600000, ja.member, "range=a", &j);
    assert_int_equal(j.gen, 2);
    assert_int_equal(run(b, kb_h_join_group, &r, &out), KB_OK);
    parse_join(&out, 1, &jb);
    req_free(&r);
    assert_int_equal(jb.gen, 2);
    const char *ids[] = {ja.member, jb.member};
    const char *asgs[] = {"x", "y"};
    sync_req(&r, 0, "gr", 2, ja.member, 2, ids, asgs);
    assert_int_equal(run(b, kb_h_sync_group, &r, &out), KB_OK);
    req_free(&r);

    /* The leader rejoins (leader rejoin always rebalances), b stays away. */
    join_req(&r, 1, "gr", 600000, 5000, ja.member, "range=a");
    assert_int_equal(run(b, kb_h_join_group, &r, &out), KB_PARK);
    kb_groups_tick(b->groups, kf_now_ms() + 1000);
    assert_int_equal(run(b, kb_h_join_group, &r, &out), KB_PARK);
    kb_groups_tick(b->groups, kf_now_ms() + 600001);
    assert_int_equal(run(b, kb_h_join_group, &r, &out), KB_OK);
    parse_join(&out, 1, &j);
    req_free(&r);
    assert_int_equal(j.gen, 3);
    assert_int_equal(j.nmembers, 1);
    assert_int_equal(heartbeat(b, "gr", 2, jb.member), KF_ERR_UNKNOWN_MEMBER_ID);

    /* A parked JoinGroup dropped with its connection: park_free runs, the
     * rebalance still completes, and later calls are fine. */
    join_req(&r, 1, "gr", 600000, 5000, "", "range=c");
    assert_int_equal(run(b, kb_h_join_group, &r, &out), KB_PARK);
    req_free(&r);
    join_now(b, 1, "gr", 600000, ja.member, "range=a", &j);
    assert_int_equal(j.gen, 4);
    assert_int_equal(j.nmembers, 2);
    /* The vanished member never syncs or heartbeats: it expires. */
    sync_req(&r, 0, "gr", 4, ja.member, 0, NULL, NULL);
    assert_int_equal(run(b, kb_h_sync_group, &r, &out), KB_OK);
    req_free(&r);
    kb_groups_tick(b->groups, kf_now_ms() + 700000);
    assert_int_equal(heartbeat(b, "gr", 4, ja.member), KF_ERR_UNKNOWN_MEMBER_ID);
    kf_buf_free(&out);
}

/* ---- offsets ------------------------------------------------------------ */

typedef struct cpart {
    const char *topic;
    int32_t part;
    int64_t offset;
    const char *meta;
} cpart;

/* OffsetCommit of n partitions (grouped by consecutive topic); fills
 * errs[i]. */
static void commit(kb_broker *b, int16_t ver, const char *group, int32_t gen, const char *member,
                   int n, const cpart *c, int16_t *errs) {
    kf_buf body, out;
    kf_buf_init(&body, 0);
    kf_buf_init(&out, 0);
    kf_wr_cstr(&body, 0, group);
    kf_wr_i32(&body, gen);
    kf_wr_cstr(&body, 0, member);
    if (ver >= 7)
        kf_wr_cstr(&body, 0, NULL);
    if (ver >= 2 && ver <= 4)
        kf_wr_i64(&body, -1);
    int nt = 0;
    for (int i = 0; i < n; i++)
        nt += i == 0 || strcmp(c[i].topic, c[i - 1].topic) != 0;
    kf_wr_arr(&body, 0, nt);
    for (int i = 0; i < n;) {
        int k = i;
        while (k < n && strcmp(c[k].topic, c[i].topic) == 0)
            k++;
        kf_wr_cstr(&body, 0, c[i].topic);
        kf_wr_arr(&body, 0, k - i);
        for (int p = i; p < k; p++) {
            kf_wr_i32(&body, c[p].part);
            kf_wr_i64(&body, c[p].offset);
            if (ver >= 6)
                kf_wr_i32(&body, 42);
            kf_wr_cstr(&body, 0, c[p].meta);
        }
        i = k;
    }
    assert_int_equal(call(b, kb_h_offset_commit, KF_API_OFFSET_COMMIT, ver, 0, &body, &out), KB_OK);
    kf_rd rd;
    kf_rd_init(&rd, out.data, out.len);
    if (ver >= 3)
        assert_int_equal(kf_rd_i32(&rd), 0);
    assert_int_equal(kf_rd_arr(&rd, 0, 1), nt);
    int idx = 0;
    for (int t = 0; t < nt; t++) {
        const char *s;
        kf_rd_str(&rd, 0, &s);
        int32_t np = kf_rd_arr(&rd, 0, 1);
        for (int p = 0; p < np; p++) {
            assert_int_equal(kf_rd_i32(&rd), c[idx].part);
            errs[idx++] = kf_rd_i16(&rd);
        }
    }
    assert_int_equal(idx, n);
    assert_true(kf_rd_ok(&rd));
    assert_int_equal(kf_rd_left(&rd), 0);
    kf_buf_free(&body);
    kf_buf_free(&out);
}

typedef struct fpart {
    char topic[32];
    int32_t part;
    int64_t offset;
    int32_t epoch;
    char meta[64];
    int16_t err;
} fpart;

/* OffsetFetch; topic NULL = all (v2+). Returns the number of partitions. */
static int fetch(kb_broker *b, int16_t ver, const char *group, const char *topic, int np,
                 const int32_t *parts, fpart *res, int max) {
    int flex = ver >= 6;
    kf_buf body, out;
    kf_buf_init(&body, 0);
    kf_buf_init(&out, 0);
    kf_wr_cstr(&body, flex, group);
    if (!topic) {
        kf_wr_arr(&body, flex, -1);
    } else {
        kf_wr_arr(&body, flex, 1);
        kf_wr_cstr(&body, flex, topic);
        kf_wr_arr(&body, flex, np);
        for (int i = 0; i < np; i++)
            kf_wr_i32(&body, parts[i]);
        kf_wr_tags(&body, flex);
    }
    if (ver >= 7)
        kf_wr_i8(&body, 1);
    kf_wr_tags(&body, flex);
    assert_int_equal(call(b, kb_h_offset_fetch, KF_API_OFFSET_FETCH, ver, flex, &body, &out),
                     KB_OK);
    kf_rd rd;
    kf_rd_init(&rd, out.data, out.len);
    if (ver >= 3)
        assert_int_equal(kf_rd_i32(&rd), 0);
    int32_t nt = kf_rd_arr(&rd, flex, 1);
    int n = 0;
    for (int t = 0; t < nt; t++) {
        const char *s;
        int32_t tl = kf_rd_str(&rd, flex, &s);
        int32_t pn = kf_rd_arr(&rd, flex, 1);
        for (int p = 0; p < pn; p++) {
            assert_true(n < max);
            fpart *x = &res[n++];
            memcpy(x->topic, s, (size_t)tl);
            x->topic[tl] = '\0';
            x->part = kf_rd_i32(&rd);
            x->offset = kf_rd_i64(&rd);
            x->epoch = ver >= 5 ? kf_rd_i32(&rd) : -1;
            const char *m;
            int32_t ml = kf_rd_str(&rd, flex, &m);
            assert_true(ml >= 0 && ml < 64);
            memcpy(x->meta, m, (size_t)ml);
            x->meta[ml] = '\0';
            x->err = kf_rd_i16(&rd);
            kf_rd_tags(&rd, flex);
        }
        kf_rd_tags(&rd, flex);
    }
    if (ver >= 2)
        assert_int_equal(kf_rd_i16(&rd), 0);
    kf_rd_tags(&rd, flex);
    assert_true(kf_rd_ok(&rd));
    assert_int_equal(kf_rd_left(&rd), 0);
    kf_buf_free(&body);
    kf_buf_free(&out);
    return n;
}

static void test_offsets(void **state) {
    fx *f = *state;
    kb_broker *b = &f->b;
    int16_t errs[8];
    fpart res[16];
    /* Standalone commit (assign() + commit) creates the group. */
    cpart c[] = {{"t1", 0, 100, "meta0"},
                 {"t1", 3, 7, NULL},
                 {"t1", 4, 1, NULL},
                 {"nope", 0, 5, NULL},
                 {"t2", 1, 55, ""}};
    commit(b, 2, "og", -1, "", 5, c, errs);
    assert_int_equal(errs[0], 0);
    assert_int_equal(errs[1], 0);
    assert_int_equal(errs[2], KF_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    assert_int_equal(errs[3], KF_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    assert_int_equal(errs[4], 0);

    int32_t parts[] = {0, 1, 3};
    assert_int_equal(fetch(b, 1, "og", "t1", 3, parts, res, 16), 3);
    assert_int_equal(res[0].offset, 100);
    assert_string_equal(res[0].meta, "meta0");
    assert_int_equal(res[1].offset, -1);
    assert_string_equal(res[1].meta, "");
    assert_int_equal(res[2].offset, 7);
    for (int i = 0; i < 3; i++)
        assert_int_equal(res[i].err, 0);

    /* v6 commit carries a leader epoch; v5+ fetch returns it; v6+ flexible. */
    cpart c2[] = {{"t1", 0, 200, "m"}};
    commit(b, 6, "og", -1, "", 1, c2, errs);
    assert_int_equal(errs[0], 0);
    for (int16_t v = 5; v <= 7; v++) {
        assert_int_equal(fetch(b, v, "og", "t1", 1, parts, res, 16), 1);
        assert_int_equal(res[0].offset, 200);
        assert_int_equal(res[0].epoch, 42);
    }
    /* All offsets of the group (null topics, v2+). */
    assert_int_equal(fetch(b, 2, "og", NULL, 0, NULL, res, 16), 3);
    assert_int_equal(fetch(b, 7, "og", NULL, 0, NULL, res, 16), 3);
    assert_int_equal(fetch(b, 7, "unknown-group", NULL, 0, NULL, res, 16), 0);
    assert_int_equal(fetch(b, 3, "unknown-group", "t1", 1, parts, res, 16), 1);
    assert_int_equal(res[0].offset, -1);

    /* Generation checks. */
    commit(b, 2, "nogroup", 3, "m", 1, c, errs);
    assert_int_equal(errs[0], KF_ERR_ILLEGAL_GENERATION);
    jres j;
    join_now(b, 2, "og", 10000, "", "range=a", &j);
    assert_int_equal(j.gen, 1);
    commit(b, 7, "og", -1, "", 1, c, errs);
    assert_int_equal(errs[0], KF_ERR_REBALANCE_IN_PROGRESS); /* CompletingRebalance */
    kb_req r;
    kf_buf out;
    kf_buf_init(&out, 0);
    sync_req(&r, 1, "og", 1, j.member, 0, NULL, NULL);
    assert_int_equal(run(b, kb_h_sync_group, &r, &out), KB_OK);
    req_free(&r);
    kf_buf_free(&out);
    commit(b, 7, "og", -1, "", 1, c, errs);
    assert_int_equal(errs[0], KF_ERR_UNKNOWN_MEMBER_ID);
    commit(b, 7, "og", 5, j.member, 1, c, errs);
    assert_int_equal(errs[0], KF_ERR_ILLEGAL_GENERATION);
    cpart c3[] = {{"t1", 1, 11, NULL}};
    commit(b, 3, "og", 1, j.member, 1, c3, errs);
    assert_int_equal(errs[0], 0);
    int32_t p1 = 1;
    assert_int_equal(fetch(b, 4, "og", "t1", 1, &p1, res, 16), 1);
    assert_int_equal(res[0].offset, 11);

    /* Metadata over 4096 bytes. */
    char *big = malloc(5000);
    memset(big, 'x', 4999);
    big[4999] = '\0';
    cpart c4[] = {{"t1", 2, 1, big}};
    commit(b, 3, "og", 1, j.member, 1, c4, errs);
    assert_int_equal(errs[0], 12);
    free(big);
}

static void test_persistence(void **state) {
    fx *f = *state;
    kb_broker *b = &f->b;
    int16_t errs[8];
    fpart res[16];
    cpart c[] = {{"t1", 0, 100, "a"}, {"t1", 1, 101, "b"}, {"t2", 0, 200, NULL}};
    commit(b, 2, "pg", -1, "", 3, c, errs);
    cpart c2[] = {{"t1", 0, 150, "a2"}};
    commit(b, 2, "pg", -1, "", 1, c2, errs);
    commit(b, 2, "other", -1, "", 1, c2, errs);
    for (int round = 0; round < 2; round++) {
        kb_groups_close(b->groups);
        open_groups(f);
        assert_int_equal(fetch(b, 2, "pg", NULL, 0, NULL, res, 16), 3);
        int32_t parts[] = {0, 1};
        assert_int_equal(fetch(b, 2, "pg", "t1", 2, parts, res, 16), 2);
        assert_int_equal(res[0].offset, 150);
        assert_string_equal(res[0].meta, "a2");
        assert_int_equal(res[1].offset, 101);
        assert_int_equal(fetch(b, 2, "other", NULL, 0, NULL, res, 16), 1);
    }
    /* Tombstones: a deleted group and a deleted topic stay deleted. */
    kf_buf body, out;
    kf_buf_init(&body, 0);
    kf_buf_init(&out, 0);
    kf_wr_arr(&body, 0, 2);
    kf_wr_cstr(&body, 0, "other");
    kf_wr_cstr(&body, 0, "missing");
    assert_int_equal(call(b, kb_h_delete_groups, KF_API_DELETE_GROUPS, 1, 0, &body, &out), KB_OK);
    kf_rd rd;
    kf_rd_init(&rd, out.data, out.len);
    assert_int_equal(kf_rd_i32(&rd), 0);
    assert_int_equal(kf_rd_arr(&rd, 0, 1), 2);
    const char *s;
    kf_rd_str(&rd, 0, &s);
    assert_int_equal(kf_rd_i16(&rd), 0);
    kf_rd_str(&rd, 0, &s);
    assert_int_equal(kf_rd_i16(&rd), KF_ERR_GROUP_ID_NOT_FOUND);
    assert_int_equal(kf_rd_left(&rd), 0);
    kb_groups_topic_deleted(b->groups, "t2");
    kb_groups_close(b->groups);
    open_groups(f);
    assert_int_equal(fetch(b, 2, "other", NULL, 0, NULL, res, 16), 0);
    assert_int_equal(fetch(b, 2, "pg", NULL, 0, NULL, res, 16), 2);
    kf_buf_free(&body);
    kf_buf_free(&out);
}

static void test_torn_tail(void **state) {
    fx *f = *state;
    kb_broker *b = &f->b;
    int16_t errs[8];
    fpart res[16];
    char path[512];
    snprintf(path, sizeof(path), "%s/kferry-meta/group-offsets.log", f->dir);
    cpart c1[] = {{"t1", 0, 1, "first"}};
    cpart c2[] = {{"t1", 1, 2, "second"}};
    commit(b, 2, "tg", -1, "", 1, c1, errs);
    kf_buf before;
    assert_int_equal(kf_read_file(path, &before, 1 << 20), 0);
    commit(b, 2, "tg", -1, "", 1, c2, errs);
    kb_groups_close(b->groups);
    kf_buf after;
    assert_int_equal(kf_read_file(path, &after, 1 << 20), 0);
    assert_true(after.len > before.len + 8);
    /* Cut the second entry in half, as a crash mid-write would. */
    assert_int_equal(truncate(path, (off_t)(before.len + (after.len - before.len) / 2)), 0);
    open_groups(f);
    assert_int_equal(fetch(b, 2, "tg", NULL, 0, NULL, res, 16), 1);
    assert_int_equal(res[0].part, 0);
    assert_string_equal(res[0].meta, "first");
    /* Appends after the recovered tail survive the next restart. */
    commit(b, 2, "tg", -1, "", 1, c2, errs);
    kb_groups_close(b->groups);
    open_groups(f);
    assert_int_equal(fetch(b, 2, "tg", NULL, 0, NULL, res, 16), 2);

    /* A corrupted byte (CRC mismatch) in the last entry is dropped too. */
    kb_groups_close(b->groups);
    kf_buf cur;
    assert_int_equal(kf_read_file(path, &cur, 1 << 20), 0);
    cur.data[cur.len - 2] ^= 0x55;
    assert_int_equal(kf_write_file_atomic(path, cur.data, cur.len), 0);
    open_groups(f);
    assert_int_equal(fetch(b, 2, "tg", NULL, 0, NULL, res, 16), 1);
    kf_buf_free(&before);
    kf_buf_free(&after);
    kf_buf_free(&cur);
}

/* ---- ListGroups, DescribeGroups, OffsetDelete ------------------------------ */

static void test_list_describe_delete(void **state) {
    fx *f = *state;
    kb_broker *b = &f->b;
    jres j;
    int16_t errs[4];
    join_now(b, 2, "dg", 10000, "", "range=x", &j);
    kb_req r;
    kf_buf out, body;
    kf_buf_init(&out, 0);
    kf_buf_init(&body, 0);
    const char *ids[] = {j.member};
    const char *asgs[] = {"ASG"};
    sync_req(&r, 2, "dg", 1, j.member, 1, ids, asgs);
    assert_int_equal(run(b, kb_h_sync_group, &r, &out), KB_OK);
    req_free(&r);
    cpart c[] = {{"t2", 0, 9, NULL}};
    commit(b, 2, "standalone", -1, "", 1, c, errs);

    for (int16_t v = 0; v <= 2; v++) {
        kf_buf_reset(&body);
        assert_int_equal(call(b, kb_h_list_groups, KF_API_LIST_GROUPS, v, 0, &body, &out), KB_OK);
        kf_rd rd;
        kf_rd_init(&rd, out.data, out.len);
        if (v >= 1)
            assert_int_equal(kf_rd_i32(&rd), 0);
        assert_int_equal(kf_rd_i16(&rd), 0);
        int32_t n = kf_rd_arr(&rd, 0, 1);
        assert_int_equal(n, 2);
        int seen = 0;
        for (int i = 0; i < n; i++) {
            char id[64], pt[64];
            rd_cstr(&rd, id, sizeof(id));
            rd_cstr(&rd, pt, sizeof(pt));
            if (!strcmp(id, "dg")) {
                assert_string_equal(pt, "consumer");
                seen |= 1;
            } else {
                assert_string_equal(id, "standalone");
                assert_string_equal(pt, "");
                seen |= 2;
            }
        }
        assert_int_equal(seen, 3);
        assert_int_equal(kf_rd_left(&rd), 0);
    }

    for (int16_t v = 0; v <= 4; v++) {
        kf_buf_reset(&body);
        kf_wr_arr(&body, 0, 2);
        kf_wr_cstr(&body, 0, "dg");
        kf_wr_cstr(&body, 0, "nosuch");
        if (v >= 3)
            kf_wr_i8(&body, 0);
        assert_int_equal(call(b, kb_h_describe_groups, KF_API_DESCRIBE_GROUPS, v, 0, &body, &out),
                         KB_OK);
        kf_rd rd;
        kf_rd_init(&rd, out.data, out.len);
        if (v >= 1)
            assert_int_equal(kf_rd_i32(&rd), 0);
        assert_int_equal(kf_rd_arr(&rd, 0, 1), 2);
        char s[128];
        assert_int_equal(kf_rd_i16(&rd), 0);
        rd_cstr(&rd, s, sizeof(s));
        assert_string_equal(s, "dg");
        rd_cstr(&rd, s, sizeof(s));
        assert_string_equal(s, "Stable");
        rd_cstr(&rd, s, sizeof(s));
        assert_string_equal(s, "consumer");
        rd_cstr(&rd, s, sizeof(s));
        assert_string_equal(s, "range");
        assert_int_equal(kf_rd_arr(&rd, 0, 1), 1);
        rd_cstr(&rd, s, sizeof(s));
        assert_string_equal(s, j.member);
        if (v >= 4) {
            const char *x;
            assert_int_equal(kf_rd_str(&rd, 0, &x), -1);
        }
        rd_cstr(&rd, s, sizeof(s));
        assert_string_equal(s, "cli");
        rd_cstr(&rd, s, sizeof(s));
        assert_string_equal(s, "/10.1.2.3");
        const uint8_t *bb;
        kf_rd_bytes(&rd, 0, &bb);
        assert_int_equal(kf_rd_bytes(&rd, 0, &bb), 3);
        assert_memory_equal(bb, "ASG", 3);
        if (v >= 3)
            assert_int_equal(kf_rd_i32(&rd), INT32_MIN);
        assert_int_equal(kf_rd_i16(&rd), 0);
        rd_cstr(&rd, s, sizeof(s));
        assert_string_equal(s, "nosuch");
        rd_cstr(&rd, s, sizeof(s));
        assert_string_equal(s, "Dead");
        rd_cstr(&rd, s, sizeof(s));
        rd_cstr(&rd, s, sizeof(s));
        assert_int_equal(kf_rd_arr(&rd, 0, 1), 0);
        if (v >= 3)
            assert_int_equal(kf_rd_i32(&rd), INT32_MIN);
        assert_true(kf_rd_ok(&rd));
        assert_int_equal(kf_rd_left(&rd), 0);
    }

    /* DeleteGroups of an active group: NON_EMPTY_GROUP. */
    kf_buf_reset(&body);
    kf_wr_arr(&body, 0, 1);
    kf_wr_cstr(&body, 0, "dg");
    assert_int_equal(call(b, kb_h_delete_groups, KF_API_DELETE_GROUPS, 0, 0, &body, &out), KB_OK);
    kf_rd rd;
    kf_rd_init(&rd, out.data, out.len);
    kf_rd_i32(&rd);
    kf_rd_arr(&rd, 0, 1);
    const char *s;
    kf_rd_str(&rd, 0, &s);
    assert_int_equal(kf_rd_i16(&rd), KF_ERR_NON_EMPTY_GROUP);

    /* OffsetDelete on the standalone (Empty) group. */
    kf_buf_reset(&body);
    kf_wr_cstr(&body, 0, "standalone");
    kf_wr_arr(&body, 0, 2);
    kf_wr_cstr(&body, 0, "t2");
    kf_wr_arr(&body, 0, 2);
    kf_wr_i32(&body, 0);
    kf_wr_i32(&body, 9);
    kf_wr_cstr(&body, 0, "zz");
    kf_wr_arr(&body, 0, 1);
    kf_wr_i32(&body, 0);
    assert_int_equal(call(b, kb_h_offset_delete, KF_API_OFFSET_DELETE, 0, 0, &body, &out), KB_OK);
    kf_rd_init(&rd, out.data, out.len);
    assert_int_equal(kf_rd_i16(&rd), 0);
    assert_int_equal(kf_rd_i32(&rd), 0);
    assert_int_equal(kf_rd_arr(&rd, 0, 1), 2);
    kf_rd_str(&rd, 0, &s);
    assert_int_equal(kf_rd_arr(&rd, 0, 1), 2);
    assert_int_equal(kf_rd_i32(&rd), 0);
    assert_int_equal(kf_rd_i16(&rd), 0);
    assert_int_equal(kf_rd_i32(&rd), 9);
    assert_int_equal(kf_rd_i16(&rd), KF_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    kf_rd_str(&rd, 0, &s);
    assert_int_equal(kf_rd_arr(&rd, 0, 1), 1);
    assert_int_equal(kf_rd_i32(&rd), 0);
    assert_int_equal(kf_rd_i16(&rd), KF_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    assert_int_equal(kf_rd_left(&rd), 0);
    fpart res[4];
    assert_int_equal(fetch(b, 2, "standalone", NULL, 0, NULL, res, 4), 0);
    /* Unknown group. */
    kf_buf_reset(&body);
    kf_wr_cstr(&body, 0, "nosuch");
    kf_wr_arr(&body, 0, 0);
    assert_int_equal(call(b, kb_h_offset_delete, KF_API_OFFSET_DELETE, 0, 0, &body, &out), KB_OK);
    kf_rd_init(&rd, out.data, out.len);
    assert_int_equal(kf_rd_i16(&rd), KF_ERR_GROUP_ID_NOT_FOUND);
    kf_buf_free(&out);
    kf_buf_free(&body);
}

/* OffsetDelete against a consumer group subscribed to the topic. */
static void test_offset_delete_subscribed(void **state) {
    fx *f = *state;
    kb_broker *b = &f->b;
    /* ConsumerProtocolSubscription v0: version, topics ["t1"], user data. */
    kf_buf sub, body, out;
    kf_buf_init(&sub, 0);
    kf_buf_init(&body, 0);
    kf_buf_init(&out, 0);
    kf_wr_i16(&sub, 0);
    kf_wr_arr(&sub, 0, 1);
    kf_wr_cstr(&sub, 0, "t1");
    kf_wr_bytes(&sub, 0, NULL, -1);
    kf_wr_cstr(&body, 0, "sg");
    kf_wr_i32(&body, 10000);
    kf_wr_i32(&body, 10000);
    kf_wr_cstr(&body, 0, "");
    kf_wr_cstr(&body, 0, "consumer");
    kf_wr_arr(&body, 0, 1);
    kf_wr_cstr(&body, 0, "range");
    kf_wr_bytes(&body, 0, sub.data, (int32_t)sub.len);
    kb_req r;
    req_init(&r, KF_API_JOIN_GROUP, 2, 0, &body, "c");
    assert_int_equal(run(b, kb_h_join_group, &r, &out), KB_OK);
    jres j;
    parse_join(&out, 2, &j);
    req_free(&r);
    sync_req(&r, 1, "sg", 1, j.member, 0, NULL, NULL);
    assert_int_equal(run(b, kb_h_sync_group, &r, &out), KB_OK);
    req_free(&r);
    int16_t errs[2];
    cpart c[] = {{"t1", 0, 5, NULL}, {"t2", 0, 6, NULL}};
    commit(b, 2, "sg", 1, j.member, 2, c, errs);
    assert_int_equal(errs[0], 0);
    assert_int_equal(errs[1], 0);
    kf_buf_reset(&body);
    kf_wr_cstr(&body, 0, "sg");
    kf_wr_arr(&body, 0, 2);
    kf_wr_cstr(&body, 0, "t1");
    kf_wr_arr(&body, 0, 1);
    kf_wr_i32(&body, 0);
    kf_wr_cstr(&body, 0, "t2");
    kf_wr_arr(&body, 0, 1);
    kf_wr_i32(&body, 0);
    assert_int_equal(call(b, kb_h_offset_delete, KF_API_OFFSET_DELETE, 0, 0, &body, &out), KB_OK);
    kf_rd rd;
    const char *s;
    kf_rd_init(&rd, out.data, out.len);
    assert_int_equal(kf_rd_i16(&rd), 0);
    kf_rd_i32(&rd);
    assert_int_equal(kf_rd_arr(&rd, 0, 1), 2);
    kf_rd_str(&rd, 0, &s);
    kf_rd_arr(&rd, 0, 1);
    kf_rd_i32(&rd);
    assert_int_equal(kf_rd_i16(&rd), KF_ERR_GROUP_SUBSCRIBED_TO_TOPIC);
    kf_rd_str(&rd, 0, &s);
    kf_rd_arr(&rd, 0, 1);
    kf_rd_i32(&rd);
    assert_int_equal(kf_rd_i16(&rd), 0);
    fpart res[4];
    assert_int_equal(fetch(b, 2, "sg", NULL, 0, NULL, res, 4), 1);
    assert_string_equal(res[0].topic, "t1");
    kf_buf_free(&sub);
    kf_buf_free(&body);
    kf_buf_free(&out);
}

/* Offsets of an Empty group expire offsets.retention after the later of
 * commit and emptiness; a group with members keeps them. */
static void test_offset_retention(void **state) {
    fx *f = *state;
    kb_broker *b = &f->b;
    int16_t errs[2];
    fpart res[4];
    b->cfg.offsets_retention_ms = 1;
    cpart c[] = {{"t1", 0, 5, NULL}};
    commit(b, 2, "old", -1, "", 1, c, errs);
    jres j;
    join_now(b, 0, "live", 10000, "", "range=x", &j);
    kb_req r;
    kf_buf out;
    kf_buf_init(&out, 0);
    sync_req(&r, 0, "live", 1, j.member, 0, NULL, NULL);
    assert_int_equal(run(b, kb_h_sync_group, &r, &out), KB_OK);
    req_free(&r);
    kf_buf_free(&out);
    commit(b, 2, "live", 1, j.member, 1, c, errs);
    assert_int_equal(errs[0], 0);
    usleep(20000);
    int64_t now = kf_now_ms();
    kb_groups_tick(b->groups, now + 1000000);
    assert_int_equal(fetch(b, 2, "old", NULL, 0, NULL, res, 4), 0);
    assert_int_equal(fetch(b, 2, "live", NULL, 0, NULL, res, 4), 1);
    /* Expiry is journaled. */
    kb_groups_close(b->groups);
    b->cfg.offsets_retention_ms = 604800000;
    open_groups(f);
    assert_int_equal(fetch(b, 2, "old", NULL, 0, NULL, res, 4), 0);
    assert_int_equal(fetch(b, 2, "live", NULL, 0, NULL, res, 4), 1);
}

/* A known member rejoining while Stable with a new subscription triggers a
 * rebalance; JoinGroup v0 uses the session timeout as rebalance timeout. */
static void test_rejoin_changed_metadata(void **state) {
    fx *f = *state;
    kb_broker *b = &f->b;
    kf_buf out;
    kf_buf_init(&out, 0);
    jres ja, jb, j;
    kb_req r;
    join_now(b, 0, "cm", 600000, "", "range=a", &ja);
    join_req(&r, 0, "cm", 600000, 0, "", "range=b");
    assert_int_equal(run(b, kb_h_join_group, &r, &out), KB_PARK);
    join_now(b, 0, "cm", 600000, ja.member, "range=a", &j);
    assert_int_equal(run(b, kb_h_join_group, &r, &out), KB_OK);
    parse_join(&out, 0, &jb);
    req_free(&r);
    assert_int_equal(jb.gen, 2);
    sync_req(&r, 0, "cm", 2, ja.member, 0, NULL, NULL);
    assert_int_equal(run(b, kb_h_sync_group, &r, &out), KB_OK);
    req_free(&r);
    assert_int_equal(heartbeat(b, "cm", 2, jb.member), 0);
    /* Follower b changes its subscription metadata. */
    join_req(&r, 0, "cm", 600000, 0, jb.member, "range=b2");
    assert_int_equal(run(b, kb_h_join_group, &r, &out), KB_PARK);
    assert_int_equal(heartbeat(b, "cm", 2, ja.member), KF_ERR_REBALANCE_IN_PROGRESS);
    join_now(b, 0, "cm", 600000, ja.member, "range=a", &j);
    assert_int_equal(j.gen, 3);
    assert_int_equal(j.nmembers, 2);
    assert_string_equal(j.meta[1], "b2");
    assert_int_equal(run(b, kb_h_join_group, &r, &out), KB_OK);
    req_free(&r);
    /* The same member joining again from a second connection supersedes
     * the first parked request, which answers REBALANCE_IN_PROGRESS. */
    kb_req r1, r2;
    join_req(&r1, 0, "cm", 600000, 0, jb.member, "range=b3");
    assert_int_equal(run(b, kb_h_join_group, &r1, &out), KB_PARK);
    join_req(&r2, 0, "cm", 600000, 0, jb.member, "range=b3");
    assert_int_equal(run(b, kb_h_join_group, &r2, &out), KB_PARK);
    assert_int_equal(run(b, kb_h_join_group, &r1, &out), KB_OK);
    parse_join(&out, 0, &j);
    assert_int_equal(j.err, KF_ERR_REBALANCE_IN_PROGRESS);
    req_free(&r1);
    join_now(b, 0, "cm", 600000, ja.member, "range=a", &j);
    assert_int_equal(j.gen, 4);
    assert_int_equal(run(b, kb_h_join_group, &r2, &out), KB_OK);
    parse_join(&out, 0, &j);
    assert_int_equal(j.err, 0);
    assert_int_equal(j.gen, 4);
    req_free(&r2);
    kf_buf_free(&out);
}

/* Runtime compaction keeps only live offsets and appends continue after it. */
static void test_runtime_compaction(void **state) {
    fx *f = *state;
    kb_broker *b = &f->b;
    int16_t errs[4];
    fpart res[8];
    char path[512];
    snprintf(path, sizeof(path), "%s/kferry-meta/group-offsets.log", f->dir);
    for (int i = 0; i < 200; i++) {
        cpart c[] = {{"t1", 0, i, "m"}, {"t1", 1, 1000 + i, NULL}};
        commit(b, 2, "cg", -1, "", 2, c, errs);
    }
    kf_buf before, after;
    assert_int_equal(kf_read_file(path, &before, 1 << 22), 0);
    b->groups->compact_at = 0;
    kb_groups_tick(b->groups, kf_now_ms());
    assert_int_equal(kf_read_file(path, &after, 1 << 22), 0);
    assert_true(after.len * 50 < before.len);
    cpart c2[] = {{"t2", 1, 77, NULL}};
    commit(b, 2, "cg", -1, "", 1, c2, errs);
    kb_groups_close(b->groups);
    open_groups(f);
    assert_int_equal(fetch(b, 2, "cg", NULL, 0, NULL, res, 8), 3);
    assert_int_equal(res[0].offset, 199);
    assert_int_equal(res[1].offset, 1199);
    assert_int_equal(res[2].offset, 77);
    kf_buf_free(&before);
    kf_buf_free(&after);
}

/* ---- robustness ------------------------------------------------------------ */

typedef struct api_case {
    kb_handler_fn h;
    int16_t key, minv, maxv, flex_from;
} api_case;

static const api_case apis[] = {
    {kb_h_find_coordinator, KF_API_FIND_COORDINATOR, 0, 2, 99},
    {kb_h_join_group, KF_API_JOIN_GROUP, 0, 5, 99},
    {kb_h_sync_group, KF_API_SYNC_GROUP, 0, 3, 99},
    {kb_h_heartbeat, KF_API_HEARTBEAT, 0, 3, 99},
    {kb_h_leave_group, KF_API_LEAVE_GROUP, 0, 1, 99},
    {kb_h_offset_commit, KF_API_OFFSET_COMMIT, 2, 7, 99},
    {kb_h_offset_fetch, KF_API_OFFSET_FETCH, 1, 7, 6},
    {kb_h_list_groups, KF_API_LIST_GROUPS, 0, 2, 99},
    {kb_h_describe_groups, KF_API_DESCRIBE_GROUPS, 0, 4, 99},
    {kb_h_delete_groups, KF_API_DELETE_GROUPS, 0, 1, 99},
    {kb_h_offset_delete, KF_API_OFFSET_DELETE, 0, 0, 99},
};

/* Every prefix of valid requests, and random bytes: a response or
 * KB_CLOSE, never a crash (run under ASan in CI). */
static void test_truncated_and_random(void **state) {
    fx *f = *state;
    kb_broker *b = &f->b;
    kf_buf out;
    kf_buf_init(&out, 0);
    /* A valid JoinGroup v5 with a member id, truncated at every length. */
    kb_req full;
    join_req(&full, 5, "fz", 10000, 10000, "", "range=abc,rr=d");
    for (size_t len = 0; len < full.frame_len; len++) {
        kf_buf body;
        kf_buf_init(&body, 0);
        kf_buf_append(&body, full.frame, len);
        kb_req r;
        req_init(&r, KF_API_JOIN_GROUP, 5, 0, &body, "cli");
        int rc = run(b, kb_h_join_group, &r, &out);
        assert_true(rc == KB_CLOSE);
        req_free(&r);
        kf_buf_free(&body);
    }
    req_free(&full);
    srand(12345);
    for (int iter = 0; iter < 20000; iter++) {
        const api_case *a = &apis[(size_t)rand() % (sizeof(apis) / sizeof(apis[0]))];
        int16_t v = (int16_t)(a->minv + rand() % (a->maxv - a->minv + 1));
        kf_buf body;
        kf_buf_init(&body, 0);
        size_t n = (size_t)(rand() % 64);
        /* Mostly small lengths and counts so parsing gets deep. */
        for (size_t i = 0; i < n; i++) {
            uint8_t x = (uint8_t)(rand() % 4 == 0 ? rand() : rand() % 3);
            kf_buf_append(&body, &x, 1);
        }
        kb_req r;
        req_init(&r, a->key, v, v >= a->flex_from, &body, iter % 2 ? "c" : NULL);
        int rc = run(b, a->h, &r, &out);
        if (rc == KB_PARK)
            rc = run(b, a->h, &r, &out);
        assert_true(rc == KB_OK || rc == KB_CLOSE || rc == KB_PARK);
        req_free(&r);
        kf_buf_free(&body);
        if (iter % 1000 == 0)
            kb_groups_tick(b->groups, kf_now_ms() + iter * 100);
    }
    kb_groups_tick(b->groups, kf_now_ms() + 100000000);
    kf_buf_free(&out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_find_coordinator, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_members_rebalance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_join_v2_and_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rebalance_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offsets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_describe_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offset_delete_subscribed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offset_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejoin_changed_metadata, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runtime_compaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_and_random, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
