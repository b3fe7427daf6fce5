/*
 * amqp_connector.c — mqb_connector_amqp: config check, the server's lifecycle and
 * liveness (amqp_connector.h).
 */
#include "connectors/amqp/amqp_connector.h"

#include <stdio.h>
#include <stdlib.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/stats/listen.h"
#include "connectors/amqp/amqp_auth.h"
#include "connectors/amqp/amqp_conf.h"
#include "connectors/amqp/amqp_server.h"

struct amqp_inst {
	mqb_amqp_stats_t stats;
	mqb_amqp_server_t *srv;
};

bool mqb_amqp_enabled(const mqb_config_t *cfg)
{
	return mqb_amqp_conf(cfg)->enabled;
}

static int amqp_check_config(const mqb_config_t *cfg, char *errstr, size_t errstr_size)
{
	const mqb_amqp_conf_t *a = mqb_amqp_conf(cfg);
	char host[256], why[256];
	int port;

	if (mqb_listen_parse(a->listen, host, sizeof host, &port, why, sizeof why) != MQB_OK) {
		mqb_errstr_set(errstr, errstr_size, "%s:%d: amqp.listen: expected \"host:port\" "
			       "or \"[v6addr]:port\" with a port 0..65535 (got \"%s\")", cfg->path,
			       a->line, a->listen);
		return MQB_ERR_CONFIG;
	}
	if (a->password_file) {
		mqb_passwd_t *u = mqb_passwd_load(a->password_file, why, sizeof why);

		if (!u) {
			mqb_errstr_set(errstr, errstr_size, "%s:%d: amqp.password_file: %s",
				       cfg->path, a->line, why);
			return MQB_ERR_CONFIG;
		}
		mqb_passwd_free(u);
	}
	return MQB_OK;
}

static void *amqp_init(const mqb_connector_env_t *env, char *errstr, size_t errstr_size)
{
	struct amqp_inst *ai;

	if (amqp_check_config(env->cfg, errstr, errstr_size) != MQB_OK)
		return NULL;
	ai = calloc(1, sizeof *ai);
	if (!ai) {
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		return NULL;
	}
	ai->srv = mqb_amqp_server_new(env->cfg, env->store, env->groups, &ai->stats, errstr,
				      errstr_size);
	if (!ai->srv) {
		free(ai);
		return NULL;
	}
	mqb_amqp_stats_init(&ai->stats, env->metrics, mqb_amqp_server_auth_failures(ai->srv));
	return ai;
}

static int amqp_start(void *inst)
{
	return mqb_amqp_server_start(((struct amqp_inst *)inst)->srv);
}

static void amqp_stop(void *inst)
{
	mqb_amqp_server_stop(((struct amqp_inst *)inst)->srv);
}

static void amqp_destroy(void *inst)
{
	struct amqp_inst *ai = inst;

	if (!ai)
		return;
	mqb_amqp_server_destroy(ai->srv);
	free(ai);
}

static int amqp_alive(void *inst, int64_t stall_ms, char *why, size_t why_size)
{
	struct amqp_inst *ai = inst;
	int64_t idle = mqb_mono_ms() - mqb_amqp_server_last_turn(ai->srv);

	if (idle <= stall_ms)
		return 1;
	mqb_errstr_set(why, why_size, "amqp thread stalled for %lld ms", (long long)idle);
	return 0;
}

const struct mqb_connector_ops mqb_connector_amqp = {
	.version = 1,
	.name = "amqp",
	.config = &mqb_amqp_conf_section,
	.check_config = amqp_check_config,
	.init = amqp_init,
	.start = amqp_start,
	.stop = amqp_stop,
	.destroy = amqp_destroy,
	.alive = amqp_alive,
};
