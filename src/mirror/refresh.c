/*
 * refresh.c - periodic topic discovery: selects source topics, creates or
 * grows their target topics and starts replicating new partitions.
 *
 * Excluded topics are logged once each, so nothing is skipped silently.
 * A topic whose target cannot be created is retried at the next refresh.
 */
#include "common/log.h"
#include "common/util.h"
#include "mirror/flowlock.h"
#include "mirror/mirror.h"
#include "mirror/topics.h"

#include <stdlib.h>
#include <string.h>

static void note_excluded(mirror *m, const char *topic, const char *reason) {
    for (size_t i = 0; i < m->nnoted; i++)
        if (!strcmp(m->noted[i], topic))
            return;
    char **nn = realloc(m->noted, (m->nnoted + 1) * sizeof(*nn));
    if (!nn)
        return;
    m->noted = nn;
    nn[m->nnoted++] = kf_strdup(topic);
    kf_info("topics", "not mirrored: %s (%s)", topic, reason);
}

static mtopic *find_topic(mirror *m, const char *src) {
    for (size_t i = 0; i < m->ntopics; i++)
        if (!strcmp(m->topics[i]->src, src))
            return m->topics[i];
    return NULL;
}

static mtopic *add_topic(mirror *m, const char *src, const char *tgt) {
    mtopic **nt = realloc(m->topics, (m->ntopics + 1) * sizeof(*nt));
    if (!nt)
        return NULL;
    m->topics = nt;
    mtopic *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->src = kf_strdup(src);
    t->tgt = kf_strdup(tgt);
    t->retention_ms = INT64_MIN;
    /* the topic opaque lets the consume loop find its mtopic in O(1) */
    rd_kafka_topic_conf_t *tc = rd_kafka_default_topic_conf_dup(m->src);
    rd_kafka_topic_conf_set_opaque(tc, t);
    t->src_rkt = rd_kafka_topic_new(m->src, src, tc);
    t->tgt_rkt = rd_kafka_topic_new(m->prod, tgt, NULL);
    if (!t->src || !t->tgt || !t->src_rkt || !t->tgt_rkt) {
        kf_err("topics", "%s: cannot create topic handles", src);
        return NULL;
    }
    m->topics[m->ntopics++] = t;
    return t;
}

/* Grows t to n partitions (new ones idle). 0 or -1. */
static int add_parts(mirror *m, mtopic *t, int n) {
    mpart **np = realloc(t->parts, (size_t)n * sizeof(*np));
    if (!np)
        return -1;
    t->parts = np;
    for (int k = t->nparts; k < n; k++) {
        mpart *p = calloc(1, sizeof(*p));
        if (!p)
            return -1;
        p->t = t;
        p->partition = k;
        p->map = offmap_get(&m->map, t->src, t->tgt, k, 1);
        if (!p->map || refresh_loop_attach(m, p) != 0) {
            free(p);
            return -1;
        }
        t->parts[t->nparts++] = p;
    }
    return 0;
}

int refresh_loop_attach(mirror *m, mpart *p) {
    free(p->loop);
    free(p->foreign);
    p->loop = p->foreign = NULL;
    p->nloop = p->nforeign = p->loop_i = 0;
    if (inv_loop_ranges(&m->inv, p->t->src, p->t->tgt, p->partition, &p->loop, &p->nloop) ||
        inv_foreign_ranges(&m->inv, p->t->tgt, p->partition, &p->foreign, &p->nforeign))
        return -1;
    return 0;
}

void refresh_opposite(mirror *m) {
    int64_t hwm = inv_hwm(m->cfg, m->src_reader);
    if (hwm < -1 || hwm == m->inv.hwm)
        return; /* unreadable now (checked again next time) or unchanged */
    char err[512], why[64];
    int64_t before = inv_mapped_total(&m->inv, m->cfg);
    if (inv_update(m->cfg, m->src_reader, &m->inv, err, sizeof(err)) != 0) {
        kf_warn("mirror", "cannot read the opposite flow's map %s again: %s (retrying)",
                m->cfg->opposite_map_topic, err);
        return;
    }
    int64_t now = inv_mapped_total(&m->inv, m->cfg);
    /* status records only (an opposite flow that started, saw this one
     * running and refused: it says "running" before it looks), or topics
     * this flow does not touch (active-active on distinct topics) */
    if (now == before) {
        kf_debug("mirror", "the opposite flow's map %s changed (status or other topics only)",
                 m->cfg->opposite_map_topic);
        return;
    }
    snprintf(why, sizeof(why), "%lld new record(s) in its map", (long long)(now - before));
    /* The opposite flow wrote data since we started: it runs at the same
     * time, and records it wrote but has not mapped yet would come back. */
    mirror_fatal(m, 1,
                 "the opposite flow %s->%s wrote to %s while this flow runs (%s); kferry does not "
                 "mirror both directions at once: stop one of them",
                 m->cfg->tgt.alias, m->cfg->src.alias, m->cfg->opposite_map_topic, why);
}

/* With kferry.workers > 1 this engine runs only its unit's partitions;
 * the others stay idle here (another thread or process runs them). */
static int owned(const mirror *m, const mpart *p) {
    return m->cfg->workers <= 1 ||
           (int)fl_unit_of(p->t->src, p->partition, m->cfg->workers) == m->cfg->unit;
}

int refresh_topics(mirror *m) {
    topic_list src, tgt;
    if (topics_list(m->src, &src, 15000) != 0)
        return -1;
    if (topics_list(m->prod, &tgt, 15000) != 0) {
        topics_list_free(&src);
        return -1;
    }
    if (tgt.brokers > 0)
        m->brokers = tgt.brokers;
    size_t cap = 64, nstart = 0;
    mpart **start = malloc(cap * sizeof(*start));
    for (size_t i = 0; i < src.n && start && !m->fatal; i++) {
        const topic_info *ti = &src.t[i];
        const char *reason = NULL;
        if (!mc_topic_selected(m->cfg, ti->name, &reason)) {
            note_excluded(m, ti->name, reason);
            continue;
        }
        char tname[256];
        if (mc_target_topic(m->cfg, ti->name, tname, sizeof(tname)) != 0) {
            note_excluded(m, ti->name, "target topic name longer than 249 characters");
            continue;
        }
        mtopic *t = find_topic(m, ti->name);
        if (t && t->nparts >= ti->partitions)
            continue;
        const topic_info *tt = topics_find(&tgt, tname);
        if (!tt) {
            if (topics_create(m->cfg, m->src, m->prod, ti->name, tname, ti->partitions,
                              m->brokers) != 0)
                continue;
        } else if (tt->partitions < ti->partitions) {
            if (topics_grow(m->prod, tname, ti->partitions) != 0)
                continue;
        } else if (!t) {
            kf_info("topics", "%s: target topic %s exists (%d partitions)", ti->name, tname,
                    tt->partitions);
        }
        /* librdkafka would reject partitions its cached metadata lacks */
        for (int i2 = 0; i2 < 50 && topics_partition_count(m->prod, tname, 5000) < ti->partitions;
             i2++)
            rd_kafka_poll(m->prod, 100);
        if (!t) {
            t = add_topic(m, ti->name, tname);
            if (!t)
                continue;
        } else {
            kf_notice("topics", "%s: partitions %d -> %d", ti->name, t->nparts, ti->partitions);
        }
        int first = t->nparts;
        if (add_parts(m, t, ti->partitions) != 0) {
            mirror_fatal(m, 1, "out of memory");
            break;
        }
        for (int k = first; k < t->nparts; k++) {
            if (!owned(m, t->parts[k]))
                continue;
            if (nstart == cap) {
                mpart **ns = realloc(start, cap * 2 * sizeof(*ns));
                if (!ns)
                    break;
                start = ns;
                cap *= 2;
            }
            start[nstart++] = t->parts[k];
        }
    }
    /* Partitions whose start failed earlier are retried too. */
    for (size_t i = 0; i < m->ntopics && start; i++) {
        mtopic *t = m->topics[i];
        int gone = topics_find(&src, t->src) == NULL;
        if (gone && !t->gone) {
            /* stop fetching; the target topic and the map stay as they are */
            kf_warn("topics",
                    "source topic %s disappeared: its partitions are stopped; the "
                    "target topic %s and its offset map are kept",
                    t->src, t->tgt);
            for (int k = 0; k < t->nparts; k++)
                if (t->parts[k]->state == P_RUNNING) {
                    rd_kafka_consume_stop(t->src_rkt, k);
                    t->parts[k]->state = P_IDLE;
                }
        } else if (!gone && t->gone) {
            /* a recreated topic restarts at offset 0: resuming at the old
             * position would silently skip its first records */
            mirror_fatal(m, 1,
                         "source topic %s disappeared and is back (recreated?): its offsets no "
                         "longer match the offset map of %s; delete or rename the target topic "
                         "and its map entries before mirroring it again",
                         t->src, t->tgt);
        }
        t->gone = gone;
        for (int k = 0; k < t->nparts; k++) {
            mpart *p = t->parts[k];
            int listed = 0;
            for (size_t j = 0; j < nstart; j++)
                listed |= start[j] == p;
            if (p->state == P_IDLE && !listed && !t->gone && nstart < cap && owned(m, p))
                start[nstart++] = p;
        }
    }
    if (!m->ntopics && !m->warned_empty) {
        kf_warn("topics",
                "no source topic is selected: %zu topic(s) on %s (%s), none matched by "
                "'topics' and not 'topics.exclude' (see the \"not mirrored\" lines); mirroring "
                "nothing until one appears",
                src.n, m->cfg->src.alias, mc_bootstrap(&m->cfg->src));
        m->warned_empty = 1;
    } else if (m->ntopics) {
        m->warned_empty = 0;
    }
    if (nstart && !m->fatal)
        reconcile_start(m, start, nstart);
    free(start);
    topics_list_free(&src);
    topics_list_free(&tgt);
    return 0;
}
