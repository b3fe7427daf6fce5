/*
 * assignor.h — partition assignors for exclusive-mode groups (one stream per group):
 * Kafka's range, roundrobin, sticky and cooperative-sticky, as one ops interface.
 *
 * Pure functions: no allocation visible to the caller, no clock, deterministic for a
 * given input (ties are broken by the member order below, then partition number).
 *
 * Input: the current members (member_id, optional instance_id for static members) and
 * prev_owner[p] = index into members[] of the member that owned partition p in the
 * previous generation, or -1 (never owned, or its owner left). The runtime builds
 * prev_owner; a static member that came back with the same instance_id counts as the
 * previous owner of its old partitions, so sticky assignors give them back.
 * Output: owner[p] = index into members[] for every p in [0, n_partitions).
 *
 * Member order (Kafka's MemberInfo order, used by range and roundrobin): members with
 * an instance_id first, sorted by instance_id; then the others sorted by member_id
 * (strcmp byte order).
 *
 * range (Kafka RangeAssignor): with N members and P partitions, the i-th member in
 *   order gets a contiguous range of P/N partitions, the first P%N members one more.
 *   E.g. 2 members, 3 partitions: C0 [0,1], C1 [2].
 * roundrobin (RoundRobinAssignor): partitions dealt in turn in member order:
 *   partition p -> member p % N. E.g. 3 members, 7 partitions: C0 [0,3,6], C1 [1,4],
 *   C2 [2,5].
 * sticky (StickyAssignor, one topic): balanced (counts differ by at most 1: P%N members
 *   get P/N+1, the others P/N) while keeping the largest possible number of partitions
 *   with their previous owner: the P%N "+1" quotas go to the members that owned the
 *   most partitions before (ties: member order); each member keeps its previous
 *   partitions (lowest numbers first) up to its quota; the rest (those over quota,
 *   those of departed members, new ones) go in partition order to the member with the
 *   fewest partitions that is below its quota (ties: member order). The number of
 *   partitions moved between members who stay is then the minimum possible.
 * cooperative-sticky: the same target as sticky; the runtime runs the two-phase
 *   cooperative protocol with mqb_assign_cooperative() below.
 *
 * No members: every owner[] is -1 (MQB_OK). n_partitions may be 0.
 */
#ifndef MQB_GROUPS_ASSIGNOR_H
#define MQB_GROUPS_ASSIGNOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mqb_assign_member {
	const char *member_id;     /* non-NULL, unique within the call */
	const char *instance_id;   /* NULL for a dynamic member */
} mqb_assign_member_t;

#define MQB_ASSIGN_MAX_MEMBERS     100000
#define MQB_ASSIGN_MAX_PARTITIONS  1000000

typedef struct mqb_assignor {
	const char *name;          /* "range" | "roundrobin" | "sticky" | "cooperative-sticky" */
	bool cooperative;          /* true: use the cooperative (two-phase) protocol */
	/*
	 * Compute owner[n_partitions]. prev_owner may be NULL (no history; range and
	 * roundrobin ignore it). Returns MQB_OK, MQB_ERR_INVAL (n out of limits, a
	 * prev_owner index out of range, NULL member_id), or MQB_ERR_NOMEM.
	 */
	int (*assign)(const mqb_assign_member_t *members, size_t n_members,
		      int32_t n_partitions, const int32_t *prev_owner, int32_t *owner);
} mqb_assignor_t;

extern const mqb_assignor_t mqb_assignor_range;
extern const mqb_assignor_t mqb_assignor_roundrobin;
extern const mqb_assignor_t mqb_assignor_sticky;
extern const mqb_assignor_t mqb_assignor_cooperative_sticky;

/* The assignor named name (the config value), or NULL. */
const mqb_assignor_t *mqb_assignor_find(const char *name);

/*
 * Fill idx[n_members] with member indexes in Kafka's member order (see above).
 * Returns MQB_OK or MQB_ERR_NOMEM.
 */
int mqb_assign_member_order(const mqb_assign_member_t *members, size_t n_members,
			    size_t *idx);

/*
 * Cooperative hand-over. Given prev_owner[] (as above) and the assignor's target[],
 * fill now_owner[p]:
 *   - target[p] when the partition does not move (prev_owner[p] == target[p]) or has no
 *     current owner (prev_owner[p] == -1): hand it out now;
 *   - -1 when it moves from one member to another: its previous owner must revoke it
 *     first (revoked[p] = true, if revoked is not NULL); give it to target[p] in the
 *     follow-up rebalance, once prev_owner[p] sent "revoked" (or its hand-over timed
 *     out). Until then nobody consumes it, so no two members own it at once.
 * Returns the number of partitions to revoke.
 */
size_t mqb_assign_cooperative(int32_t n_partitions, const int32_t *prev_owner,
			      const int32_t *target, int32_t *now_owner, bool *revoked);

/*
 * The fewest partitions that must change hands (between members present both before
 * and after) to reach any balanced assignment from prev_owner: used by tests and by
 * the runtime's log line "moved N (minimum N)".
 */
size_t mqb_assign_min_moves(size_t n_members, int32_t n_partitions, const int32_t *prev_owner);

#endif
