/*
 * broker.c - opening and closing the broker's state (store, groups,
 * producer state) independently of the network, so tests and the fuzz
 * harness can drive handlers directly.
 */
#include "broker/broker.h"

#include "broker/acl.h"
#include "broker/group.h"
#include "broker/pidstate.h"
#include "broker/sasl.h"
#include "broker/store.h"
#include "broker/txn.h"
#include "common/log.h"
#include "common/util.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void kb_log_cfg_from_broker(const kb_config *c, kb_log_cfg *l) {
    memset(l, 0, sizeof(*l));
    l->segment_bytes = c->segment_bytes;
    l->segment_ms = c->segment_ms;
    l->retention_bytes = c->retention_bytes;
    l->retention_ms = c->retention_ms;
    l->flush_messages = c->flush_messages;
    l->flush_ms = c->flush_ms;
    l->index_interval_bytes = c->index_interval_bytes;
    l->segment_index_bytes = c->index_max_bytes;
    l->max_message_bytes = c->message_max_bytes;
    l->retention_check_ms = c->retention_check_ms;
    l->compact = (c->cleanup_policy & 2) != 0;
    l->no_delete = (c->cleanup_policy & 1) == 0;
    l->min_cleanable_ratio = c->cleaner_min_ratio;
    l->min_compact_lag_ms = c->min_compact_lag_ms;
    l->max_compact_lag_ms = c->max_compact_lag_ms;
    l->delete_retention_ms = c->delete_retention_ms;
    l->cleaner_enable = c->cleaner_enable;
    l->cleaner_backoff_ms = c->cleaner_backoff_ms;
}

/* 16 random bytes as 22 base64url characters, like Kafka's cluster ids. */
static void random_id(char *out, size_t outlen) {
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t raw[16] = {0};
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, raw, sizeof(raw)) != (ssize_t)sizeof(raw))
            memset(raw, 0x5a, sizeof(raw));
        close(fd);
    }
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < sizeof(raw) && o + 1 < outlen; i++) {
        acc = (acc << 8) | raw[i];
        bits += 8;
        while (bits >= 6 && o + 1 < outlen) {
            out[o++] = b64[(acc >> (bits - 6)) & 63];
            bits -= 6;
        }
    }
    if (bits > 0 && o + 1 < outlen)
        out[o++] = b64[(acc << (6 - bits)) & 63];
    out[o] = '\0';
}

int kb_broker_open(kb_broker *b, char *err, size_t errlen) {
    kb_log_cfg defaults;
    kb_log_cfg_from_broker(&b->cfg, &defaults);
    if (kb_store_open(&b->store, b->cfg.data_dir, &defaults, err, errlen) != 0)
        return -1;
    if (!b->cfg.cluster_id[0]) {
        const char *cid = kb_store_state_get(b->store, "cluster.id");
        if (cid) {
            kf_strlcpy(b->cfg.cluster_id, cid, sizeof(b->cfg.cluster_id));
        } else {
            random_id(b->cfg.cluster_id, sizeof(b->cfg.cluster_id));
            if (kb_store_state_set(b->store, "cluster.id", b->cfg.cluster_id) != 0) {
                snprintf(err, errlen, "cannot persist cluster id in %s", b->cfg.data_dir);
                kb_store_close(b->store);
                b->store = NULL;
                return -1;
            }
        }
    }
    if (kb_groups_open(&b->groups, b, b->cfg.data_dir, err, errlen) != 0) {
        kb_store_close(b->store);
        b->store = NULL;
        return -1;
    }
    kb_pidstate_rebuild(b);
    if (kb_txns_open(b, err, errlen) != 0) {
        kb_groups_close(b->groups);
        b->groups = NULL;
        kb_store_close(b->store);
        b->store = NULL;
        return -1;
    }
    if (kb_sasl_open(b, err, errlen) != 0 || kb_acl_open(b, err, errlen) != 0) {
        kb_broker_close(b);
        return -1;
    }
    return 0;
}

void kb_broker_close(kb_broker *b) {
    kb_acl_close(b);
    kb_sasl_close(b);
    kb_txns_close(b);
    if (b->groups)
        kb_groups_close(b->groups);
    b->groups = NULL;
    if (b->store)
        kb_store_close(b->store);
    b->store = NULL;
}

void kb_req_endpoint(const kb_broker *b, const kb_req *r, const char **host, int *port) {
    const kb_listener *l = r ? r->listener : NULL;
    if (!l && b->cfg.listeners.n)
        l = &b->cfg.listeners.l[0];
    if (l && l->adv_host[0]) {
        *host = l->adv_host;
        *port = l->adv_port ? l->adv_port : l->port;
        return;
    }
    *host = b->cfg.advertised_host[0] ? b->cfg.advertised_host
            : b->cfg.listen_host[0]   ? b->cfg.listen_host
                                      : "localhost";
    *port = b->cfg.advertised_port ? b->cfg.advertised_port : b->cfg.listen_port;
}
