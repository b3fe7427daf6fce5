/* test_store_recovery.c — recovery after unclean stops and on corrupt files: each case
 * recovers to the longest valid prefix, reports what it cut, and never crashes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "bridge/err.h"
#include "bridge/store/batch.h"
#include "bridge/store/recovery.h"
#include "bridge/store/store.h"
#include "tests/support/harness.h"
#include "tests/support/store_fx.h"

/* bytes of one batch from append_batches(): 61 + 10 records of 112 bytes */
#define BSIZE 1181

static int setup(void **state)
{
	if (fx_setup(state))
		return -1;
	fx_t *f = *state;
	f->o.index_interval_bytes = 512;
	return 0;
}

static int teardown(void **state)
{
	return fx_teardown(state);
}

/* n batches of 10 records, values "v<offset>" padded to 100 bytes (equal batch sizes) */
static void append_batches(mqb_partition_t *p, int n)
{
	for (int b = 0; b < n; b++) {
		mqb_record_t recs[10];
		char vals[10][100];
		mqb_watermarks_t w;
		mqb_partition_watermarks(p, &w);
		for (int i = 0; i < 10; i++) {
			memset(vals[i], 'x', sizeof(vals[i]));
			vals[i][snprintf(vals[i], sizeof(vals[i]), "v%08lld",
					 (long long)(w.stored + i))] = 'x';
			recs[i] = (mqb_record_t){ .timestamp_ms = 1000000 + w.stored + i,
						  .key = "key", .key_len = 3, .value = vals[i],
						  .value_len = 100 };
		}
		assert_int_equal(mqb_partition_append(p, recs, 10, NULL), MQB_OK);
	}
}

/* All records from log start: contiguous, values match; returns the count. */
static int64_t check_all(mqb_partition_t *p)
{
	mqb_watermarks_t w;
	mqb_reader_t *r;
	mqb_record_t rec;
	int64_t next, n = 0;
	char want[16];
	int rc;

	mqb_partition_watermarks(p, &w);
	next = w.log_start;
	r = mqb_reader_new(p, next);
	while ((rc = mqb_reader_next_record(r, &rec)) == MQB_OK) {
		assert_int_equal(rec.offset, next);
		snprintf(want, sizeof(want), "v%08lld", (long long)next);
		assert_memory_equal(rec.value, want, 9);
		next++;
		n++;
	}
	assert_int_equal(rc, MQB_ERR_AGAIN);
	assert_int_equal(next, w.stored);
	mqb_reader_destroy(r);
	return n;
}

static void path_of(fx_t *f, char *out, size_t n, int64_t base, const char *suffix)
{
	snprintf(out, n, "%s/%020lld%s", f->pdir, (long long)base, suffix);
}

static int64_t file_size(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 ? sb.st_size : -1;
}

static void crash_marks(fx_t *f, bool drop_checkpoint)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/.clean-shutdown", f->pdir);
	assert_int_equal(unlink(path), 0);
	if (drop_checkpoint) {
		snprintf(path, sizeof(path), "%s/recovery-point", f->pdir);
		assert_int_equal(unlink(path), 0);
	}
}

static void poke(const char *path, int64_t pos, const void *bytes, size_t n)
{
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, bytes, n, pos), (ssize_t)n);
	close(fd);
}

static void flip_bit(const char *path, int64_t pos, int bit)
{
	uint8_t b;
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, pos), 1);
	b ^= (uint8_t)(1u << bit);
	assert_int_equal(pwrite(fd, &b, 1, pos), 1);
	close(fd);
}

typedef struct problems {
	int n;
	char all[8192];   /* every line, concatenated */
} problems_t;

static void on_problem(void *arg, const char *path, int64_t pos, const char *what)
{
	problems_t *pr = arg;
	size_t l = strlen(pr->all);
	pr->n++;
	snprintf(pr->all + l, sizeof(pr->all) - l, "%s @%lld: %s\n", path, (long long)pos,
		 what);
}

/* --------------------------------------------------------------------------------- */

static void test_truncated_tail(void **state)
{
	fx_t *f = *state;
	char log[400];
	const mqb_recovery_report_t *rep;
	int64_t size, bsize;
	mqb_watermarks_t w;

	fx_open(f, 0);
	append_batches(f->p, 10);
	fx_close(f);
	path_of(f, log, sizeof(log), 0, ".log");
	size = file_size(log);
	bsize = size / 10;
	assert_int_equal(size % 10, 0);
	crash_marks(f, false);                     /* the checkpoint claims all 10 batches */
	assert_int_equal(truncate(log, size - 7), 0);
	fx_open(f, 0);
	rep = mqb_partition_recovery_report(f->p);
	assert_true(rep->truncated);
	assert_string_equal(rep->cut_path, log);
	assert_int_equal(rep->cut_position, 9 * bsize);
	assert_int_equal(rep->cut_bytes, bsize - 7);
	assert_int_equal(rep->first_lost_offset, 90);
	assert_non_null(strstr(rep->cut_reason, "past the end"));
	mqb_partition_watermarks(f->p, &w);
	assert_int_equal(w.stored, 90);
	assert_int_equal(check_all(f->p), 90);
	assert_int_equal(file_size(log), 9 * bsize);
	/* appends continue at the cut; a clean reopen has nothing to do */
	append_batches(f->p, 1);
	fx_close(f);
	fx_open(f, 0);
	assert_true(mqb_partition_recovery_report(f->p)->clean);
	assert_int_equal(check_all(f->p), 100);
	/* only a header fragment left */
	fx_close(f);
	crash_marks(f, true);
	assert_int_equal(truncate(log, 9 * bsize + 20), 0);
	fx_open(f, 0);
	rep = mqb_partition_recovery_report(f->p);
	assert_true(rep->truncated);
	assert_non_null(strstr(rep->cut_reason, "truncated batch header"));
	assert_int_equal(check_all(f->p), 90);
}

static void test_torn_last_batch(void **state)
{
	fx_t *f = *state;
	char log[400];
	uint8_t zeros[64] = { 0 };
	const mqb_recovery_report_t *rep;
	int64_t size, bsize;

	fx_open(f, 0);
	append_batches(f->p, 10);
	fx_close(f);
	path_of(f, log, sizeof(log), 0, ".log");
	size = file_size(log);
	bsize = size / 10;
	crash_marks(f, true);
	poke(log, size - 64, zeros, sizeof(zeros));   /* length intact, content lost */
	fx_open(f, 0);
	rep = mqb_partition_recovery_report(f->p);
	assert_true(rep->truncated);
	assert_false(rep->used_checkpoint);
	assert_int_equal(rep->cut_position, 9 * bsize);
	assert_int_equal(rep->first_lost_offset, 90);
	assert_non_null(strstr(rep->cut_reason, "CRC"));
	assert_int_equal(check_all(f->p), 90);
}

static void test_flipped_bit_middle_batch_multi_segment(void **state)
{
	fx_t *f = *state;
	char log[400], later[400];
	const mqb_recovery_report_t *rep;
	mqb_watermarks_t w;
	int64_t bsize;
	problems_t pr = { 0 };

	f->o.segment_bytes = 5 * BSIZE + 100;   /* 5 batches per segment */
	fx_open(f, 0);
	append_batches(f->p, 30);
	mqb_partition_watermarks(f->p, &w);
	assert_true(w.segments >= 5);
	fx_close(f);
	/* 5 batches per segment: segment 2 starts at offset 100 */
	bsize = BSIZE;
	{
		int64_t base2 = 100;
		path_of(f, log, sizeof(log), base2, ".log");
		path_of(f, later, sizeof(later), base2 + 50, ".log");
		assert_int_equal(file_size(log), 5 * BSIZE);
		assert_true(file_size(later) > 0);
		flip_bit(log, 2 * bsize + 200, 3);        /* third batch of segment 2 */
		/* verify sees it without changing anything */
		assert_true(mqb_store_verify_partition(f->pdir, on_problem, &pr, NULL) >= 1);
		assert_non_null(strstr(pr.all, "CRC"));
		crash_marks(f, true);
		fx_open(f, 0);
		rep = mqb_partition_recovery_report(f->p);
		assert_true(rep->truncated);
		assert_string_equal(rep->cut_path, log);
		assert_int_equal(rep->cut_position, 2 * bsize);
		assert_int_equal(rep->first_lost_offset, base2 + 20);
		assert_true(rep->segments_deleted >= 2);
		assert_int_equal(file_size(later), -1);   /* later segments deleted */
		mqb_partition_watermarks(f->p, &w);
		assert_int_equal(w.stored, base2 + 20);
		assert_int_equal(w.segments, 3);
		assert_int_equal(check_all(f->p), base2 + 20);
		/* the cut log verifies clean afterwards */
		fx_close(f);
		pr.n = 0;
		assert_int_equal(mqb_store_verify_partition(f->pdir, on_problem, &pr, NULL), 0);
	}
}

static void test_flip_in_header_fields(void **state)
{
	fx_t *f = *state;
	char log[400];
	int64_t bsize;
	/* magic, batch length, and base offset of the 5th batch */
	const int64_t fields[] = { 16, 8, 3 };
	const char *reasons[] = { "magic", "", "base offset" };

	for (int k = 0; k < 3; k++) {
		const mqb_recovery_report_t *rep;
		fx_open(f, 0);
		if (k == 0)
			append_batches(f->p, 10);
		fx_close(f);
		path_of(f, log, sizeof(log), 0, ".log");
		bsize = BSIZE;
		assert_int_equal(file_size(log) % bsize, 0);
		crash_marks(f, true);
		flip_bit(log, 4 * bsize + fields[k], k == 1 ? 6 : 0);
		fx_open(f, 0);
		rep = mqb_partition_recovery_report(f->p);
		assert_true(rep->truncated);
		assert_int_equal(rep->cut_position, 4 * bsize);
		assert_int_equal(rep->first_lost_offset, 40);
		assert_non_null(strstr(rep->cut_reason, reasons[k]));
		assert_int_equal(check_all(f->p), 40);
		append_batches(f->p, 6);           /* back to 10 batches for the next round */
		fx_close(f);
	}
}

/* Segments whose batches are larger than the index interval: a clean reopen trusts
 * their (rightly empty or sparse) indexes and rebuilds nothing; a lost index of such
 * a segment that must have entries is still caught. */
/* A clean reopen removes every partition's marker and writes nothing else: the
 * checkpoint from the clean stop stays (same inode and modification time: not
 * written again), with 3 partitions (a directory fsync each) and with 20 (one
 * syncfs for the stream). */
static void test_clean_reopen_of_many_partitions(void **state)
{
	fx_t *f = *state;
	static const int counts[] = { 3, 20 };

	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		int n = counts[c];
		ino_t ino[20];
		struct timespec mt[20];
		char path[400];
		struct stat sb;

		mqbt_rmrf(f->dir);
		assert_int_equal(mkdir(f->dir, 0700), 0);
		f->o.partitions = n;
		fx_open(f, 0);
		for (int i = 0; i < n; i++)
			append_batches(mqb_store_partition(f->st, "s", i), 1 + i % 3);
		fx_close(f);
		for (int i = 0; i < n; i++) {
			snprintf(path, sizeof(path), "%s/s-%d/recovery-point", f->dir, i);
			assert_int_equal(stat(path, &sb), 0);
			ino[i] = sb.st_ino;
			mt[i] = sb.st_mtim;
		}
		fx_open(f, 0);
		for (int i = 0; i < n; i++) {
			mqb_partition_t *p = mqb_store_partition(f->st, "s", i);
			assert_true(mqb_partition_recovery_report(p)->clean);
			assert_int_equal(check_all(p), 10 * (1 + i % 3));
			snprintf(path, sizeof(path), "%s/s-%d/.clean-shutdown", f->dir, i);
			assert_int_equal(access(path, F_OK), -1);
			snprintf(path, sizeof(path), "%s/s-%d/recovery-point", f->dir, i);
			assert_int_equal(stat(path, &sb), 0);
			assert_true(sb.st_ino == ino[i]);
			assert_true(sb.st_mtim.tv_sec == mt[i].tv_sec &&
				    sb.st_mtim.tv_nsec == mt[i].tv_nsec);
		}
		/* and the stream takes appends after it */
		append_batches(mqb_store_partition(f->st, "s", n - 1), 1);
		fx_close(f);
	}
}

/* A clean stop of many partitions (one file-system sync for all the checkpoints and
 * one for all the markers, mqb_partition__close_all) leaves every partition with its
 * marker and a log that verifies; the restart recovers nothing (clean, nothing
 * scanned, no index rebuilt) and reads every record back. A second stop with nothing
 * appended since writes no checkpoint again (same inode and mtime); an append after
 * that reopen survives the next stop. */
enum { MANY = 200 };

/* Open the MANY-partition store: every partition clean, nothing scanned or rebuilt,
 * its records back (partition 3 with `extra` more); the checkpoint files' mtimes
 * into mt, or compared with mt (all but partition 3 when extra). Closes it. */
static void many_reopen(fx_t *f, int extra, struct timespec *mt, bool compare)
{
	char path[400];
	struct stat sb;

	fx_open(f, 0);
	for (int i = 0; i < MANY; i++) {
		mqb_partition_t *p = mqb_store_partition(f->st, "s", i);
		const mqb_recovery_report_t *rep = mqb_partition_recovery_report(p);

		assert_true(rep->clean);
		assert_int_equal(rep->scanned_bytes, 0);
		assert_int_equal(rep->indexes_rebuilt, 0);
		assert_int_equal(check_all(p), (i % 3 ? 0 : 10 * (1 + i % 2)) +
				 (i == 3 ? extra : 0));
		snprintf(path, sizeof(path), "%s/s-%d/recovery-point", f->dir, i);
		assert_int_equal(stat(path, &sb), 0);
		if (!compare)
			mt[i] = sb.st_mtim;
		else if (i != 3 || !extra)
			assert_true(sb.st_mtim.tv_sec == mt[i].tv_sec &&
				    sb.st_mtim.tv_nsec == mt[i].tv_nsec);
	}
	fx_close(f);
}

static void test_clean_stop_of_many_partitions(void **state)
{
	fx_t *f = *state;
	static struct timespec mt[MANY];
	char path[400];

	f->o.partitions = MANY;
	fx_open(f, 0);
	for (int i = 0; i < MANY; i += 3)
		append_batches(mqb_store_partition(f->st, "s", i), 1 + i % 2);
	fx_close(f);
	for (int i = 0; i < MANY; i++) {
		snprintf(path, sizeof(path), "%s/s-%d/.clean-shutdown", f->dir, i);
		assert_int_equal(access(path, F_OK), 0);
		snprintf(path, sizeof(path), "%s/s-%d", f->dir, i);
		assert_int_equal(mqb_store_verify_partition(path, NULL, NULL, NULL), 0);
	}
	many_reopen(f, 0, mt, false);
	many_reopen(f, 0, mt, true);   /* that stop (nothing appended) wrote no checkpoint */
	fx_open(f, 0);
	append_batches(mqb_store_partition(f->st, "s", 3), 1);
	fx_close(f);
	many_reopen(f, 10, mt, true);
}

static void test_large_batches_clean_reopen(void **state)
{
	fx_t *f = *state;
	static char big[3000];
	mqb_record_t rec = { .timestamp_ms = 1000000, .key = "k", .key_len = 1,
			     .value = big, .value_len = sizeof(big) };
	char idx[400];

	memset(big, 'b', sizeof(big));
	f->o.segment_bytes = 3000;               /* one big batch per segment */
	fx_open(f, 0);
	for (int i = 0; i < 4; i++) {
		rec.timestamp_ms = 1000000 + i;
		assert_int_equal(mqb_partition_append(f->p, &rec, 1, NULL), MQB_OK);
	}
	fx_close(f);
	fx_open(f, 0);
	assert_true(mqb_partition_recovery_report(f->p)->clean);
	assert_int_equal(mqb_partition_recovery_report(f->p)->indexes_rebuilt, 0);
	assert_int_equal(mqb_partition_offset_for_time(f->p, 1000002), 2);
	fx_close(f);

	/* small batch then a large one in one segment: still no entry expected */
	mqbt_rmrf(f->dir);
	assert_int_equal(mkdir(f->dir, 0700), 0);
	f->o.segment_bytes = 1 << 20;
	fx_open(f, 0);
	append_batches(f->p, 1);
	assert_int_equal(mqb_partition_append(f->p, &rec, 1, NULL), MQB_OK);
	append_batches(f->p, 1);                 /* starts past the interval: indexed */
	fx_close(f);
	fx_open(f, 0);
	assert_int_equal(mqb_partition_recovery_report(f->p)->indexes_rebuilt, 0);
	fx_close(f);
	path_of(f, idx, sizeof(idx), 0, ".index");
	assert_int_equal(truncate(idx, 0), 0);   /* that entry lost */
	fx_open(f, 0);
	assert_int_equal(mqb_partition_recovery_report(f->p)->indexes_rebuilt, 1);
}

static void test_zeroed_and_missing_index(void **state)
{
	fx_t *f = *state;
	char idx[400], tidx[400];
	mqb_watermarks_t w;
	int64_t isize;
	uint8_t *zero;

	f->o.segment_bytes = 20 * BSIZE;
	fx_open(f, 0);
	append_batches(f->p, 50);
	fx_close(f);
	path_of(f, idx, sizeof(idx), 0, ".index");
	path_of(f, tidx, sizeof(tidx), 0, ".timeindex");
	isize = file_size(idx);
	assert_true(isize >= 16);
	zero = calloc(1, (size_t)isize);
	poke(idx, 0, zero, (size_t)isize);          /* zeroed, same size */
	free(zero);
	fx_open(f, 0);                              /* a clean stop: still not trusted */
	assert_true(mqb_partition_recovery_report(f->p)->clean);
	assert_int_equal(mqb_partition_recovery_report(f->p)->indexes_rebuilt, 1);
	assert_false(mqb_partition_recovery_report(f->p)->truncated);
	assert_int_equal(check_all(f->p), 500);
	assert_int_equal(mqb_partition_offset_for_time(f->p, 1000000 + 123), 123);
	{
		mqb_reader_t *r = mqb_reader_new(f->p, 0);
		const uint8_t *b;
		size_t len;
		assert_int_equal(mqb_reader_seek(r, 137), MQB_OK);
		assert_int_equal(mqb_reader_next_batch(r, &b, &len), MQB_OK);
		assert_int_equal(mqb_reader_position(r), 140);
		mqb_reader_destroy(r);
	}
	fx_close(f);
	assert_int_equal(file_size(idx), isize);    /* rewritten */
	assert_int_equal(mqb_store_verify_partition(f->pdir, NULL, NULL, NULL), 0);

	/* missing index files */
	assert_int_equal(unlink(idx), 0);
	assert_int_equal(unlink(tidx), 0);
	{
		problems_t pr = { 0 };
		assert_int_equal(mqb_store_verify_partition(f->pdir, on_problem, &pr, NULL), 2);
		assert_non_null(strstr(pr.all, "missing"));
	}
	fx_open(f, 0);
	assert_int_equal(mqb_partition_recovery_report(f->p)->indexes_rebuilt, 1);
	assert_int_equal(check_all(f->p), 500);
	mqb_partition_watermarks(f->p, &w);
	assert_int_equal(w.stored, 500);
	assert_int_equal(mqb_partition_offset_for_time(f->p, 1000000 + 77), 77);
	fx_close(f);
	assert_int_equal(mqb_store_verify_partition(f->pdir, NULL, NULL, NULL), 0);

	/* an index with a torn last entry and one with plausible but wrong entries */
	assert_int_equal(truncate(idx, isize - 3), 0);
	fx_open(f, 0);
	assert_int_equal(mqb_partition_recovery_report(f->p)->indexes_rebuilt, 1);
	assert_int_equal(check_all(f->p), 500);
	fx_close(f);
	{
		uint8_t e[8] = { 0, 0, 0, 9, 0, 0, 0, 100 };   /* offset 9 at byte 100 */
		poke(idx, 0, e, sizeof(e));
	}
	fx_open(f, 0);
	assert_int_equal(mqb_partition_recovery_report(f->p)->indexes_rebuilt, 1);
	assert_int_equal(check_all(f->p), 500);
}

static void test_garbage_and_wrongly_named_files(void **state)
{
	fx_t *f = *state;
	char path[400], seg1[400], wrong[400];
	const mqb_recovery_report_t *rep;
	problems_t pr = { 0 };
	mqb_watermarks_t w;

	f->o.segment_bytes = 5 * BSIZE;
	fx_open(f, 0);
	append_batches(f->p, 20);                   /* segments 0, 50, 100, 150 */
	fx_close(f);
	snprintf(path, sizeof(path), "%s/junk.txt", f->pdir);
	assert_int_equal(mqbt_write_file(path, "hello"), 0);
	snprintf(path, sizeof(path), "%s/123.log", f->pdir);
	assert_int_equal(mqbt_write_file(path, "not a segment"), 0);
	snprintf(path, sizeof(path), "%s/0000000000000000abcd.log", f->pdir);
	assert_int_equal(mqbt_write_file(path, "x"), 0);
	snprintf(path, sizeof(path), "%s/subdir", f->pdir);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(mqb_store_verify_partition(f->pdir, on_problem, &pr, NULL), 4);
	fx_open(f, 0);
	rep = mqb_partition_recovery_report(f->p);
	assert_int_equal(rep->files_ignored, 4);
	assert_false(rep->truncated);
	assert_int_equal(check_all(f->p), 200);
	fx_close(f);
	snprintf(path, sizeof(path), "%s/junk.txt", f->pdir);
	assert_true(file_size(path) == 5);          /* ignored, not deleted */

	/* a segment renamed to a wrong (well-formed) base: the log ends before it */
	path_of(f, seg1, sizeof(seg1), 100, ".log");
	path_of(f, wrong, sizeof(wrong), 105, ".log");
	assert_int_equal(rename(seg1, wrong), 0);
	crash_marks(f, true);
	fx_open(f, 0);
	rep = mqb_partition_recovery_report(f->p);
	assert_true(rep->truncated);
	assert_int_equal(rep->first_lost_offset, 100);
	assert_string_equal(rep->cut_path, wrong);
	assert_true(rep->segments_deleted >= 2);
	mqb_partition_watermarks(f->p, &w);
	assert_int_equal(w.stored, 100);
	assert_int_equal(check_all(f->p), 100);
	append_batches(f->p, 1);                    /* continues at 100 */
	assert_int_equal(check_all(f->p), 110);
}

static void test_garbage_segment_and_empty_files(void **state)
{
	fx_t *f = *state;
	char log[400];
	uint8_t junk[5000];
	const mqb_recovery_report_t *rep;

	/* a whole segment of random bytes, nothing else */
	mkdir(f->pdir, 0755);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 2654435761u >> 13);
	path_of(f, log, sizeof(log), 0, ".log");
	{
		int fd = open(log, O_CREAT | O_WRONLY, 0644);
		assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
		close(fd);
	}
	fx_open(f, 0);
	rep = mqb_partition_recovery_report(f->p);
	assert_true(rep->truncated);
	assert_int_equal(rep->cut_position, 0);
	assert_int_equal(rep->cut_bytes, 5000);
	assert_int_equal(check_all(f->p), 0);
	append_batches(f->p, 2);
	assert_int_equal(check_all(f->p), 20);
	fx_close(f);
	/* an empty index and time index beside a small segment are fine */
	assert_int_equal(mqb_store_verify_partition(f->pdir, NULL, NULL, NULL), 0);
}

static void test_rdonly_changes_nothing(void **state)
{
	fx_t *f = *state;
	char log[400], cmd[700], before[4096] = "", after[4096] = "";
	FILE *pf;
	mqb_store_t *ro;
	char err[256];
	mqb_watermarks_t w;

	f->o.segment_bytes = 5 * BSIZE;
	fx_open(f, 0);
	append_batches(f->p, 20);
	fx_close(f);
	crash_marks(f, true);
	path_of(f, log, sizeof(log), 50, ".log");
	flip_bit(log, 1300, 1);
	snprintf(cmd, sizeof(cmd), "cd %s && ls -la --time-style=+%%s . | md5sum && "
		 "cat * | md5sum", f->pdir);
	pf = popen(cmd, "r");
	assert_int_equal(fread(before, 1, sizeof(before) - 1, pf) > 0, 1);
	pclose(pf);
	ro = mqb_store_open(f->dir, MQB_STORE_RDONLY, err, sizeof(err));
	assert_non_null(ro);
	assert_int_equal(mqb_store_stream_open(ro, NULL, err, sizeof(err)), MQB_OK);
	f->p = mqb_store_partition(ro, "s", 0);
	assert_true(mqb_partition_recovery_report(f->p)->truncated);
	mqb_partition_watermarks(f->p, &w);
	assert_int_equal(w.stored, 60);              /* batch 1 of segment 50 is bad */
	assert_int_equal(check_all(f->p), 60);
	mqb_store_close(ro);
	pf = popen(cmd, "r");
	assert_int_equal(fread(after, 1, sizeof(after) - 1, pf) > 0, 1);
	pclose(pf);
	assert_string_equal(before, after);
}

/* A child process appends and exits without closing: a real unclean stop. */
static void crash_child(fx_t *f, int batches, bool wait_checkpoint, int extra_after)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		char err[256];
		mqb_store_t *st = mqb_store_open(f->dir, 0, err, sizeof(err));
		if (!st || mqb_store_stream_open(st, &f->o, err, sizeof(err)))
			_exit(2);
		mqb_partition_t *p = mqb_store_partition(st, "s", 0);
		append_batches(p, batches);
		if (wait_checkpoint) {
			/* fsync now; the flusher writes the checkpoint on its next tick */
			mqb_store_flush(st);
			usleep(300000);
		}
		append_batches(p, extra_after);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* A new stream of 20 partitions is made durable with one sync for the stream
 * (recovery.c recover_finish: no fsyncs of each partition's own). A process killed
 * right after creating it, before any append or clean stop, leaves partitions that
 * reopen empty and uncut with their checkpoint written, and take appends that become
 * durable. */
static void test_new_partitions_then_crash(void **state)
{
	fx_t *f = *state;
	enum { NEW = 20 };
	char path[400];

	f->o.partitions = NEW;
	crash_child(f, 0, false, 0);
	for (int i = 0; i < NEW; i++) {
		snprintf(path, sizeof(path), "%s/s-%d/%020d.log", f->dir, i, 0);
		assert_int_equal(access(path, F_OK), 0);
		snprintf(path, sizeof(path), "%s/s-%d/recovery-point", f->dir, i);
		assert_int_equal(access(path, F_OK), 0);
	}
	fx_open(f, 0);
	for (int i = 0; i < NEW; i++) {
		mqb_partition_t *p = mqb_store_partition(f->st, "s", i);
		const mqb_recovery_report_t *rep = mqb_partition_recovery_report(p);
		mqb_watermarks_t w;

		assert_false(rep->clean);
		assert_false(rep->truncated);
		assert_int_equal(rep->scanned_bytes, 0);
		assert_int_equal(rep->indexes_rebuilt, 0);
		assert_int_equal(check_all(p), 0);
		append_batches(p, 1 + i % 2);
		assert_int_equal(mqb_partition_flush(p), MQB_OK);
		mqb_partition_watermarks(p, &w);
		assert_int_equal(w.durable, 10 * (1 + i % 2));
	}
	fx_close(f);
	fx_open(f, 0);
	for (int i = 0; i < NEW; i++)
		assert_int_equal(check_all(mqb_store_partition(f->st, "s", i)), 10 * (1 + i % 2));
}

static void test_unclean_stop_with_checkpoint(void **state)
{
	fx_t *f = *state;
	const mqb_recovery_report_t *rep;
	mqb_watermarks_t w;

	f->o.segment_bytes = 50 * BSIZE;
	f->o.flush_interval_ms = -1;
	crash_child(f, 200, true, 3);
	fx_open(f, 0);
	rep = mqb_partition_recovery_report(f->p);
	assert_false(rep->clean);
	assert_true(rep->used_checkpoint);
	assert_false(rep->truncated);
	/* only the 3 batches after the checkpoint were scanned */
	assert_int_equal(rep->scanned_bytes, 3 * BSIZE);
	mqb_partition_watermarks(f->p, &w);
	assert_int_equal(w.stored, 2030);
	assert_int_equal(w.durable, 2030);
	assert_int_equal(check_all(f->p), 2030);
	assert_int_equal(mqb_partition_offset_for_time(f->p, 1000000 + 1555), 1555);
	fx_close(f);
	assert_int_equal(mqb_store_verify_partition(f->pdir, NULL, NULL, NULL), 0);

	/* no checkpoint at all: everything is scanned */
	fx_open(f, 0);
	fx_close(f);
	crash_marks(f, true);
	fx_open(f, 0);
	rep = mqb_partition_recovery_report(f->p);
	assert_false(rep->used_checkpoint);
	assert_int_equal(rep->scanned_bytes, 203 * BSIZE);
	assert_int_equal(check_all(f->p), 2030);
	fx_close(f);

	/* a corrupt checkpoint is ignored */
	{
		char ck[400];
		crash_marks(f, false);
		snprintf(ck, sizeof(ck), "%s/recovery-point", f->pdir);
		flip_bit(ck, 10, 0);
	}
	fx_open(f, 0);
	rep = mqb_partition_recovery_report(f->p);
	assert_false(rep->used_checkpoint);
	assert_int_equal(check_all(f->p), 2030);
}

static void test_unclean_stop_without_fsync(void **state)
{
	fx_t *f = *state;
	mqb_watermarks_t w;

	f->o.flush_interval_ms = -1;
	crash_child(f, 37, false, 0);
	fx_open(f, 0);
	assert_false(mqb_partition_recovery_report(f->p)->clean);
	mqb_partition_watermarks(f->p, &w);
	assert_int_equal(w.stored, 370);            /* the page cache survived the process */
	assert_int_equal(check_all(f->p), 370);
}

/* --- offset-index entries open does not check (it samples, recovery.c) ------------ */

static void entry_get(const char *idx, size_t i, uint32_t *rel, uint32_t *pos)
{
	uint8_t e[8];
	int fd = open(idx, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, e, 8, (off_t)(i * 8)), 8);
	close(fd);
	*rel = (uint32_t)e[0] << 24 | (uint32_t)e[1] << 16 | (uint32_t)e[2] << 8 | e[3];
	*pos = (uint32_t)e[4] << 24 | (uint32_t)e[5] << 16 | (uint32_t)e[6] << 8 | e[7];
}

static void entry_set_pos(const char *idx, size_t i, uint32_t pos)
{
	uint8_t b[4] = { (uint8_t)(pos >> 24), (uint8_t)(pos >> 16), (uint8_t)(pos >> 8),
			 (uint8_t)pos };
	poke(idx, (int64_t)(i * 8 + 4), b, 4);
}

/* Records [from, stored) read one by one from a reader started at from: each exactly
 * once, in order (values say their offset). */
static void check_from(mqb_partition_t *p, int64_t from)
{
	mqb_watermarks_t w;
	mqb_reader_t *r = mqb_reader_new(p, from);
	mqb_record_t rec;
	int64_t next = from;
	char want[16];
	int rc;

	mqb_partition_watermarks(p, &w);
	while ((rc = mqb_reader_next_record(r, &rec)) == MQB_OK) {
		assert_int_equal(rec.offset, next);
		snprintf(want, sizeof(want), "v%08lld", (long long)next);
		assert_memory_equal(rec.value, want, 9);
		next++;
	}
	assert_int_equal(rc, MQB_ERR_AGAIN);
	assert_int_equal(next, w.stored);
	mqb_reader_destroy(r);
}

static uint64_t index_rejected(mqb_partition_t *p)
{
	mqb_partition_counters_t c;
	mqb_partition_counters(p, &c);
	return c.index_rejected;
}

/* Segment 0 of 100 batches (then 30 more in segment 1000), an offset-index entry every
 * 3rd batch: 33 entries, more than open samples. The first entry open does not check
 * into *i, its batch number into *b (equal batch sizes). */
static void unsampled_setup(fx_t *f, char *idx, size_t idx_size, size_t *i, int64_t *b)
{
	uint32_t rel, pos;
	int64_t n;

	f->o.segment_bytes = 100 * BSIZE;
	f->o.index_interval_bytes = 3 * BSIZE;
	fx_open(f, 0);
	append_batches(f->p, 130);
	fx_close(f);
	path_of(f, idx, idx_size, 0, ".index");
	n = file_size(idx) / 8;
	assert_true(n > MQB_INDEX_SAMPLE);
	for (*i = 1; *i < (size_t)n && mqb_index_entry_sampled((size_t)n, *i); (*i)++)
		;
	assert_true(*i + 1 < (size_t)n);
	entry_get(idx, *i, &rel, &pos);
	assert_int_equal(pos % BSIZE, 0);
	*b = pos / BSIZE;
	assert_int_equal(rel, *b * 10 + 9);       /* names batch b */
}

/* Reopen after a reader emptied a rejected .index: it was rebuilt, all `total` records
 * read back, reads from `from` go through the new index and nothing is rejected; the
 * closed partition verifies. */
static void reopen_rebuilt(fx_t *f, int64_t total, int64_t from)
{
	fx_open(f, 0);
	assert_int_equal(mqb_partition_recovery_report(f->p)->indexes_rebuilt, 1);
	assert_int_equal(check_all(f->p), total);
	check_from(f->p, from);
	assert_int_equal(index_rejected(f->p), 0);
	fx_close(f);
	assert_int_equal(mqb_store_verify_partition(f->pdir, NULL, NULL, NULL), 0);
}

/* An unsampled entry rewritten to point at a later batch boundary (rel kept): open does
 * not see it; a reader that would be sent past the records it wants checks the header,
 * walks the segment from its start instead and returns every record once; one
 * warning, counted; the .index is emptied and the next open rebuilds it. */
static void test_unsampled_entry_to_later_batch(void **state)
{
	fx_t *f = *state;
	char idx[400];
	size_t i;
	int64_t b;

	unsampled_setup(f, idx, sizeof(idx), &i, &b);
	entry_set_pos(idx, i, (uint32_t)((b + 2) * BSIZE));   /* skips batch b + 1 */
	fx_open(f, 0);
	assert_true(mqb_partition_recovery_report(f->p)->clean);
	assert_int_equal(mqb_partition_recovery_report(f->p)->indexes_rebuilt, 0);
	assert_int_equal(index_rejected(f->p), 0);
	check_from(f->p, (b + 1) * 10 + 3);        /* looked up through entry i */
	assert_int_equal(index_rejected(f->p), 1);
	check_from(f->p, (b + 1) * 10);            /* index no longer used */
	check_from(f->p, 997);
	assert_int_equal(check_all(f->p), 1300);
	assert_int_equal(index_rejected(f->p), 1);
	fx_close(f);
	assert_int_equal(file_size(idx), 0);       /* emptied: rebuilt at the next open */
	reopen_rebuilt(f, 1300, (b + 1) * 10 + 3);
}

/* A wrong entry in the active segment: its .index is emptied while the writer still
 * holds it open; the entries appended after that land behind a hole of zeroed
 * entries, which the next open's order check rejects: rebuilt, everything back. */
static void test_unsampled_entry_in_active_segment(void **state)
{
	fx_t *f = *state;
	char idx[400];
	uint32_t rel, pos;
	size_t i, n;
	int64_t b;

	f->o.index_interval_bytes = 3 * BSIZE;
	fx_open(f, 0);
	append_batches(f->p, 100);                  /* one segment, 33 entries */
	fx_close(f);
	path_of(f, idx, sizeof(idx), 0, ".index");
	n = (size_t)file_size(idx) / 8;
	assert_true(n > MQB_INDEX_SAMPLE);
	for (i = 1; i < n && mqb_index_entry_sampled(n, i); i++)
		;
	entry_get(idx, i, &rel, &pos);
	b = pos / BSIZE;
	entry_set_pos(idx, i, (uint32_t)((b + 2) * BSIZE));
	fx_open(f, 0);
	assert_int_equal(mqb_partition_recovery_report(f->p)->indexes_rebuilt, 0);
	check_from(f->p, (b + 1) * 10 + 3);
	assert_int_equal(index_rejected(f->p), 1);
	assert_int_equal(file_size(idx), 0);
	append_batches(f->p, 60);                   /* the writer's entries after a hole */
	check_from(f->p, 1234);
	fx_close(f);
	assert_true(file_size(idx) > (int64_t)(n * 8));
	reopen_rebuilt(f, 1600, (b + 1) * 10 + 3);
}

/* The same with an earlier batch boundary (harmless to the walk, still wrong): found,
 * counted, every record back; a read-only store reports it but changes no file. */
static void test_unsampled_entry_to_earlier_batch(void **state)
{
	fx_t *f = *state;
	char idx[400], err[256];
	mqb_store_t *ro;
	size_t i;
	int64_t b, isize;

	unsampled_setup(f, idx, sizeof(idx), &i, &b);
	entry_set_pos(idx, i, (uint32_t)((b - 1) * BSIZE));
	isize = file_size(idx);
	ro = mqb_store_open(f->dir, MQB_STORE_RDONLY, err, sizeof(err));
	assert_non_null(ro);
	assert_int_equal(mqb_store_stream_open(ro, NULL, err, sizeof(err)), MQB_OK);
	f->p = mqb_store_partition(ro, "s", 0);
	assert_int_equal(mqb_partition_recovery_report(f->p)->indexes_rebuilt, 0);
	check_from(f->p, (b + 1) * 10 + 3);
	assert_int_equal(index_rejected(f->p), 1);
	mqb_store_close(ro);
	assert_int_equal(file_size(idx), isize);   /* read-only: untouched */

	fx_open(f, 0);
	assert_int_equal(mqb_partition_recovery_report(f->p)->indexes_rebuilt, 0);
	check_from(f->p, (b + 1) * 10 + 9);
	assert_int_equal(index_rejected(f->p), 1);
	fx_close(f);
	assert_int_equal(file_size(idx), 0);
}

/* Zero-copy ranges: extend() jumps to an index entry's batch only when its header names
 * the entry's offset; a wrong one is reported and the ranges still cover every offset
 * once, in order. */
static void test_unsampled_entry_ranges(void **state)
{
	fx_t *f = *state;
	char idx[400];
	mqb_watermarks_t w;
	mqb_range_t rg;
	mqb_reader_t *r;
	int64_t b, next = 0;
	size_t i;
	int rc, guard = 0;

	unsampled_setup(f, idx, sizeof(idx), &i, &b);
	entry_set_pos(idx, i, (uint32_t)((b + 2) * BSIZE));
	fx_open(f, 0);
	mqb_partition_watermarks(f->p, &w);
	r = mqb_reader_new(f->p, 0);
	/* the first range's limit falls in batch b + 2: extend() looks up entry i */
	while ((rc = mqb_reader_next_range(r, (b + 2) * BSIZE + 100, true, &rg)) == MQB_OK &&
	       guard++ < 1000) {
		assert_int_equal(rg.first_offset, next);
		assert_true(rg.next_offset > next);
		assert_int_equal(rg.len % BSIZE, 0);
		assert_int_equal(rg.len / BSIZE, (rg.next_offset - rg.first_offset) / 10);
		next = rg.next_offset;
		mqb_range_release(&rg);
	}
	assert_int_equal(rc, MQB_ERR_AGAIN);
	assert_int_equal(next, w.stored);
	assert_int_equal(index_rejected(f->p), 1);
	mqb_reader_destroy(r);
	{
		mqb_partition_counters_t c;
		mqb_partition_counters(f->p, &c);
		assert_int_equal(c.corrupt_batches, 0);   /* a wrong entry is not bad data */
	}
}

/* Gross corruption is still caught at open: every entry but the last (where the walk
 * starts) shifted one batch on, still increasing and inside the data, fails the
 * sampled checks and the index is rebuilt. */
static void test_shifted_index_rebuilt_at_open(void **state)
{
	fx_t *f = *state;
	char idx[400];
	uint32_t rel, pos;
	size_t i;
	int64_t b, n;

	unsampled_setup(f, idx, sizeof(idx), &i, &b);
	n = file_size(idx) / 8;
	for (int64_t k = 0; k + 1 < n; k++) {
		entry_get(idx, (size_t)k, &rel, &pos);
		entry_set_pos(idx, (size_t)k, pos + BSIZE);
	}
	fx_open(f, 0);
	assert_int_equal(mqb_partition_recovery_report(f->p)->indexes_rebuilt, 1);
	assert_int_equal(check_all(f->p), 1300);
	check_from(f->p, (b + 1) * 10 + 3);
	assert_int_equal(index_rejected(f->p), 0);
}

/* A time index whose offsets go backwards (timestamps still increasing) is rebuilt at
 * open: a timestamp lookup through it would start at the wrong batch. */
static void test_time_index_offsets_backwards_rebuilt(void **state)
{
	fx_t *f = *state;
	char idx[400], tidx[400];
	uint8_t a[4], b4[4];
	size_t i;
	int64_t b;
	int fd;

	unsampled_setup(f, idx, sizeof(idx), &i, &b);
	path_of(f, tidx, sizeof(tidx), 0, ".timeindex");
	assert_true(file_size(tidx) >= 3 * 12);
	fd = open(tidx, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, a, 4, 8), 4);        /* entry 0's offset */
	assert_int_equal(pread(fd, b4, 4, 20), 4);      /* entry 1's */
	close(fd);
	poke(tidx, 8, b4, 4);
	poke(tidx, 20, a, 4);
	fx_open(f, 0);
	assert_int_equal(mqb_partition_recovery_report(f->p)->indexes_rebuilt, 1);
	assert_int_equal(mqb_partition_offset_for_time(f->p, 1000000 + 47), 47);
	fx_close(f);
	assert_int_equal(mqb_store_verify_partition(f->pdir, NULL, NULL, NULL), 0);
}

/* read() calls of this process so far (/proc/self/io syscr: read, pread, readv). */
static int64_t read_calls(void)
{
	return mqbt_proc_field("/proc/self/io", "syscr");
}

/* A clean open reads a bounded number of batch headers per segment, not one per index
 * entry: 5-6 segments of ~400 one-record batches, an index entry for every batch but
 * each segment's first (~2,000 entries; checking each cost ~2,000 preads). */
static void test_clean_open_reads_a_sample(void **state)
{
	fx_t *f = *state;
	mqb_record_t rec = { .timestamp_ms = 1000000, .key = "k", .key_len = 1,
			     .value = "v", .value_len = 1 };
	int64_t before, reads;

	if (read_calls() < 0)
		skip();
	mqb_watermarks_t w;

	f->o.index_interval_bytes = 1;
	f->o.segment_bytes = 30000;               /* ~400 batches of ~75 bytes */
	fx_open(f, 0);
	for (int k = 0; k < 2000; k++) {
		rec.timestamp_ms = 1000000 + k;
		assert_int_equal(mqb_partition_append(f->p, &rec, 1, NULL), MQB_OK);
	}
	mqb_partition_watermarks(f->p, &w);
	assert_true(w.segments >= 5 && w.segments <= 6);
	fx_close(f);
	before = read_calls();
	fx_open(f, 0);
	reads = read_calls() - before;
	assert_true(mqb_partition_recovery_report(f->p)->clean);
	assert_int_equal(mqb_partition_recovery_report(f->p)->indexes_rebuilt, 0);
	/* per segment: 2 index loads, the sample, the first header, the last entry's
	 * batch in the walk; plus the store's own files */
	print_message("clean open of 5 segments x ~400 entries: %lld read calls\n",
		      (long long)reads);
	assert_true(reads <= 6 * (MQB_INDEX_SAMPLE + 6) + 20);
	assert_int_equal(mqb_partition_offset_for_time(f->p, 1000000 + 1234), 1234);
	{
		mqb_reader_t *r = mqb_reader_new(f->p, 1234);
		mqb_record_t got;
		assert_int_equal(mqb_reader_next_record(r, &got), MQB_OK);
		assert_int_equal(got.offset, 1234);
		mqb_reader_destroy(r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_truncated_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_last_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flipped_bit_middle_batch_multi_segment, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_flip_in_header_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zeroed_and_missing_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_batches_clean_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unsampled_entry_to_later_batch, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unsampled_entry_to_earlier_batch, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unsampled_entry_in_active_segment, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unsampled_entry_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shifted_index_rebuilt_at_open, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_time_index_offsets_backwards_rebuilt, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_clean_open_reads_a_sample, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_and_wrongly_named_files, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_garbage_segment_and_empty_files, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rdonly_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unclean_stop_with_checkpoint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_partitions_then_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unclean_stop_without_fsync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clean_stop_of_many_partitions, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_clean_reopen_of_many_partitions, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
