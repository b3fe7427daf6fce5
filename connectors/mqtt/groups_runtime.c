/*
 * groups_runtime.c — the coordinator's thread, MQTT session, HTTP routes and metrics.
 *
 * The coordinator belongs to the process's group host (bridge/groups/group_host.h),
 * shared with the other transports. This thread owns the MQTT session and is the
 * host's ticker: it runs the session (control messages arrive through on_message ->
 * mqb_mqtt_groups_handle -> the coordinator's calls under the host lock; what the
 * coordinator sends leaves through rt_publish), then the host's tick (timers,
 * deliveries, persistence).
 *
 * A coordinator call made by another transport's thread (an AMQP member joins and the
 * MQTT members get new assignments) reaches rt_publish on that thread: the session is
 * single-threaded, so such publishes are copied into a queue and sent by this thread
 * on its next turn.
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
#include "bridge/groups/group_host.h"
#include "connectors/mqtt/groups_runtime.h"
#include "connectors/mqtt/groups_transport.h"
#include "connectors/mqtt/session.h"

#define RT_LOG "groups"
#define RT_IDLE_WAIT_MS 20        /* poll wait when nothing was delivered */
#define RT_STOP_FLUSH_MS 5000

/* A publish made on another thread, sent by the runtime's thread. */
typedef struct rt_queued {
	struct rt_queued *next;
	char *topic;
	void *payload;
	size_t len;
	mqb_mqtt_userprop_t *props;   /* names and values point into strings below */
	size_t nprops;
	char *strings;
} rt_queued_t;

#define RT_QUEUE_MAX 100000       /* queued foreign publishes before they are refused */

typedef struct grt {
	const mqb_config_t *cfg;
	mqb_metrics_t *metrics;
	mqb_mqtt_session_t *sess;
	mqb_group_host_t *host;       /* borrowed: the coordinator and its lock */
	mqb_mqtt_groups_t *transport; /* control messages in, records etc. out */
	pthread_t thread;
	bool started;
	atomic_bool stop;
	_Atomic int64_t last_turn_ms; /* monotonic ms of the loop's last turn (liveness) */
	pthread_mutex_t qmu;          /* the queue of foreign publishes */
	rt_queued_t *qhead, **qtail;
	size_t qlen;
	char client_id[300];
	char filters[5][512];
} grt_t;

bool mqb_groups_enabled(const mqb_config_t *cfg)
{
	return cfg && cfg->groups_count > 0;
}

/* --- transport -------------------------------------------------------------------- */

static void rt_queued_free(rt_queued_t *q)
{
	if (!q)
		return;
	free(q->topic);
	free(q->payload);
	free(q->props);
	free(q->strings);
	free(q);
}

/* Copy a publish made on another thread into the queue and wake the session. */
static int rt_enqueue(grt_t *rt, const char *topic, const void *payload, size_t len,
		      const mqb_mqtt_userprop_t *props, size_t nprops)
{
	rt_queued_t *q = calloc(1, sizeof(*q));
	size_t slen = 0, off = 0;

	if (!q)
		return MQB_ERR_NOMEM;
	for (size_t i = 0; i < nprops; i++)
		slen += strlen(props[i].name) + strlen(props[i].value) + 2;
	q->topic = strdup(topic);
	q->payload = malloc(len ? len : 1);
	q->props = nprops ? calloc(nprops, sizeof(*q->props)) : NULL;
	q->strings = slen ? malloc(slen) : NULL;
	if (!q->topic || !q->payload || (nprops && (!q->props || !q->strings))) {
		rt_queued_free(q);
		return MQB_ERR_NOMEM;
	}
	memcpy(q->payload, payload, len);
	q->len = len;
	for (size_t i = 0; i < nprops; i++) {
		size_t nl = strlen(props[i].name) + 1, vl = strlen(props[i].value) + 1;

		memcpy(q->strings + off, props[i].name, nl);
		q->props[i].name = q->strings + off;
		off += nl;
		memcpy(q->strings + off, props[i].value, vl);
		q->props[i].value = q->strings + off;
		off += vl;
	}
	q->nprops = nprops;
	pthread_mutex_lock(&rt->qmu);
	if (rt->qlen >= RT_QUEUE_MAX) {
		pthread_mutex_unlock(&rt->qmu);
		rt_queued_free(q);
		return MQB_ERR_AGAIN;
	}
	*rt->qtail = q;
	rt->qtail = &q->next;
	rt->qlen++;
	pthread_mutex_unlock(&rt->qmu);
	mqb_mqtt_session_wakeup(rt->sess);
	return MQB_OK;
}

static int rt_publish_now(grt_t *rt, const char *topic, const void *payload, size_t len,
			  const mqb_mqtt_userprop_t *props, size_t nprops)
{
	mqb_mqtt_pubprops_t pp;

	memset(&pp, 0, sizeof(pp));
	pp.user_props = props;
	pp.user_prop_count = nprops;
	return mqb_mqtt_session_publish(rt->sess, topic, payload, len, 1, false,
					nprops ? &pp : NULL, NULL);
}

static int rt_publish(void *arg, const char *topic, const void *payload, size_t len,
		      const mqb_mqtt_userprop_t *props, size_t nprops)
{
	grt_t *rt = arg;

	if (rt->started && pthread_equal(pthread_self(), rt->thread))
		return rt_publish_now(rt, topic, payload, len, props, nprops);
	return rt_enqueue(rt, topic, payload, len, props, nprops);
}

/* Send what other threads queued (on the runtime's thread). */
static void rt_drain(grt_t *rt)
{
	rt_queued_t *q;

	pthread_mutex_lock(&rt->qmu);
	q = rt->qhead;
	rt->qhead = NULL;
	rt->qtail = &rt->qhead;
	rt->qlen = 0;
	pthread_mutex_unlock(&rt->qmu);
	while (q) {
		rt_queued_t *next = q->next;

		rt_publish_now(rt, q->topic, q->payload, q->len, q->props, q->nprops);
		rt_queued_free(q);
		q = next;
	}
}

static void rt_wake(void *arg)
{
	grt_t *rt = arg;

	mqb_mqtt_session_wakeup(rt->sess);
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
	mqb_group_host_lock(rt->host);
	mqb_mqtt_groups_handle(rt->transport, msg->topic, msg->payload, msg->payload_len,
			       mqb_mono_ms());
	mqb_group_host_unlock(rt->host);
}

static void rt_on_disconnect(void *arg, int reason)
{
	grt_t *rt = arg;
	if (reason)
		mqb_warn(RT_LOG, "%s disconnected (reason %d); reconnecting", rt->client_id, reason);
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
		rt_drain(rt);
		int n = mqb_group_host_tick(rt->host);
		rt_drain(rt);
		mqb_mqtt_session_cork(rt->sess, false);
		wait = n > 0 ? 0 : RT_IDLE_WAIT_MS;
	}
	int rc = mqb_group_host_flush(rt->host);
	rt_drain(rt);
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
	/* the host (and with it the members whose arg is the transport) is destroyed by
	 * the daemon after every transport stopped and before any is destroyed */
	mqb_mqtt_groups_destroy(rt->transport);
	mqb_mqtt_session_destroy(rt->sess);
	for (rt_queued_t *q = rt->qhead, *next; q; q = next) {
		next = q->next;
		rt_queued_free(q);
	}
	pthread_mutex_destroy(&rt->qmu);
	free(rt);
}

static void *rt_init(const mqb_connector_env_t *env, char *errstr, size_t errstr_size)
{
	grt_t *rt = calloc(1, sizeof(*rt));
	mqb_mqtt_session_opts_t so;
	mqb_mqtt_groups_opts_t to;
	const char *prefix = env->cfg->groups_prefix;
	const mqb_mqtt_conf_t *mc = mqb_mqtt_conf(env->cfg);
	static const char *const suffix[5] = {
		"join", "leave", "members/+/heartbeat", "members/+/ack", "members/+/revoked" };

	if (!rt) {
		mqb_errstr_set(errstr, errstr_size, "groups: out of memory");
		return NULL;
	}
	pthread_mutex_init(&rt->qmu, NULL);
	rt->qtail = &rt->qhead;
	rt->cfg = env->cfg;
	rt->host = env->groups;
	if (!rt->host) {
		mqb_errstr_set(errstr, errstr_size, "groups: no coordinator (group host) given");
		goto error;
	}
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
	memset(&to, 0, sizeof(to));
	to.coord = mqb_group_host_lock(rt->host);   /* the pointer only; stable */
	mqb_group_host_unlock(rt->host);
	to.prefix = prefix;
	to.v5 = mc->protocol == 5;
	to.publish = rt_publish;
	to.publish_arg = rt;
	rt->transport = mqb_mqtt_groups_new(&to, errstr, errstr_size);
	if (!rt->transport)
		goto error;
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
	rt->started = true;          /* before the thread: rt_publish reads it there */
	if (pthread_create(&rt->thread, NULL, rt_main, rt) != 0) {
		rt->started = false;
		return MQB_ERR_NOMEM;
	}
	mqb_group_host_set_waker(rt->host, rt_wake, rt);
	return MQB_OK;
}

static void rt_stop(void *inst)
{
	grt_t *rt = inst;

	if (!rt->started)
		return;
	mqb_group_host_set_waker(rt->host, NULL, NULL);
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
