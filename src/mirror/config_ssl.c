/*
 * config_ssl.c - the Java SSL settings MirrorMaker 2 users already have,
 * mapped to librdkafka's (see docs/SECURITY.md, "kferry on secured
 * clusters"):
 *
 *   truststore PEM file          -> ssl.ca.location
 *   ssl.truststore.certificates  -> ssl.ca.pem
 *   truststore PKCS12            -> ssl.ca.pem (read here with OpenSSL:
 *                                   librdkafka cannot read a PKCS12 truststore)
 *   keystore PKCS12              -> ssl.certificate.pem + ssl.key.pem (opened here)
 *   keystore PEM file or inline  -> ssl.certificate.pem + ssl.key.pem
 *                                   (+ ssl.key.password)
 *   JKS/JCEKS stores             -> refused, with the keytool command
 *
 * When ssl.*store.type is not set the type is the file's content (JKS
 * magic, PEM text or DER PKCS12), as Java's keystore loader does.
 * Everything is opened and parsed at config time, so a wrong path or
 * password is a config error naming the setting, never a TLS failure later.
 */
#include "mirror/config_int.h"

#include "common/log.h"
#include "common/util.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { ST_UNKNOWN = 0, ST_PEM, ST_PKCS12, ST_JKS, ST_JCEKS };
static const char *g_st_names[] = {"unknown", "PEM", "PKCS12", "JKS", "JCEKS"};

#define MAX_STORE (16u << 20)

int mc_java_ssl_slot(mc_java_ssl *j, const char *key, mc_jval **slot) {
    static const struct {
        const char *name;
        size_t off;
    } map[] = {
        {"ssl.truststore.type", offsetof(mc_java_ssl, ts_type)},
        {"ssl.truststore.location", offsetof(mc_java_ssl, ts_location)},
        {"ssl.truststore.password", offsetof(mc_java_ssl, ts_password)},
        {"ssl.truststore.certificates", offsetof(mc_java_ssl, ts_certificates)},
        {"ssl.keystore.type", offsetof(mc_java_ssl, ks_type)},
        {"ssl.keystore.location", offsetof(mc_java_ssl, ks_location)},
        {"ssl.keystore.password", offsetof(mc_java_ssl, ks_password)},
        {"ssl.keystore.certificate.chain", offsetof(mc_java_ssl, ks_chain)},
        {"ssl.keystore.key", offsetof(mc_java_ssl, ks_key)},
        {"ssl.key.password", offsetof(mc_java_ssl, key_password)},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (!strcmp(map[i].name, key)) {
            *slot = (mc_jval *)((char *)j + map[i].off);
            return 1;
        }
    return 0;
}

typedef struct mapctx {
    const char *prefix;
    mc_emit_fn emit;
    mc_err_fn err;
    void *ctx;
    int nerr;
} mapctx;

__attribute__((format(printf, 3, 4))) static void fail(mapctx *m, int line, const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    m->err(m->ctx, line, msg);
    m->nerr++;
}

static void ossl_reason(char *out, size_t len) {
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, out, len);
    else
        snprintf(out, len, "no further detail");
    ERR_clear_error();
}

/* The file's type by its first bytes. */
static int sniff(const kf_buf *b) {
    const uint8_t *d = b->data;
    if (b->len >= 4 && d[0] == 0xfe && d[1] == 0xed && d[2] == 0xfe && d[3] == 0xed)
        return ST_JKS;
    if (b->len >= 4 && d[0] == 0xce && d[1] == 0xce && d[2] == 0xce && d[3] == 0xce)
        return ST_JCEKS;
    if (b->len >= 2 && d[0] == 0x30 && d[1] >= 0x80)
        return ST_PKCS12; /* a DER SEQUENCE with a long length */
    if (memmem(b->data, b->len, "-----BEGIN ", 11))
        return ST_PEM;
    return ST_UNKNOWN;
}

static int type_of(const char *t) {
    if (!t)
        return ST_UNKNOWN;
    for (int i = ST_PEM; i <= ST_JCEKS; i++)
        if (!strcasecmp(t, g_st_names[i]))
            return i;
    return -1;
}

/* Reads a store named by setting (e.g. "onprem.ssl.truststore.location");
 * -1 after reporting. */
static int read_store(mapctx *m, const char *setting, const mc_jval *loc, kf_buf *b) {
    kf_buf_init(b, 0);
    if (kf_read_file(loc->v, b, MAX_STORE) != 0) {
        fail(m, loc->line, "%s%s=%s: cannot read the file: %s", m->prefix, setting, loc->v,
             errno == EFBIG ? "larger than 16 MiB" : strerror(errno));
        kf_buf_free(b);
        return -1;
    }
    return 0;
}

/* The store's type from its content and ssl.*store.type; -1 after reporting
 * (JKS refused with the keytool command). */
static int store_type(mapctx *m, const char *which, const mc_jval *type, const mc_jval *loc,
                      const kf_buf *b) {
    int want = type_of(type->v);
    if (want < 0) {
        fail(m, type->line, "%sssl.%s.type=%s: expected PEM or PKCS12 (JKS must be converted)",
             m->prefix, which, type->v);
        return -1;
    }
    int got = sniff(b);
    if (got == ST_JKS || got == ST_JCEKS ||
        ((want == ST_JKS || want == ST_JCEKS) && got == ST_UNKNOWN)) {
        int st = got == ST_JKS || got == ST_JCEKS ? got : want;
        char dest[4200];
        size_t l = strlen(loc->v);
        if (l > 4 && (!strcasecmp(loc->v + l - 4, ".jks") || !strcasecmp(loc->v + l - 4, ".jck")))
            snprintf(dest, sizeof(dest), "%.*s.p12", (int)(l - 4), loc->v);
        else
            snprintf(dest, sizeof(dest), "%s.p12", loc->v);
        fail(m, loc->line,
             "%sssl.%s.location=%s is a Java %s store, which librdkafka (kferry's Kafka client) "
             "cannot read. Convert it to PKCS12 with\n"
             "    keytool -importkeystore -srckeystore %s -srcstoretype %s -destkeystore %s "
             "-deststoretype PKCS12\n"
             "  then set %sssl.%s.location=%s and %sssl.%s.type=PKCS12 (the password stays the "
             "same%s)",
             m->prefix, which, loc->v, g_st_names[st], loc->v, g_st_names[st], dest, m->prefix,
             which, dest, m->prefix, which,
             strcmp(which, "keystore") ? ""
                                       : "; keytool gives the key the store's password, as "
                                         "librdkafka needs");
        return -1;
    }
    if (want == ST_JKS && got == ST_PKCS12)
        want = ST_PKCS12; /* Java reads a PKCS12 file typed JKS too */
    if (got == ST_UNKNOWN) {
        fail(m, loc->line, "%sssl.%s.location=%s: neither PEM nor PKCS12 (nor JKS)", m->prefix,
             which, loc->v);
        return -1;
    }
    if (want != ST_UNKNOWN && want != got) {
        fail(m, type->line ? type->line : loc->line,
             "%sssl.%s.type=%s but %s holds %s: set %sssl.%s.type=%s", m->prefix, which, type->v,
             loc->v, g_st_names[got], m->prefix, which, g_st_names[got]);
        return -1;
    }
    return got;
}

/* Appends every certificate of the PEM text to out (re-encoded); count. */
static int pem_certs(const char *text, size_t len, kf_buf *out) {
    BIO *in = BIO_new_mem_buf(text, (int)len);
    if (!in)
        return -1;
    int n = 0;
    X509 *x;
    while ((x = PEM_read_bio_X509(in, NULL, NULL, NULL)) != NULL) {
        BIO *o = BIO_new(BIO_s_mem());
        if (o && PEM_write_bio_X509(o, x)) {
            char *d;
            long dl = BIO_get_mem_data(o, &d);
            if (out)
                kf_buf_append(out, d, (size_t)dl);
            n++;
        }
        BIO_free(o);
        X509_free(x);
    }
    ERR_clear_error(); /* the loop ends with "no start line" */
    BIO_free(in);
    return n;
}

static int pass_cb(char *buf, int size, int rwflag, void *u) {
    (void)rwflag;
    const char *pw = u;
    if (!pw)
        return -1;
    int l = (int)strlen(pw);
    if (l > size)
        l = size;
    memcpy(buf, pw, (size_t)l);
    return l;
}

/* The single private key block of text (any PEM key type), or -1. */
static int pem_key_block(const char *text, size_t len, const char **start, size_t *klen) {
    const char *p = text, *end = text + len;
    while ((p = memmem(p, (size_t)(end - p), "-----BEGIN ", 11)) != NULL) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            return -1;
        if (memmem(p, (size_t)(eol - p), "PRIVATE KEY-----", 16)) {
            const char *e = memmem(eol, (size_t)(end - eol), "-----END ", 9);
            const char *e2 = e ? memchr(e, '\n', (size_t)(end - e)) : NULL;
            if (!e)
                return -1;
            *start = p;
            *klen = (size_t)((e2 ? e2 + 1 : end) - p);
            return 0;
        }
        p = eol;
    }
    return -1;
}

/* Checks that key (PEM) opens with password; -1 after reporting. */
static int check_key(mapctx *m, const char *key, size_t klen, const mc_jval *pw, const char *what,
                     int line) {
    BIO *in = BIO_new_mem_buf(key, (int)klen);
    EVP_PKEY *k = in ? PEM_read_bio_PrivateKey(in, NULL, pass_cb, (void *)pw->v) : NULL;
    BIO_free(in);
    int encrypted = memmem(key, klen, "ENCRYPTED", 9) != NULL;
    if (!k) {
        char why[256];
        ossl_reason(why, sizeof(why));
        if (encrypted && !pw->v)
            fail(m, line, "%s: the private key is encrypted: set %sssl.key.password", what,
                 m->prefix);
        else if (encrypted)
            fail(m, pw->line, "%sssl.key.password does not decrypt the private key of %s (%s)",
                 m->prefix, what, why);
        else
            fail(m, line, "%s: the private key cannot be read (%s)", what, why);
        return -1;
    }
    EVP_PKEY_free(k);
    return 0;
}

/* The key of a PKCS12 store as unencrypted PEM (a secret: the caller
 * cleanses and frees it). NULL with err. */
static char *pkcs12_key_pem(const char *path, const char *password, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    PKCS12 *p12 = d2i_PKCS12_fp(f, NULL);
    fclose(f);
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    STACK_OF(X509) *ca = NULL;
    int ok = p12 && PKCS12_parse(p12, password ? password : "", &key, &cert, &ca) && key;
    PKCS12_free(p12);
    X509_free(cert);
    sk_X509_pop_free(ca, X509_free);
    char *out = NULL;
    BIO *o = ok ? BIO_new(BIO_s_mem()) : NULL;
    if (o && PEM_write_bio_PrivateKey(o, key, NULL, NULL, 0, NULL, NULL)) {
        char *d;
        long dl = BIO_get_mem_data(o, &d);
        out = kf_strndup(d, (size_t)dl);
        OPENSSL_cleanse(d, (size_t)dl);
    }
    BIO_free(o);
    EVP_PKEY_free(key);
    ERR_clear_error();
    if (!out)
        snprintf(err, errlen, "%s holds no private key", path);
    return out;
}

int mc_pkcs12_certs_pem(const char *path, const char *password, char **pem, int *ncerts, char *err,
                        size_t errlen) {
    *pem = NULL;
    *ncerts = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    PKCS12 *p12 = d2i_PKCS12_fp(f, NULL);
    fclose(f);
    char why[256];
    if (!p12) {
        ossl_reason(why, sizeof(why));
        snprintf(err, errlen, "%s is not a PKCS12 file (%s)", path, why);
        return -1;
    }
    if (PKCS12_mac_present(p12) && !PKCS12_verify_mac(p12, password ? password : "", -1)) {
        ERR_clear_error();
        PKCS12_free(p12);
        snprintf(err, errlen, "%s: wrong password (the PKCS12 integrity check failed)", path);
        return -1;
    }
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    STACK_OF(X509) *ca = NULL;
    int ok = PKCS12_parse(p12, password ? password : "", &key, &cert, &ca);
    PKCS12_free(p12);
    if (!ok) {
        ossl_reason(why, sizeof(why));
        snprintf(err, errlen, "%s: cannot decrypt the PKCS12 contents (%s)", path, why);
        return -1;
    }
    kf_buf b;
    kf_buf_init(&b, 0);
    BIO *o = BIO_new(BIO_s_mem());
    int n = 0;
    if (o && cert && PEM_write_bio_X509(o, cert))
        n++;
    for (int i = 0; o && ca && i < sk_X509_num(ca); i++)
        if (PEM_write_bio_X509(o, sk_X509_value(ca, i)))
            n++;
    if (o) {
        char *d;
        long dl = BIO_get_mem_data(o, &d);
        kf_buf_append(&b, d, (size_t)dl);
    }
    kf_buf_append(&b, "", 1);
    BIO_free(o);
    EVP_PKEY_free(key);
    X509_free(cert);
    sk_X509_pop_free(ca, X509_free);
    if (!kf_buf_ok(&b) || n == 0) {
        kf_buf_free(&b);
        snprintf(err, errlen, "%s holds no certificate", path);
        return -1;
    }
    *pem = (char *)b.data;
    *ncerts = n;
    return 0;
}

static void truststore(mapctx *m, const mc_java_ssl *j) {
    char w[4400];
    if (j->ts_certificates.v) {
        int t = type_of(j->ts_type.v);
        if (t != ST_UNKNOWN && t != ST_PEM) {
            fail(m, j->ts_type.line, "%sssl.truststore.certificates needs ssl.truststore.type=PEM",
                 m->prefix);
            return;
        }
        if (j->ts_location.v) {
            fail(m, j->ts_location.line,
                 "%sssl.truststore.location and %sssl.truststore.certificates are exclusive",
                 m->prefix, m->prefix);
            return;
        }
        kf_buf out;
        kf_buf_init(&out, 0);
        int n = pem_certs(j->ts_certificates.v, strlen(j->ts_certificates.v), &out);
        kf_buf_free(&out);
        if (n <= 0) {
            fail(m, j->ts_certificates.line,
                 "%sssl.truststore.certificates: no PEM certificate (-----BEGIN CERTIFICATE-----)",
                 m->prefix);
            return;
        }
        snprintf(w, sizeof(w), "(%d certificate(s) from %sssl.truststore.certificates)", n,
                 m->prefix);
        m->emit(m->ctx, "ssl.ca.pem", j->ts_certificates.v, w, j->ts_certificates.line);
        return;
    }
    if (!j->ts_location.v) {
        if (j->ts_type.v && type_of(j->ts_type.v) < 0)
            fail(m, j->ts_type.line, "%sssl.truststore.type=%s: expected PEM or PKCS12", m->prefix,
                 j->ts_type.v);
        return;
    }
    kf_buf b;
    if (read_store(m, "ssl.truststore.location", &j->ts_location, &b))
        return;
    int t = store_type(m, "truststore", &j->ts_type, &j->ts_location, &b);
    if (t == ST_PEM) {
        int n = pem_certs((const char *)b.data, b.len, NULL);
        if (n <= 0)
            fail(m, j->ts_location.line,
                 "%sssl.truststore.location=%s: no PEM certificate in the file", m->prefix,
                 j->ts_location.v);
        else
            m->emit(m->ctx, "ssl.ca.location", j->ts_location.v, NULL, j->ts_location.line);
    } else if (t == ST_PKCS12) {
        char *pem = NULL, eb[1024];
        int n = 0;
        if (mc_pkcs12_certs_pem(j->ts_location.v, j->ts_password.v, &pem, &n, eb, sizeof(eb))) {
            fail(m, j->ts_password.v ? j->ts_password.line : j->ts_location.line,
                 "%sssl.truststore.location: %s%s", m->prefix, eb,
                 j->ts_password.v ? "" : " (is ssl.truststore.password missing?)");
        } else {
            snprintf(w, sizeof(w), "(%d certificate(s) from the PKCS12 truststore %s)", n,
                     j->ts_location.v);
            m->emit(m->ctx, "ssl.ca.pem", pem, w, j->ts_location.line);
        }
        free(pem);
    }
    kf_buf_free(&b);
}

/* Certificates after the first of the PEM text that are intermediate CAs
 * (not self-signed). */
static int intermediates(const char *text, size_t len) {
    BIO *in = BIO_new_mem_buf(text, (int)len);
    int n = 0, i = 0;
    X509 *x;
    while (in && (x = PEM_read_bio_X509(in, NULL, NULL, NULL)) != NULL) {
        if (i++ > 0 && X509_check_issued(x, x) != X509_V_OK)
            n++;
        X509_free(x);
    }
    ERR_clear_error();
    BIO_free(in);
    return n;
}

/* librdkafka 2.0.2 sends only the leaf of ssl.certificate.pem and of a
 * PKCS12 keystore; only ssl.certificate.location sends the whole chain. */
static void warn_leaf_only(mapctx *m, int line, const char *what, int n) {
    if (n > 0)
        kf_warn("config",
                "line %d: %s holds %d intermediate CA certificate(s), but librdkafka 2.0.2 sends "
                "only the client certificate itself from it: the broker must trust the issuing "
                "CA directly, or use a PEM keystore file (%sssl.keystore.type=PEM), whose whole "
                "chain is sent",
                line, what, n, m->prefix);
}

/* PEM certificates and key given as text (file: the one file holding both,
 * NULL for the inline settings). */
static void pem_identity(mapctx *m, const char *certs, size_t clen, const char *keytext,
                         size_t kalen, const mc_java_ssl *j, const char *what, int line,
                         const char *file) {
    kf_buf chain;
    kf_buf_init(&chain, 0);
    int n = pem_certs(certs, clen, &chain);
    const char *kb = NULL;
    size_t kl = 0;
    if (n <= 0)
        fail(m, line, "%s: no PEM certificate (-----BEGIN CERTIFICATE-----)", what);
    else if (pem_key_block(keytext, kalen, &kb, &kl))
        fail(m, line, "%s: no PEM private key (-----BEGIN ... PRIVATE KEY-----)", what);
    else if (check_key(m, kb, kl, &j->key_password, what, line) == 0) {
        kf_buf_append(&chain, "", 1);
        char *key = kf_strndup(kb, kl);
        char w[4400];
        snprintf(w, sizeof(w), "(%d certificate(s) from %s)", n, what);
        if (file) { /* librdkafka reads the chain and the key from the same file */
            m->emit(m->ctx, "ssl.certificate.location", file, NULL, line);
            m->emit(m->ctx, "ssl.key.location", file, NULL, line);
        } else {
            warn_leaf_only(m, line, what, intermediates(certs, clen));
            m->emit(m->ctx, "ssl.certificate.pem", (const char *)chain.data, w, line);
            m->emit(m->ctx, "ssl.key.pem", key, NULL, line);
        }
        if (j->key_password.v)
            m->emit(m->ctx, "ssl.key.password", j->key_password.v, NULL, j->key_password.line);
        free(key);
    }
    kf_buf_free(&chain);
}

static void keystore(mapctx *m, const mc_java_ssl *j) {
    char what[4400];
    if (j->ks_chain.v || j->ks_key.v) {
        int t = type_of(j->ks_type.v);
        if (t != ST_UNKNOWN && t != ST_PEM)
            fail(m, j->ks_type.line,
                 "%sssl.keystore.certificate.chain/ssl.keystore.key need "
                 "ssl.keystore.type=PEM",
                 m->prefix);
        else if (!j->ks_chain.v || !j->ks_key.v)
            fail(m, j->ks_chain.v ? j->ks_chain.line : j->ks_key.line,
                 "%sssl.keystore.certificate.chain and %sssl.keystore.key must be set together",
                 m->prefix, m->prefix);
        else if (j->ks_location.v)
            fail(m, j->ks_location.line,
                 "%sssl.keystore.location and %sssl.keystore.key are exclusive", m->prefix,
                 m->prefix);
        else {
            snprintf(what, sizeof(what), "%sssl.keystore.certificate.chain/key", m->prefix);
            pem_identity(m, j->ks_chain.v, strlen(j->ks_chain.v), j->ks_key.v, strlen(j->ks_key.v),
                         j, what, j->ks_key.line, NULL);
        }
        return;
    }
    if (!j->ks_location.v) {
        if (j->key_password.v) /* librdkafka's own ssl.key.location/pem use it */
            m->emit(m->ctx, "ssl.key.password", j->key_password.v, NULL, j->key_password.line);
        return;
    }
    kf_buf b;
    if (read_store(m, "ssl.keystore.location", &j->ks_location, &b))
        return;
    int t = store_type(m, "keystore", &j->ks_type, &j->ks_location, &b);
    if (t == ST_PEM) {
        snprintf(what, sizeof(what), "%sssl.keystore.location=%s", m->prefix, j->ks_location.v);
        pem_identity(m, (const char *)b.data, b.len, (const char *)b.data, b.len, j, what,
                     j->ks_location.line, j->ks_location.v);
    } else if (t == ST_PKCS12) {
        char *pem = NULL, eb[1024];
        int n = 0;
        if (!j->ks_password.v)
            fail(m, j->ks_location.line,
                 "%sssl.keystore.location=%s: a PKCS12 keystore needs %sssl.keystore.password",
                 m->prefix, j->ks_location.v, m->prefix);
        else if (j->key_password.v && strcmp(j->key_password.v, j->ks_password.v))
            fail(m, j->key_password.line,
                 "%sssl.key.password differs from %sssl.keystore.password: librdkafka opens a "
                 "PKCS12 keystore and its key with one password; re-export the keystore with "
                 "one password (keytool -importkeystore ... -deststoretype PKCS12) or remove "
                 "ssl.key.password if it is the same",
                 m->prefix, m->prefix);
        else if (mc_pkcs12_certs_pem(j->ks_location.v, j->ks_password.v, &pem, &n, eb, sizeof(eb)))
            fail(m, j->ks_password.line, "%sssl.keystore.location: %s", m->prefix, eb);
        else {
            /* Opened here and handed over as PEM: librdkafka 2.0.2's own
             * PKCS12 loading leaks OpenSSL objects (seen under LeakSanitizer),
             * and it sends only the leaf from either. */
            char *key = pkcs12_key_pem(j->ks_location.v, j->ks_password.v, eb, sizeof(eb));
            snprintf(what, sizeof(what), "%sssl.keystore.location=%s", m->prefix, j->ks_location.v);
            if (!key) {
                fail(m, j->ks_location.line, "%sssl.keystore.location: %s", m->prefix, eb);
            } else {
                warn_leaf_only(m, j->ks_location.line, what, intermediates(pem, strlen(pem)));
                char w[4500];
                snprintf(w, sizeof(w), "(%d certificate(s) from %s)", n, what);
                m->emit(m->ctx, "ssl.certificate.pem", pem, w, j->ks_location.line);
                m->emit(m->ctx, "ssl.key.pem", key, NULL, j->ks_location.line);
                OPENSSL_cleanse(key, strlen(key));
                free(key);
            }
        }
        free(pem);
    }
    kf_buf_free(&b);
}

int mc_java_ssl_map(const char *prefix, const mc_java_ssl *j, mc_emit_fn emit, mc_err_fn err,
                    void *ctx) {
    mapctx m = {prefix, emit, err, ctx, 0};
    truststore(&m, j);
    keystore(&m, j);
    return m.nerr;
}
