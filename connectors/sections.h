/*
 * sections.h — every configuration section the connectors bring, in one list, for the
 * programs that read mqbridged's file without running the connectors: the CLI
 * (`mqbridge consume -c`, `groups`), the tests and the fuzz targets. mqbridged itself
 * takes the sections from its component table (bridge/daemon/main.c: each connector's
 * ops->config); a connector with a section adds one line to each.
 *
 * The list is static and NULL-terminated (mqb_config_load()'s sections argument).
 */
#ifndef MQB_CONNECTOR_SECTIONS_H
#define MQB_CONNECTOR_SECTIONS_H

#include "bridge/config.h"

const mqb_config_section_t *const *mqb_connector_sections(void);

#endif
