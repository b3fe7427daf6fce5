/*
 * test_groups.c — a consumer group under churn, end to end: real mosquitto, real
 * mqbridged (ingest + coordinator), real `mqbridge consume` members.
 *
 * 4 members consume a 12-partition stream (20,000 records; MQB_GROUPS_FULL=1 for
 * 100,000) with the cooperative-sticky assignor (and again with range + eager); while they consume, one member is
 * killed with SIGKILL (only its will tells), one joins, and one leaves cleanly. From
 * the members' traces the test checks: every record accepted at least once; no
 * partition owned by two members in one generation; per-partition order (contiguous
 * offsets) within each ownership period; duplicates only for records in flight at a
 * hand-over (redeliveries, counted and printed); and members not affected by a
 * cooperative rebalance keep consuming without a gap longer than one heartbeat
 * interval.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <time.h>

#include "tests/integration/test_groups_util.h"

#define PARTS 12
#define HB_MS 1000
#define MAX_GEN 256

static const char *CONF_EAGER =
	"streams = ( { name = \"orders\"; partitions = 12; flush = { interval_ms = 50; }; } );\n"
	"routes = ( { filter = \"orders/+\"; stream = \"orders\"; key = \"{1}\"; qos = 1; } );\n"
	"groups = ( { name = \"billing\"; stream = \"orders\"; assignor = \"range\";\n"
	"             rebalance = \"eager\"; session_timeout_ms = 6000;\n"
	"             heartbeat_interval_ms = 1000; rebalance_timeout_ms = 3000; prefetch = 100; } );\n";

static const char *CONF =
	"streams = ( { name = \"orders\"; partitions = 12; flush = { interval_ms = 50; }; } );\n"
	"routes = ( { filter = \"orders/+\"; stream = \"orders\"; key = \"{1}\"; qos = 1; } );\n"
	"groups = ( { name = \"billing\"; stream = \"orders\"; assignor = \"cooperative-sticky\";\n"
	"             session_timeout_ms = 6000; heartbeat_interval_ms = 1000;\n"
	"             rebalance_timeout_ms = 3000; prefetch = 100; } );\n";

typedef struct window { int64_t from, to; } window_t;

static gt_env_t e;
static gt_member_t m[5];
static bool passed;

static int teardown(void **state)
{
	gt_teardown(&e, m, 5, passed);
	return 0;
}

static void churn(const char *conf, bool cooperative, int64_t n)
{
	gt_pub_t pub = { 0 };
	const char *slow[] = { "--ack-delay-ms", "1", NULL };
	int64_t t0 = mqbt_now_ms(), ev_last = 0;
	char topic[64], payload[64];

	passed = false;
	memset(m, 0, sizeof(m));
	assert_int_equal(gt_env_start(&e, conf), 0);
	assert_int_equal(gt_daemon_start(&e), 0);
	for (int i = 0; i < 4; i++) {
		char id[16];
		snprintf(id, sizeof(id), "c%d", i + 1);
		assert_int_equal(gt_member_start(&e, &m[i], "billing", id, slow), 0);
	}
	assert_int_equal(gt_pub_open(&e, &pub, "gt-pub"), 0);
	for (int64_t i = 0; i < n; i++) {
		snprintf(topic, sizeof(topic), "orders/dev%d", (int)(i % 240));
		snprintf(payload, sizeof(payload), "%" PRId64, i);
		assert_int_equal(gt_pub(&pub, topic, payload), 0);
	}
	gt_pub_close(&pub);
	assert_int_equal(gt_wait_sum(&e, "billing", "log_end", n, 60000), n);
	fprintf(stderr, "published and stored %" PRId64 " records in %" PRId64 " ms\n", n,
		mqbt_now_ms() - t0);

	/* churn while they consume */
	int stage = 0;
	int64_t deadline = mqbt_now_ms() + 150000, committed = 0;
	while (mqbt_now_ms() < deadline) {
		committed = gt_sum(&e, "billing", "committed");
		if (stage == 0 && committed >= n / 4) {
			mqbt_kill(m[1].pid, SIGKILL);          /* c2: only its will tells */
			mqbt_wait(m[1].pid, 5000);
			m[1].pid = 0;
			fprintf(stderr, "killed c2 at %" PRId64 " committed\n", committed);
			stage++;
		} else if (stage == 1 && committed >= n / 2) {
			assert_int_equal(gt_member_start(&e, &m[4], "billing", "c5", slow), 0);
			fprintf(stderr, "c5 joined at %" PRId64 " committed\n", committed);
			stage++;
		} else if (stage == 2 && committed >= n * 7 / 10) {
			mqbt_kill(m[2].pid, SIGTERM);          /* c3 leaves cleanly */
			assert_int_equal(mqbt_wait(m[2].pid, 10000), 0);
			m[2].pid = 0;
			fprintf(stderr, "c3 left at %" PRId64 " committed\n", committed);
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);   /* traces use wall-clock ms */
			ev_last = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
			stage++;
		}
		if (committed >= n)
			break;
		mqbt_sleep_ms(50);
	}
	fprintf(stderr, "committed %" PRId64 " of %" PRId64 " after %" PRId64 " ms\n", committed, n,
		mqbt_now_ms() - t0);
	assert_int_equal(stage, 3);
	assert_int_equal(committed, n);

	cJSON *d = gt_describe(&e, "billing");
	assert_non_null(d);
	int64_t log_end[PARTS];
	cJSON *pj;
	int k = 0;
	cJSON_ArrayForEach(pj, cJSON_GetObjectItem(d, "partitions"))
		log_end[k++] = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(pj, "log_end"));
	assert_int_equal(k, PARTS);
	int64_t rebalances = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(d, "rebalances"));
	int64_t redeliveries = 0;
	cJSON_ArrayForEach(pj, cJSON_GetObjectItem(d, "partitions"))
		redeliveries += (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(pj, "redeliveries"));
	cJSON_Delete(d);

	int alive[3] = { 0, 3, 4 };
	for (int i = 0; i < 3; i++) {
		mqbt_kill(m[alive[i]].pid, SIGTERM);
		assert_int_equal(mqbt_wait(m[alive[i]].pid, 10000), 0);
		m[alive[i]].pid = 0;
	}

	/* --- analysis of the five traces --------------------------------------------- */
	gt_trace_t tr[5];
	uint8_t *accepted[PARTS];
	uint16_t *seen[PARTS];
	for (int p = 0; p < PARTS; p++) {
		accepted[p] = calloc((size_t)log_end[p] + 1, 1);
		seen[p] = calloc((size_t)log_end[p] + 1, sizeof(uint16_t));
	}
	static int owner[MAX_GEN][PARTS];
	memset(owner, -1, sizeof(owner));
	int64_t dups = 0, bad_dups = 0, order_breaks = 0, conflicts = 0, max_gap[5] = { 0 };
	window_t win = { 0, ev_last + 500 };

	for (int i = 0; i < 5; i++) {
		assert_int_equal(gt_trace_load(m[i].trace, &tr[i]), 0);
		uint64_t cur = 0;
		int64_t last_off[PARTS], prev_r = 0;
		for (int p = 0; p < PARTS; p++)
			last_off[p] = -1;
		for (size_t j = 0; j < tr[i].n; j++) {
			gt_ev_t *v = &tr[i].ev[j];
			if (v->kind == 'A') {
				for (int p = 0; p < PARTS; p++) {
					if (!(v->assigned & (1ull << p)))
						continue;
					if (v->gen >= 0 && v->gen < MAX_GEN) {
						if (owner[v->gen][p] >= 0 && owner[v->gen][p] != i) {
							conflicts++;
							fprintf(stderr, "generation %" PRId64 ": partition %d owned by "
								"c%d and c%d\n", v->gen, p, owner[v->gen][p] + 1, i + 1);
						}
						owner[v->gen][p] = i;
					}
					if (!(cur & (1ull << p)))
						last_off[p] = -1;      /* a new ownership period */
				}
				cur = v->assigned;
			} else if (v->kind == 'R') {
				assert_true(v->part >= 0 && v->part < PARTS);
				assert_true(v->off >= 0 && v->off < log_end[v->part]);
				if (last_off[v->part] >= 0 && v->off != last_off[v->part] + 1) {
					order_breaks++;
					fprintf(stderr, "c%d partition %d: offset %" PRId64 " after %" PRId64 "\n",
						i + 1, v->part, v->off, last_off[v->part]);
				}
				last_off[v->part] = v->off;
				/* low byte: deliveries seen; high byte: first deliveries seen */
				if (seen[v->part][v->off] & 0xff)
					dups++;
				seen[v->part][v->off] += 1 + (v->delivery < 2 ? 0x100 : 0);
				if ((seen[v->part][v->off] >> 8) > 1)
					bad_dups++;    /* delivered "for the first time" twice */
				if (!win.from)
					win.from = v->ms;
				if (prev_r && v->ms <= win.to && v->ms - prev_r > max_gap[i])
					max_gap[i] = v->ms - prev_r;
				prev_r = v->ms;
			} else if (v->kind == 'K' && !strcmp(v->type, "accept")) {
				assert_true(v->part >= 0 && v->part < PARTS);
				assert_true(v->last < log_end[v->part]);
				for (int64_t o = v->off; o <= v->last; o++)
					accepted[v->part][o] = 1;
			}
		}
	}
	int64_t missing = 0;
	for (int p = 0; p < PARTS; p++)
		for (int64_t o = 0; o < log_end[p]; o++)
			missing += !accepted[p][o];
	fprintf(stderr, "records %" PRId64 ", rebalances %" PRId64 ", duplicates %" PRId64
		" (redeliveries counted by the bridge %" PRId64 "), order breaks %" PRId64
		", ownership conflicts %" PRId64 ", never accepted %" PRId64 "\n", n, rebalances,
		dups, redeliveries, order_breaks, conflicts, missing);
	fprintf(stderr, "longest gap between records while churning: c1 %" PRId64 " ms, c4 %"
		PRId64 " ms (heartbeat interval %d ms)\n", max_gap[0], max_gap[3], HB_MS);
	assert_int_equal(missing, 0);
	assert_int_equal(conflicts, 0);
	assert_int_equal(order_breaks, 0);
	assert_int_equal(bad_dups, 0);       /* every duplicate is a counted redelivery */
	assert_true(dups <= redeliveries);
	assert_true(rebalances >= 3);
	if (cooperative) {
		assert_true(max_gap[0] <= HB_MS);    /* c1 and c4 were never stopped */
		assert_true(max_gap[3] <= HB_MS);
	}
	for (int i = 0; i < 5; i++)
		gt_trace_free(&tr[i]);
	for (int p = 0; p < PARTS; p++) {
		free(accepted[p]);
		free(seen[p]);
	}
	passed = true;
}

static void test_churn_cooperative(void **state)
{
	churn(CONF, true, getenv("MQB_GROUPS_FULL") ? 100000 : 20000);
}

/* Eager: every rebalance stops everyone (no gap check); the rest must hold too. */
static void test_churn_eager(void **state)
{
	churn(CONF_EAGER, false, getenv("MQB_GROUPS_FULL") ? 100000 : 10000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_churn_cooperative, teardown),
		cmocka_unit_test_teardown(test_churn_eager, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
