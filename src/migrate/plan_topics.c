/*
 * plan_topics.c - what `kferry mirror` would do with every source topic, and
 * the topic checks: replication factor, collisions, configs the target
 * rejects or changes, message size.  Follows the mirror's own rules (topics.c,
 * topicconf.c) so the target validates exactly what the mirror would send.
 */
#include "common/util.h"
#include "mirror/clients.h"
#include "mirror/retry.h"
#include "migrate/inventory.h"
#include "mirror/mapstore.h"
#include "mirror/offmap.h"
#include "migrate/plan.h"
#include "mirror/topicconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 1 if replication.factor was written in the file (globally or for the
 * flow), 0 if it is kferry's default. */
static int rf_explicit(plan_ctx *p) {
    char fk[512];
    snprintf(fk, sizeof(fk), "%s->%s.replication.factor", p->cfg->src.alias, p->cfg->tgt.alias);
    return kf_props_find(&p->cfg->props, "replication.factor") || kf_props_find(&p->cfg->props, fk);
}

/* The replication factor the mirror creates topics with (topics.c caps it
 * at the target's broker count). */
static int rf_used(plan_ctx *p, int brokers) {
    int rf = p->cfg->replication_factor;
    return rf > brokers && brokers > 0 ? brokers : rf;
}

static void check_rf(plan_ctx *p, int brokers) {
    int rf = p->cfg->replication_factor;
    const char *tgt = p->cfg->tgt.alias;
    if (rf == -1)
        plan_check(p, "replication_factor", "ok", tgt, "cluster", tgt,
                   "replication.factor -1: target topics get %s's default replication factor", tgt);
    else if (rf <= brokers)
        plan_check(p, "replication_factor", "ok", tgt, "cluster", tgt,
                   "replication.factor %d <= %d broker(s) on %s", rf, brokers, tgt);
    else if (rf_explicit(p))
        plan_check(p, "replication_factor", "blocker", tgt, "cluster", tgt,
                   "replication.factor %d is larger than %s's %d broker(s): topics could not be "
                   "created with it (the mirror would cap it to %d); lower replication.factor or "
                   "add brokers",
                   rf, tgt, brokers, brokers);
    else
        plan_check(p, "replication_factor", "warning", tgt, "cluster", tgt,
                   "default replication.factor %d is larger than %s's %d broker(s): the mirror "
                   "will create topics with replication factor %d (set replication.factor to "
                   "choose)",
                   rf, tgt, brokers, brokers);
}

/* Total records (high - low watermark) of an existing target topic, -1 if
 * unknown. */
static json_int_t target_records(plan_ctx *p, const char *topic, int partitions) {
    json_int_t total = 0;
    for (int k = 0; k < partitions; k++) {
        int64_t lo = 0, hi = 0;
        if (retry_watermarks(p->tgt, topic, k, &lo, &hi, p->timeout_ms))
            return -1;
        total += hi - lo;
    }
    return total;
}

/* The offset map the mirror keeps on the target, to tell topics kferry
 * already mirrored into from foreign ones.  *found = 0 if there is none. */
static void load_map(plan_ctx *p, offmap *m, int *found) {
    *found = 0;
    if (!inv_topic(p->tgt_inv, p->cfg->map_topic))
        return;
    rd_kafka_t *rd = clients_consumer(p->cfg, &p->cfg->tgt, "plan", 1);
    char err[512];
    if (!rd || mapstore_load(rd, p->cfg->map_topic, m, found, NULL, 0, err, sizeof(err))) {
        *found = 0;
        plan_check(p, "offset_map", "warning", p->cfg->tgt.alias, "topic", p->cfg->map_topic,
                   "cannot read kferry's offset map %s: existing target topics cannot be told "
                   "apart from foreign ones",
                   p->cfg->map_topic);
    }
    if (rd)
        rd_kafka_destroy(rd);
}

static int mapped_by_kferry(const offmap *m, const char *src, const char *tgt) {
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->parts[i]->src_topic, src) && !strcmp(m->parts[i]->tgt_topic, tgt))
            return 1;
    return 0;
}

static json_int_t jint(const json_t *o, const char *k, json_int_t dflt) {
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? json_integer_value(v) : dflt;
}

/* Configs: which are copied, which are not, and drift on existing topics. */
static void plan_configs(plan_ctx *p, json_t *st, json_t *tt, json_t *e) {
    const char *name = json_string_value(json_object_get(st, "name"));
    json_t *copied = json_object_get(e, "configs_copied");
    json_t *kept = json_object_get(e, "configs_not_copied");
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(st, "configs"), k, v) {
        if (p->cfg->sync_topic_configs && tconf_copyable(k))
            json_object_set(copied, k, v);
        else
            json_object_set(kept, k, v);
    }
    json_object_foreach(kept, k, v) {
        plan_check(p, "config_not_copied", "warning", p->cfg->src.alias, "topic", name,
                   "%s: %s=%s is not copied to the target (%s); the target's default applies", name,
                   k, json_string_value(v),
                   p->cfg->sync_topic_configs ? "excluded by kferry, see docs/MIRROR.md"
                                              : "sync.topic.configs.enabled=false");
    }
    if (!tt || !p->cfg->sync_topic_configs)
        return;
    json_t *tcfg = json_object_get(tt, "configs");
    const char *tname = json_string_value(json_object_get(tt, "name"));
    json_object_foreach(copied, k, v) {
        json_t *cur = json_object_get(tcfg, k);
        if (!cur || strcmp(json_string_value(cur), json_string_value(v)))
            plan_check(p, "config_change", "warning", p->cfg->tgt.alias, "topic", tname,
                       "%s: the mirror will change %s from %s to %s (as on source %s)", tname, k,
                       cur ? json_string_value(cur) : "(default)", json_string_value(v), name);
    }
    json_object_foreach(tcfg, k, v) {
        if (tconf_copyable(k) && !json_object_get(copied, k))
            plan_check(p, "config_change", "warning", p->cfg->tgt.alias, "topic", tname,
                       "%s: the mirror will remove %s=%s (not set on source %s)", tname, k,
                       json_string_value(v), name);
    }
}

/* Source records up to the source's limit must fit the target's limit. */
static void plan_size(plan_ctx *p, json_t *st, json_t *tt, json_t *e) {
    const char *name = json_string_value(json_object_get(st, "name"));
    const char *tname = json_string_value(json_object_get(e, "target"));
    json_int_t src_max = jint(st, "max_message_bytes", jint(p->src_inv, "message_max_bytes", -1));
    json_int_t tgt_max = -1;
    const char *what = NULL;
    json_t *copied = json_object_get(json_object_get(e, "configs_copied"), "max.message.bytes");
    if (tt) {
        tgt_max = jint(tt, "max_message_bytes", jint(p->tgt_inv, "message_max_bytes", -1));
        what = "target topic max.message.bytes";
    } else if (copied) {
        tgt_max = src_max; /* created with the source's own limit */
        what = "copied max.message.bytes";
    } else {
        tgt_max = jint(p->tgt_inv, "message_max_bytes", -1);
        what = "target broker message.max.bytes";
    }
    json_object_set_new(e, "max_message_bytes", src_max >= 0 ? json_integer(src_max) : json_null());
    json_object_set_new(e, "target_max_message_bytes",
                        tgt_max >= 0 ? json_integer(tgt_max) : json_null());
    if (src_max < 0 || tgt_max < 0)
        plan_check(p, "message_size", "warning", p->cfg->tgt.alias, "topic", tname,
                   "%s: message size limits unknown (source %lld, target %lld)", name,
                   (long long)src_max, (long long)tgt_max);
    else if (src_max > tgt_max)
        plan_check(p, "message_size", "blocker", p->cfg->tgt.alias, "topic", tname,
                   "%s: source accepts batches up to %lld bytes (max.message.bytes) but %s is "
                   "%lld: larger records would be refused by %s",
                   name, (long long)src_max, what, (long long)tgt_max, p->cfg->tgt.alias);
}

/* The existing target topic: compatible, or a collision. */
static void plan_existing(plan_ctx *p, json_t *st, json_t *tt, json_t *e, const offmap *m) {
    const char *name = json_string_value(json_object_get(st, "name"));
    const char *tname = json_string_value(json_object_get(tt, "name"));
    json_int_t np = jint(st, "partitions", 0), tp = jint(tt, "partitions", 0);
    json_object_set_new(e, "target_partitions", json_integer(tp));
    if (np != tp) {
        json_object_set_new(e, "action", json_string("conflict"));
        plan_check(p, "partition_mismatch", "blocker", p->cfg->tgt.alias, "topic", tname,
                   "target topic %s already exists with %lld partition(s); source topic %s has "
                   "%lld: partition N must map to partition N",
                   tname, (long long)tp, name, (long long)np);
        return;
    }
    json_object_set_new(e, "action", json_string("exists"));
    json_int_t recs = target_records(p, tname, (int)tp);
    json_object_set_new(e, "target_records", recs >= 0 ? json_integer(recs) : json_null());
    int ours = mapped_by_kferry(m, name, tname);
    json_object_set_new(e, "mirrored_by_kferry", json_boolean(ours));
    if (recs > 0 && !ours)
        plan_check(p, "target_not_empty", "warning", p->cfg->tgt.alias, "topic", tname,
                   "target topic %s already holds %lld record(s) not created by kferry; "
                   "mirroring would append after them",
                   tname, (long long)recs);
    else if (recs < 0)
        plan_check(p, "target_not_empty", "warning", p->cfg->tgt.alias, "topic", tname,
                   "target topic %s exists; its offsets could not be read", tname);
}

/* Kafka refuses a topic whose name differs from another only by '.'
 * versus '_' (they collide in metric names); kferry-broker's validate_only
 * does not check it, so the plan does. */
static void check_kafka_collisions(plan_ctx *p, json_t *entries) {
    json_t *seen = json_object(); /* normalized name -> real name */
    size_t i;
    json_t *t;
    char norm[512];
    json_array_foreach(json_object_get(p->tgt_inv, "topics"), i, t) {
        kf_strlcpy(norm, json_string_value(json_object_get(t, "name")), sizeof(norm));
        for (char *c = norm; *c; c++)
            *c = *c == '.' ? '_' : *c;
        json_object_set(seen, norm, json_object_get(t, "name"));
    }
    json_array_foreach(entries, i, t) {
        if (strcmp(json_string_value(json_object_get(t, "action")), "create"))
            continue;
        const char *tn = json_string_value(json_object_get(t, "target"));
        kf_strlcpy(norm, tn, sizeof(norm));
        for (char *c = norm; *c; c++)
            *c = *c == '.' ? '_' : *c;
        json_t *other = json_object_get(seen, norm);
        if (other) {
            json_object_set_new(t, "action", json_string("conflict"));
            plan_check(p, "name_collision", "blocker", p->cfg->tgt.alias, "topic", tn,
                       "target topic %s would collide with topic %s: Kafka treats '.' and '_' "
                       "alike in topic names",
                       tn, json_string_value(other));
        } else {
            json_object_set_new(seen, norm, json_string(tn));
        }
    }
    json_decref(seen);
}

/* CreateTopics with validate_only for every topic to create, exactly as
 * the mirror would send it. */
static void validate_creates(plan_ctx *p, json_t *entries, int rf) {
    size_t n = 0, i;
    json_t *e;
    json_array_foreach(entries, i, e) {
        n += !strcmp(json_string_value(json_object_get(e, "action")), "create");
    }
    if (!n)
        return;
    rd_kafka_NewTopic_t **nts = calloc(n, sizeof(*nts));
    if (!nts)
        return;
    size_t k = 0;
    char eb[512];
    json_array_foreach(entries, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "action")), "create"))
            continue;
        nts[k] = rd_kafka_NewTopic_new(json_string_value(json_object_get(e, "target")),
                                       (int)jint(e, "partitions", 1), rf, eb, sizeof(eb));
        const char *ck;
        json_t *cv;
        json_object_foreach(json_object_get(e, "configs_copied"), ck, cv) {
            rd_kafka_NewTopic_set_config(nts[k], ck, json_string_value(cv));
        }
        if (nts[k])
            k++;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(p->tgt);
    rd_kafka_AdminOptions_t *o = inv_options(p->tgt, RD_KAFKA_ADMIN_OP_CREATETOPICS, p->timeout_ms);
    rd_kafka_AdminOptions_set_validate_only(o, 1, eb, sizeof(eb));
    rd_kafka_AdminOptions_set_operation_timeout(o, p->timeout_ms, eb, sizeof(eb));
    rd_kafka_CreateTopics(p->tgt, nts, k, o, q);
    rd_kafka_event_t *ev = inv_wait(q, RD_KAFKA_EVENT_CREATETOPICS_RESULT, p->timeout_ms);
    const char *tgt = p->cfg->tgt.alias;
    if (!ev || rd_kafka_event_error(ev)) {
        plan_check(p, "create_validation", "warning", tgt, "cluster", tgt,
                   "%s did not validate the %zu topic(s) to create (CreateTopics validate_only): "
                   "%s",
                   tgt, k, ev ? rd_kafka_event_error_string(ev) : "timed out");
    } else {
        size_t nr = 0, bad = 0;
        const rd_kafka_topic_result_t **tr =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &nr);
        for (size_t r = 0; r < nr; r++) {
            rd_kafka_resp_err_t err = rd_kafka_topic_result_error(tr[r]);
            const char *tn = rd_kafka_topic_result_name(tr[r]);
            if (!err)
                continue;
            bad++;
            const char *msg = rd_kafka_topic_result_error_string(tr[r]);
            json_array_foreach(entries, i, e) {
                if (!strcmp(json_string_value(json_object_get(e, "target")), tn))
                    json_object_set_new(e, "create_error", json_string(msg ? msg : ""));
            }
            plan_check(
                p, err == RD_KAFKA_RESP_ERR_INVALID_CONFIG ? "config_rejected" : "create_rejected",
                "blocker", tgt, "topic", tn,
                "%s refuses to create %s as the mirror would (validate_only): %s: %s", tgt, tn,
                rd_kafka_err2name(err), msg ? msg : rd_kafka_err2str(err));
        }
        if (!bad)
            plan_check(p, "create_validation", "ok", tgt, "cluster", tgt,
                       "%s accepts all %zu topic(s) to create, with their copied configs", tgt, nr);
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy_array(nts, k);
    free(nts);
}

/* kferry.workers: the flow's lock topic has one partition per unit, and a
 * mirror started with another count is refused (flowlock.c). */
static void check_units(plan_ctx *p) {
    const mirror_config *c = p->cfg;
    const char *tgt = c->tgt.alias;
    json_t *lt = inv_topic(p->tgt_inv, c->lock_topic);
    int have = lt ? (int)jint(lt, "partitions", 0) : 0;
    if (lt && have != c->workers)
        plan_check(p, "flow_units", "blocker", tgt, "topic", c->lock_topic,
                   "flow-lock topic %s has %d partition(s), one per unit, but kferry.workers=%d: "
                   "`kferry mirror` would refuse to start; use kferry.workers=%d, or stop every "
                   "process of the flow, delete %s and start them with the new value",
                   c->lock_topic, have, c->workers, have, c->lock_topic);
    else if (lt)
        plan_check(p, "flow_units", "ok", tgt, "topic", c->lock_topic,
                   "flow-lock topic %s has the flow's %d unit(s)", c->lock_topic, have);
    else
        plan_check(p, "flow_units", "ok", tgt, "topic", c->lock_topic,
                   "flow-lock topic %s will be created with %d partition(s), one per unit",
                   c->lock_topic, c->workers);
}

void plan_topics(plan_ctx *p) {
    json_t *entries = json_array();
    json_object_set_new(p->doc, "topics", entries);
    if (!p->src_inv)
        return; /* unreachable: already a blocker */
    /* with the target unreachable the source side is still listed, with
     * action "unknown" */
    int brokers = p->tgt_inv ? (int)jint(p->tgt_inv, "broker_count", 0) : 0;
    if (p->tgt_inv) {
        check_rf(p, brokers);
        check_units(p);
    }
    offmap m;
    offmap_init(&m);
    int have_map = 0;
    if (p->tgt_inv)
        load_map(p, &m, &have_map);
    json_t *owner = json_object(); /* target name -> source name */
    size_t i, nsel = 0, nexcl = 0;
    json_t *st;
    json_array_foreach(json_object_get(p->src_inv, "topics"), i, st) {
        const char *name = json_string_value(json_object_get(st, "name"));
        const char *why = NULL;
        int sel = mc_topic_selected(p->cfg, name, &why);
        json_t *e = json_pack("{s:s,s:I,s:I,s:b,s:s?,s:n,s:s,s:{},s:{}}", "source", name,
                              "partitions", jint(st, "partitions", 0), "replication_factor",
                              jint(st, "replication_factor", 0), "selected", sel, "excluded_reason",
                              why, "target", "action", sel ? "create" : "excluded",
                              "configs_copied", "configs_not_copied");
        /* every entry has every key (null when not applicable) */
        static const char *later[] = {"target_partitions",        "target_records",
                                      "mirrored_by_kferry",       "max_message_bytes",
                                      "target_max_message_bytes", "create_error"};
        for (size_t k = 0; k < sizeof(later) / sizeof(later[0]); k++)
            json_object_set_new(e, later[k], json_null());
        json_object_set(e, "max_message_bytes", json_object_get(st, "max_message_bytes"));
        json_array_append_new(entries, e);
        if (!sel) {
            nexcl++;
            continue;
        }
        nsel++;
        char tname[512];
        if (mc_target_topic(p->cfg, name, tname, sizeof(tname))) {
            json_object_set_new(e, "action", json_string("conflict"));
            plan_check(p, "target_name", "blocker", p->cfg->tgt.alias, "topic", name,
                       "source topic %s: target name under the replication policy exceeds "
                       "Kafka's 249 characters",
                       name);
            continue;
        }
        json_object_set_new(e, "target", json_string(tname));
        json_t *prev = json_object_get(owner, tname);
        if (prev) {
            json_object_set_new(e, "action", json_string("conflict"));
            plan_check(p, "name_collision", "blocker", p->cfg->tgt.alias, "topic", tname,
                       "source topics %s and %s both map to target topic %s",
                       json_string_value(prev), name, tname);
            continue;
        }
        json_object_set_new(owner, tname, json_string(name));
        if (!p->tgt_inv) {
            json_object_set_new(e, "action", json_string("unknown"));
            continue;
        }
        json_t *tt = inv_topic(p->tgt_inv, tname);
        plan_configs(p, st, tt, e);
        if (tt)
            plan_existing(p, st, tt, e, &m);
        plan_size(p, st, tt, e);
    }
    if (p->tgt_inv) {
        check_kafka_collisions(p, entries);
        validate_creates(p, entries, rf_used(p, brokers));
    }
    if (nsel)
        plan_check(p, "topic_selection", "ok", p->cfg->src.alias, "cluster", p->cfg->src.alias,
                   "%zu source topic(s) selected, %zu excluded (each listed with its reason)", nsel,
                   nexcl);
    else /* a mirror of nothing is no migration: say so before anyone starts it */
        plan_check(p, "topic_selection", "blocker", p->cfg->src.alias, "cluster", p->cfg->src.alias,
                   "no source topic is selected: %zu topic(s) on %s, all excluded by 'topics' / "
                   "'topics.exclude' (each listed with its reason); check the patterns",
                   nexcl, p->cfg->src.alias);
    json_decref(owner);
    if (nsel) /* the source alone is enough: with no map, everything is to copy */
        plan_estimate(p, &m);
    offmap_free(&m);
}
