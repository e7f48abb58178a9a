/*
 * verify.c - `kferry verify` (see verify.h, docs/VERIFY.md): plans the
 * selected partitions, reads each on both clusters at once and feeds the
 * records' SHA-256 digests to the merge in verify_merge.c.
 *
 * A side is not polled while its pending-digest ring is full, so memory
 * stays bounded whatever the partition sizes.
 */
#include "migrate/verify.h"
#include "migrate/commands.h"

#include "common/log.h"
#include "common/util.h"
#include "mirror/clients.h"
#include "mirror/retry.h"
#include "mirror/config.h"
#include "mirror/inverse.h"
#include "mirror/mapstore.h"
#include "mirror/offmap.h"
#include "mirror/topics.h"
#include "migrate/cli.h"
#include "migrate/verify_merge.h"
#include "migrate/verify_report.h"

#include <librdkafka/rdkafka.h>
#include <openssl/evp.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

enum { RING_LIMIT = 65536, BATCH = 4096, IDLE_TIMEOUT_MS = 120000, PROGRESS_MS = 5000 };

typedef struct vargs {
    const char *config, *topic_re;
    int json, require_complete, allow_unmirrored, parallel, max_problems;
} vargs;

typedef struct vctx {
    mirror_config *cfg;
    const vargs *a;
    rd_kafka_t *rk[2];
    EVP_MD *md;
    EVP_MD_CTX *rec_ctx;
    offmap map;
    inv_map inv; /* the opposite flow's map, if any */
    vreport *rep;
    int64_t last_progress_ms, started_ms;
    char err[1024]; /* why verify could not run */
} vctx;

/* ---- record digests ----------------------------------------------------- */

static void put_i64(EVP_MD_CTX *c, int64_t v) {
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)v >> (56 - 8 * i));
    EVP_DigestUpdate(c, b, 8);
}

/* Length-prefixed, -1 for null: null and empty differ, and field
 * boundaries cannot shift between key, value and headers. */
static void put_bytes(EVP_MD_CTX *c, const void *p, size_t len) {
    put_i64(c, p ? (int64_t)len : -1);
    if (p && len)
        EVP_DigestUpdate(c, p, len);
}

static uint32_t crc_bytes(uint32_t crc, const void *p, size_t len) {
    unsigned char mark = p ? 1 : 0;
    crc = (uint32_t)crc32(crc, &mark, 1);
    return p && len ? (uint32_t)crc32(crc, p, (uInt)len) : crc;
}

/* The SHA-256 over (timestamp, key, value, headers in order) is what is
 * compared; the per-field CRCs only name the field that differs. */
static void digest_msg(vctx *x, const rd_kafka_message_t *m, vrec *r) {
    EVP_MD_CTX *c = x->rec_ctx;
    EVP_DigestInit_ex(c, x->md, NULL);
    rd_kafka_timestamp_type_t tt;
    r->ts = rd_kafka_message_timestamp(m, &tt);
    put_i64(c, r->ts);
    put_bytes(c, m->key, m->key_len);
    put_bytes(c, m->payload, m->len);
    r->crc[0] = crc_bytes(0, m->key, m->key_len);
    r->crc[1] = crc_bytes(0, m->payload, m->len);
    uint32_t hc = 0;
    rd_kafka_headers_t *h = NULL;
    size_t nh = 0;
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR && h)
        nh = rd_kafka_header_cnt(h);
    put_i64(c, (int64_t)nh);
    for (size_t i = 0; i < nh; i++) {
        const char *name = NULL;
        const void *val = NULL;
        size_t vlen = 0;
        if (rd_kafka_header_get_all(h, i, &name, &val, &vlen))
            break;
        put_bytes(c, name, strlen(name));
        put_bytes(c, val, vlen);
        hc = crc_bytes(hc, name, strlen(name));
        hc = crc_bytes(hc, val, vlen);
    }
    r->crc[2] = hc;
    unsigned int dl = 0;
    EVP_DigestFinal_ex(c, r->d, &dl);
}

static void hex(const unsigned char *d, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = 0;
}

/* Earliest (-2) or latest (-1; the last stable offset under read_committed)
 * offsets of many partitions in one ListOffsets round per broker. */
static void list_offsets(rd_kafka_t *rk, vpart **parts, size_t n, int k, int64_t which) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, k ? parts[i]->tgt_topic : parts[i]->topic,
                                          parts[i]->partition)
            ->offset = which;
    int ok = retry_offsets_for_times(rk, l, 30000) == RD_KAFKA_RESP_ERR_NO_ERROR;
    for (size_t i = 0; i < n; i++) {
        vside *sd = &parts[i]->side[k];
        int64_t v = ok && !l->elems[i].err ? l->elems[i].offset : -1;
        /* one partition's error is retried alone; a failed round (cluster
         * unreachable) is not retried once per partition */
        if (v < 0 && ok) {
            int64_t lo = -1, hi = -1;
            if (retry_watermarks(rk, k ? parts[i]->tgt_topic : parts[i]->topic, parts[i]->partition,
                                 &lo, &hi, 10000) == 0)
                v = which == -2 ? lo : hi;
        }
        if (which == -2)
            sd->lo = v;
        else
            sd->hi = v;
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* Sets compacted[i] for each of the n topics whose cleanup.policy (set on
 * the topic or inherited from the broker) includes compaction: there a
 * record present on one side only is compaction's doing, not a loss.  One
 * DescribeConfigs per 100 topics. */
static void find_compacted(rd_kafka_t *rk, const char **names, size_t n, int *compacted) {
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    for (size_t first = 0; first < n; first += 100) {
        size_t cnt = n - first < 100 ? n - first : 100;
        rd_kafka_ConfigResource_t *res[100];
        for (size_t i = 0; i < cnt; i++)
            res[i] = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, names[first + i]);
        rd_kafka_DescribeConfigs(rk, res, cnt, NULL, q);
        rd_kafka_event_t *ev = topics_admin_wait(q, RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, 30000);
        size_t nres = 0;
        const rd_kafka_ConfigResource_t **rs =
            ev && !rd_kafka_event_error(ev) ? rd_kafka_DescribeConfigs_result_resources(
                                                  rd_kafka_event_DescribeConfigs_result(ev), &nres)
                                            : NULL;
        if (!rs)
            kf_warn("verify", "%s: cannot read topic configs (%s); assuming not compacted",
                    rd_kafka_name(rk), ev ? rd_kafka_event_error_string(ev) : "timed out");
        for (size_t r = 0; r < nres; r++) {
            size_t ncfg = 0;
            const rd_kafka_ConfigEntry_t **ents = rd_kafka_ConfigResource_configs(rs[r], &ncfg);
            const char *name = rd_kafka_ConfigResource_name(rs[r]);
            for (size_t k = 0; k < ncfg; k++) {
                const char *v = rd_kafka_ConfigEntry_value(ents[k]);
                if (strcmp(rd_kafka_ConfigEntry_name(ents[k]), "cleanup.policy") || !v ||
                    !strstr(v, "compact"))
                    continue;
                for (size_t i = first; i < first + cnt; i++)
                    if (!strcmp(names[i], name))
                        compacted[i] = 1;
            }
        }
        if (ev)
            rd_kafka_event_destroy(ev);
        for (size_t i = 0; i < cnt; i++)
            rd_kafka_ConfigResource_destroy(res[i]);
    }
    rd_kafka_queue_destroy(q);
}

/* Marks the partitions of compacted topics (on either cluster). */
static void mark_compacted(vctx *x, vreport *rep) {
    const char **names = calloc(rep->n + 1, sizeof(*names));
    int *flags = calloc(rep->n + 1, sizeof(*flags));
    if (!names || !flags)
        goto out;
    for (int k = 0; k < 2; k++) {
        size_t n = 0;
        for (size_t i = 0; i < rep->n; i++) {
            const vpart *p = &rep->parts[i];
            const char *t = k ? p->tgt_topic : p->topic;
            if (p->partition == 0 && (!k || p->target_exists)) /* one entry per topic */
                names[n++] = t;
        }
        memset(flags, 0, (rep->n + 1) * sizeof(*flags));
        find_compacted(x->rk[k], names, n, flags);
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; flags[i] && j < rep->n; j++)
                if (!strcmp(k ? rep->parts[j].tgt_topic : rep->parts[j].topic, names[i]))
                    rep->parts[j].compacted = 1;
    }
out:
    free(names);
    free(flags);
}

/* Reports why verify cannot run (stderr, and the JSON report). */
__attribute__((format(printf, 2, 3))) static void fail(vctx *x, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->err, sizeof(x->err), fmt, ap);
    va_end(ap);
    kf_err("verify", "%s", x->err);
}

/* Selected source partitions, planned. 0 or -1 (reported). */
static int plan_all(vctx *x, const regex_t *re) {
    mirror_config *c = x->cfg;
    topic_list sl = {0}, tl = {0};
    int rc = -1;
    char err[512];
    int found = 0;
    /* order matters: map, then target ends, then source ends, so that every
     * target record read was written from a source record below the source
     * end read */
    if (mapstore_load(x->rk[1], c->map_topic, &x->map, &found, NULL, 0, err, sizeof(err))) {
        fail(x, "cannot load the offset map from %s: %s", c->map_topic, err);
        return -1;
    }
    /* the opposite flow's map (on the source), when mirroring runs both
     * ways: its records on either side are not this flow's */
    if (c->opposite_map_topic[0] && inv_load(c, x->rk[0], &x->inv, err, sizeof(err))) {
        fail(x, "cannot load the opposite flow's offset map %s: %s", c->opposite_map_topic, err);
        return -1;
    }
    if (topics_list(x->rk[1], &tl, 15000) || topics_list(x->rk[0], &sl, 15000)) {
        fail(x, "cannot list the topics of %s and %s", c->src.alias, c->tgt.alias);
        goto out;
    }
    vreport *rep = x->rep;
    size_t cap = 0;
    for (size_t i = 0; i < sl.n; i++)
        cap += (size_t)sl.t[i].partitions;
    rep->parts = calloc(cap + 1, sizeof(*rep->parts));
    vpart **pp = calloc(cap + 1, sizeof(*pp));
    if (!rep->parts || !pp) {
        free(pp);
        goto out;
    }
    for (size_t i = 0; i < sl.n; i++) {
        const char *why;
        const char *name = sl.t[i].name;
        if (!mc_topic_selected(c, name, &why))
            continue;
        if (re && regexec(re, name, 0, NULL, 0) != 0)
            continue;
        char tgt[256];
        if (mc_target_topic(c, name, tgt, sizeof(tgt)))
            continue;
        const topic_info *ti = topics_find(&tl, tgt);
        for (int k = 0; k < sl.t[i].partitions; k++) {
            vpart *p = &rep->parts[rep->n++];
            p->topic = kf_strdup(name);
            snprintf(p->tgt_topic, sizeof(p->tgt_topic), "%s", tgt);
            p->partition = k;
            p->map = offmap_get(&x->map, name, tgt, k, 0);
            if (x->inv.found && (inv_loop_ranges(&x->inv, name, tgt, k, &p->loop, &p->nloop) ||
                                 inv_foreign_ranges(&x->inv, tgt, k, &p->foreign, &p->nforeign)))
                snprintf(p->error, sizeof(p->error), "out of memory");
            p->target_exists = ti && k < ti->partitions;
            p->max_problems = x->a->max_problems;
            for (int s = 0; s < 2; s++)
                p->side[s].first_cmp = p->side[s].last_cmp = p->side[s].last = -1;
            pp[rep->n - 1] = p;
        }
    }
    mark_compacted(x, rep);
    /* target partitions that do not exist read as empty */
    size_t nt = 0;
    for (size_t i = 0; i < rep->n; i++)
        if (pp[i]->target_exists)
            pp[nt++] = pp[i];
    if (nt) {
        list_offsets(x->rk[1], pp, nt, 1, -2);
        list_offsets(x->rk[1], pp, nt, 1, -1);
    }
    for (size_t i = 0; i < rep->n; i++)
        pp[i] = &rep->parts[i];
    if (rep->n) {
        list_offsets(x->rk[0], pp, rep->n, 0, -2);
        list_offsets(x->rk[0], pp, rep->n, 0, -1);
    }
    free(pp);
    for (size_t i = 0; i < rep->n; i++) {
        vpart *p = &rep->parts[i];
        if (!p->target_exists)
            p->side[1].lo = p->side[1].hi = 0;
        if (p->side[0].lo < 0 || p->side[0].hi < 0 || p->side[1].lo < 0 || p->side[1].hi < 0) {
            snprintf(p->error, sizeof(p->error), "cannot read the log start/end of %s",
                     p->side[0].lo < 0 || p->side[0].hi < 0 ? "the source" : "the target");
            p->state = VS_FINISHED;
            continue;
        }
        verify_plan(p);
    }
    rc = 0;
out:
    topics_list_free(&sl);
    topics_list_free(&tl);
    return rc;
}

/* ---- reading --------------------------------------------------------------- */

static void stop_part(vctx *x, vpart *p) {
    rd_kafka_message_t *msgs[256];
    for (int k = 0; k < 2; k++) {
        vside *sd = &p->side[k];
        if (sd->started)
            rd_kafka_consume_stop(sd->rkt, p->partition);
        if (sd->q) {
            ssize_t got;
            while ((got = rd_kafka_consume_batch_queue(sd->q, 0, msgs, 256)) > 0)
                for (ssize_t i = 0; i < got; i++)
                    rd_kafka_message_destroy(msgs[i]);
            rd_kafka_queue_destroy(sd->q);
        }
        if (sd->rkt)
            rd_kafka_topic_destroy(sd->rkt);
        sd->q = NULL;
        sd->rkt = NULL;
        sd->started = 0;
        if (sd->agg) {
            unsigned char d[32];
            unsigned int dl = 0;
            EVP_DigestFinal_ex(sd->agg, d, &dl);
            hex(d, sizeof(d), sd->digest);
            EVP_MD_CTX_free(sd->agg);
            sd->agg = NULL;
        }
    }
    verify_part_free(p);
    p->state = VS_FINISHED;
}

static int start_part(vctx *x, vpart *p) {
    p->state = VS_ACTIVE;
    p->last_progress_ms = kf_now_ms();
    for (int k = 0; k < 2; k++) {
        vside *sd = &p->side[k];
        sd->agg = EVP_MD_CTX_new();
        if (!sd->agg || !EVP_DigestInit_ex(sd->agg, x->md, NULL)) {
            snprintf(p->error, sizeof(p->error), "out of memory");
            stop_part(x, p);
            return -1;
        }
    }
    for (int k = 0; k < 2; k++) {
        vside *sd = &p->side[k];
        if (sd->start >= sd->end)
            continue;
        const char *topic = k ? p->tgt_topic : p->topic;
        sd->rkt = rd_kafka_topic_new(x->rk[k], topic, NULL);
        sd->q = rd_kafka_queue_new(x->rk[k]);
        if (!sd->rkt || !sd->q ||
            rd_kafka_consume_start_queue(sd->rkt, p->partition, sd->start, sd->q) != 0) {
            snprintf(p->error, sizeof(p->error), "%s: cannot start reading %s/%d: %s",
                     k ? "target" : "source", topic, p->partition,
                     rd_kafka_err2str(rd_kafka_last_error()));
            stop_part(x, p);
            return -1;
        }
        sd->started = 1;
    }
    for (int k = 0; k < 2; k++)
        if (p->side[k].start >= p->side[k].end)
            verify_side_done(p, k);
    return 0;
}

/* Consumes what side k of p has ready.  Returns the number of messages. */
static ssize_t poll_side(vctx *x, vpart *p, int k) {
    vside *sd = &p->side[k];
    if (sd->done || !sd->started || p->state != VS_ACTIVE || sd->ring.n >= RING_LIMIT)
        return 0;
    rd_kafka_message_t *msgs[BATCH];
    ssize_t got = rd_kafka_consume_batch_queue(sd->q, 0, msgs, BATCH);
    if (got < 0)
        return 0;
    for (ssize_t i = 0; i < got; i++) {
        rd_kafka_message_t *m = msgs[i];
        if (sd->done || p->error[0]) {
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m->offset >= sd->end)
                verify_side_done(p, k);
        } else if (m->err) {
            snprintf(p->error, sizeof(p->error), "reading %s %s/%d at offset %lld: %s",
                     k ? "target" : "source", k ? p->tgt_topic : p->topic, p->partition,
                     (long long)m->offset, rd_kafka_message_errstr(m));
        } else if (m->offset > sd->last && m->offset >= sd->start && m->offset < sd->end) {
            sd->last = m->offset;
            sd->read++;
            vrec r = {.off = m->offset, .exp = -1};
            int feed = 1;
            if (k == 0) {
                r.exp = verify_expect_target(p, m->offset);
                feed = r.exp != -2;
            } else {
                feed = !verify_target_foreign(p, m->offset);
                r.tail = m->offset >= p->tgt_tail;
            }
            if (feed) {
                digest_msg(x, m, &r);
                if ((k ? verify_feed_tgt(p, &r) : verify_feed_src(p, &r)) != 0)
                    snprintf(p->error, sizeof(p->error), "out of memory");
            }
            if (m->offset >= sd->end - 1 && !sd->done)
                verify_side_done(p, k);
        }
        rd_kafka_message_destroy(m);
    }
    if (got > 0)
        p->last_progress_ms = kf_now_ms();
    return got;
}

static void progress(vctx *x, size_t finished, size_t n, int final) {
    int64_t now = kf_now_ms();
    if (!final && now - x->last_progress_ms < PROGRESS_MS)
        return;
    if (final && now - x->started_ms < PROGRESS_MS)
        return; /* short runs: the report is enough */
    x->last_progress_ms = now;
    int64_t compared = 0;
    for (size_t i = 0; i < x->rep->n; i++)
        compared += x->rep->parts[i].compared;
    double s = (double)(now - x->started_ms) / 1000.0;
    fprintf(stderr, "kferry verify: %zu/%zu partitions done, %lld records compared (%.0f/s)\n",
            finished, n, (long long)compared, s > 0 ? (double)compared / s : 0.0);
}

static void run_all(vctx *x) {
    vreport *rep = x->rep;
    size_t n = rep->n, next = 0, finished = 0, nactive = 0;
    size_t *active = calloc((size_t)x->a->parallel, sizeof(*active));
    if (!active)
        return;
    for (size_t i = 0; i < n; i++)
        if (rep->parts[i].state == VS_FINISHED)
            finished++;
    x->started_ms = x->last_progress_ms = kf_now_ms();
    while (finished < n) {
        while (nactive < (size_t)x->a->parallel && next < n) {
            vpart *p = &rep->parts[next];
            if (p->state == VS_PLANNED) {
                if (start_part(x, p) == 0)
                    active[nactive++] = next;
                else
                    finished++;
            }
            next++;
        }
        ssize_t any = 0;
        int64_t now = kf_now_ms();
        for (size_t a = 0; a < nactive;) {
            vpart *p = &rep->parts[active[a]];
            any += poll_side(x, p, 0);
            any += poll_side(x, p, 1);
            if (!p->error[0] && now - p->last_progress_ms > IDLE_TIMEOUT_MS)
                snprintf(p->error, sizeof(p->error),
                         "no progress for %d s (source at %lld of [%lld, %lld), target at %lld "
                         "of [%lld, %lld))",
                         IDLE_TIMEOUT_MS / 1000, (long long)p->side[0].last,
                         (long long)p->side[0].start, (long long)p->side[0].end,
                         (long long)p->side[1].last, (long long)p->side[1].start,
                         (long long)p->side[1].end);
            if (p->error[0] || (p->side[0].done && p->side[1].done)) {
                stop_part(x, p);
                finished++;
                active[a] = active[--nactive];
                continue;
            }
            a++;
        }
        progress(x, finished, n, 0);
        if (!any) {
            rd_kafka_poll(x->rk[0], 0);
            rd_kafka_poll(x->rk[1], 0);
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
        }
    }
    progress(x, finished, n, 1);
    free(active);
}

/* ---- command line ---------------------------------------------------------- */

static const char *g_verify_usage =
    "usage: kferry verify --config FILE [--json] [--topic REGEX] [--allow-unmirrored]\n"
    "                     [--parallel N] [--max-problems N]\n"
    "\n"
    "Compares every source record of the selected topics with its target record\n"
    "through the offset map (key, value, headers, timestamp; SHA-256).  Read-only\n"
    "on both clusters.  See docs/VERIFY.md.\n"
    "\n"
    "  --config FILE        the mirror's mm2.properties\n"
    "  --json               the report as one JSON object\n"
    "  --topic REGEX        only source topics matching REGEX (whole name, POSIX ERE)\n"
    "  --allow-unmirrored   check what is mirrored so far: source records not mirrored\n"
    "                       yet are reported, not a failure (e.g. while the mirror runs)\n"
    "  --require-complete   the default (kept for scripts): records not yet mirrored fail\n"
    "  --parallel N         partitions read at once (default 4)\n"
    "  --max-problems N     problems listed per partition (default 10, at most 100)\n"
    "\n"
    "Example: kferry verify --config mm2.properties --topic 'orders|payments'\n"
    "\n"
    "Exit status: 0 every selected source record is mirrored and matches, 1 a\n"
    "mismatch, missing or extra record, a read error, records not mirrored yet\n"
    "(unless --allow-unmirrored) or nothing selected, 2 usage or configuration error.\n";

/* also read by `kferry completion` (commands.h) */
const cli_opt verify_cli_opts[] = {{"--config", "-c", 1},
                                   {"--json", NULL, 0},
                                   {"--topic", NULL, 1},
                                   {"--require-complete", NULL, 0},
                                   {"--allow-unmirrored", NULL, 0},
                                   {"--parallel", NULL, 1},
                                   {"--max-problems", NULL, 1},
                                   {NULL, NULL, 0}};

static int parse(int argc, char **argv, vargs *a) {
    const cli_opt *opts = verify_cli_opts;
    memset(a, 0, sizeof(*a));
    a->parallel = 4;
    a->max_problems = 10;
    int i = 0, k;
    const char *v;
    while ((k = cli_next("verify", opts, argc, argv, &i, &v)) != CLI_END) {
        int64_t n;
        if (k == CLI_HELP) {
            fputs(g_verify_usage, stdout);
            return 1;
        }
        if (k == CLI_ERR)
            return -1;
        const char *o = opts[k].name;
        if (k == 0)
            a->config = v;
        else if (k == 1)
            a->json = 1;
        else if (k == 2)
            a->topic_re = v;
        else if (k == 3)
            a->require_complete = 1;
        else if (k == 4)
            a->allow_unmirrored = 1;
        else {
            int par = k == 5;
            if (kf_parse_i64(v, par ? 1 : 0, par ? 256 : VERIFY_MAX_PROBLEMS, &n)) {
                fprintf(stderr, "kferry verify: %s %s: not a number in range\n", o, v);
                return -1;
            }
            *(par ? &a->parallel : &a->max_problems) = (int)n;
        }
    }
    if (!a->config) {
        fprintf(stderr, "kferry verify: --config FILE is required\n");
        return -1;
    }
    if (a->allow_unmirrored && a->require_complete) {
        fprintf(stderr, "kferry verify: --allow-unmirrored and --require-complete contradict "
                        "each other\n");
        return -1;
    }
    return 0;
}

/* Verify's prefetch bounds, unless the user set them: librdkafka's limits
 * apply per partition with the per-partition API, and verify reads up to
 * --parallel partitions on each cluster at once. */
static void default_prop(mc_cluster *cl, const char *key, const char *value) {
    for (size_t i = 0; i < cl->nprops; i++)
        if (!strcmp(cl->props[i].key, key))
            return;
    mc_kv *n = realloc(cl->props, (cl->nprops + 1) * sizeof(*n));
    if (!n)
        return;
    cl->props = n;
    n[cl->nprops] = (mc_kv){kf_strdup(key), kf_strdup(value), MC_CLIENT_CONSUMER, NULL};
    if (n[cl->nprops].key && n[cl->nprops].value)
        cl->nprops++;
    else {
        free(n[cl->nprops].key);
        free(n[cl->nprops].value);
    }
}

int verify_main(int argc, char **argv) {
    vargs a;
    int pr = parse(argc, argv, &a);
    if (pr)
        return pr > 0 ? 0 : 2;
    regex_t re;
    int have_re = 0;
    if (a.topic_re) {
        size_t l = strlen(a.topic_re) + 8;
        char *anchored = malloc(l);
        if (!anchored)
            return 2;
        snprintf(anchored, l, "^(%s)$", a.topic_re);
        int e = regcomp(&re, anchored, REG_EXTENDED | REG_NOSUB);
        free(anchored);
        if (e) {
            char eb[256];
            regerror(e, &re, eb, sizeof(eb));
            fprintf(stderr, "kferry verify: --topic %s: %s\n", a.topic_re, eb);
            return 2;
        }
        have_re = 1;
    }
    kf_log_set_level(KF_LOG_WARNING); /* stdout is the report */
    mirror_config c;
    if (mc_load(&c, a.config) != 0) {
        mc_free(&c);
        if (have_re)
            regfree(&re);
        return 2;
    }
    clients_setup_debug(&c);
    mc_cluster *both[2] = {&c.src, &c.tgt};
    for (int k = 0; k < 2; k++) {
        default_prop(both[k], "queued.max.messages.kbytes", "32768");
        default_prop(both[k], "max.partition.fetch.bytes", "2097152");
    }
    int rc = 1;
    vreport rep = {0};
    vctx x = {.cfg = &c, .a = &a, .rep = &rep};
    offmap_init(&x.map);
    inv_init(&x.inv);
    x.md = EVP_MD_fetch(NULL, "SHA256", NULL);
    x.rec_ctx = EVP_MD_CTX_new();
    x.rk[0] = clients_consumer(&c, &c.src, "verify", 1);
    x.rk[1] = clients_consumer(&c, &c.tgt, "verify", 1);
    if (!x.md || !x.rec_ctx || !x.rk[0] || !x.rk[1]) {
        /* clients are made from the config: a bad property, key or file */
        rc = 2;
        goto out;
    }
    if (clients_probe_both(&c, x.rk[0], x.rk[1], x.err, sizeof(x.err))) {
        if (a.json)
            verify_report_error(x.err);
        goto out;
    }
    int64_t t0 = kf_now_ms();
    if (plan_all(&x, have_re ? &re : NULL)) {
        if (a.json)
            verify_report_error(x.err);
        goto out;
    }
    run_all(&x);
    rep.elapsed_ms = kf_now_ms() - t0;
    snprintf(rep.flow, sizeof(rep.flow), "%s->%s", c.src.alias, c.tgt.alias);
    snprintf(rep.map_topic, sizeof(rep.map_topic), "%s", c.map_topic);
    rep.require_complete = !a.allow_unmirrored;
    snprintf(rep.selection, sizeof(rep.selection), "%s%s%s",
             a.topic_re ? "--topic " : "the config's topics/topics.exclude",
             a.topic_re ? a.topic_re : "", a.topic_re ? " within the config's selection" : "");
    rc = verify_report_print(&rep, a.json);
out:
    for (size_t i = 0; i < rep.n; i++) {
        free((char *)rep.parts[i].topic);
        free(rep.parts[i].loop);
        free(rep.parts[i].foreign);
    }
    free(rep.parts);
    offmap_free(&x.map);
    inv_free(&x.inv);
    for (int k = 0; k < 2; k++)
        if (x.rk[k])
            rd_kafka_destroy(x.rk[k]);
    EVP_MD_CTX_free(x.rec_ctx);
    EVP_MD_free(x.md);
    if (have_re)
        regfree(&re);
    mc_free(&c);
    return rc;
}
