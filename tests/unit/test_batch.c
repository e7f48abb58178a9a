/*
 * test_batch.c - codecs (round trips, xerial snappy, output caps) and
 * RecordBatch v2 build -> validate -> iterate, plus every produce
 * validation error path.  Invariant checked: whatever the builder writes
 * validates and iterates back to the same records under every codec, and
 * each malformation maps to its Kafka error code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proto/batch.h"
#include "proto/compress.h"
#include "proto/crc32c.h"
#include "proto/proto.h"
#include "proto/wire.h"

#include <lz4frame.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#define CAP (64u << 20)

static const int CODECS[] = {KF_CODEC_NONE, KF_CODEC_GZIP, KF_CODEC_SNAPPY, KF_CODEC_LZ4,
                             KF_CODEC_ZSTD};
#define NCODECS (sizeof(CODECS) / sizeof(CODECS[0]))

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Half random, half repetitive, so compressors both work and shrink. */
static uint8_t *sample(size_t n) {
    uint8_t *p = malloc(n ? n : 1);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = i < n / 2 ? (uint8_t)next_rand() : (uint8_t)("kferry"[i % 6]);
    return p;
}

static int noop_cb_fwd(const kf_batch_hdr *h, const kf_record *r, void *o) {
    (void)h;
    (void)r;
    (*(int *)o)++;
    return 0;
}

/* ---- codecs ------------------------------------------------------------- */

static void roundtrip(int codec, const uint8_t *in, size_t n) {
    kf_buf c, d;
    kf_buf_init(&c, 0);
    kf_buf_init(&d, 0);
    assert_int_equal(kf_compress(codec, in, n, &c), 0);
    assert_int_equal(kf_decompress(codec, c.data, c.len, &d, n), 0); /* exact cap fits */
    assert_int_equal(d.len, n);
    if (n)
        assert_memory_equal(d.data, in, n);
    if (n > 0 && codec != KF_CODEC_NONE) {
        kf_buf_reset(&d);
        assert_int_equal(kf_decompress_ex(codec, c.data, c.len, &d, n - 1), KF_DECOMP_TOO_BIG);
        assert_int_equal(d.len, 0); /* nothing partial left behind */
        /* Truncated input must fail, never succeed with partial output. */
        kf_buf_reset(&d);
        assert_int_equal(kf_decompress(codec, c.data, c.len - 1, &d, CAP), -1);
        assert_int_equal(d.len, 0);
    }
    kf_buf_free(&c);
    kf_buf_free(&d);
}

static void test_codec_roundtrip(void **state) {
    (void)state;
    static const size_t sizes[] = {0, 1, 7, 100, 65536, 65537, 300000};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        uint8_t *in = sample(sizes[s]);
        for (size_t c = 0; c < NCODECS; c++)
            roundtrip(CODECS[c], in, sizes[s]);
        free(in);
    }
}

static void test_codec_appends(void **state) {
    (void)state;
    /* Output is appended after existing content, which is preserved. */
    kf_buf c, d;
    kf_buf_init(&c, 0);
    kf_buf_init(&d, 0);
    assert_int_equal(kf_compress(KF_CODEC_ZSTD, "hello", 5, &c), 0);
    kf_buf_append(&d, "xy", 2);
    assert_int_equal(kf_decompress(KF_CODEC_ZSTD, c.data, c.len, &d, 5), 0);
    assert_int_equal(d.len, 7);
    assert_memory_equal(d.data, "xyhello", 7);
    kf_buf_free(&c);
    kf_buf_free(&d);
}

static void test_codec_corrupt(void **state) {
    (void)state;
    uint8_t junk[256];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)next_rand();
    kf_buf d;
    kf_buf_init(&d, 0);
    for (size_t c = 1; c < NCODECS; c++) {
        kf_buf_reset(&d);
        assert_int_equal(kf_decompress(CODECS[c], junk, sizeof(junk), &d, CAP), -1);
        assert_int_equal(d.len, 0);
        assert_int_equal(kf_decompress(CODECS[c], junk, 0, &d, CAP), -1);
    }
    assert_int_equal(kf_decompress(5, junk, sizeof(junk), &d, CAP), -1);
    assert_int_equal(kf_compress(7, junk, sizeof(junk), &d), -1);
    kf_buf_free(&d);
}

/* xerial framing as Java's snappy-java / kafka-python write it, built by
 * hand: magic, version 1, compatible 1, then [i32 BE len][raw block]. */
static void xerial_frame(const uint8_t *in, size_t n, size_t block, kf_buf *out) {
    static const uint8_t magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
    kf_buf_append(out, magic, 8);
    kf_wr_i32(out, 1);
    kf_wr_i32(out, 1);
    for (size_t off = 0; off < n; off += block) {
        size_t len = n - off < block ? n - off : block;
        size_t bound = snappy_max_compressed_length(len);
        char *tmp = malloc(bound);
        assert_non_null(tmp);
        assert_int_equal(snappy_compress((const char *)in + off, len, tmp, &bound), SNAPPY_OK);
        kf_wr_i32(out, (int32_t)bound);
        kf_buf_append(out, tmp, bound);
        free(tmp);
    }
}

static void test_snappy_xerial(void **state) {
    (void)state;
    size_t n = 100000;
    uint8_t *in = sample(n);
    kf_buf x, d;
    kf_buf_init(&x, 0);
    kf_buf_init(&d, 0);
    xerial_frame(in, n, 32768, &x);
    assert_int_equal(kf_decompress(KF_CODEC_SNAPPY, x.data, x.len, &d, CAP), 0);
    assert_int_equal(d.len, n);
    assert_memory_equal(d.data, in, n);
    /* Cap applies across blocks. */
    kf_buf_reset(&d);
    assert_int_equal(kf_decompress_ex(KF_CODEC_SNAPPY, x.data, x.len, &d, n - 1),
                     KF_DECOMP_TOO_BIG);
    /* Truncated last block, and a block length beyond the input. */
    kf_buf_reset(&d);
    assert_int_equal(kf_decompress(KF_CODEC_SNAPPY, x.data, x.len - 3, &d, CAP), -1);
    assert_int_equal(d.len, 0);
    kf_put_be32(x.data + 16, 0x7fffffff);
    assert_int_equal(kf_decompress(KF_CODEC_SNAPPY, x.data, x.len, &d, CAP), -1);
    /* Header only: no blocks is an empty payload. */
    assert_int_equal(kf_decompress(KF_CODEC_SNAPPY, x.data, 16, &d, CAP), 0);
    assert_int_equal(d.len, 0);
    kf_buf_free(&x);
    kf_buf_free(&d);
    free(in);
}

/* A snappy batch whose records field is xerial-framed (kafka-python and
 * the Java client) validates and iterates like a raw-snappy one. */
static void test_batch_xerial(void **state) {
    (void)state;
    kf_batch_builder b;
    kf_batch_builder_init(&b, KF_CODEC_NONE);
    for (int i = 0; i < 50; i++)
        assert_int_equal(kf_batch_builder_add(&b, 100 + i, "key", 3, "xerial value", 12, NULL, 0),
                         0);
    kf_buf framed;
    kf_buf_init(&framed, 0);
    xerial_frame(b.records.data, b.records.len, 200, &framed); /* several blocks */
    kf_buf plain = b.records;
    b.records = framed;
    kf_buf out;
    kf_buf_init(&out, 0);
    assert_int_equal(kf_batch_builder_finish(&b, &out), 0);
    kf_put_be16(out.data + KF_BATCH_OFF_ATTRIBUTES, KF_CODEC_SNAPPY);
    kf_batch_set_crc(out.data, out.len);
    kf_batch_hdr h;
    assert_int_equal(kf_batch_validate(out.data, out.len, CAP, &h), 0);
    assert_int_equal(h.record_count, 50);
    int n = 0;
    assert_int_equal(kf_batch_foreach(out.data, out.len, CAP, noop_cb_fwd, &n), 0);
    assert_int_equal(n, 50);
    b.records = plain;
    kf_batch_builder_free(&b);
    kf_buf_free(&framed);
    kf_buf_free(&out);
}

static void test_gzip_variants(void **state) {
    (void)state;
    const char *a = "first member;", *b = "second member";
    kf_buf c, d;
    kf_buf_init(&c, 0);
    kf_buf_init(&d, 0);
    /* Two concatenated gzip members decode to the concatenation. */
    assert_int_equal(kf_compress(KF_CODEC_GZIP, a, strlen(a), &c), 0);
    assert_int_equal(kf_compress(KF_CODEC_GZIP, b, strlen(b), &c), 0);
    assert_int_equal(kf_decompress(KF_CODEC_GZIP, c.data, c.len, &d, CAP), 0);
    assert_int_equal(d.len, strlen(a) + strlen(b));
    assert_memory_equal(d.data, "first member;second member", d.len);
    /* A zlib-wrapped stream is accepted too (auto-detect). */
    uLongf zl = compressBound(13);
    uint8_t z[64];
    zl = sizeof(z);
    assert_int_equal(compress(z, &zl, (const Bytef *)a, 13), Z_OK);
    kf_buf_reset(&d);
    assert_int_equal(kf_decompress(KF_CODEC_GZIP, z, zl, &d, CAP), 0);
    assert_int_equal(d.len, 13);
    kf_buf_free(&c);
    kf_buf_free(&d);
}

static void test_zstd_no_content_size(void **state) {
    (void)state;
    size_t n = 200000;
    uint8_t *in = sample(n);
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    size_t bound = ZSTD_compressBound(n);
    uint8_t *z = malloc(bound);
    ZSTD_outBuffer ob = {z, bound, 0};
    ZSTD_inBuffer ib = {in, n, 0};
    /* Streamed in two steps without a pledged size, so the frame has no
     * content size (a single ZSTD_e_end call would record it). */
    assert_false(ZSTD_isError(ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_continue)));
    ZSTD_inBuffer none = {NULL, 0, 0};
    assert_int_equal(ZSTD_compressStream2(cc, &ob, &none, ZSTD_e_end), 0);
    assert_int_equal(ZSTD_getFrameContentSize(z, ob.pos), ZSTD_CONTENTSIZE_UNKNOWN);
    kf_buf d;
    kf_buf_init(&d, 0);
    assert_int_equal(kf_decompress(KF_CODEC_ZSTD, z, ob.pos, &d, CAP), 0);
    assert_int_equal(d.len, n);
    assert_memory_equal(d.data, in, n);
    kf_buf_reset(&d);
    assert_int_equal(kf_decompress_ex(KF_CODEC_ZSTD, z, ob.pos, &d, 1000), KF_DECOMP_TOO_BIG);
    kf_buf_free(&d);
    ZSTD_freeCCtx(cc);
    free(z);
    free(in);
}

static void test_lz4_streamed_frame(void **state) {
    (void)state;
    /* A frame without content size, written in several updates, the way
     * librdkafka and the Java client stream it. */
    size_t n = 150000;
    uint8_t *in = sample(n);
    LZ4F_cctx *cc;
    assert_false(LZ4F_isError(LZ4F_createCompressionContext(&cc, LZ4F_VERSION)));
    size_t bound = LZ4F_compressBound(n, NULL) + 64;
    uint8_t *z = malloc(bound);
    size_t pos = LZ4F_compressBegin(cc, z, bound, NULL);
    assert_false(LZ4F_isError(pos));
    for (size_t off = 0; off < n; off += 40000) {
        size_t len = n - off < 40000 ? n - off : 40000;
        size_t w = LZ4F_compressUpdate(cc, z + pos, bound - pos, in + off, len, NULL);
        assert_false(LZ4F_isError(w));
        pos += w;
    }
    size_t w = LZ4F_compressEnd(cc, z + pos, bound - pos, NULL);
    assert_false(LZ4F_isError(w));
    pos += w;
    kf_buf d;
    kf_buf_init(&d, 0);
    assert_int_equal(kf_decompress(KF_CODEC_LZ4, z, pos, &d, CAP), 0);
    assert_int_equal(d.len, n);
    assert_memory_equal(d.data, in, n);
    /* After a failure the reused context still decodes the next frame. */
    kf_buf_reset(&d);
    assert_int_equal(kf_decompress(KF_CODEC_LZ4, z, pos / 2, &d, CAP), -1);
    assert_int_equal(kf_decompress(KF_CODEC_LZ4, z, pos, &d, CAP), 0);
    assert_int_equal(d.len, n);
    kf_buf_free(&d);
    LZ4F_freeCompressionContext(cc);
    free(z);
    free(in);
}

/* ---- batches ------------------------------------------------------------- */

typedef struct exp_rec {
    const char *key; /* NULL = null key */
    const char *value;
    int64_t ts;
    int nh;
    kf_header h[2];
} exp_rec;

static const exp_rec RECS[] = {
    {"k0", "v0", 1000, 0, {{0}}},
    {NULL, "value-with-null-key", 1005, 0, {{0}}},
    {"k2", NULL, 990, 0, {{0}}}, /* null value (tombstone), earlier timestamp */
    {"", "", 1010, 0, {{0}}},    /* empty, not null */
    {"k4",
     "with headers",
     1001,
     2,
     {{(const uint8_t *)"h1", 2, (const uint8_t *)"hv", 2}, {(const uint8_t *)"h2", 2, NULL, -1}}},
};
#define NRECS (int)(sizeof(RECS) / sizeof(RECS[0]))

static int32_t slen(const char *s) { return s ? (int32_t)strlen(s) : -1; }

static void build(int codec, int16_t extra_attrs, kf_buf *out) {
    kf_batch_builder b;
    kf_batch_builder_init(&b, codec);
    b.extra_attributes = extra_attrs;
    for (int i = 0; i < NRECS; i++) {
        const exp_rec *e = &RECS[i];
        assert_int_equal(kf_batch_builder_add(&b, e->ts, e->key, slen(e->key), e->value,
                                              slen(e->value), e->h, e->nh),
                         0);
    }
    assert_int_equal(kf_batch_builder_finish(&b, out), 0);
    kf_batch_builder_free(&b);
}

typedef struct visit {
    int n;
    int stop_at;
    int log_append;
} visit;

static int check_rec(const kf_batch_hdr *h, const kf_record *r, void *opaque) {
    visit *v = opaque;
    const exp_rec *e = &RECS[v->n];
    assert_int_equal(r->offset, v->n);
    assert_int_equal(r->timestamp, v->log_append ? 1010 : e->ts);
    assert_int_equal(r->key_len, slen(e->key));
    if (e->key)
        assert_memory_equal(r->key, e->key, strlen(e->key));
    else
        assert_null(r->key);
    assert_int_equal(r->value_len, slen(e->value));
    if (e->value)
        assert_memory_equal(r->value, e->value, strlen(e->value));
    else
        assert_null(r->value);
    assert_int_equal(r->header_count, e->nh);
    for (int i = 0; i < e->nh; i++) {
        kf_header hd;
        assert_int_equal(kf_record_header(r, i, &hd), 0);
        assert_int_equal(hd.key_len, e->h[i].key_len);
        assert_memory_equal(hd.key, e->h[i].key, (size_t)hd.key_len);
        assert_int_equal(hd.value_len, e->h[i].value_len);
        if (hd.value_len >= 0)
            assert_memory_equal(hd.value, e->h[i].value, (size_t)hd.value_len);
        else
            assert_null(hd.value);
    }
    kf_header hd;
    assert_int_equal(kf_record_header(r, e->nh, &hd), -1);
    assert_int_equal(kf_record_header(r, -1, &hd), -1);
    (void)h;
    v->n++;
    return v->n == v->stop_at ? 42 : 0;
}

static void test_build_validate_iterate(void **state) {
    (void)state;
    for (size_t c = 0; c < NCODECS; c++) {
        kf_buf out;
        kf_buf_init(&out, 0);
        build(CODECS[c], 0, &out);
        kf_batch_hdr h;
        assert_int_equal(kf_batch_validate(out.data, out.len, CAP, &h), 0);
        assert_int_equal(h.magic, 2);
        assert_int_equal(h.record_count, NRECS);
        assert_int_equal(h.last_offset_delta, NRECS - 1);
        assert_int_equal(kf_batch_codec(&h), CODECS[c]);
        assert_int_equal(h.base_timestamp, 1000);
        assert_int_equal(h.max_timestamp, 1010);
        assert_int_equal(h.producer_id, -1);
        assert_int_equal(kf_batch_size(&h), out.len);
        assert_true(kf_batch_crc_ok(out.data, out.len));
        visit v = {0, -1, 0};
        assert_int_equal(kf_batch_foreach(out.data, out.len, CAP, check_rec, &v), 0);
        assert_int_equal(v.n, NRECS);
        /* A non-zero callback result stops the walk and is returned. */
        visit v2 = {0, 2, 0};
        assert_int_equal(kf_batch_foreach(out.data, out.len, CAP, check_rec, &v2), 42);
        assert_int_equal(v2.n, 2);
        kf_buf_free(&out);
    }
}

static void test_log_append_time(void **state) {
    (void)state;
    kf_buf out;
    kf_buf_init(&out, 0);
    build(KF_CODEC_LZ4, KF_BATCH_ATTR_LOG_APPEND_TIME, &out);
    /* Broker rewrites MaxTimestamp, then must refresh the CRC. */
    kf_put_be64(out.data + KF_BATCH_OFF_MAX_TIMESTAMP, 1010);
    assert_true(kf_batch_crc_ok(out.data, out.len));
    kf_put_be64(out.data + KF_BATCH_OFF_MAX_TIMESTAMP, 5555);
    assert_false(kf_batch_crc_ok(out.data, out.len));
    kf_batch_set_crc(out.data, out.len);
    assert_true(kf_batch_crc_ok(out.data, out.len));
    kf_put_be64(out.data + KF_BATCH_OFF_MAX_TIMESTAMP, 1010);
    kf_batch_set_crc(out.data, out.len);
    visit v = {0, -1, 1};
    assert_int_equal(kf_batch_foreach(out.data, out.len, CAP, check_rec, &v), 0);
    assert_int_equal(v.n, NRECS);
    kf_buf_free(&out);
}

static void test_parse_hdr(void **state) {
    (void)state;
    kf_buf out;
    kf_buf_init(&out, 0);
    build(KF_CODEC_NONE, KF_BATCH_ATTR_TRANSACTIONAL, &out);
    kf_batch_hdr h;
    assert_int_equal(kf_batch_parse_hdr(out.data, out.len, &h), 0);
    assert_true(h.attributes & KF_BATCH_ATTR_TRANSACTIONAL);
    assert_int_equal(h.leader_epoch, -1);
    assert_int_equal(kf_batch_parse_hdr(out.data, 60, &h), -1);
    out.data[KF_BATCH_OFF_MAGIC] = 1;
    assert_int_equal(kf_batch_parse_hdr(out.data, out.len, &h), -1);
    out.data[KF_BATCH_OFF_MAGIC] = 2;
    kf_put_be32(out.data + KF_BATCH_OFF_LENGTH, 48);
    assert_int_equal(kf_batch_parse_hdr(out.data, out.len, &h), -1);
    kf_buf_free(&out);
}

/* Wraps hand-written record bytes in a batch with a correct CRC. */
static void wrap_records(const uint8_t *recs, size_t n, int32_t count, kf_buf *out) {
    kf_batch_builder b;
    kf_batch_builder_init(&b, KF_CODEC_NONE);
    kf_buf_append(&b.records, recs, n);
    b.count = count;
    b.base_timestamp = b.max_timestamp = 0;
    assert_int_equal(kf_batch_builder_finish(&b, out), 0);
    kf_batch_builder_free(&b);
}

static int validate_buf(kf_buf *b) {
    kf_batch_hdr h;
    return kf_batch_validate(b->data, b->len, CAP, &h);
}

/* Rewrites a 32-bit header field and fixes the CRC when it covers it. */
static void set32(kf_buf *b, size_t off, int32_t v) {
    kf_put_be32(b->data + off, (uint32_t)v);
    kf_batch_set_crc(b->data, b->len);
}

static int noop_cb(const kf_batch_hdr *h, const kf_record *r, void *o) {
    (void)h;
    (void)r;
    (*(int *)o)++;
    return 0;
}

static void test_validate_errors(void **state) {
    (void)state;
    kf_buf good;
    kf_buf_init(&good, 0);
    build(KF_CODEC_NONE, 0, &good);
    kf_buf b;
    kf_buf_init(&b, 0);
    kf_batch_hdr h;
#define RESET()                                                                                    \
    do {                                                                                           \
        kf_buf_reset(&b);                                                                          \
        kf_buf_append(&b, good.data, good.len);                                                    \
    } while (0)

    /* Too short for a header at all. */
    assert_int_equal(kf_batch_validate(good.data, 60, CAP, &h), KF_ERR_CORRUPT_MESSAGE);
    assert_int_equal(kf_batch_validate(good.data, 0, CAP, &h), KF_ERR_CORRUPT_MESSAGE);
    /* Truncated: BatchLength claims more than the field holds. */
    assert_int_equal(kf_batch_validate(good.data, good.len - 1, CAP, &h), KF_ERR_CORRUPT_MESSAGE);
    /* Bad CRC: flip a record byte. */
    RESET();
    b.data[b.len - 3] ^= 0x40;
    assert_int_equal(validate_buf(&b), KF_ERR_CORRUPT_MESSAGE);
    /* Bad CRC: flip the CRC itself. */
    RESET();
    b.data[KF_BATCH_OFF_CRC] ^= 1;
    assert_int_equal(validate_buf(&b), KF_ERR_CORRUPT_MESSAGE);
    /* Trailing bytes after the batch (or a second batch). */
    RESET();
    kf_buf_append(&b, good.data, good.len);
    assert_int_equal(validate_buf(&b), KF_ERR_INVALID_RECORD);
    RESET();
    kf_buf_append(&b, "x", 1);
    assert_int_equal(validate_buf(&b), KF_ERR_INVALID_RECORD);
    /* BatchLength below the header size. */
    RESET();
    kf_put_be32(b.data + KF_BATCH_OFF_LENGTH, 10);
    assert_int_equal(validate_buf(&b), KF_ERR_CORRUPT_MESSAGE);
    kf_put_be32(b.data + KF_BATCH_OFF_LENGTH, (uint32_t)-5);
    assert_int_equal(validate_buf(&b), KF_ERR_CORRUPT_MESSAGE);
    /* Old magic. */
    RESET();
    b.data[KF_BATCH_OFF_MAGIC] = 1;
    assert_int_equal(validate_buf(&b), KF_ERR_INVALID_RECORD);
    /* Non-zero base offset (outside the CRC, so no CRC fix needed). */
    RESET();
    kf_put_be64(b.data, 7);
    assert_int_equal(validate_buf(&b), KF_ERR_INVALID_RECORD);
    /* Control batch from a client. */
    RESET();
    kf_put_be16(b.data + KF_BATCH_OFF_ATTRIBUTES, KF_BATCH_ATTR_CONTROL);
    kf_batch_set_crc(b.data, b.len);
    assert_int_equal(validate_buf(&b), KF_ERR_INVALID_RECORD);
    /* Wrong counts: count != lastOffsetDelta + 1, count too high or low. */
    RESET();
    set32(&b, KF_BATCH_OFF_RECORD_COUNT, NRECS + 1);
    assert_int_equal(validate_buf(&b), KF_ERR_INVALID_RECORD);
    set32(&b, KF_BATCH_OFF_LAST_OFFSET_DELTA, NRECS);
    assert_int_equal(validate_buf(&b), KF_ERR_INVALID_RECORD); /* consistent, but too few records */
    RESET();
    set32(&b, KF_BATCH_OFF_RECORD_COUNT, NRECS - 1);
    set32(&b, KF_BATCH_OFF_LAST_OFFSET_DELTA, NRECS - 2);
    assert_int_equal(validate_buf(&b), KF_ERR_INVALID_RECORD); /* bytes left over */
    RESET();
    set32(&b, KF_BATCH_OFF_RECORD_COUNT, 0);
    set32(&b, KF_BATCH_OFF_LAST_OFFSET_DELTA, -1);
    assert_int_equal(validate_buf(&b), KF_ERR_INVALID_RECORD);
    RESET();
    set32(&b, KF_BATCH_OFF_RECORD_COUNT, INT32_MIN);
    set32(&b, KF_BATCH_OFF_LAST_OFFSET_DELTA, INT32_MAX);
    assert_int_equal(validate_buf(&b), KF_ERR_INVALID_RECORD);
    /* Unknown codec. */
    RESET();
    kf_put_be16(b.data + KF_BATCH_OFF_ATTRIBUTES, 5);
    kf_batch_set_crc(b.data, b.len);
    assert_int_equal(validate_buf(&b), KF_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT);
    int n = 0;
    assert_int_equal(kf_batch_foreach(b.data, b.len, CAP, noop_cb, &n), -1);
    /* Uncompressed records claimed to be compressed: undecodable. */
    RESET();
    kf_put_be16(b.data + KF_BATCH_OFF_ATTRIBUTES, KF_CODEC_ZSTD);
    kf_batch_set_crc(b.data, b.len);
    assert_int_equal(validate_buf(&b), KF_ERR_CORRUPT_MESSAGE);
    assert_int_equal(kf_batch_foreach(b.data, b.len, CAP, noop_cb, &n), -1);
    kf_buf_free(&b);
    kf_buf_free(&good);
#undef RESET
}

static void test_validate_bomb(void **state) {
    (void)state;
    /* 20000 records of 1 KiB zeros: ~20 MB inflated, tiny compressed. */
    static uint8_t zeros[1024];
    for (size_t c = 1; c < NCODECS; c++) {
        kf_batch_builder b;
        kf_batch_builder_init(&b, CODECS[c]);
        for (int i = 0; i < 20000; i++)
            assert_int_equal(kf_batch_builder_add(&b, 0, NULL, -1, zeros, 1024, NULL, 0), 0);
        kf_buf out;
        kf_buf_init(&out, 0);
        assert_int_equal(kf_batch_builder_finish(&b, &out), 0);
        kf_batch_hdr h;
        assert_true(out.len < b.records.len / 4);
        assert_int_equal(kf_batch_validate(out.data, out.len, 1u << 20, &h),
                         KF_ERR_MESSAGE_TOO_LARGE);
        int n = 0;
        assert_int_equal(kf_batch_foreach(out.data, out.len, 1u << 20, noop_cb, &n), -1);
        assert_int_equal(n, 0);
        /* Under a big enough cap it is fine. */
        assert_int_equal(kf_batch_validate(out.data, out.len, 32u << 20, &h), 0);
        assert_int_equal(kf_batch_foreach(out.data, out.len, 32u << 20, noop_cb, &n), 0);
        assert_int_equal(n, 20000);
        kf_buf_free(&out);
        kf_batch_builder_free(&b);
    }
}

/* Hand-written records: each case is (bytes, count, expected). */
static void test_validate_records(void **state) {
    (void)state;
    /* Valid single record: len=7 (zigzag 14), attr 0, tsd 0, offd 0,
     * key -1 (1), value 1 byte "a" (zigzag 2), headers 0. */
    static const uint8_t ok1[] = {14, 0, 0, 0, 1, 2, 'a', 0};
    /* Same, but offset delta 1 in the first record. */
    static const uint8_t bad_delta[] = {14, 0, 0, 2, 1, 2, 'a', 0};
    /* Length prefix covering a stray byte / one byte short. */
    static const uint8_t long_len[] = {16, 0, 0, 0, 1, 2, 'a', 0, 0};
    static const uint8_t short_len[] = {12, 0, 0, 0, 1, 2, 'a', 0};
    /* Key length -2 (zigzag 3). */
    static const uint8_t neg_key[] = {14, 0, 0, 0, 3, 2, 'a', 0};
    /* Header with null key (-1) and a value. */
    static const uint8_t null_hkey[] = {18, 0, 0, 0, 1, 0, 2, 1, 2, 'v'};
    /* Header with null value: fine. */
    static const uint8_t null_hval[] = {18, 0, 0, 0, 1, 0, 2, 2, 'k', 1};
    /* Negative header count. */
    static const uint8_t neg_hcount[] = {12, 0, 0, 0, 1, 0, 1};
    /* Header count far beyond the bytes. */
    static const uint8_t big_hcount[] = {14, 0, 0, 0, 1, 0, 0xfe, 0x01};
    /* Negative record length. */
    static const uint8_t neg_len[] = {1, 0, 0, 0, 1, 2, 'a', 0};
    /* Overlong varint in the timestamp delta (11 bytes). */
    static const uint8_t overlong[] = {32,   0,    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                       0x80, 0x80, 0x80, 0x01, 0,    1,    0,    0};
    /* Two valid records, the second with delta 1. */
    static const uint8_t two[] = {14, 0, 0, 0, 1, 2, 'a', 0, 14, 0, 0, 2, 1, 2, 'b', 0};
    /* Two records with the deltas swapped. */
    static const uint8_t two_swapped[] = {14, 0, 0, 2, 1, 2, 'a', 0, 14, 0, 0, 0, 1, 2, 'b', 0};
    struct {
        const uint8_t *p;
        size_t n;
        int32_t count;
        int want;
    } cases[] = {
        {ok1, sizeof(ok1), 1, 0},
        {bad_delta, sizeof(bad_delta), 1, KF_ERR_INVALID_RECORD},
        {long_len, sizeof(long_len), 1, KF_ERR_INVALID_RECORD},
        {short_len, sizeof(short_len), 1, KF_ERR_INVALID_RECORD},
        {neg_key, sizeof(neg_key), 1, KF_ERR_INVALID_RECORD},
        {null_hkey, sizeof(null_hkey), 1, KF_ERR_INVALID_RECORD},
        {null_hval, sizeof(null_hval), 1, 0},
        {neg_hcount, sizeof(neg_hcount), 1, KF_ERR_INVALID_RECORD},
        {big_hcount, sizeof(big_hcount), 1, KF_ERR_INVALID_RECORD},
        {neg_len, sizeof(neg_len), 1, KF_ERR_INVALID_RECORD},
        {overlong, sizeof(overlong), 1, KF_ERR_INVALID_RECORD},
        {two, sizeof(two), 2, 0},
        {two, sizeof(two), 1, KF_ERR_INVALID_RECORD},
        {two_swapped, sizeof(two_swapped), 2, KF_ERR_INVALID_RECORD},
        {ok1, sizeof(ok1), 2, KF_ERR_INVALID_RECORD},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kf_buf b;
        kf_buf_init(&b, 0);
        wrap_records(cases[i].p, cases[i].n, cases[i].count, &b);
        kf_batch_hdr h;
        int got = kf_batch_validate(b.data, b.len, CAP, &h);
        if (got != cases[i].want)
            fail_msg("case %zu: got %d want %d", i, got, cases[i].want);
        kf_buf_free(&b);
    }
}

static void test_foreach_lenient_gaps(void **state) {
    (void)state;
    /* Offset deltas 0 and 5 (a compacted batch): foreach accepts and
     * reports the real offsets; validate rejects. */
    static const uint8_t gap[] = {14, 0, 0, 0, 1, 2, 'a', 0, 14, 0, 0, 10, 1, 2, 'b', 0};
    kf_buf b;
    kf_buf_init(&b, 0);
    wrap_records(gap, sizeof(gap), 2, &b);
    kf_batch_hdr h;
    assert_int_equal(kf_batch_validate(b.data, b.len, CAP, &h), KF_ERR_INVALID_RECORD);
    kf_put_be64(b.data, 100); /* stored batch: offsets assigned */
    int n = 0;
    assert_int_equal(kf_batch_foreach(b.data, b.len, CAP, noop_cb, &n), 0);
    assert_int_equal(n, 2);
    /* Truncated batch passed to foreach. */
    assert_int_equal(kf_batch_foreach(b.data, b.len - 1, CAP, noop_cb, &n), -1);
    assert_int_equal(kf_batch_foreach(b.data, 10, CAP, noop_cb, &n), -1);
    kf_buf_free(&b);
}

static int last_offset_cb(const kf_batch_hdr *h, const kf_record *r, void *o) {
    (void)h;
    *(int64_t *)o = r->offset;
    return 0;
}

static void test_foreach_offsets(void **state) {
    (void)state;
    kf_buf b;
    kf_buf_init(&b, 0);
    build(KF_CODEC_SNAPPY, 0, &b);
    kf_put_be64(b.data, 1000); /* broker-assigned base offset */
    int64_t last = -1;
    assert_int_equal(kf_batch_foreach(b.data, b.len, CAP, last_offset_cb, &last), 0);
    assert_int_equal(last, 1000 + NRECS - 1);
    kf_buf_free(&b);
}

/* Nested iteration from inside a callback must not clobber the outer
 * walk's decompressed records (shared scratch buffer). */
static const uint8_t *nest_batch;
static size_t nest_len;
static int nested_cb(const kf_batch_hdr *h, const kf_record *r, void *o) {
    (void)h;
    (void)r;
    int inner = 0;
    assert_int_equal(kf_batch_foreach(nest_batch, nest_len, CAP, noop_cb, &inner), 0);
    assert_int_equal(inner, NRECS);
    kf_batch_hdr vh;
    assert_int_equal(kf_batch_validate(nest_batch, nest_len, CAP, &vh), 0);
    (*(int *)o)++;
    return 0;
}

static void test_foreach_reentrant(void **state) {
    (void)state;
    kf_buf b;
    kf_buf_init(&b, 0);
    build(KF_CODEC_GZIP, 0, &b);
    nest_batch = b.data;
    nest_len = b.len;
    int outer = 0;
    assert_int_equal(kf_batch_foreach(b.data, b.len, CAP, nested_cb, &outer), 0);
    assert_int_equal(outer, NRECS);
    kf_buf_free(&b);
}

static void test_builder_args(void **state) {
    (void)state;
    kf_batch_builder b;
    kf_batch_builder_init(&b, KF_CODEC_NONE);
    kf_header bad = {NULL, 3, NULL, -1};
    assert_int_equal(kf_batch_builder_add(&b, 0, "k", 1, "v", 1, &bad, 1), -1);
    assert_int_equal(kf_batch_builder_add(&b, 0, "k", 1, "v", 1, NULL, 1), -1);
    assert_int_equal(kf_batch_builder_add(&b, 0, "k", 1, "v", 1, NULL, -1), -1);
    assert_int_equal(b.count, 0);
    assert_int_equal(b.records.len, 0);
    /* A big value whose length varint takes several bytes. */
    size_t big = 300000;
    uint8_t *v = sample(big);
    assert_int_equal(kf_batch_builder_add(&b, 5, "k", 1, v, (int32_t)big, NULL, 0), 0);
    b.producer_id = 77;
    b.producer_epoch = 3;
    b.base_sequence = 10;
    kf_buf out;
    kf_buf_init(&out, 0);
    assert_int_equal(kf_batch_builder_finish(&b, &out), 0);
    kf_batch_hdr h;
    assert_int_equal(kf_batch_validate(out.data, out.len, CAP, &h), 0);
    assert_int_equal(h.producer_id, 77);
    assert_int_equal(h.producer_epoch, 3);
    assert_int_equal(h.base_sequence, 10);
    kf_buf_free(&out);
    kf_batch_builder_free(&b);
    free(v);
}

static void test_thread_cleanup(void **state) {
    (void)state;
    /* Cleanup is idempotent and codecs work again right after it. */
    kf_batch_thread_cleanup();
    kf_batch_thread_cleanup();
    for (size_t c = 0; c < NCODECS; c++) {
        kf_buf out;
        kf_buf_init(&out, 0);
        build(CODECS[c], 0, &out);
        visit v = {0, -1, 0};
        assert_int_equal(kf_batch_foreach(out.data, out.len, CAP, check_rec, &v), 0);
        kf_batch_thread_cleanup();
        kf_batch_hdr h;
        assert_int_equal(kf_batch_validate(out.data, out.len, CAP, &h), 0);
        kf_buf_free(&out);
    }
    kf_batch_thread_cleanup();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec_roundtrip),
        cmocka_unit_test(test_codec_appends),
        cmocka_unit_test(test_codec_corrupt),
        cmocka_unit_test(test_snappy_xerial),
        cmocka_unit_test(test_batch_xerial),
        cmocka_unit_test(test_gzip_variants),
        cmocka_unit_test(test_zstd_no_content_size),
        cmocka_unit_test(test_lz4_streamed_frame),
        cmocka_unit_test(test_build_validate_iterate),
        cmocka_unit_test(test_log_append_time),
        cmocka_unit_test(test_parse_hdr),
        cmocka_unit_test(test_validate_errors),
        cmocka_unit_test(test_validate_bomb),
        cmocka_unit_test(test_validate_records),
        cmocka_unit_test(test_foreach_lenient_gaps),
        cmocka_unit_test(test_foreach_offsets),
        cmocka_unit_test(test_foreach_reentrant),
        cmocka_unit_test(test_builder_args),
        cmocka_unit_test(test_thread_cleanup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
