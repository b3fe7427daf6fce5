/*
 * amqp_map.h — an AMQP 1.0 message <-> a record (docs/AMQP.md, "Message mapping").
 *
 * In (a peer sends): the encoded message is decoded with Proton's codec, then
 *   value   = the data section's bytes; an amqp-value body holding binary or a string
 *             is taken as those bytes (header amqp.body = "amqp-value"); no body or an
 *             amqp-value null gives a null value; any other body (amqp-sequence,
 *             amqp-value of another type, several data sections) is refused
 *   key     = the message annotation x-opt-partition-key (a string or symbol), else none
 *   headers = amqp.subject, amqp.message-id, amqp.correlation-id, amqp.content-type,
 *             amqp.reply-to (when present; ids rendered as text), then every
 *             application property: string/symbol values as UTF-8, binary as its
 *             bytes, null as a null header value, numbers/booleans/timestamps/uuids as
 *             their decimal/text form, anything else as Proton's text rendering.
 * Out (a receiver is sent a record): a data section with the value (an empty data
 *   section for a null value), the message annotations x-opt-offset (string, as Event
 *   Hubs), x-opt-sequence-number (long), x-opt-partition (int), x-opt-enqueued-time
 *   (timestamp), x-opt-partition-key (string, when the record has a key), the headers
 *   back: amqp.* ones into the properties section, others as application properties
 *   (string when valid UTF-8, else binary; null stays null), and the header's
 *   delivery-count = deliveries before this one.
 *
 * Threads: any; a mapper is used by one thread at a time.
 * Ownership: the mapper owns the pn_message_t and the memory the mapped record's
 * pointers point into; they stay valid until the next map_in / map_out or free.
 */
#ifndef MQB_AMQP_MAP_H
#define MQB_AMQP_MAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bridge/store/store.h"

#define MQB_AMQP_MAX_HEADERS 256     /* application properties + amqp.* kept per message */

typedef struct mqb_amqp_mapper mqb_amqp_mapper_t;

/* A received message as record parts (pointers into the mapper). */
typedef struct mqb_amqp_in {
	const void *value; ssize_t value_len;   /* -1: null */
	const void *key; ssize_t key_len;       /* -1: no x-opt-partition-key */
	const mqb_rec_header_t *headers;
	size_t header_count;
} mqb_amqp_in_t;

/* A record to send, with where it came from. */
typedef struct mqb_amqp_out {
	const mqb_record_t *rec;
	int32_t partition;
	uint32_t delivery;           /* 1 = first delivery */
} mqb_amqp_out_t;

mqb_amqp_mapper_t *mqb_amqp_mapper_new(void);
void mqb_amqp_mapper_free(mqb_amqp_mapper_t *m);   /* NULL-safe */

/* Decode bytes[0..len) and map it. MQB_OK; MQB_ERR_PROTO (not a decodable message:
 * condition amqp:decode-error) or MQB_ERR_INVAL (a body kind we do not store, too many
 * properties: amqp:not-implemented) with why for the peer. */
int mqb_amqp_map_in(mqb_amqp_mapper_t *m, const void *bytes, size_t len, mqb_amqp_in_t *out,
		    char *why, size_t why_size);

/* Encode a record as a message. *buf and *len: the encoding, valid until the next call.
 * MQB_OK or MQB_ERR_NOMEM. */
int mqb_amqp_map_out(mqb_amqp_mapper_t *m, const mqb_amqp_out_t *o, const char **buf,
		     size_t *len);

#endif
