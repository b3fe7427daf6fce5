/*
 * kafka_brokers.h — reading librdkafka's statistics JSON (statistics.interval.ms) for
 * what the forwarder and the downlink both report: how many brokers are up.
 * Thread: any (pure function). Ownership: json is borrowed.
 */
#ifndef MQB_KAFKA_BROKERS_H
#define MQB_KAFKA_BROKERS_H

#include <stddef.h>

/* Brokers in state "UP" with a node id >= 0 (bootstrap entries have -1) in the
 * statistics document json[0..len); -1 when it is not JSON. */
int mqb_kafka_brokers_up(const char *json, size_t len);

#endif
