/*
 * acl.h - Kafka ACLs on kferry-broker: the authorizer configuration
 * (authorizer.class.name, super.users, allow.everyone.if.no.acl.found),
 * the ACL store <data-dir>/kferry-meta/acls and the authorization check
 * the request handlers call.
 *
 * Evaluation follows Kafka's StandardAuthorizer: a super user is allowed;
 * otherwise the ACLs whose pattern covers the resource (LITERAL with the
 * same name or "*", PREFIXED with a prefix of the name) and whose
 * principal (equal or "User:*") and host (equal or "*") match are looked
 * at: a DENY for the operation (or ALL) denies, else an ALLOW for the
 * operation, ALL or an operation implying it (READ, WRITE, DELETE, ALTER
 * imply DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS) allows; when the
 * resource has no ACL at all, allow.everyone.if.no.acl.found decides;
 * otherwise the request is denied.
 *
 * The store is small and changes rarely: every change rewrites the file
 * whole (temp file, fsync, rename), so a crash leaves the old or the new
 * version.  A file that fails its checks stops the broker with an error
 * naming it.
 */
#ifndef KB_ACL_H
#define KB_ACL_H

#include "broker/broker.h"
#include "common/props.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define KB_ACL_FILE "acls"
#define KB_ACL_MAX_STR 4096     /* longest name, principal or host kept */
#define KB_ACL_MAX_COUNT 100000 /* bindings in the store */

/* Kafka's wire codes (ResourceType, PatternType, AclOperation,
 * AclPermissionType). */
enum {
    KB_RES_UNKNOWN = 0,
    KB_RES_ANY = 1,
    KB_RES_TOPIC = 2,
    KB_RES_GROUP = 3,
    KB_RES_CLUSTER = 4,
    KB_RES_TRANSACTIONAL_ID = 5,
    KB_RES_DELEGATION_TOKEN = 6,
    KB_RES_USER = 7
};
enum {
    KB_PAT_UNKNOWN = 0,
    KB_PAT_ANY = 1,
    KB_PAT_MATCH = 2,
    KB_PAT_LITERAL = 3,
    KB_PAT_PREFIXED = 4
};
enum {
    KB_OP_UNKNOWN = 0,
    KB_OP_ANY = 1,
    KB_OP_ALL = 2,
    KB_OP_READ = 3,
    KB_OP_WRITE = 4,
    KB_OP_CREATE = 5,
    KB_OP_DELETE = 6,
    KB_OP_ALTER = 7,
    KB_OP_DESCRIBE = 8,
    KB_OP_CLUSTER_ACTION = 9,
    KB_OP_DESCRIBE_CONFIGS = 10,
    KB_OP_ALTER_CONFIGS = 11,
    KB_OP_IDEMPOTENT_WRITE = 12,
    KB_OP_CREATE_TOKENS = 13,
    KB_OP_DESCRIBE_TOKENS = 14
};
enum { KB_PERM_UNKNOWN = 0, KB_PERM_ANY = 1, KB_PERM_DENY = 2, KB_PERM_ALLOW = 3 };

#define KB_CLUSTER_RESOURCE "kafka-cluster"

/* One ACL binding; the strings are owned (NUL-terminated, no NUL inside). */
typedef struct kb_acl {
    int8_t res_type, pattern, op, perm;
    char *name, *principal, *host;
} kb_acl;

/* A filter (DescribeAcls, DeleteAcls): a NULL string matches anything. */
typedef struct kb_acl_filter {
    int8_t res_type, pattern, op, perm;
    const char *name, *principal, *host;
    size_t name_len, principal_len, host_len;
} kb_acl_filter;

typedef struct kb_acls {
    int enabled;         /* authorizer.class.name names a supported authorizer */
    int allow_if_no_acl; /* allow.everyone.if.no.acl.found */
    char **super_users;  /* "User:NAME" each */
    size_t nsuper;
    char path[4200];
    kb_acl *v;
    size_t n, cap;
} kb_acls;

/* Configuration (called by config.c): validates the authorizer keys of p,
 * marks them used, appends problems (one a line) to err. 0 or -1. */
int kb_acl_config_check(kf_props *p, char *err, size_t errlen);
/* Markdown rows for docs/CONFIGURATION.md. */
void kb_acl_print_reference(FILE *f);

/* Builds b->acls from b->cfg.raw and loads the store. 0 or -1 with err. */
int kb_acl_open(kb_broker *b, char *err, size_t errlen);
void kb_acl_close(kb_broker *b);

/* The store alone (unit tests, fuzzing): loads data_dir's file (absent =
 * empty). 0 or -1 with err naming the file. */
int kb_acls_open(kb_acls *a, const char *data_dir, char *err, size_t errlen);
void kb_acls_free(kb_acls *a);
/* Parses a store image into a (which should be empty). 0, or -1 with err
 * and a left empty: a damaged image loads nothing. */
int kb_acls_parse(kb_acls *a, const uint8_t *data, size_t len, char *err, size_t errlen);
/* Writes the whole store atomically. 0 or -1 (errno). */
int kb_acls_save(kb_acls *a);
/* Drops in-memory changes: reloads the file. 0 or -1 with err. */
int kb_acls_reload(kb_acls *a, char *err, size_t errlen);
/* Adds a binding (copies the strings). 0 added, 1 already there, -1 memory. */
int kb_acls_add(kb_acls *a, int8_t res_type, const char *name, size_t name_len, int8_t pattern,
                const char *principal, size_t principal_len, const char *host, size_t host_len,
                int8_t op, int8_t perm);
/* Removes binding i (order is not kept). */
void kb_acls_remove(kb_acls *a, size_t i);
/* Sets super.users from a "User:a;User:b" list. 0 or -1 (memory). */
int kb_acls_set_super_users(kb_acls *a, const char *list);

/* Kafka's AclBindingFilter.matches. */
int kb_acl_filter_matches(const kb_acl_filter *f, const kb_acl *acl);
/* Why a binding cannot be created, or NULL if it can (Kafka's checks). */
const char *kb_acl_invalid(int8_t res_type, const char *name, size_t name_len, int8_t pattern,
                           const char *principal, size_t principal_len, const char *host,
                           size_t host_len, int8_t op, int8_t perm);
/* Why a filter is unusable (UNKNOWN elements), or NULL. */
const char *kb_acl_filter_invalid(const kb_acl_filter *f);

/* 1 if principal at host may do op on the resource, 0 if not. */
int kb_acls_authorize(const kb_acls *a, const char *principal, const char *host, int8_t res_type,
                      const char *name, size_t name_len, int8_t op);
/* Kafka's authorizeByResourceType: 1 if principal may do op on some
 * resource of the type (an ALLOW that no DENY of the same pattern or a
 * wildcard DENY cancels). */
int kb_acls_authorize_any(const kb_acls *a, const char *principal, const char *host,
                          int8_t res_type, int8_t op);

/* Handler helpers: 1 if the request may do op on the resource (always 1
 * without an authorizer). */
int kb_authz(kb_broker *b, const kb_req *r, int8_t res_type, const char *name, size_t len,
             int8_t op);
int kb_authz_cluster(kb_broker *b, const kb_req *r, int8_t op);
int kb_authz_any(kb_broker *b, const kb_req *r, int8_t res_type, int8_t op);
/* Whether an authorizer is configured. */
int kb_authz_enabled(const kb_broker *b);

/* Names for logs and docs ("TOPIC", "READ", ...). */
const char *kb_acl_res_name(int8_t v);
const char *kb_acl_op_name(int8_t v);

#endif
