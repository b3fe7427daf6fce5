/*
 * log_verify.c — `mqbridge log verify DIR [--stream S]`.
 *
 * Walks DIR for partition directories (<stream>-<N>), checks that each stream's
 * partitions are numbered 0..N-1 without gaps, lets the store check each one
 * (mqb_store_verify_partition: every batch's length, magic, CRC-32C and offsets, every
 * index entry), prints each problem as "PATH: byte POS: WHAT" (or "PATH: WHAT"), and
 * ends with one summary line. Reads only; safe on a live store (a batch being written at the very
 * end may then show as torn).
 */
#include "tools/log_verify.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bridge/err.h"
#include "bridge/store/batch.h"
#include "bridge/store/recovery.h"
#include "bridge/store/store.h"
#include "tools/cli.h"

struct verify_totals {
	int64_t partitions, segments, batches, records, problems;
};

static void on_problem(void *arg, const char *path, int64_t position, const char *what)
{
	struct verify_totals *t = arg;

	if (position >= 0)
		printf("%s: byte %" PRId64 ": %s\n", path, position, what);
	else
		printf("%s: %s\n", path, what);
	t->problems++;
}

/* True when name is "<valid stream>-<decimal partition>"; *stream_len gets the
 * length of the stream part. */
static bool partition_dir_name(const char *name, size_t *stream_len)
{
	const char *dash = strrchr(name, '-'), *p;
	char stream[256];
	size_t n;

	if (!dash || dash == name || !dash[1] || strlen(dash + 1) > 9)
		return false;
	for (p = dash + 1; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	n = (size_t)(dash - name);
	if (n >= sizeof(stream))
		return false;
	memcpy(stream, name, n);
	stream[n] = '\0';
	if (!mqb_stream_name_valid(stream))
		return false;
	*stream_len = n;
	return true;
}

static bool segment_name(const char *name)
{
	size_t i;

	if (strlen(name) != 24 || strcmp(name + 20, ".log") != 0)
		return false;
	for (i = 0; i < 20; i++)
		if (name[i] < '0' || name[i] > '9')
			return false;
	return true;
}

/* Count the batches of one .log by walking its headers (lengths only; the store's
 * check validates them). Stops quietly where the walk cannot continue: the store
 * reports that place as a problem. */
static int64_t count_batches(const char *path)
{
	uint8_t hdr[MQB_BATCH_HDR_SIZE];
	mqb_batch_hdr_t h;
	struct stat sb;
	int64_t n = 0;
	off_t pos = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	if (fstat(fd, &sb) == 0) {
		while (pos + (off_t)sizeof(hdr) <= sb.st_size &&
		       pread(fd, hdr, sizeof(hdr), pos) == (ssize_t)sizeof(hdr) &&
		       mqb_batch_header_peek(hdr, sizeof(hdr), &h) == MQB_OK &&
		       h.batch_length >= MQB_BATCH_HDR_SIZE - MQB_BATCH_LOG_OVERHEAD &&
		       pos + (off_t)mqb_batch_total_size(&h) <= sb.st_size) {
			pos += (off_t)mqb_batch_total_size(&h);
			n++;
		}
	}
	close(fd);
	return n;
}

static int verify_partition(const char *dir, struct verify_totals *t)
{
	struct dirent *de;
	char path[4096];
	int64_t records = 0;
	DIR *d;
	int rc;

	rc = mqb_store_verify_partition(dir, on_problem, t, &records);
	if (rc < 0) {
		mqb_cli_error("%s: cannot check: %s", dir, mqb_strerror(rc));
		t->problems++;
		return rc;
	}
	t->partitions++;
	t->records += records;
	d = opendir(dir);
	if (!d)
		return MQB_OK;
	while ((de = readdir(d)) != NULL) {
		if (!segment_name(de->d_name))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
			continue;
		t->segments++;
		t->batches += count_batches(path);
	}
	closedir(d);
	return MQB_OK;
}

/* Order partition dirs by stream name, then by partition number (s-2 before s-10). */
static int name_cmp(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	const char *dx = strrchr(x, '-'), *dy = strrchr(y, '-');
	size_t lx = (size_t)(dx - x), ly = (size_t)(dy - y);
	int c = strncmp(x, y, lx < ly ? lx : ly);
	long px, py;

	if (c)
		return c;
	if (lx != ly)
		return lx < ly ? -1 : 1;
	px = strtol(dx + 1, NULL, 10);
	py = strtol(dy + 1, NULL, 10);
	return px < py ? -1 : px > py;
}

/* Partitions of a stream are numbered 0..N-1: report the numbers missing before each
 * directory (names sorted by name_cmp). */
static void check_partition_numbers(const char *dir, char **names, size_t n,
				    struct verify_totals *t)
{
	char what[160], path[4096];
	long expect = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		const char *dash = strrchr(names[i], '-');
		long id = strtol(dash + 1, NULL, 10);
		int slen = (int)(dash - names[i]);

		if (i > 0) {
			const char *pd = strrchr(names[i - 1], '-');
			if ((int)(pd - names[i - 1]) != slen ||
			    strncmp(names[i - 1], names[i], (size_t)slen) != 0)
				expect = 0;               /* a new stream */
		}
		for (; expect < id; expect++) {
			snprintf(path, sizeof(path), "%s/%.*s-%ld", dir, slen, names[i], expect);
			snprintf(what, sizeof(what), "partition directory missing (the stream has "
				 "partition %ld)", id);
			on_problem(t, path, -1, what);
		}
		expect = id + 1;
	}
}

int mqb_log_verify(const char *dir, const char *stream)
{
	struct verify_totals t = { 0 };
	struct dirent *de;
	char **names = NULL, path[4096];
	size_t n = 0, cap = 0, i, slen;
	int rc = MQB_CLI_OK;
	DIR *d;

	d = opendir(dir);
	if (!d) {
		mqb_cli_error("%s: %s", dir, strerror(errno));
		return MQB_CLI_FAIL;
	}
	while ((de = readdir(d)) != NULL) {
		char **nn;

		if (!partition_dir_name(de->d_name, &slen))
			continue;
		if (stream && (strlen(stream) != slen || strncmp(de->d_name, stream, slen) != 0))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		{
			struct stat sb;
			if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
				continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			nn = realloc(names, cap * sizeof(*names));
			if (!nn) {
				mqb_cli_error("out of memory");
				rc = MQB_CLI_FAIL;
				goto done;
			}
			names = nn;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			mqb_cli_error("out of memory");
			rc = MQB_CLI_FAIL;
			goto done;
		}
		n++;
	}
	closedir(d);
	d = NULL;
	if (stream && n == 0) {
		mqb_cli_error("%s: no stream '%s' (no %s-<N> directory)", dir, stream, stream);
		rc = MQB_CLI_FAIL;
		goto done;
	}
	qsort(names, n, sizeof(*names), name_cmp);
	check_partition_numbers(dir, names, n, &t);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		verify_partition(path, &t);
	}
	printf("verify: %" PRId64 " partitions, %" PRId64 " segments, %" PRId64 " batches, %"
	       PRId64 " records checked: %s", t.partitions, t.segments, t.batches, t.records,
	       t.problems ? "" : "OK\n");
	if (t.problems) {
		printf("%" PRId64 " problem%s found\n", t.problems, t.problems == 1 ? "" : "s");
		rc = MQB_CLI_FAIL;
	}
done:
	if (d)
		closedir(d);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		mqb_cli_error("writing output failed");
		rc = MQB_CLI_FAIL;
	}
	return rc;
}
