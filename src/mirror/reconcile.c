/*
 * reconcile.c - where each partition resumes, so that a restart after any
 * crash neither loses nor repeats a record.
 *
 * The target tail past the last persisted run holds records kferry wrote
 * but had not yet mapped.  Since kferry is the only writer and its producer
 * never reorders or leaves holes, the k-th record of the tail holds the
 * k-th source record at or after the map's source end; those records are
 * mapped (after a content check) instead of being sent again.  Records of
 * the tail the opposite flow mirrored (inverse.h) are not ours and are left
 * out, as are source records the opposite flow wrote.  A partition's first
 * start records a baseline, so records already on the target are not taken
 * for ours.
 */
#include "common/log.h"
#include "common/util.h"
#include "mirror/mapstore.h"
#include "mirror/retry.h"
#include "mirror/mirror.h"
#include "mirror/reader.h"
#include "mirror/topics.h"

#include <stdlib.h>
#include <string.h>

uint64_t reconcile_hash(const void *key, size_t klen, const void *val, size_t vlen) {
    /* FNV-1a over (key length or -1, key, value length or -1, value): null
     * and empty differ, and so do different key/value boundaries */
    uint64_t h = 1469598103934665603ULL;
    int64_t lens[2] = {key ? (int64_t)klen : -1, val ? (int64_t)vlen : -1};
    const uint8_t *data[2] = {key, val};
    for (int i = 0; i < 2; i++) {
        for (int b = 0; b < 8; b++) {
            h ^= (uint8_t)((uint64_t)lens[i] >> (8 * b));
            h *= 1099511628211ULL;
        }
        for (int64_t k = 0; k < lens[i]; k++) {
            h ^= data[i][k];
            h *= 1099511628211ULL;
        }
    }
    return h;
}

/* Moves tail_i past tail records the opposite flow mirrored. */
static void skip_foreign(mpart *p) {
    while (p->tail_i < p->tail_n && p->tail_foreign && p->tail_foreign[p->tail_i])
        p->tail_i++;
}

static void tail_done(mpart *p) {
    free(p->tail_hash);
    free(p->tail_have);
    free(p->tail_foreign);
    p->tail_hash = NULL;
    p->tail_have = NULL;
    p->tail_foreign = NULL;
}

static int tail_cb(const rd_kafka_message_t *msg, reader_spec *s, void *ctx) {
    mpart *p = s->opaque;
    int64_t k = msg->offset - p->tail_start;
    if (k < 0 || k >= p->tail_n)
        return 0;
    p->tail_hash[k] = reconcile_hash(msg->key, msg->key_len, msg->payload, msg->len);
    p->tail_have[k] = 1;
    return 0;
}

int reconcile_match(mirror *m, mpart *p, const rd_kafka_message_t *msg) {
    int64_t k = p->tail_i;
    int64_t tgt = p->tail_start + k;
    if (p->tail_have[k] &&
        p->tail_hash[k] != reconcile_hash(msg->key, msg->key_len, msg->payload, msg->len)) {
        mirror_fatal(m, 1,
                     "%s/%d: target %s/%d offset %lld does not hold source offset %lld: the "
                     "target partition has records kferry did not write; refusing to continue",
                     p->t->src, p->partition, p->t->tgt, p->partition, (long long)tgt,
                     (long long)msg->offset);
        return -1;
    }
    if (om_append(p->map, msg->offset, tgt) != 0) {
        mirror_fatal(m, 1, "%s/%d: reconciliation broke the offset map", p->t->src, p->partition);
        return -1;
    }
    p->tail_i++;
    p->reconciled++;
    m->reconciled++;
    skip_foreign(p);
    if (p->tail_i == p->tail_n) {
        kf_notice("reconcile",
                  "%s/%d: %lld record(s) written before the last stop were found on the target "
                  "and mapped (not re-sent); mirroring resumes at source offset %lld",
                  p->t->src, p->partition, (long long)p->reconciled, (long long)msg->offset + 1);
        tail_done(p);
    }
    return 0;
}

static int watermarks(rd_kafka_t *rk, const char *topic, int32_t part, int64_t *lo, int64_t *hi) {
    /* a just-created or just-grown topic may not have a leader for a moment */
    rd_kafka_resp_err_t e = retry_watermarks(rk, topic, part, lo, hi, 30000);
    if (!e)
        return 0;
    kf_warn("reconcile", "%s/%d: watermarks: %s (will retry)", topic, part, rd_kafka_err2str(e));
    return -1;
}

/* First start of p: the target's current end is where kferry's writes
 * begin; whatever is below was not written by this flow.  The baseline is
 * persisted (and acknowledged, see reconcile_start) before any record. */
static int put_baseline(mirror *m, mpart *p, int64_t thi) {
    p->map->baseline = thi;
    if (mapstore_put_baseline(m->prod, m->map_rkt, p->map) != 0) {
        p->map->baseline = -1;
        return -1;
    }
    m->baseline_pending++;
    p->baseline_wait = 1;
    if (thi > 0)
        kf_notice("reconcile",
                  "%s/%d: first start; target %s/%d already ends at %lld: kferry's writes begin "
                  "there (baseline)",
                  p->t->src, p->partition, p->t->tgt, p->partition, (long long)thi);
    return 0;
}

/* Plans p: resume offset and target tail. 1 = needs a tail read, 0 = ready,
 * -1 = not now (retried at the next refresh), -2 = fatal (already reported). */
static int plan(mirror *m, mpart *p, const int64_t wm[4], int64_t *resume) {
    int64_t lo = wm[0], hi = wm[1], tlo = wm[2], thi = wm[3];
    if ((lo < 0 || hi < 0) && watermarks(m->src, p->t->src, p->partition, &lo, &hi))
        return -1;
    if ((tlo < 0 || thi < 0) && watermarks(m->tgt_reader, p->t->tgt, p->partition, &tlo, &thi))
        return -1;
    if (p->baseline_wait) {
        if (m->baseline_pending > 0)
            return -1; /* its baseline is not acknowledged yet */
        p->baseline_wait = 0;
    }
    if (om_is_new(p->map)) {
        if (put_baseline(m, p, thi) != 0) {
            mirror_fatal(m, 1, "%s/%d: cannot queue the baseline record", p->t->src, p->partition);
            return -2;
        }
    }
    int64_t mapped_tgt = om_tgt_write_pos(p->map);
    p->tail_start = mapped_tgt >= 0 ? mapped_tgt : tlo;
    p->tail_n = thi - p->tail_start;
    p->tail_i = 0;
    p->reconciled = 0;
    if (p->tail_n < 0) {
        mirror_fatal(m, 1,
                     "%s/%d: target %s ends at %lld but the offset map says kferry wrote up to "
                     "%lld: the target partition lost data or was recreated",
                     p->t->src, p->partition, p->t->tgt, (long long)thi, (long long)mapped_tgt);
        return -2;
    }
    /* Transactions mode: the map is committed with the records it maps, so
     * nothing committed is unmapped; what lies past the map's end is
     * aborted records and commit markers, invisible to read_committed
     * readers.  Nothing to reconcile. */
    if (m->cfg->txn)
        p->tail_n = 0;
    /* target records the opposite flow mirrored are not ours: leave the
     * leading and trailing ones out of the tail, flag those in between */
    for (size_t i = 0; i < p->nforeign; i++)
        if (p->foreign[i].start <= p->tail_start && p->tail_start < p->foreign[i].end) {
            p->tail_n -= p->foreign[i].end - p->tail_start;
            p->tail_start = p->foreign[i].end;
        }
    for (size_t i = p->nforeign; i-- > 0 && p->tail_n > 0;) {
        int64_t end = p->tail_start + p->tail_n;
        if (p->foreign[i].start < end && end <= p->foreign[i].end)
            p->tail_n =
                p->foreign[i].start > p->tail_start ? p->foreign[i].start - p->tail_start : 0;
    }
    if (p->tail_n < 0)
        p->tail_n = 0;
    int64_t own =
        p->tail_n - inv_count_in(p->foreign, p->nforeign, p->tail_start, p->tail_start + p->tail_n);
    *resume = om_src_next(p->map);
    if (*resume < 0)
        *resume = lo; /* never mirrored: from the source's first record */
    if (*resume > hi) {
        mirror_fatal(m, 1,
                     "%s/%d: source log end %lld is below the mirrored position %lld: the "
                     "source partition was truncated or recreated",
                     p->t->src, p->partition, (long long)hi, (long long)*resume);
        return -2;
    }
    /* the opposite flow's records at the resume point are skipped right
     * away (nothing is in flight for p now) */
    p->next_src = *resume;
    p->loop_i = 0;
    while (p->nloop && p->next_src < hi && mirror_loop_skip(m, p, p->next_src, 1))
        ;
    if (m->fatal)
        return -2;
    *resume = p->next_src;
    int64_t avail = hi - *resume - inv_count_in(p->loop, p->nloop, *resume, hi);
    if (own > avail) {
        mirror_fatal(m, 1,
                     "%s/%d: target %s has %lld unmapped record(s) but the source has only "
                     "%lld after offset %lld: another writer on the target?",
                     p->t->src, p->partition, p->t->tgt, (long long)own, (long long)avail,
                     (long long)*resume);
        return -2;
    }
    if (*resume < lo) {
        if (own > 0) {
            mirror_fatal(m, 1,
                         "%s/%d: cannot reconcile %lld unmapped target record(s): the source "
                         "records after offset %lld were deleted",
                         p->t->src, p->partition, (long long)own, (long long)*resume);
            return -2;
        }
        p->next_src = *resume;
        mirror_gap(m, p, lo);
        if (m->fatal)
            return -2;
        *resume = lo;
    }
    if (own == 0) {
        p->tail_n = 0;
        return 0;
    }
    p->tail_hash = calloc((size_t)p->tail_n, sizeof(*p->tail_hash));
    p->tail_have = calloc((size_t)p->tail_n, 1);
    p->tail_foreign = p->nforeign ? calloc((size_t)p->tail_n, 1) : NULL;
    if (!p->tail_hash || !p->tail_have || (p->nforeign && !p->tail_foreign)) {
        mirror_fatal(m, 1, "out of memory for %lld tail records", (long long)p->tail_n);
        return -2;
    }
    for (size_t i = 0; i < p->nforeign; i++) {
        int64_t a = p->foreign[i].start > p->tail_start ? p->foreign[i].start : p->tail_start;
        int64_t b = p->foreign[i].end < p->tail_start + p->tail_n ? p->foreign[i].end
                                                                  : p->tail_start + p->tail_n;
        for (int64_t o = a; o < b; o++)
            p->tail_foreign[o - p->tail_start] = 1;
    }
    return 1;
}

int reconcile_start(mirror *m, mpart **parts, size_t n) {
    int64_t *resume = calloc(n, sizeof(*resume));
    int *st = calloc(n, sizeof(*st));
    reader_spec *specs = calloc(n, sizeof(*specs));
    size_t nspecs = 0;
    int rc = -1;
    int64_t *wm = calloc(4 * n, sizeof(*wm));
    if (!resume || !st || !specs || !wm) {
        free(wm);
        goto out;
    }
    /* watermarks of all partitions first: a few requests instead of 4 per
     * partition, which matters with many partitions and remote clusters */
    int64_t *col = calloc(n, sizeof(*col));
    const char **names = calloc(n, sizeof(*names));
    int32_t *pnums = calloc(n, sizeof(*pnums));
    for (int k = 0; k < 4 && col && names && pnums; k++) {
        for (size_t i = 0; i < n; i++) {
            names[i] = k < 2 ? parts[i]->t->src : parts[i]->t->tgt;
            pnums[i] = parts[i]->partition;
        }
        topics_offsets(k < 2 ? m->src : m->tgt_reader, names, pnums, n, k % 2 ? -1 : -2, col);
        for (size_t i = 0; i < n; i++)
            wm[4 * i + (size_t)k] = col[i];
    }
    if (!col || !names || !pnums)
        for (size_t i = 0; i < 4 * n; i++)
            wm[i] = -1;
    free(col);
    free(names);
    free(pnums);
    for (size_t i = 0; i < n && !m->fatal; i++) {
        st[i] = plan(m, parts[i], &wm[4 * i], &resume[i]);
        if (st[i] == 1) {
            mpart *p = parts[i];
            specs[nspecs++] = (reader_spec){.topic = p->t->tgt,
                                            .partition = p->partition,
                                            .start = p->tail_start,
                                            .end = p->tail_start + p->tail_n,
                                            .opaque = p};
        }
    }
    free(wm);
    /* no record may reach a partition before its baseline is stored */
    int64_t deadline = kf_now_ms() + 30000;
    while (m->baseline_pending > 0 && !m->fatal && kf_now_ms() < deadline)
        rd_kafka_poll(m->prod, 50);
    if (m->fatal)
        goto out;
    if (nspecs) {
        char err[512];
        if (reader_run(m->tgt_reader, specs, nspecs, tail_cb, NULL, 300000, err, sizeof(err))) {
            mirror_fatal(m, 1, "reading the target tail for reconciliation: %s", err);
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) {
        mpart *p = parts[i];
        if (st[i] < 0)
            continue;
        if (p->baseline_wait) {
            if (m->baseline_pending > 0) {
                kf_warn("reconcile",
                        "%s/%d: baseline not acknowledged by the target yet; "
                        "retrying at the next refresh",
                        p->t->src, p->partition);
                continue;
            }
            p->baseline_wait = 0;
        }
        p->next_src = resume[i];
        if (p->tail_n > 0)
            kf_info("reconcile",
                    "%s/%d: %lld unmapped record(s) on target %s from offset %lld; "
                    "matching them against source offsets from %lld",
                    p->t->src, p->partition, (long long)p->tail_n, p->t->tgt,
                    (long long)p->tail_start, (long long)resume[i]);
        if (rd_kafka_consume_start_queue(p->t->src_rkt, p->partition, resume[i], m->q) != 0) {
            kf_warn("mirror", "%s/%d: cannot start: %s", p->t->src, p->partition,
                    rd_kafka_err2str(rd_kafka_last_error()));
            continue;
        }
        p->state = P_RUNNING;
        kf_info("mirror", "%s/%d -> %s/%d from source offset %lld", p->t->src, p->partition,
                p->t->tgt, p->partition, (long long)resume[i]);
    }
    rc = 0;
out:
    free(resume);
    free(st);
    free(specs);
    return rc;
}
