/*
 * test_aclmap.c - ACL sync's transform: exact expected output for a planted
 * set, and a randomized property test: for random source ACL sets, random
 * principal maps and both replication policies, every request on the target
 * is allowed exactly when the corresponding request on the source is
 * (mirrored topics and groups), and nothing else on the target is allowed
 * by the synced ACLs.
 */
#include "mirror/aclmap.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static int prefix_policy(void *u, const char *src, char *out, size_t cap) {
    int n = snprintf(out, cap, "%s%s", (const char *)u, src);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static void test_planted_set(void **state) {
    (void)state;
    am_list src, want, skipped;
    am_list_init(&src);
    am_list_init(&want);
    am_list_init(&skipped);
    assert_int_equal(am_add(&src, AM_RES_TOPIC, "orders", AM_PAT_LITERAL, "User:alice", "*",
                            AM_OP_READ, AM_ALLOW, NULL),
                     0);
    assert_int_equal(am_add(&src, AM_RES_TOPIC, "pay", AM_PAT_PREFIXED, "User:bob", "*",
                            AM_OP_WRITE, AM_ALLOW, NULL),
                     0);
    assert_int_equal(am_add(&src, AM_RES_TOPIC, "*", AM_PAT_LITERAL, "User:eve", "10.0.0.1",
                            AM_OP_READ, AM_DENY, NULL),
                     0);
    assert_int_equal(am_add(&src, AM_RES_GROUP, "billing", AM_PAT_LITERAL, "User:alice", "*",
                            AM_OP_READ, AM_ALLOW, NULL),
                     0);
    assert_int_equal(am_add(&src, AM_RES_CLUSTER, "kafka-cluster", AM_PAT_LITERAL, "User:ops", "*",
                            AM_OP_ALTER, AM_ALLOW, NULL),
                     0);
    assert_int_equal(am_add(&src, AM_RES_TOPIC, "internal", AM_PAT_LITERAL, "User:alice", "*",
                            AM_OP_READ, AM_ALLOW, NULL),
                     0);
    am_pmap pm;
    char err[256];
    assert_int_equal(am_pmap_parse("User:alice=User:alice-msk", &pm, err, sizeof(err)), 0);
    const char *topics[] = {"orders", "payments", "pay-eu"};
    am_ctx ctx = {topics, 3, prefix_policy, "onprem.", &pm};
    assert_int_equal(am_transform(&src, &ctx, &want, &skipped, err, sizeof(err)), 0);
    assert_int_equal(want.n, 1 + 2 + 3 + 1);
    am_acl e1 = {AM_RES_TOPIC, "onprem.orders", AM_PAT_LITERAL, "User:alice-msk",
                 "*",          AM_OP_READ,      AM_ALLOW,       NULL};
    am_acl e2 = {AM_RES_TOPIC, "onprem.pay-eu", AM_PAT_LITERAL, "User:bob",
                 "*",          AM_OP_WRITE,     AM_ALLOW,       NULL};
    am_acl e3 = {AM_RES_TOPIC, "onprem.payments", AM_PAT_LITERAL, "User:eve",
                 "10.0.0.1",   AM_OP_READ,        AM_DENY,        NULL};
    am_acl e4 = {AM_RES_GROUP, "billing",  AM_PAT_LITERAL, "User:alice-msk",
                 "*",          AM_OP_READ, AM_ALLOW,       NULL};
    assert_true(am_contains(&want, &e1) && am_contains(&want, &e2) && am_contains(&want, &e3) &&
                am_contains(&want, &e4));
    assert_int_equal(skipped.n, 2); /* the cluster ACL and the unmirrored topic */
    assert_non_null(strstr(skipped.v[0].reason, "cluster-wide"));
    assert_non_null(strstr(skipped.v[1].reason, "covers no topic"));
    am_list_free(&src);
    am_list_free(&want);
    am_list_free(&skipped);
    am_pmap_free(&pm);
}

static void test_pmap_errors(void **state) {
    (void)state;
    am_pmap pm;
    char err[256];
    assert_int_equal(am_pmap_parse("User:a=User:x,User:b=User:x", &pm, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "mapped twice"));
    assert_int_equal(am_pmap_parse("alice=bob", &pm, err, sizeof(err)), -1);
    assert_int_equal(am_pmap_parse("User:*=User:x", &pm, err, sizeof(err)), -1);
    assert_int_equal(
        am_pmap_parse("User:x=User:CN=x,O=corp; User:y=User:y2", &pm, err, sizeof(err)), 0);
    assert_string_equal(am_pmap_apply(&pm, "User:x"), "User:CN=x,O=corp");
    assert_string_equal(am_pmap_apply(&pm, "User:y"), "User:y2");
    am_pmap_free(&pm);
    assert_int_equal(am_pmap_parse(" User:a = User:b , ", &pm, err, sizeof(err)), 0);
    assert_string_equal(am_pmap_apply(&pm, "User:a"), "User:b");
    assert_string_equal(am_pmap_apply(&pm, "User:c"), "User:c");
    /* a target that already has rights of its own on the source: refused */
    am_list src, want, skipped;
    am_list_init(&src);
    am_list_init(&want);
    am_list_init(&skipped);
    am_add(&src, AM_RES_GROUP, "g", AM_PAT_LITERAL, "User:b", "*", AM_OP_READ, AM_ALLOW, NULL);
    const char *topics[] = {"t"};
    am_ctx ctx = {topics, 1, prefix_policy, "", &pm};
    assert_int_equal(am_transform(&src, &ctx, &want, &skipped, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "both principals' rights"));
    am_list_free(&src);
    am_list_free(&want);
    am_list_free(&skipped);
    am_pmap_free(&pm);
}

/* ---- property test --------------------------------------------------------- */

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static unsigned rnd(unsigned n) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (unsigned)(g_rng % n);
}

static const char *T_ALL[] = {"a", "ab", "abc", "b", "bx", "c"};
static const char *GROUPS[] = {"g1", "g2", "gx", "h"};
static const char *PRINC[] = {"User:alice", "User:bob", "User:carol", "User:*"};
static const char *HOSTS[] = {"*", "10.0.0.1", "10.0.0.2"};
static const char *NAMEPARTS[] = {"a", "ab", "b", "*", "g", "g1", "x", ""};
static const int OPS[] = {AM_OP_ALL,      AM_OP_READ,          AM_OP_WRITE,           AM_OP_DELETE,
                          AM_OP_DESCRIBE, AM_OP_ALTER_CONFIGS, AM_OP_DESCRIBE_CONFIGS};

static void one_round(int policy_prefix) {
    am_list src, want, skipped;
    am_list_init(&src);
    am_list_init(&want);
    am_list_init(&skipped);
    unsigned nacl = 1 + rnd(12);
    for (unsigned i = 0; i < nacl; i++) {
        int res = rnd(5) == 0 ? AM_RES_CLUSTER : rnd(2) ? AM_RES_TOPIC : AM_RES_GROUP;
        const char *name = NAMEPARTS[rnd(8)];
        int pat = rnd(3) == 0 ? AM_PAT_PREFIXED : AM_PAT_LITERAL;
        if (pat == AM_PAT_PREFIXED && !strcmp(name, "*"))
            pat = AM_PAT_LITERAL;
        if (!*name)
            name = "a";
        am_add(&src, res, name, pat, PRINC[rnd(4)], HOSTS[rnd(3)], OPS[rnd(7)],
               rnd(4) ? AM_ALLOW : AM_DENY, NULL);
    }
    /* mirrored topics: a random subset */
    const char *topics[6];
    size_t nt = 0;
    for (size_t i = 0; i < 6; i++)
        if (rnd(3))
            topics[nt++] = T_ALL[i];
    /* an injective map among principals that do not collide */
    am_pmap pm;
    char err[256];
    const char *maps[] = {"", "User:alice=User:alice-msk", "User:alice=User:x,User:bob=User:y",
                          "User:alice=User:bob,User:bob=User:alice"};
    assert_int_equal(am_pmap_parse(maps[rnd(4)], &pm, err, sizeof(err)), 0);
    const char *pfx = policy_prefix ? "src." : "";
    am_ctx ctx = {topics, nt, prefix_policy, (void *)pfx, &pm};
    int rc = am_transform(&src, &ctx, &want, &skipped, err, sizeof(err));
    if (rc != 0) { /* only a colliding map may be refused */
        assert_non_null(strstr(err, "both principals' rights"));
        goto out;
    }
    /* Every target request: principal p' (images, unmapped and others),
     * every host, op, resource. */
    const char *tprinc[] = {"User:alice", "User:bob", "User:carol", "User:alice-msk",
                            "User:x",     "User:y",   "User:zed"};
    for (size_t pi = 0; pi < 7; pi++) {
        /* the source principal that p' stands for */
        const char *sp = tprinc[pi];
        for (size_t k = 0; k < pm.n; k++)
            if (!strcmp(pm.to[k], tprinc[pi]))
                sp = pm.from[k];
        /* p' is a source principal whose rights moved to another name: on
         * the target it stands for nobody, and may get at most what any
         * unknown principal gets on the source (User:* rights) */
        int mapped_away = 0;
        for (size_t k = 0; k < pm.n; k++)
            if (!strcmp(pm.from[k], tprinc[pi]) && strcmp(sp, tprinc[pi]) == 0)
                mapped_away = 1;
        for (size_t h = 0; h < 3; h++) {
            const char *host = h == 0 ? "10.0.0.1" : h == 1 ? "10.0.0.2" : "10.0.0.9";
            for (size_t o = 0; o < 7; o++) {
                int op = OPS[o] == AM_OP_ALL ? AM_OP_CREATE : OPS[o];
                /* topics: mirrored ones and target-only names */
                for (size_t t = 0; t < 6; t++) {
                    int mirrored = 0;
                    for (size_t m = 0; m < nt; m++)
                        mirrored |= !strcmp(topics[m], T_ALL[t]);
                    char tn[64];
                    snprintf(tn, sizeof(tn), "%s%s", pfx, T_ALL[t]);
                    int tgt = am_allowed(&want, AM_RES_TOPIC, tn, tprinc[pi], host, op);
                    if (!mirrored) {
                        /* a target topic that is no mirrored copy: the sync grants
                         * nothing on it (when names differ from the source's, or
                         * when the source would not have either) */
                        if (tgt)
                            fail_msg("granted %s on unmirrored target topic %s", tprinc[pi], tn);
                        continue;
                    }
                    int s = am_allowed(&src, AM_RES_TOPIC, T_ALL[t],
                                       mapped_away ? "User:nobody-else" : sp, host, op);
                    if (tgt && !s)
                        fail_msg("target grants %s %s on %s, source does not", tprinc[pi],
                                 am_op_name(op), tn);
                    if (!mapped_away && s != tgt)
                        fail_msg("%s %s on %s: source %d, target %d", tprinc[pi], am_op_name(op),
                                 tn, s, tgt);
                }
                for (size_t g = 0; g < 4; g++) {
                    int tgt = am_allowed(&want, AM_RES_GROUP, GROUPS[g], tprinc[pi], host, op);
                    int s = am_allowed(&src, AM_RES_GROUP, GROUPS[g],
                                       mapped_away ? "User:nobody-else" : sp, host, op);
                    if (tgt && !s)
                        fail_msg("target grants %s %s on group %s, source does not", tprinc[pi],
                                 am_op_name(op), GROUPS[g]);
                    if (!mapped_away && s != tgt)
                        fail_msg("%s %s on group %s: source %d, target %d", tprinc[pi],
                                 am_op_name(op), GROUPS[g], s, tgt);
                }
                /* cluster rights are never granted by the sync */
                assert_false(
                    am_allowed(&want, AM_RES_CLUSTER, "kafka-cluster", tprinc[pi], host, op));
            }
        }
    }
out:
    am_list_free(&src);
    am_list_free(&want);
    am_list_free(&skipped);
    am_pmap_free(&pm);
}

static void test_property_never_more_exactly_equal(void **state) {
    (void)state;
    for (int i = 0; i < 3000; i++)
        one_round(i & 1);
}

/* The property test must be able to fail: a transform that drops DENYs
 * would grant more. */
static void test_dropping_a_deny_is_caught(void **state) {
    (void)state;
    am_list src, want;
    am_list_init(&src);
    am_list_init(&want);
    am_add(&src, AM_RES_TOPIC, "*", AM_PAT_LITERAL, "User:*", "*", AM_OP_READ, AM_ALLOW, NULL);
    am_add(&src, AM_RES_TOPIC, "a", AM_PAT_LITERAL, "User:bob", "*", AM_OP_READ, AM_DENY, NULL);
    am_add(&want, AM_RES_TOPIC, "a", AM_PAT_LITERAL, "User:*", "*", AM_OP_READ, AM_ALLOW, NULL);
    assert_false(am_allowed(&src, AM_RES_TOPIC, "a", "User:bob", "h", AM_OP_READ));
    assert_true(am_allowed(&want, AM_RES_TOPIC, "a", "User:bob", "h", AM_OP_READ));
    assert_true(am_allowed(&src, AM_RES_TOPIC, "a", "User:bob", "h", AM_OP_DESCRIBE));
    am_list_free(&src);
    am_list_free(&want);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_planted_set),
        cmocka_unit_test(test_pmap_errors),
        cmocka_unit_test(test_property_never_more_exactly_equal),
        cmocka_unit_test(test_dropping_a_deny_is_caught),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
