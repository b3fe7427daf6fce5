/*
 * partitioner.h — which partition a record goes to.
 *
 * Keyed records: partition = (murmur2(key) & 0x7fffffff) % partitions, bit for bit the
 * Kafka Java client's default partitioner and librdkafka's "murmur2_random", so a key
 * lands in the same partition number locally and in Kafka.
 *
 * Keyless records: a sticky partitioner (like Kafka's KIP-480): all records of a batch
 * go to one randomly chosen partition; each new batch moves to another one. An
 * mqb_sticky_t is a plain value (no allocation) and is not thread-safe: keep one per
 * stream per ingest thread.
 */
#ifndef MQB_PARTITIONER_H
#define MQB_PARTITIONER_H

#include <stddef.h>
#include <stdint.h>

/* Kafka's murmur2 (seed 0x9747b28c), as the Java client's Utils.murmur2 returns it. */
uint32_t mqb_murmur2(const void *key, size_t len);

/* (murmur2(key) & 0x7fffffff) % partitions; partitions must be >= 1. */
int32_t mqb_partition_for_key(const void *key, size_t len, int32_t partitions);

typedef struct mqb_sticky {
	uint64_t rng;            /* xorshift64* state, never 0 */
	int32_t partitions;
	int32_t current;
} mqb_sticky_t;

/* Start on a random partition. seed 0: seed from the clock, pid and address. */
void mqb_sticky_init(mqb_sticky_t *s, int32_t partitions, uint64_t seed);

/* The partition for records of the current batch. */
static inline int32_t mqb_sticky_partition(const mqb_sticky_t *s) { return s->current; }

/* A batch was completed: move to a different random partition (when there is more
 * than one) and return it. */
int32_t mqb_sticky_next(mqb_sticky_t *s);

#endif
