/*
 * test_mosq_groups.c — the broker side of groups in plugin mode
 * (connectors/mosquitto/mosq_groups.h) against a fake of the broker's plugin API
 * (the functions mosquitto exports to plugins, defined here): which messages reach the
 * handler and what the broker is told, that publishes made off the broker's thread wait
 * for a broker event and are then sent on the broker's thread, when the coordinator is
 * ticked (with and without MOSQ_EVT_TICK), disconnects, and unregistering at destroy.
 * The real broker is in integration.plugin_groups.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/err.h"
#include "connectors/mosquitto/mosq_groups.h"
#include "tests/support/harness.h"

/* --- the fake broker -------------------------------------------------------------- */

struct mqtt5__property {           /* opaque in mosquitto's headers: ours here */
	struct mqtt5__property *next;
};

static MOSQ_FUNC_generic_callback cb[16];
static void *cb_arg[16];
static int registered, unregistered;
static pthread_t broker_thread;

struct pub { char client[64], topic[128]; int nprops; bool on_broker_thread; };
static struct pub pubs[64];
static int npubs;
static pthread_mutex_t pub_mu = PTHREAD_MUTEX_INITIALIZER;

int mosquitto_callback_register(mosquitto_plugin_id_t *id, int event,
				MOSQ_FUNC_generic_callback cb_func, const void *ed, void *ud)
{
	(void)id; (void)ed;
	cb[event] = cb_func;
	cb_arg[event] = ud;
	registered++;
	return MOSQ_ERR_SUCCESS;
}

int mosquitto_callback_unregister(mosquitto_plugin_id_t *id, int event,
				  MOSQ_FUNC_generic_callback cb_func, const void *ed)
{
	(void)id; (void)ed;
	if (cb[event] == cb_func) {
		cb[event] = NULL;
		unregistered++;
	}
	return MOSQ_ERR_SUCCESS;
}

const char *mosquitto_client_id(const struct mosquitto *client)
{
	return (const char *)client;   /* the tests pass the id as the client */
}

int mosquitto_property_add_string_pair(mosquitto_property **pl, int id, const char *n,
				       const char *v)
{
	struct mqtt5__property *p = calloc(1, sizeof *p);

	(void)id; (void)n; (void)v;
	p->next = *pl;
	*pl = p;
	return MOSQ_ERR_SUCCESS;
}

void mosquitto_property_free_all(mosquitto_property **pl)
{
	while (*pl) {
		struct mqtt5__property *n = (*pl)->next;
		free(*pl);
		*pl = n;
	}
}

int mosquitto_broker_publish_copy(const char *clientid, const char *topic, int len,
				  const void *payload, int qos, bool retain,
				  mosquitto_property *props)
{
	struct pub *p;

	(void)len; (void)payload; (void)qos; (void)retain;
	pthread_mutex_lock(&pub_mu);
	p = &pubs[npubs++ % 64];
	snprintf(p->client, sizeof p->client, "%s", clientid);
	snprintf(p->topic, sizeof p->topic, "%s", topic);
	p->nprops = 0;
	for (mosquitto_property *q = props; q; q = q->next)
		p->nprops++;
	p->on_broker_thread = pthread_equal(pthread_self(), broker_thread);
	pthread_mutex_unlock(&pub_mu);
	mosquitto_property_free_all(&props);   /* the broker took it */
	return MOSQ_ERR_SUCCESS;
}

/* --- the composition's side -------------------------------------------------------- */

static int handled, ticks, tick_delivers, gone;
static char last_sender[64];
static mqb_mosq_groups_t *mg;

static int fake_handle(void *arg, const char *client_id, const char *topic,
		       const void *payload, size_t len)
{
	(void)arg; (void)topic;
	handled++;
	snprintf(last_sender, sizeof last_sender, "%s", client_id);
	return len == 4 && memcmp(payload, "perm", 4) == 0 ? MQB_ERR_PERM : MQB_OK;
}

static int fake_tick(void *arg)
{
	(void)arg;
	ticks++;
	/* a delivery made inside the tick, on the broker's thread: sent at once */
	if (tick_delivers > 0)
		mqb_mosq_groups_publish(mg, "m1", "mqbridge/groups/g/members/m1/records", "r", 1,
					NULL, 0);
	return tick_delivers;
}

static void fake_gone(void *arg, const char *client_id)
{
	(void)arg;
	gone++;
	snprintf(last_sender, sizeof last_sender, "%s", client_id);
}

static int message(const char *client, const char *topic, const char *payload, bool retain)
{
	struct mosquitto_evt_message ev;

	memset(&ev, 0, sizeof ev);
	ev.client = (struct mosquitto *)client;
	ev.topic = (char *)topic;
	ev.payload = (void *)payload;
	ev.payloadlen = (uint32_t)strlen(payload);
	ev.qos = 1;
	ev.retain = retain;
	return cb[MOSQ_EVT_MESSAGE](MOSQ_EVT_MESSAGE, &ev, cb_arg[MOSQ_EVT_MESSAGE]);
}

static void broker_tick(void)
{
	struct mosquitto_evt_tick ev;

	memset(&ev, 0, sizeof ev);
	cb[MOSQ_EVT_TICK](MOSQ_EVT_TICK, &ev, cb_arg[MOSQ_EVT_TICK]);
}

static int setup(void **state)
{
	mqb_mosq_groups_opts_t o;
	char err[256];

	(void)state;
	memset(cb, 0, sizeof cb);
	registered = unregistered = npubs = handled = ticks = tick_delivers = gone = 0;
	broker_thread = pthread_self();
	memset(&o, 0, sizeof o);
	o.plugin_id = (void *)1;
	o.prefix = "mqbridge";
	o.tick_idle_ms = 100000;     /* the idle tick never fires by itself in these tests */
	o.handle = fake_handle;
	o.tick = fake_tick;
	o.gone = fake_gone;
	mg = mqb_mosq_groups_new(&o, err, sizeof err);
	if (!mg)
		fail_msg("%s", err);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mqb_mosq_groups_destroy(mg);
	assert_int_equal(unregistered, 3);
	assert_null(cb[MOSQ_EVT_MESSAGE]);
	return 0;
}

/* --- tests ------------------------------------------------------------------------ */

static void test_messages(void **state)
{
	(void)state;
	assert_int_equal(registered, 3);
	/* not a control topic: left alone */
	assert_int_equal(message("c1", "t/dev1", "x", false), MOSQ_ERR_SUCCESS);
	assert_int_equal(message("c1", "mqbridge/other", "x", false), MOSQ_ERR_SUCCESS);
	assert_int_equal(handled, 0);
	/* control: handled with the publisher's id; let through to the broker */
	assert_int_equal(message("m1", "mqbridge/groups/g/join", "{}", false), MOSQ_ERR_SUCCESS);
	assert_int_equal(handled, 1);
	assert_string_equal(last_sender, "m1");
	/* a request for another id: the broker answers 0x87 and does not route it */
	assert_int_equal(message("evil", "mqbridge/groups/g/leave", "perm", false),
			 MOSQ_ERR_ACL_DENIED);
	assert_string_equal(last_sender, "evil");
	/* retained control messages are not applied */
	assert_int_equal(message("m1", "mqbridge/groups/g/join", "{}", true), MOSQ_ERR_SUCCESS);
	assert_int_equal(handled, 2);
}

static void *other_thread(void *arg)
{
	mqb_mosq_prop_t props[2] = { { "stream", "s" }, { "partition", "0" } };

	(void)arg;
	for (int i = 0; i < 3; i++)
		assert_int_equal(mqb_mosq_groups_publish(mg, "m2", "mqbridge/groups/g/members/m2/"
							 "assignment", "{}", 2, props, 2), MQB_OK);
	return NULL;
}

static void test_publish_off_the_broker_thread_waits(void **state)
{
	pthread_t th;

	(void)state;
	broker_tick();                      /* a tick event seen: messages only ask */
	int before = npubs;
	assert_int_equal(pthread_create(&th, NULL, other_thread, NULL), 0);
	pthread_join(th, NULL);
	assert_int_equal(npubs, before);    /* nothing touched the broker off its thread */
	broker_tick();                      /* the broker's next event sends them */
	assert_int_equal(npubs, before + 3);
	for (int i = before; i < npubs; i++) {
		assert_true(pubs[i].on_broker_thread);
		assert_string_equal(pubs[i].client, "m2");
		assert_int_equal(pubs[i].nprops, 2);
	}
	/* on the broker's thread: at once, to the one client */
	assert_int_equal(mqb_mosq_groups_publish(mg, "m3", "t", "", 0, NULL, 0), MQB_OK);
	assert_int_equal(npubs, before + 4);
	assert_string_equal(pubs[before + 3].client, "m3");
	assert_int_equal(mqb_mosq_groups_publish(mg, NULL, "t", "", 0, NULL, 0), MQB_ERR_INVAL);
}

static void test_ticks(void **state)
{
	(void)state;
	/* no MOSQ_EVT_TICK seen yet (per_listener_settings true): a message ticks */
	assert_int_equal(message("m1", "mqbridge/groups/g/members/m1/ack", "{}", false),
			 MOSQ_ERR_SUCCESS);
	assert_int_equal(ticks, 1);
	assert_int_equal(message("c1", "t/x", "v", false), MOSQ_ERR_SUCCESS);
	assert_int_equal(ticks, 1);         /* nothing asked, not due */
	/* with tick events: a control message asks, the tick event serves */
	broker_tick();
	int t0 = ticks;
	assert_int_equal(message("m1", "mqbridge/groups/g/members/m1/ack", "{}", false),
			 MOSQ_ERR_SUCCESS);
	assert_int_equal(ticks, t0);
	broker_tick();
	assert_int_equal(ticks, t0 + 1);
	broker_tick();
	assert_int_equal(ticks, t0 + 1);    /* nothing asked, nothing delivered: idle */
	/* another thread's wake */
	mqb_mosq_groups_wake(mg);
	broker_tick();
	assert_int_equal(ticks, t0 + 2);
	/* a tick that delivered is followed by another at the next event */
	tick_delivers = 5;
	mqb_mosq_groups_wake(mg);
	int p0 = npubs;
	broker_tick();
	assert_int_equal(npubs, p0 + 1);    /* the delivery inside the tick went at once */
	assert_true(pubs[p0].on_broker_thread);
	tick_delivers = 0;
	broker_tick();
	assert_int_equal(ticks, t0 + 4);
	broker_tick();
	assert_int_equal(ticks, t0 + 4);
}

static void test_disconnect(void **state)
{
	struct mosquitto_evt_disconnect ev;

	(void)state;
	memset(&ev, 0, sizeof ev);
	ev.client = (struct mosquitto *)"m9";
	ev.reason = -1;
	assert_int_equal(cb[MOSQ_EVT_DISCONNECT](MOSQ_EVT_DISCONNECT, &ev,
						 cb_arg[MOSQ_EVT_DISCONNECT]), MOSQ_ERR_SUCCESS);
	assert_int_equal(gone, 1);
	assert_string_equal(last_sender, "m9");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_publish_off_the_broker_thread_waits, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_ticks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disconnect, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
