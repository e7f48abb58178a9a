/*
 * test_log.c - the log formats of src/common/log.c: the json format must
 * yield one parseable object per line whatever bytes a message holds
 * (quotes, control characters, invalid UTF-8 from a peer), lines of
 * concurrent threads must stay whole, and the text format must stay as
 * it was.  Also the broker's kferry.log.format key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "broker/broker.h"
#include "common/log.h"
#include "common/props.h"

#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* 2026-01-02T03:04:05.678Z */
static const struct timeval k_tv = {1767323045, 678901};

/* Renders msg in the json format and parses the line back; fails the
 * test unless it is exactly one JSON object followed by one newline. */
static json_t *render_parse(int level, const char *component, const char *const *kv,
                            const char *msg) {
    char buf[4096];
    size_t len = 0;
    char *line =
        kf_log_render(KF_LOG_FORMAT_JSON, level, component, kv, msg, &k_tv, buf, sizeof(buf), &len);
    assert_non_null(line);
    assert_true(len >= 2);
    assert_int_equal(line[len - 1], '\n');
    assert_int_equal(strlen(line), len);
    for (size_t i = 0; i + 1 < len; i++) /* control characters are escaped, never raw */
        assert_true((unsigned char)line[i] >= 0x20);
    json_error_t jerr;
    json_t *o = json_loadb(line, len - 1, 0, &jerr);
    if (!o)
        fail_msg("not JSON (%s): %s", jerr.text, line);
    assert_true(json_is_object(o));
    if (line != buf)
        free(line);
    return o;
}

static const char *sget(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        fail_msg("field %s missing or not a string", key);
    return json_string_value(v);
}

static void test_json_fields(void **st) {
    (void)st;
    kf_log_set_prefix("kferry-broker");
    static const struct {
        int level;
        const char *name;
    } levels[] = {{KF_LOG_ERR, "error"},
                  {KF_LOG_WARNING, "warn"},
                  {KF_LOG_NOTICE, "notice"},
                  {KF_LOG_INFO, "info"},
                  {KF_LOG_DEBUG, "debug"}};
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        json_t *o = render_parse(levels[i].level, "store", NULL, "segment rolled");
        assert_string_equal(sget(o, "time"), "2026-01-02T03:04:05.678Z");
        assert_string_equal(sget(o, "level"), levels[i].name);
        assert_string_equal(sget(o, "component"), "store");
        assert_string_equal(sget(o, "message"), "segment rolled");
        assert_string_equal(sget(o, "program"), "kferry-broker");
        assert_true(json_is_integer(json_object_get(o, "pid")));
        assert_int_equal(json_integer_value(json_object_get(o, "pid")), getpid());
        /* the main thread has no thread fields */
        assert_null(json_object_get(o, "thread"));
        assert_null(json_object_get(o, "tid"));
        assert_int_equal(json_object_size(o), 6);
        json_decref(o);
    }
    kf_log_set_prefix("kferry");
}

static void test_json_escapes_quotes_and_controls(void **st) {
    (void)st;
    char msg[64];
    snprintf(msg, sizeof(msg), "a \"quoted\" \\path\\ %c%c%c%c%c%c end", '\n', '\r', '\t', 0x01,
             0x1b, 0x7f);
    json_t *o = render_parse(KF_LOG_INFO, "net", NULL, msg);
    assert_string_equal(sget(o, "message"), msg);
    json_decref(o);

    char buf[4096];
    size_t len;
    char *line =
        kf_log_render(KF_LOG_FORMAT_JSON, KF_LOG_INFO, "net", NULL, msg, &k_tv, buf, 4096, &len);
    assert_non_null(strstr(line, "\\\"quoted\\\""));
    assert_non_null(strstr(line, "\\n"));
    assert_non_null(strstr(line, "\\u0001"));
    assert_non_null(strstr(line, "\\u001B"));             /* jansson writes upper-case hex */
    assert_ptr_equal(strchr(line, '\n'), line + len - 1); /* one newline, at the end */
}

static void test_json_invalid_utf8_never_drops_the_line(void **st) {
    (void)st;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"ok \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "ok \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
        {"lone \xff byte", "lone \xef\xbf\xbd byte"},
        {"\x80\xbf", "\xef\xbf\xbd\xef\xbf\xbd"},                   /* stray continuations */
        {"overlong \xc0\xaf", "overlong \xef\xbf\xbd\xef\xbf\xbd"}, /* '/' as 2 bytes */
        {"surrogate \xed\xa0\x80", "surrogate \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        {"too big \xf4\x90\x80\x80", "too big \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        {"cut \xe2\x82", "cut \xef\xbf\xbd\xef\xbf\xbd"}, /* truncated at the end */
        {"\xc3\x28", "\xef\xbf\xbd("},                    /* bad continuation */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *o = render_parse(KF_LOG_WARNING, "rdkafka", NULL, cases[i].in);
        assert_string_equal(sget(o, "message"), cases[i].want);
        json_decref(o);
    }
    /* a bad byte in the component or an extra field, too */
    const char *const kv[] = {"client", "rdkafka#\xfeproducer-1", NULL};
    json_t *o = render_parse(KF_LOG_WARNING, "comp\xff", kv, "x");
    assert_string_equal(sget(o, "component"), "comp\xef\xbf\xbd");
    assert_string_equal(sget(o, "client"), "rdkafka#\xef\xbf\xbdproducer-1");
    json_decref(o);

    char out[16];
    assert_int_equal(kf_utf8_sanitize("a\xff", 2, out, sizeof(out)), 4);
    assert_string_equal(out, "a\xef\xbf\xbd");
    /* a short output buffer cuts at a character boundary */
    assert_int_equal(kf_utf8_sanitize("\xff\xff\xff", 3, out, 5), 3);
    assert_string_equal(out, "\xef\xbf\xbd");
}

static void test_json_long_message_uses_heap(void **st) {
    (void)st;
    char msg[2048];
    memset(msg, 0x01, sizeof(msg) - 1); /* each byte becomes \u0001: 6 times longer */
    msg[sizeof(msg) - 1] = '\0';
    char buf[256];
    size_t len = 0;
    char *line = kf_log_render(KF_LOG_FORMAT_JSON, KF_LOG_INFO, "x", NULL, msg, &k_tv, buf,
                               sizeof(buf), &len);
    assert_ptr_not_equal(line, buf);
    assert_true(len > 6 * 2047);
    json_t *o = json_loadb(line, len - 1, 0, NULL);
    assert_non_null(o);
    assert_int_equal(strlen(sget(o, "message")), 2047);
    json_decref(o);
    free(line);
}

static void test_kv_fields(void **st) {
    (void)st;
    const char *const kv[] = {"client", "rdkafka#consumer-1", "facility", "FAIL", "level", "nope",
                              NULL};
    json_t *o = render_parse(KF_LOG_ERR, "rdkafka", kv, "rdkafka#consumer-1: FAIL: down");
    assert_string_equal(sget(o, "client"), "rdkafka#consumer-1");
    assert_string_equal(sget(o, "facility"), "FAIL");
    assert_string_equal(sget(o, "level"), "error"); /* fixed fields win */
    json_decref(o);
    /* the text format ignores them */
    char buf[512];
    size_t len;
    char *line = kf_log_render(KF_LOG_FORMAT_TEXT, KF_LOG_ERR, "rdkafka", kv, "m", &k_tv, buf,
                               sizeof(buf), &len);
    assert_string_equal(line, "2026-01-02T03:04:05.678Z kferry ERROR [rdkafka] m\n");
}

static void test_text_format_unchanged(void **st) {
    (void)st;
    char buf[512];
    size_t len;
    char *line = kf_log_render(KF_LOG_FORMAT_TEXT, KF_LOG_INFO, "mirror", NULL,
                               "copied 12 records \"as is\"", &k_tv, buf, sizeof(buf), &len);
    assert_ptr_equal(line, buf);
    assert_string_equal(
        line, "2026-01-02T03:04:05.678Z kferry INFO [mirror] copied 12 records \"as is\"\n");
    assert_int_equal(len, strlen(line));
    static const struct {
        int level;
        const char *name;
    } levels[] = {{KF_LOG_ERR, "ERROR"},
                  {KF_LOG_WARNING, "WARN"},
                  {KF_LOG_NOTICE, "NOTICE"},
                  {KF_LOG_DEBUG, "DEBUG"}};
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        char want[128];
        snprintf(want, sizeof(want), "2026-01-02T03:04:05.678Z kferry %s [c] m\n", levels[i].name);
        line = kf_log_render(KF_LOG_FORMAT_TEXT, levels[i].level, "c", NULL, "m", &k_tv, buf,
                             sizeof(buf), &len);
        assert_string_equal(line, want);
    }
    /* a line longer than the buffer is not cut */
    char small[16];
    line = kf_log_render(KF_LOG_FORMAT_TEXT, KF_LOG_INFO, "c", NULL, "a longer message", &k_tv,
                         small, sizeof(small), &len);
    assert_ptr_not_equal(line, small);
    assert_string_equal(line, "2026-01-02T03:04:05.678Z kferry INFO [c] a longer message\n");
    free(line);
}

/* --- through kf_log() onto a redirected stderr ------------------------- */

static int g_saved_stderr = -1;
static char g_capture[64];

static void capture_start(void) {
    snprintf(g_capture, sizeof(g_capture), "/tmp/kf_test_log.XXXXXX");
    int fd = mkstemp(g_capture);
    assert_true(fd >= 0);
    close(fd);
    fd = open(g_capture, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    fflush(stderr);
    g_saved_stderr = dup(STDERR_FILENO);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    close(fd);
}

/* Restores stderr; returns what was written (caller frees). */
static char *capture_end(void) {
    fflush(stderr);
    dup2(g_saved_stderr, STDERR_FILENO);
    close(g_saved_stderr);
    FILE *f = fopen(g_capture, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = calloc(1, (size_t)n + 1);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    unlink(g_capture);
    return data;
}

static void test_kf_log_text_line(void **st) {
    (void)st;
    kf_log_set_format(KF_LOG_FORMAT_TEXT);
    capture_start();
    kf_info("store", "opened %d partitions", 3);
    kf_debug("store", "hidden at info level");
    char *out = capture_end();
    regex_t re;
    assert_int_equal(regcomp(&re,
                             "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
                             "kferry INFO \\[store\\] opened 3 partitions\n$",
                             REG_EXTENDED),
                     0);
    if (regexec(&re, out, 0, NULL, 0) != 0)
        fail_msg("unexpected text line: %s", out);
    regfree(&re);
    free(out);
}

enum { N_THREADS = 4, N_LINES = 300 };

static void *spam(void *arg) {
    long id = (long)arg;
    char name[16];
    snprintf(name, sizeof(name), "spam-%ld", id);
    pthread_setname_np(pthread_self(), name);
    char msg[1500];
    memset(msg, 'a' + (int)id, sizeof(msg) - 1);
    msg[sizeof(msg) - 1] = '\0';
    for (int i = 0; i < N_LINES; i++)
        kf_warn("spam", "%d %s\xff", i, msg);
    return NULL;
}

static void test_kf_log_json_threads_whole_lines(void **st) {
    (void)st;
    kf_log_set_format(KF_LOG_FORMAT_JSON);
    capture_start();
    pthread_t th[N_THREADS];
    for (long t = 0; t < N_THREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, spam, (void *)t), 0);
    for (int t = 0; t < N_THREADS; t++)
        pthread_join(th[t], NULL);
    kf_info("main", "done");
    char *out = capture_end();
    kf_log_set_format(KF_LOG_FORMAT_TEXT);
    int per[N_THREADS] = {0}, lines = 0;
    for (char *l = out, *nl; *l; l = nl + 1) {
        nl = strchr(l, '\n');
        if (!nl)
            fail_msg("unterminated last line: %.200s", l);
        json_error_t jerr;
        json_t *o = json_loadb(l, (size_t)(nl - l), 0, &jerr);
        if (!o)
            fail_msg("line %d is not JSON (%s): %.200s", lines, jerr.text, l);
        lines++;
        const char *comp = sget(o, "component");
        if (!strcmp(comp, "spam")) {
            const char *th_name = sget(o, "thread");
            assert_int_equal(strncmp(th_name, "spam-", 5), 0);
            long id = strtol(th_name + 5, NULL, 10);
            assert_true(id >= 0 && id < N_THREADS);
            per[id]++;
            assert_true(json_is_integer(json_object_get(o, "tid")));
            const char *m = sget(o, "message");
            /* "<i> aaaa...\uFFFD": the thread's own letter throughout */
            const char *sp = strchr(m, ' ');
            assert_non_null(sp);
            assert_int_equal(strlen(sp + 1), 1499 + 3);
            for (int k = 0; k < 1499; k++)
                assert_int_equal(sp[1 + k], 'a' + (int)id);
            assert_string_equal(sp + 1 + 1499, "\xef\xbf\xbd");
        } else {
            assert_string_equal(comp, "main");
            assert_null(json_object_get(o, "thread"));
        }
        json_decref(o);
    }
    assert_int_equal(lines, N_THREADS * N_LINES + 1);
    for (int t = 0; t < N_THREADS; t++)
        assert_int_equal(per[t], N_LINES);
    free(out);
}

static void test_format_option_and_env(void **st) {
    (void)st;
    assert_int_equal(kf_log_format_parse("text"), KF_LOG_FORMAT_TEXT);
    assert_int_equal(kf_log_format_parse("json"), KF_LOG_FORMAT_JSON);
    assert_int_equal(kf_log_format_parse("JSON"), -1);
    assert_int_equal(kf_log_format_parse("yaml"), -1);
    assert_int_equal(kf_log_format_parse(NULL), -1);

    unsetenv("KFERRY_LOG_FORMAT");
    assert_int_equal(kf_log_format_setup("kferry", NULL), 0);
    assert_int_equal(kf_log_get_format(), KF_LOG_FORMAT_TEXT);
    setenv("KFERRY_LOG_FORMAT", "json", 1);
    assert_int_equal(kf_log_format_setup("kferry", NULL), 0);
    assert_int_equal(kf_log_get_format(), KF_LOG_FORMAT_JSON);
    assert_int_equal(kf_log_format_setup("kferry", "text"), 0); /* the option wins */
    assert_int_equal(kf_log_get_format(), KF_LOG_FORMAT_TEXT);

    capture_start();
    int rc = kf_log_format_setup("kferry-broker", "yaml");
    setenv("KFERRY_LOG_FORMAT", "xml", 1);
    int rc2 = kf_log_format_setup("kferry", NULL);
    char *out = capture_end();
    unsetenv("KFERRY_LOG_FORMAT");
    assert_int_equal(rc, -1);
    assert_int_equal(rc2, -1);
    assert_non_null(strstr(out, "kferry-broker: --log-format 'yaml': expected text or json\n"));
    assert_non_null(strstr(out, "kferry: KFERRY_LOG_FORMAT 'xml': expected text or json\n"));
    assert_int_equal(kf_log_get_format(), KF_LOG_FORMAT_TEXT); /* unchanged by errors */
    free(out);
}

static void test_broker_config_key(void **st) {
    (void)st;
    char err[512];
    kb_config c;
    kb_config_defaults(&c);
    assert_int_equal(c.log_format, 0); /* unset: the option or the environment decides */
    kf_props p;
    kf_props_init(&p);
    const char *text = "kferry.log.format=json\n";
    assert_int_equal(kf_props_parse(&p, text, strlen(text), err, sizeof(err)), 0);
    assert_int_equal(kb_config_apply(&c, &p, err, sizeof(err)), 0);
    assert_int_equal(c.log_format, KF_LOG_FORMAT_JSON + 1);
    kf_props_free(&p);
    kb_config_free(&c);

    kb_config_defaults(&c);
    kf_props_init(&p);
    text = "kferry.log.format=yaml\n";
    assert_int_equal(kf_props_parse(&p, text, strlen(text), err, sizeof(err)), 0);
    assert_int_equal(kb_config_apply(&c, &p, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "kferry.log.format: expected text or json, got 'yaml'"));
    kf_props_free(&p);
    kb_config_free(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_fields),
        cmocka_unit_test(test_json_escapes_quotes_and_controls),
        cmocka_unit_test(test_json_invalid_utf8_never_drops_the_line),
        cmocka_unit_test(test_json_long_message_uses_heap),
        cmocka_unit_test(test_kv_fields),
        cmocka_unit_test(test_text_format_unchanged),
        cmocka_unit_test(test_kf_log_text_line),
        cmocka_unit_test(test_kf_log_json_threads_whole_lines),
        cmocka_unit_test(test_format_option_and_env),
        cmocka_unit_test(test_broker_config_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
