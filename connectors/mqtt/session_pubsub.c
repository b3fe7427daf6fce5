/*
 * session_pubsub.c — the subscription set (kept and re-sent after every reconnect)
 * and publishing with MQTT 5 properties (see session.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/logging.h"
#include "connectors/mqtt/session.h"
#include "connectors/mqtt/session_int.h"

static int session_sub_options(const mqb_mqtt_session_t *s, int flags)
{
	int o = 0;

	if (s->protocol != 5)
		return 0;
	if (flags & MQB_MQTT_SUB_NO_LOCAL)
		o |= MQTT_SUB_OPT_NO_LOCAL;
	if (flags & MQB_MQTT_SUB_RETAIN_AS_PUB)
		o |= MQTT_SUB_OPT_RETAIN_AS_PUBLISHED;
	if (flags & MQB_MQTT_SUB_RETAIN_NEVER)
		o |= MQTT_SUB_OPT_SEND_RETAIN_NEVER;
	else if (flags & MQB_MQTT_SUB_RETAIN_NEW_ONLY)
		o |= MQTT_SUB_OPT_SEND_RETAIN_NEW;
	return o;
}

int mqb_mqtt__send_sub(mqb_mqtt_session_t *s, struct session_sub *sub)
{
	mosquitto_property *props = NULL;
	int mid = 0;
	int rc;

	if (sub->sub_id && s->protocol == 5)
		mosquitto_property_add_varint(&props, MQTT_PROP_SUBSCRIPTION_IDENTIFIER,
					      sub->sub_id);
	rc = mosquitto_subscribe_v5(s->mosq, &mid, sub->filter, sub->qos,
				    session_sub_options(s, sub->flags), props);
	mosquitto_property_free_all(&props);

	if (rc != MOSQ_ERR_SUCCESS) {
		mqb_mqtt__set_error(s, "subscribe %s: %s", sub->filter, mqb_mqtt__mosq_err(rc));
		mqb_warn(s->log_name, "subscribe %s failed: %s", sub->filter,
			 mqb_mqtt__mosq_err(rc));
		return mqb_mqtt__map_err(rc);
	}
	sub->mid = mid;
	sub->acked = false;
	return MQB_OK;
}

/* --- subscriptions and publishing ------------------------------------------------ */

int mqb_mqtt_session_subscribe(mqb_mqtt_session_t *s, const char *filter, int qos, int flags)
{
	return mqb_mqtt_session_subscribe_id(s, filter, qos, flags, 0);
}

int mqb_mqtt_session_subscribe_id(mqb_mqtt_session_t *s, const char *filter, int qos,
				  int flags, uint32_t sub_id)
{
	struct session_sub *sub = NULL;
	size_t i;

	if (!s || !filter || qos < 0 || qos > 2 || sub_id > 268435455u)
		return MQB_ERR_INVAL;
	if (mosquitto_sub_topic_check(filter) != MOSQ_ERR_SUCCESS)
		return MQB_ERR_INVAL;
	for (i = 0; i < s->nsubs; i++)
		if (strcmp(s->subs[i].filter, filter) == 0)
			sub = &s->subs[i];
	if (!sub) {
		if (s->nsubs == s->subs_cap) {
			size_t cap = s->subs_cap ? s->subs_cap * 2 : 8;
			struct session_sub *ns = realloc(s->subs, cap * sizeof *ns);

			if (!ns)
				return MQB_ERR_NOMEM;
			s->subs = ns;
			s->subs_cap = cap;
		}
		sub = &s->subs[s->nsubs];
		memset(sub, 0, sizeof *sub);
		sub->filter = strdup(filter);
		if (!sub->filter)
			return MQB_ERR_NOMEM;
		s->nsubs++;
	}
	sub->qos = qos;
	sub->flags = flags;
	sub->sub_id = sub_id;
	sub->acked = false;
	if (atomic_load(&s->state) == MQB_MQTT_CONNECTED)
		return mqb_mqtt__send_sub(s, sub);
	return MQB_OK;
}

int mqb_mqtt_session_unsubscribe(mqb_mqtt_session_t *s, const char *filter)
{
	return mqb_mqtt_session_unsubscribe_mid(s, filter, NULL);
}

int mqb_mqtt_session_unsubscribe_mid(mqb_mqtt_session_t *s, const char *filter, int *mid)
{
	size_t i;

	if (mid)
		*mid = 0;
	if (!s || !filter)
		return MQB_ERR_INVAL;
	for (i = 0; i < s->nsubs; i++) {
		if (strcmp(s->subs[i].filter, filter) != 0)
			continue;
		if (atomic_load(&s->state) == MQB_MQTT_CONNECTED &&
		    mosquitto_unsubscribe(s->mosq, mid, filter) != MOSQ_ERR_SUCCESS && mid)
			*mid = 0;  /* not sent: no UNSUBACK to wait for */
		free(s->subs[i].filter);
		s->subs[i] = s->subs[s->nsubs - 1];
		s->nsubs--;
		return MQB_OK;
	}
	return MQB_ERR_NOTFOUND;
}

bool mqb_mqtt_session_subscribed(const mqb_mqtt_session_t *s)
{
	size_t i;

	if (!s || atomic_load(&s->state) != MQB_MQTT_CONNECTED)
		return false;
	for (i = 0; i < s->nsubs; i++)
		if (!s->subs[i].acked)
			return false;
	return true;
}

int mqb_mqtt_session_publish(mqb_mqtt_session_t *s, const char *topic,
			     const void *payload, size_t len, int qos, bool retain,
			     const mqb_mqtt_pubprops_t *pp, int *mid)
{
	mosquitto_property *props = NULL;
	int rc = MOSQ_ERR_SUCCESS;
	size_t i;

	if (!s || !topic || qos < 0 || qos > 2 || (len && !payload))
		return MQB_ERR_INVAL;
	if (len > 268435455u)
		return MQB_ERR_TOOBIG;
	if (s->closed)
		return MQB_ERR_CLOSED;
	if (pp && s->protocol == 5) {
		for (i = 0; i < pp->user_prop_count && rc == MOSQ_ERR_SUCCESS; i++)
			rc = mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY,
								pp->user_props[i].name,
								pp->user_props[i].value);
		if (rc == MOSQ_ERR_SUCCESS && pp->content_type)
			rc = mosquitto_property_add_string(&props, MQTT_PROP_CONTENT_TYPE,
							   pp->content_type);
		if (rc == MOSQ_ERR_SUCCESS && pp->response_topic)
			rc = mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC,
							   pp->response_topic);
		if (rc == MOSQ_ERR_SUCCESS && pp->correlation_data) {
			if (pp->correlation_len > 65535)
				rc = MOSQ_ERR_INVAL;
			else
				rc = mosquitto_property_add_binary(&props,
								   MQTT_PROP_CORRELATION_DATA,
								   pp->correlation_data,
								   (uint16_t)pp->correlation_len);
		}
		if (rc == MOSQ_ERR_SUCCESS && pp->message_expiry_s > 0)
			rc = mosquitto_property_add_int32(&props, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL,
							  (uint32_t)(pp->message_expiry_s > 0xffffffffLL
								     ? 0xffffffffLL
								     : pp->message_expiry_s));
		if (rc != MOSQ_ERR_SUCCESS)
			goto out;
	}
	rc = mosquitto_publish_v5(s->mosq, mid, topic, (int)len, payload, qos, retain, props);
	if (rc == MOSQ_ERR_SUCCESS)
		atomic_fetch_add_explicit(&s->msgs_out, 1, memory_order_relaxed);
out:
	mosquitto_property_free_all(&props);
	return mqb_mqtt__map_err(rc);
}

void mqb_mqtt_session_cork(mqb_mqtt_session_t *s, bool on)
{
	int v = on ? 1 : 0;
	int fd = s && !s->closed ? mosquitto_socket(s->mosq) : -1;

	if (fd >= 0 && setsockopt(fd, IPPROTO_TCP, TCP_CORK, &v, sizeof(v)) != 0)
		MQB_LOG_RATELIMITED(MQB_LOG_DEBUG, s->log_name, 60000, "TCP_CORK: %s",
				    strerror(errno));
}
