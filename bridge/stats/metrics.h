/*
 * metrics.h — the metrics registry every component reports into; the HTTP endpoint
 * (http.h) renders it as Prometheus text (/metrics) and JSON (/stats).
 *
 * Two ways to report:
 *  1. Owned instruments: counters, gauges and histograms created once at start-up
 *     (mqb_metrics_counter(...)) and updated lock-free from any thread
 *     (mqb_counter_add). The registry owns them; pointers stay valid until
 *     mqb_metrics_destroy(). Asking again for the same name+labels returns the same
 *     instrument.
 *  2. Collectors: a callback run at scrape time (in the HTTP thread) that emits
 *     samples from live state (store watermarks, group lag). It must only read
 *     atomics or take a lock that is held for a moment, never one ingest waits on.
 *
 * JSON sections: mqb_metrics_add_json(reg, "mqtt", fn, arg) makes /stats contain
 * {"mqtt": <what fn adds to the object it is given>}; fn runs in the HTTP thread
 * under the same rules as collectors. A section name ending in "[]" ("routes[]")
 * makes a top-level array ("routes": [...]) and fn is given that array. Several
 * registrations may share a section; they fill the same object/array in order.
 *
 * Rendering: all samples of one metric name form one family in the output (HELP and
 * TYPE once), whether they come from owned instruments or from collectors, in the
 * order the names were first seen. A collector sample whose type differs from the
 * family's is dropped (and logged). Invalid metric or label names make the
 * constructor return NULL (logged): every update function is NULL-safe.
 *
 * Lifetime: collectors and JSON sections stay registered until mqb_metrics_destroy();
 * registering the same (fn, arg) twice is a no-op. Stop the HTTP endpoint before
 * freeing what a collector's arg points to.
 *
 * Names are mqbridge_*, base units (seconds, bytes), counters end in _total.
 * Labels are given as NULL-terminated name/value pairs:
 *   mqb_metrics_counter(reg, "mqbridge_messages_received_total",
 *                       "MQTT messages received, by route", "route", "r0", NULL);
 */
#ifndef MQB_METRICS_H
#define MQB_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mqb_metrics mqb_metrics_t;
typedef struct mqb_metrics_emit mqb_metrics_emit_t;   /* scrape-time sink */
typedef struct cJSON cJSON;

typedef struct mqb_counter   { _Atomic uint64_t v; } mqb_counter_t;
typedef struct mqb_gauge     { _Atomic int64_t v; int64_t scale; } mqb_gauge_t; /* value = v / scale */
typedef struct mqb_histogram mqb_histogram_t;

mqb_metrics_t *mqb_metrics_new(void);
void mqb_metrics_destroy(mqb_metrics_t *reg);  /* NULL-safe */

mqb_counter_t *mqb_metrics_counter(mqb_metrics_t *reg, const char *name,
				   const char *help, ...) __attribute__((sentinel));
/* A counter kept in 1/scale units and rendered divided by scale, e.g. a
 * *_seconds_total counter fed in milliseconds: scale 1000. */
mqb_counter_t *mqb_metrics_counter_scaled(mqb_metrics_t *reg, const char *name,
					  const char *help, int64_t scale, ...)
					  __attribute__((sentinel));
/* scale: 1 for integral gauges, 1000 for a gauge set in milli-units, etc. */
mqb_gauge_t *mqb_metrics_gauge(mqb_metrics_t *reg, const char *name, const char *help,
			       int64_t scale, ...) __attribute__((sentinel));
/* bounds: ascending upper bounds (le), copied; +Inf is implicit. */
mqb_histogram_t *mqb_metrics_histogram(mqb_metrics_t *reg, const char *name,
				       const char *help, const double *bounds,
				       size_t nbounds, ...) __attribute__((sentinel));

static inline void mqb_counter_add(mqb_counter_t *c, uint64_t n)
{ if (c) atomic_fetch_add_explicit(&c->v, n, memory_order_relaxed); }
static inline void mqb_counter_inc(mqb_counter_t *c) { mqb_counter_add(c, 1); }
static inline uint64_t mqb_counter_get(mqb_counter_t *c)
{ return c ? atomic_load_explicit(&c->v, memory_order_relaxed) : 0; }
static inline void mqb_gauge_set(mqb_gauge_t *g, int64_t v)
{ if (g) atomic_store_explicit(&g->v, v, memory_order_relaxed); }
static inline void mqb_gauge_add(mqb_gauge_t *g, int64_t d)
{ if (g) atomic_fetch_add_explicit(&g->v, d, memory_order_relaxed); }
void mqb_histogram_observe(mqb_histogram_t *h, double value);  /* lock-free, NULL-safe */

/* Scrape-time collectors. type: "counter" | "gauge". */
typedef void (mqb_collector_fn)(mqb_metrics_emit_t *e, void *arg);
void mqb_metrics_add_collector(mqb_metrics_t *reg, mqb_collector_fn *fn, void *arg);
void mqb_metrics_emit(mqb_metrics_emit_t *e, const char *name, const char *help,
		      const char *type, double value, ...) __attribute__((sentinel));
/* A label set rendered once for several samples (a partition's dozen series): checked
 * and escaped by mqb_metrics_labels(&l, "k", "v", ..., NULL), false when a name is
 * invalid or the set is longer than the buffer (the samples are then dropped, logged). */
typedef struct mqb_metrics_labels { char s[240]; bool ok; } mqb_metrics_labels_t;
bool mqb_metrics_labels(mqb_metrics_labels_t *l, ...) __attribute__((sentinel));
void mqb_metrics_emit_labels(mqb_metrics_emit_t *e, const char *name, const char *help,
			     const char *type, double value, const mqb_metrics_labels_t *l);

typedef void (mqb_json_fn)(cJSON *section, void *arg);
void mqb_metrics_add_json(mqb_metrics_t *reg, const char *section, mqb_json_fn *fn, void *arg);

/* Call fn(arg) from mqb_metrics_destroy() (after every collector/section is gone):
 * lets a helper that allocated a collector's arg hand its freeing to the registry.
 * MQB_OK or MQB_ERR_NOMEM (fn is then not registered: free arg yourself). */
int mqb_metrics_on_destroy(mqb_metrics_t *reg, void (*fn)(void *arg), void *arg);

/* Render. Returned strings are malloc'd; the caller frees them. */
char *mqb_metrics_render_prometheus(mqb_metrics_t *reg, size_t *len);
char *mqb_metrics_render_json(mqb_metrics_t *reg, size_t *len);

/* Per-partition detail in /stats. A section always gives aggregates (counts, totals);
 * it lists its n partitions one by one only when mqb_metrics_json_detail(n) says so,
 * which a section function asks while it runs (the answer is for the document being
 * rendered, by the rendering thread): with MQB_JSON_DETAIL_AUTO, when n is at most
 * MQB_JSON_DETAIL_MAX (a 1024-partition document cost 288 KB and 17.9 ms of CPU). */
enum mqb_json_detail { MQB_JSON_DETAIL_AUTO, MQB_JSON_DETAIL_ON, MQB_JSON_DETAIL_OFF };
#define MQB_JSON_DETAIL_MAX 64
char *mqb_metrics_render_json_detail(mqb_metrics_t *reg, size_t *len,
				     enum mqb_json_detail detail);
bool mqb_metrics_json_detail(size_t n);
/* The same for /metrics: a collector asks mqb_metrics_json_detail(n) whether to emit
 * n per-partition series or their sums (the store: a 1024-partition scrape was 755 KB
 * and 13.3 ms of CPU). Unbounded collectors ignore it. */
char *mqb_metrics_render_prometheus_detail(mqb_metrics_t *reg, size_t *len,
					   enum mqb_json_detail detail);

#endif
