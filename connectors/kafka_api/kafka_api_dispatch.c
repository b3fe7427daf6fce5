/*
 * kafka_api_dispatch.c — the table of served APIs and versions, request dispatch
 * (header, version check, response framing), topic/partition lookup and the
 * per-connection reader cache.
 */
#include <string.h>

#include "bridge/err.h"
#include "connectors/kafka_api/kafka_api_int.h"

/* Versions: docs/KAFKA_API.md lists them and what librdkafka 2.0 / kafkajs 2.x pick;
 * the group APIs are served in their flexible versions too (flex_min on). Fetch
 * starts at v4 and Produce at v3: the first versions carrying RecordBatch v2. */
const mqb_kapi_api_t mqb_kapi_apis[] = {
	{ KAPI_PRODUCE,       "Produce",      3, 8, 9,  mqb_kapi_produce },
	{ KAPI_FETCH,         "Fetch",        4, 11, 12, mqb_kapi_fetch },
	{ KAPI_LIST_OFFSETS,  "ListOffsets",  0, 5, 6,  mqb_kapi_list_offsets },
	{ KAPI_METADATA,      "Metadata",     0, 8, 9,  mqb_kapi_metadata },
	{ KAPI_OFFSET_COMMIT, "OffsetCommit", 0, 8, 8,  mqb_kapi_offset_commit },
	{ KAPI_OFFSET_FETCH,  "OffsetFetch",  0, 7, 6,  mqb_kapi_offset_fetch },
	{ KAPI_FIND_COORDINATOR, "FindCoordinator", 0, 4, 3, mqb_kapi_find_coordinator },
	{ KAPI_JOIN_GROUP,    "JoinGroup",    0, 7, 6,  mqb_kapi_join_group },
	{ KAPI_HEARTBEAT,     "Heartbeat",    0, 4, 4,  mqb_kapi_heartbeat },
	{ KAPI_LEAVE_GROUP,   "LeaveGroup",   0, 4, 4,  mqb_kapi_leave_group },
	{ KAPI_SYNC_GROUP,    "SyncGroup",    0, 5, 4,  mqb_kapi_sync_group },
	{ KAPI_DESCRIBE_GROUPS, "DescribeGroups", 0, 5, 5, mqb_kapi_describe_groups },
	{ KAPI_LIST_GROUPS,   "ListGroups",   0, 4, 3,  mqb_kapi_list_groups },
	{ KAPI_SASL_HANDSHAKE, "SaslHandshake", 0, 1, 2, mqb_kapi_sasl_handshake },
	{ KAPI_API_VERSIONS,  "ApiVersions",  0, 3, 3,  mqb_kapi_api_versions },
	{ KAPI_CREATE_TOPICS, "CreateTopics", 0, 4, 5,  mqb_kapi_create_topics },
	{ KAPI_SASL_AUTHENTICATE, "SaslAuthenticate", 0, 2, 2, mqb_kapi_sasl_authenticate },
};
const size_t mqb_kapi_api_count = sizeof mqb_kapi_apis / sizeof mqb_kapi_apis[0];

const mqb_kapi_api_t *mqb_kapi_api_find(int16_t key)
{
	for (size_t i = 0; i < mqb_kapi_api_count; i++)
		if (mqb_kapi_apis[i].key == key)
			return &mqb_kapi_apis[i];
	return NULL;
}

static bool header_flexible(int16_t key, int16_t version)
{
	const mqb_kapi_api_t *a = mqb_kapi_api_find(key);
	return a && version >= a->flex_min;
}

bool mqb_kapi_topic_cstr(mqb_kstr_t t, char *buf, size_t size)
{
	if (!t.s || t.len <= 0 || (size_t)t.len >= size || memchr(t.s, '\0', (size_t)t.len))
		return false;
	memcpy(buf, t.s, (size_t)t.len);
	buf[t.len] = '\0';
	return true;
}

mqb_partition_t *mqb_kapi_partition(const mqb_kapi_ctx_t *ctx, mqb_kstr_t topic,
				    int32_t partition)
{
	char buf[256];

	if (partition < 0 || !mqb_kapi_topic_cstr(topic, buf, sizeof buf))
		return NULL;
	return mqb_store_partition(ctx->store, buf, partition);
}

/* --- reader cache -------------------------------------------------------------------- */

mqb_reader_t *mqb_kapi_reader_at(mqb_kapi_readers_t *rc, mqb_partition_t *p,
				 int64_t offset, int *err)
{
	size_t victim = 0;

	*err = MQB_OK;
	rc->tick++;
	for (size_t i = 0; i < KAPI_READER_CACHE; i++) {
		if (rc->e[i].p == p && rc->e[i].r) {
			rc->e[i].used = rc->tick;
			if (mqb_reader_position(rc->e[i].r) != offset)
				*err = mqb_reader_seek(rc->e[i].r, offset);
			return *err == MQB_OK ? rc->e[i].r : NULL;
		}
		if (rc->e[i].used < rc->e[victim].used)
			victim = i;
	}
	mqb_reader_destroy(rc->e[victim].r);
	rc->e[victim].p = NULL;
	rc->e[victim].r = mqb_reader_new(p, offset);
	if (!rc->e[victim].r) {
		*err = MQB_ERR_NOMEM;
		return NULL;
	}
	rc->e[victim].p = p;
	rc->e[victim].used = rc->tick;
	return rc->e[victim].r;
}

void mqb_kapi_readers_clear(mqb_kapi_readers_t *rc)
{
	for (size_t i = 0; i < KAPI_READER_CACHE; i++) {
		mqb_reader_destroy(rc->e[i].r);
		rc->e[i].r = NULL;
		rc->e[i].p = NULL;
	}
}

/* --- dispatch ------------------------------------------------------------------------ */

mqb_kapi_verdict_t mqb_kapi_dispatch(const mqb_kapi_ctx_t *ctx, const uint8_t *frame,
				     size_t len, mqb_kapi_call_t *call, mqb_buf_t *out)
{
	mqb_kr_t r;
	mqb_kreq_hdr_t h;
	const mqb_kapi_api_t *a;
	mqb_kw_t w = { out, false };
	size_t start = out->len, size_at;
	size_t files_before = call->outq ? call->outq->n : 0;
	int64_t files_at = mqb_kapi_files_added(call);
	mqb_kapi_verdict_t v;

	mqb_kr_init(&r, frame, len);
	if (mqb_kreq_hdr_read(&r, &h, header_flexible) != 0)
		return KAPI_CLOSE;
	a = mqb_kapi_api_find(h.api_key);
	if (!a)
		return KAPI_CLOSE;          /* unknown API key: as Kafka, close */
	if ((h.api_version < a->min || h.api_version > a->max) &&
	    h.api_key != KAPI_API_VERSIONS)
		return KAPI_CLOSE;          /* the client ignored our ApiVersions answer */
	if (!mqb_kapi_sasl_allows(ctx, call, h.api_key)) {
		call->close_why = "request before SASL authentication";
		return KAPI_CLOSE;
	}
	size_at = mqb_kw_reserve32(&w);
	mqb_kw_i32(&w, h.correlation_id);
	/* response header v1 (tagged fields) for a flexible request, except ApiVersions,
	 * whose response header is always v0 (KIP-511) */
	if (h.flexible && h.api_key != KAPI_API_VERSIONS)
		mqb_kw_tags_empty(&w);
	v = a->fn(ctx, &h, &r, &w, call);
	if (r.err || ((v == KAPI_RESPOND || v == KAPI_RESPOND_CLOSE) && w.err))
		v = KAPI_CLOSE;
	if (v != KAPI_RESPOND && v != KAPI_RESPOND_CLOSE) {
		out->len = start;
		if (call->outq)              /* a parked Fetch: drop the ranges it queued */
			mqb_kapi_outq_truncate(call->outq, start, files_before);
		return v;
	}
	mqb_kw_patch_i32(&w, size_at, (int32_t)(out->len - size_at - 4 +
						 (size_t)(mqb_kapi_files_added(call) - files_at)));
	return v;
}
