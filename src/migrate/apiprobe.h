/*
 * apiprobe.h - asks a broker which API versions it supports (ApiVersions v0
 * over a plain TCP connection): librdkafka negotiates versions but does not
 * expose the broker's ranges.  Plaintext listeners only: brokers answer
 * ApiVersions before SASL, but TLS needs a handshake this probe does not do.
 */
#ifndef KF_MIGRATE_APIPROBE_H
#define KF_MIGRATE_APIPROBE_H

#include <stddef.h>
#include <stdint.h>

typedef struct api_range {
    int16_t key, min, max;
} api_range;

typedef struct api_versions {
    char address[256]; /* the bootstrap address that answered */
    api_range *apis;
    size_t n;
} api_versions;

/* Tries each address of the comma-separated bootstrap list in turn, each
 * bounded by timeout_ms.  0 ok; -1 with err naming every address tried. */
int apiprobe_run(const char *bootstrap, int timeout_ms, api_versions *out, char *err,
                 size_t errlen);
void apiprobe_free(api_versions *v);
/* The advertised range of key, or NULL. */
const api_range *apiprobe_find(const api_versions *v, int16_t key);
/* Kafka's name of an API key ("Produce"), or "Api<key>". */
const char *apiprobe_name(int16_t key, char *buf, size_t buflen);

#endif
