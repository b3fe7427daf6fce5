/*
 * coordinator_test.c — the inspection hooks of coordinator_test.h (tests only).
 */
#include "bridge/groups/coordinator_test.h"

#include "bridge/groups/group_internal.h"

int64_t mqb_coord_generation(mqb_coord_t *c, const char *group)
{
	grp_t *g = grp_find(c, group);
	return g ? g->generation : -1;
}

size_t mqb_coord_member_count(mqb_coord_t *c, const char *group)
{
	grp_t *g = grp_find(c, group);
	return g ? g->n_members : 0;
}

int64_t mqb_coord_committed(mqb_coord_t *c, const char *group, int32_t partition)
{
	grp_t *g = grp_find(c, group);

	if (!g || partition < 0 || partition >= g->nparts)
		return -1;
	return g->mode->part_committed(&g->parts[partition]);
}
