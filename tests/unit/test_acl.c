/*
 * test_acl.c - the ACL store and authorizer (broker/acl.c): evaluation
 * rules as Kafka's StandardAuthorizer applies them (super users, DENY over
 * ALLOW, implied operations, LITERAL / wildcard / PREFIXED patterns,
 * principal and host wildcards, allow.everyone.if.no.acl.found), filter
 * matching for DescribeAcls / DeleteAcls, validation of new bindings, the
 * authorizer config keys, and the store file: round trip, corruption and
 * truncation refused with the file named.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "broker/acl.h"
#include "common/props.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ALICE "User:alice"
#define BOB "User:bob"
#define HOST "10.0.0.1"

static void add(kb_acls *a, int8_t res, const char *name, int8_t pat, const char *principal,
                const char *host, int8_t op, int8_t perm) {
    assert_int_equal(kb_acls_add(a, res, name, strlen(name), pat, principal, strlen(principal),
                                 host, strlen(host), op, perm),
                     0);
}

static int can(const kb_acls *a, const char *principal, int8_t res, const char *name, int8_t op) {
    return kb_acls_authorize(a, principal, HOST, res, name, strlen(name), op);
}

static void test_no_acls(void **state) {
    (void)state;
    kb_acls a;
    memset(&a, 0, sizeof(a));
    assert_false(can(&a, ALICE, KB_RES_TOPIC, "t", KB_OP_READ));
    a.allow_if_no_acl = 1;
    assert_true(can(&a, ALICE, KB_RES_TOPIC, "t", KB_OP_READ));
    /* An ACL on the resource for someone else: the fallback no longer applies. */
    add(&a, KB_RES_TOPIC, "t", KB_PAT_LITERAL, BOB, "*", KB_OP_READ, KB_PERM_ALLOW);
    assert_false(can(&a, ALICE, KB_RES_TOPIC, "t", KB_OP_READ));
    assert_true(can(&a, BOB, KB_RES_TOPIC, "t", KB_OP_READ));
    assert_true(can(&a, ALICE, KB_RES_TOPIC, "other", KB_OP_READ));
    kb_acls_free(&a);
}

static void test_implied_and_all(void **state) {
    (void)state;
    kb_acls a;
    memset(&a, 0, sizeof(a));
    add(&a, KB_RES_TOPIC, "t", KB_PAT_LITERAL, ALICE, "*", KB_OP_READ, KB_PERM_ALLOW);
    assert_true(can(&a, ALICE, KB_RES_TOPIC, "t", KB_OP_READ));
    assert_true(can(&a, ALICE, KB_RES_TOPIC, "t", KB_OP_DESCRIBE)); /* READ implies DESCRIBE */
    assert_false(can(&a, ALICE, KB_RES_TOPIC, "t", KB_OP_WRITE));
    assert_false(can(&a, ALICE, KB_RES_TOPIC, "t", KB_OP_DESCRIBE_CONFIGS));
    for (int8_t op = KB_OP_WRITE; op <= KB_OP_ALTER; op++) {
        if (op == KB_OP_CREATE)
            continue;
        kb_acls b;
        memset(&b, 0, sizeof(b));
        add(&b, KB_RES_GROUP, "g", KB_PAT_LITERAL, ALICE, "*", op, KB_PERM_ALLOW);
        assert_true(can(&b, ALICE, KB_RES_GROUP, "g", KB_OP_DESCRIBE));
        kb_acls_free(&b);
    }
    /* CREATE does not imply DESCRIBE. */
    kb_acls c;
    memset(&c, 0, sizeof(c));
    add(&c, KB_RES_TOPIC, "t", KB_PAT_LITERAL, ALICE, "*", KB_OP_CREATE, KB_PERM_ALLOW);
    assert_false(can(&c, ALICE, KB_RES_TOPIC, "t", KB_OP_DESCRIBE));
    /* ALTER_CONFIGS implies DESCRIBE_CONFIGS. */
    add(&c, KB_RES_TOPIC, "t", KB_PAT_LITERAL, ALICE, "*", KB_OP_ALTER_CONFIGS, KB_PERM_ALLOW);
    assert_true(can(&c, ALICE, KB_RES_TOPIC, "t", KB_OP_DESCRIBE_CONFIGS));
    kb_acls_free(&c);
    /* ALL covers every operation. */
    add(&a, KB_RES_CLUSTER, KB_CLUSTER_RESOURCE, KB_PAT_LITERAL, BOB, "*", KB_OP_ALL,
        KB_PERM_ALLOW);
    for (int8_t op = KB_OP_READ; op <= KB_OP_DESCRIBE_TOKENS; op++)
        assert_true(can(&a, BOB, KB_RES_CLUSTER, KB_CLUSTER_RESOURCE, op));
    kb_acls_free(&a);
}

static void test_deny_wins(void **state) {
    (void)state;
    kb_acls a;
    memset(&a, 0, sizeof(a));
    add(&a, KB_RES_TOPIC, "*", KB_PAT_LITERAL, ALICE, "*", KB_OP_ALL, KB_PERM_ALLOW);
    add(&a, KB_RES_TOPIC, "secret", KB_PAT_LITERAL, ALICE, "*", KB_OP_READ, KB_PERM_DENY);
    assert_true(can(&a, ALICE, KB_RES_TOPIC, "public", KB_OP_READ));
    assert_false(can(&a, ALICE, KB_RES_TOPIC, "secret", KB_OP_READ));
    /* A DENY of READ does not deny DESCRIBE (nor WRITE). */
    assert_true(can(&a, ALICE, KB_RES_TOPIC, "secret", KB_OP_DESCRIBE));
    assert_true(can(&a, ALICE, KB_RES_TOPIC, "secret", KB_OP_WRITE));
    /* A DENY of ALL denies everything, for every principal with User:*. */
    add(&a, KB_RES_TOPIC, "locked", KB_PAT_PREFIXED, "User:*", "*", KB_OP_ALL, KB_PERM_DENY);
    assert_false(can(&a, ALICE, KB_RES_TOPIC, "locked-1", KB_OP_DESCRIBE));
    assert_false(can(&a, BOB, KB_RES_TOPIC, "locked", KB_OP_WRITE));
    kb_acls_free(&a);
}

static void test_patterns_principals_hosts(void **state) {
    (void)state;
    kb_acls a;
    memset(&a, 0, sizeof(a));
    add(&a, KB_RES_TOPIC, "app.", KB_PAT_PREFIXED, ALICE, "*", KB_OP_WRITE, KB_PERM_ALLOW);
    assert_true(can(&a, ALICE, KB_RES_TOPIC, "app.orders", KB_OP_WRITE));
    assert_true(can(&a, ALICE, KB_RES_TOPIC, "app.", KB_OP_WRITE));
    assert_false(can(&a, ALICE, KB_RES_TOPIC, "app", KB_OP_WRITE));
    assert_false(can(&a, ALICE, KB_RES_TOPIC, "other.app.x", KB_OP_WRITE));
    /* Resource types are separate: a TOPIC ACL says nothing of groups. */
    assert_false(can(&a, ALICE, KB_RES_GROUP, "app.orders", KB_OP_WRITE));
    /* Literal names are exact. */
    add(&a, KB_RES_GROUP, "g1", KB_PAT_LITERAL, "User:*", "*", KB_OP_READ, KB_PERM_ALLOW);
    assert_true(can(&a, BOB, KB_RES_GROUP, "g1", KB_OP_READ));
    assert_false(can(&a, BOB, KB_RES_GROUP, "g10", KB_OP_READ));
    /* Hosts: exact address or "*". */
    add(&a, KB_RES_TOPIC, "h", KB_PAT_LITERAL, BOB, "10.9.9.9", KB_OP_READ, KB_PERM_ALLOW);
    assert_false(can(&a, BOB, KB_RES_TOPIC, "h", KB_OP_READ));
    add(&a, KB_RES_TOPIC, "h", KB_PAT_LITERAL, BOB, HOST, KB_OP_READ, KB_PERM_ALLOW);
    assert_true(can(&a, BOB, KB_RES_TOPIC, "h", KB_OP_READ));
    /* Principals are compared whole. */
    assert_false(can(&a, "User:alice2", KB_RES_TOPIC, "app.x", KB_OP_WRITE));
    kb_acls_free(&a);
}

static void test_super_users(void **state) {
    (void)state;
    kb_acls a;
    memset(&a, 0, sizeof(a));
    assert_int_equal(kb_acls_set_super_users(&a, " User:admin ; User:ops;;"), 0);
    assert_int_equal(a.nsuper, 2);
    add(&a, KB_RES_TOPIC, "*", KB_PAT_LITERAL, "User:*", "*", KB_OP_ALL, KB_PERM_DENY);
    assert_true(can(&a, "User:admin", KB_RES_TOPIC, "t", KB_OP_WRITE));
    assert_true(can(&a, "User:ops", KB_RES_CLUSTER, KB_CLUSTER_RESOURCE, KB_OP_ALTER));
    assert_false(can(&a, ALICE, KB_RES_TOPIC, "t", KB_OP_WRITE));
    kb_acls_free(&a);
}

static void test_by_resource_type(void **state) {
    (void)state;
    kb_acls a;
    memset(&a, 0, sizeof(a));
    assert_false(kb_acls_authorize_any(&a, ALICE, HOST, KB_RES_TOPIC, KB_OP_WRITE));
    add(&a, KB_RES_TOPIC, "x", KB_PAT_LITERAL, ALICE, "*", KB_OP_READ, KB_PERM_ALLOW);
    assert_false(kb_acls_authorize_any(&a, ALICE, HOST, KB_RES_TOPIC, KB_OP_WRITE));
    add(&a, KB_RES_TOPIC, "x", KB_PAT_LITERAL, ALICE, "*", KB_OP_WRITE, KB_PERM_ALLOW);
    assert_true(kb_acls_authorize_any(&a, ALICE, HOST, KB_RES_TOPIC, KB_OP_WRITE));
    assert_false(kb_acls_authorize_any(&a, BOB, HOST, KB_RES_TOPIC, KB_OP_WRITE));
    /* A DENY on a prefix of the allowed name cancels it. */
    add(&a, KB_RES_TOPIC, "", KB_PAT_PREFIXED, ALICE, "*", KB_OP_WRITE, KB_PERM_DENY);
    assert_false(kb_acls_authorize_any(&a, ALICE, HOST, KB_RES_TOPIC, KB_OP_WRITE));
    kb_acls_free(&a);
}

static kb_acl_filter filter(int8_t res, const char *name, int8_t pat) {
    kb_acl_filter f;
    memset(&f, 0, sizeof(f));
    f.res_type = res;
    f.name = name;
    f.name_len = name ? strlen(name) : 0;
    f.pattern = pat;
    f.op = KB_OP_ANY;
    f.perm = KB_PERM_ANY;
    return f;
}

static void test_filters(void **state) {
    (void)state;
    kb_acls a;
    memset(&a, 0, sizeof(a));
    add(&a, KB_RES_TOPIC, "orders", KB_PAT_LITERAL, ALICE, "*", KB_OP_READ, KB_PERM_ALLOW);
    add(&a, KB_RES_TOPIC, "*", KB_PAT_LITERAL, BOB, "*", KB_OP_READ, KB_PERM_ALLOW);
    add(&a, KB_RES_TOPIC, "ord", KB_PAT_PREFIXED, BOB, "*", KB_OP_WRITE, KB_PERM_DENY);
    add(&a, KB_RES_GROUP, "orders", KB_PAT_LITERAL, ALICE, "*", KB_OP_READ, KB_PERM_ALLOW);
    int m[4];
    kb_acl_filter f = filter(KB_RES_ANY, NULL, KB_PAT_ANY);
    for (int i = 0; i < 4; i++)
        assert_true(kb_acl_filter_matches(&f, &a.v[i]));
    /* LITERAL: exactly that literal name. */
    f = filter(KB_RES_TOPIC, "orders", KB_PAT_LITERAL);
    for (int i = 0; i < 4; i++)
        m[i] = kb_acl_filter_matches(&f, &a.v[i]);
    assert_true(m[0] && !m[1] && !m[2] && !m[3]);
    /* ANY: that exact name with any pattern type. */
    f = filter(KB_RES_TOPIC, "ord", KB_PAT_ANY);
    for (int i = 0; i < 4; i++)
        m[i] = kb_acl_filter_matches(&f, &a.v[i]);
    assert_true(!m[0] && !m[1] && m[2] && !m[3]);
    /* MATCH: every binding that applies to the resource "orders". */
    f = filter(KB_RES_TOPIC, "orders", KB_PAT_MATCH);
    for (int i = 0; i < 4; i++)
        m[i] = kb_acl_filter_matches(&f, &a.v[i]);
    assert_true(m[0] && m[1] && m[2] && !m[3]);
    /* Entry filters: principal, operation, permission. */
    f = filter(KB_RES_ANY, NULL, KB_PAT_ANY);
    f.principal = BOB;
    f.principal_len = strlen(BOB);
    f.perm = KB_PERM_DENY;
    for (int i = 0; i < 4; i++)
        m[i] = kb_acl_filter_matches(&f, &a.v[i]);
    assert_true(!m[0] && !m[1] && m[2] && !m[3]);
    f = filter(KB_RES_UNKNOWN, NULL, KB_PAT_ANY);
    assert_non_null(kb_acl_filter_invalid(&f));
    f = filter(KB_RES_ANY, NULL, KB_PAT_UNKNOWN);
    assert_non_null(kb_acl_filter_invalid(&f));
    f = filter(KB_RES_ANY, NULL, KB_PAT_MATCH);
    assert_null(kb_acl_filter_invalid(&f));
    /* Adding the same binding twice keeps one copy. */
    assert_int_equal(kb_acls_add(&a, KB_RES_TOPIC, "orders", 6, KB_PAT_LITERAL, ALICE,
                                 strlen(ALICE), "*", 1, KB_OP_READ, KB_PERM_ALLOW),
                     1);
    assert_int_equal(a.n, 4);
    kb_acls_remove(&a, 0);
    assert_int_equal(a.n, 3);
    kb_acls_free(&a);
}

static const char *invalid(int8_t res, const char *name, int8_t pat, const char *pr, int8_t op,
                           int8_t perm) {
    return kb_acl_invalid(res, name, strlen(name), pat, pr, strlen(pr), "*", 1, op, perm);
}

static void test_validation(void **state) {
    (void)state;
    assert_null(invalid(KB_RES_TOPIC, "t", KB_PAT_LITERAL, ALICE, KB_OP_READ, KB_PERM_ALLOW));
    assert_non_null(invalid(KB_RES_ANY, "t", KB_PAT_LITERAL, ALICE, KB_OP_READ, KB_PERM_ALLOW));
    assert_non_null(invalid(KB_RES_TOPIC, "t", KB_PAT_MATCH, ALICE, KB_OP_READ, KB_PERM_ALLOW));
    assert_non_null(invalid(KB_RES_TOPIC, "t", KB_PAT_LITERAL, ALICE, KB_OP_ANY, KB_PERM_ALLOW));
    assert_non_null(invalid(KB_RES_TOPIC, "t", KB_PAT_LITERAL, ALICE, KB_OP_READ, KB_PERM_ANY));
    assert_non_null(invalid(KB_RES_TOPIC, "", KB_PAT_LITERAL, ALICE, KB_OP_READ, KB_PERM_ALLOW));
    assert_non_null(invalid(KB_RES_TOPIC, "t", KB_PAT_LITERAL, "alice", KB_OP_READ, KB_PERM_ALLOW));
    assert_non_null(
        invalid(KB_RES_CLUSTER, "c", KB_PAT_LITERAL, ALICE, KB_OP_ALTER, KB_PERM_ALLOW));
    assert_null(invalid(KB_RES_CLUSTER, KB_CLUSTER_RESOURCE, KB_PAT_LITERAL, ALICE, KB_OP_ALTER,
                        KB_PERM_ALLOW));
}

static void test_config_keys(void **state) {
    (void)state;
    kf_props p;
    kf_props_init(&p);
    char err[1024] = "";
    assert_int_equal(kf_props_set(&p, "authorizer.class.name",
                                  "org.apache.kafka.metadata.authorizer.StandardAuthorizer"),
                     0);
    assert_int_equal(kf_props_set(&p, "super.users", "User:admin;User:ops"), 0);
    assert_int_equal(kf_props_set(&p, "allow.everyone.if.no.acl.found", "true"), 0);
    assert_int_equal(kb_acl_config_check(&p, err, sizeof(err)), 0);
    for (size_t i = 0; i < p.count; i++)
        assert_true(p.items[i].used);
    kf_props_free(&p);

    kf_props_init(&p);
    assert_int_equal(kf_props_set(&p, "authorizer.class.name", "com.example.MyAuthorizer"), 0);
    assert_int_equal(kf_props_set(&p, "super.users", "admin"), 0);
    assert_int_equal(kf_props_set(&p, "allow.everyone.if.no.acl.found", "maybe"), 0);
    assert_int_equal(kb_acl_config_check(&p, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "com.example.MyAuthorizer"));
    assert_non_null(strstr(err, "super.users"));
    assert_non_null(strstr(err, "allow.everyone.if.no.acl.found"));
    kf_props_free(&p);
}

static void tmpdir(char *dir, size_t cap) {
    snprintf(dir, cap, "/tmp/kb-acl-test-XXXXXX");
    assert_non_null(mkdtemp(dir));
}

static void test_store_round_trip(void **state) {
    (void)state;
    char dir[64], err[512];
    tmpdir(dir, sizeof(dir));
    kb_acls a;
    assert_int_equal(kb_acls_open(&a, dir, err, sizeof(err)), 0);
    assert_int_equal(a.n, 0);
    add(&a, KB_RES_TOPIC, "orders", KB_PAT_LITERAL, ALICE, "*", KB_OP_READ, KB_PERM_ALLOW);
    add(&a, KB_RES_TOPIC, "app.", KB_PAT_PREFIXED, "User:*", "10.1.2.3", KB_OP_ALL, KB_PERM_DENY);
    add(&a, KB_RES_CLUSTER, KB_CLUSTER_RESOURCE, KB_PAT_LITERAL, BOB, "*", KB_OP_ALTER,
        KB_PERM_ALLOW);
    add(&a, KB_RES_TRANSACTIONAL_ID, "tx-", KB_PAT_PREFIXED, BOB, "*", KB_OP_WRITE, KB_PERM_ALLOW);
    assert_int_equal(kb_acls_save(&a), 0);
    kb_acls b;
    assert_int_equal(kb_acls_open(&b, dir, err, sizeof(err)), 0);
    assert_int_equal(b.n, a.n);
    for (size_t i = 0; i < a.n; i++) {
        assert_int_equal(b.v[i].res_type, a.v[i].res_type);
        assert_int_equal(b.v[i].pattern, a.v[i].pattern);
        assert_int_equal(b.v[i].op, a.v[i].op);
        assert_int_equal(b.v[i].perm, a.v[i].perm);
        assert_string_equal(b.v[i].name, a.v[i].name);
        assert_string_equal(b.v[i].principal, a.v[i].principal);
        assert_string_equal(b.v[i].host, a.v[i].host);
    }
    /* Deleting everything persists an empty store. */
    while (b.n)
        kb_acls_remove(&b, 0);
    assert_int_equal(kb_acls_save(&b), 0);
    kb_acls_free(&b);
    assert_int_equal(kb_acls_reload(&a, err, sizeof(err)), 0);
    assert_int_equal(a.n, 0);
    kb_acls_free(&a);
    kf_rmtree(dir);
}

static void test_store_corrupt(void **state) {
    (void)state;
    char dir[64], err[512];
    tmpdir(dir, sizeof(dir));
    kb_acls a;
    assert_int_equal(kb_acls_open(&a, dir, err, sizeof(err)), 0);
    add(&a, KB_RES_TOPIC, "orders", KB_PAT_LITERAL, ALICE, "*", KB_OP_READ, KB_PERM_ALLOW);
    add(&a, KB_RES_GROUP, "g", KB_PAT_LITERAL, ALICE, "*", KB_OP_READ, KB_PERM_ALLOW);
    assert_int_equal(kb_acls_save(&a), 0);
    kf_buf f;
    assert_int_equal(kf_read_file(a.path, &f, 1 << 20), 0);
    const size_t good_len = f.len;

    /* A flipped payload byte: CRC mismatch. */
    f.data[good_len - 3] ^= 0x40;
    assert_int_equal(kf_write_file_atomic(a.path, f.data, f.len), 0);
    kb_acls b;
    assert_int_equal(kb_acls_open(&b, dir, err, sizeof(err)), -1);
    assert_non_null(strstr(err, a.path));
    assert_non_null(strstr(err, "corrupt"));
    assert_int_equal(b.n, 0);
    kb_acls_free(&b);
    f.data[good_len - 3] ^= 0x40;

    /* A torn tail. */
    assert_int_equal(kf_write_file_atomic(a.path, f.data, good_len - 5), 0);
    assert_int_equal(kb_acls_open(&b, dir, err, sizeof(err)), -1);
    assert_non_null(strstr(err, a.path));
    kb_acls_free(&b);

    /* Not an ACL file at all. */
    assert_int_equal(kf_write_file_atomic(a.path, "hello world", 11), 0);
    assert_int_equal(kb_acls_open(&b, dir, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "bad magic"));
    kb_acls_free(&b);

    /* The good image parses again. */
    assert_int_equal(kf_write_file_atomic(a.path, f.data, good_len), 0);
    assert_int_equal(kb_acls_open(&b, dir, err, sizeof(err)), 0);
    assert_int_equal(b.n, 2);
    kb_acls_free(&b);
    kf_buf_free(&f);
    kb_acls_free(&a);
    kf_rmtree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_acls),       cmocka_unit_test(test_implied_and_all),
        cmocka_unit_test(test_deny_wins),     cmocka_unit_test(test_patterns_principals_hosts),
        cmocka_unit_test(test_super_users),   cmocka_unit_test(test_by_resource_type),
        cmocka_unit_test(test_filters),       cmocka_unit_test(test_validation),
        cmocka_unit_test(test_config_keys),   cmocka_unit_test(test_store_round_trip),
        cmocka_unit_test(test_store_corrupt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
