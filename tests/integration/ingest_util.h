/*
 * ingest_util.h — helpers shared by the ingest/daemon integration tests (header-only,
 * static functions; not a test itself): a libmosquitto publisher that waits for every
 * acknowledgement, mqbridged configs and processes, and reading every record of a
 * stream back through the store library.
 *
 * Ownership: records read back are malloc'd copies owned by the caller (free with
 * iu_records_free). Everything binds to 127.0.0.1.
 */
#ifndef MQB_TEST_INGEST_UTIL_H
#define MQB_TEST_INGEST_UTIL_H

#include <cjson/cJSON.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/err.h"
#include "bridge/store/store.h"
#include "tests/support/harness.h"

/* --- publisher (libmosquitto with its own thread: the test's load generator) ------ */

typedef struct iu_pub {
	struct mosquitto *mosq;
	atomic_int connected;
	atomic_long acked;     /* on_publish count (QoS 0: written) */
	long sent;
	_Atomic char *acked_mid;  /* optional, 65536 entries: set to 1 when mid is acked */
} iu_pub_t;

static inline void iu_pub_on_connect(struct mosquitto *m, void *o, int rc, int f,
			      const mosquitto_property *p)
{
	iu_pub_t *pub = o;
	(void)m; (void)f; (void)p;
	if (rc == 0)
		atomic_store(&pub->connected, 1);
}

static inline void iu_pub_on_publish(struct mosquitto *m, void *o, int mid, int rc,
			      const mosquitto_property *p)
{
	iu_pub_t *pub = o;
	(void)m; (void)rc; (void)p;
	if (pub->acked_mid && mid > 0 && mid < 65536)
		atomic_store(&pub->acked_mid[mid], 1);
	atomic_fetch_add(&pub->acked, 1);
}

static inline void iu_pub_on_disconnect(struct mosquitto *m, void *o, int rc,
				 const mosquitto_property *p)
{
	iu_pub_t *pub = o;
	(void)m; (void)rc; (void)p;
	atomic_store(&pub->connected, 0);
}

/* Connect a publisher (MQTT 5 when v5) and start its network thread. 0 ok. */
static inline int iu_pub_start(iu_pub_t *pub, int port, const char *client_id, bool v5)
{
	memset(pub, 0, sizeof *pub);
	mosquitto_lib_init();
	pub->mosq = mosquitto_new(client_id, true, pub);
	if (!pub->mosq)
		return -1;
	mosquitto_int_option(pub->mosq, MOSQ_OPT_PROTOCOL_VERSION,
			     v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
	mosquitto_max_inflight_messages_set(pub->mosq, 1000);
	mosquitto_connect_v5_callback_set(pub->mosq, iu_pub_on_connect);
	mosquitto_publish_v5_callback_set(pub->mosq, iu_pub_on_publish);
	mosquitto_disconnect_v5_callback_set(pub->mosq, iu_pub_on_disconnect);
	mosquitto_reconnect_delay_set(pub->mosq, 1, 1, false);
	if (mosquitto_connect(pub->mosq, "127.0.0.1", port, 30) != MOSQ_ERR_SUCCESS)
		return -1;
	if (mosquitto_loop_start(pub->mosq) != MOSQ_ERR_SUCCESS)
		return -1;
	for (int i = 0; i < 500 && !atomic_load(&pub->connected); i++)
		mqbt_sleep_ms(10);
	return atomic_load(&pub->connected) ? 0 : -1;
}

/* Publish with optional user properties (name/value pairs, NULL-terminated list);
 * *mid_out (may be NULL) gets the message id. */
static inline int iu_pub_send_mid(iu_pub_t *pub, const char *topic, const void *payload,
				  size_t len, int qos, const char *const *user_props, int *mid_out)
{
	mosquitto_property *props = NULL;
	int rc;

	for (size_t i = 0; user_props && user_props[i]; i += 2)
		mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY,
						   user_props[i], user_props[i + 1]);
	for (int tries = 0; tries < 2000; tries++) {
		rc = mosquitto_publish_v5(pub->mosq, mid_out, topic, (int)len, payload, qos, false,
					  props);
		if (rc != MOSQ_ERR_NO_CONN && rc != MOSQ_ERR_OVERSIZE_PACKET)
			break;
		mqbt_sleep_ms(5);  /* QoS 0 while reconnecting */
	}
	mosquitto_property_free_all(&props);
	if (rc == MOSQ_ERR_SUCCESS)
		pub->sent++;
	return rc == MOSQ_ERR_SUCCESS ? 0 : -1;
}

static inline int iu_pub_send(iu_pub_t *pub, const char *topic, const void *payload,
			      size_t len, int qos, const char *const *user_props)
{
	return iu_pub_send_mid(pub, topic, payload, len, qos, user_props, NULL);
}

/* Wait until every message sent so far is acknowledged. 0 ok, -1 timeout. */
static inline int iu_pub_wait_acked(iu_pub_t *pub, int timeout_ms)
{
	int64_t dl = mqbt_now_ms() + timeout_ms;

	while (atomic_load(&pub->acked) < pub->sent && mqbt_now_ms() < dl)
		mqbt_sleep_ms(5);
	return atomic_load(&pub->acked) >= pub->sent ? 0 : -1;
}

/* Keep the number of unacknowledged messages under max (flow control for loads). */
static inline void iu_pub_throttle(iu_pub_t *pub, long max)
{
	for (int i = 0; i < 20000 && pub->sent - atomic_load(&pub->acked) > max; i++)
		mqbt_sleep_ms(1);
}

static inline void iu_pub_stop(iu_pub_t *pub)
{
	if (!pub->mosq)
		return;
	mosquitto_disconnect(pub->mosq);
	mosquitto_loop_stop(pub->mosq, false);
	mosquitto_destroy(pub->mosq);
	pub->mosq = NULL;
}

/* --- mqbridged ----------------------------------------------------------------------- */

typedef struct iu_daemon {
	char dir[256];        /* test dir: conf, log, data */
	char conf[300], log[300], data[300];
	pid_t pid;
	int stats_port;       /* > 0: stats endpoint on 127.0.0.1:stats_port, else off */
} iu_daemon_t;

/* Write dir/mqbridged.conf: data_dir dir/data, the broker on port, extra text for
 * streams and routes (and anything else). 0 ok. */
static inline int iu_daemon_config(iu_daemon_t *d, int port, const char *client_id,
			    const char *mqtt_extra, const char *rest)
{
	char text[8192], stats[64] = "off";

	if (d->stats_port > 0)
		snprintf(stats, sizeof stats, "127.0.0.1:%d", d->stats_port);
	snprintf(d->conf, sizeof d->conf, "%s/mqbridged.conf", d->dir);
	snprintf(d->log, sizeof d->log, "%s/mqbridged.log", d->dir);
	snprintf(d->data, sizeof d->data, "%s/data", d->dir);
	snprintf(text, sizeof text,
		 "data_dir = \"%s\";\n"
		 "log_level = \"info\";\n"
		 "mqtt = { host = \"127.0.0.1\"; port = %d; client_id = \"%s\"; "
		 "reconnect_min_ms = 50; reconnect_max_ms = 500; %s };\n"
		 "stats = { listen = \"%s\"; };\n"
		 "%s\n",
		 d->data, port, client_id, mqtt_extra ? mqtt_extra : "", stats, rest);
	return mqbt_write_file(d->conf, text);
}

/* Point d's config (written by iu_daemon_config) at another data_dir, e.g. a tmpfs. */
static inline int iu_daemon_set_data_dir(iu_daemon_t *d, const char *data)
{
	char *text = mqbt_read_file(d->conf, NULL), *p, out[8192];
	int rc;

	if (!text)
		return -1;
	p = strstr(text, "data_dir = ");
	p = p ? strchr(p, '\n') : NULL;
	if (!p) {
		free(text);
		return -1;
	}
	snprintf(d->data, sizeof d->data, "%s", data);
	snprintf(out, sizeof out, "data_dir = \"%s\";%s", d->data, p);
	free(text);
	rc = mqbt_write_file(d->conf, out);
	return rc;
}

/* Start mqbridged -c conf (log appended to d->log). 0 ok. */
static inline int iu_daemon_start(iu_daemon_t *d, const char *const env_extra[])
{
	const char *argv[] = { mqbt_bin("mqbridged"), "-c", d->conf, NULL };
	char cmd[700];

	/* keep the earlier runs' lines: rename the old log */
	snprintf(cmd, sizeof cmd, "%s.%lld", d->log, (long long)mqbt_now_ms());
	rename(d->log, cmd);
	return mqbt_spawn_env(&d->pid, argv, d->log, env_extra);
}

/* Wait until the log says "ready:" (store open, every route subscribed). */
static inline int iu_daemon_wait_ready(iu_daemon_t *d, int timeout_ms)
{
	int64_t dl = mqbt_now_ms() + timeout_ms;

	while (mqbt_now_ms() < dl) {
		char *log = mqbt_read_file(d->log, NULL);
		bool ok = log && strstr(log, "ready: ");

		free(log);
		if (ok)
			return 0;
		if (mqbt_wait(d->pid, 0) >= 0) {
			d->pid = 0;
			return -1;  /* exited */
		}
		mqbt_sleep_ms(20);
	}
	return -1;
}

/* The ingest counter "mqtt"."<name>" from GET /stats, or -1. */
static inline long long iu_daemon_stat(const iu_daemon_t *d, const char *name)
{
	char *body = NULL;
	int status = 0;
	long long v = -1;
	cJSON *doc, *sec, *it;

	if (d->stats_port <= 0 || mqbt_http_get(d->stats_port, "/stats", &status, &body) != 0 ||
	    status != 200) {
		free(body);
		return -1;
	}
	doc = cJSON_Parse(body);
	sec = doc ? cJSON_GetObjectItem(doc, "mqtt") : NULL;
	it = sec ? cJSON_GetObjectItem(sec, name) : NULL;
	if (cJSON_IsNumber(it))
		v = (long long)it->valuedouble;
	cJSON_Delete(doc);
	free(body);
	return v;
}

/* Wait until mqtt.stored reaches n. 0 ok, -1 timeout. */
static inline int iu_daemon_wait_stored(const iu_daemon_t *d, long long n, int timeout_ms)
{
	int64_t dl = mqbt_now_ms() + timeout_ms;
	long long v = -1;

	while (mqbt_now_ms() < dl) {
		v = iu_daemon_stat(d, "stored");
		if (v >= n)
			return 0;
		mqbt_sleep_ms(50);
	}
	fprintf(stderr, "iu_daemon_wait_stored: %lld of %lld\n", v, n);
	return -1;
}

static inline void iu_daemon_dump_log(const iu_daemon_t *d)
{
	char *log = mqbt_read_file(d->log, NULL);

	fprintf(stderr, "---- mqbridged log (%s) ----\n%s\n----\n", d->log, log ? log : "(none)");
	free(log);
}

/* --- cleanup after a failed test --------------------------------------------------- */

/* A failing cmocka assertion leaves the test function at once: register the brokers
 * and daemons a test starts (they must be static, not locals) and pass iu_teardown
 * as the test's teardown, which kills what still runs and removes the directories. */
static mqbt_broker_t *iu_reg_b[8];
static iu_daemon_t *iu_reg_d[8];

static inline void iu_track_broker(mqbt_broker_t *b)
{
	for (int i = 0; i < 8; i++)
		if (!iu_reg_b[i] || iu_reg_b[i] == b) {
			iu_reg_b[i] = b;
			return;
		}
}

static inline void iu_track_daemon(iu_daemon_t *d)
{
	for (int i = 0; i < 8; i++)
		if (!iu_reg_d[i] || iu_reg_d[i] == d) {
			iu_reg_d[i] = d;
			return;
		}
}

/* true when pid is a child of ours that has not been reaped (never a reused pid) */
static inline bool iu_child_running(pid_t pid)
{
	int st;

	return pid > 0 && waitpid(pid, &st, WNOHANG) == 0;
}

static inline int iu_teardown(void **state)
{
	(void)state;
	for (int i = 0; i < 8; i++) {
		iu_daemon_t *d = iu_reg_d[i];

		if (!d)
			continue;
		if (iu_child_running(d->pid)) {
			mqbt_kill(d->pid, SIGKILL);
			mqbt_wait(d->pid, 5000);
		}
		d->pid = 0;
		if (d->dir[0])
			mqbt_rmrf(d->dir);
		d->dir[0] = '\0';
		iu_reg_d[i] = NULL;
	}
	for (int i = 0; i < 8; i++) {
		mqbt_broker_t *b = iu_reg_b[i];

		if (!b)
			continue;
		if (!iu_child_running(b->pid))
			b->pid = 0;
		if (b->pid > 0 || b->dir[0])
			mqbt_mosquitto_destroy(b);
		iu_reg_b[i] = NULL;
	}
	return 0;
}

/* --- reading the store back ------------------------------------------------------ */

typedef struct iu_rec {
	int32_t partition;
	int64_t offset, timestamp_ms;
	char *key;            /* NULL: null key */
	char *value;          /* NUL-terminated copy */
	size_t value_len;
	size_t nhdr;
	char **hkey, **hval;  /* NUL-terminated copies */
} iu_rec_t;

typedef struct iu_records {
	iu_rec_t *v;
	size_t n, cap;
	int32_t partitions;
} iu_records_t;

static inline char *iu_dup(const void *p, ssize_t len)
{
	char *s;

	if (len < 0)
		return NULL;
	s = malloc((size_t)len + 1);
	if (!s)
		abort();
	memcpy(s, p, (size_t)len);
	s[len] = '\0';
	return s;
}

/* The value of header key of r, or NULL. */
static inline const char *iu_hdr(const iu_rec_t *r, const char *key)
{
	for (size_t i = 0; i < r->nhdr; i++)
		if (strcmp(r->hkey[i], key) == 0)
			return r->hval[i];
	return NULL;
}

static inline void iu_records_free(iu_records_t *rs)
{
	for (size_t i = 0; i < rs->n; i++) {
		iu_rec_t *r = &rs->v[i];

		free(r->key);
		free(r->value);
		for (size_t j = 0; j < r->nhdr; j++) {
			free(r->hkey[j]);
			free(r->hval[j]);
		}
		free(r->hkey);
		free(r->hval);
	}
	free(rs->v);
	memset(rs, 0, sizeof *rs);
}

/*
 * Read every record of stream (partitions partitions) from data_dir, read-only.
 * Returns 0, or -1 on an error (corruption, gaps in offsets, missing partitions):
 * offsets must start at 0 and be contiguous in every partition.
 */
static inline int iu_read_stream(const char *data_dir, const char *stream, int32_t partitions,
			  iu_records_t *out)
{
	char err[512] = "";
	mqb_store_t *st;
	mqb_stream_opts_t o;
	int rc = 0;

	memset(out, 0, sizeof *out);
	out->partitions = partitions;
	st = mqb_store_open(data_dir, MQB_STORE_RDONLY, err, sizeof err);
	if (!st) {
		fprintf(stderr, "iu_read_stream: open %s: %s\n", data_dir, err);
		return -1;
	}
	mqb_stream_opts_defaults(&o);
	o.name = stream;
	o.partitions = partitions;
	if (mqb_store_stream_open(st, &o, err, sizeof err) != MQB_OK) {
		fprintf(stderr, "iu_read_stream: stream %s: %s\n", stream, err);
		mqb_store_close(st);
		return -1;
	}
	for (int32_t p = 0; p < partitions && rc == 0; p++) {
		mqb_partition_t *part = mqb_store_partition(st, stream, p);
		mqb_reader_t *r;
		mqb_record_t rec;
		int64_t expect = 0;
		int e;

		if (!part) {
			rc = -1;
			break;
		}
		r = mqb_reader_new(part, 0);
		while ((e = mqb_reader_next_record(r, &rec)) == MQB_OK) {
			iu_rec_t *x;

			if (rec.offset != expect) {
				fprintf(stderr, "iu_read_stream: %s-%d offset %lld, expected %lld\n",
					stream, p, (long long)rec.offset, (long long)expect);
				rc = -1;
				break;
			}
			expect++;
			if (out->n == out->cap) {
				out->cap = out->cap ? out->cap * 2 : 1024;
				out->v = realloc(out->v, out->cap * sizeof *out->v);
				if (!out->v)
					abort();
			}
			x = &out->v[out->n++];
			memset(x, 0, sizeof *x);
			x->partition = p;
			x->offset = rec.offset;
			x->timestamp_ms = rec.timestamp_ms;
			x->key = iu_dup(rec.key, rec.key_len);
			x->value = iu_dup(rec.value, rec.value_len < 0 ? 0 : rec.value_len);
			x->value_len = rec.value_len < 0 ? 0 : (size_t)rec.value_len;
			x->nhdr = rec.header_count;
			x->hkey = calloc(rec.header_count + 1, sizeof(char *));
			x->hval = calloc(rec.header_count + 1, sizeof(char *));
			for (size_t h = 0; h < rec.header_count; h++) {
				x->hkey[h] = iu_dup(rec.headers[h].key, (ssize_t)rec.headers[h].key_len);
				x->hval[h] = iu_dup(rec.headers[h].value,
						    rec.headers[h].value_len < 0
							    ? 0 : rec.headers[h].value_len);
			}
		}
		if (rc == 0 && e != MQB_ERR_AGAIN) {
			fprintf(stderr, "iu_read_stream: %s-%d: %s\n", stream, p, mqb_strerror(e));
			rc = -1;
		}
		mqb_reader_destroy(r);
	}
	mqb_store_close(st);
	return rc;
}

#endif
