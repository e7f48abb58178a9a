/*
 * inventory.h - what a cluster holds, as JSON (jansson) for `kferry plan`:
 * brokers, topics and configs, consumer groups with offsets and lag, ACLs.
 * Read-only requests only.  A part that cannot be read is recorded with its
 * reason; it never aborts the rest.
 */
#ifndef KF_MIGRATE_INVENTORY_H
#define KF_MIGRATE_INVENTORY_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>

/* Fills cluster (a JSON object) with "cluster_id", "controller_id",
 * "broker_count", "brokers", "message_max_bytes" and "topics" (sorted by
 * name).  0, or -1 if Metadata failed (err set; nothing else added). */
int inv_cluster(rd_kafka_t *rk, int timeout_ms, json_t *cluster, char *err, size_t errlen);

/* Adds "groups" (array) and "groups_error" (string or null). */
void inv_groups(rd_kafka_t *rk, int timeout_ms, json_t *cluster);

/* Adds "acls": {"readable", "error", "bindings"}. */
void inv_acls(rd_kafka_t *rk, int timeout_ms, json_t *cluster);

/* Waits for one admin result event of type, bounded by timeout_ms. */
rd_kafka_event_t *inv_wait(rd_kafka_queue_t *q, int type, int timeout_ms);
/* Admin options with request timeout timeout_ms (and validate_only if set). */
rd_kafka_AdminOptions_t *inv_options(rd_kafka_t *rk, rd_kafka_admin_op_t op, int timeout_ms);

/* The topic object named name in cluster's "topics", or NULL.  Looks up
 * an index (name -> topic) built on first use, so a plan over thousands of
 * topics stays linear; the index is private ("_index") and never printed. */
json_t *inv_topic(json_t *cluster, const char *name);
/* Drops the index again (before printing the document). */
void inv_drop_index(json_t *cluster);

#endif
