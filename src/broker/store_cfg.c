/*
 * store_cfg.c - topic-level configs: Kafka's keys, validation (LogConfig's
 * ranges and enums), broker-level inheritance and the effective kb_log_cfg.
 * Invariant: stored overrides always passed kb_topic_config_check.
 */
#include "broker/store_int.h"

#include "common/util.h"
#include "proto/proto.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum ctype { CT_LONG, CT_INT, CT_BOOL, CT_ENUM, CT_POLICY, CT_RATIO, CT_STRING, CT_LIST };

/* Which kb_log_cfg field a key feeds (its default comes from there). */
enum cfield {
    F_NONE,
    F_SEG_BYTES,
    F_SEG_MS,
    F_RET_BYTES,
    F_RET_MS,
    F_FLUSH_MSGS,
    F_FLUSH_MS,
    F_IDX_INTERVAL,
    F_IDX_BYTES,
    F_MAX_MSG,
    F_TS_TYPE,
    F_POLICY,
    F_DEL_RET,
    F_MIN_LAG,
    F_MAX_LAG,
    F_RATIO
};

static const char *const compression_types[] = {"uncompressed", "zstd",     "lz4", "snappy",
                                                "gzip",         "producer", NULL};
static const char *const timestamp_types[] = {"CreateTime", "LogAppendTime", NULL};

typedef struct cdef {
    kb_topic_config_desc d;
    enum ctype type;
    int64_t min, max;
    const char *const *enums;
    enum cfield field;
    const char *kdefault; /* Kafka's default when not a kb_log_cfg field */
} cdef;

#define LMAX INT64_MAX
#define IMAX INT32_MAX
static const cdef defs[] = {
    {{"cleanup.policy", "log.cleanup.policy", 0}, CT_POLICY, 0, 0, NULL, F_POLICY, NULL},
    {{"compression.type", "compression.type", 0},
     CT_ENUM,
     0,
     0,
     compression_types,
     F_NONE,
     "producer"},
    {{"delete.retention.ms", "log.cleaner.delete.retention.ms", 0},
     CT_LONG,
     0,
     LMAX,
     NULL,
     F_DEL_RET,
     NULL},
    {{"file.delete.delay.ms", "log.segment.delete.delay.ms", 0},
     CT_LONG,
     0,
     LMAX,
     NULL,
     F_NONE,
     "60000"},
    {{"flush.messages", "log.flush.interval.messages", 0},
     CT_LONG,
     1,
     LMAX,
     NULL,
     F_FLUSH_MSGS,
     NULL},
    {{"flush.ms", "log.flush.interval.ms", 0}, CT_LONG, 0, LMAX, NULL, F_FLUSH_MS, NULL},
    {{"follower.replication.throttled.replicas", "follower.replication.throttled.replicas", 0},
     CT_LIST,
     0,
     0,
     NULL,
     F_NONE,
     ""},
    {{"index.interval.bytes", "log.index.interval.bytes", 0},
     CT_INT,
     0,
     IMAX,
     NULL,
     F_IDX_INTERVAL,
     NULL},
    {{"leader.replication.throttled.replicas", "leader.replication.throttled.replicas", 0},
     CT_LIST,
     0,
     0,
     NULL,
     F_NONE,
     ""},
    {{"local.retention.bytes", "log.local.retention.bytes", 0},
     CT_LONG,
     -2,
     LMAX,
     NULL,
     F_NONE,
     "-2"},
    {{"local.retention.ms", "log.local.retention.ms", 0}, CT_LONG, -2, LMAX, NULL, F_NONE, "-2"},
    {{"max.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms", 0},
     CT_LONG,
     1,
     LMAX,
     NULL,
     F_MAX_LAG,
     NULL},
    {{"max.message.bytes", "message.max.bytes", 0}, CT_INT, 0, IMAX, NULL, F_MAX_MSG, NULL},
    {{"message.downconversion.enable", "log.message.downconversion.enable", 0},
     CT_BOOL,
     0,
     0,
     NULL,
     F_NONE,
     "true"},
    {{"message.format.version", "log.message.format.version", 0},
     CT_STRING,
     0,
     0,
     NULL,
     F_NONE,
     "3.0-IV1"},
    {{"message.timestamp.after.max.ms", "log.message.timestamp.after.max.ms", 0},
     CT_LONG,
     0,
     LMAX,
     NULL,
     F_NONE,
     "9223372036854775807"},
    {{"message.timestamp.before.max.ms", "log.message.timestamp.before.max.ms", 0},
     CT_LONG,
     0,
     LMAX,
     NULL,
     F_NONE,
     "9223372036854775807"},
    {{"message.timestamp.difference.max.ms", "log.message.timestamp.difference.max.ms", 0},
     CT_LONG,
     0,
     LMAX,
     NULL,
     F_NONE,
     "9223372036854775807"},
    {{"message.timestamp.type", "log.message.timestamp.type", 0},
     CT_ENUM,
     0,
     0,
     timestamp_types,
     F_TS_TYPE,
     NULL},
    {{"min.cleanable.dirty.ratio", "log.cleaner.min.cleanable.ratio", 0},
     CT_RATIO,
     0,
     0,
     NULL,
     F_RATIO,
     NULL},
    {{"min.compaction.lag.ms", "log.cleaner.min.compaction.lag.ms", 0},
     CT_LONG,
     0,
     LMAX,
     NULL,
     F_MIN_LAG,
     NULL},
    {{"min.insync.replicas", "min.insync.replicas", 0}, CT_INT, 1, IMAX, NULL, F_NONE, "1"},
    {{"preallocate", "log.preallocate", 0}, CT_BOOL, 0, 0, NULL, F_NONE, "false"},
    {{"remote.storage.enable", NULL, 0}, CT_BOOL, 0, 0, NULL, F_NONE, "false"},
    {{"retention.bytes", "log.retention.bytes", 0},
     CT_LONG,
     INT64_MIN,
     LMAX,
     NULL,
     F_RET_BYTES,
     NULL},
    {{"retention.ms", "log.retention.ms", 0}, CT_LONG, -1, LMAX, NULL, F_RET_MS, NULL},
    {{"segment.bytes", "log.segment.bytes", 0}, CT_INT, 14, IMAX, NULL, F_SEG_BYTES, NULL},
    {{"segment.index.bytes", "log.index.size.max.bytes", 0},
     CT_INT,
     4,
     IMAX,
     NULL,
     F_IDX_BYTES,
     NULL},
    {{"segment.jitter.ms", "log.roll.jitter.ms", 0}, CT_LONG, 0, LMAX, NULL, F_NONE, "0"},
    {{"segment.ms", "log.roll.ms", 0}, CT_LONG, 1, LMAX, NULL, F_SEG_MS, NULL},
    {{"unclean.leader.election.enable", "unclean.leader.election.enable", 0},
     CT_BOOL,
     0,
     0,
     NULL,
     F_NONE,
     "false"},
};
#define NDEFS (sizeof(defs) / sizeof(defs[0]))

static kb_topic_config_desc descs[NDEFS];

const kb_topic_config_desc *kb_topic_config_descs(size_t *count) {
    /* Filled on first use from the single table above (single-threaded). */
    if (!descs[0].name)
        for (size_t i = 0; i < NDEFS; i++)
            descs[i] = defs[i].d;
    *count = NDEFS;
    return descs;
}

static const cdef *find_def(const char *key) {
    for (size_t i = 0; i < NDEFS; i++)
        if (strcmp(defs[i].d.name, key) == 0)
            return &defs[i];
    return NULL;
}

/* cleanup.policy: a comma list of "delete"/"compact" (spaces allowed). */
int kb_cleanup_policy_parse(const char *v, int *compact, int *del) {
    int n = 0, has_compact = 0, has_delete = 0;
    const char *p = v;
    for (;;) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ')
            e++;
        size_t len = (size_t)(e - p);
        if (len == 7 && strncmp(p, "compact", 7) == 0)
            has_compact = 1;
        else if (len == 6 && strncmp(p, "delete", 6) == 0)
            has_delete = 1;
        else
            return -1;
        n++;
        while (*e == ' ')
            e++;
        if (*e == '\0')
            break;
        if (*e != ',')
            return -1;
        p = e + 1;
    }
    if (compact)
        *compact = has_compact;
    if (del)
        *del = has_delete;
    return n > 0 ? 0 : -1;
}

int kb_topic_config_check(const char *key, const char *value, char *err, size_t errlen) {
    const cdef *d = key ? find_def(key) : NULL;
    if (!d) {
        snprintf(err, errlen, "Unknown topic config name: %s", key ? key : "(null)");
        return KF_ERR_INVALID_CONFIG;
    }
    if (!value) {
        snprintf(err, errlen, "Invalid value null for configuration %s", key);
        return KF_ERR_INVALID_CONFIG;
    }
    int64_t n;
    int b;
    switch (d->type) {
    case CT_LONG:
    case CT_INT:
        if (kf_parse_i64(value, d->min, d->max, &n) != 0) {
            if (d->max == LMAX || d->max == IMAX)
                snprintf(err, errlen,
                         "Invalid value %s for configuration %s: must be an integer >= %" PRId64
                         "%s",
                         value, key, d->min, d->max == IMAX ? " and <= 2147483647" : "");
            else
                snprintf(err, errlen, "Invalid value %s for configuration %s", value, key);
            return KF_ERR_INVALID_CONFIG;
        }
        return 0;
    case CT_BOOL:
        if (kf_parse_bool(value, &b) != 0) {
            snprintf(err, errlen, "Invalid value %s for configuration %s: expected true or false",
                     value, key);
            return KF_ERR_INVALID_CONFIG;
        }
        return 0;
    case CT_ENUM:
        for (const char *const *e = d->enums; *e; e++)
            if (strcmp(*e, value) == 0)
                return 0;
        {
            size_t o = 0;
            char list[160] = "";
            for (const char *const *e = d->enums; *e && o < sizeof(list); e++) {
                int w = snprintf(list + o, sizeof(list) - o, "%s%s", o ? ", " : "", *e);
                if (w < 0)
                    break;
                o += (size_t)w;
            }
            snprintf(err, errlen,
                     "Invalid value %s for configuration %s: String must be one of: %s", value, key,
                     list);
        }
        return KF_ERR_INVALID_CONFIG;
    case CT_POLICY:
        if (kb_cleanup_policy_parse(value, NULL, NULL) != 0) {
            snprintf(err, errlen,
                     "Invalid value %s for configuration %s: must be a list of delete, compact",
                     value, key);
            return KF_ERR_INVALID_CONFIG;
        }
        return 0;
    case CT_RATIO: {
        char *end = NULL;
        double x = *value ? strtod(value, &end) : -1;
        if (!end || *end != '\0' || !(x >= 0.0 && x <= 1.0)) {
            snprintf(err, errlen,
                     "Invalid value %s for configuration %s: must be a number between 0 and 1",
                     value, key);
            return KF_ERR_INVALID_CONFIG;
        }
        return 0;
    }
    case CT_STRING:
        if (!*value ||
            strspn(value, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-") !=
                strlen(value)) {
            snprintf(err, errlen, "Invalid value %s for configuration %s", value, key);
            return KF_ERR_INVALID_CONFIG;
        }
        return 0;
    case CT_LIST:
        /* "", "*" or "partition:broker,..." */
        if (strspn(value, "0123456789:,* ") != strlen(value)) {
            snprintf(err, errlen, "Invalid value %s for configuration %s", value, key);
            return KF_ERR_INVALID_CONFIG;
        }
        return 0;
    }
    return KF_ERR_INVALID_CONFIG;
}

int kb_cfg_check_all(const kf_props *configs, char *err, size_t errlen) {
    if (!configs)
        return 0;
    for (size_t i = 0; i < configs->count; i++) {
        int rc = kb_topic_config_check(configs->items[i].key, configs->items[i].value, err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}

/* Last value of key in props without touching its `used` flag. */
static const char *props_value(const kf_props *p, const char *key) {
    const char *v = NULL;
    for (size_t i = 0; i < p->count; i++)
        if (strcmp(p->items[i].key, key) == 0)
            v = p->items[i].value;
    return v;
}

void kb_cfg_effective(const kb_log_cfg *defaults, kf_props *overrides, kb_log_cfg *out) {
    *out = *defaults;
    for (size_t i = 0; i < NDEFS; i++) {
        const cdef *d = &defs[i];
        if (d->field == F_NONE)
            continue;
        const char *v = props_value(overrides, d->d.name);
        if (!v)
            continue;
        int64_t n = 0;
        if (d->type == CT_LONG || d->type == CT_INT)
            if (kf_parse_i64(v, d->min, d->max, &n) != 0)
                continue;
        switch (d->field) {
        case F_SEG_BYTES: out->segment_bytes = n; break;
        case F_SEG_MS: out->segment_ms = n; break;
        case F_RET_BYTES: out->retention_bytes = n; break;
        case F_RET_MS: out->retention_ms = n; break;
        case F_FLUSH_MSGS: out->flush_messages = n; break;
        case F_FLUSH_MS: out->flush_ms = n; break;
        case F_IDX_INTERVAL: out->index_interval_bytes = n; break;
        case F_IDX_BYTES: out->segment_index_bytes = n; break;
        case F_MAX_MSG: out->max_message_bytes = (int32_t)n; break;
        case F_TS_TYPE: out->log_append_time = strcmp(v, "LogAppendTime") == 0; break;
        case F_POLICY: {
            int c = 0, del = 0;
            if (kb_cleanup_policy_parse(v, &c, &del) == 0) {
                out->compact = c;
                out->no_delete = !del;
            }
            break;
        }
        case F_DEL_RET: out->delete_retention_ms = n; break;
        case F_MIN_LAG: out->min_compact_lag_ms = n; break;
        case F_MAX_LAG: out->max_compact_lag_ms = n; break;
        case F_RATIO: out->min_cleanable_ratio = strtod(v, NULL); break;
        case F_NONE: break;
        }
    }
}

const char *kb_topic_config_value(kb_store *s, const kb_topic *t, const char *key, char *buf,
                                  size_t buflen, int *is_override) {
    const cdef *d = key ? find_def(key) : NULL;
    if (is_override)
        *is_override = 0;
    if (!d || !buf || buflen == 0)
        return NULL;
    const char *v = t ? props_value(&t->overrides, key) : NULL;
    if (v) {
        if (is_override)
            *is_override = 1;
        kf_strlcpy(buf, v, buflen);
        return buf;
    }
    const kb_log_cfg *c = &s->defaults;
    int64_t n = 0;
    switch (d->field) {
    case F_NONE: kf_strlcpy(buf, d->kdefault, buflen); return buf;
    case F_TS_TYPE:
        kf_strlcpy(buf, c->log_append_time ? "LogAppendTime" : "CreateTime", buflen);
        return buf;
    case F_POLICY:
        kf_strlcpy(buf, c->compact ? (c->no_delete ? "compact" : "compact,delete") : "delete",
                   buflen);
        return buf;
    case F_RATIO: snprintf(buf, buflen, "%g", c->min_cleanable_ratio); return buf;
    case F_DEL_RET: n = c->delete_retention_ms; break;
    case F_MIN_LAG: n = c->min_compact_lag_ms; break;
    case F_MAX_LAG: n = c->max_compact_lag_ms; break;
    case F_SEG_BYTES: n = c->segment_bytes; break;
    case F_SEG_MS: n = c->segment_ms; break;
    case F_RET_BYTES: n = c->retention_bytes; break;
    case F_RET_MS: n = c->retention_ms; break;
    case F_FLUSH_MSGS: n = c->flush_messages; break;
    case F_FLUSH_MS: n = c->flush_ms; break;
    case F_IDX_INTERVAL: n = c->index_interval_bytes; break;
    case F_IDX_BYTES: n = c->segment_index_bytes; break;
    case F_MAX_MSG: n = c->max_message_bytes; break;
    }
    snprintf(buf, buflen, "%" PRId64, n);
    return buf;
}

int kb_topic_config_kind(const char *key) {
    const cdef *d = key ? find_def(key) : NULL;
    if (!d)
        return -1;
    return d->type == CT_POLICY || d->type == CT_LIST;
}
