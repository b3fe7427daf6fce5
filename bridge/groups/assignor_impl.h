/*
 * assignor_impl.h — internal helpers shared by the assignor implementations
 * (assignor_range.c, assignor_roundrobin.c, assignor_sticky.c). Not for other modules.
 */
#ifndef MQB_GROUPS_ASSIGNOR_IMPL_H
#define MQB_GROUPS_ASSIGNOR_IMPL_H

#include "bridge/groups/assignor.h"

/*
 * Validate an assign() call (limits, member ids, prev_owner indexes) and set every
 * owner[] to -1. MQB_OK or MQB_ERR_INVAL.
 */
int mqb_assign_check(const mqb_assign_member_t *members, size_t n_members,
		     int32_t n_partitions, const int32_t *prev_owner, int32_t *owner);

#endif
