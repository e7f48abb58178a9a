/*
 * config.h - kferry mirror configuration: MirrorMaker 2 properties plus
 * kferry.* keys, validated all at once at start-up.
 *
 * Not a client: it only knows keys and values.  Invariant: a loaded config
 * has exactly one enabled flow, valid regexes and client properties that
 * librdkafka accepted; every file key was either used or reported.
 */
#ifndef KF_MIRROR_CONFIG_H
#define KF_MIRROR_CONFIG_H

#include "common/props.h"

#include <regex.h>
#include <stddef.h>

enum { MC_POLICY_DEFAULT = 0, MC_POLICY_IDENTITY = 1 };
enum { MC_GAP_STOP = 0, MC_GAP_CONTINUE = 1 };
/* Which librdkafka handle a client property applies to. */
enum { MC_CLIENT_CONSUMER = 1, MC_CLIENT_PRODUCER = 2, MC_CLIENT_ANY = 3 };

typedef struct mc_kv {
    char *key, *value;
    int roles;     /* MC_CLIENT_* bits */
    char *written; /* what the log shows instead of value: the text as written
                      (${provider:...} references unresolved) or where a mapped
                      value came from; NULL: value itself */
} mc_kv;

typedef struct mc_cluster {
    char *alias;
    mc_kv *props; /* pass-through client properties, bootstrap.servers included */
    size_t nprops;
    /* the settings that decide TLS trust and the client identity, as
     * written ("onprem.ssl.truststore.location"), for diagnoses; "" if none */
    char trust_setting[160];
    char identity_setting[160];
    /* MSK IAM: sasl.mechanism=AWS_MSK_IAM with IAMLoginModule, or
     * OAUTHBEARER with MSK's IAMOAuthBearerLoginCallbackHandler.  The
     * options come from the JAAS line (awsProfileName=...). */
    struct mc_msk_iam {
        int enabled;
        char region[32];        /* aws.region, else from host names or AWS_REGION */
        char profile[128];      /* awsProfileName */
        char role_arn[256];     /* awsRoleArn */
        char role_session[128]; /* awsRoleSessionName */
        char sts_region[32];    /* awsStsRegion */
        int debug_creds;        /* awsDebugCreds */
    } iam;
} mc_cluster;

typedef struct mc_regexes {
    regex_t *re;
    char **src; /* the patterns as written, for logs and docs */
    size_t n;
} mc_regexes;

typedef struct mirror_config {
    kf_props props;
    mc_cluster src, tgt;
    mc_regexes topics, topics_exclude, groups, groups_exclude;
    int policy;
    char separator[16];
    int sync_topic_configs;
    int sync_configs_s;
    int refresh_s;
    int sync_acls;                /* sync.topic.acls.enabled */
    int sync_acls_s;              /* sync.topic.acls.interval.seconds */
    char acl_principal_map[4096]; /* kferry.acl.principal.map */
    int replication_factor;
    int gap_policy;
    int metrics_port;
    char metrics_bind[64];
    int status_interval_s;
    int map_persist_ms;
    int shutdown_timeout_s;
    int linger_ms;
    char compression[16];
    char map_topic[256];
    char opposite_map_topic[256]; /* the opposite flow's map, on the source */
    int opposite_stopped;         /* operator: the opposite flow is dead */
    char lock_group[300];         /* the flow lock (flowlock.h) */
    char lock_topic[250];
    int lock_session_ms;
    int txn;               /* kferry.transactions.enabled */
    int txn_interval_ms;   /* kferry.transaction.interval.ms */
    char txn_id[320];      /* the producer's transactional.id (derived from the lock group) */
    int workers;           /* kferry.workers: units of work of the flow */
    int unit;              /* the unit a replication engine runs (0 when workers == 1) */
    int startup_timeout_s; /* kferry.startup.timeout.seconds */
    char debug[128];
    char **secrets; /* texts substituted for ${provider:...} references */
    size_t nsecrets;
} mirror_config;

/* Loads and validates path. On failure prints every problem (file:line) to
 * stderr and returns -1; the caller exits 2. */
int mc_load(mirror_config *c, const char *path);
void mc_free(mirror_config *c);

/* Logs the effective configuration with secrets redacted. */
void mc_log_effective(const mirror_config *c);
/* 1 if the value of key must never be shown. */
int mc_is_secret_key(const char *key);
/* Copies text to out with every text a config provider resolved (3+
 * characters) replaced by "[redacted]". */
void mc_redact(const mirror_config *c, const char *text, char *out, size_t outlen);
/* The cluster's client property key (any role), or NULL. */
const char *mc_prop(const mc_cluster *cl, const char *key);

/* The cluster's bootstrap.servers as configured ("?" if none). */
const char *mc_bootstrap(const mc_cluster *cl);

/* Topic selection: 1 selected, 0 excluded (reason set), never for kferry's
 * own topics. */
int mc_topic_selected(const mirror_config *c, const char *topic, const char **reason);
/* Target topic name under the replication policy. 0 ok, -1 too long. */
int mc_target_topic(const mirror_config *c, const char *src_topic, char *out, size_t outlen);

/* Markdown reference of every key kferry reads (generated from the table). */
void mc_print_reference(void);

#endif
