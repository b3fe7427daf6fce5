/*
 * kafka_http.c — GET /offsets/translate (kafka_http.h).
 */
#include "connectors/kafka/kafka_http.h"

#include <errno.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "bridge/err.h"

static int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	if (!s || !*s)
		return -1;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static void translate_handler(const mqb_http_req_t *req, mqb_http_resp_t *resp, void *arg)
{
	mqb_kafka_fwd_t *f = arg;
	const char *stream = mqb_http_req_query(req, "stream");
	const char *topic = mqb_http_req_query(req, "topic");
	const char *ps = mqb_http_req_query(req, "partition");
	const char *os = mqb_http_req_query(req, "offset");
	int64_t partition, offset, kafka;
	const char *topic_out = NULL;
	if (!stream || !*stream) {
		mqb_http_resp_error(resp, 400, "missing argument: stream");
		return;
	}
	if (mqb_http_req_query(req, "group")) {
		mqb_http_resp_error(resp, 501, "translation by group is not available: give "
				    "partition and offset (the group's committed offset)");
		return;
	}
	if (parse_i64(ps, 0, INT32_MAX, &partition)) {
		mqb_http_resp_error(resp, 400, "partition: expected an integer >= 0, got \"%s\"",
				    ps ? ps : "");
		return;
	}
	if (parse_i64(os, 0, INT64_MAX, &offset)) {
		mqb_http_resp_error(resp, 400, "offset: expected an integer >= 0, got \"%s\"",
				    os ? os : "");
		return;
	}
	int rc = mqb_kafka_fwd_translate(f, stream, topic, (int32_t)partition, offset, &kafka,
					 &topic_out);
	if (rc == MQB_ERR_NOTFOUND) {
		if (!topic_out)
			mqb_http_resp_error(resp, 404, "stream %s partition %lld is not forwarded%s%s",
					    stream, (long long)partition, topic ? " to topic " : "",
					    topic ? topic : "");
		else
			mqb_http_resp_error(resp, 404, "no offset-sync pair yet for %s [%lld] "
					    "(nothing delivered to %s)", stream,
					    (long long)partition, topic_out);
		return;
	}
	if (rc == MQB_ERR_RANGE) {
		mqb_http_resp_error(resp, 416, "offset %lld is older than the oldest offset-sync "
				    "pair kept for %s [%lld]: cannot translate safely",
				    (long long)offset, stream, (long long)partition);
		return;
	}
	if (rc != MQB_OK) {
		mqb_http_resp_error(resp, 500, "%s", mqb_strerror(rc));
		return;
	}
	cJSON *doc = cJSON_CreateObject();
	cJSON_AddStringToObject(doc, "stream", stream);
	cJSON_AddStringToObject(doc, "topic", topic_out);
	cJSON_AddNumberToObject(doc, "partition", (double)partition);
	cJSON_AddNumberToObject(doc, "offset", (double)offset);
	cJSON_AddNumberToObject(doc, "kafka_offset", (double)kafka);
	mqb_http_resp_json(resp, 200, doc);
}

int mqb_kafka_http_register(mqb_http_t *http, mqb_kafka_fwd_t *f)
{
	return mqb_http_add_route(http, "GET", "/offsets/translate", false,
				  translate_handler, f);
}

void mqb_kafka_http_unregister(mqb_http_t *http)
{
	mqb_http_remove_route(http, "GET", "/offsets/translate");
}
