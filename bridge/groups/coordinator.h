/*
 * coordinator.h — the consumer-group coordinator core (DESIGN.md §4, docs/PROTOCOL.md):
 * membership, generations, rebalances (eager and cooperative), static membership,
 * delivery from the segment store in offset order, acks -> committed offsets, shared
 * (share-group) mode, dead letters, persistence of group positions.
 *
 * Transport-free: every control message is handed in with mqb_coord_handle(), every
 * message to a member goes out through the publish callback, and time is passed in
 * (now_ms, monotonic). The MQTT runtime (group_runtime.h) drives it from its thread;
 * unit tests drive it directly with a recording callback.
 *
 * Threads: one thread at a time (the caller serialises). mqb_coord_describe() and
 * mqb_coord_metrics() read the same state, so they are called from that thread too
 * (the runtime publishes snapshots of them for the HTTP thread).
 *
 * Ownership: opts->cfg and opts->store are borrowed and must outlive the coordinator.
 * Pointers passed to the publish callback are valid only during the call.
 */
#ifndef MQB_GROUPS_COORDINATOR_H
#define MQB_GROUPS_COORDINATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge/config.h"
#include "bridge/store/store.h"

typedef struct mqb_coord mqb_coord_t;
typedef struct cJSON cJSON;

/* An MQTT 5 user property of an outgoing message. */
typedef struct mqb_coord_prop {
	const char *name;
	const char *value;
} mqb_coord_prop_t;

/*
 * Publish one message (QoS 1, not retained) to a member. props are the MQTT 5 user
 * properties (nprops may be 0); they are only given for members using MQTT 5.
 * Return MQB_OK, or an error: the coordinator then keeps the record undelivered
 * and tries again on a later tick (control messages are not retried).
 */
typedef int (mqb_coord_publish_fn)(void *arg, const char *topic, const void *payload,
				   size_t len, const mqb_coord_prop_t *props, size_t nprops);

typedef struct mqb_coord_opts {
	const mqb_config_t *cfg;         /* groups, groups_prefix, data_dir (borrowed) */
	mqb_store_t *store;              /* streams of every group already opened */
	mqb_coord_publish_fn *publish;
	void *publish_arg;
	bool transport_v5;               /* false: every member gets the JSON envelope */
	int64_t commit_interval_ms;      /* persist dirty groups at most this often (100) */
	bool async_save;                 /* true: a saver thread does the fsyncs, so the
					  * caller's loop never waits on the disk */
	int64_t now_ms;                  /* monotonic time at creation */
} mqb_coord_opts_t;

/* Build every configured group, loading its saved state from data_dir/__groups.
 * NULL + errstr when a group's stream is not open or its state cannot be used. */
mqb_coord_t *mqb_coord_new(const mqb_coord_opts_t *opts, char *errstr, size_t errstr_size);

/* Persist every group (final save) and free. NULL-safe. */
void mqb_coord_destroy(mqb_coord_t *c);

/*
 * One control message received on topic (any <prefix>/groups/... topic). Bad input
 * is answered with an error reply (when a member can be named), logged at a rate
 * limit and counted; it changes no state. Returns MQB_OK when the message was
 * applied, else the mqb_err of the refusal.
 */
int mqb_coord_handle(mqb_coord_t *c, const char *topic, const void *payload, size_t len,
		     int64_t now_ms);

/*
 * Timers and work: session timeouts, static members' hold, hand-over timeouts,
 * share-lock expiry, deliveries (up to each member's prefetch), dead letters,
 * persistence. Returns the number of records delivered in this call.
 */
int mqb_coord_tick(mqb_coord_t *c, int64_t now_ms);

/* Persist every dirty group now (shutdown, tests). MQB_OK or the first error. */
int mqb_coord_flush(mqb_coord_t *c);

/*
 * Operator reset of a group's position: to = "earliest" | "latest" | "offset:N" |
 * "timestamp:MS". Refused with MQB_ERR_STATE while the group has members (errstr
 * says so), MQB_ERR_NOTFOUND for an unknown group, MQB_ERR_INVAL for a bad "to".
 * The new position is persisted before it returns.
 */
int mqb_coord_reset(mqb_coord_t *c, const char *group, const char *to, int64_t now_ms,
		    char *errstr, size_t errstr_size);

/* JSON views (GET /groups, GET /groups/<g>): the caller owns the result (cJSON_Delete).
 * describe returns NULL for an unknown group. */
cJSON *mqb_coord_list(mqb_coord_t *c, int64_t now_ms);
cJSON *mqb_coord_describe(mqb_coord_t *c, const char *group, int64_t now_ms);

/* Per-group numbers for metrics (filled by mqb_coord_metrics). */
typedef struct mqb_coord_part_metrics {
	int32_t partition;
	int64_t lag;                     /* log end - committed */
} mqb_coord_part_metrics_t;

typedef struct mqb_coord_group_metrics {
	const char *group, *stream;      /* valid while the coordinator lives */
	int64_t members, generation;
	uint64_t rebalances, redeliveries, dead_lettered, archived, delivered, acked;
	uint64_t errors[16];             /* by mqb_ctl_errcode_t */
	mqb_coord_part_metrics_t *parts; /* malloc'd, n_parts entries */
	size_t n_parts;
} mqb_coord_group_metrics_t;

/* Fill a malloc'd array of one entry per group (*n); free with mqb_coord_metrics_free. */
int mqb_coord_metrics(mqb_coord_t *c, mqb_coord_group_metrics_t **out, size_t *n);
void mqb_coord_metrics_free(mqb_coord_group_metrics_t *m, size_t n);

/* Test/inspection helpers. */
int64_t mqb_coord_generation(mqb_coord_t *c, const char *group);       /* -1 unknown */
size_t mqb_coord_member_count(mqb_coord_t *c, const char *group);
/* Committed offset of (group, partition), or -1. */
int64_t mqb_coord_committed(mqb_coord_t *c, const char *group, int32_t partition);

#endif
