/*
 * crc32c.c - CRC-32C (Castagnoli, reflected polynomial 0x82F63B78).
 *
 * Two implementations with identical results: the SSE4.2 crc32 instruction
 * (8 bytes per step, chosen once at startup by CPU detection) and a
 * portable slicing-by-8 table.  Invariant: both take and return the
 * *finalised* CRC (pre/post inversion done here), so calls chain.
 */
#include "proto/crc32c.h"

#include <string.h>

#define POLY 0x82F63B78u

/* Slicing-by-8 tables: T[0] is the classic byte table, T[k][b] is the CRC
 * of byte b followed by k zero bytes.  Built once by a constructor so the
 * hot path never checks an "initialised" flag. */
static uint32_t T[8][256];

__attribute__((constructor)) static void crc_tables_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
        T[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int k = 1; k < 8; k++)
            T[k][i] = (T[k - 1][i] >> 8) ^ T[0][T[k - 1][i] & 0xff];
}

static inline uint64_t load_le64(const uint8_t *p) {
    /* memcpy + explicit little-endian assembly: no unaligned access UB and
     * correct on big-endian hosts too. */
    uint8_t b[8];
    memcpy(b, p, 8);
    return (uint64_t)b[0] | (uint64_t)b[1] << 8 | (uint64_t)b[2] << 16 | (uint64_t)b[3] << 24 |
           (uint64_t)b[4] << 32 | (uint64_t)b[5] << 40 | (uint64_t)b[6] << 48 |
           (uint64_t)b[7] << 56;
}

uint32_t kf_crc32c_sw(uint32_t crc, const void *data, size_t len) {
    const uint8_t *p = data;
    uint32_t c = ~crc;
    while (len >= 8) {
        uint64_t w = load_le64(p) ^ c;
        c = T[7][w & 0xff] ^ T[6][(w >> 8) & 0xff] ^ T[5][(w >> 16) & 0xff] ^
            T[4][(w >> 24) & 0xff] ^ T[3][(w >> 32) & 0xff] ^ T[2][(w >> 40) & 0xff] ^
            T[1][(w >> 48) & 0xff] ^ T[0][w >> 56];
        p += 8;
        len -= 8;
    }
    while (len--)
        c = (c >> 8) ^ T[0][(c ^ *p++) & 0xff];
    return ~c;
}

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>

__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const void *data,
                                                            size_t len) {
    const uint8_t *p = data;
    uint32_t c = ~crc;
    /* Byte steps until 8-aligned so the wide loads below never straddle a
     * cache line needlessly. */
    while (len && ((uintptr_t)p & 7)) {
        c = _mm_crc32_u8(c, *p++);
        len--;
    }
#if defined(__x86_64__)
    uint64_t c64 = c;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8); /* aligned by now; memcpy keeps it strictly legal */
        c64 = _mm_crc32_u64(c64, w);
        p += 8;
        len -= 8;
    }
    c = (uint32_t)c64;
#endif
    while (len >= 4) {
        uint32_t w;
        memcpy(&w, p, 4);
        c = _mm_crc32_u32(c, w);
        p += 4;
        len -= 4;
    }
    while (len--)
        c = _mm_crc32_u8(c, *p++);
    return ~c;
}

static uint32_t (*crc_impl)(uint32_t, const void *, size_t) = kf_crc32c_sw;

/* Runs before main (and before any caller can reach kf_crc32c), so the
 * pointer is written once and only read afterwards. */
__attribute__((constructor)) static void crc_select(void) {
    __builtin_cpu_init(); /* required when called from a constructor */
    if (__builtin_cpu_supports("sse4.2"))
        crc_impl = crc32c_hw;
}

uint32_t kf_crc32c(uint32_t crc, const void *data, size_t len) { return crc_impl(crc, data, len); }

#else

uint32_t kf_crc32c(uint32_t crc, const void *data, size_t len) {
    return kf_crc32c_sw(crc, data, len);
}

#endif
