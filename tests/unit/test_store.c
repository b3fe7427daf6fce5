/* test_store.c — segment store: append/read, watermarks, roll, retention, time lookup,
 * concurrency, fsync policy, full disk, locking and bad arguments. Real files in /tmp. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/store/batch.h"
#include "bridge/store/recovery.h"
#include "bridge/store/store.h"
#include "tests/support/harness.h"
#include "tests/support/store_fx.h"

static int setup(void **state)
{
	return fx_setup(state);
}

static int teardown(void **state)
{
	return fx_teardown(state);
}

static void fx_reopen(fx_t *f, int flags)
{
	mqb_store_close(f->st);
	f->st = NULL;
	fx_open(f, flags);
}

/* Append n records "v<offset>" (key "k<offset % 7>", ts = ts0 + i) as one batch. */
static int64_t append_n(mqb_partition_t *p, int n, int64_t ts0, size_t vsize)
{
	mqb_watermarks_t w;
	mqb_record_t *recs = calloc((size_t)n, sizeof(*recs));
	char (*keys)[16] = calloc((size_t)n, 16);
	char *vals = calloc((size_t)n, vsize + 32);
	int64_t base = -1;

	assert_non_null(recs);
	mqb_partition_watermarks(p, &w);
	for (int i = 0; i < n; i++) {
		char *v = vals + (size_t)i * (vsize + 32);
		int l = snprintf(v, vsize + 32, "v%lld", (long long)(w.stored + i));
		memset(v + l, 'x', vsize > (size_t)l ? vsize - (size_t)l : 0);
		recs[i].timestamp_ms = ts0 + i;
		recs[i].key = keys[i];
		recs[i].key_len = snprintf(keys[i], 16, "k%lld", (long long)((w.stored + i) % 7));
		recs[i].value = v;
		recs[i].value_len = (ssize_t)(vsize > (size_t)l ? vsize : (size_t)l);
	}
	assert_int_equal(mqb_partition_append(p, recs, (size_t)n, &base), MQB_OK);
	assert_int_equal(base, w.stored);
	free(recs);
	free(keys);
	free(vals);
	return base;
}

/* Read [from, stored): contiguous offsets and "v<offset>" values below `plain_upto`;
 * then MQB_ERR_AGAIN. Returns the count. */
static int64_t read_range(mqb_partition_t *p, int64_t from, int64_t plain_upto)
{
	mqb_reader_t *r = mqb_reader_new(p, from);
	mqb_record_t rec;
	int64_t next = from, count = 0;
	int rc;
	char want[32];

	assert_non_null(r);
	while ((rc = mqb_reader_next_record(r, &rec)) == MQB_OK) {
		assert_int_equal(rec.offset, next);
		if (next < plain_upto) {
			int l = snprintf(want, sizeof(want), "v%lld", (long long)next);
			assert_true(rec.value_len >= l);
			assert_memory_equal(rec.value, want, (size_t)l);
		}
		next++;
		count++;
	}
	assert_int_equal(rc, MQB_ERR_AGAIN);
	assert_int_equal(mqb_reader_position(r), next);
	mqb_reader_destroy(r);
	return count;
}

static int64_t read_all(mqb_partition_t *p, int64_t from)
{
	return read_range(p, from, INT64_MAX);
}

static void test_append_read_reopen(void **state)
{
	fx_t *f = *state;
	mqb_watermarks_t w;
	mqb_rec_header_t h[2] = { { "mqtt.topic", 10, "a/b", 3 }, { "n", 1, NULL, -1 } };
	mqb_record_t rec = { .timestamp_ms = 5, .key = NULL, .key_len = -1, .value = "",
			     .value_len = 0, .headers = h, .header_count = 2 };
	mqb_reader_t *r;
	int64_t base;

	fx_open(f, 0);
	mqb_partition_watermarks(f->p, &w);
	assert_int_equal(w.log_start, 0);
	assert_int_equal(w.stored, 0);
	assert_int_equal(w.segments, 1);
	assert_int_equal(append_n(f->p, 10, 1000, 0), 0);
	assert_int_equal(append_n(f->p, 1, 1000, 0), 10);
	assert_int_equal(append_n(f->p, 100, 1000, 0), 11);
	mqb_partition_watermarks(f->p, &w);
	assert_int_equal(w.stored, 111);
	assert_true(w.size_bytes > 0);
	assert_int_equal(read_all(f->p, 0), 111);
	assert_int_equal(read_all(f->p, 50), 61);
	assert_int_equal(read_all(f->p, 111), 0);

	/* null key, empty value, headers incl. a null header value, survive a reopen */
	assert_int_equal(mqb_partition_append(f->p, &rec, 1, &base), MQB_OK);
	assert_int_equal(base, 111);
	fx_reopen(f, 0);
	assert_true(mqb_partition_recovery_report(f->p)->clean);
	mqb_partition_watermarks(f->p, &w);
	assert_int_equal(w.stored, 112);
	assert_int_equal(w.durable, 112);
	assert_int_equal(read_range(f->p, 0, 111), 112);
	r = mqb_reader_new(f->p, 111);
	{
		mqb_record_t got;
		assert_int_equal(mqb_reader_next_record(r, &got), MQB_OK);
		assert_int_equal(got.offset, 111);
		assert_int_equal(got.key_len, -1);
		assert_int_equal(got.value_len, 0);
		assert_int_equal(got.header_count, 2);
		assert_memory_equal(got.headers[0].key, "mqtt.topic", 10);
		assert_memory_equal(got.headers[0].value, "a/b", 3);
		assert_int_equal(got.headers[1].value_len, -1);
		assert_int_equal(mqb_reader_next_record(r, &got), MQB_ERR_AGAIN);
	}
	mqb_reader_destroy(r);
	/* appends continue after the reopen */
	assert_int_equal(append_n(f->p, 3, 2000, 0), 112);
}

static void test_bad_arguments(void **state)
{
	fx_t *f = *state;
	char err[256];
	mqb_stream_opts_t o;
	mqb_record_t rec = { .key_len = -1, .value = "x", .value_len = 1 };
	mqb_record_t bad = { .key_len = -7, .value = "x", .value_len = 1 };
	mqb_watermarks_t w;
	mqb_store_t *st2;

	assert_false(mqb_stream_name_valid(""));
	assert_false(mqb_stream_name_valid("."));
	assert_false(mqb_stream_name_valid(".."));
	assert_false(mqb_stream_name_valid("a/b"));
	assert_false(mqb_stream_name_valid("../x"));
	assert_false(mqb_stream_name_valid("a b"));
	assert_false(mqb_stream_name_valid(NULL));
	{
		char longname[202];
		memset(longname, 'a', 201);
		longname[201] = 0;
		assert_false(mqb_stream_name_valid(longname));
		longname[200] = 0;
		assert_true(mqb_stream_name_valid(longname));
	}
	assert_true(mqb_stream_name_valid("telemetry.v2_x-1"));

	fx_open(f, 0);
	/* a second opener of the same data_dir is refused and told who holds it */
	st2 = mqb_store_open(f->dir, 0, err, sizeof(err));
	assert_null(st2);
	assert_non_null(strstr(err, "in use"));
	{
		char pid[32];
		snprintf(pid, sizeof(pid), "pid %d", (int)getpid());
		assert_non_null(strstr(err, pid));
	}
	/* bad stream options */
	mqb_stream_opts_defaults(&o);
	o.name = "../escape";
	assert_int_equal(mqb_store_stream_open(f->st, &o, err, sizeof(err)), MQB_ERR_INVAL);
	o.name = "t";
	o.partitions = 0;
	assert_int_equal(mqb_store_stream_open(f->st, &o, err, sizeof(err)), MQB_ERR_INVAL);
	o.partitions = 1;
	o.index_interval_bytes = 0;
	assert_int_equal(mqb_store_stream_open(f->st, &o, err, sizeof(err)), MQB_ERR_INVAL);
	o.index_interval_bytes = 4096;
	o.max_batch_bytes = INT32_MAX;
	assert_int_equal(mqb_store_stream_open(f->st, &o, err, sizeof(err)), MQB_ERR_INVAL);
	o.max_batch_bytes = 16 << 20;
	o.retention_ms = -5;
	assert_int_equal(mqb_store_stream_open(f->st, &o, err, sizeof(err)), MQB_ERR_INVAL);
	assert_int_equal(mqb_store_partition_count(f->st, "t"), -1);   /* nothing opened */
	assert_int_equal(mqb_store_stream_open(f->st, &f->o, err, sizeof(err)), MQB_ERR_EXISTS);
	assert_null(mqb_store_partition(f->st, "s", 1));
	assert_null(mqb_store_partition(f->st, "nope", 0));
	assert_int_equal(mqb_store_partition_count(f->st, "s"), 1);
	assert_int_equal(mqb_store_partition_count(f->st, "nope"), -1);
	/* bad appends change nothing */
	assert_int_equal(mqb_partition_append(f->p, &rec, 0, NULL), MQB_ERR_INVAL);
	assert_int_equal(mqb_partition_append(f->p, NULL, 1, NULL), MQB_ERR_INVAL);
	assert_int_equal(mqb_partition_append(f->p, &bad, 1, NULL), MQB_ERR_INVAL);
	mqb_partition_watermarks(f->p, &w);
	assert_int_equal(w.stored, 0);
	assert_int_equal(w.size_bytes, 0);
	/* readers refuse positions outside the log */
	{
		mqb_reader_t *r = mqb_reader_new(f->p, 5);
		const uint8_t *b;
		size_t len;
		assert_int_equal(mqb_reader_seek(r, 1), MQB_ERR_RANGE);
		assert_int_equal(mqb_reader_seek(r, -1), MQB_ERR_RANGE);
		assert_int_equal(mqb_reader_next_batch(r, &b, &len), MQB_ERR_AGAIN);
		mqb_reader_destroy(r);
	}
	/* a stream cannot shrink */
	mqb_store_close(f->st);
	f->st = NULL;
	f->o.partitions = 3;
	fx_open(f, 0);
	mqb_store_close(f->st);
	f->st = mqb_store_open(f->dir, 0, err, sizeof(err));
	f->o.partitions = 2;
	assert_int_equal(mqb_store_stream_open(f->st, &f->o, err, sizeof(err)), MQB_ERR_CONFIG);
	assert_non_null(strstr(err, "shrink"));
	f->o.partitions = 3;
	/* NULL-safe destroyers */
	mqb_store_close(NULL);
	mqb_reader_destroy(NULL);
}

static void test_toobig(void **state)
{
	fx_t *f = *state;
	mqb_watermarks_t w;
	char *big = calloc(1, 2 << 20);
	mqb_record_t rec = { .key_len = -1, .value = big, .value_len = 2 << 20 };

	f->o.max_batch_bytes = 1 << 20;
	fx_open(f, 0);
	assert_int_equal(mqb_partition_append(f->p, &rec, 1, NULL), MQB_ERR_TOOBIG);
	mqb_partition_watermarks(f->p, &w);
	assert_int_equal(w.stored, 0);
	assert_int_equal(w.size_bytes, 0);
	/* 1 MiB values fit a larger limit and read back intact */
	f->o.max_batch_bytes = 4 << 20;
	fx_reopen(f, 0);
	for (int i = 0; i < (1 << 20); i++)
		big[i] = (char)(i * 13);
	rec.value_len = 1 << 20;
	assert_int_equal(mqb_partition_append(f->p, &rec, 1, NULL), MQB_OK);
	assert_int_equal(mqb_partition_append(f->p, &rec, 1, NULL), MQB_OK);
	fx_reopen(f, 0);
	{
		mqb_reader_t *r = mqb_reader_new(f->p, 1);
		mqb_record_t got;
		assert_int_equal(mqb_reader_next_record(r, &got), MQB_OK);
		assert_int_equal(got.offset, 1);
		assert_int_equal(got.value_len, 1 << 20);
		assert_memory_equal(got.value, big, 1 << 20);
		mqb_reader_destroy(r);
	}
	free(big);
}

static void test_nospc_leaves_log_unchanged(void **state)
{
	fx_t *f = *state;
	mqb_watermarks_t w0, w1;
	mqb_partition_counters_t c;
	struct stat sb;
	char path[512];
	mqb_record_t rec = { .key_len = -1, .value = "payload", .value_len = 7 };

	fx_open(f, 0);
	append_n(f->p, 5, 1000, 10);
	mqb_partition_watermarks(f->p, &w0);
	mqb_store_test_fail_next_write(f->p, ENOSPC);
	assert_int_equal(mqb_partition_append(f->p, &rec, 1, NULL), MQB_ERR_NOSPC);
	mqb_store_test_fail_next_write(f->p, EDQUOT);
	assert_int_equal(mqb_partition_append(f->p, &rec, 1, NULL), MQB_ERR_NOSPC);
	mqb_store_test_fail_next_write(f->p, EIO);
	assert_int_equal(mqb_partition_append(f->p, &rec, 1, NULL), MQB_ERR_IO);
	mqb_partition_watermarks(f->p, &w1);
	assert_int_equal(w1.stored, w0.stored);
	assert_int_equal(w1.size_bytes, w0.size_bytes);
	snprintf(path, sizeof(path), "%s/s-0/00000000000000000000.log", f->dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, w0.size_bytes);      /* the torn half was cut off */
	mqb_partition_counters(f->p, &c);
	assert_int_equal(c.append_errors, 3);
	/* the retry succeeds and the log stays contiguous, also after a reopen */
	append_n(f->p, 2, 1000, 10);
	assert_int_equal(read_all(f->p, 0), 7);
	fx_reopen(f, MQB_STORE_FULL_SCAN);
	assert_false(mqb_partition_recovery_report(f->p)->truncated);
	assert_int_equal(read_all(f->p, 0), 7);
}

static int count_files(const char *dir, const char *suffix)
{
	char cmd[600];
	FILE *pf;
	int n = -1;
	snprintf(cmd, sizeof(cmd), "ls %s | grep -c '%s$'", dir, suffix);
	pf = popen(cmd, "r");
	if (pf) {
		if (fscanf(pf, "%d", &n) != 1)
			n = -1;
		pclose(pf);
	}
	return n;
}

static void test_roll_and_lookup_across_segments(void **state)
{
	fx_t *f = *state;
	mqb_watermarks_t w;
	char pdir[300];
	mqb_reader_t *r;
	const uint8_t *b;
	size_t len;

	f->o.segment_bytes = 16 * 1024;
	f->o.index_interval_bytes = 1024;
	fx_open(f, 0);
	/* 200 batches of 10 records x ~100 bytes: ~230 KiB, ~15 segments */
	for (int i = 0; i < 200; i++)
		append_n(f->p, 10, 1000000 + i * 100, 100);
	mqb_partition_watermarks(f->p, &w);
	assert_int_equal(w.stored, 2000);
	assert_true(w.segments >= 10);
	snprintf(pdir, sizeof(pdir), "%s/s-0", f->dir);
	assert_int_equal(count_files(pdir, ".log"), w.segments);
	/* every offset can be sought to, in any segment */
	r = mqb_reader_new(f->p, 0);
	for (int64_t off = 0; off < 2000; off += 37) {
		mqb_batch_iter_t it;
		mqb_record_t rec;
		bool seen = false;
		assert_int_equal(mqb_reader_seek(r, off), MQB_OK);
		assert_int_equal(mqb_reader_next_batch(r, &b, &len), MQB_OK);
		assert_int_equal(mqb_batch_iter_init(&it, b, len), MQB_OK);
		assert_true(it.hdr.base_offset <= off);
		while (mqb_batch_iter_next(&it, &rec) == 1)
			seen |= rec.offset == off;
		assert_true(seen);
		mqb_batch_iter_destroy(&it);
		assert_int_equal(mqb_reader_position(r), (off / 10) * 10 + 10);
	}
	mqb_reader_destroy(r);
	assert_int_equal(read_all(f->p, 0), 2000);
	assert_int_equal(read_all(f->p, 1234), 766);
	/* time lookup: record i of batch k has ts 1000000 + k*100 + i */
	assert_int_equal(mqb_partition_offset_for_time(f->p, 0), 0);
	assert_int_equal(mqb_partition_offset_for_time(f->p, 1000000 + 57 * 100 + 3), 573);
	assert_int_equal(mqb_partition_offset_for_time(f->p, 1000000 + 57 * 100 + 10), 580);
	assert_int_equal(mqb_partition_offset_for_time(f->p, 1000000 + 199 * 100 + 9), 1999);
	assert_int_equal(mqb_partition_offset_for_time(f->p, 1000000 + 199 * 100 + 10), 2000);
	for (int k = 0; k < 200; k += 13)
		assert_int_equal(mqb_partition_offset_for_time(f->p, 1000000 + k * 100 + 5),
				 k * 10 + 5);
	/* the same after a clean reopen (indexes loaded) and a full scan (rebuilt) */
	for (int pass = 0; pass < 2; pass++) {
		fx_reopen(f, pass ? MQB_STORE_FULL_SCAN : 0);
		mqb_partition_watermarks(f->p, &w);
		assert_int_equal(w.stored, 2000);
		assert_int_equal(mqb_partition_recovery_report(f->p)->indexes_rebuilt,
				 pass ? w.segments : 0);
		assert_int_equal(mqb_partition_offset_for_time(f->p, 1000000 + 57 * 100 + 3), 573);
		assert_int_equal(read_all(f->p, 999), 1001);
	}
	/* verify finds nothing wrong */
	{
		int64_t records = 0;
		mqb_store_close(f->st);
		f->st = NULL;
		assert_int_equal(mqb_store_verify_partition(pdir, NULL, NULL, &records), 0);
		assert_int_equal(records, 2000);
	}
}

static void test_roll_by_time(void **state)
{
	fx_t *f = *state;
	mqb_watermarks_t w;
	int64_t now = mqb_now_ms();

	f->o.segment_ms = 60000;
	fx_open(f, 0);
	append_n(f->p, 5, now - 3600000, 10);        /* an hour old */
	append_n(f->p, 5, now - 3600000 + 1000, 10); /* same segment */
	mqb_partition_watermarks(f->p, &w);
	assert_int_equal(w.segments, 1);
	append_n(f->p, 5, now, 10);                  /* a minute after the first: rolls */
	mqb_partition_watermarks(f->p, &w);
	assert_int_equal(w.segments, 2);
	/* the active segment is now old on the wall clock: maintain rolls it */
	append_n(f->p, 1, now, 10);
	mqb_store_maintain(f->st);
	mqb_partition_watermarks(f->p, &w);
	assert_int_equal(w.segments, 2);             /* young: no roll */
	f->o.segment_ms = 10;
	fx_reopen(f, 0);
	usleep(20000);
	mqb_store_maintain(f->st);
	mqb_partition_watermarks(f->p, &w);
	assert_int_equal(w.segments, 3);
	mqb_store_maintain(f->st);                   /* an empty active segment stays */
	mqb_partition_watermarks(f->p, &w);
	assert_int_equal(w.segments, 3);
	assert_int_equal(read_all(f->p, 0), 16);
}

static void test_retention(void **state)
{
	fx_t *f = *state;
	mqb_watermarks_t w;
	int64_t now = mqb_now_ms();
	mqb_reader_t *slow;
	const uint8_t *b;
	size_t len;

	f->o.segment_bytes = 4096;
	f->o.retention_ms = 3600000;
	fx_open(f, 0);
	/* 20 old batches (two days ago), then 20 new ones; ~1.2 KiB each */
	for (int i = 0; i < 20; i++)
		append_n(f->p, 10, now - 2 * 86400000LL + i, 100);
	for (int i = 0; i < 20; i++)
		append_n(f->p, 10, now + i, 100);
	mqb_partition_watermarks(f->p, &w);
	assert_int_equal(w.log_start, 0);
	slow = mqb_reader_new(f->p, 0);              /* a reader on the first segment */
	assert_int_equal(mqb_reader_next_batch(slow, &b, &len), MQB_OK);
	mqb_store_maintain(f->st);
	mqb_partition_watermarks(f->p, &w);
	/* every segment holding only old records is gone; the first new one stays */
	assert_true(w.log_start > 0);
	assert_true(w.log_start <= 200);
	assert_int_equal(mqb_partition_offset_for_time(f->p, now - 86400000LL), 200);
	/* the slow reader already holds the deleted file open: its batch stays readable,
	 * then it hears that it fell below log start */
	{
		mqb_batch_iter_t it;
		assert_int_equal(mqb_batch_iter_init(&it, b, len), MQB_OK);
		mqb_batch_iter_destroy(&it);
	}
	assert_int_equal(mqb_reader_next_batch(slow, &b, &len), MQB_ERR_RANGE);
	assert_int_equal(mqb_reader_seek(slow, 0), MQB_ERR_RANGE);
	assert_int_equal(mqb_reader_seek(slow, w.log_start), MQB_OK);
	mqb_reader_destroy(slow);
	assert_int_equal(read_all(f->p, w.log_start), 400 - w.log_start);

	/* by bytes: keep at most ~10 KiB; the active segment is never deleted */
	f->o.retention_ms = -1;
	f->o.retention_bytes = 10 * 1024;
	fx_reopen(f, 0);
	mqb_partition_watermarks(f->p, &w);
	assert_true(w.size_bytes > 10 * 1024);
	mqb_store_maintain(f->st);
	mqb_partition_watermarks(f->p, &w);
	/* Kafka's rule: the oldest segment goes while the rest still holds >= the limit */
	assert_true(w.size_bytes >= 10 * 1024);
	assert_true(w.size_bytes < 10 * 1024 + 4096 + 1200);
	assert_true(w.segments >= 1);
	assert_int_equal(w.stored, 400);
	assert_int_equal(read_all(f->p, w.log_start), 400 - w.log_start);
	f->o.retention_bytes = 0;
	fx_reopen(f, 0);
	mqb_store_maintain(f->st);
	mqb_partition_watermarks(f->p, &w);
	assert_int_equal(w.segments, 1);             /* only the active one */
	assert_int_equal(w.stored, 400);
	/* log start survives a reopen */
	fx_reopen(f, 0);
	{
		mqb_watermarks_t w2;
		mqb_partition_watermarks(f->p, &w2);
		assert_int_equal(w2.log_start, w.log_start);
	}
}

/* --- concurrency ----------------------------------------------------------------- */

typedef struct conc {
	mqb_partition_t *p;
	atomic_bool done;
	int64_t total;
} conc_t;

typedef struct conc_reader {
	conc_t *c;
	int64_t read;      /* records read in order, by this thread */
	int errors;
	bool slow;         /* stalls now and then until retention overtakes it */
} conc_reader_t;

static void *reader_thread(void *arg)
{
	conc_reader_t *cr = arg;
	conc_t *c = cr->c;
	mqb_reader_t *r = mqb_reader_new(c->p, 0);
	mqb_record_t rec;
	int64_t next = 0;
	char want[32];

	while (next < c->total) {
		int rc = mqb_reader_next_record(r, &rec);
		if (rc == MQB_ERR_AGAIN) {
			if (atomic_load(&c->done) && next >= c->total)
				break;
			sched_yield();
			continue;
		}
		if (rc || rec.offset != next) {
			cr->errors++;
			break;
		}
		int l = snprintf(want, sizeof(want), "v%lld", (long long)next);
		if (rec.value_len < l || memcmp(rec.value, want, (size_t)l)) {
			cr->errors++;
			break;
		}
		next++;
	}
	cr->read = next;
	mqb_reader_destroy(r);
	return NULL;
}

static void test_concurrent_readers(void **state)
{
	fx_t *f = *state;
	conc_t c = { .total = 20000 };
	conc_reader_t cr[3];
	pthread_t th[3];

	f->o.segment_bytes = 64 * 1024;
	f->o.flush_interval_ms = 2;
	fx_open(f, 0);
	c.p = f->p;
	for (int i = 0; i < 3; i++) {
		cr[i] = (conc_reader_t){ .c = &c };
		assert_int_equal(pthread_create(&th[i], NULL, reader_thread, &cr[i]), 0);
	}
	for (int i = 0; i < 1000; i++) {
		append_n(f->p, 20, 1000 + i, 30);
		if (i % 100 == 0) {
			mqb_store_maintain(f->st);
			(void)mqb_partition_offset_for_time(f->p, 1000 + i / 2);
		}
	}
	atomic_store(&c.done, true);
	for (int i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(cr[i].errors, 0);
		assert_int_equal(cr[i].read, 20000);
	}
}

/* Readers racing retention: a reader whose segment is deleted under it gets
 * MQB_ERR_RANGE, seeks to the new log start and goes on; what it reads is always the
 * right record for its offset, in order. */
static void *chasing_reader(void *arg)
{
	conc_reader_t *cr = arg;
	conc_t *c = cr->c;
	mqb_reader_t *r = mqb_reader_new(c->p, 0);
	mqb_record_t rec;
	int64_t next = 0;
	char want[32];

	for (;;) {
		int rc = mqb_reader_next_record(r, &rec);
		if (rc == MQB_ERR_AGAIN) {
			if (atomic_load(&c->done) && next >= c->total)
				break;
			sched_yield();
			continue;
		}
		if (rc == MQB_ERR_RANGE) {
			mqb_watermarks_t w;
			int seek = MQB_ERR_RANGE;
			/* retention may move log start again between the watermarks and the
			 * seek (then the seek is MQB_ERR_RANGE too): take the newer one */
			for (int tries = 0; tries < 100 && seek == MQB_ERR_RANGE; tries++) {
				mqb_partition_watermarks(c->p, &w);
				if (w.log_start <= next)
					break;
				seek = mqb_reader_seek(r, w.log_start);
			}
			if (w.log_start <= next || seek != MQB_OK) {
				cr->errors++;
				break;
			}
			next = w.log_start;
			cr->read++;      /* counts jumps here */
			continue;
		}
		int l = snprintf(want, sizeof(want), "v%lld", (long long)next);
		if (rc || rec.offset != next || rec.value_len < l ||
		    memcmp(rec.value, want, (size_t)l)) {
			cr->errors++;
			break;
		}
		next++;
		if (cr->slow && next % 2000 == 0) {
			/* stall until retention deleted the segment we read (bounded) */
			for (int i = 0; i < 2000 && !atomic_load(&c->done); i++) {
				mqb_watermarks_t w;
				mqb_partition_watermarks(c->p, &w);
				if (w.log_start > next)
					break;
				usleep(1000);
			}
		}
	}
	mqb_reader_destroy(r);
	return NULL;
}

static void test_readers_race_retention(void **state)
{
	fx_t *f = *state;
	conc_t c = { .total = 30000 };
	conc_reader_t cr[2];
	pthread_t th[2];
	mqb_watermarks_t w;

	f->o.segment_bytes = 8 * 1024;
	f->o.retention_bytes = 16 * 1024;
	f->o.flush_interval_ms = 1;
	fx_open(f, 0);
	c.p = f->p;
	for (int i = 0; i < 2; i++) {
		cr[i] = (conc_reader_t){ .c = &c, .slow = i == 1 };
		assert_int_equal(pthread_create(&th[i], NULL, chasing_reader, &cr[i]), 0);
	}
	for (int i = 0; i < 1500; i++) {
		append_n(f->p, 20, 1000 + i, 30);
		mqb_store_maintain(f->st);
	}
	atomic_store(&c.done, true);
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(cr[i].errors, 0);
		print_message("reader %d: %lld jumps to log start\n", i, (long long)cr[i].read);
	}
	assert_true(cr[1].read > 0);   /* the slow one was overtaken by retention */
	mqb_partition_watermarks(f->p, &w);
	assert_true(w.log_start > 0);
	assert_true(w.size_bytes < 16 * 1024 + 8 * 1024 + 2048);
	assert_int_equal(read_all(f->p, w.log_start), 30000 - w.log_start);
}

/* --- durability ------------------------------------------------------------------ */

static atomic_int fsync_calls;
static void on_fsync(mqb_partition_t *p, uint64_t us, void *arg)
{
	(void)p; (void)us; (void)arg;
	atomic_fetch_add(&fsync_calls, 1);
}

static void test_durable_sync_each_append(void **state)
{
	fx_t *f = *state;
	mqb_watermarks_t w;
	mqb_partition_counters_t c;

	f->o.flush_interval_ms = 0;
	f->o.flush_messages = 0;
	fx_open(f, 0);
	atomic_store(&fsync_calls, 0);
	mqb_store_set_fsync_cb(f->st, on_fsync, NULL);
	for (int i = 0; i < 5; i++) {
		append_n(f->p, 3, 1000, 10);
		mqb_partition_watermarks(f->p, &w);
		assert_int_equal(w.durable, w.stored);   /* before append returned */
	}
	mqb_partition_counters(f->p, &c);
	assert_true(c.fsyncs >= 5);
	assert_true(atomic_load(&fsync_calls) >= 5);
	assert_int_equal(c.appends, 5);
	assert_int_equal(c.records, 15);
}

static void test_durable_interval(void **state)
{
	fx_t *f = *state;
	mqb_watermarks_t w;
	int64_t t0;

	f->o.flush_interval_ms = 300;
	f->o.flush_messages = -1;
	fx_open(f, 0);
	t0 = mqb_mono_ms();
	append_n(f->p, 10, 1000, 10);
	mqb_partition_watermarks(f->p, &w);
	if (mqb_mono_ms() - t0 < 250)
		assert_int_equal(w.durable, 0);          /* not yet: group commit */
	for (int i = 0; i < 200; i++) {
		mqb_partition_watermarks(f->p, &w);
		if (w.durable == 10)
			break;
		usleep(10000);
	}
	assert_int_equal(w.durable, 10);
	assert_true(mqb_mono_ms() - t0 >= 290);     /* ... and not before the interval */
	/* explicit flush moves it at once */
	append_n(f->p, 5, 1000, 10);
	assert_int_equal(mqb_partition_flush(f->p), MQB_OK);
	mqb_partition_watermarks(f->p, &w);
	assert_int_equal(w.durable, 15);
}

static void test_durable_messages(void **state)
{
	fx_t *f = *state;
	mqb_watermarks_t w;

	f->o.flush_interval_ms = -1;
	f->o.flush_messages = 50;
	fx_open(f, 0);
	append_n(f->p, 20, 1000, 10);
	usleep(100000);
	mqb_partition_watermarks(f->p, &w);
	assert_int_equal(w.durable, 0);              /* 20 < 50 and no interval */
	append_n(f->p, 40, 1000, 10);
	for (int i = 0; i < 200; i++) {
		mqb_partition_watermarks(f->p, &w);
		if (w.durable == 60)
			break;
		usleep(5000);
	}
	assert_int_equal(w.durable, 60);
}

static void test_fsync_failure_stops_partition(void **state)
{
	fx_t *f = *state;
	mqb_watermarks_t w;
	mqb_record_t rec = { .key_len = -1, .value = "x", .value_len = 1 };

	/* 0/0: the fsync inside append fails: stored, not durable, then refused */
	f->o.flush_interval_ms = 0;
	f->o.flush_messages = 0;
	fx_open(f, 0);
	append_n(f->p, 2, 1000, 10);
	mqb_store_test_fail_next_fsync(f->p, EIO);
	assert_int_equal(mqb_partition_append(f->p, &rec, 1, NULL), MQB_ERR_IO);
	mqb_partition_watermarks(f->p, &w);
	assert_int_equal(w.stored, 3);
	assert_int_equal(w.durable, 2);
	assert_int_equal(mqb_partition_append(f->p, &rec, 1, NULL), MQB_ERR_IO);
	assert_int_equal(mqb_partition_flush(f->p), MQB_ERR_IO);
	mqb_partition_watermarks(f->p, &w);
	assert_int_equal(w.stored, 3);
	assert_int_equal(w.durable, 2);
	/* the close is not clean: the next open validates by scanning */
	fx_reopen(f, 0);
	assert_false(mqb_partition_recovery_report(f->p)->clean);
	assert_int_equal(read_range(f->p, 0, 2), 3);

	/* group commit: an explicit flush reports the failure, durable stays put */
	f->o.flush_interval_ms = -1;
	f->o.flush_messages = -1;
	fx_reopen(f, 0);
	append_n(f->p, 4, 1000, 10);
	mqb_store_test_fail_next_fsync(f->p, EIO);
	assert_int_equal(mqb_partition_flush(f->p), MQB_ERR_IO);
	mqb_partition_watermarks(f->p, &w);
	assert_int_equal(w.durable, 3);
	assert_int_equal(w.stored, 7);
}

/* --- read-only stores --------------------------------------------------------------- */

static void test_rdonly(void **state)
{
	fx_t *f = *state;
	char err[256];
	mqb_store_t *ro;
	mqb_partition_t *p;
	mqb_watermarks_t w;
	mqb_record_t rec = { .key_len = -1, .value = "x", .value_len = 1 };

	f->o.partitions = 2;
	fx_open(f, 0);
	append_n(f->p, 30, 1000, 10);
	/* a read-only opener works next to the live writer (no lock) */
	ro = mqb_store_open(f->dir, MQB_STORE_RDONLY, err, sizeof(err));
	assert_non_null(ro);
	assert_int_equal(mqb_store_stream_open(ro, NULL, err, sizeof(err)), MQB_OK);
	assert_string_equal(mqb_store_streams(ro)[0], "s");
	assert_null(mqb_store_streams(ro)[1]);
	assert_int_equal(mqb_store_partition_count(ro, "s"), 2);
	p = mqb_store_partition(ro, "s", 0);
	mqb_partition_watermarks(p, &w);
	assert_int_equal(w.stored, 30);
	assert_int_equal(read_all(p, 0), 30);
	assert_int_equal(mqb_partition_append(p, &rec, 1, NULL), MQB_ERR_STATE);
	mqb_store_close(ro);
	/* missing data_dir */
	assert_null(mqb_store_open("/tmp/mqbt-does-not-exist-xyz", MQB_STORE_RDONLY, err,
				   sizeof(err)));
}

/* mqb_store_stream_grow (a reload with more partitions): the existing partition and
 * its records stay, the new ones take appends, fewer partitions and unknown streams
 * are refused, and a reopen with the new count finds everything. */
static void test_stream_grow(void **state)
{
	fx_t *f = *state;
	char err[256] = "";
	mqb_partition_t *p0;

	fx_open(f, 0);
	assert_int_equal(append_n(f->p, 20, 1000, 0), 0);
	p0 = f->p;
	f->o.partitions = 3;
	assert_int_equal(mqb_store_stream_grow(f->st, &f->o, err, sizeof(err)), MQB_OK);
	assert_int_equal(mqb_store_partition_count(f->st, "s"), 3);
	assert_ptr_equal(mqb_store_partition(f->st, "s", 0), p0);   /* untouched */
	assert_int_equal(read_all(p0, 0), 20);
	assert_non_null(mqb_store_partition(f->st, "s", 2));
	assert_int_equal(append_n(mqb_store_partition(f->st, "s", 2), 5, 1000, 0), 0);
	/* the same count again: nothing to do */
	assert_int_equal(mqb_store_stream_grow(f->st, &f->o, err, sizeof(err)), MQB_OK);
	/* fewer: refused, nothing changes */
	f->o.partitions = 2;
	assert_int_equal(mqb_store_stream_grow(f->st, &f->o, err, sizeof(err)), MQB_ERR_CONFIG);
	assert_non_null(strstr(err, "cannot shrink"));
	assert_int_equal(mqb_store_partition_count(f->st, "s"), 3);
	{
		mqb_stream_opts_t o = f->o;
		o.name = "nope";
		o.partitions = 4;
		assert_int_equal(mqb_store_stream_grow(f->st, &o, err, sizeof(err)),
				 MQB_ERR_NOTFOUND);
		assert_int_equal(mqb_store_stream_grow(NULL, &o, err, sizeof(err)), MQB_ERR_INVAL);
	}
	f->o.partitions = 3;
	fx_reopen(f, 0);
	assert_int_equal(mqb_store_partition_count(f->st, "s"), 3);
	assert_int_equal(read_all(f->p, 0), 20);
	assert_int_equal(read_all(mqb_store_partition(f->st, "s", 2), 0), 5);
	assert_int_equal(read_all(mqb_store_partition(f->st, "s", 1), 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_append_read_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_grow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_toobig, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nospc_leaves_log_unchanged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roll_and_lookup_across_segments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roll_by_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_readers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readers_race_retention, setup, teardown),
		cmocka_unit_test_setup_teardown(test_durable_sync_each_append, setup, teardown),
		cmocka_unit_test_setup_teardown(test_durable_interval, setup, teardown),
		cmocka_unit_test_setup_teardown(test_durable_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fsync_failure_stops_partition, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rdonly, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
