/*
 * offmap.h - the exact source->target offset map: per partition, sorted runs
 * of consecutive offsets (source start, target start, length), the
 * retention gaps kferry was told to skip, the source records it skipped
 * because the opposite flow wrote them (loop prevention) and the baseline
 * (target offset where this flow's writes begin).
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

/* Source offsets [start, end) skipped because the opposite flow (target ->
 * source) wrote them: copies of target records.  origin is the target
 * offset of the record copied to start (consecutive after it), or -1 when
 * the original lives in another target topic. */
typedef struct om_skip {
    int64_t start, end, origin;
} om_skip;

typedef struct om_part {
    char *src_topic, *tgt_topic;
    int32_t partition;
    om_run *runs;
    size_t nruns, capruns;
    size_t runs_dirty; /* runs[runs_dirty..] changed since the last persist */
    om_gap *gaps;
    size_t ngaps, gaps_dirty;
    om_skip *skips; /* sorted, disjoint */
    size_t nskips, skips_dirty;
    int64_t baseline; /* target offset where this flow's writes begin; -1 none */
    /* Source position the consumer reached past the last mapped record:
     * [last recorded offset, src_end) holds nothing a read_committed
     * consumer returns (transaction markers, aborted records, compacted
     * offsets).  -1 none; stale (ignored) once a record above it is mapped. */
    int64_t src_end;
    int end_dirty;
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

/* Records skipped source offsets [start, end) whose originals start at
 * target offset origin (-1: another topic); extends the last skip when
 * contiguous in both.  -1 if it would overlap what is mapped. */
int om_add_skip(om_part *p, int64_t start, int64_t end, int64_t origin);
/* Inserts or replaces (same start) a skip, as read back from storage. */
int om_put_skip(om_part *p, int64_t start, int64_t end, int64_t origin);
/* The skip holding src, or NULL. */
const om_skip *om_find_skip(const om_part *p, int64_t src);
/* Target offsets in [from, to) holding originals of skipped records. */
int64_t om_origin_covered(const om_part *p, int64_t from, int64_t to);
/* 1 if nothing at all is recorded for the partition (first start). */
int om_is_new(const om_part *p);

/* Records that the source has nothing readable in [om_src_next, end): the
 * consumer's position moved past transaction markers, aborted records or
 * compacted offsets after the last record.  0 ok (also when end is not
 * above om_src_next), -1 if end is below a previous source end. */
int om_set_end(om_part *p, int64_t end);
/* Source offset after the last mapped record, gap, skip or source end (-1
 * if nothing). */
int64_t om_src_next(const om_part *p);
/* Target offset after the last record this flow wrote (-1 if nothing). */
int64_t om_tgt_next(const om_part *p);
/* Where this flow's next record goes if nothing else wrote to the target:
 * om_tgt_next, else the baseline, else -1. */
int64_t om_tgt_write_pos(const om_part *p);
/* Target offset standing for source position om_src_next: after the last
 * run or (when a skip comes last) after the last skipped record's
 * original; the baseline when only that is recorded; -1 if unknown. */
int64_t om_tgt_end(const om_part *p);

enum { OM_EXACT = 0, OM_HOLE = 1, OM_NOT_YET = 2, OM_BELOW = 3, OM_GAP = 4, OM_EMPTY = 5 };
/* Translates src.  OM_EXACT sets *tgt (for a skipped record: its original
 * on the target, see om_find_skip).  OM_HOLE, OM_GAP and OM_BELOW set
 * next_src and tgt to the next record with a known target offset. */
int om_lookup(const om_part *p, int64_t src, int64_t *tgt, int64_t *next_src);

/* Storage encoding (text, so `kcat` shows it):
 *   key "R <src topic> <tgt topic> <partition> <src start>"  value "<tgt start> <len>"
 *   key "G <src topic> <tgt topic> <partition> <start>"      value "<end>"
 *   key "L <src topic> <tgt topic> <partition> <start>"      value "<end> <origin>"
 *   key "B <src topic> <tgt topic> <partition>"              value "<target offset>"
 *   key "E <src topic> <tgt topic> <partition>"              value "<source end>"
 * Topic names cannot contain spaces, so the fields split unambiguously. */
int om_key_run(char *buf, size_t len, const om_part *p, const om_run *r);
int om_val_run(char *buf, size_t len, const om_run *r);
int om_key_gap(char *buf, size_t len, const om_part *p, const om_gap *g);
int om_val_gap(char *buf, size_t len, const om_gap *g);
int om_key_skip(char *buf, size_t len, const om_part *p, const om_skip *s);
int om_val_skip(char *buf, size_t len, const om_skip *s);
int om_key_baseline(char *buf, size_t len, const om_part *p);
int om_key_end(char *buf, size_t len, const om_part *p);
/* Applies one stored record (last one per key wins). 0 ok, 1 not a map
 * record (ignored), -1 malformed. */
int offmap_apply(offmap *m, const char *key, size_t keylen, const char *val, size_t vallen);

#endif
