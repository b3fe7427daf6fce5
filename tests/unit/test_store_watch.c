/*
 * test_store_watch.c — append watches (bridge/store/append_watch.h): an armed watch's
 * eventfd becomes readable at the next append to its partition (from another thread,
 * woken in poll(), not found by polling), once (one-shot); appends to other
 * partitions or with nothing armed leave it silent; arm_all fires on any partition;
 * arm-then-read never loses an append racing it; slots run out cleanly and are reused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "bridge/clock.h"
#include "bridge/store/append_watch.h"
#include "tests/support/store_fx.h"

static void append_one(mqb_partition_t *p)
{
	mqb_record_t r = { .timestamp_ms = mqb_now_ms(), .key_len = -1,
			   .value = "v", .value_len = 1 };
	assert_int_equal(mqb_partition_append(p, &r, 1, NULL), 0);
}

/* true when w's fd is readable within ms */
static bool readable(mqb_append_watch_t *w, int ms)
{
	struct pollfd pfd = { .fd = mqb_append_watch_fd(w), .events = POLLIN };
	return poll(&pfd, 1, ms) == 1;
}

static mqb_append_watch_t *watch_new(mqb_store_t *st)
{
	char err[128] = "";
	mqb_append_watch_t *w = mqb_append_watch_new(st, err, sizeof err);
	if (!w)
		fail_msg("watch: %s", err);
	return w;
}

static void open_two(fx_t *f)
{
	f->o.partitions = 2;
	fx_open(f, 0);
}

static void test_one_shot_per_partition(void **state)
{
	fx_t *f = *state;
	mqb_partition_t *p1;
	mqb_append_watch_t *w;

	open_two(f);
	p1 = mqb_store_partition(f->st, "s", 1);
	w = watch_new(f->st);
	append_one(f->p);                          /* not armed: silent */
	assert_false(readable(w, 0));
	mqb_append_watch_arm(w, f->p);
	append_one(p1);                            /* another partition: silent */
	assert_false(readable(w, 0));
	append_one(f->p);
	assert_true(readable(w, 0));
	assert_int_equal(mqb_append_watch_drain(w), 1);
	assert_int_equal(mqb_append_watch_drain(w), 0);
	append_one(f->p);                          /* fired once: disarmed */
	assert_false(readable(w, 0));
	mqb_append_watch_arm_all(w);
	append_one(p1);
	assert_true(readable(w, 0));
	assert_int_equal(mqb_append_watch_drain(w), 1);
	append_one(p1);
	assert_false(readable(w, 0));
	mqb_append_watch_free(w);
}

/* two watches on one partition: both fire */
static void test_two_watches(void **state)
{
	fx_t *f = *state;
	mqb_append_watch_t *a, *b;

	fx_open(f, 0);
	a = watch_new(f->st);
	b = watch_new(f->st);
	assert_int_not_equal(mqb_append_watch_fd(a), mqb_append_watch_fd(b));
	mqb_append_watch_arm(a, f->p);
	mqb_append_watch_arm(b, f->p);
	append_one(f->p);
	assert_int_equal(mqb_append_watch_drain(a), 1);
	assert_int_equal(mqb_append_watch_drain(b), 1);
	mqb_append_watch_free(a);
	mqb_append_watch_free(b);
}

typedef struct writer {
	mqb_partition_t *p;
	int n, gap_us;
} writer_t;

static void *writer_main(void *arg)
{
	writer_t *wr = arg;
	for (int i = 0; i < wr->n; i++) {
		append_one(wr->p);
		if (wr->gap_us)
			usleep((useconds_t)wr->gap_us);
	}
	return NULL;
}

/* A sleeper in poll() is woken by another thread's append within a few ms (no
 * polling period) and, armed then reading the watermark, never misses one: each
 * round waits for the stored watermark to pass what it saw, sleeping in poll(). */
static void test_wakes_sleeper_no_lost_wakeup(void **state)
{
	fx_t *f = *state;
	mqb_append_watch_t *w;
	writer_t wr = { .n = 2000, .gap_us = 0 };
	pthread_t t;
	mqb_watermarks_t wm;
	int64_t seen = 0, t0;
	int sleeps = 0;

	fx_open(f, 0);
	w = watch_new(f->st);
	wr.p = f->p;

	/* latency: one append 100 ms into a 5 s sleep */
	mqb_append_watch_arm(w, f->p);
	wr.n = 1;
	wr.gap_us = 0;
	t0 = mqb_mono_ms();
	usleep(100 * 1000);
	assert_int_equal(pthread_create(&t, NULL, writer_main, &wr), 0);
	assert_true(readable(w, 5000));
	assert_true(mqb_mono_ms() - t0 < 2000);   /* loaded CI: far below the 5 s sleep */
	pthread_join(t, NULL);
	mqb_append_watch_drain(w);

	/* races: 2000 appends in a tight loop while the sleeper arms, reads, sleeps */
	wr.n = 2000;
	mqb_partition_watermarks(f->p, &wm);
	seen = wm.stored;
	assert_int_equal(pthread_create(&t, NULL, writer_main, &wr), 0);
	while (seen < 1 + 2000) {
		mqb_append_watch_arm(w, f->p);
		mqb_partition_watermarks(f->p, &wm);
		if (wm.stored != seen) {
			seen = wm.stored;
			continue;
		}
		/* nothing new after arming: an append must fire the watch (a lost
		 * wake-up would sleep the full 10 s here and fail) */
		if (!readable(w, 10000))
			fail_msg("lost wake-up at stored %lld", (long long)seen);
		mqb_append_watch_drain(w);
		sleeps++;
	}
	pthread_join(t, NULL);
	print_message("sleeper slept %d times over 2000 appends\n", sleeps);
	mqb_append_watch_free(w);
}

/* MQB_APPEND_WATCH_MAX slots: one more is refused with a message; a freed slot is
 * reused, and a fire left by its previous owner is drained */
static void test_slots(void **state)
{
	fx_t *f = *state;
	mqb_append_watch_t *w[MQB_APPEND_WATCH_MAX];
	char err[128] = "";

	fx_open(f, 0);
	for (int i = 0; i < MQB_APPEND_WATCH_MAX; i++)
		w[i] = watch_new(f->st);
	assert_null(mqb_append_watch_new(f->st, err, sizeof err));
	assert_non_null(strstr(err, "slots"));
	mqb_append_watch_arm(w[3], f->p);
	append_one(f->p);
	mqb_append_watch_free(w[3]);               /* freed with a fire pending */
	w[3] = watch_new(f->st);
	assert_false(readable(w[3], 0));
	mqb_append_watch_arm(w[3], f->p);
	append_one(f->p);
	assert_true(readable(w[3], 0));
	for (int i = 0; i < MQB_APPEND_WATCH_MAX; i++)
		mqb_append_watch_free(w[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_one_shot_per_partition, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_two_watches, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_wakes_sleeper_no_lost_wakeup, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_slots, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
