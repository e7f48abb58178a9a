/*
 * status.h - `kferry status`: per-partition progress of a flow, computed
 * from the clusters and the offset map (works whether or not the mirror is
 * running; read-only on both clusters).
 */
#ifndef KF_MIRROR_STATUS_H
#define KF_MIRROR_STATUS_H

#include "mirror/config.h"

int status_run(mirror_config *c, int json);

#endif
