/*
 * mapstore.h - the offset map's home: a compacted single-partition topic on
 * the target cluster (never the source).
 *
 * Loading reads it from the start to the high watermark; persisting writes
 * only the runs and gaps changed since the last persist.  Invariant: a run
 * is persisted only after all its records were acknowledged by the target.
 */
#ifndef KF_MIRROR_MAPSTORE_H
#define KF_MIRROR_MAPSTORE_H

#include "mirror/offmap.h"

#include <librdkafka/rdkafka.h>

/* Message opaques of map writes, so delivery reports can tell them apart:
 * baselines are counted until acknowledged (no data before them). */
extern char mapstore_opaque, mapstore_baseline_opaque;

/* Loads topic into m. *found = 0 if the topic does not exist (m stays empty).
 * status (may be NULL) receives the last "S" record's value. 0 or -1. */
int mapstore_load(rd_kafka_t *reader, const char *topic, offmap *m, int *found, char *status,
                  size_t statuslen, char *err, size_t errlen);
/* Reads the records from *pos (or the log start) to the high watermark
 * into m, then sets *pos to that watermark.  status (may be NULL) is set
 * only if a status record was read. 0 or -1. */
int mapstore_load_more(rd_kafka_t *reader, const char *topic, offmap *m, int64_t *pos, int *found,
                       char *status, size_t statuslen, char *err, size_t errlen);
/* Produces changed runs/gaps. Returns the number of records queued, -1 on error. */
int mapstore_persist(rd_kafka_t *prod, rd_kafka_topic_t *rkt, offmap *m);
/* Produces p's baseline record (opaque mapstore_baseline_opaque). */
int mapstore_put_baseline(rd_kafka_t *prod, rd_kafka_topic_t *rkt, const om_part *p);
/* Produces the mirror's status record (key "S <flow>"). */
int mapstore_put_status(rd_kafka_t *prod, rd_kafka_topic_t *rkt, const char *flow,
                        const char *json);

#endif
