/*
 * mqtt_source_int.h — private to connectors/mqtt/mqtt_source*.c: the MQTT source's
 * state (mqtt_source.c: messages, thread, construction; mqtt_source_stats.c:
 * counters, loss window, metrics, /stats, readiness). Threads: mqtt_source.h.
 */
#ifndef MQB_MQTT_SOURCE_INT_H
#define MQB_MQTT_SOURCE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "connectors/mqtt/mqtt_source.h"

#define SRC_MOD "ingest"
#define SRC_BURST_LINGER_US 500      /* fewer, larger batches under load */
#define SRC_BURST_QOS0 1000          /* messages per all-QoS 0 burst */
/* Maximum Packet Size = max_message_bytes + this. A PUBLISH carries what its record
 * does (topic, payload, properties) plus framing the record does not: fixed header,
 * lengths, packet id and per property 5 bytes where the record spends 2 or more, and
 * properties the record drops (subscription ids, expiry). 64 KiB covers that framing
 * up to ~20,000 user properties, so the broker only drops what we would refuse too. */
#define SRC_PACKET_ROOM 65536
#define SRC_FIXED_HDRS 6             /* mqtt.topic, qos, retain, three MQTT 5 properties */

struct mqb_mqtt_source {
	const mqb_config_t *cfg;
	mqb_pipeline_t *pipe;
	mqb_mqtt_session_t *session;
	uint32_t *sub_ids;               /* per route: its filter's subscription identifier */
	size_t nroutes;
	mqb_rec_header_t *hdrs;          /* scratch: one message's record headers */
	size_t hdr_cap;
	mqb_pipeline_stored_fn *test_stored;   /* mqtt_source_test.h */
	void *test_stored_arg;

	/* loss window: its duration is measured by the pipeline (mqb_pipeline_stats_t
	 * age_*); the most acknowledged records held unstored at once */
	_Atomic uint64_t window_max_records;

	pthread_t thread;
	bool thread_started;
	atomic_bool stop;
	atomic_bool stopped;
	int stop_timeout_ms;
	int stop_rc;

	_Atomic uint64_t duplicates;
	atomic_bool subscribed, connected;
	_Atomic int64_t last_turn_ms;    /* monotonic: the thread's last loop turn */

	/* configuration reload (mqtt_source_reload.c): the request the controlling
	 * thread posted, taken and applied by the source's thread between bursts */
	_Atomic(struct mqb_mqtt_source_reload *) reload_req;
	uint32_t next_sub_id;            /* controlling thread: next fresh identifier */
};

/* source thread, once per loop turn: apply a posted reload if nothing is pending */
void mqb_mqtt_source__reload_poll(mqb_mqtt_source_t *src);

/* a message was accepted: note how many records are held unstored */
void mqb_mqtt_source__window_note(mqb_mqtt_source_t *src);
/* metrics collector and /stats section (HTTP thread) */
void mqb_mqtt_source__collect(mqb_metrics_emit_t *e, void *arg);
void mqb_mqtt_source__json(cJSON *o, void *arg);

#endif
