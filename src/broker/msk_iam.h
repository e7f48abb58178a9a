/*
 * msk_iam.h - kferry-broker's emulation of AWS MSK IAM authentication:
 * SASL/OAUTHBEARER whose bearer token is an MSK IAM token (a SigV4
 * presigned kafka-cluster:Connect URL, see aws/sigv4.h), checked against
 * keys from an AWS shared-credentials-format file
 * (kferry.msk.iam.credentials.file) for one region (kferry.msk.iam.region).
 *
 * Nothing here logs or reports a secret key, a session token or token
 * bytes: failures name the check that failed (kf_msk_reason) and, in the
 * broker's log only, the access key id.
 */
#ifndef KB_MSK_IAM_H
#define KB_MSK_IAM_H

#include "aws/sigv4.h"

#include <stddef.h>
#include <time.h>
#include <stdint.h>

#define KB_MSK_MAX_PRINCIPAL 200

typedef struct kb_msk_key {
    char *section;
    char *access_key;
    char *principal; /* the identity: "principal" key, else the section name */
    kf_msk_key k;    /* secret and session token (owned) */
} kb_msk_key;

typedef struct kb_msk_iam {
    char region[64];
    char path[4096];
    kb_msk_key *keys;
    size_t n;
    struct timespec mtime; /* of the file when it was read (kb_msk_iam_reload) */
    long long size;
} kb_msk_iam;

/* Reads the credentials file again when its mtime or size changed since
 * it was loaded; on a read or parse error the previous table stays (with
 * a warning).  Called before each token check. */
void kb_msk_iam_reload(kb_msk_iam *m);

/* Parses the text of a shared-credentials file (path only for messages).
 * 0, or -1 with a reason naming path:line, never a value. */
int kb_msk_iam_parse(kb_msk_iam *m, const char *path, const char *text, size_t len, char *err,
                     size_t errlen);
/* Reads the file and parses it. 0 or -1 with err. */
int kb_msk_iam_load(kb_msk_iam *m, const char *path, const char *region, char *err, size_t errlen);
void kb_msk_iam_free(kb_msk_iam *m);
const kb_msk_key *kb_msk_iam_find(const kb_msk_iam *m, const char *access_key);

/* Whether a region name is plausible (lower-case letters, digits, '-'). */
int kb_msk_region_ok(const char *r);

/* RFC 7628 client initial response: "n,[a=authzid],\x01auth=Bearer T\x01...\x01".
 * Points token and authzid into msg.  0, or -1 with a reason. */
int kb_oauthbearer_parse(const uint8_t *msg, size_t len, const char **token, size_t *token_len,
                         const char **authzid, size_t *authzid_len, const char **why);

/* Checks a bearer token at wall time now_ms.  0 with the key (principal)
 * and the token's expiry in *expires_ms, or -1 with the reason
 * (kf_msk_reason or a parse reason) in why and the access key id (if the
 * token got that far) in akid. */
int kb_msk_iam_check(const kb_msk_iam *m, const char *token, size_t len, int64_t now_ms,
                     const kb_msk_key **key, int64_t *expires_ms, char *why, size_t whylen,
                     char *akid, size_t akidlen);

#endif
