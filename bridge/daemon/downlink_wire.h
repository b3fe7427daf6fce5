/*
 * downlink_wire.h — the composition of the Kafka -> MQTT downlink: the downlink
 * (connectors/kafka/downlink.h) publishes through a mqb_dl_publisher_t that this file
 * implements on an MQTT connector session (connectors/mqtt/session.h). Only the daemon
 * may know both connectors, so the wiring lives here, as one more component:
 * mqb_connector_downlink (enabled when kafka.downlink has entries).
 *
 * The session is the downlink's own MQTT connection (client id "<mqtt.client_id>-dl",
 * clean start, the mqtt section's broker, TLS, credentials and reconnect backoff), run
 * by the downlink's thread. A PUBACK/PUBCOMP (QoS 0: the socket write) completes a publish;
 * publishes pending at close complete with MQB_ERR_CLOSED.
 *
 * Threads: as downlink.h (the session belongs to the downlink thread; wakeup from any).
 * Ownership: the component instance owns the session and the downlink.
 */
#ifndef MQB_DAEMON_DOWNLINK_WIRE_H
#define MQB_DAEMON_DOWNLINK_WIRE_H

#include <stdbool.h>

#include "bridge/config.h"
#include "connectors/connector.h"

extern const struct mqb_connector_ops mqb_connector_downlink;

bool mqb_downlink_enabled(const mqb_config_t *cfg);

#endif
