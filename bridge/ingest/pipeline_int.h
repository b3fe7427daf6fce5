/*
 * pipeline_int.h — private to bridge/ingest/pipeline*.c: the pipeline's state and the
 * helpers its files share (pipeline.c: the message path, construction;
 * pipeline_batch.c: pending batches, appends, back-pressure; pipeline_stats.c:
 * counters and metrics). Threads and ownership: pipeline.h.
 */
#ifndef MQB_PIPELINE_INT_H
#define MQB_PIPELINE_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bridge/ingest/keytmpl.h"
#include "bridge/ingest/partitioner.h"
#include "bridge/ingest/pipeline.h"
#include "bridge/ingest/router.h"

#define PL_MOD "ingest"
#define PL_KEY_MAX 4096              /* longest rendered key */
#define PL_BATCH_BYTES_MAX (1 << 20) /* append a partition's batch at this size */
#define PL_BATCH_RECS_MAX 10000
#define PL_RETRY_MIN_MS 50
#define PL_RETRY_MAX_MS 1000
#define PL_LINGER_BYTES 16384        /* a batch this large stops lingering */

/* Pending records keep offsets into their partition's arena (it may move). */
struct pend_rec {
	int64_t ts;
	size_t key_off;
	ssize_t key_len;
	size_t val_off, val_len;
	size_t hdr_first, hdr_count;
};

struct pend_hdr {
	size_t key_off, key_len, val_off;
	ssize_t val_len;
};

struct pl_part {
	mqb_partition_t *p;
	int stream;
	int32_t id;
	uint8_t *arena;
	size_t arena_len, arena_cap;
	struct pend_rec *recs;
	size_t nrec, rec_cap, first;     /* recs[first..nrec) are not stored yet */
	struct pend_hdr *hdrs;
	size_t nhdr, hdr_cap;
	size_t bytes;                    /* approximate encoded size */
	int64_t open_us;                 /* mqb_mono_us() of the oldest pending record */
	int64_t prev_open_us;            /* open_us of the batch before (0: none yet) */
	bool linger;                     /* this batch may linger (pipeline.h) */
	bool dirty;
};

struct pl_stream {
	const char *name;
	int32_t nparts;
	struct pl_part *parts;
	mqb_sticky_t sticky;
	bool keyless_used;
	size_t flush_bytes;
	size_t max_rec;                  /* largest record a batch of this stream holds alone */
	mqb_counter_t *m_stored, *m_bytes;
};

struct pl_route {
	int stream;
	const mqb_keytmpl_t *kt;
	mqb_counter_t *m_received;
};

struct mqb_pipeline {
	const mqb_config_t *cfg;
	mqb_store_t *store;
	mqb_metrics_t *metrics;
	mqb_router_t *router;
	struct pl_route *routes;
	size_t nroutes;
	struct pl_stream *streams;
	size_t nstreams;
	struct pl_part **dirty;          /* partitions with pending records */
	size_t ndirty, dirty_cap;
	mqb_record_t *out;               /* scratch for appends */
	mqb_rec_header_t *outh;
	size_t out_cap, outh_cap;
	int64_t max_record_bytes;
	bool acked_before_submit;
	void (*pause)(void *arg, bool on);
	mqb_pipeline_stored_fn *on_stored;
	void *arg;

	/* linger (pipeline.h): 0 = off */
	int64_t linger_us;
	size_t linger_bytes;
	int64_t linger_next_us;          /* earliest open_us + linger_us; 0: none lingers */
	bool linger_due;                 /* a batch must go at this burst end: one reached
					  * linger_bytes or opened without lingering */

	/* back-pressure */
	bool blocked;
	int64_t retry_at_ms, retry_ms;
	_Atomic int64_t paused_since_ms; /* read by the stats collector */

	/* counters (atomics: read by the stats thread) */
	_Atomic uint64_t received, stored, stored_bytes, batches, no_route, too_large,
		key_template, store_error, store_retries, pending, paused_ms, lost_oversize,
		lost_shutdown, age_max_us, age_sum_us, age_count;
	atomic_bool paused;
	mqb_counter_t *m_rej_no_route, *m_rej_too_large, *m_rej_key, *m_rej_store;
	mqb_counter_t *m_lost_oversize, *m_lost_shutdown;
};

/* grow *p (elements of elem bytes) to hold need; 0 or -1 (out of memory) */
int mqb_pipeline__grow(void **p, size_t *cap, size_t need, size_t elem);
/* add one message to pt's pending batch (rolled back on failure) */
int mqb_pipeline__part_add(struct pl_part *pt, const mqb_pipeline_msg_t *m, const char *key,
			   ssize_t key_len);
/* append pt's pending records; MQB_OK when all are stored */
int mqb_pipeline__part_flush(mqb_pipeline_t *p, struct pl_part *pt);
/* append every dirty partition (all) or those not allowed to linger; on failure
 * pause the source and schedule the retry */
int mqb_pipeline__flush_dirty(mqb_pipeline_t *p, bool all);
/* a record joined pt, which was empty: its batch opens now */
void mqb_pipeline__part_opened(mqb_pipeline_t *p, struct pl_part *pt);
void mqb_pipeline__mark_dirty(mqb_pipeline_t *p, struct pl_part *pt);
/* a record refused for its size (at submit or, never expected, by the store) */
void mqb_pipeline__count_too_large(mqb_pipeline_t *p);
/* the metrics instruments of new(): per stream, per route, rejections */
void mqb_pipeline__metrics_init(mqb_pipeline_t *p);

#endif
