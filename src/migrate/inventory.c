/*
 * inventory.c - brokers, topics, topic and broker configs, ACLs (see
 * inventory.h); consumer groups are in invgroups.c.
 *
 * All topic configs are described in one DescribeConfigs request so a
 * cluster with thousands of topics costs one round trip, not thousands.
 */
#include "migrate/inventory.h"

#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

rd_kafka_event_t *inv_wait(rd_kafka_queue_t *q, int type, int timeout_ms) {
    int64_t deadline = kf_now_ms() + timeout_ms + 1000; /* the request's own timeout fires first */
    while (kf_now_ms() < deadline) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 100);
        if (!ev)
            continue;
        if (rd_kafka_event_type(ev) == type)
            return ev;
        rd_kafka_event_destroy(ev);
    }
    return NULL;
}

rd_kafka_AdminOptions_t *inv_options(rd_kafka_t *rk, rd_kafka_admin_op_t op, int timeout_ms) {
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, op);
    char eb[256];
    rd_kafka_AdminOptions_set_request_timeout(o, timeout_ms, eb, sizeof(eb));
    return o;
}

json_t *inv_topic(json_t *cluster, const char *name) {
    json_t *idx = json_object_get(cluster, "_index");
    if (!idx) {
        idx = json_object();
        size_t i;
        json_t *t;
        json_array_foreach(json_object_get(cluster, "topics"), i, t) {
            json_object_set(idx, json_string_value(json_object_get(t, "name")), t);
        }
        json_object_set_new(cluster, "_index", idx);
    }
    return json_object_get(idx, name);
}

void inv_drop_index(json_t *cluster) { json_object_del(cluster, "_index"); }

static int cmp_topic(const void *a, const void *b) {
    const rd_kafka_metadata_topic_t *x = a, *y = b;
    return strcmp(x->topic, y->topic);
}

/* "max.message.bytes" and friends as an integer, -1 if absent or odd. */
static json_int_t config_int(const char *v) {
    int64_t n;
    return v && kf_parse_i64(v, 0, INT64_MAX, &n) == 0 ? (json_int_t)n : -1;
}

/* Adds "configs" (set on the topic, as kferry mirror would copy them: see
 * tconf_describe) and "max_message_bytes" (effective) to each topic. */
static void describe_topics(rd_kafka_t *rk, int timeout_ms, json_t *topics, json_t *cluster) {
    size_t n = json_array_size(topics);
    if (!n)
        return;
    rd_kafka_ConfigResource_t **res = calloc(n, sizeof(*res));
    if (!res)
        return;
    for (size_t i = 0; i < n; i++)
        res[i] = rd_kafka_ConfigResource_new(
            RD_KAFKA_RESOURCE_TOPIC,
            json_string_value(json_object_get(json_array_get(topics, i), "name")));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = inv_options(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout_ms);
    rd_kafka_DescribeConfigs(rk, res, n, o, q);
    rd_kafka_event_t *ev = inv_wait(q, RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, timeout_ms);
    if (!ev || rd_kafka_event_error(ev)) {
        json_object_set_new(cluster, "topic_configs_error",
                            json_string(ev ? rd_kafka_event_error_string(ev) : "timed out"));
        goto out;
    }
    size_t nres = 0;
    const rd_kafka_ConfigResource_t **rs =
        rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &nres);
    for (size_t i = 0; i < nres; i++) {
        json_t *t = inv_topic(cluster, rd_kafka_ConfigResource_name(rs[i]));
        if (!t)
            continue;
        if (rd_kafka_ConfigResource_error(rs[i])) {
            json_object_set_new(t, "configs_error",
                                json_string(rd_kafka_ConfigResource_error_string(rs[i])));
            continue;
        }
        json_t *cfg = json_object();
        size_t ncfg = 0;
        const rd_kafka_ConfigEntry_t **ents = rd_kafka_ConfigResource_configs(rs[i], &ncfg);
        for (size_t k = 0; k < ncfg; k++) {
            const rd_kafka_ConfigEntry_t *ce = ents[k];
            const char *name = rd_kafka_ConfigEntry_name(ce);
            const char *val = rd_kafka_ConfigEntry_value(ce);
            if (!strcmp(name, "max.message.bytes"))
                json_object_set_new(t, "max_message_bytes",
                                    config_int(val) >= 0 ? json_integer(config_int(val))
                                                         : json_null());
            /* effective retention, for the migration estimate (plan_estimate.c);
             * -1 is Kafka's "no limit", which config_int would call odd */
            if (!strcmp(name, "retention.ms") || !strcmp(name, "retention.bytes")) {
                int64_t r;
                int ok = val && kf_parse_i64(val, -1, INT64_MAX, &r) == 0;
                json_object_set_new(t, name[10] == 'm' ? "retention_ms" : "retention_bytes",
                                    ok ? json_integer((json_int_t)r) : json_null());
            }
            if (!strcmp(name, "cleanup.policy") && val)
                json_object_set_new(t, "cleanup_policy", json_string(val));
            int source = rd_kafka_ConfigEntry_source(ce);
            /* the same test as tconf_describe: what the mirror copies */
            int set_on_topic = source == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG ||
                               (source == RD_KAFKA_CONFIG_SOURCE_UNKNOWN_CONFIG &&
                                !rd_kafka_ConfigEntry_is_default(ce));
            if (set_on_topic && val && !rd_kafka_ConfigEntry_is_read_only(ce) &&
                !rd_kafka_ConfigEntry_is_sensitive(ce))
                json_object_set_new(cfg, name, json_string(val));
        }
        json_object_set_new(t, "configs", cfg);
    }
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_ConfigResource_destroy_array(res, n);
    free(res);
}

/* The broker's message.max.bytes: the default limit of topics created
 * there without a max.message.bytes of their own. */
static void describe_broker(rd_kafka_t *rk, int timeout_ms, int32_t id, json_t *cluster) {
    char name[16];
    snprintf(name, sizeof(name), "%d", (int)id);
    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_BROKER, name);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = inv_options(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout_ms);
    rd_kafka_DescribeConfigs(rk, &res, 1, o, q);
    rd_kafka_event_t *ev = inv_wait(q, RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, timeout_ms);
    json_int_t mmb = -1;
    if (ev && !rd_kafka_event_error(ev)) {
        size_t nres = 0;
        const rd_kafka_ConfigResource_t **rs = rd_kafka_DescribeConfigs_result_resources(
            rd_kafka_event_DescribeConfigs_result(ev), &nres);
        size_t ncfg = 0;
        const rd_kafka_ConfigEntry_t **ents = nres && !rd_kafka_ConfigResource_error(rs[0])
                                                  ? rd_kafka_ConfigResource_configs(rs[0], &ncfg)
                                                  : NULL;
        for (size_t k = 0; k < ncfg; k++)
            if (!strcmp(rd_kafka_ConfigEntry_name(ents[k]), "message.max.bytes"))
                mmb = config_int(rd_kafka_ConfigEntry_value(ents[k]));
    }
    json_object_set_new(cluster, "message_max_bytes", mmb >= 0 ? json_integer(mmb) : json_null());
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_ConfigResource_destroy(res);
}

int inv_cluster(rd_kafka_t *rk, int timeout_ms, json_t *cluster, char *err, size_t errlen) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms);
    if (e) {
        snprintf(err, errlen, "Metadata: %s", rd_kafka_err2str(e));
        return -1;
    }
    char *cid = rd_kafka_clusterid(rk, 0);
    json_object_set_new(cluster, "cluster_id", cid ? json_string(cid) : json_null());
    free(cid);
    int32_t ctl = rd_kafka_controllerid(rk, 0);
    json_object_set_new(cluster, "controller_id", ctl >= 0 ? json_integer(ctl) : json_null());
    json_t *brokers = json_array();
    for (int i = 0; i < md->broker_cnt; i++)
        json_array_append_new(brokers,
                              json_pack("{s:i,s:s,s:i}", "id", (int)md->brokers[i].id, "host",
                                        md->brokers[i].host, "port", md->brokers[i].port));
    json_object_set_new(cluster, "broker_count", json_integer(md->broker_cnt));
    json_object_set_new(cluster, "brokers", brokers);

    rd_kafka_metadata_topic_t *sorted = calloc((size_t)md->topic_cnt + 1, sizeof(*sorted));
    json_t *topics = json_array();
    if (sorted) {
        memcpy(sorted, md->topics, (size_t)md->topic_cnt * sizeof(*sorted));
        qsort(sorted, (size_t)md->topic_cnt, sizeof(*sorted), cmp_topic);
    }
    for (int i = 0; sorted && i < md->topic_cnt; i++) {
        const rd_kafka_metadata_topic_t *t = &sorted[i];
        if (t->err || t->partition_cnt <= 0)
            continue;
        /* the smallest replica count: a partition short of replicas is
         * what limits durability */
        int rf = t->partitions[0].replica_cnt;
        for (int p = 1; p < t->partition_cnt; p++)
            if (t->partitions[p].replica_cnt < rf)
                rf = t->partitions[p].replica_cnt;
        json_array_append_new(topics,
                              json_pack("{s:s,s:i,s:i,s:o,s:n}", "name", t->topic, "partitions",
                                        t->partition_cnt, "replication_factor", rf, "configs",
                                        json_object(), "max_message_bytes"));
    }
    free(sorted);
    json_object_set_new(cluster, "topics", topics);
    json_object_set_new(cluster, "topic_configs_error", json_null());
    int32_t first_broker = md->broker_cnt ? md->brokers[0].id : -1;
    rd_kafka_metadata_destroy(md);
    describe_topics(rk, timeout_ms, topics, cluster);
    if (first_broker >= 0)
        describe_broker(rk, timeout_ms, first_broker, cluster);
    else
        json_object_set_new(cluster, "message_max_bytes", json_null());
    return 0;
}

void inv_acls(rd_kafka_t *rk, int timeout_ms, json_t *cluster) {
    char eb[256];
    json_t *acls = json_pack("{s:b,s:n,s:[]}", "readable", 0, "error", "bindings");
    json_object_set_new(cluster, "acls", acls);
    rd_kafka_AclBindingFilter_t *f = rd_kafka_AclBindingFilter_new(
        RD_KAFKA_RESOURCE_ANY, NULL, RD_KAFKA_RESOURCE_PATTERN_ANY, NULL, NULL,
        RD_KAFKA_ACL_OPERATION_ANY, RD_KAFKA_ACL_PERMISSION_TYPE_ANY, eb, sizeof(eb));
    if (!f) {
        json_object_set_new(acls, "error", json_string(eb));
        return;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = inv_options(rk, RD_KAFKA_ADMIN_OP_DESCRIBEACLS, timeout_ms);
    rd_kafka_DescribeAcls(rk, f, o, q);
    rd_kafka_event_t *ev = inv_wait(q, RD_KAFKA_EVENT_DESCRIBEACLS_RESULT, timeout_ms);
    if (!ev || rd_kafka_event_error(ev)) {
        /* e.g. no authorizer configured, not allowed, or no DescribeAcls */
        json_object_set_new(acls, "error",
                            json_string(ev ? rd_kafka_event_error_string(ev) : "timed out"));
    } else {
        size_t n = 0;
        const rd_kafka_AclBinding_t **b =
            rd_kafka_DescribeAcls_result_acls(rd_kafka_event_DescribeAcls_result(ev), &n);
        json_t *arr = json_object_get(acls, "bindings");
        for (size_t i = 0; i < n; i++)
            json_array_append_new(
                arr,
                json_pack(
                    "{s:s,s:s?,s:s,s:s?,s:s?,s:s,s:s}", "resource_type",
                    rd_kafka_ResourceType_name(rd_kafka_AclBinding_restype(b[i])), "name",
                    rd_kafka_AclBinding_name(b[i]), "pattern",
                    rd_kafka_ResourcePatternType_name(
                        rd_kafka_AclBinding_resource_pattern_type(b[i])),
                    "principal", rd_kafka_AclBinding_principal(b[i]), "host",
                    rd_kafka_AclBinding_host(b[i]), "operation",
                    rd_kafka_AclOperation_name(rd_kafka_AclBinding_operation(b[i])), "permission",
                    rd_kafka_AclPermissionType_name(rd_kafka_AclBinding_permission_type(b[i]))));
        json_object_set_new(acls, "readable", json_true());
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_AclBinding_destroy(f);
}
