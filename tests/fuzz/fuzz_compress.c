/*
 * fuzz_compress.c - libFuzzer harness for the batch codecs (compress.c).
 *
 * First byte picks the codec, the rest is decompressed under a 1 MiB cap.
 * Oracles: output never exceeds the cap, failure leaves the output buffer
 * as it was, and whatever decodes re-compresses and decodes back equal.
 */
#include "proto/compress.h"

#include <stdlib.h>
#include <string.h>

#define CAP (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    int codec = data[0] % 6; /* 5 = an unknown codec, must fail cleanly */
    kf_buf out;
    kf_buf_init(&out, 0);
    kf_buf_append(&out, "pre", 3); /* decompression appends after this */
    int rc = kf_decompress_ex(codec, data + 1, size - 1, &out, CAP);
    if (out.len < 3 || memcmp(out.data, "pre", 3) != 0)
        abort();
    if (rc != KF_DECOMP_OK) {
        if (out.len != 3 || (rc != KF_DECOMP_CORRUPT && rc != KF_DECOMP_TOO_BIG) ||
            (codec == 0 && rc != KF_DECOMP_TOO_BIG))
            abort();
        kf_buf_free(&out);
        return 0;
    }
    if (codec == 5 || out.len - 3 > CAP)
        abort();
    kf_buf c, d;
    kf_buf_init(&c, 0);
    kf_buf_init(&d, 0);
    if (kf_compress(codec, out.data + 3, out.len - 3, &c) != 0 ||
        kf_decompress(codec, c.data, c.len, &d, out.len - 3) != 0 || d.len != out.len - 3 ||
        (d.len && memcmp(d.data, out.data + 3, d.len) != 0))
        abort();
    kf_buf_free(&c);
    kf_buf_free(&d);
    kf_buf_free(&out);
    return 0;
}
