/*
 * buf.h - growable byte buffer with an optional size cap.
 *
 * Used for outgoing network frames, file images and anything sized by
 * outside input.  Appends never overflow: when growth would exceed the cap
 * (or allocation fails) the buffer is marked failed and later appends are
 * ignored, so callers may append freely and check kf_buf_ok() once.
 */
#ifndef KF_BUF_H
#define KF_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct kf_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max; /* 0 = no cap */
    int failed;
} kf_buf;

void kf_buf_init(kf_buf *b, size_t max);
void kf_buf_free(kf_buf *b);
void kf_buf_reset(kf_buf *b);                /* len = 0, keeps memory, clears failure */
int kf_buf_reserve(kf_buf *b, size_t extra); /* 0 ok, -1 failed */
void kf_buf_append(kf_buf *b, const void *p, size_t n);
/* Reserves n bytes at the end and returns a pointer to them (NULL on failure). */
uint8_t *kf_buf_extend(kf_buf *b, size_t n);
/* Removes the first n bytes. */
void kf_buf_consume(kf_buf *b, size_t n);
static inline int kf_buf_ok(const kf_buf *b) { return !b->failed; }

#endif
