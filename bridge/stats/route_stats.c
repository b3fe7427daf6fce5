/* route_stats.c — the "routes" array of /stats, from the config and the registry. */
#include "bridge/stats/route_stats.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "bridge/err.h"

struct route_stats {
	const mqb_config_t *cfg;
	mqb_counter_t **received;     /* one per route */
};

static void json(cJSON *arr, void *arg)
{
	struct route_stats *rs = arg;

	for (size_t i = 0; i < rs->cfg->routes_count; i++) {
		const mqb_route_conf_t *r = &rs->cfg->routes[i];
		cJSON *o = cJSON_CreateObject();
		char name[32];

		if (!o)
			return;
		snprintf(name, sizeof(name), "route%zu", i);
		cJSON_AddItemToArray(arr, o);
		cJSON_AddStringToObject(o, "name", r->name ? r->name : name);
		cJSON_AddStringToObject(o, "filter", r->filter ? r->filter : "");
		cJSON_AddStringToObject(o, "stream", r->stream ? r->stream : "");
		cJSON_AddNumberToObject(o, "qos", r->qos);
		if (r->key)
			cJSON_AddStringToObject(o, "key", r->key);
		else
			cJSON_AddNullToObject(o, "key");
		cJSON_AddNumberToObject(o, "received", (double)mqb_counter_get(rs->received[i]));
	}
}

static void route_stats_free(void *arg)
{
	struct route_stats *rs = arg;

	free(rs->received);
	free(rs);
}

int mqb_route_stats_add(mqb_metrics_t *reg, const mqb_config_t *cfg)
{
	struct route_stats *rs;

	if (!reg || !cfg)
		return MQB_ERR_INVAL;
	rs = calloc(1, sizeof(*rs));
	if (!rs)
		return MQB_ERR_NOMEM;
	rs->cfg = cfg;
	rs->received = calloc(cfg->routes_count + 1, sizeof(*rs->received));
	if (!rs->received) {
		free(rs);
		return MQB_ERR_NOMEM;
	}
	for (size_t i = 0; i < cfg->routes_count; i++) {
		char name[32];
		snprintf(name, sizeof(name), "route%zu", i);
		rs->received[i] = mqb_metrics_counter(reg, "mqbridge_messages_received_total",
						      "MQTT messages received, by route", "route",
						      cfg->routes[i].name ? cfg->routes[i].name : name,
						      NULL);
	}
	if (mqb_metrics_on_destroy(reg, route_stats_free, rs) != MQB_OK) {
		route_stats_free(rs);
		return MQB_ERR_NOMEM;
	}
	mqb_metrics_add_json(reg, "routes[]", json, rs);
	return MQB_OK;
}
