/*
 * session.h — one MQTT client connection (libmosquitto) driven by its owner's loop.
 *
 * No libmosquitto thread: the owner calls mqb_mqtt_session_run() in its own loop; run
 * polls the socket, calls mosquitto_loop_read/write/misc, and reconnects with
 * exponential backoff plus jitter (conf->reconnect_min_ms .. reconnect_max_ms). Every
 * filter given to mqb_mqtt_session_subscribe() is subscribed again after each
 * (re)connect. mqb_mqtt_session_pause_reading() stops reading the socket (keepalive
 * pings still go out): once the broker's in-flight window (our receive maximum,
 * conf->max_inflight) is full it stops sending us QoS 1/2 messages — back-pressure.
 *
 * Used by the MQTT ingest (connectors/mqtt/mqtt_source.c), by the consumer-group
 * coordinator as its transport and by `mqbridge consume` (tools/cmd_consume.c). The
 * rest of mqbridge never sees libmosquitto types.
 *
 * Threads: a session belongs to the thread that calls run(). Every function must be
 * called from that thread, except mqb_mqtt_session_wakeup() and
 * mqb_mqtt_session_stats(), which any thread may call. Callbacks run inside run()
 * (or inside publish/subscribe/disconnect) on the owner thread.
 *
 * Ownership: new() copies everything it needs from its options (conf strings,
 * client id, will); the caller keeps its own. Message pointers handed to on_message
 * are valid only during the callback. destroy() is NULL-safe and does not send a
 * DISCONNECT (call mqb_mqtt_session_disconnect() first for a graceful close).
 * mosquitto_lib_init() is done once per process by the first new().
 */
#ifndef MQB_MQTT_SESSION_H
#define MQB_MQTT_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "connectors/mqtt/mqtt_conf.h"

typedef struct mqb_mqtt_session mqb_mqtt_session_t;

/* An MQTT 5 user property (UTF-8 name and value, NUL-terminated). */
typedef struct mqb_mqtt_userprop {
	const char *name;
	const char *value;
} mqb_mqtt_userprop_t;

/* A received message. Every pointer is valid only during on_message. Fields that
 * are MQTT 5 properties are NULL/0 when absent (always so on MQTT 3.1.1). */
typedef struct mqb_mqtt_msg {
	const char *topic;
	const void *payload;
	size_t payload_len;
	int qos;
	bool retain;
	int mid;
	const char *content_type;
	const char *response_topic;
	const void *correlation_data;
	size_t correlation_len;            /* 0 with correlation_data NULL: absent */
	const mqb_mqtt_userprop_t *user_props;
	size_t user_prop_count;
	const uint32_t *sub_ids;           /* MQTT 5 subscription identifiers (at most 8) */
	size_t sub_id_count;
	int64_t arrival_ms;                /* wall clock when the packet was read */
} mqb_mqtt_msg_t;

/* Properties for an outgoing publish (MQTT 5; dropped on 3.1.1: check
 * mqb_mqtt_session_is_v5() to choose an envelope instead). All may be NULL/0. */
typedef struct mqb_mqtt_pubprops {
	const mqb_mqtt_userprop_t *user_props;
	size_t user_prop_count;
	const char *content_type;
	const char *response_topic;
	const void *correlation_data;
	size_t correlation_len;
	int64_t message_expiry_s;          /* 0: none */
} mqb_mqtt_pubprops_t;

typedef struct mqb_mqtt_callbacks {
	/* CONNACK accepted. session_present: the broker kept our session. */
	void (*on_connect)(void *arg, bool session_present);
	/* Connection lost or closed. reason: MQTT reason/libmosquitto code, 0 when we
	 * asked for it. A reconnect is scheduled unless disconnect() was called. */
	void (*on_disconnect)(void *arg, int reason);
	void (*on_message)(void *arg, const mqb_mqtt_msg_t *msg);
	/* SUBACK for filter: granted_qos 0..2, or >= 0x80 when refused. */
	void (*on_subscribe)(void *arg, const char *filter, int granted_qos);
	/* A QoS 1/2 publish we sent was acknowledged (QoS 0: written to the socket). */
	void (*on_publish)(void *arg, int mid);
	/* UNSUBACK for the UNSUBSCRIBE with this mid (mqb_mqtt_session_unsubscribe_mid). */
	void (*on_unsubscribe)(void *arg, int mid);
	/* The broker refused the CONNECT (CONNACK reason code / MQTT 3.1.1 return code,
	 * see mqb_mqtt_reason_string()). A reconnect follows with backoff. */
	void (*on_connect_refused)(void *arg, int reason);
	/* Called at the end of each read burst inside run() (messages delivered by
	 * on_message since the last call); ingest flushes its pending batches here. */
	void (*on_burst_end)(void *arg);
	void *arg;
} mqb_mqtt_callbacks_t;

typedef struct mqb_mqtt_will {
	const char *topic;                 /* NULL: no will */
	const void *payload;
	size_t payload_len;
	int qos;
	bool retain;
} mqb_mqtt_will_t;

typedef struct mqb_mqtt_session_opts {
	const mqb_mqtt_conf_t *conf;       /* required; copied */
	const char *client_id;             /* NULL: conf->client_id */
	int clean_start;                   /* -1: conf->clean_start; 0 / 1 override */
	const mqb_mqtt_will_t *will;       /* NULL: none */
	mqb_mqtt_callbacks_t cb;
	int max_burst;                     /* messages per read burst (0: 1000) */
	int max_burst_qos0;                /* ... while the burst holds QoS 0 messages
					    * only (0: max_burst) */
	int burst_linger_us;               /* keep a burst of QoS 0 messages open this
					    * long for more data once the socket is
					    * drained (0: end at once); a burst holding a
					    * QoS 1/2 message ends at once */
	const char *log_name;              /* module name in log lines (NULL: "mqtt") */
	const char *password;              /* NULL: conf->password_file's (if any); copied */
	uint32_t max_packet_size;          /* MQTT 5 Maximum Packet Size we announce in
					    * CONNECT: the broker drops larger PUBLISHes
					    * for us instead of sending them (0: none) */
	int receive_maximum;               /* MQTT 5 Receive Maximum we announce (0: 65535,
					    * i.e. none; see session.c) */
	bool cork_reads;                   /* cork the socket (TCP_CORK) while a read burst
					    * is processed and until what it queued (acks,
					    * PUBACKs) is written: they leave in one segment */
} mqb_mqtt_session_opts_t;

/* Subscription flags (MQTT 5 subscription options; ignored on 3.1.1). */
enum {
	MQB_MQTT_SUB_NO_LOCAL        = 1 << 0, /* don't receive our own publishes */
	MQB_MQTT_SUB_RETAIN_AS_PUB   = 1 << 1, /* keep the retain flag as published */
	MQB_MQTT_SUB_RETAIN_NEW_ONLY = 1 << 2, /* retained messages only on a new subscription */
	MQB_MQTT_SUB_RETAIN_NEVER    = 1 << 3, /* never send retained messages */
};

typedef enum mqb_mqtt_state {
	MQB_MQTT_DISCONNECTED = 0,         /* waiting for the next reconnect attempt */
	MQB_MQTT_CONNECTING   = 1,         /* TCP/TLS/CONNECT sent, no CONNACK yet */
	MQB_MQTT_CONNECTED    = 2,
	MQB_MQTT_CLOSED       = 3,         /* disconnect() called */
} mqb_mqtt_state_t;

typedef struct mqb_mqtt_session_stats {
	mqb_mqtt_state_t state;
	bool paused;
	uint64_t connects;                 /* CONNACKs accepted */
	uint64_t connect_attempts;
	uint64_t disconnects;              /* connections lost or closed */
	uint64_t messages_in, bytes_in;    /* PUBLISH received (payload bytes) */
	uint64_t messages_out;             /* publish() calls accepted */
	uint64_t subacks;
	int64_t connected_since_ms;        /* wall clock, 0 when not connected */
	char last_error[160];              /* "" when none */
} mqb_mqtt_session_stats_t;

/* Build a session (does not connect yet). NULL + errstr on failure (bad TLS files,
 * unreadable password file, bad options). */
mqb_mqtt_session_t *mqb_mqtt_session_new(const mqb_mqtt_session_opts_t *opts,
					 char *errstr, size_t errstr_size);

/* Send DISCONNECT if connected (session kept on the broker per session expiry),
 * flush what is queued (bounded by timeout_ms) and stop reconnecting. */
void mqb_mqtt_session_disconnect(mqb_mqtt_session_t *s, int timeout_ms);

void mqb_mqtt_session_destroy(mqb_mqtt_session_t *s);  /* NULL-safe */

/* Start connecting (non-blocking; completion is seen in run()). MQB_OK, or an error
 * that only means the first attempt failed: run() keeps retrying with backoff. */
int mqb_mqtt_session_connect(mqb_mqtt_session_t *s);

/* Connect now, blocking until the TCP (and TLS) connection is made and the CONNECT
 * is sent, for MQTT 5 and 3.1.1 alike (the CONNACK is seen in run()): for a tool that
 * should fail at once when the broker cannot be reached. MQB_OK, or MQB_ERR_CONN with
 * why in errstr (e.g. "Connection refused"); run() then keeps retrying with backoff
 * as after connect(). MQB_ERR_INVAL when already started or closed. */
int mqb_mqtt_session_connect_sync(mqb_mqtt_session_t *s, char *errstr, size_t errstr_size);

/*
 * One turn of the loop: wait up to timeout_ms for the socket (or a wakeup), read a
 * burst of at most max_burst messages unless paused (calling on_message for each,
 * then on_burst_end), write what is queued, run keepalive, and reconnect when the
 * backoff time has come. A burst that stopped at max_burst with more to read (the
 * socket or the TLS buffer may hold more) makes the next turn read without waiting.
 * Returns MQB_OK (also while disconnected: that is normal operation),
 * MQB_ERR_CLOSED after disconnect(), MQB_ERR_INVAL on misuse.
 */
int mqb_mqtt_session_run(mqb_mqtt_session_t *s, int timeout_ms);

/* Make a run() blocked in poll return soon. Any thread; async-signal-safe. */
void mqb_mqtt_session_wakeup(mqb_mqtt_session_t *s);

/* Add filter to the subscription set (kept and re-sent after every reconnect) and,
 * when connected, subscribe now. Subscribing again to the same filter updates qos
 * and flags. flags: MQB_MQTT_SUB_*. MQB_ERR_INVAL for a bad filter or qos. */
int mqb_mqtt_session_subscribe(mqb_mqtt_session_t *s, const char *filter, int qos, int flags);
/* Same with an MQTT 5 subscription identifier (1..268435455; 0: none), which the
 * broker puts on every message delivered through this subscription (msg->sub_ids):
 * lets the owner tell which of several overlapping subscriptions a copy came by. */
int mqb_mqtt_session_subscribe_id(mqb_mqtt_session_t *s, const char *filter, int qos,
				  int flags, uint32_t sub_id);
int mqb_mqtt_session_unsubscribe(mqb_mqtt_session_t *s, const char *filter);
/* Same; when connected, *mid receives the UNSUBSCRIBE's message id, which
 * cb.on_unsubscribe reports when the UNSUBACK arrives (0 when nothing was sent:
 * not connected). */
int mqb_mqtt_session_unsubscribe_mid(mqb_mqtt_session_t *s, const char *filter, int *mid);

/* True when every filter in the set has a SUBACK granting it on this connection. */
bool mqb_mqtt_session_subscribed(const mqb_mqtt_session_t *s);

/*
 * Publish. props may be NULL. On MQTT 3.1.1 props are dropped (not an error).
 * *mid (may be NULL) receives the message id for on_publish. QoS 1/2 messages
 * published while disconnected are queued by libmosquitto and sent after the
 * reconnect; QoS 0 then returns MQB_ERR_CONN. MQB_ERR_INVAL for a bad topic,
 * qos or a payload over the MQTT limit.
 */
int mqb_mqtt_session_publish(mqb_mqtt_session_t *s, const char *topic,
			     const void *payload, size_t len, int qos, bool retain,
			     const mqb_mqtt_pubprops_t *props, int *mid);

/* Hold small writes (TCP_CORK) while on: a burst of publishes made between cork(true)
 * and cork(false) leaves in full segments instead of one segment each; cork(false)
 * sends what is held. Only from the thread that runs the session; no-op while
 * disconnected. */
void mqb_mqtt_session_cork(mqb_mqtt_session_t *s, bool on);

/* Stop reading the socket (keepalive continues) / read again. Idempotent. Note: a
 * pause longer than about twice the keepalive lets the keepalive lapse; the session
 * then reconnects and the broker redelivers unacknowledged QoS 1/2 messages. */
void mqb_mqtt_session_pause_reading(mqb_mqtt_session_t *s);
void mqb_mqtt_session_resume_reading(mqb_mqtt_session_t *s);
bool mqb_mqtt_session_paused(const mqb_mqtt_session_t *s);

bool mqb_mqtt_session_is_v5(const mqb_mqtt_session_t *s);
bool mqb_mqtt_session_connected(const mqb_mqtt_session_t *s);

/* Snapshot of state and counters. Any thread. */
void mqb_mqtt_session_stats(mqb_mqtt_session_t *s, mqb_mqtt_session_stats_t *out);

const char *mqb_mqtt_state_name(mqb_mqtt_state_t st);

/* Text for a libmosquitto error code (the reason given to on_disconnect). */
const char *mqb_mqtt_strerror(int rc);
/* Text for an MQTT 5 reason code (the reason given to on_connect_refused). */
const char *mqb_mqtt_reason_string(int reason);

#endif
