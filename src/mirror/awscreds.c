/* TEMPORARY stub: environment variables only (replaced by the full chain). */
#include "mirror/awscreds.h"

#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct awscreds {
    char src[64];
};

awscreds *awscreds_new(const awscreds_opts *o, char *err, size_t errlen) {
    (void)o;
    (void)err;
    (void)errlen;
    return calloc(1, sizeof(awscreds));
}

void awscreds_free(awscreds *p) { free(p); }

int awscreds_get(awscreds *p, kf_aws_creds *out, char *err, size_t errlen) {
    const char *a = getenv("AWS_ACCESS_KEY_ID"), *s = getenv("AWS_SECRET_ACCESS_KEY");
    const char *t = getenv("AWS_SESSION_TOKEN");
    if (!a || !s) {
        snprintf(err, errlen, "environment variables: AWS_ACCESS_KEY_ID not set");
        return -1;
    }
    memset(out, 0, sizeof(*out));
    kf_strlcpy(out->access_key, a, sizeof(out->access_key));
    kf_strlcpy(out->secret_key, s, sizeof(out->secret_key));
    if (t)
        kf_strlcpy(out->session_token, t, sizeof(out->session_token));
    kf_strlcpy(p->src, "environment variables", sizeof(p->src));
    return 0;
}

void awscreds_source(awscreds *p, char *out, size_t len) { snprintf(out, len, "%s", p->src); }
