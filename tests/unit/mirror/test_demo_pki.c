/*
 * test_demo_pki.c - the demo's certificate authority: a leaf it issues
 * verifies against its CA for 127.0.0.1 with OpenSSL's own verifier, its
 * key matches, and the key file is private.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/util.h"
#include "migrate/demo_pki.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static X509 *read_cert(const char *path, int index) {
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    X509 *c = NULL;
    for (int i = 0; i <= index; i++) {
        X509_free(c);
        c = PEM_read_X509(f, NULL, NULL, NULL);
    }
    fclose(f);
    return c;
}

static void test_issue_and_verify(void **state) {
    (void)state;
    char dir[] = "/tmp/kferry-pki-test.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char err[256];
    demo_pki *p = demo_pki_new(dir, err, sizeof(err));
    assert_non_null(p);
    assert_int_equal(demo_pki_issue(p, "broker", "onprem broker", err, sizeof(err)), 0);

    char crt[PATH_MAX], key[PATH_MAX];
    snprintf(crt, sizeof(crt), "%s/broker.pem", dir);
    snprintf(key, sizeof(key), "%s/broker.key", dir);
    X509 *ca = read_cert(demo_pki_ca(p), 0);
    X509 *leaf = read_cert(crt, 0);
    X509 *chain_ca = read_cert(crt, 1);
    assert_non_null(ca);
    assert_non_null(leaf);
    assert_non_null(chain_ca);
    assert_int_equal(X509_cmp(ca, chain_ca), 0);

    X509_STORE *store = X509_STORE_new();
    X509_STORE_add_cert(store, ca);
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(ctx, store, leaf, NULL);
    X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set1_ip_asc(vp, "127.0.0.1");
    X509_VERIFY_PARAM_set_purpose(vp, X509_PURPOSE_SSL_SERVER);
    assert_int_equal(X509_verify_cert(ctx), 1);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);

    FILE *f = fopen(key, "r");
    assert_non_null(f);
    EVP_PKEY *pk = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(pk);
    assert_int_equal(X509_check_private_key(leaf, pk), 1);
    struct stat st;
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_mode & 077, 0);

    char subject[256];
    X509_NAME_oneline(X509_get_subject_name(leaf), subject, sizeof(subject));
    assert_non_null(strstr(subject, "CN=onprem broker"));

    EVP_PKEY_free(pk);
    X509_free(ca);
    X509_free(leaf);
    X509_free(chain_ca);
    demo_pki_free(p);
    kf_rmtree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_issue_and_verify)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
