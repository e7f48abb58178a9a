/*
 * test_props.c - Java-properties parsing and broker config validation:
 * the inputs users write by hand, so every error must name its line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "broker/broker.h"
#include "common/props.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void parse(kf_props *p, const char *text) {
    char err[256];
    kf_props_init(p);
    assert_int_equal(kf_props_parse(p, text, strlen(text), err, sizeof(err)), 0);
}

static void test_separators_comments_continuations(void **st) {
    (void)st;
    kf_props p;
    parse(&p, "# comment\n! also comment\n\na=1\nb : 2\nc 3\n  d=x\\\n    y\n"
              "e=tab\\there\nf\\=g=h\ng=\\u00e9\nempty=\nsp = trailing   \n");
    assert_string_equal(kf_props_get(&p, "a"), "1");
    assert_string_equal(kf_props_get(&p, "b"), "2");
    assert_string_equal(kf_props_get(&p, "c"), "3");
    assert_string_equal(kf_props_get(&p, "d"), "xy");
    assert_string_equal(kf_props_get(&p, "e"), "tab\there");
    assert_string_equal(kf_props_get(&p, "f=g"), "h");
    assert_string_equal(kf_props_get(&p, "g"), "\xc3\xa9");
    assert_string_equal(kf_props_get(&p, "empty"), "");
    assert_string_equal(kf_props_get(&p, "sp"), "trailing");
    assert_null(kf_props_get(&p, "missing"));
    assert_int_equal(kf_props_find(&p, "c")->line, 6);
    kf_props_free(&p);
}

static void test_last_duplicate_wins_and_roundtrip(void **st) {
    (void)st;
    kf_props p;
    parse(&p, "k=1\nk=2\n");
    assert_string_equal(kf_props_get(&p, "k"), "2");
    char dir[] = "/tmp/kfprops.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/x.properties", dir);
    assert_int_equal(kf_props_set(&p, "weird key:=", "line1\nline2\\"), 0);
    assert_int_equal(kf_props_save(&p, path), 0);
    kf_props q;
    kf_props_init(&q);
    char err[256];
    assert_int_equal(kf_props_load(&q, path, err, sizeof(err)), 0);
    assert_string_equal(kf_props_get(&q, "weird key:="), "line1\nline2\\");
    assert_string_equal(kf_props_get(&q, "k"), "2");
    kf_props_free(&p);
    kf_props_free(&q);
    kf_rmtree(dir);
}

/* Found by fuzz_props: values the parser would trim or cut must survive a
 * save and reload, and a NUL byte is refused rather than cutting a value. */
static void test_roundtrip_edge_whitespace_and_nul(void **st) {
    (void)st;
    char dir[] = "/tmp/kfprops.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], err[256];
    snprintf(path, sizeof(path), "%s/x.properties", dir);
    kf_props p, q;
    kf_props_init(&p);
    assert_int_equal(kf_props_set(&p, "tab", "~\t"), 0);
    assert_int_equal(kf_props_set(&p, "spaces", "  in side  "), 0);
    assert_int_equal(kf_props_set(&p, "ff", "x\f"), 0);
    assert_int_equal(kf_props_set(&p, "#hash", "v"), 0);
    assert_int_equal(kf_props_save(&p, path), 0);
    kf_props_init(&q);
    assert_int_equal(kf_props_load(&q, path, err, sizeof(err)), 0);
    assert_int_equal(q.count, 4);
    assert_string_equal(kf_props_get(&q, "tab"), "~\t");
    assert_string_equal(kf_props_get(&q, "spaces"), "  in side  ");
    assert_string_equal(kf_props_get(&q, "ff"), "x\f");
    assert_string_equal(kf_props_get(&q, "#hash"), "v");
    kf_props_free(&p);
    kf_props_free(&q);
    /* Unescaped trailing whitespace is still trimmed. */
    parse(&p, "a=b \t\nc=d\\ \n");
    assert_string_equal(kf_props_get(&p, "a"), "b");
    assert_string_equal(kf_props_get(&p, "c"), "d ");
    kf_props_free(&p);
    kf_props_init(&p);
    static const char nul[] = "a=1\nb=~\t\0x\n";
    assert_int_equal(kf_props_parse(&p, nul, sizeof(nul) - 1, err, sizeof(err)), -1);
    assert_string_equal(err, "line 2: NUL byte");
    kf_props_free(&p);
    kf_rmtree(dir);
}

static void test_missing_file_names_it(void **st) {
    (void)st;
    kf_props p;
    kf_props_init(&p);
    char err[256];
    assert_int_equal(kf_props_load(&p, "/nonexistent/kferry.properties", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/kferry.properties"));
    kf_props_free(&p);
}

static void test_config_reports_every_problem(void **st) {
    (void)st;
    kb_config c;
    kb_config_defaults(&c);
    kf_props p;
    parse(&p, "num.partitions=abc\nlog.retention.ms=-5\nbogus.key=1\nlog.segment.bytes=1048576\n"
              "auto.create.topics.enable=maybe\nzookeeper.connect=x:2181\n");
    char err[2048];
    assert_int_equal(kb_config_apply(&c, &p, err, sizeof(err)), -1);
    assert_non_null(strstr(err, ":1: num.partitions"));
    assert_non_null(strstr(err, ":2: log.retention.ms"));
    assert_non_null(strstr(err, "unknown key 'bogus.key'"));
    assert_non_null(strstr(err, "auto.create.topics.enable"));
    assert_null(strstr(err, "zookeeper")); /* known Kafka key, ignored with a notice */
    assert_int_equal(c.segment_bytes, 1048576);
    kf_props_free(&p);
    kb_config_free(&c);
}

static void test_config_units_and_precedence(void **st) {
    (void)st;
    kb_config c;
    kb_config_defaults(&c);
    kf_props p;
    parse(&p, "log.retention.ms=1000\nlog.retention.hours=2\nlisteners=PLAINTEXT://0.0.0.0:9092\n"
              "advertised.listeners=PLAINTEXT://h:9093\n");
    char err[512];
    assert_int_equal(kb_config_apply(&c, &p, err, sizeof(err)), 0);
    assert_int_equal(c.retention_ms, 1000); /* .ms beats .hours, as in Kafka */
    assert_string_equal(c.advertised_host, "h");
    assert_int_equal(c.advertised_port, 9093);
    assert_int_equal(c.listeners.n, 1);
    assert_string_equal(c.listeners.l[0].adv_host, "h");
    kf_props_free(&p);
    kb_config_free(&c);
}

static void test_parse_i64_strict(void **st) {
    (void)st;
    int64_t v;
    assert_int_equal(kf_parse_i64("42", 0, 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(kf_parse_i64("42x", 0, 100, &v), -1);
    assert_int_equal(kf_parse_i64("", 0, 100, &v), -1);
    assert_int_equal(kf_parse_i64("101", 0, 100, &v), -1);
    assert_int_equal(kf_parse_i64("99999999999999999999", INT64_MIN, INT64_MAX, &v), -1);
    char host[64];
    int port;
    assert_int_equal(kf_parse_hostport("[::1]:9092", host, sizeof(host), &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(kf_parse_hostport("h:70000", host, sizeof(host), &port), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_separators_comments_continuations),
        cmocka_unit_test(test_last_duplicate_wins_and_roundtrip),
        cmocka_unit_test(test_roundtrip_edge_whitespace_and_nul),
        cmocka_unit_test(test_missing_file_names_it),
        cmocka_unit_test(test_config_reports_every_problem),
        cmocka_unit_test(test_config_units_and_precedence),
        cmocka_unit_test(test_parse_i64_strict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
