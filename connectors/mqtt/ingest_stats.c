/*
 * ingest_stats.c — the ingest's counters, its metrics collector and /stats section,
 * readiness and liveness (read from other threads: atomics only).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/logging.h"
#include "connectors/mqtt/ingest.h"
#include "connectors/mqtt/ingest_int.h"

/* --- stats ------------------------------------------------------------------------- */

void mqb_ingest_stats(mqb_ingest_t *ing, mqb_ingest_stats_t *out)
{
	memset(out, 0, sizeof *out);
	if (!ing)
		return;
	out->received = atomic_load(&ing->received);
	out->stored = atomic_load(&ing->stored);
	out->stored_bytes = atomic_load(&ing->stored_bytes);
	out->batches = atomic_load(&ing->batches);
	out->no_route = atomic_load(&ing->no_route);
	out->too_large = atomic_load(&ing->too_large);
	out->key_template = atomic_load(&ing->key_template);
	out->store_error = atomic_load(&ing->store_error);
	out->duplicates = atomic_load(&ing->duplicates);
	out->store_retries = atomic_load(&ing->store_retries);
	out->pending = atomic_load(&ing->pending);
	out->paused = atomic_load(&ing->paused);
	out->paused_ms_total = atomic_load(&ing->paused_ms);
	out->window_max_us = atomic_load(&ing->window_max_us);
	out->window_sum_us = atomic_load(&ing->window_sum_us);
	out->window_count = atomic_load(&ing->window_count);
	out->window_max_records = atomic_load(&ing->window_max_records);
	mqb_mqtt_session_stats(ing->session, &out->mqtt);
}

int mqb_ingest_alive(mqb_ingest_t *ing, int64_t stall_ms, char *why, size_t why_size)
{
	int64_t last;

	if (!ing || !ing->thread_started || atomic_load(&ing->stopped))
		return 1;
	last = atomic_load(&ing->last_turn_ms);
	if (last && mqb_mono_ms() - last > stall_ms) {
		mqb_errstr_set(why, why_size, "ingest thread stalled for %lld ms",
			       (long long)(mqb_mono_ms() - last));
		return 0;
	}
	return 1;
}

int mqb_ingest_ready(mqb_ingest_t *ing, char *why, size_t why_size)
{
	if (!ing) {
		mqb_errstr_set(why, why_size, "no ingest");
		return 0;
	}
	if (!atomic_load(&ing->connected)) {
		mqb_errstr_set(why, why_size, "mqtt not connected");
		return 0;
	}
	if (!atomic_load(&ing->subscribed)) {
		mqb_errstr_set(why, why_size, "mqtt subscriptions not acknowledged");
		return 0;
	}
	return 1;
}

void mqb_ingest__collect(mqb_metrics_emit_t *e, void *arg)
{
	mqb_ingest_t *ing = arg;
	mqb_ingest_stats_t s;
	double paused_s;

	mqb_ingest_stats(ing, &s);
	paused_s = (double)s.paused_ms_total / 1000.0;
	if (s.paused)
		paused_s += (double)(mqb_mono_ms() - atomic_load(&ing->paused_since_ms)) / 1000.0;
	mqb_metrics_emit(e, "mqbridge_mqtt_connected",
			 "1 while connected to the broker, else 0", "gauge",
			 s.mqtt.state == MQB_MQTT_CONNECTED ? 1.0 : 0.0, NULL);
	mqb_metrics_emit(e, "mqbridge_mqtt_subscribed",
			 "1 once every route's subscription is acknowledged", "gauge",
			 atomic_load(&ing->subscribed) ? 1.0 : 0.0, NULL);
	mqb_metrics_emit(e, "mqbridge_mqtt_reconnects_total",
			 "connections (re)established after a loss", "counter",
			 (double)(s.mqtt.connects > 0 ? s.mqtt.connects - 1 : 0), NULL);
	mqb_metrics_emit(e, "mqbridge_ingest_paused",
			 "1 while ingest is paused by back-pressure, else 0", "gauge",
			 s.paused ? 1.0 : 0.0, NULL);
	mqb_metrics_emit(e, "mqbridge_ingest_paused_seconds_total", "time spent paused",
			 "counter", paused_s, NULL);
	mqb_metrics_emit(e, "mqbridge_ingest_pending_records",
			 "records received and not yet appended to the store", "gauge",
			 (double)s.pending, NULL);
}

void mqb_ingest__json(cJSON *o, void *arg)
{
	mqb_ingest_t *ing = arg;
	mqb_ingest_stats_t s;
	cJSON *rej;

	mqb_ingest_stats(ing, &s);
	cJSON_AddStringToObject(o, "state", mqb_mqtt_state_name(s.mqtt.state));
	cJSON_AddBoolToObject(o, "subscribed", atomic_load(&ing->subscribed));
	cJSON_AddBoolToObject(o, "paused", s.paused);
	cJSON_AddNumberToObject(o, "connects", (double)s.mqtt.connects);
	cJSON_AddNumberToObject(o, "connect_attempts", (double)s.mqtt.connect_attempts);
	cJSON_AddNumberToObject(o, "disconnects", (double)s.mqtt.disconnects);
	cJSON_AddStringToObject(o, "last_error", s.mqtt.last_error);
	cJSON_AddNumberToObject(o, "messages_in", (double)s.mqtt.messages_in);
	cJSON_AddNumberToObject(o, "received", (double)s.received);
	cJSON_AddNumberToObject(o, "stored", (double)s.stored);
	cJSON_AddNumberToObject(o, "stored_bytes", (double)s.stored_bytes);
	cJSON_AddNumberToObject(o, "batches", (double)s.batches);
	cJSON_AddNumberToObject(o, "pending", (double)s.pending);
	cJSON_AddNumberToObject(o, "duplicates_skipped", (double)s.duplicates);
	cJSON_AddNumberToObject(o, "store_retries", (double)s.store_retries);
	cJSON_AddNumberToObject(o, "unstored_window_max_us", (double)s.window_max_us);
	cJSON_AddNumberToObject(o, "unstored_window_avg_us",
				s.window_count ? (double)s.window_sum_us / (double)s.window_count : 0.0);
	cJSON_AddNumberToObject(o, "unstored_window_max_records", (double)s.window_max_records);
	rej = cJSON_AddObjectToObject(o, "rejected");
	if (rej) {
		cJSON_AddNumberToObject(rej, "no_route", (double)s.no_route);
		cJSON_AddNumberToObject(rej, "too_large", (double)s.too_large);
		cJSON_AddNumberToObject(rej, "key_template", (double)s.key_template);
		cJSON_AddNumberToObject(rej, "store_error", (double)s.store_error);
	}
}
