/*
 * session_int.h — private to connectors/mqtt/session*.c: the session struct and the
 * helpers the session files share. Nobody else includes it.
 */
#ifndef MQB_MQTT_SESSION_INT_H
#define MQB_MQTT_SESSION_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <mosquitto.h>

#include "connectors/mqtt/session.h"

#define SESSION_PROPS_INLINE 16
#define SESSION_STABLE_MS 10000   /* a connection this old resets the backoff */

struct session_sub {
	char *filter;
	int qos, flags;
	uint32_t sub_id;             /* MQTT 5 subscription identifier, 0: none */
	int mid;                     /* of the SUBSCRIBE in flight, 0 when none */
	bool acked;                  /* granted on the current connection */
};

struct mqb_mqtt_session {
	struct mosquitto *mosq;
	char *host, *client_id, *log_name;
	int port, keepalive, protocol;
	bool clean_start;
	int64_t session_expiry_s;
	int64_t backoff_min_ms, backoff_max_ms, backoff_ms;
	int max_inflight;
	uint32_t max_packet_size;    /* announced in CONNECT (MQTT 5), 0: none */
	mqb_mqtt_callbacks_t cb;
	int max_burst, max_burst_qos0;
	int burst_linger_us;
	int burst_qos_max;           /* highest QoS read in the current burst */
	bool more;                   /* the last burst stopped at its limit: read again
				      * without waiting (data may wait in the TLS buffer) */
	bool cork_reads;
	int wake_fd;

	struct session_sub *subs;
	size_t nsubs, subs_cap;

	bool started;                /* connect() called */
	bool ever_tried;             /* the first connect call was made */
	bool closed;
	int64_t next_attempt_ms;     /* monotonic */
	int64_t connected_mono_ms;   /* when the current connection got its CONNACK */
	uint32_t rng;

	/* reused per message: user properties of the message being delivered */
	mqb_mqtt_userprop_t *props;
	size_t props_cap;

	/* shared with other threads (stats) */
	_Atomic int state;
	atomic_bool paused;
	_Atomic uint64_t connects, attempts, disconnects, msgs_in, bytes_in, msgs_out, subacks;
	_Atomic int64_t connected_since_ms;
	pthread_mutex_t err_lock;
	char last_error[160];
};

/* last_error (under err_lock, read by stats from any thread) */
void mqb_mqtt__set_error(mqb_mqtt_session_t *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* libmosquitto error text (errno's for MOSQ_ERR_ERRNO) */
const char *mqb_mqtt__mosq_err(int rc);
/* libmosquitto error -> mqb_err */
int mqb_mqtt__map_err(int rc);
/* send one SUBSCRIBE for sub (connected sessions only) */
int mqb_mqtt__send_sub(mqb_mqtt_session_t *s, struct session_sub *sub);
/* libmosquitto's v5 message callback (session_msg.c) */
void mqb_mqtt__on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *m,
			  const mosquitto_property *props);

#endif
