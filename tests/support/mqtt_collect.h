/*
 * mqtt_collect.h — a libmosquitto MQTT 5 subscriber for tests that collects every
 * message it receives (topic, payload, user properties) for later checks: the Kafka
 * -> MQTT downlink tests count, order and compare what arrived.
 *
 * It uses a persistent session (clean start off, session expiry 1 h) so a broker
 * restart loses nothing, QoS 1, and reconnects every second.
 *
 * Threads: libmosquitto's network thread appends under a mutex; the test thread reads
 * through mqbt_collect_count / mqbt_collect_snapshot. Ownership: the collector owns
 * its messages; a snapshot is a malloc'd copy the caller frees (mqbt_collect_free_msgs).
 */
#ifndef MQBT_MQTT_COLLECT_H
#define MQBT_MQTT_COLLECT_H

#include <stddef.h>
#include <stdint.h>

typedef struct mqbt_msg {
	char *topic;
	char *payload;                 /* NUL-terminated copy */
	size_t payload_len;
	char **props;                  /* name, value, name, value, ... */
	size_t nprops;                 /* pairs */
} mqbt_msg_t;

typedef struct mqbt_collect mqbt_collect_t;

/* Connect client_id to 127.0.0.1:port, subscribe filter at qos; waits for the SUBACK. */
mqbt_collect_t *mqbt_collect_start(int port, const char *client_id, const char *filter,
				   int qos);
void mqbt_collect_stop(mqbt_collect_t *c);     /* disconnect and free; NULL-safe */
size_t mqbt_collect_count(mqbt_collect_t *c);
/* Copy of messages [0, count) in arrival order; *n receives the count. */
mqbt_msg_t *mqbt_collect_snapshot(mqbt_collect_t *c, size_t *n);
void mqbt_collect_free_msgs(mqbt_msg_t *v, size_t n);
/* Forget the messages collected so far (benchmarks between runs). */
void mqbt_collect_clear(mqbt_collect_t *c);
/* Monotonic ms of the first and last message since start or the last clear (-1: none). */
void mqbt_collect_times(mqbt_collect_t *c, int64_t *first_ms, int64_t *last_ms);
/* The value of user property name of m, or NULL. */
const char *mqbt_msg_prop(const mqbt_msg_t *m, const char *name);

#endif
