/*
 * awscreds.h - the AWS credential chain, in the SDKs' order, for MSK IAM:
 *
 *   1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
 *   2. shared files: AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials) and
 *      AWS_CONFIG_FILE (~/.aws/config), profile = awsProfileName, else
 *      AWS_PROFILE, else "default"; credential_process in a profile
 *   3. web identity: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN (EKS IRSA),
 *      STS AssumeRoleWithWebIdentity
 *   4. ECS container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or
 *      _FULL_URI, AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE)
 *   5. EC2 instance metadata, IMDSv2 (AWS_EC2_METADATA_SERVICE_ENDPOINT,
 *      AWS_EC2_METADATA_DISABLED)
 *
 * then, when role_arn is set (awsRoleArn=), STS AssumeRole with the
 * credentials found.  STS's endpoint is https://sts.<region>.amazonaws.com
 * unless AWS_ENDPOINT_URL_STS (or AWS_ENDPOINT_URL) says otherwise.
 * HTTP goes through libcurl.  Temporary credentials are cached and
 * refreshed before they expire.  Thread-safe: librdkafka calls the token
 * refresh callback from its own threads.
 *
 * A source that is not configured is skipped; one that is configured but
 * fails (a profile named but missing, a credential_process that exits
 * non-zero, STS refusing the web identity token, ...) ends the chain with
 * an error, as the SDKs do, rather than falling through to some other
 * identity.  With awsProfileName set, the environment's keys are not
 * used (the SDKs' rule for an explicitly chosen profile); AWS_PROFILE does
 * not have that effect.  IMDS is IMDSv2 only (no IMDSv1 fallback).
 */
#ifndef KM_AWSCREDS_H
#define KM_AWSCREDS_H

#include "aws/sigv4.h"

#include <stddef.h>
#include <stdint.h>

typedef struct awscreds_opts {
    const char *profile;      /* awsProfileName; NULL = AWS_PROFILE or "default" */
    const char *role_arn;     /* awsRoleArn; NULL = none */
    const char *role_session; /* awsRoleSessionName; NULL = "kferry-<pid>" */
    const char *sts_region;   /* awsStsRegion; NULL = region */
    const char *region;       /* the cluster's region (for STS when sts_region is NULL) */
    int debug;                /* awsDebugCreds: log which source answered */
} awscreds_opts;

typedef struct awscreds awscreds;

/* A provider; nothing is fetched yet.  NULL with err on bad options. */
awscreds *awscreds_new(const awscreds_opts *o, char *err, size_t errlen);
void awscreds_free(awscreds *p);

/* Current credentials: cached ones while they have more than the refresh
 * margin left (5 minutes, or a third of their lifetime if shorter), else
 * fetched again through the chain.  0, or -1 with a message naming every
 * source tried and why it failed (never a secret). */
int awscreds_get(awscreds *p, kf_aws_creds *out, char *err, size_t errlen);

/* Where the last credentials came from, for `kferry plan` and logs:
 * "environment variables", "profile 'x' in /root/.aws/credentials",
 * "credential_process of profile 'x'", "profile 'x' (role arn:... via
 * profile 'y' in ...)", "web identity (role arn:...)",
 * "container credentials (http://...)", "instance metadata (IMDSv2,
 * role r)", with " + assumed role arn:..." when a role was assumed.  ""
 * before the first success. */
void awscreds_source(awscreds *p, char *out, size_t len);

/* --- the pieces, exposed for the unit tests -------------------------------- */

/* ISO 8601 date-time with a zone ("2026-12-02T18:00:00Z", fractional
 * seconds and "+00:00" / "-0130" accepted) -> wall clock ms.  0 or -1. */
int awscreds_parse_time(const char *s, int64_t *ms);
/* The refresh margin for credentials that lived lifetime_ms when fetched:
 * 5 minutes, or a third of the lifetime when that is shorter. */
int64_t awscreds_refresh_margin_ms(int64_t lifetime_ms);
/* 1 when credentials fetched at obtained_ms and expiring at expires_ms
 * (0 = never) are to be fetched again at now_ms, else 0. */
int awscreds_needs_refresh(int64_t expires_ms, int64_t obtained_ms, int64_t now_ms);

#endif
