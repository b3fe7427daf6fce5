/*
 * config_fx.h — the configuration sections the tests load files with: the same as
 * mqbridged's (bridge/daemon/main.c: the routes check, then each connector's section
 * in its component order), so a test config means what it means to the daemon.
 * Header-only (tests and fuzz targets include it).
 */
#ifndef MQB_TEST_CONFIG_FX_H
#define MQB_TEST_CONFIG_FX_H

#include "bridge/config.h"
#include "bridge/ingest/route_check.h"
#include "connectors/kafka/kafka_conf.h"
#include "connectors/mqtt/mqtt_conf.h"

static inline const mqb_config_section_t *const *mqb_test_sections(void)
{
	static const mqb_config_section_t *const sections[] = {
		&mqb_route_check_section, &mqb_kafka_conf_section, &mqb_mqtt_conf_section, NULL };

	return sections;
}

#endif
