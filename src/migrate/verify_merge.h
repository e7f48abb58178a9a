/*
 * verify_merge.h - `kferry verify`'s pairing of source and target records
 * through the offset map, free of I/O so it can be unit-tested.
 *
 * Per partition both streams arrive in offset order and the map is
 * monotonic, so pairing is a merge: only the side that is ahead is buffered
 * (in its vring, as digests).  Invariant: at most one side's ring is
 * non-empty.  Records past the map are paired by position, as the mirror's
 * restart reconciliation pairs them.
 */
#ifndef KF_MIGRATE_VERIFY_MERGE_H
#define KF_MIGRATE_VERIFY_MERGE_H

#include "migrate/verify_report.h"

/* Sets the read ranges, tails and retention/gap counts of p from its map
 * and the log starts/ends of both sides (side[k].lo/hi). */
void verify_plan(vpart *p);
/* Expected target offset of source offset off: >= 0 mapped, -1 past the map
 * (paired by position), -2 not to be compared (already counted: e.g. a
 * record the opposite flow wrote, which this flow never mirrors back). */
int64_t verify_expect_target(vpart *p, int64_t off);
/* 1 (and counted) if target offset off was written by the opposite flow:
 * not this flow's record, not compared. */
int verify_target_foreign(vpart *p, int64_t off);
/* Feeds the next source (exp set) or target (tail set) record. 0, -1 OOM. */
int verify_feed_src(vpart *p, const vrec *s);
int verify_feed_tgt(vpart *p, const vrec *t);
/* Side k (0 source, 1 target) has been read to its end. */
void verify_side_done(vpart *p, int k);

/* Frees p's buffers (rings, recent records). */
void verify_part_free(vpart *p);

int vring_push(vring *r, const vrec *v);
void vring_free(vring *r);

#endif
