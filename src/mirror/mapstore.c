/*
 * mapstore.c - load and persist the offset map (see mapstore.h).
 *
 * Map records go through the same idempotent producer as the data, with a
 * distinct message opaque; their delivery is checked on shutdown by the
 * final flush.
 */
#include "mirror/mapstore.h"
#include "mirror/retry.h"

#include "common/log.h"
#include "mirror/reader.h"
#include "mirror/topics.h"

#include <stdio.h>
#include <string.h>

char mapstore_opaque;
char mapstore_baseline_opaque;

typedef struct load_ctx {
    offmap *m;
    char *status;
    size_t statuslen;
    long bad;
} load_ctx;

static int load_cb(const rd_kafka_message_t *msg, reader_spec *s, void *ctx) {
    load_ctx *lc = ctx;
    if (!msg->key)
        return 0;
    const char *k = msg->key;
    if (msg->key_len > 2 && k[0] == 'S' && k[1] == ' ') {
        if (lc->status && msg->payload) {
            size_t n = msg->len < lc->statuslen - 1 ? msg->len : lc->statuslen - 1;
            memcpy(lc->status, msg->payload, n);
            lc->status[n] = 0;
        }
        return 0;
    }
    if (offmap_apply(lc->m, k, msg->key_len, msg->payload, msg->len) < 0) {
        if (lc->bad++ < 5)
            kf_warn("map", "malformed map record at offset %lld ignored", (long long)msg->offset);
    }
    return 0;
}

int mapstore_load(rd_kafka_t *reader, const char *topic, offmap *m, int *found, char *status,
                  size_t statuslen, char *err, size_t errlen) {
    if (status && statuslen)
        status[0] = 0;
    int64_t pos = -1;
    return mapstore_load_more(reader, topic, m, &pos, found, status, statuslen, err, errlen);
}

int mapstore_load_more(rd_kafka_t *reader, const char *topic, offmap *m, int64_t *pos, int *found,
                       char *status, size_t statuslen, char *err, size_t errlen) {
    int np = topics_partition_count(reader, topic, 10000);
    if (np == -2) {
        snprintf(err, errlen, "cannot read metadata of %s", topic);
        return -1;
    }
    *found = np > 0;
    if (np <= 0)
        return 0;
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t e = retry_watermarks(reader, topic, 0, &lo, &hi, 10000);
    if (e) {
        snprintf(err, errlen, "%s: watermarks: %s", topic, rd_kafka_err2str(e));
        return -1;
    }
    int64_t from = *pos > lo ? *pos : lo;
    reader_spec spec = {.topic = topic, .partition = 0, .start = from, .end = hi};
    load_ctx lc = {m, status, statuslen, 0};
    if (reader_run(reader, &spec, 1, load_cb, &lc, 120000, err, errlen) != 0)
        return -1;
    *pos = hi;
    for (size_t i = 0; i < m->n; i++) {
        om_part *p = m->parts[i];
        if (om_check(p) != 0) {
            snprintf(err, errlen, "offset map of %s/%d is inconsistent (overlapping runs)",
                     p->src_topic, p->partition);
            return -1;
        }
        p->runs_dirty = p->nruns;
        p->gaps_dirty = p->ngaps;
        p->skips_dirty = p->nskips;
        p->end_dirty = 0;
    }
    if (from == lo || kf_log_debug_enabled("map")) /* updates are frequent: debug only */
        kf_log(from == lo ? KF_LOG_INFO : KF_LOG_DEBUG, "map",
               "loaded offset map from %s: %zu partition(s), %lld record(s) [%lld..%lld)", topic,
               m->n, (long long)(hi - from), (long long)from, (long long)hi);
    return 0;
}

static int produce_kv_opaque(rd_kafka_t *prod, rd_kafka_topic_t *rkt, const char *k, int kl,
                             const char *v, int vl, void *opaque) {
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            prod, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(0),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(k, (size_t)kl),
            RD_KAFKA_V_VALUE((void *)v, (size_t)vl), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(prod, 10);
            continue;
        }
        if (e) {
            kf_err("map", "cannot queue map record: %s", rd_kafka_err2str(e));
            return -1;
        }
        return 0;
    }
}

static int produce_kv(rd_kafka_t *prod, rd_kafka_topic_t *rkt, const char *k, int kl, const char *v,
                      int vl) {
    return produce_kv_opaque(prod, rkt, k, kl, v, vl, &mapstore_opaque);
}

int mapstore_persist(rd_kafka_t *prod, rd_kafka_topic_t *rkt, offmap *m) {
    int count = 0;
    char k[1024], v[128];
    for (size_t i = 0; i < m->n; i++) {
        om_part *p = m->parts[i];
        for (size_t r = p->runs_dirty; r < p->nruns; r++) {
            int kl = om_key_run(k, sizeof(k), p, &p->runs[r]);
            int vl = om_val_run(v, sizeof(v), &p->runs[r]);
            if (kl < 0 || vl < 0 || produce_kv(prod, rkt, k, kl, v, vl))
                return -1;
            count++;
        }
        p->runs_dirty = p->nruns;
        for (size_t g = p->gaps_dirty; g < p->ngaps; g++) {
            int kl = om_key_gap(k, sizeof(k), p, &p->gaps[g]);
            int vl = om_val_gap(v, sizeof(v), &p->gaps[g]);
            if (kl < 0 || vl < 0 || produce_kv(prod, rkt, k, kl, v, vl))
                return -1;
            count++;
        }
        p->gaps_dirty = p->ngaps;
        for (size_t s = p->skips_dirty; s < p->nskips; s++) {
            int kl = om_key_skip(k, sizeof(k), p, &p->skips[s]);
            int vl = om_val_skip(v, sizeof(v), &p->skips[s]);
            if (kl < 0 || vl < 0 || produce_kv(prod, rkt, k, kl, v, vl))
                return -1;
            count++;
        }
        p->skips_dirty = p->nskips;
        if (p->end_dirty) {
            int kl = om_key_end(k, sizeof(k), p);
            int vl = snprintf(v, sizeof(v), "%lld", (long long)p->src_end);
            if (kl < 0 || vl < 0 || (size_t)vl >= sizeof(v) || produce_kv(prod, rkt, k, kl, v, vl))
                return -1;
            count++;
            p->end_dirty = 0;
        }
    }
    return count;
}

int mapstore_put_baseline(rd_kafka_t *prod, rd_kafka_topic_t *rkt, const om_part *p) {
    char k[1024], v[32];
    int kl = om_key_baseline(k, sizeof(k), p);
    int vl = snprintf(v, sizeof(v), "%lld", (long long)p->baseline);
    if (kl < 0 || vl < 0 || (size_t)vl >= sizeof(v))
        return -1;
    return produce_kv_opaque(prod, rkt, k, kl, v, vl, &mapstore_baseline_opaque);
}

int mapstore_put_status(rd_kafka_t *prod, rd_kafka_topic_t *rkt, const char *flow,
                        const char *json) {
    char k[300];
    int kl = snprintf(k, sizeof(k), "S %s", flow);
    return produce_kv(prod, rkt, k, kl, json, (int)strlen(json));
}
