/*
 * fuzz_acl.c - libFuzzer harness for the ACL code (broker/acl.c,
 * broker/h_acl.c): the store file loader and the DescribeAcls /
 * CreateAcls / DeleteAcls request bodies, with an authorizer on.
 *
 * The first input byte picks the mode:
 *  - even: the rest is an image of kferry-meta/acls for kb_acls_parse.
 *    Oracle: what parses holds only valid bindings; saving it and loading
 *    the file back gives the same bindings in the same order.
 *  - odd: the rest is a list of requests, [u8 api][u8 version][u16
 *    big-endian length][body] repeated (api's low 7 bits modulo 3:
 *    describe, create, delete; its top bit: sent by User:nobody, who needs
 *    ACLs, instead of the super user User:fuzz; version modulo 3, plus 1:
 *    v1-3, flexible from v2), run
 *    against one store that starts empty.  Oracles: an answered request
 *    has a body; after every request the store holds only valid bindings,
 *    none twice, and equals what its file loads back as (every change was
 *    persisted); DescribeAcls with an all-ANY filter lists every binding.
 *
 * The data directory is a scratch directory (fuzz_env.h) removed at exit;
 * each input starts from an empty store, so a crash reproduces from its
 * input alone.
 */
#include "fuzz_env.h"
#include "broker/acl.h"
#include "broker/handlers.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_REQUESTS 16

static char g_dir[4096];
static kb_acls g_acls;
static kb_broker g_b;

static void die(const char *what) {
    fprintf(stderr, "fuzz_acl: %s\n", what);
    abort();
}

static void reset_store(void) {
    kb_acls_free(&g_acls);
    memset(&g_acls, 0, sizeof(g_acls));
    char err[512];
    if (kb_acls_open(&g_acls, g_dir, err, sizeof(err)) != 0)
        die(err);
    while (g_acls.n) /* what the previous input left in the file */
        kb_acls_remove(&g_acls, 0);
    unlink(g_acls.path);
    g_acls.enabled = 1;
    if (kb_acls_set_super_users(&g_acls, "User:fuzz") != 0)
        die("out of memory");
    memset(&g_b, 0, sizeof(g_b));
    g_b.acls = &g_acls;
}

static void cleanup(void) {
    kb_acls_free(&g_acls);
    kf_rmtree(g_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_env_init(g_dir, sizeof(g_dir), "acl");
    atexit(cleanup);
    return 0;
}

static int same_acl(const kb_acl *x, const kb_acl *y) {
    return x->res_type == y->res_type && x->pattern == y->pattern && x->op == y->op &&
           x->perm == y->perm && !strcmp(x->name, y->name) && !strcmp(x->principal, y->principal) &&
           !strcmp(x->host, y->host);
}

static void check_valid(const kb_acls *a) {
    for (size_t i = 0; i < a->n; i++) {
        const kb_acl *x = &a->v[i];
        if (kb_acl_invalid(x->res_type, x->name, strlen(x->name), x->pattern, x->principal,
                           strlen(x->principal), x->host, strlen(x->host), x->op, x->perm))
            die("an invalid binding in the store");
        for (size_t k = 0; k < i; k++)
            if (same_acl(&a->v[k], x))
                die("a binding held twice");
    }
}

/* The store equals what its file loads back as. */
static void check_persisted(const kb_acls *a) {
    kb_acls back;
    char err[512];
    if (kb_acls_open(&back, g_dir, err, sizeof(err)) != 0)
        die(err);
    if (back.n != a->n)
        die("the file does not hold what memory holds");
    for (size_t i = 0; i < a->n; i++)
        if (!same_acl(&back.v[i], &a->v[i]))
            die("a binding changed on the way to disk");
    kb_acls_free(&back);
}

static void run_file(const uint8_t *data, size_t size) {
    kb_acls a;
    memset(&a, 0, sizeof(a));
    kf_strlcpy(a.path, g_acls.path, sizeof(a.path));
    char err[512];
    if (kb_acls_parse(&a, data, size, err, sizeof(err)) != 0) {
        if (!err[0] || a.n != 0)
            die("a refused image without a message, or with bindings left");
        kb_acls_free(&a);
        return;
    }
    check_valid(&a);
    if (kb_acls_save(&a) != 0)
        die("save failed");
    check_persisted(&a);
    kb_acls_free(&a);
}

static void describe_all_count(void) {
    /* v1 body: ANY, null, ANY, null, null, ANY, ANY. */
    static const uint8_t body[] = {KB_RES_ANY, 0xff, 0xff, KB_PAT_ANY, 0xff,
                                   0xff,       0xff, 0xff, KB_OP_ANY,  KB_PERM_ANY};
    uint8_t frame[sizeof(body)];
    memcpy(frame, body, sizeof(body));
    kb_req r;
    memset(&r, 0, sizeof(r));
    r.api_key = KF_API_DESCRIBE_ACLS;
    r.api_version = 1;
    r.frame = frame;
    r.frame_len = sizeof(frame);
    r.principal = "User:fuzz";
    r.peer = "127.0.0.1:1";
    kf_buf out;
    kf_buf_init(&out, 0);
    if (kb_h_describe_acls(&g_b, &r, &out) != KB_OK || !kf_buf_ok(&out))
        die("describe-all failed");
    kf_rd rd;
    kf_rd_init(&rd, out.data, out.len);
    (void)kf_rd_i32(&rd);
    int16_t err = kf_rd_i16(&rd);
    const char *msg;
    (void)kf_rd_str(&rd, 0, &msg);
    int32_t nres = kf_rd_arr(&rd, 0, 1);
    size_t total = 0;
    for (int32_t i = 0; i < nres && kf_rd_ok(&rd); i++) {
        const char *s;
        (void)kf_rd_i8(&rd);
        (void)kf_rd_str(&rd, 0, &s);
        (void)kf_rd_i8(&rd);
        int32_t n = kf_rd_arr(&rd, 0, 1);
        for (int32_t k = 0; k < n && kf_rd_ok(&rd); k++) {
            (void)kf_rd_str(&rd, 0, &s);
            (void)kf_rd_str(&rd, 0, &s);
            (void)kf_rd_i8(&rd);
            (void)kf_rd_i8(&rd);
            total++;
        }
    }
    if (!kf_rd_ok(&rd) || kf_rd_left(&rd) != 0 || err != 0 || total != g_acls.n)
        die("DescribeAcls of everything does not list every binding");
    kf_buf_free(&out);
}

static void run_requests(const uint8_t *data, size_t size) {
    static const int16_t keys[3] = {KF_API_DESCRIBE_ACLS, KF_API_CREATE_ACLS, KF_API_DELETE_ACLS};
    size_t pos = 0;
    for (int n = 0; n < MAX_REQUESTS && size - pos >= 4; n++) {
        int api = (data[pos] & 0x7f) % 3;
        int nobody = (data[pos] & 0x80) != 0;
        int16_t ver = (int16_t)(data[pos + 1] % 3 + 1);
        size_t len = kf_be16(data + pos + 2);
        pos += 4;
        if (len > size - pos)
            len = size - pos;
        kb_req r;
        memset(&r, 0, sizeof(r));
        r.api_key = keys[api];
        r.api_version = ver;
        r.flex = ver >= 2;
        /* Exact-size heap copy so ASan flags any read past the body. */
        r.frame = malloc(len ? len : 1);
        if (!r.frame)
            die("out of memory");
        memcpy(r.frame, data + pos, len);
        r.frame_len = len;
        r.principal = nobody ? "User:nobody" : "User:fuzz";
        r.peer = "127.0.0.1:1";
        pos += len;
        kf_buf out;
        kf_buf_init(&out, 0);
        int rc = api == 0   ? kb_h_describe_acls(&g_b, &r, &out)
                 : api == 1 ? kb_h_create_acls(&g_b, &r, &out)
                            : kb_h_delete_acls(&g_b, &r, &out);
        free(r.frame);
        if (rc != KB_OK && rc != KB_CLOSE)
            die("unexpected handler result");
        if (rc == KB_OK && (!kf_buf_ok(&out) || out.len < 4))
            die("an answered request without a body");
        kf_buf_free(&out);
        check_valid(&g_acls);
        check_persisted(&g_acls);
        if (rc == KB_CLOSE)
            break;
    }
    describe_all_count();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    reset_store();
    if ((data[0] & 1) == 0)
        run_file(data + 1, size - 1);
    else
        run_requests(data + 1, size - 1);
    return 0;
}
