/*
 * kafka_api_meta.c — the cluster-level requests: ApiVersions (v0..v3), Metadata
 * (v0..v8) and CreateTopics (v0..v4, always refused: streams come from the config).
 *
 * Handlers read the request while they write the response (topic i is answered as
 * it is read), so nothing is allocated; the dispatcher checks r->err afterwards and
 * closes the connection on a malformed request.
 */
#include <limits.h>
#include <string.h>

#include "connectors/kafka_api/kafka_api_int.h"

#define KAPI_CREATE_TOPICS_MSG "streams come from the config"

/* --- ApiVersions ------------------------------------------------------------------- */

static void api_list(mqb_kw_t *w, bool compact)
{
	if (compact)
		mqb_kw_uvarint(w, mqb_kapi_api_count + 1);
	else
		mqb_kw_i32(w, (int32_t)mqb_kapi_api_count);
	for (size_t i = 0; i < mqb_kapi_api_count; i++) {
		mqb_kw_i16(w, mqb_kapi_apis[i].key);
		mqb_kw_i16(w, mqb_kapi_apis[i].min);
		mqb_kw_i16(w, mqb_kapi_apis[i].max);
		if (compact)
			mqb_kw_tags_empty(w);
	}
}

mqb_kapi_verdict_t mqb_kapi_api_versions(const mqb_kapi_ctx_t *ctx, const mqb_kreq_hdr_t *h,
					 mqb_kr_t *r, mqb_kw_t *w, mqb_kapi_call_t *call)
{
	const mqb_kapi_api_t *a = mqb_kapi_api_find(KAPI_API_VERSIONS);

	(void)ctx;
	if (h->api_version > a->max || h->api_version < a->min) {
		/* KIP-511: answer in the v0 format with UNSUPPORTED_VERSION and the list, so
		 * the client can retry with a version we speak; the body is not read. */
		r->p = r->end;
		mqb_kw_i16(w, KERR_UNSUPPORTED_VERSION);
		mqb_kapi_note_error(call, KERR_UNSUPPORTED_VERSION);
		api_list(w, false);
		return KAPI_RESPOND;
	}
	if (h->api_version >= 3) {
		(void)mqb_kr_compact_str(r);    /* client_software_name */
		(void)mqb_kr_compact_str(r);    /* client_software_version */
		mqb_kr_tags(r);
	}
	mqb_kw_i16(w, KERR_NONE);
	api_list(w, h->api_version >= 3);
	if (h->api_version >= 1)
		mqb_kw_i32(w, 0);               /* throttle_time_ms */
	if (h->api_version >= 3)
		mqb_kw_tags_empty(w);
	return KAPI_RESPOND;
}

/* --- Metadata ---------------------------------------------------------------------- */

static void metadata_partitions(mqb_kw_t *w, int16_t v, int32_t n)
{
	mqb_kw_i32(w, n);
	for (int32_t i = 0; i < n; i++) {
		mqb_kw_i16(w, KERR_NONE);
		mqb_kw_i32(w, i);                    /* partition_index */
		mqb_kw_i32(w, KAPI_NODE_ID);         /* leader_id */
		if (v >= 7)
			mqb_kw_i32(w, 0);            /* leader_epoch */
		mqb_kw_i32(w, 1);                    /* replica_nodes */
		mqb_kw_i32(w, KAPI_NODE_ID);
		mqb_kw_i32(w, 1);                    /* isr_nodes */
		mqb_kw_i32(w, KAPI_NODE_ID);
		if (v >= 5)
			mqb_kw_i32(w, 0);            /* offline_replicas */
	}
}

static void metadata_topic(const mqb_kapi_ctx_t *ctx, mqb_kw_t *w, int16_t v,
			   const char *name, int32_t name_len, mqb_kapi_call_t *call)
{
	char buf[256];
	mqb_kstr_t t = { name, name_len };
	int32_t n = -1;

	if (mqb_kapi_topic_cstr(t, buf, sizeof buf))
		n = mqb_store_partition_count(ctx->store, buf);
	mqb_kw_i16(w, n > 0 ? KERR_NONE : KERR_UNKNOWN_TOPIC_OR_PARTITION);
	if (n <= 0)
		mqb_kapi_note_error(call, KERR_UNKNOWN_TOPIC_OR_PARTITION);
	mqb_kw_str(w, name, name_len);
	if (v >= 1)
		mqb_kw_i8(w, 0);                     /* is_internal */
	metadata_partitions(w, v, n > 0 ? n : 0);
	if (v >= 8)
		mqb_kw_i32(w, INT32_MIN);            /* topic_authorized_operations */
}

static void metadata_brokers(const mqb_kapi_ctx_t *ctx, mqb_kw_t *w, int16_t v)
{
	mqb_kw_i32(w, 1);
	mqb_kw_i32(w, KAPI_NODE_ID);
	mqb_kw_cstr(w, ctx->adv_host);
	mqb_kw_i32(w, ctx->adv_port);
	if (v >= 1)
		mqb_kw_str(w, NULL, -1);             /* rack */
	if (v >= 2)
		mqb_kw_cstr(w, KAPI_CLUSTER_ID);
	if (v >= 1)
		mqb_kw_i32(w, KAPI_NODE_ID);         /* controller_id */
}

mqb_kapi_verdict_t mqb_kapi_metadata(const mqb_kapi_ctx_t *ctx, const mqb_kreq_hdr_t *h,
				     mqb_kr_t *r, mqb_kw_t *w, mqb_kapi_call_t *call)
{
	int16_t v = h->api_version;
	int32_t n = mqb_kr_array(r, 2);

	if (v >= 3)
		mqb_kw_i32(w, 0);                    /* throttle_time_ms */
	metadata_brokers(ctx, w, v);
	if (r->err)
		return KAPI_CLOSE;
	if (n < 0 || (n == 0 && v == 0)) {           /* every topic */
		const char *const *names = mqb_store_streams(ctx->store);
		int32_t count = 0;

		while (names && names[count])
			count++;
		mqb_kw_i32(w, count);
		for (int32_t i = 0; i < count; i++)
			metadata_topic(ctx, w, v, names[i], (int32_t)strlen(names[i]), call);
	} else {
		mqb_kw_i32(w, n);
		for (int32_t i = 0; i < n && !r->err; i++) {
			mqb_kstr_t t = mqb_kr_str(r);

			if (!t.s)
				t.s = "", t.len = 0;
			metadata_topic(ctx, w, v, t.s, t.len, call);
		}
	}
	if (v >= 4)
		(void)mqb_kr_i8(r);                  /* allow_auto_topic_creation: never */
	if (v >= 8) {
		(void)mqb_kr_i8(r);
		(void)mqb_kr_i8(r);
		mqb_kw_i32(w, INT32_MIN);            /* cluster_authorized_operations */
	}
	return KAPI_RESPOND;
}

/* --- CreateTopics: refused ------------------------------------------------------------ */

static void skip_create_topic_rest(mqb_kr_t *r)
{
	int32_t na, nc;

	(void)mqb_kr_i32(r);                         /* num_partitions */
	(void)mqb_kr_i16(r);                         /* replication_factor */
	na = mqb_kr_array(r, 8);
	for (int32_t j = 0; j < na && !r->err; j++) {
		(void)mqb_kr_i32(r);
		int32_t nb = mqb_kr_array(r, 4);
		for (int32_t k = 0; k < nb && !r->err; k++)
			(void)mqb_kr_i32(r);
	}
	nc = mqb_kr_array(r, 4);
	for (int32_t j = 0; j < nc && !r->err; j++) {
		(void)mqb_kr_str(r);
		(void)mqb_kr_str(r);
	}
}

mqb_kapi_verdict_t mqb_kapi_create_topics(const mqb_kapi_ctx_t *ctx, const mqb_kreq_hdr_t *h,
					  mqb_kr_t *r, mqb_kw_t *w, mqb_kapi_call_t *call)
{
	int16_t v = h->api_version;
	int32_t n = mqb_kr_array(r, 14);

	(void)ctx;
	if (v >= 2)
		mqb_kw_i32(w, 0);                    /* throttle_time_ms */
	mqb_kw_i32(w, n < 0 ? 0 : n);
	for (int32_t i = 0; i < n && !r->err; i++) {
		mqb_kstr_t t = mqb_kr_str(r);

		skip_create_topic_rest(r);
		mqb_kw_str(w, t.s ? t.s : "", t.s ? t.len : 0);
		mqb_kw_i16(w, KERR_POLICY_VIOLATION);
		if (v >= 1)
			mqb_kw_cstr(w, KAPI_CREATE_TOPICS_MSG);
		mqb_kapi_note_error(call, KERR_POLICY_VIOLATION);
	}
	(void)mqb_kr_i32(r);                         /* timeout_ms */
	if (v >= 1)
		(void)mqb_kr_i8(r);                  /* validate_only */
	return KAPI_RESPOND;
}
