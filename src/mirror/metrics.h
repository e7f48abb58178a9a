/*
 * metrics.h - Prometheus text endpoint (/metrics) on kferry.metrics.port.
 *
 * The replication thread publishes a complete text snapshot about once a
 * second; the HTTP thread (libmicrohttpd) only copies it out under a lock.
 */
#ifndef KF_MIRROR_METRICS_H
#define KF_MIRROR_METRICS_H

#include "mirror/config.h"

#include <stddef.h>

/* Starts the endpoint if configured. 0, or -1 if the port cannot be bound. */
int metrics_start(mirror_config *c);
/* Replaces the published snapshot (copied). */
void metrics_publish(const char *text, size_t len);
/* kferry.workers > 1: replaces unit's snapshot; /metrics serves every
 * unit's samples, labelled unit="<n>", grouped by family.  units <= 1 is
 * metrics_publish. */
void metrics_publish_unit(int unit, int units, const char *text, size_t len);
/* The unit stopped in this process: its samples go. */
void metrics_unit_ended(int unit);
void metrics_stop(void);

#endif
