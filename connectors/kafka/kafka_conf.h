/*
 * kafka_conf.h — turning the `kafka` config section into a librdkafka configuration.
 *
 * Order of precedence: mqbridge's defaults (enable.idempotence=true, acks=all,
 * partitioner=murmur2_random, compression.type=lz4, linger.ms=5,
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

#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "bridge/config.h"

rd_kafka_conf_t *mqb_kafka_conf_build(const mqb_config_t *cfg, char *errstr,
				      size_t errstr_size);

/* Everything check_config can find without a network: properties, forward entries
 * (topic names, duplicates, streams that exist), and that librdkafka accepts the
 * whole configuration. 0 or MQB_ERR_CONFIG with errstr "file:line: key: problem". */
int mqb_kafka_check_config(const mqb_config_t *cfg, char *errstr, size_t errstr_size);

/* True for a legal Kafka topic name ([A-Za-z0-9._-]{1,249}, not "." or ".."). */
int mqb_kafka_topic_name_valid(const char *name);

#endif
