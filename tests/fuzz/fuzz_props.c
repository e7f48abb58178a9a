/*
 * fuzz_props.c - libFuzzer harness for the Java-properties parser
 * (src/common/props.c: kferry-broker's config file, kferry's config file,
 * the broker's own .properties files) and the broker's config validation
 * on top of it (kb_config_apply).
 *
 * The input is the file's text.  Oracles: what parses saves and loads back
 * to the same keys and values in the same order; kb_config_apply either
 * accepts or returns a message, and never crashes.
 */
#include "broker/broker.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/props.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_path[4096];

static void cleanup(void) { unlink(g_path); }

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(g_path, sizeof(g_path), "%s/kferry-fuzz-props-%ld.properties", tmp, (long)getpid());
    if (!getenv("KFERRY_FUZZ_LOG"))
        kf_log_set_level(KF_LOG_ERR - 1);
    atexit(cleanup);
    return 0;
}

static void same_or_abort(const kf_props *p, const kf_props *q) {
    if (q->count != p->count)
        abort();
    for (size_t i = 0; i < p->count; i++)
        if (strcmp(p->items[i].key, q->items[i].key) != 0 ||
            strcmp(p->items[i].value, q->items[i].value) != 0)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    kf_props p;
    kf_props_init(&p);
    char err[4096];
    if (kf_props_parse(&p, (const char *)data, size, err, sizeof(err)) != 0) {
        if (!err[0])
            abort(); /* a refusal must say why */
        kf_props_free(&p);
        return 0;
    }
    /* Keys and values holding a NUL cannot survive a save: the parser
     * stores C strings, so they were cut at the NUL already.  The round
     * trip goes through memory (what kf_props_save writes, parsed as
     * kf_props_load parses it); every 256th input also takes the real file
     * path, so the writer and loader stay covered without a file write and
     * read per input (927 exec/s that way, mostly in the kernel). */
    kf_buf text;
    kf_buf_init(&text, 0);
    if (kf_props_format(&p, &text) == 0) {
        kf_props q;
        kf_props_init(&q);
        const char *t = text.len ? (const char *)text.data : "";
        if (kf_props_parse(&q, t, text.len, err, sizeof(err)) != 0)
            abort(); /* our own output must parse */
        same_or_abort(&p, &q);
        kf_props_free(&q);
        static unsigned n;
        if ((n++ & 255) == 0 && kf_props_save(&p, g_path) == 0) {
            kf_props_init(&q);
            if (kf_props_load(&q, g_path, err, sizeof(err)) != 0)
                abort(); /* our own file must load */
            same_or_abort(&p, &q);
            kf_props_free(&q);
        }
    }
    kf_buf_free(&text);
    kb_config c;
    kb_config_defaults(&c);
    (void)kb_config_apply(&c, &p, err, sizeof(err));
    kb_config_free(&c);
    kf_props_free(&p);
    return 0;
}
