/*
 * grpadmin.c - consumer-group admin wrappers (see grpadmin.h).
 *
 * Every call waits on a private queue with a deadline, so a dead cluster
 * costs at most timeout_ms and never blocks a shutdown for longer.
 */
#include "mirror/grpadmin.h"
#include "mirror/mskiam.h"

#include "common/util.h"
#include "mirror/topics.h"
#include "proto/wire.h"

#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Group-context handles (see ga_group_handle in grpadmin.h): one per
 * cluster address, created on first use, destroyed at exit. */
enum { GA_MAX_CTX = 16 };
static struct {
    char key[1024];
    rd_kafka_t *rk;
} g_ctx[GA_MAX_CTX];
static int g_nctx;
static pid_t g_ctx_pid;
static pthread_mutex_t g_ctx_mu = PTHREAD_MUTEX_INITIALIZER;

static void ga_ctx_shutdown(void) {
    if (getpid() != g_ctx_pid) /* a forked child owns none of them */
        return;
    pthread_mutex_lock(&g_ctx_mu);
    for (int i = 0; i < g_nctx; i++)
        rd_kafka_destroy(g_ctx[i].rk);
    g_nctx = 0;
    pthread_mutex_unlock(&g_ctx_mu);
}

static int conf_get(const rd_kafka_conf_t *conf, const char *name, char *out, size_t len) {
    size_t l = len;
    return rd_kafka_conf_get(conf, name, out, &l) == RD_KAFKA_CONF_OK ? 0 : -1;
}

rd_kafka_t *ga_group_handle(rd_kafka_t *rk) {
    const rd_kafka_conf_t *conf = rd_kafka_conf(rk);
    char gid[256] = "", key[1024] = "";
    if (conf_get(conf, "group.id", gid, sizeof(gid)) == 0 && gid[0])
        return rk; /* has a group context of its own */
    if (conf_get(conf, "bootstrap.servers", key, sizeof(key)) != 0)
        return rk;
    rd_kafka_t *out = rk;
    pthread_mutex_lock(&g_ctx_mu);
    for (int i = 0; i < g_nctx; i++)
        if (!strcmp(g_ctx[i].key, key)) {
            out = g_ctx[i].rk;
            goto done;
        }
    if (g_nctx == GA_MAX_CTX)
        goto done;
    rd_kafka_conf_t *dup = rd_kafka_conf_dup(conf);
    char eb[256], id[300];
    if (conf_get(conf, "client.id", gid, sizeof(gid)) != 0)
        kf_strlcpy(gid, "kferry", sizeof(gid));
    snprintf(id, sizeof(id), "__kferry.admin.%s", gid);
    if (rd_kafka_conf_set(dup, "group.id", id, eb, sizeof(eb)) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(dup);
        goto done;
    }
    rd_kafka_t *h = rd_kafka_new(RD_KAFKA_CONSUMER, dup, eb, sizeof(eb));
    mskiam_handle(h);
    if (!h) {
        rd_kafka_conf_destroy(dup);
        goto done;
    }
    if (!g_nctx && !g_ctx_pid) {
        g_ctx_pid = getpid();
        atexit(ga_ctx_shutdown);
    }
    kf_strlcpy(g_ctx[g_nctx].key, key, sizeof(g_ctx[g_nctx].key));
    g_ctx[g_nctx++].rk = h;
    out = h;
done:
    pthread_mutex_unlock(&g_ctx_mu);
    return out;
}

static rd_kafka_AdminOptions_t *options(rd_kafka_t *rk, rd_kafka_admin_op_t op, int timeout_ms) {
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, op);
    char eb[256];
    rd_kafka_AdminOptions_set_request_timeout(o, timeout_ms, eb, sizeof(eb));
    return o;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void ga_list_free(char **ids, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

int ga_list(rd_kafka_t *rk, int timeout_ms, char ***ids, size_t *n, char *err, size_t errlen) {
    *ids = NULL;
    *n = 0;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = options(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS, timeout_ms);
    rd_kafka_ListConsumerGroups(rk, o, q);
    rd_kafka_event_t *ev =
        topics_admin_wait(q, RD_KAFKA_EVENT_LISTCONSUMERGROUPS_RESULT, timeout_ms + 2000);
    int rc = -1;
    if (!ev || rd_kafka_event_error(ev)) {
        snprintf(err, errlen, "list groups: %s",
                 ev ? rd_kafka_event_error_string(ev) : "timed out");
        goto out;
    }
    const rd_kafka_ListConsumerGroups_result_t *res = rd_kafka_event_ListConsumerGroups_result(ev);
    size_t nerr = 0, nv = 0;
    const rd_kafka_error_t **errs = rd_kafka_ListConsumerGroups_result_errors(res, &nerr);
    if (nerr) { /* a broker did not answer: an incomplete list would hide groups */
        snprintf(err, errlen, "list groups: %s", rd_kafka_error_string(errs[0]));
        goto out;
    }
    const rd_kafka_ConsumerGroupListing_t **l = rd_kafka_ListConsumerGroups_result_valid(res, &nv);
    *ids = calloc(nv + 1, sizeof(char *));
    if (!*ids)
        goto out;
    for (size_t i = 0; i < nv; i++) {
        (*ids)[i] = kf_strdup(rd_kafka_ConsumerGroupListing_group_id(l[i]));
        if (!(*ids)[i]) {
            ga_list_free(*ids, i);
            *ids = NULL;
            goto out;
        }
    }
    *n = nv;
    qsort(*ids, nv, sizeof(char *), cmp_str);
    rc = 0;
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    return rc;
}

void ga_group_free(ga_group *g) {
    for (size_t i = 0; i < g->nmembers; i++) {
        free(g->members[i].member_id);
        free(g->members[i].client_id);
        free(g->members[i].host);
        if (g->members[i].assignment)
            rd_kafka_topic_partition_list_destroy(g->members[i].assignment);
    }
    free(g->members);
    memset(g, 0, sizeof(*g));
}

int ga_idle(const ga_group *g) {
    return g->nmembers == 0 && (g->state == RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY ||
                                g->state == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD);
}

static char *dup_or_empty(const char *s) { return kf_strdup(s ? s : ""); }

rd_kafka_topic_partition_list_t *ga_parse_assignment(const void *p, size_t n) {
    if (!p || n == 0)
        return NULL;
    kf_rd r;
    kf_rd_init(&r, p, n);
    (void)kf_rd_i16(&r); /* ConsumerProtocolAssignment version: v0-v3 share this layout */
    int32_t nt = kf_rd_arr(&r, 0, 6);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nt > 0 ? nt : 1);
    for (int32_t i = 0; i < nt && kf_rd_ok(&r); i++) {
        char topic[256];
        if (kf_rd_str_copy(&r, 0, topic, sizeof(topic), 0) < 0)
            break;
        int32_t np = kf_rd_arr(&r, 0, 4);
        for (int32_t k = 0; k < np && kf_rd_ok(&r); k++) {
            int32_t part = kf_rd_i32(&r);
            if (kf_rd_ok(&r))
                rd_kafka_topic_partition_list_add(l, topic, part);
        }
    }
    if (!kf_rd_ok(&r)) { /* not the consumer protocol's layout: report none */
        rd_kafka_topic_partition_list_destroy(l);
        return NULL;
    }
    return l;
}

/* Through the classic ListGroups + DescribeGroups calls (rd_kafka_list_groups)
 * rather than the admin API's DescribeConsumerGroups: librdkafka 2.0.2's
 * admin path releases its request twice when the coordinator's connection
 * drops between the coordinator lookup and the send (rdkafka_admin.c,
 * rd_kafka_admin_coord_request), and the process aborts on an assertion
 * (`eonce->refcnt > 0`); it was seen when a target froze long enough for a
 * standby to describe the flow-lock group while the target reconnected.
 * rd_kafka_list_groups sends DescribeGroups itself and handles a failed
 * send. */
int ga_describe(rd_kafka_t *rk, const char *group, int timeout_ms, ga_group *out, char *err,
                size_t errlen) {
    memset(out, 0, sizeof(*out));
    const struct rd_kafka_group_list *gl = NULL;
    rd_kafka_resp_err_t e = rd_kafka_list_groups(rk, group, &gl, timeout_ms);
    if (e == RD_KAFKA_RESP_ERR__PARTIAL) {
        /* the group was found; a broker that did not answer cannot know it */
        e = RD_KAFKA_RESP_ERR_NO_ERROR;
    }
    if (e) {
        snprintf(err, errlen, "describe group %s: %s", group, rd_kafka_err2str(e));
        if (gl)
            rd_kafka_group_list_destroy(gl);
        return -1;
    }
    const struct rd_kafka_group_info *gi = NULL;
    for (int i = 0; gl && i < gl->group_cnt; i++)
        if (gl->groups[i].group && !strcmp(gl->groups[i].group, group))
            gi = &gl->groups[i];
    int rc = -1;
    if (!gi) { /* no broker lists it: the cluster does not know the group */
        out->state = RD_KAFKA_CONSUMER_GROUP_STATE_DEAD;
        rc = 0;
        goto out;
    }
    if (gi->err == RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND) {
        out->state = RD_KAFKA_CONSUMER_GROUP_STATE_DEAD;
        rc = 0;
        goto out;
    }
    if (gi->err) {
        snprintf(err, errlen, "describe group %s: %s", group, rd_kafka_err2str(gi->err));
        goto out;
    }
    out->state = (int)rd_kafka_consumer_group_state_code(gi->state ? gi->state : "");
    out->members = calloc((size_t)gi->member_cnt + 1, sizeof(*out->members));
    if (!out->members) {
        snprintf(err, errlen, "describe group %s: out of memory", group);
        goto out;
    }
    int consumer = gi->protocol_type && !strcmp(gi->protocol_type, "consumer");
    for (int i = 0; i < gi->member_cnt; i++) {
        const struct rd_kafka_group_member_info *mi = &gi->members[i];
        ga_member *m = &out->members[out->nmembers++];
        m->member_id = dup_or_empty(mi->member_id);
        m->client_id = dup_or_empty(mi->client_id);
        m->host = dup_or_empty(mi->client_host);
        m->assignment =
            consumer
                ? ga_parse_assignment(
                      mi->member_assignment,
                      (size_t)(mi->member_assignment_size > 0 ? mi->member_assignment_size : 0))
                : NULL;
    }
    rc = 0;
out:
    if (gl)
        rd_kafka_group_list_destroy(gl);
    return rc;
}

int ga_offsets_add(ga_offsets *o, const char *topic, int32_t partition, int64_t offset,
                   const char *metadata) {
    if (o->n == o->cap) {
        size_t nc = o->cap ? o->cap * 2 : 16;
        ga_off *nv = realloc(o->v, nc * sizeof(*nv));
        if (!nv)
            return -1;
        o->v = nv;
        o->cap = nc;
    }
    ga_off *e = &o->v[o->n];
    e->topic = kf_strdup(topic);
    e->metadata = metadata ? kf_strdup(metadata) : NULL;
    e->partition = partition;
    e->offset = offset;
    if (!e->topic || (metadata && !e->metadata)) {
        free(e->topic);
        free(e->metadata);
        return -1;
    }
    o->n++;
    return 0;
}

long ga_offsets_find(const ga_offsets *o, const char *topic, int32_t partition) {
    for (size_t i = 0; i < o->n; i++)
        if (o->v[i].partition == partition && !strcmp(o->v[i].topic, topic))
            return (long)i;
    return -1;
}

void ga_offsets_free(ga_offsets *o) {
    for (size_t i = 0; i < o->n; i++) {
        free(o->v[i].topic);
        free(o->v[i].metadata);
    }
    free(o->v);
    memset(o, 0, sizeof(*o));
}

static int cmp_off(const void *a, const void *b) {
    const ga_off *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

/* The one group result of a single-group admin call, or NULL with err set
 * ("<what>: reason") when the call timed out, failed, or the group failed. */
static const rd_kafka_group_result_t *one_group_result(rd_kafka_event_t *ev,
                                                       const rd_kafka_group_result_t **gr, size_t n,
                                                       const char *what, char *err, size_t errlen) {
    if (!ev || rd_kafka_event_error(ev)) {
        snprintf(err, errlen, "%s: %s", what, ev ? rd_kafka_event_error_string(ev) : "timed out");
        return NULL;
    }
    const rd_kafka_error_t *ge = n ? rd_kafka_group_result_error(gr[0]) : NULL;
    if (ge || !n) {
        snprintf(err, errlen, "%s: %s", what, ge ? rd_kafka_error_string(ge) : "no answer");
        return NULL;
    }
    return gr[0];
}

int ga_committed(rd_kafka_t *rk, const char *group, int timeout_ms, ga_offsets *out, char *err,
                 size_t errlen) {
    memset(out, 0, sizeof(*out));
    rk = ga_group_handle(rk);
    rd_kafka_ListConsumerGroupOffsets_t *req = rd_kafka_ListConsumerGroupOffsets_new(group, NULL);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o =
        options(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS, timeout_ms);
    rd_kafka_ListConsumerGroupOffsets(rk, &req, 1, o, q);
    rd_kafka_event_t *ev =
        topics_admin_wait(q, RD_KAFKA_EVENT_LISTCONSUMERGROUPOFFSETS_RESULT, timeout_ms + 2000);
    int rc = -1;
    const rd_kafka_topic_partition_list_t *parts = NULL;
    size_t n = 0;
    const rd_kafka_group_result_t **gr =
        ev && !rd_kafka_event_error(ev)
            ? rd_kafka_ListConsumerGroupOffsets_result_groups(
                  rd_kafka_event_ListConsumerGroupOffsets_result(ev), &n)
            : NULL;
    char what[300];
    snprintf(what, sizeof(what), "committed offsets of %s", group);
    const rd_kafka_group_result_t *g1 = one_group_result(ev, gr, n, what, err, errlen);
    if (!g1)
        goto out;
    parts = rd_kafka_group_result_partitions(g1);
    for (int i = 0; parts && i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        if (p->err) {
            /* a coordinator that is loading or moved answers per partition:
             * taking that for "nothing committed" would be a wrong answer */
            snprintf(err, errlen, "%s: %s [%d]: %s", what, p->topic, (int)p->partition,
                     rd_kafka_err2str(p->err));
            ga_offsets_free(out);
            goto out;
        }
        if (p->offset < 0)
            continue; /* nothing committed there */
        char md[4096], *mdp = NULL;
        if (p->metadata && p->metadata_size > 0) {
            size_t l = p->metadata_size < sizeof(md) - 1 ? p->metadata_size : sizeof(md) - 1;
            memcpy(md, p->metadata, l);
            md[l] = 0;
            mdp = md;
        }
        if (ga_offsets_add(out, p->topic, p->partition, p->offset, mdp)) {
            snprintf(err, errlen, "out of memory");
            ga_offsets_free(out);
            goto out;
        }
    }
    if (out->n)
        qsort(out->v, out->n, sizeof(*out->v), cmp_off);
    rc = 0;
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_ListConsumerGroupOffsets_destroy(req);
    return rc;
}

int ga_commit(rd_kafka_t *rk, const char *group, const ga_offsets *offs, int timeout_ms, char *err,
              size_t errlen) {
    rk = ga_group_handle(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)offs->n);
    for (size_t i = 0; i < offs->n; i++) {
        rd_kafka_topic_partition_t *p =
            rd_kafka_topic_partition_list_add(l, offs->v[i].topic, offs->v[i].partition);
        p->offset = offs->v[i].offset;
        if (offs->v[i].metadata) {
            /* the list frees metadata with free() */
            p->metadata = kf_strdup(offs->v[i].metadata);
            p->metadata_size = p->metadata ? strlen(offs->v[i].metadata) : 0;
        }
    }
    rd_kafka_AlterConsumerGroupOffsets_t *req = rd_kafka_AlterConsumerGroupOffsets_new(group, l);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o =
        options(rk, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS, timeout_ms);
    rd_kafka_AlterConsumerGroupOffsets(rk, &req, 1, o, q);
    rd_kafka_event_t *ev =
        topics_admin_wait(q, RD_KAFKA_EVENT_ALTERCONSUMERGROUPOFFSETS_RESULT, timeout_ms + 2000);
    int rc = -1;
    size_t n = 0;
    const rd_kafka_group_result_t **gr =
        ev && !rd_kafka_event_error(ev)
            ? rd_kafka_AlterConsumerGroupOffsets_result_groups(
                  rd_kafka_event_AlterConsumerGroupOffsets_result(ev), &n)
            : NULL;
    char what[300];
    snprintf(what, sizeof(what), "commit %s", group);
    const rd_kafka_group_result_t *g1 = one_group_result(ev, gr, n, what, err, errlen);
    if (!g1)
        goto out;
    const rd_kafka_topic_partition_list_t *parts = rd_kafka_group_result_partitions(g1);
    for (int i = 0; parts && i < parts->cnt; i++)
        if (parts->elems[i].err) {
            snprintf(err, errlen, "commit %s %s/%d: %s", group, parts->elems[i].topic,
                     (int)parts->elems[i].partition, rd_kafka_err2str(parts->elems[i].err));
            goto out;
        }
    rc = 0;
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_AlterConsumerGroupOffsets_destroy(req);
    return rc;
}

static int match_any(const mc_regexes *r, const char *s) {
    for (size_t i = 0; i < r->n; i++)
        if (regexec(&r->re[i], s, 0, NULL, 0) == 0)
            return 1;
    return 0;
}

int ga_selected(const mirror_config *c, const char *group) {
    if (!strncmp(group, "__kferry", 8) || !strcmp(group, c->lock_group))
        return 0; /* kferry's own groups (the flow lock) are never synced */
    return match_any(&c->groups, group) && !match_any(&c->groups_exclude, group);
}

int ga_wanted(const mirror_config *c, const char *pattern, const char *group) {
    if (pattern && strncmp(pattern, "re:", 3) != 0)
        return strcmp(pattern, group) == 0;
    return (!pattern || ga_pattern_match(pattern, group) == 1) && ga_selected(c, group);
}

int ga_pattern_match(const char *pattern, const char *group) {
    if (strncmp(pattern, "re:", 3) != 0)
        return strcmp(pattern, group) == 0;
    char anchored[1024];
    if (snprintf(anchored, sizeof(anchored), "^(%s)$", pattern + 3) >= (int)sizeof(anchored))
        return -1;
    regex_t re;
    if (regcomp(&re, anchored, REG_EXTENDED | REG_NOSUB) != 0)
        return -1;
    int m = regexec(&re, group, 0, NULL, 0) == 0;
    regfree(&re);
    return m;
}
