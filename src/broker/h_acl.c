/*
 * h_acl.c - DescribeAcls, CreateAcls and DeleteAcls v1-3 (flexible from
 * v2), the versions Kafka 4.0 serves.
 *
 * As on Kafka: describing needs CLUSTER DESCRIBE, creating and deleting
 * CLUSTER ALTER (CLUSTER_AUTHORIZATION_FAILED otherwise); without an
 * authorizer every request is answered with SECURITY_DISABLED.  Creating
 * an ACL that exists already succeeds without a second copy.  Every change
 * is written to kferry-meta/acls before the response is sent.
 */
#include "broker/acl.h"
#include "broker/handlers.h"
#include "common/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NO_AUTHORIZER "No Authorizer is configured on the broker"
#define CLUSTER_DENIED "Cluster authorization failed."

/* One filter as on the wire (DescribeAcls body, DeleteAcls element). */
static void rd_filter(kf_rd *rd, int flex, kb_acl_filter *f) {
    memset(f, 0, sizeof(*f));
    f->res_type = kf_rd_i8(rd);
    int32_t l = kf_rd_str(rd, flex, &f->name);
    f->name_len = l < 0 ? 0 : (size_t)l;
    if (l < 0)
        f->name = NULL;
    f->pattern = kf_rd_i8(rd);
    l = kf_rd_str(rd, flex, &f->principal);
    f->principal_len = l < 0 ? 0 : (size_t)l;
    if (l < 0)
        f->principal = NULL;
    l = kf_rd_str(rd, flex, &f->host);
    f->host_len = l < 0 ? 0 : (size_t)l;
    if (l < 0)
        f->host = NULL;
    f->op = kf_rd_i8(rd);
    f->perm = kf_rd_i8(rd);
    kf_rd_tags(rd, flex);
}

static int same_resource(const kb_acl *x, const kb_acl *y) {
    return x->res_type == y->res_type && x->pattern == y->pattern && !strcmp(x->name, y->name);
}

int kb_h_describe_acls(kb_broker *b, kb_req *r, kf_buf *out) {
    kf_rd rd;
    kb_req_body(r, &rd);
    kb_acl_filter f;
    rd_filter(&rd, r->flex, &f);
    if (!kf_rd_ok(&rd))
        return KB_CLOSE;
    int flex = r->flex;
    kf_wr_i32(out, 0); /* throttle_time_ms */
    int16_t err = KF_ERR_NONE;
    const char *msg = NULL;
    if (!kb_authz_cluster(b, r, KB_OP_DESCRIBE)) {
        err = KF_ERR_CLUSTER_AUTHORIZATION_FAILED;
        msg = CLUSTER_DENIED;
    } else if (!kb_authz_enabled(b)) {
        err = KF_ERR_SECURITY_DISABLED;
        msg = NO_AUTHORIZER;
    } else if ((msg = kb_acl_filter_invalid(&f)) != NULL) {
        err = KF_ERR_INVALID_REQUEST;
    }
    kf_wr_i16(out, err);
    kf_wr_cstr(out, flex, msg);
    if (err != KF_ERR_NONE) {
        kf_wr_arr(out, flex, 0);
        kf_wr_tags(out, flex);
        return KB_OK;
    }
    const kb_acls *a = b->acls;
    /* Resources in order of their first matching binding, each with all
     * its matching bindings. */
    uint8_t *match = calloc(a->n ? a->n : 1, 1);
    if (!match)
        return KB_CLOSE;
    int32_t nres = 0;
    for (size_t i = 0; i < a->n; i++)
        if (kb_acl_filter_matches(&f, &a->v[i])) {
            match[i] = 1;
            int first = 1;
            for (size_t k = 0; k < i && first; k++)
                if (match[k] && same_resource(&a->v[k], &a->v[i]))
                    first = 0;
            if (first) {
                match[i] = 2;
                nres++;
            }
        }
    kf_wr_arr(out, flex, nres);
    for (size_t i = 0; i < a->n; i++) {
        if (match[i] != 2)
            continue;
        const kb_acl *x = &a->v[i];
        kf_wr_i8(out, x->res_type);
        kf_wr_cstr(out, flex, x->name);
        kf_wr_i8(out, x->pattern);
        int32_t cnt = 0;
        for (size_t k = i; k < a->n; k++)
            cnt += match[k] && same_resource(&a->v[k], x);
        kf_wr_arr(out, flex, cnt);
        for (size_t k = i; k < a->n; k++)
            if (match[k] && same_resource(&a->v[k], x)) {
                kf_wr_cstr(out, flex, a->v[k].principal);
                kf_wr_cstr(out, flex, a->v[k].host);
                kf_wr_i8(out, a->v[k].op);
                kf_wr_i8(out, a->v[k].perm);
                kf_wr_tags(out, flex);
            }
        kf_wr_tags(out, flex);
    }
    kf_wr_tags(out, flex);
    free(match);
    return KB_OK;
}

typedef struct creation {
    int8_t res, pat, op, perm;
    const char *name, *principal, *host;
    int32_t nl, pl, hl;
} creation;

int kb_h_create_acls(kb_broker *b, kb_req *r, kf_buf *out) {
    kf_rd rd;
    kb_req_body(r, &rd);
    int flex = r->flex;
    int32_t n = kf_rd_arr(&rd, flex, 7);
    if (!kf_rd_ok(&rd) || n < 0)
        return KB_CLOSE;
    creation *c = calloc((size_t)n + 1, sizeof(*c));
    int16_t *errs = calloc((size_t)n + 1, sizeof(*errs));
    const char **msgs = calloc((size_t)n + 1, sizeof(*msgs));
    if (!c || !errs || !msgs) {
        free(c);
        free(errs);
        free(msgs);
        return KB_CLOSE;
    }
    for (int32_t i = 0; i < n && kf_rd_ok(&rd); i++) {
        c[i].res = kf_rd_i8(&rd);
        c[i].nl = kf_rd_str(&rd, flex, &c[i].name);
        c[i].pat = kf_rd_i8(&rd);
        c[i].pl = kf_rd_str(&rd, flex, &c[i].principal);
        c[i].hl = kf_rd_str(&rd, flex, &c[i].host);
        c[i].op = kf_rd_i8(&rd);
        c[i].perm = kf_rd_i8(&rd);
        kf_rd_tags(&rd, flex);
    }
    kf_rd_tags(&rd, flex);
    int rc = KB_OK;
    if (!kf_rd_ok(&rd)) {
        rc = KB_CLOSE;
        goto done;
    }
    int16_t all_err = KF_ERR_NONE;
    const char *all_msg = NULL;
    if (!kb_authz_cluster(b, r, KB_OP_ALTER)) {
        all_err = KF_ERR_CLUSTER_AUTHORIZATION_FAILED;
        all_msg = CLUSTER_DENIED;
    } else if (!kb_authz_enabled(b)) {
        all_err = KF_ERR_SECURITY_DISABLED;
        all_msg = "No Authorizer is configured.";
    }
    int changed = 0;
    for (int32_t i = 0; i < n; i++) {
        if (all_err) {
            errs[i] = all_err;
            msgs[i] = all_msg;
            continue;
        }
        const char *why =
            c[i].nl < 0 || c[i].pl < 0 || c[i].hl < 0
                ? "Null resource name, principal or host"
                : kb_acl_invalid(c[i].res, c[i].name, (size_t)c[i].nl, c[i].pat, c[i].principal,
                                 (size_t)c[i].pl, c[i].host, (size_t)c[i].hl, c[i].op, c[i].perm);
        if (why) {
            errs[i] = KF_ERR_INVALID_REQUEST;
            msgs[i] = why;
            continue;
        }
        int ar =
            kb_acls_add(b->acls, c[i].res, c[i].name, (size_t)c[i].nl, c[i].pat, c[i].principal,
                        (size_t)c[i].pl, c[i].host, (size_t)c[i].hl, c[i].op, c[i].perm);
        if (ar < 0) {
            errs[i] = KF_ERR_UNKNOWN_SERVER_ERROR;
            msgs[i] = "Too many ACLs, or out of memory";
        } else if (ar == 0) {
            changed = 1;
            kf_info("acl", "%s added %s ACL: %s %s %.*s%s for %.*s from %.*s",
                    r->principal ? r->principal : "?", c[i].perm == KB_PERM_DENY ? "DENY" : "ALLOW",
                    kb_acl_op_name(c[i].op), kb_acl_res_name(c[i].res), (int)c[i].nl, c[i].name,
                    c[i].pat == KB_PAT_PREFIXED ? "*" : "", (int)c[i].pl, c[i].principal,
                    (int)c[i].hl, c[i].host);
        }
    }
    if (changed && kb_acls_save(b->acls) != 0) {
        int e = errno;
        char rerr[512];
        kf_err("acl", "cannot write %s: %s", b->acls->path, strerror(e));
        if (kb_acls_reload(b->acls, rerr, sizeof(rerr)) != 0)
            kf_err("acl", "%s", rerr);
        for (int32_t i = 0; i < n; i++)
            if (errs[i] == KF_ERR_NONE) {
                errs[i] = KF_ERR_KAFKA_STORAGE_ERROR;
                msgs[i] = "Cannot write the ACL file";
            }
    }
    kf_wr_i32(out, 0); /* throttle_time_ms */
    kf_wr_arr(out, flex, n);
    for (int32_t i = 0; i < n; i++) {
        kf_wr_i16(out, errs[i]);
        kf_wr_cstr(out, flex, msgs[i]);
        kf_wr_tags(out, flex);
    }
    kf_wr_tags(out, flex);
done:
    free(c);
    free(errs);
    free(msgs);
    return rc;
}

static void wr_matching(kf_buf *out, int flex, const kb_acl *x) {
    kf_wr_i16(out, KF_ERR_NONE);
    kf_wr_cstr(out, flex, NULL);
    kf_wr_i8(out, x->res_type);
    kf_wr_cstr(out, flex, x->name);
    kf_wr_i8(out, x->pattern);
    kf_wr_cstr(out, flex, x->principal);
    kf_wr_cstr(out, flex, x->host);
    kf_wr_i8(out, x->op);
    kf_wr_i8(out, x->perm);
    kf_wr_tags(out, flex);
}

int kb_h_delete_acls(kb_broker *b, kb_req *r, kf_buf *out) {
    kf_rd rd;
    kb_req_body(r, &rd);
    int flex = r->flex;
    int32_t n = kf_rd_arr(&rd, flex, 7);
    if (!kf_rd_ok(&rd) || n < 0)
        return KB_CLOSE;
    kb_acl_filter *f = calloc((size_t)n + 1, sizeof(*f));
    if (!f)
        return KB_CLOSE;
    for (int32_t i = 0; i < n && kf_rd_ok(&rd); i++)
        rd_filter(&rd, flex, &f[i]);
    kf_rd_tags(&rd, flex);
    if (!kf_rd_ok(&rd)) {
        free(f);
        return KB_CLOSE;
    }
    int16_t all_err = KF_ERR_NONE;
    const char *all_msg = NULL;
    if (!kb_authz_cluster(b, r, KB_OP_ALTER)) {
        all_err = KF_ERR_CLUSTER_AUTHORIZATION_FAILED;
        all_msg = CLUSTER_DENIED;
    } else if (!kb_authz_enabled(b)) {
        all_err = KF_ERR_SECURITY_DISABLED;
        all_msg = "No Authorizer is configured.";
    }
    kf_wr_i32(out, 0); /* throttle_time_ms */
    kf_wr_arr(out, flex, n);
    kb_acls *a = b->acls;
    /* Each filter reports the bindings it matched; a binding matched by
     * several filters is deleted (and reported) by the first. */
    int changed = 0;
    for (int32_t i = 0; i < n; i++) {
        const char *why = all_err ? all_msg : kb_acl_filter_invalid(&f[i]);
        if (why) {
            kf_wr_i16(out, all_err ? all_err : KF_ERR_INVALID_REQUEST);
            kf_wr_cstr(out, flex, why);
            kf_wr_arr(out, flex, 0);
            kf_wr_tags(out, flex);
            continue;
        }
        kf_wr_i16(out, KF_ERR_NONE);
        kf_wr_cstr(out, flex, NULL);
        int32_t cnt = 0;
        for (size_t k = 0; k < a->n; k++)
            cnt += kb_acl_filter_matches(&f[i], &a->v[k]);
        kf_wr_arr(out, flex, cnt);
        for (size_t k = 0; k < a->n;) {
            if (kb_acl_filter_matches(&f[i], &a->v[k])) {
                wr_matching(out, flex, &a->v[k]);
                kf_info("acl", "%s removed ACL: %s %s %s%s for %s from %s",
                        r->principal ? r->principal : "?", kb_acl_op_name(a->v[k].op),
                        kb_acl_res_name(a->v[k].res_type), a->v[k].name,
                        a->v[k].pattern == KB_PAT_PREFIXED ? "*" : "", a->v[k].principal,
                        a->v[k].host);
                kb_acls_remove(a, k);
                changed = 1;
            } else {
                k++;
            }
        }
        kf_wr_tags(out, flex);
    }
    kf_wr_tags(out, flex);
    free(f);
    if (changed && kb_acls_save(a) != 0) {
        /* Nothing was persisted: restore the file's view and fail the
         * whole request rather than report deletions that did not happen. */
        int e = errno;
        char rerr[512];
        kf_err("acl", "cannot write %s: %s", a->path, strerror(e));
        if (kb_acls_reload(a, rerr, sizeof(rerr)) != 0)
            kf_err("acl", "%s", rerr);
        kf_buf_reset(out);
        kf_wr_i32(out, 0);
        kf_wr_arr(out, flex, n);
        for (int32_t i = 0; i < n; i++) {
            kf_wr_i16(out, KF_ERR_KAFKA_STORAGE_ERROR);
            kf_wr_cstr(out, flex, "Cannot write the ACL file");
            kf_wr_arr(out, flex, 0);
            kf_wr_tags(out, flex);
        }
        kf_wr_tags(out, flex);
    }
    return KB_OK;
}
