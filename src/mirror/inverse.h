/*
 * inverse.h - the opposite flow's offset map (target -> source, stored on
 * this flow's source cluster), read-only: which source records kferry's
 * opposite flow wrote (never mirrored back: loop prevention), which target
 * records it mirrored (not this flow's own), and inverse lookups.
 *
 * Invariant: nothing here writes; the map is read with a source consumer.
 */
#ifndef KF_MIRROR_INVERSE_H
#define KF_MIRROR_INVERSE_H

#include "mirror/config.h"
#include "mirror/offmap.h"

#include <librdkafka/rdkafka.h>
#include <stdint.h>

/* A stretch of offsets; origin: see inv_loop_ranges (-1 when unused). */
typedef struct inv_range {
    int64_t start, end, origin;
} inv_range;

typedef struct inv_map {
    offmap m;          /* the opposite flow's map as last loaded */
    int found;         /* its topic exists on the source */
    char status[4096]; /* its last status record ("" if none) */
    int64_t hwm;       /* the map topic's high watermark when loaded */
    int64_t pos;       /* next map-topic offset to read (inv_update) */
} inv_map;

void inv_init(inv_map *im);
void inv_free(inv_map *im);
/* Loads (again) c->opposite_map_topic with src_reader, a consumer on the
 * source cluster with partition EOF enabled.  0 or -1 (err set). */
int inv_load(const mirror_config *c, rd_kafka_t *src_reader, inv_map *im, char *err, size_t errlen);
/* Reads what was added to the map topic since the last load (its runs
 * only grow).  0 or -1 (err set; retried from the same point next time). */
int inv_update(const mirror_config *c, rd_kafka_t *src_reader, inv_map *im, char *err,
               size_t errlen);
/* High watermark of the opposite map topic now: -1 absent, -2 on error. */
int64_t inv_hwm(const mirror_config *c, rd_kafka_t *src_reader);
/* 1 if a flow's status record (may be "") says every record it wrote is in
 * its persisted map: never ran, or stopped cleanly. */
int inv_status_clean(const char *status);
/* 1 if this flow (config c) would read what opposite part op writes, or
 * write what it reads: only such parts can make records go round. */
int inv_relevant(const mirror_config *c, const om_part *op);
/* 0 when the opposite flow cannot bring records back: it never ran, it
 * stopped with every record it wrote mapped, or (running or killed) it
 * mirrors only topics this flow does not touch.  -1 otherwise, with the
 * reason in why. */
int inv_check_stopped(const inv_map *im, const mirror_config *c, char *why, size_t whylen);

/* For an opposite flow known to be dead (kferry.opposite.stopped): 1 if
 * its persisted map reaches the end of every partition it reads that
 * matters to c (tgt_rk: a handle on this flow's target, its source), so it
 * cannot have written a record its map lacks; else 0 with why. */
int inv_fully_mapped(const inv_map *im, const mirror_config *c, rd_kafka_t *tgt_rk, char *why,
                     size_t whylen);

/* Source offsets of (src_topic, partition) the opposite flow wrote, sorted:
 * origin = the offset of the original record in (tgt_topic, partition),
 * or -1 when the opposite flow copied it from another topic. */
int inv_loop_ranges(const inv_map *im, const char *src_topic, const char *tgt_topic,
                    int32_t partition, inv_range **out, size_t *n);
/* Target offsets of (tgt_topic, partition) the opposite flow mirrored to
 * the source: records this flow did not write.  Sorted. */
int inv_foreign_ranges(const inv_map *im, const char *tgt_topic, int32_t partition, inv_range **out,
                       size_t *n);
/* Records the opposite flow has mapped in parts relevant to c, to tell
 * new data that matters from other changes of its map topic. */
int64_t inv_mapped_total(const inv_map *im, const mirror_config *c);
/* Records of ranges within [from, to). */
int64_t inv_count_in(const inv_range *r, size_t n, int64_t from, int64_t to);
/* Inverse lookup: the opposite flow's source offset of the record it wrote
 * at offset off of (topic, partition) on this flow's source; -1 if it did
 * not write it.  *origin_topic (may be NULL) gets its source topic. */
int64_t inv_origin(const inv_map *im, const char *topic, int32_t partition, int64_t off,
                   const char **origin_topic);

#endif
