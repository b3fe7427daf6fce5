/*
 * mosq_groups.h — the broker side of consumer groups in plugin mode: control messages
 * in from the broker's MOSQ_EVT_MESSAGE callback, records / assignments / error replies
 * out with mosquitto_broker_publish_copy() straight to the member's client (member id ==
 * client id), and the broker's thread as the group host's ticker (see docs/INGEST.md
 * "Plugin mode" and docs/PROTOCOL.md). It knows the broker, not the group protocol:
 * the composition root (bridge/daemon/plugin_main.c) wires the MQTT groups transport
 * (connectors/mqtt/groups_transport.h) and the group host (bridge/groups/group_host.h)
 * to the callbacks below.
 *
 * What it registers (mosquitto 2.0.11, plugin API v5):
 *   - MOSQ_EVT_MESSAGE: a PUBLISH on "<prefix>/groups/..." is handed to opts->handle
 *     with the publishing client's id. handle returns MQB_OK or a refusal; MQB_ERR_PERM
 *     (a request for another member id) makes the callback return MOSQ_ERR_ACL_DENIED:
 *     PUBACK 0x87 to an MQTT 5 publisher, and the broker does not route it. Anything
 *     else returns MOSQ_ERR_SUCCESS: the broker routes the control message as usual
 *     (normally to no subscriber), so a refused ack does not break the member's session.
 *   - MOSQ_EVT_TICK (every turn of the broker's loop; at most 100 ms apart when idle)
 *     and every MOSQ_EVT_MESSAGE: the ticker. opts->tick runs when a tick was asked for
 *     (mqb_mosq_groups_wake, a control message handled), when the last one delivered
 *     records, or tick_idle_ms after the last. While MOSQ_EVT_TICK arrives, a message
 *     only asks (the tick at the end of the loop's turn serves every message of the
 *     turn at once); with per_listener_settings true mosquitto 2.0.11 sends no
 *     MOSQ_EVT_TICK, and then messages tick themselves.
 *   - MOSQ_EVT_DISCONNECT: opts->gone with the client's id (it stands in for the
 *     member's will, which the broker publishes without the message callback).
 *
 * Threads: every callback runs on the broker's thread (the one that called new()).
 * mqb_mosq_groups_publish() and _wake() may be called from any thread: off the broker's
 * thread a publish is copied into a queue (bounded) and sent at the broker's next event;
 * mosquitto_broker_publish*() is only ever called on the broker's thread.
 * Ownership: opts->prefix is copied; the callbacks' arg is borrowed. destroy()
 * unregisters, drops what is queued, frees. NULL-safe.
 */
#ifndef MQB_MOSQ_GROUPS_H
#define MQB_MOSQ_GROUPS_H

#include <stddef.h>
#include <stdint.h>

#include "bridge/stats/metrics.h"

typedef struct mqb_mosq_groups mqb_mosq_groups_t;

/* One MQTT 5 user property of an outgoing message. */
typedef struct mqb_mosq_prop {
	const char *name;
	const char *value;
} mqb_mosq_prop_t;

typedef struct mqb_mosq_groups_opts {
	void *plugin_id;                /* the mosquitto_plugin_id_t * of plugin_init */
	const char *prefix;             /* groups_prefix: control topics "<prefix>/groups/" */
	int tick_idle_ms;               /* tick at least this often (<= 0: 20) */
	mqb_metrics_t *metrics;         /* may be NULL */
	/* A control message from client_id (broker thread). MQB_OK or an mqb_err. */
	int (*handle)(void *arg, const char *client_id, const char *topic,
		      const void *payload, size_t len);
	/* One tick of the group host: returns the records delivered (broker thread). */
	int (*tick)(void *arg);
	/* The client disconnected (broker thread). */
	void (*gone)(void *arg, const char *client_id);
	void *arg;
} mqb_mosq_groups_opts_t;

/* Register the callbacks (call on the broker's thread: plugin init). NULL + errstr. */
mqb_mosq_groups_t *mqb_mosq_groups_new(const mqb_mosq_groups_opts_t *opts, char *errstr,
				       size_t errstr_size);
/* Unregister, free what is queued. Broker thread. NULL-safe. */
void mqb_mosq_groups_destroy(mqb_mosq_groups_t *g);

/*
 * Publish (QoS 1, not retained) to the one client client_id, whether or not it
 * subscribed (mosquitto 2.0.11 single_publish: dropped if no such client is known).
 * props: MQTT 5 user properties (the broker strips them for 3.1.1 clients). Any
 * thread. MQB_OK, MQB_ERR_NOMEM, MQB_ERR_AGAIN (queue full) or MQB_ERR_INVAL.
 */
int mqb_mosq_groups_publish(mqb_mosq_groups_t *g, const char *client_id, const char *topic,
			    const void *payload, size_t len, const mqb_mosq_prop_t *props,
			    size_t nprops);

/* Ask for a tick at the broker's next event. Any thread, never blocks. */
void mqb_mosq_groups_wake(void *g);

#endif
