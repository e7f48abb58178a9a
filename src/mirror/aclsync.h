/*
 * aclsync.h - ACL sync against the clusters: reads the source's and the
 * target's ACLs (DescribeAcls), works out the target's with aclmap.c and,
 * when asked, creates the missing ones (CreateAcls).  Never deletes an ACL.
 * Used by `kferry acls plan|apply` and, with sync.topic.acls.enabled, by
 * `kferry mirror`.
 */
#ifndef KF_MIRROR_ACLSYNC_H
#define KF_MIRROR_ACLSYNC_H

#include "mirror/aclmap.h"
#include "mirror/config.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>

enum { AS_PHASE_ALL = 0, AS_PHASE_CONSUMERS, AS_PHASE_PRODUCERS };

typedef struct as_result {
    am_list source;  /* the source's ACLs as read */
    am_list desired; /* what the target needs (this phase) */
    am_list present; /* desired ones the target already has */
    am_list create;  /* desired ones it lacks */
    am_list skipped; /* source ACLs not copied, with reasons */
    am_list created; /* apply: created */
    am_list failed;  /* apply: refused (reason = the cluster's message) */
    size_t later;    /* WRITE ACLs left for the producer phase */
    char **topics;   /* the source topics the flow mirrors */
    size_t ntopics;
} as_result;

void as_result_free(as_result *r);

/* One sync.  apply=0 changes nothing.  0 on success (apply: everything
 * created), -1 with err (a cluster unreachable, ACLs not readable, an
 * invalid principal map, a CreateAcls refusal). */
int as_run(const mirror_config *c, rd_kafka_t *src, rd_kafka_t *tgt, int apply, int phase,
           as_result *r, char *err, size_t errlen);

/* The result as a table (stdout) or JSON. */
void as_print(const mirror_config *c, const as_result *r, int apply, int phase);
json_t *as_json(const mirror_config *c, const as_result *r, int apply, int phase);

const char *as_phase_name(int phase);

/* Whether the cluster uses MSK IAM access control: iam.enabled (set by the
 * config loader), sasl.mechanism=AWS_MSK_IAM, or a sasl.jaas.config naming
 * software.amazon.msk.auth.iam.IAMLoginModule. */
int as_cluster_is_iam(const mc_cluster *cl);

/* The IAM policies equivalent to r's source ACLs on the target
 * (mirror/iampolicy.h), every phase; cluster_arn NULL or "" gives
 * placeholders.  NULL with err. */
json_t *as_iam_policies(const mirror_config *c, const as_result *r, const char *cluster_arn,
                        char *err, size_t errlen);

#endif
