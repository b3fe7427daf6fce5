/* batch.c — Kafka RecordBatch v2 encode / validate / iterate. */
#include "bridge/store/batch.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/err.h"
#include "bridge/store/crc32c.h"
#include "bridge/store/varint.h"

int mqb_buf_reserve(mqb_buf_t *b, size_t extra)
{
	size_t need = b->len + extra;
	size_t cap;
	uint8_t *d;

	if (need < b->len)
		return MQB_ERR_NOMEM;
	if (need <= b->cap)
		return MQB_OK;
	cap = b->cap ? b->cap : 4096;
	while (cap < need) {
		if (cap > SIZE_MAX / 2) {
			cap = need;
			break;
		}
		cap *= 2;
	}
	d = realloc(b->data, cap);
	if (!d)
		return MQB_ERR_NOMEM;
	b->data = d;
	b->cap = cap;
	return MQB_OK;
}

void mqb_buf_free(mqb_buf_t *b)
{
	if (!b)
		return;
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* Bytes of one record's body (after its length varint), or 0 on bad lengths. */
static size_t rec_body_size(const mqb_record_t *r, int64_t ts_delta, int32_t off_delta)
{
	size_t s = 1 + mqb_varlong_size(ts_delta) + mqb_varint_size(off_delta);

	if (r->key_len < -1 || r->value_len < -1 || r->key_len > INT32_MAX ||
	    r->value_len > INT32_MAX || r->header_count > INT32_MAX ||
	    (r->header_count && !r->headers) || (r->key_len > 0 && !r->key) ||
	    (r->value_len > 0 && !r->value))
		return 0;
	s += mqb_varint_size((int32_t)r->key_len) + (r->key_len > 0 ? (size_t)r->key_len : 0);
	s += mqb_varint_size((int32_t)r->value_len) +
	     (r->value_len > 0 ? (size_t)r->value_len : 0);
	s += mqb_varint_size((int32_t)r->header_count);
	for (size_t i = 0; i < r->header_count; i++) {
		const mqb_rec_header_t *h = &r->headers[i];
		if (h->key_len > INT32_MAX || h->value_len < -1 || h->value_len > INT32_MAX ||
		    (h->key_len && !h->key) || (h->value_len > 0 && !h->value))
			return 0;
		s += mqb_varint_size((int32_t)h->key_len) + h->key_len;
		s += mqb_varint_size((int32_t)h->value_len) +
		     (h->value_len > 0 ? (size_t)h->value_len : 0);
	}
	return s;
}

/* Timestamp delta with wrap-around (the decoder adds it back the same way). */
static int64_t ts_sub(int64_t a, int64_t b)
{
	return (int64_t)((uint64_t)a - (uint64_t)b);
}

static uint8_t *put_bytes(uint8_t *p, const void *data, ssize_t len)
{
	p += mqb_varint_write(p, (int32_t)len);
	if (len > 0) {
		memcpy(p, data, (size_t)len);
		p += len;
	}
	return p;
}

size_t mqb_batch_record_size(const mqb_record_t *r)
{
	size_t body = rec_body_size(r, 0, 0);

	if (!body || body > INT32_MAX - MQB_BATCH_HDR_SIZE - 5)
		return 0;
	return mqb_uvarint_size(mqb_zigzag32((int32_t)body)) + body;
}

int mqb_batch_encode(mqb_buf_t *out, int64_t base_offset, const mqb_record_t *recs, size_t n)
{
	int64_t base_ts, max_ts;
	size_t total = MQB_BATCH_HDR_SIZE;
	uint8_t *start, *p;
	int rc;

	if (n == 0 || n > INT32_MAX || base_offset < 0)
		return MQB_ERR_INVAL;
	base_ts = max_ts = recs[0].timestamp_ms;
	for (size_t i = 0; i < n; i++) {
		size_t body;
		if (recs[i].timestamp_ms > max_ts)
			max_ts = recs[i].timestamp_ms;
		body = rec_body_size(&recs[i], ts_sub(recs[i].timestamp_ms, base_ts), (int32_t)i);
		if (!body)
			return MQB_ERR_INVAL;
		total += mqb_uvarint_size(mqb_zigzag32((int32_t)body)) + body;
		if (total > INT32_MAX)
			return MQB_ERR_INVAL;
	}
	rc = mqb_buf_reserve(out, total);
	if (rc)
		return rc;

	start = out->data + out->len;
	mqb_be64_put(start, (uint64_t)base_offset);
	mqb_be32_put(start + 8, (uint32_t)(total - MQB_BATCH_LOG_OVERHEAD));
	mqb_be32_put(start + 12, (uint32_t)MQB_BATCH_LEADER_EPOCH);
	start[16] = MQB_BATCH_MAGIC;
	/* crc at 17 filled in last */
	mqb_be16_put(start + 21, 0);                       /* attributes */
	mqb_be32_put(start + 23, (uint32_t)(n - 1));       /* lastOffsetDelta */
	mqb_be64_put(start + 27, (uint64_t)base_ts);
	mqb_be64_put(start + 35, (uint64_t)max_ts);
	mqb_be64_put(start + 43, (uint64_t)-1);            /* producerId */
	mqb_be16_put(start + 51, (uint16_t)-1);            /* producerEpoch */
	mqb_be32_put(start + 53, (uint32_t)-1);            /* baseSequence */
	mqb_be32_put(start + 57, (uint32_t)n);

	p = start + MQB_BATCH_HDR_SIZE;
	for (size_t i = 0; i < n; i++) {
		const mqb_record_t *r = &recs[i];
		int64_t ts_delta = ts_sub(r->timestamp_ms, base_ts);
		size_t body = rec_body_size(r, ts_delta, (int32_t)i);

		p += mqb_varint_write(p, (int32_t)body);
		*p++ = 0;                                     /* record attributes */
		p += mqb_varlong_write(p, ts_delta);
		p += mqb_varint_write(p, (int32_t)i);
		p = put_bytes(p, r->key, r->key_len);
		p = put_bytes(p, r->value, r->value_len);
		p += mqb_varint_write(p, (int32_t)r->header_count);
		for (size_t h = 0; h < r->header_count; h++) {
			p = put_bytes(p, r->headers[h].key, (ssize_t)r->headers[h].key_len);
			p = put_bytes(p, r->headers[h].value, r->headers[h].value_len);
		}
	}
	mqb_be32_put(start + 17, mqb_crc32c(0, start + MQB_BATCH_CRC_START,
					    total - MQB_BATCH_CRC_START));
	out->len += total;
	return MQB_OK;
}

int mqb_batch_header_peek(const uint8_t *b, size_t len, mqb_batch_hdr_t *h)
{
	if (len < MQB_BATCH_HDR_SIZE)
		return MQB_ERR_CORRUPT;
	h->base_offset = (int64_t)mqb_be64_get(b);
	h->batch_length = (int32_t)mqb_be32_get(b + 8);
	h->leader_epoch = (int32_t)mqb_be32_get(b + 12);
	h->magic = (int8_t)b[16];
	h->crc = mqb_be32_get(b + 17);
	h->attributes = (int16_t)mqb_be16_get(b + 21);
	h->last_offset_delta = (int32_t)mqb_be32_get(b + 23);
	h->base_timestamp = (int64_t)mqb_be64_get(b + 27);
	h->max_timestamp = (int64_t)mqb_be64_get(b + 35);
	h->producer_id = (int64_t)mqb_be64_get(b + 43);
	h->producer_epoch = (int16_t)mqb_be16_get(b + 51);
	h->base_sequence = (int32_t)mqb_be32_get(b + 53);
	h->record_count = (int32_t)mqb_be32_get(b + 57);
	return MQB_OK;
}

#define WHY(...) do { if (why && why_size) snprintf(why, why_size, __VA_ARGS__); } while (0)

int mqb_batch_header_framing(const mqb_batch_hdr_t *h, int64_t avail, char *why,
			     size_t why_size)
{
	int64_t total = (int64_t)mqb_batch_total_size(h);

	if (h->batch_length < MQB_BATCH_HDR_SIZE - MQB_BATCH_LOG_OVERHEAD || total > avail ||
	    total > MQB_BATCH_MAX_SIZE) {
		if (why)
			snprintf(why, why_size, "bad batch length %" PRId32, h->batch_length);
		return MQB_ERR_CORRUPT;
	}
	if (h->magic != MQB_BATCH_MAGIC || h->last_offset_delta < 0) {
		if (why)
			snprintf(why, why_size, "bad batch header (magic %d, last offset delta %"
				 PRId32 ")", h->magic, h->last_offset_delta);
		return MQB_ERR_CORRUPT;
	}
	return MQB_OK;
}

int mqb_batch_header_parse(const uint8_t *buf, size_t len, mqb_batch_hdr_t *h,
			   char *why, size_t why_size)
{
	uint32_t crc;

	if (len < MQB_BATCH_HDR_SIZE) {
		WHY("truncated batch header (%zu of %d bytes)", len, MQB_BATCH_HDR_SIZE);
		return MQB_ERR_CORRUPT;
	}
	mqb_batch_header_peek(buf, len, h);
	if (h->batch_length < MQB_BATCH_HDR_SIZE - MQB_BATCH_LOG_OVERHEAD) {
		WHY("batch length %d below the minimum %d", h->batch_length,
		    MQB_BATCH_HDR_SIZE - MQB_BATCH_LOG_OVERHEAD);
		return MQB_ERR_CORRUPT;
	}
	if ((size_t)h->batch_length > len - MQB_BATCH_LOG_OVERHEAD) {
		WHY("batch length %d runs past the end of the data (%zu bytes left)",
		    h->batch_length, len - MQB_BATCH_LOG_OVERHEAD);
		return MQB_ERR_CORRUPT;
	}
	if (h->magic != MQB_BATCH_MAGIC) {
		WHY("magic %d, expected %d", h->magic, MQB_BATCH_MAGIC);
		return MQB_ERR_CORRUPT;
	}
	crc = mqb_crc32c(0, buf + MQB_BATCH_CRC_START,
			 mqb_batch_total_size(h) - MQB_BATCH_CRC_START);
	if (crc != h->crc) {
		WHY("CRC-32C mismatch (stored 0x%08x, computed 0x%08x)", h->crc, crc);
		return MQB_ERR_CORRUPT;
	}
	if (h->attributes & 0x37) {
		WHY("unsupported attributes 0x%04x (compression/transactional/control)",
		    (unsigned)(uint16_t)h->attributes);
		return MQB_ERR_CORRUPT;
	}
	if (h->base_offset < 0 || h->last_offset_delta < 0 ||
	    h->base_offset > INT64_MAX - h->last_offset_delta) {
		WHY("bad offsets (base %lld, last delta %d)", (long long)h->base_offset,
		    h->last_offset_delta);
		return MQB_ERR_CORRUPT;
	}
	if (h->record_count < 1 || h->record_count - 1 != h->last_offset_delta) {
		WHY("record count %d does not match last offset delta %d", h->record_count,
		    h->last_offset_delta);
		return MQB_ERR_CORRUPT;
	}
	/* every record takes at least 7 bytes (length, attributes, ts, delta, key, value,
	 * header count) */
	if ((int64_t)h->record_count * 7 > h->batch_length) {
		WHY("record count %d cannot fit in %d bytes", h->record_count, h->batch_length);
		return MQB_ERR_CORRUPT;
	}
	if (h->max_timestamp < h->base_timestamp) {
		WHY("max timestamp %lld below base timestamp %lld",
		    (long long)h->max_timestamp, (long long)h->base_timestamp);
		return MQB_ERR_CORRUPT;
	}
	return MQB_OK;
}

int mqb_batch_iter_init(mqb_batch_iter_t *it, const uint8_t *buf, size_t len)
{
	int rc;

	memset(it, 0, sizeof(*it));
	rc = mqb_batch_header_parse(buf, len, &it->hdr, it->why, sizeof(it->why));
	if (rc) {
		it->pos = it->end = buf;
		return rc;
	}
	it->pos = buf + MQB_BATCH_HDR_SIZE;
	it->end = buf + mqb_batch_total_size(&it->hdr);
	return MQB_OK;
}

void mqb_batch_iter_destroy(mqb_batch_iter_t *it)
{
	if (!it)
		return;
	free(it->hdrs);
	it->hdrs = NULL;
	it->hdrs_cap = 0;
}

#define ITER_BAD(...) do { snprintf(it->why, sizeof(it->why), __VA_ARGS__); \
			   it->pos = it->end; return MQB_ERR_CORRUPT; } while (0)

/* A length-prefixed byte string (-1: null) inside [p, end). */
static size_t read_bytes(const uint8_t *p, const uint8_t *end, const void **data,
			 ssize_t *len)
{
	int32_t l;
	size_t n = mqb_varint_read(p, end, &l);

	if (!n || l < -1 || (l > 0 && (size_t)l > (size_t)(end - p) - n))
		return 0;
	*len = l;
	*data = l >= 0 ? p + n : NULL;
	return n + (l > 0 ? (size_t)l : 0);
}

int mqb_batch_iter_next(mqb_batch_iter_t *it, mqb_record_t *rec)
{
	const uint8_t *p = it->pos, *rend;
	int32_t rlen, odelta, hcount;
	int64_t tdelta;
	size_t n;

	if (it->next_index >= it->hdr.record_count) {
		if (it->pos != it->end)
			ITER_BAD("%zu bytes after the last record", (size_t)(it->end - it->pos));
		return 0;
	}
	n = mqb_varint_read(p, it->end, &rlen);
	if (!n || rlen < 6 || (size_t)rlen > (size_t)(it->end - p) - n)
		ITER_BAD("record %d: bad length", it->next_index);
	p += n;
	rend = p + rlen;
	p++;  /* record attributes: unused in v2 */
	n = mqb_varlong_read(p, rend, &tdelta);
	if (!n)
		ITER_BAD("record %d: bad timestamp delta", it->next_index);
	p += n;
	n = mqb_varint_read(p, rend, &odelta);
	if (!n || odelta != it->next_index)
		ITER_BAD("record %d: offset delta %d", it->next_index, n ? odelta : -1);
	p += n;
	n = read_bytes(p, rend, &rec->key, &rec->key_len);
	if (!n)
		ITER_BAD("record %d: bad key", it->next_index);
	p += n;
	n = read_bytes(p, rend, &rec->value, &rec->value_len);
	if (!n)
		ITER_BAD("record %d: bad value", it->next_index);
	p += n;
	n = mqb_varint_read(p, rend, &hcount);
	/* each header takes at least 2 bytes: bounds the allocation by the batch size */
	if (!n || hcount < 0 || (size_t)hcount > (size_t)(rend - p - n) / 2)
		ITER_BAD("record %d: bad header count", it->next_index);
	p += n;
	if ((size_t)hcount > it->hdrs_cap) {
		mqb_rec_header_t *nh = realloc(it->hdrs, (size_t)hcount * sizeof(*nh));
		if (!nh)
			return MQB_ERR_NOMEM;
		it->hdrs = nh;
		it->hdrs_cap = (size_t)hcount;
	}
	for (int32_t i = 0; i < hcount; i++) {
		const void *k;
		ssize_t klen;
		n = read_bytes(p, rend, &k, &klen);
		if (!n || klen < 0)
			ITER_BAD("record %d: bad header %d key", it->next_index, i);
		p += n;
		it->hdrs[i].key = k;
		it->hdrs[i].key_len = (size_t)klen;
		n = read_bytes(p, rend, &it->hdrs[i].value, &it->hdrs[i].value_len);
		if (!n)
			ITER_BAD("record %d: bad header %d value", it->next_index, i);
		p += n;
	}
	if (p != rend)
		ITER_BAD("record %d: %zu stray bytes", it->next_index, (size_t)(rend - p));
	rec->offset = it->hdr.base_offset + it->next_index;
	rec->timestamp_ms = (int64_t)((uint64_t)it->hdr.base_timestamp + (uint64_t)tdelta);
	rec->headers = hcount ? it->hdrs : NULL;
	rec->header_count = (size_t)hcount;
	it->next_index++;
	it->pos = rend;
	return 1;
}
