/*
 * metrics.c - the HTTP endpoint on kferry.metrics.port: /metrics (see
 * metrics.h) and the web view's paths (webview.h).
 *
 * Signals are blocked while libmicrohttpd creates its thread, so SIGTERM
 * always reaches the main thread's handler.
 */
#include "mirror/metrics.h"

#include "common/buf.h"
#include "common/log.h"
#include "mirror/webview.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct MHD_Daemon *g_mhd;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static char *g_text;
static size_t g_len;
/* kferry.workers > 1: each unit's last snapshot, merged into g_text */
static char *g_unit_text[256];

/* A NUL-terminated copy of text[0..len), or NULL. */
static char *text_copy(const char *text, size_t len) {
    char *copy = malloc(len + 1);
    if (copy) {
        memcpy(copy, text, len);
        copy[len] = 0;
    }
    return copy;
}

void metrics_publish(const char *text, size_t len) {
    if (!g_mhd)
        return;
    char *copy = text_copy(text, len);
    if (!copy)
        return;
    pthread_mutex_lock(&g_lock);
    free(g_text);
    g_text = copy;
    g_len = len;
    pthread_mutex_unlock(&g_lock);
}

/* One metric family of the merge: its HELP/TYPE lines once, then the
 * samples of every unit. */
typedef struct family {
    char name[128];
    int head_from; /* the unit whose HELP/TYPE lines head holds (-1: none yet) */
    kf_buf head, samples;
} family;

static family *family_get(family **fams, size_t *n, size_t *cap, const char *name, size_t len) {
    for (size_t i = 0; i < *n; i++)
        if (strlen((*fams)[i].name) == len && !memcmp((*fams)[i].name, name, len))
            return &(*fams)[i];
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 32;
        family *nf = realloc(*fams, nc * sizeof(*nf));
        if (!nf)
            return NULL;
        *fams = nf;
        *cap = nc;
    }
    family *f = &(*fams)[(*n)++];
    snprintf(f->name, sizeof(f->name), "%.*s", (int)len, name);
    f->head_from = -1;
    kf_buf_init(&f->head, 0);
    kf_buf_init(&f->samples, 0);
    return f;
}

/* Prometheus wants each family's lines together: regroups the units'
 * snapshots by family and labels every sample with its unit. */
static void merge_units(kf_buf *out) {
    family *fams = NULL;
    size_t n = 0, cap = 0;
    for (int u = 0; u < 256; u++) {
        const char *t = g_unit_text[u];
        family *cur = NULL;
        while (t && *t) {
            const char *nl = strchr(t, '\n');
            size_t ll = nl ? (size_t)(nl - t) : strlen(t);
            if (ll > 7 && (!strncmp(t, "# HELP ", 7) || !strncmp(t, "# TYPE ", 7))) {
                const char *nm = t + 7, *sp = memchr(nm, ' ', ll - 7);
                size_t nl2 = sp ? (size_t)(sp - nm) : ll - 7;
                cur = family_get(&fams, &n, &cap, nm, nl2);
                if (cur && (cur->head_from < 0 || cur->head_from == u)) {
                    cur->head_from = u; /* the first unit's HELP and TYPE */
                    kf_buf_append(&cur->head, t, ll);
                    kf_buf_append(&cur->head, "\n", 1);
                }
            } else if (ll && t[0] != '#') {
                size_t nl2 = strcspn(t, "{ ");
                if (!cur || strlen(cur->name) != nl2 || strncmp(cur->name, t, nl2))
                    cur = family_get(&fams, &n, &cap, t, nl2 < ll ? nl2 : ll);
                if (cur) {
                    char lab[32];
                    int lablen = snprintf(lab, sizeof(lab), "unit=\"%d\"", u);
                    kf_buf_append(&cur->samples, t, nl2);
                    if (nl2 < ll && t[nl2] == '{') {
                        kf_buf_append(&cur->samples, "{", 1);
                        kf_buf_append(&cur->samples, lab, (size_t)lablen);
                        kf_buf_append(&cur->samples, ",", 1);
                        kf_buf_append(&cur->samples, t + nl2 + 1, ll - nl2 - 1);
                    } else {
                        kf_buf_append(&cur->samples, "{", 1);
                        kf_buf_append(&cur->samples, lab, (size_t)lablen);
                        kf_buf_append(&cur->samples, "}", 1);
                        kf_buf_append(&cur->samples, t + nl2, ll - nl2);
                    }
                    kf_buf_append(&cur->samples, "\n", 1);
                }
            }
            t = nl ? nl + 1 : t + ll;
        }
    }
    for (size_t i = 0; i < n; i++) {
        kf_buf_append(out, fams[i].head.data, fams[i].head.len);
        kf_buf_append(out, fams[i].samples.data, fams[i].samples.len);
        kf_buf_free(&fams[i].head);
        kf_buf_free(&fams[i].samples);
    }
    free(fams);
}

void metrics_publish_unit(int unit, int units, const char *text, size_t len) {
    if (units <= 1) {
        metrics_publish(text, len);
        return;
    }
    if (!g_mhd || unit < 0 || unit > 255)
        return;
    char *copy = text_copy(text, len);
    if (!copy)
        return;
    kf_buf b;
    kf_buf_init(&b, 0);
    pthread_mutex_lock(&g_lock);
    free(g_unit_text[unit]);
    g_unit_text[unit] = copy;
    merge_units(&b);
    if (kf_buf_ok(&b)) {
        free(g_text);
        g_text = (char *)b.data;
        g_len = b.len;
        b.data = NULL;
    }
    pthread_mutex_unlock(&g_lock);
    kf_buf_free(&b);
}

void metrics_unit_ended(int unit) {
    if (unit < 0 || unit > 255)
        return;
    pthread_mutex_lock(&g_lock);
    free(g_unit_text[unit]);
    g_unit_text[unit] = NULL;
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
    for (int u = 0; u < 256; u++) {
        free(g_unit_text[u]);
        g_unit_text[u] = NULL;
    }
}
