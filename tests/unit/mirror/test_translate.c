/*
 * test_translate.c - unit tests of committed-offset translation (group sync
 * and cutover): exact, holes, gaps, below the log start, the mirror's end,
 * waiting, the nothing-mapped case and foreign target records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mirror/offmap.h"
#include "mirror/translate.h"

static void test_mapped(void **state) {
    offmap m;
    offmap_init(&m);
    om_part *p = offmap_get(&m, "t", "t", 0, 1);
    /* source log starts at 100; a hole at 103..104 */
    int64_t src[] = {100, 101, 102, 105, 106};
    for (int i = 0; i < 5; i++)
        assert_int_equal(om_append(p, src[i], 10 + i), 0);
    tr_result r;
    tr_translate(p, 101, 100, 0, 15, &r);
    assert_int_equal(r.status, TR_EXACT);
    assert_int_equal(r.tgt, 11);
    /* a committed offset in a hole: the next mirrored record */
    tr_translate(p, 103, 100, 0, 15, &r);
    assert_int_equal(r.status, TR_HOLE);
    assert_int_equal(r.tgt, 13);
    assert_int_equal(r.next_src, 105);
    /* everything consumed: right after the last mirrored record */
    tr_translate(p, 107, 100, 0, 15, &r);
    assert_int_equal(r.status, TR_END);
    assert_int_equal(r.tgt, 15);
    assert_true(tr_committable(&r));
    /* beyond the map: wait */
    tr_translate(p, 108, 100, 0, 15, &r);
    assert_int_equal(r.status, TR_WAIT);
    assert_false(tr_committable(&r));
    assert_int_equal(r.map_end, 107);
    /* below the first mirrored record and below the log start: flagged */
    tr_translate(p, 40, 100, 0, 15, &r);
    assert_int_equal(r.status, TR_BELOW);
    assert_int_equal(r.tgt, 10);
    assert_true(r.below_start);
    assert_int_equal(r.foreign, 0);
    offmap_free(&m);
}

static void test_gap_and_foreign(void **state) {
    offmap m;
    offmap_init(&m);
    om_part *p = offmap_get(&m, "t", "t", 0, 1);
    for (int i = 0; i < 5; i++)
        assert_int_equal(om_append(p, i, i), 0);
    assert_int_equal(om_put_gap(p, 5, 20), 0); /* retention gap, recorded */
    tr_result r;
    tr_translate(p, 10, 20, 0, 5, &r);
    assert_int_equal(r.status, TR_GAP);
    assert_int_equal(r.tgt, 5);
    /* another writer put 3 records at target 5..7 before the mirror went on */
    assert_int_equal(om_append(p, 20, 8), 0);
    assert_int_equal(om_append(p, 21, 9), 0);
    tr_translate(p, 22, 20, 0, 10, &r);
    assert_int_equal(r.status, TR_END);
    assert_int_equal(r.tgt, 10);
    assert_int_equal(r.foreign, 3);
    tr_translate(p, 3, 0, 0, 10, &r);
    assert_int_equal(r.foreign, 0); /* the foreign records are after 3's target */
    assert_int_equal(tr_foreign_below(p, 7), 2);
    offmap_free(&m);
}

static void test_nothing_mapped(void **state) {
    tr_result r;
    /* empty source partition, empty target: the first record to come */
    tr_translate(NULL, 0, 0, 0, 0, &r);
    assert_int_equal(r.status, TR_END);
    assert_int_equal(r.tgt, 0);
    /* records exist before c on the source, none mapped: wait */
    tr_translate(NULL, 5, 0, 0, 0, &r);
    assert_int_equal(r.status, TR_WAIT);
    /* the target already holds unmapped records: wait for the map */
    tr_translate(NULL, 0, 0, 0, 3, &r);
    assert_int_equal(r.status, TR_WAIT);
    /* unknown watermarks: wait */
    tr_translate(NULL, 0, -1, -1, -1, &r);
    assert_int_equal(r.status, TR_WAIT);
    assert_string_equal(tr_status_name(TR_HOLE), "hole");
    assert_string_equal(tr_status_name(99), "unknown");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mapped),
        cmocka_unit_test(test_gap_and_foreign),
        cmocka_unit_test(test_nothing_mapped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
