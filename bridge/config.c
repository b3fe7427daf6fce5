/*
 * config.c — mqbridged's configuration: the key tables (one per section) and the
 * finalize step with the cross-field checks (see config.h, docs/CONFIG.md).
 *
 * Errors: loading stops at the first error; the message is
 * "FILE:LINE: key.path: problem (got X)".
 */
#include "bridge/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/config_table.h"
#include "bridge/err.h"
#include "bridge/keytmpl.h"
#include "bridge/topic.h"

#define OFF(type, field) offsetof(type, field)
#define I64MAX INT64_MAX

/* --- tables --------------------------------------------------------------------- */

static const mqb_cfgt_choice_t protocol_choices[] = {
	{ "v5", 5 }, { "v311", 4 }, { NULL, 0 } };
static const mqb_cfgt_choice_t log_level_choices[] = {
	{ "error", 0 }, { "warn", 0 }, { "notice", 0 }, { "info", 0 }, { "debug", 0 },
	{ NULL, 0 } };
static const mqb_cfgt_choice_t mode_choices[] = {
	{ "exclusive", MQB_GROUP_EXCLUSIVE }, { "shared", MQB_GROUP_SHARED }, { NULL, 0 } };
static const mqb_cfgt_choice_t assignor_choices[] = {
	{ "range", 0 }, { "roundrobin", 0 }, { "sticky", 0 }, { "cooperative-sticky", 0 },
	{ NULL, 0 } };
static const mqb_cfgt_choice_t rebalance_choices[] = {
	{ "eager", MQB_REBALANCE_EAGER }, { "cooperative", MQB_REBALANCE_COOPERATIVE },
	{ NULL, 0 } };
static const mqb_cfgt_choice_t start_choices[] = {
	{ "earliest", 0 }, { "latest", 1 }, { NULL, 0 } };

#define K_STR(n, T, f, def, fl, d) \
	{ .name = n, .type = MQB_CFGT_STRING, .off = OFF(T, f), .def_str = def, .flags = fl, .desc = d }
#define K_CHOICE(n, T, f, def, ch, d) \
	{ .name = n, .type = MQB_CFGT_STRING, .off = OFF(T, f), .def_str = def, .choices = ch, .desc = d }
#define K_INT(n, T, f, lo, hi, def, fl, d) \
	{ .name = n, .type = MQB_CFGT_INT, .off = OFF(T, f), .min = lo, .max = hi, .def_int = def, .flags = fl, .desc = d }
#define K_I64(n, T, f, lo, hi, def, fl, d) \
	{ .name = n, .type = MQB_CFGT_INT64, .off = OFF(T, f), .min = lo, .max = hi, .def_int = def, .flags = fl, .desc = d }
#define K_BOOL(n, T, f, def, d) \
	{ .name = n, .type = MQB_CFGT_BOOL, .off = OFF(T, f), .def_int = def, .desc = d }
#define K_ENUM(n, T, f, def, ch, fl, d) \
	{ .name = n, .type = MQB_CFGT_ENUM, .off = OFF(T, f), .def_int = def, .choices = ch, .flags = fl, .desc = d }
#define K_END { .name = NULL }

static mqb_cfgt_check_fn mqtt_check, stream_check, route_check, forward_check,
	kafka_check, group_check;

static const mqb_cfgt_key_t mqtt_keys[] = {
	K_STR("host", mqb_mqtt_conf_t, host, "127.0.0.1", MQB_CFGF_NONEMPTY,
	      "broker host name or address"),
	K_INT("port", mqb_mqtt_conf_t, port, 1, 65535, 1883, 0, "broker port"),
	K_STR("client_id", mqb_mqtt_conf_t, client_id, "mqbridge", MQB_CFGF_NONEMPTY,
	      "MQTT client id (keep it stable: the persistent session is keyed by it)"),
	K_ENUM("protocol", mqb_mqtt_conf_t, protocol, 5, protocol_choices, 0,
	       "MQTT protocol version: \"v5\" or \"v311\""),
	K_INT("keepalive", mqb_mqtt_conf_t, keepalive, 5, 65535, 30, 0,
	      "keepalive interval in seconds"),
	K_BOOL("clean_start", mqb_mqtt_conf_t, clean_start, 0,
	       "false: persistent session, the broker queues QoS>0 messages while mqbridge is down"),
	K_I64("session_expiry_s", mqb_mqtt_conf_t, session_expiry_s, 0, 4294967295LL, 86400, 0,
	      "MQTT 5 session expiry interval (s) when clean_start = false; 4294967295 = never"),
	K_STR("username", mqb_mqtt_conf_t, username, NULL, 0, "user name (none by default)"),
	K_STR("password_file", mqb_mqtt_conf_t, password_file, NULL,
	      MQB_CFGF_PATH | MQB_CFGF_READABLE | MQB_CFGF_NONEMPTY,
	      "file whose first line is the password; needs username"),
	K_STR("cafile", mqb_mqtt_conf_t, cafile, NULL,
	      MQB_CFGF_PATH | MQB_CFGF_READABLE | MQB_CFGF_NONEMPTY,
	      "PEM CA bundle; setting cafile or capath enables TLS"),
	K_STR("capath", mqb_mqtt_conf_t, capath, NULL,
	      MQB_CFGF_PATH | MQB_CFGF_DIR | MQB_CFGF_NONEMPTY,
	      "directory of hashed PEM CA certificates; enables TLS"),
	K_STR("certfile", mqb_mqtt_conf_t, certfile, NULL,
	      MQB_CFGF_PATH | MQB_CFGF_READABLE | MQB_CFGF_NONEMPTY,
	      "client certificate (PEM), with keyfile"),
	K_STR("keyfile", mqb_mqtt_conf_t, keyfile, NULL,
	      MQB_CFGF_PATH | MQB_CFGF_READABLE | MQB_CFGF_NONEMPTY,
	      "client private key (PEM), with certfile"),
	K_BOOL("tls_insecure", mqb_mqtt_conf_t, tls_insecure, 0,
	       "skip verifying the broker's host name against its certificate"),
	K_I64("reconnect_min_ms", mqb_mqtt_conf_t, reconnect_min_ms, 10, 3600000, 500, 0,
	      "first reconnect delay (ms); doubles with jitter on each failure"),
	K_I64("reconnect_max_ms", mqb_mqtt_conf_t, reconnect_max_ms, 10, 3600000, 30000, 0,
	      "longest reconnect delay (ms)"),
	K_I64("max_message_bytes", mqb_mqtt_conf_t, max_message_bytes, 1, 268435455, 1048576, 0,
	      "larger payloads are rejected and counted"),
	K_INT("max_inflight", mqb_mqtt_conf_t, max_inflight, 1, 65535, 100, 0,
	      "receive maximum: unacknowledged QoS>0 messages the broker may send at once"),
	K_END
};
static const mqb_cfgt_table_t mqtt_table = {
	"mqtt", mqtt_keys, 0, OFF(mqb_mqtt_conf_t, line), mqtt_check };

static const mqb_cfgt_key_t stats_keys[] = {
	K_STR("listen", mqb_stats_conf_t, listen, "127.0.0.1:9883", 0,
	      "HTTP endpoint host:port or [v6addr]:port (port 0: any free one); \"\" or \"off\" disables it"),
	K_STR("token_file", mqb_stats_conf_t, token_file, NULL,
	      MQB_CFGF_PATH | MQB_CFGF_READABLE | MQB_CFGF_NONEMPTY,
	      "when set, requests need \"Authorization: Bearer <first line of the file>\""),
	K_END
};
static mqb_cfgt_check_fn stats_check;
static const mqb_cfgt_table_t stats_table = {
	"stats", stats_keys, 0, OFF(mqb_stats_conf_t, line), stats_check };

static const mqb_cfgt_key_t flush_keys[] = {
	K_I64("interval_ms", mqb_stream_conf_t, opts.flush_interval_ms, 0, 3600000, 50, 0,
	      "group commit: fsync at most this long after an append (0 with messages = 0: every append)"),
	K_I64("messages", mqb_stream_conf_t, opts.flush_messages, 0, I64MAX, -1, MQB_CFGF_MINUS1,
	      "... or once this many records are unsynced (-1: no count limit)"),
	K_END
};
static const mqb_cfgt_table_t flush_table = { "flush", flush_keys, 0, MQB_CFGT_NOLINE, NULL };

static const mqb_cfgt_key_t stream_keys[] = {
	K_STR("name", mqb_stream_conf_t, name, NULL, MQB_CFGF_REQUIRED,
	      "stream name: [A-Za-z0-9._-]{1,200}, not \".\" or \"..\" (a directory name)"),
	K_INT("partitions", mqb_stream_conf_t, opts.partitions, 1, 10000, 1, 0,
	      "number of partitions (cannot shrink an existing stream)"),
	K_I64("segment_bytes", mqb_stream_conf_t, opts.segment_bytes, 4096, 2147483647,
	      67108864, 0, "roll the active segment at this size"),
	K_I64("segment_ms", mqb_stream_conf_t, opts.segment_ms, 1000, I64MAX, 604800000, 0,
	      "roll the active segment at this age"),
	K_I64("retention_ms", mqb_stream_conf_t, opts.retention_ms, 1000, I64MAX, -1,
	      MQB_CFGF_MINUS1, "delete whole segments older than this (-1: keep forever)"),
	K_I64("retention_bytes", mqb_stream_conf_t, opts.retention_bytes, 4096, I64MAX, -1,
	      MQB_CFGF_MINUS1, "per partition: delete oldest segments beyond this size (-1: no limit)"),
	K_INT("index_interval_bytes", mqb_stream_conf_t, opts.index_interval_bytes, 64,
	      16777216, 4096, 0, "one .index entry per this many bytes of log"),
	K_INT("max_batch_bytes", mqb_stream_conf_t, opts.max_batch_bytes, 1024, 1073741824,
	      16777216, 0, "largest batch the store accepts; must exceed mqtt.max_message_bytes"),
	{ .name = "flush", .type = MQB_CFGT_GROUP, .off = 0, .sub = &flush_table,
	  .desc = "durability: { interval_ms; messages; }" },
	K_END
};
static const mqb_cfgt_table_t stream_table = {
	"streams[]", stream_keys, sizeof(mqb_stream_conf_t), OFF(mqb_stream_conf_t, line),
	stream_check };

static const mqb_cfgt_key_t route_keys[] = {
	{ .name = "name", .type = MQB_CFGT_STRING, .off = OFF(mqb_route_conf_t, name),
	  .flags = MQB_CFGF_NONEMPTY, .def_doc = "the filter",
	  .desc = "label for metrics and logs; unique" },
	K_STR("filter", mqb_route_conf_t, filter, NULL, MQB_CFGF_REQUIRED,
	      "MQTT topic filter ('+' one level, '#' the rest)"),
	K_INT("qos", mqb_route_conf_t, qos, 0, 2, 1, 0, "subscription QoS"),
	K_STR("stream", mqb_route_conf_t, stream, NULL, MQB_CFGF_REQUIRED,
	      "the stream matching messages are stored in"),
	K_STR("key", mqb_route_conf_t, key, NULL, 0,
	      "record key template: {N} topic level N (from 0), {topic}; none: sticky partition"),
	K_END
};
static const mqb_cfgt_table_t route_table = {
	"routes[]", route_keys, sizeof(mqb_route_conf_t), OFF(mqb_route_conf_t, line),
	route_check };

static const mqb_cfgt_key_t forward_keys[] = {
	K_STR("stream", mqb_kafka_forward_conf_t, stream, NULL, MQB_CFGF_REQUIRED,
	      "local stream to forward"),
	K_STR("topic", mqb_kafka_forward_conf_t, topic, NULL, MQB_CFGF_REQUIRED,
	      "Kafka topic (needs at least as many partitions as the stream)"),
	K_END
};
static const mqb_cfgt_table_t forward_table = {
	"kafka.forward[]", forward_keys, sizeof(mqb_kafka_forward_conf_t),
	OFF(mqb_kafka_forward_conf_t, line), forward_check };

static const mqb_cfgt_key_t kafka_keys[] = {
	K_STR("bootstrap_servers", mqb_kafka_conf_t, bootstrap_servers, NULL,
	      MQB_CFGF_REQUIRED | MQB_CFGF_NONEMPTY, "host:port[,host:port...] of the cluster"),
	{ .name = "properties", .type = MQB_CFGT_KV, .off = OFF(mqb_kafka_conf_t, properties),
	  .count_off = OFF(mqb_kafka_conf_t, properties_count),
	  .desc = "librdkafka properties, passed verbatim" },
	{ .name = "forward", .type = MQB_CFGT_LIST, .off = OFF(mqb_kafka_conf_t, forward),
	  .count_off = OFF(mqb_kafka_conf_t, forward_count), .sub = &forward_table,
	  .desc = "( { stream; topic; }, ... ): streams to forward" },
	K_BOOL("block_on_backlog", mqb_kafka_conf_t, block_on_backlog, 0,
	       "true: pause ingest rather than let retention delete unforwarded records"),
	K_I64("sync_interval_offsets", mqb_kafka_conf_t, sync_interval_offsets, 1, I64MAX, 100, 0,
	      "record an offset-sync pair every this many offsets of drift"),
	K_I64("queue_buffering_max_kbytes", mqb_kafka_conf_t, queue_buffering_max_kbytes, 1,
	      2147483647, 16384, 0, "memory bound of librdkafka's producer queue (KiB)"),
	K_END
};
static const mqb_cfgt_table_t kafka_table = {
	"kafka", kafka_keys, 0, OFF(mqb_kafka_conf_t, line), kafka_check };

static const mqb_cfgt_key_t group_keys[] = {
	K_STR("name", mqb_group_conf_t, name, NULL, MQB_CFGF_REQUIRED,
	      "group name: [A-Za-z0-9._-]{1,200} (a topic level and a directory name)"),
	K_STR("stream", mqb_group_conf_t, stream, NULL, MQB_CFGF_REQUIRED,
	      "the stream the group consumes"),
	K_ENUM("mode", mqb_group_conf_t, mode, MQB_GROUP_EXCLUSIVE, mode_choices, 0,
	       "\"exclusive\" (consumer group) or \"shared\" (share group)"),
	K_CHOICE("assignor", mqb_group_conf_t, assignor, "cooperative-sticky", assignor_choices,
		 "partition assignor (exclusive mode)"),
	{ .name = "rebalance", .type = MQB_CFGT_ENUM, .off = OFF(mqb_group_conf_t, rebalance),
	  .def_int = MQB_REBALANCE_EAGER, .choices = rebalance_choices,
	  .def_doc = "`\"cooperative\"` with cooperative-sticky, else `\"eager\"`",
	  .desc = "eager: revoke everything on a rebalance; cooperative: only what moves" },
	K_I64("session_timeout_ms", mqb_group_conf_t, session_timeout_ms, 100, 3600000, 10000, 0,
	      "a member silent this long is removed"),
	{ .name = "heartbeat_interval_ms", .type = MQB_CFGT_INT64,
	  .off = OFF(mqb_group_conf_t, heartbeat_interval_ms), .min = 10, .max = 3600000,
	  .def_int = 3000, .def_doc = "`3000` (session_timeout_ms / 3 when that is less)",
	  .desc = "heartbeat period members are told to use; below session_timeout_ms" },
	{ .name = "rebalance_timeout_ms", .type = MQB_CFGT_INT64,
	  .off = OFF(mqb_group_conf_t, rebalance_timeout_ms), .min = 100, .max = 3600000,
	  .def_int = 10000, .def_doc = "session_timeout_ms",
	  .desc = "how long a cooperative hand-over waits for \"revoked\"" },
	K_I64("ack_timeout_ms", mqb_group_conf_t, ack_timeout_ms, 100, 86400000, 30000, 0,
	      "shared mode: delivery lock duration"),
	K_INT("max_deliveries", mqb_group_conf_t, max_deliveries, 1, 1000, 5, 0,
	      "shared mode: deliveries before a record is dead-lettered or archived"),
	K_STR("dead_letter", mqb_group_conf_t, dead_letter, NULL, MQB_CFGF_NONEMPTY,
	      "stream receiving records that reached max_deliveries (none: archive)"),
	K_INT("prefetch", mqb_group_conf_t, prefetch, 1, 65535, 100, 0,
	      "unacknowledged records per member (a member's join may ask for fewer)"),
	K_ENUM("start", mqb_group_conf_t, start_latest, 0, start_choices, MQB_CFGF_BOOL,
	       "where a new group starts: \"earliest\" or \"latest\""),
	K_END
};
static const mqb_cfgt_table_t group_table = {
	"groups[]", group_keys, sizeof(mqb_group_conf_t), OFF(mqb_group_conf_t, line),
	group_check };

static const mqb_cfgt_key_t root_keys[] = {
	K_STR("data_dir", mqb_config_t, data_dir, "/var/lib/mqbridge",
	      MQB_CFGF_PATH | MQB_CFGF_NONEMPTY,
	      "segment store directory (relative: against the current directory)"),
	K_CHOICE("log_level", mqb_config_t, log_level, "info", log_level_choices,
		 "how much the daemon logs"),
	K_STR("groups_prefix", mqb_config_t, groups_prefix, "mqbridge", MQB_CFGF_NONEMPTY,
	      "first topic level(s) of the group protocol topics"),
	{ .name = "mqtt", .type = MQB_CFGT_GROUP, .off = OFF(mqb_config_t, mqtt),
	  .sub = &mqtt_table, .desc = "the broker mqbridge subscribes to" },
	{ .name = "stats", .type = MQB_CFGT_GROUP, .off = OFF(mqb_config_t, stats),
	  .sub = &stats_table, .desc = "HTTP stats endpoint" },
	{ .name = "streams", .type = MQB_CFGT_LIST, .off = OFF(mqb_config_t, streams),
	  .count_off = OFF(mqb_config_t, streams_count), .sub = &stream_table,
	  .flags = MQB_CFGF_REQUIRED, .desc = "the logs" },
	{ .name = "routes", .type = MQB_CFGT_LIST, .off = OFF(mqb_config_t, routes),
	  .count_off = OFF(mqb_config_t, routes_count), .sub = &route_table,
	  .flags = MQB_CFGF_REQUIRED, .desc = "topic filter -> stream, first match wins" },
	{ .name = "kafka", .type = MQB_CFGT_GROUP, .off = OFF(mqb_config_t, kafka),
	  .sub = &kafka_table, .desc = "forwarding to a Kafka cluster (absent: off)" },
	{ .name = "groups", .type = MQB_CFGT_LIST, .off = OFF(mqb_config_t, groups),
	  .count_off = OFF(mqb_config_t, groups_count), .sub = &group_table,
	  .desc = "consumer groups for queue consumers over MQTT" },
	K_END
};
static const mqb_cfgt_table_t root_table = {
	"", root_keys, 0, MQB_CFGT_NOLINE, NULL };

_Static_assert(sizeof(mqb_group_mode_t) == sizeof(int), "enum stored as int");
_Static_assert(sizeof(mqb_rebalance_t) == sizeof(int), "enum stored as int");
_Static_assert(sizeof(int32_t) == sizeof(int), "int32 stored as int");

/* --- per-group checks ------------------------------------------------------------ */

static const char *member_path(char *buf, size_t size, const char *path, const char *key)
{
	mqb_cfgt_path(buf, size, path, key);
	return buf;
}

/* The setting for key inside s, or s itself (for line numbers). */
static const config_setting_t *at(const config_setting_t *s, const char *key)
{
	const config_setting_t *m = config_setting_get_member(s, key);

	return m ? m : s;
}

static int mqtt_check(mqb_cfgt_ctx_t *ctx, void *base, const config_setting_t *s,
		      const char *path)
{
	mqb_mqtt_conf_t *m = base;
	char p[384];

	if (m->reconnect_max_ms < m->reconnect_min_ms)
		return mqb_cfgt_error(ctx, at(s, "reconnect_max_ms"),
				      member_path(p, sizeof(p), path, "reconnect_max_ms"),
				      "must be >= reconnect_min_ms (%lld) (got %lld)",
				      (long long)m->reconnect_min_ms,
				      (long long)m->reconnect_max_ms);
	if (m->password_file && !m->username)
		return mqb_cfgt_error(ctx, at(s, "password_file"),
				      member_path(p, sizeof(p), path, "password_file"),
				      "needs username to be set");
	if (!m->certfile != !m->keyfile) {
		const char *k = m->certfile ? "certfile" : "keyfile";

		return mqb_cfgt_error(ctx, at(s, k), member_path(p, sizeof(p), path, k),
				      "certfile and keyfile must be set together");
	}
	if (m->certfile && !m->cafile && !m->capath)
		return mqb_cfgt_error(ctx, at(s, "certfile"),
				      member_path(p, sizeof(p), path, "certfile"),
				      "a client certificate needs TLS: set cafile or capath");
	if (!mqb_utf8_valid(m->client_id, strlen(m->client_id)) || strlen(m->client_id) > 65535)
		return mqb_cfgt_error(ctx, at(s, "client_id"),
				      member_path(p, sizeof(p), path, "client_id"),
				      "must be UTF-8 of at most 65535 bytes");
	return 0;
}

static int stats_check(mqb_cfgt_ctx_t *ctx, void *base, const config_setting_t *s,
		       const char *path)
{
	mqb_stats_conf_t *st = base;
	const char *l = st->listen, *colon, *host_end;
	char p[384], *end;
	long port;

	if (!l || !*l || strcmp(l, "off") == 0)
		return 0;
	if (l[0] == '[') {
		host_end = strchr(l, ']');
		if (!host_end || host_end == l + 1 || host_end[1] != ':')
			goto bad;
		colon = host_end + 1;
	} else {
		colon = strrchr(l, ':');
		if (!colon || colon == l || memchr(l, ':', (size_t)(colon - l)))
			goto bad;
	}
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end || errno || port > 65535)
		goto bad;
	return 0;
bad:
	return mqb_cfgt_error(ctx, at(s, "listen"), member_path(p, sizeof(p), path, "listen"),
			      "must be host:port, [ipv6]:port (port 0..65535, 0: any free one), "
			      "\"\" or \"off\" "
			      "(got \"%s\")", l);
}

/* Stream and group names become directory names and topic levels. */
static bool name_valid(const char *n)
{
	size_t len = strlen(n);

	if (len < 1 || len > 200 || strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = n[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static int stream_check(mqb_cfgt_ctx_t *ctx, void *base, const config_setting_t *s,
			const char *path)
{
	mqb_stream_conf_t *sc = base;
	char p[384];

	if (!name_valid(sc->name))
		return mqb_cfgt_error(ctx, at(s, "name"), member_path(p, sizeof(p), path, "name"),
				      "must be 1..200 of [A-Za-z0-9._-] and not \".\" or \"..\" "
				      "(got \"%s\")", sc->name);
	sc->opts.name = sc->name;
	return 0;
}

static int route_check(mqb_cfgt_ctx_t *ctx, void *base, const config_setting_t *s,
		       const char *path)
{
	mqb_route_conf_t *r = base;
	const char *why;
	char p[384], err[256];
	mqb_keytmpl_t *kt;
	int maxl;

	if (mqb_topic_filter_check(r->filter, &why) != MQB_OK)
		return mqb_cfgt_error(ctx, at(s, "filter"),
				      member_path(p, sizeof(p), path, "filter"),
				      "bad MQTT topic filter: %s (got \"%s\")", why, r->filter);
	if (strncmp(r->filter, "$share/", 7) == 0 || strcmp(r->filter, "$share") == 0)
		return mqb_cfgt_error(ctx, at(s, "filter"),
				      member_path(p, sizeof(p), path, "filter"),
				      "shared subscriptions ($share/...) are not supported: the "
				      "filter is matched against topic names (got \"%s\")",
				      r->filter);
	if (!r->name) {
		r->name = strdup(r->filter);
		if (!r->name)
			return mqb_cfgt_error(ctx, s, path, "out of memory");
	}
	if (!r->key)
		return 0;
	kt = mqb_keytmpl_compile(r->key, err, sizeof(err));
	if (!kt)
		return mqb_cfgt_error(ctx, at(s, "key"), member_path(p, sizeof(p), path, "key"),
				      "bad key template: %s (got \"%s\")", err, r->key);
	maxl = mqb_keytmpl_max_level(kt);
	mqb_keytmpl_free(kt);
	if (!strchr(r->filter, '#') && maxl >= 0 &&
	    (size_t)maxl >= mqb_topic_levels(r->filter))
		return mqb_cfgt_error(ctx, at(s, "key"), member_path(p, sizeof(p), path, "key"),
				      "uses topic level {%d} but filter \"%s\" only matches topics "
				      "with %zu levels (0..%zu) (got \"%s\")", maxl, r->filter,
				      mqb_topic_levels(r->filter),
				      mqb_topic_levels(r->filter) - 1, r->key);
	return 0;
}

/* Kafka's topic name rule: [a-zA-Z0-9._-]{1,249}, not "." or "..". */
static bool kafka_topic_valid(const char *t)
{
	return strlen(t) <= 249 && name_valid(t);
}

static int forward_check(mqb_cfgt_ctx_t *ctx, void *base, const config_setting_t *s,
			 const char *path)
{
	mqb_kafka_forward_conf_t *f = base;
	char p[384];

	if (!kafka_topic_valid(f->topic))
		return mqb_cfgt_error(ctx, at(s, "topic"), member_path(p, sizeof(p), path, "topic"),
				      "not a valid Kafka topic name ([A-Za-z0-9._-], 1..249 "
				      "chars, not \".\" or \"..\") (got \"%s\")", f->topic);
	return 0;
}

static int kafka_check(mqb_cfgt_ctx_t *ctx, void *base, const config_setting_t *s,
		       const char *path)
{
	mqb_kafka_conf_t *k = base;
	/* Properties mqbridge sets itself; a different value would break its guarantees. */
	static const struct { const char *name, *why; } owned[] = {
		{ "bootstrap.servers", "set kafka.bootstrap_servers instead" },
		{ "metadata.broker.list", "set kafka.bootstrap_servers instead" },
		{ "partitioner", "mqbridge keeps partition numbers (murmur2_random)" },
		{ "enable.idempotence", "mqbridge needs idempotence (true) for no duplicates" },
		{ "acks", "mqbridge needs acks=all to advance its cursor safely" },
		{ "queue.buffering.max.kbytes", "set kafka.queue_buffering_max_kbytes instead" },
	};

	k->enabled = true;
	for (size_t i = 0; i < k->properties_count; i++) {
		for (size_t j = 0; j < sizeof(owned) / sizeof(owned[0]); j++) {
			if (strcmp(k->properties[i].key, owned[j].name) == 0)
				return mqb_cfgt_error_line(ctx, config_setting_source_file(s),
							   k->properties[i].line,
							   "kafka.properties",
							   "\"%s\" cannot be set here: %s",
							   owned[j].name, owned[j].why);
		}
	}
	(void)path;
	return 0;
}

static int group_check(mqb_cfgt_ctx_t *ctx, void *base, const config_setting_t *s,
		       const char *path)
{
	mqb_group_conf_t *g = base;
	char p[384];

	if (!name_valid(g->name))
		return mqb_cfgt_error(ctx, at(s, "name"), member_path(p, sizeof(p), path, "name"),
				      "must be 1..200 of [A-Za-z0-9._-] and not \".\" or \"..\" "
				      "(got \"%s\")", g->name);
	if (!config_setting_get_member(s, "rebalance"))
		g->rebalance = strcmp(g->assignor, "cooperative-sticky") == 0
			? MQB_REBALANCE_COOPERATIVE : MQB_REBALANCE_EAGER;
	if (!config_setting_get_member(s, "heartbeat_interval_ms") &&
	    g->heartbeat_interval_ms >= g->session_timeout_ms)
		g->heartbeat_interval_ms = g->session_timeout_ms / 3;
	if (!config_setting_get_member(s, "rebalance_timeout_ms"))
		g->rebalance_timeout_ms = g->session_timeout_ms;
	if (g->heartbeat_interval_ms >= g->session_timeout_ms)
		return mqb_cfgt_error(ctx, at(s, "heartbeat_interval_ms"),
				      member_path(p, sizeof(p), path, "heartbeat_interval_ms"),
				      "must be below session_timeout_ms (%lld) (got %lld)",
				      (long long)g->session_timeout_ms,
				      (long long)g->heartbeat_interval_ms);
	g->stream_index = -1;
	g->dead_letter_index = -1;
	return 0;
}

/* --- finalize: checks across sections ---------------------------------------------- */

int mqb_config_stream_index(const mqb_config_t *cfg, const char *name)
{
	if (!cfg || !name)
		return -1;
	for (size_t i = 0; i < cfg->streams_count; i++)
		if (strcmp(cfg->streams[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int config_finalize(mqb_cfgt_ctx_t *ctx, mqb_config_t *cfg, const config_t *lc)
{
	const config_setting_t *root = config_root_setting(lc);
	const config_setting_t *ss = config_setting_get_member(root, "streams");
	const config_setting_t *rs = config_setting_get_member(root, "routes");
	const config_setting_t *gs = config_setting_get_member(root, "groups");
	const config_setting_t *ks = config_setting_get_member(root, "kafka");
	const char *why;
	char p[384];

	if (cfg->streams_count == 0)
		return mqb_cfgt_error(ctx, ss, "streams", "at least one stream is required");
	if (cfg->routes_count == 0)
		return mqb_cfgt_error(ctx, rs, "routes", "at least one route is required");

	for (size_t i = 0; i < cfg->streams_count; i++) {
		mqb_stream_conf_t *sc = &cfg->streams[i];
		const config_setting_t *e = config_setting_get_elem(ss, (unsigned)i);

		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->streams[j].name, sc->name) == 0) {
				snprintf(p, sizeof(p), "streams.[%zu].name", i);
				return mqb_cfgt_error(ctx, at(e, "name"), p,
						      "duplicate stream name (first at line %d) "
						      "(got \"%s\")", cfg->streams[j].line, sc->name);
			}
		if (sc->opts.max_batch_bytes <= cfg->mqtt.max_message_bytes) {
			snprintf(p, sizeof(p), "streams.[%zu].max_batch_bytes", i);
			return mqb_cfgt_error(ctx, at(e, "max_batch_bytes"), p,
					      "must be larger than mqtt.max_message_bytes (%lld) so "
					      "one message fits in a batch (got %d)",
					      (long long)cfg->mqtt.max_message_bytes,
					      sc->opts.max_batch_bytes);
		}
	}
	for (size_t i = 0; i < cfg->routes_count; i++) {
		mqb_route_conf_t *r = &cfg->routes[i];
		const config_setting_t *e = config_setting_get_elem(rs, (unsigned)i);

		r->stream_index = mqb_config_stream_index(cfg, r->stream);
		if (r->stream_index < 0) {
			snprintf(p, sizeof(p), "routes.[%zu].stream", i);
			return mqb_cfgt_error(ctx, at(e, "stream"), p,
					      "no stream with this name is configured (got \"%s\")",
					      r->stream);
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(cfg->routes[j].filter, r->filter) == 0) {
				snprintf(p, sizeof(p), "routes.[%zu].filter", i);
				return mqb_cfgt_error(ctx, at(e, "filter"), p,
						      "same filter as routes.[%zu] (line %d): this "
						      "route could never match (got \"%s\")", j,
						      cfg->routes[j].line, r->filter);
			}
			if (strcmp(cfg->routes[j].name, r->name) == 0) {
				snprintf(p, sizeof(p), "routes.[%zu].name", i);
				return mqb_cfgt_error(ctx, at(e, "name"), p,
						      "duplicate route name (first at line %d) "
						      "(got \"%s\")", cfg->routes[j].line, r->name);
			}
		}
	}
	if (mqb_topic_name_check(cfg->groups_prefix, &why) != MQB_OK ||
	    cfg->groups_prefix[strlen(cfg->groups_prefix) - 1] == '/' ||
	    cfg->groups_prefix[0] == '$') {
		const config_setting_t *gp = config_setting_get_member(root, "groups_prefix");

		return mqb_cfgt_error(ctx, gp, "groups_prefix", "must be a topic name without "
				      "wildcards, a leading '$' or a trailing '/' (got \"%s\")",
				      cfg->groups_prefix);
	}
	for (size_t i = 0; i < cfg->kafka.forward_count; i++) {
		mqb_kafka_forward_conf_t *f = &cfg->kafka.forward[i];
		const config_setting_t *fl = config_setting_get_member(ks, "forward");
		const config_setting_t *e = config_setting_get_elem(fl, (unsigned)i);

		f->stream_index = mqb_config_stream_index(cfg, f->stream);
		if (f->stream_index < 0) {
			snprintf(p, sizeof(p), "kafka.forward.[%zu].stream", i);
			return mqb_cfgt_error(ctx, at(e, "stream"), p,
					      "no stream with this name is configured (got \"%s\")",
					      f->stream);
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(cfg->kafka.forward[j].topic, f->topic) != 0)
				continue;
			if (strcmp(cfg->kafka.forward[j].stream, f->stream) == 0) {
				snprintf(p, sizeof(p), "kafka.forward.[%zu]", i);
				return mqb_cfgt_error(ctx, e, p, "same stream and topic as "
						      "kafka.forward.[%zu] (line %d)", j,
						      cfg->kafka.forward[j].line);
			}
			/* partition numbers and offset translation assume one stream per topic */
			snprintf(p, sizeof(p), "kafka.forward.[%zu].topic", i);
			return mqb_cfgt_error(ctx, at(e, "topic"), p, "already fed by stream \"%s\" "
					      "(kafka.forward.[%zu], line %d): one stream per Kafka "
					      "topic (got \"%s\")", cfg->kafka.forward[j].stream, j,
					      cfg->kafka.forward[j].line, f->topic);
		}
	}
	for (size_t i = 0; i < cfg->groups_count; i++) {
		mqb_group_conf_t *g = &cfg->groups[i];
		const config_setting_t *e = config_setting_get_elem(gs, (unsigned)i);

		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->groups[j].name, g->name) == 0) {
				snprintf(p, sizeof(p), "groups.[%zu].name", i);
				return mqb_cfgt_error(ctx, at(e, "name"), p,
						      "duplicate group name (first at line %d) "
						      "(got \"%s\")", cfg->groups[j].line, g->name);
			}
		g->stream_index = mqb_config_stream_index(cfg, g->stream);
		if (g->stream_index < 0) {
			snprintf(p, sizeof(p), "groups.[%zu].stream", i);
			return mqb_cfgt_error(ctx, at(e, "stream"), p,
					      "no stream with this name is configured (got \"%s\")",
					      g->stream);
		}
		if (g->dead_letter) {
			g->dead_letter_index = mqb_config_stream_index(cfg, g->dead_letter);
			snprintf(p, sizeof(p), "groups.[%zu].dead_letter", i);
			if (g->dead_letter_index < 0)
				return mqb_cfgt_error(ctx, at(e, "dead_letter"), p,
						      "no stream with this name is configured "
						      "(got \"%s\")", g->dead_letter);
			if (g->dead_letter_index == g->stream_index)
				return mqb_cfgt_error(ctx, at(e, "dead_letter"), p,
						      "must differ from the group's stream "
						      "(got \"%s\")", g->dead_letter);
		}
	}
	return 0;
}

/* --- reference documentation ------------------------------------------------------ */

static const char *type_name(const mqb_cfgt_key_t *k)
{
	switch (k->type) {
	case MQB_CFGT_STRING: return k->choices ? "string (choice)" :
			      (k->flags & MQB_CFGF_PATH) ? "path" : "string";
	case MQB_CFGT_INT:    return "integer";
	case MQB_CFGT_INT64:  return "integer (64-bit)";
	case MQB_CFGT_BOOL:   return "boolean";
	case MQB_CFGT_ENUM:   return "string (choice)";
	case MQB_CFGT_GROUP:  return "group";
	case MQB_CFGT_LIST:   return "list of groups";
	case MQB_CFGT_KV:     return "group or list of pairs";
	}
	return "?";
}

static void write_default(FILE *out, const mqb_cfgt_key_t *k)
{
	if (k->def_doc) {
		fputs(k->def_doc, out);
		return;
	}
	switch (k->type) {
	case MQB_CFGT_STRING:
		if (k->flags & MQB_CFGF_REQUIRED)
			fputs("**required**", out);
		else if (k->def_str)
			fprintf(out, "`\"%s\"`", k->def_str);
		else
			fputs("unset", out);
		break;
	case MQB_CFGT_INT:
	case MQB_CFGT_INT64:
		fprintf(out, "`%lld`", (long long)k->def_int);
		break;
	case MQB_CFGT_BOOL:
		fputs(k->def_int ? "`true`" : "`false`", out);
		break;
	case MQB_CFGT_ENUM:
		for (const mqb_cfgt_choice_t *c = k->choices; c->name; c++)
			if (c->value == k->def_int) {
				fprintf(out, "`\"%s\"`", c->name);
				break;
			}
		break;
	default:
		fputs((k->flags & MQB_CFGF_REQUIRED) ? "**required**" : "absent", out);
		break;
	}
}

static void write_range(FILE *out, const mqb_cfgt_key_t *k)
{
	if (k->type == MQB_CFGT_INT || k->type == MQB_CFGT_INT64) {
		if (k->flags & MQB_CFGF_MINUS1)
			fputs("-1 or ", out);
		if (k->max == I64MAX)
			fprintf(out, ">= %lld", (long long)k->min);
		else
			fprintf(out, "%lld..%lld", (long long)k->min, (long long)k->max);
	} else if (k->choices) {
		for (const mqb_cfgt_choice_t *c = k->choices; c->name; c++)
			fprintf(out, "%s`%s`", c == k->choices ? "" : ", ", c->name);
	} else if (k->flags & MQB_CFGF_READABLE) {
		fputs("readable file", out);
	} else if (k->flags & MQB_CFGF_DIR) {
		fputs("readable directory", out);
	} else if (k->flags & MQB_CFGF_NONEMPTY) {
		fputs("non-empty", out);
	}
}

static void write_table(FILE *out, const mqb_cfgt_table_t *t, const char *prefix)
{
	fprintf(out, "| key | type | default | range | meaning |\n|---|---|---|---|---|\n");
	for (const mqb_cfgt_key_t *k = t->keys; k->name; k++) {
		fprintf(out, "| `%s%s` | %s | ", prefix, k->name, type_name(k));
		write_default(out, k);
		fputs(" | ", out);
		write_range(out, k);
		fputs(" | ", out);
		for (const char *c = k->desc; *c; c++) {
			if (*c == '|')
				fputc('\\', out);
			fputc(*c, out);
		}
		fputs(" |\n", out);
	}
	for (const mqb_cfgt_key_t *k = t->keys; k->name; k++) {
		char sub[128];

		if (k->type != MQB_CFGT_GROUP && k->type != MQB_CFGT_LIST)
			continue;
		snprintf(sub, sizeof(sub), "%s%s%s.", prefix, k->name,
			 k->type == MQB_CFGT_LIST ? "[]" : "");
		fprintf(out, "\n#### `%.*s`\n\n", (int)strlen(sub) - 1, sub);
		write_table(out, k->sub, sub);
	}
}

int mqb_config_write_reference(FILE *out)
{
	write_table(out, &root_table, "");
	return ferror(out) ? -1 : 0;
}

/* --- load / free ------------------------------------------------------------------- */

void mqb_config_free(mqb_config_t *cfg)
{
	if (!cfg)
		return;
	mqb_cfgt_free(&root_table, cfg);
	free(cfg->path);
	free(cfg);
}

/*
 * libconfig 1.5 silently truncates a decimal integer above 32 bits unless it carries the
 * L suffix (10000000000 becomes 1410065408). Refuse such literals before parsing.
 */
static int check_int_literals(mqb_cfgt_ctx_t *ctx, const char *text)
{
	int line = 1;
	size_t i = 0;

	while (text[i]) {
		char c = text[i];

		if (c == '\n') {
			line++;
			i++;
		} else if (c == '"') {
			for (i++; text[i] && text[i] != '"'; i++) {
				if (text[i] == '\\' && text[i + 1])
					i++;
				if (text[i] == '\n')
					line++;
			}
			if (text[i])
				i++;
		} else if (c == '#' || (c == '/' && text[i + 1] == '/')) {
			while (text[i] && text[i] != '\n')
				i++;
		} else if (c == '/' && text[i + 1] == '*') {
			for (i += 2; text[i] && !(text[i] == '*' && text[i + 1] == '/'); i++)
				if (text[i] == '\n')
					line++;
			if (text[i])
				i += 2;
		} else if (c >= '0' && c <= '9') {
			size_t start = i;
			bool neg = start > 0 && text[start - 1] == '-';

			if (c == '0' && (text[i + 1] == 'x' || text[i + 1] == 'X')) {
				size_t digits;

				for (i += 2; isxdigit((unsigned char)text[i]); i++)
					;
				digits = i - start - 2;
				if (text[i] != 'L' && digits > 0 &&
				    (digits > 8 ||
				     strtoull(text + start + 2, NULL, 16) > 0x7fffffffULL))
					return mqb_cfgt_error_line(ctx, NULL, line, "",
								   "integer %.*s does not fit in "
								   "32 bits: write %.*sL",
								   (int)(i - start), text + start,
								   (int)(i - start), text + start);
				continue;
			}
			while (isdigit((unsigned char)text[i]))
				i++;
			if (text[i] == '.' || text[i] == 'e' || text[i] == 'E' || text[i] == 'L')
				continue;    /* float or explicit 64-bit */
			if (i - start > 10 ||
			    strtoull(text + start, NULL, 10) > (neg ? 2147483648ULL : 2147483647ULL))
				return mqb_cfgt_error_line(ctx, NULL, line, "",
							   "integer %.*s does not fit in 32 bits: "
							   "write %.*sL", (int)(i - start),
							   text + start, (int)(i - start),
							   text + start);
		} else if (isalpha((unsigned char)c) || c == '_') {
			while (isalnum((unsigned char)text[i]) || text[i] == '_' ||
			       text[i] == '-' || text[i] == '*')
				i++;
		} else {
			i++;
		}
	}
	return 0;
}

static char *read_file(mqb_cfgt_ctx_t *ctx, const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0, cap = 0;

	if (!f) {
		mqb_cfgt_error_line(ctx, path, 0, "", "cannot read the file: %s", strerror(errno));
		return NULL;
	}
	for (;;) {
		size_t n;

		if (cap - len < 4096) {
			char *nb = realloc(buf, cap ? cap * 2 : 16384);

			if (!nb) {
				mqb_cfgt_error_line(ctx, path, 0, "", "out of memory");
				goto error;
			}
			buf = nb;
			cap = cap ? cap * 2 : 16384;
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		mqb_cfgt_error_line(ctx, path, 0, "", "cannot read the file: %s", strerror(errno));
		goto error;
	}
	if (memchr(buf, '\0', len)) {
		mqb_cfgt_error_line(ctx, path, 0, "", "contains a NUL byte: not a text file");
		goto error;
	}
	buf[len] = '\0';
	fclose(f);
	return buf;
error:
	fclose(f);
	free(buf);
	return NULL;
}

static mqb_config_t *config_load(const char *path, const char *text, const char *name,
				 char *errstr, size_t errstr_size)
{
	mqb_cfgt_ctx_t ctx = { .name = name, .errstr = errstr, .errstr_size = errstr_size };
	mqb_config_t *cfg = NULL;
	char *dir = NULL, *owned = NULL;
	config_t lc;

	config_init(&lc);
	if (path) {
		owned = read_file(&ctx, path);
		if (!owned)
			goto error;
		text = owned;
		dir = strdup(path);
		if (!dir) {
			mqb_cfgt_error_line(&ctx, name, 0, "", "out of memory");
			goto error;
		}
		ctx.include_dir = dirname(dir);
		config_set_include_dir(&lc, ctx.include_dir);
	}
	if (check_int_literals(&ctx, text) != 0)
		goto error;
	if (!config_read_string(&lc, text)) {
		mqb_cfgt_error_line(&ctx, config_error_file(&lc), config_error_line(&lc), "",
				    "%s", config_error_text(&lc));
		goto error;
	}
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg || !(cfg->path = strdup(name))) {
		mqb_cfgt_error_line(&ctx, name, 0, "", "out of memory");
		goto error;
	}
	if (mqb_cfgt_defaults(&ctx, &root_table, cfg) != 0 ||
	    mqb_cfgt_parse_group(&ctx, &root_table, cfg, config_root_setting(&lc), "") != 0 ||
	    config_finalize(&ctx, cfg, &lc) != 0)
		goto error;
	config_destroy(&lc);
	free(owned);
	free(dir);
	return cfg;

error:
	config_destroy(&lc);
	mqb_config_free(cfg);
	free(owned);
	free(dir);
	return NULL;
}

mqb_config_t *mqb_config_load(const char *path, char *errstr, size_t errstr_size)
{
	return config_load(path, NULL, path, errstr, errstr_size);
}

mqb_config_t *mqb_config_load_string(const char *text, const char *name,
				     char *errstr, size_t errstr_size)
{
	return config_load(NULL, text, name ? name : "<string>", errstr, errstr_size);
}
