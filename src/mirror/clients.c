/*
 * clients.c - librdkafka handle construction (see clients.h).
 *
 * User properties are applied between kferry's tunable defaults and its
 * fixed safety settings, so a user can tune batching but cannot turn off
 * idempotence or make the source consumer commit.
 */
#include "mirror/clients.h"

#include "common/log.h"

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

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    /* kferry sets these two on purpose; the warnings would only alarm users */
    if (!strcmp(fac, "CONFWARN") &&
        (strstr(buf, "auto.commit.enable") || strstr(buf, "enable.gapless.guarantee"))) {
        kf_debug("clients", "%s: %s", rd_kafka_name(rk), buf);
        return;
    }
    /* librdkafka levels are syslog levels; its notices are chatty */
    kf_log(level < KF_LOG_ERR       ? KF_LOG_ERR
           : level == KF_LOG_NOTICE ? KF_LOG_INFO
                                    : level,
           "rdkafka", "%s: %s: %s", rd_kafka_name(rk), fac, buf);
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

void clients_conf_group_context(rd_kafka_conf_t *conf, const char *purpose, const char *alias) {
    char id[160];
    snprintf(id, sizeof(id), "__kferry.%s.%s", purpose, alias);
    set(conf, "group.id", id);
}

static rd_kafka_t *new_consumer(const mirror_config *c, const mc_cluster *cl, const char *purpose,
                                int eof, int group_context) {
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
    if (group_context)
        clients_conf_group_context(conf, purpose, cl->alias);
    rd_kafka_topic_conf_t *tc = rd_kafka_topic_conf_new();
    char eb[512];
    rd_kafka_topic_conf_set(tc, "auto.offset.reset", "error", eb, sizeof(eb));
    rd_kafka_topic_conf_set(tc, "auto.commit.enable", "false", eb, sizeof(eb));
    rd_kafka_conf_set_default_topic_conf(conf, tc);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, eb, sizeof(eb));
    if (!rk) {
        kf_err("clients", "cannot create %s consumer for %s: %s", purpose, cl->alias, eb);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

rd_kafka_t *clients_consumer(const mirror_config *c, const mc_cluster *cl, const char *purpose,
                             int eof) {
    return new_consumer(c, cl, purpose, eof, 1);
}

rd_kafka_t *clients_reader(const mirror_config *c, const mc_cluster *cl, const char *purpose,
                           int eof) {
    return new_consumer(c, cl, purpose, eof, 0);
}

rd_kafka_t *clients_producer(const mirror_config *c,
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
    rd_kafka_conf_set_dr_msg_cb(conf, dr);
    rd_kafka_conf_set_opaque(conf, opaque);
    char eb[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, eb, sizeof(eb));
    if (!rk) {
        kf_err("clients", "cannot create producer for %s: %s", cl->alias, eb);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
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
    if (!rk) {
        kf_err("clients", "cannot create the flow-lock consumer for %s: %s", cl->alias, eb);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}
