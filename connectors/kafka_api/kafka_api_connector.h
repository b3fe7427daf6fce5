/*
 * kafka_api_connector.h — the Kafka wire protocol served by mqbridged, as a
 * connector (connectors/connector.h): clients (kcat, librdkafka) list the streams,
 * fetch and produce records on the edge log, and join Kafka consumer groups
 * (kafka_api_group.h). Protocol coverage and limits: docs/KAFKA_API.md.
 */
#ifndef MQB_KAFKA_API_CONNECTOR_H
#define MQB_KAFKA_API_CONNECTOR_H

#include <stdbool.h>

#include "bridge/config.h"
#include "connectors/connector.h"

extern const struct mqb_connector_ops mqb_connector_kafka_api;

/* True when the configuration has a kafka_api section. */
bool mqb_kafka_api_enabled(const mqb_config_t *cfg);

/* The Kafka groups in GET /groups and /groups/<g> (kind "kafka"): through the group
 * host's views when mqbridge groups are configured, else on a /groups route of its
 * own. Removed again at stop. */
struct mqb_http;
int mqb_kafka_api_add_routes(void *inst, struct mqb_http *http);

#endif
