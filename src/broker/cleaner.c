/*
 * cleaner.c - the log cleaner: compaction of cleanup.policy=compact topics,
 * following Apache Kafka's LogCleaner.
 *
 * A pass over one partition:
 *   1. the cleanable range is the inactive segments from the cleaner
 *      checkpoint (first dirty offset) up to the first segment with a record
 *      newer than min.compaction.lag.ms, capped at CLEAN_MAX_DIRTY bytes per
 *      pass (the rest is left for later passes);
 *   2. an exact map key bytes -> latest offset is built over that range;
 *   3. every inactive segment from the log start to the end of that range is
 *      rewritten keeping the latest record of each key.  Batches keep their
 *      base offset, last offset delta, producer id/epoch/base sequence,
 *      attributes, base timestamp and codec; kept records are copied byte
 *      for byte (offset and timestamp deltas unchanged).  A batch whose
 *      records all went is kept as an empty header only when it is its
 *      producer's last batch in the log, so idempotence state rebuilt from
 *      the log stays right.  Control and transactional batches are kept
 *      whole and transactional records never supersede older values.
 *      Tombstones (null value) are dropped once the segment holding them was
 *      already cleaned by an earlier pass and was last modified more than
 *      delete.retention.ms ago (the file keeps its original mtime).
 *   4. the checkpoint moves to the end of the cleaned range.
 *
 * Each rewritten segment is written to <base>.log.cleaned (+ .index.cleaned,
 * .timeindex.cleaned), fsynced, renamed to *.swap and then over the
 * originals - indexes first, the .log last.  <base>.log.swap existing is the
 * commit point: kb_cleaner_recover_dir completes such a swap at start-up and
 * deletes *.cleaned files and *.swap indexes without a .log.swap.
 *
 * The broker is single-threaded: kb_cleaner_tick cleans at most one
 * partition per call (the dirtiest), with the dirty bytes per pass bounded.
 */
#include "broker/store_int.h"

#include "common/log.h"
#include "common/util.h"
#include "proto/compress.h"
#include "proto/proto.h"
#include "proto/wire.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CLEAN_MAX_DIRTY ((int64_t)64 << 20) /* dirty bytes mapped per pass */
#define CLEAN_MAX_UNCOMPRESSED (256u * 1024 * 1024)
#define CLEAN_WRITE_CHUNK (1024u * 1024) /* .cleaned bytes buffered before a write */

/* Test hook: KFERRY_TEST_CLEANER_CRASH=cleaned|swap|partial makes the
 * broker SIGKILL itself at that point of the first swap (crash tests). */
static void crash_point(const char *where) {
    const char *want = getenv("KFERRY_TEST_CLEANER_CRASH");
    if (want && strcmp(want, where) == 0) {
        kf_warn("store", "KFERRY_TEST_CLEANER_CRASH=%s: killing the broker", where);
        raise(SIGKILL);
    }
}

/* ---- key -> latest offset map (exact: keys are compared byte for byte) ---- */

typedef struct oent {
    uint64_t h;
    int64_t off; /* -1: empty slot */
    size_t koff; /* key bytes in omap.keys */
    int32_t klen;
} oent;

typedef struct omap {
    oent *e;
    size_t cap, n;
    kf_buf keys;
} omap;

static uint64_t hash_bytes(const uint8_t *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a, then a 64-bit finaliser */
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static int omap_grow(omap *m) {
    size_t nc = m->cap ? m->cap * 2 : 1024;
    oent *ne = malloc(nc * sizeof(*ne));
    if (!ne)
        return -1;
    for (size_t i = 0; i < nc; i++)
        ne[i].off = -1;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->e[i].off < 0)
            continue;
        size_t j = m->e[i].h & (nc - 1);
        while (ne[j].off >= 0)
            j = (j + 1) & (nc - 1);
        ne[j] = m->e[i];
    }
    free(m->e);
    m->e = ne;
    m->cap = nc;
    return 0;
}

static oent *omap_slot(omap *m, uint64_t h, const uint8_t *k, int32_t kl) {
    size_t i = h & (m->cap - 1);
    for (;;) {
        oent *e = &m->e[i];
        if (e->off < 0)
            return e;
        if (e->h == h && e->klen == kl && (kl == 0 || memcmp(m->keys.data + e->koff, k, kl) == 0))
            return e;
        i = (i + 1) & (m->cap - 1);
    }
}

static int omap_put(omap *m, const uint8_t *k, int32_t kl, int64_t off) {
    if ((m->n + 1) * 4 > m->cap * 3 && omap_grow(m) != 0)
        return -1;
    uint64_t h = hash_bytes(k, (size_t)kl);
    oent *e = omap_slot(m, h, k, kl);
    if (e->off < 0) {
        size_t at = m->keys.len;
        kf_buf_append(&m->keys, k, (size_t)kl);
        if (!kf_buf_ok(&m->keys))
            return -1;
        e->h = h;
        e->koff = at;
        e->klen = kl;
        e->off = off;
        m->n++;
    } else if (off > e->off) {
        e->off = off;
    }
    return 0;
}

static int64_t omap_get(omap *m, const uint8_t *k, int32_t kl) {
    if (!m->cap)
        return -1;
    return omap_slot(m, hash_bytes(k, (size_t)kl), k, kl)->off;
}

static void omap_free(omap *m) {
    free(m->e);
    kf_buf_free(&m->keys);
    memset(m, 0, sizeof(*m));
}

/* ---- producer id -> base offset of its last batch in the log ---- */

typedef struct pent {
    int64_t pid; /* -1: empty */
    int64_t base;
} pent;

typedef struct pmap {
    pent *e;
    size_t cap, n;
} pmap;

static size_t pid_hash(int64_t pid, size_t cap) {
    uint64_t z = (uint64_t)pid * 0x9e3779b97f4a7c15ULL;
    return (size_t)(z ^ (z >> 29)) & (cap - 1);
}

static int pmap_put(pmap *m, int64_t pid, int64_t base) {
    if ((m->n + 1) * 2 > m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 64;
        pent *ne = malloc(nc * sizeof(*ne));
        if (!ne)
            return -1;
        for (size_t i = 0; i < nc; i++)
            ne[i].pid = -1;
        for (size_t i = 0; i < m->cap; i++) {
            if (m->e[i].pid < 0)
                continue;
            size_t j = pid_hash(m->e[i].pid, nc);
            while (ne[j].pid >= 0)
                j = (j + 1) & (nc - 1);
            ne[j] = m->e[i];
        }
        free(m->e);
        m->e = ne;
        m->cap = nc;
    }
    size_t j = pid_hash(pid, m->cap);
    while (m->e[j].pid >= 0 && m->e[j].pid != pid)
        j = (j + 1) & (m->cap - 1);
    if (m->e[j].pid < 0) {
        m->e[j].pid = pid;
        m->n++;
    }
    m->e[j].base = base;
    return 0;
}

static int64_t pmap_get(const pmap *m, int64_t pid) {
    if (!m->cap)
        return -1;
    size_t j = pid_hash(pid, m->cap);
    while (m->e[j].pid >= 0) {
        if (m->e[j].pid == pid)
            return m->e[j].base;
        j = (j + 1) & (m->cap - 1);
    }
    return -1;
}

/* ---- one pass ---- */

typedef struct plan {
    size_t first, end; /* dirty segments [first, end); rewritten: [0, end) */
    int64_t clean_bytes, dirty_bytes;
    double ratio;
    int forced; /* max.compaction.lag.ms exceeded */
} plan;

typedef struct pass {
    struct kb_plog *l;
    const kb_log_cfg *cfg;
    int64_t now;
    omap map;
    pmap pids;
    kf_buf wbuf; /* the end of the .cleaned file, not yet written */
    kf_buf recs; /* kept records of the current batch, uncompressed */
    kf_buf out;  /* the rebuilt batch */
    int err;
    /* per segment */
    kb_seg *g;
    int fd;
    int64_t pos;
    int tomb_ok;
    int changed;
    kf_buf idx, tim;
    int64_t last_entry_pos, max_ts, max_ts_off, last_tim_ts, first_ts;
    /* per batch */
    int32_t kept;
    int64_t kept_max_ts;
    /* stats */
    int64_t recs_in, recs_out;
} pass;

static int io_fail(const char *what, const char *path) {
    kf_err("store", "cleaner: %s %s: %s", what, path, strerror(errno));
    return -1;
}

static int keeps_whole(const kf_batch_hdr *h) {
    return (h->attributes & (KF_BATCH_ATTR_CONTROL | KF_BATCH_ATTR_TRANSACTIONAL)) != 0;
}

static int map_rec_cb(const kf_batch_hdr *h, const kf_record *rec, void *opaque) {
    pass *c = opaque;
    if (rec->key_len < 0)
        return 0;
    return omap_put(&c->map, rec->key, rec->key_len, rec->offset) != 0 ? 2 : 0;
}

static int map_batch_cb(kb_seg *g, int64_t pos, const kf_batch_hdr *h, const uint8_t *batch,
                        size_t n, void *opaque) {
    (void)g;
    (void)pos;
    pass *c = opaque;
    if (keeps_whole(h) || h->record_count <= 0)
        return 0;
    int rc = kf_batch_foreach(batch, n, CLEAN_MAX_UNCOMPRESSED, map_rec_cb, c);
    if (rc != 0) {
        kf_err("store", "cleaner: %s: cannot read the records of the batch at offset %" PRId64,
               c->l->dir, h->base_offset);
        c->err = 1;
        return 1;
    }
    return 0;
}

static int pid_batch_cb(kb_seg *g, int64_t pos, const kf_batch_hdr *h, void *opaque) {
    pass *c = opaque;
    if (h->producer_id >= 0 && pmap_put(&c->pids, h->producer_id, h->base_offset) != 0) {
        c->err = 1;
        return 1;
    }
    return 0;
}

static int tim_wants(const pass *c) {
    return c->max_ts >= 0 && (c->last_tim_ts < 0 || c->max_ts > c->last_tim_ts);
}

static void tim_add(pass *c) {
    kf_wr_i64(&c->tim, c->max_ts);
    kf_wr_i32(&c->tim, (int32_t)(uint32_t)(c->max_ts_off - c->g->base));
    c->last_tim_ts = c->max_ts;
}

/* Writes out the buffered end of the .cleaned file, creating the file on
 * first use: a segment the pass leaves unchanged never gets one. */
static int flush_out(pass *c) {
    char path[KB_PATH_MAX];
    kb_seg_path(c->g, ".log.cleaned", path, sizeof(path));
    if (c->fd < 0 && (c->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
        return io_fail("create", path);
    if (c->wbuf.len > 0 &&
        kb_pwrite_all(c->fd, c->wbuf.data, c->wbuf.len, c->pos - (int64_t)c->wbuf.len) != 0)
        return io_fail("write", path);
    kf_buf_reset(&c->wbuf);
    return 0;
}

/* Appends a batch to the .cleaned file with the index entries Kafka (and
 * kb_seg_rebuild) would make for it. */
static int emit(pass *c, const uint8_t *b, size_t n) {
    kf_batch_hdr h;
    if (kf_batch_parse_hdr(b, n, &h) != 0)
        return -1;
    kf_buf_append(&c->wbuf, b, n);
    if (!kf_buf_ok(&c->wbuf))
        return -1;
    int64_t last = kf_batch_last_offset(&h);
    if (c->pos == 0)
        c->first_ts = h.max_timestamp;
    if (h.max_timestamp > c->max_ts) {
        c->max_ts = h.max_timestamp;
        c->max_ts_off = last;
    }
    if (c->pos - c->last_entry_pos > c->cfg->index_interval_bytes) {
        kf_wr_i32(&c->idx, (int32_t)(uint32_t)(last - c->g->base));
        kf_wr_i32(&c->idx, (int32_t)(uint32_t)c->pos);
        if (tim_wants(c))
            tim_add(c);
        c->last_entry_pos = c->pos;
    }
    c->pos += (int64_t)n;
    if (c->wbuf.len >= CLEAN_WRITE_CHUNK && flush_out(c) != 0)
        return -1;
    return kf_buf_ok(&c->idx) && kf_buf_ok(&c->tim) ? 0 : -1;
}

static int filter_rec_cb(const kf_batch_hdr *h, const kf_record *rec, void *opaque) {
    pass *c = opaque;
    int keep = 1;
    c->recs_in++;
    if (rec->key_len < 0) {
        keep = 0; /* Kafka's cleaner drops records without a key */
    } else {
        int64_t latest = omap_get(&c->map, rec->key, rec->key_len);
        if (latest > rec->offset)
            keep = 0;
        else if (rec->value_len < 0 && c->tomb_ok)
            keep = 0;
    }
    if (!keep)
        return 0;
    kf_buf_append(&c->recs, rec->raw, rec->raw_len);
    if (c->kept == 0 || rec->timestamp > c->kept_max_ts)
        c->kept_max_ts = rec->timestamp;
    c->kept++;
    c->recs_out++;
    return kf_buf_ok(&c->recs) ? 0 : 2;
}

static int filter_batch_cb(kb_seg *g, int64_t pos, const kf_batch_hdr *h, const uint8_t *orig,
                           size_t n, void *opaque) {
    (void)g;
    (void)pos;
    pass *c = opaque;
    if (keeps_whole(h) || h->record_count <= 0) {
        if (emit(c, orig, n) != 0)
            goto fail;
        return 0;
    }
    kf_buf_reset(&c->recs);
    c->kept = 0;
    c->kept_max_ts = -1;
    int rc = kf_batch_foreach(orig, n, CLEAN_MAX_UNCOMPRESSED, filter_rec_cb, c);
    if (rc != 0) {
        kf_err("store", "cleaner: %s: cannot read the records of the batch at offset %" PRId64,
               c->l->dir, h->base_offset);
        goto fail;
    }
    if (c->kept == h->record_count) {
        if (emit(c, orig, n) != 0)
            goto fail;
        return 0;
    }
    c->changed = 1;
    kf_buf_reset(&c->out);
    if (c->kept > 0) {
        kf_buf_append(&c->out, orig, KF_BATCH_HDR_SIZE);
        if (kf_compress(kf_batch_codec(h), c->recs.data, c->recs.len, &c->out) != 0 ||
            !kf_buf_ok(&c->out) || c->out.len - KF_BATCH_LOG_OVERHEAD > INT32_MAX)
            goto fail;
        uint8_t *p = c->out.data;
        kf_put_be32(p + KF_BATCH_OFF_LENGTH, (uint32_t)(c->out.len - KF_BATCH_LOG_OVERHEAD));
        kf_put_be64(p + KF_BATCH_OFF_MAX_TIMESTAMP, (uint64_t)c->kept_max_ts);
        kf_put_be32(p + KF_BATCH_OFF_RECORD_COUNT, (uint32_t)c->kept);
        kf_batch_set_crc(p, c->out.len);
    } else if (h->producer_id >= 0 && pmap_get(&c->pids, h->producer_id) == h->base_offset) {
        /* The producer's last batch: keep its header (sequence state). */
        kf_buf_append(&c->out, orig, KF_BATCH_HDR_SIZE);
        if (!kf_buf_ok(&c->out))
            goto fail;
        uint8_t *p = c->out.data;
        uint16_t attrs = (uint16_t)h->attributes & (uint16_t)~KF_BATCH_ATTR_CODEC_MASK;
        kf_put_be32(p + KF_BATCH_OFF_LENGTH, KF_BATCH_HDR_SIZE - KF_BATCH_LOG_OVERHEAD);
        kf_put_be16(p + KF_BATCH_OFF_ATTRIBUTES, attrs);
        kf_put_be64(p + KF_BATCH_OFF_BASE_TIMESTAMP, (uint64_t)h->max_timestamp);
        kf_put_be32(p + KF_BATCH_OFF_RECORD_COUNT, 0);
        kf_batch_set_crc(p, c->out.len);
    } else {
        return 0; /* dropped whole */
    }
    if (emit(c, c->out.data, c->out.len) != 0)
        goto fail;
    return 0;
fail:
    c->err = 1;
    return 1;
}

static int write_file(const char *path, const kf_buf *b) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return io_fail("create", path);
    if (kb_pwrite_all(fd, b->data, b->len, 0) != 0 || fdatasync(fd) != 0) {
        close(fd);
        return io_fail("write", path);
    }
    close(fd);
    return 0;
}

static void unlink_quiet(const char *dir, int64_t base, const char *ext) {
    char path[KB_PATH_MAX];
    snprintf(path, sizeof(path), "%s/%020" PRId64 "%s", dir, base, ext);
    if (unlink(path) != 0 && errno != ENOENT)
        kf_warn("store", "cleaner: unlink %s: %s", path, strerror(errno));
}

static void discard_cleaned(const char *dir, int64_t base) {
    static const char *const exts[] = {".log.cleaned", ".index.cleaned", ".timeindex.cleaned",
                                       ".index.swap", ".timeindex.swap"};
    for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++)
        unlink_quiet(dir, base, exts[i]);
}

static int rename_ext(const char *dir, int64_t base, const char *from, const char *to,
                      int missing_ok) {
    char a[KB_PATH_MAX], b[KB_PATH_MAX];
    snprintf(a, sizeof(a), "%s/%020" PRId64 "%s", dir, base, from);
    snprintf(b, sizeof(b), "%s/%020" PRId64 "%s", dir, base, to);
    if (rename(a, b) != 0) {
        if (missing_ok && errno == ENOENT)
            return 0;
        kf_err("store", "cleaner: rename %s to %s: %s", a, b, strerror(errno));
        return -1;
    }
    return 0;
}

/* From <base>.log.swap existing on, the swap only ever completes. */
static int finish_swap(const char *dir, int64_t base, int live) {
    if (rename_ext(dir, base, ".index.swap", ".index", 1) != 0 ||
        rename_ext(dir, base, ".timeindex.swap", ".timeindex", 1) != 0)
        return -1;
    if (live)
        crash_point("partial");
    if (rename_ext(dir, base, ".log.swap", ".log", 0) != 0)
        return -1;
    if (kf_fsync_dir(dir) != 0)
        return io_fail("fsync", dir);
    return 0;
}

static int swap_in(const char *dir, int64_t base) {
    crash_point("cleaned");
    if (rename_ext(dir, base, ".index.cleaned", ".index.swap", 0) != 0 ||
        rename_ext(dir, base, ".timeindex.cleaned", ".timeindex.swap", 0) != 0 ||
        rename_ext(dir, base, ".log.cleaned", ".log.swap", 0) != 0) {
        discard_cleaned(dir, base);
        return -1;
    }
    if (kf_fsync_dir(dir) != 0)
        io_fail("fsync", dir);
    crash_point("swap");
    return finish_swap(dir, base, 1);
}

/* Rewrites segment g into <base>.log.cleaned and swaps it in if anything
 * was removed.  0 or -1 (the original is then untouched, or the swap will
 * be completed by the next start-up). */
static int clean_segment(pass *c, kb_seg *g, int tomb_ok) {
    char path[KB_PATH_MAX], src[KB_PATH_MAX];
    const char *dir = c->l->dir;
    kb_seg_path(g, ".log.cleaned", path, sizeof(path));
    kb_seg_path(g, ".log", src, sizeof(src));
    struct stat st;
    if (stat(src, &st) != 0)
        return io_fail("stat", src);
    c->g = g;
    c->tomb_ok = tomb_ok;
    c->changed = 0;
    c->pos = 0;
    c->last_entry_pos = 0;
    c->max_ts = -1;
    c->max_ts_off = g->base;
    c->last_tim_ts = -1;
    c->first_ts = -1;
    kf_buf_reset(&c->idx);
    kf_buf_reset(&c->tim);
    c->fd = -1;
    kf_buf_reset(&c->wbuf);
    c->err = 0;
    int rc = kb_seg_walk_batches(g, 0, filter_batch_cb, c);
    if (rc >= 0 && !c->err && c->changed && flush_out(c) != 0)
        rc = -1;
    if (rc < 0 || c->err || !c->changed) {
        if (c->fd >= 0) {
            close(c->fd);
            discard_cleaned(dir, g->base);
        }
        return rc < 0 || c->err ? -1 : 0;
    }
    if (tim_wants(c))
        tim_add(c);
    /* Kafka keeps the original last-modified time on the cleaned segment:
     * delete.retention.ms and the retention fallback count from it. */
    struct timespec ts[2] = {st.st_atim, st.st_mtim};
    char ipath[KB_PATH_MAX], tpath[KB_PATH_MAX];
    kb_seg_path(g, ".index.cleaned", ipath, sizeof(ipath));
    kb_seg_path(g, ".timeindex.cleaned", tpath, sizeof(tpath));
    if (!kf_buf_ok(&c->idx) || !kf_buf_ok(&c->tim) || fdatasync(c->fd) != 0 ||
        futimens(c->fd, ts) != 0 || write_file(ipath, &c->idx) != 0 ||
        write_file(tpath, &c->tim) != 0) {
        if (!kf_buf_ok(&c->idx) || !kf_buf_ok(&c->tim))
            kf_err("store", "cleaner: out of memory for the indexes of %s", path);
        else
            io_fail("write", path);
        close(c->fd);
        discard_cleaned(dir, g->base);
        return -1;
    }
    close(c->fd);
    kb_seg_close_fds(g);
    int64_t old_size = g->size;
    /* Whatever happens now, the in-memory indexes are stale. */
    free(g->idx);
    free(g->tim);
    g->idx = NULL;
    g->tim = NULL;
    g->nidx = g->cidx = g->ntim = g->ctim = 0;
    g->idx_loaded = 0;
    if (swap_in(dir, g->base) != 0)
        return -1;
    c->l->total_size += c->pos - old_size;
    g->size = c->pos;
    g->max_ts = c->max_ts;
    g->max_ts_off = c->max_ts_off;
    g->roll_ts = c->first_ts;
    g->dirty = 0;
    return 0;
}

static int make_plan(const struct kb_plog *l, int64_t now, plan *pl) {
    const kb_log_cfg *cfg = &l->part->topic->cfg;
    memset(pl, 0, sizeof(*pl));
    if (!cfg->compact || l->nsegs < 2)
        return 0;
    size_t active = l->nsegs - 1;
    int64_t cp = l->clean_point > l->log_start ? l->clean_point : l->log_start;
    size_t first = 0;
    while (first < active && l->segs[first]->next_off <= cp)
        first++;
    size_t end = first;
    int64_t dirty = 0;
    while (end < active) {
        const kb_seg *g = l->segs[end];
        if (cfg->min_compact_lag_ms > 0 && g->max_ts >= 0 &&
            g->max_ts > now - cfg->min_compact_lag_ms)
            break;
        if (end > first && dirty + g->size > CLEAN_MAX_DIRTY)
            break;
        if (cfg->max_compact_lag_ms < INT64_MAX) {
            int64_t t = g->roll_ts >= 0 ? g->roll_ts : g->max_ts;
            if (t >= 0 && now - t > cfg->max_compact_lag_ms)
                pl->forced = 1;
        }
        dirty += g->size;
        end++;
    }
    int64_t clean = 0;
    for (size_t i = 0; i < first; i++)
        clean += l->segs[i]->size;
    if (dirty == 0)
        return 0;
    pl->first = first;
    pl->end = end;
    pl->clean_bytes = clean;
    pl->dirty_bytes = dirty;
    pl->ratio = (double)dirty / (double)(clean + dirty);
    return pl->forced || pl->ratio >= cfg->min_cleanable_ratio;
}

static int clean_partition(kb_store *s, struct kb_plog *l, const plan *pl, int64_t now) {
    pass c;
    memset(&c, 0, sizeof(c));
    c.l = l;
    c.cfg = &l->part->topic->cfg;
    c.now = now;
    kf_buf_init(&c.map.keys, 0);
    kf_buf_init(&c.wbuf, 0);
    kf_buf_init(&c.recs, 0);
    kf_buf_init(&c.out, 0);
    kf_buf_init(&c.idx, 0);
    kf_buf_init(&c.tim, 0);
    int64_t interval = c.cfg->index_interval_bytes;
    int64_t old_cp = l->clean_point;
    int64_t upto = l->segs[pl->end]->base;
    int64_t before = 0, after = 0;
    int rc = -1;
    for (size_t i = pl->first; i < pl->end; i++)
        if (kb_seg_walk_batches(l->segs[i], 0, map_batch_cb, &c) < 0 || c.err)
            goto out;
    for (size_t i = 0; i < l->nsegs; i++)
        if (kb_seg_walk(l->segs[i], 0, pid_batch_cb, &c) < 0 || c.err)
            goto out;
    for (size_t i = 0; i < pl->end; i++) {
        kb_seg *g = l->segs[i];
        before += g->size;
        /* Tombstones go once their segment survived an earlier pass and
         * has not been written for delete.retention.ms. */
        int tomb_ok = g->next_off <= old_cp && now - g->mtime_ms > c.cfg->delete_retention_ms;
        if (g->size > 0 && clean_segment(&c, g, tomb_ok) != 0) {
            /* Leave the index to be reloaded (or rebuilt) from the files. */
            kb_seg_load_idx(g, interval);
            goto out;
        }
        after += g->size;
        kb_seg_close_fds(g);
    }
    l->clean_point = upto;
    if (kb_store_write_cleaner_checkpoint(s) != 0)
        kf_warn("store", "cleaner: could not write the cleaner checkpoint");
    kf_info(
        "store",
        "%s: cleaned offsets [%" PRId64 ", %" PRId64 ") (dirty ratio %.2f, %zu key(s)): %" PRId64
        " -> %" PRId64 " byte(s), %" PRId64 " -> %" PRId64 " record(s)",
        l->dir, l->segs[0]->base, upto, pl->ratio, c.map.n, before, after, c.recs_in, c.recs_out);
    rc = 0;
out:
    for (size_t i = 0; i + 1 < l->nsegs; i++)
        kb_seg_close_fds(l->segs[i]);
    omap_free(&c.map);
    free(c.pids.e);
    kf_buf_free(&c.wbuf);
    kf_buf_free(&c.recs);
    kf_buf_free(&c.out);
    kf_buf_free(&c.idx);
    kf_buf_free(&c.tim);
    if (rc != 0)
        kf_err("store", "%s: cleaning failed; the log is unchanged from this segment on", l->dir);
    return rc;
}

void kb_cleaner_tick(kb_store *s, int64_t now_ms) {
    if (s->cleaner_idle_ms && now_ms - s->cleaner_idle_ms < s->defaults.cleaner_backoff_ms)
        return;
    struct kb_plog *best = NULL;
    plan bp = {0};
    for (size_t i = 0; i < s->ntopics; i++) {
        kb_topic *t = s->topics[i];
        if (!t->cfg.compact)
            continue;
        for (int32_t j = 0; j < t->nparts; j++) {
            struct kb_plog *l = t->parts[j]->log;
            plan p;
            if (!l || !make_plan(l, now_ms, &p))
                continue;
            if (!best || (p.forced && !bp.forced) ||
                (p.forced == bp.forced && p.ratio > bp.ratio)) {
                best = l;
                bp = p;
            }
        }
    }
    if (!best || clean_partition(s, best, &bp, now_ms) != 0)
        s->cleaner_idle_ms = now_ms ? now_ms : 1;
}

/* ---- start-up recovery ---- */

static int has_suffix(const char *s, const char *suf, size_t *stem) {
    size_t a = strlen(s), b = strlen(suf);
    if (a != 20 + b || strcmp(s + 20, suf) != 0 || strspn(s, "0123456789") != 20)
        return 0;
    *stem = 20;
    return 1;
}

int kb_cleaner_recover_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d)
        return 0; /* list_segments reports it */
    int64_t *swaps = NULL;
    size_t nsw = 0, csw = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        size_t stem;
        char digits[21];
        if (has_suffix(nm, ".log.swap", &stem)) {
            memcpy(digits, nm, 20);
            digits[20] = '\0';
            int64_t base;
            if (kf_parse_i64(digits, 0, INT64_MAX, &base) != 0)
                continue;
            if (nsw == csw) {
                size_t nc = csw ? csw * 2 : 8;
                int64_t *n = realloc(swaps, nc * sizeof(*n));
                if (!n) {
                    rc = -1;
                    break;
                }
                swaps = n;
                csw = nc;
            }
            swaps[nsw++] = base;
        } else if (has_suffix(nm, ".log.cleaned", &stem) ||
                   has_suffix(nm, ".index.cleaned", &stem) ||
                   has_suffix(nm, ".timeindex.cleaned", &stem) ||
                   has_suffix(nm, ".log.deleted", &stem)) {
            char path[KB_PATH_MAX];
            snprintf(path, sizeof(path), "%s/%s", dir, nm);
            kf_warn("store", "%s: removing %s left by an interrupted cleaning", dir, nm);
            if (unlink(path) != 0 && errno != ENOENT)
                kf_warn("store", "unlink %s: %s", path, strerror(errno));
        }
    }
    closedir(d);
    for (size_t i = 0; rc == 0 && i < nsw; i++) {
        kf_warn("store", "%s: completing the interrupted swap of cleaned segment %" PRId64, dir,
                swaps[i]);
        if (finish_swap(dir, swaps[i], 0) != 0)
            rc = -1;
    }
    free(swaps);
    /* Index .swap files without their .log.swap belong to a swap that had
     * not reached its commit point: the originals are intact. */
    d = opendir(dir);
    if (!d)
        return rc;
    while ((de = readdir(d)) != NULL) {
        size_t stem;
        if (has_suffix(de->d_name, ".index.swap", &stem) ||
            has_suffix(de->d_name, ".timeindex.swap", &stem)) {
            char path[KB_PATH_MAX];
            snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
            kf_warn("store", "%s: removing %s left by an interrupted cleaning", dir, de->d_name);
            if (unlink(path) != 0 && errno != ENOENT)
                kf_warn("store", "unlink %s: %s", path, strerror(errno));
        }
    }
    closedir(d);
    return rc;
}
