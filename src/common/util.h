/*
 * util.h - small helpers shared by every component: bounded number
 * parsing (no atoi), clocks, file I/O, host:port parsing.
 */
#ifndef KF_UTIL_H
#define KF_UTIL_H

#include "common/buf.h"

#include <stddef.h>
#include <stdint.h>

/* Strict decimal parse of the whole string into [min,max]. 0 ok, -1 bad. */
int kf_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);
/* "true"/"false" (case-insensitive). 0 ok, -1 bad. */
int kf_parse_bool(const char *s, int *out);
/* "host:port", "[v6]:port" or ":port". host gets "" for ":port". */
int kf_parse_hostport(const char *s, char *host, size_t hostlen, int *port);

int64_t kf_now_ms(void);  /* monotonic */
int64_t kf_wall_ms(void); /* wall clock, ms since epoch */

char *kf_strdup(const char *s);
char *kf_strndup(const char *s, size_t n);
/* snprintf into dst; returns 0, or -1 when truncated. */
int kf_strlcpy(char *dst, const char *src, size_t size);

/* Levenshtein distance of a and b (case-insensitive), capped: anything
 * above cap (or strings longer than 255) returns cap + 1. */
int kf_edit_distance(const char *a, const char *b, int cap);

/* Reads a whole file (at most max bytes) into a fresh buffer. 0 or -1/errno. */
int kf_read_file(const char *path, kf_buf *out, size_t max);
/* Writes via a temp file, fsync and rename. 0 or -1/errno. */
int kf_write_file_atomic(const char *path, const void *data, size_t len);
/* The same with the file's permission bits (e.g. 0600 for secrets). */
int kf_write_file_atomic_mode(const char *path, const void *data, size_t len, unsigned mode);
/* fsyncs a directory so renames/creates inside it are durable. */
int kf_fsync_dir(const char *path);
/* mkdir -p. 0 or -1/errno. */
int kf_mkdirs(const char *path, unsigned mode);
/* rm -rf of a directory tree. 0 or -1/errno. */
int kf_rmtree(const char *path);

#endif
