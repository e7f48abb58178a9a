/*
 * webview.h - the live web view next to /metrics on kferry.metrics.port:
 * the page (/, /app.js, /app.css: src/mirror/web/, embedded at build time),
 * /api/status (the document of `kferry status --json`, status_document())
 * and /api/lag-history (a ring of total-lag samples taken by progress.c).
 *
 * Threading: /api/status is computed by a thread of its own with its own
 * read-only consumers, only while someone asks for it (refreshed at most
 * every 2 s, stopped 10 s after the last request), so browsers never cost
 * the clusters more than one status computation per 2 s and the copy loop
 * never waits for them.  The HTTP threads only copy results out under a
 * lock.
 */
#ifndef KF_MIRROR_WEBVIEW_H
#define KF_MIRROR_WEBVIEW_H

#include "mirror/config.h"

#include <stddef.h>
#include <stdint.h>

/* Called by metrics_start/metrics_stop. */
int webview_start(mirror_config *c);
void webview_stop(void);

/* Adds a sample of the mirror's total lag (records) and records mirrored so
 * far at wall-clock time wall_ms (main thread; cheap). */
void webview_lag_sample(int64_t wall_ms, int64_t lag, int64_t delivered);

typedef struct wv_reply {
    unsigned status;  /* HTTP status */
    const char *type; /* Content-Type */
    char *body;       /* malloc'd */
    size_t len;
} wv_reply;

/* Answers GET url if it belongs to the web view: 1 (reply filled; free
 * reply->body), 0 if not one of its paths. */
int webview_serve(const char *url, wv_reply *reply);

#endif
