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

#endif
