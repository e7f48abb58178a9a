/*
 * log.h - leveled logging to stderr with a component tag.
 *
 * Levels follow syslog.  Debug output is enabled per component with
 * kf_log_set_debug("proto,net,store") or "all".  Logging is not a hot-path
 * facility: callers check kf_log_debug_enabled() before formatting costly
 * debug lines.
 */
#ifndef KF_LOG_H
#define KF_LOG_H

#include <stdarg.h>

enum { KF_LOG_ERR = 3, KF_LOG_WARNING = 4, KF_LOG_NOTICE = 5, KF_LOG_INFO = 6, KF_LOG_DEBUG = 7 };

void kf_log_set_level(int level);
/* Comma-separated component list, or "all". Returns 0. */
int kf_log_set_debug(const char *components);
int kf_log_debug_enabled(const char *component);
void kf_log_set_prefix(const char *prog);

__attribute__((format(printf, 3, 4))) void kf_log(int level, const char *component, const char *fmt,
                                                  ...);
void kf_logv(int level, const char *component, const char *fmt, va_list ap);

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
