/* test_kapi_outq.c — the Kafka connection's output queue (kafka_api_outq.h): bytes and
 * store file ranges interleaved arrive in order and intact through a socket with a
 * small send buffer (short writes, EAGAIN), by sendfile and in copy mode (TLS); each
 * range is released once sent (the server-wide budget returns to 0); a dropped
 * request's ranges are released by truncate; the per-connection and shared caps
 * refuse more ranges; free releases what is still queued. Real store files in /tmp. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "bridge/err.h"
#include "bridge/store/store.h"
#include "connectors/kafka_api/kafka_api_outq.h"
#include "tests/support/harness.h"

typedef struct fx {
	char dir[256];
	mqb_store_t *st;
	mqb_partition_t *p;
	mqb_reader_t *r;
} fx_t;

static int setup(void **state)
{
	fx_t *f = calloc(1, sizeof(*f));
	mqb_stream_opts_t o;
	char err[256];
	static char val[900];

	if (!f || mqbt_tmpdir(f->dir, sizeof(f->dir)))
		return -1;
	mqb_stream_opts_defaults(&o);
	o.name = "s";
	o.segment_bytes = 64 * 1024;
	f->st = mqb_store_open(f->dir, 0, err, sizeof(err));
	if (!f->st || mqb_store_stream_open(f->st, &o, err, sizeof(err)))
		return -1;
	f->p = mqb_store_partition(f->st, "s", 0);
	for (int i = 0; i < 600; i++) {
		mqb_record_t rec = { .timestamp_ms = 1700000000000LL, .key_len = -1,
				     .value = val, .value_len = (ssize_t)(100 + i % 800) };

		memset(val, 'A' + i % 26, sizeof(val));
		if (mqb_partition_append(f->p, &rec, 1, NULL))
			return -1;
	}
	f->r = mqb_reader_new(f->p, 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx_t *f = *state;

	mqb_reader_destroy(f->r);
	mqb_store_close(f->st);
	mqbt_rmrf(f->dir);
	free(f);
	return 0;
}

static void bytes(mqb_kapi_outq_t *q, mqb_buf_t *want, const char *s)
{
	size_t n = strlen(s);

	assert_int_equal(mqb_buf_reserve(&q->buf, n), MQB_OK);
	memcpy(q->buf.data + q->buf.len, s, n);
	q->buf.len += n;
	assert_int_equal(mqb_buf_reserve(want, n), MQB_OK);
	memcpy(want->data + want->len, s, n);
	want->len += n;
}

/* The next range of up to max bytes into q (its bytes appended to want). */
static void range(fx_t *f, mqb_kapi_outq_t *q, mqb_buf_t *want, int64_t max)
{
	mqb_range_t rg;

	assert_int_equal(mqb_reader_next_range(f->r, max, true, &rg), MQB_OK);
	assert_int_equal(mqb_buf_reserve(want, (size_t)rg.len), MQB_OK);
	assert_int_equal(pread(rg.fd, want->data + want->len, (size_t)rg.len, rg.pos), rg.len);
	want->len += (size_t)rg.len;
	assert_int_equal(mqb_kapi_outq_add_file(q, &rg), MQB_OK);
	assert_int_equal(rg.fd, -1);             /* taken over */
}

/* Flush q into sv[0] (non-blocking, tiny buffer) while draining sv[1] into got, as
 * the server's conn_flush does. */
static void pump(mqb_kapi_outq_t *q, bool copy, int sv[2], mqb_buf_t *got)
{
	mqb_kapi_chunk_t ch;
	int rc, shorts = 0;

	for (int guard = 0; guard < 1000000; guard++) {
		ssize_t n;

		rc = mqb_kapi_outq_peek(q, copy, &ch);
		assert_true(rc >= 0);
		if (rc == 0)
			break;
		if (ch.fd >= 0) {
			off_t off = (off_t)ch.pos;

			assert_false(copy);
			n = sendfile(sv[0], ch.fd, &off, ch.len);
		} else
			n = send(sv[0], ch.data, ch.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
			n = 0;
		}
		if ((size_t)n < ch.len)
			shorts++;
		if (n > 0)
			mqb_kapi_outq_consumed(q, (size_t)n);
		/* the peer reads a little at a time */
		assert_int_equal(mqb_buf_reserve(got, 3000), MQB_OK);
		n = recv(sv[1], got->data + got->len, 3000, MSG_DONTWAIT);
		if (n > 0)
			got->len += (size_t)n;
	}
	assert_int_equal(rc, 0);
	for (ssize_t n; assert_int_equal(mqb_buf_reserve(got, 65536), MQB_OK),
	     (n = recv(sv[1], got->data + got->len, 65536, MSG_DONTWAIT)) > 0;)
		got->len += (size_t)n;
	assert_true(shorts > 0);                 /* partial writes were exercised */
}

static void run_stream(fx_t *f, bool copy)
{
	mqb_kapi_files_budget_t budget = { 0, 100 };
	mqb_kapi_outq_t q = { .shared = &budget };
	mqb_buf_t want = { 0 }, got = { 0 };
	int sv[2], small = 4096;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
	assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	bytes(&q, &want, "HDR1");
	range(f, &q, &want, 200 * 1024);         /* a whole segment */
	range(f, &q, &want, 10);                 /* one batch, same anchor */
	bytes(&q, &want, "MIDDLE");
	range(f, &q, &want, 30000);
	bytes(&q, &want, "TAIL");
	assert_int_equal(budget.held, 3);
	assert_int_equal(mqb_kapi_outq_nfiles(&q), 3);
	assert_int_equal(mqb_kapi_outq_pending(&q), (int64_t)want.len);
	assert_int_equal(q.file_added, (int64_t)want.len - 14);
	pump(&q, copy, sv, &got);
	assert_int_equal(got.len, want.len);
	assert_memory_equal(got.data, want.data, want.len);
	assert_int_equal(budget.held, 0);        /* every range released once sent */
	assert_int_equal(mqb_kapi_outq_pending(&q), 0);
	mqb_kapi_outq_free(&q);
	assert_ptr_equal(q.shared, &budget);
	close(sv[0]);
	close(sv[1]);
	mqb_buf_free(&want);
	mqb_buf_free(&got);
}

static void test_sendfile_partial_writes(void **state)
{
	run_stream(*state, false);
}

static void test_copy_mode_partial_writes(void **state)
{
	run_stream(*state, true);
}

static void test_truncate_caps_and_free(void **state)
{
	fx_t *f = *state;
	mqb_kapi_files_budget_t budget = { 0, 3 };
	mqb_kapi_outq_t q = { .shared = &budget };
	mqb_buf_t want = { 0 };
	mqb_range_t rg;
	size_t n0, len0;
	int64_t added0;

	bytes(&q, &want, "A");
	range(f, &q, &want, 1000);
	/* a request that parks: its bytes and ranges are dropped */
	n0 = q.n;
	len0 = q.buf.len;
	added0 = q.file_added;
	bytes(&q, &want, "parked");
	range(f, &q, &want, 1000);
	range(f, &q, &want, 1000);
	assert_int_equal(budget.held, 3);
	/* the shared budget is full: refused, the range stays with the caller */
	assert_int_equal(mqb_reader_next_range(f->r, 1000, true, &rg), MQB_OK);
	assert_int_equal(mqb_kapi_outq_add_file(&q, &rg), MQB_ERR_TOOBIG);
	assert_true(rg.fd >= 0);
	mqb_range_release(&rg);
	mqb_kapi_outq_truncate(&q, len0, n0);
	assert_int_equal(budget.held, 1);
	assert_int_equal(q.buf.len, len0);
	assert_int_equal(q.file_added, added0);
	assert_int_equal(mqb_kapi_outq_nfiles(&q), 1);
	/* the per-connection cap */
	budget.max = 1000;
	while (mqb_kapi_outq_nfiles(&q) < KAPI_OUTQ_MAX_FILES) {
		assert_int_equal(mqb_reader_next_range(f->r, 100, true, &rg), MQB_OK);
		assert_int_equal(mqb_kapi_outq_add_file(&q, &rg), MQB_OK);
	}
	assert_int_equal(mqb_reader_next_range(f->r, 100, true, &rg), MQB_OK);
	assert_int_equal(mqb_kapi_outq_add_file(&q, &rg), MQB_ERR_TOOBIG);
	mqb_range_release(&rg);
	assert_int_equal(budget.held, KAPI_OUTQ_MAX_FILES);
	/* a closing connection: everything released */
	mqb_kapi_outq_free(&q);
	assert_int_equal(budget.held, 0);
	assert_int_equal(mqb_kapi_outq_pending(&q), 0);
	mqb_buf_free(&want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sendfile_partial_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_mode_partial_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncate_caps_and_free, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
