/*
 * ingest_int.h — private to connectors/mqtt/ingest*.c: the ingest's state and the
 * helpers its files share (ingest.c: routing, thread, construction; ingest_batch.c:
 * pending batches and appends; ingest_stats.c: counters, metrics, readiness).
 */
#ifndef MQB_INGEST_INT_H
#define MQB_INGEST_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "bridge/ingest/keytmpl.h"
#include "bridge/ingest/partitioner.h"
#include "bridge/ingest/router.h"
#include "connectors/mqtt/ingest.h"

#define ING_MOD "ingest"
#define ING_KEY_MAX 4096              /* longest rendered key */
#define ING_BATCH_BYTES_MAX (1 << 20) /* flush a partition's batch at this size */
#define ING_BATCH_RECS_MAX 10000
#define ING_BURST_LINGER_US 500      /* fewer, larger batches under load */
#define ING_BURST_QOS0 1000          /* messages per all-QoS 0 burst */
#define ING_RETRY_MIN_MS 50
#define ING_RETRY_MAX_MS 1000

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

struct ing_part {
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
	bool dirty;
};

struct ing_stream {
	const char *name;
	int32_t nparts;
	struct ing_part *parts;
	mqb_sticky_t sticky;
	bool keyless_used;
	size_t flush_bytes;
	mqb_counter_t *m_stored, *m_bytes;
};

struct ing_route {
	int stream;
	uint32_t sub_id;                 /* subscription identifier of this route's filter */
	const mqb_keytmpl_t *kt;
	mqb_counter_t *m_received;
};

struct mqb_ingest {
	const mqb_config_t *cfg;
	mqb_store_t *store;
	mqb_metrics_t *metrics;
	mqb_router_t *router;
	mqb_mqtt_session_t *session;
	struct ing_route *routes;
	size_t nroutes;
	struct ing_stream *streams;
	size_t nstreams;
	struct ing_part **dirty;         /* partitions with pending records */
	size_t ndirty, dirty_cap;
	mqb_record_t *out;               /* scratch for appends */
	mqb_rec_header_t *outh;
	size_t out_cap, outh_cap;
	int64_t max_message_bytes;
	mqb_ingest_stored_fn *stored_cb;
	void *stored_arg;

	/* loss window: from reading (and so acknowledging) the first message of a burst
	 * to the append that stores it */
	int64_t window_start_us;
	_Atomic uint64_t window_max_us, window_sum_us, window_count, window_max_records;

	/* back-pressure */
	bool blocked;
	int64_t retry_at_ms, retry_ms;
	_Atomic int64_t paused_since_ms;   /* read by the stats collector */

	pthread_t thread;
	bool thread_started;
	atomic_bool stop;
	atomic_bool stopped;
	int stop_timeout_ms;
	int stop_rc;

	/* counters (atomics: read by the stats thread) */
	_Atomic uint64_t received, stored, stored_bytes, batches, no_route, too_large,
		key_template, store_error, duplicates, store_retries, pending, paused_ms;
	atomic_bool paused, subscribed, connected;
	_Atomic int64_t last_turn_ms;    /* monotonic: the thread's last loop turn */
	mqb_counter_t *m_rej_no_route, *m_rej_too_large, *m_rej_key, *m_rej_store;
};

/* grow *p (elements of elem bytes) to hold need; 0 or -1 (out of memory) */
int mqb_ingest__grow(void **p, size_t *cap, size_t need, size_t elem);
/* add one message to pt's pending batch (rolled back on failure) */
int mqb_ingest__part_add(struct ing_part *pt, const mqb_mqtt_msg_t *m, const char *key,
			 ssize_t key_len);
/* append pt's pending records; MQB_OK when all are stored */
int mqb_ingest__part_flush(mqb_ingest_t *ing, struct ing_part *pt);
/* append every dirty partition; on failure pause reading and schedule the retry */
int mqb_ingest__flush_all(mqb_ingest_t *ing);
void mqb_ingest__mark_dirty(mqb_ingest_t *ing, struct ing_part *pt);
void mqb_ingest__set_paused(mqb_ingest_t *ing, bool on);
/* metrics collector and /stats section (HTTP thread) */
void mqb_ingest__collect(mqb_metrics_emit_t *e, void *arg);
void mqb_ingest__json(cJSON *o, void *arg);

#endif
