/*
 * sigv4.c - AWS Signature Version 4 and the MSK IAM token (see sigv4.h).
 */
#include "aws/sigv4.h"

#include "common/util.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char HEX[] = "0123456789abcdef";

static void hex(const unsigned char *d, size_t n, char *out) {
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = HEX[d[i] >> 4];
        out[2 * i + 1] = HEX[d[i] & 15];
    }
    out[2 * n] = '\0';
}

void kf_sha256_hex(const void *data, size_t len, char out[65]) {
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(data, len, md);
    hex(md, sizeof(md), out);
}

static void hmac(const void *key, size_t klen, const char *msg, unsigned char out[32]) {
    unsigned int olen = 32;
    HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &olen);
}

void kf_sigv4_uri_encode(const char *s, size_t n, int keep_slash, kf_buf *out) {
    static const char UP[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~' || (keep_slash && ch == '/')) {
            kf_buf_append(out, &ch, 1);
        } else {
            char e[3] = {'%', UP[ch >> 4], UP[ch & 15]};
            kf_buf_append(out, e, 3);
        }
    }
}

typedef struct encpair {
    char *name, *value;
} encpair;

static int cmp_pair(const void *a, const void *b) {
    const encpair *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

static char *encode_dup(const char *s) {
    kf_buf b;
    kf_buf_init(&b, 0);
    kf_sigv4_uri_encode(s, strlen(s), 0, &b);
    kf_buf_append(&b, "", 1);
    if (!kf_buf_ok(&b)) {
        kf_buf_free(&b);
        return NULL;
    }
    return (char *)b.data;
}

int kf_sigv4_canonical_query(const kf_sigv4_param *p, size_t n, kf_buf *out) {
    encpair *e = calloc(n ? n : 1, sizeof(*e));
    int rc = e ? 0 : -1;
    for (size_t i = 0; i < n && rc == 0; i++) {
        e[i].name = encode_dup(p[i].name);
        e[i].value = encode_dup(p[i].value ? p[i].value : "");
        if (!e[i].name || !e[i].value)
            rc = -1;
    }
    if (rc == 0) {
        qsort(e, n, sizeof(*e), cmp_pair);
        for (size_t i = 0; i < n; i++) {
            if (i)
                kf_buf_append(out, "&", 1);
            kf_buf_append(out, e[i].name, strlen(e[i].name));
            kf_buf_append(out, "=", 1);
            kf_buf_append(out, e[i].value, strlen(e[i].value));
        }
        if (!kf_buf_ok(out))
            rc = -1;
    }
    for (size_t i = 0; e && i < n; i++) {
        free(e[i].name);
        free(e[i].value);
    }
    free(e);
    return rc;
}

void kf_sigv4_amzdate(int64_t t, char out[17]) {
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

void kf_sigv4_sign(const char *secret, const char *amzdate, const char *region, const char *service,
                   const char *canonical_request, char sig[65]) {
    char date8[9], creq_hash[65];
    memcpy(date8, amzdate, 8);
    date8[8] = '\0';
    kf_sha256_hex(canonical_request, strlen(canonical_request), creq_hash);
    char sts[512];
    snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", amzdate, date8,
             region, service, creq_hash);
    char k0[160];
    snprintf(k0, sizeof(k0), "AWS4%s", secret);
    unsigned char kd[32], kr[32], ks[32], kk[32], s[32];
    hmac(k0, strlen(k0), date8, kd);
    hmac(kd, 32, region, kr);
    hmac(kr, 32, service, ks);
    hmac(ks, 32, "aws4_request", kk);
    hmac(kk, 32, sts, s);
    hex(s, 32, sig);
    OPENSSL_cleanse(k0, sizeof(k0));
    OPENSSL_cleanse(kk, sizeof(kk));
}

int kf_sigv4_presign(const char *host, const char *path, const char *service, const char *region,
                     const kf_sigv4_param *params, size_t nparams, const kf_aws_creds *c, int64_t t,
                     int expires, const char *payload_hash, kf_buf *url) {
    if (!payload_hash) /* the SHA-256 of an empty body */
        payload_hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    if (nparams > 32)
        return -1;
    char amzdate[17], cred[512], exp[16];
    kf_sigv4_amzdate(t, amzdate);
    snprintf(cred, sizeof(cred), "%s/%.8s/%s/%s/aws4_request", c->access_key, amzdate, region,
             service);
    snprintf(exp, sizeof(exp), "%d", expires);
    kf_sigv4_param all[40];
    size_t n = 0;
    for (size_t i = 0; i < nparams; i++)
        all[n++] = params[i];
    all[n++] = (kf_sigv4_param){"X-Amz-Algorithm", "AWS4-HMAC-SHA256"};
    all[n++] = (kf_sigv4_param){"X-Amz-Credential", cred};
    all[n++] = (kf_sigv4_param){"X-Amz-Date", amzdate};
    all[n++] = (kf_sigv4_param){"X-Amz-Expires", exp};
    all[n++] = (kf_sigv4_param){"X-Amz-SignedHeaders", "host"};
    if (c->session_token[0])
        all[n++] = (kf_sigv4_param){"X-Amz-Security-Token", c->session_token};
    kf_buf q, creq;
    kf_buf_init(&q, 0);
    kf_buf_init(&creq, 0);
    int rc = kf_sigv4_canonical_query(all, n, &q);
    if (rc == 0) {
        kf_sigv4_uri_encode(path, strlen(path), 1, &creq);
        kf_buf_append(&creq, "", 1);
    }
    char sig[65];
    if (rc == 0 && kf_buf_ok(&creq) && kf_buf_ok(&q)) {
        size_t need = q.len + creq.len + strlen(host) + strlen(payload_hash) + 64;
        char *text = malloc(need);
        if (!text) {
            rc = -1;
        } else {
            snprintf(text, need, "GET\n%s\n%.*s\nhost:%s\n\nhost\n%s", (const char *)creq.data,
                     (int)q.len, (const char *)q.data, host, payload_hash);
            kf_sigv4_sign(c->secret_key, amzdate, region, service, text, sig);
            free(text);
            kf_buf_append(url, "https://", 8);
            kf_buf_append(url, host, strlen(host));
            kf_buf_append(url, creq.data, creq.len - 1);
            kf_buf_append(url, "?", 1);
            kf_buf_append(url, q.data, q.len);
            kf_buf_append(url, "&X-Amz-Signature=", 17);
            kf_buf_append(url, sig, 64);
            rc = kf_buf_ok(url) ? 0 : -1;
        }
    } else {
        rc = -1;
    }
    kf_buf_free(&q);
    kf_buf_free(&creq);
    return rc;
}

typedef struct hdr {
    char *name, *value;
} hdr;

static int cmp_hdr(const void *a, const void *b) {
    return strcmp(((const hdr *)a)->name, ((const hdr *)b)->name);
}

/* Lower-cased name; value trimmed with inner runs of blanks collapsed. */
static int hdr_canon(const char *name, const char *value, hdr *h) {
    h->name = kf_strdup(name);
    h->value = malloc(strlen(value) + 1);
    if (!h->name || !h->value)
        return -1;
    for (char *p = h->name; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    size_t o = 0;
    int space = 0;
    for (const char *p = value; *p; p++) {
        if (*p == ' ' || *p == '\t') {
            space = 1;
            continue;
        }
        if (space && o)
            h->value[o++] = ' ';
        space = 0;
        h->value[o++] = *p;
    }
    h->value[o] = '\0';
    return 0;
}

int kf_sigv4_sign_headers(const char *method, const char *host, const char *path,
                          const kf_sigv4_param *query, size_t nquery, const kf_sigv4_param *headers,
                          size_t nheaders, const void *body, size_t bodylen, const char *service,
                          const char *region, const kf_aws_creds *c, int64_t t, char amzdate[17],
                          kf_buf *authz) {
    if (nheaders > 32)
        return -1;
    kf_sigv4_amzdate(t, amzdate);
    hdr h[35];
    size_t nh = 0;
    int rc = 0;
    memset(h, 0, sizeof(h));
    for (size_t i = 0; i < nheaders && rc == 0; i++)
        rc = hdr_canon(headers[i].name, headers[i].value ? headers[i].value : "", &h[nh++]);
    if (rc == 0)
        rc = hdr_canon("host", host, &h[nh++]);
    if (rc == 0)
        rc = hdr_canon("x-amz-date", amzdate, &h[nh++]);
    if (rc == 0 && c->session_token[0])
        rc = hdr_canon("x-amz-security-token", c->session_token, &h[nh++]);
    for (size_t i = 0; rc == 0 && i < nh; i++)
        for (size_t j = i + 1; j < nh; j++)
            if (!strcmp(h[i].name, h[j].name))
                rc = -1; /* a header given twice, or host / x-amz-date given by the caller */
    kf_buf creq, signed_names;
    kf_buf_init(&creq, 0);
    kf_buf_init(&signed_names, 0);
    if (rc == 0) {
        qsort(h, nh, sizeof(*h), cmp_hdr);
        kf_buf_append(&creq, method, strlen(method));
        kf_buf_append(&creq, "\n", 1);
        kf_sigv4_uri_encode(path, strlen(path), 1, &creq);
        kf_buf_append(&creq, "\n", 1);
        rc = kf_sigv4_canonical_query(query, nquery, &creq);
        kf_buf_append(&creq, "\n", 1);
        for (size_t i = 0; i < nh; i++) {
            kf_buf_append(&creq, h[i].name, strlen(h[i].name));
            kf_buf_append(&creq, ":", 1);
            kf_buf_append(&creq, h[i].value, strlen(h[i].value));
            kf_buf_append(&creq, "\n", 1);
            if (i)
                kf_buf_append(&signed_names, ";", 1);
            kf_buf_append(&signed_names, h[i].name, strlen(h[i].name));
        }
        kf_buf_append(&signed_names, "", 1);
        kf_buf_append(&creq, "\n", 1);
        kf_buf_append(&creq, signed_names.data, signed_names.len ? signed_names.len - 1 : 0);
        kf_buf_append(&creq, "\n", 1);
        char ph[65];
        kf_sha256_hex(body ? body : "", body ? bodylen : 0, ph);
        kf_buf_append(&creq, ph, 64);
        kf_buf_append(&creq, "", 1);
        if (!kf_buf_ok(&creq) || !kf_buf_ok(&signed_names))
            rc = -1;
    }
    if (rc == 0) {
        char sig[65];
        kf_sigv4_sign(c->secret_key, amzdate, region, service, (const char *)creq.data, sig);
        char head[512];
        int n = snprintf(head, sizeof(head),
                         "AWS4-HMAC-SHA256 Credential=%s/%.8s/%s/%s/aws4_request, SignedHeaders=",
                         c->access_key, amzdate, region, service);
        if (n < 0 || n >= (int)sizeof(head))
            rc = -1;
        else {
            kf_buf_append(authz, head, (size_t)n);
            kf_buf_append(authz, signed_names.data, signed_names.len - 1);
            kf_buf_append(authz, ", Signature=", 12);
            kf_buf_append(authz, sig, 64);
            kf_buf_append(authz, "", 1);
            authz->len--; /* NUL-terminated, not counted */
            rc = kf_buf_ok(authz) ? 0 : -1;
        }
    }
    kf_buf_free(&creq);
    kf_buf_free(&signed_names);
    for (size_t i = 0; i < nh; i++) {
        free(h[i].name);
        free(h[i].value);
    }
    return rc;
}

void kf_b64url_encode(const void *data, size_t len, kf_buf *out) {
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *d = data;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
        char o[4] = {A[v >> 18], A[(v >> 12) & 63], A[(v >> 6) & 63], A[v & 63]};
        kf_buf_append(out, o, 4);
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)d[i] << 16;
        char o[2] = {A[v >> 18], A[(v >> 12) & 63]};
        kf_buf_append(out, o, 2);
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8;
        char o[3] = {A[v >> 18], A[(v >> 12) & 63], A[(v >> 6) & 63]};
        kf_buf_append(out, o, 3);
    }
}

static int b64val(char ch) {
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '-' || ch == '+')
        return 62;
    if (ch == '_' || ch == '/')
        return 63;
    return -1;
}

int kf_b64url_decode(const char *s, size_t len, kf_buf *out) {
    while (len > 0 && s[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return -1;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64val(s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            unsigned char b = (unsigned char)(acc >> bits);
            kf_buf_append(out, &b, 1);
        }
    }
    return kf_buf_ok(out) ? 0 : -1;
}

int kf_msk_token(const char *region, const kf_aws_creds *c, int64_t t, const char *user_agent,
                 kf_buf *token, int64_t *expires_ms) {
    char host[128];
    if (snprintf(host, sizeof(host), "kafka.%s.amazonaws.com", region) >= (int)sizeof(host))
        return -1;
    kf_sigv4_param p = {"Action", "kafka-cluster:Connect"};
    kf_buf url;
    kf_buf_init(&url, 0);
    int rc = kf_sigv4_presign(host, "/", "kafka-cluster", region, &p, 1, c, t, KF_MSK_TOKEN_EXPIRES,
                              NULL, &url);
    if (rc == 0 && user_agent && *user_agent) {
        kf_buf_append(&url, "&User-Agent=", 12);
        kf_sigv4_uri_encode(user_agent, strlen(user_agent), 0, &url);
    }
    if (rc == 0 && kf_buf_ok(&url)) {
        kf_b64url_encode(url.data, url.len, token);
        rc = kf_buf_ok(token) ? 0 : -1;
    } else {
        rc = -1;
    }
    kf_buf_free(&url);
    int64_t exp = (t + KF_MSK_TOKEN_EXPIRES) * 1000;
    if (c->expires_ms > 0 && c->expires_ms < exp)
        exp = c->expires_ms;
    if (expires_ms)
        *expires_ms = exp;
    return rc;
}

static int unhex(char ch) {
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) in place into dst (NUL-terminated); -1 on a bad
 * escape or an embedded NUL. */
static int pct_decode(const char *s, size_t n, char *dst) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            if (i + 2 >= n)
                return -1;
            int h = unhex(s[i + 1]), l = unhex(s[i + 2]);
            if (h < 0 || l < 0 || (h == 0 && l == 0))
                return -1;
            dst[o++] = (char)(h << 4 | l);
            i += 2;
        } else {
            dst[o++] = s[i];
        }
    }
    dst[o] = '\0';
    return 0;
}

int kf_msk_token_parse(const char *token, size_t len, kf_msk_parsed *out, char *err,
                       size_t errlen) {
    memset(out, 0, sizeof(*out));
    kf_buf u;
    kf_buf_init(&u, 16384);
    if (len == 0 || kf_b64url_decode(token, len, &u) != 0) {
        kf_buf_free(&u);
        snprintf(err, errlen, "the token is not base64url");
        return -1;
    }
    const char *s = (const char *)u.data;
    size_t n = u.len;
    if (n < 9 || memchr(s, '\0', n) || memcmp(s, "https://", 8) != 0) {
        kf_buf_free(&u);
        snprintf(err, errlen, "the token is not an https URL");
        return -1;
    }
    /* One allocation holds every decoded piece: never longer than the URL. */
    out->store = malloc(2 * n + 2);
    if (!out->store) {
        kf_buf_free(&u);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char *w = out->store;
    const char *h = s + 8, *end = s + n;
    const char *slash = memchr(h, '/', (size_t)(end - h));
    const char *qm = memchr(h, '?', (size_t)(end - h));
    if (!qm || (slash && slash > qm))
        slash = NULL;
    const char *hend = slash ? slash : qm ? qm : end;
    if (hend == h || !qm) {
        kf_buf_free(&u);
        kf_msk_token_free(out);
        snprintf(err, errlen, "the token's URL has no host or no query");
        return -1;
    }
    memcpy(w, h, (size_t)(hend - h));
    w[hend - h] = '\0';
    out->host = w;
    w += hend - h + 1;
    out->path = w;
    if (slash) {
        if (pct_decode(slash, (size_t)(qm - slash), w) != 0)
            goto bad;
    } else {
        w[0] = '/';
        w[1] = '\0';
    }
    w += strlen(w) + 1;
    for (const char *p = qm + 1; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        if (!eq || eq == p || out->nparams == KF_MSK_MAX_PARAMS)
            goto bad;
        kf_sigv4_param *kv = &out->params[out->nparams++];
        if (pct_decode(p, (size_t)(eq - p), w) != 0)
            goto bad;
        kv->name = w;
        w += strlen(w) + 1;
        if (pct_decode(eq + 1, (size_t)(pe - eq - 1), w) != 0)
            goto bad;
        kv->value = w;
        w += strlen(w) + 1;
        for (size_t i = 0; i + 1 < out->nparams; i++)
            if (!strcmp(out->params[i].name, kv->name))
                goto bad;
        p = amp ? amp + 1 : end;
    }
    kf_buf_free(&u);
    return 0;
bad:
    kf_buf_free(&u);
    kf_msk_token_free(out);
    snprintf(err, errlen, "the token's URL query is malformed");
    return -1;
}

void kf_msk_token_free(kf_msk_parsed *p) {
    free(p->store);
    memset(p, 0, sizeof(*p));
}

const char *kf_msk_param(const kf_msk_parsed *p, const char *name) {
    for (size_t i = 0; i < p->nparams; i++)
        if (!strcmp(p->params[i].name, name))
            return p->params[i].value;
    return NULL;
}

/* --- checking an MSK IAM token ------------------------------------------- */

const char *kf_msk_reason(kf_msk_result r) {
    switch (r) {
    case KF_MSK_OK: return "valid";
    case KF_MSK_E_HOST:
        return "the token's host is not kafka.<region>.amazonaws.com for this cluster's region";
    case KF_MSK_E_PATH: return "the token's URL path is not /";
    case KF_MSK_E_ACTION: return "the token's Action is not kafka-cluster:Connect";
    case KF_MSK_E_ALGORITHM: return "the token's X-Amz-Algorithm is not AWS4-HMAC-SHA256";
    case KF_MSK_E_SIGNED_HEADERS: return "the token's X-Amz-SignedHeaders is not host";
    case KF_MSK_E_CREDENTIAL:
        return "the token's X-Amz-Credential is not ACCESS_KEY/DATE/REGION/SERVICE/aws4_request";
    case KF_MSK_E_DATE: return "the token's X-Amz-Date is missing or not YYYYMMDDTHHMMSSZ";
    case KF_MSK_E_SCOPE_DATE:
        return "the token's credential scope date differs from its X-Amz-Date";
    case KF_MSK_E_SCOPE_REGION: return "the token is for another region";
    case KF_MSK_E_SCOPE_SERVICE: return "the token's credential scope service is not kafka-cluster";
    case KF_MSK_E_SCOPE_TERM: return "the token's credential scope does not end in aws4_request";
    case KF_MSK_E_EXPIRES: return "the token's X-Amz-Expires is missing or not 1..604800 seconds";
    case KF_MSK_E_SIGNATURE_FORMAT:
        return "the token's X-Amz-Signature is missing or not 64 hex digits";
    case KF_MSK_E_FUTURE: return "the token's X-Amz-Date is more than 5 minutes in the future";
    case KF_MSK_E_EXPIRED: return "the token has expired";
    case KF_MSK_E_UNKNOWN_KEY: return "the token's access key id is unknown";
    case KF_MSK_E_TOKEN_MISSING:
        return "the token has no X-Amz-Security-Token but the key requires one";
    case KF_MSK_E_TOKEN_UNEXPECTED:
        return "the token has an X-Amz-Security-Token but the key is long-term";
    case KF_MSK_E_TOKEN_WRONG:
        return "the token's X-Amz-Security-Token is not the key's session token";
    case KF_MSK_E_SIGNATURE: return "the token's signature does not match";
    case KF_MSK_E_INTERNAL: return "internal error checking the token";
    }
    return "invalid token";
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int digits(const char *s, size_t n, int *v) {
    int x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return 0;
}

/* "YYYYMMDDTHHMMSSZ" -> Unix seconds; -1 when malformed. */
static int parse_amzdate(const char *s, int64_t *t) {
    int y, mo, d, h, mi, se;
    if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z' || digits(s, 4, &y) ||
        digits(s + 4, 2, &mo) || digits(s + 6, 2, &d) || digits(s + 9, 2, &h) ||
        digits(s + 11, 2, &mi) || digits(s + 13, 2, &se))
        return -1;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59)
        return -1;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[mo - 1] + (mo == 2 && leap))
        return -1;
    *t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    return 0;
}

/* Constant-time equality of two strings of any lengths (via digests). */
static int ct_equal(const char *a, const char *b) {
    unsigned char da[32], db[32];
    size_t al = strlen(a), bl = strlen(b);
    SHA256((const unsigned char *)a, al, da);
    SHA256((const unsigned char *)b, bl, db);
    return CRYPTO_memcmp(da, db, 32) == 0 && al == bl;
}

kf_msk_result kf_msk_token_verify(const kf_msk_parsed *p, const char *region, int64_t now_s,
                                  kf_msk_lookup_fn lookup, void *ctx, kf_msk_verified *out) {
    memset(out, 0, sizeof(*out));
    char host[160];
    snprintf(host, sizeof(host), "kafka.%s.amazonaws.com", region);
    if (!p->host || strcmp(p->host, host) != 0) {
        /* kafka.<other region>.amazonaws.com: a token for another region. */
        size_t hl = p->host ? strlen(p->host) : 0;
        if (hl > 20 && !strncmp(p->host, "kafka.", 6) &&
            !strcmp(p->host + hl - 14, ".amazonaws.com"))
            return KF_MSK_E_SCOPE_REGION;
        return KF_MSK_E_HOST;
    }
    if (!p->path || strcmp(p->path, "/") != 0)
        return KF_MSK_E_PATH;
    const char *v = kf_msk_param(p, "Action");
    if (!v || strcmp(v, "kafka-cluster:Connect") != 0)
        return KF_MSK_E_ACTION;
    v = kf_msk_param(p, "X-Amz-Algorithm");
    if (!v || strcmp(v, "AWS4-HMAC-SHA256") != 0)
        return KF_MSK_E_ALGORITHM;
    v = kf_msk_param(p, "X-Amz-SignedHeaders");
    if (!v || strcmp(v, "host") != 0)
        return KF_MSK_E_SIGNED_HEADERS;
    /* Credential: AKID/YYYYMMDD/region/service/aws4_request */
    const char *cred = kf_msk_param(p, "X-Amz-Credential");
    const char *part[5];
    size_t plen[5], np = 0;
    if (!cred)
        return KF_MSK_E_CREDENTIAL;
    for (const char *c = cred;;) {
        const char *sl = strchr(c, '/');
        if (np == 5)
            return KF_MSK_E_CREDENTIAL;
        part[np] = c;
        plen[np++] = sl ? (size_t)(sl - c) : strlen(c);
        if (!sl)
            break;
        c = sl + 1;
    }
    if (np != 5 || plen[0] == 0 || plen[0] >= sizeof(out->access_key))
        return KF_MSK_E_CREDENTIAL;
    memcpy(out->access_key, part[0], plen[0]);
    out->access_key[plen[0]] = '\0';
    const char *date = kf_msk_param(p, "X-Amz-Date");
    if (!date || parse_amzdate(date, &out->date_s) != 0)
        return KF_MSK_E_DATE;
    if (plen[1] != 8 || memcmp(part[1], date, 8) != 0)
        return KF_MSK_E_SCOPE_DATE;
    if (plen[2] != strlen(region) || memcmp(part[2], region, plen[2]) != 0)
        return KF_MSK_E_SCOPE_REGION;
    if (plen[3] != 13 || memcmp(part[3], "kafka-cluster", 13) != 0)
        return KF_MSK_E_SCOPE_SERVICE;
    if (plen[4] != 12 || memcmp(part[4], "aws4_request", 12) != 0)
        return KF_MSK_E_SCOPE_TERM;
    v = kf_msk_param(p, "X-Amz-Expires");
    int64_t exp;
    if (!v || !*v || strspn(v, "0123456789") != strlen(v) ||
        kf_parse_i64(v, 1, KF_MSK_MAX_EXPIRES, &exp) != 0)
        return KF_MSK_E_EXPIRES;
    out->expires_s = out->date_s + exp;
    const char *sig = kf_msk_param(p, "X-Amz-Signature");
    if (!sig || strlen(sig) != 64 || strspn(sig, "0123456789abcdef") != 64)
        return KF_MSK_E_SIGNATURE_FORMAT;
    if (out->date_s > now_s + KF_MSK_MAX_SKEW)
        return KF_MSK_E_FUTURE;
    if (out->expires_s <= now_s)
        return KF_MSK_E_EXPIRED;
    const kf_msk_key *k = lookup ? lookup(ctx, out->access_key) : NULL;
    if (!k || !k->secret)
        return KF_MSK_E_UNKNOWN_KEY;
    out->key = k;
    const char *st = kf_msk_param(p, "X-Amz-Security-Token");
    int key_has = k->session_token && k->session_token[0];
    if (key_has && !st)
        return KF_MSK_E_TOKEN_MISSING;
    if (!key_has && st)
        return KF_MSK_E_TOKEN_UNEXPECTED;
    if (key_has && !ct_equal(st, k->session_token))
        return KF_MSK_E_TOKEN_WRONG;
    /* The canonical request over every parameter but the signature and the
     * User-Agent appended after signing. */
    kf_sigv4_param signed_params[KF_MSK_MAX_PARAMS];
    size_t n = 0;
    for (size_t i = 0; i < p->nparams; i++)
        if (strcmp(p->params[i].name, "X-Amz-Signature") != 0 &&
            strcmp(p->params[i].name, "User-Agent") != 0)
            signed_params[n++] = p->params[i];
    kf_buf q;
    kf_buf_init(&q, 0);
    if (kf_sigv4_canonical_query(signed_params, n, &q) != 0) {
        kf_buf_free(&q);
        return KF_MSK_E_INTERNAL;
    }
    static const char empty_hash[] =
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    size_t need = q.len + strlen(host) + sizeof(empty_hash) + 32;
    char *creq = malloc(need);
    if (!creq) {
        kf_buf_free(&q);
        return KF_MSK_E_INTERNAL;
    }
    snprintf(creq, need, "GET\n/\n%.*s\nhost:%s\n\nhost\n%s", (int)q.len, (const char *)q.data,
             host, empty_hash);
    kf_buf_free(&q);
    char want[65];
    kf_sigv4_sign(k->secret, date, region, "kafka-cluster", creq, want);
    free(creq);
    int ok = CRYPTO_memcmp(want, sig, 64) == 0;
    OPENSSL_cleanse(want, sizeof(want));
    return ok ? KF_MSK_OK : KF_MSK_E_SIGNATURE;
}
