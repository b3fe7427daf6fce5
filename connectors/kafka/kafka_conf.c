/*
 * kafka_conf.c — mqbridge defaults + user properties -> rd_kafka_conf_t (kafka_conf.h).
 */
#include "connectors/kafka/kafka_conf.h"

#include <stdio.h>
#include <string.h>

#include "bridge/err.h"

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
	const mqb_kafka_conf_t *kc = &cfg->kafka;
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
		{ "compression.type", "lz4" },
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

int mqb_kafka_check_config(const mqb_config_t *cfg, char *errstr, size_t errstr_size)
{
	const mqb_kafka_conf_t *kc = &cfg->kafka;
	char rderr[512];
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
	rd_kafka_conf_t *conf = mqb_kafka_conf_build(cfg, errstr, errstr_size);
	if (!conf)
		return MQB_ERR_CONFIG;
	/* Cross-property checks happen in rd_kafka_new(); the handle is dropped at once
	 * (no message is produced). */
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
