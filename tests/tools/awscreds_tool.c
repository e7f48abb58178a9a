/*
 * awscreds_tool.c - runs kferry's AWS credential chain (src/mirror/
 * awscreds.c) in the environment it is given, for
 * tests/integration/test_aws_creds.py:
 *
 *   awscreds_tool [--profile P] [--role-arn A] [--role-session S]
 *                 [--region R] [--sts-region R] [--repeat N] [--sleep-ms M]
 *
 * One line per call:
 *   source=<...> access_key=<AKID> expires_ms=<n> secret_sha256=<hex>
 *   session_token_sha256=<hex or ->
 * never the secret itself.  Exit 1 with the error on stderr when a call
 * fails.  Test-only.
 */
#include "mirror/awscreds.h"
#include "common/util.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv) {
    awscreds_opts o;
    memset(&o, 0, sizeof(o));
    int64_t repeat = 1, sleep_ms = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "%s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--profile"))
            o.profile = v;
        else if (!strcmp(a, "--role-arn"))
            o.role_arn = v;
        else if (!strcmp(a, "--role-session"))
            o.role_session = v;
        else if (!strcmp(a, "--region"))
            o.region = v;
        else if (!strcmp(a, "--sts-region"))
            o.sts_region = v;
        else if (!strcmp(a, "--repeat") && kf_parse_i64(v, 1, 100000, &repeat) == 0)
            ;
        else if (!strcmp(a, "--sleep-ms") && kf_parse_i64(v, 0, 600000, &sleep_ms) == 0)
            ;
        else {
            fprintf(stderr, "bad option %s %s\n", a, v);
            return 2;
        }
    }
    char err[8192];
    awscreds *p = awscreds_new(&o, err, sizeof(err));
    if (!p) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    for (int64_t n = 0; n < repeat; n++) {
        if (n && sleep_ms) {
            struct timespec ts = {(time_t)(sleep_ms / 1000), (long)(sleep_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
        static kf_aws_creds c;
        if (awscreds_get(p, &c, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s\n", err);
            awscreds_free(p);
            return 1;
        }
        char src[1024], sh[65], th[65];
        awscreds_source(p, src, sizeof(src));
        kf_sha256_hex(c.secret_key, strlen(c.secret_key), sh);
        kf_sha256_hex(c.session_token, strlen(c.session_token), th);
        printf("source=%s access_key=%s expires_ms=%lld now_ms=%lld secret_sha256=%s "
               "session_token_sha256=%s\n",
               src, c.access_key, (long long)c.expires_ms, (long long)kf_wall_ms(), sh,
               c.session_token[0] ? th : "-");
        fflush(stdout);
    }
    awscreds_free(p);
    return 0;
}
