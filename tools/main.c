/*
 * main.c — `mqbridge`, the operator's tool: dispatches `mqbridge <command> ...` to
 * mqb_cmd_<command>() through the table below.
 *
 * Adding a subcommand (e.g. `groups`):
 *   1. write tools/cmd_groups.c with `int mqb_cmd_groups(int argc, char **argv)`
 *      (argv[0] is "groups"; return MQB_CLI_OK / MQB_CLI_FAIL / MQB_CLI_USAGE, print
 *      usage with mqb_cli_usage() on bad arguments, handle "--help" itself);
 *   2. declare it in tools/cli.h (uncomment its line);
 *   3. add one line to cmds[] below: { "groups", mqb_cmd_groups, "summary" }.
 * Nothing else: every .c file in tools/ is globbed into the binary (re-run cmake
 * configure).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/logging.h"
#include "tools/cli.h"

struct cli_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static const struct cli_cmd cmds[] = {
	{ "log", mqb_cmd_log, "dump or verify a data_dir's logs (read-only)" },
	{ "groups",  mqb_cmd_groups,  "list / describe consumer groups (via the daemon), reset (daemon stopped)" },
	{ "offsets", mqb_cmd_offsets, "translate local offsets (or a group's) to Kafka offsets (via the daemon)" },
	{ "consume", mqb_cmd_consume, "a reference group member over MQTT" },
};

static void usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: mqbridge <command> [args...]\n"
		     "       mqbridge --help | --version\n\ncommands:\n");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(out, "  %-10s %s\n", cmds[i].name, cmds[i].summary);
	fprintf(out, "\n`mqbridge <command> --help` describes each one.\n"
		     "Exit status: 0 ok, 1 failure or problems found, 2 bad arguments.\n");
}

int main(int argc, char **argv)
{
	size_t i;

	/* The library's own log lines (e.g. what a read-only recovery scan saw) are
	 * noise for a CLI unless asked for with MQB_LOG_LEVEL. */
	if (!getenv("MQB_LOG_LEVEL"))
		mqb_log_set_level(MQB_LOG_ERROR);
	if (argc < 2) {
		usage(stderr);
		return MQB_CLI_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return MQB_CLI_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("mqbridge %s\n", MQB_VERSION);
		return MQB_CLI_OK;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "mqbridge: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return MQB_CLI_USAGE;
}
