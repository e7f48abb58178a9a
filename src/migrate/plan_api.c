/*
 * plan_api.c - API/feature preflight: which Kafka APIs kferry needs on
 * each side, checked against the broker's ApiVersions answer.
 *
 * The list follows what the mirror sends: reads only on the source; topic
 * admin, idempotent produce and group offset commits on the target.
 */
#include "migrate/apiprobe.h"
#include "migrate/plan.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct need {
    int16_t key, min_version;
    int on_source, on_target;
    int required; /* 0: only a feature is lost (warning) */
    const char *why;
} need;

static const need g_needs[] = {
    {3, 0, 1, 1, 1, "topic and broker discovery"},
    {0, 3, 0, 1, 1, "writing record batches (v3+: RecordBatch v2)"},
    {1, 4, 1, 1, 1, "reading records (v4+: RecordBatch v2, read_committed)"},
    {2, 1, 1, 1, 1, "log start/end offsets"},
    {32, 0, 1, 1, 1, "copying topic configs"},
    {19, 0, 0, 1, 1, "creating target topics"},
    {37, 0, 0, 1, 0, "growing target topics when source partitions are added"},
    {33, 0, 0, 1, 0, "keeping target topic configs in step"},
    {22, 0, 0, 1, 1, "the idempotent producer (no duplicates on retries)"},
    {9, 1, 1, 1, 0, "reading committed group offsets (group sync, cutover)"},
    {8, 2, 0, 1, 0, "committing translated group offsets (group sync, cutover)"},
    {16, 0, 1, 1, 0, "listing consumer groups"},
    {15, 0, 1, 1, 0, "describing consumer groups (cutover waits for members to leave)"},
};

static const char *prop(const mc_cluster *cl, const char *key) {
    for (size_t i = 0; i < cl->nprops; i++)
        if (!strcmp(cl->props[i].key, key))
            return cl->props[i].value;
    return NULL;
}

void plan_api(plan_ctx *p, const mc_cluster *cl, const char *role, json_t *inv) {
    const char *proto = prop(cl, "security.protocol");
    json_t *av = json_pack("{s:b,s:n,s:n,s:[]}", "checked", 0, "address", "error", "apis");
    json_object_set_new(inv, "api_versions", av);
    if (proto && (!strcasecmp(proto, "ssl") || !strcasecmp(proto, "sasl_ssl"))) {
        json_object_set_new(av, "error", json_string("not probed: TLS listener"));
        plan_check(p, "api_versions", "warning", cl->alias, "cluster", cl->alias,
                   "API versions of %s not checked: the probe speaks plaintext only and %s uses "
                   "%s; unsupported APIs will show up as errors when mirroring",
                   cl->alias, cl->alias, proto);
        return;
    }
    api_versions v;
    char err[1024];
    if (apiprobe_run(mc_bootstrap(cl), p->timeout_ms, &v, err, sizeof(err))) {
        json_object_set_new(av, "error", json_string(err));
        /* librdkafka did connect, so this is the probe's limit (a proxy, an
         * address only librdkafka resolves): unverified, not refused */
        plan_check(p, "api_versions", "warning", cl->alias, "cluster", cl->alias,
                   "cannot read API versions of %s (%s): %s", cl->alias, mc_bootstrap(cl), err);
        return;
    }
    json_object_set_new(av, "checked", json_true());
    json_object_set_new(av, "address", json_string(v.address));
    json_t *apis = json_object_get(av, "apis");
    char nb[32];
    for (size_t i = 0; i < v.n; i++)
        json_array_append_new(apis, json_pack("{s:i,s:s,s:i,s:i}", "key", v.apis[i].key, "name",
                                              apiprobe_name(v.apis[i].key, nb, sizeof(nb)), "min",
                                              v.apis[i].min, "max", v.apis[i].max));
    int target = !strcmp(role, "target"), problems = 0;
    for (size_t i = 0; i < sizeof(g_needs) / sizeof(g_needs[0]); i++) {
        const need *n = &g_needs[i];
        if (!(target ? n->on_target : n->on_source))
            continue;
        const api_range *r = apiprobe_find(&v, n->key);
        const char *name = apiprobe_name(n->key, nb, sizeof(nb));
        if (r && r->max >= n->min_version)
            continue;
        problems++;
        if (r)
            plan_check(p, "api_versions", n->required ? "blocker" : "warning", cl->alias, "api",
                       name, "%s supports %s v%d-%d only; kferry needs v%d+ for %s", cl->alias,
                       name, r->min, r->max, n->min_version, n->why);
        else
            plan_check(p, "api_versions", n->required ? "blocker" : "warning", cl->alias, "api",
                       name, "%s does not support %s, needed for %s", cl->alias, name, n->why);
    }
    if (!problems)
        plan_check(p, "api_versions", "ok", cl->alias, "cluster", cl->alias,
                   "%s supports every API kferry needs as %s (%zu APIs advertised by %s)",
                   cl->alias, role, v.n, v.address);
    apiprobe_free(&v);
}
