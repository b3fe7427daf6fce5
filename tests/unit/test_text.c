/*
 * test_text.c — the one UTF-8 validator and base64 codec (bridge/text.h): RFC 3629
 * edge cases and RFC 4648 test vectors, canonical decoding only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bridge/text.h"

static void test_utf8(void **state)
{
	(void)state;
	assert_true(mqb_utf8_valid("", 0));
	assert_true(mqb_utf8_valid("abc/def", 7));
	assert_true(mqb_utf8_valid("\xc3\xa9t\xc3\xa9", 5));              /* été */
	assert_true(mqb_utf8_valid("\xe2\x82\xac", 3));                   /* U+20AC */
	assert_true(mqb_utf8_valid("\xf0\x9f\x98\x80", 4));               /* U+1F600 */
	assert_true(mqb_utf8_valid("\xf4\x8f\xbf\xbf", 4));               /* U+10FFFF */
	assert_false(mqb_utf8_valid("a\0b", 3));                          /* NUL */
	assert_false(mqb_utf8_valid("\x80", 1));                          /* stray continuation */
	assert_false(mqb_utf8_valid("\xc0\xaf", 2));                      /* overlong '/' */
	assert_false(mqb_utf8_valid("\xe0\x80\xaf", 3));                  /* overlong, 3 bytes */
	assert_false(mqb_utf8_valid("\xf0\x80\x80\xaf", 4));              /* overlong, 4 bytes */
	assert_false(mqb_utf8_valid("\xed\xa0\x80", 3));                  /* surrogate D800 */
	assert_false(mqb_utf8_valid("\xf4\x90\x80\x80", 4));              /* > U+10FFFF */
	assert_false(mqb_utf8_valid("\xf5\x80\x80\x80", 4));
	assert_false(mqb_utf8_valid("\xe2\x82", 2));                      /* truncated */
	assert_false(mqb_utf8_valid("\xc3\x28", 2));                      /* bad continuation */
	assert_int_equal(mqb_utf8_seq("\xe2\x82\xac", 3), 3);
	assert_int_equal(mqb_utf8_seq("\xe2\x82\xac", 2), 0);
	assert_int_equal(mqb_utf8_seq("x", 0), 0);
}

static void check_b64(const char *plain, const char *enc)
{
	char *e = mqb_base64_encode(plain, strlen(plain));
	size_t n = 99;
	char *d;

	assert_non_null(e);
	assert_string_equal(e, enc);
	d = mqb_base64_decode(enc, strlen(enc), &n);
	assert_non_null(d);
	assert_int_equal(n, strlen(plain));
	assert_memory_equal(d, plain, n);
	free(e);
	free(d);
}

static void test_base64_vectors(void **state)
{
	(void)state;
	/* RFC 4648 section 10 */
	check_b64("", "");
	check_b64("f", "Zg==");
	check_b64("fo", "Zm8=");
	check_b64("foo", "Zm9v");
	check_b64("foob", "Zm9vYg==");
	check_b64("fooba", "Zm9vYmE=");
	check_b64("foobar", "Zm9vYmFy");
}

static void test_base64_binary(void **state)
{
	uint8_t buf[256];
	size_t n;
	char *e;
	uint8_t *d;

	(void)state;
	for (int i = 0; i < 256; i++)
		buf[i] = (uint8_t)(255 - i);
	for (size_t len = 0; len <= sizeof buf; len += 37) {
		e = mqb_base64_encode(buf, len);
		assert_non_null(e);
		assert_int_equal(strlen(e), (len + 2) / 3 * 4);
		d = mqb_base64_decode(e, strlen(e), &n);
		assert_non_null(d);
		assert_int_equal(n, len);
		assert_memory_equal(d, buf, len);
		free(e);
		free(d);
	}
}

static void test_base64_refuses(void **state)
{
	static const char *bad[] = { "Zg=", "Zg", "Z===", "====", "Zg=a", "Z=g=", "Zm9v!A==",
				     "Zm 9v", "Zg==Zg==", NULL };
	size_t n;

	(void)state;
	for (int i = 0; bad[i]; i++)
		assert_null(mqb_base64_decode(bad[i], strlen(bad[i]), &n));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_base64_vectors),
		cmocka_unit_test(test_base64_binary),
		cmocka_unit_test(test_base64_refuses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
