/*
 * test_corrupt_forward.c — a corrupt batch in a sealed segment, inside the checkpointed
 * region (recovery trusts it), reached by the Kafka forwarder (in-process, real Kafka
 * wire protocol: the kafka_mock child, read back with an independent librdkafka
 * consumer) — issue 14 item 2:
 *  - the forwarder stops at the bad batch: exactly the records before it reach Kafka,
 *    nothing after it is sent (no silent skip), and it keeps holding there;
 *  - the partition is in the corrupt state: /readyz (the store's ready check on a real
 *    HTTP endpoint) is 503 naming partition, file, byte and the repair command;
 *    /metrics has mqbridge_partition_corrupt 1;
 *  - with the store closed, `mqbridge log repair --skip` prints the offsets lost;
 *    after reopening, the forwarder delivers the rest, the lost offsets arrive as
 *    placeholders (null value, header mqbridge.lost), /readyz is 200.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "bridge/config.h"
#include "tests/support/config_fx.h"
#include "bridge/err.h"
#include "bridge/stats/http.h"
#include "bridge/stats/metrics.h"
#include "bridge/stats/store_metrics.h"
#include "bridge/store/batch.h"
#include "connectors/kafka/kafka_forwarder.h"
#include "tests/integration/test_kafka_util.h"

struct env {
	char dir[256];
	kmock_t mock;
	mqb_config_t *cfg;
	mqb_store_t *st;
	mqb_metrics_t *reg;
	mqb_kafka_fwd_t *f;
	mqb_http_t *http;
};

static struct env E;

static void env_open(void)
{
	char err[512];
	mqb_stats_conf_t sc = { .listen = "127.0.0.1:0" };

	E.st = mqb_store_open(E.cfg->data_dir, 0, err, sizeof(err));
	if (!E.st)
		fail_msg("store: %s", err);
	if (mqb_store_stream_open(E.st, &E.cfg->streams[0].opts, err, sizeof(err)))
		fail_msg("stream: %s", err);
	E.reg = mqb_metrics_new();
	assert_int_equal(mqb_store_metrics_add(E.reg, E.st), MQB_OK);
	E.http = mqb_http_start(&sc, E.reg, err, sizeof(err));
	assert_non_null(E.http);
	mqb_http_add_ready_check(E.http, mqb_store_ready_check, E.st);
	E.f = mqb_kafka_fwd_new(E.cfg, E.st, E.reg, NULL, err, sizeof(err));
	if (!E.f)
		fail_msg("forwarder: %s", err);
	assert_int_equal(mqb_kafka_fwd_start(E.f), MQB_OK);
}

static void env_close(void)
{
	mqb_http_stop(E.http);
	E.http = NULL;
	mqb_kafka_fwd_destroy(E.f);
	E.f = NULL;
	mqb_store_close(E.st);
	E.st = NULL;
	mqb_metrics_destroy(E.reg);
	E.reg = NULL;
}

static int setup(void **state)
{
	char text[2048], err[512];
	const char *topics[] = { "edge.t:1", NULL };

	assert_int_equal(mqbt_tmpdir(E.dir, sizeof(E.dir)), 0);
	if (kmock_start(&E.mock, 1, topics))
		fail_msg("kafka_mock did not start");
	snprintf(text, sizeof(text),
		 "data_dir = \"%s/data\";\n"
		 "streams = ( { name = \"t\"; partitions = 1; segment_bytes = 100000;\n"
		 "              flush = { interval_ms = 5; }; } );\n"
		 "routes = ( { filter = \"a/+\"; stream = \"t\"; } );\n"
		 "kafka = { bootstrap_servers = \"%s\";\n"
		 "  properties = ( (\"retry.backoff.ms\", \"20\") );\n"
		 "  forward = ( { stream = \"t\"; topic = \"edge.t\"; } ); };\n",
		 E.dir, E.mock.bootstrap);
	E.cfg = mqb_config_load_string(text, "corrupt.conf", mqb_test_sections(), err,
				       sizeof(err));
	if (!E.cfg)
		fail_msg("config: %s", err);
	return 0;
}

static int teardown(void **state)
{
	env_close();
	mqb_config_free(E.cfg);
	kmock_stop(&E.mock);
	mqbt_rmrf(E.dir);
	return 0;
}

struct seen {
	int64_t n, placeholders, bad_order;
	int64_t next_n;        /* header "n" expected next among real records */
};

static void on_msg(const rd_kafka_message_t *m, void *arg)
{
	struct seen *s = arg;
	rd_kafka_headers_t *hs = NULL;
	const void *v;
	size_t vl;

	s->n++;
	if (rd_kafka_message_headers(m, &hs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
	    rd_kafka_header_get_last(hs, "mqbridge.lost", &v, &vl) ==
	    RD_KAFKA_RESP_ERR_NO_ERROR) {
		s->placeholders++;
		if (m->payload)
			s->bad_order++;
	}
	if (m->offset != s->n - 1)
		s->bad_order++;
}

static int64_t kafka_count(int64_t expect, struct seen *s)
{
	memset(s, 0, sizeof(*s));
	return kconsume(E.mock.bootstrap, "edge.t", 1, expect, 15000, 1000, on_msg, s);
}

static void flip_bit(const char *path, int64_t pos, int bit)
{
	uint8_t b;
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, pos), 1);
	b ^= (uint8_t)(1u << bit);
	assert_int_equal(pwrite(fd, &b, 1, pos), 1);
	close(fd);
}

static void test_forwarder_stops_then_repair(void **state)
{
	char pdir[400], path[500], *body = NULL, *out = NULL;
	int status = 0;
	struct seen s;
	mqb_partition_t *p;
	struct stat sb;
	int64_t deadline;
	long long bad_pos;

	/* 2000 records in batches of 50, then a clean close and a "kill -9": clean
	 * marker gone, checkpoint kept (it covers everything) */
	{
		char err[512];
		E.st = mqb_store_open(E.cfg->data_dir, 0, err, sizeof(err));
		assert_non_null(E.st);
		assert_int_equal(mqb_store_stream_open(E.st, &E.cfg->streams[0].opts, err,
						       sizeof(err)), MQB_OK);
		p = mqb_store_partition(E.st, "t", 0);
		assert_int_equal(kfill_h(p, 0, 0, 2000, 100, 1700000000000LL, 50, 2), 0);
		mqb_store_close(E.st);
		E.st = NULL;
	}
	snprintf(pdir, sizeof(pdir), "%s/data/t-0", E.dir);
	snprintf(path, sizeof(path), "%s/.clean-shutdown", pdir);
	assert_int_equal(unlink(path), 0);
	/* the 6th batch of the first segment (offsets 250..299) */
	snprintf(path, sizeof(path), "%s/%020d.log", pdir, 0);
	assert_int_equal(stat(path, &sb), 0);
	{
		int fd = open(path, O_RDONLY);
		int64_t pos = 0;
		uint8_t h[12];
		for (int b = 0; b < 5; b++) {      /* walk 5 batch lengths */
			assert_int_equal(pread(fd, h, 12, pos), 12);
			pos += 12 + (int64_t)mqb_be32_get(h + 8);
		}
		close(fd);
		flip_bit(path, pos + 300, 4);
		bad_pos = (long long)pos;
	}

	env_open();
	/* the forwarder delivers 0..249 and stops at the bad batch */
	assert_int_equal(kafka_count(250, &s), 250);
	assert_int_equal(s.bad_order, 0);
	mqbt_sleep_ms(1500);                       /* holding, not skipping */
	assert_int_equal(kafka_count(251, &s), 250);
	{
		mqb_kafka_part_status_t ks;
		assert_int_equal(mqb_kafka_fwd_status(E.f, "t", NULL, 0, &ks), MQB_OK);
		assert_int_equal(ks.cursor, 250);
	}
	/* /readyz says why, /metrics shows it */
	{
		char want[300];
		assert_int_equal(mqbt_http_get(mqb_http_port(E.http), "/readyz", &status, &body),
				 0);
		assert_int_equal(status, 503);
		snprintf(want, sizeof(want), "partition t-0 has a corrupt batch in "
			 "00000000000000000000.log at byte %lld", bad_pos);
		if (!strstr(body, want))
			fail_msg("readyz: %s", body);
		assert_non_null(strstr(body, "mqbridge log repair DATA_DIR --stream t "
					     "--partition 0"));
		free(body);
		assert_int_equal(mqbt_http_get(mqb_http_port(E.http), "/metrics", &status, &body),
				 0);
		assert_non_null(strstr(body, "mqbridge_partition_corrupt{stream=\"t\","
					     "partition=\"0\"} 1"));
		assert_non_null(strstr(body, "mqbridge_store_corrupt_batches_total{stream=\"t\","
					     "partition=\"0\"} 1"));
		free(body);
	}
	/* repair refuses while the store is open, then works */
	{
		char data[300];
		snprintf(data, sizeof(data), "%s/data", E.dir);
		const char *argv[] = { mqbt_bin("mqbridge"), "log", "repair", data, "--stream",
				       "t", "--partition", "0", "--skip", NULL };
		assert_int_equal(mqbt_run(argv, &out, NULL, 30000), 1);
		free(out);
		env_close();
		assert_int_equal(mqbt_run(argv, &out, NULL, 30000), 0);
		if (!strstr(out, "lost offsets 250..299 (50 records)"))
			fail_msg("repair said: %s", out);
		free(out);
	}
	env_open();
	assert_int_equal(kafka_count(2000, &s), 2000);
	assert_int_equal(s.placeholders, 50);
	assert_int_equal(s.bad_order, 0);
	deadline = mqbt_now_ms() + 5000;
	body = NULL;
	do {
		free(body);
		body = NULL;
		assert_int_equal(mqbt_http_get(mqb_http_port(E.http), "/readyz", &status, &body),
				 0);
	} while (status != 200 && mqbt_now_ms() < deadline && (mqbt_sleep_ms(50), 1));
	assert_int_equal(status, 200);
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_forwarder_stops_then_repair, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
