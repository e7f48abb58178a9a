/*
 * mirror.h - state shared by the replication files (replicate.c, refresh.c,
 * reconcile.c, progress.c).  Internal to `kferry mirror`.
 *
 * Threading: everything here is touched only by the main thread; librdkafka
 * delivery reports run inside rd_kafka_poll() on that thread too.
 * Invariant: for a running partition, fifo holds, in produce order, the
 * source offsets of records handed to the producer and not yet reported.
 */
#ifndef KF_MIRROR_MIRROR_H
#define KF_MIRROR_MIRROR_H

#include "mirror/config.h"
#include "mirror/offmap.h"

#include <librdkafka/rdkafka.h>
#include <stdint.h>

enum { P_IDLE = 0, P_RUNNING = 1, P_STOPPED = 2 };

struct mtopic;

typedef struct mpart {
    struct mtopic *t;
    int32_t partition;
    om_part *map;
    int state;
    int failed;
    int64_t next_src; /* source offset after the last record handed over */
    int64_t *fifo;
    size_t fcap, fhead, fcount;
    /* reconciliation: target records [tail_start, tail_start + tail_n)
     * written before a crash, matched in order against the source */
    uint64_t *tail_hash;
    uint8_t *tail_have;
    int64_t tail_start, tail_n, tail_i;
    int64_t delivered, delivered_bytes, reconciled;
    int last_err; /* rate-limits consumer error logs */
    int64_t last_err_ms;
} mpart;

typedef struct mtopic {
    char *src, *tgt;
    rd_kafka_topic_t *src_rkt, *tgt_rkt;
    int nparts;
    mpart **parts;
    int gone;
} mtopic;

typedef struct mirror {
    mirror_config *cfg;
    rd_kafka_t *src, *tgt_reader, *prod;
    rd_kafka_queue_t *q;
    rd_kafka_topic_t *map_rkt;
    offmap map;
    mtopic **topics;
    size_t ntopics;
    char **noted; /* excluded topics already logged */
    size_t nnoted;
    int brokers;
    int64_t delivered, delivered_bytes, produced, gaps, gap_records, reconciled;
    int fatal;
    int exit_code;
    char flow[128];
} mirror;

/* Stops the mirror with exit status code (first call wins) and logs why. */
__attribute__((format(printf, 3, 4))) void mirror_fatal(mirror *m, int code, const char *fmt, ...);
/* Retention gap on p: next_src is below the source log start lo. */
void mirror_gap(mirror *m, mpart *p, int64_t lo);

/* refresh.c: discovers topics/partitions, creates them on the target and
 * starts new partitions.  0, or -1 if discovery failed (retried later). */
int refresh_topics(mirror *m);

/* reconcile.c: computes resume positions (with target tail reconciliation)
 * and starts consuming. */
int reconcile_start(mirror *m, mpart **parts, size_t n);
uint64_t reconcile_hash(const void *key, size_t klen, const void *val, size_t vlen);
/* Matches one source record against the target tail; 0 ok, -1 mismatch. */
int reconcile_match(mirror *m, mpart *p, const rd_kafka_message_t *msg);

/* progress.c */
void progress_tick(mirror *m, int64_t now_ms, int final);
int64_t progress_total_lag(mirror *m);

#endif
