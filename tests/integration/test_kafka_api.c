/*
 * test_kafka_api.c — mqbridged serving the Kafka wire protocol, exercised with a real
 * Kafka client (kcat, librdkafka): records published over MQTT to a real mosquitto
 * are listed (-L), consumed byte-identical to `mqbridge log dump --json` (key, value,
 * headers, timestamp, offset, partition), found by time (-Q) and produced (-P, acks
 * all and 1) into the store; bad input (random bytes, truncated frames, a 2 GiB size
 * field, an unknown API key, an unknown topic, a connection flood, a client that never
 * reads its Fetch answers) gets a protocol
 * error or a closed connection while the daemon keeps serving kcat; /stats counts it.
 * A kcat consumer waiting at the end of the log (fetch.wait.max.ms=1000) gets a record
 * published over MQTT long before its wait ends (the store's append watch wakes the
 * parked Fetch), and while it waits the listener thread sleeps (no re-check timer).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

#include "bridge/clock.h"
#include "bridge/store/batch.h"
#include "tests/integration/ingest_util.h"
#include "tests/integration/kafka_raw.h"
#include "tests/integration/kafka_api_fx.h"

#define N_RECORDS 3000
#define STREAM "tel"
#define PARTS 3

static mqbt_broker_t broker;
static iu_daemon_t daemon_;
static int kport;
static char bootstrap[64];

/* One record as both tools print it (kafka_api_fx.h). */
typedef kapi_rec_t line_rec_t;

static int group_setup(void **state)
{
	char rest[1024];

	(void)state;
	if (kapi_env_begin(&broker, &daemon_, &kport, bootstrap, sizeof bootstrap) != 0)
		return -1;
	snprintf(rest, sizeof rest,
		 "streams = ( { name = \"%s\"; partitions = %d; }, { name = \"other\"; } );\n"
		 "routes = ( { filter = \"t/+/v\"; stream = \"%s\"; key = \"{1}\"; } );\n"
		 "kafka_api = { listen = \"127.0.0.1:%d\"; max_connections = 16; "
		 "max_request_bytes = 1048576; };\n", STREAM, PARTS, STREAM, kport);
	assert_int_equal(iu_daemon_config(&daemon_, broker.port, "kapi-test", NULL, rest), 0);
	kapi_daemon_start(&daemon_, kport);
	kapi_publish(&daemon_, broker.port, N_RECORDS, 7, N_RECORDS / 2);
	return 0;
}

static int group_teardown(void **state)
{
	return kapi_teardown(&daemon_, state);
}

static char *run(const char *const argv[], int want_status)
{
	return kapi_run(argv, want_status);
}

static size_t dump_records(const char *stream, line_rec_t **out)
{
	return kapi_dump_records(daemon_.data, stream, out);
}

static void assert_same_records(const char *stream, size_t want_at_least)
{
	kapi_assert_same_records(daemon_.data, bootstrap, NULL, stream, want_at_least);
}

/* --- tests ------------------------------------------------------------------------- */

static void test_metadata(void **state)
{
	const char *argv[] = { kcat(), "-b", bootstrap, "-L", NULL };
	char *out = run(argv, 0), want[128];

	(void)state;
	snprintf(want, sizeof want, "topic \"%s\" with %d partitions", STREAM, PARTS);
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out, "topic \"other\" with 1 partitions"));
	snprintf(want, sizeof want, "broker 0 at %s", bootstrap);
	assert_non_null(strstr(out, want));
	free(out);
}

static void test_consume_matches_log_dump(void **state)
{
	(void)state;
	assert_same_records(STREAM, N_RECORDS);
}

static void test_time_lookup(void **state)
{
	line_rec_t *d;
	size_t n = dump_records(STREAM, &d);
	long long ts = -1, want = -1, last = -1;
	char spec[96], want_line[96], *out;

	(void)state;
	qsort(d, n, sizeof *d, kapi_rec_by_pos);
	/* the partition-0 record in the middle; the answer is the first with ts >= it */
	for (size_t i = 0; i < n; i++)
		if (d[i].partition == 0)
			last = (long long)i;
	assert_true(last > 2);
	ts = d[last / 2].ts;
	for (size_t i = 0; i < n; i++)
		if (d[i].partition == 0 && d[i].ts >= ts) {
			want = d[i].offset;
			break;
		}
	snprintf(spec, sizeof spec, "%s:0:%lld", STREAM, ts);
	const char *argv[] = { kcat(), "-b", bootstrap, "-Q", "-t", spec, NULL };
	out = run(argv, 0);
	snprintf(want_line, sizeof want_line, "%s [0] offset %lld", STREAM, want);
	if (!strstr(out, want_line))
		fail_msg("kcat -Q %s: got \"%s\", wanted \"%s\"", spec, out, want_line);
	free(out);
	/* after the last record: no offset (-1) */
	snprintf(spec, sizeof spec, "%s:0:%lld", STREAM, d[last].ts + 100000);
	out = run(argv, 0);
	snprintf(want_line, sizeof want_line, "%s [0] offset -1", STREAM);
	assert_non_null(strstr(out, want_line));
	free(out);
	free(d);
}

static void produce(const char *acks, const char *key, const char *prefix, int n)
{
	char path[400], text[1024] = "", acks_opt[32];
	size_t used = 0;

	for (int i = 0; i < n; i++)
		used += (size_t)snprintf(text + used, sizeof text - used, "%s-%d\n", prefix, i);
	snprintf(path, sizeof path, "%s/produce-%s.txt", daemon_.dir, prefix);
	assert_int_equal(mqbt_write_file(path, text), 0);
	snprintf(acks_opt, sizeof acks_opt, "acks=%s", acks);
	const char *argv[] = { kcat(), "-b", bootstrap, "-P", "-t", STREAM, "-p", "0", "-k", key,
			       "-H", "src=kcat", "-X", acks_opt, "-l", path, NULL };
	free(run(argv, 0));
}

static void test_produce(void **state)
{
	line_rec_t *d;
	size_t n;
	int found_all = 0, found_one = 0;

	(void)state;
	produce("all", "pk", "pa", 5);
	produce("1", "pk1", "pb", 3);
	n = dump_records(STREAM, &d);
	assert_int_equal(n, N_RECORDS + 8);
	for (size_t i = 0; i < n; i++) {
		if (strncmp(d[i].value, "pa-", 3) == 0) {
			assert_int_equal(d[i].partition, 0);
			assert_string_equal(d[i].key, "pk");
			assert_string_equal(d[i].headers, "src=kcat");
			found_all++;
		}
		if (strncmp(d[i].value, "pb-", 3) == 0)
			found_one++;
	}
	assert_int_equal(found_all, 5);
	assert_int_equal(found_one, 3);
	free(d);
	/* what was produced reads back through Fetch like the rest */
	assert_same_records(STREAM, N_RECORDS + 8);
}

/* --- bad input ------------------------------------------------------------------------ */

static int raw_connect(void) { return kraw_connect(kport); }

static void assert_kcat_still_serves(void)
{
	test_metadata(NULL);
	assert_true(iu_child_running(daemon_.pid));
}

static void test_bad_input(void **state)
{
	uint8_t buf[512];
	int fd;

	(void)state;
	/* random bytes */
	fd = raw_connect();
	srand(12);
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (uint8_t)rand();
	send_all(fd, buf, sizeof buf);
	assert_true(closed_by_server(fd));
	close(fd);
	/* a 2 GiB size field */
	fd = raw_connect();
	put32(buf, 0x80000000u);
	memset(buf + 4, 0, 16);
	send_all(fd, buf, 20);
	assert_true(closed_by_server(fd));
	close(fd);
	/* a size field above max_request_bytes (1 MiB) */
	fd = raw_connect();
	put32(buf, 2u << 20);
	send_all(fd, buf, 20);
	assert_true(closed_by_server(fd));
	close(fd);
	/* a truncated frame, then the client goes away */
	fd = raw_connect();
	put32(buf, 100);
	put16(buf + 4, 3);
	send_all(fd, buf, 7);
	close(fd);
	/* an unknown API key */
	fd = raw_connect();
	put32(buf, 10);
	put16(buf + 4, 999); put16(buf + 6, 0); put32(buf + 8, 1); put16(buf + 12, -1);
	send_all(fd, buf, 14);
	assert_true(closed_by_server(fd));
	close(fd);
	assert_kcat_still_serves();
}

static void test_unknown_topic(void **state)
{
	/* Metadata v1 for "nosuch": UNKNOWN_TOPIC_OR_PARTITION (3) for that topic */
	uint8_t req[64], resp[512];
	size_t n = 0;
	ssize_t got;
	int fd = raw_connect();

	(void)state;
	put16(req + 4, 3); put16(req + 6, 1); put32(req + 8, 42); put16(req + 12, -1);
	n = 14;
	put32(req + n, 1); n += 4;
	put16(req + n, 6); n += 2;
	memcpy(req + n, "nosuch", 6); n += 6;
	put32(req, (uint32_t)(n - 4));
	send_all(fd, req, n);
	got = recv(fd, resp, sizeof resp, MSG_WAITALL);
	assert_true(got > 8);
	assert_int_equal(resp[4] << 24 | resp[5] << 16 | resp[6] << 8 | resp[7], 42);
	/* the topic entry: error_code 3 then the name */
	assert_non_null(memmem(resp, (size_t)got, "\x00\x03\x00\x06nosuch", 10));
	close(fd);
	/* kcat: consuming an unknown topic ends with an error, not a hang */
	const char *argv[] = { kcat(), "-b", bootstrap, "-C", "-e", "-t", "nosuch", "-p", "0",
			       "-m", "5", NULL };
	char *out = NULL;
	size_t len = 0;
	int st = mqbt_run(argv, &out, &len, 60000);

	assert_true(st != 0 && st != -1);
	free(out);
	assert_kcat_still_serves();
}

static void test_connection_flood(void **state)
{
	int fds[40], closed = 0;

	(void)state;
	for (int i = 0; i < 40; i++)
		fds[i] = raw_connect();
	mqbt_sleep_ms(300);
	for (int i = 0; i < 40; i++) {
		struct timeval tv = { .tv_usec = 200000 };
		char b;

		setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		if (recv(fds[i], &b, 1, 0) == 0)
			closed++;
	}
	assert_true(closed >= 40 - 16);         /* max_connections = 16 */
	for (int i = 0; i < 40; i++)
		close(fds[i]);
	mqbt_sleep_ms(200);
	assert_kcat_still_serves();
}

/* --- raw requests: Produce validation, Fetch errors and limits --------------------- */

/* Produce v3 of one partition's records; returns the error, *base the base offset. */
static int produce_raw(int fd, int acks, int32_t part, const uint8_t *recs, size_t n,
		       int64_t *base)
{
	rawreq_t q;
	uint8_t *r;
	size_t len, at;
	int err;

	rq_start(&q, 0, 3, 77);
	rq_i16(&q, -1);                  /* transactional_id */
	rq_i16(&q, acks);
	rq_i32(&q, 5000);
	rq_i32(&q, 1);
	rq_str(&q, STREAM);
	rq_i32(&q, 1);
	rq_i32(&q, part);
	rq_i32(&q, (int32_t)n);
	rq_raw(&q, recs, n);
	rq_send(fd, &q);
	if (acks == 0)
		return 0;
	r = rq_recv(fd, &len);
	assert_int_equal(mqb_be32_get(r), 77);
	at = 4 + 4 + 2 + strlen(STREAM) + 4;     /* corr, topics, name, partitions */
	assert_int_equal((int32_t)mqb_be32_get(r + at), part);
	err = (int16_t)mqb_be16_get(r + at + 4);
	*base = get64(r + at + 6);
	free(r);
	return err;
}

typedef struct fetch_ans {
	int err;
	int64_t hw;
	size_t records_len;
	uint8_t *records;
} fetch_ans_t;

/* Fetch v4 of one partition (max_wait 0). */
static void fetch_raw(int fd, int32_t part, int64_t offset, int32_t part_max, fetch_ans_t *a)
{
	rawreq_t q;
	uint8_t *r;
	size_t len, at;

	rq_start(&q, 1, 4, 78);
	rq_i32(&q, -1); rq_i32(&q, 0); rq_i32(&q, 1); rq_i32(&q, 1 << 20); rq_i8(&q, 0);
	rq_i32(&q, 1);
	rq_str(&q, STREAM);
	rq_i32(&q, 1);
	rq_i32(&q, part); rq_i64(&q, offset); rq_i32(&q, part_max);
	rq_send(fd, &q);
	r = rq_recv(fd, &len);
	assert_int_equal(mqb_be32_get(r), 78);
	at = 4 + 4 + 4 + 2 + strlen(STREAM) + 4;  /* corr, throttle, topics, name, parts */
	assert_int_equal((int32_t)mqb_be32_get(r + at), part);
	a->err = (int16_t)mqb_be16_get(r + at + 4);
	a->hw = get64(r + at + 6);
	at += 4 + 2 + 8 + 8 + 4;                 /* index, error, hw, lso, aborted */
	a->records_len = mqb_be32_get(r + at);
	assert_true(at + 4 + a->records_len == len);
	a->records = malloc(a->records_len + 1);
	memcpy(a->records, r + at + 4, a->records_len);
	free(r);
}

static void test_raw_produce_and_fetch(void **state)
{
	mqb_buf_t b = { 0 };
	mqb_record_t recs[2] = {
		{ .timestamp_ms = 1700000000000, .key = "rk", .key_len = 2, .value = "raw-0",
		  .value_len = 5 },
		{ .timestamp_ms = 1700000000001, .key = NULL, .key_len = -1, .value = "raw-1",
		  .value_len = 5 },
	};
	fetch_ans_t a, before;
	mqb_batch_hdr_t h;
	int64_t base = -1;
	int fd = raw_connect();

	(void)state;
	fetch_raw(fd, 1, 0, 1 << 20, &before);
	assert_int_equal(before.err, 0);
	/* a batch with base offset 1234 (re-based by the store) */
	assert_int_equal(mqb_batch_encode(&b, 1234, recs, 2), MQB_OK);
	assert_int_equal(produce_raw(fd, 1, 1, b.data, b.len, &base), 0);
	assert_int_equal(base, before.hw);
	/* a flipped byte: CRC-32C fails, nothing appended */
	b.data[b.len - 1] ^= 0x55;
	assert_int_equal(produce_raw(fd, 1, 1, b.data, b.len, &base), 2);
	b.data[b.len - 1] ^= 0x55;
	/* wrong magic */
	b.data[16] = 1;
	assert_int_equal(produce_raw(fd, -1, 1, b.data, b.len, &base), 2);
	b.data[16] = 2;
	/* acks=0: no answer; the next request's answer is the next frame */
	assert_int_equal(produce_raw(fd, 0, 1, b.data, b.len, &base), 0);
	/* the partition grew by 2 + 2 records; the stored batches re-based */
	fetch_raw(fd, 1, before.hw, 1 << 20, &a);
	assert_int_equal(a.err, 0);
	assert_int_equal(a.hw, before.hw + 4);
	assert_int_equal(mqb_batch_header_parse(a.records, a.records_len, &h, NULL, 0), MQB_OK);
	assert_int_equal(h.base_offset, before.hw);
	assert_int_equal(h.record_count, 2);
	free(a.records);
	/* partition_max_bytes 1: still one whole batch (KIP-74), not more */
	fetch_raw(fd, 1, 0, 1, &a);
	assert_int_equal(a.err, 0);
	assert_int_equal(mqb_batch_header_parse(a.records, a.records_len, &h, NULL, 0), MQB_OK);
	assert_int_equal(a.records_len, mqb_batch_total_size(&h));
	free(a.records);
	/* beyond the end: OFFSET_OUT_OF_RANGE; an unknown partition: UNKNOWN_TOPIC_OR_PARTITION */
	fetch_raw(fd, 1, before.hw + 1000, 1 << 20, &a);
	assert_int_equal(a.err, 1);
	assert_int_equal(a.records_len, 0);
	free(a.records);
	fetch_raw(fd, 99, 0, 1 << 20, &a);
	assert_int_equal(a.err, 3);
	free(a.records);
	free(before.records);
	mqb_buf_free(&b);
	close(fd);
}

static long rss_kb(pid_t pid)
{
	char path[64], *st;
	const char *v;
	long kb = -1;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	st = mqbt_read_file(path, NULL);
	v = st ? strstr(st, "VmRSS:") : NULL;
	if (v)
		kb = atol(v + 6);
	free(st);
	return kb;
}

/* A client pipelining Fetch requests and never reading the answers costs a bounded
 * buffer: the daemon stops reading it and keeps serving others. */
static void test_client_never_reads(void **state)
{
	long before = rss_kb(daemon_.pid), after;
	int fd = raw_connect();

	(void)state;
	for (int i = 0; i < 400; i++) {
		rawreq_t q;

		rq_start(&q, 1, 4, i);
		rq_i32(&q, -1); rq_i32(&q, 0); rq_i32(&q, 1); rq_i32(&q, 1 << 20); rq_i8(&q, 0);
		rq_i32(&q, 1);
		rq_str(&q, STREAM);
		rq_i32(&q, PARTS);
		for (int p = 0; p < PARTS; p++) {
			rq_i32(&q, p); rq_i64(&q, 0); rq_i32(&q, 1 << 20);
		}
		put32(q.b, (uint32_t)(q.n - 4));
		if (send(fd, q.b, q.n, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)q.n)
			break;                   /* our send buffer is full: the daemon stopped reading */
	}
	mqbt_sleep_ms(500);
	assert_kcat_still_serves();
	after = rss_kb(daemon_.pid);
	assert_true(before > 0 && after > 0);
	fprintf(stderr, "daemon RSS %ld kB -> %ld kB with an unread client\n", before, after);
	if (after - before > 64 * 1024)
		fail_msg("daemon RSS grew from %ld to %ld kB", before, after);
	close(fd);
}

/* true when the file at path contains needle */
static bool file_has(const char *path, const char *needle)
{
	char buf[65536];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

#define WAKE_ROUNDS 7
#define WAKE_FAST_MS 250   /* far below the 1000 ms wait; a loaded CI box stays under */

/* A consumer parked at the end of the log is answered when a record is stored, not
 * when its fetch.wait.max.ms (1000) runs out: of WAKE_ROUNDS records published over
 * MQTT at moments unrelated to its fetch cycle, all but one reach kcat's output in
 * under WAKE_FAST_MS (answered only at the deadline they would take 500 ms on
 * average). Between records the listener thread sleeps: over 2 s with the consumer
 * parked it switches in well under the 200 times a 10 ms re-check would cost. */
static void test_fetch_woken_by_append(void **state)
{
	char log[512], val[64];
	const char *argv[] = { kcat(), "-b", bootstrap, "-C", "-t", STREAM, "-o", "end", "-u",
			       "-q", "-f", "%s\n", "-X", "fetch.wait.max.ms=1000", NULL };
	int64_t lat[WAKE_ROUNDS];
	long sw0, sw1;
	int fast = 0;
	pid_t pid = 0;
	iu_pub_t pub;

	(void)state;
	snprintf(log, sizeof log, "%s/kcat-wake.out", daemon_.dir);
	assert_int_equal(iu_pub_start(&pub, broker.port, "kapi-wake", true), 0);
	assert_int_equal(mqbt_spawn(&pid, argv, log), 0);
	mqbt_sleep_ms(2000);                 /* connected, at the end, parked */
	sw0 = mqbt_thread_switches(daemon_.pid, "mqb-kafka-api");
	mqbt_sleep_ms(2000);
	sw1 = mqbt_thread_switches(daemon_.pid, "mqb-kafka-api");
	for (int i = 0; i < WAKE_ROUNDS; i++) {
		int64_t t0;

		mqbt_sleep_ms(150 + 110 * i);   /* land at different points of the wait */
		snprintf(val, sizeof val, "wake-%d-x", i);
		t0 = mqb_mono_ms();
		assert_int_equal(iu_pub_send(&pub, "t/wake/v", val, strlen(val), 1, NULL), 0);
		while (!file_has(log, val) && mqb_mono_ms() - t0 < 5000)
			mqbt_sleep_ms(1);
		lat[i] = mqb_mono_ms() - t0;
		fast += lat[i] < WAKE_FAST_MS;
	}
	mqbt_kill(pid, SIGTERM);
	assert_int_equal(mqbt_stop(pid, 10000), 0);
	iu_pub_stop(&pub);
	fprintf(stderr, "kcat waiting at the end: record latency ms");
	for (int i = 0; i < WAKE_ROUNDS; i++)
		fprintf(stderr, " %lld", (long long)lat[i]);
	fprintf(stderr, "; listener thread switches over 2 s parked: %ld\n", sw1 - sw0);
	for (int i = 0; i < WAKE_ROUNDS; i++)
		if (lat[i] >= 5000)
			fail_msg("record %d never reached kcat", i);
	if (fast < WAKE_ROUNDS - 1)
		fail_msg("only %d of %d records reached the parked consumer in < %d ms", fast,
			 WAKE_ROUNDS, WAKE_FAST_MS);
	assert_true(sw0 >= 0 && sw1 >= sw0);
	if (sw1 - sw0 > 60)
		fail_msg("listener thread switched %ld times in 2 s with one parked consumer",
			 sw1 - sw0);
}

/* A parked Fetch naming more partitions than the listener remembers (18 entries of
 * stream "other", which no earlier test waited on: the watch is armed for every
 * partition) is still woken by an append (kcat -P), not answered at its 5 s
 * max_wait_ms. */
static void test_fetch_many_partitions_woken(void **state)
{
	char path[400];
	const char *argv[] = { kcat(), "-b", bootstrap, "-P", "-t", "other", "-p", "0",
			       "-l", path, NULL };
	int fd = raw_connect();
	int64_t t0, took;
	uint8_t *resp;
	size_t len;
	rawreq_t q;
	FILE *f;

	(void)state;
	snprintf(path, sizeof path, "%s/many.txt", daemon_.dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("many\n", f);
	fclose(f);
	rq_start(&q, 1, 4, 8);                         /* Fetch v4 at the end (0), 18 entries */
	rq_i32(&q, -1); rq_i32(&q, 5000); rq_i32(&q, 1); rq_i32(&q, 1 << 20); rq_i8(&q, 0);
	rq_i32(&q, 1);
	rq_str(&q, "other");
	rq_i32(&q, 18);
	for (int i = 0; i < 18; i++) {
		rq_i32(&q, 0); rq_i64(&q, 0); rq_i32(&q, 1 << 20);
	}
	rq_send(fd, &q);
	mqbt_sleep_ms(300);                            /* parked */
	t0 = mqb_mono_ms();
	free(run(argv, 0));
	resp = rq_recv(fd, &len);
	took = mqb_mono_ms() - t0;
	free(resp);
	close(fd);
	fprintf(stderr, "18-entry Fetch parked at the end answered %lld ms after kcat -P "
		"started\n", (long long)took);
	if (took > 2500)
		fail_msg("answered after %lld ms: not woken by the append", (long long)took);
}

/* /stats "kafka_api" counts what the tests above did */
static void test_stats(void **state)
{
	char *body = NULL;
	int status = 0;
	cJSON *doc, *k, *req;

	(void)state;
	assert_int_equal(mqbt_http_get(daemon_.stats_port, "/stats", &status, &body), 0);
	assert_int_equal(status, 200);
	doc = cJSON_Parse(body);
	assert_non_null(doc);
	k = cJSON_GetObjectItem(doc, "kafka_api");
	assert_non_null(k);
	req = cJSON_GetObjectItem(k, "requests");
	assert_true(cJSON_GetObjectItem(req, "Fetch")->valuedouble > 0);
	assert_true(cJSON_GetObjectItem(req, "Metadata")->valuedouble > 0);
	assert_true(cJSON_GetObjectItem(req, "other")->valuedouble >= 1);   /* key 999 */
	/* test_produce: 8 + 4; test_fetch_many_partitions_woken: 1 */
	assert_int_equal((int)cJSON_GetObjectItem(k, "produce_records")->valuedouble, 8 + 4 + 1);
	assert_true(cJSON_GetObjectItem(k, "protocol_errors")->valuedouble >= 3);
	assert_true(cJSON_GetObjectItem(k, "connections_refused")->valuedouble >= 40 - 16);
	assert_true(cJSON_GetObjectItem(k, "fetch_bytes")->valuedouble > 0);
	/* two CRC/magic failures, an unknown topic, an offset out of range */
	cJSON *codes = cJSON_GetObjectItem(k, "errors_by_code");
	assert_true(cJSON_GetObjectItem(codes, "CORRUPT_MESSAGE")->valuedouble >= 2);
	assert_true(cJSON_GetObjectItem(codes, "UNKNOWN_TOPIC_OR_PARTITION")->valuedouble >= 1);
	assert_true(cJSON_GetObjectItem(codes, "OFFSET_OUT_OF_RANGE")->valuedouble >= 1);
	cJSON_Delete(doc);
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metadata),
		cmocka_unit_test(test_consume_matches_log_dump),
		cmocka_unit_test(test_time_lookup),
		cmocka_unit_test(test_produce),
		cmocka_unit_test(test_raw_produce_and_fetch),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_unknown_topic),
		cmocka_unit_test(test_connection_flood),
		cmocka_unit_test(test_client_never_reads),
		cmocka_unit_test(test_fetch_woken_by_append),
		cmocka_unit_test(test_fetch_many_partitions_woken),
		cmocka_unit_test(test_stats),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
