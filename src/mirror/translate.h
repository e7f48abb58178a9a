/*
 * translate.h - what a group's committed source offset C ("next record to
 * read") becomes on the target, from the exact offset map: the target offset
 * of the first mirrored record at or after C, or TR_WAIT while unknown.
 * Pure (no Kafka); shared by group sync, `kferry groups`, cutover.
 */
#ifndef KF_MIRROR_TRANSLATE_H
#define KF_MIRROR_TRANSLATE_H

#include "mirror/offmap.h"

#include <stdint.h>

enum {
    TR_EXACT = 0, /* C was mirrored: its own target offset */
    TR_HOLE = 1,  /* no source record at C (deleted, compacted, marker): next mirrored one */
    TR_GAP = 2,   /* C lost to source retention before it was mirrored (recorded gap) */
    TR_BELOW = 3, /* C below the first mirrored record: the first mirrored record */
    TR_END = 4,   /* C is exactly where the mirror stands: the next target offset */
    TR_WAIT = 5,  /* C not mirrored yet (or nothing mapped): no exact answer yet */
};

typedef struct tr_result {
    int status;
    int64_t tgt;      /* target committed offset (status < TR_WAIT) */
    int64_t next_src; /* source offset the target offset stands for */
    int below_start;  /* C is below the source log start (retention removed it) */
    int64_t map_end;  /* source offset after the map (-1 if nothing mapped) */
    int64_t foreign;  /* target records below tgt that kferry did not write */
} tr_result;

/* 1 when the answer may be committed on the target. */
static inline int tr_committable(const tr_result *r) { return r->status < TR_WAIT; }

/* Translates committed offset c of partition p (NULL = nothing mapped).
 * src_lo: the source log start now (-1 unknown); tgt_lo/tgt_hi: the target
 * partition's watermarks (-1 unknown), used only when nothing is mapped:
 * then an empty target partition and c <= src_lo translate to tgt_hi. */
void tr_translate(const om_part *p, int64_t c, int64_t src_lo, int64_t tgt_lo, int64_t tgt_hi,
                  tr_result *r);
/* "exact", "hole", "gap", "below", "end", "waiting". */
const char *tr_status_name(int status);
/* Target records in [first mapped target offset, tgt) not covered by a run:
 * records another writer put between kferry's (a producer moved to the
 * target before the mirror drained the source).  Consumers starting at tgt
 * would never read them. */
int64_t tr_foreign_below(const om_part *p, int64_t tgt);

#endif
