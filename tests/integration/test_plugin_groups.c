/*
 * test_plugin_groups.c — consumer groups served inside the broker (plugin mode), with a
 * real mosquitto loading mqbridge_plugin.so and real `mqbridge consume` members:
 *  - two members share a 4-partition stream; one is killed (-9) mid-stream: the broker
 *    reports the disconnect, its partitions move to the survivor at once (well before
 *    the session timeout), and every stored record is delivered (what the dead one had
 *    not acked comes again) and committed; a broker SIGTERM closes the store cleanly
 *    and the committed positions survive the restart;
 *  - member id == client id: a join, leave or heartbeat naming another client's member
 *    id is refused (PUBACK 0x87 to the MQTT 5 publisher, error "not_authorized" on the
 *    publisher's own error topic, counted per group and in /metrics) and changes
 *    nothing; the same client joining and leaving as itself is accepted;
 *  - with per_listener_settings true (no MOSQ_EVT_TICK from mosquitto 2.0.11) the
 *    messages tick the coordinator: records still flow;
 *  - plugin_opt_config missing, or naming a file that does not exist: mosquitto refuses
 *    to start, with the reason in its log, and exits (no crash).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/integration/test_groups_util.h"
#include "tests/support/plugin_fx.h"

#define NREC 3000
#define NPART 4

static const char *CONF =
	"streams = ( { name = \"t\"; partitions = 4; } );\n"
	"routes = ( { filter = \"t/+\"; stream = \"t\"; key = \"{1}\"; } );\n"
	"groups = ( { name = \"g\"; stream = \"t\"; start = \"earliest\"; prefetch = 50;\n"
	"             session_timeout_ms = 20000; heartbeat_interval_ms = 500; } );\n";

static pf_broker_t pb;
static gt_env_t e;            /* the groups helpers' view of the plugin's broker */
static gt_member_t mem[2];
static bool passed;

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++)
		if (mem[i].pid > 0) {
			mqbt_kill(mem[i].pid, SIGKILL);
			mqbt_wait(mem[i].pid, 5000);
			mem[i].pid = 0;
		}
	if (!passed && pb.b.log_path[0])
		pf_dump_log(&pb);
	pf_destroy(&pb);
	memset(&e, 0, sizeof e);
	passed = false;
	return 0;
}

static void start_plugin(void)
{
	assert_int_equal(pf_config(&pb, CONF), 0);
	assert_int_equal(pf_start(&pb, "max_queued_messages 100000\n"), 0);
	memset(&e, 0, sizeof e);
	snprintf(e.dir, sizeof e.dir, "%s", pb.dir);
	e.broker.port = pb.b.port;
	e.http_port = pb.stats_port;
}

/* Members of g (not departed) in GET /groups/g; -1 on error. */
static int members(void)
{
	cJSON *d = gt_describe(&e, "g"), *m;
	int n = 0;

	if (!d)
		return -1;
	cJSON_ArrayForEach(m, cJSON_GetObjectItem(d, "members"))
		if (!cJSON_IsTrue(cJSON_GetObjectItem(m, "departed")))
			n++;
	cJSON_Delete(d);
	return n;
}

static int wait_members(int want, int timeout_ms)
{
	int64_t end = mqbt_now_ms() + timeout_ms;
	int n = -1;

	while (mqbt_now_ms() < end && (n = members()) != want)
		mqbt_sleep_ms(50);
	return n;
}

static int64_t group_number(const char *path1, const char *path2)
{
	cJSON *d = gt_describe(&e, "g"), *v;
	int64_t n = -1;

	if (!d)
		return -1;
	v = cJSON_GetObjectItem(d, path1);
	if (path2)
		v = cJSON_GetObjectItem(v, path2);
	if (cJSON_IsNumber(v))
		n = (int64_t)cJSON_GetNumberValue(v);
	cJSON_Delete(d);
	return n;
}

static void publish(int n)
{
	gt_pub_t pub = { 0 };
	char topic[64], payload[32];

	assert_int_equal(gt_pub_open(&e, &pub, "pg-pub"), 0);
	for (int i = 0; i < n; i++) {
		snprintf(topic, sizeof topic, "t/dev%d", i % 23);
		snprintf(payload, sizeof payload, "%d", i);
		assert_int_equal(gt_pub(&pub, topic, payload), 0);
	}
	gt_pub_close(&pub);
}

static void test_members_and_a_kill(void **state)
{
	const char *slow[] = { "--ack-delay-ms", "2", NULL };
	gt_trace_t tr[2];
	int64_t log_end[NPART] = { 0 }, t_kill, t_moved;
	cJSON *d, *p;
	bool *seen[NPART];
	long redelivered = 0;

	(void)state;
	start_plugin();
	assert_int_equal(gt_member_start(&e, &mem[0], "g", "pm-a", NULL), 0);
	assert_int_equal(gt_member_start(&e, &mem[1], "g", "pm-b", slow), 0);
	assert_int_equal(wait_members(2, 15000), 2);
	publish(NREC);
	assert_int_equal(gt_wait_sum(&e, "g", "log_end", NREC, 20000), NREC);
	/* kill b while it still holds records it has not acked */
	assert_true(gt_wait_sum(&e, "g", "committed", NREC / 4, 20000) >= NREC / 4);
	t_kill = mqbt_now_ms();
	mqbt_kill(mem[1].pid, SIGKILL);
	assert_int_equal(mqbt_wait(mem[1].pid, 5000), 128 + SIGKILL);
	mem[1].pid = 0;
	assert_int_equal(wait_members(1, 15000), 1);
	t_moved = mqbt_now_ms();
	/* the broker saw the disconnect: no wait for the 20 s session timeout */
	if (t_moved - t_kill > 5000)
		fail_msg("partitions moved %lld ms after the kill", (long long)(t_moved - t_kill));
	assert_int_equal(gt_wait_sum(&e, "g", "committed", NREC, 30000), NREC);

	d = gt_describe(&e, "g");
	assert_non_null(d);
	cJSON_ArrayForEach(p, cJSON_GetObjectItem(d, "partitions")) {
		int part = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(p, "partition"));
		if (part >= 0 && part < NPART)
			log_end[part] = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(p, "log_end"));
	}
	cJSON_Delete(d);
	for (int i = 0; i < NPART; i++) {
		seen[i] = calloc((size_t)log_end[i] + 1, 1);
		assert_non_null(seen[i]);
	}
	/* every stored record reached a member; the survivor got the dead one's share */
	for (int m = 0; m < 2; m++) {
		assert_int_equal(gt_trace_load(mem[m].trace, &tr[m]), 0);
		for (size_t i = 0; i < tr[m].n; i++) {
			gt_ev_t *ev = &tr[m].ev[i];
			if (ev->kind == 'R' && ev->part >= 0 && ev->part < NPART &&
			    ev->off >= 0 && ev->off < log_end[ev->part]) {
				seen[ev->part][ev->off] = true;
				if (ev->delivery > 1)
					redelivered++;
			}
		}
	}
	for (int i = 0; i < NPART; i++) {
		for (int64_t o = 0; o < log_end[i]; o++)
			if (!seen[i][o])
				fail_msg("partition %d offset %lld never delivered", i, (long long)o);
		free(seen[i]);
	}
	{
		uint64_t last = 0;
		for (size_t i = 0; i < tr[0].n; i++)
			if (tr[0].ev[i].kind == 'A')
				last = tr[0].ev[i].assigned;
		assert_int_equal(last, (1u << NPART) - 1);   /* a holds every partition now */
	}
	/* broker shutdown: the groups stop cleanly and their positions survive a restart */
	mqbt_kill(mem[0].pid, SIGTERM);
	assert_int_equal(mqbt_wait(mem[0].pid, 10000), 0);
	mem[0].pid = 0;
	assert_int_equal(mqbt_stop(pb.b.pid, 10000), 0);
	pb.b.pid = 0;
	{
		char *log = mqbt_read_file(pb.b.log_path, NULL);
		assert_non_null(log);
		if (!strstr(log, "store closed cleanly"))
			fail_msg("no clean stop in the log:\n%s", log);
		free(log);
	}
	assert_int_equal(mqbt_mosquitto_restart(&pb.b), 0);
	assert_int_equal(mqbt_wait_port(pb.stats_port, 10000), 0);
	assert_int_equal(gt_sum(&e, "g", "committed"), NREC);
	assert_true(redelivered > 0);   /* what b held unacked came again to a */
	print_message("plugin groups: %d records, b killed, partitions moved in %lld ms, %ld "
		      "redeliveries\n", NREC, (long long)(t_moved - t_kill), redelivered);
	gt_trace_free(&tr[0]);
	gt_trace_free(&tr[1]);
	passed = true;
}

/* per_listener_settings true: mosquitto 2.0.11 sends no MOSQ_EVT_TICK, the messages
 * (heartbeats, acks, records) tick the coordinator instead. */
static void test_no_tick_events(void **state)
{
	(void)state;
	assert_int_equal(pf_config(&pb, CONF), 0);
	assert_int_equal(pf_start_prefixed(&pb, "per_listener_settings true",
					   "max_queued_messages 100000\n"), 0);
	memset(&e, 0, sizeof e);
	snprintf(e.dir, sizeof e.dir, "%s", pb.dir);
	e.broker.port = pb.b.port;
	e.http_port = pb.stats_port;
	assert_int_equal(gt_member_start(&e, &mem[0], "g", "pm-a", NULL), 0);
	assert_int_equal(wait_members(1, 15000), 1);
	publish(500);
	assert_int_equal(gt_wait_sum(&e, "g", "committed", 500, 20000), 500);
	passed = true;
}

/* --- member id == client id -------------------------------------------------------- */

static char last_error[1024];
static atomic_int errors_seen;

static void on_msg(struct mosquitto *m, void *o, const struct mosquitto_message *msg,
		   const mosquitto_property *pr)
{
	(void)m; (void)o; (void)pr;
	if (strstr(msg->topic, "/members/intruder/error")) {
		snprintf(last_error, sizeof last_error, "%.*s", msg->payloadlen,
			 (const char *)msg->payload);
		atomic_fetch_add(&errors_seen, 1);
	}
}

/* Publish QoS 1 as pub and return the PUBACK reason code (-1: none in 5 s). */
static int send_rc(pf_pub_t *pub, const char *topic, const char *payload)
{
	int mid = 0;
	int64_t end = mqbt_now_ms() + 5000;

	if (pf_pub_send(pub, topic, payload, strlen(payload), 1, NULL, &mid) != 0)
		return -1;
	while (mqbt_now_ms() < end && atomic_load(&pub->rc_of_mid[mid]) < 0)
		mqbt_sleep_ms(5);
	return atomic_load(&pub->rc_of_mid[mid]);
}

static void test_member_id_is_client_id(void **state)
{
	pf_pub_t *in;
	int64_t gen;
	char *body = NULL;
	int status = 0, rc;

	(void)state;
	start_plugin();
	assert_int_equal(gt_member_start(&e, &mem[0], "g", "pm-a", NULL), 0);
	assert_int_equal(wait_members(1, 15000), 1);
	gen = group_number("generation", NULL);
	in = pf_pub_start(pb.b.port, "intruder", true, true);
	assert_non_null(in);
	mosquitto_message_v5_callback_set(in->mosq, on_msg);

	/* another client's member id: refused, PUBACK 0x87 */
	assert_int_equal(send_rc(in, "mqbridge/groups/g/join", "{\"member_id\":\"pm-a\"}"),
			 MQTT_RC_NOT_AUTHORIZED);
	assert_int_equal(send_rc(in, "mqbridge/groups/g/leave", "{\"member_id\":\"pm-a\"}"),
			 MQTT_RC_NOT_AUTHORIZED);
	assert_int_equal(send_rc(in, "mqbridge/groups/g/members/pm-a/heartbeat",
				 "{\"generation\":1}"), MQTT_RC_NOT_AUTHORIZED);
	for (int i = 0; i < 200 && atomic_load(&errors_seen) < 3; i++)
		mqbt_sleep_ms(10);
	assert_int_equal(atomic_load(&errors_seen), 3);
	if (!strstr(last_error, "\"not_authorized\""))
		fail_msg("error reply: %s", last_error);
	/* nothing changed for pm-a */
	assert_int_equal(members(), 1);
	assert_int_equal(group_number("generation", NULL), gen);
	assert_int_equal(group_number("errors", "not_authorized"), 3);
	assert_int_equal(mqbt_http_get(pb.stats_port, "/metrics", &status, &body), 0);
	if (!strstr(body, "mqbridge_plugin_group_control_total{result=\"not_authorized\"} 3"))
		fail_msg("/metrics:\n%s", body);
	free(body);

	/* as itself: accepted (success, or 0x10 "no matching subscribers": the broker
	 * routes a control message it let through, normally to nobody) */
	rc = send_rc(in, "mqbridge/groups/g/join", "{\"member_id\":\"intruder\"}");
	assert_true(rc == 0 || rc == MQTT_RC_NO_MATCHING_SUBSCRIBERS);
	assert_int_equal(wait_members(2, 5000), 2);
	rc = send_rc(in, "mqbridge/groups/g/leave", "{\"member_id\":\"intruder\"}");
	assert_true(rc == 0 || rc == MQTT_RC_NO_MATCHING_SUBSCRIBERS);
	assert_int_equal(wait_members(1, 5000), 1);
	assert_int_equal(group_number("errors", "not_authorized"), 3);
	pf_pub_stop(in);
	passed = true;
}

/* --- plugin_opt_config -------------------------------------------------------------- */

/* Run mosquitto with conf (plus a listener on a free port) and expect it to exit on
 * its own, with a status (no signal) and log_needle in its output. */
static void expect_refused_start(const char *dir, const char *conf, const char *log_needle)
{
	char path[320], logp[320], text[2048], *log;
	const char *argv[] = { "/usr/sbin/mosquitto", "-c", path, NULL };
	pid_t pid = 0;
	int status;

	snprintf(path, sizeof path, "%s/mosquitto.conf", dir);
	snprintf(logp, sizeof logp, "%s/mosquitto.log", dir);
	snprintf(text, sizeof text, "user root\nlistener %d 127.0.0.1\nallow_anonymous true\n"
		 "log_dest stderr\n%s", mqbt_free_port(), conf);
	assert_int_equal(mqbt_write_file(path, text), 0);
	if (access(argv[0], X_OK) != 0)
		argv[0] = "/usr/bin/mosquitto";
	assert_int_equal(mqbt_spawn(&pid, argv, logp), 0);
	status = mqbt_wait(pid, 10000);
	if (status < 0) {
		mqbt_stop(pid, 2000);
		fail_msg("mosquitto did not exit");
	}
	if (status == 0 || status >= 128)
		fail_msg("mosquitto exit status %d (want a refusal, not a crash)", status);
	log = mqbt_read_file(logp, NULL);
	assert_non_null(log);
	if (!strstr(log, log_needle))
		fail_msg("the broker log does not say \"%s\":\n%s", log_needle, log);
	free(log);
}

static void test_plugin_opt_config_missing_or_bad(void **state)
{
	char dir[256], conf[1024];

	(void)state;
	assert_int_equal(mqbt_tmpdir(dir, sizeof dir), 0);
	snprintf(conf, sizeof conf, "plugin %s\n", mqbt_bin("mqbridge_plugin.so"));
	expect_refused_start(dir, conf, "plugin_opt_config <path to mqbridge.conf> is required");
	snprintf(conf, sizeof conf, "plugin %s\nplugin_opt_config /nonexistent/mqb.conf\n",
		 mqbt_bin("mqbridge_plugin.so"));
	expect_refused_start(dir, conf, "/nonexistent/mqb.conf");
	mqbt_rmrf(dir);
	passed = true;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_members_and_a_kill, teardown),
		cmocka_unit_test_teardown(test_no_tick_events, teardown),
		cmocka_unit_test_teardown(test_member_id_is_client_id, teardown),
		cmocka_unit_test_teardown(test_plugin_opt_config_missing_or_bad, teardown),
	};
	mosquitto_lib_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
