/*
 * store.c - the data dir as a whole: lock, clean-shutdown marker, topic
 * metadata (kferry-meta/), Kafka checkpoint files, broker state and the tick.
 * Invariant: a topic exists iff kferry-meta/topics/<name>.properties does;
 * it is written after the partition dirs exist and removed before they go.
 */
#include "broker/store_int.h"

#include "common/log.h"
#include "common/util.h"
#include "proto/proto.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define CLEAN_MARKER ".kafka_cleanshutdown"
#define RP_CKPT "recovery-point-offset-checkpoint"
#define LS_CKPT "log-start-offset-checkpoint"
#define CLEANER_CKPT "cleaner-offset-checkpoint"
#define MAX_PARTITIONS 100000
#define CKPT_INTERVAL_MS 60000 /* Kafka's log.flush.offset.checkpoint.interval.ms */
#define META_MAX_BYTES (16u * 1024 * 1024)

/* ---- small helpers ---- */

static int path2(char *buf, size_t n, const char *a, const char *b) {
    return snprintf(buf, n, "%s/%s", a, b) >= (int)n ? -1 : 0;
}

static int part_dir(const kb_store *s, const char *topic, int32_t part, char *buf, size_t n) {
    return snprintf(buf, n, "%s/%s-%d", s->dir, topic, (int)part) >= (int)n ? -1 : 0;
}

int kb_topic_name_valid(const char *name, size_t len) {
    if (!name || len == 0 || len > 249)
        return 0;
    if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static int name_cmp(const char *a, size_t alen, const char *b) {
    size_t blen = strlen(b);
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen;
}

/* Position of name in the sorted topic array (found or insertion point). */
static size_t topic_pos(const kb_store *s, const char *name, size_t len, int *found) {
    size_t lo = 0, hi = s->ntopics;
    *found = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = name_cmp(name, len, s->topics[mid]->name);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static void hex_id(const uint8_t id[16], char out[33]) {
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hx[id[i] >> 4];
        out[2 * i + 1] = hx[id[i] & 15];
    }
    out[32] = '\0';
}

static int parse_hex_id(const char *s, uint8_t id[16]) {
    if (!s || strlen(s) != 32)
        return -1;
    for (int i = 0; i < 32; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (v < 0)
            return -1;
        if (i % 2 == 0)
            id[i / 2] = (uint8_t)(v << 4);
        else
            id[i / 2] |= (uint8_t)v;
    }
    return 0;
}

static void random_topic_id(uint8_t id[16]) {
    int ok = 0;
    while (!ok) {
        if (getrandom(id, 16, 0) != 16) {
            /* getrandom cannot really fail for 16 bytes; be safe anyway. */
            int64_t t = kf_wall_ms() ^ (int64_t)getpid();
            for (int i = 0; i < 16; i++)
                id[i] = (uint8_t)(t >> ((i % 8) * 8)) ^ (uint8_t)(i * 37);
        }
        /* Kafka reserves the all-zero id and the id 0...01. */
        ok = 0;
        for (int i = 0; i < 15; i++)
            if (id[i])
                ok = 1;
        if (id[15] > 1)
            ok = 1;
    }
}

/* ---- checkpoints (Kafka's format: "0", count, "topic partition offset") ---- */

static void ckpt_free(kb_ckpt *c) {
    for (size_t i = 0; i < c->n; i++)
        free(c->e[i].topic);
    free(c->e);
    free(c->raw);
    memset(c, 0, sizeof(*c));
}

static int ckpt_cmp(const void *a, const void *b) {
    const kb_ckpt_ent *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    if (c)
        return c;
    if (x->part != y->part)
        return x->part < y->part ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int ckpt_load(const char *path, kb_ckpt *c, char *err, size_t errlen) {
    memset(c, 0, sizeof(*c));
    kf_buf b;
    if (kf_read_file(path, &b, META_MAX_BYTES) != 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    int rc = -1;
    char *text = kf_strndup((const char *)b.data, b.len);
    c->raw = b.data; /* kept: an unchanged checkpoint is not rewritten */
    c->rawlen = b.len;
    if (!text) {
        ckpt_free(c);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char *save = NULL;
    int lineno = 0;
    int64_t count = -1;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        size_t ll = strlen(line);
        if (ll && line[ll - 1] == '\r')
            line[--ll] = '\0';
        if (lineno == 1) {
            if (strcmp(line, "0") != 0) {
                snprintf(err, errlen, "%s: unsupported checkpoint version '%.40s'", path, line);
                goto out;
            }
            continue;
        }
        if (lineno == 2) {
            if (kf_parse_i64(line, 0, 10000000, &count) != 0) {
                snprintf(err, errlen, "%s: line 2: bad entry count '%.40s'", path, line);
                goto out;
            }
            continue;
        }
        char *sp2 = strrchr(line, ' ');
        char *sp1 = sp2 ? memrchr(line, ' ', (size_t)(sp2 - line)) : NULL;
        int64_t part, off;
        if (!sp1 || !kb_topic_name_valid(line, (size_t)(sp1 - line))) {
            snprintf(err, errlen, "%s: line %d: malformed entry", path, lineno);
            goto out;
        }
        *sp1 = *sp2 = '\0';
        if (kf_parse_i64(sp1 + 1, 0, INT32_MAX, &part) != 0 ||
            kf_parse_i64(sp2 + 1, 0, INT64_MAX, &off) != 0) {
            snprintf(err, errlen, "%s: line %d: bad partition or offset", path, lineno);
            goto out;
        }
        if (c->n == c->cap) {
            size_t nc = c->cap ? c->cap * 2 : 64;
            kb_ckpt_ent *ne = realloc(c->e, nc * sizeof(*ne));
            if (!ne) {
                snprintf(err, errlen, "out of memory");
                goto out;
            }
            c->e = ne;
            c->cap = nc;
        }
        c->e[c->n].topic = kf_strdup(line);
        c->e[c->n].part = (int32_t)part;
        c->e[c->n].offset = off;
        if (!c->e[c->n].topic) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        c->e[c->n].seq = c->n;
        c->n++;
    }
    if (lineno < 2 || count != (int64_t)c->n) {
        snprintf(err, errlen,
                 "%s: truncated or inconsistent checkpoint (%zu entries, header says %" PRId64 ")",
                 path, c->n, count);
        goto out;
    }
    /* Sorted for ckpt_get: a broker with many partitions looks each up. */
    if (c->n > 1)
        qsort(c->e, c->n, sizeof(*c->e), ckpt_cmp);
    rc = 0;
out:
    free(text);
    if (rc != 0)
        ckpt_free(c);
    return rc;
}

static int64_t ckpt_get(const kb_ckpt *c, const char *topic, int32_t part) {
    kb_ckpt_ent key = {.topic = (char *)topic, .part = part, .seq = 0};
    size_t lo = 0, hi = c->n; /* first entry not below (topic, part, 0) */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ckpt_cmp(&c->e[mid], &key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < c->n && c->e[lo].part == part && strcmp(c->e[lo].topic, topic) == 0)
        return c->e[lo].offset;
    return -1;
}

static int write_ckpt(kb_store *s, const char *name, int which) {
    kf_buf b;
    kf_buf_init(&b, 0);
    size_t n = 0;
    for (size_t i = 0; i < s->ntopics; i++)
        for (int32_t j = 0; j < s->topics[i]->nparts; j++)
            if (s->topics[i]->parts[j]->log &&
                (which != 2 || s->topics[i]->parts[j]->log->clean_point > 0))
                n++;
    char line[400];
    int w = snprintf(line, sizeof(line), "0\n%zu\n", n);
    kf_buf_append(&b, line, (size_t)w);
    for (size_t i = 0; i < s->ntopics; i++) {
        kb_topic *t = s->topics[i];
        for (int32_t j = 0; j < t->nparts; j++) {
            struct kb_plog *l = t->parts[j]->log;
            if (!l || (which == 2 && l->clean_point <= 0))
                continue;
            w = snprintf(line, sizeof(line), "%s %d %" PRId64 "\n", t->name, (int)j,
                         which == 2 ? l->clean_point
                         : which    ? l->log_start
                                    : l->recovery_point);
            kf_buf_append(&b, line, (size_t)w);
        }
    }
    char path[KB_PATH_MAX];
    int rc = -1;
    if (kf_buf_ok(&b) && s->ckpt_last[which] && s->ckpt_len[which] == b.len &&
        memcmp(s->ckpt_last[which], b.data, b.len) == 0) {
        rc = 0; /* the file already holds exactly this, durably */
    } else if (kf_buf_ok(&b) && path2(path, sizeof(path), s->dir, name) == 0) {
        free(s->ckpt_last[which]);
        s->ckpt_last[which] = NULL;
        rc = kf_write_file_atomic(path, b.data, b.len);
        if (rc != 0)
            kf_err("store", "write %s: %s", path, strerror(errno));
        else if ((s->ckpt_last[which] = malloc(b.len ? b.len : 1)) != NULL) {
            memcpy(s->ckpt_last[which], b.data, b.len);
            s->ckpt_len[which] = b.len;
        }
    }
    kf_buf_free(&b);
    return rc;
}

int kb_store_write_checkpoints(kb_store *s) {
    int rc = 0;
    if (write_ckpt(s, RP_CKPT, 0) != 0)
        rc = -1;
    else
        s->rp_dirty = 0;
    if (write_ckpt(s, LS_CKPT, 1) != 0)
        rc = -1;
    else
        s->ls_dirty = 0;
    /* Also here so a deleted topic's entry goes with it (a topic created
     * again under the name must not inherit it). */
    if (write_ckpt(s, CLEANER_CKPT, 2) != 0)
        rc = -1;
    s->last_ckpt_ms = kf_wall_ms();
    return rc;
}

void kb_store_note_log_start(kb_store *s) { s->ls_dirty = 1; }

int kb_store_write_cleaner_checkpoint(kb_store *s) { return write_ckpt(s, CLEANER_CKPT, 2); }

/* ---- topics ---- */

static void topic_free(kb_topic *t) {
    if (!t)
        return;
    for (int32_t i = 0; t->parts && i < t->nparts; i++) {
        kb_part *p = t->parts[i];
        if (!p)
            continue;
        if (p->producers && p->producers_free)
            p->producers_free(p->producers);
        if (p->txn && p->txn_free)
            p->txn_free(p->txn);
        kb_plog_free(p->log);
        free(p);
    }
    free(t->parts);
    kf_props_free(&t->overrides);
    free(t->name);
    free(t);
}

static kb_topic *topic_new(const char *name, size_t len) {
    kb_topic *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    kf_props_init(&t->overrides);
    t->name = kf_strndup(name, len);
    if (!t->name) {
        free(t);
        return NULL;
    }
    t->internal =
        strcmp(t->name, "__consumer_offsets") == 0 || strcmp(t->name, "__transaction_state") == 0;
    return t;
}

/* Grows t->parts to n entries with fresh kb_part objects (no logs yet). */
static int topic_grow(kb_topic *t, int32_t n) {
    kb_part **np = realloc(t->parts, (size_t)n * sizeof(*np));
    if (!np)
        return -1;
    t->parts = np;
    for (int32_t i = t->nparts; i < n; i++) {
        np[i] = calloc(1, sizeof(kb_part));
        if (!np[i]) {
            for (int32_t j = t->nparts; j < i; j++)
                free(np[j]);
            return -1;
        }
        np[i]->topic = t;
        np[i]->id = i;
    }
    return 0;
}

static int topic_meta_path(const kb_store *s, const char *name, char *buf, size_t n) {
    return snprintf(buf, n, "%s/%s.properties", s->topics_dir, name) >= (int)n ? -1 : 0;
}

static int save_topic_meta(kb_store *s, const kb_topic *t, int32_t nparts,
                           const kf_props *overrides) {
    kf_props p;
    kf_props_init(&p);
    char id[33], num[32], key[512];
    hex_id(t->id, id);
    snprintf(num, sizeof(num), "%d", (int)nparts);
    int rc = kf_props_set(&p, "name", t->name) | kf_props_set(&p, "id", id) |
             kf_props_set(&p, "partitions", num);
    for (size_t i = 0; rc == 0 && i < overrides->count; i++) {
        snprintf(key, sizeof(key), "config.%s", overrides->items[i].key);
        rc = kf_props_set(&p, key, overrides->items[i].value);
    }
    char path[KB_PATH_MAX];
    if (rc == 0 && topic_meta_path(s, t->name, path, sizeof(path)) == 0) {
        rc = kf_props_save(&p, path);
        if (rc != 0)
            kf_err("store", "write %s: %s", path, strerror(errno));
    } else {
        rc = -1;
    }
    kf_props_free(&p);
    return rc;
}

static int insert_topic(kb_store *s, kb_topic *t) {
    int found;
    size_t at = topic_pos(s, t->name, strlen(t->name), &found);
    if (found)
        return -1;
    if (s->ntopics == s->ctopics) {
        size_t nc = s->ctopics ? s->ctopics * 2 : 16;
        kb_topic **n = realloc(s->topics, nc * sizeof(*n));
        if (!n)
            return -1;
        s->topics = n;
        s->ctopics = nc;
    }
    memmove(s->topics + at + 1, s->topics + at, (s->ntopics - at) * sizeof(*s->topics));
    s->topics[at] = t;
    s->ntopics++;
    return 0;
}

/* Loads one kferry-meta/topics/<file>. */
static int load_topic_meta(kb_store *s, const char *file, char *err, size_t errlen) {
    char path[KB_PATH_MAX];
    if (path2(path, sizeof(path), s->topics_dir, file) != 0) {
        snprintf(err, errlen, "%s/%s: path too long", s->topics_dir, file);
        return -1;
    }
    kf_props p;
    kf_props_init(&p);
    char perr[512];
    if (kf_props_load(&p, path, perr, sizeof(perr)) != 0) {
        snprintf(err, errlen, "bad topic metadata %s: %s", path, perr);
        kf_props_free(&p);
        return -1;
    }
    const char *name = kf_props_get(&p, "name");
    const char *id = kf_props_get(&p, "id");
    const char *np = kf_props_get(&p, "partitions");
    size_t stem = strlen(file) - strlen(".properties");
    int64_t nparts = 0;
    kb_topic *t = NULL;
    if (!name || !kb_topic_name_valid(name, strlen(name)) || strlen(name) != stem ||
        strncmp(name, file, stem) != 0) {
        snprintf(err, errlen, "bad topic metadata %s: missing or wrong 'name'", path);
        goto fail;
    }
    if (!np || kf_parse_i64(np, 1, MAX_PARTITIONS, &nparts) != 0) {
        snprintf(err, errlen, "bad topic metadata %s: bad 'partitions' value", path);
        goto fail;
    }
    t = topic_new(name, strlen(name));
    if (!t || topic_grow(t, (int32_t)nparts) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    t->nparts = (int32_t)nparts;
    if (parse_hex_id(id, t->id) != 0) {
        snprintf(err, errlen, "bad topic metadata %s: bad 'id' (32 hex digits expected)", path);
        goto fail;
    }
    for (size_t i = 0; i < p.count; i++) {
        const char *k = p.items[i].key;
        if (strncmp(k, "config.", 7) != 0)
            continue;
        char cerr[256];
        if (kb_topic_config_check(k + 7, p.items[i].value, cerr, sizeof(cerr)) != 0) {
            snprintf(err, errlen, "bad topic metadata %s: line %d: %s", path, p.items[i].line,
                     cerr);
            goto fail;
        }
        if (kf_props_set(&t->overrides, k + 7, p.items[i].value) != 0) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    kb_cfg_effective(&s->defaults, &t->overrides, &t->cfg);
    if (insert_topic(s, t) != 0) {
        snprintf(err, errlen, "duplicate topic metadata %s", path);
        goto fail;
    }
    kf_props_free(&p);
    return 0;
fail:
    topic_free(t);
    kf_props_free(&p);
    return -1;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static int load_all_meta(kb_store *s, char *err, size_t errlen) {
    DIR *d = opendir(s->topics_dir);
    if (!d) {
        snprintf(err, errlen, "cannot open %s: %s", s->topics_dir, strerror(errno));
        return -1;
    }
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (ends_with(de->d_name, ".tmp")) {
            char path[KB_PATH_MAX];
            if (path2(path, sizeof(path), s->topics_dir, de->d_name) == 0)
                unlink(path); /* an interrupted atomic write */
            continue;
        }
        if (!ends_with(de->d_name, ".properties")) {
            kf_warn("store", "%s: ignoring unexpected file %s", s->topics_dir, de->d_name);
            continue;
        }
        rc = load_topic_meta(s, de->d_name, err, errlen);
    }
    closedir(d);
    return rc;
}

/* Checks every entry of the data dir, warning about what is not ours. */
static void scan_data_dir(kb_store *s) {
    static const char *const known[] = {".lock",
                                        CLEAN_MARKER,
                                        RP_CKPT,
                                        LS_CKPT,
                                        "kferry-meta",
                                        "replication-offset-checkpoint",
                                        "cleaner-offset-checkpoint",
                                        "meta.properties",
                                        NULL};
    DIR *d = opendir(s->dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0)
            continue;
        int skip = 0;
        for (const char *const *k = known; *k; k++)
            if (strcmp(nm, *k) == 0)
                skip = 1;
        if (skip)
            continue;
        char path[KB_PATH_MAX];
        if (path2(path, sizeof(path), s->dir, nm) != 0)
            continue;
        struct stat st;
        if (lstat(path, &st) != 0)
            continue;
        if (!S_ISDIR(st.st_mode)) {
            if (ends_with(nm, ".tmp"))
                unlink(path);
            else
                kf_warn("store", "%s: ignoring unexpected file %s", s->dir, nm);
            continue;
        }
        if (ends_with(nm, "-delete")) {
            kf_info("store", "removing leftover deleted partition %s", path);
            if (kf_rmtree(path) != 0)
                kf_warn("store", "cannot remove %s: %s", path, strerror(errno));
            continue;
        }
        const char *dash = strrchr(nm, '-');
        int64_t part = -1;
        int found = 0;
        size_t at = 0;
        if (dash && dash > nm && kf_parse_i64(dash + 1, 0, INT32_MAX, &part) == 0)
            at = topic_pos(s, nm, (size_t)(dash - nm), &found);
        if (!found) {
            kf_warn("store", "%s: ignoring directory %s: not a partition of a known topic", s->dir,
                    nm);
            continue;
        }
        if (part >= s->topics[at]->nparts)
            kf_warn("store", "%s: ignoring directory %s: topic has %d partition(s)", s->dir, nm,
                    (int)s->topics[at]->nparts);
    }
    closedir(d);
}

/* ---- open / close ---- */

static void store_free(kb_store *s) {
    for (size_t i = 0; i < s->ntopics; i++)
        topic_free(s->topics[i]);
    free(s->topics);
    kf_props_free(&s->state);
    for (int i = 0; i < 3; i++)
        free(s->ckpt_last[i]);
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    free(s->dir);
    free(s);
}

int kb_store_open(kb_store **out, const char *data_dir, const kb_log_cfg *defaults, char *err,
                  size_t errlen) {
    *out = NULL;
    if (!data_dir || !*data_dir || strlen(data_dir) > KB_PATH_MAX - 1100) {
        snprintf(err, errlen, "bad data dir path");
        return -1;
    }
    kb_store *s = calloc(1, sizeof(*s));
    if (!s || !(s->dir = kf_strdup(data_dir))) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t dl = strlen(s->dir);
    while (dl > 1 && s->dir[dl - 1] == '/')
        s->dir[--dl] = '\0';
    s->lock_fd = -1;
    s->defaults = *defaults;
    s->retention_check_ms = defaults->retention_check_ms;
    kf_props_init(&s->state);
    kb_ckpt rp = {0}, ls = {0}, cc = {0};
    char path[KB_PATH_MAX];

    path2(s->meta_dir, sizeof(s->meta_dir), s->dir, "kferry-meta");
    path2(s->topics_dir, sizeof(s->topics_dir), s->meta_dir, "topics");
    if (kf_mkdirs(s->topics_dir, 0755) != 0) {
        snprintf(err, errlen, "cannot create %s: %s", s->topics_dir, strerror(errno));
        goto fail;
    }
    path2(path, sizeof(path), s->dir, ".lock");
    s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->lock_fd < 0 || flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, errlen, "cannot lock %s: %s (is another broker using %s?)", path,
                 strerror(errno), s->dir);
        goto fail;
    }
    path2(path, sizeof(path), s->dir, CLEAN_MARKER);
    int clean = access(path, F_OK) == 0;

    path2(path, sizeof(path), s->meta_dir, "broker.properties");
    if (access(path, F_OK) == 0) {
        char perr[512];
        if (kf_props_load(&s->state, path, perr, sizeof(perr)) != 0) {
            snprintf(err, errlen, "bad broker state %s: %s", path, perr);
            goto fail;
        }
    }
    path2(path, sizeof(path), s->dir, RP_CKPT);
    if (ckpt_load(path, &rp, err, errlen) != 0)
        goto fail;
    path2(path, sizeof(path), s->dir, LS_CKPT);
    if (ckpt_load(path, &ls, err, errlen) != 0)
        goto fail;
    path2(path, sizeof(path), s->dir, CLEANER_CKPT);
    if (ckpt_load(path, &cc, err, errlen) != 0) {
        /* Only an optimisation: a lost checkpoint means a full re-clean. */
        kf_warn("store", "%s; ignoring it", err);
        ckpt_free(&cc);
    }
    if (load_all_meta(s, err, errlen) != 0)
        goto fail;
    scan_data_dir(s);
    if (!clean && s->ntopics > 0)
        kf_warn("store", "%s: no clean-shutdown marker, recovering logs", s->dir);

    for (size_t i = 0; i < s->ntopics; i++) {
        kb_topic *t = s->topics[i];
        for (int32_t j = 0; j < t->nparts; j++) {
            char pd[KB_PATH_MAX];
            if (part_dir(s, t->name, j, pd, sizeof(pd)) != 0) {
                snprintf(err, errlen, "path too long for %s-%d", t->name, (int)j);
                goto fail;
            }
            int exists = access(pd, F_OK) == 0;
            if (!exists)
                kf_warn("store", "%s: partition directory missing, creating it empty", pd);
            int64_t r = ckpt_get(&rp, t->name, j);
            if (kb_plog_open(s, t->parts[j], pd, clean, r, ckpt_get(&ls, t->name, j), !exists, err,
                             errlen) != 0)
                goto fail;
            /* Beyond the log end (truncated by recovery): clean again. */
            int64_t cp = ckpt_get(&cc, t->name, j);
            t->parts[j]->log->clean_point = cp > 0 && cp <= kb_part_log_end(t->parts[j]) ? cp : 0;
        }
    }
    /* Remove the marker before accepting writes: a crash from now on must
     * trigger recovery at the next start. */
    path2(path, sizeof(path), s->dir, CLEAN_MARKER);
    if (clean && unlink(path) != 0) {
        snprintf(err, errlen, "cannot remove %s: %s", path, strerror(errno));
        goto fail;
    }
    kf_fsync_dir(s->dir);
    kb_ckpt *loaded[3] = {&rp, &ls, &cc};
    for (int i = 0; i < 3; i++) {
        s->ckpt_last[i] = loaded[i]->raw;
        s->ckpt_len[i] = loaded[i]->rawlen;
        loaded[i]->raw = NULL;
    }
    if (kb_store_write_checkpoints(s) != 0) {
        snprintf(err, errlen, "cannot write checkpoints in %s: %s", s->dir, strerror(errno));
        goto fail;
    }
    ckpt_free(&rp);
    ckpt_free(&ls);
    ckpt_free(&cc);
    s->last_retention_ms = 0;
    *out = s;
    return 0;
fail:
    ckpt_free(&rp);
    ckpt_free(&ls);
    ckpt_free(&cc);
    store_free(s);
    return -1;
}

int kb_store_flush(kb_store *s) {
    int rc = 0;
    int64_t now = kf_wall_ms();
    for (size_t i = 0; i < s->ntopics; i++)
        for (int32_t j = 0; j < s->topics[i]->nparts; j++) {
            struct kb_plog *l = s->topics[i]->parts[j]->log;
            if (l && kb_plog_flush(l, now) != 0)
                rc = KF_ERR_KAFKA_STORAGE_ERROR;
        }
    if (kb_store_write_checkpoints(s) != 0)
        rc = KF_ERR_KAFKA_STORAGE_ERROR;
    return rc;
}

void kb_store_close(kb_store *s) {
    if (!s)
        return;
    int ok = 1;
    for (size_t i = 0; i < s->ntopics; i++)
        for (int32_t j = 0; j < s->topics[i]->nparts; j++) {
            struct kb_plog *l = s->topics[i]->parts[j]->log;
            if (l && kb_plog_close_segments(l) != 0)
                ok = 0;
        }
    if (kb_store_flush(s) != 0)
        ok = 0;
    char path[KB_PATH_MAX];
    path2(path, sizeof(path), s->dir, CLEAN_MARKER);
    if (ok) {
        if (kf_write_file_atomic(path, "", 0) != 0)
            kf_err("store", "write %s: %s", path, strerror(errno));
    } else {
        kf_err("store", "%s: not marking a clean shutdown after I/O errors", s->dir);
    }
    store_free(s);
}

void kb_store_tick(kb_store *s, int64_t now_ms) {
    int do_retention = s->retention_check_ms <= 0 || s->last_retention_ms == 0 ||
                       now_ms - s->last_retention_ms >= s->retention_check_ms;
    if (do_retention)
        s->last_retention_ms = now_ms;
    for (size_t i = 0; i < s->ntopics; i++) {
        kb_topic *t = s->topics[i];
        for (int32_t j = 0; j < t->nparts; j++) {
            struct kb_plog *l = t->parts[j]->log;
            if (!l)
                continue;
            kb_plog_time_roll(l, now_ms);
            if (l->unflushed > 0 && now_ms - l->last_flush_ms >= t->cfg.flush_ms)
                kb_plog_flush(l, now_ms);
            if (do_retention)
                kb_plog_retention(l, now_ms);
        }
    }
    if (s->ls_dirty || (s->rp_dirty && now_ms - s->last_ckpt_ms >= CKPT_INTERVAL_MS))
        kb_store_write_checkpoints(s);
    if (s->defaults.cleaner_enable)
        kb_cleaner_tick(s, now_ms);
}

/* ---- lookups ---- */

size_t kb_store_topic_count(const kb_store *s) { return s->ntopics; }

kb_topic *kb_store_topic_at(kb_store *s, size_t i) { return i < s->ntopics ? s->topics[i] : NULL; }

kb_topic *kb_store_find(kb_store *s, const char *name, size_t len) {
    int found;
    size_t at = topic_pos(s, name, len, &found);
    return found ? s->topics[at] : NULL;
}

kb_part *kb_store_part(kb_store *s, const char *topic, size_t len, int32_t partition) {
    kb_topic *t = kb_store_find(s, topic, len);
    if (!t || partition < 0 || partition >= t->nparts)
        return NULL;
    return t->parts[partition];
}

const char *kb_store_dir(const kb_store *s) { return s->dir; }

/* ---- topic admin ---- */

/* Kafka rejects names that differ only by '.' versus '_' (metric names collide). */
static kb_topic *colliding(kb_store *s, const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; i < s->ntopics; i++) {
        const char *o = s->topics[i]->name;
        if (strlen(o) != n)
            continue;
        size_t k = 0;
        for (; k < n; k++) {
            char a = name[k] == '.' ? '_' : name[k], b = o[k] == '.' ? '_' : o[k];
            if (a != b)
                break;
        }
        if (k == n)
            return s->topics[i];
    }
    return NULL;
}

/* Opens fresh, empty logs for partitions [from, to) of t. */
static int create_parts(kb_store *s, kb_topic *t, int32_t from, int32_t to, char *err,
                        size_t errlen) {
    for (int32_t j = from; j < to; j++) {
        char pd[KB_PATH_MAX];
        if (part_dir(s, t->name, j, pd, sizeof(pd)) != 0) {
            snprintf(err, errlen, "path too long");
            return -1;
        }
        if (access(pd, F_OK) == 0) {
            kf_warn("store", "removing stale directory %s", pd);
            if (kf_rmtree(pd) != 0) {
                snprintf(err, errlen, "cannot remove stale %s: %s", pd, strerror(errno));
                return -1;
            }
        }
        if (kb_plog_open(s, t->parts[j], pd, 1, -1, -1, 1, err, errlen) != 0)
            return -1;
    }
    kf_fsync_dir(s->dir);
    return 0;
}

static void remove_parts(kb_store *s, kb_topic *t, int32_t from, int32_t to) {
    for (int32_t j = from; j < to; j++) {
        kb_part *p = t->parts[j];
        kb_plog_free(p->log);
        p->log = NULL;
        char pd[KB_PATH_MAX];
        if (part_dir(s, t->name, j, pd, sizeof(pd)) == 0 && kf_rmtree(pd) != 0)
            kf_warn("store", "cannot remove %s: %s", pd, strerror(errno));
    }
}

int kb_store_create(kb_store *s, const char *name, int32_t nparts, const kf_props *configs,
                    kb_topic **out, char *err, size_t errlen) {
    if (out)
        *out = NULL;
    size_t len = name ? strlen(name) : 0;
    if (!kb_topic_name_valid(name, len)) {
        snprintf(err, errlen,
                 "Topic name \"%.*s\" is illegal: it must be 1-249 characters of "
                 "[a-zA-Z0-9._-] and not '.' or '..'",
                 (int)(len > 255 ? 255 : len), name ? name : "");
        return KF_ERR_INVALID_TOPIC_EXCEPTION;
    }
    if (kb_store_find(s, name, len)) {
        snprintf(err, errlen, "Topic '%s' already exists.", name);
        return KF_ERR_TOPIC_ALREADY_EXISTS;
    }
    kb_topic *other = colliding(s, name);
    if (other) {
        snprintf(err, errlen, "Topic '%s' collides with existing topic: %s", name, other->name);
        return KF_ERR_INVALID_TOPIC_EXCEPTION;
    }
    if (nparts < 1 || nparts > MAX_PARTITIONS) {
        snprintf(err, errlen, "Number of partitions must be between 1 and %d, got %d.",
                 MAX_PARTITIONS, (int)nparts);
        return KF_ERR_INVALID_PARTITIONS;
    }
    int rc = kb_cfg_check_all(configs, err, errlen);
    if (rc)
        return rc;
    kb_topic *t = topic_new(name, len);
    if (!t || topic_grow(t, nparts) != 0) {
        topic_free(t);
        snprintf(err, errlen, "out of memory");
        return KF_ERR_KAFKA_STORAGE_ERROR;
    }
    t->nparts = nparts;
    random_topic_id(t->id);
    for (size_t i = 0; configs && i < configs->count; i++)
        if (kf_props_set(&t->overrides, configs->items[i].key, configs->items[i].value) != 0) {
            topic_free(t);
            snprintf(err, errlen, "out of memory");
            return KF_ERR_KAFKA_STORAGE_ERROR;
        }
    kb_cfg_effective(&s->defaults, &t->overrides, &t->cfg);
    if (create_parts(s, t, 0, nparts, err, errlen) != 0 ||
        save_topic_meta(s, t, nparts, &t->overrides) != 0 || insert_topic(s, t) != 0) {
        if (!*err)
            snprintf(err, errlen, "cannot store topic %s", name);
        char mp[KB_PATH_MAX];
        if (topic_meta_path(s, name, mp, sizeof(mp)) == 0)
            unlink(mp);
        remove_parts(s, t, 0, nparts);
        topic_free(t);
        return KF_ERR_KAFKA_STORAGE_ERROR;
    }
    kf_info("store", "created topic %s with %d partition(s)", name, (int)nparts);
    if (out)
        *out = t;
    return 0;
}

int kb_store_delete(kb_store *s, const char *name, size_t len) {
    int found;
    size_t at = topic_pos(s, name, len, &found);
    if (!found)
        return KF_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    kb_topic *t = s->topics[at];
    char mp[KB_PATH_MAX];
    /* Metadata first: once it is gone the directories are just leftovers. */
    if (topic_meta_path(s, t->name, mp, sizeof(mp)) != 0 || (unlink(mp) != 0 && errno != ENOENT)) {
        kf_err("store", "unlink %s: %s", mp, strerror(errno));
        return KF_ERR_KAFKA_STORAGE_ERROR;
    }
    kf_fsync_dir(s->topics_dir);
    memmove(s->topics + at, s->topics + at + 1, (s->ntopics - at - 1) * sizeof(*s->topics));
    s->ntopics--;
    char id[33];
    hex_id(t->id, id);
    for (int32_t j = 0; j < t->nparts; j++) {
        kb_plog_free(t->parts[j]->log);
        t->parts[j]->log = NULL;
        char pd[KB_PATH_MAX], gone[KB_PATH_MAX];
        if (part_dir(s, t->name, j, pd, sizeof(pd)) != 0)
            continue;
        /* Rename first (atomic) so a crash mid-delete leaves a "-delete"
         * directory that the next open removes. */
        if (snprintf(gone, sizeof(gone), "%s.%s-delete", pd, id) < (int)sizeof(gone) &&
            rename(pd, gone) == 0) {
            if (kf_rmtree(gone) != 0)
                kf_warn("store", "cannot remove %s: %s", gone, strerror(errno));
        } else if (kf_rmtree(pd) != 0) {
            kf_warn("store", "cannot remove %s: %s", pd, strerror(errno));
        }
    }
    kf_info("store", "deleted topic %s", t->name);
    topic_free(t);
    kb_store_write_checkpoints(s);
    return 0;
}

int kb_store_add_partitions(kb_store *s, kb_topic *t, int32_t total, char *err, size_t errlen) {
    if (total <= t->nparts) {
        if (total == t->nparts)
            snprintf(err, errlen, "Topic already has %d partitions.", (int)t->nparts);
        else
            snprintf(err, errlen,
                     "Topic currently has %d partitions, which is higher than the requested %d.",
                     (int)t->nparts, (int)total);
        return KF_ERR_INVALID_PARTITIONS;
    }
    if (total > MAX_PARTITIONS) {
        snprintf(err, errlen, "Number of partitions must be at most %d.", MAX_PARTITIONS);
        return KF_ERR_INVALID_PARTITIONS;
    }
    int32_t old = t->nparts;
    if (topic_grow(t, total) != 0) {
        snprintf(err, errlen, "out of memory");
        return KF_ERR_KAFKA_STORAGE_ERROR;
    }
    err[0] = '\0';
    if (create_parts(s, t, old, total, err, errlen) != 0 ||
        save_topic_meta(s, t, total, &t->overrides) != 0) {
        if (!*err)
            snprintf(err, errlen, "cannot store topic %s", t->name);
        remove_parts(s, t, old, total);
        for (int32_t j = old; j < total; j++)
            free(t->parts[j]);
        return KF_ERR_KAFKA_STORAGE_ERROR;
    }
    t->nparts = total;
    kf_info("store", "topic %s now has %d partitions", t->name, (int)total);
    return 0;
}

int kb_store_alter_configs(kb_store *s, kb_topic *t, const kf_props *configs, char *err,
                           size_t errlen) {
    int rc = kb_cfg_check_all(configs, err, errlen);
    if (rc)
        return rc;
    kf_props np;
    kf_props_init(&np);
    for (size_t i = 0; configs && i < configs->count; i++)
        if (kf_props_set(&np, configs->items[i].key, configs->items[i].value) != 0) {
            kf_props_free(&np);
            snprintf(err, errlen, "out of memory");
            return KF_ERR_KAFKA_STORAGE_ERROR;
        }
    if (save_topic_meta(s, t, t->nparts, &np) != 0) {
        kf_props_free(&np);
        snprintf(err, errlen, "cannot store the configs of %s", t->name);
        return KF_ERR_KAFKA_STORAGE_ERROR;
    }
    kf_props_free(&t->overrides);
    t->overrides = np;
    kb_cfg_effective(&s->defaults, &t->overrides, &t->cfg);
    return 0;
}

/* ---- broker state ---- */

const char *kb_store_state_get(kb_store *s, const char *key) {
    return kf_props_get(&s->state, key);
}

int kb_store_state_set(kb_store *s, const char *key, const char *value) {
    if (kf_props_set(&s->state, key, value) != 0)
        return KF_ERR_KAFKA_STORAGE_ERROR;
    char path[KB_PATH_MAX];
    path2(path, sizeof(path), s->meta_dir, "broker.properties");
    if (kf_props_save(&s->state, path) != 0) {
        kf_err("store", "write %s: %s", path, strerror(errno));
        return KF_ERR_KAFKA_STORAGE_ERROR;
    }
    return 0;
}
