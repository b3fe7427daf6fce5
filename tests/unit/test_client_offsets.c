/*
 * test_client_offsets.c — committed offsets of client-assigned (Kafka) groups on disk
 * (bridge/groups/client_offsets.h): encode/decode round trip, every truncation and a
 * flipped magic, trailing bytes, a duplicate entry and another group's file refused,
 * save/load in a real directory (NOTFOUND before the first save, corrupt file
 * reported), the directory walk, and reset against a real store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bridge/err.h"
#include "bridge/groups/client_offsets.h"
#include "bridge/store/store.h"
#include "tests/support/harness.h"

static char dir[512];

static int setup(void **state)
{
	(void)state;
	return mqbt_tmpdir(dir, sizeof(dir));
}

static int teardown(void **state)
{
	(void)state;
	mqbt_rmrf(dir);
	return 0;
}

static void make(mqb_client_offsets_t *o)
{
	mqb_client_offset_t a = { .stream = "s", .partition = 0, .offset = 10,
				  .leader_epoch = -1, .commit_time_ms = 1700000000000,
				  .metadata = "m", .metadata_len = 1 };
	mqb_client_offset_t b = { .stream = "t", .partition = 3, .offset = -1,
				  .leader_epoch = 5, .metadata = NULL, .metadata_len = -1 };

	memset(o, 0, sizeof *o);
	assert_int_equal(mqb_client_offsets_set(o, &a), MQB_OK);
	assert_int_equal(mqb_client_offsets_set(o, &b), MQB_OK);
	a.offset = 12;                        /* an update replaces */
	assert_int_equal(mqb_client_offsets_set(o, &a), MQB_OK);
	assert_int_equal(o->n, 2);
}

static void test_round_trip_and_corruption(void **state)
{
	mqb_client_offsets_t o, d;
	uint8_t *buf;
	size_t len;
	char why[128];

	(void)state;
	make(&o);
	assert_int_equal(mqb_client_offsets_encode("g1", &o, &buf, &len), MQB_OK);
	assert_int_equal(mqb_client_offsets_decode("g1", buf, len, &d, why, sizeof why), MQB_OK);
	assert_int_equal(d.n, 2);
	assert_int_equal(mqb_client_offsets_find(&d, "s", 0)->offset, 12);
	assert_string_equal(mqb_client_offsets_find(&d, "s", 0)->metadata, "m");
	assert_null(mqb_client_offsets_find(&d, "t", 3)->metadata);
	assert_int_equal(mqb_client_offsets_find(&d, "t", 3)->leader_epoch, 5);
	mqb_client_offsets_free(&d);
	/* every truncation is refused, never half a state */
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(mqb_client_offsets_decode("g1", buf, cut, &d, why, sizeof why),
				 MQB_ERR_CORRUPT);
	/* another group's file */
	assert_int_equal(mqb_client_offsets_decode("g2", buf, len, &d, why, sizeof why),
			 MQB_ERR_CORRUPT);
	/* trailing bytes */
	uint8_t *longer = malloc(len + 1);
	memcpy(longer, buf, len);
	longer[len] = 0;
	assert_int_equal(mqb_client_offsets_decode("g1", longer, len + 1, &d, why, sizeof why),
			 MQB_ERR_CORRUPT);
	assert_string_equal(why, "trailing bytes");
	free(longer);
	buf[0] ^= 1;
	assert_int_equal(mqb_client_offsets_decode("g1", buf, len, &d, why, sizeof why),
			 MQB_ERR_CORRUPT);
	assert_string_equal(why, "bad magic");
	free(buf);
	/* a duplicate entry (hand-made: the encoder never writes one) */
	mqb_client_offsets_t dup = o;
	mqb_client_offset_t e2[2] = { o.e[0], o.e[0] };
	dup.e = e2;
	assert_int_equal(mqb_client_offsets_encode("g1", &dup, &buf, &len), MQB_OK);
	assert_int_equal(mqb_client_offsets_decode("g1", buf, len, &d, why, sizeof why),
			 MQB_ERR_CORRUPT);
	assert_string_equal(why, "duplicate entry");
	free(buf);
	mqb_client_offsets_free(&o);
}

static int count_one(void *arg, const char *g)
{
	(void)g;
	(*(int *)arg)++;
	return MQB_OK;
}

static void test_save_load_reset(void **state)
{
	mqb_client_offsets_t o, l;
	char why[600], path[1024];
	int n = 0;

	(void)state;
	assert_int_equal(mqb_client_offsets_load(dir, "kafka", "g1", &l, why, sizeof why),
			 MQB_ERR_NOTFOUND);
	make(&o);
	assert_int_equal(mqb_client_offsets_save(dir, "kafka", "g1", &o, why, sizeof why), MQB_OK);
	assert_int_equal(mqb_client_offsets_save(dir, "kafka", "../x", &o, why, sizeof why),
			 MQB_ERR_INVAL);
	assert_int_equal(mqb_client_offsets_load(dir, "kafka", "g1", &l, why, sizeof why), MQB_OK);
	assert_int_equal(l.n, 2);
	mqb_client_offsets_free(&l);
	assert_int_equal(mqb_client_offsets_each(dir, "kafka", count_one, &n), MQB_OK);
	assert_int_equal(n, 1);

	/* reset against a store: s has 5 records in partition 0 (t is not a stream) */
	char err[256];
	mqb_store_t *st = mqb_store_open(dir, 0, err, sizeof err);
	mqb_stream_opts_t so;
	assert_non_null(st);
	mqb_stream_opts_defaults(&so);
	so.name = "s";
	so.partitions = 1;
	assert_int_equal(mqb_store_stream_open(st, &so, err, sizeof err), MQB_OK);
	mqb_partition_t *p = mqb_store_partition(st, "s", 0);
	for (int i = 0; i < 5; i++) {
		mqb_record_t r = { .timestamp_ms = 1000 + i, .key_len = -1, .value = "v",
				   .value_len = 1 };
		int64_t off;
		assert_int_equal(mqb_partition_append(p, &r, 1, &off), MQB_OK);
	}
	assert_int_equal(mqb_client_offsets_reset(dir, "kafka", "g1", st, "bogus", NULL, why,
						  sizeof why), MQB_ERR_INVAL);
	assert_int_equal(mqb_client_offsets_reset(dir, "kafka", "g1", st, "offset:99", &l, why,
						  sizeof why), MQB_OK);
	assert_int_equal(mqb_client_offsets_find(&l, "s", 0)->offset, 5);   /* clamped */
	assert_int_equal(mqb_client_offsets_find(&l, "t", 3)->offset, -1);  /* untouched */
	mqb_client_offsets_free(&l);
	assert_int_equal(mqb_client_offsets_reset(dir, "kafka", "g1", st, "timestamp:1002", &l,
						  why, sizeof why), MQB_OK);
	assert_int_equal(mqb_client_offsets_find(&l, "s", 0)->offset, 2);
	mqb_client_offsets_free(&l);
	mqb_store_close(st);

	/* a corrupt file is reported, with the file named */
	assert_int_equal(mqb_client_offsets_path(path, sizeof path, dir, "kafka", "g1"), 0);
	assert_int_equal(mqbt_write_file(path, "garbage"), 0);
	assert_int_equal(mqb_client_offsets_load(dir, "kafka", "g1", &l, why, sizeof why),
			 MQB_ERR_CORRUPT);
	assert_non_null(strstr(why, "g1.offsets"));
	mqb_client_offsets_free(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_and_corruption),
		cmocka_unit_test_setup_teardown(test_save_load_reset, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
