/*
 * cutover_run.c - one group's cutover as journaled steps, and the producer
 * gate.  A re-run reads the journal: done = re-verify, interrupted = say
 * where it stopped and go on.  Gates before the commit are re-checked (a
 * consumer may be back); the commit is idempotent (never backwards).
 */
#include "migrate/cutover_int.h"

#include "common/log.h"
#include "common/util.h"
#include "mirror/topics.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *g_steps_cf[] = {"started",   "members-drained", "mirror-caught-up",
                                   "committed", "verified",        NULL};
static const char *g_steps_pf[] = {
    "started", "producers-quiet", "source-mirrored", "consumers-drained", "committed", "verified",
    NULL};

static int put(cut_ctx *x, const char *group, int gen, const char *step, json_t *data) {
    char err[512];
    if (journal_put(&x->j, 'C', group, gen, step, data, err, sizeof(err))) {
        snprintf(x->reason, sizeof(x->reason), "%s", err);
        return -1;
    }
    cut_say("group %s: %s", group, step);
    return 0;
}

static void print_report(cut_ctx *x, const char *group, const char *mode, json_t *offsets,
                         const ga_offsets *now, const char *verdict) {
    if (x->json) { /* one object per group, one line each */
        json_t *rows = json_deep_copy(offsets);
        size_t k;
        json_t *r;
        json_array_foreach(rows, k, r) {
            long n =
                now ? ga_offsets_find(now, json_string_value(json_object_get(r, "target_topic")),
                                      (int32_t)json_integer_value(json_object_get(r, "partition")))
                    : -1;
            json_object_set_new(r, "target_committed_now",
                                n >= 0 ? json_integer(now->v[n].offset) : json_null());
        }
        json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o}", "group", group, "mode", mode, "source",
                              x->c->src.alias, "target", x->c->tgt.alias, "result",
                              strstr(verdict, "FAILED")         ? "verify-failed"
                              : !strncmp(verdict, "already", 7) ? "already-done"
                                                                : "done",
                              "offsets", rows);
        json_object_set_new(o, "message", json_string(verdict));
        char *txt = json_dumps(o, JSON_COMPACT);
        printf("%s\n", txt ? txt : "{}");
        free(txt);
        json_decref(o);
        fflush(stdout);
        return;
    }
    printf("cutover of group %s (%s) from %s to %s: %s\n", group, mode, x->c->src.alias,
           x->c->tgt.alias, verdict);
    printf("  %-30s %14s    %-30s %14s %14s  %s\n", "SOURCE", "COMMITTED", "TARGET", "COMMITTED",
           "NOW", "TRANSLATION");
    size_t i;
    json_t *o;
    json_array_foreach(offsets, i, o) {
        char s[300], t[300], nb[32] = "-";
        const char *tt = json_string_value(json_object_get(o, "target_topic"));
        int p = (int)json_integer_value(json_object_get(o, "partition"));
        snprintf(s, sizeof(s), "%s/%d", json_string_value(json_object_get(o, "topic")), p);
        snprintf(t, sizeof(t), "%s/%d", tt, p);
        long k = now ? ga_offsets_find(now, tt, p) : -1;
        if (k >= 0)
            snprintf(nb, sizeof(nb), "%lld", (long long)now->v[k].offset);
        printf("  %-30s %14lld -> %-30s %14lld %14s  %s%s\n", s,
               (long long)json_integer_value(json_object_get(o, "source_committed")), t,
               (long long)json_integer_value(json_object_get(o, "target_committed")), nb,
               json_string_value(json_object_get(o, "status")),
               json_is_true(json_object_get(o, "below_source_start"))
                   ? " (below the source log start: earlier records were deleted)"
                   : "");
    }
    fflush(stdout);
}

/* Reads the target's committed offsets back; every journaled offset must
 * be there (or beyond, once consumers on the target moved on). */
static int verify(cut_ctx *x, const char *group, json_t *offsets, ga_offsets *now) {
    char err[512];
    if (ga_committed(x->tgt, group, CUT_ADMIN_TIMEOUT_MS, now, err, sizeof(err))) {
        snprintf(x->reason, sizeof(x->reason), "verify: %s", err);
        return -1;
    }
    size_t i;
    json_t *o;
    json_array_foreach(offsets, i, o) {
        const char *tt = json_string_value(json_object_get(o, "target_topic"));
        int p = (int)json_integer_value(json_object_get(o, "partition"));
        int64_t want = json_integer_value(json_object_get(o, "target_committed"));
        long k = ga_offsets_find(now, tt, p);
        if (k < 0 || now->v[k].offset < want) {
            snprintf(x->reason, sizeof(x->reason),
                     "verify: group %s on %s/%d: committed %lld on the target, expected %lld",
                     group, tt, p, k < 0 ? -1LL : (long long)now->v[k].offset, (long long)want);
            return -1;
        }
    }
    return 0;
}

/* A cutover journaled as done is only still done if nothing happened on the
 * source since: no consumer of the group is back there and its committed
 * offsets are those the cutover translated (a rollback, or consumers
 * started on the source again, moves them).  0 still done, -1 moved
 * (x->reason names why). */
static int recheck_source(cut_ctx *x, const char *group, json_t *offsets, const char *ts) {
    char err[512];
    ga_group sg;
    if (ga_describe(x->src, group, CUT_ADMIN_TIMEOUT_MS, &sg, err, sizeof(err))) {
        snprintf(x->reason, sizeof(x->reason), "cluster '%s' (%s): %s", x->c->src.alias,
                 mc_bootstrap(&x->c->src), err);
        return -1;
    }
    if (!ga_idle(&sg)) {
        snprintf(x->reason, sizeof(x->reason),
                 "group %s was cut over at %s, but it has %zu active member(s) on %s again "
                 "(first: client.id %s, host %s): its offsets there may move; stop them, then "
                 "run with --restart to move it again",
                 group, ts, sg.nmembers, x->c->src.alias,
                 sg.nmembers ? sg.members[0].client_id : "?",
                 sg.nmembers ? sg.members[0].host : "?");
        ga_group_free(&sg);
        return -1;
    }
    ga_group_free(&sg);
    ga_offsets now;
    memset(&now, 0, sizeof(now));
    if (ga_committed(x->src, group, CUT_ADMIN_TIMEOUT_MS, &now, err, sizeof(err))) {
        snprintf(x->reason, sizeof(x->reason), "cluster '%s' (%s): %s", x->c->src.alias,
                 mc_bootstrap(&x->c->src), err);
        return -1;
    }
    int rc = 0;
    size_t i;
    json_t *o;
    json_array_foreach(offsets, i, o) {
        const char *t = json_string_value(json_object_get(o, "topic"));
        int p = (int)json_integer_value(json_object_get(o, "partition"));
        int64_t then = json_integer_value(json_object_get(o, "source_committed"));
        long k = t ? ga_offsets_find(&now, t, p) : -1;
        if (k >= 0 && now.v[k].offset != then) {
            snprintf(x->reason, sizeof(x->reason),
                     "group %s was cut over at %s from %s/%d offset %lld, but its committed "
                     "offset on %s is %lld now: consumers ran on the source since (a rollback?); "
                     "run with --restart to move it again",
                     group, ts, t, p, (long long)then, x->c->src.alias, (long long)now.v[k].offset);
            rc = -1;
            break;
        }
    }
    ga_offsets_free(&now);
    return rc;
}

/* Commits the translated offsets on the target; returns the journal rows. */
static json_t *commit(cut_ctx *x, const char *group) {
    char err[512];
    ga_group tg;
    /* a consumer that came back on the source during the waits would move
     * the offsets after we translated them */
    if (!x->no_wait_members) {
        ga_group sg;
        if (ga_describe(x->src, group, CUT_ADMIN_TIMEOUT_MS, &sg, err, sizeof(err))) {
            snprintf(x->reason, sizeof(x->reason), "%s", err);
            return NULL;
        }
        int idle = ga_idle(&sg);
        size_t nm = sg.nmembers;
        ga_group_free(&sg);
        if (!idle) {
            snprintf(x->reason, sizeof(x->reason),
                     "group %s has %zu member(s) on %s again: not committing; stop them and "
                     "re-run",
                     group, nm, x->c->src.alias);
            return NULL;
        }
    }
    if (ga_describe(x->tgt, group, CUT_ADMIN_TIMEOUT_MS, &tg, err, sizeof(err))) {
        snprintf(x->reason, sizeof(x->reason), "%s", err);
        return NULL;
    }
    if (!ga_idle(&tg)) {
        snprintf(x->reason, sizeof(x->reason),
                 "group %s has %zu active member(s) on %s (first: client.id %s, host %s): "
                 "refusing to commit; stop them and re-run",
                 group, tg.nmembers, x->c->tgt.alias, tg.nmembers ? tg.members[0].client_id : "?",
                 tg.nmembers ? tg.members[0].host : "?");
        ga_group_free(&tg);
        return NULL;
    }
    ga_group_free(&tg);
    gt_group rows;
    if (gt_map_refresh(x->tgt, x->c->map_topic, &x->map, err, sizeof(err)) ||
        gt_build(x->c, x->src, x->tgt, &x->map.m, group, CUT_ADMIN_TIMEOUT_MS, &rows, err,
                 sizeof(err))) {
        snprintf(x->reason, sizeof(x->reason), "%s", err);
        return NULL;
    }
    json_t *out = json_array();
    ga_offsets todo;
    size_t behind = 0;
    for (size_t i = 0; i < rows.n; i++) {
        const gt_row *r = &rows.rows[i];
        if (!r->mirrored || !tr_committable(&r->tr)) {
            snprintf(x->reason, sizeof(x->reason),
                     "group %s: %s/%d committed %lld is not translatable any more (offsets "
                     "changed on the source after the gates?)",
                     group, r->src_topic, (int)r->partition, (long long)r->src_committed);
            goto fail;
        }
        int64_t t = r->tgt_committed > r->tr.tgt ? r->tgt_committed : r->tr.tgt;
        if (r->tgt_committed > r->tr.tgt)
            cut_say("group %s: %s/%d is already at %lld on the target, beyond the translated "
                    "%lld: kept (never moved backwards)",
                    group, r->tgt_topic, (int)r->partition, (long long)r->tgt_committed,
                    (long long)r->tr.tgt);
        json_array_append_new(
            out, json_pack("{s:s,s:i,s:I,s:s,s:I,s:I,s:s,s:b}", "topic", r->src_topic, "partition",
                           (int)r->partition, "source_committed", (json_int_t)r->src_committed,
                           "target_topic", r->tgt_topic, "target_committed", (json_int_t)t,
                           "translated", (json_int_t)r->tr.tgt, "status",
                           tr_status_name(r->tr.status), "below_source_start", r->tr.below_start));
    }
    if (gt_to_commit(&rows, &todo, &behind)) {
        snprintf(x->reason, sizeof(x->reason), "out of memory");
        goto fail;
    }
    if (todo.n && ga_commit(x->tgt, group, &todo, CUT_ADMIN_TIMEOUT_MS, err, sizeof(err))) {
        snprintf(x->reason, sizeof(x->reason), "%s", err);
        ga_offsets_free(&todo);
        goto fail;
    }
    ga_offsets_free(&todo);
    gt_group_free(&rows);
    return out;
fail:
    json_decref(out);
    gt_group_free(&rows);
    return NULL;
}

static int done_step(const cut_ctx *x, const char *group, int gen, const char *step) {
    return journal_find(&x->j, 'C', group, gen, step) != NULL;
}

static int run_gate(cut_ctx *x, const char *group, const char *step, cut_parts *parts) {
    if (!strcmp(step, "members-drained"))
        return cut_wait_members(x, group);
    if (!strcmp(step, "mirror-caught-up"))
        return cut_wait_caught_up(x, group);
    if (!strcmp(step, "consumers-drained"))
        return cut_wait_drained(x, group, parts);
    if (!parts->n) {
        /* producers-first: the partitions of every topic the group reads */
        char err[512];
        gt_group rows;
        if (gt_build(x->c, x->src, x->tgt, &x->map.m, group, CUT_ADMIN_TIMEOUT_MS, &rows, err,
                     sizeof(err))) {
            snprintf(x->reason, sizeof(x->reason), "%s", err);
            return -1;
        }
        int rc = cut_parts_collect(x, &rows, NULL, parts);
        gt_group_free(&rows);
        if (rc)
            return -1;
        if (!parts->n) {
            snprintf(x->reason, sizeof(x->reason),
                     "group %s has no committed offsets on mirrored topics of %s", group,
                     x->c->src.alias);
            return -1;
        }
    }
    if (!strcmp(step, "producers-quiet"))
        return cut_wait_quiet(x, parts);
    return cut_wait_mirrored(x, parts);
}

/* A new cutover needs a group the source knows: with committed offsets or
 * members.  0 yes, -1 (x->reason) no or unreadable. */
static int known_on_source(cut_ctx *x, const char *group) {
    char err[512];
    ga_offsets so;
    ga_group sg;
    if (ga_committed(x->src, group, CUT_ADMIN_TIMEOUT_MS, &so, err, sizeof(err))) {
        snprintf(x->reason, sizeof(x->reason), "cluster '%s' (%s): %s", x->c->src.alias,
                 mc_bootstrap(&x->c->src), err);
        return -1;
    }
    size_t n = so.n;
    ga_offsets_free(&so);
    if (n)
        return 0;
    if (ga_describe(x->src, group, CUT_ADMIN_TIMEOUT_MS, &sg, err, sizeof(err))) {
        snprintf(x->reason, sizeof(x->reason), "cluster '%s' (%s): %s", x->c->src.alias,
                 mc_bootstrap(&x->c->src), err);
        return -1;
    }
    size_t nm = sg.nmembers;
    ga_group_free(&sg);
    if (nm)
        return 0; /* members that have not committed yet: the gates wait for them */
    snprintf(x->reason, sizeof(x->reason),
             "group %s is not known on %s (%s): no committed offsets and no members there "
             "(a typo?); nothing was journaled",
             group, x->c->src.alias, mc_bootstrap(&x->c->src));
    return -1;
}

int cut_group(cut_ctx *x, const char *group) {
    int gen = journal_gen(&x->j, 'C', group);
    const char *mode = x->producers_first ? "producers-first" : "consumers-first";
    const jr_entry *st = gen ? journal_find(&x->j, 'C', group, gen, "started") : NULL;
    const jr_entry *ver = gen ? journal_find(&x->j, 'C', group, gen, "verified") : NULL;
    char ts[32];
    if (x->restart && gen) {
        cut_say("group %s: --restart: starting cutover #%d (the journal keeps #%d)", group, gen + 1,
                gen);
        gen++;
        st = ver = NULL;
    }
    const char *jm = st ? json_string_value(json_object_get(st->data, "mode")) : NULL;
    if (ver && jm)
        mode = jm; /* done: re-verified whatever the mode asked for now */
    if (st && !ver) {
        if (jm && strcmp(jm, mode) != 0) {
            snprintf(x->reason, sizeof(x->reason),
                     "group %s has a %s cutover in the journal; re-run it as such or start a "
                     "new one with --restart",
                     group, jm);
            return -2;
        }
    }
    if (!gen)
        gen = 1;
    const char **steps = x->producers_first ? g_steps_pf : g_steps_cf;
    if (ver) {
        const jr_entry *cm = journal_find(&x->j, 'C', group, gen, "committed");
        journal_time(cm ? cm->ts_ms : ver->ts_ms, ts, sizeof(ts));
        cut_say("group %s: already cut over at %s; re-verifying", group, ts);
        json_t *offs = cm ? json_object_get(cm->data, "offsets") : NULL;
        ga_offsets now;
        memset(&now, 0, sizeof(now));
        int rc = offs ? recheck_source(x, group, offs, ts) : -1;
        if (!rc)
            rc = verify(x, group, offs, &now);
        if (!offs)
            snprintf(x->reason, sizeof(x->reason), "journal of %s has no committed offsets", group);
        else if (rc && !now.n && x->reason[0])
            return -1; /* the source moved: the reason says why, no report */
        char verdict[128];
        snprintf(verdict, sizeof(verdict), "already cut over at %s%s", ts,
                 rc ? "; VERIFY FAILED" : ", verified again");
        if (offs)
            print_report(x, group, mode, offs, &now, verdict);
        ga_offsets_free(&now);
        return rc;
    }
    if (st) {
        const char *next = NULL;
        char done[256] = "";
        for (int i = 0; steps[i]; i++) {
            if (done_step(x, group, gen, steps[i])) {
                size_t l = strlen(done);
                snprintf(done + l, sizeof(done) - l, "%s%s", l ? ", " : "", steps[i]);
            } else if (!next) {
                next = steps[i];
            }
        }
        journal_time(st->ts_ms, ts, sizeof(ts));
        cut_say("group %s: resuming the cutover started at %s; done: %s; it stopped at: %s", group,
                ts, done, next ? next : "?");
    }
    if (!st && known_on_source(x, group) != 0)
        return -1; /* nothing journaled for a group the source does not know */
    cut_parts parts = {0};
    int rc = -1;
    json_t *offsets = NULL;
    for (int i = 0; steps[i]; i++) {
        const char *s = steps[i];
        int done = done_step(x, group, gen, s);
        if (!strcmp(s, "started")) {
            if (!done && put(x, group, gen, s, json_pack("{s:s}", "mode", mode)))
                goto out;
            continue;
        }
        if (!strcmp(s, "committed")) {
            const jr_entry *cm = journal_find(&x->j, 'C', group, gen, s);
            if (cm) {
                offsets = json_incref(json_object_get(cm->data, "offsets"));
                continue;
            }
            cut_say("group %s: committing the translated offsets on %s", group, x->c->tgt.alias);
            offsets = commit(x, group);
            if (!offsets || put(x, group, gen, s, json_pack("{s:O}", "offsets", offsets)))
                goto out;
            continue;
        }
        if (!strcmp(s, "verified")) {
            ga_offsets now;
            memset(&now, 0, sizeof(now));
            if (verify(x, group, offsets, &now) || put(x, group, gen, s, NULL)) {
                ga_offsets_free(&now);
                goto out;
            }
            print_report(x, group, mode, offsets, &now, "done");
            ga_offsets_free(&now);
            rc = 0;
            continue;
        }
        /* a gate: re-checked even when journaled, since a consumer may be back,
         * unless the commit is journaled already (only verifying is left) */
        if (done && (done_step(x, group, gen, "committed") || !strcmp(s, "producers-quiet") ||
                     !strcmp(s, "source-mirrored")))
            continue; /* the source cannot un-mirror; quiet was proven once */
        cut_say("group %s: waiting for %s", group, s);
        if (run_gate(x, group, s, &parts))
            goto out;
        if (!done && put(x, group, gen, s, NULL))
            goto out;
    }
out:
    json_decref(offsets);
    cut_parts_free(&parts);
    return rc;
}

/* Where the source ends and what that is on the target, per partition, at
 * the moment the producer gate passed: records past target_end are the
 * moved producers' (verify can bound its comparison there). */
static json_t *gate_positions(cut_ctx *x, const cut_parts *p) {
    json_t *arr = json_array();
    int64_t *hi = calloc(p->n + 1, sizeof(*hi));
    if (!hi)
        return arr;
    topics_offsets(x->src, (const char *const *)p->topics, p->parts, p->n, -1, hi);
    for (size_t i = 0; i < p->n; i++) {
        char tt[256];
        mc_target_topic(x->c, p->topics[i], tt, sizeof(tt));
        const om_part *op = offmap_get(&x->map.m, p->topics[i], tt, p->parts[i], 0);
        int64_t te = op ? om_tgt_end(op) : -1;
        json_array_append_new(arr,
                              json_pack("{s:s,s:i,s:I,s:s,s:I}", "topic", p->topics[i], "partition",
                                        (int)p->parts[i], "source_end", (json_int_t)hi[i],
                                        "target_topic", tt, "target_end", (json_int_t)te));
    }
    free(hi);
    return arr;
}

int cut_producers(cut_ctx *x, const char *pattern) {
    char err[512], ts[32];
    int gen = journal_gen(&x->j, 'P', pattern);
    const jr_entry *done = gen ? journal_find(&x->j, 'P', pattern, gen, "source-mirrored") : NULL;
    if (x->restart && gen) {
        gen++;
        done = NULL;
    }
    if (!gen)
        gen = 1;
    cut_parts parts;
    if (cut_parts_collect(x, NULL, pattern, &parts))
        return -1;
    int rc = -1;
    if (!parts.n) {
        snprintf(x->reason, sizeof(x->reason), "no mirrored source topic matches %s", pattern);
        goto out;
    }
    if (done) {
        journal_time(done->ts_ms, ts, sizeof(ts));
        cut_say("producers of %s: already confirmed at %s; re-checking that the source is still "
                "fully mirrored",
                pattern, ts);
        x->deadline = kf_now_ms() + 30000;
        rc = cut_wait_mirrored(x, &parts);
        if (rc == 0)
            printf("producers of %s (%zu partition(s)): already cut over at %s; the source is "
                   "still fully mirrored\n",
                   pattern, parts.n, ts);
        goto out;
    }
    if (!journal_find(&x->j, 'P', pattern, gen, "started") &&
        journal_put(&x->j, 'P', pattern, gen, "started", NULL, err, sizeof(err)))
        goto fail_journal;
    cut_say("producers of %s: waiting for %d quiet second(s) on %zu source partition(s)", pattern,
            x->quiet_s, parts.n);
    if (cut_wait_quiet(x, &parts))
        goto out;
    if (!journal_find(&x->j, 'P', pattern, gen, "producers-quiet") &&
        journal_put(&x->j, 'P', pattern, gen, "producers-quiet", NULL, err, sizeof(err)))
        goto fail_journal;
    cut_say("producers of %s: source quiet; waiting for the mirror to reach its end", pattern);
    if (cut_wait_mirrored(x, &parts))
        goto out;
    if (journal_put(&x->j, 'P', pattern, gen, "source-mirrored",
                    json_pack("{s:o}", "partitions", gate_positions(x, &parts)), err, sizeof(err)))
        goto fail_journal;
    printf("producers of %s (%zu partition(s)): the source is quiet and fully mirrored to %s; "
           "producers may write to %s now\n",
           pattern, parts.n, x->c->tgt.alias, x->c->tgt.alias);
    rc = 0;
    goto out;
fail_journal:
    snprintf(x->reason, sizeof(x->reason), "%s", err);
out:
    cut_parts_free(&parts);
    return rc;
}
