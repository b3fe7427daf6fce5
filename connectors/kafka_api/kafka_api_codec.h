/*
 * kafka_api_codec.h — Kafka wire-protocol primitives for the kafka_api connector:
 * a bounds-checked reader over one request frame, a growable response writer, and
 * the request header decoder.
 *
 * Reader: every get function checks the bytes left; the first short read or bad
 * length sets r->err and from then on every get returns 0 / NULL (so a handler
 * decodes a whole request and checks r->err once, at the end). Nothing a length
 * field says is trusted beyond the frame: strings and byte fields point into the
 * frame (not NUL-terminated), array counts are bounded by the bytes left.
 *
 * Writer: appends big-endian values to an mqb_buf_t owned by the caller; an
 * allocation failure sets w->err (later puts are no-ops). Offsets (w->b->len) are
 * used to patch lengths and counts written before their content is known.
 *
 * Thread: no state beyond the structs given; used by the server thread only.
 */
#ifndef MQB_KAFKA_API_CODEC_H
#define MQB_KAFKA_API_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge/store/batch.h"

/* --- reader ------------------------------------------------------------------------ */

typedef struct mqb_kr {
	const uint8_t *p, *end;
	bool err;
} mqb_kr_t;

/* A string or byte field inside the frame; len -1 means null. */
typedef struct mqb_kstr {
	const char *s;
	int32_t len;
} mqb_kstr_t;

static inline void mqb_kr_init(mqb_kr_t *r, const uint8_t *buf, size_t len)
{
	r->p = buf;
	r->end = buf + len;
	r->err = false;
}
static inline size_t mqb_kr_left(const mqb_kr_t *r) { return (size_t)(r->end - r->p); }

int8_t   mqb_kr_i8(mqb_kr_t *r);
int16_t  mqb_kr_i16(mqb_kr_t *r);
int32_t  mqb_kr_i32(mqb_kr_t *r);
int64_t  mqb_kr_i64(mqb_kr_t *r);
uint64_t mqb_kr_uvarint(mqb_kr_t *r);           /* unsigned LEB128, at most 10 bytes */
mqb_kstr_t mqb_kr_str(mqb_kr_t *r);             /* int16 length; -1 null */
mqb_kstr_t mqb_kr_bytes(mqb_kr_t *r);           /* int32 length; -1 null */
mqb_kstr_t mqb_kr_compact_str(mqb_kr_t *r);     /* uvarint length+1; 0 null */
/* Array count (int32; -1 null gives -1). A count that cannot fit in the bytes left
 * (each element at least min_elem bytes) sets err and returns 0. */
int32_t  mqb_kr_array(mqb_kr_t *r, size_t min_elem);
int32_t  mqb_kr_compact_array(mqb_kr_t *r, size_t min_elem);
/* Skip a tagged-field section (flexible versions). */
void     mqb_kr_tags(mqb_kr_t *r);

/* --- request header ---------------------------------------------------------------- */

typedef struct mqb_kreq_hdr {
	int16_t api_key;
	int16_t api_version;
	int32_t correlation_id;
	mqb_kstr_t client_id;
	bool flexible;               /* request header v2 (tagged fields) was read */
} mqb_kreq_hdr_t;

/*
 * Decode the request header from r (a whole frame, without its size prefix).
 * flexible_fn says whether (api_key, api_version) uses the flexible (v2) header;
 * NULL: never. Returns 0, or -1 when the frame is too short for a header.
 * On 0, r is positioned at the request body.
 */
int mqb_kreq_hdr_read(mqb_kr_t *r, mqb_kreq_hdr_t *h,
		      bool (*flexible_fn)(int16_t api_key, int16_t api_version));

/* --- writer ------------------------------------------------------------------------ */

typedef struct mqb_kw {
	mqb_buf_t *b;
	bool err;
} mqb_kw_t;

void mqb_kw_i8(mqb_kw_t *w, int8_t v);
void mqb_kw_i16(mqb_kw_t *w, int16_t v);
void mqb_kw_i32(mqb_kw_t *w, int32_t v);
void mqb_kw_i64(mqb_kw_t *w, int64_t v);
void mqb_kw_uvarint(mqb_kw_t *w, uint64_t v);
void mqb_kw_raw(mqb_kw_t *w, const void *p, size_t n);
void mqb_kw_str(mqb_kw_t *w, const char *s, int32_t len);     /* int16 len; NULL: null */
void mqb_kw_cstr(mqb_kw_t *w, const char *s);                 /* NUL-terminated or NULL */
void mqb_kw_compact_cstr(mqb_kw_t *w, const char *s);         /* NULL: null */
void mqb_kw_tags_empty(mqb_kw_t *w);                          /* zero tagged fields */
/* Reserve 4 bytes now, return their offset; mqb_kw_patch_i32() fills them later. */
size_t mqb_kw_reserve32(mqb_kw_t *w);
void mqb_kw_patch_i32(mqb_kw_t *w, size_t at, int32_t v);

#endif
