/*
 * kafka_checkpoint.h — a local consumer group's committed offsets translated to the
 * Kafka topic its stream is forwarded to (GET /offsets/translate?group=), and the
 * checkpointer that commits them into the Kafka consumer group of the same name
 * (kafka.sync_group_offsets, like MirrorMaker 2's sync.group.offsets).
 *
 * The committed offsets are read from the group's saved state (bridge/groups/offsets.h,
 * data_dir/__groups/<g>.state, read-only): the durable position, at most
 * the coordinator's save interval behind the coordinator. Translation is fwd_sync.h's rule
 * (never skip a record).
 *
 * Checkpointer: every kafka.sync_group_offsets_interval_ms, for every configured group
 * whose stream is forwarded: fetch the Kafka group's committed offsets
 * (ListConsumerGroupOffsets) and commit the translated ones only where they move
 * forward (AlterConsumerGroupOffsets). That commit carries no member id and generation
 * -1: the group coordinator accepts it only while the group is empty (no members, not
 * rebalancing) and answers UNKNOWN_MEMBER_ID / ILLEGAL_GENERATION /
 * REBALANCE_IN_PROGRESS otherwise, which counts as "skipped: group active". The broker
 * decides atomically, so a member joining between a describe and the commit cannot be
 * overwritten (and DescribeGroups, which librdkafka's mock cluster lacks, is not needed).
 *
 * Threads: translate may be called from any thread; the checkpointer runs its own
 * thread with its own admin client. Ownership: mqb_kafka_group_tr_t owns its parts
 * (mqb_kafka_group_tr_free).
 */
#ifndef MQB_KAFKA_CHECKPOINT_H
#define MQB_KAFKA_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "bridge/config.h"
#include "bridge/stats/metrics.h"
#include "connectors/kafka/kafka_forwarder.h"

typedef struct mqb_kafka_group_tr_part {
	int32_t partition;
	int64_t committed;           /* the group's committed local offset */
	int64_t kafka_offset;        /* translated, or -1 (status says why) */
	const char *status;          /* "ok", "no_sync_pair", "before_oldest_sync_pair" */
} mqb_kafka_group_tr_part_t;

typedef struct mqb_kafka_group_tr {
	const char *stream, *topic;  /* borrowed from the config / the forwarder */
	mqb_kafka_group_tr_part_t *parts; size_t n_parts;
} mqb_kafka_group_tr_t;

/*
 * Translate group's committed offsets. MQB_OK (out filled, maybe 0 parts when nothing
 * was committed yet); MQB_ERR_NOTFOUND (no such group); MQB_ERR_STATE (its stream is
 * not forwarded); MQB_ERR_CORRUPT (its saved state is unreadable); errstr says why.
 */
int mqb_kafka_group_translate(mqb_kafka_fwd_t *f, const mqb_config_t *cfg, const char *group,
			      mqb_kafka_group_tr_t *out, char *errstr, size_t errstr_size);
void mqb_kafka_group_tr_free(mqb_kafka_group_tr_t *tr);   /* NULL-safe */

typedef struct mqb_kafka_ckpt mqb_kafka_ckpt_t;

/* NULL (not an error) when kafka.sync_group_offsets is false; errstr set on failure. */
mqb_kafka_ckpt_t *mqb_kafka_ckpt_new(const mqb_config_t *cfg, mqb_kafka_fwd_t *f,
				     mqb_metrics_t *metrics, char *errstr, size_t errstr_size);
int mqb_kafka_ckpt_start(mqb_kafka_ckpt_t *c);
void mqb_kafka_ckpt_stop(mqb_kafka_ckpt_t *c);      /* idempotent, NULL-safe */
void mqb_kafka_ckpt_destroy(mqb_kafka_ckpt_t *c);   /* stops first; NULL-safe */

#endif
