/*
 * session.c — libmosquitto client driven by the owner's poll loop (see session.h).
 */
#include "connectors/mqtt/session.h"

#include <errno.h>
#include <stdarg.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/logging.h"

#define SESSION_PROPS_INLINE 16
#define SESSION_STABLE_MS 10000   /* a connection this old resets the backoff */

struct session_sub {
	char *filter;
	int qos, flags;
	uint32_t sub_id;             /* MQTT 5 subscription identifier, 0: none */
	int mid;                     /* of the SUBSCRIBE in flight, 0 when none */
	bool acked;                  /* granted on the current connection */
};

struct mqb_mqtt_session {
	struct mosquitto *mosq;
	char *host, *client_id, *log_name;
	int port, keepalive, protocol;
	bool clean_start;
	int64_t session_expiry_s;
	int64_t backoff_min_ms, backoff_max_ms, backoff_ms;
	int max_inflight;
	mqb_mqtt_callbacks_t cb;
	int max_burst, max_burst_qos0;
	int burst_linger_us;
	int burst_qos_max;           /* highest QoS read in the current burst */
	int wake_fd;

	struct session_sub *subs;
	size_t nsubs, subs_cap;

	bool started;                /* connect() called */
	bool ever_tried;             /* the first connect call was made */
	bool closed;
	int64_t next_attempt_ms;     /* monotonic */
	int64_t connected_mono_ms;   /* when the current connection got its CONNACK */
	uint32_t rng;

	/* reused per message: user properties of the message being delivered */
	mqb_mqtt_userprop_t *props;
	size_t props_cap;

	/* shared with other threads (stats) */
	_Atomic int state;
	atomic_bool paused;
	_Atomic uint64_t connects, attempts, disconnects, msgs_in, bytes_in, msgs_out, subacks;
	_Atomic int64_t connected_since_ms;
	pthread_mutex_t err_lock;
	char last_error[160];
};

static pthread_once_t session_lib_once = PTHREAD_ONCE_INIT;

static void session_lib_init(void)
{
	mosquitto_lib_init();
}

static void session_set_error(mqb_mqtt_session_t *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void session_set_error(mqb_mqtt_session_t *s, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&s->err_lock);
	va_start(ap, fmt);
	vsnprintf(s->last_error, sizeof s->last_error, fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&s->err_lock);
}

static const char *session_mosq_err(int rc)
{
	if (rc == MOSQ_ERR_ERRNO)
		return strerror(errno);
	return mosquitto_strerror(rc);
}

static int session_map_err(int rc)
{
	switch (rc) {
	case MOSQ_ERR_SUCCESS: return MQB_OK;
	case MOSQ_ERR_NOMEM: return MQB_ERR_NOMEM;
	case MOSQ_ERR_NO_CONN:
	case MOSQ_ERR_CONN_LOST:
	case MOSQ_ERR_CONN_REFUSED:
	case MOSQ_ERR_KEEPALIVE:
	case MOSQ_ERR_ERRNO:
	case MOSQ_ERR_EAI:
	case MOSQ_ERR_LOOKUP:
	case MOSQ_ERR_TLS:
	case MOSQ_ERR_TLS_HANDSHAKE: return MQB_ERR_CONN;
	case MOSQ_ERR_PAYLOAD_SIZE:
	case MOSQ_ERR_OVERSIZE_PACKET: return MQB_ERR_TOOBIG;
	case MOSQ_ERR_AUTH:
	case MOSQ_ERR_ACL_DENIED: return MQB_ERR_PERM;
	case MOSQ_ERR_PROTOCOL:
	case MOSQ_ERR_MALFORMED_PACKET: return MQB_ERR_PROTO;
	default: return MQB_ERR_INVAL;
	}
}

static uint32_t session_rand(mqb_mqtt_session_t *s)
{
	/* xorshift32: jitter only, not security */
	uint32_t x = s->rng;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	s->rng = x ? x : 0x9e3779b9u;
	return s->rng;
}

/* Schedule the next connect attempt: backoff/2 + random(0..backoff/2), then double. */
static void session_schedule_retry(mqb_mqtt_session_t *s)
{
	int64_t half = s->backoff_ms / 2;
	int64_t delay = half + (int64_t)(session_rand(s) % (uint32_t)(half + 1));

	s->next_attempt_ms = mqb_mono_ms() + delay;
	s->backoff_ms *= 2;
	if (s->backoff_ms > s->backoff_max_ms)
		s->backoff_ms = s->backoff_max_ms;
	atomic_store(&s->state, MQB_MQTT_DISCONNECTED);
	mqb_debug(s->log_name, "next connect attempt in %lld ms", (long long)delay);
}

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

static int session_send_sub(mqb_mqtt_session_t *s, struct session_sub *sub)
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
		session_set_error(s, "subscribe %s: %s", sub->filter, session_mosq_err(rc));
		mqb_warn(s->log_name, "subscribe %s failed: %s", sub->filter,
			 session_mosq_err(rc));
		return session_map_err(rc);
	}
	sub->mid = mid;
	sub->acked = false;
	return MQB_OK;
}

/* --- libmosquitto callbacks (run inside loop_read/loop_write on the owner thread) --- */

static void session_on_connect(struct mosquitto *mosq, void *obj, int rc, int flags,
			       const mosquitto_property *props)
{
	mqb_mqtt_session_t *s = obj;
	size_t i;

	(void)mosq; (void)props;
	if (rc != 0) {
		const char *why = s->protocol == 5 ? mosquitto_reason_string(rc)
						   : mosquitto_connack_string(rc);
		session_set_error(s, "connection refused: %s", why);
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, s->log_name, 10000,
				    "broker %s:%d refused the connection: %s",
				    s->host, s->port, why);
		return;  /* libmosquitto closes the socket; run() schedules the retry */
	}
	atomic_store(&s->state, MQB_MQTT_CONNECTED);
	atomic_fetch_add(&s->connects, 1);
	atomic_store(&s->connected_since_ms, mqb_now_ms());
	s->connected_mono_ms = mqb_mono_ms();
	mqb_info(s->log_name, "connected to %s:%d as %s (MQTT %s, session %s)",
		 s->host, s->port, s->client_id, s->protocol == 5 ? "5" : "3.1.1",
		 (flags & 1) ? "present" : "new");
	for (i = 0; i < s->nsubs; i++)
		session_send_sub(s, &s->subs[i]);
	if (s->cb.on_connect)
		s->cb.on_connect(s->cb.arg, (flags & 1) != 0);
}

static void session_on_disconnect(struct mosquitto *mosq, void *obj, int rc,
				  const mosquitto_property *props)
{
	mqb_mqtt_session_t *s = obj;
	size_t i;

	(void)mosq; (void)props;
	if (atomic_load(&s->state) == MQB_MQTT_CONNECTED) {
		atomic_fetch_add(&s->disconnects, 1);
		/* A connection that lasted resets the backoff; one that drops at once
		 * (refused session, protocol trouble) keeps doubling it: no hot loop. */
		if (mqb_mono_ms() - s->connected_mono_ms >= SESSION_STABLE_MS)
			s->backoff_ms = s->backoff_min_ms;
		if (rc != 0) {
			session_set_error(s, "connection lost: %s", mosquitto_strerror(rc));
			MQB_LOG_RATELIMITED(MQB_LOG_WARN, s->log_name, 5000,
					    "connection to %s:%d lost: %s", s->host, s->port,
					    mosquitto_strerror(rc));
		}
	}
	atomic_store(&s->connected_since_ms, 0);
	for (i = 0; i < s->nsubs; i++) {
		s->subs[i].acked = false;
		s->subs[i].mid = 0;
	}
	if (!s->closed)
		session_schedule_retry(s);
	if (s->cb.on_disconnect)
		s->cb.on_disconnect(s->cb.arg, rc);
}

static void session_on_subscribe(struct mosquitto *mosq, void *obj, int mid, int qos_count,
				 const int *granted, const mosquitto_property *props)
{
	mqb_mqtt_session_t *s = obj;
	size_t i;

	(void)mosq; (void)props;
	atomic_fetch_add(&s->subacks, 1);
	for (i = 0; i < s->nsubs; i++) {
		struct session_sub *sub = &s->subs[i];
		int g;

		if (sub->mid != mid)
			continue;
		g = qos_count > 0 ? granted[0] : 0x80;
		sub->mid = 0;
		if (g >= 0x80) {
			session_set_error(s, "subscription to %s refused (0x%02x)", sub->filter, g);
			mqb_error(s->log_name, "broker refused subscription to %s (reason 0x%02x)",
				  sub->filter, g);
		} else {
			sub->acked = true;
			if (g < sub->qos)
				mqb_warn(s->log_name, "subscription %s granted QoS %d (asked %d)",
					 sub->filter, g, sub->qos);
		}
		if (s->cb.on_subscribe)
			s->cb.on_subscribe(s->cb.arg, sub->filter, g);
		return;
	}
}

static void session_on_publish(struct mosquitto *mosq, void *obj, int mid, int reason,
			       const mosquitto_property *props)
{
	mqb_mqtt_session_t *s = obj;

	(void)mosq; (void)props;
	if (reason >= 0x80)
		mqb_warn(s->log_name, "publish mid %d rejected by broker: %s", mid,
			 mosquitto_reason_string(reason));
	if (s->cb.on_publish)
		s->cb.on_publish(s->cb.arg, mid);
}

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

static void session_on_message(struct mosquitto *mosq, void *obj,
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

static void session_on_log(struct mosquitto *mosq, void *obj, int level, const char *str)
{
	mqb_mqtt_session_t *s = obj;

	(void)mosq;
	if (level & (MOSQ_LOG_ERR))
		mqb_debug(s->log_name, "libmosquitto: %s", str);
}

/* --- construction ---------------------------------------------------------------- */

static char *session_read_password(const char *path, char *errstr, size_t errstr_size)
{
	FILE *f = fopen(path, "r");
	char buf[1024];
	char *pw = NULL;
	size_t n;

	if (!f) {
		mqb_errstr_set(errstr, errstr_size, "mqtt.password_file %s: %s", path,
			       strerror(errno));
		return NULL;
	}
	if (!fgets(buf, sizeof buf, f)) {
		mqb_errstr_set(errstr, errstr_size, "mqtt.password_file %s: empty", path);
		goto out;
	}
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	pw = strdup(buf);
	if (!pw)
		mqb_errstr_set(errstr, errstr_size, "out of memory");
out:
	memset(buf, 0, sizeof buf);
	fclose(f);
	return pw;
}

mqb_mqtt_session_t *mqb_mqtt_session_new(const mqb_mqtt_session_opts_t *opts,
					 char *errstr, size_t errstr_size)
{
	const mqb_mqtt_conf_t *c;
	mqb_mqtt_session_t *s = NULL;
	char *password = NULL;
	const char *cid;
	int rc;

	if (!opts || !opts->conf || !opts->conf->host) {
		mqb_errstr_set(errstr, errstr_size, "mqtt session: no configuration");
		return NULL;
	}
	c = opts->conf;
	cid = opts->client_id ? opts->client_id : c->client_id;
	if (!cid || !*cid) {
		mqb_errstr_set(errstr, errstr_size, "mqtt session: a client id is required");
		return NULL;
	}
	if (c->protocol != 5 && c->protocol != 4) {
		mqb_errstr_set(errstr, errstr_size, "mqtt session: protocol must be 5 or 4 (3.1.1)");
		return NULL;
	}
	pthread_once(&session_lib_once, session_lib_init);

	s = calloc(1, sizeof *s);
	if (!s) {
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		return NULL;
	}
	s->wake_fd = -1;
	pthread_mutex_init(&s->err_lock, NULL);
	s->host = strdup(c->host);
	s->client_id = strdup(cid);
	s->log_name = strdup(opts->log_name ? opts->log_name : "mqtt");
	if (!s->host || !s->client_id || !s->log_name) {
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		goto error;
	}
	s->port = c->port;
	s->keepalive = c->keepalive > 0 ? c->keepalive : 30;
	s->protocol = c->protocol;
	s->clean_start = opts->clean_start < 0 ? c->clean_start : opts->clean_start != 0;
	s->session_expiry_s = c->session_expiry_s;
	s->backoff_min_ms = c->reconnect_min_ms > 0 ? c->reconnect_min_ms : 500;
	s->backoff_max_ms = c->reconnect_max_ms >= s->backoff_min_ms ? c->reconnect_max_ms
								     : s->backoff_min_ms;
	s->backoff_ms = s->backoff_min_ms;
	s->max_inflight = c->max_inflight > 0 ? c->max_inflight : 100;
	if (s->max_inflight > 65535)
		s->max_inflight = 65535;
	s->cb = opts->cb;
	s->max_burst = opts->max_burst > 0 ? opts->max_burst : 1000;
	s->max_burst_qos0 = opts->max_burst_qos0 > 0 ? opts->max_burst_qos0 : s->max_burst;
	s->burst_linger_us = opts->burst_linger_us > 0 ? opts->burst_linger_us : 0;
	s->rng = (uint32_t)mqb_mono_us() ^ ((uint32_t)getpid() << 16);
	if (!s->rng)
		s->rng = 1;

	s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->wake_fd < 0) {
		mqb_errstr_set(errstr, errstr_size, "eventfd: %s", strerror(errno));
		goto error;
	}

	s->mosq = mosquitto_new(s->client_id, s->clean_start, s);
	if (!s->mosq) {
		mqb_errstr_set(errstr, errstr_size, "mosquitto_new: %s", strerror(errno));
		goto error;
	}
	mosquitto_int_option(s->mosq, MOSQ_OPT_PROTOCOL_VERSION,
			     s->protocol == 5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
	/* Receive Maximum 65535 (nothing advertised): libmosquitto 2.0 counts a QoS 2
	 * message against it until PUBCOMP, mosquitto 2.0.11 only until PUBREC, so under
	 * QoS 2 load the broker overshoots any smaller value and libmosquitto drops the
	 * connection with a protocol error (seen with stock mosquitto_sub too). The
	 * broker's max_inflight_messages bounds what is unacknowledged; the owner bounds
	 * what it reads per burst (max_burst). */
	mosquitto_int_option(s->mosq, MOSQ_OPT_RECEIVE_MAXIMUM, 65535);
	mosquitto_int_option(s->mosq, MOSQ_OPT_SEND_MAXIMUM, s->max_inflight);
	mosquitto_int_option(s->mosq, MOSQ_OPT_TCP_NODELAY, 1);

	if (c->password_file) {
		password = session_read_password(c->password_file, errstr, errstr_size);
		if (!password)
			goto error;
	}
	if (c->username || password) {
		rc = mosquitto_username_pw_set(s->mosq, c->username, password);
		if (rc != MOSQ_ERR_SUCCESS) {
			mqb_errstr_set(errstr, errstr_size, "mqtt.username: %s",
				       mosquitto_strerror(rc));
			goto error;
		}
	}
	if (c->cafile || c->capath) {
		rc = mosquitto_tls_set(s->mosq, c->cafile, c->capath, c->certfile, c->keyfile, NULL);
		if (rc != MOSQ_ERR_SUCCESS) {
			mqb_errstr_set(errstr, errstr_size,
				       "mqtt TLS (cafile/capath/certfile/keyfile): %s",
				       session_mosq_err(rc));
			goto error;
		}
		mosquitto_tls_insecure_set(s->mosq, c->tls_insecure);
	} else if (c->certfile || c->keyfile) {
		mqb_errstr_set(errstr, errstr_size,
			       "mqtt.certfile/keyfile need mqtt.cafile or mqtt.capath");
		goto error;
	}
	if (opts->will && opts->will->topic) {
		const mqb_mqtt_will_t *w = opts->will;

		if (w->payload_len > 268435455u) {
			mqb_errstr_set(errstr, errstr_size, "mqtt will: payload too large");
			goto error;
		}
		rc = mosquitto_will_set(s->mosq, w->topic, (int)w->payload_len, w->payload,
					w->qos, w->retain);
		if (rc != MOSQ_ERR_SUCCESS) {
			mqb_errstr_set(errstr, errstr_size, "mqtt will %s: %s", w->topic,
				       mosquitto_strerror(rc));
			goto error;
		}
	}
	mosquitto_connect_v5_callback_set(s->mosq, session_on_connect);
	mosquitto_disconnect_v5_callback_set(s->mosq, session_on_disconnect);
	mosquitto_subscribe_v5_callback_set(s->mosq, session_on_subscribe);
	mosquitto_publish_v5_callback_set(s->mosq, session_on_publish);
	mosquitto_message_v5_callback_set(s->mosq, session_on_message);
	/* libmosquitto formats a log line for every packet once a log callback is set:
	 * only at debug level */
	if (mqb_log_get_level() >= MQB_LOG_DEBUG)
		mosquitto_log_callback_set(s->mosq, session_on_log);
	atomic_store(&s->state, MQB_MQTT_DISCONNECTED);
	if (password) {
		memset(password, 0, strlen(password));
		free(password);
	}
	return s;

error:
	if (password) {
		memset(password, 0, strlen(password));
		free(password);
	}
	mqb_mqtt_session_destroy(s);
	return NULL;
}

void mqb_mqtt_session_destroy(mqb_mqtt_session_t *s)
{
	size_t i;

	if (!s)
		return;
	if (s->mosq)
		mosquitto_destroy(s->mosq);
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	for (i = 0; i < s->nsubs; i++)
		free(s->subs[i].filter);
	free(s->subs);
	free(s->props);
	free(s->host);
	free(s->client_id);
	free(s->log_name);
	pthread_mutex_destroy(&s->err_lock);
	free(s);
}

/* --- connecting ------------------------------------------------------------------ */

static void session_attempt(mqb_mqtt_session_t *s)
{
	int rc;

	atomic_fetch_add(&s->attempts, 1);
	atomic_store(&s->state, MQB_MQTT_CONNECTING);
	if (!s->ever_tried) {
		s->ever_tried = true;
		if (s->protocol == 5) {
			/* The first connect carries the CONNECT properties; libmosquitto keeps
			 * them for every reconnect_async. (2.0 has no async v5 connect: this
			 * one TCP connect blocks; later ones do not.) */
			mosquitto_property *props = NULL;

			if (!s->clean_start) {
				int64_t e = s->session_expiry_s;

				if (e < 0 || e > 0xffffffffLL)
					e = 0xffffffffLL;
				mosquitto_property_add_int32(&props,
							     MQTT_PROP_SESSION_EXPIRY_INTERVAL,
							     (uint32_t)e);
			}
			rc = mosquitto_connect_bind_v5(s->mosq, s->host, s->port, s->keepalive,
						       NULL, props);
			mosquitto_property_free_all(&props);
		} else {
			rc = mosquitto_connect_async(s->mosq, s->host, s->port, s->keepalive);
		}
	} else {
		rc = mosquitto_reconnect_async(s->mosq);
	}
	if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_CONN_PENDING) {
		const char *why = session_mosq_err(rc);

		session_set_error(s, "connect %s:%d: %s", s->host, s->port, why);
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, s->log_name, 10000,
				    "cannot connect to %s:%d: %s", s->host, s->port, why);
		session_schedule_retry(s);
	}
}

int mqb_mqtt_session_connect(mqb_mqtt_session_t *s)
{
	if (!s || s->closed)
		return MQB_ERR_INVAL;
	if (s->started)
		return MQB_OK;
	s->started = true;
	session_attempt(s);
	return atomic_load(&s->state) == MQB_MQTT_DISCONNECTED ? MQB_ERR_CONN : MQB_OK;
}

/* Called after any loop step: if the socket went away, schedule the reconnect. */
static void session_check_socket(mqb_mqtt_session_t *s)
{
	int st = atomic_load(&s->state);

	if (s->closed || mosquitto_socket(s->mosq) >= 0)
		return;
	if (st == MQB_MQTT_CONNECTED || st == MQB_MQTT_CONNECTING)
		session_schedule_retry(s);  /* lost without an on_disconnect (connect failed) */
}

static void session_handle_rc(mqb_mqtt_session_t *s, int rc, const char *what)
{
	if (rc == MOSQ_ERR_SUCCESS)
		return;
	if (atomic_load(&s->state) != MQB_MQTT_CONNECTED) {
		session_set_error(s, "%s %s:%d: %s", what, s->host, s->port,
				  session_mosq_err(rc));
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, s->log_name, 10000,
				    "cannot connect to %s:%d: %s", s->host, s->port,
				    session_mosq_err(rc));
	}
}

/* --- the loop -------------------------------------------------------------------- */

static void session_drain_wake(mqb_mqtt_session_t *s)
{
	uint64_t v;
	ssize_t r = read(s->wake_fd, &v, sizeof v);

	(void)r;
}

static int session_wait_idle(mqb_mqtt_session_t *s, int timeout_ms)
{
	struct pollfd pfd = { .fd = s->wake_fd, .events = POLLIN };

	if (timeout_ms < 0)
		timeout_ms = 0;
	if (poll(&pfd, 1, timeout_ms) > 0)
		session_drain_wake(s);
	return MQB_OK;
}

/* Read up to max_burst messages, until the socket has nothing more (and nothing more
 * arrives within burst_linger_us). */
static void session_read_burst(mqb_mqtt_session_t *s)
{
	uint64_t before = atomic_load_explicit(&s->msgs_in, memory_order_relaxed);
	int iter, max_iter = (s->max_burst > s->max_burst_qos0 ? s->max_burst
							       : s->max_burst_qos0) * 4 + 16;
	int64_t linger_end = s->burst_linger_us ? mqb_mono_us() + s->burst_linger_us : 0;

	s->burst_qos_max = 0;

	for (iter = 0; iter < max_iter; iter++) {
		int rc;

		errno = 0;
		rc = mosquitto_loop_read(s->mosq, 1);
		if (rc != MOSQ_ERR_SUCCESS) {
			session_handle_rc(s, rc, "read");
			break;
		}
		if (atomic_load_explicit(&s->paused, memory_order_relaxed))
			break;
		if (atomic_load_explicit(&s->msgs_in, memory_order_relaxed) - before >=
		    (uint64_t)(s->burst_qos_max > 0 ? s->max_burst : s->max_burst_qos0))
			break;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			/* socket drained (or a partial packet is waiting): linger briefly
			 * so a busy stream makes fewer, larger batches -- only while the
			 * burst holds QoS 0 messages alone: an acknowledged QoS 1/2 one
			 * must not wait (it is in the loss window until stored) */
			struct pollfd pfd = { .fd = mosquitto_socket(s->mosq), .events = POLLIN };
			int64_t left = linger_end - mqb_mono_us();

			if (left <= 0 || pfd.fd < 0 || s->burst_qos_max > 0)
				break;
			if (poll(&pfd, 1, left >= 1000 ? (int)(left / 1000) : 1) <= 0)
				break;
		}
	}
	if (s->cb.on_burst_end &&
	    atomic_load_explicit(&s->msgs_in, memory_order_relaxed) != before)
		s->cb.on_burst_end(s->cb.arg);
}

int mqb_mqtt_session_run(mqb_mqtt_session_t *s, int timeout_ms)
{
	struct pollfd pfd[2];
	int sock, rc, n;
	int64_t now;

	if (!s)
		return MQB_ERR_INVAL;
	if (s->closed)
		return MQB_ERR_CLOSED;
	if (!s->started)
		return session_wait_idle(s, timeout_ms);

	now = mqb_mono_ms();
	if (atomic_load(&s->state) == MQB_MQTT_DISCONNECTED && mosquitto_socket(s->mosq) < 0) {
		if (now < s->next_attempt_ms) {
			int64_t wait = s->next_attempt_ms - now;

			return session_wait_idle(s, wait < timeout_ms ? (int)wait : timeout_ms);
		}
		session_attempt(s);
		if (mosquitto_socket(s->mosq) < 0)
			return MQB_OK;
	}

	sock = mosquitto_socket(s->mosq);
	pfd[0].fd = sock;
	pfd[0].events = 0;
	if (!atomic_load_explicit(&s->paused, memory_order_relaxed))
		pfd[0].events |= POLLIN;
	if (mosquitto_want_write(s->mosq))
		pfd[0].events |= POLLOUT;
	pfd[0].revents = 0;
	pfd[1].fd = s->wake_fd;
	pfd[1].events = POLLIN;
	pfd[1].revents = 0;
	if (timeout_ms > 1000 || timeout_ms < 0)
		timeout_ms = 1000;  /* loop_misc (keepalive) at least once a second */

	n = poll(pfd, 2, timeout_ms);
	if (n < 0 && errno != EINTR)
		mqb_warn(s->log_name, "poll: %s", strerror(errno));
	if (n > 0 && (pfd[1].revents & POLLIN))
		session_drain_wake(s);

	if (n > 0 && (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) &&
	    !atomic_load_explicit(&s->paused, memory_order_relaxed))
		session_read_burst(s);
	else if (n > 0 && (pfd[0].revents & (POLLHUP | POLLERR)) &&
		 atomic_load(&s->state) != MQB_MQTT_CONNECTED) {
		/* a failed non-blocking connect: let read report it */
		rc = mosquitto_loop_read(s->mosq, 1);
		session_handle_rc(s, rc, "connect");
	}

	if (mosquitto_socket(s->mosq) >= 0 && mosquitto_want_write(s->mosq)) {
		rc = mosquitto_loop_write(s->mosq, 1);
		session_handle_rc(s, rc, "write");
	}
	if (mosquitto_socket(s->mosq) >= 0)
		mosquitto_loop_misc(s->mosq);
	session_check_socket(s);
	return MQB_OK;
}

void mqb_mqtt_session_wakeup(mqb_mqtt_session_t *s)
{
	uint64_t one = 1;
	ssize_t r;

	if (!s || s->wake_fd < 0)
		return;
	r = write(s->wake_fd, &one, sizeof one);
	(void)r;
}

void mqb_mqtt_session_disconnect(mqb_mqtt_session_t *s, int timeout_ms)
{
	int64_t deadline;

	if (!s || s->closed)
		return;
	s->closed = true;
	if (atomic_load(&s->state) == MQB_MQTT_CONNECTED && mosquitto_socket(s->mosq) >= 0) {
		mosquitto_disconnect_v5(s->mosq, 0, NULL);
		deadline = mqb_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
		while (mosquitto_socket(s->mosq) >= 0 && mosquitto_want_write(s->mosq) &&
		       mqb_mono_ms() < deadline) {
			struct pollfd pfd = { .fd = mosquitto_socket(s->mosq), .events = POLLOUT };

			if (poll(&pfd, 1, 50) > 0)
				mosquitto_loop_write(s->mosq, 1);
		}
	}
	if (mosquitto_socket(s->mosq) >= 0)
		mosquitto_disconnect(s->mosq);  /* closes the socket if still open */
	atomic_store(&s->state, MQB_MQTT_CLOSED);
	atomic_store(&s->connected_since_ms, 0);
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
		return session_send_sub(s, sub);
	return MQB_OK;
}

int mqb_mqtt_session_unsubscribe(mqb_mqtt_session_t *s, const char *filter)
{
	size_t i;

	if (!s || !filter)
		return MQB_ERR_INVAL;
	for (i = 0; i < s->nsubs; i++) {
		if (strcmp(s->subs[i].filter, filter) != 0)
			continue;
		if (atomic_load(&s->state) == MQB_MQTT_CONNECTED)
			mosquitto_unsubscribe(s->mosq, NULL, filter);
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
	return session_map_err(rc);
}

/* --- state ----------------------------------------------------------------------- */

void mqb_mqtt_session_pause_reading(mqb_mqtt_session_t *s)
{
	if (s && !atomic_exchange(&s->paused, true))
		mqb_debug(s->log_name, "reading paused");
}

void mqb_mqtt_session_resume_reading(mqb_mqtt_session_t *s)
{
	if (s && atomic_exchange(&s->paused, false))
		mqb_debug(s->log_name, "reading resumed");
}

bool mqb_mqtt_session_paused(const mqb_mqtt_session_t *s)
{
	return s && atomic_load(&s->paused);
}

bool mqb_mqtt_session_is_v5(const mqb_mqtt_session_t *s)
{
	return s && s->protocol == 5;
}

bool mqb_mqtt_session_connected(const mqb_mqtt_session_t *s)
{
	return s && atomic_load(&s->state) == MQB_MQTT_CONNECTED;
}

const char *mqb_mqtt_session_client_id(const mqb_mqtt_session_t *s)
{
	return s ? s->client_id : NULL;
}

void mqb_mqtt_session_stats(mqb_mqtt_session_t *s, mqb_mqtt_session_stats_t *out)
{
	memset(out, 0, sizeof *out);
	if (!s)
		return;
	out->state = (mqb_mqtt_state_t)atomic_load(&s->state);
	out->paused = atomic_load(&s->paused);
	out->connects = atomic_load(&s->connects);
	out->connect_attempts = atomic_load(&s->attempts);
	out->disconnects = atomic_load(&s->disconnects);
	out->messages_in = atomic_load(&s->msgs_in);
	out->bytes_in = atomic_load(&s->bytes_in);
	out->messages_out = atomic_load(&s->msgs_out);
	out->subacks = atomic_load(&s->subacks);
	out->connected_since_ms = atomic_load(&s->connected_since_ms);
	pthread_mutex_lock(&s->err_lock);
	memcpy(out->last_error, s->last_error, sizeof out->last_error);
	pthread_mutex_unlock(&s->err_lock);
}

const char *mqb_mqtt_state_name(mqb_mqtt_state_t st)
{
	switch (st) {
	case MQB_MQTT_DISCONNECTED: return "disconnected";
	case MQB_MQTT_CONNECTING: return "connecting";
	case MQB_MQTT_CONNECTED: return "connected";
	case MQB_MQTT_CLOSED: return "closed";
	}
	return "unknown";
}
