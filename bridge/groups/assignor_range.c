/*
 * assignor_range.c — Kafka's RangeAssignor for one stream: members in Kafka's order,
 * contiguous ranges of P/N partitions, the first P%N members one more. See assignor.h.
 */
#include <stdlib.h>

#include "bridge/err.h"
#include "bridge/groups/assignor_impl.h"

static int range_assign(const mqb_assign_member_t *members, size_t n_members,
			int32_t n_partitions, const int32_t *prev_owner, int32_t *owner)
{
	size_t *order = NULL, base, extra, p = 0;
	int rc;

	if ((rc = mqb_assign_check(members, n_members, n_partitions, prev_owner, owner)))
		return rc;
	if (n_members == 0 || n_partitions == 0)
		return MQB_OK;
	if (!(order = malloc(n_members * sizeof(*order))))
		return MQB_ERR_NOMEM;
	if ((rc = mqb_assign_member_order(members, n_members, order)))
		goto out;
	base = (size_t)n_partitions / n_members;
	extra = (size_t)n_partitions % n_members;
	for (size_t i = 0; i < n_members; i++) {
		size_t n = base + (i < extra);
		for (size_t k = 0; k < n; k++)
			owner[p++] = (int32_t)order[i];
	}
out:
	free(order);
	return rc;
}

const mqb_assignor_t mqb_assignor_range = {
	.name = "range",
	.cooperative = false,
	.assign = range_assign,
};
