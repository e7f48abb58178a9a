/*
 * test_iampolicy.c - Kafka ACLs to MSK IAM policies (mirror/iampolicy.c):
 * every operation of every resource type, ALLOW and DENY; literal,
 * prefixed and `*` names under a renaming and the identity policy; host
 * restrictions; principal grouping and mapping; the ARNs; deterministic
 * output that jansson parses back.
 */
#include "mirror/iampolicy.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const char *ARN = "arn:aws:kafka:eu-west-1:123456789012:cluster/prod/abcd-1234-5";
static const char *PFX = "arn:aws:kafka:eu-west-1:123456789012:";

static int prefix_policy(void *u, const char *src, char *out, size_t cap) {
    int n = snprintf(out, cap, "%s%s", (const char *)u, src);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* A policy that does not keep prefixes: appends a suffix. */
static int suffix_policy(void *u, const char *src, char *out, size_t cap) {
    int n = snprintf(out, cap, "%s%s", src, (const char *)u);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static const char *g_topics[] = {"orders", "payments", "pay-eu"};

static json_t *run(const am_list *src, int (*pol)(void *, const char *, char *, size_t),
                   const char *arg, const am_pmap *pm, const char *arn) {
    am_ctx ctx = {g_topics, 3, pol, (void *)arg, pm};
    ip_arn a;
    char err[256] = "";
    assert_int_equal(ip_arn_parse(arn, NULL, &a, err, sizeof(err)), 0);
    json_t *p = ip_policies(src, &ctx, &a, err, sizeof(err));
    assert_non_null(p);
    /* valid JSON: what kferry prints parses back to the same thing */
    char *text = json_dumps(p, JSON_INDENT(2));
    assert_non_null(text);
    json_error_t je;
    json_t *back = json_loads(text, 0, &je);
    assert_non_null(back);
    assert_true(json_equal(p, back));
    json_decref(back);
    free(text);
    return p;
}

static void add(am_list *l, int rt, const char *name, int pat, const char *pr, const char *host,
                int op, int perm) {
    assert_int_equal(am_add(l, rt, name, pat, pr, host, op, perm, NULL), 0);
}

/* Statements of the one policy of a single-principal result. */
static json_t *statements(json_t *p, const char *principal) {
    json_t *pols = json_object_get(p, "policies");
    size_t i;
    json_t *v;
    json_array_foreach(
        pols, i, v) if (!strcmp(json_string_value(json_object_get(v, "principal")), principal)) {
        json_t *doc = json_object_get(v, "policy");
        assert_string_equal(json_string_value(json_object_get(doc, "Version")), "2012-10-17");
        return json_object_get(doc, "Statement");
    }
    fail_msg("no policy for %s", principal);
    return NULL;
}

/* "Effect|A1,A2|R1,R2" (action prefixes stripped) for statement i. */
static void stmt_str(json_t *st, size_t i, char *out, size_t cap) {
    json_t *s = json_array_get(st, i);
    assert_non_null(s);
    size_t n = (size_t)snprintf(out, cap, "%s|", json_string_value(json_object_get(s, "Effect")));
    size_t k;
    json_t *v;
    json_array_foreach(json_object_get(s, "Action"), k, v) {
        const char *a = json_string_value(v);
        assert_memory_equal(a, "kafka-cluster:", 14);
        n += (size_t)snprintf(out + n, cap - n, "%s%s", k ? "," : "", a + 14);
    }
    n += (size_t)snprintf(out + n, cap - n, "|");
    json_array_foreach(json_object_get(s, "Resource"), k, v) {
        const char *r = json_string_value(v);
        if (!strncmp(r, PFX, strlen(PFX)))
            r += strlen(PFX);
        n += (size_t)snprintf(out + n, cap - n, "%s%s", k ? "," : "", r);
    }
}

static void assert_stmt(json_t *st, size_t i, const char *want) {
    char got[2048];
    stmt_str(st, i, got, sizeof(got));
    assert_string_equal(got, want);
}

/* The operation's statement (after Connect) for one ACL, or "" when not
 * mapped. */
static void one(int rt, const char *name, int op, int perm, char *out, size_t cap) {
    am_list src;
    am_list_init(&src);
    add(&src, rt, name, AM_PAT_LITERAL, "User:a", "*", op, perm);
    json_t *p = run(&src, prefix_policy, "", NULL, ARN);
    out[0] = 0;
    if (json_array_size(json_object_get(p, "policies")) == 1) {
        json_t *st = statements(p, "User:a");
        /* statement 0 is Connect on the cluster (alone, or with cluster
         * actions of an ALLOW) */
        char s0[2048];
        stmt_str(st, 0, s0, sizeof(s0));
        if (json_array_size(st) == 1) {
            snprintf(out, cap, "%s", s0);
        } else {
            assert_int_equal(json_array_size(st), 2);
            stmt_str(st, 1, out, cap);
        }
    } else {
        assert_int_equal(json_array_size(json_object_get(p, "not_mapped")), 1);
    }
    json_decref(p);
    am_list_free(&src);
}

static void test_every_mapping(void **state) {
    (void)state;
    static const struct {
        int rt, op, perm;
        const char *want;
    } cases[] = {
        {AM_RES_TOPIC, AM_OP_READ, AM_ALLOW,
         "Allow|DescribeTopic,ReadData|topic/prod/abcd-1234-5/orders"},
        {AM_RES_TOPIC, AM_OP_WRITE, AM_ALLOW,
         "Allow|DescribeTopic,WriteData|topic/prod/abcd-1234-5/orders"},
        {AM_RES_TOPIC, AM_OP_CREATE, AM_ALLOW, "Allow|CreateTopic|topic/prod/abcd-1234-5/orders"},
        {AM_RES_TOPIC, AM_OP_DELETE, AM_ALLOW,
         "Allow|DeleteTopic,DescribeTopic|topic/prod/abcd-1234-5/orders"},
        {AM_RES_TOPIC, AM_OP_ALTER, AM_ALLOW,
         "Allow|AlterTopic,DescribeTopic|topic/prod/abcd-1234-5/orders"},
        {AM_RES_TOPIC, AM_OP_DESCRIBE, AM_ALLOW,
         "Allow|DescribeTopic|topic/prod/abcd-1234-5/orders"},
        {AM_RES_TOPIC, AM_OP_DESCRIBE_CONFIGS, AM_ALLOW,
         "Allow|DescribeTopicDynamicConfiguration|topic/prod/abcd-1234-5/orders"},
        {AM_RES_TOPIC, AM_OP_ALTER_CONFIGS, AM_ALLOW,
         "Allow|AlterTopicDynamicConfiguration,DescribeTopicDynamicConfiguration|"
         "topic/prod/abcd-1234-5/orders"},
        {AM_RES_TOPIC, AM_OP_ALL, AM_ALLOW,
         "Allow|AlterTopic,AlterTopicDynamicConfiguration,CreateTopic,DeleteTopic,"
         "DescribeTopic,DescribeTopicDynamicConfiguration,ReadData,WriteData|"
         "topic/prod/abcd-1234-5/orders"},
        {AM_RES_TOPIC, AM_OP_IDEMPOTENT_WRITE, AM_ALLOW, ""},
        {AM_RES_TOPIC, AM_OP_CLUSTER_ACTION, AM_ALLOW, ""},
        /* DENY: the operation's own actions only */
        {AM_RES_TOPIC, AM_OP_READ, AM_DENY, "Deny|ReadData|topic/prod/abcd-1234-5/orders"},
        {AM_RES_TOPIC, AM_OP_WRITE, AM_DENY, "Deny|WriteData|topic/prod/abcd-1234-5/orders"},
        {AM_RES_TOPIC, AM_OP_ALTER_CONFIGS, AM_DENY,
         "Deny|AlterTopicDynamicConfiguration|topic/prod/abcd-1234-5/orders"},
        {AM_RES_GROUP, AM_OP_READ, AM_ALLOW,
         "Allow|AlterGroup,DescribeGroup|group/prod/abcd-1234-5/orders"},
        {AM_RES_GROUP, AM_OP_DESCRIBE, AM_ALLOW,
         "Allow|DescribeGroup|group/prod/abcd-1234-5/orders"},
        {AM_RES_GROUP, AM_OP_DELETE, AM_ALLOW,
         "Allow|DeleteGroup,DescribeGroup|group/prod/abcd-1234-5/orders"},
        {AM_RES_GROUP, AM_OP_ALL, AM_ALLOW,
         "Allow|AlterGroup,DeleteGroup,DescribeGroup|group/prod/abcd-1234-5/orders"},
        {AM_RES_GROUP, AM_OP_READ, AM_DENY, "Deny|AlterGroup|group/prod/abcd-1234-5/orders"},
        {AM_RES_GROUP, AM_OP_WRITE, AM_ALLOW, ""},
        {AM_RES_TXN, AM_OP_WRITE, AM_ALLOW,
         "Allow|AlterTransactionalId,DescribeTransactionalId|"
         "transactional-id/prod/abcd-1234-5/orders"},
        {AM_RES_TXN, AM_OP_DESCRIBE, AM_ALLOW,
         "Allow|DescribeTransactionalId|transactional-id/prod/abcd-1234-5/orders"},
        {AM_RES_TXN, AM_OP_ALL, AM_ALLOW,
         "Allow|AlterTransactionalId,DescribeTransactionalId|"
         "transactional-id/prod/abcd-1234-5/orders"},
        {AM_RES_TXN, AM_OP_WRITE, AM_DENY,
         "Deny|AlterTransactionalId|transactional-id/prod/abcd-1234-5/orders"},
        {AM_RES_TXN, AM_OP_READ, AM_ALLOW, ""},
        /* cluster actions share the Connect statement's resource */
        {AM_RES_CLUSTER, AM_OP_DESCRIBE, AM_ALLOW,
         "Allow|Connect,DescribeCluster|cluster/prod/abcd-1234-5"},
        {AM_RES_CLUSTER, AM_OP_ALTER, AM_ALLOW,
         "Allow|AlterCluster,Connect,DescribeCluster|cluster/prod/abcd-1234-5"},
        {AM_RES_CLUSTER, AM_OP_DESCRIBE_CONFIGS, AM_ALLOW,
         "Allow|Connect,DescribeClusterDynamicConfiguration|cluster/prod/abcd-1234-5"},
        {AM_RES_CLUSTER, AM_OP_ALTER_CONFIGS, AM_ALLOW,
         "Allow|AlterClusterDynamicConfiguration,Connect,DescribeClusterDynamicConfiguration|"
         "cluster/prod/abcd-1234-5"},
        {AM_RES_CLUSTER, AM_OP_IDEMPOTENT_WRITE, AM_ALLOW,
         "Allow|Connect,WriteDataIdempotently|cluster/prod/abcd-1234-5"},
        {AM_RES_CLUSTER, AM_OP_CREATE, AM_ALLOW, "Allow|CreateTopic|topic/prod/abcd-1234-5/*"},
        {AM_RES_CLUSTER, AM_OP_IDEMPOTENT_WRITE, AM_DENY,
         "Deny|WriteDataIdempotently|cluster/prod/abcd-1234-5"},
        {AM_RES_CLUSTER, AM_OP_CLUSTER_ACTION, AM_ALLOW, ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char got[2048];
        one(cases[i].rt, cases[i].rt == AM_RES_CLUSTER ? "kafka-cluster" : "orders", cases[i].op,
            cases[i].perm, got, sizeof(got));
        if (strcmp(got, cases[i].want))
            fail_msg("case %zu (%s %s %s): got '%s', want '%s'", i, am_perm_name(cases[i].perm),
                     am_op_name(cases[i].op), am_res_name(cases[i].rt), got, cases[i].want);
    }
    /* cluster ALL: every cluster action, and CreateTopic on every topic */
    am_list src;
    am_list_init(&src);
    add(&src, AM_RES_CLUSTER, "kafka-cluster", AM_PAT_LITERAL, "User:a", "*", AM_OP_ALL, AM_ALLOW);
    json_t *p = run(&src, prefix_policy, "", NULL, ARN);
    json_t *st = statements(p, "User:a");
    assert_int_equal(json_array_size(st), 2);
    assert_stmt(st, 0,
                "Allow|AlterCluster,AlterClusterDynamicConfiguration,Connect,DescribeCluster,"
                "DescribeClusterDynamicConfiguration,WriteDataIdempotently|"
                "cluster/prod/abcd-1234-5");
    assert_stmt(st, 1, "Allow|CreateTopic|topic/prod/abcd-1234-5/*");
    json_decref(p);
    am_list_free(&src);
}

static void test_topic_names(void **state) {
    (void)state;
    am_list src;
    am_list_init(&src);
    add(&src, AM_RES_TOPIC, "orders", AM_PAT_LITERAL, "User:a", "*", AM_OP_READ, AM_ALLOW);
    add(&src, AM_RES_TOPIC, "pay", AM_PAT_PREFIXED, "User:b", "*", AM_OP_WRITE, AM_ALLOW);
    add(&src, AM_RES_TOPIC, "*", AM_PAT_LITERAL, "User:c", "*", AM_OP_DESCRIBE, AM_ALLOW);
    add(&src, AM_RES_TOPIC, "internal", AM_PAT_LITERAL, "User:a", "*", AM_OP_READ, AM_ALLOW);
    add(&src, AM_RES_TOPIC, "zzz", AM_PAT_PREFIXED, "User:a", "*", AM_OP_READ, AM_ALLOW);
    add(&src, AM_RES_GROUP, "bill", AM_PAT_PREFIXED, "User:a", "*", AM_OP_READ, AM_ALLOW);
    add(&src, AM_RES_GROUP, "*", AM_PAT_LITERAL, "User:c", "*", AM_OP_DESCRIBE, AM_ALLOW);

    /* renaming policy that keeps prefixes: wildcards on the renamed prefix */
    json_t *p = run(&src, prefix_policy, "onprem.", NULL, ARN);
    json_t *st = statements(p, "User:a");
    assert_int_equal(json_array_size(st), 3);
    assert_stmt(st, 0, "Allow|Connect|cluster/prod/abcd-1234-5");
    assert_stmt(st, 1, "Allow|DescribeTopic,ReadData|topic/prod/abcd-1234-5/onprem.orders");
    assert_stmt(st, 2, "Allow|AlterGroup,DescribeGroup|group/prod/abcd-1234-5/bill*");
    st = statements(p, "User:b");
    assert_stmt(st, 1, "Allow|DescribeTopic,WriteData|topic/prod/abcd-1234-5/onprem.pay*");
    st = statements(p, "User:c");
    assert_int_equal(json_array_size(st), 3);
    assert_stmt(st, 1, "Allow|DescribeTopic|topic/prod/abcd-1234-5/onprem.*");
    assert_stmt(st, 2, "Allow|DescribeGroup|group/prod/abcd-1234-5/*");
    /* topic ACLs that cover no mirrored topic are listed, not mapped */
    json_t *nm = json_object_get(p, "not_mapped");
    assert_int_equal(json_array_size(nm), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(nm, 0), "name")),
                        "internal");
    assert_string_equal(json_string_value(json_object_get(json_array_get(nm, 1), "reason")),
                        "covers no topic this flow mirrors");
    json_decref(p);

    /* identity: `*` stays `*` */
    p = run(&src, prefix_policy, "", NULL, ARN);
    assert_stmt(statements(p, "User:c"), 1, "Allow|DescribeTopic|topic/prod/abcd-1234-5/*");
    assert_stmt(statements(p, "User:b"), 1,
                "Allow|DescribeTopic,WriteData|topic/prod/abcd-1234-5/pay*");
    json_decref(p);

    /* a policy that does not keep prefixes: one resource per mirrored topic */
    p = run(&src, suffix_policy, ".dr", NULL, ARN);
    assert_stmt(statements(p, "User:b"), 1,
                "Allow|DescribeTopic,WriteData|topic/prod/abcd-1234-5/pay-eu.dr,"
                "topic/prod/abcd-1234-5/payments.dr");
    assert_stmt(statements(p, "User:c"), 1,
                "Allow|DescribeTopic|topic/prod/abcd-1234-5/orders.dr,"
                "topic/prod/abcd-1234-5/pay-eu.dr,topic/prod/abcd-1234-5/payments.dr");
    json_decref(p);
    am_list_free(&src);
}

static void test_deny_and_hosts(void **state) {
    (void)state;
    am_list src;
    am_list_init(&src);
    add(&src, AM_RES_TOPIC, "orders", AM_PAT_LITERAL, "User:eve", "*", AM_OP_READ, AM_ALLOW);
    add(&src, AM_RES_TOPIC, "orders", AM_PAT_LITERAL, "User:eve", "*", AM_OP_WRITE, AM_DENY);
    add(&src, AM_RES_TOPIC, "*", AM_PAT_LITERAL, "User:eve", "10.0.0.1", AM_OP_READ, AM_DENY);
    add(&src, AM_RES_TOPIC, "payments", AM_PAT_LITERAL, "User:eve", "10.0.0.2", AM_OP_READ,
        AM_ALLOW);
    json_t *p = run(&src, prefix_policy, "src.", NULL, ARN);
    json_t *st = statements(p, "User:eve");
    assert_int_equal(json_array_size(st), 4);
    assert_stmt(st, 0, "Allow|Connect|cluster/prod/abcd-1234-5");
    assert_stmt(st, 1, "Allow|DescribeTopic,ReadData|topic/prod/abcd-1234-5/src.orders");
    /* Deny statements after the Allows, resources sorted */
    assert_stmt(st, 2, "Deny|ReadData|topic/prod/abcd-1234-5/src.*");
    assert_stmt(st, 3, "Deny|WriteData|topic/prod/abcd-1234-5/src.orders");
    /* the host-limited DENY: a note; the host-limited ALLOW: not mapped */
    json_t *notes = json_object_get(json_array_get(json_object_get(p, "policies"), 0), "notes");
    assert_int_equal(json_array_size(notes), 1);
    assert_non_null(strstr(json_string_value(json_array_get(notes, 0)), "every host"));
    json_t *nm = json_object_get(p, "not_mapped");
    assert_int_equal(json_array_size(nm), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(nm, 0), "host")),
                        "10.0.0.2");
    json_decref(p);
    am_list_free(&src);
}

static void test_principals(void **state) {
    (void)state;
    am_list src, rev;
    am_list_init(&src);
    am_list_init(&rev);
    add(&src, AM_RES_TOPIC, "orders", AM_PAT_LITERAL, "User:zed", "*", AM_OP_READ, AM_ALLOW);
    add(&src, AM_RES_GROUP, "g1", AM_PAT_LITERAL, "User:alice", "*", AM_OP_READ, AM_ALLOW);
    add(&src, AM_RES_TOPIC, "orders", AM_PAT_LITERAL, "User:alice", "*", AM_OP_READ, AM_ALLOW);
    add(&src, AM_RES_TOPIC, "payments", AM_PAT_LITERAL, "User:alice", "*", AM_OP_READ, AM_ALLOW);
    add(&src, AM_RES_TOPIC, "orders", AM_PAT_LITERAL, "User:*", "*", AM_OP_DESCRIBE, AM_ALLOW);
    for (size_t i = src.n; i-- > 0;)
        add(&rev, src.v[i].restype, src.v[i].name, src.v[i].pattern, src.v[i].principal,
            src.v[i].host, src.v[i].op, src.v[i].perm);
    am_pmap pm;
    char err[256];
    assert_int_equal(am_pmap_parse("User:alice=User:alice-msk", &pm, err, sizeof(err)), 0);
    json_t *p = run(&src, prefix_policy, "", &pm, NULL);
    /* sorted principals, mapped names */
    json_t *pols = json_object_get(p, "policies");
    assert_int_equal(json_array_size(pols), 3);
    const char *want[] = {"User:*", "User:alice-msk", "User:zed"};
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(
            json_string_value(json_object_get(json_array_get(pols, i), "principal")), want[i]);
    json_t *st = statements(p, "User:alice-msk");
    assert_int_equal(json_array_size(st), 3);
    /* topics with the same actions share one statement; placeholders */
    assert_stmt(st, 0,
                "Allow|Connect|arn:aws:kafka:<region>:<account>:cluster/"
                "<cluster-name>/<cluster-uuid>");
    assert_stmt(st, 1,
                "Allow|DescribeTopic,ReadData|arn:aws:kafka:<region>:<account>:topic/"
                "<cluster-name>/<cluster-uuid>/orders,arn:aws:kafka:<region>:<account>:topic/"
                "<cluster-name>/<cluster-uuid>/payments");
    assert_stmt(st, 2,
                "Allow|AlterGroup,DescribeGroup|arn:aws:kafka:<region>:<account>:group/"
                "<cluster-name>/<cluster-uuid>/g1");
    assert_true(json_is_true(json_object_get(p, "placeholders")));
    assert_int_equal(json_array_size(json_object_get(json_array_get(pols, 0), "notes")), 1);
    /* input order does not matter */
    json_t *q = run(&rev, prefix_policy, "", &pm, NULL);
    char *a = json_dumps(p, JSON_SORT_KEYS), *b = json_dumps(q, JSON_SORT_KEYS);
    assert_string_equal(a, b);
    free(a);
    free(b);
    json_decref(q);
    json_decref(p);
    am_pmap_free(&pm);

    /* a map onto a principal with ACLs of its own is refused */
    assert_int_equal(am_pmap_parse("User:alice=User:zed", &pm, err, sizeof(err)), 0);
    am_ctx ctx = {g_topics, 3, prefix_policy, "", &pm};
    ip_arn arn;
    assert_int_equal(ip_arn_parse(NULL, NULL, &arn, err, sizeof(err)), 0);
    assert_null(ip_policies(&src, &ctx, &arn, err, sizeof(err)));
    assert_non_null(strstr(err, "User:zed"));
    am_pmap_free(&pm);
    am_list_free(&src);
    am_list_free(&rev);
}

static void test_arn(void **state) {
    (void)state;
    ip_arn a;
    char err[256], out[1024];
    assert_int_equal(ip_arn_parse(ARN, NULL, &a, err, sizeof(err)), 0);
    assert_string_equal(a.region, "eu-west-1");
    assert_string_equal(a.account, "123456789012");
    assert_string_equal(a.cluster, "prod/abcd-1234-5");
    assert_int_equal(a.placeholders, 0);
    ip_arn_cluster(&a, out, sizeof(out));
    assert_string_equal(out, ARN);
    assert_int_equal(
        ip_arn_parse("arn:aws-cn:kafka:cn-north-1:1:cluster/c/u", NULL, &a, err, sizeof(err)), 0);
    assert_string_equal(a.partition, "aws-cn");
    assert_int_equal(ip_arn_parse("", "us-east-2", &a, err, sizeof(err)), 0);
    ip_arn_cluster(&a, out, sizeof(out));
    assert_string_equal(out,
                        "arn:aws:kafka:us-east-2:<account>:cluster/<cluster-name>/<cluster-uuid>");
    static const char *bad[] = {
        "prod",
        "arn:aws:kafka:eu-west-1:123:cluster/prod",
        "arn:aws:kafka:eu-west-1:123:topic/prod/u/t",
        "arn:aws:s3:eu-west-1:123:cluster/prod/u",
        "arn:aws:kafka::123:cluster/prod/u",
        "arn:aws:kafka:eu-west-1:123:cluster/prod/u/x",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = 0;
        assert_int_equal(ip_arn_parse(bad[i], NULL, &a, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "not an MSK cluster ARN"));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_mapping), cmocka_unit_test(test_topic_names),
        cmocka_unit_test(test_deny_and_hosts), cmocka_unit_test(test_principals),
        cmocka_unit_test(test_arn)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
