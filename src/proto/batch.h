/*
 * batch.h - RecordBatch v2 (magic 2): header parsing, produce-time
 * validation, record iteration and building.
 *
 * Layout (big-endian): BaseOffset i64, BatchLength i32, PartitionLeaderEpoch
 * i32, Magic i8, CRC u32, Attributes i16, LastOffsetDelta i32,
 * BaseTimestamp i64, MaxTimestamp i64, ProducerId i64, ProducerEpoch i16,
 * BaseSequence i32, RecordCount i32, then the records (possibly
 * compressed).  BatchLength counts the bytes after the BatchLength field;
 * the CRC-32C covers Attributes to the end.
 *
 * The broker stores batches as sent; it only looks inside (decompressing)
 * when it must: validation and timestamp lookup.
 */
#ifndef KF_BATCH_H
#define KF_BATCH_H

#include "common/buf.h"

#include <stddef.h>
#include <stdint.h>

#define KF_BATCH_HDR_SIZE 61
#define KF_BATCH_LOG_OVERHEAD 12 /* BaseOffset + BatchLength */

/* Attribute bits */
#define KF_BATCH_ATTR_CODEC_MASK 0x07
#define KF_BATCH_ATTR_LOG_APPEND_TIME 0x08
#define KF_BATCH_ATTR_TRANSACTIONAL 0x10
#define KF_BATCH_ATTR_CONTROL 0x20

/* Byte offsets of header fields inside a batch. */
#define KF_BATCH_OFF_BASE_OFFSET 0
#define KF_BATCH_OFF_LENGTH 8
#define KF_BATCH_OFF_LEADER_EPOCH 12
#define KF_BATCH_OFF_MAGIC 16
#define KF_BATCH_OFF_CRC 17
#define KF_BATCH_OFF_ATTRIBUTES 21
#define KF_BATCH_OFF_LAST_OFFSET_DELTA 23
#define KF_BATCH_OFF_BASE_TIMESTAMP 27
#define KF_BATCH_OFF_MAX_TIMESTAMP 35
#define KF_BATCH_OFF_PRODUCER_ID 43
#define KF_BATCH_OFF_PRODUCER_EPOCH 51
#define KF_BATCH_OFF_BASE_SEQUENCE 53
#define KF_BATCH_OFF_RECORD_COUNT 57

typedef struct kf_batch_hdr {
    int64_t base_offset;
    int32_t length; /* BatchLength: total size is length + 12 */
    int32_t leader_epoch;
    int8_t magic;
    uint32_t crc;
    int16_t attributes;
    int32_t last_offset_delta;
    int64_t base_timestamp;
    int64_t max_timestamp;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t record_count;
} kf_batch_hdr;

static inline size_t kf_batch_size(const kf_batch_hdr *h) {
    return (size_t)h->length + KF_BATCH_LOG_OVERHEAD;
}
static inline int64_t kf_batch_last_offset(const kf_batch_hdr *h) {
    return h->base_offset + h->last_offset_delta;
}
static inline int kf_batch_codec(const kf_batch_hdr *h) {
    return h->attributes & KF_BATCH_ATTR_CODEC_MASK;
}

/* Decodes the 61-byte header. Returns 0, or -1 if len < 61, magic != 2
 * or BatchLength is impossible (< 49). Does not check the CRC. */
int kf_batch_parse_hdr(const uint8_t *p, size_t len, kf_batch_hdr *h);

/* Checks the CRC-32C of a whole batch (p points at BaseOffset, len is
 * its full size). Returns 1 if it matches. */
int kf_batch_crc_ok(const uint8_t *p, size_t len);
/* Recomputes and stores the CRC (after the broker rewrote a covered field
 * such as MaxTimestamp for LogAppendTime). */
void kf_batch_set_crc(uint8_t *p, size_t len);

/* Produce-time validation as Kafka does it.  records/len is the whole
 * "records" field of one partition in a Produce request.  Checks: exactly
 * one batch filling the field, magic 2, length consistent, CRC,
 * BaseOffset 0, not a control batch, record count == lastOffsetDelta + 1,
 * and that every record decodes (decompressing if needed, output capped at
 * max_uncompressed).  Returns a Kafka error code (0, CORRUPT_MESSAGE,
 * INVALID_RECORD, UNSUPPORTED_FOR_MESSAGE_FORMAT...) and fills *h. */
int kf_batch_validate(const uint8_t *records, size_t len, size_t max_uncompressed, kf_batch_hdr *h);

typedef struct kf_header {
    const uint8_t *key;
    int32_t key_len;
    const uint8_t *value; /* NULL when value_len == -1 */
    int32_t value_len;
} kf_header;

typedef struct kf_record {
    int64_t offset;    /* base_offset + offset delta */
    int64_t timestamp; /* base_timestamp + delta (or MaxTimestamp for LogAppendTime) */
    const uint8_t *key;
    int32_t key_len; /* -1 = null */
    const uint8_t *value;
    int32_t value_len; /* -1 = null */
    int32_t header_count;
    const uint8_t *headers; /* raw header section, decode with kf_record_header() */
    size_t headers_len;
    const uint8_t *raw; /* the whole encoded record, length prefix included */
    size_t raw_len;
} kf_record;

/* Calls cb for each record of one batch, decompressing into a scratch
 * buffer if needed (output capped at max_uncompressed). cb returns 0 to go
 * on, non-zero to stop (that value is returned). Returns 0 when all
 * records were visited, -1 if the batch is malformed. */
typedef int (*kf_record_cb)(const kf_batch_hdr *h, const kf_record *rec, void *opaque);
int kf_batch_foreach(const uint8_t *batch, size_t len, size_t max_uncompressed, kf_record_cb cb,
                     void *opaque);

/* Frees this thread's scratch buffer and codec contexts (see
 * kf_compress_thread_cleanup); for threads that exit. */
void kf_batch_thread_cleanup(void);

/* Decodes header i (0-based) of a record's raw header section. 0 or -1. */
int kf_record_header(const kf_record *rec, int32_t i, kf_header *out);

/* Builds an uncompressed-or-compressed batch for tests and internal
 * topics. Appends a complete batch (BaseOffset 0, CRC set) to out. */
typedef struct kf_batch_builder {
    kf_buf records; /* encoded records so far */
    int32_t count;
    int64_t base_timestamp;
    int64_t max_timestamp;
    int codec;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int16_t extra_attributes; /* e.g. KF_BATCH_ATTR_TRANSACTIONAL */
} kf_batch_builder;

void kf_batch_builder_init(kf_batch_builder *b, int codec);
void kf_batch_builder_free(kf_batch_builder *b);
int kf_batch_builder_add(kf_batch_builder *b, int64_t timestamp, const void *key, int32_t key_len,
                         const void *value, int32_t value_len, const kf_header *headers,
                         int32_t header_count);
int kf_batch_builder_finish(kf_batch_builder *b, kf_buf *out);

#endif
