/*
 * conndiag.c - classification of librdkafka 2.0.2's connection failures
 * (see conndiag.h).  The patterns are librdkafka's and OpenSSL 3's own
 * texts: "SSL handshake failed: ... certificate verify failed",
 * "... alert certificate required", "SASL authentication error: ...",
 * "SASL <mech> mechanism handshake failed: ...: broker's supported
 * mechanisms: ...", "Disconnected while requesting ApiVersion: ...
 * (connecting to a SSL listener?)" and "SSL handshake failed:
 * Disconnected: connecting to a PLAINTEXT broker listener?".
 */
#include "mirror/conndiag.h"
#include "mirror/mskiam.h"

#include "common/util.h"

#include <ctype.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *conndiag_protocol(const mc_cluster *cl, char *buf, size_t len) {
    const char *p = mc_prop(cl, "security.protocol");
    snprintf(buf, len, "%s", p ? p : "PLAINTEXT");
    for (char *c = buf; *c; c++)
        *c = (char)toupper((unsigned char)*c);
    return buf;
}

const char *conndiag_mechanism(const mc_cluster *cl) {
    char b[32];
    if (!strstr(conndiag_protocol(cl, b, sizeof(b)), "SASL"))
        return NULL;
    const char *m = mc_prop(cl, "sasl.mechanism");
    if (!m)
        m = mc_prop(cl, "sasl.mechanisms");
    return m ? m : "GSSAPI"; /* librdkafka's default, as Kafka's */
}

static int has(const char *s, const char *needle) { return strcasestr(s, needle) != NULL; }

void conndiag_hostname_mismatch(const mc_cluster *cl, const char *address, conn_diag *d) {
    const char *a = cl->alias;
    int at_boot = !address;
    d->result = "tls_hostname_mismatch";
    snprintf(d->message, sizeof(d->message),
             "TLS: the certificate of %s (%s) is trusted but does not name the host in %s: "
             "connect by a name its subjectAltName lists, or turn the check off with "
             "%s.ssl.endpoint.identification.algorithm= (empty; not recommended)",
             a, at_boot ? mc_bootstrap(cl) : address,
             at_boot ? "bootstrap.servers" : "the address the broker advertises", a);
}

void conndiag_classify(const mc_cluster *cl, int err, const char *reason, conn_diag *d) {
    conndiag_classify_at(cl, NULL, err, reason, d);
}

void conndiag_classify_at(const mc_cluster *cl, const char *address, int err, const char *reason,
                          conn_diag *d) {
    char pb[32];
    const char *proto = conndiag_protocol(cl, pb, sizeof(pb));
    const char *mech = conndiag_mechanism(cl);
    const char *a = cl->alias, *boot = address ? address : mc_bootstrap(cl);
    int tls = strstr(proto, "SSL") != NULL;
    const char *r = reason ? reason : "";
    size_t n = sizeof(d->message);
    d->result = "error";
    if (!*r) {
        snprintf(d->message, n, "no answer from %s (%s) and no error from the client", a, boot);
        return;
    }
    if (has(r, "hostname mismatch") || has(r, "IP address mismatch")) {
        d->result = "tls_hostname_mismatch";
        snprintf(d->message, n,
                 "TLS: the certificate of %s (%s) does not name the host in %s: "
                 "connect by a name its subjectAltName lists, or turn the check off with "
                 "%s.ssl.endpoint.identification.algorithm= (empty; not recommended)",
                 a, boot, address ? "the address the broker advertises" : "bootstrap.servers", a);
    } else if (has(r, "certificate verify failed") ||
               has(r, "Failed to verify broker certificate")) {
        d->result = "tls_untrusted";
        if (cl->trust_setting[0])
            snprintf(d->message, n,
                     "TLS handshake failed: the certificate of %s (%s) is not signed by a CA in "
                     "%s: point %s at the CA that issued the broker's certificate (or it "
                     "expired)",
                     a, boot, cl->trust_setting, cl->trust_setting);
        else
            snprintf(d->message, n,
                     "TLS handshake failed: the certificate of %s (%s) is not trusted (no CA "
                     "configured, the system CAs do not include its issuer): set "
                     "%s.ssl.truststore.location to the CA (PEM or PKCS12)",
                     a, boot, a);
    } else if (has(r, "alert certificate required") || has(r, "client SSL authentication") ||
               has(r, "alert bad certificate") || has(r, "alert unknown ca") ||
               has(r, "alert certificate unknown") || has(r, "alert certificate expired") ||
               has(r, "alert access denied")) {
        d->result = "tls_client_certificate";
        if (cl->identity_setting[0])
            snprintf(d->message, n,
                     "TLS: %s (%s) refused the client certificate from %s (not issued by a CA "
                     "the broker trusts, or expired)",
                     a, boot, cl->identity_setting);
        else
            snprintf(d->message, n,
                     "TLS: %s (%s) requires a client certificate and none is configured: set "
                     "%s.ssl.keystore.location (PKCS12 or PEM) and its password",
                     a, boot, a);
    } else if (has(r, "mechanism handshake failed") || has(r, "Unsupported SASL mechanism")) {
        d->result = "sasl_mechanism_not_enabled";
        const char *empty = strstr(r, "supported mechanisms:  ");
        if (has(r, "not valid in current SASL state") || (empty && empty[23] == '(')) {
            d->result = "sasl_not_enabled";
            snprintf(d->message, n,
                     "SASL: the listener of %s (%s) does not do SASL at all while "
                     "%s.security.protocol is %s: use the broker's SASL listener or set it to %s",
                     a, boot, a, proto, tls ? "SSL" : "PLAINTEXT");
            return;
        }
        const char *offer = strstr(r, "supported mechanisms: ");
        char off[200] = "";
        if (offer) {
            snprintf(off, sizeof(off), "%s", offer + 22);
            char *paren = strstr(off, " (after");
            if (paren)
                *paren = 0;
        }
        snprintf(d->message, n,
                 "SASL: %s (%s) does not enable mechanism %s%s%s%s: set %s.sasl.mechanism to "
                 "one it enables",
                 a, boot, mech ? mech : "?", off[0] ? " (it offers " : "", off, off[0] ? ")" : "",
                 a);
    } else if (cl->iam.enabled && (has(r, "OAUTHBEARER token") || has(r, "no AWS credentials"))) {
        /* kferry's own token callback failed: the credential chain */
        d->result = "iam_credentials";
        char why[700];
        mskiam_last_error(cl, why, sizeof(why));
        snprintf(d->message, n,
                 "MSK IAM on %s (%s): no token could be made: %s (see docs/MSK.md for the "
                 "credential sources kferry tries)",
                 a, boot, why[0] ? why : r);
    } else if (cl->iam.enabled &&
               (err == RD_KAFKA_RESP_ERR__AUTHENTICATION || has(r, "SASL authentication error") ||
                has(r, "Authentication failed"))) {
        d->result = "iam_authentication_failed";
        char who[512];
        mskiam_describe(cl, who, sizeof(who));
        snprintf(d->message, n,
                 "MSK IAM authentication failed on %s (%s): the broker refused the token%s%s: "
                 "check the secret key of these credentials, the clock, the region and that the "
                 "identity's IAM policy allows kafka-cluster:Connect on this cluster",
                 a, boot, who[0] ? " of " : "", who[0] ? who + 11 : "");
    } else if (err == RD_KAFKA_RESP_ERR__AUTHENTICATION || has(r, "SASL authentication error") ||
               has(r, "Authentication failed")) {
        d->result = "sasl_authentication_failed";
        const char *user = mc_prop(cl, "sasl.username");
        snprintf(d->message, n,
                 "SASL authentication failed on %s (%s): %s with %s was refused: wrong user "
                 "name or password (%s.sasl.jaas.config, or sasl.username/sasl.password)",
                 a, boot, user ? "user" : "the login", mech ? mech : "?", a);
        if (user) { /* the user name helps; the password is never shown */
            char tmp[1024];
            snprintf(tmp, sizeof(tmp),
                     "SASL authentication failed on %s (%s): user '%s' with %s was refused: "
                     "wrong user name or password (%s.sasl.jaas.config, or "
                     "sasl.username/sasl.password)",
                     a, boot, user, mech ? mech : "?", a);
            snprintf(d->message, n, "%s", tmp);
        }
    } else if (!tls && (has(r, "connecting to a SSL listener") || has(r, "Invalid response size") ||
                        (has(r, "Disconnected while requesting ApiVersion")))) {
        d->result = "plaintext_to_tls";
        snprintf(d->message, n,
                 "%s (%s) closed the connection at the first request: the listener probably "
                 "speaks TLS while %s.security.protocol is %s: set it to %s",
                 a, boot, a, proto, mech ? "SASL_SSL" : "SSL (or SASL_SSL)");
    } else if (tls && (has(r, "PLAINTEXT broker listener") || has(r, "wrong version number") ||
                       has(r, "packet length too long") || has(r, "record layer failure") ||
                       has(r, "unexpected eof while reading"))) {
        d->result = "tls_to_plaintext";
        snprintf(d->message, n,
                 "TLS handshake with %s (%s) failed: the listener does not speak TLS while "
                 "%s.security.protocol is %s: use the broker's TLS listener or set it to %s",
                 a, boot, a, proto, mech ? "SASL_PLAINTEXT" : "PLAINTEXT");
    } else if (!mech && has(r, "might require SASL")) {
        d->result = "sasl_required";
        snprintf(d->message, n,
                 "%s (%s) closed the connection right after it was set up: the listener "
                 "probably requires SASL: set %s.security.protocol=%s, sasl.mechanism and the "
                 "credentials (sasl.jaas.config)",
                 a, boot, a, tls ? "SASL_SSL" : "SASL_PLAINTEXT");
    } else if (has(r, "Connection refused") || has(r, "Failed to resolve") || has(r, "timed out") ||
               has(r, "Host is unreachable") || has(r, "No route to host") ||
               err == RD_KAFKA_RESP_ERR__RESOLVE) {
        d->result = "unreachable";
        snprintf(d->message, n, "cannot reach %s (%s): %s", a, boot, r);
    } else if (has(r, "SSL")) {
        d->result = "error";
        snprintf(d->message, n, "TLS error with %s (%s): %s", a, boot, r);
    } else {
        snprintf(d->message, n, "%s (%s): %s", a, boot, r);
    }
}
