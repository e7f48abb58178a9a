/*
 * invgroups.c - consumer groups of a cluster: state, members, committed
 * offsets and lag (see inventory.h).
 *
 * Lag is the partition's high watermark minus the committed offset, read
 * here and now, so it is a snapshot: a live group moves on while we look.
 * librdkafka 2.0.2 fetches the offsets of one group per request.
 */
#include "migrate/inventory.h"
#include "mirror/grpadmin.h"
#include "mirror/retry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fills g's "offsets" and "lag" from OffsetFetch plus the watermarks. */
static void group_offsets(rd_kafka_t *rk, int timeout_ms, const char *id, json_t *g) {
    rd_kafka_t *wm = rk; /* watermarks: the caller's handle */
    rk = ga_group_handle(rk);
    json_t *offs = json_array();
    json_object_set_new(g, "offsets", offs);
    rd_kafka_ListConsumerGroupOffsets_t *req = rd_kafka_ListConsumerGroupOffsets_new(id, NULL);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o =
        inv_options(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS, timeout_ms);
    rd_kafka_ListConsumerGroupOffsets(rk, &req, 1, o, q);
    rd_kafka_event_t *ev = inv_wait(q, RD_KAFKA_EVENT_LISTCONSUMERGROUPOFFSETS_RESULT, timeout_ms);
    const rd_kafka_topic_partition_list_t *parts = NULL;
    if (!ev || rd_kafka_event_error(ev)) {
        json_object_set_new(g, "error",
                            json_sprintf("committed offsets: %s",
                                         ev ? rd_kafka_event_error_string(ev) : "timed out"));
    } else {
        size_t n = 0;
        const rd_kafka_group_result_t **gr = rd_kafka_ListConsumerGroupOffsets_result_groups(
            rd_kafka_event_ListConsumerGroupOffsets_result(ev), &n);
        const rd_kafka_error_t *ge = n ? rd_kafka_group_result_error(gr[0]) : NULL;
        if (ge)
            json_object_set_new(g, "error",
                                json_sprintf("committed offsets: %s", rd_kafka_error_string(ge)));
        else if (n)
            parts = rd_kafka_group_result_partitions(gr[0]);
    }
    json_int_t total = 0;
    for (int i = 0; parts && i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        if (p->err) { /* a coordinator loading or moving: not "nothing committed" */
            json_object_set_new(g, "error",
                                json_sprintf("committed offsets: %s [%d]: %s", p->topic,
                                             (int)p->partition, rd_kafka_err2str(p->err)));
            continue;
        }
        if (p->offset < 0)
            continue; /* nothing committed for this partition */
        int64_t lo = 0, hi = 0;
        int werr = retry_watermarks(wm, p->topic, p->partition, &lo, &hi, timeout_ms) !=
                   RD_KAFKA_RESP_ERR_NO_ERROR;
        json_t *row = json_pack("{s:s,s:i,s:I}", "topic", p->topic, "partition", (int)p->partition,
                                "committed", (json_int_t)p->offset);
        json_object_set_new(row, "end_offset", werr ? json_null() : json_integer(hi));
        json_object_set_new(row, "lag", werr ? json_null() : json_integer(hi - p->offset));
        if (!werr)
            total += hi - p->offset;
        json_array_append_new(offs, row);
    }
    json_object_set_new(g, "lag", json_integer(total));
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_ListConsumerGroupOffsets_destroy(req);
}

static int cmp_listing(const void *a, const void *b) {
    return strcmp(
        rd_kafka_ConsumerGroupListing_group_id(*(const rd_kafka_ConsumerGroupListing_t *const *)a),
        rd_kafka_ConsumerGroupListing_group_id(*(const rd_kafka_ConsumerGroupListing_t *const *)b));
}

static void describe(rd_kafka_t *rk, int timeout_ms, const char **ids, size_t n, json_t *groups) {
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o =
        inv_options(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS, timeout_ms);
    rd_kafka_DescribeConsumerGroups(rk, ids, n, o, q);
    rd_kafka_event_t *ev = inv_wait(q, RD_KAFKA_EVENT_DESCRIBECONSUMERGROUPS_RESULT, timeout_ms);
    size_t nd = 0;
    const rd_kafka_ConsumerGroupDescription_t **d =
        ev && !rd_kafka_event_error(ev) ? rd_kafka_DescribeConsumerGroups_result_groups(
                                              rd_kafka_event_DescribeConsumerGroups_result(ev), &nd)
                                        : NULL;
    for (size_t i = 0; i < nd; i++) {
        json_t *g = NULL, *it;
        size_t k;
        json_array_foreach(groups, k, it) {
            if (!strcmp(json_string_value(json_object_get(it, "group")),
                        rd_kafka_ConsumerGroupDescription_group_id(d[i])))
                g = it;
        }
        if (!g)
            continue;
        const rd_kafka_error_t *ge = rd_kafka_ConsumerGroupDescription_error(d[i]);
        if (ge) {
            json_object_set_new(g, "error", json_string(rd_kafka_error_string(ge)));
            continue;
        }
        json_object_set_new(g, "state",
                            json_string(rd_kafka_consumer_group_state_name(
                                rd_kafka_ConsumerGroupDescription_state(d[i]))));
        size_t nm = rd_kafka_ConsumerGroupDescription_member_count(d[i]);
        json_t *members = json_array();
        for (size_t m = 0; m < nm; m++) {
            const rd_kafka_MemberDescription_t *md =
                rd_kafka_ConsumerGroupDescription_member(d[i], m);
            json_array_append_new(members, json_pack("{s:s?,s:s?}", "client_id",
                                                     rd_kafka_MemberDescription_client_id(md),
                                                     "host", rd_kafka_MemberDescription_host(md)));
        }
        json_object_set_new(g, "member_count", json_integer((json_int_t)nm));
        json_object_set_new(g, "members", members);
    }
    if (!d) {
        size_t k;
        json_t *it;
        json_array_foreach(groups, k, it) {
            json_object_set_new(
                it, "error",
                json_sprintf("describe: %s", ev ? rd_kafka_event_error_string(ev) : "timed out"));
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
}

void inv_groups(rd_kafka_t *rk, int timeout_ms, json_t *cluster) {
    json_t *groups = json_array();
    json_object_set_new(cluster, "groups", groups);
    json_object_set_new(cluster, "groups_error", json_null());
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = inv_options(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS, timeout_ms);
    rd_kafka_ListConsumerGroups(rk, o, q);
    rd_kafka_event_t *ev = inv_wait(q, RD_KAFKA_EVENT_LISTCONSUMERGROUPS_RESULT, timeout_ms);
    if (!ev || rd_kafka_event_error(ev)) {
        json_object_set_new(cluster, "groups_error",
                            json_string(ev ? rd_kafka_event_error_string(ev) : "timed out"));
        goto out;
    }
    const rd_kafka_ListConsumerGroups_result_t *res = rd_kafka_event_ListConsumerGroups_result(ev);
    size_t nerr = 0, n = 0;
    const rd_kafka_error_t **errs = rd_kafka_ListConsumerGroups_result_errors(res, &nerr);
    if (nerr) /* some brokers did not answer: the list may be incomplete */
        json_object_set_new(cluster, "groups_error",
                            json_sprintf("incomplete list: %s", rd_kafka_error_string(errs[0])));
    const rd_kafka_ConsumerGroupListing_t **l0 = rd_kafka_ListConsumerGroups_result_valid(res, &n);
    const rd_kafka_ConsumerGroupListing_t **l = calloc(n + 1, sizeof(*l));
    const char **ids = calloc(n + 1, sizeof(*ids));
    if (!ids || !l) {
        free(l);
        free(ids);
        goto out;
    }
    if (n)
        memcpy(l, l0, n * sizeof(*l));
    qsort(l, n, sizeof(*l), cmp_listing); /* stable output order */
    for (size_t i = 0; i < n; i++) {
        ids[i] = rd_kafka_ConsumerGroupListing_group_id(l[i]);
        json_array_append_new(
            groups,
            json_pack("{s:s,s:s,s:b,s:i,s:[],s:[],s:i,s:n}", "group", ids[i], "state",
                      rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupListing_state(l[i])),
                      "simple", rd_kafka_ConsumerGroupListing_is_simple_consumer_group(l[i]),
                      "member_count", 0, "members", "offsets", "lag", 0, "error"));
    }
    if (n)
        describe(rk, timeout_ms, ids, n, groups);
    for (size_t i = 0; i < n; i++)
        group_offsets(rk, timeout_ms, ids[i], json_array_get(groups, i));
    free(ids);
    free(l);
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
}
