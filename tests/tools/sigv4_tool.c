/*
 * sigv4_tool.c - prints kferry's MSK IAM token for fixed inputs, so the
 * integration tests can compare kferry's signer with botocore's:
 *
 *   sigv4_tool REGION UNIX_TIME ACCESS_KEY SECRET_KEY [SESSION_TOKEN [USER_AGENT]]
 *
 * Output: the token on line 1, the decoded URL on line 2.  Test-only.
 */
#include "aws/sigv4.h"
#include "common/util.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s REGION UNIX_TIME ACCESS_KEY SECRET_KEY [TOKEN [UA]]\n", argv[0]);
        return 2;
    }
    int64_t t;
    if (kf_parse_i64(argv[2], 0, INT64_MAX / 1000, &t) != 0) {
        fprintf(stderr, "bad time: %s\n", argv[2]);
        return 2;
    }
    kf_aws_creds c;
    memset(&c, 0, sizeof(c));
    if (kf_strlcpy(c.access_key, argv[3], sizeof(c.access_key)) ||
        kf_strlcpy(c.secret_key, argv[4], sizeof(c.secret_key)) ||
        (argc > 5 && kf_strlcpy(c.session_token, argv[5], sizeof(c.session_token)))) {
        fprintf(stderr, "argument too long\n");
        return 2;
    }
    kf_buf tok, url;
    kf_buf_init(&tok, 0);
    kf_buf_init(&url, 0);
    int64_t exp;
    if (kf_msk_token(argv[1], &c, t, argc > 6 ? argv[6] : NULL, &tok, &exp) != 0 ||
        kf_b64url_decode((const char *)tok.data, tok.len, &url) != 0) {
        fprintf(stderr, "signing failed\n");
        return 1;
    }
    printf("%.*s\n%.*s\n", (int)tok.len, (const char *)tok.data, (int)url.len,
           (const char *)url.data);
    kf_buf_free(&tok);
    kf_buf_free(&url);
    return 0;
}
