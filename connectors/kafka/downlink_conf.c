/*
 * downlink_conf.c — the key table of one `kafka.downlink` entry (see downlink_conf.h).
 * Runs inside the config loader (any thread that loads a config).
 */
#include <stddef.h>
#include <string.h>

#include "connectors/kafka/downlink_conf.h"

#define OFF(f) offsetof(mqb_kafka_downlink_conf_t, f)

static const mqb_cfgt_choice_t start_choices[] = {
	{ "earliest", 0 }, { "latest", 1 }, { NULL, 0 } };
static const mqb_cfgt_choice_t unroutable_choices[] = {
	{ "skip", MQB_DL_UNROUTABLE_SKIP }, { "dead_letter", MQB_DL_UNROUTABLE_DEAD_LETTER },
	{ NULL, 0 } };

static const mqb_cfgt_key_t downlink_keys[] = {
	{ .name = "topic", .type = MQB_CFGT_STRING, .off = OFF(topic),
	  .flags = MQB_CFGF_REQUIRED | MQB_CFGF_NONEMPTY, .desc = "Kafka topic consumed" },
	{ .name = "mqtt_topic", .type = MQB_CFGT_STRING, .off = OFF(mqtt_topic),
	  .flags = MQB_CFGF_REQUIRED | MQB_CFGF_NONEMPTY,
	  .desc = "MQTT topic template: {key} {partition} {offset} {header:NAME}" },
	{ .name = "qos", .type = MQB_CFGT_INT, .off = OFF(qos), .min = 0, .max = 2,
	  .def_int = 1, .desc = "publish QoS; 0 is at-most-once (committed when written)" },
	{ .name = "group", .type = MQB_CFGT_STRING, .off = OFF(group),
	  .flags = MQB_CFGF_REQUIRED | MQB_CFGF_NONEMPTY,
	  .desc = "Kafka consumer group; gateways sharing it share the partitions" },
	{ .name = "start", .type = MQB_CFGT_ENUM, .off = OFF(start_latest), .def_int = 0,
	  .choices = start_choices, .flags = MQB_CFGF_BOOL,
	  .desc = "where a group without committed offsets starts: \"earliest\" or \"latest\"" },
	{ .name = "allow_topic_header", .type = MQB_CFGT_BOOL, .off = OFF(allow_topic_header),
	  .def_int = 0, .desc = "a record's `mqtt.topic` header replaces the template" },
	{ .name = "on_unroutable", .type = MQB_CFGT_ENUM, .off = OFF(on_unroutable),
	  .def_int = MQB_DL_UNROUTABLE_SKIP, .choices = unroutable_choices,
	  .desc = "record whose topic cannot be filled: \"skip\" (counted) or \"dead_letter\"" },
	{ .name = "dead_letter", .type = MQB_CFGT_STRING, .off = OFF(dead_letter),
	  .flags = MQB_CFGF_NONEMPTY,
	  .desc = "stream receiving unroutable records (with on_unroutable = \"dead_letter\")" },
	{ .name = "inflight_per_partition", .type = MQB_CFGT_INT,
	  .off = OFF(inflight_per_partition), .min = 1, .max = 10000, .def_int = 100,
	  .desc = "unacknowledged publishes per partition before it is paused" },
	{ .name = "retain", .type = MQB_CFGT_BOOL, .off = OFF(retain), .def_int = 0,
	  .desc = "publish with the MQTT retain flag" },
	{ .name = NULL },
};

static int check_downlink(mqb_cfgt_ctx_t *ctx, void *base, const config_setting_t *s,
			  const char *path)
{
	mqb_kafka_downlink_conf_t *d = base;
	char p[384];

	mqb_cfgt_path(p, sizeof(p), path, "dead_letter");
	if (d->on_unroutable == MQB_DL_UNROUTABLE_DEAD_LETTER && !d->dead_letter)
		return mqb_cfgt_error(ctx, s, p, "required with on_unroutable = \"dead_letter\"");
	if (d->on_unroutable != MQB_DL_UNROUTABLE_DEAD_LETTER && d->dead_letter)
		return mqb_cfgt_error(ctx, config_setting_get_member(s, "dead_letter"), p,
				      "only with on_unroutable = \"dead_letter\"");
	return 0;
}

const mqb_cfgt_table_t mqb_kafka_downlink_table = {
	"kafka.downlink[]", downlink_keys, sizeof(mqb_kafka_downlink_conf_t), OFF(line),
	check_downlink };
