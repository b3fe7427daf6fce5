/*
 * test_kafka_outage.c — Kafka down for 30 s while records keep arriving:
 *  - local ingest continues (appends never wait on Kafka);
 *  - the forwarder reports Kafka down (API, /stats JSON "kafka":{"state":"down"}) and
 *    the backlog grows; librdkafka's queue bound holds (queue-full retries, no drop);
 *  - the process's RSS stays bounded during the outage;
 *  - when the brokers return, the backlog drains in order: every record at least
 *    once per partition, and exactly once unless the mock cluster re-appended a
 *    request librdkafka retried (see the end of the test).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <cjson/cJSON.h>
#include <stdatomic.h>

#include "bridge/config.h"
#include "tests/support/config_fx.h"
#include "bridge/err.h"
#include "bridge/stats/metrics.h"
#include "connectors/kafka/kafka_forwarder.h"
#include "tests/integration/test_kafka_util.h"

#define NPARTS 2
#define OUTAGE_MS 30000

static struct {
	char dir[256];
	kmock_t mock;
	mqb_config_t *cfg;
	mqb_store_t *st;
	mqb_metrics_t *reg;
	mqb_kafka_fwd_t *f;
	_Atomic bool stop;
	_Atomic int64_t appended[NPARTS];
} E;

/* Appends batches of 20 records to each partition every 4 ms until told to stop. */
static void *appender(void *arg)
{
	while (!atomic_load(&E.stop)) {
		for (int p = 0; p < NPARTS; p++) {
			int64_t first = atomic_load(&E.appended[p]);
			if (kfill(mqb_store_partition(E.st, "t", p), p, first, 20, 100,
				  1700000000000LL, 20) != 0) {
				fprintf(stderr, "append failed\n");
				return NULL;
			}
			atomic_store(&E.appended[p], first + 20);
		}
		mqbt_sleep_ms(4);
	}
	return NULL;
}

static int64_t backlog(void)
{
	int64_t b = 0;
	for (int p = 0; p < NPARTS; p++) {
		mqb_kafka_part_status_t s;
		mqb_kafka_fwd_status(E.f, "t", NULL, p, &s);
		b += s.stored - s.cursor;
	}
	return b;
}

struct order {
	int64_t next[NPARTS];
	int64_t dups, bad;
};

static void on_msg(const rd_kafka_message_t *m, void *arg)
{
	struct order *o = arg;
	int p;
	int64_t i = kvalue_index(m->payload, m->len, &p);
	if (i < 0 || p != m->partition) {
		o->bad++;
		return;
	}
	if (i == o->next[p])
		o->next[p]++;
	else if (i < o->next[p])
		o->dups++;
	else if (o->bad++ < 5)
		fprintf(stderr, "partition %d: got record %" PRId64 ", expected %" PRId64 "\n",
			p, i, o->next[p]);
}

static void test_outage(void **state)
{
	char text[2048], err[512];
	const char *topics[] = { "edge.t:2", NULL };
	assert_int_equal(mqbt_tmpdir(E.dir, sizeof(E.dir)), 0);
	assert_int_equal(kmock_start(&E.mock, 3, topics), 0);
	snprintf(text, sizeof(text),
		 "data_dir = \"%s/data\";\n"
		 "streams = ( { name = \"t\"; partitions = %d; flush = { interval_ms = 5; }; } );\n"
		 "routes = ( { filter = \"a/+\"; stream = \"t\"; } );\n"
		 "kafka = { bootstrap_servers = \"%s\"; queue_buffering_max_kbytes = 4096;\n"
		 "  properties = ( (\"reconnect.backoff.max.ms\", \"1000\") );\n"
		 "  forward = ( { stream = \"t\"; topic = \"edge.t\"; } ); };\n",
		 E.dir, NPARTS, E.mock.bootstrap);
	E.cfg = mqb_config_load_string(text, "outage.conf", mqb_test_sections(), err, sizeof(err));
	if (!E.cfg)
		fail_msg("config: %s", err);
	E.reg = mqb_metrics_new();
	E.st = mqb_store_open(E.cfg->data_dir, 0, err, sizeof(err));
	assert_non_null(E.st);
	assert_int_equal(mqb_store_stream_open(E.st, &E.cfg->streams[0].opts, err, sizeof(err)), 0);
	E.f = mqb_kafka_fwd_new(E.cfg, E.st, E.reg, NULL, err, sizeof(err));
	if (!E.f)
		fail_msg("forwarder: %s", err);
	assert_int_equal(mqb_kafka_fwd_start(E.f), MQB_OK);

	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, appender, NULL), 0);
	mqbt_sleep_ms(3000);
	assert_true(mqb_kafka_fwd_connected(E.f));
	long rss_before = krss_kb(0);

	/* --- outage ---------------------------------------------------------------- */
	assert_int_equal(kmock_cmd(&E.mock, "down all"), 0);
	int64_t t0 = mqbt_now_ms(), appended_at_down = atomic_load(&E.appended[0]);
	long rss_max = rss_before;
	bool saw_down = false, saw_down_json = false;
	while (mqbt_now_ms() - t0 < OUTAGE_MS) {
		mqbt_sleep_ms(500);
		long rss = krss_kb(0);
		if (rss > rss_max)
			rss_max = rss;
		if (!mqb_kafka_fwd_connected(E.f))
			saw_down = true;
		if (!saw_down_json && saw_down) {
			char *json = mqb_metrics_render_json(E.reg, NULL);
			cJSON *doc = json ? cJSON_Parse(json) : NULL;
			const cJSON *st = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "kafka"),
							      "state");
			saw_down_json = cJSON_IsString(st) && strcmp(st->valuestring, "down") == 0;
			cJSON_Delete(doc);
			free(json);
		}
	}
	int64_t backlog_at_up = backlog();
	int64_t appended_in_outage = atomic_load(&E.appended[0]) - appended_at_down;
	char *prom = mqb_metrics_render_prometheus(E.reg, NULL);
	assert_non_null(strstr(prom, "mqbridge_kafka_connected 0"));
	free(prom);
	assert_int_equal(kmock_cmd(&E.mock, "up all"), 0);
	int64_t t_up = mqbt_now_ms();
	mqbt_sleep_ms(3000);
	atomic_store(&E.stop, true);
	pthread_join(th, NULL);

	/* --- drain ------------------------------------------------------------------ */
	int64_t deadline = mqbt_now_ms() + 90000;
	while (backlog() > 0 && mqbt_now_ms() < deadline)
		mqbt_sleep_ms(50);
	int64_t drain_ms = mqbt_now_ms() - t_up;
	assert_int_equal(backlog(), 0);
	assert_true(mqb_kafka_fwd_connected(E.f));

	print_message("outage %d s: %" PRId64 " records/partition appended meanwhile, backlog "
		      "%" PRId64 " records when Kafka returned, drained %.1f s after; RSS %ld "
		      "KiB before, max %ld KiB during (+%ld KiB)\n", OUTAGE_MS / 1000,
		      appended_in_outage, backlog_at_up, drain_ms / 1000.0, rss_before, rss_max,
		      rss_max - rss_before);
	assert_true(saw_down);
	assert_true(saw_down_json);
	assert_true(appended_in_outage > 20000);     /* ingest never waited on Kafka */
	assert_true(backlog_at_up > 20000);
	KUTIL_RSS_BOUND(rss_max - rss_before < 64 * 1024);

	struct order o;
	memset(&o, 0, sizeof(o));
	int64_t total = 0;
	for (int p = 0; p < NPARTS; p++)
		total += atomic_load(&E.appended[p]);
	int64_t got = kconsume(E.mock.bootstrap, "edge.t", NPARTS, total, 90000, 1000, on_msg, &o);
	print_message("read back %" PRId64 " of %" PRId64 " records, %" PRId64 " duplicates\n",
		      got, total, o.dups);
	assert_int_equal(o.bad, 0);
	for (int p = 0; p < NPARTS; p++)
		assert_int_equal(o.next[p], atomic_load(&E.appended[p]));
	/* Duplicates. mqbridge re-produces a record only after a failed delivery report
	 * (rewind to the cursor) or a producer restart; with neither, the forwarder sent
	 * every record once. librdkafka may still send a ProduceRequest twice: one in
	 * flight when "down all" cut the connection is retried with the same producer id
	 * and sequence once the brokers return. Real Kafka answers the retry of a request
	 * that had landed with DUPLICATE_SEQUENCE_NUMBER (librdkafka then marks it
	 * delivered); the mock cluster of Debian's librdkafka 2.0.2 checks sequences
	 * only for a transactional producer (rd_kafka_mock_validate_records returns at
	 * once without a TransactionalId) and appends it again (seen once in CI: 100
	 * duplicates). So: no
	 * duplicate at all when mqbridge had a reason to re-produce, and otherwise at
	 * most one producer batch (batch.num.messages, 10,000) per partition. */
	uint64_t errors = 0;
	for (int p = 0; p < NPARTS; p++) {
		mqb_kafka_part_status_t s;
		assert_int_equal(mqb_kafka_fwd_status(E.f, "t", NULL, p, &s), MQB_OK);
		errors += s.delivery_errors;
	}
	if (errors > 0 || mqb_kafka_fwd_restarts(E.f) > 0)
		assert_int_equal(o.dups, 0);
	else
		assert_true(o.dups <= 10000 * NPARTS);

	mqb_kafka_fwd_destroy(E.f);
	mqb_store_close(E.st);
	mqb_metrics_destroy(E.reg);
	mqb_config_free(E.cfg);
	kmock_stop(&E.mock);
	mqbt_rmrf(E.dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_outage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
