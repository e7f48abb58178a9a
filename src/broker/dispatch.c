/*
 * dispatch.c - the API table, request-header parsing, response framing and
 * the ApiVersions handler.
 *
 * Version ranges are chosen for the clients on our machines: librdkafka
 * 2.0.2 disables whole features unless each API's range overlaps what it
 * expects, so the minimums stay low (Produce must include v0, or it sends
 * gzip/snappy/lz4 data uncompressed).
 */
#include "broker/dispatch.h"

#include "broker/handlers.h"
#include "common/log.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define NOFLEX INT16_MAX

static const kb_api api_table[] = {
    {KF_API_PRODUCE, 0, 7, NOFLEX, kb_h_produce},
    {KF_API_FETCH, 4, 11, NOFLEX, kb_h_fetch},
    {KF_API_LIST_OFFSETS, 1, 2, NOFLEX, kb_h_list_offsets},
    {KF_API_METADATA, 0, 4, NOFLEX, kb_h_metadata},
    {KF_API_OFFSET_COMMIT, 2, 7, NOFLEX, kb_h_offset_commit},
    {KF_API_OFFSET_FETCH, 1, 7, 6, kb_h_offset_fetch},
    {KF_API_FIND_COORDINATOR, 0, 2, NOFLEX, kb_h_find_coordinator},
    {KF_API_JOIN_GROUP, 0, 5, NOFLEX, kb_h_join_group},
    {KF_API_HEARTBEAT, 0, 3, NOFLEX, kb_h_heartbeat},
    {KF_API_LEAVE_GROUP, 0, 1, NOFLEX, kb_h_leave_group},
    {KF_API_SYNC_GROUP, 0, 3, NOFLEX, kb_h_sync_group},
    {KF_API_DESCRIBE_GROUPS, 0, 4, NOFLEX, kb_h_describe_groups},
    {KF_API_LIST_GROUPS, 0, 2, NOFLEX, kb_h_list_groups},
    {KF_API_SASL_HANDSHAKE, 0, 1, NOFLEX, kb_h_sasl_handshake},
    {KF_API_API_VERSIONS, 0, 3, 3, kb_h_api_versions},
    {KF_API_CREATE_TOPICS, 0, 4, NOFLEX, kb_h_create_topics},
    {KF_API_DELETE_TOPICS, 0, 3, NOFLEX, kb_h_delete_topics},
    {KF_API_DELETE_RECORDS, 0, 1, NOFLEX, kb_h_delete_records},
    {KF_API_INIT_PRODUCER_ID, 0, 4, 2, kb_h_init_producer_id},
    {KF_API_ADD_PARTITIONS_TO_TXN, 0, 3, 3, kb_h_add_partitions_to_txn},
    {KF_API_ADD_OFFSETS_TO_TXN, 0, 3, 3, kb_h_add_offsets_to_txn},
    {KF_API_END_TXN, 0, 3, 3, kb_h_end_txn},
    {KF_API_TXN_OFFSET_COMMIT, 0, 3, 3, kb_h_txn_offset_commit},
    {KF_API_DESCRIBE_ACLS, 1, 3, 2, kb_h_describe_acls},
    {KF_API_CREATE_ACLS, 1, 3, 2, kb_h_create_acls},
    {KF_API_DELETE_ACLS, 1, 3, 2, kb_h_delete_acls},
    {KF_API_DESCRIBE_CONFIGS, 0, 2, NOFLEX, kb_h_describe_configs},
    {KF_API_ALTER_CONFIGS, 0, 1, NOFLEX, kb_h_alter_configs},
    {KF_API_SASL_AUTHENTICATE, 0, 2, 2, kb_h_sasl_authenticate},
    {KF_API_CREATE_PARTITIONS, 0, 1, NOFLEX, kb_h_create_partitions},
    {KF_API_DELETE_GROUPS, 0, 1, NOFLEX, kb_h_delete_groups},
    {KF_API_OFFSET_DELETE, 0, 0, NOFLEX, kb_h_offset_delete},
    {KF_API_DESCRIBE_LOG_DIRS, 1, 4, 2, kb_h_describe_log_dirs},
    {KF_API_INCREMENTAL_ALTER_CONFIGS, 0, 1, 1, kb_h_incremental_alter_configs},
    {KF_API_DESCRIBE_CLIENT_QUOTAS, 0, 1, 1, kb_h_describe_client_quotas},
    {KF_API_DESCRIBE_USER_SCRAM_CREDENTIALS, 0, 0, 0, kb_h_describe_user_scram_credentials},
    {KF_API_ALTER_USER_SCRAM_CREDENTIALS, 0, 0, 0, kb_h_alter_user_scram_credentials},
    {KF_API_DESCRIBE_CLUSTER, 0, 1, 0, kb_h_describe_cluster},
    {KF_API_DESCRIBE_TRANSACTIONS, 0, 0, 0, kb_h_describe_transactions},
    {KF_API_LIST_TRANSACTIONS, 0, 1, 0, kb_h_list_transactions},
};

const kb_api *kb_api_table(size_t *count) {
    *count = sizeof(api_table) / sizeof(api_table[0]);
    return api_table;
}

const kb_api *kb_api_find(int16_t key) {
    for (size_t i = 0; i < sizeof(api_table) / sizeof(api_table[0]); i++)
        if (api_table[i].key == key)
            return &api_table[i];
    return NULL;
}

int kb_req_parse_header(kb_req *r, char *err, size_t errlen) {
    kf_rd rd;
    kf_rd_init(&rd, r->frame, r->frame_len);
    r->api_key = kf_rd_i16(&rd);
    r->api_version = kf_rd_i16(&rd);
    r->correlation_id = kf_rd_i32(&rd);
    const char *cid;
    r->client_id_len = kf_rd_str(&rd, 0, &cid); /* never compact, even in v2 */
    r->client_id = cid;
    if (!kf_rd_ok(&rd)) {
        snprintf(err, errlen, "truncated request header (%zu bytes)", r->frame_len);
        return -1;
    }
    const kb_api *api = kb_api_find(r->api_key);
    if (!api) {
        snprintf(err, errlen, "unknown API key %d (version %d)", r->api_key, r->api_version);
        return -1;
    }
    if (r->api_key == KF_API_API_VERSIONS && r->api_version > api->max_version) {
        /* Answered with a v0 body and UNSUPPORTED_VERSION; the body of a
         * newer request is not parsed, whatever its header form. */
        r->flex = 0;
        r->body_off = (size_t)(rd.p - r->frame);
        return 0;
    }
    if (r->api_version < api->min_version || r->api_version > api->max_version) {
        snprintf(err, errlen, "unsupported %s version %d (supported %d..%d)",
                 kf_api_name(r->api_key), r->api_version, api->min_version, api->max_version);
        return -1;
    }
    r->flex = r->api_version >= api->flexible_from;
    kf_rd_tags(&rd, r->flex);
    if (!kf_rd_ok(&rd)) {
        snprintf(err, errlen, "malformed tagged fields in %s request header",
                 kf_api_name(r->api_key));
        return -1;
    }
    r->body_off = (size_t)(rd.p - r->frame);
    return 0;
}

int kb_dispatch(kb_broker *b, kb_req *r, kf_buf *resp) {
    const kb_api *api = kb_api_find(r->api_key);
    size_t start = resp->len;
    size_t size_pos = kf_wr_reserve_i32(resp);
    kf_wr_i32(resp, r->correlation_id);
    /* The ApiVersions response header never has tagged fields. */
    if (r->flex && r->api_key != KF_API_API_VERSIONS)
        kf_wr_tags(resp, 1);
    int rc = api->handler(b, r, resp);
    if (rc != KB_OK) {
        resp->len = start;
        resp->failed = 0;
        return rc;
    }
    if (!kf_buf_ok(resp)) {
        kf_err("net", "response to %s from %s too large or out of memory", kf_api_name(r->api_key),
               r->peer ? r->peer : "?");
        resp->len = start;
        resp->failed = 0;
        return KB_CLOSE;
    }
    kf_wr_patch_i32(resp, size_pos, (int32_t)(resp->len - start - 4));
    return KB_OK;
}

int kb_h_api_versions(kb_broker *b, kb_req *r, kf_buf *out) {
    (void)b;
    const kb_api *self = kb_api_find(KF_API_API_VERSIONS);
    int unsupported = r->api_version > self->max_version;
    int flex = !unsupported && r->flex;
    int16_t ver = unsupported ? 0 : r->api_version;
    if (!unsupported && ver >= 3) {
        kf_rd rd;
        kb_req_body(r, &rd);
        const char *s;
        kf_rd_str(&rd, 1, &s); /* client_software_name */
        kf_rd_str(&rd, 1, &s); /* client_software_version */
        kf_rd_tags(&rd, 1);
        if (!kf_rd_ok(&rd))
            return KB_CLOSE;
    }
    kf_wr_i16(out, unsupported ? KF_ERR_UNSUPPORTED_VERSION : KF_ERR_NONE);
    size_t n;
    const kb_api *t = kb_api_table(&n);
    kf_wr_arr(out, flex, (int32_t)n);
    for (size_t i = 0; i < n; i++) {
        kf_wr_i16(out, t[i].key);
        kf_wr_i16(out, t[i].min_version);
        kf_wr_i16(out, t[i].max_version);
        kf_wr_tags(out, flex);
    }
    if (ver >= 1)
        kf_wr_i32(out, 0); /* throttle_time_ms */
    kf_wr_tags(out, flex);
    return KB_OK;
}
