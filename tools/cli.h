/*
 * cli.h — the mqbridge operator's tool: subcommand interface and shared helpers.
 *
 * Every subcommand is `int mqb_cmd_<name>(int argc, char **argv)` where argv[0] is the
 * subcommand's name ("log") and argv[1..] its arguments; it returns the process exit
 * status: MQB_CLI_OK (0), MQB_CLI_FAIL (1: the operation failed or found a problem)
 * or MQB_CLI_USAGE (2: bad arguments; a usage message was printed on stderr).
 * To add one, write tools/cmd_<name>.c with that function, declare it below, and add
 * a line to the table in tools/main.c.
 *
 * Helpers here print to stderr and own no memory beyond what they document.
 */
#ifndef MQB_CLI_H
#define MQB_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { MQB_CLI_OK = 0, MQB_CLI_FAIL = 1, MQB_CLI_USAGE = 2 };

/* --- subcommands (one file each) ---------------------------------------------- */
int mqb_cmd_log(int argc, char **argv);       /* tools/cmd_log.c: dump, verify */
int mqb_cmd_groups(int argc, char **argv);    /* tools/cmd_groups.c: list, describe, reset */
int mqb_cmd_offsets(int argc, char **argv);   /* tools/cmd_offsets.c: translate */
int mqb_cmd_consume(int argc, char **argv);   /* tools/cmd_consume.c: a reference member */

/* --- helpers (tools/cli.c) -------------------------------------------------------- */

/*
 * Print "mqbridge: <message>" (when fmt is not NULL) and then "usage: <usage>" on
 * stderr; returns MQB_CLI_USAGE so callers can `return mqb_cli_usage(...)`.
 */
int mqb_cli_usage(const char *usage, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* true for "--help", "-h" or "help" in a subcommand's action position
 * (`mqbridge groups --help`): the caller prints its usage on stdout and exits 0. */
bool mqb_cli_is_help(const char *arg);

/* Print "mqbridge: <message>" on stderr. */
void mqb_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parse a whole decimal integer in [min, max]; false on anything else. */
bool mqb_cli_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/*
 * GET url + path from mqbridged's stats endpoint (url: "http://host[:port]", path
 * starting with "/"), HTTP/1.0, 5 s timeout, body at most 16 MiB. Returns the HTTP
 * status with the body in *body (malloc'd, NUL-terminated; the caller frees it), or
 * -1 with a message printed (bad url, unreachable, timeout, not HTTP).
 */
int mqb_cli_http_get(const char *url, const char *path, char **body);

/* Reset getopt so a subcommand can parse its own argv with getopt_long. */
void mqb_cli_getopt_reset(void);

/* mqb_config_load() with the sections mqbridged knows (the routes check, mqtt, kafka:
 * tools/cli_config.c), so the CLI accepts the daemon's files. */
struct mqb_config *mqb_cli_config_load(const char *path, char *errstr, size_t errstr_size);

#endif
