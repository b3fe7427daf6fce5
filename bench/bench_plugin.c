/*
 * bench_plugin.c — plugin mode (mqbridge_plugin.so inside mosquitto) against its
 * baselines, in one run.
 *
 *   bench_plugin [--messages N] [--rate R] [--seconds S] [--runs K]
 *
 * Throughput, QoS 0 and QoS 1: a libmosquitto publisher sends N (200,000) messages of
 * 100 bytes over 1,000 topics (at most 2,000 unacknowledged at QoS 1):
 *   baseline  plain mosquitto (no plugin), the rate at which
 *             `mosquitto_sub -t 'bench/#' -q Q -C N` receives them (first publish ->
 *             its exit);
 *   plugin    mosquitto with the plugin, no subscriber: the rate at which the plugin
 *             stores them (first publish -> /stats plugin.accepted = N); ratio to the
 *             baseline (issue 10's target >= 1.0: one hop fewer).
 * Latency: publish -> PUBACK p50/p99 at QoS 1 at a steady R (10,000) msg/s for S (5)
 * seconds, from the publisher's side (send call -> on_publish), plain mosquitto and
 * mosquitto with the plugin (flush.interval_ms = 50: group commit, no fsync wait).
 * Each measurement K (1) times, alternating. Run from a build directory or with
 * MQB_BUILD_DIR set.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "tests/support/plugin_fx.h"

static long opt_messages = 200000;
static int opt_rate = 10000;
static int opt_seconds = 5;
static int opt_runs = 1;

static const char *const CONF =
	"streams = ( { name = \"bench\"; partitions = 8; flush = { interval_ms = 50; }; } );\n"
	"routes = ( { filter = \"bench/+\"; stream = \"bench\"; key = \"{1}\"; } );";

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* --- a publisher that timestamps every mid ----------------------------------------- */

struct lat_pub {
	struct mosquitto *mosq;
	pthread_mutex_t mu;
	int64_t sent_us[65536];
	int64_t *lat_us;
	long nlat, cap;
	atomic_long acked;
	atomic_int connected;
};

static void lp_on_connect(struct mosquitto *m, void *o, int rc, int f, const mosquitto_property *p)
{
	struct lat_pub *lp = o;
	(void)m; (void)f; (void)p;
	if (rc == 0)
		atomic_store(&lp->connected, 1);
}

static void lp_on_publish(struct mosquitto *m, void *o, int mid, int rc,
			  const mosquitto_property *p)
{
	struct lat_pub *lp = o;
	int64_t now = mono_us();
	(void)m; (void)rc; (void)p;
	pthread_mutex_lock(&lp->mu);
	if (mid > 0 && mid < 65536 && lp->sent_us[mid] && lp->nlat < lp->cap)
		lp->lat_us[lp->nlat++] = now - lp->sent_us[mid];
	pthread_mutex_unlock(&lp->mu);
	atomic_fetch_add(&lp->acked, 1);
}

static struct lat_pub *lp_start(int port, const char *id, long cap)
{
	struct lat_pub *lp = calloc(1, sizeof *lp);

	pthread_mutex_init(&lp->mu, NULL);
	lp->cap = cap;
	lp->lat_us = calloc((size_t)cap, sizeof *lp->lat_us);
	lp->mosq = mosquitto_new(id, true, lp);
	mosquitto_int_option(lp->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
	mosquitto_max_inflight_messages_set(lp->mosq, 2000);
	mosquitto_connect_v5_callback_set(lp->mosq, lp_on_connect);
	mosquitto_publish_v5_callback_set(lp->mosq, lp_on_publish);
	if (mosquitto_connect(lp->mosq, "127.0.0.1", port, 30) != 0 ||
	    mosquitto_loop_start(lp->mosq) != 0)
		return NULL;
	for (int i = 0; i < 500 && !atomic_load(&lp->connected); i++)
		mqbt_sleep_ms(10);
	return atomic_load(&lp->connected) ? lp : NULL;
}

static void lp_stop(struct lat_pub *lp)
{
	mosquitto_disconnect(lp->mosq);
	mosquitto_loop_stop(lp->mosq, false);
	mosquitto_destroy(lp->mosq);
	free(lp->lat_us);
	pthread_mutex_destroy(&lp->mu);
	free(lp);
}

/* Publish n messages at qos as fast as allowed (rate 0) or at rate msg/s. */
static void lp_publish(struct lat_pub *lp, long n, int qos, int rate)
{
	char topic[32], payload[100];
	int64_t start = mono_us();

	memset(payload, 'p', sizeof payload);
	for (long i = 0; i < n; i++) {
		int mid = 0;

		if (rate > 0) {
			int64_t due = start + i * 1000000 / rate;

			while (mono_us() < due)
				;   /* pacing: spin (sleep granularity is too coarse at 10k/s) */
		}
		while (qos && i - atomic_load(&lp->acked) > 2000)
			mqbt_sleep_ms(1);
		snprintf(topic, sizeof topic, "bench/t%d", (int)(i % 1000));
		pthread_mutex_lock(&lp->mu);
		if (mosquitto_publish_v5(lp->mosq, &mid, topic, sizeof payload, payload, qos, false,
					 NULL) == 0 && mid > 0 && mid < 65536)
			lp->sent_us[mid] = mono_us();
		pthread_mutex_unlock(&lp->mu);
	}
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static long long plugin_accepted(int stats_port)
{
	char *body = NULL;
	int status = 0;
	long long v = -1;

	if (mqbt_http_get(stats_port, "/stats", &status, &body) == 0 && status == 200) {
		cJSON *doc = cJSON_Parse(body), *sec = doc ? cJSON_GetObjectItem(doc, "plugin") : NULL;
		cJSON *it = sec ? cJSON_GetObjectItem(sec, "accepted") : NULL;

		if (cJSON_IsNumber(it))
			v = (long long)it->valuedouble;
		cJSON_Delete(doc);
	}
	free(body);
	return v;
}

/* --- the measurements --------------------------------------------------------------- */

static double baseline_rate(int qos)
{
	mqbt_broker_t b = { 0 };
	char port[16], q[4], cnt[32];
	const char *argv[] = { "/usr/bin/mosquitto_sub", "-h", "127.0.0.1", "-p", port,
			       "-t", "bench/#", "-q", q, "-C", cnt, NULL };
	struct lat_pub *lp;
	pid_t pid;
	int64_t t0, t1;
	int rc;

	if (mqbt_mosquitto_start(&b, NULL) != 0)
		return -1;
	snprintf(port, sizeof port, "%d", b.port);
	snprintf(q, sizeof q, "%d", qos);
	snprintf(cnt, sizeof cnt, "%ld", opt_messages);
	mqbt_spawn(&pid, argv, NULL);
	mqbt_sleep_ms(500);
	lp = lp_start(b.port, "bench-base", 1);
	t0 = mqbt_now_ms();
	lp_publish(lp, opt_messages, qos, 0);
	rc = mqbt_wait(pid, 300000);
	t1 = mqbt_now_ms();
	lp_stop(lp);
	mqbt_mosquitto_destroy(&b);
	if (rc != 0) {
		mqbt_kill(pid, SIGKILL);
		mqbt_wait(pid, 5000);
		return -1;
	}
	return (double)opt_messages * 1000.0 / (double)(t1 - t0 > 0 ? t1 - t0 : 1);
}

static double plugin_rate(int qos)
{
	pf_broker_t pb;
	struct lat_pub *lp;
	int64_t t0, t1 = 0;
	double rate = -1;

	memset(&pb, 0, sizeof pb);
	if (pf_config(&pb, CONF) != 0 || pf_start(&pb, NULL) != 0) {
		pf_dump_log(&pb);
		pf_destroy(&pb);
		return -1;
	}
	lp = lp_start(pb.b.port, "bench-plugin", 1);
	t0 = mqbt_now_ms();
	lp_publish(lp, opt_messages, qos, 0);
	for (int i = 0; i < 60000; i++) {
		if (plugin_accepted(pb.stats_port) >= opt_messages) {
			t1 = mqbt_now_ms();
			break;
		}
		mqbt_sleep_ms(5);
	}
	lp_stop(lp);
	if (t1)
		rate = (double)opt_messages * 1000.0 / (double)(t1 - t0 > 0 ? t1 - t0 : 1);
	pf_destroy(&pb);
	return rate;
}

static int latency(bool plugin, double *p50, double *p99)
{
	pf_broker_t pb;
	struct lat_pub *lp;
	long n = (long)opt_rate * opt_seconds;
	int rc = -1;

	memset(&pb, 0, sizeof pb);
	if (plugin ? (pf_config(&pb, CONF) != 0 || pf_start(&pb, NULL) != 0)
		   : mqbt_mosquitto_start(&pb.b, NULL) != 0)
		goto out;
	lp = lp_start(pb.b.port, "bench-lat", n);
	if (!lp)
		goto out;
	lp_publish(lp, n, 1, opt_rate);
	for (int i = 0; i < 1000 && atomic_load(&lp->acked) < n; i++)
		mqbt_sleep_ms(10);
	pthread_mutex_lock(&lp->mu);
	if (lp->nlat > 0) {
		qsort(lp->lat_us, (size_t)lp->nlat, sizeof *lp->lat_us, cmp64);
		*p50 = (double)lp->lat_us[lp->nlat / 2] / 1000.0;
		*p99 = (double)lp->lat_us[lp->nlat * 99 / 100] / 1000.0;
		rc = 0;
	}
	pthread_mutex_unlock(&lp->mu);
	lp_stop(lp);
out:
	pf_destroy(&pb);
	return rc;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--messages") && i + 1 < argc)
			opt_messages = atol(argv[++i]);
		else if (!strcmp(argv[i], "--rate") && i + 1 < argc)
			opt_rate = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			opt_seconds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
			opt_runs = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: bench_plugin [--messages N] [--rate R] "
				"[--seconds S] [--runs K]\n");
			return 2;
		}
	}
	mosquitto_lib_init();
	printf("| QoS | mosquitto_sub msgs/s (plain broker, baseline) | plugin stored msgs/s | ratio |\n");
	printf("|---|---|---|---|\n");
	for (int r = 0; r < opt_runs; r++)
		for (int q = 0; q <= 1; q++) {
			double base = baseline_rate(q), plug = plugin_rate(q);

			printf("| %d | %.0f | %.0f | %.2f |\n", q, base, plug,
			       base > 0 ? plug / base : 0.0);
			fflush(stdout);
		}
	printf("\n| QoS 1 publish -> PUBACK at %d msg/s, %d s | p50 ms | p99 ms |\n", opt_rate,
	       opt_seconds);
	printf("|---|---|---|\n");
	for (int r = 0; r < opt_runs; r++)
		for (int pl = 0; pl <= 1; pl++) {
			double p50 = -1, p99 = -1;

			latency(pl, &p50, &p99);
			printf("| mosquitto %s | %.3f | %.3f |\n", pl ? "with the plugin" : "alone",
			       p50, p99);
			fflush(stdout);
		}
	return 0;
}
