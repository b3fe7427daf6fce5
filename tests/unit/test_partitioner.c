/*
 * test_partitioner.c — Kafka murmur2 bit for bit (DESIGN.md's vectors and the Kafka Java
 * client's UtilsTest vectors), partition numbers compared with librdkafka's own
 * murmur2_random partitioner producing to its mock cluster, and the sticky partitioner.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <string.h>

#include "bridge/ingest/partitioner.h"

static void test_vectors(void **state)
{
	/* Java Utils.murmur2 results as signed ints (Kafka's UtilsTest and others). */
	static const struct { const char *key; int32_t want; } v[] = {
		{ "21", -973932308 },
		{ "foobar", -790332482 },
		{ "a-little-bit-long-string", -985981536 },
		{ "a-little-bit-longer-string", -1486304829 },
		{ "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971 },
		{ "abc", 479470107 },
		{ "1", -1993445489 },
		{ "12", 126087238 },
		{ "123", -267702483 },
		{ "1234", -1614185708 },
		{ "12345", -1188365604 },
	};

	(void)state;
	assert_int_equal(mqb_murmur2("kafka", 5), 0xd067cf64u);
	assert_int_equal(mqb_murmur2("", 0), 0x106e08d9u);
	assert_int_equal(mqb_murmur2(NULL, 0), 0x106e08d9u);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint32_t h = mqb_murmur2(v[i].key, strlen(v[i].key));

		if ((int32_t)h != v[i].want)
			fail_msg("murmur2(\"%s\") = %d, want %d", v[i].key, (int32_t)h, v[i].want);
	}
	/* partition = (h & 0x7fffffff) % n */
	assert_int_equal(mqb_partition_for_key("kafka", 5, 12),
			 (int32_t)((0xd067cf64u & 0x7fffffffu) % 12));
	assert_int_equal(mqb_partition_for_key("21", 2, 7),
			 (int32_t)(((uint32_t)-973932308 & 0x7fffffffu) % 7));
	assert_int_equal(mqb_partition_for_key("anything", 8, 1), 0);
}

struct dr_state {
	int done, errors;
	int32_t partition[256];
};

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct dr_state *st = opaque;
	int idx = (int)(intptr_t)m->_private;

	(void)rk;
	if (m->err)
		st->errors++;
	else
		st->partition[idx] = m->partition;
	st->done++;
}

/* librdkafka's murmur2_random against its mock cluster chooses the same partitions. */
static void test_librdkafka(void **state)
{
	static const int32_t partition_counts[] = { 12, 7 };
	char err[512];

	(void)state;
	for (size_t pc = 0; pc < 2; pc++) {
		int32_t parts = partition_counts[pc];
		struct dr_state st = { 0 };
		rd_kafka_conf_t *conf = rd_kafka_conf_new();
		rd_kafka_mock_cluster_t *mc;
		rd_kafka_t *rk;
		char topic[32];
		int n = 200;

		snprintf(topic, sizeof(topic), "part%d", parts);
		assert_int_equal(rd_kafka_conf_set(conf, "test.mock.num.brokers", "3", err,
						   sizeof(err)), RD_KAFKA_CONF_OK);
		assert_int_equal(rd_kafka_conf_set(conf, "partitioner", "murmur2_random", err,
						   sizeof(err)), RD_KAFKA_CONF_OK);
		assert_int_equal(rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof(err)),
				 RD_KAFKA_CONF_OK);
		assert_int_equal(rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err)),
				 RD_KAFKA_CONF_OK);
		rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
		rd_kafka_conf_set_opaque(conf, &st);
		rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
		if (!rk)
			fail_msg("rd_kafka_new: %s", err);
		mc = rd_kafka_handle_mock_cluster(rk);
		assert_non_null(mc);
		assert_int_equal(rd_kafka_mock_topic_create(mc, topic, parts, 1),
				 RD_KAFKA_RESP_ERR_NO_ERROR);

		for (int i = 0; i < n; i++) {
			char key[64];
			size_t klen;

			/* varied lengths (0..4 mod 4 tails), binary bytes, an empty key */
			if (i == 0)
				klen = 0;
			else if (i % 5 == 0)
				klen = (size_t)snprintf(key, sizeof(key), "dev-%d-\xff\x01", i * 7919);
			else
				klen = (size_t)snprintf(key, sizeof(key), "sensors/device%d", i);
			if (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
					      RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
					      RD_KAFKA_V_KEY(klen ? key : "", klen),
					      RD_KAFKA_V_VALUE("v", 1),
					      RD_KAFKA_V_OPAQUE((void *)(intptr_t)i),
					      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					      RD_KAFKA_V_END) != RD_KAFKA_RESP_ERR_NO_ERROR)
				fail_msg("produce %d failed", i);
		}
		for (int w = 0; w < 300 && st.done < n; w++)   /* at most ~30 s */
			rd_kafka_poll(rk, 100);
		assert_int_equal(st.done, n);
		assert_int_equal(st.errors, 0);

		for (int i = 0; i < n; i++) {
			char key[64];
			size_t klen;

			if (i == 0)
				klen = 0;
			else if (i % 5 == 0)
				klen = (size_t)snprintf(key, sizeof(key), "dev-%d-\xff\x01", i * 7919);
			else
				klen = (size_t)snprintf(key, sizeof(key), "sensors/device%d", i);
			if (mqb_partition_for_key(key, klen, parts) != st.partition[i])
				fail_msg("key %d (%zu bytes): mqbridge %d, librdkafka %d", i, klen,
					 mqb_partition_for_key(key, klen, parts), st.partition[i]);
		}
		printf("librdkafka murmur2_random agrees on %d keys over %d partitions\n", n,
		       parts);
		rd_kafka_destroy(rk);
	}
}

static void test_sticky(void **state)
{
	mqb_sticky_t s, s2, one;
	int seen[5] = { 0 };
	int32_t prev;

	(void)state;
	mqb_sticky_init(&s, 5, 42);
	prev = mqb_sticky_partition(&s);
	assert_true(prev >= 0 && prev < 5);
	assert_int_equal(mqb_sticky_partition(&s), prev);     /* stays for the batch */
	for (int i = 0; i < 5000; i++) {
		int32_t p = mqb_sticky_next(&s);

		assert_true(p >= 0 && p < 5);
		assert_int_not_equal(p, prev);                 /* moves on every batch */
		assert_int_equal(mqb_sticky_partition(&s), p);
		seen[p]++;
		prev = p;
	}
	for (int i = 0; i < 5; i++)                            /* roughly uniform */
		assert_true(seen[i] > 700 && seen[i] < 1300);

	/* same seed, same sequence; seed 0 picks its own */
	mqb_sticky_init(&s, 5, 7);
	mqb_sticky_init(&s2, 5, 7);
	for (int i = 0; i < 10; i++)
		assert_int_equal(mqb_sticky_next(&s), mqb_sticky_next(&s2));
	mqb_sticky_init(&s, 5, 0);
	assert_true(mqb_sticky_partition(&s) >= 0 && mqb_sticky_partition(&s) < 5);

	mqb_sticky_init(&one, 1, 3);
	assert_int_equal(mqb_sticky_partition(&one), 0);
	assert_int_equal(mqb_sticky_next(&one), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_librdkafka),
		cmocka_unit_test(test_sticky),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
