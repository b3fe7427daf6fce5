/*
 * mqtt_source.c — MQTT messages -> pipeline messages (see mqtt_source.h): the session
 * callbacks, the source's thread, construction. Counters, loss window and /stats:
 * mqtt_source_stats.c. Routing, batching and appends: bridge/ingest/pipeline.c.
 */
#include "connectors/mqtt/mqtt_source.h"
#include "connectors/mqtt/mqtt_source_int.h"
#include "connectors/mqtt/mqtt_source_test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/logging.h"

/* --- session callbacks (source thread) --------------------------------------------- */

static int hdr_reserve(mqb_mqtt_source_t *src, size_t need)
{
	mqb_rec_header_t *n;
	size_t cap = src->hdr_cap ? src->hdr_cap : 16;

	if (need <= src->hdr_cap)
		return 0;
	while (cap < need)
		cap *= 2;
	n = realloc(src->hdrs, cap * sizeof *n);
	if (!n)
		return -1;
	src->hdrs = n;
	src->hdr_cap = cap;
	return 0;
}

static void hdr_set(mqb_rec_header_t *h, const char *key, const void *val, ssize_t len)
{
	h->key = key;
	h->key_len = strlen(key);
	h->value = val;
	h->value_len = len;
}

static ssize_t slen(const char *s)
{
	return (ssize_t)strlen(s);
}

/* The record headers of m into src->hdrs: mqtt.topic first, QoS, retain, MQTT 5
 * properties, user properties in order. Returns the count. Room for the first six is
 * reserved at new(); without memory for the user properties they are dropped (logged),
 * the way the session drops one it cannot copy. */
static size_t mqtt_headers(mqb_mqtt_source_t *src, const mqb_mqtt_msg_t *m)
{
	static const char *const qos_str[] = { "0", "1", "2" };
	mqb_rec_header_t *h;
	size_t n = 0, i, nup = m->user_prop_count;

	if (nup && hdr_reserve(src, SRC_FIXED_HDRS + nup) != 0) {
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, SRC_MOD, 10000,
				    "dropping the user properties of a message on %.200s "
				    "(out of memory)", m->topic);
		nup = 0;
	}
	h = src->hdrs;
	hdr_set(&h[n++], "mqtt.topic", m->topic, slen(m->topic));
	hdr_set(&h[n++], "mqtt.qos", qos_str[m->qos < 0 ? 0 : m->qos > 2 ? 2 : m->qos], 1);
	if (m->retain)
		hdr_set(&h[n++], "mqtt.retain", "1", 1);
	if (m->content_type)
		hdr_set(&h[n++], "mqtt.content_type", m->content_type, slen(m->content_type));
	if (m->response_topic)
		hdr_set(&h[n++], "mqtt.response_topic", m->response_topic,
			slen(m->response_topic));
	if (m->correlation_data)
		hdr_set(&h[n++], "mqtt.correlation_data", m->correlation_data,
			(ssize_t)m->correlation_len);
	for (i = 0; i < nup; i++)
		hdr_set(&h[n++], m->user_props[i].name, m->user_props[i].value,
			slen(m->user_props[i].value));
	return n;
}

/* A copy delivered through another (overlapping) subscription: the copy carrying the
 * matching route's own subscription id is the one we keep. */
static bool duplicate_copy(const mqb_mqtt_source_t *src, const mqb_mqtt_msg_t *m, int route)
{
	uint32_t mine = src->sub_ids[route];
	size_t i;

	if (!m->sub_id_count || !mine)
		return false;
	for (i = 0; i < m->sub_id_count; i++)
		if (m->sub_ids[i] == mine)
			return false;
	return true;
}

static void src_on_message(void *arg, const mqb_mqtt_msg_t *m)
{
	mqb_mqtt_source_t *src = arg;
	mqb_pipeline_msg_t pm;
	int route = mqb_pipeline_route(src->pipe, m->topic);

	if (route >= 0 && duplicate_copy(src, m, route)) {
		atomic_fetch_add(&src->duplicates, 1);
		return;
	}
	memset(&pm, 0, sizeof pm);
	pm.topic = m->topic;
	pm.payload = m->payload;
	pm.payload_len = m->payload_len;
	pm.header_count = mqtt_headers(src, m);
	pm.headers = src->hdrs;
	pm.timestamp_ms = m->arrival_ms;
	pm.route = route;
	if (mqb_pipeline_submit(src->pipe, &pm) == MQB_OK)
		mqb_mqtt_source__window_note(src);
}

static void src_on_burst_end(void *arg)
{
	mqb_mqtt_source_t *src = arg;

	mqb_pipeline_end_burst(src->pipe);   /* small batches may linger (batch_linger_ms) */
}

static void src_on_subscribe(void *arg, const char *filter, int granted)
{
	(void)arg;
	if (granted >= 0x80)
		mqb_error(SRC_MOD, "subscription to %s refused by the broker: that route "
			  "receives nothing", filter);
}

/* pipeline callbacks (source thread) */
static void src_pause(void *arg, bool on)
{
	mqb_mqtt_source_t *src = arg;

	if (on)
		mqb_mqtt_session_pause_reading(src->session);
	else
		mqb_mqtt_session_resume_reading(src->session);
}

static void src_on_stored(void *arg, const mqb_record_t *recs, size_t n)
{
	mqb_mqtt_source_t *src = arg;

	if (src->test_stored)
		src->test_stored(src->test_stored_arg, recs, n);
}

/* --- thread ------------------------------------------------------------------------ */

static void *src_thread(void *arg)
{
	mqb_mqtt_source_t *src = arg;
	int rc;

	mqb_mqtt_session_connect(src->session);
	while (!atomic_load(&src->stop)) {
		int64_t now = mqb_mono_ms(), wait;
		/* idle: once a second (the session's keepalive step); a reload request
		 * and the broker's packets end the wait at once (was 200 ms: 5 of the
		 * idle daemon's wakeups/s, bench_idle) */
		int timeout = 1000;

		atomic_store(&src->last_turn_ms, now);
		mqb_mqtt_source__reload_poll(src);   /* between bursts: nothing half-routed */
		/* a due store retry or lingering batch; else -1: no timer while idle */
		wait = mqb_pipeline_tick(src->pipe, now);
		if (wait >= 0)
			timeout = wait < 1 ? 1 : (wait > 200 ? 200 : (int)wait);
		rc = mqb_mqtt_session_run(src->session, timeout);
		if (rc == MQB_ERR_CLOSED)
			break;
		atomic_store(&src->connected, mqb_mqtt_session_connected(src->session));
		atomic_store(&src->subscribed, mqb_mqtt_session_subscribed(src->session));
	}

	/* Stop: read nothing more, store what we hold, then say goodbye to the broker
	 * (it keeps our session and queues what comes next). */
	mqb_mqtt_session_pause_reading(src->session);
	src->stop_rc = mqb_pipeline_flush(src->pipe, src->stop_timeout_ms);   /* lingering too */
	mqb_mqtt_session_disconnect(src->session, 2000);
	atomic_store(&src->connected, false);
	atomic_store(&src->subscribed, false);
	return NULL;
}

int mqb_mqtt_source_start(mqb_mqtt_source_t *src)
{
	int rc;

	if (!src || src->thread_started)
		return MQB_ERR_STATE;
	rc = pthread_create(&src->thread, NULL, src_thread, src);
	if (rc != 0) {
		mqb_error(SRC_MOD, "cannot start the ingest thread: %s", strerror(rc));
		return mqb_err_from_errno(rc);
	}
	src->thread_started = true;
	atomic_store(&src->last_turn_ms, mqb_mono_ms());
	return MQB_OK;
}

int mqb_mqtt_source_stop(mqb_mqtt_source_t *src, int flush_timeout_ms)
{
	if (!src || !src->thread_started || atomic_exchange(&src->stopped, true))
		return src && src->thread_started ? src->stop_rc : MQB_OK;
	src->stop_timeout_ms = flush_timeout_ms > 0 ? flush_timeout_ms : 0;
	atomic_store(&src->stop, true);
	mqb_mqtt_session_wakeup(src->session);
	pthread_join(src->thread, NULL);
	return src->stop_rc;
}

void mqb_mqtt_source_test_on_stored(mqb_mqtt_source_t *src, mqb_pipeline_stored_fn *fn,
				    void *arg)
{
	if (!src)
		return;
	src->test_stored = fn;
	src->test_stored_arg = arg;
}

/* --- construction ------------------------------------------------------------------ */

uint32_t mqb_mqtt_source_max_packet_size(const mqb_mqtt_conf_t *mc)
{
	int64_t v = mc->max_message_bytes + SRC_PACKET_ROOM;

	return v > 268435460 ? 268435460u : (uint32_t)v;   /* MQTT's largest packet */
}

static mqb_mqtt_session_t *session_new(mqb_mqtt_source_t *src, char *errstr,
				       size_t errstr_size)
{
	const mqb_mqtt_conf_t *mc = mqb_mqtt_conf(src->cfg);
	mqb_mqtt_session_opts_t so;

	memset(&so, 0, sizeof so);
	so.conf = mc;
	so.clean_start = -1;
	so.cb.on_message = src_on_message;
	so.cb.on_burst_end = src_on_burst_end;
	so.cb.on_subscribe = src_on_subscribe;
	so.cb.arg = src;
	so.log_name = "mqtt";
	/* libmosquitto acknowledges a QoS 1/2 message before our callback sees it: what
	 * was read but not yet appended is the loss window of a crash. A burst of at
	 * most max_inflight messages keeps that window at the broker's in-flight size. */
	so.max_burst = mc->max_inflight > 0 ? mc->max_inflight : 100;
	so.burst_linger_us = SRC_BURST_LINGER_US;
	/* QoS 0 is at most once anyway: larger bursts, larger batches */
	so.max_burst_qos0 = so.max_burst > SRC_BURST_QOS0 ? so.max_burst : SRC_BURST_QOS0;
	so.max_packet_size = mqb_mqtt_source_max_packet_size(mc);
	return mqb_mqtt_session_new(&so, errstr, errstr_size);
}

/* One subscription per distinct filter, at the highest QoS any route with that filter
 * asks for; its identifier is 1 + the first route's index. */
static int subscribe_routes(mqb_mqtt_source_t *src, char *errstr, size_t errstr_size)
{
	const mqb_config_t *cfg = src->cfg;
	size_t i, j, first;

	for (i = 0; i < src->nroutes; i++) {
		const mqb_route_conf_t *rc = &cfg->routes[i];
		int qos = rc->qos;

		for (first = 0; first < i; first++)
			if (strcmp(cfg->routes[first].filter, rc->filter) == 0)
				break;
		src->sub_ids[i] = (uint32_t)first + 1;
		for (j = first; j < src->nroutes; j++)
			if (strcmp(cfg->routes[j].filter, rc->filter) == 0 && cfg->routes[j].qos > qos)
				qos = cfg->routes[j].qos;
		if (first == i &&
		    mqb_mqtt_session_subscribe_id(src->session, rc->filter, qos,
						  MQB_MQTT_SUB_RETAIN_NEW_ONLY,
						  src->sub_ids[i]) != MQB_OK) {
			mqb_errstr_set(errstr, errstr_size, "ingest: cannot subscribe to %s",
				       rc->filter);
			return MQB_ERR_INVAL;
		}
	}
	return MQB_OK;
}

mqb_mqtt_source_t *mqb_mqtt_source_new(const mqb_config_t *cfg, mqb_store_t *store,
				       mqb_metrics_t *metrics, char *errstr,
				       size_t errstr_size)
{
	mqb_mqtt_source_t *src;
	mqb_pipeline_opts_t po;
	const mqb_mqtt_conf_t *mc = cfg ? mqb_mqtt_conf(cfg) : NULL;

	if (!cfg || !store) {
		mqb_errstr_set(errstr, errstr_size, "ingest: no configuration or store");
		return NULL;
	}
	src = calloc(1, sizeof *src);
	if (!src) {
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		return NULL;
	}
	src->cfg = cfg;
	if (hdr_reserve(src, SRC_FIXED_HDRS + 10) != 0) {
		free(src);
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		return NULL;
	}
	memset(&po, 0, sizeof po);
	po.cfg = cfg;
	po.store = store;
	po.metrics = metrics;
	po.max_record_bytes = mc->max_message_bytes;
	po.acked_before_submit = true;   /* libmosquitto acknowledged it already */
	po.pause = src_pause;
	po.on_stored = src_on_stored;
	po.arg = src;
	/* the broker forgot an acknowledged message already: with batch_linger_ms > 0 a
	 * small batch may stay open across bursts (docs/INGEST.md "Linger") */
	po.linger_ms = mc->batch_linger_ms;
	src->pipe = mqb_pipeline_new(&po, errstr, errstr_size);
	if (!src->pipe)
		goto error;
	src->session = session_new(src, errstr, errstr_size);
	if (!src->session)
		goto error;
	src->nroutes = cfg->routes_count;
	src->sub_ids = calloc(src->nroutes ? src->nroutes : 1, sizeof *src->sub_ids);
	if (!src->sub_ids) {
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		goto error;
	}
	if (subscribe_routes(src, errstr, errstr_size) != MQB_OK)
		goto error;
	if (metrics) {
		mqb_metrics_add_collector(metrics, mqb_mqtt_source__collect, src);
		mqb_metrics_add_json(metrics, "mqtt", mqb_mqtt_source__json, src);
	}
	return src;

error:
	mqb_mqtt_source_destroy(src);
	return NULL;
}

void mqb_mqtt_source_destroy(mqb_mqtt_source_t *src)
{
	if (!src)
		return;
	mqb_mqtt_source_stop(src, 5000);
	mqb_mqtt_session_destroy(src->session);
	mqb_pipeline_destroy(src->pipe);
	free(src->sub_ids);
	free(src->hdrs);
	free(src);
}
