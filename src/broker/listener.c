/*
 * listener.c - listener configuration and TLS contexts (see listener.h).
 *
 * TLS material is read with OpenSSL in the forms Kafka's PEM and PKCS#12
 * settings describe.  Java KeyStores (JKS) cannot be read without a JVM, so
 * they are refused with the keytool command that converts them.  No error
 * message here ever contains a password or key.
 */
#include "broker/listener.h"

#include "broker/principal_map.h"
#include "common/log.h"
#include "common/util.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *proto_names[] = {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"};

const char *kb_proto_name(int proto) { return proto >= 0 && proto < 4 ? proto_names[proto] : "?"; }

static int proto_of(const char *s, size_t len) {
    for (int i = 0; i < 4; i++)
        if (strlen(proto_names[i]) == len && strncasecmp(proto_names[i], s, len) == 0)
            return i;
    return -1;
}

static void add_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#include <stdarg.h>
static void add_err(char *err, size_t errlen, const char *fmt, ...) {
    size_t used = strlen(err);
    if (used + 1 >= errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + used, errlen - used, fmt, ap);
    va_end(ap);
    used = strlen(err);
    if (used + 1 < errlen) {
        err[used] = '\n';
        err[used + 1] = '\0';
    }
}

static void trim(const char **s, size_t *len) {
    while (*len && isspace((unsigned char)**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len && isspace((unsigned char)(*s)[*len - 1]))
        (*len)--;
}

/* The next item of a comma-separated list into e/el, trimmed (el is 0 for
 * an empty item); advances *s past it.  0 at the end of the list. */
static int next_item(const char **s, const char **e, size_t *el) {
    if (!**s)
        return 0;
    const char *comma = strchr(*s, ',');
    size_t len = comma ? (size_t)(comma - *s) : strlen(*s);
    *e = *s;
    *el = len;
    trim(e, el);
    *s += len;
    if (**s == ',')
        (*s)++;
    return 1;
}

/* One "NAME://host:port" entry. 0 or -1 with *why. */
static int parse_endpoint(const char *s, size_t len, char *name, size_t namecap, char *host,
                          size_t hostcap, int *port, const char **why) {
    const char *sep = NULL;
    for (size_t i = 0; i + 2 < len; i++)
        if (s[i] == ':' && s[i + 1] == '/' && s[i + 2] == '/') {
            sep = s + i;
            break;
        }
    if (!sep) {
        *why = "expected NAME://HOST:PORT";
        return -1;
    }
    size_t nl = (size_t)(sep - s);
    if (nl == 0 || nl >= namecap) {
        *why = "listener name empty or too long";
        return -1;
    }
    for (size_t i = 0; i < nl; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-') {
            *why = "listener names are letters, digits, '_' and '-'";
            return -1;
        }
    memcpy(name, s, nl);
    name[nl] = '\0';
    const char *hp = sep + 3, *end = s + len;
    const char *colon = NULL;
    const char *h0 = hp, *h1;
    if (hp < end && *hp == '[') {
        const char *rb = memchr(hp, ']', (size_t)(end - hp));
        if (!rb || rb + 1 >= end || rb[1] != ':') {
            *why = "expected [IPv6]:PORT";
            return -1;
        }
        h0 = hp + 1;
        h1 = rb;
        colon = rb + 1;
    } else {
        for (const char *q = hp; q < end; q++)
            if (*q == ':')
                colon = q;
        if (!colon) {
            *why = "missing :PORT";
            return -1;
        }
        h1 = colon;
    }
    if ((size_t)(h1 - h0) >= hostcap) {
        *why = "host name too long";
        return -1;
    }
    memcpy(host, h0, (size_t)(h1 - h0));
    host[h1 - h0] = '\0';
    char pbuf[16];
    size_t pl = (size_t)(end - colon - 1);
    int64_t pv;
    if (pl == 0 || pl >= sizeof(pbuf)) {
        *why = "bad port";
        return -1;
    }
    memcpy(pbuf, colon + 1, pl);
    pbuf[pl] = '\0';
    if (kf_parse_i64(pbuf, 0, 65535, &pv) != 0) {
        *why = "port must be 0..65535";
        return -1;
    }
    *port = (int)pv;
    return 0;
}

static kb_listener *find_listener(kb_listeners *ls, const char *name) {
    for (size_t i = 0; i < ls->n; i++)
        if (strcasecmp(ls->l[i].name, name) == 0)
            return &ls->l[i];
    return NULL;
}

static void where_of(kf_props *p, kf_prop *it, char *w, size_t cap) {
    if (it->line > 0)
        snprintf(w, cap, "%s:%d: %s", p->source ? p->source : "config", it->line, it->key);
    else
        snprintf(w, cap, "%s", it->key);
}

static kf_prop *find_prop(kf_props *p, const char *key) {
    kf_prop *found = NULL;
    for (size_t i = 0; i < p->count; i++)
        if (strcmp(p->items[i].key, key) == 0)
            found = &p->items[i]; /* the last one wins, as in a properties file */
    return found;
}

static void add_listener(kb_listeners *ls, const char *name, const char *host, int port,
                         const char *w, char *err, size_t errlen, int *bad) {
    if (find_listener(ls, name)) {
        add_err(err, errlen, "%s: listener %s is defined twice", w, name);
        *bad = 1;
        return;
    }
    if (ls->n >= KB_MAX_LISTENERS) {
        add_err(err, errlen, "%s: at most %d listeners", w, KB_MAX_LISTENERS);
        *bad = 1;
        return;
    }
    kb_listener *l = &ls->l[ls->n++];
    memset(l, 0, sizeof(*l));
    l->fd = -1;
    l->proto = -1;
    kf_strlcpy(l->name, name, sizeof(l->name));
    for (size_t i = 0; name[i] && i + 1 < sizeof(l->lname); i++)
        l->lname[i] = (char)tolower((unsigned char)name[i]);
    kf_strlcpy(l->host, host, sizeof(l->host));
    l->port = port;
}

/* The TLS keys this file understands (after an optional listener.name.X.). */
static const char *ssl_keys[] = {
    "ssl.keystore.type",
    "ssl.keystore.location",
    "ssl.keystore.password",
    "ssl.key.password",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.key",
    "ssl.truststore.type",
    "ssl.truststore.location",
    "ssl.truststore.password",
    "ssl.truststore.certificates",
    "ssl.client.auth",
    "ssl.enabled.protocols",
    "ssl.protocol",
    "ssl.cipher.suites",
    "ssl.principal.mapping.rules",
    "ssl.endpoint.identification.algorithm",
    "ssl.keymanager.algorithm",
    "ssl.trustmanager.algorithm",
    "ssl.secure.random.implementation",
};

/* Returns the ssl key of `key` (with or without listener.name.X.), or NULL;
 * the listener name goes to lst ("" when general). */
static const char *ssl_key_of(const char *key, char *lst, size_t lstcap) {
    lst[0] = '\0';
    const char *k = key;
    if (strncmp(key, "listener.name.", 14) == 0) {
        const char *dot = strchr(key + 14, '.');
        if (!dot || (size_t)(dot - (key + 14)) >= lstcap)
            return NULL;
        memcpy(lst, key + 14, (size_t)(dot - (key + 14)));
        lst[dot - (key + 14)] = '\0';
        k = dot + 1;
    }
    for (size_t i = 0; i < sizeof(ssl_keys) / sizeof(ssl_keys[0]); i++)
        if (strcmp(k, ssl_keys[i]) == 0)
            return ssl_keys[i];
    return NULL;
}

int kb_listeners_config(kb_listeners *ls, kf_props *p, const char *cli_listen, char *err,
                        size_t errlen) {
    int bad = 0;
    memset(ls, 0, sizeof(*ls));
    ls->handshake_timeout_ms = 10000;
    char w[400];
    if (cli_listen) {
        char host[256];
        int port = 0;
        if (kf_parse_hostport(cli_listen, host, sizeof(host), &port) != 0) {
            add_err(err, errlen, "--listen expects HOST:PORT, got '%s'", cli_listen);
            bad = 1;
        } else {
            add_listener(ls, "PLAINTEXT", host, port, "--listen", err, errlen, &bad);
            ls->l[0].proto = KB_PROTO_PLAINTEXT;
        }
    }
    kf_prop *it = find_prop(p, "listeners");
    if (it) {
        where_of(p, it, w, sizeof(w));
        const char *s = it->value;
        const char *e;
        size_t el;
        while (next_item(&s, &e, &el)) {
            if (el) {
                char name[64], host[256];
                int port;
                const char *why = NULL;
                if (parse_endpoint(e, el, name, sizeof(name), host, sizeof(host), &port, &why) !=
                    0) {
                    add_err(err, errlen, "%s: '%.*s': %s", w, (int)el, e, why);
                    bad = 1;
                } else if (cli_listen && strcasecmp(name, "PLAINTEXT") == 0) {
                    add_err(err, errlen,
                            "%s: listener PLAINTEXT is also given by --listen; rename one of them",
                            w);
                    bad = 1;
                } else {
                    add_listener(ls, name, host, port, w, err, errlen, &bad);
                }
            }
        }
    }
    /* Security protocol of each listener: the map, else its own name. */
    kf_prop *map = find_prop(p, "listener.security.protocol.map");
    if (map) {
        where_of(p, map, w, sizeof(w));
        const char *s = map->value;
        const char *e;
        size_t el;
        while (next_item(&s, &e, &el)) {
            const char *colon = el ? memchr(e, ':', el) : NULL;
            if (el && !colon) {
                add_err(err, errlen, "%s: '%.*s': expected NAME:PROTOCOL", w, (int)el, e);
                bad = 1;
            } else if (el) {
                char name[64];
                size_t nl = (size_t)(colon - e);
                int pr = proto_of(colon + 1, el - nl - 1);
                if (nl == 0 || nl >= sizeof(name) || pr < 0) {
                    add_err(err, errlen,
                            "%s: '%.*s': expected NAME:PROTOCOL with PROTOCOL one of PLAINTEXT, "
                            "SSL, SASL_PLAINTEXT, SASL_SSL",
                            w, (int)el, e);
                    bad = 1;
                } else {
                    memcpy(name, e, nl);
                    name[nl] = '\0';
                    kb_listener *l = find_listener(ls, name);
                    if (l && l->proto >= 0 && l->proto != pr && l == &ls->l[0] && cli_listen) {
                        add_err(err, errlen, "%s: the --listen listener is PLAINTEXT", w);
                        bad = 1;
                    } else if (l) {
                        l->proto = pr;
                    }
                }
            }
        }
    }
    for (size_t i = 0; i < ls->n; i++) {
        kb_listener *l = &ls->l[i];
        if (l->proto < 0)
            l->proto = proto_of(l->name, strlen(l->name));
        if (l->proto < 0) {
            add_err(err, errlen,
                    "listeners: listener %s has no security protocol: add %s:SSL (or PLAINTEXT, "
                    "SASL_PLAINTEXT, SASL_SSL) to listener.security.protocol.map",
                    l->name, l->name);
            bad = 1;
        }
        for (size_t j = 0; j < i; j++)
            if (l->port && l->port == ls->l[j].port && strcmp(l->host, ls->l[j].host) == 0) {
                add_err(err, errlen, "listeners: %s and %s both use port %d", ls->l[j].name,
                        l->name, l->port);
                bad = 1;
            }
    }
    /* advertised.listeners: NAME://host:port entries; a bare host:port
     * (older kferry-broker configs) advertises the first listener. */
    kf_prop *adv = find_prop(p, "advertised.listeners");
    if (adv) {
        where_of(p, adv, w, sizeof(w));
        const char *s = adv->value;
        if (!strstr(s, "://")) {
            char host[256];
            int port;
            if (kf_parse_hostport(s, host, sizeof(host), &port) != 0 || !host[0] || port == 0) {
                add_err(err, errlen, "%s: expected NAME://HOST:PORT,... or HOST:PORT, got '%s'", w,
                        s);
                bad = 1;
            } else if (ls->n) {
                kf_strlcpy(ls->l[0].adv_host, host, sizeof(ls->l[0].adv_host));
                ls->l[0].adv_port = port;
            }
        } else {
            const char *e;
            size_t el;
            while (next_item(&s, &e, &el)) {
                if (el) {
                    char name[64], host[256];
                    int port;
                    const char *why = NULL;
                    kb_listener *l = NULL;
                    if (parse_endpoint(e, el, name, sizeof(name), host, sizeof(host), &port,
                                       &why) != 0) {
                        add_err(err, errlen, "%s: '%.*s': %s", w, (int)el, e, why);
                        bad = 1;
                    } else if (!(l = find_listener(ls, name))) {
                        add_err(err, errlen, "%s: %s is not one of the listeners", w, name);
                        bad = 1;
                    } else {
                        kf_strlcpy(l->adv_host, host, sizeof(l->adv_host));
                        l->adv_port = port;
                    }
                }
            }
        }
    }
    /* TLS keys: known ones, for an existing listener. */
    for (size_t i = 0; i < p->count; i++) {
        kf_prop *x = &p->items[i];
        if (strcmp(x->key, "listeners") == 0 || strcmp(x->key, "advertised.listeners") == 0 ||
            strcmp(x->key, "listener.security.protocol.map") == 0) {
            x->used = 1;
            continue;
        }
        if (strcmp(x->key, "kferry.ssl.handshake.timeout.ms") == 0) {
            x->used = 1;
            where_of(p, x, w, sizeof(w));
            if (kf_parse_i64(x->value, 1, INT32_MAX, &ls->handshake_timeout_ms) != 0) {
                add_err(err, errlen, "%s: expected an integer in 1..2147483647, got '%s'", w,
                        x->value);
                bad = 1;
            }
            continue;
        }
        char lst[64];
        const char *k = ssl_key_of(x->key, lst, sizeof(lst));
        if (!k)
            continue;
        x->used = 1;
        where_of(p, x, w, sizeof(w));
        if (lst[0] && !find_listener(ls, lst)) {
            add_err(err, errlen, "%s: there is no listener named %s", w, lst);
            bad = 1;
        }
        if (strcmp(k, "ssl.client.auth") == 0 && strcmp(x->value, "none") != 0 &&
            strcmp(x->value, "requested") != 0 && strcmp(x->value, "required") != 0) {
            add_err(err, errlen, "%s: expected none, requested or required, got '%s'", w, x->value);
            bad = 1;
        }
    }
    size_t l = strlen(err);
    if (l && err[l - 1] == '\n')
        err[l - 1] = '\0';
    return bad ? -1 : 0;
}

/* ---------------------------------------------------------------------- */
/* TLS contexts                                                            */

/* listener.name.<l>.<key>, else <key>; NULL when neither is set. */
static const char *lget(kf_props *p, const kb_listener *l, const char *key) {
    char k[256];
    snprintf(k, sizeof(k), "listener.name.%s.%s", l->lname, key);
    kf_prop *it = find_prop(p, k);
    if (it)
        return it->value;
    it = find_prop(p, key);
    return it ? it->value : NULL;
}

static void ssl_errstr(char *buf, size_t cap) {
    unsigned long e = ERR_get_error();
    unsigned long last = e;
    while (e) {
        last = e;
        e = ERR_get_error();
    }
    if (last)
        ERR_error_string_n(last, buf, cap);
    else
        kf_strlcpy(buf, "unknown OpenSSL error", cap);
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcasecmp(s + a - b, suf) == 0;
}

/* Store type: explicit, else from the file name; Kafka's default is JKS. */
static const char *store_type(const char *type, const char *loc, int inline_pem) {
    if (type && *type)
        return type;
    if (inline_pem)
        return "PEM";
    if (loc && (ends_with(loc, ".pem") || ends_with(loc, ".crt")))
        return "PEM";
    if (loc && (ends_with(loc, ".p12") || ends_with(loc, ".pfx")))
        return "PKCS12";
    return "JKS";
}

static void jks_refusal(char *err, size_t errlen, const kb_listener *l, const char *what,
                        const char *loc) {
    add_err(err, errlen,
            "listener %s: %s %s is a Java KeyStore (JKS), which kferry-broker cannot read; "
            "convert it once with: keytool -importkeystore -srckeystore %s -srcstoretype JKS "
            "-destkeystore %s.p12 -deststoretype PKCS12 and set %s.type=PKCS12 and "
            "%s.location=%s.p12",
            l->name, what, loc ? loc : "(no location)", loc ? loc : "FILE", loc ? loc : "FILE",
            what, what, loc ? loc : "FILE");
}

typedef struct pwcb {
    const char *pw;
} pwcb;

static int pem_pw_cb(char *buf, int size, int rwflag, void *u) {
    (void)rwflag;
    const pwcb *c = u;
    if (!c || !c->pw)
        return 0;
    size_t n = strlen(c->pw);
    if (n > (size_t)size)
        return 0;
    memcpy(buf, c->pw, n);
    return (int)n;
}

static int read_text(const char *path, kf_buf *b, char *why, size_t whycap) {
    kf_buf_init(b, 16u * 1024 * 1024);
    if (kf_read_file(path, b, 16u * 1024 * 1024) != 0) {
        snprintf(why, whycap, "cannot read %s: %s", path, strerror(errno));
        kf_buf_free(b);
        return -1;
    }
    return 0;
}

/* Certificates and key from PEM text into ctx. */
static int use_pem(SSL_CTX *ctx, const char *chain, size_t chainlen, const char *key, size_t keylen,
                   const char *keypw, char *why, size_t whycap) {
    int rc = -1;
    BIO *cb = BIO_new_mem_buf(chain, (int)chainlen);
    BIO *kb = BIO_new_mem_buf(key, (int)keylen);
    pwcb pc = {keypw};
    X509 *leaf = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
    if (!leaf) {
        snprintf(why, whycap, "no PEM certificate found");
        goto out;
    }
    if (SSL_CTX_use_certificate(ctx, leaf) != 1) {
        char e[160];
        ssl_errstr(e, sizeof(e));
        snprintf(why, whycap, "certificate not usable: %s", e);
        X509_free(leaf);
        goto out;
    }
    X509_free(leaf);
    X509 *extra;
    while ((extra = PEM_read_bio_X509(cb, NULL, NULL, NULL)) != NULL) {
        if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) {
            X509_free(extra);
            break;
        }
    }
    ERR_clear_error();
    EVP_PKEY *pk = kb ? PEM_read_bio_PrivateKey(kb, NULL, pem_pw_cb, &pc) : NULL;
    if (!pk) {
        unsigned long e = ERR_peek_last_error();
        int reason = ERR_GET_REASON(e);
        ERR_clear_error();
        if (reason == PEM_R_BAD_DECRYPT || reason == PEM_R_BAD_PASSWORD_READ ||
            reason == EVP_R_BAD_DECRYPT)
            snprintf(why, whycap,
                     "the private key cannot be decrypted: wrong or missing "
                     "ssl.key.password");
        else if (!keypw && memmem(key, keylen, "ENCRYPTED", 9))
            snprintf(why, whycap, "the private key is encrypted: set ssl.key.password");
        else
            snprintf(why, whycap, "no usable PEM private key found (or wrong ssl.key.password)");
        goto out;
    }
    if (SSL_CTX_use_PrivateKey(ctx, pk) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        snprintf(why, whycap, "the private key does not belong to the certificate");
        EVP_PKEY_free(pk);
        goto out;
    }
    EVP_PKEY_free(pk);
    rc = 0;
out:
    BIO_free(cb);
    BIO_free(kb);
    return rc;
}

static int p12_load(const char *path, const char *pw, EVP_PKEY **pk, X509 **cert,
                    STACK_OF(X509) * *ca, char *why, size_t whycap) {
    kf_buf b;
    if (read_text(path, &b, why, whycap) != 0)
        return -1;
    const unsigned char *d = b.data;
    PKCS12 *p12 = d2i_PKCS12(NULL, &d, (long)b.len);
    kf_buf_free(&b);
    if (!p12) {
        ERR_clear_error();
        snprintf(why, whycap, "%s is not a PKCS#12 file", path);
        return -1;
    }
    int ok = PKCS12_parse(p12, pw ? pw : "", pk, cert, ca);
    PKCS12_free(p12);
    if (ok != 1) {
        ERR_clear_error();
        snprintf(why, whycap, "cannot open PKCS#12 file %s: wrong password?", path);
        return -1;
    }
    return 0;
}

static int load_keystore(SSL_CTX *ctx, kf_props *p, const kb_listener *l, char *err,
                         size_t errlen) {
    const char *loc = lget(p, l, "ssl.keystore.location");
    const char *chain = lget(p, l, "ssl.keystore.certificate.chain");
    const char *key = lget(p, l, "ssl.keystore.key");
    const char *kpw = lget(p, l, "ssl.key.password");
    const char *spw = lget(p, l, "ssl.keystore.password");
    const char *type = store_type(lget(p, l, "ssl.keystore.type"), loc, chain != NULL);
    char why[512] = "";
    if (!loc && !chain) {
        add_err(err, errlen,
                "listener %s (%s): no server certificate: set ssl.keystore.location (PEM or "
                "PKCS12) or ssl.keystore.certificate.chain and ssl.keystore.key",
                l->name, kb_proto_name(l->proto));
        return -1;
    }
    if (strcasecmp(type, "JKS") == 0) {
        jks_refusal(err, errlen, l, "ssl.keystore", loc);
        return -1;
    }
    if (strcasecmp(type, "PEM") == 0) {
        if (chain) {
            if (!key) {
                add_err(err, errlen,
                        "listener %s: ssl.keystore.certificate.chain needs "
                        "ssl.keystore.key",
                        l->name);
                return -1;
            }
            if (use_pem(ctx, chain, strlen(chain), key, strlen(key), kpw, why, sizeof(why)) != 0) {
                add_err(err, errlen, "listener %s: ssl.keystore.certificate.chain/key: %s", l->name,
                        why);
                return -1;
            }
            return 0;
        }
        kf_buf b;
        if (read_text(loc, &b, why, sizeof(why)) != 0) {
            add_err(err, errlen, "listener %s: ssl.keystore.location: %s", l->name, why);
            return -1;
        }
        int rc = use_pem(ctx, (const char *)b.data, b.len, (const char *)b.data, b.len, kpw, why,
                         sizeof(why));
        kf_buf_free(&b);
        if (rc != 0) {
            add_err(err, errlen, "listener %s: ssl.keystore.location %s: %s", l->name, loc, why);
            return -1;
        }
        return 0;
    }
    if (strcasecmp(type, "PKCS12") == 0) {
        if (!loc) {
            add_err(err, errlen,
                    "listener %s: ssl.keystore.type=PKCS12 needs "
                    "ssl.keystore.location",
                    l->name);
            return -1;
        }
        EVP_PKEY *pk = NULL;
        X509 *cert = NULL;
        STACK_OF(X509) *ca = NULL;
        if (p12_load(loc, spw, &pk, &cert, &ca, why, sizeof(why)) != 0 &&
            (!kpw || p12_load(loc, kpw, &pk, &cert, &ca, why, sizeof(why)) != 0)) {
            add_err(err, errlen, "listener %s: ssl.keystore.location: %s", l->name, why);
            return -1;
        }
        int ok = pk && cert && SSL_CTX_use_certificate(ctx, cert) == 1 &&
                 SSL_CTX_use_PrivateKey(ctx, pk) == 1 && SSL_CTX_check_private_key(ctx) == 1;
        for (int i = 0; ok && ca && i < sk_X509_num(ca); i++)
            SSL_CTX_add1_chain_cert(ctx, sk_X509_value(ca, i));
        EVP_PKEY_free(pk);
        X509_free(cert);
        sk_X509_pop_free(ca, X509_free);
        ERR_clear_error();
        if (!ok) {
            add_err(err, errlen,
                    "listener %s: ssl.keystore.location %s holds no usable "
                    "private key and certificate",
                    l->name, loc);
            return -1;
        }
        return 0;
    }
    add_err(err, errlen, "listener %s: ssl.keystore.type '%s': expected PEM or PKCS12", l->name,
            type);
    return -1;
}

static int add_pem_certs(X509_STORE *st, const char *pem, size_t len) {
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    int n = 0;
    X509 *x;
    while (b && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        if (X509_STORE_add_cert(st, x) == 1)
            n++;
        X509_free(x);
    }
    ERR_clear_error();
    BIO_free(b);
    return n;
}

/* 1 with certificates loaded, 0 when no truststore is configured, -1. */
static int load_truststore(SSL_CTX *ctx, kf_props *p, const kb_listener *l, char *err,
                           size_t errlen) {
    const char *loc = lget(p, l, "ssl.truststore.location");
    const char *certs = lget(p, l, "ssl.truststore.certificates");
    const char *pw = lget(p, l, "ssl.truststore.password");
    if (!loc && !certs)
        return 0;
    const char *type = store_type(lget(p, l, "ssl.truststore.type"), loc, certs != NULL);
    X509_STORE *st = SSL_CTX_get_cert_store(ctx);
    char why[512];
    if (strcasecmp(type, "JKS") == 0) {
        jks_refusal(err, errlen, l, "ssl.truststore", loc);
        return -1;
    }
    if (strcasecmp(type, "PEM") == 0) {
        int n;
        if (certs) {
            n = add_pem_certs(st, certs, strlen(certs));
        } else {
            kf_buf b;
            if (read_text(loc, &b, why, sizeof(why)) != 0) {
                add_err(err, errlen, "listener %s: ssl.truststore.location: %s", l->name, why);
                return -1;
            }
            n = add_pem_certs(st, (const char *)b.data, b.len);
            kf_buf_free(&b);
        }
        if (n == 0) {
            add_err(err, errlen, "listener %s: %s holds no PEM certificate", l->name,
                    certs ? "ssl.truststore.certificates" : loc);
            return -1;
        }
        return 1;
    }
    if (strcasecmp(type, "PKCS12") == 0) {
        if (!loc) {
            add_err(err, errlen,
                    "listener %s: ssl.truststore.type=PKCS12 needs "
                    "ssl.truststore.location",
                    l->name);
            return -1;
        }
        EVP_PKEY *pk = NULL;
        X509 *cert = NULL;
        STACK_OF(X509) *ca = NULL;
        if (p12_load(loc, pw, &pk, &cert, &ca, why, sizeof(why)) != 0) {
            add_err(err, errlen, "listener %s: ssl.truststore.location: %s", l->name, why);
            return -1;
        }
        int n = 0;
        if (cert && X509_STORE_add_cert(st, cert) == 1)
            n++;
        for (int i = 0; ca && i < sk_X509_num(ca); i++)
            if (X509_STORE_add_cert(st, sk_X509_value(ca, i)) == 1)
                n++;
        EVP_PKEY_free(pk);
        X509_free(cert);
        sk_X509_pop_free(ca, X509_free);
        ERR_clear_error();
        if (n == 0) {
            add_err(err, errlen, "listener %s: ssl.truststore.location %s holds no certificate",
                    l->name, loc);
            return -1;
        }
        return 1;
    }
    add_err(err, errlen, "listener %s: ssl.truststore.type '%s': expected PEM or PKCS12", l->name,
            type);
    return -1;
}

static int proto_version(const char *s, size_t len) {
    static const struct {
        const char *name;
        int v;
    } vs[] = {{"TLSv1.2", TLS1_2_VERSION}, {"TLSv1.3", TLS1_3_VERSION}};
    for (size_t i = 0; i < 2; i++)
        if (strlen(vs[i].name) == len && strncmp(vs[i].name, s, len) == 0)
            return vs[i].v;
    return 0;
}

static int set_protocols(SSL_CTX *ctx, const char *v, const kb_listener *l, char *err,
                         size_t errlen) {
    int lo = 0, hi = 0;
    const char *s = v;
    const char *e;
    size_t el;
    while (next_item(&s, &e, &el)) {
        if (el) {
            int pv = proto_version(e, el);
            if (!pv) {
                add_err(err, errlen,
                        "listener %s: ssl.enabled.protocols: '%.*s' is not supported (TLSv1.2, "
                        "TLSv1.3)",
                        l->name, (int)el, e);
                return -1;
            }
            if (!lo || pv < lo)
                lo = pv;
            if (pv > hi)
                hi = pv;
        }
    }
    if (!lo) {
        add_err(err, errlen, "listener %s: ssl.enabled.protocols names no protocol", l->name);
        return -1;
    }
    SSL_CTX_set_min_proto_version(ctx, lo);
    SSL_CTX_set_max_proto_version(ctx, hi);
    return 0;
}

/* ssl.cipher.suites holds Java (IANA) names; OpenSSL knows them as
 * standard names of its own ciphers.  TLS 1.3 suites share one naming. */
static int set_ciphers(SSL_CTX *ctx, const char *v, const kb_listener *l, char *err,
                       size_t errlen) {
    char tls12[4096] = "", tls13[1024] = "";
    STACK_OF(SSL_CIPHER) *all = NULL;
    SSL *probe = SSL_new(ctx);
    if (probe) {
        SSL_set_cipher_list(probe, "ALL:COMPLEMENTOFALL");
        all = SSL_get1_supported_ciphers(probe);
    }
    const char *s = v;
    int rc = 0;
    const char *e;
    size_t el;
    while (next_item(&s, &e, &el) && rc == 0) {
        if (el) {
            char name[128];
            if (el >= sizeof(name)) {
                add_err(err, errlen, "listener %s: ssl.cipher.suites: name too long", l->name);
                rc = -1;
                break;
            }
            memcpy(name, e, el);
            name[el] = '\0';
            const char *ossl = NULL;
            int is13 = strncmp(name, "TLS_AES_", 8) == 0 || strncmp(name, "TLS_CHACHA20", 12) == 0;
            for (int i = 0; !is13 && all && i < sk_SSL_CIPHER_num(all); i++) {
                const SSL_CIPHER *c = sk_SSL_CIPHER_value(all, i);
                const char *std = SSL_CIPHER_standard_name(c);
                if ((std && strcmp(std, name) == 0) || strcmp(SSL_CIPHER_get_name(c), name) == 0)
                    ossl = SSL_CIPHER_get_name(c);
            }
            char *dst = is13 ? tls13 : tls12;
            size_t cap = is13 ? sizeof(tls13) : sizeof(tls12);
            if (!is13 && !ossl) {
                add_err(err, errlen, "listener %s: ssl.cipher.suites: unknown cipher suite '%s'",
                        l->name, name);
                rc = -1;
                break;
            }
            size_t used = strlen(dst);
            snprintf(dst + used, cap - used, "%s%s", used ? ":" : "", is13 ? name : ossl);
        }
    }
    sk_SSL_CIPHER_free(all);
    SSL_free(probe);
    if (rc != 0)
        return -1;
    if ((tls12[0] && SSL_CTX_set_cipher_list(ctx, tls12) != 1) ||
        (tls13[0] && SSL_CTX_set_ciphersuites(ctx, tls13) != 1)) {
        ERR_clear_error();
        add_err(err, errlen, "listener %s: ssl.cipher.suites: OpenSSL refused the list", l->name);
        return -1;
    }
    return 0;
}

static int open_tls(kb_listener *l, kf_props *p, char *err, size_t errlen) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        add_err(err, errlen, "listener %s: cannot create a TLS context", l->name);
        return -1;
    }
    l->ssl_ctx = ctx;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* A client that closes without close_notify is an ordinary end of
     * stream (clients do that all the time), not a TLS error. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    /* No resumption (every connection authenticates afresh); the session
     * id context must still be set, or clients offering a session id to a
     * listener that verifies peers fail the handshake. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"kferry-broker", 13);
    int bad = 0;
    if (load_keystore(ctx, p, l, err, errlen) != 0)
        bad = 1;
    int trust = load_truststore(ctx, p, l, err, errlen);
    if (trust < 0)
        bad = 1;
    const char *ca = lget(p, l, "ssl.client.auth");
    l->client_auth = !ca || strcmp(ca, "none") == 0 ? KB_CLIENT_AUTH_NONE
                     : strcmp(ca, "requested") == 0 ? KB_CLIENT_AUTH_REQUESTED
                                                    : KB_CLIENT_AUTH_REQUIRED;
    if (l->client_auth != KB_CLIENT_AUTH_NONE && trust == 0) {
        add_err(err, errlen,
                "listener %s: ssl.client.auth=%s needs a truststore of the CAs that sign client "
                "certificates (ssl.truststore.location or ssl.truststore.certificates)",
                l->name, ca);
        bad = 1;
    }
    /* Kafka checks client certificates only on SSL listeners' client auth
     * setting; SASL_SSL clients usually present none. */
    if (l->client_auth == KB_CLIENT_AUTH_REQUIRED)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    else if (l->client_auth == KB_CLIENT_AUTH_REQUESTED)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    else
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    const char *prot = lget(p, l, "ssl.enabled.protocols");
    if (prot && set_protocols(ctx, prot, l, err, errlen) != 0)
        bad = 1;
    const char *ciphers = lget(p, l, "ssl.cipher.suites");
    if (ciphers && *ciphers && set_ciphers(ctx, ciphers, l, err, errlen) != 0)
        bad = 1;
    char why[512] = "";
    l->pmap = kb_pmap_parse(lget(p, l, "ssl.principal.mapping.rules"), why, sizeof(why));
    if (!l->pmap) {
        add_err(err, errlen, "listener %s: ssl.principal.mapping.rules: %s", l->name, why);
        bad = 1;
    }
    return bad ? -1 : 0;
}

int kb_listeners_open(kb_listeners *ls, kf_props *p, char *err, size_t errlen) {
    int bad = 0;
    for (size_t i = 0; i < ls->n; i++) {
        kb_listener *l = &ls->l[i];
        if (kb_proto_is_tls(l->proto) && open_tls(l, p, err, errlen) != 0)
            bad = 1;
    }
    size_t n = strlen(err);
    if (n && err[n - 1] == '\n')
        err[n - 1] = '\0';
    return bad ? -1 : 0;
}

void kb_listeners_free(kb_listeners *ls) {
    for (size_t i = 0; i < ls->n; i++) {
        SSL_CTX_free(ls->l[i].ssl_ctx);
        ls->l[i].ssl_ctx = NULL;
        kb_pmap_free(ls->l[i].pmap);
        ls->l[i].pmap = NULL;
    }
}

int kb_tls_principal(const kb_listener *l, void *ssl, char *out, size_t cap, char *why,
                     size_t whylen) {
    X509 *peer = SSL_get1_peer_certificate((SSL *)ssl);
    if (!peer) {
        kf_strlcpy(out, "User:ANONYMOUS", cap);
        return 0;
    }
    BIO *b = BIO_new(BIO_s_mem());
    char dn[1024] = "";
    if (b) {
        X509_NAME_print_ex(b, X509_get_subject_name(peer), 0,
                           XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
        int n = BIO_read(b, dn, (int)sizeof(dn) - 1);
        dn[n > 0 ? n : 0] = '\0';
        BIO_free(b);
    }
    X509_free(peer);
    char name[512];
    if (!l->pmap || kb_pmap_apply(l->pmap, dn, name, sizeof(name)) != 0) {
        snprintf(why, whylen,
                 "no ssl.principal.mapping.rules rule applies to the client certificate "
                 "subject '%s'",
                 dn);
        return -1;
    }
    if (!name[0]) {
        snprintf(why, whylen, "ssl.principal.mapping.rules mapped '%s' to an empty name", dn);
        return -1;
    }
    if (snprintf(out, cap, "User:%s", name) >= (int)cap) {
        snprintf(why, whylen, "principal of '%s' is too long", dn);
        return -1;
    }
    return 0;
}

void kb_listeners_print_reference(FILE *f) {
    fprintf(
        f,
        "| `listeners` | (from --listen) | NAME://HOST:PORT,... | Listeners to bind; port 0 "
        "picks a free port. `--listen HOST:PORT` adds one named PLAINTEXT in front. |\n"
        "| `listener.security.protocol.map` | each name maps to itself | NAME:PROTOCOL,... | "
        "Security protocol of each listener: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL. |\n"
        "| `advertised.listeners` | (the bound addresses) | NAME://HOST:PORT,... | Addresses "
        "given to clients in Metadata and FindCoordinator, per listener; port 0 = the bound "
        "port; a bare HOST:PORT applies to the first listener. |\n"
        "| `ssl.keystore.type` | from the file name; else JKS (refused) | PEM, PKCS12 | Server "
        "certificate store of SSL/SASL_SSL listeners; a JKS store is refused with the keytool "
        "command that converts it. |\n"
        "| `ssl.keystore.location` | (none) | path | PEM file with the private key and the "
        "certificate chain, or a PKCS#12 file. |\n"
        "| `ssl.keystore.certificate.chain`, `ssl.keystore.key` | (none) | PEM text | The "
        "chain and key inline, instead of a file (sensitive). |\n"
        "| `ssl.keystore.password`, `ssl.key.password` | (none) | text | Password of a PKCS#12 "
        "store; of an encrypted PEM key (sensitive). |\n"
        "| `ssl.truststore.type`, `ssl.truststore.location`, `ssl.truststore.password`, "
        "`ssl.truststore.certificates` | (none) | PEM, PKCS12 | CAs whose client "
        "certificates are accepted (needed for ssl.client.auth). |\n"
        "| `ssl.client.auth` | none | none, requested, required | Whether TLS clients must "
        "present a certificate; its subject becomes the principal on SSL listeners. |\n"
        "| `ssl.enabled.protocols` | TLSv1.2,TLSv1.3 | TLSv1.2, TLSv1.3 | TLS versions "
        "offered. |\n"
        "| `ssl.cipher.suites` | (OpenSSL's defaults) | IANA names | Cipher suites, by the "
        "names Java uses. |\n"
        "| `ssl.principal.mapping.rules` | DEFAULT | RULE:pattern/replacement/[LU],...,DEFAULT | "
        "Maps a client certificate's subject (RFC 2253) to a principal name, as Kafka does. |\n"
        "| `kferry.ssl.handshake.timeout.ms` | 10000 | 1..2147483647 | kferry-broker only: a "
        "TLS handshake not done in this time closes the connection. |\n"
        "| `listener.name.<listener>.ssl.*` | (the ssl.* value) | as above | Any ssl.* key for "
        "one listener. |\n");
}
