/*
 * varint.h — Kafka's zig-zag variable-length integers (protobuf style, 7 bits per
 * byte, least significant group first, high bit = more). A varint carries an int32
 * (at most 5 bytes), a varlong an int64 (at most 10 bytes).
 *
 * Writers assume the caller reserved MQB_VARINT_MAX / MQB_VARLONG_MAX bytes and
 * return the bytes written. Readers never read past end: they return the bytes
 * consumed, or 0 on truncated or over-long input. No memory is owned.
 */
#ifndef MQB_VARINT_H
#define MQB_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define MQB_VARINT_MAX  5
#define MQB_VARLONG_MAX 10

static inline uint32_t mqb_zigzag32(int32_t v)
{
	return ((uint32_t)v << 1) ^ (uint32_t)(v >> 31);
}

static inline uint64_t mqb_zigzag64(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int32_t mqb_unzigzag32(uint32_t u)
{
	return (int32_t)((u >> 1) ^ (~(u & 1) + 1));
}

static inline int64_t mqb_unzigzag64(uint64_t u)
{
	return (int64_t)((u >> 1) ^ (~(u & 1) + 1));
}

/* Bytes the unsigned value takes. */
static inline size_t mqb_uvarint_size(uint64_t u)
{
	size_t n = 1;
	while (u >= 0x80) {
		u >>= 7;
		n++;
	}
	return n;
}

static inline size_t mqb_varint_size(int32_t v)  { return mqb_uvarint_size(mqb_zigzag32(v)); }
static inline size_t mqb_varlong_size(int64_t v) { return mqb_uvarint_size(mqb_zigzag64(v)); }

static inline size_t mqb_uvarint_write(uint8_t *p, uint64_t u)
{
	size_t n = 0;
	while (u >= 0x80) {
		p[n++] = (uint8_t)(u | 0x80);
		u >>= 7;
	}
	p[n++] = (uint8_t)u;
	return n;
}

static inline size_t mqb_varint_write(uint8_t *p, int32_t v)
{
	return mqb_uvarint_write(p, mqb_zigzag32(v));
}

static inline size_t mqb_varlong_write(uint8_t *p, int64_t v)
{
	return mqb_uvarint_write(p, mqb_zigzag64(v));
}

/* Reads at most maxbytes bytes; 0 if truncated, over-long or overflowing bits. */
static inline size_t mqb_uvarint_read(const uint8_t *p, const uint8_t *end, size_t maxbytes,
				      uint64_t *out)
{
	uint64_t u = 0;
	size_t i;

	for (i = 0; i < maxbytes && p + i < end; i++) {
		uint8_t b = p[i];
		u |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			/* the last allowed byte may carry only the remaining bits */
			if (maxbytes == MQB_VARINT_MAX && i == 4 && b > 0x0f)
				return 0;
			if (maxbytes == MQB_VARLONG_MAX && i == 9 && b > 0x01)
				return 0;
			*out = u;
			return i + 1;
		}
	}
	return 0;
}

static inline size_t mqb_varint_read(const uint8_t *p, const uint8_t *end, int32_t *out)
{
	uint64_t u;
	size_t n = mqb_uvarint_read(p, end, MQB_VARINT_MAX, &u);
	if (n)
		*out = mqb_unzigzag32((uint32_t)u);
	return n;
}

static inline size_t mqb_varlong_read(const uint8_t *p, const uint8_t *end, int64_t *out)
{
	uint64_t u;
	size_t n = mqb_uvarint_read(p, end, MQB_VARLONG_MAX, &u);
	if (n)
		*out = mqb_unzigzag64(u);
	return n;
}

#endif
