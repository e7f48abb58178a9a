/*
 * test_offmap.c - unit tests of the offset map: runs, holes, gaps, lookup
 * answers and the stored encoding (no Kafka needed).
 *
 * Holes from compaction and transaction markers cannot be produced on
 * kferry-broker yet, so the run logic they rely on is exercised here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mirror/mirror.h"
#include "mirror/offmap.h"

#include <string.h>

static void test_runs_and_lookup(void **state) {
    offmap m;
    offmap_init(&m);
    om_part *p = offmap_get(&m, "t", "a.t", 3, 1);
    assert_non_null(p);
    assert_int_equal(om_lookup(p, 0, &(int64_t){0}, &(int64_t){0}), OM_EMPTY);
    /* source starts at 100 (log start), a compaction hole at 105..109, a
     * transaction marker at 112 */
    int64_t src[] = {100, 101, 102, 103, 104, 110, 111, 113, 114};
    for (int i = 0; i < 9; i++)
        assert_int_equal(om_append(p, src[i], i), 0);
    assert_int_equal(p->nruns, 3);
    assert_int_equal(om_check(p), 0);
    int64_t tgt, next;
    assert_int_equal(om_lookup(p, 100, &tgt, &next), OM_EXACT);
    assert_int_equal(tgt, 0);
    assert_int_equal(om_lookup(p, 111, &tgt, &next), OM_EXACT);
    assert_int_equal(tgt, 6);
    assert_int_equal(om_lookup(p, 114, &tgt, &next), OM_EXACT);
    assert_int_equal(tgt, 8);
    assert_int_equal(om_lookup(p, 107, &tgt, &next), OM_HOLE);
    assert_int_equal(next, 110);
    assert_int_equal(tgt, 5);
    assert_int_equal(om_lookup(p, 112, &tgt, &next), OM_HOLE);
    assert_int_equal(next, 113);
    assert_int_equal(tgt, 7);
    assert_int_equal(om_lookup(p, 99, &tgt, &next), OM_BELOW);
    assert_int_equal(next, 100);
    assert_int_equal(om_lookup(p, 115, &tgt, &next), OM_NOT_YET);
    assert_int_equal(om_src_next(p), 115);
    assert_int_equal(om_tgt_next(p), 9);
    /* never backwards, never the same offset twice */
    assert_int_equal(om_append(p, 114, 9), -1);
    assert_int_equal(om_append(p, 120, 8), -1);
    assert_int_equal(p->nruns, 3);
    /* a target jump (another writer was there) starts a run too */
    assert_int_equal(om_append(p, 115, 20), 0);
    assert_int_equal(p->nruns, 4);
    offmap_free(&m);
}

static void test_gaps(void **state) {
    offmap m;
    offmap_init(&m);
    om_part *p = offmap_get(&m, "t", "t", 0, 1);
    for (int i = 0; i < 10; i++)
        assert_int_equal(om_append(p, i, i), 0);
    assert_int_equal(om_put_gap(p, 10, 50), 0);
    assert_int_equal(om_src_next(p), 50);
    int64_t tgt, next;
    assert_int_equal(om_lookup(p, 20, &tgt, &next), OM_NOT_YET); /* caller checks src_next */
    assert_int_equal(om_append(p, 50, 10), 0);
    assert_int_equal(om_lookup(p, 20, &tgt, &next), OM_GAP);
    assert_int_equal(next, 50);
    assert_int_equal(tgt, 10);
    offmap_free(&m);
}

static void test_encoding_roundtrip(void **state) {
    offmap a, b;
    offmap_init(&a);
    offmap_init(&b);
    om_part *p = offmap_get(&a, "orders", "src.orders", 7, 1);
    for (int i = 0; i < 5; i++)
        om_append(p, 1000 + i, i);
    for (int i = 0; i < 5; i++)
        om_append(p, 2000 + i, 5 + i);
    om_put_gap(p, 1005, 1500);
    char k[256], v[64];
    /* an older, shorter version of the first run is superseded by the later one */
    om_run old = {1000, 0, 2};
    int kl = om_key_run(k, sizeof(k), p, &old), vl = om_val_run(v, sizeof(v), &old);
    assert_int_equal(offmap_apply(&b, k, (size_t)kl, v, (size_t)vl), 0);
    for (size_t i = 0; i < p->nruns; i++) {
        kl = om_key_run(k, sizeof(k), p, &p->runs[i]);
        vl = om_val_run(v, sizeof(v), &p->runs[i]);
        assert_true(kl > 0 && vl > 0);
        assert_int_equal(offmap_apply(&b, k, (size_t)kl, v, (size_t)vl), 0);
    }
    kl = om_key_gap(k, sizeof(k), p, &p->gaps[0]);
    vl = om_val_gap(v, sizeof(v), &p->gaps[0]);
    assert_int_equal(offmap_apply(&b, k, (size_t)kl, v, (size_t)vl), 0);
    assert_string_equal(k, "G orders src.orders 7 1005");
    om_part *q = offmap_get(&b, "orders", "src.orders", 7, 0);
    assert_non_null(q);
    assert_int_equal(q->nruns, 2);
    assert_memory_equal(q->runs, p->runs, 2 * sizeof(om_run));
    assert_int_equal(q->ngaps, 1);
    assert_int_equal(q->gaps[0].end, 1500);
    /* not map records, or garbage */
    assert_int_equal(offmap_apply(&b, "S a->b", 6, "{}", 2), 1);
    assert_int_equal(offmap_apply(&b, "R x", 3, "1 2", 3), -1);
    assert_int_equal(offmap_apply(&b, "R t t 0 5", 9, "1 0", 3), -1);
    assert_int_equal(offmap_apply(&b, "R t t 0 5", 9, "-1 3", 4), -1);
    offmap_free(&a);
    offmap_free(&b);
}

static void test_dirty_tracking(void **state) {
    offmap m;
    offmap_init(&m);
    om_part *p = offmap_get(&m, "t", "t", 0, 1);
    om_append(p, 0, 0);
    om_append(p, 1, 1);
    assert_int_equal(p->runs_dirty, 0);
    p->runs_dirty = p->nruns; /* persisted */
    om_append(p, 2, 2);       /* extends the last run: it must be rewritten */
    assert_int_equal(p->runs_dirty, 0);
    p->runs_dirty = p->nruns;
    om_append(p, 10, 3);
    assert_int_equal(p->runs_dirty, 1);
    offmap_free(&m);
}

static void test_hash_null_vs_empty(void **state) {
    assert_true(reconcile_hash(NULL, 0, NULL, 0) != reconcile_hash("", 0, NULL, 0));
    assert_true(reconcile_hash(NULL, 0, "", 0) != reconcile_hash(NULL, 0, NULL, 0));
    assert_true(reconcile_hash("ab", 2, "c", 1) != reconcile_hash("a", 1, "bc", 2));
    assert_true(reconcile_hash("k", 1, "v", 1) == reconcile_hash("k", 1, "v", 1));
}

/* Loop prevention: skipped stretches translate to their originals, holes
 * lead to the next record with a target offset, the "end" follows a
 * trailing skip, and L/B records round-trip through storage. */
static void test_skips_and_baseline(void **state) {
    offmap m;
    offmap_init(&m);
    om_part *p = offmap_get(&m, "t", "t", 0, 1);
    assert_int_equal(p->baseline, -1);
    assert_true(om_is_new(p));
    p->baseline = 210;
    assert_false(om_is_new(p));
    assert_int_equal(om_tgt_write_pos(p), 210);
    /* source 0..199 are copies of target 10..209, then our own records */
    assert_int_equal(om_add_skip(p, 0, 150, 10), 0);
    assert_int_equal(om_add_skip(p, 150, 200, 160), 0); /* contiguous: extended */
    assert_int_equal(p->nskips, 1);
    assert_int_equal(om_tgt_end(p), 210);
    for (int64_t s = 200; s < 300; s++)
        assert_int_equal(om_append(p, s, 210 + (s - 200)), 0);
    assert_int_equal(om_add_skip(p, 250, 260, 0), -1); /* overlaps a run */
    assert_int_equal(om_add_skip(p, 300, 310, 400), 0);
    assert_int_equal(om_add_skip(p, 312, 320, -1), 0); /* another topic's copies */
    assert_int_equal(om_check(p), 0);
    int64_t tgt = -1, next = -1;
    assert_int_equal(om_lookup(p, 5, &tgt, &next), OM_EXACT);
    assert_int_equal(tgt, 15);
    assert_non_null(om_find_skip(p, 5));
    assert_null(om_find_skip(p, 200));
    assert_int_equal(om_lookup(p, 200, &tgt, &next), OM_EXACT);
    assert_int_equal(tgt, 210);
    assert_int_equal(om_lookup(p, 305, &tgt, &next), OM_EXACT);
    assert_int_equal(tgt, 405);
    assert_int_equal(om_lookup(p, 311, &tgt, &next), OM_NOT_YET); /* no later record */
    assert_int_equal(om_src_next(p), 320);
    assert_int_equal(om_tgt_next(p), 310);
    assert_int_equal(om_tgt_end(p), 410); /* after the last original in this topic */
    assert_int_equal(om_origin_covered(p, 0, 1000), 200 + 10);
    assert_int_equal(om_origin_covered(p, 100, 405), 110 + 5);

    /* storage round trip */
    char k[256], v[64];
    offmap m2;
    offmap_init(&m2);
    for (size_t i = 0; i < p->nskips; i++) {
        int kl = om_key_skip(k, sizeof(k), p, &p->skips[i]);
        int vl = om_val_skip(v, sizeof(v), &p->skips[i]);
        assert_int_equal(offmap_apply(&m2, k, (size_t)kl, v, (size_t)vl), 0);
    }
    int kl = om_key_baseline(k, sizeof(k), p);
    assert_string_equal(k, "B t t 0");
    assert_int_equal(offmap_apply(&m2, k, (size_t)kl, "210", 3), 0);
    om_part *q = offmap_get(&m2, "t", "t", 0, 0);
    assert_non_null(q);
    assert_int_equal(q->baseline, 210);
    assert_int_equal(q->nskips, 3);
    assert_int_equal(q->skips[2].origin, -1);
    assert_int_equal(q->skips[0].end, 200);
    assert_int_equal(offmap_apply(&m2, "L t t 0 5", 9, "4 1", 3), -1); /* end <= start */
    assert_int_equal(offmap_apply(&m2, "B t t", 5, "1", 1), -1);
    /* a map with only skips still answers (rollback before producers moved) */
    om_part *s = offmap_get(&m2, "u", "u", 0, 1);
    om_add_skip(s, 0, 50, 100);
    assert_int_equal(om_lookup(s, 60, &tgt, &next), OM_NOT_YET);
    assert_int_equal(om_src_next(s), 50);
    assert_int_equal(om_tgt_end(s), 150);
    offmap_free(&m2);
    offmap_free(&m);
}

/* The consumer's position past the last record (transaction markers,
 * aborted or compacted records at the end): a hole up to it, the end at it. */
static void test_source_end(void **state) {
    (void)state;
    offmap m, b;
    offmap_init(&m);
    offmap_init(&b);
    om_part *p = offmap_get(&m, "t", "d.t", 0, 1);
    for (int i = 0; i < 5; i++)
        assert_int_equal(om_append(p, i, i), 0);
    assert_int_equal(om_set_end(p, 5), 0); /* not past the last record: nothing */
    assert_false(p->end_dirty);
    assert_int_equal(om_set_end(p, 7), 0); /* 5: aborted record, 6: abort marker */
    assert_true(p->end_dirty);
    assert_int_equal(om_src_next(p), 7);
    int64_t tgt = -1, next = -1;
    assert_int_equal(om_lookup(p, 6, &tgt, &next), OM_HOLE);
    assert_int_equal(tgt, 5);
    assert_int_equal(next, 7);
    assert_int_equal(om_lookup(p, 7, &tgt, &next), OM_NOT_YET); /* the end: caller decides */
    assert_int_equal(om_set_end(p, 6), -1);                     /* never backwards */
    assert_int_equal(om_append(p, 6, 5), -1);                   /* nothing there */
    char k[256];
    int kl = om_key_end(k, sizeof(k), p);
    assert_string_equal(k, "E t d.t 0");
    assert_int_equal(offmap_apply(&b, k, (size_t)kl, "7", 1), 0);
    om_part *q = offmap_get(&b, "t", "d.t", 0, 1);
    assert_int_equal(q->src_end, 7);
    assert_false(om_is_new(q));
    /* the next record after the hole: a new run; the end is then stale */
    assert_int_equal(om_append(p, 8, 5), 0);
    assert_int_equal(om_src_next(p), 9);
    assert_int_equal(om_lookup(p, 6, &tgt, &next), OM_HOLE);
    assert_int_equal(next, 8);
    assert_int_equal(tgt, 5);
    assert_int_equal(om_lookup(p, 8, &tgt, &next), OM_EXACT);
    assert_int_equal(tgt, 5);
    /* only aborted data so far: no run, a baseline, an end */
    om_part *e = offmap_get(&m, "t", "d.t", 1, 1);
    e->baseline = 3;
    assert_int_equal(om_set_end(e, 4), 0);
    assert_int_equal(om_lookup(e, 2, &tgt, &next), OM_HOLE);
    assert_int_equal(tgt, 3);
    assert_int_equal(next, 4);
    offmap_free(&m);
    offmap_free(&b);
}

/* Found by fuzz_offmap: a key starting with a NUL byte passed the record
 * type check (strchr matches the terminator) and read an unset field. */
static void test_apply_rejects_nul_type(void **st) {
    (void)st;
    offmap m;
    offmap_init(&m);
    static const char key[] = "\0 a b 0 0";
    assert_int_equal(offmap_apply(&m, key, sizeof(key) - 1, "1 1", 3), 1);
    assert_int_equal(m.n, 0);
    offmap_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runs_and_lookup),    cmocka_unit_test(test_gaps),
        cmocka_unit_test(test_encoding_roundtrip), cmocka_unit_test(test_dirty_tracking),
        cmocka_unit_test(test_hash_null_vs_empty), cmocka_unit_test(test_skips_and_baseline),
        cmocka_unit_test(test_source_end),         cmocka_unit_test(test_apply_rejects_nul_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
