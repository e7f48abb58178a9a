/*
 * test_units.c - kferry.workers: the partition-to-unit function every
 * process of a flow must compute alike, and the config rules of units.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mirror/config.h"
#include "mirror/flowlock.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char g_path[64];

static void write_file(const char *text) {
    snprintf(g_path, sizeof(g_path), "/tmp/kferry-test-units-%d.properties", (int)getpid());
    FILE *f = fopen(g_path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

#define BASE                                                                                       \
    "clusters = a, b\n"                                                                            \
    "a.bootstrap.servers = h1:9092\n"                                                              \
    "b.bootstrap.servers = h2:9092\n"                                                              \
    "a->b.enabled = true\n"

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

static void test_workers_need_transactions(void **state) {
    (void)state;
    mirror_config c;
    write_file(BASE "kferry.workers = 4\n");
    assert_int_equal(mc_load(&c, g_path), -1);
    mc_free(&c);
    write_file(BASE "kferry.workers = 0\n");
    assert_int_equal(mc_load(&c, g_path), -1);
    mc_free(&c);
    write_file(BASE "kferry.workers = 257\nkferry.transactions.enabled = true\n");
    assert_int_equal(mc_load(&c, g_path), -1);
    mc_free(&c);
}

static void test_workers_get_the_flows_own_lock_topic(void **state) {
    (void)state;
    mirror_config c;
    write_file(BASE);
    assert_int_equal(mc_load(&c, g_path), 0);
    assert_int_equal(c.workers, 1);
    assert_string_equal(c.lock_topic, "__kferry.flow-lock");
    assert_string_equal(c.txn_id, "__kferry.flow.a->b.txn");
    mc_free(&c);
    write_file(BASE "kferry.workers = 8\nkferry.transactions.enabled = true\n");
    assert_int_equal(mc_load(&c, g_path), 0);
    assert_int_equal(c.workers, 8);
    assert_string_equal(c.lock_topic, "__kferry.flow-lock.a.b");
    mc_free(&c);
    write_file(BASE "kferry.workers = 8\nkferry.transactions.enabled = true\n"
                    "kferry.lock.topic = team.lock\n");
    assert_int_equal(mc_load(&c, g_path), 0);
    assert_string_equal(c.lock_topic, "team.lock");
    mc_free(&c);
    unlink(g_path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unit_of_is_fixed),
        cmocka_unit_test(test_unit_of_spreads_a_topic_evenly),
        cmocka_unit_test(test_workers_need_transactions),
        cmocka_unit_test(test_workers_get_the_flows_own_lock_topic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
