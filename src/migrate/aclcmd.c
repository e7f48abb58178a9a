/*
 * aclcmd.c - `kferry acls plan|apply`: the ACL sync of the configured flow
 * (mirror/aclsync.c), shown or applied once.
 */
#include "migrate/aclcmd.h"

#include "common/log.h"
#include "common/props.h"
#include "migrate/cli.h"
#include "migrate/commands.h"
#include "mirror/aclsync.h"
#include "mirror/clients.h"
#include "mirror/config.h"
#include "mirror/iampolicy.h"

#include <stdio.h>
#include <string.h>

static const char *g_usage =
    "usage: kferry acls plan  --config FILE [--json] [--phase consumers|producers|all]\n"
    "                         [--iam-policy] [--msk-cluster-arn ARN]\n"
    "       kferry acls apply --config FILE [--json] [--phase consumers|producers|all]\n"
    "                         [--iam-policy] [--msk-cluster-arn ARN]\n"
    "\n"
    "ACL sync: reads the source's ACLs and works out the target's: topic ACLs for\n"
    "every topic the flow mirrors (renamed by the replication policy), group ACLs\n"
    "as they are, principals renamed by kferry.acl.principal.map.  Cluster-wide\n"
    "and transactional-id ACLs are not copied (listed with the reason).  The target\n"
    "never grants more than the source; ACLs the target has of its own are never\n"
    "deleted.  `plan` changes nothing; `apply` creates what is missing, and a second\n"
    "apply creates nothing.\n"
    "\n"
    "  --config FILE   the mirror's mm2.properties\n"
    "  --json          one JSON object instead of the table\n"
    "  --phase P       consumers: all but WRITE rights (before `kferry cutover` of the\n"
    "                  groups); producers or all (default): everything (with the\n"
    "                  producer cutover)\n"
    "  --iam-policy    also print the MSK IAM policies equivalent to the source's\n"
    "                  ACLs, per principal (automatic when the target uses MSK IAM:\n"
    "                  MSK does not apply Kafka ACLs to IAM identities)\n"
    "  --msk-cluster-arn ARN  the target's cluster ARN for those policies\n"
    "                  (arn:aws:kafka:REGION:ACCOUNT:cluster/NAME/UUID); without it\n"
    "                  the ARNs hold placeholders\n"
    "\n"
    "Example: kferry acls plan --config mm2.properties\n"
    "\n"
    "Exit status: 0 ok, 1 a cluster unreachable, ACLs not readable or not all\n"
    "created, 2 usage or configuration error.\n";

/* also read by `kferry completion` (commands.h) */
const cli_opt acls_cli_opts[] = {{"--config", "-c", 1},          {"--json", NULL, 0},
                                 {"--phase", NULL, 1},           {"--iam-policy", NULL, 0},
                                 {"--msk-cluster-arn", NULL, 1}, {NULL, NULL, 0}};

int acls_main(int argc, char **argv) {
    const cli_opt *opts = acls_cli_opts;
    if (argc >= 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
        fputs(g_usage, stdout);
        return 0;
    }
    if (argc < 1 || (strcmp(argv[0], "plan") && strcmp(argv[0], "apply"))) {
        fprintf(stderr, "kferry acls: expected 'plan' or 'apply'%s%s\n%s",
                argc >= 1 ? ", got " : "", argc >= 1 ? argv[0] : "", g_usage);
        return 2;
    }
    int apply = !strcmp(argv[0], "apply");
    const char *cmd = apply ? "acls apply" : "acls plan";
    const char *config = NULL, *cluster_arn = NULL, *v;
    int iam = 0, json = 0, phase = AS_PHASE_ALL, i = 1, k;
    while ((k = cli_next(cmd, opts, argc, argv, &i, &v)) != CLI_END) {
        if (k == CLI_HELP) {
            fputs(g_usage, stdout);
            return 0;
        }
        if (k == CLI_ERR)
            return 2;
        if (k == 0)
            config = v;
        else if (k == 1)
            json = 1;
        else if (k == 3)
            iam = 1;
        else if (k == 4)
            cluster_arn = v;
        else if (!strcmp(v, "consumers"))
            phase = AS_PHASE_CONSUMERS;
        else if (!strcmp(v, "producers"))
            phase = AS_PHASE_PRODUCERS;
        else if (!strcmp(v, "all"))
            phase = AS_PHASE_ALL;
        else {
            fprintf(stderr, "kferry %s: --phase expects consumers, producers or all, got '%s'\n",
                    cmd, v);
            return 2;
        }
    }
    if (!config) {
        fprintf(stderr, "kferry %s: --config FILE is required\n", cmd);
        return 2;
    }
    kf_log_set_level(KF_LOG_WARNING);
    mirror_config c;
    if (mc_load(&c, config) != 0) {
        mc_free(&c);
        return 2;
    }
    if (as_cluster_is_iam(&c.tgt))
        iam = 1;
    char err[1024] = "";
    /* kferry.msk.cluster.arn; the command line wins */
    const char *arn_from = "--msk-cluster-arn";
    if (!cluster_arn) {
        const char *key_arn = kf_props_get(&c.props, "kferry.msk.cluster.arn");
        if (key_arn && *key_arn) {
            cluster_arn = key_arn;
            arn_from = "kferry.msk.cluster.arn";
        }
    }
    if (cluster_arn) {
        ip_arn parsed;
        if (ip_arn_parse(cluster_arn, NULL, &parsed, err, sizeof(err)) != 0) {
            fprintf(stderr, "kferry %s: %s: %s\n", cmd, arn_from, err);
            mc_free(&c);
            return 2;
        }
        iam = 1;
    }
    clients_setup_debug(&c);
    int rc = 1;
    rd_kafka_t *src = clients_consumer(&c, &c.src, "acls", 1);
    rd_kafka_t *tgt = clients_consumer(&c, &c.tgt, "acls", 1);
    as_result r;
    memset(&r, 0, sizeof(r));
    if (src && tgt && clients_probe_both(&c, src, tgt, NULL, 0) == 0) {
        int ok = as_run(&c, src, tgt, apply, phase, &r, err, sizeof(err)) == 0;
        json_t *pol = NULL;
        /* needs only the source's ACLs and topics: shown even when the
         * target's ACLs cannot be read (an MSK IAM target may refuse) */
        if (iam && r.topics) {
            char perr[512] = "";
            pol = as_iam_policies(&c, &r, cluster_arn, perr, sizeof(perr));
            if (!pol) {
                if (ok)
                    snprintf(err, sizeof(err), "IAM policies: %s", perr);
                ok = 0;
            }
        }
        if (r.source.n || ok || pol) {
            if (json) {
                json_t *o = as_json(&c, &r, apply, phase);
                if (iam)
                    json_object_set(o, "iam_policies", pol ? pol : json_null());
                json_object_set_new(o, "error", ok ? json_null() : json_string(err));
                json_dumpf(o, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
                printf("\n");
                json_decref(o);
            } else {
                as_print(&c, &r, apply, phase);
                if (pol)
                    ip_print(pol);
            }
        }
        json_decref(pol);
        if (!ok)
            fprintf(stderr, "kferry %s: %s\n", cmd, err);
        rc = ok ? 0 : 1;
    }
    as_result_free(&r);
    if (src)
        rd_kafka_destroy(src);
    if (tgt)
        rd_kafka_destroy(tgt);
    mc_free(&c);
    return rc;
}
