/*
 * progress.c - what the running mirror tells people: the periodic progress
 * line on stderr, the status record in the map topic (read by `kferry
 * status`) and the Prometheus snapshot.
 *
 * Lag uses the source high watermarks librdkafka caches from fetch
 * responses, so reporting never issues extra requests to the source.
 */
#include "common/buf.h"
#include "common/log.h"
#include "common/util.h"
#include "mirror/groupsync.h"
#include "mirror/mapstore.h"
#include "mirror/metrics.h"
#include "mirror/mirror.h"
#include "mirror/retry.h"
#include "mirror/webview.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The rate an ETA can trust: exponentially weighted over about the last
 * 10 s, counting only the seconds in which the mirror had work (lag or
 * deliveries).  The progress line's rate covers the whole status interval,
 * idle seconds included, so right after a burst it was a stale, tiny
 * number and `kferry status` promised hours for a catch-up of seconds. */
#define RECENT_TAU_MS 10000.0

/* The web view's lag chart is one series per process: every unit running
 * here (kferry.workers) stores its lag and count, and whichever ticks when
 * a sample is due records their sums. */
static pthread_mutex_t g_chart_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t g_chart_ms, g_unit_lag[256], g_unit_delivered[256];

static void chart_sample(mirror *m, int64_t now, int64_t lag) {
    int every = m->cfg->status_interval_s > 0 ? m->cfg->status_interval_s : 10;
    int u = m->cfg->unit & 255;
    int64_t sum_lag = 0, sum_delivered = 0;
    int due;
    pthread_mutex_lock(&g_chart_mu);
    g_unit_lag[u] = lag;
    g_unit_delivered[u] = m->delivered;
    due = !g_chart_ms || now - g_chart_ms >= (int64_t)every * 1000;
    if (due) {
        g_chart_ms = now;
        for (int i = 0; i < 256; i++) {
            sum_lag += g_unit_lag[i];
            sum_delivered += g_unit_delivered[i];
        }
    }
    pthread_mutex_unlock(&g_chart_mu);
    if (due)
        webview_lag_sample(kf_wall_ms(), sum_lag, sum_delivered);
}

void progress_unit_ended(int unit) {
    pthread_mutex_lock(&g_chart_mu);
    g_unit_lag[unit & 255] = 0; /* its lag is another process's now */
    pthread_mutex_unlock(&g_chart_mu);
}

static void recent_update(mirror *m, int64_t now, int64_t lag) {
    if (!m->pg.recent_ms) { /* the first tick, a second after start: count from 0 */
        m->pg.recent_ms = now - 1000;
        m->pg.recent_delivered = 0;
    }
    int64_t dt = now - m->pg.recent_ms, d = m->delivered - m->pg.recent_delivered;
    if (dt < 1000)
        return;
    m->pg.recent_ms = now;
    m->pg.recent_delivered = m->delivered;
    if (d <= 0 && lag <= 0)
        return; /* idle: says nothing about how fast the mirror catches up */
    double r = (double)d * 1000.0 / (double)dt;
    double alpha = (double)dt / (RECENT_TAU_MS + (double)dt);
    m->pg.recent_rps = m->pg.recent_rps > 0 ? m->pg.recent_rps + alpha * (r - m->pg.recent_rps) : r;
}

static int64_t part_lag(mirror *m, mpart *p) {
    int64_t lo = -1, hi = -1;
    if (p->state == P_IDLE ||
        rd_kafka_get_watermark_offsets(m->src, p->t->src, p->partition, &lo, &hi) || hi < 0)
        return -1;
    int64_t lag = hi - p->next_src;
    return (lag < 0 ? 0 : lag) + (int64_t)p->fcount + (p->tail_n - p->tail_i);
}

int64_t progress_total_lag(mirror *m) {
    int64_t total = 0;
    for (size_t i = 0; i < m->ntopics; i++)
        for (int k = 0; k < m->topics[i]->nparts; k++) {
            int64_t l = part_lag(m, m->topics[i]->parts[k]);
            if (l > 0)
                total += l;
        }
    return total;
}

__attribute__((format(printf, 2, 3))) static void addf(kf_buf *b, const char *fmt, ...) {
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n > 0)
        kf_buf_append(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void publish_metrics(mirror *m, int64_t lag) {
    kf_buf b;
    kf_buf_init(&b, 64u << 20);
    addf(&b,
         "# HELP kferry_mirror_records_total Records mirrored and acknowledged by the "
         "target.\n# TYPE kferry_mirror_records_total counter\n"
         "kferry_mirror_records_total %lld\n",
         (long long)m->delivered);
    addf(&b,
         "# HELP kferry_mirror_bytes_total Key+value bytes mirrored.\n"
         "# TYPE kferry_mirror_bytes_total counter\nkferry_mirror_bytes_total %lld\n",
         (long long)m->delivered_bytes);
    addf(&b,
         "# HELP kferry_mirror_reconciled_total Records found on the target after a "
         "restart and mapped instead of re-sent.\n"
         "# TYPE kferry_mirror_reconciled_total counter\n"
         "kferry_mirror_reconciled_total %lld\n",
         (long long)m->reconciled);
    addf(&b,
         "# HELP kferry_mirror_gaps_total Retention gaps detected.\n"
         "# TYPE kferry_mirror_gaps_total counter\nkferry_mirror_gaps_total %lld\n"
         "# HELP kferry_mirror_gap_records_total Source records lost to retention gaps.\n"
         "# TYPE kferry_mirror_gap_records_total counter\n"
         "kferry_mirror_gap_records_total %lld\n",
         (long long)m->gaps, (long long)m->gap_records);
    addf(&b,
         "# HELP kferry_mirror_transient_retries_total Transient cluster conditions met and "
         "retried (leader elections, coordinator loading, restarts, time-outs).\n"
         "# TYPE kferry_mirror_transient_retries_total counter\n"
         "kferry_mirror_transient_retries_total %lld\n",
         (long long)retry_noted(NULL, 0, NULL));
    if (m->cfg->txn)
        addf(&b,
             "# HELP kferry_mirror_transactions_committed_total Transactions this holder "
             "committed on the target (kferry.transactions.enabled).\n"
             "# TYPE kferry_mirror_transactions_committed_total counter\n"
             "kferry_mirror_transactions_committed_total %lld\n",
             (long long)m->txn_commits);
    addf(&b, "# HELP kferry_mirror_flow_holder 1 while this process holds the flow lock "
             "(writes), 0 as a standby.\n# TYPE kferry_mirror_flow_holder gauge\n"
             "kferry_mirror_flow_holder 1\n");
    addf(&b,
         "# HELP kferry_mirror_lag_records Records on the source not yet mirrored.\n"
         "# TYPE kferry_mirror_lag_records gauge\nkferry_mirror_lag_records %lld\n",
         (long long)lag);
    /* the last time the acknowledged count moved: a mirror with lag whose
     * count stands still is stalled (monitoring/prometheus/kferry-alerts.yml) */
    if (m->delivered != m->pg.prev_delivered || !m->pg.last_progress_ms) {
        m->pg.prev_delivered = m->delivered;
        m->pg.last_progress_ms = kf_wall_ms();
    }
    addf(&b,
         "# HELP kferry_mirror_last_progress_timestamp_seconds When the count of mirrored "
         "records last moved (or the mirror started).\n"
         "# TYPE kferry_mirror_last_progress_timestamp_seconds gauge\n"
         "kferry_mirror_last_progress_timestamp_seconds %.3f\n",
         (double)m->pg.last_progress_ms / 1000.0);
    addf(&b,
         "# HELP kferry_mirror_info The flow this process mirrors.\n"
         "# TYPE kferry_mirror_info gauge\nkferry_mirror_info{source=\"%s\",target=\"%s\"} 1\n",
         m->cfg->src.alias, m->cfg->tgt.alias);
    groupsync_stats gs;
    groupsync_metrics(&gs);
    addf(&b,
         "# HELP kferry_groupsync_passes_total Group offset sync passes, by outcome.\n"
         "# TYPE kferry_groupsync_passes_total counter\n"
         "kferry_groupsync_passes_total{result=\"ok\"} %lld\n"
         "kferry_groupsync_passes_total{result=\"failed\"} %lld\n"
         "# HELP kferry_groupsync_failed_groups Groups whose offsets could not be synced in "
         "the last pass.\n# TYPE kferry_groupsync_failed_groups gauge\n"
         "kferry_groupsync_failed_groups %lld\n"
         "# HELP kferry_groupsync_synced_groups Groups synced in the last pass.\n"
         "# TYPE kferry_groupsync_synced_groups gauge\nkferry_groupsync_synced_groups %lld\n"
         "# HELP kferry_groupsync_last_success_timestamp_seconds The last pass without a "
         "failure (0: none yet).\n"
         "# TYPE kferry_groupsync_last_success_timestamp_seconds gauge\n"
         "kferry_groupsync_last_success_timestamp_seconds %.3f\n",
         gs.passes_ok, gs.passes_failed, gs.failed_groups, gs.synced_groups,
         (double)gs.last_ok_ms / 1000.0);
    addf(&b, "# HELP kferry_mirror_partition_lag_records Per-partition lag.\n"
             "# TYPE kferry_mirror_partition_lag_records gauge\n");
    for (size_t i = 0; i < m->ntopics; i++)
        for (int k = 0; k < m->topics[i]->nparts; k++) {
            mpart *p = m->topics[i]->parts[k];
            int64_t l = part_lag(m, p);
            if (l >= 0)
                addf(&b,
                     "kferry_mirror_partition_lag_records{topic=\"%s\",partition=\"%d\"} "
                     "%lld\n",
                     p->t->src, k, (long long)l);
        }
    /* retention risk: how much of the source's retention.ms the records
     * still waiting have used up, from the age of the last record handed
     * over (the next to copy is at most that old); 0 when caught up, no
     * sample while the retention or that age is unknown */
    addf(&b, "# HELP kferry_mirror_partition_retention_used_ratio Age of the records waiting "
             "to be mirrored over the source topic's retention.ms (1: the source deletes "
             "them now).\n# TYPE kferry_mirror_partition_retention_used_ratio gauge\n");
    int64_t wall = kf_wall_ms();
    for (size_t i = 0; i < m->ntopics; i++) {
        mtopic *t = m->topics[i];
        if (t->gone || t->retention_ms <= 0)
            continue;
        for (int k = 0; k < t->nparts; k++) {
            mpart *p = t->parts[k];
            int64_t l = part_lag(m, p);
            if (l < 0 || (l > 0 && p->last_ts <= 0))
                continue;
            double age = l > 0 && wall > p->last_ts ? (double)(wall - p->last_ts) : 0;
            addf(&b,
                 "kferry_mirror_partition_retention_used_ratio{topic=\"%s\",partition=\"%d\"} "
                 "%.4f\n",
                 t->src, k, age / (double)t->retention_ms);
        }
    }
    if (kf_buf_ok(&b))
        metrics_publish_unit(m->cfg->unit, m->cfg->workers, (const char *)b.data, b.len);
    kf_buf_free(&b);
}

void progress_tick(mirror *m, int64_t now, int final) {
    int64_t lag = progress_total_lag(m);
    recent_update(m, now, lag);
    if (!m->pg.start_ms) {
        m->pg.start_ms = m->pg.last_ms = now;
        return;
    }
    if (m->cfg->metrics_port) {
        publish_metrics(m, lag);
        /* the web view's lag chart: one sample per status interval (10 s if 0) */
        chart_sample(m, now, lag);
    }
    int interval = m->cfg->status_interval_s;
    if (!final && (interval == 0 || now - m->pg.last_ms < (int64_t)interval * 1000)) {
        if (lag > 0)
            progress_status(m, 1, 0); /* while catching up, `kferry status` sees a fresh rate */
        return;
    }
    /* the final line reports the average of the whole run */
    int64_t since = final ? m->pg.start_ms : m->pg.last_ms;
    double dt = (double)(now - since) / 1000.0;
    if (dt <= 0)
        dt = 1;
    m->pg.rps = (double)(m->delivered - (final ? 0 : m->pg.last_delivered)) / dt;
    m->pg.bps = (double)(m->delivered_bytes - (final ? 0 : m->pg.last_bytes)) / dt;
    m->pg.last_ms = now;
    m->pg.last_delivered = m->delivered;
    m->pg.last_bytes = m->delivered_bytes;
    if (interval > 0 || final)
        kf_info("progress",
                "%s%.0f records/s, %.2f MB/s, lag %lld records, mirrored %lld records (%lld "
                "reconciled), gaps %lld, role holder",
                final ? "run average: " : "", m->pg.rps, m->pg.bps / 1e6, (long long)lag,
                (long long)m->delivered, (long long)m->reconciled, (long long)m->gaps);
    progress_status(m, !final, 0);
}

/* x rounded to one decimal: the status record carries rates as "123.4" */
static double round1(double x) {
    if (!(x > -1e15 && x < 1e15))
        return x == x ? x : 0;
    double s = x * 10;
    return (double)(long long)(s < 0 ? s - 0.5 : s + 0.5) / 10;
}

void progress_status(mirror *m, int running, int clean) {
    if (!m->map_rkt)
        return;
    double avg = m->delivered ? (double)m->delivered_bytes / (double)m->delivered : 0;
    /* compact, so readers can look for "running":true (inverse.c) */
    json_t *o = json_pack(
        "{s:s,s:s,s:I,s:f,s:f,s:f,s:f,s:I,s:I,s:I,s:I,s:b,s:b}", "flow", m->flow, "holder",
        m->holder_id, "updated_ms", (json_int_t)kf_wall_ms(), "records_per_s", round1(m->pg.rps),
        "recent_records_per_s", round1(m->pg.recent_rps), "bytes_per_s", round1(m->pg.bps),
        "avg_record_bytes", round1(avg), "records_total", (json_int_t)m->delivered, "gaps",
        (json_int_t)m->gaps, "gap_records", (json_int_t)m->gap_records, "loop_skipped",
        (json_int_t)m->skipped, "running", running, "clean", clean);
    char last[512];
    int64_t when = 0, n = retry_noted(last, sizeof(last), &when);
    if (o && n) {
        json_object_set_new(o, "transient_retries", json_integer((json_int_t)n));
        json_object_set_new(o, "last_transient", json_string(last));
        json_object_set_new(o, "last_transient_ms", json_integer((json_int_t)when));
    }
    /* what the web view and `kferry status --json` show about the sync side jobs */
    const mirror_config *c = m->cfg;
    if (o)
        json_object_set_new(o, "config_sync",
                            json_pack("{s:b,s:i,s:I,s:i,s:i,s:i}", "enabled",
                                      c->sync_topic_configs && c->sync_configs_s > 0, "interval_s",
                                      c->sync_configs_s, "last_ms", (json_int_t)m->csync_ms,
                                      "topics", m->csync_topics, "changed", m->csync_changed,
                                      "failed", m->csync_failed));
    gs_summary gs;
    groupsync_summary(&gs);
    if (o)
        json_object_set_new(o, "group_sync",
                            json_pack("{s:b,s:i,s:I,s:i,s:i,s:i,s:i,s:i}", "enabled", gs.enabled,
                                      "interval_s", gs.interval_s, "last_ms",
                                      (json_int_t)gs.last_ms, "groups", gs.groups, "committed",
                                      gs.committed, "active", gs.active, "cut_over", gs.cut_over,
                                      "failed", gs.failed));
    if (o && c->workers > 1) {
        json_object_set_new(o, "unit", json_integer(c->unit));
        json_object_set_new(o, "workers", json_integer(c->workers));
    }
    if (o)
        json_object_set_new(o, "transactions",
                            json_pack("{s:b,s:s,s:I}", "enabled", c->txn, "transactional_id",
                                      c->txn ? c->txn_id : "", "commits",
                                      (json_int_t)m->txn_commits));
    char *json = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    if (json)
        mapstore_put_status(m->prod, m->map_rkt, m->status_key, json);
    free(json);
    json_decref(o);
}
