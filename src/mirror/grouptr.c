/*
 * grouptr.c - group rows: committed offsets, watermarks and translations
 * (see grouptr.h).
 *
 * Watermarks are fetched in one batched ListOffsets per cluster and kind,
 * so a group on hundreds of partitions costs a handful of requests.
 */
#include "mirror/grouptr.h"
#include "mirror/retry.h"

#include "mirror/reader.h"
#include "mirror/topics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gt_map_init(gt_map *gm) {
    memset(gm, 0, sizeof(*gm));
    offmap_init(&gm->m);
}

void gt_map_free(gt_map *gm) { offmap_free(&gm->m); }

static int apply_cb(const rd_kafka_message_t *msg, reader_spec *s, void *ctx) {
    if (msg->key) /* 'S' status records and anything else are not map records */
        offmap_apply(ctx, msg->key, msg->key_len, msg->payload, msg->len);
    return 0;
}

int gt_map_refresh(rd_kafka_t *tgt, const char *topic, gt_map *gm, char *err, size_t errlen) {
    int tmo = gm->timeout_ms > 0 ? gm->timeout_ms : 60000;
    int np = topics_partition_count(tgt, topic, tmo < 10000 ? tmo : 10000);
    if (np == -2) {
        snprintf(err, errlen, "cannot read metadata of %s", topic);
        return -1;
    }
    gm->found = np > 0;
    if (np <= 0)
        return 0;
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t e = retry_watermarks(tgt, topic, 0, &lo, &hi, tmo < 10000 ? tmo : 10000);
    if (e) {
        snprintf(err, errlen, "%s: watermarks: %s", topic, rd_kafka_err2str(e));
        return -1;
    }
    int64_t start = gm->pos > lo ? gm->pos : lo;
    if (start >= hi)
        return 0;
    reader_spec spec = {.topic = topic, .partition = 0, .start = start, .end = hi};
    if (reader_run(tgt, &spec, 1, apply_cb, &gm->m, tmo, err, errlen) != 0)
        return -1;
    gm->pos = hi;
    for (size_t i = 0; i < gm->m.n; i++)
        if (om_check(gm->m.parts[i]) != 0) {
            snprintf(err, errlen, "offset map of %s/%d is inconsistent", gm->m.parts[i]->src_topic,
                     (int)gm->m.parts[i]->partition);
            return -1;
        }
    return 0;
}

typedef struct probe {
    int64_t below; /* a visible record below this offset ends the probe */
    int found;
} probe;

static int probe_cb(const rd_kafka_message_t *msg, reader_spec *s, void *ctx) {
    probe *pr = ctx;
    if (msg->offset < pr->below) {
        pr->found = 1;
        return -1; /* one record is enough: not all holes */
    }
    return 0;
}

void gt_translate(rd_kafka_t *src, const om_part *p, const char *src_topic, int32_t partition,
                  int64_t c, int64_t src_lo, int64_t src_hi, int64_t tgt_lo, int64_t tgt_hi,
                  tr_result *r) {
    tr_translate(p, c, src_lo, tgt_lo, tgt_hi, r);
    if (r->status != TR_WAIT || !p || r->map_end < 0 || c <= r->map_end || c > src_hi ||
        (src_lo >= 0 && r->map_end < src_lo))
        return;
    tr_result at_end;
    tr_translate(p, r->map_end, src_lo, tgt_lo, tgt_hi, &at_end);
    if (at_end.status != TR_END)
        return;
    probe pr = {c, 0};
    char err[256];
    reader_spec spec = {.topic = src_topic, .partition = partition, .start = r->map_end, .end = c};
    if (reader_run(src, &spec, 1, probe_cb, &pr, 5000, err, sizeof(err)) != 0 || pr.found)
        return; /* a record to mirror first, or unknown: keep waiting */
    *r = at_end;
    r->below_start = src_lo >= 0 && c < src_lo;
    r->next_src = c;
}

typedef struct gapcount {
    const om_part *p;
    int64_t n;
} gapcount;

static int gap_cb(const rd_kafka_message_t *msg, reader_spec *s, void *ctx) {
    gapcount *gc = ctx;
    if (msg->offset >= s->start && msg->offset < s->end &&
        !om_origin_covered(gc->p, msg->offset, msg->offset + 1))
        gc->n++;
    return 0;
}

/* Transactions mode: the target offsets between the map's runs below tgt
 * are mostly kferry's own commit markers and aborted records, which a
 * read_committed consumer never sees.  Counts the records such a consumer
 * does see there (another producer's): the foreign records that matter.
 * -1 if the target could not be read. */
static int64_t visible_in_gaps(rd_kafka_t *tgt, const om_part *p, const char *topic,
                               int32_t partition, int64_t below, int64_t tgt_lo) {
    gapcount gc = {p, 0};
    for (size_t i = 1; i < p->nruns; i++) {
        int64_t from = p->runs[i - 1].tgt + p->runs[i - 1].len, to = p->runs[i].tgt;
        if (from >= below)
            break;
        if (to > below)
            to = below;
        if (from < tgt_lo)
            from = tgt_lo;
        if (to <= from)
            continue;
        reader_spec spec = {.topic = topic, .partition = partition, .start = from, .end = to};
        char err[256];
        if (reader_run(tgt, &spec, 1, gap_cb, &gc, 10000, err, sizeof(err)) != 0)
            return -1;
    }
    return gc.n;
}

int64_t gt_foreign_visible(rd_kafka_t *tgt, const offmap *m, const gt_row *r) {
    const om_part *p = offmap_get((offmap *)m, r->src_topic, r->tgt_topic, r->partition, 0);
    if (!p || r->tr.foreign <= 0)
        return r->tr.foreign > 0 ? r->tr.foreign : 0;
    return visible_in_gaps(tgt, p, r->tgt_topic, r->partition, r->tr.tgt, r->tgt_lo);
}

void gt_group_free(gt_group *g) {
    for (size_t i = 0; i < g->n; i++) {
        free(g->rows[i].src_topic);
        free(g->rows[i].metadata);
    }
    free(g->rows);
    memset(g, 0, sizeof(*g));
}

/* which: -2 log start, -1 end; kind 0 = source names, 1 = target names */
static void watermarks(rd_kafka_t *rk, gt_group *g, int kind, int64_t which, int64_t *out) {
    const char **names = calloc(g->n + 1, sizeof(*names));
    int32_t *parts = calloc(g->n + 1, sizeof(*parts));
    if (names && parts) {
        for (size_t i = 0; i < g->n; i++) {
            names[i] = kind ? g->rows[i].tgt_topic : g->rows[i].src_topic;
            parts[i] = g->rows[i].partition;
        }
        topics_offsets(rk, names, parts, g->n, which, out);
    }
    free(names);
    free(parts);
}

int gt_build(const mirror_config *c, rd_kafka_t *src, rd_kafka_t *tgt, const offmap *m,
             const char *group, int timeout_ms, gt_group *out, char *err, size_t errlen) {
    memset(out, 0, sizeof(*out));
    ga_offsets so, to;
    if (ga_committed(src, group, timeout_ms, &so, err, errlen))
        return -1;
    if (ga_committed(tgt, group, timeout_ms, &to, err, errlen)) {
        ga_offsets_free(&so);
        return -1;
    }
    int rc = -1;
    int64_t *wm = calloc(4 * (so.n + 1), sizeof(*wm));
    out->rows = calloc(so.n + 1, sizeof(*out->rows));
    if (!wm || !out->rows) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < so.n; i++) {
        gt_row *r = &out->rows[out->n++];
        const char *why;
        r->src_topic = so.v[i].topic;
        so.v[i].topic = NULL;
        r->metadata = so.v[i].metadata;
        so.v[i].metadata = NULL;
        r->partition = so.v[i].partition;
        r->src_committed = so.v[i].offset;
        r->mirrored = mc_topic_selected(c, r->src_topic, &why) &&
                      mc_target_topic(c, r->src_topic, r->tgt_topic, sizeof(r->tgt_topic)) == 0;
        long k = r->mirrored ? ga_offsets_find(&to, r->tgt_topic, r->partition) : -1;
        r->tgt_committed = k >= 0 ? to.v[k].offset : -1;
    }
    watermarks(src, out, 0, -2, wm);
    watermarks(src, out, 0, -1, wm + so.n + 1);
    watermarks(tgt, out, 1, -2, wm + 2 * (so.n + 1));
    watermarks(tgt, out, 1, -1, wm + 3 * (so.n + 1));
    for (size_t i = 0; i < out->n; i++) {
        gt_row *r = &out->rows[i];
        r->src_lo = wm[i];
        r->src_hi = wm[so.n + 1 + i];
        r->tgt_lo = wm[2 * (so.n + 1) + i];
        r->tgt_hi = wm[3 * (so.n + 1) + i];
        if (!r->mirrored) {
            r->tr.status = TR_WAIT;
            r->tr.tgt = -1;
            continue;
        }
        const om_part *p = offmap_get((offmap *)m, r->src_topic, r->tgt_topic, r->partition, 0);
        gt_translate(src, p, r->src_topic, r->partition, r->src_committed, r->src_lo, r->src_hi,
                     r->tgt_lo, r->tgt_hi, &r->tr);
    }
    rc = 0;
out:
    free(wm);
    ga_offsets_free(&so);
    ga_offsets_free(&to);
    if (rc)
        gt_group_free(out);
    return rc;
}

int gt_to_commit(const gt_group *g, ga_offsets *out, size_t *behind) {
    memset(out, 0, sizeof(*out));
    *behind = 0;
    for (size_t i = 0; i < g->n; i++) {
        const gt_row *r = &g->rows[i];
        if (!r->mirrored || !tr_committable(&r->tr))
            continue;
        if (r->tgt_committed > r->tr.tgt) {
            (*behind)++; /* never move a target group backwards */
            continue;
        }
        if (r->tgt_committed == r->tr.tgt)
            continue;
        if (ga_offsets_add(out, r->tgt_topic, r->partition, r->tr.tgt, r->metadata))
            return -1;
    }
    return 0;
}
