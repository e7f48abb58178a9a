/*
 * creds.h - the SCRAM credential store: <data-dir>/kferry-meta/scram-credentials.
 *
 * Holds per user and mechanism what Kafka holds (salt, iterations,
 * StoredKey, ServerKey), never a password.  The file is small and changes
 * rarely, so every change rewrites it whole (temp file, fsync, rename): a
 * crash leaves the old or the new version.  Entries are framed like the
 * broker's other journals (length, CRC-32C, payload); a file that fails its
 * checks stops the broker with an error naming it, rather than silently
 * losing users.
 */
#ifndef KB_CREDS_H
#define KB_CREDS_H

#include "broker/scram.h"

#include <stddef.h>

#define KB_CREDS_FILE "scram-credentials"

typedef struct kb_cred_user {
    char name[KB_SASL_MAX_USER + 1];
    int have[3]; /* indexed by mechanism byte (1, 2) */
    kb_scram_cred cred[3];
} kb_cred_user;

typedef struct kb_creds {
    char path[4200];
    kb_cred_user *v;
    size_t n, cap;
} kb_creds;

/* Loads the store of data_dir (absent = empty). 0 or -1 with err. */
int kb_creds_open(kb_creds *cs, const char *data_dir, char *err, size_t errlen);
void kb_creds_close(kb_creds *cs);
/* The credential of user (len bytes) for mech, or NULL. */
const kb_scram_cred *kb_creds_find(const kb_creds *cs, const char *user, size_t len, int mech);
const kb_cred_user *kb_creds_user(const kb_creds *cs, const char *user, size_t len);
/* In memory only; kb_creds_save makes changes durable. 0 or -1 (memory). */
int kb_creds_set(kb_creds *cs, const char *user, size_t len, const kb_scram_cred *c);
/* 0 removed, 1 not there. */
int kb_creds_delete(kb_creds *cs, const char *user, size_t len, int mech);
/* Writes the whole store atomically. 0 or -1 (errno). */
int kb_creds_save(kb_creds *cs);
/* Drops in-memory changes: reloads the file. 0 or -1. */
int kb_creds_reload(kb_creds *cs, char *err, size_t errlen);

/* Parses a store image (the fuzzer's entry point too). 0 or -1 with err. */
int kb_creds_parse(kb_creds *cs, const uint8_t *data, size_t len, char *err, size_t errlen);

#endif
