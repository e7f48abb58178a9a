/*
 * awscreds.c - the AWS credential chain (see awscreds.h).
 *
 * Every source answers 1 (credentials), 0 (not configured here: the chain
 * goes on) or -1 (configured but failing: the chain stops, as the SDKs
 * do, so that a broken profile never silently falls through to some
 * other identity such as the instance role).  Each answer leaves one
 * "source: why" entry for the failure message.  Nothing secret (keys,
 * tokens, form bodies) is ever put into a message.
 */
#include "mirror/awscreds.h"

#include "common/log.h"
#include "common/util.h"

#include <curl/curl.h>
#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/crypto.h>

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define COMP "awscreds"
#define MARGIN_MS (5 * 60 * 1000)
#define WHY 1024
#define SRC 1024
#define MAX_RESPONSE (1024 * 1024)
#define PROCESS_TIMEOUT_MS 60000
#define IMDS_CONNECT_MS 1000
#define IMDS_TOTAL_MS 2000
#define ECS_CONNECT_MS 2000
#define ECS_TOTAL_MS 5000
#define STS_CONNECT_MS 5000
#define STS_TOTAL_MS 15000
#define MAX_PROFILE_DEPTH 4

struct awscreds {
    pthread_mutex_t mu;
    char *profile; /* explicit (awsProfileName), or NULL */
    char *role_arn, *role_session, *sts_region, *region;
    int debug;
    int have;
    kf_aws_creds cur;
    int64_t obtained_ms;
    char source[SRC];
};

/* --- small helpers ----------------------------------------------------------- */

/* snprintf for messages and URLs, where cutting a too-long text short is
 * the intended outcome. */
__attribute__((format(printf, 3, 4))) static void say(char *out, size_t len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, len, fmt, ap);
    va_end(ap);
}

static const char *env(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static void trim(char *s) {
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    size_t i = 0;
    while (s[i] == ' ' || s[i] == '\t')
        i++;
    if (i)
        memmove(s, s + i, n - i + 1);
}

/* path, with a leading "~/" replaced by $HOME/. */
static void expand_home(const char *path, char *out, size_t len) {
    const char *home = env("HOME");
    if (path[0] == '~' && path[1] == '/' && home)
        say(out, len, "%s%s", home, path + 1);
    else
        say(out, len, "%s", path);
}

static int fill(kf_aws_creds *out, const char *ak, const char *sk, const char *tok,
                const char *expiration, char *why, size_t wl) {
    memset(out, 0, sizeof(*out));
    if (!ak || !*ak || !sk || !*sk) {
        say(why, wl, "the answer has no %s", !ak || !*ak ? "access key id" : "secret key");
        return -1;
    }
    if (kf_strlcpy(out->access_key, ak, sizeof(out->access_key)) ||
        kf_strlcpy(out->secret_key, sk, sizeof(out->secret_key)) ||
        kf_strlcpy(out->session_token, tok ? tok : "", sizeof(out->session_token))) {
        OPENSSL_cleanse(out, sizeof(*out));
        say(why, wl, "a key or the session token is too long");
        return -1;
    }
    if (expiration && *expiration && awscreds_parse_time(expiration, &out->expires_ms) != 0) {
        OPENSSL_cleanse(out, sizeof(*out));
        say(why, wl, "bad Expiration '%.64s' (want ISO 8601, e.g. 2026-12-02T18:00:00Z)",
            expiration);
        return -1;
    }
    return 0;
}

/* --- times and the refresh margin -------------------------------------------- */

static int digits(const char **p, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        char ch = (*p)[i];
        if (ch < '0' || ch > '9')
            return -1;
        v = v * 10 + (ch - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int awscreds_parse_time(const char *s, int64_t *ms) {
    const char *p = s;
    int Y, M, D, h, m, sec, frac_ms = 0;
    if (digits(&p, 4, &Y) || *p++ != '-' || digits(&p, 2, &M) || *p++ != '-' || digits(&p, 2, &D) ||
        (*p != 'T' && *p != 't' && *p != ' '))
        return -1;
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &m) || *p++ != ':' || digits(&p, 2, &sec))
        return -1;
    if (*p == '.' || *p == ',') {
        p++;
        int nd = 0;
        for (; *p >= '0' && *p <= '9'; p++, nd++)
            if (nd < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
        if (nd == 0)
            return -1;
        for (int i = nd; i < 3; i++)
            frac_ms *= 10;
    }
    int off_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
        if (digits(&p, 2, &oh))
            return -1;
        if (*p == ':')
            p++;
        if (*p && digits(&p, 2, &om))
            return -1;
        if (oh > 23 || om > 59)
            return -1;
        off_min = sign * (oh * 60 + om);
    } else {
        return -1; /* a time without a zone is ambiguous */
    }
    if (*p || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60 || Y < 1970)
        return -1;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    *ms = ((int64_t)t - (int64_t)off_min * 60) * 1000 + frac_ms;
    return 0;
}

int64_t awscreds_refresh_margin_ms(int64_t lifetime_ms) {
    if (lifetime_ms < 0)
        lifetime_ms = 0;
    return lifetime_ms / 3 < MARGIN_MS ? lifetime_ms / 3 : MARGIN_MS;
}

int awscreds_needs_refresh(int64_t expires_ms, int64_t obtained_ms, int64_t now_ms) {
    if (expires_ms == 0)
        return 0;
    return expires_ms - now_ms <= awscreds_refresh_margin_ms(expires_ms - obtained_ms);
}

/* --- HTTP (libcurl) ---------------------------------------------------------- */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_curl_ok;

static void global_init(void) {
    g_curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    xmlInitParser();
}

static size_t write_cb(char *ptr, size_t sz, size_t n, void *ud) {
    kf_buf *b = ud;
    kf_buf_append(b, ptr, sz * n);
    return kf_buf_ok(b) ? sz * n : 0;
}

/* One request.  0 with *status when an answer came (any status), or -1
 * with the curl error in err. */
static int http_do(const char *method, const char *url, struct curl_slist *hdrs, const char *body,
                   size_t bodylen, long connect_ms, long total_ms, int direct, kf_buf *out,
                   long *status, char *err, size_t errlen) {
    if (!g_curl_ok) {
        say(err, errlen, "libcurl did not initialise");
        return -1;
    }
    CURL *h = curl_easy_init();
    if (!h) {
        say(err, errlen, "out of memory");
        return -1;
    }
    char cerr[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, total_ms);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    if (direct) /* link-local metadata endpoints: never through a proxy */
        curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    if (hdrs)
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    if (!strcmp(method, "POST")) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)bodylen);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        if (!kf_buf_ok(out))
            say(err, errlen, "the answer is larger than %d bytes", MAX_RESPONSE);
        else
            say(err, errlen, "%s", cerr[0] ? cerr : curl_easy_strerror(rc));
        curl_easy_cleanup(h);
        return -1;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(h);
    kf_buf_append(out, "", 1); /* NUL-terminated, not counted */
    if (!kf_buf_ok(out)) {
        say(err, errlen, "out of memory");
        return -1;
    }
    out->len--;
    return 0;
}

/* "scheme://authority/path" -> authority (host[:port]) and path ("/" when
 * none).  -1 on a URL with user info, a query or no host. */
static int url_split(const char *url, char *auth, size_t al, char *path, size_t pl) {
    const char *s = strstr(url, "://");
    if (!s)
        return -1;
    s += 3;
    size_t n = strcspn(s, "/?#");
    if (n == 0 || memchr(s, '@', n) || n >= al)
        return -1;
    memcpy(auth, s, n);
    auth[n] = '\0';
    const char *rest = s + n;
    if (*rest == '?' || *rest == '#' || strchr(rest, '?') || strchr(rest, '#'))
        return -1;
    return strlen(*rest ? rest : "/") < pl ? (say(path, pl, "%s", *rest ? rest : "/"), 0) : -1;
}

/* The host of an authority, without port or IPv6 brackets. */
static void auth_host(const char *auth, char *host, size_t hl) {
    if (auth[0] == '[') {
        size_t n = strcspn(auth + 1, "]");
        say(host, hl, "%.*s", (int)n, auth + 1);
    } else {
        say(host, hl, "%.*s", (int)strcspn(auth, ":"), auth);
    }
}

static void strip_slash(char *s) {
    size_t n = strlen(s);
    while (n && s[n - 1] == '/')
        s[--n] = '\0';
}

/* --- shared config files ----------------------------------------------------- */

#define MAX_KEYS 64

typedef struct prof {
    size_t n;
    char *key[MAX_KEYS], *val[MAX_KEYS];
    int file[MAX_KEYS]; /* 0 credentials, 1 config */
    int found[2];       /* the section exists in that file */
    int readable[2];
    char path[2][4096];
} prof;

static void prof_free(prof *p) {
    for (size_t i = 0; i < p->n; i++) {
        if (p->val[i])
            OPENSSL_cleanse(p->val[i], strlen(p->val[i]));
        free(p->key[i]);
        free(p->val[i]);
    }
    p->n = 0;
}

static const char *prof_get(const prof *p, const char *k) {
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->key[i], k))
            return p->val[i][0] ? p->val[i] : NULL;
    return NULL;
}

static const char *prof_file(const prof *p, const char *k) {
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->key[i], k))
            return p->path[p->file[i]];
    return "?";
}

/* Adds k=v unless k is there already (the credentials file is read first
 * and wins). */
static void prof_add(prof *p, const char *k, const char *v, int file) {
    if (p->n == MAX_KEYS)
        return;
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->key[i], k))
            return;
    char *kk = kf_strdup(k), *vv = kf_strdup(v);
    if (!kk || !vv) {
        free(kk);
        free(vv);
        return;
    }
    for (char *c = kk; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    p->key[p->n] = kk;
    p->val[p->n] = vv;
    p->file[p->n] = file;
    p->n++;
}

/* Does the section header text (between the brackets, trimmed) name
 * profile `name` in this kind of file? */
static int section_matches(const char *sec, const char *name, int config) {
    if (!config)
        return !strcmp(sec, name);
    if (!strncmp(sec, "profile", 7) && (sec[7] == ' ' || sec[7] == '\t')) {
        const char *n = sec + 8;
        while (*n == ' ' || *n == '\t')
            n++;
        return !strcmp(n, name);
    }
    return !strcmp(name, "default") && !strcmp(sec, "default");
}

/* Reads profile `name`'s keys from file `which` (0 credentials, 1 config). */
static void ini_load(prof *p, int which, const char *name) {
    kf_buf b;
    kf_buf_init(&b, 0);
    if (kf_read_file(p->path[which], &b, 4 << 20) != 0) {
        kf_buf_free(&b);
        return;
    }
    p->readable[which] = 1;
    kf_buf_append(&b, "", 1);
    if (!kf_buf_ok(&b)) {
        kf_buf_free(&b);
        return;
    }
    char *s = (char *)b.data, *save = NULL;
    int in = 0;
    for (char *line = s; line; line = save) {
        char *nl = strchr(line, '\n');
        save = nl ? nl + 1 : NULL;
        if (nl)
            *nl = '\0';
        if (line[0] == ' ' || line[0] == '\t')
            continue; /* a continuation or a nested (service) setting */
        trim(line);
        if (!line[0] || line[0] == '#' || line[0] == ';')
            continue;
        if (line[0] == '[') {
            char *end = strrchr(line, ']');
            if (!end) {
                in = 0;
                continue;
            }
            *end = '\0';
            char *sec = line + 1;
            trim(sec);
            in = section_matches(sec, name, which);
            if (in)
                p->found[which] = 1;
            continue;
        }
        if (!in)
            continue;
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        char *k = line, *v = eq + 1;
        trim(k);
        trim(v);
        if (*k)
            prof_add(p, k, v, which);
    }
    OPENSSL_cleanse(b.data, b.len);
    kf_buf_free(&b);
}

static void prof_load(prof *p, const char *name) {
    memset(p, 0, sizeof(*p));
    const char *cf = env("AWS_SHARED_CREDENTIALS_FILE");
    const char *gf = env("AWS_CONFIG_FILE");
    expand_home(cf ? cf : "~/.aws/credentials", p->path[0], sizeof(p->path[0]));
    expand_home(gf ? gf : "~/.aws/config", p->path[1], sizeof(p->path[1]));
    ini_load(p, 0, name);
    ini_load(p, 1, name);
}

/* --- credential_process -------------------------------------------------------- */

/* Splits a command line on blanks; double quotes group (\" and \\ inside
 * them are a quote and a backslash).  argv is NULL-terminated. */
static int split_cmd(const char *cmd, char ***argv_out, char *why, size_t wl) {
    size_t cap = 8, n = 0;
    char **argv = calloc(cap, sizeof(*argv));
    char *word = malloc(strlen(cmd) + 1);
    if (!argv || !word)
        goto oom;
    for (const char *p = cmd; *p;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        size_t o = 0;
        int quoted = 0;
        for (; *p && (quoted || (*p != ' ' && *p != '\t')); p++) {
            if (*p == '"') {
                quoted = !quoted;
            } else if (quoted && *p == '\\' && (p[1] == '"' || p[1] == '\\')) {
                word[o++] = *++p;
            } else {
                word[o++] = *p;
            }
        }
        if (quoted) {
            say(why, wl, "credential_process has an unterminated double quote");
            goto fail;
        }
        if (n + 2 > cap) {
            char **na = realloc(argv, 2 * cap * sizeof(*argv));
            if (!na)
                goto oom;
            argv = na;
            cap *= 2;
        }
        argv[n] = kf_strndup(word, o);
        if (!argv[n])
            goto oom;
        argv[++n] = NULL;
    }
    free(word);
    if (n == 0) {
        say(why, wl, "credential_process is empty");
        word = NULL;
        goto fail;
    }
    *argv_out = argv;
    return 0;
oom:
    say(why, wl, "out of memory");
fail:
    for (size_t i = 0; argv && i < n; i++)
        free(argv[i]);
    free(argv);
    free(word);
    return -1;
}

static void free_argv(char **argv) {
    for (size_t i = 0; argv && argv[i]; i++)
        free(argv[i]);
    free(argv);
}

/* Runs argv (no shell), stdin from /dev/null, stderr inherited, stdout
 * collected.  0 when it exited 0, else -1 with why. */
static int run_process(char **argv, kf_buf *out, char *why, size_t wl) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        say(why, wl, "pipe: %s", strerror(errno));
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        say(why, wl, "cannot run '%.200s': %s", argv[0], strerror(rc));
        return -1;
    }
    int64_t deadline = kf_now_ms() + PROCESS_TIMEOUT_MS;
    int timed_out = 0, too_big = 0;
    for (;;) {
        int64_t left = deadline - kf_now_ms();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        struct pollfd pf = {.fd = fds[0], .events = POLLIN};
        int pr = poll(&pf, 1, (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0) {
            timed_out = pr == 0;
            break;
        }
        char chunk[4096];
        ssize_t r = read(fds[0], chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (out->len + (size_t)r > MAX_RESPONSE) {
            too_big = 1;
            break;
        }
        kf_buf_append(out, chunk, (size_t)r);
    }
    close(fds[0]);
    if (timed_out || too_big)
        kill(pid, SIGKILL);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (timed_out) {
        say(why, wl, "'%.200s' did not finish within %d s", argv[0], PROCESS_TIMEOUT_MS / 1000);
        return -1;
    }
    if (too_big) {
        say(why, wl, "'%.200s' wrote more than %d bytes", argv[0], MAX_RESPONSE);
        return -1;
    }
    if (WIFSIGNALED(st)) {
        say(why, wl, "'%.200s' was killed by signal %d", argv[0], WTERMSIG(st));
        return -1;
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        say(why, wl, "'%.200s' exited with status %d", argv[0],
            WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        return -1;
    }
    kf_buf_append(out, "", 1);
    if (!kf_buf_ok(out)) {
        say(why, wl, "out of memory");
        return -1;
    }
    out->len--;
    return 0;
}

static const char *jstr(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int credential_process(const char *cmd, kf_aws_creds *out, char *why, size_t wl) {
    char **argv = NULL;
    if (split_cmd(cmd, &argv, why, wl) != 0)
        return -1;
    kf_buf b;
    kf_buf_init(&b, 0);
    int rc = run_process(argv, &b, why, wl);
    if (rc == 0) {
        json_error_t je;
        json_t *j = json_loadb((const char *)b.data, b.len, 0, &je);
        json_t *ver = j ? json_object_get(j, "Version") : NULL;
        if (!json_is_object(j)) {
            say(why, wl, "'%.200s' did not print a JSON object (line %d: %.100s)", argv[0], je.line,
                je.text);
            rc = -1;
        } else if (!json_is_integer(ver) || json_integer_value(ver) != 1) {
            say(why, wl, "'%.200s' printed JSON without \"Version\": 1", argv[0]);
            rc = -1;
        } else {
            rc = fill(out, jstr(j, "AccessKeyId"), jstr(j, "SecretAccessKey"),
                      jstr(j, "SessionToken"), jstr(j, "Expiration"), why, wl);
        }
        json_decref(j);
    }
    if (b.data)
        OPENSSL_cleanse(b.data, b.len);
    kf_buf_free(&b);
    free_argv(argv);
    return rc;
}

/* --- STS ----------------------------------------------------------------------- */

static const char *sts_region(const awscreds *p) {
    return p->sts_region ? p->sts_region : p->region ? p->region : "us-east-1";
}

static void sts_url(const awscreds *p, char *url, size_t len) {
    const char *e = env("AWS_ENDPOINT_URL_STS");
    if (!e)
        e = env("AWS_ENDPOINT_URL");
    if (e)
        say(url, len, "%s", e);
    else
        say(url, len, "https://sts.%s.amazonaws.com", sts_region(p));
    strip_slash(url);
}

static xmlNode *xml_find(xmlNode *n, const char *name) {
    for (; n; n = n->next) {
        if (n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name))
            return n;
        xmlNode *c = xml_find(n->children, name);
        if (c)
            return c;
    }
    return NULL;
}

/* The trimmed text of the first element `name` under n, or NULL; xmlFree. */
static char *xml_text(xmlNode *n, const char *name) {
    xmlNode *e = xml_find(n, name);
    if (!e)
        return NULL;
    char *t = (char *)xmlNodeGetContent(e);
    if (t)
        trim(t);
    return t;
}

static void xml_free_secret(char *t) {
    if (t) {
        OPENSSL_cleanse(t, strlen(t));
        xmlFree(t);
    }
}

/* POSTs the form to STS, signed with signer unless NULL; the answer's
 * Credentials go to out.  -1 with why naming the URL and the status. */
static int sts_call(const awscreds *p, const char *action, const kf_sigv4_param *form, size_t nform,
                    const kf_aws_creds *signer, kf_aws_creds *out, char *why, size_t wl) {
    char url[2048], auth[512], path[1024];
    sts_url(p, url, sizeof(url));
    if (url_split(url, auth, sizeof(auth), path, sizeof(path)) != 0) {
        say(why, wl, "bad STS endpoint URL '%.300s'", url);
        return -1;
    }
    kf_buf body, az, resp;
    kf_buf_init(&body, 0);
    kf_buf_init(&az, 0);
    kf_buf_init(&resp, MAX_RESPONSE);
    struct curl_slist *hl = NULL;
    int rc = kf_sigv4_canonical_query(form, nform, &body);
    kf_buf_append(&body, "", 1);
    const char *ctype = "application/x-www-form-urlencoded; charset=utf-8";
    char line[KF_AWS_MAX_TOKEN + 64];
    if (rc == 0 && kf_buf_ok(&body)) {
        body.len--;
        say(line, sizeof(line), "Host: %s", auth);
        hl = curl_slist_append(hl, line);
        say(line, sizeof(line), "Content-Type: %s", ctype);
        hl = curl_slist_append(hl, line);
        hl = curl_slist_append(hl, "Expect:");
        hl = curl_slist_append(hl, "Accept: text/xml");
        if (signer) {
            kf_sigv4_param h[] = {{"Content-Type", ctype}};
            char amzdate[17];
            rc =
                kf_sigv4_sign_headers("POST", auth, path, NULL, 0, h, 1, body.data, body.len, "sts",
                                      sts_region(p), signer, kf_wall_ms() / 1000, amzdate, &az);
            if (rc == 0) {
                say(line, sizeof(line), "X-Amz-Date: %s", amzdate);
                hl = curl_slist_append(hl, line);
                if (signer->session_token[0]) {
                    say(line, sizeof(line), "X-Amz-Security-Token: %s", signer->session_token);
                    hl = curl_slist_append(hl, line);
                }
                say(line, sizeof(line), "Authorization: %s", (const char *)az.data);
                hl = curl_slist_append(hl, line);
                OPENSSL_cleanse(line, sizeof(line));
            }
        }
    } else {
        rc = -1;
    }
    if (rc != 0) {
        say(why, wl, "%s at %s: cannot build the request", action, url);
        goto done;
    }
    long status = 0;
    char cerr[CURL_ERROR_SIZE + 64];
    if (http_do("POST", url, hl, (const char *)body.data, body.len, STS_CONNECT_MS, STS_TOTAL_MS, 0,
                &resp, &status, cerr, sizeof(cerr)) != 0) {
        say(why, wl, "%s at %s: %s", action, url, cerr);
        rc = -1;
        goto done;
    }
    xmlDoc *doc = xmlReadMemory((const char *)resp.data, (int)resp.len, "sts.xml", NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (status != 200) {
        char *code = root ? xml_text(root, "Code") : NULL;
        char *msg = root ? xml_text(root, "Message") : NULL;
        say(why, wl, "%s at %s: HTTP %ld%s%.100s%s%.300s", action, url, status, code ? " " : "",
            code ? code : "", msg ? ": " : "", msg ? msg : "");
        xmlFree(code);
        xmlFree(msg);
        rc = -1;
    } else if (!root || !xml_find(root, "Credentials")) {
        say(why, wl, "%s at %s: HTTP 200 without Credentials in the answer", action, url);
        rc = -1;
    } else {
        xmlNode *c = xml_find(root, "Credentials");
        char *ak = xml_text(c->children, "AccessKeyId");
        char *sk = xml_text(c->children, "SecretAccessKey");
        char *tok = xml_text(c->children, "SessionToken");
        char *exp = xml_text(c->children, "Expiration");
        char w2[WHY];
        rc = fill(out, ak, sk, tok, exp, w2, sizeof(w2));
        if (rc != 0)
            say(why, wl, "%s at %s: %s", action, url, w2);
        xml_free_secret(ak);
        xml_free_secret(sk);
        xml_free_secret(tok);
        xmlFree(exp);
    }
    xmlFreeDoc(doc);
done:
    curl_slist_free_all(hl);
    if (resp.data)
        OPENSSL_cleanse(resp.data, resp.len);
    if (body.data)
        OPENSSL_cleanse(body.data, body.len);
    kf_buf_free(&body);
    kf_buf_free(&az);
    kf_buf_free(&resp);
    return rc;
}

static void default_session(const awscreds *p, char *out, size_t len) {
    if (p->role_session)
        say(out, len, "%s", p->role_session);
    else
        say(out, len, "kferry-%ld", (long)getpid());
}

static int assume_role(const awscreds *p, const char *role, const char *session,
                       const char *external_id, const kf_aws_creds *src, kf_aws_creds *out,
                       char *why, size_t wl) {
    kf_sigv4_param f[6] = {{"Action", "AssumeRole"},
                           {"Version", "2011-06-15"},
                           {"RoleArn", role},
                           {"RoleSessionName", session}};
    size_t n = 4;
    if (external_id)
        f[n++] = (kf_sigv4_param){"ExternalId", external_id};
    return sts_call(p, "AssumeRole", f, n, src, out, why, wl);
}

static int web_identity(const awscreds *p, const char *token_file, const char *role,
                        const char *session, kf_aws_creds *out, char *why, size_t wl) {
    kf_buf tok;
    kf_buf_init(&tok, 0);
    if (kf_read_file(token_file, &tok, MAX_RESPONSE) != 0) {
        say(why, wl, "cannot read the token file %.300s: %s", token_file, strerror(errno));
        kf_buf_free(&tok);
        return -1;
    }
    kf_buf_append(&tok, "", 1);
    if (!kf_buf_ok(&tok)) {
        say(why, wl, "out of memory");
        kf_buf_free(&tok);
        return -1;
    }
    trim((char *)tok.data);
    kf_sigv4_param f[] = {{"Action", "AssumeRoleWithWebIdentity"},
                          {"Version", "2011-06-15"},
                          {"RoleArn", role},
                          {"RoleSessionName", session},
                          {"WebIdentityToken", (const char *)tok.data}};
    int rc = -1;
    if (!tok.data[0])
        say(why, wl, "the token file %.300s is empty", token_file);
    else
        rc = sts_call(p, "AssumeRoleWithWebIdentity", f, 5, NULL, out, why, wl);
    OPENSSL_cleanse(tok.data, tok.len);
    kf_buf_free(&tok);
    return rc;
}

/* --- the sources ------------------------------------------------------------- */

static int src_env(kf_aws_creds *out, char *src, size_t sl, char *why, size_t wl) {
    const char *ak = env("AWS_ACCESS_KEY_ID"), *sk = env("AWS_SECRET_ACCESS_KEY");
    if (!ak && !sk) {
        say(why, wl, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set");
        return 0;
    }
    if (!ak || !sk) {
        say(why, wl, "%s is set but %s is not", ak ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
            ak ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
        return -1;
    }
    if (fill(out, ak, sk, env("AWS_SESSION_TOKEN"), env("AWS_CREDENTIAL_EXPIRATION"), why, wl))
        return -1;
    say(src, sl, "environment variables");
    return 1;
}

/* Profile `name`: role_arn (with source_profile or web_identity_token_file),
 * else static keys, else credential_process. */
static int resolve_profile(const awscreds *p, const char *name, int must_exist, int depth,
                           kf_aws_creds *out, char *src, size_t sl, char *why, size_t wl) {
    prof pr;
    prof_load(&pr, name);
    int rc = 0;
    if (!pr.found[0] && !pr.found[1]) {
        say(why, wl, "profile '%s' not found in %s%s or %s%s", name, pr.path[0],
            pr.readable[0] ? "" : " (unreadable or missing)", pr.path[1],
            pr.readable[1] ? "" : " (unreadable or missing)");
        rc = must_exist ? -1 : 0;
        goto done;
    }
    const char *role = prof_get(&pr, "role_arn");
    const char *ak = prof_get(&pr, "aws_access_key_id");
    const char *sk = prof_get(&pr, "aws_secret_access_key");
    const char *proc = prof_get(&pr, "credential_process");
    if (role) {
        const char *sp = prof_get(&pr, "source_profile");
        const char *wif = prof_get(&pr, "web_identity_token_file");
        const char *rs = prof_get(&pr, "role_session_name");
        char session[256];
        if (rs)
            say(session, sizeof(session), "%s", rs);
        else
            default_session(p, session, sizeof(session));
        char w2[WHY];
        if (prof_get(&pr, "mfa_serial")) {
            say(why, wl, "profile '%s': mfa_serial is not supported (no terminal to ask)", name);
            rc = -1;
        } else if (wif) {
            rc = web_identity(p, wif, role, session, out, w2, sizeof(w2)) == 0 ? 1 : -1;
            if (rc < 0)
                say(why, wl, "profile '%s' (web identity, role %s): %s", name, role, w2);
            else
                say(src, sl, "web identity of profile '%s' (role %s)", name, role);
        } else if (!sp) {
            say(why, wl,
                "profile '%s' has role_arn without source_profile (credential_source is "
                "not supported)",
                name);
            rc = -1;
        } else {
            kf_aws_creds base;
            char bsrc[SRC];
            if (!strcmp(sp, name)) { /* its own static keys, as the SDKs allow */
                if (!ak || !sk) {
                    say(why, wl, "profile '%s' is its own source_profile but has no keys", name);
                    rc = -1;
                } else if (fill(&base, ak, sk, prof_get(&pr, "aws_session_token"), NULL, w2,
                                sizeof(w2)) != 0) {
                    say(why, wl, "profile '%s': %s", name, w2);
                    rc = -1;
                } else {
                    say(bsrc, sizeof(bsrc), "profile '%s' in %s", name,
                        prof_file(&pr, "aws_access_key_id"));
                    rc = 1;
                }
            } else if (depth >= MAX_PROFILE_DEPTH) {
                say(why, wl, "profile '%s': source_profile chain longer than %d (a loop?)", name,
                    MAX_PROFILE_DEPTH);
                rc = -1;
            } else {
                rc =
                    resolve_profile(p, sp, 1, depth + 1, &base, bsrc, sizeof(bsrc), w2, sizeof(w2));
                if (rc != 1) {
                    say(why, wl, "profile '%s' (source_profile '%s'): %s", name, sp,
                        rc == 0 ? "it has no credentials" : w2);
                    rc = -1;
                }
            }
            if (rc == 1) {
                if (assume_role(p, role, session, prof_get(&pr, "external_id"), &base, out, w2,
                                sizeof(w2)) != 0) {
                    say(why, wl, "profile '%s' (role %s with %s): %s", name, role, bsrc, w2);
                    rc = -1;
                } else {
                    say(src, sl, "profile '%s' (role %s via %s)", name, role, bsrc);
                }
                OPENSSL_cleanse(&base, sizeof(base));
            }
        }
    } else if (ak || sk) {
        char w2[WHY];
        if (!ak || !sk) {
            say(why, wl, "profile '%s' in %s has %s without %s", name,
                prof_file(&pr, ak ? "aws_access_key_id" : "aws_secret_access_key"),
                ak ? "aws_access_key_id" : "aws_secret_access_key",
                ak ? "aws_secret_access_key" : "aws_access_key_id");
            rc = -1;
        } else if (fill(out, ak, sk, prof_get(&pr, "aws_session_token"), NULL, w2, sizeof(w2))) {
            say(why, wl, "profile '%s': %s", name, w2);
            rc = -1;
        } else {
            say(src, sl, "profile '%s' in %s", name, prof_file(&pr, "aws_access_key_id"));
            rc = 1;
        }
    } else if (proc) {
        char w2[WHY];
        if (credential_process(proc, out, w2, sizeof(w2)) != 0) {
            say(why, wl, "credential_process of profile '%s' (%s): %s", name,
                prof_file(&pr, "credential_process"), w2);
            rc = -1;
        } else {
            say(src, sl, "credential_process of profile '%s'", name);
            rc = 1;
        }
    } else {
        say(why, wl, "profile '%s' has no credentials (no keys, credential_process or role_arn)",
            name);
        rc = 0;
    }
done:
    prof_free(&pr);
    return rc;
}

static int src_web_identity(const awscreds *p, kf_aws_creds *out, char *src, size_t sl, char *why,
                            size_t wl) {
    const char *tf = env("AWS_WEB_IDENTITY_TOKEN_FILE"), *role = env("AWS_ROLE_ARN");
    if (!tf && !role) {
        say(why, wl, "AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN are not set");
        return 0;
    }
    if (!tf || !role) {
        say(why, wl, "%s is set but %s is not", tf ? "AWS_WEB_IDENTITY_TOKEN_FILE" : "AWS_ROLE_ARN",
            tf ? "AWS_ROLE_ARN" : "AWS_WEB_IDENTITY_TOKEN_FILE");
        return -1;
    }
    char session[256];
    const char *rs = env("AWS_ROLE_SESSION_NAME");
    if (rs)
        say(session, sizeof(session), "%s", rs);
    else
        default_session(p, session, sizeof(session));
    if (web_identity(p, tf, role, session, out, why, wl) != 0)
        return -1;
    say(src, sl, "web identity (role %s)", role);
    return 1;
}

/* http is allowed for FULL_URI only on loopback and the ECS/EKS agent
 * addresses, as the SDKs allow it. */
static int ecs_host_ok(const char *url) {
    if (!strncasecmp(url, "https://", 8))
        return 1;
    if (strncasecmp(url, "http://", 7) != 0)
        return 0;
    char auth[512], path[1024], host[512];
    if (url_split(url, auth, sizeof(auth), path, sizeof(path)) != 0) {
        /* a query string is fine for the agent: check the host only */
        size_t n = strcspn(url + 7, "/?#");
        if (n == 0 || n >= sizeof(auth))
            return 0;
        say(auth, sizeof(auth), "%.*s", (int)n, url + 7);
    }
    auth_host(auth, host, sizeof(host));
    return !strncmp(host, "127.", 4) || !strcmp(host, "localhost") || !strcmp(host, "::1") ||
           !strcmp(host, "169.254.170.2") || !strcmp(host, "169.254.170.23") ||
           !strcasecmp(host, "fd00:ec2::23");
}

static int parse_json_creds(const kf_buf *b, const char *need_code, kf_aws_creds *out, char *why,
                            size_t wl) {
    json_error_t je;
    json_t *j = json_loadb((const char *)b->data, b->len, 0, &je);
    int rc;
    if (!json_is_object(j)) {
        say(why, wl, "the answer is not a JSON object");
        rc = -1;
    } else if (need_code && jstr(j, "Code") && strcmp(jstr(j, "Code"), need_code) != 0) {
        say(why, wl, "the answer's Code is '%.64s'", jstr(j, "Code"));
        rc = -1;
    } else {
        rc = fill(out, jstr(j, "AccessKeyId"), jstr(j, "SecretAccessKey"), jstr(j, "Token"),
                  jstr(j, "Expiration"), why, wl);
    }
    json_decref(j);
    return rc;
}

static int src_container(kf_aws_creds *out, char *src, size_t sl, char *why, size_t wl) {
    const char *rel = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    if (!rel && !full) {
        say(why, wl, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and _FULL_URI are not set");
        return 0;
    }
    char url[2048];
    if (rel)
        say(url, sizeof(url), "http://169.254.170.2%s%s", rel[0] == '/' ? "" : "/", rel);
    else
        say(url, sizeof(url), "%s", full);
    if (!rel && !ecs_host_ok(url)) {
        say(why, wl,
            "AWS_CONTAINER_CREDENTIALS_FULL_URI %.300s: plain http only to a loopback "
            "address or the ECS/EKS agent (169.254.170.2, 169.254.170.23)",
            url);
        return -1;
    }
    char authz[4096] = "";
    const char *tf = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    const char *tv = env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    if (tf) {
        kf_buf t;
        kf_buf_init(&t, 0);
        int rd = kf_read_file(tf, &t, MAX_RESPONSE);
        if (rd != 0 || t.len >= sizeof(authz)) {
            say(why, wl, "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE %.300s: %s", tf,
                rd != 0 ? strerror(errno) : "longer than 4 KiB");
            kf_buf_free(&t);
            return -1;
        }
        say(authz, sizeof(authz), "%.*s", (int)t.len, (const char *)t.data);
        OPENSSL_cleanse(t.data, t.len);
        kf_buf_free(&t);
        trim(authz);
    } else if (tv) {
        say(authz, sizeof(authz), "%s", tv);
    }
    if (strpbrk(authz, "\r\n")) {
        say(why, wl, "the container authorization token has a line break");
        return -1;
    }
    struct curl_slist *hl = NULL;
    if (authz[0]) {
        char line[sizeof(authz) + 32];
        say(line, sizeof(line), "Authorization: %s", authz);
        hl = curl_slist_append(hl, line);
        OPENSSL_cleanse(line, sizeof(line));
        OPENSSL_cleanse(authz, sizeof(authz));
    }
    kf_buf b;
    kf_buf_init(&b, MAX_RESPONSE);
    long status = 0;
    char cerr[CURL_ERROR_SIZE + 64], w2[WHY];
    int rc = -1;
    if (http_do("GET", url, hl, NULL, 0, ECS_CONNECT_MS, ECS_TOTAL_MS, 1, &b, &status, cerr,
                sizeof(cerr)) != 0)
        say(why, wl, "%s: %s", url, cerr);
    else if (status != 200)
        say(why, wl, "%s: HTTP %ld", url, status);
    else if (parse_json_creds(&b, NULL, out, w2, sizeof(w2)) != 0)
        say(why, wl, "%s: %s", url, w2);
    else
        rc = 1;
    curl_slist_free_all(hl);
    if (b.data)
        OPENSSL_cleanse(b.data, b.len);
    kf_buf_free(&b);
    if (rc == 1)
        say(src, sl, "container credentials (%s)", url);
    return rc;
}

static int src_imds(kf_aws_creds *out, char *src, size_t sl, char *why, size_t wl) {
    const char *dis = env("AWS_EC2_METADATA_DISABLED");
    if (dis && !strcasecmp(dis, "true")) {
        say(why, wl, "AWS_EC2_METADATA_DISABLED=true");
        return 0;
    }
    char base[1024], url[2048];
    const char *e = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    say(base, sizeof(base), "%s", e ? e : "http://169.254.169.254");
    strip_slash(base);
    kf_buf b;
    kf_buf_init(&b, MAX_RESPONSE);
    long status = 0;
    char cerr[CURL_ERROR_SIZE + 64], token[512], role[256], w2[WHY], line[600];
    int rc = 0;
    struct curl_slist *hl = curl_slist_append(NULL, "X-aws-ec2-metadata-token-ttl-seconds: 21600");
    say(url, sizeof(url), "%s/latest/api/token", base);
    if (http_do("PUT", url, hl, NULL, 0, IMDS_CONNECT_MS, IMDS_TOTAL_MS, 1, &b, &status, cerr,
                sizeof(cerr)) != 0) {
        say(why, wl, "no IMDSv2 token from %s: %s", url, cerr);
        rc = 0; /* not on EC2: not configured */
        goto done;
    }
    if (status != 200 || b.len == 0 || b.len >= sizeof(token)) {
        say(why, wl, "no IMDSv2 token from %s: HTTP %ld", url, status);
        rc = 0;
        goto done;
    }
    say(token, sizeof(token), "%s", (const char *)b.data);
    trim(token);
    curl_slist_free_all(hl);
    say(line, sizeof(line), "X-aws-ec2-metadata-token: %s", token);
    hl = curl_slist_append(NULL, line);
    OPENSSL_cleanse(line, sizeof(line));
    OPENSSL_cleanse(token, sizeof(token));
    kf_buf_reset(&b);
    say(url, sizeof(url), "%s/latest/meta-data/iam/security-credentials/", base);
    if (http_do("GET", url, hl, NULL, 0, IMDS_CONNECT_MS, IMDS_TOTAL_MS, 1, &b, &status, cerr,
                sizeof(cerr)) != 0) {
        say(why, wl, "%s: %s", url, cerr);
        rc = -1;
        goto done;
    }
    if (status == 404) {
        say(why, wl, "%s: HTTP 404 (no IAM role attached to the instance)", url);
        rc = 0;
        goto done;
    }
    if (status != 200) {
        say(why, wl, "%s: HTTP %ld", url, status);
        rc = -1;
        goto done;
    }
    size_t rl = strcspn((const char *)b.data, "\r\n");
    if (rl == 0 || rl >= sizeof(role) || memchr(b.data, '/', rl)) {
        say(why, wl, "%s: no role name in the answer", url);
        rc = -1;
        goto done;
    }
    say(role, sizeof(role), "%.*s", (int)rl, (const char *)b.data);
    trim(role);
    kf_buf_reset(&b);
    say(url, sizeof(url), "%s/latest/meta-data/iam/security-credentials/%s", base, role);
    if (http_do("GET", url, hl, NULL, 0, IMDS_CONNECT_MS, IMDS_TOTAL_MS, 1, &b, &status, cerr,
                sizeof(cerr)) != 0) {
        say(why, wl, "%s: %s", url, cerr);
        rc = -1;
    } else if (status != 200) {
        say(why, wl, "%s: HTTP %ld", url, status);
        rc = -1;
    } else if (parse_json_creds(&b, "Success", out, w2, sizeof(w2)) != 0) {
        say(why, wl, "%s: %s", url, w2);
        rc = -1;
    } else {
        say(src, sl, "instance metadata (IMDSv2, role %s)", role);
        rc = 1;
    }
done:
    curl_slist_free_all(hl);
    if (b.data)
        OPENSSL_cleanse(b.data, b.len);
    kf_buf_free(&b);
    return rc;
}

/* --- the chain ----------------------------------------------------------------- */

static void note(kf_buf *tried, const char *name, int rc, const char *why) {
    char line[WHY + 128];
    int n = snprintf(line, sizeof(line), "%s%s: %s%s", tried->len ? "; " : "", name,
                     rc == 0 ? "skipped, " : "failed, ", why);
    if (n > 0)
        kf_buf_append(tried, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* The chain, then the role.  0, or -1 with the whole story in err. */
static int fetch(const awscreds *p, kf_aws_creds *out, char *src, size_t sl, char *err,
                 size_t errlen) {
    kf_buf tried;
    kf_buf_init(&tried, 0);
    char why[WHY];
    int rc = 0;
    const char *profile = p->profile ? p->profile : env("AWS_PROFILE");
    int explicit = profile != NULL;
    if (!profile)
        profile = "default";
    kf_aws_creds base;
    memset(&base, 0, sizeof(base));
    src[0] = '\0';
    for (int step = 0; step < 5 && rc == 0; step++) {
        const char *name = "";
        why[0] = '\0';
        switch (step) {
        case 0:
            name = "environment";
            if (p->profile) {
                say(why, sizeof(why), "awsProfileName '%s' is set", p->profile);
                rc = 0;
            } else {
                rc = src_env(&base, src, sl, why, sizeof(why));
            }
            break;
        case 1:
            name = "shared config files";
            rc = resolve_profile(p, profile, explicit, 0, &base, src, sl, why, sizeof(why));
            break;
        case 2:
            name = "web identity";
            rc = src_web_identity(p, &base, src, sl, why, sizeof(why));
            break;
        case 3:
            name = "container credentials";
            rc = src_container(&base, src, sl, why, sizeof(why));
            break;
        case 4:
            name = "instance metadata";
            rc = src_imds(&base, src, sl, why, sizeof(why));
            break;
        }
        if (rc != 1)
            note(&tried, name, rc, why);
    }
    if (rc == 1 && base.expires_ms && base.expires_ms <= kf_wall_ms()) {
        say(why, sizeof(why), "%s returned credentials that have already expired", src);
        note(&tried, "chain", -1, why);
        rc = -1;
    }
    if (rc == 1 && p->role_arn) {
        char session[256];
        default_session(p, session, sizeof(session));
        if (assume_role(p, p->role_arn, session, NULL, &base, out, why, sizeof(why)) != 0) {
            char w2[WHY + SRC + 32];
            say(w2, sizeof(w2), "%s (with credentials from %s)", why, src);
            note(&tried, "awsRoleArn", -1, w2);
            rc = -1;
        } else {
            size_t n = strlen(src);
            say(src + n, sl - n, " + assumed role %s", p->role_arn);
        }
    } else if (rc == 1) {
        *out = base;
    }
    OPENSSL_cleanse(&base, sizeof(base));
    if (rc == 1 && out->expires_ms && out->expires_ms <= kf_wall_ms()) {
        note(&tried, "chain", -1, "the credentials obtained have already expired");
        rc = -1;
    }
    if (rc != 1) {
        kf_buf_append(&tried, "", 1);
        say(err, errlen, "no AWS credentials: %s",
            kf_buf_ok(&tried) && tried.data ? (const char *)tried.data : "out of memory");
        OPENSSL_cleanse(out, sizeof(*out));
    }
    kf_buf_free(&tried);
    return rc == 1 ? 0 : -1;
}

/* --- the provider ---------------------------------------------------------------- */

static char *dup_opt(const char *s, int *bad) {
    if (!s || !*s)
        return NULL;
    char *d = kf_strdup(s);
    if (!d)
        *bad = 1;
    return d;
}

awscreds *awscreds_new(const awscreds_opts *o, char *err, size_t errlen) {
    pthread_once(&g_once, global_init);
    awscreds *p = calloc(1, sizeof(*p));
    if (!p) {
        say(err, errlen, "out of memory");
        return NULL;
    }
    int bad = 0;
    if (o) {
        p->profile = dup_opt(o->profile, &bad);
        p->role_arn = dup_opt(o->role_arn, &bad);
        p->role_session = dup_opt(o->role_session, &bad);
        p->sts_region = dup_opt(o->sts_region, &bad);
        p->region = dup_opt(o->region, &bad);
        p->debug = o->debug;
    }
    if (bad) {
        say(err, errlen, "out of memory");
        awscreds_free(p);
        return NULL;
    }
    if (p->role_arn && strncmp(p->role_arn, "arn:", 4) != 0) {
        say(err, errlen, "awsRoleArn '%.200s' is not an ARN (arn:aws:iam::<account>:role/<name>)",
            p->role_arn);
        awscreds_free(p);
        return NULL;
    }
    if (p->role_session &&
        (strlen(p->role_session) < 2 || strlen(p->role_session) > 64 ||
         strspn(p->role_session,
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+=,.@-_") !=
             strlen(p->role_session))) {
        say(err, errlen,
            "awsRoleSessionName '%.80s': 2 to 64 characters of letters, digits and +=,.@-_",
            p->role_session);
        awscreds_free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    return p;
}

void awscreds_free(awscreds *p) {
    if (!p)
        return;
    free(p->profile);
    free(p->role_arn);
    free(p->role_session);
    free(p->sts_region);
    free(p->region);
    OPENSSL_cleanse(&p->cur, sizeof(p->cur));
    pthread_mutex_destroy(&p->mu);
    free(p);
}

int awscreds_get(awscreds *p, kf_aws_creds *out, char *err, size_t errlen) {
    pthread_mutex_lock(&p->mu);
    int64_t now = kf_wall_ms();
    if (p->have && !awscreds_needs_refresh(p->cur.expires_ms, p->obtained_ms, now)) {
        *out = p->cur;
        pthread_mutex_unlock(&p->mu);
        return 0;
    }
    kf_aws_creds fresh;
    char src[SRC];
    int rc = fetch(p, &fresh, src, sizeof(src), err, errlen);
    now = kf_wall_ms();
    if (rc == 0) {
        p->cur = fresh;
        p->have = 1;
        p->obtained_ms = now;
        if (strcmp(src, p->source) != 0 || p->debug)
            kf_log(p->debug ? KF_LOG_NOTICE : KF_LOG_INFO, COMP, "AWS credentials from %s%s", src,
                   fresh.expires_ms ? " (temporary)" : "");
        say(p->source, sizeof(p->source), "%s", src);
        *out = fresh;
    } else if (p->have && (p->cur.expires_ms == 0 || p->cur.expires_ms > now)) {
        /* The refresh failed but the cached set is still valid: use it
         * until it expires (the SDKs do the same), and say so. */
        kf_warn(COMP,
                "refreshing AWS credentials failed, the current ones are still valid for "
                "%lld s: %s",
                (long long)((p->cur.expires_ms - now) / 1000), err);
        *out = p->cur;
        rc = 0;
    } else {
        p->have = 0;
    }
    OPENSSL_cleanse(&fresh, sizeof(fresh));
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void awscreds_source(awscreds *p, char *out, size_t len) {
    pthread_mutex_lock(&p->mu);
    say(out, len, "%s", p->source);
    pthread_mutex_unlock(&p->mu);
}
