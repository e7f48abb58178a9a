/*
 * test_principal_map.c - ssl.principal.mapping.rules (src/broker/principal_map.c):
 * Kafka's documented example rules, DEFAULT, the rule grammar (escaped
 * slashes, whitespace, empty items, L/U), Java replacement syntax and
 * replaceAll behaviour, output bounds, and refused rules with their
 * messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "broker/principal_map.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KAFKA_RULES                                                                                \
    "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,"                                                       \
    "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,"                           \
    "RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L,"                                                    \
    "DEFAULT"

static kb_pmap *parse_ok(const char *rules) {
    char err[256] = "unset";
    kb_pmap *m = kb_pmap_parse(rules, err, sizeof(err));
    if (!m)
        fail_msg("parse of '%s' failed: %s", rules ? rules : "(null)", err);
    assert_string_equal(err, "");
    return m;
}

/* Maps dn with rules; returns a static copy of the result, or NULL on -1. */
static const char *map1(const char *rules, const char *dn) {
    static char out[512];
    kb_pmap *m = parse_ok(rules);
    int rc = kb_pmap_apply(m, dn, out, sizeof(out));
    kb_pmap_free(m);
    if (rc != 0) {
        assert_int_equal(rc, -1);
        assert_string_equal(out, "");
        return NULL;
    }
    return out;
}

static void assert_maps(const char *rules, const char *dn, const char *want) {
    const char *got = map1(rules, dn);
    if (!got)
        fail_msg("'%s' with '%s': no result, want '%s'", dn, rules, want);
    assert_string_equal(got, want);
}

/* Parse must fail with a message containing every one of the (up to two) parts. */
static void assert_refused(const char *rules, const char *part1, const char *part2) {
    char err[512] = "";
    kb_pmap *m = kb_pmap_parse(rules, err, sizeof(err));
    if (m)
        fail_msg("'%s' was accepted", rules);
    if (!strstr(err, part1) || (part2 && !strstr(err, part2)))
        fail_msg("'%s': message '%s' lacks '%s' / '%s'", rules, err, part1, part2 ? part2 : "");
}

static void test_kafka_example(void **state) {
    (void)state;
    kb_pmap *m = parse_ok(KAFKA_RULES);
    assert_int_equal(kb_pmap_count(m), 4);
    char out[128];
    assert_int_equal(
        kb_pmap_apply(m, "CN=kafka-client,OU=ServiceUsers,O=Acme,L=X,ST=Y,C=US", out, sizeof(out)),
        0);
    assert_string_equal(out, "kafka-client");
    assert_int_equal(kb_pmap_apply(m,
                                   "CN=Duke,OU=JavaSoft,O=Sun Microsystems,L=Cupertino,ST=CA,C=US",
                                   out, sizeof(out)),
                     0);
    assert_string_equal(out, "duke@javasoft");
    /* third rule: a CN anywhere, lower-cased, stopping at the first character outside the class */
    assert_int_equal(kb_pmap_apply(m, "OU=ops,cn=Svc.Backup-2,O=Acme", out, sizeof(out)), 0);
    assert_string_equal(out, "svc.backup");
    /* no CN at all: DEFAULT, the DN unchanged */
    assert_int_equal(kb_pmap_apply(m, "OU=eng,O=kferry,C=DE", out, sizeof(out)), 0);
    assert_string_equal(out, "OU=eng,O=kferry,C=DE");
    kb_pmap_free(m);
}

static void test_default(void **state) {
    (void)state;
    assert_maps(NULL, "CN=alice,OU=eng,O=kferry", "CN=alice,OU=eng,O=kferry");
    assert_maps("", "CN=alice,OU=eng,O=kferry", "CN=alice,OU=eng,O=kferry");
    assert_maps("  \t ", "CN=a", "CN=a");
    assert_maps("DEFAULT", "CN=a", "CN=a");
    assert_maps(" DEFAULT , ", "", "");
    kb_pmap *m = parse_ok(NULL);
    assert_int_equal(kb_pmap_count(m), 1);
    kb_pmap_free(m);
}

static void test_no_match_fails(void **state) {
    (void)state;
    /* whole-DN match: the pattern matches a prefix only */
    assert_null(map1("RULE:CN=([a-z]+)/$1/", "CN=alice,OU=eng"));
    assert_maps("RULE:CN=([a-z]+).*/$1/", "CN=alice,OU=eng", "alice");
    assert_null(map1("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/", "CN=bob,OU=Staff"));
    /* only empty items: no rules at all, as on Kafka */
    kb_pmap *m = parse_ok(" , ,");
    assert_int_equal(kb_pmap_count(m), 0);
    char out[16] = "x";
    assert_int_equal(kb_pmap_apply(m, "CN=a", out, sizeof(out)), -1);
    assert_string_equal(out, "");
    kb_pmap_free(m);
}

static void test_order_first_match_wins(void **state) {
    (void)state;
    const char *r = "RULE:CN=admin,(.*)/root/, RULE:CN=([^,]*),.*/$1/U ,DEFAULT";
    assert_maps(r, "CN=admin,O=x", "root");
    assert_maps(r, "CN=alice,O=x", "ALICE");
    assert_maps(r, "O=x", "O=x");
}

static void test_escaped_slash_and_commas(void **state) {
    (void)state;
    /* "\/" in the pattern is a slash, in the replacement a slash too */
    assert_maps("RULE:^CN=([^,]*),OU=a\\/b$/$1\\/x/", "CN=svc,OU=a/b", "svc/x");
    /* commas inside pattern and replacement do not split rules */
    assert_maps("RULE:^CN=([^,]*),O=(.*)$/$2,$1/,DEFAULT", "CN=a,O=b", "b,a");
    /* whitespace around rules and around commas */
    assert_maps("  RULE:^CN=(\\w+)$/u-$1/L  ,\n DEFAULT  ", "CN=Bob", "u-bob");
}

static void test_replacement_syntax(void **state) {
    (void)state;
    /* "\x" is a literal x, "\$" a dollar, "\\" a backslash */
    assert_maps("RULE:^CN=(.*)$/\\$1=$1\\\\/", "CN=a", "$1=a\\");
    /* $0 is the whole match */
    assert_maps("RULE:^CN=(.*)$/<$0>/", "CN=a", "<CN=a>");
    /* a group number beyond the groups is text (Kafka escapes it) */
    assert_maps("RULE:^CN=(.*)$/$1-$2/", "CN=a", "a-$2");
    /* digits continue a group number only while such a group exists */
    assert_maps("RULE:^CN=(.*)$/$12/", "CN=a", "a2");
    assert_maps("RULE:^(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)$/$11$10$1/", "abcdefghijk", "kja");
    /* named groups */
    assert_maps("RULE:^CN=(?<user>[^,]*),O=(?<org>.*)$/${org}:${user}/", "CN=a,O=b", "b:a");
    /* a group that took no part inserts nothing */
    assert_maps("RULE:^CN=(x)?(.*)$/[$1]$2/", "CN=abc", "[]abc");
}

static void test_replace_all(void **state) {
    (void)state;
    /* Java replaceAll: every match is replaced, so ".*" matches twice
     * (the whole DN, then the empty string at its end) */
    assert_maps("RULE:.*/x/", "CN=a", "xx");
    /* an unanchored pattern that also matches inside: only one match
     * covers the whole DN, so one replacement */
    assert_maps("RULE:CN=([^,]*),.*/$1/", "CN=a,OU=b,CN=c", "a");
    /* lazy group with matches(): the whole DN must be consumed */
    assert_maps("RULE:^CN=(.*?)$/$1/", "CN=lazy", "lazy");
}

static void test_java_regex(void **state) {
    (void)state;
    /* look-ahead, possessive quantifier, inline flags, \Q..\E */
    assert_maps("RULE:^(?i)cn=(?=svc)([^,]++),.*$/$1/", "CN=svcA,O=x", "svcA");
    assert_maps("RULE:^\\QCN=a.b\\E,(.*)$/$1/", "CN=a.b,O=x", "O=x");
    assert_null(map1("RULE:^\\QCN=a.b\\E,(.*)$/$1/", "CN=aXb,O=x"));
    /* UTF-8: "." is one character */
    assert_maps("RULE:^CN=(.)(.*)$/$1/U", "CN=\xc3\xa9mile", "\xc3\xa9");
    /* invalid UTF-8 in a DN does not match a pattern needing characters, and does not crash */
    assert_null(map1("RULE:^CN=(.+)$/$1/", "CN=\xff"));
    assert_maps("RULE:^CN=(.+)$/$1/,DEFAULT", "CN=\xff", "CN=\xff");
}

static void test_case_flags(void **state) {
    (void)state;
    assert_maps("RULE:^CN=(.*)$/$1/L", "CN=MiXeD-Case_1", "mixed-case_1");
    assert_maps("RULE:^CN=(.*)$/$1/U", "CN=MiXeD-Case_1", "MIXED-CASE_1");
    assert_maps("RULE:^CN=(.*)$/$1/", "CN=MiXeD", "MiXeD");
}

static void test_output_bounds(void **state) {
    (void)state;
    kb_pmap *m = parse_ok("RULE:^CN=(.*)$/$1/,DEFAULT");
    char out[6];
    assert_int_equal(kb_pmap_apply(m, "CN=abcde", out, sizeof(out)), 0);
    assert_string_equal(out, "abcde");
    /* one byte too many: refused, not truncated, and no fall-through to DEFAULT */
    assert_int_equal(kb_pmap_apply(m, "CN=abcdef", out, sizeof(out)), -1);
    assert_string_equal(out, "");
    assert_int_equal(kb_pmap_apply(m, "O=x", out, 1), -1);
    assert_int_equal(kb_pmap_apply(m, "", out, 1), 0);
    assert_int_equal(kb_pmap_apply(m, "CN=a", out, 0), -1);
    assert_int_equal(kb_pmap_apply(m, NULL, out, sizeof(out)), -1);
    assert_int_equal(kb_pmap_apply(NULL, "CN=a", out, sizeof(out)), -1);
    kb_pmap_free(m);
    kb_pmap_free(NULL);
}

static void test_match_limit(void **state) {
    (void)state;
    /* catastrophic backtracking: the login fails instead of hanging */
    char dn[64];
    memset(dn, 'a', 40);
    dn[40] = '!';
    dn[41] = '\0';
    assert_null(map1("RULE:^(a|a?)+$/x/,DEFAULT", dn));
}

static void test_refused(void **state) {
    (void)state;
    assert_refused("RULE:abc", "rule 1 'RULE:abc'", "is not DEFAULT or RULE:");
    assert_refused("RULE:a/b/X", "rule 1 'RULE:a/b/X'", "unexpected 'X'");
    assert_refused("RULE:a/b/LU", "unexpected 'U'", NULL);
    assert_refused("RULE:a/b/ L", "unexpected ' L'", NULL);
    assert_refused("RULE:(/x/", "rule 1 'RULE:(/x/'", "does not compile");
    assert_refused("FOO", "rule 1 'FOO'", NULL);
    assert_refused("DEFAULT,FOO,DEFAULT", "rule 2 'FOO'", NULL);
    assert_refused("DEFAULTX", "'DEFAULTX'", NULL);
    assert_refused("default", "'default'", NULL);
    assert_refused("RULE:a/b", "'RULE:a/b'", NULL);
    assert_refused("RULE:a\\/b/c", "'RULE:a\\/b/c'", NULL);
    /* replacement errors Java would throw on at every login */
    assert_refused("RULE:a/$x/", "rule 1", "group number or {name}");
    assert_refused("RULE:(a)/b$/", "group number or {name}", NULL);
    assert_refused("RULE:a/x\\/", "'RULE:a/x\\/'", NULL); /* the escaped slash ends nothing */
    assert_refused("RULE:(a)/x\\\\\\/", "'RULE:(a)/x\\\\\\/'", NULL);
    assert_refused("RULE:a/$1/", "group $1, but the pattern has none", NULL);
    assert_refused("RULE:(?<u>a)/${v}/", "names group 'v'", "does not have");
    assert_refused("RULE:(?<u>a)/${u/", "lacks its '}'", NULL);
    assert_refused("RULE:(a)/${1}/", "must be followed by a group name", NULL);
    /* a long bad rule is quoted, shortened */
    char big[400];
    snprintf(big, sizeof(big), "RULE:%0300d", 7);
    char err[256];
    assert_null(kb_pmap_parse(big, err, sizeof(err)));
    assert_non_null(strstr(err, "...'"));
    /* no err buffer is fine */
    assert_null(kb_pmap_parse("FOO", NULL, 0));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kafka_example),
        cmocka_unit_test(test_default),
        cmocka_unit_test(test_no_match_fails),
        cmocka_unit_test(test_order_first_match_wins),
        cmocka_unit_test(test_escaped_slash_and_commas),
        cmocka_unit_test(test_replacement_syntax),
        cmocka_unit_test(test_replace_all),
        cmocka_unit_test(test_java_regex),
        cmocka_unit_test(test_case_flags),
        cmocka_unit_test(test_output_bounds),
        cmocka_unit_test(test_match_limit),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
