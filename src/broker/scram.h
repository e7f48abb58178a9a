/*
 * scram.h - SCRAM-SHA-256/512 (RFC 5802, RFC 7677) and PLAIN (RFC 4616)
 * message handling for kferry-broker's SASL server.  Pure: no sockets, no
 * broker state; the crypto is OpenSSL's (PBKDF2, HMAC, EVP digests,
 * RAND_bytes, CRYPTO_memcmp).
 *
 * A credential keeps what Kafka keeps: salt, iterations, StoredKey and
 * ServerKey.  The password itself is never stored.
 */
#ifndef KB_SCRAM_H
#define KB_SCRAM_H

#include "common/buf.h"

#include <stddef.h>
#include <stdint.h>

/* Kafka's ScramMechanism bytes (DescribeUserScramCredentials etc.). */
enum { KB_SCRAM_UNKNOWN = 0, KB_SCRAM_SHA256 = 1, KB_SCRAM_SHA512 = 2 };

#define KB_SCRAM_MAX_HASH 64    /* SHA-512 */
#define KB_SCRAM_MAX_SALT 256   /* bytes */
#define KB_SCRAM_MIN_ITER 4096  /* Kafka's limits */
#define KB_SCRAM_MAX_ITER 16384 /* also bounds the work of one login */
#define KB_SASL_MAX_USER 200    /* bytes; "User:" + name fits a principal */
#define KB_SASL_MAX_PASSWORD 1024

/* "SCRAM-SHA-256" / "SCRAM-SHA-512", or NULL. */
const char *kb_scram_mech_name(int mech);
/* KB_SCRAM_SHA256 / KB_SCRAM_SHA512 for a name (exact), or 0. */
int kb_scram_mech_from_name(const char *name);
/* Digest length of a mechanism (32 or 64), 0 if unknown. */
size_t kb_scram_hash_len(int mech);

typedef struct kb_scram_cred {
    int8_t mech;
    int32_t iterations;
    size_t salt_len;
    uint8_t salt[KB_SCRAM_MAX_SALT];
    uint8_t stored_key[KB_SCRAM_MAX_HASH];
    uint8_t server_key[KB_SCRAM_MAX_HASH];
} kb_scram_cred;

/* SaltedPassword := Hi(password, salt, i) (PBKDF2-HMAC). 0 or -1. */
int kb_scram_salt_password(int mech, const char *pw, size_t pwlen, const uint8_t *salt,
                           size_t saltlen, int32_t iterations, uint8_t out[KB_SCRAM_MAX_HASH]);
/* The stored credential from a salted password (what Kafka's
 * AlterUserScramCredentials sends). 0 or -1. */
int kb_scram_cred_from_salted(int mech, int32_t iterations, const uint8_t *salt, size_t saltlen,
                              const uint8_t *salted, size_t salted_len, kb_scram_cred *out);
/* A credential with a fresh random salt. 0 or -1. */
int kb_scram_cred_from_password(int mech, const char *pw, size_t pwlen, int32_t iterations,
                                kb_scram_cred *out);
/* 1 if the password matches the credential (constant-time compare), else 0. */
int kb_scram_check_password(const kb_scram_cred *c, const char *pw, size_t pwlen);

/* Base64 (standard alphabet, padded). Decoding is strict: returns the
 * decoded length or -1. */
int kb_b64_encode(const uint8_t *in, size_t n, kf_buf *out);
int kb_b64_decode(const char *in, size_t n, uint8_t *out, size_t outcap);

/* client-first-message, parsed. Pointers go into the message. */
typedef struct kb_scram_client_first {
    char user[KB_SASL_MAX_USER + 1]; /* saslname decoded (=2C, =3D) */
    char authzid[KB_SASL_MAX_USER + 1];
    const char *gs2; /* "n,," etc. */
    size_t gs2_len;
    const char *bare; /* client-first-message-bare */
    size_t bare_len;
    const char *nonce;
    size_t nonce_len;
} kb_scram_client_first;

/* 0, or -1 with a reason in err (safe to log: no secret). */
int kb_scram_parse_client_first(const char *msg, size_t len, kb_scram_client_first *out, char *err,
                                size_t errlen);

typedef struct kb_scram_client_final {
    const char *cbind; /* base64 of c= */
    size_t cbind_len;
    const char *nonce;
    size_t nonce_len;
    const char *without_proof; /* client-final-message-without-proof */
    size_t without_proof_len;
    uint8_t proof[KB_SCRAM_MAX_HASH];
    size_t proof_len;
} kb_scram_client_final;

int kb_scram_parse_client_final(const char *msg, size_t len, kb_scram_client_final *out, char *err,
                                size_t errlen);

/* One server-side exchange. */
typedef struct kb_scram_server {
    int mech;
    int state; /* 0 start, 1 sent server-first, 2 done, -1 failed */
    kb_scram_cred cred;
    kb_scram_client_first cf;
    kf_buf gs2; /* copies: the client's buffers do not outlive the step */
    kf_buf client_bare;
    kf_buf server_first;
    kf_buf nonce; /* client nonce + server nonce */
} kb_scram_server;

void kb_scram_server_init(kb_scram_server *s, int mech);
void kb_scram_server_free(kb_scram_server *s);
/* Step 1: parse client-first. The caller then looks up s->cf.user.
 * 0 or -1 (err). */
int kb_scram_server_client_first(kb_scram_server *s, const char *msg, size_t len, char *err,
                                 size_t errlen);
/* Step 2: server-first for the user's credential into out. server_nonce
 * NULL = random (tests pass RFC 7677's). 0 or -1. */
int kb_scram_server_first(kb_scram_server *s, const kb_scram_cred *cred, const char *server_nonce,
                          kf_buf *out);
/* Step 3: verify client-final; server-final into out. 0 ok, -1 failed
 * (err: why, no secrets). */
int kb_scram_server_final(kb_scram_server *s, const char *msg, size_t len, kf_buf *out, char *err,
                          size_t errlen);

/* Client side (tests, fuzz seeds, the Java-less round trip): the
 * client-final message for a password given the bare client-first and
 * server-first; *server_sig gets the expected ServerSignature. 0 or -1. */
int kb_scram_client_final_msg(int mech, const char *pw, size_t pwlen, const char *client_bare,
                              size_t client_bare_len, const char *server_first,
                              size_t server_first_len, kf_buf *out,
                              uint8_t server_sig[KB_SCRAM_MAX_HASH]);

/* PLAIN: [authzid] NUL authcid NUL passwd. Pointers into msg. 0 or -1. */
typedef struct kb_plain_msg {
    const char *authzid, *user, *pass;
    size_t authzid_len, user_len, pass_len;
} kb_plain_msg;
int kb_plain_parse(const uint8_t *msg, size_t len, kb_plain_msg *out, char *err, size_t errlen);

#endif
