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

#include "mirror/config_int.h"

#include "common/log.h"
#include "common/util.h"

#include <ctype.h>
#include <stddef.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
    {"sync.topic.acls.enabled", T_BOOL, "false", 0, 0, NULL, 1,
     "While mirroring, run `kferry acls apply` every sync.topic.acls.interval.seconds: the "
     "target gets the source's ACLs for the mirrored topics and the groups (docs/SECURITY.md, "
     "ACL sync). Off by default: ACLs are security policy, review `kferry acls plan` first."},
    {"sync.topic.acls.interval.seconds", T_INT, "600", 1, 86400, NULL, 1,
     "How often the ACL sync runs inside `kferry mirror`."},
    {"kferry.acl.principal.map", T_STR, "", 0, 0, NULL, 0,
     "Principals renamed by ACL sync, `SOURCE=TARGET;...` (e.g. "
     "`User:alice=User:CN=alice,O=corp; User:bob=User:bob-msk`; `,` separates entries when "
     "none holds a comma); one-to-one; unlisted principals keep their name."},
    {"kferry.msk.cluster.arn", T_STR, "", 0, 0, NULL, 0,
     "The target MSK cluster's ARN (`arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid>`), "
     "for the IAM policies `kferry acls plan` prints for an IAM target; unset: placeholders. "
     "`--msk-cluster-arn` wins."},
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
    {"kferry.lock.group", T_STR, "", 0, 0, NULL, 0,
     "Consumer group on the target that elects the one process allowed to write this flow (the "
     "member assigned partition 0 of `kferry.lock.topic`); default "
     "`__kferry.flow.<source alias>-><target alias>`. Never commits offsets."},
    {"kferry.lock.topic", T_STR, "__kferry.flow-lock", 0, 0, NULL, 0,
     "One-partition topic on the target the lock group subscribes to (created if absent; never "
     "written to or read)."},
    {"kferry.lock.session.timeout.ms", T_INT, "10000", 1000, 300000, NULL, 0,
     "Session timeout of the lock group: after a holder dies (`kill -9`) a standby takes over "
     "about this long later, plus the same again as a safety delay when the holder did not "
     "stop cleanly. Must lie within the target's `group.min/max.session.timeout.ms`."},
    {"kferry.transactions.enabled", T_BOOL, "false", 0, 0, NULL, 0,
     "Write the target in Kafka transactions (a `transactional.id` per flow, the offset map in the "
     "same transactions as the records): a new holder's InitProducerId fences the previous one, "
     "so a holder that was frozen (SIGSTOP, a VM pause) and resumes writes nothing. Consumers of "
     "the target must then read with `isolation.level=read_committed` (librdkafka's default, not "
     "the Java client's), or they also see records of aborted transactions."},
    {"kferry.workers", T_INT, "1", 1, 256, NULL, 0,
     "Units of work the flow is split into. Every source partition belongs to one unit (by its "
     "topic name and number); each unit runs in its own thread with its own clients, its own part "
     "of the offset map and, in transactions mode, its own `transactional.id` "
     "(`<lock group>.txn.<unit>`). Every `kferry mirror` started with the same config joins the "
     "lock group and runs the units it is assigned, so processes share the flow (docs/MIRROR.md, "
     "\"Scale-out\"). All processes of a flow must use the same value; the lock topic is created "
     "with one partition per unit and a different value is refused; the default lock topic is then "
     "`__kferry.flow-lock.<source alias>.<target alias>`, the flow's own. Above 1, "
     "`kferry.transactions.enabled=true` is required (a zombie process must be fenced)."},
    {"kferry.transaction.interval.ms", T_INT, "5000", 100, 300000, NULL, 0,
     "With `kferry.transactions.enabled`: how long one transaction collects records before it is "
     "committed. Records become visible to read_committed consumers at the commit; every commit "
     "also starts a new run in the offset map (a commit marker takes one target offset). The "
     "transaction timeout, and the producer's message timeout, is 4 times this, at least 60 s: a "
     "record not acknowledged by then fails the transaction, and the flow restarts from the "
     "committed map."},
    {"kferry.startup.timeout.seconds", T_INT, "600", 10, 86400, NULL, 0,
     "How long `kferry mirror` keeps retrying its start-up (target metadata, the offset map, the "
     "opposite flow's map on the source) while a cluster is unreachable, restarting or electing "
     "leaders; every attempt is logged as a warning. After this deadline it exits 1 naming the "
     "cluster, its address and the cause."},
    {"kferry.debug", T_STR, "", 0, 0, NULL, 0,
     "librdkafka debug contexts (e.g. `broker,fetch,msg`) and kferry components "
     "(`mirror,map`), comma-separated. librdkafka debug output may include broker "
     "addresses but never passwords."},
};
#define NKEYS (sizeof(g_keys) / sizeof(g_keys[0]))

static const char *g_compressions = "none|gzip|snappy|lz4|zstd";

/* MirrorMaker 2 / Connect keys kferry does not read: accepted so an MM2
 * file works unchanged, each named in a one-line warning that says what
 * kferry does instead.  match: 0 the whole key, 1 a prefix, 2 a suffix. */
typedef struct mm2_key {
    const char *name;
    int match;
    const char *instead;
} mm2_key;
#define MM2_NO_HEARTBEATS                                                                          \
    "kferry writes no heartbeats topic; `kferry status` shows lag and liveness"
#define MM2_NO_CHECKPOINTS                                                                         \
    "kferry writes no checkpoints topic; group offsets are translated exactly and committed "      \
    "on the target (sync.group.offsets.*)"
#define MM2_MAP "kferry's exact offset map replaces offset syncs and always lives on the target"
#define MM2_CONNECT "kferry is no Connect worker and keeps no Connect topics"
static const mm2_key g_mm2_keys[] = {
    {"tasks.max", 0, "one kferry process with one replication thread does the work"},
    {"emit.heartbeats.enabled", 0, MM2_NO_HEARTBEATS},
    {"emit.heartbeats.interval.seconds", 0, MM2_NO_HEARTBEATS},
    {"emit.checkpoints.enabled", 0, MM2_NO_CHECKPOINTS},
    {"emit.checkpoints.interval.seconds", 0, MM2_NO_CHECKPOINTS},
    {"emit.offset-syncs.enabled", 0, MM2_MAP},
    {"offset-syncs.topic.location", 0, MM2_MAP " (kferry.map.topic)"},
    {"offset.lag.max", 0, MM2_MAP ": there is no lag threshold"},
    {"exactly.once.support", 0,
     "no record is written twice thanks to the exact offset map and restart reconciliation "
     "(docs/MIRROR.md); kferry.transactions.enabled=true also fences a frozen holder"},
    {"refresh.topics.enabled", 0,
     "kferry always follows new topics and partitions, every refresh.topics.interval.seconds"},
    {"refresh.groups.enabled", 0,
     "kferry lists the groups again at every group offset sync "
     "(sync.group.offsets.interval.seconds)"},
    {"refresh.groups.interval.seconds", 0,
     "kferry lists the groups again at every group offset sync "
     "(sync.group.offsets.interval.seconds)"},
    {".replication.factor", 2,
     "kferry has no MM2 internal topics; its offset map and journal use replication.factor"},
    {"offset.storage.", 1, MM2_CONNECT},
    {"config.storage.", 1, MM2_CONNECT},
    {"status.storage.", 1, MM2_CONNECT},
    {"offset.flush.", 1, "the offset map is persisted every kferry.map.persist.interval.ms"},
    {"key.converter", 1, "records are copied as bytes, unconverted"},
    {"value.converter", 1, "records are copied as bytes, unconverted"},
    {"header.converter", 1, "records are copied as bytes, unconverted"},
    {"dedicated.mode.", 1, "kferry runs no REST server"},
    {"config.property.filter.class", 0,
     "the topic configs kferry does not copy are fixed (docs/MIRROR.md)"},
    {"config.properties.exclude", 0,
     "the topic configs kferry does not copy are fixed (docs/MIRROR.md)"},
    {"config.properties.blacklist", 0,
     "the topic configs kferry does not copy are fixed (docs/MIRROR.md)"},
    {"topic.filter.class", 0, "topics are selected by topics / topics.exclude"},
    {"group.filter.class", 0, "groups are selected by groups / groups.exclude"},
    {"replication.policy.internal.topic.separator.enabled", 0, "kferry has no MM2 internal topics"},
    {"use.incremental.alter.configs", 0,
     "librdkafka 2.0.2 has only AlterConfigs; kferry sends the full copyable set"},
};
#define NMM2 (sizeof(g_mm2_keys) / sizeof(g_mm2_keys[0]))

/* Old MirrorMaker 2 names, honoured as the new ones. */
static const char *g_renamed[][2] = {{"topics.blacklist", "topics.exclude"},
                                     {"topics.whitelist", "topics"},
                                     {"groups.blacklist", "groups.exclude"},
                                     {"groups.whitelist", "groups"}};
#define NRENAMED (sizeof(g_renamed) / sizeof(g_renamed[0]))

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
    {"transactional.id", "", MC_CLIENT_PRODUCER,
     "kferry derives it from the lock group when kferry.transactions.enabled=true"},
    {"enable.auto.commit", "false", MC_CLIENT_CONSUMER, "kferry never writes to the source"},
};

/* --- error collection ------------------------------------------------------ */

typedef struct errs {
    const char *file;
    int n;
    const mirror_config *c; /* for redacting resolved secrets */
} errs;

__attribute__((format(printf, 3, 4))) static void cerr(errs *e, int line, const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char shown[2400];
    mc_redact(e->c, msg, shown, sizeof(shown));
    if (line > 0)
        fprintf(stderr, "%s:%d: %s\n", e->file, line, shown);
    else
        fprintf(stderr, "%s: %s\n", e->file, shown);
    e->n++;
}

/* mc_err_fn for config_providers.c and config_ssl.c */
static void cerr_cb(void *ctx, int line, const char *msg) { cerr(ctx, line, "%s", msg); }

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
    static const char *needles[] = {"password",    "secret", "jaas",       "oauthbearer.config",
                                    "ssl.key.pem", "token",  "credential", "ssl.keystore.key"};
    for (size_t i = 0; i < sizeof(needles) / sizeof(needles[0]); i++)
        if (strcasestr(key, needles[i]))
            return 1;
    return 0;
}

void mc_redact(const mirror_config *c, const char *text, char *out, size_t outlen) {
    if (!outlen)
        return;
    size_t o = 0;
    for (const char *s = text; *s && o + 1 < outlen;) {
        size_t hit = 0;
        for (size_t i = 0; c && i < c->nsecrets; i++) {
            size_t l = strlen(c->secrets[i]);
            if (l >= 3 && l > hit && !strncmp(s, c->secrets[i], l))
                hit = l;
        }
        if (hit) {
            int n = snprintf(out + o, outlen - o, "[redacted]");
            o = n > 0 && (size_t)n < outlen - o ? o + (size_t)n : outlen - 1;
            s += hit;
        } else {
            out[o++] = *s++;
        }
    }
    out[o] = 0;
}

const char *mc_prop(const mc_cluster *cl, const char *key) {
    for (size_t i = 0; cl && i < cl->nprops; i++)
        if (!strcmp(cl->props[i].key, key))
            return cl->props[i].value;
    return NULL;
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

static int cluster_add_w(mc_cluster *c, const char *key, const char *value, int roles,
                         const char *written) {
    for (size_t i = 0; i < c->nprops; i++) {
        if (strcmp(c->props[i].key, key) == 0 && c->props[i].roles == roles) {
            char *v = kf_strdup(value);
            if (!v)
                return -1;
            free(c->props[i].value);
            free(c->props[i].written);
            c->props[i].value = v;
            c->props[i].written = written ? kf_strdup(written) : NULL;
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
    n[c->nprops].written = written ? kf_strdup(written) : NULL;
    if (!n[c->nprops].key || !n[c->nprops].value)
        return -1;
    c->nprops++;
    return 0;
}

static int cluster_add(mc_cluster *c, const char *key, const char *value, int roles) {
    return cluster_add_w(c, key, value, roles, NULL);
}

static void cluster_free(mc_cluster *c) {
    for (size_t i = 0; i < c->nprops; i++) {
        free(c->props[i].key);
        free(c->props[i].value);
        free(c->props[i].written);
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
            /* JAAS also allows a bare word: awsDebugCreds=true; */
            size_t len = 0;
            while (q[len] && !isspace((unsigned char)q[len]) && q[len] != ';')
                len++;
            if (len == 0 || len >= outlen)
                return -1;
            memcpy(out, q, len);
            out[len] = 0;
            return 0;
        }
        p += nl;
    }
    return -1;
}

/* Java clients take credentials as sasl.jaas.config; librdkafka wants
 * sasl.username/sasl.password.  Translate the PLAIN and SCRAM modules. */
static void add_jaas(mc_cluster *c, const char *full, const char *value, int roles, errs *e,
                     int line) {
    char user[512], pass[512];
    if (!strstr(value, "PlainLoginModule") && !strstr(value, "ScramLoginModule")) {
        cerr(e, line,
             "%s: only PlainLoginModule and ScramLoginModule can be "
             "translated; use sasl.username/sasl.password or librdkafka's "
             "sasl.oauthbearer.* settings",
             full);
        return;
    }
    if (jaas_get(value, "username", user, sizeof(user)) != 0 ||
        jaas_get(value, "password", pass, sizeof(pass)) != 0) {
        cerr(e, line, "%s: username=\"...\" and password=\"...\" not found", full);
        return;
    }
    if (cluster_add(c, "sasl.username", user, roles) ||
        cluster_add(c, "sasl.password", pass, roles))
        cerr(e, line, "out of memory");
}

/* librdkafka's property names (from rd_kafka_conf_properties_show), for
 * "did you mean" on client properties it does not know. */
static char **g_rk_props;
static size_t g_rk_nprops;

static void rk_props_load(void) {
    if (g_rk_props)
        return;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return;
    rd_kafka_conf_properties_show(f);
    fclose(f);
    size_t cap = 0;
    for (char *save = NULL, *ln = strtok_r(text, "\n", &save); ln;
         ln = strtok_r(NULL, "\n", &save)) {
        char *bar = strchr(ln, '|');
        if (!bar)
            continue;
        *bar = 0;
        char *name = trim(ln);
        if (!*name || strchr(name, ' ') || !strcmp(name, "Property") || name[0] == '-')
            continue;
        if (g_rk_nprops == cap) {
            size_t nc = cap ? cap * 2 : 256;
            char **np = realloc(g_rk_props, nc * sizeof(*np));
            if (!np)
                break;
            g_rk_props = np;
            cap = nc;
        }
        g_rk_props[g_rk_nprops++] = kf_strdup(name);
    }
    free(text);
}

static const char *near_rk_prop(const char *name) {
    rk_props_load();
    const char *best = NULL;
    int bd = 3;
    for (size_t i = 0; i < g_rk_nprops; i++) {
        if (!g_rk_props[i])
            continue;
        int d = kf_edit_distance(name, g_rk_props[i], 2);
        if (d < bd) {
            bd = d;
            best = g_rk_props[i];
        }
    }
    return bd > 0 ? best : NULL;
}

/* The Java SSL settings of one cluster, per role: [0] all handles,
 * [1] consumer., [2] producer. (overlaid on [0] when mapped). */
typedef struct jset {
    mc_java_ssl role[3];
    int present[3];
    /* MSK IAM: the line of each setting seen (0 = not seen) */
    int iam_mech, iam_jaas, oauth_jaas, iam_handler, iam_login_handler, other_jaas;
} jset;

#define MSK_IAM_MODULE "software.amazon.msk.auth.iam.IAMLoginModule"
#define MSK_IAM_HANDLER "software.amazon.msk.auth.iam.IAMClientCallbackHandler"
#define MSK_IAM_LOGIN_HANDLER "software.amazon.msk.auth.iam.IAMOAuthBearerLoginCallbackHandler"

/* The options of MSK's IAMLoginModule line, kept on the cluster. */
static void iam_jaas_options(mc_cluster *c, const char *full, const char *value, errs *e,
                             int line) {
    static const struct {
        const char *name;
        size_t off, len;
    } opts[] = {
        {"awsProfileName", offsetof(mc_cluster, iam.profile), sizeof(c->iam.profile)},
        {"awsRoleArn", offsetof(mc_cluster, iam.role_arn), sizeof(c->iam.role_arn)},
        {"awsRoleSessionName", offsetof(mc_cluster, iam.role_session), sizeof(c->iam.role_session)},
        {"awsStsRegion", offsetof(mc_cluster, iam.sts_region), sizeof(c->iam.sts_region)},
    };
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        char *dst = (char *)c + opts[i].off;
        if (jaas_get(value, opts[i].name, dst, opts[i].len) != 0)
            dst[0] = '\0';
    }
    char b[16];
    if (jaas_get(value, "awsDebugCreds", b, sizeof(b)) == 0)
        c->iam.debug_creds = !strcasecmp(b, "true");
    static const char *unused[] = {"awsMaxRetries",          "awsMaxBackOffTimeMs",
                                   "awsRoleExternalId",      "awsRoleAccessKeyId",
                                   "awsRoleSecretAccessKey", "awsRoleSessionToken"};
    for (size_t i = 0; i < sizeof(unused) / sizeof(unused[0]); i++)
        if (jaas_get(value, unused[i], b, sizeof(b)) == 0 || strstr(value, unused[i]))
            kf_warn("config", "%s:%d: %s: option %s accepted but not used by kferry", e->file, line,
                    full, unused[i]);
}

/* full: the key as written ("onprem.consumer.max.poll.records"), for
 * messages; key: what follows the alias; written: the value as written
 * when a config provider resolved it (NULL otherwise). */
static void add_client_prop(mc_cluster *c, const char *full, const char *key, const char *value,
                            const char *written, int line, errs *e, int is_source, jset *js) {
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
    if (roles == MC_CLIENT_PRODUCER && is_source) {
        kf_warn("config", "%s:%d: %s ignored: kferry never produces to the source cluster '%s'",
                e->file, line, full, c->alias);
        return;
    }
    if (!strcmp(key, "sasl.mechanism") && !strcasecmp(value, "AWS_MSK_IAM")) {
        js->iam_mech = line; /* librdkafka speaks it as OAUTHBEARER: finish_iam */
        return;
    }
    if (!strcmp(key, "aws.region")) {
        if (kf_strlcpy(c->iam.region, value, sizeof(c->iam.region)) != 0 || !*value)
            cerr(e, line, "%s: not a region name", full);
        return;
    }
    if (!strcmp(key, "sasl.client.callback.handler.class")) {
        if (strcmp(value, MSK_IAM_HANDLER) != 0)
            cerr(e, line,
                 "%s=%s: kferry cannot load Java callback handlers; it implements only MSK's "
                 "IAM handler (" MSK_IAM_HANDLER ")",
                 full, value);
        js->iam_handler = line;
        return;
    }
    if (!strcmp(key, "sasl.login.callback.handler.class")) {
        if (strcmp(value, MSK_IAM_LOGIN_HANDLER) != 0)
            cerr(e, line,
                 "%s=%s: kferry cannot load Java callback handlers; it implements only MSK's "
                 "IAM handler (" MSK_IAM_LOGIN_HANDLER "); for another OAuth provider use "
                 "librdkafka's sasl.oauthbearer.method=oidc settings",
                 full, value);
        js->iam_login_handler = line;
        return;
    }
    if (strcmp(key, "sasl.jaas.config") == 0 && strstr(value, "IAMLoginModule")) {
        js->iam_jaas = line;
        iam_jaas_options(c, full, value, e, line);
        return;
    }
    if (strcmp(key, "sasl.jaas.config") == 0 && strstr(value, "OAuthBearerLoginModule")) {
        js->oauth_jaas = line; /* MSK's OAUTHBEARER variant, checked in finish_iam */
        return;
    }
    if (strcmp(key, "sasl.jaas.config") == 0) {
        js->other_jaas = line;
        add_jaas(c, full, value, roles, e, line);
        return;
    }
    if (strcmp(key, "group.id") == 0) {
        kf_warn("config",
                "%s:%d: %s ignored: kferry reads the source by explicit "
                "partition assignment and never joins or commits to a group",
                e->file, line, full);
        return;
    }
    for (size_t i = 0; i < sizeof(g_forced) / sizeof(g_forced[0]); i++) {
        if (strcmp(g_forced[i].key, key) == 0 && (g_forced[i].roles & roles) &&
            !in_choices(g_forced[i].ok_values, value)) {
            cerr(e, line, "%s=%s is not allowed: %s", full, mc_is_secret_key(key) ? "***" : value,
                 g_forced[i].why);
            return;
        }
    }
    int ri = roles == MC_CLIENT_CONSUMER ? 1 : roles == MC_CLIENT_PRODUCER ? 2 : 0;
    mc_jval *slot = NULL;
    if (mc_java_ssl_slot(&js->role[ri], key, &slot)) {
        slot->v = value; /* owned by the props, which live as long as the config */
        slot->line = line;
        js->present[ri] = 1;
        return;
    }
    /* Java's "" (no hostname check) is librdkafka's "none" */
    if (!strcmp(key, "ssl.endpoint.identification.algorithm") && !*value)
        value = "none";
    /* librdkafka is the authority on its own property names and values. */
    rd_kafka_conf_t *scratch = rd_kafka_conf_new();
    char eb[512];
    rd_kafka_conf_res_t res = rd_kafka_conf_set(scratch, key, value, eb, sizeof(eb));
    if (res == RD_KAFKA_CONF_UNKNOWN) {
        const char *near = near_rk_prop(key);
        if (near)
            cerr(e, line, "%s: librdkafka has no property '%s' (did you mean '%.*s%s'?)", full, key,
                 (int)(key - full), full, near);
        else /* a Java client setting (max.poll.records, key.deserializer, ...) */
            kf_warn("config",
                    "%s:%d: %s accepted but not used: librdkafka (kferry's Kafka client) has no "
                    "property '%s'; its own defaults apply",
                    e->file, line, full, key);
    } else if (res != RD_KAFKA_CONF_OK) {
        cerr(e, line, "%s: %s", full, eb);
    } else if (cluster_add_w(c, key, value, roles, written)) {
        cerr(e, line, "out of memory");
    }
    rd_kafka_conf_destroy(scratch);
}

typedef struct emitctx {
    mc_cluster *cl;
    int roles;
    size_t base; /* properties set directly: cl->props[0..base) */
    errs *e;
} emitctx;

/* mc_emit_fn: a librdkafka property mapped from Java settings. */
static void emit_cb(void *ctx, const char *key, const char *value, const char *written, int line) {
    emitctx *x = ctx;
    static const char *trust[] = {"ssl.ca.location", "ssl.ca.pem", NULL};
    static const char *ident[] = {"ssl.keystore.location", "ssl.certificate.location",
                                  "ssl.certificate.pem",   "ssl.key.location",
                                  "ssl.key.pem",           NULL};
    const char **set = !strncmp(key, "ssl.ca.", 7) ? trust : ident;
    int is_set = 0;
    for (size_t k = 0; set[k]; k++)
        is_set |= !strcmp(set[k], key);
    for (size_t i = 0; i < x->base; i++) {
        const mc_kv *kv = &x->cl->props[i];
        int clash = !strcmp(kv->key, key);
        for (size_t k = 0; is_set && set[k]; k++)
            clash |= !strcmp(set[k], kv->key);
        if (clash && (kv->roles & x->roles) && strcmp(key, "ssl.key.password")) {
            cerr(x->e, line, "%s.%s (from the Java SSL settings) conflicts with %s.%s set directly",
                 x->cl->alias, key, x->cl->alias, kv->key);
            return;
        }
    }
    rd_kafka_conf_t *scratch = rd_kafka_conf_new();
    char eb[512];
    if (rd_kafka_conf_set(scratch, key, value, eb, sizeof(eb)) != RD_KAFKA_CONF_OK)
        cerr(x->e, line, "%s.%s: %s", x->cl->alias, key, eb);
    else if (cluster_add_w(x->cl, key, value, x->roles, written))
        cerr(x->e, line, "out of memory");
    rd_kafka_conf_destroy(scratch);
}

static void emit_err_cb(void *ctx, int line, const char *msg) {
    cerr(((emitctx *)ctx)->e, line, "%s", msg);
}

/* Maps a cluster's Java SSL settings, then notes which settings decide
 * trust and identity (for connection diagnoses). */
static void map_java_ssl(mc_cluster *cl, jset *js, errs *e) {
    static const int roles[3] = {MC_CLIENT_ANY, MC_CLIENT_CONSUMER, MC_CLIENT_PRODUCER};
    static const char *pfx[3] = {"", "consumer.", "producer."};
    size_t direct = cl->nprops; /* everything after this was mapped here */
    for (int r = 0; r < 3; r++) {
        if (!js->present[r])
            continue;
        mc_java_ssl j = js->role[0];
        if (r) { /* role-specific settings over the cluster-wide ones */
            mc_jval *dst = (mc_jval *)&j;
            const mc_jval *src = (const mc_jval *)&js->role[r];
            for (size_t f = 0; f < sizeof(j) / sizeof(mc_jval); f++)
                if (src[f].v)
                    dst[f] = src[f];
        }
        char prefix[300];
        snprintf(prefix, sizeof(prefix), "%s.%s", cl->alias, pfx[r]);
        emitctx x = {cl, roles[r], direct, e};
        mc_java_ssl_map(prefix, &j, emit_cb, emit_err_cb, &x);
    }
    const mc_java_ssl *j = &js->role[0];
    const char *t = j->ts_location.v                 ? "ssl.truststore.location"
                    : j->ts_certificates.v           ? "ssl.truststore.certificates"
                    : mc_prop(cl, "ssl.ca.location") ? "ssl.ca.location"
                    : mc_prop(cl, "ssl.ca.pem")      ? "ssl.ca.pem"
                                                     : NULL;
    const char *i = j->ks_location.v                          ? "ssl.keystore.location"
                    : j->ks_key.v                             ? "ssl.keystore.key"
                    : mc_prop(cl, "ssl.keystore.location")    ? "ssl.keystore.location"
                    : mc_prop(cl, "ssl.certificate.location") ? "ssl.certificate.location"
                    : mc_prop(cl, "ssl.certificate.pem")      ? "ssl.certificate.pem"
                                                              : NULL;
    if (t)
        snprintf(cl->trust_setting, sizeof(cl->trust_setting), "%s.%s", cl->alias, t);
    if (i)
        snprintf(cl->identity_setting, sizeof(cl->identity_setting), "%s.%s", cl->alias, i);
}

/* MSK IAM, from MM2's lines: AWS_MSK_IAM + IAMLoginModule (+ the client
 * callback handler), or OAUTHBEARER + OAuthBearerLoginModule + MSK's
 * login callback handler.  Either way librdkafka gets OAUTHBEARER and
 * kferry's token refresh callback (mskiam.c). */
static void finish_iam(mc_cluster *cl, const jset *js, errs *e) {
    const char *a = cl->alias;
    int line = js->iam_mech ? js->iam_mech : js->iam_jaas ? js->iam_jaas : js->iam_login_handler;
    if (js->iam_login_handler && !js->oauth_jaas && !js->iam_jaas)
        cerr(e, js->iam_login_handler,
             "%s.sasl.login.callback.handler.class is MSK's IAM handler: %s.sasl.jaas.config "
             "must be org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule "
             "required;",
             a, a);
    if (js->oauth_jaas && !js->iam_login_handler)
        cerr(e, js->oauth_jaas,
             "%s.sasl.jaas.config: OAuthBearerLoginModule needs a login callback handler; kferry "
             "implements MSK's (%s.sasl.login.callback.handler.class=" MSK_IAM_LOGIN_HANDLER
             "); for another OAuth provider use librdkafka's sasl.oauthbearer.method=oidc",
             a, a);
    if (js->iam_jaas && !js->iam_mech)
        cerr(e, js->iam_jaas,
             "%s.sasl.jaas.config uses MSK's IAMLoginModule: set %s.sasl.mechanism=AWS_MSK_IAM", a,
             a);
    if (js->iam_handler && !js->iam_mech && !js->iam_login_handler)
        cerr(e, js->iam_handler,
             "%s.sasl.client.callback.handler.class is MSK's IAM handler: set "
             "%s.sasl.mechanism=AWS_MSK_IAM",
             a, a);
    if (!js->iam_mech && !js->iam_login_handler)
        return;
    if (js->other_jaas)
        cerr(e, js->other_jaas,
             "%s.sasl.jaas.config: a PLAIN/SCRAM login cannot be used with MSK IAM", a);
    const char *m = mc_prop(cl, "sasl.mechanism");
    if (js->iam_login_handler && !js->iam_mech && (!m || strcasecmp(m, "OAUTHBEARER")))
        cerr(e, js->iam_login_handler,
             "%s: MSK's IAMOAuthBearerLoginCallbackHandler needs %s.sasl.mechanism=OAUTHBEARER", a,
             a);
    const char *p = mc_prop(cl, "security.protocol");
    if (!p || (strcasecmp(p, "SASL_SSL") && strcasecmp(p, "SASL_PLAINTEXT")))
        cerr(e, line, "%s: MSK IAM needs %s.security.protocol=SASL_SSL (it is %s)", a, a,
             p ? p : "PLAINTEXT, the default");
    else if (!strcasecmp(p, "SASL_PLAINTEXT"))
        kf_warn("config",
                "%s:%d: %s: MSK IAM over SASL_PLAINTEXT: MSK itself takes IAM over TLS only "
                "(port 9098); this works only with kferry-broker's emulation",
                e->file, line, a);
    cl->iam.enabled = 1;
    if (cluster_add(cl, "sasl.mechanism", "OAUTHBEARER", MC_CLIENT_ANY))
        cerr(e, line, "out of memory");
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

/* The MM2 key kferry does not read that name is (or starts/ends with), or NULL. */
static const mm2_key *mm2_ignored(const char *name) {
    size_t nl = strlen(name);
    for (size_t i = 0; i < NMM2; i++) {
        const mm2_key *k = &g_mm2_keys[i];
        size_t kl = strlen(k->name);
        if ((k->match == 0 && !strcmp(k->name, name)) ||
            (k->match == 1 && !strncmp(k->name, name, kl)) ||
            (k->match == 2 && nl > kl && !strcmp(name + nl - kl, k->name)))
            return k;
    }
    return NULL;
}

static void warn_mm2(const char *path, int line, const char *key, const mm2_key *k) {
    kf_warn("config", "%s:%d: %s accepted but not used: %s", path, line, key, k->instead);
}

/* The known key closest to name (edit distance <= 2, <= 1 for short
 * names), for "did you mean"; NULL if none. */
static const char *near_key(const char *name, int flow_only) {
    const char *best = NULL;
    int cap = strlen(name) <= 5 ? 1 : 2, bd = cap + 1;
    for (size_t i = 0; i < NKEYS; i++) {
        if (flow_only && !g_keys[i].flow_override)
            continue;
        int d = kf_edit_distance(name, g_keys[i].name, cap);
        if (d < bd) {
            bd = d;
            best = g_keys[i].name;
        }
    }
    for (size_t i = 0; !flow_only && i < NMM2; i++) {
        if (g_mm2_keys[i].match)
            continue;
        int d = kf_edit_distance(name, g_mm2_keys[i].name, cap);
        if (d < bd) {
            bd = d;
            best = g_mm2_keys[i].name;
        }
    }
    return bd > 0 ? best : NULL;
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
    /* MirrorMaker 2's old names (topics.blacklist, ...), also per flow */
    for (size_t i = 0; i < NRENAMED; i++) {
        if (strcmp(g_renamed[i][1], k->name) != 0)
            continue;
        char fk[512];
        snprintf(fk, sizeof(fk), "%s.%s", flow, g_renamed[i][0]);
        const char *names[2] = {fk, g_renamed[i][0]};
        for (int j = 0; j < 2; j++) {
            kf_prop *old = kf_props_find(&c->props, names[j]);
            if (!old)
                continue;
            kf_props_get(&c->props, names[j]);
            const char *file = c->props.source ? c->props.source : "config";
            if (p) {
                kf_warn("config", "%s:%d: %s ignored: %s at line %d wins", file, old->line,
                        names[j], p->key, p->line);
            } else {
                kf_warn("config", "%s:%d: %s is MirrorMaker 2's old name of %s: used as such", file,
                        old->line, names[j], k->name);
                p = old;
            }
        }
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
    else if (!strcmp(name, "sync.topic.acls.enabled"))
        c->sync_acls = b;
    else if (!strcmp(name, "sync.topic.acls.interval.seconds"))
        c->sync_acls_s = (int)n;
    else if (!strcmp(name, "kferry.acl.principal.map")) {
        if (kf_strlcpy(c->acl_principal_map, v, sizeof(c->acl_principal_map)) != 0)
            cerr(e, line, "%s: too long", name);
    } else if (!strcmp(name, "refresh.topics.interval.seconds"))
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
    else if (!strcmp(name, "kferry.lock.group"))
        kf_strlcpy(c->lock_group, v, sizeof(c->lock_group));
    else if (!strcmp(name, "kferry.lock.topic")) {
        if (!*v || kf_strlcpy(c->lock_topic, v, sizeof(c->lock_topic)) != 0)
            cerr(e, line, "%s: must be a topic name of 1..249 characters", name);
    } else if (!strcmp(name, "kferry.lock.session.timeout.ms"))
        c->lock_session_ms = (int)n;
    else if (!strcmp(name, "kferry.transactions.enabled"))
        c->txn = b;
    else if (!strcmp(name, "kferry.workers"))
        c->workers = (int)n;
    else if (!strcmp(name, "kferry.transaction.interval.ms"))
        c->txn_interval_ms = (int)n;
    else if (!strcmp(name, "kferry.startup.timeout.seconds"))
        c->startup_timeout_s = (int)n;
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
    errs e = {path, 0, c};
    char eb[512];
    if (kf_props_load(&c->props, path, eb, sizeof(eb)) != 0) {
        fprintf(stderr, "%s\n", eb);
        return -1;
    }

    /* a key given twice takes the later value: say so, with both lines */
    for (size_t i = 1; i < c->props.count; i++)
        for (size_t j = 0; j < i; j++)
            if (!strcmp(c->props.items[i].key, c->props.items[j].key)) {
                kf_warn("config",
                        "%s:%d: duplicate key '%s' (also at line %d): the value at line %d "
                        "is used",
                        path, c->props.items[i].line, c->props.items[i].key, c->props.items[j].line,
                        c->props.items[i].line);
                break;
            }

    /* Config providers: ${file:path:key} and ${env:VAR} anywhere in a value.
     * raw[i] keeps what line i said, for the effective-config log. */
    char **raw = calloc(c->props.count ? c->props.count : 1, sizeof(*raw));
    mc_providers *pv = mc_providers_new(&c->props, cerr_cb, &e);
    for (size_t i = 0; raw && pv && i < c->props.count; i++) {
        kf_prop *p = &c->props.items[i];
        if (!strncmp(p->key, "config.providers", 16))
            continue;
        char *out = NULL, pe[1024];
        int r = mc_providers_resolve(pv, p->value, &out, &c->secrets, &c->nsecrets, pe, sizeof(pe));
        if (r < 0) {
            cerr(&e, p->line, "%s: %s", p->key, pe);
        } else if (r > 0) {
            raw[i] = p->value;
            p->value = out;
        }
    }
    mc_providers_free(pv);
    jset js[2];
    memset(js, 0, sizeof(js));

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
        if (strcmp(dot + 1, "enabled") != 0) {
            if (kf_edit_distance(dot + 1, "enabled", 2) <= 2 && !find_key(dot + 1))
                cerr(&e, p->line, "unknown flow key '%s' (did you mean '%.*s.enabled'?)", p->key,
                     (int)(dot - p->key), p->key);
            continue; /* flow-level overrides are read below */
        }
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
        cerr(&e, cl ? cl->line : 0,
             "exactly one flow must be enabled (e.g. \"%s->%s.enabled = true\"); found %d",
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
        int renamed = 0;
        for (size_t r = 0; r < NRENAMED; r++)
            renamed |= !strcmp(dot + 1, g_renamed[r][0]);
        if (renamed)
            continue; /* read with its new name below */
        const mm2_key *ig = mm2_ignored(dot + 1);
        int this_flow = nflows == 1 && strlen(p->key) > strlen(flow) &&
                        !strncmp(p->key, flow, strlen(flow)) && p->key[strlen(flow)] == '.';
        const char *near = near_key(dot + 1, 1);
        if (ig)
            warn_mm2(path, p->line, p->key, ig);
        else if (kf_edit_distance(dot + 1, "enabled", 2) <= 2)
            ; /* reported above */
        else if (this_flow && near)
            cerr(&e, p->line, "%s: unknown flow-level key (did you mean '%.*s.%s'?)", p->key,
                 (int)(dot - p->key), p->key, near);
        else if (this_flow)
            cerr(&e, p->line, "%s: unknown flow-level key", p->key);
        else
            kf_warn("config",
                    "%s:%d: %s ignored: not a key kferry knows, for a flow that is not "
                    "enabled",
                    path, p->line, p->key);
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
    if (!c->lock_group[0] && c->src.alias && c->tgt.alias)
        snprintf(c->lock_group, sizeof(c->lock_group), "__kferry.flow.%s->%s", c->src.alias,
                 c->tgt.alias);
    /* one transactional.id per flow: whoever holds the flow next fences
     * whoever held it (transactions mode) */
    snprintf(c->txn_id, sizeof(c->txn_id), "%s.txn", c->lock_group);
    /* several units: the lock topic's partitions are the flow's units, so
     * the flow needs a lock topic of its own (others may share the default) */
    if (c->workers > 1 && !strcmp(c->lock_topic, "__kferry.flow-lock") && c->src.alias &&
        c->tgt.alias) {
        char name[sizeof(c->lock_topic)];
        snprintf(name, sizeof(name), "__kferry.flow-lock.%s.%s", c->src.alias, c->tgt.alias);
        for (char *q = name; *q; q++)
            if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
                  (*q >= '0' && *q <= '9') || *q == '.' || *q == '_' || *q == '-'))
                *q = '_';
        kf_strlcpy(c->lock_topic, name, sizeof(c->lock_topic));
    }
    if (c->workers > 1 && !c->txn)
        cerr(&e, 0,
             "kferry.workers=%d needs kferry.transactions.enabled=true: with several units a "
             "process paused while its units moved must be fenced by its transactional.id",
             c->workers);
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
        add_client_prop(cl2, p->key, dot + 1, p->value, raw ? raw[i] : NULL, p->line, &e,
                        cl2 == &c->src, &js[cl2 == &c->src ? 0 : 1]);
    }
    if (c->src.alias) {
        map_java_ssl(&c->src, &js[0], &e);
        finish_iam(&c->src, &js[0], &e);
    }
    if (c->tgt.alias) {
        map_java_ssl(&c->tgt, &js[1], &e);
        finish_iam(&c->tgt, &js[1], &e);
    }
    for (size_t i = 0; raw && i < c->props.count; i++)
        free(raw[i]);
    free(raw);
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
        const mm2_key *ig = mm2_ignored(p->key);
        const char *near = ig ? NULL : near_key(p->key, 0);
        if (ig)
            warn_mm2(path, p->line, p->key, ig);
        else if (near)
            cerr(&e, p->line, "unknown key '%s' (did you mean '%s'?)", p->key, near);
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
    for (size_t i = 0; i < c->nsecrets; i++)
        free(c->secrets[i]);
    free(c->secrets);
    c->secrets = NULL;
    c->nsecrets = 0;
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
                    kv->key,
                    mc_is_secret_key(kv->key) ? "[redacted]"
                    : kv->written             ? kv->written
                                              : kv->value);
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
    printf("\nOld MirrorMaker 2 names, honoured as the new ones (with a warning):");
    for (size_t i = 0; i < NRENAMED; i++)
        printf("%s `%s` = `%s`", i ? "," : "", g_renamed[i][0], g_renamed[i][1]);
    printf(".\n\nAccepted from MirrorMaker 2 files but not used; each logs a one-line warning "
           "saying what kferry does instead:\n\n| key | what kferry does instead |\n|---|---|\n");
    for (size_t i = 0; i < NMM2; i++)
        printf("| `%s%s%s` | %s |\n", g_mm2_keys[i].match == 2 ? "*" : "", g_mm2_keys[i].name,
               g_mm2_keys[i].match == 1 ? "*" : "", g_mm2_keys[i].instead);
    printf("\nConfig providers (as Kafka's; docs/SECURITY.md):\n\n| key | meaning |\n|---|---|\n");
    printf("| `config.providers` | Comma-separated provider names, e.g. `file,env`. A value may "
           "then contain `${<name>:<path>:<key>}` (file) or `${<name>:<VAR>}` (env) anywhere; an "
           "unknown provider, a missing file or key, or an unset variable is an error naming the "
           "key and the reference. |\n");
    printf(
        "| `config.providers.<name>.class` | `org.apache.kafka.common.config.provider."
        "FileConfigProvider` (reads a key of a Java-properties file) or `...EnvVarConfigProvider` "
        "(an environment variable). May be omitted for the names `file` and `env`. |\n");
    printf("| `config.providers.<name>.param.allowlist.pattern` | EnvVarConfigProvider only: "
           "regex the variable names must match. |\n");
    printf("\nJava SSL settings, mapped to librdkafka's (`<alias>.`, `<alias>.consumer.` or "
           "`<alias>.producer.`; docs/SECURITY.md):\n\n| key | becomes |\n|---|---|\n");
    static const char *ssl_rows[][2] = {
        {"ssl.truststore.type", "`PEM` or `PKCS12`; unset: decided by the file's content. `JKS` "
                                "is refused with the keytool command that converts it."},
        {"ssl.truststore.location", "PEM: `ssl.ca.location`. PKCS12: read by kferry (OpenSSL), "
                                    "its certificates become `ssl.ca.pem`."},
        {"ssl.truststore.password", "opens a PKCS12 truststore; not passed on."},
        {"ssl.truststore.certificates", "inline PEM: `ssl.ca.pem`."},
        {"ssl.keystore.type", "`PEM` or `PKCS12`; unset: decided by the file's content; `JKS` "
                              "refused as above."},
        {"ssl.keystore.location",
         "PKCS12: `ssl.keystore.location` (+ `ssl.keystore.password`). PEM (key and chain in "
         "one file): `ssl.certificate.location` + `ssl.key.location`, so the whole chain is "
         "sent."},
        {"ssl.keystore.password", "PKCS12: `ssl.keystore.password` (checked at start)."},
        {"ssl.keystore.certificate.chain",
         "inline PEM: `ssl.certificate.pem` (librdkafka 2.0.2 sends only its first "
         "certificate)."},
        {"ssl.keystore.key", "inline PEM: `ssl.key.pem`."},
        {"ssl.key.password", "`ssl.key.password` (decrypts a PEM key; must equal the PKCS12 "
                             "store password)."},
        {"ssl.endpoint.identification.algorithm", "`https` stays, empty becomes `none`."},
    };
    for (size_t i = 0; i < sizeof(ssl_rows) / sizeof(ssl_rows[0]); i++)
        printf("| `%s` | %s |\n", ssl_rows[i][0], ssl_rows[i][1]);
    printf("\n`<alias>.<property>`, `<alias>.consumer.<property>`, `<alias>.producer.<property>` "
           "and `<alias>.admin.<property>` go to librdkafka; a property librdkafka does not have "
           "(a Java client setting such as `max.poll.records`) is ignored with a warning naming "
           "the full key, unless it is a near-miss of a librdkafka property (an error with "
           "\"did you mean\").\n");
    printf("\nMSK IAM (MirrorMaker 2's aws-msk-iam-auth lines, taken unchanged; docs/MSK.md):\n\n"
           "| key | meaning |\n|---|---|\n"
           "| `<alias>.sasl.mechanism` | `AWS_MSK_IAM`: kferry signs MSK IAM tokens and hands "
           "them to librdkafka as SASL/OAUTHBEARER. |\n"
           "| `<alias>.sasl.jaas.config` | `" MSK_IAM_MODULE " required` with the options "
           "`awsProfileName`, `awsRoleArn`, `awsRoleSessionName`, `awsStsRegion`, `awsDebugCreds`; "
           "or `OAuthBearerLoginModule` with the handler below. |\n"
           "| `<alias>.sasl.client.callback.handler.class` | `" MSK_IAM_HANDLER "` (the only "
           "handler accepted). |\n"
           "| `<alias>.sasl.login.callback.handler.class` | `" MSK_IAM_LOGIN_HANDLER
           "` with `sasl.mechanism=OAUTHBEARER` (MSK's OAUTHBEARER form). |\n"
           "| `<alias>.aws.region` | The region tokens are signed for. Default: `AWS_REGION`, "
           "`AWS_DEFAULT_REGION`, else the region in the broker host names "
           "(`b-1.<cluster>.<id>.c2.kafka.<region>.amazonaws.com`). |\n");
}
