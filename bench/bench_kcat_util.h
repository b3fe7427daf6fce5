/*
 * bench_kcat_util.h — what the Kafka API benchmarks share: running a client (kcat,
 * cat) with its stdout read through a pipe and its lines counted, timing its wall
 * and CPU (getrusage of the child), and a side's figures (records, wall, client and
 * server CPU per 1000 records). Header-only, static functions.
 */
#ifndef MQB_BENCH_KCAT_UTIL_H
#define MQB_BENCH_KCAT_UTIL_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/harness.h"

/* Run argv; its stdout is read here and its lines counted (*lines, may be NULL).
 * Wall ms, child CPU ms (user + system). The exit status, 128 when signalled, -1. */
static inline int bk_run_timed_lines(const char *const argv[], int64_t *wall, int64_t *cpu,
				     int64_t *lines)
{
	int64_t t0 = mqbt_now_ms(), nl = 0;
	struct rusage ru;
	int st, fds[2];
	pid_t pid;
	char buf[65536];
	ssize_t n;

	fflush(stdout);              /* the child must not flush our buffer again */
	if (pipe(fds) != 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	while ((n = read(fds[0], buf, sizeof buf)) > 0)
		for (ssize_t i = 0; i < n; i++)
			nl += buf[i] == '\n';
	close(fds[0]);
	if (pid < 0 || wait4(pid, &st, 0, &ru) != pid)
		return -1;
	*wall = mqbt_now_ms() - t0;
	*cpu = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
	if (lines)
		*lines = nl;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* One side of a comparison: n records in wall ms, CPU ms of the client and of the
 * server process (-1: not measured). */
typedef struct bk_side { int64_t wall, cpu_client, cpu_server, n; } bk_side_t;

static inline void bk_print_side(const char *name, const bk_side_t *s)
{
	printf("  %-26s %8" PRId64 " rec %7.0f ms %10.0f rec/s  client %6.3f  server %6.3f "
	       "CPU ms/1000 rec\n", name, s->n, (double)s->wall,
	       s->wall ? s->n * 1000.0 / (double)s->wall : 0, s->cpu_client * 1000.0 / (double)s->n,
	       s->cpu_server < 0 ? 0 : s->cpu_server * 1000.0 / (double)s->n);
}

static inline int bk_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The median of v[0..n) (n >= 1; v is sorted in place). */
static inline double bk_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, bk_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* mqbridged on data_dir with stream bench (partitions), its MQTT session on
 * broker_port and kafka_api on 127.0.0.1:kport; log and config in dir. 0 once the
 * Kafka port listens (*daemon set), -1 with a message. */
static inline int bk_daemon_start(const char *dir, const char *data_dir, int broker_port,
				  int kport, int partitions, pid_t *daemon)
{
	char conf[600], text[2048], logf[600];

	snprintf(conf, sizeof conf, "%s/mqbridged.conf", dir);
	snprintf(text, sizeof text,
		 "data_dir = \"%s\";\nlog_level = \"notice\";\n"
		 "mqtt = { host = \"127.0.0.1\"; port = %d; client_id = \"bench-kapi\"; };\n"
		 "stats = { listen = \"off\"; };\n"
		 "streams = ( { name = \"bench\"; partitions = %d; } );\n"
		 "routes = ( { filter = \"bench/#\"; stream = \"bench\"; } );\n"
		 "kafka_api = { listen = \"127.0.0.1:%d\"; };\n", data_dir, broker_port, partitions,
		 kport);
	mqbt_write_file(conf, text);
	snprintf(logf, sizeof logf, "%s/mqbridged.log", dir);
	const char *dargv[] = { mqbt_bin("mqbridged"), "-c", conf, NULL };
	if (mqbt_spawn(daemon, dargv, logf) != 0 || mqbt_wait_port(kport, 20000) != 0) {
		fprintf(stderr, "mqbridged did not start (log %s)\n", logf);
		return -1;
	}
	return 0;
}

#endif
