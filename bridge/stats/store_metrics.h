/*
 * store_metrics.h — the store collector: per stream-partition watermarks (log start,
 * stored = log end, durable), size on disk, segment count, append and fsync counters
 * (mqbridge_log_*), the fsync latency histogram (mqbridge_fsync_duration_seconds, fed
 * by mqb_store_set_fsync_cb) and the "streams" section of /stats:
 *   "streams": { "<name>": { "partitions": [ { "partition": 0, "log_start_offset": ..,
 *       "log_end_offset": .., "durable_offset": .., "size_bytes": .., "segments": ..,
 *       "records_appended": .., "bytes_appended": .., "append_errors": ..,
 *       "fsyncs": .., "fsync_seconds_total": .. } ] } }
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

#endif
