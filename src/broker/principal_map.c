/*
 * principal_map.c - ssl.principal.mapping.rules (see principal_map.h).
 *
 * Splitting follows Kafka's rule grammar: an item is DEFAULT, or
 * RULE:pattern/replacement/ plus an optional L or U, and ends at the next
 * comma (whitespace around items is dropped; empty items are ignored).
 * Commas inside pattern and replacement are part of them, since those two
 * end only at an unescaped slash.  Anything else between the last slash
 * and the comma is an error.
 *
 * Patterns are compiled with PCRE2 in UTF mode (invalid UTF-8 in a DN
 * simply does not match), with any line ending as newline, which is what
 * Java's "." and "$" know.  The replacement is checked when the rules are
 * parsed, so that a rule Java would throw on at every login is refused at
 * start-up instead.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "broker/principal_map.h"

#include <pcre2.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Per pcre2_match() call.  Real rules on real DNs need a few thousand
 * steps; a pathological pattern fails the login instead of stalling it. */
#define PM_MATCH_LIMIT 1000000u
#define PM_DEPTH_LIMIT 100000u
#define PM_HEAP_LIMIT_KIB 8192u

typedef struct pm_rule {
    int is_default;
    pcre2_code *re;
    char *repl; /* verbatim, checked by repl_check */
    uint32_t ngroups;
    char fold; /* 0, 'L' or 'U' */
} pm_rule;

struct kb_pmap {
    pm_rule *rules;
    size_t n, cap;
};

static void seterr(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Java's \s */
static int is_ws(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Rules are quoted in messages, cut at this length. */
#define PM_QUOTE 80

static int quote_len(size_t n) { return (int)(n > PM_QUOTE ? PM_QUOTE : n); }
static const char *quote_more(size_t n) { return n > PM_QUOTE ? "..." : ""; }

/* Scans a pattern or replacement from p: up to the first unescaped '/'.
 * Returns that slash, or NULL when there is none before e. */
static const char *scan_part(const char *p, const char *e) {
    while (p < e) {
        if (*p == '/')
            return p;
        if (*p == '\\') {
            if (p + 1 >= e)
                return NULL;
            p += 2;
        } else {
            p++;
        }
    }
    return NULL;
}

/* Java's appendReplacement rules: "\x" is x, "$" takes a group number
 * (as many digits as still name a group) or "${name}".  Kafka first turns
 * a "$N" beyond the groups into literal text, unless the pattern has no
 * groups at all (then Java throws). */
static int repl_check(const pcre2_code *re, uint32_t ngroups, const char *r, char *msg,
                      size_t msglen) {
    for (const char *p = r; *p;) {
        if (*p == '\\') {
            if (!p[1]) {
                seterr(msg, msglen, "the replacement ends with a lone '\\'");
                return -1;
            }
            p += 2;
            continue;
        }
        if (*p != '$') {
            p++;
            continue;
        }
        p++;
        if (*p == '{') {
            const char *name = ++p;
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) {
                seterr(msg, msglen, "'${' in the replacement must be followed by a group name");
                return -1;
            }
            while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))
                p++;
            if (*p != '}') {
                seterr(msg, msglen, "group name '${%.*s' in the replacement lacks its '}'",
                       quote_len((size_t)(p - name)), name);
                return -1;
            }
            size_t nl = (size_t)(p - name);
            char nm[PM_QUOTE + 1];
            int g = PCRE2_ERROR_NOSUBSTRING;
            if (nl <= PM_QUOTE) {
                memcpy(nm, name, nl);
                nm[nl] = '\0';
                g = pcre2_substring_number_from_name(re, (PCRE2_SPTR)nm);
            }
            if (g < 0) {
                seterr(msg, msglen, "the replacement names group '%.*s', which the pattern %s",
                       quote_len(nl), name,
                       g == PCRE2_ERROR_NOUNIQUESUBSTRING ? "defines more than once"
                                                          : "does not have");
                return -1;
            }
            p++;
            continue;
        }
        if (*p >= '0' && *p <= '9') {
            if ((uint32_t)(*p - '0') > ngroups && ngroups == 0) {
                seterr(msg, msglen, "the replacement refers to group $%c, but the pattern has none",
                       *p);
                return -1;
            }
            continue; /* the digits themselves are ordinary text to this scan */
        }
        seterr(msg, msglen, "'$' in the replacement must be followed by a group number or {name}");
        return -1;
    }
    return 0;
}

static int add_rule(kb_pmap *m, const pm_rule *r) {
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 4;
        pm_rule *nr = realloc(m->rules, nc * sizeof(*nr));
        if (!nr)
            return -1;
        m->rules = nr;
        m->cap = nc;
    }
    m->rules[m->n++] = *r;
    return 0;
}

/* Compiles item [b, e) of rule number idx: "RULE:" at b, the slashes at
 * s1 and s2.  0, or -1 with err. */
static int compile_rule(kb_pmap *m, size_t idx, const char *b, const char *e, const char *s1,
                        const char *s2, char fold, char *err, size_t errlen) {
    size_t ilen = (size_t)(e - b);
    const char *pat = b + 5;
    pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
    if (!cc) {
        seterr(err, errlen, "ssl.principal.mapping.rules: out of memory");
        return -1;
    }
    pcre2_set_newline(cc, PCRE2_NEWLINE_ANY);
    int ec = 0;
    PCRE2_SIZE eo = 0;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)pat, (PCRE2_SIZE)(s1 - pat),
                      PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C, &ec, &eo, cc);
    pcre2_compile_context_free(cc);
    if (!re) {
        PCRE2_UCHAR why[256];
        if (pcre2_get_error_message(ec, why, sizeof(why)) < 0)
            snprintf((char *)why, sizeof(why), "error %d", ec);
        seterr(err, errlen,
               "ssl.principal.mapping.rules: rule %zu '%.*s%s': the pattern does not compile "
               "(at offset %zu: %s)",
               idx, quote_len(ilen), b, quote_more(ilen), (size_t)eo, (const char *)why);
        return -1;
    }
    pm_rule r = {0};
    r.re = re;
    r.fold = fold;
    if (pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &r.ngroups) != 0)
        r.ngroups = 0;
    size_t rl = (size_t)(s2 - (s1 + 1));
    r.repl = malloc(rl + 1);
    if (!r.repl) {
        pcre2_code_free(re);
        seterr(err, errlen, "ssl.principal.mapping.rules: out of memory");
        return -1;
    }
    memcpy(r.repl, s1 + 1, rl);
    r.repl[rl] = '\0';
    char why[200];
    if (repl_check(re, r.ngroups, r.repl, why, sizeof(why)) == 0) {
        if (add_rule(m, &r) == 0)
            return 0;
        snprintf(why, sizeof(why), "out of memory");
    }
    seterr(err, errlen, "ssl.principal.mapping.rules: rule %zu '%.*s%s': %s", idx, quote_len(ilen),
           b, quote_more(ilen), why);
    free(r.repl);
    pcre2_code_free(re);
    return -1;
}

kb_pmap *kb_pmap_parse(const char *rules, char *err, size_t errlen) {
    seterr(err, errlen, "%s", "");
    kb_pmap *m = calloc(1, sizeof(*m));
    if (!m) {
        seterr(err, errlen, "ssl.principal.mapping.rules: out of memory");
        return NULL;
    }
    const char *b = rules ? rules : "";
    const char *e = b + strlen(b);
    /* Java's String.trim() */
    while (b < e && (unsigned char)*b <= ' ')
        b++;
    while (e > b && (unsigned char)e[-1] <= ' ')
        e--;
    if (b == e) {
        b = "DEFAULT";
        e = b + 7;
    }
    size_t idx = 0;
    const char *p = b;
    while (p < e) {
        while (p < e && is_ws(*p))
            p++;
        const char *ib = p;
        /* the item runs to the next comma, unless it is a RULE (below) */
        const char *ie = memchr(p, ',', (size_t)(e - p));
        if (!ie)
            ie = e;
        const char *s1 = NULL, *s2 = NULL;
        if ((size_t)(e - p) > 5 && memcmp(p, "RULE:", 5) == 0 && (s1 = scan_part(p + 5, e)) &&
            (s2 = scan_part(s1 + 1, e))) {
            const char *q = s2 + 1;
            char fold = 0;
            if (q < e && (*q == 'L' || *q == 'U'))
                fold = *q++;
            ie = q < e ? memchr(q, ',', (size_t)(e - q)) : NULL;
            if (!ie)
                ie = e;
            const char *te = ie;
            while (te > q && is_ws(te[-1]))
                te--;
            idx++;
            if (te > q) {
                size_t il = (size_t)(te - ib), jl = (size_t)(te - q);
                seterr(err, errlen,
                       "ssl.principal.mapping.rules: rule %zu '%.*s%s': unexpected '%.*s%s' after "
                       "the replacement (only L or U may follow the last '/')",
                       idx, quote_len(il), ib, quote_more(il), quote_len(jl), q, quote_more(jl));
                goto fail;
            }
            if (compile_rule(m, idx, ib, te, s1, s2, fold, err, errlen) != 0)
                goto fail;
        } else {
            const char *te = ie;
            while (te > ib && is_ws(te[-1]))
                te--;
            if (te > ib) { /* empty items are ignored, as on Kafka */
                idx++;
                size_t il = (size_t)(te - ib);
                if (il == 7 && memcmp(ib, "DEFAULT", 7) == 0) {
                    pm_rule r = {0};
                    r.is_default = 1;
                    if (add_rule(m, &r) != 0) {
                        seterr(err, errlen, "ssl.principal.mapping.rules: out of memory");
                        goto fail;
                    }
                } else {
                    seterr(err, errlen,
                           "ssl.principal.mapping.rules: rule %zu '%.*s%s' is not DEFAULT or "
                           "RULE:pattern/replacement/ (optionally followed by L or U)",
                           idx, quote_len(il), ib, quote_more(il));
                    goto fail;
                }
            }
        }
        p = ie < e ? ie + 1 : e;
    }
    return m;
fail:
    kb_pmap_free(m);
    return NULL;
}

size_t kb_pmap_count(const kb_pmap *m) { return m ? m->n : 0; }

void kb_pmap_free(kb_pmap *m) {
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        pcre2_code_free(m->rules[i].re);
        free(m->rules[i].repl);
    }
    free(m->rules);
    free(m);
}

/* ---- applying ---------------------------------------------------------- */

typedef struct pm_out {
    char *p;
    size_t cap, len; /* cap counts the NUL */
    int over;
} pm_out;

static void out_put(pm_out *o, const char *s, size_t n) {
    if (o->over)
        return;
    if (n >= o->cap - o->len) {
        o->over = 1;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void put_group(pm_out *o, const char *dn, const PCRE2_SIZE *ov, int rc, uint32_t g) {
    if (g >= (uint32_t)rc || ov[2 * g] == PCRE2_UNSET || ov[2 * g + 1] < ov[2 * g])
        return; /* a group that took no part: nothing, as in Java */
    out_put(o, dn + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
}

/* Appends the replacement for one match (the syntax was checked at parse). */
static void expand(pm_out *o, const pm_rule *r, const char *dn, const PCRE2_SIZE *ov, int rc) {
    const char *p = r->repl;
    while (*p) {
        if (*p == '\\') {
            out_put(o, p + 1, 1);
            p += 2;
            continue;
        }
        if (*p != '$') {
            const char *q = p;
            while (*q && *q != '\\' && *q != '$')
                q++;
            out_put(o, p, (size_t)(q - p));
            p = q;
            continue;
        }
        if (p[1] == '{') {
            const char *name = p + 2, *end = strchr(name, '}');
            char nm[PM_QUOTE + 1];
            size_t nl = (size_t)(end - name);
            memcpy(nm, name, nl);
            nm[nl] = '\0';
            int g = pcre2_substring_number_from_name(r->re, (PCRE2_SPTR)nm);
            if (g >= 0)
                put_group(o, dn, ov, rc, (uint32_t)g);
            p = end + 1;
            continue;
        }
        uint32_t g = (uint32_t)(p[1] - '0');
        if (g > r->ngroups) { /* Kafka escapes it: "$" and the digits are text */
            out_put(o, p, 1);
            p++;
            continue;
        }
        p += 2;
        while (*p >= '0' && *p <= '9' && g * 10 + (uint32_t)(*p - '0') <= r->ngroups) {
            g = g * 10 + (uint32_t)(*p - '0');
            p++;
        }
        put_group(o, dn, ov, rc, g);
    }
}

/* The offset after the character at i (UTF-8; a stray byte counts as one). */
static size_t next_char(const char *s, size_t len, size_t i) {
    i++;
    while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
        i++;
    return i;
}

/* 1 the rule matched and o holds its result, 0 it did not match, -1 error
 * (match limit, memory). */
static int apply_rule(const pm_rule *r, const char *dn, size_t len, pm_out *o, pcre2_match_data *md,
                      pcre2_match_context *mc) {
    if (r->is_default) {
        out_put(o, dn, len);
        return 1;
    }
    int rc = pcre2_match(r->re, (PCRE2_SPTR)dn, len, 0, PCRE2_ANCHORED | PCRE2_ENDANCHORED, md, mc);
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    if (rc <= 0)
        return -1;
    /* Java's dn.replaceAll(pattern, replacement): search again from the
     * start, unanchored; after an empty match move on one character. */
    size_t from = 0, at = 0;
    for (;;) {
        rc = pcre2_match(r->re, (PCRE2_SPTR)dn, len, at, 0, md, mc);
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc <= 0)
            return -1;
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (ov[0] < from || ov[1] < ov[0] || ov[1] > len)
            return -1; /* (\K tricks Java has no counterpart for) */
        out_put(o, dn + from, ov[0] - from);
        expand(o, r, dn, ov, rc);
        if (o->over)
            return 1;
        from = ov[1];
        at = ov[1] == ov[0] ? next_char(dn, len, ov[1]) : ov[1];
        if (at > len)
            break;
    }
    out_put(o, dn + from, len - from);
    return 1;
}

int kb_pmap_apply(const kb_pmap *m, const char *dn, char *out, size_t outlen) {
    if (out && outlen > 0)
        out[0] = '\0';
    if (!m || !dn || !out || outlen == 0)
        return -1;
    size_t len = strlen(dn);
    pcre2_match_context *mc = pcre2_match_context_create(NULL);
    if (!mc)
        return -1;
    pcre2_set_match_limit(mc, PM_MATCH_LIMIT);
    pcre2_set_depth_limit(mc, PM_DEPTH_LIMIT);
    pcre2_set_heap_limit(mc, PM_HEAP_LIMIT_KIB);
    int ret = -1;
    for (size_t i = 0; i < m->n; i++) {
        const pm_rule *r = &m->rules[i];
        pcre2_match_data *md = NULL;
        if (!r->is_default) {
            md = pcre2_match_data_create_from_pattern(r->re, NULL);
            if (!md)
                break;
        }
        pm_out o = {out, outlen, 0, 0};
        int hit = apply_rule(r, dn, len, &o, md, mc);
        pcre2_match_data_free(md);
        if (hit == 0)
            continue;
        if (hit < 0 || o.over)
            break; /* the first matching rule decides, as on Kafka */
        out[o.len] = '\0';
        for (size_t k = 0; k < o.len && r->fold; k++) {
            char c = out[k];
            if (r->fold == 'L' && c >= 'A' && c <= 'Z')
                out[k] = (char)(c - 'A' + 'a');
            else if (r->fold == 'U' && c >= 'a' && c <= 'z')
                out[k] = (char)(c - 'a' + 'A');
        }
        ret = 0;
        break;
    }
    pcre2_match_context_free(mc);
    if (ret != 0)
        out[0] = '\0';
    return ret;
}
