/*
 * test_kafka_e2e.c — the whole path with real parts: MQTT publisher -> mosquitto ->
 * mqbridged (ingest, store, forwarder) -> Kafka wire protocol (kafka_mock) -> an
 * independent librdkafka consumer.
 *  - every message arrives exactly once, in the partition its key maps to (murmur2,
 *    same number locally and in Kafka), in publish order per device, with key,
 *    mqtt.topic and MQTT 5 user-property headers; /stats "kafka" shows no backlog;
 *    GET /offsets/translate and `mqbridge offsets translate` answer;
 *  - mqbridged --check-config reports refused kafka.properties with file:line, key;
 *  - Kafka down while 32 MB arrive: mqbridged's RSS stays bounded, all drain once;
 *  - kill -9 of mqbridged while it forwards (Kafka slowed down), restart: nothing
 *    lost, order kept; duplicates only from the uncommitted window (counted, printed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "bridge/ingest/partitioner.h"
#include "tests/integration/ingest_util.h"
#include "tests/integration/test_kafka_util.h"

#define NPARTS 4
#define NDEV 40

static struct {
	mqbt_broker_t broker;
	kmock_t mock;
	iu_daemon_t d;
	iu_pub_t pub;
	int64_t published;
} E;

/* kafka section of GET /stats: total backlog and forwarded records of stream t. */
static int kafka_stats(int64_t *backlog, int64_t *forwarded, char *state, size_t state_size)
{
	char *body = NULL;
	int status = 0, rc = -1;
	*backlog = *forwarded = -1;
	if (mqbt_http_get(E.d.stats_port, "/stats", &status, &body) != 0 || status != 200) {
		free(body);
		return -1;
	}
	cJSON *doc = cJSON_Parse(body);
	cJSON *k = cJSON_GetObjectItem(doc, "kafka");
	cJSON *fw = cJSON_GetArrayItem(cJSON_GetObjectItem(k, "forward"), 0);
	cJSON *parts = cJSON_GetObjectItem(fw, "partitions"), *p;
	if (parts) {
		*backlog = *forwarded = 0;
		cJSON_ArrayForEach(p, parts) {
			*backlog += (int64_t)cJSON_GetObjectItem(p, "backlog_records")->valuedouble;
			*forwarded += (int64_t)cJSON_GetObjectItem(p, "forwarded_offset")->valuedouble;
		}
		rc = 0;
	}
	cJSON *st = cJSON_GetObjectItem(k, "state");
	if (state && cJSON_IsString(st))
		snprintf(state, state_size, "%s", st->valuestring);
	cJSON_Delete(doc);
	free(body);
	return rc;
}

static int wait_forwarded(int64_t n, int timeout_ms)
{
	int64_t dl = mqbt_now_ms() + timeout_ms, backlog, fwd;
	while (mqbt_now_ms() < dl) {
		if (kafka_stats(&backlog, &fwd, NULL, 0) == 0 && fwd >= n && backlog == 0)
			return 0;
		mqbt_sleep_ms(50);
	}
	kafka_stats(&backlog, &fwd, NULL, 0);
	fprintf(stderr, "forwarded %" PRId64 " of %" PRId64 ", backlog %" PRId64 "\n", fwd, n,
		backlog);
	return -1;
}

static int setup(void **state)
{
	char rest[2048];
	const char *topics[] = { "edge.t:4", NULL };
	memset(&E, 0, sizeof(E));
	assert_int_equal(mqbt_mosquitto_start(&E.broker, NULL), 0);
	assert_int_equal(kmock_start(&E.mock, 3, topics), 0);
	assert_int_equal(mqbt_tmpdir(E.d.dir, sizeof(E.d.dir)), 0);
	E.d.stats_port = mqbt_free_port();
	snprintf(rest, sizeof(rest),
		 "streams = ( { name = \"t\"; partitions = %d; flush = { interval_ms = 10; }; } );\n"
		 "routes = ( { filter = \"sensors/+/data\"; qos = 1; stream = \"t\"; key = \"{1}\"; } );\n"
		 "kafka = { bootstrap_servers = \"%s\"; sync_interval_offsets = 100;\n"
		 "  properties = ( (\"batch.num.messages\", \"200\") );\n"
		 "  forward = ( { stream = \"t\"; topic = \"edge.t\"; } ); };\n"
		 "groups = ( { name = \"analytics\"; stream = \"t\"; } );\n",
		 NPARTS, E.mock.bootstrap);
	assert_int_equal(iu_daemon_config(&E.d, E.broker.port, "mqb-kafka-e2e", NULL, rest), 0);
	assert_int_equal(iu_daemon_start(&E.d, NULL), 0);
	if (iu_daemon_wait_ready(&E.d, 30000) != 0) {
		char *log = mqbt_read_file(E.d.log, NULL);
		fail_msg("mqbridged not ready:\n%s", log ? log : "");
	}
	assert_int_equal(iu_pub_start(&E.pub, E.broker.port, "kafka-e2e-pub", true), 0);
	return 0;
}

static int teardown(void **state)
{
	iu_pub_stop(&E.pub);
	if (E.d.pid > 0)
		mqbt_stop(E.d.pid, 15000);
	kmock_stop(&E.mock);
	mqbt_mosquitto_destroy(&E.broker);
	if (!getenv("MQB_KEEP_TMP"))
		mqbt_rmrf(E.d.dir);
	else
		fprintf(stderr, "kept %s\n", E.d.dir);
	return 0;
}

/* Message number id from device id % NDEV: payload "v<dev>-<id>-xxxx". */
static void publish_sized(int64_t first, int64_t count, int size)
{
	static const char *const props[] = { "src", "e2e", NULL };
	for (int64_t id = first; id < first + count; id++) {
		char topic[64], payload[1100];
		int dev = (int)(id % NDEV);
		snprintf(topic, sizeof(topic), "sensors/dev%d/data", dev);
		int n = snprintf(payload, sizeof(payload), "v%d-%" PRId64 "-", dev, id);
		while (n < size && n < (int)sizeof(payload))
			payload[n++] = 'x';
		assert_int_equal(iu_pub_send(&E.pub, topic, payload, (size_t)n, 1, props), 0);
		iu_pub_throttle(&E.pub, 500);
	}
	assert_int_equal(iu_pub_wait_acked(&E.pub, 60000), 0);
	E.published = first + count;
}

static void publish(int64_t first, int64_t count)
{
	publish_sized(first, count, 40);
}

#define MAXID 80000
struct seen {
	uint16_t times[MAXID];   /* 160 KB: the struct is static */
	int64_t last_id[NDEV];
	int64_t dups, bad, order;
};

static void on_msg(const rd_kafka_message_t *m, void *arg)
{
	struct seen *s = arg;
	int dev = -1;
	int64_t id = kvalue_index(m->payload, m->len, &dev);
	if (id < 0 || id >= MAXID || dev < 0 || dev >= NDEV) {
		s->bad++;
		return;
	}
	char key[16], topic[64];
	int kl = snprintf(key, sizeof(key), "dev%d", dev);
	int tl = snprintf(topic, sizeof(topic), "sensors/dev%d/data", dev);
	rd_kafka_headers_t *h = NULL;
	const void *v = NULL;
	size_t vl = 0;
	int ok = m->key_len == (size_t)kl && memcmp(m->key, key, kl) == 0 &&
		 m->partition == mqb_partition_for_key(key, (size_t)kl, NPARTS) &&
		 rd_kafka_message_headers(m, &h) == 0 &&
		 rd_kafka_header_get_last(h, "mqtt.topic", &v, &vl) == 0 && vl == (size_t)tl &&
		 memcmp(v, topic, vl) == 0 &&
		 rd_kafka_header_get_last(h, "src", &v, &vl) == 0 && vl == 3 &&
		 memcmp(v, "e2e", 3) == 0;
	if (!ok && s->bad++ < 5)
		fprintf(stderr, "bad message id %" PRId64 " partition %d\n", id, m->partition);
	if (s->times[id]++ > 0) {
		s->dups++;
		return;
	}
	/* first sight of each id: ids of one device arrive in publish order */
	if (id < s->last_id[dev] && s->order++ < 5)
		fprintf(stderr, "dev%d: id %" PRId64 " after %" PRId64 "\n", dev, id,
			s->last_id[dev]);
	s->last_id[dev] = id;
}

static struct seen S;

static void read_back(int64_t n)
{
	memset(&S, 0, sizeof(S));
	for (int d = 0; d < NDEV; d++)
		S.last_id[d] = -1;
	int64_t got = kconsume(E.mock.bootstrap, "edge.t", NPARTS, n, 60000, 1500, on_msg, &S);
	assert_true(got >= n);
	assert_int_equal(S.bad, 0);
	assert_int_equal(S.order, 0);
	for (int64_t id = 0; id < n; id++)
		if (S.times[id] == 0)
			fail_msg("message %" PRId64 " never reached Kafka", id);
}

static void test_e2e_exactly_once(void **state)
{
	publish(0, 4000);
	assert_int_equal(wait_forwarded(4000, 60000), 0);
	read_back(4000);
	assert_int_equal(S.dups, 0);

	/* translation through the daemon's endpoint and the CLI */
	char *body = NULL, url[64], port[16];
	int status = 0;
	assert_int_equal(mqbt_http_get(E.d.stats_port,
				       "/offsets/translate?stream=t&partition=1&offset=0",
				       &status, &body), 0);
	assert_int_equal(status, 200);
	assert_non_null(strstr(body, "\"kafka_offset\""));
	free(body);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", E.d.stats_port);
	snprintf(port, sizeof(port), "%d", E.d.stats_port);
	const char *argv[] = { mqbt_bin("mqbridge"), "offsets", "translate", "--stream", "t",
			       "--partition", "1", "--offset", "0", "--url", url, NULL };
	char *out = NULL;
	size_t outlen = 0;
	int rc = mqbt_run(argv, &out, &outlen, 10000);
	if (rc != 0 || !out || !strstr(out, "edge.t"))
		fail_msg("mqbridge offsets translate: exit %d, output: %s", rc, out ? out : "");
	free(out);
	/* a group with no member yet has committed 0 everywhere: one line per partition */
	const char *gargv[] = { mqbt_bin("mqbridge"), "offsets", "translate", "--stream", "t",
				"--group", "analytics", "--url", url, "--json", NULL };
	out = NULL;
	rc = mqbt_run(gargv, &out, &outlen, 10000);
	cJSON *arr = out ? cJSON_Parse(out) : NULL;
	if (rc != 0 || cJSON_GetArraySize(arr) != NPARTS)
		fail_msg("mqbridge offsets translate --group: exit %d, output: %s", rc,
			 out ? out : "");
	cJSON *it;
	cJSON_ArrayForEach(it, arr)
		assert_int_equal((int)cJSON_GetObjectItem(it, "kafka_offset")->valuedouble, 0);
	cJSON_Delete(arr);
	free(out);
	/* bad usage: exit 2 */
	static const char *const bad_args[][6] = {
		{ "--partition", "0", "--offset", "1", NULL },                  /* no --stream */
		{ "--stream", "t", "--partition", "x", "--offset", "1" },
		{ "--stream", "t", "--partition", "0", "--offset", "-1" },
		{ "--stream", "t", "--partition", "0", NULL },                 /* no --offset */
		{ "--stream", "t", "--group", "g", "--offset", "3" },
	};
	for (size_t i = 0; i < sizeof(bad_args) / sizeof(bad_args[0]); i++) {
		const char *a[12] = { mqbt_bin("mqbridge"), "offsets", "translate" };
		size_t n = 3;
		for (size_t j = 0; j < 6 && bad_args[i][j]; j++)
			a[n++] = bad_args[i][j];
		a[n++] = "--url";
		a[n++] = url;
		a[n] = NULL;
		assert_int_equal(mqbt_run(a, NULL, NULL, 10000), 2);
	}
	const char *nosub[] = { mqbt_bin("mqbridge"), "offsets", "frobnicate", NULL };
	assert_int_equal(mqbt_run(nosub, NULL, NULL, 10000), 2);
	/* unknown group: a clear error, exit 1 */
	const char *bargv[] = { mqbt_bin("mqbridge"), "offsets", "translate", "--stream", "t",
				"--group", "nope", "--url", url, NULL };
	assert_int_equal(mqbt_run(bargv, NULL, NULL, 10000), 1);
}

/* The message ids the local log holds (read with a read-only store: no lock). */
static int64_t local_ids(uint8_t *have)
{
	char err[512];
	int64_t n = 0;
	mqb_store_t *st = mqb_store_open(E.d.data, MQB_STORE_RDONLY, err, sizeof(err));
	assert_non_null(st);
	assert_int_equal(mqb_store_stream_open(st, NULL, err, sizeof(err)), 0);
	for (int p = 0; p < NPARTS; p++) {
		mqb_reader_t *r = mqb_reader_new(mqb_store_partition(st, "t", p), 0);
		mqb_record_t rec;
		while (mqb_reader_next_record(r, &rec) == MQB_OK) {
			int64_t id = kvalue_index(rec.value, (size_t)rec.value_len, NULL);
			if (id >= 0 && id < MAXID)
				have[id] = 1;
			n++;
		}
		mqb_reader_destroy(r);
	}
	mqb_store_close(st);
	return n;
}

static void test_kill9_resume(void **state)
{
	int64_t backlog, fwd;
	/* Kafka away while 16000 more arrive, then back but slow (300 ms round trips,
	 * small batches): the kill comes while a large window is in flight. */
	assert_int_equal(kmock_cmd(&E.mock, "down all"), 0);
	publish(4000, 16000);
	/* the edge keeps ingesting: /readyz stays ready while /stats says Kafka is down */
	char st[32] = "";
	int64_t dl0 = mqbt_now_ms() + 15000;
	/* (the broker acknowledges the publisher before mqbridged has stored everything) */
	while ((strcmp(st, "down") != 0 || backlog < 16000) && mqbt_now_ms() < dl0) {
		kafka_stats(&backlog, &fwd, st, sizeof(st));
		mqbt_sleep_ms(100);
	}
	assert_string_equal(st, "down");
	assert_true(backlog >= 16000);
	char *body = NULL;
	int status = 0;
	assert_int_equal(mqbt_http_get(E.d.stats_port, "/readyz", &status, &body), 0);
	assert_int_equal(status, 200);
	free(body);
	assert_int_equal(kmock_cmd(&E.mock, "rtt all 300"), 0);
	assert_int_equal(kmock_cmd(&E.mock, "up all"), 0);
	int64_t dl = mqbt_now_ms() + 60000;
	do {
		mqbt_sleep_ms(10);
		assert_int_equal(kafka_stats(&backlog, &fwd, NULL, 0), 0);
	} while (fwd < 6000 && mqbt_now_ms() < dl);
	print_message("kill -9 with %" PRId64 " forwarded, backlog %" PRId64 "\n", fwd, backlog);
	assert_true(backlog > 0);
	mqbt_kill(E.d.pid, SIGKILL);
	assert_int_equal(mqbt_wait(E.d.pid, 10000), 128 + SIGKILL);
	E.d.pid = 0;
	assert_int_equal(kmock_cmd(&E.mock, "rtt all 0"), 0);
	assert_int_equal(iu_daemon_start(&E.d, NULL), 0);
	assert_int_equal(iu_daemon_wait_ready(&E.d, 30000), 0);
	/* ingest may lose or redeliver around its own crash window: compare Kafka with
	 * what the local log holds */
	static uint8_t have[MAXID];
	memset(have, 0, sizeof(have));
	int64_t local = 0, dl2 = mqbt_now_ms() + 90000;
	do {
		mqbt_sleep_ms(200);
		int64_t prev = local;
		local = local_ids(have);
		assert_int_equal(kafka_stats(&backlog, &fwd, NULL, 0), 0);
		if (local == prev && fwd == local && backlog == 0)
			break;
	} while (mqbt_now_ms() < dl2);
	assert_int_equal(fwd, local);
	int64_t missing_local = 0;
	for (int64_t id = 0; id < 20000; id++)
		missing_local += !have[id];
	memset(&S, 0, sizeof(S));
	for (int d = 0; d < NDEV; d++)
		S.last_id[d] = -1;
	int64_t got = kconsume(E.mock.bootstrap, "edge.t", NPARTS, local, 60000, 1500, on_msg, &S);
	assert_true(got >= local);
	assert_int_equal(S.bad, 0);
	assert_int_equal(S.order, 0);
	for (int64_t id = 0; id < MAXID; id++)
		if (have[id] && !S.times[id])
			fail_msg("message %" PRId64 " is in the local log but not in Kafka", id);
	print_message("after kill -9 and restart: all %" PRId64 " local records in Kafka, %"
		      PRId64 " duplicates (the window delivered but not yet persisted at the "
		      "kill, plus MQTT redeliveries); ingest's crash window: %" PRId64
		      " published ids not in the local log\n", local, S.dups, missing_local);
	assert_true(S.dups <= 16000);
}

/* mqbridged --check-config runs the forwarder's checks: a property librdkafka refuses
 * is reported with file:line and the key, exit 1; the good file passes. */
static void test_check_config(void **state)
{
	char conf[400], text[1024], *out = NULL;
	snprintf(conf, sizeof(conf), "%s/check.conf", E.d.dir);
	static const struct { const char *prop, *want; } bad[] = {
		{ "(\"no.such.thing\", \"1\")",
		  "check.conf:6: kafka.properties.no.such.thing: No such configuration property" },
		{ "(\"compression.type\", \"zip\")",
		  "check.conf:6: kafka.properties.compression.type: Invalid value \"zip\"" },
		{ "(\"max.in.flight.requests.per.connection\", \"50\")",
		  "check.conf:4: kafka.properties: librdkafka refused the configuration" },
		{ "(\"batch.num.messages\", \"500\")", NULL },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text),
			 "data_dir = \"%s/data-check\";\n"
			 "streams = ( { name = \"t\"; partitions = 2; } );\n"
			 "routes = ( { filter = \"a/+\"; stream = \"t\"; } );\n"
			 "kafka = { bootstrap_servers = \"127.0.0.1:9\";\n"
			 "  properties = ( (\"linger.ms\", \"5\"),\n"
			 "                 %s );\n"
			 "  forward = ( { stream = \"t\"; topic = \"edge.t\"; } ); };\n",
			 E.d.dir, bad[i].prop);
		assert_int_equal(mqbt_write_file(conf, text), 0);
		const char *argv[] = { "/bin/sh", "-c", "exec \"$0\" --check-config -c \"$1\" 2>&1",
				       mqbt_bin("mqbridged"), conf, NULL };
		size_t len = 0;
		out = NULL;
		int rc = mqbt_run(argv, &out, &len, 20000);
		if (bad[i].want ? (rc != 1 || !out || !strstr(out, bad[i].want)) : rc != 0)
			fail_msg("%s: exit %d, output: %s", bad[i].prop, rc, out ? out : "");
		free(out);
	}
}

/* mqbridged's memory during a Kafka outage under load: 40,000 records of 800 bytes
 * (~32 MB, twice librdkafka's 16 MiB queue bound) arrive while every broker is down;
 * RSS stays bounded; afterwards all drain. */
static void test_outage_rss(void **state)
{
	int64_t backlog, fwd;
	char st[32] = "";
	int64_t base = E.published;
	long rss_before = krss_kb(E.d.pid), rss_max = rss_before;
	assert_int_equal(kmock_cmd(&E.mock, "down all"), 0);
	for (int64_t k = 0; k < 40000; k += 5000) {
		publish_sized(base + k, 5000, 800);
		long rss = krss_kb(E.d.pid);
		if (rss > rss_max)
			rss_max = rss;
	}
	int64_t dl0 = mqbt_now_ms() + 15000;
	do {   /* until mqbridged stored what the broker acknowledged */
		assert_int_equal(kafka_stats(&backlog, &fwd, st, sizeof(st)), 0);
		long rss = krss_kb(E.d.pid);
		if (rss > rss_max)
			rss_max = rss;
		mqbt_sleep_ms(100);
	} while (backlog < 40000 && mqbt_now_ms() < dl0);
	print_message("outage: backlog %" PRId64 " records (state %s); mqbridged RSS %ld KiB "
		      "before, %ld KiB max during (+%ld KiB)\n", backlog, st, rss_before,
		      rss_max, rss_max - rss_before);
	assert_true(backlog >= 40000);
	KUTIL_RSS_BOUND(rss_max - rss_before < 48 * 1024);
	KUTIL_RSS_BOUND(rss_max < 96 * 1024);
	assert_int_equal(kmock_cmd(&E.mock, "up all"), 0);
	int64_t dl = mqbt_now_ms() + 90000;
	do {
		mqbt_sleep_ms(100);
		kafka_stats(&backlog, &fwd, st, sizeof(st));
	} while (backlog > 0 && mqbt_now_ms() < dl);
	assert_int_equal(backlog, 0);
	memset(&S, 0, sizeof(S));
	for (int d = 0; d < NDEV; d++)
		S.last_id[d] = -1;
	kconsume(E.mock.bootstrap, "edge.t", NPARTS, fwd, 60000, 1000, on_msg, &S);
	assert_int_equal(S.bad, 0);
	for (int64_t id = base; id < base + 40000; id++)
		if (S.times[id] != 1)
			fail_msg("message %" PRId64 " reached Kafka %d times", id, S.times[id]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_config),
		cmocka_unit_test(test_e2e_exactly_once),
		cmocka_unit_test(test_kill9_resume),
		cmocka_unit_test(test_outage_rss),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
