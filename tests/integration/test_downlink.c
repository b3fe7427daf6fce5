/*
 * test_downlink.c — the Kafka -> MQTT downlink with real parts: kcat -P -> Kafka wire
 * protocol (kafka_mock) -> mqbridged's downlink (a consumer in a Kafka group) ->
 * mosquitto -> a libmosquitto MQTT 5 subscriber (tests/support/mqtt_collect.h).
 *  - 10,000 records (keys = device ids, headers kind and src) arrive once each, on
 *    dl/{key}/p{partition}/{header:kind}, in offset order per partition, with the
 *    headers as user properties; a record without the kind header is counted as
 *    unroutable and dead-lettered (in the dead-letter stream, never published), and
 *    the records after it still flow;
 *  - kill -9 of mqbridged mid-stream 5 times: nothing lost, duplicates (from the
 *    window between PUBACK and commit) counted and printed;
 *  - two mqbridged in one downlink group publish disjoint partitions; kill -9 one,
 *    the other takes its partitions over with nothing lost;
 *  - the MQTT broker stopped for 10 s mid-stream: nothing lost, RSS bounded;
 *  - a second entry with QoS 2 and allow_topic_header: records go to their mqtt.topic
 *    header's topic or the template's, once each; a null key ({key}) is skipped, counted.
 * The mock cluster of librdkafka 2.0.2 runs the cooperative-sticky assignor (the
 * group's protocol is COOPERATIVE; the log says so). It ignores LeaveGroup, so the
 * groups use session.timeout.ms = 6000 to make hand-overs quick.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/integration/ingest_util.h"
#include "tests/integration/test_kafka_util.h"
#include "tests/support/mqtt_collect.h"

#define TOPIC "site42.commands"
#define CFG_TOPIC "site42.config"
#define NPARTS 4
#define NDEV 50
#define MAXSEQ 20000

static struct {
	mqbt_broker_t broker;
	kmock_t mock;
	iu_daemon_t d[2];
	mqbt_collect_t *sub;
	char dir[256];
} E;

/* --- fixture ----------------------------------------------------------------------- */

/* extra_props: more kafka.properties entries, extra_entries: more downlink entries
 * (each starting with ","); "" for none. */
static int daemon_setup_full(iu_daemon_t *d, const char *client_id, const char *extra_props,
			     const char *extra_entries)
{
	char rest[4096];
	memset(d, 0, sizeof(*d));
	if (mqbt_tmpdir(d->dir, sizeof(d->dir)))
		return -1;
	d->stats_port = mqbt_free_port();
	snprintf(rest, sizeof(rest),
		 "streams = ( { name = \"t\"; partitions = 1; },\n"
		 "            { name = \"dead\"; partitions = 1; flush = { interval_ms = 10; }; } );\n"
		 "routes = ( { filter = \"up/+/x\"; stream = \"t\"; } );\n"
		 "kafka = { bootstrap_servers = \"%s\";\n"
		 "  properties = ( (\"session.timeout.ms\", \"6000\"),\n"
		 "                 (\"heartbeat.interval.ms\", \"1000\")%s );\n"
		 "  downlink = ( { topic = \"" TOPIC "\"; group = \"mqbridge-site42\";\n"
		 "    mqtt_topic = \"dl/{key}/p{partition}/{header:kind}\"; qos = 1;\n"
		 "    on_unroutable = \"dead_letter\"; dead_letter = \"dead\"; }%s ); };\n",
		 E.mock.bootstrap, extra_props, extra_entries);
	return iu_daemon_config(d, E.broker.port, client_id, NULL, rest);
}

static int daemon_setup_props(iu_daemon_t *d, const char *client_id, const char *extra_props)
{
	return daemon_setup_full(d, client_id, extra_props, "");
}

static int daemon_setup(iu_daemon_t *d, const char *client_id)
{
	return daemon_setup_props(d, client_id, "");
}

/* /stats "downlink": partitions assigned here (bit mask) and with published > 0. */
static int dl_stats(iu_daemon_t *d, unsigned *assigned, unsigned *published,
		    long long *unroutable)
{
	char *body = NULL;
	int status = 0;
	*assigned = *published = 0;
	if (unroutable)
		*unroutable = -1;
	if (mqbt_http_get(d->stats_port, "/stats", &status, &body) != 0 || status != 200) {
		free(body);
		return -1;
	}
	cJSON *doc = cJSON_Parse(body), *p;
	cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "downlink"),
							  "entries"), 0);
	cJSON_ArrayForEach(p, cJSON_GetObjectItem(e, "partitions")) {
		int id = cJSON_GetObjectItem(p, "partition")->valueint;
		if (cJSON_IsTrue(cJSON_GetObjectItem(p, "assigned")))
			*assigned |= 1u << id;
		if (cJSON_GetObjectItem(p, "published")->valuedouble > 0)
			*published |= 1u << id;
	}
	if (unroutable && e)
		*unroutable = (long long)cJSON_GetObjectItem(cJSON_GetObjectItem(e, "unroutable"),
							     "no_header")->valuedouble;
	cJSON_Delete(doc);
	free(body);
	return e ? 0 : -1;
}

/* Wait until d owns a partition (want_all: all of them). */
static int wait_assigned(iu_daemon_t *d, bool want_all, int timeout_ms)
{
	int64_t end = mqbt_now_ms() + timeout_ms;
	unsigned a, p;
	while (mqbt_now_ms() < end) {
		if (dl_stats(d, &a, &p, NULL) == 0 &&
		    (want_all ? a == (1u << NPARTS) - 1 : a != 0))
			return 0;
		mqbt_sleep_ms(100);
	}
	return -1;
}

static void start_daemon(iu_daemon_t *d)
{
	assert_int_equal(iu_daemon_start(d, NULL), 0);
	if (iu_daemon_wait_ready(d, 30000) != 0) {
		iu_daemon_dump_log(d);
		fail_msg("mqbridged not ready");
	}
}

static int setup(void **state)
{
	const char *topics[] = { TOPIC ":4", CFG_TOPIC ":2", NULL };
	(void)state;
	memset(&E, 0, sizeof(E));
	/* no limit on what the broker queues for the subscriber while it reconnects
	 * (max_inflight_messages 0 is avoided: mosquitto 2.0 then stalls QoS 2 to
	 * subscribers after 20 messages) */
	assert_int_equal(mqbt_mosquitto_start(&E.broker, "max_queued_messages 0\n"), 0);
	assert_int_equal(kmock_start(&E.mock, 1, topics), 0);
	assert_int_equal(mqbt_tmpdir(E.dir, sizeof(E.dir)), 0);
	E.sub = mqbt_collect_start(E.broker.port, "dl-test-sub", "dl/#", 1);
	assert_non_null(E.sub);
	assert_int_equal(daemon_setup(&E.d[0], "dl-a"), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++)
		if (E.d[i].pid > 0)
			mqbt_stop(E.d[i].pid, 15000);
	mqbt_collect_stop(E.sub);
	kmock_stop(&E.mock);
	mqbt_mosquitto_destroy(&E.broker);
	if (!getenv("MQB_KEEP_TMP")) {
		for (int i = 0; i < 2; i++)
			if (E.d[i].dir[0])
				mqbt_rmrf(E.d[i].dir);
		mqbt_rmrf(E.dir);
	} else {
		fprintf(stderr, "kept %s %s %s\n", E.dir, E.d[0].dir, E.d[1].dir);
	}
	return 0;
}

/* --- producing with kcat ----------------------------------------------------------- */

/* Start kcat -P producing records first..first+count-1: key "dev<seq % NDEV>", value
 * "s<seq>", headers kind=cmd (unless !kind) and src=kcat. */
static pid_t produce_async(int64_t first, int64_t count, bool kind)
{
	char path[400], cmd[1200];
	snprintf(path, sizeof(path), "%s/in-%" PRId64 ".txt", E.dir, first);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	for (int64_t s = first; s < first + count; s++)
		fprintf(f, "dev%d:s%" PRId64 "\n", (int)(s % NDEV), s);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "kcat -P -b '%s' -t " TOPIC " -K: %s -H src=kcat < '%s'",
		 E.mock.bootstrap, kind ? "-H kind=cmd" : "", path);
	const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
	pid_t pid = 0;
	assert_int_equal(mqbt_spawn(&pid, argv, NULL), 0);
	return pid;
}

static void produce(int64_t first, int64_t count, bool kind)
{
	assert_int_equal(mqbt_wait(produce_async(first, count, kind), 60000), 0);
}

/* kcat -P -t topic <flags> with the lines in text (blocking). */
static void produce_text(const char *topic, const char *flags, const char *text)
{
	char path[400], cmd[1200];
	static int n;
	snprintf(path, sizeof(path), "%s/raw-%d.txt", E.dir, n++);
	assert_int_equal(mqbt_write_file(path, text), 0);
	snprintf(cmd, sizeof(cmd), "kcat -P -b '%s' -t %s %s < '%s'", E.mock.bootstrap, topic,
		 flags, path);
	const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
	pid_t pid = 0;
	assert_int_equal(mqbt_spawn(&pid, argv, NULL), 0);
	assert_int_equal(mqbt_wait(pid, 60000), 0);
}

/* /stats: downlink entry i's unroutable count for reason. */
static long long dl_unroutable(iu_daemon_t *d, int entry, const char *reason)
{
	char *body = NULL;
	int status = 0;
	long long v = -1;
	if (mqbt_http_get(d->stats_port, "/stats", &status, &body) == 0 && status == 200) {
		cJSON *doc = cJSON_Parse(body);
		cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(doc,
						"downlink"), "entries"), entry);
		cJSON *r = cJSON_GetObjectItem(cJSON_GetObjectItem(e, "unroutable"), reason);
		if (cJSON_IsNumber(r))
			v = (long long)r->valuedouble;
		cJSON_Delete(doc);
	}
	free(body);
	return v;
}

/* --- checking what arrived --------------------------------------------------------- */

typedef struct tally {
	int64_t unique, total, dups, bad;
	int64_t last_first[NPARTS];      /* last seq first seen per partition */
	int key_part[NDEV];              /* partition each device's records came on */
	unsigned char *seen;             /* MAXSEQ counters */
} tally_t;

/* One message: topic dl/dev<K>/p<P>/cmd, payload s<seq>, user props kind, src. */
static void tally_msg(tally_t *t, const mqbt_msg_t *m)
{
	int dev = -1, part = -1;
	long long seq = -1;
	char kind[16] = "";
	t->total++;
	if (sscanf(m->topic, "dl/dev%d/p%d/%15s", &dev, &part, kind) != 3 ||
	    sscanf(m->payload, "s%lld", &seq) != 1 || seq < 0 || seq >= MAXSEQ ||
	    dev != (int)(seq % NDEV) || part < 0 || part >= NPARTS || strcmp(kind, "cmd") ||
	    !mqbt_msg_prop(m, "kind") || strcmp(mqbt_msg_prop(m, "kind"), "cmd") ||
	    !mqbt_msg_prop(m, "src") || strcmp(mqbt_msg_prop(m, "src"), "kcat")) {
		if (t->bad++ < 5)
			fprintf(stderr, "bad message: %s %s\n", m->topic, m->payload);
		return;
	}
	if (t->key_part[dev] >= 0 && t->key_part[dev] != part && t->bad++ < 5)
		fprintf(stderr, "dev%d on partitions %d and %d\n", dev, t->key_part[dev], part);
	t->key_part[dev] = part;
	if (t->seen[seq]++) {
		t->dups++;
		return;
	}
	t->unique++;
	if (seq <= t->last_first[part] && t->bad++ < 5)
		fprintf(stderr, "partition %d: s%lld after s%" PRId64 "\n", part, seq,
			t->last_first[part]);
	t->last_first[part] = seq;
}

static void tally(tally_t *t)
{
	size_t n = 0;
	mqbt_msg_t *v = mqbt_collect_snapshot(E.sub, &n);
	free(t->seen);
	memset(t, 0, sizeof(*t));
	t->seen = calloc(MAXSEQ, 1);
	for (int i = 0; i < NPARTS; i++)
		t->last_first[i] = -1;
	for (int i = 0; i < NDEV; i++)
		t->key_part[i] = -1;
	for (size_t i = 0; i < n; i++)
		tally_msg(t, &v[i]);
	mqbt_collect_free_msgs(v, n);
}

/* Wait until `want` distinct records arrived, then settle_ms more for extras. */
static void wait_unique(tally_t *t, int64_t want, int timeout_ms, int settle_ms)
{
	int64_t end = mqbt_now_ms() + timeout_ms;
	do {
		mqbt_sleep_ms(250);
		tally(t);
	} while (t->unique < want && mqbt_now_ms() < end);
	mqbt_sleep_ms(settle_ms);
	tally(t);
	if (t->unique != want) {
		iu_daemon_dump_log(&E.d[0]);
		fprintf(stderr, "received %" PRId64 " distinct of %" PRId64 " (%" PRId64
			" in all)\n", t->unique, want, t->total);
	}
	for (int64_t s = 0; s < want && t->unique != want; s++)
		if (!t->seen[s]) {
			fprintf(stderr, "first missing: s%" PRId64 "\n", s);
			break;
		}
}

/* Without per-partition detail (what a topic above 64 partitions gets by default):
 * /stats gives the entry's totals, /metrics the topic's sums without a partition
 * label; both agree with the published count. */
static void check_sums(iu_daemon_t *d, long long published)
{
	char *body = NULL, want[160];
	int status = 0;

	assert_int_equal(mqbt_http_get(d->stats_port, "/stats?partitions=0", &status, &body), 0);
	assert_int_equal(status, 200);
	cJSON *doc = cJSON_Parse(body);
	cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "downlink"),
							  "entries"), 0);
	assert_non_null(e);
	assert_null(cJSON_GetObjectItem(e, "partitions"));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(e, "partitions_omitted")));
	assert_int_equal((int)cJSON_GetObjectItem(e, "partition_count")->valuedouble, NPARTS);
	cJSON *to = cJSON_GetObjectItem(e, "totals");
	assert_true(cJSON_GetObjectItem(to, "published")->valuedouble == (double)published);
	assert_true(cJSON_GetObjectItem(to, "assigned")->valuedouble == NPARTS);
	cJSON_Delete(doc);
	free(body);
	body = NULL;
	assert_int_equal(mqbt_http_get(d->stats_port, "/metrics?partitions=0", &status, &body), 0);
	assert_int_equal(status, 200);
	snprintf(want, sizeof want, "\nmqbridge_downlink_published_total{topic=\"%s\"} %lld\n",
		 TOPIC, published);
	assert_non_null(strstr(body, want));
	assert_null(strstr(body, "mqbridge_downlink_position{topic=\"" TOPIC "\",partition"));
	free(body);
}

/* --- tests ------------------------------------------------------------------------- */

static void test_10k_once_in_order(void **state)
{
	tally_t t = { 0 };
	(void)state;
	start_daemon(&E.d[0]);
	assert_int_equal(wait_assigned(&E.d[0], true, 30000), 0);
	produce(0, 10000, true);
	wait_unique(&t, 10000, 60000, 2000);
	assert_int_equal(t.unique, 10000);
	assert_int_equal(t.dups, 0);
	assert_int_equal(t.bad, 0);
	/* unroutable: no kind header -> dead-lettered, counted, never published */
	produce(10000, 1, false);
	produce(10001, 10, true);
	wait_unique(&t, 10010, 30000, 1000);
	assert_int_equal(t.unique, 10010);
	assert_int_equal(t.seen[10000], 0);
	unsigned a, p;
	long long unroutable;
	assert_int_equal(dl_stats(&E.d[0], &a, &p, &unroutable), 0);
	assert_int_equal(unroutable, 1);
	check_sums(&E.d[0], 10010);
	assert_int_equal(mqbt_stop(E.d[0].pid, 15000), 0);
	E.d[0].pid = 0;
	iu_records_t rs;
	assert_int_equal(iu_read_stream(E.d[0].data, "dead", 1, &rs), 0);
	assert_int_equal(rs.n, 1);
	assert_string_equal(rs.v[0].value, "s10000");
	assert_non_null(iu_hdr(&rs.v[0], "unroutable.reason"));
	assert_string_equal(iu_hdr(&rs.v[0], "kafka.topic"), TOPIC);
	iu_records_free(&rs);
	free(t.seen);
}

/* Wait until at least n more messages than before arrived (the stream is flowing). */
static int wait_more(size_t before, size_t n, int timeout_ms)
{
	int64_t end = mqbt_now_ms() + timeout_ms;
	while (mqbt_now_ms() < end) {
		if (mqbt_collect_count(E.sub) >= before + n)
			return 0;
		mqbt_sleep_ms(5);
	}
	return -1;
}

/* The backlog is produced first; small fetches and a 100 ms broker round trip make
 * the downlink take seconds over it, and each kill comes once the restarted daemon
 * has been publishing for a moment (mid-stream, with acks not yet committed). */
static void test_kill9_mid_stream(void **state)
{
	tally_t t = { 0 };
	(void)state;
	mqbt_rmrf(E.d[0].dir);
	assert_int_equal(daemon_setup_props(&E.d[0], "dl-a",
					    ", (\"max.partition.fetch.bytes\", \"1024\")"), 0);
	produce(0, 10000, true);
	assert_int_equal(kmock_cmd(&E.mock, "rtt all 100"), 0);
	for (int k = 0; k < 5; k++) {
		size_t before = mqbt_collect_count(E.sub);
		start_daemon(&E.d[0]);
		assert_int_equal(wait_more(before, 300 + (size_t)(rand() % 500), 60000), 0);
		mqbt_kill(E.d[0].pid, SIGKILL);
		mqbt_wait(E.d[0].pid, 10000);
		fprintf(stderr, "kill -9 %d: %zu messages received so far\n", k + 1,
			mqbt_collect_count(E.sub));
	}
	tally(&t);
	assert_true(t.unique < 10000);     /* the kills were mid-stream */
	start_daemon(&E.d[0]);
	wait_unique(&t, 10000, 120000, 3000);
	fprintf(stderr, "kill -9 x5: %" PRId64 " distinct, %" PRId64 " duplicates (%" PRId64
		" messages)\n", t.unique, t.dups, t.total);
	assert_int_equal(t.unique, 10000);
	assert_int_equal(t.bad, 0);
	free(t.seen);
}

static void test_two_gateways_one_group(void **state)
{
	tally_t t = { 0 };
	unsigned a0, p0, a1, p1;
	(void)state;
	assert_int_equal(daemon_setup(&E.d[1], "dl-b"), 0);
	start_daemon(&E.d[0]);
	start_daemon(&E.d[1]);
	int64_t end = mqbt_now_ms() + 60000;
	do {
		mqbt_sleep_ms(200);
		dl_stats(&E.d[0], &a0, &p0, NULL);
		dl_stats(&E.d[1], &a1, &p1, NULL);
	} while ((!a0 || !a1 || (a0 | a1) != (1u << NPARTS) - 1 || (a0 & a1)) &&
		 mqbt_now_ms() < end);
	fprintf(stderr, "assigned: A %#x, B %#x\n", a0, a1);
	assert_true(a0 && a1 && !(a0 & a1) && (a0 | a1) == (1u << NPARTS) - 1);
	produce(0, 4000, true);
	wait_unique(&t, 4000, 60000, 1000);
	assert_int_equal(t.unique, 4000);
	assert_int_equal(t.dups, 0);
	assert_int_equal(dl_stats(&E.d[0], &a0, &p0, NULL), 0);
	assert_int_equal(dl_stats(&E.d[1], &a1, &p1, NULL), 0);
	fprintf(stderr, "published: A %#x, B %#x\n", p0, p1);
	assert_int_equal(p0 & p1, 0);
	assert_int_equal(p0 | p1, (1u << NPARTS) - 1);
	/* the group runs the cooperative protocol (incremental assignment) */
	char *log = mqbt_read_file(E.d[1].log, NULL);
	assert_non_null(log);
	assert_non_null(strstr(log, "assigned (cooperative)"));
	free(log);
	/* kill -9 A while both publish: B takes A's partitions over */
	size_t before = mqbt_collect_count(E.sub);
	pid_t kc = produce_async(4000, 4000, true);
	assert_int_equal(wait_more(before, 200, 60000), 0);
	mqbt_kill(E.d[0].pid, SIGKILL);
	mqbt_wait(E.d[0].pid, 10000);
	E.d[0].pid = 0;
	fprintf(stderr, "kill -9 of A with %zu of 8000 received\n", mqbt_collect_count(E.sub));
	assert_int_equal(mqbt_wait(kc, 60000), 0);
	assert_int_equal(wait_assigned(&E.d[1], true, 60000), 0);
	wait_unique(&t, 8000, 60000, 1000);
	fprintf(stderr, "after kill -9 of A: %" PRId64 " distinct, %" PRId64 " duplicates\n",
		t.unique, t.dups);
	assert_int_equal(t.unique, 8000);
	assert_int_equal(t.bad, 0);
	free(t.seen);
}

static void test_broker_down_10s(void **state)
{
	tally_t t = { 0 };
	long rss_max = 0;
	(void)state;
	start_daemon(&E.d[0]);
	assert_int_equal(wait_assigned(&E.d[0], true, 30000), 0);
	pid_t kc = produce_async(0, 8000, true);
	mqbt_sleep_ms(200);
	mqbt_mosquitto_stop(&E.broker);
	for (int i = 0; i < 20; i++) {
		long kb = krss_kb(E.d[0].pid);
		if (kb > rss_max)
			rss_max = kb;
		mqbt_sleep_ms(500);
	}
	assert_int_equal(mqbt_wait(kc, 60000), 0);
	assert_int_equal(mqbt_mosquitto_restart(&E.broker), 0);
	wait_unique(&t, 8000, 90000, 2000);
	fprintf(stderr, "broker down 10 s: %" PRId64 " distinct, %" PRId64 " duplicates, "
		"mqbridged RSS at most %ld KiB meanwhile\n", t.unique, t.dups, rss_max);
	assert_int_equal(t.unique, 8000);
	assert_int_equal(t.bad, 0);
	KUTIL_RSS_BOUND(rss_max < 200 * 1024);
	free(t.seen);
}

/* A second entry: QoS 2 (PUBCOMP), an mqtt.topic header allowed to pick the topic,
 * unroutable records (null key for {key}) skipped and counted. */
static void test_qos2_topic_header_skip(void **state)
{
	char *text = malloc(64 * 1024);
	size_t at = 0, n = 0;
	(void)state;
	mqbt_rmrf(E.d[0].dir);
	assert_int_equal(daemon_setup_full(&E.d[0], "dl-a", "",
		",\n  { topic = \"" CFG_TOPIC "\"; group = \"mqbridge-site42-cfg\";\n"
		"    mqtt_topic = \"cfg/{key}\"; qos = 2; allow_topic_header = true; }"), 0);
	/* QoS 2 is what mqbridged publishes with (PUBREC/PUBREL/PUBCOMP); the subscriber
	 * takes QoS 1: with QoS 2 the test collector (libmosquitto, persistent MQTT 5
	 * session) stopped after 12-20 messages while mosquitto_sub -q 2 got all of
	 * them; not investigated further, it is outside the code under test */
	mqbt_collect_t *c = mqbt_collect_start(E.broker.port, "dl-cfg-sub", "cfg/#", 1);
	assert_non_null(c);
	start_daemon(&E.d[0]);
	for (int i = 0; i < 500; i++)
		at += (size_t)snprintf(text + at, 64 * 1024 - at, "dev%d:c%d\n", i % NDEV, i);
	produce_text(CFG_TOPIC, "-K:", text);
	at = 0;
	for (int i = 500; i < 1000; i++)
		at += (size_t)snprintf(text + at, 64 * 1024 - at, "dev%d:c%d\n", i % NDEV, i);
	produce_text(CFG_TOPIC, "-K: -H mqtt.topic=cfg/all/override", text);
	produce_text(CFG_TOPIC, "", "nokey\n");       /* null key: unroutable, skipped */
	produce_text(CFG_TOPIC, "-K:", "dev0:c1000\n");
	int64_t end = mqbt_now_ms() + 60000;
	while (mqbt_collect_count(c) < 1001 && mqbt_now_ms() < end)
		mqbt_sleep_ms(100);
	mqbt_sleep_ms(1000);
	mqbt_msg_t *v = mqbt_collect_snapshot(c, &n);
	int plain = 0, override = 0, bad = 0;
	for (size_t i = 0; i < n; i++) {
		int dev, id;
		char want[32];
		if (sscanf(v[i].payload, "c%d", &id) != 1) {
			bad++;
			continue;
		}
		dev = id % NDEV;
		snprintf(want, sizeof(want), "cfg/dev%d", dev);
		if (id >= 500 && id < 1000 && strcmp(v[i].topic, "cfg/all/override") == 0)
			override++;
		else if ((id < 500 || id == 1000) && strcmp(v[i].topic, want) == 0)
			plain++;
		else
			bad++;
	}
	fprintf(stderr, "qos 2: %d templated, %d by mqtt.topic header, %d bad, %zu in all\n",
		plain, override, bad, n);
	mqbt_collect_free_msgs(v, n);
	assert_int_equal(plain, 501);
	assert_int_equal(override, 500);
	assert_int_equal(bad, 0);
	assert_int_equal(dl_unroutable(&E.d[0], 1, "no_key"), 1);
	mqbt_collect_stop(c);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_10k_once_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill9_mid_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_gateways_one_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broker_down_10s, setup, teardown),
		cmocka_unit_test_setup_teardown(test_qos2_topic_header_skip, setup, teardown),
	};
	srand((unsigned)getpid());
	return cmocka_run_group_tests(tests, NULL, NULL);
}
