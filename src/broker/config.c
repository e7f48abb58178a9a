/*
 * config.c - kferry-broker configuration: one table drives parsing,
 * validation, defaults and the generated reference (docs/CONFIGURATION.md).
 *
 * Keys and defaults are Apache Kafka's broker keys, so an existing
 * server.properties mostly works.  Every problem in a file is reported,
 * one per line, before the broker refuses to start.
 */
#include "broker/config.h"

#include "broker/acl.h"
#include "broker/sasl.h"
#include "broker/store.h"
#include "common/log.h"
#include "common/util.h"

#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

enum ctype { C_I32, C_I16, C_I64, C_BOOL, C_STR, C_HOSTPORT, C_POLICY, C_RATIO, C_LOGFMT };

typedef struct cdesc {
    const char *key;
    enum ctype type;
    size_t off;
    int64_t min, max;
    int64_t mult; /* value * mult is stored (hours -> ms) */
    const char *defval;
    const char *doc;
} cdesc;

#define F(field) offsetof(kb_config, field)
#define I64MAX INT64_MAX

/* Order matters where several keys set one field: later entries win, as
 * Kafka's *.ms beats *.minutes beats *.hours. */
static const cdesc cdescs[] = {
    {"node.id", C_I32, F(node_id), 0, INT32_MAX, 1, "1",
     "Id of this broker in Metadata responses."},
    {"broker.id", C_I32, F(node_id), 0, INT32_MAX, 1, "1", "Alias of node.id."},
    {"log.dirs", C_STR, F(data_dir), 0, 0, 1, "(none)",
     "Data directory, if --data-dir is not given."},
    {"log.dir", C_STR, F(data_dir), 0, 0, 1, "(none)", "Alias of log.dirs."},
    {"cluster.id", C_STR, F(cluster_id), 0, 0, 1, "(generated once, persisted)",
     "Cluster id reported in Metadata."},
    {"num.partitions", C_I32, F(num_partitions), 1, 100000, 1, "1",
     "Partitions of auto-created topics and of CreateTopics with num_partitions -1."},
    {"auto.create.topics.enable", C_BOOL, F(auto_create_topics), 0, 1, 1, "true",
     "Create unknown topics when clients ask Metadata for them."},
    {"default.replication.factor", C_I16, F(default_replication_factor), 1, 1, 1, "1",
     "Replication factor of auto-created topics (a single node holds one replica)."},
    {"log.segment.bytes", C_I64, F(segment_bytes), 14, INT32_MAX, 1, "1073741824",
     "Roll a new segment when the active one would exceed this size."},
    {"log.roll.hours", C_I64, F(segment_ms), 1, I64MAX / 3600000, 3600000, "168",
     "Roll a segment after this many hours."},
    {"log.roll.ms", C_I64, F(segment_ms), 1, I64MAX, 1, "604800000",
     "Roll a segment this long after its first batch."},
    {"log.segment.ms", C_I64, F(segment_ms), 1, I64MAX, 1, "604800000", "Alias of log.roll.ms."},
    {"log.retention.hours", C_I64, F(retention_ms), -1, I64MAX / 3600000, 3600000, "168",
     "Retention by time in hours."},
    {"log.retention.minutes", C_I64, F(retention_ms), -1, I64MAX / 60000, 60000, "(unset)",
     "Retention by time in minutes."},
    {"log.retention.ms", C_I64, F(retention_ms), -1, I64MAX, 1, "604800000",
     "Delete segments whose newest record is older than this; -1 keeps forever."},
    {"log.retention.bytes", C_I64, F(retention_bytes), -1, I64MAX, 1, "-1",
     "Delete oldest segments while a partition is larger than this; -1 = no limit."},
    {"log.retention.check.interval.ms", C_I64, F(retention_check_ms), 1, I64MAX, 1, "300000",
     "How often retention runs."},
    {"log.flush.interval.messages", C_I64, F(flush_messages), 1, I64MAX, 1, "9223372036854775807",
     "fsync a partition after this many records (default: leave it to the OS)."},
    {"log.flush.interval.ms", C_I64, F(flush_ms), 0, I64MAX, 1, "9223372036854775807",
     "fsync a partition when its oldest unflushed data is this old."},
    {"log.index.interval.bytes", C_I64, F(index_interval_bytes), 0, INT32_MAX, 1, "4096",
     "Bytes of log between two offset-index entries."},
    {"log.index.size.max.bytes", C_I64, F(index_max_bytes), 4096, INT32_MAX, 1, "10485760",
     "Largest offset/time index file; a full index rolls the segment."},
    {"log.cleanup.policy", C_POLICY, F(cleanup_policy), 0, 0, 1, "delete",
     "Default cleanup.policy of topics: delete (retention), compact (log cleaner) or both."},
    {"log.cleaner.enable", C_BOOL, F(cleaner_enable), 0, 1, 1, "true",
     "Run the log cleaner for topics with cleanup.policy=compact."},
    {"log.cleaner.backoff.ms", C_I64, F(cleaner_backoff_ms), 0, I64MAX, 1, "15000",
     "How long the cleaner waits after finding nothing to clean."},
    {"log.cleaner.min.cleanable.ratio", C_RATIO, F(cleaner_min_ratio), 0, 1, 1, "0.5",
     "Clean a partition once this share of its inactive bytes is dirty (topic: "
     "min.cleanable.dirty.ratio)."},
    {"log.cleaner.min.compaction.lag.ms", C_I64, F(min_compact_lag_ms), 0, I64MAX, 1, "0",
     "Records newer than this are not compacted (topic: min.compaction.lag.ms)."},
    {"log.cleaner.max.compaction.lag.ms", C_I64, F(max_compact_lag_ms), 1, I64MAX, 1,
     "9223372036854775807",
     "Clean a partition whose oldest dirty record is this old, whatever its dirty ratio (topic: "
     "max.compaction.lag.ms)."},
    {"log.cleaner.delete.retention.ms", C_I64, F(delete_retention_ms), 0, I64MAX, 1, "86400000",
     "Tombstones stay readable at least this long in cleaned segments (topic: "
     "delete.retention.ms)."},
    {"message.max.bytes", C_I32, F(message_max_bytes), 0, INT32_MAX, 1, "1048588",
     "Largest record batch a producer may send (topic override: max.message.bytes)."},
    {"socket.request.max.bytes", C_I32, F(socket_request_max_bytes), 1024, INT32_MAX, 1,
     "104857600", "Largest request frame; a bigger size prefix closes the connection."},
    {"group.min.session.timeout.ms", C_I32, F(group_min_session_ms), 0, INT32_MAX, 1, "6000",
     "Smallest session timeout a consumer may ask for."},
    {"group.max.session.timeout.ms", C_I32, F(group_max_session_ms), 0, INT32_MAX, 1, "1800000",
     "Largest session timeout a consumer may ask for."},
    {"group.initial.rebalance.delay.ms", C_I32, F(group_initial_rebalance_delay_ms), 0, INT32_MAX,
     1, "3000", "Wait for more members before the first rebalance of an empty group."},
    {"offsets.retention.minutes", C_I64, F(offsets_retention_ms), 1, I64MAX / 60000, 60000, "10080",
     "Committed offsets of an empty group expire after this long."},
    {"transaction.max.timeout.ms", C_I32, F(transaction_max_timeout_ms), 1, INT32_MAX, 1, "900000",
     "Largest transaction.timeout.ms a transactional producer may ask for (larger: "
     "INVALID_TRANSACTION_TIMEOUT)."},
    {"transactional.id.expiration.ms", C_I64, F(transactional_id_expiration_ms), 1, I64MAX, 1,
     "604800000",
     "A transactional id with no transaction in progress is forgotten after this long without "
     "a request."},
    {"max.partitions.per.topic", C_I32, F(max_partitions_per_topic), 1, 100000, 1, "4096",
     "kferry-broker only: most partitions a topic may have. Each partition is a directory "
     "and files created at once, on the broker's single thread."},
    {"max.connections", C_I32, F(max_connections), 1, 1000000, 1, "1024",
     "Client connections accepted at once."},
    {"kferry.log.format", C_LOGFMT, F(log_format), 0, 0, 1, "text",
     "kferry-broker only: format of the log on stderr, text or json (one object per line; "
     "README.md, Logs). --log-format wins over it; without either, KFERRY_LOG_FORMAT "
     "is used."},
};

/* Kafka broker keys that make no sense for a single-node broker; accepted
 * with a notice so an existing server.properties can be reused. */
static const char *ignored_keys[] = {
    "zookeeper.connect",
    "zookeeper.connection.timeout.ms",
    "num.network.threads",
    "num.io.threads",
    "socket.send.buffer.bytes",
    "socket.receive.buffer.bytes",
    "num.recovery.threads.per.data.dir",
    "offsets.topic.replication.factor",
    "transaction.state.log.replication.factor",
    "transaction.state.log.min.isr",
    "inter.broker.listener.name",
    "process.roles",
    "controller.quorum.voters",
    "controller.listener.names",
    "min.insync.replicas",
    "unclean.leader.election.enable",
    "delete.topic.enable",
    "auto.leader.rebalance.enable",
    "num.replica.fetchers",
};

void kb_config_defaults(kb_config *c) {
    memset(c, 0, sizeof(*c));
    c->node_id = 1;
    c->num_partitions = 1;
    c->auto_create_topics = 1;
    c->default_replication_factor = 1;
    c->segment_bytes = 1073741824;
    c->segment_ms = 604800000;
    c->retention_ms = 604800000;
    c->retention_bytes = -1;
    c->retention_check_ms = 300000;
    c->flush_messages = INT64_MAX;
    c->flush_ms = INT64_MAX;
    c->index_interval_bytes = 4096;
    c->index_max_bytes = 10485760;
    c->message_max_bytes = 1048588;
    c->socket_request_max_bytes = 104857600;
    c->group_min_session_ms = 6000;
    c->group_max_session_ms = 1800000;
    c->group_initial_rebalance_delay_ms = 3000;
    c->offsets_retention_ms = 7LL * 24 * 3600 * 1000;
    c->max_connections = 1024;
    c->max_partitions_per_topic = 4096;
    c->cleanup_policy = 1;
    c->cleaner_min_ratio = 0.5;
    c->max_compact_lag_ms = INT64_MAX;
    c->delete_retention_ms = 86400000;
    c->cleaner_backoff_ms = 15000;
    c->cleaner_enable = 1;
    c->transaction_max_timeout_ms = 900000;
    c->transactional_id_expiration_ms = 604800000;
    kf_props_init(&c->raw);
}

void kb_config_free(kb_config *c) { kf_props_free(&c->raw); }

static void add_err(char *err, size_t errlen, const char *fmt, const char *a, const char *b) {
    size_t used = strlen(err);
    if (used + 1 >= errlen)
        return;
    snprintf(err + used, errlen - used, fmt, a, b);
}

/* Parses "host:port" or "PROTOCOL://host:port" (first listener only). */
static int parse_listener(const char *v, char *host, size_t hostlen, int *port) {
    const char *p = strstr(v, "://");
    p = p ? p + 3 : v;
    char one[512];
    if (kf_strlcpy(one, p, sizeof(one)) != 0)
        return -1;
    char *comma = strchr(one, ',');
    if (comma)
        *comma = '\0';
    if (kf_parse_hostport(one, host, hostlen, port) != 0 || !*host || *port == 0)
        return -1;
    return 0;
}

int kb_config_apply(kb_config *c, kf_props *p, char *err, size_t errlen) {
    err[0] = '\0';
    int bad = 0;
    const char *src = p->source ? p->source : "config";
    for (size_t i = 0; i < sizeof(cdescs) / sizeof(cdescs[0]); i++) {
        const cdesc *d = &cdescs[i];
        kf_prop *it = NULL;
        for (size_t k = 0; k < p->count; k++)
            if (strcmp(p->items[k].key, d->key) == 0)
                it = &p->items[k];
        if (!it)
            continue;
        for (size_t k = 0; k < p->count; k++)
            if (strcmp(p->items[k].key, d->key) == 0)
                p->items[k].used = 1;
        char *field = (char *)c + d->off;
        const char *v = it->value;
        char where[300];
        if (it->line > 0)
            snprintf(where, sizeof(where), "%s:%d: %s", src, it->line, d->key);
        else
            snprintf(where, sizeof(where), "%s", d->key);
        int64_t n;
        int bv;
        switch (d->type) {
        case C_I16:
        case C_I32:
        case C_I64:
            if (kf_parse_i64(v, d->min, d->max, &n) != 0) {
                char range[96];
                snprintf(range, sizeof(range), "%lld..%lld", (long long)d->min, (long long)d->max);
                add_err(err, errlen, "%s: expected an integer in ", where, "");
                add_err(err, errlen, "%s, got '%s'\n", range, v);
                bad = 1;
                break;
            }
            if (d->type == C_I16)
                *(int16_t *)field = (int16_t)n;
            else if (d->type == C_I32)
                *(int32_t *)field = (int32_t)n;
            else
                *(int64_t *)field = (n > 0 && d->mult > 1) ? n * d->mult : n;
            break;
        case C_BOOL:
            if (kf_parse_bool(v, &bv) != 0) {
                add_err(err, errlen, "%s: expected true or false, got '%s'\n", where, v);
                bad = 1;
                break;
            }
            *(int *)field = bv;
            break;
        case C_STR: {
            size_t cap = d->off == F(data_dir) ? sizeof(c->data_dir) : sizeof(c->cluster_id);
            if (!*v || kf_strlcpy(field, v, cap) != 0) {
                add_err(err, errlen, "%s: empty or too long value '%s'\n", where, v);
                bad = 1;
            }
            break;
        }
        case C_POLICY: {
            int cp = 0, dp = 0;
            if (kb_cleanup_policy_parse(v, &cp, &dp) != 0) {
                add_err(err, errlen, "%s: expected a list of delete, compact, got '%s'\n", where,
                        v);
                bad = 1;
                break;
            }
            *(int32_t *)field = (dp ? 1 : 0) | (cp ? 2 : 0);
            break;
        }
        case C_RATIO: {
            char *end = NULL;
            double x = *v ? strtod(v, &end) : -1;
            if (!end || *end != '\0' || !(x >= 0.0 && x <= 1.0)) {
                add_err(err, errlen, "%s: expected a number between 0 and 1, got '%s'\n", where, v);
                bad = 1;
                break;
            }
            *(double *)field = x;
            break;
        }
        case C_LOGFMT: {
            int lf = kf_log_format_parse(v);
            if (lf < 0) {
                add_err(err, errlen, "%s: expected text or json, got '%s'\n", where, v);
                bad = 1;
                break;
            }
            *(int *)field = lf + 1;
            break;
        }
        case C_HOSTPORT: break;
        }
    }
    if (kb_sasl_config_check(p, err, errlen) != 0)
        bad = 1;
    {
        size_t used = strlen(err);
        if (kb_listeners_config(&c->listeners, p, c->cli_listen[0] ? c->cli_listen : NULL,
                                err + used, errlen - used) != 0) {
            bad = 1;
            used = strlen(err);
            if (used + 1 < errlen) {
                err[used] = '\n';
                err[used + 1] = '\0';
            }
        }
        const char *adv = kf_props_get(p, "advertised.listeners");
        if (c->listeners.n == 0 && adv)
            (void)parse_listener(adv, c->advertised_host, sizeof(c->advertised_host),
                                 &c->advertised_port);
        else if (c->listeners.n) {
            const kb_listener *l0 = &c->listeners.l[0];
            kf_strlcpy(c->listen_host, l0->host, sizeof(c->listen_host));
            c->listen_port = l0->port;
            kf_strlcpy(c->advertised_host, l0->adv_host, sizeof(c->advertised_host));
            c->advertised_port = l0->adv_port;
        }
    }
    if (kb_acl_config_check(p, err, errlen) != 0)
        bad = 1;
    for (size_t k = 0; k < p->count; k++) {
        kf_prop *it = &p->items[k];
        if (it->used)
            continue;
        int ignored = 0;
        for (size_t j = 0; j < sizeof(ignored_keys) / sizeof(ignored_keys[0]); j++)
            if (strcmp(it->key, ignored_keys[j]) == 0)
                ignored = 1;
        if (ignored) {
            it->used = 1;
            continue;
        }
        char where[300];
        if (it->line > 0)
            snprintf(where, sizeof(where), "%s:%d", src, it->line);
        else
            snprintf(where, sizeof(where), "--override");
        add_err(err, errlen, "%s: unknown key '%s'\n", where, it->key);
        bad = 1;
    }
    if (c->group_min_session_ms > c->group_max_session_ms) {
        add_err(err, errlen, "%s%s\n", "group.min.session.timeout.ms is larger than ",
                "group.max.session.timeout.ms");
        bad = 1;
    }
    /* Drop the trailing newline. */
    size_t l = strlen(err);
    if (l && err[l - 1] == '\n')
        err[l - 1] = '\0';
    return bad ? -1 : 0;
}

int kb_config_is_ignored(const char *key) {
    for (size_t j = 0; j < sizeof(ignored_keys) / sizeof(ignored_keys[0]); j++)
        if (strcmp(key, ignored_keys[j]) == 0)
            return 1;
    return 0;
}

void kb_config_print_reference(FILE *f) {
    fprintf(f, "| key | default | range | meaning |\n|---|---|---|---|\n");
    for (size_t i = 0; i < sizeof(cdescs) / sizeof(cdescs[0]); i++) {
        const cdesc *d = &cdescs[i];
        char range[96] = "";
        if (d->type == C_BOOL)
            snprintf(range, sizeof(range), "true/false");
        else if (d->type == C_I16 || d->type == C_I32 || d->type == C_I64)
            snprintf(range, sizeof(range), "%lld..%lld", (long long)d->min, (long long)d->max);
        else if (d->type == C_HOSTPORT)
            snprintf(range, sizeof(range), "host:port");
        else if (d->type == C_POLICY)
            snprintf(range, sizeof(range), "delete, compact");
        else if (d->type == C_RATIO)
            snprintf(range, sizeof(range), "0.0..1.0");
        else if (d->type == C_LOGFMT)
            snprintf(range, sizeof(range), "text, json");
        else
            snprintf(range, sizeof(range), "text");
        fprintf(f, "| `%s` | %s | %s | %s |\n", d->key, d->defval, range, d->doc);
    }
    kb_listeners_print_reference(f);
    kb_sasl_print_reference(f);
    kb_acl_print_reference(f);
    fprintf(f, "\nAccepted and ignored (they have no meaning on a single node):");
    for (size_t j = 0; j < sizeof(ignored_keys) / sizeof(ignored_keys[0]); j++)
        fprintf(f, "%s `%s`", j ? "," : "", ignored_keys[j]);
    fprintf(f, ".\n");
}
