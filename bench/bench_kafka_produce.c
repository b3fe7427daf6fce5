/*
 * bench_kafka_produce.c — `kcat -P` producing into mqbridged's kafka_api beside
 * `kcat -P` producing the same records into librdkafka's mock cluster (in memory),
 * same run, sides alternating.
 *
 *   bench_kafka_produce [--records N (500000)] [--size BYTES (100)] [--rounds R (3)]
 *
 * mqbridged runs on an empty store with stream bench (1 partition) and kafka_api;
 * the mock cluster has topic bench (1 partition). Each round, for acks=1 and for
 * acks=-1 (mqbridged answers -1 once the records are durable: fsync), kcat -P -l of a
 * file of N values goes to each side, the order alternating by round. Each side's
 * high watermark (ListOffsets through librdkafka) must grow by exactly N: a side that
 * lost or doubled records fails the run. Per side: wall, records/s, CPU ms per 1000
 * records of kcat (getrusage) and of the server (/proc/<pid>/stat). Medians of the
 * rounds and the load average before and after.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "bench/bench_kcat_util.h"
#include "tests/integration/test_kafka_util.h"
#include "tests/support/harness.h"

#define MAX_ROUNDS 64

static int64_t records = 500000;
static int size = 100, rounds = 3;

/* The high watermark of bench/0 at bootstrap, -1 on failure. */
static int64_t high_watermark(const char *bootstrap)
{
	char err[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	int64_t lo = -1, hi = -1;

	if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err) !=
	    RD_KAFKA_CONF_OK) {
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
	if (!rk)
		return -1;
	if (rd_kafka_query_watermark_offsets(rk, "bench", 0, &lo, &hi, 10000) !=
	    RD_KAFKA_RESP_ERR_NO_ERROR)
		hi = -1;
	rd_kafka_destroy(rk);
	return hi;
}

/* kcat -P of the values file into bootstrap with acks; checks the watermark grew by
 * exactly records. */
static int produce_side(const char *bootstrap, pid_t server, const char *values,
			const char *acks, bk_side_t *s)
{
	char ackopt[32];
	snprintf(ackopt, sizeof ackopt, "acks=%s", acks);
	const char *argv[] = { "/usr/bin/kcat", "-b", bootstrap, "-P", "-t", "bench", "-p", "0",
			       "-X", ackopt, "-l", values, NULL };
	int64_t h0 = high_watermark(bootstrap), h1, c0 = mqbt_cpu_ms(server);
	int rc = bk_run_timed_lines(argv, &s->wall, &s->cpu_client, NULL);

	s->cpu_server = mqbt_cpu_ms(server) - c0;
	s->n = records;
	h1 = high_watermark(bootstrap);
	if (rc != 0 || h0 < 0 || h1 - h0 != records) {
		fprintf(stderr, "kcat -P into %s (acks %s): exit %d, watermark %" PRId64 " -> %"
			PRId64 ", expected +%" PRId64 "\n", bootstrap, acks, rc, h0, h1, records);
		return -1;
	}
	return 0;
}

static int write_values(const char *path)
{
	char *line = malloc((size_t)size + 1);
	FILE *f = fopen(path, "w");

	if (!line || !f) {
		free(line);
		if (f)
			fclose(f);
		return -1;
	}
	for (int64_t i = 0; i < records; i++) {
		/* distinct values: a number, padded to size */
		int n = snprintf(line, (size_t)size + 1, "%012" PRId64, i);
		if (n < size)
			memset(line + n, 'x', (size_t)(size - n));
		fwrite(line, 1, (size_t)size, f);
		fputc('\n', f);
	}
	free(line);
	return fclose(f);
}

int main(int argc, char **argv)
{
	char dir[256], data[300], kb[64], values[700];
	mqbt_broker_t broker = { 0 };
	kmock_t mock = { 0 };
	pid_t daemon = 0;
	int kport, rc = 1;
	double la0[3], la1[3];
	const char *topics[] = { "bench:1", NULL }, *acks[] = { "1", "-1" };
	/* per acks: rate of mqbridged, rate of the mock, CPU (ms/1000) of each server */
	double rq[2][MAX_ROUNDS], rm[2][MAX_ROUNDS], cq[2][MAX_ROUNDS], cm[2][MAX_ROUNDS],
	       ratio[2][MAX_ROUNDS];

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--records"))
			records = atoll(argv[i + 1]);
		else if (!strcmp(argv[i], "--size"))
			size = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--rounds"))
			rounds = atoi(argv[i + 1]);
		else {
			fprintf(stderr, "usage: bench_kafka_produce [--records N] [--size B] "
				"[--rounds R]\n");
			return 2;
		}
	}
	if (records < 1 || size < 13 || rounds < 1 || rounds > MAX_ROUNDS ||
	    mqbt_tmpdir(dir, sizeof dir) != 0) {
		fprintf(stderr, "bench_kafka_produce: records >= 1, size >= 13, 1..%d rounds\n",
			MAX_ROUNDS);
		return 2;
	}
	snprintf(values, sizeof values, "%s/values.txt", dir);
	if (write_values(values) != 0)
		return 1;
	if (mqbt_mosquitto_start(&broker, NULL) != 0)
		return 1;
	kport = mqbt_free_port();
	snprintf(data, sizeof data, "%s/data", dir);
	if (bk_daemon_start(dir, data, broker.port, kport, 1, &daemon) != 0)
		goto out;
	snprintf(kb, sizeof kb, "127.0.0.1:%d", kport);
	if (kmock_start(&mock, 1, topics) != 0)
		goto out;

	getloadavg(la0, 3);
	printf("bench_kafka_produce: kcat -P of %" PRId64 " records of %d bytes, %d rounds; "
	       "load average %.2f %.2f %.2f\n", records, size, rounds, la0[0], la0[1], la0[2]);
	for (int r = 0; r < rounds; r++) {
		printf("round %d\n", r + 1);
		for (int a = 0; a < 2; a++) {
			bk_side_t q, m;
			char name[64];
			for (int k = 0; k < 2; k++) {
				bool ours = (k + r) % 2 == 0;   /* alternate who goes first */
				if (ours ? produce_side(kb, daemon, values, acks[a], &q)
					 : produce_side(mock.bootstrap, mock.pid, values, acks[a], &m))
					goto out_mock;
			}
			snprintf(name, sizeof name, "kcat -> mqbridged acks=%s", acks[a]);
			bk_print_side(name, &q);
			snprintf(name, sizeof name, "kcat -> mock acks=%s", acks[a]);
			bk_print_side(name, &m);
			rq[a][r] = records * 1000.0 / (double)(q.wall ? q.wall : 1);
			rm[a][r] = records * 1000.0 / (double)(m.wall ? m.wall : 1);
			ratio[a][r] = rq[a][r] / rm[a][r];
			cq[a][r] = q.cpu_server * 1000.0 / (double)records;
			cm[a][r] = m.cpu_server * 1000.0 / (double)records;
		}
	}
	for (int a = 0; a < 2; a++) {
		double rmin = ratio[a][0], rmax = ratio[a][0];
		for (int r = 1; r < rounds; r++) {
			rmin = ratio[a][r] < rmin ? ratio[a][r] : rmin;
			rmax = ratio[a][r] > rmax ? ratio[a][r] : rmax;
		}
		printf("acks=%s, median of %d: mqbridged %.0f rec/s, mock %.0f rec/s, ratio %.2f "
		       "(min %.2f, max %.2f); server CPU %.3f vs mock %.3f ms/1000 rec\n", acks[a],
		       rounds, bk_median(rq[a], rounds), bk_median(rm[a], rounds),
		       bk_median(ratio[a], rounds), rmin, rmax, bk_median(cq[a], rounds),
		       bk_median(cm[a], rounds));
	}
	getloadavg(la1, 3);
	printf("load average after: %.2f %.2f %.2f\n", la1[0], la1[1], la1[2]);
	rc = 0;
out_mock:
	kmock_stop(&mock);
out:
	if (daemon > 0)
		mqbt_stop(daemon, 15000);
	mqbt_mosquitto_destroy(&broker);
	mqbt_rmrf(dir);
	return rc;
}
