/*
 * assignor_roundrobin.c — Kafka's RoundRobinAssignor for one stream: partitions dealt
 * in turn to the members in Kafka's order (partition p -> member p % N). See assignor.h.
 */
#include <stdlib.h>

#include "bridge/err.h"
#include "bridge/groups/assignor_impl.h"

static int roundrobin_assign(const mqb_assign_member_t *members, size_t n_members,
			     int32_t n_partitions, const int32_t *prev_owner, int32_t *owner)
{
	size_t *order = NULL;
	int rc;

	if ((rc = mqb_assign_check(members, n_members, n_partitions, prev_owner, owner)))
		return rc;
	if (n_members == 0 || n_partitions == 0)
		return MQB_OK;
	if (!(order = malloc(n_members * sizeof(*order))))
		return MQB_ERR_NOMEM;
	if ((rc = mqb_assign_member_order(members, n_members, order)) == MQB_OK)
		for (int32_t p = 0; p < n_partitions; p++)
			owner[p] = (int32_t)order[(size_t)p % n_members];
	free(order);
	return rc;
}

const mqb_assignor_t mqb_assignor_roundrobin = {
	.name = "roundrobin",
	.cooperative = false,
	.assign = roundrobin_assign,
};
