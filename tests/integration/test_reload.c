/*
 * test_reload.c — SIGHUP reload of mqbridged under QoS 1 load (real mosquitto, real
 * libmosquitto publishers, the real daemon; docs/OPERATIONS.md "Reload").
 *
 * A publisher thread sends QoS 1 messages on load/<dev>/m (~3000/s) the whole time
 * while the test rewrites the file and sends SIGHUP 20 times: even reloads add the
 * route extra/# (stream "extra", opened live by the first one), odd ones remove it,
 * and every reload flips the load route's key template between "{1}" and "k-{1}";
 * group g1's prefetch changes on every reload, group g2 comes and goes with extra,
 * and the 10th reload grows stream load from 4 to 6 partitions.
 * Then: an invalid file (refused with file:line, the old routes keep working), a
 * restart-only change (data_dir: "needs a restart" naming it, nothing applied), and
 * log_level changed live (warn hides the reload's notices, info brings them back),
 * and the extra route's QoS lowered to 0 (its records then arrive at QoS 0).
 * At the end every acknowledged load message is in the store exactly once, every
 * extra message published while the route existed is stored, none published while
 * it was removed, and the records stored after the last reload carry the final key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "tests/integration/ingest_util.h"

#define NDEV 16
#define NRELOADS 20
#define EXTRA_PER_PHASE 50
#define LOAD_PARTS 4

static mqbt_broker_t b;
static iu_daemon_t d;

/* --- load publisher thread ---------------------------------------------------------- */

struct load {
	iu_pub_t pub;
	pthread_t th;
	atomic_bool stop;
	atomic_long sent;       /* messages published (payload "L<seq>", seq 0..sent-1) */
	atomic_long marker;     /* first seq published after the test's last reload */
};

static void *load_thread(void *arg)
{
	struct load *l = arg;
	char topic[64], payload[32];

	while (!atomic_load(&l->stop)) {
		for (int i = 0; i < 30; i++) {
			snprintf(topic, sizeof topic, "load/dev%02ld/m", l->sent % NDEV);
			snprintf(payload, sizeof payload, "L%ld", l->sent);
			if (iu_pub_send(&l->pub, topic, payload, strlen(payload), 1, NULL) != 0)
				return NULL;
			l->sent++;
		}
		iu_pub_throttle(&l->pub, 500);
		mqbt_sleep_ms(10);
	}
	return NULL;
}

/* --- configuration files ------------------------------------------------------------ */

/* Write the daemon's file atomically (the daemon may read it at any time). */
static int extra_qos = 1;   /* the extra route's QoS in the files written */
static int g1_prefetch = 10;  /* group g1's prefetch in the files written */
static bool g2_present;       /* group g2 in the files written */
static char token_path[420];  /* stats.token_file ("" none) */
static int load_parts = LOAD_PARTS;  /* stream load's partitions in the files written */

static void write_conf(const char *data_dir, const char *log_level, bool extra_stream,
		       bool extra_route, const char *key, const char *tail)
{
	char text[4096], tmp[400], tok[500] = "";

	if (token_path[0])
		snprintf(tok, sizeof tok, " token_file = \"%s\";", token_path);
	snprintf(text, sizeof text,
		 "data_dir = \"%s\";\n"
		 "log_level = \"%s\";\n"
		 "mqtt = { host = \"127.0.0.1\"; port = %d; client_id = \"reload\"; "
		 "reconnect_min_ms = 50; reconnect_max_ms = 500; };\n"
		 "stats = { listen = \"127.0.0.1:%d\";%s };\n"
		 "streams = ( { name = \"load\"; partitions = %d; }%s );\n"
		 "routes = ( { name = \"load\"; filter = \"load/+/m\"; stream = \"load\"; "
		 "key = \"%s\"; qos = 1; }%s%s );\n"
		 "groups = ( { name = \"g1\"; stream = \"load\"; prefetch = %d; }%s );\n%s",
		 data_dir, log_level, b.port, d.stats_port, tok, load_parts,
		 extra_stream ? ", { name = \"extra\"; partitions = 1; }" : "", key,
		 extra_route ? ", { name = \"extra\"; filter = \"extra/#\"; stream = \"extra\"; "
			       "qos = " : "", extra_route ? (extra_qos ? "1; }" : "0; }") : "",
		 g1_prefetch, g2_present ? ", { name = \"g2\"; stream = \"load\"; "
		 "mode = \"shared\"; ack_timeout_ms = 5000; }" : "", tail ? tail : "");
	snprintf(tmp, sizeof tmp, "%s.tmp", d.conf);
	assert_int_equal(mqbt_write_file(tmp, text), 0);
	assert_int_equal(rename(tmp, d.conf), 0);
}

static int count_in_log(const char *needle)
{
	return mqbt_count_in_file(d.log, needle);
}

/* SIGHUP and wait until the log has one more line containing done_marker. */
static int64_t hup_max_ms, hup_total_ms, hup_n;   /* SIGHUP to done line, as seen here */

static void hup_and_wait(const char *done_marker)
{
	int64_t t0 = mqbt_now_ms(), dt;

	if (mqbt_signal_wait_log(d.pid, SIGHUP, d.log, done_marker, 30000) != 0) {
		iu_daemon_dump_log(&d);
		fail_msg("no \"%s\" after SIGHUP", done_marker);
	}
	dt = mqbt_now_ms() - t0;
	hup_total_ms += dt;
	hup_n++;
	if (dt > hup_max_ms)
		hup_max_ms = dt;
}

/* GET /readyz == 200 (every route's subscription acknowledged) within 10 s */
static void wait_ready(void)
{
	int64_t dl = mqbt_now_ms() + 10000;
	int status = 0;

	while (mqbt_now_ms() < dl) {
		char *body = NULL;

		if (mqbt_http_get(d.stats_port, "/readyz", &status, &body) == 0 && status == 200) {
			free(body);
			return;
		}
		free(body);
		mqbt_sleep_ms(20);
	}
	fail_msg("/readyz stays %d", status);
}

/* mqbridge_messages_received_total{route="name"} from /metrics (0 when absent) */
static long long route_received(const char *name)
{
	char *body = NULL, needle[128];
	int status = 0;
	long long v = 0;
	const char *p;

	snprintf(needle, sizeof needle, "mqbridge_messages_received_total{route=\"%s\"} ", name);
	if (mqbt_http_get(d.stats_port, "/metrics", &status, &body) == 0 && status == 200 &&
	    (p = strstr(body, needle)) != NULL)
		v = atoll(p + strlen(needle));
	free(body);
	return v;
}

static void wait_route_received(const char *name, long long n)
{
	int64_t dl = mqbt_now_ms() + 20000;

	while (route_received(name) < n) {
		if (mqbt_now_ms() > dl) {
			iu_daemon_dump_log(&d);
			fail_msg("route %s received %lld of %lld", name, route_received(name), n);
		}
		mqbt_sleep_ms(20);
	}
}

static void publish_extra(iu_pub_t *pub, int phase)
{
	char payload[32];

	for (int i = 0; i < EXTRA_PER_PHASE; i++) {
		snprintf(payload, sizeof payload, "X%d-%d", phase, i);
		assert_int_equal(iu_pub_send(pub, "extra/a/b", payload, strlen(payload), 1, NULL), 0);
	}
	assert_int_equal(iu_pub_wait_acked(pub, 20000), 0);
}

static const char *key_for(int i)
{
	return i % 2 ? "k-{1}" : "{1}";
}

static void test_reload_under_load(void **state)
{
	static struct load l;
	iu_pub_t xp;
	iu_records_t rs;
	long long extra_expected = 0;
	bool present_phase[NRELOADS + 3] = { false };
	int i;

	(void)state;
	iu_track_broker(&b);
	iu_track_daemon(&d);
	assert_int_equal(mqbt_mosquitto_start(&b, NULL), 0);
	assert_int_equal(mqbt_tmpdir(d.dir, sizeof d.dir), 0);
	d.stats_port = mqbt_free_port();
	/* iu_daemon_config names the files; the content is write_conf's */
	assert_int_equal(iu_daemon_config(&d, b.port, "reload", NULL, ""), 0);
	write_conf(d.data, "info", false, false, key_for(0), NULL);
	assert_int_equal(iu_daemon_start(&d, NULL), 0);
	if (iu_daemon_wait_ready(&d, 15000) != 0) {
		iu_daemon_dump_log(&d);
		fail_msg("mqbridged not ready");
	}

	assert_int_equal(iu_pub_start(&l.pub, b.port, "reload-load", true), 0);
	assert_int_equal(iu_pub_start(&xp, b.port, "reload-extra", true), 0);
	assert_int_equal(pthread_create(&l.th, NULL, load_thread, &l), 0);
	mqbt_sleep_ms(300);

	for (i = 1; i <= NRELOADS; i++) {
		bool present = i % 2 == 1;

		/* groups too: g1's prefetch every time, g2 added and removed with extra */
		g1_prefetch = 10 + i;
		g2_present = present;
		if (i == NRELOADS / 2)
			load_parts = LOAD_PARTS + 2;   /* more partitions, under load */
		write_conf(d.data, "info", true, present, key_for(i), NULL);
		hup_and_wait("configuration reloaded from");
		if (present) {
			wait_ready();                     /* extra/# acknowledged by the broker */
			publish_extra(&xp, i);
			extra_expected += EXTRA_PER_PHASE;
			wait_route_received("extra", extra_expected);
		} else {
			publish_extra(&xp, i);            /* no route: must not be stored */
		}
		present_phase[i] = present;
		mqbt_sleep_ms(100);
	}
	/* 20 reloads ends with the route removed: no "no_route" noise from subscriptions */
	assert_int_equal(count_in_log("reload: stream load now has 6 partitions"), 1);
	assert_int_equal(count_in_log("group g1: reloaded: prefetch"), NRELOADS);
	assert_int_equal(count_in_log("group g2: added on stream load"), NRELOADS / 2);
	assert_int_equal(count_in_log("group g2: removed (no members)"), NRELOADS / 2);
	{
		char *body = NULL;
		int st = 0;
		cJSON *doc;

		assert_int_equal(mqbt_http_get(d.stats_port, "/groups/g1", &st, &body), 0);
		assert_int_equal(st, 200);
		doc = cJSON_Parse(body);
		assert_non_null(doc);
		assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(doc, "prefetch")),
				 10 + NRELOADS);
		cJSON_Delete(doc);
		free(body);
		assert_int_equal(mqbt_http_get(d.stats_port, "/groups/g2", &st, &body), 0);
		assert_int_equal(st, 404);
		free(body);
	}

	/* an invalid file is refused with file:line, the running configuration stays */
	write_conf(d.data, "info", true, true, key_for(NRELOADS), NULL);
	{
		char *text = mqbt_read_file(d.conf, NULL), bad[5000], tmp[400];

		assert_non_null(text);
		snprintf(bad, sizeof bad, "%sbogus_key = 1;\n", text);
		free(text);
		snprintf(tmp, sizeof tmp, "%s.tmp", d.conf);
		assert_int_equal(mqbt_write_file(tmp, bad), 0);
		assert_int_equal(rename(tmp, d.conf), 0);
	}
	hup_and_wait("reload refused, the running configuration stays");
	{
		char *log = mqbt_read_file(d.log, NULL), needle[400];

		snprintf(needle, sizeof needle, "%s:8: bogus_key", d.conf);
		assert_non_null(log);
		if (!strstr(log, needle)) {
			iu_daemon_dump_log(&d);
			fail_msg("no \"%s\" in the log", needle);
		}
		free(log);
	}
	publish_extra(&xp, 100);                  /* extra route still absent */

	/* a restart-only change: named, nothing applied (the extra route stays absent) */
	{
		char other[400];

		snprintf(other, sizeof other, "%s2", d.data);
		write_conf(other, "info", true, true, key_for(NRELOADS), NULL);
	}
	hup_and_wait("change(s) need a restart");
	assert_true(count_in_log("reload: data_dir changed: needs a restart") >= 1);
	publish_extra(&xp, 101);

	/* log_level live: at warn the reload's notices disappear, back at info they return */
	write_conf(d.data, "warn", true, false, key_for(NRELOADS), NULL);
	hup_and_wait("reload: log_level: info -> warn");
	{
		int notices = count_in_log("SIGHUP: reloading");

		write_conf(d.data, "warn", true, false, key_for(NRELOADS), "bogus_key = 2;\n");
		hup_and_wait("reload refused, the running configuration stays");
		assert_int_equal(count_in_log("SIGHUP: reloading"), notices);   /* hidden */
		write_conf(d.data, "info", true, false, key_for(NRELOADS), NULL);
		hup_and_wait("configuration reloaded from");
		write_conf(d.data, "info", true, false, key_for(NRELOADS + 1), NULL);
		hup_and_wait("configuration reloaded from");
		assert_int_equal(count_in_log("SIGHUP: reloading"), notices + 1);
	}
	/* QoS of a route: the subscription follows (records keep the QoS they came by) */
	write_conf(d.data, "info", true, true, key_for(NRELOADS + 1), NULL);
	hup_and_wait("configuration reloaded from");
	wait_ready();
	publish_extra(&xp, NRELOADS + 1);
	extra_expected += EXTRA_PER_PHASE;
	present_phase[NRELOADS + 1] = true;
	wait_route_received("extra", extra_expected);
	extra_qos = 0;
	write_conf(d.data, "info", true, true, key_for(NRELOADS + 1), NULL);
	hup_and_wait("reload: extra/# now at QoS 0 (was 1)");
	wait_ready();
	mqbt_sleep_ms(300);                       /* the new SUBACK */
	publish_extra(&xp, NRELOADS + 2);
	extra_expected += EXTRA_PER_PHASE;
	present_phase[NRELOADS + 2] = true;
	wait_route_received("extra", extra_expected);
	/* /stats routes[] lists the routes in force, not those of the start */
	{
		char *body = NULL;
		int st = 0;
		cJSON *doc, *r;
		bool seen = false;

		assert_int_equal(mqbt_http_get(d.stats_port, "/stats", &st, &body), 0);
		assert_int_equal(st, 200);
		doc = cJSON_Parse(body);
		assert_non_null(doc);
		assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "routes")), 2);
		cJSON_ArrayForEach(r, cJSON_GetObjectItem(doc, "routes"))
			if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(r, "name")), "extra")) {
				assert_int_equal((int)cJSON_GetNumberValue(
						 cJSON_GetObjectItem(r, "qos")), 0);
				assert_int_equal((long long)cJSON_GetNumberValue(
						 cJSON_GetObjectItem(r, "received")), extra_expected);
				seen = true;
			}
		assert_true(seen);
		cJSON_Delete(doc);
		free(body);
	}

	/* from here on, every load record carries key_for(NRELOADS + 1) */
	atomic_store(&l.marker, l.sent);
	mqbt_sleep_ms(500);

	atomic_store(&l.stop, true);
	pthread_join(l.th, NULL);
	assert_int_equal(iu_pub_wait_acked(&l.pub, 30000), 0);
	if (iu_daemon_wait_stored(&d, l.sent + extra_expected, 60000) != 0) {
		iu_daemon_dump_log(&d);
		fail();
	}
	iu_pub_stop(&l.pub);
	iu_pub_stop(&xp);
	mqbt_kill(d.pid, SIGTERM);
	assert_int_equal(mqbt_wait(d.pid, 20000), 0);
	d.pid = 0;

	/* load: each acknowledged message exactly once, keyed by one of the templates */
	assert_int_equal(iu_read_stream(d.data, "load", load_parts, &rs), 0);
	{
		unsigned char *seen = calloc((size_t)l.sent + 1, 1);
		long dup = 0, missing = 0, late_wrong = 0;

		assert_non_null(seen);
		for (size_t k = 0; k < rs.n; k++) {
			long seq = -1, dev;
			char k1[32], k2[32];

			assert_int_equal(sscanf(rs.v[k].value, "L%ld", &seq), 1);
			assert_true(seq >= 0 && seq < l.sent);
			if (seen[seq]++)
				dup++;
			dev = seq % NDEV;
			snprintf(k1, sizeof k1, "dev%02ld", dev);
			snprintf(k2, sizeof k2, "k-dev%02ld", dev);
			assert_non_null(rs.v[k].key);
			assert_true(strcmp(rs.v[k].key, k1) == 0 || strcmp(rs.v[k].key, k2) == 0);
			if (seq >= atomic_load(&l.marker) &&
			    strcmp(rs.v[k].key, (NRELOADS + 1) % 2 ? k2 : k1) != 0)
				late_wrong++;
		}
		for (long s = 0; s < l.sent; s++)
			if (!seen[s])
				missing++;
		fprintf(stderr, "reload test: %ld load messages published and acknowledged, "
			"%zu records, %ld missing, %ld duplicates, %lld extra expected; %lld reloads "
			"took %lld ms on average, %lld ms at most (SIGHUP to the log line, polled "
			"every 20 ms)\n", (long)l.sent, rs.n, missing, dup, extra_expected,
			(long long)hup_n, (long long)(hup_n ? hup_total_ms / hup_n : 0),
			(long long)hup_max_ms);
		assert_int_equal(missing, 0);
		assert_int_equal(dup, 0);        /* no reconnect here: no QoS 1 redelivery */
		assert_int_equal(late_wrong, 0);
		free(seen);
	}
	iu_records_free(&rs);

	/* extra: exactly the messages of the phases that had the route */
	assert_int_equal(iu_read_stream(d.data, "extra", 1, &rs), 0);
	assert_int_equal((long long)rs.n, extra_expected);
	for (size_t k = 0; k < rs.n; k++) {
		int phase = -1, n = -1;

		assert_int_equal(sscanf(rs.v[k].value, "X%d-%d", &phase, &n), 2);
		assert_true(phase >= 1 && phase <= NRELOADS + 2 && present_phase[phase]);
		assert_non_null(iu_hdr(&rs.v[k], "mqtt.qos"));
		assert_string_equal(iu_hdr(&rs.v[k], "mqtt.qos"), phase == NRELOADS + 2 ? "0" : "1");
	}
	iu_records_free(&rs);
}

/* GET /stats with "Authorization: Bearer tok" (tok NULL: none): the status. */
static int stats_status(const char *tok)
{
	char hdr[128] = "", *body = NULL;
	int st = 0;

	if (tok)
		snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", tok);
	if (mqbt_http_request(d.stats_port, "GET", "/stats", tok ? hdr : NULL, &st, &body,
			      5000) != 0)
		st = -1;
	free(body);
	return st;
}

/* A forward entry to a Kafka nobody answers: the forwarder runs, never connects. */
#define KAFKA "kafka = { bootstrap_servers = \"127.0.0.1:1\"; " \
	"forward = ( { stream = \"load\"; topic = \"load\"; } ); };\n"
#define KAFKA2 "kafka = { bootstrap_servers = \"127.0.0.1:1\"; " \
	"forward = ( { stream = \"load\"; topic = \"load2\"; } ); };\n"
#define KAFKA_PROPS "kafka = { bootstrap_servers = \"127.0.0.1:1\"; " \
	"properties = ( (\"linger.ms\", \"50\") ); " \
	"forward = ( { stream = \"load\"; topic = \"load\"; } ); };\n"

/* stats.token_file live: a rotated token (same file, new content), a bad file refused
 * (the token in force stays), the key removed (no token needed any more). Then more
 * partitions for a stream Kafka forwards and its forward topic, live; a producer
 * property, refused as "needs a restart". */
static void test_reload_stats_token(void **state)
{
	char bad[420];

	(void)state;
	memset(&d, 0, sizeof d);
	memset(&b, 0, sizeof b);
	load_parts = LOAD_PARTS;
	iu_track_broker(&b);
	iu_track_daemon(&d);
	assert_int_equal(mqbt_mosquitto_start(&b, NULL), 0);
	assert_int_equal(mqbt_tmpdir(d.dir, sizeof d.dir), 0);
	d.stats_port = mqbt_free_port();
	assert_int_equal(iu_daemon_config(&d, b.port, "reload", NULL, ""), 0);
	snprintf(token_path, sizeof token_path, "%s/token", d.dir);
	assert_int_equal(mqbt_write_file(token_path, "first-token\n"), 0);
	chmod(token_path, 0600);
	g2_present = false;
	write_conf(d.data, "info", false, false, "{1}", KAFKA);
	assert_int_equal(iu_daemon_start(&d, NULL), 0);
	if (iu_daemon_wait_ready(&d, 30000) != 0) {   /* SIGHUP is read once it runs */
		iu_daemon_dump_log(&d);
		fail_msg("mqbridged not ready");
	}
	assert_int_equal(stats_status("first-token"), 200);
	assert_int_equal(stats_status(NULL), 401);

	/* rotated: the file is the same, its content new */
	assert_int_equal(mqbt_write_file(token_path, "second-token\n"), 0);
	hup_and_wait("configuration reloaded from");
	assert_int_equal(count_in_log("reload: stats endpoint token replaced"), 1);
	assert_int_equal(stats_status("first-token"), 401);
	assert_int_equal(stats_status("second-token"), 200);

	/* an empty token file: refused, the token in force stays */
	snprintf(bad, sizeof bad, "%s/empty", d.dir);
	assert_int_equal(mqbt_write_file(bad, "\n"), 0);
	snprintf(token_path, sizeof token_path, "%s", bad);
	write_conf(d.data, "info", false, false, "{1}", KAFKA);
	hup_and_wait("reload refused, the running configuration stays");
	assert_true(count_in_log("empty token (the first line must hold it)") >= 1);
	assert_int_equal(stats_status("second-token"), 200);
	/* a missing one: the same */
	snprintf(token_path, sizeof token_path, "%s/missing", d.dir);
	write_conf(d.data, "info", false, false, "{1}", KAFKA);
	hup_and_wait("reload refused, the running configuration stays");
	assert_int_equal(stats_status("second-token"), 200);

	/* removed: no token needed, said at warning level */
	token_path[0] = '\0';
	write_conf(d.data, "info", false, false, "{1}", KAFKA);
	hup_and_wait("configuration reloaded from");
	assert_int_equal(count_in_log("the stats endpoint answers without a token now"), 1);
	assert_int_equal(stats_status(NULL), 200);

	/* more partitions for a stream the Kafka forwarder reads: live, the forwarder
	 * takes them from their start */
	load_parts = LOAD_PARTS + 2;
	write_conf(d.data, "info", false, false, "{1}", KAFKA);
	hup_and_wait("configuration reloaded from");
	assert_int_equal(count_in_log("reload: forwarding stream load partitions"), 1);
	/* the forward entry's topic: live (nothing in flight to wait for) */
	write_conf(d.data, "info", false, false, "{1}", KAFKA2);
	hup_and_wait("kafka.forward changed");
	assert_int_equal(count_in_log("reload: stream load now forwarded to topic load2 "
				      "(was load)"), 1);
	/* a producer property beside it: needs a restart, named; the topic stays */
	write_conf(d.data, "info", false, false, "{1}", KAFKA_PROPS);
	hup_and_wait("change(s) need a restart");
	assert_int_equal(count_in_log("reload: kafka.properties changed: needs a restart"), 1);
	load_parts = LOAD_PARTS;
	mqbt_kill(d.pid, SIGTERM);
	assert_int_equal(mqbt_wait(d.pid, 20000), 0);
	d.pid = 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_reload_under_load, iu_teardown),
		cmocka_unit_test_teardown(test_reload_stats_token, iu_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
