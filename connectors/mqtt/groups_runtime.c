/*
 * groups_runtime.c — the coordinator's thread, MQTT session, HTTP routes and metrics.
 *
 * One thread owns the MQTT session and the coordinator: it runs the session (control
 * messages arrive through on_message -> mqb_mqtt_groups_handle -> the coordinator's
 * calls; what the coordinator sends leaves through rt_publish), then mqb_coord_tick
 * (timers, deliveries, persistence). A mutex around the coordinator lets the HTTP
 * thread build /groups documents and metrics from live state; each hold is one
 * handle/tick/view.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/logging.h"
#include "bridge/groups/coordinator.h"
#include "connectors/mqtt/groups_runtime.h"
#include "connectors/mqtt/groups_transport.h"
#include "connectors/mqtt/session.h"

#define RT_LOG "groups"
#define RT_IDLE_WAIT_MS 20        /* poll wait when nothing was delivered */
#define RT_STOP_FLUSH_MS 5000

typedef struct grt {
	const mqb_config_t *cfg;
	mqb_metrics_t *metrics;
	mqb_mqtt_session_t *sess;
	mqb_coord_t *coord;
	mqb_mqtt_groups_t *transport; /* control messages in, records etc. out */
	pthread_mutex_t mu;           /* guards coord and transport */
	pthread_t thread;
	bool started;
	atomic_bool stop;
	_Atomic int64_t last_turn_ms; /* monotonic ms of the loop's last turn (liveness) */
	mqb_http_t *http;
	char client_id[300];
	char filters[5][512];
} grt_t;

bool mqb_groups_enabled(const mqb_config_t *cfg)
{
	return cfg && cfg->groups_count > 0;
}

/* --- transport -------------------------------------------------------------------- */

static int rt_publish(void *arg, const char *topic, const void *payload, size_t len,
		      const mqb_mqtt_userprop_t *props, size_t nprops)
{
	grt_t *rt = arg;
	mqb_mqtt_pubprops_t pp;

	memset(&pp, 0, sizeof(pp));
	pp.user_props = props;
	pp.user_prop_count = nprops;
	return mqb_mqtt_session_publish(rt->sess, topic, payload, len, 1, false,
					nprops ? &pp : NULL, NULL);
}

static void rt_on_message(void *arg, const mqb_mqtt_msg_t *msg)
{
	grt_t *rt = arg;

	if (msg->retain) {
		/* A retained control message would be replayed at every restart. */
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, RT_LOG, 5000, "ignored retained message on %s",
				    msg->topic);
		return;
	}
	pthread_mutex_lock(&rt->mu);
	mqb_mqtt_groups_handle(rt->transport, msg->topic, msg->payload, msg->payload_len,
			       mqb_mono_ms());
	pthread_mutex_unlock(&rt->mu);
}

static void rt_on_disconnect(void *arg, int reason)
{
	grt_t *rt = arg;
	if (reason)
		mqb_warn(RT_LOG, "%s disconnected (reason %d); reconnecting", rt->client_id, reason);
}

/* --- HTTP ---------------------------------------------------------------------------- */

static void rt_http_groups(const mqb_http_req_t *req, mqb_http_resp_t *resp, void *arg)
{
	grt_t *rt = arg;
	const char *path = mqb_http_req_path(req);
	cJSON *doc;

	if (strcmp(path, "/groups") == 0 || strcmp(path, "/groups/") == 0) {
		pthread_mutex_lock(&rt->mu);
		doc = mqb_coord_list(rt->coord, mqb_mono_ms());
		pthread_mutex_unlock(&rt->mu);
		if (!doc) {
			mqb_http_resp_error(resp, 500, "out of memory");
			return;
		}
		mqb_http_resp_json(resp, 200, doc);
		return;
	}
	const char *g = path + strlen("/groups/");
	if (strchr(g, '/')) {
		mqb_http_resp_error(resp, 404, "no such resource: %s", path);
		return;
	}
	pthread_mutex_lock(&rt->mu);
	doc = mqb_coord_describe(rt->coord, g, mqb_mono_ms());
	pthread_mutex_unlock(&rt->mu);
	if (!doc) {
		mqb_http_resp_error(resp, 404, "no such group: %s", g);
		return;
	}
	mqb_http_resp_json(resp, 200, doc);
}

int mqb_groups_add_routes(void *inst, mqb_http_t *http)
{
	grt_t *rt = inst;
	int rc = mqb_http_add_route(http, "GET", "/groups", true, rt_http_groups, rt);

	if (rc == MQB_OK)
		rt->http = http;
	return rc;
}

/* --- metrics ---------------------------------------------------------------------- */

static void rt_collect(mqb_metrics_emit_t *e, void *arg)
{
	grt_t *rt = arg;
	mqb_coord_group_metrics_t *m = NULL;
	size_t n = 0;

	pthread_mutex_lock(&rt->mu);
	int rc = mqb_coord_metrics(rt->coord, &m, &n);
	uint64_t unknown = mqb_coord_unknown_group_errors(rt->coord);
	pthread_mutex_unlock(&rt->mu);
	if (rc != MQB_OK)
		return;
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
	mqb_coord_metrics_free(m, n);
}

static void rt_json(cJSON *section, void *arg)
{
	grt_t *rt = arg;

	pthread_mutex_lock(&rt->mu);
	cJSON *doc = mqb_coord_list(rt->coord, mqb_mono_ms());
	pthread_mutex_unlock(&rt->mu);
	if (!doc)
		return;
	cJSON *arr = cJSON_DetachItemFromObject(doc, "groups");
	if (arr)
		cJSON_AddItemToObject(section, "groups", arr);
	cJSON_Delete(doc);
}

/* --- lifecycle ------------------------------------------------------------------------ */

static void *rt_main(void *arg)
{
	grt_t *rt = arg;
	int wait = RT_IDLE_WAIT_MS;

	mqb_mqtt_session_connect(rt->sess);
	while (!atomic_load(&rt->stop)) {
		atomic_store(&rt->last_turn_ms, mqb_mono_ms());
		if (mqb_mqtt_session_run(rt->sess, wait) == MQB_ERR_CLOSED)
			break;
		/* corked: the tick's publishes leave in full segments, not one each */
		mqb_mqtt_session_cork(rt->sess, true);
		pthread_mutex_lock(&rt->mu);
		int n = mqb_coord_tick(rt->coord, mqb_mono_ms());
		pthread_mutex_unlock(&rt->mu);
		mqb_mqtt_session_cork(rt->sess, false);
		wait = n > 0 ? 0 : RT_IDLE_WAIT_MS;
	}
	pthread_mutex_lock(&rt->mu);
	int rc = mqb_coord_flush(rt->coord);
	pthread_mutex_unlock(&rt->mu);
	if (rc != MQB_OK)
		mqb_error(RT_LOG, "saving group positions at stop failed: %s", mqb_strerror(rc));
	mqb_mqtt_session_disconnect(rt->sess, RT_STOP_FLUSH_MS);
	return NULL;
}

static void rt_destroy(void *inst)
{
	grt_t *rt = inst;

	if (!rt)
		return;
	mqb_coord_destroy(rt->coord);
	mqb_mqtt_groups_destroy(rt->transport);   /* after the coordinator: its members' arg */
	mqb_mqtt_session_destroy(rt->sess);
	pthread_mutex_destroy(&rt->mu);
	free(rt);
}

static void *rt_init(const mqb_connector_env_t *env, char *errstr, size_t errstr_size)
{
	grt_t *rt = calloc(1, sizeof(*rt));
	mqb_mqtt_session_opts_t so;
	mqb_coord_opts_t co;
	mqb_mqtt_groups_opts_t to;
	const char *prefix = env->cfg->groups_prefix;
	const mqb_mqtt_conf_t *mc = mqb_mqtt_conf(env->cfg);
	static const char *const suffix[5] = {
		"join", "leave", "members/+/heartbeat", "members/+/ack", "members/+/revoked" };

	if (!rt) {
		mqb_errstr_set(errstr, errstr_size, "groups: out of memory");
		return NULL;
	}
	pthread_mutex_init(&rt->mu, NULL);
	rt->cfg = env->cfg;
	rt->metrics = env->metrics;
	snprintf(rt->client_id, sizeof(rt->client_id), "%s-groups",
		 mc->client_id ? mc->client_id : "mqbridge");
	memset(&so, 0, sizeof(so));
	so.conf = mc;
	so.client_id = rt->client_id;
	so.clean_start = -1;
	so.log_name = RT_LOG;
	so.cb.on_message = rt_on_message;
	so.cb.on_disconnect = rt_on_disconnect;
	so.cb.arg = rt;
	rt->sess = mqb_mqtt_session_new(&so, errstr, errstr_size);
	if (!rt->sess)
		goto error;
	for (int i = 0; i < 5; i++) {
		snprintf(rt->filters[i], sizeof(rt->filters[i]), "%s/groups/+/%s", prefix, suffix[i]);
		if (mqb_mqtt_session_subscribe(rt->sess, rt->filters[i], 1, 0) != MQB_OK) {
			mqb_errstr_set(errstr, errstr_size, "groups: cannot subscribe to %s",
				       rt->filters[i]);
			goto error;
		}
	}
	memset(&co, 0, sizeof(co));
	co.cfg = env->cfg;
	co.store = env->store;
	co.commit_interval_ms = 100;
	co.async_save = true;
	co.now_ms = mqb_mono_ms();
	rt->coord = mqb_coord_new(&co, errstr, errstr_size);
	if (!rt->coord)
		goto error;
	memset(&to, 0, sizeof(to));
	to.coord = rt->coord;
	to.prefix = prefix;
	to.v5 = mc->protocol == 5;
	to.publish = rt_publish;
	to.publish_arg = rt;
	rt->transport = mqb_mqtt_groups_new(&to, errstr, errstr_size);
	if (!rt->transport)
		goto error;
	if (env->metrics) {
		mqb_metrics_add_collector(env->metrics, rt_collect, rt);
		mqb_metrics_add_json(env->metrics, "groups", rt_json, rt);
	}
	return rt;
error:
	rt_destroy(rt);
	return NULL;
}

static int rt_start(void *inst)
{
	grt_t *rt = inst;

	atomic_store(&rt->stop, false);
	atomic_store(&rt->last_turn_ms, mqb_mono_ms());
	if (pthread_create(&rt->thread, NULL, rt_main, rt) != 0)
		return MQB_ERR_NOMEM;
	rt->started = true;
	return MQB_OK;
}

static void rt_stop(void *inst)
{
	grt_t *rt = inst;

	if (rt->http) {
		mqb_http_remove_route(rt->http, "GET", "/groups");
		rt->http = NULL;
	}
	if (!rt->started)
		return;
	atomic_store(&rt->stop, true);
	mqb_mqtt_session_wakeup(rt->sess);
	pthread_join(rt->thread, NULL);
	rt->started = false;
}

static int rt_ready(void *inst, char *why, size_t why_size)
{
	grt_t *rt = inst;
	mqb_mqtt_session_stats_t st;

	mqb_mqtt_session_stats(rt->sess, &st);
	if (st.state != MQB_MQTT_CONNECTED) {
		mqb_errstr_set(why, why_size, "groups: not connected to the broker (%s)",
			       st.last_error[0] ? st.last_error : mqb_mqtt_state_name(st.state));
		return 0;
	}
	return 1;
}

static int rt_alive(void *inst, int64_t stall_ms, char *why, size_t why_size)
{
	grt_t *rt = inst;
	int64_t idle = mqb_mono_ms() - atomic_load(&rt->last_turn_ms);

	if (!rt->started || idle <= stall_ms)
		return 1;
	mqb_errstr_set(why, why_size, "groups: coordinator loop stalled for %lld ms",
		       (long long)idle);
	return 0;
}

const struct mqb_connector_ops mqb_connector_groups = {
	.version = 1,
	.name = "groups",
	.check_config = NULL,
	.init = rt_init,
	.start = rt_start,
	.stop = rt_stop,
	.destroy = rt_destroy,
	.ready = rt_ready,
	.alive = rt_alive,
};
