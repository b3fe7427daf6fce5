/*
 * test_stats.c — the stats endpoint of a real mqbridged fed by a real mosquitto:
 * publish N messages, /stats and /metrics report exactly N received and stored and
 * each partition's offsets (the test computes the partitions with the same murmur2);
 * the live /metrics passes promtool; the bearer token is enforced; slow clients and a
 * 64 KiB header during ingest stop neither the endpoint nor the ingest; /readyz goes
 * 503 when the broker stops and 200 again when it returns, and ingest resumes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "bridge/ingest/partitioner.h"
#include "tests/support/harness.h"

#define NPART 4
#define NDEV 10
#define N 400            /* first burst */
#define M 60             /* after the broker came back */
#define TOKEN "it-token-7f3a"
#define AUTH "Authorization: Bearer " TOKEN "\r\n"

static char dir[256];
static mqbt_broker_t broker;
static pid_t daemon_pid = -1;
static int stats_port;
static char log_path[300];

/* --- helpers ------------------------------------------------------------------------ */

static int get(const char *path, int *status, char **body)
{
	return mqbt_http_request(stats_port, "GET", path, AUTH, status, body, 5000);
}

static cJSON *get_stats(void)
{
	int st = 0;
	char *body = NULL;
	cJSON *doc = NULL;

	if (get("/stats", &st, &body) == 0 && st == 200)
		doc = cJSON_Parse(body);
	free(body);
	return doc;
}

static double jnum(cJSON *doc, const char *a, const char *b)
{
	cJSON *o = cJSON_GetObjectItem(doc, a);
	cJSON *v = b ? cJSON_GetObjectItem(o, b) : o;
	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* Value of the sample line that starts with prefix ("name{labels} "), -1 if absent. */
static double metric(const char *text, const char *prefix)
{
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, prefix, strlen(prefix)) == 0)
			return strtod(p + strlen(prefix), NULL);
	}
	return -1;
}

static int wait_readyz(int want, int timeout_ms, char **last_body)
{
	int64_t end = mqbt_now_ms() + timeout_ms;
	int st = -1;

	while (mqbt_now_ms() < end) {
		char *body = NULL;
		st = -1;
		get("/readyz", &st, &body);
		if (st == want) {
			if (last_body)
				*last_body = body;
			else
				free(body);
			return 0;
		}
		free(body);
		mqbt_sleep_ms(100);
	}
	return -1;
}

/* Wait until /stats says mqtt.stored == want and every partition is durable. */
static cJSON *wait_stored(double want, int timeout_ms)
{
	int64_t end = mqbt_now_ms() + timeout_ms;

	while (mqbt_now_ms() < end) {
		cJSON *doc = get_stats();
		if (doc && jnum(doc, "mqtt", "stored") == want) {
			cJSON *parts = cJSON_GetObjectItem(cJSON_GetObjectItem(
				cJSON_GetObjectItem(doc, "streams"), "t"), "partitions");
			bool durable = cJSON_GetArraySize(parts) == NPART;
			cJSON *p;
			cJSON_ArrayForEach(p, parts)
				if (jnum(p, "durable_offset", NULL) != jnum(p, "log_end_offset", NULL))
					durable = false;
			if (durable)
				return doc;
		}
		cJSON_Delete(doc);
		mqbt_sleep_ms(100);
	}
	return NULL;
}

static int published;
static void on_publish(struct mosquitto *m, void *obj, int mid) { published++; }

/* Publish count QoS 1 messages round-robin over NDEV devices; per[] += per partition. */
static int publish(int first, int count, int64_t per[NPART])
{
	struct mosquitto *m = mosquitto_new("stats-it-pub", true, NULL);
	int64_t end;
	int rc = -1;

	if (!m)
		return -1;
	mosquitto_publish_callback_set(m, on_publish);
	published = 0;
	if (mosquitto_connect(m, "127.0.0.1", broker.port, 30) != MOSQ_ERR_SUCCESS)
		goto out;
	for (int i = first; i < first + count; i++) {
		char topic[64], key[16], payload[64];
		snprintf(key, sizeof(key), "dev%d", i % NDEV);
		snprintf(topic, sizeof(topic), "sensors/%s/telemetry", key);
		snprintf(payload, sizeof(payload), "{\"seq\":%d}", i);
		if (mosquitto_publish(m, NULL, topic, (int)strlen(payload), payload, 1, false))
			goto out;
		per[mqb_partition_for_key(key, strlen(key), NPART)]++;
		mosquitto_loop(m, 0, 1);
	}
	end = mqbt_now_ms() + 10000;
	while (published < count && mqbt_now_ms() < end)
		mosquitto_loop(m, 50, 1);
	rc = published == count ? 0 : -1;
	mosquitto_disconnect(m);
	mosquitto_loop(m, 50, 1);
out:
	mosquitto_destroy(m);
	return rc;
}

static void dump_log(void)
{
	char *log = mqbt_read_file(log_path, NULL);
	if (log) {
		size_t n = strlen(log);
		print_message("--- mqbridged log (tail) ---\n%s\n", n > 4000 ? log + n - 4000 : log);
	}
	free(log);
}

/* --- setup / teardown --------------------------------------------------------------- */

static int setup(void **state)
{
	char conf[4096], path[300], tok[300];
	const char *bin = mqbt_bin("mqbridged");

	mosquitto_lib_init();
	if (mqbt_tmpdir(dir, sizeof(dir)) != 0 || mqbt_mosquitto_start(&broker, NULL) != 0)
		return -1;
	stats_port = mqbt_free_port();
	snprintf(tok, sizeof(tok), "%s/stats.token", dir);
	mqbt_write_file(tok, TOKEN "\n");
	snprintf(conf, sizeof(conf),
		 "data_dir = \"%s/data\";\n"
		 "mqtt = { host = \"127.0.0.1\"; port = %d; client_id = \"stats-it\";\n"
		 "         reconnect_min_ms = 200; reconnect_max_ms = 1000; };\n"
		 "stats = { listen = \"127.0.0.1:%d\"; token_file = \"%s\"; };\n"
		 "streams = ( { name = \"t\"; partitions = %d; flush = { interval_ms = 10; }; } );\n"
		 "routes = ( { name = \"sensors\"; filter = \"sensors/+/telemetry\"; qos = 1;\n"
		 "             stream = \"t\"; key = \"{1}\"; } );\n",
		 dir, broker.port, stats_port, tok, NPART);
	snprintf(path, sizeof(path), "%s/mqbridge.conf", dir);
	snprintf(log_path, sizeof(log_path), "%s/mqbridged.log", dir);
	mqbt_write_file(path, conf);
	if (!bin)
		return -1;
	{
		const char *argv[] = { bin, "-c", path, NULL };
		if (mqbt_spawn(&daemon_pid, argv, log_path) != 0)
			return -1;
	}
	if (mqbt_wait_port(stats_port, 10000) != 0) {
		dump_log();
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	if (daemon_pid > 0)
		mqbt_stop(daemon_pid, 10000);
	mqbt_mosquitto_destroy(&broker);
	mqbt_rmrf(dir);
	mosquitto_lib_cleanup();
	return 0;
}

/* --- the test ----------------------------------------------------------------------- */

static void check_counts(double total, const int64_t per[NPART])
{
	cJSON *doc = wait_stored(total, 20000);
	int st = 0;
	char *text = NULL, line[128];

	if (!doc)
		dump_log();
	assert_non_null(doc);
	/* /stats */
	assert_true(jnum(doc, "mqtt", "received") == total);
	assert_true(jnum(doc, "mqtt", "stored") == total);
	{
		cJSON *routes = cJSON_GetObjectItem(doc, "routes");
		assert_int_equal(cJSON_GetArraySize(routes), 1);
		assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(routes, 0), "name")->valuestring,
				    "sensors");
		assert_true(jnum(cJSON_GetArrayItem(routes, 0), "received", NULL) == total);
	}
	{
		cJSON *parts = cJSON_GetObjectItem(cJSON_GetObjectItem(
			cJSON_GetObjectItem(doc, "streams"), "t"), "partitions");
		assert_int_equal(cJSON_GetArraySize(parts), NPART);
		for (int p = 0; p < NPART; p++) {
			cJSON *po = cJSON_GetArrayItem(parts, p);
			assert_true(jnum(po, "partition", NULL) == p);
			assert_true(jnum(po, "log_start_offset", NULL) == 0);
			assert_true(jnum(po, "log_end_offset", NULL) == (double)per[p]);
			assert_true(jnum(po, "durable_offset", NULL) == (double)per[p]);
			assert_true(jnum(po, "size_bytes", NULL) > 0 || per[p] == 0);
		}
	}
	{
		cJSON *so = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "streams"), "t");
		assert_true(jnum(so, "partition_count", NULL) == NPART);
		assert_true(jnum(cJSON_GetObjectItem(so, "totals"), "log_end_offset_sum", NULL) ==
			    total);
		assert_null(cJSON_GetObjectItem(so, "partitions_omitted"));
	}
	cJSON_Delete(doc);

	/* ?partitions=0: the totals without the detail; a bad value is refused */
	assert_int_equal(get("/stats?partitions=0", &st, &text), 0);
	assert_int_equal(st, 200);
	doc = cJSON_Parse(text);
	free(text);
	{
		cJSON *so = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "streams"), "t");
		assert_null(cJSON_GetObjectItem(so, "partitions"));
		assert_true(cJSON_IsTrue(cJSON_GetObjectItem(so, "partitions_omitted")));
		assert_true(jnum(cJSON_GetObjectItem(so, "totals"), "log_end_offset_sum", NULL) ==
			    total);
	}
	cJSON_Delete(doc);
	assert_int_equal(get("/stats?partitions=all", &st, &text), 0);
	assert_int_equal(st, 400);
	assert_non_null(strstr(text, "expected 1 or 0"));
	free(text);

	/* /metrics: the same facts. */
	assert_int_equal(get("/metrics", &st, &text), 0);
	assert_int_equal(st, 200);
	assert_true(metric(text, "mqbridge_messages_received_total{route=\"sensors\"} ") == total);
	assert_true(metric(text, "mqbridge_messages_stored_total{stream=\"t\"} ") == total);
	for (int p = 0; p < NPART; p++) {
		snprintf(line, sizeof(line), "mqbridge_log_end_offset{stream=\"t\",partition=\"%d\"} ", p);
		assert_true(metric(text, line) == (double)per[p]);
		snprintf(line, sizeof(line), "mqbridge_log_durable_offset{stream=\"t\",partition=\"%d\"} ", p);
		assert_true(metric(text, line) == (double)per[p]);
	}
	assert_true(metric(text, "mqbridge_mqtt_connected ") == 1);
	assert_true(metric(text, "mqbridge_fsync_duration_seconds_count ") > 0);
	assert_true(metric(text, "mqbridge_stream_partitions{stream=\"t\"} ") == NPART);
	assert_null(strstr(text, "mqbridge_log_end_offset{stream=\"t\"} "));
	free(text);

	/* /metrics?partitions=0: the stream's sums under the same names, no partition
	 * label (what a stream above 64 partitions gives by default); a bad value is
	 * refused as for /stats */
	assert_int_equal(get("/metrics?partitions=0", &st, &text), 0);
	assert_int_equal(st, 200);
	assert_true(metric(text, "mqbridge_log_end_offset{stream=\"t\"} ") == total);
	assert_true(metric(text, "mqbridge_log_durable_offset{stream=\"t\"} ") == total);
	assert_true(metric(text, "mqbridge_partition_corrupt{stream=\"t\"} ") == 0);
	assert_true(metric(text, "mqbridge_stream_partitions{stream=\"t\"} ") == NPART);
	assert_null(strstr(text, "partition=\""));
	assert_true(metric(text, "mqbridge_messages_stored_total{stream=\"t\"} ") == total);
	free(text);
	assert_int_equal(get("/metrics?partitions=yes", &st, &text), 0);
	assert_int_equal(st, 400);
	assert_non_null(strstr(text, "expected 1 or 0"));
	free(text);
}

static void test_stats_end_to_end(void **state)
{
	int64_t per[NPART] = { 0 };
	int st = 0, idle[10];
	char *body = NULL, path[300], *out = NULL;

	/* Ready once connected and subscribed. */
	if (wait_readyz(200, 15000, NULL) != 0)
		dump_log();
	assert_int_equal(wait_readyz(200, 1, NULL), 0);

	/* The token is enforced by the real daemon. */
	assert_int_equal(mqbt_http_request(stats_port, "GET", "/metrics", NULL, &st, &body, 5000), 0);
	assert_int_equal(st, 401);
	free(body);
	assert_int_equal(mqbt_http_request(stats_port, "GET", "/metrics",
					   "Authorization: Bearer nope\r\n", &st, &body, 5000), 0);
	assert_int_equal(st, 401);
	free(body);

	/* Idle clients and a 64 KiB header while ingesting. */
	for (int i = 0; i < 10; i++) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)stats_port) };
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		idle[i] = socket(AF_INET, SOCK_STREAM, 0);
		assert_int_equal(connect(idle[i], (struct sockaddr *)&a, sizeof(a)), 0);
	}
	{
		size_t cap = 70000, n;
		char *big = malloc(cap), resp[256] = "";
		ssize_t r;
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)stats_port) };
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		n = (size_t)sprintf(big, "GET /metrics HTTP/1.1\r\nHost: x\r\n%sX-Big: ", AUTH);
		memset(big + n, 'a', 65536);
		n += 65536;
		n += (size_t)sprintf(big + n, "\r\nConnection: close\r\n\r\n");
		struct timeval tv = { 5, 0 };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
		(void)!send(fd, big, n, MSG_NOSIGNAL);   /* the server may close early */
		r = recv(fd, resp, sizeof(resp) - 1, 0);
		resp[r > 0 ? r : 0] = '\0';
		print_message("64 KiB header -> %.12s\n", resp);
		assert_true(strncmp(resp, "HTTP/1.1 4", 10) == 0);
		close(fd);
		free(big);
	}

	assert_int_equal(publish(0, N, per), 0);
	check_counts(N, per);
	for (int i = 0; i < 10; i++)
		close(idle[i]);

	/* An idle daemon's store flusher sleeps (deadline-driven): its wakeups on /metrics
	 * grow by at most a few over an idle second, once the last checkpoint is done. */
	{
		double w0, w1;
		mqbt_sleep_ms(1500);
		assert_int_equal(get("/metrics", &st, &body), 0);
		w0 = metric(body, "mqbridge_store_flusher_wakeups_total ");
		free(body);
		mqbt_sleep_ms(1000);
		assert_int_equal(get("/metrics", &st, &body), 0);
		w1 = metric(body, "mqbridge_store_flusher_wakeups_total ");
		free(body);
		print_message("flusher wakeups over an idle second: %.0f (total %.0f)\n",
			      w1 - w0, w1);
		assert_true(w0 > 0);
		assert_true(w1 - w0 <= 3);
	}

	/* promtool on the live output. */
	assert_int_equal(get("/metrics", &st, &body), 0);
	snprintf(path, sizeof(path), "%s/live-metrics.txt", dir);
	mqbt_write_file(path, body);
	free(body);
	{
		char cmd[512];
		snprintf(cmd, sizeof(cmd), "/usr/bin/promtool check metrics < %s 2>&1", path);
		const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
		st = mqbt_run(argv, &out, NULL, 30000);
		print_message("promtool on live /metrics: rc=%d %s\n", st, out ? out : "");
		assert_int_equal(st, 0);
		free(out);
	}

	/* Broker down: /readyz 503 with a reason, mqtt_connected 0; /healthz stays 200. */
	mqbt_mosquitto_stop(&broker);
	body = NULL;
	assert_int_equal(wait_readyz(503, 15000, &body), 0);
	print_message("readyz while the broker is down: %s", body);
	assert_non_null(strstr(body, "not ready: "));
	free(body);
	assert_int_equal(get("/healthz", &st, &body), 0);
	assert_int_equal(st, 200);
	free(body);
	assert_int_equal(get("/metrics", &st, &body), 0);
	assert_true(metric(body, "mqbridge_mqtt_connected ") == 0);
	free(body);

	/* Broker back: 200 again, and ingest goes on. */
	assert_int_equal(mqbt_mosquitto_restart(&broker), 0);
	if (wait_readyz(200, 30000, NULL) != 0)
		dump_log();
	assert_int_equal(wait_readyz(200, 1, NULL), 0);
	assert_int_equal(publish(N, M, per), 0);
	check_counts(N + M, per);
	assert_int_equal(get("/metrics", &st, &body), 0);
	assert_true(metric(body, "mqbridge_mqtt_reconnects_total ") >= 1);
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stats_end_to_end, setup, teardown),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
