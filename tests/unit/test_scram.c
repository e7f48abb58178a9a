/*
 * test_scram.c - SCRAM server exchange against RFC 7677's SCRAM-SHA-256
 * test vector, a SHA-512 round trip, PLAIN parsing and the credential
 * store's file (round trip, corruption refused).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "broker/creds.h"
#include "broker/scram.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CF "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
#define SNONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define SF "r=rOprNGfwEbeRWgbNEkqO" SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define CFINAL                                                                                     \
    "c=biws,r=rOprNGfwEbeRWgbNEkqO" SNONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define SFINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

static void rfc7677_cred(kb_scram_cred *c) {
    uint8_t salt[64], sp[KB_SCRAM_MAX_HASH];
    int sl = kb_b64_decode("W22ZaJ0SNY7soEsUEjb6gQ==", 24, salt, sizeof(salt));
    assert_int_equal(sl, 16);
    assert_int_equal(kb_scram_salt_password(KB_SCRAM_SHA256, "pencil", 6, salt, 16, 4096, sp), 0);
    assert_int_equal(kb_scram_cred_from_salted(KB_SCRAM_SHA256, 4096, salt, 16, sp, 32, c), 0);
}

static void test_rfc7677_server(void **state) {
    (void)state;
    kb_scram_cred c;
    rfc7677_cred(&c);
    kb_scram_server s;
    kb_scram_server_init(&s, KB_SCRAM_SHA256);
    char err[160];
    assert_int_equal(kb_scram_server_client_first(&s, CF, strlen(CF), err, sizeof(err)), 0);
    assert_string_equal(s.cf.user, "user");
    kf_buf out;
    kf_buf_init(&out, 0);
    assert_int_equal(kb_scram_server_first(&s, &c, SNONCE, &out), 0);
    assert_int_equal(out.len, strlen(SF));
    assert_memory_equal(out.data, SF, out.len);
    kf_buf_reset(&out);
    assert_int_equal(kb_scram_server_final(&s, CFINAL, strlen(CFINAL), &out, err, sizeof(err)), 0);
    assert_int_equal(out.len, strlen(SFINAL));
    assert_memory_equal(out.data, SFINAL, out.len);
    kf_buf_free(&out);
    kb_scram_server_free(&s);
}

static void test_rfc7677_client(void **state) {
    (void)state;
    kf_buf out;
    kf_buf_init(&out, 0);
    uint8_t sig[KB_SCRAM_MAX_HASH];
    const char *bare = &CF[3]; /* past the GS2 header "n,," */
    assert_int_equal(kb_scram_client_final_msg(KB_SCRAM_SHA256, "pencil", 6, bare, strlen(bare), SF,
                                               strlen(SF), &out, sig),
                     0);
    assert_int_equal(out.len, strlen(CFINAL));
    assert_memory_equal(out.data, CFINAL, out.len);
    kf_buf_free(&out);
}

static void test_wrong_proof(void **state) {
    (void)state;
    kb_scram_cred c;
    rfc7677_cred(&c);
    kb_scram_server s;
    kb_scram_server_init(&s, KB_SCRAM_SHA256);
    char err[160];
    kf_buf out;
    kf_buf_init(&out, 0);
    assert_int_equal(kb_scram_server_client_first(&s, CF, strlen(CF), err, sizeof(err)), 0);
    assert_int_equal(kb_scram_server_first(&s, &c, SNONCE, &out), 0);
    kf_buf_reset(&out);
    char bad[] = CFINAL;
    bad[strlen(bad) - 5] = bad[strlen(bad) - 5] == 'A' ? 'B' : 'A';
    assert_int_equal(kb_scram_server_final(&s, bad, strlen(bad), &out, err, sizeof(err)), -1);
    assert_int_equal(out.len, 0);
    kf_buf_free(&out);
    kb_scram_server_free(&s);
}

static void round_trip(int mech, const char *pw, const char *try_pw, int expect) {
    kb_scram_cred c;
    assert_int_equal(kb_scram_cred_from_password(mech, pw, strlen(pw), 8192, &c), 0);
    assert_int_equal(kb_scram_check_password(&c, try_pw, strlen(try_pw)), expect);
    kb_scram_server s;
    kb_scram_server_init(&s, mech);
    const char *cf = "n,,n=alice=2Cx,r=clientnonce123";
    char err[160];
    assert_int_equal(kb_scram_server_client_first(&s, cf, strlen(cf), err, sizeof(err)), 0);
    assert_string_equal(s.cf.user, "alice,x");
    kf_buf sf, cfin, fin;
    kf_buf_init(&sf, 0);
    kf_buf_init(&cfin, 0);
    kf_buf_init(&fin, 0);
    assert_int_equal(kb_scram_server_first(&s, &c, NULL, &sf), 0);
    uint8_t sig[KB_SCRAM_MAX_HASH];
    assert_int_equal(kb_scram_client_final_msg(mech, try_pw, strlen(try_pw), cf + 3, strlen(cf + 3),
                                               (const char *)sf.data, sf.len, &cfin, sig),
                     0);
    int rc = kb_scram_server_final(&s, (const char *)cfin.data, cfin.len, &fin, err, sizeof(err));
    assert_int_equal(rc, expect ? 0 : -1);
    if (expect) {
        kf_buf want;
        kf_buf_init(&want, 0);
        kf_buf_append(&want, "v=", 2);
        kb_b64_encode(sig, kb_scram_hash_len(mech), &want);
        assert_int_equal(fin.len, want.len);
        assert_memory_equal(fin.data, want.data, want.len);
        kf_buf_free(&want);
    }
    kf_buf_free(&sf);
    kf_buf_free(&cfin);
    kf_buf_free(&fin);
    kb_scram_server_free(&s);
}

static void test_sha512_round_trip(void **state) {
    (void)state;
    round_trip(KB_SCRAM_SHA512, "alice-secret", "alice-secret", 1);
    round_trip(KB_SCRAM_SHA512, "alice-secret", "alice-wrong", 0);
    round_trip(KB_SCRAM_SHA256, "pw", "pw", 1);
}

static void test_parse_errors(void **state) {
    (void)state;
    kb_scram_client_first f;
    char err[160];
    const char *bad[] = {
        "",       "n,,",       "p=tls-unique,,n=u,r=x", "n,,n=,r=x", "n,,n=a=2,r=x",
        "n,,n=u", "n,,n=u,r=", "n,,m=ext,n=u,r=x",      "x,,n=u,r=x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(kb_scram_parse_client_first(bad[i], strlen(bad[i]), &f, err, sizeof(err)),
                         -1);
    assert_int_equal(kb_scram_parse_client_first("n,a=u,n=u,r=abc,ext=1", 21, &f, err, sizeof(err)),
                     0);
    assert_string_equal(f.authzid, "u");
    kb_scram_client_final cf;
    const char *badf[] = {"", "c=biws,r=x", "c=biws,r=x,p=!!!!", "r=x,p=AAAA"};
    for (size_t i = 0; i < sizeof(badf) / sizeof(badf[0]); i++)
        assert_int_equal(
            kb_scram_parse_client_final(badf[i], strlen(badf[i]), &cf, err, sizeof(err)), -1);
}

static void test_plain(void **state) {
    (void)state;
    kb_plain_msg m;
    char err[160];
    const uint8_t ok[] = "\0alice\0pw";
    assert_int_equal(kb_plain_parse(ok, sizeof(ok) - 1, &m, err, sizeof(err)), 0);
    assert_int_equal(m.user_len, 5);
    assert_memory_equal(m.user, "alice", 5);
    assert_int_equal(m.pass_len, 2);
    const uint8_t noz[] = "alice";
    assert_int_equal(kb_plain_parse(noz, 5, &m, err, sizeof(err)), -1);
    const uint8_t three[] = "a\0b\0c\0d";
    assert_int_equal(kb_plain_parse(three, sizeof(three) - 1, &m, err, sizeof(err)), -1);
    const uint8_t empty_user[] = "\0\0pw";
    assert_int_equal(kb_plain_parse(empty_user, 4, &m, err, sizeof(err)), -1);
}

static void test_store(void **state) {
    (void)state;
    char dir[] = "/tmp/kf_scram_XXXXXX";
    assert_non_null(mkdtemp(dir));
    kb_creds cs;
    char err[512];
    assert_int_equal(kb_creds_open(&cs, dir, err, sizeof(err)), 0);
    kb_scram_cred c;
    assert_int_equal(kb_scram_cred_from_password(KB_SCRAM_SHA512, "sekrit-pw", 9, 4096, &c), 0);
    assert_int_equal(kb_creds_set(&cs, "bob", 3, &c), 0);
    assert_int_equal(kb_creds_save(&cs), 0);
    kb_creds_close(&cs);
    assert_int_equal(kb_creds_open(&cs, dir, err, sizeof(err)), 0);
    const kb_scram_cred *g = kb_creds_find(&cs, "bob", 3, KB_SCRAM_SHA512);
    assert_non_null(g);
    assert_int_equal(kb_scram_check_password(g, "sekrit-pw", 9), 1);
    assert_null(kb_creds_find(&cs, "bob", 3, KB_SCRAM_SHA256));
    char path[4200];
    snprintf(path, sizeof(path), "%s", cs.path);
    kb_creds_close(&cs);
    /* No password in the file; a flipped byte is refused. */
    kf_buf f;
    assert_int_equal(kf_read_file(path, &f, 1 << 20), 0);
    assert_null(memmem(f.data, f.len, "sekrit-pw", 9));
    f.data[f.len - 1] ^= 1;
    assert_int_equal(kf_write_file_atomic(path, f.data, f.len), 0);
    kf_buf_free(&f);
    assert_int_equal(kb_creds_open(&cs, dir, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "corrupt entry"));
    kb_creds_close(&cs);
    kf_rmtree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc7677_server), cmocka_unit_test(test_rfc7677_client),
        cmocka_unit_test(test_wrong_proof),    cmocka_unit_test(test_sha512_round_trip),
        cmocka_unit_test(test_parse_errors),   cmocka_unit_test(test_plain),
        cmocka_unit_test(test_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
