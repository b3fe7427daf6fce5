/*
 * bench_scrape.c — what scraping costs: a real mosquitto and mqbridged with one
 * 64-partition stream, a publisher flooding it, and alternating phases in the same
 * run: no scrape (the baseline) and GET /metrics 10 times a second, in rounds of one
 * phase each (ABBA order, so drift cancels). Prints ingest throughput (records stored
 * per second, from the daemon's own counter) per phase kind, the difference as the
 * median over rounds of the paired phases (target < 2%) and as totals, the daemon's
 * CPU time per record in each kind (/proc/<pid>/stat), then /metrics latency
 * p50/p99/max with 64 partitions, under ingest and idle (target p99 < 10 ms).
 *
 *   build/bench/bench_scrape [--phase-s 2] [--rounds 8] [--partitions 64] [--idle-gets 500]
 *                            [--rate N]   (publish N/s instead of flooding: latency
 *                                          under a steady load; throughput then = N)
 */
#include <math.h>
#include <mosquitto.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/harness.h"

static int stats_port;
static mqbt_broker_t broker;
static atomic_int stop_pub, stop_scrape;
static int pub_rate;                 /* 0: flood */

struct lat { double *v; size_t n, cap; };

static void lat_add(struct lat *l, double ms)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 1024;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = ms;
}

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(struct lat *l, double p)
{
	if (!l->n)
		return NAN;
	qsort(l->v, l->n, sizeof(double), cmpd);
	size_t i = (size_t)ceil(p / 100.0 * (double)l->n);
	return l->v[i ? i - 1 : 0];
}

/* One GET /metrics; returns ms or -1; *bytes = body size. */
static double scrape_once(size_t *bytes)
{
	struct timespec a, b;
	int st = 0;
	char *body = NULL;

	clock_gettime(CLOCK_MONOTONIC, &a);
	if (mqbt_http_get(stats_port, "/metrics", &st, &body) != 0 || st != 200) {
		free(body);
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	if (bytes)
		*bytes = strlen(body);
	free(body);
	return (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
}

/* records stored so far, from /metrics (the daemon's own counter). */
static double stored_total(void)
{
	int st = 0;
	char *body = NULL, *p;
	double v = -1;

	if (mqbt_http_get(stats_port, "/metrics", &st, &body) == 0 && st == 200 &&
	    (p = strstr(body, "\nmqbridge_messages_stored_total{stream=\"b\"} ")) != NULL)
		v = strtod(p + strlen("\nmqbridge_messages_stored_total{stream=\"b\"} "), NULL);
	free(body);
	return v;
}

/* utime + stime of pid, seconds (the harness's reader). */
static double cpu_s(pid_t pid)
{
	int64_t ms = mqbt_cpu_ms(pid);

	return ms < 0 ? -1 : (double)ms / 1000.0;
}

static void *publisher(void *arg)
{
	struct mosquitto *m = mosquitto_new("bench-scrape-pub", true, NULL);
	char payload[100];
	unsigned long i = 0;

	memset(payload, 'x', sizeof(payload));
	mosquitto_max_inflight_messages_set(m, 1000);
	if (mosquitto_connect(m, "127.0.0.1", broker.port, 30) != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "publisher: cannot connect\n");
		return NULL;
	}
	int64_t t0 = mqbt_now_ms();
	while (!atomic_load(&stop_pub)) {
		if (pub_rate > 0) {           /* pace: at most rate * elapsed published */
			int64_t due = (mqbt_now_ms() - t0) * pub_rate / 1000;
			if ((int64_t)i >= due) {
				mosquitto_loop(m, 5, 1);
				continue;
			}
		}
		for (int k = 0; k < 200; k++, i++) {
			char topic[64];
			snprintf(topic, sizeof(topic), "bench/dev%lu/data", i % 1000);
			mosquitto_publish(m, NULL, topic, sizeof(payload), payload, 1, false);
		}
		mosquitto_loop(m, 0, 1);
	}
	mosquitto_disconnect(m);
	mosquitto_loop(m, 100, 1);
	mosquitto_destroy(m);
	return NULL;
}

struct scraper { struct lat *lat; size_t bytes; int errors; };

static void *scraper(void *arg)
{
	struct scraper *s = arg;

	while (!atomic_load(&stop_scrape)) {
		int64_t next = mqbt_now_ms() + 100;
		double ms = scrape_once(&s->bytes);
		if (ms < 0)
			s->errors++;
		else
			lat_add(s->lat, ms);
		int64_t left = next - mqbt_now_ms();
		if (left > 0)
			mqbt_sleep_ms((int)left);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int phase_s = 2, rounds = 8, partitions = 64, idle_gets = 500, rc = 1;
	char dir[256], conf[2048], path[300], logp[300];
	pid_t pid = -1;
	pthread_t pub;
	double rate[2] = { 0, 0 }, secs[2] = { 0, 0 }, cpu[2] = { 0, 0 };
	double *diff = NULL;
	struct lat load = { 0 }, idle = { 0 };
	struct scraper sc = { &load, 0, 0 };
	size_t body = 0;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--phase-s")) phase_s = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--rounds")) rounds = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--partitions")) partitions = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--idle-gets")) idle_gets = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--rate")) pub_rate = atoi(argv[i + 1]);
		else { fprintf(stderr, "unknown option %s\n", argv[i]); return 2; }
	}
	if (phase_s < 1 || rounds < 1 || partitions < 1 || idle_gets < 1) {
		fprintf(stderr, "options must be >= 1\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	mosquitto_lib_init();
	if (mqbt_tmpdir(dir, sizeof(dir)) != 0 ||
	    mqbt_mosquitto_start(&broker, "max_queued_messages 100000\nmax_inflight_messages 1000\n") != 0) {
		fprintf(stderr, "cannot start mosquitto\n");
		return 1;
	}
	stats_port = mqbt_free_port();
	snprintf(conf, sizeof(conf),
		 "data_dir = \"%s/data\";\n"
		 "mqtt = { host = \"127.0.0.1\"; port = %d; client_id = \"bench-scrape\"; max_inflight = 1000; };\n"
		 "stats = { listen = \"127.0.0.1:%d\"; };\n"
		 "streams = ( { name = \"b\"; partitions = %d; flush = { interval_ms = 50; }; } );\n"
		 "routes = ( { name = \"bench\"; filter = \"bench/+/data\"; qos = 1; stream = \"b\"; key = \"{1}\"; } );\n",
		 dir, broker.port, stats_port, partitions);
	snprintf(path, sizeof(path), "%s/bench.conf", dir);
	snprintf(logp, sizeof(logp), "%s/mqbridged.log", dir);
	mqbt_write_file(path, conf);
	{
		const char *bin = mqbt_bin("mqbridged");
		const char *av[] = { bin, "-c", path, NULL };
		if (!bin || mqbt_spawn(&pid, av, logp) != 0 || mqbt_wait_port(stats_port, 10000) != 0) {
			fprintf(stderr, "cannot start mqbridged (log: %s)\n", logp);
			goto out;
		}
	}
	for (int i = 0; i < 150; i++) {       /* ready = connected and subscribed */
		int st = 0;
		char *b = NULL;
		mqbt_http_get(stats_port, "/readyz", &st, &b);
		free(b);
		if (st == 200)
			break;
		mqbt_sleep_ms(100);
	}

	pthread_create(&pub, NULL, publisher, NULL);
	mqbt_sleep_ms(2000);                     /* warm up */
	diff = calloc((size_t)rounds, sizeof(*diff));
	for (int r = 0; r < rounds; r++) {
		double rr[2];
		for (int j = 0; j < 2; j++) {
			int kind = (r % 2) ? 1 - j : j;   /* ABBA: AB, BA, AB, ... */
			pthread_t th;
			double s0 = stored_total(), c0 = cpu_s(pid), s1, c1;
			int64_t t0 = mqbt_now_ms(), t1;
			if (kind)
				pthread_create(&th, NULL, scraper, &sc);
			mqbt_sleep_ms(phase_s * 1000);
			if (kind) {
				atomic_store(&stop_scrape, 1);
				pthread_join(th, NULL);
				atomic_store(&stop_scrape, 0);
			}
			s1 = stored_total();
			c1 = cpu_s(pid);
			t1 = mqbt_now_ms();
			rate[kind] += s1 - s0;
			cpu[kind] += c1 - c0;
			secs[kind] += (double)(t1 - t0) / 1000.0;
			rr[kind] = (s1 - s0) / ((double)(t1 - t0) / 1000.0);
			fprintf(stderr, "round %d %-12s %10.0f records/s\n", r,
				kind ? "scrape 10/s" : "no scrape", rr[kind]);
		}
		diff[r] = (rr[0] - rr[1]) / rr[0] * 100.0;
	}
	atomic_store(&stop_pub, 1);
	pthread_join(pub, NULL);
	mqbt_sleep_ms(500);
	double ci0 = cpu_s(pid);
	for (int i = 0; i < idle_gets; i++) {
		double ms = scrape_once(&body);
		if (ms >= 0)
			lat_add(&idle, ms);
	}
	double cpu_per_scrape = (cpu_s(pid) - ci0) / idle_gets;   /* daemon side only */

	double a = rate[0] / secs[0], b = rate[1] / secs[1];
	struct lat dl = { diff, (size_t)rounds, (size_t)rounds };
	double dmed = pct(&dl, 50);
	printf("\nbench_scrape: mqbridged, 1 stream x %d partitions, %d rounds of %d s per phase, "
	       "publisher %s\n", partitions, rounds, phase_s, pub_rate > 0 ? "paced" : "flooding");
	if (pub_rate > 0)
		printf("(paced at %d records/s: the throughput rows show the pace, not capacity)\n",
		       pub_rate);
	printf("%-34s %14s\n", "ingest throughput", "records/s");
	printf("%-34s %14.0f\n", "baseline: no scrape", a);
	printf("%-34s %14.0f\n", "GET /metrics 10 times a second", b);
	printf("%-34s %13.2f%%   (target < 2%%)\n", "difference, median of paired rounds", dmed);
	printf("%-34s %13.2f%%\n", "difference, totals", (a - b) / a * 100.0);
	printf("%-34s %14.2f\n", "daemon CPU us/record, no scrape", cpu[0] / rate[0] * 1e6);
	printf("%-34s %14.2f\n", "daemon CPU us/record, scrape 10/s", cpu[1] / rate[1] * 1e6);
	printf("%-34s %14.3f   (%d idle scrapes, daemon CPU)\n", "daemon CPU ms per scrape",
	       cpu_per_scrape * 1e3, idle_gets);
	printf("%-34s %13.2f%%   (10 scrapes/s vs the daemon's CPU while ingesting)\n",
	       "scrape cost, from CPU", 10 * cpu_per_scrape / (cpu[0] / secs[0]) * 100.0);
	printf("\n%-34s %8s %8s %8s %8s %8s\n", "/metrics latency (ms)", "n", "p50", "p99",
	       "max", "bytes");
	printf("%-34s %8zu %8.2f %8.2f %8.2f %8zu\n", "during ingest (10/s)", load.n,
	       pct(&load, 50), pct(&load, 99), pct(&load, 100), sc.bytes);
	printf("%-34s %8zu %8.2f %8.2f %8.2f %8zu\n", "idle, back to back", idle.n,
	       pct(&idle, 50), pct(&idle, 99), pct(&idle, 100), body);
	printf("(target p99 < 10 ms; scrape errors: %d)\n", sc.errors);
	rc = 0;
out:
	if (pid > 0)
		mqbt_stop(pid, 10000);
	mqbt_mosquitto_destroy(&broker);
	mqbt_rmrf(dir);
	free(load.v);
	free(diff);
	free(idle.v);
	mosquitto_lib_cleanup();
	return rc;
}
