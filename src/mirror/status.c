/*
 * status.c - `kferry status` (see status.h).
 *
 * mirrored = map's source end + records on the target past the map's
 * target end (written but not yet mapped); exact unless the source has
 * holes in that short stretch.  Byte lag and ETA use the running mirror's
 * last status record (average record size, throughput); lag seconds come
 * from the timestamp of the first unmirrored source record; retention_ms
 * is the source topic's (one DescribeConfigs round), for the web view's
 * retention risk.  collect() gathers it all once; the JSON document
 * (status_document, also the web view's /api/status) and the text report
 * are both rendered from that.
 */
#include "mirror/status.h"
#include "mirror/retry.h"

#include "common/log.h"
#include "common/util.h"
#include "mirror/clients.h"
#include "mirror/flowlock.h"
#include "mirror/inverse.h"
#include "mirror/journal.h"
#include "mirror/mapstore.h"
#include "mirror/offmap.h"
#include "mirror/reader.h"
#include "mirror/topics.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct prow {
    const char *topic;
    char tgt[256];
    int32_t partition;
    int64_t src_lo, src_hi, mirrored, lag, gap, first_unmirrored_ts, skipped;
    int64_t retention_ms; /* the source topic's retention.ms (-1: no time limit) */
    int ok, have_retention;
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

/* retention.ms of every selected source topic, in one DescribeConfigs round
 * (rows come grouped by topic); rows of topics not answered keep
 * have_retention = 0 and show null */
static void load_retention(rd_kafka_t *src, prow *rows, size_t nrows) {
    const char **names = calloc(nrows + 1, sizeof(*names));
    int64_t *ms = calloc(nrows + 1, sizeof(*ms));
    size_t nt = 0;
    for (size_t i = 0; names && ms && i < nrows; i++)
        if (i == 0 || strcmp(rows[i].topic, rows[i - 1].topic) != 0)
            names[nt++] = rows[i].topic;
    if (nt)
        topics_retention(src, names, nt, ms, 10000);
    for (size_t i = 0, k = 0; nt && i < nrows; i++) {
        if (i > 0 && strcmp(rows[i].topic, rows[i - 1].topic) != 0)
            k++;
        if (ms[k] != INT64_MIN) {
            rows[i].retention_ms = ms[k];
            rows[i].have_retention = 1;
        }
    }
    free(names);
    free(ms);
}

/* Everything one status computation found (rows point into tl's names). */
typedef struct sdata {
    topic_list tl;
    offmap m;
    inv_map inv;
    prow *rows;
    size_t nrows;
    char st[65536]; /* the status record as stored ("" if none) */
    json_t *stj;    /* ... parsed (NULL if none or unreadable) */
    double rps, avg, updated;
    int64_t now, total, gaps;
    fl_view lv;
    int lock_ok;
    char lerr[512];
    json_t *cutover; /* the cutover journal, latest generation per group / gate */
} sdata;

static void sdata_free(sdata *d) {
    free(d->rows);
    topics_list_free(&d->tl);
    offmap_free(&d->m);
    inv_free(&d->inv);
    json_decref(d->stj);
    json_decref(d->cutover);
    memset(d, 0, sizeof(*d));
}

/* The cutover journal (journal.h) as the latest generation of every group
 * cutover ("group") and producer gate ("producers"), with its steps in the
 * order they were taken; {"readable": false, "error"} when unreadable. */
static json_t *load_cutover(mirror_config *c, rd_kafka_t *tgt) {
    journal j;
    char err[512];
    if (journal_open(&j, c, tgt, 0, 10000, err, sizeof(err))) {
        journal_close(&j);
        return json_pack("{s:b,s:s,s:[]}", "readable", 0, "error", err, "entries");
    }
    json_t *entries = json_array();
    for (size_t i = 0; i < j.n; i++) {
        const jr_entry *e = &j.v[i];
        if (journal_gen(&j, e->kind, e->name) != e->gen)
            continue; /* an older generation */
        const char *kind = e->kind == 'C' ? "group" : "producers";
        json_t *it = NULL;
        size_t k;
        json_t *x;
        json_array_foreach(entries, k, x) {
            if (!strcmp(json_string_value(json_object_get(x, "kind")), kind) &&
                !strcmp(json_string_value(json_object_get(x, "name")), e->name))
                it = x;
        }
        if (!it) {
            it =
                json_pack("{s:s,s:s,s:i,s:[],s:s,s:I}", "kind", kind, "name", e->name, "generation",
                          e->gen, "steps", "last_step", e->step, "last_ms", (json_int_t)e->ts_ms);
            json_array_append_new(entries, it);
        }
        json_array_append_new(json_object_get(it, "steps"),
                              json_pack("{s:s,s:I}", "step", e->step, "ms", (json_int_t)e->ts_ms));
        if (e->ts_ms >= json_integer_value(json_object_get(it, "last_ms"))) {
            json_object_set_new(it, "last_step", json_string(e->step));
            json_object_set_new(it, "last_ms", json_integer((json_int_t)e->ts_ms));
        }
    }
    size_t k;
    json_t *x;
    json_array_foreach(entries, k, x) {
        const char *last = json_string_value(json_object_get(x, "last_step"));
        int group = !strcmp(json_string_value(json_object_get(x, "kind")), "group");
        json_object_set_new(x, "done",
                            json_boolean(!strcmp(last, group ? "verified" : "source-mirrored")));
    }
    journal_close(&j);
    return json_pack("{s:b,s:n,s:o}", "readable", 1, "error", "entries", entries);
}

/* Reads both clusters (read-only).  0, or -1 (logged; d freed). */
static int collect(mirror_config *c, rd_kafka_t *src, rd_kafka_t *tgt, sdata *d) {
    memset(d, 0, sizeof(*d));
    offmap_init(&d->m);
    inv_init(&d->inv);
    reader_spec *specs = NULL;
    size_t nspecs = 0;
    char err[512];
    int found = 0;
    if (mapstore_load(tgt, c->map_topic, &d->m, &found, d->st, sizeof(d->st), err, sizeof(err))) {
        kf_err("status", "cannot load the offset map: %s", err);
        goto fail;
    }
    /* the opposite flow's map: its records on the target are not lag */
    if (inv_load(c, src, &d->inv, err, sizeof(err)))
        kf_warn("status",
                "opposite flow's map unreadable (%s): unmapped target records are "
                "all counted as mirrored",
                err);
    if (topics_list(src, &d->tl, 15000)) {
        kf_err("status", "cannot list topics of %s", c->src.alias);
        goto fail;
    }
    topic_list *tl = &d->tl;
    size_t cap = 0;
    for (size_t i = 0; i < tl->n; i++) {
        const char *why;
        if (mc_topic_selected(c, tl->t[i].name, &why))
            cap += (size_t)tl->t[i].partitions;
    }
    d->rows = calloc(cap + 1, sizeof(*d->rows));
    specs = calloc(cap + 1, sizeof(*specs));
    if (!d->rows || !specs)
        goto fail;
    prow *rows = d->rows;
    size_t nrows = 0;
    for (size_t i = 0; i < tl->n; i++) {
        const char *why;
        if (!mc_topic_selected(c, tl->t[i].name, &why))
            continue;
        for (int k = 0; k < tl->t[i].partitions; k++) {
            prow *r = &rows[nrows++];
            r->topic = tl->t[i].name;
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
        om_part *p = offmap_get(&d->m, r->topic, r->tgt, k, 0);
        int64_t snext = p ? om_src_next(p) : -1, tnext = p ? om_tgt_write_pos(p) : -1;
        int64_t tlo = wm[2][i], thi = wm[3][i];
        int64_t tail = 0;
        if ((tlo >= 0 && thi >= 0) || !retry_watermarks(tgt, r->tgt, k, &tlo, &thi, 10000)) {
            int64_t from = tnext >= 0 ? tnext : tlo;
            inv_range *fr = NULL;
            size_t nfr = 0;
            tail = thi - from;
            if (inv_foreign_ranges(&d->inv, r->tgt, k, &fr, &nfr) == 0)
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
    d->nrows = nrows;
    d->stj = d->st[0] ? json_loads(d->st, 0, NULL) : NULL;
    json_t *stj = d->stj;
    /* the ETA uses the mirror's recent working rate (older mirrors: the last interval's) */
    d->rps = json_num(stj, "recent_records_per_s");
    d->avg = json_num(stj, "avg_record_bytes");
    if (!(d->rps > 0))
        d->rps = json_num(stj, "records_per_s");
    d->updated = json_num(stj, "updated_ms");
    d->now = kf_wall_ms();
    for (size_t i = 0; i < nrows; i++) {
        d->total += rows[i].ok ? rows[i].lag : 0;
        d->gaps += rows[i].ok ? rows[i].gap : 0;
    }
    load_retention(src, rows, nrows);
    /* who holds the flow (read-only: DescribeConsumerGroups on the lock group) */
    d->lock_ok = fl_describe(tgt, c, &d->lv, d->lerr, sizeof(d->lerr)) == 0;
    d->cutover = load_cutover(c, tgt);
    free(specs);
    return 0;
fail:
    free(specs);
    sdata_free(d);
    return -1;
}

static json_t *to_json(const mirror_config *c, const sdata *d) {
    json_t *parts = json_array();
    for (size_t i = 0; i < d->nrows; i++) {
        const prow *r = &d->rows[i];
        double lag_bytes = d->avg * (double)r->lag;
        double lag_s = r->lag > 0 && r->first_unmirrored_ts > 0
                           ? (double)(d->now - r->first_unmirrored_ts) / 1e3
                           : 0;
        double eta = d->rps > 0 ? (double)r->lag / d->rps : (r->lag ? -1 : 0);
        json_array_append_new(
            parts,
            json_pack("{s:s,s:s,s:i,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:I}", "topic", r->topic,
                      "target_topic", r->tgt, "partition", (int)r->partition, "ok", r->ok,
                      "source_start", (json_int_t)r->src_lo, "source_end", (json_int_t)r->src_hi,
                      "mirrored", (json_int_t)r->mirrored, "lag_records", (json_int_t)r->lag,
                      "gap_records", (json_int_t)r->gap, "loop_skipped", (json_int_t)r->skipped,
                      "lag_bytes_approx", round0(lag_bytes), "lag_seconds", round1(lag_s),
                      "eta_seconds_approx", round0(eta)));
        json_object_set_new(json_array_get(parts, json_array_size(parts) - 1), "retention_ms",
                            r->have_retention ? json_integer(r->retention_ms) : json_null());
    }
    json_t *o = json_object();
    json_object_set_new(o, "flow", json_sprintf("%s->%s", c->src.alias, c->tgt.alias));
    json_object_set_new(o, "map_topic", json_string(c->map_topic));
    json_object_set_new(o, "mirror", d->stj ? json_incref(d->stj) : json_null());
    json_object_set_new(o, "total_lag_records", json_integer(d->total));
    json_object_set_new(o, "gap_records", json_integer(d->gaps));
    json_object_set_new(o, "eta_seconds",
                        json_integer(d->rps > 0 ? round0((double)d->total / d->rps) : -1));
    json_t *lk = json_object();
    json_object_set_new(lk, "group", json_string(c->lock_group));
    json_object_set_new(lk, "topic", json_string(c->lock_topic));
    if (d->lock_ok) {
        json_object_set_new(lk, "state", json_string(d->lv.state));
        json_object_set_new(
            lk, "holder",
            d->lv.found ? json_pack("{s:s,s:s}", "client_id", d->lv.holder, "host", d->lv.host)
                        : json_null());
        json_t *sb = json_array();
        char tmp[sizeof(d->lv.standbys)];
        snprintf(tmp, sizeof(tmp), "%s", d->lv.standbys);
        char *save = NULL;
        for (char *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save))
            json_array_append_new(sb, json_string(t));
        json_object_set_new(lk, "standbys", sb);
    } else {
        json_object_set_new(lk, "error", json_string(d->lerr));
    }
    json_object_set_new(o, "lock", lk);
    json_object_set(o, "cutover", d->cutover ? d->cutover : json_null());
    json_object_set_new(o, "partitions", parts);
    return o;
}

static void print_text(const mirror_config *c, const sdata *d) {
    const json_t *stj = d->stj;
    printf("flow %s->%s; mirror %s", c->src.alias, c->tgt.alias,
           d->st[0] ? (json_is_true(json_object_get(stj, "running")) ? "running" : "stopped")
                    : "never ran");
    if (d->st[0])
        printf(" (last report %.0fs ago, %.0f records/s)", (double)(d->now - d->updated) / 1000.0,
               d->rps);
    if (!d->lock_ok)
        printf("\nflow lock (group %s): unknown (%s)", c->lock_group, d->lerr);
    else if (c->workers > 1)
        printf("\nflow lock (group %s): %d member(s) hold %d of the flow's %d unit(s) (%s)",
               c->lock_group, d->lv.members, d->lv.units_held, c->workers, d->lv.state);
    else if (d->lv.found)
        printf("\nflow lock (group %s): held by %s (host %s)%s%s", c->lock_group, d->lv.holder,
               d->lv.host, d->lv.standbys[0] ? "; standby: " : "", d->lv.standbys);
    else
        printf("\nflow lock (group %s): no holder (%s, %d member(s))", c->lock_group, d->lv.state,
               d->lv.members);
    /* kferry.workers > 1: who runs which unit (mapstore.c merged their records) */
    const json_t *units = json_object_get(stj, "units");
    size_t ui;
    json_t *ue;
    if (json_array_size(units))
        printf("\nunits: %zu", json_array_size(units));
    json_array_foreach(units, ui, ue) {
        printf("\n  unit %lld: %s, %s", (long long)json_integer_value(json_object_get(ue, "unit")),
               json_is_true(json_object_get(ue, "running")) ? "running" : "stopped",
               json_string_value(json_object_get(ue, "holder"))
                   ? json_string_value(json_object_get(ue, "holder"))
                   : "?");
    }
    json_int_t nt = json_integer_value(json_object_get(stj, "transient_retries"));
    if (nt > 0)
        printf(
            "\ntransient conditions retried: %lld (last, %.0fs ago: %s)", (long long)nt,
            (double)(kf_wall_ms() - json_integer_value(json_object_get(stj, "last_transient_ms"))) /
                1000.0,
            json_string_value(json_object_get(stj, "last_transient")));
    size_t ci;
    json_t *ce;
    json_array_foreach(json_object_get(d->cutover, "entries"), ci, ce) {
        char ts[32];
        journal_time(json_integer_value(json_object_get(ce, "last_ms")), ts, sizeof(ts));
        printf("\ncutover %s %s (generation %lld): %s at %s%s",
               json_string_value(json_object_get(ce, "kind")),
               json_string_value(json_object_get(ce, "name")),
               (long long)json_integer_value(json_object_get(ce, "generation")),
               json_string_value(json_object_get(ce, "last_step")), ts,
               json_is_true(json_object_get(ce, "done")) ? " (done)" : " (in progress)");
    }
    printf("\n%-32s %5s %12s %12s %12s %10s %12s %8s %8s\n", "TOPIC", "PART", "SRC_START",
           "SRC_END", "MIRRORED", "LAG", "LAG_BYTES~", "LAG_S", "ETA_S~");
    for (size_t i = 0; i < d->nrows; i++) {
        const prow *r = &d->rows[i];
        double lag_bytes = d->avg * (double)r->lag;
        double lag_s = r->lag > 0 && r->first_unmirrored_ts > 0
                           ? (double)(d->now - r->first_unmirrored_ts) / 1e3
                           : 0;
        double eta = d->rps > 0 ? (double)r->lag / d->rps : (r->lag ? -1 : 0);
        if (r->ok)
            printf("%-32s %5d %12lld %12lld %12lld %10lld %12.0f %8.1f %8.0f\n", r->topic,
                   r->partition, (long long)r->src_lo, (long long)r->src_hi, (long long)r->mirrored,
                   (long long)r->lag, lag_bytes, lag_s, eta);
        else
            printf("%-32s %5d (source watermarks unavailable)\n", r->topic, r->partition);
        if (r->ok && r->gap)
            printf("%-32s %5d GAP: source offsets [%lld, %lld) deleted before being mirrored\n",
                   r->topic, r->partition, (long long)r->mirrored, (long long)r->src_lo);
    }
    printf("total lag: %lld records%s\n", (long long)d->total,
           d->gaps ? " (and a retention gap: see GAP lines)" : "");
}

char *status_document(mirror_config *c, rd_kafka_t *src, rd_kafka_t *tgt) {
    sdata d;
    if (collect(c, src, tgt, &d))
        return NULL;
    json_t *o = to_json(c, &d);
    char *txt = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(o);
    sdata_free(&d);
    return txt;
}

int status_run(mirror_config *c, int json) {
    int rc = 1;
    rd_kafka_t *src = clients_consumer(c, &c->src, "status", 1);
    rd_kafka_t *tgt = clients_consumer(c, &c->tgt, "status", 1);
    if (!src || !tgt || clients_probe_both(c, src, tgt, NULL, 0))
        goto out;
    if (json) {
        char *txt = status_document(c, src, tgt);
        if (!txt)
            goto out;
        printf("%s\n", txt);
        free(txt);
    } else {
        sdata d;
        if (collect(c, src, tgt, &d))
            goto out;
        print_text(c, &d);
        sdata_free(&d);
    }
    rc = 0;
out:
    if (src)
        rd_kafka_destroy(src);
    if (tgt)
        rd_kafka_destroy(tgt);
    return rc;
}
