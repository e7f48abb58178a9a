/*
 * sasl.h - SASL authentication on kferry-broker: configuration
 * (sasl.enabled.mechanisms, JAAS PLAIN users), the SCRAM credential store
 * and the per-connection session that SaslHandshake / SaslAuthenticate
 * (h_sasl.c) and server.c's raw-token mode drive.
 *
 * Mechanisms: PLAIN (users from JAAS lines, or any SCRAM credential: the
 * password is checked by recomputing the salted password),
 * SCRAM-SHA-256/512 (credentials in the store, see creds.h) and OAUTHBEARER
 * with AWS MSK IAM tokens (msk_iam.h; only when
 * kferry.msk.iam.credentials.file is set).
 */
#ifndef KB_SASL_H
#define KB_SASL_H

#include "broker/broker.h"
#include "broker/creds.h"
#include "broker/msk_iam.h"
#include "broker/scram.h"

#include <stdio.h>

/* Mechanism bits. */
enum { KB_SASL_PLAIN = 1u, KB_SASL_SCRAM256 = 2u, KB_SASL_SCRAM512 = 4u, KB_SASL_OAUTHBEARER = 8u };
/* The password mechanisms (OAUTHBEARER needs its own configuration). */
#define KB_SASL_ALL_MECHS (KB_SASL_PLAIN | KB_SASL_SCRAM256 | KB_SASL_SCRAM512)
#define KB_SASL_LAST_MECH KB_SASL_OAUTHBEARER
#define KB_SASL_DEFAULT_MECHS (KB_SASL_SCRAM256 | KB_SASL_SCRAM512)

#define KB_SASL_MAX_TOKEN (64 * 1024) /* bytes of one client token */
#define KB_SASL_MAX_PREAUTH_REQUESTS 16

typedef struct kb_plain_user {
    char *listener; /* lower-case listener name, NULL = every listener */
    char *name;
    char *pass;
} kb_plain_user;

typedef struct kb_sasl_lst {
    char name[64]; /* lower case, as in listener.name.<name>. */
    unsigned mechs;
} kb_sasl_lst;

typedef struct kb_sasl {
    unsigned mechs; /* sasl.enabled.mechanisms */
    kb_sasl_lst lst[32];
    size_t nlst;
    kb_plain_user *plain;
    size_t nplain;
    int64_t auth_timeout_ms; /* kferry.sasl.authentication.timeout.ms */
    kb_creds creds;
    kb_msk_iam *iam;            /* OAUTHBEARER's MSK IAM keys; NULL when not configured */
    int64_t iam_session_max_ms; /* kferry.msk.iam.session.max.ms; 0 = the token's expiry */
} kb_sasl;

enum {
    KB_SASL_ST_START = 0, /* ApiVersions or SaslHandshake expected */
    KB_SASL_ST_AUTH,      /* after SaslHandshake v1: SaslAuthenticate */
    KB_SASL_ST_RAW,       /* after SaslHandshake v0: raw tokens */
    KB_SASL_ST_DONE,      /* authenticated */
    KB_SASL_ST_FAILED
};

typedef struct kb_sasl_session {
    int enabled; /* the connection is on a SASL_* listener */
    int state;
    unsigned mech;   /* chosen in SaslHandshake */
    int requests;    /* requests and tokens before authentication */
    int close_after; /* close once the pending response is sent */
    int64_t started_ms;
    char listener[64];
    char *principal; /* the connection's principal buffer */
    size_t principal_cap;
    int scram_live;
    kb_scram_server scram;
    int64_t expires_ms;  /* wall clock; the session ends then (OAUTHBEARER), 0 = never */
    int oauth_rejected;  /* OAUTHBEARER: error challenge sent, the client's \x01 expected */
    char oauth_why[200]; /* the reason, for the final error message */
} kb_sasl_session;

/* "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER" for one bit, or NULL. */
const char *kb_sasl_mech_name(unsigned bit);
/* Bit for a mechanism name, 0 if unsupported. */
unsigned kb_sasl_mech_bit(const char *name, size_t len);
/* "PLAIN, SCRAM-SHA-256" style list of a mask into buf. */
void kb_sasl_mech_list(unsigned mask, char *buf, size_t cap);

/* Validates every SASL key of p, marks them used, appends problems (one a
 * line, never a secret) to err. Returns 0 or -1. Called by config.c. */
int kb_sasl_config_check(kf_props *p, char *err, size_t errlen);
/* Markdown rows for docs/CONFIGURATION.md. */
void kb_sasl_print_reference(FILE *f);

/* Builds b->sasl from b->cfg.raw and opens the credential store. */
int kb_sasl_open(kb_broker *b, char *err, size_t errlen);
void kb_sasl_close(kb_broker *b);
/* Mechanisms enabled on a listener (NULL/unknown name: the general list). */
unsigned kb_sasl_listener_mechs(const kb_broker *b, const char *listener);

void kb_sasl_session_init(kb_sasl_session *s, int enabled, const char *listener, char *principal,
                          size_t principal_cap, int64_t now_ms);
void kb_sasl_session_free(kb_sasl_session *s);
/* Whether a request may run on the session now (before authentication only
 * ApiVersions, SaslHandshake and SaslAuthenticate). */
int kb_sasl_allows(const kb_sasl_session *s, int16_t api_key);

/* One client token of the chosen mechanism (now: wall clock, read inside).
 * OAUTHBEARER answers a refused token as Kafka does: a
 * {"status":"invalid_token"} challenge (return 0, state unchanged), then the
 * client's \x01 fails the exchange with the reason in errmsg. Returns 0 with the server's
 * token in out (s->state becomes KB_SASL_ST_DONE once authenticated), or -1
 * with Kafka's error message in errmsg (no secrets), the failure logged once
 * and s->state KB_SASL_ST_FAILED. */
int kb_sasl_step(kb_broker *b, kb_sasl_session *s, const uint8_t *tok, size_t len, kf_buf *out,
                 char *errmsg, size_t errlen);

/* Command line: adds or replaces a SCRAM credential in data_dir's store
 * (the broker must not be running on it). 0 or -1 with err. */
int kb_sasl_add_user(const char *data_dir, const char *user, int mech, int32_t iterations,
                     const char *pw, size_t pwlen, char *err, size_t errlen);

#endif
