/*
 * topics.h - topic discovery on the source and creation/growth on the
 * target, including the copy of topic configs.
 *
 * Only reads (Metadata, DescribeConfigs) go to the source; only CreateTopics
 * and CreatePartitions go to the target.  Target topics are never deleted
 * or shrunk.
 */
#ifndef KF_MIRROR_TOPICS_H
#define KF_MIRROR_TOPICS_H

#include "mirror/config.h"

#include <librdkafka/rdkafka.h>

typedef struct topic_info {
    char *name;
    int partitions;
} topic_info;

typedef struct topic_list {
    topic_info *t;
    size_t n;
    int brokers;
} topic_list;

/* Waits for one admin result event of the given type (NULL on timeout). */
rd_kafka_event_t *topics_admin_wait(rd_kafka_queue_t *q, int type, int timeout_ms);
/* The effective retention.ms of n distinct topics in one DescribeConfigs
 * round: out[i] = the value (-1: no limit), INT64_MIN where unknown. */
void topics_retention(rd_kafka_t *rk, const char *const *topics, size_t n, int64_t *out,
                      int timeout_ms);
/* Partition count of one topic: >0, -1 if it does not exist, -2 on error. */
int topics_partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms);
/* All topics of the cluster (sorted by name). 0 or -1. */
int topics_list(rd_kafka_t *rk, topic_list *out, int timeout_ms);
void topics_list_free(topic_list *l);
const topic_info *topics_find(const topic_list *l, const char *name);

/* Earliest (which = -2) or latest (-1) offsets of n partitions, batched
 * into one ListOffsets per broker.  out[i] = -1 where unavailable, and at
 * once for partitions the cluster does not have. */
void topics_offsets(rd_kafka_t *rk, const char *const *topics, const int32_t *parts, size_t n,
                    int64_t which, int64_t *out);
/* Creates tgt with nparts partitions and (if enabled) src's explicit
 * configs. Already existing is success. 0 or -1. */
int topics_create(const mirror_config *c, rd_kafka_t *src_rk, rd_kafka_t *tgt_rk, const char *src,
                  const char *tgt, int nparts, int brokers);
/* Grows tgt to total partitions. 0 or -1. */
int topics_grow(rd_kafka_t *tgt_rk, const char *tgt, int total);
/* Creates the compacted offset-map topic if missing. 0 or -1. */
int topics_ensure_map_topic(const mirror_config *c, rd_kafka_t *tgt_rk, rd_kafka_t *tgt_reader,
                            int brokers);
/* Creates the flow-lock topic (one partition per unit, kferry.workers) (kferry.lock.topic) if
 * missing, through rk (which must not auto-create topics). 0 or -1. */
int topics_ensure_lock_topic(const mirror_config *c, rd_kafka_t *rk, int brokers);

#endif
