/*
 * test_fwd_window.c — the forwarder's delivered cursor: it only moves over a
 * contiguous run of delivery reports (out-of-order reports are held until the gap
 * fills), stale reports are ignored, the window bounds what is in flight, holes and
 * rewinds behave. Also a random shuffle against a simple model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>

#include "bridge/err.h"
#include "bridge/forward/fwd_window.h"

static void produce(mqb_fwd_window_t *w, int n)
{
	for (int i = 0; i < n; i++) {
		assert_true(mqb_fwd_window_room(w));
		mqb_fwd_window_produced(w);
	}
}

static void test_out_of_order_held(void **state)
{
	mqb_fwd_window_t w;
	assert_int_equal(mqb_fwd_window_init(&w, 8, 100), MQB_OK);
	produce(&w, 5);                                  /* 100..104 in flight */
	assert_true(mqb_fwd_window_delivered(&w, 102));
	assert_true(mqb_fwd_window_delivered(&w, 101));
	assert_int_equal(w.cursor, 100);                 /* 100 not yet: held */
	assert_true(mqb_fwd_window_delivered(&w, 100));
	assert_int_equal(w.cursor, 103);                 /* 100..102 contiguous */
	assert_true(mqb_fwd_window_delivered(&w, 104));
	assert_int_equal(w.cursor, 103);
	assert_true(mqb_fwd_window_delivered(&w, 103));
	assert_int_equal(w.cursor, 105);
	/* stale / unknown reports change nothing */
	assert_false(mqb_fwd_window_delivered(&w, 99));
	assert_false(mqb_fwd_window_delivered(&w, 103));
	assert_false(mqb_fwd_window_delivered(&w, 105));   /* not produced */
	assert_int_equal(w.cursor, 105);
	mqb_fwd_window_free(&w);
	mqb_fwd_window_free(NULL);
}

static void test_window_bound_and_rewind(void **state)
{
	mqb_fwd_window_t w;
	assert_int_equal(mqb_fwd_window_init(&w, 4, 0), MQB_OK);
	produce(&w, 4);
	assert_false(mqb_fwd_window_room(&w));          /* bounded in flight */
	assert_true(mqb_fwd_window_delivered(&w, 1));   /* 0 still missing */
	assert_false(mqb_fwd_window_room(&w));
	assert_true(mqb_fwd_window_delivered(&w, 0));
	assert_int_equal(w.cursor, 2);
	assert_true(mqb_fwd_window_room(&w));
	/* a failed delivery: rewind re-produces from the cursor; a report that was
	 * pending for 3 is now stale-free (re-produced), the ring holds no old flags */
	assert_true(mqb_fwd_window_delivered(&w, 3));
	mqb_fwd_window_rewind(&w);
	assert_int_equal(w.next, 2);
	produce(&w, 2);                                   /* 2, 3 again */
	assert_true(mqb_fwd_window_delivered(&w, 2));
	assert_int_equal(w.cursor, 3);                    /* 3's old flag was cleared */
	assert_true(mqb_fwd_window_delivered(&w, 3));
	assert_int_equal(w.cursor, 4);
	/* reset after lost records */
	mqb_fwd_window_reset(&w, 1000);
	assert_int_equal(w.cursor, 1000);
	assert_int_equal(w.next, 1000);
	produce(&w, 4);
	assert_true(mqb_fwd_window_delivered(&w, 1003));
	assert_int_equal(w.cursor, 1000);
	mqb_fwd_window_free(&w);
}

static void test_skip_hole(void **state)
{
	mqb_fwd_window_t w;
	assert_int_equal(mqb_fwd_window_init(&w, 8, 0), MQB_OK);
	produce(&w, 2);                                   /* 0, 1 */
	assert_true(mqb_fwd_window_skip_to(&w, 5));     /* 2..4 absent locally */
	assert_int_equal(w.next, 5);
	assert_int_equal(w.cursor, 0);
	assert_true(mqb_fwd_window_delivered(&w, 1));
	assert_true(mqb_fwd_window_delivered(&w, 0));
	assert_int_equal(w.cursor, 5);                    /* the hole counted delivered */
	assert_false(mqb_fwd_window_skip_to(&w, 100));  /* would overflow: refused */
	assert_int_equal(w.next, 5);
	assert_true(mqb_fwd_window_skip_to(&w, 3));     /* behind next: nothing to do */
	mqb_fwd_window_free(&w);
}

/* Random order of reports against a model: the cursor is always the smallest offset
 * not yet reported. */
static void test_random_against_model(void **state)
{
	enum { N = 50000, W = 512 };
	mqb_fwd_window_t w;
	static char reported[N];
	int64_t pending[W];
	int npending = 0, model = 0;
	assert_int_equal(mqb_fwd_window_init(&w, W, 0), MQB_OK);
	srand(3);
	while (w.cursor < N) {
		while (w.next < N && mqb_fwd_window_room(&w) && rand() % 4) {
			pending[npending++] = w.next;
			mqb_fwd_window_produced(&w);
		}
		if (npending == 0)
			continue;
		int k = rand() % npending;
		int64_t off = pending[k];
		pending[k] = pending[--npending];
		assert_true(mqb_fwd_window_delivered(&w, off));
		reported[off] = 1;
		while (model < N && reported[model])
			model++;
		assert_int_equal(w.cursor, model);
		assert_true(w.next - w.cursor <= W);
	}
	mqb_fwd_window_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_out_of_order_held),
		cmocka_unit_test(test_window_bound_and_rewind),
		cmocka_unit_test(test_skip_hole),
		cmocka_unit_test(test_random_against_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
