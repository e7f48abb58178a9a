/*
 * test_units.c - kferry.workers: the partition-to-unit function every
 * process of a flow must compute alike (its config rules are in
 * test_config.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mirror/flowlock.h"

/* Pinned values: processes of different kferry versions share a flow, so
 * the function must never change (FNV-1a of "orders" is 0x325e96ec). */
static void test_unit_of_is_fixed(void **state) {
    (void)state;
    assert_int_equal(fl_unit_of("orders", 0, 1), 0);
    assert_int_equal(fl_unit_of("orders", 7, 1), 0);
    uint32_t h = 0x325e96ecu;
    for (int32_t k = 0; k < 40; k++)
        assert_int_equal(fl_unit_of("orders", k, 12), (h + (uint32_t)k) % 12u);
    assert_int_equal(fl_unit_of("", 5, 4), (2166136261u + 5u) % 4u);
}

/* Consecutive partitions of a topic go to consecutive units: a topic of
 * N * k partitions gives every unit exactly k. */
static void test_unit_of_spreads_a_topic_evenly(void **state) {
    (void)state;
    const char *topics[] = {"orders", "payments.v2", "__x", "a-very-long-topic-name-of-some-team"};
    for (size_t t = 0; t < 4; t++)
        for (int units = 2; units <= 16; units++) {
            int count[16] = {0};
            for (int32_t k = 0; k < units * 3; k++) {
                uint32_t u = fl_unit_of(topics[t], k, units);
                assert_true(u < (uint32_t)units);
                count[u]++;
            }
            for (int u = 0; u < units; u++)
                assert_int_equal(count[u], 3);
        }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unit_of_is_fixed),
        cmocka_unit_test(test_unit_of_spreads_a_topic_evenly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
