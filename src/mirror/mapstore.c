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

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char mapstore_opaque;
char mapstore_baseline_opaque;

/* The status records read: one per unit of the flow (key "S <flow>" for
 * one unit, "S <flow>#<unit>" with kferry.workers > 1), the last of each. */
typedef struct load_ctx {
    offmap *m;
    char *status;
    size_t statuslen;
    long bad;
    char *unit_status[257]; /* [0]: no unit suffix; [1 + u]: unit u */
    int nunits;
} load_ctx;

static void keep_status(load_ctx *lc, const rd_kafka_message_t *msg) {
    const char *k = msg->key;
    int slot = 0;
    const char *hash = memchr(k, '#', msg->key_len);
    if (hash) {
        long u = 0;
        const char *d = hash + 1, *end = k + msg->key_len;
        for (; d < end && *d >= '0' && *d <= '9' && u < 1000; d++)
            u = u * 10 + (*d - '0');
        if (d != end || d == hash + 1 || u > 255)
            return; /* not a key kferry writes */
        slot = 1 + (int)u;
    }
    char *v = malloc(msg->len + 1);
    if (!v)
        return;
    memcpy(v, msg->payload, msg->len);
    v[msg->len] = 0;
    if (!lc->unit_status[slot])
        lc->nunits++;
    free(lc->unit_status[slot]);
    lc->unit_status[slot] = v;
}

/* One status record for readers (`kferry status`, loop prevention, the
 * next holder): with several units, running if any unit runs, clean only
 * if every unit stopped cleanly, and each unit's record under "units". */
static void merge_status(load_ctx *lc) {
    const char *only = NULL;
    for (int i = 0; i < 257 && lc->nunits == 1; i++)
        if (lc->unit_status[i])
            only = lc->unit_status[i];
    if (only) {
        snprintf(lc->status, lc->statuslen, "%s", only);
        return;
    }
    static const char *const sums[] = {
        "records_per_s", "recent_records_per_s", "bytes_per_s", "records_total",
        "gaps",          "gap_records",          "loop_skipped"};
    double sum[7] = {0};
    json_int_t updated = 0;
    json_t *units = json_array(), *first = NULL;
    int running = 0, clean = 1;
    for (int i = 0; i < 257; i++) {
        json_t *o = lc->unit_status[i] ? json_loads(lc->unit_status[i], 0, NULL) : NULL;
        if (!o)
            continue;
        running |= json_is_true(json_object_get(o, "running"));
        clean &= json_is_true(json_object_get(o, "clean"));
        if (i > 0 && !json_object_get(o, "unit"))
            json_object_set_new(o, "unit", json_integer(i - 1));
        if (!first)
            first = json_deep_copy(o);
        int unit_running = json_is_true(json_object_get(o, "running"));
        for (int k = 0; k < 7; k++) /* rates of units that stopped are not current */
            if (unit_running || k >= 3)
                sum[k] += json_number_value(json_object_get(o, sums[k]));
        json_int_t up = json_integer_value(json_object_get(o, "updated_ms"));
        updated = up > updated ? up : updated;
        json_array_append_new(units, o);
    }
    json_t *doc = first ? first : json_object();
    json_object_set_new(doc, "running", json_boolean(running));
    json_object_set_new(doc, "clean", json_boolean(clean));
    json_object_del(doc, "unit");
    json_object_del(doc, "holder"); /* each unit names its own */
    for (int k = 0; k < 7; k++)
        json_object_set_new(doc, sums[k],
                            k < 3 ? json_real(sum[k]) : json_integer((json_int_t)sum[k]));
    json_object_set_new(doc, "updated_ms", json_integer(updated));
    json_object_set_new(doc, "units", units);
    char *text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));
    if (text && strlen(text) < lc->statuslen)
        snprintf(lc->status, lc->statuslen, "%s", text);
    else /* too long for the caller: the aggregate alone */
        snprintf(lc->status, lc->statuslen, "{\"running\":%s,\"clean\":%s}",
                 running ? "true" : "false", clean ? "true" : "false");
    free(text);
    json_decref(doc);
}

static int load_cb(const rd_kafka_message_t *msg, reader_spec *s, void *ctx) {
    load_ctx *lc = ctx;
    if (!msg->key)
        return 0;
    const char *k = msg->key;
    if (msg->key_len > 2 && k[0] == 'S' && k[1] == ' ') {
        if (lc->status && msg->payload)
            keep_status(lc, msg);
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
    load_ctx lc;
    memset(&lc, 0, sizeof(lc));
    lc.m = m;
    lc.status = status;
    lc.statuslen = statuslen;
    int rrc = reader_run(reader, &spec, 1, load_cb, &lc, 120000, err, errlen);
    if (rrc == 0 && lc.nunits && status && statuslen)
        merge_status(&lc);
    for (int i = 0; i < 257; i++)
        free(lc.unit_status[i]);
    if (rrc != 0)
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
