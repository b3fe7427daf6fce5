/*
 * session_msg.c — a PUBLISH received: libmosquitto's message and MQTT 5 properties
 * turned into an mqb_mqtt_msg_t for the owner's on_message (see session.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/logging.h"
#include "connectors/mqtt/session.h"
#include "connectors/mqtt/session_int.h"

static int session_props_reserve(mqb_mqtt_session_t *s, size_t n)
{
	mqb_mqtt_userprop_t *np;
	size_t cap;

	if (n <= s->props_cap)
		return 0;
	cap = s->props_cap ? s->props_cap * 2 : SESSION_PROPS_INLINE;
	while (cap < n)
		cap *= 2;
	np = realloc(s->props, cap * sizeof *np);
	if (!np)
		return -1;
	s->props = np;
	s->props_cap = cap;
	return 0;
}

void mqb_mqtt__on_message(struct mosquitto *mosq, void *obj,
			       const struct mosquitto_message *m,
			       const mosquitto_property *props)
{
	mqb_mqtt_session_t *s = obj;
	mqb_mqtt_msg_t msg;
	const mosquitto_property *p;
	char *ctype = NULL, *rtopic = NULL;
	void *corr = NULL;
	uint16_t corr_len = 0;
	size_t nup = 0, i;
	uint32_t sub_ids[8];
	size_t nsid = 0;
	int saved_errno = errno;   /* run() reads errno after loop_read to see EAGAIN */

	(void)mosq;
	memset(&msg, 0, sizeof msg);
	msg.arrival_ms = mqb_now_ms();
	msg.topic = m->topic;
	msg.payload = m->payload;
	msg.payload_len = m->payloadlen > 0 ? (size_t)m->payloadlen : 0;
	msg.qos = m->qos;
	msg.retain = m->retain;
	msg.mid = m->mid;

	for (p = props; p; p = mosquitto_property_next(p)) {
		int id = mosquitto_property_identifier(p);

		if (id == MQTT_PROP_CONTENT_TYPE && !ctype) {
			mosquitto_property_read_string(p, id, &ctype, false);
		} else if (id == MQTT_PROP_RESPONSE_TOPIC && !rtopic) {
			mosquitto_property_read_string(p, id, &rtopic, false);
		} else if (id == MQTT_PROP_CORRELATION_DATA && !corr) {
			mosquitto_property_read_binary(p, id, &corr, &corr_len, false);
		} else if (id == MQTT_PROP_SUBSCRIPTION_IDENTIFIER && nsid < 8) {
			if (mosquitto_property_read_varint(p, id, &sub_ids[nsid], false))
				nsid++;
		} else if (id == MQTT_PROP_USER_PROPERTY) {
			char *n = NULL, *v = NULL;

			if (session_props_reserve(s, nup + 1) != 0 ||
			    !mosquitto_property_read_string_pair(p, id, &n, &v, false)) {
				free(n);
				free(v);
				MQB_LOG_RATELIMITED(MQB_LOG_WARN, s->log_name, 10000,
						    "dropping a user property of a message on %s "
						    "(out of memory)", m->topic);
				continue;
			}
			s->props[nup].name = n;
			s->props[nup].value = v;
			nup++;
		}
	}
	msg.content_type = ctype;
	msg.response_topic = rtopic;
	msg.correlation_data = corr;
	msg.correlation_len = corr ? corr_len : 0;
	msg.user_props = nup ? s->props : NULL;
	msg.user_prop_count = nup;
	msg.sub_ids = nsid ? sub_ids : NULL;
	msg.sub_id_count = nsid;

	if (m->qos > s->burst_qos_max)
		s->burst_qos_max = m->qos;
	atomic_fetch_add_explicit(&s->msgs_in, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->bytes_in, msg.payload_len, memory_order_relaxed);
	if (s->cb.on_message)
		s->cb.on_message(s->cb.arg, &msg);

	for (i = 0; i < nup; i++) {
		free((char *)s->props[i].name);
		free((char *)s->props[i].value);
	}
	free(ctype);
	free(rtopic);
	free(corr);
	errno = saved_errno;
}
