/*
 * store_metrics.h — the store collector: per stream-partition watermarks (log start,
 * stored = log end, durable), size on disk, segment count, append and fsync counters
 * (mqbridge_log_*), the fsync latency histogram (mqbridge_fsync_duration_seconds, fed
 * by mqb_store_set_fsync_cb) and the "streams" section of /stats:
 *   "streams": { "<name>": { "partitions": [ { "partition": 0, "log_start_offset": ..,
 *       "log_end_offset": .., "durable_offset": .., "size_bytes": .., "segments": ..,
 *       "records_appended": .., "bytes_appended": .., "append_errors": ..,
 *       "fsyncs": .., "fsync_seconds_total": .., "corrupt_batches": ..,
 *       "corrupt": null | { "file", "byte", "first_offset", "last_offset_at_most",
 *                           "first_seen_ms", "reason", "found_by" } } ] } }
 * plus mqbridge_store_corrupt_batches_total / mqbridge_partition_corrupt per partition and
 * the scrub's mqbridge_scrub_{passes,bytes,corrupt_batches}_total.
 *
 * The store is borrowed: it must outlive the HTTP endpoint (stop the endpoint first).
 * Call after the streams are opened and before appends start (the fsync callback).
 * Reading watermarks and counters takes no lock ingest waits on (store.h: atomics).
 */
#ifndef MQB_STORE_METRICS_H
#define MQB_STORE_METRICS_H

#include "bridge/stats/metrics.h"
#include "bridge/store/store.h"

/* Register the collector, the JSON section and the fsync callback. MQB_OK or
 * MQB_ERR_INVAL (NULL arguments) / MQB_ERR_NOMEM. */
int mqb_store_metrics_add(mqb_metrics_t *reg, mqb_store_t *st);

/* A /readyz check (mqb_ready_fn, http.h; arg = the store): 0 with a reason naming the
 * partition, file, byte and the repair command while any partition is corrupt
 * (store.h, mqb_partition_corrupt_info), else 1. Runs in the HTTP thread. */
int mqb_store_ready_check(char *why, size_t why_size, void *arg);

#endif
