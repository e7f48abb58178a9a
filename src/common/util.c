/*
 * util.c - shared helpers (see util.h).
 */
#include "common/util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int kf_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out) {
    if (!s || !*s)
        return -1;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return -1;
    if (v < min || v > max)
        return -1;
    *out = (int64_t)v;
    return 0;
}

int kf_parse_bool(const char *s, int *out) {
    if (!s)
        return -1;
    if (strcasecmp(s, "true") == 0) {
        *out = 1;
        return 0;
    }
    if (strcasecmp(s, "false") == 0) {
        *out = 0;
        return 0;
    }
    return -1;
}

int kf_parse_hostport(const char *s, char *host, size_t hostlen, int *port) {
    const char *colon;
    const char *hs = s;
    size_t hl;
    if (*s == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':')
            return -1;
        hs = s + 1;
        hl = (size_t)(rb - hs);
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -1;
        hl = (size_t)(colon - s);
    }
    if (hl >= hostlen)
        return -1;
    memcpy(host, hs, hl);
    host[hl] = '\0';
    int64_t p;
    if (kf_parse_i64(colon + 1, 0, 65535, &p) != 0)
        return -1;
    *port = (int)p;
    return 0;
}

int64_t kf_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t kf_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *kf_strndup(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *kf_strdup(const char *s) { return kf_strndup(s, strlen(s)); }

int kf_strlcpy(char *dst, const char *src, size_t size) {
    int n = snprintf(dst, size, "%s", src);
    return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

int kf_read_file(const char *path, kf_buf *out, size_t max) {
    kf_buf_init(out, max);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    /* one allocation of the file's size (+1 to see the end in one read),
     * not 64 KiB steps: most files read here are a few hundred bytes */
    struct stat st;
    size_t step = 65536;
    if (fstat(fd, &st) == 0 && st.st_size >= 0 && (uint64_t)st.st_size < step)
        step = (size_t)st.st_size + 1;
    for (;;) {
        if (out->len == out->cap && kf_buf_reserve(out, step) != 0) {
            close(fd);
            kf_buf_free(out);
            errno = EFBIG;
            return -1;
        }
        ssize_t r = read(fd, out->data + out->len, out->cap - out->len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            kf_buf_free(out);
            errno = e;
            return -1;
        }
        if (r == 0)
            break;
        out->len += (size_t)r;
        step = 65536;
    }
    close(fd);
    return 0;
}

int kf_fsync_dir(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int kf_write_file_atomic(const char *path, const void *data, size_t len) {
    return kf_write_file_atomic_mode(path, data, len, 0644);
}

int kf_write_file_atomic_mode(const char *path, const void *data, size_t len, unsigned mode) {
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    unlink(tmp); /* a stale temp file would keep its old mode */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
    if (fd < 0)
        return -1;
    const uint8_t *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            errno = e;
            return -1;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    char dir[4096];
    kf_strlcpy(dir, path, sizeof(dir));
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        kf_fsync_dir(*dir ? dir : "/");
    } else {
        kf_fsync_dir(".");
    }
    return 0;
}

int kf_mkdirs(const char *path, unsigned mode) {
    char tmp[4096];
    if (kf_strlcpy(tmp, path, sizeof(tmp)) != 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    /* Usually the parent exists: one mkdir, not one per path component. */
    int made = mkdir(tmp, mode) == 0 || errno == EEXIST;
    for (char *p = tmp + 1; !made && *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, mode) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    if (!made && mkdir(tmp, mode) != 0 && errno != EEXIST)
        return -1;
    struct stat st;
    if (stat(tmp, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

int kf_rmtree(const char *path) {
    DIR *d = opendir(path);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char sub[4096];
        if (snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) >= (int)sizeof(sub)) {
            rc = -1;
            continue;
        }
        /* d_type saves an lstat per file; some file systems leave it unknown */
        struct stat st;
        int is_dir = de->d_type == DT_DIR ||
                     (de->d_type == DT_UNKNOWN && lstat(sub, &st) == 0 && S_ISDIR(st.st_mode));
        if (is_dir) {
            if (kf_rmtree(sub) != 0)
                rc = -1;
        } else if (unlink(sub) != 0) {
            rc = -1;
        }
    }
    closedir(d);
    if (rmdir(path) != 0)
        rc = -1;
    return rc;
}

int kf_edit_distance(const char *a, const char *b, int cap) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 255 || lb > 255)
        return cap + 1;
    if ((la > lb ? la - lb : lb - la) > (size_t)cap)
        return cap + 1;
    int prev[256], cur[256];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int)i;
        int best = cur[0];
        for (size_t j = 1; j <= lb; j++) {
            int sub = prev[j - 1] +
                      (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            int del = prev[j] + 1, ins = cur[j - 1] + 1;
            int m = sub < del ? sub : del;
            cur[j] = m < ins ? m : ins;
            if (cur[j] < best)
                best = cur[j];
        }
        if (best > cap)
            return cap + 1;
        memcpy(prev, cur, (lb + 1) * sizeof(int));
    }
    return prev[lb] > cap ? cap + 1 : prev[lb];
}
