/*
 * config_check.h — checks of the configuration beyond one key's type and range (private
 * to the config module: config.c, config_check.c).
 *
 * The mqb_config_check_* functions are the tables' per-group checks (see
 * mqb_cfgt_check_fn): run after a group or list element is parsed, they may also fill
 * computed defaults (route name, group rebalance mode, heartbeat). mqb_config_finalize()
 * runs once after everything is parsed: it resolves stream names to indexes and checks
 * across sections. All report the first problem through ctx and return -1.
 */
#ifndef MQB_CONFIG_CHECK_H
#define MQB_CONFIG_CHECK_H

#include "bridge/config.h"
#include "bridge/config_table.h"

mqb_cfgt_check_fn mqb_config_check_mqtt, mqb_config_check_stats, mqb_config_check_stream,
	mqb_config_check_route, mqb_config_check_forward, mqb_config_check_kafka,
	mqb_config_check_group;

int mqb_config_finalize(mqb_cfgt_ctx_t *ctx, mqb_config_t *cfg, const config_t *lc);

#endif
