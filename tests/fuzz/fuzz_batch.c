/*
 * fuzz_batch.c - libFuzzer harness for RecordBatch v2 validation and
 * iteration (kf_batch_validate, kf_batch_foreach, kf_record_header).
 *
 * Each input is checked twice: as sent, and with its CRC recomputed, so
 * mutations reach the record and decompression code behind the CRC check.
 * Oracle: a batch that validates must iterate cleanly, and re-encoding its
 * records with the builder must validate again with the same records.
 */
#include "proto/batch.h"
#include "proto/compress.h"
#include "proto/proto.h"

#include <stdlib.h>
#include <string.h>

#define CAP (1u << 20) /* small cap: bombs are found quickly, not slowly */

typedef struct walk {
    int32_t n;
    uint32_t sum;              /* touch every byte so ASan checks the pointers */
    kf_batch_builder *rebuild; /* non-NULL: copy records here */
} walk;

static int on_record(const kf_batch_hdr *h, const kf_record *r, void *opaque) {
    walk *w = opaque;
    (void)h;
    if (r->key_len > 0)
        for (int32_t i = 0; i < r->key_len; i++)
            w->sum += r->key[i];
    if (r->value_len > 0)
        for (int32_t i = 0; i < r->value_len; i++)
            w->sum += r->value[i];
    if ((r->key_len < 0) != (r->key == NULL) || (r->value_len < 0) != (r->value == NULL))
        abort();
    kf_header hs[8];
    int32_t nh = r->header_count < 8 ? r->header_count : 8;
    for (int32_t i = 0; i < r->header_count; i++) {
        kf_header hd;
        if (kf_record_header(r, i, &hd) != 0)
            abort(); /* decode_record accepted these headers */
        for (int32_t k = 0; k < hd.key_len; k++)
            w->sum += hd.key[k];
        for (int32_t k = 0; k < hd.value_len; k++)
            w->sum += hd.value[k];
        if (i < 8)
            hs[i] = hd;
    }
    if (w->rebuild && r->header_count <= 8) {
        if (kf_batch_builder_add(w->rebuild, r->timestamp, r->key, r->key_len, r->value,
                                 r->value_len, hs, nh) != 0)
            abort();
    } else if (w->rebuild) {
        w->rebuild = NULL; /* too many headers to copy here: skip the oracle */
    }
    w->n++;
    return 0;
}

static void check(const uint8_t *data, size_t size) {
    kf_batch_hdr h;
    int err = kf_batch_validate(data, size, CAP, &h);
    walk w = {0, 0, NULL};
    int fe = kf_batch_foreach(data, size, CAP, on_record, &w);
    if (err != 0)
        return;
    /* Validated: iteration must agree. */
    if (fe != 0 || w.n != h.record_count)
        abort();

    /* Round trip through the builder (LogAppendTime would replace the
     * timestamps, so only for CreateTime batches). */
    if (h.attributes & KF_BATCH_ATTR_LOG_APPEND_TIME)
        return;
    kf_batch_builder b;
    kf_batch_builder_init(&b, kf_batch_codec(&h));
    walk w2 = {0, 0, &b};
    if (kf_batch_foreach(data, size, CAP, on_record, &w2) != 0)
        abort();
    if (w2.rebuild) {
        kf_buf out;
        kf_buf_init(&out, 0);
        if (kf_batch_builder_finish(&b, &out) != 0)
            abort();
        kf_batch_hdr h2;
        if (kf_batch_validate(out.data, out.len, (size_t)CAP * 2, &h2) != 0)
            abort();
        walk w3 = {0, 0, NULL};
        if (kf_batch_foreach(out.data, out.len, (size_t)CAP * 2, on_record, &w3) != 0 ||
            w3.n != w.n || w3.sum != w.sum)
            abort();
        kf_buf_free(&out);
    }
    kf_batch_builder_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    check(data, size);
    if (size >= KF_BATCH_HDR_SIZE) {
        /* Same bytes with a correct CRC over the fuzzed length. */
        uint8_t *copy = malloc(size);
        if (!copy)
            return 0;
        memcpy(copy, data, size);
        kf_batch_set_crc(copy, size);
        check(copy, size);
        free(copy);
    }
    return 0;
}
