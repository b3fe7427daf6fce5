/*
 * kafka_mock — a librdkafka mock cluster in its own process, for tests and benches.
 *
 *   kafka_mock [--brokers N] [--topic NAME:PARTITIONS]...
 *
 * Prints "BOOTSTRAP=<host:port,...>" on stdout (flushed), then reads one command per
 * line on stdin and answers "OK" or "ERR <why>" on stdout:
 *   down <broker_id|all>            take broker(s) down (connections cut, refused)
 *   up <broker_id|all>              bring broker(s) back
 *   rtt <broker_id|all> <ms>        add round-trip latency
 *   produce_errors <count> <code>   the next <count> Produce requests fail with <code>
 *   create_topic <name> <partitions>
 *   quit
 * Exits when stdin closes or on "quit". The cluster speaks the real Kafka protocol
 * (Metadata, Produce, Fetch, ...), so kcat and librdkafka clients can use it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/* Kafka protocol ApiKey of Produce (rdkafka_protocol.h is not a public header). */
#define MOCK_APIKEY_PRODUCE 0

static int mock_brokers(rd_kafka_mock_cluster_t *mc, int nbrokers, const char *which,
			rd_kafka_resp_err_t (*fn)(rd_kafka_mock_cluster_t *, int32_t))
{
	if (strcmp(which, "all") == 0) {
		for (int i = 1; i <= nbrokers; i++)
			if (fn(mc, i))
				return -1;
		return 0;
	}
	char *end;
	long id = strtol(which, &end, 10);
	if (*end || id < 1 || id > nbrokers)
		return -1;
	return fn(mc, (int32_t)id) ? -1 : 0;
}

static int mock_rtt(rd_kafka_mock_cluster_t *mc, int nbrokers, const char *which, int ms)
{
	int first = 1, last = nbrokers;
	if (strcmp(which, "all") != 0) {
		char *end;
		long id = strtol(which, &end, 10);
		if (*end || id < 1 || id > nbrokers)
			return -1;
		first = last = (int)id;
	}
	for (int i = first; i <= last; i++)
		if (rd_kafka_mock_broker_set_rtt(mc, i, ms))
			return -1;
	return 0;
}

static int mock_topic(rd_kafka_mock_cluster_t *mc, const char *spec)
{
	char name[256];
	const char *colon = strrchr(spec, ':');
	if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof(name))
		return -1;
	memcpy(name, spec, (size_t)(colon - spec));
	name[colon - spec] = '\0';
	char *end;
	long n = strtol(colon + 1, &end, 10);
	if (*end || n < 1 || n > 10000)
		return -1;
	return rd_kafka_mock_topic_create(mc, name, (int)n, 1) ? -1 : 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: kafka_mock [--brokers N] [--topic NAME:PARTITIONS]...\n");
}

int main(int argc, char **argv)
{
	int nbrokers = 1, rc = 1;
	char errstr[512];
	rd_kafka_t *rk = NULL;
	rd_kafka_mock_cluster_t *mc = NULL;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc) {
			nbrokers = atoi(argv[++i]);
			if (nbrokers < 1 || nbrokers > 16) {
				usage();
				return 2;
			}
		} else if (strcmp(argv[i], "--topic") == 0 && i + 1 < argc) {
			i++; /* created below, once the cluster exists */
		} else {
			usage();
			return 2;
		}
	}

	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		fprintf(stderr, "kafka_mock: rd_kafka_new: %s\n", errstr);
		goto out;
	}
	mc = rd_kafka_mock_cluster_new(rk, nbrokers);
	if (!mc) {
		fprintf(stderr, "kafka_mock: rd_kafka_mock_cluster_new failed\n");
		goto out;
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--brokers") == 0) {
			i++;
		} else if (strcmp(argv[i], "--topic") == 0) {
			if (mock_topic(mc, argv[++i])) {
				fprintf(stderr, "kafka_mock: bad topic spec '%s'\n", argv[i]);
				goto out;
			}
		}
	}
	printf("BOOTSTRAP=%s\n", rd_kafka_mock_cluster_bootstraps(mc));
	fflush(stdout);

	char line[512];
	while (fgets(line, sizeof(line), stdin)) {
		char cmd[64] = "", a[256] = "", b[64] = "";
		int n = sscanf(line, "%63s %255s %63s", cmd, a, b);
		int ok = -1;
		if (n < 1)
			continue;
		if (strcmp(cmd, "quit") == 0) {
			printf("OK\n");
			fflush(stdout);
			break;
		} else if (strcmp(cmd, "down") == 0 && n == 2) {
			ok = mock_brokers(mc, nbrokers, a, rd_kafka_mock_broker_set_down);
		} else if (strcmp(cmd, "up") == 0 && n == 2) {
			ok = mock_brokers(mc, nbrokers, a, rd_kafka_mock_broker_set_up);
		} else if (strcmp(cmd, "rtt") == 0 && n == 3) {
			ok = mock_rtt(mc, nbrokers, a, atoi(b));
		} else if (strcmp(cmd, "produce_errors") == 0 && n == 3) {
			long cnt = strtol(a, NULL, 10), code = strtol(b, NULL, 10);
			if (cnt > 0 && cnt <= 100000) {
				rd_kafka_resp_err_t *errs = calloc((size_t)cnt, sizeof(*errs));
				if (errs) {
					for (long i = 0; i < cnt; i++)
						errs[i] = (rd_kafka_resp_err_t)code;
					rd_kafka_mock_push_request_errors_array(
						mc, MOCK_APIKEY_PRODUCE, (size_t)cnt, errs);
					free(errs);
					ok = 0;
				}
			}
		} else if (strcmp(cmd, "create_topic") == 0 && n == 3) {
			char spec[330];
			snprintf(spec, sizeof(spec), "%s:%s", a, b);
			ok = mock_topic(mc, spec);
		}
		if (ok == 0)
			printf("OK\n");
		else
			printf("ERR %s", line);
		fflush(stdout);
	}
	rc = 0;
out:
	if (mc)
		rd_kafka_mock_cluster_destroy(mc);
	if (rk)
		rd_kafka_destroy(rk);
	return rc;
}
