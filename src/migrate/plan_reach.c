/*
 * plan_reach.c - per-broker reachability for `kferry plan` (see plan.h,
 * docs/PLAN.md "Broker reachability").
 *
 * The bootstrap address answering says nothing about the addresses the
 * brokers advertise, and clients connect to those: behind PrivateLink or a
 * proxy VPC (MSK's b-1...:14001, b-2...:14002, ...) they often do not
 * resolve or connect from where kferry runs.  For every broker in each
 * cluster's metadata: getaddrinfo (all addresses), a non-blocking TCP
 * connect per address until one works, and when the cluster uses TLS or
 * SASL a librdkafka handle whose bootstrap.servers is only that broker,
 * asking for metadata, so the handshake and the login happen on that
 * broker alone.  Failures are classified by conndiag.
 *
 * Brokers are checked by a small pool of threads against one deadline
 * (the plan's --timeout).  A worker stuck past it (getaddrinfo cannot be
 * interrupted) is left behind: the broker is reported at the step it was
 * in, and the last one of main and the workers frees the shared state.
 */
#include "migrate/plan.h"

#include "common/log.h"
#include "common/util.h"
#include "mirror/conndiag.h"
#include "mirror/mskiam.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define REACH_MAX_ADDRS 16
#define REACH_MAX_THREADS 16
#define REACH_GRACE_MS 2000 /* for rd_kafka_destroy after the deadline */

enum { ST_QUEUED, ST_DNS, ST_CONNECT, ST_HANDSHAKE, ST_DONE };

typedef struct reach_attempt {
    char address[64]; /* numeric */
    int ok;
    double ms;
    char error[160];
} reach_attempt;

typedef struct reach_job {
    /* input, set before the workers start */
    int role; /* 0 source, 1 target */
    int32_t id;
    char host[256];
    int port;
    rd_kafka_conf_t *conf, *conf_nohost; /* NULL: no TLS/SASL step; owned until taken */
    /* progress, under the state's lock */
    int state;
    /* results, written by the worker before state becomes ST_DONE */
    int dns_ok;
    double dns_ms;
    char dns_error[256];
    size_t naddr;
    reach_attempt att[REACH_MAX_ADDRS];
    int connected; /* index into att + 1 */
    int hs_done, hs_ok;
    double hs_ms;
    int hs_err; /* rd_kafka_metadata's result */
    plan_conn cn;
    int trusted_nohost;
} reach_job;

typedef struct reach_state {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    size_t njobs, next, ndone;
    int64_t deadline; /* kf_now_ms */
    reach_job *jobs;
} reach_state;

static double now_ms_f(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int remaining(const reach_state *st) {
    int64_t r = st->deadline - kf_now_ms();
    return r > 0 ? (int)r : 0;
}

static void set_state(reach_state *st, reach_job *j, int s) {
    pthread_mutex_lock(&st->mu);
    j->state = s;
    if (s == ST_DONE) {
        st->ndone++;
        pthread_cond_broadcast(&st->cv);
    }
    pthread_mutex_unlock(&st->mu);
}

static void state_unref(reach_state *st) {
    pthread_mutex_lock(&st->mu);
    int last = --st->refs == 0;
    pthread_mutex_unlock(&st->mu);
    if (!last)
        return;
    for (size_t i = 0; i < st->njobs; i++) {
        if (st->jobs[i].conf)
            rd_kafka_conf_destroy(st->jobs[i].conf);
        if (st->jobs[i].conf_nohost)
            rd_kafka_conf_destroy(st->jobs[i].conf_nohost);
    }
    free(st->jobs);
    pthread_cond_destroy(&st->cv);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

/* Non-blocking connect to one address within timeout_ms: 0, or -1 with
 * the reason in err. */
static int tcp_connect(const struct addrinfo *ai, int timeout_ms, char *err, size_t errlen) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int fl = fcntl(fd, F_GETFL, 0);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        snprintf(err, errlen, "fcntl: %s", strerror(errno));
        close(fd);
        return -1;
    }
    int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno != EINPROGRESS) {
        snprintf(err, errlen, "%s", strerror(errno));
        close(fd);
        return -1;
    }
    if (rc != 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int64_t end = kf_now_ms() + timeout_ms;
        for (;;) {
            int left = (int)(end - kf_now_ms());
            if (left <= 0) {
                snprintf(err, errlen, "connect timed out after %d ms", timeout_ms);
                close(fd);
                return -1;
            }
            int n = poll(&pfd, 1, left);
            if (n > 0)
                break;
            if (n < 0 && errno != EINTR) {
                snprintf(err, errlen, "poll: %s", strerror(errno));
                close(fd);
                return -1;
            }
        }
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
            soerr = errno;
        if (soerr) {
            snprintf(err, errlen, "%s", strerror(soerr));
            close(fd);
            return -1;
        }
    }
    close(fd);
    return 0;
}

/* librdkafka on this broker alone: Metadata through TLS and SASL. */
static rd_kafka_resp_err_t handshake(rd_kafka_conf_t *conf, plan_conn *cn, int timeout_ms) {
    char eb[512];
    rd_kafka_conf_set_opaque(conf, cn);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, eb, sizeof(eb));
    mskiam_handle(rk);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        kf_strlcpy(cn->last_error, eb, sizeof(cn->last_error));
        return RD_KAFKA_RESP_ERR__INVALID_ARG;
    }
    /* In slices: librdkafka retries a refused handshake or login until the
     * timeout, but its error event says at once that it will not work. */
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__TIMED_OUT;
    int64_t end = kf_now_ms() + (timeout_ms > 0 ? timeout_ms : 1);
    for (;;) {
        int left = (int)(end - kf_now_ms());
        if (left <= 0)
            break;
        const struct rd_kafka_metadata *md = NULL;
        e = rd_kafka_metadata(rk, 0, NULL, &md, left < 250 ? left : 250);
        if (md)
            rd_kafka_metadata_destroy(md);
        if (!e)
            break;
        rd_kafka_poll(rk, 0); /* error events, with the reason, reach the error callback */
        if (cn->auth_failed || cn->last_code == RD_KAFKA_RESP_ERR__SSL ||
            cn->last_code == RD_KAFKA_RESP_ERR__AUTHENTICATION)
            break;
    }
    if (e)
        rd_kafka_poll(rk, 100);
    rd_kafka_destroy(rk);
    return e;
}

static int verify_failure(const char *r) {
    return strstr(r, "certificate verify failed") || strstr(r, "verify broker certificate");
}

static void run_job(reach_state *st, reach_job *j) {
    char port[16];
    snprintf(port, sizeof(port), "%d", j->port);
    set_state(st, j, ST_DNS);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    double t0 = now_ms_f();
    int rc = getaddrinfo(j->host, port, &hints, &res);
    j->dns_ms = now_ms_f() - t0;
    if (rc != 0) {
        snprintf(j->dns_error, sizeof(j->dns_error), "%s",
                 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return;
    }
    j->dns_ok = 1;
    const struct addrinfo *ais[REACH_MAX_ADDRS];
    for (const struct addrinfo *ai = res; ai && j->naddr < REACH_MAX_ADDRS; ai = ai->ai_next) {
        char h[64];
        if (getnameinfo(ai->ai_addr, ai->ai_addrlen, h, sizeof(h), NULL, 0, NI_NUMERICHOST))
            continue;
        int dup = 0;
        for (size_t k = 0; k < j->naddr; k++)
            dup |= !strcmp(j->att[k].address, h);
        if (dup)
            continue;
        kf_strlcpy(j->att[j->naddr].address, h, sizeof(j->att[0].address));
        ais[j->naddr++] = ai;
    }
    set_state(st, j, ST_CONNECT);
    for (size_t k = 0; k < j->naddr && !j->connected; k++) {
        int left = remaining(st);
        if (left <= 0) {
            snprintf(j->att[k].error, sizeof(j->att[k].error), "not tried: plan timeout reached");
            continue;
        }
        /* later addresses keep a share of the time */
        int share = left / (int)(j->naddr - k);
        int budget = share < 1000 ? (left < 1000 ? left : 1000) : share;
        double c0 = now_ms_f();
        if (tcp_connect(ais[k], budget, j->att[k].error, sizeof(j->att[k].error)) == 0) {
            j->att[k].ok = 1;
            j->connected = (int)k + 1;
        }
        j->att[k].ms = now_ms_f() - c0;
    }
    freeaddrinfo(res);
    if (!j->connected || !j->conf)
        return;
    set_state(st, j, ST_HANDSHAKE);
    rd_kafka_conf_t *conf = j->conf;
    j->conf = NULL; /* handshake() owns it now */
    double h0 = now_ms_f();
    j->hs_err = handshake(conf, &j->cn, remaining(st));
    j->hs_ms = now_ms_f() - h0;
    j->hs_done = 1;
    j->hs_ok = j->hs_err == RD_KAFKA_RESP_ERR_NO_ERROR;
    if (!j->hs_ok && j->conf_nohost && verify_failure(j->cn.last_error) && remaining(st) > 0) {
        plan_conn cn2 = {{0}, 0, 0};
        rd_kafka_conf_t *c2 = j->conf_nohost;
        j->conf_nohost = NULL;
        int left = remaining(st);
        rd_kafka_resp_err_t e2 = handshake(c2, &cn2, left < 5000 ? left : 5000);
        j->trusted_nohost = e2 == RD_KAFKA_RESP_ERR_NO_ERROR || !verify_failure(cn2.last_error);
    }
}

static void *worker(void *arg) {
    reach_state *st = arg;
    pthread_setname_np(pthread_self(), "kf:reach"); /* the json log's "thread" */
    for (;;) {
        pthread_mutex_lock(&st->mu);
        reach_job *j = NULL;
        if (st->next < st->njobs && kf_now_ms() < st->deadline)
            j = &st->jobs[st->next++];
        pthread_mutex_unlock(&st->mu);
        if (!j)
            break;
        run_job(st, j);
        set_state(st, j, ST_DONE);
    }
    state_unref(st);
    return NULL;
}

/* --- the report --------------------------------------------------------- */

static json_t *ms_json(double ms) { return json_real((double)(int64_t)(ms * 1000.0) / 1000.0); }

static const char *step_of(int state) {
    switch (state) {
    case ST_DNS: return "dns";
    case ST_CONNECT: return "connect";
    default: return NULL;
    }
}

/* Fills e (one broker's entry) from a finished job; returns the failed
 * step or NULL, with the reason in why. */
static const char *finished(plan_ctx *p, const mc_cluster *cl, reach_job *j, json_t *e, char *why,
                            size_t whylen) {
    json_t *addrs = json_array(), *atts = json_array();
    for (size_t k = 0; k < j->naddr; k++) {
        json_array_append_new(addrs, json_string(j->att[k].address));
        int tried = j->att[k].ok || j->att[k].error[0];
        if (tried)
            json_array_append_new(atts,
                                  json_pack("{s:s,s:b,s:o,s:s?}", "address", j->att[k].address,
                                            "ok", j->att[k].ok, "ms", ms_json(j->att[k].ms),
                                            "error", j->att[k].ok ? NULL : j->att[k].error));
    }
    json_object_set_new(e, "dns",
                        json_pack("{s:b,s:o,s:o,s:s?}", "ok", j->dns_ok, "ms", ms_json(j->dns_ms),
                                  "addresses", addrs, "error", j->dns_ok ? NULL : j->dns_error));
    if (!j->dns_ok) {
        json_decref(atts);
        snprintf(why, whylen, "%s does not resolve: %s", j->host, j->dns_error);
        return "dns";
    }
    const reach_attempt *ok = j->connected ? &j->att[j->connected - 1] : NULL;
    char errs[512] = "";
    size_t used = 0;
    for (size_t k = 0; k < j->naddr && !ok; k++)
        if (used < sizeof(errs))
            used += (size_t)snprintf(errs + used, sizeof(errs) - used, "%s%s: %s", k ? "; " : "",
                                     j->att[k].address, j->att[k].error);
    json_object_set_new(e, "connect",
                        json_pack("{s:b,s:o,s:s?,s:s?,s:o}", "ok", ok != NULL, "ms",
                                  ok ? ms_json(ok->ms) : json_null(), "address",
                                  ok ? ok->address : NULL, "error", ok ? NULL : errs, "attempts",
                                  atts));
    if (!ok) {
        snprintf(why, whylen, "TCP connect to %s:%d failed (%s)", j->host, j->port,
                 j->naddr ? errs : "no address");
        return "connect";
    }
    if (!j->hs_done)
        return NULL; /* plaintext: connecting is all there is */
    json_object_set_new(e, "handshake_ms", ms_json(j->hs_ms));
    char pb[32];
    int tls = strstr(conndiag_protocol(cl, pb, sizeof(pb)), "SSL") != NULL;
    int sasl = conndiag_mechanism(cl) != NULL;
    if (j->hs_ok) {
        if (tls)
            json_object_set_new(json_object_get(e, "tls"), "ok", json_true());
        if (sasl)
            json_object_set_new(json_object_get(e, "authentication"), "ok", json_true());
        return NULL;
    }
    char addr[300];
    snprintf(addr, sizeof(addr), "%s:%d", j->host, j->port);
    const char *reason = j->cn.last_error[0] ? j->cn.last_error : rd_kafka_err2str(j->hs_err);
    int code = j->cn.last_code ? j->cn.last_code : j->hs_err;
    conn_diag d;
    conndiag_classify_at(cl, addr, code, reason, &d);
    if (!strcmp(d.result, "tls_untrusted") && j->trusted_nohost)
        conndiag_hostname_mismatch(cl, addr, &d);
    json_object_set_new(
        e, "diagnosis",
        json_pack("{s:s,s:s,s:s}", "result", d.result, "message", d.message, "detail", reason));
    const char *step;
    if (!strncmp(d.result, "sasl_", 5) || j->cn.auth_failed ||
        code == RD_KAFKA_RESP_ERR__AUTHENTICATION)
        step = "authentication";
    else if (!strncmp(d.result, "tls_", 4) || !strcmp(d.result, "plaintext_to_tls") ||
             code == RD_KAFKA_RESP_ERR__SSL)
        step = "tls";
    else
        step = tls ? "tls" : "authentication"; /* where a TLS/SASL connection stops first */
    if (!strcmp(step, "authentication") && tls)
        json_object_set_new(json_object_get(e, "tls"), "ok", json_true());
    if (!strcmp(step, "tls") && tls)
        json_object_set_new(json_object_get(e, "tls"), "ok", json_false());
    if (!strcmp(step, "authentication") && sasl)
        json_object_set_new(json_object_get(e, "authentication"), "ok", json_false());
    snprintf(why, whylen, "%s (librdkafka: %s)", d.message, reason);
    (void)p;
    return step;
}

static void report(plan_ctx *p, const mc_cluster *cl, const char *role, json_t *list, reach_job *j,
                   int timeout_ms) {
    char pb[32];
    int tls = strstr(conndiag_protocol(cl, pb, sizeof(pb)), "SSL") != NULL;
    const char *mech = conndiag_mechanism(cl);
    json_t *e = json_pack("{s:i,s:s,s:i,s:s,s:n,s:n,s:n,s:n,s:n,s:n,s:n,s:n}", "id", (int)j->id,
                          "host", j->host, "port", j->port, "status", "ok", "failed_step", "reason",
                          "dns", "connect", "tls", "authentication", "handshake_ms", "diagnosis");
    if (tls)
        json_object_set_new(e, "tls", json_pack("{s:n}", "ok"));
    if (mech)
        json_object_set_new(e, "authentication", json_pack("{s:n,s:s}", "ok", "mechanism", mech));
    json_array_append_new(list, e);
    char why[2048] = "";
    const char *step;
    if (j->state == ST_DONE) {
        step = finished(p, cl, j, e, why, sizeof(why));
    } else {
        step = step_of(j->state);
        if (!step)
            step = j->state == ST_QUEUED ? "dns" : tls ? "tls" : "authentication";
        snprintf(why, sizeof(why), "%s within the plan's timeout (%d s)",
                 j->state == ST_QUEUED ? "not checked" : "no answer", timeout_ms / 1000);
    }
    if (step) {
        json_object_set_new(e, "status", json_string("blocker"));
        json_object_set_new(e, "failed_step", json_string(step));
        json_object_set_new(e, "reason", json_string(why));
        char obj[32];
        snprintf(obj, sizeof(obj), "%d", (int)j->id);
        plan_check(p, "broker_reachability", "blocker", cl->alias, "broker", obj,
                   "%s broker %d of %s at %s:%d is in the cluster's metadata but kferry cannot "
                   "reach it: %s failed: %s",
                   role, (int)j->id, cl->alias, j->host, j->port, step, why);
        return;
    }
    const json_t *c = json_object_get(e, "connect");
    char obj[32], hs[160] = "";
    snprintf(obj, sizeof(obj), "%d", (int)j->id);
    if (j->hs_done)
        snprintf(hs, sizeof(hs), ", %s%s%s%s in %.0f ms", tls ? "TLS" : "",
                 tls && mech ? " + " : "", mech ? "SASL " : "", mech ? mech : "", j->hs_ms);
    plan_check(p, "broker_reachability", "ok", cl->alias, "broker", obj,
               "%s broker %d of %s at %s:%d: reachable (%s), TCP connect %.1f ms%s", role,
               (int)j->id, cl->alias, j->host, j->port,
               json_string_value(json_object_get(c, "address")),
               json_real_value(json_object_get(c, "ms")), hs);
}

void plan_reach(plan_ctx *p) {
    json_t *invs[2] = {p->src_inv, p->tgt_inv};
    const mc_cluster *cls[2] = {&p->cfg->src, &p->cfg->tgt};
    size_t n = 0;
    for (int r = 0; r < 2; r++)
        if (invs[r]) {
            json_object_set_new(invs[r], "broker_reachability", json_array());
            n += json_array_size(json_object_get(invs[r], "brokers"));
        }
    if (!n)
        return;
    reach_state *st = calloc(1, sizeof(*st));
    reach_job *jobs = calloc(n, sizeof(*jobs));
    if (!st || !jobs) {
        free(st);
        free(jobs);
        kf_err("plan", "out of memory");
        return;
    }
    st->jobs = jobs;
    st->njobs = n;
    size_t k = 0;
    for (int r = 0; r < 2; r++) {
        if (!invs[r])
            continue;
        char pb[32];
        const mc_cluster *cl = cls[r];
        int secure = strcmp(conndiag_protocol(cl, pb, sizeof(pb)), "PLAINTEXT") != 0;
        const char *alg = mc_prop(cl, "ssl.endpoint.identification.algorithm");
        int host_check = strstr(pb, "SSL") && !(alg && (!*alg || !strcasecmp(alg, "none")));
        size_t i;
        json_t *b;
        json_array_foreach(json_object_get(invs[r], "brokers"), i, b) {
            reach_job *j = &jobs[k++];
            j->role = r;
            j->id = (int32_t)json_integer_value(json_object_get(b, "id"));
            kf_strlcpy(j->host, json_string_value(json_object_get(b, "host")), sizeof(j->host));
            j->port = (int)json_integer_value(json_object_get(b, "port"));
            if (secure) {
                char boot[300];
                snprintf(boot, sizeof(boot), strchr(j->host, ':') ? "[%s]:%d" : "%s:%d", j->host,
                         j->port);
                j->conf = plan_client_conf(p, cl, &j->cn, 0, boot, p->timeout_ms);
                if (host_check)
                    j->conf_nohost = plan_client_conf(p, cl, &j->cn, 1, boot, p->timeout_ms);
            }
        }
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&st->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&st->mu, NULL);
    st->deadline = kf_now_ms() + p->timeout_ms;
    st->refs = 1;
    size_t nthreads = n < REACH_MAX_THREADS ? n : REACH_MAX_THREADS;
    for (size_t t = 0; t < nthreads; t++) {
        pthread_t th;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        pthread_mutex_lock(&st->mu);
        st->refs++;
        pthread_mutex_unlock(&st->mu);
        if (pthread_create(&th, &at, worker, st) != 0) {
            pthread_mutex_lock(&st->mu);
            st->refs--;
            pthread_mutex_unlock(&st->mu);
            kf_warn("plan", "broker reachability: cannot start a thread: %s", strerror(errno));
        }
        pthread_attr_destroy(&at);
    }
    pthread_mutex_lock(&st->mu);
    int64_t until = st->deadline + REACH_GRACE_MS;
    while (st->ndone < st->njobs && st->refs > 1) {
        int64_t left = until - kf_now_ms();
        if (left <= 0)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += left / 1000;
        ts.tv_nsec += (left % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&st->cv, &st->mu, &ts);
    }
    /* Report under the lock: a job not done by now is reported at its
     * step, and its worker finishes unobserved. */
    for (size_t i = 0; i < n; i++) {
        reach_job *j = &jobs[i];
        report(p, cls[j->role], j->role ? "target" : "source",
               json_object_get(invs[j->role], "broker_reachability"), j, p->timeout_ms);
    }
    pthread_mutex_unlock(&st->mu);
    state_unref(st);
}
