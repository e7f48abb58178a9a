/*
 * groupsync.c - the group offset sync thread and one sync pass.
 *
 * A thread so that admin round trips to two clusters never stall the copy
 * loop.  It blocks every signal, stops on an atomic flag checked between
 * calls, and every call has a short deadline, so shutdown waits little.
 */
#include "mirror/groupsync.h"

#include "common/log.h"
#include "common/util.h"
#include "mirror/clients.h"
#include "mirror/grouptr.h"
#include "mirror/journal.h"
#include "mirror/retry.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GS_TIMEOUT_MS 5000

/* What was last said about each group, so steady states are logged once. */
struct gs_state {
    char **names;
    char **said;
    size_t n;
};

void groupsync_state_free(gs_state *s) {
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->names[i]);
        free(s->said[i]);
    }
    free(s->names);
    free(s->said);
    free(s);
}

/* 1 if msg differs from what was last said for group (and remembers it). */
static int changed(gs_state *s, const char *group, const char *msg) {
    if (!s)
        return 1;
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->names[i], group)) {
            if (!strcmp(s->said[i], msg))
                return 0;
            char *d = kf_strdup(msg);
            if (d) {
                free(s->said[i]);
                s->said[i] = d;
            }
            return 1;
        }
    char **nn = realloc(s->names, (s->n + 1) * sizeof(*nn));
    if (nn)
        s->names = nn;
    char **ns = nn ? realloc(s->said, (s->n + 1) * sizeof(*ns)) : NULL;
    if (ns) {
        s->said = ns;
        s->names[s->n] = kf_strdup(group);
        s->said[s->n] = kf_strdup(msg);
        if (s->names[s->n] && s->said[s->n])
            s->n++;
    }
    return 1;
}

int groupsync_setting(mirror_config *c, const char *key, int def) {
    char fk[512];
    snprintf(fk, sizeof(fk), "%s->%s.%s", c->src.alias, c->tgt.alias, key);
    kf_prop *p = kf_props_find(&c->props, fk);
    if (!p)
        p = kf_props_find(&c->props, key);
    if (!p)
        return def;
    int b = 0;
    int64_t n = 0;
    if (kf_parse_bool(p->value, &b) == 0)
        return b;
    if (kf_parse_i64(p->value, 0, 86400, &n) == 0)
        return (int)n;
    kf_warn("groupsync", "%s=%s: not valid, using %d", p->key, p->value, def);
    return def;
}

/* Groups whose latest cutover committed: the target owns them now. */
static int cut_over(const journal *j, const char *group) {
    int gen = journal_gen(j, 'C', group);
    return gen > 0 && journal_find(j, 'C', group, gen, "committed") != NULL;
}

/* What one pass did, for its summary line. */
typedef struct gs_pass {
    int groups, committed, active, cut_over, failed;
} gs_pass;

static void sync_group(mirror_config *c, rd_kafka_t *src, rd_kafka_t *tgt, const offmap *m,
                       const char *g, gs_state *st, gs_pass *pass) {
    char err[512], msg[512];
    ga_group tg;
    pass->groups++;
    if (ga_describe(tgt, g, GS_TIMEOUT_MS, &tg, err, sizeof(err))) {
        pass->failed++;
        if (changed(st, g, err))
            kf_warn("groupsync", "%s", err);
        return;
    }
    int idle = ga_idle(&tg);
    size_t nm = tg.nmembers;
    ga_group_free(&tg);
    if (!idle) {
        pass->active++;
        snprintf(msg, sizeof(msg),
                 "group %s has %zu active member(s) on %s: its target offsets are not touched", g,
                 nm, c->tgt.alias);
        if (changed(st, g, msg))
            kf_notice("groupsync", "%s", msg);
        return;
    }
    gt_group rows;
    if (gt_build(c, src, tgt, m, g, GS_TIMEOUT_MS, &rows, err, sizeof(err))) {
        pass->failed++;
        if (changed(st, g, err))
            kf_warn("groupsync", "%s", err);
        return;
    }
    ga_offsets todo;
    size_t behind = 0, unmirrored = 0;
    for (size_t i = 0; i < rows.n; i++)
        unmirrored += !rows.rows[i].mirrored;
    if (gt_to_commit(&rows, &todo, &behind) == 0 && todo.n) {
        if (ga_commit(tgt, g, &todo, GS_TIMEOUT_MS, err, sizeof(err)) == 0) {
            /* every interval while the group consumes: debug only */
            kf_debug("groupsync", "group %s: %zu partition(s) committed on %s", g, todo.n,
                     c->tgt.alias);
            pass->committed++;
        } else {
            pass->failed++;
            if (changed(st, g, err))
                kf_warn("groupsync", "%s", err);
        }
    }
    /* stable conditions only, so a busy group does not log every pass */
    snprintf(msg, sizeof(msg),
             "group %s: %zu partition(s) ahead on %s (kept: never moved backwards), %zu on "
             "topics not mirrored (left alone)",
             g, behind, c->tgt.alias, unmirrored);
    if (changed(st, g, behind || unmirrored ? msg : "in sync") && (behind || unmirrored))
        kf_info("groupsync", "%s", msg);
    ga_offsets_free(&todo);
    gt_group_free(&rows);
}

/* Groups that failed in the last pass and whether anything was committed
 * (read by the thread to notice a pass that keeps failing). */
static int g_last_failed, g_last_committed;
/* the last full pass, for groupsync_summary (read by the main thread) */
static pthread_mutex_t g_sum_lock = PTHREAD_MUTEX_INITIALIZER;
static gs_summary g_sum;

void groupsync_summary(gs_summary *out) {
    pthread_mutex_lock(&g_sum_lock);
    *out = g_sum;
    pthread_mutex_unlock(&g_sum_lock);
}

/* For /metrics (read by the progress thread): passes and their outcome. */
static _Atomic long long g_m_passes_ok, g_m_passes_failed, g_m_failed_groups, g_m_synced_groups,
    g_m_last_ok_ms;

void groupsync_metrics(groupsync_stats *out) {
    out->passes_ok = atomic_load(&g_m_passes_ok);
    out->passes_failed = atomic_load(&g_m_passes_failed);
    out->failed_groups = atomic_load(&g_m_failed_groups);
    out->synced_groups = atomic_load(&g_m_synced_groups);
    out->last_ok_ms = atomic_load(&g_m_last_ok_ms);
}

int groupsync_once(mirror_config *c, rd_kafka_t *src, rd_kafka_t *tgt, gt_map *map,
                   const char *pattern, gs_state **state, const atomic_int *stop) {
    gt_map *gm = map;
    char err[512];
    if (state && !*state)
        *state = calloc(1, sizeof(gs_state));
    gs_state *st = state ? *state : NULL;
    if (gt_map_refresh(tgt, c->map_topic, gm, err, sizeof(err))) {
        if (changed(st, "", err))
            kf_warn("groupsync", "offset map: %s", err);
        atomic_fetch_add(&g_m_passes_failed, 1);
        return -1;
    }
    char **ids = NULL;
    size_t n = 0;
    if (ga_list(src, GS_TIMEOUT_MS, &ids, &n, err, sizeof(err))) {
        if (changed(st, "", err))
            kf_warn("groupsync", "%s: %s", c->src.alias, err);
        atomic_fetch_add(&g_m_passes_failed, 1);
        return -1;
    }
    journal j;
    int have_journal = journal_open(&j, c, tgt, 0, GS_TIMEOUT_MS, err, sizeof(err)) == 0;
    gs_pass pass = {0};
    for (size_t i = 0; i < n && !(stop && atomic_load(stop)); i++) {
        const char *g = ids[i];
        if (!ga_wanted(c, pattern, g))
            continue;
        if (have_journal && cut_over(&j, g)) {
            pass.cut_over++;
            if (changed(st, g, "cut over"))
                kf_info("groupsync", "group %s was cut over to %s: no longer synced", g,
                        c->tgt.alias);
            continue;
        }
        sync_group(c, src, tgt, &gm->m, g, st, &pass);
    }
    journal_close(&j);
    ga_list_free(ids, n);
    char sum[256];
    snprintf(sum, sizeof(sum),
             "%d group(s) synced to %s, %d with active members there (not touched), %d cut "
             "over, %d failed (partitions waiting for the mirror: `kferry groups status`)",
             pass.groups - pass.active - pass.failed, c->tgt.alias, pass.active, pass.cut_over,
             pass.failed);
    if (!(stop && atomic_load(stop)) && changed(st, "", sum)) /* not for a cut-short pass */
        kf_info("groupsync", "%s", sum);
    if (!(stop && atomic_load(stop))) {
        pthread_mutex_lock(&g_sum_lock);
        g_sum.last_ms = kf_wall_ms();
        g_sum.groups = pass.groups;
        g_sum.committed = pass.committed;
        g_sum.active = pass.active;
        g_sum.cut_over = pass.cut_over;
        g_sum.failed = pass.failed;
        pthread_mutex_unlock(&g_sum_lock);
    }
    g_last_failed = pass.failed;
    g_last_committed = pass.committed;
    atomic_store(&g_m_failed_groups, pass.failed);
    atomic_store(&g_m_synced_groups, pass.groups - pass.active - pass.failed);
    atomic_fetch_add(pass.failed ? &g_m_passes_failed : &g_m_passes_ok, 1);
    if (!pass.failed)
        atomic_store(&g_m_last_ok_ms, kf_wall_ms());
    return pass.committed;
}

/* --- the thread ------------------------------------------------------------------ */

static struct {
    pthread_t th;
    int started;
    atomic_int stop;
    mirror_config *c;
    int interval_s;
} g_gs;

static void *run(void *arg) {
    mirror_config *c = g_gs.c;
    rd_kafka_t *src = clients_consumer(c, &c->src, "groupsync", 1);
    rd_kafka_t *tgt = clients_consumer(c, &c->tgt, "groupsync", 1);
    gt_map map;
    gt_map_init(&map);
    map.timeout_ms = GS_TIMEOUT_MS; /* shutdown waits for at most one such call */
    gs_state *st = NULL;
    if (!src || !tgt)
        kf_err("groupsync", "cannot create clients: group offsets are not synced");
    int64_t failing_since = 0;
    while (src && tgt && !atomic_load(&g_gs.stop)) {
        g_last_failed = g_last_committed = 0;
        int r = groupsync_once(c, src, tgt, &map, NULL, &st, &g_gs.stop);
        /* A cluster that restarted or moved its coordinators can leave a
         * handle answering NOT_COORDINATOR or timing out for good: after
         * 30 s of passes that fail and commit nothing, start afresh. */
        int64_t now = kf_now_ms();
        if ((r < 0 || g_last_failed) && !g_last_committed) {
            if (!failing_since)
                failing_since = now;
            if (now - failing_since >= 30000) {
                kf_warn("groupsync",
                        "group offset sync failing for %llds: reconnecting to %s "
                        "and %s",
                        (long long)((now - failing_since) / 1000), c->src.alias, c->tgt.alias);
                retry_note("group offset sync failing: reconnecting to both clusters");
                rd_kafka_t *ns = clients_consumer(c, &c->src, "groupsync", 1);
                rd_kafka_t *nt = clients_consumer(c, &c->tgt, "groupsync", 1);
                if (ns && nt) {
                    rd_kafka_destroy(src);
                    rd_kafka_destroy(tgt);
                    src = ns;
                    tgt = nt;
                } else {
                    if (ns)
                        rd_kafka_destroy(ns);
                    if (nt)
                        rd_kafka_destroy(nt);
                }
                failing_since = 0;
            }
        } else {
            failing_since = 0;
        }
        for (int i = 0; i < g_gs.interval_s * 10 && !atomic_load(&g_gs.stop); i++)
            usleep(100000);
    }
    groupsync_state_free(st);
    gt_map_free(&map);
    if (src)
        rd_kafka_destroy(src);
    if (tgt)
        rd_kafka_destroy(tgt);
    return NULL;
}

int groupsync_start(mirror_config *c) {
    if (!groupsync_setting(c, "sync.group.offsets.enabled", 1)) {
        kf_info("groupsync", "sync.group.offsets.enabled=false: group offsets are not synced");
        return 0;
    }
    g_gs.c = c;
    g_gs.interval_s = groupsync_setting(c, "sync.group.offsets.interval.seconds", 5);
    if (g_gs.interval_s < 1)
        g_gs.interval_s = 1;
    atomic_store(&g_gs.stop, 0);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old); /* inherited by the thread */
    int e = pthread_create(&g_gs.th, NULL, run, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e) {
        kf_err("groupsync", "cannot start the group sync thread: %s", strerror(e));
        return -1;
    }
    g_gs.started = 1;
    pthread_setname_np(g_gs.th, "kf:groupsync"); /* the json log's "thread" */
    pthread_mutex_lock(&g_sum_lock);
    g_sum.enabled = 1;
    g_sum.interval_s = g_gs.interval_s;
    pthread_mutex_unlock(&g_sum_lock);
    kf_info("groupsync", "group offset sync every %ds", g_gs.interval_s);
    return 0;
}

void groupsync_stop(void) {
    if (!g_gs.started)
        return;
    atomic_store(&g_gs.stop, 1);
    pthread_join(g_gs.th, NULL);
    g_gs.started = 0;
}
