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

/* mc_load with stderr (errors and warnings) captured into out. */
static int load_capture(mirror_config *c, char *out, size_t outlen) {
    char tmpl[] = "/tmp/kferry-test-config-err-XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    kf_log_set_level(KF_LOG_WARNING);
    int rc = mc_load(c, g_path);
    fflush(stderr);
    kf_log_set_level(KF_LOG_ERR);
    dup2(saved, 2);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, out, outlen - 1);
    out[n > 0 ? n : 0] = 0;
    close(fd);
    unlink(tmpl);
    return rc;
}

/* issue 13, item 4: a stock MM2 file's keys are accepted with a warning
 * each saying what kferry does instead; old names are honoured; client
 * properties are named by their full key. */
static void test_mm2_keys_warn_not_fail(void **state) {
    write_file(BASE "refresh.topics.enabled = true\n"
                    "refresh.groups.enabled = true\n"
                    "offset-syncs.topic.location = target\n"
                    "exactly.once.support = enabled\n"
                    "topics.blacklist = secret.*, .*\\.internal\n"
                    "groups.blacklist = tmp-.*\n"
                    "sync.topic.acls.enabled = false\n"
                    "emit.heartbeats.enabled = true\n"
                    "offset.storage.topic = mm2-offsets\n"
                    "config.storage.replication.factor = 1\n"
                    "status.storage.replication.factor = 1\n"
                    "key.converter = org.apache.kafka.connect.converters.ByteArrayConverter\n"
                    "key.converter.schemas.enable = false\n"
                    "a.consumer.max.poll.records = 500\n"
                    "b.producer.buffer.memory = 33554432\n"
                    "b.admin.retries = 3\n"
                    "a.producer.linger.ms = 5\n"
                    "b.consumer.fetch.wait.max.ms = 50\n");
    mirror_config c;
    char out[16384];
    int rc = load_capture(&c, out, sizeof(out));
    assert_int_equal(rc, 0);
    const char *why;
    assert_false(mc_topic_selected(&c, "secret.orders", &why)); /* topics.blacklist honoured */
    assert_true(mc_topic_selected(&c, "orders", &why));
    assert_non_null(strstr(out, "topics.blacklist is MirrorMaker 2's old name of topics.exclude"));
    assert_non_null(strstr(out, ":5: refresh.topics.enabled accepted but not used: kferry always"));
    assert_non_null(strstr(out, "exactly.once.support accepted but not used"));
    assert_non_null(strstr(out, "offset-syncs.topic.location accepted but not used"));
    assert_non_null(strstr(out, "key.converter.schemas.enable accepted but not used"));
    assert_non_null(strstr(out, ":18: a.consumer.max.poll.records accepted but not used"));
    assert_null(strstr(out, "a.max.poll.records"));
    assert_non_null(strstr(out, "a.producer.linger.ms ignored: kferry never produces"));
    int found = 0;
    for (size_t i = 0; i < c.tgt.nprops; i++)
        found |= !strcmp(c.tgt.props[i].key, "fetch.wait.max.ms") &&
                 c.tgt.props[i].roles == MC_CLIENT_CONSUMER;
    assert_true(found);
    mc_free(&c);
}

/* issue 13, item 7: a typo in the flow key names its line and the key meant */
static void test_flow_key_typo_did_you_mean(void **state) {
    write_file("clusters = a, b\n"
               "a.bootstrap.servers = h1:9092\n"
               "b.bootstrap.servers = h2:9092\n"
               "a->b.enable = true\n"
               "topic = orders\n");
    mirror_config c;
    char out[8192];
    assert_int_equal(load_capture(&c, out, sizeof(out)), -1);
    assert_non_null(
        strstr(out, ":4: unknown flow key 'a->b.enable' (did you mean 'a->b.enabled'?)"));
    assert_non_null(strstr(out, ":5: unknown key 'topic' (did you mean 'topics'?)"));
    assert_non_null(strstr(out, ":1: exactly one flow must be enabled"));
    mc_free(&c);
    /* a near-miss of a librdkafka property is an error, not a Java setting */
    write_file(BASE "a.secuirty.protocol = SSL\n");
    assert_int_equal(load_capture(&c, out, sizeof(out)), -1);
    assert_non_null(strstr(out, ":5: a.secuirty.protocol: librdkafka has no property "
                                "'secuirty.protocol' (did you mean 'a.security.protocol'?)"));
    mc_free(&c);
}

/* issue 13, item 10: a key given twice is named with both lines */
static void test_duplicate_keys_named(void **state) {
    write_file(BASE "replication.factor = 1\n"
                    "replication.factor = 3\n");
    mirror_config c;
    char out[8192];
    assert_int_equal(load_capture(&c, out, sizeof(out)), 0);
    assert_int_equal(c.replication_factor, 3);
    assert_non_null(strstr(out, ":6: duplicate key 'replication.factor' (also at line 5): the "
                                "value at line 6 is used"));
    mc_free(&c);
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
}

int main(void) {
    kf_log_set_level(KF_LOG_ERR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workers_need_transactions),
        cmocka_unit_test(test_workers_get_the_flows_own_lock_topic),
        cmocka_unit_test(test_defaults_and_policy),
        cmocka_unit_test(test_flow_overrides_and_identity),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_mm2_keys_warn_not_fail),
        cmocka_unit_test(test_flow_key_typo_did_you_mean),
        cmocka_unit_test(test_duplicate_keys_named),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(g_path);
    return rc;
}
