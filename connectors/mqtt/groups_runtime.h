/*
 * groups_runtime.h — consumer groups over MQTT as a daemon component: its own thread
 * and MQTT session (client id "<mqtt.client_id>-groups") carrying the MQTT transport of
 * the group protocol (groups_transport.h) to the process's coordinator
 * (bridge/groups/group_host.h, given in env->groups; the host owns the HTTP views and
 * metrics). Its thread is the host's ticker.
 *
 * The daemon drives it like a connector (connector.h): init builds the session and the
 * transport, start starts the thread, stop saves every group's position and leaves the
 * broker cleanly, destroy frees. The daemon destroys the host after stop and before
 * destroy. Instances are owned by the daemon.
 */
#ifndef MQB_MQTT_GROUPS_RUNTIME_H
#define MQB_MQTT_GROUPS_RUNTIME_H

#include <stdbool.h>

#include "bridge/stats/http.h"
#include "connectors/connector.h"

extern const struct mqb_connector_ops mqb_connector_groups;

/* true when the config has at least one group. */
bool mqb_groups_enabled(const mqb_config_t *cfg);

#endif
