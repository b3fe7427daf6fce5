/*
 * kafka_http.c — GET /offsets/translate (kafka_http.h).
 */
#include "connectors/kafka/kafka_http.h"

#include <errno.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "bridge/err.h"
#include "connectors/kafka/kafka_checkpoint.h"

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

/* ?group=G: every partition of the local group's committed offsets, translated. */
static void translate_group(mqb_kafka_fwd_t *f, const char *group, mqb_http_resp_t *resp)
{
	mqb_kafka_group_tr_t tr;
	char why[512] = "";
	int rc = mqb_kafka_group_translate(f, mqb_kafka_fwd_config(f), group, &tr, why,
					   sizeof(why));
	if (rc != MQB_OK) {
		mqb_http_resp_error(resp, rc == MQB_ERR_NOTFOUND ? 404 :
				    rc == MQB_ERR_STATE ? 409 : 500, "%s", why);
		return;
	}
	cJSON *doc = cJSON_CreateObject();
	cJSON_AddStringToObject(doc, "group", group);
	cJSON_AddStringToObject(doc, "stream", tr.stream);
	cJSON_AddStringToObject(doc, "topic", tr.topic);
	cJSON *arr = cJSON_AddArrayToObject(doc, "partitions");
	for (size_t i = 0; i < tr.n_parts; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "partition", tr.parts[i].partition);
		cJSON_AddNumberToObject(o, "committed", (double)tr.parts[i].committed);
		if (tr.parts[i].kafka_offset >= 0)
			cJSON_AddNumberToObject(o, "kafka_offset", (double)tr.parts[i].kafka_offset);
		else
			cJSON_AddNullToObject(o, "kafka_offset");
		cJSON_AddStringToObject(o, "status", tr.parts[i].status);
		cJSON_AddItemToArray(arr, o);
	}
	mqb_kafka_group_tr_free(&tr);
	mqb_http_resp_json(resp, 200, doc);
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
	const char *group = mqb_http_req_query(req, "group");
	if (group) {
		if (!*group || stream || topic || ps || os) {
			mqb_http_resp_error(resp, 400, "give either group, or stream, partition "
					    "and offset");
			return;
		}
		translate_group(f, group, resp);
		return;
	}
	if (!stream || !*stream) {
		mqb_http_resp_error(resp, 400, "missing argument: stream");
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
