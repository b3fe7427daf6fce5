/*
 * kafka_api_connector.c — mqb_connector_kafka_api: config check, the server's
 * lifecycle, readiness and liveness (see kafka_api_connector.h).
 */
#include "connectors/kafka_api/kafka_api_connector.h"

#include <stdio.h>
#include <stdlib.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/stats/listen.h"
#include "connectors/kafka_api/kafka_api_conf.h"
#include "connectors/kafka_api/kafka_api_server.h"

struct kapi_inst {
	mqb_kapi_stats_t stats;
	mqb_kapi_server_t *srv;
};

bool mqb_kafka_api_enabled(const mqb_config_t *cfg)
{
	return mqb_kafka_api_conf(cfg)->enabled;
}

static int kapi_check_config(const mqb_config_t *cfg, char *errstr, size_t errstr_size)
{
	const mqb_kafka_api_conf_t *k = mqb_kafka_api_conf(cfg);
	const char *keys[2] = { "listen", "advertised" }, *vals[2] = { k->listen, k->advertised };
	char host[256], why[256];
	int port;

	for (int i = 0; i < 2; i++) {
		if (!vals[i])
			continue;
		why[0] = '\0';
		if (mqb_listen_parse(vals[i], host, sizeof host, &port, why, sizeof why) != MQB_OK) {
			/* why names stats.listen (the parser's first user): say it ourselves */
			mqb_errstr_set(errstr, errstr_size, "%s:%d: kafka_api.%s: expected "
				       "\"host:port\" or \"[v6addr]:port\" with a port 0..65535 "
				       "(got \"%s\")", cfg->path, k->line, keys[i], vals[i]);
			return MQB_ERR_CONFIG;
		}
		if (i == 1 && port == 0) {
			mqb_errstr_set(errstr, errstr_size, "%s:%d: kafka_api.advertised: needs a "
				       "port (got \"%s\")", cfg->path, k->line, vals[i]);
			return MQB_ERR_CONFIG;
		}
	}
	return MQB_OK;
}

static void *kapi_init(const mqb_connector_env_t *env, char *errstr, size_t errstr_size)
{
	const mqb_kafka_api_conf_t *k = mqb_kafka_api_conf(env->cfg);
	struct kapi_inst *ki;
	mqb_kapi_ctx_t ctx;

	if (kapi_check_config(env->cfg, errstr, errstr_size) != MQB_OK)
		return NULL;
	ki = calloc(1, sizeof *ki);
	if (!ki) {
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		return NULL;
	}
	mqb_kapi_stats_init(&ki->stats, env->metrics);
	ctx = (mqb_kapi_ctx_t){ .store = env->store, .max_request_bytes = k->max_request_bytes,
				.stats = &ki->stats };
	ki->srv = mqb_kapi_server_new(&ctx, k->listen, k->advertised, k->max_connections,
				      errstr, errstr_size);
	if (!ki->srv) {
		free(ki);
		return NULL;
	}
	return ki;
}

static int kapi_start(void *inst)
{
	return mqb_kapi_server_start(((struct kapi_inst *)inst)->srv);
}

static void kapi_stop(void *inst)
{
	mqb_kapi_server_stop(((struct kapi_inst *)inst)->srv);
}

static void kapi_destroy(void *inst)
{
	struct kapi_inst *ki = inst;

	if (!ki)
		return;
	mqb_kapi_server_destroy(ki->srv);
	free(ki);
}

static int kapi_alive(void *inst, int64_t stall_ms, char *why, size_t why_size)
{
	struct kapi_inst *ki = inst;
	int64_t idle = mqb_mono_ms() - mqb_kapi_server_last_turn(ki->srv);

	if (idle <= stall_ms)
		return 1;
	mqb_errstr_set(why, why_size, "kafka_api thread stalled for %lld ms", (long long)idle);
	return 0;
}

const struct mqb_connector_ops mqb_connector_kafka_api = {
	.version = 1,
	.name = "kafka_api",
	.config = &mqb_kafka_api_conf_section,
	.check_config = kapi_check_config,
	.init = kapi_init,
	.start = kapi_start,
	.stop = kapi_stop,
	.destroy = kapi_destroy,
	.alive = kapi_alive,
};
