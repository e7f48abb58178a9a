/*
 * iampolicy.c - Kafka ACLs to MSK IAM policy statements (see iampolicy.h).
 *
 * The mapping follows MSK's IAM action semantics: each kafka-cluster:
 * action is "equivalent to" one Kafka operation on one resource type, and
 * an ALLOW also gets the actions of the operations Kafka implies for it
 * (READ, WRITE, DELETE, ALTER imply DESCRIBE; ALTER_CONFIGS implies
 * DESCRIBE_CONFIGS), which MSK lists as required.  A DENY gets only the
 * operation's own actions: Kafka's DENY does not extend to implied ones.
 * Every principal gets kafka-cluster:Connect on the cluster (Kafka has no
 * connect right; MSK does).
 *
 * Topic names are the target's (replication policy).  A PREFIXED or `*`
 * topic ACL becomes a trailing-`*` resource on the renamed prefix when the
 * policy keeps prefixes for every mirrored topic it covers, else one
 * resource per mirrored topic.  IAM has no host condition for Kafka
 * clients: an ALLOW limited to a host is not suggested (it would grant from
 * everywhere); a DENY limited to a host becomes a Deny from everywhere (a
 * note says so).
 */
#include "mirror/iampolicy.h"

#include "common/util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sorted by name: output order is bit order. */
enum {
    A_ALTER_CLUSTER,
    A_ALTER_CLUSTER_DYN,
    A_ALTER_GROUP,
    A_ALTER_TOPIC,
    A_ALTER_TOPIC_DYN,
    A_ALTER_TXN,
    A_CONNECT,
    A_CREATE_TOPIC,
    A_DELETE_GROUP,
    A_DELETE_TOPIC,
    A_DESCRIBE_CLUSTER,
    A_DESCRIBE_CLUSTER_DYN,
    A_DESCRIBE_GROUP,
    A_DESCRIBE_TOPIC,
    A_DESCRIBE_TOPIC_DYN,
    A_DESCRIBE_TXN,
    A_READ_DATA,
    A_WRITE_DATA,
    A_WRITE_IDEMPOTENTLY,
    A_COUNT
};

static const char *const g_action[A_COUNT] = {
    "kafka-cluster:AlterCluster",
    "kafka-cluster:AlterClusterDynamicConfiguration",
    "kafka-cluster:AlterGroup",
    "kafka-cluster:AlterTopic",
    "kafka-cluster:AlterTopicDynamicConfiguration",
    "kafka-cluster:AlterTransactionalId",
    "kafka-cluster:Connect",
    "kafka-cluster:CreateTopic",
    "kafka-cluster:DeleteGroup",
    "kafka-cluster:DeleteTopic",
    "kafka-cluster:DescribeCluster",
    "kafka-cluster:DescribeClusterDynamicConfiguration",
    "kafka-cluster:DescribeGroup",
    "kafka-cluster:DescribeTopic",
    "kafka-cluster:DescribeTopicDynamicConfiguration",
    "kafka-cluster:DescribeTransactionalId",
    "kafka-cluster:ReadData",
    "kafka-cluster:WriteData",
    "kafka-cluster:WriteDataIdempotently",
};

#define B(x) (1u << (x))

/* IAM resource kinds, in output order. */
enum { K_CLUSTER, K_TOPIC, K_GROUP, K_TXN };
static const char *const g_kind[] = {"cluster", "topic", "group", "transactional-id"};

/* The actions of op on a resource type (own actions; implied ones added
 * for ALLOW).  0: no IAM equivalent. */
static uint32_t actions_for(int restype, int op, int allow) {
    uint32_t own = 0, implied = 0;
    switch (restype) {
    case AM_RES_TOPIC:
        switch (op) {
        case AM_OP_READ: own = B(A_READ_DATA), implied = B(A_DESCRIBE_TOPIC); break;
        case AM_OP_WRITE: own = B(A_WRITE_DATA), implied = B(A_DESCRIBE_TOPIC); break;
        case AM_OP_CREATE: own = B(A_CREATE_TOPIC); break;
        case AM_OP_DELETE: own = B(A_DELETE_TOPIC), implied = B(A_DESCRIBE_TOPIC); break;
        case AM_OP_ALTER: own = B(A_ALTER_TOPIC), implied = B(A_DESCRIBE_TOPIC); break;
        case AM_OP_DESCRIBE: own = B(A_DESCRIBE_TOPIC); break;
        case AM_OP_DESCRIBE_CONFIGS: own = B(A_DESCRIBE_TOPIC_DYN); break;
        case AM_OP_ALTER_CONFIGS:
            own = B(A_ALTER_TOPIC_DYN), implied = B(A_DESCRIBE_TOPIC_DYN);
            break;
        case AM_OP_ALL:
            own = B(A_READ_DATA) | B(A_WRITE_DATA) | B(A_CREATE_TOPIC) | B(A_DELETE_TOPIC) |
                  B(A_ALTER_TOPIC) | B(A_DESCRIBE_TOPIC) | B(A_DESCRIBE_TOPIC_DYN) |
                  B(A_ALTER_TOPIC_DYN);
            break;
        }
        break;
    case AM_RES_GROUP:
        switch (op) {
        case AM_OP_READ: own = B(A_ALTER_GROUP), implied = B(A_DESCRIBE_GROUP); break;
        case AM_OP_DELETE: own = B(A_DELETE_GROUP), implied = B(A_DESCRIBE_GROUP); break;
        case AM_OP_DESCRIBE: own = B(A_DESCRIBE_GROUP); break;
        case AM_OP_ALL: own = B(A_ALTER_GROUP) | B(A_DELETE_GROUP) | B(A_DESCRIBE_GROUP); break;
        }
        break;
    case AM_RES_TXN:
        switch (op) {
        case AM_OP_WRITE: own = B(A_ALTER_TXN), implied = B(A_DESCRIBE_TXN); break;
        case AM_OP_DESCRIBE: own = B(A_DESCRIBE_TXN); break;
        case AM_OP_ALL: own = B(A_ALTER_TXN) | B(A_DESCRIBE_TXN); break;
        }
        break;
    case AM_RES_CLUSTER:
        switch (op) {
        case AM_OP_DESCRIBE: own = B(A_DESCRIBE_CLUSTER); break;
        case AM_OP_ALTER: own = B(A_ALTER_CLUSTER), implied = B(A_DESCRIBE_CLUSTER); break;
        case AM_OP_DESCRIBE_CONFIGS: own = B(A_DESCRIBE_CLUSTER_DYN); break;
        case AM_OP_ALTER_CONFIGS:
            own = B(A_ALTER_CLUSTER_DYN), implied = B(A_DESCRIBE_CLUSTER_DYN);
            break;
        case AM_OP_IDEMPOTENT_WRITE: own = B(A_WRITE_IDEMPOTENTLY); break;
        case AM_OP_CREATE: own = B(A_CREATE_TOPIC); break; /* on every topic */
        case AM_OP_ALL:
            own = B(A_DESCRIBE_CLUSTER) | B(A_ALTER_CLUSTER) | B(A_DESCRIBE_CLUSTER_DYN) |
                  B(A_ALTER_CLUSTER_DYN) | B(A_WRITE_IDEMPOTENTLY) | B(A_CREATE_TOPIC);
            break;
        }
        break;
    }
    return own | (allow ? implied : 0);
}

/* ---------------------------------------------------------------------- */

int ip_arn_parse(const char *arn, const char *region, ip_arn *out, char *err, size_t errlen) {
    memset(out, 0, sizeof(*out));
    if (!arn || !*arn) {
        snprintf(out->partition, sizeof(out->partition), "aws");
        snprintf(out->region, sizeof(out->region), "%s", region && *region ? region : "<region>");
        snprintf(out->account, sizeof(out->account), "<account>");
        snprintf(out->cluster, sizeof(out->cluster), "<cluster-name>/<cluster-uuid>");
        out->placeholders = 1;
        return 0;
    }
    /* arn:PARTITION:kafka:REGION:ACCOUNT:cluster/NAME/UUID */
    const char *f[6];
    size_t fl[6];
    const char *p = arn;
    for (int i = 0; i < 6; i++) {
        const char *c = i < 5 ? strchr(p, ':') : p + strlen(p);
        if (!c)
            goto bad;
        f[i] = p;
        fl[i] = (size_t)(c - p);
        p = c + 1;
    }
    if (fl[0] != 3 || strncmp(f[0], "arn", 3) || fl[1] == 0 || fl[2] != 5 ||
        strncmp(f[2], "kafka", 5) || fl[3] == 0 || fl[4] == 0 || strncmp(f[5], "cluster/", 8))
        goto bad;
    const char *name = f[5] + 8, *slash = strchr(name, '/');
    if (!slash || slash == name || !slash[1] || strchr(slash + 1, '/') ||
        fl[1] >= sizeof(out->partition) || fl[3] >= sizeof(out->region) ||
        fl[4] >= sizeof(out->account) || strlen(name) >= sizeof(out->cluster))
        goto bad;
    snprintf(out->partition, sizeof(out->partition), "%.*s", (int)fl[1], f[1]);
    snprintf(out->region, sizeof(out->region), "%.*s", (int)fl[3], f[3]);
    snprintf(out->account, sizeof(out->account), "%.*s", (int)fl[4], f[4]);
    snprintf(out->cluster, sizeof(out->cluster), "%s", name);
    return 0;
bad:
    snprintf(err, errlen,
             "'%s' is not an MSK cluster ARN (expected "
             "arn:aws:kafka:REGION:ACCOUNT:cluster/CLUSTER-NAME/CLUSTER-UUID)",
             arn);
    return -1;
}

void ip_arn_cluster(const ip_arn *a, char *out, size_t cap) {
    snprintf(out, cap, "arn:%s:kafka:%s:%s:cluster/%s", a->partition, a->region, a->account,
             a->cluster);
}

/* ---------------------------------------------------------------------- */

/* One (principal, effect, resource) with its actions. */
typedef struct ent {
    const char *principal; /* borrowed from the source list or the map */
    int deny;
    int kind;
    char *name; /* resource name after the kind ("" for the cluster) */
    uint32_t actions;
} ent;

typedef struct ents {
    ent *v;
    size_t n, cap;
} ents;

static int ents_add(ents *e, const char *principal, int deny, int kind, const char *name,
                    uint32_t actions) {
    for (size_t i = 0; i < e->n; i++)
        if (e->v[i].deny == deny && e->v[i].kind == kind && !strcmp(e->v[i].principal, principal) &&
            !strcmp(e->v[i].name, name)) {
            e->v[i].actions |= actions;
            return 0;
        }
    if (e->n == e->cap) {
        size_t cap = e->cap ? 2 * e->cap : 16;
        ent *v = realloc(e->v, cap * sizeof(*v));
        if (!v)
            return -1;
        e->v = v;
        e->cap = cap;
    }
    char *n = kf_strdup(name);
    if (!n)
        return -1;
    e->v[e->n++] = (ent){principal, deny, kind, n, actions};
    return 0;
}

static void ents_free(ents *e) {
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i].name);
    free(e->v);
}

static int ent_cmp(const void *x, const void *y) {
    const ent *a = x, *b = y;
    int c = strcmp(a->principal, b->principal);
    if (c)
        return c;
    if (a->deny != b->deny)
        return a->deny - b->deny;
    if (a->kind != b->kind)
        return a->kind - b->kind;
    return strcmp(a->name, b->name);
}

static int name_matches(const am_acl *a, const char *name) {
    if (a->pattern == AM_PAT_LITERAL)
        return !strcmp(a->name, "*") || !strcmp(a->name, name);
    if (a->pattern == AM_PAT_PREFIXED)
        return !strncmp(a->name, name, strlen(a->name));
    return 0;
}

/* Per-principal notes: a JSON object principal -> array of strings. */
static int note(json_t *notes, const char *principal, const char *text) {
    json_t *a = json_object_get(notes, principal);
    if (!a) {
        a = json_array();
        if (!a || json_object_set_new(notes, principal, a))
            return -1;
    }
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) if (!strcmp(json_string_value(v), text)) return 0;
    return json_array_append_new(a, json_string(text));
}

static int not_mapped(json_t *arr, const am_acl *a, const char *reason) {
    json_t *o = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "resource_type", am_res_name(a->restype), "name",
        a->name, "pattern", am_pattern_name(a->pattern), "principal", a->principal, "host", a->host,
        "operation", am_op_name(a->op), "permission", am_perm_name(a->perm), "reason", reason);
    return o ? json_array_append_new(arr, o) : -1;
}

/* The topic resources of one topic ACL: -1 out of memory, else how many
 * mirrored topics it covers. */
static int topic_resources(const am_acl *a, const am_ctx *ctx, ents *e, const char *pr, int deny,
                           uint32_t acts, json_t *notes) {
    int covered = 0, keeps_prefix = 1;
    char tp[512] = "";
    int wild = a->pattern == AM_PAT_PREFIXED || !strcmp(a->name, "*");
    if (wild &&
        ctx->target_name(ctx->u, a->pattern == AM_PAT_PREFIXED ? a->name : "", tp, sizeof(tp)) != 0)
        keeps_prefix = 0;
    for (size_t t = 0; t < ctx->ntopics; t++) {
        char tn[512];
        if (!name_matches(a, ctx->topics[t]) ||
            ctx->target_name(ctx->u, ctx->topics[t], tn, sizeof(tn)) != 0)
            continue;
        covered++;
        if (strncmp(tn, tp, strlen(tp)))
            keeps_prefix = 0;
    }
    if (!covered)
        return 0;
    if (wild && keeps_prefix) {
        char r[520];
        snprintf(r, sizeof(r), "%s*", tp);
        if (ents_add(e, pr, deny, K_TOPIC, r, acts))
            return -1;
        if (!deny && note(notes, pr,
                          "a topic wildcard resource also covers target topics with that "
                          "name prefix that the flow does not mirror"))
            return -1;
        return covered;
    }
    for (size_t t = 0; t < ctx->ntopics; t++) {
        char tn[512];
        if (!name_matches(a, ctx->topics[t]) ||
            ctx->target_name(ctx->u, ctx->topics[t], tn, sizeof(tn)) != 0)
            continue;
        if (ents_add(e, pr, deny, K_TOPIC, tn, acts))
            return -1;
    }
    return covered;
}

static int has_principal(const am_list *src, const char *p) {
    for (size_t i = 0; i < src->n; i++)
        if (!strcmp(src->v[i].principal, p))
            return 1;
    return 0;
}

static int is_mapped_from(const am_pmap *m, const char *p) {
    for (size_t i = 0; m && i < m->n; i++)
        if (!strcmp(m->from[i], p))
            return 1;
    return 0;
}

static json_t *str_array_of_mask(uint32_t mask) {
    json_t *a = json_array();
    for (int i = 0; a && i < A_COUNT; i++)
        if (mask & B(i))
            json_array_append_new(a, json_string(g_action[i]));
    return a;
}

json_t *ip_policies(const am_list *src, const am_ctx *ctx, const ip_arn *arn, char *err,
                    size_t errlen) {
    for (size_t i = 0; ctx->pmap && i < ctx->pmap->n; i++)
        if (has_principal(src, ctx->pmap->to[i]) && !is_mapped_from(ctx->pmap, ctx->pmap->to[i])) {
            snprintf(err, errlen,
                     "kferry.acl.principal.map maps %s to %s, which has ACLs of its own on the "
                     "source: its IAM policy would hold both principals' rights",
                     ctx->pmap->from[i], ctx->pmap->to[i]);
            return NULL;
        }
    ents e = {0};
    json_t *notes = json_object(), *skipped = json_array(), *out = NULL;
    int oom = !notes || !skipped;
    for (size_t i = 0; i < src->n && !oom; i++) {
        const am_acl *a = &src->v[i];
        const char *pr = am_pmap_apply(ctx->pmap, a->principal);
        int deny = a->perm == AM_DENY;
        uint32_t acts = actions_for(a->restype, a->op, !deny);
        if (a->perm != AM_DENY && a->perm != AM_ALLOW) {
            oom = not_mapped(skipped, a, "unknown permission type") != 0;
            continue;
        }
        if (!acts) {
            char why[160];
            snprintf(why, sizeof(why), "MSK IAM has no action for %s on %s", am_op_name(a->op),
                     am_res_name(a->restype));
            oom = not_mapped(skipped, a, why) != 0;
            continue;
        }
        if (strcmp(a->host, "*")) {
            if (!deny) {
                oom = not_mapped(skipped, a,
                                 "limited to one host: an IAM policy for MSK cannot say so, and "
                                 "without the host it would grant from everywhere") != 0;
                continue;
            }
            oom = note(notes, pr,
                       "a DENY limited to one host on the source denies from every host here "
                       "(IAM policies for MSK have no client host condition)") != 0;
        }
        if (!strcmp(pr, "User:*"))
            oom = oom || note(notes, pr,
                              "User:* ACLs apply to every principal: attach this policy to "
                              "every IAM identity that uses the cluster");
        if (oom)
            break;
        int kind = a->restype == AM_RES_TOPIC   ? K_TOPIC
                   : a->restype == AM_RES_GROUP ? K_GROUP
                   : a->restype == AM_RES_TXN   ? K_TXN
                                                : K_CLUSTER;
        if (kind == K_TOPIC) {
            int n = topic_resources(a, ctx, &e, pr, deny, acts, notes);
            if (n < 0)
                oom = 1;
            else if (n == 0)
                oom = not_mapped(skipped, a, "covers no topic this flow mirrors") != 0;
        } else if (kind == K_CLUSTER) {
            uint32_t ct = acts & B(A_CREATE_TOPIC);
            if (acts & ~ct)
                oom = ents_add(&e, pr, deny, K_CLUSTER, "", acts & ~ct) != 0;
            if (ct && !oom) /* CREATE on the cluster: any topic */
                oom = ents_add(&e, pr, deny, K_TOPIC, "*", ct) != 0;
        } else {
            char r[1024];
            int lit = a->pattern == AM_PAT_LITERAL;
            snprintf(r, sizeof(r), "%s%s", a->name, lit ? "" : "*");
            if (lit && strcmp(a->name, "*") && strpbrk(a->name, "*?"))
                oom = note(notes, pr,
                           "a group or transactional id name holds * or ?, which IAM reads as "
                           "wildcards") != 0;
            oom = oom || ents_add(&e, pr, deny, kind, r, acts) != 0;
        }
    }
    /* Connect for every principal. */
    size_t n0 = e.n;
    for (size_t i = 0; i < n0 && !oom; i++)
        oom = ents_add(&e, e.v[i].principal, 0, K_CLUSTER, "", B(A_CONNECT)) != 0;
    if (oom)
        goto fail;
    if (e.n)
        qsort(e.v, e.n, sizeof(*e.v), ent_cmp);

    char carn[1024];
    ip_arn_cluster(arn, carn, sizeof(carn));
    out = json_object();
    json_t *pols = json_array();
    if (!out || !pols)
        goto fail;
    json_object_set_new(out, "cluster_arn", json_string(carn));
    json_object_set_new(out, "placeholders", json_boolean(arn->placeholders));
    json_object_set_new(out, "policies", pols);
    json_object_set_new(out, "not_mapped", skipped);
    skipped = NULL;
    for (size_t i = 0; i < e.n;) {
        size_t j = i;
        while (j < e.n && !strcmp(e.v[j].principal, e.v[i].principal))
            j++;
        json_t *stmts = json_array();
        /* statements: same effect and the same actions share one */
        char *done = calloc(j - i, 1);
        if (!stmts || !done) {
            free(done);
            json_decref(stmts);
            goto fail;
        }
        for (size_t k = i; k < j; k++) {
            if (done[k - i])
                continue;
            json_t *res = json_array();
            for (size_t m = k; m < j; m++) {
                if (done[m - i] || e.v[m].deny != e.v[k].deny || e.v[m].actions != e.v[k].actions)
                    continue;
                done[m - i] = 1;
                char r[2048];
                if (e.v[m].kind == K_CLUSTER)
                    snprintf(r, sizeof(r), "%s", carn);
                else
                    snprintf(r, sizeof(r), "arn:%s:kafka:%s:%s:%s/%s/%s", arn->partition,
                             arn->region, arn->account, g_kind[e.v[m].kind], arn->cluster,
                             e.v[m].name);
                json_array_append_new(res, json_string(r));
            }
            json_array_append_new(
                stmts, json_pack("{s:s,s:o,s:o}", "Effect", e.v[k].deny ? "Deny" : "Allow",
                                 "Action", str_array_of_mask(e.v[k].actions), "Resource", res));
        }
        free(done);
        json_t *pn = json_object_get(notes, e.v[i].principal);
        json_array_append_new(pols,
                              json_pack("{s:s,s:{s:s,s:o},s:o}", "principal", e.v[i].principal,
                                        "policy", "Version", "2012-10-17", "Statement", stmts,
                                        "notes", pn ? json_incref(pn) : json_array()));
        i = j;
    }
    ents_free(&e);
    json_decref(notes);
    return out;
fail:
    snprintf(err, errlen, "out of memory");
    ents_free(&e);
    json_decref(notes);
    json_decref(skipped);
    json_decref(out);
    return NULL;
}

void ip_print(const json_t *p) {
    printf("\nIAM policies for the target (MSK does not apply Kafka ACLs to IAM identities):\n"
           "attach each to the IAM role or user that stands for the principal.\n");
    printf("Cluster: %s\n", json_string_value(json_object_get(p, "cluster_arn")));
    if (json_is_true(json_object_get(p, "placeholders")))
        printf("The ARNs hold placeholders (<region>, <account>, <cluster-name>/<cluster-uuid>): "
               "pass --msk-cluster-arn ARN to fill them in.\n");
    size_t i, k;
    json_t *v, *n;
    json_array_foreach(json_object_get(p, "policies"), i, v) {
        printf("\n# %s\n", json_string_value(json_object_get(v, "principal")));
        json_array_foreach(json_object_get(v, "notes"), k, n)
            printf("# note: %s\n", json_string_value(n));
        json_dumpf(json_object_get(v, "policy"), stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("\n");
    }
    if (json_array_size(json_object_get(p, "policies")) == 0)
        printf("  (no policy: no source ACL maps to an IAM action)\n");
    json_array_foreach(json_object_get(p, "not_mapped"), i, v)
        printf("  not in a policy: %s %s %s %s:%s host=%s (%s)\n",
               json_string_value(json_object_get(v, "permission")),
               json_string_value(json_object_get(v, "principal")),
               json_string_value(json_object_get(v, "operation")),
               json_string_value(json_object_get(v, "resource_type")),
               json_string_value(json_object_get(v, "name")),
               json_string_value(json_object_get(v, "host")),
               json_string_value(json_object_get(v, "reason")));
}
