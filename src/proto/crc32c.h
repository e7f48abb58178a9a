/*
 * crc32c.h - CRC-32C (Castagnoli), the checksum of RecordBatch v2.
 *
 * Debian packages no CRC-32C library, so it is written here: the SSE4.2
 * crc32 instruction when the CPU has it, a slicing table otherwise.
 */
#ifndef KF_CRC32C_H
#define KF_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* crc is the running value (start with 0); returns the updated CRC. */
uint32_t kf_crc32c(uint32_t crc, const void *data, size_t len);
/* The portable implementation, exposed so tests can compare both paths. */
uint32_t kf_crc32c_sw(uint32_t crc, const void *data, size_t len);

#endif
