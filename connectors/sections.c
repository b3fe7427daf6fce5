/* sections.c — every connector's configuration section (see sections.h). */
#include "connectors/sections.h"

#include "bridge/config_table.h"
#include "bridge/ingest/route_check.h"
#include "connectors/kafka/kafka_conf.h"
#include "connectors/kafka_api/kafka_api_conf.h"
#include "connectors/mqtt/mqtt_conf.h"
#include "connectors/amqp/amqp_conf.h"

const mqb_config_section_t *const *mqb_connector_sections(void)
{
	static const mqb_config_section_t *const sections[] = {
		&mqb_route_check_section, &mqb_kafka_conf_section, &mqb_kafka_api_conf_section,
		&mqb_mqtt_conf_section, &mqb_amqp_conf_section, NULL };

	return sections;
}
