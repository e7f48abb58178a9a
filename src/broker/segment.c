/*
 * segment.c - one log segment (<base>.log/.index/.timeindex, Kafka's format)
 * with in-memory copies of both indexes.  Invariant: the index files hold
 * exactly the in-memory entries (no preallocation) and .log holds `size`
 * bytes of whole batches; entries follow Kafka's LogSegment rules.
 */
#include "broker/store_int.h"

#include "common/log.h"
#include "common/util.h"
#include "proto/wire.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HDR_CHUNK 8192
#define CRC_CHUNK (1024 * 1024)

static int io_fail(const char *what, const char *path) {
    kf_err("store", "%s %s: %s", what, path, strerror(errno));
    return -1;
}

void kb_seg_path(const kb_seg *g, const char *ext, char *buf, size_t n) {
    /* The partition dir length is checked when the plog opens, so this fits. */
    snprintf(buf, n, "%s/%020" PRId64 "%s", g->dir, g->base, ext);
}

long long kb_pread_full(int fd, void *p, size_t n, int64_t off) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (uint8_t *)p + got, n - got, (off_t)(off + (int64_t)got));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (long long)got;
}

int kb_pwrite_all(int fd, const void *p, size_t n, int64_t off) {
    size_t done = 0;
    while (done < n) {
        ssize_t w = pwrite(fd, (const uint8_t *)p + done, n - done, (off_t)(off + (int64_t)done));
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        done += (size_t)w;
    }
    return 0;
}

kb_seg *kb_seg_new(const char *dir, int64_t base, int64_t now_ms) {
    kb_seg *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->dir = dir;
    g->base = base;
    g->next_off = base;
    g->max_ts = -1;
    g->max_ts_off = base;
    g->roll_ts = -1;
    g->created_ms = now_ms;
    g->mtime_ms = now_ms;
    g->fd_log = g->fd_idx = g->fd_tim = -1;
    return g;
}

void kb_seg_close_fds(kb_seg *g) {
    if (g->fd_log >= 0)
        close(g->fd_log);
    if (g->fd_idx >= 0)
        close(g->fd_idx);
    if (g->fd_tim >= 0)
        close(g->fd_tim);
    g->fd_log = g->fd_idx = g->fd_tim = -1;
}

void kb_seg_free(kb_seg *g) {
    if (!g)
        return;
    kb_seg_close_fds(g);
    free(g->idx);
    free(g->tim);
    free(g);
}

void kb_seg_unlink(kb_seg *g) {
    static const char *const exts[] = {".log", ".index", ".timeindex", ".txnindex"};
    kb_seg_close_fds(g);
    for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
        char path[KB_PATH_MAX];
        kb_seg_path(g, exts[i], path, sizeof(path));
        if (unlink(path) != 0 && errno != ENOENT)
            kf_err("store", "unlink %s: %s", path, strerror(errno));
    }
}

static int open_file(kb_seg *g, int *fd, const char *ext, int flags) {
    if (*fd >= 0)
        return *fd;
    char path[KB_PATH_MAX];
    kb_seg_path(g, ext, path, sizeof(path));
    *fd = open(path, O_RDWR | O_CLOEXEC | flags, 0644);
    if (*fd < 0)
        return io_fail("open", path);
    return *fd;
}

int kb_seg_log_fd(kb_seg *g) { return open_file(g, &g->fd_log, ".log", 0); }
static int idx_fd(kb_seg *g) { return open_file(g, &g->fd_idx, ".index", O_CREAT); }
static int tim_fd(kb_seg *g) { return open_file(g, &g->fd_tim, ".timeindex", O_CREAT); }

int kb_seg_create_files(kb_seg *g) {
    kb_seg_close_fds(g);
    if (open_file(g, &g->fd_log, ".log", O_CREAT | O_TRUNC) < 0 ||
        open_file(g, &g->fd_idx, ".index", O_CREAT | O_TRUNC) < 0 ||
        open_file(g, &g->fd_tim, ".timeindex", O_CREAT | O_TRUNC) < 0)
        return -1;
    char txi[KB_PATH_MAX]; /* a leftover transaction index would describe other data */
    kb_seg_path(g, ".txnindex", txi, sizeof(txi));
    if (unlink(txi) != 0 && errno != ENOENT)
        kf_err("store", "unlink %s: %s", txi, strerror(errno));
    g->idx_loaded = 1;
    g->nidx = g->ntim = 0;
    g->size = 0;
    g->since_idx = 0;
    g->dirty = 1;
    return 0;
}

static int idx_push(kb_seg *g, uint32_t rel, uint32_t pos) {
    if (g->nidx == g->cidx) {
        size_t nc = g->cidx ? g->cidx * 2 : 64;
        kb_idx_ent *n = realloc(g->idx, nc * sizeof(*n));
        if (!n)
            return -1;
        g->idx = n;
        g->cidx = nc;
    }
    g->idx[g->nidx].rel = rel;
    g->idx[g->nidx].pos = pos;
    g->nidx++;
    return 0;
}

static int tim_push(kb_seg *g, int64_t ts, uint32_t rel) {
    if (g->ntim == g->ctim) {
        size_t nc = g->ctim ? g->ctim * 2 : 64;
        kb_tim_ent *n = realloc(g->tim, nc * sizeof(*n));
        if (!n)
            return -1;
        g->tim = n;
        g->ctim = nc;
    }
    g->tim[g->ntim].ts = ts;
    g->tim[g->ntim].rel = rel;
    g->ntim++;
    return 0;
}

static void enc_idx(uint8_t *p, const kb_idx_ent *e) {
    kf_put_be32(p, e->rel);
    kf_put_be32(p + 4, e->pos);
}

static void enc_tim(uint8_t *p, const kb_tim_ent *e) {
    kf_put_be64(p, (uint64_t)e->ts);
    kf_put_be32(p + 8, e->rel);
}

/* Kafka's maybeAppend: only when the timestamp grew past the last entry. */
static int tim_wants(const kb_seg *g) {
    return g->max_ts >= 0 && (g->ntim == 0 || g->max_ts > g->tim[g->ntim - 1].ts);
}

static int write_tim_last(kb_seg *g) {
    char path[KB_PATH_MAX];
    uint8_t e[KB_TIM_ENTRY];
    enc_tim(e, &g->tim[g->ntim - 1]);
    if (tim_fd(g) < 0)
        return -1;
    if (kb_pwrite_all(g->fd_tim, e, sizeof(e), (int64_t)(g->ntim - 1) * KB_TIM_ENTRY) != 0) {
        kb_seg_path(g, ".timeindex", path, sizeof(path));
        return io_fail("write", path);
    }
    return 0;
}

int kb_seg_tim_final(kb_seg *g) {
    if (!g->idx_loaded || !tim_wants(g))
        return 0;
    if (tim_push(g, g->max_ts, (uint32_t)(g->max_ts_off - g->base)) != 0)
        return -1;
    if (write_tim_last(g) != 0) {
        g->ntim--;
        return -1;
    }
    g->dirty = 1;
    return 0;
}

int kb_seg_index_full(const kb_seg *g, int64_t index_bytes) {
    int64_t max_idx = index_bytes / KB_IDX_ENTRY, max_tim = index_bytes / KB_TIM_ENTRY;
    return (int64_t)g->nidx >= max_idx || (int64_t)g->ntim >= max_tim;
}

int kb_seg_append(kb_seg *g, const uint8_t *batch, size_t len, int64_t last_off,
                  int64_t batch_max_ts, int64_t interval) {
    char path[KB_PATH_MAX];
    int64_t pos = g->size;
    if (kb_seg_log_fd(g) < 0)
        return -1;
    if (kb_pwrite_all(g->fd_log, batch, len, pos) != 0) {
        int e = errno;
        kb_seg_path(g, ".log", path, sizeof(path));
        if (ftruncate(g->fd_log, (off_t)pos) != 0)
            kf_err("store", "truncate %s after failed write: %s", path, strerror(errno));
        errno = e;
        return io_fail("write", path);
    }
    int64_t old_max = g->max_ts, old_max_off = g->max_ts_off, old_roll = g->roll_ts;
    if (pos == 0)
        g->roll_ts = batch_max_ts;
    if (batch_max_ts > g->max_ts) {
        g->max_ts = batch_max_ts;
        g->max_ts_off = last_off;
    }
    if (g->since_idx > interval) {
        int ok = idx_push(g, (uint32_t)(last_off - g->base), (uint32_t)pos) == 0;
        if (ok) {
            uint8_t e[KB_IDX_ENTRY];
            enc_idx(e, &g->idx[g->nidx - 1]);
            if (idx_fd(g) < 0 || kb_pwrite_all(g->fd_idx, e, sizeof(e),
                                               (int64_t)(g->nidx - 1) * KB_IDX_ENTRY) != 0) {
                kb_seg_path(g, ".index", path, sizeof(path));
                if (g->fd_idx >= 0)
                    io_fail("write", path);
                g->nidx--;
                ok = 0;
            }
        }
        if (ok && tim_wants(g)) {
            if (tim_push(g, g->max_ts, (uint32_t)(g->max_ts_off - g->base)) != 0 ||
                write_tim_last(g) != 0) {
                /* Undo the .index entry too so both files stay exact. */
                if (g->ntim > 0 && g->tim[g->ntim - 1].ts == g->max_ts)
                    g->ntim--;
                g->nidx--;
                if (ftruncate(g->fd_idx, (off_t)g->nidx * KB_IDX_ENTRY) != 0)
                    kf_err("store", "truncate index of %s: %s", g->dir, strerror(errno));
                ok = 0;
            }
        }
        if (!ok) {
            kb_seg_path(g, ".log", path, sizeof(path));
            if (ftruncate(g->fd_log, (off_t)pos) != 0)
                kf_err("store", "truncate %s: %s", path, strerror(errno));
            g->max_ts = old_max;
            g->max_ts_off = old_max_off;
            g->roll_ts = old_roll;
            return -1;
        }
        g->since_idx = 0;
    }
    g->since_idx += (int64_t)len;
    g->size += (int64_t)len;
    g->next_off = last_off + 1;
    g->dirty = 1;
    return 0;
}

/* ---- sequential header reading ---- */

typedef struct hreader {
    kb_seg *g;
    int64_t limit; /* bytes of the file that may be read */
    int64_t bpos;  /* file position of buf[0] */
    size_t blen;
    uint8_t *buf;
    size_t bcap;
    size_t chunk;
    const char *why; /* reason of the last -2 */
} hreader;

static void hr_init(hreader *r, kb_seg *g, int64_t limit, size_t chunk) {
    memset(r, 0, sizeof(*r));
    r->g = g;
    r->limit = limit;
    r->chunk = chunk;
}

static void hr_free(hreader *r) { free(r->buf); }

/* Makes [pos, pos+n) available in r->buf. 0 ok, -1 I/O error, -2 short. */
static int hr_fill(hreader *r, int64_t pos, size_t n) {
    if (pos >= r->bpos && pos + (int64_t)n <= r->bpos + (int64_t)r->blen)
        return 0;
    size_t want = n > r->chunk ? n : r->chunk;
    if ((int64_t)want > r->limit - pos)
        want = (size_t)(r->limit - pos);
    if (want < n)
        return -2;
    if (want > r->bcap) {
        uint8_t *nb = realloc(r->buf, want);
        if (!nb) {
            errno = ENOMEM;
            return -1;
        }
        r->buf = nb;
        r->bcap = want;
    }
    long long got = kb_pread_full(r->g->fd_log, r->buf, want, pos);
    if (got < 0)
        return -1;
    r->bpos = pos;
    r->blen = (size_t)got;
    return (size_t)got < n ? -2 : 0;
}

/* Reads the batch header at pos. 1 = ok (batch wholly inside the limit),
 * 0 = pos is the end, -1 = I/O error, -2 = torn or invalid (r->why). */
static int hr_hdr(hreader *r, int64_t pos, kf_batch_hdr *h) {
    if (pos >= r->limit)
        return 0;
    if (r->limit - pos < KF_BATCH_HDR_SIZE) {
        r->why = "torn batch header";
        return -2;
    }
    int rc = hr_fill(r, pos, KF_BATCH_HDR_SIZE);
    if (rc != 0) {
        r->why = "file shorter than expected";
        return rc;
    }
    const uint8_t *p = r->buf + (pos - r->bpos);
    if (kf_batch_parse_hdr(p, KF_BATCH_HDR_SIZE, h) != 0) {
        r->why = "invalid batch header (magic or length)";
        return -2;
    }
    if (h->length < KF_BATCH_HDR_SIZE - KF_BATCH_LOG_OVERHEAD ||
        (int64_t)h->length > r->limit - pos - KF_BATCH_LOG_OVERHEAD) {
        r->why = "torn batch (length beyond the end of the file)";
        return -2;
    }
    if (h->last_offset_delta < 0) {
        r->why = "negative last offset delta";
        return -2;
    }
    return 1;
}

static int walk(kb_seg *g, int64_t pos, kb_seg_hdr_fn hcb, kb_seg_batch_fn bcb, void *opaque) {
    if (kb_seg_log_fd(g) < 0)
        return -1;
    hreader r;
    hr_init(&r, g, g->size, bcb ? CRC_CHUNK : HDR_CHUNK);
    int ret = 0;
    for (;;) {
        kf_batch_hdr h;
        int rc = hr_hdr(&r, pos, &h);
        if (rc == 1 && bcb) {
            rc = hr_fill(&r, pos, kf_batch_size(&h));
            if (rc == -2)
                r.why = "file shorter than expected";
            rc = rc == 0 ? 1 : rc;
        }
        if (rc == 0)
            break;
        if (rc < 0) {
            char path[KB_PATH_MAX];
            kb_seg_path(g, ".log", path, sizeof(path));
            if (rc == -1)
                io_fail("read", path);
            else
                kf_err("store", "%s: %s at position %" PRId64, path, r.why, pos);
            ret = -1;
            break;
        }
        int c = bcb ? bcb(g, pos, &h, r.buf + (pos - r.bpos), kf_batch_size(&h), opaque)
                    : hcb(g, pos, &h, opaque);
        if (c) {
            ret = c;
            break;
        }
        pos += (int64_t)kf_batch_size(&h);
    }
    hr_free(&r);
    return ret;
}

int kb_seg_walk(kb_seg *g, int64_t pos, kb_seg_hdr_fn cb, void *opaque) {
    return walk(g, pos, cb, NULL, opaque);
}

int kb_seg_walk_batches(kb_seg *g, int64_t pos, kb_seg_batch_fn cb, void *opaque) {
    return walk(g, pos, NULL, cb, opaque);
}

typedef struct find_ctx {
    int64_t target;
    int64_t pos;
    kf_batch_hdr h;
} find_ctx;

static int find_cb(kb_seg *g, int64_t pos, const kf_batch_hdr *h, void *opaque) {
    find_ctx *c = opaque;
    if (kf_batch_last_offset(h) >= c->target) {
        c->pos = pos;
        c->h = *h;
        return 1;
    }
    return 0;
}

int kb_seg_find(kb_seg *g, int64_t target, int64_t *pos, kf_batch_hdr *h) {
    int64_t start = 0;
    if (target > g->base && g->nidx > 0) {
        /* Largest entry whose offset <= target: that batch ends at or
         * before target, so the wanted batch starts at or after it. */
        size_t lo = 0, hi = g->nidx;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (g->base + (int64_t)g->idx[mid].rel <= target)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo > 0)
            start = g->idx[lo - 1].pos;
    }
    find_ctx c = {.target = target, .pos = g->size};
    int rc = kb_seg_walk(g, start, find_cb, &c);
    if (rc < 0)
        return -1;
    *pos = c.pos;
    if (rc == 1) {
        *h = c.h;
        return 1;
    }
    return 0;
}

/* Replaces an index file's content with the in-memory entries. */
static int write_index_files(kb_seg *g) {
    char path[KB_PATH_MAX];
    size_t ilen = g->nidx * KB_IDX_ENTRY, tlen = g->ntim * KB_TIM_ENTRY;
    uint8_t *buf = malloc((ilen > tlen ? ilen : tlen) + 1);
    if (!buf)
        return -1;
    for (size_t i = 0; i < g->nidx; i++)
        enc_idx(buf + i * KB_IDX_ENTRY, &g->idx[i]);
    int rc = 0;
    if (idx_fd(g) < 0 || kb_pwrite_all(g->fd_idx, buf, ilen, 0) != 0 ||
        ftruncate(g->fd_idx, (off_t)ilen) != 0) {
        kb_seg_path(g, ".index", path, sizeof(path));
        if (g->fd_idx >= 0)
            io_fail("write", path);
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < g->ntim; i++)
        enc_tim(buf + i * KB_TIM_ENTRY, &g->tim[i]);
    if (rc == 0 && (tim_fd(g) < 0 || kb_pwrite_all(g->fd_tim, buf, tlen, 0) != 0 ||
                    ftruncate(g->fd_tim, (off_t)tlen) != 0)) {
        kb_seg_path(g, ".timeindex", path, sizeof(path));
        if (g->fd_tim >= 0)
            io_fail("write", path);
        rc = -1;
    }
    free(buf);
    g->dirty = 1;
    return rc;
}

int kb_seg_rebuild(kb_seg *g, int64_t interval, int check_crc, int64_t *truncated) {
    char path[KB_PATH_MAX];
    kb_seg_path(g, ".log", path, sizeof(path));
    *truncated = 0;
    if (kb_seg_log_fd(g) < 0)
        return -1;
    struct stat st;
    if (fstat(g->fd_log, &st) != 0)
        return io_fail("stat", path);
    g->mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    g->nidx = g->ntim = 0;
    g->max_ts = -1;
    g->max_ts_off = g->base;
    g->roll_ts = -1;
    g->idx_loaded = 1;

    hreader r;
    hr_init(&r, g, (int64_t)st.st_size, check_crc ? CRC_CHUNK : HDR_CHUNK);
    int64_t pos = 0, next = g->base, last_entry_pos = 0;
    const char *bad = NULL;
    int rc = 0;
    for (;;) {
        kf_batch_hdr h;
        int hr = hr_hdr(&r, pos, &h);
        if (hr == 0)
            break;
        if (hr == -1) {
            rc = io_fail("read", path);
            break;
        }
        if (hr == -2) {
            bad = r.why;
            break;
        }
        int64_t last = kf_batch_last_offset(&h);
        if (h.base_offset < next) {
            bad = "offsets not increasing";
            break;
        }
        if (last - g->base > INT32_MAX) {
            bad = "offset too far from the segment base";
            break;
        }
        size_t bsize = kf_batch_size(&h);
        if (check_crc) {
            int f = hr_fill(&r, pos, bsize);
            if (f == -1) {
                rc = io_fail("read", path);
                break;
            }
            if (f == -2) {
                bad = "file shorter than expected";
                break;
            }
            if (!kf_batch_crc_ok(r.buf + (pos - r.bpos), bsize)) {
                bad = "CRC mismatch";
                break;
            }
        }
        if (pos == 0)
            g->roll_ts = h.max_timestamp;
        if (h.max_timestamp > g->max_ts) {
            g->max_ts = h.max_timestamp;
            g->max_ts_off = last;
        }
        if (pos - last_entry_pos > interval) {
            if (idx_push(g, (uint32_t)(last - g->base), (uint32_t)pos) != 0 ||
                (tim_wants(g) &&
                 tim_push(g, g->max_ts, (uint32_t)(g->max_ts_off - g->base)) != 0)) {
                errno = ENOMEM;
                rc = io_fail("index", path);
                break;
            }
            last_entry_pos = pos;
        }
        pos += (int64_t)bsize;
        next = last + 1;
    }
    hr_free(&r);
    if (rc != 0)
        return -1;
    if (pos < (int64_t)st.st_size) {
        *truncated = (int64_t)st.st_size - pos;
        kf_warn("store", "%s: %s at position %" PRId64 ", truncating %" PRId64 " byte(s)", path,
                bad ? bad : "trailing bytes", pos, *truncated);
        if (ftruncate(g->fd_log, (off_t)pos) != 0)
            return io_fail("truncate", path);
    }
    g->size = pos;
    g->next_off = next;
    g->since_idx = pos - last_entry_pos;
    /* Kafka appends the largest timestamp when a segment is recovered,
     * rolled or closed; doing the same keeps the files identical. */
    if (tim_wants(g) && tim_push(g, g->max_ts, (uint32_t)(g->max_ts_off - g->base)) != 0)
        return -1;
    return write_index_files(g);
}

/* Reads an index file wholly into a fresh buffer. Missing file = empty. */
static int read_small(kb_seg *g, const char *ext, uint8_t **out, size_t *len) {
    char path[KB_PATH_MAX];
    kb_seg_path(g, ext, path, sizeof(path));
    *out = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 1 : io_fail("open", path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return io_fail("stat", path);
    }
    if (st.st_size > (off_t)INT32_MAX) {
        close(fd);
        kf_warn("store", "%s: implausible size %lld", path, (long long)st.st_size);
        return 1;
    }
    size_t n = (size_t)st.st_size;
    uint8_t *b = malloc(n + 1);
    if (!b) {
        close(fd);
        return -1;
    }
    long long got = kb_pread_full(fd, b, n, 0);
    close(fd);
    if (got < 0) {
        free(b);
        return io_fail("read", path);
    }
    *out = b;
    *len = (size_t)got;
    return 0;
}

int kb_seg_load_idx(kb_seg *g, int64_t interval) {
    if (g->idx_loaded)
        return 0;
    uint8_t *ib = NULL, *tb = NULL;
    size_t il = 0, tl = 0;
    int ri = read_small(g, ".index", &ib, &il);
    int rt = ri < 0 ? -1 : read_small(g, ".timeindex", &tb, &tl);
    if (ri < 0 || rt < 0) {
        free(ib);
        free(tb);
        return -1;
    }
    const char *bad = NULL;
    if (ri == 1 || rt == 1)
        bad = "missing index file";
    else if (il % KB_IDX_ENTRY != 0 || tl % KB_TIM_ENTRY != 0)
        bad = "index size not a multiple of the entry size";
    g->nidx = g->ntim = 0;
    int64_t span = g->next_off - g->base; /* relative offsets must stay below */
    for (size_t i = 0; !bad && i < il / KB_IDX_ENTRY; i++) {
        uint32_t rel = kf_be32(ib + i * KB_IDX_ENTRY), pos = kf_be32(ib + i * KB_IDX_ENTRY + 4);
        if ((int64_t)rel >= span || (int64_t)pos >= g->size ||
            (g->nidx > 0 && (rel <= g->idx[g->nidx - 1].rel || pos <= g->idx[g->nidx - 1].pos)))
            bad = "invalid .index entry";
        else if (idx_push(g, rel, pos) != 0)
            bad = "out of memory";
    }
    for (size_t i = 0; !bad && i < tl / KB_TIM_ENTRY; i++) {
        int64_t ts = (int64_t)kf_be64(tb + i * KB_TIM_ENTRY);
        uint32_t rel = kf_be32(tb + i * KB_TIM_ENTRY + 8);
        if ((int64_t)rel >= span ||
            (g->ntim > 0 && (ts <= g->tim[g->ntim - 1].ts || rel < g->tim[g->ntim - 1].rel)))
            bad = "invalid .timeindex entry";
        else if (tim_push(g, ts, rel) != 0)
            bad = "out of memory";
    }
    free(ib);
    free(tb);
    if (!bad) {
        g->idx_loaded = 1;
        return 0;
    }
    char path[KB_PATH_MAX];
    kb_seg_path(g, ".index", path, sizeof(path));
    kf_warn("store", "%s: %s, rebuilding the indexes from the log", path, bad);
    int64_t cut = 0;
    int64_t old_next = g->next_off;
    if (kb_seg_rebuild(g, interval, 0, &cut) != 0)
        return -1;
    /* An inactive segment ends where the next one begins, even if the
     * rebuilt scan ended earlier (a gap is legal, e.g. after compaction). */
    if (g->next_off < old_next && cut == 0)
        g->next_off = old_next;
    return 0;
}

int kb_seg_load(kb_seg *g, int64_t interval) {
    char path[KB_PATH_MAX];
    kb_seg_path(g, ".log", path, sizeof(path));
    struct stat st;
    if (stat(path, &st) != 0)
        return io_fail("stat", path);
    g->size = (int64_t)st.st_size;
    g->mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    /* The largest timestamp is the last .timeindex entry (written on roll). */
    kb_seg_path(g, ".timeindex", path, sizeof(path));
    if (stat(path, &st) != 0) {
        if (errno != ENOENT)
            return io_fail("stat", path);
        return kb_seg_load_idx(g, interval);
    }
    if (st.st_size % KB_TIM_ENTRY != 0)
        return kb_seg_load_idx(g, interval); /* will rebuild */
    if (st.st_size >= KB_TIM_ENTRY) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return io_fail("open", path);
        uint8_t e[KB_TIM_ENTRY];
        long long got = kb_pread_full(fd, e, sizeof(e), (int64_t)st.st_size - KB_TIM_ENTRY);
        close(fd);
        if (got != (long long)sizeof(e))
            return io_fail("read", path);
        int64_t ts = (int64_t)kf_be64(e);
        uint32_t rel = kf_be32(e + 8);
        if ((int64_t)rel >= g->next_off - g->base)
            return kb_seg_load_idx(g, interval); /* implausible: validate/rebuild */
        g->max_ts = ts;
        g->max_ts_off = g->base + (int64_t)rel;
    }
    return 0;
}

int kb_seg_fsync(kb_seg *g) {
    if (!g->dirty)
        return 0;
    /* The fds may have been closed after a roll: fsync through a fresh
     * descriptor still flushes the file's dirty pages. */
    char path[KB_PATH_MAX];
    if (kb_seg_log_fd(g) < 0)
        return -1;
    if (fdatasync(g->fd_log) != 0) {
        kb_seg_path(g, ".log", path, sizeof(path));
        return io_fail("fsync", path);
    }
    if (idx_fd(g) < 0)
        return -1;
    if (fdatasync(g->fd_idx) != 0) {
        kb_seg_path(g, ".index", path, sizeof(path));
        return io_fail("fsync", path);
    }
    if (tim_fd(g) < 0)
        return -1;
    if (fdatasync(g->fd_tim) != 0) {
        kb_seg_path(g, ".timeindex", path, sizeof(path));
        return io_fail("fsync", path);
    }
    g->dirty = 0;
    return 0;
}
