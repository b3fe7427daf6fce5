/*
 * test_plugin_ingest.c — mqbridge_plugin.so inside a real mosquitto, end to end:
 *  - MQTT 5 and 3.1.1 publishers at QoS 0/1/2 (MQTT 5 with user properties): once each
 *    acknowledgement arrived, every message is in the store exactly once, in the
 *    partition of its key (murmur2), with its headers; subscribers still get them;
 *    the acknowledgement means stored: with mqtt.batch_linger_ms at its maximum (a
 *    client-mode setting) the records are stored when the last PUBACK arrives;
 *  - a topic no route matches is a normal broker message: delivered, not stored;
 *  - a payload over mqtt.max_message_bytes is refused for good: an MQTT 5 publisher
 *    sees reason 0x87 in its PUBACK (a 3.1.1 one cannot), nothing is stored, and
 *    /metrics counts it by reason;
 *  - SIGTERM of the broker stops the plugin cleanly (store closed, clean marker).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>

#include "bridge/ingest/partitioner.h"
#include "tests/integration/ingest_util.h"
#include "tests/support/plugin_fx.h"

#define PER_QOS 50

static const char *const CONF =
	"mqtt = { max_message_bytes = 2000; batch_linger_ms = 1000; };\n"
	"streams = ( { name = \"telemetry\"; partitions = 4; } );\n"
	"routes = ( { filter = \"sensors/+/telemetry\"; stream = \"telemetry\"; key = \"{1}\"; "
	"qos = 2; } );";

static pf_broker_t pb;

static int teardown(void **state)
{
	(void)state;
	pf_destroy(&pb);
	return 0;
}

struct sub {
	atomic_int routed, unrouted;
};

static void sub_on_message(struct mosquitto *m, void *o, const struct mosquitto_message *msg)
{
	struct sub *s = o;
	(void)m;
	if (strncmp(msg->topic, "sensors/", 8) == 0)
		atomic_fetch_add(&s->routed, 1);
	else
		atomic_fetch_add(&s->unrouted, 1);
}

static void publish_all(pf_pub_t *pub, const char *tag, bool v5)
{
	static const char *const none[] = { NULL };
	char topic[64], payload[64], seq[16];
	long n = 0;

	for (int qos = 0; qos <= 2; qos++)
		for (int i = 0; i < PER_QOS; i++) {
			const char *props[] = { "seq", seq, "src", tag, NULL };

			snprintf(topic, sizeof topic, "sensors/dev%d/telemetry", i % 10);
			snprintf(payload, sizeof payload, "%s-q%d-%d", tag, qos, i);
			snprintf(seq, sizeof seq, "%d", i);
			assert_int_equal(pf_pub_send(pub, topic, payload, strlen(payload), qos,
						     v5 ? props : none, NULL), 0);
			n++;
		}
	assert_int_equal(pf_pub_wait_acked(pub, n, 20000), 0);
}

static void check_records(const iu_records_t *rs)
{
	static const char *const tags[] = { "v5", "v3" };
	int found = 0;

	for (int t = 0; t < 2; t++)
		for (int qos = 0; qos <= 2; qos++)
			for (int i = 0; i < PER_QOS; i++) {
				char want[64], dev[16], topic[64], q[4], seq[16];
				const iu_rec_t *hit = NULL;
				int copies = 0;

				snprintf(want, sizeof want, "%s-q%d-%d", tags[t], qos, i);
				snprintf(dev, sizeof dev, "dev%d", i % 10);
				snprintf(topic, sizeof topic, "sensors/%s/telemetry", dev);
				snprintf(q, sizeof q, "%d", qos);
				snprintf(seq, sizeof seq, "%d", i);
				for (size_t k = 0; k < rs->n; k++)
					if (strcmp(rs->v[k].value, want) == 0) {
						hit = &rs->v[k];
						copies++;
					}
				if (copies != 1)
					fail_msg("%s stored %d times", want, copies);
				assert_string_equal(hit->key, dev);
				assert_int_equal(hit->partition,
						 mqb_partition_for_key(dev, strlen(dev), 4));
				assert_string_equal(iu_hdr(hit, "mqtt.topic"), topic);
				assert_string_equal(iu_hdr(hit, "mqtt.qos"), q);
				assert_null(iu_hdr(hit, "mqtt.retain"));
				if (t == 0) {
					assert_string_equal(iu_hdr(hit, "seq"), seq);
					assert_string_equal(iu_hdr(hit, "src"), "v5");
					assert_int_equal(hit->nhdr, 4);
				} else {
					assert_int_equal(hit->nhdr, 2);
				}
				found++;
			}
	assert_int_equal(found, 6 * PER_QOS);
	assert_int_equal(rs->n, 6 * PER_QOS);   /* nothing else: not the refused ones */
}

static void test_ingest_through_plugin(void **state)
{
	pf_pub_t *p5, *p3;
	struct mosquitto *sm;
	struct sub s;
	iu_records_t rs;
	char big[3000], *body = NULL, *log;
	int status = 0, mid5 = 0, mid3 = 0;

	(void)state;
	assert_int_equal(pf_config(&pb, CONF), 0);
	if (pf_start(&pb, NULL) != 0) {
		pf_dump_log(&pb);
		fail_msg("mosquitto with the plugin did not start");
	}
	memset(&s, 0, sizeof s);
	sm = mosquitto_new("plugin-sub", true, &s);
	mosquitto_message_callback_set(sm, sub_on_message);
	assert_int_equal(mosquitto_connect(sm, "127.0.0.1", pb.b.port, 30), 0);
	assert_int_equal(mosquitto_subscribe(sm, NULL, "#", 1), 0);
	assert_int_equal(mosquitto_loop_start(sm), 0);
	mqbt_sleep_ms(300);

	p5 = pf_pub_start(pb.b.port, "plugin-pub5", true, true);
	p3 = pf_pub_start(pb.b.port, "plugin-pub3", false, true);
	assert_non_null(p5);
	assert_non_null(p3);
	publish_all(p5, "v5", true);
	publish_all(p3, "v3", false);
	/* every acknowledgement arrived: all stored now, no batch lingers in plugin mode */
	assert_int_equal(mqbt_http_get(pb.stats_port, "/metrics", &status, &body), 0);
	if (!strstr(body, "mqbridge_messages_stored_total{stream=\"telemetry\"} 300"))
		fail_msg("not every acknowledged record stored at once:\n%s", body);
	free(body);
	body = NULL;

	/* unrouted: a normal message */
	assert_int_equal(pf_pub_send(p5, "other/x", "free", 4, 1, NULL, NULL), 0);
	assert_int_equal(pf_pub_wait_acked(p5, 3 * PER_QOS + 1, 10000), 0);

	/* too large for the route: refused for good */
	memset(big, 'x', sizeof big);
	assert_int_equal(pf_pub_send(p5, "sensors/devbig/telemetry", big, sizeof big, 1, NULL,
				     &mid5), 0);
	assert_int_equal(pf_pub_send(p3, "sensors/devbig/telemetry", big, sizeof big, 1, NULL,
				     &mid3), 0);
	assert_int_equal(pf_pub_wait_acked(p5, 3 * PER_QOS + 2, 10000), 0);
	assert_int_equal(pf_pub_wait_acked(p3, 3 * PER_QOS + 1, 10000), 0);
	assert_int_equal(atomic_load(&p5->rc_of_mid[mid5]), MQTT_RC_NOT_AUTHORIZED);
	assert_int_equal(atomic_load(&p3->rc_of_mid[mid3]), 0);   /* 3.1.1: looks like success */
	assert_int_equal(atomic_load(&p5->disconnects), 0);
	assert_int_equal(atomic_load(&p3->disconnects), 0);

	for (int i = 0; i < 200 && atomic_load(&s.routed) < 6 * PER_QOS; i++)
		mqbt_sleep_ms(20);
	assert_true(atomic_load(&s.routed) >= 6 * PER_QOS);   /* QoS 0 too on loopback */
	assert_int_equal(atomic_load(&s.unrouted), 1);

	assert_int_equal(mqbt_http_get(pb.stats_port, "/metrics", &status, &body), 0);
	assert_int_equal(status, 200);
	if (!strstr(body, "mqbridge_plugin_refused_total{reason=\"too_large\","
			  "outcome=\"refused\"} 2") ||
	    !strstr(body, "mqbridge_plugin_accepted_total 300") ||
	    !strstr(body, "mqbridge_plugin_passed_total 1"))
		fail_msg("metrics:\n%s", body);
	free(body);
	body = NULL;
	assert_int_equal(mqbt_http_get(pb.stats_port, "/readyz", &status, &body), 0);
	assert_int_equal(status, 200);
	free(body);

	pf_pub_stop(p5);
	pf_pub_stop(p3);
	mosquitto_disconnect(sm);
	mosquitto_loop_stop(sm, false);
	mosquitto_destroy(sm);

	/* broker shutdown stops the core: store closed cleanly */
	mqbt_kill(pb.b.pid, SIGTERM);
	assert_int_equal(mqbt_wait(pb.b.pid, 20000), 0);
	pb.b.pid = 0;
	log = mqbt_read_file(pb.b.log_path, NULL);
	assert_non_null(log);
	if (!strstr(log, "store closed cleanly"))
		fail_msg("no clean stop in the log:\n%s", log);
	free(log);

	assert_int_equal(iu_read_stream(pb.data, "telemetry", 4, &rs), 0);
	check_records(&rs);
	iu_records_free(&rs);
}

/* A configuration the plugin cannot use stops the broker at start with the reason. */
static void test_bad_config_refuses_start(void **state)
{
	char *log;

	(void)state;
	assert_int_equal(pf_config(&pb, "streams = ( { name = \"s\"; partitions = 1; } );\n"
				  "routes = ( { filter = \"a/#\"; stream = \"nope\"; } );"), 0);
	assert_int_not_equal(pf_start(&pb, NULL), 0);
	mqbt_wait(pb.b.pid, 5000);
	log = mqbt_read_file(pb.b.log_path, NULL);
	assert_non_null(log);
	if (!strstr(log, "nope"))
		fail_msg("the broker log does not name the problem:\n%s", log);
	free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_ingest_through_plugin, teardown),
		cmocka_unit_test_teardown(test_bad_config_refuses_start, teardown),
	};
	mosquitto_lib_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
