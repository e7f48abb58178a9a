/*
 * test_verify_merge.c - unit tests of `kferry verify`'s pairing: planning
 * from the offset map and log ranges, and the merge of the two streams in
 * every arrival order (source first, target first, interleaved).
 *
 * Holes, compaction and unmapped target tails are hard to produce on
 * kferry-broker, so their pairing is exercised here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mirror/offmap.h"
#include "migrate/verify_merge.h"

#include <stdlib.h>
#include <string.h>

typedef struct rec {
    int64_t off;
    int id; /* stands for the record's content */
} rec;

static vpart *new_part(om_part *map, int64_t slo, int64_t shi, int64_t tlo, int64_t thi) {
    vpart *p = calloc(1, sizeof(*p));
    p->topic = "t";
    p->map = map;
    p->max_problems = 10;
    p->target_exists = 1;
    p->side[0].lo = slo;
    p->side[0].hi = shi;
    p->side[1].lo = tlo;
    p->side[1].hi = thi;
    for (int k = 0; k < 2; k++)
        p->side[k].first_cmp = p->side[k].last_cmp = -1;
    verify_plan(p);
    return p;
}

static void free_part(vpart *p) {
    verify_part_free(p);
    free(p);
}

static vrec mk(int64_t off, int id) {
    vrec r;
    memset(&r, 0, sizeof(r));
    r.off = off;
    r.d[0] = (uint8_t)id;
    r.d[1] = (uint8_t)(id >> 8);
    r.crc[1] = (uint32_t)id; /* the value differs when the content does */
    return r;
}

static void feed(vpart *p, int k, const rec *r) {
    if (r->off < p->side[k].start || r->off >= p->side[k].end)
        return;
    vrec v = mk(r->off, r->id);
    if (k == 0) {
        v.exp = verify_expect_target(p, r->off);
        if (v.exp == -2)
            return;
        assert_int_equal(verify_feed_src(p, &v), 0);
    } else {
        v.tail = r->off >= p->tgt_tail;
        assert_int_equal(verify_feed_tgt(p, &v), 0);
    }
}

/* order 0: all source first; 1: all target first; 2: alternating */
static void run(vpart *p, const rec *s, size_t ns, const rec *t, size_t nt, int order) {
    if (order == 0 || order == 1) {
        int first = order == 0 ? 0 : 1;
        const rec *a = first ? t : s, *b = first ? s : t;
        size_t na = first ? nt : ns, nb = first ? ns : nt;
        for (size_t i = 0; i < na; i++)
            feed(p, first, &a[i]);
        verify_side_done(p, first);
        for (size_t i = 0; i < nb; i++)
            feed(p, !first, &b[i]);
        verify_side_done(p, !first);
    } else {
        size_t i = 0, j = 0;
        while (i < ns || j < nt) {
            if (i < ns)
                feed(p, 0, &s[i++]);
            if (i == ns && !p->side[0].done)
                verify_side_done(p, 0);
            if (j < nt)
                feed(p, 1, &t[j++]);
            if (j == nt && !p->side[1].done)
                verify_side_done(p, 1);
        }
        if (!p->side[0].done)
            verify_side_done(p, 0);
        if (!p->side[1].done)
            verify_side_done(p, 1);
    }
    assert_int_equal(p->side[0].ring.n, 0);
    assert_int_equal(p->side[1].ring.n, 0);
}

/* The map of test_offmap: log start 100, a compaction hole at 105..109 and
 * a transaction marker at 112. */
static om_part *holey_map(offmap *m) {
    offmap_init(m);
    om_part *p = offmap_get(m, "t", "a.t", 0, 1);
    int64_t src[] = {100, 101, 102, 103, 104, 110, 111, 113, 114};
    for (int i = 0; i < 9; i++)
        assert_int_equal(om_append(p, src[i], i), 0);
    return p;
}

static const rec HOLEY_SRC[] = {{100, 1}, {101, 2}, {102, 3}, {103, 4}, {104, 5},
                                {110, 6}, {111, 7}, {113, 8}, {114, 9}};
static const rec HOLEY_TGT[] = {{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 5},
                                {5, 6}, {6, 7}, {7, 8}, {8, 9}};

static void test_all_match_through_holes(void **state) {
    offmap m;
    om_part *mp = holey_map(&m);
    for (int order = 0; order < 3; order++) {
        vpart *p = new_part(mp, 100, 115, 0, 9);
        assert_int_equal(p->side[0].start, 100);
        assert_int_equal(p->side[1].start, 0);
        run(p, HOLEY_SRC, 9, HOLEY_TGT, 9, order);
        assert_int_equal(p->compared, 9);
        assert_int_equal(p->matched, 9);
        assert_int_equal(p->mismatched + p->missing + p->extra + p->not_yet, 0);
        assert_int_equal(p->side[0].first_cmp, 100);
        assert_int_equal(p->side[0].last_cmp, 114);
        assert_int_equal(p->side[1].last_cmp, 8);
        free_part(p);
    }
    offmap_free(&m);
}

static void test_mismatch_missing_extra(void **state) {
    offmap m;
    om_part *mp = holey_map(&m);
    /* target: offset 3 altered, offset 6 lost, an extra record at 9 */
    rec tgt[] = {{0, 1}, {1, 2}, {2, 3}, {3, 44}, {4, 5}, {5, 6}, {7, 8}, {8, 9}, {9, 10}};
    for (int order = 0; order < 3; order++) {
        vpart *p = new_part(mp, 100, 115, 0, 10);
        run(p, HOLEY_SRC, 9, tgt, 9, order);
        assert_int_equal(p->matched, 7);
        assert_int_equal(p->mismatched, 1);
        assert_int_equal(p->missing, 1);
        assert_int_equal(p->extra, 0);
        assert_int_equal(p->nproblems, 2);
        assert_int_equal(p->problems[0].kind, VP_MISMATCH);
        assert_int_equal(p->problems[0].src, 103);
        assert_int_equal(p->problems[0].tgt, 3);
        assert_int_equal(p->problems[0].fields, VF_VALUE);
        assert_int_equal(p->problems[1].kind, VP_MISSING);
        assert_int_equal(p->problems[1].src, 111);
        assert_int_equal(p->problems[1].tgt, 6);
        /* past the map with nothing to pair, and no copy of a source
         * record: written on the target directly */
        assert_int_equal(p->written_on_target, 1);
        assert_int_equal(p->written_from, 9);
        free_part(p);
    }
    offmap_free(&m);
}

static void test_extra_between_runs_and_unmapped_source(void **state) {
    offmap m;
    offmap_init(&m);
    om_part *mp = offmap_get(&m, "t", "a.t", 0, 1);
    /* runs (0,0,3) and (3,4,3): target offset 3 was written by someone else */
    for (int i = 0; i < 6; i++)
        assert_int_equal(om_append(mp, i, i < 3 ? i : i + 1), 0);
    rec src[] = {{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 5}, {5, 6}};
    rec tgt[] = {{0, 1}, {1, 2}, {2, 3}, {3, 99}, {4, 4}, {5, 5}, {6, 6}};
    for (int order = 0; order < 3; order++) {
        vpart *p = new_part(mp, 0, 6, 0, 7);
        run(p, src, 6, tgt, 7, order);
        assert_int_equal(p->matched, 6);
        assert_int_equal(p->extra, 1);
        assert_int_equal(p->problems[0].kind, VP_EXTRA);
        assert_int_equal(p->problems[0].tgt, 3);
        free_part(p);
    }
    offmap_free(&m);
    /* a source record in a hole of the map was never copied */
    mp = holey_map(&m);
    rec src2[] = {{100, 1},  {101, 2}, {102, 3}, {103, 4}, {104, 5},
                  {107, 77}, {110, 6}, {111, 7}, {113, 8}, {114, 9}};
    vpart *p = new_part(mp, 100, 115, 0, 9);
    run(p, src2, 10, HOLEY_TGT, 9, 2);
    assert_int_equal(p->matched, 9);
    assert_int_equal(p->missing, 1);
    assert_int_equal(p->problems[0].kind, VP_UNMAPPED);
    assert_int_equal(p->problems[0].src, 107);
    free_part(p);
    offmap_free(&m);
}

static void test_tail_paired_by_position(void **state) {
    offmap m;
    offmap_init(&m);
    om_part *mp = offmap_get(&m, "t", "a.t", 0, 1);
    for (int i = 0; i < 5; i++)
        assert_int_equal(om_append(mp, 10 + i, i), 0);
    /* source 10..19 with a marker at 16; the target holds 3 unmapped records */
    rec src[] = {{10, 1}, {11, 2}, {12, 3}, {13, 4}, {14, 5}, {15, 6}, {17, 7}, {18, 8}, {19, 9}};
    rec tgt[] = {{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 5}, {5, 6}, {6, 7}, {7, 8}};
    for (int order = 0; order < 3; order++) {
        vpart *p = new_part(mp, 10, 20, 0, 8);
        assert_int_equal(p->src_tail, 15);
        assert_int_equal(p->tgt_tail, 5);
        run(p, src, 9, tgt, 8, order);
        assert_int_equal(p->matched, 8);
        assert_int_equal(p->pending_map, 3);
        assert_int_equal(p->not_yet, 1);
        assert_int_equal(p->not_yet_from, 19);
        assert_int_equal(p->mismatched + p->missing + p->extra, 0);
        free_part(p);
    }
    /* never mapped: paired from both log starts */
    vpart *p = new_part(NULL, 10, 20, 0, 8);
    run(p, src, 9, tgt, 8, 2);
    assert_int_equal(p->matched, 8);
    assert_int_equal(p->pending_map, 8);
    assert_int_equal(p->not_yet, 1);
    free_part(p);
    /* one more target record than the source has: a second copy of the
     * last source record is a duplicate; anything else was written on the
     * target directly (producers moved there) */
    rec tgt2[] = {{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 5}, {5, 6}, {6, 7}, {7, 8}, {8, 9}, {9, 9}};
    for (int order = 0; order < 3; order++) {
        p = new_part(mp, 10, 20, 0, 10);
        run(p, src, 9, tgt2, 10, order);
        assert_int_equal(p->matched, 9);
        assert_int_equal(p->extra, 1);
        assert_int_equal(p->problems[0].kind, VP_DUPLICATE);
        assert_int_equal(p->problems[0].src, 19);
        assert_int_equal(p->problems[0].tgt, 9);
        assert_int_equal(p->written_on_target, 0);
        free_part(p);
    }
    tgt2[9].id = 10;
    p = new_part(mp, 10, 20, 0, 10);
    run(p, src, 9, tgt2, 10, 2);
    assert_int_equal(p->matched, 9);
    assert_int_equal(p->extra, 0);
    assert_int_equal(p->written_on_target, 1);
    assert_int_equal(p->written_from, 9);
    free_part(p);
    offmap_free(&m);
}

static void test_plan_retention_and_gaps(void **state) {
    offmap m;
    offmap_init(&m);
    om_part *mp = offmap_get(&m, "t", "a.t", 0, 1);
    assert_int_equal(om_put_run(mp, 0, 0, 100), 0);
    /* source retention after mirroring */
    vpart *p = new_part(mp, 30, 100, 0, 100);
    assert_int_equal(p->removed_src_ret, 30);
    assert_int_equal(p->side[0].start, 30);
    assert_int_equal(p->side[1].start, 30);
    free_part(p);
    /* target retention */
    p = new_part(mp, 0, 100, 50, 100);
    assert_int_equal(p->removed_tgt_ret, 50);
    assert_int_equal(p->side[0].start, 50);
    assert_int_equal(p->side[1].start, 50);
    free_part(p);
    /* a recorded gap [100, 120), then a second run */
    assert_int_equal(om_put_gap(mp, 100, 120), 0);
    assert_int_equal(om_put_run(mp, 120, 100, 10), 0);
    p = new_part(mp, 120, 130, 0, 110);
    assert_int_equal(p->gap_records, 20);
    assert_int_equal(p->removed_src_ret, 100);
    assert_int_equal(p->side[0].start, 120);
    assert_int_equal(p->side[1].start, 100);
    assert_int_equal(p->unrecorded_gap, 0);
    free_part(p);
    offmap_free(&m);
    /* deleted before being mirrored, not recorded: the target tail past
     * the map cannot be paired */
    offmap_init(&m);
    mp = offmap_get(&m, "t", "a.t", 0, 1);
    assert_int_equal(om_put_run(mp, 0, 0, 10), 0);
    p = new_part(mp, 20, 30, 0, 12);
    assert_int_equal(p->unrecorded_gap, 10);
    assert_int_equal(p->unrecorded_gap_start, 10);
    assert_int_equal(p->unverified_tail, 2);
    assert_int_equal(p->side[1].end, 10);
    assert_int_equal(p->side[0].start, 20);
    free_part(p);
    offmap_free(&m);
}

static void test_compacted_is_not_a_failure(void **state) {
    offmap m;
    om_part *mp = holey_map(&m);
    /* source compacted 102 away after mirroring; target compacted 7 */
    rec src[] = {{100, 1}, {101, 2}, {103, 4}, {104, 5}, {110, 6}, {111, 7}, {113, 8}, {114, 9}};
    rec tgt[] = {{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 5}, {5, 6}, {6, 7}, {8, 9}};
    for (int compacted = 0; compacted < 2; compacted++) {
        vpart *p = new_part(mp, 100, 115, 0, 9);
        p->compacted = compacted;
        run(p, src, 8, tgt, 8, 2);
        assert_int_equal(p->matched, 7);
        assert_int_equal(p->compacted_n, compacted ? 2 : 0);
        assert_int_equal(p->absent_src, compacted ? 0 : 1);
        assert_int_equal(p->missing, compacted ? 0 : 1);
        free_part(p);
    }
    offmap_free(&m);
}

static void test_baseline_and_opposite_flow(void **state) {
    offmap m;
    offmap_init(&m);
    /* rollback onto a cluster that held 50 records already: this flow's
     * writes begin at the baseline, 3 of them not mapped yet */
    om_part *mp = offmap_get(&m, "t", "a.t", 0, 1);
    mp->baseline = 50;
    rec src[] = {{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 5}};
    rec tgt[53];
    for (int i = 0; i < 53; i++)
        tgt[i] = (rec){i, i < 50 ? 1000 + i : i - 49};
    for (int order = 0; order < 3; order++) {
        vpart *p = new_part(mp, 0, 5, 0, 53);
        assert_int_equal(p->side[1].start, 50);
        run(p, src, 5, tgt, 53, order);
        assert_int_equal(p->matched, 3);
        assert_int_equal(p->pending_map, 3);
        assert_int_equal(p->not_yet, 2);
        assert_int_equal(p->mismatched + p->missing + p->extra, 0);
        free_part(p);
    }
    offmap_free(&m);
    /* both ways: source 2 and 4 are the opposite flow's copies of target 0
     * and 3, which it mirrored; the rest is this flow's */
    offmap_init(&m);
    mp = offmap_get(&m, "t", "a.t", 0, 1);
    assert_int_equal(om_put_run(mp, 0, 1, 2), 0);
    assert_int_equal(om_put_run(mp, 3, 4, 1), 0);
    assert_int_equal(om_put_run(mp, 5, 5, 1), 0);
    rec src2[] = {{0, 1}, {1, 2}, {2, 7}, {3, 3}, {4, 8}, {5, 4}};
    rec tgt2[] = {{0, 7}, {1, 1}, {2, 2}, {3, 8}, {4, 3}, {5, 4}};
    inv_range loop[] = {{2, 3, 0}, {4, 5, 3}}, foreign[] = {{0, 1, -1}, {3, 4, -1}};
    for (int order = 0; order < 3; order++) {
        vpart *p = new_part(mp, 0, 6, 0, 6);
        p->loop = loop;
        p->nloop = 2;
        p->foreign = foreign;
        p->nforeign = 2;
        /* as the reader does: the opposite flow's target records are not fed */
        rec t_own[6];
        size_t nt = 0;
        for (size_t i = 0; i < 6; i++)
            if (!verify_target_foreign(p, tgt2[i].off))
                t_own[nt++] = tgt2[i];
        run(p, src2, 6, t_own, nt, order);
        assert_int_equal(p->matched, 4);
        assert_int_equal(p->opposite_src, 2);
        assert_int_equal(p->opposite_tgt, 2);
        assert_int_equal(p->mismatched + p->missing + p->extra + p->not_yet, 0);
        free_part(p);
    }
    offmap_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_match_through_holes),
        cmocka_unit_test(test_mismatch_missing_extra),
        cmocka_unit_test(test_extra_between_runs_and_unmapped_source),
        cmocka_unit_test(test_tail_paired_by_position),
        cmocka_unit_test(test_plan_retention_and_gaps),
        cmocka_unit_test(test_compacted_is_not_a_failure),
        cmocka_unit_test(test_baseline_and_opposite_flow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
