/*
 * kafka_conf.c — the `kafka` configuration section (key table, checks, descriptor,
 * accessor) and mqbridge defaults + user properties -> rd_kafka_conf_t (kafka_conf.h).
 */
#include "connectors/kafka/kafka_conf.h"

#include "connectors/kafka/downlink_conf.h"

#include <stdio.h>
#include <string.h>

#include "bridge/err.h"

/* --- the section ------------------------------------------------------------------ */

#define F mqb_kafka_forward_conf_t
#define K mqb_kafka_conf_t

/* The rule of stream and group names (which also caps the length at 200) and Kafka's
 * ([A-Za-z0-9._-]{1,249}): what the loader has always accepted. */
static bool forward_topic_valid(const char *t)
{
	return strlen(t) <= 200 && mqb_kafka_topic_name_valid(t);
}

static int check_forward(mqb_cfgt_ctx_t *ctx, void *base, const config_setting_t *s,
			 const char *path)
{
	mqb_kafka_forward_conf_t *f = base;
	char p[384];

	mqb_cfgt_path(p, sizeof(p), path, "topic");
	if (!forward_topic_valid(f->topic))
		return mqb_cfgt_error(ctx, mqb_cfgt_member(s, "topic"), p,
				      "not a valid Kafka topic name ([A-Za-z0-9._-], 1..249 "
				      "chars, not \".\" or \"..\") (got \"%s\")", f->topic);
	return 0;
}

static const mqb_cfgt_key_t forward_keys[] = {
	MQB_CFGT_STR("stream", F, stream, NULL, MQB_CFGF_REQUIRED, "local stream to forward"),
	MQB_CFGT_STR("topic", F, topic, NULL, MQB_CFGF_REQUIRED,
		     "Kafka topic (needs at least as many partitions as the stream)"),
	MQB_CFGT_END
};
static const mqb_cfgt_table_t forward_table = {
	"kafka.forward[]", forward_keys, sizeof(F), offsetof(F, line), check_forward };

/* Properties mqbridge sets itself; a different value would break its guarantees. */
static int check_group(mqb_cfgt_ctx_t *ctx, void *base, const config_setting_t *s,
		       const char *path)
{
	mqb_kafka_conf_t *k = base;
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

static const mqb_cfgt_key_t kafka_keys[] = {
	MQB_CFGT_STR("bootstrap_servers", K, bootstrap_servers, NULL,
		     MQB_CFGF_REQUIRED | MQB_CFGF_NONEMPTY, "host:port[,host:port...] of the cluster"),
	{ .name = "properties", .type = MQB_CFGT_KV, .off = offsetof(K, properties),
	  .count_off = offsetof(K, properties_count),
	  .desc = "librdkafka properties, passed verbatim" },
	{ .name = "forward", .type = MQB_CFGT_LIST, .off = offsetof(K, forward),
	  .count_off = offsetof(K, forward_count), .sub = &forward_table,
	  .desc = "( { stream; topic; }, ... ): streams to forward" },
	{ .name = "downlink", .type = MQB_CFGT_LIST, .off = offsetof(K, downlink),
	  .count_off = offsetof(K, downlink_count), .sub = &mqb_kafka_downlink_table,
	  .desc = "( { topic; mqtt_topic; group; ... }, ... ): Kafka topics published to MQTT" },
	MQB_CFGT_BOOLK("block_on_backlog", K, block_on_backlog, 0,
		       "true: pause ingest rather than let retention delete unforwarded records"),
	MQB_CFGT_I64("sync_interval_offsets", K, sync_interval_offsets, 1, INT64_MAX, 100, 0,
		     "record an offset-sync pair every this many offsets of drift"),
	MQB_CFGT_I64("queue_buffering_max_kbytes", K, queue_buffering_max_kbytes, 1,
		     2147483647, 16384, 0, "memory bound of librdkafka's producer queue (KiB)"),
	MQB_CFGT_BOOLK("sync_group_offsets", K, sync_group_offsets, 0,
		       "commit each forwarded group's translated offsets into the Kafka "
		       "consumer group of the same name while it has no members"),
	MQB_CFGT_I64("sync_group_offsets_interval_ms", K, sync_group_offsets_interval_ms, 100,
		     86400000, 60000, 0, "how often sync_group_offsets checkpoints"),
	MQB_CFGT_END
};
static const mqb_cfgt_table_t kafka_table = {
	"kafka", kafka_keys, 0, offsetof(K, line), check_group };

/* One forward entry against the streams and the entries before it. */
static int check_forward_entry(mqb_cfgt_ctx_t *ctx, const mqb_config_t *cfg,
			       mqb_kafka_conf_t *kc, size_t i, const config_setting_t *e)
{
	mqb_kafka_forward_conf_t *f = &kc->forward[i];
	char p[384];

	f->stream_index = mqb_config_stream_index(cfg, f->stream);
	if (f->stream_index < 0) {
		snprintf(p, sizeof(p), "kafka.forward.[%zu].stream", i);
		return mqb_cfgt_error(ctx, mqb_cfgt_member(e, "stream"), p,
				      "no stream with this name is configured (got \"%s\")",
				      f->stream);
	}
	for (size_t j = 0; j < i; j++) {
		const mqb_kafka_forward_conf_t *o = &kc->forward[j];

		if (strcmp(o->topic, f->topic) != 0)
			continue;
		if (strcmp(o->stream, f->stream) == 0) {
			snprintf(p, sizeof(p), "kafka.forward.[%zu]", i);
			return mqb_cfgt_error(ctx, e, p, "same stream and topic as "
					      "kafka.forward.[%zu] (line %d)", j, o->line);
		}
		/* partition numbers and offset translation assume one stream per topic */
		snprintf(p, sizeof(p), "kafka.forward.[%zu].topic", i);
		return mqb_cfgt_error(ctx, mqb_cfgt_member(e, "topic"), p, "already fed by "
				      "stream \"%s\" (kafka.forward.[%zu], line %d): one stream "
				      "per Kafka topic (got \"%s\")", o->stream, j, o->line,
				      f->topic);
	}
	return 0;
}

/* Across sections, once the whole file is loaded: forward entries name streams. */
static int check_loaded(mqb_cfgt_ctx_t *ctx, const mqb_config_t *cfg, void *conf,
			const config_setting_t *root)
{
	mqb_kafka_conf_t *kc = conf;
	const config_setting_t *ks = config_setting_get_member(root, "kafka");
	const config_setting_t *fl = ks ? config_setting_get_member(ks, "forward") : NULL;

	for (size_t i = 0; i < kc->forward_count; i++)
		if (check_forward_entry(ctx, cfg, kc, i,
					config_setting_get_elem(fl, (unsigned)i)) != 0)
			return -1;
	return 0;
}

const mqb_config_section_t mqb_kafka_conf_section = {
	.name = "kafka",
	.desc = "forwarding to a Kafka cluster (absent: off)",
	.table = &kafka_table,
	.size = sizeof(mqb_kafka_conf_t),
	.check = check_loaded,
};

const mqb_kafka_conf_t *mqb_kafka_conf(const mqb_config_t *cfg)
{
	return mqb_config_section(cfg, "kafka");
}

/* --- librdkafka configuration ------------------------------------------------------ */

static const char *conf_file(const mqb_config_t *cfg)
{
	return cfg->path ? cfg->path : "<config>";
}

int mqb_kafka_topic_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > 249 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

rd_kafka_conf_t *mqb_kafka_conf_build(const mqb_config_t *cfg, char *errstr,
				      size_t errstr_size)
{
	const mqb_kafka_conf_t *kc = mqb_kafka_conf(cfg);
	char rderr[512], kbytes[32];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	if (!conf) {
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		return NULL;
	}
	snprintf(kbytes, sizeof(kbytes), "%lld",
		 (long long)(kc->queue_buffering_max_kbytes > 0 ?
			     kc->queue_buffering_max_kbytes : 16384));
	const char *defaults[][2] = {
		{ "enable.idempotence", "true" },
		{ "acks", "all" },
		{ "partitioner", "murmur2_random" },
		/* gzip: every Kafka client decodes it without a plugin (kafkajs reads
		 * only gzip natively); see docs/KAFKA.md "Compression". */
		{ "compression.type", "gzip" },
		{ "linger.ms", "5" },
		{ "statistics.interval.ms", "1000" },
		{ "queue.buffering.max.kbytes", kbytes },
		/* ~400 bytes of librdkafka memory per queued record: ~20 MiB at most */
		{ "queue.buffering.max.messages", "50000" },
		{ "client.id", "mqbridge" },
	};
	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
		if (rd_kafka_conf_set(conf, defaults[i][0], defaults[i][1], rderr,
				      sizeof(rderr)) != RD_KAFKA_CONF_OK) {
			mqb_errstr_set(errstr, errstr_size, "%s:%d: kafka: librdkafka refused "
				       "mqbridge's default %s=%s: %s", conf_file(cfg), kc->line,
				       defaults[i][0], defaults[i][1], rderr);
			goto error;
		}
	}
	if (kc->bootstrap_servers && kc->bootstrap_servers[0] &&
	    rd_kafka_conf_set(conf, "bootstrap.servers", kc->bootstrap_servers, rderr,
			      sizeof(rderr)) != RD_KAFKA_CONF_OK) {
		mqb_errstr_set(errstr, errstr_size, "%s:%d: kafka.bootstrap_servers: %s",
			       conf_file(cfg), kc->line, rderr);
		goto error;
	}
	for (size_t i = 0; i < kc->properties_count; i++) {
		const mqb_config_kv_t *kv = &kc->properties[i];
		if (rd_kafka_conf_set(conf, kv->key, kv->value, rderr, sizeof(rderr)) !=
		    RD_KAFKA_CONF_OK) {
			mqb_errstr_set(errstr, errstr_size, "%s:%d: kafka.properties.%s: %s",
				       conf_file(cfg), kv->line, kv->key, rderr);
			goto error;
		}
	}
	return conf;
error:
	rd_kafka_conf_destroy(conf);
	return NULL;
}

static int has_bootstrap(const mqb_kafka_conf_t *kc)
{
	if (kc->bootstrap_servers && kc->bootstrap_servers[0])
		return 1;
	for (size_t i = 0; i < kc->properties_count; i++)
		if (strcmp(kc->properties[i].key, "bootstrap.servers") == 0 ||
		    strcmp(kc->properties[i].key, "metadata.broker.list") == 0)
			return 1;
	return 0;
}

int mqb_kafka_check_entries(const mqb_config_t *cfg, char *errstr, size_t errstr_size)
{
	const mqb_kafka_conf_t *kc = mqb_kafka_conf(cfg);
	if (!kc->enabled)
		return MQB_OK;
	if (!has_bootstrap(kc)) {
		mqb_errstr_set(errstr, errstr_size, "%s:%d: kafka.bootstrap_servers: required",
			       conf_file(cfg), kc->line);
		return MQB_ERR_CONFIG;
	}
	for (size_t i = 0; i < kc->forward_count; i++) {
		const mqb_kafka_forward_conf_t *fw = &kc->forward[i];
		if (!mqb_kafka_topic_name_valid(fw->topic)) {
			mqb_errstr_set(errstr, errstr_size, "%s:%d: kafka.forward.[%zu].topic: "
				       "not a valid Kafka topic name ([A-Za-z0-9._-]{1,249}): "
				       "\"%s\"", conf_file(cfg), fw->line, i,
				       fw->topic ? fw->topic : "");
			return MQB_ERR_CONFIG;
		}
		if (!fw->stream || mqb_config_stream_index(cfg, fw->stream) < 0) {
			mqb_errstr_set(errstr, errstr_size, "%s:%d: kafka.forward.[%zu].stream: "
				       "no such stream \"%s\"", conf_file(cfg), fw->line, i,
				       fw->stream ? fw->stream : "");
			return MQB_ERR_CONFIG;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(kc->forward[j].stream, fw->stream) == 0 &&
			    strcmp(kc->forward[j].topic, fw->topic) == 0) {
				mqb_errstr_set(errstr, errstr_size, "%s:%d: kafka.forward.[%zu]: "
					       "stream \"%s\" is already forwarded to topic "
					       "\"%s\" (line %d)", conf_file(cfg), fw->line, i,
					       fw->stream, fw->topic, kc->forward[j].line);
				return MQB_ERR_CONFIG;
			}
		}
	}
	return MQB_OK;
}

int mqb_kafka_check_config(const mqb_config_t *cfg, char *errstr, size_t errstr_size)
{
	const mqb_kafka_conf_t *kc = mqb_kafka_conf(cfg);
	char rderr[512];
	if (!kc->enabled)
		return MQB_OK;
	if (mqb_kafka_check_entries(cfg, errstr, errstr_size) != MQB_OK)
		return MQB_ERR_CONFIG;
	rd_kafka_conf_t *conf = mqb_kafka_conf_build(cfg, errstr, errstr_size);
	if (!conf)
		return MQB_ERR_CONFIG;
	/* Cross-property checks happen in rd_kafka_new(); the handle is dropped at once
	 * (no message is produced). The forwarder does not call this at start: its own
	 * rd_kafka_new() makes the same check (mqb_kafka_check_entries() and the
	 * producer's creation), which saves a second instance's threads and connection. */
	rd_kafka_conf_set(conf, "log_level", "0", NULL, 0);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rderr, sizeof(rderr));
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		mqb_errstr_set(errstr, errstr_size, "%s:%d: kafka.properties: librdkafka "
			       "refused the configuration: %s", conf_file(cfg), kc->line, rderr);
		return MQB_ERR_CONFIG;
	}
	rd_kafka_destroy(rk);
	return MQB_OK;
}
