/*
 * demo_app.h - the sample application of `kferry demo`: a producer writing
 * sequence-numbered orders and a consumer group reading them, each movable
 * from one cluster to another, as a real team's services would be.
 *
 * The application keeps its own ledger (which sequence numbers were
 * acknowledged, how often each was consumed) so the demo can prove, from
 * the application's point of view, that the migration lost and duplicated
 * nothing.  Not a library: only demo.c uses it.
 */
#ifndef KF_MIGRATE_DEMO_APP_H
#define KF_MIGRATE_DEMO_APP_H

#include <stdint.h>

typedef struct demo_app demo_app;

/* topic and group name the application uses; max_records bounds the ledger. */
demo_app *demo_app_new(const char *topic, const char *group, int64_t max_records);
void demo_app_destroy(demo_app *a);

/* Starts producing to bootstrap at about rate records/s (until stopped or
 * the ledger is full); props: NULL or extra librdkafka settings as key,
 * value, ..., NULL. Returns 0 or -1 with a message on stderr. */
int demo_app_producer_start(demo_app *a, const char *bootstrap, const char *const *props, int rate);
/* Flushes and stops the producer; every record is then acknowledged or failed. */
void demo_app_producer_stop(demo_app *a);
int demo_app_consumer_start(demo_app *a, const char *bootstrap, const char *const *props);
/* Leaves the group cleanly, committing what was processed. */
void demo_app_consumer_stop(demo_app *a);

typedef struct demo_app_stats {
    int64_t produced_acked;
    int64_t produce_failed;
    int64_t consumed;
    int64_t missing;                         /* acknowledged but never consumed */
    int64_t duplicated;                      /* consumed more than once */
    int64_t first_missing, first_duplicated; /* sequence numbers, -1 if none */
} demo_app_stats;

void demo_app_stats_get(demo_app *a, demo_app_stats *st);
/* Waits until every acknowledged record was consumed or timeout_ms passed. */
int demo_app_wait_consumed(demo_app *a, int timeout_ms);

#endif
