/*
 * downlink_wire.c — mqb_dl_publisher_t on an MQTT session, and the downlink component
 * (downlink_wire.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/kafka/kafka_conf.h"
#include "bridge/clock.h"
#include "bridge/daemon/downlink_wire.h"
#include "bridge/err.h"
#include "bridge/logging.h"
#include "connectors/kafka/downlink.h"
#include "connectors/kafka/downlink_pub.h"
#include "connectors/mqtt/session.h"

#define NMIDS 65536

struct sess_pub {
	mqb_mqtt_session_t *s;
	mqb_dl_pub_events_t ev;
	void *cookie[NMIDS];         /* pending publishes by message id */
	bool publishing;             /* inside mqb_mqtt_session_publish */
	int early_mid;               /* a QoS 0 completion seen before publish returned */
};

static void sp_on_connect(void *arg, bool session_present)
{
	struct sess_pub *sp = arg;
	(void)session_present;
	if (sp->ev.on_connection)
		sp->ev.on_connection(sp->ev.arg, true);
}

static void sp_on_disconnect(void *arg, int reason)
{
	struct sess_pub *sp = arg;
	(void)reason;
	if (sp->ev.on_connection)
		sp->ev.on_connection(sp->ev.arg, false);
}

static void sp_on_publish(void *arg, int mid)
{
	struct sess_pub *sp = arg;
	void *c = mid >= 0 && mid < NMIDS ? sp->cookie[mid] : NULL;
	if (!c) {
		if (sp->publishing)
			sp->early_mid = mid;
		return;
	}
	sp->cookie[mid] = NULL;
	sp->ev.on_done(sp->ev.arg, c, MQB_OK);
}

static void sp_bind(void *ctx, const mqb_dl_pub_events_t *ev)
{
	((struct sess_pub *)ctx)->ev = *ev;
}

static int sp_connect(void *ctx)
{
	return mqb_mqtt_session_connect(((struct sess_pub *)ctx)->s);
}

static int sp_publish(void *ctx, const mqb_dl_pubmsg_t *m, void *cookie)
{
	struct sess_pub *sp = ctx;
	mqb_mqtt_pubprops_t pp = { .user_props = (const mqb_mqtt_userprop_t *)m->props,
				   .user_prop_count = m->nprops };
	int mid = -1;
	sp->publishing = true;
	sp->early_mid = -1;
	int rc = mqb_mqtt_session_publish(sp->s, m->topic, m->payload, m->len, m->qos,
					  m->retain, &pp, &mid);
	sp->publishing = false;
	if (rc != MQB_OK)
		return rc;
	if (mid < 0 || mid >= NMIDS || mid == sp->early_mid) {
		sp->ev.on_done(sp->ev.arg, cookie, MQB_OK);
		return MQB_OK;
	}
	if (sp->cookie[mid]) {     /* 65535 publishes pending: cannot happen within bounds */
		mqb_error("downlink", "message id %d reused while pending", mid);
		sp->ev.on_done(sp->ev.arg, sp->cookie[mid], MQB_ERR_STATE);
	}
	sp->cookie[mid] = cookie;
	return MQB_OK;
}

static int sp_run(void *ctx, int timeout_ms)
{
	return mqb_mqtt_session_run(((struct sess_pub *)ctx)->s, timeout_ms);
}

static void sp_wakeup(void *ctx)
{
	mqb_mqtt_session_wakeup(((struct sess_pub *)ctx)->s);
}

static bool sp_connected(void *ctx)
{
	return mqb_mqtt_session_connected(((struct sess_pub *)ctx)->s);
}

static void sp_close(void *ctx, int timeout_ms)
{
	struct sess_pub *sp = ctx;
	mqb_mqtt_session_disconnect(sp->s, timeout_ms);
	for (size_t i = 0; i < NMIDS; i++)
		if (sp->cookie[i]) {
			void *c = sp->cookie[i];
			sp->cookie[i] = NULL;
			sp->ev.on_done(sp->ev.arg, c, MQB_ERR_CLOSED);
		}
}

static struct sess_pub *sp_new(const mqb_mqtt_conf_t *conf, char *errstr, size_t errstr_size)
{
	struct sess_pub *sp = calloc(1, sizeof(*sp));
	char cid[256];
	if (!sp) {
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		return NULL;
	}
	snprintf(cid, sizeof(cid), "%s-dl", conf->client_id);
	/* Clean start: the session only publishes (nothing to keep), and a QoS 2 state
	 * kept by the broker from before a crash would swallow a new publish that reuses
	 * a packet id. */
	mqb_mqtt_session_opts_t o = {
		.conf = conf, .client_id = cid, .clean_start = 1, .log_name = "downlink-mqtt",
		.cb = { .on_connect = sp_on_connect, .on_disconnect = sp_on_disconnect,
			.on_publish = sp_on_publish, .arg = sp },
	};
	sp->s = mqb_mqtt_session_new(&o, errstr, errstr_size);
	if (!sp->s) {
		free(sp);
		return NULL;
	}
	return sp;
}

/* --- the component ----------------------------------------------------------------- */

struct dl_inst {
	struct sess_pub *sp;
	mqb_downlink_t *dl;
};

bool mqb_downlink_enabled(const mqb_config_t *cfg)
{
	return mqb_kafka_conf(cfg)->enabled && mqb_kafka_conf(cfg)->downlink_count > 0;
}

static void dlc_destroy(void *inst)
{
	struct dl_inst *di = inst;
	if (!di)
		return;
	mqb_downlink_destroy(di->dl);
	if (di->sp)
		mqb_mqtt_session_destroy(di->sp->s);
	free(di->sp);
	free(di);
}

static void *dlc_init(const mqb_connector_env_t *env, char *errstr, size_t errstr_size)
{
	struct dl_inst *di = calloc(1, sizeof(*di));
	if (!di || !(di->sp = sp_new(mqb_mqtt_conf(env->cfg), errstr, errstr_size))) {
		free(di);
		return NULL;
	}
	mqb_dl_publisher_t ops = { .ctx = di->sp, .bind = sp_bind, .connect = sp_connect,
				   .publish = sp_publish, .run = sp_run, .wakeup = sp_wakeup,
				   .connected = sp_connected, .close = sp_close };
	di->dl = mqb_downlink_new(env->cfg, env->store, env->metrics, &ops, errstr, errstr_size);
	if (!di->dl) {
		dlc_destroy(di);
		return NULL;
	}
	return di;
}

static int dlc_start(void *inst)
{
	return mqb_downlink_start(((struct dl_inst *)inst)->dl);
}

static void dlc_stop(void *inst)
{
	mqb_downlink_stop(((struct dl_inst *)inst)->dl);
}

/* Always ready: Kafka or the broker being away must not take the edge out of service;
 * why (and /stats "downlink") says what is down. */
static int dlc_ready(void *inst, char *why, size_t why_size)
{
	struct dl_inst *di = inst;
	if (!mqb_downlink_kafka_up(di->dl))
		mqb_errstr_set(why, why_size, "downlink: kafka down (consuming resumes when it "
			       "returns)");
	return 1;
}

static int dlc_alive(void *inst, int64_t stall_ms, char *why, size_t why_size)
{
	struct dl_inst *di = inst;
	int64_t last = mqb_downlink_last_turn_ms(di->dl);
	if (last > 0 && mqb_mono_ms() - last > stall_ms) {
		mqb_errstr_set(why, why_size, "downlink thread stalled");
		return 0;
	}
	return 1;
}

const struct mqb_connector_ops mqb_connector_downlink = {
	.version = 1,
	.name = "downlink",
	.check_config = mqb_kafka_downlink_check_config,
	.init = dlc_init,
	.start = dlc_start,
	.stop = dlc_stop,
	.destroy = dlc_destroy,
	.ready = dlc_ready,
	.alive = dlc_alive,
};
