/*
 * plan.h - `kferry plan`: inventory of source and target, what the mirror
 * would do with every source topic, and preflight checks (ok / warning /
 * blocker).  The whole result is one JSON document (docs/PLAN.md); the
 * human report is rendered from it, so both always say the same thing.
 */
#ifndef KF_MIGRATE_PLAN_H
#define KF_MIGRATE_PLAN_H

#include "mirror/config.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>

typedef struct plan_ctx {
    mirror_config *cfg;
    int timeout_ms;
    rd_kafka_t *src, *tgt; /* NULL when that cluster is unreachable */
    json_t *doc;           /* the document; owns everything below */
    json_t *src_inv, *tgt_inv;
    json_t *checks;
    double rate_bps; /* --rate: bytes per second for the estimate (0: measure) */
    int measure_s;   /* --measure-seconds: read-rate measurement (0: none) */
} plan_ctx;

/* `kferry plan ...` with argv[1] == "plan".  Exit status: 0 no blocker,
 * 1 at least one blocker, 2 usage or configuration error. */
int plan_main(int argc, char **argv);

/* Appends a check. status: "ok", "warning" or "blocker"; cluster may be
 * NULL (flow-wide); object_type e.g. "cluster", "topic", "group". */
__attribute__((format(printf, 7, 8))) void plan_check(plan_ctx *p, const char *id,
                                                      const char *status, const char *cluster,
                                                      const char *object_type, const char *object,
                                                      const char *fmt, ...);

/* The reason of a failed connection, as librdkafka's error callback saw it. */
typedef struct plan_conn {
    char last_error[512];
    int last_code; /* librdkafka's error code of last_error */
    int auth_failed;
} plan_conn;

/* The client configuration plan uses for cl (its consumer properties,
 * read-only settings, error callback into cn).  bootstrap: instead of the
 * cluster's bootstrap.servers when not NULL; timeout_ms: socket and
 * connection setup timeout (0: p->timeout_ms). */
rd_kafka_conf_t *plan_client_conf(plan_ctx *p, const mc_cluster *cl, plan_conn *cn,
                                  int no_host_check, const char *bootstrap, int timeout_ms);

/* plan_reach.c: every broker of both inventories, in parallel: DNS, TCP
 * connect, and with TLS/SASL the handshake and login on that broker alone.
 * Adds "broker_reachability" to each inventory and a check per broker. */
void plan_reach(plan_ctx *p);

/* plan_api.c: ApiVersions probe of one cluster against what kferry needs.
 * role is "source" or "target"; adds "api_versions" to inv. */
void plan_api(plan_ctx *p, const mc_cluster *cl, const char *role, json_t *inv);

/* plan_topics.c: doc "topics" (every source topic and its fate) and the
 * topic checks; needs both inventories. */
void plan_topics(plan_ctx *p);
/* plan_estimate.c: doc "estimate" (bytes and records to copy per topic
 * and in total, the catch-up time at the given or measured rate, the
 * topics whose retention would delete records before the mirror reaches
 * them) and its checks; m is the flow's offset map (empty if none). */
struct offmap;
void plan_estimate(plan_ctx *p, const struct offmap *m);
/* "3 h 20 min" (never for infinity or a negative) */
void plan_duration(double seconds, char *out, size_t len);
/* plan_groups.c: doc "groups" (source groups, selected or not, with
 * target state) and group checks. */
void plan_groups(plan_ctx *p);

/* plan_report.c: the human report of a finished document. */
void plan_report(const json_t *doc, FILE *out);

#endif
