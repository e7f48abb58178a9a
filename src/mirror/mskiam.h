/*
 * mskiam.h - MSK IAM authentication for kferry's librdkafka handles.
 *
 * librdkafka has no AWS_MSK_IAM mechanism, but MSK also accepts its IAM
 * token over SASL/OAUTHBEARER.  For a cluster whose config asks for MSK
 * IAM (config.c translates MM2's four aws-msk-iam-auth lines), every
 * handle gets sasl.mechanism=OAUTHBEARER and a token refresh callback
 * that signs a fresh token (aws/sigv4.h) with credentials from the AWS
 * chain (awscreds.h).  librdkafka asks again at 80% of the token's
 * lifetime, which is at most 15 minutes and never beyond the
 * credentials' expiry.  One credential provider per cluster alias,
 * shared by all handles of the process.
 */
#ifndef KM_MSKIAM_H
#define KM_MSKIAM_H

#include "mirror/config.h"

#include <librdkafka/rdkafka.h>

#include <stddef.h>

/* For an IAM cluster: installs the refresh callback on conf (before
 * rd_kafka_new).  A no-op returning 0 for other clusters.  -1 with err
 * when the region cannot be told. */
int mskiam_conf(rd_kafka_conf_t *conf, const mc_cluster *cl, char *err, size_t errlen);

/* After rd_kafka_new: lets librdkafka refresh tokens on its background
 * thread, so a handle that is seldom polled never runs out.  A no-op for
 * handles without kferry's refresh callback. */
void mskiam_handle(rd_kafka_t *rk);

/* The region kferry signs for: cl->iam.region (aws.region), AWS_REGION,
 * AWS_DEFAULT_REGION, else taken from the bootstrap host names
 * (b-1.x.y.c2.kafka.<region>.amazonaws.com).  0, or -1 with err. */
int mskiam_region(const mc_cluster *cl, char *out, size_t len, char *err, size_t errlen);

/* For `kferry plan`: "MSK IAM as <access key id> (credentials from
 * <source>), region <r>", after a successful connection; "" when cl is
 * not an IAM cluster or no token was made yet. */
void mskiam_describe(const mc_cluster *cl, char *out, size_t len);

/* The last token failure of cl ("" if none): the credential chain's
 * message, for connection diagnoses. */
void mskiam_last_error(const mc_cluster *cl, char *out, size_t len);

#endif
