/*
 * bench_downlink.c — Kafka -> MQTT downlink throughput, QoS 1, against the pipe a
 * user would write in the same run: `kcat -C ... -e | mosquitto_pub -l -q 1`.
 *
 *   bench_downlink [--records N (200000)] [--size BYTES (100)] [--runs R (3)]
 *
 * 1. kafka_mock (1 broker) with topic bench.dl (4 partitions), filled once by kcat -P
 *    with N values of BYTES bytes (keys dev<i % 100>); mosquitto; one MQTT 5
 *    subscriber (QoS 1) on bench/# counting arrivals (tests/support/mqtt_collect.h).
 * 2. Baseline: `{ kcat -C -b .. -t bench.dl -o beginning -e -q; sleep 20; } |
 *    mosquitto_pub -l -q 1 -t bench/pipe` (mosquitto_pub -l drops unsent lines when its
 *    input ends, so the pipe stays open a while, as `kcat -C` without -e would).
 * 3. mqbridged: a downlink entry (fresh group per run, start = earliest, qos 1,
 *    mqtt_topic bench/{key}).
 * BENCH_DOWNLINK_EXTRA="key = value; ..." adds keys to the downlink entry.
 * Each side is timed from the subscriber's first to its N-th message (process start,
 * group join and the mock's initial rebalance delay are left out of both), alternating
 * R times; best and median records/s and the ratio of the bests (target >= 1.0).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/integration/test_kafka_util.h"
#include "tests/support/harness.h"
#include "tests/support/mqtt_collect.h"

struct bench {
	mqbt_broker_t broker;
	kmock_t mock;
	mqbt_collect_t *sub;
	char dir[256];
	int64_t records;
	int size;
};

/* Wait for n messages; ms between the first and the n-th, or -1 when nothing more
 * arrives for 20 s (or pid, when > 0, exits before). */
static int64_t wait_n(struct bench *b, pid_t pid)
{
	int64_t first, last, stall_end = mqbt_now_ms() + 20000;
	size_t seen = 0, n;
	while ((int64_t)(n = mqbt_collect_count(b->sub)) < b->records) {
		if (n != seen) {
			seen = n;
			stall_end = mqbt_now_ms() + 20000;
		}
		if (mqbt_now_ms() > stall_end || (pid > 0 && mqbt_wait(pid, 0) >= 0)) {
			fprintf(stderr, "stalled at %zu of %" PRId64 " messages\n", n, b->records);
			return -1;
		}
		mqbt_sleep_ms(10);
	}
	mqbt_collect_times(b->sub, &first, &last);
	return last - first > 0 ? last - first : 1;
}

static int64_t run_pipe(struct bench *b)
{
	char port[16];
	snprintf(port, sizeof(port), "%d", b->broker.port);
	/* mosquitto_pub -l drops what it has not sent yet when its input ends (a third of
	 * 100,000 arrived): keep the pipe open 20 s after kcat reached the end */
	const char *argv[] = { "/bin/sh", "-c", "{ kcat -C -b \"$0\" -t bench.dl -o beginning "
			       "-e -q; sleep 20; } | mosquitto_pub -p \"$1\" -q 1 -t bench/pipe -l",
			       b->mock.bootstrap, port, NULL };
	pid_t pid;
	mqbt_collect_clear(b->sub);
	if (mqbt_spawn(&pid, argv, NULL))
		return -1;
	int64_t ms = wait_n(b, 0);
	mqbt_wait(pid, 60000);   /* the pipeline ends by itself (sleep 20, then EOF) */
	return ms;
}

static int64_t run_daemon(struct bench *b, int run)
{
	char conf[2048], conf_path[400], log_path[400], data[300];
	snprintf(data, sizeof(data), "%s/data%d", b->dir, run);
	snprintf(conf, sizeof(conf),
		 "data_dir = \"%s\";\n"
		 "mqtt = { host = \"127.0.0.1\"; port = %d; client_id = \"bench-dl%d\"; };\n"
		 "stats = { listen = \"off\"; };\n"
		 "streams = ( { name = \"t\"; partitions = 1; } );\n"
		 "routes = ( { filter = \"up/+\"; stream = \"t\"; } );\n"
		 "kafka = { bootstrap_servers = \"%s\";\n"
		 "  downlink = ( { topic = \"bench.dl\"; group = \"bench-%d\"; qos = 1;\n"
		 "                 mqtt_topic = \"bench/{key}\"; %s } ); };\n",
		 data, b->broker.port, run, b->mock.bootstrap, run,
		 getenv("BENCH_DOWNLINK_EXTRA") ? getenv("BENCH_DOWNLINK_EXTRA") : "");
	snprintf(conf_path, sizeof(conf_path), "%s/bench%d.conf", b->dir, run);
	snprintf(log_path, sizeof(log_path), "%s/mqbridged%d.log", b->dir, run);
	mqbt_write_file(conf_path, conf);
	const char *argv[] = { mqbt_bin("mqbridged"), "-c", conf_path, NULL };
	const char *env[] = { "MQB_LOG_LEVEL=warn", NULL };
	pid_t pid;
	mqbt_collect_clear(b->sub);
	if (mqbt_spawn_env(&pid, argv, log_path, env))
		return -1;
	int64_t ms = wait_n(b, pid);
	if (ms < 0)
		fprintf(stderr, "mqbridged did not deliver everything; log: %s\n", log_path);
	mqbt_stop(pid, 15000);
	return ms;
}

static int fill(struct bench *b)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/records.txt", b->dir);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	for (int64_t i = 0; i < b->records; i++) {
		int n = fprintf(f, "dev%d:v%" PRId64 "-", (int)(i % 100), i);
		for (; n < b->size + 6; n++)
			fputc('x', f);
		fputc('\n', f);
	}
	fclose(f);
	const char *argv[] = { "/bin/sh", "-c", "exec kcat -P -b \"$0\" -t bench.dl -K: < \"$1\"",
			       b->mock.bootstrap, path, NULL };
	return mqbt_run(argv, NULL, NULL, 600000) == 0 ? 0 : -1;
}

static int cmp_i64(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, c = *(const int64_t *)y;
	return a < c ? -1 : a > c;
}

static void row(const char *name, struct bench *b, int64_t *ms, int runs)
{
	qsort(ms, (size_t)runs, sizeof(*ms), cmp_i64);
	printf("| %-22s | %10.0f | %10.0f |\n", name, (double)b->records * 1000.0 / (double)ms[0],
	       (double)b->records * 1000.0 / (double)ms[runs / 2]);
}

int main(int argc, char **argv)
{
	struct bench b = { .records = 200000, .size = 100 };
	int runs = 3;
	const char *topics[] = { "bench.dl:4", NULL };
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--records")) b.records = atoll(argv[i + 1]);
		else if (!strcmp(argv[i], "--size")) b.size = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--runs")) runs = atoi(argv[i + 1]);
	}
	if (runs < 1 || runs > 20 || b.records < 1 || b.size < 1 || b.size > 100000) {
		fprintf(stderr, "usage: bench_downlink [--records N] [--size BYTES] [--runs R]\n");
		return 2;
	}
	int64_t pipe_ms[20], dl_ms[20];
	if (mqbt_tmpdir(b.dir, sizeof(b.dir)) || mqbt_mosquitto_start(&b.broker,
	    "max_queued_messages 0\n") || kmock_start(&b.mock, 1, topics) || fill(&b) ||
	    !(b.sub = mqbt_collect_start(b.broker.port, "bench-dl-sub", "bench/#", 1))) {
		fprintf(stderr, "setup failed\n");
		return 1;
	}
	int rc = 0;
	for (int r = 0; r < runs && rc == 0; r++) {
		pipe_ms[r] = run_pipe(&b);
		dl_ms[r] = run_daemon(&b, r);
		fprintf(stderr, "run %d: pipe %" PRId64 " ms, mqbridged %" PRId64 " ms\n", r + 1,
			pipe_ms[r], dl_ms[r]);
		if (pipe_ms[r] < 0 || dl_ms[r] < 0)
			rc = 1;
	}
	if (rc == 0) {
		printf("%" PRId64 " records of %d bytes, QoS 1, %d runs (records/s)\n\n", b.records,
		       b.size, runs);
		printf("| %-22s | %10s | %10s |\n|---|---|---|\n", "", "best", "median");
		row("kcat -C | mosquitto_pub", &b, pipe_ms, runs);
		row("mqbridged downlink", &b, dl_ms, runs);
		printf("\nratio of the bests: %.2f (target >= 1.0)\n",
		       (double)pipe_ms[0] / (double)dl_ms[0]);
	}
	mqbt_collect_stop(b.sub);
	kmock_stop(&b.mock);
	mqbt_mosquitto_destroy(&b.broker);
	mqbt_rmrf(b.dir);
	return rc;
}
