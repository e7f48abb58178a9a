/*
 * test_sigv4.c - SigV4 presigning against AWS's published S3 presigned
 * URL example (AKIAIOSFODNN7EXAMPLE, 2013-05-24, expected signature from
 * AWS's documentation), the MSK token's shape and round trip through the
 * parser, base64url, and malformed tokens refused.  Cross-checks against
 * botocore's own signer live in tests/integration/test_sigv4_botocore.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "aws/sigv4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void example_creds(kf_aws_creds *c) {
    memset(c, 0, sizeof(*c));
    snprintf(c->access_key, sizeof(c->access_key), "AKIAIOSFODNN7EXAMPLE");
    snprintf(c->secret_key, sizeof(c->secret_key), "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
}

static void test_s3_presign_vector(void **st) {
    (void)st;
    kf_aws_creds c;
    example_creds(&c);
    kf_buf url;
    kf_buf_init(&url, 0);
    /* 2013-05-24T00:00:00Z */
    assert_int_equal(kf_sigv4_presign("examplebucket.s3.amazonaws.com", "/test.txt", "s3",
                                      "us-east-1", NULL, 0, &c, 1369353600, 86400,
                                      "UNSIGNED-PAYLOAD", &url),
                     0);
    kf_buf_append(&url, "", 1);
    const char *u = (const char *)url.data;
    assert_non_null(strstr(
        u, "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"));
    assert_non_null(strstr(
        u, "X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"));
    assert_true(strncmp(u, "https://examplebucket.s3.amazonaws.com/test.txt?", 48) == 0);
    kf_buf_free(&url);
}

static void test_msk_token_round_trip(void **st) {
    (void)st;
    kf_aws_creds c;
    example_creds(&c);
    snprintf(c.session_token, sizeof(c.session_token), "tok/with+odd=chars");
    kf_buf t;
    kf_buf_init(&t, 0);
    int64_t exp = 0;
    assert_int_equal(kf_msk_token("eu-west-1", &c, 1700000000, "kferry/1", &t, &exp), 0);
    assert_int_equal(exp, (int64_t)(1700000000 + 900) * 1000);
    for (size_t i = 0; i < t.len; i++)
        assert_true(t.data[i] != '=' && t.data[i] != '+' && t.data[i] != '/');
    kf_msk_parsed p;
    char err[128];
    assert_int_equal(kf_msk_token_parse((const char *)t.data, t.len, &p, err, sizeof(err)), 0);
    assert_string_equal(p.host, "kafka.eu-west-1.amazonaws.com");
    assert_string_equal(p.path, "/");
    assert_string_equal(kf_msk_param(&p, "Action"), "kafka-cluster:Connect");
    assert_string_equal(kf_msk_param(&p, "X-Amz-Security-Token"), "tok/with+odd=chars");
    assert_string_equal(kf_msk_param(&p, "X-Amz-Expires"), "900");
    assert_string_equal(kf_msk_param(&p, "User-Agent"), "kferry/1");
    assert_string_equal(kf_msk_param(&p, "X-Amz-Date"), "20231114T221320Z");
    assert_null(kf_msk_param(&p, "nope"));
    kf_msk_token_free(&p);

    /* credentials expiring before the token shorten it */
    c.expires_ms = (int64_t)(1700000000 + 60) * 1000;
    kf_buf_reset(&t);
    assert_int_equal(kf_msk_token("eu-west-1", &c, 1700000000, NULL, &t, &exp), 0);
    assert_int_equal(exp, c.expires_ms);
    kf_buf_free(&t);
}

static void test_b64url(void **st) {
    (void)st;
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\xfd"};
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        kf_buf e, d;
        kf_buf_init(&e, 0);
        kf_buf_init(&d, 0);
        kf_b64url_encode(in[i], strlen(in[i]), &e);
        assert_int_equal(kf_b64url_decode((const char *)e.data, e.len, &d), 0);
        assert_int_equal(d.len, strlen(in[i]));
        assert_memory_equal(d.data ? (const void *)d.data : "", in[i], d.len);
        kf_buf_free(&e);
        kf_buf_free(&d);
    }
    kf_buf d;
    kf_buf_init(&d, 0);
    assert_int_equal(kf_b64url_decode("a", 1, &d), -1);
    assert_int_equal(kf_b64url_decode("ab!d", 4, &d), -1);
    kf_buf_free(&d);
}

static int parse_text(const char *url) {
    kf_buf t;
    kf_buf_init(&t, 0);
    kf_b64url_encode(url, strlen(url), &t);
    kf_msk_parsed p;
    char err[128];
    int rc = kf_msk_token_parse((const char *)t.data, t.len, &p, err, sizeof(err));
    if (rc == 0)
        kf_msk_token_free(&p);
    kf_buf_free(&t);
    return rc;
}

static void test_bad_tokens(void **st) {
    (void)st;
    assert_int_equal(parse_text("https://h/?a=1&b=2"), 0);
    assert_int_equal(parse_text("http://h/?a=1"), -1);
    assert_int_equal(parse_text("https://h/"), -1);
    assert_int_equal(parse_text("https://?a=1"), -1);
    assert_int_equal(parse_text("https://h/?a=1&a=2"), -1); /* duplicate */
    assert_int_equal(parse_text("https://h/?a=%4"), -1);
    assert_int_equal(parse_text("https://h/?a=%00"), -1);
    assert_int_equal(parse_text("https://h/?=1"), -1);
    assert_int_equal(parse_text("https://h/?a"), -1);
    kf_msk_parsed p;
    char err[128];
    assert_int_equal(kf_msk_token_parse("!!!!", 4, &p, err, sizeof(err)), -1);
    assert_int_equal(kf_msk_token_parse("", 0, &p, err, sizeof(err)), -1);
}

/* AWS's published header-signing example (IAM ListUsers, 2015-08-30, the
 * SigV4 documentation's AKIDEXAMPLE key); the same value comes out of
 * botocore's SigV4Auth for these inputs. */
static void test_header_sign_vector(void **st) {
    (void)st;
    kf_aws_creds c;
    memset(&c, 0, sizeof(c));
    snprintf(c.access_key, sizeof(c.access_key), "AKIDEXAMPLE");
    snprintf(c.secret_key, sizeof(c.secret_key), "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    kf_sigv4_param q[] = {{"Version", "2010-05-08"}, {"Action", "ListUsers"}};
    kf_sigv4_param h[] = {{"Content-Type", "application/x-www-form-urlencoded;  charset=utf-8 "}};
    char amzdate[17];
    kf_buf a;
    kf_buf_init(&a, 0);
    /* 2015-08-30T12:36:00Z */
    assert_int_equal(kf_sigv4_sign_headers("GET", "iam.amazonaws.com", "/", q, 2, h, 1, "", 0,
                                           "iam", "us-east-1", &c, 1440938160, amzdate, &a),
                     0);
    assert_string_equal(amzdate, "20150830T123600Z");
    kf_buf_append(&a, "", 1);
    assert_string_equal(
        (const char *)a.data,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/"
        "aws4_request, SignedHeaders=content-type;host;x-amz-date, "
        "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
    /* A session token is signed; a header given twice is refused. */
    kf_buf_reset(&a);
    snprintf(c.session_token, sizeof(c.session_token), "tok");
    assert_int_equal(kf_sigv4_sign_headers("POST", "sts.amazonaws.com", "/", NULL, 0, NULL, 0,
                                           "Action=GetCallerIdentity", 24, "sts", "us-east-1", &c,
                                           1440938160, amzdate, &a),
                     0);
    kf_buf_append(&a, "", 1);
    assert_non_null(
        strstr((const char *)a.data, "SignedHeaders=host;x-amz-date;x-amz-security-token,"));
    kf_buf_reset(&a);
    kf_sigv4_param dup[] = {{"Host", "x"}};
    assert_int_equal(kf_sigv4_sign_headers("GET", "iam.amazonaws.com", "/", NULL, 0, dup, 1, "", 0,
                                           "iam", "us-east-1", &c, 1440938160, amzdate, &a),
                     -1);
    kf_buf_free(&a);
}

/* kf_msk_token_verify: a token kf_msk_token made verifies, and each check
 * fails on its own. */
static const kf_msk_key *g_key;
static const kf_msk_key *lookup_one(void *ctx, const char *akid) {
    return strcmp(akid, (const char *)ctx) == 0 ? g_key : NULL;
}

static kf_msk_result verify_at(const kf_buf *tok, const char *region, int64_t now) {
    kf_msk_parsed p;
    char err[128];
    assert_int_equal(kf_msk_token_parse((const char *)tok->data, tok->len, &p, err, sizeof(err)),
                     0);
    kf_msk_verified v;
    kf_msk_result r = kf_msk_token_verify(&p, region, now, lookup_one, "AKIAIOSFODNN7EXAMPLE", &v);
    if (r == KF_MSK_OK) {
        assert_string_equal(v.access_key, "AKIAIOSFODNN7EXAMPLE");
        assert_int_equal(v.expires_s, v.date_s + 900);
    }
    kf_msk_token_free(&p);
    return r;
}

static void test_msk_verify(void **st) {
    (void)st;
    kf_aws_creds c;
    example_creds(&c);
    const int64_t t = 1700000000;
    kf_buf tok;
    kf_buf_init(&tok, 0);
    int64_t exp;
    assert_int_equal(kf_msk_token("eu-west-1", &c, t, "ua/1", &tok, &exp), 0);
    static kf_msk_key good, wrong, needs_tok, other_tok;
    good = (kf_msk_key){c.secret_key, ""};
    wrong = (kf_msk_key){"another-secret", ""};
    needs_tok = (kf_msk_key){c.secret_key, "SESSION"};
    g_key = &good;
    assert_int_equal(verify_at(&tok, "eu-west-1", t), KF_MSK_OK);
    assert_int_equal(verify_at(&tok, "eu-west-1", t + 899), KF_MSK_OK);
    assert_int_equal(verify_at(&tok, "eu-west-1", t + 900), KF_MSK_E_EXPIRED);
    assert_int_equal(verify_at(&tok, "eu-west-1", t - 300), KF_MSK_OK);
    assert_int_equal(verify_at(&tok, "eu-west-1", t - 301), KF_MSK_E_FUTURE);
    assert_int_equal(verify_at(&tok, "us-east-1", t), KF_MSK_E_SCOPE_REGION);
    g_key = &wrong;
    assert_int_equal(verify_at(&tok, "eu-west-1", t), KF_MSK_E_SIGNATURE);
    g_key = &needs_tok;
    assert_int_equal(verify_at(&tok, "eu-west-1", t), KF_MSK_E_TOKEN_MISSING);
    g_key = NULL;
    assert_int_equal(verify_at(&tok, "eu-west-1", t), KF_MSK_E_UNKNOWN_KEY);
    kf_buf_free(&tok);

    /* With a session token: required, compared, signed. */
    snprintf(c.session_token, sizeof(c.session_token), "SESSION");
    kf_buf_init(&tok, 0);
    assert_int_equal(kf_msk_token("eu-west-1", &c, t, NULL, &tok, &exp), 0);
    other_tok = (kf_msk_key){c.secret_key, "SESSIOM"};
    g_key = &needs_tok;
    assert_int_equal(verify_at(&tok, "eu-west-1", t), KF_MSK_OK);
    g_key = &other_tok;
    assert_int_equal(verify_at(&tok, "eu-west-1", t), KF_MSK_E_TOKEN_WRONG);
    g_key = &good;
    assert_int_equal(verify_at(&tok, "eu-west-1", t), KF_MSK_E_TOKEN_UNEXPECTED);
    kf_buf_free(&tok);

    /* A changed signed parameter or scope breaks the token. */
    static const struct {
        const char *from, *to;
        kf_msk_result want;
    } edits[] = {
        {"X-Amz-Expires=900", "X-Amz-Expires=901", KF_MSK_E_SIGNATURE},
        {"X-Amz-Expires=900", "X-Amz-Expires=604801", KF_MSK_E_EXPIRES},
        {"kafka-cluster%3AConnect", "kafka-cluster%3ADescribe", KF_MSK_E_ACTION},
        {"AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512", KF_MSK_E_ALGORITHM},
        {"%2Fkafka-cluster%2F", "%2Fkafka%2F", KF_MSK_E_SCOPE_SERVICE},
        {"%2Faws4_request", "%2Faws5_request", KF_MSK_E_SCOPE_TERM},
        {"SignedHeaders=host", "SignedHeaders=host%3Bx", KF_MSK_E_SIGNED_HEADERS},
        {"amazonaws.com/", "amazonaws.com/x", KF_MSK_E_PATH},
        {"https://kafka.", "https://kafkb.", KF_MSK_E_HOST},
        {"&User-Agent=ua%2F1", "&User-Agent=other", KF_MSK_OK}, /* not signed */
    };
    c.session_token[0] = '\0';
    g_key = &good;
    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        kf_buf_init(&tok, 0);
        assert_int_equal(kf_msk_token("eu-west-1", &c, t, "ua/1", &tok, &exp), 0);
        kf_buf url, tok2;
        kf_buf_init(&url, 0);
        kf_buf_init(&tok2, 0);
        assert_int_equal(kf_b64url_decode((const char *)tok.data, tok.len, &url), 0);
        kf_buf_append(&url, "", 1);
        const char *u = (const char *)url.data, *at = strstr(u, edits[i].from);
        assert_non_null(at);
        char edited[4096];
        snprintf(edited, sizeof(edited), "%.*s%s%s", (int)(at - u), u, edits[i].to,
                 at + strlen(edits[i].from));
        kf_b64url_encode(edited, strlen(edited), &tok2);
        assert_int_equal(verify_at(&tok2, "eu-west-1", t), edits[i].want);
        kf_buf_free(&url);
        kf_buf_free(&tok2);
        kf_buf_free(&tok);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_s3_presign_vector),    cmocka_unit_test(test_header_sign_vector),
        cmocka_unit_test(test_msk_token_round_trip), cmocka_unit_test(test_b64url),
        cmocka_unit_test(test_bad_tokens),           cmocka_unit_test(test_msk_verify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
