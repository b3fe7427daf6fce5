/*
 * kafka_api_connector.h — the Kafka wire protocol served by mqbridged, as a
 * connector (connectors/connector.h): clients (kcat, librdkafka) list the streams,
 * fetch and produce records on the edge log. Group APIs are not served yet.
 * Protocol coverage and limits: docs/KAFKA_API.md.
 */
#ifndef MQB_KAFKA_API_CONNECTOR_H
#define MQB_KAFKA_API_CONNECTOR_H

#include <stdbool.h>

#include "bridge/config.h"
#include "connectors/connector.h"

extern const struct mqb_connector_ops mqb_connector_kafka_api;

/* True when the configuration has a kafka_api section. */
bool mqb_kafka_api_enabled(const mqb_config_t *cfg);

#endif
