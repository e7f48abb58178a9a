/*
 * props.h - Java-properties files ("key=value"), the format Kafka users
 * already write.
 *
 * Supports '=' ':' or whitespace separators, '#' and '!' comments, trailing
 * backslash continuation lines and the usual escapes.  Entries keep their
 * file order and line number so validation can name the offending line.
 * Later duplicates of a key override earlier ones on lookup.
 */
#ifndef KF_PROPS_H
#define KF_PROPS_H

#include "common/buf.h"

#include <stddef.h>

typedef struct kf_prop {
    char *key;
    char *value;
    int line;
    int used; /* set by lookups; lets callers report unknown keys */
} kf_prop;

typedef struct kf_props {
    kf_prop *items;
    size_t count;
    size_t cap;
    char *source; /* file name, for messages */
} kf_props;

void kf_props_init(kf_props *p);
void kf_props_free(kf_props *p);
/* Parses text. Returns 0, or -1 with a message in err. */
int kf_props_parse(kf_props *p, const char *text, size_t len, char *err, size_t errlen);
/* Reads and parses a file. Returns 0, or -1 with a message naming the file. */
int kf_props_load(kf_props *p, const char *path, char *err, size_t errlen);
/* Adds or replaces key. Returns 0 or -1 on allocation failure. */
int kf_props_set(kf_props *p, const char *key, const char *value);
/* Removes key if present. Returns 1 if removed. */
int kf_props_unset(kf_props *p, const char *key);
/* Last value for key, marking it used; NULL if absent. */
const char *kf_props_get(kf_props *p, const char *key);
kf_prop *kf_props_find(kf_props *p, const char *key);
/* Writes "key=value" lines with escaping. Returns 0 or -1 (errno set). */
int kf_props_save(const kf_props *p, const char *path);
/* The same text appended to out (what kf_props_save writes). 0, or -1 when
 * out failed (out of memory or over its cap). */
int kf_props_format(const kf_props *p, kf_buf *out);

#endif
