/*
 * gen_seeds.c - writes the seed corpora in tests/fuzz/corpus/<harness>/:
 * valid batches per codec, compressed payloads, wire-reader scripts and
 * well-formed request frames for the common APIs, data directories for
 * fuzz_store, SASL token scripts, SCRAM credential files, properties
 * files and offset-map records.  A new harness gets a <name>_seeds()
 * function here, called from main().
 *
 * Every seed is produced here from our own encoders, so the committed
 * bytes are reproducible: fuzz_gen_seeds <corpus-dir> rewrites them.
 */
#include "aws/sigv4.h"
#include "common/util.h"
#include "proto/batch.h"
#include "proto/compress.h"
#include "proto/crc32c.h"
#include "proto/proto.h"
#include "proto/wire.h"

#include <errno.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *root;
static int failures;

static void put(const char *harness, const char *name, const kf_buf *b) {
    char dir[1024], path[1200];
    snprintf(dir, sizeof(dir), "%s/%s", root, harness);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        perror(dir);
        failures++;
        return;
    }
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || !kf_buf_ok(b) || fwrite(b->data, 1, b->len, f) != b->len) {
        perror(path);
        failures++;
    }
    if (f)
        fclose(f);
}

/* ---- batches ------------------------------------------------------------- */

static const char *CODEC_NAMES[] = {"none", "gzip", "snappy", "lz4", "zstd"};

static void make_batch(int codec, int16_t attrs, int nrec, int with_headers, kf_buf *out) {
    kf_batch_builder b;
    kf_batch_builder_init(&b, codec);
    b.extra_attributes = attrs;
    if (attrs & KF_BATCH_ATTR_TRANSACTIONAL) {
        b.producer_id = 1000;
        b.producer_epoch = 0;
        b.base_sequence = 0;
    }
    for (int i = 0; i < nrec; i++) {
        char key[16], val[48];
        int kl = snprintf(key, sizeof(key), "key-%d", i);
        int vl = snprintf(val, sizeof(val), "value %d for the kferry fuzz corpus", i);
        kf_header hs[2] = {{(const uint8_t *)"trace", 5, (const uint8_t *)"abc", 3},
                           {(const uint8_t *)"empty", 5, NULL, -1}};
        kf_batch_builder_add(&b, 1700000000000LL + i, i == 1 ? NULL : key, i == 1 ? -1 : kl,
                             i == 2 ? NULL : val, i == 2 ? -1 : vl, with_headers ? hs : NULL,
                             with_headers ? 2 : 0);
    }
    if (kf_batch_builder_finish(&b, out) != 0)
        failures++;
    kf_batch_builder_free(&b);
}

/* A transactional batch of nrec records from producer pid/epoch starting
 * at sequence seq (keys key-<seq+i>). */
static void make_txn_batch(int codec, int64_t pid, int16_t epoch, int32_t seq, int nrec,
                           kf_buf *out) {
    kf_batch_builder b;
    kf_batch_builder_init(&b, codec);
    b.extra_attributes = KF_BATCH_ATTR_TRANSACTIONAL;
    b.producer_id = pid;
    b.producer_epoch = epoch;
    b.base_sequence = seq;
    for (int i = 0; i < nrec; i++) {
        char key[16], val[48];
        int kl = snprintf(key, sizeof(key), "key-%d", seq + i);
        int vl = snprintf(val, sizeof(val), "transactional value %d", seq + i);
        kf_batch_builder_add(&b, 1700000000000LL + seq + i, key, kl, val, vl, NULL, 0);
    }
    if (kf_batch_builder_finish(&b, out) != 0)
        failures++;
    kf_batch_builder_free(&b);
}

/* A control batch (transaction marker) as the coordinator writes it: one
 * record, key = [i16 version 0][i16 type 0 abort | 1 commit], value =
 * [i16 version 0][i32 coordinator epoch]. */
static void make_marker(int64_t pid, int16_t epoch, int commit, kf_buf *out) {
    kf_batch_builder b;
    kf_batch_builder_init(&b, KF_CODEC_NONE);
    b.extra_attributes = KF_BATCH_ATTR_TRANSACTIONAL | KF_BATCH_ATTR_CONTROL;
    b.producer_id = pid;
    b.producer_epoch = epoch;
    b.base_sequence = -1;
    const uint8_t key[4] = {0, 0, 0, (uint8_t)(commit ? 1 : 0)};
    const uint8_t val[6] = {0, 0, 0, 0, 0, 0};
    kf_batch_builder_add(&b, 1700000000100LL, key, 4, val, 6, NULL, 0);
    if (kf_batch_builder_finish(&b, out) != 0)
        failures++;
    kf_batch_builder_free(&b);
}

/* A snappy batch whose records are xerial-framed, as kafka-python and the
 * Java client send them: encode the records, frame them by hand, wrap them
 * as an uncompressed batch, then flip the codec bits and redo the CRC. */
static void xerial_batch_seed(void) {
    static const uint8_t magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
    kf_batch_builder b;
    kf_batch_builder_init(&b, KF_CODEC_NONE);
    for (int i = 0; i < 3; i++)
        kf_batch_builder_add(&b, 1700000000000LL + i, "k", 1, "xerial value", 12, NULL, 0);
    kf_buf framed;
    kf_buf_init(&framed, 0);
    kf_buf_append(&framed, magic, 8);
    kf_wr_i32(&framed, 1);
    kf_wr_i32(&framed, 1);
    size_t n = snappy_max_compressed_length(b.records.len);
    char *tmp = malloc(n);
    if (!tmp ||
        snappy_compress((const char *)b.records.data, b.records.len, tmp, &n) != SNAPPY_OK) {
        failures++;
        free(tmp);
        kf_buf_free(&framed);
        kf_batch_builder_free(&b);
        return;
    }
    kf_wr_i32(&framed, (int32_t)n);
    kf_buf_append(&framed, tmp, n);
    free(tmp);
    kf_buf tmpb = b.records; /* swap the framed bytes in as "records" */
    b.records = framed;
    kf_buf out;
    kf_buf_init(&out, 0);
    if (kf_batch_builder_finish(&b, &out) != 0)
        failures++;
    kf_put_be16(out.data + KF_BATCH_OFF_ATTRIBUTES, KF_CODEC_SNAPPY);
    kf_batch_set_crc(out.data, out.len);
    kf_batch_hdr h;
    if (kf_batch_validate(out.data, out.len, 1 << 20, &h) != 0)
        failures++; /* the seed must be a valid batch */
    put("fuzz_batch", "batch_snappy_xerial", &out);
    kf_buf_free(&out);
    kf_buf_free(&framed);
    b.records = tmpb;
    kf_batch_builder_free(&b);
}

static void batch_seeds(void) {
    char name[64];
    for (int c = 0; c <= KF_CODEC_ZSTD; c++) {
        kf_buf b;
        kf_buf_init(&b, 0);
        make_batch(c, 0, 3, 0, &b);
        snprintf(name, sizeof(name), "batch_%s", CODEC_NAMES[c]);
        put("fuzz_batch", name, &b);
        kf_buf_reset(&b);
        make_batch(c, 0, 4, 1, &b);
        snprintf(name, sizeof(name), "batch_%s_headers", CODEC_NAMES[c]);
        put("fuzz_batch", name, &b);
        kf_buf_free(&b);
    }
    kf_buf b;
    kf_buf_init(&b, 0);
    make_batch(KF_CODEC_NONE, KF_BATCH_ATTR_LOG_APPEND_TIME, 2, 0, &b);
    put("fuzz_batch", "batch_log_append_time", &b);
    kf_buf_reset(&b);
    make_batch(KF_CODEC_LZ4, KF_BATCH_ATTR_TRANSACTIONAL, 2, 0, &b);
    put("fuzz_batch", "batch_transactional_lz4", &b);
    kf_buf_reset(&b);
    make_batch(KF_CODEC_NONE, 0, 1, 0, &b);
    put("fuzz_batch", "batch_single", &b);
    kf_buf_reset(&b);
    make_marker(1000, 0, 1, &b);
    put("fuzz_batch", "control_commit", &b);
    kf_buf_reset(&b);
    make_marker(1000, 0, 0, &b);
    put("fuzz_batch", "control_abort", &b);
    kf_buf_free(&b);
    xerial_batch_seed();
}

/* ---- codec payloads -------------------------------------------------------- */

static void compress_seeds(void) {
    static const char text[] = "kferry kferry kferry: a record batch payload, "
                               "repeated repeated repeated for the compressors.";
    char name[64];
    for (int c = 0; c <= KF_CODEC_ZSTD; c++) {
        kf_buf b;
        kf_buf_init(&b, 0);
        uint8_t sel = (uint8_t)c;
        kf_buf_append(&b, &sel, 1);
        kf_compress(c, text, sizeof(text) - 1, &b);
        snprintf(name, sizeof(name), "codec_%s", CODEC_NAMES[c]);
        put("fuzz_compress", name, &b);
        kf_buf_free(&b);
    }
    /* xerial-framed snappy: magic, version 1, compat 1, two blocks. */
    static const uint8_t magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
    kf_buf b;
    kf_buf_init(&b, 0);
    uint8_t sel = KF_CODEC_SNAPPY;
    kf_buf_append(&b, &sel, 1);
    kf_buf_append(&b, magic, 8);
    kf_wr_i32(&b, 1);
    kf_wr_i32(&b, 1);
    for (int blk = 0; blk < 2; blk++) {
        char tmp[256];
        size_t n = sizeof(tmp);
        if (snappy_compress(text, sizeof(text) - 1, tmp, &n) != SNAPPY_OK) {
            failures++;
            break;
        }
        kf_wr_i32(&b, (int32_t)n);
        kf_buf_append(&b, tmp, n);
    }
    put("fuzz_compress", "codec_snappy_xerial", &b);
    kf_buf_free(&b);
}

/* ---- wire scripts ------------------------------------------------------------ */

/* Opcodes as fuzz_wire.c decodes them: (case << 1) | flex. */
#define OP(c, flex) (uint8_t)(((c) << 1) | (flex))

static void wire_seeds(void) {
    kf_buf b;
    kf_buf_init(&b, 0);
    /* Ints, varints, a string, bytes, an array count and tags. */
    kf_wr_i8(&b, (int8_t)OP(2, 0));
    kf_wr_i32(&b, 12345);
    kf_wr_i8(&b, (int8_t)OP(4, 0));
    kf_wr_varint(&b, -300);
    kf_wr_i8(&b, (int8_t)OP(5, 0));
    kf_wr_varlong(&b, 1700000000000LL);
    kf_wr_i8(&b, (int8_t)OP(6, 0));
    kf_wr_uvarint(&b, 70000);
    kf_wr_i8(&b, (int8_t)OP(7, 0));
    kf_wr_cstr(&b, 0, "topic-name");
    kf_wr_i8(&b, (int8_t)OP(7, 1));
    kf_wr_cstr(&b, 1, "compact");
    kf_wr_i8(&b, (int8_t)OP(8, 0));
    kf_wr_bytes(&b, 0, "\x01\x02\x03", 3);
    kf_wr_i8(&b, (int8_t)OP(10, 0));
    kf_wr_arr(&b, 0, 2);
    kf_wr_i8(&b, (int8_t)OP(11, 1));
    kf_wr_uvarint(&b, 1);
    kf_wr_uvarint(&b, 0);
    kf_wr_uvarint(&b, 2);
    kf_wr_i16(&b, 7);
    put("fuzz_wire", "script_mixed", &b);
    kf_buf_reset(&b);
    kf_wr_i8(&b, (int8_t)OP(7, 0));
    kf_wr_str(&b, 0, NULL, -1);
    kf_wr_i8(&b, (int8_t)OP(9, 1));
    kf_wr_cstr(&b, 1, "short");
    kf_wr_i8(&b, (int8_t)OP(12, 0));
    for (int i = 0; i < 16; i++)
        kf_wr_i8(&b, (int8_t)i);
    kf_wr_i8(&b, (int8_t)OP(3, 0));
    kf_wr_i64(&b, -1);
    put("fuzz_wire", "script_null_uuid", &b);
    kf_buf_free(&b);
}

/* ---- request frames ------------------------------------------------------------ */

/* Request header v1 (v2 adds tags when flex); the frame excludes the
 * 4-byte size prefix, as kb_req.frame does. */
static void hdr(kf_buf *b, int16_t key, int16_t ver, int flex) {
    kf_wr_i16(b, key);
    kf_wr_i16(b, ver);
    kf_wr_i32(b, 7);
    kf_wr_cstr(b, 0, "fuzz");
    kf_wr_tags(b, flex);
}

/* fuzz_request reads a client byte stream: [i32 size][frame] repeated.
 * Each request becomes a one-frame seed and is also appended to `all`, a
 * whole session (create, produce, fetch, group calls, deletes). */
static kf_buf all;
static kf_buf *cur_session = &all;
static void emit_req(const char *name, kf_buf *b) {
    kf_buf one;
    kf_buf_init(&one, 0);
    kf_wr_i32(&one, (int32_t)b->len);
    kf_buf_append(&one, b->data, b->len);
    put("fuzz_request", name, &one);
    kf_buf_append(cur_session, one.data, one.len);
    kf_buf_free(&one);
    kf_buf_reset(b);
}

/* A frame that goes only into the current session, not a seed of its own. */
static void session_only(kf_buf *b) {
    kf_wr_i32(cur_session, (int32_t)b->len);
    kf_buf_append(cur_session, b->data, b->len);
    kf_buf_reset(b);
}

static void req_seeds(void) {
    kf_buf b, batch;
    kf_buf_init(&b, 0);
    kf_buf_init(&batch, 0);
    kf_buf_init(&all, 0);
#define EMIT(name) emit_req(name, &b)

    hdr(&b, KF_API_API_VERSIONS, 0, 0);
    EMIT("api_versions_v0");
    hdr(&b, KF_API_API_VERSIONS, 3, 1);
    kf_wr_cstr(&b, 1, "kferry-fuzz");
    kf_wr_cstr(&b, 1, "1.0");
    kf_wr_tags(&b, 1);
    EMIT("api_versions_v3");
    hdr(&b, KF_API_API_VERSIONS, 9, 0); /* unsupported: answered with v0 */
    EMIT("api_versions_v9");

    hdr(&b, KF_API_METADATA, 1, 0);
    kf_wr_arr(&b, 0, -1);
    EMIT("metadata_v1_all");
    hdr(&b, KF_API_METADATA, 4, 0);
    kf_wr_arr(&b, 0, 1);
    kf_wr_cstr(&b, 0, "t1");
    kf_wr_i8(&b, 1); /* allow_auto_topic_creation */
    EMIT("metadata_v4_t1");

    hdr(&b, KF_API_CREATE_TOPICS, 0, 0);
    kf_wr_arr(&b, 0, 1);
    kf_wr_cstr(&b, 0, "t1");
    kf_wr_i32(&b, 2);
    kf_wr_i16(&b, 1);
    kf_wr_arr(&b, 0, 0);
    kf_wr_arr(&b, 0, 1);
    kf_wr_cstr(&b, 0, "retention.ms");
    kf_wr_cstr(&b, 0, "60000");
    kf_wr_i32(&b, 1000);
    EMIT("create_topics_v0");

    for (int c = 0; c <= KF_CODEC_ZSTD; c++) {
        kf_buf_reset(&batch);
        make_batch(c, 0, 3, c == KF_CODEC_NONE, &batch);
        int16_t ver = c == KF_CODEC_ZSTD ? 7 : 3; /* zstd needs Produce v7+ */
        hdr(&b, KF_API_PRODUCE, ver, 0);
        kf_wr_str(&b, 0, NULL, -1); /* transactional_id */
        kf_wr_i16(&b, -1);          /* acks */
        kf_wr_i32(&b, 1000);
        kf_wr_arr(&b, 0, 1);
        kf_wr_cstr(&b, 0, "t1");
        kf_wr_arr(&b, 0, 1);
        kf_wr_i32(&b, 0);
        kf_wr_bytes(&b, 0, batch.data, (int32_t)batch.len);
        char name[64];
        snprintf(name, sizeof(name), "produce_v%d_%s", ver, CODEC_NAMES[c]);
        EMIT(name);
    }

    hdr(&b, KF_API_FETCH, 4, 0);
    kf_wr_i32(&b, -1); /* replica_id */
    kf_wr_i32(&b, 0);  /* max_wait_ms: never park */
    kf_wr_i32(&b, 1);
    kf_wr_i32(&b, 1 << 20);
    kf_wr_i8(&b, 1); /* read_committed */
    kf_wr_arr(&b, 0, 1);
    kf_wr_cstr(&b, 0, "t1");
    kf_wr_arr(&b, 0, 1);
    kf_wr_i32(&b, 0);
    kf_wr_i64(&b, 0);
    kf_wr_i32(&b, 1 << 20);
    EMIT("fetch_v4");
    hdr(&b, KF_API_FETCH, 11, 0);
    kf_wr_i32(&b, -1);
    kf_wr_i32(&b, 0);
    kf_wr_i32(&b, 1);
    kf_wr_i32(&b, 1 << 20);
    kf_wr_i8(&b, 0);
    kf_wr_i32(&b, 0);  /* session_id */
    kf_wr_i32(&b, -1); /* session_epoch */
    kf_wr_arr(&b, 0, 1);
    kf_wr_cstr(&b, 0, "t1");
    kf_wr_arr(&b, 0, 1);
    kf_wr_i32(&b, 0);
    kf_wr_i32(&b, -1); /* current_leader_epoch */
    kf_wr_i64(&b, 0);
    kf_wr_i64(&b, -1); /* log_start_offset */
    kf_wr_i32(&b, 1 << 20);
    kf_wr_arr(&b, 0, 0); /* forgotten topics */
    kf_wr_cstr(&b, 0, "");
    EMIT("fetch_v11");

    hdr(&b, KF_API_LIST_OFFSETS, 1, 0);
    kf_wr_i32(&b, -1);
    kf_wr_arr(&b, 0, 1);
    kf_wr_cstr(&b, 0, "t1");
    kf_wr_arr(&b, 0, 2);
    kf_wr_i32(&b, 0);
    kf_wr_i64(&b, -1); /* latest */
    kf_wr_i32(&b, 1);
    kf_wr_i64(&b, 1700000000001LL);
    EMIT("list_offsets_v1");

    hdr(&b, KF_API_FIND_COORDINATOR, 1, 0);
    kf_wr_cstr(&b, 0, "g1");
    kf_wr_i8(&b, 0);
    EMIT("find_coordinator_v1");

    hdr(&b, KF_API_JOIN_GROUP, 1, 0);
    kf_wr_cstr(&b, 0, "g1");
    kf_wr_i32(&b, 10000);
    kf_wr_i32(&b, 10000);
    kf_wr_cstr(&b, 0, "");
    kf_wr_cstr(&b, 0, "consumer");
    kf_wr_arr(&b, 0, 1);
    kf_wr_cstr(&b, 0, "range");
    kf_wr_bytes(&b, 0, "\x00\x00\x00\x00\x00\x01\x00\x02t1\x00\x00\x00\x00", 14);
    EMIT("join_group_v1");

    hdr(&b, KF_API_SYNC_GROUP, 0, 0);
    kf_wr_cstr(&b, 0, "g1");
    kf_wr_i32(&b, 1);
    kf_wr_cstr(&b, 0, "m1");
    kf_wr_arr(&b, 0, 1);
    kf_wr_cstr(&b, 0, "m1");
    kf_wr_bytes(&b, 0, "\x00\x00", 2);
    EMIT("sync_group_v0");

    hdr(&b, KF_API_HEARTBEAT, 0, 0);
    kf_wr_cstr(&b, 0, "g1");
    kf_wr_i32(&b, 1);
    kf_wr_cstr(&b, 0, "m1");
    EMIT("heartbeat_v0");

    hdr(&b, KF_API_LEAVE_GROUP, 0, 0);
    kf_wr_cstr(&b, 0, "g1");
    kf_wr_cstr(&b, 0, "m1");
    EMIT("leave_group_v0");

    hdr(&b, KF_API_OFFSET_COMMIT, 2, 0);
    kf_wr_cstr(&b, 0, "g1");
    kf_wr_i32(&b, -1);
    kf_wr_cstr(&b, 0, "");
    kf_wr_i64(&b, -1);
    kf_wr_arr(&b, 0, 1);
    kf_wr_cstr(&b, 0, "t1");
    kf_wr_arr(&b, 0, 1);
    kf_wr_i32(&b, 0);
    kf_wr_i64(&b, 2);
    kf_wr_cstr(&b, 0, "meta");
    EMIT("offset_commit_v2");

    hdr(&b, KF_API_OFFSET_FETCH, 1, 0);
    kf_wr_cstr(&b, 0, "g1");
    kf_wr_arr(&b, 0, 1);
    kf_wr_cstr(&b, 0, "t1");
    kf_wr_arr(&b, 0, 1);
    kf_wr_i32(&b, 0);
    EMIT("offset_fetch_v1");
    hdr(&b, KF_API_OFFSET_FETCH, 7, 1);
    kf_wr_cstr(&b, 1, "g1");
    kf_wr_arr(&b, 1, -1); /* all topics */
    kf_wr_i8(&b, 1);      /* require_stable */
    kf_wr_tags(&b, 1);
    EMIT("offset_fetch_v7");

    hdr(&b, KF_API_LIST_GROUPS, 0, 0);
    EMIT("list_groups_v0");
    hdr(&b, KF_API_DESCRIBE_GROUPS, 0, 0);
    kf_wr_arr(&b, 0, 1);
    kf_wr_cstr(&b, 0, "g1");
    EMIT("describe_groups_v0");
    hdr(&b, KF_API_DELETE_GROUPS, 0, 0);
    kf_wr_arr(&b, 0, 1);
    kf_wr_cstr(&b, 0, "g1");
    EMIT("delete_groups_v0");

    hdr(&b, KF_API_INIT_PRODUCER_ID, 0, 0);
    kf_wr_str(&b, 0, NULL, -1);
    kf_wr_i32(&b, 60000);
    EMIT("init_producer_id_v0");
    hdr(&b, KF_API_INIT_PRODUCER_ID, 2, 1);
    kf_wr_str(&b, 1, NULL, -1);
    kf_wr_i32(&b, 60000);
    kf_wr_tags(&b, 1);
    EMIT("init_producer_id_v2");

    hdr(&b, KF_API_DESCRIBE_CONFIGS, 0, 0);
    kf_wr_arr(&b, 0, 2);
    kf_wr_i8(&b, 2); /* topic */
    kf_wr_cstr(&b, 0, "t1");
    kf_wr_arr(&b, 0, -1);
    kf_wr_i8(&b, 4); /* broker */
    kf_wr_cstr(&b, 0, "1");
    kf_wr_arr(&b, 0, 1);
    kf_wr_cstr(&b, 0, "log.retention.ms");
    EMIT("describe_configs_v0");

    hdr(&b, KF_API_DELETE_RECORDS, 0, 0);
    kf_wr_arr(&b, 0, 1);
    kf_wr_cstr(&b, 0, "t1");
    kf_wr_arr(&b, 0, 1);
    kf_wr_i32(&b, 0);
    kf_wr_i64(&b, 1);
    kf_wr_i32(&b, 1000);
    EMIT("delete_records_v0");

    hdr(&b, KF_API_CREATE_PARTITIONS, 0, 0);
    kf_wr_arr(&b, 0, 1);
    kf_wr_cstr(&b, 0, "t1");
    kf_wr_i32(&b, 3);
    kf_wr_arr(&b, 0, -1);
    kf_wr_i32(&b, 1000);
    kf_wr_i8(&b, 0);
    EMIT("create_partitions_v0");

    hdr(&b, KF_API_DELETE_TOPICS, 0, 0);
    kf_wr_arr(&b, 0, 1);
    kf_wr_cstr(&b, 0, "t1");
    kf_wr_i32(&b, 1000);
    EMIT("delete_topics_v0");
    put("fuzz_request", "session_all", &all);
    kf_buf_free(&all);

    /* Transactions and today's admin calls: each a one-frame seed, and
     * together session_txn, which runs whole transactions on topic tx
     * (a fresh broker gives transactional id txn1 producer id 0, epoch
     * 0): create tx, InitProducerId(txn1), AddPartitionsToTxn,
     * transactional Produce, read_committed Fetch (nothing stable yet),
     * EndTxn(commit), Fetch, a second transaction that is aborted, Fetch
     * (with its aborted_transactions), a third with offsets that commits,
     * then the describe/list/admin requests. */
    kf_buf txn;
    kf_buf_init(&txn, 0);
    cur_session = &txn;

    hdr(&b, KF_API_CREATE_TOPICS, 0, 0);
    kf_wr_arr(&b, 0, 1);
    kf_wr_cstr(&b, 0, "tx");
    kf_wr_i32(&b, 1);
    kf_wr_i16(&b, 1);
    kf_wr_arr(&b, 0, 0);
    kf_wr_arr(&b, 0, 1);
    kf_wr_cstr(&b, 0, "cleanup.policy");
    kf_wr_cstr(&b, 0, "compact,delete");
    kf_wr_i32(&b, 1000);
    EMIT("create_topics_v0_tx");

    hdr(&b, KF_API_INIT_PRODUCER_ID, 1, 0);
    kf_wr_cstr(&b, 0, "txn1");
    kf_wr_i32(&b, 60000);
    EMIT("init_producer_id_v1_txn");

    static const char *const ends[] = {"commit", "abort", "commit"};
    for (int round = 0; round < 3; round++) {
        char name[64];
        hdr(&b, KF_API_ADD_PARTITIONS_TO_TXN, round == 1 ? 3 : 0, round == 1);
        kf_wr_cstr(&b, round == 1, "txn1");
        kf_wr_i64(&b, 0);
        kf_wr_i16(&b, 0);
        kf_wr_arr(&b, round == 1, 1);
        kf_wr_cstr(&b, round == 1, "tx");
        kf_wr_arr(&b, round == 1, 1);
        kf_wr_i32(&b, 0);
        kf_wr_tags(&b, round == 1); /* topic */
        kf_wr_tags(&b, round == 1); /* request */
        if (round < 2)
            EMIT(round == 1 ? "add_partitions_to_txn_v3" : "add_partitions_to_txn_v0");
        else
            session_only(&b);

        kf_buf_reset(&batch);
        make_txn_batch(round == 1 ? KF_CODEC_LZ4 : KF_CODEC_NONE, 0, 0, 3 * round, 3, &batch);
        hdr(&b, KF_API_PRODUCE, 3, 0);
        kf_wr_cstr(&b, 0, "txn1");
        kf_wr_i16(&b, -1);
        kf_wr_i32(&b, 1000);
        kf_wr_arr(&b, 0, 1);
        kf_wr_cstr(&b, 0, "tx");
        kf_wr_arr(&b, 0, 1);
        kf_wr_i32(&b, 0);
        kf_wr_bytes(&b, 0, batch.data, (int32_t)batch.len);
        if (round == 0)
            EMIT("produce_v3_txn");
        else
            session_only(&b);

        if (round == 2) {
            hdr(&b, KF_API_ADD_OFFSETS_TO_TXN, 0, 0);
            kf_wr_cstr(&b, 0, "txn1");
            kf_wr_i64(&b, 0);
            kf_wr_i16(&b, 0);
            kf_wr_cstr(&b, 0, "g1");
            EMIT("add_offsets_to_txn_v0");

            hdr(&b, KF_API_TXN_OFFSET_COMMIT, 0, 0);
            kf_wr_cstr(&b, 0, "txn1");
            kf_wr_cstr(&b, 0, "g1");
            kf_wr_i64(&b, 0);
            kf_wr_i16(&b, 0);
            kf_wr_arr(&b, 0, 1);
            kf_wr_cstr(&b, 0, "tx");
            kf_wr_arr(&b, 0, 1);
            kf_wr_i32(&b, 0);
            kf_wr_i64(&b, 4);
            kf_wr_cstr(&b, 0, "txn-meta");
            EMIT("txn_offset_commit_v0");
        }

        hdr(&b, KF_API_FETCH, 4, 0); /* read_committed */
        kf_wr_i32(&b, -1);
        kf_wr_i32(&b, 0);
        kf_wr_i32(&b, 1);
        kf_wr_i32(&b, 1 << 20);
        kf_wr_i8(&b, 1);
        kf_wr_arr(&b, 0, 1);
        kf_wr_cstr(&b, 0, "tx");
        kf_wr_arr(&b, 0, 1);
        kf_wr_i32(&b, 0);
        kf_wr_i64(&b, 0);
        kf_wr_i32(&b, 1 << 20);
        if (round == 0)
            EMIT("fetch_v4_tx_open");
        else
            session_only(&b);

        hdr(&b, KF_API_END_TXN, 0, 0);
        kf_wr_cstr(&b, 0, "txn1");
        kf_wr_i64(&b, 0);
        kf_wr_i16(&b, 0);
        kf_wr_i8(&b, strcmp(ends[round], "commit") == 0);
        if (round < 2) {
            snprintf(name, sizeof(name), "end_txn_v0_%s", ends[round]);
            EMIT(name);
        } else {
            session_only(&b);
        }
    }

    hdr(&b, KF_API_FETCH, 4, 0); /* read_committed, after the aborted one */
    kf_wr_i32(&b, -1);
    kf_wr_i32(&b, 0);
    kf_wr_i32(&b, 1);
    kf_wr_i32(&b, 1 << 20);
    kf_wr_i8(&b, 1);
    kf_wr_arr(&b, 0, 1);
    kf_wr_cstr(&b, 0, "tx");
    kf_wr_arr(&b, 0, 1);
    kf_wr_i32(&b, 0);
    kf_wr_i64(&b, 0);
    kf_wr_i32(&b, 1 << 20);
    EMIT("fetch_v4_tx_read_committed");

    hdr(&b, KF_API_OFFSET_FETCH, 7, 1);
    kf_wr_cstr(&b, 1, "g1");
    kf_wr_arr(&b, 1, -1);
    kf_wr_i8(&b, 1); /* require_stable */
    kf_wr_tags(&b, 1);
    session_only(&b);

    hdr(&b, KF_API_DESCRIBE_TRANSACTIONS, 0, 1);
    kf_wr_arr(&b, 1, 2);
    kf_wr_cstr(&b, 1, "txn1");
    kf_wr_cstr(&b, 1, "nope");
    kf_wr_tags(&b, 1);
    EMIT("describe_transactions_v0");

    hdr(&b, KF_API_LIST_TRANSACTIONS, 1, 1);
    kf_wr_arr(&b, 1, 1);
    kf_wr_cstr(&b, 1, "CompleteCommit");
    kf_wr_arr(&b, 1, 1);
    kf_wr_i64(&b, 0);
    kf_wr_i64(&b, -1); /* duration_filter */
    kf_wr_tags(&b, 1);
    EMIT("list_transactions_v1");

    hdr(&b, KF_API_INCREMENTAL_ALTER_CONFIGS, 0, 0);
    kf_wr_arr(&b, 0, 1);
    kf_wr_i8(&b, 2);
    kf_wr_cstr(&b, 0, "tx");
    kf_wr_arr(&b, 0, 3);
    kf_wr_cstr(&b, 0, "min.cleanable.dirty.ratio");
    kf_wr_i8(&b, 0); /* SET */
    kf_wr_cstr(&b, 0, "0.01");
    kf_wr_cstr(&b, 0, "retention.ms");
    kf_wr_i8(&b, 1); /* DELETE */
    kf_wr_str(&b, 0, NULL, -1);
    kf_wr_cstr(&b, 0, "cleanup.policy");
    kf_wr_i8(&b, 3); /* SUBTRACT */
    kf_wr_cstr(&b, 0, "delete");
    kf_wr_i8(&b, 0); /* validate_only */
    EMIT("incremental_alter_configs_v0");
    hdr(&b, KF_API_INCREMENTAL_ALTER_CONFIGS, 1, 1);
    kf_wr_arr(&b, 1, 2);
    kf_wr_i8(&b, 2);
    kf_wr_cstr(&b, 1, "tx");
    kf_wr_arr(&b, 1, 1);
    kf_wr_cstr(&b, 1, "cleanup.policy");
    kf_wr_i8(&b, 2); /* APPEND */
    kf_wr_cstr(&b, 1, "delete");
    kf_wr_tags(&b, 1);
    kf_wr_tags(&b, 1);
    kf_wr_i8(&b, 4); /* broker */
    kf_wr_cstr(&b, 1, "1");
    kf_wr_arr(&b, 1, 1);
    kf_wr_cstr(&b, 1, "log.cleaner.backoff.ms");
    kf_wr_i8(&b, 0);
    kf_wr_cstr(&b, 1, "0");
    kf_wr_tags(&b, 1);
    kf_wr_tags(&b, 1);
    kf_wr_i8(&b, 1); /* validate_only */
    kf_wr_tags(&b, 1);
    EMIT("incremental_alter_configs_v1");

    hdr(&b, KF_API_DESCRIBE_CLUSTER, 0, 1);
    kf_wr_i8(&b, 1); /* include_cluster_authorized_operations */
    kf_wr_tags(&b, 1);
    EMIT("describe_cluster_v0");

    hdr(&b, KF_API_DESCRIBE_LOG_DIRS, 1, 0); /* v0 is not supported */
    kf_wr_arr(&b, 0, 1);
    kf_wr_cstr(&b, 0, "tx");
    kf_wr_arr(&b, 0, 2);
    kf_wr_i32(&b, 0);
    kf_wr_i32(&b, 7);
    EMIT("describe_log_dirs_v1");
#undef EMIT
    put("fuzz_request", "session_txn", &txn);
    kf_buf_free(&txn);
    kf_buf_free(&b);
    kf_buf_free(&batch);
}

/* SASL and SCRAM-credential requests for fuzz_request: one-frame seeds and
 * session_scram (upsert two mechanisms, describe all and by name, delete
 * one, refusals, describe again). fuzz_request runs without a SASL
 * session, so SaslHandshake / SaslAuthenticate get ILLEGAL_SASL_STATE
 * there; the token exchange itself is fuzz_sasl's. */
static void scram_alter_upsert(kf_buf *b, const char *user, int8_t mech, int32_t iter, int hl) {
    uint8_t salt[16], salted[64];
    for (int i = 0; i < 16; i++)
        salt[i] = (uint8_t)(0x40 + i);
    for (int i = 0; i < 64; i++)
        salted[i] = (uint8_t)(i * 7 + mech);
    kf_wr_cstr(b, 1, user);
    kf_wr_i8(b, mech);
    kf_wr_i32(b, iter);
    kf_wr_bytes(b, 1, salt, sizeof(salt));
    kf_wr_bytes(b, 1, salted, hl);
    kf_wr_tags(b, 1);
}

static void scram_req_seeds(void) {
    kf_buf b, scram;
    kf_buf_init(&b, 0);
    kf_buf_init(&scram, 0);
    kf_buf *saved = cur_session;
    cur_session = &scram;
#define EMIT(name) emit_req(name, &b)
    hdr(&b, KF_API_SASL_HANDSHAKE, 1, 0);
    kf_wr_cstr(&b, 0, "SCRAM-SHA-256");
    EMIT("sasl_handshake_v1");
    hdr(&b, KF_API_SASL_HANDSHAKE, 0, 0);
    kf_wr_cstr(&b, 0, "PLAIN");
    EMIT("sasl_handshake_v0");
    hdr(&b, KF_API_SASL_AUTHENTICATE, 0, 0);
    kf_wr_bytes(&b, 0, "n,,n=u,r=fuzznonce", 18);
    EMIT("sasl_authenticate_v0");
    hdr(&b, KF_API_SASL_AUTHENTICATE, 2, 1);
    kf_wr_bytes(&b, 1, "\0u\0secret", 9);
    kf_wr_tags(&b, 1);
    EMIT("sasl_authenticate_v2");

    /* AlterUserScramCredentials v0: deletions, then upsertions. */
    hdr(&b, KF_API_ALTER_USER_SCRAM_CREDENTIALS, 0, 1);
    kf_wr_arr(&b, 1, 0);
    kf_wr_arr(&b, 1, 3);
    scram_alter_upsert(&b, "alice", 1, 4096, 32);
    scram_alter_upsert(&b, "alice", 2, 8192, 64);
    scram_alter_upsert(&b, "bob", 1, 16384, 32);
    kf_wr_tags(&b, 1);
    EMIT("alter_user_scram_v0_upsert");

    /* DescribeUserScramCredentials v0: all users (null array). */
    hdr(&b, KF_API_DESCRIBE_USER_SCRAM_CREDENTIALS, 0, 1);
    kf_wr_arr(&b, 1, -1);
    kf_wr_tags(&b, 1);
    EMIT("describe_user_scram_v0_all");
    /* By name: one present, one missing, one twice. */
    hdr(&b, KF_API_DESCRIBE_USER_SCRAM_CREDENTIALS, 0, 1);
    kf_wr_arr(&b, 1, 4);
    const char *names[] = {"alice", "nobody", "bob", "bob"};
    for (int i = 0; i < 4; i++) {
        kf_wr_cstr(&b, 1, names[i]);
        kf_wr_tags(&b, 1);
    }
    kf_wr_tags(&b, 1);
    EMIT("describe_user_scram_v0_names");

    /* Refusals: too few / too many iterations, unknown mechanism, empty
     * name, wrong salted-password length, the same credential twice, a
     * deletion of a credential that does not exist. */
    hdr(&b, KF_API_ALTER_USER_SCRAM_CREDENTIALS, 0, 1);
    kf_wr_arr(&b, 1, 1);
    kf_wr_cstr(&b, 1, "carol");
    kf_wr_i8(&b, 1);
    kf_wr_tags(&b, 1);
    kf_wr_arr(&b, 1, 6);
    scram_alter_upsert(&b, "dave", 1, 1000, 32);
    scram_alter_upsert(&b, "erin", 2, 20000, 64);
    scram_alter_upsert(&b, "frank", 3, 4096, 32);
    scram_alter_upsert(&b, "", 1, 4096, 32);
    scram_alter_upsert(&b, "grace", 2, 4096, 32);
    scram_alter_upsert(&b, "dave", 1, 4096, 32);
    kf_wr_tags(&b, 1);
    EMIT("alter_user_scram_v0_refusals");

    /* Delete one of alice's two credentials, then bob's only one. */
    hdr(&b, KF_API_ALTER_USER_SCRAM_CREDENTIALS, 0, 1);
    kf_wr_arr(&b, 1, 2);
    kf_wr_cstr(&b, 1, "alice");
    kf_wr_i8(&b, 1);
    kf_wr_tags(&b, 1);
    kf_wr_cstr(&b, 1, "bob");
    kf_wr_i8(&b, 1);
    kf_wr_tags(&b, 1);
    kf_wr_arr(&b, 1, 0);
    kf_wr_tags(&b, 1);
    EMIT("alter_user_scram_v0_delete");

    hdr(&b, KF_API_DESCRIBE_USER_SCRAM_CREDENTIALS, 0, 1);
    kf_wr_arr(&b, 1, 0);
    kf_wr_tags(&b, 1);
    session_only(&b);
#undef EMIT
    put("fuzz_request", "session_scram", &scram);
    cur_session = saved;
    kf_buf_free(&scram);
    kf_buf_free(&b);
}

/* ---- SASL sessions (fuzz_sasl) ------------------------------------------ */

/* fuzz_sasl's flag bits (see fuzz_sasl.c). */
enum {
    SA_S256 = 1,
    SA_S512 = 2,
    SA_CREDS = 4,
    SA_JAAS = 8,
    SA_RAW = 16,
    SA_PROOF = 32,
    SA_TAMPER = 64,
    SA_REPEAT = 128
};

static void sa_tok(kf_buf *b, const void *p, size_t n) {
    uint8_t l[2] = {(uint8_t)(n >> 8), (uint8_t)n};
    kf_buf_append(b, l, 2);
    kf_buf_append(b, p, n);
}

static void sasl_seed(const char *name, uint8_t flags, uint8_t tpos, uint8_t txor,
                      const char *const *toks, const size_t *lens, int n) {
    kf_buf b;
    kf_buf_init(&b, 0);
    uint8_t h[3] = {flags, tpos, txor};
    kf_buf_append(&b, h, 3);
    for (int i = 0; i < n; i++)
        sa_tok(&b, toks[i], lens[i]);
    put("fuzz_sasl", name, &b);
    kf_buf_free(&b);
}

#define SA1(name, flags, tok)                                                                      \
    sasl_seed(name, flags, 0, 0, (const char *const[]){tok}, (const size_t[]){sizeof(tok) - 1}, 1)
#define SA2(name, flags, t1, t2)                                                                   \
    sasl_seed(name, flags, 0, 0, (const char *const[]){t1, t2},                                    \
              (const size_t[]){sizeof(t1) - 1, sizeof(t2) - 1}, 2)

static void sasl_seeds(void) {
    /* PLAIN: JAAS user, SCRAM credential, authzid form, shadowing, a token
     * after success, malformed messages. */
    SA1("plain_jaas_ok", SA_JAAS, "\0u\0jaas-secret-pw");
    SA1("plain_scram_cred_ok", SA_CREDS, "u\0u\0scram-secret-pw");
    SA1("plain_jaas_shadows_scram", SA_CREDS | SA_JAAS | SA_RAW, "\0u\0scram-secret-pw");
    SA1("plain_authzid_differs", SA_JAAS, "v\0u\0jaas-secret-pw");
    SA1("plain_three_nuls", SA_JAAS, "\0u\0jaas\0secret-pw");
    SA1("plain_no_user", SA_JAAS, "\0\0jaas-secret-pw");
    SA2("plain_token_after_done", SA_JAAS, "\0u\0jaas-secret-pw", "\0u\0again");
    /* SCRAM with a harness-computed proof: both mechanisms, authzid,
     * librdkafka's repeated nonce, a tampered final message. */
    SA1("scram256_proof", SA_S256 | SA_CREDS | SA_PROOF, "n,,n=u,r=fyko+d2lbbFgONRv9qkxdawL");
    SA1("scram512_proof_authzid", SA_S512 | SA_CREDS | SA_PROOF | SA_RAW,
        "n,a=u,n=u,r=rOprNGfwEbeRWgbNEkqO");
    SA1("scram256_proof_repeat_nonce", SA_S256 | SA_CREDS | SA_PROOF | SA_REPEAT,
        "n,,n=u,r=abcdefghijklmnop");
    SA1("scram512_proof_extension", SA_S512 | SA_CREDS | SA_PROOF,
        "y,,n=u,r=0123456789,tokenauth=false");
    sasl_seed("scram256_tampered", SA_S256 | SA_CREDS | SA_PROOF | SA_TAMPER, 200, 4,
              (const char *const[]){"n,,n=u,r=tampertamper"}, (const size_t[]){21}, 1);
    sasl_seed("scram512_tampered_nonce", SA_S512 | SA_CREDS | SA_PROOF | SA_TAMPER, 40, 2,
              (const char *const[]){"n,,n=u,r=tampertamper"}, (const size_t[]){21}, 1);
    /* SCRAM driven by the input alone. */
    SA2("scram256_guess", SA_S256 | SA_CREDS, "n,,n=u,r=guessguess",
        "c=biws,r=guessguess,p=dHJ5IGFnYWluIHRoaXMgaXMgbm90IHRoZSBwcm9vZiE=");
    SA2("scram512_bad_cbind", SA_S512 | SA_CREDS | SA_RAW, "n,,n=u,r=cb", "c=eSws,r=cb,p=AAAA");
    SA1("scram_unknown_user", SA_S256 | SA_CREDS, "n,,n=bob,r=nonce");
    SA1("scram_no_credentials", SA_S512, "n,,n=u,r=nonce");
    SA1("scram_saslname_escapes", SA_S256 | SA_CREDS, "n,,n=u=2Cx=3Dy,r=nonce");
    SA1("scram_bad_escape", SA_S256 | SA_CREDS, "n,,n=u=2X,r=nonce");
    SA1("scram_channel_binding", SA_S256 | SA_CREDS, "p=tls-server-end-point,,n=u,r=nonce");
    SA1("scram_mandatory_ext", SA_S512 | SA_CREDS, "n,,m=ext,n=u,r=nonce");
    SA1("scram_authzid_differs", SA_S256 | SA_CREDS | SA_PROOF, "n,a=v,n=u,r=nonce");
    SA1("scram_empty", SA_S256 | SA_CREDS, "");
    /* Request mode (bit 0 of the third byte): SaslHandshake, then
     * SaslAuthenticate requests (or raw tokens after SaslHandshake v0). */
    sasl_seed("req_plain_jaas_ok_then_again", SA_JAAS, 0, 1,
              (const char *const[]){"\0u\0jaas-secret-pw", "x"}, (const size_t[]){17, 1}, 2);
    sasl_seed("req_plain_wrong", SA_CREDS, 0, 1, (const char *const[]){"\0u\0wrong"},
              (const size_t[]){8}, 1);
    sasl_seed("req_scram256_proof", SA_S256 | SA_CREDS | SA_PROOF, 0, 1,
              (const char *const[]){"n,,n=u,r=requestmode"}, (const size_t[]){20}, 1);
    sasl_seed("req_scram512_proof_raw", SA_S512 | SA_CREDS | SA_PROOF | SA_RAW, 0, 1,
              (const char *const[]){"n,,n=u,r=requestmode"}, (const size_t[]){20}, 1);
    sasl_seed("req_scram512_guess", SA_S512 | SA_CREDS, 0, 1,
              (const char *const[]){"n,,n=u,r=g", "c=biws,r=g,p=AAAA"}, (const size_t[]){10, 17},
              2);
    /* One byte over KB_SASL_MAX_TOKEN (length 0xffff in the script). */
    kf_buf b;
    kf_buf_init(&b, 0);
    uint8_t h[5] = {SA_S256 | SA_CREDS, 0, 0, 0xff, 0xff};
    kf_buf_append(&b, h, 5);
    kf_buf_append(&b, "n,,n=u,r=big", 12);
    put("fuzz_sasl", "scram_token_too_large", &b);
    kf_buf_free(&b);
}

/* ---- SCRAM credential store (fuzz_creds) -------------------------------- */

static const uint8_t CREDS_MAGIC[8] = {'K', 'F', 'S', 'C', 'R', 'M', 0, 1};

/* One framed entry: u32 length, u32 CRC-32C, payload (see creds.c). */
static void cr_entry(kf_buf *f, int8_t type, const char *user, int8_t mech, int32_t iter,
                     int salt_len, int key_len) {
    kf_buf p;
    kf_buf_init(&p, 0);
    uint8_t salt[300], key[64];
    for (int i = 0; i < 300; i++)
        salt[i] = (uint8_t)(i * 13 + 1);
    for (int i = 0; i < 64; i++)
        key[i] = (uint8_t)(i ^ 0x5a);
    kf_wr_i8(&p, type);
    kf_wr_cstr(&p, 0, user);
    kf_wr_i8(&p, mech);
    kf_wr_i32(&p, iter);
    kf_wr_bytes(&p, 0, salt, salt_len);
    kf_wr_bytes(&p, 0, key, key_len);
    kf_wr_bytes(&p, 0, key, key_len);
    uint8_t h[8];
    kf_put_be32(h, (uint32_t)p.len);
    kf_put_be32(h + 4, kf_crc32c(0, p.data, p.len));
    kf_buf_append(f, h, 8);
    kf_buf_append(f, p.data, p.len);
    kf_buf_free(&p);
}

static void creds_seeds(void) {
    kf_buf f;
    kf_buf_init(&f, 0);
    kf_buf_append(&f, CREDS_MAGIC, 8);
    put("fuzz_creds", "empty", &f);
    cr_entry(&f, 1, "alice", 1, 4096, 32, 32);
    put("fuzz_creds", "one_sha256", &f);
    cr_entry(&f, 1, "alice", 2, 8192, 16, 64);
    cr_entry(&f, 1, "bob", 2, 16384, 256, 64);
    put("fuzz_creds", "two_users_both_mechs", &f);
    cr_entry(&f, 1, "alice", 1, 4096, 1, 32); /* replaces the first */
    put("fuzz_creds", "replaced_entry", &f);

    /* Refusals: each a valid prefix plus one bad entry. */
    static const struct {
        const char *name;
        int8_t type, mech;
        const char *user;
        int32_t iter;
        int salt_len, key_len;
    } bad[] = {
        {"bad_type", 2, 1, "carol", 4096, 16, 32},
        {"bad_mech", 1, 3, "carol", 4096, 16, 32},
        {"bad_iter_low", 1, 1, "carol", 4095, 16, 32},
        {"bad_iter_high", 1, 2, "carol", 16385, 16, 64},
        {"bad_key_len", 1, 2, "carol", 4096, 16, 32},
        {"bad_salt_empty", 1, 1, "carol", 4096, 0, 32},
        {"bad_salt_long", 1, 1, "carol", 4096, 257, 32},
        {"bad_user_empty", 1, 1, "", 4096, 16, 32},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kf_buf g;
        kf_buf_init(&g, 0);
        kf_buf_append(&g, CREDS_MAGIC, 8);
        cr_entry(&g, 1, "alice", 1, 4096, 32, 32);
        cr_entry(&g, bad[i].type, bad[i].user, bad[i].mech, bad[i].iter, bad[i].salt_len,
                 bad[i].key_len);
        put("fuzz_creds", bad[i].name, &g);
        kf_buf_free(&g);
    }
    kf_buf g;
    kf_buf_init(&g, 0);
    kf_buf_append(&g, f.data, f.len - 3);
    put("fuzz_creds", "truncated", &g);
    kf_buf_reset(&g);
    kf_buf_append(&g, f.data, f.len);
    g.data[20] ^= 1; /* inside the first payload: CRC mismatch */
    put("fuzz_creds", "bad_crc", &g);
    kf_buf_reset(&g);
    kf_buf_append(&g, f.data, f.len);
    g.data[7] = 2;
    put("fuzz_creds", "bad_magic", &g);
    kf_buf_free(&g);
    kf_buf_free(&f);
}

/* ---- data directory files (fuzz_store) ---------------------------------- */

/* fuzz_store's file slots (FILES[] in fuzz_store.c). */
enum {
    ST_LOG0 = 0,
    ST_LOG100 = 3,
    ST_RP = 6,
    ST_LS = 7,
    ST_TOPIC = 8,
    ST_BROKER = 9,
    ST_CLEAN = 11,
    ST_TXNIDX0 = 13,
    ST_TXNJOURNAL = 15
};

static void st_file(kf_buf *out, int slot, const void *p, size_t n) {
    uint8_t h[3] = {(uint8_t)slot, (uint8_t)(n >> 8), (uint8_t)n};
    kf_buf_append(out, h, 3);
    kf_buf_append(out, p, n);
}

/* Batches of 3 records at base offsets base, base+3, ... as a segment
 * holds them (BaseOffset is outside the CRC). */
static void st_segment(kf_buf *seg, int64_t base, int nbatches, int codec) {
    for (int i = 0; i < nbatches; i++) {
        kf_buf b;
        kf_buf_init(&b, 0);
        make_batch(codec, 0, 3, i % 2, &b);
        int64_t off = base + 3 * i;
        for (int k = 0; k < 8; k++)
            b.data[k] = (uint8_t)((uint64_t)off >> (56 - 8 * k));
        kf_buf_append(seg, b.data, b.len);
        kf_buf_free(&b);
    }
}

static void store_seeds(void) {
    kf_buf seg, seg2, in;
    kf_buf_init(&seg, 0);
    kf_buf_init(&seg2, 0);
    st_segment(&seg, 0, 4, KF_CODEC_NONE);
    st_segment(&seg2, 100, 2, KF_CODEC_LZ4);

    kf_buf_init(&in, 0); /* unclean: full recovery of one segment */
    st_file(&in, ST_LOG0, seg.data, seg.len);
    put("fuzz_store", "one_segment_unclean", &in);

    kf_buf_reset(&in); /* the last batch torn by a crash */
    st_file(&in, ST_LOG0, seg.data, seg.len - 20);
    put("fuzz_store", "torn_tail", &in);

    kf_buf_reset(&in); /* clean shutdown, checkpoints, two segments */
    static const char rp[] = "0\n1\nt 0 106\n", ls[] = "0\n1\nt 0 3\n";
    st_file(&in, ST_LOG0, seg.data, seg.len);
    st_file(&in, ST_LOG100, seg2.data, seg2.len);
    st_file(&in, ST_RP, rp, sizeof(rp) - 1);
    st_file(&in, ST_LS, ls, sizeof(ls) - 1);
    st_file(&in, ST_CLEAN, "", 0);
    put("fuzz_store", "two_segments_clean", &in);

    kf_buf_reset(&in); /* recovery from a recovery point inside segment 2 */
    static const char rp2[] = "0\n1\nt 0 103\n";
    st_file(&in, ST_LOG0, seg.data, seg.len);
    st_file(&in, ST_LOG100, seg2.data, seg2.len);
    st_file(&in, ST_RP, rp2, sizeof(rp2) - 1);
    put("fuzz_store", "two_segments_recovery_point", &in);

    kf_buf_reset(&in); /* topic overrides and broker state */
    static const char topic[] = "name=t\nid=0123456789abcdef0123456789abcdef\npartitions=1\n"
                                "config.retention.ms=-1\nconfig.segment.bytes=4096\n";
    static const char broker[] = "cluster.id=kferry-fuzz-cluster-id\nnext.producer.id=2000\n";
    st_file(&in, ST_TOPIC, topic, sizeof(topic) - 1);
    st_file(&in, ST_BROKER, broker, sizeof(broker) - 1);
    st_file(&in, ST_LOG0, seg.data, seg.len);
    put("fuzz_store", "topic_and_broker_properties", &in);

    /* Transactions: producer 7 epoch 0 commits offsets 0-2 (marker at 3),
     * aborts 4-6 (marker at 7; the .txnindex records [4, 7]), then leaves
     * 8-10 open.  The journal says txn1 (producer 7) is Ongoing on t-0
     * with first offset 8; a second journal seed says PrepareAbort, which
     * the broker must complete at open by writing the abort marker. */
    kf_buf_reset(&in);
    kf_buf_reset(&seg);
    static const int64_t bases[] = {0, 3, 4, 7, 8};
    for (int i = 0; i < 5; i++) {
        kf_buf bt;
        kf_buf_init(&bt, 0);
        if (i == 1 || i == 3)
            make_marker(7, 0, i == 1, &bt);
        else
            make_txn_batch(i == 2 ? KF_CODEC_ZSTD : KF_CODEC_NONE, 7, 0,
                           i == 0   ? 0
                           : i == 2 ? 3
                                    : 6,
                           3, &bt);
        for (int k = 0; k < 8; k++)
            bt.data[k] = (uint8_t)((uint64_t)bases[i] >> (56 - 8 * k));
        kf_buf_append(&seg, bt.data, bt.len);
        kf_buf_free(&bt);
    }
    uint8_t ent[34];
    static const int64_t idx[4] = {7, 4, 7, 0}; /* pid, first, last, lso */
    ent[0] = ent[1] = 0;
    for (int f = 0; f < 4; f++)
        for (int k = 0; k < 8; k++)
            ent[2 + 8 * f + k] = (uint8_t)((uint64_t)idx[f] >> (56 - 8 * k));
    st_file(&in, ST_LOG0, seg.data, seg.len);
    st_file(&in, ST_TXNIDX0, ent, sizeof(ent));
    put("fuzz_store", "txn_segment_txnindex", &in);

    for (int state = 1; state <= 3; state += 2) { /* Ongoing, PrepareAbort */
        kf_buf j, e;
        kf_buf_init(&j, 0);
        kf_buf_init(&e, 0);
        kf_buf_append(&j, "KFTXN\0\0\1", 8);
        kf_wr_i8(&e, 1); /* a transaction's state */
        kf_wr_cstr(&e, 0, "txn1");
        kf_wr_i64(&e, 7);
        kf_wr_i16(&e, 0);
        kf_wr_i32(&e, 60000);
        kf_wr_i8(&e, (int8_t)state);
        kf_wr_i64(&e, 1700000000000LL);
        kf_wr_i64(&e, 1700000000500LL);
        kf_wr_i32(&e, 1);
        kf_wr_cstr(&e, 0, "t");
        kf_wr_i32(&e, 0);
        kf_wr_i32(&e, 1);
        kf_wr_cstr(&e, 0, "g1");
        kf_wr_i32(&e, 1);
        kf_wr_cstr(&e, 0, "g1");
        kf_wr_cstr(&e, 0, "t");
        kf_wr_i32(&e, 0);
        kf_wr_i64(&e, 3);
        kf_wr_i32(&e, -1);
        kf_wr_str(&e, 0, NULL, -1);
        kf_wr_i32(&j, (int32_t)e.len);
        kf_wr_i32(&j, (int32_t)kf_crc32c(0, e.data, e.len));
        kf_buf_append(&j, e.data, e.len);
        kf_buf_reset(&in);
        st_file(&in, ST_LOG0, seg.data, seg.len);
        st_file(&in, ST_TXNIDX0, ent, sizeof(ent));
        st_file(&in, ST_TXNJOURNAL, j.data, j.len);
        put("fuzz_store", state == 1 ? "txn_journal_ongoing" : "txn_journal_prepare_abort", &in);
        kf_buf_free(&j);
        kf_buf_free(&e);
    }

    kf_buf_free(&in);
    kf_buf_free(&seg);
    kf_buf_free(&seg2);
}

/* ---- compacted partitions (fuzz_cleaner) ----------------------------------- */

/* fuzz_cleaner's input: [u8 flags] then [u8 batch][u8 nrec-1] and nrec
 * [u8 key][u8 tombstone bit | value length << 1] (see fuzz_cleaner.c). */
static void cleaner_seed(const char *name, uint8_t flags, int nbatches, int per_batch, int nkeys,
                         int tomb_every) {
    kf_buf in;
    kf_buf_init(&in, 0);
    kf_wr_i8(&in, (int8_t)flags);
    int r = 0;
    for (int bt = 0; bt < nbatches; bt++) {
        int codec = bt % 5;
        int idem = bt % 3 == 0 ? 8 | ((bt % 2) << 4) : 0;
        kf_wr_i8(&in, (int8_t)(codec | idem));
        kf_wr_i8(&in, (int8_t)(per_batch - 1));
        for (int i = 0; i < per_batch; i++, r++) {
            int tomb = tomb_every && r % tomb_every == tomb_every - 1;
            kf_wr_i8(&in, (int8_t)(r % nkeys));
            kf_wr_i8(&in, (int8_t)(tomb ? 1 : (20 + r % 40) << 1));
        }
    }
    put("fuzz_cleaner", name, &in);
    kf_buf_free(&in);
}

/* Each within the harness's 256-byte input (MAXIN in fuzz_cleaner.c). */
static void cleaner_seeds(void) {
    cleaner_seed("few_keys_clean_stop", 0x00, 18, 6, 4, 0);
    cleaner_seed("tombstones_unclean_stop", 0x01, 14, 8, 10, 5);
    cleaner_seed("tombstones_removed", 0x02, 25, 4, 6, 3);
    cleaner_seed("big_segments_many_keys", 0x0d, 7, 16, 24, 7);
}

/* ---- properties files (fuzz_props) --------------------------------------- */

static void put_text(const char *harness, const char *name, const char *text) {
    kf_buf b;
    kf_buf_init(&b, 0);
    kf_buf_append(&b, text, strlen(text));
    put(harness, name, &b);
    kf_buf_free(&b);
}

static void props_seeds(void) {
    put_text("fuzz_props", "broker_config",
             "# kferry-broker\nnode.id=1\nlog.dirs=/var/lib/kferry\nnum.partitions=3\n"
             "log.retention.hours=168\nlog.segment.bytes=1073741824\n"
             "group.initial.rebalance.delay.ms : 0\nauto.create.topics.enable false\n"
             "message.max.bytes=1048588\nlog.flush.interval.messages=10000\n");
    put_text("fuzz_props", "escapes",
             "! comment\nkey\\ with\\ spaces=v\\u00e9\\t\\n\nlong=first \\\n    second\n"
             "sep\\:colon:value\\\\\nempty=\n\\#hash=\\ lead\n");
}

/* ---- offset-map records (fuzz_offmap) ------------------------------------ */

static void om_rec(kf_buf *b, const char *k, const char *v) {
    uint8_t kl = (uint8_t)strlen(k), vl = v ? (uint8_t)strlen(v) : 255;
    kf_buf_append(b, &kl, 1);
    kf_buf_append(b, k, kl);
    kf_buf_append(b, &vl, 1);
    if (v)
        kf_buf_append(b, v, vl);
}

static void offmap_seeds(void) {
    kf_buf b;
    kf_buf_init(&b, 0);
    om_rec(&b, "B orders dst.orders 0", "40");
    om_rec(&b, "R orders dst.orders 0 100", "40 50");
    om_rec(&b, "G orders dst.orders 0 150", "200");
    om_rec(&b, "R orders dst.orders 0 200", "90 10");
    om_rec(&b, "L orders dst.orders 0 210", "215 -1");
    om_rec(&b, "E orders dst.orders 0", "230");
    om_rec(&b, "R other other 3 0", "0 1000");
    put("fuzz_offmap", "runs_gaps_skips", &b);
    kf_buf_reset(&b);
    om_rec(&b, "R a b 0 0", "0 10");
    om_rec(&b, "R a b 0 0", "0 5"); /* a later record for the same key wins */
    om_rec(&b, "X not a map record", "1");
    om_rec(&b, "R a b 0 5", NULL);
    put("fuzz_offmap", "overwrite_and_junk", &b);
    kf_buf_free(&b);
}

/* ---- ssl.principal.mapping.rules (fuzz_principal_map) ---------------------- */

/* rules, a NUL, then the distinguished name */
static void pmap_seed(const char *name, const char *rules, const char *dn) {
    kf_buf b;
    kf_buf_init(&b, 0);
    kf_buf_append(&b, rules, strlen(rules) + 1);
    kf_buf_append(&b, dn, strlen(dn));
    put("fuzz_principal_map", name, &b);
    kf_buf_free(&b);
}

static void pmap_seeds(void) {
    const char *kafka = "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,"
                        "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,"
                        "RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L,DEFAULT";
    pmap_seed("kafka_service_user", kafka, "CN=kafka-client,OU=ServiceUsers,O=Acme,L=X,ST=Y,C=US");
    pmap_seed("kafka_full_dn", kafka,
              "CN=Duke,OU=JavaSoft,O=Sun Microsystems,L=Cupertino,ST=CA,C=US");
    pmap_seed("kafka_no_cn", kafka, "OU=eng,O=kferry,C=DE");
    pmap_seed("escapes_named_groups",
              " RULE:^CN=(?<u>[^,]*),OU=a\\/b,(.*)$/${u}\\/$2\\$$0/U , ,DEFAULT",
              "CN=svc,OU=a/b,O=x");
    pmap_seed("replace_all_empty", "RULE:.*?/[$0]/L", "CN=\xc3\xa9mile,O=x");
}

/* ---- ACL store images and ACL requests (fuzz_acl) ------------------------ */

typedef struct seed_acl {
    int8_t res;
    const char *name;
    int8_t pat;
    const char *principal, *host;
    int8_t op, perm;
} seed_acl;

static const seed_acl SEED_ACLS[] = {
    {2, "orders", 3, "User:alice", "*", 3, 3},
    {2, "app.", 4, "User:*", "10.0.0.1", 2, 2},
    {4, "kafka-cluster", 3, "User:nobody", "*", 7, 3},
    {3, "g", 3, "User:bob", "*", 8, 3},
    {5, "tx", 4, "User:bob", "*", 4, 3},
};

/* One kferry-meta/acls entry (layout in docs/STORAGE.md). */
static void acl_entry(kf_buf *b, const seed_acl *a) {
    kf_buf p;
    kf_buf_init(&p, 0);
    kf_wr_i8(&p, 1);
    kf_wr_i8(&p, a->res);
    kf_wr_cstr(&p, 0, a->name);
    kf_wr_i8(&p, a->pat);
    kf_wr_cstr(&p, 0, a->principal);
    kf_wr_cstr(&p, 0, a->host);
    kf_wr_i8(&p, a->op);
    kf_wr_i8(&p, a->perm);
    kf_wr_i32(b, (int32_t)p.len);
    kf_wr_i32(b, (int32_t)kf_crc32c(0, p.data, p.len));
    kf_buf_append(b, p.data, p.len);
    kf_buf_free(&p);
}

static void acl_creations(kf_buf *b, int flex, const seed_acl *a, int n) {
    kf_wr_arr(b, flex, n);
    for (int i = 0; i < n; i++) {
        kf_wr_i8(b, a[i].res);
        kf_wr_cstr(b, flex, a[i].name);
        kf_wr_i8(b, a[i].pat);
        kf_wr_cstr(b, flex, a[i].principal);
        kf_wr_cstr(b, flex, a[i].host);
        kf_wr_i8(b, a[i].op);
        kf_wr_i8(b, a[i].perm);
        kf_wr_tags(b, flex);
    }
    kf_wr_tags(b, flex);
}

static void acl_filter(kf_buf *b, int flex, int8_t res, const char *name, int8_t pat,
                       const char *principal) {
    kf_wr_i8(b, res);
    kf_wr_cstr(b, flex, name);
    kf_wr_i8(b, pat);
    kf_wr_cstr(b, flex, principal);
    kf_wr_cstr(b, flex, NULL);
    kf_wr_i8(b, 1); /* operation ANY */
    kf_wr_i8(b, 1); /* permission ANY */
    kf_wr_tags(b, flex);
}

/* [u8 api (0 describe, 1 create, 2 delete; +0x80: a non-super user)][u8
 * version - 1][u16 length][body], as fuzz_acl.c reads it. */
static void acl_req(kf_buf *out, int api, int nobody, int16_t ver, const kf_buf *body) {
    uint8_t h[4] = {(uint8_t)(api | (nobody ? 0x80 : 0)), (uint8_t)(ver - 1),
                    (uint8_t)(body->len >> 8), (uint8_t)body->len};
    kf_buf_append(out, h, sizeof(h));
    kf_buf_append(out, body->data, body->len);
}

static void acl_seeds(void) {
    static const uint8_t magic[8] = {'K', 'F', 'A', 'C', 'L', 'S', 0, 1};
    static const uint8_t file_mode = 0, req_mode = 1;
    kf_buf b, body;
    kf_buf_init(&b, 0);
    kf_buf_init(&body, 0);
    kf_buf_append(&b, &file_mode, 1);
    kf_buf_append(&b, magic, sizeof(magic));
    put("fuzz_acl", "file-empty", &b);
    for (size_t i = 0; i < sizeof(SEED_ACLS) / sizeof(SEED_ACLS[0]); i++)
        acl_entry(&b, &SEED_ACLS[i]);
    put("fuzz_acl", "file-five-bindings", &b);

    /* Create all (v1), describe all (v2), delete what applies to topic
     * "orders" (MATCH, v3), describe a prefixed match (v1). */
    kf_buf_reset(&b);
    kf_buf_append(&b, &req_mode, 1);
    acl_creations(&body, 0, SEED_ACLS, 5);
    acl_req(&b, 1, 0, 1, &body);
    kf_buf_reset(&body);
    acl_filter(&body, 1, 1, NULL, 1, NULL);
    acl_req(&b, 0, 0, 2, &body);
    kf_buf_reset(&body);
    kf_wr_arr(&body, 1, 1);
    acl_filter(&body, 1, 2, "orders", 2, NULL);
    kf_wr_tags(&body, 1);
    acl_req(&b, 2, 0, 3, &body);
    kf_buf_reset(&body);
    acl_filter(&body, 0, 2, "app.x", 2, NULL);
    acl_req(&b, 0, 0, 1, &body);
    put("fuzz_acl", "requests-create-describe-delete", &b);

    /* The super user lets User:nobody alter ACLs, which then adds and
     * deletes some itself; then invalid creations (unknown cluster name,
     * UNKNOWN resource type, empty name and bad principal). */
    static const seed_acl invalid[] = {
        {4, "other", 3, "User:x", "*", 7, 3},
        {0, "t", 3, "User:x", "*", 3, 3},
        {2, "", 3, "x", "*", 1, 0},
    };
    kf_buf_reset(&b);
    kf_buf_reset(&body);
    kf_buf_append(&b, &req_mode, 1);
    acl_creations(&body, 1, &SEED_ACLS[2], 1);
    acl_req(&b, 1, 0, 2, &body);
    kf_buf_reset(&body);
    acl_creations(&body, 1, SEED_ACLS, 2);
    acl_req(&b, 1, 1, 2, &body);
    kf_buf_reset(&body);
    kf_wr_arr(&body, 0, 1);
    acl_filter(&body, 0, 1, NULL, 1, "User:alice");
    acl_req(&b, 2, 1, 1, &body);
    kf_buf_reset(&body);
    acl_creations(&body, 1, invalid, 3);
    acl_req(&b, 1, 0, 3, &body);
    put("fuzz_acl", "requests-nobody-invalid", &b);
    kf_buf_free(&b);
    kf_buf_free(&body);
}

/* ---- MSK IAM tokens (fuzz_msk_token) -------------------------------------- */

static void msk_token_one(const char *name, const char *region, const char *akid,
                          const char *secret, const char *session, int64_t t, int framed) {
    kf_aws_creds c;
    memset(&c, 0, sizeof(c));
    kf_strlcpy(c.access_key, akid, sizeof(c.access_key));
    kf_strlcpy(c.secret_key, secret, sizeof(c.secret_key));
    kf_strlcpy(c.session_token, session, sizeof(c.session_token));
    kf_buf tok, b;
    kf_buf_init(&tok, 0);
    kf_buf_init(&b, 0);
    int64_t exp;
    if (kf_msk_token(region, &c, t, "kferry-seed/1.0", &tok, &exp) != 0) {
        failures++;
        return;
    }
    uint8_t mode = 0;
    kf_buf_append(&b, &mode, 1);
    if (framed)
        kf_buf_append(&b, "n,,\001auth=Bearer ", 16);
    kf_buf_append(&b, tok.data, tok.len);
    if (framed)
        kf_buf_append(&b, "\001\001", 2);
    put("fuzz_msk_token", name, &b);
    kf_buf_free(&tok);
    kf_buf_free(&b);
}

static void msk_token_seeds(void) {
    /* The harness's keys and time (NOW = 1796000000), see fuzz_msk_token.c. */
    msk_token_one("valid_framed", "eu-west-1", "AKIAFUZZALICE0000001", "alice/secret+key", "",
                  1796000000 - 60, 1);
    msk_token_one("valid_bare", "eu-west-1", "AKIAFUZZBOB000000003", "bob-secret", "", 1796000000,
                  0);
    msk_token_one("session_token", "eu-west-1", "ASIAFUZZTEMP00000002", "temp-secret",
                  "IQoJsession/token+==", 1796000000 - 10, 1);
    msk_token_one("expired", "eu-west-1", "AKIAFUZZALICE0000001", "alice/secret+key", "",
                  1796000000 - 1000, 1);
    msk_token_one("other_region", "us-east-1", "AKIAFUZZALICE0000001", "alice/secret+key", "",
                  1796000000, 1);
    /* Build mode: [1][i16 offset][key][region][u16 tamper pos][xor][user agent]. */
    static const uint8_t build[][12] = {
        {1, 0, 0, 0, 0, 0, 0, 0, 'u', 'a', '/', '1'},      /* valid, untampered */
        {1, 0xff, 0x00, 1, 0, 0, 40, 1, 'u', 'a', 0, 0},   /* tampered at 40 */
        {1, 0x01, 0x40, 2, 0, 0, 200, 0x20, 'x', 0, 0, 0}, /* future */
        {1, 0xfc, 0x00, 3, 0, 0, 0, 0, 0, 0, 0, 0},        /* expired, unknown key */
        {1, 0, 0, 0, 1, 1, 0, 2, 'k', 'f', 0, 0},          /* other region, tampered */
    };
    for (size_t i = 0; i < sizeof(build) / sizeof(build[0]); i++) {
        kf_buf b;
        kf_buf_init(&b, 0);
        kf_buf_append(&b, build[i], sizeof(build[i]));
        char name[32];
        snprintf(name, sizeof(name), "build_%zu", i);
        put("fuzz_msk_token", name, &b);
        kf_buf_free(&b);
    }
    /* Only padding: decodes to nothing (a null pointer once reached memchr). */
    {
        kf_buf b;
        kf_buf_init(&b, 0);
        kf_buf_append(&b, "\000=", 2);
        put("fuzz_msk_token", "padding_only", &b);
        kf_buf_free(&b);
    }
    put_text("fuzz_msk_token", "creds_file",
             "\002# mode 2: a credentials file\n[alice]\naws_access_key_id = AKIAX1\n"
             "aws_secret_access_key = s1\nprincipal = arn:aws:iam::1:user/alice\n\n[temp]\n"
             "aws_access_key_id=ASIAX2\naws_secret_access_key=s2\naws_session_token=tok\n"
             "region = eu-west-1\n[only-region]\nregion = us-east-1\n");
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR   (e.g. tests/fuzz/corpus)\n", argv[0]);
        return 2;
    }
    root = argv[1];
    if (mkdir(root, 0755) != 0 && errno != EEXIST) {
        perror(root);
        return 1;
    }
    batch_seeds();
    compress_seeds();
    wire_seeds();
    req_seeds();
    scram_req_seeds();
    sasl_seeds();
    creds_seeds();
    store_seeds();
    props_seeds();
    offmap_seeds();
    cleaner_seeds();
    pmap_seeds();
    acl_seeds();
    msk_token_seeds();
    return failures ? 1 : 0;
}
