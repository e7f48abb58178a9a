/*
 * replicate.c - the replication loop: consume the source, produce to the
 * target, grow the offset map from delivery reports, persist it.
 *
 * Not here: topic discovery (refresh.c), restart positions (reconcile.c),
 * reporting (progress.c).  Key invariant: a map entry is added only for a
 * record the target acknowledged, in delivery order, which for an
 * idempotent producer is produce order per partition.
 */
#include "mirror/replicate.h"
#include "mirror/retry.h"

#include "common/log.h"
#include "common/util.h"
#include "mirror/aclsync.h"
#include "mirror/clients.h"
#include "mirror/flowlock.h"
#include "mirror/groupsync.h"
#include "mirror/mapstore.h"
#include "mirror/metrics.h"
#include "mirror/mirror.h"
#include "mirror/topicconf.h"
#include "mirror/topics.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t g_stop;

static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

/* One unit of the flow (kferry.workers) held by this process, run by its
 * own thread: a replication engine with its own librdkafka handles, its
 * part of the offset map and its transactional.id.  The main thread serves
 * the lock consumer and tells the unit when the group took it away. */
typedef struct unit_run {
    mirror_config cfg; /* the process's config, with unit and txn_id of this unit */
    const char *holder_id;
    pthread_t th;
    atomic_int revoked; /* the group revoked the unit: stop writing now */
    atomic_int lost;    /* ... without a clean hand-over: write nothing more at all */
    atomic_int done;    /* the thread finished; rc is its answer */
    int rc;
    char start_err[1024];
} unit_run;

/* " (unit 3 of 12)" for logs; static storage per thread. */
static const char *unit_note(const mirror_config *c) {
    static _Thread_local char note[48];
    snprintf(note, sizeof(note), " (unit %d of %d)", c->unit, c->workers);
    return note;
}

/* 1 while this engine's unit is still held. */
static int unit_held(mirror *m) { return !atomic_load(&m->u->revoked); }

void mirror_fatal(mirror *m, int code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    kf_err("mirror", "%s", msg);
    if (!m->fatal) {
        m->fatal = 1;
        m->exit_code = code;
    }
}

/* --- in-flight FIFO ------------------------------------------------------------ */

static int fifo_push(mpart *p, fentry e) {
    if (p->fcount == p->fcap) {
        size_t nc = p->fcap ? p->fcap * 2 : 1024;
        fentry *nf = malloc(nc * sizeof(*nf));
        if (!nf)
            return -1;
        for (size_t i = 0; i < p->fcount; i++)
            nf[i] = p->fifo[(p->fhead + i) % p->fcap];
        free(p->fifo);
        p->fifo = nf;
        p->fcap = nc;
        p->fhead = 0;
    }
    p->fifo[(p->fhead + p->fcount) % p->fcap] = e;
    p->fcount++;
    return 0;
}

static int fifo_pop(mpart *p, fentry *e) {
    if (!p->fcount)
        return -1;
    *e = p->fifo[p->fhead];
    p->fhead = (p->fhead + 1) % p->fcap;
    p->fcount--;
    return 0;
}

static void apply_hole(mirror *m, mpart *p, const fentry *e) {
    int rc = e->kind == F_SKIP  ? om_add_skip(p->map, e->off, e->end, e->origin)
             : e->kind == F_END ? om_set_end(p->map, e->end)
                                : om_put_gap(p->map, e->off, e->end);
    if (rc != 0) {
        p->failed = 1;
        mirror_fatal(m, 1, "%s/%d: cannot record source offsets [%lld, %lld) in the offset map",
                     p->t->src, p->partition, (long long)e->off, (long long)e->end);
    }
}

/* Applies the holes at the head of the FIFO: everything before them is
 * acknowledged. */
static void apply_head_holes(mirror *m, mpart *p) {
    while (p->fcount && p->fifo[p->fhead].kind != F_RECORD && !p->failed) {
        fentry e;
        fifo_pop(p, &e);
        apply_hole(m, p, &e);
    }
}

void mirror_hole(mirror *m, mpart *p, int kind, int64_t start, int64_t end, int64_t origin) {
    fentry e = {start, end, origin, kind};
    if (!p->fcount) {
        apply_hole(m, p, &e);
        return;
    }
    /* consecutive skips of one stretch become one entry */
    fentry *last = &p->fifo[(p->fhead + p->fcount - 1) % p->fcap];
    if (kind == F_SKIP && last->kind == F_SKIP && last->end == start &&
        (origin < 0 ? last->origin < 0 : origin == last->origin + (last->end - last->off))) {
        last->end = end;
        return;
    }
    if (kind == F_END && last->kind == F_END) {
        last->end = end;
        return;
    }
    if (fifo_push(p, e) != 0)
        mirror_fatal(m, 1, "out of memory");
}

int mirror_loop_skip(mirror *m, mpart *p, int64_t off, int at_start) {
    while (p->loop_i < p->nloop && p->loop[p->loop_i].end <= off)
        p->loop_i++;
    if (p->loop_i == p->nloop || p->loop[p->loop_i].start > off)
        return 0;
    const inv_range *r = &p->loop[p->loop_i];
    int64_t end = r->end;
    mirror_hole(m, p, F_SKIP, off, end, r->origin >= 0 ? r->origin + (off - r->start) : -1);
    p->next_src = end;
    p->skipped += end - off;
    m->skipped += end - off;
    kf_debug("mirror",
             "%s/%d: source offsets [%lld, %lld) were written by the opposite flow: "
             "not mirrored back",
             p->t->src, p->partition, (long long)off, (long long)end);
    /* a long stretch: fetch from its end instead of reading it through */
    if (!at_start && end - off > 1000) {
        rd_kafka_consume_stop(p->t->src_rkt, p->partition);
        if (rd_kafka_consume_start_queue(p->t->src_rkt, p->partition, end, m->q) != 0)
            mirror_fatal(m, 1, "%s/%d: cannot restart consumption: %s", p->t->src, p->partition,
                         rd_kafka_err2str(rd_kafka_last_error()));
    }
    return 1;
}

/* --- transactions (kferry.transactions.enabled) ---------------------------------- */

/* A transaction cannot complete: nothing of it may be mapped, so the run
 * ends and the next one resumes from the committed map (the records of
 * this transaction are aborted and written again). */
static void txn_fail(mirror *m, const char *what, const char *why) {
    if (!m->txn_failed)
        kf_warn("txn",
                "%s: %s; the open transaction is abandoned and the flow restarts from the "
                "committed offset map (its records are written again, aborted ones are "
                "invisible to read_committed consumers)",
                what, why);
    m->txn_failed = 1;
}

/* rd_kafka_error_t to a message; destroys it.  1 if it was retriable. */
static int txn_err(rd_kafka_error_t *e, char *out, size_t len) {
    snprintf(out, len, "%s", rd_kafka_error_string(e));
    int retriable = rd_kafka_error_is_retriable(e);
    rd_kafka_error_destroy(e);
    return retriable;
}

/* InitProducerId with the flow's transactional.id: aborts whatever
 * transaction the previous holder left open and fences it, then opens the
 * first transaction.  0; -1 with start_err-style text in err when it may
 * clear by itself (coordinator loading, cluster restarting); -2 when it
 * cannot (not authorized, transactions unsupported). */
static int txn_start(mirror *m, char *err, size_t errlen) {
    int64_t deadline = kf_now_ms() + 60000;
    for (int attempt = 0;; attempt++) {
        rd_kafka_error_t *e = rd_kafka_init_transactions(m->prod, 30000);
        if (!e)
            break;
        char why[512];
        int retriable = txn_err(e, why, sizeof(why));
        if (!retriable || kf_now_ms() >= deadline || g_stop) {
            snprintf(err, errlen, "target cluster %s (%s): InitProducerId for %s: %s",
                     m->cfg->tgt.alias, mc_bootstrap(&m->cfg->tgt), m->cfg->txn_id, why);
            return retriable || g_stop ? -1 : -2;
        }
        kf_warn("txn", "InitProducerId for %s: %s (retrying)", m->cfg->txn_id, why);
        usleep((useconds_t)retry_backoff_ms(attempt) * 1000);
    }
    rd_kafka_error_t *e = rd_kafka_begin_transaction(m->prod);
    if (e) {
        char why[512];
        txn_err(e, why, sizeof(why));
        snprintf(err, errlen, "begin transaction: %s", why);
        return -1;
    }
    m->txn_open = 1;
    kf_notice("txn",
              "writing %s in transactions as %s (previous holders fenced; committed every %d ms)",
              m->cfg->tgt.alias, m->cfg->txn_id, m->cfg->txn_interval_ms);
    return 0;
}

/* Commits the open transaction with the offset map of everything in it:
 * waits for every record's acknowledgement (so its target offset is in the
 * map), queues the map, commits.  Opens the next one unless last.  0, or -1
 * (txn_failed set: the run must end). */
static int txn_commit(mirror *m, int last) {
    if (!m->txn_open || m->txn_failed)
        return -1;
    int64_t deadline = kf_now_ms() + 120000;
    while (rd_kafka_outq_len(m->prod) > 0 && !m->txn_failed && kf_now_ms() < deadline)
        rd_kafka_poll(m->prod, 10);
    if (m->txn_failed)
        return -1;
    if (rd_kafka_outq_len(m->prod) > 0) {
        txn_fail(m, "commit", "records still unacknowledged after 120 s");
        return -1;
    }
    if (mapstore_persist(m->prod, m->map_rkt, &m->map) < 0) {
        txn_fail(m, "commit", "cannot queue the offset-map records");
        return -1;
    }
    for (int attempt = 0;; attempt++) {
        rd_kafka_error_t *e = rd_kafka_commit_transaction(m->prod, 60000);
        if (!e)
            break;
        int abort = rd_kafka_error_txn_requires_abort(e);
        char why[512];
        int retriable = txn_err(e, why, sizeof(why));
        if (!retriable || abort || attempt >= 5) {
            m->txn_open = 0;
            txn_fail(m, "commit", why);
            return -1;
        }
        kf_warn("txn", "commit: %s (retrying)", why);
    }
    m->txn_open = 0;
    m->txn_commits++;
    if (last)
        return 0;
    rd_kafka_error_t *e = rd_kafka_begin_transaction(m->prod);
    if (e) {
        char why[512];
        txn_err(e, why, sizeof(why));
        txn_fail(m, "begin transaction", why);
        return -1;
    }
    m->txn_open = 1;
    return 0;
}

/* --- delivery reports ---------------------------------------------------------- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
    mirror *m = opaque;
    if (m->discarding)
        return; /* lost the flow lock: nothing more may be written or mapped */
    if (msg->_private == &mapstore_opaque || msg->_private == &mapstore_baseline_opaque) {
        if (msg->err && m->cfg->txn)
            txn_fail(m, "offset-map write failed", rd_kafka_err2str(msg->err));
        else if (msg->err)
            mirror_fatal(m, 1, "offset-map write failed: %s", rd_kafka_err2str(msg->err));
        else if (msg->_private == &mapstore_baseline_opaque)
            m->baseline_pending--;
        return;
    }
    mpart *p = msg->_private;
    apply_head_holes(m, p);
    fentry e = {-1, 0, -1, F_RECORD};
    fifo_pop(p, &e);
    int64_t src = e.off;
    if (p->failed)
        return;
    if (msg->err && m->cfg->txn) {
        char what[512];
        snprintf(what, sizeof(what), "delivery of %s/%d source offset %lld failed", p->t->src,
                 p->partition, (long long)src);
        txn_fail(m, what, rd_kafka_err2str(msg->err));
        return;
    }
    if (msg->err) {
        p->failed = 1;
        mirror_fatal(m, 1, "delivery of %s/%d source offset %lld failed: %s", p->t->src,
                     p->partition, (long long)src, rd_kafka_err2str(msg->err));
        return;
    }
    if (src < 0 || om_append(p->map, src, msg->offset) != 0) {
        p->failed = 1;
        mirror_fatal(m, 1,
                     "%s/%d: target offset %lld for source offset %lld breaks the offset map "
                     "(another writer on %s?)",
                     p->t->src, p->partition, (long long)msg->offset, (long long)src, p->t->tgt);
        return;
    }
    p->delivered++;
    p->delivered_bytes += (int64_t)msg->len + (int64_t)msg->key_len;
    m->delivered++;
    m->delivered_bytes += (int64_t)msg->len + (int64_t)msg->key_len;
    apply_head_holes(m, p);
}

/* --- gaps ------------------------------------------------------------------------ */

void mirror_gap(mirror *m, mpart *p, int64_t lo) {
    int64_t start = p->next_src, n = lo - start;
    m->gaps++;
    m->gap_records += n;
    kf_err("gap",
           "GAP %s/%d: source offsets [%lld, %lld) (%lld records) were deleted by the source "
           "before kferry mirrored them",
           p->t->src, p->partition, (long long)start, (long long)lo, (long long)n);
    if (m->cfg->gap_policy == MC_GAP_STOP) {
        mirror_fatal(m, 3,
                     "stopping (kferry.gap.policy=stop); set kferry.gap.policy=continue to "
                     "record the gap and go on");
        return;
    }
    mirror_hole(m, p, F_GAP, start, lo, -1);
    p->next_src = lo;
    kf_warn("gap", "%s/%d: gap recorded in the offset map; continuing at %lld", p->t->src,
            p->partition, (long long)lo);
}

/* The consumer reported offset-out-of-range for p. */
static void on_out_of_range(mirror *m, mpart *p) {
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t e = retry_watermarks(m->src, p->t->src, p->partition, &lo, &hi, 10000);
    if (e) {
        kf_warn("mirror", "%s/%d: offset out of range, watermarks unavailable (%s); retrying",
                p->t->src, p->partition, rd_kafka_err2str(e));
        lo = p->next_src;
    } else if (p->next_src > hi) {
        mirror_fatal(m, 1,
                     "%s/%d: source log end %lld is below the mirrored position %lld: the "
                     "source partition was truncated or recreated",
                     p->t->src, p->partition, (long long)hi, (long long)p->next_src);
        return;
    } else if (p->next_src < lo) {
        if (p->tail_i < p->tail_n) {
            mirror_fatal(m, 1, "%s/%d: source records needed for reconciliation were deleted",
                         p->t->src, p->partition);
            return;
        }
        mirror_gap(m, p, lo);
        if (m->fatal)
            return;
    }
    rd_kafka_consume_stop(p->t->src_rkt, p->partition);
    if (rd_kafka_consume_start_queue(p->t->src_rkt, p->partition, p->next_src, m->q) != 0)
        mirror_fatal(m, 1, "%s/%d: cannot restart consumption: %s", p->t->src, p->partition,
                     rd_kafka_err2str(rd_kafka_last_error()));
}

/* --- the copy ------------------------------------------------------------------ */

static void produce_one(mirror *m, mpart *p, const rd_kafka_message_t *msg) {
    if (m->txn_failed)
        return; /* the run is ending; nothing more goes into a lost transaction */
    rd_kafka_headers_t *hdrs = NULL, *copy = NULL;
    if (rd_kafka_message_headers(msg, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs)
        copy = rd_kafka_headers_copy(hdrs);
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(msg, &tstype);
    if (tstype == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE || ts < 0)
        ts = 0; /* producer assigns the current time */
    int unknown_tries = 0;
    int64_t unknown_deadline = 0;
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            m->prod, RD_KAFKA_V_RKT(p->t->tgt_rkt), RD_KAFKA_V_PARTITION(p->partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(msg->key, msg->key_len),
            RD_KAFKA_V_VALUE(msg->payload, msg->len), RD_KAFKA_V_TIMESTAMP(ts),
            RD_KAFKA_V_HEADERS(copy), RD_KAFKA_V_OPAQUE(p), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(m->prod, 5); /* backpressure: the target is the limit */
            if (!m->lock_ended && !unit_held(m))
                m->lock_ended = 1;
            if (m->fatal || m->lock_ended) {
                if (copy)
                    rd_kafka_headers_destroy(copy);
                return;
            }
            continue;
        }
        if ((e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION || e == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC) &&
            !retry_interrupted()) {
            /* A topic just created or a partition just added: on a
             * multi-broker cluster the brokers learn about it one after the
             * other, and librdkafka 2.0.2 believes the first Metadata answer
             * it gets: from a broker that does not know the topic yet it
             * sets the partition count to 0 and fails produce() at once
             * with "Local: Unknown topic" until a later refresh.  Wait for
             * its metadata, up to a minute. */
            int64_t now = kf_now_ms();
            if (!unknown_deadline) {
                unknown_deadline = now + 60000;
                kf_info("mirror",
                        "%s/%d: target %s not in the producer's metadata yet (%s): waiting",
                        p->t->src, p->partition, p->t->tgt, rd_kafka_err2str(e));
            }
            if (now < unknown_deadline) {
                const struct rd_kafka_metadata *md = NULL;
                if (!rd_kafka_metadata(m->prod, 0, p->t->tgt_rkt, &md, 5000))
                    rd_kafka_metadata_destroy(md);
                rd_kafka_poll(m->prod, retry_backoff_ms(unknown_tries++));
                continue;
            }
        }
        if (e && m->cfg->txn) { /* e.g. fenced: the transaction is lost, not the flow */
            if (copy)
                rd_kafka_headers_destroy(copy);
            char what[512];
            snprintf(what, sizeof(what), "%s/%d: cannot produce to %s", p->t->src, p->partition,
                     p->t->tgt);
            txn_fail(m, what, rd_kafka_err2str(e));
            return;
        }
        if (e) {
            if (copy)
                rd_kafka_headers_destroy(copy);
            mirror_fatal(m, 1, "%s/%d: cannot produce to %s: %s%s", p->t->src, p->partition,
                         p->t->tgt, rd_kafka_err2str(e),
                         unknown_deadline ? " (for 60 s: check that the target topic exists and "
                                            "that kferry may describe and write it)"
                                          : "");
            return;
        }
        break;
    }
    if (fifo_push(p, (fentry){msg->offset, 0, -1, F_RECORD}) != 0) {
        mirror_fatal(m, 1, "out of memory");
        return;
    }
    m->produced++;
}

static void handle(mirror *m, const rd_kafka_message_t *msg) {
    mtopic *t = rd_kafka_topic_opaque(msg->rkt);
    if (!t || msg->partition < 0 || msg->partition >= t->nparts)
        return;
    mpart *p = t->parts[msg->partition];
    if (p->state != P_RUNNING || p->failed || m->lock_ended)
        return;
    if (msg->err) {
        if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* The consumer is at the end it may read (the high watermark,
             * or the last stable offset under read_committed) and its
             * position can be past the last record: transaction markers,
             * aborted records and compacted offsets are never delivered.
             * Without this the map would end at the last record and a
             * source position after a commit marker (what a consumer group
             * that read everything commits) would never translate. */
            if (msg->offset > p->next_src && p->tail_i >= p->tail_n) {
                mirror_hole(m, p, F_END, p->next_src, msg->offset, -1);
                p->next_src = msg->offset;
            }
            return;
        }
        if (msg->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
            msg->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
            on_out_of_range(m, p);
            return;
        }
        /* librdkafka retries by itself; say so once per error and minute */
        retry_note("%s/%d: consumer: %s", t->src, p->partition, rd_kafka_message_errstr(msg));
        int64_t now = kf_now_ms();
        if (msg->err != p->last_err || now - p->last_err_ms > 60000) {
            kf_warn("mirror", "%s/%d: consumer: %s (retrying)", t->src, p->partition,
                    rd_kafka_message_errstr(msg));
            p->last_err = msg->err;
            p->last_err_ms = now;
        }
        return;
    }
    if (msg->offset < p->next_src)
        return; /* re-delivery after a restart of the partition */
    if (p->nloop && mirror_loop_skip(m, p, msg->offset, 0))
        return; /* written by the opposite flow: never mirrored back */
    if (p->tail_i < p->tail_n) {
        if (reconcile_match(m, p, msg) == 0)
            p->next_src = msg->offset + 1;
        return;
    }
    produce_one(m, p, msg);
    p->next_src = msg->offset + 1;
    int64_t ts = rd_kafka_message_timestamp(msg, NULL);
    if (ts > 0)
        p->last_ts = ts;
}

/* The source topics' retention.ms, for the retention-risk metric
 * (progress.c); a topic not answered keeps what it had. */
static void load_retention(mirror *m) {
    const char **names = calloc(m->ntopics + 1, sizeof(*names));
    int64_t *ms = calloc(m->ntopics + 1, sizeof(*ms));
    size_t n = 0;
    for (size_t i = 0; names && ms && i < m->ntopics; i++)
        if (!m->topics[i]->gone)
            names[n++] = m->topics[i]->src;
    if (n)
        topics_retention(m->src, names, n, ms, 5000);
    for (size_t i = 0, k = 0; n && i < m->ntopics; i++)
        if (!m->topics[i]->gone) {
            if (ms[k] != INT64_MIN)
                m->topics[i]->retention_ms = ms[k];
            k++;
        }
    free(names);
    free(ms);
}

/* --- setup and shutdown ---------------------------------------------------------- */

static void stop_consuming(mirror *m) {
    for (size_t i = 0; i < m->ntopics; i++) {
        mtopic *t = m->topics[i];
        for (int k = 0; k < t->nparts; k++)
            if (t->parts[k]->state == P_RUNNING) {
                rd_kafka_consume_stop(t->src_rkt, k);
                t->parts[k]->state = P_STOPPED;
            }
    }
    rd_kafka_message_t *msgs[1000];
    ssize_t got;
    while ((got = rd_kafka_consume_batch_queue(m->q, 0, msgs, 1000)) > 0)
        for (ssize_t i = 0; i < got; i++)
            rd_kafka_message_destroy(msgs[i]);
}

static void free_topics(mirror *m) {
    for (size_t i = 0; i < m->ntopics; i++) {
        mtopic *t = m->topics[i];
        for (int k = 0; k < t->nparts; k++) {
            free(t->parts[k]->fifo);
            free(t->parts[k]->tail_hash);
            free(t->parts[k]->tail_have);
            free(t->parts[k]->tail_foreign);
            free(t->parts[k]->loop);
            free(t->parts[k]->foreign);
            free(t->parts[k]);
        }
        free(t->parts);
        if (t->src_rkt)
            rd_kafka_topic_destroy(t->src_rkt);
        if (t->tgt_rkt)
            rd_kafka_topic_destroy(t->tgt_rkt);
        free(t->src);
        free(t->tgt);
        free(t);
    }
    free(m->topics);
    for (size_t i = 0; i < m->nnoted; i++)
        free(m->noted[i]);
    free(m->noted);
}

/* Flushes data, then persists the map, then flushes the map records. */
static void shutdown_flush(mirror *m) {
    if (m->cfg->txn && m->txn_failed) {
        kf_warn("txn", "the open transaction failed: nothing more is written; the next start "
                       "resumes from the committed offset map");
        return;
    }
    int64_t deadline = kf_now_ms() + (int64_t)m->cfg->shutdown_timeout_s * 1000;
    while (rd_kafka_outq_len(m->prod) > 0 && kf_now_ms() < deadline)
        rd_kafka_poll(m->prod, 50);
    int inflight = rd_kafka_outq_len(m->prod);
    if (mapstore_persist(m->prod, m->map_rkt, &m->map) < 0)
        kf_err("map", "could not queue the final offset-map records");
    progress_tick(m, kf_now_ms(), 1);
    rd_kafka_flush(m->prod, 10000);
    int left = rd_kafka_outq_len(m->prod);
    /* "clean": every record written is in the persisted map, which the
     * opposite flow requires before it starts (loop prevention) */
    int complete = (!m->fatal || m->exit_code == 3) && !inflight && !left;
    progress_status(m, 0, complete);
    rd_kafka_flush(m->prod, 10000);
    if (m->cfg->txn && txn_commit(m, 1) != 0) {
        kf_warn("txn", "the last transaction was not committed: the next start resumes from the "
                       "committed offset map and writes its records again");
        return;
    }
    if (inflight || left)
        kf_warn("mirror",
                "%d record(s) still in flight at shutdown; the next start reconciles them "
                "against the target (none is lost or duplicated)",
                left > inflight ? left : inflight);
    else
        kf_notice("map", "offset map persisted");
}

/* run_holder's answers besides an exit code: the lock ended (back to
 * standby), or a start-up step met a condition that may clear by itself
 * (cluster unreachable or restarting; the cause is in the unit's
 * start_err), or a transaction failed and the run restarts. */
enum { RUN_LOCK_ENDED = -1, RUN_START_RETRY = -2, RUN_RESTART = -3 };

/* 1 if the status record says its writer was running when it last wrote
 * (it did not stop cleanly); holder gets the writer's lock client id. */
static int status_running(const char *status, char *holder, size_t holderlen) {
    holder[0] = 0;
    json_t *o = status[0] ? json_loads(status, 0, NULL) : NULL;
    int running = o && json_is_true(json_object_get(o, "running"));
    const char *h = json_string_value(json_object_get(o, "holder"));
    snprintf(holder, holderlen, "%s", h ? h : "an older kferry");
    json_decref(o);
    return running;
}

/* With kferry.workers > 1: narrows the flow's status (mapstore.c merges
 * every unit's) to this unit's own record, or "" if it has none yet. */
static void own_unit_status(char *status, size_t len, const mirror_config *c) {
    if (c->workers <= 1 || !status[0])
        return;
    json_t *o = json_loads(status, 0, NULL), *units = json_object_get(o, "units"), *x;
    json_t *mine = NULL;
    size_t i;
    json_array_foreach(units, i, x) {
        if (json_integer_value(json_object_get(x, "unit")) == c->unit &&
            json_object_get(x, "workers"))
            mine = x;
    }
    if (!units && json_integer_value(json_object_get(o, "unit")) == c->unit &&
        json_object_get(o, "workers"))
        mine = o;
    char *text = mine ? json_dumps(mine, JSON_COMPACT) : NULL;
    snprintf(status, len, "%s", text ? text : "");
    free(text);
    json_decref(o);
}

/* Waits ms while the unit is held; 0 if it was held throughout. */
static int hold_for(mirror *m, int ms) {
    int64_t end = kf_now_ms() + ms;
    while (!g_stop && kf_now_ms() < end) {
        if (!unit_held(m)) {
            m->lock_ended = 1;
            return -1;
        }
        usleep(50000);
    }
    return g_stop ? -1 : 0;
}

/* One holding period: everything `kferry mirror` writes happens in here,
 * after the flow lock was acquired.  Returns the exit status, or
 * RUN_LOCK_ENDED when the lock was revoked or lost. */
/* sync.topic.acls.enabled: one `kferry acls apply` (every phase) from the
 * holder; a failure is logged and retried at the next interval, never
 * fatal to the mirror.  It blocks the loop while the clusters answer. */
static void acl_sync_once(mirror *m) {
    as_result r;
    char err[1024];
    if (as_run(m->cfg, m->src, m->prod, 1, AS_PHASE_ALL, &r, err, sizeof(err)) != 0)
        kf_warn("acls", "ACL sync failed (retried in %ds): %s", m->cfg->sync_acls_s, err);
    else if (r.created.n)
        kf_notice("acls", "ACL sync: created %zu ACL(s) on %s (%zu already there, %zu not copied)",
                  r.created.n, m->cfg->tgt.alias, r.present.n, r.skipped.n);
    else
        kf_info("acls", "ACL sync: %s has all %zu ACL(s) (%zu not copied)", m->cfg->tgt.alias,
                r.present.n, r.skipped.n);
    as_result_free(&r);
}

static int run_holder(unit_run *u) {
    mirror_config *c = &u->cfg;
    mirror m;
    memset(&m, 0, sizeof(m));
    m.cfg = c;
    m.u = u;
    m.holder_id = u->holder_id;
    snprintf(m.flow, sizeof(m.flow), "%s->%s", c->src.alias, c->tgt.alias);
    if (c->workers > 1)
        snprintf(m.status_key, sizeof(m.status_key), "%s#%d", m.flow, c->unit);
    else
        snprintf(m.status_key, sizeof(m.status_key), "%s", m.flow);
    offmap_init(&m.map);
    char err[512];
    int rc = 1;

    inv_init(&m.inv);
    m.src = clients_consumer(c, &c->src, "mirror", 1); /* EOF: see handle() */
    m.tgt_reader = clients_consumer(c, &c->tgt, "reader", 1);
    m.src_reader = clients_consumer(c, &c->src, "loop", 1);
    m.prod = clients_flow_producer(c, on_delivery, &m);
    if (!m.src || !m.tgt_reader || !m.src_reader || !m.prod)
        goto out;
    /* both clusters answer, or the start-up is retried naming the one that
     * does not (a cluster restarting or still booting) */
    if (clients_probe(m.src, &c->src, CLIENTS_PROBE_TIMEOUT_MS, u->start_err,
                      sizeof(u->start_err)) ||
        clients_probe(m.tgt_reader, &c->tgt, CLIENTS_PROBE_TIMEOUT_MS, u->start_err,
                      sizeof(u->start_err))) {
        rc = RUN_START_RETRY;
        goto out;
    }
    m.q = rd_kafka_queue_new(m.src);
    /* transactions mode: fence the previous holder (its open transaction
     * is aborted) before reading the map, which then holds only what was
     * committed */
    if (c->txn) {
        int t = txn_start(&m, u->start_err, sizeof(u->start_err));
        if (t == -2) {
            kf_err("txn",
                   "%s (kferry.transactions.enabled=true needs a target with transactions and "
                   "Write on the TransactionalId %s for kferry's principal)",
                   u->start_err, c->txn_id);
            rc = 1;
            goto out;
        }
        if (t != 0) {
            rc = RUN_START_RETRY;
            goto out;
        }
    }

    topic_list tl;
    if (topics_list(m.prod, &tl, 30000) != 0) {
        snprintf(u->start_err, sizeof(u->start_err),
                 "cannot read metadata from target cluster %s (%s)", c->tgt.alias,
                 mc_bootstrap(&c->tgt));
        rc = RUN_START_RETRY;
        goto out;
    }
    m.brokers = tl.brokers;
    topics_list_free(&tl);
    int found = 0;
    char own_status[65536];
    if (mapstore_load(m.tgt_reader, c->map_topic, &m.map, &found, own_status, sizeof(own_status),
                      err, sizeof(err))) {
        snprintf(u->start_err, sizeof(u->start_err),
                 "target cluster %s (%s): cannot load the offset map: %s", c->tgt.alias,
                 mc_bootstrap(&c->tgt), err);
        rc = RUN_START_RETRY;
        goto out;
    }
    /* A previous holder that did not stop cleanly may still be alive (cut
     * off from the group coordinator): it stops writing once its own session
     * times out.  Wait that long before the first write, then read the map
     * again with whatever it persisted meanwhile. */
    own_unit_status(own_status, sizeof(own_status), c);
    char prev[320];
    if (status_running(own_status, prev, sizeof(prev))) {
        kf_notice("lock",
                  "the previous holder of flow %s (%s) did not stop cleanly: waiting %d ms "
                  "(kferry.lock.session.timeout.ms) before writing, so that it has stopped if "
                  "it is still alive",
                  m.flow, prev, c->lock_session_ms);
        if (hold_for(&m, c->lock_session_ms) != 0) {
            rc = g_stop ? 0 : RUN_LOCK_ENDED; /* nothing was written */
            goto out;
        }
        offmap_free(&m.map);
        offmap_init(&m.map);
        if (mapstore_load(m.tgt_reader, c->map_topic, &m.map, &found, own_status,
                          sizeof(own_status), err, sizeof(err))) {
            snprintf(u->start_err, sizeof(u->start_err),
                     "target cluster %s (%s): cannot load the offset map: %s", c->tgt.alias,
                     mc_bootstrap(&c->tgt), err);
            rc = RUN_START_RETRY;
            goto out;
        }
    }
    if (!found && topics_ensure_map_topic(c, m.prod, m.tgt_reader, m.brokers) != 0) {
        snprintf(u->start_err, sizeof(u->start_err),
                 "target cluster %s (%s): cannot create or find the offset-map topic %s",
                 c->tgt.alias, mc_bootstrap(&c->tgt), c->map_topic);
        rc = RUN_START_RETRY;
        goto out;
    }
    m.map_rkt = rd_kafka_topic_new(m.prod, c->map_topic, NULL);
    /* Loop prevention: the opposite flow's map, on our source.  Saying
     * "running" (acknowledged) before looking at the opposite flow's status
     * means two flows started at once cannot both miss each other. */
    own_unit_status(own_status, sizeof(own_status), c);
    int was_clean = inv_status_clean(own_status);
    progress_status(&m, 1, 0);
    rd_kafka_flush(m.prod, 30000);
    if (c->txn && txn_commit(&m, 0) != 0) {
        snprintf(u->start_err, sizeof(u->start_err),
                 "target cluster %s (%s): the first transaction failed", c->tgt.alias,
                 mc_bootstrap(&c->tgt));
        rc = RUN_START_RETRY;
        goto out;
    }
    char why[1536] = "";
    if (inv_load(c, m.src_reader, &m.inv, err, sizeof(err))) {
        snprintf(u->start_err, sizeof(u->start_err),
                 "source cluster %s (%s): cannot read the opposite flow's offset map %s: %s",
                 c->src.alias, mc_bootstrap(&c->src), c->opposite_map_topic, err);
        progress_status(&m, 0, was_clean); /* this run wrote nothing */
        rd_kafka_flush(m.prod, 30000);
        rc = RUN_START_RETRY;
        goto out;
    } else if (inv_check_stopped(&m.inv, c, err, sizeof(err))) {
        char proof[512] = "";
        if (c->opposite_stopped &&
            inv_fully_mapped(&m.inv, c, m.tgt_reader, proof, sizeof(proof))) {
            kf_warn("mirror",
                    "the opposite flow %s->%s did not stop cleanly (%s), but "
                    "kferry.opposite.stopped=true and its map covers all it could have copied: "
                    "starting",
                    c->tgt.alias, c->src.alias, err);
        } else if (c->opposite_stopped) {
            snprintf(why, sizeof(why),
                     "the opposite flow %s->%s is not stopped cleanly (%s) and "
                     "kferry.opposite.stopped=true cannot be honoured: %s",
                     c->tgt.alias, c->src.alias, err, proof);
        } else {
            snprintf(why, sizeof(why),
                     "the opposite flow %s->%s (offset map %s on %s) is not stopped cleanly: %s. "
                     "kferry does not mirror both directions at once on the same topics; stop it "
                     "with SIGTERM (if it was killed, start it again and stop it with SIGTERM so "
                     "it maps its last records, or, if it cannot be restarted, set "
                     "kferry.opposite.stopped=true), then start this flow",
                     c->tgt.alias, c->src.alias, c->opposite_map_topic, c->src.alias, err);
        }
    }
    if (why[0]) {
        kf_err("mirror", "%s", why);
        progress_status(&m, 0, was_clean); /* this run wrote nothing */
        rd_kafka_flush(m.prod, 30000);
        goto out;
    }
    if (!m.inv.found)
        kf_info("mirror", "no offset map of an opposite flow %s->%s (%s) on %s: nothing to skip",
                c->tgt.alias, c->src.alias, c->opposite_map_topic, c->src.alias);
    else
        kf_notice("mirror",
                  "loop prevention: records the opposite flow %s->%s wrote (offset map %s) are "
                  "not mirrored back",
                  c->tgt.alias, c->src.alias, c->opposite_map_topic);
    if (!unit_held(&m))
        m.lock_ended = 1;
    else if (c->unit == 0)
        groupsync_start(c); /* own thread and clients (groupsync.c); failure is logged */

    if (!m.lock_ended && refresh_topics(&m) != 0 && !m.fatal)
        kf_warn("mirror", "initial topic discovery failed; retrying every %ds", c->refresh_s);
    if (!m.lock_ended)
        kf_notice("mirror", "mirroring %s (%zu topic(s)) as the flow's holder %s%s", m.flow,
                  m.ntopics, u->holder_id, c->workers > 1 ? unit_note(c) : "");

    int64_t now = kf_now_ms();
    int64_t next_persist = now + c->map_persist_ms;
    int64_t next_refresh = now + (int64_t)c->refresh_s * 1000;
    int64_t next_tick = now + 1000;
    int64_t next_sync = now + (int64_t)c->sync_configs_s * 1000;
    int64_t next_acls = now + 1000;      /* sync.topic.acls.enabled: soon after start */
    int64_t next_retention = now + 1000; /* metrics: the source topics' retention.ms */
    int64_t next_commit = now + c->txn_interval_ms;
    rd_kafka_message_t *msgs[10000];
    while (!g_stop && !m.fatal && !m.lock_ended && !m.txn_failed) {
        /* the lock first: a revoked or lost holder hands over nothing more */
        if (!unit_held(&m)) {
            m.lock_ended = 1;
            break;
        }
        ssize_t got = rd_kafka_consume_batch_queue(m.q, 100, msgs, 10000);
        for (ssize_t i = 0; i < got; i++) {
            if (!m.fatal)
                handle(&m, msgs[i]);
            rd_kafka_message_destroy(msgs[i]);
        }
        rd_kafka_poll(m.prod, 0);
        if (m.lock_ended)
            break;
        now = kf_now_ms();
        if (c->txn && now >= next_commit) {
            if (txn_commit(&m, 0) != 0)
                break;
            next_commit = kf_now_ms() + c->txn_interval_ms;
        } else if (!c->txn && now >= next_persist) {
            if (mapstore_persist(m.prod, m.map_rkt, &m.map) < 0)
                mirror_fatal(&m, 1, "cannot queue offset-map records");
            next_persist = now + c->map_persist_ms;
        }
        if (now >= next_refresh) {
            refresh_opposite(&m);
            refresh_topics(&m);
            next_refresh = kf_now_ms() + (int64_t)c->refresh_s * 1000;
        }
        if (c->unit == 0 && c->sync_topic_configs && c->sync_configs_s > 0 && now >= next_sync) {
            int nt = 0, nc = 0, nf = 0;
            for (size_t i = 0; i < m.ntopics && !g_stop; i++)
                if (!m.topics[i]->gone) {
                    int r = tconf_sync(m.src, m.prod, m.topics[i]->src, m.topics[i]->tgt);
                    nt++;
                    nc += r > 0;
                    nf += r < 0;
                }
            m.csync_ms = kf_wall_ms();
            m.csync_topics = nt;
            m.csync_changed = nc;
            m.csync_failed = nf;
            next_sync = kf_now_ms() + (int64_t)c->sync_configs_s * 1000;
        }
        if (c->unit == 0 && c->sync_acls && now >= next_acls) {
            acl_sync_once(&m);
            next_acls = kf_now_ms() + (int64_t)c->sync_acls_s * 1000;
        }
        if (c->metrics_port && now >= next_retention) {
            load_retention(&m);
            next_retention = kf_now_ms() + 60000;
        }
        if (now >= next_tick) {
            progress_tick(&m, now, 0);
            next_tick = now + 1000;
        }
        char fe[512];
        rd_kafka_resp_err_t ferr = rd_kafka_fatal_error(m.prod, fe, sizeof(fe));
        if (ferr && c->txn)
            txn_fail(&m, "target producer", fe); /* e.g. fenced: the lock decides who goes on */
        else if (ferr)
            mirror_fatal(&m, 1, "target producer failed: %s", fe);
    }
    if (c->unit == 0)
        groupsync_stop(); /* it writes to the target too */
    if (m.txn_failed && !m.lock_ended && !g_stop && !m.fatal) {
        /* nothing of the failed transaction is kept: drop what is queued and
         * start again from the committed map (the lock is still held) */
        m.discarding = 1;
        stop_consuming(&m);
        rd_kafka_purge(m.prod, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(m.prod, 0);
        rc = RUN_RESTART;
        goto out;
    }
    if (m.lock_ended && atomic_load(&u->lost)) {
        /* Another process may hold the flow now: write nothing more, not
         * even the map.  What reached the target unmapped is reconciled by
         * the next holder. */
        m.discarding = 1;
        stop_consuming(&m);
        int left = rd_kafka_outq_len(m.prod);
        rd_kafka_purge(m.prod, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(m.prod, 0);
        kf_warn("lock",
                "flow lock lost: %d record(s) and map update(s) not yet acknowledged were "
                "discarded; the next holder reconciles whatever of them reached the target",
                left);
        rc = g_stop ? 0 : RUN_LOCK_ENDED;
        goto out;
    }
    if (g_stop)
        kf_notice("mirror", "signal received: flushing and persisting the offset map");
    else if (m.lock_ended)
        kf_notice("lock", "flow lock revoked: flushing and persisting the offset map before "
                          "the group may hand the flow on");
    stop_consuming(&m);
    shutdown_flush(&m);
    rc = m.fatal ? m.exit_code : m.lock_ended && !g_stop ? RUN_LOCK_ENDED : 0;
out:
    if (c->unit == 0)
        groupsync_stop();
    if (c->metrics_port)
        metrics_unit_ended(c->unit);
    if (m.q)
        rd_kafka_queue_destroy(m.q);
    free_topics(&m);
    if (m.map_rkt)
        rd_kafka_topic_destroy(m.map_rkt);
    if (m.prod)
        rd_kafka_destroy(m.prod);
    if (m.src)
        rd_kafka_destroy(m.src);
    if (m.tgt_reader)
        rd_kafka_destroy(m.tgt_reader);
    if (m.src_reader)
        rd_kafka_destroy(m.src_reader);
    inv_free(&m.inv);
    offmap_free(&m.map);
    return rc;
}

static void publish_standby_metrics(const mirror_config *c) {
    if (!c->metrics_port)
        return;
    static const char text[] =
        "# HELP kferry_mirror_flow_holder 1 while this process holds the flow lock (writes), 0 "
        "as a standby.\n# TYPE kferry_mirror_flow_holder gauge\nkferry_mirror_flow_holder 0\n";
    metrics_publish(text, sizeof(text) - 1);
}

/* Waits as a standby (writing nothing) until this process holds the flow;
 * logs who holds it.  1 once holding, 0 on a stop signal or failure, -1 when
 * the target refuses the lock group's settings (logged). */
static int standby_wait(const mirror_config *c, flowlock *fl) {
    int interval = c->status_interval_s > 0 ? c->status_interval_s : 30;
    int64_t next_log = kf_now_ms() + 1500; /* alone, the lock comes within a moment */
    char last[320] = "";
    publish_standby_metrics(c);
    while (!g_stop) {
        if (fl_poll(fl, 200))
            return 1;
        if (fl->refused)
            return -1;
        if (fl->ended) { /* the lock consumer failed: rejoin */
            if (fl_after_end(fl, &g_stop) != 0)
                return 0;
            continue;
        }
        int64_t now = kf_now_ms();
        if (now < next_log)
            continue;
        next_log = now + (int64_t)interval * 1000;
        fl_view v;
        char err[512];
        if (fl_describe(fl->rk, c, &v, err, sizeof(err)) != 0) {
            kf_warn("lock", "standby: cannot describe flow-lock group %s yet: %s (retrying)",
                    c->lock_group, err);
        } else if (c->workers > 1) {
            kf_info("lock",
                    "standby: flow-lock group %s is %s with %d member(s) holding %d of the flow's "
                    "%d unit(s); this process (%s) holds none and writes nothing (more processes "
                    "than units, or a rebalance in progress)",
                    c->lock_group, v.state, v.members, v.units_held, c->workers, fl->client_id);
        } else if (v.found) {
            kf_log(strcmp(last, v.holder) ? KF_LOG_NOTICE : KF_LOG_INFO, "lock",
                   "standby: flow %s->%s is held by %s (host %s); this process (%s) writes "
                   "nothing and takes over when the holder stops or its session expires "
                   "(kferry.lock.session.timeout.ms=%d)",
                   c->src.alias, c->tgt.alias, v.holder, v.host, fl->client_id, c->lock_session_ms);
            snprintf(last, sizeof(last), "%s", v.holder);
        } else {
            kf_info("lock",
                    "standby: flow-lock group %s is %s with %d member(s) and no holder yet "
                    "(rebalancing); waiting",
                    c->lock_group, v.state, v.members);
        }
    }
    return 0;
}

/* Waits ms while the unit is held and the process runs. */
static void unit_nap(unit_run *u, int ms) {
    for (int64_t end = kf_now_ms() + ms; !g_stop && !atomic_load(&u->revoked) && kf_now_ms() < end;)
        usleep(50000);
}

/* A unit's thread: runs it, retrying a start-up that may clear by itself
 * and restarting after a failed transaction, until the unit is revoked, the
 * process stops, or a run ends with an exit status. */
static void *unit_main(void *arg) {
    unit_run *u = arg;
    const mirror_config *c = &u->cfg;
    int64_t start_deadline = 0;
    int attempt = 0, rc = 0;
    while (!g_stop && !atomic_load(&u->revoked)) {
        rc = run_holder(u);
        if (rc != RUN_START_RETRY) { /* a run that started: later retries get their own deadline */
            start_deadline = 0;
            attempt = 0;
        }
        if (rc == RUN_START_RETRY) {
            int64_t now = kf_now_ms();
            if (!start_deadline)
                start_deadline = now + (int64_t)c->startup_timeout_s * 1000;
            if (now >= start_deadline) {
                kf_err("mirror",
                       "%s; still failing after %d s of retries "
                       "(kferry.startup.timeout.seconds): check that the address is right and "
                       "reachable from this host and that the cluster is up (`kferry plan` "
                       "tests both clusters)",
                       u->start_err, c->startup_timeout_s);
                rc = 1;
                break;
            }
            retry_note("start-up: %s", u->start_err);
            int ms = retry_backoff_ms(attempt + 4); /* 1.6 s, then 2 s */
            kf_warn("mirror",
                    "start-up%s: %s (attempt %d; retrying in %.1f s, giving up in %lld s)",
                    c->workers > 1 ? unit_note(c) : "", u->start_err, ++attempt, ms / 1000.0,
                    (long long)((start_deadline - now) / 1000));
            unit_nap(u, ms);
            rc = 0;
            continue;
        }
        if (rc == RUN_RESTART) { /* a transaction failed; the unit is still ours */
            rc = 0;
            unit_nap(u, 1000);
            continue;
        }
        break;
    }
    if (rc == RUN_LOCK_ENDED)
        rc = 0;
    progress_unit_ended(c->unit);
    u->rc = rc;
    atomic_store(&u->done, 1);
    return NULL;
}

/* Runs every unit this process holds, one thread each, while the main
 * thread serves the lock consumer.  When the group revokes (or this member
 * loses) the units, every unit stops writing, flushes what it may and ends
 * before the revocation is answered (fl_after_end).  Returns an exit status
 * (a unit failed for good, or the process stops), or RUN_LOCK_ENDED. */
static int run_units(mirror_config *c, flowlock *fl) {
    int n = 0;
    unit_run *us = calloc((size_t)fl->nunits, sizeof(*us));
    if (!us) {
        kf_err("mirror", "out of memory");
        return 1;
    }
    for (int k = 0; k < fl->nunits; k++) {
        if (!fl->units[k])
            continue;
        unit_run *u = &us[n];
        u->cfg = *c;
        u->cfg.unit = k;
        if (c->workers > 1) { /* one transactional.id per unit: a unit's next holder fences it */
            char id[sizeof(c->txn_id) + 16];
            snprintf(id, sizeof(id), "%s.%d", c->txn_id, k);
            kf_strlcpy(u->cfg.txn_id, id, sizeof(u->cfg.txn_id));
        }
        u->holder_id = fl->client_id;
        atomic_init(&u->revoked, 0);
        atomic_init(&u->lost, 0);
        atomic_init(&u->done, 0);
        /* signals stay with the main thread (its poll loop is short) */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        int e = pthread_create(&u->th, NULL, unit_main, u);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (e != 0) {
            kf_err("mirror", "cannot start the thread of unit %d: %s", k, strerror(e));
            g_stop = 1;
            break;
        }
        n++;
    }
    int rc = 0, revoked = 0;
    for (;;) {
        int alive = 0;
        for (int i = 0; i < n; i++)
            if (!atomic_load(&us[i].done))
                alive++;
            else if (us[i].rc > 0 && !rc) {
                rc = us[i].rc; /* a unit cannot go on: the process stops, as with one unit */
                g_stop = 1;
            }
        if (!alive)
            break;
        if (!g_stop)
            fl_poll(fl, 100);
        else
            usleep(50000);
        if ((fl->ended || !fl->held) && !revoked) {
            revoked = 1;
            for (int i = 0; i < n; i++) {
                atomic_store(&us[i].lost, fl->lost);
                atomic_store(&us[i].revoked, 1);
            }
        }
    }
    for (int i = 0; i < n; i++) {
        pthread_join(us[i].th, NULL);
        if (us[i].rc > 0 && !rc)
            rc = us[i].rc;
    }
    free(us);
    if (rc)
        return rc;
    return revoked && !g_stop ? RUN_LOCK_ENDED : 0;
}

int replicate_run(mirror_config *c) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* Nothing is written to the target before this process holds the flow
     * lock (a unit of it), except creating the (empty) lock topic if it is
     * missing. */
    flowlock fl;
    if (fl_open(&fl, c, &g_stop) != 0) {
        int refused = fl.refused;
        fl_close(&fl);
        return g_stop ? 0 : refused ? 2 : 1;
    }
    int rc = 1;
    if (metrics_start(c) != 0)
        goto out;
    rc = 0;
    while (!g_stop) {
        int sw = standby_wait(c, &fl);
        if (sw < 0) {
            rc = 2; /* a configuration the target refuses */
            break;
        }
        if (!sw)
            break;
        rc = run_units(c, &fl);
        if (rc != RUN_LOCK_ENDED)
            break;
        rc = 0;
        if (fl_after_end(&fl, &g_stop) != 0)
            break;
        kf_notice("lock",
                  "flow %s->%s handed back to the group; standby until it is assigned again",
                  c->src.alias, c->tgt.alias);
    }
out:
    fl_close(&fl); /* leaves the group: a standby takes over at once */
    metrics_stop();
    return rc;
}
