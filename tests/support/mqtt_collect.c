/*
 * mqtt_collect.c — the collecting MQTT subscriber of mqtt_collect.h.
 */
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/harness.h"
#include "tests/support/mqtt_collect.h"

struct mqbt_collect {
	struct mosquitto *mosq;
	char *filter;
	int qos;
	atomic_int subscribed;
	pthread_mutex_t lock;
	mqbt_msg_t *v;
	size_t n, cap;
	int64_t first_ms, last_ms;   /* arrival of the first / last message (-1: none) */
};

static void on_connect(struct mosquitto *m, void *o, int rc, int f, const mosquitto_property *p)
{
	mqbt_collect_t *c = o;
	(void)f; (void)p;
	if (rc == 0)
		mosquitto_subscribe_v5(m, NULL, c->filter, c->qos, 0, NULL);
}

static void on_subscribe(struct mosquitto *m, void *o, int mid, int n, const int *granted,
			 const mosquitto_property *p)
{
	mqbt_collect_t *c = o;
	(void)m; (void)mid; (void)p;
	if (n > 0 && granted[0] < 0x80)
		atomic_store(&c->subscribed, 1);
}

static void copy_props(mqbt_msg_t *x, const mosquitto_property *props)
{
	const mosquitto_property *p;
	char *name, *value;
	size_t n = 0;
	for (p = props; p; p = mosquitto_property_next(p))
		if (mosquitto_property_identifier(p) == MQTT_PROP_USER_PROPERTY)
			n++;
	x->props = calloc(n * 2 + 1, sizeof(char *));
	for (p = props; p && x->props; p = mosquitto_property_next(p)) {
		if (mosquitto_property_identifier(p) != MQTT_PROP_USER_PROPERTY)
			continue;
		if (mosquitto_property_read_string_pair(p, MQTT_PROP_USER_PROPERTY, &name, &value,
							false)) {
			x->props[x->nprops * 2] = name;
			x->props[x->nprops * 2 + 1] = value;
			x->nprops++;
		}
	}
}

static void on_message(struct mosquitto *m, void *o, const struct mosquitto_message *msg,
		       const mosquitto_property *props)
{
	mqbt_collect_t *c = o;
	mqbt_msg_t x = { 0 };
	(void)m;
	x.topic = strdup(msg->topic);
	x.payload = malloc((size_t)msg->payloadlen + 1);
	if (x.payload) {
		memcpy(x.payload, msg->payload, (size_t)msg->payloadlen);
		x.payload[msg->payloadlen] = '\0';
	}
	x.payload_len = (size_t)msg->payloadlen;
	copy_props(&x, props);
	pthread_mutex_lock(&c->lock);
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 1024;
		mqbt_msg_t *v = realloc(c->v, cap * sizeof(*v));
		if (!v)
			abort();
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n++] = x;
	c->last_ms = mqbt_now_ms();
	if (c->first_ms < 0)
		c->first_ms = c->last_ms;
	pthread_mutex_unlock(&c->lock);
}

mqbt_collect_t *mqbt_collect_start(int port, const char *client_id, const char *filter, int qos)
{
	mqbt_collect_t *c = calloc(1, sizeof(*c));
	mosquitto_property *cp = NULL;
	if (!c)
		return NULL;
	pthread_mutex_init(&c->lock, NULL);
	c->first_ms = c->last_ms = -1;
	c->filter = strdup(filter);
	c->qos = qos;
	mosquitto_lib_init();
	c->mosq = mosquitto_new(client_id, false, c);
	if (!c->mosq)
		goto fail;
	mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
	mosquitto_connect_v5_callback_set(c->mosq, on_connect);
	mosquitto_subscribe_v5_callback_set(c->mosq, on_subscribe);
	mosquitto_message_v5_callback_set(c->mosq, on_message);
	mosquitto_reconnect_delay_set(c->mosq, 1, 1, false);
	mosquitto_property_add_int32(&cp, MQTT_PROP_SESSION_EXPIRY_INTERVAL, 3600);
	int rc = mosquitto_connect_bind_v5(c->mosq, "127.0.0.1", port, 30, NULL, cp);
	mosquitto_property_free_all(&cp);
	if (rc != MOSQ_ERR_SUCCESS || mosquitto_loop_start(c->mosq) != MOSQ_ERR_SUCCESS)
		goto fail;
	for (int i = 0; i < 1000 && !atomic_load(&c->subscribed); i++)
		mqbt_sleep_ms(10);
	if (atomic_load(&c->subscribed))
		return c;
fail:
	mqbt_collect_stop(c);
	return NULL;
}

void mqbt_collect_free_msgs(mqbt_msg_t *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].topic);
		free(v[i].payload);
		for (size_t j = 0; v[i].props && j < v[i].nprops * 2; j++)
			free(v[i].props[j]);
		free(v[i].props);
	}
	free(v);
}

void mqbt_collect_stop(mqbt_collect_t *c)
{
	if (!c)
		return;
	if (c->mosq) {
		mosquitto_disconnect(c->mosq);
		mosquitto_loop_stop(c->mosq, true);
		mosquitto_destroy(c->mosq);
	}
	mqbt_collect_free_msgs(c->v, c->n);
	free(c->filter);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void mqbt_collect_clear(mqbt_collect_t *c)
{
	pthread_mutex_lock(&c->lock);
	mqbt_collect_free_msgs(c->v, c->n);
	c->v = NULL;
	c->n = c->cap = 0;
	c->first_ms = c->last_ms = -1;
	pthread_mutex_unlock(&c->lock);
}

void mqbt_collect_times(mqbt_collect_t *c, int64_t *first_ms, int64_t *last_ms)
{
	pthread_mutex_lock(&c->lock);
	*first_ms = c->first_ms;
	*last_ms = c->last_ms;
	pthread_mutex_unlock(&c->lock);
}

size_t mqbt_collect_count(mqbt_collect_t *c)
{
	pthread_mutex_lock(&c->lock);
	size_t n = c->n;
	pthread_mutex_unlock(&c->lock);
	return n;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

mqbt_msg_t *mqbt_collect_snapshot(mqbt_collect_t *c, size_t *n)
{
	pthread_mutex_lock(&c->lock);
	mqbt_msg_t *v = calloc(c->n + 1, sizeof(*v));
	for (size_t i = 0; v && i < c->n; i++) {
		const mqbt_msg_t *s = &c->v[i];
		v[i].topic = dup_or_null(s->topic);
		v[i].payload = dup_or_null(s->payload);
		v[i].payload_len = s->payload_len;
		v[i].nprops = s->nprops;
		v[i].props = calloc(s->nprops * 2 + 1, sizeof(char *));
		for (size_t j = 0; v[i].props && j < s->nprops * 2; j++)
			v[i].props[j] = dup_or_null(s->props[j]);
	}
	*n = v ? c->n : 0;
	pthread_mutex_unlock(&c->lock);
	return v;
}

const char *mqbt_msg_prop(const mqbt_msg_t *m, const char *name)
{
	for (size_t i = 0; i < m->nprops; i++)
		if (strcmp(m->props[i * 2], name) == 0)
			return m->props[i * 2 + 1];
	return NULL;
}
