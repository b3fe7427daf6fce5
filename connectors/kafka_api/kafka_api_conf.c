/*
 * kafka_api_conf.c — the `kafka_api` section's key table (see kafka_api_conf.h).
 * Address syntax (listen, advertised) is checked by the connector's check_config and
 * at start (mqb_listen_parse); the table checks types and ranges.
 */
#include "connectors/kafka_api/kafka_api_conf.h"

#include <stddef.h>

#define OFF(f) offsetof(mqb_kafka_api_conf_t, f)

static int conf_check(mqb_cfgt_ctx_t *ctx, void *base, const config_setting_t *s,
		      const char *path)
{
	mqb_kafka_api_conf_t *k = base;

	(void)path;
	k->enabled = true;
	if (!k->tls_cert != !k->tls_key)
		return mqb_cfgt_error(ctx, mqb_cfgt_member(s, k->tls_cert ? "tls_cert" : "tls_key"),
				      "kafka_api", "tls_cert and tls_key go together (got only %s)",
				      k->tls_cert ? "tls_cert" : "tls_key");
	if (k->tls_ca && !k->tls_cert)
		return mqb_cfgt_error(ctx, mqb_cfgt_member(s, "tls_ca"), "kafka_api.tls_ca",
				      "client certificates need TLS: set tls_cert and tls_key "
				      "too");
	return 0;
}

static const mqb_cfgt_key_t keys[] = {
	{ .name = "listen", .type = MQB_CFGT_STRING, .off = OFF(listen),
	  .def_str = "127.0.0.1:9092", .flags = MQB_CFGF_NONEMPTY,
	  .desc = "Kafka protocol listener host:port or [v6addr]:port (port 0: any free one)" },
	{ .name = "advertised", .type = MQB_CFGT_STRING, .off = OFF(advertised),
	  .flags = MQB_CFGF_NONEMPTY, .def_doc = "listen (the host name for 0.0.0.0 / ::)",
	  .desc = "host:port clients are told to connect to (Metadata); set it when "
		  "listening on 0.0.0.0 or behind NAT" },
	{ .name = "max_connections", .type = MQB_CFGT_INT, .off = OFF(max_connections),
	  .min = 1, .max = 65535, .def_int = 64,
	  .desc = "client connections at once; more are closed when accepted" },
	{ .name = "max_request_bytes", .type = MQB_CFGT_INT64, .off = OFF(max_request_bytes),
	  .min = 1024, .max = 1073741824, .def_int = 104857600,
	  .desc = "largest request frame (bytes); a larger size field closes the connection" },
	{ .name = "max_groups", .type = MQB_CFGT_INT, .off = OFF(max_groups),
	  .min = 0, .max = 100000, .def_int = 100,
	  .desc = "Kafka consumer groups (created on demand by group id, kept while they "
		  "have members or committed offsets); a new one beyond this is refused "
		  "with GROUP_AUTHORIZATION_FAILED (0: no Kafka groups)" },
	{ .name = "max_group_members", .type = MQB_CFGT_INT, .off = OFF(max_group_members),
	  .min = 1, .max = 100000, .def_int = 100,
	  .desc = "members of one Kafka group (pending member ids included); more get "
		  "GROUP_MAX_SIZE_REACHED" },
	{ .name = "group_initial_rebalance_delay_ms", .type = MQB_CFGT_INT,
	  .off = OFF(group_initial_rebalance_delay_ms), .min = 0, .max = 300000,
	  .def_int = 3000,
	  .desc = "how long the first rebalance of an empty group waits for more members "
		  "(Kafka's group.initial.rebalance.delay.ms)" },
	{ .name = "group_min_session_timeout_ms", .type = MQB_CFGT_INT,
	  .off = OFF(group_min_session_timeout_ms), .min = 100, .max = 3600000,
	  .def_int = 6000,
	  .desc = "shortest session timeout a Kafka member may ask for "
		  "(group.min.session.timeout.ms); shorter: INVALID_SESSION_TIMEOUT" },
	{ .name = "group_max_session_timeout_ms", .type = MQB_CFGT_INT,
	  .off = OFF(group_max_session_timeout_ms), .min = 100, .max = 3600000,
	  .def_int = 1800000,
	  .desc = "longest session timeout a Kafka member may ask for "
		  "(group.max.session.timeout.ms)" },
	{ .name = "sasl_password_file", .type = MQB_CFGT_STRING, .off = OFF(sasl_password_file),
	  .flags = MQB_CFGF_NONEMPTY, .def_doc = "none: no authentication",
	  .desc = "SASL/PLAIN users, one \"user:password\" a line (# comments); must not "
		  "be readable or writable by others. Set: clients must authenticate "
		  "(security.protocol=SASL_PLAINTEXT, sasl.mechanism=PLAIN) and any other "
		  "request before that closes the connection" },
	{ .name = "tls_cert", .type = MQB_CFGT_STRING, .off = OFF(tls_cert),
	  .flags = MQB_CFGF_NONEMPTY | MQB_CFGF_PATH | MQB_CFGF_READABLE,
	  .def_doc = "none: plaintext",
	  .desc = "PEM certificate (chain) of the listener: it speaks TLS only (TLS 1.2 "
		  "or newer; security.protocol=SSL, or SASL_SSL with sasl_password_file)" },
	{ .name = "tls_key", .type = MQB_CFGT_STRING, .off = OFF(tls_key),
	  .flags = MQB_CFGF_NONEMPTY | MQB_CFGF_PATH | MQB_CFGF_READABLE,
	  .desc = "PEM private key of tls_cert (not passphrase-protected)" },
	{ .name = "tls_ca", .type = MQB_CFGT_STRING, .off = OFF(tls_ca),
	  .flags = MQB_CFGF_NONEMPTY | MQB_CFGF_PATH | MQB_CFGF_READABLE,
	  .def_doc = "none: no client certificates",
	  .desc = "PEM CA certificate(s): every client must present a certificate signed "
		  "by one (Kafka's ssl.client.auth=required)" },
	{ .name = "tls_handshake_timeout_ms", .type = MQB_CFGT_INT,
	  .off = OFF(tls_handshake_timeout_ms), .min = 100, .max = 600000, .def_int = 10000,
	  .desc = "a TLS connection not through its handshake after this long is closed "
		  "(checked once a second)" },
	{ .name = NULL },
};

static const mqb_cfgt_table_t kafka_api_table = {
	"kafka_api", keys, 0, OFF(line), conf_check };

const mqb_config_section_t mqb_kafka_api_conf_section = {
	.name = "kafka_api",
	.desc = "Kafka wire protocol served by mqbridged (absent: off)",
	.table = &kafka_api_table,
	.size = sizeof(mqb_kafka_api_conf_t),
};

const mqb_kafka_api_conf_t *mqb_kafka_api_conf(const mqb_config_t *cfg)
{
	return mqb_config_section(cfg, "kafka_api");
}
