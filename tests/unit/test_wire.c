/*
 * test_wire.c - Kafka primitive readers/writers, with the emphasis on
 * malformed input: short reads, overlong varints, negative and oversized
 * lengths, array counts beyond the remaining bytes.  Invariant checked:
 * the first bad read sets the sticky error and every later read is inert.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proto/wire.h"

#include <string.h>

static void test_fixed_ints(void **state) {
    (void)state;
    kf_buf b;
    kf_buf_init(&b, 0);
    kf_wr_i8(&b, -2);
    kf_wr_i16(&b, -300);
    kf_wr_i32(&b, INT32_MIN);
    kf_wr_i64(&b, INT64_MIN + 5);
    kf_wr_i32(&b, (int32_t)0xDEADBEEF);
    kf_rd r;
    kf_rd_init(&r, b.data, b.len);
    assert_int_equal(kf_rd_i8(&r), -2);
    assert_int_equal(kf_rd_i16(&r), -300);
    assert_int_equal(kf_rd_i32(&r), INT32_MIN);
    assert_true(kf_rd_i64(&r) == INT64_MIN + 5);
    assert_int_equal(kf_rd_u32(&r), 0xDEADBEEFu);
    assert_true(kf_rd_ok(&r));
    assert_int_equal(kf_rd_left(&r), 0);
    /* Reading past the end fails and sticks. */
    assert_int_equal(kf_rd_i8(&r), 0);
    assert_false(kf_rd_ok(&r));
    kf_buf_free(&b);
}

static void test_short_reads(void **state) {
    (void)state;
    static const uint8_t three[] = {1, 2, 3};
    kf_rd r;
    kf_rd_init(&r, three, 3);
    assert_int_equal(kf_rd_i32(&r), 0);
    assert_false(kf_rd_ok(&r));
    /* Sticky: even a 1-byte read that would fit now returns 0. */
    assert_int_equal(kf_rd_i8(&r), 0);
    assert_int_equal(kf_rd_left(&r), 0);
    assert_null(kf_rd_raw(&r, 0));
    kf_rd_init(&r, three, 3);
    assert_int_equal(kf_rd_i64(&r), 0);
    assert_false(kf_rd_ok(&r));
    kf_rd_init(&r, three, 3);
    uint8_t u[16];
    memset(u, 0xaa, sizeof(u));
    kf_rd_uuid(&r, u);
    assert_false(kf_rd_ok(&r));
    for (int i = 0; i < 16; i++)
        assert_int_equal(u[i], 0); /* zeroed, never half-filled */
    kf_rd_init(&r, three, 3);
    assert_null(kf_rd_raw(&r, 4));
    assert_false(kf_rd_ok(&r));
    kf_rd_init(&r, three, 3);
    kf_rd_skip(&r, SIZE_MAX);
    assert_false(kf_rd_ok(&r));
    kf_rd_init(&r, NULL, 0);
    assert_int_equal(kf_rd_i8(&r), 0);
    assert_false(kf_rd_ok(&r));
}

static void test_varints(void **state) {
    (void)state;
    static const int32_t vi[] = {0, 1, -1, 63, -64, 64, 300, -300, INT32_MAX, INT32_MIN};
    static const int64_t vl[] = {0, -1, 1, INT64_MAX, INT64_MIN, 1LL << 40, -(1LL << 50)};
    static const uint32_t vu[] = {0, 127, 128, 16383, 16384, UINT32_MAX};
    kf_buf b;
    kf_buf_init(&b, 0);
    for (size_t i = 0; i < sizeof(vi) / sizeof(vi[0]); i++)
        kf_wr_varint(&b, vi[i]);
    for (size_t i = 0; i < sizeof(vl) / sizeof(vl[0]); i++)
        kf_wr_varlong(&b, vl[i]);
    for (size_t i = 0; i < sizeof(vu) / sizeof(vu[0]); i++)
        kf_wr_uvarint(&b, vu[i]);
    kf_rd r;
    kf_rd_init(&r, b.data, b.len);
    for (size_t i = 0; i < sizeof(vi) / sizeof(vi[0]); i++)
        assert_int_equal(kf_rd_varint(&r), vi[i]);
    for (size_t i = 0; i < sizeof(vl) / sizeof(vl[0]); i++)
        assert_true(kf_rd_varlong(&r) == vl[i]);
    for (size_t i = 0; i < sizeof(vu) / sizeof(vu[0]); i++)
        assert_int_equal(kf_rd_uvarint(&r), vu[i]);
    assert_true(kf_rd_ok(&r));
    assert_int_equal(kf_rd_left(&r), 0);
    kf_buf_free(&b);
    /* Known encodings: zig-zag -1 is 0x01, 1 is 0x02, 300 (unsigned) is ac 02. */
    static const uint8_t m1[] = {0x01}, p1[] = {0x02}, u300[] = {0xac, 0x02};
    kf_rd_init(&r, m1, 1);
    assert_int_equal(kf_rd_varint(&r), -1);
    kf_rd_init(&r, p1, 1);
    assert_int_equal(kf_rd_varint(&r), 1);
    kf_rd_init(&r, u300, 2);
    assert_int_equal(kf_rd_uvarint(&r), 300);
}

static void test_bad_varints(void **state) {
    (void)state;
    kf_rd r;
    /* 6-byte uvarint: too long for 32 bits. */
    static const uint8_t long6[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
    kf_rd_init(&r, long6, sizeof(long6));
    assert_int_equal(kf_rd_uvarint(&r), 0);
    assert_false(kf_rd_ok(&r));
    /* 5 bytes whose value exceeds 32 bits. */
    static const uint8_t big5[] = {0xff, 0xff, 0xff, 0xff, 0x7f};
    kf_rd_init(&r, big5, sizeof(big5));
    assert_int_equal(kf_rd_uvarint(&r), 0);
    assert_false(kf_rd_ok(&r));
    kf_rd_init(&r, big5, sizeof(big5));
    assert_int_equal(kf_rd_varint(&r), 0);
    assert_false(kf_rd_ok(&r));
    /* Continuation bit set on the last available byte. */
    static const uint8_t cut[] = {0x80, 0x80};
    kf_rd_init(&r, cut, sizeof(cut));
    assert_int_equal(kf_rd_uvarint(&r), 0);
    assert_false(kf_rd_ok(&r));
    kf_rd_init(&r, cut, sizeof(cut));
    assert_true(kf_rd_varlong(&r) == 0);
    assert_false(kf_rd_ok(&r));
    /* 11-byte varlong. */
    uint8_t l11[11];
    memset(l11, 0x80, sizeof(l11));
    l11[10] = 0x01;
    kf_rd_init(&r, l11, sizeof(l11));
    assert_true(kf_rd_varlong(&r) == 0);
    assert_false(kf_rd_ok(&r));
    /* 10 continuation bytes with nothing after: also an error. */
    kf_rd_init(&r, l11, 10);
    assert_true(kf_rd_varlong(&r) == 0);
    assert_false(kf_rd_ok(&r));
}

static void test_strings(void **state) {
    (void)state;
    kf_buf b;
    kf_buf_init(&b, 0);
    kf_wr_cstr(&b, 0, "topic");
    kf_wr_cstr(&b, 0, NULL);
    kf_wr_cstr(&b, 1, "compact");
    kf_wr_cstr(&b, 1, NULL);
    kf_wr_str(&b, 1, "", 0);
    kf_rd r;
    kf_rd_init(&r, b.data, b.len);
    const char *s;
    assert_int_equal(kf_rd_str(&r, 0, &s), 5);
    assert_memory_equal(s, "topic", 5);
    assert_int_equal(kf_rd_str(&r, 0, &s), -1);
    assert_null(s);
    char dst[8];
    assert_int_equal(kf_rd_str_copy(&r, 1, dst, sizeof(dst), 0), 7);
    assert_string_equal(dst, "compact");
    assert_int_equal(kf_rd_str_copy(&r, 1, dst, sizeof(dst), 1), 0);
    assert_string_equal(dst, "");
    assert_int_equal(kf_rd_str(&r, 1, &s), 0);
    assert_non_null(s);
    assert_true(kf_rd_ok(&r));
    assert_int_equal(kf_rd_left(&r), 0);
    kf_buf_free(&b);
}

static void test_bad_strings(void **state) {
    (void)state;
    kf_rd r;
    const char *s;
    char dst[4];
    /* int16 length -2: impossible. */
    static const uint8_t neg2[] = {0xff, 0xfe, 'a', 'b'};
    kf_rd_init(&r, neg2, sizeof(neg2));
    assert_int_equal(kf_rd_str(&r, 0, &s), -1);
    assert_false(kf_rd_ok(&r));
    /* int16 length 0x7fff with 2 bytes behind it. */
    static const uint8_t huge[] = {0x7f, 0xff, 'a', 'b'};
    kf_rd_init(&r, huge, sizeof(huge));
    assert_int_equal(kf_rd_str(&r, 0, &s), -1);
    assert_false(kf_rd_ok(&r));
    assert_null(s);
    /* Compact length beyond the buffer. */
    static const uint8_t clong[] = {0x10, 'a'};
    kf_rd_init(&r, clong, sizeof(clong));
    assert_int_equal(kf_rd_str(&r, 1, &s), -1);
    assert_false(kf_rd_ok(&r));
    /* Compact length from an oversized uvarint. */
    static const uint8_t cbig[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    kf_rd_init(&r, cbig, sizeof(cbig));
    assert_int_equal(kf_rd_str(&r, 1, &s), -1);
    assert_false(kf_rd_ok(&r));
    /* Copy: too long for dst, and null when not allowed. */
    static const uint8_t five[] = {0, 5, 'a', 'b', 'c', 'd', 'e'};
    kf_rd_init(&r, five, sizeof(five));
    assert_int_equal(kf_rd_str_copy(&r, 0, dst, sizeof(dst), 0), -1);
    assert_false(kf_rd_ok(&r));
    static const uint8_t null16[] = {0xff, 0xff};
    kf_rd_init(&r, null16, sizeof(null16));
    assert_int_equal(kf_rd_str_copy(&r, 0, dst, sizeof(dst), 0), -1);
    assert_false(kf_rd_ok(&r));
    /* Exactly dstlen-1 fits. */
    static const uint8_t three[] = {0, 3, 'x', 'y', 'z'};
    kf_rd_init(&r, three, sizeof(three));
    assert_int_equal(kf_rd_str_copy(&r, 0, dst, sizeof(dst), 0), 3);
    assert_string_equal(dst, "xyz");
}

static void test_bytes(void **state) {
    (void)state;
    kf_rd r;
    const uint8_t *p;
    static const uint8_t neg[] = {0xff, 0xff, 0xff, 0xfe};
    kf_rd_init(&r, neg, sizeof(neg));
    assert_int_equal(kf_rd_bytes(&r, 0, &p), -1);
    assert_false(kf_rd_ok(&r));
    static const uint8_t null32[] = {0xff, 0xff, 0xff, 0xff};
    kf_rd_init(&r, null32, sizeof(null32));
    assert_int_equal(kf_rd_bytes(&r, 0, &p), -1);
    assert_true(kf_rd_ok(&r));
    assert_null(p);
    static const uint8_t big[] = {0x7f, 0xff, 0xff, 0xff, 1, 2};
    kf_rd_init(&r, big, sizeof(big));
    assert_int_equal(kf_rd_bytes(&r, 0, &p), -1);
    assert_false(kf_rd_ok(&r));
    kf_buf b;
    kf_buf_init(&b, 0);
    kf_wr_bytes(&b, 1, "\x00\x01\x02", 3);
    kf_wr_bytes(&b, 0, NULL, 0);
    kf_rd_init(&r, b.data, b.len);
    assert_int_equal(kf_rd_bytes(&r, 1, &p), 3);
    assert_memory_equal(p, "\x00\x01\x02", 3);
    assert_int_equal(kf_rd_bytes(&r, 0, &p), -1);
    assert_true(kf_rd_ok(&r));
    kf_buf_free(&b);
}

static void test_arrays(void **state) {
    (void)state;
    kf_rd r;
    /* Count 1000 with 8 bytes left: refused before any loop runs. */
    static const uint8_t many[] = {0, 0, 0x03, 0xe8, 1, 2, 3, 4, 5, 6, 7, 8};
    kf_rd_init(&r, many, sizeof(many));
    assert_int_equal(kf_rd_arr(&r, 0, 1), -1);
    assert_false(kf_rd_ok(&r));
    /* Count 4 with 8 bytes: fine at min size 2, not at min size 4. */
    static const uint8_t four[] = {0, 0, 0, 4, 1, 2, 3, 4, 5, 6, 7, 8};
    kf_rd_init(&r, four, sizeof(four));
    assert_int_equal(kf_rd_arr(&r, 0, 2), 4);
    assert_true(kf_rd_ok(&r));
    kf_rd_init(&r, four, sizeof(four));
    assert_int_equal(kf_rd_arr(&r, 0, 4), -1);
    assert_false(kf_rd_ok(&r));
    /* min_elem_size 0 is treated as 1. */
    kf_rd_init(&r, many, sizeof(many));
    assert_int_equal(kf_rd_arr(&r, 0, 0), -1);
    assert_false(kf_rd_ok(&r));
    /* Null (-1) and negative (-2) counts. */
    static const uint8_t null32[] = {0xff, 0xff, 0xff, 0xff};
    kf_rd_init(&r, null32, sizeof(null32));
    assert_int_equal(kf_rd_arr(&r, 0, 1), -1);
    assert_true(kf_rd_ok(&r));
    static const uint8_t neg2[] = {0xff, 0xff, 0xff, 0xfe};
    kf_rd_init(&r, neg2, sizeof(neg2));
    assert_int_equal(kf_rd_arr(&r, 0, 1), -1);
    assert_false(kf_rd_ok(&r));
    /* Compact: 0 = null, 1 = empty, large count refused. */
    static const uint8_t c0[] = {0}, c1[] = {1}, cbig[] = {0xff, 0xff, 0x03, 1};
    kf_rd_init(&r, c0, 1);
    assert_int_equal(kf_rd_arr(&r, 1, 1), -1);
    assert_true(kf_rd_ok(&r));
    kf_rd_init(&r, c1, 1);
    assert_int_equal(kf_rd_arr(&r, 1, 1), 0);
    assert_true(kf_rd_ok(&r));
    kf_rd_init(&r, cbig, sizeof(cbig));
    assert_int_equal(kf_rd_arr(&r, 1, 1), -1);
    assert_false(kf_rd_ok(&r));
    /* Writer round trip. */
    kf_buf b;
    kf_buf_init(&b, 0);
    kf_wr_arr(&b, 1, 2);
    kf_wr_i8(&b, 1);
    kf_wr_i8(&b, 2);
    kf_wr_arr(&b, 0, -1);
    kf_rd_init(&r, b.data, b.len);
    assert_int_equal(kf_rd_arr(&r, 1, 1), 2);
    kf_rd_skip(&r, 2);
    assert_int_equal(kf_rd_arr(&r, 0, 1), -1);
    assert_true(kf_rd_ok(&r));
    kf_buf_free(&b);
}

static void test_tags(void **state) {
    (void)state;
    kf_rd r;
    /* Two tagged fields (tag 0 size 2, tag 5 size 0), then an int8. */
    static const uint8_t ok[] = {2, 0, 2, 0xaa, 0xbb, 5, 0, 0x7e};
    kf_rd_init(&r, ok, sizeof(ok));
    kf_rd_tags(&r, 1);
    assert_int_equal(kf_rd_i8(&r), 0x7e);
    assert_true(kf_rd_ok(&r));
    /* Non-flexible: nothing is consumed. */
    kf_rd_init(&r, ok, sizeof(ok));
    kf_rd_tags(&r, 0);
    assert_int_equal(kf_rd_left(&r), sizeof(ok));
    /* A field size past the end. */
    static const uint8_t bad[] = {1, 0, 0x20, 1};
    kf_rd_init(&r, bad, sizeof(bad));
    kf_rd_tags(&r, 1);
    assert_false(kf_rd_ok(&r));
    /* A huge field count with no bytes: stops at the first failure. */
    static const uint8_t many[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    kf_rd_init(&r, many, sizeof(many));
    kf_rd_tags(&r, 1);
    assert_false(kf_rd_ok(&r));
    kf_buf b;
    kf_buf_init(&b, 0);
    kf_wr_tags(&b, 1);
    kf_wr_tags(&b, 0);
    assert_int_equal(b.len, 1);
    kf_buf_free(&b);
}

static void test_patch(void **state) {
    (void)state;
    kf_buf b;
    kf_buf_init(&b, 0);
    size_t pos = kf_wr_reserve_i32(&b);
    kf_wr_i16(&b, 7);
    kf_wr_patch_i32(&b, pos, 0x01020304);
    kf_wr_patch_i32(&b, b.len, 1); /* out of range: ignored */
    assert_int_equal(b.len, 6);
    assert_int_equal(kf_be32(b.data), 0x01020304u);
    uint8_t u[16] = {1, 2, 3};
    kf_wr_uuid(&b, u);
    kf_rd r;
    kf_rd_init(&r, b.data, b.len);
    kf_rd_skip(&r, 6);
    uint8_t back[16];
    kf_rd_uuid(&r, back);
    assert_memory_equal(back, u, 16);
    kf_buf_free(&b);
}

static void test_capped_buf(void **state) {
    (void)state;
    /* A capped buffer fails once full and ignores later writes. */
    kf_buf b;
    kf_buf_init(&b, 8);
    kf_wr_i64(&b, 1);
    assert_true(kf_buf_ok(&b));
    kf_wr_i8(&b, 1);
    assert_false(kf_buf_ok(&b));
    kf_wr_i8(&b, 1);
    assert_int_equal(b.len, 8);
    kf_buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_ints), cmocka_unit_test(test_short_reads),
        cmocka_unit_test(test_varints),    cmocka_unit_test(test_bad_varints),
        cmocka_unit_test(test_strings),    cmocka_unit_test(test_bad_strings),
        cmocka_unit_test(test_bytes),      cmocka_unit_test(test_arrays),
        cmocka_unit_test(test_tags),       cmocka_unit_test(test_patch),
        cmocka_unit_test(test_capped_buf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
