/*
 * group.h - the consumer-group coordinator (this node coordinates every
 * group) and the committed-offsets store.
 *
 * Implements the classic rebalance protocol: JoinGroup/SyncGroup/Heartbeat/
 * LeaveGroup with session and rebalance timeouts, plus OffsetCommit/
 * OffsetFetch/ListGroups/DescribeGroups/DeleteGroups/OffsetDelete.
 * Committed offsets are persisted under <data-dir>/kferry-meta/ and survive
 * restarts.
 */
#ifndef KB_GROUP_H
#define KB_GROUP_H

#include "broker/broker.h"

typedef struct kb_groups kb_groups;

/* Loads persisted offsets. Returns 0 or -1 with a message. */
int kb_groups_open(kb_groups **out, kb_broker *b, const char *data_dir, char *err, size_t errlen);
void kb_groups_close(kb_groups *g);
/* Session expiry, rebalance completion on timeout, offset retention. */
void kb_groups_tick(kb_groups *g, int64_t now_ms);
/* A topic was deleted: drop its committed offsets. */
void kb_groups_topic_deleted(kb_groups *g, const char *topic);

#endif
