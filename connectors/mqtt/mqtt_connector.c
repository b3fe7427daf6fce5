/*
 * mqtt_connector.c — connector ops for the MQTT ingest source (see mqtt_connector.h).
 */
#include "connectors/mqtt/mqtt_connector.h"

#include <string.h>

#include "bridge/err.h"
#include "connectors/mqtt/mqtt_source.h"
#include "connectors/mqtt/mqtt_conf.h"
#include "connectors/mqtt/session.h"

#define MQTT_STOP_FLUSH_MS 10000

/* What only libmosquitto can check: TLS files it can load, a readable password file,
 * a usable client id. Builds a session (no connection) and throws it away. */
static int mqtt_check_config(const mqb_config_t *cfg, char *errstr, size_t errstr_size)
{
	mqb_mqtt_session_opts_t so;
	mqb_mqtt_session_t *s;
	char why[256] = "";

	memset(&so, 0, sizeof so);
	so.conf = mqb_mqtt_conf(cfg);
	so.clean_start = -1;
	s = mqb_mqtt_session_new(&so, why, sizeof why);
	if (!s) {
		mqb_errstr_set(errstr, errstr_size, "%s:%d: mqtt: %s",
			       cfg->path ? cfg->path : "config", so.conf->line, why);
		return -1;
	}
	mqb_mqtt_session_destroy(s);
	return 0;
}

static void *mqtt_init(const mqb_connector_env_t *env, char *errstr, size_t errstr_size)
{
	return mqb_mqtt_source_new(env->cfg, env->store, env->metrics, errstr, errstr_size);
}

static int mqtt_start(void *inst)
{
	return mqb_mqtt_source_start(inst);
}

static void mqtt_stop(void *inst)
{
	mqb_mqtt_source_stop(inst, MQTT_STOP_FLUSH_MS);
}

static int mqtt_stop_status(void *inst)
{
	return mqb_mqtt_source_stop(inst, MQTT_STOP_FLUSH_MS);   /* idempotent: the result */
}

static void mqtt_destroy(void *inst)
{
	mqb_mqtt_source_destroy(inst);
}

static int mqtt_ready(void *inst, char *why, size_t why_size)
{
	return mqb_mqtt_source_ready(inst, why, why_size);
}

static int mqtt_alive(void *inst, int64_t stall_ms, char *why, size_t why_size)
{
	return mqb_mqtt_source_alive(inst, stall_ms, why, why_size);
}

#define MQTT_RELOAD_WAIT_MS 15000   /* the swap waits for records held by store errors */

static int mqtt_reload(void *inst, const mqb_config_t *new_cfg, char *why, size_t why_size)
{
	return mqb_mqtt_source_reload(inst, new_cfg, MQTT_RELOAD_WAIT_MS, why, why_size);
}

const struct mqb_connector_ops mqb_connector_mqtt = {
	.version = 1,
	.name = "mqtt",
	.config = &mqb_mqtt_conf_section,
	.check_config = mqtt_check_config,
	.init = mqtt_init,
	.start = mqtt_start,
	.stop = mqtt_stop,
	.destroy = mqtt_destroy,
	.ready = mqtt_ready,
	.alive = mqtt_alive,
	.stop_status = mqtt_stop_status,
	.reload = mqtt_reload,
};
