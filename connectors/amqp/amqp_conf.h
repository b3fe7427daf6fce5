/*
 * amqp_conf.h — the `amqp` config section (AMQP 1.0 served by mqbridged through Qpid
 * Proton, docs/AMQP.md): its struct and key table. Absent section: off.
 *
 *   amqp = { listen = "127.0.0.1:5672"; settle = "stored";
 *            password_file = "/etc/mqbridge/amqp.passwd"; };
 *
 * SASL: ANONYMOUS is offered to peers on a loopback address, and to everyone with
 * allow_anonymous = true; PLAIN is offered when password_file is set (lines
 * "user:password", the file must not be readable by others). TLS when tls_cert and
 * tls_key are both set.
 *
 * Ownership: strings belong to the configuration (freed by mqb_config_free()).
 */
#ifndef MQB_AMQP_CONF_H
#define MQB_AMQP_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge/config.h"
#include "bridge/config_table.h"

enum mqb_amqp_settle { MQB_AMQP_SETTLE_STORED = 0, MQB_AMQP_SETTLE_DURABLE = 1 };

typedef struct mqb_amqp_conf {
	bool enabled;                /* true when the section exists */
	char *listen;                /* "127.0.0.1:5672" (port 0: any free one) */
	int settle;                  /* enum mqb_amqp_settle */
	bool allow_anonymous;        /* ANONYMOUS also for non-loopback peers */
	char *password_file;         /* PLAIN users; NULL: no PLAIN */
	char *tls_cert, *tls_key;    /* PEM files; both or neither */
	int max_connections;         /* 256 */
	int max_links_per_connection;/* 64 */
	int idle_timeout_ms;         /* 60000; 0: none */
	int max_frame_size;          /* 65536 */
	int64_t max_message_bytes;   /* 1 MiB: larger is rejected */
	int credit_window;           /* 256: credit granted to a sender link */
	int line;
} mqb_amqp_conf_t;

extern const mqb_config_section_t mqb_amqp_conf_section;

/* The section of cfg (never NULL; enabled false when absent). */
const mqb_amqp_conf_t *mqb_amqp_conf(const mqb_config_t *cfg);

#endif
