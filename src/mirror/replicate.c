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

#include "common/log.h"
#include "common/util.h"
#include "mirror/clients.h"
#include "mirror/mapstore.h"
#include "mirror/metrics.h"
#include "mirror/mirror.h"
#include "mirror/topicconf.h"
#include "mirror/topics.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t g_stop;

static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

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

static int fifo_push(mpart *p, int64_t off) {
    if (p->fcount == p->fcap) {
        size_t nc = p->fcap ? p->fcap * 2 : 1024;
        int64_t *nf = malloc(nc * sizeof(*nf));
        if (!nf)
            return -1;
        for (size_t i = 0; i < p->fcount; i++)
            nf[i] = p->fifo[(p->fhead + i) % p->fcap];
        free(p->fifo);
        p->fifo = nf;
        p->fcap = nc;
        p->fhead = 0;
    }
    p->fifo[(p->fhead + p->fcount) % p->fcap] = off;
    p->fcount++;
    return 0;
}

static int64_t fifo_pop(mpart *p) {
    if (!p->fcount)
        return -1;
    int64_t off = p->fifo[p->fhead];
    p->fhead = (p->fhead + 1) % p->fcap;
    p->fcount--;
    return off;
}

/* --- delivery reports ---------------------------------------------------------- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
    mirror *m = opaque;
    if (msg->_private == &mapstore_opaque) {
        if (msg->err)
            mirror_fatal(m, 1, "offset-map write failed: %s", rd_kafka_err2str(msg->err));
        return;
    }
    mpart *p = msg->_private;
    int64_t src = fifo_pop(p);
    if (p->failed)
        return;
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
    om_put_gap(p->map, start, lo);
    p->next_src = lo;
    kf_warn("gap", "%s/%d: gap recorded in the offset map; continuing at %lld", p->t->src,
            p->partition, (long long)lo);
}

/* The consumer reported offset-out-of-range for p. */
static void on_out_of_range(mirror *m, mpart *p) {
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t e =
        rd_kafka_query_watermark_offsets(m->src, p->t->src, p->partition, &lo, &hi, 10000);
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
    rd_kafka_headers_t *hdrs = NULL, *copy = NULL;
    if (rd_kafka_message_headers(msg, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs)
        copy = rd_kafka_headers_copy(hdrs);
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(msg, &tstype);
    if (tstype == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE || ts < 0)
        ts = 0; /* producer assigns the current time */
    int unknown_tries = 0;
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            m->prod, RD_KAFKA_V_RKT(p->t->tgt_rkt), RD_KAFKA_V_PARTITION(p->partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(msg->key, msg->key_len),
            RD_KAFKA_V_VALUE(msg->payload, msg->len), RD_KAFKA_V_TIMESTAMP(ts),
            RD_KAFKA_V_HEADERS(copy), RD_KAFKA_V_OPAQUE(p), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(m->prod, 5); /* backpressure: the target is the limit */
            if (m->fatal) {
                if (copy)
                    rd_kafka_headers_destroy(copy);
                return;
            }
            continue;
        }
        if (e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION && ++unknown_tries < 100) {
            /* a partition just added: wait for librdkafka's metadata */
            const struct rd_kafka_metadata *md = NULL;
            if (!rd_kafka_metadata(m->prod, 0, p->t->tgt_rkt, &md, 5000))
                rd_kafka_metadata_destroy(md);
            rd_kafka_poll(m->prod, 100);
            continue;
        }
        if (e) {
            if (copy)
                rd_kafka_headers_destroy(copy);
            mirror_fatal(m, 1, "%s/%d: cannot produce to %s: %s", p->t->src, p->partition,
                         p->t->tgt, rd_kafka_err2str(e));
            return;
        }
        break;
    }
    if (fifo_push(p, msg->offset) != 0) {
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
    if (p->state != P_RUNNING || p->failed)
        return;
    if (msg->err) {
        if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            return;
        if (msg->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
            msg->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
            on_out_of_range(m, p);
            return;
        }
        /* librdkafka retries by itself; say so once per error and minute */
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
    if (p->tail_i < p->tail_n) {
        if (reconcile_match(m, p, msg) == 0)
            p->next_src = msg->offset + 1;
        return;
    }
    produce_one(m, p, msg);
    p->next_src = msg->offset + 1;
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
    int64_t deadline = kf_now_ms() + (int64_t)m->cfg->shutdown_timeout_s * 1000;
    while (rd_kafka_outq_len(m->prod) > 0 && kf_now_ms() < deadline)
        rd_kafka_poll(m->prod, 50);
    int inflight = rd_kafka_outq_len(m->prod);
    if (mapstore_persist(m->prod, m->map_rkt, &m->map) < 0)
        kf_err("map", "could not queue the final offset-map records");
    progress_tick(m, kf_now_ms(), 1);
    rd_kafka_flush(m->prod, 10000);
    int left = rd_kafka_outq_len(m->prod);
    if (inflight || left)
        kf_warn("mirror",
                "%d record(s) still in flight at shutdown; the next start reconciles them "
                "against the target (none is lost or duplicated)",
                left > inflight ? left : inflight);
    else
        kf_notice("map", "offset map persisted");
}

int replicate_run(mirror_config *c) {
    mirror m;
    memset(&m, 0, sizeof(m));
    m.cfg = c;
    snprintf(m.flow, sizeof(m.flow), "%s->%s", c->src.alias, c->tgt.alias);
    offmap_init(&m.map);
    char err[512];
    int rc = 1;

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    m.src = clients_consumer(c, &c->src, "mirror", 0);
    m.tgt_reader = clients_consumer(c, &c->tgt, "reader", 1);
    m.prod = clients_producer(c, on_delivery, &m);
    if (!m.src || !m.tgt_reader || !m.prod)
        goto out;
    m.q = rd_kafka_queue_new(m.src);

    topic_list tl;
    if (topics_list(m.prod, &tl, 30000) != 0) {
        kf_err("mirror", "cannot reach target cluster %s", c->tgt.alias);
        goto out;
    }
    m.brokers = tl.brokers;
    topics_list_free(&tl);
    if (topics_ensure_map_topic(c, m.prod, m.tgt_reader, m.brokers) != 0)
        goto out;
    int found = 0;
    if (mapstore_load(m.tgt_reader, c->map_topic, &m.map, &found, NULL, 0, err, sizeof(err))) {
        kf_err("map", "cannot load the offset map: %s", err);
        goto out;
    }
    m.map_rkt = rd_kafka_topic_new(m.prod, c->map_topic, NULL);
    if (metrics_start(c) != 0)
        goto out;

    if (refresh_topics(&m) != 0 && !m.fatal)
        kf_warn("mirror", "initial topic discovery failed; retrying every %ds", c->refresh_s);
    kf_notice("mirror", "mirroring %s (%zu topic(s))", m.flow, m.ntopics);

    int64_t now = kf_now_ms();
    int64_t next_persist = now + c->map_persist_ms;
    int64_t next_refresh = now + (int64_t)c->refresh_s * 1000;
    int64_t next_tick = now + 1000;
    int64_t next_sync = now + (int64_t)c->sync_configs_s * 1000;
    rd_kafka_message_t *msgs[10000];
    while (!g_stop && !m.fatal) {
        ssize_t got = rd_kafka_consume_batch_queue(m.q, 100, msgs, 10000);
        for (ssize_t i = 0; i < got; i++) {
            if (!m.fatal)
                handle(&m, msgs[i]);
            rd_kafka_message_destroy(msgs[i]);
        }
        rd_kafka_poll(m.prod, 0);
        now = kf_now_ms();
        if (now >= next_persist) {
            if (mapstore_persist(m.prod, m.map_rkt, &m.map) < 0)
                mirror_fatal(&m, 1, "cannot queue offset-map records");
            next_persist = now + c->map_persist_ms;
        }
        if (now >= next_refresh) {
            refresh_topics(&m);
            next_refresh = kf_now_ms() + (int64_t)c->refresh_s * 1000;
        }
        if (c->sync_topic_configs && c->sync_configs_s > 0 && now >= next_sync) {
            for (size_t i = 0; i < m.ntopics && !g_stop; i++)
                if (!m.topics[i]->gone)
                    tconf_sync(m.src, m.prod, m.topics[i]->src, m.topics[i]->tgt);
            next_sync = kf_now_ms() + (int64_t)c->sync_configs_s * 1000;
        }
        if (now >= next_tick) {
            progress_tick(&m, now, 0);
            next_tick = now + 1000;
        }
        char fe[512];
        rd_kafka_resp_err_t ferr = rd_kafka_fatal_error(m.prod, fe, sizeof(fe));
        if (ferr)
            mirror_fatal(&m, 1, "target producer failed: %s", fe);
    }
    if (g_stop)
        kf_notice("mirror", "signal received: flushing and persisting the offset map");
    stop_consuming(&m);
    shutdown_flush(&m);
    rc = m.fatal ? m.exit_code : 0;
out:
    metrics_stop();
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
    offmap_free(&m.map);
    return rc;
}
