/* cli.c — helpers shared by the mqbridge subcommands (see cli.h). */
#include "tools/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mqb_cli_usage(const char *usage, const char *fmt, ...)
{
	va_list ap;

	if (fmt) {
		fputs("mqbridge: ", stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	fprintf(stderr, "usage: %s\n", usage);
	return MQB_CLI_USAGE;
}

bool mqb_cli_is_help(const char *arg)
{
	return arg && (!strcmp(arg, "--help") || !strcmp(arg, "-h") || !strcmp(arg, "help"));
}

void mqb_cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("mqbridge: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

bool mqb_cli_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	if (!s || !*s)
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

void mqb_cli_getopt_reset(void)
{
	optind = 0;   /* glibc: 0 fully re-initialises getopt's state */
	opterr = 0;   /* subcommands print their own messages */
}
