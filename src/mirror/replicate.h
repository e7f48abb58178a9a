/*
 * replicate.h - `kferry mirror`: continuous replication of one flow.
 */
#ifndef KF_MIRROR_REPLICATE_H
#define KF_MIRROR_REPLICATE_H

#include "mirror/config.h"

/* Runs until SIGTERM/SIGINT (returns 0) or a fatal condition (1; 3 for a
 * retention gap under kferry.gap.policy=stop). */
int replicate_run(mirror_config *c);

#endif
