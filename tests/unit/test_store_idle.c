/*
 * test_store_idle.c — the store's flusher is deadline-driven: idle, it does not wake
 * (mqb_store_stats().flusher_wakeups stays flat), and an append after a long idle is
 * still fsynced within flush.interval_ms (or at flush.messages records), and its
 * recovery checkpoint still follows within a second. Under load it is woken only by
 * a deadline earlier than the one it sleeps towards, not by every first append to a
 * clean partition (which, at 1024 partitions, kept it in back-to-back passes), and
 * checkpoints come at most MQB_CKPT_PER_S a second on average across the store.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bridge/clock.h"
#include "tests/support/store_fx.h"

#define NPART 8
/* scheduling slack on a loaded 2-core CI machine, on top of the policy's bound */
#define SLACK_MS 250

static void append_one(mqb_partition_t *p)
{
	mqb_record_t r = { .timestamp_ms = mqb_now_ms(), .key_len = -1,
			   .value = "v", .value_len = 1 };
	assert_int_equal(mqb_partition_append(p, &r, 1, NULL), 0);
}

/* ms until p's durable watermark reaches its stored one (polling each ms), or -1
 * after limit_ms. */
static int64_t ms_until_durable(mqb_partition_t *p, int64_t limit_ms)
{
	int64_t t0 = mqb_mono_ms();
	mqb_watermarks_t w;

	for (;;) {
		int64_t el = mqb_mono_ms() - t0;
		mqb_partition_watermarks(p, &w);
		if (w.durable == w.stored)
			return el;
		if (el > limit_ms)
			return -1;
		usleep(1000);
	}
}

static uint64_t wakeups(mqb_store_t *st)
{
	mqb_store_stats_t s;
	mqb_store_stats(st, &s);
	return s.flusher_wakeups;
}

/* flusher wakeups during ms of idling */
static uint64_t wakeups_over(mqb_store_t *st, int ms)
{
	uint64_t w0 = wakeups(st);
	usleep((useconds_t)ms * 1000);
	return wakeups(st) - w0;
}

/* The offset in p's recovery-point file (docs/FORMAT.md: magic, then be64 offset). */
static int64_t ckpt_offset(const char *pdir)
{
	char path[400];
	uint8_t b[16];
	int64_t v = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/recovery-point", pdir);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	if (pread(fd, b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
		close(fd);
		return -1;
	}
	close(fd);
	for (int i = 8; i < 16; i++)
		v = (v << 8) | b[i];
	return v;
}

static int64_t ms_until_ckpt(const char *pdir, int64_t want, int64_t limit_ms)
{
	int64_t t0 = mqb_mono_ms();

	while (ckpt_offset(pdir) != want) {
		if (mqb_mono_ms() - t0 > limit_ms)
			return -1;
		usleep(5000);
	}
	return mqb_mono_ms() - t0;
}

static void open_many(fx_t *f)
{
	f->o.partitions = NPART;
	fx_open(f, 0);
}

/* Idle with nothing pending: (almost) no wakeups; the old 5 ms tick made ~200/s. */
static void test_idle_no_spin(void **state)
{
	fx_t *f = *state;

	open_many(f);
	append_one(f->p);
	assert_true(ms_until_durable(f->p, f->o.flush_interval_ms + SLACK_MS) >= 0);
	assert_true(ms_until_ckpt(f->pdir, 1, 1000 + SLACK_MS) >= 0);
	usleep(100 * 1000);
	uint64_t w = wakeups_over(f->st, 1000);
	print_message("idle flusher wakeups over 1 s: %llu\n", (unsigned long long)w);
	assert_true(w <= 3);
}

/* After a long idle, an append is fsynced within flush.interval_ms, then checkpointed
 * within a second, with a handful of wakeups (append, deadline, checkpoint). */
static void test_append_after_idle_is_flushed(void **state)
{
	fx_t *f = *state;
	mqb_watermarks_t w;
	int64_t el;

	f->o.flush_interval_ms = 100;
	open_many(f);
	assert_true(wakeups_over(f->st, 1200) <= 3);
	uint64_t w0 = wakeups(f->st);
	mqb_partition_t *p3 = mqb_store_partition(f->st, "s", 3);
	append_one(p3);
	append_one(p3);
	mqb_partition_watermarks(p3, &w);
	assert_int_equal(w.stored, 2);
	el = ms_until_durable(p3, 100 + SLACK_MS);
	print_message("durable after %lld ms (flush.interval_ms 100)\n", (long long)el);
	assert_true(el >= 0);
	char pdir[400];
	snprintf(pdir, sizeof(pdir), "%s/s-3", f->dir);
	assert_true(ms_until_ckpt(pdir, 2, 1000 + SLACK_MS) >= 0);
	usleep(100 * 1000);
	assert_true(wakeups(f->st) - w0 <= 8);
	assert_true(wakeups_over(f->st, 1000) <= 3);
}

/* flush.messages alone (no interval): the append that reaches the count wakes it. */
static void test_flush_messages_wakes(void **state)
{
	fx_t *f = *state;
	mqb_watermarks_t w;

	f->o.flush_interval_ms = -1;
	f->o.flush_messages = 3;
	open_many(f);
	usleep(300 * 1000);
	append_one(f->p);
	append_one(f->p);
	usleep(300 * 1000);
	mqb_partition_watermarks(f->p, &w);
	assert_int_equal(w.durable, 0);           /* below the count: not due */
	append_one(f->p);
	assert_true(ms_until_durable(f->p, SLACK_MS) >= 0);
}

/* fsyncs outside the flusher (flush 0/0 appends, mqb_store_flush) still get their
 * checkpoint: the first pending one wakes the flusher. */
static void test_outside_fsync_checkpointed(void **state)
{
	fx_t *f = *state;
	mqb_watermarks_t w;

	f->o.flush_interval_ms = 0;
	f->o.flush_messages = 0;
	open_many(f);
	usleep(1200 * 1000);
	append_one(f->p);
	mqb_partition_watermarks(f->p, &w);
	assert_int_equal(w.durable, 1);           /* fsynced inside the append */
	assert_true(ms_until_ckpt(f->pdir, 1, 1000 + SLACK_MS) >= 0);
	usleep(100 * 1000);
	assert_true(wakeups_over(f->st, 1000) <= 3);
}

/* No policy (-1/-1): nothing ever due, nothing wakes; mqb_store_flush still works. */
static void test_no_policy_sleeps(void **state)
{
	fx_t *f = *state;

	f->o.flush_interval_ms = -1;
	f->o.flush_messages = -1;
	open_many(f);
	append_one(f->p);
	assert_true(wakeups_over(f->st, 1000) <= 3);
	assert_int_equal(mqb_store_flush(f->st), 0);
	assert_true(ms_until_durable(f->p, 0) >= 0);
	assert_true(ms_until_ckpt(f->pdir, 1, 1000 + SLACK_MS) >= 0);
}

static uint64_t passes(mqb_store_t *st)
{
	mqb_store_stats_t s;
	mqb_store_stats(st, &s);
	return s.flusher_passes;
}

/* One record to each of 512 clean partitions: the first append sets the earliest
 * deadline and wakes the flusher; the other 511 come due later and must not wake it
 * (each used to: a pass over all 512 partitions per append). All are durable within
 * the interval, after a few passes. */
#define MANY 512
static void test_first_appends_do_not_wake(void **state)
{
	fx_t *f = *state;
	mqb_partition_t *ps[MANY];
	uint64_t w0, p0, dw, dp;
	int64_t t0, el = 0;

	f->o.partitions = MANY;
	f->o.flush_interval_ms = 300;
	fx_open(f, 0);
	for (int i = 0; i < MANY; i++)
		assert_non_null(ps[i] = mqb_store_partition(f->st, "s", i));
	usleep(200 * 1000);   /* the open's own passes (markers) are over */
	w0 = wakeups(f->st);
	p0 = passes(f->st);
	t0 = mqb_mono_ms();
	for (int i = 0; i < MANY; i++)
		append_one(ps[i]);
	for (int i = 0; i < MANY; i++) {
		int64_t left = 300 + SLACK_MS - (mqb_mono_ms() - t0);
		assert_true(ms_until_durable(ps[i], left > 0 ? left : 0) >= 0);
	}
	el = mqb_mono_ms() - t0;
	dw = wakeups(f->st) - w0;
	dp = passes(f->st) - p0;
	print_message("%d first appends: %llu wakeups, %llu passes, all durable after "
		      "%lld ms\n", MANY, (unsigned long long)dw, (unsigned long long)dp,
		      (long long)el);
	/* the first append's wake, its deadline, perhaps one for the appends that
	 * straddled it, a late scheduler; 512 without the deadline check */
	assert_true(dp <= 8);
	assert_true(dw <= 8);
}

/* A deadline earlier than the one the flusher sleeps towards still wakes it: stream
 * "slow" (2 s interval) is appended first, then stream "fast" (50 ms). */
static void test_earlier_deadline_wakes(void **state)
{
	fx_t *f = *state;
	mqb_stream_opts_t fast;
	char err[256] = "";
	mqb_partition_t *pf;
	mqb_watermarks_t w;
	int64_t el;

	f->o.flush_interval_ms = 2000;
	fx_open(f, 0);
	mqb_stream_opts_defaults(&fast);
	fast.name = "fast";
	fast.partitions = 1;
	fast.flush_interval_ms = 50;
	assert_int_equal(mqb_store_stream_open(f->st, &fast, err, sizeof err), 0);
	assert_non_null(pf = mqb_store_partition(f->st, "fast", 0));
	usleep(200 * 1000);
	append_one(f->p);             /* the flusher now sleeps ~2 s */
	usleep(100 * 1000);
	append_one(pf);
	el = ms_until_durable(pf, 50 + SLACK_MS);
	print_message("fast partition durable after %lld ms (50 ms interval, "
		      "the flusher planned ~2 s)\n", (long long)el);
	assert_true(el >= 0);
	mqb_partition_watermarks(f->p, &w);
	assert_int_equal(w.durable, 0);   /* slow: not due yet, untouched (1 partition:
					   * no grouped syncfs) */
	assert_true(ms_until_durable(f->p, 2000 + SLACK_MS) >= 0);
}

/* How many of the n partitions' checkpoint files name offset want. */
static int ckpts_at(fx_t *f, int n, int64_t want)
{
	char pdir[400];
	int k = 0;

	for (int i = 0; i < n; i++) {
		snprintf(pdir, sizeof(pdir), "%s/s-%d", f->dir, i);
		k += ckpt_offset(pdir) == want;
	}
	return k;
}

/* Checkpoints are paced by the store's partition count (MQB_CKPT_PER_S a second on
 * average): 256 partitions get one every 2 s, not every second; 8 keep 1 s (the
 * tests above). The first one after open is at once. */
#define PACED 256
static void test_checkpoints_paced_by_partitions(void **state)
{
	fx_t *f = *state;
	mqb_partition_t *ps[PACED];
	int64_t t0, el;
	int k;

	f->o.partitions = PACED;
	fx_open(f, 0);
	for (int i = 0; i < PACED; i++)
		assert_non_null(ps[i] = mqb_store_partition(f->st, "s", i));
	t0 = mqb_mono_ms();
	for (int i = 0; i < PACED; i++)
		append_one(ps[i]);
	for (k = 0; k < PACED && mqb_mono_ms() - t0 < 1000 + SLACK_MS; usleep(10000))
		k = ckpts_at(f, PACED, 1);
	assert_int_equal(k, PACED);          /* the first ones: at once */
	for (int i = 0; i < PACED; i++)
		append_one(ps[i]);
	/* each partition's last checkpoint came after t0: the next one not before
	 * t0 + 2 s; with the 1 s interval every one was rewritten by t0 + 1.5 s */
	while (mqb_mono_ms() - t0 < 1500)
		usleep(10000);
	k = ckpts_at(f, PACED, 2);
	el = mqb_mono_ms() - t0;
	print_message("%d partitions: %d of them checkpointed again %lld ms after the first "
		      "append\n", PACED, k, (long long)el);
	if (el < 1950)
		assert_int_equal(k, 0);
	for (k = 0; k < PACED && mqb_mono_ms() - t0 < 2000 + 1000 + SLACK_MS; usleep(20000))
		k = ckpts_at(f, PACED, 2);
	print_message("all %d checkpointed again after %lld ms\n", k,
		      (long long)(mqb_mono_ms() - t0));
	assert_int_equal(k, PACED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_idle_no_spin, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_append_after_idle_is_flushed, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_flush_messages_wakes, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_outside_fsync_checkpointed, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_no_policy_sleeps, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_first_appends_do_not_wake, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_earlier_deadline_wakes, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_checkpoints_paced_by_partitions, fx_setup,
						fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
