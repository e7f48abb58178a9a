/*
 * journal.h - the cutover journal: one record per completed step in a
 * compacted topic on the target (never the source), so re-runs are safe and
 * an interrupted cutover resumes where it stopped.  Key "<kind>\t<gen>\t
 * <step>\t<name>" (C = group, P = producer gate), value a JSON object.
 */
#ifndef KF_MIRROR_JOURNAL_H
#define KF_MIRROR_JOURNAL_H

#include "mirror/config.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>

typedef struct jr_entry {
    char kind;
    char *name;
    int gen;
    char step[32];
    int64_t ts_ms;
    json_t *data; /* the whole value object */
} jr_entry;

typedef struct journal {
    const mirror_config *c;
    rd_kafka_t *reader, *prod;
    char topic[256];
    jr_entry *v;
    size_t n, cap;
    int delivery_failed;
    char delivery_err[256];
} journal;

/* Topic name: "__kferry.cutover.<source alias>.<target alias>". */
void journal_topic(const mirror_config *c, char *out, size_t outlen);
/* Opens and loads the journal; with create, creates the topic (compacted)
 * and a producer for writes.  reader: a target consumer, borrowed. */
int journal_open(journal *j, const mirror_config *c, rd_kafka_t *reader, int create, int timeout_ms,
                 char *err, size_t errlen);
void journal_close(journal *j);
/* Latest generation for (kind, name); 0 if none. */
int journal_gen(const journal *j, char kind, const char *name);
const jr_entry *journal_find(const journal *j, char kind, const char *name, int gen,
                             const char *step);
/* Writes a step (data may be NULL; its reference is taken) and waits for
 * the target to acknowledge it. */
int journal_put(journal *j, char kind, const char *name, int gen, const char *step, json_t *data,
                char *err, size_t errlen);
/* "2026-11-21T07:12:03Z" */
void journal_time(int64_t ms, char *out, size_t outlen);

#endif
