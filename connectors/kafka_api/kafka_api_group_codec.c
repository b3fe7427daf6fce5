/*
 * kafka_api_group_codec.c — classic / flexible field helpers (kafka_api_group_codec.h).
 */
#include "connectors/kafka_api/kafka_api_group_codec.h"

#include <string.h>

mqb_kstr_t mqb_kg_str(mqb_kr_t *r, bool flex)
{
	return flex ? mqb_kr_compact_str(r) : mqb_kr_str(r);
}

mqb_kstr_t mqb_kg_bytes(mqb_kr_t *r, bool flex)
{
	/* compact bytes share compact strings' encoding (uvarint length + 1) */
	return flex ? mqb_kr_compact_str(r) : mqb_kr_bytes(r);
}

int32_t mqb_kg_array(mqb_kr_t *r, bool flex, size_t min_elem)
{
	return flex ? mqb_kr_compact_array(r, min_elem) : mqb_kr_array(r, min_elem);
}

void mqb_kg_tags(mqb_kr_t *r, bool flex)
{
	if (flex)
		mqb_kr_tags(r);
}

bool mqb_kg_cstr(mqb_kstr_t s, char *buf, size_t size, bool allow_empty)
{
	if (!s.s || s.len < 0 || (s.len == 0 && !allow_empty) || (size_t)s.len >= size ||
	    (s.len && memchr(s.s, '\0', (size_t)s.len)))
		return false;
	if (s.len)
		memcpy(buf, s.s, (size_t)s.len);
	buf[s.len] = '\0';
	return true;
}

void mqb_kgw_str(mqb_kw_t *w, bool flex, const char *s, int32_t len)
{
	if (!flex) {
		mqb_kw_str(w, s, len);
		return;
	}
	if (!s) {
		mqb_kw_uvarint(w, 0);
		return;
	}
	mqb_kw_uvarint(w, (uint64_t)len + 1);
	mqb_kw_raw(w, s, (size_t)len);
}

void mqb_kgw_cstr(mqb_kw_t *w, bool flex, const char *s)
{
	mqb_kgw_str(w, flex, s, s ? (int32_t)strnlen(s, INT16_MAX) : -1);
}

void mqb_kgw_bytes(mqb_kw_t *w, bool flex, const void *p, int32_t len)
{
	if (flex) {
		mqb_kgw_str(w, true, p, len);
		return;
	}
	if (!p) {
		mqb_kw_i32(w, -1);
		return;
	}
	mqb_kw_i32(w, len);
	mqb_kw_raw(w, p, (size_t)len);
}

void mqb_kgw_array(mqb_kw_t *w, bool flex, int32_t n)
{
	if (flex)
		mqb_kw_uvarint(w, n < 0 ? 0 : (uint64_t)n + 1);
	else
		mqb_kw_i32(w, n);
}

void mqb_kgw_tags(mqb_kw_t *w, bool flex)
{
	if (flex)
		mqb_kw_tags_empty(w);
}
