/* crc32c.c — CRC-32C: SSE4.2 instruction with run-time detection, slicing-by-8 table. */
#include "bridge/store/crc32c.h"

#include <pthread.h>
#include <string.h>

#define CRC32C_POLY 0x82F63B78u

static uint32_t crc32c_table[8][256];
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;
static bool crc32c_have_hw;

static void crc32c_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
		crc32c_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = crc32c_table[0][i];
		for (int t = 1; t < 8; t++) {
			c = crc32c_table[0][c & 0xff] ^ (c >> 8);
			crc32c_table[t][i] = c;
		}
	}
#if defined(__x86_64__) || defined(__i386__)
	__builtin_cpu_init();
	crc32c_have_hw = __builtin_cpu_supports("sse4.2");
#else
	crc32c_have_hw = false;
#endif
}

bool mqb_crc32c_hw_available(void)
{
	pthread_once(&crc32c_once, crc32c_init);
	return crc32c_have_hw;
}

uint32_t mqb_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	pthread_once(&crc32c_once, crc32c_init);
	crc = ~crc;
	while (len && ((uintptr_t)p & 7)) {
		crc = crc32c_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
		len--;
	}
	while (len >= 8) {
		uint32_t lo, hi;
		memcpy(&lo, p, 4);
		memcpy(&hi, p + 4, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		lo = __builtin_bswap32(lo);
		hi = __builtin_bswap32(hi);
#endif
		lo ^= crc;
		crc = crc32c_table[7][lo & 0xff] ^ crc32c_table[6][(lo >> 8) & 0xff] ^
		      crc32c_table[5][(lo >> 16) & 0xff] ^ crc32c_table[4][lo >> 24] ^
		      crc32c_table[3][hi & 0xff] ^ crc32c_table[2][(hi >> 8) & 0xff] ^
		      crc32c_table[1][(hi >> 16) & 0xff] ^ crc32c_table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = crc32c_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

#if defined(__x86_64__)
#include <nmmintrin.h>

/* a * b modulo the CRC polynomial, reflected bit order (as in zlib's multmodp). */
static uint32_t crc32c_multmodp(uint32_t a, uint32_t b)
{
	uint32_t m = 1u << 31, p = 0;

	for (;;) {
		if (a & m) {
			p ^= b;
			if ((a & (m - 1)) == 0)
				break;
		}
		m >>= 1;
		b = b & 1 ? (b >> 1) ^ CRC32C_POLY : b >> 1;
	}
	return p;
}

/* x^(8 * n) modulo the polynomial: shifts a CRC register over n zero bytes. */
static uint32_t crc32c_x8n(size_t n)
{
	uint32_t p = 1u << 31, x2k = 1u << 30;   /* x^0, x^1 */

	n *= 8;
	while (n) {
		if (n & 1)
			p = crc32c_multmodp(x2k, p);
		x2k = crc32c_multmodp(x2k, x2k);
		n >>= 1;
	}
	return p;
}

#define CRC_LONG  1024   /* bytes per stream in the long three-way blocks */
#define CRC_SHORT 128
static uint32_t crc32c_long_shift, crc32c_short_shift;
static pthread_once_t crc32c_shift_once = PTHREAD_ONCE_INIT;

static void crc32c_shift_init(void)
{
	crc32c_long_shift = crc32c_x8n(CRC_LONG);
	crc32c_short_shift = crc32c_x8n(CRC_SHORT);
}

/* Three independent streams hide the instruction's 3-cycle latency; the partial
 * CRCs are then combined by shifting them over the bytes that followed. */
__attribute__((target("sse4.2")))
static uint64_t crc32c_3way(uint64_t c0, const uint8_t *p, size_t len, uint32_t shift)
{
	const uint8_t *p1 = p + len, *p2 = p + 2 * len, *end = p1;
	uint64_t c1 = 0, c2 = 0, a, b, d;

	while (p < end) {
		memcpy(&a, p, 8);
		memcpy(&b, p1, 8);
		memcpy(&d, p2, 8);
		c0 = _mm_crc32_u64(c0, a);
		c1 = _mm_crc32_u64(c1, b);
		c2 = _mm_crc32_u64(c2, d);
		p += 8;
		p1 += 8;
		p2 += 8;
	}
	c0 = crc32c_multmodp(shift, (uint32_t)c0) ^ c1;
	c0 = crc32c_multmodp(shift, (uint32_t)c0) ^ c2;
	return c0;
}

__attribute__((target("sse4.2")))
uint32_t mqb_crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t c = ~crc;

	pthread_once(&crc32c_shift_once, crc32c_shift_init);
	while (len && ((uintptr_t)p & 7)) {
		c = _mm_crc32_u8((uint32_t)c, *p++);
		len--;
	}
	while (len >= 3 * CRC_LONG) {
		c = crc32c_3way(c, p, CRC_LONG, crc32c_long_shift);
		p += 3 * CRC_LONG;
		len -= 3 * CRC_LONG;
	}
	while (len >= 3 * CRC_SHORT) {
		c = crc32c_3way(c, p, CRC_SHORT, crc32c_short_shift);
		p += 3 * CRC_SHORT;
		len -= 3 * CRC_SHORT;
	}
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = _mm_crc32_u64(c, v);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = _mm_crc32_u8((uint32_t)c, *p++);
	return ~(uint32_t)c;
}
#else
uint32_t mqb_crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	return mqb_crc32c_sw(crc, buf, len);
}
#endif

uint32_t mqb_crc32c(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc32c_once, crc32c_init);
	if (crc32c_have_hw)
		return mqb_crc32c_hw(crc, buf, len);
	return mqb_crc32c_sw(crc, buf, len);
}
