/*
 * test_store_syncfs.c — the flusher's grouped flush (bridge/store/group_flush.c): a
 * pass over MQB_SYNCFS_GROUP_MIN or more partitions with unsynced data makes them all
 * durable with one syncfs() (counted in mqb_store_stats), new segments included; a
 * failure falls back to each partition's own fsync, which finds the failed partition
 * (it refuses appends, the others are durable); few partitions keep their own fsyncs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <unistd.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "tests/support/store_fx.h"

#define SLACK_MS 2000   /* scheduling slack on a loaded 2-core machine */

static void append_one(mqb_partition_t *p)
{
	mqb_record_t r = { .timestamp_ms = mqb_now_ms(), .key_len = -1,
			   .value = "value-of-some-bytes", .value_len = 19 };
	assert_int_equal(mqb_partition_append(p, &r, 1, NULL), 0);
}

/* true when every partition but skip (-1: none) is durable up to its stored mark */
static bool all_durable(fx_t *f, int n, int skip, int64_t limit_ms)
{
	int64_t t0 = mqb_mono_ms();

	for (;;) {
		bool all = true;
		for (int i = 0; i < n && all; i++) {
			mqb_watermarks_t w;
			if (i == skip)
				continue;
			mqb_partition_watermarks(mqb_store_partition(f->st, "s", i), &w);
			all = w.durable == w.stored && w.stored > 0;
		}
		if (all)
			return true;
		if (mqb_mono_ms() - t0 > limit_ms)
			return false;
		usleep(2000);
	}
}

static uint64_t own_fsyncs(fx_t *f, int n);

/* The store's stats once the flusher has published its pass's counters: a grouped pass
 * adds them after the last watermark moved, so a reader that saw every partition
 * durable may be a moment ahead of them. Polls until syncfs >= min_syncfs, fallbacks
 * >= min_fallbacks and (syncfs'd + own) partition flushes >= min_flushes, or limit. */
static void stats_settled(fx_t *f, mqb_store_stats_t *s, uint64_t min_syncfs,
			  uint64_t min_fallbacks, uint64_t min_flushes, int n)
{
	int64_t t0 = mqb_mono_ms();

	do {
		mqb_store_stats(f->st, s);
		if (s->flusher_syncfs >= min_syncfs && s->flusher_syncfs_fallbacks >= min_fallbacks &&
		    s->flusher_syncfs_partitions + own_fsyncs(f, n) >= min_flushes)
			return;
		usleep(2000);
	} while (mqb_mono_ms() - t0 < SLACK_MS);
}

static uint64_t own_fsyncs(fx_t *f, int n)
{
	uint64_t sum = 0;
	for (int i = 0; i < n; i++) {
		mqb_partition_counters_t c;
		mqb_partition_counters(mqb_store_partition(f->st, "s", i), &c);
		sum += c.fsyncs;
	}
	return sum;
}

/* 32 dirty partitions, some of them rolled to a new segment: one syncfs, all durable */
static void test_grouped_pass(void **state)
{
	fx_t *f = *state;
	mqb_store_stats_t s;
	const int n = 32;

	f->o.partitions = n;
	f->o.flush_interval_ms = 200;
	f->o.segment_bytes = 150;   /* a few appends roll: new files and directory entries */
	fx_open(f, 0);
	for (int i = 0; i < n; i++)
		for (int k = 0; k < 1 + i % 4; k++)
			append_one(mqb_store_partition(f->st, "s", i));
	assert_true(all_durable(f, n, -1, 200 + SLACK_MS));
	stats_settled(f, &s, 1, 0, (uint64_t)n, n);
	print_message("syncfs %llu for %llu partition flushes; own fsyncs %llu\n",
		      (unsigned long long)s.flusher_syncfs,
		      (unsigned long long)s.flusher_syncfs_partitions,
		      (unsigned long long)own_fsyncs(f, n));
	assert_true(s.flusher_syncfs >= 1);
	assert_int_equal(s.flusher_syncfs_fallbacks, 0);
	/* every partition was made durable by a syncfs or (appended late) its own fsync */
	assert_true(s.flusher_syncfs_partitions + own_fsyncs(f, n) >= (uint64_t)n);
	assert_true(s.flusher_syncfs_partitions >= 8);
	for (int i = 0; i < n; i++) {
		mqb_watermarks_t w;
		mqb_partition_watermarks(mqb_store_partition(f->st, "s", i), &w);
		assert_int_equal(w.stored, 1 + i % 4);
		if (i % 4 == 3)
			assert_true(w.segments >= 2);   /* rolled: the new segment counts too */
	}
	/* and it stays usable: the next round is grouped again */
	for (int i = 0; i < n; i++)
		append_one(mqb_store_partition(f->st, "s", i));
	assert_true(all_durable(f, n, -1, 200 + SLACK_MS));
	mqb_store_close(f->st);
	f->st = NULL;
	/* reopened: every record is there (a clean stop, but nothing was lost on the way) */
	fx_open(f, 0);
	for (int i = 0; i < n; i++) {
		mqb_watermarks_t w;
		mqb_partition_watermarks(mqb_store_partition(f->st, "s", i), &w);
		assert_int_equal(w.stored, 2 + i % 4);
	}
}

/* An fsync error of one partition (test hook: a writeback error of its file, which
 * syncfs reports too): the pass falls back to own fsyncs, partition 5 fails as it
 * would alone, the other 15 are durable and go on. */
static void test_error_reaches_its_partition(void **state)
{
	fx_t *f = *state;
	mqb_store_stats_t s;
	mqb_watermarks_t w;
	mqb_partition_t *bad;
	mqb_record_t r = { .key_len = -1, .value = "x", .value_len = 1 };
	const int n = 16;

	f->o.partitions = n;
	f->o.flush_interval_ms = 200;
	fx_open(f, 0);
	bad = mqb_store_partition(f->st, "s", 5);
	mqb_store_test_fail_next_fsync(bad, EIO);
	for (int i = 0; i < n; i++)
		append_one(mqb_store_partition(f->st, "s", i));
	assert_true(all_durable(f, n, 5, 200 + SLACK_MS));
	stats_settled(f, &s, 0, 1, 0, n);
	print_message("syncfs %llu, fallbacks %llu\n", (unsigned long long)s.flusher_syncfs,
		      (unsigned long long)s.flusher_syncfs_fallbacks);
	assert_true(s.flusher_syncfs_fallbacks >= 1);
	mqb_partition_watermarks(bad, &w);
	assert_int_equal(w.stored, 1);
	assert_int_equal(w.durable, 0);
	r.timestamp_ms = mqb_now_ms();
	assert_int_equal(mqb_partition_append(bad, &r, 1, NULL), MQB_ERR_IO);
	for (int i = 0; i < n; i++)
		if (i != 5)
			append_one(mqb_store_partition(f->st, "s", i));
	assert_true(all_durable(f, n, 5, 200 + SLACK_MS));
}

/* Below MQB_SYNCFS_GROUP_MIN dirty partitions: each its own fsync, no syncfs. */
static void test_few_partitions_own_fsyncs(void **state)
{
	fx_t *f = *state;
	mqb_store_stats_t s;
	const int n = 4;

	f->o.partitions = n;
	f->o.flush_interval_ms = 50;
	fx_open(f, 0);
	for (int i = 0; i < n; i++)
		append_one(mqb_store_partition(f->st, "s", i));
	assert_true(all_durable(f, n, -1, 50 + SLACK_MS));
	mqb_store_stats(f->st, &s);
	assert_int_equal(s.flusher_syncfs, 0);
	assert_int_equal(own_fsyncs(f, n), (uint64_t)n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_grouped_pass, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_error_reaches_its_partition, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_few_partitions_own_fsyncs, fx_setup,
						fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
