/*
 * bench_idle.c — what an idle mqbridged costs the machine, beside an idle mosquitto.
 *
 *   bench_idle [--seconds N] [--daemon PATH] [--partitions LIST]
 *
 * Starts a real mosquitto (free loopback port, tests/support harness) and, for each
 * partition count in LIST (default "12,1024"), an mqbridged on a configuration like
 * the shipped conf/mqbridge.conf (streams "telemetry" and "events" with its routes,
 * flush.interval_ms 50; 12 = its 8 + 4 partitions, other counts give telemetry
 * count - 4), data_dir in a temporary directory, stats on a free port. Once the
 * daemon is ready and has settled for 2 s, both processes are left idle for N (20)
 * seconds and the table gives, for each:
 *   wakeups/s  voluntary + involuntary context switches, summed over
 *              /proc/<pid>/task/<tid>/status of every thread, per second;
 *   CPU %      utime + stime from /proc/<pid>/stat over the wall time;
 * plus the daemon's busiest threads by wakeups and the load average (quote it: on a
 * shared machine involuntary switches rise with the load).
 * --daemon (or $MQB_IDLE_DAEMON) names the mqbridged binary to measure, e.g. an older
 * build for a before/after figure; default: the one beside this benchmark.
 * Runs from anywhere (mqbt_bin finds the build dir from /proc/self/exe).
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/harness.h"

#define MAX_TASKS 256

typedef struct task_sample {
	int tid;
	char comm[32];
	long long ctxsw;
} task_sample_t;

typedef struct proc_sample {
	long long ctxsw;        /* summed over the threads */
	long long ticks;        /* utime + stime */
	int64_t ms;             /* monotonic */
	task_sample_t tasks[MAX_TASKS];
	int ntasks;
} proc_sample_t;

static long long status_field(const char *text, const char *key)
{
	const char *p = strstr(text, key);
	return p ? atoll(p + strlen(key)) : 0;
}

static long long proc_ticks(pid_t pid)
{
	char path[64], *text, *p;
	long long ut = 0, st = 0;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	text = mqbt_read_file(path, NULL);
	if (!text)
		return -1;
	p = strrchr(text, ')');   /* comm may hold spaces; fields 14, 15 follow */
	if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lld %lld",
			&ut, &st) != 2)
		ut = st = 0;
	free(text);
	return ut + st;
}

static int sample(pid_t pid, proc_sample_t *s)
{
	char path[300];
	DIR *d;
	struct dirent *e;

	memset(s, 0, sizeof *s);
	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char *text, *comm;
		task_sample_t *t;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/%d/task/%s/status", (int)pid, e->d_name);
		text = mqbt_read_file(path, NULL);
		if (!text)
			continue;   /* the thread just ended */
		long long n = status_field(text, "voluntary_ctxt_switches:") +
			      status_field(text, "nonvoluntary_ctxt_switches:");
		s->ctxsw += n;
		if (s->ntasks < MAX_TASKS) {
			t = &s->tasks[s->ntasks++];
			t->tid = atoi(e->d_name);
			t->ctxsw = n;
			comm = strstr(text, "Name:");
			if (comm)
				sscanf(comm + 5, " %31s", t->comm);
		}
		free(text);
	}
	closedir(d);
	s->ticks = proc_ticks(pid);
	s->ms = mqbt_now_ms();
	return 0;
}

typedef struct cost {
	double wakeups, cpu;
	int threads;
	char top[256];          /* busiest threads: "comm:rate, ..." */
} cost_t;

static void cost_between(const proc_sample_t *a, const proc_sample_t *b, cost_t *c)
{
	double secs = (double)(b->ms - a->ms) / 1000.0;
	long hz = sysconf(_SC_CLK_TCK);
	int used[MAX_TASKS] = { 0 };
	size_t off = 0;

	c->wakeups = (double)(b->ctxsw - a->ctxsw) / secs;
	c->cpu = 100.0 * (double)(b->ticks - a->ticks) / (double)hz / secs;
	c->threads = b->ntasks;
	c->top[0] = 0;
	for (int k = 0; k < 3; k++) {
		int best = -1;
		long long bestd = -1;
		for (int i = 0; i < b->ntasks; i++) {
			long long d = b->tasks[i].ctxsw;
			for (int j = 0; j < a->ntasks; j++)
				if (a->tasks[j].tid == b->tasks[i].tid)
					d -= a->tasks[j].ctxsw;
			if (!used[i] && d > bestd) {
				best = i;
				bestd = d;
			}
		}
		if (best < 0 || bestd <= 0)
			break;
		used[best] = 1;
		off += (size_t)snprintf(c->top + off, sizeof c->top - off, "%s%s %.1f",
					off ? ", " : "", b->tasks[best].comm,
					(double)bestd / secs);
		if (off >= sizeof c->top)
			break;
	}
}

static int write_conf(const char *path, const char *dir, int broker_port, int stats_port,
		      int partitions)
{
	char text[4096];
	int telemetry = partitions > 4 ? partitions - 4 : 1;

	snprintf(text, sizeof text,
		 "# like conf/mqbridge.conf, with a temporary data_dir and free ports\n"
		 "data_dir = \"%s/data\";\nlog_level = \"info\";\n"
		 "mqtt = { host = \"127.0.0.1\"; port = %d; client_id = \"bench-idle\"; "
		 "protocol = \"v5\"; keepalive = 30; clean_start = false; "
		 "session_expiry_s = 86400; max_message_bytes = 1048576; max_inflight = 100; "
		 "reconnect_min_ms = 500; reconnect_max_ms = 30000; };\n"
		 "stats = { listen = \"127.0.0.1:%d\"; };\n"
		 "streams = (\n"
		 "  { name = \"telemetry\"; partitions = %d; segment_bytes = 67108864; "
		 "segment_ms = 604800000; retention_ms = 604800000; retention_bytes = -1; "
		 "flush = { interval_ms = 50; messages = -1; }; },\n"
		 "  { name = \"events\"; partitions = 4; retention_ms = 2592000000L; }\n);\n"
		 "routes = (\n"
		 "  { filter = \"sensors/+/telemetry\"; qos = 1; stream = \"telemetry\"; "
		 "key = \"{1}\"; },\n"
		 "  { filter = \"sensors/+/events/#\"; qos = 1; stream = \"events\"; "
		 "key = \"{1}\"; },\n"
		 "  { name = \"site-status\"; filter = \"site/+/+/status\"; qos = 0; "
		 "stream = \"events\"; key = \"{1}/{2}\"; }\n);\n",
		 dir, broker_port, stats_port, telemetry);
	return mqbt_write_file(path, text);
}

static int wait_ready(const char *log, pid_t pid, int timeout_ms)
{
	int64_t dl = mqbt_now_ms() + timeout_ms;

	while (mqbt_now_ms() < dl) {
		char *text = mqbt_read_file(log, NULL);
		int ok = text && strstr(text, "ready: ");
		free(text);
		if (ok)
			return 0;
		if (mqbt_wait(pid, 0) >= 0)
			return -1;
		mqbt_sleep_ms(50);
	}
	return -1;
}

/* One idle run at `partitions`; 0 ok. */
static int run(const mqbt_broker_t *b, const char *daemon, int partitions, int seconds,
	       cost_t *broker, cost_t *bridge)
{
	char dir[256] = "", conf[300], log[300];
	const char *argv[] = { daemon, "-c", conf, NULL };
	proc_sample_t *s0 = malloc(4 * sizeof(*s0)), *s1 = s0 + 1, *m0 = s0 + 2, *m1 = s0 + 3;
	pid_t pid = 0;
	int rc = -1;

	if (!s0 || mqbt_tmpdir(dir, sizeof dir) != 0)
		goto out;
	snprintf(conf, sizeof conf, "%s/mqbridged.conf", dir);
	snprintf(log, sizeof log, "%s/mqbridged.log", dir);
	if (write_conf(conf, dir, b->port, mqbt_free_port(), partitions) != 0 ||
	    mqbt_spawn(&pid, argv, log) != 0)
		goto out;
	if (wait_ready(log, pid, 120000) != 0) {
		char *text = mqbt_read_file(log, NULL);
		fprintf(stderr, "bench_idle: %s not ready:\n%s\n", daemon, text ? text : "");
		free(text);
		goto out;
	}
	mqbt_sleep_ms(2000);   /* settle: start-up checkpoints, the broker's session */
	if (sample(pid, s0) || sample(b->pid, m0))
		goto out;
	mqbt_sleep_ms(seconds * 1000);
	if (sample(pid, s1) || sample(b->pid, m1))
		goto out;
	cost_between(s0, s1, bridge);
	cost_between(m0, m1, broker);
	rc = 0;
out:
	if (pid > 0)
		mqbt_stop(pid, 30000);
	if (dir[0])
		mqbt_rmrf(dir);
	free(s0);
	return rc;
}

int main(int argc, char **argv)
{
	const char *daemon = getenv("MQB_IDLE_DAEMON"), *list = "12,1024";
	int seconds = 20;
	mqbt_broker_t b = { 0 };
	double load[3] = { 0 };

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--daemon") && i + 1 < argc)
			daemon = argv[++i];
		else if (!strcmp(argv[i], "--partitions") && i + 1 < argc)
			list = argv[++i];
		else if (argv[i][0] != '-' && atoi(argv[i]) > 0)
			seconds = atoi(argv[i]);
		else {
			fprintf(stderr, "usage: bench_idle [--seconds N] [--daemon PATH] "
				"[--partitions 12,1024]\n");
			return 2;
		}
	}
	if (!daemon || !*daemon)
		daemon = mqbt_bin("mqbridged");
	if (seconds < 1 || access(daemon, X_OK) != 0) {
		fprintf(stderr, "bench_idle: no mqbridged at %s (or --seconds < 1)\n", daemon);
		return 1;
	}
	if (mqbt_mosquitto_start(&b, NULL) != 0) {
		fprintf(stderr, "bench_idle: cannot start mosquitto\n");
		return 1;
	}
	printf("bench_idle: %d s idle, mqbridged %s, mosquitto on 127.0.0.1:%d\n\n",
	       seconds, daemon, b.port);
	printf("| partitions | process | threads | wakeups/s | CPU %% | busiest threads "
	       "(wakeups/s) |\n|---:|---|---:|---:|---:|---|\n");
	for (const char *p = list; *p; ) {
		int n = atoi(p);
		cost_t mq, br;
		if (n > 0 && run(&b, daemon, n, seconds, &mq, &br) == 0) {
			printf("| %d | mqbridged | %d | %.1f | %.2f | %s |\n", n, br.threads,
			       br.wakeups, br.cpu, br.top);
			printf("| %d | mosquitto | %d | %.1f | %.2f | %s |\n", n, mq.threads,
			       mq.wakeups, mq.cpu, mq.top);
			fflush(stdout);
		} else if (n > 0) {
			fprintf(stderr, "bench_idle: run at %d partitions failed\n", n);
		}
		p += strcspn(p, ",");
		p += *p == ',';
	}
	if (getloadavg(load, 3) == 3)
		printf("\nload average %.2f %.2f %.2f\n", load[0], load[1], load[2]);
	mqbt_mosquitto_destroy(&b);
	return 0;
}
