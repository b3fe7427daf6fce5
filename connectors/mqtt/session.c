/*
 * session.c — libmosquitto client driven by the owner's poll loop (see session.h):
 * construction, (re)connecting with backoff, the read/write loop, state. Messages in:
 * session_msg.c; subscriptions and publishing: session_pubsub.c.
 */
#include "connectors/mqtt/session.h"
#include "connectors/mqtt/session_int.h"

#include <errno.h>
#include <stdarg.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/logging.h"

static pthread_once_t session_lib_once = PTHREAD_ONCE_INIT;

static void session_lib_init(void)
{
	mosquitto_lib_init();
}

void mqb_mqtt__set_error(mqb_mqtt_session_t *s, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&s->err_lock);
	va_start(ap, fmt);
	vsnprintf(s->last_error, sizeof s->last_error, fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&s->err_lock);
}

const char *mqb_mqtt__mosq_err(int rc)
{
	if (rc == MOSQ_ERR_ERRNO)
		return strerror(errno);
	return mosquitto_strerror(rc);
}

int mqb_mqtt__map_err(int rc)
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
		mqb_mqtt__set_error(s, "connection refused: %s", why);
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, s->log_name, 10000,
				    "broker %s:%d refused the connection: %s",
				    s->host, s->port, why);
		if (s->cb.on_connect_refused)
			s->cb.on_connect_refused(s->cb.arg, rc);
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
		mqb_mqtt__send_sub(s, &s->subs[i]);
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
			mqb_mqtt__set_error(s, "connection lost: %s", mosquitto_strerror(rc));
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
			mqb_mqtt__set_error(s, "subscription to %s refused (0x%02x)", sub->filter, g);
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

static void session_on_unsubscribe(struct mosquitto *mosq, void *obj, int mid,
				   const mosquitto_property *props)
{
	mqb_mqtt_session_t *s = obj;

	(void)mosq; (void)props;
	if (s->cb.on_unsubscribe)
		s->cb.on_unsubscribe(s->cb.arg, mid);
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

/* Settings copied from the configuration and the options (strings duplicated). */
static int session_copy_settings(mqb_mqtt_session_t *s, const mqb_mqtt_session_opts_t *opts,
				 const char *cid)
{
	const mqb_mqtt_conf_t *c = opts->conf;

	s->host = strdup(c->host);
	s->client_id = strdup(cid);
	s->log_name = strdup(opts->log_name ? opts->log_name : "mqtt");
	if (!s->host || !s->client_id || !s->log_name)
		return MQB_ERR_NOMEM;
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
	s->max_packet_size = opts->max_packet_size;
	s->max_burst = opts->max_burst > 0 ? opts->max_burst : 1000;
	s->max_burst_qos0 = opts->max_burst_qos0 > 0 ? opts->max_burst_qos0 : s->max_burst;
	s->burst_linger_us = opts->burst_linger_us > 0 ? opts->burst_linger_us : 0;
	s->cork_reads = opts->cork_reads;
	s->rng = (uint32_t)mqb_mono_us() ^ ((uint32_t)getpid() << 16);
	if (!s->rng)
		s->rng = 1;
	return MQB_OK;
}

/* The libmosquitto client: protocol, flow-control options and our callbacks. */
static int session_new_mosq(mqb_mqtt_session_t *s, const mqb_mqtt_session_opts_t *opts,
			    char *errstr, size_t errstr_size)
{
	s->mosq = mosquitto_new(s->client_id, s->clean_start, s);
	if (!s->mosq) {
		mqb_errstr_set(errstr, errstr_size, "mosquitto_new: %s", strerror(errno));
		return MQB_ERR_NOMEM;
	}
	mosquitto_int_option(s->mosq, MOSQ_OPT_PROTOCOL_VERSION,
			     s->protocol == 5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
	/* Receive Maximum 65535 (nothing advertised): libmosquitto 2.0 counts a QoS 2
	 * message against it until PUBCOMP, mosquitto 2.0.11 only until PUBREC, so under
	 * QoS 2 load the broker overshoots any smaller value and libmosquitto drops the
	 * connection with a protocol error (seen with stock mosquitto_sub too). The
	 * broker's max_inflight_messages bounds what is unacknowledged; the owner bounds
	 * what it reads per burst (max_burst). */
	mosquitto_int_option(s->mosq, MOSQ_OPT_RECEIVE_MAXIMUM,
			     opts->receive_maximum > 0 && opts->receive_maximum < 65535
			     ? opts->receive_maximum : 65535);
	mosquitto_int_option(s->mosq, MOSQ_OPT_SEND_MAXIMUM, s->max_inflight);
	mosquitto_int_option(s->mosq, MOSQ_OPT_TCP_NODELAY, 1);
	mosquitto_connect_v5_callback_set(s->mosq, session_on_connect);
	mosquitto_disconnect_v5_callback_set(s->mosq, session_on_disconnect);
	mosquitto_subscribe_v5_callback_set(s->mosq, session_on_subscribe);
	mosquitto_publish_v5_callback_set(s->mosq, session_on_publish);
	mosquitto_unsubscribe_v5_callback_set(s->mosq, session_on_unsubscribe);
	mosquitto_message_v5_callback_set(s->mosq, mqb_mqtt__on_message);
	/* libmosquitto formats a log line for every packet once a log callback is set:
	 * only at debug level */
	if (mqb_log_get_level() >= MQB_LOG_DEBUG)
		mosquitto_log_callback_set(s->mosq, session_on_log);
	return MQB_OK;
}

/* Username and password (opts->password, else conf->password_file's first line). */
static int session_set_auth(mqb_mqtt_session_t *s, const mqb_mqtt_session_opts_t *opts,
			    char *errstr, size_t errstr_size)
{
	const mqb_mqtt_conf_t *c = opts->conf;
	char *password = NULL;
	int rc = MOSQ_ERR_SUCCESS;

	if (opts->password) {
		password = strdup(opts->password);
		if (!password) {
			mqb_errstr_set(errstr, errstr_size, "out of memory");
			return MQB_ERR_NOMEM;
		}
	} else if (c->password_file) {
		password = session_read_password(c->password_file, errstr, errstr_size);
		if (!password)
			return MQB_ERR_INVAL;
	}
	if (c->username || password) {
		rc = mosquitto_username_pw_set(s->mosq, c->username, password);
		if (rc != MOSQ_ERR_SUCCESS)
			mqb_errstr_set(errstr, errstr_size, "mqtt.username: %s",
				       mosquitto_strerror(rc));
	}
	if (password) {
		memset(password, 0, strlen(password));
		free(password);
	}
	return rc == MOSQ_ERR_SUCCESS ? MQB_OK : MQB_ERR_INVAL;
}

static int session_set_tls(mqb_mqtt_session_t *s, const mqb_mqtt_conf_t *c,
			   char *errstr, size_t errstr_size)
{
	int rc;

	if (c->cafile || c->capath) {
		rc = mosquitto_tls_set(s->mosq, c->cafile, c->capath, c->certfile, c->keyfile, NULL);
		if (rc != MOSQ_ERR_SUCCESS) {
			mqb_errstr_set(errstr, errstr_size,
				       "mqtt TLS (cafile/capath/certfile/keyfile): %s",
				       mqb_mqtt__mosq_err(rc));
			return MQB_ERR_INVAL;
		}
		mosquitto_tls_insecure_set(s->mosq, c->tls_insecure);
	} else if (c->certfile || c->keyfile) {
		mqb_errstr_set(errstr, errstr_size,
			       "mqtt.certfile/keyfile need mqtt.cafile or mqtt.capath");
		return MQB_ERR_INVAL;
	}
	return MQB_OK;
}

static int session_set_will(mqb_mqtt_session_t *s, const mqb_mqtt_will_t *w,
			    char *errstr, size_t errstr_size)
{
	int rc;

	if (!w || !w->topic)
		return MQB_OK;
	if (w->payload_len > 268435455u) {
		mqb_errstr_set(errstr, errstr_size, "mqtt will: payload too large");
		return MQB_ERR_TOOBIG;
	}
	rc = mosquitto_will_set(s->mosq, w->topic, (int)w->payload_len, w->payload,
				w->qos, w->retain);
	if (rc != MOSQ_ERR_SUCCESS) {
		mqb_errstr_set(errstr, errstr_size, "mqtt will %s: %s", w->topic,
			       mosquitto_strerror(rc));
		return MQB_ERR_INVAL;
	}
	return MQB_OK;
}

mqb_mqtt_session_t *mqb_mqtt_session_new(const mqb_mqtt_session_opts_t *opts,
					 char *errstr, size_t errstr_size)
{
	const mqb_mqtt_conf_t *c;
	mqb_mqtt_session_t *s = NULL;
	const char *cid;

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
	if (session_copy_settings(s, opts, cid) != MQB_OK) {
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		goto error;
	}
	s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->wake_fd < 0) {
		mqb_errstr_set(errstr, errstr_size, "eventfd: %s", strerror(errno));
		goto error;
	}
	if (session_new_mosq(s, opts, errstr, errstr_size) ||
	    session_set_auth(s, opts, errstr, errstr_size) ||
	    session_set_tls(s, c, errstr, errstr_size) ||
	    session_set_will(s, opts->will, errstr, errstr_size))
		goto error;
	atomic_store(&s->state, MQB_MQTT_DISCONNECTED);
	return s;

error:
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

/* One connect attempt. blocking: the first one, made with the blocking TCP connect
 * whatever the protocol. MQB_OK, or MQB_ERR_CONN (why in errstr, may be NULL) with the
 * retry scheduled. */
static int session_attempt(mqb_mqtt_session_t *s, bool blocking, char *errstr,
			   size_t errstr_size)
{
	int rc;

	atomic_fetch_add(&s->attempts, 1);
	atomic_store(&s->state, MQB_MQTT_CONNECTING);
	if (!s->ever_tried) {
		s->ever_tried = true;
		if (s->protocol == 5 || blocking) {
			/* The first connect carries the CONNECT properties; libmosquitto keeps
			 * them for every reconnect_async. (2.0 has no async v5 connect: this
			 * one TCP connect blocks; later ones do not.) */
			mosquitto_property *props = NULL;

			if (!s->clean_start && s->protocol == 5) {
				int64_t e = s->session_expiry_s;

				if (e < 0 || e > 0xffffffffLL)
					e = 0xffffffffLL;
				mosquitto_property_add_int32(&props,
							     MQTT_PROP_SESSION_EXPIRY_INTERVAL,
							     (uint32_t)e);
			}
			if (s->protocol == 5 && s->max_packet_size > 0)
				mosquitto_property_add_int32(&props,
							     MQTT_PROP_MAXIMUM_PACKET_SIZE,
							     s->max_packet_size);
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
		const char *why = mqb_mqtt__mosq_err(rc);

		mqb_mqtt__set_error(s, "connect %s:%d: %s", s->host, s->port, why);
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, s->log_name, 10000,
				    "cannot connect to %s:%d: %s", s->host, s->port, why);
		if (errstr)
			mqb_errstr_set(errstr, errstr_size, "%s", why);
		session_schedule_retry(s);
		return MQB_ERR_CONN;
	}
	return MQB_OK;
}

int mqb_mqtt_session_connect(mqb_mqtt_session_t *s)
{
	if (!s || s->closed)
		return MQB_ERR_INVAL;
	if (s->started)
		return MQB_OK;
	s->started = true;
	session_attempt(s, false, NULL, 0);
	return atomic_load(&s->state) == MQB_MQTT_DISCONNECTED ? MQB_ERR_CONN : MQB_OK;
}

int mqb_mqtt_session_connect_sync(mqb_mqtt_session_t *s, char *errstr, size_t errstr_size)
{
	if (!s || s->closed || s->started)
		return MQB_ERR_INVAL;
	s->started = true;
	return session_attempt(s, true, errstr, errstr_size);
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
		mqb_mqtt__set_error(s, "%s %s:%d: %s", what, s->host, s->port,
				  mqb_mqtt__mosq_err(rc));
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, s->log_name, 10000,
				    "cannot connect to %s:%d: %s", s->host, s->port,
				    mqb_mqtt__mosq_err(rc));
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
	s->more = false;

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
		    (uint64_t)(s->burst_qos_max > 0 ? s->max_burst : s->max_burst_qos0)) {
			s->more = !(errno == EAGAIN || errno == EWOULDBLOCK);
			break;
		}
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
	if (iter == max_iter)
		s->more = true;
	if (s->cb.on_burst_end &&
	    atomic_load_explicit(&s->msgs_in, memory_order_relaxed) != before)
		s->cb.on_burst_end(s->cb.arg);
}

/* Write what is queued, if anything. */
static void session_write(mqb_mqtt_session_t *s)
{
	if (mosquitto_socket(s->mosq) >= 0 && mosquitto_want_write(s->mosq))
		session_handle_rc(s, mosquitto_loop_write(s->mosq, 1), "write");
}

/* While SUBACKs are due, acknowledge what the broker sends at once.
 * Mosquitto leaves Nagle on by default (set_tcp_nodelay false): after the first
 * SUBACK of a burst of SUBSCRIBEs it holds the next small SUBACKs until that one is
 * acknowledged, and our kernel, having just sent data, delays that ACK up to 40 ms
 * (start-up at the shipped config waited 41 ms for the third SUBACK, 2026-12).
 * TCP_QUICKACK is not permanent on Linux (the kernel may go back to delayed ACKs),
 * hence set again after every burst while something is awaited. */
static void session_quickack_if_waiting(mqb_mqtt_session_t *s)
{
	int sock = mosquitto_socket(s->mosq), one = 1;

	if (sock < 0)
		return;
	for (size_t i = 0; i < s->nsubs; i++)
		if (s->subs[i].mid != 0) {
			setsockopt(sock, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
			return;
		}
}

/* A read burst and the writes it caused, corked when asked (opts.cork_reads): the
 * PUBACKs libmosquitto writes per message and what the owner published from its
 * callbacks leave together when the burst ends. */
static void session_read_and_write(mqb_mqtt_session_t *s)
{
	int sock = mosquitto_socket(s->mosq), one = 1, zero = 0;
	bool corked = s->cork_reads &&
		      setsockopt(sock, IPPROTO_TCP, TCP_CORK, &one, sizeof one) == 0;

	session_read_burst(s);
	session_write(s);
	/* uncorking sends what is held (an error may have closed the socket) */
	if (corked && mosquitto_socket(s->mosq) == sock)
		setsockopt(sock, IPPROTO_TCP, TCP_CORK, &zero, sizeof zero);
}

/* While disconnected: wait for the next attempt or make it. true when run() should
 * return at once (no socket to serve). */
static bool session_reconnect_due(mqb_mqtt_session_t *s, int timeout_ms)
{
	int64_t now = mqb_mono_ms();

	if (atomic_load(&s->state) != MQB_MQTT_DISCONNECTED || mosquitto_socket(s->mosq) >= 0)
		return false;
	if (now < s->next_attempt_ms) {
		int64_t wait = s->next_attempt_ms - now;

		session_wait_idle(s, wait < timeout_ms ? (int)wait : timeout_ms);
		return true;
	}
	session_attempt(s, false, NULL, 0);
	return mosquitto_socket(s->mosq) < 0;
}

int mqb_mqtt_session_run(mqb_mqtt_session_t *s, int timeout_ms)
{
	struct pollfd pfd[2];
	bool paused, more;
	int n;

	if (!s)
		return MQB_ERR_INVAL;
	if (s->closed)
		return MQB_ERR_CLOSED;
	if (!s->started)
		return session_wait_idle(s, timeout_ms);
	if (session_reconnect_due(s, timeout_ms))
		return MQB_OK;

	paused = atomic_load_explicit(&s->paused, memory_order_relaxed);
	more = s->more && !paused && mosquitto_socket(s->mosq) >= 0;
	s->more = false;
	pfd[0].fd = mosquitto_socket(s->mosq);
	pfd[0].events = (short)((paused ? 0 : POLLIN) |
				(mosquitto_want_write(s->mosq) ? POLLOUT : 0));
	pfd[0].revents = 0;
	pfd[1].fd = s->wake_fd;
	pfd[1].events = POLLIN;
	pfd[1].revents = 0;
	if (timeout_ms > 1000 || timeout_ms < 0)
		timeout_ms = 1000;  /* loop_misc (keepalive) at least once a second */

	n = poll(pfd, 2, more ? 0 : timeout_ms);
	if (n < 0 && errno != EINTR)
		mqb_warn(s->log_name, "poll: %s", strerror(errno));
	if (n > 0 && (pfd[1].revents & POLLIN))
		session_drain_wake(s);

	if ((more || (n > 0 && (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))) &&
	    !atomic_load_explicit(&s->paused, memory_order_relaxed)) {
		session_read_and_write(s);
	} else if (n > 0 && (pfd[0].revents & (POLLHUP | POLLERR)) &&
		   atomic_load(&s->state) != MQB_MQTT_CONNECTED) {
		/* a failed non-blocking connect: let read report it */
		session_handle_rc(s, mosquitto_loop_read(s->mosq, 1), "connect");
	}

	session_write(s);
	session_quickack_if_waiting(s);
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

const char *mqb_mqtt_strerror(int rc)
{
	return mosquitto_strerror(rc);
}

const char *mqb_mqtt_reason_string(int reason)
{
	return mosquitto_reason_string(reason);
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
