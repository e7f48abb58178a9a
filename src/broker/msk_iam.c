/*
 * msk_iam.c - the MSK IAM emulation's credentials file, the RFC 7628
 * client initial response and the token check (see msk_iam.h).
 */
#include "broker/msk_iam.h"

#include "common/log.h"
#include "common/util.h"

#include <openssl/crypto.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define CRED_FILE_MAX (1024 * 1024)

int kb_msk_region_ok(const char *r) {
    size_t n = strlen(r);
    if (n == 0 || n >= 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((r[i] >= 'a' && r[i] <= 'z') || (r[i] >= '0' && r[i] <= '9') || r[i] == '-'))
            return 0;
    return 1;
}

static void key_free(kb_msk_key *k) {
    free(k->section);
    free(k->access_key);
    free(k->principal);
    char *sec = (char *)k->k.secret, *tok = (char *)k->k.session_token;
    if (sec) {
        OPENSSL_cleanse(sec, strlen(sec));
        free(sec);
    }
    if (tok) {
        OPENSSL_cleanse(tok, strlen(tok));
        free(tok);
    }
    memset(k, 0, sizeof(*k));
}

void kb_msk_iam_free(kb_msk_iam *m) {
    for (size_t i = 0; i < m->n; i++)
        key_free(&m->keys[i]);
    free(m->keys);
    m->keys = NULL;
    m->n = 0;
}

const kb_msk_key *kb_msk_iam_find(const kb_msk_iam *m, const char *access_key) {
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->keys[i].access_key, access_key))
            return &m->keys[i];
    return NULL;
}

/* A principal (or a section name used as one): 1..200 printable bytes. */
static int principal_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > KB_MSK_MAX_PRINCIPAL)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] == 0x7f)
            return 0;
    return 1;
}

/* An access key id: 1..128 letters and digits. */
static int akid_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 128)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]))
            return 0;
    return 1;
}

static char *trim(char *s, char *e) {
    while (s < e && isspace((unsigned char)*s))
        s++;
    while (e > s && isspace((unsigned char)e[-1]))
        e--;
    *e = '\0';
    return s;
}

/* The section being read; checked when the next one starts or at the end. */
static int finish_section(kb_msk_iam *m, const char *path, int line, char *err, size_t errlen) {
    if (!m->n)
        return 0;
    kb_msk_key *k = &m->keys[m->n - 1];
    if (!k->access_key && !k->k.secret) { /* e.g. a profile with only region: ignored */
        key_free(k);
        m->n--;
        return 0;
    }
    if (!k->access_key || !k->k.secret) {
        snprintf(err, errlen, "%s: section [%s] (ending at line %d) has no %s", path, k->section,
                 line, k->access_key ? "aws_secret_access_key" : "aws_access_key_id");
        return -1;
    }
    if (!k->principal) {
        if (!principal_ok(k->section)) {
            snprintf(err, errlen,
                     "%s: section [%s]: the section name is not usable as a principal (1..%d "
                     "printable characters, no spaces): set principal",
                     path, k->section, KB_MSK_MAX_PRINCIPAL);
            return -1;
        }
        k->principal = kf_strdup(k->section);
        if (!k->principal) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    for (size_t i = 0; i + 1 < m->n; i++)
        if (!strcmp(m->keys[i].access_key, k->access_key)) {
            snprintf(err, errlen, "%s: sections [%s] and [%s] have the same aws_access_key_id",
                     path, m->keys[i].section, k->section);
            return -1;
        }
    return 0;
}

int kb_msk_iam_parse(kb_msk_iam *m, const char *path, const char *text, size_t len, char *err,
                     size_t errlen) {
    char *buf = kf_strndup(text, len);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (strlen(buf) != len) {
        free(buf);
        snprintf(err, errlen, "%s: contains a NUL byte", path);
        return -1;
    }
    int rc = 0, line = 0;
    char *p = buf, *end = buf + len;
    while (p < end && rc == 0) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        line++;
        char *s = trim(p, le);
        p = nl ? nl + 1 : end;
        if (!*s || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            size_t sl = strlen(s);
            if (s[sl - 1] != ']') {
                snprintf(err, errlen, "%s:%d: a section header must end with ']'", path, line);
                rc = -1;
                break;
            }
            s[sl - 1] = '\0';
            char *name = trim(s + 1, s + sl - 1);
            if (!*name) {
                snprintf(err, errlen, "%s:%d: empty section name", path, line);
                rc = -1;
                break;
            }
            if (finish_section(m, path, line - 1, err, errlen) != 0) {
                rc = -1;
                break;
            }
            for (size_t i = 0; i < m->n; i++)
                if (!strcmp(m->keys[i].section, name)) {
                    snprintf(err, errlen, "%s:%d: section [%s] appears twice", path, line, name);
                    rc = -1;
                }
            if (rc)
                break;
            kb_msk_key *nv = realloc(m->keys, (m->n + 1) * sizeof(*nv));
            if (!nv || !(nv[m->n].section = kf_strdup(name))) {
                if (nv)
                    m->keys = nv;
                snprintf(err, errlen, "out of memory");
                rc = -1;
                break;
            }
            m->keys = nv;
            kb_msk_key *k = &m->keys[m->n];
            char *sec = k->section;
            memset(k, 0, sizeof(*k));
            k->section = sec;
            m->n++;
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected 'key = value' or '[section]'", path, line);
            rc = -1;
            break;
        }
        char *val = trim(eq + 1, s + strlen(s));
        char *key = trim(s, eq);
        if (!m->n) {
            snprintf(err, errlen, "%s:%d: '%s' before the first [section]", path, line, key);
            rc = -1;
            break;
        }
        kb_msk_key *k = &m->keys[m->n - 1];
        char **slot = NULL;
        if (!strcasecmp(key, "aws_access_key_id")) {
            if (!akid_ok(val)) {
                snprintf(err, errlen, "%s:%d: aws_access_key_id must be 1..128 letters and digits",
                         path, line);
                rc = -1;
                break;
            }
            slot = &k->access_key;
        } else if (!strcasecmp(key, "aws_secret_access_key")) {
            if (!*val || strlen(val) > 128) {
                snprintf(err, errlen, "%s:%d: aws_secret_access_key must be 1..128 bytes", path,
                         line);
                rc = -1;
                break;
            }
            slot = (char **)&k->k.secret;
        } else if (!strcasecmp(key, "aws_session_token") ||
                   !strcasecmp(key, "aws_security_token")) {
            if (!*val || strlen(val) >= KF_AWS_MAX_TOKEN) {
                snprintf(err, errlen, "%s:%d: %s must be 1..%d bytes", path, line, key,
                         KF_AWS_MAX_TOKEN - 1);
                rc = -1;
                break;
            }
            slot = (char **)&k->k.session_token;
        } else if (!strcasecmp(key, "principal")) {
            if (!principal_ok(val)) {
                snprintf(err, errlen,
                         "%s:%d: principal must be 1..%d printable characters without spaces", path,
                         line, KB_MSK_MAX_PRINCIPAL);
                rc = -1;
                break;
            }
            slot = &k->principal;
        } else {
            continue; /* region, output, ...: other tools' keys */
        }
        if (*slot) {
            snprintf(err, errlen, "%s:%d: %s given twice in section [%s]", path, line, key,
                     k->section);
            rc = -1;
            break;
        }
        *slot = kf_strdup(val);
        if (!*slot) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        }
    }
    if (rc == 0)
        rc = finish_section(m, path, line, err, errlen);
    OPENSSL_cleanse(buf, len);
    free(buf);
    if (rc != 0)
        kb_msk_iam_free(m);
    return rc;
}

int kb_msk_iam_load(kb_msk_iam *m, const char *path, const char *region, char *err, size_t errlen) {
    memset(m, 0, sizeof(*m));
    if (kf_strlcpy(m->region, region, sizeof(m->region)) != 0 || !kb_msk_region_ok(region)) {
        snprintf(err, errlen, "kferry.msk.iam.region: not a region name");
        return -1;
    }
    kf_strlcpy(m->path, path, sizeof(m->path));
    kf_buf b;
    kf_buf_init(&b, 0);
    if (kf_read_file(path, &b, CRED_FILE_MAX) != 0) {
        snprintf(err, errlen, "kferry.msk.iam.credentials.file: cannot read %s: %s", path,
                 strerror(errno));
        kf_buf_free(&b);
        return -1;
    }
    struct stat st;
    if (stat(path, &st) == 0) {
        m->mtime = st.st_mtim;
        m->size = (long long)st.st_size;
    }
    if (stat(path, &st) == 0 && (st.st_mode & 077))
        kf_warn("sasl",
                "kferry.msk.iam.credentials.file %s holds secret keys but is readable by "
                "others (mode %03o): chmod 600 it",
                path, (unsigned)(st.st_mode & 0777));
    int rc = kb_msk_iam_parse(m, path, (const char *)b.data, b.len, err, errlen);
    if (rc == 0 && m->n == 0) {
        snprintf(err, errlen, "kferry.msk.iam.credentials.file: %s has no credentials", path);
        rc = -1;
    }
    if (b.data)
        OPENSSL_cleanse(b.data, b.len);
    kf_buf_free(&b);
    return rc;
}

int kb_oauthbearer_parse(const uint8_t *msg, size_t len, const char **token, size_t *token_len,
                         const char **authzid, size_t *authzid_len, const char **why) {
    const char *s = (const char *)msg, *end = s + len;
    *token = NULL;
    *token_len = 0;
    *authzid = NULL;
    *authzid_len = 0;
    /* gs2-header: gs2-cbind-flag "," [ "a=" saslname ] "," */
    if (len < 3 || (s[0] != 'n' && s[0] != 'y') || s[1] != ',') {
        *why = s && len && s[0] == 'p' ? "channel binding is not supported"
                                       : "the client message does not start with a GS2 header";
        return -1;
    }
    const char *p = s + 2;
    const char *comma = memchr(p, ',', (size_t)(end - p));
    if (!comma) {
        *why = "the GS2 header is not terminated";
        return -1;
    }
    if (comma > p) {
        if (comma - p < 3 || p[0] != 'a' || p[1] != '=') {
            *why = "the GS2 header has an unexpected attribute";
            return -1;
        }
        *authzid = p + 2;
        *authzid_len = (size_t)(comma - p - 2);
    }
    p = comma + 1;
    if (p >= end || *p != '\x01') {
        *why = "no key/value pairs after the GS2 header";
        return -1;
    }
    p++;
    /* kvpair = key "=" value kvsep, until an empty one (the final kvsep). */
    for (;;) {
        if (p >= end) {
            *why = "the client message is not terminated by \\x01\\x01";
            return -1;
        }
        if (*p == '\x01') {
            if (p + 1 != end) {
                *why = "bytes after the end of the client message";
                return -1;
            }
            break;
        }
        const char *sep = memchr(p, '\x01', (size_t)(end - p));
        const char *eq = memchr(p, '=', sep ? (size_t)(sep - p) : 0);
        if (!sep || !eq || eq == p) {
            *why = "a malformed key/value pair";
            return -1;
        }
        for (const char *k = p; k < eq; k++)
            if (!isalpha((unsigned char)*k)) {
                *why = "a key/value pair with a bad key";
                return -1;
            }
        if (eq - p == 4 && !memcmp(p, "auth", 4)) {
            if (*token) {
                *why = "auth given twice";
                return -1;
            }
            const char *v = eq + 1;
            size_t vl = (size_t)(sep - v);
            if (vl < 7 || strncasecmp(v, "Bearer", 6) != 0 || v[6] != ' ') {
                *why = "auth is not 'Bearer <token>'";
                return -1;
            }
            v += 7;
            vl -= 7;
            while (vl && *v == ' ') {
                v++;
                vl--;
            }
            if (!vl) {
                *why = "empty bearer token";
                return -1;
            }
            *token = v;
            *token_len = vl;
        }
        p = sep + 1;
    }
    if (!*token) {
        *why = "no auth=Bearer pair";
        return -1;
    }
    return 0;
}

static const kf_msk_key *lookup(void *ctx, const char *akid) {
    const kb_msk_key *k = kb_msk_iam_find(ctx, akid);
    return k ? &k->k : NULL;
}

int kb_msk_iam_check(const kb_msk_iam *m, const char *token, size_t len, int64_t now_ms,
                     const kb_msk_key **key, int64_t *expires_ms, char *why, size_t whylen,
                     char *akid, size_t akidlen) {
    *key = NULL;
    *expires_ms = 0;
    if (akidlen)
        akid[0] = '\0';
    kf_msk_parsed p;
    char err[160];
    if (kf_msk_token_parse(token, len, &p, err, sizeof(err)) != 0) {
        snprintf(why, whylen, "%s", err);
        return -1;
    }
    kf_msk_verified v;
    int64_t now_s = now_ms >= 0 ? now_ms / 1000 : (now_ms - 999) / 1000;
    kf_msk_result r = kf_msk_token_verify(&p, m->region, now_s, lookup, (void *)m, &v);
    kf_msk_token_free(&p);
    if (akidlen)
        kf_strlcpy(akid, v.access_key, akidlen);
    if (r != KF_MSK_OK) {
        snprintf(why, whylen, "%s", kf_msk_reason(r));
        return -1;
    }
    for (size_t i = 0; i < m->n; i++)
        if (&m->keys[i].k == v.key)
            *key = &m->keys[i];
    if (!*key) {
        snprintf(why, whylen, "%s", kf_msk_reason(KF_MSK_E_INTERNAL));
        return -1;
    }
    *expires_ms = v.expires_s * 1000;
    return 0;
}

void kb_msk_iam_reload(kb_msk_iam *m) {
    struct stat st;
    if (!m || stat(m->path, &st) != 0 ||
        (st.st_mtim.tv_sec == m->mtime.tv_sec && st.st_mtim.tv_nsec == m->mtime.tv_nsec &&
         (long long)st.st_size == m->size))
        return;
    kb_msk_iam fresh;
    char err[512];
    char path[sizeof(m->path)], region[sizeof(m->region)];
    kf_strlcpy(path, m->path, sizeof(path));
    kf_strlcpy(region, m->region, sizeof(region));
    if (kb_msk_iam_load(&fresh, path, region, err, sizeof(err)) != 0) {
        kf_warn("sasl", "MSK IAM emulation: keeping the previous %zu keys: %s", m->n, err);
        m->mtime = st.st_mtim; /* warn once per change */
        m->size = (long long)st.st_size;
        return;
    }
    kb_msk_iam_free(m);
    *m = fresh;
    kf_info("sasl", "MSK IAM emulation: %zu keys from %s (file changed)", m->n, path);
}
