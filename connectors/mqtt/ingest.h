/*
 * ingest.h — MQTT ingest: every message that matches a route becomes a record in the
 * segment store (see docs/INGEST.md for the semantics).
 *
 * One ingest thread owns one MQTT session (session.h). Per message: router match
 * (first route wins; no match: rejected "no_route") -> payload size check
 * (mqtt.max_message_bytes: "too_large") -> key template ("key_template" when it cannot
 * be filled) -> partition (murmur2 of the key, sticky when keyless) -> appended to that
 * partition's pending batch. At the end of every read burst each partition's pending
 * batch is appended with one mqb_partition_append() (one burst, one partition = one
 * RecordBatch), or earlier when a batch reaches its size limit.
 *
 * Back-pressure: a store error (MQB_ERR_NOSPC, MQB_ERR_IO, ...) keeps the pending
 * batch, pauses reading from the broker and retries with backoff; reading resumes
 * once the append succeeds. Nothing is dropped on our side.
 *
 * Ownership: new() borrows cfg, store and metrics (they must outlive the ingest); the
 * partitions it appends to are the store's. destroy() is NULL-safe and stops first.
 */
#ifndef MQB_INGEST_H
#define MQB_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge/config.h"
#include "bridge/stats/metrics.h"
#include "bridge/store/store.h"
#include "connectors/mqtt/session.h"

typedef struct mqb_ingest mqb_ingest_t;

typedef struct mqb_ingest_stats {
	uint64_t received;           /* messages that matched a route */
	uint64_t stored;             /* records appended */
	uint64_t stored_bytes;       /* payload bytes of those records */
	uint64_t batches;            /* successful appends */
	uint64_t no_route, too_large, key_template, store_error;  /* rejected, by reason */
	uint64_t duplicates;         /* extra copies from overlapping subscriptions, skipped */
	uint64_t store_retries;      /* appends that failed and were retried */
	uint64_t pending;            /* records waiting in memory for the store */
	bool paused;                 /* reading paused by back-pressure */
	uint64_t paused_ms_total;
	/* The loss window: time from reading the first message of a burst (libmosquitto
	 * has acknowledged it) to the append that stores it, and the most records that
	 * were ever acknowledged but not yet stored at once. */
	uint64_t window_max_us, window_sum_us, window_count, window_max_records;
	mqb_mqtt_session_stats_t mqtt;
} mqb_ingest_stats_t;

/* Build the ingest for cfg's routes (streams must already be open in store).
 * NULL + errstr on failure. */
mqb_ingest_t *mqb_ingest_new(const mqb_config_t *cfg, mqb_store_t *store,
			     mqb_metrics_t *metrics, char *errstr, size_t errstr_size);

/* Start the ingest thread (connects, subscribes, ingests). */
int mqb_ingest_start(mqb_ingest_t *ing);

/* Stop reading, append every pending batch (retrying store errors for up to
 * flush_timeout_ms), send DISCONNECT (the broker keeps the session and queues what
 * comes next) and join the thread. Idempotent. Returns MQB_OK, or MQB_ERR_IO when
 * pending records could not be stored before the timeout (they are logged as lost). */
int mqb_ingest_stop(mqb_ingest_t *ing, int flush_timeout_ms);

void mqb_ingest_destroy(mqb_ingest_t *ing);  /* NULL-safe; stops first */

/* 1 when the ingest thread turned its loop within stall_ms, else 0 with why. */
int mqb_ingest_alive(mqb_ingest_t *ing, int64_t stall_ms, char *why, size_t why_size);

/* 1 when connected and every route's subscription is acknowledged; else 0 with why. */
int mqb_ingest_ready(mqb_ingest_t *ing, char *why, size_t why_size);

/* For tests and benchmarks: called in the ingest thread after each successful
 * append with the records just stored (pointers valid during the call). Set before
 * mqb_ingest_start(). */
typedef void (mqb_ingest_stored_fn)(void *arg, const mqb_record_t *recs, size_t n);
void mqb_ingest_set_stored_cb(mqb_ingest_t *ing, mqb_ingest_stored_fn *fn, void *arg);

/* Snapshot of the counters. Any thread. */
void mqb_ingest_stats(mqb_ingest_t *ing, mqb_ingest_stats_t *out);

#endif
