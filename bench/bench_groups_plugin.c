/*
 * bench_groups_plugin.c — consumer-group delivery with acks: plugin mode (groups served
 * inside mosquitto, records published by the broker's own thread) beside client mode
 * (mqbridged's groups session beside a plain mosquitto), in the same run.
 *
 * Each round, for each side in turn (alternating which goes first): a fresh broker (and
 * daemon), --records records of 100 bytes published at QoS 1 into a 12-partition stream
 * (the backlog), then 4 `mqbridge consume` members (QoS 1 records, acks in ranges,
 * output to nowhere) drain it. Measured: records committed per second, from the start
 * of the members until every record is committed, and the CPU time (utime + stime from
 * /proc) of everything on that side (client: mqbridged + mosquitto + members; plugin:
 * mosquitto + members) per 1000 records. The load average is printed: the machine may
 * be shared. Target: plugin >= 2x client mode's rate.
 *
 * Usage: bench_groups_plugin [--records N] [--rounds R] [--only plugin|client]
 *        (defaults 50000 records, 3 rounds, both sides; --only: one side, to profile)
 */
#include <time.h>

#include "tests/integration/test_groups_util.h"
#include "tests/support/plugin_fx.h"

static const char *CONF =
	"streams = ( { name = \"orders\"; partitions = 12; flush = { interval_ms = 50; }; } );\n"
	"routes = ( { filter = \"orders/+\"; stream = \"orders\"; key = \"{1}\"; qos = 1; } );\n"
	"groups = ( { name = \"bench\"; stream = \"orders\"; assignor = \"range\"; prefetch = 2000;\n"
	"             session_timeout_ms = 10000; heartbeat_interval_ms = 1000; } );\n";

static const char *BROKER_EXTRA = "max_inflight_messages 1000\nmax_queued_messages 100000\n";

/* CPU time (user + system) of pid in ms, -1 when unreadable. */
static int64_t cpu_ms(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long ut, st;
	FILE *f;
	size_t n;
	const char *p;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');   /* comm may hold spaces */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
			 &ut, &st) != 2)
		return -1;
	return (int64_t)(ut + st) * 1000 / sysconf(_SC_CLK_TCK);
}

typedef struct result {
	double rate;           /* committed records/s */
	double cpu_per_k;      /* ms CPU per 1000 records, whole side */
	double broker_k, daemon_k, members_k;   /* the same by process */
	int64_t records;
} result_t;

/* Publish n records, then drain them with 4 members. e describes the broker / stats;
 * daemon: mqbridged's pid or 0. 0 ok. */
static int run_side(gt_env_t *e, pid_t broker, pid_t daemon, int64_t n, result_t *r)
{
	gt_pub_t pub = { 0 };
	gt_member_t m[4];
	char topic[64], payload[101];
	int64_t cpu_b0, cpu_d0, cpu_b, cpu_d, cpu_m = 0, t0, t1, stored, committed;

	memset(payload, 'x', 100);
	payload[100] = '\0';
	if (gt_pub_open(e, &pub, "bench-pub") != 0)
		return -1;
	for (int64_t i = 0; i < n; i++) {
		snprintf(topic, sizeof topic, "orders/dev%d", (int)(i % 1000));
		gt_pub(&pub, topic, payload);
	}
	gt_pub_close(&pub);
	stored = gt_wait_sum(e, "bench", "log_end", n, 300000);
	if (stored < n)
		return -1;
	cpu_b0 = cpu_ms(broker);
	cpu_d0 = daemon > 0 ? cpu_ms(daemon) : 0;
	t0 = mqbt_now_ms();
	for (int i = 0; i < 4; i++) {
		char id[16];

		snprintf(id, sizeof id, "b%d", i);
		gt_member_start(e, &m[i], "bench", id, NULL);
	}
	committed = gt_wait_sum(e, "bench", "committed", stored, 600000);
	t1 = mqbt_now_ms();
	cpu_b = cpu_ms(broker) - cpu_b0;
	cpu_d = daemon > 0 ? cpu_ms(daemon) - cpu_d0 : 0;
	for (int i = 0; i < 4; i++)
		cpu_m += cpu_ms(m[i].pid);
	for (int i = 0; i < 4; i++) {
		mqbt_kill(m[i].pid, SIGTERM);
		mqbt_wait(m[i].pid, 10000);
		unlink(m[i].trace);
	}
	r->records = committed;
	r->rate = (double)committed * 1000.0 / (double)(t1 - t0 ? t1 - t0 : 1);
	if (committed > 0) {
		r->broker_k = (double)cpu_b * 1000.0 / (double)committed;
		r->daemon_k = (double)cpu_d * 1000.0 / (double)committed;
		r->members_k = (double)cpu_m * 1000.0 / (double)committed;
		r->cpu_per_k = r->broker_k + r->daemon_k + r->members_k;
	}
	return committed >= stored ? 0 : -1;
}

static int client_round(int64_t n, result_t *r)
{
	gt_env_t e;
	int rc;

	if (gt_env_start_ex(&e, CONF, BROKER_EXTRA) || gt_daemon_start(&e)) {
		gt_env_stop(&e, true);
		return -1;
	}
	rc = run_side(&e, e.broker.pid, e.daemon, n, r);
	gt_env_stop(&e, rc != 0);
	return rc;
}

static int plugin_round(int64_t n, result_t *r)
{
	pf_broker_t pb;
	gt_env_t e;
	int rc = -1;

	memset(&pb, 0, sizeof pb);
	if (pf_config(&pb, CONF) == 0 && pf_start(&pb, BROKER_EXTRA) == 0) {
		memset(&e, 0, sizeof e);
		snprintf(e.dir, sizeof e.dir, "%s", pb.dir);
		e.broker.port = pb.b.port;
		e.http_port = pb.stats_port;
		rc = run_side(&e, pb.b.pid, 0, n, r);
	}
	if (rc != 0)
		pf_dump_log(&pb);
	pf_destroy(&pb);
	return rc;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int64_t n = 50000;
	int rounds = 3;
	const char *only = NULL;   /* "plugin" or "client": one side (profiling) */
	result_t rc_[16], rp_[16];
	double la[3], cr[16], pr[16];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--records") && i + 1 < argc)
			n = atoll(argv[++i]);
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			only = argv[++i];
		else {
			fprintf(stderr, "usage: bench_groups_plugin [--records N] [--rounds R] "
				"[--only plugin|client]\n");
			return 2;
		}
	}
	if (n < 1000)
		n = 1000;
	if (rounds < 1 || rounds > 16)
		rounds = 3;
	mosquitto_lib_init();
	if (getloadavg(la, 3) == 3)
		printf("load average at the start: %.2f %.2f %.2f\n", la[0], la[1], la[2]);
	printf("%-6s %-7s %12s %12s %10s %10s %10s\n", "round", "side", "committed/s",
	       "CPU/1000 ms", "mosquitto", "mqbridged", "members");
	for (int r = 0; r < rounds; r++) {
		for (int k = 0; k < 2; k++) {
			bool plugin = (r + k) % 2 == 1;
			result_t *res = plugin ? &rp_[r] : &rc_[r];

			memset(res, 0, sizeof *res);
			if (only && strcmp(only, plugin ? "plugin" : "client") != 0)
				continue;
			if ((plugin ? plugin_round(n, res) : client_round(n, res)) != 0)
				fprintf(stderr, "round %d %s: failed (%lld committed)\n", r + 1,
					plugin ? "plugin" : "client", (long long)res->records);
			printf("%-6d %-7s %12.0f %12.1f %10.1f %10.1f %10.1f\n", r + 1,
			       plugin ? "plugin" : "client", res->rate, res->cpu_per_k,
			       res->broker_k, res->daemon_k, res->members_k);
			fflush(stdout);
		}
	}
	for (int r = 0; r < rounds; r++) {
		cr[r] = rc_[r].rate;
		pr[r] = rp_[r].rate;
	}
	qsort(cr, (size_t)rounds, sizeof cr[0], cmp_double);
	qsort(pr, (size_t)rounds, sizeof pr[0], cmp_double);
	double cpu_c = 0, cpu_p = 0;
	for (int r = 0; r < rounds; r++) {
		cpu_c += rc_[r].cpu_per_k / rounds;
		cpu_p += rp_[r].cpu_per_k / rounds;
	}
	printf("\nbench_groups_plugin: %lld records of 100 bytes per round, 12 partitions, "
	       "4 members, QoS 1, acks in ranges, %d rounds\n", (long long)n, rounds);
	printf("median committed/s: client %.0f, plugin %.0f, ratio %.2fx (target >= 2x)\n",
	       cr[rounds / 2], pr[rounds / 2], cr[rounds / 2] > 0 ? pr[rounds / 2] / cr[rounds / 2]
	       : 0);
	printf("mean CPU per 1000 records: client %.1f ms (mqbridged + mosquitto + members), "
	       "plugin %.1f ms (mosquitto + members), ratio %.2fx\n", cpu_c, cpu_p,
	       cpu_p > 0 ? cpu_c / cpu_p : 0);
	if (getloadavg(la, 3) == 3)
		printf("load average at the end: %.2f %.2f %.2f\n", la[0], la[1], la[2]);
	return 0;
}
