/*
 * mosq_groups.c — consumer groups inside the broker (see mosq_groups.h): the message,
 * tick and disconnect callbacks, direct publishes to members, the queue of publishes
 * made off the broker's thread.
 */
#include "connectors/mosquitto/mosq_groups.h"

#include <limits.h>
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <mqtt_protocol.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/logging.h"

#define MG_MOD "plugin"
#define MG_QUEUE_MAX 100000      /* publishes queued off the broker's thread */
#define MG_TICK_EVENTS_SEEN_MS 1000

/* A publish made off the broker's thread, sent on it. */
typedef struct mg_queued {
	struct mg_queued *next;
	char *client_id, *topic;
	void *payload;
	size_t len;
	mqb_mosq_prop_t *props;    /* names and values point into strings */
	size_t nprops;
	char *strings;
} mg_queued_t;

enum { CTL_APPLIED, CTL_REFUSED, CTL_NOT_AUTHORIZED, CTL_COUNT };
static const char *const ctl_name[CTL_COUNT] = { "applied", "refused", "not_authorized" };

struct mqb_mosq_groups {
	mosquitto_plugin_id_t *pid;
	mqb_mosq_groups_opts_t o;
	char prefix[512];            /* "<groups_prefix>/groups/" */
	size_t prefix_len;
	pthread_t broker_thread;
	bool reg_msg, reg_tick, reg_disc;
	atomic_bool want_tick;
	int64_t last_tick_ms;        /* broker thread only */
	int last_delivered;          /* broker thread only */
	atomic_llong last_tick_event_ms;   /* 0: no MOSQ_EVT_TICK seen yet */
	pthread_mutex_t qmu;
	mg_queued_t *qhead, **qtail;
	atomic_size_t qlen;
	atomic_ullong ctl[CTL_COUNT];
	atomic_ullong published, publish_failed, queued_total, queue_refused, ticks, gone;
};

/* --- publishing -------------------------------------------------------------------- */

static int publish_now(mqb_mosq_groups_t *g, const char *client_id, const char *topic,
		       const void *payload, size_t len, const mqb_mosq_prop_t *props,
		       size_t nprops)
{
	mosquitto_property *pl = NULL;
	int rc;

	for (size_t i = 0; i < nprops; i++)
		if (mosquitto_property_add_string_pair(&pl, MQTT_PROP_USER_PROPERTY, props[i].name,
						       props[i].value) != MOSQ_ERR_SUCCESS) {
			mosquitto_property_free_all(&pl);
			atomic_fetch_add(&g->publish_failed, 1);
			return MQB_ERR_NOMEM;
		}
	/* the broker takes the property list, copies the payload */
	rc = mosquitto_broker_publish_copy(client_id, topic, (int)len, len ? payload : NULL, 1,
					   false, pl);
	if (rc != MOSQ_ERR_SUCCESS) {
		mosquitto_property_free_all(&pl);
		atomic_fetch_add(&g->publish_failed, 1);
		return rc == MOSQ_ERR_NOMEM ? MQB_ERR_NOMEM : MQB_ERR_INVAL;
	}
	atomic_fetch_add(&g->published, 1);
	return MQB_OK;
}

static void queued_free(mg_queued_t *q)
{
	if (!q)
		return;
	free(q->client_id);
	free(q->topic);
	free(q->payload);
	free(q->props);
	free(q->strings);
	free(q);
}

static int enqueue(mqb_mosq_groups_t *g, const char *client_id, const char *topic,
		   const void *payload, size_t len, const mqb_mosq_prop_t *props, size_t nprops)
{
	mg_queued_t *q;
	size_t slen = 0, off = 0;

	if (atomic_load(&g->qlen) >= MG_QUEUE_MAX) {
		atomic_fetch_add(&g->queue_refused, 1);
		return MQB_ERR_AGAIN;
	}
	q = calloc(1, sizeof *q);
	if (!q)
		return MQB_ERR_NOMEM;
	for (size_t i = 0; i < nprops; i++)
		slen += strlen(props[i].name) + strlen(props[i].value) + 2;
	q->client_id = strdup(client_id);
	q->topic = strdup(topic);
	q->payload = malloc(len ? len : 1);
	q->props = nprops ? calloc(nprops, sizeof *q->props) : NULL;
	q->strings = slen ? malloc(slen) : NULL;
	if (!q->client_id || !q->topic || !q->payload ||
	    (nprops && (!q->props || !q->strings))) {
		queued_free(q);
		return MQB_ERR_NOMEM;
	}
	if (len)
		memcpy(q->payload, payload, len);
	q->len = len;
	for (size_t i = 0; i < nprops; i++) {
		size_t nl = strlen(props[i].name) + 1, vl = strlen(props[i].value) + 1;

		memcpy(q->strings + off, props[i].name, nl);
		q->props[i].name = q->strings + off;
		off += nl;
		memcpy(q->strings + off, props[i].value, vl);
		q->props[i].value = q->strings + off;
		off += vl;
	}
	q->nprops = nprops;
	pthread_mutex_lock(&g->qmu);
	*g->qtail = q;
	g->qtail = &q->next;
	atomic_fetch_add(&g->qlen, 1);
	pthread_mutex_unlock(&g->qmu);
	atomic_fetch_add(&g->queued_total, 1);
	atomic_store(&g->want_tick, true);
	return MQB_OK;
}

/* Send what other threads queued (broker thread). */
static void drain(mqb_mosq_groups_t *g)
{
	mg_queued_t *q;

	if (atomic_load(&g->qlen) == 0)
		return;
	pthread_mutex_lock(&g->qmu);
	q = g->qhead;
	g->qhead = NULL;
	g->qtail = &g->qhead;
	atomic_store(&g->qlen, 0);
	pthread_mutex_unlock(&g->qmu);
	while (q) {
		mg_queued_t *next = q->next;

		publish_now(g, q->client_id, q->topic, q->payload, q->len, q->props, q->nprops);
		queued_free(q);
		q = next;
	}
}

int mqb_mosq_groups_publish(mqb_mosq_groups_t *g, const char *client_id, const char *topic,
			    const void *payload, size_t len, const mqb_mosq_prop_t *props,
			    size_t nprops)
{
	if (!g || !client_id || !topic || len > INT_MAX || (len && !payload))
		return MQB_ERR_INVAL;
	if (pthread_equal(pthread_self(), g->broker_thread))
		return publish_now(g, client_id, topic, payload, len, props, nprops);
	return enqueue(g, client_id, topic, payload, len, props, nprops);
}

void mqb_mosq_groups_wake(void *arg)
{
	mqb_mosq_groups_t *g = arg;

	atomic_store(&g->want_tick, true);
}

/* --- the ticker (broker thread) ------------------------------------------------------ */

static void turn(mqb_mosq_groups_t *g, int64_t now)
{
	drain(g);
	if (!atomic_load(&g->want_tick) && g->last_delivered <= 0 &&
	    now - g->last_tick_ms < g->o.tick_idle_ms)
		return;
	atomic_store(&g->want_tick, false);
	g->last_tick_ms = now;
	atomic_fetch_add(&g->ticks, 1);
	g->last_delivered = g->o.tick(g->o.arg);
	drain(g);
}

static int on_tick(int event, void *event_data, void *userdata)
{
	mqb_mosq_groups_t *g = userdata;
	int64_t now = mqb_mono_ms();

	(void)event;
	(void)event_data;
	atomic_store(&g->last_tick_event_ms, now);
	turn(g, now);
	return MOSQ_ERR_SUCCESS;
}

static int on_message(int event, void *event_data, void *userdata)
{
	mqb_mosq_groups_t *g = userdata;
	struct mosquitto_evt_message *ev = event_data;
	int64_t now = mqb_mono_ms();
	int rc = MQB_OK, ret = MOSQ_ERR_SUCCESS;
	bool control = strncmp(ev->topic, g->prefix, g->prefix_len) == 0;

	(void)event;
	if (control) {
		const char *cid = mosquitto_client_id(ev->client);

		if (ev->retain) {
			/* a retained control message would be replayed to nobody useful */
			MQB_LOG_RATELIMITED(MQB_LOG_WARN, MG_MOD, 5000, "ignored retained "
					    "message on %.200s", ev->topic);
			rc = MQB_ERR_PROTO;
		} else {
			rc = g->o.handle(g->o.arg, cid ? cid : "", ev->topic,
					 ev->payload ? ev->payload : "", ev->payloadlen);
		}
		atomic_fetch_add(&g->ctl[rc == MQB_OK ? CTL_APPLIED : rc == MQB_ERR_PERM
					 ? CTL_NOT_AUTHORIZED : CTL_REFUSED], 1);
		if (rc == MQB_ERR_PERM)
			ret = MOSQ_ERR_ACL_DENIED;
		atomic_store(&g->want_tick, true);
	}
	/* While the broker sends ticks, the one at the end of this turn serves every
	 * message of the turn; without them (per_listener_settings true) tick here. */
	if (now - atomic_load(&g->last_tick_event_ms) > MG_TICK_EVENTS_SEEN_MS)
		turn(g, now);
	else
		drain(g);
	return ret;
}

static int on_disconnect(int event, void *event_data, void *userdata)
{
	mqb_mosq_groups_t *g = userdata;
	struct mosquitto_evt_disconnect *ev = event_data;
	const char *cid = ev->client ? mosquitto_client_id(ev->client) : NULL;

	(void)event;
	if (cid && *cid) {
		atomic_fetch_add(&g->gone, 1);
		g->o.gone(g->o.arg, cid);
	}
	drain(g);
	return MOSQ_ERR_SUCCESS;
}

/* --- stats (stats thread) ---------------------------------------------------------- */

static void mg_collect(mqb_metrics_emit_t *e, void *arg)
{
	mqb_mosq_groups_t *g = arg;

	for (int i = 0; i < CTL_COUNT; i++)
		mqb_metrics_emit(e, "mqbridge_plugin_group_control_total",
				 "group control messages read in the broker, by result "
				 "(not_authorized: a request for another client's member id)",
				 "counter", (double)atomic_load(&g->ctl[i]), "result", ctl_name[i],
				 NULL);
	mqb_metrics_emit(e, "mqbridge_plugin_group_published_total",
			 "records, assignments and error replies handed to the broker",
			 "counter", (double)atomic_load(&g->published), NULL);
	mqb_metrics_emit(e, "mqbridge_plugin_group_publish_failed_total",
			 "publishes the broker refused (out of memory)", "counter",
			 (double)(atomic_load(&g->publish_failed) + atomic_load(&g->queue_refused)),
			 NULL);
	mqb_metrics_emit(e, "mqbridge_plugin_group_queued_total",
			 "publishes made off the broker's thread, sent at its next event",
			 "counter", (double)atomic_load(&g->queued_total), NULL);
	mqb_metrics_emit(e, "mqbridge_plugin_group_ticks_total",
			 "group host ticks run on the broker's thread", "counter",
			 (double)atomic_load(&g->ticks), NULL);
}

/* --- construction ------------------------------------------------------------------ */

mqb_mosq_groups_t *mqb_mosq_groups_new(const mqb_mosq_groups_opts_t *o, char *errstr,
				       size_t errstr_size)
{
	mqb_mosq_groups_t *g;
	int n;

	if (!o || !o->plugin_id || !o->prefix || !o->handle || !o->tick || !o->gone) {
		mqb_errstr_set(errstr, errstr_size, "plugin groups: plugin id, prefix and "
			       "callbacks required");
		return NULL;
	}
	g = calloc(1, sizeof *g);
	if (!g) {
		mqb_errstr_set(errstr, errstr_size, "plugin groups: out of memory");
		return NULL;
	}
	g->pid = o->plugin_id;
	g->o = *o;
	if (g->o.tick_idle_ms <= 0)
		g->o.tick_idle_ms = 20;
	n = snprintf(g->prefix, sizeof g->prefix, "%s/groups/", o->prefix);
	if (n < 0 || (size_t)n >= sizeof g->prefix) {
		mqb_errstr_set(errstr, errstr_size, "plugin groups: groups_prefix too long");
		free(g);
		return NULL;
	}
	g->o.prefix = NULL;   /* copied above */
	g->prefix_len = (size_t)n;
	g->broker_thread = pthread_self();
	pthread_mutex_init(&g->qmu, NULL);
	g->qtail = &g->qhead;
	g->last_tick_ms = mqb_mono_ms();
	atomic_init(&g->last_tick_event_ms, 0);
	atomic_init(&g->want_tick, true);
	if (o->metrics)
		mqb_metrics_add_collector(o->metrics, mg_collect, g);
	g->reg_msg = mosquitto_callback_register(g->pid, MOSQ_EVT_MESSAGE, on_message, NULL, g)
		     == MOSQ_ERR_SUCCESS;
	g->reg_tick = mosquitto_callback_register(g->pid, MOSQ_EVT_TICK, on_tick, NULL, g)
		      == MOSQ_ERR_SUCCESS;
	g->reg_disc = mosquitto_callback_register(g->pid, MOSQ_EVT_DISCONNECT, on_disconnect,
						  NULL, g) == MOSQ_ERR_SUCCESS;
	if (!g->reg_msg || !g->reg_tick || !g->reg_disc) {
		mqb_errstr_set(errstr, errstr_size, "plugin groups: cannot register the broker "
			       "callbacks");
		mqb_mosq_groups_destroy(g);
		return NULL;
	}
	return g;
}

void mqb_mosq_groups_destroy(mqb_mosq_groups_t *g)
{
	if (!g)
		return;
	if (g->reg_msg)
		mosquitto_callback_unregister(g->pid, MOSQ_EVT_MESSAGE, on_message, NULL);
	if (g->reg_tick)
		mosquitto_callback_unregister(g->pid, MOSQ_EVT_TICK, on_tick, NULL);
	if (g->reg_disc)
		mosquitto_callback_unregister(g->pid, MOSQ_EVT_DISCONNECT, on_disconnect, NULL);
	for (mg_queued_t *q = g->qhead, *next; q; q = next) {
		next = q->next;
		queued_free(q);
	}
	pthread_mutex_destroy(&g->qmu);
	free(g);
}
