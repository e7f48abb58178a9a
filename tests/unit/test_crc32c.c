/*
 * test_crc32c.c - CRC-32C known-answer vectors (RFC 3720 B.4 and the
 * classic "123456789") and equivalence of the SSE4.2 and table paths on
 * random data, lengths and alignments.  Invariant checked: both paths are
 * interchangeable and chainable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proto/crc32c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void check_both(const void *p, size_t n, uint32_t want) {
    assert_int_equal(kf_crc32c(0, p, n), want);
    assert_int_equal(kf_crc32c_sw(0, p, n), want);
}

static void test_vectors(void **state) {
    (void)state;
    uint8_t b[32];
    memset(b, 0, sizeof(b));
    check_both(b, 32, 0x8A9136AAu);
    memset(b, 0xff, sizeof(b));
    check_both(b, 32, 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        b[i] = (uint8_t)i;
    check_both(b, 32, 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        b[i] = (uint8_t)(31 - i);
    check_both(b, 32, 0x113FDB5Cu); /* RFC 3720 B.4 descending */
    check_both("123456789", 9, 0xE3069283u);
    check_both("", 0, 0);
}

/* xorshift: deterministic, no libc rand() state shared with anything. */
static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void test_fast_equals_sw(void **state) {
    (void)state;
    enum { MAX = 4096 + 64 };
    uint8_t *buf = malloc(MAX);
    assert_non_null(buf);
    for (size_t i = 0; i < MAX; i++)
        buf[i] = (uint8_t)next_rand();
    for (int iter = 0; iter < 20000; iter++) {
        size_t off = next_rand() % 64;
        size_t len = next_rand() % (MAX - 64);
        if (iter < 200)
            len = (size_t)iter; /* every small length, where tails matter */
        uint32_t seed = (iter & 1) ? (uint32_t)next_rand() : 0;
        assert_int_equal(kf_crc32c(seed, buf + off, len), kf_crc32c_sw(seed, buf + off, len));
    }
    free(buf);
}

static void test_chaining(void **state) {
    (void)state;
    const char *s = "The quick brown fox jumps over the lazy dog, twice over.";
    size_t n = strlen(s);
    uint32_t whole = kf_crc32c(0, s, n);
    for (size_t cut = 0; cut <= n; cut++) {
        assert_int_equal(kf_crc32c(kf_crc32c(0, s, cut), s + cut, n - cut), whole);
        assert_int_equal(kf_crc32c_sw(kf_crc32c_sw(0, s, cut), s + cut, n - cut), whole);
    }
}

/* Informational throughput figure; not asserted (sanitizer builds are
 * much slower), but printed so a regression is visible in the log. */
static void test_throughput(void **state) {
    (void)state;
    size_t n = 16u << 20;
    uint8_t *buf = malloc(n);
    assert_non_null(buf);
    memset(buf, 0x5a, n);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    uint32_t c = 0;
    for (int i = 0; i < 8; i++)
        c = kf_crc32c(c, buf, n);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("crc32c: %.0f MB/s (crc %08x)\n", 8.0 * (double)n / 1e6 / (s > 0 ? s : 1e-9), c);
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_fast_equals_sw),
        cmocka_unit_test(test_chaining),
        cmocka_unit_test(test_throughput),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
