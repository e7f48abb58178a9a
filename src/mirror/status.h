/*
 * status.h - `kferry status`: per-partition progress of a flow, computed
 * from the clusters and the offset map (works whether or not the mirror is
 * running; read-only on both clusters).
 */
#ifndef KF_MIRROR_STATUS_H
#define KF_MIRROR_STATUS_H

#include "mirror/config.h"

#include <librdkafka/rdkafka.h>

int status_run(mirror_config *c, int json);

/* The document `kferry status --json` prints (compact JSON, malloc'd), computed
 * with the caller's read-only consumers on the source (src) and the target
 * (tgt); NULL on failure (logged).  Also served as /api/status by the web
 * view (webview.c), so both always show the same thing. */
char *status_document(mirror_config *c, rd_kafka_t *src, rd_kafka_t *tgt);

#endif
