/*
 * status.c - `kferry status` (see status.h).
 *
 * mirrored = map's source end + records on the target past the map's
 * target end (written but not yet mapped); exact unless the source has
 * holes in that short stretch.  Byte lag and ETA use the running mirror's
 * last status record (average record size, throughput); lag seconds come
 * from the timestamp of the first unmirrored source record.
 */
#include "mirror/status.h"
#include "mirror/retry.h"

#include "common/log.h"
#include "common/util.h"
#include "mirror/clients.h"
#include "mirror/flowlock.h"
#include "mirror/inverse.h"
#include "mirror/mapstore.h"
#include "mirror/offmap.h"
#include "mirror/reader.h"
#include "mirror/topics.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct prow {
    const char *topic;
    char tgt[256];
    int32_t partition;
    int64_t src_lo, src_hi, mirrored, lag, gap, first_unmirrored_ts, skipped;
    int ok;
} prow;

/* a number of the status record, 0 when absent */
static double json_num(const json_t *st, const char *field) {
    return json_number_value(json_object_get(st, field));
}

/* x rounded to the nearest integer (what "%.0f" printed) */
static json_int_t round0(double x) {
    if (!(x > -9e18 && x < 9e18))
        return x > 0 ? (json_int_t)9e18 : x < 0 ? -(json_int_t)9e18 : 0;
    return (json_int_t)(x < 0 ? x - 0.5 : x + 0.5);
}

/* x rounded to one decimal (what "%.1f" printed) */
static double round1(double x) {
    if (!(x > -1e15 && x < 1e15))
        return x == x ? x : 0;
    return (double)round0(x * 10) / 10;
}

static int ts_cb(const rd_kafka_message_t *msg, reader_spec *s, void *ctx) {
    prow *r = s->opaque;
    if (r->first_unmirrored_ts < 0)
        r->first_unmirrored_ts = rd_kafka_message_timestamp(msg, NULL);
    s->end = msg->offset; /* one record is enough */
    return 0;
}

int status_run(mirror_config *c, int json) {
    int rc = 1;
    rd_kafka_t *src = clients_reader(c, &c->src, "status", 1);
    rd_kafka_t *tgt = clients_consumer(c, &c->tgt, "status", 1);
    offmap m;
    offmap_init(&m);
    inv_map inv;
    inv_init(&inv);
    topic_list tl = {0};
    prow *rows = NULL;
    reader_spec *specs = NULL;
    size_t nrows = 0, nspecs = 0;
    char err[512], st[1024] = "";
    if (!src || !tgt)
        goto out;
    int found = 0;
    if (mapstore_load(tgt, c->map_topic, &m, &found, st, sizeof(st), err, sizeof(err))) {
        kf_err("status", "cannot load the offset map: %s", err);
        goto out;
    }
    /* the opposite flow's map: its records on the target are not lag */
    if (inv_load(c, src, &inv, err, sizeof(err)))
        kf_warn("status",
                "opposite flow's map unreadable (%s): unmapped target records are "
                "all counted as mirrored",
                err);
    if (topics_list(src, &tl, 15000)) {
        kf_err("status", "cannot list topics of %s", c->src.alias);
        goto out;
    }
    size_t cap = 0;
    for (size_t i = 0; i < tl.n; i++) {
        const char *why;
        if (mc_topic_selected(c, tl.t[i].name, &why))
            cap += (size_t)tl.t[i].partitions;
    }
    rows = calloc(cap + 1, sizeof(*rows));
    specs = calloc(cap + 1, sizeof(*specs));
    if (!rows || !specs)
        goto out;
    for (size_t i = 0; i < tl.n; i++) {
        const char *why;
        if (!mc_topic_selected(c, tl.t[i].name, &why))
            continue;
        for (int k = 0; k < tl.t[i].partitions; k++) {
            prow *r = &rows[nrows++];
            r->topic = tl.t[i].name;
            r->partition = k;
            r->first_unmirrored_ts = -1;
            mc_target_topic(c, r->topic, r->tgt, sizeof(r->tgt));
        }
    }
    /* all watermarks in four batched rounds instead of two calls per partition */
    int64_t *wm[4];
    const char **names = calloc(nrows + 1, sizeof(*names));
    int32_t *pnums = calloc(nrows + 1, sizeof(*pnums));
    for (int k = 0; k < 4; k++)
        wm[k] = calloc(nrows + 1, sizeof(int64_t));
    if (!names || !pnums || !wm[0] || !wm[1] || !wm[2] || !wm[3]) {
        nrows = 0;
    }
    for (int k = 0; k < 4 && nrows; k++) {
        for (size_t i = 0; i < nrows; i++) {
            names[i] = k < 2 ? rows[i].topic : rows[i].tgt;
            pnums[i] = rows[i].partition;
        }
        topics_offsets(k < 2 ? src : tgt, names, pnums, nrows, k % 2 ? -1 : -2, wm[k]);
    }
    for (size_t i = 0; i < nrows; i++) {
        prow *r = &rows[i];
        int32_t k = r->partition;
        r->src_lo = wm[0][i];
        r->src_hi = wm[1][i];
        if ((r->src_lo < 0 || r->src_hi < 0) &&
            retry_watermarks(src, r->topic, k, &r->src_lo, &r->src_hi, 10000))
            continue;
        om_part *p = offmap_get(&m, r->topic, r->tgt, k, 0);
        int64_t snext = p ? om_src_next(p) : -1, tnext = p ? om_tgt_write_pos(p) : -1;
        int64_t tlo = wm[2][i], thi = wm[3][i];
        int64_t tail = 0;
        if ((tlo >= 0 && thi >= 0) || !retry_watermarks(tgt, r->tgt, k, &tlo, &thi, 10000)) {
            int64_t from = tnext >= 0 ? tnext : tlo;
            inv_range *fr = NULL;
            size_t nfr = 0;
            tail = thi - from;
            if (inv_foreign_ranges(&inv, r->tgt, k, &fr, &nfr) == 0)
                tail -= inv_count_in(fr, nfr, from, thi);
            free(fr);
        }
        for (size_t s = 0; p && s < p->nskips; s++)
            r->skipped += p->skips[s].end - p->skips[s].start;
        if (snext < 0)
            snext = r->src_lo;
        r->mirrored = snext + (tail > 0 ? tail : 0);
        if (r->mirrored > r->src_hi)
            r->mirrored = r->src_hi;
        /* records deleted by the source before they were mirrored are a gap,
         * not lag: they can never be mirrored */
        r->gap = r->mirrored < r->src_lo ? r->src_lo - r->mirrored : 0;
        r->lag = r->src_hi - (r->gap ? r->src_lo : r->mirrored);
        r->ok = 1;
        if (r->lag > 0 && !r->gap)
            specs[nspecs++] = (reader_spec){.topic = r->topic,
                                            .partition = k,
                                            .start = r->mirrored,
                                            .end = r->src_hi,
                                            .opaque = r};
    }
    free(names);
    free(pnums);
    for (int k = 0; k < 4; k++)
        free(wm[k]);
    if (nspecs && reader_run(src, specs, nspecs, ts_cb, NULL, 30000, err, sizeof(err)))
        kf_warn("status", "lag seconds unavailable: %s", err);

    /* the status record as the mirror wrote it (null if none or unreadable) */
    json_t *stj = st[0] ? json_loads(st, 0, NULL) : NULL;
    double rps = json_num(stj, "records_per_s"), avg = json_num(stj, "avg_record_bytes");
    double updated = json_num(stj, "updated_ms");
    int64_t now = kf_wall_ms(), total = 0, gaps = 0;
    for (size_t i = 0; i < nrows; i++) {
        total += rows[i].ok ? rows[i].lag : 0;
        gaps += rows[i].ok ? rows[i].gap : 0;
    }
    /* who holds the flow (read-only: DescribeConsumerGroups on the lock group) */
    fl_view lv;
    char lerr[512] = "";
    int lock_ok = fl_describe(tgt, c, &lv, lerr, sizeof(lerr)) == 0;
    json_t *parts = NULL;
    if (json) {
        parts = json_array();
    } else {
        printf("flow %s->%s; mirror %s", c->src.alias, c->tgt.alias,
               st[0] ? (json_is_true(json_object_get(stj, "running")) ? "running" : "stopped")
                     : "never ran");
        if (st[0])
            printf(" (last report %.0fs ago, %.0f records/s)", (double)(now - updated) / 1000.0,
                   rps);
        if (!lock_ok)
            printf("\nflow lock (group %s): unknown (%s)", c->lock_group, lerr);
        else if (lv.found)
            printf("\nflow lock (group %s): held by %s (host %s)%s%s", c->lock_group, lv.holder,
                   lv.host, lv.standbys[0] ? "; standby: " : "", lv.standbys);
        else
            printf("\nflow lock (group %s): no holder (%s, %d member(s))", c->lock_group, lv.state,
                   lv.members);
        printf("\n%-32s %5s %12s %12s %12s %10s %12s %8s %8s\n", "TOPIC", "PART", "SRC_START",
               "SRC_END", "MIRRORED", "LAG", "LAG_BYTES~", "LAG_S", "ETA_S~");
    }
    for (size_t i = 0; i < nrows; i++) {
        prow *r = &rows[i];
        double lag_bytes = avg * (double)r->lag;
        double lag_s = r->lag > 0 && r->first_unmirrored_ts > 0
                           ? (double)(now - r->first_unmirrored_ts) / 1e3
                           : 0;
        double eta = rps > 0 ? (double)r->lag / rps : (r->lag ? -1 : 0);
        if (json)
            json_array_append_new(
                parts,
                json_pack("{s:s,s:s,s:i,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:I}", "topic",
                          r->topic, "target_topic", r->tgt, "partition", (int)r->partition, "ok",
                          r->ok, "source_start", (json_int_t)r->src_lo, "source_end",
                          (json_int_t)r->src_hi, "mirrored", (json_int_t)r->mirrored, "lag_records",
                          (json_int_t)r->lag, "gap_records", (json_int_t)r->gap, "loop_skipped",
                          (json_int_t)r->skipped, "lag_bytes_approx", round0(lag_bytes),
                          "lag_seconds", round1(lag_s), "eta_seconds_approx", round0(eta)));
        else if (r->ok)
            printf("%-32s %5d %12lld %12lld %12lld %10lld %12.0f %8.1f %8.0f\n", r->topic,
                   r->partition, (long long)r->src_lo, (long long)r->src_hi, (long long)r->mirrored,
                   (long long)r->lag, lag_bytes, lag_s, eta);
        else
            printf("%-32s %5d (source watermarks unavailable)\n", r->topic, r->partition);
        if (!json && r->ok && r->gap)
            printf("%-32s %5d GAP: source offsets [%lld, %lld) deleted before being mirrored\n",
                   r->topic, r->partition, (long long)r->mirrored, (long long)r->src_lo);
    }
    if (json) {
        json_t *o = json_object();
        json_object_set_new(o, "flow", json_sprintf("%s->%s", c->src.alias, c->tgt.alias));
        json_object_set_new(o, "map_topic", json_string(c->map_topic));
        json_object_set_new(o, "mirror", stj ? json_incref(stj) : json_null());
        json_object_set_new(o, "total_lag_records", json_integer(total));
        json_object_set_new(o, "gap_records", json_integer(gaps));
        json_object_set_new(o, "eta_seconds",
                            json_integer(rps > 0 ? round0((double)total / rps) : -1));
        json_t *lk = json_object();
        json_object_set_new(lk, "group", json_string(c->lock_group));
        json_object_set_new(lk, "topic", json_string(c->lock_topic));
        if (lock_ok) {
            json_object_set_new(lk, "state", json_string(lv.state));
            json_object_set_new(
                lk, "holder",
                lv.found ? json_pack("{s:s,s:s}", "client_id", lv.holder, "host", lv.host)
                         : json_null());
            json_t *sb = json_array();
            char tmp[sizeof(lv.standbys)];
            snprintf(tmp, sizeof(tmp), "%s", lv.standbys);
            char *save = NULL;
            for (char *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save))
                json_array_append_new(sb, json_string(t));
            json_object_set_new(lk, "standbys", sb);
        } else {
            json_object_set_new(lk, "error", json_string(lerr));
        }
        json_object_set_new(o, "lock", lk);
        json_object_set_new(o, "partitions", parts);
        char *txt = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15));
        printf("%s\n", txt ? txt : "{}");
        free(txt);
        json_decref(o);
    } else {
        printf("total lag: %lld records%s\n", (long long)total,
               gaps ? " (and a retention gap: see GAP lines)" : "");
    }
    json_decref(stj);
    rc = 0;
out:
    free(rows);
    free(specs);
    topics_list_free(&tl);
    offmap_free(&m);
    inv_free(&inv);
    if (src)
        rd_kafka_destroy(src);
    if (tgt)
        rd_kafka_destroy(tgt);
    return rc;
}
