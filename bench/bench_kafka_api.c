/*
 * bench_kafka_api.c — `kcat -C` reading stored records from mqbridged's kafka_api,
 * beside `kcat -C` reading the same records from librdkafka's mock cluster (in
 * memory) and beside `cat` of the segment files (the physical limit).
 *
 *   bench_kafka_api [--records N (1000000)] [--size BYTES (100)] [--rounds R (3)]
 *                   [--partitions P (16)] [--tls]
 *
 * 1. A store with stream bench (P partitions) filled with N records of BYTES-byte
 *    values through the store API (batches of 1000, partitions in turn), then
 *    mqbridged on it with kafka_api (and a mosquitto for its MQTT session).
 * 2. kafka_mock (1 broker) with topic bench (P partitions), filled by kcat -P with the
 *    same values (no key: spread over the partitions).
 *    The mock keeps only its newest few MiB per partition (librdkafka's mock log is
 *    bounded), so it holds M <= N records: the bench reads how many first. More
 *    partitions let it hold more, so the comparison is less about kcat's start-up.
 * 3. R rounds, alternating the order: kcat -C -b <mqbridged> -t bench -o beginning
 *    -e -q -c N -f '%o\n' (all N, every partition), the same for M records from
 *    mqbridged and from the mock (the ratio compares these two); then cat of the .log
 *    segments (all N).
 *    kcat's output is read through a pipe and its lines counted: a side that did not
 *    deliver all N records fails the run. Per side: wall time, records/s, CPU ms per 1000 records of the client (kcat or
 *    cat: getrusage of the child) and of the server (mqbridged / the mock process:
 *    the sum of its threads' /proc/<pid>/task/<tid>/schedstat run times before and
 *    after, ns resolution). Load average printed before and after.
 *
 * --tls: instead of the mock and cat, kcat -C of all N records over TLS
 * (security.protocol=ssl, certificates from tests/support/tls_certs.sh) beside kcat -C
 * over plaintext: a second mqbridged with kafka_api.tls_cert/tls_key on a copy of the
 * same store (one listener per daemon), R rounds alternating which goes first; CPU per
 * 1000 records of kcat and of each mqbridged, and the TLS/plaintext ratios.
 */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench_kcat_util.h"
#include "bridge/err.h"
#include "bridge/store/store.h"
#include "tests/integration/test_kafka_util.h"
#include "tests/support/harness.h"

static int64_t records = 1000000;
static int size = 100, rounds = 3, partitions = 16;
static bool tls;
static const char *const *kcat_extra;   /* kcat_side: TLS settings, or NULL */

static int run_timed(const char *const argv[], int64_t *wall, int64_t *cpu)
{
	return bk_run_timed_lines(argv, wall, cpu, NULL);
}

static int fill_store(const char *data)
{
	char err[256];
	mqb_store_t *st = mqb_store_open(data, 0, err, sizeof err);
	mqb_stream_opts_t o;
	mqb_record_t *recs = calloc(1000, sizeof *recs);
	char *val = malloc((size_t)size);
	int rc = -1;

	if (!st || !recs || !val)
		goto out;
	memset(val, 'x', (size_t)size);
	mqb_stream_opts_defaults(&o);
	o.name = "bench";
	o.partitions = partitions;
	if (mqb_store_stream_open(st, &o, err, sizeof err) != MQB_OK)
		goto out;
	for (int i = 0; i < 1000; i++)
		recs[i] = (mqb_record_t){ .timestamp_ms = 1700000000000 + i, .key_len = -1,
					  .value = val, .value_len = size };
	for (int64_t n = 0; n < records; n += 1000) {
		int64_t base;
		size_t k = records - n < 1000 ? (size_t)(records - n) : 1000;
		mqb_partition_t *p = mqb_store_partition(st, "bench", (int)(n / 1000 % partitions));
		if (!p || mqb_partition_append(p, recs, k, &base) != MQB_OK)
			goto out;
	}
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "filling the store failed: %s\n", err);
	mqb_store_close(st);
	free(recs);
	free(val);
	return rc;
}

static char *logs[4096];
static int nlogs;

static int add_log(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	size_t n = strlen(path);
	(void)sb; (void)f;
	if (flag == FTW_F && n > 4 && !strcmp(path + n - 4, ".log") && nlogs < 4095)
		logs[nlogs++] = strdup(path);
	return 0;
}

/* wall ms, client CPU ms (getrusage), server CPU µs (server_cpu_us) and of its
 * Kafka listener thread alone (mqbridged's "mqb-kafka-api", -1 for the mock), records */
typedef struct side { int64_t wall, cpu_client, cpu_server, cpu_listener, n; } side_t;

/* CPU time of every thread of pid in µs: the first field (ns on a CPU) of each
 * /proc/<pid>/task/<tid>/schedstat. /proc/<pid>/stat counts 10 ms ticks, too coarse
 * for a server that spends ~0.1 s on a million records. -1 when unreadable. */
static int64_t task_cpu_us(pid_t pid, const char *comm);
static int64_t server_cpu_us(pid_t pid)
{
	return task_cpu_us(pid, NULL);
}

/* The same for the threads named comm only (NULL: all); -1 when none is found. */
static int64_t task_cpu_us(pid_t pid, const char *comm)
{
	char path[64];
	DIR *d;
	struct dirent *e;
	int64_t ns = 0;
	int found = 0;

	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char f[600];
		unsigned long long v;
		FILE *fp;

		if (e->d_name[0] == '.')
			continue;
		if (comm) {
			char name[64] = "";

			snprintf(f, sizeof f, "%s/%s/comm", path, e->d_name);
			fp = fopen(f, "r");
			if (!fp || !fgets(name, sizeof name, fp) || strncmp(name, comm, strlen(comm))) {
				if (fp)
					fclose(fp);
				continue;
			}
			fclose(fp);
		}
		found++;
		snprintf(f, sizeof f, "%s/%s/schedstat", path, e->d_name);
		fp = fopen(f, "r");
		if (fp && fscanf(fp, "%llu", &v) == 1)
			ns += (int64_t)v;
		if (fp)
			fclose(fp);
	}
	closedir(d);
	return found ? ns / 1000 : -1;
}

static void print_side(const char *name, const side_t *s)
{
	char lis[32] = "     -";

	if (s->cpu_listener >= 0)
		snprintf(lis, sizeof lis, "%6.3f", s->cpu_listener / (double)s->n);
	printf("  %-26s %8" PRId64 " rec %7.0f ms %10.0f rec/s  client %6.3f  server %6.3f "
	       "(listener %s) CPU ms/1000 rec\n", name, s->n, (double)s->wall,
	       s->wall ? s->n * 1000.0 / (double)s->wall : 0, s->cpu_client * 1000.0 / (double)s->n,
	       s->cpu_server < 0 ? 0 : s->cpu_server / (double)s->n, lis);
}

/* kcat -C of the first n records (n 0: to the end; *got says how many came). */
static int kcat_side(const char *bootstrap, pid_t server, int64_t n, side_t *s)
{
	char count[32];
	int64_t want = n ? n : records;
	snprintf(count, sizeof count, "%" PRId64, want);
	const char *argv[32] = { "/usr/bin/kcat", "-b", bootstrap };
	const char *rest[] = { "-C", "-t", "bench", "-o", "beginning", "-e", "-q",
			       "-c", count, "-f", "%o\n", NULL };
	int a = 3;
	for (int i = 0; kcat_extra && kcat_extra[i] && a < 16; i++)
		argv[a++] = kcat_extra[i];
	for (int i = 0; rest[i]; i++)
		argv[a++] = rest[i];
	argv[a] = NULL;
	int64_t c0 = server_cpu_us(server), l0 = task_cpu_us(server, "mqb-kafka-api"), lines = 0;
	int rc = bk_run_timed_lines(argv, &s->wall, &s->cpu_client, &lines);
	s->cpu_server = server_cpu_us(server) - c0;
	s->cpu_listener = l0 < 0 ? -1 : task_cpu_us(server, "mqb-kafka-api") - l0;
	s->n = lines;
	if (rc == 0 && n && lines != n) {
		fprintf(stderr, "kcat read %" PRId64 " of %" PRId64 " records from %s\n", lines,
			n, bootstrap);
		return -1;
	}
	return rc;
}

/* --tls: R rounds of kcat -C of all records from the plaintext daemon (kb, d1) and
 * the TLS one (kbt, d2, TLS settings in extra), alternating which goes first. */
static int tls_rounds(const char *kb, pid_t d1, const char *kbt, pid_t d2,
		      const char *const extra[])
{
	side_t best[2] = { { INT64_MAX, 0, 0, 0, 0 }, { INT64_MAX, 0, 0, 0, 0 } };
	double la0[3], la1[3];

	getloadavg(la0, 3);
	printf("bench_kafka_api --tls: %" PRId64 " records of %d bytes, %d rounds; load average "
	       "%.2f %.2f %.2f\n", records, size, rounds, la0[0], la0[1], la0[2]);
	for (int r = 0; r < rounds; r++) {
		side_t s[2];

		printf("round %d\n", r + 1);
		for (int k = 0; k < 2; k++) {
			int which = (k + r) % 2;

			kcat_extra = which ? extra : NULL;
			if (kcat_side(which ? kbt : kb, which ? d2 : d1, records, &s[which]) != 0) {
				fprintf(stderr, "kcat failed (%s)\n", which ? "TLS" : "plaintext");
				return -1;
			}
		}
		print_side("kcat <- mqbridged", &s[0]);
		print_side("kcat <- mqbridged TLS", &s[1]);
		for (int i = 0; i < 2; i++)
			if (s[i].wall < best[i].wall)
				best[i] = s[i];
	}
	printf("best of %d: plaintext %.0f rec/s, TLS %.0f rec/s (TLS/plaintext wall %.2f); "
	       "CPU ms/1000 rec: kcat %.3f vs %.3f, mqbridged %.3f vs %.3f\n", rounds,
	       records * 1000.0 / (double)best[0].wall, records * 1000.0 / (double)best[1].wall,
	       (double)best[1].wall / (double)best[0].wall,
	       best[0].cpu_client * 1000.0 / (double)records,
	       best[1].cpu_client * 1000.0 / (double)records,
	       best[0].cpu_server / (double)records,      /* µs per record = ms per 1000 */
	       best[1].cpu_server / (double)records);
	getloadavg(la1, 3);
	printf("load average after: %.2f %.2f %.2f\n", la1[0], la1[1], la1[2]);
	return 0;
}

/* --tls: certificates in dir/tls (tests/support/tls_certs.sh, found from this file's
 * path), a copy of data for the second daemon, its config in conf_tls with port kport.
 * kcat's TLS settings in extra (ca_arg holds the text). 0 ok. */
static int tls_prepare(const char *dir, const char *data, int broker_port, int kport,
		       char *conf_tls, size_t conf_size, char *ca_arg, size_t ca_size)
{
	char script[600], tdir[300], data2[600], text[2048], *out = NULL, *cut;
	size_t len = 0;

	snprintf(script, sizeof script, "%s", __FILE__);
	cut = strstr(script, "bench/bench_kafka_api.c");
	if (!cut)
		return -1;
	snprintf(cut, sizeof script - (size_t)(cut - script), "tests/support/tls_certs.sh");
	snprintf(tdir, sizeof tdir, "%s/tls", dir);
	snprintf(data2, sizeof data2, "%s-tls", data);
	const char *mk[] = { "/bin/mkdir", "-p", tdir, NULL };
	const char *certs[] = { "/bin/sh", script, tdir, NULL };
	const char *cp[] = { "/bin/cp", "-a", data, data2, NULL };
	if (mqbt_run(mk, NULL, NULL, 10000) != 0 || mqbt_run(certs, &out, &len, 60000) != 0 ||
	    mqbt_run(cp, NULL, NULL, 120000) != 0) {
		fprintf(stderr, "making certificates or copying the store failed: %s\n",
			out ? out : "");
		free(out);
		return -1;
	}
	free(out);
	snprintf(ca_arg, ca_size, "ssl.ca.location=%s/ca.crt", tdir);
	snprintf(conf_tls, conf_size, "%s/mqbridged-tls.conf", dir);
	snprintf(text, sizeof text,
		 "data_dir = \"%s\";\nlog_level = \"notice\";\n"
		 "mqtt = { host = \"127.0.0.1\"; port = %d; client_id = \"bench-kapi-tls\"; };\n"
		 "stats = { listen = \"off\"; };\n"
		 "streams = ( { name = \"bench\"; partitions = %d; } );\n"
		 "routes = ( { filter = \"bench/#\"; stream = \"bench\"; } );\n"
		 "kafka_api = { listen = \"127.0.0.1:%d\"; tls_cert = \"%s/server.crt\";\n"
		 "  tls_key = \"%s/server.key\"; };\n", data2, broker_port, partitions, kport, tdir,
		 tdir);
	return mqbt_write_file(conf_tls, text);
}

int main(int argc, char **argv)
{
	char dir[256], data[512], kb[64], path[700];
	char conf_tls[700], ca_arg[400], kbt[64], logt[600];
	mqbt_broker_t broker = { 0 };
	kmock_t mock;
	pid_t daemon = 0, daemon_tls = 0;
	int kport, kport_tls = 0, rc = 1;
	double la0[3], la1[3];
	char topic[32];
	const char *topics[] = { topic, NULL };

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--tls"))
			tls = true;
		else if (i + 1 < argc && !strcmp(argv[i], "--records"))
			records = atoll(argv[++i]);
		else if (i + 1 < argc && !strcmp(argv[i], "--size"))
			size = atoi(argv[++i]);
		else if (i + 1 < argc && !strcmp(argv[i], "--rounds"))
			rounds = atoi(argv[++i]);
		else if (i + 1 < argc && !strcmp(argv[i], "--partitions"))
			partitions = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: bench_kafka_api [--records N] [--size B] [--rounds R] "
				"[--partitions P] [--tls]\n");
			return 2;
		}
	}
	if (records < 1 || size < 1 || rounds < 1 || rounds > 64 || partitions < 1 ||
	    partitions > 1024 ||
	    mqbt_tmpdir(dir, sizeof dir) != 0)
		return 2;
	snprintf(topic, sizeof topic, "bench:%d", partitions);
	snprintf(data, sizeof data, "%s/data", dir);
	if (fill_store(data) != 0)
		return 1;
	nftw(data, add_log, 16, FTW_PHYS);

	/* mqbridged on the filled store */
	if (mqbt_mosquitto_start(&broker, NULL) != 0)
		return 1;
	kport = mqbt_free_port();
	if (bk_daemon_start(dir, data, broker.port, kport, partitions, &daemon) != 0)
		goto out;
	snprintf(kb, sizeof kb, "127.0.0.1:%d", kport);
	if (tls) {
		const char *extra[] = { "-X", "security.protocol=ssl", "-X", ca_arg, NULL };
		const char *targv[] = { mqbt_bin("mqbridged"), "-c", conf_tls, NULL };

		kport_tls = mqbt_free_port();
		snprintf(kbt, sizeof kbt, "127.0.0.1:%d", kport_tls);
		snprintf(logt, sizeof logt, "%s/mqbridged-tls.log", dir);
		if (tls_prepare(dir, data, broker.port, kport_tls, conf_tls, sizeof conf_tls,
				ca_arg, sizeof ca_arg) != 0 ||
		    mqbt_spawn(&daemon_tls, targv, logt) != 0 || mqbt_wait_port(kport_tls, 20000) != 0) {
			fprintf(stderr, "the TLS mqbridged did not start (log %s)\n", logt);
			goto out;
		}
		rc = tls_rounds(kb, daemon, kbt, daemon_tls, extra) == 0 ? 0 : 1;
		goto out;
	}

	/* the mock cluster with the same values */
	if (kmock_start(&mock, 1, topics) != 0)
		goto out;
	{
		char *line = malloc((size_t)size + 2);
		FILE *f;
		snprintf(path, sizeof path, "%s/values.txt", dir);
		f = fopen(path, "w");
		memset(line, 'x', (size_t)size);
		line[size] = '\n';
		for (int64_t i = 0; f && i < records; i++)
			fwrite(line, 1, (size_t)size + 1, f);
		if (f)
			fclose(f);
		free(line);
		const char *pargv[] = { "/usr/bin/kcat", "-b", mock.bootstrap, "-P", "-t", "bench",
					"-l", path, NULL };
		int64_t w, c;
		if (run_timed(pargv, &w, &c) != 0) {
			fprintf(stderr, "filling the mock cluster failed\n");
			goto out_mock;
		}
	}

	getloadavg(la0, 3);
	printf("bench_kafka_api: %" PRId64 " records of %d bytes, %d rounds; load average "
	       "%.2f %.2f %.2f\n", records, size, rounds, la0[0], la0[1], la0[2]);
	/* the mock keeps a bounded log (librdkafka's mock partitions drop their oldest
	 * segments past a few MiB): how many records it holds is what it can serve */
	side_t probe;
	if (kcat_side(mock.bootstrap, mock.pid, 0, &probe) != 0 || probe.n < 1) {
		fprintf(stderr, "cannot read the mock cluster\n");
		goto out_mock;
	}
	int64_t m = probe.n;
	printf("the mock cluster retained %" PRId64 " of %" PRId64 " records: the mock and "
	       "mqbridged are compared on that many\n", m, records);
	side_t best[4];
	double ratio[64], cpu_q[64], cpu_m[64];   /* per round: mock wall / ours, server CPU */
	for (int i = 0; i < 4; i++)
		best[i] = (side_t){ INT64_MAX, 0, 0, 0, 0 };
	for (int r = 0; r < rounds; r++) {
		side_t s[4];
		const char *cargv[4100] = { "/bin/cat" };
		printf("round %d\n", r + 1);
		/* alternate which side goes first */
		for (int k = 0; k < 3; k++) {
			int which = (k + r) % 3, krc;
			if (which == 0)
				krc = kcat_side(kb, daemon, records, &s[0]);
			else if (which == 1)
				krc = kcat_side(kb, daemon, m, &s[1]);
			else
				krc = kcat_side(mock.bootstrap, mock.pid, m, &s[2]);
			if (krc != 0) {
				fprintf(stderr, "kcat failed (side %d)\n", which);
				goto out_mock;
			}
		}
		for (int i = 0; i < nlogs; i++)
			cargv[i + 1] = logs[i];
		cargv[nlogs + 1] = NULL;
		run_timed(cargv, &s[3].wall, &s[3].cpu_client);
		s[3].cpu_server = -1;
		s[3].cpu_listener = -1;
		s[3].n = records;
		print_side("kcat <- mqbridged (all)", &s[0]);
		print_side("kcat <- mqbridged", &s[1]);
		print_side("kcat <- mock cluster", &s[2]);
		print_side("cat segments", &s[3]);
		for (int i = 0; i < 4; i++)
			if (s[i].wall < best[i].wall)
				best[i] = s[i];
		ratio[r] = (double)s[2].wall / (double)(s[1].wall ? s[1].wall : 1);
		cpu_q[r] = s[1].cpu_server / (double)m;
		cpu_m[r] = s[2].cpu_server / (double)m;
	}
	{
		double lo = ratio[0], hi = ratio[0];
		for (int r = 1; r < rounds; r++) {
			lo = ratio[r] < lo ? ratio[r] : lo;
			hi = ratio[r] > hi ? ratio[r] : hi;
		}
		printf("median of %d rounds on %" PRId64 " records: ratio mqbridged/mock %.2f (min "
		       "%.2f, max %.2f); server CPU mqbridged %.3f vs mock %.3f ms/1000 rec\n",
		       rounds, m, bk_median(ratio, rounds), lo, hi, bk_median(cpu_q, rounds),
		       bk_median(cpu_m, rounds));
	}
	printf("best of %d: %" PRId64 " records: mqbridged %.0f rec/s, mock %.0f rec/s, ratio "
	       "%.2f (target >= 1.0); client CPU %.3f vs %.3f ms/1000 rec\n", rounds, m,
	       m * 1000.0 / (double)best[1].wall, m * 1000.0 / (double)best[2].wall,
	       (double)best[2].wall / (double)best[1].wall,
	       best[1].cpu_client * 1000.0 / (double)m, best[2].cpu_client * 1000.0 / (double)m);
	printf("best of %d: all %" PRId64 " records from mqbridged %.0f rec/s; cat of the "
	       "segments %.0f rec/s\n", rounds, records, records * 1000.0 / (double)best[0].wall,
	       records * 1000.0 / (double)best[3].wall);
	getloadavg(la1, 3);
	printf("load average after: %.2f %.2f %.2f\n", la1[0], la1[1], la1[2]);
	rc = 0;
out_mock:
	kmock_stop(&mock);
out:
	if (daemon > 0)
		mqbt_stop(daemon, 15000);
	if (daemon_tls > 0)
		mqbt_stop(daemon_tls, 15000);
	mqbt_mosquitto_destroy(&broker);
	mqbt_rmrf(dir);
	return rc;
}
