/*
 * wire.c - Kafka primitive codec (see wire.h).
 */
#include "proto/wire.h"

#include <string.h>

static inline const uint8_t *take(kf_rd *r, size_t n) {
    if (r->err || (size_t)(r->end - r->p) < n) {
        r->err = 1;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    return p;
}

int8_t kf_rd_i8(kf_rd *r) {
    const uint8_t *p = take(r, 1);
    return p ? (int8_t)p[0] : 0;
}
int16_t kf_rd_i16(kf_rd *r) {
    const uint8_t *p = take(r, 2);
    return p ? (int16_t)kf_be16(p) : 0;
}
int32_t kf_rd_i32(kf_rd *r) {
    const uint8_t *p = take(r, 4);
    return p ? (int32_t)kf_be32(p) : 0;
}
uint32_t kf_rd_u32(kf_rd *r) {
    const uint8_t *p = take(r, 4);
    return p ? kf_be32(p) : 0;
}
int64_t kf_rd_i64(kf_rd *r) {
    const uint8_t *p = take(r, 8);
    return p ? (int64_t)kf_be64(p) : 0;
}

static uint64_t rd_uvar64(kf_rd *r, int maxbytes) {
    uint64_t v = 0;
    for (int i = 0; i < maxbytes; i++) {
        const uint8_t *p = take(r, 1);
        if (!p)
            return 0;
        v |= (uint64_t)(p[0] & 0x7f) << (7 * i);
        if (!(p[0] & 0x80))
            return v;
    }
    r->err = 1;
    return 0;
}

uint32_t kf_rd_uvarint(kf_rd *r) {
    uint64_t v = rd_uvar64(r, 5);
    if (v > UINT32_MAX) {
        r->err = 1;
        return 0;
    }
    return (uint32_t)v;
}
int32_t kf_rd_varint(kf_rd *r) {
    uint32_t u = kf_rd_uvarint(r);
    return (int32_t)((u >> 1) ^ (~(u & 1) + 1));
}
int64_t kf_rd_varlong(kf_rd *r) {
    uint64_t u = rd_uvar64(r, 10);
    return (int64_t)((u >> 1) ^ (~(u & 1) + 1));
}

void kf_rd_uuid(kf_rd *r, uint8_t out[16]) {
    const uint8_t *p = take(r, 16);
    if (p)
        memcpy(out, p, 16);
    else
        memset(out, 0, 16);
}

const uint8_t *kf_rd_raw(kf_rd *r, size_t n) { return take(r, n); }
void kf_rd_skip(kf_rd *r, size_t n) { (void)take(r, n); }

/* Reads a length prefix: int16/int32 or compact (uvarint N+1). */
static int32_t rd_len(kf_rd *r, int flex, int wide) {
    int64_t n;
    if (flex)
        n = (int64_t)kf_rd_uvarint(r) - 1;
    else
        n = wide ? kf_rd_i32(r) : kf_rd_i16(r);
    if (r->err)
        return -1;
    /* A compact length near UINT32_MAX must not wrap to a negative int32
     * and read as "null". */
    if (n < -1 || n > INT32_MAX) {
        r->err = 1;
        return -1;
    }
    return (int32_t)n;
}

int32_t kf_rd_str(kf_rd *r, int flex, const char **s) {
    *s = NULL;
    int32_t n = rd_len(r, flex, 0);
    if (n < 0)
        return -1;
    const uint8_t *p = take(r, (size_t)n);
    if (!p)
        return -1;
    *s = (const char *)p;
    return n;
}

int32_t kf_rd_str_copy(kf_rd *r, int flex, char *dst, size_t dstlen, int allow_null) {
    const char *s;
    int32_t n = kf_rd_str(r, flex, &s);
    if (r->err)
        return -1;
    if (n < 0) {
        if (!allow_null) {
            r->err = 1;
            return -1;
        }
        dst[0] = '\0';
        return 0;
    }
    if ((size_t)n >= dstlen) {
        r->err = 1;
        return -1;
    }
    memcpy(dst, s, (size_t)n);
    dst[n] = '\0';
    return n;
}

int32_t kf_rd_bytes(kf_rd *r, int flex, const uint8_t **b) {
    *b = NULL;
    int32_t n = rd_len(r, flex, 1);
    if (n < 0)
        return -1;
    const uint8_t *p = take(r, (size_t)n);
    if (!p)
        return -1;
    *b = p;
    return n;
}

int32_t kf_rd_arr(kf_rd *r, int flex, size_t min_elem_size) {
    int32_t n = rd_len(r, flex, 1);
    if (n <= 0)
        return n;
    size_t min = min_elem_size ? min_elem_size : 1;
    if ((size_t)n > kf_rd_left(r) / min) {
        r->err = 1;
        return -1;
    }
    return n;
}

void kf_rd_tags(kf_rd *r, int flex) {
    if (!flex)
        return;
    uint32_t n = kf_rd_uvarint(r);
    for (uint32_t i = 0; i < n && !r->err; i++) {
        (void)kf_rd_uvarint(r); /* tag */
        uint32_t sz = kf_rd_uvarint(r);
        kf_rd_skip(r, sz);
    }
}

void kf_wr_i8(kf_buf *b, int8_t v) { kf_buf_append(b, &v, 1); }
void kf_wr_i16(kf_buf *b, int16_t v) {
    uint8_t t[2];
    kf_put_be16(t, (uint16_t)v);
    kf_buf_append(b, t, 2);
}
void kf_wr_i32(kf_buf *b, int32_t v) {
    uint8_t t[4];
    kf_put_be32(t, (uint32_t)v);
    kf_buf_append(b, t, 4);
}
void kf_wr_i64(kf_buf *b, int64_t v) {
    uint8_t t[8];
    kf_put_be64(t, (uint64_t)v);
    kf_buf_append(b, t, 8);
}

static void wr_uvar64(kf_buf *b, uint64_t v) {
    uint8_t t[10];
    size_t n = 0;
    while (v >= 0x80) {
        t[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    t[n++] = (uint8_t)v;
    kf_buf_append(b, t, n);
}
void kf_wr_uvarint(kf_buf *b, uint32_t v) { wr_uvar64(b, v); }
void kf_wr_varint(kf_buf *b, int32_t v) {
    wr_uvar64(b, (uint32_t)(((uint32_t)v << 1) ^ (uint32_t)(v >> 31)));
}
void kf_wr_varlong(kf_buf *b, int64_t v) { wr_uvar64(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63)); }
void kf_wr_uuid(kf_buf *b, const uint8_t id[16]) { kf_buf_append(b, id, 16); }

static void wr_len(kf_buf *b, int flex, int wide, int32_t n) {
    if (flex)
        kf_wr_uvarint(b, (uint32_t)(n + 1));
    else if (wide)
        kf_wr_i32(b, n);
    else
        kf_wr_i16(b, (int16_t)n);
}

void kf_wr_str(kf_buf *b, int flex, const char *s, int32_t len) {
    if (!s || len < 0) {
        wr_len(b, flex, 0, -1);
        return;
    }
    wr_len(b, flex, 0, len);
    kf_buf_append(b, s, (size_t)len);
}
void kf_wr_cstr(kf_buf *b, int flex, const char *s) {
    kf_wr_str(b, flex, s, s ? (int32_t)strlen(s) : -1);
}
void kf_wr_bytes(kf_buf *b, int flex, const void *p, int32_t len) {
    if (!p || len < 0) {
        wr_len(b, flex, 1, -1);
        return;
    }
    wr_len(b, flex, 1, len);
    kf_buf_append(b, p, (size_t)len);
}
void kf_wr_arr(kf_buf *b, int flex, int32_t n) { wr_len(b, flex, 1, n); }
void kf_wr_tags(kf_buf *b, int flex) {
    if (flex)
        kf_wr_uvarint(b, 0);
}

size_t kf_wr_reserve_i32(kf_buf *b) {
    size_t pos = b->len;
    kf_wr_i32(b, 0);
    return pos;
}
void kf_wr_patch_i32(kf_buf *b, size_t pos, int32_t v) {
    if (kf_buf_ok(b) && pos + 4 <= b->len)
        kf_put_be32(b->data + pos, (uint32_t)v);
}
