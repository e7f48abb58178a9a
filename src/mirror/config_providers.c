/*
 * config_providers.c - Kafka's config providers in mm2.properties:
 *
 *   config.providers = file,env
 *   config.providers.file.class = org.apache.kafka.common.config.provider.FileConfigProvider
 *   config.providers.env.class  = org.apache.kafka.common.config.provider.EnvVarConfigProvider
 *   onprem.sasl.jaas.config = ... password="${file:/etc/kferry/secrets.properties:onprem.pw}";
 *   cloud.ssl.keystore.password = ${env:CLOUD_KEYSTORE_PW}
 *
 * A reference is ${name:key} or ${name:path:key}, as in Kafka (text
 * between "${" and "}" with a ':' in it; anything else is left alone).
 * Without a class line the names "file" and "env" mean those providers.
 * Every failure names the reference, never what it resolved to.
 */
#include "mirror/config_int.h"

#include "common/util.h"

#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PV_FILE = 1, PV_ENV = 2 };

typedef struct provider {
    char *name;
    int kind;
    int has_allow;
    regex_t allow; /* env: param.allowlist.pattern */
} provider;

typedef struct pfile {
    char *path;
    kf_props props;
    int ok;
    char err[256];
} pfile;

struct mc_providers {
    provider *p;
    size_t n;
    pfile *files;
    size_t nfiles;
};

#define FILE_CLASS "org.apache.kafka.common.config.provider.FileConfigProvider"
#define ENV_CLASS "org.apache.kafka.common.config.provider.EnvVarConfigProvider"

static int class_kind(const char *cls) {
    const char *dot = strrchr(cls, '.');
    const char *simple = dot ? dot + 1 : cls;
    if (!strcmp(cls, FILE_CLASS) || (!dot && !strcmp(simple, "FileConfigProvider")))
        return PV_FILE;
    if (!strcmp(cls, ENV_CLASS) || (!dot && !strcmp(simple, "EnvVarConfigProvider")))
        return PV_ENV;
    return 0;
}

static void errf(mc_err_fn err, void *ctx, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void errf(mc_err_fn err, void *ctx, int line, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    err(ctx, line, msg);
}

mc_providers *mc_providers_new(kf_props *props, mc_err_fn err, void *ctx) {
    mc_providers *pv = calloc(1, sizeof(*pv));
    if (!pv)
        return NULL;
    kf_prop *list = kf_props_find(props, "config.providers");
    kf_props_get(props, "config.providers");
    char *copy = kf_strdup(list ? list->value : "");
    char *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ' || *t == '\t')
            t++;
        size_t l = strlen(t);
        while (l && (t[l - 1] == ' ' || t[l - 1] == '\t'))
            t[--l] = 0;
        if (!*t)
            continue;
        char key[300];
        snprintf(key, sizeof(key), "config.providers.%s.class", t);
        kf_prop *cls = kf_props_find(props, key);
        kf_props_get(props, key);
        int kind = cls                  ? class_kind(cls->value)
                   : !strcmp(t, "file") ? PV_FILE
                   : !strcmp(t, "env")  ? PV_ENV
                                        : 0;
        if (!kind) {
            if (cls)
                errf(err, ctx, cls->line, "%s=%s: kferry implements " FILE_CLASS " and " ENV_CLASS,
                     key, cls->value);
            else
                errf(err, ctx, list->line,
                     "config.providers: provider '%s' needs %s (FileConfigProvider or "
                     "EnvVarConfigProvider); only 'file' and 'env' may omit it",
                     t, key);
            continue;
        }
        provider *np = realloc(pv->p, (pv->n + 1) * sizeof(*np));
        if (!np)
            break;
        pv->p = np;
        provider *p = &pv->p[pv->n++];
        memset(p, 0, sizeof(*p));
        p->name = kf_strdup(t);
        p->kind = kind;
        snprintf(key, sizeof(key), "config.providers.%s.param.allowlist.pattern", t);
        kf_prop *al = kf_props_find(props, key);
        kf_props_get(props, key);
        if (al && kind == PV_ENV) {
            char re[1024];
            snprintf(re, sizeof(re), "^(%s)$", al->value);
            if (regcomp(&p->allow, re, REG_EXTENDED | REG_NOSUB) == 0)
                p->has_allow = 1;
            else
                errf(err, ctx, al->line, "%s: invalid regex '%s'", key, al->value);
        } else if (al) {
            errf(err, ctx, al->line, "%s: only EnvVarConfigProvider has this parameter", key);
        }
    }
    free(copy);
    /* class or param lines of providers not listed are mistakes, as in Kafka's
     * "config.providers" gating: name them */
    for (size_t i = 0; i < props->count; i++) {
        kf_prop *q = &props->items[i];
        if (strncmp(q->key, "config.providers.", 17) || q->used)
            continue;
        q->used = 1;
        errf(err, ctx, q->line, "%s: no such provider in config.providers%s", q->key,
             list ? "" : " (config.providers is not set)");
    }
    return pv;
}

void mc_providers_free(mc_providers *pv) {
    if (!pv)
        return;
    for (size_t i = 0; i < pv->n; i++) {
        free(pv->p[i].name);
        if (pv->p[i].has_allow)
            regfree(&pv->p[i].allow);
    }
    free(pv->p);
    for (size_t i = 0; i < pv->nfiles; i++) {
        free(pv->files[i].path);
        kf_props_free(&pv->files[i].props);
    }
    free(pv->files);
    free(pv);
}

static pfile *file_get(mc_providers *pv, const char *path) {
    for (size_t i = 0; i < pv->nfiles; i++)
        if (!strcmp(pv->files[i].path, path))
            return &pv->files[i];
    pfile *nf = realloc(pv->files, (pv->nfiles + 1) * sizeof(*nf));
    if (!nf)
        return NULL;
    pv->files = nf;
    pfile *f = &pv->files[pv->nfiles++];
    memset(f, 0, sizeof(*f));
    f->path = kf_strdup(path);
    kf_props_init(&f->props);
    char eb[256];
    if (kf_props_load(&f->props, path, eb, sizeof(eb)) == 0)
        f->ok = 1;
    else /* kf_props_load names the file and the cause; a parse error a line */
        snprintf(f->err, sizeof(f->err), "%s", eb);
    return f;
}

/* Resolves one reference body "name:key" or "name:path:key" (NUL-terminated). */
static int resolve_one(mc_providers *pv, const char *ref, const char **val, char *err,
                       size_t errlen) {
    const char *c1 = strchr(ref, ':');
    size_t nl = (size_t)(c1 - ref);
    provider *p = NULL;
    for (size_t i = 0; i < pv->n; i++)
        if (strlen(pv->p[i].name) == nl && !strncmp(pv->p[i].name, ref, nl))
            p = &pv->p[i];
    if (!p) {
        char names[256] = "none";
        size_t used = 0;
        for (size_t i = 0; i < pv->n && used < sizeof(names); i++)
            used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s", i ? ", " : "",
                                     pv->p[i].name);
        snprintf(err, errlen, "${%s}: unknown config provider '%.*s' (config.providers lists %s)",
                 ref, (int)nl, ref, names);
        return -1;
    }
    const char *rest = c1 + 1;
    const char *c2 = strrchr(rest, ':');
    if (p->kind == PV_ENV) {
        const char *var = c2 ? c2 + 1 : rest;
        if (!*var) {
            snprintf(err, errlen, "${%s}: no variable name", ref);
            return -1;
        }
        if (p->has_allow && regexec(&p->allow, var, 0, NULL, 0) != 0) {
            snprintf(err, errlen,
                     "${%s}: environment variable %s is not allowed by "
                     "config.providers.%s.param.allowlist.pattern",
                     ref, var, p->name);
            return -1;
        }
        const char *v = getenv(var);
        if (!v) {
            snprintf(err, errlen, "${%s}: environment variable %s is not set", ref, var);
            return -1;
        }
        *val = v;
        return 0;
    }
    if (!c2 || c2 == rest || !c2[1]) {
        snprintf(err, errlen, "${%s}: expected ${%s:/path/to/file.properties:key}", ref, p->name);
        return -1;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%.*s", (int)(c2 - rest), rest);
    pfile *f = file_get(pv, path);
    if (!f) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (!f->ok) {
        snprintf(err, errlen, "${%s}: %s", ref, f->err);
        return -1;
    }
    kf_prop *kp = kf_props_find(&f->props, c2 + 1);
    if (!kp) {
        snprintf(err, errlen, "${%s}: key '%s' not found in %s", ref, c2 + 1, path);
        return -1;
    }
    *val = kp->value;
    return 0;
}

static void add_secret(char ***secrets, size_t *n, const char *v) {
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*secrets)[i], v))
            return;
    char **ns = realloc(*secrets, (*n + 1) * sizeof(*ns));
    if (!ns)
        return;
    *secrets = ns;
    ns[(*n)++] = kf_strdup(v);
}

int mc_providers_resolve(mc_providers *pv, const char *value, char **out, char ***secrets,
                         size_t *nsecrets, char *err, size_t errlen) {
    *out = NULL;
    kf_buf b;
    kf_buf_init(&b, 0);
    int found = 0;
    const char *s = value;
    for (;;) {
        const char *open = strstr(s, "${");
        const char *close = open ? strchr(open + 2, '}') : NULL;
        if (!close) {
            kf_buf_append(&b, s, strlen(s));
            break;
        }
        const char *colon = memchr(open + 2, ':', (size_t)(close - open - 2));
        if (!colon || colon == open + 2) { /* not a reference: keep the text */
            kf_buf_append(&b, s, (size_t)(close + 1 - s));
            s = close + 1;
            continue;
        }
        kf_buf_append(&b, s, (size_t)(open - s));
        char ref[4200];
        snprintf(ref, sizeof(ref), "%.*s", (int)(close - open - 2), open + 2);
        const char *v = NULL;
        if (resolve_one(pv, ref, &v, err, errlen) != 0) {
            kf_buf_free(&b);
            return -1;
        }
        kf_buf_append(&b, v, strlen(v));
        if (*v)
            add_secret(secrets, nsecrets, v);
        found = 1;
        s = close + 1;
    }
    kf_buf_append(&b, "", 1);
    if (!kf_buf_ok(&b)) {
        kf_buf_free(&b);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (!found) {
        kf_buf_free(&b);
        return 0;
    }
    *out = (char *)b.data; /* kf_buf's data is malloc'ed */
    return 1;
}
