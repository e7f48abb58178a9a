/*
 * apiprobe.c - ApiVersions v0 over a raw socket (see apiprobe.h).
 *
 * v0 because every broker since Kafka 0.10 answers it and its response has
 * no tagged fields; the whole exchange is bounded by one deadline so an
 * unresponsive address cannot stall `kferry plan`.
 */
#include "migrate/apiprobe.h"

#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_RESPONSE (1 << 20)

static const char *g_names[] = {
    "Produce",
    "Fetch",
    "ListOffsets",
    "Metadata",
    "LeaderAndIsr",
    "StopReplica",
    "UpdateMetadata",
    "ControlledShutdown",
    "OffsetCommit",
    "OffsetFetch",
    "FindCoordinator",
    "JoinGroup",
    "Heartbeat",
    "LeaveGroup",
    "SyncGroup",
    "DescribeGroups",
    "ListGroups",
    "SaslHandshake",
    "ApiVersions",
    "CreateTopics",
    "DeleteTopics",
    "DeleteRecords",
    "InitProducerId",
    "OffsetForLeaderEpoch",
    "AddPartitionsToTxn",
    "AddOffsetsToTxn",
    "EndTxn",
    "WriteTxnMarkers",
    "TxnOffsetCommit",
    "DescribeAcls",
    "CreateAcls",
    "DeleteAcls",
    "DescribeConfigs",
    "AlterConfigs",
    "AlterReplicaLogDirs",
    "DescribeLogDirs",
    "SaslAuthenticate",
    "CreatePartitions",
};

const char *apiprobe_name(int16_t key, char *buf, size_t buflen) {
    if (key >= 0 && (size_t)key < sizeof(g_names) / sizeof(g_names[0]))
        return g_names[key];
    snprintf(buf, buflen, "Api%d", key);
    return buf;
}

void apiprobe_free(api_versions *v) {
    free(v->apis);
    memset(v, 0, sizeof(*v));
}

const api_range *apiprobe_find(const api_versions *v, int16_t key) {
    for (size_t i = 0; i < v->n; i++)
        if (v->apis[i].key == key)
            return &v->apis[i];
    return NULL;
}

static int remaining(int64_t deadline) {
    int64_t r = deadline - kf_now_ms();
    return r > 0 ? (int)r : 0;
}

/* Connects with a deadline; the socket is left non-blocking. */
static int connect_to(const char *host, const char *port, int64_t deadline, char *err,
                      size_t errlen) {
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(gai));
        return -1;
    }
    int fd = -1;
    snprintf(err, errlen, "no address for %s", host);
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            continue;
        int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc != 0 && errno == EINPROGRESS) {
            struct pollfd p = {fd, POLLOUT, 0};
            rc = poll(&p, 1, remaining(deadline));
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            if (rc == 0) {
                errno = ETIMEDOUT;
                rc = -1;
            } else if (rc > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr) {
                errno = soerr;
                rc = -1;
            } else if (rc > 0) {
                rc = 0;
            }
        }
        if (rc != 0) {
            snprintf(err, errlen, "connect: %s", strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

static int io_all(int fd, uint8_t *buf, size_t len, int writing, int64_t deadline) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = writing ? send(fd, buf + done, len - done, MSG_NOSIGNAL)
                            : recv(fd, buf + done, len - done, 0);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n == 0) {
            errno = ECONNRESET;
            return -1;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -1;
        struct pollfd p = {fd, (short)(writing ? POLLOUT : POLLIN), 0};
        int rc = poll(&p, 1, remaining(deadline));
        if (rc == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (rc < 0 && errno != EINTR)
            return -1;
    }
    return 0;
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static int16_t be16(const uint8_t *p) { return (int16_t)((uint16_t)p[0] << 8 | p[1]); }

/* Parses an ApiVersions v0 response body after the size prefix. */
static int parse(const uint8_t *b, size_t len, api_versions *out, char *err, size_t errlen) {
    if (len < 10 || be32(b) != 1) {
        snprintf(err, errlen, "malformed ApiVersions response");
        return -1;
    }
    int16_t ec = be16(b + 4);
    uint32_t n = be32(b + 6);
    /* 35 UNSUPPORTED_VERSION still carries the supported ranges */
    if (ec != 0 && ec != 35) {
        snprintf(err, errlen, "ApiVersions error code %d", ec);
        return -1;
    }
    if (n > (len - 10) / 6) {
        snprintf(err, errlen, "malformed ApiVersions response (%u entries)", n);
        return -1;
    }
    out->apis = calloc(n + 1, sizeof(*out->apis));
    if (!out->apis)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = b + 10 + 6 * i;
        out->apis[i] = (api_range){be16(e), be16(e + 2), be16(e + 4)};
    }
    out->n = n;
    return 0;
}

static int probe_one(const char *host, const char *port, int timeout_ms, api_versions *out,
                     char *err, size_t errlen) {
    int64_t deadline = kf_now_ms() + timeout_ms;
    int fd = connect_to(host, port, deadline, err, errlen);
    if (fd < 0)
        return -1;
    /* size, api key 18, version 0, correlation id 1, client id "kferry-plan" */
    static const char cid[] = "kferry-plan";
    uint8_t req[4 + 10 + sizeof(cid) - 1];
    size_t body = sizeof(req) - 4;
    uint8_t hdr[] = {(uint8_t)(body >> 24),
                     (uint8_t)(body >> 16),
                     (uint8_t)(body >> 8),
                     (uint8_t)body,
                     0,
                     18,
                     0,
                     0,
                     0,
                     0,
                     0,
                     1,
                     0,
                     sizeof(cid) - 1};
    memcpy(req, hdr, sizeof(hdr));
    memcpy(req + sizeof(hdr), cid, sizeof(cid) - 1);
    uint8_t szb[4];
    uint8_t *resp = NULL;
    int rc = -1;
    if (io_all(fd, req, sizeof(req), 1, deadline) || io_all(fd, szb, 4, 0, deadline)) {
        snprintf(err, errlen, "ApiVersions: %s", strerror(errno));
        goto out;
    }
    uint32_t sz = be32(szb);
    if (sz > MAX_RESPONSE || !(resp = malloc(sz ? sz : 1))) {
        snprintf(err, errlen,
                 "ApiVersions: implausible response size %u (not a Kafka listener, "
                 "or TLS?)",
                 sz);
        goto out;
    }
    if (io_all(fd, resp, sz, 0, deadline)) {
        snprintf(err, errlen, "ApiVersions: %s", strerror(errno));
        goto out;
    }
    rc = parse(resp, sz, out, err, errlen);
out:
    free(resp);
    close(fd);
    return rc;
}

/* Splits "proto://host:port" or "[v6]:port" into host and port. */
static int split_address(const char *a, char *host, size_t hl, char *port, size_t pl) {
    const char *s = strstr(a, "://");
    s = s ? s + 3 : a;
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || !colon[1])
        return -1;
    const char *h = s;
    size_t hlen = (size_t)(colon - s);
    if (*h == '[' && hlen >= 2 && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    if (hlen >= hl || strlen(colon + 1) >= pl)
        return -1;
    memcpy(host, h, hlen);
    host[hlen] = 0;
    kf_strlcpy(port, colon + 1, pl);
    return 0;
}

int apiprobe_run(const char *bootstrap, int timeout_ms, api_versions *out, char *err,
                 size_t errlen) {
    memset(out, 0, sizeof(*out));
    char *copy = kf_strdup(bootstrap);
    if (!copy)
        return -1;
    size_t used = 0;
    err[0] = 0;
    int rc = -1;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ", ", &save); tok && rc; tok = strtok_r(NULL, ", ", &save)) {
        char host[256], port[16], one[512];
        if (split_address(tok, host, sizeof(host), port, sizeof(port)))
            snprintf(one, sizeof(one), "not host:port");
        else if ((rc = probe_one(host, port, timeout_ms, out, one, sizeof(one))) == 0)
            kf_strlcpy(out->address, tok, sizeof(out->address));
        if (rc && used < errlen) {
            int w = snprintf(err + used, errlen - used, "%s%s: %s", used ? "; " : "", tok, one);
            used += w > 0 ? (size_t)w : 0;
        }
    }
    free(copy);
    return rc;
}
