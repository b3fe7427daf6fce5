/*
 * kafka_api_group_codec.h — version-aware field helpers for the group APIs: the same
 * handler code reads and writes both the classic encodings (int16/int32 lengths) and
 * the flexible ones (compact lengths, tagged fields), chosen by `flex`.
 *
 * Strings and bytes read point into the request frame (mqb_kstr_t, len -1: null).
 * Thread and ownership as kafka_api_codec.h.
 */
#ifndef MQB_KAFKA_API_GROUP_CODEC_H
#define MQB_KAFKA_API_GROUP_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "connectors/kafka_api/kafka_api_codec.h"

mqb_kstr_t mqb_kg_str(mqb_kr_t *r, bool flex);          /* nullable string */
mqb_kstr_t mqb_kg_bytes(mqb_kr_t *r, bool flex);        /* nullable bytes */
int32_t    mqb_kg_array(mqb_kr_t *r, bool flex, size_t min_elem); /* -1: null */
void       mqb_kg_tags(mqb_kr_t *r, bool flex);         /* tagged fields, flex only */

/* A string field as a C string in buf: false when null, empty (unless allow_empty),
 * too long for buf or holding a NUL. */
bool mqb_kg_cstr(mqb_kstr_t s, char *buf, size_t size, bool allow_empty);

void mqb_kgw_str(mqb_kw_t *w, bool flex, const char *s, int32_t len); /* s NULL: null */
void mqb_kgw_cstr(mqb_kw_t *w, bool flex, const char *s);             /* NULL: null */
void mqb_kgw_bytes(mqb_kw_t *w, bool flex, const void *p, int32_t len); /* p NULL: null */
void mqb_kgw_array(mqb_kw_t *w, bool flex, int32_t n);                /* -1: null */
void mqb_kgw_tags(mqb_kw_t *w, bool flex);

#endif
