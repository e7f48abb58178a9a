/*
 * main.c - kferry-broker's command line: parse arguments and the config
 * file, open the data directory, serve until SIGTERM/SIGINT.
 *
 * Exit codes: 0 clean stop, 1 runtime failure (port in use, I/O), 2 usage
 * or configuration error.
 */
#include "broker/broker.h"
#include "broker/config.h"
#include "broker/sasl.h"
#include "broker/server.h"
#include "broker/store.h"
#include "common/log.h"
#include "common/util.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef KFERRY_VERSION
#define KFERRY_VERSION "0.1.0"
#endif

static void usage(FILE *f) {
    fprintf(f,
            "Usage: kferry-broker --listen HOST:PORT --data-dir DIR [options]\n"
            "       kferry-broker --override listeners=SSL://HOST:PORT,... --data-dir DIR\n"
            "\n"
            "A single-node Kafka-compatible broker that stores data in Kafka's on-disk\n"
            "format. Real Kafka clients (librdkafka, kafka-python, Java) can use it.\n"
            "\n"
            "Options:\n"
            "  --listen HOST:PORT     a PLAINTEXT listener (port 0 picks a free port), in\n"
            "                         front of any `listeners` of the config\n"
            "  --data-dir DIR         data directory (created if missing; or log.dirs)\n"
            "  --config FILE          Java-properties file with broker settings\n"
            "  --override KEY=VALUE   set one config key (repeatable, wins over --config)\n"
            "  --log-level LEVEL      error, warn, notice, info (default) or debug\n"
            "  --debug LIST           debug logs for components: net,proto,store,group or all\n"
            "  --log-format FORMAT    text (default) or json, one object per line (or the\n"
            "                         key kferry.log.format, or $KFERRY_LOG_FORMAT)\n"
            "  --print-config-reference  print every config key as a Markdown table\n"
            "  --add-scram-user NAME  store a SCRAM credential for NAME in --data-dir and\n"
            "                         exit (the broker must not be running on it); with\n"
            "    --mechanism M        SCRAM-SHA-256 or SCRAM-SHA-512 (default)\n"
            "    --iterations N       4096..16384 (default 8192)\n"
            "    --password-file F    first line of F is the password; '-' or no option\n"
            "                         reads it from stdin (never give it as an argument)\n"
            "  --version              print the version\n"
            "  --help                 this text\n"
            "\n"
            "Once serving, one line per listener goes to stdout:\n"
            "'kferry-broker listening on PROTOCOL://HOST:PORT' (PLAINTEXT, SSL, SASL_PLAINTEXT,\n"
            "SASL_SSL; a listener with a name of its own shows it: 'CLIENT=SSL://...').\n"
            "Logs go to stderr. SIGTERM or SIGINT stop the broker cleanly.\n"
            "See docs/CONFIGURATION.md for every key and docs/STORAGE.md for durability.\n");
}

static void print_reference(void) {
    printf("## Broker keys\n\n");
    kb_config_print_reference(stdout);
    printf(
        "\n## Topic keys\n\nSet with CreateTopics or AlterConfigs; unset keys inherit the broker "
        "key shown (or Kafka's default).\n\n| key | inherits |\n|---|---|\n");
    size_t n;
    const kb_topic_config_desc *d = kb_topic_config_descs(&n);
    for (size_t i = 0; i < n; i++)
        printf("| `%s` | %s%s%s |\n", d[i].name, d[i].broker_key ? "`" : "",
               d[i].broker_key ? d[i].broker_key : "-", d[i].broker_key ? "`" : "");
}

/* --add-scram-user: the password comes from a file or stdin, never argv
 * (/proc/PID/cmdline is world-readable). */
static int add_scram_user(const char *data_dir, const char *user, const char *mech_name,
                          const char *iter_s, const char *pwfile) {
    if (!data_dir) {
        fprintf(stderr, "kferry-broker: --add-scram-user needs --data-dir DIR\n");
        return 2;
    }
    int mech = kb_scram_mech_from_name(mech_name);
    if (!mech) {
        fprintf(stderr, "kferry-broker: --mechanism must be SCRAM-SHA-256 or SCRAM-SHA-512\n");
        return 2;
    }
    int64_t iter;
    if (kf_parse_i64(iter_s, KB_SCRAM_MIN_ITER, KB_SCRAM_MAX_ITER, &iter) != 0) {
        fprintf(stderr, "kferry-broker: --iterations must be an integer in %d..%d\n",
                KB_SCRAM_MIN_ITER, KB_SCRAM_MAX_ITER);
        return 2;
    }
    FILE *f = stdin;
    if (pwfile && strcmp(pwfile, "-") != 0) {
        f = fopen(pwfile, "r");
        if (!f) {
            fprintf(stderr, "kferry-broker: cannot open --password-file %s\n", pwfile);
            return 2;
        }
    }
    char pw[KB_SASL_MAX_PASSWORD + 2];
    size_t n = 0;
    if (fgets(pw, sizeof(pw), f)) {
        n = strlen(pw);
        while (n && (pw[n - 1] == '\n' || pw[n - 1] == '\r'))
            pw[--n] = '\0';
    }
    if (f != stdin)
        fclose(f);
    if (n == 0 || n > KB_SASL_MAX_PASSWORD) {
        fprintf(stderr, "kferry-broker: the password must be one line of 1..%d bytes\n",
                KB_SASL_MAX_PASSWORD);
        return 2;
    }
    char err[512];
    int rc = kb_sasl_add_user(data_dir, user, mech, (int32_t)iter, pw, n, err, sizeof(err));
    memset(pw, 0, sizeof(pw));
    if (rc != 0) {
        fprintf(stderr, "kferry-broker: %s\n", err);
        return 1;
    }
    printf("stored %s credential for user %s in %s\n", mech_name, user, data_dir);
    return 0;
}

/* A start-up failure once the log format is known: the plain
 * "kferry-broker: ..." line in the text format, an error object in json. */
__attribute__((format(printf, 1, 2))) static void fail(const char *fmt, ...) {
    char msg[8300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (kf_log_get_format() == KF_LOG_FORMAT_JSON)
        kf_err("broker", "%s", msg);
    else
        fprintf(stderr, "kferry-broker: %s\n", msg);
}

static int parse_level(const char *s) {
    if (strcmp(s, "error") == 0)
        return KF_LOG_ERR;
    if (strcmp(s, "warn") == 0 || strcmp(s, "warning") == 0)
        return KF_LOG_WARNING;
    if (strcmp(s, "notice") == 0)
        return KF_LOG_NOTICE;
    if (strcmp(s, "info") == 0)
        return KF_LOG_INFO;
    if (strcmp(s, "debug") == 0)
        return KF_LOG_DEBUG;
    return -1;
}

int main(int argc, char **argv) {
    kf_log_set_prefix("kferry-broker");
    static const struct option opts[] = {{"listen", required_argument, 0, 'l'},
                                         {"data-dir", required_argument, 0, 'd'},
                                         {"config", required_argument, 0, 'c'},
                                         {"override", required_argument, 0, 'o'},
                                         {"log-level", required_argument, 0, 'L'},
                                         {"debug", required_argument, 0, 'D'},
                                         {"log-format", required_argument, 0, 'F'},
                                         {"print-config-reference", no_argument, 0, 'R'},
                                         {"add-scram-user", required_argument, 0, 'U'},
                                         {"mechanism", required_argument, 0, 'M'},
                                         {"iterations", required_argument, 0, 'I'},
                                         {"password-file", required_argument, 0, 'P'},
                                         {"version", no_argument, 0, 'V'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *listen = NULL, *data_dir = NULL, *config = NULL, *debug = NULL;
    const char *scram_user = NULL, *scram_mech = "SCRAM-SHA-512", *pwfile = NULL;
    const char *scram_iter = "8192", *log_format = NULL;
    int level = KF_LOG_INFO;
    kf_props overrides;
    kf_props_init(&overrides);
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'l': listen = optarg; break;
        case 'd': data_dir = optarg; break;
        case 'c': config = optarg; break;
        case 'o': {
            const char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) {
                fprintf(stderr, "kferry-broker: --override expects KEY=VALUE, got '%s'\n", optarg);
                return 2;
            }
            char *key = kf_strndup(optarg, (size_t)(eq - optarg));
            if (!key || kf_props_set(&overrides, key, eq + 1) != 0) {
                fprintf(stderr, "kferry-broker: out of memory\n");
                return 1;
            }
            free(key);
            break;
        }
        case 'L':
            level = parse_level(optarg);
            if (level < 0) {
                fprintf(stderr, "kferry-broker: unknown log level '%s'\n", optarg);
                return 2;
            }
            break;
        case 'D': debug = optarg; break;
        case 'F': log_format = optarg; break;
        case 'U': scram_user = optarg; break;
        case 'M': scram_mech = optarg; break;
        case 'I': scram_iter = optarg; break;
        case 'P': pwfile = optarg; break;
        case 'R': print_reference(); return 0;
        case 'V': printf("kferry-broker %s\n", KFERRY_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "kferry-broker: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    /* the config's kferry.log.format may still change it, below */
    if (kf_log_format_setup("kferry-broker", log_format) != 0)
        return 2;
    kf_log_set_level(level);
    if (debug)
        kf_log_set_debug(debug);
    if (scram_user)
        return add_scram_user(data_dir, scram_user, scram_mech, scram_iter, pwfile);

    static kb_broker b;
    kb_config_defaults(&b.cfg);
    if (listen && kf_strlcpy(b.cfg.cli_listen, listen, sizeof(b.cfg.cli_listen)) != 0) {
        fail("--listen value too long");
        return 2;
    }
    char err[8192];
    if (config && kf_props_load(&b.cfg.raw, config, err, sizeof(err)) != 0) {
        fail("cannot read config: %s", err);
        return 2;
    }
    for (size_t i = 0; i < overrides.count; i++)
        kf_props_set(&b.cfg.raw, overrides.items[i].key, overrides.items[i].value);
    kf_props_free(&overrides);
    if (kb_config_apply(&b.cfg, &b.cfg.raw, err, sizeof(err)) != 0) {
        fail("invalid configuration:\n%s", err);
        return 2;
    }
    if (!log_format && b.cfg.log_format)
        kf_log_set_format(b.cfg.log_format - 1);
    for (size_t i = 0; i < b.cfg.raw.count; i++)
        if (kb_config_is_ignored(b.cfg.raw.items[i].key))
            kf_notice("config", "'%s' has no effect on a single-node broker; ignored",
                      b.cfg.raw.items[i].key);
    if (b.cfg.listeners.n == 0) {
        fail("no listener: give --listen HOST:PORT or listeners=PLAINTEXT://HOST:PORT,... "
             "(see --help)");
        return 2;
    }
    if (kb_listeners_open(&b.cfg.listeners, &b.cfg.raw, err, sizeof(err)) != 0) {
        fail("invalid TLS configuration:\n%s", err);
        kb_listeners_free(&b.cfg.listeners);
        return 2;
    }
    if (data_dir && kf_strlcpy(b.cfg.data_dir, data_dir, sizeof(b.cfg.data_dir)) != 0) {
        fail("--data-dir path too long");
        return 2;
    }
    if (!b.cfg.data_dir[0]) {
        fail("--data-dir DIR (or log.dirs) is required (see --help)");
        return 2;
    }

    /* Bind first: a port in use is the most common start-up failure and
     * should not cost a recovery scan. */
    if (kb_server_start(&b, err, sizeof(err)) != 0) {
        fail("%s", err);
        kb_server_stop(&b);
        return 1;
    }
    if (kb_broker_open(&b, err, sizeof(err)) != 0) {
        fail("cannot open data directory: %s", err);
        kb_server_stop(&b);
        return 1;
    }
    kf_info("broker", "node %d serving cluster %s from %s (advertised %s:%d)", b.cfg.node_id,
            b.cfg.cluster_id, b.cfg.data_dir, b.cfg.advertised_host, b.cfg.advertised_port);
    for (size_t i = 0; i < b.cfg.listeners.n; i++) {
        const kb_listener *l = &b.cfg.listeners.l[i];
        const char *proto = kb_proto_name(l->proto);
        if (strcmp(l->name, proto) == 0)
            printf("kferry-broker listening on %s://%s:%d\n", proto,
                   l->host[0] ? l->host : "0.0.0.0", l->port);
        else
            printf("kferry-broker listening on %s=%s://%s:%d\n", l->name, proto,
                   l->host[0] ? l->host : "0.0.0.0", l->port);
    }
    fflush(stdout);
    int rc = kb_server_run(&b);
    kb_server_stop(&b);
    kb_broker_close(&b);
    kb_listeners_free(&b.cfg.listeners);
    kb_config_free(&b.cfg);
    kf_info("broker", "stopped");
    return rc == 0 ? 0 : 1;
}
