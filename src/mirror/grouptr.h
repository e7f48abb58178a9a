/*
 * grouptr.h - one group's committed source offsets, translated, next to what
 * the target has committed: the rows group sync commits, `kferry groups
 * status` prints and cutover gates on.  Reads only (both clusters' offsets
 * and watermarks, the map topic, reloaded incrementally).
 */
#ifndef KF_MIRROR_GROUPTR_H
#define KF_MIRROR_GROUPTR_H

#include "mirror/config.h"
#include "mirror/grpadmin.h"
#include "mirror/offmap.h"
#include "mirror/translate.h"

#include <librdkafka/rdkafka.h>

/* The persisted offset map, kept current by gt_map_refresh. */
typedef struct gt_map {
    offmap m;
    int64_t pos;    /* next map-topic offset to read */
    int found;      /* the map topic exists */
    int timeout_ms; /* bound of one refresh read; 0 = 60 s */
} gt_map;

void gt_map_init(gt_map *gm);
void gt_map_free(gt_map *gm);
/* Reads map records written since the last call. 0 or -1 (err set). */
int gt_map_refresh(rd_kafka_t *tgt, const char *topic, gt_map *gm, char *err, size_t errlen);

typedef struct gt_row {
    char *src_topic;
    char tgt_topic[256];
    int32_t partition;
    int mirrored;                           /* the topic is selected for mirroring */
    int64_t src_committed;                  /* the group's committed offset on the source */
    char *metadata;                         /* its committed metadata (carried over) */
    int64_t src_lo, src_hi, tgt_lo, tgt_hi; /* watermarks now (-1 unknown) */
    tr_result tr;
    int64_t tgt_committed; /* on the target now, -1 if none */
} gt_row;

typedef struct gt_group {
    gt_row *rows; /* sorted by source topic, partition */
    size_t n;
} gt_group;

/* tr_translate plus one source read when the answer is "waiting" but c is
 * within the source log: if [map end, c) holds no record a read_committed
 * consumer can see (transaction markers, aborted records: what the mirror
 * skips too), c translates to the mirror's target end ("end").  Without
 * this a source that ends in a commit marker would wait forever. */
void gt_translate(rd_kafka_t *src, const om_part *p, const char *src_topic, int32_t partition,
                  int64_t c, int64_t src_lo, int64_t src_hi, int64_t tgt_lo, int64_t tgt_hi,
                  tr_result *r);

/* Builds the rows of group from its committed offsets on the source. */
int gt_build(const mirror_config *c, rd_kafka_t *src, rd_kafka_t *tgt, const offmap *m,
             const char *group, int timeout_ms, gt_group *out, char *err, size_t errlen);
/* For a flow written in transactions: of r's foreign target offsets (the
 * gaps between the map's runs below its translated offset: commit markers,
 * aborted records, other producers' records), the records a read_committed
 * consumer sees, read from the target; -1 if it could not be read. */
int64_t gt_foreign_visible(rd_kafka_t *tgt, const offmap *m, const gt_row *r);
void gt_group_free(gt_group *g);
/* Rows whose translation may be committed and moves the target forward,
 * as offsets to commit (metadata carried over).  *behind counts rows where
 * the target is already ahead (never moved backwards). */
int gt_to_commit(const gt_group *g, ga_offsets *out, size_t *behind);

#endif
