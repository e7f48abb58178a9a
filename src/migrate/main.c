/*
 * main.c - the `kferry` command line: parses arguments, loads the config
 * and hands over to a subcommand.  Exit status 2 = usage or config error.
 */
#include "common/log.h"
#include "common/util.h"
#include "mirror/clients.h"
#include "mirror/config.h"
#include "migrate/cli.h"
#include "migrate/commands.h"
#include "migrate/cutover.h"
#include "migrate/aclcmd.h"
#include "migrate/demo.h"
#include "migrate/groupcmd.h"
#include "mirror/offsets.h"
#include "migrate/plan.h"
#include "mirror/replicate.h"
#include "mirror/status.h"
#include "migrate/verify.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef KFERRY_VERSION
#define KFERRY_VERSION "0.1.0"
#endif

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
    "  acls plan|apply --config FILE [--json] [--phase consumers|producers|all]\n"
    "                                sync the source's topic and group ACLs to the target\n"
    "                                (docs/SECURITY.md)\n"
    "  config-reference              every configuration key (Markdown)\n"
    "  completion bash|list          bash completion script; the commands' options\n"
    "\n"
    "global options (every command):\n"
    "  --log-format text|json        the log on stderr: text lines (default) or one JSON\n"
    "                                object per line; or $KFERRY_LOG_FORMAT (README.md)\n"
    "\n"
    "The config file is MirrorMaker 2's mm2.properties format; see docs/MIRROR.md.\n"
    "Exit status: 0 ok, 1 failure, 2 usage/config error, 3 retention gap with "
    "kferry.gap.policy=stop.\n";

static const char *g_mirror_usage =
    "usage: kferry mirror --config FILE\n"
    "\n"
    "Replicates the enabled flow (A->B.enabled = true) continuously: every selected\n"
    "topic, record for record, with an exact source->target offset map kept on the\n"
    "target; follows new topics and partitions; syncs topic configs and group\n"
    "offsets.  Runs until SIGTERM/SIGINT (then persists the map and exits 0).\n"
    "\n"
    "  --config FILE   MirrorMaker 2's mm2.properties (keys: kferry config-reference)\n"
    "\n"
    "Example: kferry mirror --config mm2.properties\n"
    "\n"
    "Exit status: 0 stopped by a signal, 1 failure (e.g. a cluster unreachable),\n"
    "2 usage or configuration error, 3 retention gap with kferry.gap.policy=stop.\n"
    "See docs/MIRROR.md.\n";

static const char *g_status_usage =
    "usage: kferry status --config FILE [--json]\n"
    "\n"
    "Per partition: source log start and end, mirrored position, lag in records,\n"
    "bytes and seconds, and an ETA from the running mirror's recent rate.  Works\n"
    "whether the mirror runs or not; read-only on both clusters.\n"
    "\n"
    "  --config FILE   the mirror's mm2.properties\n"
    "  --json          one JSON object instead of the table\n"
    "\n"
    "Example: kferry status --config mm2.properties --json\n"
    "\n"
    "Exit status: 0 ok, 1 a cluster or the offset map could not be read, 2 usage or\n"
    "configuration error.\n";

static const char *g_translate_usage =
    "usage: kferry offsets translate --config FILE --topic T --partition P --offset O [--json]\n"
    "\n"
    "The exact target offset of source offset O of T/P, from the persisted offset\n"
    "map (never contacts the source).\n"
    "\n"
    "  --config FILE     the mirror's mm2.properties\n"
    "  --topic T         source topic\n"
    "  --partition P     partition number\n"
    "  --offset O        source offset (a committed offset: the next record to read)\n"
    "  --json            one JSON object\n"
    "\n"
    "Example: kferry offsets translate --config mm2.properties --topic orders \\\n"
    "             --partition 0 --offset 1158\n"
    "\n"
    "Exit status: 0 translated (exact, hole, gap, below, end, skipped), 1 not mirrored\n"
    "yet or the map could not be read, 2 usage or configuration error.\n";

static const char *g_dump_usage =
    "usage: kferry offsets dump --config FILE [--topic T]\n"
    "\n"
    "The persisted offset map, one JSON object per partition and line: runs, gaps,\n"
    "skips and baseline.\n"
    "\n"
    "  --config FILE   the mirror's mm2.properties\n"
    "  --topic T       only source topic T\n"
    "\n"
    "Example: kferry offsets dump --config mm2.properties --topic orders\n"
    "\n"
    "Exit status: 0 ok, 1 the map could not be read, 2 usage or configuration error.\n";

typedef struct args {
    const char *config, *topic;
    int64_t partition, offset;
    int json, have_partition, have_offset;
} args;

/* sub: 0 mirror, 1 status, 2 offsets translate, 3 offsets dump; each
 * accepts only its own options. */
static int parse_args(int argc, char **argv, int first, int sub, args *a) {
    /* the tables are in commands.c, where `kferry completion` reads them */
    static const char *names[] = {"mirror", "status", "offsets translate", "offsets dump"};
    static const char *const *usages[] = {&g_mirror_usage, &g_status_usage, &g_translate_usage,
                                          &g_dump_usage};
    const cli_opt *opts = sub == 0   ? cli_mirror_opts
                          : sub == 1 ? cli_status_opts
                          : sub == 2 ? cli_translate_opts
                                     : cli_dump_opts;
    memset(a, 0, sizeof(*a));
    int i = first, k;
    const char *v;
    while ((k = cli_next(names[sub], opts, argc, argv, &i, &v)) != CLI_END) {
        if (k == CLI_HELP) {
            fputs(*usages[sub], stdout);
            return 1;
        }
        if (k == CLI_ERR)
            return -1;
        const char *o = opts[k].name;
        if (!strcmp(o, "--config"))
            a->config = v;
        else if (!strcmp(o, "--json"))
            a->json = 1;
        else if (!strcmp(o, "--topic"))
            a->topic = v;
        else if (!strcmp(o, "--partition")) {
            if (kf_parse_i64(v, 0, INT32_MAX, &a->partition)) {
                fprintf(stderr, "kferry %s: --partition %s: not a partition number\n", names[sub],
                        v);
                return -1;
            }
            a->have_partition = 1;
        } else if (!strcmp(o, "--offset")) {
            if (kf_parse_i64(v, 0, INT64_MAX, &a->offset)) {
                fprintf(stderr, "kferry %s: --offset %s: not an offset\n", names[sub], v);
                return -1;
            }
            a->have_offset = 1;
        }
    }
    if (!a->config) {
        fprintf(stderr, "kferry %s: --config FILE is required\n", names[sub]);
        return -1;
    }
    return 0;
}

/* --log-format is global: it is taken out of argv wherever it appears
 * (up to a "--"), so no command's own parser sees it.  *val is its last
 * value, NULL if absent.  Returns -1 (after saying why) for a missing
 * value. */
static int take_log_format(int *argc, char **argv, const char **val) {
    int o = 1, i = 1;
    for (; i < *argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--"))
            break;
        if (!strcmp(a, "--log-format")) {
            if (i + 1 >= *argc) {
                fprintf(stderr, "kferry: --log-format needs a value: text or json\n");
                return -1;
            }
            *val = argv[++i];
        } else if (!strncmp(a, "--log-format=", 13)) {
            *val = a + 13;
        } else {
            argv[o++] = argv[i];
        }
    }
    for (; i < *argc; i++)
        argv[o++] = argv[i];
    argv[o] = NULL;
    *argc = o;
    return 0;
}

int main(int argc, char **argv) {
    kf_log_set_prefix("kferry");
    const char *log_format = NULL;
    if (take_log_format(&argc, argv, &log_format) != 0 ||
        kf_log_format_setup("kferry", log_format) != 0)
        return 2;
    /* processes kferry starts (demo's brokers and mirror) log the same way */
    if (log_format)
        setenv("KFERRY_LOG_FORMAT", log_format, 1);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        fputs(g_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("kferry %s (librdkafka %s)\n", KFERRY_VERSION, rd_kafka_version_str());
        return 0;
    }
    const char *cmd = argv[1];
    int first = 2;
    int sub = 0; /* 0 mirror, 1 status, 2 offsets translate, 3 offsets dump */
    if (!strcmp(cmd, "plan"))
        return plan_main(argc, argv); /* its own options */
    if (!strcmp(cmd, "demo"))
        return demo_main(argc - 2, argv + 2); /* its own options */
    if (!strcmp(cmd, "cutover"))
        return cutover_main(argc - 2, argv + 2); /* its own options */
    if (!strcmp(cmd, "groups"))
        return groups_main(argc - 2, argv + 2); /* its own options */
    if (!strcmp(cmd, "acls"))
        return acls_main(argc - 2, argv + 2); /* its own options */
    if (!strcmp(cmd, "verify"))
        return verify_main(argc - 2, argv + 2); /* its own options */
    if (!strcmp(cmd, "completion"))
        return completion_main(argc - 2, argv + 2);
    if (!strcmp(cmd, "config-reference")) {
        if (argc > 2 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
            printf("usage: kferry config-reference\n\nPrints every mm2.properties key kferry "
                   "reads (Markdown).\nExample: kferry config-reference > keys.md\nExit "
                   "status: 0.\n");
            return 0;
        }
        if (argc > 2) {
            fprintf(stderr, "kferry config-reference: unknown option %s\n", argv[2]);
            return 2;
        }
        mc_print_reference();
        return 0;
    }
    if (!strcmp(cmd, "offsets")) {
        if (argc < 3 || (strcmp(argv[2], "translate") && strcmp(argv[2], "dump"))) {
            if (argc >= 3 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
                fputs(g_translate_usage, stdout);
                fputs("\n", stdout);
                fputs(g_dump_usage, stdout);
                return 0;
            }
            fprintf(stderr, "kferry offsets: expected 'translate' or 'dump'\n");
            return 2;
        }
        sub = !strcmp(argv[2], "translate") ? 2 : 3;
        first = 3;
    } else if (!strcmp(cmd, "status")) {
        sub = 1;
    } else if (strcmp(cmd, "mirror")) {
        fprintf(stderr, "kferry: unknown command '%s'\n%s", cmd, g_usage);
        return 2;
    }
    args a;
    int pr = parse_args(argc, argv, first, sub, &a);
    if (pr)
        return pr > 0 ? 0 : 2;
    if (sub == 2 && (!a.topic || !a.have_partition || !a.have_offset)) {
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
    } else if (sub == 2) {
        rc = offsets_translate(&c, a.topic, (int32_t)a.partition, a.offset, a.json);
    } else {
        rc = offsets_dump(&c, a.topic);
    }
    mc_free(&c);
    return rc;
}
