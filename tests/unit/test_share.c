/*
 * test_share.c — shared-mode state machine (KIP-932): every transition, lock expiry,
 * always-reject and always-release consumers (dead letter exactly at max_deliveries),
 * member leaving, acks from a member without the lock, window bound, snapshots.
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
#include "bridge/groups/share.h"

#define A 1u
#define B 2u

static mqb_share_t *mk(int64_t start, uint32_t window, uint32_t max_del, int64_t lock_ms)
{
	mqb_share_opts_t o;
	char err[128];
	mqb_share_t *s;

	mqb_share_opts_defaults(&o);
	o.start_offset = start;
	o.max_window = window;
	o.max_deliveries = max_del;
	o.lock_ms = lock_ms;
	s = mqb_share_new(&o, err, sizeof(err));
	assert_non_null(s);
	return s;
}

static int ack1(mqb_share_t *s, uint64_t m, int64_t first, int64_t last, mqb_ack_type_t t,
		int64_t now, mqb_ack_result_t *res)
{
	mqb_offset_range_t r = { first, last };
	return mqb_share_ack(s, m, &r, 1, t, now, res, NULL, NULL);
}

struct dl { int64_t off[256]; uint32_t del[256]; mqb_finish_reason_t why[256]; size_t n; };
static void dl_cb(void *arg, int64_t offset, uint32_t deliveries, mqb_finish_reason_t why)
{
	struct dl *d = arg;
	d->off[d->n] = offset;
	d->del[d->n] = deliveries;
	d->why[d->n++] = why;
}

static void test_bad_options(void **state)
{
	mqb_share_opts_t o;
	char err[128] = "";

	(void)state;
	mqb_share_opts_defaults(&o);
	assert_int_equal(o.max_window, 200);
	o.max_window = 0;
	assert_null(mqb_share_new(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "max_window"));
	mqb_share_opts_defaults(&o);
	o.max_deliveries = 0;
	assert_null(mqb_share_new(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "max_deliveries"));
	mqb_share_opts_defaults(&o);
	o.lock_ms = 0;
	assert_null(mqb_share_new(&o, err, sizeof(err)));
	mqb_share_opts_defaults(&o);
	o.start_offset = -5;
	assert_null(mqb_share_new(&o, err, sizeof(err)));
	mqb_share_destroy(NULL);
}

static void test_acquire_accept_spso(void **state)
{
	mqb_share_t *s = mk(10, 200, 5, 1000);
	mqb_share_acquired_t got[16];
	mqb_ack_result_t res;
	mqb_share_stats_t st;
	uint64_t holder;
	uint32_t dc;

	(void)state;
	/* nothing in the log yet */
	assert_int_equal(mqb_share_acquire(s, A, 4, 10, 0, got), 0);
	assert_int_equal(mqb_share_acquire(s, MQB_MEMBER_NONE, 4, 20, 0, got), MQB_ERR_INVAL);
	/* A takes 10..13, B takes 14..15 (log end 16) */
	assert_int_equal(mqb_share_acquire(s, A, 4, 16, 0, got), 4);
	assert_int_equal(got[0].offset, 10);
	assert_int_equal(got[3].offset, 13);
	assert_int_equal(got[0].deliveries, 1);
	assert_int_equal(mqb_share_acquire(s, B, 4, 16, 0, got), 2);
	assert_int_equal(got[0].offset, 14);
	assert_int_equal(mqb_share_record_state(s, 14, &dc, &holder), MQB_REC_ACQUIRED);
	assert_int_equal(holder, B);
	/* B accepts first: SPSO does not move (10 still acquired) */
	assert_int_equal(ack1(s, B, 14, 15, MQB_ACK_ACCEPT, 1, &res), MQB_OK);
	assert_int_equal(res.accepted, 2);
	assert_int_equal(res.committed_after, 10);
	assert_int_equal(mqb_share_record_state(s, 14, NULL, NULL), MQB_REC_ACKNOWLEDGED);
	/* A accepts 10..13 out of order: SPSO moves past the whole leading run */
	assert_int_equal(mqb_share_speo(s), 16);
	assert_int_equal(ack1(s, A, 12, 13, MQB_ACK_ACCEPT, 1, &res), MQB_OK);
	assert_int_equal(res.committed_after, 10);
	assert_int_equal(ack1(s, A, 10, 11, MQB_ACK_ACCEPT, 1, &res), MQB_OK);
	assert_int_equal(res.committed_after, 16);
	mqb_share_stats(s, 1, &st);
	assert_int_equal(st.spso, 16);
	assert_int_equal(st.speo, 16);
	assert_int_equal(mqb_share_spso(s), 16);
	assert_int_equal(mqb_share_speo(s), 16);
	assert_int_equal(st.accepted, 6);
	assert_int_equal(mqb_share_record_state(s, 12, NULL, NULL), -1);
	/* a duplicate accept (below SPSO) is harmless */
	assert_int_equal(ack1(s, A, 10, 15, MQB_ACK_ACCEPT, 2, &res), MQB_OK);
	assert_int_equal(res.duplicates, 6);
	assert_int_equal(res.accepted, 0);
	mqb_share_destroy(s);
}

static void test_refusals(void **state)
{
	mqb_share_t *s = mk(0, 200, 5, 1000);
	mqb_share_acquired_t got[8];
	mqb_ack_result_t res;
	mqb_share_stats_t before, after;

	(void)state;
	assert_int_equal(mqb_share_acquire(s, A, 3, 10, 0, got), 3);   /* 0..2 to A */
	assert_int_equal(mqb_share_acquire(s, B, 2, 10, 0, got), 2);   /* 3..4 to B */
	mqb_share_stats(s, 0, &before);
	/* check-only: same answers, no change */
	mqb_offset_range_t mine = { 0, 2 }, theirs = { 3, 3 }, past = { 4, 5 };
	assert_int_equal(mqb_share_ack_check(s, A, &mine, 1, MQB_ACK_ACCEPT, 5), MQB_OK);
	assert_int_equal(mqb_share_ack_check(s, A, &theirs, 1, MQB_ACK_ACCEPT, 5), MQB_ERR_PERM);
	assert_int_equal(mqb_share_ack_check(s, B, &past, 1, MQB_ACK_ACCEPT, 5), MQB_ERR_RANGE);
	assert_int_equal(mqb_share_ack_check(s, A, &mine, 1, MQB_ACK_ACCEPT, 1000), MQB_ERR_PERM);
	/* B acks A's record: not_owner; mixed ranges: nothing applied */
	assert_int_equal(ack1(s, B, 1, 1, MQB_ACK_ACCEPT, 5, &res), MQB_ERR_PERM);
	mqb_offset_range_t mixed[] = { { 3, 4 }, { 2, 2 } };
	assert_int_equal(mqb_share_ack(s, B, mixed, 2, MQB_ACK_ACCEPT, 5, &res, NULL, NULL),
			 MQB_ERR_PERM);
	/* beyond SPEO, or never acquired */
	assert_int_equal(ack1(s, A, 0, 5, MQB_ACK_ACCEPT, 5, &res), MQB_ERR_RANGE);
	assert_int_equal(ack1(s, A, 100, 200, MQB_ACK_ACCEPT, 5, &res), MQB_ERR_RANGE);
	assert_int_equal(ack1(s, A, 2, 1, MQB_ACK_ACCEPT, 5, &res), MQB_ERR_INVAL);
	assert_int_equal(ack1(s, A, -3, 1, MQB_ACK_ACCEPT, 5, &res), MQB_ERR_INVAL);
	assert_int_equal(ack1(s, A, 0, 0, (mqb_ack_type_t)9, 5, &res), MQB_ERR_INVAL);
	assert_int_equal(ack1(s, MQB_MEMBER_NONE, 0, 0, MQB_ACK_ACCEPT, 5, &res), MQB_ERR_PERM);
	/* lock expired (tick not yet run): refused as not the holder any more */
	assert_int_equal(ack1(s, A, 0, 0, MQB_ACK_ACCEPT, 1000, &res), MQB_ERR_PERM);
	mqb_offset_range_t *many = calloc(MQB_ACK_MAX_RANGES + 1, sizeof(*many));
	assert_int_equal(mqb_share_ack(s, A, many, MQB_ACK_MAX_RANGES + 1, MQB_ACK_ACCEPT, 5,
				       &res, NULL, NULL), MQB_ERR_TOOBIG);
	free(many);
	mqb_share_stats(s, 0, &after);
	assert_memory_equal(&before, &after, sizeof(before));
	/* a released record is Available: acking it is "not delivered" */
	assert_int_equal(ack1(s, A, 0, 0, MQB_ACK_RELEASE, 5, &res), MQB_OK);
	assert_int_equal(res.released, 1);
	assert_int_equal(ack1(s, A, 0, 0, MQB_ACK_ACCEPT, 5, &res), MQB_ERR_RANGE);
	mqb_share_destroy(s);
}

static void test_always_reject(void **state)
{
	mqb_share_t *s = mk(0, 200, 5, 1000);
	mqb_share_acquired_t got[10];
	mqb_ack_result_t res;
	struct dl d = { .n = 0 };

	(void)state;
	assert_int_equal(mqb_share_acquire(s, A, 10, 10, 0, got), 10);
	mqb_offset_range_t r = { 0, 9 };
	assert_int_equal(mqb_share_ack(s, A, &r, 1, MQB_ACK_REJECT, 1, &res, dl_cb, &d), MQB_OK);
	assert_int_equal(res.rejected, 10);
	assert_int_equal(d.n, 10);
	for (size_t i = 0; i < 10; i++) {
		assert_int_equal(d.off[i], (int64_t)i);
		assert_int_equal(d.why[i], MQB_FINISH_REJECTED);
		assert_int_equal(d.del[i], 1);
	}
	assert_int_equal(res.committed_after, 10);
	/* nothing comes back */
	assert_int_equal(mqb_share_acquire(s, A, 10, 10, 2, got), 0);
	mqb_share_destroy(s);
}

static void test_always_release_dead_letter_at_max(void **state)
{
	mqb_share_t *s = mk(0, 200, 5, 1000);
	mqb_share_acquired_t got[4];
	mqb_ack_result_t res;
	struct dl d = { .n = 0 };
	mqb_share_stats_t st;

	(void)state;
	/* records 0..3; member A releases everything it gets */
	for (uint32_t round = 1; round <= 5; round++) {
		assert_int_equal(mqb_share_acquire(s, A, 4, 4, round, got), 4);
		for (int i = 0; i < 4; i++) {
			assert_int_equal(got[i].offset, i);
			assert_int_equal(got[i].deliveries, round);
		}
		mqb_offset_range_t r = { 0, 3 };
		assert_int_equal(mqb_share_ack(s, A, &r, 1, MQB_ACK_RELEASE, round, &res, dl_cb, &d),
				 MQB_OK);
		/* dead letter exactly at the 5th delivery, not before */
		assert_int_equal(d.n, round < 5 ? 0 : 4);
		assert_int_equal(res.released, round < 5 ? 4 : 0);
		assert_int_equal(res.dead, round < 5 ? 0 : 4);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(d.why[i], MQB_FINISH_MAX_DELIVERIES);
		assert_int_equal(d.del[i], 5);
	}
	mqb_share_stats(s, 10, &st);
	assert_int_equal(st.spso, 4);
	assert_int_equal(st.dead, 4);
	assert_int_equal(st.redeliveries, 16);
	assert_int_equal(st.acquisitions, 20);
	mqb_share_destroy(s);
}

static void test_lock_expiry(void **state)
{
	mqb_share_t *s = mk(0, 200, 2, 100);
	mqb_share_acquired_t got[4];
	mqb_ack_result_t res;
	struct dl d = { .n = 0 };
	mqb_share_stats_t st;

	(void)state;
	assert_int_equal(mqb_share_next_deadline(s), INT64_MAX);
	assert_int_equal(mqb_share_acquire(s, A, 2, 5, 1000, got), 2);     /* 0,1 until 1100 */
	assert_int_equal(mqb_share_acquire(s, B, 1, 5, 1050, got), 1);     /* 2 until 1150 */
	assert_int_equal(mqb_share_next_deadline(s), 1100);
	mqb_share_stats(s, 1080, &st);
	assert_int_equal(st.oldest_acquired_ms, 80);
	assert_int_equal(mqb_share_tick(s, 1099, dl_cb, &d), 0);
	assert_int_equal(mqb_share_tick(s, 1100, dl_cb, &d), 2);
	assert_int_equal(mqb_share_record_state(s, 0, NULL, NULL), MQB_REC_AVAILABLE);
	assert_int_equal(mqb_share_record_state(s, 2, NULL, NULL), MQB_REC_ACQUIRED);
	assert_int_equal(mqb_share_next_deadline(s), 1150);
	/* A's late ack is refused: the records are Available now */
	assert_int_equal(ack1(s, A, 0, 1, MQB_ACK_ACCEPT, 1101, &res), MQB_ERR_RANGE);
	/* B acquires them again: delivery 2; the second expiry hits max_deliveries = 2 */
	assert_int_equal(mqb_share_acquire(s, B, 2, 5, 1200, got), 2);
	assert_int_equal(got[0].offset, 0);
	assert_int_equal(got[0].deliveries, 2);
	assert_int_equal(mqb_share_tick(s, 1300, dl_cb, &d), 3);
	assert_int_equal(d.n, 2);
	assert_int_equal(d.off[0], 0);
	assert_int_equal(d.off[1], 1);
	assert_int_equal(d.why[0], MQB_FINISH_MAX_DELIVERIES);
	mqb_share_stats(s, 1300, &st);
	assert_int_equal(st.expired, 5);
	assert_int_equal(st.spso, 2);
	assert_int_equal(st.available, 1);                /* record 2, delivered once */
	assert_int_equal(st.oldest_acquired_ms, -1);
	mqb_share_destroy(s);
}

static void test_member_left(void **state)
{
	mqb_share_t *s = mk(0, 200, 3, 1000);
	mqb_share_acquired_t got[4];
	struct dl d = { .n = 0 };
	uint32_t dc;

	(void)state;
	assert_int_equal(mqb_share_acquire(s, A, 2, 10, 0, got), 2);   /* 0, 1 */
	assert_int_equal(mqb_share_acquire(s, B, 2, 10, 0, got), 2);   /* 2, 3 */
	assert_int_equal(mqb_share_member_left(s, A, dl_cb, &d), 2);
	assert_int_equal(mqb_share_member_left(s, A, dl_cb, &d), 0);
	/* available again; the delivery count is kept (KIP-932) */
	assert_int_equal(mqb_share_record_state(s, 0, &dc, NULL), MQB_REC_AVAILABLE);
	assert_int_equal(dc, 1);
	assert_int_equal(mqb_share_record_state(s, 2, NULL, NULL), MQB_REC_ACQUIRED);
	/* B picks them up in offset order: the released 0, 1 first, then 4 */
	assert_int_equal(mqb_share_acquire(s, B, 3, 10, 0, got), 3);
	assert_int_equal(got[0].offset, 0);
	assert_int_equal(got[0].deliveries, 2);
	assert_int_equal(got[2].offset, 4);
	/* a member that dies on its 3rd delivery sends the record to the dead letter */
	assert_int_equal(mqb_share_member_left(s, B, dl_cb, &d), 5);
	assert_int_equal(mqb_share_acquire(s, A, 1, 10, 0, got), 1);
	assert_int_equal(got[0].offset, 0);
	assert_int_equal(got[0].deliveries, 3);
	assert_int_equal(mqb_share_member_left(s, A, dl_cb, &d), 1);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.off[0], 0);
	assert_int_equal(d.why[0], MQB_FINISH_MAX_DELIVERIES);
	mqb_share_destroy(s);
}

static void test_window_bound(void **state)
{
	mqb_share_t *s = mk(0, 8, 5, 1000);
	mqb_share_acquired_t got[32];
	mqb_share_stats_t st;

	(void)state;
	assert_int_equal(mqb_share_acquire(s, A, 32, 1000, 0, got), 8);
	assert_int_equal(mqb_share_acquire(s, B, 32, 1000, 0, got), 0);   /* window full */
	/* accept 1..7 but not 0: the window stays full, nothing new */
	assert_int_equal(ack1(s, A, 1, 7, MQB_ACK_ACCEPT, 1, NULL), MQB_OK);
	assert_int_equal(mqb_share_acquire(s, B, 32, 1000, 1, got), 0);
	assert_int_equal(ack1(s, A, 0, 0, MQB_ACK_ACCEPT, 1, NULL), MQB_OK);
	assert_int_equal(mqb_share_acquire(s, B, 32, 1000, 1, got), 8);
	assert_int_equal(got[0].offset, 8);
	/* the ring wraps many times with interleaved partial acks */
	for (int i = 0; i < 1000; i++) {
		int64_t first = 8 + (int64_t)i * 4;
		assert_int_equal(ack1(s, B, first + 2, first + 3, MQB_ACK_ACCEPT, 2, NULL), MQB_OK);
		assert_int_equal(ack1(s, B, first, first + 1, MQB_ACK_ACCEPT, 2, NULL), MQB_OK);
		assert_int_equal(mqb_share_acquire(s, B, 32, 100000, 2, got), 4);
		assert_int_equal(got[0].offset, first + 8);
	}
	mqb_share_stats(s, 2, &st);
	assert_int_equal(st.speo - st.spso, 8);
	assert_int_equal(st.acquired, 8);
	mqb_share_destroy(s);
}

static void test_reset(void **state)
{
	mqb_share_t *s = mk(0, 16, 5, 1000);
	mqb_share_acquired_t got[4];

	(void)state;
	assert_int_equal(mqb_share_acquire(s, A, 4, 10, 0, got), 4);
	mqb_share_reset(s, 100);
	assert_int_equal(ack1(s, A, 0, 3, MQB_ACK_ACCEPT, 1, NULL), MQB_OK);   /* below: dup */
	assert_int_equal(mqb_share_next_deadline(s), INT64_MAX);
	assert_int_equal(mqb_share_acquire(s, A, 4, 102, 0, got), 2);
	assert_int_equal(got[0].offset, 100);
	mqb_share_destroy(s);
}

static void test_snapshot(void **state)
{
	mqb_share_t *s = mk(0, 16, 3, 1000), *r = mk(0, 16, 3, 1000), *tiny = mk(0, 2, 3, 1000);
	mqb_share_acquired_t got[8];
	mqb_part_state_t ps;
	struct dl d = { .n = 0 };
	uint32_t dc;

	(void)state;
	assert_int_equal(mqb_share_acquire(s, A, 6, 6, 0, got), 6);   /* 0..5 */
	ack1(s, A, 1, 1, MQB_ACK_ACCEPT, 1, NULL);
	ack1(s, A, 2, 2, MQB_ACK_REJECT, 1, NULL);
	ack1(s, A, 3, 3, MQB_ACK_RELEASE, 1, NULL);
	assert_int_equal(mqb_share_acquire(s, B, 1, 6, 1, got), 1);   /* 3 again (2) */
	assert_int_equal(got[0].offset, 3);
	ack1(s, B, 3, 3, MQB_ACK_RELEASE, 1, NULL);
	assert_int_equal(mqb_share_acquire(s, B, 1, 6, 1, got), 1);   /* 3 again (3) */
	/* state: 0 acq(1) 1 ack 2 arch 3 acq(3) 4 acq(1) 5 acq(1) */
	assert_int_equal(mqb_share_export(s, &ps), MQB_OK);
	assert_int_equal(ps.start, 0);
	assert_int_equal(ps.end, 6);
	assert_int_equal(ps.n_recs, 6);
	assert_int_equal(ps.recs[0].state, MQB_REC_AVAILABLE);
	assert_int_equal(ps.recs[1].state, MQB_REC_ACKNOWLEDGED);
	assert_int_equal(ps.recs[2].state, MQB_REC_ARCHIVED);
	assert_int_equal(ps.recs[3].deliveries, 3);
	assert_int_equal(mqb_share_import(r, &ps), MQB_OK);
	assert_int_equal(mqb_share_record_state(r, 0, &dc, NULL), MQB_REC_AVAILABLE);
	assert_int_equal(dc, 1);
	assert_int_equal(mqb_share_record_state(r, 1, NULL, NULL), MQB_REC_ACKNOWLEDGED);
	/* record 3 had its last allowed delivery in flight: never handed out again, the
	 * first tick dead-letters it */
	assert_int_equal(mqb_share_acquire(r, A, 8, 6, 5, got), 3);   /* 0, 4, 5 */
	assert_int_equal(got[0].offset, 0);
	assert_int_equal(got[0].deliveries, 2);
	assert_int_equal(got[1].offset, 4);
	assert_int_equal(mqb_share_tick(r, 6, dl_cb, &d), 0);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.off[0], 3);
	assert_int_equal(d.why[0], MQB_FINISH_MAX_DELIVERIES);
	/* bad snapshots: no change */
	assert_int_equal(mqb_share_import(tiny, &ps), MQB_ERR_INVAL);   /* wider than window */
	ps.recs[2].offset = 1;
	assert_int_equal(mqb_share_import(r, &ps), MQB_ERR_INVAL);
	ps.recs[2].offset = 2;
	ps.recs[2].state = 9;
	assert_int_equal(mqb_share_import(r, &ps), MQB_ERR_INVAL);
	ps.recs[2].state = MQB_REC_ARCHIVED;
	ps.end = 5;
	assert_int_equal(mqb_share_import(r, &ps), MQB_ERR_INVAL);
	assert_int_equal(mqb_share_record_state(r, 0, NULL, NULL), MQB_REC_ACQUIRED);
	free(ps.recs);
	/* leading finished records in a snapshot are skipped at import */
	mqb_rec_state_entry_t recs[] = { { 7, MQB_REC_ACKNOWLEDGED, 1 }, { 8, MQB_REC_AVAILABLE, 2 } };
	mqb_part_state_t p2 = { .start = 7, .end = 9, .recs = recs, .n_recs = 2 };
	assert_int_equal(mqb_share_import(r, &p2), MQB_OK);
	mqb_share_stats_t st;
	mqb_share_stats(r, 0, &st);
	assert_int_equal(st.spso, 8);
	assert_int_equal(st.speo, 9);
	mqb_share_destroy(s);
	mqb_share_destroy(r);
	mqb_share_destroy(tiny);
}

/* Many members acquiring, acking, dying and expiring at random: invariants hold. */
static void test_random_invariants(void **state)
{
	mqb_share_t *s = mk(0, 32, 4, 50);
	mqb_share_acquired_t got[16];
	uint64_t x = 777;
	int64_t now = 0, log_end = 0;
	struct dl d = { .n = 0 };
	uint64_t finished_seen = 0;

	(void)state;
	for (int step = 0; step < 50000; step++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		uint32_t r = (uint32_t)(x >> 33);
		uint64_t m = 1 + (r % 4);
		now += r % 7;
		if (log_end < 5000 && r % 5 == 0)
			log_end += 3;
		switch ((r >> 8) % 5) {
		case 0: case 1: {
			int n = mqb_share_acquire(s, m, 1 + (r >> 12) % 8, log_end, now, got);
			assert_true(n >= 0);
			for (int i = 1; i < n; i++)
				assert_true(got[i].offset > got[i - 1].offset);
			for (int i = 0; i < n; i++)
				assert_true(got[i].deliveries >= 1 && got[i].deliveries <= 4);
			break;
		}
		case 2: {
			mqb_share_stats_t st;
			mqb_share_stats(s, now, &st);
			if (st.speo == st.spso)
				break;
			int64_t off = st.spso + (int64_t)((r >> 12) % (uint64_t)(st.speo - st.spso));
			uint64_t holder = 0;
			if (mqb_share_record_state(s, off, NULL, &holder) == MQB_REC_ACQUIRED) {
				/* another member never may */
				uint64_t other = holder % 4 + 1;
				assert_int_equal(ack1(s, other, off, off, MQB_ACK_ACCEPT, now, NULL),
						 MQB_ERR_PERM);
				int rc = ack1(s, holder, off, off, (mqb_ack_type_t)((r >> 20) % 3),
					      now, NULL);
				assert_true(rc == MQB_OK || rc == MQB_ERR_PERM);  /* PERM: expired */
			}
			break;
		}
		case 3:
			mqb_share_tick(s, now, dl_cb, &d);
			break;
		default:
			if (r % 17 == 0)
				mqb_share_member_left(s, m, dl_cb, &d);
			break;
		}
		if (d.n > 200) {
			finished_seen += d.n;
			d.n = 0;
		}
		mqb_share_stats_t st;
		mqb_share_stats(s, now, &st);
		assert_true(st.speo - st.spso <= 32);
		assert_true(st.speo <= log_end || st.speo == st.spso);
		assert_int_equal(st.available + st.acquired + st.acknowledged + st.archived,
				 (uint32_t)(st.speo - st.spso));
		if (st.speo > st.spso) {
			int first = mqb_share_record_state(s, st.spso, NULL, NULL);
			assert_true(first == MQB_REC_AVAILABLE || first == MQB_REC_ACQUIRED);
		}
	}
	mqb_share_stats_t st;
	mqb_share_stats(s, now, &st);
	assert_true(st.spso > 1000);        /* it made progress */
	assert_true(st.dead + st.rejected > 0);
	mqb_share_destroy(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_acquire_accept_spso),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_always_reject),
		cmocka_unit_test(test_always_release_dead_letter_at_max),
		cmocka_unit_test(test_lock_expiry),
		cmocka_unit_test(test_member_left),
		cmocka_unit_test(test_window_bound),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_snapshot),
		cmocka_unit_test(test_random_invariants),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
