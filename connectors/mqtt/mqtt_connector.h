/*
 * mqtt_connector.h — the MQTT ingest as a connector (connector.h ops table), the way
 * bridge/daemon/main.c starts and stops it. The instance is an mqb_ingest_t (ingest.h).
 */
#ifndef MQB_MQTT_CONNECTOR_H
#define MQB_MQTT_CONNECTOR_H

#include "connectors/connector.h"

extern const struct mqb_connector_ops mqb_connector_mqtt;

#endif
