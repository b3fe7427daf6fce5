/*
 * mosq_ingest.h — the ingest source inside a Mosquitto 2.0 broker (plugin mode, see
 * docs/INGEST.md "Plugin mode"): the broker's MOSQ_EVT_MESSAGE callback routes, keys,
 * partitions and appends each PUBLISH on a routed topic to the store through the
 * pipeline (bridge/ingest/pipeline.h) before it returns, so the PUBACK / PUBREC the
 * broker sends afterwards means "stored". One record per callback: submit + end_burst;
 * the append never waits for fsync (group commit stays on the store's flusher).
 *
 * What the callback returns (the broker's reaction: mosquitto 2.0.11 handle__publish):
 *   - topic matches no route: MOSQ_ERR_SUCCESS, stored nothing (a normal broker message);
 *   - stored: MOSQ_ERR_SUCCESS (the broker answers PUBACK / PUBREC);
 *   - never storable (payload over the limit, key template cannot be filled):
 *     MOSQ_ERR_ACL_DENIED: the broker answers with reason 0x87 (MQTT 5 sees it, 3.1.1
 *     reads success) and does not deliver the message;
 *   - temporarily not storable (store full, I/O error, a store retry pending, out of
 *     memory): QoS 1/2 -> MOSQ_ERR_UNKNOWN: the broker drops the connection without an
 *     acknowledgement (MQTT 5 gets DISCONNECT 0x80 first) and the publisher resends after
 *     reconnecting; QoS 0 -> MOSQ_ERR_ACL_DENIED (dropped, counted: nothing to resend).
 * Every refusal is counted: mqbridge_plugin_refused_total{reason,outcome}.
 *
 * Threads: every call except the metrics/JSON collectors runs on the broker's thread
 * (plugin init/cleanup and the event callbacks); the collectors run on the stats
 * thread and read atomics only.
 * Ownership: opts->cfg, store and metrics are borrowed and must outlive the ingest;
 * destroy() unregisters the callbacks, stores what is pending (up to flush_timeout_ms)
 * and frees. NULL-safe.
 */
#ifndef MQB_MOSQ_INGEST_H
#define MQB_MOSQ_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "bridge/config.h"
#include "bridge/stats/metrics.h"
#include "bridge/store/store.h"

typedef struct mqb_mosq_ingest mqb_mosq_ingest_t;

typedef struct mqb_mosq_ingest_opts {
	void *plugin_id;             /* the mosquitto_plugin_id_t * given to plugin_init */
	const mqb_config_t *cfg;     /* streams and routes */
	mqb_store_t *store;          /* every stream of cfg open */
	mqb_metrics_t *metrics;      /* may be NULL */
	int64_t max_record_bytes;   /* larger payloads are refused (<= 0: 1 MiB) */
} mqb_mosq_ingest_opts_t;

/* Build the pipeline and register MOSQ_EVT_MESSAGE and MOSQ_EVT_TICK. NULL + errstr. */
mqb_mosq_ingest_t *mqb_mosq_ingest_new(const mqb_mosq_ingest_opts_t *opts, char *errstr,
				       size_t errstr_size);

/* Unregister the callbacks, append what is pending (retrying up to flush_timeout_ms),
 * free. Broker thread (plugin cleanup). NULL-safe. Returns the pipeline flush result. */
int mqb_mosq_ingest_destroy(mqb_mosq_ingest_t *ing, int flush_timeout_ms);

/* 1 while appends succeed (no store retry pending), else 0 with why. Any thread. */
int mqb_mosq_ingest_ready(void *ing, char *why, size_t why_size);

/* The broker's thread turned within stall_ms (MOSQ_EVT_TICK seen). Any thread. */
int mqb_mosq_ingest_alive(void *ing, int64_t stall_ms, char *why, size_t why_size);

#endif
