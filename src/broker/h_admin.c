/*
 * h_admin.c - CreateTopics, DeleteTopics, CreatePartitions, DeleteRecords,
 * DescribeConfigs and AlterConfigs.  Requests whose deciding flag comes last
 * (validate_only, include_synonyms) are parsed twice: once to check the
 * structure and read the flag, then to act and respond, so a malformed
 * request changes nothing.
 *
 * With an authorizer (acl.h), as on Kafka: CreateTopics needs CREATE on
 * the cluster or the topic, DeleteTopics and DeleteRecords DELETE,
 * CreatePartitions ALTER (TOPIC_AUTHORIZATION_FAILED otherwise);
 * DescribeConfigs needs DESCRIBE_CONFIGS and AlterConfigs ALTER_CONFIGS on
 * the topic (TOPIC_AUTHORIZATION_FAILED) or the cluster for the broker
 * resource (CLUSTER_AUTHORIZATION_FAILED).
 */
#include "broker/acl.h"
#include "broker/group.h"
#include "broker/handlers.h"
#include "broker/store.h"
#include "common/log.h"
#include "common/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOPIC_NAME_MAX 249
#define CONFIG_KEY_MAX 255
#define MSG_MAX 512

enum { RES_TOPIC = 2, RES_BROKER = 4 };
enum { SRC_DYNAMIC_TOPIC = 1, SRC_STATIC_BROKER = 4, SRC_DEFAULT = 5 };

static const char *peer(const kb_req *r) { return r->peer ? r->peer : "?"; }

/* Copies a wire string into a NUL-terminated buffer; 0, or -1 if it does
 * not fit, is null or holds a NUL byte. */
static int cstr(const char *s, int32_t len, char *dst, size_t dstlen) {
    if (len < 0 || (size_t)len >= dstlen || (len && memchr(s, '\0', (size_t)len)))
        return -1;
    memcpy(dst, s, (size_t)len);
    dst[len] = '\0';
    return 0;
}

/* For messages: a wire string's length clipped to something printable. */
static int clip(int32_t len) {
    return len < 0 ? 0 : len > TOPIC_NAME_MAX ? TOPIC_NAME_MAX : (int)len;
}

/* Writes a nullable error message: null on success, as Kafka does. */
static void wr_msg(kf_buf *out, int16_t err, const char *msg) {
    kf_wr_cstr(out, 0, err && msg && *msg ? msg : NULL);
}

/* A topic's result: name, error and, unless msg is NULL, the message. */
static void wr_topic_result(kf_buf *out, const char *name, int32_t nlen, int16_t err,
                            const char *msg) {
    kf_wr_str(out, 0, name, nlen);
    kf_wr_i16(out, err);
    if (msg)
        wr_msg(out, err, msg);
}

/* A config resource's result head: error, message, type and name. */
static void wr_resource_result(kf_buf *out, int16_t err, const char *msg, int8_t type,
                               const char *name, int32_t nlen) {
    kf_wr_i16(out, err);
    wr_msg(out, err, msg);
    kf_wr_i8(out, type);
    kf_wr_str(out, 0, name, nlen);
}

typedef struct name_ref {
    const char *s;
    int32_t len;
    int32_t idx;
} name_ref;

static int name_cmp(const void *a, const void *b) {
    const name_ref *x = a, *y = b;
    int32_t n = x->len < y->len ? x->len : y->len;
    int c = n > 0 ? memcmp(x->s, y->s, (size_t)n) : 0;
    if (c)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* Sets dup[i] for every entry whose name occurs more than once (Kafka
 * answers each of them with INVALID_REQUEST). Sorts names. */
static void mark_dups(name_ref *names, int32_t n, uint8_t *dup) {
    if (n < 2)
        return;
    qsort(names, (size_t)n, sizeof(*names), name_cmp);
    for (int32_t i = 1; i < n; i++)
        if (!name_cmp(&names[i - 1], &names[i]))
            dup[names[i - 1].idx] = dup[names[i].idx] = 1;
}

/* Restarts reading the request body after its top-level array count. */
static void rewind_body(const kb_req *r, kf_rd *rd) {
    kb_req_body(r, rd);
    (void)kf_rd_arr(rd, 0, 1);
}

/* One entry of a request whose entries are named topics: parses the entry
 * from rd; with out == NULL only checks the structure, otherwise acts and
 * writes its response. dup marks a name given more than once. 0 or -1. */
typedef int (*named_one_fn)(kb_broker *b, const kb_req *r, kf_rd *rd, int dup, int validate_only,
                            kf_buf *out);

/* CreateTopics / CreatePartitions: entries[] (each at least min_elem bytes),
 * timeout_ms, validate_only (when has_validate) -> throttle (when
 * has_throttle), results[].  Pass 1 checks the structure, collects the names
 * (for duplicates) and reads validate_only; pass 2 acts and responds. */
static int named_two_pass(kb_broker *b, kb_req *r, kf_buf *out, size_t min_elem, named_one_fn one,
                          int has_validate, int has_throttle) {
    kf_rd rd;
    kb_req_body(r, &rd);
    int32_t n = kf_rd_arr(&rd, 0, min_elem);
    if (!kf_rd_ok(&rd) || n < 0)
        return KB_CLOSE;
    name_ref *names = calloc((size_t)n + 1, sizeof(*names));
    uint8_t *dup = calloc((size_t)n + 1, 1);
    int rc = KB_CLOSE;
    if (!names || !dup)
        goto done;
    for (int32_t i = 0; i < n; i++) {
        kf_rd at = rd;
        names[i].len = kf_rd_str(&at, 0, &names[i].s);
        names[i].idx = i;
        if (one(b, r, &rd, 0, 0, NULL) < 0)
            goto done;
    }
    (void)kf_rd_i32(&rd); /* timeout_ms: the work is synchronous */
    int validate_only = has_validate ? kf_rd_i8(&rd) != 0 : 0;
    if (!kf_rd_ok(&rd))
        goto done;
    mark_dups(names, n, dup);

    rewind_body(r, &rd);
    if (has_throttle)
        kf_wr_i32(out, 0); /* throttle_time_ms */
    kf_wr_arr(out, 0, n);
    for (int32_t i = 0; i < n; i++)
        if (one(b, r, &rd, dup[i], validate_only, out) < 0)
            goto done;
    rc = KB_OK;
done:
    free(names);
    free(dup);
    return rc;
}

/* Reads one replica list; an assignment must name exactly this broker, the
 * only one. Returns 1 if it does. */
static int read_replicas(kb_broker *b, kf_rd *rd) {
    int32_t n = kf_rd_arr(rd, 0, 4);
    int ok = n == 1;
    for (int32_t i = 0; i < n && kf_rd_ok(rd); i++)
        if (kf_rd_i32(rd) != b->cfg.node_id)
            ok = 0;
    return ok;
}

/* Reads a configs array [name, nullable value] into props when props is
 * non-NULL and *err is 0, checking each pair. null_err is the error for a
 * null value. */
static void read_configs(kf_rd *rd, kf_props *props, int16_t null_err, int16_t *err, char *msg,
                         size_t msglen) {
    int32_t n = kf_rd_arr(rd, 0, 2 + 2);
    for (int32_t i = 0; i < n && kf_rd_ok(rd); i++) {
        const char *k, *v;
        int32_t klen = kf_rd_str(rd, 0, &k);
        int32_t vlen = kf_rd_str(rd, 0, &v);
        if (!kf_rd_ok(rd) || !props || *err)
            continue;
        char key[CONFIG_KEY_MAX + 1];
        if (cstr(k, klen, key, sizeof(key)) < 0) {
            *err = KF_ERR_INVALID_CONFIG;
            snprintf(msg, msglen, "invalid config name '%.*s'", clip(klen), k ? k : "");
            continue;
        }
        if (vlen < 0) {
            *err = null_err;
            snprintf(msg, msglen, "Null value not supported for topic config '%s'", key);
            continue;
        }
        if (vlen > 0 && memchr(v, '\0', (size_t)vlen)) {
            *err = KF_ERR_INVALID_CONFIG;
            snprintf(msg, msglen, "invalid value for config '%s'", key);
            continue;
        }
        char *val = kf_strndup(v, (size_t)vlen);
        if (!val) {
            *err = KF_ERR_UNKNOWN_SERVER_ERROR;
            snprintf(msg, msglen, "out of memory");
        } else if (kb_topic_config_check(key, val, msg, msglen) != 0) {
            *err = KF_ERR_INVALID_CONFIG;
        } else if (kf_props_set(props, key, val) != 0) {
            *err = KF_ERR_UNKNOWN_SERVER_ERROR;
            snprintf(msg, msglen, "out of memory");
        }
        free(val);
    }
}

/* Initializes *configs and, when act, reads the configs array into it (see
 * read_configs).  -1, with configs freed, if the request is malformed. */
static int parse_configs(kf_rd *rd, int act, kf_props *configs, int16_t null_err, int16_t *err,
                         char *msg, size_t msglen) {
    kf_props_init(configs);
    read_configs(rd, act ? configs : NULL, null_err, err, msg, msglen);
    if (!kf_rd_ok(rd)) {
        kf_props_free(configs);
        return -1;
    }
    return 0;
}

/* The topic a RES_TOPIC resource names; NULL, with err and msg set, if it
 * does not exist. */
static kb_topic *resource_topic(kb_broker *b, const char *name, int32_t nlen, int16_t *err,
                                char *msg, size_t msglen) {
    kb_topic *t = kb_store_find(b->store, name, (size_t)nlen);
    if (!t) {
        *err = KF_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        snprintf(msg, msglen, "Topic '%.*s' does not exist.", clip(nlen), name);
    }
    return t;
}

/* A resource of a type other than topic or broker. */
static void unsupported_type(int8_t type, int16_t *err, char *msg, size_t msglen) {
    *err = KF_ERR_INVALID_REQUEST;
    snprintf(msg, msglen, "unsupported resource type %d", (int)type);
}

/* ------------------------------------------------------------------------
 * CreateTopics v0-4: topics[name, num_partitions, replication_factor,
 * assignments[partition, broker_ids[]], configs[name, value]], timeout_ms,
 * validate_only (v1+)  ->  throttle (v2+), topics[name, error, message (v1+)]
 */

/* One topic entry. With out == NULL only checks the structure. */
static int create_one(kb_broker *b, const kb_req *r, kf_rd *rd, int dup, int validate_only,
                      kf_buf *out) {
    const char *name;
    int32_t nlen = kf_rd_str(rd, 0, &name);
    int32_t nparts = kf_rd_i32(rd);
    int16_t rf = kf_rd_i16(rd);
    int32_t nassign = kf_rd_arr(rd, 0, 4 + 4);
    if (!kf_rd_ok(rd) || nlen < 0)
        return -1;
    int act = out != NULL;
    int16_t err = KF_ERR_NONE;
    char msg[MSG_MAX] = "";
    char cname[TOPIC_NAME_MAX + 1] = "";
    if (act) {
        if (dup) {
            err = KF_ERR_INVALID_REQUEST;
            snprintf(msg, sizeof(msg), "topic '%.*s' appears more than once in the request",
                     clip(nlen), name);
        } else if (!kb_authz_cluster(b, r, KB_OP_CREATE) &&
                   !kb_authz(b, r, KB_RES_TOPIC, name, (size_t)nlen, KB_OP_CREATE)) {
            err = KF_ERR_TOPIC_AUTHORIZATION_FAILED;
            snprintf(msg, sizeof(msg), "Authorization failed.");
        } else if (cstr(name, nlen, cname, sizeof(cname)) < 0 ||
                   !kb_topic_name_valid(name, (size_t)nlen)) {
            err = KF_ERR_INVALID_TOPIC_EXCEPTION;
            snprintf(msg, sizeof(msg),
                     "topic name '%.*s' is illegal: it must be 1-249 characters "
                     "of ASCII letters, digits, '.', '_' and '-', and not '.' or '..'",
                     clip(nlen), name);
        } else if (kb_store_find(b->store, name, (size_t)nlen)) {
            err = KF_ERR_TOPIC_ALREADY_EXISTS;
            snprintf(msg, sizeof(msg), "Topic '%s' already exists.", cname);
        } else if (nassign > 0 && (nparts != -1 || rf != -1)) {
            err = KF_ERR_INVALID_REQUEST;
            snprintf(msg, sizeof(msg),
                     "both numPartitions or replicationFactor and "
                     "replicasAssignments were set; only one can be used");
        }
    }
    /* Manual assignment: partitions 0..n-1, each once, on this broker. */
    uint8_t *seen = NULL;
    if (act && !err && nassign > 0 && !(seen = calloc((size_t)nassign, 1))) {
        err = KF_ERR_UNKNOWN_SERVER_ERROR;
        snprintf(msg, sizeof(msg), "out of memory");
    }
    for (int32_t i = 0; i < nassign && kf_rd_ok(rd); i++) {
        int32_t pidx = kf_rd_i32(rd);
        int ok = read_replicas(b, rd);
        if (!seen || err)
            continue;
        if (pidx < 0 || pidx >= nassign || seen[pidx]) {
            err = KF_ERR_INVALID_REPLICA_ASSIGNMENT;
            snprintf(msg, sizeof(msg),
                     "the replica assignment must list partitions 0..%" PRId32 " once each",
                     nassign - 1);
        } else if (!ok) {
            err = KF_ERR_INVALID_REPLICA_ASSIGNMENT;
            snprintf(msg, sizeof(msg),
                     "the replicas of partition %" PRId32 " must be exactly [%" PRId32
                     "]: this cluster has one broker",
                     pidx, b->cfg.node_id);
        } else {
            seen[pidx] = 1;
        }
    }
    free(seen);

    if (act && !err) {
        if (nassign > 0) {
            nparts = nassign;
        } else {
            if (nparts == -1)
                nparts = b->cfg.num_partitions;
            if (rf == -1)
                rf = b->cfg.default_replication_factor;
            if (nparts <= 0) {
                err = KF_ERR_INVALID_PARTITIONS;
                snprintf(msg, sizeof(msg), "Number of partitions must be larger than 0.");
            } else if (nparts > b->cfg.max_partitions_per_topic) {
                err = KF_ERR_INVALID_PARTITIONS;
                snprintf(msg, sizeof(msg),
                         "%" PRId32 " partitions exceeds this broker's limit of %d", nparts,
                         b->cfg.max_partitions_per_topic);
            } else if (rf <= 0) {
                err = KF_ERR_INVALID_REPLICATION_FACTOR;
                snprintf(msg, sizeof(msg), "Replication factor must be larger than 0.");
            } else if (rf > 1) {
                err = KF_ERR_INVALID_REPLICATION_FACTOR;
                snprintf(msg, sizeof(msg), "replication factor %d larger than available brokers: 1",
                         (int)rf);
            }
        }
    }

    kf_props configs;
    if (parse_configs(rd, act, &configs, KF_ERR_INVALID_CONFIG, &err, msg, sizeof(msg)) < 0)
        return -1;
    if (act) {
        if (!err && !validate_only) {
            kb_topic *t = NULL;
            msg[0] = '\0';
            err = (int16_t)kb_store_create(b->store, cname, nparts, &configs, &t, msg, sizeof(msg));
            if (err)
                kf_warn("broker", "%s: creating topic '%s' failed: %s %s", peer(r), cname,
                        kf_err_name(err), msg);
            else
                kf_info("broker", "%s: created topic '%s' with %" PRId32 " partition(s)", peer(r),
                        cname, nparts);
        }
        wr_topic_result(out, name, nlen, err, r->api_version >= 1 ? msg : NULL);
    }
    kf_props_free(&configs);
    return 0;
}

int kb_h_create_topics(kb_broker *b, kb_req *r, kf_buf *out) {
    return named_two_pass(b, r, out, 2 + 4 + 2 + 4 + 4, create_one, r->api_version >= 1,
                          r->api_version >= 2);
}

/* ------------------------------------------------------------------------
 * DeleteTopics v0-3: names[], timeout_ms -> throttle (v1+), [name, error]
 */
int kb_h_delete_topics(kb_broker *b, kb_req *r, kf_buf *out) {
    kf_rd rd;
    kb_req_body(r, &rd);
    int32_t n = kf_rd_arr(&rd, 0, 2);
    if (!kf_rd_ok(&rd) || n < 0)
        return KB_CLOSE;
    if (r->api_version >= 1)
        kf_wr_i32(out, 0); /* throttle_time_ms */
    kf_wr_arr(out, 0, n);
    int deleted = 0;
    for (int32_t i = 0; i < n; i++) {
        const char *name;
        int32_t len = kf_rd_str(&rd, 0, &name);
        if (!kf_rd_ok(&rd) || len < 0)
            return KB_CLOSE;
        char cname[TOPIC_NAME_MAX + 1];
        int16_t err = KF_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        kb_topic *t = kb_store_find(b->store, name, (size_t)len);
        if (!kb_authz(b, r, KB_RES_TOPIC, name, (size_t)len, KB_OP_DELETE)) {
            err = KF_ERR_TOPIC_AUTHORIZATION_FAILED;
        } else if (t && t->internal) {
            /* The group coordinator depends on internal topics. */
            kf_warn("broker", "%s: refusing to delete internal topic '%s'", peer(r), t->name);
            err = KF_ERR_INVALID_REQUEST;
        } else if (t && cstr(name, len, cname, sizeof(cname)) == 0) {
            err = (int16_t)kb_store_delete(b->store, name, (size_t)len);
            if (!err) {
                deleted++;
                kf_info("broker", "%s: deleted topic '%s'", peer(r), cname);
                if (b->groups)
                    kb_groups_topic_deleted(b->groups, cname);
            }
        }
        kf_wr_str(out, 0, name, len);
        kf_wr_i16(out, err);
    }
    (void)kf_rd_i32(&rd); /* timeout_ms */
    if (deleted)
        kb_broker_wake(b); /* parked fetches on those topics answer now */
    return KB_OK;
}

/* ------------------------------------------------------------------------
 * CreatePartitions v0-1: topics[name, count, assignments[broker_ids[]]
 * (nullable)], timeout_ms, validate_only -> throttle, [name, error, message]
 */
static int partitions_one(kb_broker *b, const kb_req *r, kf_rd *rd, int dup, int validate_only,
                          kf_buf *out) {
    const char *name;
    int32_t nlen = kf_rd_str(rd, 0, &name);
    int32_t count = kf_rd_i32(rd);
    int32_t nassign = kf_rd_arr(rd, 0, 4);
    if (!kf_rd_ok(rd) || nlen < 0)
        return -1;
    int act = out != NULL;
    int16_t err = KF_ERR_NONE;
    char msg[MSG_MAX] = "";
    kb_topic *t = NULL;
    if (act) {
        t = kb_store_find(b->store, name, (size_t)nlen);
        if (dup) {
            err = KF_ERR_INVALID_REQUEST;
            snprintf(msg, sizeof(msg), "topic '%.*s' appears more than once in the request",
                     clip(nlen), name);
        } else if (!kb_authz(b, r, KB_RES_TOPIC, name, (size_t)nlen, KB_OP_ALTER)) {
            err = KF_ERR_TOPIC_AUTHORIZATION_FAILED;
            snprintf(msg, sizeof(msg), "Authorization failed.");
        } else if (!t) {
            err = KF_ERR_UNKNOWN_TOPIC_OR_PARTITION;
            snprintf(msg, sizeof(msg), "The topic '%.*s' does not exist.", clip(nlen), name);
        } else if (count == t->nparts) {
            err = KF_ERR_INVALID_PARTITIONS;
            snprintf(msg, sizeof(msg), "Topic already has %" PRId32 " partitions.", t->nparts);
        } else if (count < t->nparts) {
            err = KF_ERR_INVALID_PARTITIONS;
            snprintf(msg, sizeof(msg),
                     "Topic currently has %" PRId32 " partitions, which is "
                     "higher than the requested %" PRId32 ".",
                     t->nparts, count);
        } else if (count > b->cfg.max_partitions_per_topic) {
            err = KF_ERR_INVALID_PARTITIONS;
            snprintf(msg, sizeof(msg), "%" PRId32 " partitions exceeds this broker's limit of %d",
                     count, b->cfg.max_partitions_per_topic);
        } else if (nassign >= 0 && nassign != count - t->nparts) {
            err = KF_ERR_INVALID_REPLICA_ASSIGNMENT;
            snprintf(msg, sizeof(msg),
                     "Increasing the number of partitions by %" PRId32 " but %" PRId32
                     " assignments provided.",
                     count - t->nparts, nassign);
        }
    }
    for (int32_t i = 0; i < nassign && kf_rd_ok(rd); i++) {
        if (!read_replicas(b, rd) && act && !err) {
            err = KF_ERR_INVALID_REPLICA_ASSIGNMENT;
            snprintf(msg, sizeof(msg),
                     "replicas of new partitions must be exactly [%" PRId32
                     "]: this cluster has one broker",
                     b->cfg.node_id);
        }
    }
    if (!kf_rd_ok(rd))
        return -1;
    if (act) {
        if (!err && !validate_only) {
            msg[0] = '\0';
            int32_t before = t->nparts;
            err = (int16_t)kb_store_add_partitions(b->store, t, count, msg, sizeof(msg));
            if (!err)
                kf_info("broker", "%s: topic '%s' grown from %" PRId32 " to %" PRId32 " partitions",
                        peer(r), t->name, before, count);
        }
        wr_topic_result(out, name, nlen, err, msg);
    }
    return 0;
}

int kb_h_create_partitions(kb_broker *b, kb_req *r, kf_buf *out) {
    return named_two_pass(b, r, out, 2 + 4 + 4, partitions_one, 1, 1);
}

/* ------------------------------------------------------------------------
 * DeleteRecords v0-1: topics[name, partitions[index, offset]], timeout_ms
 * -> throttle, topics[name, partitions[index, low_watermark, error]]
 */
int kb_h_delete_records(kb_broker *b, kb_req *r, kf_buf *out) {
    kf_rd rd;
    kb_req_body(r, &rd);
    int32_t nt = kf_rd_arr(&rd, 0, 2 + 4);
    if (!kf_rd_ok(&rd) || nt < 0)
        return KB_CLOSE;
    kf_wr_i32(out, 0); /* throttle_time_ms */
    kf_wr_arr(out, 0, nt);
    int changed = 0;
    for (int32_t i = 0; i < nt; i++) {
        const char *name;
        int32_t len = kf_rd_str(&rd, 0, &name);
        int32_t np = kf_rd_arr(&rd, 0, 4 + 8);
        if (!kf_rd_ok(&rd) || len < 0 || np < 0)
            return KB_CLOSE;
        int denied = !kb_authz(b, r, KB_RES_TOPIC, name, (size_t)len, KB_OP_DELETE);
        kb_topic *t = denied ? NULL : kb_store_find(b->store, name, (size_t)len);
        kf_wr_str(out, 0, name, len);
        kf_wr_arr(out, 0, np);
        for (int32_t j = 0; j < np; j++) {
            int32_t idx = kf_rd_i32(&rd);
            int64_t off = kf_rd_i64(&rd);
            if (!kf_rd_ok(&rd))
                return KB_CLOSE;
            int16_t err =
                denied ? KF_ERR_TOPIC_AUTHORIZATION_FAILED : KF_ERR_UNKNOWN_TOPIC_OR_PARTITION;
            int64_t low = -1;
            if (t && idx >= 0 && idx < t->nparts && t->parts[idx]) {
                kb_part *p = t->parts[idx];
                err =
                    off < -1 ? KF_ERR_OFFSET_OUT_OF_RANGE : (int16_t)kb_part_delete_records(p, off);
                if (!err) {
                    low = kb_part_log_start(p);
                    changed = 1;
                }
            }
            kf_wr_i32(out, idx);
            kf_wr_i64(out, low);
            kf_wr_i16(out, err);
        }
    }
    (void)kf_rd_i32(&rd); /* timeout_ms */
    if (changed)
        kb_broker_wake(b); /* parked fetches below the new log start answer now */
    return KB_OK;
}

/* ------------------------------------------------------------------------
 * DescribeConfigs v0-2: resources[type, name, config_names[] (nullable)],
 * include_synonyms (v1+) -> throttle, results[error, message, type, name,
 * configs[name, value, read_only, is_default (v0), source (v1+),
 * is_sensitive, synonyms (v1+)[name, value, source]]]
 */

typedef struct dc_ctx {
    kb_broker *b;
    const kb_req *r;
    int16_t version;
    int synonyms;
    kf_rd names;    /* positioned at the config_names elements */
    int32_t nnames; /* -1 = all */
    kf_buf *out;
    int32_t count;
} dc_ctx;

static int wanted(const dc_ctx *c, const char *key) {
    if (c->nnames < 0)
        return 1;
    kf_rd rd = c->names;
    size_t klen = strlen(key);
    for (int32_t i = 0; i < c->nnames; i++) {
        const char *s;
        int32_t len = kf_rd_str(&rd, 0, &s);
        if (!kf_rd_ok(&rd))
            return 0;
        if (len >= 0 && (size_t)len == klen && !memcmp(s, key, klen))
            return 1;
    }
    return 0;
}

typedef struct synonym {
    const char *name;
    const char *value;
    int8_t source;
} synonym;

static void wr_config(dc_ctx *c, const char *name, const char *value, int read_only, int8_t source,
                      int sensitive, const synonym *syn, int nsyn) {
    kf_buf *out = c->out;
    kf_wr_cstr(out, 0, name);
    kf_wr_cstr(out, 0, sensitive ? NULL : value);
    kf_wr_i8(out, (int8_t)read_only);
    if (c->version == 0)
        kf_wr_i8(out, source == SRC_DEFAULT);
    else
        kf_wr_i8(out, source);
    kf_wr_i8(out, (int8_t)sensitive);
    if (c->version >= 1) {
        int n = c->synonyms ? nsyn : 0;
        kf_wr_arr(out, 0, n);
        for (int i = 0; i < n; i++) {
            kf_wr_cstr(out, 0, syn[i].name);
            kf_wr_cstr(out, 0, sensitive ? NULL : syn[i].value);
            kf_wr_i8(out, syn[i].source);
        }
    }
    c->count++;
}

static const char *raw_value(kb_broker *b, const char *key) {
    kf_prop *p = key ? kf_props_find(&b->cfg.raw, key) : NULL;
    return p ? p->value : NULL;
}

static void describe_topic(dc_ctx *c, kb_topic *t) {
    size_t n;
    const kb_topic_config_desc *d = kb_topic_config_descs(&n);
    for (size_t i = 0; i < n; i++) {
        if (!wanted(c, d[i].name))
            continue;
        char buf[256];
        int is_override = 0;
        const char *v =
            kb_topic_config_value(c->b->store, t, d[i].name, buf, sizeof(buf), &is_override);
        const char *broker_val = raw_value(c->b, d[i].broker_key);
        int8_t src = is_override ? SRC_DYNAMIC_TOPIC : broker_val ? SRC_STATIC_BROKER : SRC_DEFAULT;
        synonym syn[3];
        int ns = 0;
        if (is_override)
            syn[ns++] = (synonym){d[i].name, v, SRC_DYNAMIC_TOPIC};
        if (broker_val)
            syn[ns++] = (synonym){d[i].broker_key, broker_val, SRC_STATIC_BROKER};
        if (!ns)
            syn[ns++] = (synonym){d[i].broker_key ? d[i].broker_key : d[i].name, v, SRC_DEFAULT};
        wr_config(c, d[i].name, v, 0, src, d[i].sensitive, syn, ns);
    }
}

static int sensitive_key(const char *k) {
    return strstr(k, "password") || strstr(k, "secret") || strstr(k, "jaas") ||
           strstr(k, "credential");
}

static void broker_entry(dc_ctx *c, const char *key, const char *value) {
    if (!wanted(c, key))
        return;
    const char *raw = raw_value(c->b, key);
    int8_t src = raw ? SRC_STATIC_BROKER : SRC_DEFAULT;
    synonym syn = {key, value, src};
    wr_config(c, key, value, 1, src, sensitive_key(key), &syn, 1);
}

static void broker_num(dc_ctx *c, const char *key, int64_t v) {
    char buf[32];
    snprintf(buf, sizeof(buf), "%" PRId64, v);
    broker_entry(c, key, buf);
}

static const char *const broker_keys[] = {
    "broker.id",
    "node.id",
    "listeners",
    "advertised.listeners",
    "log.dirs",
    "cluster.id",
    "num.partitions",
    "auto.create.topics.enable",
    "default.replication.factor",
    "log.segment.bytes",
    "log.roll.ms",
    "log.retention.ms",
    "log.retention.bytes",
    "log.retention.check.interval.ms",
    "log.flush.interval.messages",
    "log.flush.interval.ms",
    "log.index.interval.bytes",
    "log.index.size.max.bytes",
    "message.max.bytes",
    "socket.request.max.bytes",
    "group.min.session.timeout.ms",
    "group.max.session.timeout.ms",
    "group.initial.rebalance.delay.ms",
    "offsets.retention.minutes",
    "max.connections",
    "log.cleanup.policy",
    "log.cleaner.enable",
    "log.cleaner.backoff.ms",
    "log.cleaner.min.cleanable.ratio",
    "log.cleaner.min.compaction.lag.ms",
    "log.cleaner.max.compaction.lag.ms",
    "log.cleaner.delete.retention.ms",
};

static void describe_broker(dc_ctx *c) {
    const kb_config *k = &c->b->cfg;
    char buf[512];
    broker_num(c, "broker.id", k->node_id);
    broker_num(c, "node.id", k->node_id);
    char adv[512], map[512];
    size_t o = 0, oa = 0, om = 0;
    buf[0] = adv[0] = map[0] = '\0';
    for (size_t i = 0; i < k->listeners.n; i++) {
        const kb_listener *l = &k->listeners.l[i];
        const char *sep = i ? "," : "";
        int n = snprintf(buf + o, sizeof(buf) - o, "%s%s://%s:%d", sep, l->name, l->host, l->port);
        o = n > 0 && (size_t)n < sizeof(buf) - o ? o + (size_t)n : o;
        n = snprintf(adv + oa, sizeof(adv) - oa, "%s%s://%s:%d", sep, l->name, l->adv_host,
                     l->adv_port);
        oa = n > 0 && (size_t)n < sizeof(adv) - oa ? oa + (size_t)n : oa;
        n = snprintf(map + om, sizeof(map) - om, "%s%s:%s", sep, l->name, kb_proto_name(l->proto));
        om = n > 0 && (size_t)n < sizeof(map) - om ? om + (size_t)n : om;
    }
    if (k->listeners.n == 0) {
        snprintf(buf, sizeof(buf), "PLAINTEXT://%s:%d", k->listen_host, k->listen_port);
        snprintf(adv, sizeof(adv), "PLAINTEXT://%s:%d", k->advertised_host, k->advertised_port);
        snprintf(map, sizeof(map), "PLAINTEXT:PLAINTEXT");
    }
    broker_entry(c, "listeners", buf);
    broker_entry(c, "advertised.listeners", adv);
    broker_entry(c, "listener.security.protocol.map", map);
    broker_entry(c, "log.dirs", k->data_dir);
    broker_entry(c, "cluster.id", k->cluster_id);
    broker_num(c, "num.partitions", k->num_partitions);
    broker_entry(c, "auto.create.topics.enable", k->auto_create_topics ? "true" : "false");
    broker_num(c, "default.replication.factor", k->default_replication_factor);
    broker_num(c, "log.segment.bytes", k->segment_bytes);
    broker_num(c, "log.roll.ms", k->segment_ms);
    broker_num(c, "log.retention.ms", k->retention_ms);
    broker_num(c, "log.retention.bytes", k->retention_bytes);
    broker_num(c, "log.retention.check.interval.ms", k->retention_check_ms);
    broker_num(c, "log.flush.interval.messages", k->flush_messages);
    broker_num(c, "log.flush.interval.ms", k->flush_ms);
    broker_num(c, "log.index.interval.bytes", k->index_interval_bytes);
    broker_num(c, "log.index.size.max.bytes", k->index_max_bytes);
    broker_num(c, "message.max.bytes", k->message_max_bytes);
    broker_num(c, "socket.request.max.bytes", k->socket_request_max_bytes);
    broker_num(c, "group.min.session.timeout.ms", k->group_min_session_ms);
    broker_num(c, "group.max.session.timeout.ms", k->group_max_session_ms);
    broker_num(c, "group.initial.rebalance.delay.ms", k->group_initial_rebalance_delay_ms);
    broker_num(c, "offsets.retention.minutes", k->offsets_retention_ms / 60000);
    broker_num(c, "max.connections", k->max_connections);
    broker_entry(c, "log.cleanup.policy",
                 k->cleanup_policy == 3   ? "compact,delete"
                 : k->cleanup_policy == 2 ? "compact"
                                          : "delete");
    broker_entry(c, "log.cleaner.enable", k->cleaner_enable ? "true" : "false");
    broker_num(c, "log.cleaner.backoff.ms", k->cleaner_backoff_ms);
    snprintf(buf, sizeof(buf), "%g", k->cleaner_min_ratio);
    broker_entry(c, "log.cleaner.min.cleanable.ratio", buf);
    broker_num(c, "log.cleaner.min.compaction.lag.ms", k->min_compact_lag_ms);
    broker_num(c, "log.cleaner.max.compaction.lag.ms", k->max_compact_lag_ms);
    broker_num(c, "log.cleaner.delete.retention.ms", k->delete_retention_ms);
    /* Anything else the config file set, as written. */
    const kf_props *raw = &k->raw;
    for (size_t i = 0; i < raw->count; i++) {
        const char *key = raw->items[i].key;
        int known = 0;
        for (size_t j = 0; j < sizeof(broker_keys) / sizeof(broker_keys[0]) && !known; j++)
            known = !strcmp(key, broker_keys[j]);
        for (size_t j = 0; j < i && !known; j++) /* later duplicates: report once */
            known = !strcmp(key, raw->items[j].key);
        if (!known)
            broker_entry(c, key, raw_value(c->b, key));
    }
}

/* One resource. With c->out == NULL only checks the structure. */
static int describe_one(dc_ctx *c, kf_rd *rd) {
    int8_t type = kf_rd_i8(rd);
    const char *name;
    int32_t nlen = kf_rd_str(rd, 0, &name);
    c->nnames = kf_rd_arr(rd, 0, 2);
    c->names = *rd;
    for (int32_t i = 0; i < c->nnames && kf_rd_ok(rd); i++) {
        const char *s;
        (void)kf_rd_str(rd, 0, &s);
    }
    if (!kf_rd_ok(rd) || nlen < 0)
        return -1;
    if (!c->out)
        return 0;
    kf_buf *out = c->out;
    kb_broker *b = c->b;
    int16_t err = KF_ERR_NONE;
    char msg[MSG_MAX] = "";
    kb_topic *t = NULL;
    char idbuf[16];
    snprintf(idbuf, sizeof(idbuf), "%" PRId32, b->cfg.node_id);
    if (type == RES_TOPIC &&
        !kb_authz(b, c->r, KB_RES_TOPIC, name, (size_t)nlen, KB_OP_DESCRIBE_CONFIGS)) {
        err = KF_ERR_TOPIC_AUTHORIZATION_FAILED;
        snprintf(msg, sizeof(msg), "Authorization failed.");
    } else if (type == RES_BROKER && !kb_authz_cluster(b, c->r, KB_OP_DESCRIBE_CONFIGS)) {
        err = KF_ERR_CLUSTER_AUTHORIZATION_FAILED;
        snprintf(msg, sizeof(msg), "Authorization failed.");
    } else if (type == RES_TOPIC) {
        t = resource_topic(b, name, nlen, &err, msg, sizeof(msg));
    } else if (type == RES_BROKER) {
        if (nlen != 0 && ((size_t)nlen != strlen(idbuf) || memcmp(name, idbuf, (size_t)nlen))) {
            err = KF_ERR_INVALID_REQUEST;
            snprintf(msg, sizeof(msg),
                     "Unexpected broker id, expected %s or empty string, but "
                     "received %.*s",
                     idbuf, clip(nlen), name);
        }
    } else {
        unsupported_type(type, &err, msg, sizeof(msg));
    }
    wr_resource_result(out, err, msg, type, name, nlen);
    size_t count_pos = kf_wr_reserve_i32(out);
    c->count = 0;
    if (!err && type == RES_TOPIC)
        describe_topic(c, t);
    else if (!err)
        describe_broker(c);
    kf_wr_patch_i32(out, count_pos, c->count);
    return 0;
}

int kb_h_describe_configs(kb_broker *b, kb_req *r, kf_buf *out) {
    kf_rd rd;
    kb_req_body(r, &rd);
    dc_ctx c = {.b = b, .r = r, .version = r->api_version};
    int32_t n = kf_rd_arr(&rd, 0, 1 + 2 + 4);
    if (!kf_rd_ok(&rd) || n < 0)
        return KB_CLOSE;
    for (int32_t i = 0; i < n; i++)
        if (describe_one(&c, &rd) < 0)
            return KB_CLOSE;
    c.synonyms = r->api_version >= 1 ? kf_rd_i8(&rd) != 0 : 0;
    if (!kf_rd_ok(&rd))
        return KB_CLOSE;

    rewind_body(r, &rd);
    c.out = out;
    kf_wr_i32(out, 0); /* throttle_time_ms */
    kf_wr_arr(out, 0, n);
    for (int32_t i = 0; i < n; i++)
        if (describe_one(&c, &rd) < 0)
            return KB_CLOSE;
    return KB_OK;
}

/* ------------------------------------------------------------------------
 * AlterConfigs v0-1: resources[type, name, configs[name, value]],
 * validate_only -> throttle, responses[error, message, type, name].
 * Non-incremental: the given set replaces the topic's overrides.
 */
static int alter_one(kb_broker *b, const kb_req *r, kf_rd *rd, int validate_only, kf_buf *out) {
    int8_t type = kf_rd_i8(rd);
    const char *name;
    int32_t nlen = kf_rd_str(rd, 0, &name);
    if (!kf_rd_ok(rd) || nlen < 0)
        return -1;
    int act = out != NULL;
    int16_t err = KF_ERR_NONE;
    char msg[MSG_MAX] = "";
    kb_topic *t = NULL;
    if (act) {
        if (type == RES_TOPIC &&
            !kb_authz(b, r, KB_RES_TOPIC, name, (size_t)nlen, KB_OP_ALTER_CONFIGS)) {
            err = KF_ERR_TOPIC_AUTHORIZATION_FAILED;
            snprintf(msg, sizeof(msg), "Authorization failed.");
        } else if (type == RES_BROKER && !kb_authz_cluster(b, r, KB_OP_ALTER_CONFIGS)) {
            err = KF_ERR_CLUSTER_AUTHORIZATION_FAILED;
            snprintf(msg, sizeof(msg), "Authorization failed.");
        } else if (type == RES_TOPIC) {
            t = resource_topic(b, name, nlen, &err, msg, sizeof(msg));
        } else if (type == RES_BROKER) {
            err = KF_ERR_INVALID_REQUEST;
            snprintf(msg, sizeof(msg),
                     "broker configs are static: edit the broker's config "
                     "file and restart it");
        } else {
            unsupported_type(type, &err, msg, sizeof(msg));
        }
    }
    kf_props configs;
    if (parse_configs(rd, act, &configs, KF_ERR_INVALID_REQUEST, &err, msg, sizeof(msg)) < 0)
        return -1;
    if (act) {
        if (!err && !validate_only) {
            msg[0] = '\0';
            err = (int16_t)kb_store_alter_configs(b->store, t, &configs, msg, sizeof(msg));
            if (!err)
                kf_info("broker", "%s: replaced configs of topic '%s' (%zu override(s))", peer(r),
                        t->name, configs.count);
        }
        wr_resource_result(out, err, msg, type, name, nlen);
    }
    kf_props_free(&configs);
    return 0;
}

int kb_h_alter_configs(kb_broker *b, kb_req *r, kf_buf *out) {
    kf_rd rd;
    kb_req_body(r, &rd);
    int32_t n = kf_rd_arr(&rd, 0, 1 + 2 + 4);
    if (!kf_rd_ok(&rd) || n < 0)
        return KB_CLOSE;
    for (int32_t i = 0; i < n; i++)
        if (alter_one(b, r, &rd, 0, NULL) < 0)
            return KB_CLOSE;
    int validate_only = kf_rd_i8(&rd) != 0;
    if (!kf_rd_ok(&rd))
        return KB_CLOSE;
    rewind_body(r, &rd);
    kf_wr_i32(out, 0); /* throttle_time_ms */
    kf_wr_arr(out, 0, n);
    for (int32_t i = 0; i < n; i++)
        if (alter_one(b, r, &rd, validate_only, out) < 0)
            return KB_CLOSE;
    return KB_OK;
}
