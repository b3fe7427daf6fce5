/* partitioner.c — Kafka murmur2 partitioning and the sticky partitioner. */
#include "bridge/ingest/partitioner.h"

#include <time.h>
#include <unistd.h>

uint32_t mqb_murmur2(const void *key, size_t len)
{
	const uint8_t *data = key;
	const uint32_t m = 0x5bd1e995;
	const int r = 24;
	/* Java: int h = seed ^ length; with length an int */
	uint32_t h = 0x9747b28cu ^ (uint32_t)len;
	size_t nblocks = len / 4, i;
	const uint8_t *tail;

	for (i = 0; i < nblocks; i++) {
		const uint8_t *b = data + i * 4;
		uint32_t k = (uint32_t)b[0] | ((uint32_t)b[1] << 8) |
			     ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);

		k *= m;
		k ^= k >> r;
		k *= m;
		h *= m;
		h ^= k;
	}
	tail = data + (len & ~(size_t)3);
	switch (len & 3) {
	case 3:
		h ^= (uint32_t)tail[2] << 16;
		/* fall through */
	case 2:
		h ^= (uint32_t)tail[1] << 8;
		/* fall through */
	case 1:
		h ^= tail[0];
		h *= m;
		break;
	default:
		break;
	}
	h ^= h >> 13;
	h *= m;
	h ^= h >> 15;
	return h;
}

int32_t mqb_partition_for_key(const void *key, size_t len, int32_t partitions)
{
	if (partitions <= 1)
		return 0;
	return (int32_t)((mqb_murmur2(key, len) & 0x7fffffffu) % (uint32_t)partitions);
}

static uint64_t sticky_rand(mqb_sticky_t *s)
{
	uint64_t x = s->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	s->rng = x;
	return x * 0x2545f4914f6cdd1dULL;
}

void mqb_sticky_init(mqb_sticky_t *s, int32_t partitions, uint64_t seed)
{
	if (seed == 0) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		seed = ((uint64_t)ts.tv_sec * 1000000007ULL) ^ (uint64_t)ts.tv_nsec ^
		       ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)s;
	}
	s->rng = seed ? seed : 0x9e3779b97f4a7c15ULL;
	s->partitions = partitions < 1 ? 1 : partitions;
	s->current = (int32_t)((sticky_rand(s) >> 33) % (uint64_t)s->partitions);
}

int32_t mqb_sticky_next(mqb_sticky_t *s)
{
	if (s->partitions > 1) {
		/* pick among the other partitions-1 uniformly */
		int32_t step = 1 + (int32_t)((sticky_rand(s) >> 33) %
					     (uint64_t)(s->partitions - 1));
		s->current = (s->current + step) % s->partitions;
	}
	return s->current;
}
