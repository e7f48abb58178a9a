/*
 * listener.h - kferry-broker's listeners, configured as Kafka's are:
 * `listeners`, `advertised.listeners`, `listener.security.protocol.map`,
 * and for SSL/SASL_SSL listeners the TLS settings `ssl.*` (each also as
 * `listener.name.<name>.ssl.*`).  `--listen HOST:PORT` adds a PLAINTEXT
 * listener named PLAINTEXT in front of the configured ones.
 *
 * listener.c parses and validates the settings (kb_listeners_config) and
 * builds one OpenSSL context per TLS listener (kb_listeners_open); server.c
 * binds them and runs the per-connection TLS handshake.
 */
#ifndef KB_LISTENER_H
#define KB_LISTENER_H

#include "common/props.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define KB_MAX_LISTENERS 8

enum { KB_PROTO_PLAINTEXT = 0, KB_PROTO_SSL, KB_PROTO_SASL_PLAINTEXT, KB_PROTO_SASL_SSL };
enum { KB_CLIENT_AUTH_NONE = 0, KB_CLIENT_AUTH_REQUESTED, KB_CLIENT_AUTH_REQUIRED };

struct kb_pmap;

typedef struct kb_listener {
    char name[64];  /* as configured (upper case by convention): PLAINTEXT, CLIENT, ... */
    char lname[64]; /* lower case, for listener.name.<lname>.* keys */
    int proto;      /* KB_PROTO_* */
    char host[256]; /* bind address; "" = every interface */
    int port;       /* 0 until bound when configured as 0 */
    char adv_host[256];
    int adv_port;    /* 0 = the bound port */
    int fd;          /* listening socket (server.c), -1 when closed */
    void *ssl_ctx;   /* SSL_CTX * for SSL / SASL_SSL */
    int client_auth; /* KB_CLIENT_AUTH_* */
    struct kb_pmap *pmap;
} kb_listener;

typedef struct kb_listeners {
    kb_listener l[KB_MAX_LISTENERS];
    size_t n;
    int64_t handshake_timeout_ms; /* kferry.ssl.handshake.timeout.ms */
} kb_listeners;

const char *kb_proto_name(int proto);
static inline int kb_proto_is_tls(int proto) {
    return proto == KB_PROTO_SSL || proto == KB_PROTO_SASL_SSL;
}
static inline int kb_proto_is_sasl(int proto) {
    return proto == KB_PROTO_SASL_PLAINTEXT || proto == KB_PROTO_SASL_SSL;
}

/* Parses the listener keys of p (marking them used) into ls, with
 * `cli_listen` ("HOST:PORT" from --listen, or NULL) as a PLAINTEXT listener
 * first.  Every problem is appended to err, one per line. 0 or -1. */
int kb_listeners_config(kb_listeners *ls, kf_props *p, const char *cli_listen, char *err,
                        size_t errlen);
/* Loads the TLS material of every TLS listener (files are read here, so a
 * wrong path or password is reported before anything binds). 0 or -1. */
int kb_listeners_open(kb_listeners *ls, kf_props *p, char *err, size_t errlen);
void kb_listeners_free(kb_listeners *ls);
/* Markdown rows for docs/CONFIGURATION.md. */
void kb_listeners_print_reference(FILE *f);

/* After a TLS handshake: the principal ("User:NAME") of the client
 * certificate of ssl (an SSL *), mapped by the listener's
 * ssl.principal.mapping.rules; "User:ANONYMOUS" without one.  -1 (with a
 * reason) when no mapping rule applies. */
int kb_tls_principal(const kb_listener *l, void *ssl, char *out, size_t cap, char *why,
                     size_t whylen);

#endif
