/*
 * bench_groups_util.h — the consumer-group delivery round shared by the group
 * benchmarks (bench_groups, bench_amqp_groups): N `mqbridge consume` members (QoS 1
 * records, acks in ranges, output to nowhere) drain a group's backlog; the result is
 * records committed per second and the CPU time (utime + stime from /proc) the daemon,
 * the broker and the members spent. Builds on tests/integration/test_groups_util.h
 * (the environment: mosquitto, mqbridged, members, publisher).
 *
 * Header-only (static functions): each bench binary includes it once. No allocation
 * outlives a call; the members' trace files are removed.
 */
#ifndef BENCH_GROUPS_UTIL_H
#define BENCH_GROUPS_UTIL_H

#include "tests/integration/test_groups_util.h"

#define BG_MAX_MEMBERS 16

/* One delivery round: committed records, wall ms, CPU ms per process kind. */
typedef struct bg_result {
	int64_t committed, ms;
	int64_t cpu_daemon, cpu_broker, cpu_clients;
} bg_result_t;

/* Start n (<= BG_MAX_MEMBERS) members of group, wait until the group's committed
 * offsets sum to want (at most timeout_ms), stop them. 0, or -1 if a member did not
 * start. */
static __attribute__((unused)) int bg_mqtt_round(gt_env_t *e, const char *group, int n,
						 int64_t want, int timeout_ms, bg_result_t *r)
{
	gt_member_t m[BG_MAX_MEMBERS];
	int started = 0, rc = 0;

	if (n > BG_MAX_MEMBERS)
		n = BG_MAX_MEMBERS;
	memset(r, 0, sizeof *r);
	int64_t cpu_d0 = mqbt_cpu_ms(e->daemon), cpu_b0 = mqbt_cpu_ms(e->broker.pid);
	int64_t t0 = mqbt_now_ms();
	for (int i = 0; i < n; i++) {
		char id[24];

		snprintf(id, sizeof(id), "%.12s-m%d", group, i % 100);
		if (gt_member_start(e, &m[started], group, id, NULL) != 0) {
			rc = -1;
			break;
		}
		started++;
	}
	if (rc == 0)
		r->committed = gt_wait_sum(e, group, "committed", want, timeout_ms);
	r->ms = mqbt_now_ms() - t0;
	r->cpu_daemon = mqbt_cpu_ms(e->daemon) - cpu_d0;
	r->cpu_broker = mqbt_cpu_ms(e->broker.pid) - cpu_b0;
	for (int i = 0; i < started; i++)
		r->cpu_clients += mqbt_cpu_ms(m[i].pid);
	for (int i = 0; i < started; i++) {
		mqbt_kill(m[i].pid, SIGTERM);
		mqbt_wait(m[i].pid, 10000);
		unlink(m[i].trace);
	}
	return rc;
}

/* Records per second of a round (0 when nothing was committed). */
static __attribute__((unused)) double bg_rate(const bg_result_t *r)
{
	return r->committed > 0 ? (double)r->committed * 1000.0 / (double)(r->ms > 0 ? r->ms : 1)
				: 0.0;
}

#endif
