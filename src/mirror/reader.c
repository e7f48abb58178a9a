/*
 * reader.c - bounded multi-partition reads (see reader.h).
 *
 * Uses the legacy per-partition consumer API on a private queue, so no
 * group is joined and nothing is committed.  A spec is done when a record
 * at or past end-1 arrived or the partition reported EOF at/after end.
 */
#include "mirror/reader.h"

#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rtopic {
    rd_kafka_topic_t *rkt;
    const char *name;
} rtopic;

/* Messages arrive in runs of one partition (one fetch response each), so
 * the last hit is remembered: the linear search runs about once per run. */
static reader_spec *find_spec(reader_spec *specs, size_t n, const rd_kafka_message_t *m,
                              reader_spec **last) {
    const char *t = rd_kafka_topic_name(m->rkt);
    if (*last && (*last)->partition == m->partition && !strcmp((*last)->topic, t))
        return *last;
    for (size_t i = 0; i < n; i++)
        if (specs[i].partition == m->partition && !strcmp(specs[i].topic, t))
            return *last = &specs[i];
    return NULL;
}

int reader_run(rd_kafka_t *rk, reader_spec *specs, size_t n, reader_cb cb, void *ctx,
               int timeout_ms, char *err, size_t errlen) {
    int rc = -1;
    size_t remaining = 0;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rtopic *topics = calloc(n ? n : 1, sizeof(*topics));
    size_t ntopics = 0;
    rd_kafka_message_t *msgs[1000];
    if (!topics) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        specs[i].done = 3;
    for (size_t i = 0; i < n; i++) {
        specs[i].done = specs[i].start >= specs[i].end ? 1 : 3; /* 3: not started */
        if (specs[i].done == 1)
            continue;
        rd_kafka_topic_t *rkt = NULL;
        for (size_t k = 0; k < ntopics && !rkt; k++)
            if (!strcmp(topics[k].name, specs[i].topic))
                rkt = topics[k].rkt;
        if (!rkt) {
            rkt = rd_kafka_topic_new(rk, specs[i].topic, NULL);
            if (!rkt) {
                snprintf(err, errlen, "%s: %s", specs[i].topic,
                         rd_kafka_err2str(rd_kafka_last_error()));
                goto out;
            }
            topics[ntopics].rkt = rkt;
            topics[ntopics++].name = specs[i].topic;
        }
        if (rd_kafka_consume_start_queue(rkt, specs[i].partition, specs[i].start, q) != 0) {
            snprintf(err, errlen, "%s/%d: cannot start: %s", specs[i].topic, specs[i].partition,
                     rd_kafka_err2str(rd_kafka_last_error()));
            goto out;
        }
        specs[i].done = 0;
        remaining++;
    }
    int64_t deadline = kf_now_ms() + timeout_ms;
    reader_spec *last = NULL;
    while (remaining > 0) {
        if (kf_now_ms() > deadline) {
            snprintf(err, errlen, "timed out with %zu partition(s) unread", remaining);
            goto out;
        }
        ssize_t got = rd_kafka_consume_batch_queue(q, 200, msgs, 1000);
        for (ssize_t i = 0; i < got; i++) {
            rd_kafka_message_t *m = msgs[i];
            reader_spec *s = find_spec(specs, n, m, &last);
            int abort = 0;
            if (s && !s->done) {
                if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                    if (m->offset >= s->end) {
                        s->done = 1;
                        remaining--;
                    }
                } else if (m->err) {
                    snprintf(err, errlen, "%s/%d: %s", s->topic, s->partition,
                             rd_kafka_message_errstr(m));
                    abort = 1;
                } else if (m->offset < s->end) {
                    if (cb(m, s, ctx) != 0) {
                        snprintf(err, errlen, "aborted at %s/%d offset %lld", s->topic,
                                 s->partition, (long long)m->offset);
                        abort = 1;
                    }
                    if (m->offset >= s->end - 1 && !s->done) {
                        s->done = 1;
                        remaining--;
                    }
                } else {
                    s->done = 1;
                    remaining--;
                }
            }
            rd_kafka_message_destroy(m);
            if (abort) {
                for (ssize_t k = i + 1; k < got; k++)
                    rd_kafka_message_destroy(msgs[k]);
                goto out;
            }
        }
    }
    rc = 0;
out:
    for (size_t i = 0; i < n; i++) {
        if (specs[i].start >= specs[i].end || specs[i].done == 3)
            continue;
        for (size_t k = 0; k < ntopics; k++)
            if (!strcmp(topics[k].name, specs[i].topic))
                rd_kafka_consume_stop(topics[k].rkt, specs[i].partition);
    }
    /* drain what is left so the queue can be destroyed */
    ssize_t got;
    while ((got = rd_kafka_consume_batch_queue(q, 0, msgs, 1000)) > 0)
        for (ssize_t i = 0; i < got; i++)
            rd_kafka_message_destroy(msgs[i]);
    rd_kafka_queue_destroy(q);
    for (size_t k = 0; k < ntopics; k++)
        rd_kafka_topic_destroy(topics[k].rkt);
    free(topics);
    return rc;
}
