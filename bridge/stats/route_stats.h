/*
 * route_stats.h — the "routes" array of /stats: one object per configured route
 * ({"name","filter","stream","qos","key","received"}), "received" read from the same
 * mqbridge_messages_received_total{route} counter ingest increments (the registry
 * hands out one instrument per name+labels).
 *
 * The config is borrowed: it must outlive the HTTP endpoint. Route names are as
 * ingest labels them: route.name, else "route<index>".
 */
#ifndef MQB_ROUTE_STATS_H
#define MQB_ROUTE_STATS_H

#include "bridge/config.h"
#include "bridge/stats/metrics.h"

/* MQB_OK, MQB_ERR_INVAL (NULL arguments), MQB_ERR_NOMEM. */
int mqb_route_stats_add(mqb_metrics_t *reg, const mqb_config_t *cfg);

#endif
