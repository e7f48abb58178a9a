/*
 * aclsync.c - ACL sync against the clusters (see aclsync.h).
 *
 * Phases follow the cutover: consumer rights (everything but WRITE and
 * IDEMPOTENT_WRITE) go over before the consumers move, write rights with
 * the producers.  DENY ACLs go over in every phase: they never grant.
 * Admin requests are retried with backoff while the cluster answers with
 * transient errors (leader or controller movement, timeouts).
 */
#include "mirror/aclsync.h"

#include "common/log.h"
#include "common/util.h"
#include "mirror/iampolicy.h"
#include "mirror/retry.h"
#include "mirror/topics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define AS_TIMEOUT_MS 30000

void as_result_free(as_result *r) {
    am_list_free(&r->source);
    am_list_free(&r->desired);
    am_list_free(&r->present);
    am_list_free(&r->create);
    am_list_free(&r->skipped);
    am_list_free(&r->created);
    am_list_free(&r->failed);
    for (size_t i = 0; i < r->ntopics; i++)
        free(r->topics[i]);
    free(r->topics);
    r->topics = NULL;
    r->ntopics = 0;
}

const char *as_phase_name(int phase) {
    return phase == AS_PHASE_CONSUMERS   ? "consumers"
           : phase == AS_PHASE_PRODUCERS ? "producers"
                                         : "all";
}

/* Every ACL of the cluster into out. 0, or -1 with err. */
static int describe_all(rd_kafka_t *rk, const mc_cluster *cl, am_list *out, char *err,
                        size_t errlen) {
    char eb[256];
    rd_kafka_AclBindingFilter_t *f = rd_kafka_AclBindingFilter_new(
        RD_KAFKA_RESOURCE_ANY, NULL, RD_KAFKA_RESOURCE_PATTERN_ANY, NULL, NULL,
        RD_KAFKA_ACL_OPERATION_ANY, RD_KAFKA_ACL_PERMISSION_TYPE_ANY, eb, sizeof(eb));
    if (!f) {
        snprintf(err, errlen, "%s", eb);
        return -1;
    }
    int rc = -1;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    int64_t deadline = kf_now_ms() + AS_TIMEOUT_MS;
    for (int attempt = 0;; attempt++) {
        rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBEACLS);
        rd_kafka_AdminOptions_set_request_timeout(o, 10000, eb, sizeof(eb));
        rd_kafka_DescribeAcls(rk, f, o, q);
        rd_kafka_event_t *ev = topics_admin_wait(q, RD_KAFKA_EVENT_DESCRIBEACLS_RESULT, 15000);
        rd_kafka_AdminOptions_destroy(o);
        rd_kafka_resp_err_t e = ev ? rd_kafka_event_error(ev) : RD_KAFKA_RESP_ERR__TIMED_OUT;
        if (!e) {
            size_t n = 0;
            const rd_kafka_AclBinding_t **b =
                rd_kafka_DescribeAcls_result_acls(rd_kafka_event_DescribeAcls_result(ev), &n);
            rc = 0;
            for (size_t i = 0; i < n && rc == 0; i++)
                rc = am_add(out, (int)rd_kafka_AclBinding_restype(b[i]),
                            rd_kafka_AclBinding_name(b[i]),
                            (int)rd_kafka_AclBinding_resource_pattern_type(b[i]),
                            rd_kafka_AclBinding_principal(b[i]), rd_kafka_AclBinding_host(b[i]),
                            (int)rd_kafka_AclBinding_operation(b[i]),
                            (int)rd_kafka_AclBinding_permission_type(b[i]), NULL);
            if (rc)
                snprintf(err, errlen, "out of memory");
            rd_kafka_event_destroy(ev);
            break;
        }
        const char *msg = ev ? rd_kafka_event_error_string(ev) : "no answer";
        if (retry_transient(e) && kf_now_ms() < deadline && !retry_interrupted()) {
            retry_note("cluster '%s' (%s): DescribeAcls: %s; retrying", cl->alias, mc_bootstrap(cl),
                       msg);
            kf_warn("acls", "cluster '%s': DescribeAcls: %s; retrying", cl->alias, msg);
            if (ev)
                rd_kafka_event_destroy(ev);
            usleep((useconds_t)retry_backoff_ms(attempt) * 1000);
            continue;
        }
        snprintf(err, errlen, "cannot read the ACLs of cluster '%s' (%s): %s%s", cl->alias,
                 mc_bootstrap(cl), msg,
                 e == RD_KAFKA_RESP_ERR_SECURITY_DISABLED
                     ? " (the cluster has no authorizer: there are no ACLs to sync)"
                 : e == RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED
                     ? " (kferry's principal needs DESCRIBE on the CLUSTER resource)"
                     : "");
        if (ev)
            rd_kafka_event_destroy(ev);
        break;
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_AclBinding_destroy(f);
    return rc;
}

static int target_name_cb(void *u, const char *src, char *out, size_t cap) {
    return mc_target_topic((const mirror_config *)u, src, out, cap);
}

/* The source topics the flow mirrors, from the source's metadata. */
static int mirrored_topics(const mirror_config *c, rd_kafka_t *src, char ***out, size_t *n,
                           char *err, size_t errlen) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int attempt = 0; attempt < 20; attempt++) {
        e = rd_kafka_metadata(src, 1, NULL, &md, 10000);
        if (!e || !retry_transient(e) || retry_interrupted())
            break;
        usleep((useconds_t)retry_backoff_ms(attempt) * 1000);
    }
    if (e) {
        snprintf(err, errlen, "cannot list the topics of cluster '%s' (%s): %s", c->src.alias,
                 mc_bootstrap(&c->src), rd_kafka_err2str(e));
        return -1;
    }
    char **v = calloc((size_t)md->topic_cnt + 1, sizeof(char *));
    size_t k = 0;
    for (int i = 0; v && i < md->topic_cnt; i++) {
        const char *why = NULL;
        if (md->topics[i].err == 0 && mc_topic_selected(c, md->topics[i].topic, &why) == 1)
            v[k++] = kf_strndup(md->topics[i].topic, strlen(md->topics[i].topic));
    }
    rd_kafka_metadata_destroy(md);
    if (!v) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *out = v;
    *n = k;
    return 0;
}

static int in_phase(const am_acl *a, int phase) {
    if (phase != AS_PHASE_CONSUMERS || a->perm == AM_DENY)
        return 1;
    return a->op != AM_OP_WRITE && a->op != AM_OP_IDEMPOTENT_WRITE && a->op != AM_OP_ALL;
}

static int copy_to(am_list *l, const am_acl *a) {
    return am_add(l, a->restype, a->name, a->pattern, a->principal, a->host, a->op, a->perm,
                  a->reason);
}

static int create_missing(const mirror_config *c, rd_kafka_t *tgt, as_result *r, char *err,
                          size_t errlen) {
    if (r->create.n == 0)
        return 0;
    char eb[256];
    rd_kafka_AclBinding_t **b = calloc(r->create.n, sizeof(*b));
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t nb = 0;
    for (size_t i = 0; i < r->create.n; i++) {
        const am_acl *a = &r->create.v[i];
        b[nb] = rd_kafka_AclBinding_new((rd_kafka_ResourceType_t)a->restype, a->name,
                                        (rd_kafka_ResourcePatternType_t)a->pattern, a->principal,
                                        a->host, (rd_kafka_AclOperation_t)a->op,
                                        (rd_kafka_AclPermissionType_t)a->perm, eb, sizeof(eb));
        if (!b[nb]) {
            snprintf(err, errlen, "invalid ACL for %s: %s", a->principal, eb);
            for (size_t j = 0; j < nb; j++)
                rd_kafka_AclBinding_destroy(b[j]);
            free(b);
            return -1;
        }
        nb++;
    }
    int rc = -1;
    rd_kafka_queue_t *q = rd_kafka_queue_new(tgt);
    for (int attempt = 0;; attempt++) {
        rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(tgt, RD_KAFKA_ADMIN_OP_CREATEACLS);
        rd_kafka_AdminOptions_set_request_timeout(o, 10000, eb, sizeof(eb));
        rd_kafka_CreateAcls(tgt, b, nb, o, q);
        rd_kafka_event_t *ev = topics_admin_wait(q, RD_KAFKA_EVENT_CREATEACLS_RESULT, 15000);
        rd_kafka_AdminOptions_destroy(o);
        rd_kafka_resp_err_t e = ev ? rd_kafka_event_error(ev) : RD_KAFKA_RESP_ERR__TIMED_OUT;
        if (e && retry_transient(e) && attempt < 10 && !retry_interrupted()) {
            kf_warn("acls", "cluster '%s': CreateAcls: %s; retrying", c->tgt.alias,
                    ev ? rd_kafka_event_error_string(ev) : "no answer");
            if (ev)
                rd_kafka_event_destroy(ev);
            usleep((useconds_t)retry_backoff_ms(attempt) * 1000);
            continue;
        }
        if (e) {
            snprintf(err, errlen, "cannot create ACLs on cluster '%s' (%s): %s%s", c->tgt.alias,
                     mc_bootstrap(&c->tgt), ev ? rd_kafka_event_error_string(ev) : "no answer",
                     e == RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED
                         ? " (kferry's principal needs ALTER on the CLUSTER resource)"
                         : "");
            if (ev)
                rd_kafka_event_destroy(ev);
            break;
        }
        size_t n = 0;
        const rd_kafka_acl_result_t **res =
            rd_kafka_CreateAcls_result_acls(rd_kafka_event_CreateAcls_result(ev), &n);
        rc = 0;
        for (size_t i = 0; i < r->create.n; i++) {
            const rd_kafka_error_t *ae = i < n ? rd_kafka_acl_result_error(res[i]) : NULL;
            const am_acl *a = &r->create.v[i];
            if (ae || i >= n) {
                am_add(&r->failed, a->restype, a->name, a->pattern, a->principal, a->host, a->op,
                       a->perm, ae ? rd_kafka_error_string(ae) : "no result");
                rc = -1;
            } else {
                copy_to(&r->created, a);
            }
        }
        if (rc)
            snprintf(err, errlen, "cluster '%s' refused %zu of %zu ACL(s)", c->tgt.alias,
                     r->failed.n, r->create.n);
        rd_kafka_event_destroy(ev);
        break;
    }
    rd_kafka_queue_destroy(q);
    for (size_t j = 0; j < nb; j++)
        rd_kafka_AclBinding_destroy(b[j]);
    free(b);
    return rc;
}

int as_run(const mirror_config *c, rd_kafka_t *src, rd_kafka_t *tgt, int apply, int phase,
           as_result *r, char *err, size_t errlen) {
    memset(r, 0, sizeof(*r));
    am_pmap pm;
    if (am_pmap_parse(c->acl_principal_map, &pm, err, errlen) != 0)
        return -1;
    char **topics = NULL;
    size_t nt = 0;
    am_list want, existing;
    am_list_init(&want);
    am_list_init(&existing);
    int rc = -1;
    if (describe_all(src, &c->src, &r->source, err, errlen) != 0 ||
        mirrored_topics(c, src, &topics, &nt, err, errlen) != 0)
        goto out;
    am_ctx ctx = {(const char *const *)topics, nt, target_name_cb, (void *)c, &pm};
    if (am_transform(&r->source, &ctx, &want, &r->skipped, err, errlen) != 0)
        goto out;
    if (describe_all(tgt, &c->tgt, &existing, err, errlen) != 0)
        goto out;
    for (size_t i = 0; i < want.n; i++) {
        const am_acl *a = &want.v[i];
        if (!in_phase(a, phase)) {
            r->later++;
            continue;
        }
        copy_to(&r->desired, a);
        copy_to(am_contains(&existing, a) ? &r->present : &r->create, a);
    }
    rc = apply ? create_missing(c, tgt, r, err, errlen) : 0;
out:
    r->topics = topics;
    r->ntopics = nt;
    am_list_free(&want);
    am_list_free(&existing);
    am_pmap_free(&pm);
    return rc;
}

static void print_acl(const char *tag, const am_acl *a) {
    printf("  %-8s %-5s %-28s %-10s %-9s %s:%s host=%s", tag, am_perm_name(a->perm), a->principal,
           am_op_name(a->op), am_res_name(a->restype),
           a->pattern == AM_PAT_PREFIXED ? "prefix" : "name", a->name, a->host);
    if (a->reason)
        printf("  (%s)", a->reason);
    printf("\n");
}

void as_print(const mirror_config *c, const as_result *r, int apply, int phase) {
    printf("ACL sync %s->%s (phase: %s): %zu ACL(s) on the source, %zu wanted on the target, "
           "%zu already there, %zu %s, %zu not copied\n",
           c->src.alias, c->tgt.alias, as_phase_name(phase), r->source.n, r->desired.n,
           r->present.n, apply ? r->created.n : r->create.n, apply ? "created" : "to create",
           r->skipped.n);
    for (size_t i = 0; i < r->present.n; i++)
        print_acl("present", &r->present.v[i]);
    if (apply) {
        for (size_t i = 0; i < r->created.n; i++)
            print_acl("created", &r->created.v[i]);
        for (size_t i = 0; i < r->failed.n; i++)
            print_acl("FAILED", &r->failed.v[i]);
    } else {
        for (size_t i = 0; i < r->create.n; i++)
            print_acl("create", &r->create.v[i]);
    }
    for (size_t i = 0; i < r->skipped.n; i++)
        print_acl("skip", &r->skipped.v[i]);
    if (r->later)
        printf("  %zu write ACL(s) wait for the producer phase (--phase producers)\n", r->later);
    printf("Target ACLs that the source does not have are never deleted.\n");
    if (!apply && r->create.n)
        printf("Nothing was changed: run `kferry acls apply --config ...` to create them.\n");
}

static json_t *list_json(const am_list *l) {
    json_t *a = json_array();
    for (size_t i = 0; i < l->n; i++) {
        const am_acl *x = &l->v[i];
        json_t *o = json_pack(
            "{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "resource_type", am_res_name(x->restype), "name",
            x->name, "pattern", am_pattern_name(x->pattern), "principal", x->principal, "host",
            x->host, "operation", am_op_name(x->op), "permission", am_perm_name(x->perm));
        if (x->reason)
            json_object_set_new(o, "reason", json_string(x->reason));
        json_array_append_new(a, o);
    }
    return a;
}

json_t *as_json(const mirror_config *c, const as_result *r, int apply, int phase) {
    json_t *o = json_pack("{s:s,s:s,s:s,s:b}", "source", c->src.alias, "target", c->tgt.alias,
                          "phase", as_phase_name(phase), "applied", apply);
    json_object_set_new(o, "source_acls", list_json(&r->source));
    json_object_set_new(o, "desired", list_json(&r->desired));
    json_object_set_new(o, "present", list_json(&r->present));
    json_object_set_new(o, "to_create", list_json(&r->create));
    json_object_set_new(o, "skipped", list_json(&r->skipped));
    json_object_set_new(o, "created", list_json(&r->created));
    json_object_set_new(o, "failed", list_json(&r->failed));
    json_object_set_new(o, "waiting_for_producer_phase", json_integer((json_int_t)r->later));
    return o;
}

int as_cluster_is_iam(const mc_cluster *cl) {
    if (cl->iam.enabled)
        return 1;
    const char *mech = mc_prop(cl, "sasl.mechanism"), *jaas = mc_prop(cl, "sasl.jaas.config");
    return (mech && !strcasecmp(mech, "AWS_MSK_IAM")) ||
           (jaas && strstr(jaas, "software.amazon.msk.auth.iam.IAMLoginModule"));
}

json_t *as_iam_policies(const mirror_config *c, const as_result *r, const char *cluster_arn,
                        char *err, size_t errlen) {
    ip_arn arn;
    if (ip_arn_parse(cluster_arn, c->tgt.iam.region, &arn, err, errlen) != 0)
        return NULL;
    am_pmap pm;
    if (am_pmap_parse(c->acl_principal_map, &pm, err, errlen) != 0)
        return NULL;
    am_ctx ctx = {(const char *const *)r->topics, r->ntopics, target_name_cb, (void *)c, &pm};
    json_t *p = ip_policies(&r->source, &ctx, &arn, err, errlen);
    am_pmap_free(&pm);
    return p;
}
