/*
 * test_awscreds.c - the AWS credential chain's local sources: environment
 * variables, the shared credentials and config files (which file wins,
 * "[profile x]" naming, AWS_PROFILE, awsProfileName, a missing profile),
 * credential_process (small shell scripts in a temp dir), expiry parsing
 * and the refresh margin.  The network sources (STS, ECS, IMDS) are
 * covered by tests/integration/test_aws_creds.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/util.h"
#include "mirror/awscreds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[256];

static const char *AWS_VARS[] = {"AWS_ACCESS_KEY_ID",
                                 "AWS_SECRET_ACCESS_KEY",
                                 "AWS_SESSION_TOKEN",
                                 "AWS_CREDENTIAL_EXPIRATION",
                                 "AWS_PROFILE",
                                 "AWS_SHARED_CREDENTIALS_FILE",
                                 "AWS_CONFIG_FILE",
                                 "AWS_WEB_IDENTITY_TOKEN_FILE",
                                 "AWS_ROLE_ARN",
                                 "AWS_ROLE_SESSION_NAME",
                                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                                 "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                                 "AWS_CONTAINER_AUTHORIZATION_TOKEN",
                                 "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                                 "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                                 "AWS_ENDPOINT_URL",
                                 "AWS_ENDPOINT_URL_STS"};

static void path_of(const char *name, char *out, size_t len) {
    snprintf(out, len, "%s/%s", g_dir, name);
}

static void write_file(const char *name, const char *text, unsigned mode) {
    char p[512];
    path_of(name, p, sizeof(p));
    assert_int_equal(kf_write_file_atomic_mode(p, text, strlen(text), mode), 0);
}

static int setup(void **st) {
    (void)st;
    snprintf(g_dir, sizeof(g_dir), "/tmp/kf-awscreds-XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    for (size_t i = 0; i < sizeof(AWS_VARS) / sizeof(AWS_VARS[0]); i++)
        unsetenv(AWS_VARS[i]);
    setenv("HOME", g_dir, 1); /* ~/.aws/... does not exist */
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    return 0;
}

static int teardown(void **st) {
    (void)st;
    kf_rmtree(g_dir);
    return 0;
}

/* One provider, one get: 0 or -1; src and err filled. */
static int get_once(const char *profile, kf_aws_creds *c, char *src, size_t sl, char *err,
                    size_t el) {
    awscreds_opts o;
    memset(&o, 0, sizeof(o));
    o.profile = profile;
    awscreds *p = awscreds_new(&o, err, el);
    assert_non_null(p);
    int rc = awscreds_get(p, c, err, el);
    awscreds_source(p, src, sl);
    awscreds_free(p);
    return rc;
}

static void use_files(const char *creds, const char *config) {
    char p[512];
    if (creds) {
        write_file("credentials", creds, 0600);
        path_of("credentials", p, sizeof(p));
        setenv("AWS_SHARED_CREDENTIALS_FILE", p, 1);
    }
    if (config) {
        write_file("config", config, 0600);
        path_of("config", p, sizeof(p));
        setenv("AWS_CONFIG_FILE", p, 1);
    }
}

static void test_env(void **st) {
    (void)st;
    kf_aws_creds c;
    char src[1024], err[4096];
    setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
    setenv("AWS_SESSION_TOKEN", "envtoken", 1);
    /* a profile in the files too: the environment comes first */
    use_files("[default]\naws_access_key_id = AKIAFILE\naws_secret_access_key = filesecret\n",
              NULL);
    assert_int_equal(get_once(NULL, &c, src, sizeof(src), err, sizeof(err)), 0);
    assert_string_equal(c.access_key, "AKIAENV");
    assert_string_equal(c.secret_key, "envsecret");
    assert_string_equal(c.session_token, "envtoken");
    assert_int_equal(c.expires_ms, 0);
    assert_string_equal(src, "environment variables");
    /* awsProfileName set: the SDKs' rule, the environment is not used */
    assert_int_equal(get_once("default", &c, src, sizeof(src), err, sizeof(err)), 0);
    assert_string_equal(c.access_key, "AKIAFILE");
    /* half of a pair is an error, not a skip */
    unsetenv("AWS_SECRET_ACCESS_KEY");
    assert_int_equal(get_once(NULL, &c, src, sizeof(src), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"));
    assert_null(strstr(err, "AKIAENV"));
}

static void test_profiles(void **st) {
    (void)st;
    kf_aws_creds c;
    char src[1024], err[4096], cpath[300], gpath[300];
    use_files("# comment\n[default]\naws_access_key_id=AKIACRED\n"
              "aws_secret_access_key = credsecret\n\n[prod]\nAWS_ACCESS_KEY_ID = AKIAPRODCRED\n"
              "aws_secret_access_key = prodsecret\naws_session_token = prodtoken\n",
              "[default]\naws_access_key_id = AKIACONFIG\naws_secret_access_key = cfgsecret\n"
              "region = eu-west-1\n"
              "[staging]\naws_access_key_id = AKIANOTAPROFILE\naws_secret_access_key = x\n"
              "[profile  staging ]\naws_access_key_id = AKIASTAGING\n"
              "s3 =\n  max_concurrent_requests = 20\n"
              "aws_secret_access_key = stagingsecret\n"
              "[profile prod]\naws_access_key_id = AKIAPRODCONFIG\n");
    path_of("credentials", cpath, sizeof(cpath));
    path_of("config", gpath, sizeof(gpath));
    char want[1024];

    /* default: the credentials file wins over the config file */
    assert_int_equal(get_once(NULL, &c, src, sizeof(src), err, sizeof(err)), 0);
    assert_string_equal(c.access_key, "AKIACRED");
    assert_string_equal(c.secret_key, "credsecret");
    assert_string_equal(c.session_token, "");
    snprintf(want, sizeof(want), "profile 'default' in %s", cpath);
    assert_string_equal(src, want);

    /* [profile staging] in the config file; its [staging] is not a profile */
    setenv("AWS_PROFILE", "staging", 1);
    assert_int_equal(get_once(NULL, &c, src, sizeof(src), err, sizeof(err)), 0);
    assert_string_equal(c.access_key, "AKIASTAGING");
    assert_string_equal(c.secret_key, "stagingsecret");
    snprintf(want, sizeof(want), "profile 'staging' in %s", gpath);
    assert_string_equal(src, want);

    /* awsProfileName beats AWS_PROFILE; per key, the credentials file wins */
    assert_int_equal(get_once("prod", &c, src, sizeof(src), err, sizeof(err)), 0);
    assert_string_equal(c.access_key, "AKIAPRODCRED");
    assert_string_equal(c.secret_key, "prodsecret");
    assert_string_equal(c.session_token, "prodtoken");

    /* a profile that was asked for and is missing: an error naming both files */
    setenv("AWS_PROFILE", "nope", 1);
    assert_int_equal(get_once(NULL, &c, src, sizeof(src), err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "profile 'nope' not found in %s or %s", cpath, gpath);
    assert_non_null(strstr(err, want));
    assert_non_null(strstr(err, "shared config files: failed"));
    assert_null(strstr(err, "secret"));
    assert_string_equal(src, "");
}

static void test_nothing(void **st) {
    (void)st;
    kf_aws_creds c;
    char src[1024], err[4096];
    assert_int_equal(get_once(NULL, &c, src, sizeof(src), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "environment: skipped"));
    assert_non_null(strstr(err, "shared config files: skipped, profile 'default' not found"));
    assert_non_null(strstr(err, "web identity: skipped"));
    assert_non_null(strstr(err, "container credentials: skipped"));
    assert_non_null(strstr(err, "instance metadata: skipped, AWS_EC2_METADATA_DISABLED=true"));
    /* a profile with settings but no credentials is skipped too */
    use_files(NULL, "[default]\nregion = us-west-2\n");
    assert_int_equal(get_once(NULL, &c, src, sizeof(src), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "profile 'default' has no credentials"));
    assert_non_null(strstr(err, "instance metadata: skipped"));
}

/* A credential_process script in a directory with a space in its name,
 * called with a quoted argument. */
static void process_profile(const char *script) {
    char d[512], p[600], cfg[1400];
    path_of("with space", d, sizeof(d));
    mkdir(d, 0700);
    snprintf(p, sizeof(p), "with space/cp.sh");
    write_file(p, script, 0700);
    snprintf(cfg, sizeof(cfg),
             "[profile proc]\ncredential_process = \"%s/cp.sh\" \"two words\" \"say \\\"q\\\"\"\n",
             d);
    use_files(NULL, cfg);
}

static void test_credential_process(void **st) {
    (void)st;
    kf_aws_creds c;
    char src[1024], err[4096], script[2048], count[512];
    path_of("count", count, sizeof(count));
    snprintf(script, sizeof(script),
             "#!/bin/sh\n"
             "echo x >> '%s'\n"
             "[ \"$1\" = 'two words' ] || exit 7\n"
             "[ \"$2\" = 'say \"q\"' ] || exit 8\n"
             "printf '{\"Version\": 1, \"AccessKeyId\": \"AKIAPROC\", \"SecretAccessKey\": "
             "\"procsecret\", \"SessionToken\": \"proctoken\", \"Expiration\": "
             "\"2999-01-02T03:04:05.500+00:00\"}'\n",
             count);
    process_profile(script);
    awscreds_opts o;
    memset(&o, 0, sizeof(o));
    o.profile = "proc";
    awscreds *p = awscreds_new(&o, err, sizeof(err));
    assert_non_null(p);
    assert_int_equal(awscreds_get(p, &c, err, sizeof(err)), 0);
    assert_string_equal(c.access_key, "AKIAPROC");
    assert_string_equal(c.secret_key, "procsecret");
    assert_string_equal(c.session_token, "proctoken");
    int64_t want;
    assert_int_equal(awscreds_parse_time("2999-01-02T03:04:05.5Z", &want), 0);
    assert_int_equal(c.expires_ms, want);
    awscreds_source(p, src, sizeof(src));
    assert_string_equal(src, "credential_process of profile 'proc'");
    /* far from expiry: the second call is served from the cache */
    assert_int_equal(awscreds_get(p, &c, err, sizeof(err)), 0);
    assert_string_equal(c.access_key, "AKIAPROC");
    awscreds_free(p);
    kf_buf b;
    kf_buf_init(&b, 0);
    assert_int_equal(kf_read_file(count, &b, 1 << 20), 0);
    assert_int_equal(b.len, 2); /* one run: "x\n" */
    kf_buf_free(&b);

    /* a failing process: the status, the profile, and the chain stops there */
    process_profile("#!/bin/sh\necho oops >&2\nexit 3\n");
    assert_int_equal(get_once("proc", &c, src, sizeof(src), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "credential_process of profile 'proc'"));
    assert_non_null(strstr(err, "exited with status 3"));
    assert_null(strstr(err, "web identity"));

    /* not JSON, and the wrong Version */
    process_profile("#!/bin/sh\necho hello\n");
    assert_int_equal(get_once("proc", &c, src, sizeof(src), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "did not print a JSON object"));
    process_profile("#!/bin/sh\necho '{\"Version\":2,\"AccessKeyId\":\"a\","
                    "\"SecretAccessKey\":\"b\"}'\n");
    assert_int_equal(get_once("proc", &c, src, sizeof(src), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "\"Version\": 1"));

    /* credentials that have expired already are never handed out */
    process_profile(
        "#!/bin/sh\necho '{\"Version\":1,\"AccessKeyId\":\"AKIAOLD\","
        "\"SecretAccessKey\":\"oldsecret\",\"Expiration\":\"2020-01-01T00:00:00Z\"}'\n");
    assert_int_equal(get_once("proc", &c, src, sizeof(src), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "already expired"));
    assert_null(strstr(err, "oldsecret"));

    /* a program that does not exist */
    use_files(NULL, "[profile proc]\ncredential_process = /nonexistent/kf-cp --x\n");
    assert_int_equal(get_once("proc", &c, src, sizeof(src), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot run '/nonexistent/kf-cp'"));
}

typedef struct getter {
    awscreds *p;
    int rc;
    char ak[129];
} getter;

static void *get_thread(void *arg) {
    getter *g = arg;
    kf_aws_creds c;
    char err[4096];
    for (int i = 0; i < 20; i++) {
        g->rc |= awscreds_get(g->p, &c, err, sizeof(err));
        snprintf(g->ak, sizeof(g->ak), "%s", c.access_key);
    }
    return NULL;
}

/* Callers in several threads at once (librdkafka's refresh callbacks):
 * one fetch, everyone gets its result. */
static void test_threads(void **st) {
    (void)st;
    char script[1024], count[512], err[512];
    path_of("count", count, sizeof(count));
    snprintf(script, sizeof(script),
             "#!/bin/sh\necho x >> '%s'\nsleep 0.2\n"
             "echo '{\"Version\":1,\"AccessKeyId\":\"AKIATHREADS\",\"SecretAccessKey\":\"s\","
             "\"Expiration\":\"2999-01-01T00:00:00Z\"}'\n",
             count);
    process_profile(script);
    awscreds_opts o;
    memset(&o, 0, sizeof(o));
    o.profile = "proc";
    awscreds *p = awscreds_new(&o, err, sizeof(err));
    assert_non_null(p);
    getter g[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        memset(&g[i], 0, sizeof(g[i]));
        g[i].p = p;
        assert_int_equal(pthread_create(&t[i], NULL, get_thread, &g[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(g[i].rc, 0);
        assert_string_equal(g[i].ak, "AKIATHREADS");
    }
    awscreds_free(p);
    kf_buf b;
    assert_int_equal(kf_read_file(count, &b, 1 << 20), 0);
    assert_int_equal(b.len, 2); /* the process ran once */
    kf_buf_free(&b);
}

static void test_parse_time(void **st) {
    (void)st;
    int64_t ms;
    assert_int_equal(awscreds_parse_time("2026-12-02T18:00:00Z", &ms), 0);
    assert_int_equal(ms, 1796234400000LL);
    assert_int_equal(awscreds_parse_time("2026-12-02T18:00:00.123Z", &ms), 0);
    assert_int_equal(ms, 1796234400123LL);
    assert_int_equal(awscreds_parse_time("2026-12-02T18:00:00.123456789Z", &ms), 0);
    assert_int_equal(ms, 1796234400123LL);
    assert_int_equal(awscreds_parse_time("2026-12-02T18:00:00+00:00", &ms), 0);
    assert_int_equal(ms, 1796234400000LL);
    assert_int_equal(awscreds_parse_time("2026-12-02T19:30:00+01:30", &ms), 0);
    assert_int_equal(ms, 1796234400000LL);
    assert_int_equal(awscreds_parse_time("2026-12-02T16:00:00-0200", &ms), 0);
    assert_int_equal(ms, 1796234400000LL);
    const char *bad[] = {"",
                         "2026-12-02",
                         "2026-12-02T18:00:00",
                         "2026-12-02T18:00Z",
                         "2026-13-02T18:00:00Z",
                         "2026-12-02T24:00:00Z",
                         "2026-12-02T18:00:00.Z",
                         "2026-12-02T18:00:00Zjunk",
                         "1796234400"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(awscreds_parse_time(bad[i], &ms), -1);
}

static void test_refresh_margin(void **st) {
    (void)st;
    /* 5 minutes for long-lived sets, a third of the lifetime for short ones */
    assert_int_equal(awscreds_refresh_margin_ms(3600 * 1000), 300 * 1000);
    assert_int_equal(awscreds_refresh_margin_ms(900 * 1000), 300 * 1000);
    assert_int_equal(awscreds_refresh_margin_ms(600 * 1000), 200 * 1000);
    assert_int_equal(awscreds_refresh_margin_ms(9000), 3000);
    assert_int_equal(awscreds_refresh_margin_ms(-5), 0);
    const int64_t t0 = 1000000;
    /* never-expiring: never refreshed */
    assert_int_equal(awscreds_needs_refresh(0, t0, t0 + 999999999), 0);
    /* one hour: fresh until 5 minutes before */
    int64_t exp = t0 + 3600 * 1000;
    assert_int_equal(awscreds_needs_refresh(exp, t0, t0), 0);
    assert_int_equal(awscreds_needs_refresh(exp, t0, exp - 300 * 1000 - 1), 0);
    assert_int_equal(awscreds_needs_refresh(exp, t0, exp - 300 * 1000), 1);
    assert_int_equal(awscreds_needs_refresh(exp, t0, exp + 1), 1);
    /* 9 s: refreshed in the last 3 s */
    exp = t0 + 9000;
    assert_int_equal(awscreds_needs_refresh(exp, t0, t0 + 5999), 0);
    assert_int_equal(awscreds_needs_refresh(exp, t0, t0 + 6000), 1);
    /* fetched already expired: refreshed */
    assert_int_equal(awscreds_needs_refresh(t0 - 1, t0, t0), 1);
}

static void test_bad_options(void **st) {
    (void)st;
    char err[512];
    awscreds_opts o;
    memset(&o, 0, sizeof(o));
    o.role_arn = "my-role";
    assert_null(awscreds_new(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "awsRoleArn 'my-role' is not an ARN"));
    o.role_arn = "arn:aws:iam::123456789012:role/r";
    o.role_session = "bad session";
    assert_null(awscreds_new(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "awsRoleSessionName"));
    o.role_session = "kferry-ok";
    awscreds *p = awscreds_new(&o, err, sizeof(err));
    assert_non_null(p);
    char src[64] = "x";
    awscreds_source(p, src, sizeof(src));
    assert_string_equal(src, "");
    awscreds_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_profiles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_credential_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_refresh_margin),
        cmocka_unit_test_setup_teardown(test_bad_options, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
