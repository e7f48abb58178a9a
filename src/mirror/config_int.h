/*
 * config_int.h - internals of the mirror config loader shared by config.c,
 * config_providers.c (Kafka's ${provider:path:key} references) and
 * config_ssl.c (Java SSL settings mapped to librdkafka's).
 *
 * Not part of the public config API: errors are handed back as messages
 * (never containing a resolved secret); config.c adds the file and line.
 */
#ifndef KF_MIRROR_CONFIG_INT_H
#define KF_MIRROR_CONFIG_INT_H

#include "common/props.h"

#include <stddef.h>

/* An error at line (0: no line) of the config file. */
typedef void (*mc_err_fn)(void *ctx, int line, const char *msg);

/* --- config providers ------------------------------------------------------- */

typedef struct mc_providers mc_providers;

/* Reads config.providers and config.providers.<name>.class from props
 * (marking them used); problems go to err.  Never NULL unless out of
 * memory. */
mc_providers *mc_providers_new(kf_props *props, mc_err_fn err, void *ctx);
void mc_providers_free(mc_providers *pv);
/* Replaces every ${provider:[path:]key} in value.  0: no reference (*out
 * NULL); 1: resolved (*out malloc'ed; each substituted text is also added
 * to *secrets, so messages can redact it); -1: error in err, naming the
 * reference but never a resolved value. */
int mc_providers_resolve(mc_providers *pv, const char *value, char **out, char ***secrets,
                         size_t *nsecrets, char *err, size_t errlen);

/* --- Java SSL settings --------------------------------------------------- */

typedef struct mc_jval {
    const char *v; /* NULL: not set */
    int line;
} mc_jval;

typedef struct mc_java_ssl {
    mc_jval ts_type, ts_location, ts_password, ts_certificates;
    mc_jval ks_type, ks_location, ks_password, ks_chain, ks_key, key_password;
} mc_java_ssl;

/* 1 if key (after the alias and role prefix) is one of the Java settings
 * mapped by mc_java_ssl_map; *slot then points at its field in j. */
int mc_java_ssl_slot(mc_java_ssl *j, const char *key, mc_jval **slot);

/* Adds a librdkafka property; written says where it came from (for the
 * effective-config log; NULL: the value itself may be shown). */
typedef void (*mc_emit_fn)(void *ctx, const char *key, const char *value, const char *written,
                           int line);

/* Maps the Java settings in j to librdkafka properties.  prefix names the
 * settings in messages ("onprem." or "onprem.consumer.").  Files are
 * opened and parsed now, so a wrong path or password is a config error.
 * Returns the number of errors reported. */
int mc_java_ssl_map(const char *prefix, const mc_java_ssl *j, mc_emit_fn emit, mc_err_fn err,
                    void *ctx);

/* The certificates of a PKCS12 file as PEM (malloc'ed) and their count.
 * 0, or -1 with a message (wrong password, not PKCS12, no certificate). */
int mc_pkcs12_certs_pem(const char *path, const char *password, char **pem, int *ncerts, char *err,
                        size_t errlen);

#endif
