/*
 * downlink.h — the Kafka -> MQTT downlink: every `kafka.downlink` entry consumes its
 * Kafka topic in its Kafka consumer group (a librdkafka high-level consumer,
 * cooperative-sticky, no auto commit, no auto offset store) and publishes each record
 * to the MQTT broker through a mqb_dl_publisher_t (downlink_pub.h).
 *
 * Delivery: a partition's offset is committed to Kafka only past records the broker
 * acknowledged (QoS 1 PUBACK, QoS 2 PUBCOMP), contiguously in offset order — the
 * forwarding window (bridge/forward/fwd_window.h) tracks the acknowledged cursor. QoS 0
 * is at-most-once: a record counts as acknowledged once written to the socket. After a
 * crash or a rebalance the records between the committed offset and the last PUBACK
 * are published again (at-least-once; duplicates only from that window). Unroutable
 * records (downlink_topic.h) are counted, logged at a rate limit, and skipped or
 * appended to the dead-letter stream; either way committed past.
 *
 * Bounds: at most inflight_per_partition unacknowledged publishes per partition; a full
 * partition, and every partition while the broker is disconnected, is paused
 * (rd_kafka_pause_partitions) and resumed when there is room / on reconnect.
 * Revocation (incremental rebalance): acknowledgements are awaited for up to 1 s, what
 * is acknowledged is committed, the rest is abandoned (later acks are ignored).
 *
 * Threads: one downlink thread runs every consumer and the publisher's loop
 * (publisher callbacks arrive on it). new/start/stop/destroy from one control thread;
 * mqb_downlink_kafka_up and the metrics/JSON callbacks from any thread (atomics and a
 * brief lock). Kafka being down affects only this thread (readiness is unaffected).
 *
 * Ownership: new() borrows cfg, store and metrics (they outlive the downlink) and
 * takes the publisher ops by value (the publisher's ctx stays the caller's: stop()
 * closes it, the caller frees it after destroy()).
 */
#ifndef MQB_KAFKA_DOWNLINK_H
#define MQB_KAFKA_DOWNLINK_H

#include <stdbool.h>
#include <stddef.h>

#include "bridge/config.h"
#include "bridge/stats/metrics.h"
#include "bridge/store/store.h"
#include "connectors/kafka/downlink_pub.h"

typedef struct mqb_downlink mqb_downlink_t;

/* Validate cfg->kafka.downlink (templates, topic names, dead-letter streams, that
 * librdkafka accepts the consumer configuration). 0 or MQB_ERR_CONFIG with errstr
 * "file:line: kafka.downlink.[i].key: problem". */
int mqb_kafka_downlink_check_config(const mqb_config_t *cfg, char *errstr, size_t errstr_size);

/* Build the consumers (no network yet) and register metrics and the /stats
 * "downlink" section. NULL + errstr on a configuration problem. */
mqb_downlink_t *mqb_downlink_new(const mqb_config_t *cfg, mqb_store_t *store,
				 mqb_metrics_t *metrics, const mqb_dl_publisher_t *pub,
				 char *errstr, size_t errstr_size);
int mqb_downlink_start(mqb_downlink_t *dl);      /* starts the thread */
/* Stop the thread: wait for acks (bounded), commit what is acknowledged, leave the
 * groups, close the publisher. Idempotent. */
void mqb_downlink_stop(mqb_downlink_t *dl);
void mqb_downlink_destroy(mqb_downlink_t *dl);   /* NULL-safe; stops first */

/* 1 while every entry's consumer has a broker connection. Any thread. */
bool mqb_downlink_kafka_up(mqb_downlink_t *dl);
/* ms (monotonic) of the thread's last loop turn, 0 before start. Any thread. */
int64_t mqb_downlink_last_turn_ms(mqb_downlink_t *dl);

#endif
