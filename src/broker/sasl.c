/*
 * sasl.c - SASL configuration, PLAIN users from JAAS lines, and the
 * per-connection authentication step (see sasl.h).
 *
 * Nothing here logs or reports a password: JAAS values are never echoed in
 * configuration errors, and authentication failures log the peer, the
 * mechanism and a reason, not the user name or token.
 */
#include "broker/sasl.h"

#include "common/log.h"
#include "common/util.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <unistd.h>

#define AUTH_TIMEOUT_DEFAULT 30000

static const struct {
    unsigned bit;
    const char *name;
    const char *key; /* in listener.name.<l>.<key>.sasl.jaas.config */
} mechs[] = {
    {KB_SASL_PLAIN, "PLAIN", "plain"},
    {KB_SASL_SCRAM256, "SCRAM-SHA-256", "scram-sha-256"},
    {KB_SASL_SCRAM512, "SCRAM-SHA-512", "scram-sha-512"},
    {KB_SASL_OAUTHBEARER, "OAUTHBEARER", NULL}, /* MSK IAM tokens: kferry.msk.iam.* */
};
#define NMECHS (sizeof(mechs) / sizeof(mechs[0]))

const char *kb_sasl_mech_name(unsigned bit) {
    for (size_t i = 0; i < NMECHS; i++)
        if (mechs[i].bit == bit)
            return mechs[i].name;
    return NULL;
}

unsigned kb_sasl_mech_bit(const char *name, size_t len) {
    for (size_t i = 0; i < NMECHS; i++)
        if (strlen(mechs[i].name) == len && memcmp(mechs[i].name, name, len) == 0)
            return mechs[i].bit;
    return 0;
}

void kb_sasl_mech_list(unsigned mask, char *buf, size_t cap) {
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < NMECHS; i++)
        if (mask & mechs[i].bit) {
            int n = snprintf(buf + o, cap - o, "%s%s", o ? ", " : "", mechs[i].name);
            if (n < 0 || (size_t)n >= cap - o)
                return;
            o += (size_t)n;
        }
}

static int scram_of_bit(unsigned bit) {
    return bit == KB_SASL_SCRAM256   ? KB_SCRAM_SHA256
           : bit == KB_SASL_SCRAM512 ? KB_SCRAM_SHA512
                                     : 0;
}

/* ---------------------------------------------------------------------- */
/* Configuration                                                           */

static void add_err(char *err, size_t errlen, const char *fmt, const char *a, const char *b) {
    size_t used = strlen(err);
    if (used + 1 >= errlen)
        return;
    snprintf(err + used, errlen - used, fmt, a, b);
}

static void where_of(const kf_props *p, const kf_prop *it, char *w, size_t wl) {
    if (it->line > 0)
        snprintf(w, wl, "%s:%d: %s", p->source ? p->source : "config", it->line, it->key);
    else
        snprintf(w, wl, "%s", it->key);
}

/* "PLAIN, SCRAM-SHA-256" -> mask; -1 with the offending name in bad. */
static int parse_mechs(const char *v, unsigned *mask, char *bad, size_t badlen) {
    *mask = 0;
    const char *p = v;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *s = p;
        while (*p && *p != ',' && *p != ' ' && *p != '\t')
            p++;
        unsigned bit = kb_sasl_mech_bit(s, (size_t)(p - s));
        if (!bit) {
            size_t n = (size_t)(p - s) < badlen - 1 ? (size_t)(p - s) : badlen - 1;
            memcpy(bad, s, n);
            bad[n] = '\0';
            return -1;
        }
        *mask |= bit;
    }
    if (!*mask) {
        kf_strlcpy(bad, "", badlen);
        return -1;
    }
    return 0;
}

/* Kafka's JAAS line: "Class flag key=value ... ;".  Calls add(name, pass)
 * for every user_NAME="pass" option.  Returns 0, or -1 with a reason that
 * never contains a value. *module: 1 PlainLoginModule, 2 ScramLoginModule. */
typedef int (*jaas_user_fn)(void *ctx, const char *name, const char *pass);

static const char *skip_ws(const char *p) {
    while (*p && isspace((unsigned char)*p))
        p++;
    return p;
}

static int parse_jaas(const char *v, int *module, jaas_user_fn add, void *ctx, const char **why) {
    const char *p = skip_ws(v);
    const char *cls = p;
    while (*p && !isspace((unsigned char)*p) && *p != ';')
        p++;
    size_t cl = (size_t)(p - cls);
    static const char plain_cls[] = "org.apache.kafka.common.security.plain.PlainLoginModule";
    static const char scram_cls[] = "org.apache.kafka.common.security.scram.ScramLoginModule";
    if (cl == sizeof(plain_cls) - 1 && memcmp(cls, plain_cls, cl) == 0)
        *module = 1;
    else if (cl == sizeof(scram_cls) - 1 && memcmp(cls, scram_cls, cl) == 0)
        *module = 2;
    else {
        *why = "only PlainLoginModule and ScramLoginModule are supported";
        return -1;
    }
    p = skip_ws(p);
    const char *flag = p;
    while (*p && !isspace((unsigned char)*p) && *p != ';')
        p++;
    size_t fl = (size_t)(p - flag);
    if (!((fl == 8 && !memcmp(flag, "required", 8)) || (fl == 9 && !memcmp(flag, "requisite", 9)) ||
          (fl == 10 && !memcmp(flag, "sufficient", 10)) ||
          (fl == 8 && !memcmp(flag, "optional", 8)))) {
        *why = "expected a control flag (required) after the login module";
        return -1;
    }
    for (;;) {
        p = skip_ws(p);
        if (*p == ';')
            break;
        if (!*p) {
            *why = "missing ';' at the end";
            return -1;
        }
        char key[256];
        size_t kl = 0;
        while (*p && (isalnum((unsigned char)*p) || *p == '_' || *p == '.' || *p == '-')) {
            if (kl + 1 >= sizeof(key)) {
                *why = "option name too long";
                return -1;
            }
            key[kl++] = *p++;
        }
        key[kl] = '\0';
        if (!kl || *p != '=') {
            *why = "expected key=\"value\" options";
            return -1;
        }
        p++;
        char val[KB_SASL_MAX_PASSWORD + 1];
        size_t vl = 0;
        if (*p == '"') {
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1])
                    p++;
                if (vl + 1 >= sizeof(val)) {
                    OPENSSL_cleanse(val, sizeof(val));
                    *why = "option value too long";
                    return -1;
                }
                val[vl++] = *p++;
            }
            if (*p != '"') {
                OPENSSL_cleanse(val, sizeof(val));
                *why = "unterminated quoted value";
                return -1;
            }
            p++;
        } else {
            while (*p && !isspace((unsigned char)*p) && *p != ';') {
                if (vl + 1 >= sizeof(val)) {
                    OPENSSL_cleanse(val, sizeof(val));
                    *why = "option value too long";
                    return -1;
                }
                val[vl++] = *p++;
            }
        }
        val[vl] = '\0';
        if (*module == 1 && strncmp(key, "user_", 5) == 0) {
            const char *name = key + 5;
            if (!*name || strlen(name) > KB_SASL_MAX_USER || !vl) {
                OPENSSL_cleanse(val, sizeof(val));
                *why = "user_NAME options need a non-empty name and password";
                return -1;
            }
            if (add && add(ctx, name, val) != 0) {
                OPENSSL_cleanse(val, sizeof(val));
                *why = "out of memory";
                return -1;
            }
        }
        OPENSSL_cleanse(val, sizeof(val));
    }
    p = skip_ws(p + 1);
    if (*p) {
        *why = "only one login module per line";
        return -1;
    }
    return 0;
}

/* listener.name.<l>.<rest>: copies <l> (lower case) and returns rest. */
static const char *listener_key(const char *key, char *lst, size_t cap) {
    static const char pre[] = "listener.name.";
    if (strncmp(key, pre, sizeof(pre) - 1) != 0)
        return NULL;
    const char *l = key + sizeof(pre) - 1;
    const char *dot = strchr(l, '.');
    if (!dot || dot == l || (size_t)(dot - l) >= cap)
        return NULL;
    for (size_t i = 0; i < (size_t)(dot - l); i++)
        lst[i] = (char)tolower((unsigned char)l[i]);
    lst[dot - l] = '\0';
    return dot + 1;
}

/* What a key is: 0 not ours, 1 mechanisms, 2 jaas (*mechbit: 0 = general),
 * 3 timeout, 4 ignored, 5 MSK IAM credentials file, 6 MSK IAM region. */
static int classify(const char *key, char *lst, size_t cap, unsigned *mechbit) {
    *mechbit = 0;
    lst[0] = '\0';
    if (!strcmp(key, "sasl.enabled.mechanisms"))
        return 1;
    if (!strcmp(key, "sasl.jaas.config"))
        return 2;
    if (!strcmp(key, "kferry.sasl.authentication.timeout.ms"))
        return 3;
    if (!strcmp(key, "sasl.mechanism.inter.broker.protocol"))
        return 4;
    if (!strcmp(key, "kferry.msk.iam.credentials.file"))
        return 5;
    if (!strcmp(key, "kferry.msk.iam.region"))
        return 6;
    if (!strcmp(key, "kferry.msk.iam.session.max.ms"))
        return 7;
    const char *rest = listener_key(key, lst, cap);
    if (!rest)
        return 0;
    if (!strcmp(rest, "sasl.enabled.mechanisms"))
        return 1;
    for (size_t i = 0; i < NMECHS; i++) {
        if (!mechs[i].key)
            continue;
        size_t kl = strlen(mechs[i].key);
        if (!strncmp(rest, mechs[i].key, kl) && !strcmp(rest + kl, ".sasl.jaas.config")) {
            *mechbit = mechs[i].bit;
            return 2;
        }
    }
    lst[0] = '\0';
    return 0;
}

int kb_sasl_config_check(kf_props *p, char *err, size_t errlen) {
    int bad = 0;
    const kf_prop *oauth_at = NULL, *iam_file = NULL, *iam_region = NULL;
    for (size_t i = 0; i < p->count; i++) {
        kf_prop *it = &p->items[i];
        char lst[64], w[400];
        unsigned mb;
        int kind = classify(it->key, lst, sizeof(lst), &mb);
        if (!kind)
            continue;
        it->used = 1;
        where_of(p, it, w, sizeof(w));
        if (kind == 1) {
            unsigned mask;
            char badname[64];
            if (parse_mechs(it->value, &mask, badname, sizeof(badname)) != 0) {
                if (badname[0])
                    add_err(err, errlen,
                            "%s: unsupported SASL mechanism '%s' (supported: PLAIN, "
                            "SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER)\n",
                            w, badname);
                else
                    add_err(err, errlen, "%s: names no SASL mechanism%s\n", w, "");
                bad = 1;
            } else if ((mask & KB_SASL_OAUTHBEARER) && !oauth_at) {
                oauth_at = it;
            }
        } else if (kind == 2) {
            int module = 0;
            const char *why = NULL;
            if (parse_jaas(it->value, &module, NULL, NULL, &why) != 0) {
                add_err(err, errlen, "%s: invalid JAAS configuration: %s\n", w, why);
                bad = 1;
            } else if ((mb == KB_SASL_PLAIN && module != 1) ||
                       ((mb == KB_SASL_SCRAM256 || mb == KB_SASL_SCRAM512) && module != 2)) {
                add_err(err, errlen, "%s: %s\n", w,
                        mb == KB_SASL_PLAIN ? "expected PlainLoginModule"
                                            : "expected ScramLoginModule");
                bad = 1;
            }
        } else if (kind == 3 || kind == 7) {
            int64_t n;
            if (kf_parse_i64(it->value, 1, INT32_MAX, &n) != 0) {
                add_err(err, errlen, "%s: expected an integer in 1..2147483647, got '%s'\n", w,
                        it->value);
                bad = 1;
            }
        } else if (kind == 5) {
            iam_file = it;
            if (!it->value[0]) {
                add_err(err, errlen, "%s: names no file%s\n", w, "");
                bad = 1;
            }
        } else if (kind == 6) {
            iam_region = it;
            if (!kb_msk_region_ok(it->value)) {
                add_err(err, errlen,
                        "%s: '%s' is not an AWS region name (lower-case letters, digits and "
                        "'-', e.g. us-east-1)\n",
                        w, it->value);
                bad = 1;
            }
        }
    }
    if (iam_file && !iam_region && !oauth_at) {
        char w[400];
        where_of(p, iam_file, w, sizeof(w));
        add_err(err, errlen,
                "%s: needs kferry.msk.iam.region (the AWS region MSK IAM tokens "
                "must be signed for%s)\n",
                w, "");
        bad = 1;
    }
    if (oauth_at) {
        char w[400];
        where_of(p, oauth_at, w, sizeof(w));
        if (!iam_file) {
            add_err(err, errlen,
                    "%s: OAUTHBEARER needs kferry.msk.iam.credentials.file (kferry-broker checks "
                    "OAUTHBEARER tokens as AWS MSK IAM tokens against the keys in that file%s)\n",
                    w, "");
            bad = 1;
        }
        if (!iam_region) {
            add_err(err, errlen,
                    "%s: OAUTHBEARER needs kferry.msk.iam.region (the AWS region MSK IAM tokens "
                    "must be signed for%s)\n",
                    w, "");
            bad = 1;
        }
    }
    return bad ? -1 : 0;
}

void kb_sasl_print_reference(FILE *f) {
    fprintf(
        f, "| `sasl.enabled.mechanisms` | SCRAM-SHA-256,SCRAM-SHA-512 | PLAIN, SCRAM-SHA-256, "
           "SCRAM-SHA-512, OAUTHBEARER | Mechanisms offered on SASL_PLAINTEXT/SASL_SSL listeners "
           "(Kafka's default, GSSAPI, is not supported; PLAIN sends the password and must be "
           "enabled explicitly; OAUTHBEARER checks AWS MSK IAM tokens and needs "
           "`kferry.msk.iam.credentials.file` and `kferry.msk.iam.region`). |\n"
           "| `listener.name.<listener>.sasl.enabled.mechanisms` | (sasl.enabled.mechanisms) | "
           "as above | The same for one listener. |\n"
           "| `listener.name.<listener>.plain.sasl.jaas.config` | (none) | JAAS line | "
           "PLAIN users of one listener: `org.apache.kafka.common.security.plain."
           "PlainLoginModule required user_NAME=\"PASSWORD\" ...;` (sensitive). |\n"
           "| `listener.name.<listener>.scram-sha-256.sasl.jaas.config`, "
           "`...scram-sha-512.sasl.jaas.config` | (none) | JAAS line | Accepted (ScramLoginModule; "
           "its options are for inter-broker clients and unused on one node). |\n"
           "| `sasl.jaas.config` | (none) | JAAS line | PLAIN users of every listener, same form. "
           "|\n"
           "| `kferry.sasl.authentication.timeout.ms` | 30000 | 1..2147483647 | kferry-broker "
           "only: a connection on a SASL listener that has not authenticated this long after "
           "connecting is closed. |\n"
           "| `sasl.mechanism.inter.broker.protocol` | (none) | text | Accepted and ignored "
           "(one node). |\n"
           "| `kferry.msk.iam.credentials.file` | (none) | file path | kferry-broker only: "
           "enables the AWS MSK IAM emulation. SASL/OAUTHBEARER tokens are checked as MSK "
           "checks its IAM tokens (SigV4-presigned `kafka-cluster:Connect` URL) against the "
           "keys of this AWS shared-credentials-format file: `[name]` sections with "
           "`aws_access_key_id`, `aws_secret_access_key`, optional `aws_session_token` "
           "(then required in tokens) and optional `principal` (the identity, default the "
           "section name; the connection's principal is `User:<principal>`). Required when "
           "OAUTHBEARER is enabled; read at start-up and again whenever the file changes "
           "(a key that cannot be read keeps the previous table). See SECURITY.md. |\n"
           "| `kferry.msk.iam.region` | (none) | AWS region | kferry-broker only: the region "
           "MSK IAM tokens must be signed for (host `kafka.<region>.amazonaws.com`). Required "
           "when OAUTHBEARER is enabled. |\n"
           "| `kferry.msk.iam.session.max.ms` | (none) | 1..2147483647 | kferry-broker only: "
           "an MSK IAM session ends (the connection is closed) after at most this long, even "
           "if its token is valid longer; MSK ends sessions when the credentials expire, which "
           "the token does not tell, so rehearsals and tests set this to see clients survive "
           "it. |\n");
}

/* ---------------------------------------------------------------------- */
/* Opening                                                                 */

typedef struct add_ctx {
    kb_sasl *s;
    const char *listener;
} add_ctx;

static int add_plain(void *vctx, const char *name, const char *pass) {
    add_ctx *ctx = vctx;
    kb_sasl *s = ctx->s;
    kb_plain_user *nv = realloc(s->plain, (s->nplain + 1) * sizeof(*nv));
    if (!nv)
        return -1;
    s->plain = nv;
    kb_plain_user *u = &s->plain[s->nplain];
    u->listener = ctx->listener ? kf_strdup(ctx->listener) : NULL;
    u->name = kf_strdup(name);
    u->pass = kf_strdup(pass);
    if (!u->name || !u->pass || (ctx->listener && !u->listener)) {
        free(u->listener);
        free(u->name);
        free(u->pass);
        return -1;
    }
    s->nplain++;
    return 0;
}

int kb_sasl_open(kb_broker *b, char *err, size_t errlen) {
    kb_sasl *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->mechs = KB_SASL_DEFAULT_MECHS;
    s->auth_timeout_ms = AUTH_TIMEOUT_DEFAULT;
    b->sasl = s;
    const kf_props *p = &b->cfg.raw;
    const char *iam_file = NULL, *iam_region = NULL;
    for (size_t i = 0; i < p->count; i++) {
        const kf_prop *it = &p->items[i];
        char lst[64];
        unsigned mb, mask = 0;
        char badname[64];
        int kind = classify(it->key, lst, sizeof(lst), &mb);
        if (kind == 1 && parse_mechs(it->value, &mask, badname, sizeof(badname)) == 0) {
            if (!lst[0]) {
                s->mechs = mask;
            } else {
                size_t k = 0;
                while (k < s->nlst && strcmp(s->lst[k].name, lst) != 0)
                    k++;
                if (k == s->nlst) {
                    if (s->nlst == sizeof(s->lst) / sizeof(s->lst[0])) {
                        snprintf(err, errlen, "too many listener.name.*.sasl.enabled.mechanisms");
                        return -1;
                    }
                    s->nlst++;
                    kf_strlcpy(s->lst[k].name, lst, sizeof(s->lst[k].name));
                }
                s->lst[k].mechs = mask;
            }
        } else if (kind == 2) {
            int module = 0;
            const char *why = NULL;
            add_ctx ctx = {s, lst[0] ? lst : NULL};
            if (parse_jaas(it->value, &module, add_plain, &ctx, &why) != 0) {
                snprintf(err, errlen, "%s: invalid JAAS configuration: %s", it->key, why);
                return -1;
            }
        } else if (kind == 3 || kind == 7) {
            int64_t n;
            if (kf_parse_i64(it->value, 1, INT32_MAX, &n) == 0) {
                if (kind == 3)
                    s->auth_timeout_ms = n;
                else
                    s->iam_session_max_ms = n;
            }
        } else if (kind == 5) {
            iam_file = it->value;
        } else if (kind == 6) {
            iam_region = it->value;
        }
    }
    if (iam_file && iam_file[0]) {
        if (!iam_region) {
            snprintf(err, errlen, "kferry.msk.iam.credentials.file needs kferry.msk.iam.region");
            return -1;
        }
        s->iam = calloc(1, sizeof(*s->iam));
        if (!s->iam) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        if (kb_msk_iam_load(s->iam, iam_file, iam_region, err, errlen) != 0) {
            free(s->iam);
            s->iam = NULL;
            return -1;
        }
        kf_info("sasl", "MSK IAM emulation: %zu keys from %s, region %s", s->iam->n, iam_file,
                iam_region);
    }
    if (kb_creds_open(&s->creds, b->cfg.data_dir, err, errlen) != 0)
        return -1;
    if (s->creds.n)
        kf_info("sasl", "%zu SCRAM users in %s", s->creds.n, s->creds.path);
    return 0;
}

void kb_sasl_close(kb_broker *b) {
    kb_sasl *s = b->sasl;
    if (!s)
        return;
    for (size_t i = 0; i < s->nplain; i++) {
        free(s->plain[i].listener);
        free(s->plain[i].name);
        if (s->plain[i].pass) {
            OPENSSL_cleanse(s->plain[i].pass, strlen(s->plain[i].pass));
            free(s->plain[i].pass);
        }
    }
    free(s->plain);
    kb_creds_close(&s->creds);
    if (s->iam) {
        kb_msk_iam_free(s->iam);
        free(s->iam);
    }
    free(s);
    b->sasl = NULL;
}

unsigned kb_sasl_listener_mechs(const kb_broker *b, const char *listener) {
    const kb_sasl *s = b->sasl;
    if (!s)
        return KB_SASL_DEFAULT_MECHS;
    if (listener && *listener) {
        char lower[64];
        size_t i = 0;
        for (; listener[i] && i + 1 < sizeof(lower); i++)
            lower[i] = (char)tolower((unsigned char)listener[i]);
        lower[i] = '\0';
        for (size_t k = 0; k < s->nlst; k++)
            if (!strcmp(s->lst[k].name, lower))
                return s->lst[k].mechs;
    }
    return s->mechs;
}

/* ---------------------------------------------------------------------- */
/* Sessions                                                                */

void kb_sasl_session_init(kb_sasl_session *s, int enabled, const char *listener, char *principal,
                          size_t principal_cap, int64_t now_ms) {
    memset(s, 0, sizeof(*s));
    s->enabled = enabled;
    s->started_ms = now_ms;
    if (listener)
        kf_strlcpy(s->listener, listener, sizeof(s->listener));
    s->principal = principal;
    s->principal_cap = principal_cap;
}

void kb_sasl_session_free(kb_sasl_session *s) {
    if (s->scram_live)
        kb_scram_server_free(&s->scram);
    s->scram_live = 0;
}

int kb_sasl_allows(const kb_sasl_session *s, int16_t api_key) {
    if (!s || !s->enabled || s->state == KB_SASL_ST_DONE)
        return 1;
    return api_key == KF_API_API_VERSIONS || api_key == KF_API_SASL_HANDSHAKE ||
           api_key == KF_API_SASL_AUTHENTICATE;
}

static void set_principal(kb_sasl_session *s, const char *user, size_t len) {
    if (s->principal && s->principal_cap)
        snprintf(s->principal, s->principal_cap, "User:%.*s", (int)len, user);
}

/* Constant-time equality of two secrets of any lengths (via digests). */
static int secret_eq(const char *a, size_t al, const char *b, size_t bl) {
    uint8_t da[32], db[32];
    unsigned int l1 = 0, l2 = 0;
    if (!EVP_Digest(a, al, da, &l1, EVP_sha256(), NULL) ||
        !EVP_Digest(b, bl, db, &l2, EVP_sha256(), NULL))
        return 0;
    return CRYPTO_memcmp(da, db, sizeof(da)) == 0 && al == bl;
}

static int fail(kb_sasl_session *s, const char *peer_reason, char *errmsg, size_t errlen) {
    const char *m = kb_sasl_mech_name(s->mech);
    kf_warn("sasl", "authentication failed with %s: %s", m ? m : "?", peer_reason);
    snprintf(errmsg, errlen,
             "Authentication failed during authentication due to invalid credentials with SASL "
             "mechanism %s",
             m ? m : "?");
    s->state = KB_SASL_ST_FAILED;
    kb_sasl_session_free(s);
    return -1;
}

static int step_plain(kb_broker *b, kb_sasl_session *s, const uint8_t *tok, size_t len,
                      char *errmsg, size_t errlen) {
    kb_plain_msg m;
    char why[160];
    if (kb_plain_parse(tok, len, &m, why, sizeof(why)) != 0)
        return fail(s, why, errmsg, errlen);
    if (m.authzid_len &&
        (m.authzid_len != m.user_len || memcmp(m.authzid, m.user, m.user_len) != 0))
        return fail(s, "authorization id differs from the user name", errmsg, errlen);
    kb_sasl *sc = b->sasl;
    const kb_plain_user *pu = NULL;
    /* A listener's own JAAS users first, then the general ones. */
    for (int pass = 0; pass < 2 && !pu && sc; pass++)
        for (size_t i = 0; i < sc->nplain && !pu; i++) {
            const kb_plain_user *u = &sc->plain[i];
            int scope = pass == 0 ? (u->listener && !strcasecmp(u->listener, s->listener))
                                  : (u->listener == NULL);
            if (scope && strlen(u->name) == m.user_len && !memcmp(u->name, m.user, m.user_len))
                pu = u;
        }
    int ok = 0;
    if (pu) {
        ok = secret_eq(pu->pass, strlen(pu->pass), m.pass, m.pass_len);
    } else if (sc) {
        const kb_scram_cred *c = kb_creds_find(&sc->creds, m.user, m.user_len, KB_SCRAM_SHA512);
        if (!c)
            c = kb_creds_find(&sc->creds, m.user, m.user_len, KB_SCRAM_SHA256);
        if (c)
            ok = kb_scram_check_password(c, m.pass, m.pass_len);
    }
    if (!ok)
        return fail(s, "invalid user name or password", errmsg, errlen);
    set_principal(s, m.user, m.user_len);
    s->state = KB_SASL_ST_DONE;
    kf_debug("sasl", "authenticated %s with PLAIN", s->principal ? s->principal : "?");
    return 0;
}

static int step_scram(kb_broker *b, kb_sasl_session *s, const uint8_t *tok, size_t len, kf_buf *out,
                      char *errmsg, size_t errlen) {
    char why[160];
    int mech = scram_of_bit(s->mech);
    if (!s->scram_live) {
        kb_scram_server_init(&s->scram, mech);
        s->scram_live = 1;
        if (kb_scram_server_client_first(&s->scram, (const char *)tok, len, why, sizeof(why)) != 0)
            return fail(s, why, errmsg, errlen);
        const char *user = s->scram.cf.user;
        const kb_scram_cred *c =
            b->sasl ? kb_creds_find(&b->sasl->creds, user, strlen(user), mech) : NULL;
        if (!c)
            return fail(s, "invalid user name or password", errmsg, errlen);
        if (kb_scram_server_first(&s->scram, c, NULL, out) != 0)
            return fail(s, "cannot build server-first-message", errmsg, errlen);
        return 0;
    }
    if (kb_scram_server_final(&s->scram, (const char *)tok, len, out, why, sizeof(why)) != 0)
        return fail(s, why, errmsg, errlen);
    set_principal(s, s->scram.cf.user, strlen(s->scram.cf.user));
    s->state = KB_SASL_ST_DONE;
    kf_debug("sasl", "authenticated %s with %s", s->principal ? s->principal : "?",
             kb_sasl_mech_name(s->mech));
    kb_sasl_session_free(s);
    return 0;
}

/* OAUTHBEARER with MSK IAM tokens.  A refused token gets Kafka's error
 * challenge; the exchange then fails on the client's next message. */
static int oauth_fail_final(kb_sasl_session *s, char *errmsg, size_t errlen) {
    snprintf(errmsg, errlen, "Authentication failed with SASL mechanism OAUTHBEARER (MSK IAM): %s",
             s->oauth_why[0] ? s->oauth_why : "invalid token");
    s->state = KB_SASL_ST_FAILED;
    return -1;
}

static int step_oauth(kb_broker *b, kb_sasl_session *s, const uint8_t *tok, size_t len, kf_buf *out,
                      char *errmsg, size_t errlen) {
    if (s->oauth_rejected) {
        if (!(len == 1 && tok[0] == 0x01))
            kf_warn("sasl", "OAUTHBEARER: expected the client's \\x01 after the error challenge");
        return oauth_fail_final(s, errmsg, errlen);
    }
    const char *t, *az, *why = NULL;
    size_t tl, azl;
    char reason[200], akid[129] = "";
    const kb_msk_key *k = NULL;
    int64_t exp = 0;
    if (b->sasl && b->sasl->iam)
        kb_msk_iam_reload(b->sasl->iam); /* keys added since (new temporary credentials) */
    const kb_msk_iam *iam = b->sasl ? b->sasl->iam : NULL;
    if (kb_oauthbearer_parse(tok, len, &t, &tl, &az, &azl, &why) != 0) {
        snprintf(reason, sizeof(reason), "malformed client message: %s", why);
    } else if (!iam) {
        snprintf(reason, sizeof(reason), "OAUTHBEARER is not configured");
    } else if (kb_msk_iam_check(iam, t, tl, kf_wall_ms(), &k, &exp, reason, sizeof(reason), akid,
                                sizeof(akid)) != 0) {
        k = NULL;
    } else if (azl && (azl != strlen(k->principal) || memcmp(az, k->principal, azl) != 0)) {
        snprintf(reason, sizeof(reason),
                 "the authorization id (a=) differs from the token's principal");
        k = NULL;
    }
    if (!k) {
        if (akid[0])
            kf_warn("sasl", "MSK IAM authentication failed (access key %s): %s", akid, reason);
        else
            kf_warn("sasl", "MSK IAM authentication failed: %s", reason);
        kf_strlcpy(s->oauth_why, reason, sizeof(s->oauth_why));
        s->oauth_rejected = 1;
        static const char challenge[] = "{\"status\":\"invalid_token\"}";
        kf_buf_append(out, challenge, sizeof(challenge) - 1);
        return 0;
    }
    set_principal(s, k->principal, strlen(k->principal));
    if (b->sasl->iam_session_max_ms > 0 && exp > kf_wall_ms() + b->sasl->iam_session_max_ms)
        exp = kf_wall_ms() + b->sasl->iam_session_max_ms;
    s->expires_ms = exp;
    s->state = KB_SASL_ST_DONE;
    kf_info("sasl",
            "authenticated %s with OAUTHBEARER (MSK IAM, access key %s, session for %lld s)",
            s->principal ? s->principal : "?", akid, (long long)((exp - kf_wall_ms()) / 1000));
    return 0;
}

int kb_sasl_step(kb_broker *b, kb_sasl_session *s, const uint8_t *tok, size_t len, kf_buf *out,
                 char *errmsg, size_t errlen) {
    if (s->state != KB_SASL_ST_AUTH && s->state != KB_SASL_ST_RAW) {
        snprintf(errmsg, errlen, "Unexpected SASL token in state %d", s->state);
        s->state = KB_SASL_ST_FAILED;
        return -1;
    }
    if (len > KB_SASL_MAX_TOKEN)
        return fail(s, "token too large", errmsg, errlen);
    if (s->mech == KB_SASL_OAUTHBEARER)
        return step_oauth(b, s, tok, len, out, errmsg, errlen);
    if (s->mech == KB_SASL_PLAIN)
        return step_plain(b, s, tok, len, errmsg, errlen);
    return step_scram(b, s, tok, len, out, errmsg, errlen);
}

/* ---------------------------------------------------------------------- */
/* Command line                                                            */

int kb_sasl_add_user(const char *data_dir, const char *user, int mech, int32_t iterations,
                     const char *pw, size_t pwlen, char *err, size_t errlen) {
    size_t ul = strlen(user);
    if (!ul || ul > KB_SASL_MAX_USER) {
        snprintf(err, errlen, "user name must be 1..%d bytes", KB_SASL_MAX_USER);
        return -1;
    }
    if (!pwlen || pwlen > KB_SASL_MAX_PASSWORD) {
        snprintf(err, errlen, "password must be 1..%d bytes", KB_SASL_MAX_PASSWORD);
        return -1;
    }
    if (iterations < KB_SCRAM_MIN_ITER || iterations > KB_SCRAM_MAX_ITER) {
        snprintf(err, errlen, "iterations must be %d..%d", KB_SCRAM_MIN_ITER, KB_SCRAM_MAX_ITER);
        return -1;
    }
    if (kf_mkdirs(data_dir, 0755) != 0) {
        snprintf(err, errlen, "mkdir %s: %s", data_dir, strerror(errno));
        return -1;
    }
    char lock[4200];
    snprintf(lock, sizeof(lock), "%s/.lock", data_dir);
    int lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lfd < 0 || flock(lfd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, errlen,
                 "cannot lock %s: %s (a running broker owns it: use kafka-configs.sh "
                 "--alter --add-config instead)",
                 lock, strerror(errno));
        if (lfd >= 0)
            close(lfd);
        return -1;
    }
    kb_creds cs;
    int rc = -1;
    kb_scram_cred c;
    if (kb_creds_open(&cs, data_dir, err, errlen) == 0) {
        if (kb_scram_cred_from_password(mech, pw, pwlen, iterations, &c) != 0)
            snprintf(err, errlen, "cannot derive the credential (OpenSSL)");
        else if (kb_creds_set(&cs, user, ul, &c) != 0)
            snprintf(err, errlen, "out of memory");
        else if (kb_creds_save(&cs) != 0)
            snprintf(err, errlen, "write %s: %s", cs.path, strerror(errno));
        else
            rc = 0;
        kb_creds_close(&cs);
    }
    OPENSSL_cleanse(&c, sizeof(c));
    close(lfd);
    return rc;
}
