/*
 * plugin_groups.h — consumer groups in plugin mode, composed: the process's group host
 * (bridge/groups/group_host.h), the MQTT groups transport that speaks the protocol
 * (connectors/mqtt/groups_transport.h: decode control messages, format records) and the
 * broker side (connectors/mosquitto/mosq_groups.h: the message / tick / disconnect
 * callbacks and direct publishes). The two connectors do not know each other; this
 * file (part of the plugin's composition root) joins them.
 *
 * The broker's thread is the host's ticker; a member id must be the publishing client's
 * id (docs/PROTOCOL.md "Plugin mode"); a client's disconnect ends its memberships.
 *
 * Threads: start and stop on the broker's thread (plugin init / cleanup).
 * Ownership: cfg, store, metrics and http are borrowed and must outlive the groups;
 * stop() saves every group and frees everything. NULL-safe.
 */
#ifndef MQB_DAEMON_PLUGIN_GROUPS_H
#define MQB_DAEMON_PLUGIN_GROUPS_H

#include <stddef.h>

#include "bridge/config.h"
#include "bridge/stats/http.h"
#include "bridge/stats/metrics.h"
#include "bridge/store/store.h"

typedef struct plugin_groups plugin_groups_t;

/* NULL + errstr on failure. http may be NULL (no /groups views). */
plugin_groups_t *plugin_groups_start(void *plugin_id, const mqb_config_t *cfg,
				     mqb_store_t *store, mqb_metrics_t *metrics,
				     mqb_http_t *http, char *errstr, size_t errstr_size);

/* Remove the HTTP routes (before the endpoint stops). NULL-safe. */
void plugin_groups_remove_routes(plugin_groups_t *pg);

/* Unregister the broker callbacks, save every group, free. NULL-safe. */
void plugin_groups_stop(plugin_groups_t *pg);

#endif
