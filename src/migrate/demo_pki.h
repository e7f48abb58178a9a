/*
 * demo_pki.h - a throw-away certificate authority for `kferry demo --secure`:
 * one CA and the certificates the demo's brokers and clients present, as PEM
 * files in the demo's directory (see demo_pki.c).
 */
#ifndef KF_MIGRATE_DEMO_PKI_H
#define KF_MIGRATE_DEMO_PKI_H

#include <stddef.h>

typedef struct demo_pki demo_pki;

/* Creates dir/ca.pem (the CA certificate) and keeps the CA key in memory
 * for demo_pki_issue.  Returns NULL with a message in err on failure. */
demo_pki *demo_pki_new(const char *dir, char *err, size_t errlen);
void demo_pki_free(demo_pki *p);
const char *demo_pki_ca(const demo_pki *p);

/* Issues a certificate for subject "CN=<cn>,O=kferry demo" (server and client
 * usage, subjectAltName IP:127.0.0.1 and DNS:localhost) signed by the CA:
 * dir/<name>.pem holds the certificate followed by the CA, dir/<name>.key
 * the unencrypted private key (mode 0600).  Returns 0 or -1 with err. */
int demo_pki_issue(demo_pki *p, const char *name, const char *cn, char *err, size_t errlen);

#endif
