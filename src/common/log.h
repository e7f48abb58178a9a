/*
 * log.h - leveled logging to stderr with a component tag.
 *
 * Levels follow syslog.  Debug output is enabled per component with
 * kf_log_set_debug("proto,net,store") or "all".  Logging is not a hot-path
 * facility: callers check kf_log_debug_enabled() before formatting costly
 * debug lines.
 *
 * Two formats (kf_log_set_format): text, one human-readable line
 *   2026-01-02T03:04:05.678Z kferry INFO [component] message
 * and json, one object per line for log collectors:
 *   {"time":"2026-01-02T03:04:05.678Z","level":"info","component":"...",
 *    "message":"...","program":"kferry","pid":123}
 * plus "thread" and "tid" when a thread other than the main one logs, and
 * any fields given to kf_log_kv.  Strings that are not valid UTF-8 get
 * U+FFFD for each bad byte.  Either way every line reaches stderr with a
 * single write(), so lines from concurrent threads never interleave.
 */
#ifndef KF_LOG_H
#define KF_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/time.h>

enum { KF_LOG_ERR = 3, KF_LOG_WARNING = 4, KF_LOG_NOTICE = 5, KF_LOG_INFO = 6, KF_LOG_DEBUG = 7 };
enum { KF_LOG_FORMAT_TEXT = 0, KF_LOG_FORMAT_JSON = 1 };

void kf_log_set_level(int level);
/* Comma-separated component list, or "all". Returns 0. */
int kf_log_set_debug(const char *components);
int kf_log_debug_enabled(const char *component);
void kf_log_set_prefix(const char *prog);

/* "text" -> KF_LOG_FORMAT_TEXT, "json" -> KF_LOG_FORMAT_JSON, else -1. */
int kf_log_format_parse(const char *s);
void kf_log_set_format(int format);
int kf_log_get_format(void);
/* Picks the format from cli_value (--log-format's value, NULL when not
 * given), else $KFERRY_LOG_FORMAT, else text, and sets it.  An unknown
 * value prints "<prog>: --log-format 'x': expected text or json" (naming
 * KFERRY_LOG_FORMAT when the value came from there) and returns -1: the
 * caller exits 2.  Returns 0 otherwise. */
int kf_log_format_setup(const char *prog, const char *cli_value);

__attribute__((format(printf, 3, 4))) void kf_log(int level, const char *component, const char *fmt,
                                                  ...);
void kf_logv(int level, const char *component, const char *fmt, va_list ap);
/* kf_log with extra string fields for the json format: kv is
 * {"key", "value", ..., NULL} (or NULL); the text format ignores them, so
 * the message should carry what a reader needs. */
__attribute__((format(printf, 4, 5))) void kf_log_kv(int level, const char *component,
                                                     const char *const *kv, const char *fmt, ...);

/* The line kf_logv would write for msg at time tv (newline included), in
 * the given format: in buf when it fits (returns buf), else in a malloc'd
 * string the caller frees; *len is its length.  Never NULL: a line that
 * cannot be encoded is replaced by one that says so. */
char *kf_log_render(int format, int level, const char *component, const char *const *kv,
                    const char *msg, const struct timeval *tv, char *buf, size_t cap, size_t *len);
/* Copies in[0..n) to out (cap >= 3 * n + 1), each byte that is not part
 * of a well-formed UTF-8 sequence replaced by U+FFFD; NUL-terminates and
 * returns the output length. */
size_t kf_utf8_sanitize(const char *in, size_t n, char *out, size_t cap);

#define kf_err(comp, ...) kf_log(KF_LOG_ERR, comp, __VA_ARGS__)
#define kf_warn(comp, ...) kf_log(KF_LOG_WARNING, comp, __VA_ARGS__)
#define kf_notice(comp, ...) kf_log(KF_LOG_NOTICE, comp, __VA_ARGS__)
#define kf_info(comp, ...) kf_log(KF_LOG_INFO, comp, __VA_ARGS__)
#define kf_debug(comp, ...)                                                                        \
    do {                                                                                           \
        if (kf_log_debug_enabled(comp))                                                            \
            kf_log(KF_LOG_DEBUG, comp, __VA_ARGS__);                                               \
    } while (0)

#endif
