/*
 * kafka_api_fetch.c — reading the streams: Fetch (v4..v11) and ListOffsets (v0..v5).
 *
 * Fetch sends the stored RecordBatch v2 bytes unchanged and without copying them: the
 * connection's cached reader hands out whole batches as file ranges of the segments
 * (mqb_reader_next_range), which go into the connection's output queue and from
 * there to the socket by sendfile (kafka_api_outq.h). The CRCs are not recomputed
 * here (see mqb_reader_next_range and docs/KAFKA_API.md, "Zero-copy Fetch"). Limits: a partition gets
 * whole batches up to partition_max_bytes and the response up to max_bytes, except
 * that the first batch of a response is always sent whole (KIP-74), so a consumer
 * never stalls behind one large batch. Below min_bytes the handler parks
 * (KAPI_PARK) unless call->final: the server arms the store's append watch for the
 * partitions read (call->watch), calls it again when one of their stored watermarks
 * moved, and once more, final, at max_wait_ms. Fetch sessions (KIP-227) are not kept:
 * session_id 0 in every answer makes clients send full requests.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "bridge/err.h"
#include "bridge/logging.h"
#include "connectors/kafka_api/kafka_api_int.h"

#define KAPI_FETCH_MAX_BYTES_CAP (64 << 20)   /* per response, whatever the client asks */

typedef struct fetch_req {
	int16_t v;
	int32_t max_wait_ms, min_bytes;
	int64_t budget;              /* bytes still allowed in the response */
	int64_t sent;                /* record bytes in the response so far */
} fetch_req_t;

int mqb_kapi_put_range(mqb_kapi_call_t *call, mqb_kw_t *w, mqb_range_t *rg)
{
	size_t got = 0, len = (size_t)rg->len;

	if (call->outq && !w->err && w->b == &call->outq->buf &&
	    mqb_kapi_outq_add_file(call->outq, rg) == MQB_OK)
		return MQB_OK;
	/* no queue (fuzz target), or the connection holds KAPI_OUTQ_MAX_FILES: copy */
	if (w->err || mqb_buf_reserve(w->b, len) != MQB_OK) {
		w->err = true;
		mqb_range_release(rg);
		return MQB_ERR_NOMEM;
	}
	while (got < len) {
		ssize_t n = pread(rg->fd, w->b->data + w->b->len + got, len - got,
				  (off_t)(rg->pos + (int64_t)got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			MQB_LOG_RATELIMITED(MQB_LOG_ERROR, "kafka_api", 5000, "reading stored "
					    "batches: %s", n < 0 ? strerror(errno) : "short file");
			mqb_range_release(rg);
			return MQB_ERR_IO;
		}
		got += (size_t)n;
	}
	w->b->len += len;
	mqb_range_release(rg);
	return MQB_OK;
}

/* Whole batches from offset on into the response (as file ranges, mqb_kapi_put_range):
 * the first batch of the response always, then while they fit both the response's
 * budget and part_max; returns the error code. */
static int16_t fetch_batches(mqb_kapi_call_t *call, mqb_partition_t *p, int64_t offset,
			     int32_t part_max, fetch_req_t *f, mqb_kw_t *w)
{
	int64_t part_sent = 0;
	int rc;
	mqb_reader_t *rd = mqb_kapi_reader_at(call->readers, p, offset, &rc);

	if (!rd)
		return rc == MQB_ERR_RANGE ? KERR_OFFSET_OUT_OF_RANGE : KERR_KAFKA_STORAGE;
	for (;;) {
		int64_t room = part_max - part_sent < f->budget ? part_max - part_sent : f->budget;
		mqb_range_t rg;

		rc = mqb_reader_next_range(rd, room, f->sent == 0, &rg);
		if (rc == MQB_ERR_AGAIN || rc == MQB_ERR_TOOBIG)
			return KERR_NONE;
		if (rc == MQB_OK) {
			int64_t len = rg.len;

			rc = mqb_kapi_put_range(call, w, &rg);
			if (rc == MQB_OK) {
				part_sent += len;
				f->sent += len;
				f->budget -= len;
				if (f->budget <= 0 || part_sent >= part_max)
					return KERR_NONE;
				continue;
			}
			mqb_kapi_readers_clear(call->readers);   /* its position is past rg */
		}
		if (part_sent)
			return KERR_NONE;            /* send what we have; the next fetch errs */
		return rc == MQB_ERR_RANGE ? KERR_OFFSET_OUT_OF_RANGE : KERR_KAFKA_STORAGE;
	}
}

static void fetch_partition(const mqb_kapi_ctx_t *ctx, mqb_kapi_call_t *call,
			    mqb_kstr_t topic, mqb_kr_t *r, fetch_req_t *f, mqb_kw_t *w)
{
	int32_t idx = mqb_kr_i32(r), part_max;
	int64_t offset;
	mqb_partition_t *p;
	mqb_watermarks_t wm = { -1, -1, -1, 0, 0 };
	int16_t err = KERR_NONE;
	size_t len_at;
	int64_t files_at;

	if (f->v >= 9)
		(void)mqb_kr_i32(r);                 /* current_leader_epoch */
	offset = mqb_kr_i64(r);
	if (f->v >= 5)
		(void)mqb_kr_i64(r);                 /* log_start_offset (followers) */
	part_max = mqb_kr_i32(r);
	p = r->err ? NULL : mqb_kapi_partition(ctx, topic, idx);
	if (!p)
		err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
	else {
		mqb_partition_watermarks(p, &wm);
		mqb_kapi_watch(call, p, wm.stored);
		if (offset < wm.log_start || offset > wm.stored)
			err = KERR_OFFSET_OUT_OF_RANGE;
	}
	mqb_kw_i32(w, idx);
	size_t err_at = w->b->len;
	mqb_kw_i16(w, err);
	mqb_kw_i64(w, wm.stored);                    /* high_watermark */
	mqb_kw_i64(w, wm.stored);                    /* last_stable_offset */
	if (f->v >= 5)
		mqb_kw_i64(w, wm.log_start);
	mqb_kw_i32(w, 0);                            /* aborted_transactions: none */
	if (f->v >= 11)
		mqb_kw_i32(w, -1);                   /* preferred_read_replica */
	len_at = mqb_kw_reserve32(w);
	files_at = mqb_kapi_files_added(call);
	if (err == KERR_NONE && offset < wm.stored && part_max > 0 && f->budget > 0) {
		err = fetch_batches(call, p, offset, part_max, f, w);
		if (err && !w->err)
			mqb_be16_put(w->b->data + err_at, (uint16_t)err);
	}
	mqb_kw_patch_i32(w, len_at, (int32_t)(w->b->len - len_at - 4 +
					      (size_t)(mqb_kapi_files_added(call) - files_at)));
	mqb_kapi_note_error(call, err);
}

static void fetch_skip_forgotten(mqb_kr_t *r)
{
	int32_t n = mqb_kr_array(r, 6);

	for (int32_t i = 0; i < n && !r->err; i++) {
		(void)mqb_kr_str(r);
		int32_t np = mqb_kr_array(r, 4);
		for (int32_t j = 0; j < np && !r->err; j++)
			(void)mqb_kr_i32(r);
	}
}

mqb_kapi_verdict_t mqb_kapi_fetch(const mqb_kapi_ctx_t *ctx, const mqb_kreq_hdr_t *h,
				  mqb_kr_t *r, mqb_kw_t *w, mqb_kapi_call_t *call)
{
	fetch_req_t f = { .v = h->api_version };
	int32_t max_bytes, nt;

	(void)mqb_kr_i32(r);                         /* replica_id */
	f.max_wait_ms = mqb_kr_i32(r);
	f.min_bytes = mqb_kr_i32(r);
	max_bytes = mqb_kr_i32(r);
	(void)mqb_kr_i8(r);                          /* isolation_level: no transactions */
	if (f.v >= 7) {
		(void)mqb_kr_i32(r);                 /* session_id */
		(void)mqb_kr_i32(r);                 /* session_epoch */
	}
	f.budget = max_bytes <= 0 ? 1 : max_bytes;
	if (f.budget > KAPI_FETCH_MAX_BYTES_CAP)
		f.budget = KAPI_FETCH_MAX_BYTES_CAP;
	mqb_kw_i32(w, 0);                            /* throttle_time_ms */
	if (f.v >= 7) {
		mqb_kw_i16(w, KERR_NONE);
		mqb_kw_i32(w, 0);                    /* session_id: no session */
	}
	nt = mqb_kr_array(r, 6);
	mqb_kw_i32(w, nt < 0 ? 0 : nt);
	for (int32_t i = 0; i < nt && !r->err; i++) {
		mqb_kstr_t topic = mqb_kr_str(r);
		int32_t np = mqb_kr_array(r, 16);

		mqb_kw_str(w, topic.s ? topic.s : "", topic.s ? topic.len : 0);
		mqb_kw_i32(w, np < 0 ? 0 : np);
		for (int32_t j = 0; j < np && !r->err; j++)
			fetch_partition(ctx, call, topic, r, &f, w);
	}
	if (f.v >= 7)
		fetch_skip_forgotten(r);
	if (f.v >= 11)
		(void)mqb_kr_str(r);                 /* rack_id */
	if (r->err)
		return KAPI_CLOSE;
	if (!call->final && !call->error && f.max_wait_ms > 0 && f.sent < f.min_bytes) {
		call->wait_ms = f.max_wait_ms;
		return KAPI_PARK;
	}
	if (ctx->stats)
		mqb_counter_add(ctx->stats->fetch_bytes, (uint64_t)f.sent);
	return KAPI_RESPOND;
}

/* --- ListOffsets ------------------------------------------------------------------------ */

/* Offset and timestamp answering ts (-1 latest, -2 earliest, else a time lookup). */
static void list_offset(mqb_partition_t *p, int64_t ts, int64_t *offset, int64_t *ts_out)
{
	mqb_watermarks_t wm;

	mqb_partition_watermarks(p, &wm);
	*ts_out = -1;
	if (ts == -1) {
		*offset = wm.stored;
		return;
	}
	if (ts == -2) {
		*offset = wm.log_start;
		return;
	}
	*offset = mqb_partition_offset_for_time(p, ts);
	if (*offset >= wm.stored) {
		*offset = -1;                        /* no record at or after ts */
		return;
	}
	mqb_reader_t *rd = mqb_reader_new(p, *offset);
	mqb_record_t rec;

	if (rd && mqb_reader_next_record(rd, &rec) == MQB_OK)
		*ts_out = rec.timestamp_ms;
	mqb_reader_destroy(rd);
}

static void list_offsets_partition(const mqb_kapi_ctx_t *ctx, mqb_kapi_call_t *call,
				   int16_t v, mqb_kstr_t topic, mqb_kr_t *r, mqb_kw_t *w)
{
	int32_t idx = mqb_kr_i32(r);
	int64_t ts, offset = -1, ts_out = -1;
	mqb_partition_t *p;
	int16_t err = KERR_NONE;

	if (v >= 4)
		(void)mqb_kr_i32(r);                 /* current_leader_epoch */
	ts = mqb_kr_i64(r);
	if (v == 0)
		(void)mqb_kr_i32(r);                 /* max_num_offsets */
	p = r->err ? NULL : mqb_kapi_partition(ctx, topic, idx);
	if (!p)
		err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
	else
		list_offset(p, ts, &offset, &ts_out);
	mqb_kapi_note_error(call, err);
	mqb_kw_i32(w, idx);
	mqb_kw_i16(w, err);
	if (v == 0) {
		mqb_kw_i32(w, err || offset < 0 ? 0 : 1);   /* old_style_offsets */
		if (!err && offset >= 0)
			mqb_kw_i64(w, offset);
		return;
	}
	mqb_kw_i64(w, ts_out);
	mqb_kw_i64(w, offset);
	if (v >= 4)
		mqb_kw_i32(w, 0);                    /* leader_epoch */
}

mqb_kapi_verdict_t mqb_kapi_list_offsets(const mqb_kapi_ctx_t *ctx, const mqb_kreq_hdr_t *h,
					 mqb_kr_t *r, mqb_kw_t *w, mqb_kapi_call_t *call)
{
	int16_t v = h->api_version;
	int32_t nt;

	(void)mqb_kr_i32(r);                         /* replica_id */
	if (v >= 2) {
		(void)mqb_kr_i8(r);                  /* isolation_level */
		mqb_kw_i32(w, 0);                    /* throttle_time_ms */
	}
	nt = mqb_kr_array(r, 6);
	mqb_kw_i32(w, nt < 0 ? 0 : nt);
	for (int32_t i = 0; i < nt && !r->err; i++) {
		mqb_kstr_t topic = mqb_kr_str(r);
		int32_t np = mqb_kr_array(r, 12);

		mqb_kw_str(w, topic.s ? topic.s : "", topic.s ? topic.len : 0);
		mqb_kw_i32(w, np < 0 ? 0 : np);
		for (int32_t j = 0; j < np && !r->err; j++)
			list_offsets_partition(ctx, call, v, topic, r, w);
	}
	return KAPI_RESPOND;
}
