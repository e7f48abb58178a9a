/*
 * group.c - the group coordinator's state machine (Kafka's GroupCoordinator:
 * Empty -> PreparingRebalance -> CompletingRebalance -> Stable), timers,
 * and committed offsets with their append-only journal.
 *
 * Invariant: the journal <data-dir>/kferry-meta/group-offsets.log is written
 * before memory is changed, so what a client was told is committed is on
 * disk (page cache at least).  Entries carry a length and CRC-32C; replay
 * stops at the first bad entry (a torn tail) and the file is then rewritten.
 */
#include "broker/group_int.h"

#include "broker/store.h"
#include "common/log.h"
#include "common/util.h"
#include "proto/crc32c.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define JOURNAL_NAME "group-offsets.log"
static const uint8_t journal_magic[8] = {'K', 'F', 'G', 'O', 'F', 'F', 0, 1};
#define JOURNAL_MAX_ENTRY (1u << 20)
#define JOURNAL_MAX_FILE ((size_t)1 << 31)
#define MAX_PARTITION_INDEX (1 << 20) /* offsets without a store to check against */

enum { JE_OFFSET = 1, JE_DEL_OFFSET = 2, JE_DEL_GROUP = 3, JE_DEL_TOPIC = 4 };

/* ---------------------------------------------------------------------- */
/* Small helpers                                                           */

static int streq_n(const char *a, const char *b, size_t blen) {
    return strlen(a) == blen && memcmp(a, b, blen) == 0;
}

static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

const char *kb_gstate_name(kb_gstate s) {
    switch (s) {
    case KB_GS_EMPTY: return "Empty";
    case KB_GS_PREPARING: return "PreparingRebalance";
    case KB_GS_COMPLETING: return "CompletingRebalance";
    case KB_GS_STABLE: return "Stable";
    case KB_GS_DEAD: return "Dead";
    }
    return "Dead";
}

uint64_t kb_groups_ticket(kb_groups *gs) { return ++gs->next_ticket; }

void kb_groups_note_deadline(kb_groups *gs, int64_t when) {
    if (when < gs->next_check)
        gs->next_check = when;
}

static void wake(kb_groups *gs) {
    if (gs->b)
        kb_broker_wake(gs->b);
}

char *kb_group_new_member_id(const char *client_id, int32_t client_id_len) {
    uint8_t u[16];
    size_t got = 0;
    while (got < sizeof(u)) {
        ssize_t n = getrandom(u + got, sizeof(u) - got, 0);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            break;
        }
        got += (size_t)n;
    }
    if (got < sizeof(u)) {
        /* No entropy source: uniqueness is all a member id needs. */
        static uint64_t ctr;
        uint64_t x = (uint64_t)kf_wall_ms() ^ ((uint64_t)getpid() << 32) ^ ++ctr;
        for (size_t i = 0; i < sizeof(u); i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            u[i] = (uint8_t)x;
        }
    }
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40); /* version 4 */
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    /* Member ids go back on the wire as int16-length strings: bound the
     * client-id part. */
    size_t cl = client_id_len > 0 ? (size_t)client_id_len : 0;
    if (cl > 255)
        cl = 255;
    size_t n = cl + 1 + 36 + 1;
    char *s = malloc(n);
    if (!s)
        return NULL;
    if (cl)
        memcpy(s, client_id, cl);
    s[cl] = '-';
    char *p = s + cl + 1;
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[u[i] >> 4];
        *p++ = hex[u[i] & 15];
    }
    *p = '\0';
    return s;
}

/* ---------------------------------------------------------------------- */
/* Groups table                                                            */

kb_group *kb_group_find(kb_groups *gs, const char *id, size_t len) {
    kb_group *g = gs->buckets[fnv1a(id, len) % gs->nbuckets];
    for (; g; g = g->hnext)
        if (streq_n(g->id, id, len))
            return g;
    return NULL;
}

static void rehash(kb_groups *gs) {
    size_t nb = gs->nbuckets * 2;
    kb_group **nbk = calloc(nb, sizeof(*nbk));
    if (!nbk)
        return; /* keep the old, longer chains */
    for (size_t i = 0; i < gs->nbuckets; i++) {
        kb_group *g = gs->buckets[i];
        while (g) {
            kb_group *next = g->hnext;
            size_t h = fnv1a(g->id, strlen(g->id)) % nb;
            g->hnext = nbk[h];
            nbk[h] = g;
            g = next;
        }
    }
    free(gs->buckets);
    gs->buckets = nbk;
    gs->nbuckets = nb;
}

kb_group *kb_group_create(kb_groups *gs, const char *id, size_t len) {
    /* A NUL inside the id could never be looked up again; over-long ids
     * could not be written back as int16 strings. */
    if (len > 32767 || memchr(id, 0, len) || (!gs->loading && gs->ngroups >= KB_GROUP_MAX_GROUPS))
        return NULL;
    kb_group *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->id = kf_strndup(id, len);
    if (!g->id) {
        free(g);
        return NULL;
    }
    g->state = KB_GS_EMPTY;
    g->empty_since = kf_now_ms();
    g->empty_since_wall = kf_wall_ms();
    if (gs->ngroups + 1 > gs->nbuckets)
        rehash(gs);
    size_t h = fnv1a(id, len) % gs->nbuckets;
    g->hnext = gs->buckets[h];
    gs->buckets[h] = g;
    gs->ngroups++;
    return g;
}

static void otopic_free(kb_otopic *t) {
    for (int32_t i = 0; i < t->cap; i++)
        free(t->parts[i].meta);
    free(t->parts);
    free(t->name);
}

void kb_member_free(kb_member *m) {
    if (!m)
        return;
    free(m->id);
    free(m->instance_id);
    free(m->client_id);
    free(m->client_host);
    kb_member_set_protos(m, NULL, 0);
    free(m->assignment);
    kf_buf_free(&m->res);
    free(m);
}

void kb_member_set_protos(kb_member *m, kb_gproto *protos, int nprotos) {
    for (int i = 0; i < m->nprotos; i++) {
        free(m->protos[i].name);
        free(m->protos[i].meta);
    }
    free(m->protos);
    m->protos = protos;
    m->nprotos = nprotos;
}

static void group_free(kb_group *g) {
    for (int i = 0; i < g->nmembers; i++)
        kb_member_free(g->members[i]);
    free(g->members);
    for (int i = 0; i < g->npending; i++)
        free(g->pending[i].id);
    free(g->pending);
    for (int i = 0; i < g->ntopics; i++)
        otopic_free(&g->topics[i]);
    free(g->topics);
    free(g->protocol_type);
    free(g->protocol);
    free(g->leader);
    free(g->id);
    free(g);
}

static void group_unlink(kb_groups *gs, kb_group *g) {
    kb_group **pp = &gs->buckets[fnv1a(g->id, strlen(g->id)) % gs->nbuckets];
    while (*pp && *pp != g)
        pp = &(*pp)->hnext;
    if (*pp) {
        *pp = g->hnext;
        gs->ngroups--;
    }
}

/* ---------------------------------------------------------------------- */
/* Journal                                                                 */

static size_t je_begin(kf_buf *b, int type, const char *group) {
    size_t pos = b->len;
    kf_wr_i32(b, 0); /* length, patched */
    kf_wr_i32(b, 0); /* crc, patched */
    kf_wr_i8(b, (int8_t)type);
    kf_wr_cstr(b, 0, group);
    return pos;
}

static void je_end(kf_buf *b, size_t pos) {
    if (!kf_buf_ok(b))
        return;
    size_t plen = b->len - pos - 8;
    kf_put_be32(b->data + pos, (uint32_t)plen);
    kf_put_be32(b->data + pos + 4, kf_crc32c(0, b->data + pos + 8, plen));
}

static void je_offset(kf_buf *b, const char *group, const char *topic, size_t tlen, int32_t part,
                      const kb_opart *o) {
    size_t pos = je_begin(b, JE_OFFSET, group);
    kf_wr_str(b, 0, topic, (int32_t)tlen);
    kf_wr_i32(b, part);
    kf_wr_i64(b, o->offset);
    kf_wr_i32(b, o->epoch);
    kf_wr_i64(b, o->ts);
    kf_wr_cstr(b, 0, o->meta);
    je_end(b, pos);
}

static void je_del_offset(kf_buf *b, const char *group, const char *topic, size_t tlen,
                          int32_t part) {
    size_t pos = je_begin(b, JE_DEL_OFFSET, group);
    kf_wr_str(b, 0, topic, (int32_t)tlen);
    kf_wr_i32(b, part);
    je_end(b, pos);
}

static int journal_write(kb_groups *gs, kf_buf *b) {
    if (!kf_buf_ok(b)) {
        kf_err("group", "offsets journal entry: out of memory");
        return -1;
    }
    if (b->len == 0)
        return 0;
    if (gs->fd < 0) {
        kf_err("group", "offsets journal %s is not open", gs->path);
        return -1;
    }
    const uint8_t *p = b->data;
    size_t left = b->len;
    while (left > 0) {
        ssize_t w = write(gs->fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            kf_err("group", "write %s: %s", gs->path, w < 0 ? strerror(errno) : "short write");
            /* Cut the partial entry off, or replay would stop there and
             * lose every later commit. */
            if (ftruncate(gs->fd, (off_t)gs->jsize) != 0) {
                kf_err("group", "truncate %s: %s; offsets can no longer be stored", gs->path,
                       strerror(errno));
                close(gs->fd);
                gs->fd = -1;
            }
            return -1;
        }
        p += w;
        left -= (size_t)w;
    }
    gs->jsize += (int64_t)b->len;
    /* The page cache survives a kill -9; fsync only when the operator asked
     * for per-message durability. */
    if (gs->b && gs->b->cfg.flush_messages <= 1)
        fdatasync(gs->fd);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Offsets                                                                 */

static kb_otopic *otopic_find(kb_group *g, const char *topic, size_t len) {
    for (int i = 0; i < g->ntopics; i++)
        if (streq_n(g->topics[i].name, topic, len))
            return &g->topics[i];
    return NULL;
}

kb_opart *kb_group_offset(kb_group *g, const char *topic, size_t len, int32_t partition) {
    kb_otopic *t = otopic_find(g, topic, len);
    if (!t || partition < 0 || partition >= t->cap || !t->parts[partition].present)
        return NULL;
    return &t->parts[partition];
}

int kb_group_has_offsets(const kb_group *g) {
    for (int i = 0; i < g->ntopics; i++)
        if (g->topics[i].count > 0)
            return 1;
    return 0;
}

static void otopic_remove(kb_group *g, int idx) {
    otopic_free(&g->topics[idx]);
    memmove(&g->topics[idx], &g->topics[idx + 1],
            (size_t)(g->ntopics - idx - 1) * sizeof(g->topics[0]));
    g->ntopics--;
}

/* Sets an offset in memory. meta is taken over. 0 or -1 (no memory). */
static int offset_set(kb_group *g, const char *topic, size_t tlen, int32_t part, int64_t offset,
                      int32_t epoch, int64_t ts, char *meta) {
    if (part < 0 || part >= MAX_PARTITION_INDEX || memchr(topic, 0, tlen))
        goto fail;
    kb_otopic *t = otopic_find(g, topic, tlen);
    if (!t) {
        if (g->ntopics == g->captopics) {
            int nc = g->captopics ? g->captopics * 2 : 4;
            kb_otopic *nt = realloc(g->topics, (size_t)nc * sizeof(*nt));
            if (!nt)
                goto fail;
            g->topics = nt;
            g->captopics = nc;
        }
        t = &g->topics[g->ntopics];
        memset(t, 0, sizeof(*t));
        t->name = kf_strndup(topic, tlen);
        if (!t->name)
            goto fail;
        g->ntopics++;
    }
    if (part >= t->cap) {
        int32_t nc = t->cap ? t->cap : 8;
        while (nc <= part)
            nc *= 2;
        kb_opart *np = realloc(t->parts, (size_t)nc * sizeof(*np));
        if (!np)
            goto fail;
        memset(np + t->cap, 0, (size_t)(nc - t->cap) * sizeof(*np));
        t->parts = np;
        t->cap = nc;
    }
    kb_opart *o = &t->parts[part];
    if (!o->present)
        t->count++;
    free(o->meta);
    o->present = 1;
    o->offset = offset;
    o->epoch = epoch;
    o->ts = ts;
    o->meta = meta;
    return 0;
fail:
    free(meta);
    return -1;
}

static void offset_clear(kb_group *g, const char *topic, size_t tlen, int32_t part) {
    kb_otopic *t = otopic_find(g, topic, tlen);
    if (!t || part < 0 || part >= t->cap || !t->parts[part].present)
        return;
    kb_opart *o = &t->parts[part];
    free(o->meta);
    memset(o, 0, sizeof(*o));
    if (--t->count == 0)
        otopic_remove(g, (int)(t - g->topics));
}

int kb_group_commit(kb_groups *gs, kb_group *g, const kb_ocommit *c, size_t n) {
    int64_t ts = kf_wall_ms();
    kf_buf jb;
    kf_buf_init(&jb, 0);
    for (size_t i = 0; i < n; i++) {
        if (c[i].err)
            continue;
        kb_opart o = {1, c[i].offset, c[i].epoch, ts, NULL};
        /* Kafka stores a null metadata string as "". */
        char empty[1] = "";
        o.meta = empty;
        char *tmp = NULL;
        if (c[i].meta && c[i].meta_len > 0) {
            tmp = kf_strndup(c[i].meta, (size_t)c[i].meta_len);
            if (!tmp)
                jb.failed = 1;
            else
                o.meta = tmp;
        }
        je_offset(&jb, g->id, c[i].topic, (size_t)c[i].topic_len, c[i].partition, &o);
        free(tmp);
    }
    if (journal_write(gs, &jb) != 0) {
        kf_buf_free(&jb);
        return -1;
    }
    kf_buf_free(&jb);
    for (size_t i = 0; i < n; i++) {
        if (c[i].err)
            continue;
        char *meta = kf_strndup(c[i].meta ? c[i].meta : "", c[i].meta ? (size_t)c[i].meta_len : 0);
        if (!meta || offset_set(g, c[i].topic, (size_t)c[i].topic_len, c[i].partition, c[i].offset,
                                c[i].epoch, ts, meta) != 0)
            kf_err("group", "out of memory storing an offset of group %s", g->id);
    }
    return 0;
}

int kb_group_offset_delete(kb_groups *gs, kb_group *g, const char *topic, size_t len,
                           int32_t partition) {
    if (!kb_group_offset(g, topic, len, partition))
        return 0;
    kf_buf jb;
    kf_buf_init(&jb, 0);
    je_del_offset(&jb, g->id, topic, len, partition);
    int rc = journal_write(gs, &jb);
    kf_buf_free(&jb);
    if (rc == 0)
        offset_clear(g, topic, len, partition);
    return rc;
}

int kb_group_delete(kb_groups *gs, kb_group *g) {
    if (kb_group_has_offsets(g)) {
        kf_buf jb;
        kf_buf_init(&jb, 0);
        size_t pos = je_begin(&jb, JE_DEL_GROUP, g->id);
        je_end(&jb, pos);
        int rc = journal_write(gs, &jb);
        kf_buf_free(&jb);
        if (rc != 0)
            return -1;
    }
    group_unlink(gs, g);
    group_free(g);
    return 0;
}

void kb_groups_topic_deleted(kb_groups *gs, const char *topic) {
    if (!gs)
        return;
    size_t tlen = strlen(topic);
    int any = 0;
    for (size_t i = 0; i < gs->nbuckets && !any; i++)
        for (kb_group *g = gs->buckets[i]; g && !any; g = g->hnext)
            any = otopic_find(g, topic, tlen) != NULL;
    if (!any)
        return;
    kf_buf jb;
    kf_buf_init(&jb, 0);
    size_t pos = je_begin(&jb, JE_DEL_TOPIC, "");
    kf_wr_str(&jb, 0, topic, (int32_t)tlen);
    je_end(&jb, pos);
    /* Memory is cleared even if the write fails: the topic is gone either
     * way, and a recreated topic must not inherit stale offsets while we
     * run; the failure is logged by journal_write. */
    (void)journal_write(gs, &jb);
    kf_buf_free(&jb);
    for (size_t i = 0; i < gs->nbuckets; i++)
        for (kb_group *g = gs->buckets[i]; g; g = g->hnext) {
            kb_otopic *t = otopic_find(g, topic, tlen);
            if (t)
                otopic_remove(g, (int)(t - g->topics));
        }
}

/* ---------------------------------------------------------------------- */
/* Journal replay and compaction                                           */

static void drop_topic_everywhere(kb_groups *gs, const char *topic, size_t tlen) {
    for (size_t i = 0; i < gs->nbuckets; i++)
        for (kb_group *g = gs->buckets[i]; g; g = g->hnext) {
            kb_otopic *t = otopic_find(g, topic, tlen);
            if (t)
                otopic_remove(g, (int)(t - g->topics));
        }
}

/* Applies one entry whose CRC matched. Returns 0, or -1 if it makes no
 * sense (skipped with a warning by the caller). */
static int replay_entry(kb_groups *gs, const uint8_t *p, size_t n) {
    kf_rd rd;
    kf_rd_init(&rd, p, n);
    int type = kf_rd_i8(&rd);
    const char *gid, *topic;
    int32_t glen = kf_rd_str(&rd, 0, &gid);
    if (!kf_rd_ok(&rd) || glen < 0)
        return -1;
    if (type == JE_DEL_TOPIC) {
        int32_t tlen = kf_rd_str(&rd, 0, &topic);
        if (!kf_rd_ok(&rd) || tlen < 0)
            return -1;
        drop_topic_everywhere(gs, topic, (size_t)tlen);
        return 0;
    }
    kb_group *g = kb_group_find(gs, gid, (size_t)glen);
    if (type == JE_DEL_GROUP) {
        if (g) {
            group_unlink(gs, g);
            group_free(g);
        }
        return 0;
    }
    int32_t tlen = kf_rd_str(&rd, 0, &topic);
    int32_t part = kf_rd_i32(&rd);
    if (!kf_rd_ok(&rd) || tlen < 0)
        return -1;
    if (type == JE_DEL_OFFSET) {
        if (g) {
            offset_clear(g, topic, (size_t)tlen, part);
            if (!kb_group_has_offsets(g)) {
                group_unlink(gs, g);
                group_free(g);
            }
        }
        return 0;
    }
    if (type != JE_OFFSET)
        return -1;
    int64_t offset = kf_rd_i64(&rd);
    int32_t epoch = kf_rd_i32(&rd);
    int64_t ts = kf_rd_i64(&rd);
    const char *meta;
    int32_t mlen = kf_rd_str(&rd, 0, &meta);
    if (!kf_rd_ok(&rd))
        return -1;
    if (!g && !(g = kb_group_create(gs, gid, (size_t)glen)))
        return -1;
    char *m = kf_strndup(mlen > 0 ? meta : "", mlen > 0 ? (size_t)mlen : 0);
    if (!m)
        return -1;
    return offset_set(g, topic, (size_t)tlen, part, offset, epoch, ts, m);
}

/* The live offsets as a fresh journal image. */
static void journal_image(kb_groups *gs, kf_buf *img) {
    kf_buf_append(img, journal_magic, sizeof(journal_magic));
    for (size_t i = 0; i < gs->nbuckets; i++)
        for (kb_group *g = gs->buckets[i]; g; g = g->hnext)
            for (int t = 0; t < g->ntopics; t++) {
                kb_otopic *ot = &g->topics[t];
                for (int32_t p = 0; p < ot->cap; p++)
                    if (ot->parts[p].present)
                        je_offset(img, g->id, ot->name, strlen(ot->name), p, &ot->parts[p]);
            }
}

static int journal_open(kb_groups *gs, const char *data_dir, char *err, size_t errlen) {
    char dir[4096];
    if (snprintf(dir, sizeof(dir), "%s/kferry-meta", data_dir) >= (int)sizeof(dir) ||
        snprintf(gs->path, sizeof(gs->path), "%s/" JOURNAL_NAME, dir) >= (int)sizeof(gs->path)) {
        snprintf(err, errlen, "data dir path too long");
        return -1;
    }
    if (kf_mkdirs(dir, 0755) != 0) {
        snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
        return -1;
    }
    kf_buf f;
    int rewrite = 0;
    size_t good = 0;
    if (kf_read_file(gs->path, &f, JOURNAL_MAX_FILE) != 0) {
        if (errno != ENOENT) {
            snprintf(err, errlen, "read %s: %s", gs->path, strerror(errno));
            return -1;
        }
        kf_buf_init(&f, 0);
        rewrite = 1;
    } else if (f.len < sizeof(journal_magic)) {
        /* Crashed while creating it: nothing was ever committed into it. */
        rewrite = 1;
    } else if (memcmp(f.data, journal_magic, sizeof(journal_magic)) != 0) {
        snprintf(err, errlen, "%s is not a kferry offsets journal (bad magic)", gs->path);
        kf_buf_free(&f);
        return -1;
    } else {
        size_t pos = sizeof(journal_magic);
        size_t skipped = 0;
        gs->loading = 1;
        while (pos < f.len) {
            if (f.len - pos < 8)
                break;
            uint32_t len = kf_be32(f.data + pos);
            uint32_t crc = kf_be32(f.data + pos + 4);
            if (len == 0 || len > JOURNAL_MAX_ENTRY || len > f.len - pos - 8)
                break;
            if (kf_crc32c(0, f.data + pos + 8, len) != crc)
                break;
            if (replay_entry(gs, f.data + pos + 8, len) != 0)
                skipped++;
            pos += 8 + len;
        }
        gs->loading = 0;
        good = pos;
        if (pos < f.len) {
            kf_warn("group", "%s: ignoring %zu bytes of torn or corrupt tail at offset %zu",
                    gs->path, f.len - pos, pos);
            rewrite = 1;
        }
        if (skipped)
            kf_warn("group", "%s: skipped %zu unusable entries", gs->path, skipped);
    }
    kf_buf img;
    kf_buf_init(&img, 0);
    journal_image(gs, &img);
    if (!kf_buf_ok(&img)) {
        snprintf(err, errlen, "out of memory compacting %s", gs->path);
        kf_buf_free(&img);
        kf_buf_free(&f);
        return -1;
    }
    /* Compact once dead entries dominate; small files are left alone. */
    if (!rewrite && good > 65536 && good > 2 * img.len)
        rewrite = 1;
    int64_t size = (int64_t)good;
    if (rewrite) {
        if (kf_write_file_atomic(gs->path, img.data, img.len) != 0) {
            snprintf(err, errlen, "write %s: %s", gs->path, strerror(errno));
            kf_buf_free(&img);
            kf_buf_free(&f);
            return -1;
        }
        size = (int64_t)img.len;
    }
    kf_buf_free(&img);
    kf_buf_free(&f);
    gs->fd = open(gs->path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (gs->fd < 0) {
        snprintf(err, errlen, "open %s: %s", gs->path, strerror(errno));
        return -1;
    }
    gs->jsize = size;
    gs->compact_at = size * 4 > KB_GROUP_COMPACT_MIN ? size * 4 : KB_GROUP_COMPACT_MIN;
    return 0;
}

/* Rewrites the journal with only the live offsets while running, so a
 * long run of periodic commits does not grow it without bound. */
static void journal_compact(kb_groups *gs) {
    kf_buf img;
    kf_buf_init(&img, 0);
    journal_image(gs, &img);
    int fd = -1;
    if (kf_buf_ok(&img) && kf_write_file_atomic(gs->path, img.data, img.len) == 0)
        fd = open(gs->path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0) {
        /* The old journal (still open) is complete: keep using it and try
         * again once it has grown further. */
        kf_warn("group", "compacting %s failed: %s", gs->path, strerror(errno));
        gs->compact_at = gs->jsize * 2;
        kf_buf_free(&img);
        return;
    }
    kf_info("group", "compacted %s from %lld to %zu bytes", gs->path, (long long)gs->jsize,
            img.len);
    if (gs->fd >= 0)
        close(gs->fd);
    gs->fd = fd;
    gs->jsize = (int64_t)img.len;
    gs->compact_at = gs->jsize * 4 > KB_GROUP_COMPACT_MIN ? gs->jsize * 4 : KB_GROUP_COMPACT_MIN;
    kf_buf_free(&img);
}

int kb_groups_open(kb_groups **out, kb_broker *b, const char *data_dir, char *err, size_t errlen) {
    *out = NULL;
    kb_groups *gs = calloc(1, sizeof(*gs));
    if (!gs) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    gs->b = b;
    gs->fd = -1;
    gs->nbuckets = 64;
    gs->buckets = calloc(gs->nbuckets, sizeof(*gs->buckets));
    if (!gs->buckets) {
        free(gs);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    gs->next_check = 0;
    gs->next_retention = 0;
    if (journal_open(gs, data_dir, err, errlen) != 0) {
        kb_groups_close(gs);
        return -1;
    }
    *out = gs;
    return 0;
}

void kb_groups_close(kb_groups *gs) {
    if (!gs)
        return;
    if (gs->fd >= 0) {
        fdatasync(gs->fd);
        close(gs->fd);
    }
    for (size_t i = 0; i < gs->nbuckets; i++) {
        kb_group *g = gs->buckets[i];
        while (g) {
            kb_group *next = g->hnext;
            group_free(g);
            g = next;
        }
    }
    free(gs->buckets);
    free(gs);
}

/* ---------------------------------------------------------------------- */
/* Members                                                                 */

kb_member *kb_group_member(kb_group *g, const char *id, size_t len) {
    for (int i = 0; i < g->nmembers; i++)
        if (streq_n(g->members[i]->id, id, len))
            return g->members[i];
    return NULL;
}

int kb_group_pending_find(kb_group *g, const char *id, size_t len) {
    for (int i = 0; i < g->npending; i++)
        if (streq_n(g->pending[i].id, id, len))
            return i;
    return -1;
}

int kb_group_pending_add(kb_groups *gs, kb_group *g, const char *id, int64_t deadline) {
    if (g->npending == g->cappending) {
        int nc = g->cappending ? g->cappending * 2 : 4;
        kb_pending *np = realloc(g->pending, (size_t)nc * sizeof(*np));
        if (!np)
            return -1;
        g->pending = np;
        g->cappending = nc;
    }
    char *d = kf_strdup(id);
    if (!d)
        return -1;
    g->pending[g->npending].id = d;
    g->pending[g->npending].deadline = deadline;
    g->npending++;
    kb_groups_note_deadline(gs, deadline);
    return 0;
}

void kb_group_pending_remove(kb_group *g, int idx) {
    free(g->pending[idx].id);
    memmove(&g->pending[idx], &g->pending[idx + 1],
            (size_t)(g->npending - idx - 1) * sizeof(g->pending[0]));
    g->npending--;
}

void kb_member_post(kb_groups *gs, kb_member *m, uint64_t ticket, kf_buf *body) {
    kf_buf_free(&m->res);
    m->res = *body;
    kf_buf_init(body, 0);
    m->res_ticket = ticket;
    if (m->wait_ticket == ticket) {
        m->wait_ticket = 0;
        m->wait_kind = KB_WAIT_NONE;
    }
    wake(gs);
}

static void remove_at(kb_group *g, int idx) {
    kb_member *m = g->members[idx];
    int was_leader = g->leader && strcmp(g->leader, m->id) == 0;
    memmove(&g->members[idx], &g->members[idx + 1],
            (size_t)(g->nmembers - idx - 1) * sizeof(g->members[0]));
    g->nmembers--;
    kb_member_free(m);
    if (was_leader) {
        free(g->leader);
        g->leader = g->nmembers ? kf_strdup(g->members[0]->id) : NULL;
    }
}

static int member_supports(const kb_member *m, const char *name) {
    for (int i = 0; i < m->nprotos; i++)
        if (strcmp(m->protos[i].name, name) == 0)
            return 1;
    return 0;
}

static int all_support_but(const kb_group *g, const kb_member *skip, const char *name) {
    for (int i = 0; i < g->nmembers; i++)
        if (g->members[i] != skip && !member_supports(g->members[i], name))
            return 0;
    return 1;
}

static int all_support(const kb_group *g, const char *name) {
    return all_support_but(g, NULL, name);
}

int kb_group_supports(const kb_group *g, const kb_member *self, const char *ptype, size_t ptype_len,
                      const kb_gproto *protos, int nprotos) {
    if (g->nmembers == 0)
        return ptype_len > 0 && nprotos > 0;
    if (!g->protocol_type || !streq_n(g->protocol_type, ptype, ptype_len) || nprotos == 0)
        return 0;
    for (int i = 0; i < nprotos; i++)
        if (all_support_but(g, self, protos[i].name))
            return 1;
    return 0;
}

/* Kafka's choice: among the protocols every member supports, each member
 * votes for the first one in its own preference order; most votes wins. */
static char *select_protocol(const kb_group *g) {
    const kb_member *first = g->members[0];
    int best = -1, best_votes = 0;
    for (int c = 0; c < first->nprotos; c++) {
        const char *cand = first->protos[c].name;
        if (!all_support(g, cand))
            continue;
        int votes = 0;
        for (int i = 0; i < g->nmembers; i++) {
            const kb_member *m = g->members[i];
            for (int k = 0; k < m->nprotos; k++)
                if (all_support(g, m->protos[k].name)) {
                    if (strcmp(m->protos[k].name, cand) == 0)
                        votes++;
                    break;
                }
        }
        if (best < 0 || votes > best_votes) {
            best = c;
            best_votes = votes;
        }
    }
    /* No common protocol cannot happen after the join checks; fall back to
     * the first member's favourite rather than to nothing. */
    if (best < 0)
        best = 0;
    return first->nprotos ? kf_strdup(first->protos[best].name) : kf_strdup("");
}

static int32_t rebalance_timeout(const kb_group *g) {
    int32_t t = 0;
    for (int i = 0; i < g->nmembers; i++)
        if (g->members[i]->rebalance_ms > t)
            t = g->members[i]->rebalance_ms;
    return t;
}

static void complete_join(kb_groups *gs, kb_group *g, int64_t now) {
    for (int i = g->nmembers - 1; i >= 0; i--)
        if (!g->members[i]->awaiting_join) {
            kf_info("group", "group %s: member %s did not rejoin in time, removed", g->id,
                    g->members[i]->id);
            remove_at(g, i);
        }
    g->generation++;
    free(g->protocol);
    g->protocol = NULL;
    g->initial_phase = 0;
    if (g->nmembers == 0) {
        g->state = KB_GS_EMPTY;
        free(g->leader);
        g->leader = NULL;
        g->empty_since = now;
        g->empty_since_wall = kf_wall_ms();
        kb_groups_note_deadline(gs, now + KB_GROUP_EMPTY_GC_MS);
        wake(gs);
        return;
    }
    g->protocol = select_protocol(g);
    if (!g->leader || !kb_group_member(g, g->leader, strlen(g->leader))) {
        free(g->leader);
        g->leader = kf_strdup(g->members[0]->id);
    }
    g->state = KB_GS_COMPLETING;
    kf_info("group", "group %s: generation %d with %d member(s), protocol %s", g->id, g->generation,
            g->nmembers, g->protocol ? g->protocol : "?");
    for (int i = 0; i < g->nmembers; i++) {
        kb_member *m = g->members[i];
        free(m->assignment);
        m->assignment = NULL;
        m->assign_len = 0;
    }
    for (int i = 0; i < g->nmembers; i++) {
        kb_member *m = g->members[i];
        if (m->wait_kind == KB_WAIT_JOIN && m->wait_ticket) {
            kf_buf body;
            kf_buf_init(&body, 0);
            int leader = g->leader && strcmp(g->leader, m->id) == 0;
            kb_write_join_resp(&body, m->wait_version, KF_ERR_NONE, g, m->id, leader);
            kb_member_post(gs, m, m->wait_ticket, &body);
            kf_buf_free(&body);
        }
        m->awaiting_join = 0;
        m->deadline = now + m->session_ms;
        kb_groups_note_deadline(gs, m->deadline);
    }
    wake(gs);
}

static int all_joined(const kb_group *g) {
    if (g->npending)
        return 0;
    for (int i = 0; i < g->nmembers; i++)
        if (!g->members[i]->awaiting_join)
            return 0;
    return 1;
}

void kb_group_try_complete(kb_groups *gs, kb_group *g, int64_t now) {
    if (g->state != KB_GS_PREPARING)
        return;
    if (g->initial_phase) {
        /* Kafka's InitialDelayedJoin: wait the whole delay, and again (up
         * to the rebalance timeout) while new members keep arriving. */
        if (now < g->join_deadline)
            return;
        if (g->new_member_added && now < g->rebalance_end) {
            int64_t d = gs->b ? gs->b->cfg.group_initial_rebalance_delay_ms : 0;
            g->new_member_added = 0;
            g->join_deadline = now + d < g->rebalance_end ? now + d : g->rebalance_end;
            kb_groups_note_deadline(gs, g->join_deadline);
            if (now < g->join_deadline)
                return;
        }
        complete_join(gs, g, now);
        return;
    }
    if (all_joined(g) || now >= g->join_deadline)
        complete_join(gs, g, now);
}

void kb_group_prepare_rebalance(kb_groups *gs, kb_group *g, int64_t now) {
    if (g->state == KB_GS_COMPLETING) {
        /* The assignment being collected is void: parked SyncGroups learn
         * it now and rejoin. */
        for (int i = 0; i < g->nmembers; i++) {
            kb_member *m = g->members[i];
            if (m->wait_kind == KB_WAIT_SYNC && m->wait_ticket) {
                kf_buf body;
                kf_buf_init(&body, 0);
                kb_write_sync_resp(&body, m->wait_version, KF_ERR_REBALANCE_IN_PROGRESS, NULL, 0);
                kb_member_post(gs, m, m->wait_ticket, &body);
                kf_buf_free(&body);
            }
        }
    }
    int32_t rt = rebalance_timeout(g);
    if (g->state == KB_GS_EMPTY) {
        int64_t d = gs->b ? gs->b->cfg.group_initial_rebalance_delay_ms : 0;
        if (d > rt)
            d = rt;
        if (d < 0)
            d = 0;
        g->initial_phase = 1;
        g->new_member_added = 0;
        g->join_deadline = now + d;
        g->rebalance_end = now + rt;
    } else {
        g->initial_phase = 0;
        g->join_deadline = now + rt;
    }
    g->state = KB_GS_PREPARING;
    kf_debug("group", "group %s: preparing rebalance (generation %d)", g->id, g->generation);
    kb_groups_note_deadline(gs, g->join_deadline);
    wake(gs);
    kb_group_try_complete(gs, g, now);
}

void kb_group_add_member(kb_groups *gs, kb_group *g, kb_member *m, const char *ptype,
                         size_t ptype_len, int64_t now) {
    if (g->nmembers == g->capmembers) {
        int nc = g->capmembers ? g->capmembers * 2 : 4;
        kb_member **nm = realloc(g->members, (size_t)nc * sizeof(*nm));
        if (!nm) {
            kb_member_free(m);
            return;
        }
        g->members = nm;
        g->capmembers = nc;
    }
    if (g->nmembers == 0) {
        char *t = kf_strndup(ptype, ptype_len);
        if (t) {
            free(g->protocol_type);
            g->protocol_type = t;
        }
    }
    /* As Kafka: only a group that never had a generation extends its
     * initial delay for members arriving during it. */
    if (g->state == KB_GS_PREPARING && g->initial_phase && g->generation == 0)
        g->new_member_added = 1;
    g->members[g->nmembers++] = m;
    if (!g->leader)
        g->leader = kf_strdup(m->id);
    m->awaiting_join = 1;
    if (g->state == KB_GS_PREPARING)
        kb_group_try_complete(gs, g, now);
    else
        kb_group_prepare_rebalance(gs, g, now);
}

void kb_group_remove_member(kb_groups *gs, kb_group *g, kb_member *m, int64_t now) {
    for (int i = 0; i < g->nmembers; i++)
        if (g->members[i] == m) {
            remove_at(g, i);
            break;
        }
    switch (g->state) {
    case KB_GS_STABLE:
    case KB_GS_COMPLETING: kb_group_prepare_rebalance(gs, g, now); break;
    case KB_GS_PREPARING: kb_group_try_complete(gs, g, now); break;
    default: break;
    }
    wake(gs);
}

void kb_group_complete_sync(kb_groups *gs, kb_group *g, kf_rd *asg, int32_t n, int flex) {
    for (int32_t i = 0; i < n; i++) {
        const char *mid;
        const uint8_t *a;
        int32_t mlen = kf_rd_str(asg, flex, &mid);
        int32_t alen = kf_rd_bytes(asg, flex, &a);
        kf_rd_tags(asg, flex);
        if (!kf_rd_ok(asg))
            break;
        kb_member *m = mlen >= 0 ? kb_group_member(g, mid, (size_t)mlen) : NULL;
        if (!m)
            continue;
        free(m->assignment);
        m->assignment = NULL;
        m->assign_len = 0;
        if (alen > 0 && (m->assignment = malloc((size_t)alen)) != NULL) {
            memcpy(m->assignment, a, (size_t)alen);
            m->assign_len = alen;
        }
    }
    g->state = KB_GS_STABLE;
    kf_debug("group", "group %s: stable at generation %d", g->id, g->generation);
    for (int i = 0; i < g->nmembers; i++) {
        kb_member *m = g->members[i];
        if (m->wait_kind == KB_WAIT_SYNC && m->wait_ticket) {
            kf_buf body;
            kf_buf_init(&body, 0);
            kb_write_sync_resp(&body, m->wait_version, KF_ERR_NONE, m->assignment, m->assign_len);
            kb_member_post(gs, m, m->wait_ticket, &body);
            kf_buf_free(&body);
        }
    }
    wake(gs);
}

/* ---------------------------------------------------------------------- */
/* Timers                                                                  */

static void expire_offsets(kb_groups *gs) {
    int64_t retention = gs->b ? gs->b->cfg.offsets_retention_ms : 0;
    if (retention <= 0)
        return;
    int64_t wall = kf_wall_ms();
    for (size_t i = 0; i < gs->nbuckets; i++) {
        kb_group *g = gs->buckets[i];
        while (g) {
            kb_group *next = g->hnext;
            /* As Kafka: offsets of a group live while it has members;
             * once Empty, the clock starts at the later of the commit and
             * the moment it became empty.  Groups replayed at open count
             * as empty since then: membership is not persisted, and the
             * offsets of a live but idle group must not expire in the
             * seconds before its members rejoin. */
            if (g->state == KB_GS_EMPTY) {
                kf_buf jb;
                kf_buf_init(&jb, 0);
                for (int t = 0; t < g->ntopics; t++) {
                    kb_otopic *ot = &g->topics[t];
                    for (int32_t p = 0; p < ot->cap; p++) {
                        kb_opart *o = &ot->parts[p];
                        if (!o->present)
                            continue;
                        int64_t base = o->ts;
                        if (g->empty_since_wall > base)
                            base = g->empty_since_wall;
                        if (base + retention < wall)
                            je_del_offset(&jb, g->id, ot->name, strlen(ot->name), p);
                    }
                }
                if (jb.len && journal_write(gs, &jb) == 0) {
                    kf_rd rd;
                    kf_rd_init(&rd, jb.data, jb.len);
                    while (kf_rd_left(&rd) >= 8) {
                        uint32_t len = (uint32_t)kf_rd_i32(&rd);
                        kf_rd_i32(&rd);
                        kf_rd r2;
                        const uint8_t *p = kf_rd_raw(&rd, len);
                        if (!p)
                            break;
                        kf_rd_init(&r2, p, len);
                        kf_rd_i8(&r2);
                        const char *s, *topic;
                        kf_rd_str(&r2, 0, &s);
                        int32_t tl = kf_rd_str(&r2, 0, &topic);
                        int32_t part = kf_rd_i32(&r2);
                        if (kf_rd_ok(&r2) && tl >= 0)
                            offset_clear(g, topic, (size_t)tl, part);
                    }
                    kf_info("group", "group %s: expired committed offsets", g->id);
                }
                kf_buf_free(&jb);
            }
            g = next;
        }
    }
}

void kb_groups_tick(kb_groups *gs, int64_t now) {
    if (!gs)
        return;
    if (now >= gs->next_retention) {
        gs->next_retention = now + KB_GROUP_RETENTION_CHECK_MS;
        expire_offsets(gs);
    }
    if (gs->jsize >= gs->compact_at)
        journal_compact(gs);
    if (now < gs->next_check)
        return;
    int64_t next = now + KB_GROUP_EMPTY_GC_MS;
    for (size_t i = 0; i < gs->nbuckets; i++) {
        kb_group *g = gs->buckets[i];
        while (g) {
            kb_group *gnext = g->hnext;
            int changed = 0;
            for (int k = g->npending - 1; k >= 0; k--)
                if (now >= g->pending[k].deadline) {
                    kb_group_pending_remove(g, k);
                    changed = 1;
                }
            if (changed)
                kb_group_try_complete(gs, g, now);
            /* A member with a parked JoinGroup/SyncGroup is alive: its
             * request stands for it (as Kafka's awaiting callbacks do). */
            for (int k = 0; k < g->nmembers;) {
                kb_member *m = g->members[k];
                if (!m->wait_ticket && now >= m->deadline) {
                    kf_info("group", "group %s: member %s session timed out", g->id, m->id);
                    kb_group_remove_member(gs, g, m, now);
                    k = 0; /* the array changed */
                    continue;
                }
                k++;
            }
            kb_group_try_complete(gs, g, now);
            for (int k = 0; k < g->npending; k++)
                if (g->pending[k].deadline < next)
                    next = g->pending[k].deadline;
            for (int k = 0; k < g->nmembers; k++)
                if (!g->members[k]->wait_ticket && g->members[k]->deadline < next)
                    next = g->members[k]->deadline;
            if (g->state == KB_GS_PREPARING && g->join_deadline < next)
                next = g->join_deadline;
            if (g->state == KB_GS_EMPTY && !g->nmembers && !g->npending) {
                if (!kb_group_has_offsets(g)) {
                    if (now - g->empty_since >= KB_GROUP_EMPTY_GC_MS) {
                        group_unlink(gs, g);
                        group_free(g);
                    } else if (g->empty_since + KB_GROUP_EMPTY_GC_MS < next) {
                        next = g->empty_since + KB_GROUP_EMPTY_GC_MS;
                    }
                }
            }
            g = gnext;
        }
    }
    gs->next_check = next;
}
