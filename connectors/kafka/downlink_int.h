/*
 * downlink_int.h — the downlink's private state, shared by downlink.c (lifecycle and
 * loop), downlink_consumer.c (librdkafka configuration and callbacks),
 * downlink_consume.c (rebalance, records, commits, the loop turn), downlink_send.c
 * (routing and publishing one record) and downlink_stats.c (metrics, /stats).
 *
 * Threads: everything not _Atomic belongs to the downlink thread, except the parts
 * pointer array of an entry, which grows under dl->lock (the HTTP thread walks it
 * under that lock and reads only the parts' atomics).
 */
#ifndef MQB_KAFKA_DOWNLINK_INT_H
#define MQB_KAFKA_DOWNLINK_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "bridge/forward/fwd_window.h"
#include "connectors/kafka/downlink.h"
#include "connectors/kafka/downlink_conf.h"
#include "connectors/kafka/downlink_topic.h"

#define DL_MOD "downlink"

/* Why a publish did not count as delivered (metric label "reason"). */
enum dl_fail {
	DL_FAIL_REFUSED,       /* publish() refused it synchronously (retried) */
	DL_FAIL_NACK,          /* the publisher reported a failure (re-published) */
	DL_FAIL_ABANDONED,     /* pending at revocation or shutdown (not committed past) */
	DL_FAIL_DEAD_LETTER,   /* appending to the dead-letter stream failed (retried) */
	DL_FAIL_COMMIT,        /* an offset commit failed (retried) */
	DL_NFAIL
};

struct dl_entry;

/* Messages that could not be handled yet (window full, publish refused), in offset
 * order. The partition is paused once DL_HOLD_MAX(inflight) records or DL_HOLD_BYTES
 * are held, and resumed below half of that: pausing drops librdkafka's prefetched
 * records and resuming fetches again, so pausing at every full window would cost a
 * fetch round trip per window. */
#define DL_HOLD_MAX(inflight) ((size_t)(inflight) * 4 < 4096 ? 4096 : (size_t)(inflight) * 4)
#define DL_HOLD_BYTES (4u << 20)

struct dl_held {
	rd_kafka_message_t **v;
	size_t head, n, cap;
	size_t bytes;                /* keys and values held */
	int64_t retry_at_ms;         /* monotonic; 0: as soon as there is room */
};

struct dl_part {
	struct dl_entry *e;
	int32_t id;
	char id_str[12];
	bool assigned, started, paused;
	bool need_rewind;            /* a publish failed: re-consume from the cursor */
	uint32_t gen;                /* bumped at every (re)assignment and revocation */
	mqb_fwd_window_t win;        /* Kafka offsets: cursor = everything below acked */
	int64_t committed;           /* last offset committed (-1: none by us) */
	struct dl_held held;
	_Atomic int a_assigned, a_paused;
	_Atomic int64_t a_cursor, a_committed, a_hwm, a_inflight;
	_Atomic uint64_t published, acked, unroutable, dead_lettered, duplicates_skipped;
};

struct dl_entry {
	mqb_downlink_t *dl;
	const mqb_kafka_downlink_conf_t *conf;
	size_t idx;
	char label[48];              /* "downlink<i>" for logs */
	rd_kafka_t *rk;
	mqb_dl_tmpl_t *tmpl;
	int dead_index;              /* dead-letter stream index, -1 */
	int32_t ndead;
	struct dl_part **parts;      /* by partition id; grown under dl->lock */
	int32_t nparts;
	bool cooperative;            /* the group runs the COOPERATIVE protocol */
	int64_t next_commit_ms, next_wm_ms;
	char *scratch;               /* NUL-terminated header copies for one publish */
	size_t scratch_cap;
	_Atomic int kafka_up, brokers_up, rebalances;
	_Atomic uint64_t fail[DL_NFAIL];
	_Atomic uint64_t unroutable[MQB_DL_NREASONS];
};

struct mqb_downlink {
	const mqb_config_t *cfg;
	mqb_store_t *store;
	mqb_metrics_t *metrics;
	mqb_dl_publisher_t pub;
	struct dl_entry *entries;
	size_t n;
	pthread_t thr;
	bool started;
	atomic_bool running;
	atomic_bool mqtt_up;
	_Atomic int64_t last_turn_ms;
	pthread_mutex_t lock;
};

/* A publish waiting for its completion (the publisher's cookie). */
struct dl_ticket {
	struct dl_part *p;
	uint32_t gen;
	int64_t offset;
};

/* downlink_consumer.c */
int mqb_dl__consumer_new(struct dl_entry *e, char *errstr, size_t errstr_size);
void mqb_dl__close(struct dl_entry *e);
/* downlink_consume.c */
int mqb_dl__entry_turn(struct dl_entry *e, int64_t now);   /* 1: more to do at once */
void mqb_dl__commit(struct dl_entry *e, bool sync);
void mqb_dl__held_clear(struct dl_part *p);
void mqb_dl__part_reset(struct dl_part *p, bool assigned);
void mqb_dl__on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
			  rd_kafka_topic_partition_list_t *parts, void *opaque);
void mqb_dl__on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
		       rd_kafka_topic_partition_list_t *offsets, void *opaque);
/* downlink_send.c: 1 taken (the caller destroys m), 0 hold it until there is room,
 * -1 hold it and retry later (publish refused, dead-letter append failed). */
int mqb_dl__handle(struct dl_part *p, rd_kafka_message_t *m);
void mqb_dl__on_done(void *arg, void *cookie, int status);
/* downlink_stats.c */
void mqb_dl__metrics_collect(mqb_metrics_emit_t *em, void *arg);
void mqb_dl__json_section(cJSON *sec, void *arg);

#endif
