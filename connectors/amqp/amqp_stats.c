/*
 * amqp_stats.c — registering the amqp metrics and the /stats section (amqp_stats.h).
 */
#include "connectors/amqp/amqp_stats.h"

#include <cjson/cJSON.h>
#include <string.h>

static const char *const out_names[AMQP_OUT_COUNT] = { "accepted", "released", "rejected",
						       "modified" };
static const char *const rej_names[AMQP_REJ_COUNT] = { "too_large", "decode", "body" };

static double gv(mqb_gauge_t *g)
{
	return g ? (double)atomic_load(&g->v) : 0;
}

static void stats_json(cJSON *o, void *arg)
{
	mqb_amqp_stats_t *s = arg;
	cJSON *rej = cJSON_AddObjectToObject(o, "rejected");
	cJSON *out = cJSON_AddObjectToObject(o, "outcomes");

	cJSON_AddNumberToObject(o, "connections", gv(s->connections));
	cJSON_AddNumberToObject(o, "connections_total", (double)mqb_counter_get(s->connections_total));
	cJSON_AddNumberToObject(o, "connections_refused",
				(double)mqb_counter_get(s->connections_refused));
	cJSON_AddNumberToObject(o, "auth_failures", s->auth_failures_src ?
				(double)atomic_load(s->auth_failures_src) : 0);
	cJSON_AddNumberToObject(o, "links", gv(s->links));
	cJSON_AddNumberToObject(o, "links_refused", (double)mqb_counter_get(s->links_refused));
	cJSON_AddNumberToObject(o, "received", (double)mqb_counter_get(s->received));
	cJSON_AddNumberToObject(o, "stored", (double)mqb_counter_get(s->stored));
	cJSON_AddNumberToObject(o, "settled", (double)mqb_counter_get(s->settled));
	for (int i = 0; i < AMQP_REJ_COUNT && rej; i++)
		cJSON_AddNumberToObject(rej, rej_names[i], (double)mqb_counter_get(s->rejected[i]));
	cJSON_AddNumberToObject(o, "delivered", (double)mqb_counter_get(s->delivered));
	for (int i = 0; i < AMQP_OUT_COUNT && out; i++)
		cJSON_AddNumberToObject(out, out_names[i], (double)mqb_counter_get(s->outcomes[i]));
	cJSON_AddNumberToObject(o, "credit_stalls", (double)mqb_counter_get(s->credit_stalls));
}

static void collect(mqb_metrics_emit_t *e, void *arg)
{
	mqb_amqp_stats_t *s = arg;

	mqb_metrics_emit(e, "mqbridge_amqp_auth_failures_total",
			 "AMQP SASL authentications refused", "counter",
			 s->auth_failures_src ? (double)atomic_load(s->auth_failures_src) : 0,
			 NULL);
}

void mqb_amqp_stats_init(mqb_amqp_stats_t *s, mqb_metrics_t *reg, atomic_ulong *auth_failures)
{
	memset(s, 0, sizeof *s);
	s->auth_failures_src = auth_failures;
	if (!reg)
		return;
	s->connections = mqb_metrics_gauge(reg, "mqbridge_amqp_connections",
					   "AMQP connections open", 1, NULL);
	s->links = mqb_metrics_gauge(reg, "mqbridge_amqp_links", "AMQP links attached", 1, NULL);
	s->connections_total = mqb_metrics_counter(reg, "mqbridge_amqp_connections_total",
						   "AMQP connections accepted", NULL);
	s->connections_refused = mqb_metrics_counter(reg, "mqbridge_amqp_connections_refused_total",
						     "AMQP connections refused (max_connections)",
						     NULL);
	s->links_refused = mqb_metrics_counter(reg, "mqbridge_amqp_links_refused_total",
					       "AMQP links refused (unknown or bad address, "
					       "link limit, join refused)", NULL);
	s->received = mqb_metrics_counter(reg, "mqbridge_amqp_received_total",
					  "AMQP messages received from senders", NULL);
	s->stored = mqb_metrics_counter(reg, "mqbridge_amqp_stored_total",
					"AMQP messages appended to the store", NULL);
	s->settled = mqb_metrics_counter(reg, "mqbridge_amqp_settled_total",
					 "AMQP messages settled accepted (stored or durable)", NULL);
	for (int i = 0; i < AMQP_REJ_COUNT; i++)
		s->rejected[i] = mqb_metrics_counter(reg, "mqbridge_amqp_rejected_total",
						     "AMQP messages rejected, by reason", "reason",
						     rej_names[i], NULL);
	s->delivered = mqb_metrics_counter(reg, "mqbridge_amqp_deliveries_total",
					   "records sent to AMQP receivers", NULL);
	for (int i = 0; i < AMQP_OUT_COUNT; i++)
		s->outcomes[i] = mqb_metrics_counter(reg, "mqbridge_amqp_outcomes_total",
						     "outcomes received from AMQP group members, "
						     "by kind", "outcome", out_names[i], NULL);
	s->credit_stalls = mqb_metrics_counter(reg, "mqbridge_amqp_credit_stalls_total",
					       "sender links held without new credit "
					       "because the store refused appends (once per "
					       "link per stall)", NULL);
	mqb_metrics_add_collector(reg, collect, s);
	mqb_metrics_add_json(reg, "amqp", stats_json, s);
}
