/*
 * mqtt_source.h — the MQTT client as an ingest source: every message that matches a
 * route becomes a record in the segment store (docs/INGEST.md).
 *
 * One thread owns one MQTT session (session.h): it subscribes to every distinct route
 * filter (one MQTT 5 subscription identifier per filter), turns each received
 * mqb_mqtt_msg_t into a pipeline message (record headers mqtt.topic, mqtt.qos,
 * mqtt.retain, the MQTT 5 properties and user properties) and hands it to the
 * protocol-free pipeline (bridge/ingest/pipeline.h), which routes, keys, partitions,
 * batches and appends. What only MQTT knows stays here: the copies an overlapping
 * subscription delivers twice are skipped by subscription identifier; the pipeline's
 * back-pressure pauses reading the socket; the loss window (libmosquitto has
 * acknowledged a QoS 1/2 message before we see it) is measured from the first
 * message of a burst to the append that stores it. The mqtt.max_message_bytes limit
 * is the pipeline's max_record_bytes (the whole record: topic header, key, payload,
 * properties); a message over it was acknowledged already, so it is counted as lost
 * (mqbridge_ingest_lost_total{reason="oversize"}). In MQTT 5 CONNECT announces a
 * Maximum Packet Size of mqb_mqtt_source_max_packet_size(): the broker drops larger
 * messages for us instead of sending them (docs/INGEST.md).
 *
 * Threads: new/start/stop/destroy/reload from one controlling thread; stats, ready and
 * alive from any thread; everything else runs in the source's own thread.
 *
 * Ownership: new() borrows cfg, store and metrics (they must outlive the source); it
 * owns its session and pipeline. destroy() is NULL-safe and stops first.
 */
#ifndef MQB_MQTT_SOURCE_H
#define MQB_MQTT_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge/config.h"
#include "bridge/ingest/pipeline.h"
#include "bridge/stats/metrics.h"
#include "bridge/store/store.h"
#include "connectors/mqtt/session.h"

typedef struct mqb_mqtt_source mqb_mqtt_source_t;

typedef struct mqb_mqtt_source_stats {
	mqb_pipeline_stats_t pipe;   /* received, stored, rejected, back-pressure, ... */
	uint64_t duplicates;         /* extra copies from overlapping subscriptions, skipped */
	/* The loss window: per append, the age of its oldest record (libmosquitto had
	 * acknowledged it when the pipeline took it) when the append returned: max, sum
	 * and count of appends; and the most records that were ever acknowledged but not
	 * yet stored at once. */
	uint64_t window_max_us, window_sum_us, window_count, window_max_records;
	mqb_mqtt_session_stats_t mqtt;
} mqb_mqtt_source_stats_t;

/* The MQTT 5 Maximum Packet Size the source announces: mc->max_message_bytes + 64 KiB
 * of room for MQTT framing (SRC_PACKET_ROOM), capped at MQTT's largest packet. */
uint32_t mqb_mqtt_source_max_packet_size(const mqb_mqtt_conf_t *mc);

/* Build the source for cfg's routes (streams must already be open in store).
 * NULL + errstr on failure. */
mqb_mqtt_source_t *mqb_mqtt_source_new(const mqb_config_t *cfg, mqb_store_t *store,
				       mqb_metrics_t *metrics, char *errstr,
				       size_t errstr_size);

/* Start the source's thread (connects, subscribes, ingests). */
int mqb_mqtt_source_start(mqb_mqtt_source_t *src);

/* Stop reading, append every pending batch (retrying store errors for up to
 * flush_timeout_ms), send DISCONNECT (the broker keeps the session and queues what
 * comes next) and join the thread. Idempotent. Returns MQB_OK, or MQB_ERR_IO when
 * pending records could not be stored before the timeout (they are logged as lost and
 * counted in mqbridge_ingest_lost_total{reason="shutdown"}; the daemon then exits 3). */
int mqb_mqtt_source_stop(mqb_mqtt_source_t *src, int flush_timeout_ms);

void mqb_mqtt_source_destroy(mqb_mqtt_source_t *src);  /* NULL-safe; stops first */

/* 1 when the source's thread turned its loop within stall_ms, else 0 with why. */
int mqb_mqtt_source_alive(mqb_mqtt_source_t *src, int64_t stall_ms, char *why,
			  size_t why_size);

/* 1 when connected and every route's subscription is acknowledged; else 0 with why. */
int mqb_mqtt_source_ready(mqb_mqtt_source_t *src, char *why, size_t why_size);

/* Reload (controlling thread): switch the routes to new_cfg's (its streams already
 * open in the store). The new router and tables are built here; the source's thread
 * swaps them in between two bursts, then subscribes to the new filters (a QoS change
 * subscribes again, keeping the filter's subscription identifier) and unsubscribes
 * the filters no route uses any more. Waits up to timeout_ms for the swap: MQB_OK
 * when the source now uses new_cfg (the caller may free the previous configuration
 * it gave), else an error with why and the source still on its previous one. Other
 * mqtt keys (connection, TLS, limits) are not reloaded: the daemon refuses a reload
 * that changes them. */
int mqb_mqtt_source_reload(mqb_mqtt_source_t *src, const mqb_config_t *new_cfg,
			   int timeout_ms, char *why, size_t why_size);

/* Snapshot of the counters. Any thread. */
void mqb_mqtt_source_stats(mqb_mqtt_source_t *src, mqb_mqtt_source_stats_t *out);

#endif
