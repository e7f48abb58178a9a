/*
 * h_cluster.c - DescribeCluster, DescribeLogDirs and IncrementalAlterConfigs,
 * the admin APIs Kafka 4.0's tools (kafka-cluster.sh, kafka-log-dirs.sh,
 * kafka-configs.sh --alter) need.
 *
 * IncrementalAlterConfigs is parsed twice, as h_admin.c's requests whose
 * deciding flag (validate_only) comes last: once to check the structure,
 * then to act and answer, so a malformed request changes nothing.
 *
 * With an authorizer (acl.h): DescribeLogDirs needs CLUSTER DESCRIBE,
 * IncrementalAlterConfigs ALTER_CONFIGS on the topic or the cluster.
 */
#include "broker/acl.h"
#include "broker/handlers.h"
#include "broker/store.h"
#include "common/log.h"
#include "common/util.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#define CONFIG_KEY_MAX 255
#define CONFIG_VALUE_MAX 4096
#define MSG_MAX 512
#define NAME_CLIP 249

enum { RES_TOPIC = 2, RES_BROKER = 4 };
enum { OP_SET = 0, OP_DELETE = 1, OP_APPEND = 2, OP_SUBTRACT = 3 };
enum { ENDPOINT_BROKERS = 1 };
#define ERR_MISMATCHED_ENDPOINT_TYPE 114
#define AUTH_OPS_UNKNOWN INT32_MIN

static int clip(int32_t len) { return len < 0 ? 0 : len > NAME_CLIP ? NAME_CLIP : (int)len; }

/* ------------------------------------------------------------------------
 * DescribeCluster v0-1 (flexible): include_cluster_authorized_operations,
 * endpoint_type (v1+) -> throttle, error, message, endpoint_type (v1+),
 * cluster_id, controller_id, brokers[id, host, port, rack],
 * cluster_authorized_operations.
 */
int kb_h_describe_cluster(kb_broker *b, kb_req *r, kf_buf *out) {
    kf_rd rd;
    kb_req_body(r, &rd);
    (void)kf_rd_i8(&rd); /* include_cluster_authorized_operations: no ACLs here */
    int8_t endpoint = r->api_version >= 1 ? kf_rd_i8(&rd) : ENDPOINT_BROKERS;
    kf_rd_tags(&rd, 1);
    if (!kf_rd_ok(&rd))
        return KB_CLOSE;
    int16_t err = endpoint == ENDPOINT_BROKERS ? KF_ERR_NONE : ERR_MISMATCHED_ENDPOINT_TYPE;
    kf_wr_i32(out, 0); /* throttle_time_ms */
    kf_wr_i16(out, err);
    kf_wr_cstr(out, 1, err ? "The request was sent to an endpoint of type BROKER" : NULL);
    if (r->api_version >= 1)
        kf_wr_i8(out, ENDPOINT_BROKERS);
    kf_wr_cstr(out, 1, b->cfg.cluster_id);
    kf_wr_i32(out, err ? -1 : b->cfg.node_id); /* the single node is its own controller */
    kf_wr_arr(out, 1, err ? 0 : 1);
    if (!err) {
        kf_wr_i32(out, b->cfg.node_id);
        const char *ahost;
        int aport;
        kb_req_endpoint(b, r, &ahost, &aport);
        kf_wr_cstr(out, 1, ahost);
        kf_wr_i32(out, aport);
        kf_wr_cstr(out, 1, NULL); /* rack */
        kf_wr_tags(out, 1);
    }
    kf_wr_i32(out, AUTH_OPS_UNKNOWN);
    kf_wr_tags(out, 1);
    return KB_OK;
}

/* ------------------------------------------------------------------------
 * DescribeLogDirs v1-4 (v2+ flexible): topics[topic, partitions[]] (null =
 * all) -> throttle, error (v3+), results[error, log_dir, topics[name,
 * partitions[index, size, offset_lag, is_future]], total_bytes (v4+),
 * usable_bytes (v4+)].  One log dir: the data directory.
 */

/* Whether the request's topic filter (positioned at its first element)
 * names partition p of topic t; n < 0 means everything. */
static int dl_wanted(kf_rd filter, int32_t n, int flex, const kb_topic *t, int32_t p) {
    if (n < 0)
        return 1;
    size_t tl = strlen(t->name);
    for (int32_t i = 0; i < n; i++) {
        const char *name;
        int32_t nl = kf_rd_str(&filter, flex, &name);
        int32_t np = kf_rd_arr(&filter, flex, 4);
        int match = nl >= 0 && (size_t)nl == tl && !memcmp(name, t->name, tl);
        int hit = 0;
        for (int32_t k = 0; k < np; k++)
            if (kf_rd_i32(&filter) == p)
                hit = 1;
        kf_rd_tags(&filter, flex);
        if (!kf_rd_ok(&filter))
            return 0;
        if (match && hit)
            return 1;
    }
    return 0;
}

int kb_h_describe_log_dirs(kb_broker *b, kb_req *r, kf_buf *out) {
    int16_t v = r->api_version;
    int flex = r->flex;
    kf_rd rd;
    kb_req_body(r, &rd);
    int32_t n = kf_rd_arr(&rd, flex, flex ? 2 : 6);
    kf_rd filter = rd;
    for (int32_t i = 0; i < n && kf_rd_ok(&rd); i++) {
        const char *name;
        int32_t nl = kf_rd_str(&rd, flex, &name);
        int32_t np = kf_rd_arr(&rd, flex, 4);
        for (int32_t k = 0; k < np && kf_rd_ok(&rd); k++)
            (void)kf_rd_i32(&rd);
        kf_rd_tags(&rd, flex);
        if (nl < 0 || np < 0)
            return KB_CLOSE;
    }
    kf_rd_tags(&rd, flex);
    if (!kf_rd_ok(&rd))
        return KB_CLOSE;

    char dir[PATH_MAX];
    if (!realpath(kb_store_dir(b->store), dir))
        kf_strlcpy(dir, kb_store_dir(b->store), sizeof(dir));
    kf_wr_i32(out, 0); /* throttle_time_ms */
    if (!kb_authz_cluster(b, r, KB_OP_DESCRIBE)) {
        /* Kafka answers no log dirs (v3+: and the error). */
        if (v >= 3)
            kf_wr_i16(out, KF_ERR_CLUSTER_AUTHORIZATION_FAILED);
        kf_wr_arr(out, flex, 0);
        kf_wr_tags(out, flex);
        return KB_OK;
    }
    if (v >= 3)
        kf_wr_i16(out, KF_ERR_NONE);
    kf_wr_arr(out, flex, 1);
    kf_wr_i16(out, KF_ERR_NONE);
    kf_wr_cstr(out, flex, dir);
    size_t ntopics = kb_store_topic_count(b->store);
    size_t tcount_pos = 0;
    int32_t tcount = 0;
    /* Topic and partition counts are only known after filtering: non-flex
     * arrays get a patched int32; compact ones are counted first. */
    for (int pass = flex ? 0 : 1; pass < 2; pass++) {
        if (pass == 1) {
            if (flex)
                kf_wr_uvarint(out, (uint32_t)tcount + 1);
            else
                tcount_pos = kf_wr_reserve_i32(out);
        }
        int32_t seen = 0;
        for (size_t i = 0; i < ntopics; i++) {
            kb_topic *t = kb_store_topic_at(b->store, i);
            int32_t np = 0;
            for (int32_t p = 0; p < t->nparts; p++)
                if (t->parts[p] && dl_wanted(filter, n, flex, t, p))
                    np++;
            if (!np)
                continue;
            seen++;
            if (pass == 0)
                continue;
            kf_wr_cstr(out, flex, t->name);
            kf_wr_arr(out, flex, np);
            for (int32_t p = 0; p < t->nparts; p++) {
                if (!t->parts[p] || !dl_wanted(filter, n, flex, t, p))
                    continue;
                kf_wr_i32(out, p);
                kf_wr_i64(out, kb_part_size(t->parts[p]));
                kf_wr_i64(out, 0); /* offset_lag: HW == LEO on a single node */
                kf_wr_i8(out, 0);  /* is_future_key */
                kf_wr_tags(out, flex);
            }
            kf_wr_tags(out, flex);
        }
        tcount = seen;
    }
    if (!flex)
        kf_wr_patch_i32(out, tcount_pos, tcount);
    if (v >= 4) {
        struct statvfs sv;
        int64_t total = -1, usable = -1;
        if (statvfs(dir, &sv) == 0) {
            total = (int64_t)sv.f_blocks * (int64_t)sv.f_frsize;
            usable = (int64_t)sv.f_bavail * (int64_t)sv.f_frsize;
        }
        kf_wr_i64(out, total);
        kf_wr_i64(out, usable);
    }
    kf_wr_tags(out, flex);
    kf_wr_tags(out, flex);
    return KB_OK;
}

/* ------------------------------------------------------------------------
 * IncrementalAlterConfigs v0-1 (v1 flexible): resources[type, name,
 * configs[name, operation, value]], validate_only -> throttle,
 * responses[error, message, type, name].
 * SET / DELETE a topic override; APPEND / SUBTRACT items of a list-typed
 * config (cleanup.policy), starting from its current effective value.
 * Broker configs are static here: any change gets INVALID_REQUEST.
 */

typedef struct res_ref {
    int8_t type;
    const char *name;
    int32_t len;
} res_ref;

/* Copies a wire string into a NUL-terminated buffer; 0 or -1 (null, too
 * long, or holding a NUL byte). */
static int cstr(const char *s, int32_t len, char *dst, size_t dstlen) {
    if (len < 0 || (size_t)len >= dstlen || (len && memchr(s, '\0', (size_t)len)))
        return -1;
    memcpy(dst, s, (size_t)len);
    dst[len] = '\0';
    return 0;
}

/* Trims spaces around one comma-separated item [p, e). */
static void trim(const char **p, const char **e) {
    while (*p < *e && **p == ' ')
        (*p)++;
    while (*e > *p && (*e)[-1] == ' ')
        (*e)--;
}

/* Whether the comma list holds item [p, e). */
static int list_has(const char *list, const char *p, const char *e) {
    size_t n = (size_t)(e - p);
    const char *s = list;
    while (*s) {
        const char *q = strchr(s, ',');
        const char *end = q ? q : s + strlen(s);
        const char *a = s, *z = end;
        trim(&a, &z);
        if ((size_t)(z - a) == n && !memcmp(a, p, n))
            return 1;
        s = q ? q + 1 : end;
    }
    return 0;
}

/* APPEND: items of add missing from cur go to the end. SUBTRACT: items of
 * add are removed from cur.  -1 if the result does not fit. */
static int list_op(int op, const char *cur, const char *arg, char *dst, size_t dstlen) {
    size_t o = 0;
    dst[0] = '\0';
    const char *srcs[2] = {cur, op == OP_APPEND ? arg : ""};
    for (int k = 0; k < 2; k++) {
        const char *s = srcs[k];
        while (*s) {
            const char *q = strchr(s, ',');
            const char *end = q ? q : s + strlen(s);
            const char *a = s, *z = end;
            trim(&a, &z);
            s = q ? q + 1 : end;
            if (a == z)
                continue;
            if (op == OP_SUBTRACT && list_has(arg, a, z))
                continue;
            if (list_has(dst, a, z))
                continue;
            int w = snprintf(dst + o, dstlen - o, "%s%.*s", o ? "," : "", (int)(z - a), a);
            if (w < 0 || (size_t)w >= dstlen - o)
                return -1;
            o += (size_t)w;
        }
    }
    return 0;
}

/* Applies one config operation to props (the topic's future overrides).
 * Returns 0 or an error with msg. */
static int16_t apply_op(kb_broker *b, kb_topic *t, kf_props *props, const char *key, int8_t op,
                        const char *v, int32_t vlen, char *msg, size_t msglen) {
    int kind = kb_topic_config_kind(key);
    if (op < OP_SET || op > OP_SUBTRACT) {
        snprintf(msg, msglen, "Unknown config operation %d for config '%s'", (int)op, key);
        return KF_ERR_INVALID_REQUEST;
    }
    if (kind < 0) {
        snprintf(msg, msglen, "Unknown topic config name: %s", key);
        return KF_ERR_INVALID_CONFIG;
    }
    if (op == OP_DELETE) {
        (void)kf_props_unset(props, key);
        return 0;
    }
    char val[CONFIG_VALUE_MAX];
    if (vlen < 0) {
        snprintf(msg, msglen, "Null value not supported for : %s", key);
        return KF_ERR_INVALID_REQUEST;
    }
    if (cstr(v, vlen, val, sizeof(val)) < 0) {
        snprintf(msg, msglen, "Invalid value for configuration %s", key);
        return KF_ERR_INVALID_CONFIG;
    }
    if (op == OP_APPEND || op == OP_SUBTRACT) {
        if (kind != 1) {
            snprintf(msg, msglen, "Config value %s is not allowed for config key: %s",
                     op == OP_APPEND ? "append" : "subtract", key);
            return KF_ERR_INVALID_CONFIG;
        }
        char curbuf[CONFIG_VALUE_MAX];
        int is_override = 0;
        const char *cur = kf_props_get(props, key);
        if (!cur)
            cur = kb_topic_config_value(b->store, t, key, curbuf, sizeof(curbuf), &is_override);
        char res[CONFIG_VALUE_MAX];
        if (list_op(op, cur ? cur : "", val, res, sizeof(res)) < 0) {
            snprintf(msg, msglen, "Value of configuration %s too long", key);
            return KF_ERR_INVALID_CONFIG;
        }
        memcpy(val, res, strlen(res) + 1);
    }
    if (kb_topic_config_check(key, val, msg, msglen) != 0)
        return KF_ERR_INVALID_CONFIG;
    if (kf_props_set(props, key, val) != 0) {
        snprintf(msg, msglen, "out of memory");
        return KF_ERR_UNKNOWN_SERVER_ERROR;
    }
    return 0;
}

/* One resource.  With out == NULL only checks the structure and records
 * the resource in *ref. */
static int inc_one(kb_broker *b, const kb_req *r, kf_rd *rd, int dup, int validate_only,
                   res_ref *ref, kf_buf *out) {
    int flex = r->flex;
    int8_t type = kf_rd_i8(rd);
    const char *name;
    int32_t nlen = kf_rd_str(rd, flex, &name);
    int32_t n = kf_rd_arr(rd, flex, flex ? 3 : 5);
    if (!kf_rd_ok(rd) || nlen < 0 || n < 0)
        return -1;
    ref->type = type;
    ref->name = name;
    ref->len = nlen;
    int act = out != NULL;
    int16_t err = KF_ERR_NONE;
    char msg[MSG_MAX] = "";
    kb_topic *t = NULL;
    char idbuf[16];
    snprintf(idbuf, sizeof(idbuf), "%" PRId32, b->cfg.node_id);
    if (act) {
        if (dup) {
            err = KF_ERR_INVALID_REQUEST;
            snprintf(msg, sizeof(msg), "Each resource may appear only once in a request");
        } else if (type == RES_TOPIC &&
                   !kb_authz(b, r, KB_RES_TOPIC, name, (size_t)nlen, KB_OP_ALTER_CONFIGS)) {
            err = KF_ERR_TOPIC_AUTHORIZATION_FAILED;
            snprintf(msg, sizeof(msg), "Authorization failed.");
        } else if (type == RES_BROKER && !kb_authz_cluster(b, r, KB_OP_ALTER_CONFIGS)) {
            err = KF_ERR_CLUSTER_AUTHORIZATION_FAILED;
            snprintf(msg, sizeof(msg), "Authorization failed.");
        } else if (type == RES_TOPIC) {
            t = kb_store_find(b->store, name, (size_t)nlen);
            if (!t) {
                err = KF_ERR_UNKNOWN_TOPIC_OR_PARTITION;
                snprintf(msg, sizeof(msg), "Topic '%.*s' does not exist.", clip(nlen), name);
            }
        } else if (type == RES_BROKER) {
            if (nlen != 0 &&
                ((size_t)nlen != strlen(idbuf) || memcmp(name, idbuf, (size_t)nlen) != 0)) {
                err = KF_ERR_INVALID_REQUEST;
                snprintf(msg, sizeof(msg),
                         "Unexpected broker id, expected %s or empty string, but received %.*s",
                         idbuf, clip(nlen), name);
            }
        } else {
            err = KF_ERR_INVALID_REQUEST;
            snprintf(msg, sizeof(msg), "unsupported resource type %d", (int)type);
        }
    }
    kf_props props, seen;
    kf_props_init(&props);
    kf_props_init(&seen);
    if (act && t)
        for (size_t i = 0; i < t->overrides.count; i++)
            if (kf_props_set(&props, t->overrides.items[i].key, t->overrides.items[i].value)) {
                err = KF_ERR_UNKNOWN_SERVER_ERROR;
                snprintf(msg, sizeof(msg), "out of memory");
            }
    char readonly[256] = "";
    size_t ro = 0;
    for (int32_t i = 0; i < n; i++) {
        const char *k, *v;
        int32_t klen = kf_rd_str(rd, flex, &k);
        int8_t op = kf_rd_i8(rd);
        int32_t vlen = kf_rd_str(rd, flex, &v);
        kf_rd_tags(rd, flex);
        if (!kf_rd_ok(rd) || klen < 0)
            break;
        if (!act || err)
            continue;
        char key[CONFIG_KEY_MAX + 1];
        if (cstr(k, klen, key, sizeof(key)) < 0) {
            err = KF_ERR_INVALID_CONFIG;
            snprintf(msg, sizeof(msg), "invalid config name '%.*s'", clip(klen), k);
            continue;
        }
        if (kf_props_get(&seen, key)) {
            err = KF_ERR_INVALID_REQUEST;
            snprintf(msg, sizeof(msg), "Error due to duplicate config keys");
            continue;
        }
        (void)kf_props_set(&seen, key, "");
        if (type == RES_BROKER) {
            int w = snprintf(readonly + ro, sizeof(readonly) - ro, "%s%s", ro ? ", " : "", key);
            if (w > 0 && (size_t)w < sizeof(readonly) - ro)
                ro += (size_t)w;
            continue;
        }
        err = apply_op(b, t, &props, key, op, v, vlen, msg, sizeof(msg));
    }
    kf_rd_tags(rd, flex);
    if (!kf_rd_ok(rd)) {
        kf_props_free(&props);
        kf_props_free(&seen);
        return -1;
    }
    if (act) {
        if (!err && type == RES_BROKER && ro) {
            err = KF_ERR_INVALID_REQUEST;
            snprintf(msg, sizeof(msg),
                     "Cannot update these configs dynamically: Set(%s): kferry-broker's "
                     "broker configs are static (edit its config file and restart it)",
                     readonly);
        }
        if (!err && t) {
            /* Every value set above passed kb_topic_config_check, and
             * the kept overrides did when they were stored. */
            if (!validate_only) {
                err = (int16_t)kb_store_alter_configs(b->store, t, &props, msg, sizeof(msg));
                if (!err)
                    kf_info("broker", "%s: altered configs of topic '%s' (%zu override(s))",
                            r->peer ? r->peer : "?", t->name, t->overrides.count);
            }
        }
        kf_wr_i16(out, err);
        kf_wr_cstr(out, flex, err && msg[0] ? msg : NULL);
        kf_wr_i8(out, type);
        kf_wr_str(out, flex, name, nlen);
        kf_wr_tags(out, flex);
    }
    kf_props_free(&props);
    kf_props_free(&seen);
    return 0;
}

int kb_h_incremental_alter_configs(kb_broker *b, kb_req *r, kf_buf *out) {
    int flex = r->flex;
    kf_rd rd;
    kb_req_body(r, &rd);
    int32_t n = kf_rd_arr(&rd, flex, flex ? 3 : 7);
    if (!kf_rd_ok(&rd) || n < 0)
        return KB_CLOSE;
    res_ref *refs = n ? calloc((size_t)n, sizeof(*refs)) : NULL;
    if (n && !refs)
        return KB_CLOSE;
    int rc = KB_CLOSE;
    for (int32_t i = 0; i < n; i++)
        if (inc_one(b, r, &rd, 0, 0, &refs[i], NULL) < 0)
            goto done;
    int validate_only = kf_rd_i8(&rd) != 0;
    kf_rd_tags(&rd, flex);
    if (!kf_rd_ok(&rd))
        goto done;
    kb_req_body(r, &rd);
    (void)kf_rd_arr(&rd, flex, 1);
    kf_wr_i32(out, 0); /* throttle_time_ms */
    kf_wr_arr(out, flex, n);
    for (int32_t i = 0; i < n; i++) {
        int dup = 0;
        for (int32_t j = 0; j < n && !dup; j++)
            dup = j != i && refs[j].type == refs[i].type && refs[j].len == refs[i].len &&
                  !memcmp(refs[j].name, refs[i].name, (size_t)refs[i].len);
        res_ref tmp;
        if (inc_one(b, r, &rd, dup, validate_only, &tmp, out) < 0)
            goto done;
    }
    kf_wr_tags(out, flex);
    rc = KB_OK;
done:
    free(refs);
    return rc;
}
