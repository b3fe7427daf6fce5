/*
 * fwd_sync.h — offset-sync pairs (local offset <-> Kafka offset) for one forwarded
 * partition, and the translation of a local position into a Kafka position.
 *
 * A pair (L, K) says: the local record L was delivered to Kafka at offset K, and every
 * local record after L is (or will be) at a Kafka offset above K (the producer keeps
 * order per partition). Pairs are recorded from delivery reports by
 * mqb_fwd_syncs_observe(): on the first delivery, after any gap (the local offset is
 * not the previous one + 1, or the Kafka offset is not the previous one + 1, i.e.
 * kafka - local changed) and every `interval` local offsets since the last pair.
 *
 * Translation follows MirrorMaker 2's OffsetSyncStore.translateDownstream: for a
 * local position O (the next record a consumer would read), take the latest pair
 * (L, K) with L <= O; answer K when O == L, else K + 1. A consumer continuing in Kafka
 * from there never skips a record and re-reads at most the records after L.
 *
 * The table keeps pairs sorted by L, at most MQB_KAFKA_SYNCS_MAX: when full, the older
 * half is thinned (every other pair dropped; translation stays correct, only coarser
 * for old positions). A pair with L at or below the newest one (a re-delivery after
 * a rewind) replaces every pair from L on.
 *
 * Ownership: the table owns its array; not thread-safe (the forwarder locks around it).
 */
#ifndef MQB_FWD_SYNC_H
#define MQB_FWD_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MQB_KAFKA_SYNCS_MAX 1024

typedef struct mqb_fwd_sync_pair {
	int64_t local, kafka;
} mqb_fwd_sync_pair_t;

typedef struct mqb_fwd_syncs {
	mqb_fwd_sync_pair_t *v;
	size_t n, cap;
	int64_t interval;            /* a pair at least every this many local offsets */
	int64_t prev_local, prev_kafka;  /* last delivery seen by observe (-1: none) */
} mqb_fwd_syncs_t;

void mqb_fwd_syncs_init(mqb_fwd_syncs_t *s, int64_t interval);
void mqb_fwd_syncs_free(mqb_fwd_syncs_t *s);   /* NULL-safe; s reusable after init */

/* Add a pair (also used when replaying persisted pairs). MQB_OK or MQB_ERR_NOMEM. */
int mqb_fwd_syncs_add(mqb_fwd_syncs_t *s, int64_t local, int64_t kafka);

/* A successful delivery of local record `local` at Kafka offset `kafka`: returns true
 * when it became a new pair (the caller persists it), false otherwise. */
bool mqb_fwd_syncs_observe(mqb_fwd_syncs_t *s, int64_t local, int64_t kafka);

/* The decision half of observe: records the delivery and returns true when a pair
 * is due, without adding it (the caller adds it with mqb_fwd_syncs_add, e.g. under
 * a lock that readers of the table take). */
bool mqb_fwd_syncs_due(mqb_fwd_syncs_t *s, int64_t local, int64_t kafka);

/* Forget pairs with local >= from (the local log was cut back below them). */
void mqb_fwd_syncs_truncate(mqb_fwd_syncs_t *s, int64_t from);

/*
 * Translate local position `offset` to the Kafka offset to continue from.
 * MQB_OK and *kafka; MQB_ERR_NOTFOUND when no pair exists yet; MQB_ERR_RANGE when
 * offset is older than the oldest pair kept (cannot be translated safely);
 * MQB_ERR_INVAL when offset < 0. *pair (may be NULL) gets the pair used.
 */
int mqb_fwd_syncs_translate(const mqb_fwd_syncs_t *s, int64_t offset, int64_t *kafka,
			      mqb_fwd_sync_pair_t *pair);

#endif
