/*
 * route_check.h — the configuration checks of routes, which only the ingest module can
 * make: routes[].filter is a valid MQTT topic filter (and not a $share/ one: filters
 * are matched against topic names), routes[].key compiles as a key template and uses
 * no topic level the filter can never have.
 *
 * Why here and not in the config core: the core (bridge/config*) parses routes' keys,
 * types and stream references, but what a topic filter or a key template is belongs to
 * the ingest module (topic.h, keytmpl.h), which sits above the core. The check is
 * therefore a check-only entry of the section list (config_table.h: name NULL, no
 * keys) that every loader which will build a router passes to mqb_config_load()
 * (bridge/daemon/main.c, the CLI, the tests). The core then links nothing above it.
 * Errors keep the form "FILE:LINE: routes.[i].filter: bad MQTT topic filter: ...".
 *
 * Thread: runs inside mqb_config_load() on the caller's thread; no state.
 */
#ifndef MQB_ROUTE_CHECK_H
#define MQB_ROUTE_CHECK_H

#include "bridge/config_table.h"

extern const mqb_config_section_t mqb_route_check_section;

#endif
