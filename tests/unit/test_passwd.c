/*
 * test_passwd.c — the shared password file and SASL PLAIN parser (bridge/passwd.h):
 * a good file (comments, blank lines, ':' inside a password), each refused file
 * (others may read it, a line without ':', an empty user, a missing file) with its
 * file:line message, and PLAIN messages of every bad shape.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "bridge/err.h"
#include "bridge/passwd.h"
#include "tests/support/harness.h"

static char dir[256], path[300];

static mqb_passwd_t *load_text(const char *text, mode_t mode, char *err, size_t size)
{
	assert_int_equal(mqbt_write_file(path, text), 0);
	assert_int_equal(chmod(path, mode), 0);
	err[0] = '\0';
	return mqb_passwd_load(path, err, size);
}

static void test_good_file(void **state)
{
	char err[512];
	mqb_passwd_t *u;

	(void)state;
	u = load_text("# users\n\nalice:s3:cret\r\nbob:\n", 0640, err, sizeof err);
	assert_non_null(u);
	assert_true(mqb_passwd_check(u, "alice", "s3:cret"));
	assert_false(mqb_passwd_check(u, "alice", "s3"));
	assert_false(mqb_passwd_check(u, "alice", "s3:cretX"));
	assert_true(mqb_passwd_check(u, "bob", ""));          /* an empty password */
	assert_false(mqb_passwd_check(u, "carol", ""));
	assert_false(mqb_passwd_check(NULL, "alice", "s3:cret"));
	mqb_passwd_free(u);
	mqb_passwd_free(NULL);
}

static void expect_refused(const char *text, mode_t mode, const char *want)
{
	char err[512];

	assert_null(load_text(text, mode, err, sizeof err));
	if (!strstr(err, want))
		fail_msg("wanted \"%s\" in \"%s\"", want, err);
}

static void test_bad_files(void **state)
{
	char err[512], want[400];

	(void)state;
	expect_refused("alice:x\n", 0644, "readable or writable by others (mode 644)");
	expect_refused("alice:x\n", 0602, "readable or writable by others");
	snprintf(want, sizeof want, "%s:2: expected user:password", path);
	expect_refused("alice:x\nbob\n", 0600, want);
	snprintf(want, sizeof want, "%s:1: expected user:password", path);
	expect_refused(":x\n", 0600, want);
	snprintf(want, sizeof want, "%s/none: cannot read", dir);
	snprintf(path + strlen(dir), sizeof path - strlen(dir), "/none");
	unlink(path);
	assert_null(mqb_passwd_load(path, err, sizeof err));
	assert_non_null(strstr(err, want));
	snprintf(path, sizeof path, "%s/passwd", dir);
}

static void test_plain_parse(void **state)
{
	char u[8], p[8];

	(void)state;
	assert_int_equal(mqb_sasl_plain_parse("\0al\0pw", 6, u, sizeof u, p, sizeof p), MQB_OK);
	assert_string_equal(u, "al");
	assert_string_equal(p, "pw");
	assert_int_equal(mqb_sasl_plain_parse("z\0al\0", 5, u, sizeof u, p, sizeof p), MQB_OK);
	assert_string_equal(p, "");
	assert_int_equal(mqb_sasl_plain_parse("al", 2, u, sizeof u, p, sizeof p), MQB_ERR_INVAL);
	assert_int_equal(mqb_sasl_plain_parse("\0al", 3, u, sizeof u, p, sizeof p), MQB_ERR_INVAL);
	assert_int_equal(mqb_sasl_plain_parse("\0\0pw", 4, u, sizeof u, p, sizeof p),
			 MQB_ERR_INVAL);                              /* empty user */
	assert_int_equal(mqb_sasl_plain_parse("\0al\0p\0w", 7, u, sizeof u, p, sizeof p),
			 MQB_ERR_INVAL);                              /* NUL in password */
	assert_int_equal(mqb_sasl_plain_parse("\0alongname\0p", 12, u, sizeof u, p, sizeof p),
			 MQB_ERR_INVAL);                              /* user too long */
	assert_int_equal(mqb_sasl_plain_parse(NULL, 0, u, sizeof u, p, sizeof p), MQB_ERR_INVAL);
}

static int setup(void **state)
{
	(void)state;
	if (mqbt_tmpdir(dir, sizeof dir) != 0)
		return -1;
	snprintf(path, sizeof path, "%s/passwd", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return mqbt_rmrf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_plain_parse),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
