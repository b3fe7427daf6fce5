/*
 * coordinator.h — the consumer-group coordinator core (DESIGN.md §4, docs/PROTOCOL.md):
 * membership, generations, rebalances (eager and cooperative), static membership,
 * delivery from the segment store in offset order, acks -> committed offsets, shared
 * (share-group) mode, dead letters, persistence of group positions.
 *
 * Transport-free: a member's requests come in as C calls (join, leave, heartbeat, ack,
 * revoked), everything to a member (records, assignments, error replies) goes out
 * through the transport it joined with (transport.h), and time is passed in (now_ms,
 * monotonic). The MQTT transport (connectors/mqtt/groups_transport.h) decodes control
 * messages into these calls; unit tests call them directly with a recording transport.
 *
 * Requests: each call names the transport it came in on (via); error replies about it
 * go there (a member unknown to the group has no transport of its own yet). A refused
 * request is answered with an error reply when a member is named, logged at a rate
 * limit, counted per group and code, and changes no state. The calls return MQB_OK
 * when the request was applied, else the mqb_err of the refusal
 * (mqb_group_errcode_from_err() gives the code the reply carried). Group and member
 * strings must be non-NULL; a join with a member or instance id that is not an id
 * (transport.h) is refused as malformed (MQB_ERR_INVAL), one without a complete
 * transport with MQB_ERR_INVAL (no reply possible).
 *
 * Threads: one thread at a time (the caller serialises every call, views and metrics
 * included). The MQTT runtime holds a mutex around each call, so its HTTP thread reads
 * the live state through mqb_coord_list/describe/metrics while its own thread runs the
 * requests and the tick. The only other thread is the coordinator's own saver (with
 * opts.async_save), which writes exported copies of the state.
 *
 * Ownership: opts->cfg is read during mqb_coord_new only (each group copies its
 * settings); opts->store is borrowed and must outlive the coordinator;
 * a member's transport arg must outlive its membership (until the coordinator is
 * destroyed). Strings and arrays passed in are copied where kept.
 */
#ifndef MQB_GROUPS_COORDINATOR_H
#define MQB_GROUPS_COORDINATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge/config.h"
#include "bridge/groups/acktrack.h"    /* mqb_ack_type_t, mqb_offset_range_t */
#include "bridge/groups/transport.h"
#include "bridge/store/store.h"

typedef struct mqb_coord mqb_coord_t;
typedef struct cJSON cJSON;

typedef struct mqb_coord_opts {
	const mqb_config_t *cfg;         /* groups, data_dir (read during new only) */
	mqb_store_t *store;              /* streams of every group already opened */
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

/* true when group is configured. */
bool mqb_coord_has_group(mqb_coord_t *c, const char *group);
/* Groups running now (those of the configuration plus any kept by a reload). */
size_t mqb_coord_group_count(mqb_coord_t *c);

/*
 * A configuration reload (docs/OPERATIONS.md): groups in cfg and not running start
 * (their streams must be open; saved state is loaded as at start); running groups not
 * in cfg are removed when they have no members (their position is saved first and
 * stays on disk), else kept with their previous settings and an error logged; groups
 * in both take the live settings (timeouts, max_deliveries, prefetch, dead_letter,
 * max_members, join_*): from the next delivery, release or join on, and members'
 * prefetch becomes min(asked, the new prefetch). stream, mode, assignor, rebalance,
 * start and on_corrupt_state are fixed: a change refuses the reload (MQB_ERR_CONFIG).
 * All or nothing up to the apply: a new group that cannot start refuses the reload
 * with nothing changed. Returns the count of groups kept for having members (>= 0),
 * or a negative mqb_err with errstr. cfg is only read during the call (settings are
 * copied).
 */
int mqb_coord_reload(mqb_coord_t *c, const mqb_config_t *cfg, int64_t now_ms,
		     char *errstr, size_t errstr_size);

/* --- requests ------------------------------------------------------------------------ */

typedef struct mqb_group_join {
	const char *group;
	const char *member_id;           /* an id (transport.h) */
	const char *instance_id;         /* static membership; NULL or "" when dynamic */
	int32_t prefetch;                /* 0: the group's; else min(this, the group's) */
	mqb_group_transport_t transport; /* where this member's records etc. go */
	/* Set by a transport that cannot serve an option of the join (e.g. an unknown
	 * MQTT "protocol"): the join counts against the rate limit like any other, then
	 * is refused as malformed with this text. NULL normally. */
	const char *invalid;
} mqb_group_join_t;

/* Join, rejoin (same member id: a new incarnation, no rebalance) or return as a static
 * member (same instance_id under a new member id; the old one is fenced). */
int mqb_coord_join(mqb_coord_t *c, const mqb_group_join_t *j, int64_t now_ms);

/* Leave (also the member's MQTT will). A static member's partitions are held for
 * session_timeout_ms. */
int mqb_coord_leave(mqb_coord_t *c, const char *group, const char *member_id,
		    const mqb_group_transport_t *via, int64_t now_ms);

/* The client named member_id is gone (the broker plugin sees every disconnect, where
 * client mode relies on the member's MQTT will, which a broker plugin never sees): each
 * group where it is a live member treats it as a leave (no reply). Returns the number
 * of groups it left. */
int mqb_coord_member_gone(mqb_coord_t *c, const char *member_id, int64_t now_ms);

/* Keep the member's session alive; generation is the one of its last assignment. */
int mqb_coord_heartbeat(mqb_coord_t *c, const char *group, const char *member_id,
			int64_t generation, const mqb_group_transport_t *via, int64_t now_ms);

/* One entry of an ack request: ranges of one partition, all of one type. */
typedef struct mqb_group_ack_entry {
	const char *stream;
	int32_t partition;
	mqb_ack_type_t type;
	const mqb_offset_range_t *ranges;
	size_t n_ranges;
} mqb_group_ack_entry_t;

/* Acks, all-or-nothing: every entry is checked first (each refused entry gets its own
 * error reply); only when all pass are they applied. */
int mqb_coord_ack(mqb_coord_t *c, const char *group, const char *member_id,
		  int64_t generation, const mqb_group_ack_entry_t *acks, size_t n_acks,
		  const mqb_group_transport_t *via, int64_t now_ms);

/* The member handed over these partitions (exclusive mode). */
int mqb_coord_revoked(mqb_coord_t *c, const char *group, const char *member_id,
		      int64_t generation, const int32_t *partitions, size_t n_partitions,
		      const mqb_group_transport_t *via, int64_t now_ms);

/*
 * A request the transport could not decode (malformed, too large): count and log it
 * for group like any refusal and, when member is named (non-empty), reply through via.
 * request: "join", "leave", ... Returns MQB_ERR_NOTFOUND for an unknown group (nothing
 * is counted then), else MQB_OK.
 */
int mqb_coord_refuse(mqb_coord_t *c, const char *group, const char *member,
		     mqb_group_errcode_t code, const char *request, const char *message,
		     const mqb_group_transport_t *via);

/* --- timers, persistence, operations ------------------------------------------------- */

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
	uint64_t errors[16];             /* by mqb_group_errcode_t */
	bool failed;                     /* refused to start: its saved state is corrupt */
	uint64_t join_deadline_removed;  /* members removed for no heartbeat in time */
	mqb_coord_part_metrics_t *parts; /* malloc'd, n_parts entries */
	size_t n_parts;
} mqb_coord_group_metrics_t;

/* Fill a malloc'd array of one entry per group (*n); free with mqb_coord_metrics_free. */
int mqb_coord_metrics(mqb_coord_t *c, mqb_coord_group_metrics_t **out, size_t *n);
void mqb_coord_metrics_free(mqb_coord_group_metrics_t *m, size_t n);

/* Requests (and undecodable messages) that named a group not configured: answered
 * unknown_group when a member could be named, counted here (no group to count in). */
uint64_t mqb_coord_unknown_group_errors(mqb_coord_t *c);

#endif
