/*
 * test_plugin_kafka.c — the Kafka forwarder composed into mqbridge_plugin.so
 * (bridge/daemon/plugin_main.c): 300 QoS 1 messages published to mosquitto with the
 * plugin reach the librdkafka mock cluster's topic, each once, with its mqtt.topic
 * header.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/integration/test_kafka_util.h"
#include "tests/support/plugin_fx.h"

#define N 300

static pf_broker_t pb;
static kmock_t mock;

static int teardown(void **state)
{
	(void)state;
	pf_destroy(&pb);
	kmock_stop(&mock);
	return 0;
}

struct seen {
	unsigned char count[N];
	int bad_header;
};

static void on_msg(const rd_kafka_message_t *m, void *arg)
{
	struct seen *s = arg;
	rd_kafka_headers_t *h = NULL;
	const void *v = NULL;
	size_t vlen = 0;
	char val[32];
	int i;

	snprintf(val, sizeof val, "%.*s", (int)(m->len < 31 ? m->len : 31), (const char *)m->payload);
	i = atoi(val);
	if (i >= 0 && i < N && s->count[i] < 255)
		s->count[i]++;
	if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR ||
	    rd_kafka_header_get_last(h, "mqtt.topic", &v, &vlen) != RD_KAFKA_RESP_ERR_NO_ERROR ||
	    vlen < 4 || memcmp(v, "fwd/", 4) != 0)
		s->bad_header++;
}

static void test_forward_from_plugin(void **state)
{
	const char *topics[] = { "edge.t:4", NULL };
	char conf[2048], topic[32], payload[32];
	struct seen *s = calloc(1, sizeof *s);
	pf_pub_t *pub;
	int64_t got;

	(void)state;
	if (kmock_start(&mock, 1, topics))
		fail_msg("kafka_mock did not start");
	snprintf(conf, sizeof conf,
		 "streams = ( { name = \"t\"; partitions = 4; flush = { interval_ms = 5; }; } );\n"
		 "routes = ( { filter = \"fwd/+\"; stream = \"t\"; key = \"{1}\"; } );\n"
		 "kafka = { bootstrap_servers = \"%s\";\n"
		 "  properties = ( (\"retry.backoff.ms\", \"20\") );\n"
		 "  forward = ( { stream = \"t\"; topic = \"edge.t\"; } ); };\n",
		 mock.bootstrap);
	assert_int_equal(pf_config(&pb, conf), 0);
	if (pf_start(&pb, NULL) != 0) {
		pf_dump_log(&pb);
		fail_msg("mosquitto with the plugin did not start");
	}
	pub = pf_pub_start(pb.b.port, "fwd-pub", true, true);
	assert_non_null(pub);
	for (int i = 0; i < N; i++) {
		snprintf(topic, sizeof topic, "fwd/d%d", i % 7);
		snprintf(payload, sizeof payload, "%d", i);
		assert_int_equal(pf_pub_send(pub, topic, payload, strlen(payload), 1, NULL, NULL), 0);
	}
	assert_int_equal(pf_pub_wait_acked(pub, N, 20000), 0);
	got = kconsume(mock.bootstrap, "edge.t", 4, N, 30000, 1000, on_msg, s);
	if (got != N) {
		pf_dump_log(&pb);
		fail_msg("%lld of %d forwarded", (long long)got, N);
	}
	for (int i = 0; i < N; i++)
		assert_int_equal(s->count[i], 1);
	assert_int_equal(s->bad_header, 0);
	pf_pub_stop(pub);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_forward_from_plugin, teardown),
	};
	mosquitto_lib_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
