/*
 * test_config_security.c - kferry on secured clusters: Kafka config
 * providers (${file:...}, ${env:...}) with secrets kept out of every
 * message, the Java SSL settings mapped to librdkafka's (PEM and PKCS12
 * stores made here with OpenSSL from the demo's CA, JKS refused with the
 * keytool command), and the classification of librdkafka's connection
 * errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/log.h"
#include "common/util.h"
#include "migrate/demo_pki.h"
#include "mirror/config.h"
#include "mirror/mskiam.h"
#include "mirror/config_int.h"
#include "mirror/conndiag.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SECRET "s3cr3t-Horse-Battery"
#define STOREPW "store-pw-4711"

static char g_dir[64];
static char g_cfg[PATH_MAX];

static void path_of(char *out, size_t len, const char *name) {
    snprintf(out, len, "%s/%s", g_dir, name);
}

static void write_text(const char *name, const char *text) {
    char p[PATH_MAX];
    path_of(p, sizeof(p), name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static X509 *read_cert(const char *path) {
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    X509 *c = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(c);
    return c;
}

static EVP_PKEY *read_key(const char *path) {
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(k);
    return k;
}

static void write_p12(const char *name, EVP_PKEY *key, X509 *cert, X509 *ca) {
    STACK_OF(X509) *st = sk_X509_new_null();
    sk_X509_push(st, ca);
    PKCS12 *p12 = PKCS12_create(STOREPW, key ? "client" : NULL, key, cert, st, 0, 0, 0, 0, 0);
    assert_non_null(p12);
    char p[PATH_MAX];
    path_of(p, sizeof(p), name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_true(i2d_PKCS12_fp(f, p12));
    fclose(f);
    PKCS12_free(p12);
    sk_X509_free(st);
}

/* The throw-away PKI: ca.pem, client.pem (chain), client.key, trust.p12,
 * client.p12, client-enc.pem (encrypted key + chain), fake.jks. */
static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof(g_dir), "/tmp/kferry-cfgsec.XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    char err[512];
    demo_pki *pki = demo_pki_new(g_dir, err, sizeof(err));
    assert_non_null(pki);
    assert_int_equal(demo_pki_issue(pki, "client", "client", err, sizeof(err)), 0);
    demo_pki_free(pki);
    char p[PATH_MAX];
    path_of(p, sizeof(p), "ca.pem");
    X509 *ca = read_cert(p);
    path_of(p, sizeof(p), "client.pem");
    X509 *cert = read_cert(p);
    path_of(p, sizeof(p), "client.key");
    EVP_PKEY *key = read_key(p);
    write_p12("trust.p12", NULL, NULL, ca);
    write_p12("client.p12", key, cert, ca);
    path_of(p, sizeof(p), "client-enc.pem");
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    assert_true(PEM_write_PKCS8PrivateKey(f, key, EVP_aes_256_cbc(), NULL, 0, NULL, STOREPW));
    assert_true(PEM_write_X509(f, cert));
    assert_true(PEM_write_X509(f, ca));
    fclose(f);
    X509_free(ca);
    X509_free(cert);
    EVP_PKEY_free(key);
    /* a file with the JKS magic is all kferry looks at before refusing */
    path_of(p, sizeof(p), "trust.jks");
    f = fopen(p, "wb");
    assert_non_null(f);
    fwrite("\xfe\xed\xfe\xed\x00\x00\x00\x02", 1, 8, f);
    fclose(f);
    write_text("secrets.properties", "cloud.password = " SECRET "\nother = x\n");
    path_of(g_cfg, sizeof(g_cfg), "mm2.properties");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    kf_rmtree(g_dir);
    return 0;
}

#define BASE                                                                                       \
    "clusters = a, b\n"                                                                            \
    "a.bootstrap.servers = h1:9092\n"                                                              \
    "b.bootstrap.servers = h2:9092\n"                                                              \
    "a->b.enabled = true\n"

/* Writes the config (with @D@ replaced by the PKI directory), loads it
 * with stderr (errors, warnings and, with info=1, the effective-config
 * log) captured into out. */
static int load(mirror_config *c, const char *text, int info, char *out, size_t outlen) {
    kf_buf b;
    kf_buf_init(&b, 0);
    for (const char *s = text; *s;) {
        const char *at = strstr(s, "@D@");
        size_t n = at ? (size_t)(at - s) : strlen(s);
        kf_buf_append(&b, s, n);
        if (!at)
            break;
        kf_buf_append(&b, g_dir, strlen(g_dir));
        s = at + 3;
    }
    kf_buf_append(&b, "", 1);
    FILE *f = fopen(g_cfg, "w");
    assert_non_null(f);
    fputs((const char *)b.data, f);
    fclose(f);
    kf_buf_free(&b);
    char tmpl[] = "/tmp/kferry-cfgsec-err-XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    kf_log_set_level(info ? KF_LOG_INFO : KF_LOG_WARNING);
    int rc = mc_load(c, g_cfg);
    if (rc == 0 && info)
        mc_log_effective(c);
    fflush(stderr);
    kf_log_set_level(KF_LOG_ERR);
    dup2(saved, 2);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, out, outlen - 1);
    out[n > 0 ? n : 0] = 0;
    close(fd);
    unlink(tmpl);
    return rc;
}

static const char *role_prop(const mc_cluster *cl, const char *key, int roles) {
    for (size_t i = 0; i < cl->nprops; i++)
        if (!strcmp(cl->props[i].key, key) && cl->props[i].roles == roles)
            return cl->props[i].value;
    return NULL;
}

/* --- providers ------------------------------------------------------------ */

static void test_providers_file_and_env(void **state) {
    setenv("KF_TEST_KS_PW", STOREPW, 1);
    mirror_config c;
    char out[16384];
    assert_int_equal(
        load(&c,
             BASE "config.providers = file,env\n"
                  "config.providers.file.class = "
                  "org.apache.kafka.common.config.provider.FileConfigProvider\n"
                  "config.providers.env.class = "
                  "org.apache.kafka.common.config.provider.EnvVarConfigProvider\n"
                  "b.security.protocol = SASL_SSL\n"
                  "b.sasl.mechanism = SCRAM-SHA-512\n"
                  "b.sasl.jaas.config = org.apache.kafka.common.security.scram.ScramLoginModule "
                  "required username=\"mirror\" "
                  "password=\"${file:@D@/secrets.properties:cloud.password}\";\n"
                  "b.ssl.keystore.location = @D@/client.p12\n"
                  "b.ssl.keystore.password = ${env:KF_TEST_KS_PW}\n",
             1, out, sizeof(out)),
        0);
    assert_string_equal(mc_prop(&c.tgt, "sasl.username"), "mirror");
    assert_string_equal(mc_prop(&c.tgt, "sasl.password"), SECRET);
    /* the keystore opened with the password from the provider */
    assert_non_null(strstr(mc_prop(&c.tgt, "ssl.key.pem"), "PRIVATE KEY"));
    /* the log names the settings but shows neither secret */
    assert_non_null(strstr(out, "b.sasl.password = [redacted]"));
    assert_null(strstr(out, SECRET));
    assert_null(strstr(out, STOREPW));
    /* a message that would contain a resolved value redacts it */
    char red[256];
    mc_redact(&c, "password is " SECRET "!", red, sizeof(red));
    assert_string_equal(red, "password is [redacted]!");
    mc_free(&c);
    unsetenv("KF_TEST_KS_PW");
}

static void test_providers_short_form_and_non_references(void **state) {
    setenv("KF_TEST_BOOT", "h9:9093", 1);
    mirror_config c;
    char out[8192];
    assert_int_equal(load(&c,
                          "clusters = a, b\n"
                          "config.providers = env\n"
                          "a.bootstrap.servers = ${env:KF_TEST_BOOT}\n"
                          "b.bootstrap.servers = h2:9092\n"
                          "a->b.enabled = true\n"
                          "kferry.map.topic = x${y}z\n",
                          1, out, sizeof(out)),
                     0);
    assert_string_equal(mc_bootstrap(&c.src), "h9:9093");
    /* the log shows the reference as written */
    assert_non_null(strstr(out, "a.bootstrap.servers = ${env:KF_TEST_BOOT}"));
    assert_string_equal(c.map_topic, "x${y}z"); /* no ':' - not a reference */
    mc_free(&c);
    unsetenv("KF_TEST_BOOT");
}

static void test_provider_errors_name_key_and_reference(void **state) {
    unsetenv("KF_TEST_UNSET");
    mirror_config c;
    char out[16384];
    assert_int_equal(load(&c,
                          BASE "config.providers = file,env\n"
                               "b.sasl.username = ${env:KF_TEST_UNSET}\n"
                               "b.sasl.password = ${file:@D@/secrets.properties:no.such.key}\n"
                               "a.sasl.password = ${file:@D@/missing.properties:pw}\n"
                               "a.ssl.key.password = ${vault:secret/x:pw}\n",
                          0, out, sizeof(out)),
                     -1);
    assert_non_null(strstr(out, ":6: b.sasl.username: ${env:KF_TEST_UNSET}: environment "
                                "variable KF_TEST_UNSET is not set"));
    assert_non_null(strstr(out, ":7: b.sasl.password: ${file:"));
    assert_non_null(strstr(out, "secrets.properties:no.such.key}: key 'no.such.key' not found in"));
    assert_non_null(strstr(out, ":8: a.sasl.password: ${file:"));
    assert_non_null(strstr(out, "missing.properties"));
    assert_non_null(strstr(out, ":9: a.ssl.key.password: ${vault:secret/x:pw}: unknown config "
                                "provider 'vault' (config.providers lists file, env)"));
    /* the file's other values are never shown */
    assert_null(strstr(out, SECRET));
    mc_free(&c);

    assert_int_equal(load(&c,
                          BASE "config.providers = secrets\n"
                               "config.providers.other.class = FileConfigProvider\n",
                          0, out, sizeof(out)),
                     -1);
    assert_non_null(strstr(out, "provider 'secrets' needs config.providers.secrets.class"));
    assert_non_null(strstr(out, "config.providers.other.class: no such provider"));
    mc_free(&c);

    assert_int_equal(load(&c,
                          BASE "config.providers = vault\n"
                               "config.providers.vault.class = com.example.VaultProvider\n",
                          0, out, sizeof(out)),
                     -1);
    assert_non_null(strstr(out, "config.providers.vault.class=com.example.VaultProvider: kferry "
                                "implements"));
    mc_free(&c);
}

/* A secret resolved into a value that then fails validation is redacted
 * from the error message. */
static void test_invalid_resolved_value_is_redacted(void **state) {
    setenv("KF_TEST_RF", "not-a-number-" SECRET, 1);
    mirror_config c;
    char out[8192];
    assert_int_equal(load(&c,
                          BASE "config.providers = env\nreplication.factor = ${env:KF_TEST_RF}\n",
                          0, out, sizeof(out)),
                     -1);
    assert_non_null(strstr(out, "replication.factor=[redacted]: expected an integer"));
    assert_null(strstr(out, SECRET));
    mc_free(&c);
    unsetenv("KF_TEST_RF");
}

/* --- SSL mapping ------------------------------------------------------------ */

static void test_truststores(void **state) {
    mirror_config c;
    char out[16384];
    assert_int_equal(load(&c,
                          BASE "a.security.protocol = SSL\n"
                               "a.ssl.truststore.type = PEM\n"
                               "a.ssl.truststore.location = @D@/ca.pem\n"
                               "b.security.protocol = SSL\n"
                               "b.ssl.truststore.type = PKCS12\n"
                               "b.ssl.truststore.location = @D@/trust.p12\n"
                               "b.ssl.truststore.password = " STOREPW "\n"
                               "b.ssl.endpoint.identification.algorithm =\n",
                          1, out, sizeof(out)),
                     0);
    char p[PATH_MAX];
    path_of(p, sizeof(p), "ca.pem");
    assert_string_equal(mc_prop(&c.src, "ssl.ca.location"), p);
    const char *pem = mc_prop(&c.tgt, "ssl.ca.pem");
    assert_non_null(pem);
    assert_non_null(strstr(pem, "-----BEGIN CERTIFICATE-----"));
    assert_string_equal(mc_prop(&c.tgt, "ssl.endpoint.identification.algorithm"), "none");
    assert_null(mc_prop(&c.tgt, "ssl.truststore.password")); /* not a librdkafka property */
    assert_string_equal(c.tgt.trust_setting, "b.ssl.truststore.location");
    assert_non_null(strstr(out, "b.ssl.ca.pem = (1 certificate(s) from the PKCS12 truststore"));
    assert_null(strstr(out, STOREPW));
    mc_free(&c);

    /* inline PEM; the type may be left out */
    kf_buf ca;
    assert_int_equal(kf_read_file(p, &ca, 1 << 20), 0);
    kf_buf text;
    kf_buf_init(&text, 0);
    const char *head = BASE "a.ssl.truststore.certificates = ";
    kf_buf_append(&text, head, strlen(head));
    for (size_t i = 0; i < ca.len; i++) { /* one properties line */
        if (ca.data[i] == '\n')
            kf_buf_append(&text, "\\n\\\n", 4);
        else
            kf_buf_append(&text, &ca.data[i], 1);
    }
    kf_buf_append(&text, "\n", 2);
    assert_int_equal(load(&c, (const char *)text.data, 0, out, sizeof(out)), 0);
    assert_non_null(strstr(mc_prop(&c.src, "ssl.ca.pem"), "-----END CERTIFICATE-----"));
    mc_free(&c);
    kf_buf_free(&text);
    kf_buf_free(&ca);
}

static void test_truststore_errors(void **state) {
    mirror_config c;
    char out[16384];
    assert_int_equal(load(&c,
                          BASE "a.ssl.truststore.location = @D@/trust.jks\n"
                               "b.ssl.truststore.type = PKCS12\n"
                               "b.ssl.truststore.location = @D@/trust.p12\n"
                               "b.ssl.truststore.password = wrong-password\n"
                               "b.consumer.ssl.truststore.location = @D@/nope.pem\n",
                          0, out, sizeof(out)),
                     -1);
    char want[1024];
    snprintf(want, sizeof(want),
             "keytool -importkeystore -srckeystore %s/trust.jks -srcstoretype JKS -destkeystore "
             "%s/trust.p12 -deststoretype PKCS12",
             g_dir, g_dir);
    assert_non_null(strstr(out, want));
    snprintf(want, sizeof(want),
             "then set a.ssl.truststore.location=%s/trust.p12 and a.ssl.truststore.type=PKCS12",
             g_dir);
    assert_non_null(strstr(out, want));
    assert_non_null(strstr(out, "trust.p12: wrong password"));
    snprintf(want, sizeof(want),
             "b.consumer.ssl.truststore.location=%s/nope.pem: cannot read the file: No such file",
             g_dir);
    assert_non_null(strstr(out, want));
    mc_free(&c);

    /* a type that disagrees with the content */
    assert_int_equal(load(&c,
                          BASE "a.ssl.truststore.type = PEM\n"
                               "a.ssl.truststore.location = @D@/trust.p12\n",
                          0, out, sizeof(out)),
                     -1);
    assert_non_null(strstr(out, "a.ssl.truststore.type=PEM but"));
    assert_non_null(strstr(out, "set a.ssl.truststore.type=PKCS12"));
    mc_free(&c);
}

static void test_keystores(void **state) {
    mirror_config c;
    char out[16384], p[PATH_MAX];
    assert_int_equal(load(&c,
                          BASE "a.ssl.keystore.type = PKCS12\n"
                               "a.ssl.keystore.location = @D@/client.p12\n"
                               "a.ssl.keystore.password = " STOREPW "\n"
                               "a.ssl.key.password = " STOREPW "\n"
                               "b.ssl.keystore.type = PEM\n"
                               "b.ssl.keystore.location = @D@/client-enc.pem\n"
                               "b.ssl.key.password = " STOREPW "\n",
                          1, out, sizeof(out)),
                     0);
    /* a PKCS12 keystore is opened by kferry and handed over as PEM */
    assert_non_null(strstr(mc_prop(&c.src, "ssl.certificate.pem"), "BEGIN CERTIFICATE"));
    assert_non_null(strstr(mc_prop(&c.src, "ssl.key.pem"), "PRIVATE KEY"));
    assert_null(mc_prop(&c.src, "ssl.keystore.location"));
    /* a PEM keystore file is given to librdkafka as a file: only then does
     * librdkafka 2.0.2 send the whole chain */
    path_of(p, sizeof(p), "client-enc.pem");
    assert_string_equal(mc_prop(&c.tgt, "ssl.certificate.location"), p);
    assert_string_equal(mc_prop(&c.tgt, "ssl.key.location"), p);
    assert_null(mc_prop(&c.tgt, "ssl.certificate.pem"));
    assert_string_equal(mc_prop(&c.tgt, "ssl.key.password"), STOREPW);
    assert_string_equal(c.tgt.identity_setting, "b.ssl.keystore.location");
    assert_null(strstr(out, STOREPW));
    assert_null(strstr(out, "PRIVATE KEY")); /* the key is never logged */
    mc_free(&c);

    /* inline chain and key, only for the consumer */
    path_of(p, sizeof(p), "client.pem");
    kf_buf chain, key;
    assert_int_equal(kf_read_file(p, &chain, 1 << 20), 0);
    path_of(p, sizeof(p), "client.key");
    assert_int_equal(kf_read_file(p, &key, 1 << 20), 0);
    kf_buf text;
    kf_buf_init(&text, 0);
    const char *head = BASE "b.consumer.ssl.keystore.type = PEM\n";
    kf_buf_append(&text, head, strlen(head));
    const char *names[2] = {"b.consumer.ssl.keystore.certificate.chain = ",
                            "b.consumer.ssl.keystore.key = "};
    kf_buf *vals[2] = {&chain, &key};
    for (int k = 0; k < 2; k++) {
        kf_buf_append(&text, names[k], strlen(names[k]));
        for (size_t i = 0; i < vals[k]->len; i++)
            kf_buf_append(&text, vals[k]->data[i] == '\n' ? "\\n\\\n" : (char *)&vals[k]->data[i],
                          vals[k]->data[i] == '\n' ? 4 : 1);
        kf_buf_append(&text, "\n", 1);
    }
    kf_buf_append(&text, "", 1);
    assert_int_equal(load(&c, (const char *)text.data, 1, out, sizeof(out)), 0);
    assert_non_null(role_prop(&c.tgt, "ssl.certificate.pem", MC_CLIENT_CONSUMER));
    assert_non_null(strstr(role_prop(&c.tgt, "ssl.key.pem", MC_CLIENT_CONSUMER), "PRIVATE KEY"));
    assert_null(role_prop(&c.tgt, "ssl.key.pem", MC_CLIENT_ANY));
    assert_null(strstr(out, "PRIVATE KEY"));
    mc_free(&c);
    kf_buf_free(&text);
    kf_buf_free(&chain);
    kf_buf_free(&key);
}

/* Cluster-wide Java settings apply to a role that has its own too. */
static void test_role_specific_stores(void **state) {
    mirror_config c;
    char out[16384];
    assert_int_equal(load(&c,
                          BASE "b.ssl.truststore.location = @D@/trust.p12\n"
                               "b.ssl.truststore.password = " STOREPW "\n"
                               "b.producer.ssl.keystore.location = @D@/client.p12\n"
                               "b.producer.ssl.keystore.password = " STOREPW "\n",
                          0, out, sizeof(out)),
                     0);
    assert_non_null(role_prop(&c.tgt, "ssl.ca.pem", MC_CLIENT_ANY));
    assert_non_null(role_prop(&c.tgt, "ssl.ca.pem", MC_CLIENT_PRODUCER));
    assert_non_null(role_prop(&c.tgt, "ssl.key.pem", MC_CLIENT_PRODUCER));
    assert_null(role_prop(&c.tgt, "ssl.key.pem", MC_CLIENT_ANY));
    mc_free(&c);
}

static void test_keystore_errors(void **state) {
    mirror_config c;
    char out[16384];
    assert_int_equal(load(&c,
                          BASE "a.ssl.keystore.location = @D@/client.p12\n"
                               "a.ssl.keystore.password = " STOREPW "\n"
                               "a.ssl.key.password = another-one\n"
                               "b.ssl.keystore.location = @D@/client-enc.pem\n",
                          0, out, sizeof(out)),
                     -1);
    assert_non_null(strstr(out, "a.ssl.key.password differs from a.ssl.keystore.password"));
    assert_non_null(strstr(out, "the private key is encrypted: set b.ssl.key.password"));
    assert_null(strstr(out, STOREPW));
    mc_free(&c);

    assert_int_equal(load(&c,
                          BASE "a.ssl.keystore.location = @D@/trust.jks\n"
                               "b.ssl.keystore.location = @D@/client-enc.pem\n"
                               "b.ssl.key.password = wrong\n"
                               "b.ssl.ca.location = /etc/ssl/certs\n"
                               "b.ssl.truststore.location = @D@/ca.pem\n",
                          0, out, sizeof(out)),
                     -1);
    assert_non_null(strstr(out, "-srcstoretype JKS -destkeystore"));
    assert_non_null(strstr(out, "a.ssl.keystore.type=PKCS12"));
    assert_non_null(strstr(out, "b.ssl.key.password does not decrypt the private key"));
    assert_non_null(strstr(out, "b.ssl.ca.location (from the Java SSL settings) conflicts with "
                                "b.ssl.ca.location set directly"));
    mc_free(&c);
}

static void test_pkcs12_certs(void **state) {
    char p[PATH_MAX], err[512];
    char *pem = NULL;
    int n = 0;
    path_of(p, sizeof(p), "client.p12");
    assert_int_equal(mc_pkcs12_certs_pem(p, STOREPW, &pem, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 2); /* the client's certificate and the CA */
    free(pem);
    path_of(p, sizeof(p), "ca.pem");
    assert_int_equal(mc_pkcs12_certs_pem(p, STOREPW, &pem, &n, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "is not a PKCS12 file"));
}

/* --- connection diagnosis ------------------------------------------------- */

static void classify(const char *cfg, int err, const char *reason, const char *want_result,
                     const char *want_text) {
    mirror_config c;
    char out[16384];
    assert_int_equal(load(&c, cfg, 0, out, sizeof(out)), 0);
    conn_diag d;
    conndiag_classify(&c.src, err, reason, &d);
    if (strcmp(d.result, want_result) || !strstr(d.message, want_text))
        fail_msg("%s -> %s: %s", reason, d.result, d.message);
    assert_null(strstr(d.message, SECRET));
    mc_free(&c);
}

static void test_conndiag(void **state) {
    const char *tls = BASE "a.security.protocol = SSL\na.ssl.truststore.location = @D@/ca.pem\n";
    classify(tls, -181,
             "ssl://h1:9092/bootstrap: SSL handshake failed: error:0A000086:SSL "
             "routines::certificate verify failed: broker certificate could not be verified",
             "tls_untrusted", "not signed by a CA in a.ssl.truststore.location");
    classify(BASE "a.security.protocol = SSL\n", -181, "certificate verify failed", "tls_untrusted",
             "set a.ssl.truststore.location");
    classify(tls, -195,
             "Receive failed: error:0A00045C:SSL routines::tlsv13 alert certificate required: SSL "
             "alert number 116",
             "tls_client_certificate", "none is configured: set a.ssl.keystore.location");
    classify(tls, -195,
             "ssl://h1:9092/bootstrap: error:0A000126:SSL routines::unexpected eof "
             "while reading (after 1ms in state SSL_HANDSHAKE)",
             "tls_to_plaintext", "set it to PLAINTEXT");
    classify(BASE, -195,
             "Disconnected while requesting ApiVersion: might be caused by incorrect "
             "security.protocol configuration (connecting to a SSL listener?)",
             "plaintext_to_tls", "a.security.protocol is PLAINTEXT: set it to SSL");
    const char *sasl =
        BASE "a.security.protocol = SASL_SSL\na.sasl.mechanism = SCRAM-SHA-512\n"
             "a.sasl.jaas.config = org.apache.kafka.common.security.scram."
             "ScramLoginModule required username=\"mirror\" password=\"" SECRET "\";\n";
    classify(sasl, -169,
             "SASL authentication error: Authentication failed during authentication due to "
             "invalid credentials with SASL mechanism SCRAM-SHA-512",
             "sasl_authentication_failed", "user 'mirror' with SCRAM-SHA-512 was refused");
    classify(sasl, -195,
             "SASL SCRAM-SHA-512 mechanism handshake failed: Broker: Unsupported SASL mechanism: "
             "broker's supported mechanisms: PLAIN (after 1ms in state AUTH_HANDSHAKE)",
             "sasl_mechanism_not_enabled",
             "does not enable mechanism SCRAM-SHA-512 (it offers PLAIN)");
    classify(BASE, -195,
             "Disconnected: verify that security.protocol is correctly configured, broker might "
             "require SASL authentication",
             "sasl_required", "set a.security.protocol=SASL_PLAINTEXT");
    classify(BASE, -195, "Connect to ipv4#127.0.0.1:1 failed: Connection refused", "unreachable",
             "cannot reach a");
}

/* --- MSK IAM ---------------------------------------------------------------- */

#define MSK_LINES                                                                                  \
    "b.security.protocol = SASL_SSL\n"                                                             \
    "b.sasl.mechanism = AWS_MSK_IAM\n"                                                             \
    "b.sasl.jaas.config = software.amazon.msk.auth.iam.IAMLoginModule required;\n"                 \
    "b.sasl.client.callback.handler.class = "                                                      \
    "software.amazon.msk.auth.iam.IAMClientCallbackHandler\n"

static void test_msk_iam_mm2_lines(void **state) {
    (void)state;
    mirror_config c;
    char out[8192];
    assert_int_equal(load(&c, BASE MSK_LINES, 0, out, sizeof(out)), 0);
    assert_true(c.tgt.iam.enabled);
    assert_false(c.src.iam.enabled);
    assert_string_equal(mc_prop(&c.tgt, "sasl.mechanism"), "OAUTHBEARER");
    assert_null(mc_prop(&c.tgt, "sasl.client.callback.handler.class"));
    assert_string_equal(c.tgt.iam.profile, "");
    mc_free(&c);

    /* the JAAS options, quoted and bare */
    assert_int_equal(
        load(&c,
             BASE "b.security.protocol = SASL_SSL\n"
                  "b.sasl.mechanism = AWS_MSK_IAM\n"
                  "b.sasl.jaas.config = software.amazon.msk.auth.iam.IAMLoginModule required "
                  "awsProfileName=\"prod\" awsRoleArn=\"arn:aws:iam::123456789012:role/mirror\" "
                  "awsRoleSessionName=\"kf\" awsStsRegion=\"eu-west-1\" awsDebugCreds=true;\n"
                  "b.aws.region = eu-central-1\n",
             0, out, sizeof(out)),
        0);
    assert_true(c.tgt.iam.enabled);
    assert_string_equal(c.tgt.iam.profile, "prod");
    assert_string_equal(c.tgt.iam.role_arn, "arn:aws:iam::123456789012:role/mirror");
    assert_string_equal(c.tgt.iam.role_session, "kf");
    assert_string_equal(c.tgt.iam.sts_region, "eu-west-1");
    assert_string_equal(c.tgt.iam.region, "eu-central-1");
    assert_true(c.tgt.iam.debug_creds);
    char region[32], err[512];
    assert_int_equal(mskiam_region(&c.tgt, region, sizeof(region), err, sizeof(err)), 0);
    assert_string_equal(region, "eu-central-1");
    mc_free(&c);

    /* MSK's OAUTHBEARER variant */
    assert_int_equal(
        load(&c,
             BASE "b.security.protocol = SASL_SSL\n"
                  "b.sasl.mechanism = OAUTHBEARER\n"
                  "b.sasl.jaas.config = "
                  "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;\n"
                  "b.sasl.login.callback.handler.class = "
                  "software.amazon.msk.auth.iam.IAMOAuthBearerLoginCallbackHandler\n",
             0, out, sizeof(out)),
        0);
    assert_true(c.tgt.iam.enabled);
    mc_free(&c);
}

static void test_msk_iam_region(void **state) {
    (void)state;
    mirror_config c;
    char out[8192], region[32], err[512];
    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");
    assert_int_equal(
        load(&c,
             "clusters = a, b\na.bootstrap.servers = h1:9092\n"
             "b.bootstrap.servers = b-1.demo.x1y2z3.c2.kafka.ap-southeast-2.amazonaws.com:9098,"
             "b-2.demo.x1y2z3.c2.kafka.ap-southeast-2.amazonaws.com:9098\n"
             "a->b.enabled = true\n" MSK_LINES,
             0, out, sizeof(out)),
        0);
    assert_int_equal(mskiam_region(&c.tgt, region, sizeof(region), err, sizeof(err)), 0);
    assert_string_equal(region, "ap-southeast-2");
    setenv("AWS_REGION", "us-west-2", 1);
    assert_int_equal(mskiam_region(&c.tgt, region, sizeof(region), err, sizeof(err)), 0);
    assert_string_equal(region, "us-west-2");
    unsetenv("AWS_REGION");
    mc_free(&c);
    /* a private DNS name says nothing: the error names the setting */
    assert_int_equal(load(&c, BASE MSK_LINES, 0, out, sizeof(out)), 0);
    assert_int_equal(mskiam_region(&c.tgt, region, sizeof(region), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "b.aws.region"));
    mc_free(&c);
}

static void test_msk_iam_errors(void **state) {
    (void)state;
    mirror_config c;
    char out[8192];
    /* the module without the mechanism */
    assert_int_not_equal(
        load(&c,
             BASE "b.security.protocol = SASL_SSL\n"
                  "b.sasl.jaas.config = software.amazon.msk.auth.iam.IAMLoginModule required;\n",
             0, out, sizeof(out)),
        0);
    assert_non_null(strstr(out, "set b.sasl.mechanism=AWS_MSK_IAM"));
    mc_free(&c);
    /* IAM without TLS+SASL */
    assert_int_not_equal(load(&c, BASE "b.sasl.mechanism = AWS_MSK_IAM\n", 0, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "b.security.protocol=SASL_SSL"));
    mc_free(&c);
    /* another Java callback handler */
    assert_int_not_equal(load(&c,
                              BASE "b.security.protocol = SASL_SSL\n"
                                   "b.sasl.client.callback.handler.class = com.example.Handler\n",
                              0, out, sizeof(out)),
                         0);
    assert_non_null(strstr(out, "cannot load Java callback handlers"));
    mc_free(&c);
    /* OAuthBearerLoginModule without MSK's handler */
    assert_int_not_equal(
        load(&c,
             BASE "b.security.protocol = SASL_SSL\n"
                  "b.sasl.mechanism = OAUTHBEARER\n"
                  "b.sasl.jaas.config = "
                  "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;\n",
             0, out, sizeof(out)),
        0);
    assert_non_null(strstr(out, "sasl.oauthbearer.method=oidc"));
    mc_free(&c);
}

int main(void) {
    kf_log_set_level(KF_LOG_ERR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_providers_file_and_env),
        cmocka_unit_test(test_providers_short_form_and_non_references),
        cmocka_unit_test(test_provider_errors_name_key_and_reference),
        cmocka_unit_test(test_invalid_resolved_value_is_redacted),
        cmocka_unit_test(test_truststores),
        cmocka_unit_test(test_truststore_errors),
        cmocka_unit_test(test_keystores),
        cmocka_unit_test(test_role_specific_stores),
        cmocka_unit_test(test_keystore_errors),
        cmocka_unit_test(test_pkcs12_certs),
        cmocka_unit_test(test_conndiag),
        cmocka_unit_test(test_msk_iam_mm2_lines),
        cmocka_unit_test(test_msk_iam_region),
        cmocka_unit_test(test_msk_iam_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
