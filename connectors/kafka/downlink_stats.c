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

/* One partition's figures, or a topic's sums over its partitions. */
typedef struct dl_fig {
	double assigned, position, committed, lag, inflight, published, acked;
} dl_fig_t;

static double nonneg(int64_t v)
{
	return v > 0 ? (double)v : 0;   /* -1: not known (not assigned yet) */
}

static void fig_one(dl_fig_t *f, struct dl_part *p)
{
	f->assigned = (double)atomic_load(&p->a_assigned);
	f->position = (double)atomic_load(&p->a_cursor);
	f->committed = (double)atomic_load(&p->a_committed);
	f->lag = (double)lag_of(p);
	f->inflight = (double)atomic_load(&p->a_inflight);
	f->published = (double)atomic_load(&p->published);
	f->acked = (double)atomic_load(&p->acked);
}

/* sums: positions not known yet (-1) count as 0 */
static void fig_add(dl_fig_t *f, struct dl_part *p)
{
	f->assigned += (double)atomic_load(&p->a_assigned);
	f->position += nonneg(atomic_load(&p->a_cursor));
	f->committed += nonneg(atomic_load(&p->a_committed));
	f->lag += (double)lag_of(p);
	f->inflight += (double)atomic_load(&p->a_inflight);
	f->published += (double)atomic_load(&p->published);
	f->acked += (double)atomic_load(&p->acked);
}

/* id NULL: the topic's sums, labelled by topic alone */
static void emit_fig(mqb_metrics_emit_t *em, const char *t, const char *id,
		     const dl_fig_t *f)
{
	const char *pl = id ? "partition" : NULL;

	mqb_metrics_emit(em, "mqbridge_downlink_assigned", "1 while this gateway owns the "
			 "partition in its Kafka group (above 64 partitions: the topic's "
			 "sums, here the count owned)", "gauge", f->assigned, "topic", t, pl,
			 id, NULL);
	mqb_metrics_emit(em, "mqbridge_downlink_position", "Every Kafka offset below this is "
			 "acknowledged by the MQTT broker", "gauge", f->position, "topic", t,
			 pl, id, NULL);
	mqb_metrics_emit(em, "mqbridge_downlink_committed_offset", "Last offset committed to "
			 "the Kafka group", "gauge", f->committed, "topic", t, pl, id, NULL);
	mqb_metrics_emit(em, "mqbridge_downlink_lag_records", "High watermark minus position",
			 "gauge", f->lag, "topic", t, pl, id, NULL);
	mqb_metrics_emit(em, "mqbridge_downlink_inflight", "Publishes awaiting the broker's "
			 "acknowledgement", "gauge", f->inflight, "topic", t, pl, id, NULL);
	mqb_metrics_emit(em, "mqbridge_downlink_published_total", "Records published to MQTT",
			 "counter", f->published, "topic", t, pl, id, NULL);
	mqb_metrics_emit(em, "mqbridge_downlink_acked_total", "Publishes acknowledged by the "
			 "broker", "counter", f->acked, "topic", t, pl, id, NULL);
}

/* dl->lock held. Per partition up to MQB_JSON_DETAIL_MAX partitions (or with
 * ?partitions=1), else the topic's sums under the same names (metrics.h). */
static void collect_parts(mqb_metrics_emit_t *em, struct dl_entry *e)
{
	bool detail = mqb_metrics_json_detail(e->nparts > 0 ? (size_t)e->nparts : 0);
	dl_fig_t sum = { 0 };

	for (int32_t j = 0; j < e->nparts; j++) {
		dl_fig_t one = { 0 };

		if (!e->parts[j])
			continue;
		if (!detail) {
			fig_add(&sum, e->parts[j]);
			continue;
		}
		fig_one(&one, e->parts[j]);
		emit_fig(em, e->conf->topic, e->parts[j]->id_str, &one);
	}
	if (!detail && e->nparts > 0)
		emit_fig(em, e->conf->topic, NULL, &sum);
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
		collect_parts(em, e);
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
	/* totals always; the partitions one by one only with detail (metrics.h) */
	bool detail = mqb_metrics_json_detail(e->nparts > 0 ? (size_t)e->nparts : 0);
	cJSON *parts = detail ? cJSON_AddArrayToObject(o, "partitions") : NULL;
	dl_fig_t sum = { 0 };
	pthread_mutex_lock(&e->dl->lock);
	for (int32_t j = 0; j < e->nparts; j++)
		if (e->parts[j]) {
			fig_add(&sum, e->parts[j]);
			if (parts)
				json_part(parts, e->parts[j]);
		}
	pthread_mutex_unlock(&e->dl->lock);
	cJSON_AddNumberToObject(o, "partition_count", e->nparts);
	if (!parts)
		cJSON_AddBoolToObject(o, "partitions_omitted", true);
	cJSON *to = cJSON_AddObjectToObject(o, "totals");
	cJSON_AddNumberToObject(to, "assigned", sum.assigned);
	cJSON_AddNumberToObject(to, "lag", sum.lag);
	cJSON_AddNumberToObject(to, "inflight", sum.inflight);
	cJSON_AddNumberToObject(to, "published", sum.published);
	cJSON_AddNumberToObject(to, "acked", sum.acked);
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
