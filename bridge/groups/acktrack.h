/*
 * acktrack.h — exclusive-mode (consumer group) delivery and ack tracking for ONE
 * partition: turns per-message acks (any order, ranges) into Kafka's committed offset.
 *
 * Transport-free and deterministic: no threads, no clock (now_ms is passed in), no I/O.
 * The coordinator runtime owns one mqb_acktrack_t per partition of an exclusive group.
 *
 * Model. The partition has at most one owner at a time: (member token, generation in
 * which it got the partition). Offsets are delivered in order from `end` (the
 * delivery high water). Every offset in [committed, end) is either
 *   - pending: in flight (delivered to the owner, not yet acked) or released
 *     (re-deliverable: released by the member, or in flight when ownership changed,
 *     or loaded from a snapshot), each with its delivery count; or
 *   - finished: accepted or rejected.
 * committed = the lowest pending offset, or `end` when nothing is pending = the first
 * offset not yet finished. Memory is the pending set only (a sorted array), bounded by
 * max_pending; finished runs are implicit, so huge acked ranges cost nothing.
 *
 * Delivery order: mqb_acktrack_next() gives the lowest released offset first, then
 * `end`. So after a release or a hand-over the partition is re-delivered from its
 * lowest unfinished offset, in offset order, before anything new.
 *
 * Ack semantics (mqb_acktrack_ack), checked for ALL ranges before ANY state changes:
 *   - member must be the owner, else MQB_ERR_PERM ("not_owner");
 *   - generation must be >= the generation in which the owner got the partition, else
 *     MQB_ERR_STALE ("stale_generation"): acks from before a hand-over never count;
 *   - each range [first,last] needs 0 <= first <= last, else MQB_ERR_INVAL;
 *   - more than MQB_ACK_MAX_RANGES ranges: MQB_ERR_TOOBIG ("too_large");
 *   - every offset must have been delivered: last < end, and (for accept/reject) no
 *     offset in the range may be released-and-not-redelivered; else MQB_ERR_RANGE
 *     ("not_delivered"). Offsets already finished (or below committed) are harmless
 *     duplicates (counted in res->duplicates); releasing a released record is a no-op.
 *   - accept: finished. reject: finished and reported through cb (MQB_FINISH_REJECTED)
 *     so the runtime dead-letters or archives it. release: back to re-deliverable; if it
 *     has already been delivered max_deliveries times (max_deliveries > 0), it is
 *     finished instead and reported (MQB_FINISH_MAX_DELIVERIES).
 *
 * Redeliveries: a delivery of an offset that was delivered before (count > 0) adds one
 * to the redeliveries counter, including re-deliveries to a new owner after a hand-over.
 */
#ifndef MQB_GROUPS_ACKTRACK_H
#define MQB_GROUPS_ACKTRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge/groups/offsets.h"

/* --- types shared by acktrack, share and the coordinator's ack requests ------- */

typedef enum mqb_ack_type {
	MQB_ACK_ACCEPT  = 0,
	MQB_ACK_RELEASE = 1,
	MQB_ACK_REJECT  = 2,
} mqb_ack_type_t;

/* "accept" / "release" / "reject"; NULL for an unknown value. */
const char *mqb_ack_type_name(mqb_ack_type_t t);
/* Parse a name; -1 when unknown. */
int mqb_ack_type_parse(const char *name);

/* An inclusive offset range [first, last]. */
typedef struct mqb_offset_range {
	int64_t first;
	int64_t last;
} mqb_offset_range_t;

/* Most ranges one ack call (and one control message, all acks together) may carry. */
#define MQB_ACK_MAX_RANGES 1024

/* Why a record was finished without being accepted (reported through the callback). */
typedef enum mqb_finish_reason {
	MQB_FINISH_REJECTED       = 1,  /* the member rejected it */
	MQB_FINISH_MAX_DELIVERIES = 2,  /* delivered max_deliveries times and not accepted */
} mqb_finish_reason_t;

/* Called once per record finished without accept (dead-letter / archive candidate). */
typedef void (mqb_finish_cb_t)(void *arg, int64_t offset, uint32_t deliveries,
			       mqb_finish_reason_t reason);

/* What one ack call did (all counts in records). */
typedef struct mqb_ack_result {
	uint64_t accepted, released, rejected;
	uint64_t dead;             /* finished by max_deliveries on release */
	uint64_t duplicates;       /* offsets acked again: no state change */
	int64_t committed_before, committed_after;  /* acktrack: committed; share: SPSO */
} mqb_ack_result_t;

/* Member tokens: the runtime gives each member incarnation a unique non-zero number. */
#define MQB_MEMBER_NONE ((uint64_t)0)

/* --- the tracker ----------------------------------------------------------------- */

typedef struct mqb_acktrack mqb_acktrack_t;

typedef struct mqb_acktrack_opts {
	int64_t start_offset;      /* committed offset to start from */
	uint32_t max_pending;      /* cap on pending (in flight + released) records: >= 1 */
	uint32_t max_deliveries;   /* 0: unlimited; else release at this count finishes it */
} mqb_acktrack_opts_t;

/* Defaults: start 0, max_pending 65536, max_deliveries 0. */
void mqb_acktrack_opts_defaults(mqb_acktrack_opts_t *o);

/* NULL on bad options (errstr says which) or out of memory. */
mqb_acktrack_t *mqb_acktrack_new(const mqb_acktrack_opts_t *o, char *errstr, size_t errstr_size);
void mqb_acktrack_destroy(mqb_acktrack_t *t);   /* NULL-safe */
/* A configuration reload: the new max_deliveries (0 unlimited) counts from the next
 * release on; records already delivered keep their counts. */
void mqb_acktrack_set_max_deliveries(mqb_acktrack_t *t, uint32_t max_deliveries);

/*
 * Give the partition to member in generation. If member is already the owner, the
 * ownership continues (in-flight records stay in flight; its generation floor is
 * kept), which is what a cooperative rebalance does for partitions that do not move.
 * Otherwise every in-flight record becomes re-deliverable and the new owner starts at
 * the lowest unfinished offset. member must not be MQB_MEMBER_NONE (MQB_ERR_INVAL).
 */
int mqb_acktrack_assign(mqb_acktrack_t *t, uint64_t member, int64_t generation);

/* No owner (partition revoked, or the owner left/died): in flight -> re-deliverable. */
void mqb_acktrack_revoke(mqb_acktrack_t *t);

uint64_t mqb_acktrack_owner(const mqb_acktrack_t *t);

/*
 * The next offset to deliver: the lowest re-deliverable one, else `end`. Returns
 * MQB_ERR_AGAIN when there is no owner, or pending == max_pending and nothing is
 * re-deliverable. (The runtime also checks the member's prefetch across partitions
 * and that *offset < log end.)
 */
int mqb_acktrack_next(const mqb_acktrack_t *t, int64_t *offset);

/*
 * Record the delivery of offset (which must be what mqb_acktrack_next() returned)
 * to the owner at now_ms. *deliveries (may be NULL) = the count including this one
 * (the "delivery" user property). MQB_ERR_STATE when offset is not the next one or
 * there is no owner.
 */
int mqb_acktrack_deliver(mqb_acktrack_t *t, int64_t offset, int64_t now_ms,
			 uint32_t *deliveries);

/*
 * Only validate (same checks and return values as mqb_acktrack_ack, no change): lets
 * the runtime check every entry of an ack message before applying any of them.
 */
int mqb_acktrack_ack_check(const mqb_acktrack_t *t, uint64_t member, int64_t generation,
			   const mqb_offset_range_t *ranges, size_t n_ranges, mqb_ack_type_t type);

/* Apply acks; see the semantics above. res and cb may be NULL. On error: no change. */
int mqb_acktrack_ack(mqb_acktrack_t *t, uint64_t member, int64_t generation,
		     const mqb_offset_range_t *ranges, size_t n_ranges, mqb_ack_type_t type,
		     mqb_ack_result_t *res, mqb_finish_cb_t *cb, void *cb_arg);

/*
 * The log lost offsets below log_start (retention) or an operator reset the group:
 * forget everything and continue from offset (pending records below it are dropped,
 * committed = end = offset). Ownership is kept.
 */
void mqb_acktrack_reset(mqb_acktrack_t *t, int64_t offset);

typedef struct mqb_acktrack_stats {
	int64_t committed;         /* first offset not yet finished */
	int64_t end;               /* delivery high water */
	uint32_t inflight;         /* delivered, not acked */
	uint32_t released;         /* waiting for re-delivery */
	uint64_t deliveries;       /* total deliveries */
	uint64_t redeliveries;     /* deliveries of offsets delivered before */
	uint64_t accepted, rejected, dead;
	int64_t oldest_inflight_ms;  /* now_ms - delivery time of the oldest in flight; -1 */
} mqb_acktrack_stats_t;

void mqb_acktrack_stats(const mqb_acktrack_t *t, int64_t now_ms, mqb_acktrack_stats_t *out);
int64_t mqb_acktrack_committed(const mqb_acktrack_t *t);

/*
 * Snapshot for offsets.h: fills ps (partition number is left to the caller); ps->recs
 * is malloc'd (caller frees, or hands to mqb_group_state_add_part then frees).
 */
int mqb_acktrack_export(const mqb_acktrack_t *t, mqb_part_state_t *ps);
/*
 * Restore from a snapshot: committed = ps->start, end = ps->end, the listed records
 * re-deliverable with their counts. No owner afterwards. MQB_ERR_INVAL when ps is
 * inconsistent or larger than max_pending (no change then).
 */
int mqb_acktrack_import(mqb_acktrack_t *t, const mqb_part_state_t *ps);

#endif
