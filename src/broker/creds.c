/*
 * creds.c - the SCRAM credential store (see creds.h).
 *
 * File: 8-byte magic "KFSCRM\0\1", then entries framed like
 * transactions.log and group-offsets.log: u32 length, u32 CRC-32C of the
 * payload, payload.  Payload: i8 type (1 = credential), string user, i8
 * mechanism, i32 iterations, bytes salt, bytes StoredKey, bytes ServerKey
 * (Kafka wire encodings, non-flexible).  Written whole with
 * kf_write_file_atomic, so there is never a torn tail to recover.
 */
#include "broker/creds.h"

#include "common/util.h"
#include "proto/crc32c.h"
#include "proto/wire.h"

#include <openssl/crypto.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CREDS_MAX_FILE (64u << 20)
#define CREDS_MAX_ENTRY 4096
#define CE_CRED 1

static const uint8_t creds_magic[8] = {'K', 'F', 'S', 'C', 'R', 'M', 0, 1};

static kb_cred_user *find_user(const kb_creds *cs, const char *user, size_t len) {
    for (size_t i = 0; i < cs->n; i++)
        if (strlen(cs->v[i].name) == len && memcmp(cs->v[i].name, user, len) == 0)
            return &cs->v[i];
    return NULL;
}

const kb_cred_user *kb_creds_user(const kb_creds *cs, const char *user, size_t len) {
    return find_user(cs, user, len);
}

const kb_scram_cred *kb_creds_find(const kb_creds *cs, const char *user, size_t len, int mech) {
    if (mech != KB_SCRAM_SHA256 && mech != KB_SCRAM_SHA512)
        return NULL;
    kb_cred_user *u = find_user(cs, user, len);
    return u && u->have[mech] ? &u->cred[mech] : NULL;
}

int kb_creds_set(kb_creds *cs, const char *user, size_t len, const kb_scram_cred *c) {
    if (len == 0 || len > KB_SASL_MAX_USER ||
        (c->mech != KB_SCRAM_SHA256 && c->mech != KB_SCRAM_SHA512))
        return -1;
    kb_cred_user *u = find_user(cs, user, len);
    if (!u) {
        if (cs->n == cs->cap) {
            size_t nc = cs->cap ? cs->cap * 2 : 8;
            kb_cred_user *nv = realloc(cs->v, nc * sizeof(*nv));
            if (!nv)
                return -1;
            cs->v = nv;
            cs->cap = nc;
        }
        u = &cs->v[cs->n++];
        memset(u, 0, sizeof(*u));
        memcpy(u->name, user, len);
        u->name[len] = '\0';
    }
    u->cred[c->mech] = *c;
    u->have[c->mech] = 1;
    return 0;
}

int kb_creds_delete(kb_creds *cs, const char *user, size_t len, int mech) {
    kb_cred_user *u = find_user(cs, user, len);
    if (!u || (mech != KB_SCRAM_SHA256 && mech != KB_SCRAM_SHA512) || !u->have[mech])
        return 1;
    OPENSSL_cleanse(&u->cred[mech], sizeof(u->cred[mech]));
    u->have[mech] = 0;
    if (!u->have[KB_SCRAM_SHA256] && !u->have[KB_SCRAM_SHA512]) {
        size_t i = (size_t)(u - cs->v);
        cs->v[i] = cs->v[--cs->n];
    }
    return 0;
}

static void encode(kf_buf *img, const char *name, const kb_scram_cred *c) {
    size_t pos = img->len;
    kf_wr_i32(img, 0);
    kf_wr_i32(img, 0);
    kf_wr_i8(img, CE_CRED);
    kf_wr_cstr(img, 0, name);
    kf_wr_i8(img, c->mech);
    kf_wr_i32(img, c->iterations);
    size_t hl = kb_scram_hash_len(c->mech);
    kf_wr_bytes(img, 0, c->salt, (int32_t)c->salt_len);
    kf_wr_bytes(img, 0, c->stored_key, (int32_t)hl);
    kf_wr_bytes(img, 0, c->server_key, (int32_t)hl);
    if (!kf_buf_ok(img))
        return;
    size_t plen = img->len - pos - 8;
    kf_put_be32(img->data + pos, (uint32_t)plen);
    kf_put_be32(img->data + pos + 4, kf_crc32c(0, img->data + pos + 8, plen));
}

int kb_creds_save(kb_creds *cs) {
    kf_buf img;
    kf_buf_init(&img, 0);
    kf_buf_append(&img, creds_magic, sizeof(creds_magic));
    for (size_t i = 0; i < cs->n; i++)
        for (int m = KB_SCRAM_SHA256; m <= KB_SCRAM_SHA512; m++)
            if (cs->v[i].have[m])
                encode(&img, cs->v[i].name, &cs->v[i].cred[m]);
    int rc = -1;
    if (!kf_buf_ok(&img))
        errno = ENOMEM;
    else
        rc = kf_write_file_atomic_mode(cs->path, img.data, img.len, 0600);
    OPENSSL_cleanse(img.data, img.len);
    kf_buf_free(&img);
    return rc;
}

static int replay(kb_creds *cs, const uint8_t *p, size_t n) {
    kf_rd rd;
    kf_rd_init(&rd, p, n);
    int8_t type = kf_rd_i8(&rd);
    const char *name;
    int32_t nl = kf_rd_str(&rd, 0, &name);
    int8_t mech = kf_rd_i8(&rd);
    int32_t iter = kf_rd_i32(&rd);
    const uint8_t *salt, *stored, *server;
    int32_t sl = kf_rd_bytes(&rd, 0, &salt);
    int32_t kl1 = kf_rd_bytes(&rd, 0, &stored);
    int32_t kl2 = kf_rd_bytes(&rd, 0, &server);
    size_t hl = kb_scram_hash_len(mech);
    if (!kf_rd_ok(&rd) || kf_rd_left(&rd) != 0 || type != CE_CRED || nl <= 0 ||
        nl > KB_SASL_MAX_USER || !hl || iter < KB_SCRAM_MIN_ITER || iter > KB_SCRAM_MAX_ITER ||
        sl <= 0 || sl > KB_SCRAM_MAX_SALT || kl1 != (int32_t)hl || kl2 != (int32_t)hl ||
        memchr(name, '\0', (size_t)nl))
        return -1;
    kb_scram_cred c;
    memset(&c, 0, sizeof(c));
    c.mech = mech;
    c.iterations = iter;
    c.salt_len = (size_t)sl;
    memcpy(c.salt, salt, (size_t)sl);
    memcpy(c.stored_key, stored, hl);
    memcpy(c.server_key, server, hl);
    int rc = kb_creds_set(cs, name, (size_t)nl, &c);
    OPENSSL_cleanse(&c, sizeof(c));
    return rc;
}

int kb_creds_parse(kb_creds *cs, const uint8_t *data, size_t len, char *err, size_t errlen) {
    if (len < sizeof(creds_magic) || memcmp(data, creds_magic, sizeof(creds_magic)) != 0) {
        snprintf(err, errlen, "%s is not a kferry SCRAM credential file (bad magic)",
                 cs->path[0] ? cs->path : "credential file");
        return -1;
    }
    size_t pos = sizeof(creds_magic);
    while (pos < len) {
        if (len - pos < 8) {
            snprintf(err, errlen, "%s: truncated entry at offset %zu", cs->path, pos);
            return -1;
        }
        uint32_t el = kf_be32(data + pos);
        uint32_t crc = kf_be32(data + pos + 4);
        if (el == 0 || el > CREDS_MAX_ENTRY || el > len - pos - 8 ||
            kf_crc32c(0, data + pos + 8, el) != crc) {
            snprintf(err, errlen, "%s: corrupt entry at offset %zu (length or CRC)", cs->path, pos);
            return -1;
        }
        if (replay(cs, data + pos + 8, el) != 0) {
            snprintf(err, errlen, "%s: invalid credential entry at offset %zu", cs->path, pos);
            return -1;
        }
        pos += 8 + el;
    }
    return 0;
}

static void clear(kb_creds *cs) {
    if (cs->v)
        OPENSSL_cleanse(cs->v, cs->cap * sizeof(*cs->v));
    free(cs->v);
    cs->v = NULL;
    cs->n = cs->cap = 0;
}

int kb_creds_reload(kb_creds *cs, char *err, size_t errlen) {
    clear(cs);
    kf_buf f;
    if (kf_read_file(cs->path, &f, CREDS_MAX_FILE) != 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "read %s: %s", cs->path, strerror(errno));
        return -1;
    }
    int rc = kb_creds_parse(cs, f.data, f.len, err, errlen);
    OPENSSL_cleanse(f.data, f.len);
    kf_buf_free(&f);
    if (rc != 0)
        clear(cs);
    return rc;
}

int kb_creds_open(kb_creds *cs, const char *data_dir, char *err, size_t errlen) {
    memset(cs, 0, sizeof(*cs));
    char dir[4096];
    if (snprintf(dir, sizeof(dir), "%s/kferry-meta", data_dir) >= (int)sizeof(dir) ||
        snprintf(cs->path, sizeof(cs->path), "%s/" KB_CREDS_FILE, dir) >= (int)sizeof(cs->path)) {
        snprintf(err, errlen, "data dir path too long");
        return -1;
    }
    if (kf_mkdirs(dir, 0755) != 0) {
        snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
        return -1;
    }
    return kb_creds_reload(cs, err, errlen);
}

void kb_creds_close(kb_creds *cs) { clear(cs); }
