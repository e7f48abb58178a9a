/*
 * offmap.h - the exact source->target offset map: per partition, sorted runs
 * of consecutive offsets (source start, target start, length) plus the
 * retention gaps kferry was told to skip.
 *
 * Pure data and its text encoding; no I/O (mapstore.c reads and writes it).
 * Invariant: within a partition, runs are disjoint and strictly increasing
 * in both source and target offsets.
 */
#ifndef KF_MIRROR_OFFMAP_H
#define KF_MIRROR_OFFMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct om_run {
    int64_t src, tgt, len;
} om_run;

typedef struct om_gap {
    int64_t start, end; /* source offsets [start, end) lost to retention */
} om_gap;

typedef struct om_part {
    char *src_topic, *tgt_topic;
    int32_t partition;
    om_run *runs;
    size_t nruns, capruns;
    size_t runs_dirty; /* runs[runs_dirty..] changed since the last persist */
    om_gap *gaps;
    size_t ngaps, gaps_dirty;
} om_part;

typedef struct offmap {
    om_part **parts;
    size_t n, cap;
} offmap;

void offmap_init(offmap *m);
void offmap_free(offmap *m);
/* Finds or (create != 0) adds the partition entry. NULL on OOM / absent. */
om_part *offmap_get(offmap *m, const char *src_topic, const char *tgt_topic, int32_t partition,
                    int create);

/* Records that source offset src was written at target offset tgt.  Both
 * must be above everything mapped so far; -1 otherwise (a bug or a second
 * writer), and the map is left unchanged. */
int om_append(om_part *p, int64_t src, int64_t tgt);
/* Inserts or replaces (same source start) a run, as read back from storage. */
int om_put_run(om_part *p, int64_t src, int64_t tgt, int64_t len);
int om_put_gap(om_part *p, int64_t start, int64_t end);
/* 0 if the runs satisfy the invariant, else -1. */
int om_check(const om_part *p);

/* Source offset after the last mapped record or gap (-1 if nothing). */
int64_t om_src_next(const om_part *p);
/* Target offset after the last mapped record (-1 if nothing). */
int64_t om_tgt_next(const om_part *p);

enum { OM_EXACT = 0, OM_HOLE = 1, OM_NOT_YET = 2, OM_BELOW = 3, OM_GAP = 4, OM_EMPTY = 5 };
/* Translates src.  OM_EXACT sets *tgt.  OM_HOLE, OM_GAP and OM_BELOW set
 * next_src and tgt to the next mapped record. */
int om_lookup(const om_part *p, int64_t src, int64_t *tgt, int64_t *next_src);

/* Storage encoding (text, so `kcat` shows it):
 *   key "R <src topic> <tgt topic> <partition> <src start>"  value "<tgt start> <len>"
 *   key "G <src topic> <tgt topic> <partition> <start>"      value "<end>"
 * Topic names cannot contain spaces, so the fields split unambiguously. */
int om_key_run(char *buf, size_t len, const om_part *p, const om_run *r);
int om_val_run(char *buf, size_t len, const om_run *r);
int om_key_gap(char *buf, size_t len, const om_part *p, const om_gap *g);
int om_val_gap(char *buf, size_t len, const om_gap *g);
/* Applies one stored record (last one per key wins). 0 ok, 1 not a map
 * record (ignored), -1 malformed. */
int offmap_apply(offmap *m, const char *key, size_t keylen, const char *val, size_t vallen);

#endif
