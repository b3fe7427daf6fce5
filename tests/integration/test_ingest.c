/*
 * test_ingest.c — the MQTT ingest source (mqtt_source.h feeding the pipeline)
 * in-process against a real mosquitto and a real store: bad input is counted and the
 * rest flows; headers and partitions are right; overlapping route filters store each
 * message once; a failing store (injected ENOSPC) pauses reading without loss and
 * ingest resumes afterwards. The pipeline alone: tests/unit/test_pipeline.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>

#include "bridge/config.h"
#include "tests/support/config_fx.h"
#include "bridge/ingest/partitioner.h"
#include "connectors/mqtt/mqtt_source.h"
#include "tests/integration/ingest_util.h"

struct fixture {
	mqbt_broker_t broker;
	char dir[256], data[300];
	mqb_config_t *cfg;
	mqb_store_t *store;
	mqb_mqtt_source_t *ing;
	iu_pub_t pub;
};

/* Open the store and start ingest with this config (the broker already runs). */
static void fx_open(struct fixture *fx, const char *mqtt_extra, const char *rest)
{
	char text[8192], err[512] = "";

	snprintf(text, sizeof text,
		 "data_dir = \"%s\";\n"
		 "mqtt = { host = \"127.0.0.1\"; port = %d; client_id = \"ingest-test\"; "
		 "reconnect_min_ms = 50; reconnect_max_ms = 500; %s };\n"
		 "stats = { listen = \"off\"; };\n%s\n",
		 fx->data, fx->broker.port, mqtt_extra ? mqtt_extra : "", rest);
	mqb_config_free(fx->cfg);
	fx->cfg = mqb_config_load_string(text, "test.conf", mqb_test_sections(), err, sizeof err);
	if (!fx->cfg)
		fail_msg("config: %s", err);
	fx->store = mqb_store_open(fx->data, 0, err, sizeof err);
	if (!fx->store)
		fail_msg("store: %s", err);
	for (size_t i = 0; i < fx->cfg->streams_count; i++)
		assert_int_equal(mqb_store_stream_open(fx->store, &fx->cfg->streams[i].opts,
						       err, sizeof err), MQB_OK);
	fx->ing = mqb_mqtt_source_new(fx->cfg, fx->store, NULL, err, sizeof err);
	if (!fx->ing)
		fail_msg("ingest: %s", err);
	assert_int_equal(mqb_mqtt_source_start(fx->ing), MQB_OK);
	for (int i = 0; i < 500 && !mqb_mqtt_source_ready(fx->ing, NULL, 0); i++)
		mqbt_sleep_ms(10);
	assert_true(mqb_mqtt_source_ready(fx->ing, NULL, 0));
}

/* Start a broker, the store + ingest (config rest), and a publisher. */
static void fx_start(struct fixture *fx, const char *mqtt_extra, const char *rest)
{
	memset(fx, 0, sizeof *fx);
	iu_track_broker(&fx->broker);   /* fx is static: teardown may reach it */
	assert_int_equal(mqbt_mosquitto_start(&fx->broker, NULL), 0);
	assert_int_equal(mqbt_tmpdir(fx->dir, sizeof fx->dir), 0);
	snprintf(fx->data, sizeof fx->data, "%s/data", fx->dir);
	fx_open(fx, mqtt_extra, rest);
	assert_int_equal(iu_pub_start(&fx->pub, fx->broker.port, "ingest-test-pub", true), 0);
}

/* Stop ingest and close the store (clean); the publisher keeps running. */
static void fx_close(struct fixture *fx)
{
	assert_int_equal(mqb_mqtt_source_stop(fx->ing, 5000), MQB_OK);
	mqb_mqtt_source_destroy(fx->ing);
	fx->ing = NULL;
	mqb_store_close(fx->store);
	fx->store = NULL;
}

/* Stop everything but the broker; keep the data for reading. */
static void fx_stop(struct fixture *fx)
{
	iu_pub_stop(&fx->pub);
	fx_close(fx);
}

static void fx_destroy(struct fixture *fx)
{
	mqb_config_free(fx->cfg);
	mqbt_mosquitto_destroy(&fx->broker);
	mqbt_rmrf(fx->dir);
}

static void wait_stats(mqb_mqtt_source_t *ing, uint64_t stored, uint64_t rejected, int timeout_ms)
{
	int64_t dl = mqbt_now_ms() + timeout_ms;
	mqb_mqtt_source_stats_t s;

	do {
		mqb_mqtt_source_stats(ing, &s);
		if (s.pipe.stored >= stored &&
		    s.pipe.no_route + s.pipe.too_large + s.pipe.key_template + s.pipe.store_error >= rejected)
			return;
		mqbt_sleep_ms(10);
	} while (mqbt_now_ms() < dl);
	fail_msg("timeout: stored %llu/%llu rejected %llu/%llu",
		 (unsigned long long)s.pipe.stored, (unsigned long long)stored,
		 (unsigned long long)(s.pipe.no_route + s.pipe.too_large + s.pipe.key_template + s.pipe.store_error),
		 (unsigned long long)rejected);
}

/* Oversized payload, unmatched topic, unfillable key template: each counted, logged,
 * and every good message around them is stored. A topic matching no route reaches
 * ingest the way it does in production: a route was removed from the config while
 * the broker kept the old subscription in mqbridge's persistent session. */
static void test_bad_input(void **state)
{
#define ROUTES_FMT \
		"streams = ( { name = \"s\"; partitions = 3; max_batch_bytes = 65536; } );\n" \
		"routes = ( { filter = \"dev/+/data\"; stream = \"s\"; key = \"{1}\"; qos = 1; },\n" \
		"           { filter = \"deep/#\"; stream = \"s\"; key = \"{3}\"; qos = 1; } %s);"
	static struct fixture fx;
	mqb_mqtt_source_stats_t s;
	iu_records_t rs;
	char big[3000], payload[64], conf[1024];
	int i;

	(void)state;
	/* first run: an extra route old/# (the broker keeps that subscription) */
	snprintf(conf, sizeof conf, ROUTES_FMT,
		 ", { filter = \"old/#\"; stream = \"s\"; qos = 1; } ");
	fx_start(&fx, "max_message_bytes = 1000;", conf);
	fx_close(&fx);
	/* second run without it: old/x arrives and matches no route */
	snprintf(conf, sizeof conf, ROUTES_FMT, "");
	fx_open(&fx, "max_message_bytes = 1000;", conf);

	memset(big, 'x', sizeof big);
	for (i = 0; i < 50; i++) {
		snprintf(payload, sizeof payload, "good-%d", i);
		assert_int_equal(iu_pub_send(&fx.pub, "dev/d1/data", payload, strlen(payload), 1,
					     NULL), 0);
		if (i % 10 == 0) {
			assert_int_equal(iu_pub_send(&fx.pub, "old/x", "x", 1, 1, NULL), 0);
			assert_int_equal(iu_pub_send(&fx.pub, "dev/d2/data", big, sizeof big, 1, NULL),
					 0);
			assert_int_equal(iu_pub_send(&fx.pub, "deep/a", "nokey", 5, 1, NULL), 0);
			assert_int_equal(iu_pub_send(&fx.pub, "deep/a/b/c", "key-c", 5, 1, NULL), 0);
		}
	}
	assert_int_equal(iu_pub_wait_acked(&fx.pub, 10000), 0);
	wait_stats(fx.ing, 55, 15, 10000);
	mqb_mqtt_source_stats(fx.ing, &s);
	assert_int_equal(s.pipe.no_route, 5);
	assert_int_equal(s.pipe.too_large, 5);
	assert_int_equal(s.pipe.key_template, 5);
	assert_int_equal(s.pipe.store_error, 0);
	assert_int_equal(s.pipe.stored, 55);
	assert_int_equal(s.pipe.received, 65);   /* matched a route (too_large/key counted after) */
	fx_stop(&fx);

	assert_int_equal(iu_read_stream(fx.data, "s", 3, &rs), 0);
	assert_int_equal(rs.n, 55);
	{
		int seen[50] = { 0 }, next = 0, c = 0;

		for (size_t k = 0; k < rs.n; k++) {
			int n;

			if (sscanf(rs.v[k].value, "good-%d", &n) == 1) {
				assert_true(n >= 0 && n < 50);
				seen[n]++;
				/* one key, one partition: order kept */
				assert_int_equal(n, next);
				next++;
				assert_string_equal(rs.v[k].key, "d1");
			} else {
				assert_string_equal(rs.v[k].value, "key-c");
				assert_string_equal(rs.v[k].key, "c");
				c++;
			}
		}
		for (int k = 0; k < 50; k++)
			assert_int_equal(seen[k], 1);
		assert_int_equal(c, 5);
	}
	iu_records_free(&rs);
	fx_destroy(&fx);
}

/* Headers carry the topic, QoS, MQTT 5 properties; partition = murmur2(key) % n. */
static void test_headers_partitions(void **state)
{
	static struct fixture fx;
	iu_records_t rs;
	struct mosquitto *m;
	mosquitto_property *props = NULL;
	char topic[64], payload[64];
	int i;

	(void)state;
	fx_start(&fx, NULL,
		 "streams = ( { name = \"t\"; partitions = 5; } );\n"
		 "routes = ( { filter = \"sensors/+/telemetry\"; stream = \"t\"; key = \"{1}\"; "
		 "qos = 2; } );");
	m = fx.pub.mosq;
	mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, "unit", "celsius");
	mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, "fw", "1.2.3");
	mosquitto_property_add_string(&props, MQTT_PROP_CONTENT_TYPE, "application/json");
	mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, "replies/x");
	mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, "\x01\x02", 2);
	for (i = 0; i < 40; i++) {
		snprintf(topic, sizeof topic, "sensors/dev%d/telemetry", i % 20);
		snprintf(payload, sizeof payload, "{\"i\":%d}", i);
		assert_int_equal(mosquitto_publish_v5(m, NULL, topic, (int)strlen(payload), payload,
						      i % 3, false, props), MOSQ_ERR_SUCCESS);
		fx.pub.sent++;
	}
	mosquitto_property_free_all(&props);
	assert_int_equal(iu_pub_wait_acked(&fx.pub, 10000), 0);
	wait_stats(fx.ing, 40, 0, 10000);
	fx_stop(&fx);

	assert_int_equal(iu_read_stream(fx.data, "t", 5, &rs), 0);
	assert_int_equal(rs.n, 40);
	for (size_t k = 0; k < rs.n; k++) {
		iu_rec_t *r = &rs.v[k];
		int n = -1;
		char want_topic[64], want_qos[4];

		assert_int_equal(sscanf(r->value, "{\"i\":%d}", &n), 1);
		snprintf(want_topic, sizeof want_topic, "sensors/dev%d/telemetry", n % 20);
		snprintf(want_qos, sizeof want_qos, "%d", n % 3);
		assert_non_null(r->key);
		assert_int_equal(r->partition,
				 mqb_partition_for_key(r->key, strlen(r->key), 5));
		assert_string_equal(iu_hdr(r, "mqtt.topic"), want_topic);
		assert_string_equal(iu_hdr(r, "mqtt.qos"), want_qos);
		assert_string_equal(iu_hdr(r, "unit"), "celsius");
		assert_string_equal(iu_hdr(r, "fw"), "1.2.3");
		assert_string_equal(iu_hdr(r, "mqtt.content_type"), "application/json");
		assert_string_equal(iu_hdr(r, "mqtt.response_topic"), "replies/x");
		assert_memory_equal(iu_hdr(r, "mqtt.correlation_data"), "\x01\x02", 2);
		assert_null(iu_hdr(r, "mqtt.retain"));
		assert_true(r->timestamp_ms > 1600000000000LL);
	}
	iu_records_free(&rs);
	fx_destroy(&fx);
}

/* "ov/special" and "ov/#" overlap: the broker may send two copies; the route that
 * matches first gets the message exactly once and the other route none of it. */
static void test_overlapping_routes(void **state)
{
	static struct fixture fx;
	iu_records_t ra, rb;
	int i;

	(void)state;
	fx_start(&fx, NULL,
		 "streams = ( { name = \"a\"; partitions = 1; }, { name = \"b\"; partitions = 1; } );\n"
		 "routes = ( { filter = \"ov/special\"; stream = \"a\"; qos = 1; },\n"
		 "           { filter = \"ov/#\"; stream = \"b\"; qos = 1; } );");
	for (i = 0; i < 10; i++) {
		assert_int_equal(iu_pub_send(&fx.pub, "ov/special", "S", 1, 1, NULL), 0);
		assert_int_equal(iu_pub_send(&fx.pub, "ov/other", "O", 1, 1, NULL), 0);
	}
	assert_int_equal(iu_pub_wait_acked(&fx.pub, 10000), 0);
	wait_stats(fx.ing, 20, 0, 10000);
	mqbt_sleep_ms(300);   /* a late duplicate would show up now */
	fx_stop(&fx);
	assert_int_equal(iu_read_stream(fx.data, "a", 1, &ra), 0);
	assert_int_equal(iu_read_stream(fx.data, "b", 1, &rb), 0);
	assert_int_equal(ra.n, 10);
	assert_int_equal(rb.n, 10);
	for (size_t k = 0; k < 10; k++) {
		assert_string_equal(ra.v[k].value, "S");
		assert_string_equal(rb.v[k].value, "O");
		assert_null(ra.v[k].key);
	}
	iu_records_free(&ra);
	iu_records_free(&rb);
	fx_destroy(&fx);
}

struct injector {
	mqb_store_t *store;
	const char *stream;
	int32_t partitions;
	int duration_ms;
};

static void *inject_enospc(void *arg)
{
	struct injector *in = arg;
	int64_t end = mqbt_now_ms() + in->duration_ms;

	while (mqbt_now_ms() < end) {
		for (int32_t p = 0; p < in->partitions; p++)
			mqb_store_test_fail_next_write(mqb_store_partition(in->store, in->stream, p),
						       ENOSPC);
		mqbt_sleep_ms(2);
	}
	return NULL;
}

/* Disk full for ~1.5 s while QoS 1 messages flow: reading pauses, nothing is lost or
 * duplicated, and ingest resumes by itself. */
static void test_backpressure_enospc(void **state)
{
	static struct fixture fx;
	struct injector in;
	pthread_t th;
	mqb_mqtt_source_stats_t s;
	iu_records_t rs;
	bool saw_paused = false;
	char topic[32], payload[32];
	int i, n = 3000;

	(void)state;
	fx_start(&fx, "max_inflight = 20;",
		 "streams = ( { name = \"bp\"; partitions = 2; } );\n"
		 "routes = ( { filter = \"bp/+\"; stream = \"bp\"; key = \"{1}\"; qos = 1; } );");
	in = (struct injector){ fx.store, "bp", 2, 1500 };
	assert_int_equal(pthread_create(&th, NULL, inject_enospc, &in), 0);
	for (i = 0; i < n; i++) {
		snprintf(topic, sizeof topic, "bp/k%d", i % 7);
		snprintf(payload, sizeof payload, "%d", i);
		assert_int_equal(iu_pub_send(&fx.pub, topic, payload, strlen(payload), 1, NULL), 0);
		iu_pub_throttle(&fx.pub, 500);
		if ((i & 63) == 0) {
			mqb_mqtt_source_stats(fx.ing, &s);
			saw_paused |= s.pipe.paused;
		}
	}
	for (i = 0; i < 200 && !saw_paused; i++) {
		mqb_mqtt_source_stats(fx.ing, &s);
		saw_paused |= s.pipe.paused;
		mqbt_sleep_ms(5);
	}
	pthread_join(th, NULL);
	assert_int_equal(iu_pub_wait_acked(&fx.pub, 30000), 0);
	wait_stats(fx.ing, (uint64_t)n, 0, 30000);
	mqb_mqtt_source_stats(fx.ing, &s);
	fprintf(stderr, "back-pressure: %llu store retries, paused %.2f s, stored %llu\n",
		(unsigned long long)s.pipe.store_retries, s.pipe.paused_ms_total / 1000.0,
		(unsigned long long)s.pipe.stored);
	assert_true(saw_paused);
	assert_true(s.pipe.store_retries > 0);
	assert_false(s.pipe.paused);
	assert_int_equal(s.pipe.stored, (uint64_t)n);
	assert_int_equal(s.pipe.store_error, 0);
	fx_stop(&fx);

	assert_int_equal(iu_read_stream(fx.data, "bp", 2, &rs), 0);
	assert_int_equal(rs.n, (size_t)n);
	{
		char *seen = calloc((size_t)n, 1);
		int last[7];

		for (i = 0; i < 7; i++)
			last[i] = -1;
		for (size_t k = 0; k < rs.n; k++) {
			int v = atoi(rs.v[k].value), key = atoi(rs.v[k].key + 1);

			assert_true(v >= 0 && v < n);
			assert_int_equal(seen[v], 0);
			seen[v] = 1;
			assert_int_equal(key, v % 7);
			assert_true(v > last[key]);   /* per-key order kept */
			last[key] = v;
		}
		free(seen);
	}
	iu_records_free(&rs);
	fx_destroy(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_bad_input, iu_teardown),
		cmocka_unit_test_teardown(test_headers_partitions, iu_teardown),
		cmocka_unit_test_teardown(test_overlapping_routes, iu_teardown),
		cmocka_unit_test_teardown(test_backpressure_enospc, iu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
