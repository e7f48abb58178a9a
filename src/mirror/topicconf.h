/*
 * topicconf.h - topic configs explicitly set on a topic (DescribeConfigs),
 * which of them kferry copies, and keeping target topics in step.
 *
 * Reads only on the source; AlterConfigs only on the target.  Invariant:
 * target-only settings on excluded keys (e.g. min.insync.replicas) are kept.
 */
#ifndef KF_MIRROR_TOPICCONF_H
#define KF_MIRROR_TOPICCONF_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

typedef struct tconf {
    char **name, **value;
    size_t n;
} tconf;

/* Configs set on the topic (not defaults, not read-only, not sensitive). 0 or -1. */
int tconf_describe(rd_kafka_t *rk, const char *topic, tconf *out, char *err, size_t errlen);
void tconf_free(tconf *t);
/* 1 if kferry copies a config of this name from source to target. */
int tconf_copyable(const char *name);
/* Makes tgt's copyable configs equal src's. 1 changed, 0 already equal, -1 error. */
int tconf_sync(rd_kafka_t *src_rk, rd_kafka_t *tgt_rk, const char *src, const char *tgt);

#endif
