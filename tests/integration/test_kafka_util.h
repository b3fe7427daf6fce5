/*
 * test_kafka_util.h — shared by the Kafka forwarder tests and bench_forward: run the
 * kafka_mock helper (a librdkafka mock cluster in its own process) with a command
 * pipe, read a topic back with an independent librdkafka consumer, fill a store with
 * recognisable records, read a process's RSS.
 *
 * Ownership: kmock_t owns the child (killed by its pid only) and its pipes;
 * kconsume() hands each message to the caller's callback, valid during the call.
 */
#ifndef MQB_TEST_KAFKA_UTIL_H
#define MQB_TEST_KAFKA_UTIL_H

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "bridge/store/store.h"
#include "tests/support/harness.h"

#define KUTIL_UNUSED __attribute__((unused))

/* RSS bounds hold for a plain build only: ASan's shadow memory and quarantine (and
 * TSan's shadow) multiply the resident set, so under a sanitizer the bound is skipped
 * and every other check of the test still runs. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define KUTIL_RSS_BOUND(cond) ((void)0)
#else
#define KUTIL_RSS_BOUND(cond) assert_true(cond)
#endif

typedef struct kmock {
	pid_t pid;
	FILE *in, *out;               /* commands to it, answers from it */
	char bootstrap[640];
} kmock_t;

/* Start kafka_mock with nbrokers and topics ("name:partitions", NULL-terminated).
 * Waits for its BOOTSTRAP line. 0 ok. */
static KUTIL_UNUSED int kmock_start(kmock_t *m, int nbrokers, const char *const topics[])
{
	int to[2], from[2];
	const char *argv[32];
	char nb[16];
	size_t n = 0;
	memset(m, 0, sizeof(*m));
	snprintf(nb, sizeof(nb), "%d", nbrokers);
	argv[n++] = mqbt_bin("kafka_mock");
	argv[n++] = "--brokers";
	argv[n++] = nb;
	for (size_t i = 0; topics && topics[i] && n < 28; i++) {
		argv[n++] = "--topic";
		argv[n++] = topics[i];
	}
	argv[n] = NULL;
	if (pipe(to) || pipe(from))
		return -1;
	pid_t p = fork();
	if (p < 0)
		return -1;
	if (p == 0) {
		dup2(to[0], STDIN_FILENO);
		dup2(from[1], STDOUT_FILENO);
		close(to[0]); close(to[1]); close(from[0]); close(from[1]);
		execv(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	m->pid = p;
	m->in = fdopen(to[1], "w");
	m->out = fdopen(from[0], "r");
	char line[600];
	if (!m->in || !m->out || !fgets(line, sizeof(line), m->out) ||
	    strncmp(line, "BOOTSTRAP=", 10) != 0)
		return -1;
	line[strcspn(line, "\r\n")] = '\0';
	snprintf(m->bootstrap, sizeof(m->bootstrap), "%s", line + 10);
	return 0;
}

/* Send one command ("down all", "produce_errors 5 6", ...); 0 when it answered OK. */
static KUTIL_UNUSED __attribute__((format(printf, 2, 3)))
int kmock_cmd(kmock_t *m, const char *fmt, ...)
{
	va_list ap;
	char line[256];
	va_start(ap, fmt);
	vfprintf(m->in, fmt, ap);
	va_end(ap);
	fputc('\n', m->in);
	fflush(m->in);
	if (!fgets(line, sizeof(line), m->out))
		return -1;
	return strncmp(line, "OK", 2) == 0 ? 0 : -1;
}

static KUTIL_UNUSED void kmock_stop(kmock_t *m)
{
	if (m->in) {
		fputs("quit\n", m->in);
		fclose(m->in);
	}
	if (m->out)
		fclose(m->out);
	if (m->pid > 0 && mqbt_wait(m->pid, 10000) < 0) {
		mqbt_kill(m->pid, SIGKILL);
		mqbt_wait(m->pid, 5000);
	}
	memset(m, 0, sizeof(*m));
}

/*
 * Read topic partitions [0, nparts) from the beginning with a plain librdkafka
 * consumer (no group) until `expect` messages arrived in total or timeout_ms passed
 * (then a further settle_ms, to catch duplicates/extras). cb gets every message.
 * Returns the number of messages read, -1 on setup failure.
 */
typedef void (kconsume_cb)(const rd_kafka_message_t *m, void *arg);

static KUTIL_UNUSED int64_t kconsume(const char *bootstrap, const char *topic, int nparts,
				     int64_t expect, int timeout_ms, int settle_ms,
				     kconsume_cb *cb, void *arg)
{
	char err[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof(err));
	rd_kafka_conf_set(conf, "group.id", "mqbt-reader", err, sizeof(err));
	rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err));
	rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (!rk) {
		fprintf(stderr, "consumer: %s\n", err);
		return -1;
	}
	rd_kafka_poll_set_consumer(rk);
	rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(nparts);
	for (int p = 0; p < nparts; p++)
		rd_kafka_topic_partition_list_add(tl, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_assign(rk, tl);
	rd_kafka_topic_partition_list_destroy(tl);
	int64_t got = 0, deadline = mqbt_now_ms() + timeout_ms, settle_end = -1;
	for (;;) {
		int64_t now = mqbt_now_ms();
		if (settle_end < 0 && (got >= expect || now >= deadline))
			settle_end = now + settle_ms;
		if (settle_end >= 0 && now >= settle_end)
			break;
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		if (!m)
			continue;
		if (!m->err) {
			got++;
			cb(m, arg);
		}
		rd_kafka_message_destroy(m);
	}
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return got;
}

/* Record i of partition p: key "k<p>-<i>", value "v<p>-<i>-" padded to vlen bytes,
 * timestamp base_ts + i, headers mqtt.topic = "dev/<p>/<i>" and "n" = "<i>" (kfill_h:
 * the first nheaders of those two). */
static KUTIL_UNUSED int kfill_h(mqb_partition_t *part, int32_t p, int64_t first, int64_t count,
				size_t vlen, int64_t base_ts, int batch, size_t nheaders)
{
	char (*keys)[32] = malloc((size_t)batch * 32), (*vals)[1024] = malloc((size_t)batch * 1024);
	char (*topics)[48] = malloc((size_t)batch * 48), (*ns)[24] = malloc((size_t)batch * 24);
	mqb_record_t *recs = calloc((size_t)batch, sizeof(*recs));
	mqb_rec_header_t *hdrs = calloc((size_t)batch * 2, sizeof(*hdrs));
	int rc = 0;
	if (vlen > 1000)
		vlen = 1000;
	for (int64_t i = first; i < first + count && rc == 0;) {
		int n = 0;
		for (; n < batch && i < first + count; n++, i++) {
			int kl = snprintf(keys[n], 32, "k%d-%" PRId64, p, i);
			int vl = snprintf(vals[n], 1024, "v%d-%" PRId64 "-", p, i);
			while ((size_t)vl < vlen)
				vals[n][vl++] = 'x';
			int tl = snprintf(topics[n], 48, "dev/%d/%" PRId64, p, i);
			int nl = snprintf(ns[n], 24, "%" PRId64, i);
			hdrs[n * 2] = (mqb_rec_header_t){ "mqtt.topic", 10, topics[n], tl };
			hdrs[n * 2 + 1] = (mqb_rec_header_t){ "n", 1, ns[n], nl };
			recs[n] = (mqb_record_t){ .timestamp_ms = base_ts + i, .key = keys[n],
						  .key_len = kl, .value = vals[n],
						  .value_len = (ssize_t)vl,
						  .headers = &hdrs[n * 2],
						  .header_count = nheaders };
		}
		int64_t base;
		rc = mqb_partition_append(part, recs, (size_t)n, &base);
		if (rc == 0 && base != i - n)
			rc = -1;
	}
	free(keys); free(vals); free(topics); free(ns); free(recs); free(hdrs);
	return rc;
}

static KUTIL_UNUSED int kfill(mqb_partition_t *part, int32_t p, int64_t first, int64_t count,
			      size_t vlen, int64_t base_ts, int batch)
{
	return kfill_h(part, p, first, count, vlen, base_ts, batch, 2);
}

/* The record number i encoded in a value "v<p>-<i>-...", or -1. */
static KUTIL_UNUSED int64_t kvalue_index(const void *v, size_t len, int *part)
{
	char buf[64];
	size_t n = len < sizeof(buf) - 1 ? len : sizeof(buf) - 1;
	memcpy(buf, v, n);
	buf[n] = '\0';
	int p;
	long long i;
	if (sscanf(buf, "v%d-%lld-", &p, &i) != 2)
		return -1;
	if (part)
		*part = p;
	return i;
}

/* Resident set size of pid (0: this process) in KiB, -1 if unknown. */
static KUTIL_UNUSED long krss_kb(pid_t pid)
{
	char path[64];
	if (pid > 0)
		snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/status");
	return (long)mqbt_proc_field(path, "VmRSS");
}

#endif
