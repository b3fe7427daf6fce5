/*
 * kafka_api_stats.c — registering and updating the kafka_api metrics.
 */
#include "connectors/kafka_api/kafka_api_stats.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <string.h>

static const struct { int16_t key; const char *name; } api_names[KAPI_STATS_APIS] = {
	{ 0, "Produce" }, { 1, "Fetch" }, { 2, "ListOffsets" }, { 3, "Metadata" },
	{ 18, "ApiVersions" }, { 19, "CreateTopics" }, { 8, "OffsetCommit" },
	{ 9, "OffsetFetch" }, { 10, "FindCoordinator" }, { 11, "JoinGroup" },
	{ 12, "Heartbeat" }, { 13, "LeaveGroup" }, { 14, "SyncGroup" },
	{ 15, "DescribeGroups" }, { 16, "ListGroups" }, { 17, "SaslHandshake" },
	{ 36, "SaslAuthenticate" },
};

/* Kafka's names; the last slot counts any other code. */
static const struct { int16_t code; const char *name; } code_names[KAPI_STATS_CODES] = {
	{ -1, "UNKNOWN_SERVER_ERROR" }, { 1, "OFFSET_OUT_OF_RANGE" }, { 2, "CORRUPT_MESSAGE" },
	{ 3, "UNKNOWN_TOPIC_OR_PARTITION" }, { 10, "MESSAGE_TOO_LARGE" },
	{ 17, "INVALID_TOPIC_EXCEPTION" }, { 18, "RECORD_LIST_TOO_LARGE" },
	{ 21, "INVALID_REQUIRED_ACKS" }, { 35, "UNSUPPORTED_VERSION" },
	{ 42, "INVALID_REQUEST" }, { 44, "POLICY_VIOLATION" }, { 56, "KAFKA_STORAGE_ERROR" },
	{ 76, "UNSUPPORTED_COMPRESSION_TYPE" }, { 12, "OFFSET_METADATA_TOO_LARGE" },
	{ 15, "COORDINATOR_NOT_AVAILABLE" }, { 22, "ILLEGAL_GENERATION" },
	{ 23, "INCONSISTENT_GROUP_PROTOCOL" }, { 24, "INVALID_GROUP_ID" },
	{ 25, "UNKNOWN_MEMBER_ID" }, { 26, "INVALID_SESSION_TIMEOUT" },
	{ 27, "REBALANCE_IN_PROGRESS" }, { 30, "GROUP_AUTHORIZATION_FAILED" },
	{ 79, "MEMBER_ID_REQUIRED" }, { 81, "GROUP_MAX_SIZE_REACHED" },
	{ 82, "FENCED_INSTANCE_ID" }, { 33, "UNSUPPORTED_SASL_MECHANISM" },
	{ 34, "ILLEGAL_SASL_STATE" }, { 58, "SASL_AUTHENTICATION_FAILED" }, { 0, "other" },
};

static int code_slot(int16_t code)
{
	for (int i = 0; i < KAPI_STATS_CODES - 1; i++)
		if (code_names[i].code == code)
			return i;
	return KAPI_STATS_CODES - 1;
}

static int api_slot(int16_t key)
{
	for (int i = 0; i < KAPI_STATS_APIS; i++)
		if (api_names[i].key == key)
			return i;
	return KAPI_STATS_APIS;
}

/* /stats "kafka_api": the same numbers as /metrics (HTTP thread; atomics only). */
static void stats_json(cJSON *o, void *arg)
{
	mqb_kapi_stats_t *s = arg;
	cJSON *req = cJSON_AddObjectToObject(o, "requests");
	cJSON *err = cJSON_AddObjectToObject(o, "request_errors");

	cJSON_AddNumberToObject(o, "connections",
				s->connections ? (double)atomic_load(&s->connections->v) : 0);
	cJSON_AddNumberToObject(o, "connections_total", (double)mqb_counter_get(s->accepted));
	cJSON_AddNumberToObject(o, "connections_refused", (double)mqb_counter_get(s->refused));
	cJSON_AddNumberToObject(o, "protocol_errors", (double)mqb_counter_get(s->closed_bad));
	cJSON_AddNumberToObject(o, "auth_failures", (double)mqb_counter_get(s->auth_failures));
	cJSON_AddNumberToObject(o, "tls_handshakes", (double)mqb_counter_get(s->tls_handshakes));
	cJSON_AddNumberToObject(o, "tls_handshake_failures",
				(double)mqb_counter_get(s->tls_failures));
	for (int i = 0; i <= KAPI_STATS_APIS && req && err; i++) {
		const char *n = i < KAPI_STATS_APIS ? api_names[i].name : "other";

		cJSON_AddNumberToObject(req, n, (double)mqb_counter_get(s->requests[i]));
		cJSON_AddNumberToObject(err, n, (double)mqb_counter_get(s->errors[i]));
	}
	cJSON *codes = cJSON_AddObjectToObject(o, "errors_by_code");

	for (int i = 0; i < KAPI_STATS_CODES && codes; i++) {
		uint64_t n = mqb_counter_get(s->codes[i]);

		if (n)
			cJSON_AddNumberToObject(codes, code_names[i].name, (double)n);
	}
	cJSON_AddNumberToObject(o, "fetch_bytes", (double)mqb_counter_get(s->fetch_bytes));
	cJSON_AddNumberToObject(o, "fetch_sendfile_bytes",
				(double)mqb_counter_get(s->fetch_sendfile_bytes));
	cJSON_AddNumberToObject(o, "produce_records", (double)mqb_counter_get(s->produce_records));
	cJSON_AddNumberToObject(o, "produce_batches", (double)mqb_counter_get(s->produce_batches));
}

void mqb_kapi_stats_init(mqb_kapi_stats_t *s, mqb_metrics_t *reg)
{
	static const double bounds[] = { 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1 };

	memset(s, 0, sizeof *s);
	if (!reg)
		return;
	s->connections = mqb_metrics_gauge(reg, "mqbridge_kafka_api_connections",
					   "Kafka API client connections open", 1, NULL);
	s->accepted = mqb_metrics_counter(reg, "mqbridge_kafka_api_connections_total",
					  "Kafka API client connections accepted", NULL);
	s->refused = mqb_metrics_counter(reg, "mqbridge_kafka_api_connections_refused_total",
					 "Kafka API connections refused (max_connections)", NULL);
	s->closed_bad = mqb_metrics_counter(reg, "mqbridge_kafka_api_protocol_errors_total",
					    "Kafka API connections closed for malformed or "
					    "unsupported requests", NULL);
	s->auth_failures = mqb_metrics_counter(reg, "mqbridge_kafka_api_auth_failures_total",
					       "Kafka API SASL authentications refused", NULL);
	s->tls_handshakes = mqb_metrics_counter(reg, "mqbridge_kafka_api_tls_handshakes_total",
						"Kafka API TLS handshakes completed", NULL);
	s->tls_failures = mqb_metrics_counter(reg,
					      "mqbridge_kafka_api_tls_handshake_failures_total",
					      "Kafka API TLS handshakes failed or timed out "
					      "(kafka_api.tls_handshake_timeout_ms)", NULL);
	for (int i = 0; i <= KAPI_STATS_APIS; i++) {
		const char *n = i < KAPI_STATS_APIS ? api_names[i].name : "other";

		s->requests[i] = mqb_metrics_counter(reg, "mqbridge_kafka_api_requests_total",
						     "Kafka API requests, by API", "api", n, NULL);
		s->errors[i] = mqb_metrics_counter(reg, "mqbridge_kafka_api_request_errors_total",
						   "Kafka API responses carrying an error code, "
						   "by API", "api", n, NULL);
	}
	for (int i = 0; i < KAPI_STATS_CODES; i++)
		s->codes[i] = mqb_metrics_counter(reg, "mqbridge_kafka_api_errors_total",
						  "Kafka API responses by their (first) error code",
						  "error", code_names[i].name, NULL);
	s->fetch_bytes = mqb_metrics_counter(reg, "mqbridge_kafka_api_fetch_bytes_total",
					     "record batch bytes sent in Fetch responses", NULL);
	s->fetch_sendfile_bytes = mqb_metrics_counter(reg,
						      "mqbridge_kafka_api_fetch_sendfile_bytes_total",
						      "of the fetch bytes, those sent from the segment "
						      "files by sendfile (zero-copy)", NULL);
	s->produce_records = mqb_metrics_counter(reg, "mqbridge_kafka_api_produce_records_total",
						 "records appended from Produce requests", NULL);
	s->produce_batches = mqb_metrics_counter(reg, "mqbridge_kafka_api_produce_batches_total",
						 "record batches appended from Produce requests",
						 NULL);
	s->latency = mqb_metrics_histogram(reg, "mqbridge_kafka_api_request_seconds",
					   "Kafka API request handling time (parked Fetch "
					   "waits included)", bounds,
					   sizeof bounds / sizeof bounds[0], NULL);
	mqb_metrics_add_json(reg, "kafka_api", stats_json, s);
}

void mqb_kapi_stats_request(mqb_kapi_stats_t *s, int16_t api_key, int16_t error,
			    double seconds)
{
	int i;

	if (!s)
		return;
	i = api_slot(api_key);
	mqb_counter_inc(s->requests[i]);
	if (error) {
		mqb_counter_inc(s->errors[i]);
		mqb_counter_inc(s->codes[code_slot(error)]);
	}
	mqb_histogram_observe(s->latency, seconds);
}
