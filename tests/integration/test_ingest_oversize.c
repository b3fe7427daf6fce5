/*
 * test_ingest_oversize.c — mqtt.max_message_bytes covers the whole record (topic
 * header, payload, MQTT 5 user properties), with a real mosquitto and an MQTT 5
 * publisher (libmosquitto):
 *   - 100-byte payload + 4.8 MB / 18 MB of user properties under the 1 MiB default: the
 *     broker never sends them (mqbridge announces Maximum Packet Size 1 MiB + 64 KiB
 *     in CONNECT; mosquitto logs the drop); nothing is stored, nothing is counted as a
 *     store error;
 *   - a record just over the limit whose packet the broker still sends: refused,
 *     counted as rejected too_large and as lost oversize (/stats and /metrics);
 *   - max_batch_bytes 70000 / max_message_bytes 65536 (valid: 70000 >= 65536 + 61):
 *     a 65,000-byte payload + 20 KB of properties is refused and counted as lost
 *     oversize, never dropped as store_error after acceptance.
 * The messages around them are stored, in order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/integration/ingest_util.h"

#define PROP_VALUE 60000     /* one user property value (MQTT strings: <= 65535) */

static int teardown(void **state)
{
	return iu_teardown(state);
}

/* "mqtt"."<obj>"."<name>" from /stats, or -1. */
static long long stat2(const iu_daemon_t *d, const char *obj, const char *name)
{
	char *body = NULL;
	int status = 0;
	long long v = -1;
	cJSON *doc, *it;

	if (mqbt_http_get(d->stats_port, "/stats", &status, &body) != 0 || status != 200) {
		free(body);
		return -1;
	}
	doc = cJSON_Parse(body);
	it = doc ? cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "mqtt"), obj) : NULL;
	it = it ? cJSON_GetObjectItem(it, name) : NULL;
	if (cJSON_IsNumber(it))
		v = (long long)it->valuedouble;
	cJSON_Delete(doc);
	free(body);
	return v;
}

static bool metrics_have(const iu_daemon_t *d, const char *line)
{
	char *body = NULL;
	int status = 0;
	bool ok;

	if (mqbt_http_get(d->stats_port, "/metrics", &status, &body) != 0)
		return false;
	ok = status == 200 && body && strstr(body, line);
	if (!ok)
		fprintf(stderr, "/metrics lacks \"%s\"\n", line);
	free(body);
	return ok;
}

/* Publish QoS 1 with nprops user properties of vlen bytes each (names p0, p1, ...). */
static void send_props(iu_pub_t *pub, const char *topic, size_t plen, int nprops,
		       size_t vlen)
{
	char **argv = calloc((size_t)nprops * 2 + 1, sizeof *argv);
	char *val = malloc(vlen + 1), *payload = malloc(plen + 1);

	assert_non_null(argv);
	assert_non_null(val);
	assert_non_null(payload);
	memset(val, 'u', vlen);
	val[vlen] = '\0';
	memset(payload, 'P', plen);
	for (int i = 0; i < nprops; i++) {
		argv[2 * i] = malloc(16);
		snprintf(argv[2 * i], 16, "p%d", i);
		argv[2 * i + 1] = val;
	}
	assert_int_equal(iu_pub_send(pub, topic, payload, plen, 1, (const char *const *)argv), 0);
	for (int i = 0; i < nprops; i++)
		free(argv[2 * i]);
	free(argv);
	free(val);
	free(payload);
}

static void start(mqbt_broker_t *b, iu_daemon_t *d, const char *mqtt_extra,
		  const char *stream_extra)
{
	char routes[512];

	iu_track_broker(b);
	iu_track_daemon(d);
	assert_int_equal(mqbt_tmpdir(d->dir, sizeof d->dir), 0);
	assert_int_equal(mqbt_mosquitto_start(b, "log_type information\n"), 0);
	d->stats_port = mqbt_free_port();
	snprintf(routes, sizeof routes,
		 "streams = ( { name = \"big\"; %s } );\n"
		 "routes = ( { filter = \"big/#\"; stream = \"big\"; qos = 1; } );",
		 stream_extra);
	assert_int_equal(iu_daemon_config(d, b->port, "oversize", mqtt_extra, routes), 0);
	assert_int_equal(iu_daemon_start(d, NULL), 0);
	if (iu_daemon_wait_ready(d, 10000) != 0) {
		iu_daemon_dump_log(d);
		fail_msg("not ready");
	}
}

/* The stream holds exactly the values want[0..n). */
static void expect_stream(iu_daemon_t *d, const char *const *want, size_t n)
{
	iu_records_t rs;

	mqbt_kill(d->pid, SIGTERM);
	assert_int_equal(mqbt_wait(d->pid, 20000), 0);
	d->pid = 0;
	assert_int_equal(iu_read_stream(d->data, "big", 1, &rs), 0);
	if (rs.n != n)
		fprintf(stderr, "stream has %zu records, want %zu\n", rs.n, n);
	assert_int_equal(rs.n, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(rs.v[i].value, want[i]);
	iu_records_free(&rs);
}

static void test_default_limit(void **state)
{
	static mqbt_broker_t b;
	static iu_daemon_t d;
	static const char *const want[] = { "first", "last" };
	iu_pub_t pub;
	char *blog;

	(void)state;
	start(&b, &d, NULL, "");
	assert_int_equal(iu_pub_start(&pub, b.port, "oversize-pub", true), 0);
	assert_int_equal(iu_pub_send(&pub, "big/a", "first", 5, 1, NULL), 0);
	/* 100-byte payload + 4.8 MB of properties: over the Maximum Packet Size */
	send_props(&pub, "big/a", 100, 80, PROP_VALUE);
	/* 18 MB of properties */
	send_props(&pub, "big/a", 100, 300, PROP_VALUE);
	/* 1,080,000 bytes of properties: a packet under 1 MiB + 64 KiB, a record over
	 * 1 MiB: it reaches mqbridge, which refuses it */
	send_props(&pub, "big/a", 100, 18, PROP_VALUE);
	assert_int_equal(iu_pub_send(&pub, "big/a", "last", 4, 1, NULL), 0);
	assert_int_equal(iu_pub_wait_acked(&pub, 30000), 0);
	iu_pub_stop(&pub);
	if (iu_daemon_wait_stored(&d, 2, 20000) != 0) {
		iu_daemon_dump_log(&d);
		fail_msg("the small messages were not stored");
	}
	mqbt_sleep_ms(300);
	fprintf(stderr, "stored %lld, too_large %lld, lost oversize %lld, store_error %lld\n",
		iu_daemon_stat(&d, "stored"), stat2(&d, "rejected", "too_large"),
		stat2(&d, "lost", "oversize"), stat2(&d, "rejected", "store_error"));
	assert_int_equal(iu_daemon_stat(&d, "stored"), 2);
	assert_int_equal(stat2(&d, "rejected", "too_large"), 1);
	assert_int_equal(stat2(&d, "lost", "oversize"), 1);
	assert_int_equal(stat2(&d, "rejected", "store_error"), 0);
	assert_true(metrics_have(&d, "mqbridge_ingest_lost_total{reason=\"oversize\"} 1"));
	assert_true(metrics_have(&d, "mqbridge_messages_rejected_total{reason=\"store_error\"} 0"));
	/* the broker dropped the two larger ones for us, and says so */
	blog = mqbt_read_file(b.log_path, NULL);
	assert_non_null(blog);
	{
		const char *q = blog, *needle = "Dropping too large outgoing PUBLISH for oversize";
		int drops = 0;

		while ((q = strstr(q, needle)) != NULL) {
			drops++;
			q += strlen(needle);
		}
		fprintf(stderr, "mosquitto dropped %d PUBLISHes for mqbridge\n", drops);
		if (drops != 2) {
			fprintf(stderr, "---- mosquitto log ----\n%s\n", blog);
			fail_msg("mosquitto did not log dropping the two oversize PUBLISHes");
		}
	}
	free(blog);
	expect_stream(&d, want, 2);
	mqbt_mosquitto_destroy(&b);
}

/* The configuration the issue reported: valid, and no record that passes the limit can
 * fail to fit a 70,000-byte batch. */
static void test_small_batches(void **state)
{
	static mqbt_broker_t b;
	static iu_daemon_t d;
	static const char *const want[] = { "first", "last" };
	iu_pub_t pub;
	char *payload = malloc(65000);

	(void)state;
	assert_non_null(payload);
	memset(payload, 'x', 65000);
	start(&b, &d, "max_message_bytes = 65536;", "max_batch_bytes = 70000;");
	assert_int_equal(iu_pub_start(&pub, b.port, "oversize-pub2", true), 0);
	assert_int_equal(iu_pub_send(&pub, "big/a", "first", 5, 1, NULL), 0);
	send_props(&pub, "big/a", 65000, 1, 20000);   /* 65,000 + 20 KB of properties */
	/* a 65,000-byte payload alone fits (record < 65536): stored */
	assert_int_equal(iu_pub_send(&pub, "big/a", payload, 65000, 1, NULL), 0);
	assert_int_equal(iu_pub_send(&pub, "big/a", "last", 4, 1, NULL), 0);
	assert_int_equal(iu_pub_wait_acked(&pub, 30000), 0);
	iu_pub_stop(&pub);
	if (iu_daemon_wait_stored(&d, 3, 20000) != 0) {
		iu_daemon_dump_log(&d);
		fail_msg("not stored");
	}
	mqbt_sleep_ms(300);
	assert_int_equal(iu_daemon_stat(&d, "stored"), 3);
	assert_int_equal(stat2(&d, "rejected", "too_large"), 1);
	assert_int_equal(stat2(&d, "lost", "oversize"), 1);
	assert_int_equal(stat2(&d, "rejected", "store_error"), 0);
	{
		iu_records_t rs;

		mqbt_kill(d.pid, SIGTERM);
		assert_int_equal(mqbt_wait(d.pid, 20000), 0);
		d.pid = 0;
		assert_int_equal(iu_read_stream(d.data, "big", 1, &rs), 0);
		assert_int_equal(rs.n, 3);
		assert_string_equal(rs.v[0].value, want[0]);
		assert_int_equal(rs.v[1].value_len, 65000);
		assert_string_equal(rs.v[2].value, want[1]);
		iu_records_free(&rs);
	}
	free(payload);
	mqbt_mosquitto_destroy(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_default_limit, teardown),
		cmocka_unit_test_teardown(test_small_batches, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
