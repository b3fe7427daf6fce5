/*
 * pipeline_stats.c — the pipeline's counters: its metrics instruments, the snapshot
 * and the scrape-time collector (read from other threads: atomics only).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "bridge/clock.h"
#include "bridge/ingest/pipeline.h"
#include "bridge/ingest/pipeline_int.h"

const char *mqb_pipeline_reject_name(int reason)
{
	switch (reason) {
	case MQB_PIPELINE_NO_ROUTE: return "no_route";
	case MQB_PIPELINE_TOO_LARGE: return "too_large";
	case MQB_PIPELINE_KEY_TEMPLATE: return "key_template";
	case MQB_PIPELINE_STORE_ERROR: return "store_error";
	default: return "unknown";
	}
}

static mqb_counter_t *rej_counter(mqb_metrics_t *m, int reason)
{
	return mqb_metrics_counter(m, "mqbridge_messages_rejected_total",
				   "messages not stored, by reason",
				   "reason", mqb_pipeline_reject_name(reason), NULL);
}

void mqb_pipeline__metrics_init(mqb_pipeline_t *p)
{
	mqb_metrics_t *m = p->metrics;
	char route_name[64];
	size_t i;

	for (i = 0; i < p->nstreams; i++) {
		struct pl_stream *st = &p->streams[i];

		st->m_stored = mqb_metrics_counter(m, "mqbridge_messages_stored_total",
						   "records appended to the local log",
						   "stream", st->name, NULL);
		st->m_bytes = mqb_metrics_counter(m, "mqbridge_bytes_stored_total",
						  "MQTT payload bytes of the records stored",
						  "stream", st->name, NULL);
	}
	for (i = 0; i < p->nroutes; i++) {
		const char *name = p->cfg->routes[i].name;

		if (!name) {
			snprintf(route_name, sizeof route_name, "route%zu", i);
			name = route_name;
		}
		p->routes[i].m_received = mqb_metrics_counter(m, "mqbridge_messages_received_total",
							      "MQTT messages received, by route",
							      "route", name, NULL);
	}
	p->m_rej_no_route = rej_counter(m, MQB_PIPELINE_NO_ROUTE);
	p->m_rej_too_large = rej_counter(m, MQB_PIPELINE_TOO_LARGE);
	p->m_rej_key = rej_counter(m, MQB_PIPELINE_KEY_TEMPLATE);
	p->m_rej_store = rej_counter(m, MQB_PIPELINE_STORE_ERROR);
	p->m_lost_oversize = mqb_metrics_counter(m, "mqbridge_ingest_lost_total",
						 "acknowledged records not stored, by reason",
						 "reason", "oversize", NULL);
	p->m_lost_shutdown = mqb_metrics_counter(m, "mqbridge_ingest_lost_total",
						 "acknowledged records not stored, by reason",
						 "reason", "shutdown", NULL);
}

void mqb_pipeline__count_too_large(mqb_pipeline_t *p)
{
	atomic_fetch_add(&p->too_large, 1);
	mqb_counter_inc(p->m_rej_too_large);
	if (p->acked_before_submit) {
		atomic_fetch_add(&p->lost_oversize, 1);
		mqb_counter_inc(p->m_lost_oversize);
	}
}

uint64_t mqb_pipeline_pending(const mqb_pipeline_t *p)
{
	return p ? atomic_load(&p->pending) : 0;
}

void mqb_pipeline_stats(const mqb_pipeline_t *p, mqb_pipeline_stats_t *out)
{
	memset(out, 0, sizeof *out);
	if (!p)
		return;
	out->received = atomic_load(&p->received);
	out->stored = atomic_load(&p->stored);
	out->stored_bytes = atomic_load(&p->stored_bytes);
	out->batches = atomic_load(&p->batches);
	out->no_route = atomic_load(&p->no_route);
	out->too_large = atomic_load(&p->too_large);
	out->key_template = atomic_load(&p->key_template);
	out->store_error = atomic_load(&p->store_error);
	out->store_retries = atomic_load(&p->store_retries);
	out->lost_oversize = atomic_load(&p->lost_oversize);
	out->lost_shutdown = atomic_load(&p->lost_shutdown);
	out->pending = atomic_load(&p->pending);
	out->age_max_us = atomic_load(&p->age_max_us);
	out->age_sum_us = atomic_load(&p->age_sum_us);
	out->age_count = atomic_load(&p->age_count);
	out->paused = atomic_load(&p->paused);
	out->paused_ms_total = atomic_load(&p->paused_ms);
}

void mqb_pipeline_collect(mqb_metrics_emit_t *e, void *arg)
{
	const mqb_pipeline_t *p = arg;
	mqb_pipeline_stats_t s;
	double paused_s;

	mqb_pipeline_stats(p, &s);
	paused_s = (double)s.paused_ms_total / 1000.0;
	if (s.paused)
		paused_s += (double)(mqb_mono_ms() - atomic_load(&p->paused_since_ms)) / 1000.0;
	mqb_metrics_emit(e, "mqbridge_ingest_paused",
			 "1 while ingest is paused by back-pressure, else 0", "gauge",
			 s.paused ? 1.0 : 0.0, NULL);
	mqb_metrics_emit(e, "mqbridge_ingest_paused_seconds_total", "time spent paused",
			 "counter", paused_s, NULL);
	mqb_metrics_emit(e, "mqbridge_ingest_pending_records",
			 "records received and not yet appended to the store", "gauge",
			 (double)s.pending, NULL);
}
