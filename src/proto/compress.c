/*
 * compress.c - Kafka batch codecs over zlib, snappy, liblz4 and libzstd.
 *
 * Invariant: decompression never writes more than max_out bytes into out,
 * whatever the input claims; every codec is driven as a stream (or has its
 * declared size checked first) so a hostile batch is refused once it
 * exceeds the cap instead of after allocating its full claimed size.
 */
#include "proto/compress.h"

#include "proto/wire.h"

#include <lz4frame.h>
#include <snappy-c.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#define CHUNK (64 * 1024)

/* Internal decoder results are kf_decompress_ex's. */
#define D_OK KF_DECOMP_OK
#define D_CORRUPT KF_DECOMP_CORRUPT
#define D_TOO_BIG KF_DECOMP_TOO_BIG

/* Makes room for at least one output chunk at the end of out, never more
 * than (max_out + 1 - produced) so overshooting the cap by one byte is
 * detectable but nothing beyond that is ever allocated. */
static uint8_t *out_room(kf_buf *out, size_t produced, size_t max_out, size_t *room) {
    size_t allowed = max_out - produced + 1; /* produced <= max_out here */
    size_t want = allowed < CHUNK ? allowed : CHUNK;
    if (out->cap - out->len < want && kf_buf_reserve(out, want) != 0)
        return NULL;
    size_t avail = out->cap - out->len;
    *room = avail < allowed ? avail : allowed;
    if (*room > (1u << 30)) /* zlib counts in uInt */
        *room = 1u << 30;
    return out->data + out->len;
}

/* ---- gzip ------------------------------------------------------------- */

/* Reused inflate state: inflateInit allocates ~40 KB, which would cost
 * more than decoding a small batch.  Thread-local, like the others below. */
static _Thread_local z_stream gz_stream;
static _Thread_local int gz_ready;

static int gzip_decompress(const uint8_t *in, size_t inlen, kf_buf *out, size_t max_out) {
    z_stream *zs = &gz_stream;
    if (!gz_ready) {
        memset(zs, 0, sizeof(*zs));
        /* 15 + 32: accept both gzip and zlib wrappers (auto-detect). */
        if (inflateInit2(zs, 15 + 32) != Z_OK)
            return D_CORRUPT;
        gz_ready = 1;
    } else if (inflateReset(zs) != Z_OK) {
        return D_CORRUPT;
    }
    /* inflateReset keeps next_in/avail_in: drop the previous call's input. */
    zs->next_in = NULL;
    zs->avail_in = 0;
    size_t start = out->len, produced = 0;
    int rc = D_CORRUPT;
    /* zlib counts in uInt; feed at most 1 GiB at a time. */
    const uint8_t *ip = in;
    size_t ileft = inlen;
    for (;;) {
        if (zs->avail_in == 0 && ileft) {
            size_t n = ileft > (1u << 30) ? (1u << 30) : ileft;
            zs->next_in = (Bytef *)(uintptr_t)ip;
            zs->avail_in = (uInt)n;
            ip += n;
            ileft -= n;
        }
        size_t room;
        uint8_t *dst = out_room(out, produced, max_out, &room);
        if (!dst)
            break;
        zs->next_out = dst;
        zs->avail_out = (uInt)room;
        int zr = inflate(zs, Z_NO_FLUSH);
        size_t got = room - zs->avail_out;
        out->len += got;
        produced += got;
        if (produced > max_out) {
            rc = D_TOO_BIG;
            break;
        }
        if (zr == Z_STREAM_END) {
            /* Java's GZIPInputStream reads concatenated members; do the same
             * when another gzip header follows, ignore anything else. */
            if (zs->avail_in >= 2 && zs->next_in[0] == 0x1f && zs->next_in[1] == 0x8b) {
                if (inflateReset(zs) != Z_OK)
                    break;
                continue;
            }
            rc = D_OK;
            break;
        }
        if (zr != Z_OK) /* Z_BUF_ERROR here means truncated input */
            break;
        if (got == 0 && zs->avail_in == 0 && ileft == 0)
            break; /* input exhausted before the stream ended */
    }
    if (rc != D_OK)
        out->len = start;
    return rc;
}

/* Reused deflate state, as for inflate above: deflateInit2 allocates about
 * 256 KB and clears it, which cost more than compressing a small batch (the
 * log cleaner and recompression build many); deflateReset clears only the
 * hash heads. */
static _Thread_local z_stream gz_dstream;
static _Thread_local int gz_dready;

static int gzip_compress(const uint8_t *in, size_t inlen, kf_buf *out) {
    if (inlen > (1u << 30))
        return -1;
    z_stream *zs = &gz_dstream;
    if (!gz_dready) {
        memset(zs, 0, sizeof(*zs));
        if (deflateInit2(zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
            Z_OK)
            return -1;
        gz_dready = 1;
    } else if (deflateReset(zs) != Z_OK) {
        return -1;
    }
    size_t bound = deflateBound(zs, (uLong)inlen) + 32;
    size_t start = out->len;
    uint8_t *dst = kf_buf_extend(out, bound);
    if (!dst)
        return -1;
    zs->next_in = (Bytef *)(uintptr_t)in;
    zs->avail_in = (uInt)inlen;
    zs->next_out = dst;
    zs->avail_out = (uInt)bound;
    int zr = deflate(zs, Z_FINISH);
    size_t got = bound - zs->avail_out;
    zs->next_in = zs->next_out = NULL; /* point at nothing between calls */
    zs->avail_in = zs->avail_out = 0;
    out->len = start + (zr == Z_STREAM_END ? got : 0);
    return zr == Z_STREAM_END ? 0 : -1;
}

/* ---- snappy ----------------------------------------------------------- */

static const uint8_t XERIAL_MAGIC[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};

static int snappy_raw_decompress(const uint8_t *in, size_t inlen, kf_buf *out, size_t max_out,
                                 size_t *produced) {
    size_t ulen;
    if (snappy_uncompressed_length((const char *)in, inlen, &ulen) != SNAPPY_OK)
        return D_CORRUPT;
    /* The declared length is checked against the cap before allocating. */
    if (ulen > max_out - *produced)
        return D_TOO_BIG;
    /* At least one byte so out->data is never NULL, even for empty blocks. */
    if (kf_buf_reserve(out, ulen ? ulen : 1) != 0)
        return D_CORRUPT;
    size_t n = ulen;
    if (snappy_uncompress((const char *)in, inlen, (char *)out->data + out->len, &n) != SNAPPY_OK ||
        n != ulen)
        return D_CORRUPT;
    out->len += n;
    *produced += n;
    return D_OK;
}

/* xerial framing: 8-byte magic, i32 version, i32 min-compatible version,
 * then blocks of [i32 BE length][raw snappy]. */
static int snappy_xerial_decompress(const uint8_t *in, size_t inlen, kf_buf *out, size_t max_out,
                                    size_t *produced) {
    kf_rd r;
    kf_rd_init(&r, in + 16, inlen - 16);
    while (kf_rd_left(&r) > 0) {
        int32_t bl = kf_rd_i32(&r);
        if (!kf_rd_ok(&r) || bl < 0 || (size_t)bl > kf_rd_left(&r))
            return D_CORRUPT;
        const uint8_t *blk = kf_rd_raw(&r, (size_t)bl);
        if (bl == 0)
            continue;
        int rc = snappy_raw_decompress(blk, (size_t)bl, out, max_out, produced);
        if (rc != D_OK)
            return rc;
    }
    return D_OK;
}

static int snappy_decompress(const uint8_t *in, size_t inlen, kf_buf *out, size_t max_out) {
    size_t start = out->len, produced = 0;
    int rc;
    if (inlen >= 16 && memcmp(in, XERIAL_MAGIC, 8) == 0)
        rc = snappy_xerial_decompress(in, inlen, out, max_out, &produced);
    else
        rc = snappy_raw_decompress(in, inlen, out, max_out, &produced);
    if (rc != D_OK)
        out->len = start;
    return rc;
}

static int snappy_compress_raw(const uint8_t *in, size_t inlen, kf_buf *out) {
    size_t bound = snappy_max_compressed_length(inlen);
    size_t start = out->len;
    uint8_t *dst = kf_buf_extend(out, bound);
    if (!dst)
        return -1;
    size_t n = bound;
    if (snappy_compress((const char *)in, inlen, (char *)dst, &n) != SNAPPY_OK) {
        out->len = start;
        return -1;
    }
    out->len = start + n;
    return 0;
}

/* ---- lz4 frame ---------------------------------------------------------- */

/* Decompression contexts are reused: the broker validates every produced
 * batch on one thread, and creating a context per batch would dominate
 * small batches.  Thread-local keeps this safe for multi-threaded tools. */
static _Thread_local LZ4F_dctx *lz4_dctx;
static _Thread_local ZSTD_DCtx *zstd_dctx;

static int lz4_decompress(const uint8_t *in, size_t inlen, kf_buf *out, size_t max_out) {
    if (!lz4_dctx && LZ4F_isError(LZ4F_createDecompressionContext(&lz4_dctx, LZ4F_VERSION))) {
        lz4_dctx = NULL;
        return D_CORRUPT;
    }
    size_t start = out->len, produced = 0;
    const uint8_t *ip = in;
    size_t ileft = inlen;
    int rc = D_CORRUPT;
    for (;;) {
        size_t room;
        uint8_t *dst = out_room(out, produced, max_out, &room);
        if (!dst)
            break;
        size_t dn = room, sn = ileft;
        size_t hint = LZ4F_decompress(lz4_dctx, dst, &dn, ip, &sn, NULL);
        if (LZ4F_isError(hint))
            break;
        ip += sn;
        ileft -= sn;
        out->len += dn;
        produced += dn;
        if (produced > max_out) {
            rc = D_TOO_BIG;
            break;
        }
        /* hint == 0: a frame just ended; more input may hold another one
         * (concatenated frames), otherwise we are done. */
        if (hint == 0 && ileft == 0) {
            rc = D_OK;
            break;
        }
        /* No progress either way: input exhausted mid-frame (truncated). */
        if (sn == 0 && dn == 0)
            break;
    }
    if (rc != D_OK) {
        out->len = start;
        /* A context left mid-frame must not leak state into the next call. */
        LZ4F_resetDecompressionContext(lz4_dctx);
    }
    return rc;
}

static int lz4_compress(const uint8_t *in, size_t inlen, kf_buf *out) {
    LZ4F_preferences_t prefs;
    memset(&prefs, 0, sizeof(prefs));
    prefs.frameInfo.blockSizeID = LZ4F_max64KB; /* what Kafka's Java client uses */
    prefs.frameInfo.contentSize = inlen;
    size_t bound = LZ4F_compressFrameBound(inlen, &prefs);
    size_t start = out->len;
    uint8_t *dst = kf_buf_extend(out, bound);
    if (!dst)
        return -1;
    size_t n = LZ4F_compressFrame(dst, bound, in, inlen, &prefs);
    if (LZ4F_isError(n)) {
        out->len = start;
        return -1;
    }
    out->len = start + n;
    return 0;
}

/* ---- zstd ------------------------------------------------------------- */

static int zstd_decompress(const uint8_t *in, size_t inlen, kf_buf *out, size_t max_out) {
    if (!zstd_dctx) {
        zstd_dctx = ZSTD_createDCtx();
        if (!zstd_dctx)
            return D_CORRUPT;
    }
    size_t start = out->len, produced = 0;
    /* Fast path: a single frame that declares its size (what the builder
     * and most producers write) is decoded in one call after checking the
     * declared size against the cap; streaming costs ~4 us per call in
     * buffer setup, which dominates small batches. */
    unsigned long long csize = ZSTD_getFrameContentSize(in, inlen);
    if (csize != ZSTD_CONTENTSIZE_UNKNOWN && csize != ZSTD_CONTENTSIZE_ERROR &&
        ZSTD_findFrameCompressedSize(in, inlen) == inlen) {
        if (csize > max_out)
            return D_TOO_BIG;
        if (kf_buf_reserve(out, (size_t)csize ? (size_t)csize : 1) != 0)
            return D_CORRUPT;
        size_t n = ZSTD_decompressDCtx(zstd_dctx, out->data + out->len, (size_t)csize, in, inlen);
        if (ZSTD_isError(n) || n != csize)
            return D_CORRUPT;
        out->len += n;
        return D_OK;
    }
    /* Streaming: producers (librdkafka, zstd-jni streams) may omit the
     * content size, and streaming also enforces the cap incrementally. */
    ZSTD_DCtx_reset(zstd_dctx, ZSTD_reset_session_only);
    ZSTD_inBuffer ib = {in, inlen, 0};
    int rc = D_CORRUPT;
    for (;;) {
        size_t room;
        uint8_t *dst = out_room(out, produced, max_out, &room);
        if (!dst)
            break;
        ZSTD_outBuffer ob = {dst, room, 0};
        size_t prev_in = ib.pos;
        size_t last = ZSTD_decompressStream(zstd_dctx, &ob, &ib);
        if (ZSTD_isError(last))
            break;
        out->len += ob.pos;
        produced += ob.pos;
        if (produced > max_out) {
            rc = D_TOO_BIG;
            break;
        }
        /* 0 = a frame is complete and flushed; further input would be the
         * next concatenated frame. */
        if (last == 0 && ib.pos == ib.size) {
            rc = D_OK;
            break;
        }
        if (ob.pos == 0 && ib.pos == prev_in)
            break; /* no progress: truncated */
    }
    if (rc != D_OK)
        out->len = start;
    return rc;
}

/* Reused compression context: ZSTD_compress builds and frees one per call. */
static _Thread_local ZSTD_CCtx *zstd_cctx;

static int zstd_compress(const uint8_t *in, size_t inlen, kf_buf *out) {
    if (!zstd_cctx && !(zstd_cctx = ZSTD_createCCtx()))
        return -1;
    size_t bound = ZSTD_compressBound(inlen);
    size_t start = out->len;
    uint8_t *dst = kf_buf_extend(out, bound);
    if (!dst)
        return -1;
    size_t n = ZSTD_compressCCtx(zstd_cctx, dst, bound, in, inlen, 3);
    if (ZSTD_isError(n)) {
        out->len = start;
        return -1;
    }
    out->len = start + n;
    return 0;
}

/* ---- public ----------------------------------------------------------- */

void kf_compress_thread_cleanup(void) {
    if (gz_ready) {
        inflateEnd(&gz_stream);
        gz_ready = 0;
    }
    if (gz_dready) {
        deflateEnd(&gz_dstream);
        gz_dready = 0;
    }
    if (lz4_dctx) {
        LZ4F_freeDecompressionContext(lz4_dctx);
        lz4_dctx = NULL;
    }
    if (zstd_dctx) {
        ZSTD_freeDCtx(zstd_dctx);
        zstd_dctx = NULL;
    }
    if (zstd_cctx) {
        ZSTD_freeCCtx(zstd_cctx);
        zstd_cctx = NULL;
    }
}

int kf_decompress_ex(int codec, const void *in, size_t inlen, kf_buf *out, size_t max_out) {
    const uint8_t *p = in;
    if (!kf_buf_ok(out) || (!p && inlen))
        return D_CORRUPT;
    if (max_out > SIZE_MAX / 2)
        max_out = SIZE_MAX / 2; /* keeps max_out + 1 arithmetic exact */
    static const uint8_t empty[1];
    if (!p)
        p = empty;
    switch (codec) {
    case KF_CODEC_NONE:
        if (inlen > max_out)
            return D_TOO_BIG;
        kf_buf_append(out, p, inlen);
        return kf_buf_ok(out) ? D_OK : D_CORRUPT;
    case KF_CODEC_GZIP: return gzip_decompress(p, inlen, out, max_out);
    case KF_CODEC_SNAPPY: return snappy_decompress(p, inlen, out, max_out);
    case KF_CODEC_LZ4: return lz4_decompress(p, inlen, out, max_out);
    case KF_CODEC_ZSTD: return zstd_decompress(p, inlen, out, max_out);
    default: return D_CORRUPT;
    }
}

int kf_decompress(int codec, const void *in, size_t inlen, kf_buf *out, size_t max_out) {
    return kf_decompress_ex(codec, in, inlen, out, max_out) == D_OK ? 0 : -1;
}

int kf_compress(int codec, const void *in, size_t inlen, kf_buf *out) {
    const uint8_t *p = in;
    static const uint8_t empty[1];
    if (!p)
        p = empty; /* libraries reject NULL even for zero length */
    if (!kf_buf_ok(out))
        return -1;
    switch (codec) {
    case KF_CODEC_NONE: kf_buf_append(out, p, inlen); return kf_buf_ok(out) ? 0 : -1;
    case KF_CODEC_GZIP: return gzip_compress(p, inlen, out);
    case KF_CODEC_SNAPPY: return snappy_compress_raw(p, inlen, out);
    case KF_CODEC_LZ4: return lz4_compress(p, inlen, out);
    case KF_CODEC_ZSTD: return zstd_compress(p, inlen, out);
    default: return -1;
    }
}
