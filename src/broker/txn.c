/*
 * txn.c - the transaction coordinator, its journal, transaction markers
 * and the per-partition transaction state (see txn.h).
 */
#include "broker/txn.h"

#include "broker/group_int.h"
#include "broker/pidstate.h"
#include "common/log.h"
#include "common/util.h"
#include "proto/compress.h"
#include "proto/crc32c.h"
#include "proto/proto.h"
#include "proto/wire.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define JOURNAL_NAME "transactions.log"
#define JOURNAL_MAX_ENTRY (1u << 24)
#define JOURNAL_MAX_FILE ((size_t)1 << 31)
#define JOURNAL_COMPACT_MIN (4 << 20)
/* After a restart, open transactions are found by scanning at most this
 * many trailing offsets of a partition that the journal names in an
 * unfinished transaction (AddPartitionsToTxn is journaled before any of
 * its data is accepted), and TXN_SCAN_OTHER of every other partition
 * (orphans the journal cannot account for, e.g. after a power loss). */
#define TXN_REBUILD_OFFSETS 1000000
#define TXN_SCAN_OTHER 100000
/* Transactional ids a broker keeps at most (Kafka expires idle ones after
 * transactional.id.expiration.ms; this bounds memory against churn). */
#define TXN_MAX_IDS 100000
#define JE_TXN 1
#define JE_REMOVED 2 /* the id expired: forget it */

static const uint8_t journal_magic[8] = {'K', 'F', 'T', 'X', 'N', 0, 0, 1};

static const char *const state_names[KB_TXN_STATE_COUNT] = {
    "Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort"};

const char *kb_txn_state_name(kb_txn_state s) {
    return s >= 0 && s < KB_TXN_STATE_COUNT ? state_names[s] : "Dead";
}

typedef struct kb_txns {
    kb_txn **v;
    size_t n, cap;
    int fd;
    char path[4096];
    int64_t jsize;
    int64_t compact_at;
    int64_t last_prune_ms;
} kb_txns;

/* ====================================================================== */
/* Per-partition state                                                     */

typedef struct ptxn_open {
    int64_t pid;
    int64_t first;
} ptxn_open;

typedef struct ptxn_abort {
    int64_t pid, first, last;
} ptxn_abort;

typedef struct ptxn {
    ptxn_open *open;
    size_t nopen, copen;
    ptxn_abort *ab; /* sorted by last offset */
    size_t nab, cab;
} ptxn;

static void ptxn_free(void *x) {
    ptxn *t = x;
    if (t) {
        free(t->open);
        free(t->ab);
        free(t);
    }
}

static ptxn *ptxn_get(kb_part *p, int create) {
    if (!p->txn && create) {
        p->txn = calloc(1, sizeof(ptxn));
        if (p->txn)
            p->txn_free = ptxn_free;
    }
    return p->txn;
}

static ptxn_open *open_find(ptxn *t, int64_t pid) {
    for (size_t i = 0; t && i < t->nopen; i++)
        if (t->open[i].pid == pid)
            return &t->open[i];
    return NULL;
}

static int open_add(kb_part *p, int64_t pid, int64_t first) {
    ptxn *t = ptxn_get(p, 1);
    if (!t)
        return -1;
    if (open_find(t, pid))
        return 0;
    if (t->nopen == t->copen) {
        size_t nc = t->copen ? t->copen * 2 : 4;
        ptxn_open *n = realloc(t->open, nc * sizeof(*n));
        if (!n)
            return -1;
        t->open = n;
        t->copen = nc;
    }
    t->open[t->nopen++] = (ptxn_open){pid, first};
    return 0;
}

static void open_remove(ptxn *t, ptxn_open *o) {
    size_t i = (size_t)(o - t->open);
    t->open[i] = t->open[--t->nopen];
}

/* Adds an aborted transaction (kept sorted by last offset, no duplicates).
 * Returns 1 added, 0 already known, -1 out of memory. */
static int abort_add(kb_part *p, int64_t pid, int64_t first, int64_t last) {
    ptxn *t = ptxn_get(p, 1);
    if (!t)
        return -1;
    size_t i = t->nab;
    while (i > 0 && t->ab[i - 1].last > last)
        i--;
    for (size_t k = i; k > 0 && t->ab[k - 1].last == last; k--)
        if (t->ab[k - 1].pid == pid)
            return 0;
    if (t->nab == t->cab) {
        size_t nc = t->cab ? t->cab * 2 : 8;
        ptxn_abort *n = realloc(t->ab, nc * sizeof(*n));
        if (!n)
            return -1;
        t->ab = n;
        t->cab = nc;
    }
    memmove(t->ab + i + 1, t->ab + i, (t->nab - i) * sizeof(*t->ab));
    t->ab[i] = (ptxn_abort){pid, first, last};
    t->nab++;
    return 1;
}

int64_t kb_txn_lso(kb_part *p) {
    int64_t lso = kb_part_log_end(p);
    ptxn *t = p->txn;
    for (size_t i = 0; t && i < t->nopen; i++)
        if (t->open[i].first < lso)
            lso = t->open[i].first;
    /* DeleteRecords past an open transaction's start: never below log start. */
    int64_t start = kb_part_log_start(p);
    return lso < start ? start : lso;
}

void kb_txn_write_aborted(kb_part *p, int64_t from, int64_t to, kf_buf *out) {
    ptxn *t = p->txn;
    size_t lo = 0, hi = t ? t->nab : 0;
    while (lo < hi) { /* first entry with last >= from */
        size_t mid = lo + (hi - lo) / 2;
        if (t->ab[mid].last < from)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t at = out->len;
    kf_wr_i32(out, 0);
    int32_t n = 0;
    for (size_t i = lo; t && i < t->nab; i++) {
        if (t->ab[i].first >= to)
            continue;
        kf_wr_i64(out, t->ab[i].pid);
        kf_wr_i64(out, t->ab[i].first);
        n++;
    }
    if (kf_buf_ok(out))
        kf_put_be32(out->data + at, (uint32_t)n);
}

static void write_txnidx(kb_part *p, int64_t pid, int64_t first, int64_t last, int64_t lso) {
    uint8_t e[KB_TXNIDX_ENTRY];
    kf_put_be16(e, 0);
    kf_put_be64(e + 2, (uint64_t)pid);
    kf_put_be64(e + 10, (uint64_t)first);
    kf_put_be64(e + 18, (uint64_t)last);
    kf_put_be64(e + 26, (uint64_t)lso);
    if (kb_part_txnidx_append(p, last, e) != 0)
        kf_err("txn",
               "%s-%d: could not record aborted transaction of producer %" PRId64 " [%" PRId64
               ", %" PRId64 "] in the transaction index",
               p->topic->name, (int)p->id, pid, first, last);
}

/* Writes a commit/abort marker for pid into p and updates p's state. */
static int write_marker(kb_broker *b, kb_part *p, int64_t pid, int16_t epoch, int commit) {
    int64_t now = kf_wall_ms();
    kf_batch_builder bb;
    kf_batch_builder_init(&bb, KF_CODEC_NONE);
    bb.producer_id = pid;
    bb.producer_epoch = epoch;
    bb.base_sequence = -1;
    bb.extra_attributes = KF_BATCH_ATTR_TRANSACTIONAL | KF_BATCH_ATTR_CONTROL;
    uint8_t key[4] = {0, 0, 0, (uint8_t)(commit ? 1 : 0)};
    uint8_t val[6] = {0, 0, 0, 0, 0, 0}; /* version 0, coordinator epoch 0 */
    kf_buf out;
    kf_buf_init(&out, 0);
    int64_t base = -1;
    int rc = kf_batch_builder_add(&bb, now, key, 4, val, 6, NULL, 0);
    if (rc == 0)
        rc = kf_batch_builder_finish(&bb, &out);
    kf_batch_builder_free(&bb);
    if (rc == 0)
        rc = kb_part_append(p, out.data, out.len, now, &base);
    kf_buf_free(&out);
    if (rc != 0) {
        kf_err("txn", "%s-%d: cannot write the %s marker of producer %" PRId64, p->topic->name,
               (int)p->id, commit ? "commit" : "abort", pid);
        return KF_ERR_KAFKA_STORAGE_ERROR;
    }
    ptxn *t = p->txn;
    ptxn_open *o = open_find(t, pid);
    if (o) {
        int64_t first = o->first;
        open_remove(t, o);
        if (!commit) {
            (void)abort_add(p, pid, first, base);
            write_txnidx(p, pid, first, base, kb_txn_lso(p));
        }
    }
    kb_broker_wake(b);
    return 0;
}

/* ====================================================================== */
/* Coordinator: lookup and memory                                          */

static kb_txns *txns(kb_broker *b) { return b->txns; }

size_t kb_txn_count(kb_broker *b) { return txns(b) ? txns(b)->n : 0; }
kb_txn *kb_txn_at(kb_broker *b, size_t i) { return txns(b)->v[i]; }

kb_txn *kb_txn_find(kb_broker *b, const char *id, size_t len) {
    kb_txns *ts = txns(b);
    for (size_t i = 0; ts && i < ts->n; i++)
        if (strlen(ts->v[i]->id) == len && memcmp(ts->v[i]->id, id, len) == 0)
            return ts->v[i];
    return NULL;
}

static kb_txn *find_pid(kb_broker *b, int64_t pid) {
    kb_txns *ts = txns(b);
    for (size_t i = 0; ts && i < ts->n; i++)
        if (ts->v[i]->pid == pid)
            return ts->v[i];
    return NULL;
}

static void clear_members(kb_txn *t) {
    for (size_t i = 0; i < t->ntp; i++)
        free(t->tps[i].topic);
    t->ntp = 0;
    for (size_t i = 0; i < t->ngroups; i++)
        free(t->groups[i]);
    t->ngroups = 0;
    for (size_t i = 0; i < t->noff; i++) {
        free(t->offs[i].group);
        free(t->offs[i].topic);
        free(t->offs[i].meta);
    }
    t->noff = 0;
}

static void txn_free(kb_txn *t) {
    if (!t)
        return;
    clear_members(t);
    free(t->tps);
    free(t->groups);
    free(t->offs);
    free(t->id);
    free(t);
}

static kb_txn *txn_new(kb_txns *ts, const char *id, size_t len) {
    if (ts->n >= TXN_MAX_IDS)
        return NULL;
    if (ts->n == ts->cap) {
        size_t nc = ts->cap ? ts->cap * 2 : 16;
        kb_txn **n = realloc(ts->v, nc * sizeof(*n));
        if (!n)
            return NULL;
        ts->v = n;
        ts->cap = nc;
    }
    kb_txn *t = calloc(1, sizeof(*t));
    if (!t || !(t->id = kf_strndup(id, len))) {
        free(t);
        return NULL;
    }
    t->pid = -1;
    t->start_ms = -1;
    ts->v[ts->n++] = t;
    return t;
}

static int has_tp(const kb_txn *t, const char *topic, size_t tlen, int32_t part) {
    for (size_t i = 0; i < t->ntp; i++)
        if (t->tps[i].part == part && strlen(t->tps[i].topic) == tlen &&
            memcmp(t->tps[i].topic, topic, tlen) == 0)
            return 1;
    return 0;
}

static int push_tp(kb_txn *t, const char *topic, size_t tlen, int32_t part) {
    if (has_tp(t, topic, tlen, part))
        return 0;
    if (t->ntp == t->ctp) {
        size_t nc = t->ctp ? t->ctp * 2 : 8;
        kb_txn_tp *n = realloc(t->tps, nc * sizeof(*n));
        if (!n)
            return -1;
        t->tps = n;
        t->ctp = nc;
    }
    char *s = kf_strndup(topic, tlen);
    if (!s)
        return -1;
    t->tps[t->ntp++] = (kb_txn_tp){s, part};
    return 0;
}

int kb_txn_has_group(const kb_txn *t, const char *group, size_t glen) {
    for (size_t i = 0; i < t->ngroups; i++)
        if (strlen(t->groups[i]) == glen && memcmp(t->groups[i], group, glen) == 0)
            return 1;
    return 0;
}

static int push_group(kb_txn *t, const char *group, size_t glen) {
    if (kb_txn_has_group(t, group, glen))
        return 0;
    if (t->ngroups == t->cgroups) {
        size_t nc = t->cgroups ? t->cgroups * 2 : 2;
        char **n = realloc(t->groups, nc * sizeof(*n));
        if (!n)
            return -1;
        t->groups = n;
        t->cgroups = nc;
    }
    char *s = kf_strndup(group, glen);
    if (!s)
        return -1;
    t->groups[t->ngroups++] = s;
    return 0;
}

static void begin(kb_txn *t) {
    if (t->state != KB_TXN_ONGOING) {
        t->state = KB_TXN_ONGOING;
        t->start_ms = kf_wall_ms();
    }
    t->update_ms = kf_wall_ms();
}

int kb_txn_add_partition(kb_broker *b, kb_txn *t, const char *topic, size_t tlen, int32_t part) {
    (void)b;
    if (push_tp(t, topic, tlen, part) != 0)
        return -1;
    begin(t);
    return 0;
}

int kb_txn_add_group(kb_broker *b, kb_txn *t, const char *group, size_t glen) {
    (void)b;
    if (push_group(t, group, glen) != 0)
        return -1;
    begin(t);
    return 0;
}

int kb_txn_add_offset(kb_txn *t, const char *group, size_t glen, const char *topic, size_t tlen,
                      int32_t part, int64_t offset, int32_t epoch, const char *meta,
                      int32_t meta_len) {
    kb_txn_off *o = NULL;
    for (size_t i = 0; i < t->noff; i++)
        if (t->offs[i].part == part && strlen(t->offs[i].group) == glen &&
            memcmp(t->offs[i].group, group, glen) == 0 && strlen(t->offs[i].topic) == tlen &&
            memcmp(t->offs[i].topic, topic, tlen) == 0)
            o = &t->offs[i];
    char *m = NULL;
    if (meta && meta_len >= 0 && !(m = kf_strndup(meta, (size_t)meta_len)))
        return -1;
    if (o) {
        free(o->meta);
        o->meta = m;
        o->offset = offset;
        o->epoch = epoch;
        return 0;
    }
    if (t->noff == t->coff) {
        size_t nc = t->coff ? t->coff * 2 : 8;
        kb_txn_off *n = realloc(t->offs, nc * sizeof(*n));
        if (!n) {
            free(m);
            return -1;
        }
        t->offs = n;
        t->coff = nc;
    }
    char *g = kf_strndup(group, glen), *tp = kf_strndup(topic, tlen);
    if (!g || !tp) {
        free(g);
        free(tp);
        free(m);
        return -1;
    }
    t->offs[t->noff++] = (kb_txn_off){g, tp, part, offset, epoch, m};
    return 0;
}

int kb_txn_offset_pending(kb_broker *b, const char *group, size_t glen, const char *topic,
                          size_t tlen, int32_t part) {
    kb_txns *ts = txns(b);
    for (size_t i = 0; ts && i < ts->n; i++) {
        kb_txn *t = ts->v[i];
        if (t->state != KB_TXN_ONGOING && t->state != KB_TXN_PREPARE_COMMIT)
            continue;
        for (size_t k = 0; k < t->noff; k++)
            if (t->offs[k].part == part && strlen(t->offs[k].group) == glen &&
                memcmp(t->offs[k].group, group, glen) == 0 && strlen(t->offs[k].topic) == tlen &&
                memcmp(t->offs[k].topic, topic, tlen) == 0)
                return 1;
    }
    return 0;
}

/* ====================================================================== */
/* Journal                                                                 */

static void encode(kf_buf *b, const kb_txn *t) {
    size_t pos = b->len;
    kf_wr_i32(b, 0);
    kf_wr_i32(b, 0);
    kf_wr_i8(b, JE_TXN);
    kf_wr_cstr(b, 0, t->id);
    kf_wr_i64(b, t->pid);
    kf_wr_i16(b, t->epoch);
    kf_wr_i32(b, t->timeout_ms);
    kf_wr_i8(b, (int8_t)t->state);
    kf_wr_i64(b, t->start_ms);
    kf_wr_i64(b, t->update_ms);
    kf_wr_i32(b, (int32_t)t->ntp);
    for (size_t i = 0; i < t->ntp; i++) {
        kf_wr_cstr(b, 0, t->tps[i].topic);
        kf_wr_i32(b, t->tps[i].part);
    }
    kf_wr_i32(b, (int32_t)t->ngroups);
    for (size_t i = 0; i < t->ngroups; i++)
        kf_wr_cstr(b, 0, t->groups[i]);
    kf_wr_i32(b, (int32_t)t->noff);
    for (size_t i = 0; i < t->noff; i++) {
        const kb_txn_off *o = &t->offs[i];
        kf_wr_cstr(b, 0, o->group);
        kf_wr_cstr(b, 0, o->topic);
        kf_wr_i32(b, o->part);
        kf_wr_i64(b, o->offset);
        kf_wr_i32(b, o->epoch);
        if (o->meta)
            kf_wr_cstr(b, 0, o->meta);
        else
            kf_wr_str(b, 0, NULL, -1);
    }
    if (!kf_buf_ok(b))
        return;
    size_t plen = b->len - pos - 8;
    kf_put_be32(b->data + pos, (uint32_t)plen);
    kf_put_be32(b->data + pos + 4, kf_crc32c(0, b->data + pos + 8, plen));
}

/* Replays one entry. 0, or -1 if it is unusable (skipped). */
static void remove_at(kb_txns *ts, size_t i) {
    txn_free(ts->v[i]);
    ts->v[i] = ts->v[--ts->n];
}

static int replay(kb_txns *ts, const uint8_t *p, size_t n) {
    kf_rd rd;
    kf_rd_init(&rd, p, n);
    int8_t type = kf_rd_i8(&rd);
    const char *id;
    int32_t idlen = kf_rd_str(&rd, 0, &id);
    if (type == JE_REMOVED && kf_rd_ok(&rd) && idlen >= 0) {
        for (size_t i = 0; i < ts->n; i++)
            if (strlen(ts->v[i]->id) == (size_t)idlen &&
                memcmp(ts->v[i]->id, id, (size_t)idlen) == 0) {
                remove_at(ts, i);
                break;
            }
        return 0;
    }
    if (type != JE_TXN)
        return -1;
    int64_t pid = kf_rd_i64(&rd);
    int16_t epoch = kf_rd_i16(&rd);
    int32_t timeout = kf_rd_i32(&rd);
    int8_t state = kf_rd_i8(&rd);
    int64_t start = kf_rd_i64(&rd);
    int64_t upd = kf_rd_i64(&rd);
    if (!kf_rd_ok(&rd) || idlen < 0 || state < 0 || state >= KB_TXN_STATE_COUNT)
        return -1;
    kb_txn tmp = {0};
    int bad = 0;
    int32_t ntp = kf_rd_arr(&rd, 0, 2 + 4);
    for (int32_t i = 0; i < ntp && kf_rd_ok(&rd) && !bad; i++) {
        const char *tp;
        int32_t tl = kf_rd_str(&rd, 0, &tp);
        int32_t part = kf_rd_i32(&rd);
        if (!kf_rd_ok(&rd) || tl < 0 || push_tp(&tmp, tp, (size_t)tl, part) != 0)
            bad = 1;
    }
    int32_t ng = kf_rd_arr(&rd, 0, 2);
    for (int32_t i = 0; i < ng && kf_rd_ok(&rd) && !bad; i++) {
        const char *g;
        int32_t gl = kf_rd_str(&rd, 0, &g);
        if (!kf_rd_ok(&rd) || gl < 0 || push_group(&tmp, g, (size_t)gl) != 0)
            bad = 1;
    }
    int32_t no = kf_rd_arr(&rd, 0, 2 + 2 + 4 + 8 + 4 + 2);
    for (int32_t i = 0; i < no && kf_rd_ok(&rd) && !bad; i++) {
        const char *g, *tp, *m;
        int32_t gl = kf_rd_str(&rd, 0, &g);
        int32_t tl = kf_rd_str(&rd, 0, &tp);
        int32_t part = kf_rd_i32(&rd);
        int64_t off = kf_rd_i64(&rd);
        int32_t oe = kf_rd_i32(&rd);
        int32_t ml = kf_rd_str(&rd, 0, &m);
        if (!kf_rd_ok(&rd) || gl < 0 || tl < 0 ||
            kb_txn_add_offset(&tmp, g, (size_t)gl, tp, (size_t)tl, part, off, oe, m, ml) != 0)
            bad = 1;
    }
    if (bad || !kf_rd_ok(&rd) || ntp < 0 || ng < 0 || no < 0) {
        clear_members(&tmp);
        free(tmp.tps);
        free(tmp.groups);
        free(tmp.offs);
        return -1;
    }
    kb_txn *t = NULL;
    for (size_t i = 0; i < ts->n && !t; i++)
        if (strlen(ts->v[i]->id) == (size_t)idlen && memcmp(ts->v[i]->id, id, (size_t)idlen) == 0)
            t = ts->v[i];
    if (!t)
        t = txn_new(ts, id, (size_t)idlen);
    if (!t) {
        clear_members(&tmp);
        free(tmp.tps);
        free(tmp.groups);
        free(tmp.offs);
        return -1;
    }
    clear_members(t);
    free(t->tps);
    free(t->groups);
    free(t->offs);
    t->tps = tmp.tps;
    t->ntp = tmp.ntp;
    t->ctp = tmp.ctp;
    t->groups = tmp.groups;
    t->ngroups = tmp.ngroups;
    t->cgroups = tmp.cgroups;
    t->offs = tmp.offs;
    t->noff = tmp.noff;
    t->coff = tmp.coff;
    t->pid = pid;
    t->epoch = epoch;
    t->timeout_ms = timeout;
    t->state = (kb_txn_state)state;
    t->start_ms = start;
    t->update_ms = upd;
    return 0;
}

static int journal_append(kb_broker *b, const kf_buf *jb) {
    kb_txns *ts = txns(b);
    if (!kf_buf_ok(jb)) {
        kf_err("txn", "transaction journal entry: out of memory");
        return -1;
    }
    if (ts->fd < 0) {
        kf_err("txn", "transaction journal %s is not open", ts->path);
        return -1;
    }
    const uint8_t *p = jb->data;
    size_t left = jb->len;
    while (left > 0) {
        ssize_t w = write(ts->fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            kf_err("txn", "write %s: %s", ts->path, w < 0 ? strerror(errno) : "short write");
            if (ftruncate(ts->fd, (off_t)ts->jsize) != 0) {
                close(ts->fd);
                ts->fd = -1;
            }
            return -1;
        }
        p += w;
        left -= (size_t)w;
    }
    ts->jsize += (int64_t)jb->len;
    /* The page cache survives kill -9; fsync on request only. */
    if (b->cfg.flush_messages <= 1)
        fdatasync(ts->fd);
    return 0;
}

int kb_txn_persist(kb_broker *b, kb_txn *t) {
    kf_buf jb;
    kf_buf_init(&jb, 0);
    encode(&jb, t);
    int rc = journal_append(b, &jb);
    kf_buf_free(&jb);
    return rc == 0 ? 0 : KF_ERR_KAFKA_STORAGE_ERROR;
}

static void image(kb_txns *ts, kf_buf *img) {
    kf_buf_append(img, journal_magic, sizeof(journal_magic));
    for (size_t i = 0; i < ts->n; i++)
        encode(img, ts->v[i]);
}

static int rewrite(kb_txns *ts) {
    kf_buf img;
    kf_buf_init(&img, 0);
    image(ts, &img);
    int rc = -1;
    if (kf_buf_ok(&img) && kf_write_file_atomic(ts->path, img.data, img.len) == 0) {
        int fd = open(ts->path, O_WRONLY | O_APPEND | O_CLOEXEC);
        if (fd >= 0) {
            if (ts->fd >= 0)
                close(ts->fd);
            ts->fd = fd;
            ts->jsize = (int64_t)img.len;
            ts->compact_at =
                ts->jsize * 4 > JOURNAL_COMPACT_MIN ? ts->jsize * 4 : JOURNAL_COMPACT_MIN;
            rc = 0;
        }
    }
    kf_buf_free(&img);
    return rc;
}

static int journal_load(kb_txns *ts, char *err, size_t errlen) {
    kf_buf f;
    if (kf_read_file(ts->path, &f, JOURNAL_MAX_FILE) != 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "read %s: %s", ts->path, strerror(errno));
        return -1;
    }
    if (f.len >= sizeof(journal_magic) && memcmp(f.data, journal_magic, sizeof(journal_magic))) {
        snprintf(err, errlen, "%s is not a kferry transaction journal (bad magic)", ts->path);
        kf_buf_free(&f);
        return -1;
    }
    size_t pos = sizeof(journal_magic), skipped = 0;
    while (pos + 8 <= f.len) {
        uint32_t len = kf_be32(f.data + pos);
        uint32_t crc = kf_be32(f.data + pos + 4);
        if (len == 0 || len > JOURNAL_MAX_ENTRY || len > f.len - pos - 8 ||
            kf_crc32c(0, f.data + pos + 8, len) != crc)
            break;
        if (replay(ts, f.data + pos + 8, len) != 0)
            skipped++;
        pos += 8 + len;
    }
    if (pos < f.len && f.len >= sizeof(journal_magic))
        kf_warn("txn", "%s: ignoring %zu bytes of torn or corrupt tail at offset %zu", ts->path,
                f.len - pos, pos);
    if (skipped)
        kf_warn("txn", "%s: skipped %zu unusable entries", ts->path, skipped);
    kf_buf_free(&f);
    return 0;
}

/* ====================================================================== */
/* Completing transactions                                                 */

static void apply_offsets(kb_broker *b, kb_txn *t) {
    kb_groups *gs = b->groups;
    if (!gs || !t->noff)
        return;
    kb_ocommit *c = calloc(t->noff, sizeof(*c));
    char *done = calloc(t->noff, 1);
    if (!c || !done) {
        kf_err("txn", "out of memory committing the offsets of transaction %s", t->id);
        free(c);
        free(done);
        return;
    }
    for (size_t i = 0; i < t->noff; i++) {
        if (done[i])
            continue;
        const char *gid = t->offs[i].group;
        size_t n = 0;
        for (size_t k = i; k < t->noff; k++) {
            if (done[k] || strcmp(t->offs[k].group, gid) != 0)
                continue;
            done[k] = 1;
            const kb_txn_off *o = &t->offs[k];
            c[n++] = (kb_ocommit){o->topic,
                                  (int32_t)strlen(o->topic),
                                  o->part,
                                  o->offset,
                                  o->epoch,
                                  o->meta,
                                  o->meta ? (int32_t)strlen(o->meta) : -1,
                                  0};
        }
        kb_group *g = kb_group_find(gs, gid, strlen(gid));
        if (!g)
            g = kb_group_create(gs, gid, strlen(gid));
        if (!g || kb_group_commit(gs, g, c, n) != 0)
            kf_err("txn", "transaction %s: could not commit the offsets of group %s", t->id, gid);
    }
    free(c);
    free(done);
}

/* Writes the markers of a Prepare* transaction and completes it. With
 * only_open, partitions where this producer has no open transaction are
 * skipped (their marker was written before a crash). */
static int complete(kb_broker *b, kb_txn *t, int only_open) {
    int commit = t->state == KB_TXN_PREPARE_COMMIT;
    int rc = 0;
    for (size_t i = 0; i < t->ntp; i++) {
        kb_part *p =
            kb_store_part(b->store, t->tps[i].topic, strlen(t->tps[i].topic), t->tps[i].part);
        if (!p)
            continue; /* deleted since */
        if (only_open && !open_find(p->txn, t->pid))
            continue;
        if (write_marker(b, p, t->pid, t->epoch, commit) != 0)
            rc = KF_ERR_KAFKA_STORAGE_ERROR;
    }
    if (rc)
        return rc; /* stays Prepare*: retried by the tick */
    if (commit)
        apply_offsets(b, t);
    clear_members(t);
    t->state = commit ? KB_TXN_COMPLETE_COMMIT : KB_TXN_COMPLETE_ABORT;
    t->start_ms = -1;
    t->update_ms = kf_wall_ms();
    (void)kb_txn_persist(b, t);
    return 0;
}

static int prepare_and_complete(kb_broker *b, kb_txn *t, int commit) {
    t->state = commit ? KB_TXN_PREPARE_COMMIT : KB_TXN_PREPARE_ABORT;
    t->update_ms = kf_wall_ms();
    if (kb_txn_persist(b, t) != 0) {
        t->state = KB_TXN_ONGOING;
        return KF_ERR_KAFKA_STORAGE_ERROR;
    }
    return complete(b, t, 0);
}

int kb_txn_end(kb_broker *b, kb_txn *t, int commit) {
    switch (t->state) {
    case KB_TXN_ONGOING:
        kf_debug("txn", "%s: %s (producer %" PRId64 " epoch %d, %zu partitions)", t->id,
                 commit ? "commit" : "abort", t->pid, t->epoch, t->ntp);
        return prepare_and_complete(b, t, commit);
    case KB_TXN_COMPLETE_COMMIT:
        return commit ? 0 : KF_ERR_INVALID_TXN_STATE; /* a retried EndTxn */
    case KB_TXN_COMPLETE_ABORT: return commit ? KF_ERR_INVALID_TXN_STATE : 0;
    case KB_TXN_PREPARE_COMMIT:
    case KB_TXN_PREPARE_ABORT: return KF_ERR_CONCURRENT_TRANSACTIONS;
    default: return KF_ERR_INVALID_TXN_STATE;
    }
}

/* Bumps t's epoch, moving to a new producer id when it is exhausted. */
static int bump_epoch(kb_broker *b, kb_txn *t) {
    if (t->epoch >= INT16_MAX - 1) {
        int64_t np;
        int err = kb_producer_id_alloc(b, &np);
        if (err)
            return err;
        t->pid = np;
        t->epoch = 0;
        return 0;
    }
    t->epoch++;
    return 0;
}

/* ====================================================================== */
/* Requests                                                                */

int kb_txn_init_pid(kb_broker *b, const char *id, size_t len, int32_t timeout_ms, int64_t pid,
                    int16_t epoch, int16_t version, int64_t *out_pid, int16_t *out_epoch) {
    kb_txns *ts = txns(b);
    *out_pid = -1;
    *out_epoch = -1;
    if (!ts)
        return KF_ERR_COORDINATOR_NOT_AVAILABLE;
    if (len == 0)
        return KF_ERR_INVALID_REQUEST;
    if (timeout_ms <= 0 || timeout_ms > b->cfg.transaction_max_timeout_ms)
        return KF_ERR_INVALID_TRANSACTION_TIMEOUT;
    kb_txn *t = kb_txn_find(b, id, len);
    if (!t) {
        int64_t np;
        int err = kb_producer_id_alloc(b, &np);
        if (err)
            return err;
        t = txn_new(ts, id, len);
        if (!t)
            return KF_ERR_COORDINATOR_NOT_AVAILABLE;
        t->pid = np;
        t->epoch = 0;
    } else {
        if (pid >= 0 && (pid != t->pid || epoch != t->epoch))
            return version >= 4 ? KF_ERR_PRODUCER_FENCED : KF_ERR_INVALID_PRODUCER_EPOCH;
        if (t->state == KB_TXN_PREPARE_COMMIT || t->state == KB_TXN_PREPARE_ABORT)
            return KF_ERR_CONCURRENT_TRANSACTIONS;
        if (t->state == KB_TXN_ONGOING) {
            /* Fence the previous producer: abort its transaction with a
             * bumped epoch (same producer id, so the markers close its
             * open transactions) before answering; then bump again for
             * the new producer, as Kafka does. */
            kf_info("txn", "%s: aborting the ongoing transaction of a previous producer", t->id);
            if (t->epoch < INT16_MAX - 1)
                t->epoch++;
            int err = prepare_and_complete(b, t, 0);
            if (err)
                return err;
        }
        int err = bump_epoch(b, t);
        if (err)
            return err;
    }
    t->timeout_ms = timeout_ms;
    t->state = KB_TXN_EMPTY;
    t->start_ms = -1;
    t->update_ms = kf_wall_ms();
    clear_members(t);
    int err = kb_txn_persist(b, t);
    if (err)
        return err;
    *out_pid = t->pid;
    *out_epoch = t->epoch;
    return 0;
}

kb_txn *kb_txn_check(kb_broker *b, const char *id, size_t len, int64_t pid, int16_t epoch,
                     int16_t fenced_err, int16_t *err) {
    kb_txn *t = kb_txn_find(b, id, len);
    if (!t || t->pid != pid) {
        *err = KF_ERR_INVALID_PRODUCER_ID_MAPPING;
        return NULL;
    }
    if (t->epoch != epoch) {
        *err = fenced_err;
        return NULL;
    }
    if (t->state == KB_TXN_PREPARE_COMMIT || t->state == KB_TXN_PREPARE_ABORT) {
        *err = KF_ERR_CONCURRENT_TRANSACTIONS;
        return NULL;
    }
    *err = 0;
    return t;
}

int kb_txn_produce_check(kb_broker *b, kb_part *p, const kf_batch_hdr *h) {
    kb_txn *t = find_pid(b, h->producer_id);
    if (!t)
        return KF_ERR_INVALID_TXN_STATE;
    if (h->producer_epoch < t->epoch)
        return KF_ERR_INVALID_PRODUCER_EPOCH;
    if (h->producer_epoch != t->epoch || t->state != KB_TXN_ONGOING ||
        !has_tp(t, p->topic->name, strlen(p->topic->name), p->id))
        return KF_ERR_INVALID_TXN_STATE;
    return 0;
}

void kb_txn_produce_done(kb_broker *b, kb_part *p, const kf_batch_hdr *h, int64_t base) {
    (void)b;
    if (open_add(p, h->producer_id, base) != 0)
        kf_err("txn", "%s-%d: out of memory tracking a transaction", p->topic->name, (int)p->id);
}

/* ====================================================================== */
/* Tick, open, close                                                       */

static void prune_aborted(kb_broker *b) {
    size_t nt = kb_store_topic_count(b->store);
    for (size_t i = 0; i < nt; i++) {
        kb_topic *tp = kb_store_topic_at(b->store, i);
        for (int32_t j = 0; tp && j < tp->nparts; j++) {
            kb_part *p = tp->parts[j];
            ptxn *t = p ? p->txn : NULL;
            if (!t || !t->nab)
                continue;
            int64_t start = kb_part_log_start(p);
            size_t k = 0;
            while (k < t->nab && t->ab[k].last < start)
                k++;
            if (k) {
                memmove(t->ab, t->ab + k, (t->nab - k) * sizeof(*t->ab));
                t->nab -= k;
            }
        }
    }
}

/* Kafka forgets transactional ids idle for transactional.id.expiration.ms
 * when no transaction is in progress; a later InitProducerId starts over
 * with a new producer id. */
static void expire_ids(kb_broker *b, int64_t wall_ms) {
    kb_txns *ts = txns(b);
    for (size_t i = 0; i < ts->n;) {
        kb_txn *t = ts->v[i];
        int idle = t->state == KB_TXN_EMPTY || t->state == KB_TXN_COMPLETE_COMMIT ||
                   t->state == KB_TXN_COMPLETE_ABORT;
        if (!idle || wall_ms - t->update_ms <= b->cfg.transactional_id_expiration_ms) {
            i++;
            continue;
        }
        kf_buf jb;
        kf_buf_init(&jb, 0);
        size_t pos = jb.len;
        kf_wr_i32(&jb, 0);
        kf_wr_i32(&jb, 0);
        kf_wr_i8(&jb, JE_REMOVED);
        kf_wr_cstr(&jb, 0, t->id);
        if (kf_buf_ok(&jb)) {
            size_t plen = jb.len - pos - 8;
            kf_put_be32(jb.data + pos, (uint32_t)plen);
            kf_put_be32(jb.data + pos + 4, kf_crc32c(0, jb.data + pos + 8, plen));
        }
        int rc = journal_append(b, &jb);
        kf_buf_free(&jb);
        if (rc != 0)
            return; /* try again next time */
        kf_info("txn", "transactional id %s expired", t->id);
        remove_at(ts, i);
    }
}

void kb_txns_tick(kb_broker *b, int64_t wall_ms) {
    kb_txns *ts = txns(b);
    if (!ts)
        return;
    for (size_t i = 0; i < ts->n; i++) {
        kb_txn *t = ts->v[i];
        if (t->state == KB_TXN_PREPARE_COMMIT || t->state == KB_TXN_PREPARE_ABORT) {
            (void)complete(b, t, 1); /* a marker write failed earlier */
            continue;
        }
        if (t->state != KB_TXN_ONGOING || t->start_ms < 0 ||
            wall_ms - t->start_ms <= (int64_t)t->timeout_ms)
            continue;
        kf_info("txn",
                "%s: aborting transaction of producer %" PRId64 " epoch %d: timed out after %d ms",
                t->id, t->pid, t->epoch, t->timeout_ms);
        /* Like Kafka, bump the epoch (same producer id, so the markers
         * close its open transactions): the stalled producer is fenced. */
        if (t->epoch < INT16_MAX - 1)
            t->epoch++;
        (void)prepare_and_complete(b, t, 0);
    }
    if (ts->jsize > ts->compact_at && rewrite(ts) != 0) {
        kf_warn("txn", "compacting %s failed: %s", ts->path, strerror(errno));
        ts->compact_at = ts->jsize * 2;
    }
    if (wall_ms - ts->last_prune_ms > 60000) {
        ts->last_prune_ms = wall_ms;
        prune_aborted(b);
        expire_ids(b, wall_ms);
    }
}

typedef struct scan_ctx {
    kb_broker *b;
    size_t found;
    int err;
} scan_ctx;

static void load_idx_entry(kb_part *p, const uint8_t *e, void *opaque) {
    (void)opaque;
    int64_t pid = (int64_t)kf_be64(e + 2), first = (int64_t)kf_be64(e + 10),
            last = (int64_t)kf_be64(e + 18);
    if (first <= last && last < kb_part_log_end(p))
        (void)abort_add(p, pid, first, last);
}

/* Control record type of the marker batch at h (0 abort, 1 commit), -1 if unreadable. */
static int marker_type(kb_part *p, const kf_batch_hdr *h) {
    kf_buf buf;
    kf_buf_init(&buf, 0);
    int type = -1;
    if (kb_part_read(p, h->base_offset, 0, &buf) == 0 && kf_buf_ok(&buf) &&
        buf.len >= KF_BATCH_HDR_SIZE) {
        kf_batch_hdr bh;
        if (kf_batch_parse_hdr(buf.data, buf.len, &bh) == 0 && bh.base_offset == h->base_offset &&
            kf_batch_codec(&bh) == KF_CODEC_NONE) {
            /* One record: length, attributes, ts delta, offset delta, key. */
            kf_rd rd;
            kf_rd_init(&rd, buf.data + KF_BATCH_HDR_SIZE, kf_batch_size(&bh) - KF_BATCH_HDR_SIZE);
            (void)kf_rd_varint(&rd);
            (void)kf_rd_i8(&rd);
            (void)kf_rd_varlong(&rd);
            (void)kf_rd_varint(&rd);
            int32_t klen = kf_rd_varint(&rd);
            if (klen >= 4) {
                (void)kf_rd_i16(&rd);
                int16_t t = kf_rd_i16(&rd);
                if (kf_rd_ok(&rd) && (t == 0 || t == 1))
                    type = t;
            }
        }
    }
    kf_buf_free(&buf);
    return type;
}

static int scan_visit(kb_part *p, const kf_batch_hdr *h, void *opaque) {
    scan_ctx *c = opaque;
    if (!(h->attributes & KF_BATCH_ATTR_TRANSACTIONAL) || h->producer_id < 0)
        return 0;
    if (!(h->attributes & KF_BATCH_ATTR_CONTROL)) {
        if (open_add(p, h->producer_id, h->base_offset) != 0)
            c->err = 1;
        return 0;
    }
    ptxn_open *o = open_find(p->txn, h->producer_id);
    int type = marker_type(p, h);
    if (type < 0) {
        kf_warn("txn", "%s-%d: unreadable transaction marker at offset %" PRId64, p->topic->name,
                (int)p->id, h->base_offset);
        return 0;
    }
    if (!o)
        return 0;
    int64_t first = o->first;
    open_remove(p->txn, o);
    if (type == 0 && abort_add(p, h->producer_id, first, h->base_offset) == 1) {
        /* The index entry was lost in a crash: write it again. */
        write_txnidx(p, h->producer_id, first, h->base_offset, kb_txn_lso(p));
        c->found++;
    }
    return 0;
}

/* In some Ongoing/Prepare transaction that includes p? */
static kb_txn *owner(kb_broker *b, kb_part *p, int64_t pid) {
    kb_txn *t = find_pid(b, pid);
    if (!t || t->state == KB_TXN_EMPTY || t->state == KB_TXN_COMPLETE_ABORT ||
        t->state == KB_TXN_COMPLETE_COMMIT)
        return NULL;
    return has_tp(t, p->topic->name, strlen(p->topic->name), p->id) ? t : NULL;
}

static void rebuild_partitions(kb_broker *b) {
    size_t nt = kb_store_topic_count(b->store), reindexed = 0, open_total = 0;
    for (size_t i = 0; i < nt; i++) {
        kb_topic *tp = kb_store_topic_at(b->store, i);
        for (int32_t j = 0; tp && j < tp->nparts; j++) {
            kb_part *p = tp->parts[j];
            if (!p)
                continue;
            (void)kb_part_txnidx_load(p, load_idx_entry, NULL);
            int named = 0;
            for (size_t k = 0; k < txns(b)->n && !named; k++) {
                kb_txn *x = txns(b)->v[k];
                named = x->state != KB_TXN_EMPTY && x->state != KB_TXN_COMPLETE_COMMIT &&
                        x->state != KB_TXN_COMPLETE_ABORT &&
                        has_tp(x, tp->name, strlen(tp->name), j);
            }
            int64_t end = kb_part_log_end(p);
            int64_t from = end - (named ? TXN_REBUILD_OFFSETS : TXN_SCAN_OTHER);
            if (from < kb_part_log_start(p))
                from = kb_part_log_start(p);
            scan_ctx c = {.b = b};
            if (kb_part_scan(p, from, scan_visit, &c) != 0 || c.err)
                kf_warn("txn", "%s-%d: could not rebuild transaction state from the log", tp->name,
                        (int)j);
            reindexed += c.found;
            ptxn *t = p->txn;
            /* Open transactions no coordinator entry accounts for (the
             * journal lost them, or the id was removed) would hold the
             * last stable offset back forever: abort them. */
            for (size_t k = 0; t && k < t->nopen;) {
                ptxn_open *o = &t->open[k];
                kb_txn *own = owner(b, p, o->pid);
                if (own) {
                    k++;
                    continue;
                }
                kb_txn *any = find_pid(b, o->pid);
                int commit = any && any->state == KB_TXN_COMPLETE_COMMIT;
                kf_warn("txn",
                        "%s-%d: open transaction of producer %" PRId64 " from offset %" PRId64
                        " has no coordinator state; writing %s marker",
                        tp->name, (int)j, o->pid, o->first, commit ? "a commit" : "an abort");
                int16_t ep = any ? any->epoch : 0;
                if (write_marker(b, p, o->pid, ep, commit) != 0)
                    k++; /* leave it; the LSO stays behind it */
            }
            open_total += t ? t->nopen : 0;
        }
    }
    if (reindexed || open_total)
        kf_info("txn",
                "rebuilt transaction state: %zu open transaction(s), %zu index entr%s rewritten",
                open_total, reindexed, reindexed == 1 ? "y" : "ies");
}

int kb_txns_open(kb_broker *b, char *err, size_t errlen) {
    kb_txns *ts = calloc(1, sizeof(*ts));
    if (!ts) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    ts->fd = -1;
    char dir[4096];
    if (snprintf(dir, sizeof(dir), "%s/kferry-meta", kb_store_dir(b->store)) >= (int)sizeof(dir) ||
        snprintf(ts->path, sizeof(ts->path), "%s/" JOURNAL_NAME, dir) >= (int)sizeof(ts->path)) {
        snprintf(err, errlen, "data dir path too long");
        free(ts);
        return -1;
    }
    if (kf_mkdirs(dir, 0755) != 0) {
        snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
        free(ts);
        return -1;
    }
    b->txns = ts;
    if (journal_load(ts, err, errlen) != 0 || rewrite(ts) != 0) {
        if (!err[0] || ts->fd < 0)
            snprintf(err, errlen, "cannot write %s: %s", ts->path, strerror(errno));
        kb_txns_close(b);
        return -1;
    }
    rebuild_partitions(b);
    for (size_t i = 0; i < ts->n; i++) {
        kb_txn *t = ts->v[i];
        if (t->state == KB_TXN_PREPARE_COMMIT || t->state == KB_TXN_PREPARE_ABORT) {
            kf_info("txn", "%s: completing the %s interrupted by the last stop", t->id,
                    t->state == KB_TXN_PREPARE_COMMIT ? "commit" : "abort");
            (void)complete(b, t, 1);
        }
    }
    return 0;
}

void kb_txns_close(kb_broker *b) {
    kb_txns *ts = txns(b);
    if (!ts)
        return;
    for (size_t i = 0; i < ts->n; i++)
        txn_free(ts->v[i]);
    free(ts->v);
    if (ts->fd >= 0)
        close(ts->fd);
    free(ts);
    b->txns = NULL;
}
