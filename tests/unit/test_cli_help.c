/*
 * test_cli_help.c — the built `mqbridge` binary: `--help` after every command and
 * subcommand prints the usage on stdout and exits 0 (issue 14 §12: `mqbridge groups
 * --help` said "unknown subcommand" and exited 2), and docs/CLI.md carries every
 * synopsis line that --help prints.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/harness.h"

static char g_cli[1024];

/* Run `mqbridge <args>` with stderr merged into stdout; exit status, output in *out. */
static int run_help(const char *args, char **out)
{
	char cmd[2048];
	const char *argv[] = { "/bin/sh", "-c", cmd, NULL };

	snprintf(cmd, sizeof(cmd), "exec '%s' %s 2>&1", g_cli, args);
	*out = NULL;
	return mqbt_run(argv, out, NULL, 10000);
}

static char *read_doc(const char *rel)
{
	const char *src = getenv("MQB_SOURCE_DIR");
	char path[2048];

	snprintf(path, sizeof(path), "%s/%s", src ? src : ".", rel);
	return mqbt_read_file(path, NULL);
}

static void test_help_everywhere(void **state)
{
	static const char *const args[] = {
		"--help", "log --help", "log dump --help", "log verify --help",
		"groups --help", "groups -h", "groups help", "groups list --help",
		"groups describe --help", "groups reset --help",
		"offsets --help", "offsets translate --help", "consume --help",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(args) / sizeof(args[0]); i++) {
		char *out = NULL;
		int st = run_help(args[i], &out);

		if (st != 0 || !out || strncmp(out, "usage: ", 7) != 0) {
			print_error("mqbridge %s: exit %d, output:\n%s\n", args[i], st,
				    out ? out : "(none)");
			free(out);
			fail();
		}
		free(out);
	}
}

/* Bad subcommands still exit 2 with the usage. */
static void test_unknown_still_usage(void **state)
{
	static const char *const args[] = { "groups nope", "offsets nope", "log nope",
					     "groups", "offsets" };

	(void)state;
	for (size_t i = 0; i < sizeof(args) / sizeof(args[0]); i++) {
		char *out = NULL;
		int st = run_help(args[i], &out);

		if (st != 2 || !out || !strstr(out, "usage: ")) {
			print_error("mqbridge %s: exit %d, output:\n%s\n", args[i], st,
				    out ? out : "(none)");
			free(out);
			fail();
		}
		free(out);
	}
}

/* Every line of every command's synopsis, as --help prints it, is in docs/CLI.md. */
static void test_doc_synopsis(void **state)
{
	static const char *const cmds[] = { "log --help", "groups --help", "offsets --help",
					    "consume --help" };
	char *doc = read_doc("docs/CLI.md");

	(void)state;
	assert_non_null(doc);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		char *out = NULL, *line, *save = NULL;

		assert_int_equal(run_help(cmds[i], &out), 0);
		assert_non_null(out);
		for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			if (strncmp(line, "usage: ", 7) == 0)
				line += 7;
			else if (strncmp(line, "  ", 2) != 0)
				break;          /* the synopsis ends at the first prose line */
			while (*line == ' ')
				line++;
			if (!strstr(doc, line)) {
				print_error("docs/CLI.md lacks this line of `mqbridge %s`:\n%s\n",
					    cmds[i], line);
				free(out);
				free(doc);
				fail();
			}
		}
		free(out);
	}
	free(doc);
}

static int group_setup(void **state)
{
	const char *build = getenv("MQB_BUILD_DIR");

	(void)state;
	if (!build) {
		fprintf(stderr, "MQB_BUILD_DIR is not set (run under ctest)\n");
		return -1;
	}
	snprintf(g_cli, sizeof(g_cli), "%s/tools/mqbridge", build);
	return access(g_cli, X_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_help_everywhere),
		cmocka_unit_test(test_unknown_still_usage),
		cmocka_unit_test(test_doc_synopsis),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
