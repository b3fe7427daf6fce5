/*
 * test_groups_hardening.c — issue 14 items 3, 5 and 9 with a real mosquitto, mqbridged
 * and `mqbridge` processes:
 *  - join flood: one client publishes joins under 1,500 made-up member ids; a real
 *    member (`mqbridge consume`) still gets an assignment within a bound, the fakes are
 *    removed at the join deadline (not the session timeout), and the metrics count
 *    the refusals;
 *  - a join to a group that is not configured is answered unknown_group on the
 *    payload's member's error topic and counted in
 *    mqbridge_group_errors_total{code="unknown_group"};
 *  - both state slots of a group corrupt: mqbridged starts (ingest runs, /readyz
 *    ready), the group stays down ("failed" in /groups, mqbridge_group_failed 1, joins
 *    answered internal) and its files are left as they were; after `mqbridge groups
 *    reset` it starts from the chosen position.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <glob.h>

#include "tests/integration/test_groups_util.h"

static gt_env_t e;
static gt_member_t m[2];
static bool passed;

static int teardown(void **state)
{
	(void)state;
	gt_teardown(&e, m, 2, passed);
	passed = false;
	return 0;
}

/* --- an MQTT observer of error replies ---------------------------------------------- */

typedef struct errs {
	pthread_mutex_t mu;
	char codes[64][48];
	char topics[64][160];
	int n;
} errs_t;

static void on_err(struct mosquitto *mq, void *arg, const struct mosquitto_message *msg)
{
	errs_t *x = arg;
	cJSON *o = cJSON_ParseWithLength(msg->payload, (size_t)msg->payloadlen);
	(void)mq;
	pthread_mutex_lock(&x->mu);
	if (x->n < 64 && o && cJSON_IsString(cJSON_GetObjectItem(o, "error"))) {
		snprintf(x->codes[x->n], sizeof(x->codes[0]), "%s",
			 cJSON_GetObjectItem(o, "error")->valuestring);
		snprintf(x->topics[x->n], sizeof(x->topics[0]), "%s", msg->topic);
		x->n++;
	}
	pthread_mutex_unlock(&x->mu);
	cJSON_Delete(o);
}

static bool saw(errs_t *x, const char *code, const char *topic_part)
{
	for (int t = 0; t < 100; t++) {
		pthread_mutex_lock(&x->mu);
		for (int i = 0; i < x->n; i++)
			if (!strcmp(x->codes[i], code) && strstr(x->topics[i], topic_part)) {
				pthread_mutex_unlock(&x->mu);
				return true;
			}
		pthread_mutex_unlock(&x->mu);
		mqbt_sleep_ms(50);
	}
	return false;
}

/* Subscribe an observer to the error topics of the given filter. */
static struct mosquitto *observer(errs_t *x, const char *filter)
{
	memset(x, 0, sizeof(*x));
	pthread_mutex_init(&x->mu, NULL);
	struct mosquitto *obs = mosquitto_new("hard-observer", true, x);
	assert_non_null(obs);
	mosquitto_message_callback_set(obs, on_err);
	assert_int_equal(mosquitto_connect(obs, "127.0.0.1", e.broker.port, 30), MOSQ_ERR_SUCCESS);
	assert_int_equal(mosquitto_subscribe(obs, NULL, filter, 1), MOSQ_ERR_SUCCESS);
	assert_int_equal(mosquitto_loop_start(obs), MOSQ_ERR_SUCCESS);
	mqbt_sleep_ms(200);   /* SUBACK */
	return obs;
}

static void observer_close(struct mosquitto *obs)
{
	mosquitto_disconnect(obs);
	mosquitto_loop_stop(obs, false);
	mosquitto_destroy(obs);
}

static char *metrics(void)
{
	char *body = NULL;
	int st = 0;
	assert_int_equal(mqbt_http_get(e.http_port, "/metrics", &st, &body), 0);
	assert_int_equal(st, 200);
	return body;
}

static int64_t metric(const char *text, const char *line_prefix)
{
	const char *p = strstr(text, line_prefix);
	return p ? atoll(p + strlen(line_prefix)) : -1;
}

/* ms until the member's trace shows an assignment listing a partition; -1 if none. */
static int64_t wait_assigned(gt_member_t *mb, int timeout_ms)
{
	int64_t t0 = mqbt_now_ms();

	while (mqbt_now_ms() - t0 < timeout_ms) {
		gt_trace_t t;
		if (gt_trace_load(mb->trace, &t) == 0) {
			for (size_t i = 0; i < t.n; i++)
				if (t.ev[i].kind == 'A' && t.ev[i].assigned) {
					gt_trace_free(&t);
					return mqbt_now_ms() - t0;
				}
			gt_trace_free(&t);
		}
		mqbt_sleep_ms(50);
	}
	return -1;
}

/* --- join flood ----------------------------------------------------------------------- */

static const char *CONF_FLOOD =
	"streams = ( { name = \"jobs\"; partitions = 2; } );\n"
	"routes = ( { filter = \"jobs/+\"; stream = \"jobs\"; qos = 1; } );\n"
	"groups = ( { name = \"work\"; stream = \"jobs\"; mode = \"shared\";\n"
	"             session_timeout_ms = 30000; heartbeat_interval_ms = 300;\n"
	"             join_rate = 50; join_burst = 100; max_members = 1024; } );\n";

static void test_join_flood(void **state)
{
	gt_pub_t pub = { 0 };
	(void)state;

	assert_int_equal(gt_env_start(&e, CONF_FLOOD), 0);
	assert_int_equal(gt_daemon_start(&e), 0);
	assert_int_equal(gt_pub_open(&e, &pub, "flooder"), 0);
	/* 1,500 fake member ids from one client, as fast as the broker takes them */
	int64_t t0 = mqbt_now_ms();
	for (int i = 0; i < 1500; i++) {
		char j[64];
		snprintf(j, sizeof(j), "{\"member_id\":\"fake%d\"}", i);
		assert_int_equal(gt_pub(&pub, "mqbridge/groups/work/join", j), 0);
	}
	fprintf(stderr, "flood of 1500 joins published in %lld ms\n",
		(long long)(mqbt_now_ms() - t0));
	/* the real member: before the fix it was refused "group is full" until the fakes'
	 * session timeout (30 s here) */
	const char *args[] = { "--heartbeat-ms", "300", NULL };
	assert_int_equal(gt_member_start(&e, &m[0], "work", "real", args), 0);
	int64_t took = wait_assigned(&m[0], 10000);
	fprintf(stderr, "real member assigned %lld ms after it started\n", (long long)took);
	assert_true(took >= 0);
	/* the fakes never heartbeat: removed at the join deadline (2 x 300 ms) */
	cJSON *d = NULL;
	int64_t members = -1;
	for (int i = 0; i < 100 && members != 1; i++) {
		cJSON_Delete(d);
		d = gt_describe(&e, "work");
		assert_non_null(d);
		members = cJSON_GetArraySize(cJSON_GetObjectItem(d, "members"));
		if (members != 1)
			mqbt_sleep_ms(100);
	}
	assert_int_equal(members, 1);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(
		cJSON_GetObjectItem(d, "members"), 0), "member_id")->valuestring, "real");
	cJSON_Delete(d);
	char *body = metrics();
	int64_t limited = metric(body, "mqbridge_group_errors_total{group=\"work\","
				 "code=\"rate_limited\"} ");
	int64_t removed = metric(body, "mqbridge_group_join_deadline_removed_total{group=\"work\"} ");
	fprintf(stderr, "refused rate_limited: %lld, removed at the join deadline: %lld\n",
		(long long)limited, (long long)removed);
	assert_true(limited >= 1300);
	/* + 1: the real member's first join may find the bucket empty */
	assert_true(removed >= 100 && limited + removed <= 1501);
	assert_int_equal(metric(body, "mqbridge_group_errors_total{group=\"work\","
				"code=\"too_large\"} "), 0);
	free(body);
	/* the real member stays (it heartbeats) and consumes */
	for (int i = 0; i < 20; i++) {
		char t[32], v[16];
		snprintf(t, sizeof(t), "jobs/%d", i);
		snprintf(v, sizeof(v), "%d", i);
		assert_int_equal(gt_pub(&pub, t, v), 0);
	}
	assert_int_equal(gt_wait_sum(&e, "work", "committed", 20, 20000), 20);
	gt_pub_close(&pub);
	passed = true;
}

/* --- unknown group ------------------------------------------------------------------ */

static const char *CONF_ONE =
	"streams = ( { name = \"orders\"; partitions = 1; } );\n"
	"routes = ( { filter = \"orders/+\"; stream = \"orders\"; qos = 1; } );\n"
	"groups = ( { name = \"billing\"; stream = \"orders\"; assignor = \"range\";\n"
	"             session_timeout_ms = 4000; heartbeat_interval_ms = 300; } );\n";

static void test_unknown_group(void **state)
{
	gt_pub_t pub = { 0 };
	errs_t errs;
	(void)state;

	assert_int_equal(gt_env_start(&e, CONF_ONE), 0);
	assert_int_equal(gt_daemon_start(&e), 0);
	struct mosquitto *obs = observer(&errs, "mqbridge/groups/+/members/+/error");
	assert_int_equal(gt_pub_open(&e, &pub, "unk-pub"), 0);
	assert_int_equal(gt_pub(&pub, "mqbridge/groups/nosuch/join", "{\"member_id\":\"ghost\"}"),
			 0);
	assert_true(saw(&errs, "unknown_group", "mqbridge/groups/nosuch/members/ghost/error"));
	assert_int_equal(gt_pub(&pub, "mqbridge/groups/nosuch/leave", "{\"member_id\":\"ghost2\"}"),
			 0);
	assert_true(saw(&errs, "unknown_group", "mqbridge/groups/nosuch/members/ghost2/error"));
	char *body = metrics();
	assert_int_equal(metric(body, "mqbridge_group_errors_total{code=\"unknown_group\"} "), 2);
	assert_int_equal(metric(body, "mqbridge_group_errors_total{group=\"billing\","
				"code=\"unknown_group\"} "), 0);
	free(body);
	gt_pub_close(&pub);
	observer_close(obs);
	passed = true;
}

/* --- corrupt state -------------------------------------------------------------------- */

/* Flip a byte in the middle of every slot file of group g; the number of files. */
static int corrupt_slots(const char *g)
{
	char pat[512];
	glob_t gl;
	int n = 0;

	snprintf(pat, sizeof(pat), "%s/data/__groups/%s.state*", e.dir, g);
	if (glob(pat, 0, NULL, &gl) != 0)
		return 0;
	for (size_t i = 0; i < gl.gl_pathc; i++) {
		if (strstr(gl.gl_pathv[i], ".tmp"))
			continue;
		FILE *f = fopen(gl.gl_pathv[i], "r+b");
		assert_non_null(f);
		fseek(f, 0, SEEK_END);
		long len = ftell(f);
		fseek(f, len / 2, SEEK_SET);
		int ch = fgetc(f);
		fseek(f, len / 2, SEEK_SET);
		fputc(ch ^ 0x5a, f);
		fclose(f);
		n++;
	}
	globfree(&gl);
	return n;
}

static void test_corrupt_state(void **state)
{
	gt_pub_t pub = { 0 };
	errs_t errs;
	char *body;
	int st;
	(void)state;

	assert_int_equal(gt_env_start(&e, CONF_ONE), 0);
	assert_int_equal(gt_daemon_start(&e), 0);
	assert_int_equal(gt_pub_open(&e, &pub, "cs-pub"), 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(gt_pub(&pub, "orders/a", "x"), 0);
	assert_int_equal(gt_member_start(&e, &m[0], "billing", "c1", NULL), 0);
	assert_int_equal(gt_wait_sum(&e, "billing", "committed", 10, 20000), 10);
	mqbt_kill(m[0].pid, SIGTERM);
	mqbt_wait(m[0].pid, 5000);
	m[0].pid = 0;
	gt_pub_close(&pub);
	assert_int_equal(mqbt_stop(e.daemon, 10000), 0);
	e.daemon = 0;
	assert_true(corrupt_slots("billing") >= 1);

	/* the daemon starts and is ready; the group does not start */
	assert_int_equal(gt_daemon_start(&e), 0);
	cJSON *d = gt_describe(&e, "billing");
	assert_non_null(d);
	assert_string_equal(cJSON_GetObjectItem(d, "state")->valuestring, "failed");
	assert_non_null(strstr(cJSON_GetObjectItem(d, "error")->valuestring,
			       "mqbridge groups reset"));
	cJSON_Delete(d);
	body = metrics();
	assert_int_equal(metric(body, "mqbridge_group_failed{group=\"billing\"} "), 1);
	free(body);
	size_t loglen = 0;
	char *log = mqbt_read_file(e.dlog, &loglen);
	assert_non_null(log);
	assert_non_null(strstr(log, "__groups/billing.state"));
	assert_non_null(strstr(log, "the group is not started"));
	free(log);
	/* a member's join is answered; ingest still runs */
	struct mosquitto *obs = observer(&errs, "mqbridge/groups/billing/members/+/error");
	assert_int_equal(gt_pub_open(&e, &pub, "cs-pub2"), 0);
	assert_int_equal(gt_pub(&pub, "mqbridge/groups/billing/join", "{\"member_id\":\"c2\"}"), 0);
	assert_true(saw(&errs, "internal", "/billing/members/c2/error"));
	for (int i = 0; i < 5; i++)
		assert_int_equal(gt_pub(&pub, "orders/a", "y"), 0);
	assert_int_equal(gt_wait_sum(&e, "billing", "log_end", 15, 20000), 15);
	gt_pub_close(&pub);
	observer_close(obs);
	char *hb = NULL;
	assert_int_equal(mqbt_http_get(e.http_port, "/healthz", &st, &hb), 0);
	assert_int_equal(st, 200);
	free(hb);

	/* the operator resets it (daemon stopped); it starts from there */
	assert_int_equal(mqbt_stop(e.daemon, 10000), 0);
	e.daemon = 0;
	const char *reset[] = { mqbt_bin("mqbridge"), "groups", "reset", "-c", e.conf, "--group",
				"billing", "--to", "offset:10", NULL };
	char *out = NULL;
	size_t outlen = 0;
	st = mqbt_run(reset, &out, &outlen, 30000);
	if (st != 0)
		fprintf(stderr, "reset: %s\n", out ? out : "");
	free(out);
	assert_int_equal(st, 0);
	assert_int_equal(gt_daemon_start(&e), 0);
	d = gt_describe(&e, "billing");
	assert_non_null(d);
	assert_string_equal(cJSON_GetObjectItem(d, "state")->valuestring, "empty");
	cJSON_Delete(d);
	assert_int_equal(gt_sum(&e, "billing", "committed"), 10);
	assert_int_equal(gt_member_start(&e, &m[1], "billing", "c3", NULL), 0);
	assert_int_equal(gt_wait_sum(&e, "billing", "committed", 15, 20000), 15);
	passed = true;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_join_flood, teardown),
		cmocka_unit_test_teardown(test_unknown_group, teardown),
		cmocka_unit_test_teardown(test_corrupt_state, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
