/*
 * kafka_api_codec.c — bounds-checked reader, response writer and request header of
 * the Kafka wire protocol (see kafka_api_codec.h).
 */
#include "connectors/kafka_api/kafka_api_codec.h"

#include <string.h>

#include "bridge/err.h"

/* --- reader ------------------------------------------------------------------------ */

static const uint8_t *take(mqb_kr_t *r, size_t n)
{
	const uint8_t *p;

	if (r->err || mqb_kr_left(r) < n) {
		r->err = true;
		return NULL;
	}
	p = r->p;
	r->p += n;
	return p;
}

int8_t mqb_kr_i8(mqb_kr_t *r)
{
	const uint8_t *p = take(r, 1);
	return p ? (int8_t)p[0] : 0;
}

int16_t mqb_kr_i16(mqb_kr_t *r)
{
	const uint8_t *p = take(r, 2);
	return p ? (int16_t)mqb_be16_get(p) : 0;
}

int32_t mqb_kr_i32(mqb_kr_t *r)
{
	const uint8_t *p = take(r, 4);
	return p ? (int32_t)mqb_be32_get(p) : 0;
}

int64_t mqb_kr_i64(mqb_kr_t *r)
{
	const uint8_t *p = take(r, 8);
	return p ? (int64_t)mqb_be64_get(p) : 0;
}

uint64_t mqb_kr_uvarint(mqb_kr_t *r)
{
	uint64_t v = 0;

	for (int shift = 0; shift < 70; shift += 7) {
		const uint8_t *p = take(r, 1);

		if (!p)
			return 0;
		if (shift == 63 && (p[0] & 0x7e)) {
			r->err = true;          /* more than 64 bits */
			return 0;
		}
		v |= (uint64_t)(p[0] & 0x7f) << shift;
		if (!(p[0] & 0x80))
			return v;
	}
	r->err = true;
	return 0;
}

static mqb_kstr_t field(mqb_kr_t *r, int64_t len)
{
	mqb_kstr_t s = { NULL, -1 };
	const uint8_t *p;

	if (r->err)
		return s;
	if (len < -1 || len > INT32_MAX) {
		r->err = true;
		return s;
	}
	if (len == -1)
		return s;
	p = take(r, (size_t)len);
	if (!p)
		return s;
	s.s = (const char *)p;
	s.len = (int32_t)len;
	return s;
}

mqb_kstr_t mqb_kr_str(mqb_kr_t *r)
{
	return field(r, mqb_kr_i16(r));
}

mqb_kstr_t mqb_kr_bytes(mqb_kr_t *r)
{
	return field(r, mqb_kr_i32(r));
}

mqb_kstr_t mqb_kr_compact_str(mqb_kr_t *r)
{
	uint64_t n = mqb_kr_uvarint(r);

	if (n > (uint64_t)INT32_MAX + 1) {
		r->err = true;
		return field(r, -1);
	}
	return field(r, (int64_t)n - 1);
}

static int32_t count(mqb_kr_t *r, int64_t n, size_t min_elem)
{
	if (r->err)
		return 0;
	if (n == -1)
		return -1;
	if (n < -1 || n > INT32_MAX ||
	    (min_elem && (uint64_t)n > mqb_kr_left(r) / min_elem)) {
		r->err = true;
		return 0;
	}
	return (int32_t)n;
}

int32_t mqb_kr_array(mqb_kr_t *r, size_t min_elem)
{
	return count(r, mqb_kr_i32(r), min_elem);
}

int32_t mqb_kr_compact_array(mqb_kr_t *r, size_t min_elem)
{
	uint64_t n = mqb_kr_uvarint(r);

	if (n > (uint64_t)INT32_MAX + 1) {
		r->err = true;
		return 0;
	}
	return count(r, (int64_t)n - 1, min_elem);
}

void mqb_kr_tags(mqb_kr_t *r)
{
	uint64_t n = mqb_kr_uvarint(r);

	if (n > mqb_kr_left(r) / 2) {     /* each tag is at least 2 bytes */
		r->err = true;
		return;
	}
	for (uint64_t i = 0; i < n && !r->err; i++) {
		uint64_t size;

		(void)mqb_kr_uvarint(r);          /* tag */
		size = mqb_kr_uvarint(r);
		if (size > mqb_kr_left(r)) {
			r->err = true;
			return;
		}
		(void)take(r, (size_t)size);
	}
}

/* --- request header ---------------------------------------------------------------- */

int mqb_kreq_hdr_read(mqb_kr_t *r, mqb_kreq_hdr_t *h,
		      bool (*flexible_fn)(int16_t api_key, int16_t api_version))
{
	memset(h, 0, sizeof *h);
	h->api_key = mqb_kr_i16(r);
	h->api_version = mqb_kr_i16(r);
	h->correlation_id = mqb_kr_i32(r);
	if (r->err)
		return -1;
	/* request header v1+: client_id is a classic nullable string even when flexible */
	h->client_id = mqb_kr_str(r);
	h->flexible = flexible_fn && flexible_fn(h->api_key, h->api_version);
	if (h->flexible)
		mqb_kr_tags(r);
	return r->err ? -1 : 0;
}

/* --- writer ------------------------------------------------------------------------ */

void mqb_kw_raw(mqb_kw_t *w, const void *p, size_t n)
{
	if (w->err)
		return;
	if (mqb_buf_reserve(w->b, n) != MQB_OK) {
		w->err = true;
		return;
	}
	if (n)
		memcpy(w->b->data + w->b->len, p, n);
	w->b->len += n;
}

void mqb_kw_i8(mqb_kw_t *w, int8_t v)
{
	uint8_t b = (uint8_t)v;
	mqb_kw_raw(w, &b, 1);
}

void mqb_kw_i16(mqb_kw_t *w, int16_t v)
{
	uint8_t b[2];
	mqb_be16_put(b, (uint16_t)v);
	mqb_kw_raw(w, b, 2);
}

void mqb_kw_i32(mqb_kw_t *w, int32_t v)
{
	uint8_t b[4];
	mqb_be32_put(b, (uint32_t)v);
	mqb_kw_raw(w, b, 4);
}

void mqb_kw_i64(mqb_kw_t *w, int64_t v)
{
	uint8_t b[8];
	mqb_be64_put(b, (uint64_t)v);
	mqb_kw_raw(w, b, 8);
}

void mqb_kw_uvarint(mqb_kw_t *w, uint64_t v)
{
	uint8_t b[10];
	size_t n = 0;

	while (v >= 0x80) {
		b[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	b[n++] = (uint8_t)v;
	mqb_kw_raw(w, b, n);
}

void mqb_kw_str(mqb_kw_t *w, const char *s, int32_t len)
{
	if (!s) {
		mqb_kw_i16(w, -1);
		return;
	}
	if (len > INT16_MAX)
		len = INT16_MAX;
	mqb_kw_i16(w, (int16_t)len);
	mqb_kw_raw(w, s, (size_t)len);
}

void mqb_kw_cstr(mqb_kw_t *w, const char *s)
{
	mqb_kw_str(w, s, s ? (int32_t)strnlen(s, INT16_MAX) : -1);
}

void mqb_kw_compact_cstr(mqb_kw_t *w, const char *s)
{
	size_t n;

	if (!s) {
		mqb_kw_uvarint(w, 0);
		return;
	}
	n = strlen(s);
	mqb_kw_uvarint(w, (uint64_t)n + 1);
	mqb_kw_raw(w, s, n);
}

void mqb_kw_tags_empty(mqb_kw_t *w)
{
	mqb_kw_uvarint(w, 0);
}

size_t mqb_kw_reserve32(mqb_kw_t *w)
{
	size_t at = w->b->len;

	mqb_kw_i32(w, 0);
	return at;
}

void mqb_kw_patch_i32(mqb_kw_t *w, size_t at, int32_t v)
{
	if (w->err || at + 4 > w->b->len)
		return;
	mqb_be32_put(w->b->data + at, (uint32_t)v);
}
