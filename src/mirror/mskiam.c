/*
 * mskiam.c - MSK IAM tokens for librdkafka's OAUTHBEARER (see mskiam.h).
 *
 * librdkafka hands the refresh callback the handle's
 * sasl.oauthbearer.config string; kferry puts "kferry-msk-iam:<alias>"
 * there, which finds the cluster's context here.  That keeps the handle's
 * opaque free for the code that owns the handle.
 */
#include "mirror/mskiam.h"

#include "aws/sigv4.h"
#include "common/log.h"
#include "common/util.h"
#include "mirror/awscreds.h"

#include <openssl/crypto.h>

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CFG_PREFIX "kferry-msk-iam:"
#define USER_AGENT "kferry"
#define MAX_CTX 8

typedef struct iam_ctx {
    char alias[128];
    char region[32];
    char profile[128], role_arn[256], role_session[128], sts_region[32];
    awscreds *creds;
    char source[256];
    char akid[129];
    char last_err[768];
    int64_t token_expires_ms;
} iam_ctx;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static iam_ctx g_ctx[MAX_CTX];
static size_t g_n;

static int region_char(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-';
}

/* "...kafka.<region>.amazonaws.com" or "...kafka-serverless.<region>..." */
static int region_from_hosts(const char *boot, char *out, size_t len) {
    static const char *marks[] = {".kafka.", ".kafka-serverless."};
    for (size_t m = 0; m < 2; m++) {
        for (const char *p = boot; (p = strstr(p, marks[m])) != NULL; p++) {
            const char *r = p + strlen(marks[m]);
            size_t n = 0;
            while (region_char(r[n]))
                n++;
            if (n > 0 && n < len && !strncmp(r + n, ".amazonaws.com", 14)) {
                memcpy(out, r, n);
                out[n] = '\0';
                return 0;
            }
        }
    }
    return -1;
}

int mskiam_region(const mc_cluster *cl, char *out, size_t len, char *err, size_t errlen) {
    const char *env = getenv("AWS_REGION");
    if (!env || !*env)
        env = getenv("AWS_DEFAULT_REGION");
    const char *boot = mc_bootstrap(cl);
    if (cl->iam.region[0])
        return kf_strlcpy(out, cl->iam.region, len);
    if (env && *env)
        return kf_strlcpy(out, env, len);
    if (boot && region_from_hosts(boot, out, len) == 0)
        return 0;
    snprintf(err, errlen,
             "cluster '%s' (%s): MSK IAM needs the cluster's AWS region and the broker names do "
             "not tell it: set %s.aws.region (or AWS_REGION)",
             cl->alias, boot ? boot : "?", cl->alias);
    return -1;
}

static iam_ctx *find_locked(const char *alias) {
    for (size_t i = 0; i < g_n; i++)
        if (!strcmp(g_ctx[i].alias, alias))
            return &g_ctx[i];
    return NULL;
}

static iam_ctx *ctx_for(const mc_cluster *cl, char *err, size_t errlen) {
    pthread_mutex_lock(&g_mu);
    iam_ctx *x = find_locked(cl->alias);
    if (x || g_n == MAX_CTX) {
        if (!x)
            snprintf(err, errlen, "too many MSK IAM clusters");
        pthread_mutex_unlock(&g_mu);
        return x;
    }
    x = &g_ctx[g_n];
    memset(x, 0, sizeof(*x));
    kf_strlcpy(x->alias, cl->alias, sizeof(x->alias));
    kf_strlcpy(x->profile, cl->iam.profile, sizeof(x->profile));
    kf_strlcpy(x->role_arn, cl->iam.role_arn, sizeof(x->role_arn));
    kf_strlcpy(x->role_session, cl->iam.role_session, sizeof(x->role_session));
    kf_strlcpy(x->sts_region, cl->iam.sts_region, sizeof(x->sts_region));
    if (mskiam_region(cl, x->region, sizeof(x->region), err, errlen) != 0) {
        pthread_mutex_unlock(&g_mu);
        return NULL;
    }
    awscreds_opts o = {x->profile[0] ? x->profile : NULL,
                       x->role_arn[0] ? x->role_arn : NULL,
                       x->role_session[0] ? x->role_session : NULL,
                       x->sts_region[0] ? x->sts_region : NULL,
                       x->region,
                       cl->iam.debug_creds};
    char cerr[512];
    x->creds = awscreds_new(&o, cerr, sizeof(cerr));
    if (!x->creds) {
        snprintf(err, errlen, "cluster '%s': MSK IAM: %s", cl->alias, cerr);
        pthread_mutex_unlock(&g_mu);
        return NULL;
    }
    g_n++;
    pthread_mutex_unlock(&g_mu);
    kf_info("iam", "cluster '%s': MSK IAM (SASL/OAUTHBEARER), region %s%s%s", cl->alias, x->region,
            x->role_arn[0] ? ", role " : "", x->role_arn);
    return x;
}

static void refresh_cb(rd_kafka_t *rk, const char *cfg, void *opaque) {
    (void)opaque;
    char errstr[1024] = "";
    if (!cfg || strncmp(cfg, CFG_PREFIX, strlen(CFG_PREFIX)) != 0) {
        rd_kafka_oauthbearer_set_token_failure(rk, "kferry: no MSK IAM context on this handle");
        return;
    }
    const char *alias = cfg + strlen(CFG_PREFIX);
    pthread_mutex_lock(&g_mu);
    iam_ctx *x = find_locked(alias);
    pthread_mutex_unlock(&g_mu);
    if (!x) {
        rd_kafka_oauthbearer_set_token_failure(rk, "kferry: unknown MSK IAM cluster");
        return;
    }
    kf_aws_creds *c = calloc(1, sizeof(*c));
    char why[768];
    if (!c || awscreds_get(x->creds, c, why, sizeof(why)) != 0) {
        if (!c)
            kf_strlcpy(why, "out of memory", sizeof(why));
        snprintf(errstr, sizeof(errstr), "cluster '%s': no AWS credentials for MSK IAM: %s",
                 x->alias, why);
        pthread_mutex_lock(&g_mu);
        int fresh = strcmp(x->last_err, errstr) != 0;
        kf_strlcpy(x->last_err, errstr, sizeof(x->last_err));
        pthread_mutex_unlock(&g_mu);
        if (fresh)
            kf_err("iam", "%s", errstr);
        rd_kafka_oauthbearer_set_token_failure(rk, errstr);
        free(c);
        return;
    }
    kf_buf tok;
    kf_buf_init(&tok, 0);
    int64_t exp = 0;
    int rc = kf_msk_token(x->region, c, (int64_t)time(NULL), USER_AGENT, &tok, &exp);
    kf_buf_append(&tok, "", 1);
    char src[256];
    awscreds_source(x->creds, src, sizeof(src));
    if (rc != 0 || !kf_buf_ok(&tok)) {
        snprintf(errstr, sizeof(errstr), "cluster '%s': cannot sign the MSK IAM token", x->alias);
        rd_kafka_oauthbearer_set_token_failure(rk, errstr);
    } else if (rd_kafka_oauthbearer_set_token(rk, (const char *)tok.data, exp, c->access_key, NULL,
                                              0, errstr,
                                              sizeof(errstr)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        kf_err("iam", "cluster '%s': librdkafka refused the MSK IAM token: %s", x->alias, errstr);
        rd_kafka_oauthbearer_set_token_failure(rk, errstr);
    } else {
        pthread_mutex_lock(&g_mu);
        int changed = strcmp(x->akid, c->access_key) != 0 || strcmp(x->source, src) != 0;
        kf_strlcpy(x->akid, c->access_key, sizeof(x->akid));
        kf_strlcpy(x->source, src, sizeof(x->source));
        x->last_err[0] = '\0';
        x->token_expires_ms = exp;
        pthread_mutex_unlock(&g_mu);
        if (changed)
            kf_info("iam",
                    "cluster '%s': MSK IAM token for %s as access key %s (credentials from %s)",
                    x->alias, x->region, c->access_key, src);
        else
            kf_debug("iam", "cluster '%s': MSK IAM token refreshed, valid for %llds", x->alias,
                     (long long)((exp - kf_wall_ms()) / 1000));
    }
    OPENSSL_cleanse(tok.data, tok.len);
    kf_buf_free(&tok);
    OPENSSL_cleanse(c, sizeof(*c));
    free(c);
}

int mskiam_conf(rd_kafka_conf_t *conf, const mc_cluster *cl, char *err, size_t errlen) {
    if (!cl->iam.enabled)
        return 0;
    if (!ctx_for(cl, err, errlen))
        return -1;
    char v[300], eb[256];
    snprintf(v, sizeof(v), CFG_PREFIX "%s", cl->alias);
    if (rd_kafka_conf_set(conf, "sasl.mechanism", "OAUTHBEARER", eb, sizeof(eb)) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "sasl.oauthbearer.config", v, eb, sizeof(eb)) != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "cluster '%s': MSK IAM: %s", cl->alias, eb);
        return -1;
    }
    rd_kafka_conf_set_oauthbearer_token_refresh_cb(conf, refresh_cb);
    /* the refresh events get their own queue, which mskiam_handle hands to
     * librdkafka's background thread */
    rd_kafka_conf_enable_sasl_queue(conf, 1);
    return 0;
}

void mskiam_handle(rd_kafka_t *rk) {
    if (!rk)
        return;
    char v[300];
    size_t n = sizeof(v);
    if (rd_kafka_conf_get(rd_kafka_conf(rk), "sasl.oauthbearer.config", v, &n) !=
            RD_KAFKA_CONF_OK ||
        strncmp(v, CFG_PREFIX, strlen(CFG_PREFIX)) != 0)
        return;
    rd_kafka_error_t *e = rd_kafka_sasl_background_callbacks_enable(rk);
    if (e) {
        kf_warn("iam", "%s: background token refresh not available: %s", rd_kafka_name(rk),
                rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
}

void mskiam_describe(const mc_cluster *cl, char *out, size_t len) {
    out[0] = '\0';
    if (!cl->iam.enabled)
        return;
    pthread_mutex_lock(&g_mu);
    iam_ctx *x = find_locked(cl->alias);
    if (x && x->akid[0])
        snprintf(out, len, "MSK IAM as access key %s (credentials from %s), region %s", x->akid,
                 x->source, x->region);
    pthread_mutex_unlock(&g_mu);
}

void mskiam_last_error(const mc_cluster *cl, char *out, size_t len) {
    out[0] = '\0';
    pthread_mutex_lock(&g_mu);
    iam_ctx *x = find_locked(cl->alias);
    if (x)
        kf_strlcpy(out, x->last_err, len);
    pthread_mutex_unlock(&g_mu);
}
