/*
 * kafka_stats.c — the forwarder's metrics (a scrape-time collector) and its /stats
 * "kafka" section. Both run in the HTTP thread: they read the atomics the forwarder
 * thread publishes once per turn and copy reasons and sync pairs under its brief lock,
 * holding slock for reading while they walk the forward entries (a reload changes them).
 */
#include <pthread.h>
#include <stdatomic.h>

#include <cjson/cJSON.h>

#include "connectors/kafka/kafka_fwd_int.h"

static const char *state_name(int s)
{
	return s == MQB_KAFKA_STREAM_FORWARDING ? "forwarding" :
	       s == MQB_KAFKA_STREAM_REFUSED ? "refused" : "waiting";
}

/* Backlog bytes are estimated from the partition's average record size on disk. */
static int64_t backlog_bytes(const mqb_watermarks_t *wm, int64_t backlog)
{
	int64_t recs = wm->stored - wm->log_start;
	if (recs <= 0 || backlog <= 0)
		return 0;
	return (int64_t)((double)wm->size_bytes * (double)backlog / (double)recs);
}

/* One partition's forwarding series, or (partition NULL) a stream's sums. */
static void emit_part(mqb_metrics_emit_t *e, const char *stream, const char *partition,
		      double cur, double backlog, double bbytes)
{
	mqb_metrics_emit(e, "mqbridge_kafka_forwarded_offset", "Every local offset below "
			 "this is delivered to Kafka (above 64 partitions: the stream's sum)",
			 "gauge", cur, "stream", stream, partition ? "partition" : NULL,
			 partition, NULL);
	mqb_metrics_emit(e, "mqbridge_kafka_backlog_records", "Stored records not yet "
			 "delivered to Kafka", "gauge", backlog, "stream", stream,
			 partition ? "partition" : NULL, partition, NULL);
	mqb_metrics_emit(e, "mqbridge_kafka_backlog_bytes", "Estimated bytes not yet "
			 "delivered to Kafka", "gauge", bbytes, "stream", stream,
			 partition ? "partition" : NULL, partition, NULL);
}

void mqb_kafka__metrics_collect(mqb_metrics_emit_t *e, void *arg)
{
	mqb_kafka_fwd_t *f = arg;
	mqb_metrics_emit(e, "mqbridge_kafka_connected", "1 while a Kafka broker connection "
			 "is up", "gauge", (double)atomic_load(&f->connected), NULL);
	mqb_metrics_emit(e, "mqbridge_kafka_brokers_up", "Kafka brokers connected", "gauge",
			 (double)atomic_load(&f->brokers_up), NULL);
	mqb_metrics_emit(e, "mqbridge_kafka_inflight_messages", "Records handed to "
			 "librdkafka without a delivery report yet", "gauge",
			 (double)atomic_load(&f->inflight_total), NULL);
	mqb_metrics_emit(e, "mqbridge_kafka_queue_full_total", "Produce attempts refused "
			 "because librdkafka's queue was full (retried)", "counter",
			 (double)atomic_load(&f->queue_full), NULL);
	pthread_rwlock_rdlock(&f->slock);   /* a reload may change the entries */
	for (size_t i = 0; i < f->nstreams; i++) {
		struct kstream *ks = f->streams[i];
		mqb_metrics_emit(e, "mqbridge_kafka_stream_forwarding", "1 when the stream is "
				 "forwarded, 0 while waiting for metadata or refused", "gauge",
				 atomic_load(&ks->state) == MQB_KAFKA_STREAM_FORWARDING ? 1.0 : 0.0,
				 "stream", ks->stream, "topic", ks->topic, NULL);
		/* per partition up to MQB_JSON_DETAIL_MAX partitions (or ?partitions=1),
		 * else the same names with the stream label alone holding the sums, as the
		 * store's series do (store_metrics.c): 3 series per partition were 3,072
		 * at 1024 partitions */
		bool detail = mqb_metrics_json_detail(ks->nparts > 0 ? (size_t)ks->nparts : 0);
		double t_cur = 0, t_backlog = 0, t_bbytes = 0;
		for (int32_t p = 0; p < ks->nparts; p++) {
			struct kpart *kp = &ks->parts[p];
			mqb_watermarks_t wm;
			mqb_partition_watermarks(kp->p, &wm);
			int64_t cur = atomic_load(&kp->a_cursor);
			int64_t backlog = wm.stored > cur ? wm.stored - cur : 0;
			if (!detail) {
				t_cur += (double)cur;
				t_backlog += (double)backlog;
				t_bbytes += (double)backlog_bytes(&wm, backlog);
				continue;
			}
			emit_part(e, ks->stream, kp->id_str, (double)cur, (double)backlog,
				  (double)backlog_bytes(&wm, backlog));
		}
		if (!detail)
			emit_part(e, ks->stream, NULL, t_cur, t_backlog, t_bbytes);
	}
	pthread_rwlock_unlock(&f->slock);
}

void mqb_kafka__json_section(cJSON *sec, void *arg)
{
	mqb_kafka_fwd_t *f = arg;
	cJSON_AddBoolToObject(sec, "connected", atomic_load(&f->connected));
	cJSON_AddStringToObject(sec, "state", atomic_load(&f->connected) ? "up" : "down");
	cJSON_AddNumberToObject(sec, "brokers_up", atomic_load(&f->brokers_up));
	cJSON_AddNumberToObject(sec, "inflight", (double)atomic_load(&f->inflight_total));
	cJSON_AddNumberToObject(sec, "producer_restarts", (double)atomic_load(&f->restarts));
	cJSON_AddNumberToObject(sec, "queue_full", (double)atomic_load(&f->queue_full));
	cJSON *errs = cJSON_AddObjectToObject(sec, "delivery_errors");
	size_t nc = atomic_load(&f->ncodes);
	for (size_t i = 0; i < nc; i++)
		cJSON_AddNumberToObject(errs, rd_kafka_err2name(f->codes[i].code),
					(double)atomic_load(&f->codes[i].n));
	cJSON *arr = cJSON_AddArrayToObject(sec, "forward");
	pthread_rwlock_rdlock(&f->slock);   /* a reload may change the entries */
	for (size_t i = 0; i < f->nstreams; i++) {
		struct kstream *ks = f->streams[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddItemToArray(arr, o);
		cJSON_AddStringToObject(o, "stream", ks->stream);
		cJSON_AddStringToObject(o, "topic", ks->topic);
		cJSON_AddStringToObject(o, "state", state_name(atomic_load(&ks->state)));
		cJSON_AddNumberToObject(o, "kafka_partitions", atomic_load(&ks->kafka_parts));
		pthread_mutex_lock(&f->lock);
		cJSON_AddStringToObject(o, "reason", ks->why);
		pthread_mutex_unlock(&f->lock);
		/* totals always; the partitions one by one only with detail (metrics.h) */
		bool detail = mqb_metrics_json_detail(ks->nparts > 0 ? (size_t)ks->nparts : 0);
		cJSON *parts = detail ? cJSON_AddArrayToObject(o, "partitions") : NULL;
		double t_backlog = 0, t_bbytes = 0, t_inflight = 0, t_fw = 0, t_err = 0, t_lost = 0;
		for (int32_t p = 0; p < ks->nparts; p++) {
			mqb_kafka_part_status_t s;
			mqb_kafka__part_status(&ks->parts[p], &s);
			mqb_watermarks_t wm;
			mqb_partition_watermarks(ks->parts[p].p, &wm);
			int64_t backlog = s.stored > s.cursor ? s.stored - s.cursor : 0;
			t_backlog += (double)backlog;
			t_bbytes += (double)backlog_bytes(&wm, backlog);
			t_inflight += (double)s.inflight;
			t_fw += (double)s.forwarded;
			t_err += (double)s.delivery_errors;
			t_lost += (double)s.lost;
			if (!parts)
				continue;
			cJSON *po = cJSON_CreateObject();
			cJSON_AddItemToArray(parts, po);
			cJSON_AddNumberToObject(po, "partition", p);
			cJSON_AddNumberToObject(po, "forwarded_offset", (double)s.cursor);
			cJSON_AddNumberToObject(po, "produced_offset", (double)s.produced);
			cJSON_AddNumberToObject(po, "stored_offset", (double)s.stored);
			cJSON_AddNumberToObject(po, "backlog_records", (double)backlog);
			cJSON_AddNumberToObject(po, "backlog_bytes", (double)backlog_bytes(&wm, backlog));
			cJSON_AddNumberToObject(po, "inflight", (double)s.inflight);
			cJSON_AddNumberToObject(po, "forwarded", (double)s.forwarded);
			cJSON_AddNumberToObject(po, "delivery_errors", (double)s.delivery_errors);
			cJSON_AddNumberToObject(po, "records_lost", (double)s.lost);
			pthread_mutex_lock(&f->lock);
			const mqb_fwd_syncs_t *sy = &ks->parts[p].syncs;
			cJSON_AddNumberToObject(po, "sync_pairs", (double)sy->n);
			if (sy->n > 0) {
				cJSON *last = cJSON_AddArrayToObject(po, "last_sync");
				cJSON_AddItemToArray(last, cJSON_CreateNumber((double)sy->v[sy->n - 1].local));
				cJSON_AddItemToArray(last, cJSON_CreateNumber((double)sy->v[sy->n - 1].kafka));
			}
			pthread_mutex_unlock(&f->lock);
		}
		cJSON_AddNumberToObject(o, "partition_count", ks->nparts);
		if (!parts)
			cJSON_AddBoolToObject(o, "partitions_omitted", true);
		cJSON *to = cJSON_AddObjectToObject(o, "totals");
		cJSON_AddNumberToObject(to, "backlog_records", t_backlog);
		cJSON_AddNumberToObject(to, "backlog_bytes", t_bbytes);
		cJSON_AddNumberToObject(to, "inflight", t_inflight);
		cJSON_AddNumberToObject(to, "forwarded", t_fw);
		cJSON_AddNumberToObject(to, "delivery_errors", t_err);
		cJSON_AddNumberToObject(to, "records_lost", t_lost);
	}
	pthread_rwlock_unlock(&f->slock);
}
