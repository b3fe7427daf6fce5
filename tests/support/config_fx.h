/*
 * config_fx.h — the configuration sections the tests load files with: every
 * connector's (connectors/sections.h), as the CLI does, so a test config means what it
 * means to the daemon. Header-only (tests and fuzz targets include it).
 */
#ifndef MQB_TEST_CONFIG_FX_H
#define MQB_TEST_CONFIG_FX_H

#include "bridge/config.h"
#include "bridge/ingest/route_check.h"
#include "connectors/kafka/kafka_conf.h"
#include "connectors/kafka_api/kafka_api_conf.h"
#include "connectors/mqtt/mqtt_conf.h"
#include "connectors/sections.h"

static inline const mqb_config_section_t *const *mqb_test_sections(void)
{
	return mqb_connector_sections();
}

#endif
