/*
 * amqp_addr.h — parsing what an AMQP peer names (docs/AMQP.md): link addresses, the
 * start filter of a partition reader, and the SASL PLAIN initial response. Pure
 * functions over outside input (no Proton), each with a libFuzzer target
 * (tests/fuzz/fuzz_amqp_addr.c).
 *
 * Addresses (one leading '/' allowed; the words are case-insensitive, so Event Hubs'
 * "Partitions" works):
 *   <stream>                        send: partition from x-opt-partition-key, else sticky
 *   <stream>/partitions/<p>         send to partition p; receive from it (a plain reader)
 *   <stream>/groups/<g>             receive as a member of consumer group g
 * A reader's address may end in "?start=<spec>" (the start filter, below).
 *
 * Start filter <spec>: "earliest" | "latest" | "offset:N" | "timestamp:MS", or an Event
 * Hubs selector "amqp.annotation.x-opt-offset > 'N'" (after N; ">=" at N; '-1' is
 * earliest, '@latest' latest) or "amqp.annotation.x-opt-enqueued-time > 'MS'" (the
 * first record with timestamp > MS; ">=" for >= MS).
 *
 * Ownership: results are copied into the caller's structs; inputs need not be
 * NUL-terminated (lengths given).
 */
#ifndef MQB_AMQP_ADDR_H
#define MQB_AMQP_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge/groups/transport.h"   /* MQB_GROUP_ID_MAX, mqb_group_id_valid_n */

#define MQB_AMQP_ADDR_MAX 1024       /* longest address accepted */

typedef enum mqb_amqp_addr_kind {
	MQB_AMQP_ADDR_STREAM = 0,    /* <stream> */
	MQB_AMQP_ADDR_PARTITION,     /* <stream>/partitions/<p> */
	MQB_AMQP_ADDR_GROUP,         /* <stream>/groups/<g> */
} mqb_amqp_addr_kind_t;

typedef enum mqb_amqp_start_kind {
	MQB_AMQP_START_EARLIEST = 0,
	MQB_AMQP_START_LATEST,
	MQB_AMQP_START_OFFSET,       /* value: the first offset to read */
	MQB_AMQP_START_TIMESTAMP,    /* value: the first record with timestamp >= value */
} mqb_amqp_start_kind_t;

typedef struct mqb_amqp_start {
	mqb_amqp_start_kind_t kind;
	int64_t value;
} mqb_amqp_start_t;

typedef struct mqb_amqp_addr {
	mqb_amqp_addr_kind_t kind;
	char stream[256];            /* a valid stream name (mqb_stream_name_valid) */
	int32_t partition;           /* PARTITION: >= 0 */
	char group[MQB_GROUP_ID_MAX + 1];
	bool has_start;              /* "?start=" given (PARTITION only) */
	mqb_amqp_start_t start;
} mqb_amqp_addr_t;

/* Parse an address. MQB_OK, or MQB_ERR_INVAL with why (a sentence for the peer). */
int mqb_amqp_addr_parse(const char *s, size_t len, mqb_amqp_addr_t *out, char *why,
			size_t why_size);

/* Parse a start filter (either form above). MQB_OK or MQB_ERR_INVAL with why. */
int mqb_amqp_start_parse(const char *s, size_t len, mqb_amqp_start_t *out, char *why,
			 size_t why_size);

#endif
