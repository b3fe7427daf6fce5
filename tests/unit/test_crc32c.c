/* test_crc32c.c — CRC-32C check values on both the SSE4.2 and the table path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bridge/store/crc32c.h"

/* Bit-at-a-time reference, independent of the table and instruction code. */
static uint32_t crc_ref(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
	}
	return ~c;
}

typedef uint32_t (crc_fn)(uint32_t, const void *, size_t);

static void check_vectors(crc_fn *fn)
{
	uint8_t buf[32];

	assert_int_equal(fn(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(fn(0, "", 0), 0);
	/* RFC 3720 (iSCSI) B.4 test patterns */
	memset(buf, 0, sizeof(buf));
	assert_int_equal(fn(0, buf, 32), 0x8A9136AAu);
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(fn(0, buf, 32), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	assert_int_equal(fn(0, buf, 32), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	assert_int_equal(fn(0, buf, 32), 0x113FDB5Cu);
}

static void check_random(crc_fn *fn)
{
	enum { N = 20000 };
	uint8_t *buf = malloc(N + 8);
	unsigned seed = 12345;

	assert_non_null(buf);
	for (size_t i = 0; i < N + 8; i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (uint8_t)(seed >> 16);
	}
	/* every alignment and many lengths, and continuation in two pieces */
	for (size_t off = 0; off < 8; off++) {
		for (size_t len = 0; len < N; len += len < 1000 ? 7 : 997) {
			uint32_t want = crc_ref(buf + off, len);
			assert_int_equal(fn(0, buf + off, len), want);
			size_t half = len / 3;
			assert_int_equal(fn(fn(0, buf + off, half), buf + off + half, len - half),
					 want);
		}
	}
	free(buf);
}

static void test_sw_vectors(void **state) { (void)state; check_vectors(mqb_crc32c_sw); }
static void test_sw_random(void **state)  { (void)state; check_random(mqb_crc32c_sw); }
static void test_default_vectors(void **state) { (void)state; check_vectors(mqb_crc32c); }

static void test_hw_vectors(void **state)
{
	(void)state;
	if (!mqb_crc32c_hw_available())
		skip();
	check_vectors(mqb_crc32c_hw);
	check_random(mqb_crc32c_hw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sw_vectors),
		cmocka_unit_test(test_sw_random),
		cmocka_unit_test(test_hw_vectors),
		cmocka_unit_test(test_default_vectors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
