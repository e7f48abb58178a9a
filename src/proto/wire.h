/*
 * wire.h - Kafka primitive types on the wire: big-endian integers, zig-zag
 * varints, (compact) strings, bytes, arrays and tagged fields.
 *
 * Readers are bounds-checked with a sticky error flag: after the first
 * short or impossible read every further read returns zero/empty and
 * kf_rd_ok() is false, so a handler parses straight through and checks
 * once.  Lengths are validated against the bytes remaining, so no outside
 * length ever drives an allocation.  Writers append to a kf_buf.
 * The `flex` argument selects the compact encodings of flexible versions.
 */
#ifndef KF_WIRE_H
#define KF_WIRE_H

#include "common/buf.h"

#include <stddef.h>
#include <stdint.h>

typedef struct kf_rd {
    const uint8_t *p;
    const uint8_t *end;
    int err;
} kf_rd;

static inline void kf_rd_init(kf_rd *r, const void *p, size_t n) {
    r->p = (const uint8_t *)p;
    r->end = r->p + n;
    r->err = 0;
}
static inline int kf_rd_ok(const kf_rd *r) { return !r->err; }
static inline size_t kf_rd_left(const kf_rd *r) { return r->err ? 0 : (size_t)(r->end - r->p); }

int8_t kf_rd_i8(kf_rd *r);
int16_t kf_rd_i16(kf_rd *r);
int32_t kf_rd_i32(kf_rd *r);
int64_t kf_rd_i64(kf_rd *r);
uint32_t kf_rd_u32(kf_rd *r);
/* Unsigned LEB128 (max 5 bytes). */
uint32_t kf_rd_uvarint(kf_rd *r);
/* Zig-zag signed varint / varlong as used inside records. */
int32_t kf_rd_varint(kf_rd *r);
int64_t kf_rd_varlong(kf_rd *r);
/* Fixed 16 bytes (UUID). */
void kf_rd_uuid(kf_rd *r, uint8_t out[16]);
/* Returns a pointer to the next n bytes and skips them (NULL on error). */
const uint8_t *kf_rd_raw(kf_rd *r, size_t n);
void kf_rd_skip(kf_rd *r, size_t n);

/* String: returns its length, -1 for null; *s points into the buffer
 * (not NUL-terminated). */
int32_t kf_rd_str(kf_rd *r, int flex, const char **s);
/* Copies a string into dst (NUL-terminated). Null and over-long strings
 * are errors unless allow_null (null gives ""). Returns length or -1. */
int32_t kf_rd_str_copy(kf_rd *r, int flex, char *dst, size_t dstlen, int allow_null);
/* Bytes: length or -1 for null. */
int32_t kf_rd_bytes(kf_rd *r, int flex, const uint8_t **b);
/* Array length: -1 for null. A count larger than the bytes remaining
 * (each element takes at least min_elem_size bytes) is an error. */
int32_t kf_rd_arr(kf_rd *r, int flex, size_t min_elem_size);
/* Skips a tagged-field section when flex. */
void kf_rd_tags(kf_rd *r, int flex);

void kf_wr_i8(kf_buf *b, int8_t v);
void kf_wr_i16(kf_buf *b, int16_t v);
void kf_wr_i32(kf_buf *b, int32_t v);
void kf_wr_i64(kf_buf *b, int64_t v);
void kf_wr_uvarint(kf_buf *b, uint32_t v);
void kf_wr_varint(kf_buf *b, int32_t v);
void kf_wr_varlong(kf_buf *b, int64_t v);
void kf_wr_uuid(kf_buf *b, const uint8_t id[16]);
/* len < 0 writes null. */
void kf_wr_str(kf_buf *b, int flex, const char *s, int32_t len);
/* NUL-terminated; NULL writes null. */
void kf_wr_cstr(kf_buf *b, int flex, const char *s);
void kf_wr_bytes(kf_buf *b, int flex, const void *p, int32_t len);
void kf_wr_arr(kf_buf *b, int flex, int32_t n);
/* Writes an empty tagged-field section when flex. */
void kf_wr_tags(kf_buf *b, int flex);
/* Reserves 4 bytes for an int32 filled in later with kf_wr_patch_i32. */
size_t kf_wr_reserve_i32(kf_buf *b);
void kf_wr_patch_i32(kf_buf *b, size_t pos, int32_t v);

/* Big-endian helpers for raw buffers (record batch headers, index files). */
static inline uint16_t kf_be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t kf_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t kf_be64(const uint8_t *p) {
    return ((uint64_t)kf_be32(p) << 32) | kf_be32(p + 4);
}
static inline void kf_put_be16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void kf_put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void kf_put_be64(uint8_t *p, uint64_t v) {
    kf_put_be32(p, (uint32_t)(v >> 32));
    kf_put_be32(p + 4, (uint32_t)v);
}

#endif
