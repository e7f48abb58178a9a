/*
 * fuzz_request.c - libFuzzer harness for the broker's request path:
 * kb_req_parse_header + kb_dispatch into every handler, over a real store
 * in a temporary data directory.
 *
 * The input is a client's byte stream: [i32 size][frame] repeated, as the
 * server reads it, so one input can create a topic, produce and fetch.
 * Each input starts from an empty broker, so any crash reproduces from its
 * input alone.  The broker is opened once and reset between inputs through
 * the store and group APIs (broker_reset); KFERRY_FUZZ_REOPEN=1 closes,
 * wipes and reopens it per input instead (slow, for double-checking that a
 * crash does not depend on state the reset missed).  Oracles: every
 * response is framed with a size matching its length and echoes the
 * correlation id.
 */
#include "fuzz_env.h"
#include "broker/broker.h"
#include "broker/dispatch.h"
#include "broker/group.h"
#include "broker/group_int.h"
#include "broker/sasl.h"
#include "broker/store.h"
#include "broker/store_int.h"
#include "broker/txn.h"
#include "common/log.h"
#include "common/util.h"

#include <unistd.h>

#include <errno.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_FRAMES 32
#define MAX_PARK_RETRIES 3

static kb_broker g_b;
static char g_dir[4096];
static int g_open;
static int g_trace;
static int64_t g_journal0; /* the offsets journal size of a fresh broker */
static int g_reopen;       /* KFERRY_FUZZ_REOPEN: full close/wipe/open per input */
static int64_t g_txnj0;    /* transactions.log size of a fresh broker */

static void die(const char *what, const char *err) {
    fprintf(stderr, "fuzz_request: %s: %s\n", what, err);
    abort();
}

/* Size of kferry-meta/transactions.log, -1 if missing. */
static int64_t txn_journal_size(void) {
    char path[4200];
    struct stat st;
    snprintf(path, sizeof(path), "%s/kferry-meta/transactions.log", g_dir);
    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

static void broker_open(void) {
    char err[4096];
    kb_config_defaults(&g_b.cfg);
    /* Fixed cluster id: nothing is persisted at open, so reopening per
     * input is cheap.  No rebalance delay and small segments so groups
     * complete and segments roll within one input. */
    static const char *props[][2] = {
        {"cluster.id", "kferry-fuzz-cluster-id"},
        {"listeners", "PLAINTEXT://127.0.0.1:9092"},
        {"group.initial.rebalance.delay.ms", "0"},
        {"log.segment.bytes", "16384"},
        {"log.index.interval.bytes", "256"},
        {"message.max.bytes", "262144"},
        {"socket.request.max.bytes", "1048576"},
        /* Every partition is created on disk at once: keep an input's
         * worth of CreateTopics within the unit timeout. */
        {"max.partitions.per.topic", "64"},
    };
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++)
        if (kf_props_set(&g_b.cfg.raw, props[i][0], props[i][1]) != 0)
            die("props", "out of memory");
    if (kb_config_apply(&g_b.cfg, &g_b.cfg.raw, err, sizeof(err)) != 0)
        die("config", err);
    kf_strlcpy(g_b.cfg.listen_host, "127.0.0.1", sizeof(g_b.cfg.listen_host));
    g_b.cfg.listen_port = 9092;
    if (kf_strlcpy(g_b.cfg.data_dir, g_dir, sizeof(g_b.cfg.data_dir)) != 0)
        die("data dir", "path too long");
    if (kb_broker_open(&g_b, err, sizeof(err)) != 0)
        die("open", err);
    g_journal0 = g_b.groups->jsize;
    g_txnj0 = txn_journal_size();
    if (kb_store_topic_count(g_b.store) != 0)
        die("open", "a fresh broker has topics: broker_reset would remove them");
    g_open = 1;
}

static void broker_close(void) {
    if (!g_open)
        return;
    kb_broker_close(&g_b);
    kb_config_free(&g_b.cfg);
    memset(&g_b, 0, sizeof(g_b));
    g_open = 0;
    /* Wipe the data directory so the next input starts empty. */
    kf_rmtree(g_dir);
    if (mkdir(g_dir, 0700) != 0)
        die("mkdir", g_dir);
}

/* Brings the open broker back to the state broker_open left it in: no
 * topics, no groups, no committed offsets, producer ids from 0.  Whatever
 * state a handler can create must be undone here (new kinds of state, e.g.
 * transactions, need a line here), and the checks at the end make a missed
 * topic or group fail loudly instead of leaking into the next input. */
static void broker_reset(void) {
    char path[4200], err[4096];
    while (kb_store_topic_count(g_b.store) > 0) {
        kb_topic *t = kb_store_topic_at(g_b.store, 0);
        char name[256];
        if (kf_strlcpy(name, t->name, sizeof(name)) != 0)
            die("reset", "topic name too long");
        if (kb_store_delete(g_b.store, name, strlen(name)) != 0)
            die("reset", "cannot delete a topic");
        kb_groups_topic_deleted(g_b.groups, name);
    }
    /* Groups and their offsets: drop the coordinator and its journal
     * unless the input left both untouched. */
    if (g_b.groups->ngroups == 0 && g_b.groups->jsize == g_journal0)
        goto groups_done;
    kb_groups_close(g_b.groups);
    g_b.groups = NULL;
    /* Only the offsets journal: kferry-meta also holds the topics'
     * metadata (kferry-meta/topics) and the transaction journal. */
    snprintf(path, sizeof(path), "%s/kferry-meta/group-offsets.log", g_dir);
    if (unlink(path) != 0 && errno != ENOENT)
        die("reset", "cannot remove group-offsets.log");
    if (kb_groups_open(&g_b.groups, &g_b, g_dir, err, sizeof(err)) != 0)
        die("groups reopen", err);
    if (g_b.groups->jsize != g_journal0)
        die("reset", "the reopened offsets journal is not empty");
groups_done:
    /* Transaction coordinator: per-partition transaction state (open and
     * aborted transactions) went with the topics; the coordinator's
     * transactional ids and its journal are dropped and reopened empty
     * unless the input left both untouched. */
    if (kb_txn_count(&g_b) != 0 || txn_journal_size() != g_txnj0) {
        kb_txns_close(&g_b);
        snprintf(path, sizeof(path), "%s/kferry-meta/transactions.log", g_dir);
        if (unlink(path) != 0 && errno != ENOENT)
            die("reset", "cannot remove transactions.log");
        if (kb_txns_open(&g_b, err, sizeof(err)) != 0)
            die("txns reopen", err);
        if (kb_txn_count(&g_b) != 0 || txn_journal_size() != g_txnj0)
            die("reset", "the reopened transaction journal is not empty");
    }
    /* SCRAM credentials (AlterUserScramCredentials): drop the store file
     * and reload it empty unless the input left it untouched. */
    snprintf(path, sizeof(path), "%s/kferry-meta/scram-credentials", g_dir);
    if (g_b.sasl && (g_b.sasl->creds.n != 0 || access(path, F_OK) == 0)) {
        if (unlink(path) != 0 && errno != ENOENT)
            die("reset", "cannot remove scram-credentials");
        if (kb_creds_reload(&g_b.sasl->creds, err, sizeof(err)) != 0)
            die("creds reload", err);
        if (g_b.sasl->creds.n != 0)
            die("reset", "the reloaded credential store is not empty");
    }
    /* The log cleaner's back-off clock: an idle pass in one input must not
     * delay compaction in the next. */
    g_b.store->cleaner_idle_ms = 0;
    g_b.next_producer_id = 0;
    if (kb_store_state_get(g_b.store, "next.producer.id") &&
        kb_store_state_set(g_b.store, "next.producer.id", "0") != 0)
        die("reset", "cannot reset next.producer.id");
    if (kb_store_topic_count(g_b.store) != 0)
        die("reset", "topics left over");
}

static void cleanup(void) {
    broker_close();
    kf_rmtree(g_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_env_init(g_dir, sizeof(g_dir), "request");
    g_trace = getenv("KFERRY_FUZZ_TRACE") != NULL;
    g_reopen = getenv("KFERRY_FUZZ_REOPEN") != NULL;
    atexit(cleanup);
    return 0;
}

static void check_response(const kb_req *r, const kf_buf *resp, size_t start) {
    if (resp->len - start < 8)
        abort();
    const uint8_t *p = resp->data + start;
    if (kf_be32(p) != resp->len - start - 4)
        abort(); /* size prefix must frame exactly the response */
    if ((int32_t)kf_be32(p + 4) != r->correlation_id)
        abort();
}

/* Runs one frame like server.c does. Returns 0 to go on with the next
 * frame, -1 when the server would have dropped the connection. */
static int one_frame(const uint8_t *data, size_t size, kf_buf *resp) {
    kb_req r;
    memset(&r, 0, sizeof(r));
    /* Exact-size heap copy so ASan flags any read past the frame. */
    r.frame = malloc(size);
    if (!r.frame)
        return -1;
    memcpy(r.frame, data, size);
    r.frame_len = size;
    r.peer = "fuzz:1";
    r.arrived_ms = kf_now_ms();
    char why[256];
    int rc = -1;
    size_t start = resp->len;
    if (kb_req_parse_header(&r, why, sizeof(why)) != 0) {
        if (g_trace)
            fprintf(stderr, "trace: header rejected: %s\n", why);
        goto out;
    }
    rc = kb_dispatch(&g_b, &r, resp);
    while (rc == KB_PARK && r.retries < MAX_PARK_RETRIES) {
        /* Pretend time passed: long polls expire, groups get a tick. */
        r.retries++;
        r.arrived_ms = kf_now_ms() - 10LL * 24 * 3600 * 1000;
        kb_groups_tick(g_b.groups, kf_now_ms());
        rc = kb_dispatch(&g_b, &r, resp);
    }
    if (g_trace) /* KFERRY_FUZZ_TRACE=1: one line per request, for seed work */
        fprintf(stderr, "trace: %s v%d -> rc %d, %zu response bytes\n", kf_api_name(r.api_key),
                r.api_version, rc, resp->len - start);
    if (rc == KB_OK)
        check_response(&r, resp, start);
    else if (resp->len != start)
        abort(); /* "resp is unchanged unless KB_OK" */
    /* Still parked: the client went away, as on a closed connection. */
    rc = rc == KB_OK || rc == KB_NORESP ? 0 : -1;
out:
    if (r.park_free && r.park_state)
        r.park_free(r.park_state);
    free(r.frame);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_open)
        broker_open();
    kf_buf resp;
    kf_buf_init(&resp, 0);
    size_t pos = 0;
    for (int n = 0; n < MAX_FRAMES && size - pos >= 4; n++) {
        int32_t fsz = (int32_t)kf_be32(data + pos);
        pos += 4;
        /* Same framing rule as server.c: below 8 or above the limit
         * closes the connection. */
        if (fsz < 8 || fsz > g_b.cfg.socket_request_max_bytes || (size_t)fsz > size - pos)
            break;
        int rc = one_frame(data + pos, (size_t)fsz, &resp);
        pos += (size_t)fsz;
        if (rc != 0)
            break;
        kf_buf_reset(&resp);
    }
    kb_groups_tick(g_b.groups, kf_now_ms());
    kb_txns_tick(&g_b, kf_wall_ms());
    kb_store_tick(g_b.store, kf_wall_ms());
    kf_buf_free(&resp);
    if (g_reopen)
        broker_close();
    else
        broker_reset();
    return 0;
}
