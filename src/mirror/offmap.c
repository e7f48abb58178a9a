/*
 * offmap.c - offset-map runs, lookup and text encoding (see offmap.h).
 *
 * Appends are O(1) (extend the last run or start a new one); lookups are a
 * binary search over runs.  Nothing here talks to Kafka.
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

int64_t om_src_next(const om_part *p) {
    int64_t next = -1;
    if (p->nruns) {
        const om_run *r = &p->runs[p->nruns - 1];
        next = r->src + r->len;
    }
    for (size_t i = 0; i < p->ngaps; i++)
        if (p->gaps[i].end > next)
            next = p->gaps[i].end;
    return next;
}

int64_t om_tgt_next(const om_part *p) {
    if (!p->nruns)
        return -1;
    const om_run *r = &p->runs[p->nruns - 1];
    return r->tgt + r->len;
}

int om_append(om_part *p, int64_t src, int64_t tgt) {
    /* Gaps are not checked: a gap is recorded when the consumer hits it,
     * possibly before the deliveries of earlier records come back. */
    if (src < 0 || tgt < 0)
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
    return 0;
}

static const om_gap *in_gap(const om_part *p, int64_t src) {
    for (size_t i = 0; i < p->ngaps; i++)
        if (src >= p->gaps[i].start && src < p->gaps[i].end)
            return &p->gaps[i];
    return NULL;
}

int om_lookup(const om_part *p, int64_t src, int64_t *tgt, int64_t *next_src) {
    if (!p || !p->nruns)
        return OM_EMPTY;
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
    if (lo == p->nruns)
        return OM_NOT_YET;
    *next_src = p->runs[lo].src;
    *tgt = p->runs[lo].tgt;
    if (lo == 0)
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
    if (keylen < 2 || (key[0] != 'R' && key[0] != 'G') || key[1] != ' ')
        return 1;
    char kb[1024], vb[128];
    if (keylen >= sizeof(kb) || !val || vallen >= sizeof(vb))
        return -1;
    memcpy(kb, key, keylen);
    kb[keylen] = 0;
    memcpy(vb, val, vallen);
    vb[vallen] = 0;
    char *kf[6], *vf[3];
    int64_t part, start, a, b = 0;
    int nv = split(vb, vf, 3);
    if (split(kb, kf, 6) != 5 || kf_parse_i64(kf[3], 0, INT32_MAX, &part) ||
        kf_parse_i64(kf[4], 0, INT64_MAX, &start) || nv < 1 ||
        kf_parse_i64(vf[0], 0, INT64_MAX, &a))
        return -1;
    om_part *p = offmap_get(m, kf[1], kf[2], (int32_t)part, 1);
    if (!p)
        return -1;
    if (kf[0][0] == 'G')
        return nv == 1 ? om_put_gap(p, start, a) : -1;
    if (nv != 2 || kf_parse_i64(vf[1], 1, INT64_MAX, &b))
        return -1;
    return om_put_run(p, start, a, b);
}
