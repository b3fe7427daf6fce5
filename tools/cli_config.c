/*
 * cli_config.c — loading mqbridged's configuration file in the CLI (cli.h): the same
 * sections as the daemon's connector table (bridge/daemon/main.c), so a file the
 * daemon accepts loads here too. A connector with a config section adds a line here.
 */
#include "bridge/config.h"
#include "bridge/ingest/route_check.h"
#include "connectors/kafka/kafka_conf.h"
#include "connectors/mqtt/mqtt_conf.h"
#include "tools/cli.h"

struct mqb_config *mqb_cli_config_load(const char *path, char *errstr, size_t errstr_size)
{
	static const mqb_config_section_t *const sections[] = {
		&mqb_route_check_section, &mqb_kafka_conf_section, &mqb_mqtt_conf_section, NULL };

	return mqb_config_load(path, sections, errstr, errstr_size);
}
