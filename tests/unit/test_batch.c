/* test_batch.c — RecordBatch v2 codec: hand-built known bytes, round trips, bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bridge/err.h"
#include "bridge/store/batch.h"
#include "bridge/store/varint.h"

static uint32_t crc_ref(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
	}
	return ~c;
}

/*
 * Built by hand from the Kafka protocol spec (not with the encoder): base offset 5,
 * two records at CreateTime 1000 and 1003:
 *   r0: key "k", value "hello", one header h=v
 *   r1: null key, empty value, no headers
 */
static const uint8_t known[85] = {
	0, 0, 0, 0, 0, 0, 0, 5,          /* baseOffset */
	0, 0, 0, 73,                     /* batchLength = 85 - 12 */
	0, 0, 0, 0,                      /* partitionLeaderEpoch */
	2,                               /* magic */
	0, 0, 0, 0,                      /* crc: filled by the test (reference CRC) */
	0, 0,                            /* attributes */
	0, 0, 0, 1,                      /* lastOffsetDelta */
	0, 0, 0, 0, 0, 0, 0x03, 0xe8,    /* baseTimestamp 1000 */
	0, 0, 0, 0, 0, 0, 0x03, 0xeb,    /* maxTimestamp 1003 */
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  /* producerId -1 */
	0xff, 0xff,                      /* producerEpoch -1 */
	0xff, 0xff, 0xff, 0xff,          /* baseSequence -1 */
	0, 0, 0, 2,                      /* records count */
	/* r0: length 16 (zigzag 32) */
	0x20, 0x00, 0x00, 0x00, 0x02, 'k', 0x0a, 'h', 'e', 'l', 'l', 'o',
	0x02, 0x02, 'h', 0x02, 'v',
	/* r1: length 6: attrs, tsDelta 3, offsetDelta 1, key -1, value len 0, 0 headers */
	0x0c, 0x00, 0x06, 0x02, 0x01, 0x00, 0x00,
};

static void known_bytes(uint8_t *out)
{
	uint32_t crc;
	memcpy(out, known, sizeof(known));
	crc = crc_ref(out + 21, sizeof(known) - 21);
	out[17] = (uint8_t)(crc >> 24);
	out[18] = (uint8_t)(crc >> 16);
	out[19] = (uint8_t)(crc >> 8);
	out[20] = (uint8_t)crc;
}

static void test_encode_known_bytes(void **state)
{
	uint8_t want[sizeof(known)];
	mqb_rec_header_t h = { .key = "h", .key_len = 1, .value = "v", .value_len = 1 };
	mqb_record_t recs[2] = {
		{ .timestamp_ms = 1000, .key = "k", .key_len = 1, .value = "hello",
		  .value_len = 5, .headers = &h, .header_count = 1 },
		{ .timestamp_ms = 1003, .key = NULL, .key_len = -1, .value = "",
		  .value_len = 0 },
	};
	mqb_buf_t b = { 0 };

	(void)state;
	known_bytes(want);
	assert_int_equal(mqb_batch_encode(&b, 5, recs, 2), MQB_OK);
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.data, want, sizeof(want));
	mqb_buf_free(&b);
}

static void test_decode_known_bytes(void **state)
{
	uint8_t buf[sizeof(known)];
	mqb_batch_iter_t it;
	mqb_record_t r;

	(void)state;
	known_bytes(buf);
	assert_int_equal(mqb_batch_iter_init(&it, buf, sizeof(buf)), MQB_OK);
	assert_int_equal(it.hdr.base_offset, 5);
	assert_int_equal(it.hdr.record_count, 2);
	assert_int_equal(it.hdr.max_timestamp, 1003);
	assert_int_equal(mqb_batch_iter_next(&it, &r), 1);
	assert_int_equal(r.offset, 5);
	assert_int_equal(r.timestamp_ms, 1000);
	assert_int_equal(r.key_len, 1);
	assert_memory_equal(r.key, "k", 1);
	assert_int_equal(r.value_len, 5);
	assert_memory_equal(r.value, "hello", 5);
	assert_int_equal(r.header_count, 1);
	assert_int_equal(r.headers[0].key_len, 1);
	assert_memory_equal(r.headers[0].key, "h", 1);
	assert_int_equal(r.headers[0].value_len, 1);
	assert_int_equal(mqb_batch_iter_next(&it, &r), 1);
	assert_int_equal(r.offset, 6);
	assert_int_equal(r.timestamp_ms, 1003);
	assert_int_equal(r.key_len, -1);
	assert_null(r.key);
	assert_int_equal(r.value_len, 0);
	assert_non_null(r.value);
	assert_int_equal(r.header_count, 0);
	assert_int_equal(mqb_batch_iter_next(&it, &r), 0);
	mqb_batch_iter_destroy(&it);
}

static void test_varint_vectors(void **state)
{
	uint8_t b[10];
	int32_t v;
	int64_t l;

	(void)state;
	/* zigzag: 0->0, -1->1, 1->2, -2->3, 63->126, -64->127, 64->128 (2 bytes) */
	assert_int_equal(mqb_varint_write(b, 0), 1);
	assert_int_equal(b[0], 0);
	assert_int_equal(mqb_varint_write(b, -1), 1);
	assert_int_equal(b[0], 1);
	assert_int_equal(mqb_varint_write(b, 1), 1);
	assert_int_equal(b[0], 2);
	assert_int_equal(mqb_varint_write(b, -64), 1);
	assert_int_equal(b[0], 127);
	assert_int_equal(mqb_varint_write(b, 64), 2);
	assert_int_equal(b[0], 0x80);
	assert_int_equal(b[1], 0x01);
	assert_int_equal(mqb_varint_write(b, INT32_MIN), 5);
	assert_int_equal(mqb_varint_read(b, b + 5, &v), 5);
	assert_int_equal(v, INT32_MIN);
	assert_int_equal(mqb_varint_read(b, b + 4, &v), 0);     /* truncated */
	assert_int_equal(mqb_varlong_write(b, INT64_MAX), 10);
	assert_int_equal(mqb_varlong_read(b, b + 10, &l), 10);
	assert_int_equal(l, INT64_MAX);
	memset(b, 0xff, sizeof(b));                              /* never terminates */
	assert_int_equal(mqb_varint_read(b, b + 10, &v), 0);
	assert_int_equal(mqb_varlong_read(b, b + 10, &l), 0);
	b[4] = 0x7f;                                             /* 5th byte too large */
	assert_int_equal(mqb_varint_read(b, b + 10, &v), 0);
}

/* Encode, validate and iterate; compare every field. */
static void roundtrip(const mqb_record_t *recs, size_t n, int64_t base)
{
	mqb_buf_t b = { 0 };
	mqb_batch_iter_t it;
	mqb_record_t r;
	size_t i = 0;
	int rc;

	assert_int_equal(mqb_batch_encode(&b, base, recs, n), MQB_OK);
	assert_int_equal(mqb_batch_iter_init(&it, b.data, b.len), MQB_OK);
	assert_int_equal(mqb_batch_total_size(&it.hdr), b.len);
	assert_int_equal(it.hdr.producer_id, -1);
	assert_int_equal(it.hdr.producer_epoch, -1);
	assert_int_equal(it.hdr.base_sequence, -1);
	while ((rc = mqb_batch_iter_next(&it, &r)) == 1) {
		const mqb_record_t *w = &recs[i];
		assert_int_equal(r.offset, base + (int64_t)i);
		assert_int_equal(r.timestamp_ms, w->timestamp_ms);
		assert_int_equal(r.key_len, w->key_len);
		if (w->key_len > 0)
			assert_memory_equal(r.key, w->key, (size_t)w->key_len);
		assert_int_equal(r.value_len, w->value_len);
		if (w->value_len > 0)
			assert_memory_equal(r.value, w->value, (size_t)w->value_len);
		assert_int_equal(r.header_count, w->header_count);
		for (size_t h = 0; h < w->header_count; h++) {
			assert_int_equal(r.headers[h].key_len, w->headers[h].key_len);
			assert_memory_equal(r.headers[h].key, w->headers[h].key,
					    w->headers[h].key_len);
			assert_int_equal(r.headers[h].value_len, w->headers[h].value_len);
			if (w->headers[h].value_len > 0)
				assert_memory_equal(r.headers[h].value, w->headers[h].value,
						    (size_t)w->headers[h].value_len);
		}
		i++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(i, n);
	mqb_batch_iter_destroy(&it);
	mqb_buf_free(&b);
}

static void test_roundtrip_keys_headers(void **state)
{
	mqb_rec_header_t hs[3] = {
		{ .key = "mqtt.topic", .key_len = 10, .value = "a/b/c", .value_len = 5 },
		{ .key = "nullv", .key_len = 5, .value = NULL, .value_len = -1 },
		{ .key = "", .key_len = 0, .value = "", .value_len = 0 },
	};
	mqb_record_t recs[4] = {
		{ .timestamp_ms = 1700000000000, .key = NULL, .key_len = -1, .value = "x",
		  .value_len = 1, .headers = hs, .header_count = 3 },
		{ .timestamp_ms = 1699999999000, .key = "", .key_len = 0, .value = NULL,
		  .value_len = -1 },
		{ .timestamp_ms = 1700000005000, .key = "dev7", .key_len = 4, .value = "",
		  .value_len = 0, .headers = hs, .header_count = 1 },
		{ .timestamp_ms = 0, .key = "z", .key_len = 1, .value = "\0\1\2", .value_len = 3 },
	};
	(void)state;
	roundtrip(recs, 4, 0);
	roundtrip(recs, 4, 123456789012LL);
}

static void test_roundtrip_large_value(void **state)
{
	size_t n = 1 << 20;
	uint8_t *v = malloc(n);
	mqb_record_t r = { .timestamp_ms = 42, .key = "big", .key_len = 3, .value = v,
			   .value_len = (ssize_t)n };
	(void)state;
	assert_non_null(v);
	for (size_t i = 0; i < n; i++)
		v[i] = (uint8_t)(i * 31 + 7);
	roundtrip(&r, 1, 77);
	free(v);
}

static void test_roundtrip_many_small(void **state)
{
	enum { N = 10000 };
	mqb_record_t *recs = calloc(N, sizeof(*recs));
	char (*vals)[16] = calloc(N, 16);
	(void)state;
	assert_non_null(recs);
	assert_non_null(vals);
	for (int i = 0; i < N; i++) {
		int l = snprintf(vals[i], 16, "v%d", i);
		recs[i].timestamp_ms = 1000 + i / 3;
		recs[i].key = vals[i];
		recs[i].key_len = i % 2 ? l : -1;
		recs[i].value = vals[i];
		recs[i].value_len = l;
	}
	roundtrip(recs, N, 5);
	free(recs);
	free(vals);
}

static void test_encode_bad_args(void **state)
{
	mqb_buf_t b = { 0 };
	mqb_record_t r = { .key_len = -2, .value_len = 0, .value = "" };
	(void)state;
	assert_int_equal(mqb_batch_encode(&b, 0, &r, 0), MQB_ERR_INVAL);
	assert_int_equal(mqb_batch_encode(&b, 0, &r, 1), MQB_ERR_INVAL);
	r.key_len = -1;
	assert_int_equal(mqb_batch_encode(&b, -1, &r, 1), MQB_ERR_INVAL);
	r.header_count = 1;   /* headers NULL */
	assert_int_equal(mqb_batch_encode(&b, 0, &r, 1), MQB_ERR_INVAL);
	assert_int_equal(b.len, 0);
	mqb_buf_free(&b);
}

/* Re-seal the CRC after an edit so the check under test is the one that fires. */
static void reseal(uint8_t *buf, size_t len)
{
	uint32_t crc = crc_ref(buf + 21, len - 21);
	mqb_be32_put(buf + 17, crc);
}

static void expect_corrupt_header(const uint8_t *buf, size_t len, const char *needle)
{
	mqb_batch_hdr_t h;
	char why[160] = "";
	assert_int_equal(mqb_batch_header_parse(buf, len, &h, why, sizeof(why)), MQB_ERR_CORRUPT);
	if (!strstr(why, needle))
		fail_msg("reason '%s' lacks '%s'", why, needle);
}

static void test_bad_headers(void **state)
{
	uint8_t good[sizeof(known)], b[sizeof(known)];
	(void)state;
	known_bytes(good);

	expect_corrupt_header(good, 60, "truncated");
	expect_corrupt_header(good, sizeof(good) - 1, "past the end");
	memcpy(b, good, sizeof(b));
	mqb_be32_put(b + 8, 10);
	expect_corrupt_header(b, sizeof(b), "minimum");
	memcpy(b, good, sizeof(b));
	mqb_be32_put(b + 8, 0x7fffffff);
	expect_corrupt_header(b, sizeof(b), "past the end");
	memcpy(b, good, sizeof(b));
	b[16] = 1;
	expect_corrupt_header(b, sizeof(b), "magic");
	memcpy(b, good, sizeof(b));
	b[70] ^= 0x10;                                  /* a flipped bit in a record */
	expect_corrupt_header(b, sizeof(b), "CRC");
	memcpy(b, good, sizeof(b));
	b[22] = 1;                                      /* gzip */
	reseal(b, sizeof(b));
	expect_corrupt_header(b, sizeof(b), "attributes");
	memcpy(b, good, sizeof(b));
	mqb_be32_put(b + 57, 3);
	reseal(b, sizeof(b));
	expect_corrupt_header(b, sizeof(b), "record count");
	memcpy(b, good, sizeof(b));
	mqb_be64_put(b, (uint64_t)-5);
	reseal(b, sizeof(b));
	expect_corrupt_header(b, sizeof(b), "offsets");
	memcpy(b, good, sizeof(b));
	mqb_be64_put(b + 35, 999);
	reseal(b, sizeof(b));
	expect_corrupt_header(b, sizeof(b), "timestamp");
}

static void expect_corrupt_iter(const uint8_t *buf, size_t len, const char *needle)
{
	mqb_batch_iter_t it;
	mqb_record_t r;
	int rc;
	assert_int_equal(mqb_batch_iter_init(&it, buf, len), MQB_OK);
	while ((rc = mqb_batch_iter_next(&it, &r)) == 1)
		;
	assert_int_equal(rc, MQB_ERR_CORRUPT);
	if (!strstr(it.why, needle))
		fail_msg("reason '%s' lacks '%s'", it.why, needle);
	mqb_batch_iter_destroy(&it);
}

static void test_bad_records(void **state)
{
	uint8_t good[sizeof(known)], b[sizeof(known)];
	(void)state;
	known_bytes(good);

	memcpy(b, good, sizeof(b));
	b[61] = 0x7e;                                  /* r0 length 63: past the batch */
	reseal(b, sizeof(b));
	expect_corrupt_iter(b, sizeof(b), "bad length");
	memcpy(b, good, sizeof(b));
	b[64] = 0x04;                                  /* r0 offset delta 2 */
	reseal(b, sizeof(b));
	expect_corrupt_iter(b, sizeof(b), "offset delta");
	memcpy(b, good, sizeof(b));
	b[67] = 0x1e;                                  /* r0 value length 15 > record */
	reseal(b, sizeof(b));
	expect_corrupt_iter(b, sizeof(b), "bad value");
	memcpy(b, good, sizeof(b));
	b[73] = 0x7e;                                  /* r0 header count 63 */
	reseal(b, sizeof(b));
	expect_corrupt_iter(b, sizeof(b), "header count");
	memcpy(b, good, sizeof(b));
	b[74] = 0x01;                                  /* r0 header key null */
	reseal(b, sizeof(b));
	expect_corrupt_iter(b, sizeof(b), "header 0 key");
	memcpy(b, good, sizeof(b));
	b[65] = 0x03;                                  /* r0 key length -2 */
	reseal(b, sizeof(b));
	expect_corrupt_iter(b, sizeof(b), "bad key");
	memcpy(b, good, sizeof(b));
	b[82] = 0x02;                                  /* r1 key length 1: eats a byte */
	reseal(b, sizeof(b));
	expect_corrupt_iter(b, sizeof(b), "record 1");
}

/* Every truncation and every single-bit flip of a real batch: no crash, no OOB
 * (run under ASan/valgrind to prove the latter), and nothing bogus accepted. */
static void test_all_truncations_and_flips(void **state)
{
	uint8_t good[sizeof(known)], b[sizeof(known)];
	mqb_batch_hdr_t h;
	(void)state;
	known_bytes(good);
	for (size_t len = 0; len < sizeof(good); len++) {
		uint8_t *t = malloc(len ? len : 1);
		memcpy(t, good, len);
		assert_int_equal(mqb_batch_header_parse(t, len, &h, NULL, 0), MQB_ERR_CORRUPT);
		free(t);
	}
	for (size_t bit = 0; bit < sizeof(good) * 8; bit++) {
		memcpy(b, good, sizeof(b));
		b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		int rc = mqb_batch_header_parse(b, sizeof(b), &h, NULL, 0);
		/* only flips in baseOffset / leader epoch are outside the CRC and may pass */
		if (bit / 8 >= 17)
			assert_int_equal(rc, MQB_ERR_CORRUPT);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_known_bytes),
		cmocka_unit_test(test_decode_known_bytes),
		cmocka_unit_test(test_varint_vectors),
		cmocka_unit_test(test_roundtrip_keys_headers),
		cmocka_unit_test(test_roundtrip_large_value),
		cmocka_unit_test(test_roundtrip_many_small),
		cmocka_unit_test(test_encode_bad_args),
		cmocka_unit_test(test_bad_headers),
		cmocka_unit_test(test_bad_records),
		cmocka_unit_test(test_all_truncations_and_flips),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
