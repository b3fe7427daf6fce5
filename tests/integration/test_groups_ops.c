/*
 * test_groups_ops.c — the operator's and the hostile client's view of groups, with a
 * real mosquitto, mqbridged and `mqbridge` processes:
 *  - `mqbridge groups list|describe` (text and --json) and GET /metrics (checked with
 *    promtool when installed) show members, assignment, lag;
 *  - bad control messages over MQTT get an error reply on .../members/<m>/error, are
 *    counted in mqbridge_group_errors_total, and change nothing;
 *  - static membership: a member with an instance id killed with SIGKILL is held
 *    (no rebalance) and a new process with the same instance id takes its partitions
 *    back in the same generation;
 *  - `mqbridge groups reset` is refused while mqbridged runs and works when it is
 *    stopped; the daemon then resumes from the reset position.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>

#include "tests/integration/test_groups_util.h"

static const char *CONF =
	"streams = ( { name = \"orders\"; partitions = 2; } );\n"
	"routes = ( { filter = \"orders/+\"; stream = \"orders\"; key = \"{1}\"; qos = 1; } );\n"
	"groups = ( { name = \"billing\"; stream = \"orders\"; assignor = \"range\";\n"
	"             session_timeout_ms = 4000; heartbeat_interval_ms = 300; prefetch = 10; } );\n";

static gt_env_t e;
static gt_member_t m[3];
static bool passed;

static int teardown(void **state)
{
	gt_teardown(&e, m, 3, passed);
	return 0;
}

/* --- an MQTT observer of error replies ------------------------------------------- */

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
	for (int t = 0; t < 40; t++) {
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

static char *run(const char *const argv[], int *status)
{
	char *out = NULL;
	size_t len = 0;
	*status = mqbt_run(argv, &out, &len, 30000);
	return out ? out : strdup("");
}

static int64_t metric(const char *text, const char *line_prefix)
{
	const char *p = strstr(text, line_prefix);
	return p ? atoll(p + strlen(line_prefix)) : -1;
}

static void test_ops(void **state)
{
	gt_pub_t pub = { 0 };
	errs_t errs;
	char url[64], *out;
	int st;

	memset(&errs, 0, sizeof(errs));
	pthread_mutex_init(&errs.mu, NULL);
	assert_int_equal(gt_env_start(&e, CONF), 0);
	assert_int_equal(gt_daemon_start(&e), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", e.http_port);
	assert_int_equal(gt_pub_open(&e, &pub, "ops-pub"), 0);
	/* error replies are collected by their own client */
	struct mosquitto *obs = mosquitto_new("ops-observer", true, &errs);
	assert_non_null(obs);
	mosquitto_message_callback_set(obs, on_err);
	assert_int_equal(mosquitto_connect(obs, "127.0.0.1", e.broker.port, 30), MOSQ_ERR_SUCCESS);
	assert_int_equal(mosquitto_subscribe(obs, NULL, "mqbridge/groups/+/members/+/error", 1),
			 MOSQ_ERR_SUCCESS);
	assert_int_equal(mosquitto_loop_start(obs), MOSQ_ERR_SUCCESS);
	for (int i = 0; i < 40; i++) {
		char t[32], v[32];
		snprintf(t, sizeof(t), "orders/d%d", i);
		snprintf(v, sizeof(v), "%d", i);
		assert_int_equal(gt_pub(&pub, t, v), 0);
	}
	assert_int_equal(gt_wait_sum(&e, "billing", "log_end", 40, 20000), 40);

	/* static member s1 (instance i1) and dynamic member d1 */
	const char *st1[] = { "--instance-id", "i1", NULL };
	assert_int_equal(gt_member_start(&e, &m[0], "billing", "s1", st1), 0);
	assert_int_equal(gt_member_start(&e, &m[1], "billing", "d1", NULL), 0);
	assert_int_equal(gt_wait_sum(&e, "billing", "committed", 40, 20000), 40);
	mqbt_sleep_ms(300);

	/* list / describe */
	const char *list[] = { mqbt_bin("mqbridge"), "groups", "list", "--url", url, NULL };
	out = run(list, &st);
	assert_int_equal(st, 0);
	assert_non_null(strstr(out, "billing"));
	assert_non_null(strstr(out, "stable"));
	free(out);
	const char *desc[] = { mqbt_bin("mqbridge"), "groups", "describe", "billing", "--url", url,
			       NULL };
	out = run(desc, &st);
	assert_int_equal(st, 0);
	assert_non_null(strstr(out, "s1"));
	assert_non_null(strstr(out, "d1"));
	assert_non_null(strstr(out, "i1"));
	free(out);
	const char *descj[] = { mqbt_bin("mqbridge"), "groups", "describe", "billing", "--json",
				"--url", url, NULL };
	out = run(descj, &st);
	assert_int_equal(st, 0);
	cJSON *d = cJSON_Parse(out);
	assert_non_null(d);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(d, "members")), 2);
	int64_t gen = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(d, "generation"));
	uint64_t s1_parts = 0;
	cJSON *mj;
	cJSON_ArrayForEach(mj, cJSON_GetObjectItem(d, "members")) {
		if (strcmp(cJSON_GetObjectItem(mj, "member_id")->valuestring, "s1"))
			continue;
		cJSON *p;
		cJSON_ArrayForEach(p, cJSON_GetObjectItem(mj, "assigned"))
			s1_parts |= 1ull << p->valueint;
	}
	assert_true(s1_parts != 0);
	cJSON_Delete(d);
	free(out);
	/* bad arguments: exit 2 with a usage line */
	const char *bad1[] = { mqbt_bin("mqbridge"), "consume", "-p", "1", NULL };
	out = run(bad1, &st);
	assert_int_equal(st, 2);
	free(out);
	const char *bad2[] = { mqbt_bin("mqbridge"), "consume", "--group", "g", "--ack", "maybe", NULL };
	out = run(bad2, &st);
	assert_int_equal(st, 2);
	free(out);
	const char *bad3[] = { mqbt_bin("mqbridge"), "consume", "--group", "a/b", "-p", "1", NULL };
	out = run(bad3, &st);
	assert_int_equal(st, 2);
	free(out);
	const char *bad4[] = { mqbt_bin("mqbridge"), "groups", "frobnicate", NULL };
	out = run(bad4, &st);
	assert_int_equal(st, 2);
	free(out);
	const char *nog[] = { mqbt_bin("mqbridge"), "groups", "describe", "nosuch", "--url", url,
			      NULL };
	out = run(nog, &st);
	assert_int_equal(st, 1);
	free(out);

	/* hostile input over MQTT: each answered, counted, nothing changes */
	mosquitto_publish(pub.mosq, NULL, "mqbridge/groups/billing/members/d1/ack", 9, "{not json", 1,
			  false);
	/* one entry per partition: one is not d1's (not_owner), the other's offsets were
	 * never delivered (not_delivered) */
	char bigack[512];
	snprintf(bigack, sizeof(bigack), "{\"generation\":%lld,\"acks\":[{\"stream\":\"orders\","
		 "\"partition\":0,\"ranges\":[[1000,2000]],\"type\":\"accept\"},{\"stream\":"
		 "\"orders\",\"partition\":1,\"ranges\":[[1000,2000]],\"type\":\"accept\"}]}",
		 (long long)gen);
	mosquitto_publish(pub.mosq, NULL, "mqbridge/groups/billing/members/d1/ack",
			  (int)strlen(bigack), bigack, 1, false);
	mosquitto_publish(pub.mosq, NULL, "mqbridge/groups/billing/members/ghost/heartbeat", 16,
			  "{\"generation\":1}", 1, false);
	mosquitto_publish(pub.mosq, NULL, "mqbridge/groups/nosuch/members/ghost/heartbeat", 16,
			  "{\"generation\":1}", 1, false);
	assert_true(saw(&errs, "malformed", "/billing/members/d1/error"));
	assert_true(saw(&errs, "not_delivered", "/billing/members/d1/error"));
	assert_true(saw(&errs, "not_owner", "/billing/members/d1/error"));
	assert_true(saw(&errs, "unknown_member", "/billing/members/ghost/error"));
	assert_true(saw(&errs, "unknown_group", "/nosuch/members/ghost/error"));
	d = gt_describe(&e, "billing");
	assert_non_null(d);
	assert_int_equal((int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(d, "generation")), gen);
	cJSON_Delete(d);
	assert_int_equal(gt_sum(&e, "billing", "committed"), 40);

	/* metrics */
	char *body = NULL;
	assert_int_equal(mqbt_http_get(e.http_port, "/metrics", &st, &body), 0);
	assert_int_equal(st, 200);
	assert_int_equal(metric(body, "mqbridge_group_members{group=\"billing\"} "), 2);
	assert_true(metric(body, "mqbridge_group_errors_total{group=\"billing\",code=\"malformed\"} ")
		    >= 1);
	assert_true(metric(body, "mqbridge_group_errors_total{group=\"billing\",code=\"not_delivered\"} ")
		    >= 1);
	assert_int_equal(metric(body, "mqbridge_group_lag{group=\"billing\",stream=\"orders\","
				      "partition=\"0\"} "), 0);
	assert_true(metric(body, "mqbridge_group_rebalances_total{group=\"billing\"} ") >= 1);
	if (access("/usr/bin/promtool", X_OK) == 0) {
		char path[400];
		snprintf(path, sizeof(path), "%s/metrics.txt", e.dir);
		mqbt_write_file(path, body);
		const char *pt[] = { "/bin/sh", "-c", "promtool check metrics < \"$0\"", path, NULL };
		char *o2 = run(pt, &st);
		if (st != 0)
			fprintf(stderr, "promtool: %s\n", o2);
		free(o2);
		assert_int_equal(st, 0);
	}
	free(body);

	/* static membership: s1 dies, held; s1b with the same instance takes over */
	mqbt_kill(m[0].pid, SIGKILL);
	mqbt_wait(m[0].pid, 5000);
	m[0].pid = 0;
	mqbt_sleep_ms(500);
	d = gt_describe(&e, "billing");
	assert_non_null(d);
	assert_int_equal((int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(d, "generation")), gen);
	cJSON_ArrayForEach(mj, cJSON_GetObjectItem(d, "members"))
		if (!strcmp(cJSON_GetObjectItem(mj, "member_id")->valuestring, "s1"))
			assert_true(cJSON_IsTrue(cJSON_GetObjectItem(mj, "departed")));
	cJSON_Delete(d);
	assert_int_equal(gt_member_start(&e, &m[2], "billing", "s1b", st1), 0);
	uint64_t back = 0;
	for (int t = 0; t < 60 && !back; t++) {
		mqbt_sleep_ms(100);
		d = gt_describe(&e, "billing");
		cJSON_ArrayForEach(mj, cJSON_GetObjectItem(d, "members")) {
			if (strcmp(cJSON_GetObjectItem(mj, "member_id")->valuestring, "s1b"))
				continue;
			cJSON *p;
			cJSON_ArrayForEach(p, cJSON_GetObjectItem(mj, "assigned"))
				back |= 1ull << p->valueint;
		}
		if (back)
			assert_int_equal((int64_t)cJSON_GetNumberValue(
						 cJSON_GetObjectItem(d, "generation")), gen);
		cJSON_Delete(d);
	}
	assert_int_equal(back, s1_parts);

	/* reset: refused while the daemon runs, done when it is stopped */
	const char *reset[] = { mqbt_bin("mqbridge"), "groups", "reset", "-c", e.conf, "--group",
				"billing", "--to", "offset:5", NULL };
	out = run(reset, &st);
	assert_int_equal(st, 1);
	free(out);
	for (int i = 1; i < 3; i++) {
		mqbt_kill(m[i].pid, SIGTERM);
		assert_int_equal(mqbt_wait(m[i].pid, 10000), 0);
		m[i].pid = 0;
	}
	mqbt_stop(e.daemon, 10000);
	e.daemon = 0;
	const char *badreset[] = { mqbt_bin("mqbridge"), "groups", "reset", "-c", e.conf, "--group",
				   "billing", "--to", "yesterday", NULL };
	out = run(badreset, &st);
	assert_int_equal(st, 2);
	free(out);
	out = run(reset, &st);
	assert_int_equal(st, 0);
	assert_non_null(strstr(out, "partition 0: 5"));
	free(out);
	assert_int_equal(gt_daemon_start(&e), 0);
	assert_int_equal(gt_sum(&e, "billing", "committed"), 10);

	mosquitto_disconnect(obs);
	mosquitto_loop_stop(obs, false);
	mosquitto_destroy(obs);
	gt_pub_close(&pub);
	passed = true;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_ops, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
