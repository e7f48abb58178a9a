/*
 * retry.c - transient-error classification and retried requests (see
 * retry.h).
 *
 * The deadline covers all attempts together, so a caller that promises to
 * answer within timeout_ms still does.  Between attempts the handle's
 * metadata is refreshed, because a leader that moved or a partition that
 * was just created is unknown to the handle until it asks again.
 */
#include "mirror/retry.h"

#include "common/log.h"
#include "common/util.h"

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static volatile sig_atomic_t g_interrupted;
static pthread_mutex_t g_note_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t g_notes, g_note_ms;
static char g_note[512];

void retry_note(const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&g_note_mu);
    g_notes++;
    g_note_ms = kf_wall_ms();
    kf_strlcpy(g_note, line, sizeof(g_note));
    pthread_mutex_unlock(&g_note_mu);
}

int64_t retry_noted(char *last, size_t lastlen, int64_t *when_ms) {
    pthread_mutex_lock(&g_note_mu);
    int64_t n = g_notes;
    if (last && lastlen)
        kf_strlcpy(last, g_note, lastlen);
    if (when_ms)
        *when_ms = g_note_ms;
    pthread_mutex_unlock(&g_note_mu);
    return n;
}

void retry_interrupt(void) { g_interrupted = 1; }
int retry_interrupted(void) { return g_interrupted != 0; }

int retry_transient(rd_kafka_resp_err_t e) {
    switch (e) {
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_REPLICA_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__WAIT_COORD: return 1;
    default: return 0;
    }
}

int retry_backoff_ms(int attempt) {
    int ms = 100;
    for (int i = 0; i < attempt && ms < 2000; i++)
        ms *= 2;
    if (ms > 2000)
        ms = 2000;
    return ms - (int)(rand() % (ms / 4 + 1));
}

/* A topic just created or a partition just added is unknown to the broker
 * for a moment, and to the handle until its metadata is refreshed. */
static int unknown_yet(rd_kafka_resp_err_t e) {
    return e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
           e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION || e == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
}

static void refresh_metadata(rd_kafka_t *rk, const char *topic, int timeout_ms) {
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (!rkt)
        return;
    const struct rd_kafka_metadata *md = NULL;
    if (!rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms) && md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
}

/* Sleeps the backoff of attempt, at most until deadline; 0 when there is
 * time for another attempt. */
static int pause_before_retry(rd_kafka_t *rk, int attempt, int64_t deadline) {
    int64_t left = deadline - kf_now_ms();
    int ms = retry_backoff_ms(attempt);
    if (g_interrupted || left <= ms)
        return -1;
    rd_kafka_poll(rk, ms);
    return 0;
}

static int attempt_timeout(int64_t deadline) {
    int64_t left = deadline - kf_now_ms();
    if (left < 500)
        left = 500;
    return left > 10000 ? 10000 : (int)left;
}

rd_kafka_resp_err_t retry_watermarks(rd_kafka_t *rk, const char *topic, int32_t partition,
                                     int64_t *lo, int64_t *hi, int timeout_ms) {
    int64_t deadline = kf_now_ms() + timeout_ms;
    for (int attempt = 0;; attempt++) {
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, topic, partition, lo, hi,
                                                                 attempt_timeout(deadline));
        if (!e || !(retry_transient(e) || unknown_yet(e)))
            return e;
        kf_debug("retry", "%s: watermarks of %s/%d: %s (attempt %d, retrying)", rd_kafka_name(rk),
                 topic, (int)partition, rd_kafka_err2str(e), attempt + 1);
        retry_note("%s/%d: watermarks: %s", topic, (int)partition, rd_kafka_err2str(e));
        if (pause_before_retry(rk, attempt, deadline))
            return e;
        refresh_metadata(rk, topic, attempt_timeout(deadline));
    }
}

rd_kafka_resp_err_t
retry_offsets_for_times(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *offsets, int timeout_ms) {
    int64_t deadline = kf_now_ms() + timeout_ms;
    /* the query overwrites each offset with its answer: keep the question */
    int64_t *asked = calloc((size_t)offsets->cnt + 1, sizeof(*asked));
    if (!asked)
        return RD_KAFKA_RESP_ERR__FAIL;
    for (int i = 0; i < offsets->cnt; i++)
        asked[i] = offsets->elems[i].offset;
    rd_kafka_resp_err_t e;
    for (int attempt = 0;; attempt++) {
        for (int i = 0; i < offsets->cnt; i++) {
            offsets->elems[i].offset = asked[i];
            offsets->elems[i].err = RD_KAFKA_RESP_ERR_NO_ERROR;
        }
        e = rd_kafka_offsets_for_times(rk, offsets, attempt_timeout(deadline));
        int again = !e ? 0 : retry_transient(e);
        for (int i = 0; !e && i < offsets->cnt; i++) {
            rd_kafka_resp_err_t pe = offsets->elems[i].err;
            if (retry_transient(pe) || unknown_yet(pe))
                again = 1;
        }
        if (!again)
            break;
        kf_debug("retry", "%s: offsets for times: %s (attempt %d, retrying)", rd_kafka_name(rk),
                 rd_kafka_err2str(e), attempt + 1);
        retry_note("%s: offsets by time: %s", offsets->cnt ? offsets->elems[0].topic : "?",
                   e ? rd_kafka_err2str(e) : "partition errors");
        if (pause_before_retry(rk, attempt, deadline))
            break;
        if (offsets->cnt)
            refresh_metadata(rk, offsets->elems[0].topic, attempt_timeout(deadline));
    }
    free(asked);
    return e;
}
