/*
 * partlog.c - a partition's log: ordered segments, append with rolls, reads,
 * time lookups, retention, DeleteRecords and crash recovery.  Invariant:
 * segments are sorted and never overlap, the last is the active one, and
 * first segment base <= log start <= log end.
 */
#include "broker/store_int.h"

#include "common/log.h"
#include "common/util.h"
#include "proto/proto.h"
#include "proto/wire.h"

#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FOREACH_MAX_UNCOMPRESSED (256u * 1024 * 1024)

static kb_seg *active_seg(const struct kb_plog *l) { return l->segs[l->nsegs - 1]; }
static int64_t plog_end(const struct kb_plog *l) { return active_seg(l)->next_off; }
static const kb_log_cfg *plog_cfg(const struct kb_plog *l) { return &l->part->topic->cfg; }

static int push_seg(struct kb_plog *l, kb_seg *g) {
    if (l->nsegs == l->csegs) {
        size_t nc = l->csegs ? l->csegs * 2 : 8;
        kb_seg **n = realloc(l->segs, nc * sizeof(*n));
        if (!n)
            return -1;
        l->segs = n;
        l->csegs = nc;
    }
    l->segs[l->nsegs++] = g;
    return 0;
}

/* Removes segs[0..k) from the list and their files from disk. */
static void drop_front(struct kb_plog *l, size_t k) {
    for (size_t i = 0; i < k; i++) {
        l->total_size -= l->segs[i]->size;
        kb_seg_unlink(l->segs[i]);
        kb_seg_free(l->segs[i]);
    }
    memmove(l->segs, l->segs + k, (l->nsegs - k) * sizeof(*l->segs));
    l->nsegs -= k;
}

/* Removes segs[from..] (files included). */
static void drop_back(struct kb_plog *l, size_t from) {
    for (size_t i = from; i < l->nsegs; i++) {
        l->total_size -= l->segs[i]->size;
        kb_seg_unlink(l->segs[i]);
        kb_seg_free(l->segs[i]);
    }
    l->nsegs = from;
}

/* Index of the segment that holds offset: the last with base <= offset. */
static size_t seg_for(const struct kb_plog *l, int64_t offset) {
    size_t lo = 0, hi = l->nsegs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->segs[mid]->base <= offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 ? lo - 1 : 0;
}

static int roll(struct kb_plog *l, int64_t now_ms) {
    kb_seg *a = active_seg(l);
    if (a->size == 0)
        return 0; /* never leave an empty segment behind */
    if (kb_seg_tim_final(a) != 0)
        return -1;
    kb_seg *n = kb_seg_new(l->dir, a->next_off, now_ms);
    if (!n)
        return -1;
    if (kb_seg_create_files(n) != 0 || push_seg(l, n) != 0) {
        kb_seg_unlink(n);
        kb_seg_free(n);
        return -1;
    }
    /* The old segment is read-only from now on; its fds are reopened on
     * demand so idle partitions hold at most the active segment's fds. */
    kb_seg_close_fds(a);
    l->dir_dirty = 1;
    kf_debug("store", "%s: rolled segment %" PRId64, l->dir, n->base);
    return 0;
}

/* ---- open / recovery ---- */

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Base offsets of the <20 digits>.log files in dir. */
static int list_segments(const char *dir, int64_t **out, size_t *n) {
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        kf_err("store", "opendir %s: %s", dir, strerror(errno));
        return -1;
    }
    size_t cap = 0;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        size_t len = strlen(nm);
        if (len != 24 || strcmp(nm + 20, ".log") != 0)
            continue;
        char digits[21];
        memcpy(digits, nm, 20);
        digits[20] = '\0';
        int64_t base;
        if (strspn(digits, "0123456789") != 20 || kf_parse_i64(digits, 0, INT64_MAX, &base) != 0) {
            kf_warn("store", "%s: ignoring unexpected file %s", dir, nm);
            continue;
        }
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            int64_t *nb = realloc(*out, nc * sizeof(*nb));
            if (!nb) {
                rc = -1;
                break;
            }
            *out = nb;
            cap = nc;
        }
        (*out)[(*n)++] = base;
    }
    closedir(d);
    if (rc == 0 && *n > 1)
        qsort(*out, *n, sizeof(**out), cmp_i64);
    return rc;
}

static void write_partition_metadata(struct kb_plog *l) {
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const uint8_t *id = l->part->topic->id;
    char enc[32];
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (int i = 0; i < 16; i++) {
        acc = (acc << 8) | id[i];
        bits += 8;
        while (bits >= 6) {
            enc[o++] = b64[(acc >> (bits - 6)) & 63];
            bits -= 6;
        }
    }
    if (bits > 0)
        enc[o++] = b64[(acc << (6 - bits)) & 63];
    enc[o] = '\0';
    char text[96], path[KB_PATH_MAX];
    int n = snprintf(text, sizeof(text), "version: 0\ntopic_id: %s\n", enc);
    snprintf(path, sizeof(path), "%s/partition.metadata", l->dir);
    /* Informational only (Kafka tooling reads it): no fsync needed. */
    FILE *f = fopen(path, "we");
    if (!f || fwrite(text, 1, (size_t)n, f) != (size_t)n)
        kf_warn("store", "cannot write %s: %s", path, strerror(errno));
    if (f)
        fclose(f);
}

static int recover(struct kb_plog *l, int64_t rp) {
    int64_t interval = plog_cfg(l)->index_interval_bytes;
    size_t start = rp >= 0 ? seg_for(l, rp) : 0;
    int64_t cut_total = 0;
    size_t dropped = 0;
    for (size_t i = start; i < l->nsegs; i++) {
        kb_seg *g = l->segs[i];
        int64_t before = g->size, cut = 0;
        if (kb_seg_rebuild(g, interval, 1, &cut) != 0)
            return -1;
        l->total_size += g->size - before;
        cut_total += cut;
        if (i + 1 < l->nsegs) {
            kb_seg *nx = l->segs[i + 1];
            if (cut > 0 || g->next_off > nx->base) {
                if (cut == 0)
                    kf_warn("store",
                            "%s: segment %" PRId64 " overlaps segment %" PRId64
                            ", dropping the later segments",
                            l->dir, g->base, nx->base);
                dropped = l->nsegs - i - 1;
                drop_back(l, i + 1);
            } else {
                g->next_off = nx->base;
                kb_seg_close_fds(g);
            }
        }
    }
    kf_warn("store",
            "%s: recovered after unclean shutdown from offset %" PRId64 ": log end %" PRId64
            ", %" PRId64 " byte(s) truncated, %zu segment(s) dropped",
            l->dir, l->segs[start < l->nsegs ? start : 0]->base, plog_end(l), cut_total, dropped);
    return 0;
}

int kb_plog_open(kb_store *s, kb_part *p, const char *dir, int clean, int64_t rp, int64_t ls,
                 int create, char *err, size_t errlen) {
    if (strlen(dir) + 40 >= KB_PATH_MAX) {
        snprintf(err, errlen, "%s: path too long", dir);
        return -1;
    }
    struct kb_plog *l = calloc(1, sizeof(*l));
    if (!l || !(l->dir = kf_strdup(dir))) {
        free(l);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    l->store = s;
    l->part = p;
    p->log = l;
    int64_t now = kf_wall_ms();
    l->last_flush_ms = now;
    int64_t interval = plog_cfg(l)->index_interval_bytes;
    int64_t *bases = NULL;
    size_t nb = 0;

    if (kf_mkdirs(dir, 0755) != 0) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        goto fail;
    }
    if (create)
        write_partition_metadata(l);
    else if (kb_cleaner_recover_dir(dir) != 0 || list_segments(dir, &bases, &nb) != 0) {
        snprintf(err, errlen, "cannot list %s: %s", dir, strerror(errno));
        goto fail;
    }
    if (nb == 0) {
        /* A partition whose segments were all deleted keeps its offsets:
         * restart at the checkpointed log start. */
        kb_seg *g = kb_seg_new(l->dir, ls > 0 ? ls : 0, now);
        if (!g || push_seg(l, g) != 0) {
            kb_seg_free(g);
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        if (kb_seg_create_files(g) != 0) {
            snprintf(err, errlen, "cannot create a segment in %s: %s", dir, strerror(errno));
            goto fail;
        }
        l->dir_dirty = 1;
    }
    for (size_t i = 0; i < nb; i++) {
        kb_seg *g = kb_seg_new(l->dir, bases[i], now);
        if (!g || push_seg(l, g) != 0) {
            kb_seg_free(g);
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    for (size_t i = 0; i < nb; i++) {
        kb_seg *g = l->segs[i];
        g->next_off = i + 1 < nb ? l->segs[i + 1]->base : g->base;
        if (i + 1 < nb && kb_seg_load(g, interval) != 0) {
            snprintf(err, errlen, "cannot load segment %" PRId64 " in %s: %s", g->base, dir,
                     strerror(errno));
            goto fail;
        }
        l->total_size += g->size;
    }
    if (nb > 0) {
        if (!clean) {
            if (recover(l, rp) != 0) {
                snprintf(err, errlen, "recovery of %s failed: %s", dir, strerror(errno));
                goto fail;
            }
        } else {
            /* The active segment's indexes are always rebuilt from the log
             * (cheap header scan): they are the ones a crash could tear. */
            kb_seg *a = active_seg(l);
            int64_t cut = 0, before = a->size;
            if (kb_seg_rebuild(a, interval, 0, &cut) != 0) {
                snprintf(err, errlen, "cannot read the active segment of %s: %s", dir,
                         strerror(errno));
                goto fail;
            }
            l->total_size += a->size - before;
        }
    }
    free(bases);
    bases = NULL;

    int64_t end = plog_end(l);
    l->log_start = ls >= 0 ? ls : l->segs[0]->base;
    if (l->log_start < l->segs[0]->base)
        l->log_start = l->segs[0]->base;
    if (l->log_start > end) {
        kf_warn("store", "%s: log start offset %" PRId64 " beyond log end %" PRId64 ", clamping",
                dir, l->log_start, end);
        l->log_start = end;
    }
    size_t k = 0;
    while (k + 1 < l->nsegs && l->segs[k + 1]->base <= l->log_start)
        k++;
    if (k > 0)
        drop_front(l, k);
    l->recovery_point = clean ? end : (rp < 0 ? l->segs[0]->base : (rp < end ? rp : end));
    /* Idle partitions hold no descriptors: they are reopened on first use. */
    for (size_t i = 0; i < l->nsegs; i++)
        kb_seg_close_fds(l->segs[i]);
    return 0;

fail:
    free(bases);
    kb_plog_free(l);
    p->log = NULL;
    return -1;
}

void kb_plog_free(struct kb_plog *l) {
    if (!l)
        return;
    for (size_t i = 0; i < l->nsegs; i++)
        kb_seg_free(l->segs[i]);
    free(l->segs);
    free(l->dir);
    free(l);
}

/* ---- flush ---- */

int kb_plog_flush(struct kb_plog *l, int64_t now_ms) {
    int64_t end = plog_end(l);
    for (size_t i = 0; i < l->nsegs; i++) {
        kb_seg *g = l->segs[i];
        if (!g->dirty)
            continue;
        if (kb_seg_fsync(g) != 0)
            return -1;
        if (i + 1 < l->nsegs)
            kb_seg_close_fds(g);
    }
    if (l->dir_dirty) {
        if (kf_fsync_dir(l->dir) != 0) {
            kf_err("store", "fsync %s: %s", l->dir, strerror(errno));
            return -1;
        }
        l->dir_dirty = 0;
    }
    l->unflushed = 0;
    l->last_flush_ms = now_ms;
    if (l->recovery_point != end) {
        l->recovery_point = end;
        l->store->rp_dirty = 1;
    }
    return 0;
}

int kb_plog_close_segments(struct kb_plog *l) {
    /* Kafka writes the largest timestamp into the active time index on close. */
    return kb_seg_tim_final(active_seg(l));
}

/* ---- append ---- */

int kb_part_append(kb_part *p, uint8_t *batch, size_t len, int64_t now_ms, int64_t *base_offset) {
    struct kb_plog *l = p->log;
    kf_batch_hdr h;
    if (!l)
        return KF_ERR_KAFKA_STORAGE_ERROR;
    if (kf_batch_parse_hdr(batch, len, &h) != 0 || kf_batch_size(&h) != len ||
        h.last_offset_delta < 0) {
        kf_err("store", "%s: refusing a malformed batch of %zu bytes", l->dir, len);
        return KF_ERR_CORRUPT_MESSAGE;
    }
    const kb_log_cfg *cfg = plog_cfg(l);
    int64_t base = plog_end(l);
    int64_t last = base + h.last_offset_delta;
    int64_t max_ts = h.max_timestamp;
    if (cfg->log_append_time) {
        uint16_t attrs = (uint16_t)h.attributes | KF_BATCH_ATTR_LOG_APPEND_TIME;
        kf_put_be16(batch + KF_BATCH_OFF_ATTRIBUTES, attrs);
        kf_put_be64(batch + KF_BATCH_OFF_MAX_TIMESTAMP, (uint64_t)now_ms);
        kf_batch_set_crc(batch, len);
        max_ts = now_ms;
    }
    /* Neither field is covered by the CRC. Epoch 0: this broker is the
     * partition's first and only leader. */
    kf_put_be64(batch + KF_BATCH_OFF_BASE_OFFSET, (uint64_t)base);
    kf_put_be32(batch + KF_BATCH_OFF_LEADER_EPOCH, 0);

    kb_seg *a = active_seg(l);
    if (a->size > 0) {
        int64_t waited = a->roll_ts >= 0 ? max_ts - a->roll_ts : now_ms - a->created_ms;
        if (a->size > cfg->segment_bytes - (int64_t)len ||
            a->size + (int64_t)len > (int64_t)UINT32_MAX || waited > cfg->segment_ms ||
            kb_seg_index_full(a, cfg->segment_index_bytes) || last - a->base > INT32_MAX) {
            if (roll(l, now_ms) != 0)
                return KF_ERR_KAFKA_STORAGE_ERROR;
            a = active_seg(l);
        }
    }
    if (kb_seg_append(a, batch, len, last, max_ts, cfg->index_interval_bytes) != 0)
        return KF_ERR_KAFKA_STORAGE_ERROR;
    a->mtime_ms = now_ms;
    l->total_size += (int64_t)len;
    l->unflushed += (int64_t)h.last_offset_delta + 1;
    *base_offset = base;
    if (l->unflushed >= cfg->flush_messages && kb_plog_flush(l, now_ms) != 0)
        return KF_ERR_KAFKA_STORAGE_ERROR;
    return 0;
}

/* ---- read ---- */

static int corrupt(const kb_seg *g, int64_t pos) {
    char path[KB_PATH_MAX];
    kb_seg_path(g, ".log", path, sizeof(path));
    kf_err("store", "%s: invalid batch at position %" PRId64, path, pos);
    return KF_ERR_KAFKA_STORAGE_ERROR;
}

int kb_part_read(kb_part *p, int64_t offset, size_t max_bytes, kf_buf *out) {
    struct kb_plog *l = p->log;
    if (!l)
        return KF_ERR_KAFKA_STORAGE_ERROR;
    int64_t end = plog_end(l);
    if (offset < l->log_start || offset > end)
        return KF_ERR_OFFSET_OUT_OF_RANGE;
    if (offset == end)
        return 0;
    int64_t interval = plog_cfg(l)->index_interval_bytes;
    size_t remaining = max_bytes;
    int first = 1;
    for (size_t si = seg_for(l, offset); si < l->nsegs; si++) {
        kb_seg *g = l->segs[si];
        int64_t pos = 0;
        size_t first_size = 0;
        if (first) {
            kf_batch_hdr h;
            if (kb_seg_load_idx(g, interval) != 0)
                return KF_ERR_KAFKA_STORAGE_ERROR;
            int rc = kb_seg_find(g, offset, &pos, &h);
            if (rc < 0)
                return KF_ERR_KAFKA_STORAGE_ERROR;
            if (rc == 0)
                continue; /* offset past this segment's batches: next one */
            first_size = kf_batch_size(&h);
        }
        if (g->size <= pos)
            continue;
        size_t avail = (size_t)(g->size - pos);
        size_t want = avail < remaining ? avail : remaining;
        if (want < first_size)
            want = first_size; /* always at least one batch */
        if (want < KF_BATCH_HDR_SIZE)
            break;
        if (kb_seg_log_fd(g) < 0)
            return KF_ERR_KAFKA_STORAGE_ERROR;
        size_t at = out->len;
        uint8_t *dst = kf_buf_extend(out, want);
        if (!dst)
            return 0; /* the buffer is marked failed: the caller sees it */
        long long got = kb_pread_full(g->fd_log, dst, want, pos);
        if (got != (long long)want) {
            out->len = at;
            char path[KB_PATH_MAX];
            kb_seg_path(g, ".log", path, sizeof(path));
            kf_err("store", "read %s: %s", path, got < 0 ? strerror(errno) : "short read");
            return KF_ERR_KAFKA_STORAGE_ERROR;
        }
        /* Keep whole batches only. */
        size_t cut = 0;
        while (cut + KF_BATCH_LOG_OVERHEAD <= want) {
            int32_t blen = (int32_t)kf_be32(dst + cut + KF_BATCH_OFF_LENGTH);
            if (blen < KF_BATCH_HDR_SIZE - KF_BATCH_LOG_OVERHEAD) {
                out->len = at;
                return corrupt(g, pos + (int64_t)cut);
            }
            if ((size_t)blen + KF_BATCH_LOG_OVERHEAD > want - cut)
                break;
            cut += (size_t)blen + KF_BATCH_LOG_OVERHEAD;
        }
        out->len = at + cut;
        if (cut == 0) {
            if (first)
                return corrupt(g, pos);
            break;
        }
        remaining = cut >= remaining ? 0 : remaining - cut;
        first = 0;
        if (pos + (int64_t)cut < g->size || remaining < KF_BATCH_HDR_SIZE)
            break;
    }
    return 0;
}

/* ---- partition state ---- */

int64_t kb_part_log_start(const kb_part *p) { return p->log ? p->log->log_start : 0; }
int64_t kb_part_log_end(const kb_part *p) { return p->log ? plog_end(p->log) : 0; }
int64_t kb_part_size(const kb_part *p) { return p->log ? p->log->total_size : 0; }

/* ---- timestamps ---- */

typedef struct ts_ctx {
    int64_t target_ts;
    int64_t min_off;
    int64_t found_off;
    int64_t found_ts;
    int exact_ts; /* match ts == target_ts instead of >= */
} ts_ctx;

static int ts_rec_cb(const kf_batch_hdr *h, const kf_record *rec, void *opaque) {
    ts_ctx *c = opaque;
    if (rec->offset < c->min_off)
        return 0;
    if (c->exact_ts ? rec->timestamp == c->target_ts : rec->timestamp >= c->target_ts) {
        c->found_off = rec->offset;
        c->found_ts = rec->timestamp;
        return 1;
    }
    return 0;
}

/* Reads the batch at pos and looks for a matching record. 1 found, 0 not, -1 error. */
static int search_batch(kb_seg *g, int64_t pos, const kf_batch_hdr *h, ts_ctx *c) {
    size_t n = kf_batch_size(h);
    uint8_t *buf = malloc(n);
    if (!buf)
        return -1;
    if (kb_seg_log_fd(g) < 0 || kb_pread_full(g->fd_log, buf, n, pos) != (long long)n) {
        free(buf);
        corrupt(g, pos);
        return -1;
    }
    int rc = kf_batch_foreach(buf, n, FOREACH_MAX_UNCOMPRESSED, ts_rec_cb, c);
    free(buf);
    if (rc == 1)
        return 1;
    if (rc < 0) {
        corrupt(g, pos);
        return -1;
    }
    return 0;
}

typedef struct walk_ts {
    ts_ctx *c;
    int found;
    int err;
} walk_ts;

static int walk_ts_cb(kb_seg *g, int64_t pos, const kf_batch_hdr *h, void *opaque) {
    walk_ts *w = opaque;
    if (kf_batch_last_offset(h) < w->c->min_off || h->max_timestamp < w->c->target_ts)
        return 0;
    int rc = search_batch(g, pos, h, w->c);
    if (rc < 0) {
        w->err = 1;
        return 1;
    }
    if (rc == 1) {
        w->found = 1;
        return 1;
    }
    return 0;
}

int64_t kb_part_offset_for_time(kb_part *p, int64_t ts, int64_t *found_ts) {
    struct kb_plog *l = p->log;
    if (!l)
        return -1;
    int64_t interval = plog_cfg(l)->index_interval_bytes;
    for (size_t si = 0; si < l->nsegs; si++) {
        kb_seg *g = l->segs[si];
        if (g->max_ts < ts || g->next_off <= l->log_start || g->size == 0)
            continue;
        if (kb_seg_load_idx(g, interval) != 0)
            return -1;
        /* Records up to a time-index entry's offset all have timestamps <=
         * its timestamp, so start after the last entry below the target. */
        int64_t start = g->base;
        size_t lo = 0, hi = g->ntim;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (g->tim[mid].ts < ts)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo > 0)
            start = g->base + (int64_t)g->tim[lo - 1].rel;
        if (start < l->log_start)
            start = l->log_start;
        int64_t pos;
        kf_batch_hdr h;
        int rc = kb_seg_find(g, start, &pos, &h);
        if (rc < 0)
            return -1;
        if (rc == 0)
            continue;
        ts_ctx c = {.target_ts = ts, .min_off = l->log_start, .found_off = -1};
        walk_ts w = {.c = &c};
        if (kb_seg_walk(g, pos, walk_ts_cb, &w) < 0 || w.err)
            return -1;
        if (w.found) {
            if (found_ts)
                *found_ts = c.found_ts;
            return c.found_off;
        }
    }
    return -1;
}

int64_t kb_part_max_timestamp(kb_part *p, int64_t *offset) {
    struct kb_plog *l = p->log;
    if (!l)
        return -1;
    kb_seg *best = NULL;
    for (size_t si = 0; si < l->nsegs; si++) {
        kb_seg *g = l->segs[si];
        if (g->size == 0 || g->next_off <= l->log_start || g->max_ts < 0)
            continue;
        if (!best || g->max_ts > best->max_ts)
            best = g;
    }
    if (!best)
        return -1;
    /* max_ts_off is the batch's last offset; look for the exact record. */
    int64_t off = best->max_ts_off;
    int64_t pos;
    kf_batch_hdr h;
    if (kb_seg_load_idx(best, plog_cfg(l)->index_interval_bytes) == 0 &&
        kb_seg_find(best, best->max_ts_off, &pos, &h) == 1) {
        ts_ctx c = {
            .target_ts = best->max_ts, .min_off = l->log_start, .found_off = -1, .exact_ts = 1};
        if (search_batch(best, pos, &h, &c) == 1)
            off = c.found_off;
    }
    if (off < l->log_start)
        off = l->log_start;
    if (offset)
        *offset = off;
    return best->max_ts;
}

/* ---- scan ---- */

typedef struct scan_ctx {
    kb_part *p;
    int64_t from;
    kb_batch_visit_fn cb;
    void *opaque;
} scan_ctx;

static int scan_cb(kb_seg *g, int64_t pos, const kf_batch_hdr *h, void *opaque) {
    scan_ctx *c = opaque;
    if (h->base_offset < c->from)
        return 0;
    return c->cb(c->p, h, c->opaque) ? 2 : 0;
}

int kb_part_scan(kb_part *p, int64_t from, kb_batch_visit_fn cb, void *opaque) {
    struct kb_plog *l = p->log;
    if (!l)
        return KF_ERR_KAFKA_STORAGE_ERROR;
    int64_t interval = plog_cfg(l)->index_interval_bytes;
    scan_ctx c = {.p = p, .from = from, .cb = cb, .opaque = opaque};
    for (size_t si = seg_for(l, from); si < l->nsegs; si++) {
        kb_seg *g = l->segs[si];
        if (g->size == 0 || g->next_off <= from)
            continue;
        if (kb_seg_load_idx(g, interval) != 0)
            return KF_ERR_KAFKA_STORAGE_ERROR;
        int64_t pos;
        kf_batch_hdr h;
        int rc = kb_seg_find(g, from, &pos, &h);
        if (rc < 0)
            return KF_ERR_KAFKA_STORAGE_ERROR;
        if (rc == 0)
            continue;
        rc = kb_seg_walk(g, pos, scan_cb, &c);
        if (rc < 0)
            return KF_ERR_KAFKA_STORAGE_ERROR;
        if (rc == 2)
            return 0;
    }
    return 0;
}

/* ---- retention and DeleteRecords ---- */

static int64_t seg_time(const kb_seg *g) { return g->max_ts >= 0 ? g->max_ts : g->mtime_ms; }

/* Deletes segs[0..k), rolling first when that is every segment (Kafka
 * does the same so an expired single-segment log empties). */
static int delete_oldest(struct kb_plog *l, size_t k, int64_t now_ms, const char *why) {
    if (k == 0)
        return 0;
    if (k >= l->nsegs) {
        if (roll(l, now_ms) != 0)
            return -1;
        k = l->nsegs - 1;
    }
    int64_t first = l->segs[0]->base, upto = l->segs[k]->base;
    drop_front(l, k);
    if (l->log_start < l->segs[0]->base)
        l->log_start = l->segs[0]->base;
    kf_info("store",
            "%s: deleted %zu segment(s) [%" PRId64 ", %" PRId64 ") by %s; log start %" PRId64,
            l->dir, k, first, upto, why, l->log_start);
    kb_store_note_log_start(l->store);
    return 0;
}

int kb_plog_retention(struct kb_plog *l, int64_t now_ms) {
    const kb_log_cfg *cfg = plog_cfg(l);
    size_t k = 0;
    /* cleanup.policy=compact alone: the cleaner, not retention, trims it. */
    if (cfg->retention_ms >= 0 && !cfg->no_delete) {
        while (k < l->nsegs) {
            kb_seg *g = l->segs[k];
            if (k + 1 == l->nsegs && g->size == 0)
                break;
            if (now_ms - seg_time(g) <= cfg->retention_ms)
                break;
            k++;
        }
        if (delete_oldest(l, k, now_ms, "retention.ms") != 0)
            return -1;
        k = 0;
    }
    if (cfg->retention_bytes >= 0 && !cfg->no_delete) {
        int64_t diff = l->total_size - cfg->retention_bytes;
        while (k < l->nsegs && diff > 0) {
            kb_seg *g = l->segs[k];
            if ((k + 1 == l->nsegs && g->size == 0) || diff - g->size < 0)
                break;
            diff -= g->size;
            k++;
        }
        if (delete_oldest(l, k, now_ms, "retention.bytes") != 0)
            return -1;
        k = 0;
    }
    while (k + 1 < l->nsegs && l->segs[k + 1]->base <= l->log_start)
        k++;
    return delete_oldest(l, k, now_ms, "log start offset");
}

int kb_part_delete_records(kb_part *p, int64_t offset) {
    struct kb_plog *l = p->log;
    if (!l)
        return KF_ERR_KAFKA_STORAGE_ERROR;
    int64_t end = plog_end(l);
    if (offset == -1)
        offset = end;
    if (offset < 0 || offset > end)
        return KF_ERR_OFFSET_OUT_OF_RANGE;
    if (offset <= l->log_start)
        return 0;
    l->log_start = offset;
    kb_store_note_log_start(l->store);
    /* Persist before deleting files: records a client asked to delete
     * must not come back after a restart. */
    if (kb_store_write_checkpoints(l->store) != 0)
        return KF_ERR_KAFKA_STORAGE_ERROR;
    size_t k = 0;
    while (k + 1 < l->nsegs && l->segs[k + 1]->base <= offset)
        k++;
    if (k > 0)
        drop_front(l, k);
    return 0;
}

int kb_plog_time_roll(struct kb_plog *l, int64_t now_ms) {
    kb_seg *a = active_seg(l);
    if (a->size > 0 && now_ms - a->created_ms > plog_cfg(l)->segment_ms)
        return roll(l, now_ms);
    return 0;
}

/* ---- transaction index ---- */

int kb_part_txnidx_append(kb_part *p, int64_t last_offset, const uint8_t ent[KB_TXNIDX_ENTRY]) {
    struct kb_plog *l = p->log;
    if (!l)
        return -1;
    kb_seg *g = l->segs[seg_for(l, last_offset)];
    char path[KB_PATH_MAX];
    kb_seg_path(g, ".txnindex", path, sizeof(path));
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        kf_err("store", "open %s: %s", path, strerror(errno));
        return -1;
    }
    ssize_t w = write(fd, ent, KB_TXNIDX_ENTRY);
    int rc = w == KB_TXNIDX_ENTRY ? 0 : -1;
    if (rc != 0)
        kf_err("store", "write %s: %s", path, w < 0 ? strerror(errno) : "short write");
    close(fd);
    return rc;
}

int kb_part_txnidx_load(kb_part *p, kb_txnidx_fn cb, void *opaque) {
    struct kb_plog *l = p->log;
    if (!l)
        return -1;
    for (size_t si = 0; si < l->nsegs; si++) {
        char path[KB_PATH_MAX];
        kb_seg_path(l->segs[si], ".txnindex", path, sizeof(path));
        kf_buf f;
        if (kf_read_file(path, &f, (size_t)64 << 20) != 0) {
            if (errno != ENOENT)
                kf_warn("store", "cannot read %s: %s", path, strerror(errno));
            continue;
        }
        size_t whole = f.len - f.len % KB_TXNIDX_ENTRY;
        if (whole != f.len) {
            kf_warn("store", "%s: cutting a torn entry of %zu byte(s)", path, f.len - whole);
            if (truncate(path, (off_t)whole) != 0)
                kf_warn("store", "truncate %s: %s", path, strerror(errno));
        }
        for (size_t o = 0; o < whole; o += KB_TXNIDX_ENTRY)
            if (kf_be16(f.data + o) == 0)
                cb(p, f.data + o, opaque);
        kf_buf_free(&f);
    }
    return 0;
}
