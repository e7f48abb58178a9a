/*
 * test_webview.c - unit tests of the web view's HTTP answers without a
 * cluster: the embedded page, script and style with their content types,
 * unknown paths, /api/status before any status document exists, and the
 * lag ring of /api/lag-history (order, wrap-around at its capacity).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mirror/webview.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static void test_assets(void **state) {
    static const struct {
        const char *url, *type, *needle;
    } cases[] = {
        {"/", "text/html; charset=utf-8", "<script src=\"/app.js\""},
        {"/index.html", "text/html; charset=utf-8", "id=\"partition-rows\""},
        {"/app.js", "text/javascript; charset=utf-8", "/api/lag-history"},
        {"/app.css", "text/css; charset=utf-8", "tr.partition"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        wv_reply r;
        assert_int_equal(webview_serve(cases[i].url, &r), 1);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.type, cases[i].type);
        assert_non_null(r.body);
        assert_int_equal(strlen(r.body), r.len); /* no NUL inside, nothing cut */
        assert_non_null(strstr(r.body, cases[i].needle));
        free(r.body);
    }
    wv_reply r;
    assert_int_equal(webview_serve("/metrics", &r), 0); /* metrics.c's own */
    assert_int_equal(webview_serve("/api/statusx", &r), 0);
    assert_int_equal(webview_serve("/../etc/passwd", &r), 0);
}

static void test_status_unavailable(void **state) {
    wv_reply r;
    assert_int_equal(webview_serve("/api/status", &r), 1);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.type, "application/json; charset=utf-8");
    json_t *j = json_loads(r.body, 0, NULL);
    assert_non_null(j);
    assert_true(json_is_string(json_object_get(j, "error")));
    json_decref(j);
    free(r.body);
}

static json_t *history(void) {
    wv_reply r;
    assert_int_equal(webview_serve("/api/lag-history", &r), 1);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.type, "application/json; charset=utf-8");
    json_t *j = json_loads(r.body, 0, NULL);
    free(r.body);
    assert_non_null(j);
    return j;
}

static void test_lag_ring(void **state) {
    json_t *j = history();
    size_t cap = (size_t)json_integer_value(json_object_get(j, "capacity"));
    assert_true(cap >= 100);
    assert_int_equal(json_array_size(json_object_get(j, "samples")), 0);
    json_decref(j);
    for (int i = 0; i < 3; i++)
        webview_lag_sample(1000 + i, 50 - i, 7 * i);
    j = history();
    json_t *s = json_object_get(j, "samples");
    assert_int_equal(json_array_size(s), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(s, 0), "t")), 1000);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(s, 2), "lag")), 48);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(s, 2), "mirrored")), 14);
    json_decref(j);
    /* past the capacity the oldest go first; order stays oldest first */
    for (size_t i = 3; i < cap + 10; i++)
        webview_lag_sample(1000 + (int64_t)i, (int64_t)i, 0);
    j = history();
    s = json_object_get(j, "samples");
    assert_int_equal(json_array_size(s), cap);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(s, 0), "t")), 1010);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(s, cap - 1), "lag")),
                     (int64_t)cap + 9);
    for (size_t i = 1; i < cap; i++)
        assert_true(json_integer_value(json_object_get(json_array_get(s, i), "t")) >
                    json_integer_value(json_object_get(json_array_get(s, i - 1), "t")));
    json_decref(j);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assets),
        cmocka_unit_test(test_status_unavailable),
        cmocka_unit_test(test_lag_ring),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
