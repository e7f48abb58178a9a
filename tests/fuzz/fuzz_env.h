/*
 * fuzz_env.h - the set-up the broker-core harnesses share: a scratch data
 * directory (on tmpfs when there is one, so fsyncs and directory churn cost
 * nothing) and the broker's log silenced unless KFERRY_FUZZ_LOG is set
 * (malformed input is the point; its log lines are noise).
 */
#ifndef KF_FUZZ_ENV_H
#define KF_FUZZ_ENV_H

#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Creates $TMPDIR (else /dev/shm, else /tmp)/kferry-fuzz-<name>-XXXXXX into
 * dir; aborts when it cannot. */
static inline void fuzz_env_init(char *dir, size_t len, const char *name) {
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, len, "%s/kferry-fuzz-%s-XXXXXX", tmp, name);
    if (!mkdtemp(dir)) {
        fprintf(stderr, "fuzz_%s: mkdtemp %s failed\n", name, dir);
        abort();
    }
    if (!getenv("KFERRY_FUZZ_LOG"))
        kf_log_set_level(KF_LOG_ERR - 1);
}

#endif
