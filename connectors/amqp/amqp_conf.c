/*
 * amqp_conf.c — the `amqp` section's key table and its checks (see amqp_conf.h).
 * The listen syntax and the password file are checked by the connector's check_config
 * (amqp_connector.c), the TLS pair and the anonymous rule here.
 */
#include "connectors/amqp/amqp_conf.h"

#include <stddef.h>
#include <string.h>

#define OFF(f) offsetof(mqb_amqp_conf_t, f)
#define T mqb_amqp_conf_t

static const mqb_cfgt_choice_t settle_choices[] = {
	{ "stored", MQB_AMQP_SETTLE_STORED }, { "durable", MQB_AMQP_SETTLE_DURABLE },
	{ NULL, 0 } };

/* "127.x.y.z", "::1", "[::1]", "localhost" */
static bool host_is_loopback(const char *listen)
{
	return strncmp(listen, "127.", 4) == 0 || strncmp(listen, "[::1]:", 6) == 0 ||
	       strncmp(listen, "localhost:", 10) == 0;
}

static int conf_check(mqb_cfgt_ctx_t *ctx, void *base, const config_setting_t *s,
		      const char *path)
{
	mqb_amqp_conf_t *a = base;

	a->enabled = true;
	if (!a->tls_cert != !a->tls_key)
		return mqb_cfgt_error(ctx, mqb_cfgt_member(s, a->tls_cert ? "tls_cert" : "tls_key"),
				      "amqp", "tls_cert and tls_key go together (got only %s)",
				      a->tls_cert ? "tls_cert" : "tls_key");
	if (!host_is_loopback(a->listen) && !a->allow_anonymous && !a->password_file)
		return mqb_cfgt_error(ctx, mqb_cfgt_member(s, "listen"), "amqp.listen",
				      "not a loopback address, and neither password_file nor "
				      "allow_anonymous = true is set: no peer could authenticate "
				      "(got \"%s\")", a->listen);
	return 0;
}

static const mqb_cfgt_key_t keys[] = {
	MQB_CFGT_STR("listen", T, listen, "127.0.0.1:5672", MQB_CFGF_NONEMPTY,
		     "AMQP 1.0 listener host:port or [v6addr]:port (port 0: any free one)"),
	MQB_CFGT_ENUMK("settle", T, settle, MQB_AMQP_SETTLE_STORED, settle_choices, 0,
		       "when a sent message is settled accepted: \"stored\" (appended to the "
		       "log) or \"durable\" (after the fsync that covers it)"),
	MQB_CFGT_BOOLK("allow_anonymous", T, allow_anonymous, 0,
		       "offer SASL ANONYMOUS to every peer (default: only to loopback peers)"),
	{ .name = "password_file", .type = MQB_CFGT_STRING, .off = OFF(password_file),
	  .flags = MQB_CFGF_NONEMPTY | MQB_CFGF_PATH | MQB_CFGF_READABLE,
	  .desc = "SASL PLAIN users, one \"user:password\" a line (# comments); must not "
		  "be readable by others" },
	{ .name = "tls_cert", .type = MQB_CFGT_STRING, .off = OFF(tls_cert),
	  .flags = MQB_CFGF_NONEMPTY | MQB_CFGF_PATH | MQB_CFGF_READABLE,
	  .desc = "PEM certificate (chain): the listener speaks AMQP over TLS only" },
	{ .name = "tls_key", .type = MQB_CFGT_STRING, .off = OFF(tls_key),
	  .flags = MQB_CFGF_NONEMPTY | MQB_CFGF_PATH | MQB_CFGF_READABLE,
	  .desc = "PEM private key of tls_cert" },
	MQB_CFGT_INT("max_connections", T, max_connections, 1, 65535, 256, 0,
		     "connections at once; more are closed with amqp:resource-limit-exceeded"),
	MQB_CFGT_INT("max_links_per_connection", T, max_links_per_connection, 1, 65535, 64, 0,
		     "links open on one connection; more are refused "
		     "(amqp:resource-limit-exceeded)"),
	MQB_CFGT_INT("idle_timeout_ms", T, idle_timeout_ms, 0, 3600000, 60000, 0,
		     "AMQP idle time-out announced to peers; a silent peer is closed after "
		     "it (0: none)"),
	MQB_CFGT_INT("max_frame_size", T, max_frame_size, 512, 16777216, 65536, 0,
		     "largest AMQP frame accepted (bytes)"),
	MQB_CFGT_I64("max_message_bytes", T, max_message_bytes, 1, 1073741824, 1048576, 0,
		     "largest message (encoded, bytes); larger ones are rejected with "
		     "amqp:link:message-size-exceeded"),
	MQB_CFGT_INT("credit_window", T, credit_window, 1, 100000, 256, 0,
		     "link credit granted to each sending peer (refilled as messages are "
		     "stored; none while the store refuses appends)"),
	MQB_CFGT_END,
};

static const mqb_cfgt_table_t amqp_table = { "amqp", keys, 0, OFF(line), conf_check };

const mqb_config_section_t mqb_amqp_conf_section = {
	.name = "amqp",
	.desc = "AMQP 1.0 listener (Qpid Proton): send into streams, receive from groups "
		"and partitions (absent: off)",
	.table = &amqp_table,
	.size = sizeof(mqb_amqp_conf_t),
};

const mqb_amqp_conf_t *mqb_amqp_conf(const mqb_config_t *cfg)
{
	return mqb_config_section(cfg, "amqp");
}
