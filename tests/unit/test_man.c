/*
 * test_man.c — the man pages: mqbridged(8) and mqbridge(1) (docs/man/, by hand) and
 * mqbridge.conf(5) (generated into BUILD_DIR/docs/man/ from docs/CONFIG.md by
 * docs/man/conf-keys.py) format without a single groff warning (`groff -ww -z -man`,
 * what `man -l` runs), and the generated (5) documents every key of CONFIG.md's
 * reference table. Skipped only when groff is not installed (scripts/deps.sh installs
 * groff-base).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/harness.h"

static void page_path(char *out, size_t size, const char *page)
{
	const char *src = getenv("MQB_SOURCE_DIR"), *bld = getenv("MQB_BUILD_DIR");

	if (strcmp(page, "mqbridge.conf.5") == 0)
		snprintf(out, size, "%s/docs/man/%s", bld ? bld : ".", page);
	else
		snprintf(out, size, "%s/docs/man/%s", src ? src : ".", page);
}

static void groff_clean(const char *page)
{
	char path[512];
	char *out = NULL;
	size_t len = 0;
	const char *argv[] = { "/bin/sh", "-c", "groff -ww -z -man \"$1\" 2>&1", "sh", path,
			       NULL };

	if (access("/usr/bin/groff", X_OK) != 0) {
		fprintf(stderr, "SKIP: groff is not installed (apt-get install groff-base)\n");
		skip();
	}
	page_path(path, sizeof(path), page);
	assert_int_equal(access(path, R_OK), 0);
	assert_int_equal(mqbt_run(argv, &out, &len, 30000), 0);
	if (len)
		fprintf(stderr, "groff on %s:\n%s\n", path, out);
	assert_int_equal(len, 0);      /* not one warning */
	free(out);
}

static void test_mqbridged_8(void **state) { (void)state; groff_clean("mqbridged.8"); }
static void test_mqbridge_1(void **state) { (void)state; groff_clean("mqbridge.1"); }
static void test_mqbridge_conf_5(void **state) { (void)state; groff_clean("mqbridge.conf.5"); }

/* Every `key` of the generated reference in CONFIG.md is an entry of (5). */
static void test_conf_5_has_every_key(void **state)
{
	char path[512], want[256], *md, *page, *p, *end;
	const char *src = getenv("MQB_SOURCE_DIR");
	int keys = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/docs/CONFIG.md", src ? src : ".");
	md = mqbt_read_file(path, NULL);
	assert_non_null(md);
	page_path(path, sizeof(path), "mqbridge.conf.5");
	page = mqbt_read_file(path, NULL);
	assert_non_null(page);
	p = strstr(md, "<!-- BEGIN GENERATED REFERENCE -->");
	end = strstr(md, "<!-- END GENERATED REFERENCE -->");
	assert_non_null(p);
	assert_non_null(end);
	while ((p = strstr(p, "\n| `")) && p < end) {
		size_t n = 0;
		p += 4;
		memcpy(want, "\n\\fB", 4);
		n = 4;
		for (; *p && *p != '`' && n < sizeof(want) - 8; p++) {
			if (*p == '-')
				want[n++] = '\\';
			want[n++] = *p;
		}
		memcpy(want + n, "\\fR\n", 5);
		if (!strstr(page, want))
			fail_msg("mqbridge.conf.5 has no entry %s", want);
		keys++;
	}
	assert_true(keys > 50);
	free(md);
	free(page);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mqbridged_8),
		cmocka_unit_test(test_mqbridge_1),
		cmocka_unit_test(test_mqbridge_conf_5),
		cmocka_unit_test(test_conf_5_has_every_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
