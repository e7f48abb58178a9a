/*
 * cutover_gates.c - the conditions a cutover waits for (see cutover_int.h):
 * no members on the source, the mirror past every committed offset, the
 * source quiet, the source fully mirrored, the old consumers drained.
 *
 * Each gate re-reads the clusters and the offset map every second and says
 * every few seconds what it is still waiting for, so an operator can act.
 */
#include "migrate/cutover_int.h"

#include "common/log.h"
#include "common/util.h"
#include "mirror/topics.h"
#include "mirror/retry.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void cut_say(const char *fmt, ...) {
    char ts[32];
    journal_time(kf_wall_ms(), ts, sizeof(ts));
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s cutover: ", ts);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void cut_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int timed_out(cut_ctx *x) { return kf_now_ms() >= x->deadline; }

void cut_parts_free(cut_parts *p) {
    for (size_t i = 0; i < p->n; i++)
        free(p->topics[i]);
    free(p->topics);
    free(p->parts);
    memset(p, 0, sizeof(*p));
}

static int parts_add(cut_parts *p, const char *topic, int nparts) {
    char **nt = realloc(p->topics, (p->n + (size_t)nparts) * sizeof(*nt));
    if (nt)
        p->topics = nt;
    int32_t *np = nt ? realloc(p->parts, (p->n + (size_t)nparts) * sizeof(*np)) : NULL;
    if (!np)
        return -1;
    p->parts = np;
    for (int k = 0; k < nparts; k++) {
        p->topics[p->n] = kf_strdup(topic);
        if (!p->topics[p->n])
            return -1;
        p->parts[p->n++] = k;
    }
    return 0;
}

static int has_topic(const cut_parts *p, const char *topic) {
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->topics[i], topic))
            return 1;
    return 0;
}

int cut_parts_collect(cut_ctx *x, const gt_group *rows, const char *pattern, cut_parts *out) {
    memset(out, 0, sizeof(*out));
    topic_list tl = {0};
    if (topics_list(x->src, &tl, CUT_ADMIN_TIMEOUT_MS)) {
        snprintf(x->reason, sizeof(x->reason), "cannot list the topics of %s", x->c->src.alias);
        return -1;
    }
    for (size_t i = 0; i < tl.n; i++) {
        const char *t = tl.t[i].name, *why;
        if (!mc_topic_selected(x->c, t, &why))
            continue;
        int want = 0;
        if (rows) {
            for (size_t r = 0; r < rows->n && !want; r++)
                want = !strcmp(rows->rows[r].src_topic, t);
        } else {
            want = ga_pattern_match(pattern, t) == 1;
        }
        if (want && !has_topic(out, t) && parts_add(out, t, tl.t[i].partitions)) {
            topics_list_free(&tl);
            snprintf(x->reason, sizeof(x->reason), "out of memory");
            return -1;
        }
    }
    topics_list_free(&tl);
    return 0;
}

/* --- members ------------------------------------------------------------------ */

static void say_members(const char *group, const char *alias, const ga_group *g) {
    cut_say("group %s: %zu member(s) still connected to %s (state %s):", group, g->nmembers, alias,
            rd_kafka_consumer_group_state_name((rd_kafka_consumer_group_state_t)g->state));
    for (size_t i = 0; i < g->nmembers; i++)
        cut_say("  member %s  client.id %s  host %s", g->members[i].member_id,
                g->members[i].client_id, g->members[i].host);
}

int cut_wait_members(cut_ctx *x, const char *group) {
    int64_t next_say = 0;
    char err[512];
    for (;;) {
        ga_group g;
        if (ga_describe(x->src, group, CUT_ADMIN_TIMEOUT_MS, &g, err, sizeof(err)) == 0) {
            if (ga_idle(&g)) {
                ga_group_free(&g);
                return 0;
            }
            if (kf_now_ms() >= next_say) {
                say_members(group, x->c->src.alias, &g);
                next_say = kf_now_ms() + CUT_PRINT_EVERY_MS;
            }
            if (timed_out(x)) {
                snprintf(x->reason, sizeof(x->reason),
                         "timed out waiting for group %s to leave %s: %zu member(s) still "
                         "connected (first: client.id %s, host %s)",
                         group, x->c->src.alias, g.nmembers,
                         g.nmembers ? g.members[0].client_id : "?",
                         g.nmembers ? g.members[0].host : "?");
                ga_group_free(&g);
                return -1;
            }
            ga_group_free(&g);
        } else if (timed_out(x)) {
            snprintf(x->reason, sizeof(x->reason), "%s", err);
            return -1;
        } else if (kf_now_ms() >= next_say) {
            cut_say("%s (retrying)", err);
            next_say = kf_now_ms() + CUT_PRINT_EVERY_MS;
        }
        cut_sleep_ms(1000);
    }
}

/* --- the mirror past every committed offset ---------------------------------------- */

/* 1 if every row may be committed; -1 (reason set) if one never can be. */
static int rows_ready(cut_ctx *x, const char *group, const gt_group *rows, int say) {
    if (!rows->n) {
        snprintf(x->reason, sizeof(x->reason),
                 "group %s has no committed offsets on %s: nothing to cut over (consumers "
                 "started on the target would fall back to auto.offset.reset)",
                 group, x->c->src.alias);
        return -1;
    }
    int ready = 1;
    for (size_t i = 0; i < rows->n; i++) {
        const gt_row *r = &rows->rows[i];
        if (!r->mirrored) {
            snprintf(x->reason, sizeof(x->reason),
                     "group %s has committed offsets on %s/%d, a topic kferry does not mirror "
                     "(see 'topics' / 'topics.exclude'): its position there cannot be moved",
                     group, r->src_topic, (int)r->partition);
            return -1;
        }
        if (tr_committable(&r->tr)) {
            int64_t foreign = r->tr.foreign;
            if (foreign > 0 && x->c->txn) {
                /* commit markers and aborted records are not skipped records */
                int64_t v = gt_foreign_visible(x->tgt, &x->map.m, r);
                if (v < 0) {
                    if (say)
                        cut_say("group %s: %s/%d: cannot read the target between the map's "
                                "runs yet: waiting",
                                group, r->tgt_topic, (int)r->partition);
                    ready = 0;
                    continue;
                }
                foreign = v;
            }
            if (foreign > 0) {
                snprintf(x->reason, sizeof(x->reason),
                         "%s/%d: %lld record(s) on the target below target offset %lld were "
                         "not written by kferry (a producer wrote to %s before the mirror had "
                         "copied everything the group consumed): consumers would skip them, "
                         "so no exact offset exists",
                         r->tgt_topic, (int)r->partition, (long long)foreign, (long long)r->tr.tgt,
                         r->tgt_topic);
                return -1;
            }
            continue;
        }
        ready = 0;
        if (say)
            cut_say("group %s: %s/%d committed %lld, the mirror has mapped source offsets "
                    "below %lld (source end %lld): waiting",
                    group, r->src_topic, (int)r->partition, (long long)r->src_committed,
                    (long long)r->tr.map_end, (long long)r->src_hi);
    }
    return ready;
}

int cut_wait_caught_up(cut_ctx *x, const char *group) {
    int64_t next_say = kf_now_ms() + 2000;
    char err[512];
    for (;;) {
        gt_group rows;
        int say = kf_now_ms() >= next_say;
        if (gt_map_refresh(x->tgt, x->c->map_topic, &x->map, err, sizeof(err)) == 0 &&
            gt_build(x->c, x->src, x->tgt, &x->map.m, group, CUT_ADMIN_TIMEOUT_MS, &rows, err,
                     sizeof(err)) == 0) {
            int ready = rows_ready(x, group, &rows, say);
            gt_group_free(&rows);
            if (ready)
                return ready > 0 ? 0 : -1;
        } else if (say) {
            cut_say("%s (retrying)", err);
        }
        if (say)
            next_say = kf_now_ms() + CUT_PRINT_EVERY_MS;
        if (timed_out(x)) {
            snprintf(x->reason, sizeof(x->reason),
                     "timed out waiting for the mirror to pass every offset group %s committed "
                     "(is `kferry mirror` running? see `kferry groups status`)",
                     group);
            return -1;
        }
        cut_sleep_ms(1000);
    }
}

/* --- producers moved, source mirrored, consumers drained ------------------------- */

static int end_offsets(cut_ctx *x, rd_kafka_t *rk, const cut_parts *p, int64_t which,
                       int64_t *out) {
    topics_offsets(rk, (const char *const *)p->topics, p->parts, p->n, which, out);
    for (size_t i = 0; i < p->n; i++)
        if (out[i] < 0) {
            snprintf(x->reason, sizeof(x->reason), "offsets of %s/%d unavailable", p->topics[i],
                     (int)p->parts[i]);
            return -1;
        }
    return 0;
}

int cut_wait_quiet(cut_ctx *x, const cut_parts *p) {
    int64_t *prev = calloc(p->n + 1, sizeof(*prev)), *cur = calloc(p->n + 1, sizeof(*cur));
    /* records per partition in the last 5-10 s: got[0..n) this window, got[n..2n) the last */
    int64_t *got = calloc(2 * p->n + 1, sizeof(*got));
    int rc = -1, have = 0;
    int64_t since = kf_now_ms(), next_say = kf_now_ms() + CUT_PRINT_EVERY_MS;
    int64_t next_window = kf_now_ms() + CUT_PRINT_EVERY_MS;
    if (!prev || !cur || !got)
        goto out;
    for (;;) {
        if (end_offsets(x, x->src, p, -1, cur) == 0) {
            int64_t moved = 0;
            for (size_t i = 0; have && i < p->n; i++) {
                moved += cur[i] - prev[i];
                got[i] += cur[i] - prev[i];
            }
            if (!have || moved)
                since = kf_now_ms();
            if (kf_now_ms() >= next_window) {
                memcpy(got + p->n, got, p->n * sizeof(*got));
                memset(got, 0, p->n * sizeof(*got));
                next_window = kf_now_ms() + CUT_PRINT_EVERY_MS;
            }
            if (moved && kf_now_ms() >= next_say) {
                cut_say("the source still receives records (%lld in the last second): "
                        "waiting for %d quiet second(s)",
                        (long long)moved, x->quiet_s);
                next_say = kf_now_ms() + CUT_PRINT_EVERY_MS;
            }
            memcpy(prev, cur, p->n * sizeof(*cur));
            have = 1;
            if (kf_now_ms() - since >= (int64_t)x->quiet_s * 1000) {
                rc = 0;
                goto out;
            }
        }
        if (timed_out(x)) {
            /* name the partitions that received records most recently */
            char list[600] = "";
            size_t named = 0, busy = 0;
            for (size_t i = 0; i < p->n; i++) {
                int64_t recent = got[i] + got[p->n + i];
                if (recent <= 0)
                    continue;
                busy++;
                size_t l = strlen(list);
                if (named < 8 && l < sizeof(list) - 1) {
                    snprintf(list + l, sizeof(list) - l, "%s%s/%d (+%lld)", named ? ", " : "",
                             p->topics[i], (int)p->parts[i], (long long)recent);
                    named++;
                }
            }
            snprintf(x->reason, sizeof(x->reason),
                     "timed out: the source topics kept receiving records (producers not "
                     "moved yet?); records in the last seconds: %s%s",
                     busy ? list : "(none)", busy > named ? ", ..." : "");
            goto out;
        }
        cut_sleep_ms(1000);
    }
out:
    free(prev);
    free(cur);
    free(got);
    return rc;
}

int cut_wait_mirrored(cut_ctx *x, const cut_parts *p) {
    size_t n = p->n + 1;
    int64_t *w = calloc(4 * n, sizeof(*w));
    int rc = -1;
    int64_t next_say = kf_now_ms() + 2000;
    char err[512];
    if (!w)
        goto out;
    for (;;) {
        int say = kf_now_ms() >= next_say, ready = 1;
        if (gt_map_refresh(x->tgt, x->c->map_topic, &x->map, err, sizeof(err)) ||
            end_offsets(x, x->src, p, -2, w) || end_offsets(x, x->src, p, -1, w + n)) {
            ready = 0;
            if (say)
                cut_say("%s (retrying)", x->reason[0] ? x->reason : err);
        }
        for (size_t i = 0; ready && i < p->n; i++) {
            char tt[256];
            mc_target_topic(x->c, p->topics[i], tt, sizeof(tt));
            int64_t tlo = -1, thi = -1;
            const om_part *op = offmap_get(&x->map.m, p->topics[i], tt, p->parts[i], 0);
            if (!op && w[i] == w[n + i])
                continue; /* empty source partition */
            if (!op)
                retry_watermarks(x->tgt, tt, p->parts[i], &tlo, &thi, 10000);
            tr_result r;
            gt_translate(x->src, op, p->topics[i], p->parts[i], w[n + i], w[i], w[n + i], tlo, thi,
                         &r);
            if (!tr_committable(&r)) {
                ready = 0;
                if (say)
                    cut_say("%s/%d: source end %lld, the mirror has mapped source offsets "
                            "below %lld: waiting",
                            p->topics[i], (int)p->parts[i], (long long)w[n + i],
                            (long long)r.map_end);
            }
        }
        if (ready) {
            rc = 0;
            goto out;
        }
        if (say)
            next_say = kf_now_ms() + CUT_PRINT_EVERY_MS;
        if (timed_out(x)) {
            snprintf(x->reason, sizeof(x->reason),
                     "timed out waiting for the mirror to reach the source end offsets (is "
                     "`kferry mirror` running?)");
            goto out;
        }
        cut_sleep_ms(1000);
    }
out:
    free(w);
    return rc;
}

int cut_wait_drained(cut_ctx *x, const char *group, const cut_parts *p) {
    int64_t *hi = calloc(2 * (p->n + 1), sizeof(*hi)), *lo = hi ? hi + p->n + 1 : NULL;
    int64_t next_say = kf_now_ms() + 2000;
    int rc = -1;
    char err[512];
    if (!hi)
        goto out;
    for (;;) {
        int say = kf_now_ms() >= next_say, ready = 1;
        ga_offsets co;
        ga_group g;
        memset(&g, 0, sizeof(g));
        if (end_offsets(x, x->src, p, -1, hi) || end_offsets(x, x->src, p, -2, lo) ||
            ga_committed(x->src, group, CUT_ADMIN_TIMEOUT_MS, &co, err, sizeof(err))) {
            ready = 0;
            if (say)
                cut_say("%s (retrying)", x->reason[0] ? x->reason : err);
        } else {
            for (size_t i = 0; i < p->n; i++) {
                long k = ga_offsets_find(&co, p->topics[i], p->parts[i]);
                int64_t c = k >= 0 ? co.v[k].offset : -1;
                if (c == hi[i] || (c < 0 && hi[i] == lo[i]))
                    continue; /* all consumed, or nothing there to consume */
                ready = 0;
                if (say)
                    cut_say("group %s: %s/%d committed %s%lld, source end %lld: consumers "
                            "not drained yet",
                            group, p->topics[i], (int)p->parts[i], c < 0 ? "nothing " : "",
                            (long long)(c < 0 ? 0 : c), (long long)hi[i]);
            }
            ga_offsets_free(&co);
            if (ready && !x->no_wait_members) {
                if (ga_describe(x->src, group, CUT_ADMIN_TIMEOUT_MS, &g, err, sizeof(err)) ||
                    !ga_idle(&g)) {
                    ready = 0;
                    if (say && g.nmembers)
                        say_members(group, x->c->src.alias, &g);
                }
                ga_group_free(&g);
            }
        }
        if (ready) {
            rc = 0;
            goto out;
        }
        if (say)
            next_say = kf_now_ms() + CUT_PRINT_EVERY_MS;
        if (timed_out(x)) {
            snprintf(x->reason, sizeof(x->reason),
                     "timed out waiting for group %s to consume everything on %s%s", group,
                     x->c->src.alias, x->no_wait_members ? "" : " and leave");
            goto out;
        }
        cut_sleep_ms(1000);
    }
out:
    free(hi);
    return rc;
}
