/*
 * test_cleaner.c - the log cleaner (cleaner.c) through the store interface:
 * every codec, batch metadata kept, empty batch headers kept for a
 * producer's last batch, control/transactional-free expectations computed
 * from a model of what was appended.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "broker/store.h"
#include "common/log.h"
#include "common/util.h"
#include "proto/batch.h"
#include "proto/compress.h"
#include "proto/proto.h"
#include "proto/wire.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/test_cleaner.XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state) {
    (void)state;
    if (!getenv("KEEP"))
        kf_rmtree(dir);
    return 0;
}

static kb_store *open_store(void) {
    kb_log_cfg c;
    memset(&c, 0, sizeof(c));
    c.segment_bytes = 1073741824;
    c.segment_ms = 604800000;
    c.retention_bytes = -1;
    c.retention_ms = -1;
    c.flush_messages = INT64_MAX;
    c.flush_ms = INT64_MAX;
    c.index_interval_bytes = 256;
    c.segment_index_bytes = 10485760;
    c.max_message_bytes = 1048588;
    c.retention_check_ms = 0;
    c.min_cleanable_ratio = 0.5;
    c.max_compact_lag_ms = INT64_MAX;
    c.delete_retention_ms = 86400000;
    c.cleaner_enable = 1;
    c.cleaner_backoff_ms = 0;
    kb_store *s = NULL;
    char err[512] = "";
    int rc = kb_store_open(&s, dir, &c, err, sizeof(err));
    if (rc)
        fprintf(stderr, "open: %s\n", err);
    assert_int_equal(rc, 0);
    return s;
}

#define MAXREC 4096

typedef struct rec {
    int64_t off;
    char key[16];
    char val[32];
    int tomb;
} rec;

static rec written[MAXREC];
static int nwritten;

/* Appends one batch of n records: keys fmt-formatted with i. */
static int64_t put(kb_part *p, int codec, int64_t pid, int32_t seq, int n, const char *const *keys,
                   const char *tag, int tomb) {
    kf_batch_builder b;
    kf_batch_builder_init(&b, codec);
    b.producer_id = pid;
    b.producer_epoch = pid >= 0 ? 3 : -1;
    b.base_sequence = pid >= 0 ? seq : -1;
    int64_t ts = kf_wall_ms();
    char vals[64][32];
    for (int i = 0; i < n; i++) {
        snprintf(vals[i], sizeof(vals[i]), "%s-%d", tag, i);
        assert_int_equal(kf_batch_builder_add(&b, ts + i, keys[i], (int32_t)strlen(keys[i]),
                                              tomb ? NULL : vals[i],
                                              tomb ? -1 : (int32_t)strlen(vals[i]), NULL, 0),
                         0);
    }
    kf_buf out;
    kf_buf_init(&out, 0);
    assert_int_equal(kf_batch_builder_finish(&b, &out), 0);
    int64_t base = -1;
    assert_int_equal(kb_part_append(p, out.data, out.len, kf_wall_ms(), &base), 0);
    for (int i = 0; i < n; i++) {
        assert_true(nwritten < MAXREC);
        rec *r = &written[nwritten++];
        r->off = base + i;
        snprintf(r->key, sizeof(r->key), "%s", keys[i]);
        snprintf(r->val, sizeof(r->val), "%s", tomb ? "" : vals[i]);
        r->tomb = tomb;
    }
    kf_buf_free(&out);
    kf_batch_builder_free(&b);
    return base;
}

static rec got[MAXREC];
static int ngot;
static kf_batch_hdr hdrs[MAXREC];
static int nhdrs;

static int got_cb(const kf_batch_hdr *h, const kf_record *r, void *opaque) {
    (void)h;
    (void)opaque;
    assert_true(ngot < MAXREC);
    rec *g = &got[ngot++];
    g->off = r->offset;
    assert_true(r->key_len > 0 && r->key_len < 16);
    memcpy(g->key, r->key, (size_t)r->key_len);
    g->key[r->key_len] = '\0';
    g->tomb = r->value_len < 0;
    g->val[0] = '\0';
    if (r->value_len > 0) {
        assert_true(r->value_len < 32);
        memcpy(g->val, r->value, (size_t)r->value_len);
        g->val[r->value_len] = '\0';
    }
    return 0;
}

static void read_all(kb_part *p) {
    ngot = nhdrs = 0;
    int64_t off = kb_part_log_start(p), end = kb_part_log_end(p);
    kf_buf out;
    kf_buf_init(&out, 0);
    while (off < end) {
        kf_buf_reset(&out);
        assert_int_equal(kb_part_read(p, off, 1 << 20, &out), 0);
        assert_true(out.len > 0);
        size_t pos = 0;
        while (pos < out.len) {
            kf_batch_hdr h;
            assert_int_equal(kf_batch_parse_hdr(out.data + pos, out.len - pos, &h), 0);
            size_t n = kf_batch_size(&h);
            assert_true(kf_batch_crc_ok(out.data + pos, n));
            if (kf_batch_last_offset(&h) >= off) {
                assert_true(nhdrs < MAXREC);
                hdrs[nhdrs++] = h;
                assert_int_equal(kf_batch_foreach(out.data + pos, n, 1 << 24, got_cb, NULL), 0);
            }
            off = kf_batch_last_offset(&h) + 1;
            pos += n;
        }
    }
    kf_buf_free(&out);
}

static int64_t cleaner_point(const char *topic) {
    char path[512], line[512];
    snprintf(path, sizeof(path), "%s/cleaner-offset-checkpoint", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int64_t cp = 0;
    size_t tl = strlen(topic);
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, topic, tl) == 0 && line[tl] == ' ')
            cp = strtoll(strrchr(line, ' ') + 1, NULL, 10);
    fclose(f);
    return cp;
}

/* What the cleaner must leave: below cp the last record of each key. */
static int expected(int64_t cp, rec *out) {
    int n = 0;
    for (int i = 0; i < nwritten; i++) {
        const rec *r = &written[i];
        int keep = 1;
        if (r->off < cp)
            for (int j = i + 1; j < nwritten && written[j].off < cp; j++)
                if (strcmp(written[j].key, r->key) == 0)
                    keep = 0;
        if (keep)
            out[n++] = *r;
    }
    return n;
}

static void check_view(kb_part *p, int64_t cp) {
    static rec want[MAXREC];
    int nw = expected(cp, want);
    read_all(p);
    assert_int_equal(ngot, nw);
    for (int i = 0; i < nw; i++) {
        assert_int_equal(got[i].off, want[i].off);
        assert_string_equal(got[i].key, want[i].key);
        assert_string_equal(got[i].val, want[i].val);
        assert_int_equal(got[i].tomb, want[i].tomb);
    }
}

static const kf_batch_hdr *find_hdr(int64_t pid, int32_t seq) {
    for (int i = 0; i < nhdrs; i++)
        if (hdrs[i].producer_id == pid && hdrs[i].base_sequence == seq)
            return &hdrs[i];
    return NULL;
}

static void test_codecs_and_producer_batches(void **state) {
    (void)state;
    nwritten = 0;
    kb_store *s = open_store();
    kf_props p;
    kf_props_init(&p);
    kf_props_set(&p, "cleanup.policy", "compact");
    kf_props_set(&p, "segment.bytes", "1024");
    kf_props_set(&p, "min.cleanable.dirty.ratio", "0.01");
    kb_topic *t = NULL;
    char err[256];
    assert_int_equal(kb_store_create(s, "ct", 1, &p, &t, err, sizeof(err)), 0);
    kf_props_free(&p);
    kb_part *part = t->parts[0];

    static const char *const ks[] = {"k0", "k1", "k2", "k3"};
    static const char *const as[] = {"a0", "a1"};
    static const char *const cs[] = {"c0", "c1"};
    static const char *const fs[] = {"f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7"};
    char tag[32];
    static char zk[5][4][32];
    const char *zkp[5][4];
    for (int codec = KF_CODEC_NONE; codec <= KF_CODEC_ZSTD; codec++)
        for (int i = 0; i < 4; i++) {
            snprintf(zk[codec][i], sizeof(zk[codec][i]), "z%dk%d", codec, i);
            zkp[codec][i] = zk[codec][i];
        }
    for (int b = 0; b < 4; b++)
        for (int codec = KF_CODEC_NONE; codec <= KF_CODEC_ZSTD; codec++) {
            snprintf(tag, sizeof(tag), "z%d.%d", codec, b);
            put(part, codec, 100 + codec, b * 4, b == 3 ? 3 : 4, zkp[codec], tag, 0);
        }
    int64_t a_base = put(part, KF_CODEC_NONE, 50, 0, 2, as, "A", 0); /* A's only batch */
    put(part, KF_CODEC_NONE, 51, 0, 2, as, "B", 0);                  /* supersedes it */
    put(part, KF_CODEC_GZIP, 52, 0, 2, cs, "C0", 0);
    put(part, KF_CODEC_GZIP, 52, 2, 2, cs, "C1", 0);
    put(part, KF_CODEC_NONE, -1, 0, 1, ks, "tomb", 1); /* tombstone for k0 */
    (void)ks;
    for (int i = 0; i < 30; i++) {
        snprintf(tag, sizeof(tag), "f%d", i);
        put(part, i % 2 ? KF_CODEC_LZ4 : KF_CODEC_NONE, -1, 0, 8, fs, tag, 0);
    }
    for (int i = 0; i < 50; i++)
        kb_store_tick(s, kf_wall_ms());
    int64_t cp = cleaner_point("ct");
    assert_true(cp > a_base + 8);
    check_view(part, cp);
    assert_true(ngot < nwritten / 2);

    /* A's batch: every record superseded, but its producer's last batch: an
     * empty header with its offsets and sequence state. */
    const kf_batch_hdr *h = find_hdr(50, 0);
    assert_non_null(h);
    assert_int_equal(h->record_count, 0);
    assert_int_equal(h->base_offset, a_base);
    assert_int_equal(h->last_offset_delta, 1);
    assert_int_equal(h->producer_epoch, 3);
    /* C's first batch went whole; its last one stays. */
    assert_null(find_hdr(52, 0));
    assert_non_null(find_hdr(52, 2));
    /* Kept batches keep producer metadata and their codec. */
    for (int codec = KF_CODEC_NONE; codec <= KF_CODEC_ZSTD; codec++) {
        h = find_hdr(100 + codec, 12);
        assert_non_null(h);
        assert_int_equal(kf_batch_codec(h), codec);
        assert_int_equal(h->last_offset_delta, 2);
        assert_int_equal(h->record_count, 3);
        assert_int_equal(h->producer_epoch, 3);
        /* the batch before lost the three keys rewritten by the last one */
        h = find_hdr(100 + codec, 8);
        assert_non_null(h);
        assert_int_equal(kf_batch_codec(h), codec);
        assert_int_equal(h->last_offset_delta, 3);
        assert_int_equal(h->record_count, 1);
    }
    /* The tombstone stays (delete.retention.ms not passed). */
    int tombs = 0;
    for (int i = 0; i < ngot; i++)
        tombs += got[i].tomb;
    assert_int_equal(tombs, 1);

    /* Unchanged across a clean restart and an unclean one (full recovery). */
    kb_store_close(s);
    s = open_store();
    part = kb_store_part(s, "ct", 2, 0);
    check_view(part, cp);
    kb_store_flush(s);
    char marker[512];
    snprintf(marker, sizeof(marker), "%s/.kafka_cleanshutdown", dir);
    kb_store_close(s);
    unlink(marker);
    s = open_store();
    part = kb_store_part(s, "ct", 2, 0);
    check_view(part, cp);
    kb_store_close(s);
}

int main(void) {
    kf_log_set_level(KF_LOG_ERR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_codecs_and_producer_batches, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
