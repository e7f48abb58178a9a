/*
 * cutover.c - `kferry cutover` command line and `--status` (see cutover.h).
 *
 * Resolves which groups to move (a name or a regex matched against the
 * source's groups), opens the journal on the target and hands each group
 * to cut_group.  Nothing here writes to the source.
 */
#include "migrate/cutover.h"

#include "mirror/aclsync.h"

#include "common/log.h"
#include "common/util.h"
#include "mirror/clients.h"
#include "migrate/cli.h"
#include "migrate/commands.h"
#include "migrate/cutover_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *g_usage =
    "usage:\n"
    "  kferry cutover --config FILE --group G [--timeout S] [--restart]\n"
    "      consumers first: wait until G has no member on the source and the mirror has\n"
    "      passed every offset G committed, then commit the translated offsets on the\n"
    "      target, read them back and report\n"
    "  kferry cutover --config FILE --group G --producers-first [--quiet-seconds N]\n"
    "                 [--no-wait-members] [--timeout S] [--restart]\n"
    "      producers first, with drain: the source topics G reads get no new record for\n"
    "      N seconds (default 5), the mirror reaches their end, G has consumed everything\n"
    "      on the source (and left it), then commit on the target\n"
    "  kferry cutover producers --config FILE [--topics REGEX] [--quiet-seconds N]\n"
    "                 [--timeout S]\n"
    "      the producer gate: returns once the mirrored source topics matching REGEX\n"
    "      (default all) are quiet and fully mirrored: producers may then write to the target\n"
    "  kferry cutover --status --config FILE [--group G] [--json]\n"
    "      the journal: every step of every cutover, with times and committed offsets\n"
    "  --json with a group cutover: the report as one JSON object per group on stdout\n"
    "\n"
    "Examples: kferry cutover --config mm2.properties --group billing\n"
    "          kferry cutover --config mm2.properties --group 're:.*'\n"
    "          kferry cutover producers --config mm2.properties --topics 'orders|payments'\n"
    "\n"
    "G is a group name, or 're:REGEX' (also --groups REGEX) for every source group whose\n"
    "whole name matches.  --timeout (default 600 s) bounds all waits of the command.\n"
    "Exit status: 0 done, 1 failed or timed out (the reason is printed), 2 usage/config error.\n"
    "See docs/CUTOVER.md.\n";

typedef struct opts {
    const char *config, *group, *topics;
    int status, json, producers_cmd;
    int timeout_s, quiet_s, producers_first, no_wait_members, restart;
} opts;

enum {
    O_CONFIG,
    O_GROUP,
    O_GROUPS,
    O_TOPICS,
    O_TIMEOUT,
    O_QUIET,
    O_STATUS,
    O_JSON,
    O_PF,
    O_NWM,
    O_RESTART
};

/* in the order of the O_* values; also read by `kferry completion` (commands.h) */
const cli_opt cutover_cli_opts[] = {
    {"--config", "-c", 1},          {"--group", NULL, 1},   {"--groups", NULL, 1},
    {"--topics", NULL, 1},          {"--timeout", NULL, 1}, {"--quiet-seconds", NULL, 1},
    {"--status", NULL, 0},          {"--json", NULL, 0},    {"--producers-first", NULL, 0},
    {"--no-wait-members", NULL, 0}, {"--restart", NULL, 0}, {NULL, NULL, 0}};

/* what `cutover producers` refuses; also read by `kferry completion` */
const int cutover_producers_refused[] = {O_GROUP, O_GROUPS, O_STATUS, O_JSON, O_PF, O_NWM, -1};

static int parse(int argc, char **argv, opts *o) {
    const cli_opt *table = cutover_cli_opts;
    memset(o, 0, sizeof(*o));
    o->timeout_s = 600;
    o->quiet_s = 5;
    int i = 0, k;
    if (argc > 0 && !strcmp(argv[0], "producers")) {
        o->producers_cmd = 1;
        i = 1;
    }
    const char *cmd = o->producers_cmd ? "cutover producers" : "cutover";
    static char re[1100];
    const char *v, *seen[16] = {0};
    while ((k = cli_next(cmd, table, argc, argv, &i, &v)) != CLI_END) {
        int64_t n = 0;
        if (k == CLI_HELP) {
            fputs(g_usage, stdout);
            return 1;
        }
        if (k == CLI_ERR)
            return -1;
        seen[k] = table[k].name;
        switch (k) {
        case O_CONFIG: o->config = v; break;
        case O_GROUP: o->group = v; break;
        case O_GROUPS:
            snprintf(re, sizeof(re), "re:%s", v);
            o->group = re;
            break;
        case O_TOPICS: o->topics = v; break;
        case O_TIMEOUT:
        case O_QUIET:
            if (kf_parse_i64(v, 0, 86400 * 7, &n)) {
                fprintf(stderr, "kferry %s: %s %s: expected seconds\n", cmd, table[k].name, v);
                return -1;
            }
            *(k == O_TIMEOUT ? &o->timeout_s : &o->quiet_s) = (int)n;
            break;
        case O_STATUS: o->status = 1; break;
        case O_JSON: o->json = 1; break;
        case O_PF: o->producers_first = 1; break;
        case O_NWM: o->no_wait_members = 1; break;
        default: o->restart = 1; break;
        }
    }
    /* options another form of the command takes are refused, not ignored */
    const int *not_producers = cutover_producers_refused;
    static const int not_status[] = {O_GROUPS, O_TOPICS, O_TIMEOUT, O_QUIET,
                                     O_PF,     O_NWM,    O_RESTART, -1};
    static const int not_group[] = {O_TOPICS, -1};
    const int *bad = o->producers_cmd ? not_producers : o->status ? not_status : not_group;
    const char *form = o->producers_cmd ? "cutover producers"
                       : o->status      ? "cutover --status"
                                        : "cutover --group";
    for (int j = 0; bad[j] >= 0; j++) {
        if (!seen[bad[j]])
            continue;
        if (o->producers_cmd && (bad[j] == O_GROUP || bad[j] == O_GROUPS))
            fprintf(stderr, "kferry cutover producers: takes --topics, not %s\n", seen[bad[j]]);
        else
            fprintf(stderr, "kferry %s: %s does not apply here (see kferry cutover --help)\n", form,
                    seen[bad[j]]);
        return -1;
    }
    if (!o->producers_first && seen[O_NWM]) {
        fprintf(stderr, "kferry cutover: --no-wait-members goes with --producers-first\n");
        return -1;
    }
    if (!o->config) {
        fprintf(stderr, "kferry cutover: --config FILE is required\n");
        return -1;
    }
    if (!o->status && !o->producers_cmd && !o->group) {
        fprintf(stderr, "kferry cutover: --group G (or --groups REGEX) is required\n%s", g_usage);
        return -1;
    }
    const char *pat = o->producers_cmd ? o->topics : o->group;
    if (pat && ga_pattern_match(pat, "") < 0) {
        fprintf(stderr, "kferry cutover: %s: invalid regex\n", pat);
        return -1;
    }
    return 0;
}

static void status_print(const journal *j, const char *group, int json) {
    json_t *arr = json_array();
    for (size_t i = 0; i < j->n; i++) {
        const jr_entry *e = &j->v[i];
        if (group && (e->kind != 'C' || ga_pattern_match(group, e->name) != 1))
            continue;
        json_array_append(arr, e->data);
    }
    if (json) {
        char *s = json_dumps(arr, JSON_COMPACT);
        printf("%s\n", s ? s : "[]");
        free(s);
        json_decref(arr);
        return;
    }
    if (!json_array_size(arr))
        printf("no cutover journaled in %s%s%s\n", j->topic, group ? " for " : "",
               group ? group : "");
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o) {
        const char *kind = json_string_value(json_object_get(o, "kind"));
        printf("%s %-9s %s #%lld  %-18s %s%s\n", json_string_value(json_object_get(o, "time")),
               kind && kind[0] == 'P' ? "producers" : "group",
               json_string_value(json_object_get(o, "name")),
               (long long)json_integer_value(json_object_get(o, "gen")),
               json_string_value(json_object_get(o, "step")),
               json_object_get(o, "mode") ? "mode " : "",
               json_object_get(o, "mode") ? json_string_value(json_object_get(o, "mode")) : "");
        size_t k;
        json_t *r;
        json_array_foreach(json_object_get(o, "partitions"), k, r) {
            printf("    %s/%lld source end %lld = %s/%lld target offset %lld\n",
                   json_string_value(json_object_get(r, "topic")),
                   (long long)json_integer_value(json_object_get(r, "partition")),
                   (long long)json_integer_value(json_object_get(r, "source_end")),
                   json_string_value(json_object_get(r, "target_topic")),
                   (long long)json_integer_value(json_object_get(r, "partition")),
                   (long long)json_integer_value(json_object_get(r, "target_end")));
        }
        json_array_foreach(json_object_get(o, "offsets"), k, r) {
            printf("    %s/%lld %lld -> %s/%lld %lld (%s)\n",
                   json_string_value(json_object_get(r, "topic")),
                   (long long)json_integer_value(json_object_get(r, "partition")),
                   (long long)json_integer_value(json_object_get(r, "source_committed")),
                   json_string_value(json_object_get(r, "target_topic")),
                   (long long)json_integer_value(json_object_get(r, "partition")),
                   (long long)json_integer_value(json_object_get(r, "target_committed")),
                   json_string_value(json_object_get(r, "status")));
        }
    }
    json_decref(arr);
}

/* Group names to move: the name itself, or every source group matching. */
static int resolve(cut_ctx *x, const char *pattern, char ***ids, size_t *n) {
    *ids = NULL;
    *n = 0;
    if (strncmp(pattern, "re:", 3) != 0) {
        *ids = calloc(1, sizeof(char *));
        if (!*ids || !((*ids)[0] = kf_strdup(pattern)))
            return -1;
        *n = 1;
        return 0;
    }
    char **all = NULL;
    size_t na = 0;
    char err[512];
    if (ga_list(x->src, CUT_ADMIN_TIMEOUT_MS, &all, &na, err, sizeof(err))) {
        snprintf(x->reason, sizeof(x->reason), "%s: %s", x->c->src.alias, err);
        return -1;
    }
    for (size_t i = 0; i < na; i++) {
        if (ga_wanted(x->c, pattern, all[i])) {
            char *keep = all[i]; /* i >= *n: clear the old slot before filling the new */
            all[i] = NULL;
            all[(*n)++] = keep;
        } else {
            free(all[i]);
        }
    }
    *ids = all;
    return 0;
}

int cutover_main(int argc, char **argv) {
    opts o;
    int pr = parse(argc, argv, &o);
    if (pr)
        return pr > 0 ? 0 : 2;
    kf_log_set_level(KF_LOG_WARNING);
    mirror_config c;
    if (mc_load(&c, o.config) != 0) {
        mc_free(&c);
        return 2;
    }
    clients_setup_debug(&c);
    cut_ctx x;
    memset(&x, 0, sizeof(x));
    x.c = &c;
    x.quiet_s = o.quiet_s;
    x.producers_first = o.producers_first;
    x.no_wait_members = o.no_wait_members;
    x.restart = o.restart;
    x.json = o.json;
    x.deadline = kf_now_ms() + (int64_t)o.timeout_s * 1000;
    gt_map_init(&x.map);
    int rc = 1;
    char err[512];
    char **ids = NULL;
    size_t n = 0;
    x.src = clients_consumer(&c, &c.src, "cutover", 1);
    x.tgt = clients_consumer(&c, &c.tgt, "cutover", 1);
    if (!x.src || !x.tgt)
        goto out;
    if (clients_probe_both(&c, x.src, x.tgt, x.reason, sizeof(x.reason)))
        goto out;
    if (journal_open(&x.j, &c, x.tgt, !o.status, 60000, err, sizeof(err))) {
        snprintf(x.reason, sizeof(x.reason), "journal: %s", err);
        goto out;
    }
    if (o.status) {
        status_print(&x.j, o.group, o.json);
        rc = 0;
        goto out;
    }
    /* sync.topic.acls.enabled: the rights move with the clients, consumer
     * rights before the groups, write rights before the producer gate. */
    if (c.sync_acls) {
        as_result ar;
        int phase = o.producers_cmd ? AS_PHASE_PRODUCERS : AS_PHASE_CONSUMERS;
        if (as_run(&c, x.src, x.tgt, 1, phase, &ar, err, sizeof(err)) != 0) {
            snprintf(x.reason, sizeof(x.reason), "ACL sync (%s phase): %s", as_phase_name(phase),
                     err);
            as_result_free(&ar);
            goto out;
        }
        cut_say("ACL sync (%s phase): %zu created, %zu already on %s", as_phase_name(phase),
                ar.created.n, ar.present.n, c.tgt.alias);
        as_result_free(&ar);
    }
    if (o.producers_cmd) {
        rc = cut_producers(&x, o.topics ? o.topics : "re:.*") ? 1 : 0;
        goto out;
    }
    if (resolve(&x, o.group, &ids, &n))
        goto out;
    if (!n) {
        snprintf(x.reason, sizeof(x.reason), "no group on %s matches %s", c.src.alias, o.group);
        goto out;
    }
    rc = 0;
    for (size_t i = 0; i < n; i++) {
        x.reason[0] = 0;
        if (cut_group(&x, ids[i]) != 0) {
            cut_say("group %s: FAILED: %s", ids[i], x.reason);
            if (o.json) {
                json_t *f = json_pack("{s:s,s:s,s:s}", "group", ids[i], "result", "failed",
                                      "reason", x.reason);
                char *txt = json_dumps(f, JSON_COMPACT);
                printf("%s\n", txt ? txt : "{}");
                free(txt);
                json_decref(f);
            } else {
                printf("cutover of group %s: FAILED: %s\n", ids[i], x.reason);
            }
            rc = 1;
        }
    }
    x.reason[0] = 0;
out:
    if (rc && x.reason[0]) {
        cut_say("FAILED: %s", x.reason);
        printf("cutover: FAILED: %s\n", x.reason);
    }
    ga_list_free(ids, n);
    journal_close(&x.j);
    gt_map_free(&x.map);
    if (x.src)
        rd_kafka_destroy(x.src);
    if (x.tgt)
        rd_kafka_destroy(x.tgt);
    mc_free(&c);
    return rc;
}
