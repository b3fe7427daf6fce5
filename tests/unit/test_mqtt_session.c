/*
 * test_mqtt_session.c — the MQTT session wrapper against a real mosquitto on a free
 * loopback port: connect + SUBACK, MQTT 5 properties both ways, 3.1.1 fallback,
 * resubscribe after a broker restart, pause/resume reading, bad options, and what
 * `mqbridge consume` uses: blocking first connect, corked read bursts, PUBACK and
 * UNSUBACK by message id.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/err.h"
#include "connectors/mqtt/session.h"
#include "tests/support/harness.h"

struct rx {
	int connects, disconnects, subacks, granted;
	int msgs;
	char topic[128];
	char payload[128];
	char ctype[64], rtopic[64], corr[64];
	char up_name[4][32], up_value[4][32];
	size_t nup;
	bool session_present;
	int last_puback_mid, last_unsuback_mid;
};

static void on_publish(void *arg, int mid)
{
	struct rx *rx = arg;
	rx->last_puback_mid = mid;
}

static void on_unsubscribe(void *arg, int mid)
{
	struct rx *rx = arg;
	rx->last_unsuback_mid = mid;
}

static void on_connect(void *arg, bool sp)
{
	struct rx *rx = arg;
	rx->connects++;
	rx->session_present = sp;
}

static void on_disconnect(void *arg, int reason)
{
	struct rx *rx = arg;
	(void)reason;
	rx->disconnects++;
}

static void on_subscribe(void *arg, const char *filter, int granted)
{
	struct rx *rx = arg;
	(void)filter;
	rx->subacks++;
	rx->granted = granted;
}

static void on_message(void *arg, const mqb_mqtt_msg_t *m)
{
	struct rx *rx = arg;
	size_t i;

	rx->msgs++;
	snprintf(rx->topic, sizeof rx->topic, "%s", m->topic);
	snprintf(rx->payload, sizeof rx->payload, "%.*s", (int)m->payload_len,
		 (const char *)m->payload);
	snprintf(rx->ctype, sizeof rx->ctype, "%s", m->content_type ? m->content_type : "");
	snprintf(rx->rtopic, sizeof rx->rtopic, "%s", m->response_topic ? m->response_topic : "");
	snprintf(rx->corr, sizeof rx->corr, "%.*s", (int)m->correlation_len,
		 m->correlation_data ? (const char *)m->correlation_data : "");
	rx->nup = m->user_prop_count;
	for (i = 0; i < m->user_prop_count && i < 4; i++) {
		snprintf(rx->up_name[i], 32, "%s", m->user_props[i].name);
		snprintf(rx->up_value[i], 32, "%s", m->user_props[i].value);
	}
}

/* The running broker of the current test: stopped by teardown if an assertion left
 * the test early (the broker is static in each test, so the pointer stays valid). */
static mqbt_broker_t *g_broker;

static int teardown(void **state)
{
	(void)state;
	if (g_broker && g_broker->dir[0])
		mqbt_mosquitto_destroy(g_broker);
	g_broker = NULL;
	return 0;
}

static mqb_mqtt_conf_t conf_for(int port, int protocol)
{
	mqb_mqtt_conf_t c;

	memset(&c, 0, sizeof c);
	c.host = "127.0.0.1";
	c.port = port;
	c.client_id = "sess-test";
	c.protocol = protocol;
	c.keepalive = 5;
	c.clean_start = true;
	c.session_expiry_s = 60;
	c.reconnect_min_ms = 50;
	c.reconnect_max_ms = 400;
	c.max_inflight = 20;
	c.max_message_bytes = 1 << 20;
	return c;
}

static mqb_mqtt_session_t *mk(const mqb_mqtt_conf_t *c, struct rx *rx, const char *cid)
{
	mqb_mqtt_session_opts_t o;
	char err[256] = "";
	mqb_mqtt_session_t *s;

	memset(&o, 0, sizeof o);
	o.conf = c;
	o.client_id = cid;
	o.clean_start = -1;
	o.cb.on_connect = on_connect;
	o.cb.on_disconnect = on_disconnect;
	o.cb.on_subscribe = on_subscribe;
	o.cb.on_message = on_message;
	o.cb.arg = rx;
	s = mqb_mqtt_session_new(&o, err, sizeof err);
	if (!s)
		fprintf(stderr, "session_new: %s\n", err);
	return s;
}

/* Run both sessions until cond or timeout. */
#define RUN_UNTIL(cond, ms, ...) do {                                                  \
	int64_t dl_ = mqbt_now_ms() + (ms);                                           \
	mqb_mqtt_session_t *ss_[] = { __VA_ARGS__ };                                  \
	while (!(cond) && mqbt_now_ms() < dl_)                                        \
		for (size_t k_ = 0; k_ < sizeof ss_ / sizeof ss_[0]; k_++)            \
			mqb_mqtt_session_run(ss_[k_], 20);                             \
} while (0)

static void props_roundtrip(int protocol)
{
	static mqbt_broker_t b;

	g_broker = &b;
	struct rx rs = { 0 }, rp = { 0 };
	mqb_mqtt_conf_t c;
	mqb_mqtt_session_t *sub, *pub;
	mqb_mqtt_userprop_t up[2] = { { "device", "dev7" }, { "unit", "C" } };
	mqb_mqtt_pubprops_t pp = { .user_props = up, .user_prop_count = 2,
				   .content_type = "text/plain", .response_topic = "reply/x",
				   .correlation_data = "c-42", .correlation_len = 4 };

	assert_int_equal(mqbt_mosquitto_start(&b, NULL), 0);
	c = conf_for(b.port, protocol);
	sub = mk(&c, &rs, "sess-sub");
	pub = mk(&c, &rp, "sess-pub");
	assert_non_null(sub);
	assert_non_null(pub);
	assert_int_equal(mqb_mqtt_session_is_v5(sub), protocol == 5);
	assert_int_equal(mqb_mqtt_session_subscribe(sub, "t/+/x", 1, 0), MQB_OK);
	assert_int_equal(mqb_mqtt_session_connect(sub), MQB_OK);
	assert_int_equal(mqb_mqtt_session_connect(pub), MQB_OK);
	RUN_UNTIL(mqb_mqtt_session_subscribed(sub) && mqb_mqtt_session_connected(pub), 5000,
		  sub, pub);
	assert_true(mqb_mqtt_session_subscribed(sub));
	assert_int_equal(rs.granted, 1);

	assert_int_equal(mqb_mqtt_session_publish(pub, "t/a/x", "hello", 5, 1, false, &pp, NULL),
			 MQB_OK);
	RUN_UNTIL(rs.msgs >= 1, 5000, sub, pub);
	assert_int_equal(rs.msgs, 1);
	assert_string_equal(rs.topic, "t/a/x");
	assert_string_equal(rs.payload, "hello");
	if (protocol == 5) {
		assert_string_equal(rs.ctype, "text/plain");
		assert_string_equal(rs.rtopic, "reply/x");
		assert_string_equal(rs.corr, "c-42");
		assert_int_equal(rs.nup, 2);
		assert_string_equal(rs.up_name[0], "device");
		assert_string_equal(rs.up_value[0], "dev7");
		assert_string_equal(rs.up_name[1], "unit");
		assert_string_equal(rs.up_value[1], "C");
	} else {
		/* 3.1.1: properties are dropped, the message still flows */
		assert_int_equal(rs.nup, 0);
		assert_string_equal(rs.ctype, "");
	}
	/* not matching the filter: not delivered */
	assert_int_equal(mqb_mqtt_session_publish(pub, "t/a/y", "no", 2, 1, false, NULL, NULL),
			 MQB_OK);
	assert_int_equal(mqb_mqtt_session_publish(pub, "t/b/x", "yes", 3, 0, false, NULL, NULL),
			 MQB_OK);
	RUN_UNTIL(rs.msgs >= 2, 5000, sub, pub);
	assert_int_equal(rs.msgs, 2);
	assert_string_equal(rs.payload, "yes");

	mqb_mqtt_session_disconnect(sub, 1000);
	assert_int_equal(mqb_mqtt_session_run(sub, 0), MQB_ERR_CLOSED);
	mqb_mqtt_session_disconnect(pub, 1000);
	mqb_mqtt_session_destroy(sub);
	mqb_mqtt_session_destroy(pub);
	mqbt_mosquitto_destroy(&b);
}

static void test_props_v5(void **state) { (void)state; props_roundtrip(5); }
static void test_props_v311(void **state) { (void)state; props_roundtrip(4); }

/* Broker restart: the session reconnects with backoff and subscribes again; with a
 * persistent session the QoS 1 message published while we were away arrives. */
static void test_reconnect_resubscribe(void **state)
{
	static mqbt_broker_t b;

	g_broker = &b;
	struct rx rs = { 0 }, rp = { 0 };
	mqb_mqtt_conf_t c, cp;
	mqb_mqtt_session_t *sub, *pub;
	mqb_mqtt_session_stats_t st;

	(void)state;
	assert_int_equal(mqbt_mosquitto_start(&b, NULL), 0);
	c = conf_for(b.port, 5);
	c.clean_start = false;
	cp = conf_for(b.port, 5);
	sub = mk(&c, &rs, "sess-persist");
	pub = mk(&cp, &rp, "sess-pub2");
	assert_int_equal(mqb_mqtt_session_subscribe(sub, "r/#", 1, 0), MQB_OK);
	mqb_mqtt_session_connect(sub);
	mqb_mqtt_session_connect(pub);
	RUN_UNTIL(mqb_mqtt_session_subscribed(sub) && mqb_mqtt_session_connected(pub), 5000,
		  sub, pub);
	assert_true(mqb_mqtt_session_subscribed(sub));

	mqbt_mosquitto_stop(&b);
	RUN_UNTIL(!mqb_mqtt_session_connected(sub), 5000, sub, pub);
	assert_false(mqb_mqtt_session_connected(sub));
	RUN_UNTIL(false, 600, sub, pub);   /* several failed attempts while it is down */
	mqb_mqtt_session_stats(sub, &st);
	assert_true(st.connect_attempts >= 2);
	assert_true(st.last_error[0] != '\0');

	assert_int_equal(mqbt_mosquitto_restart(&b), 0);
	RUN_UNTIL(mqb_mqtt_session_subscribed(sub) && mqb_mqtt_session_connected(pub), 10000,
		  sub, pub);
	assert_true(mqb_mqtt_session_subscribed(sub));
	assert_true(rs.session_present);   /* the broker kept the persistent session */
	mqb_mqtt_session_stats(sub, &st);
	assert_int_equal(st.connects, 2);
	assert_int_equal(st.disconnects, 1);

	assert_int_equal(mqb_mqtt_session_publish(pub, "r/1", "after", 5, 1, false, NULL, NULL),
			 MQB_OK);
	RUN_UNTIL(rs.msgs >= 1, 5000, sub, pub);
	assert_int_equal(rs.msgs, 1);
	assert_string_equal(rs.payload, "after");

	mqb_mqtt_session_disconnect(sub, 1000);
	mqb_mqtt_session_disconnect(pub, 1000);
	mqb_mqtt_session_destroy(sub);
	mqb_mqtt_session_destroy(pub);
	mqbt_mosquitto_destroy(&b);
}

/* Paused: nothing is delivered, keepalive goes on; resumed: everything arrives. */
static void test_pause_resume(void **state)
{
	static mqbt_broker_t b;

	g_broker = &b;
	struct rx rs = { 0 }, rp = { 0 };
	mqb_mqtt_conf_t c;
	mqb_mqtt_session_t *sub, *pub;
	int i;

	(void)state;
	assert_int_equal(mqbt_mosquitto_start(&b, NULL), 0);
	c = conf_for(b.port, 5);
	sub = mk(&c, &rs, "sess-pause");
	pub = mk(&c, &rp, "sess-pub3");
	mqb_mqtt_session_subscribe(sub, "p/#", 1, 0);
	mqb_mqtt_session_connect(sub);
	mqb_mqtt_session_connect(pub);
	RUN_UNTIL(mqb_mqtt_session_subscribed(sub) && mqb_mqtt_session_connected(pub), 5000,
		  sub, pub);
	mqb_mqtt_session_pause_reading(sub);
	assert_true(mqb_mqtt_session_paused(sub));
	for (i = 0; i < 200; i++)
		assert_int_equal(mqb_mqtt_session_publish(pub, "p/x", "m", 1, 1, false, NULL, NULL),
				 MQB_OK);
	RUN_UNTIL(false, 1000, sub, pub);
	assert_int_equal(rs.msgs, 0);
	assert_true(mqb_mqtt_session_connected(sub));
	mqb_mqtt_session_resume_reading(sub);
	RUN_UNTIL(rs.msgs >= 200, 10000, sub, pub);
	assert_int_equal(rs.msgs, 200);

	mqb_mqtt_session_disconnect(sub, 1000);
	mqb_mqtt_session_disconnect(pub, 1000);
	mqb_mqtt_session_destroy(sub);
	mqb_mqtt_session_destroy(pub);
	mqbt_mosquitto_destroy(&b);
}

/* The member's way (tools/cmd_consume.c): connect_sync fails at once with why when
 * nothing listens; with a broker, corked bursts of at most 7 messages deliver every
 * message; the leave's PUBACK and the UNSUBACK are reported by message id. */
static void consume_way(int protocol)
{
	static mqbt_broker_t b;

	g_broker = &b;
	struct rx rs = { 0 }, rp = { 0 };
	mqb_mqtt_conf_t c;
	mqb_mqtt_session_opts_t o;
	mqb_mqtt_session_t *sub, *pub;
	char err[256] = "";
	int mid = 0, umid = 0, i;

	c = conf_for(mqbt_free_port(), protocol);
	memset(&o, 0, sizeof o);
	o.conf = &c;
	o.client_id = "sess-member";
	o.clean_start = 1;
	o.receive_maximum = 20;
	o.max_burst = 7;
	o.cork_reads = true;
	o.cb = (mqb_mqtt_callbacks_t){ .on_message = on_message, .on_subscribe = on_subscribe,
				       .on_publish = on_publish, .on_unsubscribe = on_unsubscribe,
				       .arg = &rs };
	sub = mqb_mqtt_session_new(&o, err, sizeof err);
	assert_non_null(sub);
	assert_int_equal(mqb_mqtt_session_connect_sync(sub, err, sizeof err), MQB_ERR_CONN);
	assert_non_null(strstr(err, "refused"));
	assert_int_equal(mqb_mqtt_session_connect_sync(sub, err, sizeof err), MQB_ERR_INVAL);
	mqb_mqtt_session_destroy(sub);

	assert_int_equal(mqbt_mosquitto_start(&b, NULL), 0);
	c.port = b.port;
	sub = mqb_mqtt_session_new(&o, err, sizeof err);
	pub = mk(&c, &rp, "sess-pub4");
	assert_non_null(sub);
	assert_non_null(pub);
	assert_int_equal(mqb_mqtt_session_subscribe(sub, "m/#", 1, 0), MQB_OK);
	assert_int_equal(mqb_mqtt_session_connect_sync(sub, err, sizeof err), MQB_OK);
	mqb_mqtt_session_connect(pub);
	RUN_UNTIL(mqb_mqtt_session_subscribed(sub) && mqb_mqtt_session_connected(pub), 5000,
		  sub, pub);
	assert_true(mqb_mqtt_session_subscribed(sub));
	for (i = 0; i < 100; i++)
		assert_int_equal(mqb_mqtt_session_publish(pub, "m/x", "r", 1, 1, false, NULL, NULL),
				 MQB_OK);
	RUN_UNTIL(rs.msgs >= 100, 10000, sub, pub);
	assert_int_equal(rs.msgs, 100);

	assert_int_equal(mqb_mqtt_session_publish(sub, "leave", "{}", 2, 1, false, NULL, &mid),
			 MQB_OK);
	assert_true(mid > 0);
	RUN_UNTIL(rs.last_puback_mid == mid, 5000, sub);
	assert_int_equal(rs.last_puback_mid, mid);
	assert_int_equal(mqb_mqtt_session_unsubscribe_mid(sub, "m/#", &umid), MQB_OK);
	assert_true(umid > 0);
	RUN_UNTIL(rs.last_unsuback_mid == umid, 5000, sub);
	assert_int_equal(rs.last_unsuback_mid, umid);
	assert_int_equal(mqb_mqtt_session_unsubscribe_mid(sub, "m/#", &umid), MQB_ERR_NOTFOUND);
	assert_int_equal(umid, 0);
	assert_int_equal(mqb_mqtt_session_publish(pub, "m/x", "late", 4, 1, false, NULL, NULL),
			 MQB_OK);
	RUN_UNTIL(false, 300, sub, pub);
	assert_int_equal(rs.msgs, 100);   /* unsubscribed: not delivered */

	mqb_mqtt_session_disconnect(sub, 1000);
	mqb_mqtt_session_disconnect(pub, 1000);
	mqb_mqtt_session_destroy(sub);
	mqb_mqtt_session_destroy(pub);
	mqbt_mosquitto_destroy(&b);
}

static void test_consume_way_v5(void **state) { (void)state; consume_way(5); }
static void test_consume_way_v311(void **state) { (void)state; consume_way(4); }

static void test_bad_options(void **state)
{
	mqb_mqtt_conf_t c = conf_for(1, 5);
	mqb_mqtt_session_opts_t o;
	mqb_mqtt_session_t *s;
	char err[256] = "";

	(void)state;
	memset(&o, 0, sizeof o);
	o.conf = &c;
	o.clean_start = -1;

	c.password_file = "/nonexistent/pw";
	c.username = "u";
	assert_null(mqb_mqtt_session_new(&o, err, sizeof err));
	assert_non_null(strstr(err, "password_file"));

	c.password_file = NULL;
	c.cafile = "/nonexistent/ca.pem";
	err[0] = '\0';
	assert_null(mqb_mqtt_session_new(&o, err, sizeof err));
	assert_non_null(strstr(err, "TLS"));

	c.cafile = NULL;
	c.certfile = "/x.pem";
	err[0] = '\0';
	assert_null(mqb_mqtt_session_new(&o, err, sizeof err));
	assert_non_null(strstr(err, "cafile"));

	c.certfile = NULL;
	c.protocol = 3;
	assert_null(mqb_mqtt_session_new(&o, err, sizeof err));

	c.protocol = 5;
	s = mqb_mqtt_session_new(&o, err, sizeof err);
	assert_non_null(s);
	assert_int_equal(mqb_mqtt_session_subscribe(s, "a/#/b", 1, 0), MQB_ERR_INVAL);
	assert_int_equal(mqb_mqtt_session_subscribe(s, "a/b", 3, 0), MQB_ERR_INVAL);
	assert_int_equal(mqb_mqtt_session_publish(s, "a/+", "x", 1, 0, false, NULL, NULL),
			 MQB_ERR_INVAL);
	/* QoS 0 while not connected */
	assert_int_equal(mqb_mqtt_session_publish(s, "a/b", "x", 1, 0, false, NULL, NULL),
			 MQB_ERR_CONN);
	mqb_mqtt_session_destroy(s);
	mqb_mqtt_session_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_props_v5, teardown),
		cmocka_unit_test_teardown(test_props_v311, teardown),
		cmocka_unit_test_teardown(test_reconnect_resubscribe, teardown),
		cmocka_unit_test_teardown(test_pause_resume, teardown),
		cmocka_unit_test_teardown(test_consume_way_v5, teardown),
		cmocka_unit_test_teardown(test_consume_way_v311, teardown),
		cmocka_unit_test_teardown(test_bad_options, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
