/*
 * test_store_crash.c — SIGKILL a process appending to the segment store, many times,
 * and check what recovery gives back.
 *
 * Each round forks a writer child that opens the store (recovering what the last
 * round left), appends batches of deterministic records (content is a function of
 * the offset) to 12 partitions, and reports over a pipe every durable watermark the
 * store gave it. The fsync policy rotates: 0/0 (fsync before append returns), an
 * interval policy (group commit every 3 ms) and a message-count policy (every 300
 * records, no interval), with 1 MiB segments so kills also land
 * around rolls too. The parent kills it with SIGKILL at a random moment, then reopens
 * the store (running recovery) and checks for every partition: log start is 0, every
 * batch is valid (header parse with CRC), offsets are contiguous from 0, every record
 * has exactly the content written for its offset, and nothing reported durable is
 * missing.
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
#include <sys/wait.h>
#include <unistd.h>

#include "bridge/err.h"
#include "bridge/logging.h"
#include "bridge/store/batch.h"
#include "bridge/store/recovery.h"
#include "bridge/store/store.h"
#include "tests/support/harness.h"

#define STREAM      "crash"
#define PARTITIONS  12   /* >= 8: the flusher's grouped syncfs runs (group_flush.c) */
#define ROUNDS      27
#define TS_BASE     INT64_C(1700000000000)
/* ~4,500 records a segment: several rolls a round. Not smaller: the store keeps three
 * fds open per segment, and a fast run appends millions of records. */
#define SEGMENT_BYTES (1 << 20)
#define ROUND_CAP   100000      /* records a writer appends per round at most */

static int g_cuts;             /* recoveries that cut a torn tail */

struct report {
	int32_t partition;
	int64_t durable;
	uint64_t syncfs;             /* the store's grouped syncfs count so far */
};

/* --- the records: everything derives from (partition, offset) ------------------------ */

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64_C(0xc4ceb9fe1a85ec53);
	x ^= x >> 33;
	return x;
}

struct expect {
	char key[32];
	ssize_t key_len;             /* -1: null key (every 7th) */
	uint8_t value[400];
	ssize_t value_len;
	char hval[32];
	size_t hval_len;
	int64_t ts;
};

static void expected(int32_t part, int64_t off, struct expect *e)
{
	uint64_t h = mix((uint64_t)off * 31 + (uint64_t)part);
	size_t i;

	e->key_len = off % 7 == 0 ? -1
				  : snprintf(e->key, sizeof(e->key), "dev%" PRId64, off % 50);
	e->value_len = (ssize_t)(1 + h % 300);
	for (i = 0; i < (size_t)e->value_len; i++)
		e->value[i] = (uint8_t)mix(h + i);
	e->hval_len = (size_t)snprintf(e->hval, sizeof(e->hval), "%d/%" PRId64, part, off);
	e->ts = TS_BASE + off;
}

/* --- the child ------------------------------------------------------------------------ */

static void child_run(const char *dir, int policy, int wfd)
{
	char err[512] = "";
	mqb_stream_opts_t o;
	mqb_store_t *st;
	mqb_partition_t *parts[PARTITIONS];
	int64_t reported[PARTITIONS];
	struct expect ex[64];
	mqb_record_t recs[64];
	mqb_rec_header_t hdrs[64];
	uint64_t seed = (uint64_t)getpid();
	int p;

	mqb_log_set_level(MQB_LOG_ERROR);
	st = mqb_store_open(dir, 0, err, sizeof(err));
	if (!st) {
		fprintf(stderr, "child: open: %s\n", err);
		_exit(3);
	}
	mqb_stream_opts_defaults(&o);
	o.name = STREAM;
	o.partitions = PARTITIONS;
	o.segment_bytes = SEGMENT_BYTES;
	switch (policy) {
	case 0:  o.flush_interval_ms = 0;  o.flush_messages = 0;   break;  /* each append */
	case 1:  o.flush_interval_ms = 3;  o.flush_messages = 0;   break;  /* interval */
	default: o.flush_interval_ms = -1; o.flush_messages = 300; break;  /* count */
	}
	if (mqb_store_stream_open(st, &o, err, sizeof(err)) != MQB_OK) {
		fprintf(stderr, "child: stream open: %s\n", err);
		_exit(4);
	}
	for (p = 0; p < PARTITIONS; p++) {
		parts[p] = mqb_store_partition(st, STREAM, p);
		if (!parts[p])
			_exit(5);
		reported[p] = -1;
	}
	for (int64_t appended = 0;; ) {
		mqb_watermarks_t wm;
		int64_t base;
		size_t n, i;
		int rc;

		if (appended >= ROUND_CAP) {
			usleep(1000);                  /* enough for this round: wait for the kill */
			continue;
		}
		seed = mix(seed);
		p = (int)(seed % PARTITIONS);
		n = 1 + (seed >> 8) % 64;
		mqb_partition_watermarks(parts[p], &wm);
		for (i = 0; i < n; i++) {
			expected(p, wm.stored + (int64_t)i, &ex[i]);
			hdrs[i].key = "h";
			hdrs[i].key_len = 1;
			hdrs[i].value = ex[i].hval;
			hdrs[i].value_len = (ssize_t)ex[i].hval_len;
			recs[i] = (mqb_record_t){
				.timestamp_ms = ex[i].ts,
				.key = ex[i].key_len < 0 ? NULL : ex[i].key, .key_len = ex[i].key_len,
				.value = ex[i].value, .value_len = ex[i].value_len,
				.headers = &hdrs[i], .header_count = 1,
			};
		}
		rc = mqb_partition_append(parts[p], recs, n, &base);
		if (rc != MQB_OK) {
			fprintf(stderr, "child: append to partition %d at %" PRId64 ": %s\n", p,
				wm.stored, mqb_strerror(rc));
			_exit(6);
		}
		if (base != wm.stored)
			_exit(7);                      /* one writer: offsets are ours */
		appended += (int64_t)n;
		if (policy == 0) {
			/* 0/0: durable before append returns. */
			mqb_partition_watermarks(parts[p], &wm);
			if (wm.durable < base + (int64_t)n)
				_exit(10);
		}
		for (p = 0; p < PARTITIONS; p++) {
			struct report r;
			mqb_partition_watermarks(parts[p], &wm);
			if (wm.durable <= reported[p])
				continue;
			mqb_store_stats_t ss;
			mqb_store_stats(st, &ss);
			r.partition = p;
			r.durable = wm.durable;
			r.syncfs = ss.flusher_syncfs;
			reported[p] = wm.durable;
			if (write(wfd, &r, sizeof(r)) != sizeof(r))
				_exit(8);
		}
	}
}

/* --- the checks ------------------------------------------------------------------------ */

static void check_record(int32_t part, const mqb_record_t *rec)
{
	struct expect e;

	expected(part, rec->offset, &e);
	assert_int_equal(rec->timestamp_ms, e.ts);
	assert_int_equal(rec->key_len, e.key_len);
	if (e.key_len > 0)
		assert_memory_equal(rec->key, e.key, (size_t)e.key_len);
	assert_int_equal(rec->value_len, e.value_len);
	assert_memory_equal(rec->value, e.value, (size_t)e.value_len);
	assert_int_equal(rec->header_count, 1);
	assert_int_equal(rec->headers[0].key_len, 1);
	assert_memory_equal(rec->headers[0].key, "h", 1);
	assert_int_equal(rec->headers[0].value_len, (ssize_t)e.hval_len);
	assert_memory_equal(rec->headers[0].value, e.hval, e.hval_len);
}

/* Reopen (recover) and check every partition; returns the records found. */
static int64_t check_store(const char *dir, const int64_t durable[PARTITIONS], bool unclean)
{
	char err[512] = "";
	mqb_stream_opts_t o;
	mqb_store_t *st;
	int64_t total = 0;
	int p;

	st = mqb_store_open(dir, 0, err, sizeof(err));
	if (!st)
		fail_msg("reopen: %s", err);
	mqb_stream_opts_defaults(&o);
	o.name = STREAM;
	o.partitions = PARTITIONS;
	o.segment_bytes = SEGMENT_BYTES;
	if (mqb_store_stream_open(st, &o, err, sizeof(err)) != MQB_OK)
		fail_msg("recovery: %s", err);
	for (p = 0; p < PARTITIONS; p++) {
		mqb_partition_t *part = mqb_store_partition(st, STREAM, p);
		const mqb_recovery_report_t *rep;
		mqb_watermarks_t wm;
		mqb_reader_t *r;
		const uint8_t *batch;
		size_t len;
		int64_t next = 0;
		int rc;

		assert_non_null(part);
		/* A writer killed after it opened the store left no clean-shutdown marker:
		 * this open really recovered. */
		rep = mqb_partition_recovery_report(part);
		if (unclean)
			assert_false(rep->clean);
		if (rep->truncated)
			g_cuts++;
		mqb_partition_watermarks(part, &wm);
		assert_int_equal(wm.log_start, 0);
		if (wm.stored < durable[p])
			fail_msg("partition %d: stored %" PRId64 " < durable reported %" PRId64,
				 p, wm.stored, durable[p]);
		r = mqb_reader_new(part, 0);
		assert_non_null(r);
		while ((rc = mqb_reader_next_batch(r, &batch, &len)) == MQB_OK) {
			mqb_batch_iter_t it = { 0 };
			mqb_batch_hdr_t h;
			mqb_record_t rec;
			char why[128] = "";
			int k;

			if (mqb_batch_header_parse(batch, len, &h, why, sizeof(why)) != MQB_OK)
				fail_msg("partition %d: invalid batch at offset %" PRId64 ": %s",
					 p, next, why);
			assert_int_equal(mqb_batch_total_size(&h), len);
			assert_int_equal(h.base_offset, next);          /* contiguous */
			assert_int_equal(mqb_batch_iter_init(&it, batch, len), MQB_OK);
			while ((k = mqb_batch_iter_next(&it, &rec)) == 1) {
				assert_int_equal(rec.offset, next);
				check_record(p, &rec);
				next++;
			}
			assert_int_equal(k, 0);
			mqb_batch_iter_destroy(&it);
			assert_int_equal(next, mqb_batch_last_offset(&h) + 1);
		}
		assert_int_equal(rc, MQB_ERR_AGAIN);
		assert_int_equal(next, wm.stored);                     /* read it all */
		mqb_reader_destroy(r);
		total += next;
	}
	mqb_store_close(st);
	return total;
}

static char g_dir[256];

static int setup(void **state)
{
	(void)state;
	return mqbt_tmpdir(g_dir, sizeof(g_dir));
}

static int teardown(void **state)
{
	(void)state;
	mqbt_rmrf(g_dir);                      /* also after a failed check */
	return 0;
}

static void test_sigkill_rounds(void **state)
{
	const char *dir = g_dir;
	int64_t durable[PARTITIONS] = { 0 };
	int64_t total = 0, sum = 0, t0 = mqbt_now_ms();
	int p;
	unsigned seed = (unsigned)getpid() ^ (unsigned)t0;
	int round, killed_busy = 0, rounds_progressed = 0;
	uint64_t syncfs_total = 0;   /* grouped syncfs passes the writers reported */

	(void)state;
	print_message("crash test: dir %s, seed %u\n", dir, seed);
	srand(seed);
	mqb_log_set_level(MQB_LOG_ERROR);
	for (round = 0; round < ROUNDS; round++) {
		int policy = round % 3, fds[2], st;
		int64_t deadline, got[PARTITIONS];
		uint64_t syncfs_round = 0;
		struct report r;
		bool progressed = false;
		pid_t pid;

		assert_int_equal(pipe(fds), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			child_run(dir, policy, fds[1]);
			_exit(9);
		}
		close(fds[1]);
		for (p = 0; p < PARTITIONS; p++)
			got[p] = durable[p];
		/* Kill at a random point after the writer is busy: wait (bounded) for its
		 * first report, however long recovery takes on a loaded machine, then a
		 * random 20..420 ms more. */
		deadline = mqbt_now_ms() + 10000;
		fcntl(fds[0], F_SETFL, O_NONBLOCK);
		bool timed = false;
		while (mqbt_now_ms() < deadline) {
			ssize_t n;
			while ((n = read(fds[0], &r, sizeof(r))) == sizeof(r)) {
				progressed = true;
				if (r.durable > got[r.partition])
					got[r.partition] = r.durable;
				if (r.syncfs > syncfs_round)
					syncfs_round = r.syncfs;
			}
			if (n == 0)
				break;                         /* the child died on its own */
			if (progressed && !timed) {
				deadline = mqbt_now_ms() + 20 + rand() % 400;
				timed = true;
			}
			mqbt_sleep_ms(2);
		}
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		if (!WIFSIGNALED(st))
			fail_msg("round %d: writer exited by itself (status %d; 10: not durable "
				 "when a 0/0 append returned)", round,
				 WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		killed_busy++;
		fcntl(fds[0], F_SETFL, 0);
		while (read(fds[0], &r, sizeof(r)) == sizeof(r)) {
			progressed = true;
			if (r.durable > got[r.partition])
				got[r.partition] = r.durable;
			if (r.syncfs > syncfs_round)
				syncfs_round = r.syncfs;
		}
		close(fds[0]);
		for (p = 0; p < PARTITIONS; p++)
			durable[p] = got[p];

		total = check_store(dir, durable, progressed);
		rounds_progressed += progressed;
		syncfs_total += syncfs_round;
		for (p = 0, sum = 0; p < PARTITIONS; p++)
			sum += durable[p];
		assert_true(total >= sum);
	}
	print_message("crash test: %d SIGKILLs (%d after the writer appended), %" PRId64
		      " records recovered (durable reported: %" PRId64 " over %d partitions), %"
		      PRIu64 " grouped syncfs passes seen by the writers, %d recoveries cut a "
		      "tail, %" PRId64 " ms\n", killed_busy, rounds_progressed, total, sum,
		      PARTITIONS, syncfs_total, g_cuts, mqbt_now_ms() - t0);
	for (p = 0; p < PARTITIONS; p++)
		assert_true(durable[p] > 0);
	assert_true(syncfs_total > 0);   /* the grouped path was under the kills too */

	/* The operator's check agrees: the recovered (and cleanly closed) store verifies. */
	{
		const char *argv[] = { mqbt_bin("mqbridge"), "log", "verify", dir, NULL };
		char *out = NULL;
		int rc = mqbt_run(argv, &out, NULL, 60000);
		if (rc != 0)
			fail_msg("mqbridge log verify: exit %d\n%s", rc, out ? out : "");
		char want[32];
		snprintf(want, sizeof want, "%d partitions", PARTITIONS);
		assert_non_null(strstr(out, want));
		free(out);
	}
	assert_true(rounds_progressed >= 20);             /* kills that hit a busy writer */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sigkill_rounds, setup, teardown),
	};
	return cmocka_run_group_tests_name("store_crash", tests, NULL, NULL);
}
