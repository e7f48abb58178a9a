/*
 * plan_estimate.c - the migration estimate of `kferry plan`: per selected
 * topic and in total, the records and bytes the mirror still has to copy,
 * the time it needs at a given or measured rate, and the topics whose
 * retention would delete records before the mirror reaches them.
 *
 * The model (docs/PLAN.md, "Migration estimate"):
 *   - backlog: from the offset map's source position (the log start if the
 *     flow never ran) to the high watermark; bytes are key + value bytes as
 *     sent by producers (uncompressed), the unit of the mirror's own
 *     kferry_mirror_bytes_total, from a sample read of each partition;
 *   - incoming: records produced over the last minute (ListOffsets by
 *     timestamp), which the mirror must copy too while it catches up;
 *   - catch-up time T = total backlog / (rate - total incoming); the
 *     mirror copies every partition at once, so every topic is done at
 *     about T;
 *   - a partition's retention R is retention.ms, or, when retention.bytes
 *     is set, the time its producers take to write that much, whichever is
 *     shorter.  With records spread evenly in time, the deletion front
 *     overtakes the mirror's position exactly when T > R, whatever the age
 *     of the oldest record, so that is the test: at risk when T > R, tight
 *     when T > R/2.
 * Nothing is written; the sample read and the rate measurement only read
 * the source (a consumer without a group).
 */
#include "common/util.h"
#include "migrate/inventory.h"
#include "migrate/plan.h"
#include "mirror/clients.h"
#include "mirror/offmap.h"
#include "mirror/reader.h"
#include "mirror/topics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INCOMING_WINDOW_MS 60000 /* incoming rate: records of the last minute */
#define SAMPLE_RECORDS 500       /* per partition when the rate is given */

typedef struct epart {
    const char *topic;
    char tgt[256];
    int32_t partition;
    int64_t lo, hi, start;    /* start: first record the mirror still copies */
    int64_t incoming;         /* records produced in the incoming window */
    int64_t first_ts;         /* timestamp of the record at start (-1 unknown) */
    int64_t nsample, bsample; /* records and key+value bytes read */
} epart;

typedef struct sample_ctx {
    int64_t stop_ms; /* measuring: end every partition at its next record past this */
    int64_t records, bytes;
} sample_ctx;

static int sample_cb(const rd_kafka_message_t *m, reader_spec *s, void *opaque) {
    sample_ctx *c = opaque;
    epart *e = s->opaque;
    if (e->first_ts < 0)
        e->first_ts = rd_kafka_message_timestamp(m, NULL);
    e->nsample++;
    e->bsample += (int64_t)m->len + (int64_t)m->key_len;
    c->records++;
    c->bytes += (int64_t)m->len + (int64_t)m->key_len;
    if (c->stop_ms && kf_now_ms() >= c->stop_ms)
        s->end = m->offset + 1; /* time is up: this partition is done */
    return 0;
}

static json_int_t jint(const json_t *o, const char *k, json_int_t dflt) {
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? json_integer_value(v) : dflt;
}

/* "1.5 GB", "980 kB" (decimal units, as rates are usually given) */
static void human_bytes(double b, char *out, size_t len) {
    static const char *unit[] = {"B", "kB", "MB", "GB", "TB", "PB"};
    int u = 0;
    while (b >= 1000 && u < 5) {
        b /= 1000;
        u++;
    }
    snprintf(out, len, u ? "%.1f %s" : "%.0f %s", b, unit[u]);
}

void plan_duration(double s, char *out, size_t len) {
    if (!(s >= 0) || isinf(s))
        snprintf(out, len, "never");
    else if (s < 60)
        snprintf(out, len, "%.0f s", s);
    else if (s < 3600)
        snprintf(out, len, "%.0f min %.0f s", floor(s / 60), fmod(s, 60));
    else if (s < 86400)
        snprintf(out, len, "%.0f h %.0f min", floor(s / 3600), floor(fmod(s, 3600) / 60));
    else
        snprintf(out, len, "%.0f d %.0f h", floor(s / 86400), floor(fmod(s, 86400) / 3600));
}

/* Records produced since now - window, per partition (ListOffsets by
 * timestamp, one request per broker). */
static void incoming(rd_kafka_t *rk, epart *ps, size_t n, int timeout_ms) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    int64_t since = kf_wall_ms() - INCOMING_WINDOW_MS;
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, ps[i].topic, ps[i].partition)->offset = since;
    if (rd_kafka_offsets_for_times(rk, l, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int k = 0; k < l->cnt; k++) {
            const rd_kafka_topic_partition_t *tp = &l->elems[k];
            /* the list keeps the order it was built in */
            epart *e = &ps[k];
            if (tp->err || strcmp(tp->topic, e->topic) || tp->partition != e->partition)
                continue;
            /* -1: no record at or after `since` */
            int64_t from = tp->offset >= 0 ? tp->offset : e->hi;
            e->incoming = e->hi > from ? e->hi - from : 0;
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
}

typedef struct etopic {
    const char *name;
    json_t *entry;
    int64_t records, incoming, nsample, bsample, oldest_ts;
    double bytes, incoming_bps, retention_s; /* retention_s < 0: none */
    const char *retention_by;
} etopic;

void plan_estimate(plan_ctx *p, const offmap *m) {
    json_t *est = json_object();
    json_object_set_new(p->doc, "estimate", est);
    json_t *entries = json_object_get(p->doc, "topics");
    size_t nparts = 0, ntopics = 0, i;
    json_t *e;
    json_array_foreach(entries, i, e) {
        if (json_is_true(json_object_get(e, "selected")) &&
            json_is_string(json_object_get(e, "target"))) {
            nparts += (size_t)jint(e, "partitions", 0);
            ntopics++;
        }
    }
    epart *ps = calloc(nparts + 1, sizeof(*ps));
    etopic *ts = calloc(ntopics + 1, sizeof(*ts));
    const char **names = calloc(nparts + 1, sizeof(*names));
    int32_t *pnums = calloc(nparts + 1, sizeof(*pnums));
    int64_t *lo = calloc(nparts + 1, sizeof(*lo)), *hi = calloc(nparts + 1, sizeof(*hi));
    reader_spec *specs = calloc(nparts + 1, sizeof(*specs));
    rd_kafka_t *rd = NULL;
    if (!ps || !ts || !names || !pnums || !lo || !hi || !specs) {
        json_object_set_new(est, "error", json_string("out of memory"));
        goto out;
    }
    size_t np = 0, nt = 0;
    json_array_foreach(entries, i, e) {
        const char *tgt = json_string_value(json_object_get(e, "target"));
        if (!json_is_true(json_object_get(e, "selected")) || !tgt)
            continue;
        etopic *t = &ts[nt++];
        t->name = json_string_value(json_object_get(e, "source"));
        t->entry = e;
        t->oldest_ts = -1;
        for (int k = 0; k < (int)jint(e, "partitions", 0); k++) {
            epart *x = &ps[np++];
            x->topic = t->name;
            snprintf(x->tgt, sizeof(x->tgt), "%s", tgt);
            x->partition = k;
            x->first_ts = -1;
            names[np - 1] = x->topic;
            pnums[np - 1] = k;
        }
    }
    topics_offsets(p->src, names, pnums, np, -2, lo);
    topics_offsets(p->src, names, pnums, np, -1, hi);
    size_t nspecs = 0, unknown = 0;
    for (size_t k = 0; k < np; k++) {
        epart *x = &ps[k];
        x->lo = lo[k];
        x->hi = hi[k];
        if (x->lo < 0 || x->hi < 0) {
            unknown++;
            continue;
        }
        om_part *mp = offmap_get((offmap *)m, x->topic, x->tgt, x->partition, 0);
        int64_t next = mp ? om_src_next(mp) : -1;
        x->start = next > x->lo ? next : x->lo;
        if (x->start > x->hi)
            x->start = x->hi;
    }
    incoming(p->src, ps, np, p->timeout_ms);

    /* the sample read, which measures the read rate when no rate is given */
    int measure = !(p->rate_bps > 0) && p->measure_s > 0;
    sample_ctx sc = {0, 0, 0};
    for (size_t k = 0; k < np; k++) {
        epart *x = &ps[k];
        if (x->lo < 0 || x->hi < 0 || x->start >= x->hi)
            continue;
        int64_t end = x->hi;
        if (!measure && end - x->start > SAMPLE_RECORDS)
            end = x->start + SAMPLE_RECORDS;
        specs[nspecs++] = (reader_spec){.topic = x->topic,
                                        .partition = x->partition,
                                        .start = x->start,
                                        .end = end,
                                        .opaque = x};
    }
    double rate = p->rate_bps;
    const char *rate_source = rate > 0 ? "given" : "none";
    char rate_note[768] = "";
    if (rate > 0)
        snprintf(rate_note, sizeof(rate_note), "given with --rate");
    if (nspecs) {
        rd = clients_consumer(p->cfg, &p->cfg->src, "plan-estimate", 1);
        char err[512] = "";
        int64_t t0 = kf_now_ms();
        if (measure)
            sc.stop_ms = t0 + (int64_t)p->measure_s * 1000;
        int rc =
            rd ? reader_run(rd, specs, nspecs, sample_cb, &sc,
                            (measure ? p->measure_s * 1000 : 0) + p->timeout_ms, err, sizeof(err))
               : -1;
        double el = (double)(kf_now_ms() - t0) / 1000.0;
        if (rc && !sc.records && !(rate > 0))
            snprintf(rate_note, sizeof(rate_note), "sample read failed: %s",
                     rd ? err : "no consumer");
        if (measure && sc.records) {
            rate = (double)sc.bytes / (el > 0.001 ? el : 0.001);
            rate_source = "measured";
            snprintf(rate_note, sizeof(rate_note),
                     "read rate of the source measured by plan over %.1f s (%lld records); the "
                     "mirror is usually slower than a plain read (bench/README.md)",
                     el, (long long)sc.records);
        }
    }
    if (!(rate > 0) && !rate_note[0])
        snprintf(rate_note, sizeof(rate_note), "%s",
                 nspecs ? "no rate: give --rate or --measure-seconds"
                        : "nothing to copy: no rate needed");

    /* per topic */
    double tot_bytes = 0, tot_in_bps = 0;
    int64_t tot_records = 0, all_n = 0, all_b = 0;
    for (size_t k = 0; k < np; k++) {
        all_n += ps[k].nsample;
        all_b += ps[k].bsample;
    }
    double all_avg = all_n ? (double)all_b / (double)all_n : 0;
    size_t pk = 0;
    for (size_t k = 0; k < nt; k++) {
        etopic *t = &ts[k];
        int n = (int)jint(t->entry, "partitions", 0);
        for (int q = 0; q < n; q++, pk++) {
            t->nsample += ps[pk].nsample;
            t->bsample += ps[pk].bsample;
        }
    }
    pk = 0;
    for (size_t k = 0; k < nt; k++) {
        etopic *t = &ts[k];
        int n = (int)jint(t->entry, "partitions", 0);
        double tavg = t->nsample ? (double)t->bsample / (double)t->nsample : all_avg;
        json_t *inv = inv_topic(p->src_inv, t->name);
        json_int_t rms = jint(inv, "retention_ms", -2), rbytes = jint(inv, "retention_bytes", -2);
        const char *policy = json_string_value(json_object_get(inv, "cleanup_policy"));
        int deletes = !policy || strstr(policy, "delete");
        t->retention_s = -1;
        t->retention_by = "none";
        if (deletes && rms >= 0) {
            t->retention_s = (double)rms / 1000.0;
            t->retention_by = "retention.ms";
        }
        for (int q = 0; q < n; q++, pk++) {
            epart *x = &ps[pk];
            if (x->lo < 0 || x->hi < 0)
                continue;
            double avg = x->nsample ? (double)x->bsample / (double)x->nsample : tavg;
            int64_t recs = x->hi - x->start;
            t->records += recs;
            t->bytes += avg * (double)recs;
            t->incoming += x->incoming;
            double in_bps = avg * (double)x->incoming / (INCOMING_WINDOW_MS / 1000.0);
            t->incoming_bps += in_bps;
            if (x->first_ts > 0 && (t->oldest_ts < 0 || x->first_ts < t->oldest_ts))
                t->oldest_ts = x->first_ts;
            /* size-limited retention: the time producers take to fill it */
            if (deletes && rbytes > 0 && in_bps > 0) {
                double rs = (double)rbytes / in_bps;
                if (t->retention_s < 0 || rs < t->retention_s) {
                    t->retention_s = rs;
                    t->retention_by = "retention.bytes";
                }
            }
        }
        tot_records += t->records;
        tot_bytes += t->bytes;
        tot_in_bps += t->incoming_bps;
    }
    double T = tot_records == 0 ? 0
               : rate > 0       ? (rate > tot_in_bps ? tot_bytes / (rate - tot_in_bps) : INFINITY)
                                : NAN;
    char b1[64], b2[64], b3[64], tb[64];
    human_bytes(tot_bytes, tb, sizeof(tb));
    json_t *jt = json_array();
    size_t at_risk = 0, tight = 0;
    int64_t now = kf_wall_ms();
    for (size_t k = 0; k < nt; k++) {
        etopic *t = &ts[k];
        double alone =
            t->records == 0 ? 0
            : rate > 0 ? (rate > t->incoming_bps ? t->bytes / (rate - t->incoming_bps) : INFINITY)
                       : NAN;
        const char *risk = "none";
        if (t->records == 0)
            risk = "none";
        else if (t->retention_s < 0)
            risk = "none";
        else if (isnan(T))
            risk = "unknown";
        else if (T > t->retention_s)
            risk = "at_risk";
        else if (T > t->retention_s / 2)
            risk = "tight";
        json_t *o = json_pack(
            "{s:s,s:I,s:I,s:I,s:I,s:I,s:o,s:o,s:s,s:o,s:o,s:s}", "topic", t->name, "partitions",
            jint(t->entry, "partitions", 0), "records", (json_int_t)t->records,
            "incoming_records_per_min", (json_int_t)t->incoming, "bytes_approx",
            (json_int_t)t->bytes, "incoming_bytes_per_s", (json_int_t)t->incoming_bps,
            "avg_record_bytes",
            t->nsample ? json_integer((json_int_t)floor((double)t->bsample / (double)t->nsample))
                       : json_null(),
            "oldest_unmirrored_age_s",
            t->oldest_ts > 0
                ? json_integer((json_int_t)floor((double)(now - t->oldest_ts) / 1000.0))
                : json_null(),
            "retention_by", t->retention_by, "retention_s",
            t->retention_s >= 0 ? json_integer((json_int_t)floor(t->retention_s)) : json_null(),
            "catch_up_alone_s",
            isnan(alone)   ? json_null()
            : isinf(alone) ? json_string("never")
                           : json_integer((json_int_t)ceil(alone)),
            "retention_risk", risk);
        json_array_append_new(jt, o);
        if (!strcmp(risk, "at_risk")) {
            char b4[64];
            at_risk++;
            plan_duration(T, b2, sizeof(b2));
            plan_duration(t->retention_s, b3, sizeof(b3));
            human_bytes(rate, b4, sizeof(b4));
            if (isinf(T))
                plan_check(p, "retention_risk", "blocker", p->cfg->src.alias, "topic", t->name,
                           "%s: the source would delete records before the mirror reaches them: "
                           "its producers outpace the rate (%s/s), so the mirror never catches "
                           "up, and %s keeps records for %s (%s)",
                           t->name, b4, p->cfg->src.alias, b3, t->retention_by);
            else
                plan_check(p, "retention_risk", "blocker", p->cfg->src.alias, "topic", t->name,
                           "%s: the source would delete records before the mirror reaches them: "
                           "catching up takes about %s (all topics' %s at %s/s) but %s keeps "
                           "records for %s (%s); raise the topic's retention on the source "
                           "first, or make the mirror faster",
                           t->name, b2, tb, b4, p->cfg->src.alias, b3, t->retention_by);
        } else if (!strcmp(risk, "tight")) {
            tight++;
            plan_duration(T, b2, sizeof(b2));
            plan_duration(t->retention_s, b3, sizeof(b3));
            plan_check(p, "retention_risk", "warning", p->cfg->src.alias, "topic", t->name,
                       "%s: catching up takes %s, more than half of the %s the source keeps "
                       "(%s): little headroom if the mirror is slower than estimated",
                       t->name, b2, b3, t->retention_by);
        }
    }
    json_object_set_new(est, "topics", jt);
    json_object_set_new(est, "total",
                        json_pack("{s:I,s:I,s:I,s:o,s:I,s:I}", "records", (json_int_t)tot_records,
                                  "bytes_approx", (json_int_t)tot_bytes, "incoming_bytes_per_s",
                                  (json_int_t)tot_in_bps, "catch_up_s",
                                  isnan(T)   ? json_null()
                                  : isinf(T) ? json_string("never")
                                             : json_integer((json_int_t)ceil(T)),
                                  "topics_at_risk", (json_int_t)at_risk, "topics_tight",
                                  (json_int_t)tight));
    json_object_set_new(est, "rate_bytes_per_s",
                        rate > 0 ? json_integer((json_int_t)floor(rate)) : json_null());
    json_object_set_new(est, "rate_source", json_string(rate_source));
    json_object_set_new(est, "rate_note", json_string(rate_note));
    json_object_set_new(est, "partitions_unknown", json_integer((json_int_t)unknown));
    json_object_set_new(est, "incoming_window_s", json_integer(INCOMING_WINDOW_MS / 1000));
    human_bytes(tot_bytes, b1, sizeof(b1));
    if (isinf(T)) {
        human_bytes(tot_in_bps, b2, sizeof(b2));
        human_bytes(rate, b3, sizeof(b3));
        plan_check(p, "catch_up", "blocker", p->cfg->src.alias, "cluster", p->cfg->src.alias,
                   "the mirror would never catch up: producers write %s/s, the rate is %s/s (%s)",
                   b2, b3, rate_source);
    } else if (!isnan(T)) {
        plan_duration(T, b2, sizeof(b2));
        human_bytes(rate, b3, sizeof(b3));
        plan_check(p, "catch_up", "ok", p->cfg->src.alias, "cluster", p->cfg->src.alias,
                   "%lld record(s), about %s to copy: catching up takes about %s at %s/s (%s)",
                   (long long)tot_records, b1, b2, b3, rate_source);
    } else {
        plan_check(p, "catch_up", "warning", p->cfg->src.alias, "cluster", p->cfg->src.alias,
                   "%lld record(s), about %s to copy; catch-up time unknown: %s",
                   (long long)tot_records, b1, rate_note);
    }
out:
    if (rd)
        rd_kafka_destroy(rd);
    free(ps);
    free(ts);
    free(names);
    free(pnums);
    free(lo);
    free(hi);
    free(specs);
}
