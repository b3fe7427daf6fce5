/*
 * test_statefile.c — crash-safe state files: snapshot round trips, every torn length
 * and every flipped bit rejected, missing files, journal replay with torn/corrupt
 * tails cut away, compaction (also interrupted half-way), auto-compaction bounding
 * the file, and a child SIGKILLed while writing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bridge/err.h"
#include "bridge/store/statefile.h"
#include "tests/support/harness.h"

struct fx {
	char dir[256];
	char path[512];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f || mqbt_tmpdir(f->dir, sizeof(f->dir)) != 0)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/state", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	mqbt_rmrf(f->dir);
	free(f);
	return 0;
}

static off_t file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? sb.st_size : -1;
}

static void read_bytes(const char *path, uint8_t **buf, size_t *len)
{
	*buf = (uint8_t *)mqbt_read_file(path, len);
	assert_non_null(*buf);
}

static void write_bytes(const char *path, const uint8_t *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

/* --- snapshot files ------------------------------------------------------------- */

static void test_snapshot_roundtrip(void **state)
{
	struct fx *f = *state;
	uint8_t bin[300];
	char err[256] = "";
	void *data;
	size_t len, i;
	char tmp[600];

	for (i = 0; i < sizeof(bin); i++)
		bin[i] = (uint8_t)(i * 7);
	assert_int_equal(mqb_statefile_write(f->path, bin, sizeof(bin), err, sizeof(err)), MQB_OK);
	assert_int_equal(mqb_statefile_read(f->path, &data, &len, err, sizeof(err)), MQB_OK);
	assert_int_equal(len, sizeof(bin));
	assert_memory_equal(data, bin, sizeof(bin));
	free(data);
	snprintf(tmp, sizeof(tmp), "%s.tmp", f->path);
	assert_int_equal(access(tmp, F_OK), -1);          /* no temp file left behind */

	/* Replace with shorter content, then with an empty payload. */
	assert_int_equal(mqb_statefile_write(f->path, "abc", 3, err, sizeof(err)), MQB_OK);
	assert_int_equal(mqb_statefile_read(f->path, &data, &len, err, sizeof(err)), MQB_OK);
	assert_int_equal(len, 3);
	assert_string_equal(data, "abc");                 /* NUL-terminated copy */
	free(data);
	assert_int_equal(mqb_statefile_write(f->path, NULL, 0, err, sizeof(err)), MQB_OK);
	assert_int_equal(mqb_statefile_read(f->path, &data, &len, err, sizeof(err)), MQB_OK);
	assert_int_equal(len, 0);
	free(data);
}

static void test_snapshot_missing(void **state)
{
	struct fx *f = *state;
	char err[256] = "", path[600];
	void *data = (void *)1;
	size_t len = 5;

	assert_int_equal(mqb_statefile_read(f->path, &data, &len, err, sizeof(err)),
			 MQB_ERR_NOTFOUND);
	assert_null(data);
	assert_int_equal(len, 0);
	assert_non_null(strstr(err, f->path));

	/* Writing into a directory that does not exist fails cleanly. */
	snprintf(path, sizeof(path), "%s/no/such/dir/state", f->dir);
	err[0] = '\0';
	assert_int_equal(mqb_statefile_write(path, "x", 1, err, sizeof(err)), MQB_ERR_NOTFOUND);
	assert_true(strlen(err) > 0);
	/* Bad arguments. */
	assert_int_equal(mqb_statefile_write(NULL, "x", 1, NULL, 0), MQB_ERR_INVAL);
	assert_int_equal(mqb_statefile_write(f->path, NULL, 5, NULL, 0), MQB_ERR_INVAL);
	assert_int_equal(mqb_statefile_read(f->path, NULL, &len, NULL, 0), MQB_ERR_INVAL);
}

static void test_snapshot_truncated(void **state)
{
	struct fx *f = *state;
	const char *payload = "group=analytics offset=12345";
	uint8_t *orig;
	size_t olen, cut, len;
	char err[256];
	void *data;

	assert_int_equal(mqb_statefile_write(f->path, payload, strlen(payload), NULL, 0), MQB_OK);
	read_bytes(f->path, &orig, &olen);
	assert_int_equal(olen, 20 + strlen(payload));
	for (cut = 0; cut < olen; cut++) {
		write_bytes(f->path, orig, cut);
		err[0] = '\0';
		assert_int_equal(mqb_statefile_read(f->path, &data, &len, err, sizeof(err)),
				 MQB_ERR_CORRUPT);
		assert_null(data);
		assert_non_null(strstr(err, "truncated"));
	}
	/* Trailing garbage is rejected as well. */
	{
		uint8_t *longer = malloc(olen + 3);
		assert_non_null(longer);
		memcpy(longer, orig, olen);
		memcpy(longer + olen, "xyz", 3);
		write_bytes(f->path, longer, olen + 3);
		assert_int_equal(mqb_statefile_read(f->path, &data, &len, err, sizeof(err)),
				 MQB_ERR_CORRUPT);
		assert_non_null(strstr(err, "wrong length"));
		free(longer);
	}
	free(orig);
}

static void test_snapshot_bitflips(void **state)
{
	struct fx *f = *state;
	const char *payload = "forwarder cursor 987654321";
	uint8_t *orig;
	size_t olen, i, len;
	int bit;
	void *data;
	char err[256];

	assert_int_equal(mqb_statefile_write(f->path, payload, strlen(payload), NULL, 0), MQB_OK);
	read_bytes(f->path, &orig, &olen);
	for (i = 0; i < olen; i++) {
		for (bit = 0; bit < 8; bit++) {
			orig[i] ^= (uint8_t)(1u << bit);
			write_bytes(f->path, orig, olen);
			err[0] = '\0';
			assert_int_equal(mqb_statefile_read(f->path, &data, &len, err, sizeof(err)),
					 MQB_ERR_CORRUPT);
			assert_true(strlen(err) > 0);
			orig[i] ^= (uint8_t)(1u << bit);
		}
	}
	/* Restored bytes read fine again: the checks above were about the flips. */
	write_bytes(f->path, orig, olen);
	assert_int_equal(mqb_statefile_read(f->path, &data, &len, NULL, 0), MQB_OK);
	assert_memory_equal(data, payload, strlen(payload));
	free(data);
	free(orig);
}

static void test_snapshot_garbage(void **state)
{
	struct fx *f = *state;
	void *data;
	size_t len;
	char err[256];

	assert_int_equal(mqbt_write_file(f->path, "this is not a state file at all\n"), 0);
	assert_int_equal(mqb_statefile_read(f->path, &data, &len, err, sizeof(err)),
			 MQB_ERR_CORRUPT);
	assert_non_null(strstr(err, "magic"));
	/* A directory where the file should be. */
	assert_int_equal(unlink(f->path), 0);
	assert_int_equal(mkdir(f->path, 0755), 0);
	assert_int_not_equal(mqb_statefile_read(f->path, &data, &len, err, sizeof(err)), MQB_OK);
	assert_int_not_equal(mqb_statefile_write(f->path, "x", 1, err, sizeof(err)), MQB_OK);
	assert_int_equal(rmdir(f->path), 0);
}

/* --- journals --------------------------------------------------------------------- */

/* Replay target: the snapshot is a list of "rN" strings joined by ','; records are
 * "rN". The state is the sequence in order. */
struct jstate {
	char (*items)[16];
	int n, cap;
	int snapshots;
	int fail_at;      /* replay returns an error at this item (-1: never) */
};

static void jpush(struct jstate *s, const char *p, size_t n)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1024;
		s->items = realloc(s->items, (size_t)s->cap * sizeof(*s->items));
		assert_non_null(s->items);
	}
	assert_true(n < 16);
	memcpy(s->items[s->n], p, n);
	s->items[s->n][n] = '\0';
	s->n++;
}

/* Forget the replayed state (keeps the buffer). */
static void jreset(struct jstate *s)
{
	s->n = 0;
	s->snapshots = 0;
	s->fail_at = -1;
}

static void jfree(struct jstate *s)
{
	free(s->items);
	free(s);
}

static int jreplay(void *arg, enum mqb_journal_kind kind, const void *data, size_t len)
{
	struct jstate *s = arg;

	if (s->fail_at >= 0 && s->n == s->fail_at)
		return MQB_ERR_PROTO;
	if (kind == MQB_JOURNAL_SNAPSHOT) {
		const char *p = data, *end = p + len;
		s->snapshots++;
		while (p < end) {
			const char *c = memchr(p, ',', (size_t)(end - p));
			size_t n = (size_t)((c ? c : end) - p);
			jpush(s, p, n);
			p += n + (c ? 1 : 0);
		}
		return MQB_OK;
	}
	jpush(s, data, len);
	return MQB_OK;
}

static int jsnapshot(void *arg, void **data, size_t *len)
{
	struct jstate *s = arg;
	char *buf = malloc((size_t)s->n * 17 + 1);
	size_t off = 0;
	int i;

	if (!buf)
		return MQB_ERR_NOMEM;
	for (i = 0; i < s->n; i++)
		off += (size_t)sprintf(buf + off, "%s%s", i ? "," : "", s->items[i]);
	*data = buf;
	*len = off;
	return MQB_OK;
}

static mqb_journal_t *jopen(const char *path, struct jstate *s, int autocompact, size_t bytes)
{
	mqb_journal_opts_t o = { .replay = jreplay, .arg = s, .compact_bytes = bytes };
	char err[512] = "";
	mqb_journal_t *j;

	jreset(s);
	if (autocompact)
		o.snapshot = jsnapshot;
	j = mqb_journal_open(path, &o, err, sizeof(err));
	if (!j)
		print_message("journal open: %s\n", err);
	return j;
}

static void append_n(mqb_journal_t *j, struct jstate *s, int from, int to)
{
	char rec[16];
	int i;

	for (i = from; i < to; i++) {
		int n = snprintf(rec, sizeof(rec), "r%d", i);
		assert_int_equal(mqb_journal_append(j, rec, (size_t)n), MQB_OK);
		if (s)
			jpush(s, rec, (size_t)n);
	}
}

static void expect_seq(const struct jstate *s, int n)
{
	char want[16];
	int i;

	assert_int_equal(s->n, n);
	for (i = 0; i < n; i++) {
		snprintf(want, sizeof(want), "r%d", i);
		assert_string_equal(s->items[i], want);
	}
}

static void test_journal_roundtrip(void **state)
{
	struct fx *f = *state;
	struct jstate *s = calloc(1, sizeof(*s));
	mqb_journal_t *j;

	j = jopen(f->path, s, 0, 0);                     /* fresh: created empty */
	assert_non_null(j);
	assert_int_equal(s->n, 0);
	assert_int_equal(mqb_journal_recovery(j)->cut_bytes, 0);
	append_n(j, NULL, 0, 50);
	assert_int_equal(mqb_journal_sync(j), MQB_OK);
	assert_int_equal(mqb_journal_bytes(j), (uint64_t)file_size(f->path));
	mqb_journal_close(j);

	j = jopen(f->path, s, 0, 0);
	assert_non_null(j);
	expect_seq(s, 50);
	assert_int_equal(mqb_journal_recovery(j)->records, 50);
	assert_null(mqb_journal_recovery(j)->cut_reason);
	append_n(j, NULL, 50, 60);                        /* appends continue after replay */
	mqb_journal_close(j);
	j = jopen(f->path, s, 0, 0);
	assert_non_null(j);
	expect_seq(s, 60);

	/* Bad arguments change nothing. */
	assert_int_equal(mqb_journal_append(j, "x", 0), MQB_ERR_INVAL);
	assert_int_equal(mqb_journal_append(j, NULL, 3), MQB_ERR_INVAL);
	{
		size_t big = MQB_JOURNAL_MAX_RECORD + 1;
		char *b = calloc(1, big);
		assert_non_null(b);
		assert_int_equal(mqb_journal_append(j, b, big), MQB_ERR_TOOBIG);
		free(b);
	}
	mqb_journal_close(j);
	j = jopen(f->path, s, 0, 0);
	assert_non_null(j);
	expect_seq(s, 60);
	mqb_journal_close(j);
	mqb_journal_close(NULL);
	jfree(s);
}

/* Every truncation length of the file: replay keeps exactly the whole records, cuts
 * the rest, and the journal is usable afterwards. */
static void test_journal_torn_tail(void **state)
{
	struct fx *f = *state;
	struct jstate *s = calloc(1, sizeof(*s));
	uint8_t *orig;
	size_t olen, cut;
	mqb_journal_t *j;
	uint64_t ends[20];
	int i;

	j = jopen(f->path, s, 0, 0);
	assert_non_null(j);
	for (i = 0; i < 20; i++) {
		append_n(j, NULL, i, i + 1);
		ends[i] = mqb_journal_bytes(j);
	}
	mqb_journal_close(j);
	read_bytes(f->path, &orig, &olen);
	for (cut = 20; cut < olen; cut++) {
		int whole = 0;
		const mqb_journal_recovery_t *rec;
		uint64_t at;

		while (whole < 20 && ends[whole] <= cut)
			whole++;
		write_bytes(f->path, orig, cut);
		j = jopen(f->path, s, 0, 0);
		assert_non_null(j);
		expect_seq(s, whole);
		rec = mqb_journal_recovery(j);
		at = whole ? ends[whole - 1] : 20;
		if (at == cut) {
			assert_int_equal(rec->cut_bytes, 0);
			assert_null(rec->cut_reason);
		} else {
			assert_int_equal(rec->cut_position, at);
			assert_int_equal(rec->cut_bytes, cut - at);
			assert_non_null(rec->cut_reason);
			assert_int_equal(file_size(f->path), (off_t)at);   /* truncated on disk */
		}
		/* Append after the cut and read it all back. */
		append_n(j, NULL, whole, whole + 1);
		mqb_journal_close(j);
		j = jopen(f->path, s, 0, 0);
		assert_non_null(j);
		expect_seq(s, whole + 1);
		mqb_journal_close(j);
	}
	free(orig);
	jfree(s);
}

/* A flipped bit in a middle record: the records before it survive, it and everything
 * after are cut (the log is a prefix, never has holes). */
static void test_journal_bitflip_middle(void **state)
{
	struct fx *f = *state;
	struct jstate *s = calloc(1, sizeof(*s));
	uint64_t ends[10];
	uint8_t *orig;
	size_t olen;
	mqb_journal_t *j;
	int i, victim;

	j = jopen(f->path, s, 0, 0);
	assert_non_null(j);
	for (i = 0; i < 10; i++) {
		append_n(j, NULL, i, i + 1);
		ends[i] = mqb_journal_bytes(j);
	}
	mqb_journal_close(j);
	read_bytes(f->path, &orig, &olen);
	for (victim = 1; victim < 10; victim++) {
		uint64_t start = ends[victim - 1], pos;
		for (pos = start; pos < ends[victim]; pos++) {
			orig[pos] ^= 0x10;
			write_bytes(f->path, orig, olen);
			j = jopen(f->path, s, 0, 0);
			assert_non_null(j);
			expect_seq(s, victim);
			assert_int_equal(mqb_journal_recovery(j)->cut_position, start);
			assert_int_equal(mqb_journal_recovery(j)->cut_bytes, olen - start);
			mqb_journal_close(j);
			orig[pos] ^= 0x10;
		}
	}
	free(orig);
	jfree(s);
}

static void test_journal_bad_header(void **state)
{
	struct fx *f = *state;
	struct jstate *s = calloc(1, sizeof(*s));
	mqb_journal_opts_t o = { .replay = jreplay, .arg = s };
	uint8_t *orig;
	size_t olen;
	char err[512];
	mqb_journal_t *j;

	j = jopen(f->path, s, 0, 0);
	assert_non_null(j);
	append_n(j, NULL, 0, 3);
	mqb_journal_close(j);
	read_bytes(f->path, &orig, &olen);

	/* A flipped bit in the header: refuse, and leave the file alone. */
	orig[9] ^= 1;
	write_bytes(f->path, orig, olen);
	err[0] = '\0';
	s->fail_at = -1;
	assert_null(mqb_journal_open(f->path, &o, err, sizeof(err)));
	assert_non_null(strstr(err, "corrupt header"));
	assert_int_equal(file_size(f->path), (off_t)olen);
	orig[9] ^= 1;

	/* A torn header (shorter than 20 bytes): nothing can follow it; reset. */
	write_bytes(f->path, orig, 7);
	j = jopen(f->path, s, 0, 0);
	assert_non_null(j);
	assert_int_equal(s->n, 0);
	assert_int_equal(mqb_journal_recovery(j)->cut_bytes, 7);
	mqb_journal_close(j);

	/* Not a journal at all. */
	assert_int_equal(mqbt_write_file(f->path, "garbage garbage garbage garbage\n"), 0);
	assert_null(mqb_journal_open(f->path, &o, err, sizeof(err)));
	assert_non_null(strstr(err, "magic"));

	/* A directory that does not exist. */
	{
		char nodir[600];
		snprintf(nodir, sizeof(nodir), "%s/no/such/journal", f->dir);
		err[0] = '\0';
		assert_null(mqb_journal_open(nodir, &o, err, sizeof(err)));
		assert_non_null(strstr(err, "no/such/journal"));
	}

	/* Missing replay callback. */
	o.replay = NULL;
	assert_null(mqb_journal_open(f->path, &o, err, sizeof(err)));
	free(orig);
	jfree(s);
}

static void test_journal_replay_error(void **state)
{
	struct fx *f = *state;
	struct jstate *s = calloc(1, sizeof(*s));
	mqb_journal_opts_t o = { .replay = jreplay, .arg = s };
	char err[512];
	mqb_journal_t *j;
	off_t before;

	j = jopen(f->path, s, 0, 0);
	assert_non_null(j);
	append_n(j, NULL, 0, 5);
	mqb_journal_close(j);
	before = file_size(f->path);
	jreset(s);
	s->fail_at = 3;
	err[0] = '\0';
	assert_null(mqb_journal_open(f->path, &o, err, sizeof(err)));
	assert_non_null(strstr(err, "replay callback failed"));
	assert_int_equal(file_size(f->path), before);     /* nothing cut */
	jfree(s);
}

static void test_journal_compact(void **state)
{
	struct fx *f = *state;
	struct jstate *s = calloc(1, sizeof(*s));
	void *snap;
	size_t snap_len;
	mqb_journal_t *j;

	j = jopen(f->path, s, 0, 0);
	assert_non_null(j);
	append_n(j, s, 0, 30);
	assert_int_equal(jsnapshot(s, &snap, &snap_len), MQB_OK);
	assert_int_equal(mqb_journal_compact(j, snap, snap_len), MQB_OK);
	free(snap);
	assert_int_equal(mqb_journal_bytes(j), 20);       /* the journal restarted empty */
	assert_int_equal(file_size(f->path), 20);
	append_n(j, s, 30, 40);
	mqb_journal_close(j);

	j = jopen(f->path, s, 0, 0);
	assert_non_null(j);
	assert_int_equal(s->snapshots, 1);
	assert_int_equal(mqb_journal_recovery(j)->had_snapshot, 1);
	assert_int_equal(mqb_journal_recovery(j)->epoch, 1);
	assert_int_equal(mqb_journal_recovery(j)->records, 10);
	expect_seq(s, 40);
	mqb_journal_close(j);
	jfree(s);
}

/* A crash after the new snapshot was written but before the journal restarted: the
 * old journal's records are in the snapshot and must not be applied twice. */
static void test_journal_compact_interrupted(void **state)
{
	struct fx *f = *state;
	struct jstate *s = calloc(1, sizeof(*s));
	char jcopy[600], snappath[600];
	uint8_t *old;
	size_t old_len;
	void *snap;
	size_t snap_len;
	mqb_journal_t *j;

	snprintf(jcopy, sizeof(jcopy), "%s.copy", f->path);
	snprintf(snappath, sizeof(snappath), "%s.snap", f->path);
	j = jopen(f->path, s, 0, 0);
	assert_non_null(j);
	append_n(j, s, 0, 12);
	mqb_journal_close(j);
	read_bytes(f->path, &old, &old_len);              /* journal epoch 0, 12 records */

	j = jopen(f->path, s, 0, 0);
	assert_non_null(j);
	assert_int_equal(jsnapshot(s, &snap, &snap_len), MQB_OK);
	assert_int_equal(mqb_journal_compact(j, snap, snap_len), MQB_OK);
	free(snap);
	mqb_journal_close(j);
	/* Put the pre-compaction journal back: the state the crash would leave. */
	write_bytes(f->path, old, old_len);

	j = jopen(f->path, s, 0, 0);
	assert_non_null(j);
	expect_seq(s, 12);                                /* not 24 */
	assert_int_equal(mqb_journal_recovery(j)->stale_journal, 1);
	assert_int_equal(file_size(f->path), 20);
	append_n(j, NULL, 12, 13);
	mqb_journal_close(j);
	j = jopen(f->path, s, 0, 0);
	assert_non_null(j);
	expect_seq(s, 13);
	mqb_journal_close(j);

	/* The snapshot lost while the journal is newer: refuse rather than lose state. */
	assert_int_equal(unlink(snappath), 0);
	{
		mqb_journal_opts_t o = { .replay = jreplay, .arg = s };
		char err[512] = "";
		assert_null(mqb_journal_open(f->path, &o, err, sizeof(err)));
		assert_non_null(strstr(err, "newer than its snapshot"));
	}
	free(old);
	jfree(s);
}

static void test_journal_corrupt_snapshot(void **state)
{
	struct fx *f = *state;
	struct jstate *s = calloc(1, sizeof(*s));
	mqb_journal_opts_t o = { .replay = jreplay, .arg = s };
	char snappath[600], err[512];
	uint8_t *buf;
	size_t len;
	mqb_journal_t *j;

	snprintf(snappath, sizeof(snappath), "%s.snap", f->path);
	j = jopen(f->path, s, 0, 0);
	assert_non_null(j);
	append_n(j, s, 0, 4);
	assert_int_equal(mqb_journal_compact(j, "r0,r1,r2,r3", 11), MQB_OK);
	mqb_journal_close(j);
	read_bytes(snappath, &buf, &len);
	buf[len - 1] ^= 0x40;
	write_bytes(snappath, buf, len);
	err[0] = '\0';
	assert_null(mqb_journal_open(f->path, &o, err, sizeof(err)));
	assert_non_null(strstr(err, "CRC mismatch"));
	/* Truncated snapshot. */
	write_bytes(snappath, buf, len / 2);
	assert_null(mqb_journal_open(f->path, &o, err, sizeof(err)));
	assert_non_null(strstr(err, "truncated"));
	free(buf);
	jfree(s);
}

/* Auto-compaction keeps the files bounded while the state stays exact. */
static void test_journal_autocompact(void **state)
{
	struct fx *f = *state;
	struct jstate *s = calloc(1, sizeof(*s));
	struct jstate *t = calloc(1, sizeof(*t));
	char snappath[600], rec[16];
	mqb_journal_t *j;
	off_t max_j = 0;
	int i;

	snprintf(snappath, sizeof(snappath), "%s.snap", f->path);
	j = jopen(f->path, s, 1, 2048);
	assert_non_null(j);
	for (i = 0; i < 3000; i++) {
		int n = snprintf(rec, sizeof(rec), "r%d", i);
		/* The live state must include the record before a compaction may run. */
		jpush(s, rec, (size_t)n);
		assert_int_equal(mqb_journal_append(j, rec, (size_t)n), MQB_OK);
		if (file_size(f->path) > max_j)
			max_j = file_size(f->path);
	}
	assert_true(max_j <= 2048 + 8 + 16);
	assert_true(mqb_journal_recovery(j)->epoch == 0);    /* as found at open */
	mqb_journal_close(j);
	j = jopen(f->path, t, 0, 0);
	assert_non_null(j);
	expect_seq(t, 3000);
	assert_true(t->snapshots == 1);
	assert_true(mqb_journal_recovery(j)->epoch > 10);
	mqb_journal_close(j);
	jfree(s);
	jfree(t);
}

/* --- a full disk ---------------------------------------------------------------------- */

/* Child: with RLIMIT_FSIZE just above the files' sizes, writes fail part-way (EFBIG,
 * like a full disk). Returns 0 or the number of the failed check. */
static int disk_full_child(const char *dir)
{
	char jpath[600], spath[600], tmp[700], big[200];
	struct jstate *s = calloc(1, sizeof(*s));
	mqb_journal_opts_t o = { .replay = jreplay, .arg = s };
	struct rlimit rl;
	mqb_journal_t *j;
	void *data;
	size_t len;
	off_t jsize;
	int i;

	signal(SIGXFSZ, SIG_IGN);                 /* get EFBIG instead of a signal */
	snprintf(jpath, sizeof(jpath), "%s/j", dir);
	snprintf(spath, sizeof(spath), "%s/s", dir);
	snprintf(tmp, sizeof(tmp), "%s/s.tmp", dir);
	memset(big, 'b', sizeof(big));
	if (!s)
		return 1;
	s->fail_at = -1;
	j = mqb_journal_open(jpath, &o, NULL, 0);
	if (!j)
		return 2;
	for (i = 0; i < 10; i++) {
		char rec[16];
		int n = snprintf(rec, sizeof(rec), "r%d", i);
		if (mqb_journal_append(j, rec, (size_t)n) != MQB_OK)
			return 3;
	}
	if (mqb_statefile_write(spath, "old state", 9, NULL, 0) != MQB_OK)
		return 4;
	jsize = file_size(jpath);
	rl.rlim_cur = rl.rlim_max = (rlim_t)jsize + 50;   /* room for part of a frame */
	if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
		return 5;
	if (mqb_journal_append(j, big, sizeof(big)) != MQB_ERR_NOSPC)
		return 6;
	if (file_size(jpath) != jsize)                      /* partial frame removed */
		return 7;
	if (mqb_statefile_write(spath, big, sizeof(big), NULL, 0) != MQB_ERR_NOSPC)
		return 8;
	if (access(tmp, F_OK) == 0)                         /* temp file removed */
		return 9;
	if (mqb_statefile_read(spath, &data, &len, NULL, 0) != MQB_OK || len != 9 ||
	    memcmp(data, "old state", 9) != 0)              /* old state intact */
		return 10;
	free(data);
	if (mqb_journal_append(j, "r10", 3) != MQB_OK)     /* small ones still fit */
		return 11;
	/* A compaction whose snapshot cannot be written changes nothing. */
	if (mqb_journal_compact(j, big, sizeof(big)) != MQB_ERR_NOSPC)
		return 13;
	if (mqb_journal_append(j, "r11", 3) != MQB_OK)
		return 14;
	mqb_journal_close(j);
	j = mqb_journal_open(jpath, &o, NULL, 0);
	if (!j || s->n != 12 || mqb_journal_recovery(j)->cut_bytes != 0 ||
	    mqb_journal_recovery(j)->had_snapshot || strcmp(s->items[11], "r11") != 0)
		return 12;
	mqb_journal_close(j);
	jfree(s);
	return 0;
}

static void test_disk_full(void **state)
{
	struct fx *f = *state;
	pid_t pid = fork();
	int st;

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(disk_full_child(f->dir));
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) != 0)
		fail_msg("disk-full check %d failed", WEXITSTATUS(st));
}

/* --- SIGKILL while writing ---------------------------------------------------------- */

#define SNAP_FILL 8192

/* Child: alternately rewrite a snapshot whose every byte is derived from a counter
 * and append+sync a journal record; report each completed step on the pipe. */
static void child_writer(const char *snap, const char *jpath, int wfd)
{
	struct jstate *s = calloc(1, sizeof(*s));
	mqb_journal_opts_t o = { .replay = jreplay, .arg = s };
	uint8_t *buf = malloc(SNAP_FILL);
	mqb_journal_t *j;
	uint32_t n;
	char rec[16];

	s->fail_at = -1;
	j = mqb_journal_open(jpath, &o, NULL, 0);
	if (!j || !buf)
		_exit(3);
	n = (uint32_t)s->n;
	for (;; n++) {
		size_t i, len = 64 + (n * 37) % (SNAP_FILL - 64);
		int l;

		for (i = 0; i < len; i++)
			buf[i] = (uint8_t)(n + i);
		memcpy(buf, &n, sizeof(n));
		if (mqb_statefile_write(snap, buf, len, NULL, 0) != MQB_OK)
			_exit(4);
		l = snprintf(rec, sizeof(rec), "r%u", n);
		if (mqb_journal_append(j, rec, (size_t)l) != MQB_OK || mqb_journal_sync(j) != MQB_OK)
			_exit(5);
		if (write(wfd, &n, sizeof(n)) != sizeof(n))
			_exit(6);
	}
}

static void test_sigkill_during_write(void **state)
{
	struct fx *f = *state;
	char snap[600];
	struct jstate *s = calloc(1, sizeof(*s));
	int round;
	int64_t last_done = -1;

	snprintf(snap, sizeof(snap), "%s/cursor", f->dir);
	srand((unsigned)getpid());
	for (round = 0; round < 8; round++) {
		int p[2], st;
		pid_t pid;
		uint32_t n;
		int64_t deadline;
		void *data;
		size_t len, i;
		mqb_journal_t *j;
		const uint8_t *d;
		uint32_t got;

		assert_int_equal(pipe(p), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(p[0]);
			child_writer(snap, f->path, p[1]);
			_exit(7);
		}
		close(p[1]);
		/* Let it run a random 20..120 ms, reading its progress, and at least until it
		 * reported one write this round (bounded: 10 s), so a loaded machine that
		 * leaves the child unscheduled cannot make the kill land before any write. */
		deadline = mqbt_now_ms() + 20 + rand() % 100;
		fcntl(p[0], F_SETFL, O_NONBLOCK);
		{
			bool reported = false;
			int64_t cap = mqbt_now_ms() + 10000;

			while ((mqbt_now_ms() < deadline || !reported) && mqbt_now_ms() < cap) {
				while (read(p[0], &n, sizeof(n)) == sizeof(n)) {
					last_done = n;
					reported = true;
				}
				mqbt_sleep_ms(1);
			}
		}
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFSIGNALED(st));                     /* it was still writing */
		fcntl(p[0], F_SETFL, 0);
		while (read(p[0], &n, sizeof(n)) == sizeof(n))
			last_done = n;
		close(p[0]);
		assert_true(last_done >= 0);

		/* The snapshot is whole: old or new, every byte consistent with its counter. */
		assert_int_equal(mqb_statefile_read(snap, &data, &len, NULL, 0), MQB_OK);
		d = data;
		memcpy(&got, d, sizeof(got));
		assert_true((int64_t)got >= last_done);         /* every reported write */
		assert_int_equal(len, 64 + (got * 37) % (SNAP_FILL - 64));
		for (i = sizeof(got); i < len; i++)
			assert_int_equal(d[i], (uint8_t)(got + i));
		free(data);

		/* The journal replays a contiguous prefix holding every reported record.
		 * Step n writes snapshot n when the journal holds n records, then appends
		 * record n: so the journal holds got or got + 1 records. (A record written
		 * but not yet reported survives a SIGKILL in the page cache, so both may be
		 * ahead of last_done.) */
		j = jopen(f->path, s, 0, 0);
		assert_non_null(j);
		assert_true(s->n >= last_done + 1);
		assert_true(s->n == (int)got || s->n == (int)got + 1);
		expect_seq(s, s->n);
		mqb_journal_close(j);
	}
	jfree(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_snapshot_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_bitflips, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_torn_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_bitflip_middle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_bad_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_replay_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_compact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_compact_interrupted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_corrupt_snapshot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_autocompact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sigkill_during_write, setup, teardown),
	};
	return cmocka_run_group_tests_name("statefile", tests, NULL, NULL);
}
