/*
 * offsets.h - `kferry offsets translate|dump`: answers from the offset map
 * stored on the target (read-only; never contacts the source).
 */
#ifndef KF_MIRROR_OFFSETS_H
#define KF_MIRROR_OFFSETS_H

#include "mirror/config.h"

#include <stdint.h>

/* Prints the target offset for source offset. Exit status: 0 when a target
 * offset is printed (exact, or the next mapped one with the reason), 1 when
 * there is none yet. */
int offsets_translate(mirror_config *c, const char *topic, int32_t partition, int64_t offset,
                      int json);
/* Prints every run and gap (JSON lines), optionally for one source topic. */
int offsets_dump(mirror_config *c, const char *topic);

#endif
