/*
 * compress.h - the four Kafka batch codecs: gzip (zlib), snappy (raw and
 * the xerial-framed form that Java and kafka-python write), lz4 frame
 * (liblz4) and zstd (libzstd).
 *
 * Decompression output is capped (max_out) so a small hostile input cannot
 * expand without bound.
 */
#ifndef KF_COMPRESS_H
#define KF_COMPRESS_H

#include "common/buf.h"

#include <stddef.h>

enum {
    KF_CODEC_NONE = 0,
    KF_CODEC_GZIP = 1,
    KF_CODEC_SNAPPY = 2,
    KF_CODEC_LZ4 = 3,
    KF_CODEC_ZSTD = 4
};

/* Appends the decompressed form of in to out. Returns 0, or -1 on corrupt
 * input, unknown codec or output over max_out bytes. */
int kf_decompress(int codec, const void *in, size_t inlen, kf_buf *out, size_t max_out);
/* Like kf_decompress but says why it failed: KF_DECOMP_CORRUPT (corrupt
 * input or unknown codec) or KF_DECOMP_TOO_BIG (output over max_out). */
enum { KF_DECOMP_OK = 0, KF_DECOMP_CORRUPT = -1, KF_DECOMP_TOO_BIG = -2 };
int kf_decompress_ex(int codec, const void *in, size_t inlen, kf_buf *out, size_t max_out);
/* Frees this thread's cached decompression contexts (they are kept per
 * thread for speed).  Call before a worker thread exits; the next
 * decompression on the thread simply recreates them. */
void kf_compress_thread_cleanup(void);
/* Appends the compressed form of in to out. Returns 0 or -1. */
int kf_compress(int codec, const void *in, size_t inlen, kf_buf *out);

#endif
