/*
 * plan_groups.c - consumer groups in the plan: which source groups kferry
 * would move (groups / groups.exclude), their lag, and whether the target can
 * take their offsets.  Group sync never commits to a group with active
 * members, and offsets of unmirrored topics cannot be translated.
 */
#include "migrate/inventory.h"
#include "migrate/plan.h"

#include <regex.h>
#include <string.h>

static int matches(const mc_regexes *r, const char *s) {
    for (size_t i = 0; i < r->n; i++)
        if (regexec(&r->re[i], s, 0, NULL, 0) == 0)
            return 1;
    return 0;
}

static const char *group_excluded(const mirror_config *c, const char *g) {
    if (!matches(&c->groups, g))
        return "not matched by 'groups'";
    if (matches(&c->groups_exclude, g))
        return "matched by 'groups.exclude'";
    return NULL;
}

static json_t *find_group(json_t *inv, const char *g) {
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(inv, "groups"), i, it) {
        if (!strcmp(json_string_value(json_object_get(it, "group")), g))
            return it;
    }
    return NULL;
}

/* Warns once per topic a selected group committed on but which is not
 * mirrored: the group's position there cannot be carried over. */
static void check_topics(plan_ctx *p, const char *g, json_t *offsets) {
    json_t *seen = json_object();
    size_t i;
    json_t *o;
    json_array_foreach(offsets, i, o) {
        const char *t = json_string_value(json_object_get(o, "topic"));
        if (json_object_get(seen, t))
            continue;
        json_object_set_new(seen, t, json_true());
        const char *why = NULL;
        if (!mc_topic_selected(p->cfg, t, &why))
            plan_check(p, "group_topic_not_mirrored", "warning", p->cfg->src.alias, "group", g,
                       "group %s has offsets on topic %s, which is not mirrored (%s): they cannot "
                       "be translated",
                       g, t, why);
    }
    json_decref(seen);
}

void plan_groups(plan_ctx *p) {
    json_t *out = json_array();
    json_object_set_new(p->doc, "groups", out);
    const char *err;
    if (p->src_inv && (err = json_string_value(json_object_get(p->src_inv, "groups_error"))))
        plan_check(p, "groups", "warning", p->cfg->src.alias, "cluster", p->cfg->src.alias,
                   "consumer groups of %s: %s", p->cfg->src.alias, err);
    if (p->tgt_inv && (err = json_string_value(json_object_get(p->tgt_inv, "groups_error"))))
        plan_check(p, "groups", "warning", p->cfg->tgt.alias, "cluster", p->cfg->tgt.alias,
                   "consumer groups of %s: %s", p->cfg->tgt.alias, err);
    if (!p->src_inv)
        return;
    size_t i, nsel = 0;
    json_t *g;
    json_array_foreach(json_object_get(p->src_inv, "groups"), i, g) {
        const char *id = json_string_value(json_object_get(g, "group"));
        const char *why = group_excluded(p->cfg, id);
        json_t *tg = p->tgt_inv ? find_group(p->tgt_inv, id) : NULL;
        json_t *e = json_pack("{s:s,s:b,s:s?,s:O?,s:O?,s:O?,s:O?,s:O?}", "group", id, "selected",
                              !why, "excluded_reason", why, "state", json_object_get(g, "state"),
                              "member_count", json_object_get(g, "member_count"), "lag",
                              json_object_get(g, "lag"), "offsets", json_object_get(g, "offsets"),
                              "error", json_object_get(g, "error"));
        /* null: the target could not be inventoried */
        json_object_set_new(
            e, "target",
            !p->tgt_inv ? json_null()
            : tg ? json_pack("{s:b,s:O?,s:O?}", "exists", 1, "state", json_object_get(tg, "state"),
                             "member_count", json_object_get(tg, "member_count"))
                 : json_pack("{s:b,s:n,s:i}", "exists", 0, "state", "member_count", 0));
        json_array_append_new(out, e);
        if (why)
            continue;
        nsel++;
        const char *gerr = json_string_value(json_object_get(g, "error"));
        if (gerr)
            plan_check(p, "groups", "warning", p->cfg->src.alias, "group", id, "group %s: %s", id,
                       gerr);
        check_topics(p, id, json_object_get(g, "offsets"));
        if (tg && json_integer_value(json_object_get(tg, "member_count")) > 0)
            plan_check(p, "group_active_on_target", "warning", p->cfg->tgt.alias, "group", id,
                       "group %s already has %lld active member(s) on %s: kferry never commits "
                       "offsets to a group with active members",
                       id, (long long)json_integer_value(json_object_get(tg, "member_count")),
                       p->cfg->tgt.alias);
    }
    plan_check(p, "group_selection", "ok", p->cfg->src.alias, "cluster", p->cfg->src.alias,
               "%zu consumer group(s) selected of %zu on %s", nsel,
               json_array_size(json_object_get(p->src_inv, "groups")), p->cfg->src.alias);
}
