/* test_store_fds.c — the store keeps few file descriptors however many segments it has:
 * only each partition's active segment keeps its files open; sealed segments are
 * opened by the readers on them. A partition of 3000 small segments is written,
 * reopened, recovered after an unclean stop (checkpoint and full scan) and read
 * read-only, each under an RLIMIT_NOFILE far below the segment count; every record is
 * read back from offset 0, time lookups land in the right segment, retention deletes
 * segments under readers without an fd leak, and running out of fds gives
 * MQB_ERR_NFILE with a message naming the limit, losing nothing. Real files in /tmp. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "bridge/err.h"
#include "bridge/store/batch.h"
#include "bridge/store/recovery.h"
#include "bridge/store/store.h"
#include "tests/support/harness.h"

#define NSEGS     3000
#define PER_SEG   4           /* batches per segment */
#define BATCH     5           /* records per batch */
#define VSIZE     40
#define TS0       1700000000000LL
#define SEALED_MAX 32         /* MQB_SEALED_DIRTY_MAX (bridge/store/store_int.h) */
#define FD_BUDGET (4 * SEALED_MAX + 32)  /* fds the store may add for one partition of
			       * any size: sealed segments not fsynced yet keep their fd
			       * (at most 4 * SEALED_MAX), the active segment, readers */
#define FD_AT_REST 16         /* ... once everything is fsynced */

typedef struct fx {
	char dir[256];
	mqb_store_t *st;
	mqb_partition_t *p;
	mqb_stream_opts_t o;
	struct rlimit saved;
} fx_t;

/* This process's fd count once it equals want, polling up to 10 s: the store's flusher
 * thread opens a temp file for a moment when it writes the recovery checkpoint, so a
 * single sample can see one fd more. Returns the last count (the caller asserts). */
static int count_fds_settled(int want)
{
	int n = mqbt_fd_count(0, NULL, NULL);
	for (int i = 0; i < 1000 && n != want; i++) {   /* 10 s: fsyncs crawl on a loaded box */
		mqbt_sleep_ms(10);
		n = mqbt_fd_count(0, NULL, NULL);
	}
	return n;
}

/* Soft RLIMIT_NOFILE set so that exactly `extra` more fds can be opened (the limit
 * caps fd numbers: count the free numbers below it). Restored by teardown. */
static void limit_fds(int extra)
{
	struct rlimit rl;
	int free_seen = 0, lim = -1;

	for (int i = 0; i < 1 << 20 && lim < 0; i++) {
		if (fcntl(i, F_GETFD) >= 0 || errno != EBADF)
			continue;
		if (free_seen++ == extra)
			lim = i;
	}
	assert_true(lim > 0);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = (rlim_t)lim;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

static void unlimit_fds(fx_t *f)
{
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &f->saved), 0);
}

static int append_batch(mqb_partition_t *p);
static void make_batch(mqb_record_t *recs, char (*vals)[VSIZE], int64_t first);

static int setup(void **state)
{
	fx_t *f = calloc(1, sizeof(*f));
	mqb_record_t recs[BATCH];
	char vals[BATCH][VSIZE];
	mqb_buf_t b = { 0 };

	if (!f || mqbt_tmpdir(f->dir, sizeof(f->dir)) || getrlimit(RLIMIT_NOFILE, &f->saved))
		return -1;
	mqb_stream_opts_defaults(&f->o);
	f->o.name = "s";
	/* exactly PER_SEG batches of BATCH records per segment (every batch encodes to
	 * the same size), an .index entry every batch */
	make_batch(recs, vals, 1000);
	if (mqb_batch_encode(&b, 1000, recs, BATCH))
		return -1;
	f->o.segment_bytes = (int64_t)(PER_SEG * b.len);
	f->o.segment_ms = -1;   /* the timestamps are old: no time roll */
	mqb_buf_free(&b);
	f->o.index_interval_bytes = 100;
	f->o.flush_interval_ms = 20;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx_t *f = *state;
	setrlimit(RLIMIT_NOFILE, &f->saved);
	mqb_store_close(f->st);
	mqbt_rmrf(f->dir);
	free(f);
	return 0;
}

static int fx_try_open(fx_t *f, int flags, char *err, size_t err_size)
{
	int rc;

	f->st = mqb_store_open(f->dir, flags, err, err_size);
	if (!f->st)
		return MQB_ERR_IO;
	rc = mqb_store_stream_open(f->st, (flags & MQB_STORE_RDONLY) ? NULL : &f->o, err,
				   err_size);
	if (rc)
		return rc;
	f->p = mqb_store_partition(f->st, "s", 0);
	return f->p ? MQB_OK : MQB_ERR_NOTFOUND;
}

static void fx_open(fx_t *f, int flags)
{
	char err[512] = "";
	if (fx_try_open(f, flags, err, sizeof(err)))
		fail_msg("open: %s", err);
}

static void fx_close(fx_t *f)
{
	mqb_store_close(f->st);
	f->st = NULL;
	f->p = NULL;
}

/* BATCH records from offset first: value "v<offset>" + padding, timestamp
 * TS0 + 10 * offset. */
static void make_batch(mqb_record_t *recs, char (*vals)[VSIZE], int64_t first)
{
	for (int i = 0; i < BATCH; i++) {
		int64_t off = first + i;
		memset(vals[i], 'x', VSIZE);
		snprintf(vals[i], VSIZE, "v%lld", (long long)off);
		recs[i] = (mqb_record_t){ .timestamp_ms = TS0 + 10 * off, .key = NULL,
					  .key_len = -1, .value = vals[i], .value_len = VSIZE };
	}
}

/* One batch at the log end. */
static int append_batch(mqb_partition_t *p)
{
	mqb_record_t recs[BATCH];
	char vals[BATCH][VSIZE];
	mqb_watermarks_t w;
	int64_t base = -1;
	int rc;

	mqb_partition_watermarks(p, &w);
	make_batch(recs, vals, w.stored);
	rc = mqb_partition_append(p, recs, BATCH, &base);
	if (rc == MQB_OK && base != w.stored)
		return MQB_ERR_STATE;
	return rc;
}

static int fill_segments(mqb_partition_t *p, int nsegs)
{
	for (int i = 0; i < nsegs * PER_SEG; i++) {
		int rc = append_batch(p);
		if (rc)
			return rc;
	}
	return MQB_OK;
}

/* Read every record from `from` to the stored watermark: contiguous offsets, the
 * values written. Returns the count. */
static int64_t read_all(mqb_partition_t *p, int64_t from)
{
	mqb_reader_t *r = mqb_reader_new(p, from);
	mqb_record_t rec;
	int64_t next = from;
	char want[32];
	int rc;

	assert_non_null(r);
	while ((rc = mqb_reader_next_record(r, &rec)) == MQB_OK) {
		int l = snprintf(want, sizeof(want), "v%lld", (long long)next);
		assert_int_equal(rec.offset, next);
		assert_int_equal(rec.timestamp_ms, TS0 + 10 * next);
		assert_int_equal(rec.value_len, VSIZE);
		assert_memory_equal(rec.value, want, (size_t)l + 1);
		next++;
	}
	assert_int_equal(rc, MQB_ERR_AGAIN);
	mqb_reader_destroy(r);
	return next - from;
}

static void check_full_partition(mqb_partition_t *p)
{
	mqb_watermarks_t w;

	mqb_partition_watermarks(p, &w);
	assert_int_equal(w.segments, NSEGS);
	assert_int_equal(w.log_start, 0);
	assert_int_equal(w.stored, (int64_t)NSEGS * PER_SEG * BATCH);
	assert_int_equal(read_all(p, 0), w.stored);
}

/* --- many segments, few fds ----------------------------------------------------- */

static void test_many_segments_few_fds(void **state)
{
	fx_t *f = *state;
	int fds0 = mqbt_fd_count(0, NULL, NULL), fds;
	mqb_watermarks_t w;

	/* the writer alone: creating 3000 segments never holds more than a few fds */
	limit_fds(FD_BUDGET);
	fx_open(f, 0);
	assert_int_equal(fill_segments(f->p, NSEGS), MQB_OK);
	assert_int_equal(mqb_partition_flush(f->p), MQB_OK);
	fds = mqbt_fd_count(0, NULL, NULL);
	mqb_partition_watermarks(f->p, &w);
	print_message("%d segments, %d fds held by the store (3 per segment before: %d)\n",
		      w.segments, fds - fds0, 3 * w.segments);
	assert_int_equal(w.segments, NSEGS);
	assert_true(fds - fds0 < FD_AT_REST);

	/* every record from offset 0, across every segment, with the fd limit still low */
	check_full_partition(f->p);
	/* the reader closed what it opened; the count may also drop by the fsync-pending
	 * segment the flusher (now deadline-driven) closed after `fds` was sampled */
	assert_true(count_fds_settled(fds) <= fds);

	/* clean reopen: indexes loaded, sealed segments' files closed again */
	fx_close(f);
	assert_int_equal(count_fds_settled(fds0), fds0);
	fx_open(f, 0);
	assert_true(mqbt_fd_count(0, NULL, NULL) - fds0 < FD_AT_REST);
	check_full_partition(f->p);
	/* and appends go on at the end */
	assert_int_equal(append_batch(f->p), MQB_OK);
	assert_int_equal(read_all(f->p, (int64_t)NSEGS * PER_SEG * BATCH - 3), 3 + BATCH);
	assert_int_equal(mqb_partition_flush(f->p), MQB_OK);
	assert_true(mqbt_fd_count(0, NULL, NULL) - fds0 < FD_AT_REST);
	fx_close(f);
	assert_int_equal(count_fds_settled(fds0), fds0);
}

/* With no fsync policy at all (flush -1/-1) nothing would ever release the fds of
 * sealed segments waiting for an fsync: rolls fsync them once SEALED_MAX pile up. */
static void test_no_fsync_policy_stays_bounded(void **state)
{
	fx_t *f = *state;
	int fds0 = mqbt_fd_count(0, NULL, NULL), fds;
	mqb_watermarks_t w;

	f->o.flush_interval_ms = -1;
	f->o.flush_messages = -1;
	limit_fds(FD_BUDGET);
	fx_open(f, 0);
	assert_int_equal(fill_segments(f->p, NSEGS), MQB_OK);
	fds = mqbt_fd_count(0, NULL, NULL);
	mqb_partition_watermarks(f->p, &w);
	print_message("no fsync policy: %d segments, %d fds held, durable %lld of %lld\n",
		      w.segments, fds - fds0, (long long)w.durable, (long long)w.stored);
	assert_int_equal(w.segments, NSEGS);
	assert_true(fds - fds0 <= 4 * SEALED_MAX + 5);   /* dirty list + an fsync under way */
	assert_true(w.durable > 0);     /* the rolls' fsyncs moved it */
	check_full_partition(f->p);
	fx_close(f);
	assert_int_equal(count_fds_settled(fds0), fds0);
}

/* --- time and offset lookups across segments ----------------------------------- */

static void test_lookups_across_segments(void **state)
{
	fx_t *f = *state;
	int64_t total = (int64_t)NSEGS * PER_SEG * BATCH;
	static const int64_t offs[] = { 0, 1, 4, 5, 19, 20, 21, 777, 12345, 29999, 59999 };
	mqb_reader_t *r;
	mqb_record_t rec;
	int fds0;

	limit_fds(FD_BUDGET);
	fx_open(f, 0);
	assert_int_equal(fill_segments(f->p, NSEGS), MQB_OK);
	assert_int_equal(mqb_partition_flush(f->p), MQB_OK);
	/* the flusher may still hold the segment whose fsync is pending, and close it
	 * later: what is checked below is that lookups and readers leave no fd behind */
	fds0 = mqbt_fd_count(0, NULL, NULL);
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		int64_t o = offs[i];
		/* exact timestamp, and one just above the previous record's */
		assert_int_equal(mqb_partition_offset_for_time(f->p, TS0 + 10 * o), o);
		assert_int_equal(mqb_partition_offset_for_time(f->p, TS0 + 10 * o - 9), o);
	}
	assert_int_equal(mqb_partition_offset_for_time(f->p, 0), 0);
	assert_int_equal(mqb_partition_offset_for_time(f->p, TS0 + 10 * total), total);
	assert_true(count_fds_settled(fds0) <= fds0);

	/* one reader seeking around every part of the log (fd: one at a time) */
	r = mqb_reader_new(f->p, 0);
	assert_non_null(r);
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		assert_int_equal(mqb_reader_seek(r, offs[i]), MQB_OK);
		assert_int_equal(mqb_reader_next_record(r, &rec), MQB_OK);
		assert_int_equal(rec.offset, offs[i]);
		assert_true(mqbt_fd_count(0, NULL, NULL) - fds0 <= 1);
	}
	mqb_reader_destroy(r);
	assert_true(count_fds_settled(fds0) <= fds0);
}

/* --- recovery after an unclean stop -------------------------------------------- */

/* A child writes NSEGS segments and exits without closing the store. */
static void write_and_die(fx_t *f)
{
	pid_t pid = fork();
	int status = 0;

	assert_true(pid >= 0);
	if (pid == 0) {
		char err[256];
		mqb_store_t *st = mqb_store_open(f->dir, 0, err, sizeof(err));
		mqb_partition_t *p;
		if (!st || mqb_store_stream_open(st, &f->o, err, sizeof(err)))
			_exit(2);
		p = mqb_store_partition(st, "s", 0);
		if (fill_segments(p, NSEGS) || mqb_store_flush(st))
			_exit(3);
		usleep(1100 * 1000);   /* let the flusher write a recovery checkpoint */
		append_batch(p);       /* not necessarily durable: recovery decides */
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_recover_unclean_few_fds(void **state)
{
	fx_t *f = *state;
	const mqb_recovery_report_t *rep;
	int fds0;
	mqb_watermarks_t w;
	char pdir[300];
	int64_t records = -1;

	write_and_die(f);
	fds0 = mqbt_fd_count(0, NULL, NULL);
	limit_fds(FD_BUDGET);

	/* from the checkpoint */
	fx_open(f, 0);
	rep = mqb_partition_recovery_report(f->p);
	assert_false(rep->clean);
	assert_true(rep->used_checkpoint);
	mqb_partition_watermarks(f->p, &w);
	print_message("recovered %d segments holding %d fds\n", w.segments,
		      mqbt_fd_count(0, NULL, NULL) - fds0);
	assert_true(w.segments > NSEGS);
	assert_true(mqbt_fd_count(0, NULL, NULL) - fds0 < FD_AT_REST);
	assert_true(w.stored >= (int64_t)NSEGS * PER_SEG * BATCH);
	assert_int_equal(read_all(f->p, 0), w.stored);
	fx_close(f);

	/* full scan: every segment validated and its indexes rebuilt */
	fx_open(f, MQB_STORE_FULL_SCAN);
	rep = mqb_partition_recovery_report(f->p);
	assert_true(rep->scanned_bytes > (int64_t)NSEGS * 512);
	assert_true(mqbt_fd_count(0, NULL, NULL) - fds0 < FD_AT_REST);
	assert_int_equal(read_all(f->p, 0), w.stored);
	fx_close(f);

	/* read-only (the CLI) */
	fx_open(f, MQB_STORE_RDONLY);
	assert_true(mqbt_fd_count(0, NULL, NULL) - fds0 < FD_AT_REST);
	assert_int_equal(read_all(f->p, 0), w.stored);
	fx_close(f);
	assert_int_equal(count_fds_settled(fds0), fds0);

	/* verify (mqbridge log verify) walks every segment, one file at a time */
	snprintf(pdir, sizeof(pdir), "%s/s-0", f->dir);
	assert_int_equal(mqb_store_verify_partition(pdir, NULL, NULL, &records), 0);
	assert_int_equal(records, w.stored);
	assert_int_equal(count_fds_settled(fds0), fds0);
}

/* --- retention under readers ----------------------------------------------------- */

static void test_retention_deletes_segment_under_reader(void **state)
{
	fx_t *f = *state;
	mqb_reader_t *r;
	mqb_record_t rec;
	mqb_watermarks_t w;
	int fds0 = mqbt_fd_count(0, NULL, NULL), fds;
	int64_t seg_recs = PER_SEG * BATCH;

	/* retention (applied at maintain) will keep only the last few segments */
	f->o.retention_bytes = 5 * f->o.segment_bytes;
	fx_open(f, 0);
	assert_int_equal(fill_segments(f->p, 50), MQB_OK);
	assert_int_equal(mqb_partition_flush(f->p), MQB_OK);
	fds = mqbt_fd_count(0, NULL, NULL);
	/* a reader in the middle of segment 10 (sealed: it opened the .log itself) */
	r = mqb_reader_new(f->p, 10 * seg_recs + 3);
	assert_non_null(r);
	assert_int_equal(mqb_reader_next_record(r, &rec), MQB_OK);
	assert_int_equal(rec.offset, 10 * seg_recs + 3);
	{
		/* one more (the reader's), or even: the flusher may close the segment it
		 * had pending when fds was sampled; that the reader holds its segment is
		 * checked below (the deleted-but-open fd) */
		int n = count_fds_settled(fds + 1);

		assert_true(n == fds + 1 || n == fds);
	}
	assert_int_equal(mqbt_deleted_fds(f->dir), 0);

	mqb_store_maintain(f->st);
	mqb_partition_watermarks(f->p, &w);
	assert_true(w.log_start > 11 * seg_recs);
	assert_true(w.segments <= 7);
	/* the reader still holds its (now unlinked) segment open: no vanishing file */
	assert_int_equal(mqbt_deleted_fds(f->dir), 1);
	/* the rest of the batch it holds, then: its position is below log start now */
	assert_int_equal(mqb_reader_next_record(r, &rec), MQB_OK);
	assert_int_equal(rec.offset, 10 * seg_recs + BATCH - 1);
	assert_int_equal(mqb_reader_next_record(r, &rec), MQB_ERR_RANGE);
	assert_int_equal(mqb_reader_seek(r, 10 * seg_recs), MQB_ERR_RANGE);
	assert_int_equal(mqb_reader_seek(r, w.log_start), MQB_OK);
	assert_int_equal(mqbt_deleted_fds(f->dir), 0);    /* closed when it moved on */
	assert_int_equal(mqb_reader_next_record(r, &rec), MQB_OK);
	assert_int_equal(rec.offset, w.log_start);
	mqb_reader_destroy(r);
	assert_int_equal(read_all(f->p, w.log_start), w.stored - w.log_start);
	/* no leak: the sample after the flush may include a segment the flusher closes
	 * later (the arm64 run under qemu saw 11 for 12), so the count must not grow */
	assert_true(count_fds_settled(fds) <= fds);
	fx_close(f);
	assert_int_equal(count_fds_settled(fds0), fds0);
}

typedef struct chase {
	mqb_partition_t *p;
	atomic_bool done;
	int64_t total;
	_Atomic int64_t read, jumps, errors;   /* summed over the chasers */
} chase_t;

/* Reads until the writer is done and everything is read; on MQB_ERR_RANGE jumps to
 * log start. Any other error, or a record out of order, counts as an error. */
static void *chaser(void *arg)
{
	chase_t *c = arg;
	mqb_reader_t *r = mqb_reader_new(c->p, 0);
	int64_t next = 0;
	mqb_record_t rec;

	for (int guard = 0; guard < 10000000 && r; guard++) {
		int rc = mqb_reader_next_record(r, &rec);
		if (rc == MQB_OK) {
			if (rec.offset < next)
				c->errors++;
			next = rec.offset + 1;
			c->read++;
		} else if (rc == MQB_ERR_RANGE) {
			mqb_watermarks_t w;
			mqb_partition_watermarks(c->p, &w);
			next = w.log_start;
			if (mqb_reader_seek(r, next) == MQB_OK)
				c->jumps++;
		} else if (rc == MQB_ERR_AGAIN) {
			if (atomic_load(&c->done) && next >= c->total)
				break;
			usleep(100);
		} else {
			c->errors++;
			break;
		}
	}
	mqb_reader_destroy(r);
	return NULL;
}

static void test_readers_race_retention_no_fd_leak(void **state)
{
	fx_t *f = *state;
	chase_t c = { .total = 2000 * BATCH };
	pthread_t th[3];
	int fds0 = mqbt_fd_count(0, NULL, NULL), fds_open, fds_max = 0;
	mqb_watermarks_t w;

	f->o.retention_bytes = 8 * 1024;
	fx_open(f, 0);
	fds_open = mqbt_fd_count(0, NULL, NULL);
	c.p = f->p;
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&th[i], NULL, chaser, &c), 0);
	for (int i = 0; i < 2000; i++) {
		assert_int_equal(append_batch(f->p), MQB_OK);
		if (i % 7 == 0)
			mqb_store_maintain(f->st);
		if (i % 50 == 0) {
			int n = mqbt_fd_count(0, NULL, NULL) - fds_open;
			fds_max = n > fds_max ? n : fds_max;
		}
	}
	atomic_store(&c.done, true);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	print_message("chasers: %lld records, %lld jumps to log start\n", (long long)c.read,
		      (long long)c.jumps);
	assert_int_equal(c.errors, 0);
	/* 1 per reader, 3 more while a roll replaces the active segment, and the
	 * sealed segments waiting for their fsync (2 * SEALED_MAX in the dirty list,
	 * as many in an fsync under way) */
	print_message("at most %d fds more than the idle store\n", fds_max);
	assert_true(fds_max <= 3 + 3 + 4 * SEALED_MAX);
	assert_int_equal(mqb_partition_flush(f->p), MQB_OK);
	mqb_partition_watermarks(f->p, &w);
	assert_true(w.log_start > 0);
	assert_true(w.segments < 20);
	assert_int_equal(count_fds_settled(fds_open), fds_open);      /* nothing leaked */
	assert_int_equal(mqbt_deleted_fds(f->dir), 0);
	fx_close(f);
	assert_int_equal(count_fds_settled(fds0), fds0);
}

/* --- running out of fds ------------------------------------------------------------ */

static void test_emfile_clear_error_nothing_lost(void **state)
{
	fx_t *f = *state;
	char err[512] = "";
	mqb_watermarks_t w0, w;
	mqb_reader_t *r;
	mqb_record_t rec;
	int rc;

	f->o.flush_interval_ms = -1;   /* no flusher checkpoints competing for fds */
	f->o.partitions = 2;
	fx_open(f, 0);
	/* 5 full segments, the last one active: the next append rolls (3 new fds) */
	for (int i = 0; i < 5 * PER_SEG; i++)
		assert_int_equal(append_batch(f->p), MQB_OK);
	mqb_partition_watermarks(f->p, &w0);
	assert_int_equal(w0.segments, 5);
	/* a reader in a sealed segment, not opened yet */
	r = mqb_reader_new(f->p, 7);
	assert_non_null(r);

	limit_fds(0);   /* no fd can be opened */
	rc = append_batch(f->p);
	assert_int_equal(rc, MQB_ERR_NFILE);
	assert_string_equal(mqb_strerror(rc), "too many open files");
	mqb_partition_watermarks(f->p, &w);
	assert_int_equal(w.stored, w0.stored);          /* nothing half-appended */
	assert_int_equal(w.segments, w0.segments);
	assert_int_equal(mqb_reader_next_record(r, &rec), MQB_ERR_NFILE);
	assert_int_equal(mqb_reader_position(r), 7);    /* the reader lost nothing */
	unlimit_fds(f);

	assert_int_equal(append_batch(f->p), MQB_OK);   /* the roll now works */
	assert_int_equal(mqb_reader_next_record(r, &rec), MQB_OK);
	assert_int_equal(rec.offset, 7);
	mqb_reader_destroy(r);
	mqb_partition_watermarks(f->p, &w);
	assert_int_equal(w.stored, w0.stored + BATCH);
	assert_int_equal(read_all(f->p, 0), w.stored);
	fx_close(f);

	/* opening the store at the limit (2 partitions need more than 4 fds): the error
	 * names the cause and the limit */
	limit_fds(4);
	rc = fx_try_open(f, 0, err, sizeof(err));
	unlimit_fds(f);
	print_message("open at the fd limit: %s\n", err);
	assert_int_not_equal(rc, MQB_OK);
	assert_non_null(strstr(err, "too many open files (limit "));
	assert_non_null(strstr(err, "LimitNOFILE"));
	fx_close(f);
	/* not even the lock file */
	err[0] = 0;
	limit_fds(0);
	rc = fx_try_open(f, 0, err, sizeof(err));
	unlimit_fds(f);
	print_message("open with no fd left: %s\n", err);
	assert_int_not_equal(rc, MQB_OK);
	assert_non_null(strstr(err, ".lock: too many open files (limit "));
	fx_close(f);
	/* nothing was lost: it opens and reads whole with the limit back */
	fx_open(f, 0);
	assert_int_equal(read_all(f->p, 0), w.stored);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_many_segments_few_fds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_fsync_policy_stays_bounded, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_lookups_across_segments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_unclean_few_fds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retention_deletes_segment_under_reader,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_readers_race_retention_no_fd_leak, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_emfile_clear_error_nothing_lost, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
