/*
 * mqtt_conf.c — the `mqtt` configuration section: key table, checks, descriptor and
 * accessor (see mqtt_conf.h; the table API is bridge/config_table.h).
 */
#include "connectors/mqtt/mqtt_conf.h"

#include <stdio.h>
#include <string.h>

#include "bridge/config_table.h"
#include "bridge/err.h"
#include "bridge/ingest/topic.h"
#include "bridge/store/batch.h"
#include "bridge/text.h"

#define T mqb_mqtt_conf_t
#define PATHFILE (MQB_CFGF_PATH | MQB_CFGF_READABLE | MQB_CFGF_NONEMPTY)

static const mqb_cfgt_choice_t protocol_choices[] = {
	{ "v5", 5 }, { "v311", 4 }, { NULL, 0 } };

static const mqb_cfgt_key_t mqtt_keys[] = {
	MQB_CFGT_STR("host", T, host, "127.0.0.1", MQB_CFGF_NONEMPTY,
		     "broker host name or address"),
	MQB_CFGT_INT("port", T, port, 1, 65535, 1883, 0, "broker port"),
	MQB_CFGT_STR("client_id", T, client_id, "mqbridge", MQB_CFGF_NONEMPTY,
		     "MQTT client id (keep it stable: the persistent session is keyed by it)"),
	MQB_CFGT_ENUMK("protocol", T, protocol, 5, protocol_choices, 0,
		       "MQTT protocol version: \"v5\" or \"v311\""),
	MQB_CFGT_INT("keepalive", T, keepalive, 5, 65535, 30, 0,
		     "keepalive interval in seconds"),
	MQB_CFGT_BOOLK("clean_start", T, clean_start, 0,
		       "false: persistent session, the broker queues QoS>0 messages while mqbridge is down"),
	MQB_CFGT_I64("session_expiry_s", T, session_expiry_s, 0, 4294967295LL, 86400, 0,
		     "MQTT 5 session expiry interval (s) when clean_start = false; 4294967295 = never"),
	MQB_CFGT_STR("username", T, username, NULL, 0, "user name (none by default)"),
	MQB_CFGT_STR("password_file", T, password_file, NULL, PATHFILE,
		     "file whose first line is the password; needs username"),
	MQB_CFGT_STR("cafile", T, cafile, NULL, PATHFILE,
		     "PEM CA bundle; setting cafile or capath enables TLS"),
	MQB_CFGT_STR("capath", T, capath, NULL,
		     MQB_CFGF_PATH | MQB_CFGF_DIR | MQB_CFGF_NONEMPTY,
		     "directory of hashed PEM CA certificates; enables TLS"),
	MQB_CFGT_STR("certfile", T, certfile, NULL, PATHFILE,
		     "client certificate (PEM), with keyfile"),
	MQB_CFGT_STR("keyfile", T, keyfile, NULL, PATHFILE,
		     "client private key (PEM), with certfile"),
	MQB_CFGT_BOOLK("tls_insecure", T, tls_insecure, 0,
		       "skip verifying the broker's host name against its certificate"),
	MQB_CFGT_I64("reconnect_min_ms", T, reconnect_min_ms, 10, 3600000, 500, 0,
		     "first reconnect delay (ms); doubles with jitter on each failure"),
	MQB_CFGT_I64("reconnect_max_ms", T, reconnect_max_ms, 10, 3600000, 30000, 0,
		     "longest reconnect delay (ms)"),
	MQB_CFGT_I64("max_message_bytes", T, max_message_bytes, 1, 268435455, 1048576, 0,
		     "largest record accepted: topic, payload and MQTT 5 properties as stored "
		     "(see INGEST.md); larger ones are counted as lost"),
	MQB_CFGT_INT("max_inflight", T, max_inflight, 1, 65535, 100, 0,
		     "receive maximum: unacknowledged QoS>0 messages the broker may send at once"),
	MQB_CFGT_INT("batch_linger_ms", T, batch_linger_ms, 0, 1000, 0, 0,
		     "keep a busy partition's small batch (< 16 KiB) open across read bursts for "
		     "at most this long (0: off, append at every burst end); adds up to this to "
		     "the crash loss window and latency (INGEST.md, Linger); unused in plugin mode"),
	MQB_CFGT_END
};

static const char *member_path(char *buf, size_t size, const char *path, const char *key)
{
	mqb_cfgt_path(buf, size, path, key);
	return buf;
}

/* Cross-field checks inside the group (run when the file has an mqtt group). */
static int check_group(mqb_cfgt_ctx_t *ctx, void *base, const config_setting_t *s,
		       const char *path)
{
	mqb_mqtt_conf_t *m = base;
	char p[384];

	if (m->reconnect_max_ms < m->reconnect_min_ms)
		return mqb_cfgt_error(ctx, mqb_cfgt_member(s, "reconnect_max_ms"),
				      member_path(p, sizeof(p), path, "reconnect_max_ms"),
				      "must be >= reconnect_min_ms (%lld) (got %lld)",
				      (long long)m->reconnect_min_ms,
				      (long long)m->reconnect_max_ms);
	if (m->password_file && !m->username)
		return mqb_cfgt_error(ctx, mqb_cfgt_member(s, "password_file"),
				      member_path(p, sizeof(p), path, "password_file"),
				      "needs username to be set");
	if (!m->certfile != !m->keyfile) {
		const char *k = m->certfile ? "certfile" : "keyfile";

		return mqb_cfgt_error(ctx, mqb_cfgt_member(s, k),
				      member_path(p, sizeof(p), path, k),
				      "certfile and keyfile must be set together");
	}
	if (m->certfile && !m->cafile && !m->capath)
		return mqb_cfgt_error(ctx, mqb_cfgt_member(s, "certfile"),
				      member_path(p, sizeof(p), path, "certfile"),
				      "a client certificate needs TLS: set cafile or capath");
	if (!mqb_utf8_valid(m->client_id, strlen(m->client_id)) || strlen(m->client_id) > 65535)
		return mqb_cfgt_error(ctx, mqb_cfgt_member(s, "client_id"),
				      member_path(p, sizeof(p), path, "client_id"),
				      "must be UTF-8 of at most 65535 bytes");
	return 0;
}

static const mqb_cfgt_table_t mqtt_table = {
	"mqtt", mqtt_keys, 0, offsetof(mqb_mqtt_conf_t, line), check_group };

/* Across sections, once the whole file is loaded. */
static int check_loaded(mqb_cfgt_ctx_t *ctx, const mqb_config_t *cfg, void *conf,
			const config_setting_t *root)
{
	const mqb_mqtt_conf_t *m = conf;
	const config_setting_t *ss = config_setting_get_member(root, "streams");
	const char *why;
	char p[384];

	for (size_t i = 0; i < cfg->streams_count; i++) {
		const mqb_stream_conf_t *sc = &cfg->streams[i];

		/* the limit counts the whole record (mqb_batch_record_size); a batch
		 * holding it alone adds the batch header */
		if ((int64_t)sc->opts.max_batch_bytes >= m->max_message_bytes + MQB_BATCH_HDR_SIZE)
			continue;
		snprintf(p, sizeof(p), "streams.[%zu].max_batch_bytes", i);
		return mqb_cfgt_error(ctx, mqb_cfgt_member(config_setting_get_elem(ss, (unsigned)i),
							   "max_batch_bytes"), p,
				      "must be at least mqtt.max_message_bytes + %d (%lld) so the "
				      "largest record fits in a batch with its header (got %d)",
				      MQB_BATCH_HDR_SIZE,
				      (long long)m->max_message_bytes + MQB_BATCH_HDR_SIZE,
				      sc->opts.max_batch_bytes);
	}
	if (mqb_topic_name_check(cfg->groups_prefix, &why) != MQB_OK ||
	    cfg->groups_prefix[strlen(cfg->groups_prefix) - 1] == '/' ||
	    cfg->groups_prefix[0] == '$')
		return mqb_cfgt_error(ctx, config_setting_get_member(root, "groups_prefix"),
				      "groups_prefix", "must be a topic name without wildcards, a "
				      "leading '$' or a trailing '/' (got \"%s\")",
				      cfg->groups_prefix);
	return 0;
}

const mqb_config_section_t mqb_mqtt_conf_section = {
	.name = "mqtt",
	.desc = "the broker mqbridge subscribes to",
	.table = &mqtt_table,
	.size = sizeof(mqb_mqtt_conf_t),
	.check = check_loaded,
};

const mqb_mqtt_conf_t *mqb_mqtt_conf(const mqb_config_t *cfg)
{
	return mqb_config_section(cfg, "mqtt");
}
