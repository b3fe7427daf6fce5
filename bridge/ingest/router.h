/*
 * router.h — the ordered route table: which route an MQTT topic belongs to.
 *
 * Routes are tried in order; the first whose topic filter matches wins (MQTT matching
 * rules, see topic.h). Filters are split into levels once when added, so a lookup
 * splits the topic once and compares level slices; it never allocates and may run in
 * several threads at once (the router is read-only after it is built).
 *
 * Ownership: the router copies the filters it is given; mqb_router_from_config() also
 * compiles each route's key template (mqb_router_keytmpl() lends it out, valid until
 * mqb_router_destroy()). The router keeps no pointer into the config.
 */
#ifndef MQB_ROUTER_H
#define MQB_ROUTER_H

#include <stddef.h>

#include "bridge/config.h"
#include "bridge/ingest/keytmpl.h"

typedef struct mqb_router mqb_router_t;

mqb_router_t *mqb_router_new(void);
void mqb_router_destroy(mqb_router_t *r);   /* NULL-safe */

/* Append a route with filter and key template (NULL: keyless). Returns its index
 * (>= 0), or a negative mqb_err with errstr set (bad filter / template). */
int mqb_router_add(mqb_router_t *r, const char *filter, const char *key_template,
		   char *errstr, size_t errstr_size);

/* A router with cfg->routes in order: route index i is cfg->routes[i]. */
mqb_router_t *mqb_router_from_config(const mqb_config_t *cfg, char *errstr,
				     size_t errstr_size);

/* Index of the first route whose filter matches topic, or -1 (also for a NULL topic). */
int mqb_router_match(const mqb_router_t *r, const char *topic);

size_t mqb_router_count(const mqb_router_t *r);
const char *mqb_router_filter(const mqb_router_t *r, int idx);
/* The route's compiled key template, or NULL for a keyless route. */
const mqb_keytmpl_t *mqb_router_keytmpl(const mqb_router_t *r, int idx);

#endif
