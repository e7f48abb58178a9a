/*
 * store_int.h - private structures of the log storage (store.c, partlog.c,
 * segment.c, store_cfg.c); not for other components.  Invariant: a
 * partition always has >= 1 segment, the last being the active one with its
 * indexes in memory, and each .log holds exactly `size` bytes of batches.
 */
#ifndef KB_STORE_INT_H
#define KB_STORE_INT_H

#include "broker/store.h"

#include <stddef.h>
#include <stdint.h>

#define KB_IDX_ENTRY 8  /* .index entry: u32 relative offset, u32 position */
#define KB_TIM_ENTRY 12 /* .timeindex entry: i64 timestamp, u32 relative offset */
#define KB_PATH_MAX 4096

typedef struct kb_idx_ent {
    uint32_t rel;
    uint32_t pos;
} kb_idx_ent;

typedef struct kb_tim_ent {
    int64_t ts;
    uint32_t rel;
} kb_tim_ent;

typedef struct kb_seg {
    const char *dir;    /* the partition directory (owned by the plog) */
    int64_t base;       /* base offset, the file name */
    int64_t size;       /* bytes of whole batches in .log */
    int64_t next_off;   /* offset after the last batch (next segment's base if inactive) */
    int64_t max_ts;     /* largest batch MaxTimestamp seen, -1 if none */
    int64_t max_ts_off; /* last offset of the first batch carrying max_ts */
    int64_t roll_ts;    /* MaxTimestamp of the first batch (segment.ms), -1 unknown */
    int64_t created_ms; /* wall clock when created or loaded */
    int64_t mtime_ms;   /* last modification (retention fallback without timestamps) */
    int64_t since_idx;  /* bytes appended since the last .index entry */
    int fd_log, fd_idx, fd_tim;
    int idx_loaded; /* idx/tim arrays mirror the files */
    kb_idx_ent *idx;
    size_t nidx, cidx;
    kb_tim_ent *tim;
    size_t ntim, ctim;
    int dirty; /* written since the last fsync */
} kb_seg;

struct kb_plog {
    kb_store *store;
    kb_part *part;
    char *dir;
    kb_seg **segs;
    size_t nsegs, csegs;
    int64_t log_start;
    int64_t recovery_point; /* everything below was fsynced */
    int64_t unflushed;      /* messages appended since the last fsync */
    int64_t last_flush_ms;
    int64_t total_size;
    int dir_dirty;       /* a segment file was created since the last fsync */
    int64_t clean_point; /* cleaner checkpoint: offsets below were compacted (0 = none) */
};

/* One (topic, partition, offset) line of a Kafka checkpoint file. */
typedef struct kb_ckpt_ent {
    char *topic;
    int32_t part;
    int64_t offset;
    size_t seq; /* line order: the first of duplicate entries wins */
} kb_ckpt_ent;

typedef struct kb_ckpt {
    kb_ckpt_ent *e;
    size_t n, cap;
    uint8_t *raw; /* the file's bytes, when it parsed */
    size_t rawlen;
} kb_ckpt;

struct kb_store {
    char *dir;
    char meta_dir[KB_PATH_MAX - 1024]; /* smaller than full paths built from it */
    char topics_dir[KB_PATH_MAX - 512];
    kb_log_cfg defaults;
    kb_topic **topics; /* sorted by name */
    size_t ntopics, ctopics;
    kf_props state;
    int lock_fd;
    int64_t retention_check_ms;
    int64_t last_retention_ms;
    int64_t last_ckpt_ms;
    int rp_dirty;            /* a recovery point moved since the last checkpoint */
    int ls_dirty;            /* a log start moved since the last checkpoint */
    int64_t cleaner_idle_ms; /* when the cleaner last found nothing to do (0 = never) */
    /* What each checkpoint file (recovery point, log start, cleaner) last
     * got from this process: an unchanged one is not written again. */
    uint8_t *ckpt_last[3];
    size_t ckpt_len[3];
};

/* ---- segment.c ---- */
kb_seg *kb_seg_new(const char *dir, int64_t base, int64_t now_ms);
/* Creates empty .log/.index/.timeindex files (truncating leftovers). */
int kb_seg_create_files(kb_seg *g);
/* Loads size/mtime from disk and max timestamp from the last time-index entry. */
int kb_seg_load(kb_seg *g, int64_t interval);
void kb_seg_path(const kb_seg *g, const char *ext, char *buf, size_t n);
int kb_seg_log_fd(kb_seg *g);
void kb_seg_close_fds(kb_seg *g);
void kb_seg_free(kb_seg *g);
void kb_seg_unlink(kb_seg *g);
/* Scans the .log rebuilding both indexes (memory and files), truncating at
 * the first invalid batch; check_crc verifies every CRC (crash recovery).
 * *truncated receives the bytes cut. 0 or -1 on I/O error. */
int kb_seg_rebuild(kb_seg *g, int64_t interval, int check_crc, int64_t *truncated);
/* Makes idx/tim available (loads and validates files, else rebuilds). */
int kb_seg_load_idx(kb_seg *g, int64_t interval);
/* Appends a whole batch; maintains indexes like Kafka. 0 or -1. */
int kb_seg_append(kb_seg *g, const uint8_t *batch, size_t len, int64_t last_off,
                  int64_t batch_max_ts, int64_t interval);
/* Time-index entry if ts grew (roll, close, recovery). 0 or -1. */
int kb_seg_tim_final(kb_seg *g);
/* Position of the first batch whose last offset >= target (size if none),
 * with its header. Returns 1 found, 0 none, -1 error. Indexes must be loaded. */
int kb_seg_find(kb_seg *g, int64_t target, int64_t *pos, kf_batch_hdr *h);
/* Header-by-header walk from pos. cb returns non-zero to stop (returned). */
typedef int (*kb_seg_hdr_fn)(kb_seg *g, int64_t pos, const kf_batch_hdr *h, void *opaque);
int kb_seg_walk(kb_seg *g, int64_t pos, kb_seg_hdr_fn cb, void *opaque);
/* The same walk with each whole batch's bytes (valid during the call),
 * read in chunks of about 1 MiB rather than a read per batch. */
typedef int (*kb_seg_batch_fn)(kb_seg *g, int64_t pos, const kf_batch_hdr *h, const uint8_t *batch,
                               size_t n, void *opaque);
int kb_seg_walk_batches(kb_seg *g, int64_t pos, kb_seg_batch_fn cb, void *opaque);
int kb_seg_fsync(kb_seg *g);
/* Index full (segment.index.bytes) for either index. */
int kb_seg_index_full(const kb_seg *g, int64_t index_bytes);
/* pread loop: bytes read (short only at EOF) or -1. */
long long kb_pread_full(int fd, void *p, size_t n, int64_t off);
/* pwrite loop over short writes and EINTR: 0, or -1 with errno set. */
int kb_pwrite_all(int fd, const void *p, size_t n, int64_t off);

/* ---- partlog.c ---- */
/* Opens the partition directory (creating it), loads segments, recovers
 * when !clean. rp/ls: checkpointed recovery point / log start, -1 if none. */
int kb_plog_open(kb_store *s, kb_part *p, const char *dir, int clean, int64_t rp, int64_t ls,
                 int create, char *err, size_t errlen);
void kb_plog_free(struct kb_plog *l);
int kb_plog_flush(struct kb_plog *l, int64_t now_ms);
int kb_plog_retention(struct kb_plog *l, int64_t now_ms);
int kb_plog_time_roll(struct kb_plog *l, int64_t now_ms);
int kb_plog_close_segments(struct kb_plog *l);

/* ---- store.c ---- */
int kb_store_write_checkpoints(kb_store *s);
void kb_store_note_log_start(kb_store *s);
int kb_store_write_cleaner_checkpoint(kb_store *s);

/* ---- cleaner.c (log compaction, see cleaner.h) ---- */
/* One step of the log cleaner: compacts at most one partition. */
void kb_cleaner_tick(kb_store *s, int64_t now_ms);
/* Crash recovery of an interrupted cleaning in a partition directory, before
 * its segments are listed: deletes *.cleaned files, completes *.swap. */
int kb_cleaner_recover_dir(const char *dir);

/* ---- store_cfg.c ---- */
/* Effective config of a topic from defaults + overrides (already valid). */
void kb_cfg_effective(const kb_log_cfg *defaults, kf_props *overrides, kb_log_cfg *out);
int kb_cfg_check_all(const kf_props *configs, char *err, size_t errlen);

#endif
