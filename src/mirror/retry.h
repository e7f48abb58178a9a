/*
 * retry.h - retrying the requests that real clusters answer with transient
 * errors.
 *
 * Kafka is asynchronous: right after CreateTopics a partition has no leader
 * yet, a restarting broker hands its leaderships over, a group coordinator
 * loads its partition of __consumer_offsets.  Those answers are not
 * failures; callers retry them with backoff until a deadline, and only a
 * condition that outlives the deadline becomes an error.
 */
#ifndef KF_MIRROR_RETRY_H
#define KF_MIRROR_RETRY_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

/* 1 when e is an answer that clears by itself on a healthy cluster: leader
 * election or movement, coordinator movement or loading, a rebalance, a
 * request or transport timeout, a broker restarting. */
int retry_transient(rd_kafka_resp_err_t e);

/* Backoff for attempt n (0-based): 100 ms doubling to 2 s, with jitter. */
int retry_backoff_ms(int attempt);

/* rd_kafka_query_watermark_offsets, retried on transient errors (and on
 * UNKNOWN_TOPIC_OR_PART or a partition the handle does not know yet, which a
 * topic just created or grown answers for a moment; the handle's metadata
 * is refreshed between attempts) until timeout_ms has passed in all.  Each retry is logged at
 * debug level; the last error is returned. */
rd_kafka_resp_err_t retry_watermarks(rd_kafka_t *rk, const char *topic, int32_t partition,
                                     int64_t *lo, int64_t *hi, int timeout_ms);

/* rd_kafka_offsets_for_times, retried the same way: a partition whose
 * per-partition error is transient is asked again. */
rd_kafka_resp_err_t
retry_offsets_for_times(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *offsets, int timeout_ms);

/* Records that a transient condition was met and is being retried (what:
 * one line naming the cluster or partition and the cause).  The mirror
 * reports the count and the last one in its status record, `kferry status`
 * and /metrics, so an operator sees a cluster that keeps misbehaving even
 * while kferry copes with it.  Thread-safe. */
void retry_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The count so far and the last note (copied to last, "" if none) with its
 * wall-clock time in ms (0 if none). */
int64_t retry_noted(char *last, size_t lastlen, int64_t *when_ms);

/* Set from signal handlers: retry loops give up at once when it is set. */
void retry_interrupt(void);
int retry_interrupted(void);

#endif
