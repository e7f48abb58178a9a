/*
 * fuzz_wire.c - libFuzzer harness for the Kafka primitive readers (wire.c).
 *
 * The input is a script: one opcode byte, then whatever that reader
 * consumes, repeated.  Oracles: every pointer returned lies inside the
 * input, the cursor never passes the end, an error is sticky (later reads
 * are zero and consume nothing), and values that decode re-encode to
 * something that decodes to the same value.
 */
#include "proto/wire.h"

#include <stdlib.h>
#include <string.h>

static const uint8_t *g_lo, *g_hi;

static void in_input(const void *p, int64_t n) {
    if (n <= 0)
        return;
    const uint8_t *q = p;
    if (!q || q < g_lo || q + n > g_hi)
        abort();
}

/* Re-encode / decode oracles for the variable-length integers. */
static void rt_varint(int32_t v) {
    kf_buf b;
    kf_buf_init(&b, 0);
    kf_wr_varint(&b, v);
    kf_rd r;
    kf_rd_init(&r, b.data, b.len);
    if (kf_rd_varint(&r) != v || !kf_rd_ok(&r) || kf_rd_left(&r) != 0)
        abort();
    kf_buf_free(&b);
}
static void rt_varlong(int64_t v) {
    kf_buf b;
    kf_buf_init(&b, 0);
    kf_wr_varlong(&b, v);
    kf_rd r;
    kf_rd_init(&r, b.data, b.len);
    if (kf_rd_varlong(&r) != v || !kf_rd_ok(&r) || kf_rd_left(&r) != 0)
        abort();
    kf_buf_free(&b);
}
static void rt_uvarint(uint32_t v) {
    kf_buf b;
    kf_buf_init(&b, 0);
    kf_wr_uvarint(&b, v);
    kf_rd r;
    kf_rd_init(&r, b.data, b.len);
    if (kf_rd_uvarint(&r) != v || !kf_rd_ok(&r) || kf_rd_left(&r) != 0)
        abort();
    kf_buf_free(&b);
}
static void rt_str(int flex, const char *s, int32_t n) {
    kf_buf b;
    kf_buf_init(&b, 0);
    kf_wr_str(&b, flex, s, n);
    kf_rd r;
    kf_rd_init(&r, b.data, b.len);
    const char *t;
    int32_t m = kf_rd_str(&r, flex, &t);
    if (m != n || !kf_rd_ok(&r) || kf_rd_left(&r) != 0 || (n > 0 && memcmp(s, t, (size_t)n)))
        abort();
    kf_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    g_lo = data;
    g_hi = data + size;
    kf_rd r;
    kf_rd_init(&r, data, size);
    for (int steps = 0; steps < 4096; steps++) {
        int was_ok = kf_rd_ok(&r);
        const uint8_t *before = r.p;
        size_t left_before = kf_rd_left(&r);
        if (left_before == 0)
            break;
        uint8_t op = (uint8_t)kf_rd_i8(&r);
        int flex = op & 1;
        const char *s = NULL;
        const uint8_t *b = NULL;
        int32_t n;
        switch ((op >> 1) % 16) {
        case 0: (void)kf_rd_i8(&r); break;
        case 1: (void)kf_rd_i16(&r); break;
        case 2: (void)kf_rd_i32(&r); break;
        case 3: (void)kf_rd_i64(&r); break;
        case 4: {
            int32_t v = kf_rd_varint(&r);
            if (kf_rd_ok(&r))
                rt_varint(v);
            break;
        }
        case 5: {
            int64_t v = kf_rd_varlong(&r);
            if (kf_rd_ok(&r))
                rt_varlong(v);
            break;
        }
        case 6: {
            uint32_t v = kf_rd_uvarint(&r);
            if (kf_rd_ok(&r))
                rt_uvarint(v);
            break;
        }
        case 7:
            n = kf_rd_str(&r, flex, &s);
            if (kf_rd_ok(&r)) {
                if (n < -1 || (n >= 0) != (s != NULL))
                    abort();
                in_input(s, n);
                rt_str(flex, s, n);
            } else if (n != -1 || s) {
                abort();
            }
            break;
        case 8:
            n = kf_rd_bytes(&r, flex, &b);
            if (kf_rd_ok(&r)) {
                if (n < -1 || (n >= 0) != (b != NULL))
                    abort();
                in_input(b, n);
            }
            break;
        case 9: {
            char dst[16];
            n = kf_rd_str_copy(&r, flex, dst, sizeof(dst), op & 2);
            if (kf_rd_ok(&r) && (n < 0 || (size_t)n >= sizeof(dst) || strlen(dst) > (size_t)n))
                abort();
            break;
        }
        case 10: {
            size_t min = (op >> 5) & 7;
            n = kf_rd_arr(&r, flex, min);
            if (kf_rd_ok(&r) && n > 0 && (size_t)n > kf_rd_left(&r) / (min ? min : 1))
                abort(); /* the documented guarantee */
            if (kf_rd_ok(&r) && n < -1)
                abort();
            break;
        }
        case 11: kf_rd_tags(&r, 1); break;
        case 12: {
            uint8_t u[16];
            kf_rd_uuid(&r, u);
            break;
        }
        case 13: {
            size_t want = (size_t)((op >> 5) * 3);
            b = kf_rd_raw(&r, want);
            if (kf_rd_ok(&r))
                in_input(b, (int64_t)want);
            else if (b)
                abort();
            break;
        }
        case 14: (void)kf_rd_u32(&r); break;
        default: kf_rd_skip(&r, (size_t)(op >> 5)); break;
        }
        /* Cursor bounds and error stickiness. */
        if (r.p < g_lo || r.p > g_hi || r.end != g_hi)
            abort();
        if (!kf_rd_ok(&r)) {
            if (kf_rd_left(&r) != 0)
                abort();
            if (kf_rd_i32(&r) != 0 || kf_rd_uvarint(&r) != 0 || kf_rd_ok(&r))
                abort();
            break;
        }
        if (!was_ok || r.p <= before)
            abort(); /* every successful op consumed its opcode at least */
    }
    return 0;
}
