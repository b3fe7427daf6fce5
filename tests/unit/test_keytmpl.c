/*
 * test_keytmpl.c — key templates: compile errors, rendering {N}/{topic}/literals/escapes,
 * missing levels and a too-small buffer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "bridge/err.h"
#include "bridge/ingest/keytmpl.h"

static void render_eq(const char *tmpl, const char *topic, const char *want)
{
	char err[256], buf[256];
	size_t len = 99;
	mqb_keytmpl_t *kt = mqb_keytmpl_compile(tmpl, err, sizeof(err));
	int rc;

	if (!kt)
		fail_msg("compile \"%s\": %s", tmpl, err);
	rc = mqb_keytmpl_render(kt, topic, buf, sizeof(buf), &len);
	mqb_keytmpl_free(kt);
	if (rc != MQB_OK)
		fail_msg("render \"%s\" on \"%s\": %d", tmpl, topic, rc);
	if (len != strlen(want) || memcmp(buf, want, len) != 0)
		fail_msg("render \"%s\" on \"%s\": got \"%.*s\", want \"%s\"", tmpl, topic,
			 (int)len, buf, want);
}

static void compile_err(const char *tmpl, const char *want)
{
	char err[256] = "";
	mqb_keytmpl_t *kt = mqb_keytmpl_compile(tmpl, err, sizeof(err));

	if (kt) {
		mqb_keytmpl_free(kt);
		fail_msg("\"%s\" should not compile", tmpl);
	}
	assert_string_equal(err, want);
}

static void test_render(void **state)
{
	(void)state;
	render_eq("{1}", "sensors/dev7/telemetry", "dev7");
	render_eq("{0}", "sensors/dev7/telemetry", "sensors");
	render_eq("{2}", "sensors/dev7/telemetry", "telemetry");
	render_eq("{topic}", "sensors/dev7/telemetry", "sensors/dev7/telemetry");
	render_eq("dev-{1}/{3}", "a/b/c/d/e", "dev-b/d");
	render_eq("{1}{0}", "x/y", "yx");
	render_eq("static", "x/y", "static");
	render_eq("{{{1}}}", "x/y", "{y}");
	render_eq("a{{b}}c", "x", "a{b}c");
	render_eq("{1}", "a//c", "");                 /* an empty level is a level */
	render_eq("{1}", "/lead", "lead");
	render_eq("{0}", "/lead", "");
	render_eq("{2}", "a/b/", "");
	render_eq("k:{topic}:{0}", "$SYS/x", "k:$SYS/x:$SYS");
	render_eq("{007}", "0/1/2/3/4/5/6/seven", "seven");
}

static void test_missing_level_and_buffer(void **state)
{
	char err[256], buf[8];
	size_t len = 5;
	mqb_keytmpl_t *kt = mqb_keytmpl_compile("{3}", err, sizeof(err));

	(void)state;
	assert_non_null(kt);
	assert_int_equal(mqb_keytmpl_max_level(kt), 3);
	assert_int_equal(mqb_keytmpl_render(kt, "a/b/c", buf, sizeof(buf), &len),
			 MQB_ERR_NOTFOUND);
	assert_int_equal(len, 0);
	assert_int_equal(mqb_keytmpl_render(kt, "a/b/c/d", buf, sizeof(buf), &len), MQB_OK);
	assert_int_equal(len, 1);
	assert_memory_equal(buf, "d", 1);
	mqb_keytmpl_free(kt);

	kt = mqb_keytmpl_compile("{topic}", err, sizeof(err));
	assert_non_null(kt);
	assert_int_equal(mqb_keytmpl_max_level(kt), -1);
	assert_int_equal(mqb_keytmpl_render(kt, "12345678", buf, sizeof(buf), &len), MQB_OK);
	assert_int_equal(len, 8);
	assert_int_equal(mqb_keytmpl_render(kt, "123456789", buf, sizeof(buf), &len),
			 MQB_ERR_TOOBIG);
	assert_int_equal(mqb_keytmpl_render(kt, NULL, buf, sizeof(buf), &len), MQB_ERR_INVAL);
	assert_int_equal(mqb_keytmpl_render(NULL, "a", buf, sizeof(buf), &len), MQB_ERR_INVAL);
	mqb_keytmpl_free(kt);
	mqb_keytmpl_free(NULL);
}

static void test_compile_errors(void **state)
{
	(void)state;
	compile_err("", "must not be empty (leave the key out for keyless records)");
	compile_err("{1", "unclosed '{' at column 1");
	compile_err("ab{", "unclosed '{' at column 3");
	compile_err("a}b", "unmatched '}' at column 2 (write '}}' for a literal '}')");
	compile_err("{}", "bad placeholder '{}' at column 1: expected {N} (0..65535) or {topic}");
	compile_err("x{-1}", "bad placeholder '{-1}' at column 2: expected {N} (0..65535) or {topic}");
	compile_err("{Topic}", "bad placeholder '{Topic}' at column 1: expected {N} (0..65535) or {topic}");
	compile_err("{1 }", "bad placeholder '{1 }' at column 1: expected {N} (0..65535) or {topic}");
	compile_err("{65536}", "level {65536} at column 1 is above 65535");
	compile_err("{123456}", "bad placeholder '{123456}' at column 1: expected {N} (0..65535) or {topic}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_missing_level_and_buffer),
		cmocka_unit_test(test_compile_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
