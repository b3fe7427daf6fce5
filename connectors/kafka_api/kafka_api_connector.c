/*
 * kafka_api_connector.c — mqb_connector_kafka_api: config check, the server's
 * lifecycle, readiness and liveness (see kafka_api_connector.h).
 */
#include "connectors/kafka_api/kafka_api_connector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/logging.h"
#include "bridge/passwd.h"
#include "bridge/stats/listen.h"
#include "bridge/groups/group_host.h"
#include "bridge/stats/http.h"
#include "connectors/kafka_api/kafka_api_conf.h"
#include "connectors/kafka_api/kafka_api_group.h"
#include "connectors/kafka_api/kafka_api_server.h"
#include "connectors/kafka_api/kafka_api_tls.h"

struct kapi_inst {
	mqb_kapi_stats_t stats;
	mqb_kapi_server_t *srv;
	mqb_kgroups_t *groups;
	mqb_passwd_t *users;         /* SASL/PLAIN users, or NULL */
	mqb_kapi_tls_t *tls;         /* TLS context, or NULL: plaintext */
	mqb_group_host_t *host;      /* mqbridge's groups (views added there), or NULL */
	mqb_group_view_t view;
	bool view_added;
	mqb_http_t *http;            /* our own /groups route, or NULL */
};

/* --- /groups ---------------------------------------------------------------------------- */

static void view_list(void *arg, cJSON *arr) { mqb_kgroups_list_json(arg, arr); }
static cJSON *view_describe(void *arg, const char *g) { return mqb_kgroups_describe_json(arg, g); }

/* GET /groups and /groups/<g> when no mqbridge group is configured (no group host). */
static void http_groups(const mqb_http_req_t *req, mqb_http_resp_t *resp, void *arg)
{
	struct kapi_inst *ki = arg;
	const char *path = mqb_http_req_path(req);
	cJSON *doc;

	if (!strcmp(path, "/groups") || !strcmp(path, "/groups/")) {
		doc = cJSON_CreateObject();
		cJSON *arr = doc ? cJSON_AddArrayToObject(doc, "groups") : NULL;
		if (!arr) {
			cJSON_Delete(doc);
			mqb_http_resp_error(resp, 500, "out of memory");
			return;
		}
		mqb_kgroups_list_json(ki->groups, arr);
		mqb_http_resp_json(resp, 200, doc);
		return;
	}
	const char *g = path + strlen("/groups/");
	doc = strchr(g, '/') ? NULL : mqb_kgroups_describe_json(ki->groups, g);
	if (!doc) {
		mqb_http_resp_error(resp, 404, "no such group: %s", g);
		return;
	}
	mqb_http_resp_json(resp, 200, doc);
}

int mqb_kafka_api_add_routes(void *inst, struct mqb_http *http)
{
	struct kapi_inst *ki = inst;
	int rc;

	if (!ki->groups)
		return MQB_OK;               /* max_groups = 0: no Kafka groups to show */
	if (ki->host) {
		ki->view = (mqb_group_view_t){ view_list, view_describe, ki->groups };
		rc = mqb_group_host_add_view(ki->host, &ki->view);
		ki->view_added = rc == MQB_OK;
		return rc;
	}
	rc = mqb_http_add_route(http, "GET", "/groups", true, http_groups, ki);
	if (rc == MQB_OK)
		ki->http = http;
	return rc;
}

static void remove_routes(struct kapi_inst *ki)
{
	if (ki->view_added)
		mqb_group_host_remove_view(ki->host, &ki->view);
	ki->view_added = false;
	if (ki->http)
		mqb_http_remove_route(ki->http, "GET", "/groups");
	ki->http = NULL;
}

bool mqb_kafka_api_enabled(const mqb_config_t *cfg)
{
	return mqb_kafka_api_conf(cfg)->enabled;
}

/* The password file; NULL with errstr "cfg:line: kafka_api.sasl_password_file: ...". */
static mqb_passwd_t *load_users(const mqb_config_t *cfg, const mqb_kafka_api_conf_t *k,
				char *errstr, size_t errstr_size)
{
	char why[512];
	mqb_passwd_t *u = mqb_passwd_load(k->sasl_password_file, why, sizeof why);

	if (!u)
		mqb_errstr_set(errstr, errstr_size, "%s:%d: kafka_api.sasl_password_file: %s",
			       cfg->path, k->line, why);
	return u;
}

/* The TLS context of tls_cert/tls_key/tls_ca, or NULL (no TLS, or errstr
 * "cfg:line: kafka_api.tls_key /path: why"). *failed tells which. */
static mqb_kapi_tls_t *load_tls(const mqb_config_t *cfg, const mqb_kafka_api_conf_t *k,
				bool *failed, char *errstr, size_t errstr_size)
{
	char why[1024];
	mqb_kapi_tls_t *t;

	*failed = false;
	if (!k->tls_cert)
		return NULL;
	t = mqb_kapi_tls_new(k->tls_cert, k->tls_key, k->tls_ca, k->tls_handshake_timeout_ms,
			     why, sizeof why);
	if (!t) {
		*failed = true;
		mqb_errstr_set(errstr, errstr_size, "%s:%d: kafka_api.%s", cfg->path, k->line,
			       why);
	}
	return t;
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
	if (k->sasl_password_file) {
		mqb_passwd_t *u = load_users(cfg, k, errstr, errstr_size);

		if (!u)
			return MQB_ERR_CONFIG;
		mqb_passwd_free(u);
	}
	if (k->tls_cert) {
		bool failed;

		mqb_kapi_tls_free(load_tls(cfg, k, &failed, errstr, errstr_size));
		if (failed)
			return MQB_ERR_CONFIG;
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
	if (k->sasl_password_file) {
		ki->users = load_users(env->cfg, k, errstr, errstr_size);
		if (!ki->users) {
			free(ki);
			return NULL;
		}
	}
	mqb_kapi_stats_init(&ki->stats, env->metrics);
	if (k->tls_cert) {
		bool failed;
		char why[128];

		ki->tls = load_tls(env->cfg, k, &failed, errstr, errstr_size);
		if (!ki->tls) {
			mqb_passwd_free(ki->users);
			free(ki);
			return NULL;
		}
		mqb_kapi_tls_set_stats(ki->tls, &ki->stats);
		mqb_kapi_tls_validity(ki->tls, why, sizeof why);
		if (why[0])
			mqb_warn("kafka_api", "kafka_api.tls_cert %s: %s: clients will refuse "
				 "it", k->tls_cert, why);
	}
	if (k->max_groups > 0) {
		mqb_kgroups_opts_t go = {
			.data_dir = env->cfg->data_dir, .cfg = env->cfg, .store = env->store,
			.max_groups = k->max_groups, .max_members = k->max_group_members,
			.initial_rebalance_delay_ms = k->group_initial_rebalance_delay_ms,
			.min_session_ms = k->group_min_session_timeout_ms,
			.max_session_ms = k->group_max_session_timeout_ms,
			.max_member_bytes = 1 << 20,
		};
		ki->groups = mqb_kgroups_new(&go);
		if (!ki->groups) {
			mqb_kapi_tls_free(ki->tls);
			mqb_passwd_free(ki->users);
			free(ki);
			mqb_errstr_set(errstr, errstr_size, "out of memory");
			return NULL;
		}
		if (env->metrics)
			mqb_metrics_add_collector(env->metrics, mqb_kgroups_collect, ki->groups);
		ki->host = env->groups;
	}
	ctx = (mqb_kapi_ctx_t){ .store = env->store, .max_request_bytes = k->max_request_bytes,
				.stats = &ki->stats, .groups = ki->groups, .users = ki->users,
				.tls = ki->tls };
	ki->srv = mqb_kapi_server_new(&ctx, k->listen, k->advertised, k->max_connections,
				      errstr, errstr_size);
	if (!ki->srv) {
		mqb_kgroups_destroy(ki->groups);   /* metrics registry: see kapi_destroy */
		mqb_kapi_tls_free(ki->tls);
		mqb_passwd_free(ki->users);
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
	remove_routes(inst);
	mqb_kapi_server_stop(((struct kapi_inst *)inst)->srv);
}

static void kapi_destroy(void *inst)
{
	struct kapi_inst *ki = inst;

	if (!ki)
		return;
	remove_routes(ki);
	mqb_kapi_server_destroy(ki->srv);
	mqb_kgroups_destroy(ki->groups);
	mqb_kapi_tls_free(ki->tls);
	mqb_passwd_free(ki->users);
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
