/*
 * test_groups_util.h — shared by the consumer-group integration tests: a real
 * mosquitto, a real mqbridged with a generated config, real `mqbridge consume`
 * members (each writing a --trace file), an MQTT publisher, and a parser for the
 * members' traces (see tools/cmd_consume.c for the trace format).
 *
 * Header-only (static functions): each test binary includes it once.
 */
#ifndef TEST_GROUPS_UTIL_H
#define TEST_GROUPS_UTIL_H

#include <inttypes.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <mosquitto.h>

#include "tests/support/harness.h"

typedef struct gt_env {
	mqbt_broker_t broker;
	char dir[256];
	char conf[320];
	char dlog[320];
	int http_port;
	pid_t daemon;
	int daemon_starts;
} gt_env_t;

/* broker_extra: more mosquitto.conf lines (NULL: none). */
static int gt_env_start_ex(gt_env_t *e, const char *streams_groups, const char *broker_extra)
{
	char text[8192], bconf[2048];

	memset(e, 0, sizeof(*e));
	if (mqbt_tmpdir(e->dir, sizeof(e->dir)) != 0)
		return -1;
	snprintf(bconf, sizeof(bconf), "max_queued_messages 100000\n%s",
		 broker_extra ? broker_extra : "");
	if (mqbt_mosquitto_start(&e->broker, bconf) != 0)
		return -1;
	e->http_port = mqbt_free_port();
	snprintf(e->conf, sizeof(e->conf), "%s/mqbridge.conf", e->dir);
	snprintf(text, sizeof(text),
		 "data_dir = \"%s/data\";\n"
		 "mqtt = { host = \"127.0.0.1\"; port = %d; client_id = \"mqb-test\"; };\n"
		 "stats = { listen = \"127.0.0.1:%d\"; };\n%s",
		 e->dir, e->broker.port, e->http_port, streams_groups);
	return mqbt_write_file(e->conf, text);
}

static __attribute__((unused)) int gt_env_start(gt_env_t *e, const char *streams_groups)
{
	return gt_env_start_ex(e, streams_groups, NULL);
}

static __attribute__((unused)) int gt_daemon_start(gt_env_t *e)
{
	const char *argv[] = { mqbt_bin("mqbridged"), "-c", e->conf, NULL };

	snprintf(e->dlog, sizeof(e->dlog), "%s/mqbridged.%d.log", e->dir, e->daemon_starts++);
	if (mqbt_spawn(&e->daemon, argv, e->dlog) != 0)
		return -1;
	if (mqbt_wait_port(e->http_port, 15000) != 0)
		return -1;
	/* ready = subscribed (ingest and groups) */
	for (int i = 0; i < 300; i++) {
		int status = 0;
		char *body = NULL;
		if (mqbt_http_get(e->http_port, "/readyz", &status, &body) == 0 && status == 200) {
			free(body);
			return 0;
		}
		free(body);
		mqbt_sleep_ms(50);
	}
	return -1;
}

static void gt_env_stop(gt_env_t *e, bool keep)
{
	if (e->daemon > 0)
		mqbt_stop(e->daemon, 10000);
	e->daemon = 0;
	mqbt_mosquitto_destroy(&e->broker);
	if (!keep)
		mqbt_rmrf(e->dir);
	else
		fprintf(stderr, "kept %s for inspection\n", e->dir);
}

/* GET /groups/<g> as JSON (NULL on error). */
static cJSON *gt_describe(gt_env_t *e, const char *group)
{
	char path[256];
	int status = 0;
	char *body = NULL;
	cJSON *doc = NULL;

	snprintf(path, sizeof(path), "/groups/%s", group);
	if (mqbt_http_get(e->http_port, path, &status, &body) == 0 && status == 200)
		doc = cJSON_Parse(body);
	free(body);
	return doc;
}

/* Sum over partitions of a numeric field of GET /groups/<g>; -1 on error. */
static int64_t gt_sum(gt_env_t *e, const char *group, const char *field)
{
	cJSON *d = gt_describe(e, group), *p;
	int64_t s = 0;

	if (!d)
		return -1;
	cJSON_ArrayForEach(p, cJSON_GetObjectItem(d, "partitions"))
		s += (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(p, field));
	cJSON_Delete(d);
	return s;
}

/* Wait until the sum of field reaches want; returns the last value. */
static int64_t gt_wait_sum(gt_env_t *e, const char *group, const char *field, int64_t want,
			   int timeout_ms)
{
	int64_t v = -1, end = mqbt_now_ms() + timeout_ms;

	while (mqbt_now_ms() < end) {
		v = gt_sum(e, group, field);
		if (v >= want)
			break;
		mqbt_sleep_ms(100);
	}
	return v;
}

/* --- members ------------------------------------------------------------------------- */

typedef struct gt_member {
	char id[64];
	char trace[320];
	pid_t pid;
} gt_member_t;

/* Test teardown: SIGKILL every member still running, stop the daemon and the broker;
 * keep the test directory for inspection unless the test passed. */
static inline void gt_teardown(gt_env_t *e, gt_member_t *m, int n, bool passed)
{
	for (int i = 0; i < n; i++)
		if (m[i].pid > 0) {
			mqbt_kill(m[i].pid, SIGKILL);
			mqbt_wait(m[i].pid, 5000);
			m[i].pid = 0;
		}
	gt_env_stop(e, !passed);
}

static int gt_member_start(gt_env_t *e, gt_member_t *m, const char *group, const char *id,
			   const char *const extra[])
{
	char port[16], log[320];
	const char *argv[40];
	int n = 0;

	snprintf(m->id, sizeof(m->id), "%s", id);
	snprintf(m->trace, sizeof(m->trace), "%s/%s.trace", e->dir, id);
	snprintf(log, sizeof(log), "%s/%s.log", e->dir, id);
	snprintf(port, sizeof(port), "%d", e->broker.port);
	argv[n++] = mqbt_bin("mqbridge");
	argv[n++] = "consume";
	argv[n++] = "--group";
	argv[n++] = group;
	argv[n++] = "-h";
	argv[n++] = "127.0.0.1";
	argv[n++] = "-p";
	argv[n++] = port;
	argv[n++] = "-i";
	argv[n++] = m->id;
	argv[n++] = "--trace";
	argv[n++] = m->trace;
	argv[n++] = "--quiet";
	for (int i = 0; extra && extra[i] && n < 38; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	return mqbt_spawn(&m->pid, argv, log);
}

/* --- publisher ------------------------------------------------------------------------- */

typedef struct gt_pub {
	struct mosquitto *mosq;
	int64_t sent;
	_Atomic int64_t acked;
	_Atomic int connected;
} gt_pub_t;

static void gt_on_connect(struct mosquitto *m, void *arg, int rc)
{
	gt_pub_t *p = arg;
	(void)m;
	if (rc == 0)
		p->connected = 1;
}

static void gt_on_publish(struct mosquitto *m, void *arg, int mid)
{
	gt_pub_t *p = arg;
	(void)m;
	(void)mid;
	p->acked++;
}

static int gt_pub_open(gt_env_t *e, gt_pub_t *p, const char *id)
{
	mosquitto_lib_init();
	p->mosq = mosquitto_new(id, true, p);
	if (!p->mosq)
		return -1;
	mosquitto_publish_callback_set(p->mosq, gt_on_publish);
	mosquitto_connect_callback_set(p->mosq, gt_on_connect);
	mosquitto_int_option(p->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
	mosquitto_max_inflight_messages_set(p->mosq, 200);
	if (mosquitto_connect(p->mosq, "127.0.0.1", e->broker.port, 30) != MOSQ_ERR_SUCCESS)
		return -1;
	if (mosquitto_loop_start(p->mosq) != MOSQ_ERR_SUCCESS)
		return -1;
	/* Publishing before CONNACK makes libmosquitto send those messages twice. */
	for (int i = 0; i < 5000 && !p->connected; i++)
		mqbt_sleep_ms(1);
	return p->connected ? 0 : -1;
}

static int gt_pub(gt_pub_t *p, const char *topic, const char *payload)
{
	int rc;
	for (int i = 0; i < 1000; i++) {
		rc = mosquitto_publish(p->mosq, NULL, topic, (int)strlen(payload), payload, 1, false);
		if (rc == MOSQ_ERR_SUCCESS) {
			p->sent++;
			/* keep the client's queue short: wait for PUBACKs */
			for (int w = 0; w < 2000 && p->sent - p->acked > 1000; w++)
				mqbt_sleep_ms(1);
			return 0;
		}
		mqbt_sleep_ms(5);
	}
	return -1;
}

static void gt_pub_close(gt_pub_t *p)
{
	if (!p->mosq)
		return;
	for (int i = 0; i < 3000 && p->acked < p->sent; i++)
		mqbt_sleep_ms(10);
	mosquitto_disconnect(p->mosq);
	mosquitto_loop_stop(p->mosq, false);
	mosquitto_destroy(p->mosq);
	p->mosq = NULL;
}

/* --- traces ------------------------------------------------------------------------- */

typedef struct gt_ev {
	char kind;           /* 'A' 'R' 'K' 'E' */
	int64_t ms;
	int64_t gen;
	int32_t part;
	int64_t off, last;   /* R: offset; K: first..last */
	int64_t delivery;
	char type[16];       /* K: accept|release|reject; E: code */
	uint64_t assigned;   /* A: bitmask (partitions < 64) */
	uint64_t revoked;
} gt_ev_t;

typedef struct gt_trace {
	gt_ev_t *ev;
	size_t n;
} gt_trace_t;

static uint64_t gt_mask(const char *s)
{
	uint64_t m = 0;
	while (*s && *s != ' ') {
		int p = atoi(s);
		if (p >= 0 && p < 64)
			m |= 1ull << p;
		s += strcspn(s, ", ");
		if (*s == ',')
			s++;
	}
	return m;
}

static __attribute__((unused)) int gt_trace_load(const char *path, gt_trace_t *t)
{
	size_t len = 0, cap = 0;
	char *text = mqbt_read_file(path, &len), *line, *save = NULL;

	t->ev = NULL;
	t->n = 0;
	if (!text)
		return -1;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		gt_ev_t ev;
		char k;
		memset(&ev, 0, sizeof(ev));
		if (sscanf(line, "%" SCNd64 " %c", &ev.ms, &k) != 2)
			continue;
		ev.kind = k;
		const char *rest = strchr(line, ' ') + 3;
		if (k == 'R') {
			if (sscanf(rest, "%" SCNd64 " %d %" SCNd64 " %" SCNd64, &ev.gen, &ev.part, &ev.off,
				   &ev.delivery) != 4)
				continue;
		} else if (k == 'K') {
			if (sscanf(rest, "%d %" SCNd64 " %" SCNd64 " %15s", &ev.part, &ev.off, &ev.last,
				   ev.type) != 4)
				continue;
		} else if (k == 'A') {
			const char *a = strstr(rest, "assigned="), *r = strstr(rest, "revoked=");
			ev.gen = atoll(rest);
			if (!a || !r)
				continue;
			ev.assigned = gt_mask(a + 9);
			ev.revoked = gt_mask(r + 8);
		} else if (k == 'E') {
			sscanf(rest, "%15s", ev.type);
		} else {
			continue;
		}
		if (t->n == cap) {
			cap = cap ? cap * 2 : 1024;
			t->ev = realloc(t->ev, cap * sizeof(*t->ev));
		}
		t->ev[t->n++] = ev;
	}
	free(text);
	return 0;
}

static __attribute__((unused)) void gt_trace_free(gt_trace_t *t)
{
	free(t->ev);
	t->ev = NULL;
	t->n = 0;
}

#endif
