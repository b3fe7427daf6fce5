/*
 * config_check.h — private to the config module (config.c, config_check.c,
 * config_section.c): the core's checks beyond one key's type and range, and the
 * registry of the sections passed to one load.
 *
 * The mqb_config_check_* functions are the core tables' per-group checks (see
 * mqb_cfgt_check_fn): run after a group or list element is parsed, they may also fill
 * computed defaults (route name, group rebalance mode, heartbeat). mqb_config_finalize()
 * runs once after everything is parsed: it resolves stream names to indexes and checks
 * across the core's sections; then mqb_config_reg_check() runs every registered
 * section's check. All report the first problem through ctx and return -1.
 */
#ifndef MQB_CONFIG_CHECK_H
#define MQB_CONFIG_CHECK_H

#include "bridge/config.h"
#include "bridge/config_table.h"

mqb_cfgt_check_fn mqb_config_check_stats, mqb_config_check_stream, mqb_config_check_route,
	mqb_config_check_group;

int mqb_config_finalize(mqb_cfgt_ctx_t *ctx, mqb_config_t *cfg, const config_t *lc);

/* The registry (config_section.c): the top-level table = core's + sections' groups. */
struct mqb_config_reg *mqb_config_reg_new(mqb_cfgt_ctx_t *ctx, const mqb_cfgt_table_t *core,
					  const mqb_config_section_t *const *sections);
void mqb_config_reg_free(struct mqb_config_reg *reg);           /* NULL-safe */
const mqb_cfgt_table_t *mqb_config_reg_root(const struct mqb_config_reg *reg);
/* Bytes to allocate for the config: the mqb_config_t plus every section's struct. */
size_t mqb_config_reg_size(const struct mqb_config_reg *reg);
/* Set each section's present flag, then run the sections' checks in list order. */
int mqb_config_reg_check(mqb_cfgt_ctx_t *ctx, mqb_config_t *cfg, const config_setting_t *root);
/* The sections' own free callbacks (before the tables' strings are freed). */
void mqb_config_reg_free_sections(mqb_config_t *cfg);

#endif
