/*
 * broker.h - kferry-broker's shared state and the request-handler contract.
 *
 * The broker is one thread: an epoll loop (server.c) reads length-prefixed
 * frames, parses the request header and calls a handler from the dispatch
 * table (dispatch.c).  Each connection has at most one request being
 * handled at a time, which keeps responses in request order.
 *
 * A handler writes only the response *body* into `out`; the dispatcher adds
 * the size prefix and response header.  A handler that cannot answer yet
 * (Fetch waiting for data, JoinGroup waiting for the rebalance) returns
 * KB_PARK: the request is kept and the handler is called again later with
 * r->retries incremented - whenever kb_broker_wake() was called, and at
 * least every KB_PARK_TICK_MS - until it answers.  A handler re-run must
 * therefore be idempotent, or keep what it needs in r->park_state.
 */
#ifndef KB_BROKER_H
#define KB_BROKER_H

#include "broker/listener.h"
#include "common/buf.h"
#include "common/props.h"
#include "proto/proto.h"
#include "proto/wire.h"

#include <stddef.h>
#include <stdint.h>

#define KB_PARK_TICK_MS 10

struct kb_store;
struct kb_groups;
struct kb_txns;
struct kb_conn;
struct kb_sasl;
struct kb_sasl_session;
struct kb_acls;

typedef struct kb_config {
    int32_t node_id;       /* node.id / broker.id, default 1 */
    char listen_host[256]; /* from --listen */
    int listen_port;
    char advertised_host[256];                /* advertised.listeners host, default listen host */
    int advertised_port;                      /* 0 = the bound port */
    char data_dir[4096];                      /* --data-dir / log.dirs */
    char cluster_id[64];                      /* cluster.id; generated and persisted if unset */
    int32_t num_partitions;                   /* num.partitions, default 1 */
    int auto_create_topics;                   /* auto.create.topics.enable, default true */
    int16_t default_replication_factor;       /* default.replication.factor, 1 */
    int64_t segment_bytes;                    /* log.segment.bytes, 1073741824 */
    int64_t segment_ms;                       /* log.roll.ms / log.segment.ms, 604800000 */
    int64_t retention_ms;                     /* log.retention.ms, 604800000 (-1 = forever) */
    int64_t retention_bytes;                  /* log.retention.bytes, -1 */
    int64_t retention_check_ms;               /* log.retention.check.interval.ms, 300000 */
    int64_t flush_messages;                   /* log.flush.interval.messages, INT64_MAX */
    int64_t flush_ms;                         /* log.flush.interval.ms, INT64_MAX (= never) */
    int64_t index_interval_bytes;             /* log.index.interval.bytes, 4096 */
    int64_t index_max_bytes;                  /* log.index.size.max.bytes, 10485760 */
    int32_t message_max_bytes;                /* message.max.bytes, 1048588 */
    int32_t socket_request_max_bytes;         /* socket.request.max.bytes, 104857600 */
    int32_t group_min_session_ms;             /* group.min.session.timeout.ms, 6000 */
    int32_t group_max_session_ms;             /* group.max.session.timeout.ms, 1800000 */
    int32_t group_initial_rebalance_delay_ms; /* group.initial.rebalance.delay.ms, 3000 */
    int64_t offsets_retention_ms;             /* offsets.retention.minutes*60000, 7 days */
    int32_t max_connections;                  /* max.connections, 1024 */
    int32_t cleanup_policy;                   /* log.cleanup.policy: 1 delete | 2 compact */
    double cleaner_min_ratio;                 /* log.cleaner.min.cleanable.ratio, 0.5 */
    int64_t min_compact_lag_ms;               /* log.cleaner.min.compaction.lag.ms, 0 */
    int64_t max_compact_lag_ms;               /* log.cleaner.max.compaction.lag.ms, INT64_MAX */
    int64_t delete_retention_ms;              /* log.cleaner.delete.retention.ms, 86400000 */
    int64_t cleaner_backoff_ms;               /* log.cleaner.backoff.ms, 15000 */
    int cleaner_enable;                       /* log.cleaner.enable, true */
    int32_t max_partitions_per_topic;   /* max.partitions.per.topic, 4096 (kferry-broker only) */
    int32_t transaction_max_timeout_ms; /* transaction.max.timeout.ms, 900000 */
    int64_t transactional_id_expiration_ms; /* transactional.id.expiration.ms, 7 days */
    char cli_listen[300];                   /* --listen HOST:PORT ("" = none) */
    kb_listeners listeners;                 /* listeners, advertised.listeners, ssl.* */
    kf_props raw;                           /* the file as loaded, for DescribeConfigs */

    int log_format; /* kferry.log.format: 0 unset, else KF_LOG_FORMAT_* + 1 */
} kb_config;

typedef struct kb_broker {
    kb_config cfg;
    struct kb_store *store;
    struct kb_groups *groups;
    struct kb_txns *txns;     /* transaction coordinator (txn.c) */
    struct kb_sasl *sasl;     /* SASL config and SCRAM credentials (sasl.c) */
    struct kb_acls *acls;     /* authorizer config and ACL store (acl.c) */
    int64_t next_producer_id; /* InitProducerId allocator (persisted by the store) */
    int woken;                /* set by kb_broker_wake(); cleared by the loop */
    volatile int stopping;
    void *server; /* server.c private */
} kb_broker;

/* Handler return codes. */
enum {
    KB_OK = 0,     /* response body written to out */
    KB_PARK = 1,   /* not ready: call again later (out is discarded) */
    KB_NORESP = 2, /* no response is sent (Produce with acks=0) */
    KB_CLOSE = -1  /* malformed request: log one line and close the connection */
};

typedef struct kb_req {
    struct kb_conn *conn;
    int16_t api_key;
    int16_t api_version;
    int32_t correlation_id;
    int flex;              /* request uses flexible (compact) encodings */
    const char *client_id; /* points into frame; not NUL-terminated */
    int32_t client_id_len; /* -1 = null */
    uint8_t *frame;        /* the whole request (after the size prefix), owned */
    size_t frame_len;
    size_t body_off;              /* where the request body starts in frame */
    int64_t arrived_ms;           /* kf_now_ms() when the request was read */
    int retries;                  /* 0 on the first call */
    void *park_state;             /* handler-owned, survives KB_PARK */
    void (*park_free)(void *);    /* called when the request is dropped or answered */
    const char *peer;             /* "ip:port" of the client, for logs */
    const char *principal;        /* "User:NAME" the connection authenticated as
                                     ("User:ANONYMOUS" when unauthenticated) */
    struct kb_sasl_session *sasl; /* the connection's SASL state (NULL in unit tests) */
    const kb_listener *listener;  /* the listener the request came in on (NULL in unit tests) */
} kb_req;

/* The advertised address of the listener r came in on (Metadata,
 * FindCoordinator and DescribeCluster answer with the client's listener). */
void kb_req_endpoint(const struct kb_broker *b, const kb_req *r, const char **host, int *port);

static inline void kb_req_body(const kb_req *r, kf_rd *rd) {
    kf_rd_init(rd, r->frame + r->body_off, r->frame_len - r->body_off);
}

typedef int (*kb_handler_fn)(kb_broker *b, kb_req *r, kf_buf *out);

typedef struct kb_api {
    int16_t key;
    int16_t min_version;
    int16_t max_version;
    int16_t flexible_from; /* first flexible version; INT16_MAX if none */
    kb_handler_fn handler;
} kb_api;

/* dispatch.c */
const kb_api *kb_api_find(int16_t key);
const kb_api *kb_api_table(size_t *count);

/* Ask the loop to re-run parked requests soon (new data, group change). */
static inline void kb_broker_wake(kb_broker *b) { b->woken = 1; }

/* broker.c: opens the store (running crash recovery), the group
 * coordinator and producer state for b->cfg. 0 or -1 with a message. */
int kb_broker_open(kb_broker *b, char *err, size_t errlen);
void kb_broker_close(kb_broker *b);
struct kb_log_cfg;
void kb_log_cfg_from_broker(const kb_config *c, struct kb_log_cfg *l);

/* config.c */
void kb_config_defaults(kb_config *c);
/* Applies properties (file) onto c; reports every problem, one per line,
 * into err. Returns 0 or -1. */
int kb_config_apply(kb_config *c, kf_props *p, char *err, size_t errlen);
void kb_config_free(kb_config *c);

#endif
