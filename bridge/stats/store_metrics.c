/* store_metrics.c — store watermarks, sizes and fsync figures for /metrics and /stats. */
#include "bridge/stats/store_metrics.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "bridge/err.h"

/* 100 us .. 10 s: local SSDs fsync in well under a millisecond, SD cards in seconds. */
static const double fsync_bounds[] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
				       0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };

static void on_fsync(mqb_partition_t *p, uint64_t fsync_us, void *arg)
{
	mqb_histogram_observe(arg, (double)fsync_us / 1e6);
}

/* One partition's figures, or their sums over a stream's partitions. */
typedef struct pfig {
	double log_start, stored, durable, size, segs, bytes, errors, fsyncs, fsync_s,
	       corrupt_batches, corrupt, index_rejected;
} pfig_t;

static void pfig_add(pfig_t *f, mqb_partition_t *p)
{
	mqb_watermarks_t w;
	mqb_partition_counters_t c;

	mqb_partition_watermarks(p, &w);
	mqb_partition_counters(p, &c);
	f->log_start += (double)w.log_start;
	f->stored += (double)w.stored;
	f->durable += (double)w.durable;
	f->size += (double)w.size_bytes;
	f->segs += w.segments;
	f->bytes += (double)c.bytes;
	f->errors += (double)c.append_errors;
	f->fsyncs += (double)c.fsyncs;
	f->fsync_s += (double)c.fsync_us_total / 1e6;
	f->corrupt_batches += (double)c.corrupt_batches;
	f->corrupt += mqb_partition_corrupt_info(p, NULL) ? 1 : 0;
	f->index_rejected += (double)c.index_rejected;
}

/* The store's series for one partition (pid) or, pid NULL, one stream's sums; the
 * label set is rendered once for the dozen samples. */
static void emit_fig(mqb_metrics_emit_t *e, const char *sn, const char *pid, const pfig_t *f)
{
	mqb_metrics_labels_t l;

	if (!mqb_metrics_labels(&l, "stream", sn, pid ? "partition" : NULL, pid, NULL))
		return;
#define G(name, help, v) mqb_metrics_emit_labels(e, name, help, "gauge", (v), &l)
#define C(name, help, v) mqb_metrics_emit_labels(e, name, help, "counter", (v), &l)
	G("mqbridge_log_start_offset", "First offset still on disk", f->log_start);
	G("mqbridge_log_end_offset", "Next offset to be written (stored watermark)", f->stored);
	G("mqbridge_log_durable_offset",
	  "Every offset below this is fsynced (durable watermark)", f->durable);
	G("mqbridge_log_size_bytes", "Bytes of .log segments on disk", f->size);
	G("mqbridge_log_segments", "Segment count", f->segs);
	C("mqbridge_log_appended_bytes_total", "Encoded batch bytes appended", f->bytes);
	C("mqbridge_log_append_errors_total", "Appends that failed", f->errors);
	C("mqbridge_log_fsyncs_total", "fsync calls", f->fsyncs);
	C("mqbridge_log_fsync_seconds_total", "Time spent in fsync", f->fsync_s);
	C("mqbridge_store_corrupt_batches_total", "Distinct corrupt batches found by "
	  "readers or the scrub (docs/OPERATIONS.md, Corruption)", f->corrupt_batches);
	G("mqbridge_partition_corrupt", "1 while the partition has a corrupt batch "
	  "readers cannot pass (until `mqbridge log repair`)", f->corrupt);
#undef G
#undef C
}

/* Per partition for a stream of at most MQB_JSON_DETAIL_MAX partitions or with
 * ?partitions=1; otherwise the same names labelled by stream only, holding the sums
 * over its partitions (offsets too: their rate is the stream's record rate), so
 * `sum by (stream)` reads the same in both shapes. */
static void collect(mqb_metrics_emit_t *e, void *arg)
{
	mqb_store_t *st = arg;
	const char *const *streams = mqb_store_streams(st);
	double index_rejected = 0;     /* store-wide: the log line names the segment */

	for (size_t s = 0; streams && streams[s]; s++) {
		int32_t n = mqb_store_partition_count(st, streams[s]);
		bool detail = mqb_metrics_json_detail(n > 0 ? (size_t)n : 0);
		pfig_t sum = { 0 };

		mqb_metrics_emit(e, "mqbridge_stream_partitions", "Partitions of the stream "
				 "(its mqbridge_log_* series are per partition up to 64, above "
				 "that sums unless /metrics?partitions=1)", "gauge", (double)n,
				 "stream", streams[s], NULL);
		for (int32_t i = 0; i < n; i++) {
			mqb_partition_t *p = mqb_store_partition(st, streams[s], i);
			char pid[16];
			pfig_t one = { 0 };

			if (!p)
				continue;
			if (!detail) {
				pfig_add(&sum, p);
				continue;
			}
			pfig_add(&one, p);
			index_rejected += one.index_rejected;
			snprintf(pid, sizeof(pid), "%d", i);
			emit_fig(e, streams[s], pid, &one);
		}
		if (!detail)
			emit_fig(e, streams[s], NULL, &sum);
		index_rejected += sum.index_rejected;
	}
	mqb_metrics_emit(e, "mqbridge_store_index_rejected_total", "Segments whose offset "
			 "index a reader found wrong (read from the segment start instead; "
			 "the index is rebuilt at the next open; the log names the segment)",
			 "counter", index_rejected, NULL);
	{
		mqb_store_stats_t fs;
		mqb_store_stats(st, &fs);
		mqb_metrics_emit(e, "mqbridge_store_flusher_wakeups_total", "Returns of the "
				 "store's flusher thread from its sleep (deadline-driven: near "
				 "zero when idle)", "counter", (double)fs.flusher_wakeups, NULL);
		mqb_metrics_emit(e, "mqbridge_store_flusher_passes_total", "Passes of the "
				 "flusher over every partition", "counter",
				 (double)fs.flusher_passes, NULL);
		mqb_metrics_emit(e, "mqbridge_store_flusher_syncfs_total", "syncfs calls the "
				 "flusher made in place of one fsync per partition (8 or more "
				 "partitions to flush at once)", "counter",
				 (double)fs.flusher_syncfs, NULL);
		mqb_metrics_emit(e, "mqbridge_store_flusher_syncfs_partitions_total",
				 "Partition flushes made durable by those syncfs calls (not in "
				 "mqbridge_log_fsyncs_total)", "counter",
				 (double)fs.flusher_syncfs_partitions, NULL);
		mqb_metrics_emit(e, "mqbridge_store_flusher_syncfs_errors_total", "Failed "
				 "syncfs calls (the partitions were then fsynced one by one)",
				 "counter", (double)fs.flusher_syncfs_fallbacks, NULL);
	}
	{
		mqb_scrub_stats_t ss;
		mqb_store_scrub_stats(st, &ss);
		mqb_metrics_emit(e, "mqbridge_scrub_passes_total", "Complete scrub passes over "
				 "every sealed segment", "counter", (double)ss.passes, NULL);
		mqb_metrics_emit(e, "mqbridge_scrub_bytes_total", "Bytes the scrub re-read",
				 "counter", (double)ss.bytes, NULL);
		mqb_metrics_emit(e, "mqbridge_scrub_corrupt_batches_total", "Corrupt batches "
				 "the scrub found", "counter", (double)ss.corrupt, NULL);
	}
}

/* "corrupt": null, or where the partition's readers stop (store.h). */
static void add_corrupt(cJSON *po, mqb_partition_t *p)
{
	mqb_corrupt_info_t ci;
	cJSON *co;

	if (!mqb_partition_corrupt_info(p, &ci)) {
		cJSON_AddNullToObject(po, "corrupt");
		return;
	}
	co = cJSON_AddObjectToObject(po, "corrupt");
	if (!co)
		return;
	cJSON_AddStringToObject(co, "file", ci.file);
	cJSON_AddNumberToObject(co, "byte", (double)ci.byte_pos);
	cJSON_AddNumberToObject(co, "first_offset", (double)ci.first_offset);
	cJSON_AddNumberToObject(co, "last_offset_at_most", (double)ci.last_offset);
	cJSON_AddNumberToObject(co, "first_seen_ms", (double)ci.first_seen_ms);
	cJSON_AddStringToObject(co, "reason", ci.why);
	cJSON_AddStringToObject(co, "found_by", ci.found_by);
}

/* One partition's object in "partitions" (only with detail, metrics.h). */
static void json_partition(cJSON *arr, mqb_partition_t *p, int32_t i,
			   const mqb_watermarks_t *w, const mqb_partition_counters_t *c)
{
	cJSON *po = cJSON_CreateObject();

	if (!po)
		return;
	cJSON_AddItemToArray(arr, po);
	cJSON_AddNumberToObject(po, "partition", i);
	cJSON_AddNumberToObject(po, "log_start_offset", (double)w->log_start);
	cJSON_AddNumberToObject(po, "log_end_offset", (double)w->stored);
	cJSON_AddNumberToObject(po, "durable_offset", (double)w->durable);
	cJSON_AddNumberToObject(po, "size_bytes", (double)w->size_bytes);
	cJSON_AddNumberToObject(po, "segments", w->segments);
	cJSON_AddNumberToObject(po, "records_appended", (double)c->records);
	cJSON_AddNumberToObject(po, "bytes_appended", (double)c->bytes);
	cJSON_AddNumberToObject(po, "append_errors", (double)c->append_errors);
	cJSON_AddNumberToObject(po, "fsyncs", (double)c->fsyncs);
	cJSON_AddNumberToObject(po, "fsync_seconds_total", (double)c->fsync_us_total / 1e6);
	cJSON_AddNumberToObject(po, "corrupt_batches", (double)c->corrupt_batches);
	add_corrupt(po, p);
}

/* Per stream: "partition_count", "totals" (sums over its partitions) and, with
 * detail, "partitions"; without, "partitions_omitted": true. */
static void json(cJSON *sec, void *arg)
{
	mqb_store_t *st = arg;
	const char *const *streams = mqb_store_streams(st);

	for (size_t s = 0; streams && streams[s]; s++) {
		int32_t n = mqb_store_partition_count(st, streams[s]);
		bool detail = mqb_metrics_json_detail(n > 0 ? (size_t)n : 0);
		cJSON *so = cJSON_AddObjectToObject(sec, streams[s]);
		cJSON *arr = so && detail ? cJSON_AddArrayToObject(so, "partitions") : NULL;
		double t_end = 0, t_rec = 0, t_nd = 0, t_size = 0, t_segs = 0, t_app = 0,
		       t_bytes = 0, t_err = 0, t_fs = 0, t_fss = 0, t_corrupt = 0, t_cparts = 0;
		cJSON *to;

		if (!so || (detail && !arr))
			return;
		for (int32_t i = 0; i < n; i++) {
			mqb_partition_t *p = mqb_store_partition(st, streams[s], i);
			mqb_watermarks_t w;
			mqb_partition_counters_t c;

			if (!p)
				continue;
			mqb_partition_watermarks(p, &w);
			mqb_partition_counters(p, &c);
			t_end += (double)w.stored;
			t_rec += (double)(w.stored - w.log_start);
			t_nd += (double)(w.stored - w.durable);
			t_size += (double)w.size_bytes;
			t_segs += w.segments;
			t_app += (double)c.records;
			t_bytes += (double)c.bytes;
			t_err += (double)c.append_errors;
			t_fs += (double)c.fsyncs;
			t_fss += (double)c.fsync_us_total / 1e6;
			t_corrupt += (double)c.corrupt_batches;
			t_cparts += mqb_partition_corrupt_info(p, NULL) ? 1 : 0;
			if (arr)
				json_partition(arr, p, i, &w, &c);
		}
		cJSON_AddNumberToObject(so, "partition_count", n);
		if (!detail)
			cJSON_AddBoolToObject(so, "partitions_omitted", true);
		to = cJSON_AddObjectToObject(so, "totals");
		if (!to)
			return;
		cJSON_AddNumberToObject(to, "log_end_offset_sum", t_end);
		cJSON_AddNumberToObject(to, "records", t_rec);
		cJSON_AddNumberToObject(to, "not_durable", t_nd);
		cJSON_AddNumberToObject(to, "size_bytes", t_size);
		cJSON_AddNumberToObject(to, "segments", t_segs);
		cJSON_AddNumberToObject(to, "records_appended", t_app);
		cJSON_AddNumberToObject(to, "bytes_appended", t_bytes);
		cJSON_AddNumberToObject(to, "append_errors", t_err);
		cJSON_AddNumberToObject(to, "fsyncs", t_fs);
		cJSON_AddNumberToObject(to, "fsync_seconds_total", t_fss);
		cJSON_AddNumberToObject(to, "corrupt_batches", t_corrupt);
		cJSON_AddNumberToObject(to, "corrupt_partitions", t_cparts);
	}
}

int mqb_store_metrics_add(mqb_metrics_t *reg, mqb_store_t *st)
{
	mqb_histogram_t *h;

	if (!reg || !st)
		return MQB_ERR_INVAL;
	h = mqb_metrics_histogram(reg, "mqbridge_fsync_duration_seconds",
				  "Latency of each fsync of a partition's log (group commit)",
				  fsync_bounds, sizeof(fsync_bounds) / sizeof(fsync_bounds[0]),
				  NULL);
	if (!h)
		return MQB_ERR_NOMEM;
	mqb_store_set_fsync_cb(st, on_fsync, h);
	mqb_metrics_add_collector(reg, collect, st);
	mqb_metrics_add_json(reg, "streams", json, st);
	return MQB_OK;
}

int mqb_store_ready_check(char *why, size_t why_size, void *arg)
{
	mqb_partition_t *p;
	mqb_corrupt_info_t ci;
	const char *base;

	if (!mqb_store_corrupt_first(arg, &p, &ci))
		return 1;
	base = strrchr(ci.file, '/');
	snprintf(why, why_size, "partition %s-%d has a corrupt batch in %s at byte %lld "
		 "(offsets from %lld, %s): stop mqbridged and run mqbridge log repair DATA_DIR "
		 "--stream %s --partition %d --truncate or --skip", mqb_partition_stream(p),
		 mqb_partition_id(p), base ? base + 1 : ci.file, (long long)ci.byte_pos,
		 (long long)ci.first_offset, ci.why, mqb_partition_stream(p), mqb_partition_id(p));
	return 0;
}
