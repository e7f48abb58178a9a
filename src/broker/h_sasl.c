/*
 * h_sasl.c - SaslHandshake v0-1, SaslAuthenticate v0-2, and the SCRAM user
 * APIs DescribeUserScramCredentials v0 / AlterUserScramCredentials v0 (and
 * an empty DescribeClientQuotas v0-1, which kafka-configs.sh --describe
 * --entity-type users asks alongside).
 *
 * The session (r->sasl) is the connection's; it is NULL in unit tests and
 * disabled on PLAINTEXT/SSL listeners, where both SASL requests get
 * ILLEGAL_SASL_STATE as on Kafka.  Handshake v0 switches the connection to
 * raw tokens (server.c).
 */
#include "broker/acl.h"
#include "broker/handlers.h"
#include "broker/sasl.h"
#include "common/log.h"
#include "common/util.h"

#include <openssl/crypto.h>

#include <stdio.h>
#include <string.h>

int kb_h_sasl_handshake(kb_broker *b, kb_req *r, kf_buf *out) {
    kf_rd rd;
    kb_req_body(r, &rd);
    const char *m;
    int32_t ml = kf_rd_str(&rd, 0, &m);
    if (!kf_rd_ok(&rd) || ml < 0)
        return KB_CLOSE;
    kb_sasl_session *s = r->sasl;
    if (!s || !s->enabled) {
        kf_wr_i16(out, KF_ERR_ILLEGAL_SASL_STATE);
        kf_wr_arr(out, 0, 0);
        return KB_OK;
    }
    unsigned enabled = kb_sasl_listener_mechs(b, s->listener);
    if (s->state != KB_SASL_ST_START) {
        kf_warn("sasl", "%s: SaslHandshake in the wrong state; closing", r->peer ? r->peer : "?");
        s->state = KB_SASL_ST_FAILED;
        s->close_after = 1;
        kf_wr_i16(out, KF_ERR_ILLEGAL_SASL_STATE);
        kf_wr_arr(out, 0, 0);
        return KB_OK;
    }
    unsigned bit = kb_sasl_mech_bit(m, (size_t)ml);
    int ok = bit && (enabled & bit);
    kf_wr_i16(out, ok ? KF_ERR_NONE : KF_ERR_UNSUPPORTED_SASL_MECHANISM);
    int n = 0;
    for (unsigned x = 1; x <= KB_SASL_LAST_MECH; x <<= 1)
        n += (enabled & x) != 0;
    kf_wr_arr(out, 0, n);
    for (unsigned x = 1; x <= KB_SASL_LAST_MECH; x <<= 1)
        if (enabled & x)
            kf_wr_cstr(out, 0, kb_sasl_mech_name(x));
    if (!ok) {
        char list[96];
        kb_sasl_mech_list(enabled, list, sizeof(list));
        kf_warn("sasl", "%s: unsupported SASL mechanism requested (enabled: %s); closing",
                r->peer ? r->peer : "?", list);
        s->state = KB_SASL_ST_FAILED;
        s->close_after = 1;
        return KB_OK;
    }
    s->mech = bit;
    s->state = r->api_version == 0 ? KB_SASL_ST_RAW : KB_SASL_ST_AUTH;
    return KB_OK;
}

/* session_lifetime_ms (v1+): 0 (no limit) except for an OAUTHBEARER session,
 * which lasts until its MSK IAM token expires (then the broker closes the
 * connection, server.c). */
static void auth_resp(kb_req *r, kf_buf *out, int16_t err, const char *msg, const uint8_t *tok,
                      size_t len) {
    kf_wr_i16(out, err);
    kf_wr_str(out, r->flex, msg, msg ? (int32_t)strlen(msg) : -1);
    kf_wr_bytes(out, r->flex, tok ? tok : (const uint8_t *)"", (int32_t)len);
    if (r->api_version >= 1) {
        int64_t life = 0;
        const kb_sasl_session *s = r->sasl;
        if (!err && s && s->state == KB_SASL_ST_DONE && s->expires_ms > 0) {
            life = s->expires_ms - kf_wall_ms();
            if (life < 1)
                life = 1;
        }
        kf_wr_i64(out, life);
    }
    kf_wr_tags(out, r->flex);
}

int kb_h_sasl_authenticate(kb_broker *b, kb_req *r, kf_buf *out) {
    kf_rd rd;
    kb_req_body(r, &rd);
    const uint8_t *tok;
    int32_t tl = kf_rd_bytes(&rd, r->flex, &tok);
    kf_rd_tags(&rd, r->flex);
    if (!kf_rd_ok(&rd) || tl < 0)
        return KB_CLOSE;
    kb_sasl_session *s = r->sasl;
    if (!s || !s->enabled) {
        auth_resp(r, out, KF_ERR_ILLEGAL_SASL_STATE, "SASL is not enabled on this listener", NULL,
                  0);
        return KB_OK;
    }
    if (s->state != KB_SASL_ST_AUTH) {
        kf_warn("sasl", "%s: SaslAuthenticate %s; closing", r->peer ? r->peer : "?",
                s->state == KB_SASL_ST_DONE ? "after authentication" : "without SaslHandshake v1");
        auth_resp(r, out, KF_ERR_ILLEGAL_SASL_STATE,
                  s->state == KB_SASL_ST_DONE
                      ? "SaslAuthenticate request received after successful authentication"
                      : "Unexpected SaslAuthenticate request: SaslHandshake v1 must come first",
                  NULL, 0);
        s->state = KB_SASL_ST_FAILED;
        s->close_after = 1;
        return KB_OK;
    }
    kf_buf tokout;
    kf_buf_init(&tokout, KB_SASL_MAX_TOKEN);
    char msg[256];
    if (kb_sasl_step(b, s, tok, (size_t)tl, &tokout, msg, sizeof(msg)) != 0) {
        auth_resp(r, out, KF_ERR_SASL_AUTHENTICATION_FAILED, msg, NULL, 0);
        s->close_after = 1;
    } else {
        auth_resp(r, out, KF_ERR_NONE, NULL, tokout.data, tokout.len);
    }
    kf_buf_free(&tokout);
    return KB_OK;
}

/* ---------------------------------------------------------------------- */
/* SCRAM users                                                             */

static kb_creds *creds_of(kb_broker *b) { return b->sasl ? &b->sasl->creds : NULL; }

/* The credential_infos array of one user: mechanism and iterations. */
static void write_cred_infos(kf_buf *out, const kb_cred_user *u) {
    kf_wr_arr(out, 1, u->have[1] + u->have[2]);
    for (int m = KB_SCRAM_SHA256; m <= KB_SCRAM_SHA512; m++)
        if (u->have[m]) {
            kf_wr_i8(out, (int8_t)m);
            kf_wr_i32(out, u->cred[m].iterations);
            kf_wr_tags(out, 1);
        }
}

int kb_h_describe_user_scram_credentials(kb_broker *b, kb_req *r, kf_buf *out) {
    /* authz: CLUSTER DESCRIBE */
    kf_rd rd;
    kb_req_body(r, &rd);
    int32_t n = kf_rd_arr(&rd, 1, 2);
    const char *names[1024];
    int32_t lens[1024];
    if (n > 1024)
        return KB_CLOSE;
    for (int32_t i = 0; i < n && kf_rd_ok(&rd); i++) {
        lens[i] = kf_rd_str(&rd, 1, &names[i]);
        kf_rd_tags(&rd, 1);
        if (lens[i] < 0)
            return KB_CLOSE;
    }
    kf_rd_tags(&rd, 1);
    if (!kf_rd_ok(&rd))
        return KB_CLOSE;
    kb_creds *cs = creds_of(b);
    kf_wr_i32(out, 0); /* throttle_time_ms */
    if (!kb_authz_cluster(b, r, KB_OP_DESCRIBE)) {
        kf_wr_i16(out, KF_ERR_CLUSTER_AUTHORIZATION_FAILED);
        kf_wr_cstr(out, 1, "Cluster authorization failed.");
        kf_wr_arr(out, 1, 0);
        kf_wr_tags(out, 1);
        return KB_OK;
    }
    kf_wr_i16(out, KF_ERR_NONE);
    kf_wr_str(out, 1, NULL, -1);
    if (n <= 0) {
        size_t cnt = cs ? cs->n : 0;
        kf_wr_arr(out, 1, (int32_t)cnt);
        for (size_t i = 0; i < cnt; i++) {
            const kb_cred_user *u = &cs->v[i];
            kf_wr_cstr(out, 1, u->name);
            kf_wr_i16(out, KF_ERR_NONE);
            kf_wr_str(out, 1, NULL, -1);
            write_cred_infos(out, u);
            kf_wr_tags(out, 1);
        }
        kf_wr_tags(out, 1);
        return KB_OK;
    }
    kf_wr_arr(out, 1, n);
    for (int32_t i = 0; i < n; i++) {
        int dup = 0;
        for (int32_t k = 0; k < n; k++)
            if (k != i && lens[k] == lens[i] && !memcmp(names[k], names[i], (size_t)lens[i]))
                dup = 1;
        const kb_cred_user *u = cs ? kb_creds_user(cs, names[i], (size_t)lens[i]) : NULL;
        kf_wr_str(out, 1, names[i], lens[i]);
        char msg[KB_SASL_MAX_USER + 128];
        if (dup || !u) {
            kf_wr_i16(out, dup ? KF_ERR_DUPLICATE_RESOURCE : KF_ERR_RESOURCE_NOT_FOUND);
            snprintf(msg, sizeof(msg), "%s%.*s",
                     dup ? "Cannot describe SCRAM credentials for the same user twice in a "
                           "single request: "
                         : "Attempt to describe a user credential that does not exist: ",
                     lens[i] > KB_SASL_MAX_USER ? KB_SASL_MAX_USER : (int)lens[i], names[i]);
            kf_wr_cstr(out, 1, msg);
            kf_wr_arr(out, 1, 0);
        } else {
            kf_wr_i16(out, KF_ERR_NONE);
            kf_wr_str(out, 1, NULL, -1);
            write_cred_infos(out, u);
        }
        kf_wr_tags(out, 1);
    }
    kf_wr_tags(out, 1);
    return KB_OK;
}

typedef struct alter_op {
    const char *name;
    int32_t name_len;
    int8_t mech;
    int upsert;
    int32_t iterations;
    const uint8_t *salt, *salted;
    int32_t salt_len, salted_len;
} alter_op;

typedef struct alter_user {
    const char *name;
    int32_t name_len;
    int16_t err;
    const char *msg;
} alter_user;

#define ALTER_MAX 1024

static int same(const char *a, int32_t al, const char *b, int32_t bl) {
    return al == bl && memcmp(a, b, (size_t)al) == 0;
}

int kb_h_alter_user_scram_credentials(kb_broker *b, kb_req *r, kf_buf *out) {
    /* authz: CLUSTER ALTER */
    static alter_op ops[ALTER_MAX];
    static alter_user users[ALTER_MAX];
    size_t nops = 0, nusers = 0;
    kf_rd rd;
    kb_req_body(r, &rd);
    for (int list = 0; list < 2; list++) {
        int32_t n = kf_rd_arr(&rd, 1, list ? 12 : 3);
        if (n < 0 || (size_t)n > ALTER_MAX - nops)
            return KB_CLOSE;
        for (int32_t i = 0; i < n && kf_rd_ok(&rd); i++) {
            alter_op *o = &ops[nops++];
            memset(o, 0, sizeof(*o));
            o->upsert = list;
            o->name_len = kf_rd_str(&rd, 1, &o->name);
            o->mech = kf_rd_i8(&rd);
            if (list) {
                o->iterations = kf_rd_i32(&rd);
                o->salt_len = kf_rd_bytes(&rd, 1, &o->salt);
                o->salted_len = kf_rd_bytes(&rd, 1, &o->salted);
            }
            kf_rd_tags(&rd, 1);
            if (o->name_len < 0 || o->salt_len < 0 || o->salted_len < 0)
                return KB_CLOSE;
        }
    }
    kf_rd_tags(&rd, 1);
    if (!kf_rd_ok(&rd))
        return KB_CLOSE;
    /* One result per user, in order of first appearance. */
    for (size_t i = 0; i < nops; i++) {
        size_t k = 0;
        while (k < nusers && !same(users[k].name, users[k].name_len, ops[i].name, ops[i].name_len))
            k++;
        if (k == nusers)
            users[nusers++] = (alter_user){ops[i].name, ops[i].name_len, KF_ERR_NONE, NULL};
    }
    if (!kb_authz_cluster(b, r, KB_OP_ALTER))
        for (size_t k = 0; k < nusers; k++) {
            users[k].err = KF_ERR_CLUSTER_AUTHORIZATION_FAILED;
            users[k].msg = "Cluster authorization failed.";
        }
    /* Validate: any bad operation fails its whole user. */
    for (size_t i = 0; i < nops; i++) {
        alter_op *o = &ops[i];
        alter_user *u = users;
        while (!same(u->name, u->name_len, o->name, o->name_len))
            u++;
        if (u->err)
            continue;
        int16_t e = KF_ERR_NONE;
        const char *msg = NULL;
        for (size_t k = 0; k < nops; k++)
            if (k != i && ops[k].mech == o->mech &&
                same(ops[k].name, ops[k].name_len, o->name, o->name_len)) {
                e = KF_ERR_DUPLICATE_RESOURCE;
                msg = "A user credential cannot be altered twice in the same request";
            }
        size_t hl = kb_scram_hash_len(o->mech);
        if (e) {
        } else if (o->name_len == 0) {
            e = KF_ERR_UNACCEPTABLE_CREDENTIAL;
            msg = "Username must not be empty";
        } else if (o->name_len > KB_SASL_MAX_USER || memchr(o->name, '\0', (size_t)o->name_len)) {
            e = KF_ERR_UNACCEPTABLE_CREDENTIAL;
            msg = "Username too long or not printable";
        } else if (!hl) {
            e = KF_ERR_UNSUPPORTED_SASL_MECHANISM;
            msg = "Unknown SCRAM mechanism";
        } else if (!o->upsert) {
            kb_creds *cs = creds_of(b);
            if (!cs || !kb_creds_find(cs, o->name, (size_t)o->name_len, o->mech)) {
                e = KF_ERR_RESOURCE_NOT_FOUND;
                msg = "Attempt to delete a user credential that does not exist";
            }
        } else if (o->iterations < KB_SCRAM_MIN_ITER) {
            e = KF_ERR_UNACCEPTABLE_CREDENTIAL;
            msg = "Too few iterations";
        } else if (o->iterations > KB_SCRAM_MAX_ITER) {
            e = KF_ERR_UNACCEPTABLE_CREDENTIAL;
            msg = "Too many iterations";
        } else if (o->salt_len == 0 || o->salt_len > KB_SCRAM_MAX_SALT ||
                   (size_t)o->salted_len != hl) {
            e = KF_ERR_UNACCEPTABLE_CREDENTIAL;
            msg = "Invalid salt or salted password";
        }
        if (e) {
            u->err = e;
            u->msg = msg;
        }
    }
    kb_creds *cs = creds_of(b);
    int changed = 0;
    for (size_t i = 0; i < nops && cs; i++) {
        alter_op *o = &ops[i];
        alter_user *u = users;
        while (!same(u->name, u->name_len, o->name, o->name_len))
            u++;
        if (u->err)
            continue;
        if (!o->upsert) {
            kb_creds_delete(cs, o->name, (size_t)o->name_len, o->mech);
            changed = 1;
            continue;
        }
        kb_scram_cred c;
        if (kb_scram_cred_from_salted(o->mech, o->iterations, o->salt, (size_t)o->salt_len,
                                      o->salted, (size_t)o->salted_len, &c) != 0 ||
            kb_creds_set(cs, o->name, (size_t)o->name_len, &c) != 0) {
            u->err = KF_ERR_UNKNOWN_SERVER_ERROR;
            u->msg = "Cannot store the credential";
        } else {
            changed = 1;
        }
        OPENSSL_cleanse(&c, sizeof(c));
    }
    if (changed && kb_creds_save(cs) != 0) {
        char err[256];
        kf_err("sasl", "cannot write %s; SCRAM changes not applied", cs->path);
        if (kb_creds_reload(cs, err, sizeof(err)) != 0)
            kf_err("sasl", "%s", err);
        for (size_t k = 0; k < nusers; k++)
            if (!users[k].err) {
                users[k].err = KF_ERR_KAFKA_STORAGE_ERROR;
                users[k].msg = "Cannot write the credential store";
            }
    } else if (!cs) {
        for (size_t k = 0; k < nusers; k++)
            if (!users[k].err) {
                users[k].err = KF_ERR_UNKNOWN_SERVER_ERROR;
                users[k].msg = "No credential store";
            }
    }
    for (size_t k = 0; k < nusers; k++)
        if (!users[k].err)
            kf_info("sasl", "%s altered SCRAM credentials of user %.*s",
                    r->principal ? r->principal : "User:ANONYMOUS", (int)users[k].name_len,
                    users[k].name);
    kf_wr_i32(out, 0); /* throttle_time_ms */
    kf_wr_arr(out, 1, (int32_t)nusers);
    for (size_t k = 0; k < nusers; k++) {
        kf_wr_str(out, 1, users[k].name, users[k].name_len);
        kf_wr_i16(out, users[k].err);
        kf_wr_str(out, 1, users[k].msg, users[k].msg ? (int32_t)strlen(users[k].msg) : -1);
        kf_wr_tags(out, 1);
    }
    kf_wr_tags(out, 1);
    return KB_OK;
}

/* DescribeClientQuotas v0-1: kferry-broker has no quotas; the answer is an
 * empty list (what Kafka answers when none are set). */
int kb_h_describe_client_quotas(kb_broker *b, kb_req *r, kf_buf *out) {
    kf_rd rd;
    kb_req_body(r, &rd);
    int32_t n = kf_rd_arr(&rd, r->flex, 3);
    for (int32_t i = 0; i < n && kf_rd_ok(&rd); i++) {
        const char *s;
        kf_rd_str(&rd, r->flex, &s); /* entity_type */
        kf_rd_i8(&rd);               /* match_type */
        kf_rd_str(&rd, r->flex, &s); /* match */
        kf_rd_tags(&rd, r->flex);
    }
    kf_rd_i8(&rd); /* strict */
    kf_rd_tags(&rd, r->flex);
    if (!kf_rd_ok(&rd) || n < 0)
        return KB_CLOSE;
    int denied = !kb_authz_cluster(b, r, KB_OP_DESCRIBE_CONFIGS);
    kf_wr_i32(out, 0);
    kf_wr_i16(out, denied ? KF_ERR_CLUSTER_AUTHORIZATION_FAILED : KF_ERR_NONE);
    kf_wr_cstr(out, r->flex, denied ? "Cluster authorization failed." : NULL);
    kf_wr_arr(out, r->flex, 0);
    kf_wr_tags(out, r->flex);
    return KB_OK;
}
