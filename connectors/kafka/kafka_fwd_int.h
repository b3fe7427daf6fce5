/*
 * kafka_fwd_int.h — the forwarder's internal state, shared by kafka_forwarder.c (the
 * thread and the public API) and kafka_stats.c (metrics collector, /stats section).
 * Not for use outside connectors/kafka/.
 *
 * Threads and ownership: fields marked "forwarder thread only" are touched by the
 * forwarder thread alone; a_* atomics are published once per turn for other threads;
 * "under lock" fields are guarded by mqb_kafka_fwd.lock. Everything is owned by the
 * mqb_kafka_fwd_t and freed by mqb_kafka_fwd_destroy().
 *
 * Forward entries change at reload (kafka_forwarder_reload.c): the forwarder thread
 * alone changes the streams array, an entry's parts array and its names, holding
 * slock for writing; other threads (stats, translate, status) read them holding slock
 * for reading. A kstream never moves and is freed only at destroy (a removed one goes
 * to retired), so a late delivery report's opaque stays valid.
 */
#ifndef MQB_KAFKA_FWD_INT_H
#define MQB_KAFKA_FWD_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "bridge/store/statefile.h"
#include "connectors/kafka/kafka_conf.h"
#include "connectors/kafka/kafka_forwarder.h"
#include "bridge/forward/fwd_state.h"
#include "bridge/sbuf.h"
#include "bridge/forward/fwd_sync.h"
#include "bridge/forward/fwd_window.h"

#define MOD "kafka"
#define KF_WINDOW      65536         /* max produced-but-undelivered per partition */
#define KF_BUDGET      4096          /* records per partition per turn */
#define KF_MAX_CODES   64            /* distinct delivery error codes tracked */
#define KF_BACKOFF_MIN 100
#define KF_BACKOFF_MAX 30000
#define KF_ARENA_MAX   (32 << 20)    /* most the forwarder thread's arena reserves */

struct kstream;

struct kpart {
	struct kstream *ks;
	int32_t id;
	char id_str[16];
	mqb_partition_t *p;
	mqb_reader_t *r;
	/* forwarder thread only */
	mqb_fwd_window_t win;      /* win.cursor: delivered below; win.next: to produce */
	int64_t persisted;           /* cursor last written to the journal */
	int64_t inflight;
	bool failed;                 /* a delivery failed: rewind once inflight == 0 */
	bool reseek;                 /* reader must be repositioned at next */
	bool held;                   /* held_rec (at next) was refused with QUEUE_FULL: */
	mqb_record_t held_rec;       /* produce it before reading on (valid: r unused) */
	int64_t retry_at_ms, backoff_ms;
	uint64_t forwarded, forwarded_pub;  /* delivered; the part published to a_forwarded */
	mqb_fwd_syncs_t syncs;     /* under f->lock */
	/* readable from any thread */
	_Atomic int64_t a_cursor, a_next, a_inflight;
	_Atomic uint64_t a_forwarded, a_lost, a_errors;
	mqb_counter_t *m_lost, *m_forwarded;
};

struct kstream {
	struct mqb_kafka_fwd *f;
	char *stream, *topic;        /* owned; a replaced topic goes to f->garbage */
	int32_t nparts;
	struct kpart *parts;
	rd_kafka_topic_t *rkt;
	_Atomic int state;           /* enum mqb_kafka_stream_state */
	_Atomic int32_t kafka_parts; /* from metadata, -1 unknown */
	int64_t next_check_ms;
	char why[256];               /* under f->lock */
};

struct kcode {
	int code;
	_Atomic uint64_t n;
	mqb_counter_t *m;
};

struct mqb_kafka_fwd {
	const mqb_config_t *cfg;
	const mqb_kafka_conf_t *kc;  /* cfg's kafka section */
	mqb_store_t *st;
	mqb_metrics_t *metrics;
	char *journal_path;
	mqb_journal_t *journal;
	rd_kafka_conf_t *conf_tmpl;  /* dup'ed for each producer */
	rd_kafka_t *rk;
	struct kstream **streams;    /* the configured entries; see slock */
	size_t nstreams;
	pthread_rwlock_t slock;
	struct kstream **retired;    /* removed by a reload, freed at destroy */
	size_t nretired;
	char **garbage;              /* replaced topic names (translate hands them out) */
	size_t ngarbage;
	struct ksaved *saved;        /* cursors of entries not configured now (under lock) */
	size_t nsaved;
	_Atomic(struct kfwd_reload *) reload_req;  /* kafka_forwarder_reload.c */
	struct ktopic *topics;       /* rkt opaques, one per topic name (forwarder thread) */
	pthread_t thread;            /* spawned by mqb_kafka_fwd_new, parked until go */
	bool spawned, started, joined;
	bool go;                     /* under lock: mqb_kafka_fwd_start() called */
	pthread_cond_t go_cond;      /* with lock: go or stopping set */
	_Atomic bool stopping;
	int flush_ms;
	pthread_mutex_t lock;
	_Atomic int fatal, brokers_up, connected;
	int64_t inflight_n;          /* forwarder thread: produced, no report yet */
	int64_t queue_max;           /* the producer's queue.buffering.max.messages */
	bool arena_dirty;            /* forwarder thread: produced since the last trim */
	int64_t arena_trim_ms;
	_Atomic int64_t inflight_total;  /* inflight_n, published once per turn */
	_Atomic uint64_t restarts, queue_full;
	struct kcode codes[KF_MAX_CODES];  /* under lock when adding */
	_Atomic size_t ncodes;
	mqb_sbuf_t pending;        /* journal lines not yet appended */
	int64_t last_append_ms, last_sync_ms;
	bool unsynced;
	mqb_histogram_t *m_latency;
	mqb_counter_t *m_restarts;
};

/* A cursor kept for a (stream, topic, partition) not configured now: read from the
 * journal at start or saved by a reload that removed the entry; an entry added later
 * continues from it, and every snapshot of the journal keeps it. */
struct ksaved {
	char *stream, *topic;
	int32_t partition;
	int64_t cursor;
};

/* The opaque of every topic handle: librdkafka hands out the same handle (with the
 * first opaque) for a topic name created again, so the entry a delivery report
 * belongs to is looked up through this slot, which a reload re-points (NULL: no entry
 * feeds the topic now). Forwarder thread only; freed at destroy. */
struct ktopic {
	char *name;
	struct kstream *ks;
	struct ktopic *next;
};

/* The slot of topic name, created (ks NULL) when missing; NULL when out of memory. */
struct ktopic *mqb_kafka__topic_slot(mqb_kafka_fwd_t *f, const char *name);

/* kafka_forwarder.c, for kafka_forwarder_reload.c (forwarder thread, or before start). */
int mqb_kafka__part_init(mqb_kafka_fwd_t *f, struct kstream *ks, int32_t p, char *errstr,
			 size_t errstr_size);
int mqb_kafka__part_position(mqb_kafka_fwd_t *f, struct kpart *kp, char *errstr,
			     size_t errstr_size);
void mqb_kafka__floor_update(mqb_kafka_fwd_t *f, struct kpart *kp);
void mqb_kafka__state_flush(mqb_kafka_fwd_t *f, bool force);
void mqb_kafka__part_free(mqb_kafka_fwd_t *f, struct kpart *kp);
void mqb_kafka__stream_free(struct kstream *ks);
/* Fill out from kp (caller holds slock for reading, or is the forwarder thread). */
void mqb_kafka__part_status(struct kpart *kp, mqb_kafka_part_status_t *out);

/* kafka_forwarder_reload.c */
/* Forwarder thread, once per turn between produce rounds: apply a posted reload. */
void mqb_kafka__reload_poll(mqb_kafka_fwd_t *f);
/* Saved cursors (f->lock held by the caller). put replaces; take removes and returns
 * true when found. */
int mqb_kafka__saved_put(mqb_kafka_fwd_t *f, const char *stream, const char *topic,
			 int32_t partition, int64_t cursor);
bool mqb_kafka__saved_take(mqb_kafka_fwd_t *f, const char *stream, const char *topic,
			   int32_t partition, int64_t *cursor);
void mqb_kafka__saved_free(mqb_kafka_fwd_t *f);

/* kafka_stats.c: the collector and the /stats "kafka" section (HTTP thread). */
void mqb_kafka__metrics_collect(mqb_metrics_emit_t *e, void *arg);
void mqb_kafka__json_section(cJSON *sec, void *arg);

#endif
