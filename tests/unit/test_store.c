/*
 * test_store.c - log storage against Kafka's on-disk format: rolls, index
 * files, time lookups, retention, DeleteRecords, reopen, crash recovery and
 * topic metadata.  Invariant checked: every acknowledged batch reads back
 * byte for byte at its offsets, before and after a restart or torn write.
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
#include "proto/proto.h"
#include "proto/wire.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define T0 1700000000000LL /* record timestamps of the tests */

static char dir[256];

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/test_store.XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state) {
    if (getenv("KEEP")) /* KEEP=1 leaves the files for inspection */
        return 0;
    (void)state;
    kf_rmtree(dir);
    return 0;
}

static kb_log_cfg defaults(void) {
    kb_log_cfg c;
    memset(&c, 0, sizeof(c));
    c.segment_bytes = 1073741824;
    c.segment_ms = 604800000;
    c.retention_bytes = -1;
    c.retention_ms = -1; /* tests use old timestamps: no surprise deletions */
    c.flush_messages = INT64_MAX;
    c.flush_ms = INT64_MAX;
    c.index_interval_bytes = 4096;
    c.segment_index_bytes = 10485760;
    c.max_message_bytes = 1048588;
    c.retention_check_ms = 0;
    return c;
}

static kb_store *open_store(void) {
    kb_log_cfg d = defaults();
    kb_store *s = NULL;
    char err[512] = "";
    int rc = kb_store_open(&s, dir, &d, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "open: %s\n", err);
    assert_int_equal(rc, 0);
    assert_non_null(s);
    return s;
}

/* A batch of n records with timestamps ts, ts+1, ... and vsize-byte values. */
static void make_batch(kf_buf *out, int n, int64_t ts, size_t vsize) {
    kf_batch_builder b;
    kf_batch_builder_init(&b, 0);
    char *v = malloc(vsize + 1);
    assert_non_null(v);
    for (int i = 0; i < n; i++) {
        memset(v, 'a' + (i % 26), vsize);
        assert_int_equal(kf_batch_builder_add(&b, ts + i, "k", 1, v, (int32_t)vsize, NULL, 0), 0);
    }
    kf_buf_reset(out);
    assert_int_equal(kf_batch_builder_finish(&b, out), 0);
    kf_batch_builder_free(&b);
    free(v);
}

static kb_topic *create(kb_store *s, const char *name, int32_t nparts, const char *const *kv) {
    kf_props p;
    kf_props_init(&p);
    for (; kv && kv[0]; kv += 2)
        assert_int_equal(kf_props_set(&p, kv[0], kv[1]), 0);
    kb_topic *t = NULL;
    char err[256] = "";
    int rc = kb_store_create(s, name, nparts, &p, &t, err, sizeof(err));
    if (rc)
        fprintf(stderr, "create: %s\n", err);
    assert_int_equal(rc, 0);
    kf_props_free(&p);
    return t;
}

/* Everything appended so far, in the stored form (base offsets set). */
typedef struct model {
    kf_buf all;
    int64_t bases[4096];
    size_t pos[4096];
    int count[4096];
    int n;
} model;

static int64_t append(kb_part *p, model *m, int nrec, int64_t ts, size_t vsize) {
    kf_buf b;
    kf_buf_init(&b, 0);
    make_batch(&b, nrec, ts, vsize);
    int64_t base = -1;
    assert_int_equal(kb_part_append(p, b.data, b.len, kf_wall_ms(), &base), 0);
    assert_int_equal(kf_be64(b.data), (uint64_t)base);
    assert_true(kf_batch_crc_ok(b.data, b.len));
    if (m) {
        assert_true(m->n < 4096);
        m->bases[m->n] = base;
        m->pos[m->n] = m->all.len;
        m->count[m->n] = nrec;
        m->n++;
        kf_buf_append(&m->all, b.data, b.len);
    }
    kf_buf_free(&b);
    return base;
}

static int model_batch_of(const model *m, int64_t off) {
    for (int i = 0; i < m->n; i++)
        if (off >= m->bases[i] && off < m->bases[i] + m->count[i])
            return i;
    return -1;
}

static size_t count_files(const char *pdir, const char *ext) {
    DIR *d = opendir(pdir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name), e = strlen(ext);
        if (l > e && strcmp(de->d_name + l - e, ext) == 0)
            n++;
    }
    closedir(d);
    return n;
}

static void read_file(const char *path, kf_buf *out) {
    assert_int_equal(kf_read_file(path, out, 1u << 30), 0);
}

/* Checks a read from every offset of the model against the model. */
static void check_reads(kb_part *p, const model *m, int64_t from) {
    kf_buf out;
    kf_buf_init(&out, 0);
    int64_t end = kb_part_log_end(p);
    for (int64_t off = from; off < end; off++) {
        kf_buf_reset(&out);
        assert_int_equal(kb_part_read(p, off, 1, &out), 0); /* min one batch */
        int i = model_batch_of(m, off);
        assert_true(i >= 0);
        size_t size = (i + 1 < m->n ? m->pos[i + 1] : m->all.len) - m->pos[i];
        assert_int_equal(out.len, size);
        assert_memory_equal(out.data, m->all.data + m->pos[i], size);
    }
    /* Everything at once, across segments. */
    kf_buf_reset(&out);
    assert_int_equal(kb_part_read(p, from, 1u << 30, &out), 0);
    int i = model_batch_of(m, from);
    assert_int_equal(out.len, m->all.len - m->pos[i]);
    assert_memory_equal(out.data, m->all.data + m->pos[i], out.len);
    kf_buf_reset(&out);
    assert_int_equal(kb_part_read(p, end, 1000, &out), 0);
    assert_int_equal(out.len, 0);
    assert_int_equal(kb_part_read(p, end + 1, 1000, &out), KF_ERR_OFFSET_OUT_OF_RANGE);
    kf_buf_free(&out);
}

/* Recomputes Kafka's index entries from a .log and compares with the
 * .index/.timeindex files. The .index must match exactly; the .timeindex
 * must contain every entry the rule produces (plus the final one when the
 * segment was rolled or closed: final_tim), and may hold extra final
 * entries from earlier closes, each of which must be a true
 * "max timestamp so far" point. */
static void check_segment_indexes(const char *pdir, int64_t base, int64_t interval, int final_tim) {
    char path[512];
    kf_buf log, idx, tim;
    snprintf(path, sizeof(path), "%s/%020" PRId64 ".log", pdir, base);
    read_file(path, &log);
    snprintf(path, sizeof(path), "%s/%020" PRId64 ".index", pdir, base);
    read_file(path, &idx);
    snprintf(path, sizeof(path), "%s/%020" PRId64 ".timeindex", pdir, base);
    read_file(path, &tim);
    assert_int_equal(idx.len % 8, 0);
    assert_int_equal(tim.len % 12, 0);
    size_t nt = tim.len / 12;
    /* max timestamp so far after each batch, keyed by batch last offset */
    int64_t lasts[4096], maxes[4096], max_offs[4096];
    int64_t exp_ts[4096], exp_off[4096];
    size_t nb = 0, ne = 0;
    size_t pos = 0, last_entry = 0, ni = 0;
    int64_t max_ts = -1, max_off = -1;
    while (pos < log.len) {
        kf_batch_hdr h;
        assert_int_equal(kf_batch_parse_hdr(log.data + pos, log.len - pos, &h), 0);
        assert_true(kf_batch_crc_ok(log.data + pos, kf_batch_size(&h)));
        if (h.max_timestamp > max_ts) {
            max_ts = h.max_timestamp;
            max_off = kf_batch_last_offset(&h);
        }
        assert_true(nb < 4096);
        lasts[nb] = kf_batch_last_offset(&h);
        maxes[nb] = max_ts;
        max_offs[nb] = max_off;
        nb++;
        if ((int64_t)(pos - last_entry) > interval) {
            assert_true((ni + 1) * 8 <= idx.len);
            assert_int_equal(kf_be32(idx.data + ni * 8),
                             (uint32_t)(kf_batch_last_offset(&h) - base));
            assert_int_equal(kf_be32(idx.data + ni * 8 + 4), (uint32_t)pos);
            ni++;
            if (ne == 0 || max_ts > exp_ts[ne - 1]) {
                exp_ts[ne] = max_ts;
                exp_off[ne] = max_off;
                ne++;
            }
            last_entry = pos;
        }
        pos += kf_batch_size(&h);
    }
    assert_int_equal(pos, log.len);
    assert_int_equal(idx.len, ni * 8);
    if (final_tim && max_ts >= 0 && (ne == 0 || max_ts > exp_ts[ne - 1])) {
        exp_ts[ne] = max_ts;
        exp_off[ne] = max_off;
        ne++;
    }
    size_t k = 0;
    for (size_t i = 0; i < nt; i++) {
        int64_t ts = (int64_t)kf_be64(tim.data + i * 12);
        int64_t off = base + kf_be32(tim.data + i * 12 + 8);
        if (i > 0)
            assert_true(ts > (int64_t)kf_be64(tim.data + (i - 1) * 12));
        size_t b = 0;
        while (b < nb && lasts[b] != off)
            b++;
        assert_true(b < nb); /* points at a batch end */
        assert_int_equal(max_offs[b], off);
        assert_int_equal(maxes[b], ts);
        if (k < ne && exp_ts[k] == ts && exp_off[k] == off)
            k++;
    }
    assert_int_equal(k, ne); /* every rule entry is there */
    if (final_tim && max_ts >= 0) {
        assert_true(nt > 0);
        assert_int_equal((int64_t)kf_be64(tim.data + (nt - 1) * 12), max_ts);
    }
    kf_buf_free(&log);
    kf_buf_free(&idx);
    kf_buf_free(&tim);
}

/* Base offsets of the segments in pdir, sorted. */
static size_t segment_bases(const char *pdir, int64_t *bases, size_t max) {
    DIR *d = opendir(pdir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strlen(de->d_name) == 24 && strcmp(de->d_name + 20, ".log") == 0 && n < max) {
            char digits[21];
            memcpy(digits, de->d_name, 20);
            digits[20] = 0;
            assert_int_equal(kf_parse_i64(digits, 0, INT64_MAX, &bases[n]), 0);
            n++;
        }
    }
    closedir(d);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && bases[j - 1] > bases[j]; j--) {
            int64_t x = bases[j];
            bases[j] = bases[j - 1];
            bases[j - 1] = x;
        }
    return n;
}

static void check_all_indexes(const char *pdir, int64_t interval, int closed) {
    int64_t bases[1024];
    size_t n = segment_bases(pdir, bases, 1024);
    assert_true(n > 0);
    for (size_t i = 0; i < n; i++)
        check_segment_indexes(pdir, bases[i], interval, closed || i + 1 < n);
}

/* ---- tests -------------------------------------------------------------- */

static void test_roundtrip_rolls(void **state) {
    (void)state;
    kb_store *s = open_store();
    static const char *const kv[] = {"segment.bytes", "3000", "index.interval.bytes", "200", NULL};
    kb_topic *t = create(s, "rt", 2, kv);
    kb_part *p = t->parts[1];
    model *m = calloc(1, sizeof(*m));
    kf_buf_init(&m->all, 0);
    int64_t expect = 0;
    for (int i = 0; i < 120; i++) {
        int n = 1 + i % 7;
        /* timestamps go up and down so the time index has to skip some */
        int64_t base = append(p, m, n, T0 + (i % 10) * 100 + i, 20 + (size_t)(i % 5) * 30);
        assert_int_equal(base, expect);
        expect += n;
    }
    assert_int_equal(kb_part_log_end(p), expect);
    assert_int_equal(kb_part_log_start(p), 0);
    assert_int_equal(kb_part_size(p), (int64_t)m->all.len);
    char pdir[512];
    snprintf(pdir, sizeof(pdir), "%s/rt-1", dir);
    assert_true(count_files(pdir, ".log") > 5);
    assert_int_equal(count_files(pdir, ".log"), count_files(pdir, ".index"));
    assert_int_equal(count_files(pdir, ".log"), count_files(pdir, ".timeindex"));
    check_reads(p, m, 0);
    check_all_indexes(pdir, 200, 0);

    /* Partition 0 is untouched and empty. */
    kf_buf out;
    kf_buf_init(&out, 0);
    assert_int_equal(kb_part_read(t->parts[0], 0, 100, &out), 0);
    assert_int_equal(out.len, 0);
    assert_int_equal(kb_part_read(t->parts[0], 1, 100, &out), KF_ERR_OFFSET_OUT_OF_RANGE);

    /* Bounded reads return whole batches only. */
    kf_buf_reset(&out);
    assert_int_equal(kb_part_read(p, 0, 700, &out), 0);
    assert_true(out.len <= 700 && out.len > 0);
    size_t pos = 0;
    while (pos < out.len) {
        kf_batch_hdr h;
        assert_int_equal(kf_batch_parse_hdr(out.data + pos, out.len - pos, &h), 0);
        pos += kf_batch_size(&h);
    }
    assert_int_equal(pos, out.len);
    kf_buf_free(&out);

    /* Clean reopen: same data, same indexes, appends continue. */
    kb_store_close(s);
    check_all_indexes(pdir, 200, 1);
    s = open_store();
    p = kb_store_part(s, "rt", 2, 1);
    assert_non_null(p);
    assert_int_equal(kb_part_log_end(p), expect);
    check_reads(p, m, 0);
    assert_int_equal(append(p, m, 3, T0 + 5000, 50), expect);
    expect += 3;
    check_reads(p, m, expect - 10);
    kb_store_close(s);
    check_all_indexes(pdir, 200, 1);
    kf_buf_free(&m->all);
    free(m);
}

static void test_large_batches_index(void **state) {
    (void)state;
    kb_store *s = open_store();
    kb_topic *t = create(s, "big", 1, NULL); /* default 4096 interval */
    model *m = calloc(1, sizeof(*m));
    kf_buf_init(&m->all, 0);
    for (int i = 0; i < 40; i++)
        append(t->parts[0], m, 20, T0 + i * 20, 500); /* ~10 KB batches */
    char pdir[512];
    snprintf(pdir, sizeof(pdir), "%s/big-0", dir);
    check_all_indexes(pdir, 4096, 0);
    char path[600];
    snprintf(path, sizeof(path), "%s/00000000000000000000.index", pdir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 39 * 8); /* every batch after the first */
    check_reads(t->parts[0], m, 0);
    kb_store_close(s);
    kf_buf_free(&m->all);
    free(m);
}

static void test_offset_for_time(void **state) {
    (void)state;
    kb_store *s = open_store();
    static const char *const kv[] = {"segment.bytes", "2000", "index.interval.bytes", "100", NULL};
    kb_topic *t = create(s, "tm", 1, kv);
    kb_part *p = t->parts[0];
    /* record i has timestamp T0 + 10*i */
    int64_t off = 0;
    for (int b = 0; b < 60; b++) {
        kf_batch_builder bb;
        kf_buf buf;
        kf_buf_init(&buf, 0);
        kf_batch_builder_init(&bb, b % 3 == 0 ? 0 : 4 /* zstd */);
        for (int r = 0; r < 4; r++)
            assert_int_equal(
                kf_batch_builder_add(&bb, T0 + 10 * (off + r), NULL, 0, "v", 1, NULL, 0), 0);
        assert_int_equal(kf_batch_builder_finish(&bb, &buf), 0);
        int64_t base;
        assert_int_equal(kb_part_append(p, buf.data, buf.len, kf_wall_ms(), &base), 0);
        assert_int_equal(base, off);
        off += 4;
        kf_batch_builder_free(&bb);
        kf_buf_free(&buf);
    }
    for (int64_t ts = T0 - 5; ts <= T0 + 10 * 240 + 5; ts += 7) {
        int64_t found = -2;
        int64_t o = kb_part_offset_for_time(p, ts, &found);
        int64_t want = ts <= T0 ? 0 : (ts - T0 + 9) / 10;
        if (want >= 240) {
            assert_int_equal(o, -1);
        } else {
            assert_int_equal(o, want);
            assert_int_equal(found, T0 + 10 * want);
        }
    }
    int64_t mo = -1;
    assert_int_equal(kb_part_max_timestamp(p, &mo), T0 + 10 * 239);
    assert_int_equal(mo, 239);
    /* Below log start: answers never go below it. */
    assert_int_equal(kb_part_delete_records(p, 101), 0);
    assert_int_equal(kb_part_offset_for_time(p, T0, NULL), 101);
    kb_store_close(s);
}

static void test_retention_bytes(void **state) {
    (void)state;
    kb_store *s = open_store();
    static const char *const kv[] = {"segment.bytes", "2000", "retention.bytes", "5000", NULL};
    kb_topic *t = create(s, "rb", 1, kv);
    kb_part *p = t->parts[0];
    model *m = calloc(1, sizeof(*m));
    kf_buf_init(&m->all, 0);
    for (int i = 0; i < 100; i++)
        append(p, m, 2, T0 + i, 100);
    int64_t before = kb_part_size(p);
    assert_true(before > 10000);
    kb_store_tick(s, kf_wall_ms());
    int64_t after = kb_part_size(p);
    assert_true(after >= 5000 && after < 5000 + 2000);
    int64_t ls = kb_part_log_start(p);
    assert_true(ls > 0);
    char pdir[512], path[600];
    snprintf(pdir, sizeof(pdir), "%s/rb-0", dir);
    int64_t bases[1024];
    size_t n = segment_bases(pdir, bases, 1024);
    assert_int_equal(bases[0], ls);
    kf_buf out;
    kf_buf_init(&out, 0);
    assert_int_equal(kb_part_read(p, ls - 1, 1000, &out), KF_ERR_OFFSET_OUT_OF_RANGE);
    check_reads(p, m, ls);
    (void)n;
    /* log-start-offset-checkpoint in Kafka's format */
    snprintf(path, sizeof(path), "%s/log-start-offset-checkpoint", dir);
    kf_buf ck;
    read_file(path, &ck);
    char want[128];
    snprintf(want, sizeof(want), "0\n1\nrb 0 %" PRId64 "\n", ls);
    assert_int_equal(ck.len, strlen(want));
    assert_memory_equal(ck.data, want, ck.len);
    kf_buf_free(&ck);
    kb_store_close(s);
    s = open_store();
    p = kb_store_part(s, "rb", 2, 0);
    assert_int_equal(kb_part_log_start(p), ls);
    check_reads(p, m, ls);
    kb_store_close(s);
    kf_buf_free(&out);
    kf_buf_free(&m->all);
    free(m);
}

static void test_retention_time(void **state) {
    (void)state;
    kb_store *s = open_store();
    static const char *const kv[] = {"retention.ms", "60000", NULL};
    kb_topic *t = create(s, "rtime", 1, kv);
    kb_part *p = t->parts[0];
    int64_t now = kf_wall_ms();
    for (int i = 0; i < 10; i++)
        append(p, NULL, 3, now - 3600000 + i, 50);
    assert_int_equal(kb_part_log_end(p), 30);
    kb_store_tick(s, now);
    /* The single (active) segment expired: rolled, then deleted. */
    assert_int_equal(kb_part_log_start(p), 30);
    assert_int_equal(kb_part_log_end(p), 30);
    assert_int_equal(kb_part_size(p), 0);
    kf_buf out;
    kf_buf_init(&out, 0);
    assert_int_equal(kb_part_read(p, 0, 1000, &out), KF_ERR_OFFSET_OUT_OF_RANGE);
    assert_int_equal(kb_part_read(p, 30, 1000, &out), 0);
    assert_int_equal(out.len, 0);
    char pdir[512];
    snprintf(pdir, sizeof(pdir), "%s/rtime-0", dir);
    assert_int_equal(count_files(pdir, ".log"), 1);
    /* Fresh data stays, offsets continue. */
    assert_int_equal(append(p, NULL, 2, now, 10), 30);
    kb_store_tick(s, now + 1);
    assert_int_equal(kb_part_log_start(p), 30);
    assert_int_equal(kb_part_log_end(p), 32);
    /* Survives a restart, including when all segments are gone. */
    kb_store_close(s);
    s = open_store();
    p = kb_store_part(s, "rtime", 5, 0);
    assert_int_equal(kb_part_log_start(p), 30);
    assert_int_equal(kb_part_log_end(p), 32);
    kb_store_tick(s, now + 3600000);
    assert_int_equal(kb_part_log_start(p), 32);
    assert_int_equal(kb_part_log_end(p), 32);
    kb_store_close(s);
    s = open_store();
    p = kb_store_part(s, "rtime", 5, 0);
    assert_int_equal(kb_part_log_end(p), 32);
    assert_int_equal(append(p, NULL, 1, now, 10), 32);
    kb_store_close(s);
    kf_buf_free(&out);
}

static void test_retention_check_interval(void **state) {
    (void)state;
    kb_log_cfg d = defaults();
    d.retention_check_ms = 1000;
    kb_store *s = NULL;
    char err[256];
    assert_int_equal(kb_store_open(&s, dir, &d, err, sizeof(err)), 0);
    static const char *const kv[] = {"retention.ms", "1000", NULL};
    kb_topic *t = create(s, "ci", 1, kv);
    int64_t now = kf_wall_ms();
    kb_store_tick(s, now); /* first check runs; nothing to delete */
    append(t->parts[0], NULL, 1, now - 5000, 10);
    kb_store_tick(s, now + 10); /* too early */
    assert_int_equal(kb_part_log_start(t->parts[0]), 0);
    kb_store_tick(s, now + 1000);
    assert_int_equal(kb_part_log_start(t->parts[0]), 1);
    kb_store_close(s);
}

static void test_delete_records(void **state) {
    (void)state;
    kb_store *s = open_store();
    static const char *const kv[] = {"segment.bytes", "1500", NULL};
    kb_topic *t = create(s, "dr", 1, kv);
    kb_part *p = t->parts[0];
    model *m = calloc(1, sizeof(*m));
    kf_buf_init(&m->all, 0);
    for (int i = 0; i < 50; i++)
        append(p, m, 4, T0 + i, 60);
    char pdir[512];
    snprintf(pdir, sizeof(pdir), "%s/dr-0", dir);
    size_t segs_before = count_files(pdir, ".log");
    assert_int_equal(kb_part_delete_records(p, 201), KF_ERR_OFFSET_OUT_OF_RANGE);
    assert_int_equal(kb_part_delete_records(p, -2), KF_ERR_OFFSET_OUT_OF_RANGE);
    assert_int_equal(kb_part_delete_records(p, 97), 0);
    assert_int_equal(kb_part_log_start(p), 97);
    assert_true(count_files(pdir, ".log") < segs_before);
    int64_t bases[1024];
    segment_bases(pdir, bases, 1024);
    assert_true(bases[0] <= 97);
    kf_buf out;
    kf_buf_init(&out, 0);
    assert_int_equal(kb_part_read(p, 96, 1000, &out), KF_ERR_OFFSET_OUT_OF_RANGE);
    assert_int_equal(kb_part_read(p, 97, 1, &out), 0);
    kf_batch_hdr h;
    assert_int_equal(kf_batch_parse_hdr(out.data, out.len, &h), 0);
    assert_int_equal(h.base_offset, 96); /* the batch containing the log start */
    check_reads(p, m, 97);
    /* Going backwards is a no-op. */
    assert_int_equal(kb_part_delete_records(p, 10), 0);
    assert_int_equal(kb_part_log_start(p), 97);
    /* Persisted immediately, even without a clean close. */
    kb_store_close(s);
    s = open_store();
    p = kb_store_part(s, "dr", 2, 0);
    assert_int_equal(kb_part_log_start(p), 97);
    assert_int_equal(kb_part_delete_records(p, -1), 0);
    assert_int_equal(kb_part_log_start(p), 200);
    assert_int_equal(kb_part_read(p, 199, 1000, &out), KF_ERR_OFFSET_OUT_OF_RANGE);
    assert_int_equal(append(p, NULL, 1, T0, 1), 200);
    kb_store_close(s);
    kf_buf_free(&out);
    kf_buf_free(&m->all);
    free(m);
}

static void test_recovery_torn_write(void **state) {
    (void)state;
    kb_store *s = open_store();
    static const char *const kv[] = {"segment.bytes", "4000", "index.interval.bytes", "150", NULL};
    kb_topic *t = create(s, "rc", 1, kv);
    kb_part *p = t->parts[0];
    model *m = calloc(1, sizeof(*m));
    kf_buf_init(&m->all, 0);
    for (int i = 0; i < 60; i++)
        append(p, m, 3, T0 + i * 3, 40);
    int64_t end = kb_part_log_end(p);
    kb_store_close(s);

    /* Simulate a crash: no clean marker, the last batch half written, and
     * a garbage index. */
    char path[600], pdir[512];
    snprintf(path, sizeof(path), "%s/.kafka_cleanshutdown", dir);
    assert_int_equal(unlink(path), 0);
    snprintf(pdir, sizeof(pdir), "%s/rc-0", dir);
    int64_t bases[1024];
    size_t n = segment_bases(pdir, bases, 1024);
    assert_true(n > 2);
    snprintf(path, sizeof(path), "%s/%020" PRId64 ".log", pdir, bases[n - 1]);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    size_t last_size = m->all.len - m->pos[m->n - 1];
    assert_int_equal(truncate(path, st.st_size - (off_t)last_size / 2), 0);
    snprintf(path, sizeof(path), "%s/%020" PRId64 ".index", pdir, bases[n - 1]);
    int fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "xyz", 3), 3);
    close(fd);

    s = open_store();
    p = kb_store_part(s, "rc", 2, 0);
    assert_int_equal(kb_part_log_end(p), end - 3);
    m->n--;
    m->all.len = m->pos[m->n];
    check_reads(p, m, 0);
    assert_int_equal(append(p, m, 2, T0 + 999, 40), end - 3);
    check_reads(p, m, 0);
    kb_store_close(s);
    check_all_indexes(pdir, 150, 1);

    /* A flipped byte inside a middle segment: that segment is cut at the
     * bad batch and later segments are dropped. */
    snprintf(path, sizeof(path), "%s/.kafka_cleanshutdown", dir);
    assert_int_equal(unlink(path), 0);
    snprintf(path, sizeof(path), "%s/recovery-point-offset-checkpoint", dir);
    unlink(path); /* no recovery point: check everything */
    n = segment_bases(pdir, bases, 1024);
    int bi = model_batch_of(m, bases[1]) + 1; /* second batch of segment 1 */
    snprintf(path, sizeof(path), "%s/%020" PRId64 ".log", pdir, bases[1]);
    fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    off_t at = (off_t)(m->pos[bi] - m->pos[bi - 1]) + 70;
    uint8_t c;
    assert_int_equal(pread(fd, &c, 1, at), 1);
    c ^= 0xff;
    assert_int_equal(pwrite(fd, &c, 1, at), 1);
    close(fd);
    s = open_store();
    p = kb_store_part(s, "rc", 2, 0);
    assert_int_equal(kb_part_log_end(p), m->bases[bi]);
    assert_int_equal(count_files(pdir, ".log"), 2);
    m->n = bi;
    m->all.len = m->pos[bi];
    check_reads(p, m, 0);
    assert_int_equal(append(p, m, 1, T0, 5), m->bases[bi]);
    kb_store_close(s);
    check_all_indexes(pdir, 150, 1);
    kf_buf_free(&m->all);
    free(m);
}

static void test_unclean_without_damage(void **state) {
    (void)state;
    kb_store *s = open_store();
    kb_topic *t = create(s, "uc", 1, NULL);
    for (int i = 0; i < 5; i++)
        append(t->parts[0], NULL, 2, T0, 10);
    assert_int_equal(kb_store_flush(s), 0);
    char path[600];
    snprintf(path, sizeof(path), "%s/recovery-point-offset-checkpoint", dir);
    kf_buf ck;
    read_file(path, &ck);
    assert_int_equal(ck.len, strlen("0\n1\nuc 0 10\n"));
    assert_memory_equal(ck.data, "0\n1\nuc 0 10\n", ck.len);
    kf_buf_free(&ck);
    append(t->parts[0], NULL, 2, T0, 10);
    kb_store_close(s);
    snprintf(path, sizeof(path), "%s/.kafka_cleanshutdown", dir);
    assert_int_equal(unlink(path), 0);
    s = open_store();
    assert_int_equal(kb_part_log_end(kb_store_part(s, "uc", 2, 0)), 12);
    /* The marker is gone while running. */
    assert_int_not_equal(access(path, F_OK), 0);
    kb_store_close(s);
    assert_int_equal(access(path, F_OK), 0);
}

/* Checkpoint entries in any order, with duplicates (the first wins) and
 * entries of unknown topics, are found for every partition; a checkpoint
 * whose content did not change is not rewritten. */
static void test_checkpoint_lookup_and_rewrite(void **state) {
    (void)state;
    kb_store *s = open_store();
    kb_topic *t = create(s, "ck", 40, NULL);
    for (int32_t j = 0; j < 40; j++)
        append(t->parts[j], NULL, 3, T0, 10);
    kb_store_close(s);

    kf_buf b;
    kf_buf_init(&b, 0);
    char line[64];
    int n = snprintf(line, sizeof(line), "0\n%d\n", 40 + 2);
    kf_buf_append(&b, line, (size_t)n);
    n = snprintf(line, sizeof(line), "ck 7 2\nzz 7 1\n"); /* 7: first wins */
    kf_buf_append(&b, line, (size_t)n);
    for (int32_t j = 39; j >= 0; j--) {
        n = snprintf(line, sizeof(line), "ck %d %d\n", (int)j, (int)(j % 3));
        kf_buf_append(&b, line, (size_t)n);
    }
    char path[600];
    snprintf(path, sizeof(path), "%s/log-start-offset-checkpoint", dir);
    assert_int_equal(kf_write_file_atomic(path, b.data, b.len), 0);
    kf_buf_free(&b);

    s = open_store();
    for (int32_t j = 0; j < 40; j++)
        assert_int_equal(kb_part_log_start(kb_store_part(s, "ck", 2, j)), j == 7 ? 2 : j % 3);
    snprintf(path, sizeof(path), "%s/recovery-point-offset-checkpoint", dir);
    struct stat before, after;
    assert_int_equal(stat(path, &before), 0);
    assert_int_equal(kb_store_flush(s), 0); /* nothing moved */
    assert_int_equal(stat(path, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino);
    append(kb_store_part(s, "ck", 2, 5), NULL, 1, T0, 10);
    assert_int_equal(kb_store_flush(s), 0); /* a recovery point moved */
    assert_int_equal(stat(path, &after), 0);
    assert_int_not_equal(before.st_ino, after.st_ino);
    kb_store_close(s);
}

static void test_log_append_time(void **state) {
    (void)state;
    kb_store *s = open_store();
    static const char *const kv[] = {"message.timestamp.type", "LogAppendTime", NULL};
    kb_topic *t = create(s, "lat", 1, kv);
    assert_true(t->cfg.log_append_time);
    kf_buf b;
    kf_buf_init(&b, 0);
    make_batch(&b, 3, 5, 10);
    int64_t base, now = kf_wall_ms();
    assert_int_equal(kb_part_append(t->parts[0], b.data, b.len, now, &base), 0);
    kf_batch_hdr h;
    assert_int_equal(kf_batch_parse_hdr(b.data, b.len, &h), 0);
    assert_true(h.attributes & KF_BATCH_ATTR_LOG_APPEND_TIME);
    assert_int_equal(h.max_timestamp, now);
    assert_true(kf_batch_crc_ok(b.data, b.len));
    int64_t found;
    assert_int_equal(kb_part_offset_for_time(t->parts[0], now, &found), 0);
    assert_int_equal(found, now);
    kf_buf_free(&b);
    kb_store_close(s);
}

typedef struct visit_ctx {
    int64_t bases[64];
    int n;
} visit_ctx;

static int visit(kb_part *p, const kf_batch_hdr *h, void *opaque) {
    (void)p;
    visit_ctx *c = opaque;
    c->bases[c->n++] = h->base_offset;
    return c->n >= 5;
}

static void test_scan(void **state) {
    (void)state;
    kb_store *s = open_store();
    static const char *const kv[] = {"segment.bytes", "500", NULL};
    kb_topic *t = create(s, "sc", 1, kv);
    for (int i = 0; i < 20; i++)
        append(t->parts[0], NULL, 2, T0, 30);
    visit_ctx c = {.n = 0};
    assert_int_equal(kb_part_scan(t->parts[0], 13, visit, &c), 0);
    assert_int_equal(c.n, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(c.bases[i], 14 + 2 * i);
    kb_store_close(s);
}

static void test_topic_admin(void **state) {
    (void)state;
    kb_store *s = open_store();
    char err[256];
    kb_topic *t = NULL;
    static const char *const kv[] = {"retention.ms",
                                     "12345",
                                     "cleanup.policy",
                                     "compact,delete",
                                     "min.insync.replicas",
                                     "1",
                                     NULL};
    t = create(s, "alpha", 3, kv);
    assert_int_equal(t->cfg.retention_ms, 12345);
    assert_true(t->cfg.compact);
    uint8_t id[16];
    memcpy(id, t->id, 16);
    create(s, "beta", 1, NULL);
    assert_int_equal(kb_store_create(s, "alpha", 1, NULL, NULL, err, sizeof(err)),
                     KF_ERR_TOPIC_ALREADY_EXISTS);
    assert_int_equal(kb_store_create(s, "bad/name", 1, NULL, NULL, err, sizeof(err)),
                     KF_ERR_INVALID_TOPIC_EXCEPTION);
    assert_int_equal(kb_store_create(s, "..", 1, NULL, NULL, err, sizeof(err)),
                     KF_ERR_INVALID_TOPIC_EXCEPTION);
    assert_int_equal(kb_store_create(s, "x", 0, NULL, NULL, err, sizeof(err)),
                     KF_ERR_INVALID_PARTITIONS);
    create(s, "a.b", 1, NULL);
    assert_int_equal(kb_store_create(s, "a_b", 1, NULL, NULL, err, sizeof(err)),
                     KF_ERR_INVALID_TOPIC_EXCEPTION);

    /* Bad configs are rejected and name the key. */
    kf_props bad;
    kf_props_init(&bad);
    kf_props_set(&bad, "retention.msx", "1");
    assert_int_equal(kb_store_create(s, "gamma", 1, &bad, NULL, err, sizeof(err)),
                     KF_ERR_INVALID_CONFIG);
    assert_non_null(strstr(err, "retention.msx"));
    assert_null(kb_store_find(s, "gamma", 5));
    kf_props_free(&bad);
    static const char *const bads[][2] = {
        {"retention.ms", "-2"},
        {"retention.ms", "abc"},
        {"segment.bytes", "10"},
        {"segment.bytes", "3000000000"},
        {"cleanup.policy", "remove"},
        {"cleanup.policy", ""},
        {"compression.type", "brotli"},
        {"message.timestamp.type", "createtime"},
        {"min.insync.replicas", "0"},
        {"unclean.leader.election.enable", "yes"},
        {"min.cleanable.dirty.ratio", "1.5"},
        {"flush.messages", "0"},
    };
    for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        err[0] = 0;
        assert_int_equal(kb_topic_config_check(bads[i][0], bads[i][1], err, sizeof(err)),
                         KF_ERR_INVALID_CONFIG);
        assert_non_null(strstr(err, bads[i][0]));
    }
    static const char *const goods[][2] = {
        {"cleanup.policy", "delete"},
        {"cleanup.policy", "compact"},
        {"compression.type", "zstd"},
        {"compression.type", "producer"},
        {"message.timestamp.type", "LogAppendTime"},
        {"retention.bytes", "-1"},
        {"unclean.leader.election.enable", "false"},
        {"min.cleanable.dirty.ratio", "0.25"},
        {"segment.ms", "1"},
    };
    for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++)
        assert_int_equal(kb_topic_config_check(goods[i][0], goods[i][1], err, sizeof(err)), 0);

    /* AlterConfigs replaces the overrides; a bad set changes nothing. */
    kf_props ac;
    kf_props_init(&ac);
    kf_props_set(&ac, "segment.bytes", "1048576");
    kf_props_set(&ac, "compression.type", "lz4");
    kf_props_set(&ac, "max.message.bytes", "nope");
    assert_int_equal(kb_store_alter_configs(s, t, &ac, err, sizeof(err)), KF_ERR_INVALID_CONFIG);
    assert_int_equal(t->cfg.retention_ms, 12345);
    kf_props_unset(&ac, "max.message.bytes");
    assert_int_equal(kb_store_alter_configs(s, t, &ac, err, sizeof(err)), 0);
    kf_props_free(&ac);
    assert_int_equal(t->cfg.segment_bytes, 1048576);
    assert_int_equal(t->cfg.retention_ms, defaults().retention_ms);
    assert_false(t->cfg.compact);

    char buf[64];
    int ov = -1;
    assert_string_equal(kb_topic_config_value(s, t, "compression.type", buf, sizeof(buf), &ov),
                        "lz4");
    assert_int_equal(ov, 1);
    assert_string_equal(kb_topic_config_value(s, t, "retention.ms", buf, sizeof(buf), &ov), "-1");
    assert_int_equal(ov, 0);
    assert_string_equal(kb_topic_config_value(s, t, "cleanup.policy", buf, sizeof(buf), &ov),
                        "delete");
    assert_string_equal(kb_topic_config_value(s, t, "segment.index.bytes", buf, sizeof(buf), &ov),
                        "10485760");
    assert_null(kb_topic_config_value(s, t, "no.such", buf, sizeof(buf), &ov));
    size_t nd = 0;
    const kb_topic_config_desc *d = kb_topic_config_descs(&nd);
    int seen = 0;
    for (size_t i = 0; i < nd; i++)
        if (strcmp(d[i].name, "retention.ms") == 0) {
            assert_string_equal(d[i].broker_key, "log.retention.ms");
            seen = 1;
        }
    assert_true(seen);

    /* add partitions */
    assert_int_equal(kb_store_add_partitions(s, t, 3, err, sizeof(err)), KF_ERR_INVALID_PARTITIONS);
    assert_int_equal(kb_store_add_partitions(s, t, 2, err, sizeof(err)), KF_ERR_INVALID_PARTITIONS);
    assert_int_equal(kb_store_add_partitions(s, t, 5, err, sizeof(err)), 0);
    assert_int_equal(t->nparts, 5);
    append(t->parts[4], NULL, 2, T0, 5);

    /* delete */
    append(kb_store_find(s, "beta", 4)->parts[0], NULL, 1, T0, 5);
    assert_int_equal(kb_store_delete(s, "beta", 4), 0);
    assert_int_equal(kb_store_delete(s, "beta", 4), KF_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    char pd[512];
    snprintf(pd, sizeof(pd), "%s/beta-0", dir);
    assert_int_not_equal(access(pd, F_OK), 0);

    assert_int_equal(kb_store_state_set(s, "cluster.id", "abc"), 0);
    kb_store_close(s);

    s = open_store();
    assert_int_equal(kb_store_topic_count(s), 2);
    assert_string_equal(kb_store_topic_at(s, 0)->name, "a.b");
    t = kb_store_topic_at(s, 1);
    assert_string_equal(t->name, "alpha");
    assert_memory_equal(t->id, id, 16);
    assert_int_equal(t->nparts, 5);
    assert_int_equal(t->cfg.segment_bytes, 1048576);
    assert_int_equal(kb_part_log_end(t->parts[4]), 2);
    assert_null(kb_store_find(s, "beta", 4));
    assert_null(kb_store_part(s, "alpha", 5, 5));
    assert_non_null(kb_store_part(s, "alpha", 5, 4));
    assert_string_equal(kb_store_state_get(s, "cluster.id"), "abc");
    assert_null(kb_store_state_get(s, "nope"));
    /* re-create a deleted topic: empty */
    t = create(s, "beta", 1, NULL);
    assert_int_equal(kb_part_log_end(t->parts[0]), 0);
    kb_store_close(s);
}

static void test_bad_files(void **state) {
    (void)state;
    kb_store *s = open_store();
    create(s, "good", 1, NULL);
    kb_store_close(s);
    char path[600];
    /* Unknown directories and files are skipped. */
    snprintf(path, sizeof(path), "%s/foo-bar", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/unknown-3", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/good-0/junk.txt", dir);
    assert_int_equal(kf_write_file_atomic(path, "x", 1), 0);
    s = open_store();
    assert_int_equal(kb_store_topic_count(s), 1);
    /* A second open of the same dir is refused (lock). */
    kb_log_cfg d = defaults();
    kb_store *s2 = NULL;
    char err[512] = "";
    assert_int_not_equal(kb_store_open(&s2, dir, &d, err, sizeof(err)), 0);
    kb_store_close(s);
    /* Garbage metadata: a clear error naming the file. */
    snprintf(path, sizeof(path), "%s/kferry-meta/topics/good.properties", dir);
    assert_int_equal(kf_write_file_atomic(path, "name=good\npartitions=abc\n", 25), 0);
    err[0] = 0;
    assert_int_not_equal(kb_store_open(&s2, dir, &d, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "good.properties"));
    assert_int_equal(
        kf_write_file_atomic(
            path,
            "name=good\npartitions=1\nid=00112233445566778899aabbccddeeff\nconfig.retention.ms=x\n",
            81),
        0);
    assert_int_not_equal(kb_store_open(&s2, dir, &d, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "retention.ms"));
    assert_int_equal(
        kf_write_file_atomic(path, "name=good\npartitions=1\nid=00112233445566778899aabbccddeeff\n",
                             59),
        0);
    snprintf(path, sizeof(path), "%s/recovery-point-offset-checkpoint", dir);
    assert_int_equal(kf_write_file_atomic(path, "0\n5\ngood 0\n", 11), 0);
    assert_int_not_equal(kb_store_open(&s2, dir, &d, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "recovery-point-offset-checkpoint"));
    unlink(path);
    s = open_store();
    assert_non_null(kb_store_find(s, "good", 4));
    kb_store_close(s);
}

static void test_flush_messages(void **state) {
    (void)state;
    kb_store *s = open_store();
    static const char *const kv[] = {"flush.messages", "4", NULL};
    kb_topic *t = create(s, "fl", 1, kv);
    for (int i = 0; i < 3; i++)
        append(t->parts[0], NULL, 3, T0, 5);
    /* recovery point moved with the flushes */
    kb_store_tick(s, kf_wall_ms() + 120000);
    char path[600];
    snprintf(path, sizeof(path), "%s/recovery-point-offset-checkpoint", dir);
    kf_buf ck;
    read_file(path, &ck);
    assert_int_equal(ck.len, strlen("0\n1\nfl 0 6\n"));
    assert_memory_equal(ck.data, "0\n1\nfl 0 6\n", ck.len);
    kf_buf_free(&ck);
    kb_store_close(s);
}

static void test_roll_triggers(void **state) {
    (void)state;
    kb_store *s = open_store();
    /* Index full: 24 bytes = 3 offset entries / 2 time entries. */
    static const char *const kv[] = {"segment.index.bytes", "24", "index.interval.bytes", "0",
                                     NULL};
    kb_topic *t = create(s, "full", 1, kv);
    for (int i = 0; i < 9; i++)
        append(t->parts[0], NULL, 1, T0 + i, 10);
    char pdir[512];
    snprintf(pdir, sizeof(pdir), "%s/full-0", dir);
    assert_int_equal(count_files(pdir, ".log"), 3); /* 3 batches per segment */
    check_all_indexes(pdir, 0, 0);

    /* segment.ms, measured on record timestamps like Kafka. */
    static const char *const kv2[] = {"segment.ms", "1000", NULL};
    t = create(s, "ms", 1, kv2);
    append(t->parts[0], NULL, 1, T0, 10);
    append(t->parts[0], NULL, 1, T0 + 1000, 10);
    snprintf(pdir, sizeof(pdir), "%s/ms-0", dir);
    assert_int_equal(count_files(pdir, ".log"), 1);
    append(t->parts[0], NULL, 1, T0 + 1001, 10);
    assert_int_equal(count_files(pdir, ".log"), 2);

    /* Relative offsets must fit in 31 bits. */
    t = create(s, "wide", 1, NULL);
    append(t->parts[0], NULL, 1, T0, 10);
    kf_buf b;
    kf_buf_init(&b, 0);
    make_batch(&b, 1, T0, 10);
    kf_put_be32(b.data + KF_BATCH_OFF_LAST_OFFSET_DELTA, INT32_MAX - 5);
    kf_batch_set_crc(b.data, b.len);
    int64_t base;
    assert_int_equal(kb_part_append(t->parts[0], b.data, b.len, kf_wall_ms(), &base), 0);
    assert_int_equal(base, 1);
    assert_int_equal(append(t->parts[0], NULL, 10, T0, 10), (int64_t)INT32_MAX - 3);
    snprintf(pdir, sizeof(pdir), "%s/wide-0", dir);
    int64_t bases[8];
    assert_int_equal(segment_bases(pdir, bases, 8), 2);
    assert_int_equal(bases[1], (int64_t)INT32_MAX - 3);
    kf_buf_free(&b);
    kb_store_close(s);
}

static int open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void test_idle_partitions_hold_no_fds(void **state) {
    (void)state;
    kb_store *s = open_store();
    int before = open_fds();
    kb_topic *t = create(s, "many", 50, NULL);
    assert_true(open_fds() - before < 5);
    append(t->parts[7], NULL, 1, T0, 10);
    assert_true(open_fds() - before < 8);
    kb_store_close(s);
    s = open_store();
    kf_buf out;
    kf_buf_init(&out, 0);
    assert_int_equal(kb_part_read(kb_store_part(s, "many", 4, 7), 0, 100, &out), 0);
    assert_true(out.len > 0);
    kf_buf_free(&out);
    kb_store_close(s);
}

int main(void) {
    kf_log_set_level(KF_LOG_ERR); /* keep expected warnings quiet */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip_rolls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_batches_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offset_for_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_check_interval, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_torn_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unclean_without_damage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_lookup_and_rewrite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_append_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_topic_admin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roll_triggers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_partitions_hold_no_fds, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
