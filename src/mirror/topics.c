/*
 * topics.c - source topic discovery and target topic creation (see topics.h).
 *
 * Which configs are copied is decided in topicconf.c.
 */
#include "mirror/topics.h"
#include "mirror/retry.h"

#include "common/log.h"
#include "common/util.h"
#include "mirror/topicconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int topics_partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms) {
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (!rkt)
        return -2;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
    int rc = -2;
    if (!e && md && md->topic_cnt == 1) {
        const rd_kafka_metadata_topic_t *t = &md->topics[0];
        if (t->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            rc = -1;
        else if (!t->err)
            rc = t->partition_cnt > 0 ? t->partition_cnt : -1;
        else
            kf_warn("topics", "metadata for %s: %s", topic, rd_kafka_err2str(t->err));
    } else if (e) {
        kf_warn("topics", "metadata for %s: %s", topic, rd_kafka_err2str(e));
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return rc;
}

static int cmp_topic(const void *a, const void *b) {
    return strcmp(((const topic_info *)a)->name, ((const topic_info *)b)->name);
}

int topics_list(rd_kafka_t *rk, topic_list *out, int timeout_ms) {
    memset(out, 0, sizeof(*out));
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms);
    if (e) {
        kf_warn("topics", "%s: metadata: %s", rd_kafka_name(rk), rd_kafka_err2str(e));
        return -1;
    }
    out->t = calloc((size_t)md->topic_cnt + 1, sizeof(*out->t));
    if (!out->t) {
        rd_kafka_metadata_destroy(md);
        return -1;
    }
    out->brokers = md->broker_cnt;
    for (int i = 0; i < md->topic_cnt; i++) {
        const rd_kafka_metadata_topic_t *t = &md->topics[i];
        if (t->err || t->partition_cnt <= 0)
            continue;
        out->t[out->n].name = kf_strdup(t->topic);
        out->t[out->n++].partitions = t->partition_cnt;
    }
    rd_kafka_metadata_destroy(md);
    qsort(out->t, out->n, sizeof(*out->t), cmp_topic);
    return 0;
}

void topics_list_free(topic_list *l) {
    for (size_t i = 0; i < l->n; i++)
        free(l->t[i].name);
    free(l->t);
    memset(l, 0, sizeof(*l));
}

const topic_info *topics_find(const topic_list *l, const char *name) {
    topic_info key = {(char *)name, 0};
    return bsearch(&key, l->t, l->n, sizeof(*l->t), cmp_topic);
}

rd_kafka_event_t *topics_admin_wait(rd_kafka_queue_t *q, int type, int timeout_ms) {
    int64_t deadline = kf_now_ms() + timeout_ms;
    while (kf_now_ms() < deadline) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 200);
        if (!ev)
            continue;
        if (rd_kafka_event_type(ev) == type)
            return ev;
        rd_kafka_event_destroy(ev);
    }
    return NULL;
}

void topics_retention(rd_kafka_t *rk, const char *const *topics, size_t n, int64_t *out,
                      int timeout_ms) {
    for (size_t i = 0; i < n; i++)
        out[i] = INT64_MIN;
    rd_kafka_ConfigResource_t **res = calloc(n ? n : 1, sizeof(*res));
    if (!res || !n) {
        free(res);
        return;
    }
    for (size_t i = 0; i < n; i++)
        res[i] = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topics[i]);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DescribeConfigs(rk, res, n, NULL, q);
    rd_kafka_event_t *ev = topics_admin_wait(q, RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, timeout_ms);
    size_t nres = 0;
    const rd_kafka_ConfigResource_t **rs =
        ev && !rd_kafka_event_error(ev) ? rd_kafka_DescribeConfigs_result_resources(
                                              rd_kafka_event_DescribeConfigs_result(ev), &nres)
                                        : NULL;
    for (size_t i = 0; rs && i < nres; i++) {
        if (rd_kafka_ConfigResource_error(rs[i]))
            continue;
        size_t ncfg = 0;
        const rd_kafka_ConfigEntry_t **ents = rd_kafka_ConfigResource_configs(rs[i], &ncfg);
        int64_t ms = INT64_MIN;
        for (size_t e = 0; e < ncfg && ms == INT64_MIN; e++) {
            const char *v = rd_kafka_ConfigEntry_value(ents[e]);
            int64_t x;
            if (!strcmp(rd_kafka_ConfigEntry_name(ents[e]), "retention.ms") && v &&
                kf_parse_i64(v, -1, INT64_MAX, &x) == 0)
                ms = x;
        }
        const char *name = rd_kafka_ConfigResource_name(rs[i]);
        for (size_t k = 0; k < n; k++)
            if (!strcmp(topics[k], name))
                out[k] = ms;
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_ConfigResource_destroy_array(res, n);
    free(res);
}

/* Adds src's explicitly set configs to nt. Failure to describe is logged
 * and the topic is created with the target's defaults (the log says so). */
static void copy_configs(rd_kafka_t *src_rk, const char *src, rd_kafka_NewTopic_t *nt) {
    tconf tc;
    char err[512];
    if (tconf_describe(src_rk, src, &tc, err, sizeof(err))) {
        kf_warn("topics",
                "%s: cannot describe source configs (%s); creating the target topic with the "
                "target's defaults",
                src, err);
        return;
    }
    for (size_t i = 0; i < tc.n; i++) {
        if (!tconf_copyable(tc.name[i])) {
            kf_info("topics", "%s: config %s=%s not copied (excluded)", src, tc.name[i],
                    tc.value[i]);
            continue;
        }
        rd_kafka_NewTopic_set_config(nt, tc.name[i], tc.value[i]);
        kf_info("topics", "%s: copying config %s=%s", src, tc.name[i], tc.value[i]);
    }
    tconf_free(&tc);
}

static int create_one(rd_kafka_t *tgt_rk, rd_kafka_NewTopic_t *nt, const char *tgt) {
    rd_kafka_queue_t *q = rd_kafka_queue_new(tgt_rk);
    rd_kafka_AdminOptions_t *opt =
        rd_kafka_AdminOptions_new(tgt_rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    char eb[256];
    rd_kafka_AdminOptions_set_operation_timeout(opt, 30000, eb, sizeof(eb));
    rd_kafka_CreateTopics(tgt_rk, &nt, 1, opt, q);
    rd_kafka_event_t *ev = topics_admin_wait(q, RD_KAFKA_EVENT_CREATETOPICS_RESULT, 60000);
    int rc = -1;
    if (!ev) {
        kf_err("topics", "create %s: timed out", tgt);
    } else if (rd_kafka_event_error(ev)) {
        kf_err("topics", "create %s: %s", tgt, rd_kafka_event_error_string(ev));
    } else {
        size_t n = 0;
        const rd_kafka_topic_result_t **tr =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        rd_kafka_resp_err_t e = n ? rd_kafka_topic_result_error(tr[0]) : RD_KAFKA_RESP_ERR_NO_ERROR;
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
            rc = 0;
        else
            kf_err("topics", "create %s: %s", tgt, rd_kafka_topic_result_error_string(tr[0]));
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_queue_destroy(q);
    return rc;
}

static int capped_rf(const mirror_config *c, int brokers, const char *what) {
    int rf = c->replication_factor;
    if (rf > brokers && brokers > 0) {
        kf_warn("topics", "%s: replication.factor %d capped to the target's %d broker(s)", what, rf,
                brokers);
        rf = brokers;
    }
    return rf;
}

void topics_offsets(rd_kafka_t *rk, const char *const *topics, const int32_t *parts, size_t n,
                    int64_t which, int64_t *out) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    size_t *idx = calloc(n + 1, sizeof(*idx));
    /* Only partitions the cluster has: librdkafka waits the whole timeout
     * for the leader of a topic that does not exist (a group's offsets on a
     * topic that is not mirrored), which stalled groups status and the
     * mirror's shutdown for 15 s per call. */
    const struct rd_kafka_metadata *md = NULL;
    if (n && rd_kafka_metadata(rk, 1, NULL, &md, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        md = NULL;
    for (size_t i = 0; i < n; i++) {
        out[i] = -1;
        int known = 0;
        for (int t = 0; md && !known && t < md->topic_cnt; t++)
            known = !strcmp(md->topics[t].topic, topics[i]) && parts[i] >= 0 &&
                    parts[i] < md->topics[t].partition_cnt;
        if (!known || !idx)
            continue;
        idx[l->cnt] = i;
        rd_kafka_topic_partition_list_add(l, topics[i], parts[i])->offset = which;
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    /* the special timestamps -2/-1 ask ListOffsets for earliest/latest */
    if (l->cnt && retry_offsets_for_times(rk, l, 15000) == RD_KAFKA_RESP_ERR_NO_ERROR)
        for (int i = 0; i < l->cnt; i++)
            if (!l->elems[i].err && l->elems[i].offset >= 0)
                out[idx[i]] = l->elems[i].offset;
    free(idx);
    rd_kafka_topic_partition_list_destroy(l);
}

int topics_create(const mirror_config *c, rd_kafka_t *src_rk, rd_kafka_t *tgt_rk, const char *src,
                  const char *tgt, int nparts, int brokers) {
    char eb[512];
    rd_kafka_NewTopic_t *nt =
        rd_kafka_NewTopic_new(tgt, nparts, capped_rf(c, brokers, tgt), eb, sizeof(eb));
    if (!nt) {
        kf_err("topics", "create %s: %s", tgt, eb);
        return -1;
    }
    if (c->sync_topic_configs)
        copy_configs(src_rk, src, nt);
    int rc = create_one(tgt_rk, nt, tgt);
    if (rc == 0)
        kf_notice("topics", "created target topic %s (%d partitions) for source topic %s", tgt,
                  nparts, src);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

/* Creates the internal topic name (nparts partitions, compacted or not) if
 * the reader does not see it: 0 it exists, 1 created, -1 error. */
static int ensure_internal(const mirror_config *c, rd_kafka_t *tgt_rk, rd_kafka_t *tgt_reader,
                           int brokers, const char *name, int nparts, int compact) {
    /* ask through the reader: a producer's metadata request could
     * auto-create the topic without cleanup.policy=compact */
    int np = topics_partition_count(tgt_reader, name, 10000);
    if (np > 0)
        return 0;
    if (np == -2)
        return -1;
    char eb[512];
    rd_kafka_NewTopic_t *nt =
        rd_kafka_NewTopic_new(name, nparts, capped_rf(c, brokers, name), eb, sizeof(eb));
    if (!nt)
        return -1;
    if (compact)
        rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
    int rc = create_one(tgt_rk, nt, name);
    rd_kafka_NewTopic_destroy(nt);
    return rc == 0 ? 1 : -1;
}

int topics_ensure_map_topic(const mirror_config *c, rd_kafka_t *tgt_rk, rd_kafka_t *tgt_reader,
                            int brokers) {
    int rc = ensure_internal(c, tgt_rk, tgt_reader, brokers, c->map_topic, 1, 1);
    if (rc > 0)
        kf_notice("map", "created offset-map topic %s", c->map_topic);
    return rc < 0 ? -1 : 0;
}

int topics_ensure_lock_topic(const mirror_config *c, rd_kafka_t *rk, int brokers) {
    int rc = ensure_internal(c, rk, rk, brokers, c->lock_topic, c->workers > 0 ? c->workers : 1, 0);
    if (rc > 0)
        kf_notice("lock", "created flow-lock topic %s", c->lock_topic);
    return rc < 0 ? -1 : 0;
}

int topics_grow(rd_kafka_t *tgt_rk, const char *tgt, int total) {
    char eb[512];
    rd_kafka_NewPartitions_t *np = rd_kafka_NewPartitions_new(tgt, (size_t)total, eb, sizeof(eb));
    if (!np)
        return -1;
    rd_kafka_queue_t *q = rd_kafka_queue_new(tgt_rk);
    rd_kafka_CreatePartitions(tgt_rk, &np, 1, NULL, q);
    rd_kafka_event_t *ev = topics_admin_wait(q, RD_KAFKA_EVENT_CREATEPARTITIONS_RESULT, 60000);
    int rc = -1;
    if (ev && !rd_kafka_event_error(ev)) {
        size_t n = 0;
        const rd_kafka_topic_result_t **tr =
            rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev), &n);
        rd_kafka_resp_err_t e = n ? rd_kafka_topic_result_error(tr[0]) : RD_KAFKA_RESP_ERR_NO_ERROR;
        if (!e) {
            rc = 0;
            kf_notice("topics", "grew target topic %s to %d partitions", tgt, total);
        } else {
            kf_err("topics", "grow %s to %d: %s", tgt, total,
                   rd_kafka_topic_result_error_string(tr[0]));
        }
    } else {
        kf_err("topics", "grow %s to %d: %s", tgt, total,
               ev ? rd_kafka_event_error_string(ev) : "timed out");
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewPartitions_destroy(np);
    return rc;
}
