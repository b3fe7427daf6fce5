/*
 * downlink_pub.h — the MQTT publisher the Kafka downlink publishes through.
 *
 * Why an ops table: the downlink lives in connectors/kafka and may not include
 * connectors/mqtt (one connector never includes another). So the downlink names what
 * it needs — publish with a completion, a loop turn, a wakeup, the connection state —
 * and the composition root (bridge/daemon/downlink_wire.c) implements it on the MQTT
 * connector's session (connectors/mqtt/session.h, one extra session per daemon);
 * tests may implement it on anything else.
 *
 * Contract:
 *  - The downlink thread is the publisher's owner thread: it calls run() in its loop;
 *    every other op except wakeup() is called from that thread, and on_done /
 *    on_connection are called back inside run() (or publish()/close()) on it.
 *  - publish() either fails synchronously (returns an mqb_err; no callback) or accepts
 *    the message and later calls on_done(cookie, status) exactly once: MQB_OK when the
 *    broker acknowledged it (QoS 1: PUBACK, QoS 2: PUBCOMP, QoS 0: written to the
 *    socket), an error when it failed, MQB_ERR_CLOSED for publishes still pending when
 *    close() is called. A QoS 1/2 publish accepted while the connection is down stays
 *    pending and is sent after the reconnect.
 *  - connected() is the current state; on_connection(up) reports each change.
 *  - wakeup() may be called from any thread (librdkafka's queue callback): it makes a
 *    run() blocked in poll return soon.
 *
 * Ownership: strings and payload are borrowed for the duration of publish(); the
 * publisher copies what it keeps. The cookie is the downlink's and is handed back.
 */
#ifndef MQB_KAFKA_DOWNLINK_PUB_H
#define MQB_KAFKA_DOWNLINK_PUB_H

#include <stdbool.h>
#include <stddef.h>

typedef struct mqb_dl_prop {         /* an MQTT 5 user property: UTF-8, NUL-terminated */
	const char *name;
	const char *value;
} mqb_dl_prop_t;

typedef struct mqb_dl_pubmsg {
	const char *topic;
	const void *payload;
	size_t len;
	int qos;
	bool retain;
	const mqb_dl_prop_t *props;  /* user properties (dropped on MQTT 3.1.1) */
	size_t nprops;
} mqb_dl_pubmsg_t;

typedef struct mqb_dl_pub_events {
	void (*on_done)(void *arg, void *cookie, int status);
	void (*on_connection)(void *arg, bool up);
	void *arg;
} mqb_dl_pub_events_t;

typedef struct mqb_dl_publisher {
	void *ctx;
	/* Set the callbacks (once, before the first run()). */
	void (*bind)(void *ctx, const mqb_dl_pub_events_t *ev);
	/* Start connecting (non-blocking). MQB_OK or an error (then run() retries). */
	int (*connect)(void *ctx);
	int (*publish)(void *ctx, const mqb_dl_pubmsg_t *m, void *cookie);
	/* One loop turn, waiting up to timeout_ms for I/O or a wakeup. */
	int (*run)(void *ctx, int timeout_ms);
	void (*wakeup)(void *ctx);
	bool (*connected)(void *ctx);
	/* Disconnect gracefully (bounded by timeout_ms), then report every pending
	 * publish as MQB_ERR_CLOSED. */
	void (*close)(void *ctx, int timeout_ms);
} mqb_dl_publisher_t;

#endif
