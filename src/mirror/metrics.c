/*
 * metrics.c - the /metrics HTTP endpoint (see metrics.h).
 *
 * Signals are blocked while libmicrohttpd creates its thread, so SIGTERM
 * always reaches the main thread's handler.
 */
#include "mirror/metrics.h"

#include "common/log.h"

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

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls) {
    struct MHD_Response *resp;
    unsigned status = MHD_HTTP_OK;
    if (strcmp(method, "GET") != 0 || strcmp(url, "/metrics") != 0) {
        static const char nf[] = "not found; try /metrics\n";
        status = strcmp(method, "GET") ? MHD_HTTP_METHOD_NOT_ALLOWED : MHD_HTTP_NOT_FOUND;
        resp = MHD_create_response_from_buffer(sizeof(nf) - 1, (void *)nf, MHD_RESPMEM_PERSISTENT);
    } else {
        pthread_mutex_lock(&g_lock);
        resp = MHD_create_response_from_buffer(g_len, g_text ? g_text : (char *)"",
                                               MHD_RESPMEM_MUST_COPY);
        pthread_mutex_unlock(&g_lock);
        MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4");
    }
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

int metrics_start(const mirror_config *c) {
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
    g_mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)c->metrics_port, NULL, NULL,
                             handler, NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!g_mhd) {
        kf_err("metrics", "cannot listen on %s:%d", c->metrics_bind, c->metrics_port);
        return -1;
    }
    kf_notice("metrics", "Prometheus metrics on http://%s:%d/metrics", c->metrics_bind,
              c->metrics_port);
    return 0;
}

void metrics_stop(void) {
    if (g_mhd)
        MHD_stop_daemon(g_mhd);
    g_mhd = NULL;
    free(g_text);
    g_text = NULL;
    g_len = 0;
}
