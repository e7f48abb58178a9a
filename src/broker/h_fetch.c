/*
 * h_fetch.c - Fetch (v4-11) and ListOffsets (v1-2).
 *
 * Fetch parses its request once into a plan kept across KB_PARK re-runs
 * (long polling), so a re-run when nothing changed costs a few comparisons
 * per partition; the store appends record data straight into the response.
 * With isolation_level 1 (read_committed) only data below the last stable
 * offset is returned, with the aborted transactions overlapping it.
 * Fetch sessions (KIP-227) are not implemented: every request is a full
 * fetch answered with session id 0, which clients take as "no session".
 */
#include "broker/acl.h"
#include "broker/handlers.h"
#include "broker/store.h"
#include "broker/txn.h"
#include "common/log.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

#define KF_ERR_FETCH_SESSION_ID_NOT_FOUND 70

typedef struct fetch_part {
    int32_t topic; /* index into fetch_plan.topics */
    int32_t partition;
    int64_t offset;
    int32_t max_bytes;
    int64_t size0; /* kb_part_size when last measured (min_bytes > 1) */
} fetch_part;

typedef struct fetch_topic {
    const char *name; /* points into r->frame, which outlives the plan */
    int32_t len;
    int32_t nparts;
    int denied; /* no TOPIC READ: TOPIC_AUTHORIZATION_FAILED */
} fetch_topic;

typedef struct fetch_plan {
    int32_t max_wait_ms;
    int32_t min_bytes;
    int32_t max_bytes;
    int8_t isolation;
    int32_t session_id;
    int measured;   /* bytes0/size0 valid */
    int64_t bytes0; /* bytes readable at the last full read */
    int32_t ntopics;
    int32_t nparts;
    fetch_topic *topics;
    fetch_part *parts;
} fetch_plan;

static void plan_free(void *p) {
    fetch_plan *f = p;
    if (f) {
        free(f->topics);
        free(f->parts);
        free(f);
    }
}

/* Parses the request body; with f->topics/parts NULL it only counts. */
static int plan_parse(const kb_req *r, fetch_plan *f) {
    int16_t v = r->api_version;
    kf_rd rd;
    kb_req_body(r, &rd);
    (void)kf_rd_i32(&rd); /* replica_id: consumers send -1 */
    f->max_wait_ms = kf_rd_i32(&rd);
    f->min_bytes = kf_rd_i32(&rd);
    f->max_bytes = kf_rd_i32(&rd); /* v3+ */
    f->isolation = kf_rd_i8(&rd);  /* v4+ */
    f->session_id = 0;
    if (v >= 7) {
        f->session_id = kf_rd_i32(&rd);
        (void)kf_rd_i32(&rd); /* session_epoch */
    }
    size_t pmin = 4 + 8 + 4 + (v >= 5 ? 8 : 0) + (v >= 9 ? 4 : 0);
    int32_t nt = kf_rd_arr(&rd, 0, 2 + 4);
    if (!kf_rd_ok(&rd) || nt < 0)
        return -1;
    int32_t np = 0;
    for (int32_t i = 0; i < nt; i++) {
        const char *name;
        int32_t len = kf_rd_str(&rd, 0, &name);
        int32_t n = kf_rd_arr(&rd, 0, pmin);
        if (!kf_rd_ok(&rd) || len < 0 || n < 0)
            return -1;
        if (f->topics)
            f->topics[i] = (fetch_topic){name, len, n, 0};
        for (int32_t j = 0; j < n; j++, np++) {
            int32_t part = kf_rd_i32(&rd);
            if (v >= 9)
                (void)kf_rd_i32(&rd); /* current_leader_epoch: clients on Metadata<=4 send -1 */
            int64_t off = kf_rd_i64(&rd);
            if (v >= 5)
                (void)kf_rd_i64(&rd); /* log_start_offset: only followers send it */
            int32_t pmax = kf_rd_i32(&rd);
            if (f->parts)
                f->parts[np] = (fetch_part){i, part, off, pmax < 0 ? 0 : pmax, 0};
        }
    }
    if (v >= 7) { /* forgotten_topics_data: meaningless without sessions */
        int32_t nf = kf_rd_arr(&rd, 0, 2 + 4);
        for (int32_t i = 0; i < nf && kf_rd_ok(&rd); i++) {
            const char *name;
            (void)kf_rd_str(&rd, 0, &name);
            int32_t n = kf_rd_arr(&rd, 0, 4);
            kf_rd_skip(&rd, n > 0 ? (size_t)n * 4 : 0);
        }
    }
    if (v >= 11) {
        const char *rack;
        (void)kf_rd_str(&rd, 0, &rack);
    }
    if (!kf_rd_ok(&rd))
        return -1;
    f->ntopics = nt;
    f->nparts = np;
    return 0;
}

static fetch_plan *plan_build(kb_broker *b, const kb_req *r) {
    fetch_plan *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    if (plan_parse(r, f) < 0) {
        free(f);
        return NULL;
    }
    /* Counts are bounded by the request size (each element needs bytes). */
    f->topics = calloc((size_t)f->ntopics + 1, sizeof(*f->topics));
    f->parts = calloc((size_t)f->nparts + 1, sizeof(*f->parts));
    if (!f->topics || !f->parts || plan_parse(r, f) < 0) {
        plan_free(f);
        return NULL;
    }
    /* authz: TOPIC READ, decided once when the request arrives. */
    for (int32_t i = 0; i < f->ntopics; i++)
        f->topics[i].denied =
            !kb_authz(b, r, KB_RES_TOPIC, f->topics[i].name, (size_t)f->topics[i].len, KB_OP_READ);
    return f;
}

static kb_part *plan_lookup(kb_broker *b, const fetch_plan *f, const fetch_part *fp) {
    const fetch_topic *t = &f->topics[fp->topic];
    if (t->denied)
        return NULL;
    return kb_store_part(b->store, t->name, (size_t)t->len, fp->partition);
}

/* Is there anything to answer right away?  1 when a partition has an
 * error or (for min_bytes <= 1) data; with min_bytes > 1, estimates the
 * readable bytes from how much the logs grew since the last full read. */
static int plan_ready(kb_broker *b, const fetch_plan *f) {
    int64_t est = f->bytes0;
    for (int32_t i = 0; i < f->nparts; i++) {
        const fetch_part *fp = &f->parts[i];
        kb_part *p = plan_lookup(b, f, fp);
        if (!p)
            return 1;
        int64_t end = kb_part_log_end(p);
        if (fp->offset < kb_part_log_start(p) || fp->offset > end)
            return 1;
        if (f->isolation == 1)
            end = kb_txn_lso(p); /* committed data only */
        if (fp->offset < end) {
            if (f->min_bytes <= 1 || !f->measured)
                return 1;
            int64_t grew = kb_part_size(p) - fp->size0;
            if (grew > 0)
                est += grew;
        }
    }
    return f->measured && est >= f->min_bytes;
}

static void plan_measure(kb_broker *b, fetch_plan *f, int64_t bytes) {
    f->measured = 1;
    f->bytes0 = bytes;
    for (int32_t i = 0; i < f->nparts; i++) {
        kb_part *p = plan_lookup(b, f, &f->parts[i]);
        f->parts[i].size0 = p ? kb_part_size(p) : 0;
    }
}

/* Offset after the last whole batch in p[0..len) (batches as the store
 * returned them), or -1 if there is none. Header reads only. */
static int64_t next_offset(const uint8_t *p, size_t len) {
    int64_t next = -1;
    size_t pos = 0;
    while (pos + KF_BATCH_HDR_SIZE <= len) {
        uint32_t blen = kf_be32(p + pos + KF_BATCH_OFF_LENGTH);
        next = (int64_t)kf_be64(p + pos) +
               (int32_t)kf_be32(p + pos + KF_BATCH_OFF_LAST_OFFSET_DELTA) + 1;
        if (blen > len - pos - KF_BATCH_LOG_OVERHEAD)
            break;
        pos += (size_t)blen + KF_BATCH_LOG_OVERHEAD;
    }
    return next;
}

/* Drops the batches at or past offset upto from p[0..len) (whole batches
 * as the store returned them). Returns the length kept. */
static size_t cut_at(const uint8_t *p, size_t len, int64_t upto) {
    size_t pos = 0;
    while (pos + KF_BATCH_HDR_SIZE <= len) {
        if ((int64_t)kf_be64(p + pos) >= upto)
            break;
        uint32_t blen = kf_be32(p + pos + KF_BATCH_OFF_LENGTH);
        if (blen > len - pos - KF_BATCH_LOG_OVERHEAD)
            break;
        pos += (size_t)blen + KF_BATCH_LOG_OVERHEAD;
    }
    return pos;
}

/* Writes the full response.  Returns how "full" it is for min_bytes, as
 * Kafka counts it: a partition whose data goes on past what was returned
 * counts as its whole byte limit (with 1 MiB batches and min_bytes of
 * 1 MB, one returned batch must satisfy the wait). */
static int64_t fetch_respond(kb_broker *b, const kb_req *r, const fetch_plan *f, kf_buf *out) {
    int16_t v = r->api_version;
    kf_wr_i32(out, 0); /* throttle_time_ms */
    if (v >= 7) {
        kf_wr_i16(out, KF_ERR_NONE);
        kf_wr_i32(out, 0); /* session_id: no session */
    }
    int64_t total = 0, readable = 0;
    int64_t max_total = f->max_bytes > 0 ? f->max_bytes : 0;
    kf_wr_arr(out, 0, f->ntopics);
    int32_t pi = 0;
    for (int32_t ti = 0; ti < f->ntopics; ti++) {
        const fetch_topic *t = &f->topics[ti];
        kf_wr_str(out, 0, t->name, t->len);
        kf_wr_arr(out, 0, t->nparts);
        for (int32_t j = 0; j < t->nparts; j++, pi++) {
            const fetch_part *fp = &f->parts[pi];
            kb_part *p =
                t->denied ? NULL : kb_store_part(b->store, t->name, (size_t)t->len, fp->partition);
            int16_t err = KF_ERR_NONE;
            int64_t hw = -1, start = -1, lso = -1, upper = -1;
            if (t->denied) {
                err = KF_ERR_TOPIC_AUTHORIZATION_FAILED;
            } else if (!p) {
                err = KF_ERR_UNKNOWN_TOPIC_OR_PARTITION;
            } else {
                hw = kb_part_log_end(p);
                start = kb_part_log_start(p);
                lso = kb_txn_lso(p);
                upper = f->isolation == 1 ? lso : hw;
                if (fp->offset < start || fp->offset > hw)
                    err = KF_ERR_OFFSET_OUT_OF_RANGE;
            }
            kf_wr_i32(out, fp->partition);
            size_t err_pos = out->len;
            kf_wr_i16(out, err);
            kf_wr_i64(out, hw);
            kf_wr_i64(out, lso);
            if (v >= 5)
                kf_wr_i64(out, start);
            if (f->isolation == 1 && !err)
                kb_txn_write_aborted(p, fp->offset, upper, out);
            else
                kf_wr_arr(out, 0, 0); /* aborted_transactions */
            if (v >= 11)
                kf_wr_i32(out, -1); /* preferred_read_replica */
            size_t len_pos = kf_wr_reserve_i32(out);
            size_t before = out->len;
            /* KIP-74: the first partition with data may exceed the limits
             * by one batch so a large batch can make progress; later
             * partitions only get what fits. */
            int64_t limit = fp->max_bytes;
            if (total > 0 && max_total - total < limit)
                limit = max_total - total;
            else if (total == 0 && max_total < limit)
                limit = max_total;
            if (!err && fp->offset < upper) {
                if (total == 0 || limit > 0) {
                    int e = kb_part_read(p, fp->offset, (size_t)(limit > 0 ? limit : 0), out);
                    if (e) {
                        out->len = before;
                        if (kf_buf_ok(out))
                            kf_put_be16(out->data + err_pos, (uint16_t)e);
                    } else if (total > 0 && (int64_t)(out->len - before) > limit) {
                        out->len = before;
                    } else if (upper < hw && kf_buf_ok(out)) {
                        out->len = before + cut_at(out->data + before, out->len - before, upper);
                    }
                }
            }
            size_t n = kf_buf_ok(out) ? out->len - before : 0;
            kf_wr_patch_i32(out, len_pos, (int32_t)n);
            total += (int64_t)n;
            readable += (int64_t)n;
            if (!err && fp->offset < upper && limit > (int64_t)n &&
                (n == 0 || next_offset(out->data + before, n) < upper))
                readable += limit - (int64_t)n; /* more was there than fit */
        }
    }
    if (max_total > 0 && total >= max_total && readable < INT64_MAX / 2)
        readable = INT64_MAX / 2; /* the response cannot grow: answer */
    return readable;
}

static void session_error(kf_buf *out) {
    kf_wr_i32(out, 0);
    kf_wr_i16(out, KF_ERR_FETCH_SESSION_ID_NOT_FOUND);
    kf_wr_i32(out, 0);
    kf_wr_arr(out, 0, 0);
}

int kb_h_fetch(kb_broker *b, kb_req *r, kf_buf *out) {
    fetch_plan *f = r->park_state;
    int owned = 0; /* f is ours to free (not handed to the request yet) */
    if (!f) {
        f = plan_build(b, r);
        if (!f)
            return KB_CLOSE;
        owned = 1;
    }
    if (f->session_id != 0) {
        /* We never hand out session ids, so any non-zero one is unknown. */
        session_error(out);
        if (owned)
            plan_free(f);
        return KB_OK;
    }
    int64_t now = kf_now_ms();
    int can_wait = f->max_wait_ms > 0 && now < r->arrived_ms + f->max_wait_ms && !b->stopping;
    if (can_wait && !plan_ready(b, f))
        goto park;
    size_t start = out->len;
    int64_t readable = fetch_respond(b, r, f, out);
    if (can_wait && readable < f->min_bytes && kf_buf_ok(out)) {
        out->len = start;
        plan_measure(b, f, readable);
        goto park;
    }
    if (owned)
        plan_free(f);
    return KB_OK;
park:
    if (owned) {
        r->park_state = f;
        r->park_free = plan_free;
    }
    return KB_PARK;
}

int kb_h_list_offsets(kb_broker *b, kb_req *r, kf_buf *out) {
    kf_rd rd;
    kb_req_body(r, &rd);
    int8_t isolation = 0;
    (void)kf_rd_i32(&rd); /* replica_id */
    if (r->api_version >= 2)
        isolation = kf_rd_i8(&rd);
    int32_t nt = kf_rd_arr(&rd, 0, 2 + 4);
    if (!kf_rd_ok(&rd) || nt < 0)
        return KB_CLOSE;
    if (r->api_version >= 2)
        kf_wr_i32(out, 0); /* throttle_time_ms */
    kf_wr_arr(out, 0, nt);
    for (int32_t i = 0; i < nt; i++) {
        const char *name;
        int32_t len = kf_rd_str(&rd, 0, &name);
        int32_t np = kf_rd_arr(&rd, 0, 4 + 8);
        if (!kf_rd_ok(&rd) || len < 0 || np < 0)
            return KB_CLOSE;
        kf_wr_str(out, 0, name, len);
        kf_wr_arr(out, 0, np);
        int denied = !kb_authz(b, r, KB_RES_TOPIC, name, (size_t)len, KB_OP_DESCRIBE);
        for (int32_t j = 0; j < np; j++) {
            int32_t part = kf_rd_i32(&rd);
            int64_t ts = kf_rd_i64(&rd);
            if (!kf_rd_ok(&rd))
                return KB_CLOSE;
            kb_part *p = denied ? NULL : kb_store_part(b->store, name, (size_t)len, part);
            int16_t err = KF_ERR_NONE;
            int64_t rts = -1, off = -1;
            if (denied) {
                err = KF_ERR_TOPIC_AUTHORIZATION_FAILED;
            } else if (!p) {
                err = KF_ERR_UNKNOWN_TOPIC_OR_PARTITION;
            } else if (ts == -1) { /* latest: the LSO for read_committed */
                off = isolation == 1 ? kb_txn_lso(p) : kb_part_log_end(p);
            } else if (ts == -2) { /* earliest */
                off = kb_part_log_start(p);
            } else if (ts == -3) { /* max timestamp (KIP-734) */
                int64_t o = -1;
                int64_t mts = kb_part_max_timestamp(p, &o);
                if (mts >= 0 && o >= 0) {
                    rts = mts;
                    off = o;
                }
            } else if (ts < 0) {
                err = KF_ERR_INVALID_REQUEST;
            } else {
                int64_t found = -1;
                int64_t o = kb_part_offset_for_time(p, ts, &found);
                if (o >= 0) {
                    off = o;
                    rts = found;
                }
            }
            kf_wr_i32(out, part);
            kf_wr_i16(out, err);
            kf_wr_i64(out, rts);
            kf_wr_i64(out, off);
        }
    }
    return KB_OK;
}
