/*
 * bench_ingest.c — MQTT ingest throughput, latency and memory, with its baseline.
 *
 *   bench_ingest [--messages N] [--topics T] [--rate R] [--seconds S]
 *                [--partitions P (8)] [--only throughput|latency] [--linger MS]
 *   bench_ingest --scaling P1,P2 [--rounds R (3)] [--pace MSGS_PER_S (0)] [--messages N]
 *
 * A libmosquitto load generator publishes N (500,000) messages of 100 bytes to T
 * (1,000) topics on a local mosquitto (free loopback port), at QoS 0 and then QoS 1:
 *   baseline   the rate at which `mosquitto_sub -t 'bench/#' -q Q -C N > /dev/null`
 *              receives them from the same broker (first publish -> its exit);
 *   mqbridged  the rate at which mqbridged stores them (first publish -> /stats
 *              "stored" = N) into a stream of P partitions, its CPU time per 1000
 *              messages (/proc/<pid>/stat over the same span), and the ratio to
 *              the baseline (target >= 0.9). QoS 0 runs the baseline first, QoS 1
 *              mqbridged first (the publisher's pace and the cache favour the
 *              second). The load average is printed at the end.
 * Latency: publish -> stored (append returned) p50/p99 at a steady R (10,000) msg/s
 * for S (5) seconds with flush.interval_ms = 50, measured in-process on the same
 * ingest code mqbridged runs (its stored-callback gives the exact moment; the
 * payload carries the publish time). Memory: mqbridged's RSS when idle (ready, no
 * load) and its peak (VmHWM) after the QoS 1 run (target < 32 MiB).
 * --linger MS sets mqtt.batch_linger_ms in both runs (default: the daemon's own
 * default; leave it out to run a build that predates the key). The throughput table
 * also gives records per append (/stats stored / batches) and the loss window
 * (unstored_window_max_us: the oldest record's age at its append), and fdatasync and
 * syncfs calls per second over the run (/metrics mqbridge_log_fsyncs_total and
 * mqbridge_store_flusher_syncfs_total; -1 for a build without the syncfs counter).
 * --scaling P1,P2 (issue 15, "cost flat in partitions"): no baseline; mqbridged alone
 * at QoS 0 and 1 with P1 and with P2 partitions, R rounds, the two partition counts
 * alternating which goes first; prints each side's CPU per 1000 messages (min /
 * median / max), records per append, and the median of the per-round ratios P2 / P1
 * (target <= 1.3). --pace publishes at that many msgs/s (0: as fast as the broker
 * takes them): CPU per message depends on how many messages each socket read finds,
 * so a fixed pace gives both sides the same arrivals.
 * Run it from a build directory, or with MQB_BUILD_DIR set.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bridge/config.h"
#include "tests/support/config_fx.h"
#include "connectors/mqtt/mqtt_source.h"
#include "connectors/mqtt/mqtt_source_test.h"
#include "tests/integration/ingest_util.h"

static long opt_messages = 500000;
static int opt_topics = 1000;
static int opt_rate = 10000;
static int opt_seconds = 5;
static int opt_partitions = 8;
static int opt_linger = -1;          /* -1: not set in the config */
static int opt_pace = 0;             /* msgs/s, 0: unpaced */
static int opt_rounds = 3;

/* "mqtt = { ... batch_linger_ms = N; }" member text, or "" */
static const char *linger_conf(void)
{
	static char buf[64];

	if (opt_linger < 0)
		return "";
	snprintf(buf, sizeof buf, " batch_linger_ms = %d;", opt_linger);
	return buf;
}

static int64_t wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long proc_kb(pid_t pid, const char *field)
{
	char path[64], line[256];
	FILE *f;
	long v = -1;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, field, strlen(field)) == 0)
			v = atol(line + strlen(field) + 1);
	fclose(f);
	return v;
}

/* Publish n messages of 100 bytes round-robin over the topics at qos. */
static int publish_all(iu_pub_t *pub, long n, int qos)
{
	char topic[64], payload[100];

	int64_t t0 = wall_us();

	memset(payload, 'p', sizeof payload);
	for (long i = 0; i < n; i++) {
		if (opt_pace > 0 && i % 50 == 0) {
			int64_t due = t0 + (int64_t)((double)i * 1e6 / opt_pace), now = wall_us();
			if (due > now)
				usleep((useconds_t)(due - now));
		}
		snprintf(topic, sizeof topic, "bench/t%d", (int)(i % opt_topics));
		if (iu_pub_send(pub, topic, payload, sizeof payload, qos, NULL) != 0)
			return -1;
		iu_pub_throttle(pub, qos ? 2000 : 20000);
	}
	return 0;
}

/* Baseline: mosquitto_sub -C n; returns msgs/s or -1. */
static double run_baseline(const mqbt_broker_t *b, int qos)
{
	char port[16], q[4], cnt[32];
	const char *argv[] = { "/usr/bin/mosquitto_sub", "-h", "127.0.0.1", "-p", port,
			       "-t", "bench/#", "-q", q, "-C", cnt, "-i", "bench-baseline",
			       NULL };
	iu_pub_t pub;
	pid_t pid;
	int64_t t0, t1;
	int rc;

	snprintf(port, sizeof port, "%d", b->port);
	snprintf(q, sizeof q, "%d", qos);
	snprintf(cnt, sizeof cnt, "%ld", opt_messages);
	if (mqbt_spawn(&pid, argv, NULL) != 0)
		return -1;
	mqbt_sleep_ms(500);   /* subscribed */
	if (iu_pub_start(&pub, b->port, "bench-pub-base", true) != 0)
		return -1;
	t0 = mqbt_now_ms();
	publish_all(&pub, opt_messages, qos);
	rc = mqbt_wait(pid, 300000);
	t1 = mqbt_now_ms();
	iu_pub_wait_acked(&pub, 10000);
	iu_pub_stop(&pub);
	if (rc != 0) {
		mqbt_kill(pid, SIGKILL);
		mqbt_wait(pid, 5000);
		fprintf(stderr, "baseline QoS %d: mosquitto_sub did not receive all messages\n", qos);
		return -1;
	}
	return (double)opt_messages * 1000.0 / (double)(t1 - t0 > 0 ? t1 - t0 : 1);
}

struct daemon_result {
	double rate, cpu_per_1k, recs_per_append, fsyncs_s, syncfs_s;
	long rss_idle_kb, rss_peak_kb;
	long long stored, window_max_us;
};

/* The sum of a /metrics counter's samples (name, or name{...}), -1 when absent. */
static double metric_sum(int port, const char *name)
{
	int status = 0;
	char *body = NULL, *p;
	double sum = -1;
	size_t len = strlen(name);

	if (mqbt_http_get(port, "/metrics", &status, &body) != 0 || status != 200) {
		free(body);
		return -1;
	}
	for (p = body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, name, len) || (p[len] != ' ' && p[len] != '{'))
			continue;
		char *v = strchr(p, ' ');
		if (v)
			sum = (sum < 0 ? 0 : sum) + strtod(v + 1, NULL);
	}
	free(body);
	return sum;
}

static void run_daemon(const mqbt_broker_t *b, int qos, struct daemon_result *res)
{
	iu_daemon_t d = { 0 };
	iu_pub_t pub;
	char routes[512], extra[128];
	int64_t t0, t1 = 0, cpu0;
	long long stored = 0;
	double fs0, sf0;

	memset(res, 0, sizeof *res);
	res->rate = -1;
	if (mqbt_tmpdir(d.dir, sizeof d.dir) != 0)
		return;
	d.stats_port = mqbt_free_port();
	snprintf(routes, sizeof routes,
		 "streams = ( { name = \"bench\"; partitions = %d; flush = { interval_ms = 50; }; } );\n"
		 "routes = ( { filter = \"bench/+\"; stream = \"bench\"; key = \"{1}\"; qos = %d; } );",
		 opt_partitions, qos);
	snprintf(extra, sizeof extra, "clean_start = true;%s", linger_conf());
	if (iu_daemon_config(&d, b->port, "bench-mqbridged", extra, routes) != 0 ||
	    iu_daemon_start(&d, NULL) != 0 || iu_daemon_wait_ready(&d, 60000) != 0) {
		iu_daemon_dump_log(&d);
		goto out;
	}
	mqbt_sleep_ms(300);
	res->rss_idle_kb = proc_kb(d.pid, "VmRSS:");
	if (iu_pub_start(&pub, b->port, "bench-pub-daemon", true) != 0)
		goto out;
	fs0 = metric_sum(d.stats_port, "mqbridge_log_fsyncs_total");
	sf0 = metric_sum(d.stats_port, "mqbridge_store_flusher_syncfs_total");
	t0 = mqbt_now_ms();
	cpu0 = mqbt_cpu_ms(d.pid);
	publish_all(&pub, opt_messages, qos);
	for (int i = 0; i < 6000; i++) {   /* up to 5 min; polling /stats costs the daemon */
		stored = iu_daemon_stat(&d, "stored");
		if (stored >= opt_messages) {
			t1 = mqbt_now_ms();
			res->cpu_per_1k = (double)(mqbt_cpu_ms(d.pid) - cpu0) * 1000.0 /
					  (double)opt_messages;
			/* fsyncs and syncfs per second over the run (syncfs: -1 when the
			 * build predates the counter) */
			res->fsyncs_s = (metric_sum(d.stats_port, "mqbridge_log_fsyncs_total") -
					 fs0) * 1000.0 / (double)(t1 - t0 > 0 ? t1 - t0 : 1);
			res->syncfs_s = sf0 < 0 ? -1 :
				(metric_sum(d.stats_port, "mqbridge_store_flusher_syncfs_total") -
				 sf0) * 1000.0 / (double)(t1 - t0 > 0 ? t1 - t0 : 1);
			break;
		}
		mqbt_sleep_ms(50);
	}
	iu_pub_wait_acked(&pub, 10000);
	iu_pub_stop(&pub);
	res->stored = stored;
	{
		long long batches = iu_daemon_stat(&d, "batches");

		res->recs_per_append = batches > 0 ? (double)stored / (double)batches : 0;
		res->window_max_us = iu_daemon_stat(&d, "unstored_window_max_us");
	}
	res->rss_peak_kb = proc_kb(d.pid, "VmHWM:");
	if (t1)
		res->rate = (double)opt_messages * 1000.0 / (double)(t1 - t0 > 0 ? t1 - t0 : 1);
	else
		fprintf(stderr, "mqbridged QoS %d: stored %lld of %ld\n", qos, stored, opt_messages);
out:
	if (d.pid > 0)
		mqbt_stop(d.pid, 20000);
	mqbt_rmrf(d.dir);
}

/* --- latency, in-process on the ingest library ------------------------------------- */

struct lat {
	int64_t *us;        /* publish -> stored */
	int64_t *arr_ms;    /* publish -> arrival (record timestamp, 1 ms resolution) */
	size_t n, cap;
};

static void on_stored(void *arg, const mqb_record_t *recs, size_t n)
{
	struct lat *l = arg;
	int64_t now = wall_us();

	for (size_t i = 0; i < n; i++) {
		int64_t sent;

		if (recs[i].value_len < (ssize_t)sizeof sent || l->n >= l->cap)
			continue;
		memcpy(&sent, recs[i].value, sizeof sent);
		l->arr_ms[l->n] = recs[i].timestamp_ms - sent / 1000;
		l->us[l->n++] = now - sent;
	}
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int run_latency(const mqbt_broker_t *b, double *p50, double *p99, double *max, size_t *cnt,
		       double *arr_p99)
{
	char dir[256], data[300], text[2048], err[512] = "";
	mqb_config_t *cfg = NULL;
	mqb_store_t *st = NULL;
	mqb_mqtt_source_t *ing = NULL;
	iu_pub_t pub;
	struct lat l = { 0 };
	long total = (long)opt_rate * opt_seconds;
	int rc = -1;

	if (mqbt_tmpdir(dir, sizeof dir) != 0)
		return -1;
	snprintf(data, sizeof data, "%s/data", dir);
	snprintf(text, sizeof text,
		 "data_dir = \"%s\";\n"
		 "mqtt = { host = \"127.0.0.1\"; port = %d; client_id = \"bench-latency\"; "
		 "clean_start = true;%s };\n"
		 "stats = { listen = \"off\"; };\n"
		 "streams = ( { name = \"bench\"; partitions = 8; flush = { interval_ms = 50; }; } );\n"
		 "routes = ( { filter = \"lat/+\"; stream = \"bench\"; key = \"{1}\"; qos = 1; } );\n",
		 data, b->port, linger_conf());
	cfg = mqb_config_load_string(text, "bench.conf", mqb_test_sections(), err, sizeof err);
	if (!cfg)
		goto out;
	st = mqb_store_open(data, 0, err, sizeof err);
	if (!st || mqb_store_stream_open(st, &cfg->streams[0].opts, err, sizeof err) != MQB_OK)
		goto out;
	ing = mqb_mqtt_source_new(cfg, st, NULL, err, sizeof err);
	if (!ing)
		goto out;
	l.cap = (size_t)total;
	l.us = calloc(l.cap, sizeof *l.us);
	l.arr_ms = calloc(l.cap, sizeof *l.arr_ms);
	mqb_mqtt_source_test_on_stored(ing, on_stored, &l);
	if (mqb_mqtt_source_start(ing) != MQB_OK)
		goto out;
	for (int i = 0; i < 500 && !mqb_mqtt_source_ready(ing, NULL, 0); i++)
		mqbt_sleep_ms(10);
	if (iu_pub_start(&pub, b->port, "bench-pub-lat", true) != 0)
		goto out;
	{
		char payload[100], topic[32];
		int64_t start = mqbt_now_ms() * 1000, gap_us = 1000000 / opt_rate;

		memset(payload, 'l', sizeof payload);
		for (long i = 0; i < total; i++) {
			int64_t due = start + i * gap_us, now_mono;
			int64_t sent;

			while ((now_mono = mqbt_now_ms() * 1000) < due - 1000)
				mqbt_sleep_ms(1);
			snprintf(topic, sizeof topic, "lat/t%d", (int)(i % opt_topics));
			sent = wall_us();
			memcpy(payload, &sent, sizeof sent);
			iu_pub_send(&pub, topic, payload, sizeof payload, 1, NULL);
		}
	}
	iu_pub_wait_acked(&pub, 10000);
	for (int i = 0; i < 500 && l.n < (size_t)total; i++)
		mqbt_sleep_ms(10);
	iu_pub_stop(&pub);
	mqb_mqtt_source_stop(ing, 5000);
	if (l.n == 0)
		goto out;
	qsort(l.us, l.n, sizeof *l.us, cmp_i64);
	*p50 = (double)l.us[l.n / 2] / 1000.0;
	*p99 = (double)l.us[(size_t)((double)l.n * 0.99)] / 1000.0;
	*max = (double)l.us[l.n - 1] / 1000.0;
	qsort(l.arr_ms, l.n, sizeof *l.arr_ms, cmp_i64);
	*arr_p99 = (double)l.arr_ms[(size_t)((double)l.n * 0.99)];
	*cnt = l.n;
	rc = 0;
out:
	if (rc != 0 && err[0])
		fprintf(stderr, "latency run: %s\n", err);
	mqb_mqtt_source_destroy(ing);
	mqb_store_close(st);
	mqb_config_free(cfg);
	free(l.us);
	free(l.arr_ms);
	mqbt_rmrf(dir);
	return rc;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* min / median / max of v[0..n-1] (sorted in place) into out[3] */
static void mmm(double *v, int n, double out[3])
{
	qsort(v, (size_t)n, sizeof *v, cmp_dbl);
	out[0] = v[0];
	out[1] = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	out[2] = v[n - 1];
}

#define MAX_ROUNDS 50
/* --scaling: mqbridged's CPU per 1000 messages at two partition counts. */
static int run_scaling(const mqbt_broker_t *b, const int parts[2])
{
	double cpu[2][2][MAX_ROUNDS], rpa[2][2][MAX_ROUNDS], ratio[2][MAX_ROUNDS], la[3];

	for (int r = 0; r < opt_rounds; r++)
		for (int k = 0; k < 2; k++) {
			int side = (r + k) % 2;   /* alternate which count goes first */

			for (int q = 0; q < 2; q++) {
				struct daemon_result res;

				opt_partitions = parts[side];
				fprintf(stderr, "round %d: %d partitions, QoS %d...\n", r + 1,
					parts[side], q);
				run_daemon(b, q, &res);
				if (res.rate <= 0) {
					fprintf(stderr, "bench_ingest: round %d failed\n", r + 1);
					return 1;
				}
				cpu[side][q][r] = res.cpu_per_1k;
				rpa[side][q][r] = res.recs_per_append;
			}
		}
	for (int q = 0; q < 2; q++)
		for (int r = 0; r < opt_rounds; r++)
			ratio[q][r] = cpu[1][q][r] / (cpu[0][q][r] > 0 ? cpu[0][q][r] : 1e-9);
	printf("\nbench_ingest --scaling: %ld messages of 100 bytes to %d topics per run, "
	       "%d rounds, %s\n\n", opt_messages, opt_topics, opt_rounds,
	       opt_pace > 0 ? "paced" : "unpaced");
	if (opt_pace > 0)
		printf("pace: %d msgs/s\n\n", opt_pace);
	printf("| QoS | CPU ms / 1000 msgs, %d partitions (min / median / max) | CPU ms / 1000 "
	       "msgs, %d partitions | records / append (medians) | ratio %d / %d per round "
	       "(min / **median** / max) | target |\n", parts[0], parts[1], parts[1], parts[0]);
	printf("|---|---|---|---|---|---|\n");
	for (int q = 0; q < 2; q++) {
		double a[3], c[3], ra[3], pa[3], pb[3];

		mmm(cpu[0][q], opt_rounds, a);
		mmm(cpu[1][q], opt_rounds, c);
		mmm(ratio[q], opt_rounds, ra);
		mmm(rpa[0][q], opt_rounds, pa);
		mmm(rpa[1][q], opt_rounds, pb);
		printf("| %d | %.2f / %.2f / %.2f | %.2f / %.2f / %.2f | %.1f / %.1f | %.2f / "
		       "**%.2f** / %.2f | <= 1.3 |\n", q, a[0], a[1], a[2], c[0], c[1], c[2],
		       pa[1], pb[1], ra[0], ra[1], ra[2]);
	}
	if (getloadavg(la, 3) == 3)
		printf("\nload average at the end: %.2f %.2f %.2f\n", la[0], la[1], la[2]);
	return 0;
}

int main(int argc, char **argv)
{
	mqbt_broker_t b = { 0 };
	double base[2] = { -1, -1 }, p50 = 0, p99 = 0, pmax = 0, arr_p99 = 0;
	const char *only = NULL, *scaling = NULL;
	int sparts[2] = { 0, 0 };
	struct daemon_result dr[2];
	size_t nlat = 0;
	int q;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--messages") && i + 1 < argc)
			opt_messages = atol(argv[++i]);
		else if (!strcmp(argv[i], "--topics") && i + 1 < argc)
			opt_topics = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--rate") && i + 1 < argc)
			opt_rate = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			opt_seconds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--partitions") && i + 1 < argc)
			opt_partitions = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			only = argv[++i];
		else if (!strcmp(argv[i], "--linger") && i + 1 < argc)
			opt_linger = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--scaling") && i + 1 < argc)
			scaling = argv[++i];
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			opt_rounds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--pace") && i + 1 < argc)
			opt_pace = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: bench_ingest [--messages N] [--topics T] [--rate R] "
				"[--seconds S] [--partitions P] [--only throughput|latency] "
				"[--linger MS]\n       bench_ingest --scaling P1,P2 [--rounds R] "
				"[--pace MSGS_PER_S] [--messages N] [--topics T] [--linger MS]\n");
			return 2;
		}
	}
	if (scaling && (sscanf(scaling, "%d,%d", &sparts[0], &sparts[1]) != 2 ||
			sparts[0] < 1 || sparts[1] < 1 || sparts[0] > 4096 || sparts[1] > 4096 ||
			opt_rounds < 1 || opt_rounds > MAX_ROUNDS || opt_pace < 0)) {
		fprintf(stderr, "bench_ingest: --scaling wants two partition counts 1..4096 "
			"(P1,P2), --rounds 1..%d, --pace >= 0\n", MAX_ROUNDS);
		return 2;
	}
	if (opt_messages < 1 || opt_topics < 1 || opt_rate < 1 || opt_seconds < 1 ||
	    opt_partitions < 1 || opt_partitions > 4096) {
		fprintf(stderr, "bench_ingest: every number must be >= 1 (partitions 1..4096)\n");
		return 2;
	}
	if (!getenv("MQB_BUILD_DIR"))
		setenv("MQB_BUILD_DIR", ".", 0);
	if (access(mqbt_bin("mqbridged"), X_OK) != 0) {
		fprintf(stderr, "bench_ingest: mqbridged not found under MQB_BUILD_DIR=%s\n",
			getenv("MQB_BUILD_DIR"));
		return 1;
	}
	if (mqbt_mosquitto_start(&b, NULL) != 0) {
		fprintf(stderr, "bench_ingest: cannot start mosquitto\n");
		return 1;
	}
	if (scaling) {
		int rc = run_scaling(&b, sparts);

		mqbt_mosquitto_destroy(&b);
		return rc;
	}
	memset(dr, 0, sizeof dr);
	for (q = 0; q < 2 && !(only && !strcmp(only, "latency")); q++) {
		for (int side = 0; side < 2; side++) {
			if ((side ^ q) == 0) {
				fprintf(stderr, "QoS %d: baseline (mosquitto_sub)...\n", q);
				base[q] = run_baseline(&b, q);
			} else {
				fprintf(stderr, "QoS %d: mqbridged...\n", q);
				run_daemon(&b, q, &dr[q]);
			}
		}
	}
	if (!(only && !strcmp(only, "throughput"))) {
		fprintf(stderr, "latency at %d msg/s for %d s...\n", opt_rate, opt_seconds);
		if (run_latency(&b, &p50, &p99, &pmax, &nlat, &arr_p99) != 0)
			fprintf(stderr, "latency run failed\n");
	}
	mqbt_mosquitto_destroy(&b);

	printf("\nbench_ingest: %ld messages of 100 bytes to %d topics, one mosquitto on "
	       "127.0.0.1\n\n", opt_messages, opt_topics);
	if (!(only && !strcmp(only, "latency"))) {
		printf("| QoS | mosquitto_sub msgs/s (baseline) | mqbridged stored msgs/s (%d "
		       "partitions) | ratio | target | mqbridged CPU ms / 1000 msgs | records "
		       "/ append | loss window max us | fsyncs/s | syncfs/s |\n", opt_partitions);
		printf("|-----|------------------:|------------------:|------:|-------:|------:"
		       "|------:|------:|------:|------:|\n");
		for (q = 0; q < 2; q++)
			printf("| %d   | %17.0f | %17.0f | %5.2f | >= 0.9 | %.2f | %.1f | %lld | %.0f "
			       "| %.0f |\n", q, base[q], dr[q].rate,
			       base[q] > 0 && dr[q].rate > 0 ? dr[q].rate / base[q] : 0.0,
			       dr[q].cpu_per_1k, dr[q].recs_per_append, dr[q].window_max_us,
			       dr[q].fsyncs_s, dr[q].syncfs_s);
		printf("\n| mqbridged RSS | KiB |\n|---|---:|\n");
		printf("| idle (QoS 0 run, ready) | %ld |\n| peak, QoS 0 run (VmHWM) | %ld |\n"
		       "| peak, QoS 1 run (VmHWM) | %ld |\n| target | < 32768 |\n",
		       dr[0].rss_idle_kb, dr[0].rss_peak_kb, dr[1].rss_peak_kb);
	}
	{
		double la[3];
		if (getloadavg(la, 3) == 3)
			printf("\nload average at the end: %.2f %.2f %.2f\n", la[0], la[1], la[2]);
	}
	if (only && !strcmp(only, "throughput"))
		return 0;
	printf("\n| publish -> stored at %d msg/s, %d s, flush.interval_ms 50 | value |\n",
	       opt_rate, opt_seconds);
	printf("|---|---:|\n");
	printf("| samples | %zu |\n| p50 | %.3f ms |\n| p99 | %.3f ms (target < 5) |\n"
	       "| max | %.3f ms |\n| p99 of publish -> arrival alone (1 ms resolution) | %.0f ms |\n",
	       nlat, p50, p99, pmax, arr_p99);
	return 0;
}
