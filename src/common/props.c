/*
 * props.c - Java-properties parser and writer (see props.h).
 */
#include "common/props.h"

#include "common/buf.h"
#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kf_props_init(kf_props *p) { memset(p, 0, sizeof(*p)); }

void kf_props_free(kf_props *p) {
    for (size_t i = 0; i < p->count; i++) {
        free(p->items[i].key);
        free(p->items[i].value);
    }
    free(p->items);
    free(p->source);
    memset(p, 0, sizeof(*p));
}

static int push(kf_props *p, char *key, char *value, int line) {
    if (p->count == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 16;
        kf_prop *n = realloc(p->items, ncap * sizeof(*n));
        if (!n)
            return -1;
        p->items = n;
        p->cap = ncap;
    }
    p->items[p->count++] = (kf_prop){.key = key, .value = value, .line = line};
    return 0;
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\f'; }

static int hexval(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Unescapes s[0..n) into out, stopping at an unescaped separator when
 * is_key. Returns bytes of input consumed. */
static size_t unescape(const char *s, size_t n, int is_key, kf_buf *out) {
    size_t i = 0;
    while (i < n) {
        char c = s[i];
        if (is_key && (c == '=' || c == ':' || is_ws(c)))
            break;
        if (c == '\\' && i + 1 < n) {
            char e = s[i + 1];
            i += 2;
            switch (e) {
            case 't': kf_buf_append(out, "\t", 1); break;
            case 'n': kf_buf_append(out, "\n", 1); break;
            case 'r': kf_buf_append(out, "\r", 1); break;
            case 'f': kf_buf_append(out, "\f", 1); break;
            case 'u': {
                unsigned cp = 0;
                int ok = i + 4 <= n;
                for (int k = 0; ok && k < 4; k++) {
                    int h = hexval(s[i + k]);
                    if (h < 0)
                        ok = 0;
                    else
                        cp = cp * 16 + (unsigned)h;
                }
                if (!ok) {
                    kf_buf_append(out, "u", 1);
                    break;
                }
                i += 4;
                uint8_t enc[3];
                size_t el;
                if (cp < 0x80) {
                    enc[0] = (uint8_t)cp;
                    el = 1;
                } else if (cp < 0x800) {
                    enc[0] = (uint8_t)(0xC0 | (cp >> 6));
                    enc[1] = (uint8_t)(0x80 | (cp & 0x3F));
                    el = 2;
                } else {
                    enc[0] = (uint8_t)(0xE0 | (cp >> 12));
                    enc[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
                    enc[2] = (uint8_t)(0x80 | (cp & 0x3F));
                    el = 3;
                }
                kf_buf_append(out, enc, el);
                break;
            }
            default: kf_buf_append(out, &e, 1); break;
            }
            continue;
        }
        kf_buf_append(out, &c, 1);
        i++;
    }
    return i;
}

static char *buf_to_str(kf_buf *b) {
    kf_buf_append(b, "", 1);
    if (!kf_buf_ok(b)) {
        kf_buf_free(b);
        return NULL;
    }
    char *s = (char *)b->data;
    b->data = NULL;
    kf_buf_free(b);
    return s;
}

int kf_props_parse(kf_props *p, const char *text, size_t len, char *err, size_t errlen) {
    size_t pos = 0;
    int lineno = 0;
    /* Keys and values are C strings: a NUL would silently cut one. */
    const char *nul = len ? memchr(text, '\0', len) : NULL;
    if (nul) {
        int line = 1;
        for (const char *c = text; c < nul; c++)
            line += *c == '\n';
        snprintf(err, errlen, "line %d: NUL byte", line);
        return -1;
    }
    kf_buf logical;
    kf_buf_init(&logical, 0);
    while (pos < len) {
        /* Assemble one logical line, joining continuations. */
        kf_buf_reset(&logical);
        lineno++;
        int start_line = lineno;
        int first = 1;
        for (;;) {
            size_t e = pos;
            while (e < len && text[e] != '\n' && text[e] != '\r')
                e++;
            const char *l = text + pos;
            size_t ll = e - pos;
            pos = e;
            if (pos < len && text[pos] == '\r')
                pos++;
            if (pos < len && text[pos] == '\n')
                pos++;
            size_t s = 0;
            while (s < ll && is_ws(l[s]))
                s++;
            if (first && (s == ll || l[s] == '#' || l[s] == '!'))
                break; /* blank or comment */
            first = 0;
            size_t bs = 0;
            while (bs < ll - s && l[ll - 1 - bs] == '\\')
                bs++;
            int cont = bs % 2 == 1;
            kf_buf_append(&logical, l + s, ll - s - (cont ? 1 : 0));
            if (!cont || pos >= len)
                break;
            lineno++;
        }
        if (logical.len == 0)
            continue;
        const char *s = (const char *)logical.data;
        size_t n = logical.len;
        kf_buf kb, vb;
        kf_buf_init(&kb, 0);
        kf_buf_init(&vb, 0);
        size_t i = unescape(s, n, 1, &kb);
        while (i < n && is_ws(s[i]))
            i++;
        if (i < n && (s[i] == '=' || s[i] == ':'))
            i++;
        while (i < n && is_ws(s[i]))
            i++;
        /* Trailing whitespace on values is almost always a mistake in a
         * config file; trim it, unless it is escaped ("\t", "\ "): that
         * is how kf_props_save writes a value that really ends in one. */
        size_t end = n;
        while (end > i && is_ws(s[end - 1])) {
            size_t bs = 0;
            while (end - 1 - bs > i && s[end - 2 - bs] == '\\')
                bs++;
            if (bs % 2 == 1)
                break;
            end--;
        }
        unescape(s + i, end - i, 0, &vb);
        char *key = buf_to_str(&kb);
        char *val = buf_to_str(&vb);
        if (!key || !val || push(p, key, val, start_line) != 0) {
            free(key);
            free(val);
            kf_buf_free(&logical);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    kf_buf_free(&logical);
    return 0;
}

int kf_props_load(kf_props *p, const char *path, char *err, size_t errlen) {
    kf_buf b;
    if (kf_read_file(path, &b, 16 << 20) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char perr[256];
    int rc = kf_props_parse(p, (const char *)b.data, b.len, perr, sizeof(perr));
    kf_buf_free(&b);
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", path, perr);
        return -1;
    }
    free(p->source);
    p->source = kf_strdup(path);
    return 0;
}

kf_prop *kf_props_find(kf_props *p, const char *key) {
    for (size_t i = p->count; i-- > 0;)
        if (strcmp(p->items[i].key, key) == 0)
            return &p->items[i];
    return NULL;
}

const char *kf_props_get(kf_props *p, const char *key) {
    kf_prop *it = NULL;
    for (size_t i = 0; i < p->count; i++)
        if (strcmp(p->items[i].key, key) == 0) {
            p->items[i].used = 1;
            it = &p->items[i];
        }
    return it ? it->value : NULL;
}

int kf_props_set(kf_props *p, const char *key, const char *value) {
    kf_prop *it = kf_props_find(p, key);
    char *v = kf_strdup(value);
    if (!v)
        return -1;
    if (it) {
        free(it->value);
        it->value = v;
        return 0;
    }
    char *k = kf_strdup(key);
    if (!k || push(p, k, v, 0) != 0) {
        free(k);
        free(v);
        return -1;
    }
    return 0;
}

int kf_props_unset(kf_props *p, const char *key) {
    int removed = 0;
    for (size_t i = 0; i < p->count;) {
        if (strcmp(p->items[i].key, key) == 0) {
            free(p->items[i].key);
            free(p->items[i].value);
            memmove(&p->items[i], &p->items[i + 1], (p->count - i - 1) * sizeof(kf_prop));
            p->count--;
            removed = 1;
        } else {
            i++;
        }
    }
    return removed;
}

static void escape_into(kf_buf *b, const char *s, int is_key) {
    /* A value's leading and trailing spaces are escaped, or the parser
     * would drop them. */
    size_t n = strlen(s), tail = n;
    while (tail > 0 && is_ws(s[tail - 1]))
        tail--;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == ' ' && !is_key && (i == 0 || i >= tail)) {
            kf_buf_append(b, "\\ ", 2);
            continue;
        }
        if (is_key && i == 0 && (c == '#' || c == '!')) {
            kf_buf_append(b, "\\", 1); /* else the line reads as a comment */
            kf_buf_append(b, &c, 1);
            continue;
        }
        switch (c) {
        case '\n': kf_buf_append(b, "\\n", 2); break;
        case '\r': kf_buf_append(b, "\\r", 2); break;
        case '\t': kf_buf_append(b, "\\t", 2); break;
        case '\f': kf_buf_append(b, "\\f", 2); break;
        case '\\': kf_buf_append(b, "\\\\", 2); break;
        case '=':
        case ':':
        case ' ':
            if (is_key)
                kf_buf_append(b, "\\", 1);
            kf_buf_append(b, &c, 1);
            break;
        default: kf_buf_append(b, &c, 1); break;
        }
    }
}

int kf_props_format(const kf_props *p, kf_buf *out) {
    for (size_t i = 0; i < p->count; i++) {
        escape_into(out, p->items[i].key, 1);
        kf_buf_append(out, "=", 1);
        escape_into(out, p->items[i].value, 0);
        kf_buf_append(out, "\n", 1);
    }
    return kf_buf_ok(out) ? 0 : -1;
}

int kf_props_save(const kf_props *p, const char *path) {
    kf_buf b;
    kf_buf_init(&b, 0);
    if (kf_props_format(p, &b) != 0) {
        kf_buf_free(&b);
        errno = ENOMEM;
        return -1;
    }
    int rc = kf_write_file_atomic(path, b.data, b.len);
    kf_buf_free(&b);
    return rc;
}
