/*
 * groups_codec.h — the consumer groups' MQTT control messages (docs/PROTOCOL.md):
 * topic parser, strict JSON (cJSON) decoder for member -> bridge messages, encoder for
 * bridge -> member ones. The MQTT groups transport (groups_transport.h) turns decoded
 * messages into coordinator calls (bridge/groups/coordinator.h).
 *
 * Topics (prefix = groups_prefix, default "mqbridge", may itself contain '/'):
 *   <prefix>/groups/<g>/join                      MQB_CTL_JOIN
 *   <prefix>/groups/<g>/leave                     MQB_CTL_LEAVE
 *   <prefix>/groups/<g>/members/<m>/heartbeat     MQB_CTL_HEARTBEAT
 *   <prefix>/groups/<g>/members/<m>/ack           MQB_CTL_ACK
 *   <prefix>/groups/<g>/members/<m>/revoked       MQB_CTL_REVOKED
 * Anything else (other suffixes, extra or empty levels, wildcards) is refused.
 *
 * Payloads (member -> bridge), UTF-8 JSON objects:
 *   join      {"member_id": ID, "instance_id"?: ID, "prefetch"?: 1..65535}
 *   leave     {"member_id": ID}
 *   heartbeat {"generation": INT}
 *   ack       {"generation": INT, "acks": [{"stream": ID, "partition": INT,
 *              "ranges": [[first, last], ...], "type": "accept"|"release"|"reject"}, ...]}
 *   revoked   {"generation": INT, "partitions": [INT, ...]}
 * Strictness: required fields must be present with the right JSON type; INT means a JSON
 * number with an integral value in [0, 2^53] (partition: [0, 2^31-1]); ranges need
 * first <= last; an ID is what mqb_group_id_valid() accepts (bridge/groups/transport.h):
 * 1..MQB_CTL_ID_MAX bytes of valid UTF-8 (no overlong forms or surrogates) without '+',
 * '#', '/', NUL or control characters (< 0x20, 0x7f), so usable as one MQTT topic
 * level. Keys not listed are ignored (forward compatibility); if a key appears twice
 * the first one counts. The payload must be one JSON value with nothing after it but
 * whitespace, with no NUL byte and no \u0000 escape anywhere. Nesting deeper than
 * cJSON's limit (1000) is malformed.
 * Limits: payload <= MQB_CTL_MAX_PAYLOAD bytes; <= MQB_CTL_MAX_ACKS entries in "acks";
 * <= MQB_ACK_MAX_RANGES ranges over all entries; <= MQB_CTL_MAX_PARTITIONS in
 * "partitions". Too large -> MQB_ERR_TOOBIG (protocol code "too_large"); anything else
 * malformed -> MQB_ERR_PROTO ("malformed"). The reason is one line in why.
 *
 * Bridge -> member payloads:
 *   assignment {"generation": N, "mode": "exclusive"|"shared",
 *               "assigned": [{"stream": S, "partitions": [..]}],
 *               "revoked":  [{"stream": S, "partitions": [..]}]}   (revoked may be [])
 *   error      {"error": CODE, "message": "...", "request": "<what was refused>"}
 *              (CODE: mqb_group_errcode_name())
 * Integers are printed as plain decimal (never exponent form).
 *
 * Memory: parse results own their arrays; free with mqb_ctl_msg_free(). Encoders
 * return a malloc'd NUL-terminated string (caller frees with free()), NULL on ENOMEM.
 */
#ifndef MQB_MQTT_GROUPS_CODEC_H
#define MQB_MQTT_GROUPS_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge/groups/acktrack.h"   /* mqb_ack_type_t, mqb_offset_range_t, limits */
#include "bridge/groups/transport.h"  /* ids, error codes */

#define MQB_CTL_MAX_PAYLOAD    65536
#define MQB_CTL_ID_MAX         MQB_GROUP_ID_MAX
#define MQB_CTL_MAX_ACKS       256
#define MQB_CTL_MAX_PARTITIONS 10000
#define MQB_CTL_PREFETCH_MAX   65535
#define MQB_CTL_INT_MAX        9007199254740992LL   /* 2^53 */

typedef enum mqb_ctl_kind {
	MQB_CTL_JOIN = 0,
	MQB_CTL_LEAVE,
	MQB_CTL_HEARTBEAT,
	MQB_CTL_ACK,
	MQB_CTL_REVOKED,
} mqb_ctl_kind_t;

/* "join", "leave", "heartbeat", "ack", "revoked". */
const char *mqb_ctl_kind_name(mqb_ctl_kind_t k);

/* --- topics -------------------------------------------------------------------- */

typedef struct mqb_ctl_topic {
	mqb_ctl_kind_t kind;
	char group[MQB_CTL_ID_MAX + 1];
	char member[MQB_CTL_ID_MAX + 1];   /* "" for join/leave */
} mqb_ctl_topic_t;

/* MQB_OK or MQB_ERR_PROTO (why says which level is wrong). */
int mqb_ctl_topic_parse(const char *prefix, const char *topic, mqb_ctl_topic_t *out,
			char *why, size_t why_size);

/* Snprintf "<prefix>/groups/<g>/members/<m>/<leaf>" into buf; MQB_ERR_TOOBIG if it does
 * not fit. leaf e.g. "assignment", "records", "error". */
int mqb_ctl_member_topic(char *buf, size_t size, const char *prefix, const char *group,
			 const char *member, const char *leaf);

/* true when s is a valid ID (see above): mqb_group_id_valid(). */
static inline bool mqb_ctl_id_valid(const char *s) { return mqb_group_id_valid(s); }

/* --- member -> bridge messages --------------------------------------------------- */

typedef struct mqb_ctl_ack_entry {
	char stream[MQB_CTL_ID_MAX + 1];
	int32_t partition;
	mqb_ack_type_t type;
	mqb_offset_range_t *ranges;  /* points into mqb_ctl_msg_t storage */
	size_t n_ranges;
} mqb_ctl_ack_entry_t;

typedef struct mqb_ctl_msg {
	mqb_ctl_kind_t kind;
	int64_t generation;              /* heartbeat, ack, revoked */
	char member_id[MQB_CTL_ID_MAX + 1];    /* join, leave */
	char instance_id[MQB_CTL_ID_MAX + 1];  /* join: "" when absent */
	int32_t prefetch;                /* join: 0 when absent */
	mqb_ctl_ack_entry_t *acks;       /* ack */
	size_t n_acks;
	mqb_offset_range_t *ranges;      /* ack: all ranges, entries point into this */
	size_t n_ranges;
	int32_t *partitions;             /* revoked */
	size_t n_partitions;
} mqb_ctl_msg_t;

/*
 * Parse payload (len bytes, need not be NUL-terminated) as a message of kind into
 * *msg (zeroed first). MQB_OK, MQB_ERR_PROTO, MQB_ERR_TOOBIG or MQB_ERR_NOMEM; on
 * error *msg holds nothing to free (calling mqb_ctl_msg_free is still fine).
 */
int mqb_ctl_parse(mqb_ctl_kind_t kind, const void *payload, size_t len, mqb_ctl_msg_t *msg,
		  char *why, size_t why_size);

void mqb_ctl_msg_free(mqb_ctl_msg_t *msg);  /* frees the arrays and zeroes; NULL-safe */

/* --- bridge -> member messages --------------------------------------------------- */

/* {"generation","mode","assigned","revoked"} and, when set (> 0),
 * "heartbeat_interval_ms" and "session_timeout_ms". a->revoked may be NULL/0.
 * malloc'd string (caller frees) or NULL when out of memory. */
char *mqb_ctl_encode_assignment(const mqb_group_assignment_t *a);

/* message and request may be NULL (encoded as ""). */
char *mqb_ctl_encode_error(mqb_group_errcode_t code, const char *message, const char *request);

#endif
