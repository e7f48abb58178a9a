/*
 * acl.c - authorizer configuration, the ACL store and the authorization
 * check (see acl.h).
 *
 * File kferry-meta/acls: 8-byte magic "KFACLS\0\1", then entries framed
 * like scram-credentials: u32 length, u32 CRC-32C of the payload, payload.
 * Payload: i8 type (1 = binding), i8 resource type, string name, i8 pattern
 * type, string principal, string host, i8 operation, i8 permission (Kafka
 * wire codes and non-flexible string encodings).  Written whole with
 * kf_write_file_atomic, so there is never a torn tail to recover.
 */
#include "broker/acl.h"

#include "common/log.h"
#include "common/util.h"
#include "proto/crc32c.h"
#include "proto/wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ACL_MAX_FILE (256u << 20)
#define ACL_MAX_ENTRY (3 * (2 + KB_ACL_MAX_STR) + 16)
#define AE_BINDING 1

static const uint8_t acl_magic[8] = {'K', 'F', 'A', 'C', 'L', 'S', 0, 1};

static const char std_authorizer[] = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";
static const char old_authorizer[] = "kafka.security.authorizer.AclAuthorizer";

/* ---------------------------------------------------------------------- */
/* Names                                                                   */

const char *kb_acl_res_name(int8_t v) {
    static const char *const n[] = {
        "UNKNOWN",          "ANY", "TOPIC", "GROUP", "CLUSTER", "TRANSACTIONAL_ID",
        "DELEGATION_TOKEN", "USER"};
    return v >= 0 && v < (int8_t)(sizeof(n) / sizeof(n[0])) ? n[v] : "UNKNOWN";
}

const char *kb_acl_op_name(int8_t v) {
    static const char *const n[] = {"UNKNOWN",
                                    "ANY",
                                    "ALL",
                                    "READ",
                                    "WRITE",
                                    "CREATE",
                                    "DELETE",
                                    "ALTER",
                                    "DESCRIBE",
                                    "CLUSTER_ACTION",
                                    "DESCRIBE_CONFIGS",
                                    "ALTER_CONFIGS",
                                    "IDEMPOTENT_WRITE",
                                    "CREATE_TOKENS",
                                    "DESCRIBE_TOKENS"};
    return v >= 0 && v < (int8_t)(sizeof(n) / sizeof(n[0])) ? n[v] : "UNKNOWN";
}

/* ---------------------------------------------------------------------- */
/* Configuration                                                           */

static void add_err(char *err, size_t errlen, const char *fmt, const char *a, const char *b) {
    size_t used = strlen(err);
    if (used + 1 >= errlen)
        return;
    snprintf(err + used, errlen - used, fmt, a, b);
}

static void where_of(const kf_props *p, const kf_prop *it, char *w, size_t wl) {
    if (it->line > 0)
        snprintf(w, wl, "%s:%d: %s", p->source ? p->source : "config", it->line, it->key);
    else
        snprintf(w, wl, "%s", it->key);
}

/* 1 on, 0 off, -1 unsupported. */
static int authorizer_of(const char *v) {
    while (*v == ' ' || *v == '\t')
        v++;
    size_t l = strlen(v);
    while (l && (v[l - 1] == ' ' || v[l - 1] == '\t'))
        l--;
    if (l == 0)
        return 0;
    if ((l == sizeof(std_authorizer) - 1 && !memcmp(v, std_authorizer, l)) ||
        (l == sizeof(old_authorizer) - 1 && !memcmp(v, old_authorizer, l)))
        return 1;
    return -1;
}

/* A principal is "Type:Name" with a non-empty type (Kafka's
 * SecurityUtils.parseKafkaPrincipal). */
static int principal_ok(const char *s, size_t len) {
    const char *c = memchr(s, ':', len);
    return c && c != s && !memchr(s, '\0', len);
}

/* Calls fn for each trimmed, non-empty entry of a ';' list. -1 stops. */
typedef int (*super_fn)(void *ctx, const char *s, size_t len);

static int each_super(const char *list, super_fn fn, void *ctx) {
    const char *p = list;
    while (*p) {
        const char *e = strchr(p, ';');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        const char *s = p;
        while (l && (*s == ' ' || *s == '\t')) {
            s++;
            l--;
        }
        while (l && (s[l - 1] == ' ' || s[l - 1] == '\t'))
            l--;
        if (l && fn(ctx, s, l) != 0)
            return -1;
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

static int check_super(void *ctx, const char *s, size_t len) {
    (void)ctx;
    return principal_ok(s, len) ? 0 : -1;
}

int kb_acl_config_check(kf_props *p, char *err, size_t errlen) {
    int bad = 0;
    for (size_t i = 0; i < p->count; i++) {
        kf_prop *it = &p->items[i];
        char w[400];
        if (!strcmp(it->key, "authorizer.class.name")) {
            it->used = 1;
            if (authorizer_of(it->value) < 0) {
                where_of(p, it, w, sizeof(w));
                add_err(err, errlen,
                        "%s: unsupported authorizer '%s' (supported: "
                        "org.apache.kafka.metadata.authorizer.StandardAuthorizer, "
                        "kafka.security.authorizer.AclAuthorizer, or empty for none)\n",
                        w, it->value);
                bad = 1;
            }
        } else if (!strcmp(it->key, "super.users")) {
            it->used = 1;
            if (each_super(it->value, check_super, NULL) != 0) {
                where_of(p, it, w, sizeof(w));
                add_err(err, errlen,
                        "%s: expected principals like User:alice separated by ';', got '%s'\n", w,
                        it->value);
                bad = 1;
            }
        } else if (!strcmp(it->key, "allow.everyone.if.no.acl.found")) {
            it->used = 1;
            int bv;
            if (kf_parse_bool(it->value, &bv) != 0) {
                where_of(p, it, w, sizeof(w));
                add_err(err, errlen, "%s: expected true or false, got '%s'\n", w, it->value);
                bad = 1;
            }
        }
    }
    return bad ? -1 : 0;
}

void kb_acl_print_reference(FILE *f) {
    fprintf(f, "| `authorizer.class.name` | (empty: no authorization) | "
               "org.apache.kafka.metadata.authorizer.StandardAuthorizer, "
               "kafka.security.authorizer.AclAuthorizer | Turns ACL authorization on (both names "
               "select kferry-broker's built-in authorizer, which evaluates ACLs as Kafka's "
               "StandardAuthorizer). Without it every request is allowed and the ACL APIs answer "
               "SECURITY_DISABLED. |\n"
               "| `super.users` | (none) | principals separated by `;` | Principals (`User:NAME`) "
               "allowed everything whatever the ACLs say. |\n"
               "| `allow.everyone.if.no.acl.found` | false | true/false | Allow a request on a "
               "resource that has no ACL at all. |\n");
}

/* ---------------------------------------------------------------------- */
/* The store in memory                                                     */

static void acl_free(kb_acl *x) {
    free(x->name);
    free(x->principal);
    free(x->host);
}

static int streq(const char *s, const char *p, size_t len) {
    return strlen(s) == len && memcmp(s, p, len) == 0;
}

int kb_acls_add(kb_acls *a, int8_t res_type, const char *name, size_t name_len, int8_t pattern,
                const char *principal, size_t principal_len, const char *host, size_t host_len,
                int8_t op, int8_t perm) {
    for (size_t i = 0; i < a->n; i++) {
        const kb_acl *x = &a->v[i];
        if (x->res_type == res_type && x->pattern == pattern && x->op == op && x->perm == perm &&
            streq(x->name, name, name_len) && streq(x->principal, principal, principal_len) &&
            streq(x->host, host, host_len))
            return 1;
    }
    if (a->n >= KB_ACL_MAX_COUNT)
        return -1;
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 16;
        kb_acl *nv = realloc(a->v, nc * sizeof(*nv));
        if (!nv)
            return -1;
        a->v = nv;
        a->cap = nc;
    }
    kb_acl x = {res_type,
                pattern,
                op,
                perm,
                kf_strndup(name, name_len),
                kf_strndup(principal, principal_len),
                kf_strndup(host, host_len)};
    if (!x.name || !x.principal || !x.host) {
        acl_free(&x);
        return -1;
    }
    a->v[a->n++] = x;
    return 0;
}

void kb_acls_remove(kb_acls *a, size_t i) {
    if (i >= a->n)
        return;
    acl_free(&a->v[i]);
    a->v[i] = a->v[--a->n];
}

static void clear_bindings(kb_acls *a) {
    for (size_t i = 0; i < a->n; i++)
        acl_free(&a->v[i]);
    free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}

static void clear_super(kb_acls *a) {
    for (size_t i = 0; i < a->nsuper; i++)
        free(a->super_users[i]);
    free(a->super_users);
    a->super_users = NULL;
    a->nsuper = 0;
}

static int add_super(void *ctx, const char *s, size_t len) {
    kb_acls *a = ctx;
    char **nv = realloc(a->super_users, (a->nsuper + 1) * sizeof(*nv));
    if (!nv)
        return -1;
    a->super_users = nv;
    nv[a->nsuper] = kf_strndup(s, len);
    if (!nv[a->nsuper])
        return -1;
    a->nsuper++;
    return 0;
}

int kb_acls_set_super_users(kb_acls *a, const char *list) {
    clear_super(a);
    return each_super(list, add_super, a);
}

void kb_acls_free(kb_acls *a) {
    clear_bindings(a);
    clear_super(a);
}

/* ---------------------------------------------------------------------- */
/* Validation and filters                                                  */

const char *kb_acl_invalid(int8_t res_type, const char *name, size_t name_len, int8_t pattern,
                           const char *principal, size_t principal_len, const char *host,
                           size_t host_len, int8_t op, int8_t perm) {
    if (res_type < KB_RES_TOPIC || res_type > KB_RES_USER)
        return "Invalid resource type";
    if (pattern != KB_PAT_LITERAL && pattern != KB_PAT_PREFIXED)
        return "Invalid pattern type: an ACL is LITERAL or PREFIXED";
    if (op < KB_OP_ALL || op > KB_OP_DESCRIBE_TOKENS)
        return "Invalid operation";
    if (perm != KB_PERM_DENY && perm != KB_PERM_ALLOW)
        return "Invalid permission type";
    if (!name || name_len == 0)
        return "Invalid empty resource name";
    if (res_type == KB_RES_CLUSTER && !streq(KB_CLUSTER_RESOURCE, name, name_len))
        return "The only valid name for the CLUSTER resource is " KB_CLUSTER_RESOURCE;
    if (!principal || !principal_ok(principal, principal_len))
        return "Invalid principal: expected PrincipalType:name, e.g. User:alice";
    if (!host)
        return "Invalid null host";
    if (name_len > KB_ACL_MAX_STR || principal_len > KB_ACL_MAX_STR || host_len > KB_ACL_MAX_STR)
        return "Resource name, principal or host too long";
    if (memchr(name, '\0', name_len) || memchr(host, '\0', host_len))
        return "NUL character in resource name or host";
    return NULL;
}

const char *kb_acl_filter_invalid(const kb_acl_filter *f) {
    if (f->res_type <= KB_RES_UNKNOWN || f->res_type > KB_RES_USER)
        return "Filter contains an UNKNOWN resource type";
    if (f->pattern <= KB_PAT_UNKNOWN || f->pattern > KB_PAT_PREFIXED)
        return "Filter contains an UNKNOWN pattern type";
    if (f->op <= KB_OP_UNKNOWN || f->op > KB_OP_DESCRIBE_TOKENS)
        return "Filter contains an UNKNOWN operation";
    if (f->perm <= KB_PERM_UNKNOWN || f->perm > KB_PERM_ALLOW)
        return "Filter contains an UNKNOWN permission type";
    return NULL;
}

int kb_acl_filter_matches(const kb_acl_filter *f, const kb_acl *x) {
    if (f->res_type != KB_RES_ANY && f->res_type != x->res_type)
        return 0;
    if (f->pattern != KB_PAT_ANY && f->pattern != KB_PAT_MATCH && f->pattern != x->pattern)
        return 0;
    if (f->name) {
        if (f->pattern == KB_PAT_ANY || f->pattern == x->pattern) {
            if (!streq(x->name, f->name, f->name_len))
                return 0;
        } else if (x->pattern == KB_PAT_LITERAL) { /* MATCH */
            if (!streq(x->name, f->name, f->name_len) && strcmp(x->name, "*") != 0)
                return 0;
        } else { /* MATCH against PREFIXED */
            size_t pl = strlen(x->name);
            if (pl > f->name_len || memcmp(f->name, x->name, pl) != 0)
                return 0;
        }
    }
    if (f->principal && !streq(x->principal, f->principal, f->principal_len))
        return 0;
    if (f->host && !streq(x->host, f->host, f->host_len))
        return 0;
    if (f->op != KB_OP_ANY && f->op != x->op)
        return 0;
    if (f->perm != KB_PERM_ANY && f->perm != x->perm)
        return 0;
    return 1;
}

/* ---------------------------------------------------------------------- */
/* Authorization                                                           */

static int is_super(const kb_acls *a, const char *principal) {
    for (size_t i = 0; i < a->nsuper; i++)
        if (!strcmp(a->super_users[i], principal))
            return 1;
    return 0;
}

/* Whether an ALLOW of acl_op grants op. */
static int allow_grants(int8_t acl_op, int8_t op) {
    if (acl_op == KB_OP_ALL || acl_op == op)
        return 1;
    if (op == KB_OP_DESCRIBE)
        return acl_op == KB_OP_READ || acl_op == KB_OP_WRITE || acl_op == KB_OP_DELETE ||
               acl_op == KB_OP_ALTER;
    if (op == KB_OP_DESCRIBE_CONFIGS)
        return acl_op == KB_OP_ALTER_CONFIGS;
    return 0;
}

static int covers(const kb_acl *x, int8_t res_type, const char *name, size_t len) {
    if (x->res_type != res_type)
        return 0;
    if (x->pattern == KB_PAT_LITERAL)
        return streq(x->name, name, len) || strcmp(x->name, "*") == 0;
    size_t pl = strlen(x->name);
    return pl <= len && memcmp(name, x->name, pl) == 0;
}

static int who_matches(const kb_acl *x, const char *principal, const char *host) {
    return (!strcmp(x->principal, principal) || !strcmp(x->principal, "User:*")) &&
           (!strcmp(x->host, "*") || !strcmp(x->host, host));
}

int kb_acls_authorize(const kb_acls *a, const char *principal, const char *host, int8_t res_type,
                      const char *name, size_t name_len, int8_t op) {
    if (is_super(a, principal))
        return 1;
    int any = 0, allowed = 0;
    for (size_t i = 0; i < a->n; i++) {
        const kb_acl *x = &a->v[i];
        if (!covers(x, res_type, name, name_len))
            continue;
        any = 1;
        if (!who_matches(x, principal, host))
            continue;
        if (x->perm == KB_PERM_DENY) {
            if (x->op == KB_OP_ALL || x->op == op)
                return 0;
        } else if (allow_grants(x->op, op)) {
            allowed = 1;
        }
    }
    if (allowed)
        return 1;
    return any ? 0 : a->allow_if_no_acl;
}

int kb_acls_authorize_any(const kb_acls *a, const char *principal, const char *host,
                          int8_t res_type, int8_t op) {
    /* As Kafka's default authorizeByResourceType: a made-up literal name
     * first, so super users and allow.everyone.if.no.acl.found apply. */
    if (kb_acls_authorize(a, principal, host, res_type, "hardcode", 8, op))
        return 1;
    /* A wildcard DENY (LITERAL "*" or PREFIXED "") denies every resource. */
    for (size_t i = 0; i < a->n; i++) {
        const kb_acl *x = &a->v[i];
        if (x->res_type == res_type && x->perm == KB_PERM_DENY &&
            (x->op == KB_OP_ALL || x->op == op) && who_matches(x, principal, host) &&
            ((x->pattern == KB_PAT_LITERAL && !strcmp(x->name, "*")) ||
             (x->pattern == KB_PAT_PREFIXED && !x->name[0])))
            return 0;
    }
    for (size_t i = 0; i < a->n; i++) {
        const kb_acl *x = &a->v[i];
        if (x->res_type != res_type || x->perm != KB_PERM_ALLOW ||
            !(x->op == KB_OP_ALL || x->op == op) || !who_matches(x, principal, host))
            continue;
        /* An ALLOW dominated by a DENY does not count: a PREFIXED deny of a
         * prefix of its name, or a LITERAL deny of the same literal name. */
        int cancelled = 0;
        size_t xl = strlen(x->name);
        for (size_t k = 0; k < a->n && !cancelled; k++) {
            const kb_acl *d = &a->v[k];
            if (d->perm != KB_PERM_DENY || d->res_type != res_type ||
                !(d->op == KB_OP_ALL || d->op == op) || !who_matches(d, principal, host))
                continue;
            size_t dl = strlen(d->name);
            if (d->pattern == KB_PAT_PREFIXED)
                cancelled = dl <= xl && memcmp(x->name, d->name, dl) == 0;
            else
                cancelled = x->pattern == KB_PAT_LITERAL && !strcmp(x->name, d->name);
        }
        if (!cancelled)
            return 1;
    }
    return 0;
}

/* "ip:port" (IPv6 with or without brackets) -> ip. */
static void host_of(const char *peer, char *out, size_t cap) {
    if (!peer) {
        kf_strlcpy(out, "", cap);
        return;
    }
    const char *colon = strrchr(peer, ':');
    size_t l = colon ? (size_t)(colon - peer) : strlen(peer);
    const char *s = peer;
    if (l >= 2 && s[0] == '[' && s[l - 1] == ']') {
        s++;
        l -= 2;
    }
    if (l >= cap)
        l = cap - 1;
    memcpy(out, s, l);
    out[l] = '\0';
}

int kb_authz_enabled(const kb_broker *b) { return b->acls && b->acls->enabled; }

int kb_authz(kb_broker *b, const kb_req *r, int8_t res_type, const char *name, size_t len,
             int8_t op) {
    if (!kb_authz_enabled(b))
        return 1;
    char host[80];
    host_of(r->peer, host, sizeof(host));
    return kb_acls_authorize(b->acls, r->principal ? r->principal : "User:ANONYMOUS", host,
                             res_type, name ? name : "", name ? len : 0, op);
}

int kb_authz_cluster(kb_broker *b, const kb_req *r, int8_t op) {
    return kb_authz(b, r, KB_RES_CLUSTER, KB_CLUSTER_RESOURCE, sizeof(KB_CLUSTER_RESOURCE) - 1, op);
}

int kb_authz_any(kb_broker *b, const kb_req *r, int8_t res_type, int8_t op) {
    if (!kb_authz_enabled(b))
        return 1;
    char host[80];
    host_of(r->peer, host, sizeof(host));
    return kb_acls_authorize_any(b->acls, r->principal ? r->principal : "User:ANONYMOUS", host,
                                 res_type, op);
}

/* ---------------------------------------------------------------------- */
/* The file                                                                */

static void encode(kf_buf *img, const kb_acl *x) {
    size_t pos = img->len;
    kf_wr_i32(img, 0);
    kf_wr_i32(img, 0);
    kf_wr_i8(img, AE_BINDING);
    kf_wr_i8(img, x->res_type);
    kf_wr_cstr(img, 0, x->name);
    kf_wr_i8(img, x->pattern);
    kf_wr_cstr(img, 0, x->principal);
    kf_wr_cstr(img, 0, x->host);
    kf_wr_i8(img, x->op);
    kf_wr_i8(img, x->perm);
    if (!kf_buf_ok(img))
        return;
    size_t plen = img->len - pos - 8;
    kf_put_be32(img->data + pos, (uint32_t)plen);
    kf_put_be32(img->data + pos + 4, kf_crc32c(0, img->data + pos + 8, plen));
}

int kb_acls_save(kb_acls *a) {
    kf_buf img;
    kf_buf_init(&img, 0);
    kf_buf_append(&img, acl_magic, sizeof(acl_magic));
    for (size_t i = 0; i < a->n; i++)
        encode(&img, &a->v[i]);
    int rc = -1;
    if (!kf_buf_ok(&img))
        errno = ENOMEM;
    else
        rc = kf_write_file_atomic(a->path, img.data, img.len);
    kf_buf_free(&img);
    return rc;
}

/* One entry: 0 ok, -1 invalid, -2 out of memory. */
static int replay(kb_acls *a, const uint8_t *p, size_t n) {
    kf_rd rd;
    kf_rd_init(&rd, p, n);
    int8_t type = kf_rd_i8(&rd);
    int8_t res = kf_rd_i8(&rd);
    const char *name, *principal, *host;
    int32_t nl = kf_rd_str(&rd, 0, &name);
    int8_t pat = kf_rd_i8(&rd);
    int32_t pl = kf_rd_str(&rd, 0, &principal);
    int32_t hl = kf_rd_str(&rd, 0, &host);
    int8_t op = kf_rd_i8(&rd);
    int8_t perm = kf_rd_i8(&rd);
    if (!kf_rd_ok(&rd) || kf_rd_left(&rd) != 0 || type != AE_BINDING || nl < 0 || pl < 0 ||
        hl < 0 ||
        kb_acl_invalid(res, name, (size_t)nl, pat, principal, (size_t)pl, host, (size_t)hl, op,
                       perm))
        return -1;
    int rc = kb_acls_add(a, res, name, (size_t)nl, pat, principal, (size_t)pl, host, (size_t)hl, op,
                         perm);
    return rc < 0 ? -2 : 0; /* a duplicate entry is harmless */
}

static int parse_image(kb_acls *a, const uint8_t *data, size_t len, char *err, size_t errlen) {
    const char *path = a->path[0] ? a->path : "ACL file";
    if (len < sizeof(acl_magic) || memcmp(data, acl_magic, sizeof(acl_magic)) != 0) {
        snprintf(err, errlen, "%s is not a kferry ACL file (bad magic)", path);
        return -1;
    }
    size_t pos = sizeof(acl_magic);
    while (pos < len) {
        if (len - pos < 8) {
            snprintf(err, errlen, "%s: truncated entry at offset %zu", path, pos);
            return -1;
        }
        uint32_t el = kf_be32(data + pos);
        uint32_t crc = kf_be32(data + pos + 4);
        if (el == 0 || el > ACL_MAX_ENTRY || el > len - pos - 8 ||
            kf_crc32c(0, data + pos + 8, el) != crc) {
            snprintf(err, errlen, "%s: corrupt entry at offset %zu (length or CRC)", path, pos);
            return -1;
        }
        int rc = replay(a, data + pos + 8, el);
        if (rc != 0) {
            snprintf(err, errlen, "%s: %s at offset %zu", path,
                     rc == -2 ? "out of memory loading the ACL entry" : "invalid ACL entry", pos);
            return -1;
        }
        pos += 8 + el;
    }
    return 0;
}

int kb_acls_parse(kb_acls *a, const uint8_t *data, size_t len, char *err, size_t errlen) {
    int rc = parse_image(a, data, len, err, errlen);
    if (rc != 0)
        clear_bindings(a); /* all or nothing */
    return rc;
}

int kb_acls_reload(kb_acls *a, char *err, size_t errlen) {
    clear_bindings(a);
    kf_buf f;
    if (kf_read_file(a->path, &f, ACL_MAX_FILE) != 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "read %s: %s", a->path, strerror(errno));
        return -1;
    }
    int rc = kb_acls_parse(a, f.data, f.len, err, errlen);
    kf_buf_free(&f);
    return rc;
}

int kb_acls_open(kb_acls *a, const char *data_dir, char *err, size_t errlen) {
    memset(a, 0, sizeof(*a));
    char dir[4096];
    if (snprintf(dir, sizeof(dir), "%s/kferry-meta", data_dir) >= (int)sizeof(dir) ||
        snprintf(a->path, sizeof(a->path), "%s/" KB_ACL_FILE, dir) >= (int)sizeof(a->path)) {
        snprintf(err, errlen, "data dir path too long");
        return -1;
    }
    if (kf_mkdirs(dir, 0755) != 0) {
        snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
        return -1;
    }
    return kb_acls_reload(a, err, errlen);
}

/* ---------------------------------------------------------------------- */
/* Broker                                                                  */

int kb_acl_open(kb_broker *b, char *err, size_t errlen) {
    kb_acls *a = calloc(1, sizeof(*a));
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (kb_acls_open(a, b->cfg.data_dir, err, errlen) != 0) {
        kb_acls_free(a);
        free(a);
        return -1;
    }
    b->acls = a;
    const kf_props *p = &b->cfg.raw;
    for (size_t i = 0; i < p->count; i++) {
        const kf_prop *it = &p->items[i];
        int bv;
        if (!strcmp(it->key, "authorizer.class.name"))
            a->enabled = authorizer_of(it->value) > 0;
        else if (!strcmp(it->key, "allow.everyone.if.no.acl.found") &&
                 kf_parse_bool(it->value, &bv) == 0)
            a->allow_if_no_acl = bv;
        else if (!strcmp(it->key, "super.users") && kb_acls_set_super_users(a, it->value) != 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    if (a->enabled)
        kf_info("acl", "authorizer on: %zu ACL bindings in %s, %zu super users%s", a->n, a->path,
                a->nsuper, a->allow_if_no_acl ? ", allow.everyone.if.no.acl.found" : "");
    else if (a->n)
        kf_info("acl", "%zu ACL bindings in %s are not enforced: no authorizer.class.name", a->n,
                a->path);
    return 0;
}

void kb_acl_close(kb_broker *b) {
    if (!b->acls)
        return;
    kb_acls_free(b->acls);
    free(b->acls);
    b->acls = NULL;
}
