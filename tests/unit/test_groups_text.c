/*
 * test_groups_text.c — the text rules the groups' MQTT transport relies on (bridge/text.h,
 * which replaced the coordinator's own copy): UTF-8 validation for MQTT strings and
 * base64 for bytes that are not text.
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
	assert_true(mqb_utf8_valid("", 0));
	assert_true(mqb_utf8_valid("plain ascii", 11));
	assert_true(mqb_utf8_valid("gr\xc3\xbc\xc3\x9f", 6));            /* grüß */
	assert_true(mqb_utf8_valid("\xe2\x82\xac", 3));                  /* € */
	assert_true(mqb_utf8_valid("\xf0\x9f\x98\x80", 4));              /* U+1F600 */
	assert_false(mqb_utf8_valid("a\0b", 3));                          /* NUL */
	assert_false(mqb_utf8_valid("\xff", 1));
	assert_false(mqb_utf8_valid("\xc3", 1));                          /* truncated */
	assert_false(mqb_utf8_valid("\xe2\x82", 2));
	assert_false(mqb_utf8_valid("\xc0\xaf", 2));                      /* overlong / */
	assert_false(mqb_utf8_valid("\xe0\x80\xaf", 3));                  /* overlong */
	assert_false(mqb_utf8_valid("\xed\xa0\x80", 3));                  /* surrogate */
	assert_false(mqb_utf8_valid("\xf4\x90\x80\x80", 4));              /* > U+10FFFF */
	assert_false(mqb_utf8_valid("\x80", 1));                          /* lone continuation */
}

static void test_base64(void **state)
{
	static const struct { const char *in; size_t len; const char *out; } v[] = {
		{ "", 0, "" }, { "f", 1, "Zg==" }, { "fo", 2, "Zm8=" }, { "foo", 3, "Zm9v" },
		{ "foob", 4, "Zm9vYg==" }, { "fooba", 5, "Zm9vYmE=" }, { "foobar", 6, "Zm9vYmFy" },
		{ "\xff\x00\x01", 3, "/wAB" },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char *e = mqb_base64_encode(v[i].in, v[i].len);
		assert_string_equal(e, v[i].out);
		size_t n = 99;
		void *d = mqb_base64_decode(e, strlen(e), &n);
		assert_non_null(d);
		assert_int_equal(n, v[i].len);
		if (n)
			assert_memory_equal(d, v[i].in, n);
		free(d);
		free(e);
	}
	size_t n;
	assert_null(mqb_base64_decode("abc", 3, &n));       /* not a multiple of 4 */
	assert_null(mqb_base64_decode("ab!d", 4, &n));      /* bad character */
	assert_null(mqb_base64_decode("a=bc", 4, &n));      /* padding inside */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_base64),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
