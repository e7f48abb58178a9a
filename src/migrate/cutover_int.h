/*
 * cutover_int.h - internals shared by the cutover files: cutover.c (command
 * line, --status), cutover_run.c (one group's journaled steps) and
 * cutover_gates.c (the waits).  Not used elsewhere.
 *
 * Every gate polls until its condition holds or the command's deadline
 * passes; a failing gate leaves the reason in ctx->reason for the report.
 */
#ifndef KF_MIGRATE_CUTOVER_INT_H
#define KF_MIGRATE_CUTOVER_INT_H

#include "mirror/config.h"
#include "mirror/grouptr.h"
#include "mirror/journal.h"

#include <librdkafka/rdkafka.h>
#include <stdint.h>

#define CUT_ADMIN_TIMEOUT_MS 10000
#define CUT_PRINT_EVERY_MS 5000

typedef struct cut_ctx {
    mirror_config *c;
    rd_kafka_t *src, *tgt; /* read/admin handles; never produce to the source */
    journal j;
    gt_map map;
    int64_t deadline; /* kf_now_ms() limit for all waits */
    int quiet_s;
    int producers_first, no_wait_members, restart, json;
    char reason[1024];
} cut_ctx;

/* Source partitions (topic, partition) a gate looks at. */
typedef struct cut_parts {
    char **topics; /* owned */
    int32_t *parts;
    size_t n;
} cut_parts;
void cut_parts_free(cut_parts *p);
/* All partitions of the mirrored source topics named in rows (or, with
 * rows NULL, of every mirrored topic matching pattern). */
int cut_parts_collect(cut_ctx *x, const gt_group *rows, const char *pattern, cut_parts *out);

/* Gates: 0 when the condition holds, -1 on failure/timeout (x->reason). */
int cut_wait_members(cut_ctx *x, const char *group);
int cut_wait_caught_up(cut_ctx *x, const char *group);
int cut_wait_quiet(cut_ctx *x, const cut_parts *p);
int cut_wait_mirrored(cut_ctx *x, const cut_parts *p);
int cut_wait_drained(cut_ctx *x, const char *group, const cut_parts *p);

/* One group's cutover (resumes from the journal). 0 done, -1 failed. */
int cut_group(cut_ctx *x, const char *group);
/* The producer gate for topics matching pattern. 0 done, -1 failed. */
int cut_producers(cut_ctx *x, const char *pattern);

/* Progress line on stderr. */
__attribute__((format(printf, 1, 2))) void cut_say(const char *fmt, ...);
void cut_sleep_ms(int ms);

#endif
