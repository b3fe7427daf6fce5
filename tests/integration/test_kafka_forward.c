/*
 * test_kafka_forward.c — the forwarder in-process against a real Kafka wire protocol
 * (kafka_mock child), read back with an independent librdkafka consumer:
 *  - every stored record arrives exactly once, same partition, in order, with key,
 *    value, timestamp and headers;
 *  - a topic with fewer partitions than the stream is refused (nothing sent);
 *  - offset translation (API and GET /offsets/translate) checked against the real
 *    Kafka offsets at random positions, after foreign records made offsets drift;
 *  - a clean restart resumes from the persisted cursor with no duplicate;
 *  - retriable and non-retriable injected produce errors: nothing lost, order kept;
 *  - a librdkafka fatal error: producer recreated, nothing lost (duplicates counted);
 *  - a stream of 80 partitions has one forwarded and one lost counter, not 160;
 *  - producing stops at queue.buffering.max.messages (no QUEUE_FULL), and a record
 *    refused by the kbytes bound is produced again from memory: nothing lost, order
 *    kept;
 *  - a configuration librdkafka refuses as a whole is refused at start with file:line
 *    by the forwarder's own producer (no trial instance), and leaves no thread behind;
 *    a forwarder destroyed without being started joins its parked thread.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "bridge/config.h"
#include "tests/support/config_fx.h"
#include "bridge/err.h"
#include "bridge/stats/http.h"
#include "bridge/stats/metrics.h"
#include "connectors/kafka/kafka_forwarder.h"
#include "connectors/kafka/kafka_http.h"
#include "tests/integration/test_kafka_util.h"

#define NPARTS 4

struct env {
	char dir[256];
	kmock_t mock;
	mqb_config_t *cfg;
	mqb_store_t *st;
	mqb_metrics_t *reg;
	mqb_kafka_fwd_t *f;
};

static struct env E;

static void env_open_store(void)
{
	char err[512];
	E.st = mqb_store_open(E.cfg->data_dir, 0, err, sizeof(err));
	if (!E.st)
		fail_msg("store: %s", err);
	for (size_t i = 0; i < E.cfg->streams_count; i++)
		if (mqb_store_stream_open(E.st, &E.cfg->streams[i].opts, err, sizeof(err)))
			fail_msg("stream: %s", err);
}

static void fwd_start(void)
{
	char err[512];
	E.f = mqb_kafka_fwd_new(E.cfg, E.st, E.reg, NULL, err, sizeof(err));
	if (!E.f)
		fail_msg("forwarder: %s", err);
	assert_int_equal(mqb_kafka_fwd_start(E.f), MQB_OK);
}

static int setup(void **state)
{
	char text[2048], err[512];
	const char *topics[] = { "edge.t:4", "small:1", "edge.q:4", "edge.w:80", NULL };
	assert_int_equal(mqbt_tmpdir(E.dir, sizeof(E.dir)), 0);
	if (kmock_start(&E.mock, 3, topics))
		fail_msg("kafka_mock did not start");
	snprintf(text, sizeof(text),
		 "data_dir = \"%s/data\";\n"
		 "streams = ( { name = \"t\"; partitions = %d; flush = { interval_ms = 5; }; },\n"
		 "            { name = \"u\"; partitions = 2; flush = { interval_ms = 5; }; } );\n"
		 "routes = ( { filter = \"a/+\"; stream = \"t\"; } );\n"
		 "kafka = { bootstrap_servers = \"%s\"; sync_interval_offsets = 50;\n"
		 "  properties = ( (\"retry.backoff.ms\", \"20\"),\n"
		 "                 (\"queue.buffering.max.messages\", \"1000\") );\n"
		 "  forward = ( { stream = \"t\"; topic = \"edge.t\"; },\n"
		 "              { stream = \"u\"; topic = \"small\"; } ); };\n",
		 E.dir, NPARTS, E.mock.bootstrap);
	E.cfg = mqb_config_load_string(text, "fwd.conf", mqb_test_sections(), err, sizeof(err));
	if (!E.cfg)
		fail_msg("config: %s", err);
	E.reg = mqb_metrics_new();
	env_open_store();
	return 0;
}

static int teardown(void **state)
{
	mqb_kafka_fwd_destroy(E.f);
	mqb_store_close(E.st);
	mqb_metrics_destroy(E.reg);
	mqb_config_free(E.cfg);
	kmock_stop(&E.mock);
	mqbt_rmrf(E.dir);
	return 0;
}

/* Wait until every partition of stream t is delivered up to its stored watermark. */
static void wait_drained_by(mqb_kafka_fwd_t *f, int timeout_ms)
{
	int64_t deadline = mqbt_now_ms() + timeout_ms;
	for (;;) {
		int done = 1;
		for (int p = 0; p < NPARTS; p++) {
			mqb_kafka_part_status_t s;
			assert_int_equal(mqb_kafka_fwd_status(f, "t", NULL, p, &s), MQB_OK);
			if (s.cursor < s.stored)
				done = 0;
		}
		if (done)
			return;
		if (mqbt_now_ms() > deadline) {
			for (int p = 0; p < NPARTS; p++) {
				mqb_kafka_part_status_t s;
				mqb_kafka_fwd_status(f, "t", NULL, p, &s);
				print_error("p%d cursor %" PRId64 " stored %" PRId64 " inflight %"
					    PRId64 " errors %" PRIu64 "\n", p, s.cursor, s.stored,
					    s.inflight, s.delivery_errors);
			}
			fail_msg("forwarder did not drain in %d ms", timeout_ms);
		}
		mqbt_sleep_ms(20);
	}
}

static void wait_drained(int timeout_ms)
{
	wait_drained_by(E.f, timeout_ms);
}

/* What the consumer saw, per partition: the record index at each Kafka offset. */
#define MAXREC 20000
struct seen {
	int64_t count[NPARTS];
	int64_t idx[NPARTS][MAXREC];        /* record index (from the value), by arrival */
	int64_t koff[NPARTS][MAXREC];       /* its Kafka offset */
	int64_t foreign[NPARTS];            /* records not written by the forwarder */
	int bad;                            /* wrong partition/key/header/timestamp */
};

static struct seen S;

static void on_msg(const rd_kafka_message_t *m, void *arg)
{
	struct seen *s = arg;
	int p = -1;
	int64_t i = kvalue_index(m->payload, m->len, &p);
	if (m->partition < 0 || m->partition >= NPARTS)
		return;
	if (i < 0) {
		s->foreign[m->partition]++;
		return;
	}
	char want[48];
	int kl = snprintf(want, sizeof(want), "k%d-%" PRId64, p, i);
	rd_kafka_timestamp_type_t tt;
	int64_t ts = rd_kafka_message_timestamp(m, &tt);
	rd_kafka_headers_t *h = NULL;
	const void *hv = NULL;
	size_t hl = 0;
	char wtopic[48];
	int wl = snprintf(wtopic, sizeof(wtopic), "dev/%d/%" PRId64, p, i);
	int hok = rd_kafka_message_headers(m, &h) == 0 &&
		  rd_kafka_header_get_last(h, "mqtt.topic", &hv, &hl) == 0 &&
		  hl == (size_t)wl && memcmp(hv, wtopic, hl) == 0;
	if (p != m->partition || m->key_len != (size_t)kl || memcmp(m->key, want, kl) != 0 ||
	    ts != 1700000000000LL + i || tt != RD_KAFKA_TIMESTAMP_CREATE_TIME || !hok) {
		if (s->bad++ < 5)
			print_error("bad record p%d idx %" PRId64 " (part %d key %.*s ts %" PRId64
				    " hdr %d)\n", m->partition, i, p, (int)m->key_len,
				    (const char *)m->key, ts, hok);
	}
	int64_t c = s->count[m->partition]++;
	if (c < MAXREC) {
		s->idx[m->partition][c] = i;
		s->koff[m->partition][c] = m->offset;
	}
}

/* Read edge.t back and check: per partition, records 0..n-1 exactly once, in order
 * (dups allowed only when allow_dups; then counted: each re-delivery must restart at
 * an earlier record and continue in order). Returns the duplicates. */
static int64_t check_topic_of(const char *topic, const int64_t n[NPARTS], int allow_dups)
{
	int64_t total = 0, dups = 0;
	for (int p = 0; p < NPARTS; p++)
		total += n[p];
	memset(&S, 0, sizeof(S));
	int64_t got = kconsume(E.mock.bootstrap, topic, NPARTS, total, 60000, 1500,
			       on_msg, &S);
	assert_true(got >= total);
	assert_int_equal(S.bad, 0);
	for (int p = 0; p < NPARTS; p++) {
		int64_t want = 0;   /* next never-seen index */
		for (int64_t c = 0; c < S.count[p]; c++) {
			int64_t i = S.idx[p][c];
			if (i == want) {
				want++;
			} else if (i < want && allow_dups) {
				dups++;
			} else {
				fail_msg("partition %d: record %" PRId64 " at position %" PRId64
					 ", expected %" PRId64, p, i, c, want);
			}
		}
		assert_int_equal(want, n[p]);
	}
	if (!allow_dups)
		assert_int_equal(dups, 0);
	return dups;
}

static int64_t check_topic(const int64_t n[NPARTS], int allow_dups)
{
	return check_topic_of("edge.t", n, allow_dups);
}

/* The value of an unlabelled counter in reg's Prometheus text, -1 when absent. */
static double prom_value(mqb_metrics_t *reg, const char *name)
{
	char *prom = mqb_metrics_render_prometheus(reg, NULL);
	char key[128];
	double v = -1;
	snprintf(key, sizeof(key), "\n%s ", name);
	const char *at = prom ? strstr(prom, key) : NULL;
	if (at)
		v = strtod(at + strlen(key), NULL);
	free(prom);
	return v;
}

static void test_forward_exactly_once_and_refused(void **state)
{
	int64_t n[NPARTS];
	for (int p = 0; p < NPARTS; p++) {
		n[p] = 1500 + 250 * p;
		assert_int_equal(kfill(mqb_store_partition(E.st, "t", p), p, 0, n[p], 100,
				       1700000000000LL, 25), 0);
	}
	assert_int_equal(kfill(mqb_store_partition(E.st, "u", 0), 0, 0, 100, 50,
			       1700000000000LL, 10), 0);
	fwd_start();
	wait_drained(60000);
	check_topic(n, 0);
	/* 7,750 records through a queue of 1,000 messages: never refused */
	assert_true(prom_value(E.reg, "mqbridge_kafka_queue_full_total") == 0);

	/* stream u (2 partitions) -> topic small (1 partition): refused, nothing sent */
	mqb_kafka_part_status_t s;
	assert_int_equal(mqb_kafka_fwd_status(E.f, "u", NULL, 0, &s), MQB_OK);
	assert_int_equal(s.state, MQB_KAFKA_STREAM_REFUSED);
	assert_int_equal(s.cursor, 0);
	assert_int_equal(s.forwarded, 0);
	char *json = mqb_metrics_render_json(E.reg, NULL);
	assert_non_null(json);
	assert_non_null(strstr(json, "\"refused\""));
	assert_non_null(strstr(json, "has 1 partition, the local stream has 2"));
	free(json);
	char *prom = mqb_metrics_render_prometheus(E.reg, NULL);
	assert_non_null(strstr(prom, "mqbridge_kafka_stream_forwarding{stream=\"u\",topic=\"small\"} 0"));
	assert_non_null(strstr(prom, "mqbridge_kafka_backlog_records{stream=\"t\",partition=\"0\"} 0"));
	free(prom);
	/* without per-partition detail (what a stream above 64 partitions gets by
	 * default): the stream's sums under the same names, no partition label */
	prom = mqb_metrics_render_prometheus_detail(E.reg, NULL, MQB_JSON_DETAIL_OFF);
	assert_non_null(prom);
	assert_non_null(strstr(prom, "mqbridge_kafka_backlog_records{stream=\"t\"} 0"));
	{
		char want[96];
		int64_t sum = 0;
		for (int p = 0; p < NPARTS; p++)
			sum += n[p];
		snprintf(want, sizeof want, "mqbridge_kafka_forwarded_offset{stream=\"t\"} %lld\n",
			 (long long)sum);
		assert_non_null(strstr(prom, want));
	}
	assert_null(strstr(prom, "mqbridge_kafka_backlog_records{stream=\"t\",partition"));
	free(prom);
}

/* Foreign producer writes between forwarder runs make Kafka offsets drift; the
 * translation must never skip a record and re-read at most ~sync_interval. */
static void test_translate_against_kafka(void **state)
{
	int64_t n[NPARTS];
	for (int p = 0; p < NPARTS; p++)
		n[p] = 1500 + 250 * p;
	/* foreign records in every partition */
	char err[512];
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	rd_kafka_conf_set(c, "bootstrap.servers", E.mock.bootstrap, err, sizeof(err));
	rd_kafka_t *prod = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
	assert_non_null(prod);
	for (int p = 0; p < NPARTS; p++)
		for (int k = 0; k < 7 + p; k++)
			rd_kafka_producev(prod, RD_KAFKA_V_TOPIC("edge.t"), RD_KAFKA_V_PARTITION(p),
					  RD_KAFKA_V_VALUE("foreign", 7), RD_KAFKA_V_END);
	assert_int_equal(rd_kafka_flush(prod, 10000), 0);
	rd_kafka_destroy(prod);
	/* more local records, forwarded after the foreign ones */
	for (int p = 0; p < NPARTS; p++) {
		assert_int_equal(kfill(mqb_store_partition(E.st, "t", p), p, n[p], 600, 100,
				       1700000000000LL, 30), 0);
		n[p] += 600;
	}
	wait_drained(60000);
	check_topic(n, 0);

	/* HTTP endpoint on a free port, route registered */
	mqb_stats_conf_t sc = { .listen = "127.0.0.1:0" };
	mqb_http_t *http = mqb_http_start(&sc, E.reg, err, sizeof(err));
	assert_non_null(http);
	assert_int_equal(mqb_kafka_http_register(http, E.f), MQB_OK);
	int port = mqb_http_port(http);

	srand(11);
	for (int p = 0; p < NPARTS; p++) {
		int64_t kafka_of[MAXREC];
		for (int64_t c2 = 0; c2 < S.count[p]; c2++)
			kafka_of[S.idx[p][c2]] = S.koff[p][c2];
		for (int trial = 0; trial < 60; trial++) {
			int64_t o = trial == 0 ? 0 : trial == 1 ? n[p] - 1 : rand() % n[p];
			int64_t k;
			assert_int_equal(mqb_kafka_fwd_translate(E.f, "t", NULL, p, o, &k, NULL),
					 MQB_OK);
			/* never skips: record o and everything after it is at >= k */
			assert_true(k <= kafka_of[o]);
			/* bounded re-read: at most the records since the sync point */
			int64_t reread = 0;
			for (int64_t i = 0; i < o; i++)
				if (kafka_of[i] >= k)
					reread++;
			if (reread > 50)
				fail_msg("p%d offset %" PRId64 " -> %" PRId64 " re-reads %" PRId64,
					 p, o, k, reread);
			if (trial < 5) {
				char path[160], *body = NULL;
				int status = 0;
				snprintf(path, sizeof(path), "/offsets/translate?stream=t&partition=%d"
					 "&offset=%" PRId64, p, o);
				assert_int_equal(mqbt_http_get(port, path, &status, &body), 0);
				assert_int_equal(status, 200);
				cJSON *doc = cJSON_Parse(body);
				assert_non_null(doc);
				assert_int_equal((int64_t)cJSON_GetObjectItem(doc, "kafka_offset")->valuedouble, k);
				assert_string_equal(cJSON_GetObjectItem(doc, "topic")->valuestring, "edge.t");
				cJSON_Delete(doc);
				free(body);
			}
		}
		/* the first record after the foreign ones: exact at its sync point */
		int64_t k;
		int64_t first_after = n[p] - 600;
		assert_int_equal(mqb_kafka_fwd_translate(E.f, "t", NULL, p, first_after, &k, NULL), MQB_OK);
		assert_int_equal(k, kafka_of[first_after]);
		assert_int_equal(kafka_of[first_after], first_after + 7 + p);
	}
	/* bad requests get clear errors */
	static const struct { const char *q; int status; const char *msg; } bad[] = {
		{ "/offsets/translate?partition=0&offset=1", 400, "stream" },
		{ "/offsets/translate?stream=t&partition=x&offset=1", 400, "partition" },
		{ "/offsets/translate?stream=t&partition=0&offset=-4", 400, "offset" },
		{ "/offsets/translate?stream=t&partition=0", 400, "offset" },
		{ "/offsets/translate?stream=nope&partition=0&offset=1", 404, "not forwarded" },
		{ "/offsets/translate?stream=t&partition=9&offset=1", 404, "not forwarded" },
		{ "/offsets/translate?stream=u&partition=0&offset=1", 404, "no offset-sync pair" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *body = NULL;
		int status = 0;
		assert_int_equal(mqbt_http_get(port, bad[i].q, &status, &body), 0);
		if (status != bad[i].status || !strstr(body, bad[i].msg))
			fail_msg("%s: got %d %s", bad[i].q, status, body);
		free(body);
	}
	mqb_kafka_http_unregister(http);
	mqb_http_stop(http);
}

/* Clean stop and restart: resumes at the persisted cursor, no duplicate. */
static void test_restart_resumes(void **state)
{
	int64_t n[NPARTS];
	mqb_kafka_fwd_destroy(E.f);
	E.f = NULL;
	/* the registry keeps the old forwarder's collectors: a new one for the new */
	mqb_metrics_destroy(E.reg);
	E.reg = mqb_metrics_new();
	for (int p = 0; p < NPARTS; p++) {
		n[p] = 1500 + 250 * p + 600;
		assert_int_equal(kfill(mqb_store_partition(E.st, "t", p), p, n[p], 300, 100,
				       1700000000000LL, 20), 0);
		n[p] += 300;
	}
	fwd_start();
	wait_drained(60000);
	check_topic(n, 0);
	for (int p = 0; p < NPARTS; p++) {
		mqb_kafka_part_status_t s;
		mqb_kafka_fwd_status(E.f, "t", NULL, p, &s);
		assert_int_equal(s.forwarded, 300);   /* only the new ones this run */
	}
}

/* Injected produce errors: retriable ones are retried by librdkafka; a
 * non-retriable one fails the delivery, the forwarder rewinds and re-produces. */
static void test_produce_errors(void **state)
{
	int64_t n[NPARTS];
	for (int p = 0; p < NPARTS; p++)
		n[p] = 1500 + 250 * p + 900;
	/* 6 = NOT_LEADER_FOR_PARTITION (retriable), 29 = TOPIC_AUTHORIZATION_FAILED */
	assert_int_equal(kmock_cmd(&E.mock, "produce_errors 4 6"), 0);
	for (int p = 0; p < NPARTS; p++) {
		assert_int_equal(kfill(mqb_store_partition(E.st, "t", p), p, n[p], 200, 100,
				       1700000000000LL, 20), 0);
		n[p] += 200;
	}
	wait_drained(60000);
	assert_int_equal(kmock_cmd(&E.mock, "produce_errors 3 29"), 0);
	for (int p = 0; p < NPARTS; p++) {
		assert_int_equal(kfill(mqb_store_partition(E.st, "t", p), p, n[p], 200, 100,
				       1700000000000LL, 20), 0);
		n[p] += 200;
	}
	wait_drained(60000);
	uint64_t errors = 0;
	for (int p = 0; p < NPARTS; p++) {
		mqb_kafka_part_status_t s;
		mqb_kafka_fwd_status(E.f, "t", NULL, p, &s);
		errors += s.delivery_errors;
	}
	assert_true(errors > 0);   /* the authorization failures reached delivery reports */
	char *prom = mqb_metrics_render_prometheus(E.reg, NULL);
	assert_non_null(strstr(prom, "mqbridge_kafka_delivery_errors_total{code=\"TOPIC_AUTHORIZATION_FAILED\"}"));
	free(prom);
	int64_t dups = check_topic(n, 1);
	print_message("injected errors: %" PRIu64 " failed deliveries, %" PRId64
		      " duplicates in Kafka\n", errors, dups);
}

/* A fatal producer error: the producer is recreated and forwarding continues from
 * the delivered cursors; nothing is lost. */
static void test_fatal_error(void **state)
{
	int64_t n[NPARTS];
	for (int p = 0; p < NPARTS; p++)
		n[p] = 1500 + 250 * p + 1300;
	/* slow brokers so that the fatal error hits with records in flight */
	assert_int_equal(kmock_cmd(&E.mock, "rtt all 100"), 0);
	for (int p = 0; p < NPARTS; p++) {
		assert_int_equal(kfill(mqb_store_partition(E.st, "t", p), p, n[p], 2000, 100,
				       1700000000000LL, 10), 0);
		n[p] += 2000;
	}
	int64_t inflight = 0, deadline = mqbt_now_ms() + 10000;
	while (inflight == 0 && mqbt_now_ms() < deadline) {
		mqbt_sleep_ms(5);
		for (int p = 0; p < NPARTS; p++) {
			mqb_kafka_part_status_t s;
			mqb_kafka_fwd_status(E.f, "t", NULL, p, &s);
			inflight += s.inflight;
		}
	}
	assert_true(inflight > 0);
	assert_int_equal(mqb_kafka_fwd_test_fatal(E.f), MQB_OK);
	assert_int_equal(kmock_cmd(&E.mock, "rtt all 0"), 0);
	wait_drained(60000);
	print_message("fatal error raised with %" PRId64 " records in flight\n", inflight);
	assert_true(mqb_kafka_fwd_restarts(E.f) >= 1);
	uint64_t restarts = mqb_kafka_fwd_restarts(E.f);
	/* the broker answering OUT_OF_ORDER_SEQUENCE_NUMBER (45): whatever librdkafka
	 * makes of it (fatal for the idempotent producer, or a failed delivery), every
	 * record still arrives in order */
	assert_int_equal(kmock_cmd(&E.mock, "produce_errors 2 45"), 0);
	for (int p = 0; p < NPARTS; p++) {
		assert_int_equal(kfill(mqb_store_partition(E.st, "t", p), p, n[p], 300, 100,
				       1700000000000LL, 10), 0);
		n[p] += 300;
	}
	wait_drained(60000);
	int64_t dups = check_topic(n, 1);
	print_message("fatal errors: producer restarts %" PRIu64 " (%" PRIu64 " after the "
		      "broker's OUT_OF_ORDER_SEQUENCE_NUMBER), %" PRId64 " duplicates\n",
		      mqb_kafka_fwd_restarts(E.f), mqb_kafka_fwd_restarts(E.f) - restarts, dups);
}

/* Another forwarder beside E.f on the same store: stream (of nparts partitions, opened
 * unless open) to topic, kextra added inside kafka = { }; its own state directory
 * under E.dir and its own registry; started. */
struct fwd2 {
	mqb_config_t *cfg;
	mqb_metrics_t *reg;
	mqb_kafka_fwd_t *f;
};

static void fwd2_start(struct fwd2 *x, const char *stream, int nparts, const char *topic,
		       const char *kextra)
{
	char text[2048], err[512], sdir[300];
	snprintf(text, sizeof(text),
		 "data_dir = \"%s/data\";\n"
		 "streams = ( { name = \"%s\"; partitions = %d; flush = { interval_ms = 5; }; } );\n"
		 "routes = ( { filter = \"%s/+\"; stream = \"%s\"; } );\n"
		 "kafka = { bootstrap_servers = \"%s\"; %s\n"
		 "  forward = ( { stream = \"%s\"; topic = \"%s\"; } ); };\n",
		 E.dir, stream, nparts, stream, stream, E.mock.bootstrap, kextra, stream, topic);
	x->cfg = mqb_config_load_string(text, topic, mqb_test_sections(), err, sizeof(err));
	if (!x->cfg)
		fail_msg("config: %s", err);
	if (mqb_store_partition_count(E.st, stream) < 1 &&
	    mqb_store_stream_open(E.st, &x->cfg->streams[0].opts, err, sizeof(err)))
		fail_msg("stream: %s", err);
	snprintf(sdir, sizeof(sdir), "%s/%s-state", E.dir, topic);
	x->reg = mqb_metrics_new();
	x->f = mqb_kafka_fwd_new(x->cfg, E.st, x->reg, sdir, err, sizeof(err));
	if (!x->f)
		fail_msg("forwarder: %s", err);
	assert_int_equal(mqb_kafka_fwd_start(x->f), MQB_OK);
}

static void fwd2_stop(struct fwd2 *x)
{
	mqb_kafka_fwd_destroy(x->f);
	mqb_metrics_destroy(x->reg);
	mqb_config_free(x->cfg);
}

/* A second forwarder of stream t to edge.q whose queue holds 64 KiB (~650 records of
 * 100 bytes, below queue.buffering.max.messages): librdkafka refuses records with
 * QUEUE_FULL, each is produced again from memory at the next turn; every stored
 * record arrives once, in order. */
static void test_queue_full_bytes(void **state)
{
	struct fwd2 x;
	fwd2_start(&x, "t", NPARTS, "edge.q", "queue_buffering_max_kbytes = 64;");
	wait_drained_by(x.f, 60000);
	int64_t n[NPARTS];
	for (int p = 0; p < NPARTS; p++) {
		mqb_watermarks_t wm;
		mqb_partition_watermarks(mqb_store_partition(E.st, "t", p), &wm);
		n[p] = wm.stored;
	}
	double refused = prom_value(x.reg, "mqbridge_kafka_queue_full_total");
	print_message("edge.q: %.0f produce attempts refused with QUEUE_FULL\n", refused);
	assert_true(refused > 0);
	check_topic_of("edge.q", n, 0);
	fwd2_stop(&x);
}

/* A stream of 80 partitions (above MQB_JSON_DETAIL_MAX): its two registered counters
 * are one series per stream, not 160, and hold every partition's records; the 4-
 * partition stream t of the same process keeps its per-partition counters. */
#define WIDE 80
static void test_wide_stream_counters(void **state)
{
	char want[96];
	struct fwd2 x;
	fwd2_start(&x, "w", WIDE, "edge.w", "");
	int64_t total = 0;
	for (int p = 0; p < WIDE; p++) {
		assert_int_equal(kfill(mqb_store_partition(E.st, "w", p), p, 0, 3 + p % 5, 40,
				       1700000000000LL, 2), 0);
		total += 3 + p % 5;
	}
	int64_t deadline = mqbt_now_ms() + 60000, delivered;
	do {
		delivered = 0;
		for (int p = 0; p < WIDE; p++) {
			mqb_kafka_part_status_t s;
			assert_int_equal(mqb_kafka_fwd_status(x.f, "w", NULL, p, &s), MQB_OK);
			delivered += s.cursor;
		}
		if (delivered < total)
			mqbt_sleep_ms(20);
	} while (delivered < total && mqbt_now_ms() < deadline);
	assert_int_equal(delivered, total);
	/* even with every partition's detail asked for */
	char *prom = mqb_metrics_render_prometheus_detail(x.reg, NULL, MQB_JSON_DETAIL_ON);
	assert_non_null(prom);
	snprintf(want, sizeof want, "mqbridge_kafka_records_forwarded_total{stream=\"w\"} %lld\n",
		 (long long)total);
	assert_non_null(strstr(prom, want));
	assert_non_null(strstr(prom, "mqbridge_kafka_records_lost_total{stream=\"w\"} 0\n"));
	assert_null(strstr(prom, "_total{stream=\"w\",partition"));
	free(prom);
	fwd2_stop(&x);
	/* the 4-partition stream of the running main forwarder: per partition */
	assert_non_null(E.f);
	prom = mqb_metrics_render_prometheus(E.reg, NULL);
	assert_non_null(prom);
	assert_non_null(strstr(prom, "mqbridge_kafka_records_forwarded_total{stream=\"t\","
				     "partition=\"3\"}"));
	free(prom);
}

/* Threads of this process (/proc/self/task entries). */
static int own_threads(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

/* mqb_kafka_fwd_new() makes no trial producer any more: librdkafka's cross-property
 * check is the real producer's creation, reported in --check-config's words; nothing
 * is left running: librdkafka's thread count and this process's are back where they
 * were (the forwarder thread, spawned parked by mqb_kafka_fwd_new, is joined). */
static void test_start_refused_config(void **state)
{
	char text[2048], err[512] = "", sdir[300];
	snprintf(text, sizeof(text),
		 "data_dir = \"%s/data\";\n"
		 "streams = ( { name = \"t\"; partitions = %d; } );\n"
		 "routes = ( { filter = \"a/+\"; stream = \"t\"; } );\n"
		 "kafka = { bootstrap_servers = \"%s\";\n"
		 "  properties = ( (\"max.in.flight.requests.per.connection\", \"20\") );\n"
		 "  forward = ( { stream = \"t\"; topic = \"edge.t\"; } ); };\n",
		 E.dir, NPARTS, E.mock.bootstrap);
	mqb_config_t *cfg = mqb_config_load_string(text, "bad.conf", mqb_test_sections(), err,
						   sizeof(err));
	if (!cfg)
		fail_msg("config: %s", err);
	snprintf(sdir, sizeof(sdir), "%s/bad-state", E.dir);
	int threads = rd_kafka_thread_cnt(), own = own_threads();
	mqb_kafka_fwd_t *f = mqb_kafka_fwd_new(cfg, E.st, NULL, sdir, err, sizeof(err));
	print_message("refused at start: %s\n", err);
	assert_null(f);
	assert_non_null(strstr(err, "bad.conf:4: kafka.properties: librdkafka refused the "
			       "configuration: "));
	assert_non_null(strstr(err, "max.in.flight"));
	for (int i = 0; i < 100 && rd_kafka_thread_cnt() > threads; i++)
		mqbt_sleep_ms(10);
	assert_int_equal(rd_kafka_thread_cnt(), threads);
	assert_int_equal(own_threads(), own);
	mqb_config_free(cfg);

	/* a good one, destroyed without being started: its parked thread is joined */
	snprintf(text, sizeof(text),
		 "data_dir = \"%s/data\";\n"
		 "streams = ( { name = \"t\"; partitions = %d; } );\n"
		 "routes = ( { filter = \"a/+\"; stream = \"t\"; } );\n"
		 "kafka = { bootstrap_servers = \"%s\";\n"
		 "  forward = ( { stream = \"t\"; topic = \"edge.t\"; } ); };\n",
		 E.dir, NPARTS, E.mock.bootstrap);
	cfg = mqb_config_load_string(text, "good.conf", mqb_test_sections(), err, sizeof(err));
	if (!cfg)
		fail_msg("config: %s", err);
	f = mqb_kafka_fwd_new(cfg, E.st, NULL, sdir, err, sizeof(err));
	if (!f)
		fail_msg("forwarder: %s", err);
	mqbt_sleep_ms(300);   /* its thread has reserved its arena and waits for start */
	assert_int_equal(own_threads(), own + 1 + (rd_kafka_thread_cnt() - threads));
	mqb_kafka_fwd_destroy(f);
	assert_int_equal(rd_kafka_thread_cnt(), threads);
	assert_int_equal(own_threads(), own);
	mqb_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forward_exactly_once_and_refused),
		cmocka_unit_test(test_translate_against_kafka),
		cmocka_unit_test(test_restart_resumes),
		cmocka_unit_test(test_produce_errors),
		cmocka_unit_test(test_fatal_error),
		cmocka_unit_test(test_queue_full_bytes),
		cmocka_unit_test(test_wide_stream_counters),
		cmocka_unit_test(test_start_refused_config),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
