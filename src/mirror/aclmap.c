/*
 * aclmap.c - the ACL sync transform and Kafka's authorization rule (see
 * aclmap.h).
 *
 * Why topic ACLs become literal per-topic ACLs: a wildcard or prefixed ACL
 * copied as is would also cover target topics that are not mirrored copies
 * (the target's own topics, or other sources'), granting there what the
 * source never granted; a prefix cannot in general be renamed by the
 * replication policy either.  Expanding to the mirrored topics keeps the
 * decision for every mirrored topic identical and grants nothing else; new
 * topics are covered by the next sync.
 */
#include "mirror/aclmap.h"

#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void am_list_init(am_list *l) { memset(l, 0, sizeof(*l)); }

void am_list_free(am_list *l) {
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].name);
        free(l->v[i].principal);
        free(l->v[i].host);
        free(l->v[i].reason);
    }
    free(l->v);
    am_list_init(l);
}

static char *dup_or_null(const char *s) { return s ? kf_strndup(s, strlen(s)) : NULL; }

int am_add(am_list *l, int restype, const char *name, int pattern, const char *principal,
           const char *host, int op, int perm, const char *reason) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        am_acl *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    am_acl *a = &l->v[l->n];
    memset(a, 0, sizeof(*a));
    a->restype = restype;
    a->pattern = pattern;
    a->op = op;
    a->perm = perm;
    a->name = dup_or_null(name ? name : "");
    a->principal = dup_or_null(principal ? principal : "");
    a->host = dup_or_null(host ? host : "*");
    a->reason = dup_or_null(reason);
    if (!a->name || !a->principal || !a->host || (reason && !a->reason)) {
        free(a->name);
        free(a->principal);
        free(a->host);
        free(a->reason);
        return -1;
    }
    l->n++;
    return 0;
}

static int same(const am_acl *a, const am_acl *b) {
    return a->restype == b->restype && a->pattern == b->pattern && a->op == b->op &&
           a->perm == b->perm && !strcmp(a->name, b->name) && !strcmp(a->principal, b->principal) &&
           !strcmp(a->host, b->host);
}

int am_contains(const am_list *l, const am_acl *a) {
    for (size_t i = 0; i < l->n; i++)
        if (same(&l->v[i], a))
            return 1;
    return 0;
}

/* ---------------------------------------------------------------------- */

void am_pmap_free(am_pmap *m) {
    for (size_t i = 0; i < m->n; i++) {
        free(m->from[i]);
        free(m->to[i]);
    }
    free(m->from);
    free(m->to);
    memset(m, 0, sizeof(*m));
}

static int valid_principal(const char *s, size_t n) {
    const char *colon = memchr(s, ':', n);
    return colon && colon > s && (size_t)(colon - s) + 1 < n;
}

int am_pmap_parse(const char *text, am_pmap *m, char *err, size_t errlen) {
    memset(m, 0, sizeof(*m));
    const char *p = text ? text : "";
    /* Entries are separated by ';' when there is one (certificate
     * principals hold commas: User:CN=alice,O=corp), else by ','. */
    char sep = strchr(p, ';') ? ';' : ',';
    while (*p) {
        while (*p == ' ' || *p == sep)
            p++;
        if (!*p)
            break;
        const char *end = strchr(p, sep);
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && p[len - 1] == ' ')
            len--;
        const char *eq = memchr(p, '=', len);
        size_t fl = eq ? (size_t)(eq - p) : 0, tl = eq ? len - fl - 1 : 0;
        const char *to = eq ? eq + 1 : NULL;
        while (fl && p[fl - 1] == ' ')
            fl--;
        while (tl && *to == ' ') {
            to++;
            tl--;
        }
        if (!eq || !valid_principal(p, fl) || !valid_principal(to, tl)) {
            snprintf(err, errlen,
                     "kferry.acl.principal.map: '%.*s': expected SOURCE=TARGET principals such "
                     "as User:alice=User:alice-msk",
                     (int)len, p);
            am_pmap_free(m);
            return -1;
        }
        char **nf = realloc(m->from, (m->n + 1) * sizeof(char *));
        if (nf)
            m->from = nf;
        char **nt = realloc(m->to, (m->n + 1) * sizeof(char *));
        if (nt)
            m->to = nt;
        if (!nf || !nt) {
            snprintf(err, errlen, "out of memory");
            am_pmap_free(m);
            return -1;
        }
        m->from[m->n] = kf_strndup(p, fl);
        m->to[m->n] = kf_strndup(to, tl);
        m->n++;
        for (size_t i = 0; i + 1 < m->n; i++) {
            if (!strcmp(m->from[i], m->from[m->n - 1]) || !strcmp(m->to[i], m->to[m->n - 1])) {
                snprintf(err, errlen,
                         "kferry.acl.principal.map: %s is mapped twice (a mapping must be "
                         "one-to-one, or one principal would receive another's rights)",
                         !strcmp(m->from[i], m->from[m->n - 1]) ? m->from[i] : m->to[i]);
                am_pmap_free(m);
                return -1;
            }
        }
        if (!strcmp(m->from[m->n - 1], "User:*") || !strcmp(m->to[m->n - 1], "User:*")) {
            snprintf(err, errlen, "kferry.acl.principal.map: User:* cannot be mapped");
            am_pmap_free(m);
            return -1;
        }
        p += len;
    }
    return 0;
}

const char *am_pmap_apply(const am_pmap *m, const char *principal) {
    for (size_t i = 0; m && i < m->n; i++)
        if (!strcmp(m->from[i], principal))
            return m->to[i];
    return principal;
}

static int pmap_is_from(const am_pmap *m, const char *p) {
    for (size_t i = 0; m && i < m->n; i++)
        if (!strcmp(m->from[i], p))
            return 1;
    return 0;
}

/* ---------------------------------------------------------------------- */

static int name_matches(const am_acl *a, const char *name) {
    if (a->pattern == AM_PAT_LITERAL)
        return !strcmp(a->name, "*") || !strcmp(a->name, name);
    if (a->pattern == AM_PAT_PREFIXED)
        return !strncmp(a->name, name, strlen(a->name));
    return 0;
}

int am_transform(const am_list *src, const am_ctx *ctx, am_list *want, am_list *skipped, char *err,
                 size_t errlen) {
    /* A mapped principal must not land on a source principal that keeps its
     * own name: the two sets of rights would merge. */
    for (size_t i = 0; ctx->pmap && i < ctx->pmap->n; i++)
        for (size_t j = 0; j < src->n; j++)
            if (!strcmp(src->v[j].principal, ctx->pmap->to[i]) &&
                !pmap_is_from(ctx->pmap, src->v[j].principal)) {
                snprintf(err, errlen,
                         "kferry.acl.principal.map maps %s to %s, which has ACLs of its own on "
                         "the source: the target would give it both principals' rights",
                         ctx->pmap->from[i], ctx->pmap->to[i]);
                return -1;
            }
    for (size_t i = 0; i < src->n; i++) {
        const am_acl *a = &src->v[i];
        const char *pr = am_pmap_apply(ctx->pmap, a->principal);
        int rc = 0;
        if (a->restype == AM_RES_TOPIC) {
            size_t hits = 0;
            for (size_t t = 0; t < ctx->ntopics && rc == 0; t++) {
                if (!name_matches(a, ctx->topics[t]))
                    continue;
                char tn[512];
                if (ctx->target_name(ctx->u, ctx->topics[t], tn, sizeof(tn)) != 0)
                    continue;
                am_acl probe = {AM_RES_TOPIC, tn,    AM_PAT_LITERAL, (char *)pr,
                                a->host,      a->op, a->perm,        NULL};
                hits++;
                if (!am_contains(want, &probe))
                    rc = am_add(want, AM_RES_TOPIC, tn, AM_PAT_LITERAL, pr, a->host, a->op, a->perm,
                                NULL);
            }
            if (!hits)
                rc = am_add(skipped, a->restype, a->name, a->pattern, a->principal, a->host, a->op,
                            a->perm, "covers no topic this flow mirrors");
        } else if (a->restype == AM_RES_GROUP) {
            am_acl probe = {AM_RES_GROUP, a->name, a->pattern, (char *)pr,
                            a->host,      a->op,   a->perm,    NULL};
            if (!am_contains(want, &probe))
                rc = am_add(want, AM_RES_GROUP, a->name, a->pattern, pr, a->host, a->op, a->perm,
                            NULL);
        } else {
            rc = am_add(skipped, a->restype, a->name, a->pattern, a->principal, a->host, a->op,
                        a->perm,
                        a->restype == AM_RES_CLUSTER
                            ? "cluster-wide rights are not copied: they would apply to the whole "
                              "target cluster; grant them there deliberately"
                            : "not copied: only topic and group ACLs are synced");
        }
        if (rc != 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

static int op_covers(int acl_op, int op, int allow) {
    if (acl_op == AM_OP_ALL || acl_op == op)
        return 1;
    if (!allow)
        return 0; /* implied operations widen ALLOW only, as in Kafka */
    if (op == AM_OP_DESCRIBE)
        return acl_op == AM_OP_READ || acl_op == AM_OP_WRITE || acl_op == AM_OP_DELETE ||
               acl_op == AM_OP_ALTER;
    if (op == AM_OP_DESCRIBE_CONFIGS)
        return acl_op == AM_OP_ALTER_CONFIGS;
    return 0;
}

int am_allowed(const am_list *acls, int restype, const char *name, const char *principal,
               const char *host, int op) {
    int allow = 0;
    for (size_t i = 0; i < acls->n; i++) {
        const am_acl *a = &acls->v[i];
        if (a->restype != restype || !name_matches(a, name))
            continue;
        if (strcmp(a->principal, principal) && strcmp(a->principal, "User:*"))
            continue;
        if (strcmp(a->host, "*") && strcmp(a->host, host))
            continue;
        if (!op_covers(a->op, op, a->perm == AM_ALLOW))
            continue;
        if (a->perm == AM_DENY)
            return 0;
        if (a->perm == AM_ALLOW)
            allow = 1;
    }
    return allow;
}

const char *am_res_name(int r) {
    switch (r) {
    case AM_RES_TOPIC: return "TOPIC";
    case AM_RES_GROUP: return "GROUP";
    case AM_RES_CLUSTER: return "CLUSTER";
    case AM_RES_TXN: return "TRANSACTIONAL_ID";
    default: return "UNKNOWN";
    }
}

const char *am_op_name(int op) {
    static const char *n[] = {"ALL",
                              "READ",
                              "WRITE",
                              "CREATE",
                              "DELETE",
                              "ALTER",
                              "DESCRIBE",
                              "CLUSTER_ACTION",
                              "DESCRIBE_CONFIGS",
                              "ALTER_CONFIGS",
                              "IDEMPOTENT_WRITE"};
    return op >= AM_OP_ALL && op <= AM_OP_IDEMPOTENT_WRITE ? n[op - AM_OP_ALL] : "UNKNOWN";
}

const char *am_pattern_name(int p) {
    return p == AM_PAT_LITERAL ? "LITERAL" : p == AM_PAT_PREFIXED ? "PREFIXED" : "UNKNOWN";
}

const char *am_perm_name(int p) { return p == AM_ALLOW ? "ALLOW" : p == AM_DENY ? "DENY" : "?"; }
