/*
 * assignor.c — the assignor table, Kafka's member order and the helpers shared by the
 * assignors (cooperative hand-over, minimum moves). See assignor.h.
 */
#include "bridge/groups/assignor.h"

#include <stdlib.h>
#include <string.h>

#include "bridge/err.h"
#include "bridge/groups/assignor_impl.h"

static const mqb_assignor_t *const assignors[] = {
	&mqb_assignor_range,
	&mqb_assignor_roundrobin,
	&mqb_assignor_sticky,
	&mqb_assignor_cooperative_sticky,
};

const mqb_assignor_t *mqb_assignor_find(const char *name)
{
	for (size_t i = 0; name && i < sizeof(assignors) / sizeof(assignors[0]); i++)
		if (strcmp(assignors[i]->name, name) == 0)
			return assignors[i];
	return NULL;
}

/* qsort has no context argument: order an array of pointers instead. */
static int cmp_member(const void *a, const void *b)
{
	const mqb_assign_member_t *x = *(const mqb_assign_member_t *const *)a;
	const mqb_assign_member_t *y = *(const mqb_assign_member_t *const *)b;

	if (x->instance_id && y->instance_id) {
		int c = strcmp(x->instance_id, y->instance_id);
		if (c)
			return c;
		return strcmp(x->member_id, y->member_id);
	}
	if (x->instance_id)
		return -1;
	if (y->instance_id)
		return 1;
	return strcmp(x->member_id, y->member_id);
}

int mqb_assign_member_order(const mqb_assign_member_t *members, size_t n_members,
			    size_t *idx)
{
	const mqb_assign_member_t **ptr;

	if (n_members == 0)
		return MQB_OK;
	if (!(ptr = malloc(n_members * sizeof(*ptr))))
		return MQB_ERR_NOMEM;
	for (size_t i = 0; i < n_members; i++)
		ptr[i] = &members[i];
	qsort(ptr, n_members, sizeof(*ptr), cmp_member);
	for (size_t i = 0; i < n_members; i++)
		idx[i] = (size_t)(ptr[i] - members);
	free(ptr);
	return MQB_OK;
}

size_t mqb_assign_cooperative(int32_t n_partitions, const int32_t *prev_owner,
			      const int32_t *target, int32_t *now_owner, bool *revoked)
{
	size_t n = 0;

	for (int32_t p = 0; p < n_partitions; p++) {
		int32_t prev = prev_owner ? prev_owner[p] : -1;
		bool moves = prev >= 0 && prev != target[p];

		now_owner[p] = moves ? -1 : target[p];
		if (revoked)
			revoked[p] = moves;
		n += moves;
	}
	return n;
}

size_t mqb_assign_min_moves(size_t n_members, int32_t n_partitions, const int32_t *prev_owner)
{
	size_t *cnt, base, extra, keep = 0, over = 0, owned = 0;

	if (n_members == 0 || n_partitions <= 0 || !prev_owner)
		return 0;
	if (!(cnt = calloc(n_members, sizeof(*cnt))))
		return 0;
	for (int32_t p = 0; p < n_partitions; p++)
		if (prev_owner[p] >= 0 && (size_t)prev_owner[p] < n_members) {
			cnt[prev_owner[p]]++;
			owned++;
		}
	base = (size_t)n_partitions / n_members;
	extra = (size_t)n_partitions % n_members;
	/* kept = sum min(cnt, base) + min(extra, members owning more than base) */
	for (size_t i = 0; i < n_members; i++) {
		keep += cnt[i] < base ? cnt[i] : base;
		over += cnt[i] > base;
	}
	keep += over < extra ? over : extra;
	free(cnt);
	return owned - keep;
}

int mqb_assign_check(const mqb_assign_member_t *members, size_t n_members,
		     int32_t n_partitions, const int32_t *prev_owner, int32_t *owner)
{
	if (n_members > MQB_ASSIGN_MAX_MEMBERS || n_partitions < 0 ||
	    n_partitions > MQB_ASSIGN_MAX_PARTITIONS || (n_partitions && !owner) ||
	    (n_members && !members))
		return MQB_ERR_INVAL;
	for (size_t i = 0; i < n_members; i++)
		if (!members[i].member_id)
			return MQB_ERR_INVAL;
	for (int32_t p = 0; prev_owner && p < n_partitions; p++)
		if (prev_owner[p] < -1 || (prev_owner[p] >= 0 && (size_t)prev_owner[p] >= n_members))
			return MQB_ERR_INVAL;
	for (int32_t p = 0; p < n_partitions; p++)
		owner[p] = -1;
	return MQB_OK;
}
