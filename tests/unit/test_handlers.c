/*
 * test_handlers.c - drives the data-path and admin handlers (Produce,
 * InitProducerId, Fetch, ListOffsets, CreateTopics, DeleteTopics,
 * CreatePartitions, DeleteRecords, Describe/AlterConfigs) directly against a
 * broker opened on a temporary directory, checking the encoded responses
 * field by field, plus truncated and random requests for robustness.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/handlers.h"
#include "broker/pidstate.h"
#include "broker/store.h"
#include "broker/txn.h"
#include "common/log.h"
#include "common/util.h"
#include "proto/batch.h"
#include "proto/compress.h"

/* ---- fixture ----------------------------------------------------------- */

typedef struct fx {
    kb_broker b;
    char dir[256];
} fx;

static int setup(void **state) {
    fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/kb-test-handlers-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    kb_config_defaults(&f->b.cfg);
    kf_strlcpy(f->b.cfg.data_dir, f->dir, sizeof(f->b.cfg.data_dir));
    char err[512];
    if (kb_broker_open(&f->b, err, sizeof(err)) != 0)
        fail_msg("kb_broker_open: %s", err);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx *f = *state;
    kb_broker_close(&f->b);
    kb_config_free(&f->b.cfg);
    kf_rmtree(f->dir);
    free(f);
    return 0;
}

/* ---- request plumbing ---------------------------------------------------- */

/* Runs a handler on body (copied into an owned, writable frame, as the
 * server does). out receives the response body. */
static int call(kb_broker *b, kb_handler_fn h, int16_t key, int16_t ver, int flex,
                const kf_buf *body, kf_buf *out, kb_req *keep) {
    kb_req r = {0};
    r.api_key = key;
    r.api_version = ver;
    r.flex = flex;
    r.frame = malloc(body->len + 1);
    if (body->len)
        memcpy(r.frame, body->data, body->len);
    r.frame_len = body->len;
    r.arrived_ms = kf_now_ms();
    r.peer = "test";
    kf_buf_reset(out);
    int rc = h(b, &r, out);
    if (keep && rc == KB_PARK) {
        *keep = r; /* caller re-runs and frees */
        return rc;
    }
    if (r.park_free && r.park_state)
        r.park_free(r.park_state);
    free(r.frame);
    return rc;
}

static void req_free(kb_req *r) {
    if (r->park_free && r->park_state)
        r->park_free(r->park_state);
    free(r->frame);
}

static void make_batch(kf_buf *out, int n, int64_t ts, int codec, int64_t pid, int16_t epoch,
                       int32_t seq) {
    kf_batch_builder bb;
    kf_batch_builder_init(&bb, codec);
    bb.producer_id = pid;
    bb.producer_epoch = epoch;
    bb.base_sequence = seq;
    for (int i = 0; i < n; i++) {
        char v[64];
        int len = snprintf(v, sizeof(v), "value-%d", i);
        assert_int_equal(kf_batch_builder_add(&bb, ts + i, "k", 1, v, len, NULL, 0), 0);
    }
    kf_buf_reset(out);
    assert_int_equal(kf_batch_builder_finish(&bb, out), 0);
    kf_batch_builder_free(&bb);
}

static void create_topic(kb_broker *b, const char *name, int32_t parts) {
    kb_topic *t = NULL;
    char err[256];
    assert_int_equal(kb_store_create(b->store, name, parts, NULL, &t, err, sizeof(err)), 0);
    assert_non_null(t);
}

typedef struct pres {
    int16_t err;
    int64_t base;
    int64_t log_append_time;
    int64_t log_start;
} pres;

/* Produce v7 (or ver) of one batch to one partition; returns KB_* and the
 * partition's result. */
static int produce(kb_broker *b, int16_t ver, int16_t acks, const char *topic, int32_t part,
                   const kf_buf *batch, pres *res) {
    kf_buf body, out;
    kf_buf_init(&body, 0);
    kf_buf_init(&out, 0);
    kf_wr_str(&body, 0, NULL, -1);
    kf_wr_i16(&body, acks);
    kf_wr_i32(&body, 1000);
    kf_wr_arr(&body, 0, 1);
    kf_wr_cstr(&body, 0, topic);
    kf_wr_arr(&body, 0, 1);
    kf_wr_i32(&body, part);
    kf_wr_bytes(&body, 0, batch ? batch->data : NULL, batch ? (int32_t)batch->len : -1);
    int rc = call(b, kb_h_produce, KF_API_PRODUCE, ver, 0, &body, &out, NULL);
    if (rc == KB_OK) {
        kf_rd rd;
        kf_rd_init(&rd, out.data, out.len);
        assert_int_equal(kf_rd_arr(&rd, 0, 1), 1);
        const char *s;
        assert_int_equal(kf_rd_str(&rd, 0, &s), (int32_t)strlen(topic));
        assert_int_equal(kf_rd_arr(&rd, 0, 1), 1);
        assert_int_equal(kf_rd_i32(&rd), part);
        res->err = kf_rd_i16(&rd);
        res->base = kf_rd_i64(&rd);
        res->log_append_time = kf_rd_i64(&rd);
        res->log_start = ver >= 5 ? kf_rd_i64(&rd) : -1;
        assert_int_equal(kf_rd_i32(&rd), 0); /* throttle */
        assert_true(kf_rd_ok(&rd));
        assert_int_equal(kf_rd_left(&rd), 0);
    }
    kf_buf_free(&body);
    kf_buf_free(&out);
    return rc;
}

static void fetch_body(kf_buf *body, int16_t ver, int32_t max_wait, int32_t min_bytes,
                       int32_t max_bytes, const char *topic, int nparts, const int32_t *parts,
                       const int64_t *offsets, int32_t pmax) {
    kf_buf_reset(body);
    kf_wr_i32(body, -1);
    kf_wr_i32(body, max_wait);
    kf_wr_i32(body, min_bytes);
    kf_wr_i32(body, max_bytes);
    kf_wr_i8(body, 1); /* read_committed, as librdkafka */
    if (ver >= 7) {
        kf_wr_i32(body, 0);
        kf_wr_i32(body, -1);
    }
    kf_wr_arr(body, 0, 1);
    kf_wr_cstr(body, 0, topic);
    kf_wr_arr(body, 0, nparts);
    for (int i = 0; i < nparts; i++) {
        kf_wr_i32(body, parts[i]);
        if (ver >= 9)
            kf_wr_i32(body, -1);
        kf_wr_i64(body, offsets[i]);
        if (ver >= 5)
            kf_wr_i64(body, -1);
        kf_wr_i32(body, pmax);
    }
    if (ver >= 7)
        kf_wr_arr(body, 0, 0);
    if (ver >= 11)
        kf_wr_cstr(body, 0, "");
}

typedef struct fres {
    int16_t err;
    int64_t hw, lso, log_start;
    const uint8_t *records;
    int32_t records_len;
} fres;

/* Parses a one-topic fetch response into res[0..n). */
static void parse_fetch(const kf_buf *out, int16_t ver, int n, fres *res) {
    kf_rd rd;
    kf_rd_init(&rd, out->data, out->len);
    assert_int_equal(kf_rd_i32(&rd), 0);
    if (ver >= 7) {
        assert_int_equal(kf_rd_i16(&rd), 0);
        assert_int_equal(kf_rd_i32(&rd), 0);
    }
    assert_int_equal(kf_rd_arr(&rd, 0, 1), 1);
    const char *s;
    (void)kf_rd_str(&rd, 0, &s);
    assert_int_equal(kf_rd_arr(&rd, 0, 1), n);
    for (int i = 0; i < n; i++) {
        (void)kf_rd_i32(&rd);
        res[i].err = kf_rd_i16(&rd);
        res[i].hw = kf_rd_i64(&rd);
        res[i].lso = kf_rd_i64(&rd);
        res[i].log_start = ver >= 5 ? kf_rd_i64(&rd) : -1;
        int32_t na = kf_rd_arr(&rd, 0, 16);
        assert_true(na <= 0);
        if (ver >= 11)
            assert_int_equal(kf_rd_i32(&rd), -1);
        res[i].records_len = kf_rd_bytes(&rd, 0, &res[i].records);
    }
    assert_true(kf_rd_ok(&rd));
    assert_int_equal(kf_rd_left(&rd), 0);
}

/* Counts batches in a records blob and collects their base offsets. */
static int batches(const uint8_t *p, int32_t len, int64_t *bases, int max) {
    int n = 0;
    size_t off = 0;
    while (len > 0 && off + KF_BATCH_HDR_SIZE <= (size_t)len) {
        kf_batch_hdr h;
        assert_int_equal(kf_batch_parse_hdr(p + off, (size_t)len - off, &h), 0);
        assert_true(off + kf_batch_size(&h) <= (size_t)len);
        assert_true(kf_batch_crc_ok(p + off, kf_batch_size(&h)));
        if (n < max)
            bases[n] = h.base_offset;
        n++;
        off += kf_batch_size(&h);
    }
    assert_int_equal(off, (size_t)(len > 0 ? len : 0));
    return n;
}

/* ---- Produce / Fetch ----------------------------------------------------- */

static void test_produce_fetch_roundtrip(void **state) {
    fx *f = *state;
    kb_broker *b = &f->b;
    create_topic(b, "t1", 1);
    kf_buf batch;
    kf_buf_init(&batch, 0);
    static const int codecs[] = {KF_CODEC_NONE, KF_CODEC_GZIP, KF_CODEC_SNAPPY, KF_CODEC_LZ4,
                                 KF_CODEC_ZSTD};
    int64_t expect = 0;
    for (size_t i = 0; i < 5; i++) {
        make_batch(&batch, 3, 1000, codecs[i], -1, -1, -1);
        pres res;
        assert_int_equal(produce(b, (int16_t)(3 + i), -1, "t1", 0, &batch, &res), KB_OK);
        assert_int_equal(res.err, 0);
        assert_int_equal(res.base, expect);
        assert_int_equal(res.log_append_time, -1);
        if (3 + i >= 5)
            assert_int_equal(res.log_start, 0);
        expect += 3;
    }
    kf_buf body, out;
    kf_buf_init(&body, 0);
    kf_buf_init(&out, 0);
    for (int16_t ver = 4; ver <= 11; ver++) {
        int32_t part = 0;
        int64_t off = 0;
        fetch_body(&body, ver, 500, 1, 1 << 20, "t1", 1, &part, &off, 1 << 20);
        assert_int_equal(call(b, kb_h_fetch, KF_API_FETCH, ver, 0, &body, &out, NULL), KB_OK);
        fres fr;
        parse_fetch(&out, ver, 1, &fr);
        assert_int_equal(fr.err, 0);
        assert_int_equal(fr.hw, 15);
        assert_int_equal(fr.lso, 15);
        int64_t bases[8];
        assert_int_equal(batches(fr.records, fr.records_len, bases, 8), 5);
        for (int i = 0; i < 5; i++)
            assert_int_equal(bases[i], 3 * i);
    }
    /* From the middle: the containing batch is returned. */
    int32_t part = 0;
    int64_t off = 7;
    fetch_body(&body, 11, 0, 1, 1 << 20, "t1", 1, &part, &off, 1 << 20);
    assert_int_equal(call(b, kb_h_fetch, KF_API_FETCH, 11, 0, &body, &out, NULL), KB_OK);
    fres fr;
    parse_fetch(&out, 11, 1, &fr);
    int64_t bases[8];
    assert_int_equal(batches(fr.records, fr.records_len, bases, 8), 3);
    assert_int_equal(bases[0], 6);
    /* Out of range and unknown partition. */
    off = 16;
    fetch_body(&body, 11, 0, 1, 1 << 20, "t1", 1, &part, &off, 1 << 20);
    assert_int_equal(call(b, kb_h_fetch, KF_API_FETCH, 11, 0, &body, &out, NULL), KB_OK);
    parse_fetch(&out, 11, 1, &fr);
    assert_int_equal(fr.err, KF_ERR_OFFSET_OUT_OF_RANGE);
    assert_int_equal(fr.hw, 15);
    assert_int_equal(fr.log_start, 0);
    assert_int_equal(fr.records_len, 0);
    part = 5;
    off = 0;
    fetch_body(&body, 11, 0, 1, 1 << 20, "t1", 1, &part, &off, 1 << 20);
    assert_int_equal(call(b, kb_h_fetch, KF_API_FETCH, 11, 0, &body, &out, NULL), KB_OK);
    parse_fetch(&out, 11, 1, &fr);
    assert_int_equal(fr.err, KF_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    kf_buf_free(&body);
    kf_buf_free(&out);
    kf_buf_free(&batch);
}

static void test_produce_errors(void **state) {
    fx *f = *state;
    kb_broker *b = &f->b;
    create_topic(b, "t2", 1);
    kf_buf batch;
    kf_buf_init(&batch, 0);
    make_batch(&batch, 2, 1000, KF_CODEC_NONE, -1, -1, -1);
    pres res;
    assert_int_equal(produce(b, 7, -1, "nope", 0, &batch, &res), KB_OK);
    assert_int_equal(res.err, KF_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    assert_int_equal(res.base, -1);
    assert_int_equal(produce(b, 7, -1, "t2", 1, &batch, &res), KB_OK);
    assert_int_equal(res.err, KF_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    assert_int_equal(produce(b, 7, 2, "t2", 0, &batch, &res), KB_OK);
    assert_int_equal(res.err, KF_ERR_INVALID_REQUIRED_ACKS);
    /* Corrupt CRC. */
    batch.data[batch.len - 1] ^= 0xff;
    assert_int_equal(produce(b, 7, 1, "t2", 0, &batch, &res), KB_OK);
    assert_int_equal(res.err, KF_ERR_CORRUPT_MESSAGE);
    batch.data[batch.len - 1] ^= 0xff;
    /* Null records. */
    assert_int_equal(produce(b, 7, 1, "t2", 0, NULL, &res), KB_OK);
    assert_int_not_equal(res.err, 0);
    /* Too large for the topic's max.message.bytes. */
    kb_topic *t = kb_store_find(b->store, "t2", 2);
    int32_t saved = t->cfg.max_message_bytes;
    t->cfg.max_message_bytes = (int32_t)batch.len - 1;
    assert_int_equal(produce(b, 7, 1, "t2", 0, &batch, &res), KB_OK);
    assert_int_equal(res.err, KF_ERR_MESSAGE_TOO_LARGE);
    t->cfg.max_message_bytes = saved;
    /* Transactional batches of a producer with no ongoing transaction are refused. */
    kf_batch_builder bb;
    kf_batch_builder_init(&bb, KF_CODEC_NONE);
    bb.producer_id = 5;
    bb.producer_epoch = 0;
    bb.base_sequence = 0;
    bb.extra_attributes = KF_BATCH_ATTR_TRANSACTIONAL;
    assert_int_equal(kf_batch_builder_add(&bb, 1, NULL, -1, "v", 1, NULL, 0), 0);
    kf_buf_reset(&batch);
    assert_int_equal(kf_batch_builder_finish(&bb, &batch), 0);
    kf_batch_builder_free(&bb);
    assert_int_equal(produce(b, 7, 1, "t2", 0, &batch, &res), KB_OK);
    assert_int_equal(res.err, KF_ERR_INVALID_TXN_STATE);
    /* Nothing was appended. */
    assert_int_equal(kb_part_log_end(t->parts[0]), 0);
    /* acks=0: appended, no response; an error closes the connection. */
    make_batch(&batch, 2, 1000, KF_CODEC_NONE, -1, -1, -1);
    assert_int_equal(produce(b, 7, 0, "t2", 0, &batch, &res), KB_NORESP);
    assert_int_equal(kb_part_log_end(t->parts[0]), 2);
    assert_int_equal(produce(b, 7, 0, "nope", 0, &batch, &res), KB_CLOSE);
    kf_buf_free(&batch);
}

static void test_idempotence(void **state) {
    fx *f = *state;
    kb_broker *b = &f->b;
    create_topic(b, "idem", 1);
    kb_part *p = kb_store_part(b->store, "idem", 4, 0);
    kf_buf batch;
    kf_buf_init(&batch, 0);
    pres res;
    /* seq 0..2, 3..5 */
    make_batch(&batch, 3, 1000, KF_CODEC_NONE, 42, 0, 0);
    assert_int_equal(produce(b, 7, -1, "idem", 0, &batch, &res), KB_OK);
    assert_int_equal(res.err, 0);
    assert_int_equal(res.base, 0);
    make_batch(&batch, 3, 1000, KF_CODEC_NONE, 42, 0, 3);
    assert_int_equal(produce(b, 7, -1, "idem", 0, &batch, &res), KB_OK);
    assert_int_equal(res.base, 3);
    /* Retry of the first batch: original offset, not appended. */
    make_batch(&batch, 3, 1000, KF_CODEC_NONE, 42, 0, 0);
    assert_int_equal(produce(b, 7, -1, "idem", 0, &batch, &res), KB_OK);
    assert_int_equal(res.err, 0);
    assert_int_equal(res.base, 0);
    assert_int_equal(kb_part_log_end(p), 6);
    /* Gap. */
    make_batch(&batch, 1, 1000, KF_CODEC_NONE, 42, 0, 10);
    assert_int_equal(produce(b, 7, -1, "idem", 0, &batch, &res), KB_OK);
    assert_int_equal(res.err, KF_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    /* New epoch must start at 0. */
    make_batch(&batch, 1, 1000, KF_CODEC_NONE, 42, 1, 6);
    assert_int_equal(produce(b, 7, -1, "idem", 0, &batch, &res), KB_OK);
    assert_int_equal(res.err, KF_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    make_batch(&batch, 1, 1000, KF_CODEC_NONE, 42, 1, 0);
    assert_int_equal(produce(b, 7, -1, "idem", 0, &batch, &res), KB_OK);
    assert_int_equal(res.err, 0);
    assert_int_equal(res.base, 6);
    /* Stale epoch. */
    make_batch(&batch, 1, 1000, KF_CODEC_NONE, 42, 0, 6);
    assert_int_equal(produce(b, 7, -1, "idem", 0, &batch, &res), KB_OK);
    assert_int_equal(res.err, KF_ERR_INVALID_PRODUCER_EPOCH);
    /* Unknown producer: any sequence accepted. */
    make_batch(&batch, 2, 1000, KF_CODEC_NONE, 77, 3, 500);
    assert_int_equal(produce(b, 7, -1, "idem", 0, &batch, &res), KB_OK);
    assert_int_equal(res.err, 0);
    assert_int_equal(res.base, 7);
    /* Only the last 5 batches are remembered. */
    for (int i = 0; i < 6; i++) {
        make_batch(&batch, 1, 1000, KF_CODEC_NONE, 42, 1, 1 + i);
        assert_int_equal(produce(b, 7, -1, "idem", 0, &batch, &res), KB_OK);
        assert_int_equal(res.err, 0);
    }
    make_batch(&batch, 1, 1000, KF_CODEC_NONE, 42, 1, 1); /* 6th most recent */
    assert_int_equal(produce(b, 7, -1, "idem", 0, &batch, &res), KB_OK);
    assert_int_equal(res.err, KF_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    make_batch(&batch, 1, 1000, KF_CODEC_NONE, 42, 1, 2); /* 5th most recent */
    assert_int_equal(produce(b, 7, -1, "idem", 0, &batch, &res), KB_OK);
    assert_int_equal(res.err, 0);
    int64_t end = kb_part_log_end(p);
    /* Sequence wrap at INT32_MAX. */
    make_batch(&batch, 2, 1000, KF_CODEC_NONE, 99, 0, INT32_MAX - 1);
    assert_int_equal(produce(b, 7, -1, "idem", 0, &batch, &res), KB_OK);
    assert_int_equal(res.err, 0);
    make_batch(&batch, 2, 1000, KF_CODEC_NONE, 99, 0, 0);
    assert_int_equal(produce(b, 7, -1, "idem", 0, &batch, &res), KB_OK);
    assert_int_equal(res.err, 0);
    assert_int_equal(res.base, end + 2);
    /* State is rebuilt from the log. */
    p->producers_free(p->producers);
    p->producers = NULL;
    kb_pidstate_rebuild(b);
    assert_int_equal(kb_pidstate_count(p), 3);
    make_batch(&batch, 2, 1000, KF_CODEC_NONE, 99, 0, 0); /* dup after rebuild */
    assert_int_equal(produce(b, 7, -1, "idem", 0, &batch, &res), KB_OK);
    assert_int_equal(res.err, 0);
    assert_int_equal(res.base, end + 2);
    make_batch(&batch, 1, 1000, KF_CODEC_NONE, 42, 0, 100); /* stale epoch after rebuild */
    assert_int_equal(produce(b, 7, -1, "idem", 0, &batch, &res), KB_OK);
    assert_int_equal(res.err, KF_ERR_INVALID_PRODUCER_EPOCH);
    kf_buf_free(&batch);
}

static void init_pid(kb_broker *b, int16_t ver, const char *txn, int64_t pid, int16_t epoch,
                     int16_t *err, int64_t *opid, int16_t *oepoch) {
    int flex = ver >= 2;
    kf_buf body, out;
    kf_buf_init(&body, 0);
    kf_buf_init(&out, 0);
    kf_wr_cstr(&body, flex, txn);
    kf_wr_i32(&body, 60000);
    if (ver >= 3) {
        kf_wr_i64(&body, pid);
        kf_wr_i16(&body, epoch);
    }
    kf_wr_tags(&body, flex);
    assert_int_equal(
        call(b, kb_h_init_producer_id, KF_API_INIT_PRODUCER_ID, ver, flex, &body, &out, NULL),
        KB_OK);
    kf_rd rd;
    kf_rd_init(&rd, out.data, out.len);
    assert_int_equal(kf_rd_i32(&rd), 0);
    *err = kf_rd_i16(&rd);
    *opid = kf_rd_i64(&rd);
    *oepoch = kf_rd_i16(&rd);
    kf_rd_tags(&rd, flex);
    assert_true(kf_rd_ok(&rd));
    assert_int_equal(kf_rd_left(&rd), 0);
    kf_buf_free(&body);
    kf_buf_free(&out);
}

static void test_init_producer_id(void **state) {
    fx *f = *state;
    kb_broker *b = &f->b;
    int16_t err, epoch;
    int64_t pid1, pid2, pid3;
    init_pid(b, 0, NULL, -1, -1, &err, &pid1, &epoch);
    assert_int_equal(err, 0);
    assert_int_equal(epoch, 0);
    init_pid(b, 4, NULL, -1, -1, &err, &pid2, &epoch);
    assert_int_equal(err, 0);
    assert_int_not_equal(pid1, pid2);
    /* KIP-360 bump. */
    init_pid(b, 4, NULL, pid2, 0, &err, &pid3, &epoch);
    assert_int_equal(err, 0);
    assert_int_equal(pid3, pid2);
    assert_int_equal(epoch, 1);
    /* A transactional id keeps its producer id; each init bumps the epoch. */
    int64_t tpid;
    init_pid(b, 1, "txn", -1, -1, &err, &tpid, &epoch);
    assert_int_equal(err, 0);
    assert_int_equal(epoch, 0);
    init_pid(b, 4, "txn", -1, -1, &err, &pid3, &epoch);
    assert_int_equal(err, 0);
    assert_int_equal(pid3, tpid);
    assert_int_equal(epoch, 1);
    /* v3+: presenting a stale epoch is fenced. */
    init_pid(b, 4, "txn", tpid, 0, &err, &pid3, &epoch);
    assert_int_equal(err, KF_ERR_PRODUCER_FENCED);
    /* Ids survive a restart: never reused. */
    kb_broker_close(b);
    b->next_producer_id = 0;
    char e[256];
    assert_int_equal(kb_broker_open(b, e, sizeof(e)), 0);
    init_pid(b, 2, NULL, -1, -1, &err, &pid3, &epoch);
    assert_int_equal(err, 0);
    assert_true(pid3 > pid2);
}

static void test_fetch_long_poll(void **state) {
    fx *f = *state;
    kb_broker *b = &f->b;
    create_topic(b, "lp", 2);
    kf_buf body, out, batch;
    kf_buf_init(&body, 0);
    kf_buf_init(&out, 0);
    kf_buf_init(&batch, 0);
    int32_t parts[2] = {0, 1};
    int64_t offs[2] = {0, 0};
    fetch_body(&body, 11, 5000, 1, 1 << 20, "lp", 2, parts, offs, 1 << 20);
    kb_req r;
    assert_int_equal(call(b, kb_h_fetch, KF_API_FETCH, 11, 0, &body, &out, &r), KB_PARK);
    r.retries++;
    kf_buf_reset(&out);
    assert_int_equal(kb_h_fetch(b, &r, &out), KB_PARK);
    /* Data arrives: the re-run answers. */
    make_batch(&batch, 4, 1000, KF_CODEC_LZ4, -1, -1, -1);
    pres res;
    b->woken = 0;
    assert_int_equal(produce(b, 7, 1, "lp", 1, &batch, &res), KB_OK);
    assert_true(b->woken);
    r.retries++;
    kf_buf_reset(&out);
    assert_int_equal(kb_h_fetch(b, &r, &out), KB_OK);
    fres fr[2];
    parse_fetch(&out, 11, 2, fr);
    assert_int_equal(fr[0].records_len, 0);
    int64_t bases[4];
    assert_int_equal(batches(fr[1].records, fr[1].records_len, bases, 4), 1);
    req_free(&r);
    /* Timeout answers empty. */
    offs[1] = 4;
    fetch_body(&body, 11, 5000, 1, 1 << 20, "lp", 2, parts, offs, 1 << 20);
    assert_int_equal(call(b, kb_h_fetch, KF_API_FETCH, 11, 0, &body, &out, &r), KB_PARK);
    r.arrived_ms -= 6000;
    r.retries++;
    kf_buf_reset(&out);
    assert_int_equal(kb_h_fetch(b, &r, &out), KB_OK);
    parse_fetch(&out, 11, 2, fr);
    assert_int_equal(fr[0].records_len + fr[1].records_len, 0);
    assert_int_equal(fr[1].hw, 4);
    req_free(&r);
    /* min_bytes larger than what exists: parks until enough arrives. */
    offs[1] = 0;
    fetch_body(&body, 11, 5000, 100000, 1 << 20, "lp", 2, parts, offs, 1 << 20);
    assert_int_equal(call(b, kb_h_fetch, KF_API_FETCH, 11, 0, &body, &out, &r), KB_PARK);
    r.retries++;
    kf_buf_reset(&out);
    assert_int_equal(kb_h_fetch(b, &r, &out), KB_PARK);
    kf_batch_builder bb;
    kf_batch_builder_init(&bb, KF_CODEC_NONE);
    static char big[60000];
    memset(big, 'x', sizeof(big));
    assert_int_equal(kf_batch_builder_add(&bb, 1, NULL, -1, big, sizeof(big), NULL, 0), 0);
    assert_int_equal(kf_batch_builder_add(&bb, 1, NULL, -1, big, sizeof(big), NULL, 0), 0);
    kf_buf_reset(&batch);
    assert_int_equal(kf_batch_builder_finish(&bb, &batch), 0);
    kf_batch_builder_free(&bb);
    assert_int_equal(produce(b, 7, 1, "lp", 0, &batch, &res), KB_OK);
    assert_int_equal(res.err, 0);
    r.retries++;
    kf_buf_reset(&out);
    assert_int_equal(kb_h_fetch(b, &r, &out), KB_OK);
    parse_fetch(&out, 11, 2, fr);
    assert_true(fr[0].records_len + fr[1].records_len >= 100000);
    req_free(&r);
    /* Unknown session id. */
    fetch_body(&body, 11, 0, 1, 1 << 20, "lp", 2, parts, offs, 1 << 20);
    kf_put_be32(body.data + 17, 12345); /* session_id */
    assert_int_equal(call(b, kb_h_fetch, KF_API_FETCH, 11, 0, &body, &out, NULL), KB_OK);
    kf_rd rd;
    kf_rd_init(&rd, out.data, out.len);
    (void)kf_rd_i32(&rd);
    assert_int_equal(kf_rd_i16(&rd), 70);
    kf_buf_free(&body);
    kf_buf_free(&out);
    kf_buf_free(&batch);
}

static void test_fetch_max_bytes(void **state) {
    fx *f = *state;
    kb_broker *b = &f->b;
    create_topic(b, "mb", 2);
    kf_buf body, out, batch;
    kf_buf_init(&body, 0);
    kf_buf_init(&out, 0);
    kf_buf_init(&batch, 0);
    pres res;
    for (int i = 0; i < 3; i++) {
        make_batch(&batch, 20, 1000, KF_CODEC_NONE, -1, -1, -1);
        assert_int_equal(produce(b, 7, 1, "mb", 0, &batch, &res), KB_OK);
        assert_int_equal(produce(b, 7, 1, "mb", 1, &batch, &res), KB_OK);
    }
    int32_t parts[2] = {0, 1};
    int64_t offs[2] = {0, 0};
    /* max_bytes 10: KIP-74 - one batch for the first partition, none after. */
    fetch_body(&body, 11, 0, 1, 10, "mb", 2, parts, offs, 1 << 20);
    assert_int_equal(call(b, kb_h_fetch, KF_API_FETCH, 11, 0, &body, &out, NULL), KB_OK);
    fres fr[2];
    parse_fetch(&out, 11, 2, fr);
    int64_t bases[4];
    assert_int_equal(batches(fr[0].records, fr[0].records_len, bases, 4), 1);
    assert_int_equal(fr[1].records_len, 0);
    /* Partition limit of 1.5 batches: one each. */
    int32_t pmax = (int32_t)(batch.len + batch.len / 2);
    fetch_body(&body, 11, 0, 1, 1 << 20, "mb", 2, parts, offs, pmax);
    assert_int_equal(call(b, kb_h_fetch, KF_API_FETCH, 11, 0, &body, &out, NULL), KB_OK);
    parse_fetch(&out, 11, 2, fr);
    assert_int_equal(batches(fr[0].records, fr[0].records_len, bases, 4), 1);
    assert_int_equal(batches(fr[1].records, fr[1].records_len, bases, 4), 1);
    /* min_bytes counts a partition with more data than fits as its whole
     * limit (as Kafka does): 1.2 batches is satisfied by one partition
     * returning one batch out of three, without waiting. */
    int32_t one = 0;
    fetch_body(&body, 11, 5000, (int32_t)(batch.len + batch.len / 5), 1 << 20, "mb", 1, &one, offs,
               pmax);
    assert_int_equal(call(b, kb_h_fetch, KF_API_FETCH, 11, 0, &body, &out, NULL), KB_OK);
    parse_fetch(&out, 11, 1, fr);
    assert_int_equal(batches(fr[0].records, fr[0].records_len, bases, 4), 1);
    /* ...but from the last batch, which is all there is, it waits. */
    int64_t last = 40;
    kb_req r;
    fetch_body(&body, 11, 5000, (int32_t)(batch.len + batch.len / 5), 1 << 20, "mb", 1, &one, &last,
               pmax);
    assert_int_equal(call(b, kb_h_fetch, KF_API_FETCH, 11, 0, &body, &out, &r), KB_PARK);
    req_free(&r);
    kf_buf_free(&body);
    kf_buf_free(&out);
    kf_buf_free(&batch);
}

static void test_log_append_time(void **state) {
    fx *f = *state;
    kb_broker *b = &f->b;
    kf_props cfg;
    kf_props_init(&cfg);
    assert_int_equal(kf_props_set(&cfg, "message.timestamp.type", "LogAppendTime"), 0);
    kb_topic *t = NULL;
    char err[256];
    assert_int_equal(kb_store_create(b->store, "lat", 1, &cfg, &t, err, sizeof(err)), 0);
    kf_props_free(&cfg);
    kf_buf batch, body, out;
    kf_buf_init(&batch, 0);
    kf_buf_init(&body, 0);
    kf_buf_init(&out, 0);
    make_batch(&batch, 2, 1000, KF_CODEC_NONE, -1, -1, -1);
    int64_t before = kf_wall_ms();
    pres res;
    assert_int_equal(produce(b, 7, 1, "lat", 0, &batch, &res), KB_OK);
    assert_int_equal(res.err, 0);
    assert_true(res.log_append_time >= before && res.log_append_time <= kf_wall_ms());
    int32_t part = 0;
    int64_t off = 0;
    fetch_body(&body, 11, 0, 1, 1 << 20, "lat", 1, &part, &off, 1 << 20);
    assert_int_equal(call(b, kb_h_fetch, KF_API_FETCH, 11, 0, &body, &out, NULL), KB_OK);
    fres fr;
    parse_fetch(&out, 11, 1, &fr);
    int64_t bases[2];
    assert_int_equal(batches(fr.records, fr.records_len, bases, 2), 1);
    kf_batch_hdr h;
    assert_int_equal(kf_batch_parse_hdr(fr.records, (size_t)fr.records_len, &h), 0);
    assert_true(h.attributes & KF_BATCH_ATTR_LOG_APPEND_TIME);
    assert_int_equal(h.max_timestamp, res.log_append_time);
    kf_buf_free(&batch);
    kf_buf_free(&body);
    kf_buf_free(&out);
}

/* ---- ListOffsets / DeleteRecords ----------------------------------------- */

static void list_offsets(kb_broker *b, int16_t ver, const char *topic, int32_t part, int64_t ts,
                         int16_t *err, int64_t *rts, int64_t *off) {
    kf_buf body, out;
    kf_buf_init(&body, 0);
    kf_buf_init(&out, 0);
    kf_wr_i32(&body, -1);
    if (ver >= 2)
        kf_wr_i8(&body, 0);
    kf_wr_arr(&body, 0, 1);
    kf_wr_cstr(&body, 0, topic);
    kf_wr_arr(&body, 0, 1);
    kf_wr_i32(&body, part);
    kf_wr_i64(&body, ts);
    assert_int_equal(call(b, kb_h_list_offsets, KF_API_LIST_OFFSETS, ver, 0, &body, &out, NULL),
                     KB_OK);
    kf_rd rd;
    kf_rd_init(&rd, out.data, out.len);
    if (ver >= 2)
        assert_int_equal(kf_rd_i32(&rd), 0);
    assert_int_equal(kf_rd_arr(&rd, 0, 1), 1);
    const char *s;
    (void)kf_rd_str(&rd, 0, &s);
    assert_int_equal(kf_rd_arr(&rd, 0, 1), 1);
    assert_int_equal(kf_rd_i32(&rd), part);
    *err = kf_rd_i16(&rd);
    *rts = kf_rd_i64(&rd);
    *off = kf_rd_i64(&rd);
    assert_true(kf_rd_ok(&rd));
    assert_int_equal(kf_rd_left(&rd), 0);
    kf_buf_free(&body);
    kf_buf_free(&out);
}

static void test_list_offsets_delete_records(void **state) {
    fx *f = *state;
    kb_broker *b = &f->b;
    create_topic(b, "lo", 1);
    kf_buf batch;
    kf_buf_init(&batch, 0);
    pres res;
    for (int i = 0; i < 3; i++) {
        make_batch(&batch, 2, 1000 * (i + 1), i == 1 ? KF_CODEC_ZSTD : KF_CODEC_NONE, -1, -1, -1);
        assert_int_equal(produce(b, 7, 1, "lo", 0, &batch, &res), KB_OK);
    }
    int16_t err;
    int64_t ts, off;
    list_offsets(b, 1, "lo", 0, -1, &err, &ts, &off);
    assert_int_equal(err, 0);
    assert_int_equal(off, 6);
    list_offsets(b, 2, "lo", 0, -2, &err, &ts, &off);
    assert_int_equal(off, 0);
    list_offsets(b, 2, "lo", 0, 1500, &err, &ts, &off);
    assert_int_equal(err, 0);
    assert_int_equal(off, 2);
    assert_int_equal(ts, 2000);
    list_offsets(b, 2, "lo", 0, 2001, &err, &ts, &off);
    assert_int_equal(off, 3);
    assert_int_equal(ts, 2001);
    list_offsets(b, 2, "lo", 0, 99999, &err, &ts, &off);
    assert_int_equal(err, 0);
    assert_int_equal(off, -1);
    assert_int_equal(ts, -1);
    list_offsets(b, 2, "lo", 0, -3, &err, &ts, &off);
    assert_int_equal(ts, 3001);
    assert_int_equal(off, 5);
    list_offsets(b, 2, "lo", 3, -1, &err, &ts, &off);
    assert_int_equal(err, KF_ERR_UNKNOWN_TOPIC_OR_PARTITION);

    /* DeleteRecords to 3, then earliest is 3 and fetching 0 is out of range. */
    kf_buf body, out;
    kf_buf_init(&body, 0);
    kf_buf_init(&out, 0);
    kf_wr_arr(&body, 0, 2);
    kf_wr_cstr(&body, 0, "lo");
    kf_wr_arr(&body, 0, 2);
    kf_wr_i32(&body, 0);
    kf_wr_i64(&body, 3);
    kf_wr_i32(&body, 9);
    kf_wr_i64(&body, 3);
    kf_wr_cstr(&body, 0, "missing");
    kf_wr_arr(&body, 0, 1);
    kf_wr_i32(&body, 0);
    kf_wr_i64(&body, 3);
    kf_wr_i32(&body, 1000);
    assert_int_equal(call(b, kb_h_delete_records, KF_API_DELETE_RECORDS, 1, 0, &body, &out, NULL),
                     KB_OK);
    kf_rd rd;
    kf_rd_init(&rd, out.data, out.len);
    const char *s;
    assert_int_equal(kf_rd_i32(&rd), 0);
    assert_int_equal(kf_rd_arr(&rd, 0, 1), 2);
    (void)kf_rd_str(&rd, 0, &s);
    assert_int_equal(kf_rd_arr(&rd, 0, 1), 2);
    assert_int_equal(kf_rd_i32(&rd), 0);
    assert_int_equal(kf_rd_i64(&rd), 3);
    assert_int_equal(kf_rd_i16(&rd), 0);
    assert_int_equal(kf_rd_i32(&rd), 9);
    assert_int_equal(kf_rd_i64(&rd), -1);
    assert_int_equal(kf_rd_i16(&rd), KF_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    (void)kf_rd_str(&rd, 0, &s);
    assert_int_equal(kf_rd_arr(&rd, 0, 1), 1);
    (void)kf_rd_i32(&rd);
    (void)kf_rd_i64(&rd);
    assert_int_equal(kf_rd_i16(&rd), KF_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    assert_true(kf_rd_ok(&rd));
    assert_int_equal(kf_rd_left(&rd), 0);
    list_offsets(b, 2, "lo", 0, -2, &err, &ts, &off);
    assert_int_equal(off, 3);
    int32_t part = 0;
    int64_t o = 0;
    fetch_body(&body, 11, 0, 1, 1 << 20, "lo", 1, &part, &o, 1 << 20);
    assert_int_equal(call(b, kb_h_fetch, KF_API_FETCH, 11, 0, &body, &out, NULL), KB_OK);
    fres fr;
    parse_fetch(&out, 11, 1, &fr);
    assert_int_equal(fr.err, KF_ERR_OFFSET_OUT_OF_RANGE);
    assert_int_equal(fr.log_start, 3);
    kf_buf_free(&body);
    kf_buf_free(&out);
    kf_buf_free(&batch);
}

/* ---- CreateTopics / DeleteTopics / CreatePartitions ---------------------- */

typedef struct ct_spec {
    const char *name;
    int32_t parts;
    int16_t rf;
    int nassign;         /* assignments 0..n-1 */
    int32_t assign_node; /* broker id in each assignment */
    const char *cfg_key; /* one config, or NULL */
    const char *cfg_val;
} ct_spec;

static void create_topics(kb_broker *b, int16_t ver, const ct_spec *specs, int n, int validate,
                          int16_t *errs, char msgs[][256]) {
    kf_buf body, out;
    kf_buf_init(&body, 0);
    kf_buf_init(&out, 0);
    kf_wr_arr(&body, 0, n);
    for (int i = 0; i < n; i++) {
        kf_wr_cstr(&body, 0, specs[i].name);
        kf_wr_i32(&body, specs[i].parts);
        kf_wr_i16(&body, specs[i].rf);
        kf_wr_arr(&body, 0, specs[i].nassign);
        for (int j = 0; j < specs[i].nassign; j++) {
            kf_wr_i32(&body, j);
            kf_wr_arr(&body, 0, 1);
            kf_wr_i32(&body, specs[i].assign_node);
        }
        kf_wr_arr(&body, 0, specs[i].cfg_key ? 1 : 0);
        if (specs[i].cfg_key) {
            kf_wr_cstr(&body, 0, specs[i].cfg_key);
            kf_wr_cstr(&body, 0, specs[i].cfg_val);
        }
    }
    kf_wr_i32(&body, 5000);
    if (ver >= 1)
        kf_wr_i8(&body, (int8_t)validate);
    assert_int_equal(call(b, kb_h_create_topics, KF_API_CREATE_TOPICS, ver, 0, &body, &out, NULL),
                     KB_OK);
    kf_rd rd;
    kf_rd_init(&rd, out.data, out.len);
    if (ver >= 2)
        assert_int_equal(kf_rd_i32(&rd), 0);
    assert_int_equal(kf_rd_arr(&rd, 0, 1), n);
    for (int i = 0; i < n; i++) {
        const char *s;
        int32_t len = kf_rd_str(&rd, 0, &s);
        assert_int_equal(len, (int32_t)strlen(specs[i].name));
        assert_memory_equal(s, specs[i].name, (size_t)len);
        errs[i] = kf_rd_i16(&rd);
        msgs[i][0] = '\0';
        if (ver >= 1) {
            len = kf_rd_str(&rd, 0, &s);
            if (errs[i])
                assert_true(len > 0);
            else
                assert_int_equal(len, -1);
            if (len > 0)
                snprintf(msgs[i], 256, "%.*s", (int)len, s);
        }
    }
    assert_true(kf_rd_ok(&rd));
    assert_int_equal(kf_rd_left(&rd), 0);
    kf_buf_free(&body);
    kf_buf_free(&out);
}

static void test_create_topics(void **state) {
    fx *f = *state;
    kb_broker *b = &f->b;
    int16_t errs[10];
    char msgs[10][256];
    ct_spec v[] = {
        {"a", 3, 1, 0, 0, NULL, NULL},
        {"b", -1, -1, 0, 0, "retention.ms", "1000"},
        {"c", -1, -1, 2, 1, NULL, NULL},
    };
    create_topics(b, 4, v, 3, 1, errs, msgs);
    for (int i = 0; i < 3; i++)
        assert_int_equal(errs[i], 0);
    assert_null(kb_store_find(b->store, "a", 1)); /* validate_only */
    create_topics(b, 4, v, 3, 0, errs, msgs);
    for (int i = 0; i < 3; i++)
        assert_int_equal(errs[i], 0);
    assert_int_equal(kb_store_find(b->store, "a", 1)->nparts, 3);
    assert_int_equal(kb_store_find(b->store, "b", 1)->nparts, b->cfg.num_partitions);
    assert_int_equal(kb_store_find(b->store, "c", 1)->nparts, 2);

    ct_spec bad[] = {
        {"a", 1, 1, 0, 0, NULL, NULL},            /* exists */
        {"x", 1, 3, 0, 0, NULL, NULL},            /* rf */
        {"bad/name", 1, 1, 0, 0, NULL, NULL},     /* name */
        {"y", 0, 1, 0, 0, NULL, NULL},            /* partitions */
        {"z", -1, -1, 2, 7, NULL, NULL},          /* assignment to broker 7 */
        {"w", 1, 1, 0, 0, "retention.ms", "abc"}, /* config */
        {"dup", 1, 1, 0, 0, NULL, NULL},
        {"dup", 1, 1, 0, 0, NULL, NULL},
        {"v", 2, -1, 2, 1, NULL, NULL}, /* both set */
    };
    create_topics(b, 4, bad, 9, 0, errs, msgs);
    assert_int_equal(errs[0], KF_ERR_TOPIC_ALREADY_EXISTS);
    assert_int_equal(errs[1], KF_ERR_INVALID_REPLICATION_FACTOR);
    assert_string_equal(msgs[1], "replication factor 3 larger than available brokers: 1");
    assert_int_equal(errs[2], KF_ERR_INVALID_TOPIC_EXCEPTION);
    assert_int_equal(errs[3], KF_ERR_INVALID_PARTITIONS);
    assert_int_equal(errs[4], KF_ERR_INVALID_REPLICA_ASSIGNMENT);
    assert_int_equal(errs[5], KF_ERR_INVALID_CONFIG);
    assert_int_equal(errs[6], KF_ERR_INVALID_REQUEST);
    assert_int_equal(errs[7], KF_ERR_INVALID_REQUEST);
    assert_int_equal(errs[8], KF_ERR_INVALID_REQUEST);
    const char *none[] = {"x", "y", "z", "w", "dup", "v"};
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++)
        assert_null(kb_store_find(b->store, none[i], strlen(none[i])));
    /* v0: no messages, no validate_only. */
    create_topics(b, 0, bad, 2, 0, errs, msgs);
    assert_int_equal(errs[0], KF_ERR_TOPIC_ALREADY_EXISTS);
}

static void test_delete_topics_create_partitions(void **state) {
    fx *f = *state;
    kb_broker *b = &f->b;
    create_topic(b, "d1", 1);
    create_topic(b, "g1", 1);
    kf_buf body, out;
    kf_buf_init(&body, 0);
    kf_buf_init(&out, 0);
    /* CreatePartitions: grow g1 to 3 (validate only, then for real), shrink
     * fails, unknown topic fails. */
    for (int validate = 1; validate >= 0; validate--) {
        kf_buf_reset(&body);
        kf_wr_arr(&body, 0, 3);
        kf_wr_cstr(&body, 0, "g1");
        kf_wr_i32(&body, 3);
        kf_wr_arr(&body, 0, 2);
        kf_wr_arr(&body, 0, 1);
        kf_wr_i32(&body, b->cfg.node_id);
        kf_wr_arr(&body, 0, 1);
        kf_wr_i32(&body, b->cfg.node_id);
        kf_wr_cstr(&body, 0, "d1");
        kf_wr_i32(&body, 0);
        kf_wr_arr(&body, 0, -1);
        kf_wr_cstr(&body, 0, "nope");
        kf_wr_i32(&body, 4);
        kf_wr_arr(&body, 0, -1);
        kf_wr_i32(&body, 1000);
        kf_wr_i8(&body, (int8_t)validate);
        assert_int_equal(
            call(b, kb_h_create_partitions, KF_API_CREATE_PARTITIONS, 1, 0, &body, &out, NULL),
            KB_OK);
        kf_rd rd;
        kf_rd_init(&rd, out.data, out.len);
        const char *s;
        assert_int_equal(kf_rd_i32(&rd), 0);
        assert_int_equal(kf_rd_arr(&rd, 0, 1), 3);
        (void)kf_rd_str(&rd, 0, &s);
        assert_int_equal(kf_rd_i16(&rd), 0);
        assert_int_equal(kf_rd_str(&rd, 0, &s), -1);
        (void)kf_rd_str(&rd, 0, &s);
        assert_int_equal(kf_rd_i16(&rd), KF_ERR_INVALID_PARTITIONS);
        assert_true(kf_rd_str(&rd, 0, &s) > 0);
        (void)kf_rd_str(&rd, 0, &s);
        assert_int_equal(kf_rd_i16(&rd), KF_ERR_UNKNOWN_TOPIC_OR_PARTITION);
        assert_true(kf_rd_str(&rd, 0, &s) > 0);
        assert_true(kf_rd_ok(&rd));
        assert_int_equal(kf_rd_left(&rd), 0);
        assert_int_equal(kb_store_find(b->store, "g1", 2)->nparts, validate ? 1 : 3);
    }
    /* DeleteTopics v3 and v0. */
    for (int16_t ver = 3; ver >= 0; ver -= 3) {
        kf_buf_reset(&body);
        kf_wr_arr(&body, 0, 2);
        kf_wr_cstr(&body, 0, "d1");
        kf_wr_cstr(&body, 0, "nope");
        kf_wr_i32(&body, 1000);
        assert_int_equal(
            call(b, kb_h_delete_topics, KF_API_DELETE_TOPICS, ver, 0, &body, &out, NULL), KB_OK);
        kf_rd rd;
        kf_rd_init(&rd, out.data, out.len);
        const char *s;
        if (ver >= 1)
            assert_int_equal(kf_rd_i32(&rd), 0);
        assert_int_equal(kf_rd_arr(&rd, 0, 1), 2);
        (void)kf_rd_str(&rd, 0, &s);
        assert_int_equal(kf_rd_i16(&rd), ver == 3 ? 0 : KF_ERR_UNKNOWN_TOPIC_OR_PARTITION);
        (void)kf_rd_str(&rd, 0, &s);
        assert_int_equal(kf_rd_i16(&rd), KF_ERR_UNKNOWN_TOPIC_OR_PARTITION);
        assert_true(kf_rd_ok(&rd));
        assert_int_equal(kf_rd_left(&rd), 0);
        assert_null(kb_store_find(b->store, "d1", 2));
    }
    kf_buf_free(&body);
    kf_buf_free(&out);
}

/* ---- Describe/AlterConfigs ----------------------------------------------- */

typedef struct dc_entry {
    char name[128];
    char value[128];
    int value_null;
    int read_only;
    int source; /* or is_default for v0 */
    int sensitive;
    int nsyn;
} dc_entry;

/* Describes one resource; returns the error code and fills up to max entries. */
static int16_t describe(kb_broker *b, int16_t ver, int8_t type, const char *name, const char *key,
                        int synonyms, dc_entry *e, int max, int *n) {
    kf_buf body, out;
    kf_buf_init(&body, 0);
    kf_buf_init(&out, 0);
    kf_wr_arr(&body, 0, 1);
    kf_wr_i8(&body, type);
    kf_wr_cstr(&body, 0, name);
    if (key) {
        kf_wr_arr(&body, 0, 1);
        kf_wr_cstr(&body, 0, key);
    } else {
        kf_wr_arr(&body, 0, -1);
    }
    if (ver >= 1)
        kf_wr_i8(&body, (int8_t)synonyms);
    assert_int_equal(
        call(b, kb_h_describe_configs, KF_API_DESCRIBE_CONFIGS, ver, 0, &body, &out, NULL), KB_OK);
    kf_rd rd;
    kf_rd_init(&rd, out.data, out.len);
    const char *s;
    assert_int_equal(kf_rd_i32(&rd), 0);
    assert_int_equal(kf_rd_arr(&rd, 0, 1), 1);
    int16_t err = kf_rd_i16(&rd);
    (void)kf_rd_str(&rd, 0, &s);
    assert_int_equal(kf_rd_i8(&rd), type);
    (void)kf_rd_str(&rd, 0, &s);
    int32_t nc = kf_rd_arr(&rd, 0, 1);
    *n = nc;
    for (int32_t i = 0; i < nc; i++) {
        dc_entry tmp, *d = i < max ? &e[i] : &tmp;
        int32_t len = kf_rd_str(&rd, 0, &s);
        snprintf(d->name, sizeof(d->name), "%.*s", len, s);
        len = kf_rd_str(&rd, 0, &s);
        d->value_null = len < 0;
        snprintf(d->value, sizeof(d->value), "%.*s", len < 0 ? 0 : len, s ? s : "");
        d->read_only = kf_rd_i8(&rd);
        d->source = kf_rd_i8(&rd);
        d->sensitive = kf_rd_i8(&rd);
        d->nsyn = 0;
        if (ver >= 1) {
            d->nsyn = kf_rd_arr(&rd, 0, 1);
            for (int32_t j = 0; j < d->nsyn; j++) {
                (void)kf_rd_str(&rd, 0, &s);
                (void)kf_rd_str(&rd, 0, &s);
                (void)kf_rd_i8(&rd);
            }
        }
    }
    assert_true(kf_rd_ok(&rd));
    assert_int_equal(kf_rd_left(&rd), 0);
    kf_buf_free(&body);
    kf_buf_free(&out);
    return err;
}

static int16_t alter(kb_broker *b, int8_t type, const char *name, const char *key,
                     const char *value, int validate, char *msg, size_t msglen) {
    kf_buf body, out;
    kf_buf_init(&body, 0);
    kf_buf_init(&out, 0);
    kf_wr_arr(&body, 0, 1);
    kf_wr_i8(&body, type);
    kf_wr_cstr(&body, 0, name);
    kf_wr_arr(&body, 0, key ? 1 : 0);
    if (key) {
        kf_wr_cstr(&body, 0, key);
        kf_wr_cstr(&body, 0, value);
    }
    kf_wr_i8(&body, (int8_t)validate);
    assert_int_equal(call(b, kb_h_alter_configs, KF_API_ALTER_CONFIGS, 1, 0, &body, &out, NULL),
                     KB_OK);
    kf_rd rd;
    kf_rd_init(&rd, out.data, out.len);
    const char *s;
    assert_int_equal(kf_rd_i32(&rd), 0);
    assert_int_equal(kf_rd_arr(&rd, 0, 1), 1);
    int16_t err = kf_rd_i16(&rd);
    int32_t len = kf_rd_str(&rd, 0, &s);
    snprintf(msg, msglen, "%.*s", len < 0 ? 0 : len, s ? s : "");
    assert_int_equal(kf_rd_i8(&rd), type);
    (void)kf_rd_str(&rd, 0, &s);
    assert_true(kf_rd_ok(&rd));
    assert_int_equal(kf_rd_left(&rd), 0);
    kf_buf_free(&body);
    kf_buf_free(&out);
    return err;
}

static void test_configs(void **state) {
    fx *f = *state;
    kb_broker *b = &f->b;
    create_topic(b, "cfg", 1);
    dc_entry e[64];
    int n;
    assert_int_equal(describe(b, 2, 2, "cfg", NULL, 1, e, 64, &n), 0);
    size_t ndesc;
    kb_topic_config_descs(&ndesc);
    assert_int_equal(n, (int)ndesc);
    for (int i = 0; i < n && i < 64; i++) {
        assert_int_equal(e[i].source, 5);
        assert_int_equal(e[i].read_only, 0);
        assert_true(e[i].nsyn >= 1);
    }
    char msg[256];
    assert_int_equal(alter(b, 2, "cfg", "retention.ms", "1234", 1, msg, sizeof(msg)), 0);
    assert_int_equal(describe(b, 1, 2, "cfg", "retention.ms", 0, e, 64, &n), 0);
    assert_int_equal(n, 1);
    assert_int_not_equal(strcmp(e[0].value, "1234"), 0); /* validate_only */
    assert_int_equal(alter(b, 2, "cfg", "retention.ms", "1234", 0, msg, sizeof(msg)), 0);
    assert_int_equal(describe(b, 1, 2, "cfg", "retention.ms", 1, e, 64, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(e[0].name, "retention.ms");
    assert_string_equal(e[0].value, "1234");
    assert_int_equal(e[0].source, 1);
    assert_true(e[0].nsyn >= 1);
    assert_int_equal(describe(b, 0, 2, "cfg", "retention.ms", 0, e, 64, &n), 0);
    assert_int_equal(e[0].source, 0); /* v0 is_default: false */
    assert_int_equal(e[0].nsyn, 0);
    /* Non-incremental: an empty set removes the override. */
    assert_int_equal(alter(b, 2, "cfg", NULL, NULL, 0, msg, sizeof(msg)), 0);
    assert_int_equal(describe(b, 1, 2, "cfg", "retention.ms", 0, e, 64, &n), 0);
    assert_int_equal(e[0].source, 5);
    assert_int_equal(e[0].nsyn, 0); /* include_synonyms false */
    /* Errors. */
    assert_int_equal(alter(b, 2, "cfg", "retention.ms", "abc", 0, msg, sizeof(msg)),
                     KF_ERR_INVALID_CONFIG);
    assert_true(msg[0]);
    assert_int_equal(alter(b, 2, "nope", "retention.ms", "1", 0, msg, sizeof(msg)),
                     KF_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    assert_int_equal(alter(b, 4, "1", "num.partitions", "3", 0, msg, sizeof(msg)),
                     KF_ERR_INVALID_REQUEST);
    assert_string_equal(msg, "broker configs are static: edit the broker's config file and "
                             "restart it");
    assert_int_equal(describe(b, 1, 2, "nope", NULL, 0, e, 64, &n),
                     KF_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    assert_int_equal(n, 0);
    /* Broker resource. */
    assert_int_equal(describe(b, 2, 4, "1", NULL, 1, e, 64, &n), 0);
    assert_true(n >= 20);
    int found = 0;
    for (int i = 0; i < n && i < 64; i++) {
        assert_int_equal(e[i].read_only, 1);
        if (!strcmp(e[i].name, "num.partitions")) {
            found = 1;
            assert_string_equal(e[i].value, "1");
        }
    }
    assert_true(found);
    assert_int_equal(describe(b, 2, 4, "2", NULL, 1, e, 64, &n), KF_ERR_INVALID_REQUEST);
}

/* ---- transactions ------------------------------------------------------ */

static int16_t add_partition(kb_broker *b, const char *txn, int64_t pid, int16_t epoch,
                             const char *topic, int32_t part) {
    kf_buf body, out;
    kf_buf_init(&body, 0);
    kf_buf_init(&out, 0);
    kf_wr_cstr(&body, 1, txn);
    kf_wr_i64(&body, pid);
    kf_wr_i16(&body, epoch);
    kf_wr_arr(&body, 1, 1);
    kf_wr_cstr(&body, 1, topic);
    kf_wr_arr(&body, 1, 1);
    kf_wr_i32(&body, part);
    kf_wr_tags(&body, 1);
    kf_wr_tags(&body, 1);
    assert_int_equal(
        call(b, kb_h_add_partitions_to_txn, KF_API_ADD_PARTITIONS_TO_TXN, 3, 1, &body, &out, NULL),
        KB_OK);
    kf_rd rd;
    kf_rd_init(&rd, out.data, out.len);
    (void)kf_rd_i32(&rd);
    assert_int_equal(kf_rd_arr(&rd, 1, 1), 1);
    const char *s;
    (void)kf_rd_str(&rd, 1, &s);
    assert_int_equal(kf_rd_arr(&rd, 1, 1), 1);
    assert_int_equal(kf_rd_i32(&rd), part);
    int16_t err = kf_rd_i16(&rd);
    kf_rd_tags(&rd, 1);
    kf_rd_tags(&rd, 1);
    kf_rd_tags(&rd, 1);
    assert_true(kf_rd_ok(&rd));
    assert_int_equal(kf_rd_left(&rd), 0);
    kf_buf_free(&body);
    kf_buf_free(&out);
    return err;
}

static int16_t end_txn(kb_broker *b, const char *txn, int64_t pid, int16_t epoch, int commit) {
    kf_buf body, out;
    kf_buf_init(&body, 0);
    kf_buf_init(&out, 0);
    kf_wr_cstr(&body, 0, txn);
    kf_wr_i64(&body, pid);
    kf_wr_i16(&body, epoch);
    kf_wr_i8(&body, (int8_t)commit);
    assert_int_equal(call(b, kb_h_end_txn, KF_API_END_TXN, 1, 0, &body, &out, NULL), KB_OK);
    kf_rd rd;
    kf_rd_init(&rd, out.data, out.len);
    (void)kf_rd_i32(&rd);
    int16_t err = kf_rd_i16(&rd);
    assert_true(kf_rd_ok(&rd));
    assert_int_equal(kf_rd_left(&rd), 0);
    kf_buf_free(&body);
    kf_buf_free(&out);
    return err;
}

static void txn_batch(kf_buf *out, int n, int64_t pid, int16_t epoch, int32_t seq) {
    kf_batch_builder bb;
    kf_batch_builder_init(&bb, KF_CODEC_NONE);
    bb.producer_id = pid;
    bb.producer_epoch = epoch;
    bb.base_sequence = seq;
    bb.extra_attributes = KF_BATCH_ATTR_TRANSACTIONAL;
    for (int i = 0; i < n; i++)
        assert_int_equal(kf_batch_builder_add(&bb, 1000 + i, NULL, -1, "v", 1, NULL, 0), 0);
    kf_buf_reset(out);
    assert_int_equal(kf_batch_builder_finish(&bb, out), 0);
    kf_batch_builder_free(&bb);
}

/* read_committed Fetch v4 of one partition: LSO, aborted list, batch bases. */
static void fetch_committed(kb_broker *b, const char *topic, int64_t offset, int64_t *lso,
                            int *naborted, int64_t aborted[][2], int *nbatches, int64_t *bases) {
    kf_buf body, out;
    kf_buf_init(&body, 0);
    kf_buf_init(&out, 0);
    int32_t part = 0;
    fetch_body(&body, 4, 0, 1, 1 << 20, topic, 1, &part, &offset, 1 << 20);
    assert_int_equal(call(b, kb_h_fetch, KF_API_FETCH, 4, 0, &body, &out, NULL), KB_OK);
    kf_rd rd;
    kf_rd_init(&rd, out.data, out.len);
    (void)kf_rd_i32(&rd);
    assert_int_equal(kf_rd_arr(&rd, 0, 1), 1);
    const char *s;
    (void)kf_rd_str(&rd, 0, &s);
    assert_int_equal(kf_rd_arr(&rd, 0, 1), 1);
    (void)kf_rd_i32(&rd);
    assert_int_equal(kf_rd_i16(&rd), 0);
    (void)kf_rd_i64(&rd); /* hw */
    *lso = kf_rd_i64(&rd);
    *naborted = kf_rd_arr(&rd, 0, 16);
    for (int i = 0; i < *naborted; i++) {
        aborted[i][0] = kf_rd_i64(&rd);
        aborted[i][1] = kf_rd_i64(&rd);
    }
    const uint8_t *recs;
    int32_t rlen = kf_rd_bytes(&rd, 0, &recs);
    assert_true(kf_rd_ok(&rd));
    *nbatches = batches(recs, rlen, bases, 16);
    kf_buf_free(&body);
    kf_buf_free(&out);
}

static void test_transactions(void **state) {
    fx *f = *state;
    kb_broker *b = &f->b;
    create_topic(b, "tx", 1);
    kb_part *p = kb_store_part(b->store, "tx", 2, 0);
    int16_t err, epoch;
    int64_t pid;
    init_pid(b, 1, "app", -1, -1, &err, &pid, &epoch);
    assert_int_equal(err, 0);
    kf_buf batch;
    kf_buf_init(&batch, 0);
    pres res;
    /* Not added to the transaction yet: refused. */
    txn_batch(&batch, 3, pid, epoch, 0);
    assert_int_equal(produce(b, 7, -1, "tx", 0, &batch, &res), KB_OK);
    assert_int_equal(res.err, KF_ERR_INVALID_TXN_STATE);
    /* Unknown partition; wrong epoch is fenced (v3: PRODUCER_FENCED). */
    assert_int_equal(add_partition(b, "app", pid, epoch, "tx", 7),
                     KF_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    assert_int_equal(add_partition(b, "app", pid, (int16_t)(epoch + 1), "tx", 0),
                     KF_ERR_PRODUCER_FENCED);
    assert_int_equal(add_partition(b, "app", pid + 1, epoch, "tx", 0),
                     KF_ERR_INVALID_PRODUCER_ID_MAPPING);
    assert_int_equal(add_partition(b, "app", pid, epoch, "tx", 0), 0);
    /* Transaction 1 (offsets 0-2) aborted: marker at 3. */
    assert_int_equal(produce(b, 7, -1, "tx", 0, &batch, &res), KB_OK);
    assert_int_equal(res.err, 0);
    assert_int_equal(res.base, 0);
    assert_int_equal(kb_txn_lso(p), 0);
    int64_t lso, ab[16][2], bases[16];
    int nab, nb;
    fetch_committed(b, "tx", 0, &lso, &nab, ab, &nb, bases);
    assert_int_equal(lso, 0);
    assert_int_equal(nb, 0); /* nothing stable yet */
    assert_int_equal(end_txn(b, "app", pid, epoch, 0), 0);
    assert_int_equal(end_txn(b, "app", pid, epoch, 0), 0);                        /* retry */
    assert_int_equal(end_txn(b, "app", pid, epoch, 1), KF_ERR_INVALID_TXN_STATE); /* mismatch */
    assert_int_equal(kb_part_log_end(p), 4);
    assert_int_equal(kb_txn_lso(p), 4);
    /* Transaction 2 (offsets 4-5) committed: marker at 6. */
    assert_int_equal(add_partition(b, "app", pid, epoch, "tx", 0), 0);
    txn_batch(&batch, 2, pid, epoch, 3);
    assert_int_equal(produce(b, 7, -1, "tx", 0, &batch, &res), KB_OK);
    assert_int_equal(res.err, 0);
    assert_int_equal(end_txn(b, "app", pid, epoch, 1), 0);
    /* Transaction 3 (offset 7) left open. */
    assert_int_equal(add_partition(b, "app", pid, epoch, "tx", 0), 0);
    txn_batch(&batch, 1, pid, epoch, 5);
    assert_int_equal(produce(b, 7, -1, "tx", 0, &batch, &res), KB_OK);
    assert_int_equal(res.base, 7);
    for (int round = 0; round < 2; round++) {
        p = kb_store_part(b->store, "tx", 2, 0);
        assert_int_equal(kb_txn_lso(p), 7);
        fetch_committed(b, "tx", 0, &lso, &nab, ab, &nb, bases);
        assert_int_equal(lso, 7);
        assert_int_equal(nab, 1);
        assert_int_equal(ab[0][0], pid);
        assert_int_equal(ab[0][1], 0);
        assert_int_equal(nb, 4); /* the aborted batch, its marker, the committed one, marker */
        assert_int_equal(bases[3], 6);
        fetch_committed(b, "tx", 4, &lso, &nab, ab, &nb, bases);
        assert_int_equal(nab, 0); /* the abort ended before offset 4 */
        /* The same after an unclean restart (no clean-shutdown marker). */
        char path[512], e[256];
        snprintf(path, sizeof(path), "%s/.kafka_cleanshutdown", f->dir);
        kb_broker_close(b);
        unlink(path);
        assert_int_equal(kb_broker_open(b, e, sizeof(e)), 0);
    }
    /* A new producer with the same id fences the old one and aborts its
     * open transaction before answering. */
    p = kb_store_part(b->store, "tx", 2, 0);
    int64_t pid2;
    int16_t epoch2;
    init_pid(b, 4, "app", -1, -1, &err, &pid2, &epoch2);
    assert_int_equal(err, 0);
    assert_int_equal(pid2, pid);
    assert_int_equal(epoch2, epoch + 2); /* fenced (+1), then the new producer's (+1) */
    assert_int_equal(kb_txn_lso(p), kb_part_log_end(p));
    assert_int_equal(end_txn(b, "app", pid, epoch, 1), KF_ERR_INVALID_PRODUCER_EPOCH);
    txn_batch(&batch, 1, pid, epoch, 6);
    assert_int_equal(produce(b, 7, -1, "tx", 0, &batch, &res), KB_OK);
    assert_int_equal(res.err, KF_ERR_INVALID_PRODUCER_EPOCH);
    fetch_committed(b, "tx", 0, &lso, &nab, ab, &nb, bases);
    assert_int_equal(nab, 2);
    assert_int_equal(ab[1][1], 7);
    /* Kafka's .txnindex: two 34-byte entries in the segment holding the
     * markers (the old timestamps of the batches rolled one at offset 3). */
    char path[512];
    snprintf(path, sizeof(path), "%s/tx-0/00000000000000000003.txnindex", f->dir);
    kf_buf idx;
    assert_int_equal(kf_read_file(path, &idx, 1 << 20), 0);
    assert_int_equal(idx.len, 2 * KB_TXNIDX_ENTRY);
    assert_int_equal(kf_be16(idx.data), 0);
    assert_int_equal((int64_t)kf_be64(idx.data + 2), pid);
    assert_int_equal((int64_t)kf_be64(idx.data + 10), 0);
    assert_int_equal((int64_t)kf_be64(idx.data + 18), 3);
    kf_buf_free(&idx);
    /* A torn index tail and a torn journal tail are ignored on restart. */
    FILE *fp = fopen(path, "ab");
    assert_non_null(fp);
    fputs("torn", fp);
    fclose(fp);
    snprintf(path, sizeof(path), "%s/kferry-meta/transactions.log", f->dir);
    fp = fopen(path, "ab");
    assert_non_null(fp);
    fputs("\x00\x00\x10\x00garbage", fp);
    fclose(fp);
    kb_broker_close(b);
    char e[256];
    assert_int_equal(kb_broker_open(b, e, sizeof(e)), 0);
    p = kb_store_part(b->store, "tx", 2, 0);
    fetch_committed(b, "tx", 0, &lso, &nab, ab, &nb, bases);
    assert_int_equal(nab, 2);
    assert_int_equal(lso, kb_part_log_end(p));
    kb_txn *t = kb_txn_find(b, "app", 3);
    assert_non_null(t);
    assert_int_equal(t->epoch, epoch2);
    /* Timeouts above transaction.max.timeout.ms are refused. */
    b->cfg.transaction_max_timeout_ms = 1000;
    init_pid(b, 1, "other", -1, -1, &err, &pid2, &epoch2);
    assert_int_equal(err, KF_ERR_INVALID_TRANSACTION_TIMEOUT);
    /* Idle ids expire (transactional.id.expiration.ms), also in the journal. */
    b->cfg.transactional_id_expiration_ms = 1000;
    kb_txns_tick(b, kf_wall_ms() + 120000);
    assert_null(kb_txn_find(b, "app", 3));
    kb_broker_close(b);
    assert_int_equal(kb_broker_open(b, e, sizeof(e)), 0);
    assert_null(kb_txn_find(b, "app", 3));
    kf_buf_free(&batch);
}

/* ---- robustness ---------------------------------------------------------- */

typedef struct api_case {
    kb_handler_fn h;
    int16_t key, ver;
    int flex;
} api_case;

static const api_case cases[] = {
    {kb_h_produce, KF_API_PRODUCE, 7, 0},
    {kb_h_produce, KF_API_PRODUCE, 3, 0},
    {kb_h_init_producer_id, KF_API_INIT_PRODUCER_ID, 4, 1},
    {kb_h_init_producer_id, KF_API_INIT_PRODUCER_ID, 0, 0},
    {kb_h_fetch, KF_API_FETCH, 11, 0},
    {kb_h_fetch, KF_API_FETCH, 4, 0},
    {kb_h_list_offsets, KF_API_LIST_OFFSETS, 2, 0},
    {kb_h_list_offsets, KF_API_LIST_OFFSETS, 1, 0},
    {kb_h_create_topics, KF_API_CREATE_TOPICS, 4, 0},
    {kb_h_create_topics, KF_API_CREATE_TOPICS, 0, 0},
    {kb_h_delete_topics, KF_API_DELETE_TOPICS, 3, 0},
    {kb_h_create_partitions, KF_API_CREATE_PARTITIONS, 1, 0},
    {kb_h_delete_records, KF_API_DELETE_RECORDS, 1, 0},
    {kb_h_describe_configs, KF_API_DESCRIBE_CONFIGS, 2, 0},
    {kb_h_describe_configs, KF_API_DESCRIBE_CONFIGS, 0, 0},
    {kb_h_alter_configs, KF_API_ALTER_CONFIGS, 1, 0},
    {kb_h_add_partitions_to_txn, KF_API_ADD_PARTITIONS_TO_TXN, 3, 1},
    {kb_h_add_partitions_to_txn, KF_API_ADD_PARTITIONS_TO_TXN, 0, 0},
    {kb_h_add_offsets_to_txn, KF_API_ADD_OFFSETS_TO_TXN, 3, 1},
    {kb_h_end_txn, KF_API_END_TXN, 3, 1},
    {kb_h_end_txn, KF_API_END_TXN, 1, 0},
    {kb_h_txn_offset_commit, KF_API_TXN_OFFSET_COMMIT, 3, 1},
    {kb_h_txn_offset_commit, KF_API_TXN_OFFSET_COMMIT, 0, 0},
    {kb_h_describe_transactions, KF_API_DESCRIBE_TRANSACTIONS, 0, 1},
    {kb_h_list_transactions, KF_API_LIST_TRANSACTIONS, 1, 1},
};

/* Every prefix of a valid request is malformed and must be refused
 * (KB_CLOSE) without side effects; random bytes must never crash. */
static void test_truncated_and_random(void **state) {
    fx *f = *state;
    kb_broker *b = &f->b;
    create_topic(b, "rob", 2);
    kf_buf body, out, batch;
    kf_buf_init(&body, 0);
    kf_buf_init(&out, 0);
    kf_buf_init(&batch, 0);
    make_batch(&batch, 2, 1000, KF_CODEC_GZIP, -1, -1, -1);
    /* A valid produce, truncated at every length. */
    kf_wr_str(&body, 0, NULL, -1);
    kf_wr_i16(&body, 1);
    kf_wr_i32(&body, 1000);
    kf_wr_arr(&body, 0, 1);
    kf_wr_cstr(&body, 0, "rob");
    kf_wr_arr(&body, 0, 1);
    kf_wr_i32(&body, 0);
    kf_wr_bytes(&body, 0, batch.data, (int32_t)batch.len);
    kf_buf cut;
    kf_buf_init(&cut, 0);
    for (size_t len = 0; len < body.len; len++) {
        kf_buf_reset(&cut);
        kf_buf_append(&cut, body.data, len);
        int rc = call(b, kb_h_produce, KF_API_PRODUCE, 7, 0, &cut, &out, NULL);
        assert_int_equal(rc, KB_CLOSE);
    }
    assert_int_equal(kb_part_log_end(kb_store_part(b->store, "rob", 3, 0)), 0);
    /* Truncated CreateTopics creates nothing. */
    kf_buf_reset(&body);
    kf_wr_arr(&body, 0, 1);
    kf_wr_cstr(&body, 0, "newt");
    kf_wr_i32(&body, 2);
    kf_wr_i16(&body, 1);
    kf_wr_arr(&body, 0, 0);
    kf_wr_arr(&body, 0, 0);
    kf_wr_i32(&body, 1000);
    kf_wr_i8(&body, 0);
    for (size_t len = 0; len < body.len; len++) {
        kf_buf_reset(&cut);
        kf_buf_append(&cut, body.data, len);
        assert_int_equal(call(b, kb_h_create_topics, KF_API_CREATE_TOPICS, 4, 0, &cut, &out, NULL),
                         KB_CLOSE);
    }
    assert_null(kb_store_find(b->store, "newt", 4));
    /* Random and bit-flipped bodies for every handler. */
    kf_log_set_level(KF_LOG_ERR); /* refusals of nonsense are logged as warnings */
    uint32_t seed = 12345;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        for (int iter = 0; iter < 300; iter++) {
            kf_buf_reset(&cut);
            size_t len = (seed = seed * 1103515245 + 12345) % 200;
            for (size_t i = 0; i < len; i++) {
                seed = seed * 1103515245 + 12345;
                uint8_t v = (uint8_t)(seed >> 16);
                /* Small numbers make plausible lengths and counts. */
                if ((seed >> 8) % 3)
                    v &= 0x03;
                kf_buf_append(&cut, &v, 1);
            }
            kb_req keep;
            int rc =
                call(b, cases[c].h, cases[c].key, cases[c].ver, cases[c].flex, &cut, &out, &keep);
            if (rc == KB_PARK)
                req_free(&keep);
        }
    }
    /* Valid requests with a few bytes changed: deeper paths than noise. */
    kf_buf seeds[5];
    for (int i = 0; i < 5; i++)
        kf_buf_init(&seeds[i], 0);
    kf_buf_append(&seeds[0], body.data, body.len); /* CreateTopics v4, validate_only */
    seeds[0].data[seeds[0].len - 1] = 1;
    int32_t parts[2] = {0, 1};
    int64_t offs[2] = {0, 0};
    fetch_body(&seeds[1], 11, 0, 1, 1 << 20, "rob", 2, parts, offs, 1 << 20);
    kf_wr_arr(&seeds[2], 0, 1); /* DescribeConfigs v2 */
    kf_wr_i8(&seeds[2], 2);
    kf_wr_cstr(&seeds[2], 0, "rob");
    kf_wr_arr(&seeds[2], 0, 1);
    kf_wr_cstr(&seeds[2], 0, "retention.ms");
    kf_wr_i8(&seeds[2], 1);
    kf_wr_arr(&seeds[3], 0, 1); /* AlterConfigs v1 (validate_only) */
    kf_wr_i8(&seeds[3], 2);
    kf_wr_cstr(&seeds[3], 0, "rob");
    kf_wr_arr(&seeds[3], 0, 1);
    kf_wr_cstr(&seeds[3], 0, "retention.ms");
    kf_wr_cstr(&seeds[3], 0, "100");
    kf_wr_i8(&seeds[3], 1);
    kf_wr_arr(&seeds[4], 0, 1); /* DeleteRecords v1 */
    kf_wr_cstr(&seeds[4], 0, "rob");
    kf_wr_arr(&seeds[4], 0, 1);
    kf_wr_i32(&seeds[4], 1);
    kf_wr_i64(&seeds[4], 0);
    kf_wr_i32(&seeds[4], 100);
    static const api_case seeded[5] = {
        {kb_h_create_topics, KF_API_CREATE_TOPICS, 4, 0},
        {kb_h_fetch, KF_API_FETCH, 11, 0},
        {kb_h_describe_configs, KF_API_DESCRIBE_CONFIGS, 2, 0},
        {kb_h_alter_configs, KF_API_ALTER_CONFIGS, 1, 0},
        {kb_h_delete_records, KF_API_DELETE_RECORDS, 1, 0},
    };
    for (int c = 0; c < 5; c++) {
        for (int iter = 0; iter < 2000; iter++) {
            kf_buf_reset(&cut);
            kf_buf_append(&cut, seeds[c].data, seeds[c].len);
            int flips = 1 + (int)((seed = seed * 1103515245 + 12345) >> 16) % 3;
            for (int k = 0; k < flips; k++) {
                seed = seed * 1103515245 + 12345;
                size_t pos = (seed >> 8) % cut.len;
                seed = seed * 1103515245 + 12345;
                cut.data[pos] = (uint8_t)(seed >> 16);
            }
            if (c == 0) /* keep validate_only: creating thousands of topics only tests the disk */
                cut.data[cut.len - 1] = 1;
            kb_req keep;
            int rc = call(b, seeded[c].h, seeded[c].key, seeded[c].ver, 0, &cut, &out, &keep);
            if (rc == KB_PARK)
                req_free(&keep);
        }
        kf_buf_free(&seeds[c]);
    }
    kf_log_set_level(KF_LOG_INFO);
    kf_buf_free(&cut);
    kf_buf_free(&body);
    kf_buf_free(&out);
    kf_buf_free(&batch);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_produce_fetch_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_produce_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_producer_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_append_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_long_poll, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_max_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_offsets_delete_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_topics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_topics_create_partitions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_configs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_and_random, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
