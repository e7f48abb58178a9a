/*
 * grpadmin.h - consumer-group admin calls kferry needs for group sync and
 * cutover: list, describe (state and members), committed offsets, commit.
 *
 * Thin synchronous wrappers over librdkafka's admin API (one group per
 * request, as librdkafka 2.0.2 requires).  Return 0 or -1 with err set;
 * the caller owns the out structures and frees them with the _free calls.
 */
#ifndef KF_MIRROR_GRPADMIN_H
#define KF_MIRROR_GRPADMIN_H

#include "mirror/config.h"

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ga_off {
    char *topic;
    int32_t partition;
    int64_t offset;
    char *metadata; /* committed metadata string, NULL if none */
} ga_off;

typedef struct ga_offsets {
    ga_off *v;
    size_t n, cap;
} ga_offsets;

typedef struct ga_member {
    char *member_id, *client_id, *host;
    rd_kafka_topic_partition_list_t *assignment; /* NULL if none reported */
} ga_member;

typedef struct ga_group {
    int state; /* rd_kafka_consumer_group_state_t */
    ga_member *members;
    size_t nmembers;
} ga_group;

/* Group ids of the cluster, sorted. */
int ga_list(rd_kafka_t *rk, int timeout_ms, char ***ids, size_t *n, char *err, size_t errlen);
void ga_list_free(char **ids, size_t n);
/* State and members; a group the cluster does not know is Dead with no members. */
int ga_describe(rd_kafka_t *rk, const char *group, int timeout_ms, ga_group *out, char *err,
                size_t errlen);
void ga_group_free(ga_group *g);
/* A member's assignment in the consumer protocol's layout (version, then
 * topics with their partitions, then user data); NULL if empty or not that
 * layout.  Exposed for the unit tests. */
rd_kafka_topic_partition_list_t *ga_parse_assignment(const void *p, size_t n);
/* 1 if no consumer is active in the group (Empty or Dead, no members). */
int ga_idle(const ga_group *g);
/* Committed offsets (partitions with nothing committed are left out). */
int ga_committed(rd_kafka_t *rk, const char *group, int timeout_ms, ga_offsets *out, char *err,
                 size_t errlen);
/* A handle for group admin calls on rk's cluster that has a group context:
 * rk itself when it has a group.id, else a consumer with rk's configuration
 * and a group.id of kferry's own that it never joins or commits to (one per
 * cluster address, created on first use, destroyed at exit).  librdkafka
 * 2.0.2 dereferences a NULL group context when OffsetFetch or OffsetCommit
 * issued by the admin API is answered NOT_COORDINATOR, which real clusters
 * do while a coordinator loads or moves: without this the process dies with
 * SIGSEGV.  (Giving every handle a group.id instead makes
 * rd_kafka_destroy() hang in consumer close on handles that consumed.) */
rd_kafka_t *ga_group_handle(rd_kafka_t *rk);

/* Commits offs for group (AlterConsumerGroupOffsets: refused by the broker
 * while the group has members). Any per-partition error fails the call. */
int ga_commit(rd_kafka_t *rk, const char *group, const ga_offsets *offs, int timeout_ms, char *err,
              size_t errlen);
int ga_offsets_add(ga_offsets *o, const char *topic, int32_t partition, int64_t offset,
                   const char *metadata);
/* Index of (topic, partition) in o, or -1. */
long ga_offsets_find(const ga_offsets *o, const char *topic, int32_t partition);
void ga_offsets_free(ga_offsets *o);

/* 1 if group is selected by the config's groups / groups.exclude (never
 * kferry's own `__kferry*` groups nor kferry.lock.group). */
int ga_selected(const mirror_config *c, const char *group);
/* Compiles a user group pattern ("re:REGEX" or a plain name) and matches:
 * 1 match, 0 no match, -1 invalid regex. */
int ga_pattern_match(const char *pattern, const char *group);
/* Whether a command given pattern (NULL: none) acts on group: a plain name
 * is taken as is; a regex, or no pattern, also needs the config's
 * groups / groups.exclude selection (so "re:.*" skips e.g. connect-*). */
int ga_wanted(const mirror_config *c, const char *pattern, const char *group);

#endif
