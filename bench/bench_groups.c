/*
 * bench_groups.c — consumer-group delivery over MQTT.
 *
 *  1. Ingest baseline: an MQTT 5 publisher (QoS 1) sends --records records to a
 *     12-partition stream; the rate is records stored per second (log end, read from
 *     the stats endpoint) — the same broker and daemon the groups use.
 *  2. Delivery: 4 `mqbridge consume` members (QoS 1 records, acks in ranges, output to
 *     nowhere) drain that backlog; the rate is records committed per second.
 *     Target >= 50,000 records/s; the ratio to the ingest rate is printed, and the
 *     CPU time (utime + stime from /proc) the daemon, the broker and the 4 members
 *     spent per 1000 records delivered -- steadier than the rate on a shared machine.
 *  3. Fail-over: 2 members consume a live stream (a publisher at ~2,000 records/s);
 *     one is killed with SIGKILL; time from the kill until another member consumes a
 *     record of a partition the dead one owned. With the will (target < 1 s) and
 *     without it (--no-will: found by the session timeout; target timeout + 1 s).
 *
 * Usage: bench_groups [--records N] (default 100000)
 */
#include <pthread.h>
#include <time.h>

#include "bench/bench_groups_util.h"

#define SESSION_MS 3000

static const char *CONF =
	"streams = ( { name = \"orders\"; partitions = 12; flush = { interval_ms = 50; }; },\n"
	"            { name = \"live\"; partitions = 4; } );\n"
	"routes = ( { filter = \"orders/+\"; stream = \"orders\"; key = \"{1}\"; qos = 1; },\n"
	"           { filter = \"live/+\"; stream = \"live\"; key = \"{1}\"; qos = 1; } );\n"
	"groups = ( { name = \"bench\"; stream = \"orders\"; assignor = \"range\"; prefetch = 2000;\n"
	"             session_timeout_ms = 10000; heartbeat_interval_ms = 1000; },\n"
	"           { name = \"fo\"; stream = \"live\"; assignor = \"cooperative-sticky\";\n"
	"             session_timeout_ms = 3000; heartbeat_interval_ms = 500; prefetch = 100; } );\n";

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct live {
	gt_env_t *e;
	volatile int stop;
} live_t;

static void *live_pub(void *arg)
{
	live_t *l = arg;
	gt_pub_t pub = { 0 };
	char t[64], v[32];
	int64_t i = 0;

	if (gt_pub_open(l->e, &pub, "bench-live") != 0)
		return NULL;
	while (!l->stop) {
		for (int k = 0; k < 20; k++, i++) {
			snprintf(t, sizeof(t), "live/d%d", (int)(i % 64));
			snprintf(v, sizeof(v), "%" PRId64, i);
			gt_pub(&pub, t, v);
		}
		mqbt_sleep_ms(10);
	}
	gt_pub_close(&pub);
	return NULL;
}

/* One fail-over measurement; returns ms from kill to the first record of one of the
 * victim's partitions consumed by the survivor, -1 on failure. */
static int64_t failover(gt_env_t *e, bool will, int round)
{
	gt_member_t a, b;
	char ia[32], ib[32];
	const char *extra_will[] = { NULL };
	const char *extra_nowill[] = { "--no-will", NULL };
	const char **ex = will ? extra_will : extra_nowill;
	int64_t result = -1;

	snprintf(ia, sizeof(ia), "fa%d", round);
	snprintf(ib, sizeof(ib), "fb%d", round);
	if (gt_member_start(e, &a, "fo", ia, NULL) || gt_member_start(e, &b, "fo", ib, ex))
		return -1;
	mqbt_sleep_ms(2500);      /* both assigned and consuming */
	int64_t kill_ms = wall_ms();
	mqbt_kill(b.pid, SIGKILL);
	mqbt_wait(b.pid, 5000);
	mqbt_sleep_ms(SESSION_MS + 2500);
	mqbt_kill(a.pid, SIGTERM);
	mqbt_wait(a.pid, 10000);

	/* the victim's partitions: its last assignment */
	gt_trace_t tb, ta;
	uint64_t victim = 0;
	if (gt_trace_load(b.trace, &tb) == 0) {
		for (size_t i = 0; i < tb.n; i++)
			if (tb.ev[i].kind == 'A')
				victim = tb.ev[i].assigned;
		gt_trace_free(&tb);
	}
	if (victim && gt_trace_load(a.trace, &ta) == 0) {
		for (size_t i = 0; i < ta.n; i++)
			if (ta.ev[i].kind == 'R' && ta.ev[i].ms >= kill_ms &&
			    (victim & (1ull << ta.ev[i].part))) {
				result = ta.ev[i].ms - kill_ms;
				break;
			}
		gt_trace_free(&ta);
	}
	unlink(a.trace);
	unlink(b.trace);
	return result;
}

int main(int argc, char **argv)
{
	gt_env_t e;
	gt_pub_t pub = { 0 };
	int64_t n = 100000;
	char topic[64], payload[128];

	const char *inflight = "1000";
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--records") && i + 1 < argc)
			n = atoll(argv[++i]);
		else if (!strcmp(argv[i], "--broker-inflight") && i + 1 < argc)
			inflight = argv[++i];
		else {
			fprintf(stderr, "usage: bench_groups [--records N] [--broker-inflight N]\n");
			return 2;
		}
	}
	char bextra[128];
	snprintf(bextra, sizeof(bextra), "max_inflight_messages %s\n", inflight);
	if (n < 1000)
		n = 1000;
	if (gt_env_start_ex(&e, CONF, bextra) || gt_daemon_start(&e)) {
		fprintf(stderr, "bench_groups: cannot start mosquitto/mqbridged (dir %s)\n", e.dir);
		gt_env_stop(&e, true);
		return 1;
	}

	/* 1. ingest */
	memset(payload, 'x', 100);
	payload[100] = '\0';
	if (gt_pub_open(&e, &pub, "bench-pub") != 0)
		return 1;
	int64_t t0 = mqbt_now_ms();
	for (int64_t i = 0; i < n; i++) {
		snprintf(topic, sizeof(topic), "orders/dev%d", (int)(i % 1000));
		gt_pub(&pub, topic, payload);
	}
	int64_t stored = gt_wait_sum(&e, "bench", "log_end", n, 300000);
	int64_t t1 = mqbt_now_ms();
	gt_pub_close(&pub);
	double ingest = (double)stored * 1000.0 / (double)(t1 - t0 ? t1 - t0 : 1);

	/* 2. delivery to 4 members with acks */
	bg_result_t dr;
	bg_mqtt_round(&e, "bench", 4, stored, 600000, &dr);
	int64_t committed = dr.committed;
	int64_t cpu_d = dr.cpu_daemon, cpu_b = dr.cpu_broker, cpu_m = dr.cpu_clients;
	double deliver = bg_rate(&dr);

	/* 3. fail-over */
	live_t live = { &e, 0 };
	pthread_t th;
	pthread_create(&th, NULL, live_pub, &live);
	mqbt_sleep_ms(500);
	int64_t fo_will[3], fo_nowill[2];
	for (int r = 0; r < 3; r++)
		fo_will[r] = failover(&e, true, r);
	for (int r = 0; r < 2; r++)
		fo_nowill[r] = failover(&e, false, 10 + r);
	live.stop = 1;
	pthread_join(th, NULL);

	printf("\nbench_groups: %" PRId64 " records of 100 bytes, 12 partitions, 4 members, QoS 1, "
	       "acks in ranges; mosquitto max_inflight_messages %s\n", stored, inflight);
	printf("%-44s %14s\n", "measure", "value");
	printf("%-44s %12.0f/s\n", "ingest (MQTT publish -> stored), baseline", ingest);
	printf("%-44s %12.0f/s\n", "group delivery with acks (4 members)", deliver);
	printf("%-44s %13.2fx\n", "delivery / ingest", ingest > 0 ? deliver / ingest : 0);
	printf("%-44s %14s\n", "target delivery", ">= 50000/s");
	double per_k = committed > 0 ? 1000.0 / (double)committed : 0;
	printf("%-44s %11.1f ms\n", "CPU per 1000 delivered: mqbridged", (double)cpu_d * per_k);
	printf("%-44s %11.1f ms\n", "CPU per 1000 delivered: mosquitto", (double)cpu_b * per_k);
	printf("%-44s %11.1f ms\n", "CPU per 1000 delivered: 4 members", (double)cpu_m * per_k);
	for (int r = 0; r < 3; r++)
		printf("fail-over with will, round %d %17s %11" PRId64 " ms\n", r + 1, "", fo_will[r]);
	for (int r = 0; r < 2; r++)
		printf("fail-over without will (session %d ms) %5s %9" PRId64 " ms\n", SESSION_MS, "",
		       fo_nowill[r]);
	printf("targets: with will < 1000 ms; without will < session timeout + 1000 = %d ms\n",
	       SESSION_MS + 1000);
	double la[3];
	if (getloadavg(la, 3) == 3)
		printf("load average at the end: %.2f %.2f %.2f\n", la[0], la[1], la[2]);
	gt_env_stop(&e, false);
	return 0;
}
