/*
 * buf.c - growable byte buffer (see buf.h).
 */
#include "common/buf.h"

#include <stdlib.h>
#include <string.h>

void kf_buf_init(kf_buf *b, size_t max) {
    memset(b, 0, sizeof(*b));
    b->max = max;
}

void kf_buf_free(kf_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void kf_buf_reset(kf_buf *b) {
    b->len = 0;
    b->failed = 0;
}

int kf_buf_reserve(kf_buf *b, size_t extra) {
    if (b->failed)
        return -1;
    if (extra > SIZE_MAX - b->len || (b->max && b->len + extra > b->max)) {
        b->failed = 1;
        return -1;
    }
    size_t need = b->len + extra;
    if (need <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    if (b->max && ncap > b->max)
        ncap = b->max;
    uint8_t *n = realloc(b->data, ncap);
    if (!n) {
        b->failed = 1;
        return -1;
    }
    b->data = n;
    b->cap = ncap;
    return 0;
}

void kf_buf_append(kf_buf *b, const void *p, size_t n) {
    if (n == 0 || kf_buf_reserve(b, n) != 0)
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

uint8_t *kf_buf_extend(kf_buf *b, size_t n) {
    if (kf_buf_reserve(b, n) != 0)
        return NULL;
    uint8_t *p = b->data + b->len;
    b->len += n;
    return p;
}

void kf_buf_consume(kf_buf *b, size_t n) {
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}
