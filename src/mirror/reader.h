/*
 * reader.h - reads bounded offset ranges [start, end) of many partitions at
 * once with a consumer handle, calling back for every record.
 *
 * Used to load the offset map and to read target tails at start-up; not the
 * replication path.  Invariant: every started partition is stopped and every
 * message destroyed before reader_run returns.
 */
#ifndef KF_MIRROR_READER_H
#define KF_MIRROR_READER_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

typedef struct reader_spec {
    const char *topic;
    int32_t partition;
    int64_t start, end; /* end = high watermark at planning time */
    void *opaque;
    int done;
} reader_spec;

/* Returns 0 from cb to continue, -1 to abort the whole read. */
typedef int (*reader_cb)(const rd_kafka_message_t *m, reader_spec *s, void *ctx);

/* 0 when every spec reached its end; -1 on error/timeout/abort (err set). */
int reader_run(rd_kafka_t *rk, reader_spec *specs, size_t n, reader_cb cb, void *ctx,
               int timeout_ms, char *err, size_t errlen);

#endif
