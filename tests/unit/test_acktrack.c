/*
 * test_acktrack.c — exclusive-mode ack tracker: committed offset from out-of-order and
 * ranged acks, duplicates, stale generations, acks beyond what was delivered, release
 * and re-delivery in order, hand-over, bounded memory, snapshots.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bridge/err.h"
#include "bridge/groups/acktrack.h"

#define A 11u   /* member tokens */
#define B 22u

static mqb_acktrack_t *mk(int64_t start, uint32_t max_pending, uint32_t max_deliveries)
{
	mqb_acktrack_opts_t o;
	char err[128];
	mqb_acktrack_t *t;

	mqb_acktrack_opts_defaults(&o);
	o.start_offset = start;
	if (max_pending)
		o.max_pending = max_pending;
	o.max_deliveries = max_deliveries;
	t = mqb_acktrack_new(&o, err, sizeof(err));
	assert_non_null(t);
	return t;
}

/* Deliver n records in order; returns the first offset delivered. */
static int64_t deliver_n(mqb_acktrack_t *t, int n, int64_t now)
{
	int64_t first = -1, off;

	for (int i = 0; i < n; i++) {
		assert_int_equal(mqb_acktrack_next(t, &off), MQB_OK);
		assert_int_equal(mqb_acktrack_deliver(t, off, now, NULL), MQB_OK);
		if (first < 0)
			first = off;
	}
	return first;
}

static int ack1(mqb_acktrack_t *t, uint64_t m, int64_t gen, int64_t first, int64_t last,
		mqb_ack_type_t type, mqb_ack_result_t *res)
{
	mqb_offset_range_t r = { first, last };
	return mqb_acktrack_ack(t, m, gen, &r, 1, type, res, NULL, NULL);
}

static void test_bad_options(void **state)
{
	mqb_acktrack_opts_t o;
	char err[128] = "";

	(void)state;
	mqb_acktrack_opts_defaults(&o);
	o.start_offset = -1;
	assert_null(mqb_acktrack_new(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "start offset"));
	mqb_acktrack_opts_defaults(&o);
	o.max_pending = 0;
	assert_null(mqb_acktrack_new(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "max_pending"));
	mqb_acktrack_destroy(NULL);
	assert_int_equal(mqb_ack_type_parse("accept"), MQB_ACK_ACCEPT);
	assert_int_equal(mqb_ack_type_parse("reject"), MQB_ACK_REJECT);
	assert_int_equal(mqb_ack_type_parse("nack"), -1);
	assert_string_equal(mqb_ack_type_name(MQB_ACK_RELEASE), "release");
}

static void test_out_of_order_and_ranges(void **state)
{
	mqb_acktrack_t *t = mk(100, 0, 0);
	mqb_ack_result_t res;
	mqb_acktrack_stats_t st;

	(void)state;
	int64_t off;
	assert_int_equal(mqb_acktrack_next(t, &off), MQB_ERR_AGAIN);  /* no owner */
	assert_int_equal(mqb_acktrack_assign(t, A, 1), MQB_OK);
	assert_int_equal(deliver_n(t, 10, 1000), 100);                /* 100..109 */
	assert_int_equal(mqb_acktrack_committed(t), 100);
	/* ack 105..107 first: committed does not move */
	assert_int_equal(ack1(t, A, 1, 105, 107, MQB_ACK_ACCEPT, &res), MQB_OK);
	assert_int_equal(res.accepted, 3);
	assert_int_equal(res.committed_after, 100);
	/* then 101, 100: committed -> 102 */
	assert_int_equal(ack1(t, A, 1, 101, 101, MQB_ACK_ACCEPT, &res), MQB_OK);
	assert_int_equal(mqb_acktrack_committed(t), 100);
	assert_int_equal(ack1(t, A, 1, 100, 100, MQB_ACK_ACCEPT, &res), MQB_OK);
	assert_int_equal(res.committed_before, 100);
	assert_int_equal(res.committed_after, 102);
	/* overlapping ranges in one call, including already-acked offsets */
	mqb_offset_range_t rs[] = { { 102, 104 }, { 103, 106 }, { 108, 109 } };
	assert_int_equal(mqb_acktrack_ack(t, A, 1, rs, 3, MQB_ACK_ACCEPT, &res, NULL, NULL), MQB_OK);
	assert_int_equal(res.accepted, 5);       /* 102,103,104,108,109 */
	assert_int_equal(res.duplicates, 4);     /* 103,104 again, 105,106 from before */
	assert_int_equal(res.committed_after, 110);
	mqb_acktrack_stats(t, 2000, &st);
	assert_int_equal(st.inflight, 0);
	assert_int_equal(st.end, 110);
	assert_int_equal(st.accepted, 10);
	assert_int_equal(st.oldest_inflight_ms, -1);
	mqb_acktrack_destroy(t);
}

static void test_duplicates_harmless(void **state)
{
	mqb_acktrack_t *t = mk(0, 0, 0);
	mqb_ack_result_t res;

	(void)state;
	mqb_acktrack_assign(t, A, 1);
	deliver_n(t, 5, 0);
	assert_int_equal(ack1(t, A, 1, 0, 4, MQB_ACK_ACCEPT, &res), MQB_OK);
	assert_int_equal(ack1(t, A, 1, 0, 4, MQB_ACK_ACCEPT, &res), MQB_OK);
	assert_int_equal(res.accepted, 0);
	assert_int_equal(res.duplicates, 5);
	assert_int_equal(res.committed_after, 5);
	/* a late reject of an accepted record changes nothing */
	assert_int_equal(ack1(t, A, 1, 2, 2, MQB_ACK_REJECT, &res), MQB_OK);
	assert_int_equal(res.rejected, 0);
	assert_int_equal(res.duplicates, 1);
	mqb_acktrack_destroy(t);
}

static void test_refusals_change_nothing(void **state)
{
	mqb_acktrack_t *t = mk(0, 0, 0);
	mqb_acktrack_stats_t before, after;
	mqb_ack_result_t res;

	(void)state;
	mqb_acktrack_assign(t, A, 5);
	deliver_n(t, 4, 0);                          /* 0..3 */
	mqb_acktrack_stats(t, 0, &before);
	/* beyond what was delivered, even when part of the range is fine */
	assert_int_equal(ack1(t, A, 5, 2, 4, MQB_ACK_ACCEPT, &res), MQB_ERR_RANGE);
	mqb_offset_range_t rs[] = { { 0, 1 }, { 9, 9 } };
	assert_int_equal(mqb_acktrack_ack(t, A, 5, rs, 2, MQB_ACK_ACCEPT, &res, NULL, NULL),
			 MQB_ERR_RANGE);
	/* the check-only call gives the same answers and changes nothing either */
	mqb_offset_range_t ok = { 0, 3 }, beyond = { 2, 4 };
	assert_int_equal(mqb_acktrack_ack_check(t, A, 5, &ok, 1, MQB_ACK_ACCEPT), MQB_OK);
	assert_int_equal(mqb_acktrack_ack_check(t, A, 5, &beyond, 1, MQB_ACK_ACCEPT), MQB_ERR_RANGE);
	assert_int_equal(mqb_acktrack_ack_check(t, B, 5, &ok, 1, MQB_ACK_ACCEPT), MQB_ERR_PERM);
	assert_int_equal(mqb_acktrack_ack_check(t, A, 4, &ok, 1, MQB_ACK_ACCEPT), MQB_ERR_STALE);
	assert_int_equal(mqb_acktrack_committed(t), 0);
	/* a member that is not the owner */
	assert_int_equal(ack1(t, B, 5, 0, 0, MQB_ACK_ACCEPT, &res), MQB_ERR_PERM);
	assert_int_equal(ack1(t, MQB_MEMBER_NONE, 5, 0, 0, MQB_ACK_ACCEPT, &res), MQB_ERR_PERM);
	/* stale generation */
	assert_int_equal(ack1(t, A, 4, 0, 0, MQB_ACK_ACCEPT, &res), MQB_ERR_STALE);
	/* reversed / negative range */
	assert_int_equal(ack1(t, A, 5, 3, 2, MQB_ACK_ACCEPT, &res), MQB_ERR_INVAL);
	assert_int_equal(ack1(t, A, 5, -1, 2, MQB_ACK_ACCEPT, &res), MQB_ERR_INVAL);
	/* bad type */
	assert_int_equal(ack1(t, A, 5, 0, 0, (mqb_ack_type_t)7, &res), MQB_ERR_INVAL);
	/* too many ranges */
	mqb_offset_range_t *many = calloc(MQB_ACK_MAX_RANGES + 1, sizeof(*many));
	assert_int_equal(mqb_acktrack_ack(t, A, 5, many, MQB_ACK_MAX_RANGES + 1, MQB_ACK_ACCEPT,
					  &res, NULL, NULL), MQB_ERR_TOOBIG);
	/* exactly the limit is fine: all duplicates of offset 0 after one accept */
	assert_int_equal(mqb_acktrack_ack(t, A, 5, many, MQB_ACK_MAX_RANGES, MQB_ACK_ACCEPT,
					  &res, NULL, NULL), MQB_OK);
	assert_int_equal(res.accepted, 1);
	assert_int_equal(res.duplicates, MQB_ACK_MAX_RANGES - 1);
	free(many);
	mqb_acktrack_stats(t, 0, &after);
	assert_int_equal(after.inflight, before.inflight - 1);   /* only the good call */
	assert_int_equal(after.committed, 1);
	/* a later generation from the owner is accepted (cooperative rebalance kept it) */
	assert_int_equal(ack1(t, A, 6, 1, 1, MQB_ACK_ACCEPT, &res), MQB_OK);
	assert_int_equal(mqb_acktrack_committed(t), 2);
	mqb_acktrack_destroy(t);
}

static int64_t cb_offsets[64];
static uint32_t cb_deliveries[64];
static mqb_finish_reason_t cb_reasons[64];
static size_t cb_n;
static void finish_cb(void *arg, int64_t offset, uint32_t deliveries, mqb_finish_reason_t why)
{
	(void)arg;
	cb_offsets[cb_n] = offset;
	cb_deliveries[cb_n] = deliveries;
	cb_reasons[cb_n++] = why;
}

static void test_release_redelivery_order(void **state)
{
	mqb_acktrack_t *t = mk(0, 0, 0);
	mqb_ack_result_t res;
	mqb_acktrack_stats_t st;
	int64_t off;
	uint32_t dc;

	(void)state;
	mqb_acktrack_assign(t, A, 1);
	deliver_n(t, 6, 0);                               /* 0..5 */
	assert_int_equal(ack1(t, A, 1, 4, 4, MQB_ACK_RELEASE, &res), MQB_OK);
	assert_int_equal(ack1(t, A, 1, 1, 2, MQB_ACK_RELEASE, &res), MQB_OK);
	assert_int_equal(res.released, 2);
	/* releasing again is a harmless no-op; accepting a released one is refused */
	assert_int_equal(ack1(t, A, 1, 1, 1, MQB_ACK_RELEASE, &res), MQB_OK);
	assert_int_equal(res.duplicates, 1);
	assert_int_equal(ack1(t, A, 1, 0, 2, MQB_ACK_ACCEPT, &res), MQB_ERR_RANGE);
	/* re-delivery from the lowest released offset, in order, before new records */
	int64_t want[] = { 1, 2, 4, 6, 7 };
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(mqb_acktrack_next(t, &off), MQB_OK);
		assert_int_equal(off, want[i]);
		assert_int_equal(mqb_acktrack_deliver(t, off, 10, &dc), MQB_OK);
		assert_int_equal(dc, i < 3 ? 2 : 1);
	}
	/* deliver something else than next(): refused */
	assert_int_equal(mqb_acktrack_deliver(t, 3, 10, NULL), MQB_ERR_STATE);
	assert_int_equal(mqb_acktrack_deliver(t, 9, 10, NULL), MQB_ERR_STATE);
	mqb_acktrack_stats(t, 25, &st);
	assert_int_equal(st.redeliveries, 3);
	assert_int_equal(st.deliveries, 11);
	assert_int_equal(st.inflight, 8);
	assert_int_equal(st.oldest_inflight_ms, 25);
	/* reject reports the record; the committed offset passes it */
	cb_n = 0;
	assert_int_equal(ack1(t, A, 1, 0, 0, MQB_ACK_REJECT, &res), MQB_OK);
	mqb_offset_range_t r = { 1, 7 };
	assert_int_equal(mqb_acktrack_ack(t, A, 1, &r, 1, MQB_ACK_REJECT, &res, finish_cb, NULL),
			 MQB_OK);
	assert_int_equal(res.rejected, 7);
	assert_int_equal(cb_n, 7);
	assert_int_equal(cb_offsets[0], 1);
	assert_int_equal(cb_deliveries[0], 2);
	assert_int_equal(cb_reasons[6], MQB_FINISH_REJECTED);
	assert_int_equal(mqb_acktrack_committed(t), 8);
	mqb_acktrack_destroy(t);
}

static void test_max_deliveries(void **state)
{
	mqb_acktrack_t *t = mk(0, 0, 3);
	mqb_ack_result_t res;
	int64_t off;

	(void)state;
	mqb_acktrack_assign(t, A, 1);
	cb_n = 0;
	for (int round = 1; round <= 3; round++) {
		assert_int_equal(mqb_acktrack_next(t, &off), MQB_OK);
		assert_int_equal(off, 0);
		assert_int_equal(mqb_acktrack_deliver(t, 0, round, NULL), MQB_OK);
		assert_int_equal(mqb_acktrack_ack(t, A, 1, &(mqb_offset_range_t){ 0, 0 }, 1,
						  MQB_ACK_RELEASE, &res, finish_cb, NULL), MQB_OK);
		assert_int_equal(res.dead, round == 3);
	}
	assert_int_equal(cb_n, 1);
	assert_int_equal(cb_reasons[0], MQB_FINISH_MAX_DELIVERIES);
	assert_int_equal(cb_deliveries[0], 3);
	assert_int_equal(mqb_acktrack_committed(t), 1);
	assert_int_equal(mqb_acktrack_next(t, &off), MQB_OK);
	assert_int_equal(off, 1);
	mqb_acktrack_destroy(t);
}

static void test_handover(void **state)
{
	mqb_acktrack_t *t = mk(0, 0, 0);
	mqb_ack_result_t res;
	mqb_acktrack_stats_t st;
	int64_t off;

	(void)state;
	mqb_acktrack_assign(t, A, 1);
	deliver_n(t, 6, 0);                                  /* 0..5 to A */
	assert_int_equal(ack1(t, A, 1, 0, 1, MQB_ACK_ACCEPT, &res), MQB_OK);
	assert_int_equal(ack1(t, A, 1, 3, 3, MQB_ACK_ACCEPT, &res), MQB_OK);
	/* cooperative rebalance where A keeps the partition: nothing changes */
	assert_int_equal(mqb_acktrack_assign(t, A, 2), MQB_OK);
	assert_int_equal(ack1(t, A, 2, 4, 4, MQB_ACK_ACCEPT, &res), MQB_OK);
	assert_int_equal(ack1(t, A, 1, 5, 5, MQB_ACK_RELEASE, &res), MQB_OK); /* still gen 1 ok */
	/* the partition moves to B in generation 3 */
	assert_int_equal(mqb_acktrack_assign(t, B, 3), MQB_OK);
	assert_int_equal(mqb_acktrack_owner(t), B);
	/* A's late ack is refused and changes nothing */
	assert_int_equal(ack1(t, A, 3, 2, 2, MQB_ACK_ACCEPT, &res), MQB_ERR_PERM);
	/* B starts at the committed offset, skipping what A accepted (3, 4) */
	assert_int_equal(mqb_acktrack_committed(t), 2);
	assert_int_equal(mqb_acktrack_next(t, &off), MQB_OK);
	assert_int_equal(off, 2);
	assert_int_equal(mqb_acktrack_deliver(t, 2, 0, NULL), MQB_OK);
	assert_int_equal(mqb_acktrack_next(t, &off), MQB_OK);
	assert_int_equal(off, 5);
	assert_int_equal(mqb_acktrack_deliver(t, 5, 0, NULL), MQB_OK);
	assert_int_equal(mqb_acktrack_next(t, &off), MQB_OK);
	assert_int_equal(off, 6);
	/* B acks offset 2 with a generation before its ownership: stale */
	assert_int_equal(ack1(t, B, 2, 2, 2, MQB_ACK_ACCEPT, &res), MQB_ERR_STALE);
	assert_int_equal(ack1(t, B, 3, 2, 2, MQB_ACK_ACCEPT, &res), MQB_OK);
	mqb_acktrack_stats(t, 0, &st);
	assert_int_equal(st.redeliveries, 2);               /* 2 and 5 went out twice */
	/* revoke: no owner, no deliveries, acks refused */
	mqb_acktrack_revoke(t);
	assert_int_equal(mqb_acktrack_next(t, &off), MQB_ERR_AGAIN);
	assert_int_equal(ack1(t, B, 3, 5, 5, MQB_ACK_ACCEPT, &res), MQB_ERR_PERM);
	assert_int_equal(mqb_acktrack_assign(t, MQB_MEMBER_NONE, 4), MQB_ERR_INVAL);
	/* the same member getting it back in a later generation is a new ownership */
	assert_int_equal(mqb_acktrack_assign(t, B, 4), MQB_OK);
	assert_int_equal(ack1(t, B, 4, 5, 5, MQB_ACK_ACCEPT, &res), MQB_ERR_RANGE);
	mqb_acktrack_destroy(t);
}

static void test_bounded(void **state)
{
	mqb_acktrack_t *t = mk(0, 8, 0);
	mqb_ack_result_t res;
	int64_t off;

	(void)state;
	mqb_acktrack_assign(t, A, 1);
	deliver_n(t, 8, 0);
	assert_int_equal(mqb_acktrack_next(t, &off), MQB_ERR_AGAIN);   /* cap reached */
	/* a head-of-line record never acked while everything after it is: memory stays
	 * at the cap while a million offsets pass */
	for (int i = 0; i < 1000000 / 7; i++) {
		int64_t first = 1 + (int64_t)i * 7;
		assert_int_equal(ack1(t, A, 1, first, first + 6, MQB_ACK_ACCEPT, &res), MQB_OK);
		deliver_n(t, 7, 0);
	}
	assert_int_equal(mqb_acktrack_committed(t), 0);
	assert_int_equal(mqb_acktrack_next(t, &off), MQB_ERR_AGAIN);
	/* one huge range acks everything delivered in O(pending) */
	mqb_acktrack_stats_t st;
	mqb_acktrack_stats(t, 0, &st);
	assert_int_equal(ack1(t, A, 1, 0, st.end - 1, MQB_ACK_ACCEPT, &res), MQB_OK);
	assert_int_equal(res.accepted, 8);
	assert_int_equal(mqb_acktrack_committed(t), st.end);
	/* huge range beyond the end is refused */
	assert_int_equal(ack1(t, A, 1, 0, INT64_MAX, MQB_ACK_ACCEPT, &res), MQB_ERR_RANGE);
	mqb_acktrack_destroy(t);
}

static void test_reset(void **state)
{
	mqb_acktrack_t *t = mk(0, 0, 0);
	int64_t off;

	(void)state;
	mqb_acktrack_assign(t, A, 1);
	deliver_n(t, 3, 0);
	mqb_acktrack_reset(t, 50);
	assert_int_equal(mqb_acktrack_committed(t), 50);
	assert_int_equal(mqb_acktrack_owner(t), A);
	assert_int_equal(mqb_acktrack_next(t, &off), MQB_OK);
	assert_int_equal(off, 50);
	assert_int_equal(ack1(t, A, 1, 1, 1, MQB_ACK_ACCEPT, NULL), MQB_OK);   /* below: dup */
	mqb_acktrack_destroy(t);
}

static void test_snapshot(void **state)
{
	mqb_acktrack_t *t = mk(0, 0, 0), *u = mk(0, 4, 0);
	mqb_part_state_t ps;
	int64_t off;
	uint32_t dc;

	(void)state;
	mqb_acktrack_assign(t, A, 1);
	deliver_n(t, 6, 0);
	ack1(t, A, 1, 0, 0, MQB_ACK_ACCEPT, NULL);
	ack1(t, A, 1, 2, 3, MQB_ACK_ACCEPT, NULL);
	ack1(t, A, 1, 5, 5, MQB_ACK_RELEASE, NULL);
	assert_int_equal(mqb_acktrack_export(t, &ps), MQB_OK);
	assert_int_equal(ps.start, 1);
	assert_int_equal(ps.end, 6);
	assert_int_equal(ps.n_recs, 3);                     /* 1, 4, 5 */
	assert_int_equal(ps.recs[1].offset, 4);
	assert_int_equal(ps.recs[2].deliveries, 1);
	/* restore in a fresh tracker: unfinished ones are re-delivered, accepted never */
	mqb_acktrack_t *r = mk(0, 0, 0);
	assert_int_equal(mqb_acktrack_import(r, &ps), MQB_OK);
	assert_int_equal(mqb_acktrack_owner(r), MQB_MEMBER_NONE);
	mqb_acktrack_assign(r, B, 7);
	int64_t want[] = { 1, 4, 5, 6 };
	for (int i = 0; i < 4; i++) {
		assert_int_equal(mqb_acktrack_next(r, &off), MQB_OK);
		assert_int_equal(off, want[i]);
		assert_int_equal(mqb_acktrack_deliver(r, off, 0, &dc), MQB_OK);
		assert_int_equal(dc, i < 3 ? 2 : 1);
	}
	/* inconsistent snapshots are refused without change */
	assert_int_equal(mqb_acktrack_import(u, &ps), MQB_OK);   /* 3 <= 4 fits */
	ps.recs[1].offset = 1;                               /* not increasing */
	assert_int_equal(mqb_acktrack_import(u, &ps), MQB_ERR_INVAL);
	ps.recs[1].offset = 4;
	ps.recs[2].state = MQB_REC_ACKNOWLEDGED;
	assert_int_equal(mqb_acktrack_import(u, &ps), MQB_ERR_INVAL);
	ps.recs[2].state = MQB_REC_AVAILABLE;
	ps.start = 0;                                        /* start != first pending */
	assert_int_equal(mqb_acktrack_import(u, &ps), MQB_ERR_INVAL);
	ps.start = 1;
	ps.end = 5;                                          /* rec 5 beyond end */
	assert_int_equal(mqb_acktrack_import(u, &ps), MQB_ERR_INVAL);
	ps.end = 6;
	assert_int_equal(mqb_acktrack_committed(u), 1);
	free(ps.recs);
	/* empty snapshot */
	mqb_part_state_t e = { .start = 9, .end = 9 };
	assert_int_equal(mqb_acktrack_import(u, &e), MQB_OK);
	assert_int_equal(mqb_acktrack_committed(u), 9);
	e.end = 10;
	assert_int_equal(mqb_acktrack_import(u, &e), MQB_ERR_INVAL);
	mqb_acktrack_destroy(t);
	mqb_acktrack_destroy(u);
	mqb_acktrack_destroy(r);
}

/* Random acks against a simple per-offset model. */
static void test_random_against_model(void **state)
{
	enum { N = 400 };
	uint8_t model[N];          /* 0 undelivered, 1 inflight, 2 released, 3 finished */
	mqb_acktrack_t *t = mk(0, 64, 0);
	uint64_t x = 12345;
	int64_t end = 0;

	(void)state;
	memset(model, 0, sizeof(model));
	mqb_acktrack_assign(t, A, 1);
	for (int step = 0; step < 20000; step++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		uint32_t r = (uint32_t)(x >> 33);
		if (r % 3 == 0) {
			int64_t off;
			if (mqb_acktrack_next(t, &off) != MQB_OK || off >= N)
				continue;
			/* model: lowest released, else end */
			int64_t want = end;
			for (int64_t o = 0; o < end; o++)
				if (model[o] == 2) { want = o; break; }
			assert_int_equal(off, want);
			assert_int_equal(mqb_acktrack_deliver(t, off, 0, NULL), MQB_OK);
			model[off] = 1;
			if (off == end)
				end++;
		} else {
			int64_t a = (int64_t)((r >> 4) % N), len = (r >> 12) % 4;
			int64_t b = a + len < N ? a + len : N - 1;
			mqb_ack_type_t type = (mqb_ack_type_t)((r >> 20) % 3);
			int want = MQB_OK, rc;
			for (int64_t o = a; o <= b; o++) {
				if (o >= end) want = MQB_ERR_RANGE;
				else if (model[o] == 2 && type != MQB_ACK_RELEASE) want = MQB_ERR_RANGE;
			}
			rc = ack1(t, A, 1, a, b, type, NULL);
			assert_int_equal(rc, want);
			if (rc == MQB_OK)
				for (int64_t o = a; o <= b; o++)
					if (model[o] == 1)
						model[o] = type == MQB_ACK_RELEASE ? 2 : 3;
		}
		int64_t committed = end;
		for (int64_t o = 0; o < end; o++)
			if (model[o] != 3) { committed = o; break; }
		assert_int_equal(mqb_acktrack_committed(t), committed);
	}
	mqb_acktrack_destroy(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_out_of_order_and_ranges),
		cmocka_unit_test(test_duplicates_harmless),
		cmocka_unit_test(test_refusals_change_nothing),
		cmocka_unit_test(test_release_redelivery_order),
		cmocka_unit_test(test_max_deliveries),
		cmocka_unit_test(test_handover),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_snapshot),
		cmocka_unit_test(test_random_against_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
