/*
 * amqp_connector.h — mqb_connector_amqp: AMQP 1.0 served by mqbridged (docs/AMQP.md),
 * enabled by an `amqp` section. Built when CMake finds Qpid Proton (MQB_HAVE_AMQP).
 */
#ifndef MQB_AMQP_CONNECTOR_H
#define MQB_AMQP_CONNECTOR_H

#include <stdbool.h>

#include "connectors/connector.h"

extern const struct mqb_connector_ops mqb_connector_amqp;

/* true when cfg has an amqp section. */
bool mqb_amqp_enabled(const mqb_config_t *cfg);

#endif
