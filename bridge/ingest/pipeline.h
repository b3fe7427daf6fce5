/*
 * pipeline.h — the ingest pipeline: a message from any source becomes a record in the
 * segment store. Protocol-free: the MQTT client (connectors/mqtt/mqtt_source.c) uses
 * it today; a broker plugin, AMQP or a Kafka Produce handler call it the same way.
 * Semantics: docs/INGEST.md.
 *
 * Per message (mqb_pipeline_submit): route (first matching route wins; none:
 * rejected "no_route") -> key template ("key_template" when it cannot be filled) ->
 * partition (murmur2 of the key; the stream's sticky partition when keyless) -> size
 * check of the whole record as the batch codec writes it (key + value + headers,
 * mqb_batch_record_size()): over opts.max_record_bytes, or too large for a batch of
 * its stream alone (max_batch_bytes - MQB_BATCH_HDR_SIZE), it is rejected "too_large"
 * -> copied into that partition's pending batch. So every accepted record fits a
 * batch: none is dropped later for its size. mqb_pipeline_end_burst() appends every partition's
 * pending batch with one mqb_partition_append() (one burst, one partition = one
 * RecordBatch); a batch that reaches its size limit is appended at once.
 *
 * Linger (opts.linger_ms > 0; client mode only, docs/INGEST.md "Linger"): end_burst
 * leaves a partition's batch open across bursts while it is small (under
 * opts.linger_bytes) and its oldest record is younger than linger_ms (a batch due
 * within a quarter of linger_ms goes with the others due then, so passes are few);
 * only when the partition's previous batch opened less than linger_ms before (or it
 * had none), so a partition too sparse to gain from it appends at the burst end;
 * mqb_pipeline_tick() appends the batches whose time is up and says how long the
 * source may wait for the next one (no timer while nothing lingers). Stop
 * (mqb_pipeline_flush), mqb_pipeline_flush_now() (before a reload) and the store
 * retry append lingering batches too. With linger_ms = 0 (the default, and the broker
 * plugin: its acknowledgement means stored) nothing is left open after end_burst.
 *
 * Back-pressure: a store error (MQB_ERR_NOSPC, MQB_ERR_IO, ...) keeps the pending
 * records, calls opts.pause(arg, true) (the source must stop reading: submit keeps
 * accepting what is already on its way) and schedules a retry with backoff (50 ms
 * doubling to 1 s) that mqb_pipeline_tick() runs; once an append succeeds again it
 * calls opts.pause(arg, false). Nothing is dropped here.
 *
 * Threads: single-threaded. Every call except mqb_pipeline_stats(),
 * mqb_pipeline_pending() and mqb_pipeline_collect() must come from one thread (the
 * source's); the pause and on_stored callbacks run inside those calls on that
 * thread. mqb_pipeline_stats() and the metrics collector may run in any thread.
 *
 * Ownership: new() borrows opts.cfg, opts.store and opts.metrics (they must outlive
 * the pipeline); the partitions it appends to are the store's. A submitted message
 * (topic, payload, headers) is copied before submit returns: the source keeps its
 * buffers. Records handed to on_stored are valid only during the call. destroy() is
 * NULL-safe and does not flush (call mqb_pipeline_flush() first).
 */
#ifndef MQB_PIPELINE_H
#define MQB_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bridge/config.h"
#include "bridge/stats/metrics.h"
#include "bridge/store/store.h"

typedef struct mqb_pipeline mqb_pipeline_t;

/* Called after each successful append with the records just stored. */
typedef void (mqb_pipeline_stored_fn)(void *arg, const mqb_record_t *recs, size_t n);

typedef struct mqb_pipeline_opts {
	const mqb_config_t *cfg;     /* streams and routes (route i = cfg->routes[i]) */
	mqb_store_t *store;          /* every stream of cfg already open */
	mqb_metrics_t *metrics;      /* NULL: no metrics */
	/* larger records (mqb_batch_record_size: key + value + headers) are rejected
	 * (<= 0: 1 MiB) */
	int64_t max_record_bytes;
	/* true: the source acknowledged each message before submitting it (MQTT client
	 * mode), so a record rejected for its size is also counted as lost
	 * (mqbridge_ingest_lost_total{reason="oversize"}) */
	bool acked_before_submit;
	/* on true the source stops reading new messages, on false it reads again;
	 * may be NULL (then submit simply keeps buffering) */
	void (*pause)(void *arg, bool on);
	mqb_pipeline_stored_fn *on_stored;   /* may be NULL */
	void *arg;                   /* for pause and on_stored */
	/* keep small batches open across bursts for at most this long (ms; 0: never,
	 * every end_burst appends everything) and while under linger_bytes (0: 16 KiB) */
	int linger_ms;
	size_t linger_bytes;
} mqb_pipeline_opts_t;

/* A message from a source. Pointers are borrowed for the duration of submit. */
typedef struct mqb_pipeline_msg {
	const char *topic;           /* routing name, NUL-terminated (MQTT: the topic) */
	const void *payload;         /* the record value, bytes as received */
	size_t payload_len;
	/* record headers in order, already converted by the source (the MQTT source
	 * puts mqtt.topic first, then QoS, retain and the MQTT 5 properties) */
	const mqb_rec_header_t *headers;
	size_t header_count;
	int64_t timestamp_ms;        /* arrival time, wall clock: the record timestamp */
	int route;                   /* index from mqb_pipeline_route(); -1: submit routes */
} mqb_pipeline_msg_t;

/* What submit returns besides MQB_OK (positive, so never an mqb_err). */
enum mqb_pipeline_reject {
	MQB_PIPELINE_NO_ROUTE = 1,   /* no route matches the topic */
	MQB_PIPELINE_TOO_LARGE,      /* record over max_record_bytes or a batch */
	MQB_PIPELINE_KEY_TEMPLATE,   /* the route's key template cannot be filled */
	MQB_PIPELINE_STORE_ERROR,    /* out of memory buffering it: lost */
};

typedef struct mqb_pipeline_stats {
	uint64_t received;           /* messages that matched a route */
	uint64_t stored;             /* records appended */
	uint64_t stored_bytes;       /* payload bytes of those records */
	uint64_t batches;            /* successful appends */
	uint64_t no_route, too_large, key_template, store_error;  /* rejected, by reason */
	uint64_t store_retries;      /* appends that failed and were retried */
	/* acknowledged records not stored: rejected for size with acked_before_submit
	 * (or, never expected, refused by the store for size after acceptance), and held
	 * records a stop could not store within its timeout */
	uint64_t lost_oversize, lost_shutdown;
	uint64_t pending;            /* records waiting in memory for the store */
	/* age of the oldest record of each append when it returned (append - submit):
	 * the time an acknowledged record waits unstored (the loss window) */
	uint64_t age_max_us, age_sum_us, age_count;
	bool paused;                 /* source paused by back-pressure */
	uint64_t paused_ms_total;
} mqb_pipeline_stats_t;

/* Build the pipeline for cfg's routes and streams. NULL + errstr on failure. */
mqb_pipeline_t *mqb_pipeline_new(const mqb_pipeline_opts_t *opts, char *errstr,
				 size_t errstr_size);
void mqb_pipeline_destroy(mqb_pipeline_t *p);   /* NULL-safe; drops what is pending */

/* Index of the first route matching topic, or -1. Counts nothing: a source that must
 * look at the route before submitting (the MQTT source's duplicate check) calls this
 * and passes the index in msg->route. */
int mqb_pipeline_route(const mqb_pipeline_t *p, const char *topic);

/*
 * Take one message: MQB_OK when it joined its partition's pending batch (it is
 * stored by the next end_burst, or earlier), else an mqb_pipeline_reject reason
 * (counted in the stats and metrics, logged rate-limited). A message accepted while
 * the store refuses appends waits with the others.
 */
int mqb_pipeline_submit(mqb_pipeline_t *p, const mqb_pipeline_msg_t *msg);

/* The source read everything it had for now: append every pending batch (unless a
 * retry is scheduled), except batches allowed to linger (opts.linger_ms). MQB_OK when
 * every batch that was due is stored (without linger: nothing is pending any more),
 * MQB_ERR_AGAIN while a retry is scheduled, else the store's error. */
int mqb_pipeline_end_burst(mqb_pipeline_t *p);

/* Append every pending batch now, lingering ones included (before a reload). As
 * end_burst without linger. */
int mqb_pipeline_flush_now(mqb_pipeline_t *p);

/* Run a due retry, or append the lingering batches whose time is up. now_ms:
 * mqb_mono_ms(). Returns -1 when neither a retry nor a lingering batch is waiting,
 * else the ms until the next is due (0: now); the source waits at most that long. */
int64_t mqb_pipeline_tick(mqb_pipeline_t *p, int64_t now_ms);

/* At stop (the source no longer reads): append everything pending, retrying store
 * errors (50 ms apart) for up to timeout_ms. MQB_OK, or MQB_ERR_IO when records could
 * not be stored before the timeout: they are dropped (nothing in the process can hold
 * them any longer), logged as LOST at ERROR with their count and counted in
 * lost_shutdown (mqbridge_ingest_lost_total{reason="shutdown"}); the source stays
 * paused. */
int mqb_pipeline_flush(mqb_pipeline_t *p, int timeout_ms);

/* Records accepted and not yet stored. Any thread. */
uint64_t mqb_pipeline_pending(const mqb_pipeline_t *p);

/* Snapshot of the counters. Any thread. */
void mqb_pipeline_stats(const mqb_pipeline_t *p, mqb_pipeline_stats_t *out);

/* Metrics collector (mqb_collector_fn, arg = the pipeline): the gauges
 * mqbridge_ingest_paused, mqbridge_ingest_paused_seconds_total and
 * mqbridge_ingest_pending_records. The source registers it (or calls it from its own
 * collector) so the families keep its order. */
void mqb_pipeline_collect(mqb_metrics_emit_t *e, void *arg);

/* The reason's name as used in metrics and /stats ("no_route", ...). */
const char *mqb_pipeline_reject_name(int reason);

#endif
