/*
 * fuzz_cleaner.c - libFuzzer harness for the log cleaner (cleaner.c):
 * input bytes become the batches of a compacted partition with small
 * segments, then the cleaner runs over it (kb_store_tick, as the broker
 * calls it), then the store is closed and reopened (clean or unclean stop,
 * chosen by the input).
 *
 * Input: [u8 flags] then batches: [u8 batch][u8 nrec] then nrec records
 * of [u8 key][u8 rec].
 *   flags bit 0: unclean stop before the reopen (full recovery);
 *         bit 1: delete.retention.ms=0 (tombstones may go), else 1 day;
 *         bits 2-3: segment.bytes 512 << n.
 *   batch: codec = (batch & 7) % 5; bit 3: idempotent producer id
 *          (batch >> 4), sequences counted per producer.
 *   nrec: 1 + nrec % 16.
 *   key: one of 24 keys (key % 24); rec bit 0: tombstone, bits 1-6: value
 *        length 0-63 (the value is the record's own offset, repeated).
 *   Bytes past the first MAXIN (256) are ignored.
 *
 * Oracles: no crash; reading the partition gives records whose offsets
 * strictly increase; below the cleaner checkpoint every kept record is the
 * latest record of its key below the checkpoint, and every such latest
 * record is kept (a tombstone may be gone when delete.retention.ms=0);
 * from the checkpoint on, every record appended is there; each kept
 * record's key and value are the ones appended at its offset; after the
 * reopen the partition reads back the same records.
 *
 * One store is opened at start-up in /dev/shm (TMPDIR if set) and reused:
 * each input creates topic "c", and deletes it at the end.
 */
#include "fuzz_env.h"
#include "broker/store.h"
#include "common/log.h"
#include "common/util.h"
#include "proto/batch.h"
#include "proto/compress.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Inputs are cut at MAXIN bytes (at most 127 records): every record costs
 * appends, segment rolls and cleaner renames on disk, and a hundred
 * records over 512 B-4 KiB segments already make several segments, several
 * producers and tombstones. smoke.sh passes the same -max_len. */
#define MAXIN 256
#define MAXREC 256
#define MAXBATCH 128
#define NKEYS 24

typedef struct rec {
    int64_t off;
    uint8_t key;
    uint8_t vlen;
    uint8_t tomb;
} rec;

static char g_dir[4096];
static kb_store *g_s;
static rec g_w[MAXREC]; /* what was appended, by offset order */
static int g_nw;
static rec g_got[MAXREC], g_got2[MAXREC];

static void die(const char *what, const char *detail) {
    fprintf(stderr, "fuzz_cleaner: %s: %s\n", what, detail);
    abort();
}

static void store_open(void) {
    kb_log_cfg c;
    memset(&c, 0, sizeof(c));
    c.segment_bytes = 1073741824;
    c.segment_ms = 604800000;
    c.retention_bytes = -1;
    c.retention_ms = -1;
    c.flush_messages = INT64_MAX;
    c.flush_ms = INT64_MAX;
    c.index_interval_bytes = 256;
    c.segment_index_bytes = 65536; /* small segments need small indexes: faster */
    c.max_message_bytes = 1048588;
    c.retention_check_ms = 0;
    c.min_cleanable_ratio = 0.5;
    c.max_compact_lag_ms = INT64_MAX;
    c.delete_retention_ms = 86400000;
    c.cleaner_enable = 1;
    c.cleaner_backoff_ms = 0;
    char err[512] = "";
    if (kb_store_open(&g_s, g_dir, &c, err, sizeof(err)) != 0)
        die("store open", err);
}

static void cleanup(void) {
    if (g_s)
        kb_store_close(g_s);
    kf_rmtree(g_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_env_init(g_dir, sizeof(g_dir), "cleaner");
    store_open();
    atexit(cleanup);
    return 0;
}

static const rec *written_at(int64_t off) {
    int lo = 0, hi = g_nw - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (g_w[mid].off == off)
            return &g_w[mid];
        if (g_w[mid].off < off)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

/* "<offset>," repeated to vlen bytes (offsets here are small and >= 0). */
static void value_of(int64_t off, uint8_t vlen, uint8_t *out) {
    char rev[24];
    int n = 0;
    do {
        rev[n++] = (char)('0' + off % 10);
        off /= 10;
    } while (off > 0 && n < 22);
    char digits[24];
    for (int i = 0; i < n; i++)
        digits[i] = rev[n - 1 - i];
    digits[n++] = ',';
    for (int i = 0, j = 0; i < vlen; i++, j = j + 1 == n ? 0 : j + 1)
        out[i] = (uint8_t)digits[j];
}

/* Key k as the record carries it: "k<k>". */
static int key_of(uint8_t k, char *out) {
    out[0] = 'k';
    if (k < 10) {
        out[1] = (char)('0' + k);
        return 2;
    }
    out[1] = (char)('0' + k / 10);
    out[2] = (char)('0' + k % 10);
    return 3;
}

typedef struct reader {
    rec *out;
    int n;
} reader;

static int rec_cb(const kf_batch_hdr *h, const kf_record *r, void *opaque) {
    (void)h;
    reader *rd = opaque;
    if (rd->n >= MAXREC)
        abort(); /* more records than were appended */
    const rec *w = written_at(r->offset);
    if (!w)
        abort(); /* a record at an offset never appended */
    char key[8];
    int kl = key_of(w->key, key);
    if (r->key_len != kl || memcmp(r->key, key, (size_t)kl) != 0)
        abort(); /* the key moved */
    if (w->tomb ? r->value_len != -1 : r->value_len != w->vlen)
        abort();
    if (!w->tomb) {
        uint8_t v[128];
        value_of(w->off, w->vlen, v);
        if (w->vlen && memcmp(r->value, v, w->vlen) != 0)
            abort(); /* the value moved */
    }
    rd->out[rd->n++] = *w;
    return 0;
}

/* Reads the whole partition; returns the record count. */
static int read_all(kb_part *p, rec *out) {
    reader rd = {out, 0};
    int64_t off = kb_part_log_start(p), end = kb_part_log_end(p);
    kf_buf buf;
    kf_buf_init(&buf, 0);
    while (off < end) {
        kf_buf_reset(&buf);
        if (kb_part_read(p, off, 1 << 20, &buf) != 0 || buf.len == 0)
            die("read", "the cleaned log does not read to its end");
        size_t pos = 0;
        int64_t next = off;
        while (pos < buf.len) {
            kf_batch_hdr h;
            if (kf_batch_parse_hdr(buf.data + pos, buf.len - pos, &h) != 0)
                break; /* a partial batch at the end of the read */
            size_t n = kf_batch_size(&h);
            if (n > buf.len - pos)
                break;
            if (!kf_batch_crc_ok(buf.data + pos, n))
                die("read", "a cleaned batch has a bad CRC");
            if (kf_batch_last_offset(&h) >= next) {
                if (kf_batch_foreach(buf.data + pos, n, 1 << 24, rec_cb, &rd) != 0)
                    die("read", "a cleaned batch does not iterate");
                next = kf_batch_last_offset(&h) + 1;
            }
            pos += n;
        }
        if (next <= off)
            die("read", "no progress");
        off = next;
    }
    kf_buf_free(&buf);
    for (int i = 1; i < rd.n; i++)
        if (out[i].off <= out[i - 1].off)
            abort(); /* offsets must strictly increase */
    return rd.n;
}

static int64_t cleaner_point(void) {
    char path[4200], line[512];
    snprintf(path, sizeof(path), "%s/cleaner-offset-checkpoint", g_dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int64_t cp = 0;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "c 0 ", 4) == 0) {
            char *e;
            long long v = strtoll(line + 4, &e, 10);
            if (e != line + 4)
                cp = v;
        }
    fclose(f);
    return cp;
}

static void check_model(const rec *got, int ngot, int64_t cp, int tomb_may_go) {
    /* last[k]: index in g_w of key k's last record below cp */
    int last[NKEYS];
    for (int k = 0; k < NKEYS; k++)
        last[k] = -1;
    for (int i = 0; i < g_nw && g_w[i].off < cp; i++)
        last[g_w[i].key] = i;
    int g = 0;
    for (int i = 0; i < g_nw; i++) {
        const rec *w = &g_w[i];
        int latest = last[w->key] == i; /* the last of its key below cp */
        int present = g < ngot && got[g].off == w->off;
        int must = w->off >= cp || (latest && !(tomb_may_go && w->tomb));
        int may = w->off >= cp || latest;
        if (present && !may)
            abort(); /* kept a record a later one of its key replaced */
        if (!present && must)
            abort(); /* lost the latest record of a key, or an uncleanable one */
        g += present;
    }
    if (g != ngot)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    if (size > MAXIN)
        size = MAXIN;
    uint8_t flags = data[0];
    size_t pos = 1;
    char segbytes[16];
    snprintf(segbytes, sizeof(segbytes), "%d", 512 << ((flags >> 2) & 3));
    kf_props props;
    kf_props_init(&props);
    if (kf_props_set(&props, "cleanup.policy", "compact") != 0 ||
        kf_props_set(&props, "segment.bytes", segbytes) != 0 ||
        kf_props_set(&props, "min.cleanable.dirty.ratio", "0.01") != 0 ||
        kf_props_set(&props, "delete.retention.ms", (flags & 2) ? "0" : "86400000") != 0)
        die("props", "out of memory");
    kb_topic *t = NULL;
    char err[512];
    if (kb_store_create(g_s, "c", 1, &props, &t, err, sizeof(err)) != 0)
        die("create", err);
    kf_props_free(&props);
    kb_part *p = t->parts[0];

    g_nw = 0;
    int32_t seq[16] = {0};
    int64_t now = kf_wall_ms();
    kf_buf out;
    kf_buf_init(&out, 0);
    for (int nb = 0; nb < MAXBATCH && size - pos >= 2; nb++) {
        uint8_t bh = data[pos], nrec = (uint8_t)(1 + data[pos + 1] % 16);
        pos += 2;
        if ((size - pos) / 2 < nrec || g_nw + nrec > MAXREC)
            break;
        kf_batch_builder b;
        kf_batch_builder_init(&b, (bh & 7) % 5);
        int pid = bh >> 4;
        if (bh & 8) {
            b.producer_id = 1000 + pid;
            b.producer_epoch = 0;
            b.base_sequence = seq[pid];
            seq[pid] += nrec;
        }
        rec pend[16];
        for (int i = 0; i < nrec; i++, pos += 2) {
            rec *r = &pend[i];
            r->key = (uint8_t)(data[pos] % NKEYS);
            r->tomb = data[pos + 1] & 1;
            r->vlen = r->tomb ? 0 : (uint8_t)((data[pos + 1] >> 1) & 63);
            /* The value names the record's offset: known only after the
             * append, so use the log end (the builder's offsets are
             * relative, the store assigns base = log end). */
            int64_t off = kb_part_log_end(p) + i;
            uint8_t v[128];
            value_of(off, r->vlen, v);
            char key[8];
            int kl = key_of(r->key, key);
            if (kf_batch_builder_add(&b, now + g_nw + i, key, kl, r->tomb ? NULL : v,
                                     r->tomb ? -1 : r->vlen, NULL, 0) != 0)
                die("builder", "add");
        }
        kf_buf_reset(&out);
        if (kf_batch_builder_finish(&b, &out) != 0)
            die("builder", "finish");
        kf_batch_builder_free(&b);
        int64_t base = -1;
        if (kb_part_append(p, out.data, out.len, now, &base) != 0)
            die("append", "refused a valid batch");
        if (base != kb_part_log_end(p) - nrec)
            die("append", "unexpected base offset");
        for (int i = 0; i < nrec; i++) {
            pend[i].off = base + i;
            g_w[g_nw++] = pend[i];
        }
    }
    kf_buf_free(&out);

    /* The cleaner: one partition per tick, a few passes. */
    for (int i = 0; i < 4; i++)
        kb_store_tick(g_s, kf_wall_ms());
    int64_t cp = cleaner_point();
    if (cp < 0 || cp > kb_part_log_end(p))
        abort();
    int n1 = read_all(p, g_got);
    check_model(g_got, n1, cp, (flags & 2) != 0);

    /* Reopen: clean close, or an unclean stop (full recovery). */
    if (kb_store_flush(g_s) != 0)
        die("flush", "failed");
    kb_store_close(g_s);
    g_s = NULL;
    if (flags & 1) {
        char marker[4200];
        snprintf(marker, sizeof(marker), "%s/.kafka_cleanshutdown", g_dir);
        unlink(marker);
    }
    store_open();
    p = kb_store_part(g_s, "c", 1, 0);
    if (!p)
        die("reopen", "partition c-0 is gone");
    int n2 = read_all(p, g_got2);
    if (n2 != n1)
        abort(); /* the reopened log differs */
    for (int i = 0; i < n1; i++)
        if (g_got2[i].off != g_got[i].off)
            abort();
    if (kb_store_delete(g_s, "c", 1) != 0)
        die("delete", "cannot delete topic c");
    return 0;
}
