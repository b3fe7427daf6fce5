/*
 * test_kafka_retention.c — retention vs records the forwarder has not delivered yet
 * (Kafka down):
 *  - by default retention deletes them: they are logged and counted in
 *    mqbridge_kafka_records_lost_total{stream,partition}, the cursor moves to the new
 *    log start, and everything still on disk reaches Kafka, in order, exactly once;
 *  - with kafka.block_on_backlog = true the store keeps them (retention floor at the
 *    cursor): nothing lost, all reach Kafka, and retention deletes them once forwarded;
 *  - a damaged state journal: torn tail cut, corrupt header refused with the path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "bridge/config.h"
#include "tests/support/config_fx.h"
#include "bridge/err.h"
#include "bridge/stats/metrics.h"
#include "connectors/kafka/kafka_forwarder.h"
#include "tests/integration/test_kafka_util.h"

struct order {
	int64_t first, next, count, bad;
};

static void on_msg(const rd_kafka_message_t *m, void *arg)
{
	struct order *o = arg;
	int64_t i = kvalue_index(m->payload, m->len, NULL);
	if (o->count++ == 0)
		o->first = o->next = i;
	if (i != o->next++)
		o->bad++;
}

static void run(bool block)
{
	char dir[256], text[2048], err[512];
	kmock_t mock;
	const char *topics[] = { "edge.r:1", NULL };
	assert_int_equal(mqbt_tmpdir(dir, sizeof(dir)), 0);
	assert_int_equal(kmock_start(&mock, 1, topics), 0);
	/* Kafka unreachable from the start: nothing is read or in flight */
	assert_int_equal(kmock_cmd(&mock, "down all"), 0);
	snprintf(text, sizeof(text),
		 "data_dir = \"%s/data\";\n"
		 "streams = ( { name = \"r\"; partitions = 1; segment_bytes = 4096;\n"
		 "              retention_bytes = 8192; flush = { interval_ms = 5; }; } );\n"
		 "routes = ( { filter = \"a/+\"; stream = \"r\"; } );\n"
		 "kafka = { bootstrap_servers = \"%s\"; block_on_backlog = %s;\n"
		 "  forward = ( { stream = \"r\"; topic = \"edge.r\"; } ); };\n",
		 dir, mock.bootstrap, block ? "true" : "false");
	mqb_config_t *cfg = mqb_config_load_string(text, "ret.conf", mqb_test_sections(),
						   err, sizeof(err));
	if (!cfg)
		fail_msg("config: %s", err);
	mqb_metrics_t *reg = mqb_metrics_new();
	mqb_store_t *st = mqb_store_open(cfg->data_dir, 0, err, sizeof(err));
	assert_non_null(st);
	assert_int_equal(mqb_store_stream_open(st, &cfg->streams[0].opts, err, sizeof(err)), 0);
	mqb_kafka_fwd_t *f = mqb_kafka_fwd_new(cfg, st, reg, NULL, err, sizeof(err));
	if (!f)
		fail_msg("forwarder: %s", err);
	assert_int_equal(mqb_kafka_fwd_start(f), MQB_OK);

	mqb_partition_t *p = mqb_store_partition(st, "r", 0);
	assert_int_equal(kfill(p, 0, 0, 2000, 100, 1700000000000LL, 10), 0);
	mqb_store_flush(st);
	mqb_store_maintain(st);
	mqb_watermarks_t wm;
	mqb_partition_watermarks(p, &wm);
	print_message("retention: log start %" PRId64 " of %" PRId64 " stored\n", wm.log_start,
		      wm.stored);
	if (block)
		assert_int_equal(wm.log_start, 0);   /* held by the forwarder's floor */
	else
		assert_true(wm.log_start > 0);
	mqb_kafka_part_status_t s;
	assert_int_equal(mqb_kafka_fwd_status(f, "r", NULL, 0, &s), MQB_OK);
	assert_int_equal(s.cursor, 0);
	assert_int_equal(s.forwarded, 0);

	assert_int_equal(kmock_cmd(&mock, "up all"), 0);
	int64_t deadline = mqbt_now_ms() + 60000;
	do {
		mqbt_sleep_ms(50);
		mqb_kafka_fwd_status(f, "r", NULL, 0, &s);
	} while (s.cursor < wm.stored && mqbt_now_ms() < deadline);
	assert_int_equal(s.cursor, wm.stored);
	assert_int_equal(s.lost, (uint64_t)wm.log_start);
	assert_int_equal(s.forwarded, (uint64_t)(wm.stored - wm.log_start));
	char *prom = mqb_metrics_render_prometheus(reg, NULL), want[160];
	snprintf(want, sizeof(want), "mqbridge_kafka_records_lost_total{stream=\"r\","
		 "partition=\"0\"} %" PRId64 "\n", wm.log_start);
	if (!strstr(prom, want))
		fail_msg("metrics lack %s", want);
	free(prom);

	struct order o = { 0, 0, 0, 0 };
	kconsume(mock.bootstrap, "edge.r", 1, wm.stored - wm.log_start, 30000, 1000, on_msg, &o);
	assert_int_equal(o.count, wm.stored - wm.log_start);
	assert_int_equal(o.first, wm.log_start);
	assert_int_equal(o.bad, 0);
	if (block) {
		/* forwarded now: the next maintain deletes what retention wants */
		mqb_store_maintain(st);
		mqb_partition_watermarks(p, &wm);
		assert_true(wm.log_start > 0);
	}

	mqb_kafka_fwd_destroy(f);
	mqb_store_close(st);
	mqb_metrics_destroy(reg);
	mqb_config_free(cfg);
	kmock_stop(&mock);
	mqbt_rmrf(dir);
}

static void test_retention_loss_counted(void **state)
{
	run(false);
}

static void test_block_on_backlog_keeps(void **state)
{
	run(true);
}

/* The forwarder's state journal: a torn tail is cut (the forwarder starts, resuming
 * from the last whole record); a corrupt header refuses to start with a message
 * naming the file, rather than silently forwarding everything again. */
static void test_state_journal_damage(void **state)
{
	char dir[256], text[1024], err[512], path[400];
	assert_int_equal(mqbt_tmpdir(dir, sizeof(dir)), 0);
	snprintf(text, sizeof(text),
		 "data_dir = \"%s/data\";\n"
		 "streams = ( { name = \"r\"; partitions = 1; } );\n"
		 "routes = ( { filter = \"a/+\"; stream = \"r\"; } );\n"
		 "kafka = { bootstrap_servers = \"127.0.0.1:9\";\n"
		 "  forward = ( { stream = \"r\"; topic = \"edge.r\"; } ); };\n", dir);
	mqb_config_t *cfg = mqb_config_load_string(text, "j.conf", mqb_test_sections(), err, sizeof(err));
	assert_non_null(cfg);
	mqb_store_t *st = mqb_store_open(cfg->data_dir, 0, err, sizeof(err));
	assert_non_null(st);
	assert_int_equal(mqb_store_stream_open(st, &cfg->streams[0].opts, err, sizeof(err)), 0);
	mqb_kafka_fwd_t *f = mqb_kafka_fwd_new(cfg, st, NULL, NULL, err, sizeof(err));
	assert_non_null(f);
	mqb_kafka_fwd_destroy(f);
	snprintf(path, sizeof(path), "%s/data/.kafka/forwarder.journal", dir);

	/* torn tail: garbage after the last record */
	FILE *fp = fopen(path, "a");
	assert_non_null(fp);
	fputs("\x01\x02garbage", fp);
	fclose(fp);
	f = mqb_kafka_fwd_new(cfg, st, NULL, NULL, err, sizeof(err));
	if (!f)
		fail_msg("torn tail refused: %s", err);
	mqb_kafka_fwd_destroy(f);

	/* corrupt header */
	fp = fopen(path, "r+");
	assert_non_null(fp);
	fputs("XXXX", fp);
	fclose(fp);
	err[0] = '\0';
	f = mqb_kafka_fwd_new(cfg, st, NULL, NULL, err, sizeof(err));
	assert_null(f);
	print_message("corrupt journal: %s\n", err);
	assert_non_null(strstr(err, "forwarder.journal"));

	mqb_store_close(st);
	mqb_config_free(cfg);
	mqbt_rmrf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_retention_loss_counted),
		cmocka_unit_test(test_block_on_backlog_keeps),
		cmocka_unit_test(test_state_journal_damage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
