/*
 * test_grpadmin_mock.c - group admin calls against librdkafka's mock cluster
 * with injected coordinator errors.
 *
 * Real clusters answer NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS while
 * a coordinator loads or moves (fresh clusters, rolling restarts).  The
 * handles kferry makes must survive that (librdkafka 2.0.2 crashed on a
 * handle without a group context) and the wrappers must report the error,
 * so callers can retry; a later call succeeds.
 */
#include "mirror/clients.h"
#include "mirror/grpadmin.h"
#include "mirror/retry.h"

#include <librdkafka/rdkafka_mock.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* Kafka API keys (librdkafka keeps its RD_KAFKAP_* names private) */
enum { API_LIST_OFFSETS = 2, API_OFFSET_FETCH = 9, API_DESCRIBE_GROUPS = 15 };

typedef struct fixture {
    rd_kafka_t *mock_owner;
    rd_kafka_mock_cluster_t *mc;
    mirror_config cfg;
    mc_kv kv;
    rd_kafka_t *rk;
} fixture;

static int setup(void **state) {
    static fixture f;
    memset(&f, 0, sizeof(f));
    char eb[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", eb, sizeof(eb));
    f.mock_owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, eb, sizeof(eb));
    assert_non_null(f.mock_owner);
    f.mc = rd_kafka_mock_cluster_new(f.mock_owner, 3);
    assert_non_null(f.mc);
    assert_int_equal(rd_kafka_mock_topic_create(f.mc, "orders", 2, 1), 0);
    f.kv.key = "bootstrap.servers";
    f.kv.value = (char *)rd_kafka_mock_cluster_bootstraps(f.mc);
    f.kv.roles = MC_CLIENT_ANY;
    f.cfg.tgt.alias = "msk";
    f.cfg.tgt.props = &f.kv;
    f.cfg.tgt.nprops = 1;
    f.rk = clients_consumer(&f.cfg, &f.cfg.tgt, "test", 1); /* no group.id: as kferry makes them */
    assert_non_null(f.rk);
    *state = &f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    rd_kafka_destroy(f->rk);
    rd_kafka_mock_cluster_destroy(f->mc);
    rd_kafka_destroy(f->mock_owner);
    return 0;
}

/* OffsetFetch answered NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS, as
 * a real cluster does while a coordinator loads or moves: no crash (a handle
 * without a group context dies in librdkafka 2.0.2 here), the error is
 * reported, and once the coordinator answers the call succeeds. */
static void test_committed_not_coordinator(void **state) {
    fixture *f = *state;
    rd_kafka_mock_push_request_errors(f->mc, API_OFFSET_FETCH, 3, RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
                                      RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
                                      RD_KAFKA_RESP_ERR_NOT_COORDINATOR);
    ga_offsets o;
    char err[512] = "";
    int ok = 0;
    for (int i = 0; i < 10 && !ok; i++)
        ok = ga_committed(f->rk, "app", 5000, &o, err, sizeof(err)) == 0;
    assert_true(ok);
    assert_int_equal((int)o.n, 0); /* the group never committed */
    ga_offsets_free(&o);
}

/* Watermarks answered NOT_LEADER twice, as right after CreateTopics on a
 * real cluster: retry_watermarks hides it within its deadline. */
static void test_watermarks_not_leader(void **state) {
    fixture *f = *state;
    rd_kafka_mock_push_request_errors(f->mc, API_LIST_OFFSETS, 2,
                                      RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE);
    int64_t lo = -1, hi = -1;
    assert_int_equal(retry_watermarks(f->rk, "orders", 0, &lo, &hi, 20000),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal((int)lo, 0);
    assert_int_equal((int)hi, 0);
    /* the retries were noted for status and /metrics */
    char last[512];
    int64_t when = 0;
    int64_t n = retry_noted(last, sizeof(last), &when);
    assert_true(n >= 1);
    assert_non_null(strstr(last, "orders/0: watermarks:"));
    assert_true(when > 0);
}

static void test_transient_classification(void **state) {
    (void)state;
    assert_true(retry_transient(RD_KAFKA_RESP_ERR_NOT_COORDINATOR));
    assert_true(retry_transient(RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS));
    assert_true(retry_transient(RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION));
    assert_true(retry_transient(RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS));
    assert_true(retry_transient(RD_KAFKA_RESP_ERR__TRANSPORT));
    assert_false(retry_transient(RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED));
    assert_false(retry_transient(RD_KAFKA_RESP_ERR_INVALID_REQUEST));
    assert_false(retry_transient(RD_KAFKA_RESP_ERR_NO_ERROR));
    for (int a = 0; a < 20; a++) {
        int ms = retry_backoff_ms(a);
        assert_true(ms >= 75 && ms <= 2000);
    }
}

/* ga_describe reads members' assignments in the consumer protocol's layout
 * (it goes through DescribeGroups itself, see grpadmin.c). */
static void test_parse_assignment(void **state) {
    (void)state;
    /* v1: [orders: 0, 2], [audit: 1], 3 bytes of user data */
    static const unsigned char a[] = {0,   1,   0, 0, 0,   2,   0,   6,   'o', 'r', 'd', 'e',
                                      'r', 's', 0, 0, 0,   2,   0,   0,   0,   0,   0,   0,
                                      0,   2,   0, 5, 'a', 'u', 'd', 'i', 't', 0,   0,   0,
                                      1,   0,   0, 0, 1,   0,   0,   0,   3,   'x', 'y', 'z'};
    rd_kafka_topic_partition_list_t *l = ga_parse_assignment(a, sizeof(a));
    assert_non_null(l);
    assert_int_equal(l->cnt, 3);
    assert_string_equal(l->elems[0].topic, "orders");
    assert_int_equal(l->elems[0].partition, 0);
    assert_string_equal(l->elems[1].topic, "orders");
    assert_int_equal(l->elems[1].partition, 2);
    assert_string_equal(l->elems[2].topic, "audit");
    assert_int_equal(l->elems[2].partition, 1);
    rd_kafka_topic_partition_list_destroy(l);
    /* every truncation is refused, never read past the end */
    for (size_t n = 1; n < 41; n++)
        assert_null(ga_parse_assignment(a, n));
    assert_null(ga_parse_assignment(a, 0));
    assert_null(ga_parse_assignment(NULL, 5));
    /* a topic count larger than the bytes can hold */
    static const unsigned char big[] = {0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 1, 'x'};
    assert_null(ga_parse_assignment(big, sizeof(big)));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transient_classification),
        cmocka_unit_test(test_parse_assignment),
        cmocka_unit_test_setup_teardown(test_committed_not_coordinator, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watermarks_not_leader, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
