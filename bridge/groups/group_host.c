/*
 * group_host.c — one coordinator per process behind one mutex: requests from every
 * transport, one ticker, the HTTP views and metrics (group_host.h).
 */
#include "bridge/groups/group_host.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/logging.h"

#define HOST_LOG "groups"

struct mqb_group_host {
	pthread_mutex_t mu;              /* every coordinator call */
	mqb_coord_t *coord;
	mqb_metrics_t *metrics;
	mqb_http_t *http;                /* routes added here, or NULL */

	pthread_mutex_t wake_mu;         /* waker and the own thread's wait */
	pthread_cond_t wake_cv;
	void (*wake)(void *arg);
	void *wake_arg;
	bool woken;

	pthread_t thread;
	bool own_thread;
	atomic_bool stop;
	int idle_ms;
	_Atomic int64_t last_tick_ms;    /* 0: nobody ticked yet */

	pthread_mutex_t views_mu;        /* views (never held with mu) */
	const mqb_group_view_t *views[4];
};

int mqb_group_host_add_view(mqb_group_host_t *h, const mqb_group_view_t *v)
{
	int rc = MQB_ERR_TOOBIG;

	pthread_mutex_lock(&h->views_mu);
	for (size_t i = 0; i < 4; i++)
		if (!h->views[i]) {
			h->views[i] = v;
			rc = MQB_OK;
			break;
		}
	pthread_mutex_unlock(&h->views_mu);
	return rc;
}

void mqb_group_host_remove_view(mqb_group_host_t *h, const mqb_group_view_t *v)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->views_mu);
	for (size_t i = 0; i < 4; i++)
		if (h->views[i] == v)
			h->views[i] = NULL;
	pthread_mutex_unlock(&h->views_mu);
}

static void kind_mqbridge(cJSON *o)
{
	if (o && !cJSON_GetObjectItemCaseSensitive(o, "kind"))
		cJSON_AddStringToObject(o, "kind", "mqbridge");
}

mqb_coord_t *mqb_group_host_lock(mqb_group_host_t *h)
{
	pthread_mutex_lock(&h->mu);
	return h->coord;
}

void mqb_group_host_unlock(mqb_group_host_t *h)
{
	pthread_mutex_unlock(&h->mu);
}

int mqb_group_host_tick(mqb_group_host_t *h)
{
	int64_t now = mqb_mono_ms();
	int n;

	atomic_store(&h->last_tick_ms, now);
	pthread_mutex_lock(&h->mu);
	n = mqb_coord_tick(h->coord, now);
	pthread_mutex_unlock(&h->mu);
	return n;
}

void mqb_group_host_set_waker(mqb_group_host_t *h, void (*wake)(void *arg), void *arg)
{
	pthread_mutex_lock(&h->wake_mu);
	h->wake = wake;
	h->wake_arg = arg;
	pthread_mutex_unlock(&h->wake_mu);
}

void mqb_group_host_wake(mqb_group_host_t *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->wake_mu);
	if (h->wake)
		h->wake(h->wake_arg);
	pthread_mutex_unlock(&h->wake_mu);
}

int mqb_group_host_flush(mqb_group_host_t *h)
{
	int rc;

	pthread_mutex_lock(&h->mu);
	rc = mqb_coord_flush(h->coord);
	pthread_mutex_unlock(&h->mu);
	return rc;
}

int mqb_group_host_reload(mqb_group_host_t *h, const mqb_config_t *cfg, char *why,
			  size_t why_size)
{
	int rc;

	pthread_mutex_lock(&h->mu);
	rc = mqb_coord_reload(h->coord, cfg, mqb_mono_ms(), why, why_size);
	pthread_mutex_unlock(&h->mu);
	if (rc >= 0)
		mqb_group_host_wake(h);   /* new groups and prefetch: deliver soon */
	return rc;
}

int mqb_group_host_alive(mqb_group_host_t *h, int64_t stall_ms, char *why, size_t why_size)
{
	int64_t last = atomic_load(&h->last_tick_ms), idle;

	if (last == 0)
		return 1;
	idle = mqb_mono_ms() - last;
	if (idle <= stall_ms)
		return 1;
	mqb_errstr_set(why, why_size, "groups: coordinator loop stalled for %lld ms",
		       (long long)idle);
	return 0;
}

/* --- the own ticker thread ------------------------------------------------------------ */

static void own_wake(void *arg)
{
	mqb_group_host_t *h = arg;

	/* called with wake_mu held (mqb_group_host_wake) */
	h->woken = true;
	pthread_cond_signal(&h->wake_cv);
}

static void *own_main(void *arg)
{
	mqb_group_host_t *h = arg;

	while (!atomic_load(&h->stop)) {
		int n = mqb_group_host_tick(h);

		if (n > 0)
			continue;
		pthread_mutex_lock(&h->wake_mu);
		if (!h->woken && !atomic_load(&h->stop)) {
			struct timespec ts;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += h->idle_ms / 1000;
			ts.tv_nsec += (long)(h->idle_ms % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&h->wake_cv, &h->wake_mu, &ts);
		}
		h->woken = false;
		pthread_mutex_unlock(&h->wake_mu);
	}
	return NULL;
}

int mqb_group_host_start_thread(mqb_group_host_t *h, int idle_ms)
{
	if (h->own_thread)
		return MQB_ERR_STATE;
	h->idle_ms = idle_ms > 0 ? idle_ms : 20;
	atomic_store(&h->stop, false);
	mqb_group_host_set_waker(h, own_wake, h);
	if (pthread_create(&h->thread, NULL, own_main, h) != 0) {
		mqb_group_host_set_waker(h, NULL, NULL);
		return MQB_ERR_NOMEM;
	}
	h->own_thread = true;
	return MQB_OK;
}

static void stop_thread(mqb_group_host_t *h)
{
	if (!h->own_thread)
		return;
	atomic_store(&h->stop, true);
	pthread_mutex_lock(&h->wake_mu);
	h->woken = true;
	pthread_cond_signal(&h->wake_cv);
	pthread_mutex_unlock(&h->wake_mu);
	pthread_join(h->thread, NULL);
	h->own_thread = false;
	mqb_group_host_set_waker(h, NULL, NULL);
}

/* --- HTTP ------------------------------------------------------------------------------ */

static void http_groups(const mqb_http_req_t *req, mqb_http_resp_t *resp, void *arg)
{
	mqb_group_host_t *h = arg;
	const char *path = mqb_http_req_path(req);
	cJSON *doc;

	if (strcmp(path, "/groups") == 0 || strcmp(path, "/groups/") == 0) {
		doc = mqb_coord_list(mqb_group_host_lock(h), mqb_mono_ms());
		mqb_group_host_unlock(h);
		if (!doc) {
			mqb_http_resp_error(resp, 500, "out of memory");
			return;
		}
		cJSON *arr = cJSON_GetObjectItemCaseSensitive(doc, "groups"), *e;
		cJSON_ArrayForEach(e, arr)
			kind_mqbridge(e);
		pthread_mutex_lock(&h->views_mu);
		for (size_t i = 0; arr && i < 4; i++)
			if (h->views[i])
				h->views[i]->list(h->views[i]->arg, arr);
		pthread_mutex_unlock(&h->views_mu);
		mqb_http_resp_json(resp, 200, doc);
		return;
	}
	const char *g = path + strlen("/groups/");
	if (strchr(g, '/')) {
		mqb_http_resp_error(resp, 404, "no such resource: %s", path);
		return;
	}
	doc = mqb_coord_describe(mqb_group_host_lock(h), g, mqb_mono_ms());
	mqb_group_host_unlock(h);
	kind_mqbridge(doc);
	pthread_mutex_lock(&h->views_mu);
	for (size_t i = 0; !doc && i < 4; i++)
		if (h->views[i])
			doc = h->views[i]->describe(h->views[i]->arg, g);
	pthread_mutex_unlock(&h->views_mu);
	if (!doc) {
		mqb_http_resp_error(resp, 404, "no such group: %s", g);
		return;
	}
	mqb_http_resp_json(resp, 200, doc);
}

int mqb_group_host_add_routes(mqb_group_host_t *h, mqb_http_t *http)
{
	int rc = mqb_http_add_route(http, "GET", "/groups", true, http_groups, h);

	if (rc == MQB_OK)
		h->http = http;
	return rc;
}

void mqb_group_host_remove_routes(mqb_group_host_t *h)
{
	if (h && h->http) {
		mqb_http_remove_route(h->http, "GET", "/groups");
		h->http = NULL;
	}
}

/* --- metrics ----------------------------------------------------------------------------- */

static void collect(mqb_metrics_emit_t *e, void *arg)
{
	mqb_group_host_t *h = arg;
	mqb_coord_group_metrics_t *m = NULL;
	size_t n = 0;
	mqb_coord_t *c = mqb_group_host_lock(h);
	int rc = mqb_coord_metrics(c, &m, &n);
	uint64_t unknown = mqb_coord_unknown_group_errors(c);

	/* held while emitting: m's names point into groups a reload may remove */
	if (rc != MQB_OK) {
		mqb_group_host_unlock(h);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const char *g = m[i].group;
		for (size_t p = 0; p < m[i].n_parts; p++) {
			char ps[16];
			snprintf(ps, sizeof(ps), "%d", (int)m[i].parts[p].partition);
			mqb_metrics_emit(e, "mqbridge_group_lag", "Records in the log not yet "
					 "consumed (log end - committed offset)", "gauge",
					 (double)m[i].parts[p].lag, "group", g, "stream", m[i].stream,
					 "partition", ps, NULL);
		}
		mqb_metrics_emit(e, "mqbridge_group_members", "Members of the group", "gauge",
				 (double)m[i].members, "group", g, NULL);
		mqb_metrics_emit(e, "mqbridge_group_generation", "Current generation", "gauge",
				 (double)m[i].generation, "group", g, NULL);
		mqb_metrics_emit(e, "mqbridge_group_rebalances_total", "Rebalances", "counter",
				 (double)m[i].rebalances, "group", g, NULL);
		mqb_metrics_emit(e, "mqbridge_group_redeliveries_total", "Records delivered again",
				 "counter", (double)m[i].redeliveries, "group", g, NULL);
		mqb_metrics_emit(e, "mqbridge_group_dead_lettered_total", "Records written to the "
				 "dead-letter stream", "counter", (double)m[i].dead_lettered,
				 "group", g, NULL);
		mqb_metrics_emit(e, "mqbridge_group_archived_total", "Records rejected or over "
				 "max_deliveries without a dead-letter stream", "counter",
				 (double)m[i].archived, "group", g, NULL);
		mqb_metrics_emit(e, "mqbridge_group_delivered_total", "Record deliveries to "
				 "members", "counter", (double)m[i].delivered, "group", g, NULL);
		mqb_metrics_emit(e, "mqbridge_group_acked_total", "Records acknowledged (accept, "
				 "release, reject)", "counter", (double)m[i].acked, "group", g, NULL);
		mqb_metrics_emit(e, "mqbridge_group_failed", "1 when the group refused to start "
				 "(corrupt saved state; see /groups/<g>)", "gauge",
				 m[i].failed ? 1.0 : 0.0, "group", g, NULL);
		mqb_metrics_emit(e, "mqbridge_group_join_deadline_removed_total", "Members removed "
				 "for sending no heartbeat within the join deadline", "counter",
				 (double)m[i].join_deadline_removed, "group", g, NULL);
		for (int k = 0; k < MQB_GROUP_E_COUNT; k++)
			mqb_metrics_emit(e, "mqbridge_group_errors_total", "Control messages refused, "
					 "by error code", "counter", (double)m[i].errors[k], "group", g,
					 "code", mqb_group_errcode_name((mqb_group_errcode_t)k), NULL);
	}
	/* Requests for groups not configured: no group label (its value would be whatever
	 * a client wrote). */
	mqb_metrics_emit(e, "mqbridge_group_errors_total", "Control messages refused, by error "
			 "code", "counter", (double)unknown, "code",
			 mqb_group_errcode_name(MQB_GROUP_E_UNKNOWN_GROUP), NULL);
	mqb_group_host_unlock(h);
	mqb_coord_metrics_free(m, n);
}

static void stats_json(cJSON *section, void *arg)
{
	mqb_group_host_t *h = arg;
	cJSON *doc = mqb_coord_list(mqb_group_host_lock(h), mqb_mono_ms());

	mqb_group_host_unlock(h);
	if (!doc)
		return;
	cJSON *arr = cJSON_DetachItemFromObject(doc, "groups");
	if (arr)
		cJSON_AddItemToObject(section, "groups", arr);
	cJSON_Delete(doc);
}

/* --- lifecycle ------------------------------------------------------------------------- */

mqb_group_host_t *mqb_group_host_new(const mqb_config_t *cfg, mqb_store_t *store,
				     mqb_metrics_t *metrics, char *errstr,
				     size_t errstr_size)
{
	mqb_group_host_t *h = calloc(1, sizeof(*h));
	mqb_coord_opts_t co;

	if (!h) {
		mqb_errstr_set(errstr, errstr_size, "groups: out of memory");
		return NULL;
	}
	pthread_mutex_init(&h->mu, NULL);
	pthread_mutex_init(&h->wake_mu, NULL);
	pthread_mutex_init(&h->views_mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->wake_cv, &ca);
	pthread_condattr_destroy(&ca);
	memset(&co, 0, sizeof(co));
	co.cfg = cfg;
	co.store = store;
	co.commit_interval_ms = 100;
	co.async_save = true;
	co.now_ms = mqb_mono_ms();
	h->coord = mqb_coord_new(&co, errstr, errstr_size);
	if (!h->coord) {
		mqb_group_host_destroy(h);
		return NULL;
	}
	if (metrics) {
		h->metrics = metrics;
		mqb_metrics_add_collector(metrics, collect, h);
		mqb_metrics_add_json(metrics, "groups", stats_json, h);
	}
	return h;
}

void mqb_group_host_destroy(mqb_group_host_t *h)
{
	if (!h)
		return;
	stop_thread(h);
	mqb_group_host_remove_routes(h);
	if (h->coord) {
		if (mqb_group_host_flush(h) != MQB_OK)
			mqb_error(HOST_LOG, "saving group positions at stop failed");
		mqb_coord_destroy(h->coord);
	}
	pthread_cond_destroy(&h->wake_cv);
	pthread_mutex_destroy(&h->wake_mu);
	pthread_mutex_destroy(&h->views_mu);
	pthread_mutex_destroy(&h->mu);
	free(h);
}
