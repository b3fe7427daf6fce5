/*
 * test_consume_exit.c — `mqbridge consume --count N` leaves cleanly, with a real
 * mosquitto, mqbridged and consume processes.
 *
 * The member stops after N records while mqbridged is still sending it more (prefetch
 * 100). libmosquitto closes the socket right after writing DISCONNECT; with records
 * still unread the kernel resets the connection and mosquitto drops whatever it had
 * not read yet: the last acks (those records are then redelivered to the next member,
 * committed falls behind what was printed), the leave and the DISCONNECT (the will
 * sends a second leave, refused as unknown_member). Each run here must commit exactly
 * what it printed and leave once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/integration/test_groups_util.h"

#define NREC  600
#define RUNS  6
#define COUNT 20

static const char *CONF =
	"streams = ( { name = \"t\"; partitions = 2; } );\n"
	"routes = ( { filter = \"t/+\"; stream = \"t\"; key = \"{1}\"; qos = 1; } );\n"
	"groups = ( { name = \"g\"; stream = \"t\"; start = \"earliest\"; prefetch = 100;\n"
	"             session_timeout_ms = 6000; heartbeat_interval_ms = 500; } );\n";

static gt_env_t e;
static bool passed;

static int setup(void **state)
{
	(void)state;
	if (gt_env_start(&e, CONF) != 0 || gt_daemon_start(&e) != 0) {
		gt_env_stop(&e, true);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	gt_env_stop(&e, !passed);
	return 0;
}

static int64_t unknown_member_errors(void)
{
	cJSON *d = gt_describe(&e, "g");
	int64_t n = -1;

	if (d) {
		cJSON *errs = cJSON_GetObjectItem(d, "errors");
		cJSON *um = cJSON_GetObjectItem(errs, "unknown_member");
		if (cJSON_IsNumber(um))
			n = (int64_t)cJSON_GetNumberValue(um);
		cJSON_Delete(d);
	}
	return n;
}

static void test_count_exit_commits_and_leaves_once(void **state)
{
	gt_pub_t pub = { 0 };
	char topic[64], payload[32];

	(void)state;
	assert_int_equal(gt_pub_open(&e, &pub, "ce-pub"), 0);
	for (int i = 0; i < NREC; i++) {
		snprintf(topic, sizeof(topic), "t/dev%d", i % 17);
		snprintf(payload, sizeof(payload), "%d", i);
		assert_int_equal(gt_pub(&pub, topic, payload), 0);
	}
	gt_pub_close(&pub);
	assert_int_equal(gt_wait_sum(&e, "g", "log_end", NREC, 20000), NREC);

	for (int k = 1; k <= RUNS; k++) {
		gt_member_t m;
		char id[32];
		const char *const extra[] = { "--count", "20", NULL };

		snprintf(id, sizeof(id), "ce%d", k);
		assert_int_equal(gt_member_start(&e, &m, "g", id, extra), 0);
		assert_int_equal(mqbt_wait(m.pid, 20000), 0);
		/* the acks of the printed records were handled before the leave */
		int64_t committed = gt_wait_sum(&e, "g", "committed", (int64_t)k * COUNT, 3000);
		print_message("run %d: committed %" PRId64 " (want %d), unknown_member errors "
			      "%" PRId64 "\n", k, committed, k * COUNT, unknown_member_errors());
		assert_int_equal(committed, (int64_t)k * COUNT);
	}
	/* one leave per member: the will never fired after a clean leave */
	mqbt_sleep_ms(300);
	assert_int_equal(unknown_member_errors(), 0);
	passed = true;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_count_exit_commits_and_leaves_once),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
