/*
 * verify_merge.c - the pairing logic of `kferry verify` (see verify_merge.h):
 * what to read per partition, and the merge of the two ordered streams of
 * record digests.  No I/O, so unit tests drive it directly.
 */
#include "migrate/verify_merge.h"

#include <stdlib.h>
#include <string.h>

int vring_push(vring *r, const vrec *v) {
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 256;
        vrec *nv = malloc(nc * sizeof(*nv));
        if (!nv)
            return -1;
        for (size_t i = 0; i < r->n; i++)
            nv[i] = r->v[(r->head + i) % r->cap];
        free(r->v);
        r->v = nv;
        r->cap = nc;
        r->head = 0;
    }
    r->v[(r->head + r->n) % r->cap] = *v;
    r->n++;
    return 0;
}

static vrec *ring_head(vring *r) { return &r->v[r->head]; }

static void ring_pop(vring *r) {
    r->head = (r->head + 1) % r->cap;
    r->n--;
}

void vring_free(vring *r) {
    free(r->v);
    memset(r, 0, sizeof(*r));
}

/* ---- classification ----------------------------------------------------- */

static int continues(int64_t prev, int64_t count, int64_t next) {
    return prev < 0 ? next < 0 : next == prev + count;
}

/* Lists a problem, folding it into the previous one when it continues it
 * on both sides (a run of extra records is one line, not thousands). */
static void problem(vpart *p, int kind, int64_t src, int64_t tgt, unsigned fields) {
    if (p->nproblems) {
        vproblem *q = &p->problems[p->nproblems - 1];
        if (q->kind == kind && q->fields == fields && continues(q->src, q->count, src) &&
            continues(q->tgt, q->count, tgt) && (src >= 0 || tgt >= 0)) {
            q->count++;
            return;
        }
    }
    if (p->nproblems < (size_t)p->max_problems && p->nproblems < VERIFY_MAX_PROBLEMS)
        p->problems[p->nproblems++] = (vproblem){kind, src, tgt, fields, 1};
}

static uint64_t d8(const vrec *r) {
    uint64_t v;
    memcpy(&v, r->d, sizeof(v));
    return v;
}

static void remember(vpart *p, const vrec *s) {
    if (!p->recent) {
        p->recent = malloc(VERIFY_RECENT * sizeof(*p->recent));
        if (!p->recent)
            return; /* duplicates past the map then count as written on the target */
    }
    p->recent[p->recent_pos] = (vrecent){d8(s), s->off};
    p->recent_pos = (p->recent_pos + 1) % VERIFY_RECENT;
    if (p->nrecent < VERIFY_RECENT)
        p->nrecent++;
}

static int cmp_recent(const void *a, const void *b) {
    const vrecent *x = a, *y = b;
    return x->d < y->d ? -1 : x->d > y->d;
}

/* Source offset of a recent source record with t's content, or -1.  Only
 * asked once the source is read to its end, so the ring is complete. */
static int64_t recent_copy_of(vpart *p, const vrec *t) {
    if (!p->nrecent)
        return -1;
    if (!p->recent_sorted) {
        qsort(p->recent, p->nrecent, sizeof(*p->recent), cmp_recent);
        p->recent_sorted = 1;
    }
    vrecent key = {d8(t), 0};
    const vrecent *f = bsearch(&key, p->recent, p->nrecent, sizeof(*p->recent), cmp_recent);
    return f ? f->off : -1;
}

void verify_part_free(vpart *p) {
    vring_free(&p->side[0].ring);
    vring_free(&p->side[1].ring);
    free(p->recent);
    p->recent = NULL;
    p->nrecent = p->recent_pos = 0;
}

/* Source offset whose map entry is target offset t, or -1. */
static int64_t reverse_lookup(const om_part *m, int64_t t) {
    if (!m)
        return -1;
    size_t lo = 0, hi = m->nruns;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (m->runs[mid].tgt <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return -1;
    const om_run *r = &m->runs[lo - 1];
    return t < r->tgt + r->len ? r->src + (t - r->tgt) : -1;
}

static void pair(vpart *p, const vrec *s, const vrec *t) {
    p->compared++;
    if (s->exp < 0)
        p->pending_map++;
    for (int k = 0; k < 2; k++) {
        vside *sd = &p->side[k];
        const vrec *r = k ? t : s;
        if (sd->first_cmp < 0)
            sd->first_cmp = r->off;
        sd->last_cmp = r->off;
        if (sd->agg)
            EVP_DigestUpdate(sd->agg, r->d, sizeof(r->d));
    }
    if (!memcmp(s->d, t->d, sizeof(s->d))) {
        p->matched++;
        return;
    }
    p->mismatched++;
    unsigned f = 0;
    if (s->ts != t->ts)
        f |= VF_TIMESTAMP;
    if (s->crc[0] != t->crc[0])
        f |= VF_KEY;
    if (s->crc[1] != t->crc[1])
        f |= VF_VALUE;
    if (s->crc[2] != t->crc[2])
        f |= VF_HEADERS;
    problem(p, VP_MISMATCH, s->off, t->off, f);
}

static void unmatched_source(vpart *p, const vrec *s) {
    if (s->exp < 0) {
        if (!p->not_yet++)
            p->not_yet_from = s->off;
    } else if (p->compacted)
        p->compacted_n++;
    else {
        p->missing++;
        problem(p, VP_MISSING, s->off, s->exp, 0);
    }
}

static void unmatched_target(vpart *p, const vrec *t) {
    if (t->tail) {
        /* past everything mirrored, with no source record left: a copy of
         * one (a duplicate) or a record written to the target directly,
         * as producers do once they moved there */
        int64_t s = recent_copy_of(p, t);
        if (s >= 0) {
            p->extra++;
            problem(p, VP_DUPLICATE, s, t->off, 0);
        } else if (!p->written_on_target++) {
            p->written_from = t->off;
        }
        return;
    }
    int64_t s = reverse_lookup(p->map, t->off);
    if (s < 0) {
        p->extra++;
        problem(p, VP_EXTRA, -1, t->off, 0);
    } else if (s < p->side[0].lo) {
        /* its source record went to retention; counted from the map */
    } else if (p->compacted) {
        p->compacted_n++;
    } else {
        p->absent_src++;
        problem(p, VP_ABSENT_SOURCE, s, t->off, 0);
    }
}

/* Merge step for one source record; see the file comment. */
int verify_feed_src(vpart *p, const vrec *s) {
    remember(p, s);
    vring *tr = &p->side[1].ring;
    while (tr->n) {
        vrec *h = ring_head(tr);
        if (s->exp < 0) {
            if (!h->tail) {
                unmatched_target(p, h);
                ring_pop(tr);
                continue;
            }
            pair(p, s, h);
            ring_pop(tr);
            return 0;
        }
        if (h->tail || h->off > s->exp) {
            unmatched_source(p, s);
            return 0;
        }
        if (h->off < s->exp) {
            unmatched_target(p, h);
            ring_pop(tr);
            continue;
        }
        pair(p, s, h);
        ring_pop(tr);
        return 0;
    }
    if (p->side[1].done) {
        unmatched_source(p, s);
        return 0;
    }
    return vring_push(&p->side[0].ring, s);
}

int verify_feed_tgt(vpart *p, const vrec *t) {
    vring *sr = &p->side[0].ring;
    while (sr->n) {
        vrec *h = ring_head(sr);
        if (h->exp < 0) {
            if (!t->tail) {
                unmatched_target(p, t);
                return 0;
            }
            pair(p, h, t);
            ring_pop(sr);
            return 0;
        }
        if (t->tail || t->off > h->exp) {
            unmatched_source(p, h);
            ring_pop(sr);
            continue;
        }
        if (t->off < h->exp) {
            unmatched_target(p, t);
            return 0;
        }
        pair(p, h, t);
        ring_pop(sr);
        return 0;
    }
    if (p->side[0].done) {
        unmatched_target(p, t);
        return 0;
    }
    return vring_push(&p->side[1].ring, t);
}

/* A side reached its end: whatever the other side buffered has no partner. */
void verify_side_done(vpart *p, int k) {
    p->side[k].done = 1;
    vring *o = &p->side[!k].ring;
    while (o->n) {
        if (k == 0)
            unmatched_target(p, ring_head(o));
        else
            unmatched_source(p, ring_head(o));
        ring_pop(o);
    }
}

/* Source record at offset off: its expected target offset, -1 when past the
 * map (paired by position), -2 when it must not be compared. */
static int in_ranges(const inv_range *r, size_t n, int64_t off) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (r[mid].end <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && r[lo].start <= off;
}

int verify_target_foreign(vpart *p, int64_t off) {
    if (!in_ranges(p->foreign, p->nforeign, off))
        return 0;
    p->opposite_tgt++;
    return 1;
}

int64_t verify_expect_target(vpart *p, int64_t off) {
    /* copies the opposite flow wrote: this flow skips them (loop
     * prevention), so they have no target record of their own */
    if (om_find_skip(p->map, off) || in_ranges(p->loop, p->nloop, off)) {
        p->opposite_src++;
        return -2;
    }
    if (off >= p->src_tail)
        return -1;
    int64_t tgt = -1, next = -1;
    if (om_lookup(p->map, off, &tgt, &next) == OM_EXACT) {
        if (tgt < p->side[1].start) {
            p->removed_tgt_ret++;
            return -2;
        }
        return tgt;
    }
    /* a source record inside the mirrored range that the map skipped */
    p->missing++;
    problem(p, VP_UNMAPPED, off, -1, 0);
    return -2;
}

/* ---- planning ------------------------------------------------------------ */

/* Size of [a, b) intersected with [lo, hi). */
static int64_t overlap(int64_t a, int64_t b, int64_t lo, int64_t hi) {
    int64_t x = a > lo ? a : lo, y = b < hi ? b : hi;
    return y > x ? y - x : 0;
}

static int64_t mapped_below(const om_part *m, int64_t x) {
    int64_t n = 0;
    for (size_t i = 0; m && i < m->nruns; i++) {
        const om_run *r = &m->runs[i];
        if (x <= r->src)
            break;
        n += x - r->src < r->len ? x - r->src : r->len;
    }
    return n;
}

void verify_plan(vpart *p) {
    vside *s = &p->side[0], *t = &p->side[1];
    const om_part *m = p->map;
    int have_runs = m && m->nruns;
    int64_t src_map_end = m ? om_src_next(m) : -1;
    p->src_tail = src_map_end >= 0 ? src_map_end : s->lo;
    /* the baseline: where this flow's writes began on a target that held
     * records already (rollback onto the old source); below it nothing is ours */
    int64_t write_pos = m ? om_tgt_write_pos(m) : -1;
    p->tgt_tail = write_pos >= 0 ? write_pos : t->lo;
    if (p->tgt_tail < t->lo)
        p->tgt_tail = t->lo;
    for (size_t i = 0; m && i < m->ngaps; i++)
        p->gap_records += m->gaps[i].end - m->gaps[i].start;
    /* mapped records gone to retention on either side are not compared */
    p->removed_src_ret = mapped_below(m, s->lo);
    int64_t s0 = src_map_end >= 0 ? src_map_end : s->lo;
    for (size_t i = 0; have_runs && i < m->nruns; i++) {
        const om_run *r = &m->runs[i];
        if (r->tgt + r->len > t->lo) {
            s0 = r->src + (t->lo > r->tgt ? t->lo - r->tgt : 0);
            break;
        }
    }
    s->start = s->lo > s0 ? s->lo : s0;
    if (s0 > s->lo)
        p->removed_tgt_ret = mapped_below(m, s0) - mapped_below(m, s->lo);
    if (s->start > p->src_tail)
        s->start = p->src_tail > s->lo ? p->src_tail : s->lo;
    s->end = s->hi;
    /* the opposite flow's records below where reading starts: counted, as
     * those read are (the map's skips, or the opposite map's if it knows more) */
    int64_t skipped = 0, written = 0;
    for (size_t i = 0; m && i < m->nskips; i++)
        skipped += overlap(m->skips[i].start, m->skips[i].end, s->lo, s->start);
    for (size_t i = 0; i < p->nloop; i++)
        written += overlap(p->loop[i].start, p->loop[i].end, s->lo, s->start);
    p->opposite_src += skipped > written ? skipped : written;
    t->start = p->tgt_tail;
    for (size_t i = 0; have_runs && i < m->nruns; i++) {
        const om_run *r = &m->runs[i];
        if (r->src + r->len > s->start) {
            t->start = r->tgt + (s->start > r->src ? s->start - r->src : 0);
            break;
        }
    }
    if (t->start < t->lo)
        t->start = t->lo;
    t->end = t->hi;
    if (p->src_tail < s->lo) {
        /* the source deleted records before they were mirrored: whatever
         * the target holds past the map cannot be paired any more */
        p->unrecorded_gap_start = p->src_tail;
        p->unrecorded_gap = s->lo - p->src_tail;
        p->src_tail = s->lo;
        if (t->hi > p->tgt_tail) {
            p->unverified_tail = t->hi - p->tgt_tail;
            t->end = p->tgt_tail;
        }
    }
    if (s->start > s->end)
        s->start = s->end;
    if (t->start > t->end)
        t->start = t->end;
}
