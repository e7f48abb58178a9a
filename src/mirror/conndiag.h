/*
 * conndiag.h - what a failed connection to a cluster means, in words a
 * person can act on: librdkafka's error text (error callback or FAIL log
 * line) classified into TLS trust, hostname, client certificate, SASL
 * credential and mechanism, and protocol mismatches, each naming the
 * setting to fix.  Never shows a password: only the alias, the mechanism
 * and the user name.
 */
#ifndef KF_MIRROR_CONNDIAG_H
#define KF_MIRROR_CONNDIAG_H

#include "mirror/config.h"

#include <stddef.h>

/* result values: "ok", "tls_untrusted", "tls_hostname_mismatch",
 * "tls_client_certificate", "sasl_authentication_failed",
 * "sasl_mechanism_not_enabled", "sasl_not_enabled" (the listener has no
 * SASL), "sasl_required", "plaintext_to_tls",
 * "tls_to_plaintext", "unreachable", "error" */
typedef struct conn_diag {
    const char *result;
    char message[1024];
} conn_diag;

/* security.protocol as configured, upper-case ("PLAINTEXT" by default). */
const char *conndiag_protocol(const mc_cluster *cl, char *buf, size_t len);
/* sasl.mechanism(s) as configured, NULL when the protocol has no SASL. */
const char *conndiag_mechanism(const mc_cluster *cl);

/* Classifies librdkafka's reason (err: its error code, 0 if unknown). */
void conndiag_classify(const mc_cluster *cl, int err, const char *reason, conn_diag *d);
/* The same for a connection to one broker: address ("host:port", as the
 * broker advertises it) takes the place of the bootstrap address in the
 * message; NULL means the bootstrap address. */
void conndiag_classify_at(const mc_cluster *cl, const char *address, int err, const char *reason,
                          conn_diag *d);
/* The diagnosis "tls_hostname_mismatch" for a certificate that verified
 * once the hostname check was off (address as above). */
void conndiag_hostname_mismatch(const mc_cluster *cl, const char *address, conn_diag *d);

#endif
