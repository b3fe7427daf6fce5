/*
 * test_groups_restart.c — kill -9 of mqbridged while a group consumes: after the
 * restart the group resumes from its saved committed offsets (the daemon logs each
 * partition's resume point), the members rejoin on their own (the bridge answers their
 * heartbeats with unknown_member), nothing below a resume point is delivered again,
 * everything below it had been accepted before the kill, and every record ends up
 * accepted. Records accepted in the last save interval before the kill are delivered
 * again: that window is counted and printed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <time.h>

#include "tests/integration/test_groups_util.h"

#define PARTS 4

static const char *CONF =
	"streams = ( { name = \"orders\"; partitions = 4; flush = { interval_ms = 50; }; } );\n"
	"routes = ( { filter = \"orders/+\"; stream = \"orders\"; key = \"{1}\"; qos = 1; } );\n"
	"groups = ( { name = \"billing\"; stream = \"orders\"; assignor = \"range\";\n"
	"             session_timeout_ms = 6000; heartbeat_interval_ms = 300; prefetch = 50; } );\n";

static gt_env_t e;
static gt_member_t m[2];
static bool passed;

static int teardown(void **state)
{
	gt_teardown(&e, m, 2, passed);
	return 0;
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_kill9_daemon(void **state)
{
	gt_pub_t pub = { 0 };
	const char *slow[] = { "--ack-delay-ms", "1", NULL };
	const int64_t n = 8000;
	char topic[64], payload[64];

	assert_int_equal(gt_env_start(&e, CONF), 0);
	assert_int_equal(gt_daemon_start(&e), 0);
	assert_int_equal(gt_pub_open(&e, &pub, "gt-pub"), 0);
	for (int64_t i = 0; i < n; i++) {
		snprintf(topic, sizeof(topic), "orders/dev%d", (int)(i % 97));
		snprintf(payload, sizeof(payload), "%" PRId64, i);
		assert_int_equal(gt_pub(&pub, topic, payload), 0);
	}
	gt_pub_close(&pub);
	assert_int_equal(gt_wait_sum(&e, "billing", "log_end", n, 60000), n);
	assert_int_equal(gt_member_start(&e, &m[0], "billing", "k1", slow), 0);
	assert_int_equal(gt_member_start(&e, &m[1], "billing", "k2", slow), 0);

	int64_t c = gt_wait_sum(&e, "billing", "committed", n * 3 / 10, 60000);
	assert_true(c >= n * 3 / 10);
	int64_t kill_ms = wall_ms();
	mqbt_kill(e.daemon, SIGKILL);
	assert_int_equal(mqbt_wait(e.daemon, 5000), 128 + SIGKILL);
	e.daemon = 0;
	fprintf(stderr, "killed mqbridged at about %" PRId64 " committed\n", c);
	mqbt_sleep_ms(500);
	assert_int_equal(gt_daemon_start(&e), 0);
	int64_t done = gt_wait_sum(&e, "billing", "committed", n, 90000);
	fprintf(stderr, "after restart: committed %" PRId64 " of %" PRId64 "\n", done, n);
	assert_int_equal(done, n);
	for (int i = 0; i < 2; i++) {
		mqbt_kill(m[i].pid, SIGTERM);
		assert_int_equal(mqbt_wait(m[i].pid, 10000), 0);
		m[i].pid = 0;
	}

	/* resume points from the restarted daemon's log */
	int64_t resume[PARTS];
	size_t len;
	char *log = mqbt_read_file(e.dlog, &len);
	assert_non_null(log);
	for (int p = 0; p < PARTS; p++) {
		char needle[64];
		snprintf(needle, sizeof(needle), "orders-%d resumes at ", p);
		char *s = strstr(log, needle);
		if (!s)
			fail_msg("no resume line for partition %d in %s", p, e.dlog);
		resume[p] = atoll(s + strlen(needle));
	}
	free(log);

	/* traces: accepted before the kill; first deliveries of the new life */
	uint8_t *acc_before[PARTS], *acc_all[PARTS];
	int64_t first_new[PARTS], below = 0, again = 0;
	int64_t per = n;   /* upper bound of offsets per partition */
	for (int p = 0; p < PARTS; p++) {
		acc_before[p] = calloc((size_t)per, 1);
		acc_all[p] = calloc((size_t)per, 1);
		first_new[p] = -1;
	}
	for (int i = 0; i < 2; i++) {
		gt_trace_t t;
		bool new_life = false;
		assert_int_equal(gt_trace_load(m[i].trace, &t), 0);
		for (size_t j = 0; j < t.n; j++) {
			gt_ev_t *v = &t.ev[j];
			if (v->kind == 'E' && !strcmp(v->type, "unknown_member") && v->ms >= kill_ms)
				new_life = true;
			if (v->kind == 'K' && !strcmp(v->type, "accept")) {
				for (int64_t o = v->off; o <= v->last && o < per; o++) {
					acc_all[v->part][o] = 1;
					if (v->ms < kill_ms)
						acc_before[v->part][o] = 1;
				}
			}
			if (v->kind == 'R' && new_life) {
				if (first_new[v->part] < 0 || v->off < first_new[v->part])
					first_new[v->part] = v->off;
				if (v->off < resume[v->part])
					below++;
				if (acc_before[v->part][v->off])
					again++;
			}
		}
		gt_trace_free(&t);
	}
	int64_t missing = 0, unaccepted_below = 0;
	cJSON *d = gt_describe(&e, "billing");
	assert_non_null(d);
	cJSON *pj;
	int k = 0;
	cJSON_ArrayForEach(pj, cJSON_GetObjectItem(d, "partitions")) {
		int64_t le = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(pj, "log_end"));
		for (int64_t o = 0; o < le; o++)
			missing += !acc_all[k][o];
		for (int64_t o = 0; o < resume[k]; o++)
			unaccepted_below += !acc_before[k][o];
		fprintf(stderr, "partition %d: resumed at %" PRId64 ", first delivery after restart %"
			PRId64 ", log end %" PRId64 "\n", k, resume[k], first_new[k], le);
		if (resume[k] < le)
			assert_int_equal(first_new[k], resume[k]);
		k++;
	}
	cJSON_Delete(d);
	fprintf(stderr, "redelivered after restart although accepted before the kill (last save "
		"interval): %" PRId64 "; delivered below a resume point: %" PRId64 "\n", again, below);
	assert_int_equal(below, 0);
	assert_int_equal(unaccepted_below, 0);
	assert_int_equal(missing, 0);
	for (int p = 0; p < PARTS; p++) {
		free(acc_before[p]);
		free(acc_all[p]);
	}
	passed = true;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_kill9_daemon, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
