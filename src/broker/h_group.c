/*
 * h_group.c - wire handlers of the group coordinator: FindCoordinator,
 * JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch,
 * ListGroups, DescribeGroups, DeleteGroups, OffsetDelete.
 *
 * Every request is parsed completely (bounds-checked kf_rd) before any
 * group state changes, so a malformed request closes the connection with
 * nothing half-applied.  JoinGroup/SyncGroup park with a ticket; see
 * group_int.h for how their answers are delivered.
 *
 * With an authorizer (acl.h), as on Kafka: FindCoordinator needs DESCRIBE
 * on the group (or transactional id); JoinGroup, SyncGroup, Heartbeat,
 * LeaveGroup and OffsetCommit READ on the group; OffsetFetch and
 * DescribeGroups DESCRIBE; DeleteGroups and OffsetDelete DELETE
 * (GROUP_AUTHORIZATION_FAILED otherwise).  Committing needs READ on each
 * topic, fetching offsets DESCRIBE (TOPIC_AUTHORIZATION_FAILED, or left
 * out of an all-topics answer); ListGroups shows every group to CLUSTER
 * DESCRIBE, else the groups the principal may DESCRIBE.
 */
#include "broker/group_int.h"

#include "broker/acl.h"
#include "broker/handlers.h"
#include "broker/store.h"
#include "broker/txn.h"
#include "common/log.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

/* DescribeGroups authorized operations of a group without an authorizer:
 * READ(3), DELETE(6), DESCRIBE(8). */
#define GROUP_AUTHORIZED_OPS ((1 << 3) | (1 << 6) | (1 << 8))

static const uint8_t no_bytes[1] = {0};

static int group_ok(kb_broker *b, const kb_req *r, const char *gid, int32_t glen, int8_t op) {
    return kb_authz(b, r, KB_RES_GROUP, gid, glen > 0 ? (size_t)glen : 0, op);
}

typedef struct gpark {
    uint64_t ticket;
    int kind; /* KB_WAIT_JOIN / KB_WAIT_SYNC */
    char *group;
    char *member;
} gpark;

static void gpark_free(void *p) {
    gpark *ps = p;
    if (!ps)
        return;
    free(ps->group);
    free(ps->member);
    free(ps);
}

static int part_exists(kb_broker *b, const char *t, size_t len, int32_t p) {
    if (!b->store) /* unit tests of pure group logic */
        return p >= 0;
    return kb_store_part(b->store, t, len, p) != NULL;
}

static int topic_exists(kb_broker *b, const char *t, size_t len) {
    if (!b->store)
        return 1;
    return kb_store_find(b->store, t, len) != NULL;
}

static char *client_host(const kb_req *r) {
    /* Kafka shows InetAddress.toString(): "/ip". */
    const char *peer = r->peer ? r->peer : "";
    const char *colon = strrchr(peer, ':');
    size_t n = colon ? (size_t)(colon - peer) : strlen(peer);
    if (n >= 2 && peer[0] == '[' && peer[n - 1] == ']') {
        peer++;
        n -= 2;
    }
    char *s = malloc(n + 2);
    if (!s)
        return NULL;
    s[0] = '/';
    memcpy(s + 1, peer, n);
    s[n + 1] = '\0';
    return s;
}

/* ---------------------------------------------------------------------- */
/* Response bodies                                                         */

static const kb_gproto *member_proto(const kb_member *m, const char *name) {
    for (int i = 0; name && i < m->nprotos; i++)
        if (strcmp(m->protos[i].name, name) == 0)
            return &m->protos[i];
    return NULL;
}

void kb_write_join_resp(kf_buf *out, int16_t ver, int16_t err, const kb_group *g,
                        const char *member_id, int with_members) {
    int ok = !err && g;
    if (ver >= 2)
        kf_wr_i32(out, 0); /* throttle_time_ms */
    kf_wr_i16(out, err);
    kf_wr_i32(out, ok ? g->generation : -1);
    kf_wr_cstr(out, 0, ok && g->protocol ? g->protocol : "");
    kf_wr_cstr(out, 0, ok && g->leader ? g->leader : "");
    kf_wr_cstr(out, 0, member_id ? member_id : "");
    if (!ok || !with_members) {
        kf_wr_arr(out, 0, 0);
        return;
    }
    kf_wr_arr(out, 0, g->nmembers);
    for (int i = 0; i < g->nmembers; i++) {
        const kb_member *m = g->members[i];
        const kb_gproto *p = member_proto(m, g->protocol);
        kf_wr_cstr(out, 0, m->id);
        if (ver >= 5)
            kf_wr_cstr(out, 0, m->instance_id);
        kf_wr_bytes(out, 0, p && p->meta ? p->meta : no_bytes, p ? p->meta_len : 0);
    }
}

void kb_write_sync_resp(kf_buf *out, int16_t ver, int16_t err, const uint8_t *asg, int32_t len) {
    if (ver >= 1)
        kf_wr_i32(out, 0);
    kf_wr_i16(out, err);
    kf_wr_bytes(out, 0, asg && !err ? asg : no_bytes, asg && !err ? len : 0);
}

/* Heartbeat and LeaveGroup: throttle (v1+), error, tags. */
static void write_simple(kf_buf *out, int16_t ver, int flex, int16_t err) {
    if (ver >= 1)
        kf_wr_i32(out, 0);
    kf_wr_i16(out, err);
    kf_wr_tags(out, flex);
}

/* ---------------------------------------------------------------------- */
/* Request arrays parsed twice: checked first, re-read while answering     */

/* Reads an array of non-null strings (each at least 2 bytes); *copy is left
 * at its first element for re-reading.  Returns the count (-1 for null);
 * a null element sets rd's sticky error. */
static int32_t rd_str_array(kf_rd *rd, int flex, kf_rd *copy) {
    int32_t n = kf_rd_arr(rd, flex, 2);
    *copy = *rd;
    for (int32_t i = 0; i < n && kf_rd_ok(rd); i++) {
        const char *s;
        if (kf_rd_str(rd, flex, &s) < 0)
            rd->err = 1;
    }
    return n;
}

/* Checks nt topics[name, partitions[int32]] entries; a null name or
 * partition array sets rd's sticky error. */
static void check_topic_parts(kf_rd *rd, int flex, int32_t nt) {
    for (int32_t i = 0; i < nt && kf_rd_ok(rd); i++) {
        const char *s;
        if (kf_rd_str(rd, flex, &s) < 0)
            rd->err = 1;
        int32_t np = kf_rd_arr(rd, flex, 4);
        if (np < 0)
            rd->err = 1;
        kf_rd_skip(rd, (size_t)(np > 0 ? np : 0) * 4);
        kf_rd_tags(rd, flex);
    }
}

/* Re-reads a checked topic's name and partition count and writes both to
 * the response.  Returns the name's length; *np gets the count. */
static int32_t echo_topic_head(kf_rd *topics, int flex, kf_buf *out, const char **name,
                               int32_t *np) {
    int32_t nl = kf_rd_str(topics, flex, name);
    *np = kf_rd_arr(topics, flex, 4);
    kf_wr_str(out, flex, *name, nl);
    kf_wr_arr(out, flex, *np);
    return nl;
}

/* A partition's result: index, error (and tags). */
static void write_part_err(kf_buf *out, int flex, int32_t part, int16_t err) {
    kf_wr_i32(out, part);
    kf_wr_i16(out, err);
    kf_wr_tags(out, flex);
}

/* ---------------------------------------------------------------------- */
/* Parking                                                                 */

static gpark *park(kb_groups *gs, kb_req *r, kb_group *g, kb_member *m, int kind) {
    gpark *ps = calloc(1, sizeof(*ps));
    if (!ps)
        return NULL;
    ps->group = kf_strdup(g->id);
    ps->member = kf_strdup(m->id);
    if (!ps->group || !ps->member) {
        gpark_free(ps);
        return NULL;
    }
    ps->ticket = kb_groups_ticket(gs);
    ps->kind = kind;
    /* A request of this member still parked elsewhere is superseded: its
     * re-run no longer finds its ticket and answers with an error. */
    m->wait_kind = kind;
    m->wait_ticket = ps->ticket;
    m->wait_version = r->api_version;
    r->park_state = ps;
    r->park_free = gpark_free;
    return ps;
}

/* Delivers the answer of a parked JoinGroup/SyncGroup if it is ready. */
static int collect(kb_broker *b, kb_req *r, kf_buf *out) {
    kb_groups *gs = b->groups;
    gpark *ps = r->park_state;
    kb_group *g = kb_group_find(gs, ps->group, strlen(ps->group));
    kb_member *m = g ? kb_group_member(g, ps->member, strlen(ps->member)) : NULL;
    if (m && m->res_ticket != ps->ticket && m->wait_ticket == ps->ticket) {
        if (ps->kind == KB_WAIT_JOIN)
            kb_group_try_complete(gs, g, kf_now_ms());
        if (m->res_ticket != ps->ticket && m->wait_ticket == ps->ticket)
            return KB_PARK;
    }
    if (m && m->res_ticket == ps->ticket) {
        kf_buf_append(out, m->res.data, m->res.len);
        kf_buf_free(&m->res);
        m->res_ticket = 0;
        return KB_OK;
    }
    /* The member left or was removed, or a newer request of the same member
     * took its place. */
    int16_t err = m ? KF_ERR_REBALANCE_IN_PROGRESS : KF_ERR_UNKNOWN_MEMBER_ID;
    if (ps->kind == KB_WAIT_JOIN)
        kb_write_join_resp(out, r->api_version, err, NULL, ps->member, 0);
    else
        kb_write_sync_resp(out, r->api_version, err, NULL, 0);
    return KB_OK;
}

/* ---------------------------------------------------------------------- */
/* FindCoordinator                                                         */

int kb_h_find_coordinator(kb_broker *b, kb_req *r, kf_buf *out) {
    int16_t v = r->api_version;
    kf_rd rd;
    kb_req_body(r, &rd);
    const char *key;
    int32_t key_len = kf_rd_str(&rd, r->flex, &key);
    int8_t key_type = v >= 1 ? kf_rd_i8(&rd) : 0;
    kf_rd_tags(&rd, r->flex);
    if (!kf_rd_ok(&rd))
        return KB_CLOSE;
    /* Groups (0) and transactional ids (1) are all coordinated here. */
    int16_t err = (key_type == 0 || key_type == 1) ? KF_ERR_NONE : KF_ERR_INVALID_REQUEST;
    int32_t klen = key_len;
    const char *emsg = "unknown coordinator key type";
    if (!err && key_type == 0 && !group_ok(b, r, key, klen, KB_OP_DESCRIBE)) {
        err = KF_ERR_GROUP_AUTHORIZATION_FAILED;
        emsg = "Group authorization failed.";
    } else if (!err && key_type == 1 &&
               !kb_authz(b, r, KB_RES_TRANSACTIONAL_ID, key, klen > 0 ? (size_t)klen : 0,
                         KB_OP_DESCRIBE)) {
        err = KF_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
        emsg = "Transactional Id authorization failed.";
    }
    const char *host;
    int port;
    kb_req_endpoint(b, r, &host, &port);
    if (v >= 1)
        kf_wr_i32(out, 0);
    kf_wr_i16(out, err);
    if (v >= 1)
        kf_wr_cstr(out, r->flex, err ? emsg : NULL);
    kf_wr_i32(out, err ? -1 : b->cfg.node_id);
    kf_wr_cstr(out, r->flex, err ? "" : host);
    kf_wr_i32(out, err ? -1 : port);
    kf_wr_tags(out, r->flex);
    return KB_OK;
}

/* ---------------------------------------------------------------------- */
/* JoinGroup                                                               */

static void protos_free(kb_gproto *p, int n) {
    for (int i = 0; i < n; i++) {
        free(p[i].name);
        free(p[i].meta);
    }
    free(p);
}

static int protos_match(const kb_member *m, const kb_gproto *p, int n) {
    if (m->nprotos != n)
        return 0;
    for (int i = 0; i < n; i++)
        if (strcmp(m->protos[i].name, p[i].name) != 0 || m->protos[i].meta_len != p[i].meta_len ||
            (p[i].meta_len && memcmp(m->protos[i].meta, p[i].meta, (size_t)p[i].meta_len) != 0))
            return 0;
    return 1;
}

/* An error answer echoing the member id the client sent. */
static void join_error(kf_buf *out, int16_t v, int16_t err, const char *mid, int32_t mlen) {
    if (v >= 2)
        kf_wr_i32(out, 0);
    kf_wr_i16(out, err);
    kf_wr_i32(out, -1);
    kf_wr_cstr(out, 0, "");
    kf_wr_cstr(out, 0, "");
    kf_wr_str(out, 0, mid, mlen);
    kf_wr_arr(out, 0, 0);
}

static kb_member *member_new(kb_req *r, char *id, const char *iid, int32_t ilen, int32_t session,
                             int32_t rebalance) {
    kb_member *m = calloc(1, sizeof(*m));
    if (!m) {
        free(id);
        return NULL;
    }
    m->id = id;
    m->client_id = kf_strndup(r->client_id ? r->client_id : "",
                              r->client_id && r->client_id_len > 0 ? (size_t)r->client_id_len : 0);
    m->client_host = client_host(r);
    if (ilen >= 0)
        m->instance_id = kf_strndup(iid, (size_t)ilen);
    m->session_ms = session;
    m->rebalance_ms = rebalance;
    kf_buf_init(&m->res, 0);
    if (!m->id || !m->client_id || !m->client_host || (ilen >= 0 && !m->instance_id)) {
        kb_member_free(m);
        return NULL;
    }
    return m;
}

/* A known member (re)joins the rebalance, starting one unless the group
 * is already preparing; its JoinGroup is answered when the rebalance
 * completes.  Takes ownership of protos. */
static int join_rebalance(kb_broker *b, kb_req *r, kb_group *g, kb_member *m, kb_gproto *protos,
                          int np, int64_t now, kf_buf *out) {
    kb_groups *gs = b->groups;
    if (!park(gs, r, g, m, KB_WAIT_JOIN)) {
        protos_free(protos, np);
        return KB_CLOSE;
    }
    kb_member_set_protos(m, protos, np);
    m->awaiting_join = 1;
    if (g->state == KB_GS_PREPARING)
        kb_group_try_complete(gs, g, now);
    else
        kb_group_prepare_rebalance(gs, g, now);
    return collect(b, r, out);
}

/* KIP-345 static membership: the member of g with group.instance.id iid. */
static kb_member *static_member(kb_group *g, const char *iid, int32_t ilen) {
    for (int i = 0; g && ilen > 0 && i < g->nmembers; i++) {
        kb_member *m = g->members[i];
        if (m->instance_id && strlen(m->instance_id) == (size_t)ilen &&
            !memcmp(m->instance_id, iid, (size_t)ilen))
            return m;
    }
    return NULL;
}

/* A request naming static instance iid with a member id that is not the
 * instance's current one: an older incarnation, fenced by the newer one. */
static int instance_fenced(kb_group *g, const char *iid, int32_t ilen, const char *mid,
                           int32_t mlen) {
    const kb_member *m = static_member(g, iid, ilen);
    return m && mlen > 0 && (strlen(m->id) != (size_t)mlen || memcmp(m->id, mid, (size_t)mlen));
}

/* 1 if the group's selected protocol is among protos. */
static int keeps_protocol(const kb_group *g, const kb_gproto *protos, int np) {
    for (int i = 0; g->protocol && i < np; i++)
        if (!strcmp(protos[i].name, g->protocol))
            return 1;
    return 0;
}

/* A static member rejoins with an unknown member id (a restarted
 * process): it takes the place of its previous incarnation under a new
 * member id.  In a Stable group whose protocol it still supports nothing
 * is rebalanced: it gets the current generation and, at SyncGroup, the
 * assignment it had (Kafka answers with the old leader id, so that a
 * rejoining leader does not compute an assignment the Stable group would
 * ignore).  Otherwise it joins the rebalance like any member. */
static int static_rejoin(kb_broker *b, kb_groups *gs, kb_req *r, kb_group *g, kb_member *m,
                         kb_gproto *protos, int np, int32_t session, int32_t rebalance,
                         kf_buf *out) {
    int16_t v = r->api_version;
    char *nid = kb_group_new_member_id(r->client_id, r->client_id_len);
    if (!nid) {
        protos_free(protos, np);
        return KB_CLOSE;
    }
    int64_t now = kf_now_ms();
    int was_leader = g->leader && !strcmp(g->leader, m->id);
    kf_info("group", "group %s: static member %s (instance %s) rejoined as %s", g->id, m->id,
            m->instance_id, nid);
    free(m->id);
    m->id = nid;
    m->wait_ticket =
        0; /* a request of the old incarnation still parked is answered with an error */
    m->session_ms = session;
    m->rebalance_ms = rebalance;
    m->deadline = now + session;
    kb_groups_note_deadline(gs, m->deadline);
    if (g->state == KB_GS_STABLE && keeps_protocol(g, protos, np)) {
        kb_member_set_protos(m, protos, np);
        kb_write_join_resp(out, v, KF_ERR_NONE, g, m->id, 0); /* leader: still the old id */
        if (was_leader) {
            free(g->leader);
            g->leader = kf_strdup(m->id);
        }
        return KB_OK;
    }
    if (was_leader) {
        free(g->leader);
        g->leader = kf_strdup(m->id);
    }
    return join_rebalance(b, r, g, m, protos, np, now, out);
}

int kb_h_join_group(kb_broker *b, kb_req *r, kf_buf *out) {
    kb_groups *gs = b->groups;
    if (!gs)
        return KB_CLOSE;
    if (r->park_state)
        return collect(b, r, out);
    int16_t v = r->api_version;
    int flex = r->flex;
    kf_rd rd;
    kb_req_body(r, &rd);
    const char *gid, *mid, *iid = NULL, *ptype;
    int32_t glen = kf_rd_str(&rd, flex, &gid);
    int32_t session = kf_rd_i32(&rd);
    int32_t rebalance = v >= 1 ? kf_rd_i32(&rd) : session;
    int32_t mlen = kf_rd_str(&rd, flex, &mid);
    int32_t ilen = v >= 5 ? kf_rd_str(&rd, flex, &iid) : -1;
    int32_t plen = kf_rd_str(&rd, flex, &ptype);
    int32_t np = kf_rd_arr(&rd, flex, 2 + 4);
    if (!kf_rd_ok(&rd) || glen < 0 || mlen < 0 || plen < 0 || np < 0)
        return KB_CLOSE;
    kb_gproto *protos = np ? calloc((size_t)np, sizeof(*protos)) : NULL;
    if (np && !protos)
        return KB_CLOSE;
    for (int32_t i = 0; i < np; i++) {
        const char *name;
        const uint8_t *meta;
        int32_t nl = kf_rd_str(&rd, flex, &name);
        int32_t ml = kf_rd_bytes(&rd, flex, &meta);
        kf_rd_tags(&rd, flex);
        if (!kf_rd_ok(&rd) || nl < 0) {
            rd.err = 1; /* a null protocol name is malformed */
            break;
        }
        protos[i].name = kf_strndup(name, (size_t)nl);
        protos[i].meta_len = ml > 0 ? ml : 0;
        if (ml > 0 && (protos[i].meta = malloc((size_t)ml)) != NULL)
            memcpy(protos[i].meta, meta, (size_t)ml);
        if (!protos[i].name || (ml > 0 && !protos[i].meta))
            rd.err = 1;
    }
    kf_rd_tags(&rd, flex);
    if (!kf_rd_ok(&rd)) {
        protos_free(protos, np);
        return KB_CLOSE;
    }

    int64_t now = kf_now_ms();
    int16_t err = KF_ERR_NONE;
    kb_group *g = NULL;
    if (!group_ok(b, r, gid, glen, KB_OP_READ))
        err = KF_ERR_GROUP_AUTHORIZATION_FAILED;
    else if (glen == 0)
        err = KF_ERR_INVALID_GROUP_ID;
    else if (session < b->cfg.group_min_session_ms || session > b->cfg.group_max_session_ms)
        err = KF_ERR_INVALID_SESSION_TIMEOUT;
    else if (np > KB_GROUP_MAX_PROTOCOLS)
        err = KF_ERR_INCONSISTENT_GROUP_PROTOCOL;
    else if (!(g = kb_group_find(gs, gid, (size_t)glen))) {
        if (mlen > 0)
            err = KF_ERR_UNKNOWN_MEMBER_ID;
        else if (!(g = kb_group_create(gs, gid, (size_t)glen)))
            err = memchr(gid, 0, (size_t)glen) ? KF_ERR_INVALID_GROUP_ID
                                               : KF_ERR_COORDINATOR_NOT_AVAILABLE;
    }
    if (!err && !kb_group_supports(g, mlen ? kb_group_member(g, mid, (size_t)mlen) : NULL, ptype,
                                   (size_t)plen, protos, np))
        err = KF_ERR_INCONSISTENT_GROUP_PROTOCOL;
    if (err) {
        protos_free(protos, np);
        join_error(out, v, err, mid, mlen);
        return KB_OK;
    }

    kb_member *sm = static_member(g, iid, ilen);
    if (sm && mlen > 0 && instance_fenced(g, iid, ilen, mid, mlen)) {
        protos_free(protos, np);
        join_error(out, v, KF_ERR_FENCED_INSTANCE_ID, mid, mlen);
        return KB_OK;
    }
    if (sm && mlen == 0)
        return static_rejoin(b, gs, r, g, sm, protos, np, session, rebalance, out);

    kb_member *m = NULL;
    int pidx = mlen > 0 ? kb_group_pending_find(g, mid, (size_t)mlen) : -1;
    if (mlen == 0 || pidx >= 0) {
        /* A new member. */
        if (mlen == 0 && g->nmembers + g->npending >= KB_GROUP_MAX_MEMBERS) {
            protos_free(protos, np);
            join_error(out, v, KF_ERR_GROUP_MAX_SIZE_REACHED, "", 0);
            return KB_OK;
        }
        char *id = mlen ? kf_strndup(mid, (size_t)mlen)
                        : kb_group_new_member_id(r->client_id, r->client_id_len);
        if (!id) {
            protos_free(protos, np);
            return KB_CLOSE;
        }
        if (mlen == 0 && v >= 4 && ilen <= 0) {
            /* KIP-394: hand out the id first; the member joins with it
             * (static members are known by their instance id instead). */
            int rc = kb_group_pending_add(gs, g, id, now + session);
            kb_write_join_resp(
                out, v, rc == 0 ? KF_ERR_MEMBER_ID_REQUIRED : KF_ERR_COORDINATOR_NOT_AVAILABLE,
                NULL, id, 0);
            free(id);
            protos_free(protos, np);
            return KB_OK;
        }
        if (pidx >= 0)
            kb_group_pending_remove(g, pidx);
        m = member_new(r, id, iid, ilen, session, rebalance);
        if (!m || !park(gs, r, g, m, KB_WAIT_JOIN)) {
            kb_member_free(m);
            protos_free(protos, np);
            return KB_CLOSE;
        }
        kb_member_set_protos(m, protos, np);
        kf_debug("group", "group %s: member %s joins", g->id, m->id);
        kb_group_add_member(gs, g, m, ptype, (size_t)plen, now);
        return collect(b, r, out);
    }

    m = kb_group_member(g, mid, (size_t)mlen);
    if (!m || g->state == KB_GS_EMPTY || g->state == KB_GS_DEAD) {
        protos_free(protos, np);
        join_error(out, v, KF_ERR_UNKNOWN_MEMBER_ID, mid, mlen);
        return KB_OK;
    }
    int is_leader = g->leader && strcmp(g->leader, m->id) == 0;
    int same = protos_match(m, protos, np);
    if ((g->state == KB_GS_COMPLETING && same) ||
        (g->state == KB_GS_STABLE && same && !is_leader)) {
        /* Nothing changed: the member just missed its JoinGroup answer. */
        protos_free(protos, np);
        m->deadline = now + m->session_ms;
        kb_groups_note_deadline(gs, m->deadline);
        kb_write_join_resp(out, v, KF_ERR_NONE, g, m->id,
                           g->state == KB_GS_COMPLETING && is_leader);
        return KB_OK;
    }
    m->session_ms = session;
    m->rebalance_ms = rebalance;
    return join_rebalance(b, r, g, m, protos, np, now, out);
}

/* ---------------------------------------------------------------------- */
/* SyncGroup                                                               */

int kb_h_sync_group(kb_broker *b, kb_req *r, kf_buf *out) {
    kb_groups *gs = b->groups;
    if (!gs)
        return KB_CLOSE;
    if (r->park_state)
        return collect(b, r, out);
    int16_t v = r->api_version;
    int flex = r->flex;
    kf_rd rd;
    kb_req_body(r, &rd);
    const char *gid, *mid, *iid = NULL;
    int32_t glen = kf_rd_str(&rd, flex, &gid);
    int32_t gen = kf_rd_i32(&rd);
    int32_t mlen = kf_rd_str(&rd, flex, &mid);
    int32_t ilen = v >= 3 ? kf_rd_str(&rd, flex, &iid) : -1;
    int32_t n = kf_rd_arr(&rd, flex, 2 + 4);
    kf_rd asg = rd; /* re-read by the leader's completion */
    for (int32_t i = 0; i < n && kf_rd_ok(&rd); i++) {
        const char *s;
        const uint8_t *a;
        if (kf_rd_str(&rd, flex, &s) < 0)
            rd.err = 1;
        kf_rd_bytes(&rd, flex, &a);
        kf_rd_tags(&rd, flex);
    }
    kf_rd_tags(&rd, flex);
    if (!kf_rd_ok(&rd) || glen < 0 || mlen < 0)
        return KB_CLOSE;

    int64_t now = kf_now_ms();
    kb_group *g = glen ? kb_group_find(gs, gid, (size_t)glen) : NULL;
    kb_member *m = g ? kb_group_member(g, mid, (size_t)mlen) : NULL;
    int16_t err = KF_ERR_NONE;
    if (!group_ok(b, r, gid, glen, KB_OP_READ))
        err = KF_ERR_GROUP_AUTHORIZATION_FAILED;
    else if (glen == 0)
        err = KF_ERR_INVALID_GROUP_ID;
    else if (g && instance_fenced(g, iid, ilen, mid, mlen))
        err = KF_ERR_FENCED_INSTANCE_ID;
    else if (!m)
        err = KF_ERR_UNKNOWN_MEMBER_ID;
    else if (gen != g->generation)
        err = KF_ERR_ILLEGAL_GENERATION;
    else if (g->state == KB_GS_PREPARING)
        err = KF_ERR_REBALANCE_IN_PROGRESS;
    else if (g->state == KB_GS_EMPTY || g->state == KB_GS_DEAD)
        err = KF_ERR_UNKNOWN_MEMBER_ID;
    if (err) {
        kb_write_sync_resp(out, v, err, NULL, 0);
        return KB_OK;
    }
    m->deadline = now + m->session_ms;
    kb_groups_note_deadline(gs, m->deadline);
    if (g->state == KB_GS_STABLE) {
        kb_write_sync_resp(out, v, KF_ERR_NONE, m->assignment, m->assign_len);
        return KB_OK;
    }
    /* CompletingRebalance: wait for the leader's assignment. */
    if (!park(gs, r, g, m, KB_WAIT_SYNC))
        return KB_CLOSE;
    if (g->leader && strcmp(g->leader, m->id) == 0)
        kb_group_complete_sync(gs, g, &asg, n, flex);
    return collect(b, r, out);
}

/* ---------------------------------------------------------------------- */
/* Heartbeat, LeaveGroup                                                   */

/* Heartbeat and LeaveGroup's first checks of the group they name (g, found
 * by a non-empty id): the error, or KF_ERR_NONE. */
static int16_t group_ref_err(int32_t glen, const kb_group *g) {
    if (glen == 0)
        return KF_ERR_INVALID_GROUP_ID;
    if (!g)
        return KF_ERR_UNKNOWN_MEMBER_ID;
    if (g->state == KB_GS_DEAD)
        return KF_ERR_COORDINATOR_NOT_AVAILABLE;
    return KF_ERR_NONE;
}

int kb_h_heartbeat(kb_broker *b, kb_req *r, kf_buf *out) {
    kb_groups *gs = b->groups;
    if (!gs)
        return KB_CLOSE;
    int16_t v = r->api_version;
    kf_rd rd;
    kb_req_body(r, &rd);
    const char *gid, *mid, *iid = NULL;
    int32_t glen = kf_rd_str(&rd, r->flex, &gid);
    int32_t gen = kf_rd_i32(&rd);
    int32_t mlen = kf_rd_str(&rd, r->flex, &mid);
    int32_t ilen = v >= 3 ? kf_rd_str(&rd, r->flex, &iid) : -1;
    kf_rd_tags(&rd, r->flex);
    if (!kf_rd_ok(&rd) || glen < 0 || mlen < 0)
        return KB_CLOSE;
    kb_group *g = glen ? kb_group_find(gs, gid, (size_t)glen) : NULL;
    kb_member *m = g ? kb_group_member(g, mid, (size_t)mlen) : NULL;
    int16_t err = group_ok(b, r, gid, glen, KB_OP_READ) ? group_ref_err(glen, g)
                                                        : KF_ERR_GROUP_AUTHORIZATION_FAILED;
    if (!err) {
        if (instance_fenced(g, iid, ilen, mid, mlen))
            err = KF_ERR_FENCED_INSTANCE_ID;
        else if (!m || g->state == KB_GS_EMPTY)
            err = KF_ERR_UNKNOWN_MEMBER_ID;
        else if (gen != g->generation)
            err = KF_ERR_ILLEGAL_GENERATION;
        else {
            m->deadline = kf_now_ms() + m->session_ms;
            kb_groups_note_deadline(gs, m->deadline);
            if (g->state == KB_GS_PREPARING)
                err = KF_ERR_REBALANCE_IN_PROGRESS;
        }
    }
    write_simple(out, v, r->flex, err);
    return KB_OK;
}

int kb_h_leave_group(kb_broker *b, kb_req *r, kf_buf *out) {
    kb_groups *gs = b->groups;
    if (!gs)
        return KB_CLOSE;
    int16_t v = r->api_version;
    kf_rd rd;
    kb_req_body(r, &rd);
    const char *gid, *mid;
    int32_t glen = kf_rd_str(&rd, r->flex, &gid);
    int32_t mlen = kf_rd_str(&rd, r->flex, &mid);
    kf_rd_tags(&rd, r->flex);
    if (!kf_rd_ok(&rd) || glen < 0 || mlen < 0)
        return KB_CLOSE;
    kb_group *g = glen ? kb_group_find(gs, gid, (size_t)glen) : NULL;
    int16_t err = group_ok(b, r, gid, glen, KB_OP_READ) ? group_ref_err(glen, g)
                                                        : KF_ERR_GROUP_AUTHORIZATION_FAILED;
    if (!err) {
        int64_t now = kf_now_ms();
        int pidx = kb_group_pending_find(g, mid, (size_t)mlen);
        kb_member *m = kb_group_member(g, mid, (size_t)mlen);
        if (pidx >= 0) {
            kb_group_pending_remove(g, pidx);
            kb_group_try_complete(gs, g, now);
        } else if (m) {
            kf_info("group", "group %s: member %s left", g->id, m->id);
            kb_group_remove_member(gs, g, m, now);
        } else {
            err = KF_ERR_UNKNOWN_MEMBER_ID;
        }
    }
    write_simple(out, v, r->flex, err);
    return KB_OK;
}

/* ---------------------------------------------------------------------- */
/* OffsetCommit                                                            */

typedef struct ptopic {
    const char *name;
    int32_t len;
    size_t first, count; /* entries */
} ptopic;

/* Grows *arr (of elem bytes) to hold n+1 entries. 0 or -1. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem) {
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, nc * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = nc;
    return 0;
}

int kb_h_offset_commit(kb_broker *b, kb_req *r, kf_buf *out) {
    kb_groups *gs = b->groups;
    if (!gs)
        return KB_CLOSE;
    int16_t v = r->api_version;
    int flex = r->flex;
    kf_rd rd;
    kb_req_body(r, &rd);
    const char *gid, *mid = "", *iid = NULL;
    int32_t glen = kf_rd_str(&rd, flex, &gid);
    int32_t gen = v >= 1 ? kf_rd_i32(&rd) : -1;
    int32_t mlen = v >= 1 ? kf_rd_str(&rd, flex, &mid) : 0;
    int32_t ilen = v >= 7 ? kf_rd_str(&rd, flex, &iid) : -1;
    if (v >= 2 && v <= 4)
        (void)kf_rd_i64(&rd); /* retention_time_ms: broker config rules */
    int32_t nt = kf_rd_arr(&rd, flex, 2 + 4);
    ptopic *topics = NULL;
    kb_ocommit *ents = NULL;
    size_t ntopics = 0, captopics = 0, nents = 0, capents = 0;
    for (int32_t i = 0; i < nt && kf_rd_ok(&rd); i++) {
        if (grow((void **)&topics, &captopics, ntopics, sizeof(*topics)) != 0) {
            rd.err = 1;
            break;
        }
        ptopic *t = &topics[ntopics++];
        t->len = kf_rd_str(&rd, flex, &t->name);
        t->first = nents;
        t->count = 0;
        int32_t np = kf_rd_arr(&rd, flex, 4 + 8 + 2);
        if (t->len < 0)
            rd.err = 1;
        for (int32_t k = 0; k < np && kf_rd_ok(&rd); k++) {
            if (grow((void **)&ents, &capents, nents, sizeof(*ents)) != 0) {
                rd.err = 1;
                break;
            }
            kb_ocommit *e = &ents[nents++];
            t->count++;
            e->topic = t->name;
            e->topic_len = t->len;
            e->partition = kf_rd_i32(&rd);
            e->offset = kf_rd_i64(&rd);
            e->epoch = v >= 6 ? kf_rd_i32(&rd) : -1;
            if (v == 1)
                (void)kf_rd_i64(&rd); /* commit_timestamp */
            e->meta_len = kf_rd_str(&rd, flex, &e->meta);
            e->err = 0;
            kf_rd_tags(&rd, flex);
        }
        kf_rd_tags(&rd, flex);
    }
    kf_rd_tags(&rd, flex);
    if (!kf_rd_ok(&rd) || glen < 0 || mlen < 0) {
        free(topics);
        free(ents);
        return KB_CLOSE;
    }

    /* Group-level checks, in Kafka's order. */
    int16_t gerr = KF_ERR_NONE;
    kb_group *g = kb_group_find(gs, gid, (size_t)glen);
    if (!group_ok(b, r, gid, glen, KB_OP_READ)) {
        gerr = KF_ERR_GROUP_AUTHORIZATION_FAILED;
    } else if (!g) {
        if (gen < 0) {
            /* Offsets-only use of a group (assign() + commit). */
            if (nents && !(g = kb_group_create(gs, gid, (size_t)glen)))
                gerr = memchr(gid, 0, (size_t)glen) ? KF_ERR_INVALID_GROUP_ID
                                                    : KF_ERR_COORDINATOR_NOT_AVAILABLE;
        } else {
            gerr = KF_ERR_ILLEGAL_GENERATION;
        }
    } else if (g->state == KB_GS_DEAD) {
        gerr = KF_ERR_COORDINATOR_NOT_AVAILABLE;
    } else if (gen < 0 && g->state == KB_GS_EMPTY) {
        /* simple commit */
    } else if (g->state == KB_GS_COMPLETING) {
        gerr = KF_ERR_REBALANCE_IN_PROGRESS;
    } else {
        kb_member *m = kb_group_member(g, mid, (size_t)mlen);
        if (instance_fenced(g, iid, ilen, mid, mlen))
            gerr = KF_ERR_FENCED_INSTANCE_ID;
        else if (!m)
            gerr = KF_ERR_UNKNOWN_MEMBER_ID;
        else if (gen != g->generation)
            gerr = KF_ERR_ILLEGAL_GENERATION;
        else {
            m->deadline = kf_now_ms() + m->session_ms;
            kb_groups_note_deadline(gs, m->deadline);
        }
    }
    size_t good = 0;
    for (size_t i = 0; i < nents; i++) {
        kb_ocommit *e = &ents[i];
        if (gerr)
            e->err = gerr;
        else if (!kb_authz(b, r, KB_RES_TOPIC, e->topic, (size_t)e->topic_len, KB_OP_READ))
            e->err = KF_ERR_TOPIC_AUTHORIZATION_FAILED;
        else if (!part_exists(b, e->topic, (size_t)e->topic_len, e->partition))
            e->err = KF_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        else if (e->meta && e->meta_len > KB_GROUP_MAX_METADATA)
            e->err = KB_ERR_OFFSET_METADATA_TOO_LARGE;
        else
            good++;
    }
    if (good && kb_group_commit(gs, g, ents, nents) != 0)
        for (size_t i = 0; i < nents; i++)
            if (!ents[i].err)
                ents[i].err = KF_ERR_COORDINATOR_NOT_AVAILABLE;

    if (v >= 3)
        kf_wr_i32(out, 0);
    kf_wr_arr(out, flex, (int32_t)ntopics);
    for (size_t i = 0; i < ntopics; i++) {
        kf_wr_str(out, flex, topics[i].name, topics[i].len);
        kf_wr_arr(out, flex, (int32_t)topics[i].count);
        for (size_t k = topics[i].first; k < topics[i].first + topics[i].count; k++) {
            write_part_err(out, flex, ents[k].partition, ents[k].err);
        }
        kf_wr_tags(out, flex);
    }
    kf_wr_tags(out, flex);
    free(topics);
    free(ents);
    return KB_OK;
}

/* ---------------------------------------------------------------------- */
/* OffsetFetch                                                             */

static void write_fetched(kf_buf *out, int16_t v, int flex, int32_t part, const kb_opart *o,
                          int16_t err) {
    if (err)
        o = NULL;
    kf_wr_i32(out, part);
    kf_wr_i64(out, o ? o->offset : -1);
    if (v >= 5)
        kf_wr_i32(out, o ? o->epoch : -1);
    kf_wr_cstr(out, flex, o ? o->meta : "");
    kf_wr_i16(out, err);
    kf_wr_tags(out, flex);
}

int kb_h_offset_fetch(kb_broker *b, kb_req *r, kf_buf *out) {
    kb_groups *gs = b->groups;
    if (!gs)
        return KB_CLOSE;
    int16_t v = r->api_version;
    int flex = r->flex;
    kf_rd rd;
    kb_req_body(r, &rd);
    const char *gid;
    int32_t glen = kf_rd_str(&rd, flex, &gid);
    /* smallest topic entry: name length + partition array (+ tags) */
    int32_t nt = kf_rd_arr(&rd, flex, flex ? 3 : 2 + 4);
    kf_rd topics = rd; /* parsed again while answering */
    check_topic_parts(&rd, flex, nt);
    int8_t stable = v >= 7 ? kf_rd_i8(&rd) : 0; /* require_stable */
    kf_rd_tags(&rd, flex);
    if (!kf_rd_ok(&rd) || glen < 0)
        return KB_CLOSE;
    kb_group *g = kb_group_find(gs, gid, (size_t)glen);

    if (v >= 3)
        kf_wr_i32(out, 0);
    if (!group_ok(b, r, gid, glen, KB_OP_DESCRIBE)) {
        /* v2+: the top-level error only; v1: on every partition asked. */
        if (v >= 2) {
            kf_wr_arr(out, flex, 0);
            kf_wr_i16(out, KF_ERR_GROUP_AUTHORIZATION_FAILED);
            kf_wr_tags(out, flex);
            return KB_OK;
        }
        kf_wr_arr(out, flex, nt < 0 ? 0 : nt);
        for (int32_t i = 0; i < nt; i++) {
            const char *name;
            int32_t np;
            (void)echo_topic_head(&topics, flex, out, &name, &np);
            for (int32_t k = 0; k < np; k++)
                write_fetched(out, v, flex, kf_rd_i32(&topics), NULL,
                              KF_ERR_GROUP_AUTHORIZATION_FAILED);
            kf_rd_tags(&topics, flex);
            kf_wr_tags(out, flex);
        }
        kf_wr_tags(out, flex);
        return KB_OK;
    }
    if (nt < 0) {
        /* All committed offsets of the group the principal may see. */
        int32_t n = 0;
        for (int i = 0; g && i < g->ntopics; i++)
            n += g->topics[i].count > 0 && kb_authz(b, r, KB_RES_TOPIC, g->topics[i].name,
                                                    strlen(g->topics[i].name), KB_OP_DESCRIBE);
        kf_wr_arr(out, flex, n);
        for (int i = 0; g && i < g->ntopics; i++) {
            kb_otopic *t = &g->topics[i];
            if (!t->count ||
                !kb_authz(b, r, KB_RES_TOPIC, t->name, strlen(t->name), KB_OP_DESCRIBE))
                continue;
            kf_wr_cstr(out, flex, t->name);
            kf_wr_arr(out, flex, t->count);
            for (int32_t p = 0; p < t->cap; p++)
                if (t->parts[p].present)
                    write_fetched(out, v, flex, p, &t->parts[p],
                                  stable && kb_txn_offset_pending(b, gid, (size_t)glen, t->name,
                                                                  strlen(t->name), p)
                                      ? KF_ERR_UNSTABLE_OFFSET_COMMIT
                                      : KF_ERR_NONE);
            kf_wr_tags(out, flex);
        }
    } else {
        kf_wr_arr(out, flex, nt);
        for (int32_t i = 0; i < nt; i++) {
            const char *name;
            int32_t np;
            int32_t nl = echo_topic_head(&topics, flex, out, &name, &np);
            int tdenied = !kb_authz(b, r, KB_RES_TOPIC, name, (size_t)nl, KB_OP_DESCRIBE);
            for (int32_t k = 0; k < np; k++) {
                int32_t p = kf_rd_i32(&topics);
                /* A pending transactional offset (TxnOffsetCommit not yet
                 * committed) makes the answer unstable for require_stable. */
                int16_t e =
                    tdenied ? KF_ERR_TOPIC_AUTHORIZATION_FAILED
                    : stable && kb_txn_offset_pending(b, gid, (size_t)glen, name, (size_t)nl, p)
                        ? KF_ERR_UNSTABLE_OFFSET_COMMIT
                        : KF_ERR_NONE;
                write_fetched(out, v, flex, p, g ? kb_group_offset(g, name, (size_t)nl, p) : NULL,
                              e);
            }
            kf_rd_tags(&topics, flex);
            kf_wr_tags(out, flex);
        }
    }
    if (v >= 2)
        kf_wr_i16(out, KF_ERR_NONE);
    kf_wr_tags(out, flex);
    return KB_OK;
}

/* ---------------------------------------------------------------------- */
/* ListGroups, DescribeGroups, DeleteGroups                                */

int kb_h_list_groups(kb_broker *b, kb_req *r, kf_buf *out) {
    kb_groups *gs = b->groups;
    if (!gs)
        return KB_CLOSE;
    kf_rd rd;
    kb_req_body(r, &rd);
    kf_rd_tags(&rd, r->flex);
    if (!kf_rd_ok(&rd))
        return KB_CLOSE;
    if (r->api_version >= 1)
        kf_wr_i32(out, 0);
    kf_wr_i16(out, KF_ERR_NONE);
    int all = kb_authz_cluster(b, r, KB_OP_DESCRIBE);
    int32_t n = 0;
    for (size_t i = 0; i < gs->nbuckets; i++)
        for (kb_group *g = gs->buckets[i]; g; g = g->hnext)
            n += all || group_ok(b, r, g->id, (int32_t)strlen(g->id), KB_OP_DESCRIBE);
    kf_wr_arr(out, r->flex, n);
    for (size_t i = 0; i < gs->nbuckets; i++)
        for (kb_group *g = gs->buckets[i]; g; g = g->hnext) {
            if (!all && !group_ok(b, r, g->id, (int32_t)strlen(g->id), KB_OP_DESCRIBE))
                continue;
            kf_wr_cstr(out, r->flex, g->id);
            kf_wr_cstr(out, r->flex, g->protocol_type ? g->protocol_type : "");
            kf_wr_tags(out, r->flex);
        }
    kf_wr_tags(out, r->flex);
    return KB_OK;
}

int kb_h_describe_groups(kb_broker *b, kb_req *r, kf_buf *out) {
    kb_groups *gs = b->groups;
    if (!gs)
        return KB_CLOSE;
    int16_t v = r->api_version;
    int flex = r->flex;
    kf_rd rd;
    kb_req_body(r, &rd);
    kf_rd names;
    int32_t n = rd_str_array(&rd, flex, &names);
    int8_t ops = v >= 3 ? kf_rd_i8(&rd) : 0;
    kf_rd_tags(&rd, flex);
    if (!kf_rd_ok(&rd) || n < 0)
        return KB_CLOSE;
    if (v >= 1)
        kf_wr_i32(out, 0);
    kf_wr_arr(out, flex, n);
    for (int32_t i = 0; i < n; i++) {
        const char *gid;
        int32_t glen = kf_rd_str(&names, flex, &gid);
        int denied = !group_ok(b, r, gid, glen, KB_OP_DESCRIBE);
        kb_group *g = denied ? NULL : kb_group_find(gs, gid, (size_t)glen);
        kf_wr_i16(out, denied ? KF_ERR_GROUP_AUTHORIZATION_FAILED : KF_ERR_NONE);
        kf_wr_str(out, flex, gid, glen);
        if (denied) {
            kf_wr_cstr(out, flex, "");
            kf_wr_cstr(out, flex, "");
            kf_wr_cstr(out, flex, "");
            kf_wr_arr(out, flex, 0);
        } else if (!g) {
            /* Kafka describes an unknown group as Dead, without error. */
            kf_wr_cstr(out, flex, "Dead");
            kf_wr_cstr(out, flex, "");
            kf_wr_cstr(out, flex, "");
            kf_wr_arr(out, flex, 0);
        } else {
            /* Member metadata and assignments only mean something once the
             * generation is settled. */
            int stable = g->state == KB_GS_STABLE;
            kf_wr_cstr(out, flex, kb_gstate_name(g->state));
            kf_wr_cstr(out, flex, g->protocol_type ? g->protocol_type : "");
            kf_wr_cstr(out, flex, stable && g->protocol ? g->protocol : "");
            kf_wr_arr(out, flex, g->nmembers);
            for (int k = 0; k < g->nmembers; k++) {
                const kb_member *m = g->members[k];
                const kb_gproto *p = stable ? member_proto(m, g->protocol) : NULL;
                kf_wr_cstr(out, flex, m->id);
                if (v >= 4)
                    kf_wr_cstr(out, flex, m->instance_id);
                kf_wr_cstr(out, flex, m->client_id);
                kf_wr_cstr(out, flex, m->client_host);
                kf_wr_bytes(out, flex, p && p->meta ? p->meta : no_bytes, p ? p->meta_len : 0);
                kf_wr_bytes(out, flex, stable && m->assignment ? m->assignment : no_bytes,
                            stable ? m->assign_len : 0);
                kf_wr_tags(out, flex);
            }
        }
        if (v >= 3) {
            int32_t aops = GROUP_AUTHORIZED_OPS;
            if (ops && kb_authz_enabled(b)) {
                aops = 0;
                for (int8_t op = KB_OP_READ; op <= KB_OP_DESCRIBE; op++)
                    if ((GROUP_AUTHORIZED_OPS & (1 << op)) && group_ok(b, r, gid, glen, op))
                        aops |= 1 << op;
            }
            kf_wr_i32(out, ops && !denied ? aops : INT32_MIN);
        }
        kf_wr_tags(out, flex);
    }
    kf_wr_tags(out, flex);
    return KB_OK;
}

int kb_h_delete_groups(kb_broker *b, kb_req *r, kf_buf *out) {
    kb_groups *gs = b->groups;
    if (!gs)
        return KB_CLOSE;
    int flex = r->flex;
    kf_rd rd;
    kb_req_body(r, &rd);
    kf_rd names;
    int32_t n = rd_str_array(&rd, flex, &names);
    kf_rd_tags(&rd, flex);
    if (!kf_rd_ok(&rd) || n < 0)
        return KB_CLOSE;
    kf_wr_i32(out, 0);
    kf_wr_arr(out, flex, n);
    for (int32_t i = 0; i < n; i++) {
        const char *gid;
        int32_t glen = kf_rd_str(&names, flex, &gid);
        int denied = !group_ok(b, r, gid, glen, KB_OP_DELETE);
        kb_group *g = denied ? NULL : kb_group_find(gs, gid, (size_t)glen);
        int16_t err = KF_ERR_NONE;
        if (denied)
            err = KF_ERR_GROUP_AUTHORIZATION_FAILED;
        else if (!g)
            err = KF_ERR_GROUP_ID_NOT_FOUND;
        else if (g->nmembers || g->npending || g->state != KB_GS_EMPTY)
            err = KF_ERR_NON_EMPTY_GROUP;
        else if (kb_group_delete(gs, g) != 0)
            err = KF_ERR_COORDINATOR_NOT_AVAILABLE;
        else
            kf_info("group", "group %.*s deleted", (int)glen, gid);
        kf_wr_str(out, flex, gid, glen);
        kf_wr_i16(out, err);
        kf_wr_tags(out, flex);
    }
    kf_wr_tags(out, flex);
    return KB_OK;
}

/* ---------------------------------------------------------------------- */
/* OffsetDelete                                                            */

/* Does any member's "consumer" subscription name the topic?  The
 * subscription (ConsumerProtocolSubscription) starts with an int16 version
 * and an array of int16-length topic names in every version. */
static int group_subscribed(const kb_group *g, const char *topic, size_t len) {
    for (int i = 0; i < g->nmembers; i++) {
        const kb_member *m = g->members[i];
        const kb_gproto *p = member_proto(m, g->protocol);
        if (!p && m->nprotos)
            p = &m->protos[0];
        if (!p || !p->meta)
            continue;
        kf_rd rd;
        kf_rd_init(&rd, p->meta, (size_t)p->meta_len);
        (void)kf_rd_i16(&rd);
        int32_t n = kf_rd_arr(&rd, 0, 2);
        for (int32_t k = 0; k < n && kf_rd_ok(&rd); k++) {
            const char *s;
            int32_t sl = kf_rd_str(&rd, 0, &s);
            if (sl >= 0 && (size_t)sl == len && memcmp(s, topic, len) == 0)
                return 1;
        }
    }
    return 0;
}

int kb_h_offset_delete(kb_broker *b, kb_req *r, kf_buf *out) {
    kb_groups *gs = b->groups;
    if (!gs)
        return KB_CLOSE;
    int flex = r->flex;
    kf_rd rd;
    kb_req_body(r, &rd);
    const char *gid;
    int32_t glen = kf_rd_str(&rd, flex, &gid);
    int32_t nt = kf_rd_arr(&rd, flex, 2 + 4);
    kf_rd topics = rd;
    check_topic_parts(&rd, flex, nt);
    kf_rd_tags(&rd, flex);
    if (!kf_rd_ok(&rd) || glen < 0 || nt < 0)
        return KB_CLOSE;
    kb_group *g = kb_group_find(gs, gid, (size_t)glen);
    int16_t gerr = KF_ERR_NONE;
    int consumer = g && g->protocol_type && strcmp(g->protocol_type, "consumer") == 0;
    if (!group_ok(b, r, gid, glen, KB_OP_DELETE))
        gerr = KF_ERR_GROUP_AUTHORIZATION_FAILED;
    else if (!g || g->state == KB_GS_DEAD)
        gerr = KF_ERR_GROUP_ID_NOT_FOUND;
    else if (g->state != KB_GS_EMPTY && !consumer)
        gerr = KF_ERR_NON_EMPTY_GROUP;
    kf_wr_i16(out, gerr);
    kf_wr_i32(out, 0);
    if (gerr) {
        kf_wr_arr(out, flex, 0);
        kf_wr_tags(out, flex);
        return KB_OK;
    }
    kf_wr_arr(out, flex, nt);
    for (int32_t i = 0; i < nt; i++) {
        const char *name;
        int32_t np;
        int32_t nl = echo_topic_head(&topics, flex, out, &name, &np);
        int known = topic_exists(b, name, (size_t)nl);
        int subscribed = g->state != KB_GS_EMPTY && group_subscribed(g, name, (size_t)nl);
        int tdenied = !kb_authz(b, r, KB_RES_TOPIC, name, (size_t)nl, KB_OP_READ);
        for (int32_t k = 0; k < np; k++) {
            int32_t p = kf_rd_i32(&topics);
            int16_t err = KF_ERR_NONE;
            if (tdenied)
                err = KF_ERR_TOPIC_AUTHORIZATION_FAILED;
            else if (!known || !part_exists(b, name, (size_t)nl, p))
                err = KF_ERR_UNKNOWN_TOPIC_OR_PARTITION;
            else if (subscribed)
                err = KF_ERR_GROUP_SUBSCRIBED_TO_TOPIC;
            else if (kb_group_offset_delete(gs, g, name, (size_t)nl, p) != 0)
                err = KF_ERR_COORDINATOR_NOT_AVAILABLE;
            write_part_err(out, flex, p, err);
        }
        kf_rd_tags(&topics, flex);
        kf_wr_tags(out, flex);
    }
    kf_wr_tags(out, flex);
    return KB_OK;
}
