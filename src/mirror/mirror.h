/*
 * mirror.h - state shared by the replication files (replicate.c, refresh.c,
 * reconcile.c, progress.c).  Internal to `kferry mirror`.
 *
 * Threading: one engine (struct mirror) per unit of the flow
 * (kferry.workers), each on its own thread (replicate.c) with its own
 * librdkafka handles; everything here is touched only by that thread, and
 * delivery reports run inside rd_kafka_poll() on it too.
 * Invariant: for a running partition, fifo holds, in produce order, the
 * source offsets of records handed to the producer and not yet reported.
 */
#ifndef KF_MIRROR_MIRROR_H
#define KF_MIRROR_MIRROR_H

#include "mirror/config.h"
#include "mirror/inverse.h"
#include "mirror/offmap.h"

#include <librdkafka/rdkafka.h>
#include <stdint.h>

enum { P_IDLE = 0, P_RUNNING = 1, P_STOPPED = 2 };
/* FIFO entries: a produced record, or a hole recorded in the map only once
 * every record before it was acknowledged (so a persisted hole never hides
 * an unacknowledged record from reconciliation). */
enum { F_RECORD = 0, F_SKIP = 1, F_GAP = 2, F_END = 3 };

typedef struct fentry {
    int64_t off, end, origin; /* F_RECORD: off; holes: [off, end) */
    int kind;
} fentry;

struct mtopic;

typedef struct mpart {
    struct mtopic *t;
    int32_t partition;
    om_part *map;
    int state;
    int failed;
    int64_t next_src; /* source offset after the last record handed over */
    fentry *fifo;
    size_t fcap, fhead, fcount;
    /* reconciliation: target records [tail_start, tail_start + tail_n)
     * written before a crash, matched in order against the source; those
     * flagged foreign were mirrored by the opposite flow and are skipped */
    uint64_t *tail_hash;
    uint8_t *tail_have, *tail_foreign;
    int64_t tail_start, tail_n, tail_i;
    /* loop prevention (inverse.h): source stretches the opposite flow
     * wrote (loop_i: cursor, offsets only grow) and target stretches it
     * mirrored */
    inv_range *loop, *foreign;
    size_t nloop, loop_i, nforeign;
    int baseline_wait; /* baseline record not acknowledged yet */
    int64_t delivered, delivered_bytes, reconciled, skipped;
    int64_t last_ts; /* timestamp of the last record handed over (0: none yet) */
    int last_err;    /* rate-limits consumer error logs */
    int64_t last_err_ms;
} mpart;

typedef struct mtopic {
    char *src, *tgt;
    rd_kafka_topic_t *src_rkt, *tgt_rkt;
    int nparts;
    mpart **parts;
    int gone;
    int64_t retention_ms; /* the source topic's (-1: none, INT64_MIN: not known yet) */
} mtopic;

/* progress.c's rates, per replication engine */
typedef struct progress_state {
    int64_t last_ms, last_delivered, last_bytes, start_ms;
    double rps, bps;
    int64_t recent_ms, recent_delivered;
    double recent_rps;
    int64_t prev_delivered, last_progress_ms;
} progress_state;

struct unit_run;

typedef struct mirror {
    mirror_config *cfg;
    rd_kafka_t *src, *tgt_reader, *prod;
    rd_kafka_t *src_reader; /* reads the opposite flow's map on the source */
    inv_map inv;
    int64_t baseline_pending; /* baseline records not acknowledged yet */
    rd_kafka_queue_t *q;
    rd_kafka_topic_t *map_rkt;
    offmap map;
    mtopic **topics;
    size_t ntopics;
    char **noted; /* excluded topics already logged */
    size_t nnoted;
    int warned_empty; /* "nothing selected" was logged (again once something is) */
    int brokers;
    int64_t delivered, delivered_bytes, produced, gaps, gap_records, reconciled, skipped;
    int fatal;
    int exit_code;
    char flow[128];
    char status_key[160]; /* the flow, plus "#<unit>" with kferry.workers > 1 */
    struct unit_run *u;   /* the unit this engine runs (replicate.c) */
    progress_state pg;
    int lock_ended;        /* it stopped holding: hand nothing more to the producer */
    int discarding;        /* lost the lock: purged records are not failures */
    const char *holder_id; /* the lock's client id, in the status record */
    /* kferry.transactions.enabled: a transaction is open; one failed (the
     * run ends and restarts from the committed map) */
    int txn_open, txn_failed;
    int64_t txn_commits;
    /* the last topic-config sync round (wall clock ms, 0 if none; topics
     * compared, changed, failed), for the status record */
    int64_t csync_ms;
    int csync_topics, csync_changed, csync_failed;
} mirror;

/* Stops the mirror with exit status code (first call wins) and logs why. */
__attribute__((format(printf, 3, 4))) void mirror_fatal(mirror *m, int code, const char *fmt, ...);
/* Retention gap on p: next_src is below the source log start lo. */
void mirror_gap(mirror *m, mpart *p, int64_t lo);
/* Records hole [start, end) (F_SKIP, F_GAP or F_END) in p's map once every record
 * handed over before it is acknowledged. */
void mirror_hole(mirror *m, mpart *p, int kind, int64_t start, int64_t end, int64_t origin);
/* Skips the opposite flow's records at off (next_src moves past them);
 * 1 if off was one of them. */
int mirror_loop_skip(mirror *m, mpart *p, int64_t off, int at_start);

/* refresh.c: discovers topics/partitions, creates them on the target and
 * starts new partitions.  0, or -1 if discovery failed (retried later). */
int refresh_topics(mirror *m);
/* Rebuilds p's loop/foreign stretches from m->inv. 0 or -1 (OOM). */
int refresh_loop_attach(mirror *m, mpart *p);
/* Reloads the opposite flow's map if it changed; stops the mirror if the
 * opposite flow is running. */
void refresh_opposite(mirror *m);

/* reconcile.c: computes resume positions (with target tail reconciliation)
 * and starts consuming. */
int reconcile_start(mirror *m, mpart **parts, size_t n);
uint64_t reconcile_hash(const void *key, size_t klen, const void *val, size_t vlen);
/* Matches one source record against the target tail; 0 ok, -1 mismatch. */
int reconcile_match(mirror *m, mpart *p, const rd_kafka_message_t *msg);

/* progress.c */
void progress_unit_ended(int unit); /* its lag no longer counts in this process */
void progress_tick(mirror *m, int64_t now_ms, int final);
/* Writes the status record now (running, and clean = nothing in flight). */
void progress_status(mirror *m, int running, int clean);
int64_t progress_total_lag(mirror *m);

#endif
