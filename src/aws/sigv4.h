/*
 * sigv4.h - AWS Signature Version 4 (the parts kferry needs) and the MSK
 * IAM token built on it.
 *
 * Shared by kferry (which signs: MSK IAM tokens, STS requests) and
 * kferry-broker (which checks MSK IAM tokens in its emulation), so it has
 * no I/O and depends on libcrypto only.  The algorithm is AWS's published
 * one: canonical request -> string to sign -> HMAC-SHA256 chain keyed by
 * "AWS4" + secret over date, region, service and "aws4_request".
 *
 * The MSK IAM token (SASL/OAUTHBEARER) is a presigned GET of
 * https://kafka.<region>.amazonaws.com/?Action=kafka-cluster%3AConnect,
 * service "kafka-cluster", signed query parameters only (host header),
 * the empty body's SHA-256 as payload hash, with a User-Agent parameter appended after signing,
 * the whole URL base64url-encoded without padding.
 */
#ifndef KF_SIGV4_H
#define KF_SIGV4_H

#include "common/buf.h"

#include <stddef.h>
#include <stdint.h>

#define KF_AWS_MAX_TOKEN 8192

typedef struct kf_aws_creds {
    char access_key[129];
    char secret_key[129];
    char session_token[KF_AWS_MAX_TOKEN]; /* "" when the credentials are long-term */
    int64_t expires_ms;                   /* wall clock ms; 0 = does not expire */
} kf_aws_creds;

typedef struct kf_sigv4_param {
    const char *name;
    const char *value;
} kf_sigv4_param;

/* Lower-case hex SHA-256 of data. */
void kf_sha256_hex(const void *data, size_t len, char out[65]);

/* RFC 3986 encoding as SigV4 wants it: unreserved characters
 * (A-Z a-z 0-9 - _ . ~) kept, everything else %XX upper-case; '/' kept
 * when keep_slash. */
void kf_sigv4_uri_encode(const char *s, size_t n, int keep_slash, kf_buf *out);

/* The canonical query string of params (raw, unencoded values): each name
 * and value encoded, sorted by encoded name then value, joined by '&'. */
int kf_sigv4_canonical_query(const kf_sigv4_param *p, size_t n, kf_buf *out);

/* "YYYYMMDDTHHMMSSZ" for a Unix time in seconds. */
void kf_sigv4_amzdate(int64_t t, char out[17]);

/* The signature (lower-case hex) of a canonical request, given the
 * request time as amzdate (its first 8 characters are the scope date). */
void kf_sigv4_sign(const char *secret, const char *amzdate, const char *region, const char *service,
                   const char *canonical_request, char sig[65]);

/* Presigns "GET https://host/path?params" for service/region at time t
 * (seconds), valid for expires seconds.  The URL, with X-Amz-Algorithm,
 * -Credential, -Date, -Expires, -SignedHeaders (host), -Security-Token
 * (when the creds have one) and -Signature, goes to url.  payload_hash
 * is the canonical request's last line: NULL for the SHA-256 of an empty
 * body (what AWS's SDK signers use for a presigned GET, and so what MSK
 * checks), "UNSIGNED-PAYLOAD" for S3.  0 or -1. */
int kf_sigv4_presign(const char *host, const char *path, const char *service, const char *region,
                     const kf_sigv4_param *params, size_t nparams, const kf_aws_creds *c, int64_t t,
                     int expires, const char *payload_hash, kf_buf *url);

/* Signs a request in the header form (an Authorization header), as STS
 * and other query/form APIs take it.  host is the Host header as sent
 * (with ":port" when the URL has one); path is unencoded; query holds the
 * URL's parameters (raw values; may be NULL); headers are the other
 * headers to sign (any case; values are trimmed and inner runs of spaces
 * collapsed) besides host and x-amz-date, which are always signed, and
 * x-amz-security-token, signed when the creds have a session token.  The
 * payload hash is the body's SHA-256.  The caller sends "X-Amz-Date:
 * <amzdate>", "X-Amz-Security-Token: <token>" (when there is one) and
 * "Authorization: <authz>".  0 or -1. */
int kf_sigv4_sign_headers(const char *method, const char *host, const char *path,
                          const kf_sigv4_param *query, size_t nquery, const kf_sigv4_param *headers,
                          size_t nheaders, const void *body, size_t bodylen, const char *service,
                          const char *region, const kf_aws_creds *c, int64_t t, char amzdate[17],
                          kf_buf *authz);

/* base64url without padding, and its inverse (padding and the standard
 * alphabet's + and / are accepted too).  decode: 0 or -1 on bad input. */
void kf_b64url_encode(const void *data, size_t len, kf_buf *out);
int kf_b64url_decode(const char *s, size_t len, kf_buf *out);

/* --- the MSK IAM token ----------------------------------------------------- */

#define KF_MSK_TOKEN_EXPIRES 900 /* seconds, as AWS's signers use */

/* Builds the token for region at time t (seconds).  *expires_ms gets the
 * token's expiry (wall clock ms): t + 900 s, or the credentials' expiry if
 * sooner.  0 or -1. */
int kf_msk_token(const char *region, const kf_aws_creds *c, int64_t t, const char *user_agent,
                 kf_buf *token, int64_t *expires_ms);

/* A token taken apart: the decoded URL's host and query parameters
 * (decoded), for a validator.  Pointers point into the struct's own
 * storage; kf_msk_token_free releases it. */
#define KF_MSK_MAX_PARAMS 24
typedef struct kf_msk_parsed {
    char *host;
    char *path;
    size_t nparams;
    kf_sigv4_param params[KF_MSK_MAX_PARAMS];
    char *store;
} kf_msk_parsed;

/* 0, or -1 with a reason in err. */
int kf_msk_token_parse(const char *token, size_t len, kf_msk_parsed *out, char *err, size_t errlen);
void kf_msk_token_free(kf_msk_parsed *p);
/* The value of a parameter, NULL when absent. */
const char *kf_msk_param(const kf_msk_parsed *p, const char *name);

/* --- checking an MSK IAM token (kferry-broker's emulation) ------------------ */

#define KF_MSK_MAX_EXPIRES 604800 /* seconds: SigV4 presigned URLs live 7 days at most */
#define KF_MSK_MAX_SKEW 300       /* seconds an X-Amz-Date may lie in the future */

/* Why a token was refused; kf_msk_reason names each. */
typedef enum kf_msk_result {
    KF_MSK_OK = 0,
    KF_MSK_E_HOST,             /* host is not kafka.<region>.amazonaws.com */
    KF_MSK_E_PATH,             /* path is not "/" */
    KF_MSK_E_ACTION,           /* Action is not kafka-cluster:Connect */
    KF_MSK_E_ALGORITHM,        /* X-Amz-Algorithm is not AWS4-HMAC-SHA256 */
    KF_MSK_E_SIGNED_HEADERS,   /* X-Amz-SignedHeaders is not "host" */
    KF_MSK_E_CREDENTIAL,       /* X-Amz-Credential is not AKID/DATE/REGION/SERVICE/aws4_request */
    KF_MSK_E_DATE,             /* X-Amz-Date missing or not YYYYMMDDTHHMMSSZ */
    KF_MSK_E_SCOPE_DATE,       /* the credential scope's date is not X-Amz-Date's */
    KF_MSK_E_SCOPE_REGION,     /* the scope's region is not the configured one */
    KF_MSK_E_SCOPE_SERVICE,    /* the scope's service is not kafka-cluster */
    KF_MSK_E_SCOPE_TERM,       /* the scope does not end in aws4_request */
    KF_MSK_E_EXPIRES,          /* X-Amz-Expires missing or not 1..604800 */
    KF_MSK_E_SIGNATURE_FORMAT, /* X-Amz-Signature missing or not 64 hex digits */
    KF_MSK_E_FUTURE,           /* X-Amz-Date more than 5 minutes ahead of now */
    KF_MSK_E_EXPIRED,          /* X-Amz-Date + X-Amz-Expires has passed */
    KF_MSK_E_UNKNOWN_KEY,      /* the access key id is not configured */
    KF_MSK_E_TOKEN_MISSING,    /* the key has a session token, the URL none */
    KF_MSK_E_TOKEN_UNEXPECTED, /* the URL has a session token, the key none */
    KF_MSK_E_TOKEN_WRONG,      /* the session token differs from the key's */
    KF_MSK_E_SIGNATURE,        /* the signature does not match */
    KF_MSK_E_INTERNAL          /* out of memory */
} kf_msk_result;

/* A short reason for a result, without any token byte or secret. */
const char *kf_msk_reason(kf_msk_result r);

/* A configured key as the validator needs it: secret and the session token
 * (NULL or "" when the key is long-term). */
typedef struct kf_msk_key {
    const char *secret;
    const char *session_token;
} kf_msk_key;

/* Looks an access key id up; NULL when unknown. */
typedef const kf_msk_key *(*kf_msk_lookup_fn)(void *ctx, const char *access_key);

typedef struct kf_msk_verified {
    char access_key[129];  /* from the credential scope (also set on later failures) */
    int64_t date_s;        /* X-Amz-Date, Unix seconds */
    int64_t expires_s;     /* X-Amz-Date + X-Amz-Expires */
    const kf_msk_key *key; /* what lookup returned */
} kf_msk_verified;

/* Checks a parsed token as MSK does for region at wall-clock time now_s:
 * URL shape, Action, algorithm, credential scope, dates and expiry, then
 * the key (lookup), the session token and the signature (recomputed from
 * the canonical query of every parameter except X-Amz-Signature and
 * User-Agent; compared in constant time).  Returns KF_MSK_OK or the first
 * failed check; out is filled as far as the checks got. */
kf_msk_result kf_msk_token_verify(const kf_msk_parsed *p, const char *region, int64_t now_s,
                                  kf_msk_lookup_fn lookup, void *ctx, kf_msk_verified *out);

#endif
