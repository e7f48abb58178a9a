/*
 * txn.h - the transaction coordinator (this node coordinates every
 * transactional id) and the per-partition transaction state that gives
 * the last stable offset and the aborted-transactions list.
 *
 * Coordinator state (transactional id -> producer id, epoch, state,
 * partitions, pending offsets, timeout) is journaled in
 * <data-dir>/kferry-meta/transactions.log: length + CRC-32C records, the
 * newest record of an id wins, a torn tail is ignored.  Commit and abort
 * write control batches (markers) into every partition of the transaction
 * synchronously, so the Prepare* states only survive a crash between the
 * journal write and the last marker; opening the broker completes them.
 *
 * Per partition: the open transactions (producer id -> first offset),
 * rebuilt after a restart from the journal and a scan of the log tail, and
 * the aborted transactions, loaded from the segments' .txnindex files.
 */
#ifndef KB_TXN_H
#define KB_TXN_H

#include "broker/broker.h"
#include "broker/store.h"

#include <stddef.h>
#include <stdint.h>

/* Kafka's coordinator states, in its order (the names kafka-transactions.sh prints). */
typedef enum kb_txn_state {
    KB_TXN_EMPTY = 0,
    KB_TXN_ONGOING,
    KB_TXN_PREPARE_COMMIT,
    KB_TXN_PREPARE_ABORT,
    KB_TXN_COMPLETE_COMMIT,
    KB_TXN_COMPLETE_ABORT,
    KB_TXN_STATE_COUNT
} kb_txn_state;

typedef struct kb_txn_tp {
    char *topic;
    int32_t part;
} kb_txn_tp;

typedef struct kb_txn_off {
    char *group;
    char *topic;
    int32_t part;
    int64_t offset;
    int32_t epoch;
    char *meta; /* NULL = null */
} kb_txn_off;

typedef struct kb_txn {
    char *id;
    int64_t pid;
    int16_t epoch;
    int32_t timeout_ms;
    kb_txn_state state;
    int64_t start_ms;  /* wall clock when the transaction began, -1 if none */
    int64_t update_ms; /* wall clock of the last state change */
    kb_txn_tp *tps;
    size_t ntp, ctp;
    char **groups;
    size_t ngroups, cgroups;
    kb_txn_off *offs;
    size_t noff, coff;
} kb_txn;

const char *kb_txn_state_name(kb_txn_state s);

/* Opens the journal, replays it, rebuilds partition state from the logs
 * and completes interrupted commits/aborts. 0 or -1 with a message. */
int kb_txns_open(kb_broker *b, char *err, size_t errlen);
void kb_txns_close(kb_broker *b);
/* Aborts transactions past their timeout. */
void kb_txns_tick(kb_broker *b, int64_t wall_ms);

size_t kb_txn_count(kb_broker *b);
kb_txn *kb_txn_at(kb_broker *b, size_t i);
kb_txn *kb_txn_find(kb_broker *b, const char *id, size_t len);

/* InitProducerId with a transactional id. Returns a Kafka error. */
int kb_txn_init_pid(kb_broker *b, const char *id, size_t len, int32_t timeout_ms, int64_t pid,
                    int16_t epoch, int16_t version, int64_t *out_pid, int16_t *out_epoch);
/* The checks every coordinator request starts with: the transaction
 * exists, has this producer id and epoch (fenced_err on an epoch
 * mismatch), and is not completing. Returns the txn or NULL with *err. */
kb_txn *kb_txn_check(kb_broker *b, const char *id, size_t len, int64_t pid, int16_t epoch,
                     int16_t fenced_err, int16_t *err);
/* Adds a partition (AddPartitionsToTxn) / a group (AddOffsetsToTxn) /
 * a pending offset (TxnOffsetCommit); makes the transaction Ongoing.
 * Nothing is journaled until kb_txn_persist. 0 or -1 (out of memory). */
int kb_txn_add_partition(kb_broker *b, kb_txn *t, const char *topic, size_t tlen, int32_t part);
int kb_txn_add_group(kb_broker *b, kb_txn *t, const char *group, size_t glen);
int kb_txn_add_offset(kb_txn *t, const char *group, size_t glen, const char *topic, size_t tlen,
                      int32_t part, int64_t offset, int32_t epoch, const char *meta,
                      int32_t meta_len);
int kb_txn_has_group(const kb_txn *t, const char *group, size_t glen);
/* Journals t's current state. 0 or KAFKA_STORAGE_ERROR. */
int kb_txn_persist(kb_broker *b, kb_txn *t);
/* EndTxn: writes the markers, applies or drops pending offsets. */
int kb_txn_end(kb_broker *b, kb_txn *t, int commit);

/* Produce of a transactional batch: 0, INVALID_TXN_STATE or INVALID_PRODUCER_EPOCH. */
int kb_txn_produce_check(kb_broker *b, kb_part *p, const kf_batch_hdr *h);
/* After the batch was appended at base. */
void kb_txn_produce_done(kb_broker *b, kb_part *p, const kf_batch_hdr *h, int64_t base);

/* Last stable offset: the first offset of the earliest open transaction,
 * else the high watermark (log end). */
int64_t kb_txn_lso(kb_part *p);
/* Writes Fetch's aborted_transactions array (non-flexible) for the aborted
 * transactions overlapping [from, to). */
void kb_txn_write_aborted(kb_part *p, int64_t from, int64_t to, kf_buf *out);
/* Is there a pending transactional offset for (group, topic, partition)? */
int kb_txn_offset_pending(kb_broker *b, const char *group, size_t glen, const char *topic,
                          size_t tlen, int32_t part);

#endif
