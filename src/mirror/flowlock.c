/*
 * flowlock.c - the flow lock (see flowlock.h and docs/MIRROR.md).
 *
 * Eager rebalancing: a member learns it lost partition 0 through a REVOKE
 * callback before the group can give the partition to anyone else, unless
 * the coordinator dropped it (session timeout, max.poll.interval.ms): then
 * librdkafka reports the revocation as "lost".  A clean revocation is
 * answered only after the holder stopped writing (fl_after_end), so the
 * next holder starts after the last record of this one was acknowledged.
 */
#include "mirror/flowlock.h"

#include "common/log.h"
#include "common/util.h"
#include "mirror/clients.h"
#include "mirror/grpadmin.h"
#include "mirror/topics.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Records which units (lock-topic partitions) parts assigns; 1 if any. */
static int has_lock_partition(flowlock *fl, const rd_kafka_topic_partition_list_t *parts) {
    memset(fl->units, 0, sizeof(fl->units));
    int n = 0;
    for (int i = 0; parts && i < parts->cnt; i++) {
        int32_t k = parts->elems[i].partition;
        if (k >= 0 && k < fl->nunits && !strcmp(parts->elems[i].topic, fl->c->lock_topic)) {
            fl->units[k] = 1;
            n++;
        }
    }
    return n > 0;
}

uint32_t fl_unit_of(const char *topic, int32_t partition, int units) {
    /* FNV-1a of the topic name: a fixed function every process of the
     * flow, whatever its version, computes alike (a library's hash may
     * change its output between releases) */
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)topic; *p; p++)
        h = (h ^ *p) * 16777619u;
    return units > 1 ? (h + (uint32_t)partition) % (uint32_t)units : 0;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
    flowlock *fl = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        int has = has_lock_partition(fl, parts);
        if (has && !fl->held && !fl->ended && fl->nunits == 1)
            kf_notice("lock", "this process (%s) now holds flow %s->%s (group %s)", fl->client_id,
                      fl->c->src.alias, fl->c->tgt.alias, fl->c->lock_group);
        else if (has && !fl->held && !fl->ended) {
            char list[800];
            size_t l = 0;
            list[0] = 0;
            for (int k = 0; k < fl->nunits && l + 8 < sizeof(list); k++)
                if (fl->units[k]) {
                    int w = snprintf(list + l, sizeof(list) - l, "%s%d", l ? "," : "", k);
                    l += w > 0 ? (size_t)w : 0;
                }
            kf_notice("lock",
                      "this process (%s) now holds unit(s) %s of %d of flow %s->%s (group %s)",
                      fl->client_id, list, fl->nunits, fl->c->src.alias, fl->c->tgt.alias,
                      fl->c->lock_group);
        }
        fl->held = has && !fl->ended;
        /* The group's assignment stands whatever we fetch: assign nothing,
         * so the lock consumer never reads a record. */
        rd_kafka_topic_partition_list_t *none = rd_kafka_topic_partition_list_new(0);
        rd_kafka_assign(rk, none);
        rd_kafka_topic_partition_list_destroy(none);
        return;
    }
    int lost = rd_kafka_assignment_lost(rk);
    if (fl->held) {
        fl->held = 0;
        fl->ended = 1;
        fl->lost = lost;
        if (fl->closing)
            kf_info("lock", "leaving flow-lock group %s", fl->c->lock_group);
        else
            kf_warn("lock", "flow lock %s: %s; this process stops writing at once",
                    fl->c->lock_group,
                    lost ? "assignment LOST (session timed out or left the group): another "
                           "process may hold the flow now"
                         : "revoked (group rebalance)");
        if (!lost && !fl->closing) {
            fl->release_pending = 1; /* unassign once the writes are acknowledged */
            return;
        }
    }
    rd_kafka_assign(rk, NULL);
}

static int join(flowlock *fl) {
    char host[256] = "";
    if (gethostname(host, sizeof(host) - 1) != 0 || !host[0])
        snprintf(host, sizeof(host), "unknown-host");
    /* join time first: member ids start with the client id, and the range
     * assignor gives partition 0 to the lowest member id, i.e. the oldest */
    snprintf(fl->client_id, sizeof(fl->client_id), "kferry-flow-%013lld-%s-%ld",
             (long long)kf_wall_ms(), host, (long)getpid());
    fl->held = fl->ended = fl->lost = fl->release_pending = 0;
    fl->rk = clients_lock_consumer(fl->c, fl->client_id, on_rebalance, fl);
    if (!fl->rk)
        return -1;
    rd_kafka_poll_set_consumer(fl->rk);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, fl->c->lock_topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(fl->rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (e) {
        kf_err("lock", "cannot subscribe to %s: %s", fl->c->lock_topic, rd_kafka_err2str(e));
        return -1;
    }
    kf_info("lock", "joined flow-lock group %s as %s (session timeout %d ms)", fl->c->lock_group,
            fl->client_id, fl->c->lock_session_ms);
    return 0;
}

/* Sleeps ms in small steps, serving the lock consumer if it exists. */
static void nap(flowlock *fl, int ms, const volatile sig_atomic_t *stop) {
    int64_t end = kf_now_ms() + ms;
    while (!*stop && kf_now_ms() < end) {
        if (fl->rk)
            fl_poll(fl, 100);
        else
            usleep(100000);
    }
}

int fl_open(flowlock *fl, const mirror_config *c, const volatile sig_atomic_t *stop) {
    memset(fl, 0, sizeof(*fl));
    fl->c = c;
    fl->nunits = c->workers > 0 ? c->workers : 1;
    /* the lock consumer itself checks and creates the topic: it never
     * auto-creates topics and it is the handle that will subscribe */
    snprintf(fl->client_id, sizeof(fl->client_id), "kferry-flow-setup");
    rd_kafka_t *rk = clients_lock_consumer(c, fl->client_id, on_rebalance, fl);
    if (!rk)
        return -1;
    int backoff = 500, tries = 0;
    int64_t deadline = kf_now_ms() + (int64_t)c->startup_timeout_s * 1000;
    char cause[1024] = "";
    int was_down = 0;
    while (!*stop) {
        int rc = -1;
        topic_list tl;
        /* the first failure names the cause (librdkafka logs "Connection
         * refused" once per handle); later ones only say it still fails */
        char now_cause[1024];
        int down =
            clients_probe(rk, &c->tgt, CLIENTS_PROBE_TIMEOUT_MS, now_cause, sizeof(now_cause)) != 0;
        if (down && !was_down)
            snprintf(cause, sizeof(cause), "%s", now_cause);
        was_down = down;
        if (!down) {
            snprintf(cause, sizeof(cause), "cluster '%s' (%s): flow-lock topic %s not usable yet",
                     c->tgt.alias, mc_bootstrap(&c->tgt), c->lock_topic);
            if (topics_list(rk, &tl, 15000) == 0) {
                rc = topics_ensure_lock_topic(c, rk, tl.brokers);
                topics_list_free(&tl);
            }
        }
        /* a new topic's leader is elected asynchronously: wait for it */
        int np = rc == 0 ? topics_partition_count(rk, c->lock_topic, 10000) : 0;
        if (np > 0 && np != c->workers) {
            kf_err("lock",
                   "flow-lock topic %s on %s has %d partition(s), one per unit of the flow, but "
                   "kferry.workers=%d: every process of a flow must use the value the flow was "
                   "started with; to change it, stop every process of the flow with SIGTERM, "
                   "delete %s, and start them all with the new value",
                   c->lock_topic, c->tgt.alias, np, c->workers, c->lock_topic);
            rd_kafka_destroy(rk);
            fl->refused = 1;
            return -1;
        }
        if (np > 0)
            break;
        if (kf_now_ms() >= deadline) {
            kf_err("lock",
                   "%s; still failing after %d s of retries (kferry.startup.timeout.seconds): "
                   "check that the address is right and reachable from this host and that the "
                   "cluster is up (`kferry plan` tests both clusters); if the target refuses "
                   "CreateTopics, create %s with %d partition(s)",
                   cause, c->startup_timeout_s, c->lock_topic, c->workers);
            rd_kafka_destroy(rk);
            return -1;
        }
        if (++tries == 1 || tries % 10 == 0)
            kf_warn("lock", "start-up: %s (retrying every %d ms, giving up in %lld s)", cause,
                    backoff, (long long)((deadline - kf_now_ms()) / 1000));
        nap(fl, backoff, stop);
        backoff = backoff < 5000 ? backoff * 2 : 5000;
    }
    rd_kafka_destroy(rk);
    if (*stop)
        return -1;
    return join(fl);
}

int fl_poll(flowlock *fl, int timeout_ms) {
    if (!fl->rk)
        return 0;
    int64_t end = kf_now_ms() + timeout_ms;
    do {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(fl->rk, timeout_ms > 0 ? 50 : 0);
        if (msg) {
            if (msg->err == RD_KAFKA_RESP_ERR_INVALID_SESSION_TIMEOUT && !fl->refused) {
                kf_err("lock",
                       "the target refuses kferry.lock.session.timeout.ms=%d for the flow-lock "
                       "group %s (%s): set it within the target's group.min.session.timeout.ms "
                       "and group.max.session.timeout.ms (Kafka's defaults: 6000 and 1800000)",
                       fl->c->lock_session_ms, fl->c->lock_group, rd_kafka_message_errstr(msg));
                fl->refused = 1;
            } else if (msg->err && msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                int64_t now = kf_now_ms();
                if (msg->err != fl->last_err || now - fl->last_err_ms > 30000)
                    kf_warn("lock", "flow-lock consumer: %s (retrying)",
                            rd_kafka_message_errstr(msg));
                fl->last_err = msg->err;
                fl->last_err_ms = now;
            }
            rd_kafka_message_destroy(msg);
        }
        char fe[512];
        if (rd_kafka_fatal_error(fl->rk, fe, sizeof(fe))) {
            if (!fl->ended)
                kf_err("lock", "flow-lock consumer failed: %s; rejoining as a new member", fe);
            fl->held = 0;
            fl->ended = 1;
            fl->lost = 1;
            return 0;
        }
    } while (!fl->held && kf_now_ms() < end);
    return fl->held && !fl->ended;
}

int fl_after_end(flowlock *fl, const volatile sig_atomic_t *stop) {
    if (!fl->lost) {
        if (fl->release_pending && fl->rk)
            rd_kafka_assign(fl->rk, NULL);
        fl->release_pending = 0;
        fl->ended = 0;
        return 0;
    }
    /* Lost: rejoin as a new, youngest member, so that this process does
     * not take the flow straight back from the one that now holds it. */
    if (fl->rk) {
        fl->closing = 1;
        rd_kafka_consumer_close(fl->rk);
        rd_kafka_destroy(fl->rk);
        fl->rk = NULL;
        fl->closing = 0;
    }
    while (!*stop) {
        if (join(fl) == 0)
            return 0;
        if (fl->rk) {
            rd_kafka_destroy(fl->rk);
            fl->rk = NULL;
        }
        nap(fl, 2000, stop);
    }
    return -1;
}

void fl_close(flowlock *fl) {
    if (!fl->rk)
        return;
    fl->closing = 1;
    rd_kafka_consumer_close(fl->rk); /* LeaveGroup: a standby takes over now */
    rd_kafka_destroy(fl->rk);
    fl->rk = NULL;
    fl->held = 0;
}

int fl_describe(rd_kafka_t *rk, const mirror_config *c, fl_view *v, char *err, size_t errlen) {
    memset(v, 0, sizeof(*v));
    ga_group g;
    if (ga_describe(rk, c->lock_group, 10000, &g, err, errlen) != 0)
        return -1;
    snprintf(v->state, sizeof(v->state), "%s",
             rd_kafka_consumer_group_state_name((rd_kafka_consumer_group_state_t)g.state));
    v->members = (int)g.nmembers;
    size_t sl = 0;
    for (size_t i = 0; i < g.nmembers; i++) {
        const ga_member *m = &g.members[i];
        int holds = 0;
        for (int k = 0; m->assignment && k < m->assignment->cnt; k++)
            if (!strcmp(m->assignment->elems[k].topic, c->lock_topic)) {
                holds |= m->assignment->elems[k].partition == 0;
                v->units_held++;
            }
        if (holds && !v->found) {
            v->found = 1;
            snprintf(v->holder, sizeof(v->holder), "%s", m->client_id);
            snprintf(v->host, sizeof(v->host), "%s", m->host);
        } else if (sl + 1 < sizeof(v->standbys)) {
            int n = snprintf(v->standbys + sl, sizeof(v->standbys) - sl, "%s%s", sl ? "," : "",
                             m->client_id);
            if (n > 0)
                sl += (size_t)n;
            if (sl >= sizeof(v->standbys))
                sl = sizeof(v->standbys) - 1;
        }
    }
    ga_group_free(&g);
    return 0;
}
