/*
 * fuzz_creds.c - libFuzzer harness for the SCRAM credential store loader:
 * arbitrary bytes as <data-dir>/kferry-meta/scram-credentials, read the way
 * the broker reads it at start-up (kb_creds_parse, the body of
 * kb_creds_open / kb_creds_reload).
 *
 * Oracles: a refusal has a message and never names a password (there is
 * none in the file; the message must not echo entry bytes either, checked
 * by requiring the fixed forms); a store that loads has only sane entries
 * (user 1..KB_SASL_MAX_USER bytes without NUL, unique names, at least one
 * mechanism, mechanism byte equal to its slot, iterations in
 * KB_SCRAM_MIN_ITER..KB_SCRAM_MAX_ITER, salt 1..KB_SCRAM_MAX_SALT bytes);
 * and saving it (kb_creds_save into a tmpfs directory made once) and
 * loading the file back gives the same users and credentials.
 */
#include "fuzz_env.h"
#include "broker/creds.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char g_dir[4096];
static kb_creds g_round; /* opened once: its path is the file kb_creds_save writes */

static void cleanup(void) {
    kb_creds_close(&g_round);
    kf_rmtree(g_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    char err[512];
    fuzz_env_init(g_dir, sizeof(g_dir), "creds");
    if (kb_creds_open(&g_round, g_dir, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_creds: open: %s\n", err);
        abort();
    }
    atexit(cleanup);
    return 0;
}

static void die(const char *what) {
    fprintf(stderr, "fuzz_creds: %s\n", what);
    abort();
}

static void check_sane(const kb_creds *cs) {
    for (size_t i = 0; i < cs->n; i++) {
        const kb_cred_user *u = &cs->v[i];
        size_t nl = strnlen(u->name, sizeof(u->name));
        if (nl == 0 || nl > KB_SASL_MAX_USER)
            die("user name empty or too long");
        if (!u->have[KB_SCRAM_SHA256] && !u->have[KB_SCRAM_SHA512])
            die("user without any credential");
        if (u->have[0])
            die("credential in the unknown-mechanism slot");
        for (size_t k = 0; k < i; k++)
            if (!strcmp(cs->v[k].name, u->name))
                die("user listed twice");
        for (int m = KB_SCRAM_SHA256; m <= KB_SCRAM_SHA512; m++) {
            if (!u->have[m])
                continue;
            const kb_scram_cred *c = &u->cred[m];
            if (c->mech != m || !kb_scram_hash_len(c->mech))
                die("mechanism byte does not match its slot");
            if (c->iterations < KB_SCRAM_MIN_ITER || c->iterations > KB_SCRAM_MAX_ITER)
                die("iterations out of range");
            if (c->salt_len == 0 || c->salt_len > KB_SCRAM_MAX_SALT)
                die("salt length out of range");
            if (kb_creds_find(cs, u->name, nl, m) != c)
                die("kb_creds_find does not find a loaded credential");
        }
    }
}

static int same_cred(const kb_scram_cred *a, const kb_scram_cred *b) {
    size_t hl = kb_scram_hash_len(a->mech);
    return a->mech == b->mech && a->iterations == b->iterations && a->salt_len == b->salt_len &&
           !memcmp(a->salt, b->salt, a->salt_len) && !memcmp(a->stored_key, b->stored_key, hl) &&
           !memcmp(a->server_key, b->server_key, hl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    kb_creds cs;
    memset(&cs, 0, sizeof(cs));
    kf_strlcpy(cs.path, g_round.path, sizeof(cs.path));
    char err[8192] = "";
    /* An exact-size heap copy so ASan flags any read past the file. */
    uint8_t *img = malloc(size ? size : 1);
    if (!img)
        die("out of memory");
    memcpy(img, data, size);
    int rc = kb_creds_parse(&cs, img, size, err, sizeof(err));
    free(img);
    if (rc != 0) {
        if (!err[0])
            die("a refused file without a message");
        if (!strstr(err, cs.path) && !strstr(err, "credential file"))
            die("the message does not name the file");
        if (!strstr(err, "bad magic") && !strstr(err, "truncated entry at offset") &&
            !strstr(err, "corrupt entry at offset") && !strstr(err, "invalid credential entry"))
            die("an unexpected refusal message (it may echo file bytes)");
        kb_creds_close(&cs);
        return 0;
    }
    check_sane(&cs);
    /* Save and load back: the same users, the same credentials. */
    if (kb_creds_save(&cs) != 0)
        die("kb_creds_save failed");
    if (kb_creds_reload(&g_round, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_creds: a saved store does not load back: %s\n", err);
        abort();
    }
    check_sane(&g_round);
    if (g_round.n != cs.n)
        die("a different number of users after save and load");
    for (size_t i = 0; i < cs.n; i++) {
        const kb_cred_user *a = &cs.v[i];
        const kb_cred_user *b = kb_creds_user(&g_round, a->name, strlen(a->name));
        if (!b)
            die("a user lost by save and load");
        for (int m = KB_SCRAM_SHA256; m <= KB_SCRAM_SHA512; m++)
            if (a->have[m] != b->have[m] || (a->have[m] && !same_cred(&a->cred[m], &b->cred[m])))
                die("a credential changed by save and load");
    }
    kb_creds_close(&cs);
    return 0;
}
