/*
 * demo_pki.c - certificates for `kferry demo --secure`, made with OpenSSL's
 * X509 API: an ECDSA P-256 CA valid for a day, and leaf certificates it
 * signs.  Nothing here is meant for production: the keys are unencrypted
 * files in the demo's temporary directory, removed with it.
 */
#include "migrate/demo_pki.h"

#include "common/util.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct demo_pki {
    char dir[PATH_MAX];
    char ca_path[PATH_MAX + 16];
    EVP_PKEY *ca_key;
    X509 *ca;
    long serial;
};

static int fail(char *err, size_t errlen, const char *what) {
    unsigned long e = ERR_get_error();
    char reason[256] = "";
    if (e)
        ERR_error_string_n(e, reason, sizeof(reason));
    snprintf(err, errlen, "%s%s%s", what, e ? ": " : "", reason);
    ERR_clear_error();
    return -1;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return -1;
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

/* A certificate for subject CN=cn,O=kferry demo with key, signed by
 * (issuer, issuer_key); self-signed when issuer is NULL. */
static X509 *make_cert(demo_pki *p, EVP_PKEY *key, const char *cn, int is_ca) {
    X509 *cert = X509_new();
    if (!cert)
        return NULL;
    X509_NAME *name = X509_get_subject_name(cert);
    int ok =
        X509_set_version(cert, 2) && ASN1_INTEGER_set(X509_get_serialNumber(cert), ++p->serial) &&
        X509_gmtime_adj(X509_getm_notBefore(cert), -300) &&
        X509_gmtime_adj(X509_getm_notAfter(cert), 24L * 3600) && X509_set_pubkey(cert, key) &&
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"kferry demo",
                                   -1, -1, 0) &&
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    X509 *issuer = is_ca ? cert : p->ca;
    ok = ok && X509_set_issuer_name(cert, X509_get_subject_name(issuer));
    if (ok && is_ca)
        ok = add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE") == 0 &&
             add_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign") == 0 &&
             add_ext(cert, cert, NID_subject_key_identifier, "hash") == 0;
    else if (ok)
        ok = add_ext(cert, issuer, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
             add_ext(cert, issuer, NID_key_usage, "critical,digitalSignature,keyAgreement") == 0 &&
             add_ext(cert, issuer, NID_ext_key_usage, "serverAuth,clientAuth") == 0 &&
             add_ext(cert, issuer, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost") == 0 &&
             add_ext(cert, issuer, NID_authority_key_identifier, "keyid:always") == 0;
    ok = ok && X509_sign(cert, is_ca ? key : p->ca_key, EVP_sha256()) > 0;
    if (!ok) {
        X509_free(cert);
        return NULL;
    }
    return cert;
}

static int write_pem(const char *path, mode_t mode, X509 *cert, X509 *chain, EVP_PKEY *key) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        return -1;
    }
    int ok = 1;
    if (cert)
        ok = ok && PEM_write_X509(f, cert);
    if (chain)
        ok = ok && PEM_write_X509(f, chain);
    if (key)
        ok = ok && PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    return fclose(f) == 0 && ok ? 0 : -1;
}

demo_pki *demo_pki_new(const char *dir, char *err, size_t errlen) {
    demo_pki *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    kf_strlcpy(p->dir, dir, sizeof(p->dir));
    snprintf(p->ca_path, sizeof(p->ca_path), "%s/ca.pem", dir);
    p->ca_key = EVP_EC_gen("P-256");
    if (!p->ca_key) {
        fail(err, errlen, "cannot generate the demo CA key");
        demo_pki_free(p);
        return NULL;
    }
    p->ca = make_cert(p, p->ca_key, "kferry demo CA", 1);
    if (!p->ca) {
        fail(err, errlen, "cannot make the demo CA certificate");
        demo_pki_free(p);
        return NULL;
    }
    if (write_pem(p->ca_path, 0644, p->ca, NULL, NULL) != 0) {
        snprintf(err, errlen, "cannot write %s", p->ca_path);
        demo_pki_free(p);
        return NULL;
    }
    return p;
}

void demo_pki_free(demo_pki *p) {
    if (!p)
        return;
    X509_free(p->ca);
    EVP_PKEY_free(p->ca_key);
    free(p);
}

const char *demo_pki_ca(const demo_pki *p) { return p->ca_path; }

int demo_pki_issue(demo_pki *p, const char *name, const char *cn, char *err, size_t errlen) {
    EVP_PKEY *key = EVP_EC_gen("P-256");
    if (!key)
        return fail(err, errlen, "cannot generate a key");
    X509 *cert = make_cert(p, key, cn, 0);
    if (!cert) {
        EVP_PKEY_free(key);
        return fail(err, errlen, "cannot make a certificate");
    }
    char crt[PATH_MAX + 32], kpath[PATH_MAX + 32];
    snprintf(crt, sizeof(crt), "%s/%s.pem", p->dir, name);
    snprintf(kpath, sizeof(kpath), "%s/%s.key", p->dir, name);
    int rc = 0;
    if (write_pem(crt, 0644, cert, p->ca, NULL) != 0 || write_pem(kpath, 0600, NULL, NULL, key)) {
        snprintf(err, errlen, "cannot write %s or %s", crt, kpath);
        rc = -1;
    }
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}
