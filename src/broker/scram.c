/*
 * scram.c - SCRAM-SHA-256/512 server exchange (RFC 5802 / RFC 7677), the
 * PLAIN message (RFC 4616) and Kafka-style stored credentials, on OpenSSL.
 */
#include "broker/scram.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *kb_scram_mech_name(int mech) {
    switch (mech) {
    case KB_SCRAM_SHA256: return "SCRAM-SHA-256";
    case KB_SCRAM_SHA512: return "SCRAM-SHA-512";
    default: return NULL;
    }
}

int kb_scram_mech_from_name(const char *name) {
    if (strcmp(name, "SCRAM-SHA-256") == 0)
        return KB_SCRAM_SHA256;
    if (strcmp(name, "SCRAM-SHA-512") == 0)
        return KB_SCRAM_SHA512;
    return 0;
}

size_t kb_scram_hash_len(int mech) {
    return mech == KB_SCRAM_SHA256 ? 32 : mech == KB_SCRAM_SHA512 ? 64 : 0;
}

static const EVP_MD *md_of(int mech) {
    return mech == KB_SCRAM_SHA256 ? EVP_sha256() : mech == KB_SCRAM_SHA512 ? EVP_sha512() : NULL;
}

static int hmac(int mech, const uint8_t *key, size_t keylen, const void *data, size_t n,
                uint8_t *out) {
    unsigned int ol = 0;
    if (!HMAC(md_of(mech), key, (int)keylen, data, n, out, &ol) || ol != kb_scram_hash_len(mech))
        return -1;
    return 0;
}

static int digest(int mech, const uint8_t *data, size_t n, uint8_t *out) {
    unsigned int ol = 0;
    if (!EVP_Digest(data, n, out, &ol, md_of(mech), NULL) || ol != kb_scram_hash_len(mech))
        return -1;
    return 0;
}

int kb_scram_salt_password(int mech, const char *pw, size_t pwlen, const uint8_t *salt,
                           size_t saltlen, int32_t iterations, uint8_t out[KB_SCRAM_MAX_HASH]) {
    size_t hl = kb_scram_hash_len(mech);
    if (!hl || iterations < 1 || pwlen > KB_SASL_MAX_PASSWORD || saltlen > KB_SCRAM_MAX_SALT)
        return -1;
    return PKCS5_PBKDF2_HMAC(pw, (int)pwlen, salt, (int)saltlen, iterations, md_of(mech), (int)hl,
                             out) == 1
               ? 0
               : -1;
}

int kb_scram_cred_from_salted(int mech, int32_t iterations, const uint8_t *salt, size_t saltlen,
                              const uint8_t *salted, size_t salted_len, kb_scram_cred *out) {
    size_t hl = kb_scram_hash_len(mech);
    if (!hl || salted_len != hl || saltlen == 0 || saltlen > KB_SCRAM_MAX_SALT)
        return -1;
    memset(out, 0, sizeof(*out));
    out->mech = (int8_t)mech;
    out->iterations = iterations;
    out->salt_len = saltlen;
    memcpy(out->salt, salt, saltlen);
    uint8_t client_key[KB_SCRAM_MAX_HASH];
    int rc = -1;
    if (hmac(mech, salted, hl, "Client Key", 10, client_key) == 0 &&
        digest(mech, client_key, hl, out->stored_key) == 0 &&
        hmac(mech, salted, hl, "Server Key", 10, out->server_key) == 0)
        rc = 0;
    OPENSSL_cleanse(client_key, sizeof(client_key));
    return rc;
}

int kb_scram_cred_from_password(int mech, const char *pw, size_t pwlen, int32_t iterations,
                                kb_scram_cred *out) {
    uint8_t salt[32], sp[KB_SCRAM_MAX_HASH];
    if (RAND_bytes(salt, sizeof(salt)) != 1)
        return -1;
    int rc = -1;
    if (kb_scram_salt_password(mech, pw, pwlen, salt, sizeof(salt), iterations, sp) == 0)
        rc = kb_scram_cred_from_salted(mech, iterations, salt, sizeof(salt), sp,
                                       kb_scram_hash_len(mech), out);
    OPENSSL_cleanse(sp, sizeof(sp));
    return rc;
}

int kb_scram_check_password(const kb_scram_cred *c, const char *pw, size_t pwlen) {
    uint8_t sp[KB_SCRAM_MAX_HASH];
    kb_scram_cred tmp;
    int ok = 0;
    size_t hl = kb_scram_hash_len(c->mech);
    if (hl && c->iterations >= 1 && c->iterations <= KB_SCRAM_MAX_ITER &&
        kb_scram_salt_password(c->mech, pw, pwlen, c->salt, c->salt_len, c->iterations, sp) == 0 &&
        kb_scram_cred_from_salted(c->mech, c->iterations, c->salt, c->salt_len, sp, hl, &tmp) == 0)
        ok = CRYPTO_memcmp(tmp.stored_key, c->stored_key, hl) == 0;
    OPENSSL_cleanse(sp, sizeof(sp));
    OPENSSL_cleanse(&tmp, sizeof(tmp));
    return ok;
}

/* ---------------------------------------------------------------------- */
/* Base64                                                                  */

int kb_b64_encode(const uint8_t *in, size_t n, kf_buf *out) {
    size_t need = 4 * ((n + 2) / 3) + 1;
    uint8_t *p = kf_buf_extend(out, need);
    if (!p)
        return -1;
    int w = EVP_EncodeBlock(p, in, (int)n);
    out->len -= need - (size_t)w; /* drop the NUL and any slack */
    return 0;
}

static int b64_char(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

int kb_b64_decode(const char *in, size_t n, uint8_t *out, size_t outcap) {
    if (n % 4 != 0)
        return -1;
    size_t pad = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '=') {
            if (i < n - 2)
                return -1;
            pad++;
        } else if (!b64_char(c) || pad) {
            return -1;
        }
    }
    size_t len = n / 4 * 3 - pad;
    if (len > outcap)
        return -1;
    if (n == 0)
        return 0;
    uint8_t tmp[4096];
    if (n / 4 * 3 > sizeof(tmp))
        return -1;
    int r = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)n);
    if (r < 0 || (size_t)r < len)
        return -1;
    memcpy(out, tmp, len);
    return (int)len;
}

/* ---------------------------------------------------------------------- */
/* Message parsing                                                         */

static void set_err(char *err, size_t errlen, const char *msg) {
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
}

/* Next ','-separated field starting at *pos. */
static int next_field(const char *msg, size_t len, size_t *pos, const char **f, size_t *flen) {
    if (*pos > len)
        return -1;
    const char *s = msg + *pos;
    const char *c = memchr(s, ',', len - *pos);
    *f = s;
    *flen = c ? (size_t)(c - s) : len - *pos;
    *pos += *flen + 1; /* past the comma (or one past the end) */
    return 0;
}

/* saslname: '=' only as "=2C" (,) or "=3D" (=). */
static int decode_saslname(const char *s, size_t n, char *out, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '=') {
            if (n - i < 3)
                return -1;
            if (s[i + 1] == '2' && s[i + 2] == 'C')
                c = ',';
            else if (s[i + 1] == '3' && s[i + 2] == 'D')
                c = '=';
            else
                return -1;
            i += 2;
        } else if (c == '\0') {
            return -1;
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return (int)o;
}

static int printable_nonce(const char *s, size_t n) {
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c > 0x7e || c == ',')
            return 0;
    }
    return 1;
}

int kb_scram_parse_client_first(const char *msg, size_t len, kb_scram_client_first *out, char *err,
                                size_t errlen) {
    memset(out, 0, sizeof(*out));
    if (memchr(msg, '\0', len)) {
        set_err(err, errlen, "client-first-message contains a NUL byte");
        return -1;
    }
    size_t pos = 0;
    const char *f;
    size_t fl;
    next_field(msg, len, &pos, &f, &fl);
    if (pos > len) {
        set_err(err, errlen, "client-first-message has no GS2 header");
        return -1;
    }
    if (fl >= 2 && f[0] == 'p' && f[1] == '=') {
        set_err(err, errlen, "channel binding is not supported");
        return -1;
    }
    if (fl != 1 || (f[0] != 'n' && f[0] != 'y')) {
        set_err(err, errlen, "invalid GS2 channel-binding flag");
        return -1;
    }
    next_field(msg, len, &pos, &f, &fl);
    if (pos > len) {
        set_err(err, errlen, "client-first-message has no GS2 header");
        return -1;
    }
    if (fl) {
        if (fl < 3 || f[0] != 'a' || f[1] != '=' ||
            decode_saslname(f + 2, fl - 2, out->authzid, sizeof(out->authzid)) <= 0) {
            set_err(err, errlen, "invalid authzid in GS2 header");
            return -1;
        }
    }
    out->gs2 = msg;
    out->gs2_len = pos;
    out->bare = msg + pos;
    out->bare_len = len - pos;
    next_field(msg, len, &pos, &f, &fl);
    if (fl >= 2 && f[0] == 'm' && f[1] == '=') {
        set_err(err, errlen, "mandatory extensions are not supported");
        return -1;
    }
    if (fl < 3 || f[0] != 'n' || f[1] != '=' ||
        decode_saslname(f + 2, fl - 2, out->user, sizeof(out->user)) <= 0) {
        set_err(err, errlen, "invalid or too long user name in client-first-message");
        return -1;
    }
    if (pos > len) {
        set_err(err, errlen, "client-first-message has no nonce");
        return -1;
    }
    next_field(msg, len, &pos, &f, &fl);
    if (fl < 3 || f[0] != 'r' || f[1] != '=' || !printable_nonce(f + 2, fl - 2) || fl - 2 > 512) {
        set_err(err, errlen, "invalid nonce in client-first-message");
        return -1;
    }
    out->nonce = f + 2;
    out->nonce_len = fl - 2;
    /* Extensions (e.g. Kafka's tokenauth) are accepted and ignored, but
     * must be attr=value. */
    while (pos <= len) {
        next_field(msg, len, &pos, &f, &fl);
        const char *eq = memchr(f, '=', fl);
        if (!eq || eq == f) {
            set_err(err, errlen, "invalid extension in client-first-message");
            return -1;
        }
    }
    return 0;
}

int kb_scram_parse_client_final(const char *msg, size_t len, kb_scram_client_final *out, char *err,
                                size_t errlen) {
    memset(out, 0, sizeof(*out));
    if (memchr(msg, '\0', len)) {
        set_err(err, errlen, "client-final-message contains a NUL byte");
        return -1;
    }
    /* The proof is the last attribute. */
    size_t ppos = 0;
    int found = 0;
    for (size_t i = len; i >= 3; i--) {
        if (msg[i - 3] == ',' && msg[i - 2] == 'p' && msg[i - 1] == '=') {
            ppos = i - 3;
            found = 1;
            break;
        }
    }
    if (!found) {
        set_err(err, errlen, "client-final-message has no proof");
        return -1;
    }
    const char *proof = msg + ppos + 3;
    size_t proof_len = len - ppos - 3;
    int pl = kb_b64_decode(proof, proof_len, out->proof, sizeof(out->proof));
    if (pl <= 0) {
        set_err(err, errlen, "invalid proof encoding in client-final-message");
        return -1;
    }
    out->proof_len = (size_t)pl;
    out->without_proof = msg;
    out->without_proof_len = ppos;
    size_t pos = 0;
    const char *f;
    size_t fl;
    next_field(msg, ppos, &pos, &f, &fl);
    if (fl < 2 || f[0] != 'c' || f[1] != '=' || pos > ppos) {
        set_err(err, errlen, "client-final-message has no channel binding");
        return -1;
    }
    out->cbind = f + 2;
    out->cbind_len = fl - 2;
    next_field(msg, ppos, &pos, &f, &fl);
    if (fl < 3 || f[0] != 'r' || f[1] != '=' || !printable_nonce(f + 2, fl - 2)) {
        set_err(err, errlen, "invalid nonce in client-final-message");
        return -1;
    }
    out->nonce = f + 2;
    out->nonce_len = fl - 2;
    while (pos <= ppos) {
        next_field(msg, ppos, &pos, &f, &fl);
        const char *eq = memchr(f, '=', fl);
        if (!eq || eq == f) {
            set_err(err, errlen, "invalid extension in client-final-message");
            return -1;
        }
    }
    return 0;
}

int kb_plain_parse(const uint8_t *msg, size_t len, kb_plain_msg *out, char *err, size_t errlen) {
    memset(out, 0, sizeof(*out));
    const uint8_t *z1 = memchr(msg, 0, len);
    const uint8_t *z2 = z1 ? memchr(z1 + 1, 0, len - (size_t)(z1 + 1 - msg)) : NULL;
    if (!z1 || !z2 || memchr(z2 + 1, 0, len - (size_t)(z2 + 1 - msg))) {
        set_err(err, errlen, "invalid PLAIN message: expected authzid NUL authcid NUL passwd");
        return -1;
    }
    out->authzid = (const char *)msg;
    out->authzid_len = (size_t)(z1 - msg);
    out->user = (const char *)z1 + 1;
    out->user_len = (size_t)(z2 - z1 - 1);
    out->pass = (const char *)z2 + 1;
    out->pass_len = len - (size_t)(z2 + 1 - msg);
    if (out->user_len == 0 || out->user_len > KB_SASL_MAX_USER) {
        set_err(err, errlen, "invalid PLAIN message: empty or too long user name");
        return -1;
    }
    if (out->pass_len == 0 || out->pass_len > KB_SASL_MAX_PASSWORD) {
        set_err(err, errlen, "invalid PLAIN message: empty or too long password");
        return -1;
    }
    if (out->authzid_len > KB_SASL_MAX_USER) {
        set_err(err, errlen, "invalid PLAIN message: too long authorization id");
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Server exchange                                                         */

void kb_scram_server_init(kb_scram_server *s, int mech) {
    memset(s, 0, sizeof(*s));
    s->mech = mech;
    kf_buf_init(&s->gs2, 4096);
    kf_buf_init(&s->client_bare, 70000);
    kf_buf_init(&s->server_first, 4096);
    kf_buf_init(&s->nonce, 4096);
}

void kb_scram_server_free(kb_scram_server *s) {
    OPENSSL_cleanse(&s->cred, sizeof(s->cred));
    kf_buf_free(&s->gs2);
    kf_buf_free(&s->client_bare);
    kf_buf_free(&s->server_first);
    kf_buf_free(&s->nonce);
}

int kb_scram_server_client_first(kb_scram_server *s, const char *msg, size_t len, char *err,
                                 size_t errlen) {
    if (s->state != 0) {
        s->state = -1;
        set_err(err, errlen, "unexpected client-first-message");
        return -1;
    }
    if (kb_scram_parse_client_first(msg, len, &s->cf, err, errlen) != 0) {
        s->state = -1;
        return -1;
    }
    if (s->cf.authzid[0] && strcmp(s->cf.authzid, s->cf.user) != 0) {
        s->state = -1;
        set_err(err, errlen, "authorization id differs from the user name");
        return -1;
    }
    kf_buf_append(&s->gs2, s->cf.gs2, s->cf.gs2_len);
    kf_buf_append(&s->client_bare, s->cf.bare, s->cf.bare_len);
    kf_buf_append(&s->nonce, s->cf.nonce, s->cf.nonce_len);
    s->cf.gs2 = s->cf.bare = s->cf.nonce = NULL;
    if (!kf_buf_ok(&s->gs2) || !kf_buf_ok(&s->client_bare) || !kf_buf_ok(&s->nonce)) {
        s->state = -1;
        set_err(err, errlen, "client-first-message too large");
        return -1;
    }
    return 0;
}

int kb_scram_server_first(kb_scram_server *s, const kb_scram_cred *cred, const char *server_nonce,
                          kf_buf *out) {
    if (s->state != 0 || !s->nonce.len || cred->mech != s->mech) {
        s->state = -1;
        return -1;
    }
    s->cred = *cred;
    if (server_nonce) {
        kf_buf_append(&s->nonce, server_nonce, strlen(server_nonce));
    } else {
        uint8_t rnd[24];
        if (RAND_bytes(rnd, sizeof(rnd)) != 1 || kb_b64_encode(rnd, sizeof(rnd), &s->nonce) != 0) {
            s->state = -1;
            return -1;
        }
    }
    kf_buf *sf = &s->server_first;
    kf_buf_append(sf, "r=", 2);
    kf_buf_append(sf, s->nonce.data, s->nonce.len);
    kf_buf_append(sf, ",s=", 3);
    kb_b64_encode(cred->salt, cred->salt_len, sf);
    char it[32];
    int n = snprintf(it, sizeof(it), ",i=%d", (int)cred->iterations);
    kf_buf_append(sf, it, (size_t)n);
    if (!kf_buf_ok(sf) || !kf_buf_ok(&s->nonce)) {
        s->state = -1;
        return -1;
    }
    kf_buf_append(out, sf->data, sf->len);
    s->state = 1;
    return 0;
}

/* AuthMessage := client-first-message-bare "," server-first-message ","
 *                client-final-message-without-proof */
static void auth_message(const kb_scram_server *s, const char *wp, size_t wplen, kf_buf *am) {
    kf_buf_append(am, s->client_bare.data, s->client_bare.len);
    kf_buf_append(am, ",", 1);
    kf_buf_append(am, s->server_first.data, s->server_first.len);
    kf_buf_append(am, ",", 1);
    kf_buf_append(am, wp, wplen);
}

int kb_scram_server_final(kb_scram_server *s, const char *msg, size_t len, kf_buf *out, char *err,
                          size_t errlen) {
    if (s->state != 1) {
        s->state = -1;
        set_err(err, errlen, "unexpected client-final-message");
        return -1;
    }
    s->state = -1; /* until proven */
    kb_scram_client_final cf;
    if (kb_scram_parse_client_final(msg, len, &cf, err, errlen) != 0)
        return -1;
    uint8_t cb[4096];
    int cbl = kb_b64_decode(cf.cbind, cf.cbind_len, cb, sizeof(cb));
    if (cbl < 0 || (size_t)cbl != s->gs2.len || memcmp(cb, s->gs2.data, s->gs2.len) != 0) {
        set_err(err, errlen, "channel binding does not match the GS2 header");
        return -1;
    }
    /* Kafka accepts a nonce that ends with the combined one (librdkafka
     * 2.0.2 sends its own nonce in front once more): so do we.  The
     * server's random part must be there either way. */
    if (cf.nonce_len < s->nonce.len ||
        memcmp(cf.nonce + cf.nonce_len - s->nonce.len, s->nonce.data, s->nonce.len) != 0) {
        set_err(err, errlen, "nonce mismatch");
        return -1;
    }
    size_t hl = kb_scram_hash_len(s->mech);
    if (cf.proof_len != hl) {
        set_err(err, errlen, "invalid proof length");
        return -1;
    }
    kf_buf am;
    kf_buf_init(&am, 0);
    auth_message(s, cf.without_proof, cf.without_proof_len, &am);
    uint8_t sig[KB_SCRAM_MAX_HASH], ck[KB_SCRAM_MAX_HASH], sk[KB_SCRAM_MAX_HASH];
    int rc = -1;
    if (kf_buf_ok(&am) && hmac(s->mech, s->cred.stored_key, hl, am.data, am.len, sig) == 0) {
        for (size_t i = 0; i < hl; i++)
            ck[i] = cf.proof[i] ^ sig[i];
        if (digest(s->mech, ck, hl, sk) == 0 && CRYPTO_memcmp(sk, s->cred.stored_key, hl) == 0 &&
            hmac(s->mech, s->cred.server_key, hl, am.data, am.len, sig) == 0) {
            kf_buf_append(out, "v=", 2);
            kb_b64_encode(sig, hl, out);
            rc = 0;
        } else {
            set_err(err, errlen, "invalid credentials");
        }
    } else {
        set_err(err, errlen, "out of memory");
    }
    OPENSSL_cleanse(ck, sizeof(ck));
    kf_buf_free(&am);
    if (rc == 0)
        s->state = 2;
    return rc;
}

/* ---------------------------------------------------------------------- */
/* Client side                                                             */

int kb_scram_client_final_msg(int mech, const char *pw, size_t pwlen, const char *client_bare,
                              size_t client_bare_len, const char *server_first,
                              size_t server_first_len, kf_buf *out,
                              uint8_t server_sig[KB_SCRAM_MAX_HASH]) {
    size_t hl = kb_scram_hash_len(mech);
    if (!hl)
        return -1;
    /* r=NONCE,s=SALT,i=ITER */
    size_t pos = 0;
    const char *f, *nonce = NULL, *salt = NULL;
    size_t fl, nonce_len = 0, salt_len = 0;
    long iter = 0;
    while (pos <= server_first_len) {
        next_field(server_first, server_first_len, &pos, &f, &fl);
        if (fl >= 2 && f[0] == 'r' && f[1] == '=') {
            nonce = f + 2;
            nonce_len = fl - 2;
        } else if (fl >= 2 && f[0] == 's' && f[1] == '=') {
            salt = f + 2;
            salt_len = fl - 2;
        } else if (fl >= 3 && fl < 12 && f[0] == 'i' && f[1] == '=') {
            char tmp[12];
            memcpy(tmp, f + 2, fl - 2);
            tmp[fl - 2] = '\0';
            char *end;
            iter = strtol(tmp, &end, 10);
            if (*end)
                return -1;
        }
    }
    uint8_t saltb[KB_SCRAM_MAX_SALT], sp[KB_SCRAM_MAX_HASH], ck[KB_SCRAM_MAX_HASH],
        stored[KB_SCRAM_MAX_HASH], sig[KB_SCRAM_MAX_HASH], skey[KB_SCRAM_MAX_HASH];
    int sl = salt ? kb_b64_decode(salt, salt_len, saltb, sizeof(saltb)) : -1;
    if (!nonce || sl <= 0 || iter < 1 || iter > KB_SCRAM_MAX_ITER)
        return -1;
    if (kb_scram_salt_password(mech, pw, pwlen, saltb, (size_t)sl, (int32_t)iter, sp) != 0)
        return -1;
    kf_buf wp, am;
    kf_buf_init(&wp, 0);
    kf_buf_init(&am, 0);
    kf_buf_append(&wp, "c=biws,r=", 9);
    kf_buf_append(&wp, nonce, nonce_len);
    kf_buf_append(&am, client_bare, client_bare_len);
    kf_buf_append(&am, ",", 1);
    kf_buf_append(&am, server_first, server_first_len);
    kf_buf_append(&am, ",", 1);
    kf_buf_append(&am, wp.data, wp.len);
    int rc = -1;
    if (kf_buf_ok(&wp) && kf_buf_ok(&am) && hmac(mech, sp, hl, "Client Key", 10, ck) == 0 &&
        digest(mech, ck, hl, stored) == 0 && hmac(mech, stored, hl, am.data, am.len, sig) == 0 &&
        hmac(mech, sp, hl, "Server Key", 10, skey) == 0 &&
        hmac(mech, skey, hl, am.data, am.len, server_sig) == 0) {
        for (size_t i = 0; i < hl; i++)
            ck[i] ^= sig[i];
        kf_buf_append(out, wp.data, wp.len);
        kf_buf_append(out, ",p=", 3);
        kb_b64_encode(ck, hl, out);
        rc = kf_buf_ok(out) ? 0 : -1;
    }
    OPENSSL_cleanse(sp, sizeof(sp));
    kf_buf_free(&wp);
    kf_buf_free(&am);
    return rc;
}
