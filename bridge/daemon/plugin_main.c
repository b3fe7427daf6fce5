/*
 * plugin_main.c — mqbridge_plugin.so: the composition root of plugin mode, the twin of
 * main.c (mqbridged). Mosquitto 2.0 loads it with
 *
 *   plugin /usr/lib/mqbridge/mqbridge_plugin.so
 *   plugin_opt_config /etc/mqbridge/mqbridge.conf
 *
 * and calls, on its own thread: mosquitto_plugin_version(), mosquitto_plugin_init()
 * (here: load the same configuration file as mqbridged, open the store and its streams,
 * start the stats endpoint and the Kafka forwarder / Kafka API when configured, then
 * the broker-side ingest of connectors/mosquitto/, which registers the message and tick
 * callbacks), and mosquitto_plugin_cleanup() at broker shutdown (stop ingest and store
 * what is pending, stop the other components, close the store: fsync, clean marker).
 *
 * Like main.c this file may know every connector: connectors/mosquitto/ does not
 * include connectors/kafka/ (a connector never includes another); the composition
 * happens here. The mqtt section is loaded (same file) but its connection settings are
 * unused: the broker is the MQTT side. Consumer groups run in the broker too
 * (plugin_groups.h: the broker's thread ticks the coordinator, member id == client id).
 *
 * Threads: init/cleanup and the ingest callbacks run on the broker's thread; one small
 * thread here runs store maintenance and the /healthz tick (every 200 ms, only while the
 * broker's thread still turns), so the broker's loop never waits on retention work.
 * Supervision: the unit is the broker (mosquitto.service): a failing init makes
 * mosquitto exit; mosquitto itself tells systemd READY=1; the plugin sends nothing.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include "bridge/clock.h"
#include "bridge/config.h"
#include "bridge/daemon/plugin_groups.h"
#include "bridge/err.h"
#include "bridge/logging.h"
#include "bridge/stats/http.h"
#include "bridge/stats/metrics.h"
#include "bridge/stats/process_metrics.h"
#include "bridge/stats/route_stats.h"
#include "bridge/stats/store_metrics.h"
#include "bridge/store/store.h"
#include "connectors/connector.h"
#include "connectors/kafka/kafka_conf.h"
#include "connectors/kafka/kafka_connector.h"
#include "connectors/kafka_api/kafka_api_connector.h"
#include "connectors/mosquitto/mosq_ingest.h"
#include "connectors/mqtt/mqtt_conf.h"
#include "connectors/sections.h"

#define PLUGIN_MOD "plugin"
#define MAINTAIN_INTERVAL_MS 5000
#define ALIVE_STALL_MS 10000
#define STOP_FLUSH_MS 5000

struct component {
	const struct mqb_connector_ops *ops;
	bool (*enabled)(const mqb_config_t *cfg);
	int (*add_routes)(void *inst, mqb_http_t *http);
};

static bool kafka_enabled(const mqb_config_t *cfg) { return mqb_kafka_conf(cfg)->enabled; }

/* The components besides ingest (which is this mode's own: connectors/mosquitto/). */
static const struct component components[] = {
	{ &mqb_connector_kafka, kafka_enabled, mqb_kafka_connector_add_routes },
	{ &mqb_connector_kafka_api, mqb_kafka_api_enabled, NULL },
};
#define NCOMPONENTS (sizeof components / sizeof components[0])

struct plugin {
	mqb_config_t *cfg;
	mqb_store_t *store;
	mqb_metrics_t *metrics;
	mqb_http_t *http;
	mqb_mosq_ingest_t *ingest;
	plugin_groups_t *groups;
	void *inst[NCOMPONENTS];
	bool started[NCOMPONENTS];
	pthread_t thread;
	bool thread_started;
	atomic_bool stop;
};

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
	for (int i = 0; i < supported_version_count; i++)
		if (supported_versions[i] == 5)
			return 5;
	return -1;
}

/* --- the maintenance thread -------------------------------------------------------- */

static void *maint_thread(void *arg)
{
	struct plugin *pl = arg;
	int64_t next_maint = mqb_mono_ms() + MAINTAIN_INTERVAL_MS;
	char why[256];

	while (!atomic_load(&pl->stop)) {
		struct timespec ts = { 0, 200 * 1000000L };
		int64_t now;

		nanosleep(&ts, NULL);
		now = mqb_mono_ms();
		why[0] = '\0';
		if (pl->http) {
			if (mqb_mosq_ingest_alive(pl->ingest, ALIVE_STALL_MS, why, sizeof why))
				mqb_http_loop_tick(pl->http);
			else
				MQB_LOG_RATELIMITED(MQB_LOG_ERROR, PLUGIN_MOD, 5000,
						    "%s: /healthz reports the stall", why);
		}
		if (now >= next_maint) {
			mqb_store_maintain(pl->store);
			next_maint = now + MAINTAIN_INTERVAL_MS;
		}
	}
	return NULL;
}

/* --- start / stop ---------------------------------------------------------------- */

static int open_store(struct plugin *pl)
{
	char err[512] = "";

	pl->store = mqb_store_open(pl->cfg->data_dir, 0, err, sizeof err);
	if (!pl->store) {
		mqb_error(PLUGIN_MOD, "cannot open the store in %s: %s", pl->cfg->data_dir, err);
		return -1;
	}
	for (size_t i = 0; i < pl->cfg->streams_count; i++) {
		err[0] = '\0';
		if (mqb_store_stream_open(pl->store, &pl->cfg->streams[i].opts, err, sizeof err)
		    != MQB_OK) {
			mqb_error(PLUGIN_MOD, "cannot open stream %s: %s", pl->cfg->streams[i].name,
				  err);
			return -1;
		}
	}
	mqb_info(PLUGIN_MOD, "store open in %s (%zu streams)", pl->cfg->data_dir,
		 pl->cfg->streams_count);
	return 0;
}

static int start_stats(struct plugin *pl)
{
	char err[512] = "";

	mqb_process_metrics_add(pl->metrics);
	mqb_store_metrics_add(pl->metrics, pl->store);
	mqb_route_stats_add(pl->metrics, pl->cfg, NULL);
	if (mqb_http_listen_disabled(pl->cfg->stats.listen)) {
		mqb_info(PLUGIN_MOD, "stats endpoint disabled");
		return 0;
	}
	pl->http = mqb_http_start(&pl->cfg->stats, pl->metrics, err, sizeof err);
	if (!pl->http) {
		mqb_error(PLUGIN_MOD, "cannot start the stats endpoint: %s", err);
		return -1;
	}
	return 0;
}

/* /readyz (HTTP thread): ingest appends (no store retry pending) and every component
 * is ready. Set up once everything started. */
static int plugin_ready(char *why, size_t why_size, void *arg)
{
	struct plugin *pl = arg;

	if (!mqb_mosq_ingest_ready(pl->ingest, why, why_size))
		return 0;
	for (size_t i = 0; i < NCOMPONENTS; i++)
		if (pl->inst[i] && components[i].ops->ready &&
		    !components[i].ops->ready(pl->inst[i], why, why_size))
			return 0;
	return 1;
}

static int start_components(struct plugin *pl)
{
	mqb_connector_env_t env = { .cfg = pl->cfg, .store = pl->store, .metrics = pl->metrics };
	char err[512];

	for (size_t i = 0; i < NCOMPONENTS; i++) {
		const struct component *c = &components[i];

		if (!c->enabled(pl->cfg))
			continue;
		err[0] = '\0';
		if (c->ops->check_config && c->ops->check_config(pl->cfg, err, sizeof err) != 0) {
			mqb_error(PLUGIN_MOD, "%s: %s", c->ops->name, err);
			return -1;
		}
		pl->inst[i] = c->ops->init(&env, err, sizeof err);
		if (!pl->inst[i]) {
			mqb_error(PLUGIN_MOD, "%s: %s", c->ops->name, err[0] ? err : "init failed");
			return -1;
		}
		if (pl->http && c->add_routes && c->add_routes(pl->inst[i], pl->http) != MQB_OK) {
			mqb_error(PLUGIN_MOD, "%s: cannot add its HTTP routes", c->ops->name);
			return -1;
		}
		if (c->ops->start(pl->inst[i]) != MQB_OK) {
			mqb_error(PLUGIN_MOD, "%s: cannot start", c->ops->name);
			return -1;
		}
		pl->started[i] = true;
		mqb_info(PLUGIN_MOD, "%s started", c->ops->name);
	}
	return 0;
}

static void stop_all(struct plugin *pl)
{
	size_t i;

	if (pl->thread_started) {
		atomic_store(&pl->stop, true);
		pthread_join(pl->thread, NULL);
		pl->thread_started = false;
	}
	/* Ingest first: no PUBLISH reaches the store any more, what is pending is stored. */
	if (pl->ingest && mqb_mosq_ingest_destroy(pl->ingest, STOP_FLUSH_MS) != MQB_OK)
		mqb_error(PLUGIN_MOD, "shutdown: records refused to their publishers could not "
			  "be stored either (they were never acknowledged)");
	pl->ingest = NULL;
	for (i = NCOMPONENTS; i-- > 0;)
		if (pl->inst[i] && pl->started[i]) {
			components[i].ops->stop(pl->inst[i]);
			pl->started[i] = false;
		}
	plugin_groups_remove_routes(pl->groups);
	mqb_http_stop(pl->http);
	pl->http = NULL;
	/* after the endpoint (its collectors read the groups), before the store closes */
	plugin_groups_stop(pl->groups);
	pl->groups = NULL;
	for (i = NCOMPONENTS; i-- > 0;) {
		if (pl->inst[i])
			components[i].ops->destroy(pl->inst[i]);
		pl->inst[i] = NULL;
	}
	if (pl->store) {
		mqb_store_close(pl->store);   /* fsync, checkpoints, clean-shutdown marker */
		pl->store = NULL;
		mqb_info(PLUGIN_MOD, "store closed cleanly");
	}
	mqb_metrics_destroy(pl->metrics);
	pl->metrics = NULL;
	mqb_config_free(pl->cfg);
	pl->cfg = NULL;
}

static const char *opt_value(struct mosquitto_opt *options, int option_count, const char *key)
{
	for (int i = 0; i < option_count; i++)
		if (options[i].key && strcmp(options[i].key, key) == 0)
			return options[i].value;
	return NULL;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
			  struct mosquitto_opt *options, int option_count)
{
	struct plugin *pl;
	const char *path = opt_value(options, option_count, "config");
	const char *env_level = getenv("MQB_LOG_LEVEL");
	char err[1024] = "";
	mqb_mosq_ingest_opts_t io;
	int rc;

	if (!path) {
		mosquitto_log_printf(MOSQ_LOG_ERR, "mqbridge: plugin_opt_config <path to "
				     "mqbridge.conf> is required");
		return MOSQ_ERR_INVAL;
	}
	pl = calloc(1, sizeof *pl);
	if (!pl)
		return MOSQ_ERR_NOMEM;
	atomic_init(&pl->stop, false);
	pl->cfg = mqb_config_load(path, mqb_connector_sections(), err, sizeof err);
	if (!pl->cfg) {
		mosquitto_log_printf(MOSQ_LOG_ERR, "mqbridge: %s", err[0] ? err
				     : "cannot load the configuration");
		free(pl);
		return MOSQ_ERR_INVAL;
	}
	if (env_level && mqb_log_level_parse(env_level) >= 0)
		mqb_log_set_level(mqb_log_level_parse(env_level));
	else if (pl->cfg->log_level && mqb_log_level_parse(pl->cfg->log_level) >= 0)
		mqb_log_set_level(mqb_log_level_parse(pl->cfg->log_level));
	mqb_info(PLUGIN_MOD, "mqbridge %s plugin starting (config %s); the mqtt section's "
		 "connection settings are unused in plugin mode", MQB_VERSION, path);
	pl->metrics = mqb_metrics_new();
	if (!pl->metrics)
		goto error;
	if (open_store(pl) != 0 || start_stats(pl) != 0 || start_components(pl) != 0)
		goto error;
	memset(&io, 0, sizeof io);
	io.plugin_id = identifier;
	io.cfg = pl->cfg;
	io.store = pl->store;
	io.metrics = pl->metrics;
	io.max_record_bytes = mqb_mqtt_conf(pl->cfg)->max_message_bytes;
	err[0] = '\0';
	pl->ingest = mqb_mosq_ingest_new(&io, err, sizeof err);
	if (!pl->ingest) {
		mqb_error(PLUGIN_MOD, "%s", err);
		goto error;
	}
	if (pl->cfg->groups_count > 0) {
		err[0] = '\0';
		pl->groups = plugin_groups_start(identifier, pl->cfg, pl->store, pl->metrics,
						 pl->http, err, sizeof err);
		if (!pl->groups) {
			mqb_error(PLUGIN_MOD, "%s", err[0] ? err : "groups: init failed");
			goto error;
		}
	}
	if (pl->http)
		mqb_http_add_ready_check(pl->http, plugin_ready, pl);
	rc = pthread_create(&pl->thread, NULL, maint_thread, pl);
	if (rc != 0) {
		mqb_error(PLUGIN_MOD, "cannot start the maintenance thread: %s", strerror(rc));
		goto error;
	}
	pl->thread_started = true;
	mqb_info(PLUGIN_MOD, "ready: store open, %zu routes ingested in the broker",
		 pl->cfg->routes_count);
	*userdata = pl;
	return MOSQ_ERR_SUCCESS;

error:
	stop_all(pl);
	free(pl);
	mosquitto_log_printf(MOSQ_LOG_ERR, "mqbridge: plugin start failed (see the lines "
			     "above)");
	return MOSQ_ERR_UNKNOWN;
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count)
{
	struct plugin *pl = userdata;

	(void)options;
	(void)option_count;
	if (!pl)
		return MOSQ_ERR_SUCCESS;
	mqb_info(PLUGIN_MOD, "broker shutting down: stopping");
	stop_all(pl);
	free(pl);
	mqb_info(PLUGIN_MOD, "stopped");
	return MOSQ_ERR_SUCCESS;
}
