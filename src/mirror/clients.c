/*
 * clients.c - librdkafka handle construction (see clients.h).
 *
 * User properties are applied between kferry's tunable defaults and its
 * fixed safety settings, so a user can tune batching but cannot turn off
 * idempotence or make the source consumer commit.
 */
#include "mirror/clients.h"

#include "common/log.h"
#include "common/util.h"
#include "mirror/conndiag.h"
#include "mirror/mskiam.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static char g_rk_debug[128];

void clients_setup_debug(const mirror_config *c) {
    char kf[128] = "", copy[128];
    snprintf(copy, sizeof(copy), "%s", c->debug);
    char *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        rd_kafka_conf_t *scratch = rd_kafka_conf_new();
        char eb[256];
        int ok = rd_kafka_conf_set(scratch, "debug", t, eb, sizeof(eb)) == RD_KAFKA_CONF_OK;
        rd_kafka_conf_destroy(scratch);
        char *dst = ok ? g_rk_debug : kf;
        size_t cap = ok ? sizeof(g_rk_debug) : sizeof(kf);
        size_t l = strlen(dst);
        snprintf(dst + l, cap - l, "%s%s", l ? "," : "", t);
    }
    if (kf[0])
        kf_log_set_debug(kf);
}

/* The last connection failure librdkafka logged per handle: the cause a
 * probe reports ("Connection refused", a TLS or SASL error). */
static pthread_mutex_t g_fail_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    const rd_kafka_t *rk;
    char why[256];
} g_fail[32];

static void fail_note(const rd_kafka_t *rk, const char *buf) {
    const char *f = strstr(buf, "failed: ");
    const char *why = f ? f + 8 : buf;
    const char *after = strstr(why, " (after ");
    int len = after ? (int)(after - why) : (int)strlen(why);
    /* "all brokers are down" says less than the connect error before it */
    int weak = strstr(buf, "brokers are down") != NULL;
    pthread_mutex_lock(&g_fail_mu);
    size_t slot = 0;
    for (size_t i = 0; i < sizeof(g_fail) / sizeof(g_fail[0]); i++) {
        if (g_fail[i].rk == rk) {
            slot = i;
            break;
        }
        if (!g_fail[i].rk)
            slot = i;
    }
    if (weak && g_fail[slot].rk == rk) {
        pthread_mutex_unlock(&g_fail_mu);
        return;
    }
    g_fail[slot].rk = rk;
    snprintf(g_fail[slot].why, sizeof(g_fail[slot].why), "%.*s", len, why);
    pthread_mutex_unlock(&g_fail_mu);
}

/* Copies (forget=0) or clears (forget=1) rk's last failure. */
static void fail_get(const rd_kafka_t *rk, char *out, size_t outlen, int forget) {
    if (out && outlen)
        out[0] = 0;
    pthread_mutex_lock(&g_fail_mu);
    for (size_t i = 0; i < sizeof(g_fail) / sizeof(g_fail[0]); i++) {
        if (g_fail[i].rk != rk)
            continue;
        if (out)
            snprintf(out, outlen, "%s", g_fail[i].why);
        if (forget)
            g_fail[i].rk = NULL;
    }
    pthread_mutex_unlock(&g_fail_mu);
}

int clients_probe(rd_kafka_t *rk, const mc_cluster *cl, int timeout_ms, char *err, size_t errlen) {
    fail_get(rk, NULL, 0, 1);
    int64_t t0 = kf_now_ms();
    rd_kafka_resp_err_t e;
    char why[256] = "";
    for (;;) {
        const struct rd_kafka_metadata *md = NULL;
        e = rd_kafka_metadata(rk, 0, NULL, &md, 1000);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
            rd_kafka_metadata_destroy(md);
            fail_get(rk, NULL, 0, 1);
            return 0;
        }
        fail_get(rk, why, sizeof(why), 0);
        int64_t spent = kf_now_ms() - t0;
        /* a refused connection will not heal in seconds; give retries 2 s */
        if (spent >= timeout_ms || (why[0] && spent >= 2000))
            break;
    }
    fail_get(rk, NULL, 0, 1);
    conn_diag d;
    conndiag_classify(cl, 0, why, &d);
    int telling = why[0] && strcmp(d.result, "unreachable") && strcmp(d.result, "error");
    if (telling) /* what to fix, after librdkafka's own words */
        snprintf(err, errlen, "cluster '%s' (%s): cannot connect: %s; %s", cl->alias,
                 mc_bootstrap(cl), why, d.message);
    else if (why[0])
        snprintf(err, errlen, "cluster '%s' (%s): cannot connect: %s", cl->alias, mc_bootstrap(cl),
                 why);
    else
        snprintf(err, errlen, "cluster '%s' (%s): cannot connect within %d s: %s", cl->alias,
                 mc_bootstrap(cl), timeout_ms / 1000, rd_kafka_err2str(e));
    return -1;
}

int clients_probe_both(const mirror_config *c, rd_kafka_t *src, rd_kafka_t *tgt, char *err,
                       size_t errlen) {
    char eb[1024];
    rd_kafka_t *rk[2] = {src, tgt};
    const mc_cluster *cl[2] = {&c->src, &c->tgt};
    for (int k = 0; k < 2; k++) {
        if (!rk[k] || !clients_probe(rk[k], cl[k], CLIENTS_PROBE_TIMEOUT_MS, eb, sizeof(eb)))
            continue;
        kf_err("clients", "%s", eb);
        if (err)
            snprintf(err, errlen, "%s", eb);
        return -1;
    }
    return 0;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    if (!strcmp(fac, "FAIL") || !strcmp(fac, "ERROR"))
        fail_note(rk, buf);
    /* kferry sets these two on purpose; the warnings would only alarm users */
    if (!strcmp(fac, "CONFWARN") &&
        (strstr(buf, "auto.commit.enable") || strstr(buf, "enable.gapless.guarantee"))) {
        kf_debug("clients", "%s: %s", rd_kafka_name(rk), buf);
        return;
    }
    /* librdkafka levels are syslog levels; its notices are chatty.  The
     * json log format also gets the handle and facility as fields. */
    const char *name = rd_kafka_name(rk);
    const char *const kv[] = {"client", name, "facility", fac, NULL};
    kf_log_kv(level < KF_LOG_ERR       ? KF_LOG_ERR
              : level == KF_LOG_NOTICE ? KF_LOG_INFO
                                       : level,
              "rdkafka", kv, "%s: %s: %s", name, fac, buf);
}

static int set(rd_kafka_conf_t *conf, const char *k, const char *v) {
    char eb[512];
    if (rd_kafka_conf_set(conf, k, v, eb, sizeof(eb)) != RD_KAFKA_CONF_OK) {
        kf_err("clients", "%s: %s", k, eb);
        return -1;
    }
    return 0;
}

static int apply_user(rd_kafka_conf_t *conf, const mc_cluster *cl, int role) {
    for (size_t i = 0; i < cl->nprops; i++)
        if ((cl->props[i].roles & role) && set(conf, cl->props[i].key, cl->props[i].value))
            return -1;
    char err[512];
    if (mskiam_conf(conf, cl, err, sizeof(err)) != 0) {
        kf_err("clients", "%s", err);
        return -1;
    }
    return 0;
}

static rd_kafka_conf_t *base_conf(const mc_cluster *cl, const char *purpose) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char id[128];
    snprintf(id, sizeof(id), "kferry-%s-%s", purpose, cl->alias);
    set(conf, "client.id", id);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    if (g_rk_debug[0])
        set(conf, "debug", g_rk_debug);
    return conf;
}

rd_kafka_t *clients_consumer(const mirror_config *c, const mc_cluster *cl, const char *purpose,
                             int eof) {
    rd_kafka_conf_t *conf = base_conf(cl, purpose);
    /* tunable defaults: large fetches keep the producer busy */
    set(conf, "fetch.max.bytes", "104857600");
    set(conf, "max.partition.fetch.bytes", "8388608");
    set(conf, "queued.max.messages.kbytes", "262144");
    set(conf, "fetch.wait.max.ms", "100");
    set(conf, "isolation.level", "read_committed");
    if (apply_user(conf, cl, MC_CLIENT_CONSUMER)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    /* fixed: never commit, never create topics, report retention gaps */
    set(conf, "enable.auto.commit", "false");
    set(conf, "enable.auto.offset.store", "false");
    set(conf, "allow.auto.create.topics", "false");
    set(conf, "enable.partition.eof", eof ? "true" : "false");
    rd_kafka_topic_conf_t *tc = rd_kafka_topic_conf_new();
    char eb[512];
    rd_kafka_topic_conf_set(tc, "auto.offset.reset", "error", eb, sizeof(eb));
    rd_kafka_topic_conf_set(tc, "auto.commit.enable", "false", eb, sizeof(eb));
    rd_kafka_conf_set_default_topic_conf(conf, tc);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, eb, sizeof(eb));
    mskiam_handle(rk);
    if (!rk) {
        kf_err("clients", "cannot create %s consumer for %s: %s", purpose, cl->alias, eb);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

static rd_kafka_t *producer(const mirror_config *c, int txn,
                            void (*dr)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                            void *opaque) {
    const mc_cluster *cl = &c->tgt;
    rd_kafka_conf_t *conf = base_conf(cl, "producer");
    char v[32];
    snprintf(v, sizeof(v), "%d", c->linger_ms);
    set(conf, "linger.ms", v);
    set(conf, "compression.type", c->compression);
    set(conf, "batch.num.messages", "100000");
    set(conf, "batch.size", "1000000");
    set(conf, "queue.buffering.max.messages", "1000000");
    set(conf, "queue.buffering.max.kbytes", "524288");
    /* Retry forever: a record given up on would leave a hole the offset map
     * cannot explain.  Shutdown has its own deadline. */
    set(conf, "message.timeout.ms", "0");
    if (apply_user(conf, cl, MC_CLIENT_PRODUCER)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    set(conf, "enable.idempotence", "true");
    set(conf, "acks", "all");
    set(conf, "enable.gapless.guarantee", "true");
    if (txn) {
        /* Transactions mode: every write of this producer is in a
         * transaction; the next holder's InitProducerId with the same id
         * aborts this one's open transaction and fences it.  librdkafka
         * needs a finite message timeout no longer than the transaction
         * timeout: a record not acknowledged by then aborts the
         * transaction, and the run restarts from the committed map. */
        char tt[32];
        int t = c->txn_interval_ms * 4 < 60000 ? 60000 : c->txn_interval_ms * 4;
        snprintf(tt, sizeof(tt), "%d", t);
        set(conf, "transactional.id", c->txn_id);
        set(conf, "transaction.timeout.ms", tt);
        set(conf, "message.timeout.ms", tt);
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr);
    rd_kafka_conf_set_opaque(conf, opaque);
    char eb[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, eb, sizeof(eb));
    mskiam_handle(rk);
    if (!rk) {
        kf_err("clients", "cannot create producer for %s: %s", cl->alias, eb);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

rd_kafka_t *clients_producer(const mirror_config *c,
                             void (*dr)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                             void *opaque) {
    return producer(c, 0, dr, opaque);
}

rd_kafka_t *clients_flow_producer(const mirror_config *c,
                                  void (*dr)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                                  void *opaque) {
    return producer(c, c->txn, dr, opaque);
}

rd_kafka_t *clients_lock_consumer(const mirror_config *c, const char *client_id,
                                  void (*rebalance)(rd_kafka_t *, rd_kafka_resp_err_t,
                                                    rd_kafka_topic_partition_list_t *, void *),
                                  void *opaque) {
    const mc_cluster *cl = &c->tgt;
    rd_kafka_conf_t *conf = base_conf(cl, "lock");
    /* a new lock topic must be noticed soon, not after 5 minutes */
    set(conf, "topic.metadata.refresh.interval.ms", "10000");
    if (apply_user(conf, cl, MC_CLIENT_CONSUMER)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    /* fixed: the group is the lock; the consumer never reads or commits */
    char v[32];
    int ok = set(conf, "client.id", client_id) == 0 && set(conf, "group.id", c->lock_group) == 0;
    snprintf(v, sizeof(v), "%d", c->lock_session_ms);
    ok = ok && set(conf, "session.timeout.ms", v) == 0;
    snprintf(v, sizeof(v), "%d", c->lock_session_ms / 4 > 100 ? c->lock_session_ms / 4 : 100);
    ok = ok && set(conf, "heartbeat.interval.ms", v) == 0;
    ok = ok && set(conf, "max.poll.interval.ms", "300000") == 0;
    ok = ok && set(conf, "partition.assignment.strategy", "range") == 0;
    ok = ok && set(conf, "enable.auto.commit", "false") == 0;
    ok = ok && set(conf, "enable.auto.offset.store", "false") == 0;
    ok = ok && set(conf, "allow.auto.create.topics", "false") == 0;
    ok = ok && set(conf, "enable.partition.eof", "false") == 0;
    if (!ok) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_rebalance_cb(conf, rebalance);
    rd_kafka_conf_set_opaque(conf, opaque);
    char eb[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, eb, sizeof(eb));
    mskiam_handle(rk);
    if (!rk) {
        kf_err("clients", "cannot create the flow-lock consumer for %s: %s", cl->alias, eb);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}
