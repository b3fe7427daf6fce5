/*
 * crc32c.h — CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of
 * Kafka RecordBatch v2. Uses the SSE4.2 crc32 instruction when the CPU has it
 * (detected once at run time) and a slicing-by-8 table otherwise.
 *
 * mqb_crc32c(0, buf, len) is the standard CRC-32C of buf; pass a previous result as
 * crc to continue over more bytes. No memory is owned; all functions are thread-safe.
 */
#ifndef MQB_CRC32C_H
#define MQB_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

uint32_t mqb_crc32c(uint32_t crc, const void *buf, size_t len);

/* The two implementations, for tests and benchmarks. mqb_crc32c_hw() must only be
 * called when mqb_crc32c_hw_available() returns true. */
uint32_t mqb_crc32c_sw(uint32_t crc, const void *buf, size_t len);
uint32_t mqb_crc32c_hw(uint32_t crc, const void *buf, size_t len);
bool mqb_crc32c_hw_available(void);

#endif
