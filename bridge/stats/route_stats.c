/* route_stats.c — the "routes" array of /stats, from the config and the registry. */
#include "bridge/stats/route_stats.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/err.h"

struct row {
	char *name, *filter, *stream, *key;   /* key NULL: none */
	int qos;
	mqb_counter_t *received;
};

struct mqb_route_stats {
	mqb_metrics_t *reg;
	pthread_mutex_t mu;           /* rows: read by the HTTP thread, set by a reload */
	struct row *rows;
	size_t n;
};

static void json(cJSON *arr, void *arg)
{
	mqb_route_stats_t *rs = arg;

	pthread_mutex_lock(&rs->mu);
	for (size_t i = 0; i < rs->n; i++) {
		const struct row *r = &rs->rows[i];
		cJSON *o = cJSON_CreateObject();

		if (!o)
			break;
		cJSON_AddItemToArray(arr, o);
		cJSON_AddStringToObject(o, "name", r->name);
		cJSON_AddStringToObject(o, "filter", r->filter);
		cJSON_AddStringToObject(o, "stream", r->stream);
		cJSON_AddNumberToObject(o, "qos", r->qos);
		if (r->key)
			cJSON_AddStringToObject(o, "key", r->key);
		else
			cJSON_AddNullToObject(o, "key");
		cJSON_AddNumberToObject(o, "received", (double)mqb_counter_get(r->received));
	}
	pthread_mutex_unlock(&rs->mu);
}

static void rows_free(struct row *rows, size_t n)
{
	for (size_t i = 0; rows && i < n; i++) {
		free(rows[i].name);
		free(rows[i].filter);
		free(rows[i].stream);
		free(rows[i].key);
	}
	free(rows);
}

/* cfg's routes as rows, or NULL (out of memory). */
static struct row *rows_new(mqb_metrics_t *reg, const mqb_config_t *cfg)
{
	struct row *rows = calloc(cfg->routes_count + 1, sizeof(*rows));

	for (size_t i = 0; rows && i < cfg->routes_count; i++) {
		const mqb_route_conf_t *rc = &cfg->routes[i];
		struct row *r = &rows[i];
		char name[32];

		snprintf(name, sizeof(name), "route%zu", i);
		r->name = strdup(rc->name ? rc->name : name);
		r->filter = strdup(rc->filter ? rc->filter : "");
		r->stream = strdup(rc->stream ? rc->stream : "");
		r->key = rc->key ? strdup(rc->key) : NULL;
		r->qos = rc->qos;
		r->received = r->name ? mqb_metrics_counter(reg, "mqbridge_messages_received_total",
							    "MQTT messages received, by route",
							    "route", r->name, NULL) : NULL;
		if (!r->name || !r->filter || !r->stream || (rc->key && !r->key) ||
		    !r->received) {
			rows_free(rows, i + 1);
			return NULL;
		}
	}
	return rows;
}

static void route_stats_free(void *arg)
{
	mqb_route_stats_t *rs = arg;

	rows_free(rs->rows, rs->n);
	pthread_mutex_destroy(&rs->mu);
	free(rs);
}

int mqb_route_stats_set(mqb_route_stats_t *rs, const mqb_config_t *cfg)
{
	struct row *rows, *old;
	size_t n;

	if (!rs || !cfg)
		return MQB_ERR_INVAL;
	rows = rows_new(rs->reg, cfg);
	if (!rows)
		return MQB_ERR_NOMEM;
	pthread_mutex_lock(&rs->mu);
	old = rs->rows;
	n = rs->n;
	rs->rows = rows;
	rs->n = cfg->routes_count;
	pthread_mutex_unlock(&rs->mu);
	rows_free(old, n);
	return MQB_OK;
}

int mqb_route_stats_add(mqb_metrics_t *reg, const mqb_config_t *cfg, mqb_route_stats_t **out)
{
	mqb_route_stats_t *rs;

	if (out)
		*out = NULL;
	if (!reg || !cfg)
		return MQB_ERR_INVAL;
	rs = calloc(1, sizeof(*rs));
	if (!rs)
		return MQB_ERR_NOMEM;
	rs->reg = reg;
	pthread_mutex_init(&rs->mu, NULL);
	if (mqb_route_stats_set(rs, cfg) != MQB_OK ||
	    mqb_metrics_on_destroy(reg, route_stats_free, rs) != MQB_OK) {
		route_stats_free(rs);
		return MQB_ERR_NOMEM;
	}
	mqb_metrics_add_json(reg, "routes[]", json, rs);
	if (out)
		*out = rs;
	return MQB_OK;
}
