/*
 * test_kafka_api_sendfile.c — the zero-copy Fetch (stored batches sent from the
 * segment files by sendfile) with real clients and small segments (16/64 KiB):
 * - kcat -C reads a stream spanning ~40 segments byte-identical to `log dump --json`,
 *   and /stats says the record bytes went out by sendfile;
 * - a slow consumer (a raw client with a 4 KiB receive buffer) holds a ~1 MB Fetch
 *   answer half-read while ingest continues and retention deletes every segment that
 *   answer comes from: the daemon keeps the deleted files open (seen in /proc), the
 *   rest of the answer arrives intact (CRC-32C, contiguous offsets, the published
 *   values), and the deleted files are closed once it is read;
 * - a client that pipelines Fetch requests and never reads while ingest keeps going
 *   and retention runs: no crash, ingest unaffected, kcat still served, and when it
 *   disconnects the daemon's fd count returns to what it was (no deleted file left
 *   open).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "bridge/store/batch.h"
#include "tests/integration/ingest_util.h"
#include "tests/integration/kafka_raw.h"
#include "tests/integration/kafka_api_fx.h"

#define ZC "zc"          /* 16 KiB segments, kept */
#define ZR "zr"          /* 64 KiB segments, retention 1 MiB */
#define VALUE_PAD 90     /* value "seq-%08d" + padding: ~100 bytes */

static mqbt_broker_t broker;
static iu_daemon_t daemon_;
static int kport;
static char bootstrap[64];
static iu_pub_t pub;
static long long published;   /* records published so far, every stream */
static int zr_next;           /* next seq published to ZR */

static int group_setup(void **state)
{
	char rest[1024];

	(void)state;
	if (kapi_env_begin(&broker, &daemon_, &kport, bootstrap, sizeof bootstrap) != 0)
		return -1;
	snprintf(rest, sizeof rest,
		 "streams = ( { name = \"%s\"; segment_bytes = 16384; },\n"
		 "            { name = \"%s\"; segment_bytes = 65536; "
		 "retention_bytes = 1048576; } );\n"
		 "routes = ( { filter = \"zc/+\"; stream = \"%s\"; key = \"{1}\"; },\n"
		 "           { filter = \"zr/+\"; stream = \"%s\"; key = \"{1}\"; } );\n"
		 "kafka_api = { listen = \"127.0.0.1:%d\"; max_connections = 16; };\n",
		 ZC, ZR, ZC, ZR, kport);
	assert_int_equal(iu_daemon_config(&daemon_, broker.port, "kapi-zc", NULL, rest), 0);
	kapi_daemon_start(&daemon_, kport);
	assert_int_equal(iu_pub_start(&pub, broker.port, "kapi-zc-pub", true), 0);
	return 0;
}

static int group_teardown(void **state)
{
	iu_pub_stop(&pub);
	if (daemon_.pid > 0)
		assert_int_equal(mqbt_stop(daemon_.pid, 15000), 0);
	daemon_.pid = 0;
	return iu_teardown(state);
}

/* n records to stream (topic "<stream>/dev<i%5>"), value "seq-<8 digits>" + padding;
 * waits until all are stored. */
static void publish(const char *stream, int first, int n)
{
	for (int i = first; i < first + n; i++) {
		char topic[64], val[128];

		snprintf(topic, sizeof topic, "%s/dev%d", stream, i % 5);
		snprintf(val, sizeof val, "seq-%08d-%.*s", i, VALUE_PAD,
			 "................................................................"
			 "..................................");
		assert_int_equal(iu_pub_send(&pub, topic, val, strlen(val), 1, NULL), 0);
		iu_pub_throttle(&pub, 2000);
	}
	assert_int_equal(iu_pub_wait_acked(&pub, 60000), 0);
	published += n;
	assert_int_equal(iu_daemon_wait_stored(&daemon_, published, 60000), 0);
}

/* kafka_api.<name> from GET /stats, or -1. */
static long long kstat(const char *name)
{
	char *body = NULL;
	int status = 0;
	long long v = -1;
	cJSON *doc, *it;

	if (mqbt_http_get(daemon_.stats_port, "/stats", &status, &body) != 0 || status != 200) {
		free(body);
		return -1;
	}
	doc = cJSON_Parse(body);
	it = doc ? cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "kafka_api"), name) : NULL;
	if (cJSON_IsNumber(it))
		v = (long long)it->valuedouble;
	cJSON_Delete(doc);
	free(body);
	return v;
}

/* The daemon's open fds: all of them, and those on a deleted file of its data dir. */
static void daemon_fds(int *all, int *deleted)
{
	*all = mqbt_fd_count(daemon_.pid, daemon_.data, deleted);
	assert_true(*all >= 0);
}

/* A connection whose receive buffer is small (set before connect, so the window is
 * small too): a slow consumer. */
static int slow_connect(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)kport) };
	struct timeval tv = { .tv_sec = 10 };
	int fd = socket(AF_INET, SOCK_STREAM, 0), small = 4096;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return fd;
}

/* Fetch v4 of ZR partition 0 from offset, 8 MiB allowed, max_wait 0. */
static void fetch_req(rawreq_t *q, int corr, int64_t offset)
{
	rq_start(q, 1, 4, corr);
	rq_i32(q, -1); rq_i32(q, 0); rq_i32(q, 1); rq_i32(q, 8 << 20); rq_i8(q, 0);
	rq_i32(q, 1);
	rq_str(q, ZR);
	rq_i32(q, 1);
	rq_i32(q, 0); rq_i64(q, offset); rq_i32(q, 8 << 20);
	put32(q->b, (uint32_t)(q->n - 4));
}

/* ListOffsets v1 earliest of ZR partition 0. */
static int64_t zr_earliest(void)
{
	int fd = kraw_connect(kport);
	rawreq_t q;
	uint8_t *r;
	size_t len, at;
	int64_t off;

	rq_start(&q, 2, 1, 5);
	rq_i32(&q, -1);
	rq_i32(&q, 1);
	rq_str(&q, ZR);
	rq_i32(&q, 1);
	rq_i32(&q, 0); rq_i64(&q, -2);
	rq_send(fd, &q);
	r = rq_recv(fd, &len);
	at = 4 + 4 + 2 + strlen(ZR) + 4 + 4;     /* corr, topics, name, parts, index */
	assert_int_equal(get16(r + at), 0);
	off = get64(r + at + 2 + 8);             /* error, timestamp */
	free(r);
	close(fd);
	return off;
}

/* Wait (up to 20 s: retention runs every 5 s) until ZR's log start passes offset. */
static int64_t wait_retention_past(int64_t offset)
{
	int64_t e = zr_earliest();

	for (int i = 0; i < 200 && e <= offset; i++) {
		mqbt_sleep_ms(100);
		e = zr_earliest();
	}
	assert_true(e > offset);
	return e;
}

static void recv_exact(int fd, uint8_t *p, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t k = recv(fd, p + got, n - got, 0);

		if (k < 0 && errno == EINTR)
			continue;
		assert_true(k > 0);
		got += (size_t)k;
	}
}

/* Check a Fetch v4 answer body for ZR (corr): the records are whole valid batches
 * (CRC-32C) with contiguous offsets from `from`, values seq-<offset + seq0>. Returns
 * the number of records, or -1 for OFFSET_OUT_OF_RANGE without records (the request
 * was read after retention passed `from`). */
static int64_t check_answer(const uint8_t *r, size_t len, int corr, int64_t from, int seq0)
{
	size_t at = 4 + 4 + 4 + 2 + strlen(ZR) + 4, rec_len;
	mqb_batch_iter_t it;
	int64_t next = from;
	int err;

	memset(&it, 0, sizeof it);
	assert_int_equal(get32(r), corr);
	assert_int_equal(get32(r + at), 0);
	err = get16(r + at + 4);
	at += 4 + 2 + 8 + 8 + 4;
	rec_len = (size_t)get32(r + at);
	at += 4;
	assert_int_equal(at + rec_len, len);
	if (err == 1 && rec_len == 0)
		return -1;
	assert_int_equal(err, 0);
	for (size_t p = at; p < len;) {
		mqb_batch_hdr_t h;
		mqb_record_t rec;
		char why[160] = "";

		if (mqb_batch_header_parse(r + p, len - p, &h, why, sizeof why) != 0)
			fail_msg("batch at byte %zu of the answer: %s", p - at, why);
		assert_int_equal(mqb_batch_iter_init(&it, r + p, mqb_batch_total_size(&h)), 0);
		while (mqb_batch_iter_next(&it, &rec) == 1) {
			char want[32];

			if (rec.offset < from)
				continue;
			assert_int_equal(rec.offset, next);
			snprintf(want, sizeof want, "seq-%08d-", (int)(rec.offset + seq0));
			assert_true(rec.value_len > 13 && !memcmp(rec.value, want, 13));
			next++;
		}
		p += mqb_batch_total_size(&h);
	}
	mqb_batch_iter_destroy(&it);
	return next - from;
}

/* --- tests ------------------------------------------------------------------------- */

static void test_kcat_across_segments(void **state)
{
	long long sf0 = kstat("fetch_sendfile_bytes"), fb0 = kstat("fetch_bytes"), sf, fb;

	(void)state;
	publish(ZC, 0, 5000);
	kapi_assert_same_records(daemon_.data, bootstrap, NULL, ZC, 5000);
	sf = kstat("fetch_sendfile_bytes") - sf0;
	fb = kstat("fetch_bytes") - fb0;
	fprintf(stderr, "kcat read %lld record bytes, %lld of them by sendfile\n", fb, sf);
	assert_true(fb > 5000 * 100);
	assert_true(sf * 10 >= fb * 9);          /* (nearly) all of it zero-copy */
}

/* Read one whole answer frame (malloc'd body); *len its length. */
static uint8_t *recv_answer(int fd, size_t *len)
{
	uint8_t sz[4], *body;

	recv_exact(fd, sz, 4);
	*len = (size_t)get32(sz);
	assert_true(*len >= 4 && *len < (64u << 20));
	body = malloc(*len);
	assert_non_null(body);
	recv_exact(fd, body, *len);
	return body;
}

/* Wait up to 5 s for the daemon's fds on deleted segments to fall to at most max. */
static int deleted_settles(int max)
{
	int all, deleted = 0;

	for (int i = 0; i < 250; i++) {
		daemon_fds(&all, &deleted);
		if (deleted <= max)
			break;
		mqbt_sleep_ms(20);
	}
	return deleted;
}

#define SLOW_ANSWERS 8

static void test_slow_consumer_across_retention(void **state)
{
	int fd, all, deleted;
	uint8_t *body;
	size_t len;
	int64_t from;
	rawreq_t q;

	(void)state;
	publish(ZR, zr_next, 7000);              /* ~900 KB: under retention_bytes */
	zr_next += 7000;
	from = zr_earliest();
	/* the same Fetch 8 times (~7 MB of answers), read slowly: what the socket
	 * buffers cannot take stays queued as file ranges of the segments */
	fd = slow_connect();
	for (int i = 0; i < SLOW_ANSWERS; i++) {
		fetch_req(&q, 41 + i, from);
		send_all(fd, q.b, q.n);
	}
	body = recv_answer(fd, &len);            /* the first answer, then stall */
	assert_true(len > 700 * 1000);
	assert_true(check_answer(body, len, 41, from, 0) >= 7000);   /* seq i is offset i */
	free(body);
	daemon_fds(&all, &deleted);
	assert_int_equal(deleted, 0);

	publish(ZR, zr_next, 12000);             /* ~1.6 MB more: retention deletes ... */
	zr_next += 12000;
	fprintf(stderr, "log start %lld after retention (the answers hold from %lld)\n",
		(long long)wait_retention_past(from + 7000), (long long)from);
	daemon_fds(&all, &deleted);
	fprintf(stderr, "daemon fds %d, on deleted segments %d, while answers are unread\n",
		all, deleted);
	/* ... the segments the queued answers still read (the connection's cached
	 * reader may hold one more) */
	assert_true(deleted >= 4);

	/* the answers queued before retention arrive whole; requests the daemon read
	 * after it (it stops reading above 4 MiB unsent) get OFFSET_OUT_OF_RANGE */
	for (int i = 1, whole = 0; i < SLOW_ANSWERS; i++) {
		int64_t n;

		body = recv_answer(fd, &len);
		n = check_answer(body, len, 41 + i, from, 0);
		free(body);
		assert_true(n == -1 || n >= 7000);
		whole += n > 0;
		if (i == SLOW_ANSWERS - 1) {
			fprintf(stderr, "%d of %d later answers whole\n", whole, SLOW_ANSWERS - 1);
			assert_true(whole >= 2);
		}
	}
	assert_true(deleted_settles(1) <= 1);    /* sent: released (the reader's may stay) */
	close(fd);
	assert_int_equal(deleted_settles(0), 0); /* closed: nothing left */
}

static void test_never_reads_no_fd_leak(void **state)
{
	int fds0, del0, fds, deleted, fd, sent = 0;
	int64_t from = zr_earliest();
	long long sf0 = kstat("fetch_sendfile_bytes");

	(void)state;
	mqbt_sleep_ms(200);
	daemon_fds(&fds0, &del0);
	assert_int_equal(del0, 0);
	fd = slow_connect();
	for (int i = 0; i < 200; i++) {
		rawreq_t q;

		fetch_req(&q, 100 + i, from);
		if (send(fd, q.b, q.n, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)q.n)
			break;               /* our send buffer is full: the daemon stopped reading */
		sent++;
	}
	fprintf(stderr, "%d Fetch requests pipelined, never read\n", sent);
	/* ingest keeps going; retention deletes what the stuck answers read */
	publish(ZR, zr_next, 12000);
	zr_next += 12000;
	wait_retention_past(from + 1);
	daemon_fds(&fds, &deleted);
	fprintf(stderr, "daemon fds %d -> %d (%d on deleted segments) with the stuck client\n",
		fds0, fds, deleted);
	assert_true(deleted >= 2);               /* held by the stuck answers */
	assert_true(kstat("fetch_sendfile_bytes") > sf0);   /* a partial sendfile happened */
	/* another consumer is served meanwhile */
	{
		kapi_rec_t *k;
		size_t nk = kapi_kcat_records(bootstrap, NULL, ZC, &k);

		assert_int_equal(nk, 5000);
		free(k);
	}
	close(fd);
	for (int i = 0; i < 250; i++) {          /* closed: every range released */
		daemon_fds(&fds, &deleted);
		if (!deleted && fds <= fds0)
			break;
		mqbt_sleep_ms(20);
	}
	fprintf(stderr, "daemon fds %d after the client left (%d on deleted segments)\n",
		fds, deleted);
	assert_int_equal(deleted, 0);
	assert_true(fds <= fds0);
	assert_true(iu_child_running(daemon_.pid));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kcat_across_segments),
		cmocka_unit_test(test_slow_consumer_across_retention),
		cmocka_unit_test(test_never_reads_no_fd_leak),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
