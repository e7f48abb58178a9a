/*
 * log.c - leveled logging to stderr (see log.h).
 *
 * A line is rendered completely into memory first and then handed to
 * write(2) in one call: stderr is unbuffered, and one write per line is
 * what keeps lines of concurrent threads (kferry's, librdkafka's) whole.
 * For pipes that holds up to PIPE_BUF bytes per line; messages are cut at
 * 2047 bytes, so text lines always fit, and json lines do unless the
 * message needs much escaping.
 */
#include "common/log.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static int g_level = KF_LOG_INFO;
static int g_format = KF_LOG_FORMAT_TEXT;
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

int kf_log_format_parse(const char *s) {
    if (s && strcmp(s, "text") == 0)
        return KF_LOG_FORMAT_TEXT;
    if (s && strcmp(s, "json") == 0)
        return KF_LOG_FORMAT_JSON;
    return -1;
}

void kf_log_set_format(int format) {
    g_format = format == KF_LOG_FORMAT_JSON ? KF_LOG_FORMAT_JSON : KF_LOG_FORMAT_TEXT;
}

int kf_log_get_format(void) { return g_format; }

int kf_log_format_setup(const char *prog, const char *cli_value) {
    const char *v = cli_value;
    const char *from = "--log-format";
    if (!v) {
        v = getenv("KFERRY_LOG_FORMAT");
        from = "KFERRY_LOG_FORMAT";
        if (!v || !*v) {
            kf_log_set_format(KF_LOG_FORMAT_TEXT);
            return 0;
        }
    }
    int f = kf_log_format_parse(v);
    if (f < 0) {
        fprintf(stderr, "%s: %s '%s': expected text or json\n", prog, from, v);
        return -1;
    }
    kf_log_set_format(f);
    return 0;
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

static const char *level_json(int level) {
    switch (level) {
    case KF_LOG_ERR: return "error";
    case KF_LOG_WARNING: return "warn";
    case KF_LOG_NOTICE: return "notice";
    case KF_LOG_INFO: return "info";
    default: return "debug";
    }
}

/* Length of the well-formed UTF-8 sequence at s (n bytes left), 0 if the
 * byte at s does not start one (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

size_t kf_utf8_sanitize(const char *in, size_t n, char *out, size_t cap) {
    const unsigned char *s = (const unsigned char *)in;
    size_t o = 0;
    if (cap == 0)
        return 0;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq(s + i, n - i);
        const char *src = l ? in + i : "\xEF\xBF\xBD";
        size_t sl = l ? l : 3;
        if (o + sl + 1 > cap)
            break;
        memcpy(out + o, src, sl);
        o += sl;
        i += l ? l : 1;
    }
    out[o] = '\0';
    return o;
}

/* A JSON string of s, whatever its bytes. */
static json_t *jstr(const char *s) {
    if (!s)
        s = "";
    size_t n = strlen(s);
    int ok = 1;
    for (size_t i = 0; i < n && ok;) {
        size_t l = utf8_seq((const unsigned char *)s + i, n - i);
        ok = l != 0;
        i += l;
    }
    if (ok) {
        json_t *j = json_stringn(s, n);
        if (j)
            return j;
    }
    size_t cap = 3 * n + 1;
    char *fixed = malloc(cap);
    json_t *j = NULL;
    if (fixed) {
        size_t fl = kf_utf8_sanitize(s, n, fixed, cap);
        j = json_stringn(fixed, fl);
        free(fixed);
    }
    return j ? j : json_string("(unencodable)");
}

static int set_str(json_t *o, const char *key, const char *v) {
    json_t *j = jstr(v);
    return j ? json_object_set_new(o, key, j) : -1;
}

static void format_time(const struct timeval *tv, char *ts, size_t cap) {
    struct tm tm;
    time_t sec = tv->tv_sec;
    gmtime_r(&sec, &tm);
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    int ms = (int)((tv->tv_usec / 1000) % 1000);
    snprintf(ts, cap, "%s.%03dZ", base, ms < 0 ? 0 : ms);
}

/* buf (if the line fits in cap bytes) or a malloc'd copy of the first
 * len bytes of src plus a newline. */
static char *place(const char *src, size_t len, char *buf, size_t cap, size_t *outlen) {
    char *dst = len + 2 <= cap ? buf : malloc(len + 2);
    if (!dst)
        return NULL;
    if (dst != src)
        memmove(dst, src, len);
    dst[len] = '\n';
    dst[len + 1] = '\0';
    *outlen = len + 1;
    return dst;
}

static char *render_json(int level, const char *component, const char *const *kv, const char *msg,
                         const char *ts, char *buf, size_t cap, size_t *len) {
    json_t *o = json_object();
    if (!o)
        return NULL;
    int bad = 0;
    bad |= set_str(o, "time", ts);
    bad |= set_str(o, "level", level_json(level));
    bad |= set_str(o, "component", component);
    bad |= set_str(o, "message", msg);
    bad |= set_str(o, "program", g_prefix);
    bad |= json_object_set_new(o, "pid", json_integer((json_int_t)getpid()));
    pid_t tid = gettid();
    if (tid != getpid()) {
        char name[32] = "";
        if (pthread_getname_np(pthread_self(), name, sizeof(name)) != 0)
            name[0] = '\0';
        if (name[0])
            bad |= set_str(o, "thread", name);
        bad |= json_object_set_new(o, "tid", json_integer((json_int_t)tid));
    }
    for (size_t i = 0; kv && kv[i] && kv[i + 1]; i += 2)
        if (!json_object_get(o, kv[i])) /* never overwrite the fixed fields */
            bad |= set_str(o, kv[i], kv[i + 1]);
    char *out = NULL;
    if (!bad) {
        size_t need = json_dumpb(o, buf, cap > 1 ? cap - 2 : 0, JSON_COMPACT);
        if (need > 0 && need + 2 <= cap) {
            out = place(buf, need, buf, cap, len);
        } else if (need > 0) {
            char *big = malloc(need + 2);
            if (big && json_dumpb(o, big, need, JSON_COMPACT) == need)
                out = place(big, need, big, need + 2, len);
            else
                free(big);
        }
    }
    json_decref(o);
    return out;
}

char *kf_log_render(int format, int level, const char *component, const char *const *kv,
                    const char *msg, const struct timeval *tv, char *buf, size_t cap, size_t *len) {
    char ts[64];
    format_time(tv, ts, sizeof(ts));
    if (!component)
        component = "";
    if (format == KF_LOG_FORMAT_JSON) {
        char *out = render_json(level, component, kv, msg, ts, buf, cap, len);
        if (out)
            return out;
        /* out of memory or an encoding failure: say so rather than drop it */
        int n = snprintf(buf, cap,
                         "{\"time\":\"%s\",\"level\":\"%s\",\"component\":\"log\",\"message\":"
                         "\"(a log line could not be encoded)\",\"program\":\"%s\",\"pid\":%ld}\n",
                         ts, level_json(level), g_prefix, (long)getpid());
        *len = n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
        return buf;
    }
    int n =
        snprintf(buf, cap, "%s %s %s [%s] %s\n", ts, g_prefix, level_name(level), component, msg);
    if (n < 0) {
        *len = 0;
        return buf;
    }
    if ((size_t)n < cap) {
        *len = (size_t)n;
        return buf;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) { /* keep what fits, still one line */
        buf[cap - 2] = '\n';
        *len = cap - 1;
        return buf;
    }
    snprintf(big, (size_t)n + 1, "%s %s %s [%s] %s\n", ts, g_prefix, level_name(level), component,
             msg);
    *len = (size_t)n;
    return big;
}

static void emit(int level, const char *component, const char *const *kv, const char *fmt,
                 va_list ap) {
    int saved = errno; /* callers may look at errno after logging */
    char msg[2048];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    char buf[4096];
    size_t len = 0;
    char *line = kf_log_render(g_format, level, component, kv, msg, &tv, buf, sizeof(buf), &len);
    /* one write(): only a signal or a pipe full beyond PIPE_BUF splits it */
    const char *p = line;
    while (len > 0) {
        ssize_t w = write(STDERR_FILENO, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        p += w;
        len -= (size_t)w;
    }
    if (line != buf)
        free(line);
    errno = saved;
}

void kf_logv(int level, const char *component, const char *fmt, va_list ap) {
    if (level > g_level)
        return;
    emit(level, component, NULL, fmt, ap);
}

void kf_log(int level, const char *component, const char *fmt, ...) {
    if (level > g_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    emit(level, component, NULL, fmt, ap);
    va_end(ap);
}

void kf_log_kv(int level, const char *component, const char *const *kv, const char *fmt, ...) {
    if (level > g_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    emit(level, component, kv, fmt, ap);
    va_end(ap);
}
