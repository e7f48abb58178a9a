/*
 * metrics.c - the HTTP endpoint on kferry.metrics.port: /metrics (see
 * metrics.h) and the web view's paths (webview.h).
 *
 * Signals are blocked while libmicrohttpd creates its thread, so SIGTERM
 * always reaches the main thread's handler.
 */
#include "mirror/metrics.h"

#include "common/log.h"
#include "mirror/webview.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static struct MHD_Daemon *g_mhd;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static char *g_text;
static size_t g_len;

void metrics_publish(const char *text, size_t len) {
    if (!g_mhd)
        return;
    char *copy = malloc(len + 1);
    if (!copy)
        return;
    memcpy(copy, text, len);
    copy[len] = 0;
    pthread_mutex_lock(&g_lock);
    free(g_text);
    g_text = copy;
    g_len = len;
    pthread_mutex_unlock(&g_lock);
}

/* on every answer: no type sniffing, nothing but this origin (webview.h) */
static void add_headers(struct MHD_Response *resp, const char *type) {
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; script-src 'self'; style-src 'self'; "
                            "img-src 'self'; connect-src 'self'; object-src 'none'; "
                            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls) {
    struct MHD_Response *resp;
    unsigned status = MHD_HTTP_OK;
    wv_reply wr;
    if (strcmp(method, "GET") == 0 && strcmp(url, "/metrics") == 0) {
        pthread_mutex_lock(&g_lock);
        resp = MHD_create_response_from_buffer(g_len, g_text ? g_text : (char *)"",
                                               MHD_RESPMEM_MUST_COPY);
        pthread_mutex_unlock(&g_lock);
        add_headers(resp, "text/plain; version=0.0.4; charset=utf-8");
    } else if (strcmp(method, "GET") == 0 && webview_serve(url, &wr)) {
        status = wr.status;
        resp = wr.body ? MHD_create_response_from_buffer(wr.len, wr.body, MHD_RESPMEM_MUST_FREE)
                       : MHD_create_response_from_buffer(0, (char *)"", MHD_RESPMEM_PERSISTENT);
        if (!wr.body)
            status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        add_headers(resp, wr.type ? wr.type : "text/plain; charset=utf-8");
    } else {
        static const char nf[] = "not found; try /metrics, / (the web view), /api/status or "
                                 "/api/lag-history\n";
        status = strcmp(method, "GET") ? MHD_HTTP_METHOD_NOT_ALLOWED : MHD_HTTP_NOT_FOUND;
        resp = MHD_create_response_from_buffer(sizeof(nf) - 1, (void *)nf, MHD_RESPMEM_PERSISTENT);
        add_headers(resp, "text/plain; charset=utf-8");
    }
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

int metrics_start(mirror_config *c) {
    if (c->metrics_port == 0)
        return 0;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)c->metrics_port);
    if (inet_pton(AF_INET, c->metrics_bind, &sa.sin_addr) != 1) {
        kf_err("metrics", "kferry.metrics.bind=%s: not an IPv4 address", c->metrics_bind);
        return -1;
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    /* a thread per connection: /api/status may wait for the status thread
     * (webview.c) without holding up /metrics */
    g_mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
                             (uint16_t)c->metrics_port, NULL, NULL, handler, NULL,
                             MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_CONNECTION_LIMIT, 32u,
                             MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!g_mhd) {
        kf_err("metrics", "cannot listen on %s:%d", c->metrics_bind, c->metrics_port);
        return -1;
    }
    kf_notice("metrics", "Prometheus metrics on http://%s:%d/metrics, web view on http://%s:%d/",
              c->metrics_bind, c->metrics_port, c->metrics_bind, c->metrics_port);
    if (webview_start(c) != 0)
        kf_warn("metrics", "the web view's /api/status is not available");
    return 0;
}

void metrics_stop(void) {
    webview_stop(); /* first: it wakes requests waiting for a status document */
    if (g_mhd)
        MHD_stop_daemon(g_mhd);
    g_mhd = NULL;
    free(g_text);
    g_text = NULL;
    g_len = 0;
}
