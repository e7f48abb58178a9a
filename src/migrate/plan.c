/*
 * plan.c - `kferry plan`: arguments, one bounded connection per cluster,
 * the inventory, the checks and the output (see plan.h, docs/PLAN.md).
 *
 * Nothing here writes to either cluster: the only request that could
 * create anything, CreateTopics, is sent with validate_only.
 */
#include "migrate/plan.h"

#include "migrate/cli.h"
#include "migrate/commands.h"

#include "common/log.h"
#include "common/util.h"
#include "mirror/clients.h"
#include "mirror/conndiag.h"
#include "mirror/mskiam.h"
#include "migrate/inventory.h"

#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *g_plan_usage =
    "usage: kferry plan --config FILE [--json] [--timeout SECONDS] [--rate RATE]\n"
    "                   [--measure-seconds N]\n"
    "\n"
    "Inventories the source and target clusters of the enabled flow and checks\n"
    "that `kferry mirror` can run: connectivity, API support, replication factor,\n"
    "topic name collisions, configs the target rejects or changes, message size\n"
    "limits.  It also estimates the migration: bytes and records to copy per\n"
    "topic and in total, the catch-up time, and the topics whose retention\n"
    "would delete records before the mirror reaches them (a blocker).\n"
    "Nothing is written to either cluster.\n"
    "\n"
    "  --config FILE      the mirror's mm2.properties\n"
    "  --json             the plan as JSON (schema: docs/PLAN.md)\n"
    "  --timeout SECONDS  bound of each request to a cluster (default 10)\n"
    "  --rate RATE        the mirror's copy rate for the estimate, in key+value\n"
    "                     bytes per second: 80MB/s, 500kB, 1GiB/s, 2000000\n"
    "                     (kferry_mirror_bytes_total's rate on a running mirror)\n"
    "  --measure-seconds N  without --rate: read the source for N seconds and\n"
    "                     use that read rate (default 3; 0: no estimate of time)\n"
    "\n"
    "Examples:\n"
    "  kferry plan --config mm2.properties --json > plan.json\n"
    "  kferry plan --config mm2.properties --rate 50MB/s\n"
    "\n"
    "Exit status: 0 no blocker, 1 at least one blocker, 2 usage or config error.\n";

void plan_check(plan_ctx *p, const char *id, const char *status, const char *cluster,
                const char *object_type, const char *object, const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_array_append_new(p->checks, json_pack("{s:s,s:s,s:s?,s:s,s:s,s:s}", "check", id, "status",
                                               status, "cluster", cluster, "object_type",
                                               object_type, "object", object, "message", msg));
}

/* --- one librdkafka handle per cluster, with the reason of failures ------ */

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    plan_conn *cn = opaque;
    /* "all brokers down" says less than the connect error before it */
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && cn->last_error[0])
        return;
    if (err == RD_KAFKA_RESP_ERR__AUTHENTICATION)
        cn->auth_failed = 1;
    /* a TLS or SASL cause says more than the disconnects that follow it */
    if ((cn->last_code == RD_KAFKA_RESP_ERR__SSL ||
         cn->last_code == RD_KAFKA_RESP_ERR__AUTHENTICATION) &&
        err == RD_KAFKA_RESP_ERR__TRANSPORT)
        return;
    cn->last_code = err;
    kf_strlcpy(cn->last_error, reason, sizeof(cn->last_error));
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    /* failures reach the report through error_cb; the log is for debugging */
    if (kf_log_debug_enabled("plan")) {
        const char *name = rd_kafka_name(rk);
        const char *const kv[] = {"client", name, "facility", fac, NULL};
        kf_log_kv(KF_LOG_DEBUG, "plan", kv, "%s: %s: %s", name, fac, buf);
    }
}

rd_kafka_conf_t *plan_client_conf(plan_ctx *p, const mc_cluster *cl, plan_conn *cn,
                                  int no_host_check, const char *bootstrap, int timeout_ms) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char eb[512], v[32], id[128];
    snprintf(id, sizeof(id), "kferry-plan-%s", cl->alias);
    rd_kafka_conf_set(conf, "client.id", id, eb, sizeof(eb));
    snprintf(v, sizeof(v), "%d", timeout_ms > 0 ? timeout_ms : p->timeout_ms);
    rd_kafka_conf_set(conf, "socket.timeout.ms", v, eb, sizeof(eb));
    rd_kafka_conf_set(conf, "socket.connection.setup.timeout.ms", v, eb, sizeof(eb));
    for (size_t i = 0; i < cl->nprops; i++) {
        const mc_kv *kv = &cl->props[i];
        if ((kv->roles & MC_CLIENT_CONSUMER) &&
            rd_kafka_conf_set(conf, kv->key, kv->value, eb, sizeof(eb)) != RD_KAFKA_CONF_OK)
            kf_warn("plan", "%s.%s: %s", cl->alias, kv->key, eb);
    }
    if (bootstrap)
        rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, eb, sizeof(eb));
    if (mskiam_conf(conf, cl, eb, sizeof(eb)) != 0) {
        kf_strlcpy(cn->last_error, eb, sizeof(cn->last_error));
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    /* read-only: never auto-create a topic by asking about it */
    rd_kafka_conf_set(conf, "allow.auto.create.topics", "false", eb, sizeof(eb));
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", eb, sizeof(eb));
    if (no_host_check)
        rd_kafka_conf_set(conf, "ssl.endpoint.identification.algorithm", "none", eb, sizeof(eb));
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_opaque(conf, cn);
    return conf;
}

/* no_host_check: the same connection without hostname verification, to
 * tell a hostname mismatch from an untrusted certificate. */
static rd_kafka_t *connect_cluster(plan_ctx *p, const mc_cluster *cl, plan_conn *cn,
                                   int no_host_check) {
    rd_kafka_conf_t *conf = plan_client_conf(p, cl, cn, no_host_check, NULL, 0);
    if (!conf)
        return NULL;
    char eb[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, eb, sizeof(eb));
    mskiam_handle(rk);
    if (!rk) {
        kf_strlcpy(cn->last_error, eb, sizeof(cn->last_error));
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

/* 1 if cl's brokers complete the TLS handshake when the hostname is not
 * checked: the certificate is trusted but names another host. */
static int trusted_without_hostname(plan_ctx *p, const mc_cluster *cl) {
    const char *alg = mc_prop(cl, "ssl.endpoint.identification.algorithm");
    if (alg && !strcasecmp(alg, "none"))
        return 0;
    plan_conn cn2 = {{0}, 0, 0};
    rd_kafka_t *rk = connect_cluster(p, cl, &cn2, 1);
    if (!rk)
        return 0;
    const struct rd_kafka_metadata *md = NULL;
    int timeout = p->timeout_ms < 5000 ? p->timeout_ms : 5000;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, NULL, &md, timeout);
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_poll(rk, 100);
    /* the first attempt reached the TLS check, so anything but the same
     * verification failure means the handshake got past it */
    int ok =
        e == RD_KAFKA_RESP_ERR_NO_ERROR || (!strstr(cn2.last_error, "certificate verify failed") &&
                                            !strstr(cn2.last_error, "verify broker certificate"));
    rd_kafka_destroy(rk);
    return ok;
}

/* The "connection" object of a cluster: protocol, mechanism, result and
 * a message that says what to fix. */
static json_t *connection(const mc_cluster *cl, const char *result, const char *message,
                          const char *detail) {
    char pb[32];
    const char *mech = conndiag_mechanism(cl);
    return json_pack("{s:s,s:s?,s:s,s:s,s:s?}", "protocol", conndiag_protocol(cl, pb, sizeof(pb)),
                     "mechanism", mech, "result", result, "message", message, "detail", detail);
}

/* Connectivity check, then the inventory of one cluster. */
static json_t *inventory(plan_ctx *p, const mc_cluster *cl, const char *role, rd_kafka_t **out,
                         plan_conn *cn) {
    json_t *inv = json_pack("{s:s,s:s,s:s,s:b,s:n}", "role", role, "alias", cl->alias, "bootstrap",
                            mc_bootstrap(cl), "reachable", 0, "error");
    json_object_set_new(json_object_get(p->doc, "clusters"), role, inv);
    rd_kafka_t *rk = connect_cluster(p, cl, cn, 0);
    char err[512] = "";
    int64_t t0 = kf_now_ms();
    if (rk && inv_cluster(rk, p->timeout_ms, inv, err, sizeof(err)) == 0) {
        json_object_set_new(inv, "reachable", json_true());
        char okmsg[1100], pb[32];
        const char *mech = conndiag_mechanism(cl);
        const char *user = mc_prop(cl, "sasl.username");
        char iam[512];
        mskiam_describe(cl, iam, sizeof(iam));
        if (iam[0])
            snprintf(okmsg, sizeof(okmsg), "connected over %s, %s",
                     conndiag_protocol(cl, pb, sizeof(pb)), iam);
        else
            snprintf(okmsg, sizeof(okmsg), "connected over %s%s%s%s%s%s",
                     conndiag_protocol(cl, pb, sizeof(pb)), mech ? ", SASL " : "", mech ? mech : "",
                     mech && user ? " as '" : "", mech && user ? user : "",
                     mech && user ? "'" : "");
        json_object_set_new(inv, "connection", connection(cl, "ok", okmsg, NULL));
        plan_check(p, "connectivity", "ok", cl->alias, "cluster", cl->alias,
                   "%s (%s): connected, %lld broker(s), %.1fs", cl->alias, mc_bootstrap(cl),
                   (long long)json_integer_value(json_object_get(inv, "broker_count")),
                   (double)(kf_now_ms() - t0) / 1000.0);
        *out = rk;
        plan_api(p, cl, role, inv);
        inv_groups(rk, p->timeout_ms, inv);
        inv_acls(rk, p->timeout_ms, inv);
        return inv;
    }
    if (rk)
        rd_kafka_poll(rk, 100); /* error events, with the reason, reach error_cb here */
    const char *why = cn->last_error[0] ? cn->last_error : err;
    json_object_set_new(inv, "error", json_string(why));
    conn_diag d;
    conndiag_classify(cl, cn->last_code, why, &d);
    if (!strcmp(d.result, "tls_untrusted") && trusted_without_hostname(p, cl))
        conndiag_hostname_mismatch(cl, NULL, &d);
    json_object_set_new(inv, "connection", connection(cl, d.result, d.message, why));
    if (cn->auth_failed || !strncmp(d.result, "sasl_", 5) || !strncmp(d.result, "tls_", 4) ||
        !strncmp(d.result, "iam_", 4) || !strcmp(d.result, "plaintext_to_tls"))
        plan_check(p, "authentication", "blocker", cl->alias, "cluster", cl->alias,
                   "%s cluster %s: %s (librdkafka: %s)", role, cl->alias, d.message, why);
    else
        plan_check(p, "connectivity", "blocker", cl->alias, "cluster", cl->alias,
                   "cannot connect to %s cluster %s at %s within %ds: %s", role, cl->alias,
                   mc_bootstrap(cl), p->timeout_ms / 1000, why);
    if (rk)
        rd_kafka_destroy(rk);
    *out = NULL;
    return NULL;
}

static void check_acls(plan_ctx *p, const mc_cluster *cl, json_t *inv) {
    json_t *a = json_object_get(inv, "acls");
    if (!a)
        return;
    if (!json_is_true(json_object_get(a, "readable"))) {
        plan_check(p, "acls", "warning", cl->alias, "cluster", cl->alias,
                   "ACLs of %s: not readable (%s)", cl->alias,
                   json_string_value(json_object_get(a, "error")));
        return;
    }
    size_t n = json_array_size(json_object_get(a, "bindings"));
    plan_check(p, "acls", n && inv == p->src_inv ? "warning" : "ok", cl->alias, "cluster",
               cl->alias,
               n && inv == p->src_inv
                   ? "%s has %zu ACL binding(s); `kferry acls plan` shows the target ACLs they "
                     "need (`kferry acls apply` creates them; IAM policies on MSK with IAM auth)"
                   : "%s has %zu ACL binding(s)",
               cl->alias, n);
}

static void summarize(plan_ctx *p) {
    size_t ok = 0, warn = 0, block = 0, i;
    json_t *c;
    json_array_foreach(p->checks, i, c) {
        const char *s = json_string_value(json_object_get(c, "status"));
        ok += !strcmp(s, "ok");
        warn += !strcmp(s, "warning");
        block += !strcmp(s, "blocker");
    }
    json_object_set_new(p->doc, "summary",
                        json_pack("{s:I,s:I,s:I,s:b,s:i}", "ok", (json_int_t)ok, "warnings",
                                  (json_int_t)warn, "blockers", (json_int_t)block, "ready",
                                  block == 0, "exit_code", block ? 1 : 0));
}

/* also read by `kferry completion` (commands.h) */
const cli_opt plan_cli_opts[] = {{"--config", "-c", 1},          {"--json", NULL, 0},
                                 {"--timeout", NULL, 1},         {"--rate", NULL, 1},
                                 {"--measure-seconds", NULL, 1}, {NULL, NULL, 0}};

/* "80MB/s", "500kB", "1.5GiB/s", "2000000": bytes per second, > 0 */
static int parse_rate(const char *v, double *out) {
    char *end = NULL;
    double x = strtod(v, &end);
    if (end == v || !(x > 0) || x > 1e15)
        return -1;
    while (*end == ' ')
        end++;
    static const struct {
        const char *unit;
        double mul;
    } units[] = {{"", 1},         {"B", 1},           {"kB", 1e3},
                 {"KB", 1e3},     {"MB", 1e6},        {"GB", 1e9},
                 {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0},
                 {"k", 1e3},      {"M", 1e6},         {"G", 1e9}};
    size_t ul = strcspn(end, "/");
    if (end[ul] && strcmp(end + ul, "/s"))
        return -1;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (strlen(units[i].unit) == ul && !strncmp(units[i].unit, end, ul)) {
            *out = x * units[i].mul;
            return 0;
        }
    return -1;
}

static int parse(int argc, char **argv, const char **config, int *json, int *timeout_s,
                 plan_ctx *p) {
    const cli_opt *opts = plan_cli_opts;
    int i = 2, k;
    const char *v;
    while ((k = cli_next("plan", opts, argc, argv, &i, &v)) != CLI_END) {
        int64_t n;
        if (k == CLI_HELP) {
            fputs(g_plan_usage, stdout);
            return 1;
        }
        if (k == CLI_ERR)
            return -1;
        if (k == 0) {
            *config = v;
        } else if (k == 1) {
            *json = 1;
        } else if (k == 3) {
            if (parse_rate(v, &p->rate_bps)) {
                fprintf(stderr,
                        "kferry plan: --rate %s: expected bytes per second, e.g. 80MB/s, 500kB, "
                        "1GiB/s or 2000000\n",
                        v);
                return -1;
            }
        } else if (k == 4) {
            if (kf_parse_i64(v, 0, 600, &n)) {
                fprintf(stderr, "kferry plan: --measure-seconds %s: expected seconds in [0, 600]\n",
                        v);
                return -1;
            }
            p->measure_s = (int)n;
        } else {
            if (kf_parse_i64(v, 1, 600, &n)) {
                fprintf(stderr, "kferry plan: --timeout %s: expected seconds in [1, 600]\n", v);
                return -1;
            }
            *timeout_s = (int)n;
        }
    }
    if (!*config) {
        fprintf(stderr, "kferry plan: --config FILE is required\n");
        return -1;
    }
    return 0;
}

int plan_main(int argc, char **argv) {
    const char *config = NULL;
    int json = 0, timeout_s = 10;
    plan_ctx opt = {.measure_s = 3};
    int pr = parse(argc, argv, &config, &json, &timeout_s, &opt);
    if (pr)
        return pr > 0 ? 0 : 2;
    kf_log_set_level(KF_LOG_WARNING); /* stdout is the answer */
    mirror_config cfg;
    if (mc_load(&cfg, config) != 0) {
        mc_free(&cfg);
        return 2;
    }
    clients_setup_debug(&cfg);
    plan_ctx p = {.cfg = &cfg,
                  .timeout_ms = timeout_s * 1000,
                  .rate_bps = opt.rate_bps,
                  .measure_s = opt.measure_s};
    p.doc = json_object();
    p.checks = json_array();
    json_object_set_new(p.doc, "kferry_plan", json_integer(1));
    json_object_set_new(
        p.doc, "flow",
        json_pack("{s:s,s:s,s:s,s:s,s:i,s:b,s:s}", "source", cfg.src.alias, "target", cfg.tgt.alias,
                  "replication_policy", cfg.policy == MC_POLICY_IDENTITY ? "identity" : "default",
                  "separator", cfg.separator, "replication_factor", cfg.replication_factor,
                  "sync_topic_configs", cfg.sync_topic_configs, "map_topic", cfg.map_topic));
    json_object_set_new(p.doc, "clusters", json_object());
    plan_conn src_conn = {{0}, 0, 0}, tgt_conn = {{0}, 0, 0};
    p.src_inv = inventory(&p, &cfg.src, "source", &p.src, &src_conn);
    p.tgt_inv = inventory(&p, &cfg.tgt, "target", &p.tgt, &tgt_conn);
    plan_reach(&p);
    const char *sid = json_string_value(json_object_get(p.src_inv, "cluster_id"));
    const char *tid = json_string_value(json_object_get(p.tgt_inv, "cluster_id"));
    if (sid && tid && !strcmp(sid, tid)) /* e.g. both aliases point at one cluster */
        plan_check(&p, "same_cluster", "blocker", cfg.tgt.alias, "cluster", cfg.tgt.alias,
                   "%s and %s are the same cluster (cluster id %s): kferry would mirror the "
                   "cluster into itself",
                   cfg.src.alias, cfg.tgt.alias, sid);
    if (p.src_inv)
        check_acls(&p, &cfg.src, p.src_inv);
    if (p.tgt_inv)
        check_acls(&p, &cfg.tgt, p.tgt_inv);
    plan_topics(&p);
    plan_groups(&p);
    json_object_set_new(p.doc, "checks", p.checks);
    summarize(&p);
    if (p.src_inv)
        inv_drop_index(p.src_inv);
    if (p.tgt_inv)
        inv_drop_index(p.tgt_inv);
    if (json) {
        json_dumpf(p.doc, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
    } else {
        plan_report(p.doc, stdout);
    }
    fflush(stdout);
    int rc =
        (int)json_integer_value(json_object_get(json_object_get(p.doc, "summary"), "exit_code"));
    json_decref(p.doc);
    if (p.src)
        rd_kafka_destroy(p.src);
    if (p.tgt)
        rd_kafka_destroy(p.tgt);
    mc_free(&cfg);
    return rc;
}
