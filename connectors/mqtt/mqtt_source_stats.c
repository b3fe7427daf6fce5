/*
 * mqtt_source_stats.c — the MQTT source's counters: the loss window, the snapshot,
 * the metrics collector and the "mqtt" section of /stats, readiness and liveness
 * (read from other threads: atomics only).
 */
#include <stdatomic.h>
#include <string.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "connectors/mqtt/mqtt_source.h"
#include "connectors/mqtt/mqtt_source_int.h"

/* --- the loss window (source thread) ----------------------------------------------- */

/* Its duration is the pipeline's (the age of each append's oldest record); the
 * source counts the records in it. */
void mqb_mqtt_source__window_note(mqb_mqtt_source_t *src)
{
	uint64_t pending = mqb_pipeline_pending(src->pipe);

	if (pending > atomic_load(&src->window_max_records))
		atomic_store(&src->window_max_records, pending);
}

/* --- stats (any thread) ------------------------------------------------------------ */

void mqb_mqtt_source_stats(mqb_mqtt_source_t *src, mqb_mqtt_source_stats_t *out)
{
	memset(out, 0, sizeof *out);
	if (!src)
		return;
	mqb_pipeline_stats(src->pipe, &out->pipe);
	out->duplicates = atomic_load(&src->duplicates);
	out->window_max_us = out->pipe.age_max_us;
	out->window_sum_us = out->pipe.age_sum_us;
	out->window_count = out->pipe.age_count;
	out->window_max_records = atomic_load(&src->window_max_records);
	mqb_mqtt_session_stats(src->session, &out->mqtt);
}

int mqb_mqtt_source_alive(mqb_mqtt_source_t *src, int64_t stall_ms, char *why,
			  size_t why_size)
{
	int64_t last;

	if (!src || !src->thread_started || atomic_load(&src->stopped))
		return 1;
	last = atomic_load(&src->last_turn_ms);
	if (last && mqb_mono_ms() - last > stall_ms) {
		mqb_errstr_set(why, why_size, "ingest thread stalled for %lld ms",
			       (long long)(mqb_mono_ms() - last));
		return 0;
	}
	return 1;
}

int mqb_mqtt_source_ready(mqb_mqtt_source_t *src, char *why, size_t why_size)
{
	if (!src) {
		mqb_errstr_set(why, why_size, "no ingest");
		return 0;
	}
	if (!atomic_load(&src->connected)) {
		mqb_errstr_set(why, why_size, "mqtt not connected");
		return 0;
	}
	if (!atomic_load(&src->subscribed)) {
		mqb_errstr_set(why, why_size, "mqtt subscriptions not acknowledged");
		return 0;
	}
	return 1;
}

/* --- metrics and /stats (HTTP thread) ---------------------------------------------- */

void mqb_mqtt_source__collect(mqb_metrics_emit_t *e, void *arg)
{
	mqb_mqtt_source_t *src = arg;
	mqb_mqtt_session_stats_t s;

	mqb_mqtt_session_stats(src->session, &s);
	mqb_metrics_emit(e, "mqbridge_mqtt_connected",
			 "1 while connected to the broker, else 0", "gauge",
			 s.state == MQB_MQTT_CONNECTED ? 1.0 : 0.0, NULL);
	mqb_metrics_emit(e, "mqbridge_mqtt_subscribed",
			 "1 once every route's subscription is acknowledged", "gauge",
			 atomic_load(&src->subscribed) ? 1.0 : 0.0, NULL);
	mqb_metrics_emit(e, "mqbridge_mqtt_reconnects_total",
			 "connections (re)established after a loss", "counter",
			 (double)(s.connects > 0 ? s.connects - 1 : 0), NULL);
	mqb_pipeline_collect(e, src->pipe);
}

static void json_rejected(cJSON *o, const mqb_pipeline_stats_t *p)
{
	cJSON *rej = cJSON_AddObjectToObject(o, "rejected");

	if (!rej)
		return;
	cJSON_AddNumberToObject(rej, "no_route", (double)p->no_route);
	cJSON_AddNumberToObject(rej, "too_large", (double)p->too_large);
	cJSON_AddNumberToObject(rej, "key_template", (double)p->key_template);
	cJSON_AddNumberToObject(rej, "store_error", (double)p->store_error);
	rej = cJSON_AddObjectToObject(o, "lost");
	if (!rej)
		return;
	cJSON_AddNumberToObject(rej, "oversize", (double)p->lost_oversize);
	cJSON_AddNumberToObject(rej, "shutdown", (double)p->lost_shutdown);
}

/* The "mqtt" section of /stats, keys in their documented order (OPERATIONS.md). */
void mqb_mqtt_source__json(cJSON *o, void *arg)
{
	mqb_mqtt_source_t *src = arg;
	mqb_mqtt_source_stats_t s;
	const mqb_pipeline_stats_t *p = &s.pipe;

	mqb_mqtt_source_stats(src, &s);
	cJSON_AddStringToObject(o, "state", mqb_mqtt_state_name(s.mqtt.state));
	cJSON_AddBoolToObject(o, "subscribed", atomic_load(&src->subscribed));
	cJSON_AddBoolToObject(o, "paused", p->paused);
	cJSON_AddNumberToObject(o, "connects", (double)s.mqtt.connects);
	cJSON_AddNumberToObject(o, "connect_attempts", (double)s.mqtt.connect_attempts);
	cJSON_AddNumberToObject(o, "disconnects", (double)s.mqtt.disconnects);
	cJSON_AddStringToObject(o, "last_error", s.mqtt.last_error);
	cJSON_AddNumberToObject(o, "messages_in", (double)s.mqtt.messages_in);
	cJSON_AddNumberToObject(o, "received", (double)p->received);
	cJSON_AddNumberToObject(o, "stored", (double)p->stored);
	cJSON_AddNumberToObject(o, "stored_bytes", (double)p->stored_bytes);
	cJSON_AddNumberToObject(o, "batches", (double)p->batches);
	cJSON_AddNumberToObject(o, "pending", (double)p->pending);
	cJSON_AddNumberToObject(o, "duplicates_skipped", (double)s.duplicates);
	cJSON_AddNumberToObject(o, "store_retries", (double)p->store_retries);
	cJSON_AddNumberToObject(o, "unstored_window_max_us", (double)s.window_max_us);
	cJSON_AddNumberToObject(o, "unstored_window_avg_us",
				s.window_count ? (double)s.window_sum_us / (double)s.window_count : 0.0);
	cJSON_AddNumberToObject(o, "unstored_window_max_records", (double)s.window_max_records);
	json_rejected(o, p);
}
