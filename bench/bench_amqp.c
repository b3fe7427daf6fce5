/*
 * bench_amqp.c — AMQP 1.0 send (settle = "stored") beside MQTT QoS 1 ingest, same
 * daemon, same run, alternating rounds.
 *
 *   bench_amqp [--messages N] [--rounds R]
 *
 * One mqbridged (and a mosquitto for its MQTT side) with two streams of 4 partitions:
 *   mqtt   a libmosquitto publisher sends N (20,000) messages of 100 bytes at QoS 1 to
 *          bench/<i mod 100> (at most 1000 in flight); timed from the first publish to
 *          /stats mqtt.stored reaching them;
 *   amqp   tests/amqp/amqp_client.py (python3-qpid-proton, Debian's) sends N messages
 *          (value "v<i>", two application properties, a partition key) to stream "a";
 *          timed until the client saw every one settled accepted (= stored).
 * Per side: records/s and mqbridged's CPU time (utime + stime from /proc) per 1000
 * records; the load average at the end. The AMQP client is Python: its own CPU bounds
 * the AMQP rate long before mqbridged does, so CPU per 1000 records is the figure that
 * compares the two ingest paths.
 * Run it from a build directory, or with MQB_BUILD_DIR (and MQB_SOURCE_DIR) set.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/integration/ingest_util.h"

static long opt_messages = 20000;
static int opt_rounds = 3;

static double proc_cpu_ms(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof buf, f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
			 &st) != 2)
		return -1;
	return (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

int main(int argc, char **argv)
{
	mqbt_broker_t b = { 0 };
	iu_daemon_t d = { 0 };
	iu_pub_t pub;
	char text[2048], url[64], n[32], client[512], payload[100];
	int amqp_port;
	long long mqtt_total = 0;
	double loads[3] = { 0 };

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--messages") && i + 1 < argc)
			opt_messages = atol(argv[++i]);
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			opt_rounds = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: bench_amqp [--messages N] [--rounds R]\n");
			return 2;
		}
	}
	snprintf(client, sizeof client, "%s/tests/amqp/amqp_client.py",
		 getenv("MQB_SOURCE_DIR") ? getenv("MQB_SOURCE_DIR") : MQB_SOURCE_DIR_DEFAULT);
	if (mqbt_mosquitto_start(&b, "max_inflight_messages 1000\nmax_queued_messages 100000\n") != 0 ||
	    mqbt_tmpdir(d.dir, sizeof d.dir) != 0)
		return 1;
	d.stats_port = mqbt_free_port();
	amqp_port = mqbt_free_port();
	snprintf(url, sizeof url, "amqp://127.0.0.1:%d", amqp_port);
	snprintf(text, sizeof text,
		 "streams = ( { name = \"m\"; partitions = 4; }, { name = \"a\"; partitions = 4; } );\n"
		 "routes = ( { filter = \"bench/#\"; qos = 1; stream = \"m\"; key = \"{1}\"; } );\n"
		 "amqp = { listen = \"127.0.0.1:%d\"; settle = \"stored\"; credit_window = 1000; };\n",
		 amqp_port);
	if (iu_daemon_config(&d, b.port, "mqb-bench-amqp", NULL, text) != 0 ||
	    iu_daemon_start(&d, NULL) != 0 || iu_daemon_wait_ready(&d, 15000) != 0 ||
	    mqbt_wait_port(amqp_port, 5000) != 0 || iu_pub_start(&pub, b.port, "bench-pub", true) != 0) {
		fprintf(stderr, "bench_amqp: setup failed (see %s)\n", d.log);
		return 1;
	}
	memset(payload, 'x', sizeof payload);
	snprintf(n, sizeof n, "%ld", opt_messages);
	printf("bench_amqp: %ld messages per side per round, %d rounds\n", opt_messages, opt_rounds);
	printf("%-6s %-5s %12s %18s\n", "round", "side", "records/s", "daemon CPU ms/1000");
	for (int r = 0; r < opt_rounds; r++) {
		for (int side = 0; side < 2; side++) {
			int64_t t0 = mqbt_now_ms(), t1;
			double c0 = proc_cpu_ms(d.pid), c1;
			int ok = 0;

			if (side == 0) {
				for (long i = 0; i < opt_messages; i++) {
					char topic[32];

					snprintf(topic, sizeof topic, "bench/%ld", i % 100);
					iu_pub_throttle(&pub, 1000);
					iu_pub_send(&pub, topic, payload, sizeof payload, 1, NULL);
				}
				mqtt_total += opt_messages;
				ok = iu_daemon_wait_stored(&d, mqtt_total, 120000) == 0;
			} else {
				const char *av[] = { "/usr/bin/python3", client, "send", url, "a", n, NULL };
				char *out = NULL;

				ok = mqbt_run(av, &out, NULL, 300000) == 0 && out &&
				     strstr(out, "rejected 0");
				free(out);
			}
			t1 = mqbt_now_ms();
			c1 = proc_cpu_ms(d.pid);
			printf("%-6d %-5s %12.0f %18.2f%s\n", r + 1, side ? "amqp" : "mqtt",
			       (double)opt_messages * 1000.0 / (double)(t1 - t0 > 0 ? t1 - t0 : 1),
			       (c1 - c0) * 1000.0 / (double)opt_messages, ok ? "" : "  (FAILED)");
			fflush(stdout);
		}
	}
	if (getloadavg(loads, 3) == 3)
		printf("load average: %.2f %.2f %.2f\n", loads[0], loads[1], loads[2]);
	iu_pub_stop(&pub);
	mqbt_stop(d.pid, 10000);
	mqbt_mosquitto_destroy(&b);
	mqbt_rmrf(d.dir);
	return 0;
}
