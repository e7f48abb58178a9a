/*
 * main.c - the `kferry` command line: parses arguments, loads the config
 * and hands over to a subcommand.  Exit status 2 = usage or config error.
 */
#include "common/log.h"
#include "common/util.h"
#include "mirror/clients.h"
#include "mirror/config.h"
#include "migrate/cutover.h"
#include "migrate/demo.h"
#include "migrate/groupcmd.h"
#include "mirror/offsets.h"
#include "migrate/plan.h"
#include "mirror/replicate.h"
#include "mirror/status.h"
#include "migrate/verify.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <string.h>

static const char *g_usage =
    "usage: kferry <command> [options]\n"
    "\n"
    "commands:\n"
    "  demo                          rehearse a whole migration on two local brokers\n"
    "  mirror --config FILE          replicate the enabled flow continuously (SIGTERM stops)\n"
    "  offsets translate --config FILE --topic T --partition P --offset O [--json]\n"
    "                                target offset of a source offset, from the offset map\n"
    "  offsets dump --config FILE [--topic T]\n"
    "                                the offset map as JSON lines\n"
    "  status --config FILE [--json] per-partition source end, mirrored position and lag\n"
    "  plan --config FILE [--json] [--timeout S]\n"
    "                                inventory and preflight checks before mirroring\n"
    "                                (docs/PLAN.md)\n"
    "  verify --config FILE [--json] [--topic REGEX] [--allow-unmirrored]\n"
    "                                compare source and target record by record through the\n"
    "                                offset map (docs/VERIFY.md)\n"
    "  cutover --config FILE --group G [--producers-first] [--timeout S]\n"
    "  cutover producers --config FILE [--topics REGEX]  |  cutover --status --config FILE\n"
    "                                move consumer groups to the target exactly, journaled\n"
    "                                (docs/CUTOVER.md; `kferry cutover --help`)\n"
    "  groups status|sync --config FILE [--group G] [--json]\n"
    "                                per group: source offsets, translation, exact or waiting\n"
    "  config-reference              every configuration key (Markdown)\n"
    "\n"
    "The config file is MirrorMaker 2's mm2.properties format; see docs/MIRROR.md.\n"
    "Exit status: 0 ok, 1 failure, 2 usage/config error, 3 retention gap with "
    "kferry.gap.policy=stop.\n";

typedef struct args {
    const char *config, *topic;
    int64_t partition, offset;
    int json, have_partition, have_offset;
} args;

static int parse_args(int argc, char **argv, int first, args *a) {
    memset(a, 0, sizeof(*a));
    for (int i = first; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--json")) {
            a->json = 1;
            continue;
        }
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            fputs(g_usage, stdout);
            return 1;
        }
        if (!v) {
            fprintf(stderr, "kferry: %s needs a value (or is unknown)\n", o);
            return -1;
        }
        i++;
        if (!strcmp(o, "--config") || !strcmp(o, "-c"))
            a->config = v;
        else if (!strcmp(o, "--topic"))
            a->topic = v;
        else if (!strcmp(o, "--partition")) {
            if (kf_parse_i64(v, 0, INT32_MAX, &a->partition)) {
                fprintf(stderr, "kferry: --partition %s: not a partition number\n", v);
                return -1;
            }
            a->have_partition = 1;
        } else if (!strcmp(o, "--offset")) {
            if (kf_parse_i64(v, 0, INT64_MAX, &a->offset)) {
                fprintf(stderr, "kferry: --offset %s: not an offset\n", v);
                return -1;
            }
            a->have_offset = 1;
        } else {
            fprintf(stderr, "kferry: unknown option %s\n", o);
            return -1;
        }
    }
    if (!a->config) {
        fprintf(stderr, "kferry: --config FILE is required\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    kf_log_set_prefix("kferry");
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        fputs(g_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("kferry 0.1.0 (librdkafka %s)\n", rd_kafka_version_str());
        return 0;
    }
    const char *cmd = argv[1];
    int first = 2;
    int sub = 0; /* offsets: 1 translate, 2 dump */
    if (!strcmp(cmd, "plan"))
        return plan_main(argc, argv); /* its own options */
    if (!strcmp(cmd, "demo"))
        return demo_main(argc - 2, argv + 2); /* its own options */
    if (!strcmp(cmd, "cutover"))
        return cutover_main(argc - 2, argv + 2); /* its own options */
    if (!strcmp(cmd, "groups"))
        return groups_main(argc - 2, argv + 2); /* its own options */
    if (!strcmp(cmd, "verify"))
        return verify_main(argc - 2, argv + 2); /* its own options */
    if (!strcmp(cmd, "config-reference")) {
        mc_print_reference();
        return 0;
    }
    if (!strcmp(cmd, "offsets")) {
        if (argc < 3 || (strcmp(argv[2], "translate") && strcmp(argv[2], "dump"))) {
            if (argc >= 3 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
                fputs(g_usage, stdout);
                return 0;
            }
            fprintf(stderr, "kferry offsets: expected 'translate' or 'dump'\n");
            return 2;
        }
        sub = !strcmp(argv[2], "translate") ? 1 : 2;
        first = 3;
    } else if (strcmp(cmd, "mirror") && strcmp(cmd, "status")) {
        fprintf(stderr, "kferry: unknown command '%s'\n%s", cmd, g_usage);
        return 2;
    }
    args a;
    int pr = parse_args(argc, argv, first, &a);
    if (pr)
        return pr > 0 ? 0 : 2;
    if (sub == 1 && (!a.topic || !a.have_partition || !a.have_offset)) {
        fprintf(stderr, "kferry offsets translate: --topic, --partition and --offset are "
                        "required\n");
        return 2;
    }
    if (strcmp(cmd, "mirror") != 0)
        kf_log_set_level(KF_LOG_WARNING); /* one-shot commands: stdout is the answer */
    mirror_config c;
    if (mc_load(&c, a.config) != 0) {
        mc_free(&c);
        return 2;
    }
    clients_setup_debug(&c);
    int rc;
    if (!strcmp(cmd, "mirror")) {
        mc_log_effective(&c);
        rc = replicate_run(&c);
    } else if (!strcmp(cmd, "status")) {
        rc = status_run(&c, a.json);
    } else if (sub == 1) {
        rc = offsets_translate(&c, a.topic, (int32_t)a.partition, a.offset, a.json);
    } else {
        rc = offsets_dump(&c, a.topic);
    }
    mc_free(&c);
    return rc;
}
