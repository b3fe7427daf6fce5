/*
 * test_groups_reload.c — groups changed by SIGHUP while mqbridged runs (real mosquitto,
 * the real daemon, real `mqbridge consume` members; docs/OPERATIONS.md "Reload"):
 *  - a group's prefetch and session timeout change live: GET /groups/<g> shows the new
 *    values and the member's prefetch follows (min of what it asked and the group's);
 *  - a group added live takes a member and consumes the stream from its start;
 *  - removing a group that has a member is refused for that group (logged, it keeps
 *    running and serving its member); once the member left, reloading the same file
 *    removes it (GET /groups/<g> 404) and a join is answered unknown_group;
 *  - the stream grows from 2 to 4 partitions while both groups have a member: ingest
 *    uses the new partitions, the exclusive group rebalances, the shared one delivers
 *    from all four;
 *  - a fixed key (a group's mode) is refused as "needs a restart", nothing changes;
 *  - the members' traces show every record of the added group delivered and accepted
 *    exactly once across the reloads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/integration/test_groups_util.h"

#define N1 30   /* published before the reloads */
#define N2 30   /* published after group "audit" was added */
#define N3 40   /* published after "orders" grew from 2 to 4 partitions */
#define NALL (N1 + N2 + N3)

static int nparts = 2;   /* orders' partitions in the files written */

#define BILLING(pf, st) "{ name = \"billing\"; stream = \"orders\"; assignor = \"range\"; " \
	"session_timeout_ms = " st "; heartbeat_interval_ms = 300; prefetch = " pf "; }"
#define AUDIT(mode) "{ name = \"audit\"; stream = \"orders\"; mode = \"" mode "\"; " \
	"session_timeout_ms = 4000; heartbeat_interval_ms = 300; }"

static gt_env_t e;
static gt_member_t m[2];
static bool passed;

static int teardown(void **state)
{
	(void)state;
	gt_teardown(&e, m, 2, passed);
	return 0;
}

static void write_conf(const char *groups)
{
	char text[4096], tmp[400];

	snprintf(text, sizeof(text),
		 "data_dir = \"%s/data\";\n"
		 "mqtt = { host = \"127.0.0.1\"; port = %d; client_id = \"mqb-test\"; };\n"
		 "stats = { listen = \"127.0.0.1:%d\"; };\n"
		 "streams = ( { name = \"orders\"; partitions = %d; } );\n"
		 "routes = ( { filter = \"orders/+\"; stream = \"orders\"; key = \"{1}\"; "
		 "qos = 1; } );\ngroups = ( %s );\n",
		 e.dir, e.broker.port, e.http_port, nparts, groups);
	snprintf(tmp, sizeof(tmp), "%s.tmp", e.conf);
	assert_int_equal(mqbt_write_file(tmp, text), 0);
	assert_int_equal(rename(tmp, e.conf), 0);
}

static int count_in_log(const char *needle)
{
	return mqbt_count_in_file(e.dlog, needle);
}

/* SIGHUP; wait for the reload's line expect (applied or refused). */
static void hup(const char *expect)
{
	if (mqbt_signal_wait_log(e.daemon, SIGHUP, e.dlog, expect, 20000) != 0) {
		char *log = mqbt_read_file(e.dlog, NULL);
		fprintf(stderr, "%s\n", log ? log : "(no log)");
		free(log);
		fail_msg("no \"%s\" after SIGHUP", expect);
	}
}

static double num(cJSON *o, const char *key)
{
	return cJSON_GetNumberValue(cJSON_GetObjectItem(o, key));
}

/* GET /groups/<g>: the first member's field, or the group's when member is false. */
static double group_field(const char *g, bool member, const char *key)
{
	cJSON *d = gt_describe(&e, g);
	double v = -1;

	if (d) {
		cJSON *o = member ? cJSON_GetArrayItem(cJSON_GetObjectItem(d, "members"), 0) : d;
		v = o ? num(o, key) : -1;
		cJSON_Delete(d);
	}
	return v;
}

static int members_of(const char *g)
{
	cJSON *d = gt_describe(&e, g);
	int n = d ? cJSON_GetArraySize(cJSON_GetObjectItem(d, "members")) : -1;

	cJSON_Delete(d);
	return n;
}

static void publish(gt_pub_t *pub, int from, int n)
{
	for (int i = from; i < from + n; i++) {
		char t[32], v[32];
		snprintf(t, sizeof(t), "orders/d%d", i % 7);
		snprintf(v, sizeof(v), "%d", i);
		assert_int_equal(gt_pub(pub, t, v), 0);
	}
}

static void test_groups_reload(void **state)
{
	gt_pub_t pub = { 0 };
	gt_trace_t tr;
	int status = 0;
	char *body = NULL;
	const char *const pf50[] = { "--prefetch", "50", NULL };

	(void)state;
	assert_int_equal(gt_env_start(&e, ""), 0);
	write_conf(BILLING("20", "4000"));
	assert_int_equal(gt_daemon_start(&e), 0);
	assert_int_equal(gt_pub_open(&e, &pub, "greload-pub"), 0);
	publish(&pub, 0, N1);
	assert_int_equal(gt_wait_sum(&e, "billing", "log_end", N1, 20000), N1);

	/* billing's member asks for 50; the group allows 20 */
	assert_int_equal(gt_member_start(&e, &m[0], "billing", "b1", pf50), 0);
	assert_int_equal(gt_wait_sum(&e, "billing", "committed", N1, 20000), N1);
	assert_int_equal((int)group_field("billing", true, "prefetch"), 20);

	/* live: billing's prefetch 20 -> 5 and session timeout; audit added */
	write_conf(BILLING("5", "6000") ", " AUDIT("shared"));
	hup("configuration reloaded from");
	/* rebalance_timeout_ms follows session_timeout_ms when not set */
	assert_int_equal(count_in_log("group billing: reloaded: session_timeout_ms 4000 -> 6000, "
				      "rebalance_timeout_ms 4000 -> 6000, prefetch 20 -> 5"), 1);
	assert_int_equal(count_in_log("group audit: added on stream orders"), 1);
	assert_int_equal((int)group_field("billing", false, "prefetch"), 5);
	assert_int_equal((int)group_field("billing", false, "session_timeout_ms"), 6000);
	assert_int_equal((int)group_field("billing", true, "prefetch"), 5);
	assert_int_equal(members_of("audit"), 0);
	assert_int_equal(gt_member_start(&e, &m[1], "audit", "a1", NULL), 0);
	publish(&pub, N1, N2);
	assert_int_equal(gt_wait_sum(&e, "audit", "committed", N1 + N2, 20000), N1 + N2);
	assert_int_equal(gt_wait_sum(&e, "billing", "committed", N1 + N2, 20000), N1 + N2);

	/* more partitions while both groups have a member and records flow: existing
	 * records stay, ingest spreads new keys over 4, both groups consume all 4 */
	nparts = 4;
	write_conf(BILLING("5", "6000") ", " AUDIT("shared"));
	hup("configuration reloaded from");
	assert_int_equal(count_in_log("reload: stream orders now has 4 partitions"), 1);
	assert_int_equal(count_in_log("group billing: stream orders now has 4 partitions "
				      "(was 2): rebalancing"), 1);
	publish(&pub, N1 + N2, N3);
	assert_int_equal(gt_wait_sum(&e, "audit", "log_end", NALL, 20000), NALL);
	{
		cJSON *dd = gt_describe(&e, "audit");
		assert_non_null(dd);
		assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(dd, "partitions")), 4);
		int64_t in_new = 0;
		cJSON *pp;
		cJSON_ArrayForEach(pp, cJSON_GetObjectItem(dd, "partitions"))
			if (num(pp, "partition") >= 2)
				in_new += (int64_t)num(pp, "log_end");
		assert_true(in_new > 0);          /* some keys moved to the new partitions */
		cJSON_Delete(dd);
	}
	assert_int_equal(gt_wait_sum(&e, "audit", "committed", NALL, 20000), NALL);
	assert_int_equal(gt_wait_sum(&e, "billing", "committed", NALL, 20000), NALL);

	/* a fixed key: needs a restart, nothing changes (audit stays, billing's 5 too) */
	write_conf(BILLING("7", "6000") ", " AUDIT("exclusive"));
	hup("change(s) need a restart");
	assert_int_equal(count_in_log("reload: groups.audit.mode changed: needs a restart"), 1);
	assert_int_equal((int)group_field("billing", false, "prefetch"), 5);

	/* audit removed while a1 is a member: kept for it, with an error line */
	write_conf(BILLING("5", "6000"));
	hup("configuration reloaded from");
	assert_int_equal(count_in_log("group audit: not removed: it has 1 member(s)"), 1);
	assert_int_equal(members_of("audit"), 1);
	/* a1 leaves; the same file again removes audit */
	assert_int_equal(mqbt_stop(m[1].pid, 10000), 0);
	m[1].pid = 0;
	for (int i = 0; i < 100 && members_of("audit") != 0; i++)
		mqbt_sleep_ms(50);
	assert_int_equal(members_of("audit"), 0);
	hup("configuration reloaded from");
	assert_int_equal(count_in_log("group audit: removed (no members)"), 1);
	assert_int_equal(mqbt_http_get(e.http_port, "/groups/audit", &status, &body), 0);
	free(body);
	assert_int_equal(status, 404);
	assert_int_equal(members_of("billing"), 1);   /* billing untouched by all this */

	/* audit's member trace: each of the NALL records once, in all 4 partitions */
	assert_int_equal(gt_trace_load(m[1].trace, &tr), 0);
	{
		int got[4][NALL] = { { 0 } }, recs = 0;
		for (size_t i = 0; i < tr.n; i++)
			if (tr.ev[i].kind == 'R') {
				assert_true(tr.ev[i].part >= 0 && tr.ev[i].part < 4);
				assert_true(tr.ev[i].off >= 0 && tr.ev[i].off < NALL);
				got[tr.ev[i].part][tr.ev[i].off]++;
				recs++;
			}
		int per_part = 0;
		for (int p = 0; p < 4; p++)
			for (int o = 0; o < NALL; o++) {
				assert_true(got[p][o] <= 1);
				per_part += got[p][o];
			}
		assert_int_equal(recs, NALL);
		assert_int_equal(per_part, NALL);
	}
	gt_trace_free(&tr);
	gt_pub_close(&pub);
	passed = true;
}

/* A daemon started without groups runs no groups transport: the first group needs a
 * restart, said so, and nothing of the file applies. */
static void test_first_group_needs_restart(void **state)
{
	(void)state;
	passed = false;
	nparts = 2;
	assert_int_equal(gt_env_start(&e, ""), 0);
	{
		char text[2048];
		snprintf(text, sizeof(text),
			 "data_dir = \"%s/data\";\n"
			 "mqtt = { host = \"127.0.0.1\"; port = %d; client_id = \"mqb-test\"; };\n"
			 "stats = { listen = \"127.0.0.1:%d\"; };\n"
			 "streams = ( { name = \"orders\"; partitions = 2; } );\n"
			 "routes = ( { filter = \"orders/+\"; stream = \"orders\"; qos = 1; } );\n",
			 e.dir, e.broker.port, e.http_port);
		assert_int_equal(mqbt_write_file(e.conf, text), 0);
	}
	assert_int_equal(gt_daemon_start(&e), 0);
	write_conf(AUDIT("shared"));
	hup("change(s) need a restart");
	assert_int_equal(count_in_log("reload: groups added: needs a restart"), 1);
	assert_null(gt_describe(&e, "audit"));
	passed = true;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_groups_reload, teardown),
		cmocka_unit_test_teardown(test_first_group_needs_restart, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
