/*
 * route_stats.h — the "routes" array of /stats: one object per configured route
 * ({"name","filter","stream","qos","key","received"}), "received" read from the same
 * mqbridge_messages_received_total{route} counter ingest increments (the registry
 * hands out one instrument per name+labels).
 *
 * The routes are copied: cfg is only read during the calls. A reload replaces them
 * (mqb_route_stats_set), so /stats lists the routes in force. Route names are as
 * ingest labels them: route.name, else "route<index>". The state belongs to the
 * registry (freed by mqb_metrics_destroy).
 */
#ifndef MQB_ROUTE_STATS_H
#define MQB_ROUTE_STATS_H

#include "bridge/config.h"
#include "bridge/stats/metrics.h"

typedef struct mqb_route_stats mqb_route_stats_t;

/* Register the section with cfg's routes; *out (when non-NULL) is the handle for
 * mqb_route_stats_set. MQB_OK, MQB_ERR_INVAL (NULL arguments), MQB_ERR_NOMEM. */
int mqb_route_stats_add(mqb_metrics_t *reg, const mqb_config_t *cfg,
			mqb_route_stats_t **out);

/* The routes of cfg from now on (a reload). Any thread. MQB_OK, or MQB_ERR_NOMEM with
 * the previous routes kept. */
int mqb_route_stats_set(mqb_route_stats_t *rs, const mqb_config_t *cfg);

#endif
