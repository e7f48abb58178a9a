/*
 * h_metadata.c - Metadata (v0-4) and topic auto-creation.
 *
 * This node is the only broker, the controller, and the leader of every
 * partition, with itself as the single replica and ISR.
 *
 * With an authorizer (acl.h), as on Kafka: listing all topics leaves out
 * those the principal may not DESCRIBE; a named topic it may not DESCRIBE
 * gets TOPIC_AUTHORIZATION_FAILED whether it exists or not; auto-creating
 * needs CREATE on the cluster or on the topic.
 */
#include "broker/acl.h"
#include "broker/handlers.h"
#include "broker/store.h"
#include "common/log.h"

#include <string.h>

kb_topic *kb_topic_autocreate(kb_broker *b, const char *name, size_t len, int *err) {
    if (!kb_topic_name_valid(name, len)) {
        *err = KF_ERR_INVALID_TOPIC_EXCEPTION;
        return NULL;
    }
    if (!b->cfg.auto_create_topics) {
        *err = KF_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        return NULL;
    }
    char nm[256];
    memcpy(nm, name, len);
    nm[len] = '\0';
    kb_topic *t = NULL;
    char msg[256] = "";
    int e = kb_store_create(b->store, nm, b->cfg.num_partitions, NULL, &t, msg, sizeof(msg));
    if (e != KF_ERR_NONE) {
        kf_warn("broker", "auto-creating topic '%s' failed: %s %s", nm, kf_err_name(e), msg);
        *err = e;
        return NULL;
    }
    kf_info("broker", "auto-created topic '%s' with %d partition(s)", nm, b->cfg.num_partitions);
    *err = KF_ERR_NONE;
    return t;
}

static void write_topic(kf_buf *out, int16_t ver, int16_t error, const char *name, size_t len,
                        const kb_topic *t, int32_t node) {
    kf_wr_i16(out, error);
    kf_wr_str(out, 0, name, (int32_t)len);
    if (ver >= 1)
        kf_wr_i8(out, t && t->internal ? 1 : 0);
    int32_t n = t ? t->nparts : 0;
    kf_wr_arr(out, 0, n);
    for (int32_t i = 0; i < n; i++) {
        kf_wr_i16(out, KF_ERR_NONE);
        kf_wr_i32(out, i);
        kf_wr_i32(out, node); /* leader */
        kf_wr_arr(out, 0, 1); /* replicas */
        kf_wr_i32(out, node);
        kf_wr_arr(out, 0, 1); /* isr */
        kf_wr_i32(out, node);
    }
}

int kb_h_metadata(kb_broker *b, kb_req *r, kf_buf *out) {
    kf_rd rd;
    kb_req_body(r, &rd);
    int16_t ver = r->api_version;
    int32_t ntopics = kf_rd_arr(&rd, 0, 2);
    const char *names[1024];
    int32_t lens[1024];
    if (ntopics > 1024)
        return KB_CLOSE;
    for (int32_t i = 0; i < ntopics; i++)
        lens[i] = kf_rd_str(&rd, 0, &names[i]);
    int allow_auto = 1;
    if (ver >= 4)
        allow_auto = kf_rd_i8(&rd) != 0;
    if (!kf_rd_ok(&rd))
        return KB_CLOSE;
    for (int32_t i = 0; i < ntopics; i++)
        if (lens[i] < 0)
            return KB_CLOSE;
    /* v0: an empty list means all topics; v1+: null means all. */
    int all = ntopics < 0 || (ver == 0 && ntopics == 0);
    int32_t node = b->cfg.node_id;

    if (ver >= 3)
        kf_wr_i32(out, 0); /* throttle_time_ms */
    kf_wr_arr(out, 0, 1);
    kf_wr_i32(out, node);
    const char *ahost;
    int aport;
    kb_req_endpoint(b, r, &ahost, &aport);
    kf_wr_cstr(out, 0, ahost);
    kf_wr_i32(out, aport);
    if (ver >= 1)
        kf_wr_str(out, 0, NULL, -1); /* rack */
    if (ver >= 2)
        kf_wr_cstr(out, 0, b->cfg.cluster_id);
    if (ver >= 1)
        kf_wr_i32(out, node); /* controller */
    if (all) {
        size_t n = kb_store_topic_count(b->store);
        size_t cnt_pos = kf_wr_reserve_i32(out);
        int32_t cnt = 0;
        for (size_t i = 0; i < n; i++) {
            kb_topic *t = kb_store_topic_at(b->store, i);
            if (!kb_authz(b, r, KB_RES_TOPIC, t->name, strlen(t->name), KB_OP_DESCRIBE))
                continue;
            write_topic(out, ver, KF_ERR_NONE, t->name, strlen(t->name), t, node);
            cnt++;
        }
        kf_wr_patch_i32(out, cnt_pos, cnt);
        return KB_OK;
    }
    kf_wr_arr(out, 0, ntopics);
    for (int32_t i = 0; i < ntopics; i++) {
        size_t len = (size_t)lens[i];
        if (!kb_authz(b, r, KB_RES_TOPIC, names[i], len, KB_OP_DESCRIBE)) {
            write_topic(out, ver, KF_ERR_TOPIC_AUTHORIZATION_FAILED, names[i], len, NULL, node);
            continue;
        }
        kb_topic *t = kb_store_find(b->store, names[i], len);
        int err = KF_ERR_NONE;
        if (!t) {
            if (allow_auto && b->cfg.auto_create_topics && kb_topic_name_valid(names[i], len) &&
                !kb_authz_cluster(b, r, KB_OP_CREATE) &&
                !kb_authz(b, r, KB_RES_TOPIC, names[i], len, KB_OP_CREATE))
                err = KF_ERR_TOPIC_AUTHORIZATION_FAILED;
            else if (allow_auto)
                t = kb_topic_autocreate(b, names[i], (size_t)lens[i], &err);
            else
                err = kb_topic_name_valid(names[i], (size_t)lens[i])
                          ? KF_ERR_UNKNOWN_TOPIC_OR_PARTITION
                          : KF_ERR_INVALID_TOPIC_EXCEPTION;
        }
        write_topic(out, ver, (int16_t)err, names[i], (size_t)lens[i], t, node);
    }
    return KB_OK;
}
