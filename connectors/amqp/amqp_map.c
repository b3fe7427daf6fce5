/*
 * amqp_map.c — AMQP 1.0 message <-> record (amqp_map.h).
 */
#include "connectors/amqp/amqp_map.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <proton/codec.h>
#include <proton/message.h>

#include "bridge/err.h"
#include "bridge/text.h"

/* Memory for the strings of one mapped message: blocks freed together. */
typedef struct arena_blk {
	struct arena_blk *next;
	size_t used, cap;
	char data[];
} arena_blk_t;

struct mqb_amqp_mapper {
	pn_message_t *msg;
	arena_blk_t *blocks;
	mqb_rec_header_t hdr[MQB_AMQP_MAX_HEADERS];
	pn_rwbytes_t out;            /* encode buffer (malloc'd by Proton's encode2) */
};

static void arena_reset(mqb_amqp_mapper_t *m)
{
	while (m->blocks) {
		arena_blk_t *n = m->blocks->next;

		free(m->blocks);
		m->blocks = n;
	}
}

static char *arena_alloc(mqb_amqp_mapper_t *m, size_t n)
{
	arena_blk_t *b = m->blocks;

	if (!b || b->cap - b->used < n) {
		size_t cap = n > 4096 ? n : 4096;

		b = malloc(sizeof *b + cap);
		if (!b)
			return NULL;
		b->cap = cap;
		b->used = 0;
		b->next = m->blocks;
		m->blocks = b;
	}
	b->used += n;
	return b->data + b->used - n;
}

static const char *arena_dup(mqb_amqp_mapper_t *m, const void *p, size_t n)
{
	char *s = arena_alloc(m, n + 1);

	if (s) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

mqb_amqp_mapper_t *mqb_amqp_mapper_new(void)
{
	mqb_amqp_mapper_t *m = calloc(1, sizeof *m);

	if (!m)
		return NULL;
	m->msg = pn_message();
	if (!m->msg) {
		free(m);
		return NULL;
	}
	return m;
}

void mqb_amqp_mapper_free(mqb_amqp_mapper_t *m)
{
	if (!m)
		return;
	arena_reset(m);
	pn_message_free(m->msg);
	free(m->out.start);
	free(m);
}

/* Text of a scalar atom into buf; false for a type we do not render. */
static bool render_atom(const pn_atom_t *a, char *buf, size_t size, const char **p,
			size_t *n)
{
	int len = -1;

	switch (a->type) {
	case PN_STRING: case PN_SYMBOL: case PN_BINARY:
		*p = a->u.as_bytes.start;
		*n = a->u.as_bytes.size;
		return true;
	case PN_BOOL: len = snprintf(buf, size, "%s", a->u.as_bool ? "true" : "false"); break;
	case PN_UBYTE: len = snprintf(buf, size, "%u", a->u.as_ubyte); break;
	case PN_BYTE: len = snprintf(buf, size, "%d", a->u.as_byte); break;
	case PN_USHORT: len = snprintf(buf, size, "%u", a->u.as_ushort); break;
	case PN_SHORT: len = snprintf(buf, size, "%d", a->u.as_short); break;
	case PN_UINT: len = snprintf(buf, size, "%" PRIu32, a->u.as_uint); break;
	case PN_INT: len = snprintf(buf, size, "%" PRId32, a->u.as_int); break;
	case PN_CHAR: len = snprintf(buf, size, "%" PRIu32, (uint32_t)a->u.as_char); break;
	case PN_ULONG: len = snprintf(buf, size, "%" PRIu64, a->u.as_ulong); break;
	case PN_LONG: len = snprintf(buf, size, "%" PRId64, a->u.as_long); break;
	case PN_TIMESTAMP: len = snprintf(buf, size, "%" PRId64, a->u.as_timestamp); break;
	case PN_FLOAT: len = snprintf(buf, size, "%.9g", (double)a->u.as_float); break;
	case PN_DOUBLE: len = snprintf(buf, size, "%.17g", a->u.as_double); break;
	case PN_UUID: {
		const unsigned char *u = (const unsigned char *)a->u.as_uuid.bytes;

		len = snprintf(buf, size, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
			       "%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3], u[4], u[5],
			       u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
		break;
	}
	default:
		return false;
	}
	if (len < 0 || (size_t)len >= size)
		return false;
	*p = buf;
	*n = (size_t)len;
	return true;
}

static int add_header(mqb_amqp_mapper_t *m, size_t *nh, const char *key, size_t klen,
		      const void *val, ssize_t vlen)
{
	mqb_rec_header_t *h;

	if (*nh >= MQB_AMQP_MAX_HEADERS)
		return MQB_ERR_INVAL;
	h = &m->hdr[(*nh)++];
	h->key = arena_dup(m, key, klen);
	h->key_len = klen;
	h->value = vlen >= 0 ? arena_dup(m, val, (size_t)vlen) : NULL;
	h->value_len = vlen;
	if (!h->key || (vlen >= 0 && !h->value))
		return MQB_ERR_NOMEM;
	return MQB_OK;
}

static int add_atom_header(mqb_amqp_mapper_t *m, size_t *nh, const char *key,
			   const pn_atom_t *a)
{
	char buf[64];
	const char *p;
	size_t n;

	if (a->type == PN_NULL)
		return MQB_OK;
	if (!render_atom(a, buf, sizeof buf, &p, &n))
		return MQB_ERR_INVAL;
	return add_header(m, nh, key, strlen(key), p, (ssize_t)n);
}

static int map_body(mqb_amqp_mapper_t *m, mqb_amqp_in_t *out, size_t *nh, char *why,
		    size_t why_size)
{
	pn_data_t *body = pn_message_body(m->msg);
	bool inferred = pn_message_is_inferred(m->msg);
	pn_type_t t;
	pn_bytes_t b;

	pn_data_rewind(body);
	if (!pn_data_next(body)) {
		out->value = NULL;
		out->value_len = -1;
		return MQB_OK;
	}
	t = pn_data_type(body);
	if (t == PN_NULL && !inferred) {
		out->value = NULL;
		out->value_len = -1;
	} else if (t == PN_BINARY || (!inferred && (t == PN_STRING || t == PN_SYMBOL))) {
		b = t == PN_BINARY ? pn_data_get_binary(body) :
		    t == PN_STRING ? pn_data_get_string(body) : pn_data_get_symbol(body);
		out->value = b.start ? b.start : "";
		out->value_len = (ssize_t)b.size;
		if (!inferred && add_header(m, nh, "amqp.body", 9, "amqp-value", 10) != MQB_OK)
			return MQB_ERR_NOMEM;
	} else {
		mqb_errstr_set(why, why_size, "body kind not stored: send a data section (or an "
			       "amqp-value of binary or string), not %s",
			       inferred ? "an amqp-sequence" : "an amqp-value of this type");
		return MQB_ERR_INVAL;
	}
	if (pn_data_next(body)) {
		mqb_errstr_set(why, why_size, "several body sections are not stored: send one "
			       "data section");
		return MQB_ERR_INVAL;
	}
	return MQB_OK;
}

/* x-opt-partition-key from the message annotations. */
static void map_key(mqb_amqp_mapper_t *m, mqb_amqp_in_t *out)
{
	pn_data_t *ann = pn_message_annotations(m->msg);

	out->key = NULL;
	out->key_len = -1;
	pn_data_rewind(ann);
	if (!pn_data_next(ann) || pn_data_type(ann) != PN_MAP || !pn_data_enter(ann))
		return;
	while (pn_data_next(ann)) {
		pn_type_t kt = pn_data_type(ann);
		pn_bytes_t k = kt == PN_SYMBOL ? pn_data_get_symbol(ann) :
			       kt == PN_STRING ? pn_data_get_string(ann) : pn_bytes(0, NULL);

		if (!pn_data_next(ann))
			break;
		if (k.size == 19 && memcmp(k.start, "x-opt-partition-key", 19) == 0) {
			pn_type_t vt = pn_data_type(ann);
			pn_bytes_t v = vt == PN_STRING ? pn_data_get_string(ann) :
				       vt == PN_SYMBOL ? pn_data_get_symbol(ann) : pn_bytes(0, NULL);

			if (vt == PN_STRING || vt == PN_SYMBOL) {
				out->key = v.start ? v.start : "";
				out->key_len = (ssize_t)v.size;
			}
		}
	}
	pn_data_exit(ann);
}

static int map_props(mqb_amqp_mapper_t *m, size_t *nh, char *why, size_t why_size)
{
	pn_data_t *props = pn_message_properties(m->msg);
	int rc = MQB_OK;

	pn_data_rewind(props);
	if (!pn_data_next(props))
		return MQB_OK;
	if (pn_data_type(props) != PN_MAP || !pn_data_enter(props)) {
		mqb_errstr_set(why, why_size, "application-properties is not a map");
		return MQB_ERR_INVAL;
	}
	while (rc == MQB_OK && pn_data_next(props)) {
		pn_type_t kt = pn_data_type(props);
		pn_bytes_t k = kt == PN_STRING ? pn_data_get_string(props) :
			       kt == PN_SYMBOL ? pn_data_get_symbol(props) : pn_bytes(0, NULL);
		pn_atom_t a;
		char buf[64];
		const char *p;
		size_t n;

		if ((kt != PN_STRING && kt != PN_SYMBOL) || !pn_data_next(props)) {
			mqb_errstr_set(why, why_size, "application-properties: keys must be strings");
			rc = MQB_ERR_INVAL;
			break;
		}
		a = pn_data_get_atom(props);
		if (a.type == PN_NULL) {
			rc = add_header(m, nh, k.start ? k.start : "", k.size, NULL, -1);
		} else if (render_atom(&a, buf, sizeof buf, &p, &n)) {
			rc = add_header(m, nh, k.start ? k.start : "", k.size, p, (ssize_t)n);
		} else {
			mqb_errstr_set(why, why_size, "application property '%.*s': only scalar "
				       "values are stored (not %s)", (int)(k.size > 64 ? 64 : k.size),
				       k.start ? k.start : "", pn_type_name(pn_data_type(props)));
			rc = MQB_ERR_INVAL;
		}
		if (rc == MQB_ERR_INVAL && why && !why[0])
			mqb_errstr_set(why, why_size, "more than %d application properties",
				       MQB_AMQP_MAX_HEADERS - 6);
	}
	pn_data_exit(props);
	return rc;
}

int mqb_amqp_map_in(mqb_amqp_mapper_t *m, const void *bytes, size_t len, mqb_amqp_in_t *out,
		    char *why, size_t why_size)
{
	size_t nh = 0;
	const char *s;
	pn_atom_t id;
	int rc;

	if (why && why_size)
		why[0] = '\0';
	arena_reset(m);
	pn_message_clear(m->msg);
	memset(out, 0, sizeof *out);
	/* Proton asserts on an empty buffer (it would abort the daemon): refuse it here */
	if (!bytes || len == 0 || pn_message_decode(m->msg, bytes, len) != 0) {
		mqb_errstr_set(why, why_size, "not a decodable AMQP message");
		return MQB_ERR_PROTO;
	}
	rc = map_body(m, out, &nh, why, why_size);
	if (rc != MQB_OK)
		return rc;
	map_key(m, out);
	if ((s = pn_message_get_subject(m->msg)) && add_header(m, &nh, "amqp.subject", 12, s,
							      (ssize_t)strlen(s)) != MQB_OK)
		return MQB_ERR_NOMEM;
	id = pn_message_get_id(m->msg);
	if (add_atom_header(m, &nh, "amqp.message-id", &id) != MQB_OK) {
		mqb_errstr_set(why, why_size, "message-id of an unsupported type");
		return MQB_ERR_INVAL;
	}
	id = pn_message_get_correlation_id(m->msg);
	if (add_atom_header(m, &nh, "amqp.correlation-id", &id) != MQB_OK) {
		mqb_errstr_set(why, why_size, "correlation-id of an unsupported type");
		return MQB_ERR_INVAL;
	}
	if ((s = pn_message_get_content_type(m->msg)) &&
	    add_header(m, &nh, "amqp.content-type", 17, s, (ssize_t)strlen(s)) != MQB_OK)
		return MQB_ERR_NOMEM;
	if ((s = pn_message_get_reply_to(m->msg)) &&
	    add_header(m, &nh, "amqp.reply-to", 13, s, (ssize_t)strlen(s)) != MQB_OK)
		return MQB_ERR_NOMEM;
	rc = map_props(m, &nh, why, why_size);
	if (rc != MQB_OK)
		return rc;
	out->headers = m->hdr;
	out->header_count = nh;
	return MQB_OK;
}

/* --- out -------------------------------------------------------------------------- */

static bool hkey_is(const mqb_rec_header_t *h, const char *k)
{
	return h->key_len == strlen(k) && memcmp(h->key, k, h->key_len) == 0;
}

static void put_text_or_binary(pn_data_t *d, const void *p, size_t n)
{
	if (mqb_utf8_valid(p, n))
		pn_data_put_string(d, pn_bytes(n, p));
	else
		pn_data_put_binary(d, pn_bytes(n, p));
}

/* The header value as a NUL-terminated string in the arena (NULL: null or no memory). */
static const char *hval(mqb_amqp_mapper_t *m, const mqb_rec_header_t *h)
{
	return h->value_len < 0 ? NULL : arena_dup(m, h->value, (size_t)h->value_len);
}

int mqb_amqp_map_out(mqb_amqp_mapper_t *m, const mqb_amqp_out_t *o, const char **buf,
		     size_t *len)
{
	const mqb_record_t *r = o->rec;
	pn_message_t *msg = m->msg;
	pn_data_t *d;
	char off[24];
	ssize_t n;

	arena_reset(m);
	pn_message_clear(msg);
	pn_message_set_inferred(msg, true);
	pn_data_put_binary(pn_message_body(msg),
			   pn_bytes(r->value_len > 0 ? (size_t)r->value_len : 0,
				    r->value_len > 0 ? r->value : ""));
	pn_message_set_delivery_count(msg, o->delivery > 0 ? o->delivery - 1 : 0);
	d = pn_message_annotations(msg);
	pn_data_put_map(d);
	pn_data_enter(d);
	snprintf(off, sizeof off, "%" PRId64, r->offset);
	pn_data_put_symbol(d, pn_bytes(12, "x-opt-offset"));
	pn_data_put_string(d, pn_bytes(strlen(off), off));
	pn_data_put_symbol(d, pn_bytes(21, "x-opt-sequence-number"));
	pn_data_put_long(d, r->offset);
	pn_data_put_symbol(d, pn_bytes(15, "x-opt-partition"));
	pn_data_put_int(d, o->partition);
	pn_data_put_symbol(d, pn_bytes(19, "x-opt-enqueued-time"));
	pn_data_put_timestamp(d, r->timestamp_ms);
	if (r->key_len >= 0) {
		pn_data_put_symbol(d, pn_bytes(19, "x-opt-partition-key"));
		put_text_or_binary(d, r->key, (size_t)r->key_len);
	}
	pn_data_exit(d);
	d = pn_message_properties(msg);
	pn_data_put_map(d);
	pn_data_enter(d);
	for (size_t i = 0; i < r->header_count; i++) {
		const mqb_rec_header_t *h = &r->headers[i];
		const char *v;

		if (hkey_is(h, "amqp.subject") && (v = hval(m, h))) {
			pn_message_set_subject(msg, v);
		} else if (hkey_is(h, "amqp.content-type") && (v = hval(m, h))) {
			pn_message_set_content_type(msg, v);
		} else if (hkey_is(h, "amqp.reply-to") && (v = hval(m, h))) {
			pn_message_set_reply_to(msg, v);
		} else if ((hkey_is(h, "amqp.message-id") || hkey_is(h, "amqp.correlation-id")) &&
			   (v = hval(m, h))) {
			pn_atom_t a = { .type = PN_STRING };

			a.u.as_bytes = pn_bytes(strlen(v), v);
			if (hkey_is(h, "amqp.message-id"))
				pn_message_set_id(msg, a);
			else
				pn_message_set_correlation_id(msg, a);
		} else if (!hkey_is(h, "amqp.body")) {
			pn_data_put_string(d, pn_bytes(h->key_len, h->key));
			if (h->value_len < 0)
				pn_data_put_null(d);
			else
				put_text_or_binary(d, h->value, (size_t)h->value_len);
		}
	}
	pn_data_exit(d);
	n = pn_message_encode2(msg, &m->out);
	if (n < 0)
		return MQB_ERR_NOMEM;
	*buf = m->out.start;
	*len = (size_t)n;
	return MQB_OK;
}
