/*
 * cli_config.c — loading mqbridged's configuration file in the CLI (cli.h) with every
 * connector's section (connectors/sections.h), so a file the daemon accepts loads here.
 */
#include "bridge/config.h"
#include "connectors/sections.h"
#include "tools/cli.h"

struct mqb_config *mqb_cli_config_load(const char *path, char *errstr, size_t errstr_size)
{
	return mqb_config_load(path, mqb_connector_sections(), errstr, errstr_size);
}
