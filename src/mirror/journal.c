/*
 * journal.c - the cutover journal on the target (see journal.h).
 *
 * The journal is small (a few records per cutover), so it is read whole on
 * open.  Writes are acknowledged (acks=all, flushed) before the caller goes
 * on: a step is never reported done unless its record is stored.
 */
#include "mirror/journal.h"
#include "mirror/retry.h"

#include "common/log.h"
#include "common/util.h"
#include "mirror/clients.h"
#include "mirror/reader.h"
#include "mirror/topics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void journal_topic(const mirror_config *c, char *out, size_t outlen) {
    snprintf(out, outlen, "__kferry.cutover.%s.%s", c->src.alias, c->tgt.alias);
}

void journal_time(int64_t ms, char *out, size_t outlen) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void entry_free(jr_entry *e) {
    free(e->name);
    json_decref(e->data);
}

/* Adds or replaces (same key) an entry; takes the data reference. */
static int add_entry(journal *j, char kind, const char *name, int gen, const char *step,
                     json_t *data) {
    for (size_t i = 0; i < j->n; i++) {
        jr_entry *e = &j->v[i];
        if (e->kind == kind && e->gen == gen && !strcmp(e->step, step) && !strcmp(e->name, name)) {
            json_decref(e->data);
            e->data = data;
            e->ts_ms = json_integer_value(json_object_get(data, "ts_ms"));
            return 0;
        }
    }
    if (j->n == j->cap) {
        size_t nc = j->cap ? j->cap * 2 : 32;
        jr_entry *nv = realloc(j->v, nc * sizeof(*nv));
        if (!nv)
            return -1;
        j->v = nv;
        j->cap = nc;
    }
    jr_entry *e = &j->v[j->n];
    memset(e, 0, sizeof(*e));
    e->kind = kind;
    e->name = kf_strdup(name);
    e->gen = gen;
    kf_strlcpy(e->step, step, sizeof(e->step));
    e->data = data;
    e->ts_ms = json_integer_value(json_object_get(data, "ts_ms"));
    if (!e->name)
        return -1;
    j->n++;
    return 0;
}

static int load_cb(const rd_kafka_message_t *msg, reader_spec *s, void *ctx) {
    journal *j = ctx;
    if (!msg->key || !msg->payload)
        return 0;
    json_error_t je;
    json_t *v = json_loadb(msg->payload, msg->len, 0, &je);
    const char *name = json_string_value(json_object_get(v, "name"));
    const char *kind = json_string_value(json_object_get(v, "kind"));
    const char *step = json_string_value(json_object_get(v, "step"));
    json_t *gen = json_object_get(v, "gen");
    if (!v || !name || !kind || !step || !json_is_integer(gen) || strlen(kind) != 1) {
        kf_warn("journal", "%s: malformed journal record at offset %lld ignored", j->topic,
                (long long)msg->offset);
        json_decref(v);
        return 0;
    }
    return add_entry(j, kind[0], name, (int)json_integer_value(gen), step, v);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
    journal *j = opaque;
    if (msg->err) {
        j->delivery_failed = 1;
        snprintf(j->delivery_err, sizeof(j->delivery_err), "%s", rd_kafka_err2str(msg->err));
    }
}

static int create_topic(journal *j, char *err, size_t errlen) {
    topic_list tl = {0};
    int rf = j->c->replication_factor;
    if (topics_list(j->prod, &tl, 15000) == 0 && rf > tl.brokers)
        rf = tl.brokers > 0 ? tl.brokers : 1;
    topics_list_free(&tl);
    char eb[512];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(j->topic, 1, rf, eb, sizeof(eb));
    if (!nt) {
        snprintf(err, errlen, "%s: %s", j->topic, eb);
        return -1;
    }
    rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
    rd_kafka_queue_t *q = rd_kafka_queue_new(j->prod);
    rd_kafka_CreateTopics(j->prod, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = topics_admin_wait(q, RD_KAFKA_EVENT_CREATETOPICS_RESULT, 30000);
    int rc = -1;
    if (!ev || rd_kafka_event_error(ev)) {
        snprintf(err, errlen, "create %s: %s", j->topic,
                 ev ? rd_kafka_event_error_string(ev) : "timed out");
    } else {
        size_t n = 0;
        const rd_kafka_topic_result_t **tr =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        rd_kafka_resp_err_t e = n ? rd_kafka_topic_result_error(tr[0]) : RD_KAFKA_RESP_ERR_NO_ERROR;
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
            snprintf(err, errlen, "create %s: %s", j->topic, rd_kafka_err2str(e));
        else
            rc = 0;
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

int journal_open(journal *j, const mirror_config *c, rd_kafka_t *reader, int create, int timeout_ms,
                 char *err, size_t errlen) {
    memset(j, 0, sizeof(*j));
    j->c = c;
    j->reader = reader;
    journal_topic(c, j->topic, sizeof(j->topic));
    int np = topics_partition_count(reader, j->topic, timeout_ms < 10000 ? timeout_ms : 10000);
    if (np == -2) {
        snprintf(err, errlen, "cannot read metadata of %s on %s", j->topic, c->tgt.alias);
        return -1;
    }
    if (create) {
        j->prod = clients_producer(c, on_delivery, j);
        if (!j->prod) {
            snprintf(err, errlen, "cannot create the journal producer");
            return -1;
        }
        if (np <= 0 && create_topic(j, err, errlen))
            return -1;
    }
    if (np <= 0)
        return 0;
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t e =
        retry_watermarks(reader, j->topic, 0, &lo, &hi, timeout_ms < 10000 ? timeout_ms : 10000);
    if (e) {
        snprintf(err, errlen, "%s: watermarks: %s", j->topic, rd_kafka_err2str(e));
        return -1;
    }
    if (hi <= lo)
        return 0;
    reader_spec spec = {.topic = j->topic, .partition = 0, .start = lo, .end = hi};
    return reader_run(reader, &spec, 1, load_cb, j, timeout_ms, err, errlen);
}

void journal_close(journal *j) {
    for (size_t i = 0; i < j->n; i++)
        entry_free(&j->v[i]);
    free(j->v);
    if (j->prod)
        rd_kafka_destroy(j->prod);
    memset(j, 0, sizeof(*j));
}

int journal_gen(const journal *j, char kind, const char *name) {
    int gen = 0;
    for (size_t i = 0; i < j->n; i++)
        if (j->v[i].kind == kind && j->v[i].gen > gen && !strcmp(j->v[i].name, name))
            gen = j->v[i].gen;
    return gen;
}

const jr_entry *journal_find(const journal *j, char kind, const char *name, int gen,
                             const char *step) {
    for (size_t i = 0; i < j->n; i++) {
        const jr_entry *e = &j->v[i];
        if (e->kind == kind && e->gen == gen && !strcmp(e->step, step) && !strcmp(e->name, name))
            return e;
    }
    return NULL;
}

int journal_put(journal *j, char kind, const char *name, int gen, const char *step, json_t *data,
                char *err, size_t errlen) {
    if (!data)
        data = json_object();
    int64_t now = kf_wall_ms();
    char ts[32], kb[64];
    journal_time(now, ts, sizeof(ts));
    snprintf(kb, sizeof(kb), "%c", kind);
    json_object_set_new(data, "kind", json_string(kb));
    json_object_set_new(data, "name", json_string(name));
    json_object_set_new(data, "gen", json_integer(gen));
    json_object_set_new(data, "step", json_string(step));
    json_object_set_new(data, "ts_ms", json_integer(now));
    json_object_set_new(data, "time", json_string(ts));
    char *val = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
    size_t klen = strlen(name) + 64;
    char *key = malloc(klen);
    int rc = -1;
    if (!val || !key || !j->prod) {
        snprintf(err, errlen, "journal: %s", j->prod ? "out of memory" : "opened read-only");
        goto out;
    }
    int kl = snprintf(key, klen, "%c\t%d\t%s\t%s", kind, gen, step, name);
    j->delivery_failed = 0;
    rd_kafka_resp_err_t e =
        rd_kafka_producev(j->prod, RD_KAFKA_V_TOPIC(j->topic), RD_KAFKA_V_PARTITION(0),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, (size_t)kl),
                          RD_KAFKA_V_VALUE(val, strlen(val)), RD_KAFKA_V_END);
    if (e) {
        snprintf(err, errlen, "journal %s: %s", j->topic, rd_kafka_err2str(e));
        goto out;
    }
    if (rd_kafka_flush(j->prod, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "journal %s: write not acknowledged within 30 s", j->topic);
        goto out;
    }
    if (j->delivery_failed) {
        snprintf(err, errlen, "journal %s: %s", j->topic, j->delivery_err);
        goto out;
    }
    json_incref(data);
    if (add_entry(j, kind, name, gen, step, data)) {
        json_decref(data);
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    rc = 0;
out:
    free(val);
    free(key);
    json_decref(data);
    return rc;
}
