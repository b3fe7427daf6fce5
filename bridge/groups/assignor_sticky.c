/*
 * assignor_sticky.c — Kafka's StickyAssignor (and the target of CooperativeSticky) for
 * one stream: balanced, keeping as many previous owners as possible. See assignor.h.
 *
 * Cost: O(P log P + P * N) time, O(P + N) memory.
 */
#include <stdlib.h>

#include "bridge/err.h"
#include "bridge/groups/assignor_impl.h"

typedef struct quota_ent {
	size_t member;
	size_t rank;               /* position in Kafka's member order */
	size_t prev;               /* partitions owned before */
} quota_ent_t;

/* Most previously owned first, then member order. */
static int cmp_quota(const void *a, const void *b)
{
	const quota_ent_t *x = a, *y = b;

	if (x->prev != y->prev)
		return x->prev > y->prev ? -1 : 1;
	return x->rank < y->rank ? -1 : x->rank > y->rank;
}

static int sticky_assign(const mqb_assign_member_t *members, size_t n_members,
			 int32_t n_partitions, const int32_t *prev_owner, int32_t *owner)
{
	size_t *order = NULL, *rank = NULL, *quota = NULL, *have = NULL;
	quota_ent_t *qe = NULL;
	size_t base, extra;
	int rc;

	if ((rc = mqb_assign_check(members, n_members, n_partitions, prev_owner, owner)))
		return rc;
	if (n_members == 0 || n_partitions == 0)
		return MQB_OK;
	order = malloc(n_members * sizeof(*order));
	rank = malloc(n_members * sizeof(*rank));
	quota = calloc(n_members, sizeof(*quota));
	have = calloc(n_members, sizeof(*have));
	qe = calloc(n_members, sizeof(*qe));
	if (!order || !rank || !quota || !have || !qe) {
		rc = MQB_ERR_NOMEM;
		goto out;
	}
	if ((rc = mqb_assign_member_order(members, n_members, order)))
		goto out;
	for (size_t i = 0; i < n_members; i++) {
		rank[order[i]] = i;
		qe[i].member = i;
	}
	for (size_t i = 0; i < n_members; i++)
		qe[i].rank = rank[i];
	for (int32_t p = 0; prev_owner && p < n_partitions; p++)
		if (prev_owner[p] >= 0)
			qe[prev_owner[p]].prev++;

	/* the P%N larger quotas go to the members that owned the most */
	base = (size_t)n_partitions / n_members;
	extra = (size_t)n_partitions % n_members;
	qsort(qe, n_members, sizeof(*qe), cmp_quota);
	for (size_t i = 0; i < n_members; i++)
		quota[qe[i].member] = base + (i < extra);

	/* keep previous partitions up to the quota, lowest numbers first */
	for (int32_t p = 0; prev_owner && p < n_partitions; p++) {
		int32_t m = prev_owner[p];
		if (m >= 0 && have[m] < quota[m]) {
			owner[p] = m;
			have[m]++;
		}
	}
	/* the rest, in partition order, to the least loaded member below its quota */
	for (int32_t p = 0; p < n_partitions; p++) {
		size_t best = n_members;

		if (owner[p] >= 0)
			continue;
		for (size_t i = 0; i < n_members; i++) {
			size_t m = order[i];
			if (have[m] >= quota[m])
				continue;
			if (best == n_members || have[m] < have[best])
				best = m;
		}
		if (best == n_members) {   /* cannot happen: quotas sum to P */
			rc = MQB_ERR_STATE;
			goto out;
		}
		owner[p] = (int32_t)best;
		have[best]++;
	}
out:
	free(order);
	free(rank);
	free(quota);
	free(have);
	free(qe);
	return rc;
}

const mqb_assignor_t mqb_assignor_sticky = {
	.name = "sticky",
	.cooperative = false,
	.assign = sticky_assign,
};

const mqb_assignor_t mqb_assignor_cooperative_sticky = {
	.name = "cooperative-sticky",
	.cooperative = true,
	.assign = sticky_assign,
};
