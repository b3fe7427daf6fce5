/* test_store_range.c — zero-copy ranges (mqb_reader_next_range): the bytes of the
 * ranges are exactly the batches a copying reader returns under the same limits (the
 * first batch forced, whole batches, across segments, with and without the offset
 * index near the end); a held range keeps reading the right bytes (pread and
 * sendfile) while the partition rolls and while retention deletes its segment, and
 * releasing it closes the fd; a batch over the limit is MQB_ERR_TOOBIG unless it is
 * the first; a known bad batch stops a range and is MQB_ERR_CORRUPT at it; the stored
 * watermark bounds every range. Real files in /tmp. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <unistd.h>
#include <cmocka.h>

#include "bridge/err.h"
#include "bridge/store/batch.h"
#include "bridge/store/store.h"
#include "tests/support/harness.h"

typedef struct fx {
	char dir[256];
	mqb_store_t *st;
	mqb_partition_t *p;
	mqb_stream_opts_t o;
	int64_t nbatches;
} fx_t;

static int setup(void **state)
{
	fx_t *f = calloc(1, sizeof(*f));

	if (!f || mqbt_tmpdir(f->dir, sizeof(f->dir)))
		return -1;
	mqb_stream_opts_defaults(&f->o);
	f->o.name = "s";
	f->o.segment_bytes = 16 * 1024;
	f->o.segment_ms = -1;
	f->o.index_interval_bytes = 1024;
	f->o.flush_interval_ms = 20;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx_t *f = *state;

	mqb_store_close(f->st);
	mqbt_rmrf(f->dir);
	free(f);
	return 0;
}

static void fx_open(fx_t *f)
{
	char err[512] = "";

	f->st = mqb_store_open(f->dir, 0, err, sizeof(err));
	assert_non_null(f->st);
	if (mqb_store_stream_open(f->st, &f->o, err, sizeof(err)))
		fail_msg("open: %s", err);
	f->p = mqb_store_partition(f->st, "s", 0);
	assert_non_null(f->p);
}

/* Batch i: 1..7 records, values of 1..600 bytes (batches of very different sizes). */
static void append_batches(fx_t *f, int n)
{
	for (int k = 0; k < n; k++, f->nbatches++) {
		int64_t i = f->nbatches;
		mqb_record_t recs[7];
		static char val[600];
		size_t nr = (size_t)(i % 7) + 1;

		memset(val, 'a' + (int)(i % 26), sizeof(val));
		for (size_t j = 0; j < nr; j++) {
			memset(&recs[j], 0, sizeof(recs[j]));
			recs[j].timestamp_ms = 1700000000000LL + i;
			recs[j].key = "k";
			recs[j].key_len = 1;
			recs[j].value = val;
			recs[j].value_len = (ssize_t)((i * 37 + (int64_t)j * 11) % 600) + 1;
		}
		assert_int_equal(mqb_partition_append(f->p, recs, nr, NULL), MQB_OK);
	}
}

/* What the copying Fetch sends from offset with limit max (first batch forced). */
static size_t copy_expect(mqb_partition_t *p, int64_t offset, int64_t max, mqb_buf_t *out)
{
	mqb_reader_t *r = mqb_reader_new(p, offset);
	const uint8_t *b;
	size_t len, n = 0;

	out->len = 0;
	while (mqb_reader_next_batch(r, &b, &len) == MQB_OK) {
		if (out->len > 0 && (int64_t)(out->len + len) > max)
			break;
		assert_int_equal(mqb_buf_reserve(out, len), MQB_OK);
		memcpy(out->data + out->len, b, len);
		out->len += len;
		n++;
		if ((int64_t)out->len >= max)
			break;
	}
	mqb_reader_destroy(r);
	return n;
}

static void pread_all(int fd, int64_t pos, int64_t len, uint8_t *dst)
{
	int64_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, dst + got, (size_t)(len - got), (off_t)(pos + got));
		assert_true(n > 0);
		got += n;
	}
}

/* The same through ranges: their bytes appended to out; returns the ranges used. */
static int range_read(mqb_reader_t *r, int64_t max, mqb_buf_t *out)
{
	int nr = 0;

	out->len = 0;
	for (;;) {
		mqb_range_t rg;
		int64_t room = max - (int64_t)out->len;
		int rc;

		if (room <= 0 && out->len > 0)
			break;
		rc = mqb_reader_next_range(r, room, out->len == 0, &rg);
		if (rc == MQB_ERR_TOOBIG || rc == MQB_ERR_AGAIN)
			break;
		assert_int_equal(rc, MQB_OK);
		assert_true(rg.len > 0 && rg.fd >= 0);
		assert_int_equal(mqb_buf_reserve(out, (size_t)rg.len), MQB_OK);
		pread_all(rg.fd, rg.pos, rg.len, out->data + out->len);
		out->len += (size_t)rg.len;
		assert_true(rg.next_offset == mqb_reader_position(r));
		mqb_range_release(&rg);
		nr++;
	}
	return nr;
}

static void test_ranges_match_copy(void **state)
{
	fx_t *f = *state;
	mqb_buf_t want = { 0 }, got = { 0 };
	mqb_watermarks_t w;
	static const int64_t limits[] = { 1, 100, 700, 1500, 4000, 9000, 40000, 1 << 20 };
	int multi = 0;

	fx_open(f);
	append_batches(f, 400);
	mqb_partition_watermarks(f->p, &w);
	assert_true(w.segments > 8);
	for (int64_t off = 0; off < w.stored; off += 13) {
		for (size_t l = 0; l < sizeof(limits) / sizeof(limits[0]); l++) {
			mqb_reader_t *r = mqb_reader_new(f->p, off);
			size_t nb = copy_expect(f->p, off, limits[l], &want);
			int nr = range_read(r, limits[l], &got);

			assert_true(nb >= 1);
			if (got.len != want.len || memcmp(got.data, want.data, want.len))
				fail_msg("offset %lld limit %lld: %zu bytes by range, %zu by copy",
					 (long long)off, (long long)limits[l], got.len, want.len);
			multi += nr > 1;
			mqb_reader_destroy(r);
		}
	}
	assert_true(multi > 0);   /* some reads crossed a segment end */
	/* a reader following on: consecutive ranges cover the log once, in order */
	{
		mqb_reader_t *r = mqb_reader_new(f->p, 0);
		mqb_range_t rg;
		int64_t next = 0, bytes = 0;

		while (mqb_reader_next_range(r, 3000, true, &rg) == MQB_OK) {
			assert_int_equal(rg.first_offset, next);
			next = rg.next_offset;
			bytes += rg.len;
			mqb_range_release(&rg);
		}
		assert_int_equal(next, w.stored);
		assert_int_equal(bytes, w.size_bytes);
		assert_int_equal(mqb_reader_next_range(r, 3000, true, &rg), MQB_ERR_AGAIN);
		assert_int_equal(rg.fd, -1);
		mqb_range_release(&rg);    /* an empty range releases harmlessly */
		mqb_reader_destroy(r);
	}
	mqb_buf_free(&want);
	mqb_buf_free(&got);
}

static void test_first_batch_limit(void **state)
{
	fx_t *f = *state;
	mqb_reader_t *r;
	mqb_range_t rg;

	fx_open(f);
	append_batches(f, 20);
	r = mqb_reader_new(f->p, 0);
	/* every batch is > 10 bytes: refused unless it is the first of the answer */
	assert_int_equal(mqb_reader_next_range(r, 10, false, &rg), MQB_ERR_TOOBIG);
	assert_int_equal(mqb_reader_position(r), 0);
	assert_int_equal(mqb_reader_next_range(r, 10, true, &rg), MQB_OK);
	assert_int_equal(rg.first_offset, 0);
	assert_int_equal(rg.next_offset, 1);    /* batch 0 holds one record: alone */
	mqb_range_release(&rg);
	/* the middle of a batch: the range starts with that whole batch */
	assert_int_equal(mqb_reader_seek(r, 4), MQB_OK);   /* batch 1 is offsets 1..2, 2 is 3..5 */
	assert_int_equal(mqb_reader_next_range(r, 1, true, &rg), MQB_OK);
	assert_int_equal(rg.first_offset, 3);
	assert_int_equal(rg.next_offset, 6);
	mqb_range_release(&rg);
	mqb_reader_destroy(r);
}

/* A held range reads the same bytes after rolls and after retention deleted its
 * segment (also through sendfile), and its release closes the fd. */
static void test_held_across_roll_and_retention(void **state)
{
	fx_t *f = *state;
	mqb_buf_t want = { 0 };
	mqb_reader_t *r;
	mqb_range_t act, old;
	mqb_watermarks_t w;
	uint8_t *got;
	int fds0, pipefd[2];

	f->o.retention_bytes = 3 * f->o.segment_bytes;
	fx_open(f);
	append_batches(f, 60);
	assert_int_equal(mqb_partition_flush(f->p), MQB_OK);
	fds0 = mqbt_fd_count(0, NULL, NULL);
	/* a range in a sealed segment (its .log opened for the reader) ... */
	r = mqb_reader_new(f->p, 0);
	assert_int_equal(mqb_reader_next_range(r, 1 << 20, true, &old), MQB_OK);
	mqb_reader_destroy(r);                     /* the range alone holds the fd now
						    * (seen below: open after retention) */
	/* ... and one at the end of the active segment */
	mqb_partition_watermarks(f->p, &w);
	r = mqb_reader_new(f->p, w.stored - 1);
	assert_int_equal(mqb_reader_next_range(r, 1 << 20, true, &act), MQB_OK);
	assert_int_equal(act.next_offset, w.stored);
	mqb_reader_destroy(r);

	/* many rolls, then retention deletes both segments */
	append_batches(f, 300);
	assert_int_equal(mqb_partition_flush(f->p), MQB_OK);
	mqb_store_maintain(f->st);
	mqb_partition_watermarks(f->p, &w);
	assert_true(w.log_start > act.next_offset);
	assert_int_equal(mqbt_deleted_fds(f->dir), 2);

	/* the bytes are still those a copying reader returned before (recomputed from
	 * the batches' contents: offsets 0.. and the range's offsets) */
	got = malloc((size_t)old.len);
	assert_non_null(got);
	pread_all(old.fd, old.pos, old.len, got);
	{
		mqb_batch_iter_t it;
		mqb_record_t rec;
		int64_t expect = 0;

		memset(&it, 0, sizeof(it));
		for (int64_t at = 0; at < old.len;) {
			mqb_batch_hdr_t h;
			char why[160];

			assert_int_equal(mqb_batch_header_parse(got + at, (size_t)(old.len - at), &h,
								why, sizeof(why)), MQB_OK);
			assert_int_equal(mqb_batch_iter_init(&it, got + at, mqb_batch_total_size(&h)),
					 MQB_OK);
			while (mqb_batch_iter_next(&it, &rec) == 1)
				assert_int_equal(rec.offset, expect++);
			at += (int64_t)mqb_batch_total_size(&h);
		}
		mqb_batch_iter_destroy(&it);
		assert_int_equal(expect, old.next_offset);
	}
	/* sendfile from the unlinked file, as the Kafka listener does */
	assert_int_equal(pipe(pipefd), 0);
	{
		off_t off = (off_t)act.pos;
		ssize_t n = sendfile(pipefd[1], act.fd, &off, (size_t)act.len);
		uint8_t *buf = malloc((size_t)act.len);
		mqb_batch_hdr_t h;
		char why[160];

		assert_int_equal(n, act.len);
		assert_int_equal(read(pipefd[0], buf, (size_t)act.len), act.len);
		assert_int_equal(mqb_batch_header_parse(buf, (size_t)act.len, &h, why,
							sizeof(why)), MQB_OK);
		assert_int_equal(h.base_offset, act.first_offset);
		free(buf);
	}
	close(pipefd[0]);
	close(pipefd[1]);
	mqb_range_release(&old);
	mqb_range_release(&act);
	mqb_range_release(&act);                   /* twice: harmless */
	assert_int_equal(mqbt_deleted_fds(f->dir), 0);
	/* no leak (the flusher may hold a segment it has still to fsync for a moment) */
	for (int i = 0; i < 500 && mqbt_fd_count(0, NULL, NULL) > fds0; i++)
		mqbt_sleep_ms(10);
	assert_true(mqbt_fd_count(0, NULL, NULL) <= fds0);
	/* below log start now */
	r = mqb_reader_new(f->p, 0);
	assert_int_equal(mqb_reader_next_range(r, 100, true, &old), MQB_ERR_RANGE);
	mqb_reader_destroy(r);
	free(got);
	mqb_buf_free(&want);
}

/* A bad batch: ranges before it stop at it, a range at it is MQB_ERR_CORRUPT; its bytes
 * are never handed out. */
static void test_corrupt_batch_stops_range(void **state)
{
	fx_t *f = *state;
	mqb_reader_t *r;
	mqb_range_t rg;
	mqb_buf_t b = { 0 };
	int64_t bad_off, bad_pos;
	char path[512];
	int fd;

	f->o.segment_bytes = 1 << 20;
	fx_open(f);
	append_batches(f, 14);                      /* all in the first segment */
	assert_int_equal(mqb_partition_flush(f->p), MQB_OK);
	/* batch 10 starts at offset sum(i%7+1, i<10) */
	bad_off = 0;
	for (int i = 0; i < 10; i++)
		bad_off += i % 7 + 1;
	r = mqb_reader_new(f->p, 0);
	assert_int_equal(range_read(r, 1 << 20, &b), 1);
	mqb_reader_destroy(r);
	bad_pos = 0;
	for (int i = 0; i < 10; i++) {
		mqb_batch_hdr_t h;
		mqb_batch_header_peek(b.data + bad_pos, MQB_BATCH_HDR_SIZE, &h);
		bad_pos += (int64_t)mqb_batch_total_size(&h);
	}
	/* flip a value byte of batch 10 (CRC no longer matches; framing intact) */
	snprintf(path, sizeof(path), "%s/s-0/%020d.log", f->dir, 0);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	{
		uint8_t c = b.data[bad_pos + 70] ^ 0xff;
		assert_int_equal(pwrite(fd, &c, 1, bad_pos + 70), 1);
	}
	close(fd);
	/* not known yet: the range trusts the stored bytes (no CRC computed) */
	r = mqb_reader_new(f->p, 0);
	assert_int_equal(mqb_reader_next_range(r, 1 << 20, true, &rg), MQB_OK);
	assert_true(rg.next_offset > bad_off);
	mqb_range_release(&rg);
	/* a copying reader finds it: the partition is corrupt there */
	{
		mqb_record_t rec;
		int rc;

		assert_int_equal(mqb_reader_seek(r, 0), MQB_OK);
		while ((rc = mqb_reader_next_record(r, &rec)) == MQB_OK)
			;
		assert_int_equal(rc, MQB_ERR_CORRUPT);
	}
	/* now ranges stop before it, and one at it is refused */
	assert_int_equal(mqb_reader_seek(r, 0), MQB_OK);
	assert_int_equal(mqb_reader_next_range(r, 1 << 20, true, &rg), MQB_OK);
	assert_int_equal(rg.pos + rg.len, bad_pos);
	assert_int_equal(rg.next_offset, bad_off);
	mqb_range_release(&rg);
	assert_int_equal(mqb_reader_next_range(r, 1 << 20, true, &rg), MQB_ERR_CORRUPT);
	assert_int_equal(mqb_reader_seek(r, bad_off + 1), MQB_OK);
	assert_int_equal(mqb_reader_next_range(r, 1 << 20, true, &rg), MQB_ERR_CORRUPT);
	mqb_reader_destroy(r);
	mqb_buf_free(&b);
}

/* A broken length field found by the walk itself: reported, the range ends before it. */
static void test_bad_length_found_by_walk(void **state)
{
	fx_t *f = *state;
	mqb_reader_t *r;
	mqb_range_t rg;
	mqb_corrupt_info_t ci;
	char path[512];
	uint8_t junk[4] = { 0x7f, 0xff, 0xff, 0xff };
	mqb_batch_hdr_t h;
	uint8_t hdr[MQB_BATCH_HDR_SIZE];
	int64_t pos = 0;
	int fd;

	f->o.index_interval_bytes = 1 << 30;        /* no index: the walk reads each header */
	fx_open(f);
	append_batches(f, 6);
	assert_int_equal(mqb_partition_flush(f->p), MQB_OK);
	snprintf(path, sizeof(path), "%s/s-0/%020d.log", f->dir, 0);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	for (int i = 0; i < 4; i++) {               /* batch 4's length field */
		assert_int_equal(pread(fd, hdr, sizeof(hdr), pos), (ssize_t)sizeof(hdr));
		mqb_batch_header_peek(hdr, sizeof(hdr), &h);
		pos += (int64_t)mqb_batch_total_size(&h);
	}
	assert_int_equal(pwrite(fd, junk, 4, pos + 8), 4);
	close(fd);
	r = mqb_reader_new(f->p, 0);
	assert_int_equal(mqb_reader_next_range(r, 1 << 20, true, &rg), MQB_OK);
	assert_int_equal(rg.pos + rg.len, pos);
	assert_int_equal(rg.next_offset, 1 + 2 + 3 + 4);
	mqb_range_release(&rg);
	assert_true(mqb_partition_corrupt_info(f->p, &ci));
	assert_int_equal(ci.byte_pos, pos);
	assert_int_equal(mqb_reader_next_range(r, 1 << 20, true, &rg), MQB_ERR_CORRUPT);
	mqb_reader_destroy(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ranges_match_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_batch_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_held_across_roll_and_retention, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_batch_stops_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_length_found_by_walk, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
