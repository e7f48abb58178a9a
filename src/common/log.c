/*
 * log.c - leveled logging to stderr (see log.h).
 */
#include "common/log.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static int g_level = KF_LOG_INFO;
static char g_debug[256];
static char g_prefix[32] = "kferry";

void kf_log_set_level(int level) { g_level = level; }

void kf_log_set_prefix(const char *prog) { snprintf(g_prefix, sizeof(g_prefix), "%s", prog); }

int kf_log_set_debug(const char *components) {
    snprintf(g_debug, sizeof(g_debug), ",%s,", components ? components : "");
    if (components && *components && g_level < KF_LOG_DEBUG)
        g_level = KF_LOG_DEBUG;
    return 0;
}

int kf_log_debug_enabled(const char *component) {
    if (g_level < KF_LOG_DEBUG || !g_debug[1])
        return 0;
    if (strstr(g_debug, ",all,"))
        return 1;
    char key[64];
    snprintf(key, sizeof(key), ",%s,", component);
    return strstr(g_debug, key) != NULL;
}

static const char *level_name(int level) {
    switch (level) {
    case KF_LOG_ERR: return "ERROR";
    case KF_LOG_WARNING: return "WARN";
    case KF_LOG_NOTICE: return "NOTICE";
    case KF_LOG_INFO: return "INFO";
    default: return "DEBUG";
    }
}

void kf_logv(int level, const char *component, const char *fmt, va_list ap) {
    if (level > g_level)
        return;
    char msg[2048];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[32];
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ldZ %s %s [%s] %s\n", ts, (long)(tv.tv_usec / 1000), g_prefix,
            level_name(level), component, msg);
}

void kf_log(int level, const char *component, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    kf_logv(level, component, fmt, ap);
    va_end(ap);
}
