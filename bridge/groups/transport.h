/*
 * transport.h — how the coordinator talks to a member, whatever carries it (MQTT today,
 * AMQP 1.0 or the Kafka protocol next): the per-member transport ops table, the record
 * and assignment structs handed to it, the error codes of error replies and the rule
 * for ids (group names, member and instance ids).
 *
 * A member names its transport when it joins (mqb_coord_join, coordinator.h), so the
 * members of one group may each use a different one. The transport formats what it is
 * handed for its wire (the MQTT one: MQTT 5 user properties or a JSON envelope, see
 * connectors/mqtt/groups_transport.h).
 *
 * Threads: the ops are called from the coordinator's thread, inside a coordinator call.
 * Ownership: every pointer handed to an op is valid only during the call.
 */
#ifndef MQB_GROUPS_TRANSPORT_H
#define MQB_GROUPS_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bridge/store/store.h"     /* mqb_rec_header_t */

#define MQB_GROUP_ID_MAX 256        /* bytes of a group name, member or instance id */

/* Error codes of an error reply; the names are the protocol's (docs/PROTOCOL.md §5). */
typedef enum mqb_group_errcode {
	MQB_GROUP_E_MALFORMED = 0,     /* "malformed": not valid / wrong shape */
	MQB_GROUP_E_UNKNOWN_GROUP,     /* "unknown_group" */
	MQB_GROUP_E_UNKNOWN_MEMBER,    /* "unknown_member": not joined (or expired) */
	MQB_GROUP_E_STALE_GENERATION,  /* "stale_generation" */
	MQB_GROUP_E_NOT_OWNER,         /* "not_owner": partition/record owned by another */
	MQB_GROUP_E_NOT_DELIVERED,     /* "not_delivered": offsets never delivered to you */
	MQB_GROUP_E_TOO_LARGE,         /* "too_large": payload or lists over the limits */
	MQB_GROUP_E_RATE_LIMITED,      /* "rate_limited": join/leave flood */
	MQB_GROUP_E_INTERNAL,          /* "internal": the bridge failed (I/O, memory) */
	MQB_GROUP_E_NOT_AUTHORIZED,    /* "not_authorized": a request for another member id
					* (plugin mode: member id must be the client id) */
	MQB_GROUP_E_COUNT
} mqb_group_errcode_t;

/* "malformed", "unknown_group", ...; "internal" for a value out of range. */
const char *mqb_group_errcode_name(mqb_group_errcode_t c);
/*
 * Map an mqb_err from the coordinator, acktrack or share to the reply code:
 * PROTO/INVAL -> malformed, TOOBIG -> too_large, STALE -> stale_generation,
 * PERM -> not_owner, RANGE -> not_delivered, NOTFOUND -> unknown_member,
 * AGAIN -> rate_limited, anything else -> internal.
 */
mqb_group_errcode_t mqb_group_errcode_from_err(int err);

/* true when s is an id: 1..MQB_GROUP_ID_MAX bytes of valid UTF-8 without '+', '#',
 * '/', NUL or control characters (< 0x20, 0x7f), so usable as one MQTT topic level.
 * mqb_group_id_valid_n checks the n bytes at s (which need not be NUL-terminated). */
bool mqb_group_id_valid(const char *s);
bool mqb_group_id_valid_n(const char *s, size_t n);

/* One record delivered to a member. */
typedef struct mqb_group_record {
	const char *stream;
	int32_t partition;
	int64_t offset;
	int64_t timestamp_ms;
	const void *key;                 /* key_len -1: no key */
	ssize_t key_len;
	const void *value;               /* value_len -1: null value */
	ssize_t value_len;
	const mqb_rec_header_t *headers;
	size_t header_count;
	uint32_t delivery;               /* delivery count, this one included (1 = first) */
	int64_t generation;              /* the group's generation at delivery */
} mqb_group_record_t;

/* A member's assignment (sent after every change of it). */
typedef struct mqb_group_assignment {
	int64_t generation;
	bool shared;                     /* mode: shared (every partition) or exclusive */
	const char *stream;
	const int32_t *assigned;         /* ascending */
	size_t n_assigned;
	const int32_t *revoked;          /* to hand over (send "revoked"); ascending */
	size_t n_revoked;
	int64_t heartbeat_interval_ms;   /* the group's: how often the member heartbeats */
	int64_t session_timeout_ms;      /* the group's: silent this long = removed */
} mqb_group_assignment_t;

typedef struct mqb_group_transport_ops {
	/* Shown as the member's "protocol" by GET /groups/<g> (e.g. "v5", "v311"). */
	const char *name;
	/* Send one record. MQB_OK, or an error: the record stays delivered (the member
	 * may never see it; it comes back after the lock / on the owner's next
	 * incarnation), as a lost publish would. */
	int (*deliver)(void *arg, const char *group, const char *member,
		       const mqb_group_record_t *rec);
	/* Send the member its assignment. MQB_OK or an error (logged, not retried). */
	int (*assignment)(void *arg, const char *group, const char *member,
			  const mqb_group_assignment_t *a);
	/* Send an error reply. request: "join", "leave", "heartbeat", "ack", "revoked". */
	void (*error)(void *arg, const char *group, const char *member, mqb_group_errcode_t code,
		      const char *request, const char *message);
} mqb_group_transport_ops_t;

/* A transport: its ops (static) and their first argument. Copied by the coordinator. */
typedef struct mqb_group_transport {
	const mqb_group_transport_ops_t *ops;
	void *arg;
} mqb_group_transport_t;

#endif
