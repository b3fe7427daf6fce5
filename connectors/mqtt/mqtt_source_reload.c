/*
 * mqtt_source_reload.c — the MQTT source's side of a configuration reload (see
 * mqb_mqtt_source_reload() in mqtt_source.h).
 *
 * The controlling thread builds everything that can fail (the pipeline's new tables,
 * the per-route subscription identifiers) and posts one request; the source's thread
 * takes it at the top of a loop turn (every burst has ended there), swaps the
 * pipeline's tables, the identifiers and its configuration pointer at once, and only
 * then changes the subscriptions. Messages already in flight for a removed filter
 * are then rejected as "no_route" like any unrouted message; a new filter receives
 * what is published after the broker's SUBACK.
 *
 * Subscription identifiers stay with their filter across reloads (a fresh one for a
 * new filter): a copy in flight keeps matching its route's identifier.
 *
 * Hand-off without a lock: src->reload_req is an atomic pointer. The source's thread
 * takes the request by exchanging it for NULL, applies it or (records still pending
 * after a store error) puts it back; the controlling thread cancels by exchanging it
 * back to NULL itself, which succeeds only while the request is not taken.
 */
#include "connectors/mqtt/mqtt_source.h"
#include "connectors/mqtt/mqtt_source_int.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/ingest/pipeline_reload.h"
#include "bridge/logging.h"

struct mqb_mqtt_source_reload {
	const mqb_config_t *cfg;
	mqb_pipeline_next_t *next;   /* the new tables; after apply, the old ones */
	uint32_t *sub_ids;           /* per new route; after apply, the old array */
	size_t nroutes;
	atomic_int done;             /* 1 once the source's thread applied it */
};

/* The highest QoS of cfg's routes with filter, or -1 when none uses it. */
static int filter_qos(const mqb_config_t *cfg, const char *filter)
{
	int q = -1;

	for (size_t i = 0; i < cfg->routes_count; i++)
		if (strcmp(cfg->routes[i].filter, filter) == 0 && cfg->routes[i].qos > q)
			q = cfg->routes[i].qos;
	return q;
}

/* index of the first route of cfg with filter, or -1 */
static int first_route(const mqb_config_t *cfg, const char *filter, size_t below)
{
	for (size_t i = 0; i < below && i < cfg->routes_count; i++)
		if (strcmp(cfg->routes[i].filter, filter) == 0)
			return (int)i;
	return -1;
}

/* Controlling thread: each new route's subscription identifier. */
static uint32_t *new_sub_ids(mqb_mqtt_source_t *src, const mqb_config_t *cfg)
{
	uint32_t *ids = calloc(cfg->routes_count ? cfg->routes_count : 1, sizeof *ids);
	size_t i;

	if (!ids)
		return NULL;
	if (src->next_sub_id == 0) {
		src->next_sub_id = 1;
		for (i = 0; i < src->nroutes; i++)
			if (src->sub_ids[i] >= src->next_sub_id)
				src->next_sub_id = src->sub_ids[i] + 1;
	}
	for (i = 0; i < cfg->routes_count; i++) {
		const char *f = cfg->routes[i].filter;
		int same = first_route(cfg, f, i), old = first_route(src->cfg, f, src->nroutes);

		if (same >= 0)
			ids[i] = ids[same];
		else if (old >= 0)
			ids[i] = src->sub_ids[old];
		else
			ids[i] = src->next_sub_id++;
	}
	return ids;
}

/* Source thread: subscriptions from old's filters to cfg's. */
static void resubscribe(mqb_mqtt_source_t *src, const mqb_config_t *old,
			const mqb_config_t *cfg)
{
	size_t i;

	for (i = 0; i < cfg->routes_count; i++) {
		const char *f = cfg->routes[i].filter;
		int q = filter_qos(cfg, f), was = filter_qos(old, f);

		if (first_route(cfg, f, i) >= 0 || q == was)
			continue;
		if (mqb_mqtt_session_subscribe_id(src->session, f, q, MQB_MQTT_SUB_RETAIN_NEW_ONLY,
						  src->sub_ids[i]) != MQB_OK)
			mqb_error(SRC_MOD, "reload: cannot subscribe to %s", f);
		else if (was < 0)
			mqb_notice(SRC_MOD, "reload: subscribing to %s (QoS %d)", f, q);
		else
			mqb_notice(SRC_MOD, "reload: %s now at QoS %d (was %d)", f, q, was);
	}
	for (i = 0; i < old->routes_count; i++) {
		const char *f = old->routes[i].filter;

		if (first_route(old, f, i) >= 0 || filter_qos(cfg, f) >= 0)
			continue;
		if (mqb_mqtt_session_unsubscribe(src->session, f) != MQB_OK)
			mqb_error(SRC_MOD, "reload: cannot unsubscribe from %s", f);
		else
			mqb_notice(SRC_MOD, "reload: unsubscribed from %s (no route uses it)", f);
	}
}

void mqb_mqtt_source__reload_poll(mqb_mqtt_source_t *src)
{
	struct mqb_mqtt_source_reload *rq = atomic_exchange(&src->reload_req, NULL);
	const mqb_config_t *old;
	uint32_t *ids;
	size_t n;

	if (!rq)
		return;
	/* lingering batches are appended under the routes they were taken with */
	mqb_pipeline_flush_now(src->pipe);
	if (mqb_pipeline_reload_apply(src->pipe, rq->next) != MQB_OK) {
		/* records wait for the store: try again next turn (or the controller
		 * cancels); the exchange cannot fail, nobody else puts a request there
		 * while this one is out */
		atomic_store(&src->reload_req, rq);
		return;
	}
	old = src->cfg;
	ids = src->sub_ids;
	n = src->nroutes;
	src->cfg = rq->cfg;
	src->sub_ids = rq->sub_ids;
	src->nroutes = rq->nroutes;
	rq->sub_ids = ids;           /* the old array goes back to be freed */
	rq->nroutes = n;
	resubscribe(src, old, src->cfg);
	/* a new subscription is pending from here: /readyz must not answer from the
	 * last turn's state before the reload is reported done (its SUBACK sets it) */
	atomic_store(&src->subscribed, mqb_mqtt_session_subscribed(src->session));
	atomic_store(&rq->done, 1);
}

static void request_free(struct mqb_mqtt_source_reload *rq)
{
	mqb_pipeline_next_free(rq->next);
	free(rq->sub_ids);
	free(rq);
}

int mqb_mqtt_source_reload(mqb_mqtt_source_t *src, const mqb_config_t *new_cfg,
			   int timeout_ms, char *why, size_t why_size)
{
	struct mqb_mqtt_source_reload *rq;
	int64_t deadline = mqb_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	const struct timespec tick = { 0, 5 * 1000 * 1000 };

	if (!src || !new_cfg || !src->thread_started || atomic_load(&src->stop)) {
		mqb_errstr_set(why, why_size, "ingest: not running");
		return MQB_ERR_STATE;
	}
	rq = calloc(1, sizeof *rq);
	if (!rq) {
		mqb_errstr_set(why, why_size, "out of memory");
		return MQB_ERR_NOMEM;
	}
	rq->cfg = new_cfg;
	rq->nroutes = new_cfg->routes_count;
	atomic_init(&rq->done, 0);
	rq->sub_ids = new_sub_ids(src, new_cfg);
	if (!rq->sub_ids) {
		mqb_errstr_set(why, why_size, "out of memory");
		request_free(rq);
		return MQB_ERR_NOMEM;
	}
	rq->next = mqb_pipeline_reload_prepare(src->pipe, new_cfg, why, why_size);
	if (!rq->next) {
		request_free(rq);
		return MQB_ERR_CONFIG;
	}
	atomic_store(&src->reload_req, rq);
	mqb_mqtt_session_wakeup(src->session);
	for (;;) {
		struct mqb_mqtt_source_reload *mine = rq;

		if (atomic_load(&rq->done))
			break;
		if (mqb_mono_ms() >= deadline &&
		    atomic_compare_exchange_strong(&src->reload_req, &mine, NULL)) {
			mqb_errstr_set(why, why_size, "ingest still has records waiting for the "
				       "store after %d ms (store errors?): routes not changed",
				       timeout_ms);
			request_free(rq);
			return MQB_ERR_AGAIN;
		}
		nanosleep(&tick, NULL);
	}
	request_free(rq);            /* now holds the old tables and identifiers */
	return MQB_OK;
}
