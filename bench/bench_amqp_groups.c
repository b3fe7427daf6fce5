/*
 * bench_amqp_groups.c — shared-group delivery with accepts over AMQP 1.0 beside the
 * same over MQTT (bench_groups' members), one daemon, the same stored records,
 * alternating rounds.
 *
 *   bench_amqp_groups [--records N] [--rounds R] [--links L] [--credit C]
 *
 * One mosquitto and one mqbridged with stream "orders" (12 partitions) and 2 x R shared
 * groups on it (prefetch 2000). N (100,000) records of 100 bytes are published once over
 * MQTT QoS 1 and stored; then each round drains the whole backlog twice, once per side,
 * each side with a group of its own that starts at the earliest offset:
 *   mqtt   4 `mqbridge consume` members (QoS 1 records, acks in ranges);
 *   amqp   one client process (this binary with --client, Qpid Proton's C proactor) with
 *          L (4) connections, one receiver link each on orders/groups/<g> with credit C
 *          (2000, topped up when half is spent), every delivery settled accepted on
 *          arrival (Proton coalesces consecutive settled dispositions into one frame).
 * A side's rate is records committed per second: from starting the consumers until the
 * group's committed offsets (GET /groups/<g>) sum to N. CPU time (utime + stime from
 * /proc) per 1000 records for mqbridged, mosquitto and the clients; the load average at
 * the end. Target: AMQP >= 2 x MQTT and >= 100,000 records/s.
 * Run it from a build directory, or with MQB_BUILD_DIR set.
 */
#include <signal.h>
#include <sys/wait.h>

#include <proton/connection.h>
#include <proton/delivery.h>
#include <proton/event.h>
#include <proton/link.h>
#include <proton/proactor.h>
#include <proton/sasl.h>
#include <proton/session.h>
#include <proton/terminus.h>
#include <proton/transport.h>

#include "bench/bench_groups_util.h"

#define MAX_ROUNDS 10

/* --- the AMQP client (child process) ------------------------------------------------ */

static int client_main(const char *hostport, const char *address, int links, int credit)
{
	pn_proactor_t *p = pn_proactor();
	char buf[4096];
	int64_t received = 0;
	int open = links;

	for (int i = 0; i < links; i++) {
		pn_connection_t *c = pn_connection();
		pn_transport_t *t = pn_transport();
		char id[32];

		snprintf(id, sizeof id, "bench-amqp-%d", i);
		pn_connection_set_container(c, id);
		pn_sasl_allowed_mechs(pn_sasl(t), "ANONYMOUS");
		pn_proactor_connect2(p, c, t, hostport);
	}
	while (open > 0) {
		pn_event_batch_t *b = pn_proactor_wait(p);
		pn_event_t *e;

		while ((e = pn_event_batch_next(b))) {
			switch (pn_event_type(e)) {
			case PN_CONNECTION_INIT: {
				pn_connection_t *c = pn_event_connection(e);
				pn_session_t *s = pn_session(c);
				pn_link_t *r = pn_receiver(s, "bench");

				pn_connection_open(c);
				pn_session_open(s);
				pn_terminus_set_address(pn_link_source(r), address);
				pn_link_set_snd_settle_mode(r, PN_SND_UNSETTLED);
				pn_link_set_rcv_settle_mode(r, PN_RCV_FIRST);
				pn_link_open(r);
				pn_link_flow(r, credit);
				break;
			}
			case PN_DELIVERY: {
				pn_delivery_t *d = pn_event_delivery(e);
				pn_link_t *r = pn_delivery_link(d);

				if (!pn_delivery_readable(d) || pn_delivery_partial(d))
					break;
				while (pn_link_recv(r, buf, sizeof buf) > 0)
					;
				pn_delivery_update(d, PN_ACCEPTED);
				pn_delivery_settle(d);   /* advances the link */
				received++;
				if (pn_link_credit(r) < credit / 2)
					pn_link_flow(r, credit - pn_link_credit(r));
				break;
			}
			case PN_LINK_REMOTE_CLOSE:
			case PN_LINK_REMOTE_DETACH: {
				pn_condition_t *cond = pn_link_remote_condition(pn_event_link(e));

				fprintf(stderr, "bench client: link closed: %s %s\n",
					pn_condition_get_name(cond) ? pn_condition_get_name(cond) : "",
					pn_condition_get_description(cond) ?
					pn_condition_get_description(cond) : "");
				pn_connection_close(pn_event_connection(e));
				break;
			}
			case PN_TRANSPORT_CLOSED: {
				pn_condition_t *cond = pn_transport_condition(pn_event_transport(e));

				if (pn_condition_is_set(cond))
					fprintf(stderr, "bench client: %s: %s\n",
						pn_condition_get_name(cond),
						pn_condition_get_description(cond));
				open--;
				break;
			}
			default:
				break;
			}
		}
		pn_proactor_done(p, b);
	}
	pn_proactor_free(p);
	fprintf(stderr, "bench client: %" PRId64 " received\n", received);
	return 1;   /* it runs until killed: an end of its own is a failure */
}

/* One AMQP round: the client process drains group, stopped once committed. */
static int amqp_round(gt_env_t *e, int amqp_port, const char *group, int links, int credit,
		      int64_t want, bg_result_t *r)
{
	char self[512], hp[64], addr[128], nl[16], nc[16], log[400];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	pid_t pid;

	if (n <= 0)
		return -1;
	self[n] = '\0';
	snprintf(hp, sizeof hp, "127.0.0.1:%d", amqp_port);
	snprintf(addr, sizeof addr, "orders/groups/%s", group);
	snprintf(nl, sizeof nl, "%d", links);
	snprintf(nc, sizeof nc, "%d", credit);
	snprintf(log, sizeof log, "%s/%s.log", e->dir, group);
	const char *av[] = { self, "--client", hp, addr, nl, nc, NULL };

	memset(r, 0, sizeof *r);
	int64_t cpu_d0 = mqbt_cpu_ms(e->daemon), cpu_b0 = mqbt_cpu_ms(e->broker.pid);
	int64_t t0 = mqbt_now_ms();
	if (mqbt_spawn(&pid, av, log) != 0)
		return -1;
	/* until committed, or the client ended on its own (it logged why) */
	bool gone = false;
	int64_t end = t0 + 600000;
	do {
		r->committed = gt_wait_sum(e, group, "committed", want, 1000);
		gone = waitpid(pid, NULL, WNOHANG) == pid;
	} while (r->committed < want && !gone && mqbt_now_ms() < end);
	r->ms = mqbt_now_ms() - t0;
	r->cpu_daemon = mqbt_cpu_ms(e->daemon) - cpu_d0;
	r->cpu_broker = mqbt_cpu_ms(e->broker.pid) - cpu_b0;
	if (gone) {
		fprintf(stderr, "bench_amqp_groups: the AMQP client ended early (see %s)\n", log);
		return -1;
	}
	r->cpu_clients = mqbt_cpu_ms(pid);
	mqbt_kill(pid, SIGTERM);
	mqbt_wait(pid, 10000);
	return 0;
}

static void print_row(int round, const char *side, const bg_result_t *r, int rc, int64_t want)
{
	double k = r->committed > 0 ? 1000.0 / (double)r->committed : 0;

	printf("%-6d %-5s %10" PRId64 " %12.0f %9.2f %9.2f %9.2f %9.2f%s\n", round, side,
	       r->committed, bg_rate(r), (double)r->cpu_daemon * k, (double)r->cpu_broker * k,
	       (double)r->cpu_clients * k,
	       (double)(r->cpu_daemon + r->cpu_broker + r->cpu_clients) * k,
	       rc != 0 || r->committed < want ? "  (FAILED)" : "");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	gt_env_t e;
	gt_pub_t pub = { 0 };
	int64_t n = 100000;
	int rounds = 3, links = 4, credit = 2000;
	char conf[4096], topic[64], payload[128];
	size_t off;

	if (argc == 6 && !strcmp(argv[1], "--client"))
		return client_main(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]));
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--records") && i + 1 < argc)
			n = atoll(argv[++i]);
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--links") && i + 1 < argc)
			links = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--credit") && i + 1 < argc)
			credit = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: bench_amqp_groups [--records N] [--rounds R] "
				"[--links L] [--credit C]\n");
			return 2;
		}
	}
	if (n < 1000)
		n = 1000;
	if (rounds < 1 || rounds > MAX_ROUNDS || links < 1 || links > 64 || credit < 2 ||
	    credit > 65535) {
		fprintf(stderr, "bench_amqp_groups: rounds 1..%d, links 1..64, credit 2..65535\n",
			MAX_ROUNDS);
		return 2;
	}
	int amqp_port = mqbt_free_port();
	off = (size_t)snprintf(conf, sizeof conf,
		"streams = ( { name = \"orders\"; partitions = 12; flush = { interval_ms = 50; }; } );\n"
		"routes = ( { filter = \"orders/+\"; stream = \"orders\"; key = \"{1}\"; qos = 1; } );\n"
		"amqp = { listen = \"127.0.0.1:%d\"; };\n"
		"groups = (\n", amqp_port);
	for (int r = 0; r < rounds; r++)
		for (int s = 0; s < 2; s++)
			off += (size_t)snprintf(conf + off, sizeof conf - off,
				"  { name = \"%c%d\"; stream = \"orders\"; mode = \"shared\"; "
				"prefetch = 2000; session_timeout_ms = 10000; "
				"heartbeat_interval_ms = 1000; }%s\n", s ? 'a' : 'm', r,
				r == rounds - 1 && s == 1 ? "" : ",");
	snprintf(conf + off, sizeof conf - off, ");\n");
	if (gt_env_start_ex(&e, conf, "max_inflight_messages 1000\n") || gt_daemon_start(&e) ||
	    mqbt_wait_port(amqp_port, 5000)) {
		fprintf(stderr, "bench_amqp_groups: cannot start mosquitto/mqbridged (dir %s)\n",
			e.dir);
		gt_env_stop(&e, true);
		return 1;
	}

	/* the records, stored once */
	memset(payload, 'x', 100);
	payload[100] = '\0';
	if (gt_pub_open(&e, &pub, "bench-pub") != 0)
		return 1;
	for (int64_t i = 0; i < n; i++) {
		snprintf(topic, sizeof(topic), "orders/dev%d", (int)(i % 1000));
		gt_pub(&pub, topic, payload);
	}
	int64_t stored = gt_wait_sum(&e, "m0", "log_end", n, 300000);
	gt_pub_close(&pub);
	if (stored < n) {
		fprintf(stderr, "bench_amqp_groups: only %" PRId64 " of %" PRId64 " stored\n",
			stored, n);
		gt_env_stop(&e, true);
		return 1;
	}

	printf("bench_amqp_groups: %" PRId64 " records of 100 bytes, 12 partitions, shared "
	       "groups (prefetch 2000), %d rounds\n", stored, rounds);
	printf("  mqtt: 4 mqbridge consume members, QoS 1, acks in ranges; amqp: %d links, "
	       "credit %d, settled accepted on arrival\n", links, credit);
	printf("%-6s %-5s %10s %12s %9s %9s %9s %9s\n", "round", "side", "committed",
	       "records/s", "daemon", "broker", "clients", "total");
	printf("%-6s %-5s %10s %12s %39s\n", "", "", "", "", "(CPU ms per 1000 records)");
	double sum[2] = { 0, 0 };
	for (int r = 0; r < rounds; r++) {
		bg_result_t res;
		char g[16];
		int rc;

		snprintf(g, sizeof g, "m%d", r);
		rc = bg_mqtt_round(&e, g, 4, stored, 600000, &res);
		print_row(r + 1, "mqtt", &res, rc, stored);
		sum[0] += bg_rate(&res);
		snprintf(g, sizeof g, "a%d", r);
		rc = amqp_round(&e, amqp_port, g, links, credit, stored, &res);
		print_row(r + 1, "amqp", &res, rc, stored);
		sum[1] += bg_rate(&res);
	}
	printf("mean records/s: mqtt %.0f, amqp %.0f, amqp / mqtt %.2fx (target >= 2x and "
	       ">= 100000/s)\n", sum[0] / rounds, sum[1] / rounds,
	       sum[0] > 0 ? sum[1] / sum[0] : 0);
	double la[3];
	if (getloadavg(la, 3) == 3)
		printf("load average at the end: %.2f %.2f %.2f\n", la[0], la[1], la[2]);
	gt_env_stop(&e, false);
	return 0;
}
