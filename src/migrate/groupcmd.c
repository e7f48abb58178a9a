/*
 * groupcmd.c - `kferry groups status|sync` (see groupcmd.h).
 *
 * Read-only on the source; `status` is read-only on the target as well.
 * Waiting rows say how far the map has to go, so a user can tell a slow
 * mirror from a stopped one.
 */
#include "migrate/groupcmd.h"

#include "common/log.h"
#include "mirror/clients.h"
#include "mirror/groupsync.h"
#include "mirror/grouptr.h"
#include "migrate/cli.h"
#include "migrate/commands.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *g_usage =
    "usage: kferry groups status --config FILE [--group NAME|re:REGEX] [--json]\n"
    "       kferry groups sync   --config FILE [--group NAME|re:REGEX]\n"
    "\n"
    "  status   per group: state and members on both clusters, and per partition the\n"
    "           source committed offset, its exact translation and the target's value\n"
    "  sync     one group offset sync pass, by hand (what the mirror does periodically)\n"
    "\n"
    "  --config FILE   the mirror's mm2.properties\n"
    "  --group G       a group name, or re:REGEX for every matching source group the\n"
    "                  config selects; default: the groups selected by 'groups' /\n"
    "                  'groups.exclude'\n"
    "  --json          (status) one JSON object (schema: docs/CUTOVER.md)\n"
    "\n"
    "Example: kferry groups status --config mm2.properties --group billing\n"
    "\n"
    "Exit status: 0 ok, 1 a cluster or the offset map could not be read, or no group\n"
    "on the source matches, 2 usage or configuration error.\n";

static const char *state_name(int st) {
    return rd_kafka_consumer_group_state_name((rd_kafka_consumer_group_state_t)st);
}

static json_t *row_json(const gt_row *r) {
    json_t *o = json_pack("{s:s,s:i,s:b,s:I,s:s,s:I,s:I,s:I}", "topic", r->src_topic, "partition",
                          (int)r->partition, "mirrored", r->mirrored, "source_committed",
                          (json_int_t)r->src_committed, "status",
                          r->mirrored ? tr_status_name(r->tr.status) : "not-mirrored",
                          "source_start", (json_int_t)r->src_lo, "source_end",
                          (json_int_t)r->src_hi, "map_end", (json_int_t)r->tr.map_end);
    json_object_set_new(o, "target_topic", r->mirrored ? json_string(r->tgt_topic) : json_null());
    json_object_set_new(o, "translated",
                        tr_committable(&r->tr) ? json_integer(r->tr.tgt) : json_null());
    json_object_set_new(o, "exact", json_boolean(r->mirrored && tr_committable(&r->tr)));
    json_object_set_new(o, "target_committed",
                        r->tgt_committed >= 0 ? json_integer(r->tgt_committed) : json_null());
    json_object_set_new(o, "below_source_start", json_boolean(r->tr.below_start));
    json_object_set_new(o, "metadata", r->metadata ? json_string(r->metadata) : json_null());
    return o;
}

static void print_rows(const char *g, const ga_group *sg, const ga_group *tg,
                       const gt_group *rows) {
    printf("group %s: source %s (%zu member(s)), target %s (%zu member(s))\n", g,
           state_name(sg->state), sg->nmembers, state_name(tg->state), tg->nmembers);
    printf("  %-28s %4s %12s %12s %-8s %12s\n", "TOPIC", "PART", "SRC_COMMIT", "TRANSLATED",
           "STATUS", "TGT_COMMIT");
    for (size_t i = 0; i < rows->n; i++) {
        const gt_row *r = &rows->rows[i];
        char tr[32] = "-", tc[32] = "-";
        if (r->mirrored && tr_committable(&r->tr))
            snprintf(tr, sizeof(tr), "%lld", (long long)r->tr.tgt);
        if (r->tgt_committed >= 0)
            snprintf(tc, sizeof(tc), "%lld", (long long)r->tgt_committed);
        printf("  %-28s %4d %12lld %12s %-8s %12s", r->src_topic, (int)r->partition,
               (long long)r->src_committed, tr,
               r->mirrored ? tr_status_name(r->tr.status) : "not-mirrored", tc);
        if (r->mirrored && !tr_committable(&r->tr))
            printf("  (map covers source offsets below %lld)", (long long)r->tr.map_end);
        if (r->tr.below_start)
            printf("  (below the source log start %lld)", (long long)r->src_lo);
        printf("\n");
    }
}

static int status_one(mirror_config *c, rd_kafka_t *src, rd_kafka_t *tgt, gt_map *gm, const char *g,
                      int json, json_t *arr) {
    char err[512];
    ga_group sg, tg;
    gt_group rows;
    if (ga_describe(src, g, 10000, &sg, err, sizeof(err)))
        memset(&sg, 0, sizeof(sg));
    if (ga_describe(tgt, g, 10000, &tg, err, sizeof(err)))
        memset(&tg, 0, sizeof(tg));
    if (gt_build(c, src, tgt, &gm->m, g, 10000, &rows, err, sizeof(err))) {
        kf_err("groups", "%s", err);
        ga_group_free(&sg);
        ga_group_free(&tg);
        return -1;
    }
    if (json) {
        json_t *ra = json_array();
        size_t waiting = 0;
        for (size_t i = 0; i < rows.n; i++) {
            json_array_append_new(ra, row_json(&rows.rows[i]));
            waiting += !rows.rows[i].mirrored || !tr_committable(&rows.rows[i].tr);
        }
        json_array_append_new(arr,
                              json_pack("{s:s,s:s,s:i,s:s,s:i,s:b,s:o}", "group", g, "source_state",
                                        state_name(sg.state), "source_members", (int)sg.nmembers,
                                        "target_state", state_name(tg.state), "target_members",
                                        (int)tg.nmembers, "exact", waiting == 0, "partitions", ra));
    } else {
        print_rows(g, &sg, &tg, &rows);
    }
    gt_group_free(&rows);
    ga_group_free(&sg);
    ga_group_free(&tg);
    return 0;
}

/* also read by `kferry completion` (commands.h) */
const cli_opt groups_cli_opts[] = {
    {"--config", "-c", 1}, {"--group", NULL, 1}, {"--json", NULL, 0}, {NULL, NULL, 0}};

/* what `groups sync` refuses (--json); also read by `kferry completion` */
const int groups_sync_refused[] = {2, -1};

int groups_main(int argc, char **argv) {
    const cli_opt *opts = groups_cli_opts;
    const char *config = NULL, *group = NULL, *v;
    int json = 0;
    if (argc >= 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
        fputs(g_usage, stdout);
        return 0;
    }
    if (argc < 1 || (strcmp(argv[0], "status") && strcmp(argv[0], "sync"))) {
        fprintf(stderr, "kferry groups: expected 'status' or 'sync'%s%s\n%s",
                argc >= 1 ? ", got " : "", argc >= 1 ? argv[0] : "", g_usage);
        return 2;
    }
    int sync = !strcmp(argv[0], "sync");
    const char *cmd = sync ? "groups sync" : "groups status";
    int i = 1, k;
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
            group = v;
        else if (sync) { /* k == groups_sync_refused[0] */
            fprintf(stderr, "kferry groups sync: --json is only for groups status\n");
            return 2;
        } else
            json = 1;
    }
    if (!config) {
        fprintf(stderr, "kferry %s: --config FILE is required\n", cmd);
        return 2;
    }
    if (group && ga_pattern_match(group, "") < 0) {
        fprintf(stderr, "kferry %s: --group %s: invalid regex\n", cmd, group);
        return 2;
    }
    kf_log_set_level(sync ? KF_LOG_INFO : KF_LOG_WARNING);
    mirror_config c;
    if (mc_load(&c, config) != 0) {
        mc_free(&c);
        return 2;
    }
    clients_setup_debug(&c);
    int rc = 1;
    rd_kafka_t *src = clients_consumer(&c, &c.src, "groups", 1);
    rd_kafka_t *tgt = clients_consumer(&c, &c.tgt, "groups", 1);
    gt_map gm;
    gt_map_init(&gm);
    char **ids = NULL;
    size_t n = 0;
    char err[512];
    if (!src || !tgt || clients_probe_both(&c, src, tgt, NULL, 0))
        goto out;
    if (ga_list(src, 10000, &ids, &n, err, sizeof(err))) {
        kf_err("groups", "cluster '%s' (%s): %s", c.src.alias, mc_bootstrap(&c.src), err);
        goto out;
    }
    size_t nwanted = 0;
    for (size_t j = 0; j < n; j++)
        nwanted += ga_wanted(&c, group, ids[j]) == 1;
    if (!nwanted) { /* an empty answer would look like "nothing to do" */
        if (group && strncmp(group, "re:", 3) != 0)
            kf_err("groups",
                   "group %s is not known on %s (%s): no committed offsets and no "
                   "members there (%zu group(s) listed)",
                   group, c.src.alias, mc_bootstrap(&c.src), n);
        else
            kf_err("groups", "no consumer group on %s (%s) matches %s%s (%zu group(s) listed)",
                   c.src.alias, mc_bootstrap(&c.src),
                   group ? group
                         : "the config's 'groups' / "
                           "'groups.exclude'",
                   group ? " within the config's 'groups' / "
                           "'groups.exclude'"
                         : "",
                   n);
        goto out;
    }
    if (sync) {
        rc = groupsync_once(&c, src, tgt, &gm, group, NULL, NULL) < 0;
        goto out;
    }
    if (gt_map_refresh(tgt, c.map_topic, &gm, err, sizeof(err))) {
        kf_err("groups", "cluster '%s' (%s): %s", c.tgt.alias, mc_bootstrap(&c.tgt), err);
        goto out;
    }
    json_t *arr = json_array();
    rc = 0;
    for (size_t j = 0; j < n; j++) {
        if (!ga_wanted(&c, group, ids[j]))
            continue;
        if (status_one(&c, src, tgt, &gm, ids[j], json, arr))
            rc = 1;
    }
    if (json) {
        json_t *top = json_pack("{s:s,s:s,s:o}", "flow_source", c.src.alias, "flow_target",
                                c.tgt.alias, "groups", arr);
        char *s = json_dumps(top, JSON_COMPACT);
        printf("%s\n", s ? s : "{}");
        free(s);
        json_decref(top);
    } else {
        json_decref(arr);
    }
out:
    ga_list_free(ids, n);
    gt_map_free(&gm);
    if (src)
        rd_kafka_destroy(src);
    if (tgt)
        rd_kafka_destroy(tgt);
    mc_free(&c);
    return rc;
}
