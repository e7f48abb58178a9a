/*
 * inverse.c - the opposite flow's map, read from this flow's source (see
 * inverse.h).
 *
 * The opposite flow (target -> source) maps its source offsets (on this
 * flow's target) to the offsets it wrote on this flow's source, so its runs
 * say exactly which records of ours are its copies, with no need to mark
 * records.  Only its persisted map counts: inv_check_stopped refuses an
 * opposite flow that may have written records it has not mapped yet.
 */
#include "mirror/inverse.h"
#include "mirror/retry.h"

#include "common/util.h"
#include "mirror/mapstore.h"
#include "mirror/topics.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void inv_init(inv_map *im) {
    memset(im, 0, sizeof(*im));
    offmap_init(&im->m);
    im->hwm = -1;
    im->pos = -1;
}

void inv_free(inv_map *im) { offmap_free(&im->m); }

int64_t inv_hwm(const mirror_config *c, rd_kafka_t *src_reader) {
    int np = topics_partition_count(src_reader, c->opposite_map_topic, 10000);
    if (np == -2)
        return -2;
    if (np <= 0)
        return -1;
    int64_t lo = 0, hi = 0;
    if (retry_watermarks(src_reader, c->opposite_map_topic, 0, &lo, &hi, 10000))
        return -2;
    return hi;
}

int inv_update(const mirror_config *c, rd_kafka_t *src_reader, inv_map *im, char *err,
               size_t errlen) {
    int64_t hwm = inv_hwm(c, src_reader);
    if (hwm == -2) {
        snprintf(err, errlen, "cannot read metadata of %s on the source", c->opposite_map_topic);
        return -1;
    }
    if (mapstore_load_more(src_reader, c->opposite_map_topic, &im->m, &im->pos, &im->found,
                           im->status, sizeof(im->status), err, errlen))
        return -1;
    im->hwm = im->found ? im->pos : -1;
    return 0;
}

int inv_load(const mirror_config *c, rd_kafka_t *src_reader, inv_map *im, char *err,
             size_t errlen) {
    offmap_free(&im->m);
    offmap_init(&im->m);
    im->status[0] = 0;
    im->pos = -1;
    return inv_update(c, src_reader, im, err, errlen);
}

/* Reads a boolean field of the opposite flow's status record (JSON).
 * Returns 1/0, or dflt when the record or the field is missing. */
static int status_bool(const char *status, const char *field, int dflt) {
    json_t *root = status[0] ? json_loads(status, 0, NULL) : NULL;
    json_t *v = root ? json_object_get(root, field) : NULL;
    int r = json_is_boolean(v) ? json_is_true(v) : dflt;
    json_decref(root);
    return r;
}

int inv_status_clean(const char *status) {
    return !status_bool(status, "running", 0) && status_bool(status, "clean", 1);
}

int inv_relevant(const mirror_config *c, const om_part *op) {
    const char *why;
    if (mc_topic_selected(c, op->tgt_topic, &why))
        return 1; /* we would read what it writes */
    /* we would write what it reads: op->src_topic is one of our targets */
    if (c->policy == MC_POLICY_IDENTITY)
        return mc_topic_selected(c, op->src_topic, &why);
    size_t al = strlen(c->src.alias), sl = strlen(c->separator);
    return !strncmp(op->src_topic, c->src.alias, al) &&
           !strncmp(op->src_topic + al, c->separator, sl) &&
           mc_topic_selected(c, op->src_topic + al + sl, &why);
}

int inv_check_stopped(const inv_map *im, const mirror_config *c, char *why, size_t whylen) {
    size_t runs = 0, relevant = 0;
    for (size_t i = 0; i < im->m.n; i++) {
        runs += im->m.parts[i]->nruns;
        relevant += inv_relevant(c, im->m.parts[i]);
    }
    if (!im->found || (!im->status[0] && !runs) || inv_status_clean(im->status))
        return 0; /* never ran, or stopped cleanly */
    /* running or killed: harmless only if it provably works on other
     * topics (an opposite flow with no partition yet could be about to
     * take ours) */
    if (im->m.n && !relevant)
        return 0;
    if (!im->status[0])
        snprintf(why, whylen, "it never reported a stop (killed before its first status record?)");
    else if (status_bool(im->status, "running", 0))
        snprintf(why, whylen,
                 "its last status record says it is running (or it was killed): it may have "
                 "written records its map does not hold yet");
    else
        snprintf(why, whylen, "it stopped with records in flight that its map does not hold");
    return -1;
}

int inv_fully_mapped(const inv_map *im, const mirror_config *c, rd_kafka_t *tgt_rk, char *why,
                     size_t whylen) {
    for (size_t i = 0; i < im->m.n; i++) {
        const om_part *op = im->m.parts[i];
        if (!inv_relevant(c, op))
            continue;
        int64_t lo = 0, hi = 0, next = om_src_next(op);
        if (retry_watermarks(tgt_rk, op->src_topic, op->partition, &lo, &hi, 10000)) {
            snprintf(why, whylen, "cannot read the end of %s/%d", op->src_topic,
                     (int)op->partition);
            return 0;
        }
        /* every record it could still have copied is below its map's end */
        if (next < hi && hi > lo) {
            snprintf(why, whylen,
                     "its map covers %s/%d only below offset %lld but the partition ends at "
                     "%lld: records it copied before it died may be unmapped",
                     op->src_topic, (int)op->partition, (long long)next, (long long)hi);
            return 0;
        }
    }
    return 1;
}

static int cmp_range(const void *a, const void *b) {
    const inv_range *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static int push(inv_range **v, size_t *n, size_t *cap, inv_range r) {
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        inv_range *nv = realloc(*v, nc * sizeof(*nv));
        if (!nv)
            return -1;
        *v = nv;
        *cap = nc;
    }
    (*v)[(*n)++] = r;
    return 0;
}

int inv_loop_ranges(const inv_map *im, const char *src_topic, const char *tgt_topic,
                    int32_t partition, inv_range **out, size_t *n) {
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    for (size_t i = 0; i < im->m.n; i++) {
        const om_part *op = im->m.parts[i];
        if (op->partition != partition || strcmp(op->tgt_topic, src_topic) != 0)
            continue;
        /* the originals are in our target partition only when the opposite
         * flow read this very topic (identity policy both ways) */
        int same = !strcmp(op->src_topic, tgt_topic);
        for (size_t r = 0; r < op->nruns; r++) {
            const om_run *run = &op->runs[r];
            inv_range x = {run->tgt, run->tgt + run->len, same ? run->src : -1};
            if (push(out, n, &cap, x)) {
                free(*out);
                *out = NULL;
                *n = 0;
                return -1;
            }
        }
    }
    if (*n > 1)
        qsort(*out, *n, sizeof(**out), cmp_range);
    return 0;
}

int inv_foreign_ranges(const inv_map *im, const char *tgt_topic, int32_t partition, inv_range **out,
                       size_t *n) {
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    for (size_t i = 0; i < im->m.n; i++) {
        const om_part *op = im->m.parts[i];
        if (op->partition != partition || strcmp(op->src_topic, tgt_topic) != 0)
            continue;
        for (size_t r = 0; r < op->nruns; r++) {
            const om_run *run = &op->runs[r];
            if (push(out, n, &cap, (inv_range){run->src, run->src + run->len, -1})) {
                free(*out);
                *out = NULL;
                *n = 0;
                return -1;
            }
        }
    }
    if (*n > 1)
        qsort(*out, *n, sizeof(**out), cmp_range);
    return 0;
}

int64_t inv_mapped_total(const inv_map *im, const mirror_config *c) {
    int64_t n = 0;
    for (size_t i = 0; i < im->m.n; i++)
        for (size_t r = 0; inv_relevant(c, im->m.parts[i]) && r < im->m.parts[i]->nruns; r++)
            n += im->m.parts[i]->runs[r].len;
    return n;
}

int64_t inv_count_in(const inv_range *r, size_t n, int64_t from, int64_t to) {
    int64_t c = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t a = r[i].start > from ? r[i].start : from;
        int64_t b = r[i].end < to ? r[i].end : to;
        if (b > a)
            c += b - a;
    }
    return c;
}

int64_t inv_origin(const inv_map *im, const char *topic, int32_t partition, int64_t off,
                   const char **origin_topic) {
    for (size_t i = 0; i < im->m.n; i++) {
        const om_part *op = im->m.parts[i];
        if (op->partition != partition || strcmp(op->tgt_topic, topic) != 0)
            continue;
        /* runs are increasing in target offsets too: binary search */
        size_t lo = 0, hi = op->nruns;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (op->runs[mid].tgt <= off)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo > 0 && off < op->runs[lo - 1].tgt + op->runs[lo - 1].len) {
            if (origin_topic)
                *origin_topic = op->src_topic;
            return op->runs[lo - 1].src + (off - op->runs[lo - 1].tgt);
        }
    }
    return -1;
}
