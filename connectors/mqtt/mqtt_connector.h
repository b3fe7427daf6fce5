/*
 * mqtt_connector.h — the MQTT ingest source as a connector (connector.h ops table), the
 * way bridge/daemon/main.c starts and stops it. The instance is an mqb_mqtt_source_t
 * (mqtt_source.h), which feeds the pipeline (bridge/ingest/pipeline.h).
 */
#ifndef MQB_MQTT_CONNECTOR_H
#define MQB_MQTT_CONNECTOR_H

#include "connectors/connector.h"

extern const struct mqb_connector_ops mqb_connector_mqtt;

#endif
