/*
 * downlink_stats.c — the downlink's metrics (a scrape-time collector) and its /stats
 * "downlink" section. HTTP thread: reads the atomics the downlink thread keeps and
 * walks each entry's partitions under dl->lock (held only to walk the array).
 */
#include <stdatomic.h>

#include <cjson/cJSON.h>

#include "connectors/kafka/downlink_int.h"

static const char *const fail_names[DL_NFAIL] = {
	"refused", "failed", "abandoned", "dead_letter_error", "commit_failed" };

static int64_t lag_of(struct dl_part *p)
{
	int64_t hwm = atomic_load(&p->a_hwm), cur = atomic_load(&p->a_cursor);
	if (hwm < 0)
		return 0;
	if (cur < 0)
		cur = atomic_load(&p->a_committed);
	return cur >= 0 && hwm > cur ? hwm - cur : 0;
}

static void collect_part(mqb_metrics_emit_t *em, struct dl_entry *e, struct dl_part *p)
{
	const char *t = e->conf->topic, *id = p->id_str;
	mqb_metrics_emit(em, "mqbridge_downlink_assigned", "1 while this gateway owns the "
			 "partition in its Kafka group", "gauge",
			 (double)atomic_load(&p->a_assigned), "topic", t, "partition", id, NULL);
	mqb_metrics_emit(em, "mqbridge_downlink_position", "Every Kafka offset below this is "
			 "acknowledged by the MQTT broker", "gauge",
			 (double)atomic_load(&p->a_cursor), "topic", t, "partition", id, NULL);
	mqb_metrics_emit(em, "mqbridge_downlink_committed_offset", "Last offset committed to "
			 "the Kafka group", "gauge", (double)atomic_load(&p->a_committed),
			 "topic", t, "partition", id, NULL);
	mqb_metrics_emit(em, "mqbridge_downlink_lag_records", "High watermark minus position",
			 "gauge", (double)lag_of(p), "topic", t, "partition", id, NULL);
	mqb_metrics_emit(em, "mqbridge_downlink_inflight", "Publishes awaiting the broker's "
			 "acknowledgement", "gauge", (double)atomic_load(&p->a_inflight),
			 "topic", t, "partition", id, NULL);
	mqb_metrics_emit(em, "mqbridge_downlink_published_total", "Records published to MQTT",
			 "counter", (double)atomic_load(&p->published), "topic", t,
			 "partition", id, NULL);
	mqb_metrics_emit(em, "mqbridge_downlink_acked_total", "Publishes acknowledged by the "
			 "broker", "counter", (double)atomic_load(&p->acked), "topic", t,
			 "partition", id, NULL);
}

void mqb_dl__metrics_collect(mqb_metrics_emit_t *em, void *arg)
{
	mqb_downlink_t *dl = arg;
	mqb_metrics_emit(em, "mqbridge_downlink_mqtt_connected", "1 while the downlink's MQTT "
			 "session is connected", "gauge", atomic_load(&dl->mqtt_up) ? 1.0 : 0.0,
			 NULL);
	for (size_t i = 0; i < dl->n; i++) {
		struct dl_entry *e = &dl->entries[i];
		const char *t = e->conf->topic;
		mqb_metrics_emit(em, "mqbridge_downlink_kafka_connected", "1 while the downlink "
				 "consumer has a Kafka broker connection", "gauge",
				 (double)atomic_load(&e->kafka_up), "topic", t, NULL);
		for (int r = 1; r < MQB_DL_NREASONS; r++)
			mqb_metrics_emit(em, "mqbridge_downlink_unroutable_total", "Records whose "
					 "MQTT topic could not be made (skipped or dead-lettered)",
					 "counter", (double)atomic_load(&e->unroutable[r]), "topic", t,
					 "reason", mqb_dl_reason_name(r), NULL);
		for (int f = 0; f < DL_NFAIL; f++)
			mqb_metrics_emit(em, "mqbridge_downlink_failures_total", "Downlink failures "
					 "by reason", "counter", (double)atomic_load(&e->fail[f]),
					 "topic", t, "reason", fail_names[f], NULL);
		pthread_mutex_lock(&dl->lock);
		for (int32_t j = 0; j < e->nparts; j++)
			if (e->parts[j])
				collect_part(em, e, e->parts[j]);
		pthread_mutex_unlock(&dl->lock);
	}
}

static void json_part(cJSON *arr, struct dl_part *p)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToArray(arr, o);
	cJSON_AddNumberToObject(o, "partition", p->id);
	cJSON_AddBoolToObject(o, "assigned", atomic_load(&p->a_assigned));
	cJSON_AddBoolToObject(o, "paused", atomic_load(&p->a_paused));
	cJSON_AddNumberToObject(o, "position", (double)atomic_load(&p->a_cursor));
	cJSON_AddNumberToObject(o, "committed", (double)atomic_load(&p->a_committed));
	cJSON_AddNumberToObject(o, "high_watermark", (double)atomic_load(&p->a_hwm));
	cJSON_AddNumberToObject(o, "lag", (double)lag_of(p));
	cJSON_AddNumberToObject(o, "inflight", (double)atomic_load(&p->a_inflight));
	cJSON_AddNumberToObject(o, "published", (double)atomic_load(&p->published));
	cJSON_AddNumberToObject(o, "acked", (double)atomic_load(&p->acked));
	cJSON_AddNumberToObject(o, "unroutable", (double)atomic_load(&p->unroutable));
	cJSON_AddNumberToObject(o, "dead_lettered", (double)atomic_load(&p->dead_lettered));
	cJSON_AddNumberToObject(o, "duplicates_skipped",
				(double)atomic_load(&p->duplicates_skipped));
}

static void json_entry(cJSON *arr, struct dl_entry *e)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToArray(arr, o);
	cJSON_AddStringToObject(o, "topic", e->conf->topic);
	cJSON_AddStringToObject(o, "group", e->conf->group);
	cJSON_AddStringToObject(o, "mqtt_topic", e->conf->mqtt_topic);
	cJSON_AddNumberToObject(o, "qos", e->conf->qos);
	cJSON_AddStringToObject(o, "kafka", atomic_load(&e->kafka_up) ? "up" : "down");
	cJSON_AddNumberToObject(o, "brokers_up", atomic_load(&e->brokers_up));
	cJSON_AddNumberToObject(o, "rebalances", atomic_load(&e->rebalances));
	cJSON *u = cJSON_AddObjectToObject(o, "unroutable");
	for (int r = 1; r < MQB_DL_NREASONS; r++)
		cJSON_AddNumberToObject(u, mqb_dl_reason_name(r),
					(double)atomic_load(&e->unroutable[r]));
	cJSON *f = cJSON_AddObjectToObject(o, "failures");
	for (int i = 0; i < DL_NFAIL; i++)
		cJSON_AddNumberToObject(f, fail_names[i], (double)atomic_load(&e->fail[i]));
	cJSON *parts = cJSON_AddArrayToObject(o, "partitions");
	pthread_mutex_lock(&e->dl->lock);
	for (int32_t j = 0; j < e->nparts; j++)
		if (e->parts[j])
			json_part(parts, e->parts[j]);
	pthread_mutex_unlock(&e->dl->lock);
}

void mqb_dl__json_section(cJSON *sec, void *arg)
{
	mqb_downlink_t *dl = arg;
	bool kup = mqb_downlink_kafka_up(dl);
	cJSON_AddStringToObject(sec, "state", kup ? "up" : "kafka down");
	cJSON_AddBoolToObject(sec, "kafka_connected", kup);
	cJSON_AddBoolToObject(sec, "mqtt_connected", atomic_load(&dl->mqtt_up));
	cJSON *arr = cJSON_AddArrayToObject(sec, "entries");
	for (size_t i = 0; i < dl->n; i++)
		json_entry(arr, &dl->entries[i]);
}
