/*
 * h_produce.c - Produce (v0-7) and InitProducerId (v0-4).
 *
 * Produce v0-2 is advertised only because librdkafka 2.0.2 will not
 * compress with gzip, snappy or lz4 unless the broker's Produce range
 * includes v0; those versions carry legacy MessageSets (magic 0/1), which
 * are refused per partition with UNSUPPORTED_FOR_MESSAGE_FORMAT.
 *
 * Produce validates each partition's batch in place inside the request
 * frame and hands those same bytes to the store, which rewrites the base
 * offset in place: the only copy is the write into the log.  The response
 * is written while parsing, since it mirrors the request's shape.
 */
#include "broker/acl.h"
#include "broker/handlers.h"
#include "broker/pidstate.h"
#include "broker/store.h"
#include "broker/txn.h"
#include "common/log.h"
#include "common/util.h"
#include "proto/batch.h"

#include <inttypes.h>
#include <string.h>

/* Decompression cap for validating one batch: generous (256x the batch,
 * at least 64 MiB) because a mirror must never refuse real, highly
 * compressible data, but bounded (512 MiB) against compression bombs. */
#define MIN_UNCOMPRESSED_CAP ((size_t)64 << 20)
#define MAX_UNCOMPRESSED_CAP ((size_t)512 << 20)

static size_t uncompressed_cap(size_t len) {
    size_t cap = len * 256;
    if (cap < MIN_UNCOMPRESSED_CAP)
        cap = MIN_UNCOMPRESSED_CAP;
    if (cap > MAX_UNCOMPRESSED_CAP)
        cap = MAX_UNCOMPRESSED_CAP;
    return cap;
}

static int null_key_cb(const kf_batch_hdr *h, const kf_record *rec, void *opaque) {
    (void)h;
    (void)opaque;
    return rec->key_len < 0;
}

typedef struct produce_result {
    int16_t err;
    int64_t base_offset;
    int64_t log_append_time;
    int64_t log_start;
} produce_result;

static void produce_one(kb_broker *b, kb_req *r, kb_topic *t, int32_t idx, const uint8_t *recs,
                        int32_t len, int64_t now, produce_result *res) {
    if (!t || idx < 0 || idx >= t->nparts || !t->parts[idx]) {
        res->err = KF_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        return;
    }
    kb_part *p = t->parts[idx];
    if (t->internal) {
        /* Kafka refuses client writes to internal topics. */
        res->err = KF_ERR_INVALID_TOPIC_EXCEPTION;
        return;
    }
    if (len < 0 || !recs) {
        res->err = KF_ERR_INVALID_RECORD;
        return;
    }
    if (t->cfg.max_message_bytes > 0 && len > t->cfg.max_message_bytes) {
        res->err = KF_ERR_MESSAGE_TOO_LARGE;
        return;
    }
    if (len > KF_BATCH_OFF_MAGIC && recs[KF_BATCH_OFF_MAGIC] < 2) {
        /* MessageSet v0/v1: the magic byte sits where RecordBatch's does. */
        res->err = KF_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT;
        return;
    }
    kf_batch_hdr h;
    int err = kf_batch_validate(recs, (size_t)len, uncompressed_cap((size_t)len), &h);
    if (err) {
        kf_debug("broker", "produce to %s-%d from %s rejected: %s", t->name, (int)idx,
                 r->peer ? r->peer : "?", kf_err_name(err));
        res->err = (int16_t)err;
        return;
    }
    if (t->cfg.compact && kf_batch_foreach(recs, (size_t)len, uncompressed_cap((size_t)len),
                                           null_key_cb, NULL) != 0) {
        /* Kafka's LogValidator: a compacted topic cannot accept a record
         * without a key (the cleaner could never tell it apart). */
        kf_debug("broker", "produce to %s-%d: record without key refused (compacted topic)",
                 t->name, (int)idx);
        res->err = KF_ERR_INVALID_RECORD;
        return;
    }
    int txnl = (h.attributes & KF_BATCH_ATTR_TRANSACTIONAL) != 0;
    if (txnl) {
        /* Only into a partition added to the producer's ongoing
         * transaction, with its current epoch (txn.c). */
        err = h.producer_id < 0 ? KF_ERR_INVALID_RECORD : kb_txn_produce_check(b, p, &h);
        if (err) {
            kf_debug("broker",
                     "transactional produce to %s-%d from producer %" PRId64 " epoch %d: %s",
                     t->name, (int)idx, h.producer_id, h.producer_epoch, kf_err_name(err));
            res->err = (int16_t)err;
            return;
        }
    }
    int64_t dup = -1;
    err = kb_pidstate_check(p, &h, &dup);
    if (err) {
        kf_debug("broker", "produce to %s-%d: producer %" PRId64 " epoch %d seq %d: %s", t->name,
                 (int)idx, h.producer_id, h.producer_epoch, h.base_sequence, kf_err_name(err));
        res->err = (int16_t)err;
        return;
    }
    if (dup >= 0) {
        /* A retry of a batch already in the log: acknowledge it again. */
        res->base_offset = dup;
        res->log_start = kb_part_log_start(p);
        return;
    }
    /* The records field points into r->frame, which the request owns and
     * which is writable: the store assigns offsets in place. */
    uint8_t *batch = r->frame + (recs - r->frame);
    int64_t base = -1;
    err = kb_part_append(p, batch, (size_t)len, now, &base);
    if (err) {
        res->err = (int16_t)err;
        return;
    }
    kb_pidstate_record(p, &h, base);
    if (txnl)
        kb_txn_produce_done(b, p, &h, base);
    kb_broker_wake(b);
    res->base_offset = base;
    res->log_append_time = t->cfg.log_append_time ? now : -1;
    res->log_start = kb_part_log_start(p);
}

/* Whether any batch of the request (rd at its topics array) is
 * transactional; rd is a copy, a malformed body answers 0 (the main parse
 * closes the connection). */
static int has_txn_batches(kf_rd rd, int32_t ntopics) {
    for (int32_t i = 0; i < ntopics && kf_rd_ok(&rd); i++) {
        const char *name;
        (void)kf_rd_str(&rd, 0, &name);
        int32_t nparts = kf_rd_arr(&rd, 0, 4 + 4);
        for (int32_t j = 0; j < nparts && kf_rd_ok(&rd); j++) {
            (void)kf_rd_i32(&rd);
            const uint8_t *recs;
            int32_t rlen = kf_rd_bytes(&rd, 0, &recs);
            if (kf_rd_ok(&rd) && rlen > KF_BATCH_OFF_ATTRIBUTES + 1 &&
                recs[KF_BATCH_OFF_MAGIC] >= 2 &&
                (recs[KF_BATCH_OFF_ATTRIBUTES + 1] & KF_BATCH_ATTR_TRANSACTIONAL))
                return 1;
        }
    }
    return 0;
}

int kb_h_produce(kb_broker *b, kb_req *r, kf_buf *out) {
    kf_rd rd;
    kb_req_body(r, &rd);
    const char *txn = NULL;
    int32_t txn_len = -1;
    if (r->api_version >= 3)
        txn_len = kf_rd_str(&rd, 0, &txn); /* transactional_id: checked per batch */
    int16_t acks = kf_rd_i16(&rd);
    (void)kf_rd_i32(&rd); /* timeout_ms: appends are synchronous */
    int32_t ntopics = kf_rd_arr(&rd, 0, 2 + 4);
    if (!kf_rd_ok(&rd) || ntopics < 0)
        return KB_CLOSE;
    int bad_acks = acks != 0 && acks != 1 && acks != -1;
    /* authz: transactional batches need TRANSACTIONAL_ID WRITE (else the
     * whole request fails), each topic needs TOPIC WRITE. */
    int txn_denied = 0;
    if (kb_authz_enabled(b) && has_txn_batches(rd, ntopics))
        txn_denied = txn_len < 0 ||
                     !kb_authz(b, r, KB_RES_TRANSACTIONAL_ID, txn, (size_t)txn_len, KB_OP_WRITE);
    int64_t now = kf_wall_ms();
    int errors = 0;

    kf_wr_arr(out, 0, ntopics);
    for (int32_t i = 0; i < ntopics; i++) {
        const char *name;
        int32_t nlen = kf_rd_str(&rd, 0, &name);
        int32_t nparts = kf_rd_arr(&rd, 0, 4 + 4);
        if (!kf_rd_ok(&rd) || nlen < 0 || nparts < 0)
            return KB_CLOSE;
        int denied = !txn_denied && !bad_acks &&
                     !kb_authz(b, r, KB_RES_TOPIC, name, (size_t)nlen, KB_OP_WRITE);
        kb_topic *t = bad_acks ? NULL : kb_store_find(b->store, name, (size_t)nlen);
        kf_wr_str(out, 0, name, nlen);
        kf_wr_arr(out, 0, nparts);
        for (int32_t j = 0; j < nparts; j++) {
            int32_t idx = kf_rd_i32(&rd);
            const uint8_t *recs;
            int32_t rlen = kf_rd_bytes(&rd, 0, &recs);
            if (!kf_rd_ok(&rd))
                return KB_CLOSE;
            produce_result res = {0, -1, -1, -1};
            if (bad_acks)
                res.err = KF_ERR_INVALID_REQUIRED_ACKS;
            else if (txn_denied)
                res.err = KF_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
            else if (denied)
                res.err = KF_ERR_TOPIC_AUTHORIZATION_FAILED;
            else
                produce_one(b, r, t, idx, recs, rlen, now, &res);
            if (res.err)
                errors++;
            kf_wr_i32(out, idx);
            kf_wr_i16(out, res.err);
            kf_wr_i64(out, res.base_offset);
            if (r->api_version >= 2)
                kf_wr_i64(out, res.log_append_time);
            if (r->api_version >= 5)
                kf_wr_i64(out, res.log_start);
        }
    }
    if (r->api_version >= 1)
        kf_wr_i32(out, 0); /* throttle_time_ms */
    if (acks == 0) {
        /* No response is sent; like Kafka, close the connection on an error
         * so the client learns something went wrong. */
        if (errors) {
            kf_warn("broker", "%s: acks=0 produce had %d failed partition(s); closing connection",
                    r->peer ? r->peer : "?", errors);
            return KB_CLOSE;
        }
        return KB_NORESP;
    }
    return KB_OK;
}

/*
 * InitProducerId.  A null transactional_id gets a fresh producer id with
 * epoch 0; from v3 a client that presents its current id and epoch
 * (KIP-360, after an unresolvable sequence error) gets the same id with
 * the epoch bumped, which resets its sequences on every partition.
 *
 * A non-null transactional_id goes to the transaction coordinator
 * (txn.c): the id keeps its producer id, the epoch is bumped (fencing
 * older producers) and an ongoing transaction of the previous epoch is
 * aborted before the answer.
 */
int kb_h_init_producer_id(kb_broker *b, kb_req *r, kf_buf *out) {
    kf_rd rd;
    kb_req_body(r, &rd);
    int flex = r->flex;
    const char *txn;
    int32_t txn_len = kf_rd_str(&rd, flex, &txn);
    int32_t timeout_ms = kf_rd_i32(&rd);
    int64_t pid = -1;
    int16_t epoch = -1;
    if (r->api_version >= 3) {
        pid = kf_rd_i64(&rd);
        epoch = kf_rd_i16(&rd);
    }
    kf_rd_tags(&rd, flex);
    if (!kf_rd_ok(&rd))
        return KB_CLOSE;

    int16_t err = KF_ERR_NONE;
    int64_t out_pid = -1;
    int16_t out_epoch = -1;
    if (txn_len >= 0 &&
        !kb_authz(b, r, KB_RES_TRANSACTIONAL_ID, txn, (size_t)txn_len, KB_OP_WRITE)) {
        err = KF_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
    } else if (txn_len < 0 && !kb_authz_cluster(b, r, KB_OP_IDEMPOTENT_WRITE) &&
               !kb_authz_any(b, r, KB_RES_TOPIC, KB_OP_WRITE)) {
        /* Kafka 4.0: IDEMPOTENT_WRITE on the cluster, or WRITE on any topic. */
        err = KF_ERR_CLUSTER_AUTHORIZATION_FAILED;
    } else if (txn_len >= 0) {
        err = (int16_t)kb_txn_init_pid(b, txn, (size_t)txn_len, timeout_ms, pid, epoch,
                                       r->api_version, &out_pid, &out_epoch);
    } else if (pid >= 0 && pid < b->next_producer_id && epoch >= 0 && epoch < INT16_MAX - 1) {
        out_pid = pid;
        out_epoch = (int16_t)(epoch + 1);
    } else {
        err = (int16_t)kb_producer_id_alloc(b, &out_pid);
        out_epoch = err ? -1 : 0;
        if (err)
            out_pid = -1;
    }
    kf_wr_i32(out, 0); /* throttle_time_ms */
    kf_wr_i16(out, err);
    kf_wr_i64(out, out_pid);
    kf_wr_i16(out, out_epoch);
    kf_wr_tags(out, flex);
    return KB_OK;
}
