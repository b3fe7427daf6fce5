/*
 * kafka_connector.c — the Kafka forwarder as a connector (connectors/connector.h):
 * mqb_connector_kafka. With no `kafka` section the instance is idle.
 */
#include <stdlib.h>

#include "bridge/err.h"
#include "connectors/connector.h"
#include "connectors/kafka/kafka_checkpoint.h"
#include "connectors/kafka/kafka_conf.h"
#include "connectors/kafka/kafka_connector.h"
#include "connectors/kafka/kafka_forwarder.h"
#include "connectors/kafka/kafka_http.h"

struct kafka_inst {
	mqb_kafka_fwd_t *f;          /* NULL when kafka is not configured */
	mqb_kafka_ckpt_t *ck;        /* NULL unless kafka.sync_group_offsets */
	mqb_http_t *http;            /* route registered on it, or NULL */
};

static void *kafka_init(const mqb_connector_env_t *env, char *errstr, size_t errstr_size)
{
	struct kafka_inst *ki = calloc(1, sizeof(*ki));
	if (!ki) {
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		return NULL;
	}
	if (!mqb_kafka_conf(env->cfg)->enabled)
		return ki;
	ki->f = mqb_kafka_fwd_new(env->cfg, env->store, env->metrics, NULL, errstr,
				  errstr_size);
	if (!ki->f) {
		free(ki);
		return NULL;
	}
	errstr[0] = '\0';
	ki->ck = mqb_kafka_ckpt_new(env->cfg, ki->f, env->metrics, errstr, errstr_size);
	if (!ki->ck && errstr[0]) {
		mqb_kafka_fwd_destroy(ki->f);
		free(ki);
		return NULL;
	}
	return ki;
}

static int kafka_start(void *inst)
{
	struct kafka_inst *ki = inst;
	int rc = ki->f ? mqb_kafka_fwd_start(ki->f) : MQB_OK;
	return rc == MQB_OK ? mqb_kafka_ckpt_start(ki->ck) : rc;
}

static void kafka_stop(void *inst)
{
	struct kafka_inst *ki = inst;
	if (ki->http) {
		mqb_kafka_http_unregister(ki->http);
		ki->http = NULL;
	}
	mqb_kafka_ckpt_stop(ki->ck);
	if (ki->f)
		mqb_kafka_fwd_stop(ki->f, 5000);
}

static void kafka_destroy(void *inst)
{
	struct kafka_inst *ki = inst;
	if (!ki)
		return;
	kafka_stop(ki);
	mqb_kafka_ckpt_destroy(ki->ck);
	mqb_kafka_fwd_destroy(ki->f);
	free(ki);
}

/* Readiness: the edge keeps ingesting while Kafka is down, so always ready; why says
 * whether Kafka is reachable (shown by /stats too). */
static int kafka_ready(void *inst, char *why, size_t why_size)
{
	struct kafka_inst *ki = inst;
	if (ki->f && !mqb_kafka_fwd_connected(ki->f))
		mqb_errstr_set(why, why_size, "kafka down (forwarding resumes when it returns)");
	return 1;
}

/* kafka.forward entries follow the new file (the daemon refuses changes to any other
 * kafka key). The checkpointer keeps the boot configuration (never freed). */
static int kafka_reload(void *inst, const mqb_config_t *new_cfg, char *why, size_t why_size)
{
	struct kafka_inst *ki = inst;
	return ki->f ? mqb_kafka_fwd_reload(ki->f, new_cfg, 10000, why, why_size) : MQB_OK;
}

int mqb_kafka_connector_add_routes(void *inst, mqb_http_t *http)
{
	struct kafka_inst *ki = inst;
	if (!ki || !ki->f || !http)
		return MQB_OK;
	int rc = mqb_kafka_http_register(http, ki->f);
	if (rc == MQB_OK)
		ki->http = http;
	return rc;
}

const struct mqb_connector_ops mqb_connector_kafka = {
	.version = 1,
	.name = "kafka",
	.config = &mqb_kafka_conf_section,
	.check_config = mqb_kafka_check_config,
	.init = kafka_init,
	.start = kafka_start,
	.stop = kafka_stop,
	.destroy = kafka_destroy,
	.ready = kafka_ready,
	.reload = kafka_reload,
};
