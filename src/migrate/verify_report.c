/*
 * verify_report.c - renders `kferry verify` results (see verify_report.h).
 *
 * The JSON is built with jansson so names and strings are always escaped
 * correctly; its schema is documented in docs/VERIFY.md and is a contract:
 * add fields, never rename them.
 */
#include "migrate/verify_report.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

int verify_part_failed(const vpart *p) {
    return p->error[0] || p->mismatched || p->missing || p->extra || p->absent_src;
}

int verify_part_incomplete(const vpart *p) {
    return p->not_yet || p->unverified_tail || p->unrecorded_gap;
}

static const char *kind_name(int k) {
    static const char *names[] = {"mismatch",        "missing_on_target",   "unmapped_source",
                                  "extra_on_target", "duplicate_on_target", "absent_on_source"};
    return k >= 0 && k <= VP_ABSENT_SOURCE ? names[k] : "unknown";
}

static void fields_text(unsigned f, char *out, size_t len) {
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {
        {VF_KEY, "key"}, {VF_VALUE, "value"}, {VF_HEADERS, "headers"}, {VF_TIMESTAMP, "timestamp"}};
    size_t used = 0;
    out[0] = 0;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (f & names[i].bit) {
            int n = snprintf(out + used, len - used, "%s%s", used ? "," : "", names[i].name);
            if (n < 0 || (size_t)n >= len - used)
                return;
            used += (size_t)n;
        }
    if (!used)
        snprintf(out, len, "content");
}

/* "offset 5" or "offsets 5..9 (5 records)" */
static void offsets_text(int64_t first, int64_t count, char *out, size_t len) {
    if (count <= 1)
        snprintf(out, len, "offset %lld", (long long)first);
    else
        snprintf(out, len, "offsets %lld..%lld (%lld records)", (long long)first,
                 (long long)(first + count - 1), (long long)count);
}

static const char *status_of(const vpart *p) {
    if (p->error[0])
        return "error";
    if (verify_part_failed(p))
        return "failed";
    if (verify_part_incomplete(p))
        return "incomplete";
    return "ok";
}

typedef struct totals {
    int64_t compared, matched, mismatched, missing, extra, absent_src, compacted, not_yet,
        pending_map, removed_src, removed_tgt, gap_records, unrecorded_gap, unverified_tail,
        opposite_src, opposite_tgt, written;
    size_t failed, incomplete, errors;
} totals;

static void sum(const vreport *r, totals *t) {
    memset(t, 0, sizeof(*t));
    for (size_t i = 0; i < r->n; i++) {
        const vpart *p = &r->parts[i];
        t->compared += p->compared;
        t->matched += p->matched;
        t->mismatched += p->mismatched;
        t->missing += p->missing;
        t->extra += p->extra;
        t->absent_src += p->absent_src;
        t->compacted += p->compacted_n;
        t->not_yet += p->not_yet;
        t->pending_map += p->pending_map;
        t->removed_src += p->removed_src_ret;
        t->removed_tgt += p->removed_tgt_ret;
        t->gap_records += p->gap_records;
        t->unrecorded_gap += p->unrecorded_gap;
        t->unverified_tail += p->unverified_tail;
        t->opposite_src += p->opposite_src;
        t->opposite_tgt += p->opposite_tgt;
        t->written += p->written_on_target;
        t->failed += verify_part_failed(p) ? 1 : 0;
        t->incomplete += verify_part_incomplete(p) ? 1 : 0;
        t->errors += p->error[0] ? 1 : 0;
    }
}

static int exit_status(const vreport *r, const totals *t) {
    return t->failed || (r->require_complete && t->incomplete) || r->n == 0 ? 1 : 0;
}

/* ---- JSON ------------------------------------------------------------------ */

static json_t *jint_or_null(int64_t v) { return v >= 0 ? json_integer(v) : json_null(); }

static json_t *side_json(const vside *s) {
    json_t *o = json_object();
    json_object_set_new(o, "log_start", json_integer(s->lo));
    json_object_set_new(o, "log_end", json_integer(s->hi));
    json_object_set_new(o, "read_from", json_integer(s->start));
    json_object_set_new(o, "read_to", json_integer(s->end));
    json_object_set_new(o, "records_read", json_integer(s->read));
    json_object_set_new(o, "first_compared", jint_or_null(s->first_cmp));
    json_object_set_new(o, "last_compared", jint_or_null(s->last_cmp));
    json_object_set_new(o, "digest", s->digest[0] ? json_string(s->digest) : json_null());
    return o;
}

static json_t *part_json(const vpart *p) {
    json_t *o = json_object();
    json_object_set_new(o, "topic", json_string(p->topic));
    json_object_set_new(o, "target_topic", json_string(p->tgt_topic));
    json_object_set_new(o, "partition", json_integer(p->partition));
    json_object_set_new(o, "status", json_string(status_of(p)));
    json_object_set_new(o, "source", side_json(&p->side[0]));
    json_object_set_new(o, "target", side_json(&p->side[1]));
    json_object_set_new(o, "target_exists", json_boolean(p->target_exists));
    json_object_set_new(o, "compacted", json_boolean(p->compacted));
    json_t *m = json_object();
    json_object_set_new(m, "runs", json_integer(p->map ? (json_int_t)p->map->nruns : 0));
    json_object_set_new(m, "source_end", jint_or_null(p->map ? om_src_next(p->map) : -1));
    json_object_set_new(m, "target_end", jint_or_null(p->map ? om_tgt_next(p->map) : -1));
    json_object_set_new(o, "map", m);
    json_object_set_new(o, "compared", json_integer(p->compared));
    json_object_set_new(o, "matched", json_integer(p->matched));
    json_object_set_new(o, "mismatched", json_integer(p->mismatched));
    json_object_set_new(o, "missing_on_target", json_integer(p->missing));
    json_object_set_new(o, "extra_on_target", json_integer(p->extra));
    json_object_set_new(o, "absent_on_source", json_integer(p->absent_src));
    json_object_set_new(o, "compacted_away", json_integer(p->compacted_n));
    json_object_set_new(o, "not_yet_mirrored", json_integer(p->not_yet));
    json_object_set_new(o, "not_yet_mirrored_from",
                        jint_or_null(p->not_yet ? p->not_yet_from : -1));
    json_object_set_new(o, "pending_map", json_integer(p->pending_map));
    json_object_set_new(o, "written_on_target", json_integer(p->written_on_target));
    json_object_set_new(o, "written_on_target_from",
                        jint_or_null(p->written_on_target ? p->written_from : -1));
    json_t *opp = json_object();
    json_object_set_new(opp, "source", json_integer(p->opposite_src));
    json_object_set_new(opp, "target", json_integer(p->opposite_tgt));
    json_object_set_new(o, "opposite_flow", opp);
    json_t *ret = json_object();
    json_object_set_new(ret, "source", json_integer(p->removed_src_ret));
    json_object_set_new(ret, "target", json_integer(p->removed_tgt_ret));
    json_object_set_new(o, "removed_by_retention", ret);
    json_t *gaps = json_array();
    for (size_t i = 0; p->map && i < p->map->ngaps; i++) {
        json_t *g = json_object();
        json_object_set_new(g, "start", json_integer(p->map->gaps[i].start));
        json_object_set_new(g, "end", json_integer(p->map->gaps[i].end));
        json_array_append_new(gaps, g);
    }
    json_object_set_new(o, "retention_gaps", gaps);
    json_object_set_new(o, "gap_records", json_integer(p->gap_records));
    if (p->unrecorded_gap) {
        json_t *g = json_object();
        json_object_set_new(g, "start", json_integer(p->unrecorded_gap_start));
        json_object_set_new(g, "end", json_integer(p->unrecorded_gap_start + p->unrecorded_gap));
        json_object_set_new(o, "unrecorded_gap", g);
    } else {
        json_object_set_new(o, "unrecorded_gap", json_null());
    }
    json_object_set_new(o, "unverified_target_tail", json_integer(p->unverified_tail));
    json_t *probs = json_array();
    for (size_t i = 0; i < p->nproblems; i++) {
        const vproblem *q = &p->problems[i];
        json_t *j = json_object();
        json_object_set_new(j, "kind", json_string(kind_name(q->kind)));
        json_object_set_new(j, "source_offset", jint_or_null(q->src));
        json_object_set_new(j, "target_offset", jint_or_null(q->tgt));
        json_object_set_new(j, "count", json_integer(q->count));
        if (q->kind == VP_MISMATCH) {
            json_t *f = json_array();
            if (q->fields & VF_KEY)
                json_array_append_new(f, json_string("key"));
            if (q->fields & VF_VALUE)
                json_array_append_new(f, json_string("value"));
            if (q->fields & VF_HEADERS)
                json_array_append_new(f, json_string("headers"));
            if (q->fields & VF_TIMESTAMP)
                json_array_append_new(f, json_string("timestamp"));
            json_object_set_new(j, "differs", f);
        }
        json_array_append_new(probs, j);
    }
    json_object_set_new(o, "problems", probs);
    json_object_set_new(o, "error", p->error[0] ? json_string(p->error) : json_null());
    return o;
}

static int print_json(const vreport *r, const totals *t, int rc) {
    json_t *o = json_object();
    json_object_set_new(o, "flow", json_string(r->flow));
    json_object_set_new(o, "map_topic", json_string(r->map_topic));
    json_object_set_new(o, "ok", json_boolean(t->failed == 0));
    json_object_set_new(o, "complete", json_boolean(t->incomplete == 0));
    json_object_set_new(o, "require_complete", json_boolean(r->require_complete));
    json_object_set_new(o, "allow_unmirrored", json_boolean(!r->require_complete));
    if (!r->n) {
        char why[1300];
        snprintf(why, sizeof(why), "nothing verified: no source partition is selected by %s",
                 r->selection[0] ? r->selection : "the config");
        json_object_set_new(o, "error", json_string(why));
    }
    json_object_set_new(o, "exit_code", json_integer(rc));
    json_object_set_new(o, "elapsed_seconds", json_real((double)r->elapsed_ms / 1000.0));
    json_t *tt = json_object();
    json_object_set_new(tt, "partitions", json_integer((json_int_t)r->n));
    json_object_set_new(tt, "partitions_failed", json_integer((json_int_t)t->failed));
    json_object_set_new(tt, "partitions_incomplete", json_integer((json_int_t)t->incomplete));
    json_object_set_new(tt, "partitions_with_errors", json_integer((json_int_t)t->errors));
    json_object_set_new(tt, "compared", json_integer(t->compared));
    json_object_set_new(tt, "matched", json_integer(t->matched));
    json_object_set_new(tt, "mismatched", json_integer(t->mismatched));
    json_object_set_new(tt, "missing_on_target", json_integer(t->missing));
    json_object_set_new(tt, "extra_on_target", json_integer(t->extra));
    json_object_set_new(tt, "absent_on_source", json_integer(t->absent_src));
    json_object_set_new(tt, "compacted_away", json_integer(t->compacted));
    json_object_set_new(tt, "not_yet_mirrored", json_integer(t->not_yet));
    json_object_set_new(tt, "pending_map", json_integer(t->pending_map));
    json_object_set_new(tt, "removed_by_source_retention", json_integer(t->removed_src));
    json_object_set_new(tt, "removed_by_target_retention", json_integer(t->removed_tgt));
    json_object_set_new(tt, "gap_records", json_integer(t->gap_records));
    json_object_set_new(tt, "unrecorded_gap_records", json_integer(t->unrecorded_gap));
    json_object_set_new(tt, "unverified_target_tail", json_integer(t->unverified_tail));
    json_object_set_new(tt, "opposite_flow_source", json_integer(t->opposite_src));
    json_object_set_new(tt, "opposite_flow_target", json_integer(t->opposite_tgt));
    json_object_set_new(tt, "written_on_target", json_integer(t->written));
    json_object_set_new(o, "totals", tt);
    json_t *parts = json_array();
    for (size_t i = 0; i < r->n; i++)
        json_array_append_new(parts, part_json(&r->parts[i]));
    json_object_set_new(o, "partitions", parts);
    int e = json_dumpf(o, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    json_decref(o);
    return e;
}

/* ---- human ------------------------------------------------------------------- */

/* "log start..end (first..last compared)" of one side. */
static void range_text(const vside *s, char *out, size_t len) {
    if (s->first_cmp < 0)
        snprintf(out, len, "[%lld,%lld) -", (long long)s->lo, (long long)s->hi);
    else
        snprintf(out, len, "[%lld,%lld) %lld..%lld", (long long)s->lo, (long long)s->hi,
                 (long long)s->first_cmp, (long long)s->last_cmp);
}

static void print_part_details(const vpart *p) {
    const char *st = p->topic, *tt = p->tgt_topic;
    int part = p->partition;
    if (p->error[0])
        printf("  ERROR %s/%d: %s\n", st, part, p->error);
    for (size_t i = 0; i < p->nproblems; i++) {
        const vproblem *q = &p->problems[i];
        char f[64], so[96], to[96];
        offsets_text(q->src, q->count, so, sizeof(so));
        offsets_text(q->tgt, q->count, to, sizeof(to));
        switch (q->kind) {
        case VP_MISMATCH:
            fields_text(q->fields, f, sizeof(f));
            printf("  MISMATCH source %s/%d %s <-> target %s/%d %s: %s differs\n", st, part, so, tt,
                   part, to, f);
            break;
        case VP_MISSING:
            printf("  MISSING source %s/%d %s: mapped to target %s/%d %s, which holds no "
                   "record\n",
                   st, part, so, tt, part, to);
            break;
        case VP_UNMAPPED:
            printf("  MISSING source %s/%d %s: inside the mirrored range but not in the offset "
                   "map (never copied)\n",
                   st, part, so);
            break;
        case VP_EXTRA:
            printf("  EXTRA target %s/%d %s: no source record maps there (not written by this "
                   "flow, or a duplicate)\n",
                   tt, part, to);
            break;
        case VP_DUPLICATE:
            printf("  EXTRA target %s/%d %s: past everything mirrored, a duplicate of source "
                   "%s/%d %s\n",
                   tt, part, to, st, part, so);
            break;
        case VP_ABSENT_SOURCE:
            printf("  ABSENT source %s/%d %s: mapped to target %s/%d %s, but the source no "
                   "longer has it\n",
                   st, part, so, tt, part, to);
            break;
        }
    }
    int64_t shown = 0;
    for (size_t i = 0; i < p->nproblems; i++)
        shown += p->problems[i].count;
    int64_t all = p->mismatched + p->missing + p->extra + p->absent_src;
    if (all > shown)
        printf("  ... %lld more problem record(s) in %s/%d\n", (long long)(all - shown), st, part);
    if (p->removed_src_ret)
        printf("  retention: %lld mirrored record(s) below source offset %lld were removed by "
               "source retention after mirroring (not a failure)\n",
               (long long)p->removed_src_ret, (long long)p->side[0].lo);
    if (p->removed_tgt_ret)
        printf("  retention: %lld mirrored record(s) below target offset %lld were removed by "
               "target retention (not compared, not a failure)\n",
               (long long)p->removed_tgt_ret, (long long)p->side[1].lo);
    for (size_t i = 0; p->map && i < p->map->ngaps; i++)
        printf("  gap: source offsets [%lld, %lld) were deleted by source retention before "
               "they were mirrored (recorded by the mirror)\n",
               (long long)p->map->gaps[i].start, (long long)p->map->gaps[i].end);
    if (p->unrecorded_gap)
        printf("  gap: source offsets [%lld, %lld) were deleted by source retention before "
               "they were mirrored (not recorded yet)\n",
               (long long)p->unrecorded_gap_start,
               (long long)(p->unrecorded_gap_start + p->unrecorded_gap));
    if (p->unverified_tail)
        printf("  unverified: %lld target record(s) past the offset map cannot be paired (their "
               "source records are gone)\n",
               (long long)p->unverified_tail);
    if (p->written_on_target)
        printf("  written on the target: %lld record(s) from target offset %lld, past everything "
               "mirrored, are not copies of source records (producers writing to the target; "
               "not compared)\n",
               (long long)p->written_on_target, (long long)p->written_from);
    if (p->opposite_src || p->opposite_tgt)
        printf("  opposite flow: %lld source record(s) it wrote and %lld target record(s) it "
               "mirrored are not this flow's (not compared)\n",
               (long long)p->opposite_src, (long long)p->opposite_tgt);
    if (p->compacted_n)
        printf("  compacted: %lld record(s) present on one side only in a compacted topic (not "
               "a failure)\n",
               (long long)p->compacted_n);
    if (p->not_yet)
        printf("  not yet mirrored: %lld source record(s) from offset %lld%s\n",
               (long long)p->not_yet, (long long)p->not_yet_from,
               p->target_exists ? "" : " (the target topic does not exist yet)");
}

static void print_human(const vreport *r, const totals *t, int rc) {
    printf("kferry verify: flow %s, offset map %s\n", r->flow, r->map_topic);
    printf("SOURCE/TARGET RANGE = [log start,log end) first..last compared offset\n");
    printf("%-32s %-28s %-28s %9s %9s %8s %7s %6s %7s %9s %s\n", "SOURCE/PARTITION", "SOURCE RANGE",
           "TARGET RANGE", "COMPARED", "MATCHED", "MISMATCH", "MISSING", "EXTRA", "NOT_YET",
           "RETENTION", "STATUS");
    for (size_t i = 0; i < r->n; i++) {
        const vpart *p = &r->parts[i];
        char name[300], sr[96], tr[96];
        snprintf(name, sizeof(name), "%s/%d", p->topic, p->partition);
        range_text(&p->side[0], sr, sizeof(sr));
        range_text(&p->side[1], tr, sizeof(tr));
        printf("%-32s %-28s %-28s %9lld %9lld %8lld %7lld %6lld %7lld %9lld %s\n", name, sr, tr,
               (long long)p->compared, (long long)p->matched, (long long)p->mismatched,
               (long long)(p->missing + p->absent_src), (long long)p->extra, (long long)p->not_yet,
               (long long)(p->removed_src_ret + p->removed_tgt_ret), status_of(p));
        print_part_details(p);
    }
    double s = (double)r->elapsed_ms / 1000.0;
    printf("%zu partition(s): %lld record(s) compared, %lld matched, %lld mismatched, %lld "
           "missing on target, %lld extra on target, %lld not yet mirrored, %lld removed by "
           "retention, %lld in recorded gaps, %lld written on the target after the mirrored range "
           "(%.1f s, %.0f records/s)\n",
           r->n, (long long)t->compared, (long long)t->matched, (long long)t->mismatched,
           (long long)(t->missing + t->absent_src), (long long)t->extra, (long long)t->not_yet,
           (long long)(t->removed_src + t->removed_tgt), (long long)t->gap_records,
           (long long)t->written, s, s > 0 ? (double)t->compared / s : 0.0);
    if (!r->n)
        printf("RESULT: NOTHING VERIFIED (no source partition is selected by %s)\n",
               r->selection[0] ? r->selection : "the config");
    else if (t->failed)
        printf("RESULT: FAILED (%zu partition(s) failed)\n", t->failed);
    else if (rc)
        printf("RESULT: INCOMPLETE (%zu partition(s) have %lld source record(s) not mirrored "
               "yet; --allow-unmirrored checks only what is mirrored)\n",
               t->incomplete, (long long)(t->not_yet + t->unrecorded_gap + t->unverified_tail));
    else
        printf("RESULT: OK%s\n", t->incomplete ? " (some records not yet mirrored; "
                                                 "--allow-unmirrored)"
                                               : "");
}

void verify_report_error(const char *why) {
    json_t *o = json_object();
    json_object_set_new(o, "ok", json_false());
    json_object_set_new(o, "exit_code", json_integer(1));
    json_object_set_new(o, "error", json_string(why[0] ? why : "verify could not start"));
    json_dumpf(o, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    json_decref(o);
    fflush(stdout);
}

int verify_report_print(const vreport *r, int json) {
    totals t;
    sum(r, &t);
    int rc = exit_status(r, &t);
    if (json)
        print_json(r, &t, rc);
    else
        print_human(r, &t, rc);
    fflush(stdout);
    return rc;
}
