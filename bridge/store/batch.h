/*
 * batch.h — Kafka RecordBatch v2 codec (the bytes in every .log segment; docs/FORMAT.md).
 *
 * Encoding appends one batch to a growable mqb_buf_t owned by the caller (reuse it:
 * after the first batches no allocation happens). Decoding never reads outside the
 * buffer it is given and never trusts a length field: any input gives either a valid
 * header/record or MQB_ERR_CORRUPT with a reason.
 *
 * An iterator borrows the batch buffer (which must outlive it) and owns the storage
 * for decoded record headers: rec->headers from mqb_batch_iter_next() is valid until
 * the next call or mqb_batch_iter_destroy(); rec->key/value point into the batch.
 */
#ifndef MQB_BATCH_H
#define MQB_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "bridge/store/store.h"

#define MQB_BATCH_MAGIC          2
#define MQB_BATCH_HDR_SIZE       61   /* bytes up to and including the record count */
#define MQB_BATCH_LOG_OVERHEAD   12   /* baseOffset + batchLength */
#define MQB_BATCH_CRC_START      21   /* the CRC covers attributes..end */
#define MQB_BATCH_LEADER_EPOCH   0    /* what mqbridge writes as partitionLeaderEpoch */
/* Largest batch the store writes or reads (bounds every allocation a length field
 * can cause when reading a corrupt file). */
#define MQB_BATCH_MAX_SIZE       (1 << 30)   /* = config max of max_batch_bytes */

/* The fixed header, host byte order. */
typedef struct mqb_batch_hdr {
	int64_t  base_offset;
	int32_t  batch_length;        /* bytes after this field: total = 12 + batch_length */
	int32_t  leader_epoch;
	int8_t   magic;
	uint32_t crc;
	int16_t  attributes;
	int32_t  last_offset_delta;
	int64_t  base_timestamp;
	int64_t  max_timestamp;
	int64_t  producer_id;
	int16_t  producer_epoch;
	int32_t  base_sequence;
	int32_t  record_count;
} mqb_batch_hdr_t;

static inline size_t mqb_batch_total_size(const mqb_batch_hdr_t *h)
{
	return MQB_BATCH_LOG_OVERHEAD + (size_t)(uint32_t)h->batch_length;
}

static inline int64_t mqb_batch_last_offset(const mqb_batch_hdr_t *h)
{
	return h->base_offset + h->last_offset_delta;
}

/* A growable byte buffer. Zero-initialise; free with mqb_buf_free(). */
typedef struct mqb_buf {
	uint8_t *data;
	size_t len, cap;
} mqb_buf_t;

int  mqb_buf_reserve(mqb_buf_t *b, size_t extra);  /* room for len + extra bytes */
void mqb_buf_free(mqb_buf_t *b);                   /* NULL-safe; leaves b empty */

/*
 * Append one batch holding recs[0..n-1] (n >= 1) with the given base offset to out.
 * Each record's timestamp_ms is used as is (CreateTime). Returns MQB_OK, MQB_ERR_INVAL
 * (n == 0, negative lengths other than -1, more than INT32_MAX bytes or records) or
 * MQB_ERR_NOMEM (out is unchanged then).
 */
int mqb_batch_encode(mqb_buf_t *out, int64_t base_offset, const mqb_record_t *recs, size_t n);

/*
 * Bytes r takes in a batch where it is the first record (length varint, attributes,
 * zero timestamp and offset deltas, key, value, headers): a batch holding r alone is
 * MQB_BATCH_HDR_SIZE + this many bytes, and it is what the ingest's size limit counts.
 * Returns 0 when mqb_batch_encode() would refuse r (bad lengths, over INT32_MAX).
 */
size_t mqb_batch_record_size(const mqb_record_t *r);

/*
 * Decode the 61-byte header of the batch at buf without validating anything but the
 * available length (for scans that only need lengths/offsets). MQB_ERR_CORRUPT if
 * len < MQB_BATCH_HDR_SIZE.
 */
int mqb_batch_header_peek(const uint8_t *buf, size_t len, mqb_batch_hdr_t *out);

/*
 * The framing of a peeked header (no CRC: the bytes after it are not read): length at
 * least the minimum and the whole batch within avail bytes (and MQB_BATCH_MAX_SIZE),
 * magic 2, last offset delta >= 0. What the readers' and recovery's header walks check
 * before they step to the next batch. MQB_OK, or MQB_ERR_CORRUPT with the reason in
 * why (may be NULL).
 */
int mqb_batch_header_framing(const mqb_batch_hdr_t *h, int64_t avail, char *why,
			     size_t why_size);

/*
 * Decode and validate the header of the batch starting at buf (len bytes available,
 * possibly more than one batch): batch length within [49, len - 12], magic 2, CRC-32C,
 * no compression / transactional / control bits, record count >= 1 and equal to
 * last offset delta + 1, base offset >= 0, max timestamp >= base timestamp.
 * On failure returns MQB_ERR_CORRUPT and writes the reason to why (may be NULL).
 */
int mqb_batch_header_parse(const uint8_t *buf, size_t len, mqb_batch_hdr_t *out,
			   char *why, size_t why_size);

/* Record iterator over one batch. */
typedef struct mqb_batch_iter {
	mqb_batch_hdr_t hdr;
	const uint8_t *pos, *end;     /* the unread records */
	int32_t next_index;           /* records returned so far */
	mqb_rec_header_t *hdrs;       /* decoded headers of the last record (owned) */
	size_t hdrs_cap;
	char why[128];                /* reason of the last MQB_ERR_CORRUPT */
} mqb_batch_iter_t;

/* Validate the header (as mqb_batch_header_parse) and position before the first record.
 * The iterator must be destroyed even when this fails. */
int mqb_batch_iter_init(mqb_batch_iter_t *it, const uint8_t *buf, size_t len);

/*
 * The next record: absolute offset and timestamp, key/value pointing into the batch,
 * headers into the iterator's storage. Returns 1 with a record, 0 after the last one
 * (the records then used up the batch exactly), MQB_ERR_CORRUPT (it->why says why)
 * or MQB_ERR_NOMEM.
 */
int mqb_batch_iter_next(mqb_batch_iter_t *it, mqb_record_t *rec);

void mqb_batch_iter_destroy(mqb_batch_iter_t *it);  /* frees header storage; NULL-safe */

/* Big-endian helpers shared by the store's files. */
static inline void mqb_be16_put(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = (uint8_t)v; }
static inline void mqb_be32_put(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24; p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline void mqb_be64_put(uint8_t *p, uint64_t v)
{
	mqb_be32_put(p, (uint32_t)(v >> 32));
	mqb_be32_put(p + 4, (uint32_t)v);
}
static inline uint16_t mqb_be16_get(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t mqb_be32_get(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t mqb_be64_get(const uint8_t *p)
{
	return (uint64_t)mqb_be32_get(p) << 32 | mqb_be32_get(p + 4);
}

#endif
