/*
 * test_kafka_fwd_reload.c — kafka.forward entries changed live (mqb_kafka_fwd_reload)
 * against a real Kafka wire protocol (kafka_mock child), read back with an independent
 * librdkafka consumer and counted by value (every record exactly once):
 *  - forwarding stream a; a reload adds stream b: b's records reach Kafka, a's go on
 *    with no duplicate and no loss, across the reload, under continuing appends;
 *  - a reload removes a: nothing more of a is sent; its cursor is saved, and adding
 *    it back continues there (nothing resent);
 *  - a reload changes b's topic: records after the change go to the new topic only,
 *    none resent or skipped (old topic + new topic = every record once);
 *  - a reload naming a stream the store does not have is refused, nothing changes;
 *  - Kafka down with records of b in flight: a topic change is refused after the
 *    drain wait (nothing changes), b goes on once Kafka is back;
 *  - more partitions for a forwarded stream: the new partition is forwarded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "bridge/config.h"
#include "bridge/err.h"
#include "bridge/stats/metrics.h"
#include "connectors/kafka/kafka_forwarder.h"
#include "tests/integration/test_kafka_util.h"
#include "tests/support/config_fx.h"

static struct {
	char dir[256];
	kmock_t mock;
	mqb_config_t *cfg;           /* the forwarder runs on this one */
	mqb_store_t *st;
	mqb_metrics_t *reg;
	mqb_kafka_fwd_t *f;
	int64_t n[2][2];             /* records appended per stream (a, b) and partition */
} E;

/* A configuration with streams a, b (partitions pa, pb), extra stream entries and the
 * forward entries fwd. */
static mqb_config_t *conf_x(int pa, int pb, const char *extra, const char *fwd)
{
	char text[2048], err[512];
	snprintf(text, sizeof(text),
		 "data_dir = \"%s/data\";\n"
		 "streams = ( { name = \"a\"; partitions = %d; flush = { interval_ms = 5; }; },\n"
		 "            { name = \"b\"; partitions = %d; flush = { interval_ms = 5; }; }%s );\n"
		 "routes = ( { filter = \"a/+\"; stream = \"a\"; } );\n"
		 "kafka = { bootstrap_servers = \"%s\";\n"
		 "  properties = ( (\"retry.backoff.ms\", \"20\") );\n"
		 "  forward = ( %s ); };\n", E.dir, pa, pb, extra, E.mock.bootstrap, fwd);
	mqb_config_t *c = mqb_config_load_string(text, "fwd.conf", mqb_test_sections(), err,
						 sizeof(err));
	if (!c)
		fail_msg("config: %s", err);
	return c;
}

static mqb_config_t *conf(int pa, int pb, const char *fwd)
{
	return conf_x(pa, pb, "", fwd);
}

/* Append count records to stream s (0 a, 1 b) partition p, numbered on from E.n. */
static void fill(int s, int32_t p, int64_t count)
{
	mqb_partition_t *part = mqb_store_partition(E.st, s ? "b" : "a", p);
	assert_non_null(part);
	assert_int_equal(kfill(part, p, E.n[s][p], count, 40, 1700000000000LL, 100), 0);
	E.n[s][p] += count;
}

/* Swap to a new configuration: reload must give rc; the one not running is freed. */
static void reload(mqb_config_t *nc, int want)
{
	char why[512] = "";
	int rc = mqb_kafka_fwd_reload(E.f, nc, 10000, why, sizeof(why));
	if (rc != want)
		fail_msg("reload: rc %d (%s), wanted %d", rc, why, want);
	if (rc != MQB_OK) {
		assert_true(why[0] != '\0');
		print_message("refused as expected: %s\n", why);
		mqb_config_free(nc);
		return;
	}
	mqb_config_free(E.cfg);      /* nothing of it is borrowed once reloaded */
	E.cfg = nc;
}

static void wait_cursor(const char *stream, const char *topic, int32_t p, int64_t want)
{
	int64_t deadline = mqbt_now_ms() + 15000;
	mqb_kafka_part_status_t s = { 0 };
	while (mqbt_now_ms() < deadline) {
		assert_int_equal(mqb_kafka_fwd_status(E.f, stream, topic, p, &s), MQB_OK);
		if (s.cursor >= want)
			return;
		usleep(20 * 1000);
	}
	fail_msg("%s -> %s [%d]: cursor %" PRId64 ", wanted %" PRId64, stream, topic, p,
		 s.cursor, want);
}

/* What a topic holds: per partition, how often each record number arrived. */
struct seen {
	int part;                    /* only this partition's values */
	int64_t max;
	int counts[4096];
	int64_t total, bad;
};

static void on_msg(const rd_kafka_message_t *m, void *arg)
{
	struct seen *s = arg;
	int p = -1;
	int64_t i = kvalue_index(m->payload, m->len, &p);
	if (i < 0 || i >= 4096 || p != m->partition) {
		s->bad++;
		return;
	}
	if (p != s->part)
		return;
	s->counts[i]++;
	s->total++;
	if (i > s->max)
		s->max = i;
}

static void read_topic_t(const char *topic, int nparts, int part, int64_t expect,
			 int timeout_ms, struct seen *s)
{
	memset(s, 0, sizeof(*s));
	s->part = part;
	s->max = -1;
	int64_t got = kconsume(E.mock.bootstrap, topic, nparts, expect, timeout_ms, 700, on_msg, s);
	assert_true(got >= 0);
	assert_int_equal(s->bad, 0);
}

static void read_topic(const char *topic, int nparts, int part, int64_t expect,
		       struct seen *s)
{
	read_topic_t(topic, nparts, part, expect, 15000, s);
}

/* Every record number [from, to) exactly once in s, nothing else. */
static void assert_once(const struct seen *s, int64_t from, int64_t to, const char *what)
{
	for (int64_t i = 0; i < 4096; i++) {
		int want = i >= from && i < to ? 1 : 0;
		if (s->counts[i] != want)
			fail_msg("%s: record %" PRId64 " arrived %d time(s), wanted %d", what, i,
				 s->counts[i], want);
	}
}

static int setup(void **state)
{
	char err[512];
	const char *topics[] = { "ta:1", "tb:2", "tb2:2", NULL };
	(void)state;
	memset(&E, 0, sizeof(E));
	assert_int_equal(mqbt_tmpdir(E.dir, sizeof(E.dir)), 0);
	if (kmock_start(&E.mock, 1, topics))
		fail_msg("kafka_mock did not start");
	E.cfg = conf(1, 1, "{ stream = \"a\"; topic = \"ta\"; }");
	E.reg = mqb_metrics_new();
	E.st = mqb_store_open(E.cfg->data_dir, 0, err, sizeof(err));
	if (!E.st)
		fail_msg("store: %s", err);
	for (size_t i = 0; i < E.cfg->streams_count; i++)
		if (mqb_store_stream_open(E.st, &E.cfg->streams[i].opts, err, sizeof(err)))
			fail_msg("stream: %s", err);
	E.f = mqb_kafka_fwd_new(E.cfg, E.st, E.reg, NULL, err, sizeof(err));
	if (!E.f)
		fail_msg("forwarder: %s", err);
	assert_int_equal(mqb_kafka_fwd_start(E.f), MQB_OK);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mqb_kafka_fwd_destroy(E.f);
	mqb_store_close(E.st);
	mqb_metrics_destroy(E.reg);
	mqb_config_free(E.cfg);
	kmock_stop(&E.mock);
	mqbt_rmrf(E.dir);
	return 0;
}

static void test_forward_entries_live(void **state)
{
	struct seen s;
	(void)state;
	fill(0, 0, 300);
	fill(1, 0, 200);
	wait_cursor("a", "ta", 0, 300);
	assert_int_equal(mqb_kafka_fwd_status(E.f, "b", NULL, 0, &(mqb_kafka_part_status_t){0}),
			 MQB_ERR_NOTFOUND);

	reload(conf(1, 1, "{ stream = \"a\"; topic = \"ta\"; }, { stream = \"b\"; topic = \"tb\"; }"),
	       MQB_OK);
	fill(0, 0, 200);             /* a goes on while b starts */
	wait_cursor("b", "tb", 0, 200);
	wait_cursor("a", "ta", 0, 500);
	read_topic("tb", 2, 0, 200, &s);
	assert_once(&s, 0, 200, "tb after adding b");

	/* remove a while its records are still arriving */
	fill(0, 0, 300);
	reload(conf(1, 1, "{ stream = \"b\"; topic = \"tb\"; }"), MQB_OK);
	assert_int_equal(mqb_kafka_fwd_status(E.f, "a", NULL, 0, &(mqb_kafka_part_status_t){0}),
			 MQB_ERR_NOTFOUND);
	read_topic_t("ta", 1, 0, 800, 2000, &s);   /* up to 800: what was sent */
	int64_t a_sent = s.total;
	assert_once(&s, 0, a_sent, "ta up to the removal");
	fill(0, 0, 100);             /* stored, not forwarded now */
	usleep(500 * 1000);
	read_topic_t("ta", 1, 0, a_sent + 1, 1000, &s);
	assert_int_equal(s.total, a_sent);

	/* change b's topic mid-stream: the cursor stays, only the destination changes */
	fill(1, 0, 300);
	reload(conf(1, 1, "{ stream = \"b\"; topic = \"tb2\"; }"), MQB_OK);
	fill(1, 0, 200);
	wait_cursor("b", "tb2", 0, 700);
	struct seen old;
	read_topic_t("tb", 2, 0, 500, 2000, &old);   /* up to 500: what went there */
	read_topic("tb2", 2, 0, 700 - old.total, &s);
	assert_true(old.total >= 200 && s.total > 0);
	for (int64_t i = 0; i < 700; i++)
		if (old.counts[i] + s.counts[i] != 1)
			fail_msg("record %" PRId64 " of b: %d in tb, %d in tb2", i, old.counts[i],
				 s.counts[i]);
	assert_once(&s, old.total, 700, "tb2 after the topic change");
	int64_t in_old = old.total;

	/* add a back: it continues at its saved cursor, nothing resent */
	reload(conf(1, 1, "{ stream = \"b\"; topic = \"tb2\"; }, { stream = \"a\"; topic = \"ta\"; }"),
	       MQB_OK);
	wait_cursor("a", "ta", 0, E.n[0][0]);
	read_topic("ta", 1, 0, E.n[0][0], &s);
	assert_once(&s, 0, E.n[0][0], "ta after adding a back");

	/* bad: a stream the store has not opened; refused, the entries stay */
	reload(conf_x(1, 1, ", { name = \"c\"; }", "{ stream = \"b\"; topic = \"tb2\"; }, "
		      "{ stream = \"a\"; topic = \"ta\"; }, { stream = \"c\"; topic = \"tb\"; }"),
	       MQB_ERR_CONFIG);
	assert_int_equal(mqb_kafka_fwd_status(E.f, "c", NULL, 0, &(mqb_kafka_part_status_t){0}),
			 MQB_ERR_NOTFOUND);
	fill(1, 0, 50);
	wait_cursor("b", "tb2", 0, 750);

	/* Kafka down with b's records in flight: a topic change is refused after the 5 s
	 * drain, nothing changes; they go to tb2 once Kafka is back */
	assert_int_equal(kmock_cmd(&E.mock, "down all"), 0);
	fill(1, 0, 20);
	usleep(300 * 1000);
	reload(conf(1, 1, "{ stream = \"b\"; topic = \"tb\"; }, { stream = \"a\"; topic = \"ta\"; }"),
	       MQB_ERR_AGAIN);
	assert_int_equal(mqb_kafka_fwd_status(E.f, "b", "tb", 0, &(mqb_kafka_part_status_t){0}),
			 MQB_ERR_NOTFOUND);
	assert_int_equal(kmock_cmd(&E.mock, "up all"), 0);
	wait_cursor("b", "tb2", 0, 770);

	/* more partitions for forwarded stream b (the daemon grows the store first) */
	char err[512];
	mqb_config_t *grown = conf(1, 2, "{ stream = \"b\"; topic = \"tb2\"; }, "
				   "{ stream = \"a\"; topic = \"ta\"; }");
	int bi = mqb_config_stream_index(grown, "b");
	assert_true(bi >= 0);
	assert_int_equal(mqb_store_stream_grow(E.st, &grown->streams[bi].opts, err, sizeof(err)),
			 MQB_OK);
	reload(grown, MQB_OK);
	fill(1, 1, 120);
	fill(1, 0, 30);
	wait_cursor("b", "tb2", 1, 120);
	wait_cursor("b", "tb2", 0, 800);
	read_topic("tb2", 2, 1, E.n[1][0] - in_old + 120, &s);
	assert_once(&s, 0, 120, "tb2 partition 1 after growing b");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_forward_entries_live, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
