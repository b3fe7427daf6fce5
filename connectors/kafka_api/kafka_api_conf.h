/*
 * kafka_api_conf.h — the `kafka_api` config section (the Kafka wire protocol served
 * by mqbridged): its struct and key table. Absent section: off.
 *
 *   kafka_api = { listen = "127.0.0.1:9092"; advertised = "edge1:9092";
 *                 max_connections = 64; max_request_bytes = 104857600;
 *                 sasl_password_file = "/etc/mqbridge/kafka.passwd";
 *                 tls_cert = "/etc/mqbridge/kafka.crt"; tls_key = "/etc/mqbridge/kafka.key";
 *                 tls_ca = "/etc/mqbridge/clients-ca.crt"; };
 *
 * The table checks tls_cert/tls_key go together and tls_ca needs them; whether the
 * files hold a usable certificate and matching key is the connector's check_config
 * (kafka_api_tls.c loads them).
 *
 * The section is registered by the connector (connector ops .config): the daemon, the
 * CLI and the tests pass mqb_kafka_api_conf_section to mqb_config_load().
 *
 * Ownership: strings belong to the configuration (freed by mqb_config_free()).
 */
#ifndef MQB_KAFKA_API_CONF_H
#define MQB_KAFKA_API_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge/config.h"
#include "bridge/config_table.h"

typedef struct mqb_kafka_api_conf {
	bool enabled;                /* true when the section exists */
	char *listen;                /* "127.0.0.1:9092" (port 0: any free one) */
	char *advertised;            /* host:port given to clients in Metadata; NULL: listen */
	int max_connections;         /* 64; more are accepted and closed at once */
	int64_t max_request_bytes;   /* 100 MiB; a larger request frame closes the connection */
	int max_groups;              /* Kafka consumer groups at once (created on demand) */
	int max_group_members;       /* members (and pending member ids) per group */
	int group_initial_rebalance_delay_ms;  /* an empty group waits this long for more */
	int group_min_session_timeout_ms, group_max_session_timeout_ms;
	char *sasl_password_file;    /* SASL/PLAIN users (bridge/passwd.h); NULL: no SASL */
	char *tls_cert, *tls_key;    /* PEM chain and key: the listener speaks TLS only */
	char *tls_ca;                /* PEM CAs: client certificates required, verified */
	int tls_handshake_timeout_ms; /* a connection not through its handshake is closed */
	int line;
} mqb_kafka_api_conf_t;

/* The section descriptor (key table, struct size). */
extern const mqb_config_section_t mqb_kafka_api_conf_section;

/* The section of cfg (never NULL; enabled false when absent). */
const mqb_kafka_api_conf_t *mqb_kafka_api_conf(const mqb_config_t *cfg);

#endif
