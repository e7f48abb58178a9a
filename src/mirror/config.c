/*
 * config.c - parses and validates the mirror's properties file (see
 * config.h and docs/MIRROR.md).
 *
 * One table drives parsing, defaults, bounds and the generated reference.
 * Every problem is collected and reported together; nothing is silently
 * ignored: MirrorMaker 2 keys kferry does not need are accepted with a
 * warning, anything else unknown is an error.
 */
#include "mirror/config.h"

#include "common/log.h"
#include "common/util.h"

#include <ctype.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T_INT, T_BOOL, T_STR, T_ENUM, T_REGEXES };

typedef struct key_def {
    const char *name;
    int type;
    const char *def;
    int64_t min, max;
    const char *choices; /* T_ENUM: '|'-separated */
    int flow_override;   /* may also be given as "A->B.<name>" */
    const char *doc;
} key_def;

#define MM2_TOPICS_EXCLUDE ".*[\\-\\.]internal, .*\\.replica, __.*"

static const key_def g_keys[] = {
    {"clusters", T_STR, NULL, 0, 0, NULL, 0,
     "Comma-separated cluster aliases. Each alias needs `<alias>.bootstrap.servers`."},
    {"topics", T_REGEXES, ".*", 0, 0, NULL, 1,
     "Comma-separated regexes (POSIX extended, whole-name match) of source topics to mirror."},
    {"topics.exclude", T_REGEXES, MM2_TOPICS_EXCLUDE, 0, 0, NULL, 1,
     "Regexes of topics never mirrored; replaces the default. `__consumer_offsets`, "
     "`__transaction_state` and `__kferry.*` are always excluded."},
    {"groups", T_REGEXES, ".*", 0, 0, NULL, 1,
     "Consumer groups whose offsets are translated and synced to the target (group offset "
     "sync, `kferry groups`)."},
    {"groups.exclude", T_REGEXES, "console-consumer-.*, connect-.*, __.*", 0, 0, NULL, 1,
     "Groups excluded from `groups`."},
    /* group offset sync (groupsync.c reads these two; validated here) */
    {"sync.group.offsets.enabled", T_BOOL, "true", 0, 0, NULL, 1,
     "Translate the selected groups' committed offsets and commit them on the target while "
     "mirroring (only for groups with no active member there; never backwards)."},
    {"sync.group.offsets.interval.seconds", T_INT, "5", 1, 86400, NULL, 1,
     "How often group offsets are synced (MirrorMaker 2 uses 60)."},
    {"replication.policy.class", T_STR, "org.apache.kafka.connect.mirror.DefaultReplicationPolicy",
     0, 0, NULL, 1,
     "`DefaultReplicationPolicy` names the target topic `<source alias><separator><topic>`; "
     "`IdentityReplicationPolicy` keeps the name. The package prefix is optional."},
    {"replication.policy.separator", T_STR, ".", 0, 0, NULL, 1,
     "Separator used by DefaultReplicationPolicy."},
    {"sync.topic.configs.enabled", T_BOOL, "true", 0, 0, NULL, 1,
     "Copy the source topic's explicitly set configs when creating the target topic."},
    {"sync.topic.configs.interval.seconds", T_INT, "60", 0, 86400, NULL, 1,
     "How often configs of mirrored topics are compared and the target brought in line "
     "(AlterConfigs, copyable keys only); 0 = only at creation. MirrorMaker 2 uses 600."},
    {"refresh.topics.interval.seconds", T_INT, "5", 1, 86400, NULL, 1,
     "How often new topics and partitions are looked for (MirrorMaker 2 uses 600)."},
    {"replication.factor", T_INT, "2", -1, 32767, NULL, 1,
     "Replication factor of created target topics; capped at the target's broker count "
     "(with a warning). -1 = the target broker's default."},
    {"kferry.gap.policy", T_ENUM, "stop", 0, 0, "stop|continue", 0,
     "What to do when source retention removed records before they were mirrored: `stop` "
     "exits with status 3; `continue` records the gap in the offset map and goes on."},
    {"kferry.metrics.port", T_INT, "0", 0, 65535, NULL, 0,
     "Port of the Prometheus `/metrics` endpoint; 0 disables it."},
    {"kferry.metrics.bind", T_STR, "127.0.0.1", 0, 0, NULL, 0,
     "Address the metrics endpoint listens on (`0.0.0.0` for all)."},
    {"kferry.status.interval.seconds", T_INT, "10", 0, 86400, NULL, 0,
     "Interval of the progress line on stderr; 0 disables it."},
    {"kferry.map.persist.interval.ms", T_INT, "1000", 50, 600000, NULL, 0,
     "How often new offset-map runs are written to the target. Only bounds the work of "
     "reconciliation after a crash, never correctness."},
    {"kferry.shutdown.timeout.seconds", T_INT, "30", 1, 3600, NULL, 0,
     "On SIGTERM/SIGINT, how long to wait for in-flight records before persisting the map."},
    {"kferry.linger.ms", T_INT, "10", 0, 5000, NULL, 0,
     "Producer linger: how long the target producer waits to fill a batch."},
    {"kferry.compression.type", T_ENUM, "lz4", 0, 0, NULL, 0,
     "Compression of batches written to the target: none, gzip, snappy, lz4 or zstd. Records are "
     "re-batched, so the source's compression is not kept byte for byte."},
    {"kferry.map.topic", T_STR, "", 0, 0, NULL, 0,
     "Compacted topic on the target holding the offset map; default "
     "`__kferry.offset-map.<source alias>`."},
    {"kferry.opposite.map.topic", T_STR, "", 0, 0, NULL, 0,
     "The opposite flow's offset map, read on the source cluster for loop prevention (records "
     "kferry copied from the target are never mirrored back); default "
     "`__kferry.offset-map.<target alias>`."},
    {"kferry.opposite.stopped", T_BOOL, "false", 0, 0, NULL, 0,
     "Set when the opposite flow was killed and cannot be stopped cleanly: kferry then starts if "
     "the opposite flow's map covers every record of its source partitions (nothing it copied can "
     "be unmapped)."},
    {"kferry.debug", T_STR, "", 0, 0, NULL, 0,
     "librdkafka debug contexts (e.g. `broker,fetch,msg`) and kferry components "
     "(`mirror,map`), comma-separated. librdkafka debug output may include broker "
     "addresses but never passwords."},
};
#define NKEYS (sizeof(g_keys) / sizeof(g_keys[0]))

static const char *g_compressions = "none|gzip|snappy|lz4|zstd";

/* MirrorMaker 2 / Connect keys with no meaning for kferry: accepted so an
 * MM2 file works unchanged, but each is named in a warning. */
static const char *g_mm2_ignored[] = {
    "tasks.max",
    "emit.heartbeats.enabled",
    "emit.heartbeats.interval.seconds",
    "emit.checkpoints.enabled",
    "emit.checkpoints.interval.seconds",
    "refresh.groups.interval.seconds",
    "sync.topic.acls.enabled",
    "sync.topic.acls.interval.seconds",
    "checkpoints.topic.replication.factor",
    "heartbeats.topic.replication.factor",
    "offset-syncs.topic.replication.factor",
    "offset.storage.replication.factor",
    "status.storage.replication.factor",
    "config.storage.replication.factor",
    "offset.lag.max",
    "key.converter",
    "value.converter",
    "header.converter",
    "dedicated.mode.enable.internal.rest",
    "config.property.filter.class",
    "topic.filter.class",
    "group.filter.class",
    "replication.policy.internal.topic.separator.enabled",
};

/* Properties kferry sets itself; a conflicting user value is an error. */
typedef struct forced {
    const char *key;
    const char *ok_values; /* '|'-separated accepted values */
    int roles;
    const char *why;
} forced;
static const forced g_forced[] = {
    {"enable.idempotence", "true", MC_CLIENT_PRODUCER, "the offset map relies on it"},
    {"acks", "all|-1", MC_CLIENT_PRODUCER, "records must be on all in-sync replicas"},
    {"request.required.acks", "all|-1", MC_CLIENT_PRODUCER, "records must be fully acknowledged"},
    {"enable.gapless.guarantee", "true", MC_CLIENT_PRODUCER, "the offset map relies on it"},
    {"transactional.id", "", MC_CLIENT_PRODUCER, "kferry mirror does not use transactions yet"},
    {"enable.auto.commit", "false", MC_CLIENT_CONSUMER, "kferry never writes to the source"},
};

/* --- error collection ------------------------------------------------------ */

typedef struct errs {
    const char *file;
    int n;
} errs;

__attribute__((format(printf, 3, 4))) static void cerr(errs *e, int line, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (line > 0)
        fprintf(stderr, "%s:%d: %s\n", e->file, line, msg);
    else
        fprintf(stderr, "%s: %s\n", e->file, msg);
    e->n++;
}

/* --- small string helpers --------------------------------------------------- */

static char *trim(char *s) {
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    return s;
}

static int in_choices(const char *choices, const char *v) {
    size_t vl = strlen(v);
    const char *p = choices;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == vl && strncasecmp(p, v, len) == 0)
            return 1;
        if (!bar)
            break;
        p = bar + 1;
    }
    return vl == 0 && *choices == 0;
}

int mc_is_secret_key(const char *key) {
    static const char *needles[] = {"password",    "secret", "jaas",      "oauthbearer.config",
                                    "ssl.key.pem", "token",  "credential"};
    for (size_t i = 0; i < sizeof(needles) / sizeof(needles[0]); i++)
        if (strcasestr(key, needles[i]))
            return 1;
    return 0;
}

/* --- regex lists ------------------------------------------------------------- */

static void regexes_free(mc_regexes *r) {
    for (size_t i = 0; i < r->n; i++) {
        regfree(&r->re[i]);
        free(r->src[i]);
    }
    free(r->re);
    free(r->src);
    memset(r, 0, sizeof(*r));
}

/* Compiles "a, b, c" anchored as ^(?:x)$ so a pattern matches whole names. */
static int regexes_compile(mc_regexes *r, const char *list, errs *e, int line, const char *key) {
    char *copy = kf_strdup(list);
    if (!copy)
        return -1;
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *pat = trim(tok);
        if (!*pat)
            continue;
        char anchored[1024];
        if (snprintf(anchored, sizeof(anchored), "^(%s)$", pat) >= (int)sizeof(anchored)) {
            cerr(e, line, "%s: pattern too long", key);
            rc = -1;
            continue;
        }
        regex_t *nre = realloc(r->re, (r->n + 1) * sizeof(*nre));
        char **nsrc = nre ? realloc(r->src, (r->n + 1) * sizeof(*nsrc)) : NULL;
        if (nre)
            r->re = nre;
        if (!nre || !nsrc) {
            rc = -1;
            break;
        }
        r->src = nsrc;
        int erc = regcomp(&r->re[r->n], anchored, REG_EXTENDED | REG_NOSUB);
        if (erc != 0) {
            char eb[256];
            regerror(erc, &r->re[r->n], eb, sizeof(eb));
            cerr(e, line, "%s: invalid regex '%s': %s", key, pat, eb);
            rc = -1;
            continue;
        }
        r->src[r->n++] = kf_strdup(pat);
    }
    free(copy);
    return rc;
}

static int regexes_match(const mc_regexes *r, const char *s) {
    for (size_t i = 0; i < r->n; i++)
        if (regexec(&r->re[i], s, 0, NULL, 0) == 0)
            return 1;
    return 0;
}

/* --- clusters and client properties ----------------------------------------- */

static int cluster_add(mc_cluster *c, const char *key, const char *value, int roles) {
    for (size_t i = 0; i < c->nprops; i++) {
        if (strcmp(c->props[i].key, key) == 0 && c->props[i].roles == roles) {
            char *v = kf_strdup(value);
            if (!v)
                return -1;
            free(c->props[i].value);
            c->props[i].value = v;
            return 0;
        }
    }
    mc_kv *n = realloc(c->props, (c->nprops + 1) * sizeof(*n));
    if (!n)
        return -1;
    c->props = n;
    n[c->nprops].key = kf_strdup(key);
    n[c->nprops].value = kf_strdup(value);
    n[c->nprops].roles = roles;
    if (!n[c->nprops].key || !n[c->nprops].value)
        return -1;
    c->nprops++;
    return 0;
}

static void cluster_free(mc_cluster *c) {
    for (size_t i = 0; i < c->nprops; i++) {
        free(c->props[i].key);
        free(c->props[i].value);
    }
    free(c->props);
    free(c->alias);
    memset(c, 0, sizeof(*c));
}

/* Extracts name="value" from a JAAS line; 0 if found. */
static int jaas_get(const char *jaas, const char *name, char *out, size_t outlen) {
    const char *p = jaas;
    size_t nl = strlen(name);
    while ((p = strstr(p, name)) != NULL) {
        const char *q = p + nl;
        int boundary = p == jaas || isspace((unsigned char)p[-1]);
        while (isspace((unsigned char)*q))
            q++;
        if (boundary && *q == '=') {
            q++;
            while (isspace((unsigned char)*q))
                q++;
            if (*q == '"') {
                const char *end = strchr(q + 1, '"');
                if (!end)
                    return -1;
                size_t len = (size_t)(end - q - 1);
                if (len >= outlen)
                    return -1;
                memcpy(out, q + 1, len);
                out[len] = 0;
                return 0;
            }
        }
        p += nl;
    }
    return -1;
}

/* Java clients take credentials as sasl.jaas.config; librdkafka wants
 * sasl.username/sasl.password.  Translate the PLAIN and SCRAM modules. */
static void add_jaas(mc_cluster *c, const char *value, int roles, errs *e, int line) {
    char user[512], pass[512];
    if (!strstr(value, "PlainLoginModule") && !strstr(value, "ScramLoginModule")) {
        cerr(e, line,
             "%s.sasl.jaas.config: only PlainLoginModule and ScramLoginModule can be "
             "translated; use sasl.username/sasl.password or librdkafka's "
             "sasl.oauthbearer.* settings",
             c->alias);
        return;
    }
    if (jaas_get(value, "username", user, sizeof(user)) != 0 ||
        jaas_get(value, "password", pass, sizeof(pass)) != 0) {
        cerr(e, line, "%s.sasl.jaas.config: username=\"...\" and password=\"...\" not found",
             c->alias);
        return;
    }
    if (cluster_add(c, "sasl.username", user, roles) ||
        cluster_add(c, "sasl.password", pass, roles))
        cerr(e, line, "out of memory");
}

static void add_client_prop(mc_cluster *c, const char *key, const char *value, int line, errs *e) {
    int roles = MC_CLIENT_ANY;
    if (strncmp(key, "consumer.", 9) == 0) {
        roles = MC_CLIENT_CONSUMER;
        key += 9;
    } else if (strncmp(key, "producer.", 9) == 0) {
        roles = MC_CLIENT_PRODUCER;
        key += 9;
    } else if (strncmp(key, "admin.", 6) == 0) {
        key += 6;
    }
    if (strcmp(key, "sasl.jaas.config") == 0) {
        add_jaas(c, value, roles, e, line);
        return;
    }
    if (strcmp(key, "group.id") == 0) {
        kf_warn("config",
                "%s:%d: %s.group.id ignored: kferry reads the source by explicit "
                "partition assignment and never joins or commits to a group",
                e->file, line, c->alias);
        return;
    }
    for (size_t i = 0; i < sizeof(g_forced) / sizeof(g_forced[0]); i++) {
        if (strcmp(g_forced[i].key, key) == 0 && (g_forced[i].roles & roles) &&
            !in_choices(g_forced[i].ok_values, value)) {
            cerr(e, line, "%s.%s=%s is not allowed: %s", c->alias, key,
                 mc_is_secret_key(key) ? "***" : value, g_forced[i].why);
            return;
        }
    }
    if (strncmp(key, "ssl.truststore.", 15) == 0) {
        cerr(e, line,
             "%s.%s: Java truststores are not supported by librdkafka; use "
             "ssl.ca.location (PEM)",
             c->alias, key);
        return;
    }
    /* librdkafka is the authority on its own property names and values. */
    rd_kafka_conf_t *scratch = rd_kafka_conf_new();
    char eb[512];
    if (rd_kafka_conf_set(scratch, key, value, eb, sizeof(eb)) != RD_KAFKA_CONF_OK)
        cerr(e, line, "%s.%s: %s", c->alias, key, eb);
    else if (cluster_add(c, key, value, roles))
        cerr(e, line, "out of memory");
    rd_kafka_conf_destroy(scratch);
}

/* --- the loader ---------------------------------------------------------------- */

static int alias_listed(char **aliases, size_t n, const char *s, size_t len) {
    for (size_t i = 0; i < n; i++)
        if (strlen(aliases[i]) == len && strncmp(aliases[i], s, len) == 0)
            return (int)i;
    return -1;
}

static const key_def *find_key(const char *name) {
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(g_keys[i].name, name) == 0)
            return &g_keys[i];
    return NULL;
}

static int is_mm2_ignored(const char *name) {
    for (size_t i = 0; i < sizeof(g_mm2_ignored) / sizeof(g_mm2_ignored[0]); i++)
        if (strcmp(g_mm2_ignored[i], name) == 0)
            return 1;
    return 0;
}

/* Value for a table key: "A->B.<key>" beats "<key>" beats the default. */
static const char *key_value(mirror_config *c, const key_def *k, const char *flow, int *line) {
    kf_prop *p = NULL;
    if (k->flow_override) {
        char fk[512];
        snprintf(fk, sizeof(fk), "%s.%s", flow, k->name);
        p = kf_props_find(&c->props, fk);
        if (p) {
            kf_props_get(&c->props, fk);
            kf_prop *global = kf_props_find(&c->props, k->name);
            if (global) {
                global->used = 1;
                kf_info("config", "%s:%d: %s is overridden by %s for the enabled flow",
                        c->props.source ? c->props.source : "config", global->line, k->name, fk);
            }
        }
    }
    if (!p) {
        p = kf_props_find(&c->props, k->name);
        if (p)
            kf_props_get(&c->props, k->name);
    }
    *line = p ? p->line : 0;
    return p ? p->value : k->def;
}

static void apply_key(mirror_config *c, const key_def *k, const char *v, int line, errs *e) {
    int64_t n = 0;
    int b = 0;
    const char *name = k->name;
    if (k->type == T_INT) {
        if (kf_parse_i64(v, k->min, k->max, &n) != 0) {
            cerr(e, line, "%s=%s: expected an integer in [%lld, %lld]", name, v, (long long)k->min,
                 (long long)k->max);
            return;
        }
    } else if (k->type == T_BOOL) {
        if (kf_parse_bool(v, &b) != 0) {
            cerr(e, line, "%s=%s: expected true or false", name, v);
            return;
        }
    } else if (k->type == T_ENUM) {
        const char *choices = k->choices ? k->choices : g_compressions;
        if (!in_choices(choices, v)) {
            cerr(e, line, "%s=%s: expected one of %s", name, v, choices);
            return;
        }
    }
    if (!strcmp(name, "topics"))
        regexes_compile(&c->topics, v, e, line, name);
    else if (!strcmp(name, "topics.exclude"))
        regexes_compile(&c->topics_exclude, v, e, line, name);
    else if (!strcmp(name, "groups"))
        regexes_compile(&c->groups, v, e, line, name);
    else if (!strcmp(name, "groups.exclude"))
        regexes_compile(&c->groups_exclude, v, e, line, name);
    else if (!strcmp(name, "replication.policy.class")) {
        const char *dot = strrchr(v, '.');
        const char *cls = dot ? dot + 1 : v;
        if (!strcmp(cls, "DefaultReplicationPolicy"))
            c->policy = MC_POLICY_DEFAULT;
        else if (!strcmp(cls, "IdentityReplicationPolicy"))
            c->policy = MC_POLICY_IDENTITY;
        else
            cerr(e, line,
                 "%s=%s: kferry implements DefaultReplicationPolicy and "
                 "IdentityReplicationPolicy",
                 name, v);
    } else if (!strcmp(name, "replication.policy.separator")) {
        if (!*v || kf_strlcpy(c->separator, v, sizeof(c->separator)) != 0)
            cerr(e, line, "%s: must be 1..15 characters", name);
    } else if (!strcmp(name, "sync.topic.configs.enabled"))
        c->sync_topic_configs = b;
    else if (!strcmp(name, "sync.topic.configs.interval.seconds"))
        c->sync_configs_s = (int)n;
    else if (!strcmp(name, "refresh.topics.interval.seconds"))
        c->refresh_s = (int)n;
    else if (!strcmp(name, "replication.factor")) {
        if (n == 0)
            cerr(e, line, "%s: must be -1 or at least 1", name);
        c->replication_factor = (int)n;
    } else if (!strcmp(name, "kferry.gap.policy"))
        c->gap_policy = strcasecmp(v, "continue") == 0 ? MC_GAP_CONTINUE : MC_GAP_STOP;
    else if (!strcmp(name, "kferry.metrics.port"))
        c->metrics_port = (int)n;
    else if (!strcmp(name, "kferry.metrics.bind"))
        kf_strlcpy(c->metrics_bind, v, sizeof(c->metrics_bind));
    else if (!strcmp(name, "kferry.status.interval.seconds"))
        c->status_interval_s = (int)n;
    else if (!strcmp(name, "kferry.map.persist.interval.ms"))
        c->map_persist_ms = (int)n;
    else if (!strcmp(name, "kferry.shutdown.timeout.seconds"))
        c->shutdown_timeout_s = (int)n;
    else if (!strcmp(name, "kferry.linger.ms"))
        c->linger_ms = (int)n;
    else if (!strcmp(name, "kferry.compression.type")) {
        kf_strlcpy(c->compression, v, sizeof(c->compression));
        for (char *p = c->compression; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    } else if (!strcmp(name, "kferry.map.topic"))
        kf_strlcpy(c->map_topic, v, sizeof(c->map_topic));
    else if (!strcmp(name, "kferry.opposite.stopped"))
        c->opposite_stopped = b;
    else if (!strcmp(name, "kferry.opposite.map.topic"))
        kf_strlcpy(c->opposite_map_topic, v, sizeof(c->opposite_map_topic));
    else if (!strcmp(name, "kferry.debug"))
        kf_strlcpy(c->debug, v, sizeof(c->debug));
}

static void split_aliases(const char *v, char ***out, size_t *n) {
    char *copy = kf_strdup(v ? v : "");
    char *save = NULL;
    *out = NULL;
    *n = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *a = trim(tok);
        if (!*a)
            continue;
        char **na = realloc(*out, (*n + 1) * sizeof(*na));
        if (!na)
            break;
        *out = na;
        na[(*n)++] = kf_strdup(a);
    }
    free(copy);
}

int mc_load(mirror_config *c, const char *path) {
    memset(c, 0, sizeof(*c));
    kf_props_init(&c->props);
    errs e = {path, 0};
    char eb[512];
    if (kf_props_load(&c->props, path, eb, sizeof(eb)) != 0) {
        fprintf(stderr, "%s\n", eb);
        return -1;
    }

    char **aliases = NULL;
    size_t naliases = 0;
    kf_prop *cl = kf_props_find(&c->props, "clusters");
    kf_props_get(&c->props, "clusters");
    split_aliases(cl ? cl->value : NULL, &aliases, &naliases);
    if (naliases < 2)
        cerr(&e, cl ? cl->line : 0,
             "clusters: at least two aliases are required (e.g. "
             "\"clusters = source, target\")");

    /* Flows: exactly one "A->B.enabled = true". */
    int nflows = 0;
    char flow[256] = "";
    for (size_t i = 0; i < c->props.count; i++) {
        kf_prop *p = &c->props.items[i];
        const char *arrow = strstr(p->key, "->");
        if (!arrow)
            continue;
        const char *dot = strchr(arrow + 2, '.');
        if (!dot)
            continue;
        p->used = 1;
        int a = alias_listed(aliases, naliases, p->key, (size_t)(arrow - p->key));
        int b = alias_listed(aliases, naliases, arrow + 2, (size_t)(dot - arrow - 2));
        if (a < 0 || b < 0 || a == b) {
            cerr(&e, p->line, "%s: flow must name two different aliases from 'clusters'", p->key);
            continue;
        }
        if (strcmp(dot + 1, "enabled") != 0)
            continue; /* flow-level overrides are read below */
        int on = 0;
        if (kf_parse_bool(p->value, &on) != 0) {
            cerr(&e, p->line, "%s=%s: expected true or false", p->key, p->value);
            continue;
        }
        /* a later duplicate of the same key overrides an earlier one */
        if (kf_props_find(&c->props, p->key) != p)
            continue;
        if (on) {
            nflows++;
            snprintf(flow, sizeof(flow), "%.*s", (int)(dot - p->key), p->key);
            free(c->src.alias);
            free(c->tgt.alias);
            c->src.alias = kf_strdup(aliases[a]);
            c->tgt.alias = kf_strdup(aliases[b]);
        }
    }
    if (nflows != 1 && naliases >= 2)
        cerr(&e, 0, "exactly one flow must be enabled (e.g. \"%s->%s.enabled = true\"); found %d",
             aliases[0], aliases[1], nflows);

    /* Flow overrides of keys that are not flow-overridable are errors. */
    for (size_t i = 0; i < c->props.count; i++) {
        kf_prop *p = &c->props.items[i];
        const char *arrow = strstr(p->key, "->");
        const char *dot = arrow ? strchr(arrow + 2, '.') : NULL;
        if (!dot || !strcmp(dot + 1, "enabled"))
            continue;
        const key_def *k = find_key(dot + 1);
        if (k && k->flow_override)
            continue;
        if (is_mm2_ignored(dot + 1))
            kf_warn("config", "%s:%d: %s ignored: not used by kferry mirror", path, p->line,
                    p->key);
        else if (nflows == 1 && strncmp(p->key, flow, strlen(flow)) == 0)
            cerr(&e, p->line, "%s: unknown flow-level key", p->key);
    }

    c->separator[0] = '.';
    for (size_t i = 0; i < NKEYS; i++) {
        int line = 0;
        const char *v = key_value(c, &g_keys[i], flow[0] ? flow : "-", &line);
        if (v)
            apply_key(c, &g_keys[i], v, line, &e);
    }
    if (!c->map_topic[0] && c->src.alias)
        snprintf(c->map_topic, sizeof(c->map_topic), "__kferry.offset-map.%s", c->src.alias);
    if (!c->opposite_map_topic[0] && c->tgt.alias)
        snprintf(c->opposite_map_topic, sizeof(c->opposite_map_topic), "__kferry.offset-map.%s",
                 c->tgt.alias);

    /* Cluster-prefixed client properties. */
    for (size_t i = 0; i < c->props.count; i++) {
        kf_prop *p = &c->props.items[i];
        if (p->used || strstr(p->key, "->"))
            continue;
        const char *dot = strchr(p->key, '.');
        int a = dot ? alias_listed(aliases, naliases, p->key, (size_t)(dot - p->key)) : -1;
        if (a < 0)
            continue;
        p->used = 1;
        if (kf_props_find(&c->props, p->key) != p)
            continue; /* overridden by a later line */
        mc_cluster *cl2 = NULL;
        if (c->src.alias && !strcmp(aliases[a], c->src.alias))
            cl2 = &c->src;
        else if (c->tgt.alias && !strcmp(aliases[a], c->tgt.alias))
            cl2 = &c->tgt;
        if (!cl2) {
            kf_info("config", "%s:%d: %s ignored: cluster '%s' is not part of the enabled flow",
                    path, p->line, p->key, aliases[a]);
            continue;
        }
        add_client_prop(cl2, dot + 1, p->value, p->line, &e);
    }
    mc_cluster *both[2] = {&c->src, &c->tgt};
    for (int k = 0; k < 2; k++) {
        int found = 0;
        for (size_t i = 0; i < both[k]->nprops; i++)
            found |= !strcmp(both[k]->props[i].key, "bootstrap.servers");
        if (both[k]->alias && !found)
            cerr(&e, 0, "%s.bootstrap.servers is required", both[k]->alias);
    }

    /* Whatever is left is unknown, unless MM2 defines it. */
    for (size_t i = 0; i < c->props.count; i++) {
        kf_prop *p = &c->props.items[i];
        if (p->used)
            continue;
        if (is_mm2_ignored(p->key))
            kf_warn("config", "%s:%d: %s ignored: not used by kferry mirror", path, p->line,
                    p->key);
        else
            cerr(&e, p->line, "unknown key '%s'", p->key);
    }

    for (size_t i = 0; i < naliases; i++)
        free(aliases[i]);
    free(aliases);
    if (e.n) {
        fprintf(stderr, "%s: %d configuration error%s\n", path, e.n, e.n == 1 ? "" : "s");
        return -1;
    }
    return 0;
}

void mc_free(mirror_config *c) {
    cluster_free(&c->src);
    cluster_free(&c->tgt);
    regexes_free(&c->topics);
    regexes_free(&c->topics_exclude);
    regexes_free(&c->groups);
    regexes_free(&c->groups_exclude);
    kf_props_free(&c->props);
}

void mc_log_effective(const mirror_config *c) {
    kf_info("config",
            "flow %s->%s, policy %s, target topics %s<topic>, refresh %ds, "
            "replication.factor %d, gap policy %s, map topic %s",
            c->src.alias, c->tgt.alias, c->policy == MC_POLICY_IDENTITY ? "identity" : "default",
            c->policy == MC_POLICY_IDENTITY ? "" : c->src.alias, c->refresh_s,
            c->replication_factor, c->gap_policy == MC_GAP_STOP ? "stop" : "continue",
            c->map_topic);
    const mc_cluster *both[2] = {&c->src, &c->tgt};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < both[k]->nprops; i++) {
            const mc_kv *kv = &both[k]->props[i];
            kf_info("config", "%s.%s%s = %s", both[k]->alias,
                    kv->roles == MC_CLIENT_CONSUMER   ? "consumer."
                    : kv->roles == MC_CLIENT_PRODUCER ? "producer."
                                                      : "",
                    kv->key, mc_is_secret_key(kv->key) ? "[redacted]" : kv->value);
        }
    for (size_t i = 0; i < c->topics.n; i++)
        kf_info("config", "topics include: %s", c->topics.src[i]);
    for (size_t i = 0; i < c->topics_exclude.n; i++)
        kf_info("config", "topics exclude: %s", c->topics_exclude.src[i]);
}

const char *mc_bootstrap(const mc_cluster *cl) {
    for (size_t i = 0; cl && i < cl->nprops; i++)
        if (!strcmp(cl->props[i].key, "bootstrap.servers"))
            return cl->props[i].value;
    return "?";
}

/* MirrorMaker 2's cycle rule for DefaultReplicationPolicy: every prefix
 * segment of a name is an upstream cluster alias ("cloud.orders" came from
 * cloud), so a topic whose chain names the target came from it. */
static int is_cycle(const mirror_config *c, const char *topic) {
    if (c->policy != MC_POLICY_DEFAULT || !c->tgt.alias)
        return 0;
    size_t al = strlen(c->tgt.alias), sl = strlen(c->separator);
    for (const char *s = topic;;) {
        const char *sep = strstr(s, c->separator);
        if (!sep)
            return 0;
        if ((size_t)(sep - s) == al && !strncmp(s, c->tgt.alias, al))
            return 1;
        s = sep + sl;
    }
}

int mc_topic_selected(const mirror_config *c, const char *topic, const char **reason) {
    if (!strcmp(topic, "__consumer_offsets") || !strcmp(topic, "__transaction_state") ||
        !strncmp(topic, "__kferry", 8)) {
        *reason = "internal topic (always excluded)";
        return 0;
    }
    if (!regexes_match(&c->topics, topic)) {
        *reason = "not matched by 'topics'";
        return 0;
    }
    if (regexes_match(&c->topics_exclude, topic)) {
        *reason = "matched by 'topics.exclude'";
        return 0;
    }
    if (is_cycle(c, topic)) {
        *reason = "a replica of a target topic (DefaultReplicationPolicy: mirroring it back "
                  "would be a cycle)";
        return 0;
    }
    *reason = NULL;
    return 1;
}

int mc_target_topic(const mirror_config *c, const char *src_topic, char *out, size_t outlen) {
    int n;
    if (c->policy == MC_POLICY_IDENTITY)
        n = snprintf(out, outlen, "%s", src_topic);
    else
        n = snprintf(out, outlen, "%s%s%s", c->src.alias, c->separator, src_topic);
    /* Kafka's topic name limit */
    return (n < 0 || (size_t)n >= outlen || n > 249) ? -1 : 0;
}

void mc_print_reference(void) {
    static const char *tn[] = {"int", "bool", "string", "enum", "regex list"};
    printf("| key | type | default | description |\n|---|---|---|---|\n");
    for (size_t i = 0; i < NKEYS; i++) {
        const key_def *k = &g_keys[i];
        char range[64] = "";
        if (k->type == T_INT)
            snprintf(range, sizeof(range), " [%lld..%lld]", (long long)k->min, (long long)k->max);
        printf("| `%s`%s | %s%s | `%s` | %s |\n", k->name,
               k->flow_override ? " (also `A->B.`)" : "", tn[k->type], range,
               k->def ? k->def : "(required)", k->doc);
    }
    printf("\nAccepted from MirrorMaker 2 files but unused (each logs a warning):");
    for (size_t i = 0; i < sizeof(g_mm2_ignored) / sizeof(g_mm2_ignored[0]); i++)
        printf("%s `%s`", i ? "," : "", g_mm2_ignored[i]);
    printf(".\n");
}
