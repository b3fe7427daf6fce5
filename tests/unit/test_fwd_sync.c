/*
 * test_fwd_sync.c — offset-sync pairs and translation (MirrorMaker 2's rule), and
 * the forwarder's journal lines (round trip, malformed lines refused).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "bridge/err.h"
#include "bridge/forward/fwd_state.h"
#include "bridge/sbuf.h"
#include "bridge/forward/fwd_sync.h"

static int64_t tr(const mqb_fwd_syncs_t *s, int64_t off)
{
	int64_t k = -1;
	int rc = mqb_fwd_syncs_translate(s, off, &k, NULL);
	return rc == MQB_OK ? k : rc;
}

/* The MM2 rule: exact at a sync point, sync + 1 after it, never beyond. */
static void test_translate_rule(void **state)
{
	mqb_fwd_syncs_t s;
	mqb_fwd_syncs_init(&s, 100);
	assert_int_equal(tr(&s, 0), MQB_ERR_NOTFOUND);
	assert_int_equal(mqb_fwd_syncs_add(&s, 10, 1000), MQB_OK);
	assert_int_equal(mqb_fwd_syncs_add(&s, 50, 1100), MQB_OK);
	assert_int_equal(tr(&s, 9), MQB_ERR_RANGE);      /* older than every pair */
	assert_int_equal(tr(&s, -1), MQB_ERR_INVAL);
	assert_int_equal(tr(&s, 10), 1000);
	assert_int_equal(tr(&s, 11), 1001);
	assert_int_equal(tr(&s, 49), 1001);
	assert_int_equal(tr(&s, 50), 1100);
	assert_int_equal(tr(&s, 5000), 1101);
	mqb_fwd_syncs_free(&s);
}

/* observe(): first delivery, gaps on either side, and the interval. */
static void test_observe(void **state)
{
	mqb_fwd_syncs_t s;
	mqb_fwd_syncs_init(&s, 10);
	assert_true(mqb_fwd_syncs_observe(&s, 0, 0));       /* first */
	for (int64_t i = 1; i < 10; i++)
		assert_false(mqb_fwd_syncs_observe(&s, i, i));
	assert_true(mqb_fwd_syncs_observe(&s, 10, 10));     /* interval */
	assert_false(mqb_fwd_syncs_observe(&s, 11, 11));
	assert_true(mqb_fwd_syncs_observe(&s, 12, 20));     /* kafka gap */
	assert_false(mqb_fwd_syncs_observe(&s, 13, 21));
	assert_true(mqb_fwd_syncs_observe(&s, 15, 22));     /* local gap */
	assert_int_equal(s.n, 4);
	assert_int_equal(tr(&s, 13), 21);
	assert_int_equal(tr(&s, 12), 20);
	/* a re-delivery after a rewind (local goes back) replaces later pairs */
	assert_true(mqb_fwd_syncs_observe(&s, 11, 30));
	assert_int_equal(s.n, 3);
	assert_int_equal(tr(&s, 11), 30);
	assert_int_equal(tr(&s, 14), 31);
	assert_false(mqb_fwd_syncs_observe(&s, -1, 3));
	mqb_fwd_syncs_free(&s);
}

/* A long run: the table stays bounded and translation never skips: for every local
 * position O, the answer is <= the Kafka offset of record O (records were written
 * with random gaps in Kafka). */
static void test_bounded_never_skips(void **state)
{
	enum { N = 200000 };
	int64_t *kafka_of = malloc(N * sizeof(*kafka_of));
	mqb_fwd_syncs_t s;
	mqb_fwd_syncs_init(&s, 50);
	srand(7);
	int64_t k = 0;
	for (int64_t l = 0; l < N; l++) {
		if (rand() % 1000 == 0)
			k += 1 + rand() % 5;   /* foreign records / duplicates in Kafka */
		kafka_of[l] = k;
		mqb_fwd_syncs_observe(&s, l, k);
		k++;
	}
	assert_true(s.n <= MQB_KAFKA_SYNCS_MAX);
	int64_t worst_reread = 0;
	for (int64_t o = s.v[0].local; o < N; o++) {
		int64_t t = tr(&s, o);
		assert_true(t >= 0);
		assert_true(t <= kafka_of[o]);
		if (kafka_of[o] - t > worst_reread)
			worst_reread = kafka_of[o] - t;
	}
	/* recent positions re-read at most about one interval */
	for (int64_t o = N - 1000; o < N; o++)
		assert_true(kafka_of[o] - tr(&s, o) <= 55);
	free(kafka_of);
	mqb_fwd_syncs_free(&s);
}

static void test_truncate(void **state)
{
	mqb_fwd_syncs_t s;
	mqb_fwd_syncs_init(&s, 10);
	mqb_fwd_syncs_add(&s, 0, 5);
	mqb_fwd_syncs_add(&s, 10, 15);
	mqb_fwd_syncs_add(&s, 20, 25);
	mqb_fwd_syncs_truncate(&s, 10);
	assert_int_equal(s.n, 1);
	assert_int_equal(tr(&s, 30), 6);
	assert_int_equal(mqb_fwd_syncs_add(&s, -1, 0), MQB_ERR_INVAL);
	mqb_fwd_syncs_free(&s);
	mqb_fwd_syncs_free(NULL);
}

struct collected {
	int n;
	mqb_fwd_state_line_t l[8];
	char names[8][2][64];
};

static int collect(const mqb_fwd_state_line_t *ln, void *arg)
{
	struct collected *c = arg;
	if (c->n >= 8)
		return MQB_ERR_TOOBIG;
	c->l[c->n] = *ln;
	strcpy(c->names[c->n][0], ln->stream);
	strcpy(c->names[c->n][1], ln->topic);
	c->n++;
	return MQB_OK;
}

static void test_state_lines(void **state)
{
	mqb_sbuf_t b = MQB_SBUF_INIT;
	mqb_sbuf_printf(&b, "C %s %s %d %lld\n", "tele", "edge.tele", 3, 123456789012LL);
	mqb_sbuf_printf(&b, "S %s %s %d %lld %lld\n", "tele", "edge.tele", 3, 5LL, 9LL);
	mqb_sbuf_printf(&b, "\n");
	struct collected c = { 0 };
	char err[128];
	assert_int_equal(mqb_fwd_state_parse(b.p, b.len, collect, &c, err, sizeof(err)), MQB_OK);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.l[0].kind, 'C');
	assert_string_equal(c.names[0][0], "tele");
	assert_string_equal(c.names[0][1], "edge.tele");
	assert_int_equal(c.l[0].partition, 3);
	assert_int_equal(c.l[0].a, 123456789012LL);
	assert_int_equal(c.l[1].kind, 'S');
	assert_int_equal(c.l[1].a, 5);
	assert_int_equal(c.l[1].b, 9);
	mqb_sbuf_free(&b);

	static const char *bad[] = {
		"X s t 0 1\n", "C s t 0\n", "C s t -1 5\n", "C s t 0 -5\n", "S s t 0 1\n",
		"C s t 0 1 2\n", "C s t 0 12abc\n", "C s t 99999999999 1\n",
		"C s t 0 99999999999999999999999\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct collected c2 = { 0 };
		err[0] = '\0';
		int rc = mqb_fwd_state_parse(bad[i], strlen(bad[i]), collect, &c2, err,
					       sizeof(err));
		if (rc != MQB_ERR_CORRUPT)
			fail_msg("accepted bad line: %s", bad[i]);
		assert_non_null(strstr(err, "line 1"));
		assert_int_equal(c2.n, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_translate_rule),
		cmocka_unit_test(test_observe),
		cmocka_unit_test(test_bounded_never_skips),
		cmocka_unit_test(test_truncate),
		cmocka_unit_test(test_state_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
