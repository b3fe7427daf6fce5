/*
 * downlink_conf.h — the `kafka.downlink` config list: Kafka topics consumed in a Kafka
 * consumer group and published to the MQTT broker (the Kafka -> MQTT direction).
 *
 *   kafka = { bootstrap_servers = "..."; properties = ( ... );
 *     downlink = ( { topic = "site42.commands"; mqtt_topic = "devices/{key}/commands";
 *                    qos = 1; group = "mqbridge-site42"; start = "earliest";
 *                    allow_topic_header = false; on_unroutable = "skip";
 *                    dead_letter = "unroutable"; inflight_per_partition = 100; } ); };
 *
 * The table (mqb_kafka_downlink_table) is the LIST key "downlink" of the kafka
 * section (connectors/kafka/kafka_conf.c).
 *
 * Checks here need nothing but the element itself (dead_letter given exactly when
 * on_unroutable = "dead_letter"); the template syntax, topic names and the dead-letter
 * stream's existence are checked by mqb_kafka_downlink_check_config (downlink.h).
 *
 * Ownership: strings are owned by the config (freed by mqb_config_free via the table).
 */
#ifndef MQB_KAFKA_DOWNLINK_CONF_H
#define MQB_KAFKA_DOWNLINK_CONF_H

#include <stdbool.h>

#include "bridge/config.h"
#include "bridge/config_table.h"

typedef enum {
	MQB_DL_UNROUTABLE_SKIP = 0,        /* counted, logged (rate-limited), committed past */
	MQB_DL_UNROUTABLE_DEAD_LETTER = 1, /* appended to the dead_letter stream first */
} mqb_dl_unroutable_t;

typedef struct mqb_kafka_downlink_conf {
	char *topic;                 /* Kafka topic consumed */
	char *mqtt_topic;            /* topic template: {key} {partition} {offset} {header:NAME} */
	int qos;                     /* 0 (at most once), 1, 2 */
	char *group;                 /* Kafka consumer group (group.id) */
	bool start_latest;           /* start = "earliest" (false) | "latest": no committed offset */
	bool allow_topic_header;     /* an `mqtt.topic` header overrides the template */
	int on_unroutable;           /* mqb_dl_unroutable_t */
	char *dead_letter;           /* stream name (on_unroutable = "dead_letter") */
	int inflight_per_partition;  /* unacknowledged publishes per partition (100) */
	bool retain;                 /* publish with the retain flag (false) */
	int line;
} mqb_kafka_downlink_conf_t;

extern const mqb_cfgt_table_t mqb_kafka_downlink_table;

#endif
