/*
 * test_config.c - unit tests of the mirror config loader: MM2 keys,
 * policies, topic selection, JAAS translation, all-errors-at-once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/log.h"
#include "mirror/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_path[64];

static void write_file(const char *text) {
    snprintf(g_path, sizeof(g_path), "/tmp/kferry-test-config-%d.properties", (int)getpid());
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

static void test_defaults_and_policy(void **state) {
    write_file(BASE "tasks.max = 3\n");
    mirror_config c;
    assert_int_equal(mc_load(&c, g_path), 0);
    assert_string_equal(c.src.alias, "a");
    assert_string_equal(c.tgt.alias, "b");
    assert_int_equal(c.policy, MC_POLICY_DEFAULT);
    assert_int_equal(c.refresh_s, 5);
    assert_int_equal(c.replication_factor, 2);
    assert_string_equal(c.map_topic, "__kferry.offset-map.a");
    char out[300];
    assert_int_equal(mc_target_topic(&c, "orders", out, sizeof(out)), 0);
    assert_string_equal(out, "a.orders");
    const char *why;
    assert_true(mc_topic_selected(&c, "orders", &why));
    assert_false(mc_topic_selected(&c, "__consumer_offsets", &why));
    assert_false(mc_topic_selected(&c, "mm2-offsets.b.internal", &why));
    assert_false(mc_topic_selected(&c, "x.replica", &why));
    assert_false(mc_topic_selected(&c, "__kferry.offset-map.a", &why));
    mc_free(&c);
}

static void test_flow_overrides_and_identity(void **state) {
    write_file(BASE "a->b.topics = orders.*, pay\n"
                    "topics = ignored\n"
                    "topics.exclude = orders-test\n"
                    "replication.policy.class = IdentityReplicationPolicy\n"
                    "b->a.enabled = false\n"
                    "a.consumer.fetch.wait.max.ms = 50\n"
                    "b.producer.linger.ms = 7\n"
                    "b.sasl.jaas.config = org.apache.kafka.common.security.scram.ScramLoginModule "
                    "required username=\"u\" password=\"p w\";\n");
    mirror_config c;
    assert_int_equal(mc_load(&c, g_path), 0);
    const char *why;
    assert_true(mc_topic_selected(&c, "orders-eu", &why));
    assert_true(mc_topic_selected(&c, "pay", &why));
    assert_false(mc_topic_selected(&c, "payments", &why)); /* whole-name match */
    assert_false(mc_topic_selected(&c, "orders-test", &why));
    assert_false(mc_topic_selected(&c, "ignored", &why));
    /* user exclude replaces MM2's default, but internal topics stay out */
    assert_true(mc_topic_selected(&c, "orders.internal", &why));
    assert_false(mc_topic_selected(&c, "__consumer_offsets", &why));
    char out[300];
    mc_target_topic(&c, "orders", out, sizeof(out));
    assert_string_equal(out, "orders");
    int user = 0, pass = 0;
    for (size_t i = 0; i < c.tgt.nprops; i++) {
        user |= !strcmp(c.tgt.props[i].key, "sasl.username") && !strcmp(c.tgt.props[i].value, "u");
        pass |=
            !strcmp(c.tgt.props[i].key, "sasl.password") && !strcmp(c.tgt.props[i].value, "p w");
    }
    assert_true(user && pass);
    assert_true(mc_is_secret_key("sasl.password"));
    assert_true(mc_is_secret_key("ssl.key.password"));
    assert_true(mc_is_secret_key("sasl.jaas.config"));
    assert_false(mc_is_secret_key("bootstrap.servers"));
    mc_free(&c);
}

static void test_errors(void **state) {
    write_file("clusters = a, b\n"
               "a.bootstrap.servers = h1:9092\n"
               "a->b.enabled = true\n"
               "b->a.enabled = true\n"
               "replication.factor = 0\n"
               "a.producer.transactional.id = x\n"
               "replication.policy.class = com.example.MyPolicy\n");
    mirror_config c;
    assert_int_equal(mc_load(&c, g_path), -1);
    mc_free(&c);
}

int main(void) {
    kf_log_set_level(KF_LOG_ERR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_policy),
        cmocka_unit_test(test_flow_overrides_and_identity),
        cmocka_unit_test(test_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(g_path);
    return rc;
}
