/*
 * ingest.c — MQTT messages -> routed, partitioned, batched records (see ingest.h):
 * the per-message path, the ingest thread, construction. Batches: ingest_batch.c;
 * counters and metrics: ingest_stats.c.
 */
#include "connectors/mqtt/ingest.h"
#include "connectors/mqtt/ingest_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/ingest/keytmpl.h"
#include "bridge/logging.h"
#include "bridge/ingest/partitioner.h"
#include "bridge/ingest/router.h"

/* --- session callbacks (ingest thread) --------------------------------------------- */

static void ing_on_message(void *arg, const mqb_mqtt_msg_t *m)
{
	mqb_ingest_t *ing = arg;
	struct ing_route *rt;
	struct ing_stream *st;
	struct ing_part *pt;
	char key[ING_KEY_MAX];
	size_t key_len = 0;
	ssize_t klen = -1;
	int32_t part;
	int idx, rc;

	idx = mqb_router_match(ing->router, m->topic);
	if (idx < 0) {
		atomic_fetch_add(&ing->no_route, 1);
		mqb_counter_inc(ing->m_rej_no_route);
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, ING_MOD, 10000,
				    "no route matches topic \"%.200s\": message rejected", m->topic);
		return;
	}
	rt = &ing->routes[idx];
	if (m->sub_id_count && rt->sub_id) {
		/* A copy delivered through another (overlapping) subscription: the copy
		 * carrying the matching route's own subscription id is the one we keep. */
		size_t i;
		bool mine = false;

		for (i = 0; i < m->sub_id_count; i++)
			mine |= m->sub_ids[i] == rt->sub_id;
		if (!mine) {
			atomic_fetch_add(&ing->duplicates, 1);
			return;
		}
	}
	atomic_fetch_add(&ing->received, 1);
	mqb_counter_inc(rt->m_received);
	if ((int64_t)m->payload_len > ing->max_message_bytes) {
		atomic_fetch_add(&ing->too_large, 1);
		mqb_counter_inc(ing->m_rej_too_large);
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, ING_MOD, 10000,
				    "message on \"%.200s\" has %zu bytes, over max_message_bytes "
				    "%lld: rejected", m->topic, m->payload_len,
				    (long long)ing->max_message_bytes);
		return;
	}
	st = &ing->streams[rt->stream];
	if (rt->kt) {
		rc = mqb_keytmpl_render(rt->kt, m->topic, key, sizeof key, &key_len);
		if (rc != MQB_OK) {
			atomic_fetch_add(&ing->key_template, 1);
			mqb_counter_inc(ing->m_rej_key);
			MQB_LOG_RATELIMITED(MQB_LOG_WARN, ING_MOD, 10000,
					    "key template of route %s cannot be filled from topic "
					    "\"%.200s\" (%s): message rejected",
					    ing->cfg->routes[idx].name ? ing->cfg->routes[idx].name
								       : ing->cfg->routes[idx].filter,
					    m->topic, mqb_strerror(rc));
			return;
		}
		klen = (ssize_t)key_len;
		part = mqb_partition_for_key(key, key_len, st->nparts);
	} else {
		part = mqb_sticky_partition(&st->sticky);
		st->keyless_used = true;
	}
	pt = &st->parts[part];
	rc = mqb_ingest__part_add(pt, m, key, klen);
	if (rc != MQB_OK) {
		/* out of memory: nothing else can hold it */
		atomic_fetch_add(&ing->store_error, 1);
		mqb_counter_inc(ing->m_rej_store);
		MQB_LOG_RATELIMITED(MQB_LOG_ERROR, ING_MOD, 10000,
				    "out of memory buffering a message on \"%.200s\": lost",
				    m->topic);
		return;
	}
	if (atomic_fetch_add(&ing->pending, 1) == 0)
		ing->window_start_us = mqb_mono_us();
	if (atomic_load(&ing->pending) > atomic_load(&ing->window_max_records))
		atomic_store(&ing->window_max_records, atomic_load(&ing->pending));
	mqb_ingest__mark_dirty(ing, pt);
	if (!ing->blocked && (pt->bytes >= st->flush_bytes || pt->nrec >= ING_BATCH_RECS_MAX)) {
		rc = mqb_ingest__part_flush(ing, pt);
		if (rc != MQB_OK)
			mqb_ingest__flush_all(ing);  /* records the failure, pauses, schedules the retry */
	}
}

static void ing_on_burst_end(void *arg)
{
	mqb_ingest_t *ing = arg;

	if (!ing->blocked)
		mqb_ingest__flush_all(ing);
}

static void ing_on_subscribe(void *arg, const char *filter, int granted)
{
	(void)arg;
	if (granted >= 0x80)
		mqb_error(ING_MOD, "subscription to %s refused by the broker: that route "
			  "receives nothing", filter);
}

/* --- thread ------------------------------------------------------------------------ */

static void *ing_thread(void *arg)
{
	mqb_ingest_t *ing = arg;
	int64_t deadline;
	int rc;

	mqb_mqtt_session_connect(ing->session);
	while (!atomic_load(&ing->stop)) {
		int64_t now = mqb_mono_ms();
		int timeout = 200;

		atomic_store(&ing->last_turn_ms, now);
		if (ing->blocked) {
			if (now >= ing->retry_at_ms)
				mqb_ingest__flush_all(ing);
			if (ing->blocked) {
				int64_t w = ing->retry_at_ms - mqb_mono_ms();

				timeout = w < 1 ? 1 : (w > 200 ? 200 : (int)w);
			}
		}
		rc = mqb_mqtt_session_run(ing->session, timeout);
		if (rc == MQB_ERR_CLOSED)
			break;
		atomic_store(&ing->connected, mqb_mqtt_session_connected(ing->session));
		atomic_store(&ing->subscribed, mqb_mqtt_session_subscribed(ing->session));
	}

	/* Stop: read nothing more, store what we hold, then say goodbye to the broker
	 * (it keeps our session and queues what comes next). */
	mqb_mqtt_session_pause_reading(ing->session);
	deadline = mqb_mono_ms() + ing->stop_timeout_ms;
	ing->stop_rc = MQB_OK;
	while (ing->ndirty > 0) {
		if (mqb_ingest__flush_all(ing) == MQB_OK)
			break;
		if (mqb_mono_ms() >= deadline) {
			mqb_error(ING_MOD, "shutdown: %llu acknowledged records could not be "
				  "stored and are lost",
				  (unsigned long long)atomic_load(&ing->pending));
			ing->stop_rc = MQB_ERR_IO;
			break;
		}
		struct timespec ts = { 0, 50 * 1000000L };
		nanosleep(&ts, NULL);
	}
	mqb_mqtt_session_disconnect(ing->session, 2000);
	atomic_store(&ing->connected, false);
	atomic_store(&ing->subscribed, false);
	return NULL;
}

int mqb_ingest_start(mqb_ingest_t *ing)
{
	int rc;

	if (!ing || ing->thread_started)
		return MQB_ERR_STATE;
	rc = pthread_create(&ing->thread, NULL, ing_thread, ing);
	if (rc != 0) {
		mqb_error(ING_MOD, "cannot start the ingest thread: %s", strerror(rc));
		return mqb_err_from_errno(rc);
	}
	ing->thread_started = true;
	atomic_store(&ing->last_turn_ms, mqb_mono_ms());
	return MQB_OK;
}

int mqb_ingest_stop(mqb_ingest_t *ing, int flush_timeout_ms)
{
	if (!ing || !ing->thread_started || atomic_exchange(&ing->stopped, true))
		return ing && ing->thread_started ? ing->stop_rc : MQB_OK;
	ing->stop_timeout_ms = flush_timeout_ms > 0 ? flush_timeout_ms : 0;
	atomic_store(&ing->stop, true);
	mqb_mqtt_session_wakeup(ing->session);
	pthread_join(ing->thread, NULL);
	return ing->stop_rc;
}

void mqb_ingest_set_stored_cb(mqb_ingest_t *ing, mqb_ingest_stored_fn *fn, void *arg)
{
	if (!ing)
		return;
	ing->stored_cb = fn;
	ing->stored_arg = arg;
}

/* --- construction ------------------------------------------------------------------ */

static mqb_counter_t *rej_counter(mqb_metrics_t *m, const char *reason)
{
	if (!m)
		return NULL;
	return mqb_metrics_counter(m, "mqbridge_messages_rejected_total",
				   "messages not stored, by reason", "reason", reason, NULL);
}

mqb_ingest_t *mqb_ingest_new(const mqb_config_t *cfg, mqb_store_t *store,
			     mqb_metrics_t *metrics, char *errstr, size_t errstr_size)
{
	mqb_ingest_t *ing;
	mqb_mqtt_session_opts_t so;
	size_t i, j, total_parts = 0;
	char route_name[64];
	const mqb_mqtt_conf_t *mc = mqb_mqtt_conf(cfg);

	if (!cfg || !store) {
		mqb_errstr_set(errstr, errstr_size, "ingest: no configuration or store");
		return NULL;
	}
	ing = calloc(1, sizeof *ing);
	if (!ing) {
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		return NULL;
	}
	ing->cfg = cfg;
	ing->store = store;
	ing->metrics = metrics;
	ing->retry_ms = ING_RETRY_MIN_MS;
	ing->max_message_bytes = mc->max_message_bytes > 0 ? mc->max_message_bytes
								 : (1 << 20);
	ing->router = mqb_router_from_config(cfg, errstr, errstr_size);
	if (!ing->router)
		goto error;

	ing->nstreams = cfg->streams_count;
	ing->streams = calloc(ing->nstreams ? ing->nstreams : 1, sizeof *ing->streams);
	if (!ing->streams)
		goto nomem;
	for (i = 0; i < ing->nstreams; i++) {
		struct ing_stream *st = &ing->streams[i];
		const mqb_stream_conf_t *sc = &cfg->streams[i];
		int32_t np = mqb_store_partition_count(store, sc->name);

		st->name = sc->name;
		if (np < 1) {
			mqb_errstr_set(errstr, errstr_size, "ingest: stream %s is not open in the store",
				       sc->name);
			goto error;
		}
		st->nparts = np;
		st->parts = calloc((size_t)np, sizeof *st->parts);
		if (!st->parts)
			goto nomem;
		for (j = 0; j < (size_t)np; j++) {
			st->parts[j].p = mqb_store_partition(store, sc->name, (int32_t)j);
			st->parts[j].stream = (int)i;
			st->parts[j].id = (int32_t)j;
			if (!st->parts[j].p) {
				mqb_errstr_set(errstr, errstr_size, "ingest: %s-%zu missing in the store",
					       sc->name, j);
				goto error;
			}
		}
		total_parts += (size_t)np;
		st->flush_bytes = ING_BATCH_BYTES_MAX;
		if (sc->opts.max_batch_bytes > 0 &&
		    (size_t)sc->opts.max_batch_bytes / 2 < st->flush_bytes)
			st->flush_bytes = (size_t)sc->opts.max_batch_bytes / 2;
		mqb_sticky_init(&st->sticky, np, 0);
		if (metrics) {
			st->m_stored = mqb_metrics_counter(metrics, "mqbridge_messages_stored_total",
							   "records appended to the local log",
							   "stream", st->name, NULL);
			st->m_bytes = mqb_metrics_counter(metrics, "mqbridge_bytes_stored_total",
							  "MQTT payload bytes of the records stored",
							  "stream", st->name, NULL);
		}
	}
	if (mqb_ingest__grow((void **)&ing->dirty, &ing->dirty_cap, total_parts + 1,
			     sizeof *ing->dirty) != 0)
		goto nomem;

	memset(&so, 0, sizeof so);
	so.conf = mc;
	so.clean_start = -1;
	so.cb.on_message = ing_on_message;
	so.cb.on_burst_end = ing_on_burst_end;
	so.cb.on_subscribe = ing_on_subscribe;
	so.cb.arg = ing;
	so.log_name = "mqtt";
	/* libmosquitto acknowledges a QoS 1/2 message before our callback sees it: what
	 * was read but not yet appended is the loss window of a crash. A burst of at
	 * most max_inflight messages keeps that window at the broker's in-flight size. */
	so.max_burst = mc->max_inflight > 0 ? mc->max_inflight : 100;
	so.burst_linger_us = ING_BURST_LINGER_US;
	/* QoS 0 is at most once anyway: larger bursts, larger batches */
	so.max_burst_qos0 = so.max_burst > ING_BURST_QOS0 ? so.max_burst : ING_BURST_QOS0;
	ing->session = mqb_mqtt_session_new(&so, errstr, errstr_size);
	if (!ing->session)
		goto error;

	ing->nroutes = cfg->routes_count;
	ing->routes = calloc(ing->nroutes ? ing->nroutes : 1, sizeof *ing->routes);
	if (!ing->routes)
		goto nomem;
	for (i = 0; i < ing->nroutes; i++) {
		const mqb_route_conf_t *rc = &cfg->routes[i];
		struct ing_route *rt = &ing->routes[i];
		size_t first;
		int qos = rc->qos;

		rt->stream = rc->stream_index >= 0 ? rc->stream_index
						   : mqb_config_stream_index(cfg, rc->stream);
		if (rt->stream < 0 || (size_t)rt->stream >= ing->nstreams) {
			mqb_errstr_set(errstr, errstr_size, "ingest: route %zu names unknown stream %s",
				       i, rc->stream);
			goto error;
		}
		rt->kt = mqb_router_keytmpl(ing->router, (int)i);
		/* One subscription per distinct filter, at the highest QoS any route with
		 * that filter asks for; its identifier is 1 + the first route's index. */
		for (first = 0; first < i; first++)
			if (strcmp(cfg->routes[first].filter, rc->filter) == 0)
				break;
		rt->sub_id = (uint32_t)first + 1;
		for (j = first; j < ing->nroutes; j++)
			if (strcmp(cfg->routes[j].filter, rc->filter) == 0 && cfg->routes[j].qos > qos)
				qos = cfg->routes[j].qos;
		if (first == i &&
		    mqb_mqtt_session_subscribe_id(ing->session, rc->filter, qos,
						  MQB_MQTT_SUB_RETAIN_NEW_ONLY, rt->sub_id) != MQB_OK) {
			mqb_errstr_set(errstr, errstr_size, "ingest: cannot subscribe to %s",
				       rc->filter);
			goto error;
		}
		if (metrics) {
			const char *name = rc->name;

			if (!name) {
				snprintf(route_name, sizeof route_name, "route%zu", i);
				name = route_name;
			}
			rt->m_received = mqb_metrics_counter(metrics,
							     "mqbridge_messages_received_total",
							     "MQTT messages received, by route",
							     "route", name, NULL);
		}
	}
	if (metrics) {
		ing->m_rej_no_route = rej_counter(metrics, "no_route");
		ing->m_rej_too_large = rej_counter(metrics, "too_large");
		ing->m_rej_key = rej_counter(metrics, "key_template");
		ing->m_rej_store = rej_counter(metrics, "store_error");
		mqb_metrics_add_collector(metrics, mqb_ingest__collect, ing);
		mqb_metrics_add_json(metrics, "mqtt", mqb_ingest__json, ing);
	}
	return ing;

nomem:
	mqb_errstr_set(errstr, errstr_size, "out of memory");
error:
	mqb_ingest_destroy(ing);
	return NULL;
}

void mqb_ingest_destroy(mqb_ingest_t *ing)
{
	size_t i;
	int32_t j;

	if (!ing)
		return;
	mqb_ingest_stop(ing, 5000);
	mqb_mqtt_session_destroy(ing->session);
	mqb_router_destroy(ing->router);
	for (i = 0; i < ing->nstreams; i++) {
		struct ing_stream *st = &ing->streams[i];

		for (j = 0; st->parts && j < st->nparts; j++) {
			free(st->parts[j].arena);
			free(st->parts[j].recs);
			free(st->parts[j].hdrs);
		}
		free(st->parts);
	}
	free(ing->streams);
	free(ing->routes);
	free(ing->dirty);
	free(ing->out);
	free(ing->outh);
	free(ing);
}
