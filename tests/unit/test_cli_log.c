/*
 * test_cli_log.c — the built `mqbridge` binary against a store written with the
 * library: `log dump` text and JSON (binary values, null keys, null header values,
 * UTF-8, filters), `log verify` on a clean store and on corrupted copies (exit codes,
 * the problem named with its segment file and byte position), the CLI never modifying
 * a store, and bad arguments (exit 2).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bridge/err.h"
#include "bridge/logging.h"
#include "bridge/store/batch.h"
#include "bridge/store/store.h"
#include "tests/support/harness.h"

#define TS0 INT64_C(1700000000000)
#define SEG0 "00000000000000000000"

static char g_dir[256];        /* the test's temp dir */
static char g_store[300];      /* the clean store inside it */
static char g_cli[1024];

/* --- running the CLI ------------------------------------------------------------ */

struct run {
	int status;                 /* exit status, 128+sig, -1 */
	char *out, *err;            /* stdout, stderr (malloc'd, NUL-terminated) */
};

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
	memset(r, 0, sizeof(*r));
}

/* Run the CLI with args (NULL-terminated), capturing stdout and stderr. */
static struct run run_cli(const char *arg0, ...)
{
	const char *argv[32];
	char outp[400], errp[400];
	struct run r = { .status = -1 };
	va_list ap;
	int n = 0;
	pid_t pid;

	argv[n++] = g_cli;
	va_start(ap, arg0);
	for (const char *a = arg0; a && n < 31; a = va_arg(ap, const char *))
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	snprintf(outp, sizeof(outp), "%s/cli.out", g_dir);
	snprintf(errp, sizeof(errp), "%s/cli.err", g_dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (o < 0 || e < 0)
			_exit(126);
		dup2(o, 1);
		dup2(e, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	r.status = mqbt_wait(pid, 30000);
	if (r.status == -1) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	r.out = mqbt_read_file(outp, NULL);
	r.err = mqbt_read_file(errp, NULL);
	assert_non_null(r.out);
	assert_non_null(r.err);
	return r;
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* The n-th line (0-based) of s, malloc'd without its newline. */
static char *nth_line(const char *s, int n)
{
	const char *e;
	char *l;

	while (n-- > 0) {
		s = strchr(s, '\n');
		assert_non_null(s);
		s++;
	}
	e = strchr(s, '\n');
	assert_non_null(e);
	l = strndup(s, (size_t)(e - s));
	assert_non_null(l);
	return l;
}

/* --- building the store with the library ------------------------------------------------ */

static const uint8_t BIN[] = { 0x00, 0xff, 'a', '\n', '"', 0x80, 0x7f, '\\' };
static const char UTF8[] = "temp\xc3\xa9rature \xe2\x82\xac";   /* "température €" */

static void open_stream(mqb_store_t *st, const char *name, int32_t parts)
{
	mqb_stream_opts_t o;
	char err[512] = "";

	mqb_stream_opts_defaults(&o);
	o.name = name;
	o.partitions = parts;
	o.flush_interval_ms = 1000;
	if (mqb_store_stream_open(st, &o, err, sizeof(err)) != MQB_OK)
		fail_msg("stream %s: %s", name, err);
}

static void append1(mqb_store_t *st, const char *stream, int32_t part, const mqb_record_t *rec)
{
	mqb_partition_t *p = mqb_store_partition(st, stream, part);

	assert_non_null(p);
	assert_int_equal(mqb_partition_append(p, rec, 1, NULL), MQB_OK);
}

static void build_store(void)
{
	char err[512] = "";
	mqb_store_t *st;
	mqb_rec_header_t h_topic = { "mqtt.topic", 10, "sensors/dev1/telemetry", 22 };
	mqb_rec_header_t h2[2] = {
		{ "content-type", 12, "application/octet-stream", 24 },
		{ "corr", 4, NULL, -1 },                      /* null header value */
	};
	mqb_rec_header_t h_bin[5] = {
		{ "raw", 3, BIN, sizeof(BIN) },
		{ "one", 3, "\x80", 1 },                      /* base64 with two '=' */
		{ "overlong", 8, "\xc0\xaf", 2 },              /* not UTF-8: overlong '/' */
		{ "surrogate", 9, "\xed\xa0\x80", 3 },         /* not UTF-8: U+D800 */
		{ "emoji", 5, "\xf0\x9f\x98\x80", 4 },         /* UTF-8: U+1F600 */
	};
	mqb_record_t r;
	char big[100];
	int i;

	st = mqb_store_open(g_store, 0, err, sizeof(err));
	if (!st)
		fail_msg("store open: %s", err);
	open_stream(st, "telemetry", 2);
	open_stream(st, "bin", 1);
	open_stream(st, "big", 1);

	/* telemetry-0: offsets 0..2 */
	r = (mqb_record_t){ .timestamp_ms = TS0, .key = "dev1", .key_len = 4,
			    .value = "hello", .value_len = 5, .headers = &h_topic, .header_count = 1 };
	append1(st, "telemetry", 0, &r);
	r = (mqb_record_t){ .timestamp_ms = TS0 + 1, .key = NULL, .key_len = -1,
			    .value = UTF8, .value_len = (ssize_t)strlen(UTF8),
			    .headers = h2, .header_count = 2 };
	append1(st, "telemetry", 0, &r);
	r = (mqb_record_t){ .timestamp_ms = TS0 + 2, .key = "", .key_len = 0,
			    .value = "", .value_len = 0 };
	append1(st, "telemetry", 0, &r);
	/* telemetry-1: offset 0, null value */
	r = (mqb_record_t){ .timestamp_ms = TS0 + 3, .key = "dev2", .key_len = 4,
			    .value = NULL, .value_len = -1 };
	append1(st, "telemetry", 1, &r);
	/* bin-0: binary key, value and header value */
	r = (mqb_record_t){ .timestamp_ms = TS0 + 4, .key = BIN, .key_len = 3,
			    .value = BIN, .value_len = sizeof(BIN), .headers = h_bin,
			    .header_count = 5 };
	append1(st, "bin", 0, &r);
	/* big-0: 300 records of 100 bytes, 10 per batch: several index entries */
	for (i = 0; i < 30; i++) {
		mqb_record_t recs[10];
		mqb_partition_t *p = mqb_store_partition(st, "big", 0);
		for (int k = 0; k < 10; k++) {
			memset(big, 'a' + (i + k) % 26, sizeof(big));
			recs[k] = (mqb_record_t){ .timestamp_ms = TS0 + i, .key = "k", .key_len = 1,
						  .value = big, .value_len = sizeof(big) };
		}
		assert_non_null(p);
		assert_int_equal(mqb_partition_append(p, recs, 10, NULL), MQB_OK);
	}
	mqb_store_close(st);
}

static int group_setup(void **state)
{
	const char *build = getenv("MQB_BUILD_DIR");

	(void)state;
	mqb_log_set_level(MQB_LOG_ERROR);
	if (!build) {
		fprintf(stderr, "MQB_BUILD_DIR is not set (run under ctest)\n");
		return -1;
	}
	snprintf(g_cli, sizeof(g_cli), "%s/tools/mqbridge", build);
	if (access(g_cli, X_OK) != 0) {
		fprintf(stderr, "%s: %s\n", g_cli, strerror(errno));
		return -1;
	}
	if (mqbt_tmpdir(g_dir, sizeof(g_dir)) != 0)
		return -1;
	snprintf(g_store, sizeof(g_store), "%s/data", g_dir);
	build_store();
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	mqbt_rmrf(g_dir);
	return 0;
}

/* A copy of the clean store at <g_dir>/<name>. */
static void copy_store(const char *name, char *out, size_t out_size)
{
	const char *argv[] = { "/bin/cp", "-a", g_store, out, NULL };

	snprintf(out, out_size, "%s/%s", g_dir, name);
	mqbt_rmrf(out);
	assert_int_equal(mqbt_run(argv, NULL, NULL, 10000), 0);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	uint8_t *b = (uint8_t *)mqbt_read_file(path, len);

	assert_non_null(b);
	return b;
}

static void spit(const char *path, const uint8_t *b, size_t len)
{
	int fd = open(path, O_WRONLY | O_TRUNC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, len), (ssize_t)len);
	close(fd);
}

/* A fingerprint of every file under dir (names, sizes, bytes), to prove the CLI
 * changed nothing. */
static char *tree_fingerprint(const char *dir)
{
	char cmd[600];
	const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
	char *out = NULL;

	snprintf(cmd, sizeof(cmd), "cd '%s' && find . -print | sort | while read f; do "
		 "if [ -f \"$f\" ]; then printf '%%s ' \"$f\"; md5sum < \"$f\"; "
		 "else echo \"$f\"; fi; done", dir);
	assert_int_equal(mqbt_run(argv, &out, NULL, 20000), 0);
	assert_non_null(out);
	return out;
}

/* --- dump ---------------------------------------------------------------------------- */

static void test_dump_text(void **state)
{
	struct run r;
	char *fp_before = tree_fingerprint(g_store), *fp_after, *l;

	(void)state;
	r = run_cli("log", "dump", g_store, "--stream", "telemetry", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(count_lines(r.out), 4);
	l = nth_line(r.out, 0);
	assert_string_equal(l, "stream=telemetry partition=0 offset=0 timestamp=1700000000000 "
			    "key=\"dev1\" headers={\"mqtt.topic\":\"sensors/dev1/telemetry\"} "
			    "value=\"hello\"");
	free(l);
	l = nth_line(r.out, 1);
	assert_string_equal(l, "stream=telemetry partition=0 offset=1 timestamp=1700000000001 "
			    "key=null headers={\"content-type\":\"application/octet-stream\","
			    "\"corr\":null} value=\"temp\xc3\xa9rature \xe2\x82\xac\"");
	free(l);
	l = nth_line(r.out, 2);
	assert_string_equal(l, "stream=telemetry partition=0 offset=2 timestamp=1700000000002 "
			    "key=\"\" headers={} value=\"\"");
	free(l);
	l = nth_line(r.out, 3);
	assert_string_equal(l, "stream=telemetry partition=1 offset=0 timestamp=1700000000003 "
			    "key=\"dev2\" headers={} value=null");
	free(l);
	run_free(&r);

	/* Non-printables and invalid UTF-8 escaped. */
	r = run_cli("log", "dump", g_store, "--stream", "bin", NULL);
	assert_int_equal(r.status, 0);
	l = nth_line(r.out, 0);
	assert_string_equal(l, "stream=bin partition=0 offset=0 timestamp=1700000000004 "
			    "key=\"\\x00\\xffa\" headers={\"raw\":\"\\x00\\xffa\\n\\\"\\x80\\x7f\\\\\","
			    "\"one\":\"\\x80\",\"overlong\":\"\\xc0\\xaf\",\"surrogate\":\"\\xed\\xa0\\x80\","
			    "\"emoji\":\"\xf0\x9f\x98\x80\"} "
			    "value=\"\\x00\\xffa\\n\\\"\\x80\\x7f\\\\\"");
	free(l);
	run_free(&r);

	/* Every stream, sorted by name: big (300) + bin (1) + telemetry (4). */
	r = run_cli("log", "dump", g_store, NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(count_lines(r.out), 305);
	assert_true(strncmp(r.out, "stream=big partition=0 offset=0 ", 32) == 0);
	l = nth_line(r.out, 300);
	assert_true(strncmp(l, "stream=bin ", 11) == 0);
	free(l);
	run_free(&r);

	/* Filters: --partition, --from, --count. */
	r = run_cli("log", "dump", g_store, "--stream", "telemetry", "--partition", "0",
		    "--from", "1", "--count", "1", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(count_lines(r.out), 1);
	assert_non_null(strstr(r.out, "partition=0 offset=1 "));
	run_free(&r);
	r = run_cli("log", "dump", "--from", "295", "--stream", "big", g_store, NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(count_lines(r.out), 5);
	assert_true(strncmp(r.out, "stream=big partition=0 offset=295 ", 34) == 0);
	run_free(&r);
	r = run_cli("log", "dump", g_store, "--stream", "big", "--from", "1000", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(count_lines(r.out), 0);
	run_free(&r);
	/* --partition over every stream: only those that have it (telemetry). */
	r = run_cli("log", "dump", g_store, "--partition", "1", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(count_lines(r.out), 1);
	assert_true(strncmp(r.out, "stream=telemetry partition=1 offset=0 ", 38) == 0);
	run_free(&r);
	r = run_cli("log", "dump", g_store, "--count", "0", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(count_lines(r.out), 0);
	run_free(&r);

	/* The store is untouched by all of that. */
	fp_after = tree_fingerprint(g_store);
	assert_string_equal(fp_before, fp_after);
	free(fp_before);
	free(fp_after);
}

static cJSON *json_line(const char *out, int n)
{
	char *l = nth_line(out, n);
	cJSON *j = cJSON_Parse(l);

	if (!j)
		fail_msg("line %d is not JSON: %s", n, l);
	free(l);
	return j;
}

static const char *jstr(const cJSON *o, const char *name)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!cJSON_IsString(it))
		fail_msg("\"%s\" is not a string", name);
	return it->valuestring;
}

static void test_dump_json(void **state)
{
	struct run r;
	cJSON *j, *hs, *h;
	const cJSON *it;

	(void)state;
	r = run_cli("log", "dump", "--json", g_store, "--stream", "telemetry", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(count_lines(r.out), 4);

	j = json_line(r.out, 0);
	assert_string_equal(jstr(j, "stream"), "telemetry");
	assert_int_equal(cJSON_GetObjectItem(j, "partition")->valueint, 0);
	assert_int_equal(cJSON_GetObjectItem(j, "offset")->valueint, 0);
	assert_true(cJSON_GetObjectItem(j, "timestamp")->valuedouble == 1700000000000.0);
	assert_string_equal(jstr(j, "key"), "dev1");
	assert_string_equal(jstr(j, "value"), "hello");
	hs = cJSON_GetObjectItem(j, "headers");
	assert_true(cJSON_IsArray(hs));
	assert_int_equal(cJSON_GetArraySize(hs), 1);
	h = cJSON_GetArrayItem(hs, 0);
	assert_string_equal(jstr(h, "key"), "mqtt.topic");
	assert_string_equal(jstr(h, "value"), "sensors/dev1/telemetry");
	cJSON_Delete(j);

	j = json_line(r.out, 1);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "key")));
	assert_string_equal(jstr(j, "value"), UTF8);                 /* UTF-8 stays text */
	hs = cJSON_GetObjectItem(j, "headers");
	assert_int_equal(cJSON_GetArraySize(hs), 2);
	h = cJSON_GetArrayItem(hs, 1);
	assert_string_equal(jstr(h, "key"), "corr");
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(h, "value")));
	cJSON_Delete(j);

	j = json_line(r.out, 3);
	assert_int_equal(cJSON_GetObjectItem(j, "partition")->valueint, 1);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "value")));
	cJSON_Delete(j);
	run_free(&r);

	/* Binary: base64 under *_b64, the plain name absent. */
	r = run_cli("log", "dump", "--json", g_store, "--stream", "bin", NULL);
	assert_int_equal(r.status, 0);
	j = json_line(r.out, 0);
	assert_string_equal(jstr(j, "key_b64"), "AP9h");             /* 00 ff 61 */
	assert_null(cJSON_GetObjectItem(j, "key"));
	assert_string_equal(jstr(j, "value_b64"), "AP9hCiKAf1w=");   /* 00 ff 61 0a 22 80 7f 5c */
	assert_null(cJSON_GetObjectItem(j, "value"));
	h = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "headers"), 0);
	assert_string_equal(jstr(h, "key"), "raw");
	assert_string_equal(jstr(h, "value_b64"), "AP9hCiKAf1w=");
	hs = cJSON_GetObjectItem(j, "headers");
	assert_int_equal(cJSON_GetArraySize(hs), 5);
	assert_string_equal(jstr(cJSON_GetArrayItem(hs, 1), "value_b64"), "gA==");
	assert_string_equal(jstr(cJSON_GetArrayItem(hs, 2), "value_b64"), "wK8=");
	assert_string_equal(jstr(cJSON_GetArrayItem(hs, 3), "value_b64"), "7aCA");
	assert_string_equal(jstr(cJSON_GetArrayItem(hs, 4), "value"), "\xf0\x9f\x98\x80");
	assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(hs, 4), "value_b64"));
	it = cJSON_GetObjectItem(j, "offset");
	assert_true(cJSON_IsNumber(it));
	cJSON_Delete(j);
	run_free(&r);
}

/* A store held open by a writer (as by a running daemon, lock and all): dump and
 * verify work alongside, see the new records, and change no file. */
static void test_dump_live_store(void **state)
{
	char copy[400], err[512] = "", *fp_before, *fp_after;
	mqb_stream_opts_t o;
	mqb_partition_t *p;
	mqb_store_t *st;
	mqb_record_t recs[5];
	struct run r;
	int i;

	(void)state;
	copy_store("live", copy, sizeof(copy));
	st = mqb_store_open(copy, 0, err, sizeof(err));
	if (!st)
		fail_msg("open: %s", err);
	mqb_stream_opts_defaults(&o);
	o.name = "telemetry";
	o.partitions = 2;
	o.flush_interval_ms = -1;     /* no background fsync/checkpoint during the test */
	o.flush_messages = -1;
	if (mqb_store_stream_open(st, &o, err, sizeof(err)) != MQB_OK)
		fail_msg("stream: %s", err);
	p = mqb_store_partition(st, "telemetry", 1);
	assert_non_null(p);
	for (i = 0; i < 5; i++)
		recs[i] = (mqb_record_t){ .timestamp_ms = TS0 + 10 + i, .key = "live", .key_len = 4,
					  .value = "v", .value_len = 1 };
	assert_int_equal(mqb_partition_append(p, recs, 5, NULL), MQB_OK);
	fp_before = tree_fingerprint(copy);

	r = run_cli("log", "dump", copy, "--stream", "telemetry", "--partition", "1", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(count_lines(r.out), 6);
	assert_non_null(strstr(r.out, "offset=5 timestamp=1700000000014 key=\"live\""));
	run_free(&r);
	r = run_cli("log", "verify", copy, NULL);
	if (r.status != 0)
		fail_msg("verify of a live store: %d\n%s%s", r.status, r.out, r.err);
	assert_non_null(strstr(r.out, "310 records"));
	run_free(&r);

	fp_after = tree_fingerprint(copy);
	assert_string_equal(fp_before, fp_after);
	free(fp_before);
	free(fp_after);
	mqb_store_close(st);
}

/* --- verify ---------------------------------------------------------------------------- */

static void test_verify_clean(void **state)
{
	struct run r;

	(void)state;
	r = run_cli("log", "verify", g_store, NULL);
	if (r.status != 0)
		fail_msg("verify of a clean store: %d\n%s%s", r.status, r.out, r.err);
	/* partitions: telemetry 2 + bin 1 + big 1; records 305 */
	assert_non_null(strstr(r.out, "4 partitions"));
	assert_non_null(strstr(r.out, "305 records"));
	assert_non_null(strstr(r.out, "OK"));
	run_free(&r);
	r = run_cli("log", "verify", "--stream", "telemetry", g_store, NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "2 partitions"));
	assert_non_null(strstr(r.out, "4 records"));
	run_free(&r);
}

/* A flipped bit in the middle batch of big-0: verify exits 1 naming the segment file
 * and the batch's byte position; dump stops there with exit 1 after the good records;
 * neither changes the copy. */
static void test_verify_flipped_bit(void **state)
{
	char copy[400], log[600], want[64];
	mqb_batch_hdr_t h;
	uint8_t *b;
	size_t len, pos = 0;
	char *fp_before, *fp_after;
	struct run r;
	int i;

	(void)state;
	copy_store("flip", copy, sizeof(copy));
	snprintf(log, sizeof(log), "%s/big-0/" SEG0 ".log", copy);
	b = slurp(log, &len);
	for (i = 0; i < 15; i++) {                      /* to the 16th batch */
		assert_int_equal(mqb_batch_header_peek(b + pos, len - pos, &h), MQB_OK);
		pos += mqb_batch_total_size(&h);
	}
	b[pos + 100] ^= 0x04;                           /* inside its records */
	spit(log, b, len);
	free(b);
	fp_before = tree_fingerprint(copy);

	r = run_cli("log", "verify", copy, NULL);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.out, "big-0/" SEG0 ".log"));
	snprintf(want, sizeof(want), "%zu", pos);
	if (!strstr(r.out, want))
		fail_msg("verify output does not name byte %zu:\n%s", pos, r.out);
	assert_non_null(strstr(r.out, "CRC"));
	run_free(&r);

	r = run_cli("log", "dump", copy, "--stream", "big", NULL);
	assert_int_equal(r.status, 1);
	assert_int_equal(count_lines(r.out), 150);      /* the 15 good batches */
	assert_true(strlen(r.err) > 0);
	run_free(&r);

	/* The other streams are fine on their own. */
	r = run_cli("log", "verify", "--stream", "telemetry", copy, NULL);
	assert_int_equal(r.status, 0);
	run_free(&r);

	fp_after = tree_fingerprint(copy);
	assert_string_equal(fp_before, fp_after);
	free(fp_before);
	free(fp_after);
}

/* A torn tail (the last batch cut short) is corruption for verify. */
static void test_verify_torn_tail(void **state)
{
	char copy[400], log[600];
	struct run r;

	(void)state;
	copy_store("torn", copy, sizeof(copy));
	snprintf(log, sizeof(log), "%s/big-0/" SEG0 ".log", copy);
	assert_int_equal(truncate(log, 1000 + 10), 0);
	r = run_cli("log", "verify", copy, NULL);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.out, "big-0/" SEG0 ".log"));
	run_free(&r);
}

/* An index entry pointing at the wrong place is reported against the .index file. */
static void test_verify_bad_index(void **state)
{
	char copy[400], idx[600];
	uint8_t *b;
	size_t len;
	struct run r;

	(void)state;
	copy_store("index", copy, sizeof(copy));
	snprintf(idx, sizeof(idx), "%s/big-0/" SEG0 ".index", copy);
	b = slurp(idx, &len);
	assert_true(len >= 16);                         /* 30 KiB of batches: entries */
	b[len - 1] ^= 0x01;                             /* last entry's file position */
	spit(idx, b, len);
	free(b);
	r = run_cli("log", "verify", copy, NULL);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.out, SEG0 ".index"));
	run_free(&r);

	/* A torn index (size not a multiple of 8). */
	assert_int_equal(truncate(idx, 5), 0);
	r = run_cli("log", "verify", copy, NULL);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.out, SEG0 ".index"));
	run_free(&r);
}

/* A stream with a gap in its partition numbers (telemetry-1 renamed telemetry-2). */
static void test_verify_missing_partition(void **state)
{
	char copy[400], from[600], to[600];
	struct run r;

	(void)state;
	copy_store("gap", copy, sizeof(copy));
	snprintf(from, sizeof(from), "%s/telemetry-1", copy);
	snprintf(to, sizeof(to), "%s/telemetry-2", copy);
	assert_int_equal(rename(from, to), 0);
	r = run_cli("log", "verify", copy, NULL);
	assert_int_equal(r.status, 1);
	if (!strstr(r.out, "/telemetry-1: partition directory missing"))
		fail_msg("no missing-partition problem:\n%s", r.out);
	assert_non_null(strstr(r.out, "1 problem found"));
	run_free(&r);
}

/* Output that cannot be written (a full disk: /dev/full) is a failure, not a silent
 * success. */
static void test_output_errors(void **state)
{
	char cmd[1600];
	const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
	const char *sub[] = { "dump", "dump --json", "verify" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		snprintf(cmd, sizeof(cmd), "'%s' log %s '%s' > /dev/full 2>/dev/null", g_cli,
			 sub[i], g_store);
		if (mqbt_run(argv, NULL, NULL, 30000) != 1)
			fail_msg("log %s to /dev/full did not exit 1", sub[i]);
	}
}

/* --- bad arguments ------------------------------------------------------------------------ */

static void expect_usage(struct run r)
{
	if (r.status != 2)
		fail_msg("expected exit 2, got %d (stderr: %s)", r.status, r.err);
	assert_non_null(strstr(r.err, "usage:"));
	assert_int_equal(strlen(r.out), 0);
	run_free(&r);
}

static void expect_fail(struct run r, const char *needle)
{
	if (r.status != 1)
		fail_msg("expected exit 1, got %d (stderr: %s)", r.status, r.err);
	if (!strstr(r.err, needle))
		fail_msg("stderr lacks \"%s\": %s", needle, r.err);
	run_free(&r);
}

static void test_bad_arguments(void **state)
{
	char nodir[400], file[400];
	struct run r;

	(void)state;
	expect_usage(run_cli(NULL));
	expect_usage(run_cli("frobnicate", NULL));
	expect_usage(run_cli("log", NULL));
	expect_usage(run_cli("log", "frob", g_store, NULL));
	expect_usage(run_cli("log", "dump", NULL));
	expect_usage(run_cli("log", "dump", g_store, g_store, NULL));
	expect_usage(run_cli("log", "dump", g_store, "--partition", "abc", NULL));
	expect_usage(run_cli("log", "dump", g_store, "--partition", "-1", NULL));
	expect_usage(run_cli("log", "dump", g_store, "--from", "12x", NULL));
	expect_usage(run_cli("log", "dump", g_store, "--count", "", NULL));
	expect_usage(run_cli("log", "dump", g_store, "--stream", "../etc", NULL));
	expect_usage(run_cli("log", "dump", g_store, "--stream", NULL));
	expect_usage(run_cli("log", "dump", g_store, "--bogus", NULL));
	expect_usage(run_cli("log", "verify", NULL));
	expect_usage(run_cli("log", "verify", g_store, "--json", NULL));

	/* Well-formed but wrong: exit 1 with a message. */
	snprintf(nodir, sizeof(nodir), "%s/does-not-exist", g_dir);
	expect_fail(run_cli("log", "dump", nodir, NULL), "does-not-exist");
	assert_int_equal(access(nodir, F_OK), -1);      /* not created */
	expect_fail(run_cli("log", "verify", nodir, NULL), "does-not-exist");
	snprintf(file, sizeof(file), "%s/plain-file", g_dir);
	assert_int_equal(mqbt_write_file(file, "x"), 0);
	expect_fail(run_cli("log", "dump", file, NULL), "not a directory");
	expect_fail(run_cli("log", "dump", g_store, "--stream", "nosuch", NULL), "nosuch");
	expect_fail(run_cli("log", "dump", g_store, "--stream", "telemetry", "--partition", "2",
			    NULL), "partition");
	expect_fail(run_cli("log", "dump", g_store, "--partition", "7", NULL), "partition 7");
	expect_fail(run_cli("log", "verify", g_store, "--stream", "nosuch", NULL), "nosuch");

	/* Help and version are successes on stdout. */
	r = run_cli("--help", NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "log"));
	run_free(&r);
	r = run_cli("--version", NULL);
	assert_int_equal(r.status, 0);
	assert_true(strncmp(r.out, "mqbridge ", 9) == 0);
	run_free(&r);
	r = run_cli("log", "dump", "--help", NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "--json"));
	run_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dump_text),
		cmocka_unit_test(test_dump_json),
		cmocka_unit_test(test_dump_live_store),
		cmocka_unit_test(test_verify_clean),
		cmocka_unit_test(test_verify_flipped_bit),
		cmocka_unit_test(test_verify_torn_tail),
		cmocka_unit_test(test_verify_bad_index),
		cmocka_unit_test(test_verify_missing_partition),
		cmocka_unit_test(test_output_errors),
		cmocka_unit_test(test_bad_arguments),
	};
	return cmocka_run_group_tests_name("cli_log", tests, group_setup, group_teardown);
}
