/*
 * coordinator_test.h — inspection hooks for tests: numbers a test asserts on that no
 * transport or operator view needs as such. Not part of the coordinator's API; only
 * tests include it. Same thread rule as coordinator.h.
 */
#ifndef MQB_GROUPS_COORDINATOR_TEST_H
#define MQB_GROUPS_COORDINATOR_TEST_H

#include <stddef.h>
#include <stdint.h>

#include "bridge/groups/coordinator.h"

int64_t mqb_coord_generation(mqb_coord_t *c, const char *group);       /* -1 unknown */
size_t mqb_coord_member_count(mqb_coord_t *c, const char *group);
/* Committed offset of (group, partition), or -1. */
int64_t mqb_coord_committed(mqb_coord_t *c, const char *group, int32_t partition);

#endif
