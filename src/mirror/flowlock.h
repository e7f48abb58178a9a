/*
 * flowlock.h - one writer per flow: a consumer group on the target elects
 * the process allowed to write a flow (docs/MIRROR.md, "One writer per
 * flow").
 *
 * The group is kferry.lock.group; every `kferry mirror` of the flow joins it
 * subscribed to the one-partition kferry.lock.topic.  The member the group
 * assigns partition 0 holds the flow; the others are standbys and write
 * nothing.  The consumer never fetches (it assigns itself nothing) and never
 * commits.  Client ids start with the join time, so the range assignor
 * keeps the lock with the oldest member and a new standby does not take it.
 *
 * With kferry.workers=N the lock topic has N partitions, one per unit of the
 * flow: a member holds the units whose partitions it is assigned
 * (flowlock.units) and runs each in a thread (replicate.c).
 *
 * Threading: main thread only; the rebalance callback runs inside fl_poll.
 */
#ifndef KF_MIRROR_FLOWLOCK_H
#define KF_MIRROR_FLOWLOCK_H

#include "mirror/config.h"

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdint.h>

typedef struct flowlock {
    const mirror_config *c;
    rd_kafka_t *rk;
    char client_id[320];
    int held;            /* partition 0 assigned in the current generation */
    int ended;           /* a holding period ended (revoked, lost, fatal) */
    int lost;            /* ... without a clean hand-over: another may hold now */
    int release_pending; /* revoked while holding: assign(NULL) deferred */
    int closing;
    int refused;              /* the target refuses the lock group's settings: cannot ever hold */
    int nunits;               /* kferry.workers: the lock topic's partitions, one per unit */
    unsigned char units[256]; /* the units assigned in the current generation */
    int last_err;
    int64_t last_err_ms;
} flowlock;

/* Creates the lock topic if absent and joins the lock group, retrying
 * (with logs) until it succeeds or *stop is set.  0, or -1 (stopped, or a
 * configuration librdkafka refused). */
int fl_open(flowlock *fl, const mirror_config *c, const volatile sig_atomic_t *stop);
/* Leaves the group (a standby takes over at once) and frees. */
void fl_close(flowlock *fl);
/* Serves the lock consumer (rebalance callbacks) for up to timeout_ms.
 * 1 while this process holds the flow, 0 otherwise. */
int fl_poll(flowlock *fl, int timeout_ms);
/* After a holding period ended and the holder stopped writing: lets the
 * group go on (deferred unassign), or, if the lock was lost, rejoins as a
 * fresh (youngest) member.  0, or -1 if the new member could not be made. */
int fl_after_end(flowlock *fl, const volatile sig_atomic_t *stop);

/* The unit of the flow a source partition belongs to (0..units-1): a
 * fixed function of the topic name and partition, the same in every
 * process. */
uint32_t fl_unit_of(const char *topic, int32_t partition, int units);

/* Who holds the flow, from DescribeGroups on the lock group (ga_describe). */
typedef struct fl_view {
    int found;          /* a member holds partition 0 */
    char holder[320];   /* its client id */
    char host[128];     /* its host as the coordinator sees it */
    int members;        /* members of the lock group */
    int units_held;     /* units (lock-topic partitions) assigned to members */
    char state[32];     /* group state */
    char standbys[512]; /* client ids of the others, comma-separated */
} fl_view;
/* 0, or -1 with err set (e.g. coordinator not available yet). */
int fl_describe(rd_kafka_t *rk, const mirror_config *c, fl_view *v, char *err, size_t errlen);

#endif
