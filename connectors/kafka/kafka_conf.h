/*
 * kafka_conf.h — the `kafka` configuration section, owned by the Kafka connector: its
 * struct, its key table (kafka_conf.c) registered with the config core as
 * mqb_kafka_conf_section, the typed accessor, and turning it into a librdkafka
 * configuration.
 *
 * Checks at load: kafka.forward[].topic is a Kafka topic name, kafka.properties sets
 * nothing mqbridge owns (acks, enable.idempotence, ...); once the whole file is loaded,
 * every forward entry names a configured stream and no Kafka topic is fed twice.
 * Errors "FILE:LINE: key.path: problem (got X)". mqb_kafka_check_config() adds what
 * only librdkafka can tell (--check-config, reload; at start-up the forwarder's own
 * producer tells it).
 *
 * Order of precedence: mqbridge's defaults (enable.idempotence=true, acks=all,
 * partitioner=murmur2_random, compression.type=gzip, linger.ms=5,
 * statistics.interval.ms=1000, queue.buffering.max.kbytes from
 * kafka.queue_buffering_max_kbytes, queue.buffering.max.messages=50000), then
 * kafka.bootstrap_servers, then every kafka.properties entry verbatim, in file order.
 * A property librdkafka rejects is a config error
 * "file:line: kafka.properties.<key>: <librdkafka's reason>".
 * Cross-property conflicts that only rd_kafka_new() detects (acks=1 with
 * idempotence) are reported against the kafka section's line.
 *
 * Ownership: mqb_kafka_conf_build() returns a new rd_kafka_conf_t the caller owns
 * (rd_kafka_new() takes it on success). Callbacks are not set here.
 */
#ifndef MQB_KAFKA_CONF_H
#define MQB_KAFKA_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "bridge/config.h"
#include "bridge/config_table.h"

typedef struct mqb_kafka_forward_conf {
	char *stream;                /* must name a configured stream */
	char *topic;                 /* Kafka topic */
	int stream_index;
	int line;
} mqb_kafka_forward_conf_t;

typedef struct mqb_kafka_conf {
	bool enabled;                /* true when a kafka section exists */
	char *bootstrap_servers;
	mqb_config_kv_t *properties; size_t properties_count;
	mqb_kafka_forward_conf_t *forward; size_t forward_count;
	/* kafka.downlink entries (element type and table: connectors/kafka/downlink_conf.h) */
	struct mqb_kafka_downlink_conf *downlink; size_t downlink_count;
	bool block_on_backlog;       /* false: retention may drop unforwarded records (counted) */
	int64_t sync_interval_offsets;  /* offset-sync pair every N offsets of drift (100) */
	int64_t queue_buffering_max_kbytes; /* memory bound for librdkafka's queue (16384) */
	bool sync_group_offsets;     /* checkpoint forwarded groups into Kafka (false) */
	int64_t sync_group_offsets_interval_ms;  /* 60000 */
	int line;
} mqb_kafka_conf_t;

/* The section descriptor to pass to mqb_config_load() (name "kafka"). */
extern const mqb_config_section_t mqb_kafka_conf_section;

/* cfg's kafka section (defaults, enabled false, when the file has none); NULL when cfg
 * was loaded without mqb_kafka_conf_section. Borrowed, valid as long as cfg. */
const mqb_kafka_conf_t *mqb_kafka_conf(const mqb_config_t *cfg);

rd_kafka_conf_t *mqb_kafka_conf_build(const mqb_config_t *cfg, char *errstr,
				      size_t errstr_size);

/* Everything check_config can find without a network: properties, forward entries
 * (topic names, duplicates, streams that exist), and that librdkafka accepts the
 * whole configuration. 0 or MQB_ERR_CONFIG with errstr "file:line: key: problem". */
int mqb_kafka_check_config(const mqb_config_t *cfg, char *errstr, size_t errstr_size);

/* The same checks without librdkafka's (no rd_kafka_new()): for a caller that creates
 * its producer next and reports what rd_kafka_new() refuses in the same words
 * ("file:line: kafka.properties: librdkafka refused the configuration: ..."). */
int mqb_kafka_check_entries(const mqb_config_t *cfg, char *errstr, size_t errstr_size);

/* True for a legal Kafka topic name ([A-Za-z0-9._-]{1,249}, not "." or ".."). */
int mqb_kafka_topic_name_valid(const char *name);

#endif
