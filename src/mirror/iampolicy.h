/*
 * iampolicy.h - the MSK IAM policy documents equivalent to a set of Kafka
 * ACLs, one per (mapped) principal, for `kferry acls plan` when the target
 * uses MSK IAM access control (MSK does not apply Kafka ACLs to IAM
 * identities).  See docs/SECURITY.md, "IAM policies for an MSK IAM target".
 *
 * The mapping has no I/O (ip_print only writes the result to stdout).  The
 * input is the source's ACLs and the flow's context
 * (mirrored topics, replication policy, principal map: aclmap.h's am_ctx);
 * the output is a jansson object, unit-tested in
 * tests/unit/mirror/test_iampolicy.c.
 */
#ifndef KF_MIRROR_IAMPOLICY_H
#define KF_MIRROR_IAMPOLICY_H

#include "mirror/aclmap.h"

#include <jansson.h>
#include <stddef.h>

/* The parts of the target's cluster ARN,
 * arn:<partition>:kafka:<region>:<account>:cluster/<name>/<uuid>.
 * Unknown parts are the placeholders "<region>", "<account>" and
 * "<cluster-name>/<cluster-uuid>" (placeholders = 1). */
typedef struct ip_arn {
    char partition[32];
    char region[64];
    char account[64];
    char cluster[512]; /* "<name>/<uuid>" */
    int placeholders;
} ip_arn;

/* Parses a cluster ARN; NULL or "" gives the placeholders (region, when
 * given, fills that one part).  0, or -1 with err for a malformed ARN. */
int ip_arn_parse(const char *arn, const char *region, ip_arn *out, char *err, size_t errlen);

/* The full cluster ARN. */
void ip_arn_cluster(const ip_arn *a, char *out, size_t cap);

/* The policies for src under ctx:
 *   {"cluster_arn": "...", "placeholders": bool,
 *    "policies": [{"principal": "User:x", "policy": {"Version": "2012-10-17",
 *                  "Statement": [{"Effect", "Action": [...], "Resource": [...]}]},
 *                  "notes": ["..."]}],
 *    "not_mapped": [{"resource_type", "name", "pattern", "principal", "host",
 *                    "operation", "permission", "reason"}]}
 * Principals sorted; statements Allow before Deny, cluster, topic, group,
 * transactional-id resources in that order; actions and resources sorted.
 * NULL with err when out of memory or the principal map would merge two
 * principals' rights. */
json_t *ip_policies(const am_list *src, const am_ctx *ctx, const ip_arn *arn, char *err,
                    size_t errlen);

/* The policies as text: one block per principal with the pasteable JSON. */
void ip_print(const json_t *p);

#endif
