/*
 * demo.c - `kferry demo`: a whole migration rehearsed on two local
 * kferry-broker processes ("onprem" and "cloud") in a temporary directory.
 *
 * It drives the real commands (plan, mirror, cutover, verify) as child
 * processes of this same binary, exactly as an operator would run them,
 * while a sample application (demo_app.c) keeps producing and consuming
 * across the switch.  Every child runs in its own process group so Ctrl-C
 * reaches only the demo, which then stops them in order and removes the
 * directory.
 *
 * With --secure the same migration runs between secured clusters: onprem
 * accepts only SASL_SSL with SCRAM-SHA-512 (users created with
 * kferry-broker --add-scram-user), cloud only mutual TLS; a throw-away CA
 * (demo_pki.c) signs every certificate, and the passwords are random and
 * sit only in 0600 files of the demo's directory.
 */
#include "migrate/demo.h"

#include "migrate/cli.h"
#include "migrate/commands.h"

#include "common/buf.h"
#include "common/util.h"
#include "migrate/demo_app.h"
#include "migrate/demo_pki.h"
#include "mirror/topics.h"

#include <librdkafka/rdkafka.h>
#include <openssl/rand.h>

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEMO_TOPIC "orders"
#define DEMO_GROUP "billing"
#define MAX_RECORDS 2000000

static volatile sig_atomic_t g_stop;

static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

typedef struct child {
    pid_t pid;
    char name[32];
} child;

typedef struct demo {
    char dir[PATH_MAX];
    char self[PATH_MAX];
    char broker_bin[PATH_MAX];
    char config[PATH_MAX + 32];
    char addr[2][64];
    child brokers[2];
    child mirror;
    int keep;
    int rate;
    int secure;
    char pki[PATH_MAX + 8];       /* --secure: dir with ca.pem and the certificates */
    char keystore[PATH_MAX + 40]; /* the brokers' PEM keystore (key + chain) */
    char pw_mirror[33];           /* SCRAM password of kferry on onprem */
    char pw_app[33];              /* SCRAM password of the application on onprem */
    const char *src_props[16];    /* the application's client settings per cluster */
    const char *tgt_props[16];
    char prop_buf[8][PATH_MAX + 64];
} demo;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !g_stop)
        ;
}

/* Forks argv with stdout to out_fd (-1 = inherit) and stderr to err_path
 * (NULL = inherit), in a new process group. Returns the pid or -1. */
static pid_t spawn(char *const argv[], int out_fd, const char *err_path) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        setpgid(0, 0);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        if (out_fd >= 0)
            dup2(out_fd, STDOUT_FILENO);
        if (err_path) {
            int fd = open(err_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            if (fd >= 0)
                dup2(fd, STDERR_FILENO);
        }
        execv(argv[0], argv);
        fprintf(stderr, "kferry demo: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    return pid;
}

/* Waits for pid; on g_stop sends SIGTERM once. Returns its exit status
 * (128+signal when killed). */
static int wait_child(pid_t pid) {
    int status, termed = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0)
            return -1;
        if (g_stop && !termed) {
            kill(pid, SIGTERM);
            termed = 1;
        }
        sleep_ms(50);
    }
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static int stop_child(child *c, int timeout_ms) {
    if (c->pid <= 0)
        return 0;
    kill(c->pid, SIGTERM);
    int64_t deadline = kf_now_ms() + timeout_ms;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(c->pid, &status, WNOHANG);
        if (r == c->pid || r < 0)
            break;
        if (kf_now_ms() > deadline) {
            fprintf(stderr, "kferry demo: %s did not stop within %d ms; killing it\n", c->name,
                    timeout_ms);
            kill(c->pid, SIGKILL);
            waitpid(c->pid, &status, 0);
            break;
        }
        sleep_ms(50);
    }
    c->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static int start_broker(demo *d, int i, const char *name) {
    char data[PATH_MAX + 16], errlog[PATH_MAX + 32];
    snprintf(data, sizeof(data), "%s/%s", d->dir, name);
    snprintf(errlog, sizeof(errlog), "%s/%s.log", d->dir, name);
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0)
        return -1;
    char ov[8][PATH_MAX + 64];
    char *argv[24];
    int a = 0;
    argv[a++] = d->broker_bin;
    argv[a++] = "--data-dir";
    argv[a++] = data;
    argv[a++] = "--override";
    argv[a++] = "group.initial.rebalance.delay.ms=0";
    argv[a++] = "--override";
    argv[a++] = "num.partitions=3";
    if (!d->secure) {
        argv[a++] = "--listen";
        argv[a++] = "127.0.0.1:0";
    } else {
        int o = 0;
        snprintf(ov[o++], sizeof(ov[0]), "ssl.keystore.location=%s", d->keystore);
        /* ACLs on both: only kferry's own principal is a super user */
        snprintf(ov[o++], sizeof(ov[0]),
                 "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer");
        snprintf(ov[o++], sizeof(ov[0]), "super.users=User:kferry-mirror");
        if (i == 0) {
            snprintf(ov[o++], sizeof(ov[0]), "listeners=SASL_SSL://127.0.0.1:0");
            snprintf(ov[o++], sizeof(ov[0]), "sasl.enabled.mechanisms=SCRAM-SHA-512");
        } else {
            snprintf(ov[o++], sizeof(ov[0]), "listeners=SSL://127.0.0.1:0");
            snprintf(ov[o++], sizeof(ov[0]), "ssl.client.auth=required");
            snprintf(ov[o++], sizeof(ov[0]), "ssl.truststore.location=%s/ca.pem", d->pki);
            /* certificate subjects to short principals: CN=billing-app,... ->
             * User:billing-app, the name the source knows */
            snprintf(ov[o++], sizeof(ov[0]),
                     "ssl.principal.mapping.rules=RULE:^CN=([^,]+),O=kferry demo$/$1/");
        }
        for (int k = 0; k < o; k++) {
            argv[a++] = "--override";
            argv[a++] = ov[k];
        }
    }
    argv[a] = NULL;
    pid_t pid = spawn(argv, pfd[1], errlog);
    close(pfd[1]);
    if (pid < 0) {
        close(pfd[0]);
        return -1;
    }
    d->brokers[i].pid = pid;
    snprintf(d->brokers[i].name, sizeof(d->brokers[i].name), "%s broker", name);
    char line[256];
    size_t n = 0;
    int64_t deadline = kf_now_ms() + 20000;
    while (n < sizeof(line) - 1 && !memchr(line, '\n', n) && !g_stop) {
        struct pollfd p = {.fd = pfd[0], .events = POLLIN};
        int left = (int)(deadline - kf_now_ms());
        if (left <= 0 || poll(&p, 1, left) <= 0)
            break;
        ssize_t r = read(pfd[0], line + n, sizeof(line) - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(pfd[0]);
    line[n] = '\0';
    const char *at = strstr(line, "listening on ");
    char *nl = strchr(line, '\n');
    if (!at || !nl) {
        fprintf(stderr, "kferry demo: the %s cluster did not start; its log (%s) says:\n", name,
                errlog);
        kf_buf b;
        if (kf_read_file(errlog, &b, 1 << 16) == 0) {
            fwrite(b.data, 1, b.len, stderr);
            kf_buf_free(&b);
        }
        return -1;
    }
    *nl = '\0';
    at += strlen("listening on ");
    const char *scheme = strstr(at, "://"); /* PLAINTEXT://HOST:PORT */
    kf_strlcpy(d->addr[i], scheme ? scheme + 3 : at, sizeof(d->addr[i]));
    return 0;
}

/* The clusters' security settings in mm2.properties, as an MM2 user writes
 * them (JAAS for SCRAM). */
static int security_lines(const demo *d, char *out, size_t cap) {
    if (!d->secure) {
        out[0] = '\0';
        return 0;
    }
    int n = snprintf(
        out, cap,
        "# onprem: SASL_SSL with SCRAM-SHA-512; cloud: mutual TLS (client certificates).\n"
        "onprem.security.protocol = SASL_SSL\n"
        "onprem.sasl.mechanism = SCRAM-SHA-512\n"
        "onprem.sasl.jaas.config = org.apache.kafka.common.security.scram.ScramLoginModule "
        "required username=\"kferry-mirror\" password=\"%s\";\n"
        "onprem.ssl.ca.location = %s/ca.pem\n"
        "cloud.security.protocol = SSL\n"
        "cloud.ssl.ca.location = %s/ca.pem\n"
        "cloud.ssl.certificate.location = %s/kferry-mirror.pem\n"
        "cloud.ssl.key.location = %s/kferry-mirror.key\n"
        "# The application's ACLs follow it: consumer rights before the group moves,\n"
        "# write rights with the producers (kferry acls; docs/SECURITY.md).\n"
        "sync.topic.acls.enabled = true\n",
        d->pw_mirror, d->pki, d->pki, d->pki, d->pki);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int random_password(char *out, size_t cap) {
    unsigned char raw[16];
    if (cap < 2 * sizeof(raw) + 1 || RAND_bytes(raw, sizeof(raw)) != 1)
        return -1;
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

/* Stores a SCRAM-SHA-512 credential in the onprem broker's data dir before
 * it starts (kferry-broker --add-scram-user, password from a 0600 file). */
static int add_scram_user(demo *d, const char *user, const char *pw) {
    char data[PATH_MAX + 16], pwfile[PATH_MAX + 64], errlog[PATH_MAX + 32];
    snprintf(data, sizeof(data), "%s/onprem", d->dir);
    snprintf(pwfile, sizeof(pwfile), "%s/secrets/%s.password", d->dir, user);
    snprintf(errlog, sizeof(errlog), "%s/onprem.log", d->dir);
    char line[64];
    int n = snprintf(line, sizeof(line), "%s\n", pw);
    if (kf_write_file_atomic_mode(pwfile, line, (size_t)n, 0600) != 0)
        return -1;
    char *argv[] = {d->broker_bin,
                    "--data-dir",
                    data,
                    "--add-scram-user",
                    (char *)user,
                    "--mechanism",
                    "SCRAM-SHA-512",
                    "--password-file",
                    pwfile,
                    NULL};
    pid_t pid = spawn(argv, -1, errlog);
    return pid < 0 || wait_child(pid) != 0 ? -1 : 0;
}

/* --secure: the CA and certificates, the brokers' keystore, the SCRAM
 * users, and the application's client settings for each cluster. */
static int setup_secure(demo *d) {
    char err[256], path[PATH_MAX + 32];
    snprintf(d->pki, sizeof(d->pki), "%s/pki", d->dir);
    snprintf(path, sizeof(path), "%s/secrets", d->dir);
    if (kf_mkdirs(d->pki, 0700) != 0 || kf_mkdirs(path, 0700) != 0)
        return -1;
    demo_pki *p = demo_pki_new(d->pki, err, sizeof(err));
    if (!p || demo_pki_issue(p, "broker", "kferry-demo-broker", err, sizeof(err)) != 0 ||
        demo_pki_issue(p, "kferry-mirror", "kferry-mirror", err, sizeof(err)) != 0 ||
        demo_pki_issue(p, "billing-app", "billing-app", err, sizeof(err)) != 0) {
        fprintf(stderr, "kferry demo: cannot make the demo's certificates: %s\n", err);
        demo_pki_free(p);
        return -1;
    }
    demo_pki_free(p);
    kf_buf key, cert;
    snprintf(path, sizeof(path), "%s/broker.key", d->pki);
    if (kf_read_file(path, &key, 1 << 20) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/broker.pem", d->pki);
    if (kf_read_file(path, &cert, 1 << 20) != 0) {
        kf_buf_free(&key);
        return -1;
    }
    kf_buf ks;
    kf_buf_init(&ks, 0);
    kf_buf_append(&ks, key.data, key.len);
    kf_buf_append(&ks, cert.data, cert.len);
    snprintf(d->keystore, sizeof(d->keystore), "%s/broker-keystore.pem", d->pki);
    int rc = kf_write_file_atomic_mode(d->keystore, ks.data, ks.len, 0600);
    kf_buf_free(&key);
    kf_buf_free(&cert);
    kf_buf_free(&ks);
    if (rc != 0 || random_password(d->pw_mirror, sizeof(d->pw_mirror)) != 0 ||
        random_password(d->pw_app, sizeof(d->pw_app)) != 0 ||
        add_scram_user(d, "kferry-mirror", d->pw_mirror) != 0 ||
        add_scram_user(d, "billing-app", d->pw_app) != 0) {
        fprintf(stderr, "kferry demo: cannot set up the SCRAM users (see %s/onprem.log)\n", d->dir);
        return -1;
    }
    int s = 0, t = 0, b = 0;
    d->src_props[s++] = "security.protocol";
    d->src_props[s++] = "SASL_SSL";
    d->src_props[s++] = "sasl.mechanism";
    d->src_props[s++] = "SCRAM-SHA-512";
    d->src_props[s++] = "sasl.username";
    d->src_props[s++] = "billing-app";
    d->src_props[s++] = "sasl.password";
    d->src_props[s++] = d->pw_app;
    snprintf(d->prop_buf[b], sizeof(d->prop_buf[0]), "%s/ca.pem", d->pki);
    d->src_props[s++] = "ssl.ca.location";
    d->src_props[s++] = d->prop_buf[b];
    d->tgt_props[t++] = "security.protocol";
    d->tgt_props[t++] = "SSL";
    d->tgt_props[t++] = "ssl.ca.location";
    d->tgt_props[t++] = d->prop_buf[b++];
    snprintf(d->prop_buf[b], sizeof(d->prop_buf[0]), "%s/billing-app.pem", d->pki);
    d->tgt_props[t++] = "ssl.certificate.location";
    d->tgt_props[t++] = d->prop_buf[b++];
    snprintf(d->prop_buf[b], sizeof(d->prop_buf[0]), "%s/billing-app.key", d->pki);
    d->tgt_props[t++] = "ssl.key.location";
    d->tgt_props[t++] = d->prop_buf[b++];
    d->src_props[s] = d->tgt_props[t] = NULL;
    return 0;
}

/* --secure: as the onprem cluster's administrator (kferry-mirror, its super
 * user), the topic and the application's ACLs: billing-app may read and
 * write 'orders' and read as group 'billing', nothing else. */
static int secure_source_setup(demo *d) {
    char eb[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *kv[] = {"bootstrap.servers",
                        d->addr[0],
                        "security.protocol",
                        "SASL_SSL",
                        "sasl.mechanism",
                        "SCRAM-SHA-512",
                        "sasl.username",
                        "kferry-mirror",
                        "sasl.password",
                        d->pw_mirror,
                        "ssl.ca.location",
                        d->prop_buf[0],
                        "log_level",
                        "3",
                        NULL};
    for (int i = 0; kv[i]; i += 2)
        if (rd_kafka_conf_set(conf, kv[i], kv[i + 1], eb, sizeof(eb)) != RD_KAFKA_CONF_OK) {
            fprintf(stderr, "kferry demo: %s\n", eb);
            rd_kafka_conf_destroy(conf);
            return -1;
        }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, eb, sizeof(eb));
    if (!rk) {
        fprintf(stderr, "kferry demo: %s\n", eb);
        return -1;
    }
    int rc = -1;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(DEMO_TOPIC, 3, 1, eb, sizeof(eb));
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = topics_admin_wait(q, RD_KAFKA_EVENT_CREATETOPICS_RESULT, 30000);
    rd_kafka_NewTopic_destroy(nt);
    if (!ev || rd_kafka_event_error(ev)) {
        fprintf(stderr, "kferry demo: cannot create topic '" DEMO_TOPIC "' on onprem: %s\n",
                ev ? rd_kafka_event_error_string(ev) : "no answer");
        goto out;
    }
    rd_kafka_event_destroy(ev);
    rd_kafka_AclBinding_t *b[3];
    b[0] = rd_kafka_AclBinding_new(
        RD_KAFKA_RESOURCE_TOPIC, DEMO_TOPIC, RD_KAFKA_RESOURCE_PATTERN_LITERAL, "User:billing-app",
        "*", RD_KAFKA_ACL_OPERATION_READ, RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, eb, sizeof(eb));
    b[1] = rd_kafka_AclBinding_new(
        RD_KAFKA_RESOURCE_TOPIC, DEMO_TOPIC, RD_KAFKA_RESOURCE_PATTERN_LITERAL, "User:billing-app",
        "*", RD_KAFKA_ACL_OPERATION_WRITE, RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, eb, sizeof(eb));
    b[2] = rd_kafka_AclBinding_new(
        RD_KAFKA_RESOURCE_GROUP, DEMO_GROUP, RD_KAFKA_RESOURCE_PATTERN_LITERAL, "User:billing-app",
        "*", RD_KAFKA_ACL_OPERATION_READ, RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, eb, sizeof(eb));
    rd_kafka_CreateAcls(rk, b, 3, NULL, q);
    ev = topics_admin_wait(q, RD_KAFKA_EVENT_CREATEACLS_RESULT, 30000);
    for (int i = 0; i < 3; i++)
        rd_kafka_AclBinding_destroy(b[i]);
    if (!ev || rd_kafka_event_error(ev)) {
        fprintf(stderr, "kferry demo: cannot create the application's ACLs on onprem: %s\n",
                ev ? rd_kafka_event_error_string(ev) : "no answer");
        goto out;
    }
    rc = 0;
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

static int write_config(demo *d) {
    snprintf(d->config, sizeof(d->config), "%s/mm2.properties", d->dir);
    char sec[4096];
    if (security_lines(d, sec, sizeof(sec)) != 0)
        return -1;
    char text[8192];
    int n = snprintf(text, sizeof(text),
                     "# Written by kferry demo: MirrorMaker 2's format, as a user would bring it.\n"
                     "clusters = onprem, cloud\n"
                     "onprem.bootstrap.servers = %s\n"
                     "cloud.bootstrap.servers = %s\n"
                     "onprem->cloud.enabled = true\n"
                     "# Keep topic names, so applications move without renaming anything.\n"
                     "replication.policy.class = "
                     "org.apache.kafka.connect.mirror.IdentityReplicationPolicy\n"
                     "topics = " DEMO_TOPIC "\n"
                     "groups = " DEMO_GROUP "\n"
                     "replication.factor = 1\n"
                     "refresh.topics.interval.seconds = 2\n"
                     "kferry.status.interval.seconds = 5\n"
                     "%s",
                     d->addr[0], d->addr[1], sec);
    if (n < 0 || (size_t)n >= sizeof(text))
        return -1;
    return kf_write_file_atomic_mode(d->config, text, (size_t)n, 0600);
}

/* Runs `kferry <args...> --config FILE` in the foreground; returns its
 * exit status. */
static int run_kferry(demo *d, const char *a1, const char *a2, const char *a3, const char *a4) {
    char *argv[10];
    int n = 0;
    argv[n++] = d->self;
    const char *extra[] = {a1, a2, a3, a4};
    for (int i = 0; i < 4 && extra[i]; i++)
        argv[n++] = (char *)extra[i];
    argv[n++] = "--config";
    argv[n++] = d->config;
    argv[n] = NULL;
    pid_t pid = spawn(argv, -1, NULL);
    return pid < 0 ? -1 : wait_child(pid);
}

/* Total mirror lag from `kferry status --json`, or -1 if unknown. */
static int64_t mirror_lag(demo *d) {
    char out[PATH_MAX + 32];
    snprintf(out, sizeof(out), "%s/status.json", d->dir);
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    char errlog[PATH_MAX + 32];
    snprintf(errlog, sizeof(errlog), "%s/status.log", d->dir);
    char *argv[] = {d->self, "status", "--json", "--config", d->config, NULL};
    pid_t pid = spawn(argv, fd, errlog);
    close(fd);
    if (pid < 0 || wait_child(pid) != 0)
        return -1;
    json_error_t jerr;
    json_t *root = json_load_file(out, 0, &jerr);
    if (!root)
        return -1;
    json_t *lag = json_object_get(root, "total_lag_records");
    json_t *parts = json_object_get(root, "partitions");
    int64_t v = json_is_integer(lag) && json_array_size(parts) > 0 ? json_integer_value(lag) : -1;
    json_decref(root);
    return v;
}

/* Waits until the mirror's lag is at most max_lag. 0, or -1 on timeout. */
static int wait_mirror(demo *d, int64_t max_lag, int timeout_s) {
    int64_t deadline = kf_now_ms() + (int64_t)timeout_s * 1000;
    int64_t last_said = 0;
    while (!g_stop) {
        int64_t lag = mirror_lag(d);
        if (lag >= 0 && lag <= max_lag) {
            say("      mirror lag: %lld records", (long long)lag);
            return 0;
        }
        if (kf_now_ms() - last_said > 3000) {
            if (lag >= 0)
                say("      mirror lag: %lld records, waiting...", (long long)lag);
            else
                say("      waiting for the mirror to report...");
            last_said = kf_now_ms();
        }
        if (kf_now_ms() > deadline)
            return -1;
        sleep_ms(500);
    }
    return -1;
}

static void cleanup(demo *d) {
    stop_child(&d->mirror, 20000);
    for (int i = 1; i >= 0; i--)
        stop_child(&d->brokers[i], 20000);
    if (d->dir[0] && !d->keep)
        kf_rmtree(d->dir);
    else if (d->dir[0])
        say("kept %s (brokers' data, logs and mm2.properties)", d->dir);
}

static int find_binaries(demo *d) {
    ssize_t n = readlink("/proc/self/exe", d->self, sizeof(d->self) - 1);
    if (n <= 0)
        return -1;
    d->self[n] = '\0';
    const char *env = getenv("KFERRY_BROKER");
    if (env) {
        kf_strlcpy(d->broker_bin, env, sizeof(d->broker_bin));
    } else {
        char tmp[PATH_MAX];
        kf_strlcpy(tmp, d->self, sizeof(tmp));
        snprintf(d->broker_bin, sizeof(d->broker_bin), "%s/kferry-broker", dirname(tmp));
    }
    if (access(d->broker_bin, X_OK) != 0) {
        fprintf(stderr,
                "kferry demo: kferry-broker not found at %s (build it, or set KFERRY_BROKER)\n",
                d->broker_bin);
        return -1;
    }
    return 0;
}

static const char *usage =
    "usage: kferry demo [--rate N] [--keep] [--secure]\n"
    "\n"
    "Rehearses a whole migration on this machine: starts two kferry-broker\n"
    "clusters ('onprem' and 'cloud') in a temporary directory, runs a sample\n"
    "application (a producer and the consumer group 'billing' on topic 'orders'),\n"
    "then plan -> mirror -> cutover of consumers -> cutover of producers -> verify,\n"
    "and proves from the application's side that nothing was lost or duplicated.\n"
    "\n"
    "  --rate N   records per second the application produces (default 500)\n"
    "  --keep     keep the temporary directory (data, logs, mm2.properties)\n"
    "  --secure   secured clusters: onprem on SASL_SSL/SCRAM-SHA-512, cloud on\n"
    "             mutual TLS, certificates from a throw-away CA\n"
    "\n"
    "Example: kferry demo --rate 200 --keep\n"
    "\n"
    "Exit status: 0 when the migration verified clean, 1 otherwise, 2 usage error.\n";

static int run(demo *d, demo_app *app) {
    say("[1/7] starting two clusters (data in %s)", d->dir);
    if (d->secure) {
        if (setup_secure(d) != 0)
            return 1;
        say("      a throw-away CA signed the brokers' and clients' certificates (%s)", d->pki);
        say("      SCRAM-SHA-512 users on onprem: kferry-mirror, billing-app (random "
            "passwords in %s/secrets, mode 0600)",
            d->dir);
    }
    if (start_broker(d, 0, "onprem") != 0 || start_broker(d, 1, "cloud") != 0)
        return 1;
    say("      onprem: kferry-broker at %s%s", d->addr[0],
        d->secure ? " (SASL_SSL, SCRAM-SHA-512 only)" : "");
    say("      cloud:  kferry-broker at %s%s", d->addr[1],
        d->secure ? " (SSL with client certificates required)" : "");
    if (d->secure) {
        if (secure_source_setup(d) != 0)
            return 1;
        say("      both enforce ACLs; on onprem billing-app may read and write '" DEMO_TOPIC
            "' and read as group '" DEMO_GROUP "'; cloud has no ACL for it yet");
    }
    if (write_config(d) != 0) {
        fprintf(stderr, "kferry demo: cannot write %s\n", d->config);
        return 1;
    }

    say("\n[2/7] the application runs on onprem: a producer writes '" DEMO_TOPIC
        "' (%d records/s), consumer group '" DEMO_GROUP "' reads it",
        d->rate);
    if (demo_app_producer_start(app, d->addr[0], d->secure ? d->src_props : NULL, d->rate) != 0 ||
        demo_app_consumer_start(app, d->addr[0], d->secure ? d->src_props : NULL) != 0)
        return 1;
    sleep_ms(3000);

    say("\n[3/7] kferry plan --config %s", d->config);
    int rc = run_kferry(d, "plan", NULL, NULL, NULL);
    if (rc != 0) {
        say("      plan found blockers (exit %d): stopping", rc);
        return 1;
    }
    if (d->secure) {
        say("\n      kferry acls plan --config %s", d->config);
        if (run_kferry(d, "acls", "plan", NULL, NULL) != 0)
            return 1;
    }

    say("\n[4/7] kferry mirror --config %s (in the background; log: %s/mirror.log)", d->config,
        d->dir);
    char mlog[PATH_MAX + 32];
    snprintf(mlog, sizeof(mlog), "%s/mirror.log", d->dir);
    char *margv[] = {d->self, "mirror", "--config", d->config, NULL};
    d->mirror.pid = spawn(margv, -1, mlog);
    snprintf(d->mirror.name, sizeof(d->mirror.name), "kferry mirror");
    if (d->mirror.pid < 0 || wait_mirror(d, d->rate, 120) != 0) {
        say("      the mirror did not catch up; see %s", mlog);
        return 1;
    }

    say("\n[5/7] cutover of consumers: stop group '" DEMO_GROUP "' on onprem, translate its "
        "offsets, start it on cloud");
    demo_app_consumer_stop(app);
    rc = run_kferry(d, "cutover", "--group", DEMO_GROUP, NULL);
    if (rc != 0) {
        say("      cutover failed (exit %d)", rc);
        return 1;
    }
    if (demo_app_consumer_start(app, d->addr[1], d->secure ? d->tgt_props : NULL) != 0)
        return 1;
    say("      consumers now read from cloud");

    say("\n[6/7] cutover of producers: stop the producer on onprem, let the mirror drain, "
        "stop the mirror, produce to cloud");
    demo_app_producer_stop(app);
    rc = run_kferry(d, "cutover", "producers", "--quiet-seconds", "2");
    if (rc != 0) {
        say("      the producer gate did not open (exit %d); see %s", rc, mlog);
        return 1;
    }
    rc = stop_child(&d->mirror, 30000);
    if (rc != 0) {
        say("      kferry mirror exited with %d; see %s", rc, mlog);
        return 1;
    }
    if (demo_app_producer_start(app, d->addr[1], d->secure ? d->tgt_props : NULL, d->rate) != 0)
        return 1;
    say("      producers now write to cloud");
    sleep_ms(3000);
    demo_app_producer_stop(app);
    if (demo_app_wait_consumed(app, 60000) != 0)
        say("      the consumer did not read everything within 60 s");
    demo_app_consumer_stop(app);

    say("\n[7/7] kferry verify --config %s", d->config);
    int vrc = run_kferry(d, "verify", NULL, NULL, NULL);

    demo_app_stats st;
    demo_app_stats_get(app, &st);
    say("\napplication check (its own ledger, across both clusters):");
    say("  produced and acknowledged: %lld (failed: %lld)", (long long)st.produced_acked,
        (long long)st.produce_failed);
    say("  consumed:                  %lld", (long long)st.consumed);
    say("  missing:                   %lld%s", (long long)st.missing,
        st.missing ? " (LOST RECORDS)" : "");
    say("  consumed twice:            %lld%s", (long long)st.duplicated,
        st.duplicated ? " (DUPLICATES)" : "");
    int ok = vrc == 0 && st.missing == 0 && st.duplicated == 0 && st.produce_failed == 0;
    say("\n%s", ok ? "migration verified: nothing lost, nothing duplicated"
                   : "migration NOT verified: see above");
    return ok ? 0 : 1;
}

/* also read by `kferry completion` (commands.h) */
const cli_opt demo_cli_opts[] = {
    {"--rate", NULL, 1}, {"--keep", NULL, 0}, {"--secure", NULL, 0}, {NULL, NULL, 0}};

int demo_main(int argc, char **argv) {
    demo d;
    memset(&d, 0, sizeof(d));
    d.rate = 500;
    const cli_opt *opts = demo_cli_opts;
    int i = 0, k;
    const char *v;
    while ((k = cli_next("demo", opts, argc, argv, &i, &v)) != CLI_END) {
        if (k == CLI_HELP) {
            fputs(usage, stdout);
            return 0;
        }
        if (k == CLI_ERR)
            return 2;
        if (k == 1) {
            d.keep = 1;
        } else if (k == 2) {
            d.secure = 1;
        } else {
            int64_t r;
            if (kf_parse_i64(v, 1, 100000, &r) != 0) {
                fprintf(stderr, "kferry demo: --rate expects 1..100000, got '%s'\n", v);
                return 2;
            }
            d.rate = (int)r;
        }
    }
    if (find_binaries(&d) != 0)
        return 1;
    const char *tmp = getenv("TMPDIR");
    snprintf(d.dir, sizeof(d.dir), "%s/kferry-demo.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(d.dir)) {
        fprintf(stderr, "kferry demo: cannot create a temporary directory: %s\n", strerror(errno));
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    demo_app *app = demo_app_new(DEMO_TOPIC, DEMO_GROUP, MAX_RECORDS);
    int rc = app ? run(&d, app) : 1;
    if (g_stop) {
        say("\ninterrupted: stopping everything and cleaning up");
        rc = 130;
    }
    demo_app_destroy(app);
    cleanup(&d);
    return rc;
}
