/*
 * test_assignor.c — the four assignors against Kafka's documented examples, plus
 * property checks over many random group changes (exactly-once, balance, sticky moves
 * the fewest, cooperative hand-over never double-owns).
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
#include "bridge/groups/assignor.h"

#define M(id) { .member_id = (id), .instance_id = NULL }

/* partitions of member m as a string "0,1,2" */
static const char *parts_of(const int32_t *owner, int32_t n, int32_t m)
{
	static char buf[1024];
	size_t len = 0;

	buf[0] = '\0';
	for (int32_t p = 0; p < n; p++)
		if (owner[p] == m)
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%d",
						len ? "," : "", p);
	return buf;
}

static void test_find(void **state)
{
	(void)state;
	assert_ptr_equal(mqb_assignor_find("range"), &mqb_assignor_range);
	assert_ptr_equal(mqb_assignor_find("roundrobin"), &mqb_assignor_roundrobin);
	assert_ptr_equal(mqb_assignor_find("sticky"), &mqb_assignor_sticky);
	assert_ptr_equal(mqb_assignor_find("cooperative-sticky"),
			 &mqb_assignor_cooperative_sticky);
	assert_true(mqb_assignor_cooperative_sticky.cooperative);
	assert_false(mqb_assignor_sticky.cooperative);
	assert_null(mqb_assignor_find("Range"));
	assert_null(mqb_assignor_find(""));
	assert_null(mqb_assignor_find(NULL));
}

/* Kafka RangeAssignor javadoc: C0, C1, topic with 3 partitions -> C0 [0,1], C1 [2]. */
static void test_range_kafka_example(void **state)
{
	mqb_assign_member_t m[] = { M("C1"), M("C0") };   /* unsorted on purpose */
	int32_t owner[3];

	(void)state;
	assert_int_equal(mqb_assignor_range.assign(m, 2, 3, NULL, owner), MQB_OK);
	assert_string_equal(parts_of(owner, 3, 1), "0,1");   /* C0 */
	assert_string_equal(parts_of(owner, 3, 0), "2");     /* C1 */

	/* 3 members, 8 partitions: 3,3,2 */
	mqb_assign_member_t m3[] = { M("c"), M("a"), M("b") };
	int32_t o8[8];
	assert_int_equal(mqb_assignor_range.assign(m3, 3, 8, NULL, o8), MQB_OK);
	assert_string_equal(parts_of(o8, 8, 1), "0,1,2");
	assert_string_equal(parts_of(o8, 8, 2), "3,4,5");
	assert_string_equal(parts_of(o8, 8, 0), "6,7");

	/* more members than partitions: the last members get nothing */
	int32_t o2[2];
	assert_int_equal(mqb_assignor_range.assign(m3, 3, 2, NULL, o2), MQB_OK);
	assert_string_equal(parts_of(o2, 2, 1), "0");
	assert_string_equal(parts_of(o2, 2, 2), "1");
	assert_string_equal(parts_of(o2, 2, 0), "");
}

/* RoundRobinAssignor: C0, C1 and 3 partitions -> C0 [0,2], C1 [1]; 3 members, 7. */
static void test_roundrobin_kafka_example(void **state)
{
	mqb_assign_member_t m[] = { M("C1"), M("C0") };
	mqb_assign_member_t m3[] = { M("C2"), M("C0"), M("C1") };
	int32_t owner[7];

	(void)state;
	assert_int_equal(mqb_assignor_roundrobin.assign(m, 2, 3, NULL, owner), MQB_OK);
	assert_string_equal(parts_of(owner, 3, 1), "0,2");
	assert_string_equal(parts_of(owner, 3, 0), "1");
	/* the RoundRobinAssignor javadoc: C0, C1; t0, t1 with 3 partitions each, which as
	 * one stream in topic order (t0p0..t1p2 = 0..5) gives C0 [t0p0, t0p2, t1p1],
	 * C1 [t0p1, t1p0, t1p2] */
	assert_int_equal(mqb_assignor_roundrobin.assign(m, 2, 6, NULL, owner), MQB_OK);
	assert_string_equal(parts_of(owner, 6, 1), "0,2,4");
	assert_string_equal(parts_of(owner, 6, 0), "1,3,5");
	assert_int_equal(mqb_assignor_roundrobin.assign(m3, 3, 7, NULL, owner), MQB_OK);
	assert_string_equal(parts_of(owner, 7, 1), "0,3,6");
	assert_string_equal(parts_of(owner, 7, 2), "1,4");
	assert_string_equal(parts_of(owner, 7, 0), "2,5");
}

/* Kafka's MemberInfo order: static members (by instance id) before dynamic ones. */
static void test_member_order_static_first(void **state)
{
	mqb_assign_member_t m[] = {
		{ .member_id = "a", .instance_id = NULL },
		{ .member_id = "z", .instance_id = "inst-2" },
		{ .member_id = "b", .instance_id = NULL },
		{ .member_id = "y", .instance_id = "inst-1" },
	};
	size_t idx[4];
	int32_t owner[4];

	(void)state;
	assert_int_equal(mqb_assign_member_order(m, 4, idx), MQB_OK);
	assert_int_equal(idx[0], 3);
	assert_int_equal(idx[1], 1);
	assert_int_equal(idx[2], 0);
	assert_int_equal(idx[3], 2);
	assert_int_equal(mqb_assignor_range.assign(m, 4, 4, NULL, owner), MQB_OK);
	assert_int_equal(owner[0], 3);
	assert_int_equal(owner[1], 1);
	assert_int_equal(owner[2], 0);
	assert_int_equal(owner[3], 2);
}

/*
 * Kafka StickyAssignor javadoc example, flattened to one stream: t0..t3 with 2
 * partitions each = partitions 0..7 (tNpK = 2N+K). Before: C0 [t0p0,t1p1,t3p0],
 * C1 [t0p1,t2p0,t3p1], C2 [t1p0,t2p1]. C1 leaves. Sticky result in the javadoc:
 * C0 [t0p0,t1p1,t3p0,t2p0], C2 [t1p0,t2p1,t0p1,t3p1].
 */
static void test_sticky_kafka_example(void **state)
{
	mqb_assign_member_t m[] = { M("C0"), M("C2") };
	/* previous owners mapped to the current members: C1 (gone) -> -1 */
	int32_t prev[8] = { 0, -1, 1, 0, -1, 1, 0, -1 };
	int32_t owner[8];

	(void)state;
	assert_int_equal(mqb_assignor_sticky.assign(m, 2, 8, prev, owner), MQB_OK);
	assert_string_equal(parts_of(owner, 8, 0), "0,3,4,6");
	assert_string_equal(parts_of(owner, 8, 1), "1,2,5,7");
	/* roundrobin would have moved C0's t1p1 (3) and C2's t1p0 (2) */
	int32_t rr[8];
	assert_int_equal(mqb_assignor_roundrobin.assign(m, 2, 8, prev, rr), MQB_OK);
	assert_string_equal(parts_of(rr, 8, 0), "0,2,4,6");
}

/* A static member that comes back (new member id, same instance id) keeps its own. */
static void test_sticky_static_member_returns(void **state)
{
	mqb_assign_member_t m[] = {
		{ .member_id = "m-a", .instance_id = NULL },
		{ .member_id = "m-new", .instance_id = "sensor-reader-1" },
		{ .member_id = "m-c", .instance_id = NULL },
	};
	/* the runtime maps instance "sensor-reader-1" (previously member id m-old) to 1 */
	int32_t prev[6] = { 1, 1, 0, 0, 2, 2 };
	int32_t owner[6];

	(void)state;
	assert_int_equal(mqb_assignor_sticky.assign(m, 3, 6, prev, owner), MQB_OK);
	assert_memory_equal(owner, prev, sizeof(prev));
	assert_int_equal(mqb_assignor_cooperative_sticky.assign(m, 3, 6, prev, owner), MQB_OK);
	assert_memory_equal(owner, prev, sizeof(prev));
}

static void test_bad_input(void **state)
{
	mqb_assign_member_t m[] = { M("a"), M("b") };
	mqb_assign_member_t bad[] = { M("a"), { .member_id = NULL, .instance_id = NULL } };
	int32_t prev[3] = { 0, 2, -1 }, prev2[3] = { 0, -2, 1 };
	int32_t owner[3] = { 7, 7, 7 };
	const mqb_assignor_t *all[] = { &mqb_assignor_range, &mqb_assignor_roundrobin,
					&mqb_assignor_sticky, &mqb_assignor_cooperative_sticky };

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(all[i]->assign(m, 2, 3, prev, owner), MQB_ERR_INVAL);
		assert_int_equal(all[i]->assign(m, 2, 3, prev2, owner), MQB_ERR_INVAL);
		assert_int_equal(all[i]->assign(bad, 2, 3, NULL, owner), MQB_ERR_INVAL);
		assert_int_equal(all[i]->assign(m, 2, -1, NULL, owner), MQB_ERR_INVAL);
		/* no members: nobody owns anything */
		assert_int_equal(all[i]->assign(NULL, 0, 3, NULL, owner), MQB_OK);
		for (int p = 0; p < 3; p++)
			assert_int_equal(owner[p], -1);
		assert_int_equal(all[i]->assign(m, 2, 0, NULL, NULL), MQB_OK);
	}
}

/* --- properties ------------------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

/* Brute force: the most partitions that can stay with their owner in a balanced
 * assignment, trying every choice of which members get the larger quota. */
static size_t brute_max_kept(size_t n, int32_t P, const int32_t *prev)
{
	size_t cnt[32] = { 0 }, best = 0, base = (size_t)P / n, extra = (size_t)P % n;

	for (int32_t p = 0; p < P; p++)
		if (prev[p] >= 0)
			cnt[prev[p]]++;
	for (uint32_t mask = 0; mask < (1u << n); mask++) {
		size_t kept = 0;
		if ((size_t)__builtin_popcount(mask) != extra)
			continue;
		for (size_t i = 0; i < n; i++) {
			size_t q = base + ((mask >> i) & 1);
			kept += cnt[i] < q ? cnt[i] : q;
		}
		if (kept > best)
			best = kept;
	}
	return best;
}

static void check_valid_balanced(const int32_t *owner, size_t n, int32_t P)
{
	size_t cnt[32] = { 0 }, lo = SIZE_MAX, hi = 0;

	for (int32_t p = 0; p < P; p++) {
		assert_true(owner[p] >= 0 && (size_t)owner[p] < n);   /* exactly one owner */
		cnt[owner[p]]++;
	}
	for (size_t i = 0; i < n; i++) {
		if (cnt[i] < lo) lo = cnt[i];
		if (cnt[i] > hi) hi = cnt[i];
	}
	assert_true(hi - lo <= 1);
}

static void test_properties_random(void **state)
{
	char ids[32][16];
	mqb_assign_member_t m[32];
	int32_t prev[64], owner[64], again[64], now_owner[64];
	bool revoked[64];
	const mqb_assignor_t *all[] = { &mqb_assignor_range, &mqb_assignor_roundrobin,
					&mqb_assignor_sticky, &mqb_assignor_cooperative_sticky };
	size_t sticky_moves_total = 0, cases = 0;

	(void)state;
	for (int iter = 0; iter < 3000; iter++) {
		size_t n = 1 + rnd(20);
		int32_t P = 1 + (int32_t)rnd(64);
		int history = rnd(4);

		for (size_t i = 0; i < n; i++) {
			snprintf(ids[i], sizeof(ids[i]), "m%03u", rnd(1000));
			snprintf(ids[i] + 4, sizeof(ids[i]) - 4, "-%zu", i);  /* unique */
			m[i].member_id = ids[i];
			m[i].instance_id = rnd(4) == 0 ? ids[i] + 1 : NULL;
		}
		/* previous owners: 0 none, 1 random (departures -> -1), 2 balanced by a
		 * previous sticky run then some members leave/arrive, 3 all on one member */
		for (int32_t p = 0; p < P; p++) {
			switch (history) {
			case 0: prev[p] = -1; break;
			case 1: prev[p] = rnd(3) == 0 ? -1 : (int32_t)rnd((uint32_t)n); break;
			case 2: prev[p] = (int32_t)(((size_t)p * 7 + 3) % n);
				if (rnd(5) == 0) prev[p] = -1;
				break;
			default: prev[p] = 0; break;
			}
		}
		bool brute_done = false;
		size_t brute_min = 0;
		for (size_t a = 0; a < 4; a++) {
			assert_int_equal(all[a]->assign(m, n, P, prev, owner), MQB_OK);
			check_valid_balanced(owner, n, P);
			/* deterministic */
			assert_int_equal(all[a]->assign(m, n, P, prev, again), MQB_OK);
			assert_memory_equal(owner, again, (size_t)P * sizeof(int32_t));
			if (!all[a]->cooperative && a != 2)
				continue;
			/* sticky: exactly the minimum number of moves */
			size_t owned = 0, moved = 0;
			for (int32_t p = 0; p < P; p++) {
				owned += prev[p] >= 0;
				moved += prev[p] >= 0 && prev[p] != owner[p];
			}
			if (!brute_done) {   /* exhaustive search is 2^n: once per case, n <= 16 */
				brute_min = n <= 16 ? owned - brute_max_kept(n, P, prev)
						    : mqb_assign_min_moves(n, P, prev);
				brute_done = true;
			}
			assert_int_equal(moved, brute_min);
			assert_int_equal(mqb_assign_min_moves(n, P, prev), brute_min);
			sticky_moves_total += moved;
			/* stable: a second run from its own result moves nothing */
			assert_int_equal(all[a]->assign(m, n, P, owner, again), MQB_OK);
			assert_memory_equal(owner, again, (size_t)P * sizeof(int32_t));
			/* cooperative hand-over: nothing handed out while another owns it */
			size_t nrev = mqb_assign_cooperative(P, prev, owner, now_owner, revoked);
			assert_int_equal(nrev, moved);
			for (int32_t p = 0; p < P; p++) {
				if (revoked[p]) {
					assert_int_equal(now_owner[p], -1);
					assert_true(prev[p] >= 0 && prev[p] != owner[p]);
				} else {
					assert_int_equal(now_owner[p], owner[p]);
					assert_true(prev[p] == -1 || prev[p] == owner[p]);
				}
			}
			/* the follow-up rebalance (prev = what was handed out now) revokes
			 * nothing and keeps everything handed out: it converges */
			int32_t follow[64], now2[64];
			assert_int_equal(all[a]->assign(m, n, P, now_owner, follow), MQB_OK);
			check_valid_balanced(follow, n, P);
			assert_int_equal(mqb_assign_cooperative(P, now_owner, follow, now2, NULL), 0);
			for (int32_t p = 0; p < P; p++)
				if (now_owner[p] >= 0)
					assert_int_equal(follow[p], now_owner[p]);
			cases++;
		}
	}
	assert_true(cases > 1000);
	assert_true(sticky_moves_total > 0);   /* the generator did exercise moves */
}

/* Members leaving and arriving one at a time, sticky keeps everything it can. */
static void test_sticky_churn(void **state)
{
	char ids[12][8];
	mqb_assign_member_t m[12];
	int32_t owner[12], next[12], prev_map[12];
	size_t n = 4;

	(void)state;
	for (int i = 0; i < 12; i++) {
		snprintf(ids[i], sizeof(ids[i]), "c%02d", i);
		m[i].member_id = ids[i];
		m[i].instance_id = NULL;
	}
	assert_int_equal(mqb_assignor_sticky.assign(m, n, 12, NULL, owner), MQB_OK);
	for (int p = 0; p < 12; p++)
		assert_int_equal(owner[p], p % 4);   /* empty history: dealt like roundrobin */
	/* member 3 (c03: 3,7,11) leaves: the others keep theirs and get one of its each */
	for (int p = 0; p < 12; p++)
		prev_map[p] = owner[p] == 3 ? -1 : owner[p];
	assert_int_equal(mqb_assignor_sticky.assign(m, 3, 12, prev_map, next), MQB_OK);
	for (int p = 0; p < 12; p++)
		if (prev_map[p] >= 0)
			assert_int_equal(next[p], owner[p]);
	assert_string_equal(parts_of(next, 12, 0), "0,3,4,8");
	assert_string_equal(parts_of(next, 12, 1), "1,5,7,9");
	assert_string_equal(parts_of(next, 12, 2), "2,6,10,11");
	/* a new member c04 arrives (index 3 again in the array): it takes one partition
	 * from each (the highest numbered), nothing else moves */
	m[3].member_id = "c04";
	assert_int_equal(mqb_assignor_sticky.assign(m, 4, 12, next, owner), MQB_OK);
	assert_int_equal(mqb_assign_min_moves(4, 12, next), 3);
	assert_string_equal(parts_of(owner, 12, 0), "0,3,4");
	assert_string_equal(parts_of(owner, 12, 1), "1,5,7");
	assert_string_equal(parts_of(owner, 12, 2), "2,6,10");
	assert_string_equal(parts_of(owner, 12, 3), "8,9,11");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_range_kafka_example),
		cmocka_unit_test(test_roundrobin_kafka_example),
		cmocka_unit_test(test_member_order_static_first),
		cmocka_unit_test(test_sticky_kafka_example),
		cmocka_unit_test(test_sticky_static_member_returns),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_sticky_churn),
		cmocka_unit_test(test_properties_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
