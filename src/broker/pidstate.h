/*
 * pidstate.h - idempotent-producer state per partition: for each producer
 * id the current epoch and the last 5 appended batches' sequence ranges, so
 * a retried batch is acknowledged with its original offset instead of being
 * written twice, and gaps are refused (OUT_OF_ORDER_SEQUENCE_NUMBER).
 */
#ifndef KB_PIDSTATE_H
#define KB_PIDSTATE_H

#include "broker/broker.h"
#include "broker/store.h"

#include <stdint.h>

/* How many recent batches per producer are remembered (Kafka: 5, the
 * maximum max.in.flight with idempotence). */
#define KB_PID_BATCHES 5

/* Checks a validated batch with producer_id >= 0 against p's state.
 * Returns 0 with *dup_base = -1: append it; 0 with *dup_base >= 0: it
 * duplicates a recent batch already stored at that base offset (answer
 * success, do not append); or INVALID_PRODUCER_EPOCH /
 * OUT_OF_ORDER_SEQUENCE_NUMBER. Does not change the state. */
int kb_pidstate_check(kb_part *p, const kf_batch_hdr *h, int64_t *dup_base);

/* Records a batch appended at base_offset (after kb_pidstate_check said
 * append). Returns 0, or -1 when out of memory (state then forgets this
 * producer, which only weakens duplicate detection). */
int kb_pidstate_record(kb_part *p, const kf_batch_hdr *h, int64_t base_offset);

/* Last sequence number of a batch: base_sequence + last_offset_delta,
 * wrapping past INT32_MAX to 0 as producers do. */
int32_t kb_pidstate_last_seq(const kf_batch_hdr *h);

/* After kb_store_open: rebuilds every partition's producer state from the
 * batches at the tail of its log, and loads the producer-id allocator
 * (b->next_producer_id) from the persisted "next.producer.id" block. */
void kb_pidstate_rebuild(kb_broker *b);

/* Hands out a new producer id, persisting the allocator in blocks
 * ("next.producer.id" in the store's state holds the first id not yet
 * reserved) so ids are never reused after a restart, even an unclean one.
 * Returns 0, or KAFKA_STORAGE_ERROR when the block cannot be persisted. */
int kb_producer_id_alloc(kb_broker *b, int64_t *id);

/* Number of producers tracked for p (tests, stats). */
size_t kb_pidstate_count(const kb_part *p);

#endif
