/*
 * fuzz_store.c - libFuzzer harness for everything the broker reads back
 * from its data directory at start-up: segment .log/.index/.timeindex
 * files (crash recovery), the offset checkpoints, the clean-shutdown
 * marker, topic and broker .properties, the group-offsets journal, the
 * transaction journal and the segments' .txnindex files.
 * Disk files are hostile input too.
 *
 * The input is a list of files: [u8 file][u16 big-endian length][bytes],
 * repeated.  `file` picks a path from FILES (modulo its size); a later
 * entry for the same path replaces the earlier one.  Paths the input does
 * not give get a default: a valid one-partition topic "t", no checkpoints,
 * no clean marker (so recovery runs), empty segments are simply absent.
 * Each input starts from an emptied directory, so a crash reproduces from
 * the input alone.
 *
 * Oracles, when the broker opens:
 *  - every partition reads from its log start to its log end in whole
 *    batches whose offsets increase; after an unclean shutdown with no
 *    recovery point (full recovery) every batch also has a good CRC:
 *    recovery must have cut everything else;
 *  - a clean close followed by a reopen gives the same log start and end
 *    offsets and the same last stable offset (open transactions, from the
 *    transaction journal and the log) for every partition.
 */
#include "fuzz_env.h"
#include "broker/broker.h"
#include "broker/group.h"
#include "broker/store.h"
#include "broker/txn.h"
#include "common/log.h"
#include "common/props.h"
#include "common/util.h"
#include "proto/batch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* File slots an input can fill.  Append new ones at the end so committed
 * seeds keep their meaning (gen_seeds.c writes seeds by slot number). */
static const char *const FILES[] = {
    "t-0/00000000000000000000.log",
    "t-0/00000000000000000000.index",
    "t-0/00000000000000000000.timeindex",
    "t-0/00000000000000000100.log",
    "t-0/00000000000000000100.index",
    "t-0/00000000000000000100.timeindex",
    "recovery-point-offset-checkpoint",
    "log-start-offset-checkpoint",
    "kferry-meta/topics/t.properties",
    "kferry-meta/broker.properties",
    "kferry-meta/group-offsets.log",
    ".kafka_cleanshutdown",
    "t-0/partition.metadata",
    "t-0/00000000000000000000.txnindex",
    "t-0/00000000000000000100.txnindex",
    "kferry-meta/transactions.log",
};
#define NFILES (sizeof(FILES) / sizeof(FILES[0]))
#define SLOT_RP 6
#define SLOT_TOPIC 8
#define SLOT_CLEAN 11

static const char DEFAULT_TOPIC[] = "name=t\nid=0123456789abcdef0123456789abcdef\npartitions=1\n";

static char g_dir[4096];

static void die(const char *what, const char *detail) {
    fprintf(stderr, "fuzz_store: %s: %s\n", what, detail);
    abort();
}

static void cleanup(void) { kf_rmtree(g_dir); }

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_env_init(g_dir, sizeof(g_dir), "store");
    atexit(cleanup);
    return 0;
}

static void write_file(const char *rel, const uint8_t *data, size_t len) {
    char path[4200], dir[4200];
    snprintf(path, sizeof(path), "%s/%s", g_dir, rel);
    kf_strlcpy(dir, path, sizeof(dir));
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        if (kf_mkdirs(dir, 0755) != 0)
            die("mkdir", dir);
    }
    FILE *f = fopen(path, "wb");
    if (!f || (len > 0 && fwrite(data, 1, len, f) != len))
        die("write", path);
    fclose(f);
}

static void open_broker(kb_broker *b) {
    memset(b, 0, sizeof(*b));
    kb_config_defaults(&b->cfg);
    char err[4096];
    static const char *props[][2] = {
        {"log.segment.bytes", "16384"},
        {"log.index.interval.bytes", "256"},
        {"message.max.bytes", "262144"},
    };
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++)
        if (kf_props_set(&b->cfg.raw, props[i][0], props[i][1]) != 0)
            die("props", "out of memory");
    if (kb_config_apply(&b->cfg, &b->cfg.raw, err, sizeof(err)) != 0)
        die("config", err);
    kf_strlcpy(b->cfg.data_dir, g_dir, sizeof(b->cfg.data_dir));
}

typedef struct offsets {
    int64_t start, end, lso;
} offsets;

/* Reads every partition from log start to log end; returns the number of
 * partitions seen, their offsets in out[] (up to max). */
static size_t read_all(kb_broker *b, int full_recovery, offsets *out, size_t max) {
    size_t n = 0;
    kf_buf buf;
    kf_buf_init(&buf, 0);
    for (size_t i = 0; i < kb_store_topic_count(b->store); i++) {
        kb_topic *t = kb_store_topic_at(b->store, i);
        for (int32_t j = 0; j < t->nparts; j++) {
            kb_part *p = t->parts[j];
            int64_t start = kb_part_log_start(p), end = kb_part_log_end(p);
            if (start > end)
                abort();
            if (n < max)
                out[n] = (offsets){start, end, kb_txn_lso(p)};
            n++;
            int64_t off = start;
            while (off < end) {
                kf_buf_reset(&buf);
                if (kb_part_read(p, off, 1 << 20, &buf) != 0 || buf.len == 0)
                    break; /* an I/O error on a torn file is a fair answer */
                size_t pos = 0;
                int64_t next = off;
                while (pos < buf.len) {
                    kf_batch_hdr h;
                    if (kf_batch_parse_hdr(buf.data + pos, buf.len - pos, &h) != 0 ||
                        kf_batch_size(&h) > buf.len - pos) {
                        if (full_recovery)
                            abort(); /* recovery kept a batch that does not parse */
                        break;
                    }
                    if (full_recovery && !kf_batch_crc_ok(buf.data + pos, kf_batch_size(&h)))
                        abort(); /* recovery kept a batch with a bad CRC */
                    int64_t last = kf_batch_last_offset(&h);
                    if (full_recovery && (last < next || last >= end))
                        abort(); /* offsets must increase and stay below log end */
                    if (last >= next)
                        next = last + 1;
                    pos += kf_batch_size(&h);
                }
                if (next <= off)
                    break; /* no progress: only possible on trusted (clean) garbage */
                off = next;
            }
        }
    }
    kf_buf_free(&buf);
    return n;
}

/* A topic file naming more than MAX_PARTS partitions is skipped: each
 * partition is a directory with its own segment files, created, recovered,
 * closed and removed per input, while only t-0 has files the input wrote.
 * A hundred empty partitions test nothing eight do not, at a tenth of the
 * speed. Values that do not parse still go to the broker (it must refuse). */
#define MAX_PARTS 8
static int too_many_partitions(const uint8_t *text, size_t len) {
    kf_props p;
    kf_props_init(&p);
    char err[256];
    int64_t n = 0;
    int skip = kf_props_parse(&p, (const char *)text, len, err, sizeof(err)) == 0 &&
               kf_props_get(&p, "partitions") &&
               kf_parse_i64(kf_props_get(&p, "partitions"), MAX_PARTS + 1, INT64_MAX, &n) == 0;
    kf_props_free(&p);
    return skip;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *slot[NFILES] = {0};
    size_t slot_len[NFILES] = {0};
    int given[NFILES] = {0};
    size_t pos = 0;
    while (size - pos >= 3) {
        size_t f = data[pos] % NFILES;
        size_t len = ((size_t)data[pos + 1] << 8) | data[pos + 2];
        pos += 3;
        if (len > size - pos)
            len = size - pos;
        slot[f] = data + pos;
        slot_len[f] = len;
        given[f] = 1;
        pos += len;
    }

    if (given[SLOT_TOPIC] && too_many_partitions(slot[SLOT_TOPIC], slot_len[SLOT_TOPIC]))
        return 0;
    kf_rmtree(g_dir);
    if (mkdir(g_dir, 0700) != 0)
        die("mkdir", g_dir);
    for (size_t f = 0; f < NFILES; f++)
        if (given[f])
            write_file(FILES[f], slot[f], slot_len[f]);
    if (!given[SLOT_TOPIC])
        write_file(FILES[SLOT_TOPIC], (const uint8_t *)DEFAULT_TOPIC, sizeof(DEFAULT_TOPIC) - 1);
    char tdir[4200];
    snprintf(tdir, sizeof(tdir), "%s/t-0", g_dir);
    if (kf_mkdirs(tdir, 0755) != 0)
        die("mkdir", tdir);
    int full_recovery = !given[SLOT_CLEAN] && !given[SLOT_RP];

    kb_broker b;
    open_broker(&b);
    char err[4096];
    if (kb_broker_open(&b, err, sizeof(err)) != 0) {
        kb_config_free(&b.cfg);
        return 0; /* refused with a message: the right answer to bad files */
    }
    offsets first[64], second[64];
    size_t n1 = read_all(&b, full_recovery, first, 64);
    kb_broker_close(&b);
    kb_config_free(&b.cfg);

    /* What a clean close wrote must reopen to the same offsets. */
    open_broker(&b);
    if (kb_broker_open(&b, err, sizeof(err)) != 0)
        die("reopen after a clean close", err);
    size_t n2 = read_all(&b, 0, second, 64);
    if (n1 != n2)
        abort();
    for (size_t i = 0; i < n1 && i < 64; i++)
        if (first[i].start != second[i].start || first[i].end != second[i].end ||
            first[i].lso != second[i].lso)
            abort();
    kb_broker_close(&b);
    kb_config_free(&b.cfg);
    return 0;
}
