/*
 * topicconf.c - topic config describe/compare/sync (see topicconf.h).
 *
 * librdkafka 2.0.2 only has the non-incremental AlterConfigs, which
 * replaces every dynamic config of the topic; so the request carries the
 * source's copyable configs plus the target's own values for excluded keys.
 */
#include "mirror/topicconf.h"

#include "common/log.h"
#include "common/util.h"
#include "mirror/topics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Why each is excluded is in docs/MIRROR.md. */
static const char *g_config_exclude[] = {
    "follower.replication.throttled.replicas",
    "leader.replication.throttled.replicas",
    "message.timestamp.type",
    "message.timestamp.difference.max.ms",
    "message.timestamp.before.max.ms",
    "message.timestamp.after.max.ms",
    "min.insync.replicas",
    "unclean.leader.election.enable",
    "confluent.placement.constraints",
};

int tconf_copyable(const char *name) {
    for (size_t i = 0; i < sizeof(g_config_exclude) / sizeof(g_config_exclude[0]); i++)
        if (!strcmp(name, g_config_exclude[i]))
            return 0;
    return 1;
}

void tconf_free(tconf *t) {
    for (size_t i = 0; i < t->n; i++) {
        free(t->name[i]);
        free(t->value[i]);
    }
    free(t->name);
    free(t->value);
    memset(t, 0, sizeof(*t));
}

static int add(tconf *t, const char *name, const char *value) {
    char **nn = realloc(t->name, (t->n + 1) * sizeof(*nn));
    if (!nn)
        return -1;
    t->name = nn;
    char **nv = realloc(t->value, (t->n + 1) * sizeof(*nv));
    if (!nv)
        return -1;
    t->value = nv;
    t->name[t->n] = kf_strdup(name);
    t->value[t->n] = kf_strdup(value);
    t->n++;
    return 0;
}

static const char *get(const tconf *t, const char *name) {
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->name[i], name))
            return t->value[i];
    return NULL;
}

int tconf_describe(rd_kafka_t *rk, const char *topic, tconf *out, char *err, size_t errlen) {
    memset(out, 0, sizeof(*out));
    int rc = -1;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    rd_kafka_DescribeConfigs(rk, &res, 1, NULL, q);
    rd_kafka_event_t *ev = topics_admin_wait(q, RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, 30000);
    if (!ev || rd_kafka_event_error(ev)) {
        snprintf(err, errlen, "%s", ev ? rd_kafka_event_error_string(ev) : "timed out");
        goto out;
    }
    size_t nres = 0;
    const rd_kafka_ConfigResource_t **rs =
        rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &nres);
    for (size_t i = 0; i < nres; i++) {
        if (rd_kafka_ConfigResource_error(rs[i])) {
            snprintf(err, errlen, "%s", rd_kafka_ConfigResource_error_string(rs[i]));
            goto out;
        }
        size_t ncfg = 0;
        const rd_kafka_ConfigEntry_t **ents = rd_kafka_ConfigResource_configs(rs[i], &ncfg);
        for (size_t k = 0; k < ncfg; k++) {
            const rd_kafka_ConfigEntry_t *ce = ents[k];
            const char *val = rd_kafka_ConfigEntry_value(ce);
            int source = rd_kafka_ConfigEntry_source(ce);
            /* brokers answering DescribeConfigs v0 report no source */
            int set_on_topic = source == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG ||
                               (source == RD_KAFKA_CONFIG_SOURCE_UNKNOWN_CONFIG &&
                                !rd_kafka_ConfigEntry_is_default(ce));
            if (!set_on_topic || !val || rd_kafka_ConfigEntry_is_read_only(ce) ||
                rd_kafka_ConfigEntry_is_sensitive(ce))
                continue;
            if (add(out, rd_kafka_ConfigEntry_name(ce), val)) {
                snprintf(err, errlen, "out of memory");
                goto out;
            }
        }
    }
    rc = 0;
out:
    if (rc)
        tconf_free(out);
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_ConfigResource_destroy(res);
    rd_kafka_queue_destroy(q);
    return rc;
}

int tconf_sync(rd_kafka_t *src_rk, rd_kafka_t *tgt_rk, const char *src, const char *tgt) {
    tconf s, t, want = {0};
    char err[512];
    if (tconf_describe(src_rk, src, &s, err, sizeof(err))) {
        kf_warn("topics", "%s: cannot describe source configs: %s", src, err);
        return -1;
    }
    if (tconf_describe(tgt_rk, tgt, &t, err, sizeof(err))) {
        kf_warn("topics", "%s: cannot describe target configs: %s", tgt, err);
        tconf_free(&s);
        return -1;
    }
    int changed = 0;
    for (size_t i = 0; i < s.n; i++) {
        if (!tconf_copyable(s.name[i]))
            continue;
        add(&want, s.name[i], s.value[i]);
        const char *cur = get(&t, s.name[i]);
        if (!cur || strcmp(cur, s.value[i])) {
            kf_notice("topics", "%s: config %s: %s -> %s (as on source %s)", tgt, s.name[i],
                      cur ? cur : "(default)", s.value[i], src);
            changed = 1;
        }
    }
    for (size_t i = 0; i < t.n; i++) {
        if (!tconf_copyable(t.name[i])) {
            add(&want, t.name[i], t.value[i]); /* the target's own setting stays */
        } else if (!get(&s, t.name[i])) {
            kf_notice("topics", "%s: config %s=%s removed (not set on source %s)", tgt, t.name[i],
                      t.value[i], src);
            changed = 1;
        }
    }
    int rc = 0;
    if (changed) {
        rc = -1;
        rd_kafka_queue_t *q = rd_kafka_queue_new(tgt_rk);
        rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, tgt);
        for (size_t i = 0; i < want.n; i++)
            rd_kafka_ConfigResource_set_config(res, want.name[i], want.value[i]);
        rd_kafka_AlterConfigs(tgt_rk, &res, 1, NULL, q);
        rd_kafka_event_t *ev = topics_admin_wait(q, RD_KAFKA_EVENT_ALTERCONFIGS_RESULT, 30000);
        if (!ev || rd_kafka_event_error(ev)) {
            kf_warn("topics", "%s: AlterConfigs: %s", tgt,
                    ev ? rd_kafka_event_error_string(ev) : "timed out");
        } else {
            size_t nres = 0;
            const rd_kafka_ConfigResource_t **rs = rd_kafka_AlterConfigs_result_resources(
                rd_kafka_event_AlterConfigs_result(ev), &nres);
            if (nres && rd_kafka_ConfigResource_error(rs[0]))
                kf_warn("topics", "%s: AlterConfigs: %s", tgt,
                        rd_kafka_ConfigResource_error_string(rs[0]));
            else
                rc = 1;
        }
        if (ev)
            rd_kafka_event_destroy(ev);
        rd_kafka_ConfigResource_destroy(res);
        rd_kafka_queue_destroy(q);
    }
    tconf_free(&s);
    tconf_free(&t);
    tconf_free(&want);
    return rc;
}
