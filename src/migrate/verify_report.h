/*
 * verify_report.h - what `kferry verify` learns per partition, and its
 * human and JSON (docs/VERIFY.md) renderings.  Internal to verify.c and
 * verify_report.c.
 */
#ifndef KF_MIGRATE_VERIFY_REPORT_H
#define KF_MIGRATE_VERIFY_REPORT_H

#include "mirror/inverse.h"
#include "mirror/offmap.h"

#include <librdkafka/rdkafka.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

enum { VERIFY_MAX_PROBLEMS = 100, VERIFY_RECENT = 65536 };

/* One record as compared: never the record itself, so buffers stay small. */
typedef struct vrec {
    int64_t off;
    int64_t exp; /* source: mapped target offset; -1 past the map (paired by position) */
    int64_t ts;
    uint32_t crc[3]; /* key, value, headers: only to name the field that differs */
    uint8_t tail;    /* target: past the map's end */
    uint8_t d[32];   /* SHA-256 of (timestamp, key, value, headers) */
} vrec;

typedef struct vring {
    vrec *v;
    size_t cap, head, n;
} vring;

enum { VF_KEY = 1, VF_VALUE = 2, VF_HEADERS = 4, VF_TIMESTAMP = 8 };

enum {
    VP_MISMATCH = 0,     /* both present, contents differ */
    VP_MISSING = 1,      /* mapped source record absent at its target offset */
    VP_UNMAPPED = 2,     /* source record inside the mirrored range not in the map */
    VP_EXTRA = 3,        /* target record no source record maps to */
    VP_DUPLICATE = 4,    /* target record past the map, a copy of a recent source record */
    VP_ABSENT_SOURCE = 5 /* mapped target record whose source record is gone */
};

typedef struct vproblem {
    int kind;
    int64_t src, tgt; /* the first; -1 when not applicable */
    unsigned fields;  /* VF_* for VP_MISMATCH */
    int64_t count;    /* consecutive offsets on both sides, same kind */
} vproblem;

/* A recent source record, to recognise duplicates past the map. */
typedef struct vrecent {
    uint64_t d; /* first 8 bytes of its digest */
    int64_t off;
} vrecent;

typedef struct vside {
    rd_kafka_topic_t *rkt;
    rd_kafka_queue_t *q;
    int64_t lo, hi;     /* log start and end (last stable offset) when planned */
    int64_t start, end; /* range read */
    int64_t last;       /* last offset received: duplicates are ignored */
    int64_t first_cmp, last_cmp, read;
    int started, done;
    vring ring;
    EVP_MD_CTX *agg;
    char digest[65]; /* SHA-256 over the compared records' digests, in order */
} vside;

enum { VS_PLANNED = 0, VS_ACTIVE = 1, VS_FINISHED = 2 };

typedef struct vpart {
    const char *topic;
    char tgt_topic[256];
    int32_t partition;
    const om_part *map; /* NULL if nothing was mapped */
    int compacted, target_exists, state;
    int64_t src_tail, tgt_tail; /* first offsets past the map on each side */
    vside side[2];              /* 0 source, 1 target */
    int64_t compared, matched, mismatched, missing, extra, absent_src, compacted_n;
    int64_t not_yet, pending_map, removed_src_ret, removed_tgt_ret, gap_records;
    int64_t unrecorded_gap, unrecorded_gap_start, unverified_tail, not_yet_from;
    /* bidirectional: source records the opposite flow wrote (copies of
     * target records) and target records it mirrored; owned, may be NULL */
    inv_range *loop, *foreign;
    size_t nloop, nforeign;
    int64_t opposite_src, opposite_tgt;
    /* target records past everything mirrored that copy no recent source
     * record: written to the target directly (producers moved there) */
    int64_t written_on_target, written_from;
    vrecent *recent; /* ring of the last VERIFY_RECENT source records */
    size_t nrecent, recent_pos;
    int recent_sorted;
    vproblem problems[VERIFY_MAX_PROBLEMS];
    size_t nproblems;
    int max_problems; /* listed, at most VERIFY_MAX_PROBLEMS */
    char error[512];
    int64_t last_progress_ms;
} vpart;

typedef struct vreport {
    vpart *parts;
    size_t n;
    char flow[300], map_topic[256];
    char selection[1200]; /* what selected the partitions, for "nothing selected" */
    int require_complete; /* records not mirrored yet fail (default; not --allow-unmirrored) */
    int64_t elapsed_ms;
} vreport;

/* 1 if p shows a failure (mismatch, missing, extra, absent source, error). */
int verify_part_failed(const vpart *p);
/* 1 if p has source records not mirrored yet (or not verifiable). */
int verify_part_incomplete(const vpart *p);
/* --json when verify could not run at all: {"ok": false, "exit_code": 1,
 * "error": why}. */
void verify_report_error(const char *why);
/* Prints the report; returns the exit status (0 or 1). */
int verify_report_print(const vreport *r, int json);

#endif
