/*
 * bench_forward.c — Kafka forwarding throughput and CPU cost from a stored backlog,
 * against the baseline of `kcat -P` producing the same records (same values, keys
 * and headers) to the same mock cluster in the same run, and mqbridged's RSS while it
 * drains.
 *
 *   bench_forward [--records N (1000000)] [--size BYTES (100)] [--partitions P (4)]
 *                 [--runs R (3)] [--compression CODEC (gzip)] [--daemon PATH]
 *
 * 1. kafka_mock (3 brokers) with topics bench.kcat and bench.fwd<r> (P partitions).
 * 2. Baseline: N lines "key:value" in a file; `kcat -P -K: -H mqtt.topic=dev/0/0000000
 *    -H n=0000000 -b .. -t bench.kcat -X ..` with mqbridge's producer defaults
 *    (idempotence, acks=all, linger.ms=5, queue.buffering.max.messages=50000) and
 *    compression.type CODEC (mqbridged gets the same in kafka.properties; gzip is
 *    its default): the same two headers (of the same
 *    sizes) and keys as the stored records; timed from start to exit (kcat flushes
 *    before it exits); its CPU from getrusage(RUSAGE_CHILDREN).
 * 3. mqbridge: the same N values with a key and two headers (mqtt.topic, n) appended
 *    to a store (P partitions), store closed; mosquitto started; mqbridged started on
 *    that data_dir forwarding to a fresh topic with a fresh cursor; timed from process
 *    start until GET /stats shows no backlog (polled every 10 ms until the first
 *    delivery, then at a quarter of the time the rate so far predicts for the rest,
 *    between 2 and 100 ms: the end is seen within a few ms, as kcat's exit is, for a
 *    few dozen requests); its CPU (/proc/<pid>/stat) read then, less the stats
 *    endpoint's thread (MHD-*: answering this bench's polls, which kcat is spared;
 *    printed beside it); its VmRSS sampled every 20 ms.
 *    --daemon PATH (or $MQB_FORWARD_DAEMON) measures another mqbridged binary, e.g.
 *    a build of main, with this bench's records and kcat command.
 * The two alternate R times (--runs), the first of each pair switching sides every
 * round, because the machine is shared: the table shows min / median / max of each
 * side's rate and CPU time per 1000 records, the median of the per-round ratios
 * (target >= 1.0 by rate, <= 1.0 by CPU), the largest RSS (target < 64 MiB) and the
 * load average before and after.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bridge/store/store.h"
#include "tests/integration/test_kafka_util.h"
#include "tests/support/harness.h"

static int64_t backlog_of(int port, int64_t *forwarded)
{
	char *body = NULL;
	int status = 0;
	int64_t backlog = -1;
	*forwarded = 0;
	if (mqbt_http_get(port, "/stats?partitions=0", &status, &body) != 0 || status != 200) {
		free(body);
		return -1;
	}
	cJSON *doc = cJSON_Parse(body);
	cJSON *fw = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "kafka"),
							   "forward"), 0);
	cJSON *tot = cJSON_GetObjectItem(fw, "totals");
	if (tot) {
		backlog = (int64_t)cJSON_GetObjectItem(tot, "backlog_records")->valuedouble;
		*forwarded = (int64_t)cJSON_GetObjectItem(tot, "forwarded")->valuedouble;
	}
	cJSON_Delete(doc);
	free(body);
	return backlog;
}

struct bench {
	kmock_t mock;
	mqbt_broker_t broker;
	char dir[256], path[512], data[300];
	int64_t records;
	int size, nparts;
	const char *codec;
	pid_t daemon;
	const char *daemon_bin;
	int64_t first_ms;     /* last daemon run: start to first record delivered */
	int64_t cpu_ms;       /* last run: CPU time of the measured side */
	int64_t stats_cpu_ms; /* last daemon run: CPU of its stats endpoint thread */
};

/* CPU ms (10 ms ticks) of pid's threads whose name starts with prefix: each
 * /proc/<pid>/task/<tid>/stat holds "tid (comm) state ..." with utime and stime as
 * fields 14 and 15. */
static int64_t threads_cpu_ms(pid_t pid, const char *prefix)
{
	char path[300], buf[1024];
	unsigned long ut, st;
	int64_t ticks = 0;
	struct dirent *e;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", (int)pid, e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		const char *open = strchr(buf, '('), *close = strrchr(buf, ')');
		if (open && close && strncmp(open + 1, prefix, strlen(prefix)) == 0 &&
		    sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
			   &ut, &st) == 2)
			ticks += (int64_t)(ut + st);
	}
	closedir(d);
	return ticks * 1000 / sysconf(_SC_CLK_TCK);
}

static int64_t children_cpu_ms(void)
{
	struct rusage ru;
	getrusage(RUSAGE_CHILDREN, &ru);
	return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

/* kcat -P of the records file to bench.kcat; returns ms or -1. */
static int64_t run_kcat(struct bench *b)
{
	/* one message per line: from stdin (a file argument would be one message) */
	const char *kcat[] = { "/bin/sh", "-c", "exec kcat -P -b \"$0\" -t bench.kcat -K: "
			       "-H mqtt.topic=dev/0/0000000 -H n=0000000 "
			       "-X enable.idempotence=true -X acks=all -X compression.type=\"$2\" "
			       "-X linger.ms=5 -X queue.buffering.max.messages=50000 < \"$1\"",
			       b->mock.bootstrap, b->path, b->codec, NULL };
	int64_t t0 = mqbt_now_ms(), c0 = children_cpu_ms();
	int st = mqbt_run(kcat, NULL, NULL, 600000);
	b->cpu_ms = children_cpu_ms() - c0;
	if (st != 0) {
		fprintf(stderr, "kcat failed (%d)\n", st);
		return -1;
	}
	return mqbt_now_ms() - t0;
}

/* mqbridged forwarding the whole stored backlog to topic bench.fwd<run> from a fresh
 * cursor; returns ms or -1; *rss_kb gets its largest VmRSS. */
static int64_t run_daemon(struct bench *b, int run, long *rss_kb)
{
	char conf[2048], conf_path[300], log_path[300], state[400], topic[64];
	snprintf(topic, sizeof(topic), "bench.fwd%d", run);
	if (kmock_cmd(&b->mock, "create_topic %s %d", topic, b->nparts))
		return -1;
	snprintf(state, sizeof(state), "%s/.kafka", b->data);
	mqbt_rmrf(state);   /* forward everything again */
	int port = mqbt_free_port();
	snprintf(conf, sizeof(conf),
		 "data_dir = \"%s\";\n"
		 "mqtt = { host = \"127.0.0.1\"; port = %d; client_id = \"bench-forward\"; };\n"
		 "stats = { listen = \"127.0.0.1:%d\"; };\n"
		 "streams = ( { name = \"t\"; partitions = %d; } );\n"
		 "routes = ( { filter = \"bench/+\"; stream = \"t\"; } );\n"
		 "kafka = { bootstrap_servers = \"%s\"; properties = ( (\"compression.type\", "
		 "\"%s\") );%s\n"
		 "  forward = ( { stream = \"t\"; topic = \"%s\"; } ); };\n",
		 b->data, b->broker.port, port, b->nparts, b->mock.bootstrap, b->codec,
		 getenv("BENCH_KAFKA_EXTRA") ? getenv("BENCH_KAFKA_EXTRA") : "", topic);
	snprintf(conf_path, sizeof(conf_path), "%s/bench.conf", b->dir);
	snprintf(log_path, sizeof(log_path), "%s/mqbridged.log", b->dir);
	mqbt_write_file(conf_path, conf);
	const char *dargv[] = { b->daemon_bin ? b->daemon_bin : mqbt_bin("mqbridged"), "-c",
				conf_path, NULL };
	const char *env[] = { "MQB_LOG_LEVEL=warn", NULL };
	int64_t t0 = mqbt_now_ms(), fwd = 0, deadline = t0 + 600000, t_first = -1;
	if (mqbt_spawn_env(&b->daemon, dargv, log_path, env)) {
		fprintf(stderr, "cannot start mqbridged\n");
		return -1;
	}
	*rss_kb = 0;
	int64_t next_poll = 0, next_rss = 0, t_end;
	for (;;) {
		int64_t now = mqbt_now_ms();
		if (now >= next_rss) {
			long rss = krss_kb(b->daemon);
			if (rss > *rss_kb)
				*rss_kb = rss;
			next_rss = now + 20;
		}
		if (now < next_poll) {
			mqbt_sleep_ms((int)((next_poll < next_rss ? next_poll : next_rss) - now));
			continue;
		}
		int64_t bl = backlog_of(port, &fwd);
		now = mqbt_now_ms();
		if (fwd > 0 && t_first < 0)
			t_first = now;
		/* the next poll: every 10 ms until the first delivery; then a quarter of the
		 * time the rate so far predicts for the rest (at most 100 ms, at least 2 ms),
		 * so the end is seen within a few ms at a few dozen requests per round */
		int64_t wait = 10;
		if (fwd > 0 && now > t_first) {
			double left = (double)(b->records - fwd) * (double)(now - t_first) /
				      (double)fwd;
			wait = left / 4 > 100 ? 100 : left / 4 < 2 ? 2 : (int64_t)(left / 4);
		}
		next_poll = now + wait;
		if (bl == 0 && fwd >= b->records) {
			t_end = now;
			b->stats_cpu_ms = threads_cpu_ms(b->daemon, "MHD");
			b->cpu_ms = mqbt_cpu_ms(b->daemon) - b->stats_cpu_ms;
			break;
		}
		if (mqbt_now_ms() > deadline || mqbt_wait(b->daemon, 0) >= 0) {
			fprintf(stderr, "mqbridged did not drain (forwarded %" PRId64 "); log: %s\n",
				fwd, log_path);
			return -1;
		}
	}
	int64_t ms = t_end - t0;
	b->first_ms = t_first - t0;
	mqbt_stop(b->daemon, 15000);
	b->daemon = 0;
	return ms;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	struct bench B;
	int runs = 3, rc = 1;
	char err[512], t1[64];
	memset(&B, 0, sizeof(B));
	B.records = 1000000;
	B.size = 100;
	B.nparts = 4;
	B.codec = "gzip";
	B.daemon_bin = getenv("MQB_FORWARD_DAEMON");
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--records") == 0 && i + 1 < argc)
			B.records = atoll(argv[++i]);
		else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
			B.size = atoi(argv[++i]);
		else if (strcmp(argv[i], "--partitions") == 0 && i + 1 < argc)
			B.nparts = atoi(argv[++i]);
		else if (strcmp(argv[i], "--compression") == 0 && i + 1 < argc)
			B.codec = argv[++i];
		else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (strcmp(argv[i], "--daemon") == 0 && i + 1 < argc)
			B.daemon_bin = argv[++i];
		else {
			fprintf(stderr, "usage: bench_forward [--records N] [--size BYTES] "
				"[--partitions P] [--runs R] [--compression CODEC] "
				"[--daemon PATH]\n");
			return 2;
		}
	}
	if (B.records < 1 || B.size < 16 || B.size > 1000 || B.nparts < 1 || B.nparts > 64 ||
	    runs < 1 || runs > 10) {
		fprintf(stderr, "bench_forward: --records >= 1, --size 16..1000, --partitions "
			"1..64, --runs 1..10\n");
		return 2;
	}
	if (mqbt_tmpdir(B.dir, sizeof(B.dir)) != 0)
		return 1;
	snprintf(t1, sizeof(t1), "bench.kcat:%d", B.nparts);
	const char *topics[] = { t1, NULL };
	if (kmock_start(&B.mock, 3, topics)) {
		fprintf(stderr, "kafka_mock did not start\n");
		goto out;
	}
	/* the baseline's input: one value per line */
	snprintf(B.path, sizeof(B.path), "%s/records.txt", B.dir);
	FILE *f = fopen(B.path, "w");
	if (!f)
		goto out;
	char *line = malloc((size_t)B.size + 64);
	for (int64_t i = 0; i < B.records; i++) {
		int k = snprintf(line, (size_t)B.size + 64, "k%d-%" PRId64 ":", (int)(i % B.nparts), i);
		int n = k + snprintf(line + k, (size_t)B.size + 64 - (size_t)k, "v%d-%" PRId64 "-",
				     (int)(i % B.nparts), i);
		while (n - k < B.size)
			line[n++] = 'x';
		line[n++] = '\n';
		fwrite(line, 1, (size_t)n, f);
	}
	free(line);
	fclose(f);
	/* mqbridge's input: the same values stored as ingest stores them (a key and two
	 * headers) */
	snprintf(B.data, sizeof(B.data), "%s/data", B.dir);
	mqb_store_t *store = mqb_store_open(B.data, 0, err, sizeof(err));
	mqb_stream_opts_t o;
	mqb_stream_opts_defaults(&o);
	o.name = "t";
	o.partitions = B.nparts;
	if (!store || mqb_store_stream_open(store, &o, err, sizeof(err))) {
		fprintf(stderr, "store: %s\n", err);
		goto out;
	}
	for (int p = 0; p < B.nparts; p++) {
		int64_t n = B.records / B.nparts + (p < B.records % B.nparts ? 1 : 0);
		if (kfill_h(mqb_store_partition(store, "t", p), p, 0, n, (size_t)B.size,
			    1700000000000LL, 100, 2)) {
			fprintf(stderr, "append failed\n");
			goto out;
		}
	}
	mqb_store_close(store);
	if (mqbt_mosquitto_start(&B.broker, NULL)) {
		fprintf(stderr, "mosquitto did not start\n");
		goto out;
	}

	int64_t kcat_ms[10], fwd_ms[10], first_ms[10], kcpu[10], fcpu[10], scpu[10];
	double ratio[10], cratio[10], la0[3] = { 0 }, la1[3] = { 0 };
	long rss_max = 0;
	getloadavg(la0, 3);
	for (int r = 0; r < runs; r++) {
		long rss = 0;
		for (int side = 0; side < 2; side++) {
			if ((side ^ (r & 1)) == 0) {
				kcat_ms[r] = run_kcat(&B);
				kcpu[r] = B.cpu_ms;
			} else {
				fwd_ms[r] = run_daemon(&B, r, &rss);
				fcpu[r] = B.cpu_ms;
				scpu[r] = B.stats_cpu_ms;
				first_ms[r] = B.first_ms;
			}
		}
		if (kcat_ms[r] < 0 || fwd_ms[r] < 0)
			goto out;
		if (rss > rss_max)
			rss_max = rss;
		ratio[r] = (double)kcat_ms[r] / (double)fwd_ms[r];
		cratio[r] = (double)fcpu[r] / (double)(kcpu[r] ? kcpu[r] : 1);
		fprintf(stderr, "run %d (%s first): kcat %.2f s %.2f ms CPU/1k, mqbridged %.2f s "
			"%.2f ms CPU/1k (+ %" PRId64 " ms in the stats thread; first record "
			"delivered after %.3f s), RSS %.1f MiB; ratio %.2f, CPU ratio %.2f\n",
			r + 1, r & 1 ? "mqbridged" : "kcat",
			kcat_ms[r] / 1000.0, kcpu[r] * 1000.0 / (double)B.records,
			fwd_ms[r] / 1000.0, fcpu[r] * 1000.0 / (double)B.records, scpu[r],
			first_ms[r] / 1000.0, rss / 1024.0, ratio[r], cratio[r]);
	}
	getloadavg(la1, 3);
	qsort(kcat_ms, (size_t)runs, sizeof(int64_t), cmp_i64);
	qsort(fwd_ms, (size_t)runs, sizeof(int64_t), cmp_i64);
	qsort(kcpu, (size_t)runs, sizeof(int64_t), cmp_i64);
	qsort(fcpu, (size_t)runs, sizeof(int64_t), cmp_i64);
	qsort(first_ms, (size_t)runs, sizeof(int64_t), cmp_i64);
	qsort(scpu, (size_t)runs, sizeof(int64_t), cmp_i64);
	qsort(ratio, (size_t)runs, sizeof(double), cmp_dbl);
	qsort(cratio, (size_t)runs, sizeof(double), cmp_dbl);
	double n = (double)B.records;
#define RATE(ms) (n * 1000.0 / (double)(ms))
#define PER1K(ms) ((double)(ms) * 1000.0 / n)
	printf("\nbench_forward: %" PRId64 " records of %d bytes (key, 2 headers), %d "
	       "partitions, compression %s, kafka_mock with 3 brokers, %d alternating rounds\n"
	       "mqbridged: %s\nload average before %.2f %.2f %.2f, after %.2f %.2f %.2f\n\n",
	       B.records, B.size, B.nparts, B.codec, runs,
	       B.daemon_bin ? B.daemon_bin : mqbt_bin("mqbridged"),
	       la0[0], la0[1], la0[2], la1[0], la1[1], la1[2]);
	printf("| producer | records/s min / median / max | CPU ms per 1000 records min / "
	       "median / max | RSS max (MiB) |\n|---|---|---|---|\n");
	printf("| baseline: kcat -P -K: -H -H from a file | %.0f / %.0f / %.0f | %.2f / %.2f / "
	       "%.2f | - |\n", RATE(kcat_ms[runs - 1]), RATE(kcat_ms[runs / 2]),
	       RATE(kcat_ms[0]), PER1K(kcpu[0]), PER1K(kcpu[runs / 2]), PER1K(kcpu[runs - 1]));
	printf("| mqbridged forwarding the stored backlog | %.0f / %.0f / %.0f | %.2f / %.2f / "
	       "%.2f | %.1f |\n", RATE(fwd_ms[runs - 1]), RATE(fwd_ms[runs / 2]),
	       RATE(fwd_ms[0]), PER1K(fcpu[0]), PER1K(fcpu[runs / 2]), PER1K(fcpu[runs - 1]),
	       rss_max / 1024.0);
	printf("\nrate ratio mqbridged / kcat per round: min %.2f, median %.2f, max %.2f "
	       "(target >= 1.0)\n", ratio[0], ratio[runs / 2], ratio[runs - 1]);
	printf("CPU ratio mqbridged / kcat per round: min %.2f, median %.2f, max %.2f "
	       "(target <= 1.0)\n", cratio[0], cratio[runs / 2], cratio[runs - 1]);
	printf("RSS of mqbridged while draining: %.1f MiB max (target < 64 MiB)\n",
	       rss_max / 1024.0);
	printf("mqbridged from process start to the first delivery seen (store open, Kafka "
	       "connection, the topic's metadata check, first batch; polled every 10 ms): "
	       "min %.3f, median %.3f, max %.3f s\n", first_ms[0] / 1000.0,
	       first_ms[runs / 2] / 1000.0, first_ms[runs - 1] / 1000.0);
	printf("mqbridged CPU above excludes its stats endpoint thread answering the polls: "
	       "min %" PRId64 ", median %" PRId64 ", max %" PRId64 " ms per round\n",
	       scpu[0], scpu[runs / 2], scpu[runs - 1]);
	rc = 0;
out:
	if (B.daemon > 0)
		mqbt_stop(B.daemon, 15000);
	mqbt_mosquitto_destroy(&B.broker);
	kmock_stop(&B.mock);
	mqbt_rmrf(B.dir);
	return rc;
}
