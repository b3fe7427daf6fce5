/*
 * kafka_api_stats.h — the kafka_api connector's metrics: connections, TLS handshakes,
 * requests and errors by API, fetch bytes, produced records, request latency.
 *
 * Instruments are owned by the metrics registry (created once in
 * mqb_kapi_stats_init, which also adds the /stats section "kafka_api"); updates are
 * lock-free from the server thread. The struct itself is owned by the connector
 * instance and must outlive the HTTP endpoint (the daemon stops it first). A NULL registry gives NULL instruments (every
 * update is then a no-op).
 */
#ifndef MQB_KAFKA_API_STATS_H
#define MQB_KAFKA_API_STATS_H

#include <stdint.h>

#include "bridge/stats/metrics.h"

#define KAPI_STATS_APIS 17    /* every API served (kafka_api_stats.c lists them) */
#define KAPI_STATS_CODES 30   /* the Kafka error codes this connector answers, + other */

typedef struct mqb_kapi_stats {
	mqb_gauge_t *connections;             /* open now */
	mqb_counter_t *accepted, *refused;    /* connections accepted / refused (limit) */
	mqb_counter_t *closed_bad;            /* closed for a protocol violation */
	mqb_counter_t *auth_failures;         /* SASL authentications refused */
	mqb_counter_t *tls_handshakes;        /* TLS handshakes completed */
	mqb_counter_t *tls_failures;          /* ... failed or timed out (kafka_api_tls.c) */
	mqb_counter_t *requests[KAPI_STATS_APIS + 1];   /* by API; last: any other key */
	mqb_counter_t *errors[KAPI_STATS_APIS + 1];     /* responses carrying an error */
	mqb_counter_t *codes[KAPI_STATS_CODES];          /* ... by (first) error code */
	mqb_counter_t *fetch_bytes, *produce_records, *produce_batches;
	mqb_counter_t *fetch_sendfile_bytes;  /* of fetch_bytes, sent by sendfile (not copied) */
	mqb_histogram_t *latency;             /* request handling time, seconds */
} mqb_kapi_stats_t;

/* Register the instruments (reg may be NULL). */
void mqb_kapi_stats_init(mqb_kapi_stats_t *s, mqb_metrics_t *reg);
/* Account one handled request of api_key with its first error code (0: none). */
void mqb_kapi_stats_request(mqb_kapi_stats_t *s, int16_t api_key, int16_t error,
			    double seconds);

#endif
