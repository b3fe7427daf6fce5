/*
 * bench_startup.c — how long mqbridged takes from exec to READY=1 and from SIGTERM
 * to exit, beside mosquitto's exec → listening in the same run.
 *
 *   bench_startup [--rounds N] [--partitions LIST] [--daemon PATH] [--conf FILE]
 *                 [--scrapes N]
 *
 * The configuration is the shipped conf/mqbridge.conf (--conf: another file of the
 * same shape) with its data_dir, broker port and stats port replaced (a temporary
 * directory, a real mosquitto on a free loopback port, a free port); for a partition
 * count other than 12 (LIST, default "12,1024") the "telemetry" stream gets count - 4
 * partitions (events keeps its 4). The daemon gets NOTIFY_SOCKET=<a unix datagram
 * socket this benchmark owns>, exactly as systemd would, and each round times:
 *   exec → READY=1      fork+exec of mqbridged until the READY=1 datagram (READY means
 *                       store open and every route subscribed, DESIGN.md §5);
 *   exec → main         until its first notification (STATUS=opening the store, sent
 *                       once the configuration is loaded: the loader plus config);
 *   CPU to READY        the daemon's utime+stime at READY (10 ms ticks);
 *   SIGTERM → exit      the clean stop (flush, fsync, clean-shutdown marker), exit 0
 *                       checked;
 * and, as baselines in the same round (alternating with the daemon):
 *   mosquitto exec → listening   a fresh mosquitto (no persistence) until its port
 *                                accepts a connection (polled every 0.2 ms);
 *   mqbridged --version          exec → exit: the dynamic loader's share alone.
 * Once READY, each round also GETs /metrics, /stats and /metrics?partitions=1 (every
 * partition's series) --scrapes (50) times each and
 * reports the daemon's CPU ms (utime + stime, 10 ms ticks: divided by N) and the KB
 * per response: what a scrape costs at that partition count.
 * The first start of each partition count creates the store; it is reported apart,
 * the rounds restart that existing store (the usual case). Prints min / median / max
 * per measure and the load average before and after (quote it: the machine is shared).
 * Runs from anywhere (mqbt_bin finds the build dir from /proc/self/exe).
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/support/harness.h"

#ifndef MQB_SOURCE_DIR_DEFAULT
#define MQB_SOURCE_DIR_DEFAULT "."
#endif
#define MAX_ROUNDS 100

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Replace the first `from` in *text by `to` (realloc'd). 0, or -1 when absent. */
static int subst(char **text, const char *from, const char *to)
{
	char *p = strstr(*text, from), *n;
	size_t pre, len;

	if (!p)
		return -1;
	pre = (size_t)(p - *text);
	len = strlen(*text) - strlen(from) + strlen(to) + 1;
	n = malloc(len);
	if (!n)
		return -1;
	memcpy(n, *text, pre);
	strcpy(n + pre, to);
	strcat(n + pre, p + strlen(from));
	free(*text);
	*text = n;
	return 0;
}

/* The shipped file with this run's paths and ports. 0 ok. */
static int write_conf(const char *src, const char *path, const char *dir, int broker_port,
		      int stats_port, int partitions)
{
	char *text = mqbt_read_file(src, NULL);
	char dd[400], port[64], listen[80], parts[64];
	int rc = -1;

	if (!text) {
		fprintf(stderr, "bench_startup: cannot read %s\n", src);
		return -1;
	}
	snprintf(dd, sizeof dd, "data_dir = \"%s/data\";", dir);
	snprintf(port, sizeof port, "port = %d;", broker_port);
	snprintf(listen, sizeof listen, "listen = \"127.0.0.1:%d\";", stats_port);
	snprintf(parts, sizeof parts, "partitions = %d;", partitions > 4 ? partitions - 4 : 1);
	if (subst(&text, "data_dir = \"./_data\";", dd) || subst(&text, "port = 1883;", port) ||
	    subst(&text, "listen = \"127.0.0.1:9883\";", listen) ||
	    (partitions != 12 && subst(&text, "partitions = 8;", parts)))
		fprintf(stderr, "bench_startup: %s no longer has the data_dir, port, listen or "
			"\"partitions = 8;\" this benchmark replaces\n", src);
	else
		rc = mqbt_write_file(path, text);
	free(text);
	return rc;
}

/* waitpid with 0.2 ms polls: the exit status, or -1 after timeout_ms. */
static int reap(pid_t pid, double timeout_ms)
{
	double dl = now_ms() + timeout_ms;
	int st;

	while (now_ms() < dl) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		if (r < 0 && errno != EINTR)
			return -1;
		usleep(200);
	}
	return -1;
}

static int can_connect(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

	if (fd < 0)
		return 0;
	ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
	close(fd);
	return ok;
}

/* mosquitto exec → its port accepts; ms, or -1. */
static double mosquitto_start_ms(const char *dir)
{
	char conf[300], text[256], log[300];
	int port = mqbt_free_port();
	const char *argv[] = { "/usr/sbin/mosquitto", "-c", conf, NULL };
	double t0, t = -1;
	pid_t pid;

	snprintf(conf, sizeof conf, "%s/baseline-mosquitto.conf", dir);
	snprintf(log, sizeof log, "%s/baseline-mosquitto.log", dir);
	snprintf(text, sizeof text, "user root\nlistener %d 127.0.0.1\nallow_anonymous true\n"
		 "log_dest stderr\n", port);
	if (mqbt_write_file(conf, text) != 0)
		return -1;
	t0 = now_ms();
	if (mqbt_spawn(&pid, argv, log) != 0)
		return -1;
	while (now_ms() - t0 < 10000) {
		if (can_connect(port)) {
			t = now_ms() - t0;
			break;
		}
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return -1;
		usleep(200);
	}
	kill(pid, SIGTERM);
	if (reap(pid, 5000) < 0) {
		kill(pid, SIGKILL);
		reap(pid, 5000);
	}
	return t;
}

/* exec → exit of `daemon --version`; ms, or -1. */
static double version_ms(const char *daemon)
{
	const char *argv[] = { daemon, "--version", NULL };
	double t0 = now_ms();
	pid_t pid;

	if (mqbt_spawn(&pid, argv, NULL) != 0 || reap(pid, 10000) != 0)
		return -1;
	return now_ms() - t0;
}

typedef struct run_times {
	double main_ms, ready_ms, cpu_ms, stop_ms;
	double scrape_ms[3], scrape_kb[3];   /* per request: /metrics, /stats, /metrics?partitions=1 */
} run_times_t;

static int stats_port;   /* of the configuration being measured */
static int scrapes = 50; /* GETs of each path per round (--scrapes; 0: none) */

/* The daemon's CPU ms and the KB per GET of path over `scrapes` requests. */
static void scrape_cost(pid_t pid, const char *path, double *ms, double *kb)
{
	int64_t c0 = mqbt_cpu_ms(pid);
	size_t bytes = 0;
	int ok = 0;

	for (int i = 0; i < scrapes; i++) {
		int status = 0;
		char *body = NULL;

		if (mqbt_http_get(stats_port, path, &status, &body) == 0 && status == 200) {
			bytes += strlen(body);
			ok++;
		}
		free(body);
	}
	*ms = ok ? (double)(mqbt_cpu_ms(pid) - c0) / ok : -1;
	*kb = ok ? (double)bytes / ok / 1024.0 : -1;
}

/* Wait for a datagram holding `what` on fd until deadline (now_ms); the time it came,
 * or -1. */
static double wait_notify(int fd, const char *what, double deadline, pid_t pid)
{
	char buf[4096];

	while (now_ms() < deadline) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 20) <= 0) {
			if (waitpid(pid, NULL, WNOHANG) == pid)
				return -1;
			continue;
		}
		n = recv(fd, buf, sizeof buf - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		if (strstr(buf, what))
			return now_ms();
	}
	return -1;
}

/* One start and stop of the daemon; 0 ok. */
static int daemon_run(const char *daemon, const char *conf, const char *log,
		      const char *sock, run_times_t *t)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *argv[] = { daemon, "-c", conf, NULL };
	char env[200];
	const char *envv[] = { env, NULL };
	double t0, tr, ts;
	int fd, rc = -1, st;
	pid_t pid = 0;
	int64_t cpu;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
	unlink(sock);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		fprintf(stderr, "bench_startup: notify socket %s: %s\n", sock, strerror(errno));
		goto out;
	}
	snprintf(env, sizeof env, "NOTIFY_SOCKET=%s", sock);
	t0 = now_ms();
	if (mqbt_spawn_env(&pid, argv, log, envv) != 0)
		goto out;
	tr = wait_notify(fd, "STATUS=", t0 + 120000, pid);
	if (tr < 0)
		goto fail;
	t->main_ms = tr - t0;
	tr = wait_notify(fd, "READY=1", t0 + 120000, pid);
	if (tr < 0)
		goto fail;
	t->ready_ms = tr - t0;
	cpu = mqbt_cpu_ms(pid);
	t->cpu_ms = (double)cpu;
	if (scrapes > 0) {
		scrape_cost(pid, "/metrics", &t->scrape_ms[0], &t->scrape_kb[0]);
		scrape_cost(pid, "/stats", &t->scrape_ms[1], &t->scrape_kb[1]);
		scrape_cost(pid, "/metrics?partitions=1", &t->scrape_ms[2], &t->scrape_kb[2]);
	}
	ts = now_ms();
	kill(pid, SIGTERM);
	st = reap(pid, 120000);
	t->stop_ms = now_ms() - ts;
	pid = 0;
	if (st != 0) {
		fprintf(stderr, "bench_startup: mqbridged exited %d after SIGTERM (log %s)\n", st,
			log);
		goto out;
	}
	rc = 0;
	goto out;
fail: {
	char *text = mqbt_read_file(log, NULL);

	fprintf(stderr, "bench_startup: %s never said READY=1:\n%s\n", daemon,
		text ? text : "");
	free(text);
}
out:
	if (pid > 0) {
		kill(pid, SIGKILL);
		reap(pid, 10000);
	}
	if (fd >= 0)
		close(fd);
	unlink(sock);
	return rc;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void row(const char *what, double *v, int n)
{
	if (n <= 0) {
		printf("| %s | — | — | — |\n", what);
		return;
	}
	qsort(v, (size_t)n, sizeof *v, cmp_d);
	printf("| %s | %.1f | %.1f | %.1f |\n", what, v[0], v[n / 2], v[n - 1]);
}

static void load_avg(const char *when)
{
	double l[3];

	if (getloadavg(l, 3) == 3)
		printf("load average %s: %.2f %.2f %.2f\n", when, l[0], l[1], l[2]);
}

static int bench(const mqbt_broker_t *b, const char *daemon, const char *src, int partitions,
		 int rounds)
{
	double ready[MAX_ROUNDS], mainv[MAX_ROUNDS], cpu[MAX_ROUNDS], stop[MAX_ROUNDS];
	double mosq[MAX_ROUNDS], ver[MAX_ROUNDS], sc[6][MAX_ROUNDS];
	char dir[256] = "", conf[300], log[300], sock[300];
	run_times_t first, t;
	int n = 0, nm = 0, nv = 0, rc = -1;

	if (mqbt_tmpdir(dir, sizeof dir) != 0)
		return -1;
	snprintf(conf, sizeof conf, "%s/mqbridge.conf", dir);
	snprintf(log, sizeof log, "%s/mqbridged.log", dir);
	snprintf(sock, sizeof sock, "%s/notify.sock", dir);
	stats_port = mqbt_free_port();
	if (write_conf(src, conf, dir, b->port, stats_port, partitions) != 0)
		goto out;
	if (daemon_run(daemon, conf, log, sock, &first) != 0)   /* creates the store */
		goto out;
	for (int r = 0; r < rounds; r++) {
		double m = mosquitto_start_ms(dir), v = version_ms(daemon);

		if (m >= 0)
			mosq[nm++] = m;
		if (v >= 0)
			ver[nv++] = v;
		if (daemon_run(daemon, conf, log, sock, &t) != 0)
			goto out;
		ready[n] = t.ready_ms;
		mainv[n] = t.main_ms;
		cpu[n] = t.cpu_ms;
		for (int k = 0; k < 3; k++) {
			sc[2 * k][n] = t.scrape_ms[k];
			sc[2 * k + 1][n] = t.scrape_kb[k];
		}
		stop[n++] = t.stop_ms;
	}
	printf("\n%d partitions (%d rounds; first start, creating the store: exec → READY "
	       "%.1f ms, SIGTERM → exit %.1f ms)\n\n", partitions, rounds, first.ready_ms,
	       first.stop_ms);
	printf("| measure (ms) | min | median | max |\n|---|---:|---:|---:|\n");
	row("mqbridged exec → READY=1", ready, n);
	row("mqbridged exec → first notification (main, config loaded)", mainv, n);
	row("mqbridged CPU to READY (10 ms ticks)", cpu, n);
	row("mqbridged SIGTERM → exit 0", stop, n);
	row("baseline: mosquitto exec → listening", mosq, nm);
	row("baseline: mqbridged --version exec → exit", ver, nv);
	if (scrapes > 0) {
		row("GET /metrics: daemon CPU ms per request", sc[0], n);
		row("GET /metrics: KB per response", sc[1], n);
		row("GET /stats: daemon CPU ms per request", sc[2], n);
		row("GET /stats: KB per response", sc[3], n);
		row("GET /metrics?partitions=1: daemon CPU ms per request", sc[4], n);
		row("GET /metrics?partitions=1: KB per response", sc[5], n);
	}
	fflush(stdout);
	rc = 0;
out:
	mqbt_rmrf(dir);
	return rc;
}

int main(int argc, char **argv)
{
	const char *daemon = NULL, *list = "12,1024";
	char src[1200];
	int rounds = 7, rc = 0;
	mqbt_broker_t b = { 0 };

	snprintf(src, sizeof src, "%s/conf/mqbridge.conf", MQB_SOURCE_DIR_DEFAULT);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--daemon") && i + 1 < argc)
			daemon = argv[++i];
		else if (!strcmp(argv[i], "--partitions") && i + 1 < argc)
			list = argv[++i];
		else if (!strcmp(argv[i], "--scrapes") && i + 1 < argc)
			scrapes = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--conf") && i + 1 < argc)
			snprintf(src, sizeof src, "%s", argv[++i]);
		else {
			fprintf(stderr, "usage: bench_startup [--rounds N] [--partitions 12,1024] "
				"[--daemon PATH] [--conf FILE] [--scrapes N]\n");
			return 2;
		}
	}
	if (!daemon)
		daemon = mqbt_bin("mqbridged");
	if (rounds < 1 || rounds > MAX_ROUNDS || access(daemon, X_OK) != 0) {
		fprintf(stderr, "bench_startup: no mqbridged at %s (or --rounds not 1..%d)\n",
			daemon, MAX_ROUNDS);
		return 1;
	}
	if (mqbt_mosquitto_start(&b, NULL) != 0) {
		fprintf(stderr, "bench_startup: cannot start mosquitto\n");
		return 1;
	}
	printf("bench_startup: mqbridged %s, config %s, mosquitto on 127.0.0.1:%d\n", daemon,
	       src, b.port);
	load_avg("before");
	for (const char *p = list; *p; ) {
		int n = atoi(p);

		if (n > 0 && bench(&b, daemon, src, n, rounds) != 0) {
			fprintf(stderr, "bench_startup: %d partitions failed\n", n);
			rc = 1;
		}
		p += strcspn(p, ",");
		p += *p == ',';
	}
	load_avg("after");
	mqbt_mosquitto_destroy(&b);
	return rc;
}
