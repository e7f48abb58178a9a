/*
 * aclmap.h - ACL sync's pure part: which ACLs the target needs so that it
 * authorizes exactly what the source authorizes for the mirrored topics and
 * the groups, and never more (see docs/SECURITY.md, "ACL sync").
 *
 * No I/O here (aclsync.c reads and writes ACLs with librdkafka), so the
 * transform and the evaluator are unit- and property-tested directly
 * (tests/unit/mirror/test_aclmap.c).  Codes are Kafka's (and librdkafka's):
 * resource types, pattern types, operations and permissions.
 */
#ifndef KF_MIRROR_ACLMAP_H
#define KF_MIRROR_ACLMAP_H

#include <stddef.h>

enum { AM_RES_TOPIC = 2, AM_RES_GROUP = 3, AM_RES_CLUSTER = 4, AM_RES_TXN = 5 };
enum { AM_PAT_LITERAL = 3, AM_PAT_PREFIXED = 4 };
enum {
    AM_OP_ALL = 2,
    AM_OP_READ,
    AM_OP_WRITE,
    AM_OP_CREATE,
    AM_OP_DELETE,
    AM_OP_ALTER,
    AM_OP_DESCRIBE,
    AM_OP_CLUSTER_ACTION,
    AM_OP_DESCRIBE_CONFIGS,
    AM_OP_ALTER_CONFIGS,
    AM_OP_IDEMPOTENT_WRITE
};
enum { AM_DENY = 2, AM_ALLOW = 3 };

typedef struct am_acl {
    int restype;
    char *name;
    int pattern;
    char *principal;
    char *host;
    int op;
    int perm;
    char *reason; /* skipped entries: why */
} am_acl;

typedef struct am_list {
    am_acl *v;
    size_t n, cap;
} am_list;

void am_list_init(am_list *l);
void am_list_free(am_list *l);
/* Appends a copy (strings duplicated). 0 or -1 (out of memory). */
int am_add(am_list *l, int restype, const char *name, int pattern, const char *principal,
           const char *host, int op, int perm, const char *reason);
/* Whether l holds an entry equal to a (all fields but the reason). */
int am_contains(const am_list *l, const am_acl *a);

/* kferry.acl.principal.map: "User:a=User:b,User:c=User:d" (exact
 * principals).  NULL/"" = no mapping. */
typedef struct am_pmap {
    char **from, **to;
    size_t n;
} am_pmap;
int am_pmap_parse(const char *text, am_pmap *m, char *err, size_t errlen);
void am_pmap_free(am_pmap *m);
/* The target principal of a source principal (itself when unmapped). */
const char *am_pmap_apply(const am_pmap *m, const char *principal);

typedef struct am_ctx {
    const char *const *topics; /* source topics the flow mirrors */
    size_t ntopics;
    /* target name of a mirrored source topic; 0 or -1 */
    int (*target_name)(void *u, const char *src, char *out, size_t cap);
    void *u;
    const am_pmap *pmap;
} am_ctx;

/* The target ACLs for the source's: topic ACLs become one literal ACL per
 * mirrored topic they cover, named by the replication policy (DENY as well
 * as ALLOW, so a DENY is never lost); group ACLs are kept (groups keep
 * their names); CLUSTER and TRANSACTIONAL_ID ACLs and topic ACLs covering
 * no mirrored topic go to `skipped` with a reason; principals are mapped.
 * -1 with err when the principal map would merge two principals' rights. */
int am_transform(const am_list *src, const am_ctx *ctx, am_list *want, am_list *skipped, char *err,
                 size_t errlen);

/* Kafka's authorizer decision over `acls` (no super users,
 * allow.everyone.if.no.acl.found=false): DENY before ALLOW, literal,
 * wildcard and prefixed names, User:* and host *, implied operations. */
int am_allowed(const am_list *acls, int restype, const char *name, const char *principal,
               const char *host, int op);

const char *am_res_name(int restype);
const char *am_op_name(int op);
const char *am_pattern_name(int pattern);
const char *am_perm_name(int perm);

#endif
