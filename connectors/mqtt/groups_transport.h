/*
 * groups_transport.h — the consumer-group protocol over MQTT (docs/PROTOCOL.md): control
 * messages (topic + JSON, groups_codec.h) in as coordinator calls
 * (bridge/groups/coordinator.h); records, assignments and error replies out as MQTT
 * messages through a publish callback.
 *
 * Records go to <prefix>/groups/<g>/members/<m>/records as the value with MQTT 5 user
 * properties (stream, partition, offset, key, timestamp, delivery, generation, then the
 * record's headers), or as a JSON envelope to members that joined with
 * "protocol":"v311" (and to every member when the session speaks 3.1.1). Keys and
 * header values that are not UTF-8 are sent as "base64:..." (properties) or as
 * "<name>_b64" fields (envelope), with bridge/text.h.
 *
 * Threads: the coordinator's thread (the caller serialises, as for the coordinator).
 * Ownership: opts->coord and opts->prefix are borrowed and must outlive the transport;
 * it is the transport arg of every member that joined through it, so destroy it only
 * after the coordinator.
 */
#ifndef MQB_MQTT_GROUPS_TRANSPORT_H
#define MQB_MQTT_GROUPS_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge/groups/coordinator.h"
#include "connectors/mqtt/session.h"      /* mqb_mqtt_userprop_t */

typedef struct mqb_mqtt_groups mqb_mqtt_groups_t;

/*
 * Publish one message (QoS 1, not retained) to a member. props are the MQTT 5 user
 * properties (nprops may be 0; only records to MQTT 5 members have them). MQB_OK or
 * an error (the coordinator logs it; see transport.h for what then happens).
 */
typedef int (mqb_mqtt_groups_publish_fn)(void *arg, const char *topic, const void *payload,
					 size_t len, const mqb_mqtt_userprop_t *props,
					 size_t nprops);

typedef struct mqb_mqtt_groups_opts {
	mqb_coord_t *coord;                  /* borrowed */
	const char *prefix;                  /* groups_prefix (borrowed) */
	bool v5;                             /* false: every member gets the JSON envelope */
	mqb_mqtt_groups_publish_fn *publish;
	void *publish_arg;
} mqb_mqtt_groups_opts_t;

/* NULL + errstr on bad options or out of memory. */
mqb_mqtt_groups_t *mqb_mqtt_groups_new(const mqb_mqtt_groups_opts_t *opts, char *errstr,
				       size_t errstr_size);
void mqb_mqtt_groups_destroy(mqb_mqtt_groups_t *t);   /* NULL-safe */

/*
 * One control message received on topic (any <prefix>/groups/... topic). Bad input
 * is answered with an error reply on the member's error topic (when the topic names
 * a member), logged at a rate limit and counted; it changes no state. Returns MQB_OK
 * when the message was applied, else the mqb_err of the refusal.
 */
int mqb_mqtt_groups_handle(mqb_mqtt_groups_t *t, const char *topic, const void *payload,
			   size_t len, int64_t now_ms);

/*
 * The same for a transport that knows who published (the broker plugin): sender is the
 * publishing client's id, and the member a request names (the topic's for heartbeat,
 * ack and revoked; the payload's "member_id" for join and leave) must be sender. A
 * request for another id is refused "not_authorized" (counted per group, error reply
 * to the sender's own error topic when sender is an id) and MQB_ERR_PERM is returned.
 * sender NULL: no check (mqb_mqtt_groups_handle).
 */
int mqb_mqtt_groups_handle_as(mqb_mqtt_groups_t *t, const char *topic, const void *payload,
			      size_t len, int64_t now_ms, const char *sender);

#endif
