/*
 * kafka_connector.h — the Kafka forwarder connector (ops table in connector.h style).
 *
 * The daemon uses mqb_connector_kafka like every connector, and after init calls
 * mqb_kafka_connector_add_routes() to serve GET /offsets/translate on the stats
 * endpoint (the route is removed again by stop). Instances are owned by the daemon
 * (init/destroy); the HTTP endpoint must outlive the route (stop before mqb_http_stop).
 */
#ifndef MQB_KAFKA_CONNECTOR_H
#define MQB_KAFKA_CONNECTOR_H

#include "bridge/stats/http.h"
#include "connectors/connector.h"

extern const struct mqb_connector_ops mqb_connector_kafka;

/* Register GET /offsets/translate for inst (no-op when kafka is not configured). */
int mqb_kafka_connector_add_routes(void *inst, mqb_http_t *http);

#endif
