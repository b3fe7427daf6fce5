/*
 * cmd_log.c — `mqbridge log dump|verify DIR ...`: read a data_dir without ever
 * modifying it (the store is opened MQB_STORE_RDONLY: no lock, no recovery writes),
 * so it is safe while a daemon owns the directory. `log repair` (log_repair.c) is the
 * one action that writes: it takes the data_dir lock and refuses while one runs.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bridge/err.h"
#include "bridge/store/store.h"
#include "tools/cli.h"
#include "tools/log_repair.h"
#include "tools/log_verify.h"
#include "tools/recfmt.h"

#define DUMP_USAGE \
	"mqbridge log dump DIR [--stream S] [--partition P] [--from OFFSET] [--count N] [--json]"
#define VERIFY_USAGE "mqbridge log verify DIR [--stream S]"
#define REPAIR_USAGE "mqbridge log repair DIR --stream S --partition P " \
	"(--truncate | --skip) [--dry-run]"
#define LOG_USAGE DUMP_USAGE "\n       " VERIFY_USAGE "\n       " REPAIR_USAGE

struct dump_args {
	const char *dir;
	const char *stream;       /* NULL: every stream */
	int64_t partition;        /* -1: every partition */
	int64_t from;             /* first offset (clamped up to log start) */
	int64_t count;            /* -1: no limit */
	bool json;
};

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The sorted stream names to visit (malloc'd array of borrowed strings), or NULL. */
static const char **stream_list(mqb_store_t *st, const char *only, size_t *n)
{
	const char *const *all;
	const char **out;
	size_t i, cnt = 0;

	if (only) {
		out = malloc(sizeof(*out));
		if (out)
			out[0] = only;
		*n = 1;
		return out;
	}
	all = mqb_store_streams(st);
	while (all && all[cnt])
		cnt++;
	out = malloc((cnt ? cnt : 1) * sizeof(*out));
	if (!out)
		return NULL;
	for (i = 0; i < cnt; i++)
		out[i] = all[i];
	qsort(out, cnt, sizeof(*out), name_cmp);
	*n = cnt;
	return out;
}

/* Open every partition of stream read-only; its partition count, or -1 (printed). */
static int32_t open_stream(mqb_store_t *st, const char *stream)
{
	mqb_stream_opts_t o;
	char err[512] = "";
	int32_t n;

	mqb_stream_opts_defaults(&o);
	o.name = stream;
	if (mqb_store_stream_open(st, &o, err, sizeof(err)) != MQB_OK) {
		mqb_cli_error("stream %s: %s", stream, err[0] ? err : "cannot open");
		return -1;
	}
	n = mqb_store_partition_count(st, stream);
	if (n < 0)
		mqb_cli_error("stream %s: not found", stream);
	return n;
}

/* Dump one partition; *left is the remaining --count (-1: no limit). */
static int dump_partition(mqb_partition_t *p, const struct dump_args *a, int64_t *left)
{
	const char *stream = mqb_partition_stream(p);
	int32_t id = mqb_partition_id(p);
	mqb_watermarks_t wm;
	mqb_reader_t *r;
	mqb_record_t rec;
	int rc = MQB_CLI_OK, err;

	mqb_partition_watermarks(p, &wm);
	if (a->from >= wm.stored || *left == 0)
		return MQB_CLI_OK;
	r = mqb_reader_new(p, a->from > wm.log_start ? a->from : wm.log_start);
	if (!r) {
		mqb_cli_error("%s-%" PRId32 ": cannot create a reader", stream, id);
		return MQB_CLI_FAIL;
	}
	while (*left != 0) {
		err = mqb_reader_next_record(r, &rec);
		if (err == MQB_ERR_AGAIN)
			break;
		if (err != MQB_OK) {
			mqb_cli_error("%s-%" PRId32 ": reading at offset %" PRId64 ": %s",
				      stream, id, mqb_reader_position(r), mqb_strerror(err));
			rc = MQB_CLI_FAIL;
			break;
		}
		if (rec.offset < a->from)
			continue;
		err = a->json ? mqb_recfmt_json(stdout, stream, id, &rec)
			      : mqb_recfmt_text(stdout, stream, id, &rec);
		if (err != MQB_OK) {
			mqb_cli_error("writing output: %s", mqb_strerror(err));
			rc = MQB_CLI_FAIL;
			*left = 0;
			break;
		}
		if (*left > 0)
			(*left)--;
	}
	mqb_reader_destroy(r);
	return rc;
}

static int dump(const struct dump_args *a)
{
	char err[512] = "";
	mqb_store_t *st;
	const char **streams = NULL;
	size_t ns = 0, i;
	int64_t left = a->count, matched = 0;
	int rc = MQB_CLI_OK;

	st = mqb_store_open(a->dir, MQB_STORE_RDONLY, err, sizeof(err));
	if (!st) {
		mqb_cli_error("%s: %s", a->dir, err[0] ? err : "cannot open the store");
		return MQB_CLI_FAIL;
	}
	if (!a->stream && mqb_store_stream_open(st, NULL, err, sizeof(err)) != MQB_OK) {
		/* Discovery opens every <stream>-<N> it finds; dump what did open. */
		mqb_cli_error("%s: %s", a->dir, err[0] ? err : "cannot open every stream");
		rc = MQB_CLI_FAIL;
	}
	streams = stream_list(st, a->stream, &ns);
	if (!streams) {
		mqb_cli_error("out of memory");
		rc = MQB_CLI_FAIL;
		goto done;
	}
	for (i = 0; i < ns && left != 0; i++) {
		int32_t np = a->stream ? open_stream(st, streams[i])
				       : mqb_store_partition_count(st, streams[i]), p;

		if (np < 0) {
			rc = MQB_CLI_FAIL;
			continue;
		}
		if (a->partition >= np) {
			/* Every stream: skip the ones without it. One stream: an error. */
			if (a->stream) {
				mqb_cli_error("stream %s has %" PRId32 " partition%s (0..%" PRId32
					      "): no partition %" PRId64, streams[i], np,
					      np == 1 ? "" : "s", np - 1, a->partition);
				rc = MQB_CLI_FAIL;
			}
			continue;
		}
		matched++;
		for (p = 0; p < np && left != 0; p++) {
			mqb_partition_t *part;

			if (a->partition >= 0 && p != a->partition)
				continue;
			part = mqb_store_partition(st, streams[i], p);
			if (!part) {
				mqb_cli_error("%s-%" PRId32 ": not found", streams[i], p);
				rc = MQB_CLI_FAIL;
				continue;
			}
			if (dump_partition(part, a, &left) != MQB_CLI_OK)
				rc = MQB_CLI_FAIL;
		}
	}
	if (!a->stream && a->partition >= 0 && matched == 0 && ns > 0) {
		mqb_cli_error("no stream has a partition %" PRId64, a->partition);
		rc = MQB_CLI_FAIL;
	}
	if (fflush(stdout) != 0) {
		mqb_cli_error("writing output failed");
		rc = MQB_CLI_FAIL;
	}
done:
	free(streams);
	mqb_store_close(st);
	return rc;
}

/* Common checks of DIR: present and a directory (clear message instead of a store
 * error; a read-only open never creates it). */
static int check_dir(const char *dir)
{
	struct stat sb;

	if (stat(dir, &sb) != 0) {
		mqb_cli_error("%s: %s", dir, strerror(errno));
		return MQB_CLI_FAIL;
	}
	if (!S_ISDIR(sb.st_mode)) {
		mqb_cli_error("%s: not a directory", dir);
		return MQB_CLI_FAIL;
	}
	return MQB_CLI_OK;
}

static int cmd_dump(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "stream",    required_argument, NULL, 's' },
		{ "partition", required_argument, NULL, 'p' },
		{ "from",      required_argument, NULL, 'f' },
		{ "count",     required_argument, NULL, 'n' },
		{ "json",      no_argument,       NULL, 'j' },
		{ "help",      no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct dump_args a = { .partition = -1, .from = 0, .count = -1 };
	int c;

	mqb_cli_getopt_reset();
	while ((c = getopt_long(argc, argv, ":s:p:f:n:jh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (!mqb_stream_name_valid(optarg))
				return mqb_cli_usage(DUMP_USAGE, "invalid stream name '%s'", optarg);
			a.stream = optarg;
			break;
		case 'p':
			if (!mqb_cli_parse_i64(optarg, 0, INT32_MAX, &a.partition))
				return mqb_cli_usage(DUMP_USAGE, "--partition: not a partition "
						     "number: '%s'", optarg);
			break;
		case 'f':
			if (!mqb_cli_parse_i64(optarg, 0, INT64_MAX, &a.from))
				return mqb_cli_usage(DUMP_USAGE, "--from: not an offset: '%s'", optarg);
			break;
		case 'n':
			if (!mqb_cli_parse_i64(optarg, 0, INT64_MAX, &a.count))
				return mqb_cli_usage(DUMP_USAGE, "--count: not a count: '%s'", optarg);
			break;
		case 'j':
			a.json = true;
			break;
		case 'h':
			printf("usage: %s\n"
			       "Print records, one per line, in offset order per partition.\n"
			       "  --stream S      only stream S (default: every stream, by name)\n"
			       "  --partition P   only partition P\n"
			       "  --from OFFSET   start at OFFSET (default: the log start)\n"
			       "  --count N       stop after N records in total\n"
			       "  --json          one JSON object per line; bytes that are not "
			       "UTF-8 text\n"
			       "                  are given base64 as key_b64 / value_b64\n"
			       "The directory is opened read-only; a running daemon may own it.\n",
			       DUMP_USAGE);
			return MQB_CLI_OK;
		case ':':
			return mqb_cli_usage(DUMP_USAGE, "option %s needs a value", argv[optind - 1]);
		default:
			return mqb_cli_usage(DUMP_USAGE, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return mqb_cli_usage(DUMP_USAGE, "missing DIR");
	if (optind + 1 < argc)
		return mqb_cli_usage(DUMP_USAGE, "unexpected argument '%s'", argv[optind + 1]);
	a.dir = argv[optind];
	if (check_dir(a.dir) != MQB_CLI_OK)
		return MQB_CLI_FAIL;
	return dump(&a);
}

static int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "stream", required_argument, NULL, 's' },
		{ "help",   no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *stream = NULL;
	int c;

	mqb_cli_getopt_reset();
	while ((c = getopt_long(argc, argv, ":s:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (!mqb_stream_name_valid(optarg))
				return mqb_cli_usage(VERIFY_USAGE, "invalid stream name '%s'", optarg);
			stream = optarg;
			break;
		case 'h':
			printf("usage: %s\n"
			       "Check every batch (length, magic, CRC-32C, offsets) and every index\n"
			       "of every partition (or of stream S). Prints each problem with its\n"
			       "segment file and byte position, then a one-line summary.\n"
			       "Exit status: 0 clean, 1 corruption found (or DIR unreadable).\n",
			       VERIFY_USAGE);
			return MQB_CLI_OK;
		case ':':
			return mqb_cli_usage(VERIFY_USAGE, "option %s needs a value", argv[optind - 1]);
		default:
			return mqb_cli_usage(VERIFY_USAGE, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return mqb_cli_usage(VERIFY_USAGE, "missing DIR");
	if (optind + 1 < argc)
		return mqb_cli_usage(VERIFY_USAGE, "unexpected argument '%s'", argv[optind + 1]);
	if (check_dir(argv[optind]) != MQB_CLI_OK)
		return MQB_CLI_FAIL;
	return mqb_log_verify(argv[optind], stream);
}

static int cmd_repair(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "stream",    required_argument, NULL, 's' },
		{ "partition", required_argument, NULL, 'p' },
		{ "truncate",  no_argument,       NULL, 't' },
		{ "skip",      no_argument,       NULL, 'k' },
		{ "dry-run",   no_argument,       NULL, 'n' },
		{ "help",      no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *stream = NULL;
	int64_t partition = -1;
	int mode = 0, c;           /* 't' or 'k' */
	bool dry = false;

	mqb_cli_getopt_reset();
	while ((c = getopt_long(argc, argv, ":s:p:tknh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (!mqb_stream_name_valid(optarg))
				return mqb_cli_usage(REPAIR_USAGE, "invalid stream name '%s'", optarg);
			stream = optarg;
			break;
		case 'p':
			if (!mqb_cli_parse_i64(optarg, 0, INT32_MAX, &partition))
				return mqb_cli_usage(REPAIR_USAGE, "--partition: not a partition "
						     "number: '%s'", optarg);
			break;
		case 't':
		case 'k':
			if (mode && mode != c)
				return mqb_cli_usage(REPAIR_USAGE, "--truncate and --skip exclude "
						     "each other");
			mode = c;
			break;
		case 'n':
			dry = true;
			break;
		case 'h':
			printf("usage: %s\n"
			       "Get one partition past its first corrupt batch (stop mqbridged "
			       "first:\nthe data_dir lock is taken). Prints the offsets lost and "
			       "their count.\n"
			       "  --truncate  cut the partition at the bad batch (later segments "
			       "deleted;\n              new records reuse the lost offsets)\n"
			       "  --skip      replace the bad batch by placeholder records (null "
			       "key and\n              value, header mqbridge.lost=corrupt) "
			       "covering the lost offsets,\n              so offsets stay "
			       "contiguous and what follows is kept\n"
			       "  --dry-run   print what would be lost, change nothing\n"
			       "Exit status: 0 repaired (or nothing to repair), 1 failed.\n",
			       REPAIR_USAGE);
			return MQB_CLI_OK;
		case ':':
			return mqb_cli_usage(REPAIR_USAGE, "option %s needs a value", argv[optind - 1]);
		default:
			return mqb_cli_usage(REPAIR_USAGE, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return mqb_cli_usage(REPAIR_USAGE, "missing DIR");
	if (optind + 1 < argc)
		return mqb_cli_usage(REPAIR_USAGE, "unexpected argument '%s'", argv[optind + 1]);
	if (!stream || partition < 0)
		return mqb_cli_usage(REPAIR_USAGE, "--stream and --partition are required");
	if (!mode)
		return mqb_cli_usage(REPAIR_USAGE, "say --truncate or --skip");
	if (check_dir(argv[optind]) != MQB_CLI_OK)
		return MQB_CLI_FAIL;
	return mqb_log_repair(argv[optind], stream, (int32_t)partition, mode == 'k', dry);
}

int mqb_cmd_log(int argc, char **argv)
{
	if (argc < 2)
		return mqb_cli_usage(LOG_USAGE, "missing action (dump, verify or repair)");
	if (!strcmp(argv[1], "dump"))
		return cmd_dump(argc - 1, argv + 1);
	if (!strcmp(argv[1], "verify"))
		return cmd_verify(argc - 1, argv + 1);
	if (!strcmp(argv[1], "repair"))
		return cmd_repair(argc - 1, argv + 1);
	if (mqb_cli_is_help(argv[1])) {
		printf("usage: %s\n", LOG_USAGE);
		return MQB_CLI_OK;
	}
	return mqb_cli_usage(LOG_USAGE, "unknown action '%s'", argv[1]);
}
