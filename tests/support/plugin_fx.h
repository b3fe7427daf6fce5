/*
 * plugin_fx.h — plugin-mode fixtures (header-only, static inline): a real mosquitto on
 * a free port loading build/bridge/daemon/mqbridge_plugin.so with a generated
 * mqbridge.conf, and a libmosquitto publisher that records the reason code of every
 * acknowledgement by message id.
 *
 * Ownership: the fixture owns its directory (conf, data, broker log); pf_destroy()
 * kills the broker (by pid) and removes it.
 */
#ifndef MQBT_PLUGIN_FX_H
#define MQBT_PLUGIN_FX_H

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/harness.h"

typedef struct pf_broker {
	mqbt_broker_t b;
	char dir[256];          /* conf and data (the broker's own dir is b.dir) */
	char conf[300], data[300];
	int stats_port;
} pf_broker_t;

/* Write dir/mqbridge.conf: data_dir dir/data, stats on stats_port, plus rest. */
static inline int pf_config(pf_broker_t *p, const char *rest)
{
	char text[8192];

	if (!p->dir[0] && mqbt_tmpdir(p->dir, sizeof p->dir) != 0)
		return -1;
	if (p->stats_port <= 0)
		p->stats_port = mqbt_free_port();
	snprintf(p->conf, sizeof p->conf, "%s/mqbridge.conf", p->dir);
	snprintf(p->data, sizeof p->data, "%s/data", p->dir);
	snprintf(text, sizeof text,
		 "data_dir = \"%s\";\nlog_level = \"info\";\n"
		 "stats = { listen = \"127.0.0.1:%d\"; };\n%s\n",
		 p->data, p->stats_port, rest ? rest : "");
	return mqbt_write_file(p->conf, text);
}

/* Start mosquitto with the plugin (extra: more mosquitto.conf lines, may be NULL) and
 * wait for the stats endpoint too. 0 ok. */
static inline int pf_start(pf_broker_t *p, const char *extra)
{
	char conf[2048];
	int64_t dl;

	snprintf(conf, sizeof conf, "plugin %s\nplugin_opt_config %s\n%s",
		 mqbt_bin("mqbridge_plugin.so"), p->conf, extra ? extra : "");
	if (mqbt_mosquitto_start(&p->b, conf) != 0)
		return -1;
	dl = mqbt_now_ms() + 10000;
	while (mqbt_now_ms() < dl) {
		if (mqbt_wait_port(p->stats_port, 100) == 0)
			return 0;
	}
	return -1;
}

/* pf_start, then restart the broker with prefix put first in its mosquitto.conf (for
 * options that must precede the listener, e.g. per_listener_settings). 0 ok. */
static inline int pf_start_prefixed(pf_broker_t *p, const char *prefix, const char *extra)
{
	char *old, *text;
	int rc;

	if (pf_start(p, extra) != 0)
		return -1;
	old = mqbt_read_file(p->b.conf_path, NULL);
	if (!old)
		return -1;
	text = malloc(strlen(prefix) + strlen(old) + 2);
	if (!text) {
		free(old);
		return -1;
	}
	sprintf(text, "%s\n%s", prefix, old);
	rc = mqbt_write_file(p->b.conf_path, text);
	free(text);
	free(old);
	if (rc != 0 || mqbt_mosquitto_restart(&p->b) != 0)
		return -1;
	return mqbt_wait_port(p->stats_port, 10000);
}

static inline void pf_dump_log(const pf_broker_t *p)
{
	char *log = mqbt_read_file(p->b.log_path, NULL);

	fprintf(stderr, "---- mosquitto log (%s) ----\n%s\n----\n", p->b.log_path,
		log ? log : "(none)");
	free(log);
}

static inline void pf_destroy(pf_broker_t *p)
{
	if (p->b.pid > 0 || p->b.dir[0])
		mqbt_mosquitto_destroy(&p->b);
	if (p->dir[0])
		mqbt_rmrf(p->dir);
	memset(p, 0, sizeof *p);
}

/* --- a publisher that keeps every acknowledgement's reason code ------------------- */

typedef struct pf_pub {
	struct mosquitto *mosq;
	atomic_int connected;
	atomic_long acked;
	atomic_long disconnects;
	_Atomic int rc_of_mid[65536];   /* -1 not acked yet, else the reason code */
} pf_pub_t;

static inline void pf_on_connect(struct mosquitto *m, void *o, int rc, int f,
				 const mosquitto_property *pr)
{
	pf_pub_t *pub = o;
	(void)m; (void)f; (void)pr;
	if (rc == 0)
		atomic_store(&pub->connected, 1);
}

static inline void pf_on_publish(struct mosquitto *m, void *o, int mid, int rc,
				 const mosquitto_property *pr)
{
	pf_pub_t *pub = o;
	(void)m; (void)pr;
	if (mid > 0 && mid < 65536)
		atomic_store(&pub->rc_of_mid[mid], rc);
	atomic_fetch_add(&pub->acked, 1);
}

static inline void pf_on_disconnect(struct mosquitto *m, void *o, int rc,
				    const mosquitto_property *pr)
{
	pf_pub_t *pub = o;
	(void)m; (void)rc; (void)pr;
	atomic_store(&pub->connected, 0);
	atomic_fetch_add(&pub->disconnects, 1);
}

/* malloc'd publisher connected (MQTT 5 when v5) with its network thread. NULL: failed. */
static inline pf_pub_t *pf_pub_start(int port, const char *client_id, bool v5, bool clean)
{
	pf_pub_t *pub = calloc(1, sizeof *pub);

	if (!pub)
		return NULL;
	for (int i = 0; i < 65536; i++)
		atomic_init(&pub->rc_of_mid[i], -1);
	mosquitto_lib_init();
	pub->mosq = mosquitto_new(client_id, clean, pub);
	if (!pub->mosq)
		goto error;
	mosquitto_int_option(pub->mosq, MOSQ_OPT_PROTOCOL_VERSION,
			     v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
	mosquitto_max_inflight_messages_set(pub->mosq, 100);
	mosquitto_connect_v5_callback_set(pub->mosq, pf_on_connect);
	mosquitto_publish_v5_callback_set(pub->mosq, pf_on_publish);
	mosquitto_disconnect_v5_callback_set(pub->mosq, pf_on_disconnect);
	mosquitto_reconnect_delay_set(pub->mosq, 1, 1, false);
	if (mosquitto_connect(pub->mosq, "127.0.0.1", port, 30) != MOSQ_ERR_SUCCESS ||
	    mosquitto_loop_start(pub->mosq) != MOSQ_ERR_SUCCESS)
		goto error;
	for (int i = 0; i < 500 && !atomic_load(&pub->connected); i++)
		mqbt_sleep_ms(10);
	if (atomic_load(&pub->connected))
		return pub;
error:
	if (pub->mosq)
		mosquitto_destroy(pub->mosq);
	free(pub);
	return NULL;
}

/* Publish (user_props: NULL or name/value pairs, NULL-terminated). The mid in *mid. */
static inline int pf_pub_send(pf_pub_t *pub, const char *topic, const void *payload,
			      size_t len, int qos, const char *const *user_props, int *mid)
{
	mosquitto_property *props = NULL;
	int rc = MOSQ_ERR_NO_CONN, m = 0;

	for (size_t i = 0; user_props && user_props[i]; i += 2)
		mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY,
						   user_props[i], user_props[i + 1]);
	for (int tries = 0; tries < 2000; tries++) {
		rc = mosquitto_publish_v5(pub->mosq, &m, topic, (int)len, payload, qos, false,
					  props);
		if (rc != MOSQ_ERR_NO_CONN && rc != MOSQ_ERR_OVERSIZE_PACKET)
			break;
		mqbt_sleep_ms(5);
	}
	mosquitto_property_free_all(&props);
	if (mid)
		*mid = m;
	return rc == MOSQ_ERR_SUCCESS ? 0 : -1;
}

static inline int pf_pub_wait_acked(pf_pub_t *pub, long n, int timeout_ms)
{
	int64_t dl = mqbt_now_ms() + timeout_ms;

	while (atomic_load(&pub->acked) < n && mqbt_now_ms() < dl)
		mqbt_sleep_ms(5);
	return atomic_load(&pub->acked) >= n ? 0 : -1;
}

static inline void pf_pub_stop(pf_pub_t *pub)
{
	if (!pub)
		return;
	mosquitto_disconnect(pub->mosq);
	mosquitto_loop_stop(pub->mosq, false);
	mosquitto_destroy(pub->mosq);
	free(pub);
}

/* --- a paced QoS 1 load that knows which message each acknowledgement is for ------ */

struct pf_load {
	struct mosquitto *mosq;
	pthread_mutex_t mu;
	int idx_of_mid[65536];
	unsigned char *acked;     /* per message index */
	atomic_int n;             /* published so far */
	atomic_long nacked;
	atomic_int connected;
	atomic_bool stop;
	atomic_long disconnects;
	int max_msgs, per_10ms, max_unacked, qos;
	const char *topic_prefix; /* topic = prefix + "k" + (i % 16) */
	size_t payload_len;       /* payload "i:" padded with 'p' to this length (>= 16) */
	int64_t up_ms;            /* time the broker was up while loading */
	long acked_while_up;
};

static inline void pf_load_on_publish(struct mosquitto *m, void *o, int mid, int rc,
		       const mosquitto_property *p)
{
	struct pf_load *l = o;
	(void)m; (void)rc; (void)p;
	pthread_mutex_lock(&l->mu);
	if (mid > 0 && mid < 65536 && l->idx_of_mid[mid] >= 0) {
		l->acked[l->idx_of_mid[mid]] = 1;
		l->idx_of_mid[mid] = -1;
		atomic_fetch_add(&l->nacked, 1);
	}
	pthread_mutex_unlock(&l->mu);
}

static inline void pf_load_on_connect(struct mosquitto *m, void *o, int rc, int f, const mosquitto_property *p)
{
	struct pf_load *l = o;
	(void)m; (void)f; (void)p;
	if (rc == 0)
		atomic_store(&l->connected, 1);
}

static inline void pf_load_on_disconnect(struct mosquitto *m, void *o, int rc, const mosquitto_property *p)
{
	struct pf_load *l = o;
	(void)m; (void)rc; (void)p;
	atomic_store(&l->connected, 0);
	atomic_fetch_add(&l->disconnects, 1);
}

static inline void *pf_load_thread(void *arg)
{
	struct pf_load *l = arg;
	char topic[128], payload[4096];
	int64_t next = mqbt_now_ms();

	while (!atomic_load(&l->stop) && atomic_load(&l->n) < l->max_msgs) {
		for (int k = 0; k < l->per_10ms && atomic_load(&l->n) < l->max_msgs; k++) {
			int i = atomic_load(&l->n), mid = 0, rc, len;

			/* a bounded number unacknowledged: the publisher waits while the broker is
			 * down or refusing */
			while (i - atomic_load(&l->nacked) > l->max_unacked && !atomic_load(&l->stop))
				mqbt_sleep_ms(1);
			if (atomic_load(&l->stop))
				break;
			snprintf(topic, sizeof topic, "%sk%d", l->topic_prefix, i % 16);
			len = snprintf(payload, sizeof payload, "%d:", i);
			if (l->payload_len > (size_t)len && l->payload_len < sizeof payload) {
				memset(payload + len, 'p', l->payload_len - (size_t)len);
				len = (int)l->payload_len;
			}
			pthread_mutex_lock(&l->mu);
			rc = mosquitto_publish_v5(l->mosq, &mid, topic, len, payload, l->qos,
						  false, NULL);
			if (rc == MOSQ_ERR_SUCCESS && mid > 0 && mid < 65536)
				l->idx_of_mid[mid] = i;
			pthread_mutex_unlock(&l->mu);
			if (rc != MOSQ_ERR_SUCCESS) {
				mqbt_sleep_ms(5);   /* not connected: try the same message again */
				k--;
				continue;
			}
			atomic_store(&l->n, i + 1);
		}
		next += 10;
		if (next > mqbt_now_ms())
			mqbt_sleep_ms((int)(next - mqbt_now_ms()));
		else if (next < mqbt_now_ms() - 100)
			next = mqbt_now_ms();   /* do not burst to catch up after an outage */
	}
	return NULL;
}

/* A load publisher connected to port (MQTT 3.1.1; max_msgs, per_10ms, max_unacked, qos,
 * topic_prefix and payload_len set by the caller before pf_load_connect). 0 ok. */
static inline int pf_load_connect(struct pf_load *l, int port, const char *client_id)
{
	l->acked = calloc((size_t)l->max_msgs, 1);
	if (!l->acked)
		return -1;
	pthread_mutex_init(&l->mu, NULL);
	for (int i = 0; i < 65536; i++)
		l->idx_of_mid[i] = -1;
	mosquitto_lib_init();
	l->mosq = mosquitto_new(client_id, true, l);
	if (!l->mosq)
		return -1;
	mosquitto_int_option(l->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
	mosquitto_max_inflight_messages_set(l->mosq, 100);
	mosquitto_connect_v5_callback_set(l->mosq, pf_load_on_connect);
	mosquitto_publish_v5_callback_set(l->mosq, pf_load_on_publish);
	mosquitto_disconnect_v5_callback_set(l->mosq, pf_load_on_disconnect);
	mosquitto_reconnect_delay_set(l->mosq, 1, 1, false);
	if (mosquitto_connect(l->mosq, "127.0.0.1", port, 30) != MOSQ_ERR_SUCCESS ||
	    mosquitto_loop_start(l->mosq) != MOSQ_ERR_SUCCESS)
		return -1;
	for (int i = 0; i < 500 && !atomic_load(&l->connected); i++)
		mqbt_sleep_ms(10);
	return atomic_load(&l->connected) ? 0 : -1;
}

/* Wait until the acknowledgements stop moving (or all n arrived), up to timeout_ms. */
static inline void pf_load_settle(struct pf_load *l, int timeout_ms)
{
	long prev = -1;

	for (int t = 0; t < timeout_ms / 200; t++) {
		mqbt_sleep_ms(200);
		if (atomic_load(&l->nacked) >= atomic_load(&l->n))
			break;
		if (atomic_load(&l->nacked) == prev && t > 25)
			break;
		prev = atomic_load(&l->nacked);
	}
}

static inline void pf_load_close(struct pf_load *l)
{
	if (l->mosq) {
		mosquitto_disconnect(l->mosq);
		mosquitto_loop_stop(l->mosq, false);
		mosquitto_destroy(l->mosq);
		l->mosq = NULL;
	}
}

static inline void pf_load_free(struct pf_load *l)
{
	pf_load_close(l);
	free(l->acked);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

#endif
