/*
 * fuzz_sasl.c - libFuzzer harness for the broker's SASL server session:
 * kb_sasl_step driven by a script of client tokens, as an unauthenticated
 * client feeds it through SaslAuthenticate or raw (SaslHandshake v0) tokens.
 *
 * Input: [u8 flags][u8 tamper position][u8 tamper xor], then tokens as
 * [u16 length][bytes] (length 0xffff = a token one byte over
 * KB_SASL_MAX_TOKEN, filled from the rest of the input).  Flags:
 *   bits 0-1  mechanism: 1 SCRAM-SHA-256, 2 SCRAM-SHA-512, else PLAIN
 *   bit 2     SCRAM credentials exist for user "u" (password SCRAM_PW)
 *   bit 3     a JAAS PLAIN user "u" exists (password JAAS_PW)
 *   bit 4     raw-token state (SaslHandshake v0) instead of SaslAuthenticate
 *   bit 5     proof mode: after a server-first-message the harness answers
 *             with a correct client-final-message it computes itself
 *   bit 6     tamper: XOR one byte of that computed message
 *   bit 7     repeat the client nonce in front of the combined one (what
 *             librdkafka 2.0.2 sends; the server accepts it)
 * Bit 0 of the tamper-xor byte (the xor is always odd): request mode, the
 * way a client reaches the session through h_sasl.c: a SaslHandshake
 * request (v0 when bit 4 is set, else v1) picks the mechanism, and in
 * SaslAuthenticate state every token goes in a SaslAuthenticate request
 * (versions 0, 1, 2 in turn) whose response gives the outcome; raw tokens
 * go to kb_sasl_step as server.c's raw_sasl_token passes them.
 *
 * The four broker configurations are built once, in memory only (no data
 * directory: kb_sasl_step reads only b->sasl).  Oracles, after every step:
 * a failure leaves state FAILED, no SCRAM state, and one of the fixed
 * error messages (so no byte of a token, a password in particular, can be
 * in it); PLAIN succeeds exactly when the token names "u" with the right
 * password; SCRAM succeeds only in proof mode, and there always when the
 * computed message was not tampered with; the server-first-message carries
 * the client's nonce, the credential's salt and iterations; the session's
 * buffers never exceed their caps (KB_SASL_MAX_TOKEN for the client's
 * first message).  KFERRY_FUZZ_TRACE=1 prints one line per step.
 */
#include "broker/dispatch.h"
#include "broker/handlers.h"
#include "broker/sasl.h"
#include "common/log.h"
#include "proto/wire.h"
#include "common/util.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCRAM_PW "scram-secret-pw"
#define JAAS_PW "jaas-secret-pw"
#define ITER 4096
#define MAX_TOKENS 8

static int g_trace;      /* KFERRY_FUZZ_TRACE: one line per step */
static kb_broker g_b[4]; /* index: creds bit | jaas bit << 1 */
static uint8_t g_salted[3][KB_SCRAM_MAX_HASH];
static const uint8_t g_salt[16] = "kferry-fuzz-salt";

static void die(const char *what) {
    fprintf(stderr, "fuzz_sasl: %s\n", what);
    abort();
}

static void setup(kb_broker *b, int creds, int jaas) {
    kb_sasl *s = calloc(1, sizeof(*s));
    if (!s)
        die("out of memory");
    s->mechs = KB_SASL_ALL_MECHS;
    s->auth_timeout_ms = 30000;
    if (jaas) {
        s->plain = calloc(1, sizeof(*s->plain));
        if (!s->plain)
            die("out of memory");
        s->plain[0].name = kf_strdup("u");
        s->plain[0].pass = kf_strdup(JAAS_PW);
        s->nplain = 1;
    }
    if (creds)
        for (int m = KB_SCRAM_SHA256; m <= KB_SCRAM_SHA512; m++) {
            kb_scram_cred c;
            if (kb_scram_cred_from_salted(m, ITER, g_salt, sizeof(g_salt), g_salted[m],
                                          kb_scram_hash_len(m), &c) != 0 ||
                kb_creds_set(&s->creds, "u", 1, &c) != 0)
                die("cannot build the credential");
        }
    b->sasl = s;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    if (!getenv("KFERRY_FUZZ_LOG"))
        kf_log_set_level(KF_LOG_ERR - 1);
    g_trace = getenv("KFERRY_FUZZ_TRACE") != NULL;
    for (int m = KB_SCRAM_SHA256; m <= KB_SCRAM_SHA512; m++)
        if (kb_scram_salt_password(m, SCRAM_PW, strlen(SCRAM_PW), g_salt, sizeof(g_salt), ITER,
                                   g_salted[m]) != 0)
            die("PBKDF2 failed");
    for (int i = 0; i < 4; i++)
        setup(&g_b[i], i & 1, (i >> 1) & 1);
    return 0;
}

static const EVP_MD *md_of(int mech) {
    return mech == KB_SCRAM_SHA256 ? EVP_sha256() : EVP_sha512();
}

static void b64(const uint8_t *p, size_t n, kf_buf *out) {
    if (kb_b64_encode(p, n, out) != 0)
        die("base64");
}

/* The client-final-message for SCRAM_PW, computed here from the session's
 * copies of the GS2 header and client-first-bare and the server-first the
 * server sent; expected_sig gets the ServerSignature base64 ("v=..."). */
static void client_final(int mech, const kb_scram_server *ss, const kf_buf *server_first,
                         int repeat_nonce, kf_buf *out, kf_buf *expected_sig) {
    size_t hl = kb_scram_hash_len(mech);
    const char *sf = (const char *)server_first->data;
    if (server_first->len < 2 || memcmp(sf, "r=", 2) != 0)
        die("server-first-message does not start with r=");
    const char *comma = memchr(sf, ',', server_first->len);
    if (!comma)
        die("server-first-message has no salt");
    kf_buf wp;
    kf_buf_init(&wp, 0);
    kf_buf_append(&wp, "c=", 2);
    b64(ss->gs2.data, ss->gs2.len, &wp);
    kf_buf_append(&wp, ",r=", 3);
    if (repeat_nonce) /* librdkafka 2.0.2: the client nonce once more in front */
        kf_buf_append(&wp, ss->nonce.data, ss->nonce.len > 8 ? 8 : ss->nonce.len);
    kf_buf_append(&wp, sf + 2, (size_t)(comma - sf - 2));
    kf_buf am;
    kf_buf_init(&am, 0);
    kf_buf_append(&am, ss->client_bare.data, ss->client_bare.len);
    kf_buf_append(&am, ",", 1);
    kf_buf_append(&am, server_first->data, server_first->len);
    kf_buf_append(&am, ",", 1);
    kf_buf_append(&am, wp.data, wp.len);
    uint8_t ck[KB_SCRAM_MAX_HASH], stored[KB_SCRAM_MAX_HASH], sig[KB_SCRAM_MAX_HASH],
        skey[KB_SCRAM_MAX_HASH], ssig[KB_SCRAM_MAX_HASH];
    unsigned int l = 0;
    if (!kf_buf_ok(&wp) || !kf_buf_ok(&am) ||
        !HMAC(md_of(mech), g_salted[mech], (int)hl, (const uint8_t *)"Client Key", 10, ck, &l) ||
        !EVP_Digest(ck, hl, stored, &l, md_of(mech), NULL) ||
        !HMAC(md_of(mech), stored, (int)hl, am.data, am.len, sig, &l) ||
        !HMAC(md_of(mech), g_salted[mech], (int)hl, (const uint8_t *)"Server Key", 10, skey, &l) ||
        !HMAC(md_of(mech), skey, (int)hl, am.data, am.len, ssig, &l))
        die("client proof");
    for (size_t i = 0; i < hl; i++)
        ck[i] ^= sig[i];
    kf_buf_append(out, wp.data, wp.len);
    kf_buf_append(out, ",p=", 3);
    b64(ck, hl, out);
    kf_buf_append(expected_sig, "v=", 2);
    b64(ssig, hl, expected_sig);
    kf_buf_free(&wp);
    kf_buf_free(&am);
}

/* One request through a handler, as kb_dispatch would run it: the frame is
 * header v1 (v2 when flexible) + body; the handler writes the body. */
static int run_handler(int (*h)(kb_broker *, kb_req *, kf_buf *), kb_broker *b, kb_sasl_session *s,
                       int16_t key, int16_t ver, const kf_buf *body, kf_buf *out,
                       int16_t *version) {
    kf_buf f;
    kf_buf_init(&f, 0);
    int flex = key == KF_API_SASL_AUTHENTICATE && ver >= 2;
    kf_wr_i16(&f, key);
    kf_wr_i16(&f, ver);
    kf_wr_i32(&f, 7);
    kf_wr_cstr(&f, 0, "fuzz");
    kf_wr_tags(&f, flex);
    kf_buf_append(&f, body->data, body->len);
    if (!kf_buf_ok(&f))
        die("out of memory");
    kb_req r;
    memset(&r, 0, sizeof(r));
    r.frame = malloc(f.len); /* exact size: ASan flags reads past the frame */
    if (!r.frame)
        die("out of memory");
    memcpy(r.frame, f.data, f.len);
    r.frame_len = f.len;
    r.peer = "fuzz:1";
    r.principal = "User:ANONYMOUS";
    r.sasl = s;
    char why[256];
    if (kb_req_parse_header(&r, why, sizeof(why)) != 0)
        die(why);
    int rc = h(b, &r, out);
    *version = r.api_version;
    free(r.frame);
    kf_buf_free(&f);
    return rc;
}

/* SaslHandshake for the session's mechanism: must be accepted. */
static void handshake(kb_broker *b, kb_sasl_session *s, unsigned mech, int raw) {
    kf_buf body, out;
    kf_buf_init(&body, 0);
    kf_buf_init(&out, 0);
    kf_wr_cstr(&body, 0, kb_sasl_mech_name(mech));
    int16_t v;
    if (run_handler(kb_h_sasl_handshake, b, s, KF_API_SASL_HANDSHAKE, raw ? 0 : 1, &body, &out,
                    &v) != KB_OK)
        die("SaslHandshake not answered");
    kf_rd rd;
    kf_rd_init(&rd, out.data, out.len);
    int16_t err = kf_rd_i16(&rd);
    int32_t n = kf_rd_arr(&rd, 0, 2);
    if (!kf_rd_ok(&rd) || err != KF_ERR_NONE || n != 3 || s->mech != mech ||
        s->state != (raw ? KB_SASL_ST_RAW : KB_SASL_ST_AUTH))
        die("SaslHandshake for an enabled mechanism refused");
    kf_buf_free(&body);
    kf_buf_free(&out);
}

/* One token in a SaslAuthenticate request; the response's error code,
 * message and token are returned like kb_sasl_step's. *code gets the
 * error code. */
static int authenticate(kb_broker *b, kb_sasl_session *s, const uint8_t *tok, size_t len,
                        int16_t ver, kf_buf *tokout, char *errmsg, size_t errlen, int16_t *code) {
    kf_buf body, out;
    kf_buf_init(&body, 0);
    kf_buf_init(&out, 0);
    int flex = ver >= 2;
    kf_wr_bytes(&body, flex, tok, (int32_t)len);
    kf_wr_tags(&body, flex);
    int16_t v;
    if (run_handler(kb_h_sasl_authenticate, b, s, KF_API_SASL_AUTHENTICATE, ver, &body, &out, &v) !=
        KB_OK)
        die("SaslAuthenticate not answered");
    kf_rd rd;
    kf_rd_init(&rd, out.data, out.len);
    *code = kf_rd_i16(&rd);
    const char *m;
    int32_t ml = kf_rd_str(&rd, flex, &m);
    const uint8_t *t;
    int32_t tl = kf_rd_bytes(&rd, flex, &t);
    if (ver >= 1)
        kf_rd_i64(&rd);
    kf_rd_tags(&rd, flex);
    if (!kf_rd_ok(&rd) || kf_rd_left(&rd) != 0 || tl < 0)
        die("malformed SaslAuthenticate response");
    if ((*code == KF_ERR_NONE) != (ml < 0))
        die("SaslAuthenticate: an error without a message or a message without an error");
    if (ml >= 0)
        snprintf(errmsg, errlen, "%.*s", (int)ml, m);
    kf_buf_append(tokout, t, (size_t)tl);
    if (*code != KF_ERR_NONE && (tl != 0 || !s->close_after))
        die("SaslAuthenticate error with a token or without closing");
    kf_buf_free(&body);
    kf_buf_free(&out);
    return *code == KF_ERR_NONE ? 0 : -1;
}

/* Whether PLAIN must accept tok: exactly "[authzid] NUL u NUL password"
 * with authzid empty or "u" and the password of the configuration (a JAAS
 * user shadows the SCRAM credential of the same name). */
static int plain_should_pass(const uint8_t *tok, size_t len, int creds, int jaas) {
    const char *pw = jaas ? JAAS_PW : creds ? SCRAM_PW : NULL;
    if (!pw)
        return 0;
    size_t pl = strlen(pw);
    if (len == 3 + pl && !memcmp(tok, "\0u\0", 3) && !memcmp(tok + 3, pw, pl))
        return 1;
    if (len == 4 + pl && !memcmp(tok, "u\0u\0", 4) && !memcmp(tok + 4, pw, pl))
        return 1;
    return 0;
}

static void check_buf(const kf_buf *b, size_t bound, const char *what) {
    if (b->len > bound || b->cap > bound || (b->max && b->cap > b->max)) {
        fprintf(stderr, "fuzz_sasl: %s holds %zu bytes (cap %zu), bound %zu\n", what, b->len,
                b->cap, bound);
        abort();
    }
}

/* The only message a failed step may give: fixed text naming the mechanism. */
static void check_errmsg(const kb_sasl_session *s, const char *errmsg) {
    char want[256];
    const char *m = kb_sasl_mech_name(s->mech);
    snprintf(want, sizeof(want),
             "Authentication failed during authentication due to invalid credentials with SASL "
             "mechanism %s",
             m ? m : "?");
    if (strcmp(errmsg, want) != 0) {
        fprintf(stderr, "fuzz_sasl: unexpected error message '%s'\n", errmsg);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3)
        return 0;
    uint8_t flags = data[0], tpos = data[1], txor = data[2] | 1;
    unsigned mechsel = flags & 3;
    unsigned mech = mechsel == 1   ? KB_SASL_SCRAM256
                    : mechsel == 2 ? KB_SASL_SCRAM512
                                   : KB_SASL_PLAIN;
    int creds = (flags >> 2) & 1, jaas = (flags >> 3) & 1, raw = (flags >> 4) & 1;
    int proof = (flags >> 5) & 1, tamper = (flags >> 6) & 1, repeat = (flags >> 7) & 1;
    int smech = mech == KB_SASL_SCRAM256 ? KB_SCRAM_SHA256 : KB_SCRAM_SHA512;
    int reqmode = data[2] & 1;
    kb_broker *b = &g_b[creds | (jaas << 1)];

    char principal[KB_SASL_MAX_USER + 16] = "";
    kb_sasl_session s;
    kb_sasl_session_init(&s, 1, "sasl_plaintext", principal, sizeof(principal), 0);
    if (reqmode) {
        handshake(b, &s, mech, raw);
    } else {
        s.mech = mech;
        s.state = raw ? KB_SASL_ST_RAW : KB_SASL_ST_AUTH;
    }

    size_t pos = 3;
    int ntok = 0, scram_step = 0, computed = 0, computed_clean = 0;
    uint8_t *big = NULL;
    kf_buf mine, expected_sig, server_first;
    kf_buf_init(&mine, 0);
    kf_buf_init(&expected_sig, 0);
    kf_buf_init(&server_first, 0);
    while (ntok < MAX_TOKENS) {
        const uint8_t *tok;
        size_t len;
        int ended = s.state == KB_SASL_ST_DONE || s.state == KB_SASL_ST_FAILED;
        computed = 0;
        if (!ended && mech != KB_SASL_PLAIN && proof && scram_step == 1) {
            /* Answer the server-first-message ourselves. */
            kf_buf_reset(&mine);
            kf_buf_reset(&expected_sig);
            client_final(smech, &s.scram, &server_first, repeat, &mine, &expected_sig);
            computed = 1;
            computed_clean = !tamper;
            if (tamper && mine.len)
                mine.data[(size_t)tpos * mine.len / 256] ^= txor;
            tok = mine.data;
            len = mine.len;
        } else {
            if (size - pos < 2)
                break;
            len = (size_t)data[pos] << 8 | data[pos + 1];
            pos += 2;
            if (len == 0xffff) {
                /* One byte over the limit: must be refused before parsing. */
                len = KB_SASL_MAX_TOKEN + 1;
                free(big);
                big = malloc(len);
                if (!big)
                    die("out of memory");
                memset(big, 'A', len);
                memcpy(big, data + pos, size - pos < len ? size - pos : len);
                pos = size;
                tok = big;
            } else {
                if (len > size - pos)
                    len = size - pos;
                tok = data + pos;
                pos += len;
            }
        }
        ntok++;
        kf_buf out;
        kf_buf_init(&out, KB_SASL_MAX_TOKEN);
        char errmsg[256] = "";
        int rc;
        int16_t code = 0;
        if (reqmode && !raw)
            rc = authenticate(b, &s, tok, len, (int16_t)(ntok % 3), &out, errmsg, sizeof(errmsg),
                              &code);
        else
            rc = kb_sasl_step(b, &s, tok, len, &out, errmsg, sizeof(errmsg));
        if (g_trace)
            fprintf(stderr, "trace: %s token %d (%zu bytes%s) -> rc %d state %d %s\n",
                    kb_sasl_mech_name(mech), ntok, len, computed ? ", computed" : "", rc, s.state,
                    rc ? errmsg : "");
        if (ended) {
            /* A token after the end is refused with the state named. */
            if (rc != -1 || s.state != KB_SASL_ST_FAILED ||
                (reqmode && !raw ? code != KF_ERR_ILLEGAL_SASL_STATE
                                 : strncmp(errmsg, "Unexpected SASL", 15) != 0))
                die("a token after the end of the exchange was not refused");
            kf_buf_free(&out);
            break;
        }
        if (!kf_buf_ok(&out))
            die("server token over KB_SASL_MAX_TOKEN");
        if (rc != 0 && reqmode && !raw && code != KF_ERR_SASL_AUTHENTICATION_FAILED)
            die("SaslAuthenticate failed with an unexpected error code");
        if (rc != 0) {
            if (s.state != KB_SASL_ST_FAILED || s.scram_live || !errmsg[0])
                die("failure did not leave state FAILED, no SCRAM state and a message");
            check_errmsg(&s, errmsg);
            if (strstr(errmsg, SCRAM_PW) || strstr(errmsg, JAAS_PW))
                die("a password in the error message");
        } else if (len > KB_SASL_MAX_TOKEN) {
            die("a token over KB_SASL_MAX_TOKEN was accepted");
        }
        if (mech == KB_SASL_PLAIN) {
            int want = len <= KB_SASL_MAX_TOKEN && plain_should_pass(tok, len, creds, jaas);
            if (want != (rc == 0)) {
                fprintf(stderr, "fuzz_sasl: PLAIN %s a token it should %s\n",
                        rc == 0 ? "accepted" : "refused", rc == 0 ? "refuse" : "accept");
                abort();
            }
            if (rc == 0 &&
                (s.state != KB_SASL_ST_DONE || strcmp(principal, "User:u") != 0 || out.len != 0))
                die("PLAIN success without DONE, principal User:u and an empty token");
        } else if (rc == 0) {
            scram_step++;
            if (scram_step == 1) {
                /* server-first: only user u with credentials gets here. */
                if (!creds || strcmp(s.scram.cf.user, "u") != 0 || s.state == KB_SASL_ST_DONE)
                    die("server-first-message for a user without credentials");
                if (!s.scram_live)
                    die("no SCRAM state after client-first");
                check_buf(&s.scram.client_bare, KB_SASL_MAX_TOKEN, "client-first-bare copy");
                check_buf(&s.scram.gs2, 4096, "GS2 header copy");
                check_buf(&s.scram.nonce, 4096, "nonce copy");
                check_buf(&s.scram.server_first, 4096, "server-first copy");
                if (s.scram.nonce.len > 512 + 32)
                    die("combined nonce longer than client (512) + server (32) parts");
                kf_buf sfx;
                kf_buf_init(&sfx, 0);
                kf_buf_append(&sfx, ",s=", 3);
                b64(g_salt, sizeof(g_salt), &sfx);
                kf_buf_append(&sfx, ",i=4096", 7);
                if (out.len < 2 + s.scram.nonce.len + sfx.len || memcmp(out.data, "r=", 2) ||
                    memcmp(out.data + 2, s.scram.nonce.data, s.scram.nonce.len) ||
                    memcmp(out.data + out.len - sfx.len, sfx.data, sfx.len) ||
                    out.len != 2 + s.scram.nonce.len + sfx.len)
                    die("server-first-message is not r=NONCE,s=SALT,i=4096");
                kf_buf_free(&sfx);
                kf_buf_reset(&server_first);
                kf_buf_append(&server_first, out.data, out.len);
            } else {
                if (!computed)
                    die("SCRAM succeeded with a proof the harness did not compute");
                if (s.state != KB_SASL_ST_DONE || s.scram_live || strcmp(principal, "User:u"))
                    die("SCRAM success without DONE and principal User:u");
                if (computed_clean && (out.len != expected_sig.len ||
                                       memcmp(out.data, expected_sig.data, out.len) != 0))
                    die("server-final-message is not the expected ServerSignature");
            }
        }
        if (rc != 0 && computed && computed_clean)
            die("a correct client-final-message was refused");
        if (s.scram_live) {
            check_buf(&s.scram.client_bare, KB_SASL_MAX_TOKEN, "client-first-bare copy");
            check_buf(&s.scram.gs2, 4096, "GS2 header copy");
        }
        kf_buf_free(&out);
    }
    kb_sasl_session_free(&s);
    kf_buf_free(&mine);
    kf_buf_free(&expected_sig);
    kf_buf_free(&server_first);
    free(big);
    return 0;
}
