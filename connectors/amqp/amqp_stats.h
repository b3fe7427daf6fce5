/*
 * amqp_stats.h — the amqp connector's metrics (/metrics mqbridge_amqp_*) and its /stats
 * section "amqp". Counters are atomics: the AMQP thread adds, the HTTP thread reads.
 * Ownership: the counters belong to the registry; the struct to the connector.
 */
#ifndef MQB_AMQP_STATS_H
#define MQB_AMQP_STATS_H

#include <stdatomic.h>

#include "bridge/stats/metrics.h"

enum amqp_outcome { AMQP_OUT_ACCEPTED, AMQP_OUT_RELEASED, AMQP_OUT_REJECTED,
		    AMQP_OUT_MODIFIED, AMQP_OUT_COUNT };
enum amqp_reject { AMQP_REJ_SIZE, AMQP_REJ_DECODE, AMQP_REJ_BODY, AMQP_REJ_COUNT };

typedef struct mqb_amqp_stats {
	mqb_gauge_t *connections, *links;
	mqb_counter_t *connections_total, *connections_refused, *auth_failures;
	mqb_counter_t *links_refused;         /* unknown address, limit, bad address */
	mqb_counter_t *received, *stored, *settled;   /* messages in; settled accepted */
	mqb_counter_t *rejected[AMQP_REJ_COUNT];      /* messages in refused, by reason */
	mqb_counter_t *delivered;             /* records sent to receivers */
	mqb_counter_t *outcomes[AMQP_OUT_COUNT];      /* outcomes received from receivers */
	mqb_counter_t *credit_stalls;         /* links held without credit (store refusing) */
	atomic_ulong *auth_failures_src;      /* mqb_amqp_auth_t.failures */
} mqb_amqp_stats_t;

/* Register every family (reg NULL: all counters NULL, every update a no-op). */
void mqb_amqp_stats_init(mqb_amqp_stats_t *s, mqb_metrics_t *reg, atomic_ulong *auth_failures);

#endif
