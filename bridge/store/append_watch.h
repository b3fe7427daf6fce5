/*
 * append_watch.h — "a partition got records": a protocol-free wake-up from the store
 * for threads that sleep in epoll/poll while waiting for new records (the Kafka
 * listener's parked long-poll Fetch).
 *
 * A watch is an eventfd owned by the store. Its owner arms it for the partitions it
 * waits on (one-shot: each append that moves a partition's stored watermark fires
 * every watch armed on that partition once and disarms them); the fd then becomes
 * readable. The owner drains it, looks at the watermarks, and arms again for what it
 * still waits on. The appending thread only loads one atomic when nobody is armed,
 * and otherwise does one atomic exchange and one non-blocking eventfd write per
 * armed watch: it never blocks and takes no lock.
 *
 * No lost wake-ups: arm first, then read the watermarks (mqb_partition_watermarks);
 * an append that the read did not see fires the watch. Spurious wake-ups happen (an
 * append to another partition armed by the same watch, or a reused slot): the owner
 * must re-check. At most MQB_APPEND_WATCH_MAX watches per store.
 *
 * Ownership: mqb_append_watch_new() returns a handle the caller frees with
 * mqb_append_watch_free() before mqb_store_close(); the eventfd belongs to the store
 * (never close it; it stays valid until mqb_store_close()). Arm from any thread.
 */
#ifndef MQB_STORE_APPEND_WATCH_H
#define MQB_STORE_APPEND_WATCH_H

#include <stddef.h>
#include <stdint.h>

#include "bridge/store/store.h"

#define MQB_APPEND_WATCH_MAX 32

typedef struct mqb_append_watch mqb_append_watch_t;

/* A new watch, armed for nothing. NULL with errstr when all slots are taken
 * (MQB_APPEND_WATCH_MAX) or eventfd() fails. */
mqb_append_watch_t *mqb_append_watch_new(mqb_store_t *st, char *errstr, size_t errstr_size);
void mqb_append_watch_free(mqb_append_watch_t *w);       /* NULL-safe */

/* The eventfd to put in epoll (EPOLLIN); non-blocking, close-on-exec. */
int mqb_append_watch_fd(const mqb_append_watch_t *w);

/* Fire w at the next append to p (idempotent until it fires). */
void mqb_append_watch_arm(mqb_append_watch_t *w, mqb_partition_t *p);
/* Fire w at the next append to any partition of the store. */
void mqb_append_watch_arm_all(mqb_append_watch_t *w);

/* Read the eventfd (non-blocking): how many fires since the last drain (0: none). */
uint64_t mqb_append_watch_drain(mqb_append_watch_t *w);

#endif
