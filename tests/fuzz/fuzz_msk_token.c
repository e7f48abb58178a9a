/*
 * fuzz_msk_token.c - libFuzzer harness for the MSK IAM token parser and
 * validator (kf_msk_token_parse, kf_msk_token_verify in src/aws/sigv4.c)
 * and the broker's OAUTHBEARER wrapper around them (src/broker/msk_iam.c:
 * kb_oauthbearer_parse, kb_msk_iam_parse, kb_msk_iam_check).
 *
 * Input: [u8 mode] then, by mode % 3:
 *   0  raw: the rest is an OAUTHBEARER client message; when it parses, its
 *      bearer token is checked; the rest is also checked as a bare token.
 *   1  build: [i16 time offset s][u8 key][u8 region][u16 tamper position]
 *      [u8 tamper xor][user agent...]: a token made by kf_msk_token for one
 *      of the harness's keys (key % 4 == 3: a key the broker does not know)
 *      at NOW + offset, its decoded URL optionally tampered with one byte.
 *   2  credentials: the rest is a shared-credentials file for
 *      kb_msk_iam_parse.
 * The validator always runs at the fixed time NOW against the keys of
 * CREDS (parsed once), for region eu-west-1.
 *
 * Oracles: a refusal has a reason.  A token that verifies was signed with
 * the key's secret (it fails with another secret), is not expired and is
 * not more than 5 minutes ahead.  An untampered built token gets exactly
 * the expected result (OK, FUTURE, EXPIRED, UNKNOWN_KEY or region).  A
 * tampered one gets the untampered result when its decoded URL still has
 * the same host, path and parameters apart from User-Agent, and is refused
 * otherwise.  A credentials file that parses has for every key an access
 * key id, a secret and a principal, and each is found by its id.
 */
#include "aws/sigv4.h"
#include "broker/msk_iam.h"
#include "common/util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1796000000LL /* 2026-11-29T21:33:20Z */
#define REGION "eu-west-1"

static const char CREDS[] = "[alice]\n"
                            "aws_access_key_id = AKIAFUZZALICE0000001\n"
                            "aws_secret_access_key = alice/secret+key\n"
                            "principal = arn:aws:iam::123456789012:user/alice\n"
                            "[temp]\n"
                            "aws_access_key_id = ASIAFUZZTEMP00000002\n"
                            "aws_secret_access_key = temp-secret\n"
                            "aws_session_token = IQoJsession/token+==\n"
                            "[bob]\n"
                            "aws_access_key_id = AKIAFUZZBOB000000003\n"
                            "aws_secret_access_key = bob-secret\n";

static const struct {
    const char *akid, *secret, *token;
} KEYS[4] = {
    {"AKIAFUZZALICE0000001", "alice/secret+key", ""},
    {"ASIAFUZZTEMP00000002", "temp-secret", "IQoJsession/token+=="},
    {"AKIAFUZZBOB000000003", "bob-secret", ""},
    {"AKIAFUZZNOBODY000004", "nobody-secret", ""},
};

static kb_msk_iam g_iam;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    char err[256];
    memset(&g_iam, 0, sizeof(g_iam));
    if (kb_msk_iam_parse(&g_iam, "fuzz", CREDS, sizeof(CREDS) - 1, err, sizeof(err)) != 0 ||
        g_iam.n != 3)
        abort();
    memcpy(g_iam.region, REGION, sizeof(REGION));
    return 0;
}

static const kf_msk_key *lookup(void *ctx, const char *akid) {
    const kb_msk_key *k = kb_msk_iam_find(&g_iam, akid);
    (void)ctx;
    return k ? &k->k : NULL;
}

/* The same keys with every secret changed: a token valid under g_iam must
 * fail under these. */
static const kf_msk_key *lookup_wrong(void *ctx, const char *akid) {
    static kf_msk_key wrong[3];
    const kb_msk_key *k = kb_msk_iam_find(&g_iam, akid);
    (void)ctx;
    if (!k)
        return NULL;
    size_t i = (size_t)(k - g_iam.keys);
    wrong[i].secret = "not-the-secret";
    wrong[i].session_token = k->k.session_token;
    return &wrong[i];
}

/* Checks token and applies the oracles common to every mode. */
static kf_msk_result check(const char *tok, size_t len) {
    kf_msk_parsed p;
    char err[160];
    err[0] = '\0';
    if (kf_msk_token_parse(tok, len, &p, err, sizeof(err)) != 0) {
        if (!err[0])
            abort();
        return (kf_msk_result)-1;
    }
    kf_msk_verified v;
    kf_msk_result r = kf_msk_token_verify(&p, REGION, NOW, lookup, NULL, &v);
    if (!kf_msk_reason(r)[0])
        abort();
    if (r == KF_MSK_OK) {
        kf_msk_verified w;
        if (!v.key || v.expires_s <= NOW || v.date_s > NOW + KF_MSK_MAX_SKEW ||
            v.expires_s - v.date_s > KF_MSK_MAX_EXPIRES)
            abort();
        if (kf_msk_token_verify(&p, REGION, NOW, lookup_wrong, NULL, &w) != KF_MSK_E_SIGNATURE)
            abort();
    }
    /* The broker's wrapper agrees. */
    const kb_msk_key *k;
    int64_t exp;
    char why[200], akid[129];
    int rc = kb_msk_iam_check(&g_iam, tok, len, NOW * 1000 + 999, &k, &exp, why, sizeof(why), akid,
                              sizeof(akid));
    if ((rc == 0) != (r == KF_MSK_OK) || (rc == 0 && (!k || exp != v.expires_s * 1000)) ||
        (rc != 0 && !why[0]))
        abort();
    kf_msk_token_free(&p);
    return r;
}

/* Whether two decoded URLs name the same signed request. */
static int same_request(const char *a, size_t al, const char *b, size_t bl) {
    kf_msk_parsed x, y;
    char err[160];
    kf_buf ea, eb;
    kf_buf_init(&ea, 0);
    kf_buf_init(&eb, 0);
    kf_b64url_encode(a, al, &ea);
    kf_b64url_encode(b, bl, &eb);
    int px = kf_msk_token_parse((const char *)ea.data, ea.len, &x, err, sizeof(err));
    int py = kf_msk_token_parse((const char *)eb.data, eb.len, &y, err, sizeof(err));
    kf_buf_free(&ea);
    kf_buf_free(&eb);
    int same = px == 0 && py == 0 && !strcmp(x.host, y.host) && !strcmp(x.path, y.path);
    for (int pass = 0; pass < 2 && same; pass++) {
        const kf_msk_parsed *s = pass ? &y : &x, *o = pass ? &x : &y;
        for (size_t i = 0; i < s->nparams && same; i++) {
            if (!strcmp(s->params[i].name, "User-Agent"))
                continue;
            const char *ov = kf_msk_param(o, s->params[i].name);
            same = ov && !strcmp(ov, s->params[i].value);
        }
    }
    if (px == 0)
        kf_msk_token_free(&x);
    if (py == 0)
        kf_msk_token_free(&y);
    return same;
}

static void build_mode(const uint8_t *d, size_t n) {
    if (n < 7)
        return;
    int16_t off = (int16_t)((uint16_t)d[0] << 8 | d[1]);
    unsigned key = d[2] % 4, region = d[3] % 2;
    size_t tpos = (size_t)d[4] << 8 | d[5];
    uint8_t txor = d[6];
    char ua[64];
    size_t ul = n - 7 < sizeof(ua) - 1 ? n - 7 : sizeof(ua) - 1;
    memcpy(ua, d + 7, ul);
    ua[ul] = '\0';
    kf_aws_creds c;
    memset(&c, 0, sizeof(c));
    kf_strlcpy(c.access_key, KEYS[key].akid, sizeof(c.access_key));
    kf_strlcpy(c.secret_key, KEYS[key].secret, sizeof(c.secret_key));
    kf_strlcpy(c.session_token, KEYS[key].token, sizeof(c.session_token));
    int64_t t = NOW + off;
    kf_buf tok, url;
    kf_buf_init(&tok, 0);
    kf_buf_init(&url, 0);
    int64_t exp;
    if (kf_msk_token(region ? "us-east-1" : REGION, &c, t, ua, &tok, &exp) != 0 ||
        kf_b64url_decode((const char *)tok.data, tok.len, &url) != 0)
        abort();
    kf_msk_result want = region                            ? KF_MSK_E_SCOPE_REGION
                         : t > NOW + KF_MSK_MAX_SKEW       ? KF_MSK_E_FUTURE
                         : t + KF_MSK_TOKEN_EXPIRES <= NOW ? KF_MSK_E_EXPIRED
                         : key == 3                        ? KF_MSK_E_UNKNOWN_KEY
                                                           : KF_MSK_OK;
    kf_msk_result got = check((const char *)tok.data, tok.len);
    if (got != want)
        abort();
    if (txor && url.len) {
        kf_buf t2, tok2;
        kf_buf_init(&t2, 0);
        kf_buf_init(&tok2, 0);
        kf_buf_append(&t2, url.data, url.len);
        t2.data[tpos % url.len] ^= txor;
        kf_b64url_encode(t2.data, t2.len, &tok2);
        kf_msk_result r2 = check((const char *)tok2.data, tok2.len);
        if (same_request((const char *)url.data, url.len, (const char *)t2.data, t2.len)) {
            if (r2 != want)
                abort();
        } else if (r2 == KF_MSK_OK) {
            abort(); /* a changed signed request must not verify */
        }
        kf_buf_free(&t2);
        kf_buf_free(&tok2);
    }
    kf_buf_free(&tok);
    kf_buf_free(&url);
}

static void creds_mode(const uint8_t *d, size_t n) {
    kb_msk_iam m;
    char err[512];
    memset(&m, 0, sizeof(m));
    err[0] = '\0';
    if (kb_msk_iam_parse(&m, "f", (const char *)d, n, err, sizeof(err)) != 0) {
        if (!err[0] || m.n || m.keys)
            abort();
        return;
    }
    for (size_t i = 0; i < m.n; i++) {
        const kb_msk_key *k = &m.keys[i];
        if (!k->access_key || !k->k.secret || !k->principal || !k->section ||
            kb_msk_iam_find(&m, k->access_key) != k)
            abort();
    }
    kb_msk_iam_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 16384)
        return 0;
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    switch (data[0] % 3) {
    case 0: {
        const char *t, *az, *why = NULL;
        size_t tl, azl;
        if (kb_oauthbearer_parse(d, n, &t, &tl, &az, &azl, &why) == 0) {
            if (!t || !tl || t < (const char *)d || t + tl > (const char *)d + n)
                abort();
            check(t, tl);
        } else if (!why) {
            abort();
        }
        check((const char *)d, n);
        break;
    }
    case 1: build_mode(d, n); break;
    default: creds_mode(d, n);
    }
    return 0;
}
