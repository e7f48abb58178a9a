/*
 * groupsync.h - group offset sync inside `kferry mirror`: selected source
 * groups' committed offsets, translated exactly, committed on the target for
 * groups with no active member there; never backwards.  Own thread and
 * librdkafka handles; shares only the read-only config with the mirror.
 */
#ifndef KF_MIRROR_GROUPSYNC_H
#define KF_MIRROR_GROUPSYNC_H

#include "mirror/config.h"
#include "mirror/grouptr.h"

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>

/* Starts the sync thread unless sync.group.offsets.enabled=false. 0, or -1
 * if the thread could not start (logged; the mirror goes on without it). */
int groupsync_start(mirror_config *c);
/* Stops and joins the thread (no-op if not started). */
void groupsync_stop(void);

/* What the sync thread has done so far, for /metrics. */
typedef struct groupsync_stats {
    long long passes_ok, passes_failed; /* passes without / with a failed group or error */
    long long failed_groups;            /* groups that failed in the last pass */
    long long synced_groups;            /* groups synced in the last pass */
    long long last_ok_ms;               /* wall clock of the last pass without failure; 0 */
} groupsync_stats;
void groupsync_metrics(groupsync_stats *out);

/* sync.group.offsets.* settings ("A->B.<key>" beats "<key>" beats def). */
int groupsync_setting(mirror_config *c, const char *key, int def);

typedef struct gs_state gs_state;
/* One sync pass over the groups matching pattern (NULL = the config's
 * groups/groups.exclude).  Returns the number of groups committed to, or
 * -1 if the clusters could not be read.  state keeps what was already
 * logged between passes (may be NULL); stop (may be NULL) ends the pass
 * between two groups. */
int groupsync_once(mirror_config *c, rd_kafka_t *src, rd_kafka_t *tgt, gt_map *map,
                   const char *pattern, gs_state **state, const atomic_int *stop);
void groupsync_state_free(gs_state *s);

/* The last pass of the sync thread, for the status record (progress.c). */
typedef struct gs_summary {
    int enabled, interval_s;
    int64_t last_ms; /* wall clock at the end of the last full pass, 0 if none */
    int groups, committed, active, cut_over, failed;
} gs_summary;
void groupsync_summary(gs_summary *out);

#endif
