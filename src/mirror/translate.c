/*
 * translate.c - committed-offset translation (see translate.h).
 *
 * Same answers as `kferry offsets translate` (docs/MIRROR.md) for a mapped
 * partition; in addition it decides the "nothing mapped" case and counts
 * foreign target records, which only matter when a group is moved.
 */
#include "mirror/translate.h"

#include <stddef.h>

const char *tr_status_name(int status) {
    static const char *names[] = {"exact", "hole", "gap", "below", "end", "waiting"};
    return status >= 0 && status <= TR_WAIT ? names[status] : "unknown";
}

int64_t tr_foreign_below(const om_part *p, int64_t tgt) {
    int64_t n = 0;
    if (!p)
        return 0;
    for (size_t i = 1; i < p->nruns; i++) {
        int64_t from = p->runs[i - 1].tgt + p->runs[i - 1].len, to = p->runs[i].tgt;
        if (from >= tgt)
            break;
        if (to > tgt)
            to = tgt;
        if (to > from)
            n += to - from - om_origin_covered(p, from, to); /* rollback: originals */
    }
    return n;
}

void tr_translate(const om_part *p, int64_t c, int64_t src_lo, int64_t tgt_lo, int64_t tgt_hi,
                  tr_result *r) {
    r->status = TR_WAIT;
    r->tgt = -1;
    r->next_src = -1;
    r->below_start = src_lo >= 0 && c < src_lo;
    r->map_end = p ? om_src_next(p) : -1;
    r->foreign = 0;
    if (!p || (!p->nruns && !p->nskips && p->src_end < 0)) {
        /* Nothing mirrored: exact only if no source record exists before c
         * and nothing was written where this flow starts writing (the log
         * start, or the baseline of a reverse flow), so that the first
         * record the mirror writes is the first one at or after c. */
        int64_t base = p && p->baseline >= 0 ? p->baseline : tgt_lo;
        if (src_lo >= 0 && c <= src_lo && base >= 0 && tgt_hi == base) {
            r->status = TR_END;
            r->tgt = tgt_hi;
            r->next_src = c > src_lo ? c : src_lo;
        }
        return;
    }
    int64_t tgt = -1, next = -1;
    switch (om_lookup(p, c, &tgt, &next)) {
    case OM_EXACT: r->status = TR_EXACT; break;
    case OM_HOLE: r->status = TR_HOLE; break;
    case OM_GAP: r->status = TR_GAP; break;
    case OM_BELOW: r->status = TR_BELOW; break;
    default:
        /* past the last run: a recorded trailing gap, the mirror's exact
         * position, or not mirrored yet */
        if (c < r->map_end)
            r->status = TR_GAP;
        else if (c == r->map_end)
            r->status = TR_END;
        else
            return;
        tgt = om_tgt_end(p); /* after a trailing skip: after its original */
        next = r->map_end;
        if (tgt < 0) {
            r->status = TR_WAIT;
            return;
        }
        break;
    }
    r->tgt = tgt;
    r->next_src = next;
    r->foreign = tr_foreign_below(p, tgt);
}
