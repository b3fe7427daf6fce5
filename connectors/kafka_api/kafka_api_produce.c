/*
 * kafka_api_produce.c — writing into the streams: Produce (v3..v8).
 *
 * Every batch of a partition's records is validated first (length, magic 2,
 * CRC-32C, no compression / transaction / control bits: mqb_batch_header_parse);
 * only when all are valid are they decoded and appended, one store batch per
 * incoming batch, so the store assigns the partition's next offsets (the client's
 * base offset is ignored). Records keep their key, value, headers and CreateTime.
 * acks=0 sends no response; acks=1 answers once stored; acks=-1 answers once durable:
 * the server thread fsyncs the partition (mqb_partition_flush) when the durable
 * watermark is behind, which holds this connector's thread for the fsync.
 */
#include <stdlib.h>
#include <string.h>

#include "bridge/err.h"
#include "connectors/kafka_api/kafka_api_int.h"

typedef struct produce_out {
	int16_t err;
	int64_t base_offset, log_start;
	const char *msg;             /* error_message (v8), or NULL */
} produce_out_t;

/* Check every batch in records; MQB_OK or the Kafka error code. */
static int16_t produce_validate(const uint8_t *b, size_t len, const char **msg)
{
	size_t pos = 0;
	mqb_batch_hdr_t hdr;
	char why[128];

	if (len == 0) {
		*msg = "no record batch";
		return KERR_CORRUPT_MESSAGE;
	}
	while (pos < len) {
		if (len - pos >= MQB_BATCH_HDR_SIZE &&
		    mqb_batch_header_peek(b + pos, len - pos, &hdr) == MQB_OK &&
		    hdr.magic == MQB_BATCH_MAGIC && (hdr.attributes & 0x07)) {
			*msg = "compressed batches are not supported (compression.codec=none)";
			return KERR_UNSUPPORTED_COMPRESSION;
		}
		if (mqb_batch_header_parse(b + pos, len - pos, &hdr, why, sizeof why) != MQB_OK) {
			*msg = "invalid record batch (length, magic 2, CRC-32C, attributes)";
			return KERR_CORRUPT_MESSAGE;
		}
		pos += mqb_batch_total_size(&hdr);
	}
	return KERR_NONE;
}

typedef struct rec_vec {
	mqb_record_t *recs;
	mqb_rec_header_t *hdrs;
	size_t n, cap, nh, caph;
	size_t *hdr_first;           /* index of each record's first header in hdrs */
} rec_vec_t;

static int vec_push(rec_vec_t *v, const mqb_record_t *rec)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 64;
		mqb_record_t *r = realloc(v->recs, cap * sizeof *r);
		size_t *f = r ? realloc(v->hdr_first, cap * sizeof *f) : NULL;

		if (r)
			v->recs = r;
		if (!r || !f)
			return MQB_ERR_NOMEM;
		v->hdr_first = f;
		v->cap = cap;
	}
	if (v->nh + rec->header_count > v->caph) {
		size_t cap = (v->nh + rec->header_count) * 2 + 16;
		mqb_rec_header_t *h = realloc(v->hdrs, cap * sizeof *h);

		if (!h)
			return MQB_ERR_NOMEM;
		v->hdrs = h;
		v->caph = cap;
	}
	v->recs[v->n] = *rec;
	v->hdr_first[v->n] = v->nh;
	if (rec->header_count)
		memcpy(v->hdrs + v->nh, rec->headers, rec->header_count * sizeof *v->hdrs);
	v->nh += rec->header_count;
	v->n++;
	return MQB_OK;
}

static void vec_free(rec_vec_t *v)
{
	free(v->recs);
	free(v->hdrs);
	free(v->hdr_first);
}

static int16_t store_err(int rc)
{
	switch (rc) {
	case MQB_ERR_TOOBIG: return KERR_MESSAGE_TOO_LARGE;
	case MQB_ERR_INVAL:  return KERR_CORRUPT_MESSAGE;
	case MQB_ERR_NOSPC:
	case MQB_ERR_IO:
	case MQB_ERR_NFILE:  return KERR_KAFKA_STORAGE;
	default:             return KERR_UNKNOWN_SERVER;
	}
}

/* Decode one validated batch and append its records as one store batch. */
static int16_t produce_batch(mqb_partition_t *p, const uint8_t *b, size_t len,
			     int64_t *base, size_t *nrec)
{
	mqb_batch_iter_t it;
	rec_vec_t v = { 0 };
	mqb_record_t rec;
	int rc = mqb_batch_iter_init(&it, b, len);

	while (rc == MQB_OK && (rc = mqb_batch_iter_next(&it, &rec)) == 1)
		rc = vec_push(&v, &rec);
	mqb_batch_iter_destroy(&it);
	if (rc != 0 || v.n == 0) {
		vec_free(&v);
		return rc == MQB_ERR_NOMEM ? KERR_UNKNOWN_SERVER : KERR_CORRUPT_MESSAGE;
	}
	for (size_t i = 0; i < v.n; i++)
		v.recs[i].headers = v.recs[i].header_count ? v.hdrs + v.hdr_first[i] : NULL;
	rc = mqb_partition_append(p, v.recs, v.n, base);
	*nrec = v.n;
	vec_free(&v);
	return rc == MQB_OK ? KERR_NONE : store_err(rc);
}

static void produce_records(const mqb_kapi_ctx_t *ctx, mqb_partition_t *p, mqb_kstr_t recs,
			    int16_t acks, produce_out_t *o)
{
	const uint8_t *b = (const uint8_t *)recs.s;
	size_t len = recs.len > 0 ? (size_t)recs.len : 0, pos = 0;
	mqb_watermarks_t wm;

	o->err = produce_validate(b, len, &o->msg);
	while (o->err == KERR_NONE && pos < len) {
		mqb_batch_hdr_t hdr;
		int64_t base = -1;
		size_t n = 0, size;

		(void)mqb_batch_header_peek(b + pos, len - pos, &hdr);
		size = mqb_batch_total_size(&hdr);
		o->err = produce_batch(p, b + pos, size, &base, &n);
		if (o->err == KERR_NONE && o->base_offset < 0)
			o->base_offset = base;
		if (o->err == KERR_NONE && ctx->stats) {
			mqb_counter_add(ctx->stats->produce_records, n);
			mqb_counter_inc(ctx->stats->produce_batches);
		}
		pos += size;
	}
	mqb_partition_watermarks(p, &wm);
	if (o->err == KERR_NONE && acks == -1 && wm.durable < wm.stored &&
	    mqb_partition_flush(p) != MQB_OK)
		o->err = KERR_KAFKA_STORAGE;
	o->log_start = wm.log_start;
}

static void produce_partition(const mqb_kapi_ctx_t *ctx, mqb_kapi_call_t *call, int16_t v,
			      int16_t acks, mqb_kstr_t topic, mqb_kr_t *r, mqb_kw_t *w)
{
	int32_t idx = mqb_kr_i32(r);
	mqb_kstr_t recs = mqb_kr_bytes(r);
	produce_out_t o = { KERR_NONE, -1, -1, NULL };
	mqb_partition_t *p = r->err ? NULL : mqb_kapi_partition(ctx, topic, idx);

	if (r->err)
		return;
	if (acks != 0 && acks != 1 && acks != -1)
		o.err = KERR_INVALID_REQUIRED_ACKS;
	else if (!p)
		o.err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
	else
		produce_records(ctx, p, recs, acks, &o);
	mqb_kapi_note_error(call, o.err);
	mqb_kw_i32(w, idx);
	mqb_kw_i16(w, o.err);
	mqb_kw_i64(w, o.base_offset);
	mqb_kw_i64(w, -1);                           /* log_append_time_ms: CreateTime */
	if (v >= 5)
		mqb_kw_i64(w, o.log_start);
	if (v >= 8) {
		mqb_kw_i32(w, 0);                    /* record_errors */
		mqb_kw_cstr(w, o.err ? o.msg : NULL);
	}
}

mqb_kapi_verdict_t mqb_kapi_produce(const mqb_kapi_ctx_t *ctx, const mqb_kreq_hdr_t *h,
				    mqb_kr_t *r, mqb_kw_t *w, mqb_kapi_call_t *call)
{
	int16_t v = h->api_version, acks;
	int32_t nt;

	(void)mqb_kr_str(r);                         /* transactional_id */
	acks = mqb_kr_i16(r);
	(void)mqb_kr_i32(r);                         /* timeout_ms */
	nt = mqb_kr_array(r, 6);
	mqb_kw_i32(w, nt < 0 ? 0 : nt);
	for (int32_t i = 0; i < nt && !r->err; i++) {
		mqb_kstr_t topic = mqb_kr_str(r);
		int32_t np = mqb_kr_array(r, 8);

		mqb_kw_str(w, topic.s ? topic.s : "", topic.s ? topic.len : 0);
		mqb_kw_i32(w, np < 0 ? 0 : np);
		for (int32_t j = 0; j < np && !r->err; j++)
			produce_partition(ctx, call, v, acks, topic, r, w);
	}
	mqb_kw_i32(w, 0);                            /* throttle_time_ms */
	return acks == 0 ? KAPI_NO_RESPONSE : KAPI_RESPOND;
}
