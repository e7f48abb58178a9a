/*
 * offmap.c - offset-map runs, lookup and text encoding (see offmap.h).
 *
 * Appends are O(1) (extend the last run or start a new one); lookups are a
 * binary search over runs (skips are few: one per stretch the opposite flow
 * wrote).  Nothing here talks to Kafka.
 */
#include "mirror/offmap.h"

#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void offmap_init(offmap *m) { memset(m, 0, sizeof(*m)); }

void offmap_free(offmap *m) {
    for (size_t i = 0; i < m->n; i++) {
        om_part *p = m->parts[i];
        free(p->src_topic);
        free(p->tgt_topic);
        free(p->runs);
        free(p->gaps);
        free(p->skips);
        free(p);
    }
    free(m->parts);
    memset(m, 0, sizeof(*m));
}

om_part *offmap_get(offmap *m, const char *src_topic, const char *tgt_topic, int32_t partition,
                    int create) {
    for (size_t i = 0; i < m->n; i++) {
        om_part *p = m->parts[i];
        if (p->partition == partition && !strcmp(p->src_topic, src_topic) &&
            !strcmp(p->tgt_topic, tgt_topic))
            return p;
    }
    if (!create)
        return NULL;
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 64;
        om_part **np = realloc(m->parts, nc * sizeof(*np));
        if (!np)
            return NULL;
        m->parts = np;
        m->cap = nc;
    }
    om_part *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->src_topic = kf_strdup(src_topic);
    p->tgt_topic = kf_strdup(tgt_topic);
    p->partition = partition;
    p->baseline = -1;
    p->src_end = -1;
    if (!p->src_topic || !p->tgt_topic) {
        free(p->src_topic);
        free(p->tgt_topic);
        free(p);
        return NULL;
    }
    m->parts[m->n++] = p;
    return p;
}

static int grow_runs(om_part *p) {
    if (p->nruns < p->capruns)
        return 0;
    size_t nc = p->capruns ? p->capruns * 2 : 4;
    om_run *nr = realloc(p->runs, nc * sizeof(*nr));
    if (!nr)
        return -1;
    p->runs = nr;
    p->capruns = nc;
    return 0;
}

/* Source offset after the last run, gap or skip (-1 if nothing). */
static int64_t recorded_next(const om_part *p) {
    int64_t next = -1;
    if (p->nruns) {
        const om_run *r = &p->runs[p->nruns - 1];
        next = r->src + r->len;
    }
    for (size_t i = 0; i < p->ngaps; i++)
        if (p->gaps[i].end > next)
            next = p->gaps[i].end;
    if (p->nskips && p->skips[p->nskips - 1].end > next)
        next = p->skips[p->nskips - 1].end;
    return next;
}

int64_t om_src_next(const om_part *p) {
    int64_t next = recorded_next(p);
    return p->src_end > next ? p->src_end : next;
}

int om_set_end(om_part *p, int64_t end) {
    if (end < 0 || (p->src_end >= 0 && end < p->src_end))
        return -1;
    if (end <= recorded_next(p) || end == p->src_end)
        return 0;
    p->src_end = end;
    p->end_dirty = 1;
    return 0;
}

int64_t om_tgt_next(const om_part *p) {
    if (!p->nruns)
        return -1;
    const om_run *r = &p->runs[p->nruns - 1];
    return r->tgt + r->len;
}

int64_t om_tgt_write_pos(const om_part *p) {
    int64_t t = om_tgt_next(p);
    return t >= 0 ? t : p->baseline;
}

int64_t om_tgt_end(const om_part *p) {
    const om_run *r = p->nruns ? &p->runs[p->nruns - 1] : NULL;
    /* a skip coming after the last run: the position after its original
     * (skips whose originals are in another topic do not count) */
    for (size_t i = p->nskips; i-- > 0;) {
        const om_skip *s = &p->skips[i];
        if (r && s->start < r->src + r->len)
            break;
        if (s->origin >= 0)
            return s->origin + (s->end - s->start);
    }
    return om_tgt_write_pos(p);
}

int om_is_new(const om_part *p) {
    return !p->nruns && !p->ngaps && !p->nskips && p->baseline < 0 && p->src_end < 0;
}

static int grow_skips(om_part *p) {
    om_skip *ns = realloc(p->skips, (p->nskips + 1) * sizeof(*ns));
    if (!ns)
        return -1;
    p->skips = ns;
    return 0;
}

int om_add_skip(om_part *p, int64_t start, int64_t end, int64_t origin) {
    if (start < 0 || end <= start)
        return -1;
    if (p->nruns) {
        const om_run *r = &p->runs[p->nruns - 1];
        if (start < r->src + r->len)
            return -1;
    }
    if (p->nskips) {
        om_skip *s = &p->skips[p->nskips - 1];
        if (start < s->end)
            return -1;
        /* extend in place when nothing was mapped in between and the
         * originals are consecutive too */
        int contiguous = s->end == start &&
                         (s->origin < 0 ? origin < 0 : origin == s->origin + (s->end - s->start));
        int run_between = p->nruns && p->runs[p->nruns - 1].src >= s->end;
        if (contiguous && !run_between) {
            s->end = end;
            if (p->skips_dirty > p->nskips - 1)
                p->skips_dirty = p->nskips - 1;
            return 0;
        }
    }
    if (grow_skips(p))
        return -1;
    p->skips[p->nskips] = (om_skip){start, end, origin < 0 ? -1 : origin};
    if (p->skips_dirty > p->nskips)
        p->skips_dirty = p->nskips;
    p->nskips++;
    return 0;
}

int om_put_skip(om_part *p, int64_t start, int64_t end, int64_t origin) {
    if (start < 0 || end <= start)
        return -1;
    size_t i = 0;
    while (i < p->nskips && p->skips[i].start < start)
        i++;
    if (i < p->nskips && p->skips[i].start == start) {
        p->skips[i].end = end;
        p->skips[i].origin = origin < 0 ? -1 : origin;
    } else {
        if (grow_skips(p))
            return -1;
        memmove(&p->skips[i + 1], &p->skips[i], (p->nskips - i) * sizeof(om_skip));
        p->skips[i] = (om_skip){start, end, origin < 0 ? -1 : origin};
        p->nskips++;
    }
    p->skips_dirty = p->nskips;
    return 0;
}

/* Index of the first skip ending after src (nskips if none). */
static size_t skip_at_or_after(const om_part *p, int64_t src) {
    size_t lo = 0, hi = p->nskips;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (p->skips[mid].end <= src)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int64_t om_origin_covered(const om_part *p, int64_t from, int64_t to) {
    int64_t n = 0;
    for (size_t i = 0; p && i < p->nskips; i++) {
        const om_skip *s = &p->skips[i];
        if (s->origin < 0)
            continue;
        int64_t a = s->origin > from ? s->origin : from;
        int64_t b = s->origin + (s->end - s->start);
        if (b > to)
            b = to;
        if (b > a)
            n += b - a;
    }
    return n;
}

const om_skip *om_find_skip(const om_part *p, int64_t src) {
    if (!p)
        return NULL;
    size_t i = skip_at_or_after(p, src);
    return i < p->nskips && p->skips[i].start <= src ? &p->skips[i] : NULL;
}

int om_append(om_part *p, int64_t src, int64_t tgt) {
    /* Gaps are not checked: a gap is recorded when the consumer hits it,
     * possibly before the deliveries of earlier records come back. */
    if (src < 0 || tgt < 0 || src < p->src_end)
        return -1;
    if (p->nruns) {
        const om_run *last = &p->runs[p->nruns - 1];
        if (src < last->src + last->len || tgt < last->tgt + last->len)
            return -1;
    }
    if (p->nruns) {
        om_run *r = &p->runs[p->nruns - 1];
        if (r->src + r->len == src && r->tgt + r->len == tgt) {
            r->len++;
            if (p->runs_dirty > p->nruns - 1)
                p->runs_dirty = p->nruns - 1;
            return 0;
        }
    }
    if (grow_runs(p))
        return -1;
    p->runs[p->nruns] = (om_run){src, tgt, 1};
    if (p->runs_dirty > p->nruns)
        p->runs_dirty = p->nruns;
    p->nruns++;
    return 0;
}

int om_put_run(om_part *p, int64_t src, int64_t tgt, int64_t len) {
    if (src < 0 || tgt < 0 || len <= 0)
        return -1;
    size_t lo = 0, hi = p->nruns;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (p->runs[mid].src < src)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < p->nruns && p->runs[lo].src == src) {
        p->runs[lo].tgt = tgt;
        p->runs[lo].len = len;
    } else {
        if (grow_runs(p))
            return -1;
        memmove(&p->runs[lo + 1], &p->runs[lo], (p->nruns - lo) * sizeof(om_run));
        p->runs[lo] = (om_run){src, tgt, len};
        p->nruns++;
    }
    p->runs_dirty = p->nruns; /* loaded state is already stored */
    return 0;
}

int om_put_gap(om_part *p, int64_t start, int64_t end) {
    if (start < 0 || end <= start)
        return -1;
    for (size_t i = 0; i < p->ngaps; i++)
        if (p->gaps[i].start == start) {
            p->gaps[i].end = end;
            return 0;
        }
    om_gap *ng = realloc(p->gaps, (p->ngaps + 1) * sizeof(*ng));
    if (!ng)
        return -1;
    p->gaps = ng;
    p->gaps[p->ngaps++] = (om_gap){start, end};
    return 0;
}

int om_check(const om_part *p) {
    for (size_t i = 1; i < p->nruns; i++) {
        const om_run *a = &p->runs[i - 1], *b = &p->runs[i];
        if (a->src + a->len > b->src || a->tgt + a->len > b->tgt)
            return -1;
    }
    for (size_t i = 0; i < p->nskips; i++) {
        const om_skip *s = &p->skips[i];
        if (i && p->skips[i - 1].end > s->start)
            return -1;
        /* no run may overlap a skipped stretch */
        for (size_t k = 0; k < p->nruns; k++)
            if (p->runs[k].src < s->end && s->start < p->runs[k].src + p->runs[k].len)
                return -1;
    }
    if (p->baseline >= 0 && p->nruns && p->runs[0].tgt < p->baseline)
        return -1;
    return 0;
}

static const om_gap *in_gap(const om_part *p, int64_t src) {
    for (size_t i = 0; i < p->ngaps; i++)
        if (src >= p->gaps[i].start && src < p->gaps[i].end)
            return &p->gaps[i];
    return NULL;
}

int om_lookup(const om_part *p, int64_t src, int64_t *tgt, int64_t *next_src) {
    if (!p || (!p->nruns && !p->nskips && p->src_end < 0))
        return OM_EMPTY;
    /* after everything recorded, below the consumer's position: nothing
     * readable there (markers, aborted or compacted records); the next
     * record will be written at the target's next offset */
    if (src >= recorded_next(p) && src < p->src_end) {
        *tgt = om_tgt_end(p);
        *next_src = p->src_end;
        return *tgt >= 0 ? OM_HOLE : OM_NOT_YET;
    }
    /* last run with run.src <= src */
    size_t lo = 0, hi = p->nruns;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (p->runs[mid].src <= src)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > 0) {
        const om_run *r = &p->runs[lo - 1];
        if (src < r->src + r->len) {
            *tgt = r->tgt + (src - r->src);
            *next_src = src;
            return OM_EXACT;
        }
    }
    /* a skipped record's original is on the target already */
    size_t si = skip_at_or_after(p, src);
    if (si < p->nskips && p->skips[si].start <= src && p->skips[si].origin >= 0) {
        *tgt = p->skips[si].origin + (src - p->skips[si].start);
        *next_src = src;
        return OM_EXACT;
    }
    /* the next record with a known target offset: a run or a skip whose
     * original is in this target topic */
    while (si < p->nskips && (p->skips[si].origin < 0 || p->skips[si].start <= src))
        si++;
    const om_run *nr = lo < p->nruns ? &p->runs[lo] : NULL;
    const om_skip *ns = si < p->nskips ? &p->skips[si] : NULL;
    if (!nr && !ns)
        return OM_NOT_YET;
    if (nr && (!ns || nr->src < ns->start)) {
        *next_src = nr->src;
        *tgt = nr->tgt;
    } else {
        *next_src = ns->start;
        *tgt = ns->origin;
    }
    int below = lo == 0 && (!p->nskips || p->skips[0].start > src);
    if (below)
        return in_gap(p, src) ? OM_GAP : OM_BELOW;
    return in_gap(p, src) ? OM_GAP : OM_HOLE;
}

int om_key_run(char *buf, size_t len, const om_part *p, const om_run *r) {
    int n = snprintf(buf, len, "R %s %s %d %lld", p->src_topic, p->tgt_topic, (int)p->partition,
                     (long long)r->src);
    return n < 0 || (size_t)n >= len ? -1 : n;
}

int om_val_run(char *buf, size_t len, const om_run *r) {
    int n = snprintf(buf, len, "%lld %lld", (long long)r->tgt, (long long)r->len);
    return n < 0 || (size_t)n >= len ? -1 : n;
}

int om_key_gap(char *buf, size_t len, const om_part *p, const om_gap *g) {
    int n = snprintf(buf, len, "G %s %s %d %lld", p->src_topic, p->tgt_topic, (int)p->partition,
                     (long long)g->start);
    return n < 0 || (size_t)n >= len ? -1 : n;
}

int om_val_gap(char *buf, size_t len, const om_gap *g) {
    int n = snprintf(buf, len, "%lld", (long long)g->end);
    return n < 0 || (size_t)n >= len ? -1 : n;
}

int om_key_skip(char *buf, size_t len, const om_part *p, const om_skip *s) {
    int n = snprintf(buf, len, "L %s %s %d %lld", p->src_topic, p->tgt_topic, (int)p->partition,
                     (long long)s->start);
    return n < 0 || (size_t)n >= len ? -1 : n;
}

int om_val_skip(char *buf, size_t len, const om_skip *s) {
    int n = snprintf(buf, len, "%lld %lld", (long long)s->end, (long long)s->origin);
    return n < 0 || (size_t)n >= len ? -1 : n;
}

int om_key_end(char *buf, size_t len, const om_part *p) {
    int n = snprintf(buf, len, "E %s %s %d", p->src_topic, p->tgt_topic, (int)p->partition);
    return n < 0 || (size_t)n >= len ? -1 : n;
}

int om_key_baseline(char *buf, size_t len, const om_part *p) {
    int n = snprintf(buf, len, "B %s %s %d", p->src_topic, p->tgt_topic, (int)p->partition);
    return n < 0 || (size_t)n >= len ? -1 : n;
}

/* Splits s (NUL-terminated, modified) on single spaces into at most max fields. */
static int split(char *s, char **f, int max) {
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(s, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        if (n == max)
            return -1;
        f[n++] = t;
    }
    return n;
}

int offmap_apply(offmap *m, const char *key, size_t keylen, const char *val, size_t vallen) {
    /* key[0] != 0: strchr would match the terminator. */
    if (keylen < 2 || !key[0] || !strchr("RGLBE", key[0]) || key[1] != ' ')
        return 1;
    char kb[1024], vb[128];
    if (keylen >= sizeof(kb) || !val || vallen >= sizeof(vb))
        return -1;
    memcpy(kb, key, keylen);
    kb[keylen] = 0;
    memcpy(vb, val, vallen);
    vb[vallen] = 0;
    char *kf[6], *vf[3];
    int64_t part, start = 0, a, b = 0;
    int nv = split(vb, vf, 3);
    int nk = split(kb, kf, 6);
    int is_base = kf[0][0] == 'B' || kf[0][0] == 'E';
    if (nk != (is_base ? 4 : 5) || kf_parse_i64(kf[3], 0, INT32_MAX, &part) ||
        (!is_base && kf_parse_i64(kf[4], 0, INT64_MAX, &start)) || nv < 1 ||
        kf_parse_i64(vf[0], 0, INT64_MAX, &a))
        return -1;
    om_part *p = offmap_get(m, kf[1], kf[2], (int32_t)part, 1);
    if (!p)
        return -1;
    switch (kf[0][0]) {
    case 'B':
        if (nv != 1)
            return -1;
        p->baseline = a;
        return 0;
    case 'E':
        if (nv != 1)
            return -1;
        if (a > p->src_end)
            p->src_end = a;
        return 0;
    case 'G': return nv == 1 ? om_put_gap(p, start, a) : -1;
    case 'L':
        if (nv != 2 || kf_parse_i64(vf[1], -1, INT64_MAX, &b))
            return -1;
        return om_put_skip(p, start, a, b);
    default: break;
    }
    if (nv != 2 || kf_parse_i64(vf[1], 1, INT64_MAX, &b))
        return -1;
    return om_put_run(p, start, a, b);
}
