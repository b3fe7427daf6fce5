/*
 * group_host.h — the one coordinator of a process, shared by every transport.
 *
 * mqbridged (and the broker plugin) run one coordinator (coordinator.h) for all groups;
 * members may join it over MQTT, AMQP 1.0 or anything else, several transports in one
 * group. The host owns that coordinator, the mutex that serialises every call on it,
 * the HTTP views (GET /groups, GET /groups/<g>), the metrics (mqbridge_group_*) and the
 * "groups" section of /stats.
 *
 * Calling the coordinator: c = mqb_group_host_lock(h); mqb_coord_join(c, ...);
 * mqb_group_host_unlock(h). Keep each hold to one request or one tick.
 *
 * The ticker: exactly one thread calls mqb_group_host_tick() in its loop (timers,
 * deliveries, persistence): the MQTT groups runtime in mqbridged, the broker's thread
 * in the plugin, or the host's own thread (mqb_group_host_start_thread) when no
 * transport wants the job. It registers a waker so that any thread can ask for a tick
 * soon (mqb_group_host_wake: after an ack freed prefetch, after a join).
 *
 * Transports: a member's transport ops (transport.h) run inside whichever coordinator
 * call caused them: the ticker's tick, or another transport's request (a join over
 * AMQP rebalances MQTT members: their assignment op runs on the AMQP thread). So an op
 * must be callable from any thread while the host lock is held; a transport whose
 * library is single-threaded queues and wakes its own thread.
 *
 * Ownership: cfg is read during new (and reload) only; store and metrics are borrowed
 * and must outlive the host. The host
 * owns the coordinator. mqb_group_host_destroy() saves every group (final flush).
 */
#ifndef MQB_GROUPS_GROUP_HOST_H
#define MQB_GROUPS_GROUP_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "bridge/config.h"
#include "bridge/groups/coordinator.h"
#include "bridge/stats/http.h"
#include "bridge/stats/metrics.h"
#include "bridge/store/store.h"

typedef struct mqb_group_host mqb_group_host_t;

/* Build the coordinator for every configured group (saved state loaded from
 * data_dir/__groups) and register the metrics collector and the /stats section when
 * metrics is non-NULL. NULL + errstr on failure. */
mqb_group_host_t *mqb_group_host_new(const mqb_config_t *cfg, mqb_store_t *store,
				     mqb_metrics_t *metrics, char *errstr,
				     size_t errstr_size);
/* Stop the own thread if started, remove the routes, save every group, free. NULL-safe.
 * Every transport must have stopped calling in (and its members' transport args must
 * still be valid: the final save touches no transport, but destroy frees members). */
void mqb_group_host_destroy(mqb_group_host_t *h);

/* The coordinator, with the host's mutex held; pair with mqb_group_host_unlock(). */
mqb_coord_t *mqb_group_host_lock(mqb_group_host_t *h);
void mqb_group_host_unlock(mqb_group_host_t *h);

/* One tick (lock, mqb_coord_tick, unlock): returns the records delivered. Only the
 * ticker calls it. Also records the time of the turn for mqb_group_host_alive(). */
int mqb_group_host_tick(mqb_group_host_t *h);

/* The ticker's wake-up (any thread, must not block): set by the ticker before it runs. */
void mqb_group_host_set_waker(mqb_group_host_t *h, void (*wake)(void *arg), void *arg);
/* Ask the ticker for a tick soon. Any thread, never blocks; no-op without a waker. */
void mqb_group_host_wake(mqb_group_host_t *h);

/* Run the ticker on a thread of the host's own (when no transport runs one): it ticks
 * at once when woken, else every idle_ms (and again at once while records flow). */
int mqb_group_host_start_thread(mqb_group_host_t *h, int idle_ms);

/* Save every dirty group now (lock held inside). MQB_OK or the first error. */
int mqb_group_host_flush(mqb_group_host_t *h);

/* A configuration reload (mqb_coord_reload under the host lock, then a wake): groups
 * added, removed when empty, live settings changed. cfg is only read during the call.
 * Returns the count of groups kept for having members (>= 0: applied), or a negative
 * mqb_err with why (nothing changed). Any thread but the ticker's own callbacks. */
int mqb_group_host_reload(mqb_group_host_t *h, const mqb_config_t *cfg, char *why,
			  size_t why_size);

/* GET /groups and GET /groups/<g>; removed again by destroy. */
int mqb_group_host_add_routes(mqb_group_host_t *h, mqb_http_t *http);
void mqb_group_host_remove_routes(mqb_group_host_t *h);

/*
 * Groups served by something other than the coordinator (kafka_api's Kafka groups,
 * whose members assign partitions themselves) shown beside the coordinator's in
 * GET /groups (list appends entries to the "groups" array, each with a "kind") and
 * GET /groups/<g> (describe: the document, or NULL when the name is not one of its
 * groups; the coordinator's groups are asked first). The coordinator's entries get
 * "kind": "mqbridge". Called from the HTTP thread without the host lock; the view
 * locks what it reads. At most 4 views; v must stay valid until removed.
 */
typedef struct mqb_group_view {
	void (*list)(void *arg, cJSON *groups);
	cJSON *(*describe)(void *arg, const char *group);
	void *arg;
} mqb_group_view_t;
int mqb_group_host_add_view(mqb_group_host_t *h, const mqb_group_view_t *v);
void mqb_group_host_remove_view(mqb_group_host_t *h, const mqb_group_view_t *v);

/* 1 when the ticker turned within stall_ms (or nobody ticks yet), else 0 + why. */
int mqb_group_host_alive(mqb_group_host_t *h, int64_t stall_ms, char *why,
			 size_t why_size);

#endif
