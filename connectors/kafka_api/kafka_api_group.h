/*
 * kafka_api_group.h — Kafka's classic consumer-group protocol as served by kafka_api:
 * the broker side of JoinGroup / SyncGroup / Heartbeat / LeaveGroup (the members
 * choose the assignment: the broker elects a leader and relays its assignment), and
 * the committed offsets of OffsetCommit / OffsetFetch, saved crash-safe under
 * data_dir/__groups/kafka/<group>.offsets (bridge/groups/client_offsets.h) before the
 * OffsetCommit answer.
 *
 * Groups are created on demand by group id (as Kafka does), up to max_groups; a group
 * id must be a valid file name ([A-Za-z0-9._-]{1,200}) and must not be the name of a
 * group configured in mqbridge's own `groups` section (those are served by the
 * mqbridge coordinator; kafka_api refuses them with INVALID_GROUP_ID).
 *
 * States (Kafka's): Empty, PreparingRebalance (members rejoin until all known members
 * did or the rebalance timeout passed), CompletingRebalance (generation chosen, waiting
 * for the leader's SyncGroup), Stable. Members missing their session timeout are
 * removed (a rebalance follows).
 *
 * Threads: the registry is used by the kafka_api server thread (handlers, tick) and
 * read by the HTTP thread (views, metrics): every function here takes the registry's
 * mutex itself, except the kg_* internals used by the handlers, which are called
 * between mqb_kgroups_lock / mqb_kgroups_unlock.
 * Ownership: the registry owns its groups, members and offsets; strings given to it
 * are copied.
 */
#ifndef MQB_KAFKA_API_GROUP_H
#define MQB_KAFKA_API_GROUP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "bridge/config.h"
#include "bridge/groups/client_offsets.h"
#include "bridge/stats/metrics.h"
#include "bridge/store/store.h"

typedef enum { KG_EMPTY = 0, KG_PREPARING, KG_COMPLETING, KG_STABLE } kg_state_t;

typedef struct kg_proto {
	char *name;
	uint8_t *meta;
	int32_t meta_len;
} kg_proto_t;

typedef struct kg_member {
	char *id, *instance_id, *client_id;
	char client_host[64];
	uint64_t serial;             /* unique in the process: a parked call's handle */
	int32_t session_ms, rebalance_ms;
	kg_proto_t *protos;
	int nprotos;
	uint8_t *assign;
	int32_t assign_len;
	int64_t last_seen;           /* monotonic ms of the last request */
	bool awaiting_join;          /* rejoined in this rebalance, answer pending */
	bool join_done;              /* the rebalance completed: its JoinGroup may answer */
	bool awaiting_sync;          /* follower parked in SyncGroup */
} kg_member_t;

typedef struct kg_pending {
	char *id;
	int64_t expires;
} kg_pending_t;

typedef struct kg_group {
	char name[256];
	kg_state_t state;
	int32_t generation;
	char *protocol_type, *protocol, *leader;
	kg_member_t **members;
	size_t n, cap;
	kg_pending_t *pending;
	size_t npending;
	int64_t rebalance_deadline, join_not_before;
	mqb_client_offsets_t offs;
	bool failed;                 /* its saved offsets could not be read */
	char failed_why[512];
	uint64_t rebalances, commits, expired;
} kg_group_t;

typedef struct mqb_kgroups_opts {
	const char *data_dir;        /* NULL: offsets are not persisted (fuzz target) */
	const mqb_config_t *cfg;     /* mqbridge's own group names are refused; may be NULL */
	mqb_store_t *store;
	int max_groups, max_members;
	int initial_rebalance_delay_ms;
	int32_t min_session_ms, max_session_ms;
	int32_t max_member_bytes;    /* a member's protocol metadata / assignment bytes */
} mqb_kgroups_opts_t;

typedef struct mqb_kgroups {
	pthread_mutex_t mu;
	mqb_kgroups_opts_t o;
	kg_group_t **groups;
	size_t n, cap;
	uint64_t next_serial;
	uint64_t refused_groups;     /* max_groups reached */
	uint64_t changes;            /* bumped by every change a parked JoinGroup or
				      * SyncGroup waits for (rebalance started or done,
				      * assignment arrived, member gone) */
} mqb_kgroups_t;

/* New registry; loads every saved group's offsets (a corrupt file marks that group
 * failed, logged). NULL on allocation failure. */
mqb_kgroups_t *mqb_kgroups_new(const mqb_kgroups_opts_t *o);
void mqb_kgroups_destroy(mqb_kgroups_t *kg);     /* NULL-safe */
/* Expire members and pending ids, end rebalances past their deadline. */
void mqb_kgroups_tick(mqb_kgroups_t *kg, int64_t now);
/* The monotonic ms at which mqb_kgroups_tick next has work (a session or pending id
 * expiring, a rebalance deadline or the end of the initial delay), INT64_MAX: none.
 * The server sleeps until then instead of ticking on a timer. */
int64_t mqb_kgroups_next_deadline(mqb_kgroups_t *kg);
/* kg->changes, read with the lock: a parked group call re-runs when it moved. */
uint64_t mqb_kgroups_changes(mqb_kgroups_t *kg);

static inline void mqb_kgroups_lock(mqb_kgroups_t *kg) { pthread_mutex_lock(&kg->mu); }
static inline void mqb_kgroups_unlock(mqb_kgroups_t *kg) { pthread_mutex_unlock(&kg->mu); }

/* --- internals for the request handlers (lock held) ------------------------------- */

/* Kafka error codes of the group APIs. */
enum {
	KGERR_COORDINATOR_NOT_AVAILABLE = 15, KGERR_NOT_COORDINATOR = 16,
	KGERR_ILLEGAL_GENERATION = 22, KGERR_INCONSISTENT_GROUP_PROTOCOL = 23,
	KGERR_INVALID_GROUP_ID = 24, KGERR_UNKNOWN_MEMBER_ID = 25,
	KGERR_INVALID_SESSION_TIMEOUT = 26, KGERR_REBALANCE_IN_PROGRESS = 27,
	KGERR_OFFSET_METADATA_TOO_LARGE = 12, KGERR_GROUP_AUTHORIZATION_FAILED = 30,
	KGERR_GROUP_ID_NOT_FOUND = 69, KGERR_NON_EMPTY_GROUP = 68,
	KGERR_MEMBER_ID_REQUIRED = 79, KGERR_GROUP_MAX_SIZE_REACHED = 81,
	KGERR_FENCED_INSTANCE_ID = 82,
};

/* The group, or NULL. */
kg_group_t *kg_find(mqb_kgroups_t *kg, const char *name);
/* Check a group id: 0, or the error code to answer (INVALID_GROUP_ID). */
int16_t kg_check_id(mqb_kgroups_t *kg, const char *name);
/* Find or create (0, *out set) or the error (INVALID_GROUP_ID, max_groups reached:
 * GROUP_AUTHORIZATION_FAILED, failed group: COORDINATOR_NOT_AVAILABLE). */
int16_t kg_get(mqb_kgroups_t *kg, const char *name, bool create, kg_group_t **out);
kg_member_t *kg_member(kg_group_t *g, const char *id);
kg_member_t *kg_member_by_serial(kg_group_t *g, uint64_t serial);
const char *kg_state_name(kg_state_t s);

typedef struct kg_join_req {
	const char *member_id;       /* "" for a new member */
	const char *instance_id;     /* NULL: dynamic member */
	const char *client_id, *client_host;
	int32_t session_ms, rebalance_ms;
	const char *protocol_type;
	const kg_proto_t *protos;    /* borrowed; copied when stored */
	int nprotos;
	bool require_known_id;       /* JoinGroup v4+: MEMBER_ID_REQUIRED for a new member */
} kg_join_req_t;

/* Handle a JoinGroup. 0: *serial is the member's (park until kg_join_ready); else an
 * error, with new_id (size 256) set for MEMBER_ID_REQUIRED. */
int16_t kg_join(mqb_kgroups_t *kg, kg_group_t *g, const kg_join_req_t *rq, int64_t now,
		uint64_t *serial, char *new_id);
/* Members leave (removed at once; a rebalance follows). */
int16_t kg_leave(mqb_kgroups_t *kg, kg_group_t *g, const char *member_id,
		 const char *instance_id, int64_t now);
/* The leader's SyncGroup: store the assignments (copied), the group becomes Stable. */
int16_t kg_set_assignment(kg_group_t *g, const char *member_id, const uint8_t *a,
			  int32_t len, int32_t max_bytes);
void kg_stabilize(mqb_kgroups_t *kg, kg_group_t *g, int64_t now);
/* Start a rebalance (a member joined, left, changed its protocols or failed). */
void kg_prepare_rebalance(mqb_kgroups_t *kg, kg_group_t *g, int64_t now);
/* Complete the rebalance when every member rejoined (or its deadline passed). */
void kg_maybe_complete(mqb_kgroups_t *kg, kg_group_t *g, int64_t now);
/* Validate a (generation, member) for Heartbeat / OffsetCommit / SyncGroup. */
int16_t kg_check_member(kg_group_t *g, const char *member_id, const char *instance_id,
			int32_t generation, kg_member_t **out);
/* Save g's offsets (data_dir set). MQB_OK or an error logged. */
int kg_save_offsets(mqb_kgroups_t *kg, kg_group_t *g);
/* Remove an empty group without offsets. */
void kg_gc(mqb_kgroups_t *kg, kg_group_t *g);

/* --- views (take the lock) ---------------------------------------------------------- */

/* The summaries of every Kafka group as GET /groups entries (kind "kafka") appended
 * to arr. */
void mqb_kgroups_list_json(mqb_kgroups_t *kg, cJSON *arr);
/* GET /groups/<g> for a Kafka group, or NULL when there is none of that name. */
cJSON *mqb_kgroups_describe_json(mqb_kgroups_t *kg, const char *name);
/* The metrics collector (mqb_metrics_add_collector; arg: the registry). */
void mqb_kgroups_collect(mqb_metrics_emit_t *e, void *arg);

#endif
