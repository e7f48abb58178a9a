/*
 * webview.c - the web view's HTTP answers, its status thread and the lag
 * ring (see webview.h).
 */
#include "mirror/webview.h"

#include "common/log.h"
#include "common/util.h"
#include "mirror/clients.h"
#include "mirror/status.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* src/mirror/web/ as C arrays (generated at build time: web/embed.cmake) */
extern const unsigned char km_web_index_html[], km_web_app_js[], km_web_app_css[];
extern const size_t km_web_index_html_len, km_web_app_js_len, km_web_app_css_len;

#define WV_REFRESH_MS 2000 /* a document younger than this is served as is */
#define WV_WATCH_MS 10000  /* keep refreshing this long after the last request */
#define WV_WAIT_MS 15000   /* a request with no fresh document waits at most this */
#define WV_RING 720        /* lag samples kept (2 h at the tests' 10 s interval) */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t want_cv, done_cv; /* want: a request wants a document; done: one is ready */
    pthread_t th;
    int started;
    int stop;
    mirror_config *c;
    char *doc;      /* the last status document ("" never) */
    int64_t doc_ms; /* monotonic time it was finished */
    uint64_t gen;   /* documents computed, failures included */
    int64_t last_req_ms;
    int want;
    /* lag ring */
    struct {
        int64_t t, lag, delivered;
    } ring[WV_RING];
    size_t rhead, rn;
    int interval_s;
} g_wv = {.mu = PTHREAD_MUTEX_INITIALIZER,
          .want_cv = PTHREAD_COND_INITIALIZER,
          .done_cv = PTHREAD_COND_INITIALIZER};

void webview_lag_sample(int64_t wall_ms, int64_t lag, int64_t delivered) {
    pthread_mutex_lock(&g_wv.mu);
    size_t i = (g_wv.rhead + g_wv.rn) % WV_RING;
    if (g_wv.rn == WV_RING)
        g_wv.rhead = (g_wv.rhead + 1) % WV_RING;
    else
        g_wv.rn++;
    g_wv.ring[i].t = wall_ms;
    g_wv.ring[i].lag = lag;
    g_wv.ring[i].delivered = delivered;
    pthread_mutex_unlock(&g_wv.mu);
}

/* absolute CLOCK_REALTIME deadline ms from now, for pthread_cond_timedwait */
static struct timespec deadline_in(int ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static void *run(void *arg) {
    mirror_config *c = g_wv.c;
    rd_kafka_t *src = NULL, *tgt = NULL;
    pthread_mutex_lock(&g_wv.mu);
    while (!g_wv.stop) {
        int64_t now = kf_now_ms();
        int watched = g_wv.last_req_ms && now - g_wv.last_req_ms < WV_WATCH_MS;
        int stale = !g_wv.doc || now - g_wv.doc_ms >= WV_REFRESH_MS;
        if (!(g_wv.want || (watched && stale))) {
            if (!watched && src) { /* nobody looks: no connections either */
                pthread_mutex_unlock(&g_wv.mu);
                rd_kafka_destroy(src);
                rd_kafka_destroy(tgt);
                src = tgt = NULL;
                pthread_mutex_lock(&g_wv.mu);
                continue;
            }
            struct timespec ts = deadline_in(watched ? 250 : 1000);
            pthread_cond_timedwait(&g_wv.want_cv, &g_wv.mu, &ts);
            continue;
        }
        g_wv.want = 0;
        pthread_mutex_unlock(&g_wv.mu);
        if (!src || !tgt) {
            if (src)
                rd_kafka_destroy(src);
            if (tgt)
                rd_kafka_destroy(tgt);
            src = clients_consumer(c, &c->src, "webview", 1);
            tgt = clients_consumer(c, &c->tgt, "webview", 1);
        }
        char *doc = src && tgt ? status_document(c, src, tgt) : NULL;
        if (!doc && src && tgt) { /* start afresh next time (a cluster may have moved) */
            rd_kafka_destroy(src);
            rd_kafka_destroy(tgt);
            src = tgt = NULL;
        }
        pthread_mutex_lock(&g_wv.mu);
        if (doc) {
            free(g_wv.doc);
            g_wv.doc = doc;
            g_wv.doc_ms = kf_now_ms();
        }
        g_wv.gen++;
        pthread_cond_broadcast(&g_wv.done_cv);
        if (!doc) { /* do not hammer a cluster that does not answer */
            struct timespec ts = deadline_in(WV_REFRESH_MS);
            while (!g_wv.stop && pthread_cond_timedwait(&g_wv.want_cv, &g_wv.mu, &ts) == 0)
                ;
        }
    }
    pthread_mutex_unlock(&g_wv.mu);
    if (src)
        rd_kafka_destroy(src);
    if (tgt)
        rd_kafka_destroy(tgt);
    return NULL;
}

int webview_start(mirror_config *c) {
    pthread_mutex_lock(&g_wv.mu);
    g_wv.c = c;
    g_wv.stop = 0;
    g_wv.interval_s = c->status_interval_s > 0 ? c->status_interval_s : 10;
    pthread_mutex_unlock(&g_wv.mu);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old); /* inherited by the thread */
    int e = pthread_create(&g_wv.th, NULL, run, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e) {
        kf_err("webview", "cannot start the web view's status thread: %s", strerror(e));
        return -1;
    }
    pthread_mutex_lock(&g_wv.mu);
    g_wv.started = 1;
    pthread_mutex_unlock(&g_wv.mu);
    return 0;
}

void webview_stop(void) {
    if (!g_wv.started)
        return;
    pthread_mutex_lock(&g_wv.mu);
    g_wv.stop = 1;
    pthread_cond_broadcast(&g_wv.want_cv);
    pthread_cond_broadcast(&g_wv.done_cv);
    pthread_mutex_unlock(&g_wv.mu);
    pthread_join(g_wv.th, NULL);
    pthread_mutex_lock(&g_wv.mu);
    g_wv.started = 0;
    free(g_wv.doc);
    g_wv.doc = NULL;
    g_wv.doc_ms = 0;
    g_wv.last_req_ms = 0;
    g_wv.rn = g_wv.rhead = 0;
    pthread_mutex_unlock(&g_wv.mu);
}

static int reply_copy(wv_reply *r, unsigned status, const char *type, const void *data,
                      size_t len) {
    r->status = status;
    r->type = type;
    r->body = malloc(len + 1);
    r->len = r->body ? len : 0;
    if (r->body) {
        memcpy(r->body, data, len);
        r->body[len] = 0;
    }
    return 1;
}

#define JSON_TYPE "application/json; charset=utf-8"

static int serve_status(wv_reply *r) {
    pthread_mutex_lock(&g_wv.mu);
    int64_t now = kf_now_ms();
    g_wv.last_req_ms = now;
    if (g_wv.started && (!g_wv.doc || now - g_wv.doc_ms >= WV_REFRESH_MS)) {
        uint64_t gen = g_wv.gen;
        g_wv.want = 1;
        pthread_cond_signal(&g_wv.want_cv);
        struct timespec ts = deadline_in(WV_WAIT_MS);
        while (g_wv.gen == gen && !g_wv.stop &&
               pthread_cond_timedwait(&g_wv.done_cv, &g_wv.mu, &ts) == 0)
            ;
    }
    if (g_wv.doc) {
        reply_copy(r, 200, JSON_TYPE, g_wv.doc, strlen(g_wv.doc));
    } else {
        static const char e[] = "{\"error\":\"status not available yet: the clusters did not "
                                "answer (see kferry's log)\"}\n";
        reply_copy(r, 503, JSON_TYPE, e, sizeof(e) - 1);
    }
    pthread_mutex_unlock(&g_wv.mu);
    return 1;
}

static int serve_history(wv_reply *r) {
    pthread_mutex_lock(&g_wv.mu);
    size_t cap = 96 + g_wv.rn * 72;
    char *b = malloc(cap);
    size_t n = 0;
    if (b) {
        n += (size_t)snprintf(b + n, cap - n, "{\"interval_s\":%d,\"capacity\":%d,\"samples\":[",
                              g_wv.interval_s, WV_RING);
        for (size_t i = 0; i < g_wv.rn && n < cap; i++) {
            size_t k = (g_wv.rhead + i) % WV_RING;
            n += (size_t)snprintf(b + n, cap - n, "%s{\"t\":%lld,\"lag\":%lld,\"mirrored\":%lld}",
                                  i ? "," : "", (long long)g_wv.ring[k].t,
                                  (long long)g_wv.ring[k].lag, (long long)g_wv.ring[k].delivered);
        }
        if (n < cap)
            n += (size_t)snprintf(b + n, cap - n, "]}\n");
    }
    pthread_mutex_unlock(&g_wv.mu);
    if (!b || n >= cap) {
        free(b);
        static const char e[] = "{\"error\":\"out of memory\"}\n";
        return reply_copy(r, 500, JSON_TYPE, e, sizeof(e) - 1);
    }
    r->status = 200;
    r->type = JSON_TYPE;
    r->body = b;
    r->len = n;
    return 1;
}

int webview_serve(const char *url, wv_reply *r) {
    memset(r, 0, sizeof(*r));
    if (!strcmp(url, "/") || !strcmp(url, "/index.html"))
        return reply_copy(r, 200, "text/html; charset=utf-8", km_web_index_html,
                          km_web_index_html_len);
    if (!strcmp(url, "/app.js"))
        return reply_copy(r, 200, "text/javascript; charset=utf-8", km_web_app_js,
                          km_web_app_js_len);
    if (!strcmp(url, "/app.css"))
        return reply_copy(r, 200, "text/css; charset=utf-8", km_web_app_css, km_web_app_css_len);
    if (!strcmp(url, "/api/status"))
        return serve_status(r);
    if (!strcmp(url, "/api/lag-history"))
        return serve_history(r);
    return 0;
}
