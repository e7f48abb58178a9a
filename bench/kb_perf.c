/*
 * kb_perf.c - throughput load client for any Kafka-compatible broker,
 * built on librdkafka.  Three modes:
 *
 *   create   create the topic (CreateTopics; "already exists" is fine)
 *   produce  N records of S bytes, as fast as librdkafka will batch them
 *   consume  read N records from the beginning of every partition
 *
 * It prints one machine-readable line on stdout:
 *   RESULT mode=produce records=N value_bytes=S seconds=T records_per_sec=R MB_per_sec=M
 * (MB = 10^6 bytes of record values; framing and keys are not counted).
 * Diagnostics go to stderr.  It measures the client+broker pair, nothing
 * else: the clock starts before the first record is handed to librdkafka
 * (produce) or before partitions are assigned (consume) and stops when the
 * last delivery report / the N-th record arrives.
 */
#include <librdkafka/rdkafka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_EXTRA 32

typedef struct perf_opts {
    const char *mode;
    const char *bootstrap;
    const char *topic;
    long long records;
    long long value_bytes;
    const char *acks;
    const char *codec;
    int partitions;
    int timeout_s;
    const char *extra[MAX_EXTRA];
    int n_extra;
} perf_opts;

typedef struct perf_counts {
    long long delivered;
    long long failed;
    rd_kafka_resp_err_t first_err;
} perf_counts;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *f) {
    fprintf(f, "Usage: kb_perf MODE -b HOST:PORT -t TOPIC [options]\n"
               "MODE: create | produce | consume\n"
               "  -n N       records to produce/consume (default 1000000)\n"
               "  -s BYTES   record value size (default 100)\n"
               "  -a ACKS    producer acks: 1 or all (default 1)\n"
               "  -z CODEC   compression: none, gzip, snappy, lz4, zstd (default none)\n"
               "  -p N       partitions for create (default 1)\n"
               "  -T SECS    give up after SECS seconds (default 120)\n"
               "  -X K=V     extra librdkafka property (repeatable)\n");
}

static int parse_ll(const char *s, long long min, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || end == s || v < min)
        return -1;
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, perf_opts *o) {
    memset(o, 0, sizeof(*o));
    o->records = 1000000;
    o->value_bytes = 100;
    o->acks = "1";
    o->codec = "none";
    o->partitions = 1;
    o->timeout_s = 120;
    if (argc < 2)
        return -1;
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        exit(0);
    }
    o->mode = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || !a[1] || a[2] || i + 1 >= argc) {
            fprintf(stderr, "kb_perf: bad argument '%s'\n", a);
            return -1;
        }
        const char *v = argv[++i];
        long long n;
        switch (a[1]) {
        case 'b': o->bootstrap = v; break;
        case 't': o->topic = v; break;
        case 'a': o->acks = v; break;
        case 'z': o->codec = v; break;
        case 'n':
            if (parse_ll(v, 1, &o->records))
                return -1;
            break;
        case 's':
            if (parse_ll(v, 0, &o->value_bytes) || o->value_bytes > 100 << 20)
                return -1;
            break;
        case 'p':
            if (parse_ll(v, 1, &n) || n > 100000)
                return -1;
            o->partitions = (int)n;
            break;
        case 'T':
            if (parse_ll(v, 1, &n) || n > 86400)
                return -1;
            o->timeout_s = (int)n;
            break;
        case 'X':
            if (o->n_extra == MAX_EXTRA || !strchr(v, '='))
                return -1;
            o->extra[o->n_extra++] = v;
            break;
        default: fprintf(stderr, "kb_perf: unknown option '%s'\n", a); return -1;
        }
    }
    if (!o->bootstrap || !o->topic)
        return -1;
    return 0;
}

static int conf_set(rd_kafka_conf_t *c, const char *k, const char *v) {
    char err[512];
    if (rd_kafka_conf_set(c, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "kb_perf: %s=%s: %s\n", k, v, err);
        return -1;
    }
    return 0;
}

/* Common settings, then the mode's tuning, then the user's -X overrides. */
static rd_kafka_conf_t *make_conf(const perf_opts *o, const char *const *tuning) {
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    int bad = conf_set(c, "bootstrap.servers", o->bootstrap);
    for (int i = 0; tuning[i]; i += 2)
        bad |= conf_set(c, tuning[i], tuning[i + 1]);
    for (int i = 0; i < o->n_extra; i++) {
        char kv[1024];
        snprintf(kv, sizeof(kv), "%s", o->extra[i]);
        char *eq = strchr(kv, '=');
        *eq = '\0';
        bad |= conf_set(c, kv, eq + 1);
    }
    if (bad) {
        rd_kafka_conf_destroy(c);
        return NULL;
    }
    return c;
}

static void result(const perf_opts *o, long long n, double secs) {
    if (secs <= 0)
        secs = 1e-9;
    printf("RESULT mode=%s records=%lld value_bytes=%lld seconds=%.3f records_per_sec=%.0f "
           "MB_per_sec=%.2f\n",
           o->mode, n, o->value_bytes, secs, (double)n / secs,
           (double)n * (double)o->value_bytes / 1e6 / secs);
    fflush(stdout);
}

/* ------------------------------------------------------------------ create */

static int do_create(const perf_opts *o) {
    static const char *const tuning[] = {NULL};
    rd_kafka_conf_t *c = make_conf(o, tuning);
    if (!c)
        return 2;
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "kb_perf: %s\n", err);
        return 1;
    }
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(o->topic, o->partitions, 1, err, sizeof(err));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    int rc = 1;
    if (!ev) {
        fprintf(stderr, "kb_perf: CreateTopics timed out\n");
    } else if (rd_kafka_event_error(ev)) {
        fprintf(stderr, "kb_perf: CreateTopics: %s\n", rd_kafka_event_error_string(ev));
    } else {
        size_t cnt;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
        rd_kafka_resp_err_t e =
            cnt ? rd_kafka_topic_result_error(res[0]) : RD_KAFKA_RESP_ERR_NO_ERROR;
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
            fprintf(stderr, "kb_perf: CreateTopics %s: %s\n", o->topic,
                    rd_kafka_topic_result_error_string(res[0]));
        else
            rc = 0;
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

/* ----------------------------------------------------------------- produce */

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    perf_counts *pc = opaque;
    (void)rk;
    if (m->err) {
        if (!pc->failed)
            pc->first_err = m->err;
        pc->failed++;
    } else {
        pc->delivered++;
    }
}

static int do_produce(const perf_opts *o) {
    const char *const tuning[] = {"acks",
                                  o->acks,
                                  "compression.codec",
                                  o->codec,
                                  "linger.ms",
                                  "5",
                                  "batch.size",
                                  "1000000",
                                  "batch.num.messages",
                                  "100000",
                                  "queue.buffering.max.messages",
                                  "1000000",
                                  "queue.buffering.max.kbytes",
                                  "1048576",
                                  "message.timeout.ms",
                                  "60000",
                                  "enable.idempotence",
                                  "false",
                                  NULL};
    rd_kafka_conf_t *c = make_conf(o, tuning);
    if (!c)
        return 2;
    perf_counts pc = {0, 0, RD_KAFKA_RESP_ERR_NO_ERROR};
    rd_kafka_conf_set_dr_msg_cb(c, dr_cb);
    rd_kafka_conf_set_opaque(c, &pc);
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "kb_perf: %s\n", err);
        return 1;
    }
    /* One value buffer, never modified: librdkafka may reference it (no copy). */
    size_t vlen = (size_t)o->value_bytes;
    char *value = malloc(vlen ? vlen : 1);
    for (size_t i = 0; i < vlen; i++)
        value[i] = (char)('a' + (i * 7 + i / 26) % 26);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->topic, NULL);

    /* Warm up metadata and the connection before the clock starts. */
    const struct rd_kafka_metadata *md;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_metadata_destroy(md);

    double t0 = now_s(), deadline = t0 + o->timeout_s;
    int rc = 0;
    for (long long i = 0; i < o->records;) {
        if (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, 0, value, vlen, NULL, 0, NULL) == 0) {
            i++;
            if ((i & 1023) == 0)
                rd_kafka_poll(rk, 0);
            continue;
        }
        rd_kafka_resp_err_t e = rd_kafka_last_error();
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fprintf(stderr, "kb_perf: produce: %s\n", rd_kafka_err2str(e));
            rc = 1;
            break;
        }
        rd_kafka_poll(rk, 1);
        if (now_s() > deadline) {
            fprintf(stderr, "kb_perf: timed out after %d s while producing\n", o->timeout_s);
            rc = 1;
            break;
        }
    }
    while (rc == 0 && pc.delivered + pc.failed < o->records) {
        rd_kafka_poll(rk, 100);
        if (now_s() > deadline) {
            fprintf(stderr, "kb_perf: timed out after %d s: %lld of %lld delivered\n", o->timeout_s,
                    pc.delivered, o->records);
            rc = 1;
        }
    }
    double t1 = now_s();
    if (pc.failed) {
        fprintf(stderr, "kb_perf: %lld deliveries failed, first: %s\n", pc.failed,
                rd_kafka_err2str(pc.first_err));
        rc = 1;
    }
    if (rc == 0)
        result(o, pc.delivered, t1 - t0);
    rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(rk, 5000);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    free(value);
    return rc;
}

/* ----------------------------------------------------------------- consume */

static int do_consume(const perf_opts *o) {
    char group[64];
    snprintf(group, sizeof(group), "kb_perf-%ld", (long)time(NULL));
    const char *const tuning[] = {"group.id",
                                  group,
                                  "enable.auto.commit",
                                  "false",
                                  "enable.auto.offset.store",
                                  "false",
                                  "enable.partition.eof",
                                  "false",
                                  "fetch.wait.max.ms",
                                  "100",
                                  "fetch.max.bytes",
                                  "52428800",
                                  "max.partition.fetch.bytes",
                                  "10485760",
                                  "queued.min.messages",
                                  "1000000",
                                  "queued.max.messages.kbytes",
                                  "1048576",
                                  NULL};
    rd_kafka_conf_t *c = make_conf(o, tuning);
    if (!c)
        return 2;
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "kb_perf: %s\n", err);
        return 1;
    }
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    if (e || md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt < 1) {
        fprintf(stderr, "kb_perf: no metadata for topic %s: %s\n", o->topic,
                rd_kafka_err2str(e               ? e
                                 : md->topic_cnt ? md->topics[0].err
                                                 : RD_KAFKA_RESP_ERR_UNKNOWN));
        if (md)
            rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        rd_kafka_destroy(rk);
        return 1;
    }
    int nparts = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);

    rd_kafka_topic_partition_list_t *tps = rd_kafka_topic_partition_list_new(nparts);
    for (int p = 0; p < nparts; p++)
        rd_kafka_topic_partition_list_add(tps, o->topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    double t0 = now_s(), deadline = t0 + o->timeout_s;
    rd_kafka_assign(rk, tps);
    rd_kafka_topic_partition_list_destroy(tps);
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);

    enum { BATCH = 10000 };
    rd_kafka_message_t **msgs = malloc(sizeof(*msgs) * BATCH);
    long long got = 0, bytes = 0;
    int rc = 0;
    while (got < o->records) {
        ssize_t n = rd_kafka_consume_batch_queue(q, 100, msgs, BATCH);
        for (ssize_t i = 0; i < n; i++) {
            if (msgs[i]->err) {
                fprintf(stderr, "kb_perf: consume: %s\n", rd_kafka_message_errstr(msgs[i]));
                rc = 1;
            } else {
                got++;
                bytes += (long long)msgs[i]->len;
            }
            rd_kafka_message_destroy(msgs[i]);
        }
        if (rc)
            break;
        if (now_s() > deadline) {
            fprintf(stderr, "kb_perf: timed out after %d s: %lld of %lld records\n", o->timeout_s,
                    got, o->records);
            rc = 1;
            break;
        }
    }
    double t1 = now_s();
    if (rc == 0)
        result(o, got, t1 - t0);
    if (rc == 0 && bytes != got * o->value_bytes)
        fprintf(stderr, "kb_perf: note: %lld value bytes read, expected %lld\n", bytes,
                got * o->value_bytes);
    free(msgs);
    rd_kafka_queue_destroy(q);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

int main(int argc, char **argv) {
    perf_opts o;
    if (parse_args(argc, argv, &o)) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(o.mode, "create"))
        return do_create(&o);
    if (!strcmp(o.mode, "produce"))
        return do_produce(&o);
    if (!strcmp(o.mode, "consume"))
        return do_consume(&o);
    usage(stderr);
    return 2;
}
