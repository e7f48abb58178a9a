/*
 * server.c - single-threaded epoll loop serving the Kafka protocol.
 *
 * Each connection reads length-prefixed frames (size capped by
 * socket.request.max.bytes) and handles one request at a time, so
 * responses leave in request order even when a request parks (Fetch long
 * poll, JoinGroup).  Parked requests are re-run after the loop is woken
 * (new data, group change) and every KB_PARK_TICK_MS.  Malformed input
 * closes only the offending connection, with one log line.
 *
 * Listeners (listener.h) are bound together; a connection knows its
 * listener.  On SSL and SASL_SSL listeners every byte goes through an
 * OpenSSL session: the handshake runs first (tls_step), then conn_recv /
 * conn_send wrap SSL_read / SSL_write.  OpenSSL may hold decrypted bytes
 * the socket no longer signals, so the loop also serves connections with
 * such pending input (tls_pending_input).
 */
#include "broker/server.h"

#include "broker/dispatch.h"
#include "broker/group.h"
#include "broker/sasl.h"
#include "broker/store.h"
#include "broker/txn.h"
#include "common/log.h"

#include <stdio.h>
#include "common/util.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK (256 * 1024)
#define OUT_HIGH_WATER (64u * 1024 * 1024) /* stop handling requests above this */
#define TICK_MS 100

typedef struct kb_conn {
    int fd;
    const kb_listener *lst;
    SSL *ssl;           /* TLS listeners */
    int tls_up;         /* handshake done */
    int tls_want_write; /* OpenSSL needs the socket writable to go on */
    int64_t accepted_ms;
    kf_buf in;
    kf_buf out;
    size_t out_off; /* bytes of out already written */
    kb_req *cur;    /* parked request, if any */
    struct kb_conn *next_parked;
    int parked;
    int want_write;
    int paused_read; /* EPOLLIN off: enough input buffered while busy */
    int dead;
    char peer[64];
    char principal[256];         /* "User:ANONYMOUS" until authenticated */
    kb_sasl_session sasl;        /* SASL state (enabled on SASL_* listeners) */
    int close_after;             /* close once the output is sent (SASL failure) */
    struct kb_conn *prev, *next; /* all connections */
} kb_conn;

typedef struct server {
    int lfds[KB_MAX_LISTENERS];
    size_t nl;
    int epfd;
    int sigfd;
    kb_conn *conns;
    size_t nconns;
    int64_t last_tick;
} server;

static server *srv(kb_broker *b) { return (server *)b->server; }

static void req_free(kb_req *r) {
    if (!r)
        return;
    if (r->park_free && r->park_state)
        r->park_free(r->park_state);
    free(r->frame);
    free(r);
}

static void conn_close(kb_broker *b, kb_conn *c) {
    server *s = srv(b);
    if (c->dead)
        return;
    c->dead = 1;
    epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->ssl) {
        if (c->tls_up) {
            ERR_clear_error();
            SSL_shutdown(c->ssl); /* one non-blocking close_notify, best effort */
            ERR_clear_error();    /* never left for another connection's SSL_get_error */
        }
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    close(c->fd);
    c->fd = -1;
    req_free(c->cur);
    c->cur = NULL;
    kb_sasl_session_free(&c->sasl);
    kf_buf_free(&c->in);
    kf_buf_free(&c->out);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    /* The struct itself is freed lazily (reap) because epoll events of the
     * current batch may still point at it. */
}

static kb_conn *g_dead_list;

static void conn_drop(kb_broker *b, kb_conn *c, const char *why) {
    if (why)
        kf_warn("net", "closing connection from %s: %s", c->peer, why);
    else
        kf_debug("net", "connection from %s closed", c->peer);
    conn_close(b, c);
    c->next = g_dead_list;
    g_dead_list = c;
}

static void reap_dead(void) {
    while (g_dead_list) {
        kb_conn *n = g_dead_list->next;
        free(g_dead_list);
        g_dead_list = n;
    }
}

/* Input holds at least one whole frame (or a bad size prefix, which
 * process_input rejects): nothing more needs reading before it is handled. */
static int in_has_frame(const kb_conn *c) {
    if (c->in.len < 4)
        return 0;
    int32_t size = (int32_t)kf_be32(c->in.data);
    return size < 8 || c->in.len - 4 >= (size_t)size;
}

/* Reads stop once PAUSE_INPUT bytes holding a whole frame are buffered, so
 * frames get handled in between; with a request parked or a large unsent
 * response, reading stops at the first whole frame. */
#define PAUSE_INPUT (1u << 20)

static int conn_busy(const kb_conn *c) {
    return c->cur != NULL || c->out.len - c->out_off >= OUT_HIGH_WATER;
}

/* Backpressure: while the connection is busy and a whole frame waits in the
 * input, EPOLLIN is off, so a client pipelining requests is slowed down by
 * TCP (its writes block) instead of being disconnected.  Every path that
 * ends "busy" (request done, output drained) comes through here. */
static void update_events(kb_broker *b, kb_conn *c) {
    int want = c->out.len > c->out_off || c->tls_want_write;
    int pause = conn_busy(c) && in_has_frame(c) && (!c->ssl || c->tls_up);
    if (want == c->want_write && pause == c->paused_read)
        return;
    struct epoll_event ev = {.events = (pause ? 0 : EPOLLIN) | (want ? EPOLLOUT : 0),
                             .data.ptr = c};
    epoll_ctl(srv(b)->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_write = want;
    c->paused_read = pause;
}

/* The last OpenSSL error of this thread as text (and the queue cleared). */
static void tls_errstr(char *buf, size_t cap) {
    unsigned long e, last = 0;
    while ((e = ERR_get_error()) != 0)
        last = e;
    if (last)
        ERR_error_string_n(last, buf, cap);
    else
        kf_strlcpy(buf, "connection closed during TLS", cap);
}

/* Bytes from the connection: > 0 read, 0 end of stream, -1 nothing now,
 * -2 error (why filled for TLS errors). */
static ssize_t conn_recv(kb_conn *c, void *buf, size_t len, char *why, size_t whylen) {
    if (!c->ssl) {
        ssize_t n;
        do
            n = recv(c->fd, buf, len, 0);
        while (n < 0 && errno == EINTR);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? -1 : -2;
        return n;
    }
    /* SSL_get_error reads the thread's error queue: it must start empty. */
    ERR_clear_error();
    int n = SSL_read(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    if (n > 0)
        return n;
    switch (SSL_get_error(c->ssl, n)) {
    case SSL_ERROR_WANT_READ: return -1;
    case SSL_ERROR_WANT_WRITE: c->tls_want_write = 1; return -1;
    case SSL_ERROR_ZERO_RETURN: return 0;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        return 0; /* the peer went away without close_notify */
    default: tls_errstr(why, whylen); return -2;
    }
}

/* Bytes to the connection: >= 0 written (0 = not now), -1 error. */
static ssize_t conn_send(kb_conn *c, const void *buf, size_t len) {
    if (!c->ssl) {
        ssize_t w;
        do
            w = send(c->fd, buf, len, MSG_NOSIGNAL);
        while (w < 0 && errno == EINTR);
        if (w < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        return w;
    }
    ERR_clear_error();
    int w = SSL_write(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    if (w > 0)
        return w;
    switch (SSL_get_error(c->ssl, w)) {
    case SSL_ERROR_WANT_WRITE:
    case SSL_ERROR_WANT_READ: return 0;
    default: ERR_clear_error(); return -1;
    }
}

/* Writes as much of c->out as the socket takes. -1 if the peer is gone. */
static int flush_out(kb_broker *b, kb_conn *c) {
    if (c->ssl && !c->tls_up)
        return 0; /* the handshake comes first (tls_step) */
    c->tls_want_write = 0;
    while (c->out.len > c->out_off) {
        ssize_t w = conn_send(c, c->out.data + c->out_off, c->out.len - c->out_off);
        if (w < 0)
            return -1;
        if (w == 0)
            break;
        c->out_off += (size_t)w;
    }
    if (c->out_off == c->out.len) {
        c->out.len = 0;
        c->out_off = 0;
        /* Give back memory after a large response. */
        if (c->out.cap > 4u * 1024 * 1024) {
            kf_buf_free(&c->out);
            kf_buf_init(&c->out, 0);
        }
    }
    update_events(b, c);
    if (c->close_after && c->out.len == c->out_off)
        return -1; /* the closing response is out */
    return 0;
}

/* Runs the current request of c. Returns -1 if the connection was closed. */
static int run_req(kb_broker *b, kb_conn *c) {
    kb_req *r = c->cur;
    int rc = kb_dispatch(b, r, &c->out);
    if (rc == KB_PARK) {
        r->retries++;
        c->parked = 1;
        return 0;
    }
    c->parked = 0;
    c->cur = NULL;
    if (rc == KB_CLOSE) {
        char why[160];
        snprintf(why, sizeof(why), "malformed %s v%d request (correlation id %d)",
                 kf_api_name(r->api_key), r->api_version, r->correlation_id);
        req_free(r);
        conn_drop(b, c, why);
        return -1;
    }
    if (c->sasl.close_after)
        c->close_after = 1;
    if (kf_log_debug_enabled("proto"))
        kf_debug("proto", "%s %s v%d corr %d -> %s", c->peer, kf_api_name(r->api_key),
                 r->api_version, r->correlation_id, rc == KB_NORESP ? "no response" : "ok");
    req_free(r);
    return 0;
}

/* After SaslHandshake v0 the client's SASL tokens arrive as bare
 * length-prefixed frames and the server's go back the same way. */
static int raw_sasl_token(kb_broker *b, kb_conn *c, const uint8_t *tok, size_t len) {
    c->sasl.requests++;
    kf_buf resp;
    kf_buf_init(&resp, KB_SASL_MAX_TOKEN);
    char msg[256];
    int rc = kb_sasl_step(b, &c->sasl, tok, len, &resp, msg, sizeof(msg));
    if (rc == 0) {
        /* PLAIN answers an empty token, as Kafka does. */
        size_t at = kf_wr_reserve_i32(&c->out);
        kf_buf_append(&c->out, resp.data, resp.len);
        kf_wr_patch_i32(&c->out, at, (int32_t)resp.len);
    }
    kf_buf_free(&resp);
    if (rc != 0) {
        /* kb_sasl_step logged the failure; the v0 flow has no error frame. */
        conn_drop(b, c, NULL);
        return -1;
    }
    return 0;
}

/* Handles complete frames in c->in while no request is parked. */
static int process_input(kb_broker *b, kb_conn *c) {
    size_t pos = 0;
    while (!c->cur && !c->close_after && c->out.len - c->out_off < OUT_HIGH_WATER) {
        size_t avail = c->in.len - pos;
        if (avail < 4)
            break;
        int32_t size = (int32_t)kf_be32(c->in.data + pos);
        int preauth = c->sasl.enabled && c->sasl.state != KB_SASL_ST_DONE;
        if (preauth && (size < 0 || size > KB_SASL_MAX_TOKEN + 4096)) {
            char why[128];
            snprintf(why, sizeof(why), "request of %d bytes before SASL authentication", size);
            conn_drop(b, c, why);
            return -1;
        }
        if (preauth && c->sasl.requests >= KB_SASL_MAX_PREAUTH_REQUESTS) {
            conn_drop(b, c, "too many requests before SASL authentication");
            return -1;
        }
        if (c->sasl.state == KB_SASL_ST_RAW) {
            if (avail < 4 + (size_t)size)
                break;
            if (raw_sasl_token(b, c, c->in.data + pos + 4, (size_t)size) != 0)
                return -1;
            pos += 4 + (size_t)size;
            continue;
        }
        if (size < 8 || size > b->cfg.socket_request_max_bytes) {
            char why[96];
            snprintf(why, sizeof(why), "invalid request size %d", size);
            conn_drop(b, c, why);
            return -1;
        }
        if (avail < 4 + (size_t)size)
            break;
        kb_req *r = calloc(1, sizeof(*r));
        uint8_t *frame = malloc((size_t)size);
        if (!r || !frame) {
            free(r);
            free(frame);
            conn_drop(b, c, "out of memory");
            return -1;
        }
        memcpy(frame, c->in.data + pos + 4, (size_t)size);
        pos += 4 + (size_t)size;
        r->frame = frame;
        r->frame_len = (size_t)size;
        r->conn = c;
        r->peer = c->peer;
        r->principal = c->principal;
        r->sasl = &c->sasl;
        r->listener = c->lst;
        r->arrived_ms = kf_now_ms();
        char why[200];
        if (kb_req_parse_header(r, why, sizeof(why)) != 0) {
            req_free(r);
            conn_drop(b, c, why);
            return -1;
        }
        if (preauth) {
            c->sasl.requests++;
            if (!kb_sasl_allows(&c->sasl, r->api_key)) {
                snprintf(why, sizeof(why), "%s request before SASL authentication",
                         kf_api_name(r->api_key));
                req_free(r);
                conn_drop(b, c, why);
                return -1;
            }
        }
        c->cur = r;
        if (run_req(b, c) != 0)
            return -1;
    }
    if (pos)
        kf_buf_consume(&c->in, pos);
    return 0;
}

static void on_readable(kb_broker *b, kb_conn *c) {
    for (;;) {
        /* Frames can be large: read in bounded chunks, and stop once a
         * whole frame is buffered and either the connection is busy, enough
         * is buffered, or another chunk would not fit.  The buffer holds one
         * maximal frame plus a chunk, so the reserve below cannot fail for
         * a client that keeps within socket.request.max.bytes. */
        if (in_has_frame(c) &&
            (conn_busy(c) || c->in.len >= PAUSE_INPUT || c->in.len + READ_CHUNK > c->in.max))
            break;
        if (kf_buf_reserve(&c->in, READ_CHUNK) != 0) {
            conn_drop(b, c, "input buffer over limit");
            return;
        }
        char why[256] = "";
        ssize_t n = conn_recv(c, c->in.data + c->in.len, c->in.cap - c->in.len, why, sizeof(why));
        if (n == -1)
            break;
        if (n <= 0) {
            conn_drop(b, c, why[0] ? why : NULL);
            return;
        }
        c->in.len += (size_t)n;
        /* A short plain read drained the socket; TLS reads return one
         * record at a time, so those go on until OpenSSL wants more. */
        if (!c->ssl && (size_t)n < READ_CHUNK)
            break;
    }
    if (process_input(b, c) != 0)
        return;
    if (flush_out(b, c) != 0)
        conn_drop(b, c, NULL);
}

/* Runs the TLS handshake as far as the socket allows; once done, the
 * principal of a client certificate is taken (SSL listeners) and any
 * request already received is served. */
static void tls_step(kb_broker *b, kb_conn *c) {
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        c->tls_up = 1;
        c->tls_want_write = 0;
        if (c->lst->proto == KB_PROTO_SSL) {
            char why[256] = "";
            if (kb_tls_principal(c->lst, c->ssl, c->principal, sizeof(c->principal), why,
                                 sizeof(why)) != 0) {
                conn_drop(b, c, why);
                return;
            }
        }
        kf_debug("net", "%s: %s %s on %s, principal %s", c->peer, SSL_get_version(c->ssl),
                 SSL_get_cipher_name(c->ssl), c->lst->name, c->principal);
        update_events(b, c);
        on_readable(b, c);
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        c->tls_want_write = e == SSL_ERROR_WANT_WRITE;
        update_events(b, c);
        return;
    }
    char why[512], detail[256];
    long vr = SSL_get_verify_result(c->ssl);
    if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN) {
        /* A plain close without an alert: a client that distrusts the
         * certificate says so with an alert (the SSL_ERROR_SSL branch);
         * this is a client that went away, for instance a short-lived
         * admin client shut down while it was still connecting. */
        ERR_clear_error();
        kf_info("net", "%s closed its connection during the TLS handshake on %s", c->peer,
                c->lst->name);
        conn_drop(b, c, NULL);
        return;
    }
    if (vr != X509_V_OK) {
        ERR_clear_error();
        snprintf(why, sizeof(why), "TLS handshake on %s: client certificate refused: %s",
                 c->lst->name, X509_verify_cert_error_string(vr));
    } else {
        tls_errstr(detail, sizeof(detail));
        const char *hint = strstr(detail, "wrong version number") || strstr(detail, "http request")
                               ? " (a plaintext client on a TLS listener?)"
                           : strstr(detail, "alert unknown ca") ||
                                   strstr(detail, "alert bad certificate") ||
                                   strstr(detail, "alert certificate unknown")
                               ? " (the client does not trust this broker's certificate: check "
                                 "its truststore)"
                           : strstr(detail, "peer did not return a certificate")
                               ? " (ssl.client.auth=required: the client sent no certificate)"
                               : "";
        snprintf(why, sizeof(why), "TLS handshake on %s failed: %s%s", c->lst->name, detail, hint);
    }
    conn_drop(b, c, why);
}

static void accept_all(kb_broker *b, size_t li) {
    server *s = srv(b);
    const kb_listener *lst = &b->cfg.listeners.l[li];
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(s->lfds[li], (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                kf_warn("net", "accept: %s", strerror(errno));
            return;
        }
        if (s->nconns >= (size_t)b->cfg.max_connections) {
            kf_warn("net", "max.connections (%d) reached, refusing a client",
                    b->cfg.max_connections);
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        kb_conn *c = calloc(1, sizeof(*c));
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->lst = lst;
        c->accepted_ms = kf_now_ms();
        if (kb_proto_is_tls(lst->proto)) {
            c->ssl = SSL_new((SSL_CTX *)lst->ssl_ctx);
            if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
                ERR_clear_error();
                kf_warn("net", "cannot start a TLS session: out of memory?");
                SSL_free(c->ssl);
                close(fd);
                free(c);
                continue;
            }
            SSL_set_accept_state(c->ssl);
        }
        kf_buf_init(&c->in, (size_t)b->cfg.socket_request_max_bytes + READ_CHUNK + 4);
        kf_buf_init(&c->out, 0);
        char host[INET6_ADDRSTRLEN] = "?";
        int port = 0;
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
            port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
            port = ntohs(a->sin6_port);
        }
        snprintf(c->peer, sizeof(c->peer), "%s:%d", host, port);
        kf_strlcpy(c->principal, "User:ANONYMOUS", sizeof(c->principal));
        kb_sasl_session_init(&c->sasl, kb_proto_is_sasl(lst->proto), lst->lname, c->principal,
                             sizeof(c->principal), c->accepted_ms);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            SSL_free(c->ssl);
            close(fd);
            kf_buf_free(&c->in);
            free(c);
            continue;
        }
        c->next = s->conns;
        if (s->conns)
            s->conns->prev = c;
        s->conns = c;
        s->nconns++;
        kf_debug("net", "connection from %s on %s", c->peer, lst->name);
    }
}

/* OpenSSL may hold decrypted input that epoll no longer signals: serve it
 * on connections ready for more.  Returns whether any is left waiting. */
static int tls_pending_input(kb_broker *b) {
    int left = 0;
    for (kb_conn *c = srv(b)->conns, *next; c; c = next) {
        next = c->next;
        if (!c->ssl || !c->tls_up || !SSL_has_pending(c->ssl))
            continue;
        if (in_has_frame(c) && conn_busy(c))
            continue; /* served when the connection is no longer busy */
        on_readable(b, c);
        if (!c->dead && c->ssl && SSL_has_pending(c->ssl) && !(in_has_frame(c) && conn_busy(c)))
            left = 1;
    }
    return left;
}

static void tls_timeouts(kb_broker *b, int64_t now) {
    int64_t limit = b->cfg.listeners.handshake_timeout_ms;
    for (kb_conn *c = srv(b)->conns, *next; c; c = next) {
        next = c->next;
        if (c->ssl && !c->tls_up && now - c->accepted_ms > limit) {
            char why[160];
            snprintf(why, sizeof(why), "TLS handshake on %s not completed within %lld ms",
                     c->lst->name, (long long)limit);
            conn_drop(b, c, why);
        }
    }
}

/* Re-runs every parked request; continues their connections' input. */
static void run_parked(kb_broker *b) {
    server *s = srv(b);
    b->woken = 0;
    for (kb_conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (!c->cur || !c->parked)
            continue;
        if (run_req(b, c) != 0)
            continue;
        if (!c->cur) {
            if (process_input(b, c) != 0)
                continue;
            if (flush_out(b, c) != 0)
                conn_drop(b, c, NULL);
        }
    }
}

/* Connections on SASL listeners must authenticate in time; an OAUTHBEARER
 * (MSK IAM) session ends when its token expires, as on MSK (librdkafka
 * 2.0.2 does not re-authenticate: it reconnects with a fresh token). */
static void sasl_timeouts(kb_broker *b, int64_t now) {
    int64_t limit = b->sasl ? b->sasl->auth_timeout_ms : 30000;
    int64_t wall = kf_wall_ms();
    for (kb_conn *c = srv(b)->conns, *next; c; c = next) {
        next = c->next;
        if (c->sasl.enabled && c->sasl.state == KB_SASL_ST_DONE && c->sasl.expires_ms > 0 &&
            wall >= c->sasl.expires_ms) {
            kf_info("sasl", "closing connection from %s: the MSK IAM session of %s expired",
                    c->peer, c->principal);
            conn_drop(b, c, NULL);
            continue;
        }
        if (c->sasl.enabled && c->sasl.state != KB_SASL_ST_DONE &&
            now - c->sasl.started_ms > limit) {
            char why[128];
            snprintf(why, sizeof(why), "SASL authentication not completed within %lld ms",
                     (long long)limit);
            conn_drop(b, c, why);
        }
    }
}

static int any_parked(kb_broker *b) {
    for (kb_conn *c = srv(b)->conns; c; c = c->next)
        if (c->parked)
            return 1;
    return 0;
}

static int bind_listener(kb_broker *b, kb_listener *l, int *out_fd, char *err, size_t errlen) {
    const char *host = l->host[0] ? l->host : "0.0.0.0";
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", l->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(host, portstr, &hints, &ai);
    if (gai != 0) {
        snprintf(err, errlen, "listener %s: cannot resolve listen address %s: %s", l->name, host,
                 gai_strerror(gai));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        freeaddrinfo(ai);
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 512) != 0) {
        snprintf(err, errlen, "cannot listen on %s:%d (%s): %s", host, l->port, l->name,
                 strerror(errno));
        close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    l->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    if (!l->adv_host[0]) {
        if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0) {
            if (gethostname(l->adv_host, sizeof(l->adv_host)) != 0)
                kf_strlcpy(l->adv_host, "127.0.0.1", sizeof(l->adv_host));
        } else {
            kf_strlcpy(l->adv_host, host, sizeof(l->adv_host));
        }
    }
    if (l->adv_port == 0)
        l->adv_port = l->port;
    *out_fd = fd;
    return 0;
}

int kb_server_start(kb_broker *b, char *err, size_t errlen) {
    server *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->epfd = s->sigfd = -1;
    for (size_t i = 0; i < KB_MAX_LISTENERS; i++)
        s->lfds[i] = -1;
    b->server = s;
    kb_listeners *ls = &b->cfg.listeners;
    if (ls->n == 0) {
        snprintf(err, errlen, "no listener configured");
        return -1;
    }
    for (size_t i = 0; i < ls->n; i++) {
        if (bind_listener(b, &ls->l[i], &s->lfds[i], err, errlen) != 0)
            return -1;
        s->nl = i + 1;
    }
    const kb_listener *l0 = &ls->l[0];
    kf_strlcpy(b->cfg.listen_host, l0->host, sizeof(b->cfg.listen_host));
    b->cfg.listen_port = l0->port;
    kf_strlcpy(b->cfg.advertised_host, l0->adv_host, sizeof(b->cfg.advertised_host));
    b->cfg.advertised_port = l0->adv_port;
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    s->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (s->epfd < 0 || s->sigfd < 0) {
        snprintf(err, errlen, "epoll/signalfd: %s", strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < s->nl; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->lfds[i]};
        epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lfds[i], &ev);
    }
    struct epoll_event sev = {.events = EPOLLIN, .data.ptr = &s->sigfd};
    epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->sigfd, &sev);
    return 0;
}

int kb_server_run(kb_broker *b) {
    server *s = srv(b);
    struct epoll_event evs[256];
    s->last_tick = kf_now_ms();
    int tls_left = 0;
    while (!b->stopping) {
        int timeout = any_parked(b) ? KB_PARK_TICK_MS : TICK_MS;
        if (b->woken || tls_left)
            timeout = 0;
        int n = epoll_wait(s->epfd, evs, 256, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            kf_err("net", "epoll_wait: %s", strerror(errno));
            return -1;
        }
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p >= (void *)&s->lfds[0] && p < (void *)&s->lfds[s->nl]) {
                accept_all(b, (size_t)((int *)p - s->lfds));
            } else if (p == &s->sigfd) {
                struct signalfd_siginfo si;
                while (read(s->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                    kf_notice("broker", "received %s, shutting down",
                              si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
                    b->stopping = 1;
                }
            } else {
                kb_conn *c = p;
                if (c->dead)
                    continue;
                if (evs[i].events & (EPOLLERR | EPOLLHUP) && !(evs[i].events & EPOLLIN)) {
                    conn_drop(b, c, NULL);
                    continue;
                }
                if (c->ssl && !c->tls_up) {
                    tls_step(b, c);
                    continue;
                }
                if (evs[i].events & EPOLLIN)
                    on_readable(b, c);
                if (!c->dead && (evs[i].events & EPOLLOUT)) {
                    int tls_read_blocked = c->tls_want_write;
                    if (flush_out(b, c) != 0) {
                        conn_drop(b, c, NULL);
                        continue;
                    }
                    if (tls_read_blocked)
                        on_readable(b, c);
                    /* Output drained below the high-water mark: resume. */
                    if (!c->dead && !c->cur && c->in.len >= 4 && process_input(b, c) == 0 &&
                        flush_out(b, c) != 0)
                        conn_drop(b, c, NULL);
                }
            }
        }
        int64_t now = kf_now_ms();
        if (b->woken || any_parked(b))
            run_parked(b);
        if (now - s->last_tick >= TICK_MS) {
            s->last_tick = now;
            kb_groups_tick(b->groups, now);
            kb_store_tick(b->store, kf_wall_ms());
            kb_txns_tick(b, kf_wall_ms());
            sasl_timeouts(b, now);
            tls_timeouts(b, now);
        }
        tls_left = tls_pending_input(b);
        reap_dead();
    }
    return 0;
}

void kb_server_stop(kb_broker *b) {
    server *s = srv(b);
    if (!s)
        return;
    while (s->conns)
        conn_drop(b, s->conns, NULL);
    reap_dead();
    for (size_t i = 0; i < KB_MAX_LISTENERS; i++)
        if (s->lfds[i] >= 0)
            close(s->lfds[i]);
    if (s->epfd >= 0)
        close(s->epfd);
    if (s->sigfd >= 0)
        close(s->sigfd);
    free(s);
    b->server = NULL;
}
