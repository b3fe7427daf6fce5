/*
 * kafka_forwarder.h — store-and-forward from the segment store to a Kafka cluster.
 *
 * For each kafka.forward entry (stream -> topic) and each partition of the stream, a
 * cursor (the next local offset to forward) is kept. The forwarder thread reads the
 * local partition from the cursor (up to the *durable* watermark), produces each
 * record to the same partition number of the topic (key, value, timestamp and headers
 * kept), and advances the cursor only over a contiguous run of successful delivery
 * reports. Cursors and offset-sync pairs (fwd_sync.h) live in a statefile journal
 * (fwd_state.h), so a restart resumes from the last persisted cursor
 * (at-least-once across a crash; no duplicates while the process lives, thanks to the
 * idempotent producer). See docs/KAFKA.md.
 *
 * Threads: one forwarder thread owns the producer and all partition state; new creates
 * it (it reserves its malloc arena, then waits), start lets it produce, stop or
 * destroy joins it, started or not. The query
 * functions (translate, status, JSON/metrics callbacks) may be called from any thread:
 * they read atomics or copy under a brief lock.
 *
 * Ownership: mqb_kafka_fwd_new() borrows cfg, store and metrics (they must outlive the
 * forwarder) and returns a forwarder the caller frees with mqb_kafka_fwd_destroy().
 * Metrics series of an entry a reload removed stay at their last value.
 * The registry has no way to remove a collector: stop the HTTP endpoint (and render
 * nothing from metrics) before destroying the forwarder, or use a fresh registry
 * for a new forwarder.
 */
#ifndef MQB_KAFKA_FORWARDER_H
#define MQB_KAFKA_FORWARDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge/config.h"
#include "bridge/stats/metrics.h"
#include "bridge/store/store.h"

typedef struct mqb_kafka_fwd mqb_kafka_fwd_t;

/* State of one forward entry (stream -> topic). */
enum mqb_kafka_stream_state {
	MQB_KAFKA_STREAM_UNCHECKED = 0,  /* waiting for the topic's metadata */
	MQB_KAFKA_STREAM_FORWARDING = 1,
	MQB_KAFKA_STREAM_REFUSED = 2,    /* topic has fewer partitions than the stream */
};

/*
 * Build a forwarder for cfg->kafka (cfg->kafka.enabled must be true). Every forwarded
 * stream must already be open in store. state_dir: where the journal lives (NULL:
 * <cfg->data_dir>/.kafka, created if missing). metrics may be NULL. Fails (NULL +
 * errstr) on a configuration librdkafka refuses, a corrupt state journal, or a
 * stream that is not open. The producer is created (and connects) here; nothing is
 * produced before mqb_kafka_fwd_start().
 */
mqb_kafka_fwd_t *mqb_kafka_fwd_new(const mqb_config_t *cfg, mqb_store_t *store,
				   mqb_metrics_t *metrics, const char *state_dir,
				   char *errstr, size_t errstr_size);
/*
 * Follow new_cfg's kafka.forward entries (SIGHUP reload; kafka_forwarder_reload.c):
 * entries matched by (stream, topic) stay; an old and a new entry of the same stream
 * left over are a topic change (the cursor stays, only the destination changes:
 * nothing resent, nothing skipped); others are removed (cursor journaled and kept for
 * a later re-add, retention hold released) or added (cursor as at start); partitions
 * a reload added to a forwarded stream are forwarded from their start. Every other
 * kafka key must be unchanged (the daemon classes them as restart keys). Applied by
 * the forwarder thread between produce rounds (directly when it is not running);
 * waits up to timeout_ms for it to take the request. Nothing of new_cfg is borrowed.
 * MQB_OK; MQB_ERR_AGAIN (records of a removed or changed entry still undelivered
 * after 5 s, or the thread did not answer) or MQB_ERR_CONFIG / MQB_ERR_NOMEM with why:
 * the entries are unchanged.
 */
int mqb_kafka_fwd_reload(mqb_kafka_fwd_t *f, const mqb_config_t *new_cfg, int timeout_ms,
			 char *why, size_t why_size);
/* Let the forwarder thread produce. MQB_OK, MQB_ERR_STATE if already started or
 * stopped. */
int mqb_kafka_fwd_start(mqb_kafka_fwd_t *f);
/* Stop producing, wait up to flush_ms for outstanding deliveries, persist cursors,
 * join the thread. Idempotent. */
void mqb_kafka_fwd_stop(mqb_kafka_fwd_t *f, int flush_ms);
void mqb_kafka_fwd_destroy(mqb_kafka_fwd_t *f);  /* stops first; NULL-safe */

/*
 * Translate a local position (stream, partition, offset: the next record a consumer
 * would read) to the Kafka offset to continue from in topic (NULL: the stream's first
 * forward entry). *topic_out (may be NULL) gets the topic (owned by the forwarder).
 * MQB_OK; MQB_ERR_NOTFOUND (stream not forwarded, no such partition, or no sync pair
 * yet); MQB_ERR_RANGE (older than the oldest sync pair); MQB_ERR_INVAL (offset < 0).
 */
int mqb_kafka_fwd_translate(mqb_kafka_fwd_t *f, const char *stream, const char *topic,
			    int32_t partition, int64_t offset, int64_t *kafka_offset,
			    const char **topic_out);

typedef struct mqb_kafka_part_status {
	int state;                  /* enum mqb_kafka_stream_state of the entry */
	int64_t cursor;             /* every local offset below this is delivered */
	int64_t produced;           /* next local offset to hand to librdkafka */
	int64_t inflight;           /* produced, no delivery report yet */
	int64_t stored, durable, log_start;  /* the local partition's watermarks */
	uint64_t forwarded;         /* records delivered since start */
	uint64_t lost;              /* deleted by retention before they were forwarded */
	uint64_t delivery_errors;   /* failed delivery reports */
} mqb_kafka_part_status_t;

/* Status of (stream, topic (NULL: first entry), partition). MQB_ERR_NOTFOUND. */
int mqb_kafka_fwd_status(mqb_kafka_fwd_t *f, const char *stream, const char *topic,
			 int32_t partition, mqb_kafka_part_status_t *out);

/* true while at least one Kafka broker connection is up (from librdkafka stats). */
bool mqb_kafka_fwd_connected(mqb_kafka_fwd_t *f);
/* The configuration the forwarder was built from (borrowed). */
const mqb_config_t *mqb_kafka_fwd_config(mqb_kafka_fwd_t *f);

/* Times the producer was recreated after a fatal error. */
uint64_t mqb_kafka_fwd_restarts(mqb_kafka_fwd_t *f);

/* Tests: raise a librdkafka fatal error (rd_kafka_test_fatal_error) on the producer. */
int mqb_kafka_fwd_test_fatal(mqb_kafka_fwd_t *f);

#endif
