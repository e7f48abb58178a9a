/*
 * store.h - the broker's log storage: topics, partitions and their segment
 * files, in Apache Kafka's on-disk format.
 *
 *   <data-dir>/<topic>-<partition>/00000000000000000000.log   batches as stored
 *                                  00000000000000000000.index  (u32 relOffset, u32 pos)
 *                                  00000000000000000000.timeindex (i64 ts, u32 relOffset)
 *   <data-dir>/recovery-point-offset-checkpoint, log-start-offset-checkpoint
 *   <data-dir>/kferry-meta/...     topic ids, partition counts, configs, state
 *   <data-dir>/.kafka_cleanshutdown  present only after a clean stop
 *
 * All calls come from the broker's single thread.  Kafka error codes
 * (proto.h) are returned where a request can fail; storage I/O failures
 * are KF_ERR_KAFKA_STORAGE_ERROR with a log line naming the file.
 */
#ifndef KB_STORE_H
#define KB_STORE_H

#include "common/buf.h"
#include "common/props.h"
#include "proto/batch.h"

#include <stddef.h>
#include <stdint.h>

typedef struct kb_store kb_store;
struct kb_plog; /* store-private per-partition log */

/* Effective log settings of a topic (broker defaults overridden per topic). */
typedef struct kb_log_cfg {
    int64_t segment_bytes;        /* segment.bytes */
    int64_t segment_ms;           /* segment.ms */
    int64_t retention_bytes;      /* retention.bytes, -1 = unlimited */
    int64_t retention_ms;         /* retention.ms, -1 = unlimited */
    int64_t flush_messages;       /* flush.messages */
    int64_t flush_ms;             /* flush.ms */
    int64_t index_interval_bytes; /* index.interval.bytes */
    int64_t segment_index_bytes;  /* segment.index.bytes */
    int32_t max_message_bytes;    /* max.message.bytes */
    int log_append_time;          /* message.timestamp.type=LogAppendTime */
    int compact;                  /* cleanup.policy contains "compact" */
    int no_delete;                /* cleanup.policy lacks "delete": no time/size retention */
    double min_cleanable_ratio;   /* min.cleanable.dirty.ratio */
    int64_t min_compact_lag_ms;   /* min.compaction.lag.ms */
    int64_t max_compact_lag_ms;   /* max.compaction.lag.ms */
    int64_t delete_retention_ms;  /* delete.retention.ms: tombstones kept this long */
    /* log.retention.check.interval.ms: store-wide, read from the defaults
     * given to kb_store_open (ignored in topic configs); <= 0 checks on
     * every kb_store_tick. */
    int64_t retention_check_ms;
    /* log.cleaner.enable / log.cleaner.backoff.ms: store-wide like the above. */
    int cleaner_enable;
    int64_t cleaner_backoff_ms;
} kb_log_cfg;

/* cleanup.policy value: a comma list of "delete" and "compact".  Returns 0
 * and sets *compact / *del (either may be NULL), or -1 if malformed. */
int kb_cleanup_policy_parse(const char *v, int *compact, int *del);

typedef struct kb_topic kb_topic;

typedef struct kb_part {
    kb_topic *topic;
    int32_t id;
    struct kb_plog *log;            /* store-private */
    void *producers;                /* idempotence state, owned by pidstate.c */
    void (*producers_free)(void *); /* called when the partition goes away */
    void *txn;                      /* transaction state, owned by txn.c */
    void (*txn_free)(void *);       /* called when the partition goes away */
} kb_part;

struct kb_topic {
    char *name;
    uint8_t id[16]; /* topic id (random UUID, persisted) */
    int32_t nparts;
    kb_part **parts;
    kf_props overrides; /* per-topic configs as set by users (key -> value) */
    kb_log_cfg cfg;     /* effective */
    int internal;       /* __consumer_offsets and friends */
};

/* Opens (creating if needed) the data dir, loads topics, runs crash
 * recovery if the last stop was unclean. defaults are the broker-level
 * settings. Returns 0 or -1 with a message. */
int kb_store_open(kb_store **out, const char *data_dir, const kb_log_cfg *defaults, char *err,
                  size_t errlen);
/* Clean shutdown: flush, checkpoint, write the clean-shutdown marker. */
void kb_store_close(kb_store *s);
/* Periodic work: retention, time-based rolls, time-based flush.
 * now_ms is wall-clock time (kf_wall_ms), as record timestamps are. */
void kb_store_tick(kb_store *s, int64_t now_ms);
/* Makes everything written so far durable (fsync) and checkpoints. */
int kb_store_flush(kb_store *s);

size_t kb_store_topic_count(const kb_store *s);
kb_topic *kb_store_topic_at(kb_store *s, size_t i); /* stable order: by name */
kb_topic *kb_store_find(kb_store *s, const char *name, size_t len);
kb_part *kb_store_part(kb_store *s, const char *topic, size_t len, int32_t partition);

/* Kafka's topic-name rule: 1..249 chars of [a-zA-Z0-9._-], not "." or "..". */
int kb_topic_name_valid(const char *name, size_t len);

/* Creates a topic. configs may be NULL. Returns 0 or TOPIC_ALREADY_EXISTS,
 * INVALID_TOPIC_EXCEPTION, INVALID_PARTITIONS, INVALID_CONFIG (err says
 * which key), KAFKA_STORAGE_ERROR. */
int kb_store_create(kb_store *s, const char *name, int32_t nparts, const kf_props *configs,
                    kb_topic **out, char *err, size_t errlen);
/* Deletes a topic and its files. 0 or UNKNOWN_TOPIC_OR_PARTITION. */
int kb_store_delete(kb_store *s, const char *name, size_t len);
/* Grows a topic to total partitions. 0 or INVALID_PARTITIONS. */
int kb_store_add_partitions(kb_store *s, kb_topic *t, int32_t total, char *err, size_t errlen);
/* Replaces the topic's overrides with configs (AlterConfigs semantics).
 * Validates first; nothing changes on error. 0 or INVALID_CONFIG. */
int kb_store_alter_configs(kb_store *s, kb_topic *t, const kf_props *configs, char *err,
                           size_t errlen);
/* Validates one topic config key/value. 0 or INVALID_CONFIG with err. */
int kb_topic_config_check(const char *key, const char *value, char *err, size_t errlen);

/* -1 for an unknown topic config key, 1 for a list-typed one (APPEND and
 * SUBTRACT apply), 0 otherwise. */
int kb_topic_config_kind(const char *key);

/* Topic-level config keys the broker knows, for DescribeConfigs. */
typedef struct kb_topic_config_desc {
    const char *name;
    const char *broker_key; /* the broker default it inherits, or NULL */
    int sensitive;
} kb_topic_config_desc;
const kb_topic_config_desc *kb_topic_config_descs(size_t *count);
/* Effective value of a topic config as a string (into buf), and whether
 * it is a per-topic override (1) or a default (0). */
const char *kb_topic_config_value(kb_store *s, const kb_topic *t, const char *key, char *buf,
                                  size_t buflen, int *is_override);

/* Partition state. The high watermark equals the log end offset: this is a
 * single-node broker and every acknowledged batch is on the leader. */
int64_t kb_part_log_start(const kb_part *p);
int64_t kb_part_log_end(const kb_part *p);
/* Bytes of all segments. */
int64_t kb_part_size(const kb_part *p);

/* Appends one validated batch (BaseOffset 0 in the buffer; it is rewritten
 * in place with the assigned base offset, and MaxTimestamp+CRC when the
 * topic uses LogAppendTime).  Rolls segments and maintains the indexes.
 * now_ms is wall-clock time (kf_wall_ms).
 * Returns 0 or KAFKA_STORAGE_ERROR. */
int kb_part_append(kb_part *p, uint8_t *batch, size_t len, int64_t now_ms, int64_t *base_offset);

/* Appends to out whole batches starting with the one containing offset,
 * stopping before max_bytes would be exceeded - but always at least one
 * batch if any exists (so a large batch can make progress).
 * Returns 0, OFFSET_OUT_OF_RANGE (offset < log start or > log end) or
 * KAFKA_STORAGE_ERROR. offset == log end gives 0 bytes. */
int kb_part_read(kb_part *p, int64_t offset, size_t max_bytes, kf_buf *out);

/* First offset whose record timestamp >= ts, via the time index, then
 * looking inside batches. Returns the offset and its timestamp in
 * *found_ts, or -1 if no such record. */
int64_t kb_part_offset_for_time(kb_part *p, int64_t ts, int64_t *found_ts);
/* Largest timestamp in the log and its offset (ListOffsets -3, KIP-734);
 * -1 if empty. */
int64_t kb_part_max_timestamp(kb_part *p, int64_t *offset);

/* DeleteRecords: advance log start to offset (-1 = log end), deleting whole
 * segments below it. Returns 0 or OFFSET_OUT_OF_RANGE. */
int kb_part_delete_records(kb_part *p, int64_t offset);

/* Visits the headers of stored batches with base offset >= from (used to
 * rebuild producer state after a restart). cb returns non-zero to stop. */
typedef int (*kb_batch_visit_fn)(kb_part *p, const kf_batch_hdr *h, void *opaque);
int kb_part_scan(kb_part *p, int64_t from, kb_batch_visit_fn cb, void *opaque);

/* Kafka's per-segment transaction index (<base>.txnindex): 34-byte
 * entries (i16 version 0, i64 producer id, i64 first offset, i64 last
 * offset, i64 last stable offset), one per aborted transaction, in the
 * segment that holds its abort marker (last offset). */
#define KB_TXNIDX_ENTRY 34
/* Appends one entry to the .txnindex of the segment holding last_offset. */
int kb_part_txnidx_append(kb_part *p, int64_t last_offset, const uint8_t ent[KB_TXNIDX_ENTRY]);
/* Visits every entry of every segment's .txnindex (a torn tail is cut). */
typedef void (*kb_txnidx_fn)(kb_part *p, const uint8_t *ent, void *opaque);
int kb_part_txnidx_load(kb_part *p, kb_txnidx_fn cb, void *opaque);

/* Small persisted broker state (next producer id, cluster id):
 * <data-dir>/kferry-meta/broker.properties. */
const char *kb_store_state_get(kb_store *s, const char *key);
int kb_store_state_set(kb_store *s, const char *key, const char *value);
const char *kb_store_dir(const kb_store *s);

#endif
