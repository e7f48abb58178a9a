/*
 * fuzz_offmap.c - libFuzzer harness for kferry's offset-map records
 * (src/mirror/offmap.c offmap_apply), the text records mapstore.c reads
 * back from the map topic at start-up: anything can have been written to
 * that topic, so its records are hostile input.
 *
 * The input is a list of records: [u8 key length][key][u8 value length]
 * [value], repeated; a value length of 255 is a null value.  Oracles: for
 * every partition whose map passes om_check, the lookups stay in range and
 * re-encoding the map with the om_key_* / om_val_* writers and applying
 * those records to a fresh map gives the same runs, gaps, skips, baseline
 * and source end.
 */
#include "mirror/offmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put(offmap *m, const char *k, int kl, const char *v, int vl) {
    if (kl <= 0 || vl < 0 || offmap_apply(m, k, (size_t)kl, v, (size_t)vl) != 0)
        abort(); /* our own encoding must apply */
}

static void reencode(const om_part *p, offmap *m) {
    char k[1200], v[128];
    for (size_t i = 0; i < p->nruns; i++)
        put(m, k, om_key_run(k, sizeof(k), p, &p->runs[i]), v,
            om_val_run(v, sizeof(v), &p->runs[i]));
    for (size_t i = 0; i < p->ngaps; i++)
        put(m, k, om_key_gap(k, sizeof(k), p, &p->gaps[i]), v,
            om_val_gap(v, sizeof(v), &p->gaps[i]));
    for (size_t i = 0; i < p->nskips; i++)
        put(m, k, om_key_skip(k, sizeof(k), p, &p->skips[i]), v,
            om_val_skip(v, sizeof(v), &p->skips[i]));
    if (p->baseline >= 0) {
        int kl = om_key_baseline(k, sizeof(k), p);
        int vl = snprintf(v, sizeof(v), "%lld", (long long)p->baseline);
        put(m, k, kl, v, vl);
    }
    if (p->src_end >= 0) {
        int kl = om_key_end(k, sizeof(k), p);
        int vl = snprintf(v, sizeof(v), "%lld", (long long)p->src_end);
        put(m, k, kl, v, vl);
    }
}

static int same(const om_part *a, const om_part *b) {
    return a->nruns == b->nruns && a->ngaps == b->ngaps && a->nskips == b->nskips &&
           a->baseline == b->baseline && a->src_end == b->src_end &&
           (a->nruns == 0 || memcmp(a->runs, b->runs, a->nruns * sizeof(*a->runs)) == 0) &&
           (a->ngaps == 0 || memcmp(a->gaps, b->gaps, a->ngaps * sizeof(*a->gaps)) == 0) &&
           (a->nskips == 0 || memcmp(a->skips, b->skips, a->nskips * sizeof(*a->skips)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    offmap m;
    offmap_init(&m);
    size_t pos = 0;
    while (pos < size) {
        size_t kl = data[pos++];
        if (kl > size - pos)
            break;
        const char *key = (const char *)data + pos;
        pos += kl;
        if (pos >= size)
            break;
        size_t vl = data[pos++];
        const char *val = NULL;
        if (vl != 255) {
            if (vl > size - pos)
                break;
            val = (const char *)data + pos;
            pos += vl;
        } else {
            vl = 0;
        }
        (void)offmap_apply(&m, key, kl, val, vl);
    }
    for (size_t i = 0; i < m.n; i++) {
        const om_part *p = m.parts[i];
        if (om_check(p) != 0)
            continue; /* mapstore refuses such a map */
        int64_t next = om_src_next(p);
        (void)om_tgt_next(p);
        (void)om_tgt_end(p);
        (void)om_tgt_write_pos(p);
        for (size_t r = 0; r < p->nruns; r++) {
            int64_t tgt = -1, nsrc = -1;
            const om_run *run = &p->runs[r];
            int rc = om_lookup(p, run->src, &tgt, &nsrc);
            if (rc == OM_EXACT && (tgt < 0 || (next >= 0 && run->src >= next)))
                abort();
            (void)om_lookup(p, run->src + run->len - 1, &tgt, &nsrc);
            (void)om_lookup(p, run->src + run->len, &tgt, &nsrc);
        }
        offmap fresh;
        offmap_init(&fresh);
        reencode(p, &fresh);
        const om_part *q = offmap_get(&fresh, p->src_topic, p->tgt_topic, p->partition, 0);
        if (p->nruns + p->ngaps + p->nskips > 0 || p->baseline >= 0 || p->src_end >= 0) {
            if (!q || !same(p, q))
                abort();
        }
        offmap_free(&fresh);
    }
    offmap_free(&m);
    return 0;
}
