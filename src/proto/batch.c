/*
 * batch.c - RecordBatch v2: header parsing, produce validation, record
 * iteration and building (see batch.h).
 *
 * Invariant: every length read from a batch is checked against the bytes
 * that remain before it is used; uncompressed records are walked in place
 * and compressed ones in a reused per-thread scratch buffer, so validating
 * the hot produce path allocates nothing in the steady state.
 */
#include "proto/batch.h"

#include "proto/compress.h"
#include "proto/crc32c.h"
#include "proto/proto.h"
#include "proto/wire.h"

#include <string.h>

/* Used when a caller passes max_uncompressed == 0: "no cap" is never
 * what a network-facing caller wants. */
#define DEFAULT_MAX_UNCOMPRESSED ((size_t)64 << 20)
/* A scratch buffer grown beyond this by one huge batch is released after
 * use so one outlier does not pin memory for the broker's lifetime. */
#define SCRATCH_KEEP ((size_t)8 << 20)
/* Smallest possible encoded record: length, attributes, timestampDelta,
 * offsetDelta, keyLen, valueLen, headerCount - one byte each. */
#define MIN_RECORD_SIZE 7

int kf_batch_parse_hdr(const uint8_t *p, size_t len, kf_batch_hdr *h) {
    if (len < KF_BATCH_HDR_SIZE)
        return -1;
    h->base_offset = (int64_t)kf_be64(p + KF_BATCH_OFF_BASE_OFFSET);
    h->length = (int32_t)kf_be32(p + KF_BATCH_OFF_LENGTH);
    h->leader_epoch = (int32_t)kf_be32(p + KF_BATCH_OFF_LEADER_EPOCH);
    h->magic = (int8_t)p[KF_BATCH_OFF_MAGIC];
    h->crc = kf_be32(p + KF_BATCH_OFF_CRC);
    h->attributes = (int16_t)kf_be16(p + KF_BATCH_OFF_ATTRIBUTES);
    h->last_offset_delta = (int32_t)kf_be32(p + KF_BATCH_OFF_LAST_OFFSET_DELTA);
    h->base_timestamp = (int64_t)kf_be64(p + KF_BATCH_OFF_BASE_TIMESTAMP);
    h->max_timestamp = (int64_t)kf_be64(p + KF_BATCH_OFF_MAX_TIMESTAMP);
    h->producer_id = (int64_t)kf_be64(p + KF_BATCH_OFF_PRODUCER_ID);
    h->producer_epoch = (int16_t)kf_be16(p + KF_BATCH_OFF_PRODUCER_EPOCH);
    h->base_sequence = (int32_t)kf_be32(p + KF_BATCH_OFF_BASE_SEQUENCE);
    h->record_count = (int32_t)kf_be32(p + KF_BATCH_OFF_RECORD_COUNT);
    if (h->magic != 2 || h->length < KF_BATCH_HDR_SIZE - KF_BATCH_LOG_OVERHEAD)
        return -1;
    return 0;
}

int kf_batch_crc_ok(const uint8_t *p, size_t len) {
    if (len < KF_BATCH_HDR_SIZE)
        return 0;
    uint32_t want = kf_be32(p + KF_BATCH_OFF_CRC);
    return kf_crc32c(0, p + KF_BATCH_OFF_ATTRIBUTES, len - KF_BATCH_OFF_ATTRIBUTES) == want;
}

void kf_batch_set_crc(uint8_t *p, size_t len) {
    if (len < KF_BATCH_HDR_SIZE)
        return;
    kf_put_be32(p + KF_BATCH_OFF_CRC,
                kf_crc32c(0, p + KF_BATCH_OFF_ATTRIBUTES, len - KF_BATCH_OFF_ATTRIBUTES));
}

/* ---- record decoding --------------------------------------------------- */

typedef struct rec_raw {
    int64_t ts_delta;
    int32_t offset_delta;
    kf_record rec; /* offset/timestamp filled by the caller */
} rec_raw;

/* Decodes one record at r. Its length prefix must exactly cover the fields
 * and headers; anything else is malformed. Returns 0 or -1. */
static int decode_record(kf_rd *r, rec_raw *out) {
    const uint8_t *start = r->p;
    int32_t len = kf_rd_varint(r);
    if (!kf_rd_ok(r) || len < 0 || (size_t)len > kf_rd_left(r))
        return -1;
    kf_rd b;
    kf_rd_init(&b, kf_rd_raw(r, (size_t)len), (size_t)len);
    (void)kf_rd_i8(&b); /* record attributes: unused in v2 */
    out->ts_delta = kf_rd_varlong(&b);
    out->offset_delta = kf_rd_varint(&b);
    kf_record *rec = &out->rec;
    rec->key_len = kf_rd_varint(&b);
    if (!kf_rd_ok(&b) || rec->key_len < -1)
        return -1;
    rec->key = rec->key_len > 0 ? kf_rd_raw(&b, (size_t)rec->key_len) : NULL;
    if (rec->key_len == 0)
        rec->key = b.p; /* empty, non-null: a valid pointer, zero bytes */
    rec->value_len = kf_rd_varint(&b);
    if (!kf_rd_ok(&b) || rec->value_len < -1)
        return -1;
    rec->value = rec->value_len > 0 ? kf_rd_raw(&b, (size_t)rec->value_len) : NULL;
    if (rec->value_len == 0)
        rec->value = b.p;
    rec->header_count = kf_rd_varint(&b);
    /* Each header takes at least two bytes (two length varints). */
    if (!kf_rd_ok(&b) || rec->header_count < 0 || (size_t)rec->header_count > kf_rd_left(&b) / 2)
        return -1;
    rec->headers = b.p;
    for (int32_t i = 0; i < rec->header_count; i++) {
        int32_t kl = kf_rd_varint(&b);
        if (!kf_rd_ok(&b) || kl < 0) /* header keys are never null */
            return -1;
        kf_rd_skip(&b, (size_t)kl);
        int32_t vl = kf_rd_varint(&b);
        if (!kf_rd_ok(&b) || vl < -1)
            return -1;
        if (vl > 0)
            kf_rd_skip(&b, (size_t)vl);
    }
    if (!kf_rd_ok(&b) || kf_rd_left(&b) != 0)
        return -1;
    rec->headers_len = (size_t)(b.p - rec->headers);
    rec->raw = start;
    rec->raw_len = (size_t)(b.p - start);
    return 0;
}

int kf_record_header(const kf_record *rec, int32_t i, kf_header *out) {
    if (i < 0 || i >= rec->header_count || !rec->headers)
        return -1;
    kf_rd r;
    kf_rd_init(&r, rec->headers, rec->headers_len);
    for (int32_t k = 0;; k++) {
        int32_t kl = kf_rd_varint(&r);
        if (!kf_rd_ok(&r) || kl < 0)
            return -1;
        const uint8_t *key = kf_rd_raw(&r, (size_t)kl);
        int32_t vl = kf_rd_varint(&r);
        if (!kf_rd_ok(&r) || vl < -1)
            return -1;
        const uint8_t *val = vl >= 0 ? kf_rd_raw(&r, (size_t)vl) : NULL;
        if (!kf_rd_ok(&r))
            return -1;
        if (k == i) {
            out->key = key;
            out->key_len = kl;
            out->value = val;
            out->value_len = vl;
            return 0;
        }
    }
}

/* ---- scratch buffer for decompressed records ---------------------------- */

/* One per thread; `busy` makes re-entry (a foreach callback that itself
 * iterates a batch) fall back to a private buffer instead of clobbering. */
static _Thread_local kf_buf scratch;
static _Thread_local int scratch_busy;

static kf_buf *scratch_get(kf_buf *priv) {
    if (scratch_busy) {
        kf_buf_init(priv, 0);
        return priv;
    }
    scratch_busy = 1;
    kf_buf_reset(&scratch);
    return &scratch;
}

static void scratch_put(kf_buf *b) {
    if (b != &scratch) {
        kf_buf_free(b);
        return;
    }
    if (scratch.cap > SCRATCH_KEEP)
        kf_buf_free(&scratch);
    scratch_busy = 0;
}

void kf_batch_thread_cleanup(void) {
    if (!scratch_busy)
        kf_buf_free(&scratch);
    kf_compress_thread_cleanup();
}

/* Locates the (decompressed) record bytes of a batch whose header h has
 * been parsed and whose size fits in p.  Returns 0 with data and dlen set,
 * else a KF_DECOMP_* code. */
static int batch_records(const uint8_t *p, const kf_batch_hdr *h, size_t max_uncompressed,
                         kf_buf *buf, const uint8_t **data, size_t *dlen) {
    const uint8_t *rp = p + KF_BATCH_HDR_SIZE;
    size_t rlen = kf_batch_size(h) - KF_BATCH_HDR_SIZE;
    if (kf_batch_codec(h) == KF_CODEC_NONE) {
        *data = rp;
        *dlen = rlen;
        return 0;
    }
    if (max_uncompressed == 0)
        max_uncompressed = DEFAULT_MAX_UNCOMPRESSED;
    int rc = kf_decompress_ex(kf_batch_codec(h), rp, rlen, buf, max_uncompressed);
    if (rc != KF_DECOMP_OK)
        return rc;
    *data = buf->data;
    *dlen = buf->len;
    return 0;
}

static inline int64_t add_wrap(int64_t a, int64_t b) {
    /* Hostile deltas may overflow; wrap instead of invoking UB. */
    return (int64_t)((uint64_t)a + (uint64_t)b);
}

/* ---- validation -------------------------------------------------------- */

/* Walks the records strictly: exactly record_count records, offset deltas
 * 0..n-1 in order, no bytes left over.  Returns 0 or INVALID_RECORD. */
static int walk_strict(const uint8_t *data, size_t dlen, int32_t count) {
    if ((size_t)count > dlen / MIN_RECORD_SIZE)
        return KF_ERR_INVALID_RECORD;
    kf_rd r;
    kf_rd_init(&r, data, dlen);
    rec_raw rr;
    for (int32_t i = 0; i < count; i++) {
        if (decode_record(&r, &rr) != 0 || rr.offset_delta != i)
            return KF_ERR_INVALID_RECORD;
    }
    return kf_rd_left(&r) == 0 ? 0 : KF_ERR_INVALID_RECORD;
}

int kf_batch_validate(const uint8_t *records, size_t len, size_t max_uncompressed,
                      kf_batch_hdr *h) {
    memset(h, 0, sizeof(*h));
    if (len < KF_BATCH_HDR_SIZE)
        return KF_ERR_CORRUPT_MESSAGE; /* cannot even hold one header */
    int hdr_bad = kf_batch_parse_hdr(records, len, h);
    /* Produce v3+ carries only magic 2; older magics are a client error,
     * not corruption (Kafka answers INVALID_RECORD too). */
    if (h->magic != 2)
        return KF_ERR_INVALID_RECORD;
    if (hdr_bad)
        return KF_ERR_CORRUPT_MESSAGE; /* BatchLength below the header size */
    size_t size = kf_batch_size(h);
    if (size > len)
        return KF_ERR_CORRUPT_MESSAGE; /* truncated in transit */
    if (size < len)
        return KF_ERR_INVALID_RECORD; /* a second batch or trailing garbage */
    if (!kf_batch_crc_ok(records, size))
        return KF_ERR_CORRUPT_MESSAGE;
    if (h->base_offset != 0)
        return KF_ERR_INVALID_RECORD;
    if (h->attributes & KF_BATCH_ATTR_CONTROL)
        return KF_ERR_INVALID_RECORD; /* only the broker writes markers */
    if (h->record_count < 1 || h->last_offset_delta != h->record_count - 1)
        return KF_ERR_INVALID_RECORD;
    int codec = kf_batch_codec(h);
    if (codec > KF_CODEC_ZSTD)
        return KF_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT;

    kf_buf priv;
    kf_buf *buf = codec == KF_CODEC_NONE ? NULL : scratch_get(&priv);
    const uint8_t *data;
    size_t dlen;
    int rc = batch_records(records, h, max_uncompressed, buf, &data, &dlen);
    if (rc == KF_DECOMP_TOO_BIG)
        rc = KF_ERR_MESSAGE_TOO_LARGE; /* expands past what we accept */
    else if (rc != 0)
        rc = KF_ERR_CORRUPT_MESSAGE; /* undecodable compressed data */
    else
        rc = walk_strict(data, dlen, h->record_count);
    if (buf)
        scratch_put(buf);
    return rc;
}

/* ---- iteration ----------------------------------------------------------- */

int kf_batch_foreach(const uint8_t *batch, size_t len, size_t max_uncompressed, kf_record_cb cb,
                     void *opaque) {
    kf_batch_hdr h;
    if (kf_batch_parse_hdr(batch, len, &h) != 0 || kf_batch_size(&h) > len || h.record_count < 0 ||
        kf_batch_codec(&h) > KF_CODEC_ZSTD)
        return -1;
    int codec = kf_batch_codec(&h);
    kf_buf priv;
    kf_buf *buf = codec == KF_CODEC_NONE ? NULL : scratch_get(&priv);
    const uint8_t *data;
    size_t dlen;
    int rc = -1;
    if (batch_records(batch, &h, max_uncompressed, buf, &data, &dlen) != 0)
        goto out;
    if ((size_t)h.record_count > dlen / MIN_RECORD_SIZE)
        goto out;
    int log_append = (h.attributes & KF_BATCH_ATTR_LOG_APPEND_TIME) != 0;
    kf_rd r;
    kf_rd_init(&r, data, dlen);
    rc = 0;
    for (int32_t i = 0; i < h.record_count; i++) {
        rec_raw rr;
        /* Offset deltas are not required to be dense here: stored batches
         * from compacted source topics may have gaps. */
        if (decode_record(&r, &rr) != 0) {
            rc = -1;
            break;
        }
        rr.rec.offset = add_wrap(h.base_offset, rr.offset_delta);
        rr.rec.timestamp = log_append ? h.max_timestamp : add_wrap(h.base_timestamp, rr.ts_delta);
        int c = cb(&h, &rr.rec, opaque);
        if (c != 0) {
            rc = c;
            break;
        }
    }
    if (rc == 0 && kf_rd_left(&r) != 0)
        rc = -1; /* bytes after the declared records */
out:
    if (buf)
        scratch_put(buf);
    return rc;
}

/* ---- builder ------------------------------------------------------------- */

void kf_batch_builder_init(kf_batch_builder *b, int codec) {
    memset(b, 0, sizeof(*b));
    kf_buf_init(&b->records, 0);
    b->codec = codec;
    b->base_timestamp = -1;
    b->max_timestamp = -1;
    b->producer_id = -1;
    b->producer_epoch = -1;
    b->base_sequence = -1;
}

void kf_batch_builder_free(kf_batch_builder *b) { kf_buf_free(&b->records); }

static size_t uvar_size(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}
static size_t varint_size(int32_t v) {
    return uvar_size((uint32_t)(((uint32_t)v << 1) ^ (uint32_t)(v >> 31)));
}
static size_t varlong_size(int64_t v) {
    return uvar_size(((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

int kf_batch_builder_add(kf_batch_builder *b, int64_t timestamp, const void *key, int32_t key_len,
                         const void *value, int32_t value_len, const kf_header *headers,
                         int32_t header_count) {
    if (!key || key_len < 0)
        key_len = -1;
    if (!value || value_len < 0)
        value_len = -1;
    if (header_count < 0 || (header_count > 0 && !headers) || b->count == INT32_MAX)
        return -1;
    if (b->count == 0) {
        b->base_timestamp = timestamp;
        b->max_timestamp = timestamp;
    } else if (timestamp > b->max_timestamp) {
        b->max_timestamp = timestamp;
    }
    int64_t ts_delta = (int64_t)((uint64_t)timestamp - (uint64_t)b->base_timestamp);
    int32_t off_delta = b->count;

    /* Size the body first so the length prefix is written directly, with
     * no temporary buffer. */
    uint64_t body = 1 + varlong_size(ts_delta) + varint_size(off_delta) + varint_size(key_len) +
                    (key_len > 0 ? (uint64_t)key_len : 0) + varint_size(value_len) +
                    (value_len > 0 ? (uint64_t)value_len : 0) + varint_size(header_count);
    for (int32_t i = 0; i < header_count; i++) {
        const kf_header *hd = &headers[i];
        if (hd->key_len < 0 || (hd->key_len > 0 && !hd->key) || hd->value_len < -1 ||
            (hd->value_len > 0 && !hd->value))
            return -1;
        int32_t vl = hd->value ? hd->value_len : -1;
        body += varint_size(hd->key_len) + (uint64_t)hd->key_len + varint_size(vl) +
                (vl > 0 ? (uint64_t)vl : 0);
    }
    if (body > INT32_MAX)
        return -1;

    kf_buf *o = &b->records;
    size_t mark = o->len;
    kf_wr_varint(o, (int32_t)body);
    kf_wr_i8(o, 0);
    kf_wr_varlong(o, ts_delta);
    kf_wr_varint(o, off_delta);
    kf_wr_varint(o, key_len);
    if (key_len > 0)
        kf_buf_append(o, key, (size_t)key_len);
    kf_wr_varint(o, value_len);
    if (value_len > 0)
        kf_buf_append(o, value, (size_t)value_len);
    kf_wr_varint(o, header_count);
    for (int32_t i = 0; i < header_count; i++) {
        const kf_header *hd = &headers[i];
        int32_t vl = hd->value ? hd->value_len : -1;
        kf_wr_varint(o, hd->key_len);
        if (hd->key_len > 0)
            kf_buf_append(o, hd->key, (size_t)hd->key_len);
        kf_wr_varint(o, vl);
        if (vl > 0)
            kf_buf_append(o, hd->value, (size_t)vl);
    }
    if (!kf_buf_ok(o)) {
        o->len = mark;
        return -1;
    }
    b->count++;
    return 0;
}

int kf_batch_builder_finish(kf_batch_builder *b, kf_buf *out) {
    if (!kf_buf_ok(&b->records) || !kf_buf_ok(out) || b->codec < KF_CODEC_NONE ||
        b->codec > KF_CODEC_ZSTD)
        return -1;
    size_t start = out->len;
    uint8_t *hdr = kf_buf_extend(out, KF_BATCH_HDR_SIZE);
    if (!hdr)
        return -1;
    if (kf_compress(b->codec, b->records.data, b->records.len, out) != 0 || !kf_buf_ok(out)) {
        out->len = start;
        return -1;
    }
    size_t size = out->len - start;
    if (size - KF_BATCH_LOG_OVERHEAD > INT32_MAX) {
        out->len = start;
        return -1;
    }
    hdr = out->data + start; /* out may have moved while growing */
    kf_put_be64(hdr + KF_BATCH_OFF_BASE_OFFSET, 0);
    kf_put_be32(hdr + KF_BATCH_OFF_LENGTH, (uint32_t)(size - KF_BATCH_LOG_OVERHEAD));
    kf_put_be32(hdr + KF_BATCH_OFF_LEADER_EPOCH, (uint32_t)-1);
    hdr[KF_BATCH_OFF_MAGIC] = 2;
    int16_t attrs = (int16_t)((b->extra_attributes & ~KF_BATCH_ATTR_CODEC_MASK) |
                              (b->codec & KF_BATCH_ATTR_CODEC_MASK));
    kf_put_be16(hdr + KF_BATCH_OFF_ATTRIBUTES, (uint16_t)attrs);
    kf_put_be32(hdr + KF_BATCH_OFF_LAST_OFFSET_DELTA, (uint32_t)(b->count - 1));
    kf_put_be64(hdr + KF_BATCH_OFF_BASE_TIMESTAMP, (uint64_t)b->base_timestamp);
    kf_put_be64(hdr + KF_BATCH_OFF_MAX_TIMESTAMP, (uint64_t)b->max_timestamp);
    kf_put_be64(hdr + KF_BATCH_OFF_PRODUCER_ID, (uint64_t)b->producer_id);
    kf_put_be16(hdr + KF_BATCH_OFF_PRODUCER_EPOCH, (uint16_t)b->producer_epoch);
    kf_put_be32(hdr + KF_BATCH_OFF_BASE_SEQUENCE, (uint32_t)b->base_sequence);
    kf_put_be32(hdr + KF_BATCH_OFF_RECORD_COUNT, (uint32_t)b->count);
    kf_batch_set_crc(hdr, size);
    return 0;
}
