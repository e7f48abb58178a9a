/*
 * demo_app.c - the demo's producer and consumer (see demo_app.h).
 *
 * Each runs in its own thread with its own librdkafka handle.  The ledger
 * is two arrays indexed by sequence number, guarded by one mutex: a record
 * counts as produced only once its delivery report says so.
 */
#include "migrate/demo_app.h"

#include "common/util.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct demo_app {
    char *topic, *group;
    int64_t max;
    pthread_mutex_t mu;
    uint8_t *acked;   /* per sequence: 1 = acknowledged, 2 = failed */
    uint16_t *seen;   /* per sequence: times consumed */
    int64_t next_seq; /* next sequence number to produce */
    int64_t consumed;
    /* producer */
    pthread_t pth;
    atomic_int prun;
    int pstarted;
    rd_kafka_t *prod;
    int rate;
    /* consumer */
    pthread_t cth;
    atomic_int crun;
    int cstarted;
    rd_kafka_t *cons;
};

demo_app *demo_app_new(const char *topic, const char *group, int64_t max_records) {
    demo_app *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->topic = kf_strdup(topic);
    a->group = kf_strdup(group);
    a->max = max_records;
    a->acked = calloc((size_t)max_records, 1);
    a->seen = calloc((size_t)max_records, sizeof(uint16_t));
    pthread_mutex_init(&a->mu, NULL);
    if (!a->topic || !a->group || !a->acked || !a->seen) {
        demo_app_destroy(a);
        return NULL;
    }
    return a;
}

void demo_app_destroy(demo_app *a) {
    if (!a)
        return;
    demo_app_producer_stop(a);
    demo_app_consumer_stop(a);
    pthread_mutex_destroy(&a->mu);
    free(a->acked);
    free(a->seen);
    free(a->topic);
    free(a->group);
    free(a);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    demo_app *a = opaque;
    int64_t seq = (int64_t)(intptr_t)m->_private;
    if (seq < 0 || seq >= a->max)
        return;
    pthread_mutex_lock(&a->mu);
    a->acked[seq] = m->err ? 2 : 1;
    pthread_mutex_unlock(&a->mu);
}

/* props: NULL, or key, value, ..., NULL (the security settings of the
 * application's principal in `kferry demo --secure`). */
static rd_kafka_conf_t *base_conf(const char *bootstrap, const char *const *props) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[256];
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof(err));
    rd_kafka_conf_set(conf, "client.id", "demo-app", err, sizeof(err));
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
    for (size_t i = 0; props && props[i] && props[i + 1]; i += 2) {
        if (rd_kafka_conf_set(conf, props[i], props[i + 1], err, sizeof(err)) != RD_KAFKA_CONF_OK) {
            fprintf(stderr, "kferry demo: application client setting %s: %s\n", props[i], err);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    return conf;
}

static void *producer_main(void *arg) {
    demo_app *a = arg;
    int64_t period_ns = a->rate > 0 ? 1000000000LL / a->rate : 0;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    while (atomic_load(&a->prun)) {
        pthread_mutex_lock(&a->mu);
        int64_t seq = a->next_seq < a->max ? a->next_seq++ : -1;
        pthread_mutex_unlock(&a->mu);
        if (seq < 0)
            break;
        char key[32], val[64];
        snprintf(key, sizeof(key), "customer-%lld", (long long)(seq % 7));
        snprintf(val, sizeof(val), "order %lld amount %lld", (long long)seq,
                 (long long)(seq * 7 % 1000));
        for (;;) {
            rd_kafka_resp_err_t e = rd_kafka_producev(
                a->prod, RD_KAFKA_V_TOPIC(a->topic), RD_KAFKA_V_KEY(key, strlen(key)),
                RD_KAFKA_V_VALUE(val, strlen(val)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_HEADER("app", "demo", 4), RD_KAFKA_V_OPAQUE((void *)(intptr_t)seq),
                RD_KAFKA_V_END);
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                break;
            rd_kafka_poll(a->prod, 10);
        }
        rd_kafka_poll(a->prod, 0);
        if (period_ns) {
            next.tv_nsec += period_ns;
            while (next.tv_nsec >= 1000000000L) {
                next.tv_nsec -= 1000000000L;
                next.tv_sec++;
            }
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        }
    }
    return NULL;
}

int demo_app_producer_start(demo_app *a, const char *bootstrap, const char *const *props,
                            int rate) {
    rd_kafka_conf_t *conf = base_conf(bootstrap, props);
    if (!conf)
        return -1;
    char err[256];
    rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof(err));
    rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof(err));
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, a);
    a->prod = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!a->prod) {
        fprintf(stderr, "demo: cannot create producer: %s\n", err);
        return -1;
    }
    a->rate = rate;
    atomic_store(&a->prun, 1);
    if (pthread_create(&a->pth, NULL, producer_main, a) != 0) {
        rd_kafka_destroy(a->prod);
        a->prod = NULL;
        return -1;
    }
    a->pstarted = 1;
    return 0;
}

void demo_app_producer_stop(demo_app *a) {
    if (!a->pstarted)
        return;
    atomic_store(&a->prun, 0);
    pthread_join(a->pth, NULL);
    a->pstarted = 0;
    rd_kafka_flush(a->prod, 60000);
    rd_kafka_destroy(a->prod);
    a->prod = NULL;
}

/* The value is "order <seq> amount <n>"; returns seq or -1. */
static int64_t parse_seq(const void *payload, size_t len) {
    static const char prefix[] = "order ";
    size_t pl = sizeof(prefix) - 1;
    if (!payload || len <= pl || memcmp(payload, prefix, pl) != 0)
        return -1;
    const char *p = (const char *)payload + pl;
    size_t n = 0;
    char digits[24];
    while (pl + n < len && n < sizeof(digits) - 1 && p[n] >= '0' && p[n] <= '9') {
        digits[n] = p[n];
        n++;
    }
    digits[n] = '\0';
    int64_t seq;
    return kf_parse_i64(digits, 0, INT64_MAX, &seq) == 0 ? seq : -1;
}

static void note_consumed(demo_app *a, const rd_kafka_message_t *m) {
    int64_t seq = parse_seq(m->payload, m->len);
    if (seq < 0 || seq >= a->max)
        return;
    pthread_mutex_lock(&a->mu);
    if (a->seen[seq] < UINT16_MAX)
        a->seen[seq]++;
    a->consumed++;
    pthread_mutex_unlock(&a->mu);
}

static void *consumer_main(void *arg) {
    demo_app *a = arg;
    while (atomic_load(&a->crun)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(a->cons, 100);
        if (!m)
            continue;
        if (!m->err)
            note_consumed(a, m);
        rd_kafka_message_destroy(m);
    }
    return NULL;
}

int demo_app_consumer_start(demo_app *a, const char *bootstrap, const char *const *props) {
    rd_kafka_conf_t *conf = base_conf(bootstrap, props);
    if (!conf)
        return -1;
    char err[256];
    rd_kafka_conf_set(conf, "group.id", a->group, err, sizeof(err));
    rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", err, sizeof(err));
    rd_kafka_conf_set(conf, "enable.auto.commit", "true", err, sizeof(err));
    rd_kafka_conf_set(conf, "auto.commit.interval.ms", "500", err, sizeof(err));
    a->cons = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!a->cons) {
        fprintf(stderr, "demo: cannot create consumer: %s\n", err);
        return -1;
    }
    rd_kafka_poll_set_consumer(a->cons);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, a->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(a->cons, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e) {
        fprintf(stderr, "demo: cannot subscribe: %s\n", rd_kafka_err2str(e));
        rd_kafka_destroy(a->cons);
        a->cons = NULL;
        return -1;
    }
    atomic_store(&a->crun, 1);
    if (pthread_create(&a->cth, NULL, consumer_main, a) != 0) {
        rd_kafka_destroy(a->cons);
        a->cons = NULL;
        return -1;
    }
    a->cstarted = 1;
    return 0;
}

void demo_app_consumer_stop(demo_app *a) {
    if (!a->cstarted)
        return;
    atomic_store(&a->crun, 0);
    pthread_join(a->cth, NULL);
    a->cstarted = 0;
    /* Commits the stored offsets of what was processed, then leaves. */
    rd_kafka_consumer_close(a->cons);
    rd_kafka_destroy(a->cons);
    a->cons = NULL;
}

void demo_app_stats_get(demo_app *a, demo_app_stats *st) {
    memset(st, 0, sizeof(*st));
    st->first_missing = st->first_duplicated = -1;
    pthread_mutex_lock(&a->mu);
    for (int64_t s = 0; s < a->next_seq; s++) {
        if (a->acked[s] == 1) {
            st->produced_acked++;
            if (a->seen[s] == 0) {
                st->missing++;
                if (st->first_missing < 0)
                    st->first_missing = s;
            }
        } else if (a->acked[s] == 2) {
            st->produce_failed++;
        }
        if (a->seen[s] > 1) {
            st->duplicated++;
            if (st->first_duplicated < 0)
                st->first_duplicated = s;
        }
    }
    st->consumed = a->consumed;
    pthread_mutex_unlock(&a->mu);
}

int demo_app_wait_consumed(demo_app *a, int timeout_ms) {
    int64_t deadline = kf_now_ms() + timeout_ms;
    for (;;) {
        demo_app_stats st;
        demo_app_stats_get(a, &st);
        if (st.missing == 0)
            return 0;
        if (kf_now_ms() > deadline)
            return -1;
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
}
