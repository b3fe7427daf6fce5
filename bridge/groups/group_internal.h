/*
 * group_internal.h — the coordinator's internal state, shared by coordinator.c and the
 * group_*.c files that each handle one concern: membership (group_member.c), delivery
 * and acks (group_delivery.c), persistence (group_persist.c), JSON views and metrics
 * (group_view.c), and the two modes behind one ops table (grp_mode_t): exclusive
 * (group_exclusive.c over acktrack.h, with its rebalances in group_rebalance.c) and
 * shared (group_shared.c over share.h). Not for use outside bridge/groups/.
 *
 * Ownership: the coordinator owns its groups; a group owns its members and partitions;
 * members are referred to by pointer (owner of a partition), never by index.
 */
#ifndef MQB_GROUPS_GROUP_INTERNAL_H
#define MQB_GROUPS_GROUP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "bridge/groups/acktrack.h"
#include "bridge/groups/assignor.h"
#include "bridge/groups/coordinator.h"
#include "bridge/groups/share.h"

#define GRP_LOG "groups"
#define GRP_MAX_MEMBERS 1024          /* per group, the most max_members may say */
#define GRP_RL_WINDOW_MS 10000        /* join/leave rate limit: per member id ... */
#define GRP_RL_MAX 20                 /* ... at most this many per window */
#define GRP_RL_SLOTS 256

typedef struct grp_member {
	char *id;                     /* member id (MQTT: the client id) */
	char *instance_id;            /* static membership; NULL when dynamic */
	uint64_t token;               /* unique per incarnation (acktrack/share owner) */
	mqb_group_transport_t tp;     /* where its records, assignments, errors go */
	int prefetch;                 /* in use: min(asked, the group's prefetch) */
	int prefetch_asked;           /* in its join (0: none), for a reload of prefetch */
	int64_t joined_ms, last_seen_ms;
	int64_t gen;                  /* generation of the last assignment sent */
	bool departed;                /* static member gone: held until hold_until_ms */
	bool confirmed;               /* sent a request since its (re)join: past the join
				       * deadline check */
	int64_t hold_until_ms;
	/* shared mode: records it holds (partition, offset, lock deadline) */
	struct grp_held { int32_t part; int64_t offset; int64_t deadline; } *held;
	size_t n_held, cap_held;
	uint64_t delivered, acked;
	size_t rr;                    /* round-robin cursor over partitions */
} grp_member_t;

typedef struct grp_part {
	int32_t id;
	mqb_partition_t *sp;
	mqb_reader_t *rd;
	mqb_acktrack_t *at;           /* exclusive: the partition's delivery state */
	mqb_share_t *sh;              /* shared: the partition's delivery state */
	grp_member_t *owner;          /* exclusive: current owner (NULL none) */
	grp_member_t *target;         /* exclusive: owner wanted by the last rebalance */
	bool revoking;
	int64_t revoke_deadline_ms;
	int64_t revoke_gen;           /* generation that asked for the revocation */
	uint64_t dead_lettered, archived;
	uint32_t inflight;            /* exclusive: delivered to the owner, not acked (cache) */
} grp_part_t;

typedef struct grp_dead {            /* a record to dead-letter or archive */
	int32_t part;
	int64_t offset;
	uint32_t deliveries;
	int reason;                   /* mqb_finish_reason_t */
} grp_dead_t;

typedef struct grp_fctx {           /* finish-callback context: group + partition */
	struct grp *g;
	int32_t part;
} grp_fctx_t;

typedef struct grp_rl {              /* join/leave rate-limit slot */
	char id[MQB_GROUP_ID_MAX + 1];
	int64_t window_start_ms;
	int count;
} grp_rl_t;

typedef struct grp_mode grp_mode_t;

typedef struct grp {
	struct mqb_coord *c;
	/* The group's settings: conf points at own, a deep copy (the configuration it came
	 * from is freed after a reload); a reload updates the live fields in place. */
	const mqb_group_conf_t *conf;
	mqb_group_conf_t own;
	const grp_mode_t *mode;       /* exclusive or shared, chosen at creation */
	const mqb_assignor_t *assignor;  /* exclusive; NULL in shared mode */
	bool cooperative;
	int32_t nparts;
	grp_part_t *parts;
	grp_member_t **members;
	size_t n_members, cap_members;
	int64_t generation;
	bool rebalancing;             /* exclusive: revocations outstanding */
	bool rebalance_needed;
	uint64_t rebalances;
	uint64_t delivered, acked, redeliveries_base;
	uint64_t errors[MQB_GROUP_E_COUNT];
	grp_dead_t *dead;             /* finished without accept, to dead-letter */
	size_t n_dead, cap_dead;
	mqb_reader_t *dl_rd;          /* reader used to fetch dead-letter records */
	int32_t dl_rd_part;
	bool dirty;
	int64_t last_save_ms;
	uint64_t seq;                 /* persistence sequence carried between saves */
	size_t part_rr;               /* shared mode: partition cursor */
	grp_rl_t rl[GRP_RL_SLOTS];
	double join_tokens;           /* token bucket of new members' joins (join_rate) */
	int64_t join_tokens_ms;       /* when join_tokens was last refilled */
	uint64_t join_deadline_removed;  /* members removed for no heartbeat in time */
	/* Refused to start (its saved state is corrupt, on_corrupt_state = "refuse"):
	 * every request is answered with an error, nothing is delivered or saved, until
	 * an operator reset (mqb_coord_reset). */
	bool failed;
	char failed_why[2048];
} grp_t;

typedef struct grp_saver grp_saver_t;   /* group_persist.c */

/* What a partition's delivery state says, for views. */
typedef struct grp_part_view {
	int64_t committed;            /* exclusive: committed offset; shared: SPSO */
	int64_t inflight;             /* delivered (acquired), not yet acked */
	uint64_t redeliveries;
} grp_part_view_t;

/*
 * A group mode: the per-partition delivery state (acktrack or share) and the policy
 * that goes with it (who gets which partitions, what a join/leave does, how records
 * are handed out). The coordinator's code calls these instead of testing the mode.
 */
struct grp_mode {
	const char *name;             /* "exclusive" | "shared": views, assignments, logs */
	bool shared;                  /* the assignment's mode; no partition ownership */
	int gstate_mode;              /* MQB_GSTATE_* of saved state */

	/* per-partition state */
	int (*part_init)(grp_t *g, grp_part_t *p, int64_t start, char *errstr, size_t errstr_size);
	void (*part_fini)(grp_part_t *p);
	/* A reload changed g->conf: apply its delivery limits (max_deliveries, ack
	 * timeout) to p's state from now on. */
	void (*part_conf)(grp_t *g, grp_part_t *p);
	int64_t (*part_committed)(const grp_part_t *p);
	void (*part_view)(const grp_part_t *p, int64_t now, grp_part_view_t *v);
	/* The log lost what p was positioned on, or an operator reset: continue at offset. */
	void (*part_reset)(grp_part_t *p, int64_t offset);
	int (*part_export)(const grp_part_t *p, mqb_part_state_t *ps);
	int (*part_import)(grp_part_t *p, const mqb_part_state_t *ps);
	/* Check (no change) / apply one ack entry of member mb; the mqb_err of a refusal. */
	int (*ack_check)(grp_t *g, grp_part_t *p, grp_member_t *mb, int64_t gen,
			 const mqb_group_ack_entry_t *e, int64_t now);
	int (*ack)(grp_t *g, grp_part_t *p, grp_member_t *mb, int64_t gen,
		   const mqb_group_ack_entry_t *e, int64_t now, mqb_ack_result_t *res);

	/* membership: a new member; a member's new incarnation (old token); a static
	 * member that left (held); a member removed for good */
	void (*joined)(grp_t *g, grp_member_t *mb);
	void (*reincarnated)(grp_t *g, grp_member_t *mb, uint64_t old_token);
	void (*departed)(grp_t *g, grp_member_t *mb, int64_t now);
	void (*removed)(grp_t *g, grp_member_t *mb);
	/* The member handed over partitions ("revoked"). */
	int (*revoked)(grp_t *g, grp_member_t *mb, int64_t gen, const int32_t *parts, size_t n,
		       const mqb_group_transport_t *via, int64_t now);
	/* Its partitions (as, ascending) and those it must hand over (rv); room for nparts. */
	void (*member_parts)(const grp_t *g, const grp_member_t *mb, int32_t *as, size_t *na,
			     int32_t *rv, size_t *nr);

	/* delivery and timers */
	int (*deliver)(grp_t *g, grp_member_t *mb, int cap, int64_t now);
	int (*inflight)(grp_t *g, grp_member_t *mb, int64_t now, int64_t *oldest_ms);
	void (*tick)(grp_t *g, int64_t now);
};

extern const grp_mode_t grp_mode_exclusive;   /* group_exclusive.c */
extern const grp_mode_t grp_mode_shared;      /* group_shared.c */

struct mqb_coord {
	char *data_dir;               /* copied from the configuration (fixed until exit) */
	char *cfg_path;               /* the configuration file, for messages */
	mqb_store_t *store;
	int64_t commit_interval_ms;
	uint64_t next_token;
	grp_t **groups;               /* each allocated alone: pointers stay across reloads */
	size_t n_groups;
	grp_saver_t *saver;           /* NULL: saves are synchronous */
	uint64_t unknown_group_errors;   /* requests naming a group not configured */
};

/* coordinator.c */
grp_t *grp_find(mqb_coord_t *c, const char *name);
/* A group built from src (copied) with its saved state loaded; NULL + errstr. */
grp_t *grp_new(mqb_coord_t *c, const mqb_group_conf_t *src, int64_t now, char *errstr,
	       size_t errstr_size);
/* Free g, its members and partitions (no save). NULL-safe. */
void grp_free(grp_t *g);
/* Count, log (rate-limited) and, when via and a member are given, reply through via. */
void grp_error(grp_t *g, const mqb_group_transport_t *via, const char *member,
	       mqb_group_errcode_t code, const char *request, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

/* group_member.c */
grp_member_t *grp_member_find(grp_t *g, const char *id);
int grp_on_join(grp_t *g, const mqb_group_join_t *j, int64_t now);
int grp_on_leave(grp_t *g, const char *id, const mqb_group_transport_t *via, int64_t now);
void grp_check_sessions(grp_t *g, int64_t now);
/* The effective join deadline: min(join_deadline_ms, session_timeout_ms). */
int64_t grp_join_deadline(const grp_t *g);
/* max_members (GRP_MAX_MEMBERS when unset). */
int grp_max_members(const grp_t *g);
void grp_member_remove(grp_t *g, grp_member_t *mb, int64_t now, const char *why);
void grp_member_free(grp_member_t *mb);

/* group_rebalance.c (exclusive mode) */
void grp_rebalance(grp_t *g, int64_t now);
void grp_try_complete(grp_t *g, int64_t now);
void grp_check_revokes(grp_t *g, int64_t now);
void grp_release_part(grp_t *g, grp_part_t *p);
int grp_send_assignment(grp_t *g, grp_member_t *mb);
int grp_on_revoked(grp_t *g, grp_member_t *mb, int64_t gen, const int32_t *parts, size_t n,
		   const mqb_group_transport_t *via, int64_t now);

/* group_exclusive.c */
/* Re-read the in-flight count of p after its tracker changed (ack, assign, revoke,
 * reset): deliveries only add to it. */
void grp_part_refresh(grp_part_t *p);

/* group_delivery.c */
int grp_deliver(grp_t *g, int64_t now);
int grp_on_ack(grp_t *g, grp_member_t *mb, int64_t gen, const mqb_group_ack_entry_t *acks,
	       size_t n, const mqb_group_transport_t *via, int64_t now);
int grp_process_dead(grp_t *g, int64_t now);
void grp_finish_cb(void *arg, int64_t offset, uint32_t deliveries, mqb_finish_reason_t why);
/* Read the record at offset through r (seeking when needed). */
int grp_read_at(mqb_reader_t *r, int64_t offset, mqb_record_t *rec);
/* Hand rec (partition p, delivery count) to mb's transport; counts the delivery. */
int grp_deliver_record(grp_t *g, grp_member_t *mb, grp_part_t *p, const mqb_record_t *rec,
		       uint32_t deliveries);
/* The log lost what p was positioned on (retention): continue at log start. */
void grp_part_lost(grp_t *g, grp_part_t *p);

/* group_persist.c */
int grp_state_load(grp_t *g, char *errstr, size_t errstr_size);
int grp_state_save(grp_t *g, int64_t now);
int grp_reset_to(grp_t *g, const char *to, char *errstr, size_t errstr_size);
int grp_saver_start(mqb_coord_t *c);
/* Groups were added or removed (reload): one job per group of c again. Call with the
 * saver idle (after grp_saver_wait) and the coordinator held. MQB_OK or NOMEM. */
int grp_saver_regroup(mqb_coord_t *c);
/* Wait until every queued save is on disk; the first error since the last wait. */
int grp_saver_wait(mqb_coord_t *c);
void grp_saver_stop(mqb_coord_t *c);
/* A background save of g failed: mark it dirty again (called by the tick). */
void grp_saver_check(grp_t *g);

#endif
