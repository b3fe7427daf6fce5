/*
 * groups_runtime.h — the consumer-group coordinator as a daemon component: its own
 * thread and MQTT session (client id "<mqtt.client_id>-groups"), the MQTT transport of
 * the group protocol (groups_transport.h), the coordinator core
 * (bridge/groups/coordinator.h), its HTTP routes
 * (GET /groups, GET /groups/<g>) and its metrics (mqbridge_group_*).
 *
 * The daemon drives it like a connector (connector.h): init builds everything
 * (store streams must be open), add_routes registers the HTTP routes, start starts
 * the thread, stop leaves the broker cleanly, saves every group's position and
 * removes the routes, destroy frees. Instances are owned by the daemon.
 */
#ifndef MQB_MQTT_GROUPS_RUNTIME_H
#define MQB_MQTT_GROUPS_RUNTIME_H

#include <stdbool.h>

#include "bridge/stats/http.h"
#include "connectors/connector.h"

extern const struct mqb_connector_ops mqb_connector_groups;

/* true when the config has at least one group. */
bool mqb_groups_enabled(const mqb_config_t *cfg);

/* Serve GET /groups and GET /groups/<g> from inst (removed again by stop). */
int mqb_groups_add_routes(void *inst, mqb_http_t *http);

#endif
