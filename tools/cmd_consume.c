/*
 * cmd_consume.c — `mqbridge consume`: a reference consumer-group member on libmosquitto.
 *
 * What a member does (docs/PROTOCOL.md): connect with its will on .../leave, subscribe
 * to its own topics (<prefix>/groups/<g>/members/<id>/#), join, heartbeat every
 * heartbeat interval with the generation of its last assignment, print each record,
 * acknowledge records in ranges (after printing them), on an assignment with
 * "revoked" partitions ack what it holds and answer "revoked", rejoin when the bridge
 * says unknown_member (e.g. after the daemon restarted), and leave cleanly on
 * SIGINT/SIGTERM or after --count records.
 *
 * --trace FILE appends one line per event (wall-clock ms), used by the tests (lines are
 * flushed before each ack and after each assignment, so a killed member's trace holds
 * everything it acknowledged):
 *   A <ms> <generation> assigned=<p,..> revoked=<p,..>
 *   R <ms> <generation> <partition> <offset> <delivery>
 *   K <ms> <partition> <first> <last> <type>
 *   E <ms> <error code> <message>
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "bridge/clock.h"
#include "bridge/config.h"
#include "bridge/err.h"
#include "connectors/mqtt/mqtt_conf.h"
#include "tools/cli.h"
#include "tools/recfmt.h"


#define USAGE \
	"mqbridge consume --group G [--count N] [--prefetch P]\n" \
	"         [--ack accept|release|reject|none] [--json] [-h HOST] [-p PORT]\n" \
	"         [-u USER] [-P PASS] [--cafile F] [-i CLIENT_ID] [-c mqbridged.conf]\n" \
	"         [--instance-id I] [-V v5|v311] [--prefix P] [--heartbeat-ms N]\n" \
	"         [--ack-delay-ms N] [--trace FILE] [--quiet] [--no-will]"

#define MAX_PARTS 10000
#define ACK_FLUSH_MS 20
#define JOIN_RETRY_MS 3000
#define EXIT_DRAIN_MS 3000   /* at exit: wait this long at most for the broker's acks */
#define EXIT_QUIET_MS 100    /* ... and until nothing arrived for this long */
#define MAX_RANGES_PER_MSG 1000
#define LOOP_WAIT_MS 10
#define READ_BURST 1000           /* packets read per wake-up at most */

typedef struct pend {             /* offsets printed, not yet acked, of one partition */
	int64_t *off;
	size_t n, cap;
} pend_t;

typedef struct consumer {
	struct mosquitto *mosq;
	const char *group, *id, *instance_id, *prefix;
	int v5;
	int prefetch;
	const char *ack_type;          /* NULL: --ack none */
	bool json, quiet, no_will;
	int64_t count, printed;
	int64_t hb_ms, ack_delay_ms;
	int64_t gen;
	bool assigned_once, connected, joined;
	pend_t pend[MAX_PARTS];
	int32_t max_part;
	int64_t last_hb, last_flush, last_rejoin;
	FILE *trace;
	char t_join[600], t_leave[600], t_hb[600], t_ack[600], t_revoked[600], t_sub[600];
	char stream[256];
	int exit_code;
	bool done;
	int leave_mid, unsub_mid;      /* at exit: the leave's and the unsubscribe's mids */
	bool leave_acked, unsubscribed;
	int64_t last_rx_ms;            /* last message received */
	bool more;                     /* the last burst stopped at READ_BURST: don't wait */
} consumer_t;

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static void trace(consumer_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void trace(consumer_t *c, const char *fmt, ...)
{
	va_list ap;

	if (!c->trace)
		return;
	fprintf(c->trace, "%" PRId64 " ", mqb_now_ms());
	va_start(ap, fmt);
	vfprintf(c->trace, fmt, ap);
	va_end(ap);
	fputc('\n', c->trace);
}

static void publish_json(consumer_t *c, const char *topic, cJSON *o)
{
	char *s = cJSON_PrintUnformatted(o);
	if (s) {
		mosquitto_publish(c->mosq, NULL, topic, (int)strlen(s), s, 1, false);
		free(s);
	}
	cJSON_Delete(o);
}

static void send_join(consumer_t *c)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "member_id", c->id);
	if (c->instance_id)
		cJSON_AddStringToObject(o, "instance_id", c->instance_id);
	if (c->prefetch > 0)
		cJSON_AddNumberToObject(o, "prefetch", c->prefetch);
	if (!c->v5)
		cJSON_AddStringToObject(o, "protocol", "v311");
	publish_json(c, c->t_join, o);
	c->joined = true;
	c->last_rejoin = mqb_mono_ms();
}

static void send_leave(consumer_t *c)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "member_id", c->id);
	char *s = cJSON_PrintUnformatted(o);
	if (!s || mosquitto_publish(c->mosq, &c->leave_mid, c->t_leave, (int)strlen(s), s, 1,
				    false) != MOSQ_ERR_SUCCESS)
		c->leave_acked = true;   /* nothing to wait for */
	free(s);
	cJSON_Delete(o);
}

static void on_publish(struct mosquitto *m, void *arg, int mid)
{
	consumer_t *c = arg;
	(void)m;
	if (c->done && mid == c->leave_mid)
		c->leave_acked = true;
}

static void on_unsubscribe(struct mosquitto *m, void *arg, int mid)
{
	consumer_t *c = arg;
	(void)m;
	if (c->done && mid == c->unsub_mid)
		c->unsubscribed = true;
}

static void flush_acks(consumer_t *c);

/* Leave cleanly. libmosquitto closes the socket as soon as DISCONNECT is written; if
 * records the broker kept sending are still unread then, the kernel resets the
 * connection and the broker drops what it had not read yet: the last acks (redelivered
 * to someone else), the leave and the DISCONNECT (so the will sends a second leave).
 * So: acks and leave, wait for the leave's PUBACK (the broker handles a client's
 * packets in order), unsubscribe and wait for UNSUBACK, read what the broker had
 * already queued for us until nothing arrives for EXIT_QUIET_MS, then disconnect with
 * nothing left to read. Bounded by EXIT_DRAIN_MS. */
static void leave_and_disconnect(consumer_t *c)
{
	int64_t deadline = mqb_mono_ms() + EXIT_DRAIN_MS;

	c->done = true;          /* records arriving meanwhile are neither printed nor acked */
	flush_acks(c);
	if (!c->connected)
		return;
	send_leave(c);
	while (c->connected && !c->leave_acked && mqb_mono_ms() < deadline)
		mosquitto_loop(c->mosq, 10, 1);
	if (c->connected &&
	    mosquitto_unsubscribe(c->mosq, &c->unsub_mid, c->t_sub) == MOSQ_ERR_SUCCESS)
		while (c->connected && !c->unsubscribed && mqb_mono_ms() < deadline)
			mosquitto_loop(c->mosq, 10, 1);
	while (c->connected && mqb_mono_ms() - c->last_rx_ms < EXIT_QUIET_MS &&
	       mqb_mono_ms() < deadline)
		mosquitto_loop(c->mosq, 10, 1);
	if (c->connected) {
		mosquitto_disconnect(c->mosq);
		mosquitto_loop(c->mosq, 10, 1);
	}
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* Ack everything pending, as ranges, in as few messages as the limits allow. */
static void flush_acks(consumer_t *c)
{
	cJSON *o = NULL, *acks = NULL;
	size_t ranges = 0;

	if (!c->ack_type)
		return;
	fflush(stdout);    /* printed before acknowledged */
	for (int32_t p = 0; p <= c->max_part; p++) {
		pend_t *pd = &c->pend[p];
		if (!pd->n)
			continue;
		qsort(pd->off, pd->n, sizeof(*pd->off), cmp_i64);
		cJSON *e = NULL, *rs = NULL;
		for (size_t i = 0; i < pd->n;) {
			size_t j = i;
			while (j + 1 < pd->n && pd->off[j + 1] <= pd->off[j] + 1)
				j++;
			if (!o) {
				o = cJSON_CreateObject();
				cJSON_AddNumberToObject(o, "generation", (double)c->gen);
				acks = cJSON_AddArrayToObject(o, "acks");
				e = NULL;
			}
			if (!e) {
				e = cJSON_CreateObject();
				cJSON_AddStringToObject(e, "stream", c->stream);
				cJSON_AddNumberToObject(e, "partition", p);
				rs = cJSON_AddArrayToObject(e, "ranges");
				cJSON_AddStringToObject(e, "type", c->ack_type);
				cJSON_AddItemToArray(acks, e);
			}
			cJSON *r = cJSON_CreateArray();
			cJSON_AddItemToArray(r, cJSON_CreateNumber((double)pd->off[i]));
			cJSON_AddItemToArray(r, cJSON_CreateNumber((double)pd->off[j]));
			cJSON_AddItemToArray(rs, r);
			trace(c, "K %d %" PRId64 " %" PRId64 " %s", (int)p, pd->off[i], pd->off[j],
			      c->ack_type);
			if (++ranges >= MAX_RANGES_PER_MSG) {
				if (c->trace)
					fflush(c->trace);
				publish_json(c, c->t_ack, o);
				o = NULL;
				e = NULL;
				ranges = 0;
			}
			i = j + 1;
		}
		pd->n = 0;
	}
	if (c->trace)
		fflush(c->trace);   /* the K lines are on disk before the acks leave */
	if (o)
		publish_json(c, c->t_ack, o);
	c->last_flush = mqb_mono_ms();
}

static size_t pending_total(const consumer_t *c)
{
	size_t n = 0;
	for (int32_t p = 0; p <= c->max_part; p++)
		n += c->pend[p].n;
	return n;
}

/* --- incoming ----------------------------------------------------------------------- */

static void handle_record(consumer_t *c, int32_t part, const mqb_record_t *rec, int64_t gen,
			  int64_t delivery)
{
	if (c->done || part < 0 || part >= MAX_PARTS)
		return;
	if (c->count > 0 && c->printed >= c->count)
		return;   /* over --count: not printed, not acked (released by the leave) */
	trace(c, "R %" PRId64 " %d %" PRId64 " %" PRId64, gen, (int)part, rec->offset, delivery);
	if (!c->quiet) {
		if (c->json)
			mqb_recfmt_json(stdout, c->stream, part, rec);
		else
			mqb_recfmt_text(stdout, c->stream, part, rec);
	}
	c->printed++;
	if (c->ack_delay_ms > 0)
		usleep((useconds_t)(c->ack_delay_ms * 1000));
	if (c->ack_type) {
		pend_t *pd = &c->pend[part];
		if (pd->n == pd->cap) {
			pd->cap = pd->cap ? pd->cap * 2 : 64;
			pd->off = realloc(pd->off, pd->cap * sizeof(*pd->off));
			if (!pd->off) {
				mqb_cli_error("out of memory");
				exit(1);
			}
		}
		pd->off[pd->n++] = rec->offset;
		if (part > c->max_part)
			c->max_part = part;
		if ((int)pending_total(c) >= (c->prefetch > 0 ? (c->prefetch + 1) / 2 : 50))
			flush_acks(c);
	}
	if (c->count > 0 && c->printed >= c->count)
		c->done = true;
}

/* "base64:..." user-property values carry bytes that are not UTF-8. */
static void *prop_bytes(const char *v, size_t *len)
{
	if (strncmp(v, "base64:", 7) == 0) {
		/* decoded lazily with OpenSSL-free code: simple table */
		static const char b64[] =
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		const char *s = v + 7;
		uint8_t *out = malloc(strlen(s) / 4 * 3 + 3);
		uint32_t acc = 0;
		int bits = 0;
		size_t n = 0;
		if (!out)
			return NULL;
		for (; *s && *s != '='; s++) {
			const char *p = strchr(b64, *s);
			if (!p)
				break;
			acc = (acc << 6) | (uint32_t)(p - b64);
			bits += 6;
			if (bits >= 8) {
				bits -= 8;
				out[n++] = (uint8_t)(acc >> bits);
			}
		}
		*len = n;
		return out;
	}
	*len = strlen(v);
	return strdup(v);
}

static void record_v5(consumer_t *c, const struct mosquitto_message *msg,
		      const mosquitto_property *props)
{
	mqb_rec_header_t hs[128];
	void *hv[128], *hk[128];
	size_t nh = 0;
	mqb_record_t rec;
	int32_t part = -1;
	int64_t gen = 0, delivery = 0;
	void *key = NULL;
	size_t key_len = 0;
	const mosquitto_property *p;
	char *name = NULL, *value = NULL;
	bool first = true;

	memset(&rec, 0, sizeof(rec));
	rec.key_len = -1;
	for (p = props; (p = mosquitto_property_read_string_pair(p, MQTT_PROP_USER_PROPERTY,
								    &name, &value, !first)); ) {
		first = false;
		if (!strcmp(name, "stream"))
			snprintf(c->stream, sizeof(c->stream), "%s", value);
		else if (!strcmp(name, "partition"))
			part = atoi(value);
		else if (!strcmp(name, "offset"))
			rec.offset = strtoll(value, NULL, 10);
		else if (!strcmp(name, "timestamp"))
			rec.timestamp_ms = strtoll(value, NULL, 10);
		else if (!strcmp(name, "delivery"))
			delivery = strtoll(value, NULL, 10);
		else if (!strcmp(name, "generation"))
			gen = strtoll(value, NULL, 10);
		else if (!strcmp(name, "key") && !key)
			key = prop_bytes(value, &key_len);
		else if (nh < 128) {
			size_t kl, vl;
			hk[nh] = prop_bytes(name, &kl);
			hv[nh] = prop_bytes(value, &vl);
			hs[nh] = (mqb_rec_header_t){ hk[nh], kl, hv[nh], (ssize_t)vl };
			nh++;
		}
		free(name);
		free(value);
		name = value = NULL;
	}
	if (key) {
		rec.key = key;
		rec.key_len = (ssize_t)key_len;
	}
	rec.value = msg->payload;
	rec.value_len = msg->payloadlen;
	rec.headers = hs;
	rec.header_count = nh;
	handle_record(c, part, &rec, gen, delivery);
	free(key);
	for (size_t i = 0; i < nh; i++) {
		free(hk[i]);
		free(hv[i]);
	}
}

static void *json_bytes(cJSON *o, const char *name, ssize_t *len)
{
	char b[64];
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	size_t n;

	if (cJSON_IsString(v)) {
		*len = (ssize_t)strlen(v->valuestring);
		return strdup(v->valuestring);
	}
	snprintf(b, sizeof(b), "%s_b64", name);
	v = cJSON_GetObjectItemCaseSensitive(o, b);
	if (cJSON_IsString(v)) {
		char tmp[strlen(v->valuestring) + 8];
		snprintf(tmp, sizeof(tmp), "base64:%s", v->valuestring);
		void *r = prop_bytes(tmp, &n);
		*len = (ssize_t)n;
		return r;
	}
	*len = -1;
	return NULL;
}

static void record_envelope(consumer_t *c, const struct mosquitto_message *msg)
{
	cJSON *o = cJSON_ParseWithLength(msg->payload, (size_t)msg->payloadlen);
	mqb_rec_header_t hs[128];
	void *hv[128];
	size_t nh = 0;
	mqb_record_t rec;

	if (!o) {
		mqb_cli_error("record envelope is not JSON; ignored");
		return;
	}
	memset(&rec, 0, sizeof(rec));
	cJSON *s = cJSON_GetObjectItem(o, "stream");
	if (cJSON_IsString(s))
		snprintf(c->stream, sizeof(c->stream), "%s", s->valuestring);
	int32_t part = (int32_t)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "partition"));
	rec.offset = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "offset"));
	rec.timestamp_ms = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "timestamp"));
	int64_t gen = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "generation"));
	int64_t dl = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "delivery"));
	void *key = json_bytes(o, "key", &rec.key_len);
	void *val = json_bytes(o, "value", &rec.value_len);
	rec.key = key;
	rec.value = val;
	cJSON *h, *hd = cJSON_GetObjectItem(o, "headers");
	cJSON_ArrayForEach(h, hd) {
		if (nh >= 128 || !cJSON_IsString(h))
			continue;
		hv[nh] = strdup(h->valuestring);
		hs[nh] = (mqb_rec_header_t){ h->string, strlen(h->string), hv[nh],
					     (ssize_t)strlen(h->valuestring) };
		nh++;
	}
	rec.headers = hs;
	rec.header_count = nh;
	handle_record(c, part, &rec, gen, dl);
	for (size_t i = 0; i < nh; i++)
		free(hv[i]);
	free(key);
	free(val);
	cJSON_Delete(o);
}

static void ints(cJSON *arr, char *out, size_t size, int32_t *list, size_t *n)
{
	cJSON *e, *p;
	size_t len = 0;

	out[0] = '\0';
	*n = 0;
	cJSON_ArrayForEach(e, arr) {
		cJSON_ArrayForEach(p, cJSON_GetObjectItem(e, "partitions")) {
			if (len < size)
				len += (size_t)snprintf(out + len, size - len, "%s%d", len ? "," : "",
							p->valueint);
			if (list && *n < MAX_PARTS)
				list[(*n)++] = p->valueint;
		}
	}
}

static void handle_assignment(consumer_t *c, const struct mosquitto_message *msg)
{
	cJSON *o = cJSON_ParseWithLength(msg->payload, (size_t)msg->payloadlen);
	static int32_t revoked[MAX_PARTS];
	char as[4096], rv[4096];
	size_t nr = 0, na = 0;

	if (!o)
		return;
	c->gen = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "generation"));
	c->assigned_once = true;
	ints(cJSON_GetObjectItem(o, "assigned"), as, sizeof(as), NULL, &na);
	ints(cJSON_GetObjectItem(o, "revoked"), rv, sizeof(rv), revoked, &nr);
	cJSON *a0 = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "assigned"), 0);
	if (a0 && cJSON_IsString(cJSON_GetObjectItem(a0, "stream")))
		snprintf(c->stream, sizeof(c->stream), "%s",
			 cJSON_GetObjectItem(a0, "stream")->valuestring);
	trace(c, "A %" PRId64 " assigned=%s revoked=%s", c->gen, as, rv);
	if (c->trace)
		fflush(c->trace);
	if (!c->quiet && !c->json)
		fprintf(stderr, "mqbridge: generation %" PRId64 ": assigned [%s] revoked [%s]\n",
			c->gen, as, rv);
	if (nr) {
		/* Hand-over: ack what we hold, then say we are done with them. */
		flush_acks(c);
		cJSON *r = cJSON_CreateObject();
		cJSON_AddNumberToObject(r, "generation", (double)c->gen);
		cJSON *ps = cJSON_AddArrayToObject(r, "partitions");
		for (size_t i = 0; i < nr; i++)
			cJSON_AddItemToArray(ps, cJSON_CreateNumber(revoked[i]));
		publish_json(c, c->t_revoked, r);
	}
	cJSON_Delete(o);
}

static void handle_error(consumer_t *c, const struct mosquitto_message *msg)
{
	cJSON *o = cJSON_ParseWithLength(msg->payload, (size_t)msg->payloadlen);
	const char *code = "?", *text = "";

	if (o) {
		cJSON *e = cJSON_GetObjectItem(o, "error"), *m = cJSON_GetObjectItem(o, "message");
		if (cJSON_IsString(e))
			code = e->valuestring;
		if (cJSON_IsString(m))
			text = m->valuestring;
	}
	trace(c, "E %s %s", code, text);
	if (strcmp(code, "unknown_member") == 0 && strncmp(text, "replaced by", 11) == 0) {
		/* Fenced: another process joined with our instance id. Rejoining would
		 * fence it in turn, back and forth: stop instead. */
		mqb_cli_error("fenced: %s", text);
		c->exit_code = 1;
		g_stop = 1;
	} else if (strcmp(code, "unknown_member") == 0 && !c->done) {
		/* The bridge forgot us (restart, session timeout): join again, at most 1/s. */
		if (mqb_mono_ms() - c->last_rejoin >= 1000) {
			for (int32_t p = 0; p <= c->max_part; p++)
				c->pend[p].n = 0;   /* acks of the old membership would be refused */
			send_join(c);
		}
	} else if (strcmp(code, "stale_generation") != 0 || !c->quiet) {
		fprintf(stderr, "mqbridge: bridge refused a message: %s: %s\n", code, text);
	}
	cJSON_Delete(o);
}

static void on_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg,
		       const mosquitto_property *props)
{
	consumer_t *c = arg;
	const char *leaf = strrchr(msg->topic, '/');

	(void)m;
	c->last_rx_ms = mqb_mono_ms();
	if (!leaf)
		return;
	leaf++;
	if (!strcmp(leaf, "records")) {
		if (c->v5)
			record_v5(c, msg, props);
		else
			record_envelope(c, msg);
	} else if (!strcmp(leaf, "assignment")) {
		handle_assignment(c, msg);
	} else if (!strcmp(leaf, "error")) {
		handle_error(c, msg);
	}
}

static void on_message_v311(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
	on_message(m, arg, msg, NULL);
}

static void on_connect(struct mosquitto *m, void *arg, int rc, int flags,
		       const mosquitto_property *props)
{
	consumer_t *c = arg;

	(void)flags;
	(void)props;
	if (rc) {
		mqb_cli_error("connection refused: %s", mosquitto_reason_string(rc));
		return;
	}
	c->connected = true;
	mosquitto_subscribe(m, NULL, c->t_sub, 1);
}

static void on_connect_v311(struct mosquitto *m, void *arg, int rc)
{
	on_connect(m, arg, rc, 0, NULL);
}

static void on_subscribe(struct mosquitto *m, void *arg, int mid, int n, const int *qos)
{
	consumer_t *c = arg;
	(void)m;
	(void)mid;
	if (n < 1 || qos[0] > 2) {
		mqb_cli_error("subscription to %s refused (broker ACL?)", c->t_sub);
		c->exit_code = 1;
		g_stop = 1;
		return;
	}
	send_join(c);     /* (re)join after every (re)connect */
}

static void on_disconnect(struct mosquitto *m, void *arg, int rc)
{
	consumer_t *c = arg;
	(void)m;
	c->connected = false;
	if (rc && !g_stop && !c->done)
		mqb_cli_error("disconnected (%s); reconnecting", mosquitto_strerror(rc));
}

/* --- the loop ---------------------------------------------------------------------------- */

/*
 * One turn: wait for the socket, then read every packet that is already there (up to
 * READ_BURST), write what is queued (PUBACKs, acks), run keepalive. mosquitto_loop()
 * would read one packet per select() here (libmosquitto 2.0 reads as many packets per
 * call as it has QoS > 0 messages queued, and incoming QoS 1 ones are never queued),
 * so a member paid a select() and a wake-up per record. The socket is corked while a
 * burst is read: the PUBACK libmosquitto writes for each record (and the acks) leave
 * in one segment when the burst ends instead of one segment each. MOSQ_ERR_SUCCESS or
 * the error (the connection is then closed, as mosquitto_loop() does).
 */
static int loop_turn(consumer_t *c, int timeout_ms)
{
	int sock = mosquitto_socket(c->mosq), rc;
	struct pollfd pfd = { .fd = sock, .events = POLLIN };

	if (sock < 0)
		return MOSQ_ERR_NO_CONN;
	if (mosquitto_want_write(c->mosq))
		pfd.events |= POLLOUT;
	int n = poll(&pfd, 1, c->more ? 0 : timeout_ms);
	if (n < 0 && errno != EINTR)
		return MOSQ_ERR_ERRNO;
	if (c->more || (n > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR)))) {
		int one = 1, zero = 0;
		bool corked = setsockopt(sock, IPPROTO_TCP, TCP_CORK, &one, sizeof(one)) == 0;

		rc = MOSQ_ERR_SUCCESS;
		c->more = true;  /* unless drained: data may wait in the TLS buffer */
		for (int i = 0; i < READ_BURST && rc == MOSQ_ERR_SUCCESS; i++) {
			errno = 0;
			rc = mosquitto_loop_read(c->mosq, 1);
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				c->more = false;   /* drained (or a partial packet waits) */
				break;
			}
		}
		if (rc == MOSQ_ERR_SUCCESS && mosquitto_want_write(c->mosq))
			rc = mosquitto_loop_write(c->mosq, 1);
		/* uncorking sends what is held (the socket may be closed by an error) */
		if (corked && mosquitto_socket(c->mosq) == sock)
			setsockopt(sock, IPPROTO_TCP, TCP_CORK, &zero, sizeof(zero));
		if (rc != MOSQ_ERR_SUCCESS) {
			c->more = false;
			return rc;
		}
	} else if (mosquitto_want_write(c->mosq)) {
		rc = mosquitto_loop_write(c->mosq, 1);
		if (rc != MOSQ_ERR_SUCCESS)
			return rc;
	}
	return mosquitto_loop_misc(c->mosq);
}

/* --- setup ----------------------------------------------------------------------------- */

static char *read_password_file(const char *path)
{
	char buf[1024];
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	return strdup(buf);
}

int mqb_cmd_consume(int argc, char **argv)
{
	static consumer_t cs;
	consumer_t *c = &cs;
	const char *host = "127.0.0.1", *user = NULL, *cafile = NULL, *conf = NULL;
	const char *trace_path = NULL;
	char *pass = NULL, idbuf[128];
	int port = 1883, opt;
	int64_t v;
	mqb_config_t *cfg = NULL;
	int rc = MQB_CLI_FAIL;
	bool hb_set = false;
	static const struct option opts[] = {
		{ "group", required_argument, NULL, 'g' },
		{ "count", required_argument, NULL, 'n' },
		{ "prefetch", required_argument, NULL, 'f' },
		{ "ack", required_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "cafile", required_argument, NULL, 'C' },
		{ "instance-id", required_argument, NULL, 'I' },
		{ "prefix", required_argument, NULL, 'x' },
		{ "heartbeat-ms", required_argument, NULL, 'b' },
		{ "ack-delay-ms", required_argument, NULL, 'd' },
		{ "trace", required_argument, NULL, 't' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "no-will", no_argument, NULL, 'W' },
		{ "help", no_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};

	memset(c, 0, sizeof(*c));
	c->v5 = 1;
	c->ack_type = "accept";
	c->prefix = "mqbridge";
	c->hb_ms = 3000;
	c->max_part = -1;
	mqb_cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, "h:p:u:P:i:c:V:", opts, NULL)) != -1) {
		switch (opt) {
		case 'g': c->group = optarg; break;
		case 'n':
			if (!mqb_cli_parse_i64(optarg, 1, INT64_MAX, &c->count))
				return mqb_cli_usage(USAGE, "--count must be a positive integer");
			break;
		case 'f':
			if (!mqb_cli_parse_i64(optarg, 1, 65535, &v))
				return mqb_cli_usage(USAGE, "--prefetch must be 1..65535");
			c->prefetch = (int)v;
			break;
		case 'a':
			if (!strcmp(optarg, "none"))
				c->ack_type = NULL;
			else if (!strcmp(optarg, "accept") || !strcmp(optarg, "release") ||
				 !strcmp(optarg, "reject"))
				c->ack_type = optarg;
			else
				return mqb_cli_usage(USAGE, "--ack must be accept, release, reject or none");
			break;
		case 'j': c->json = true; break;
		case 'h': host = optarg; break;
		case 'p':
			if (!mqb_cli_parse_i64(optarg, 1, 65535, &v))
				return mqb_cli_usage(USAGE, "-p must be a port number");
			port = (int)v;
			break;
		case 'u': user = optarg; break;
		case 'P': pass = optarg; break;
		case 'C': cafile = optarg; break;
		case 'i': c->id = optarg; break;
		case 'c': conf = optarg; break;
		case 'I': c->instance_id = optarg; break;
		case 'x': c->prefix = optarg; break;
		case 'V':
			if (!strcmp(optarg, "v5") || !strcmp(optarg, "5"))
				c->v5 = 1;
			else if (!strcmp(optarg, "v311") || !strcmp(optarg, "311"))
				c->v5 = 0;
			else
				return mqb_cli_usage(USAGE, "-V must be v5 or v311");
			break;
		case 'b':
			if (!mqb_cli_parse_i64(optarg, 10, 3600000, &c->hb_ms))
				return mqb_cli_usage(USAGE, "--heartbeat-ms must be 10..3600000");
			hb_set = true;
			break;
		case 'd':
			if (!mqb_cli_parse_i64(optarg, 0, 60000, &c->ack_delay_ms))
				return mqb_cli_usage(USAGE, "--ack-delay-ms must be 0..60000");
			break;
		case 't': trace_path = optarg; break;
		case 'q': c->quiet = true; break;
		case 'W': c->no_will = true; break;   /* tests: death found by session timeout */
		case 'H':
			printf("usage: %s\n", USAGE);
			return MQB_CLI_OK;
		default:
			return mqb_cli_usage(USAGE, NULL);
		}
	}
	if (optind < argc)
		return mqb_cli_usage(USAGE, "unexpected argument: %s", argv[optind]);
	if (!c->group)
		return mqb_cli_usage(USAGE, "--group is required");
	if (conf) {
		char err[512];
		cfg = mqb_cli_config_load(conf, err, sizeof(err));
		if (!cfg) {
			mqb_cli_error("%s", err);
			return MQB_CLI_FAIL;
		}
		const mqb_mqtt_conf_t *mc = mqb_mqtt_conf(cfg);
		host = mc->host;
		port = mc->port;
		if (!user)
			user = mc->username;
		if (!pass && mc->password_file)
			pass = read_password_file(mc->password_file);
		if (!cafile)
			cafile = mc->cafile;
		c->prefix = cfg->groups_prefix;
		for (size_t i = 0; i < cfg->groups_count && !hb_set; i++)
			if (!strcmp(cfg->groups[i].name, c->group))
				c->hb_ms = cfg->groups[i].heartbeat_interval_ms;
	}
	if (!c->id) {
		snprintf(idbuf, sizeof(idbuf), "mqbridge-consume-%d", (int)getpid());
		c->id = idbuf;
	}
	if (strpbrk(c->id, "+#/") || strpbrk(c->group, "+#/")) {
		rc = mqb_cli_usage(USAGE, "client id and group may not contain '+', '#' or '/'");
		goto out;
	}
	snprintf(c->t_join, sizeof(c->t_join), "%s/groups/%s/join", c->prefix, c->group);
	snprintf(c->t_leave, sizeof(c->t_leave), "%s/groups/%s/leave", c->prefix, c->group);
	snprintf(c->t_sub, sizeof(c->t_sub), "%s/groups/%s/members/%s/#", c->prefix, c->group, c->id);
	snprintf(c->t_hb, sizeof(c->t_hb), "%s/groups/%s/members/%s/heartbeat", c->prefix, c->group,
		 c->id);
	snprintf(c->t_ack, sizeof(c->t_ack), "%s/groups/%s/members/%s/ack", c->prefix, c->group, c->id);
	snprintf(c->t_revoked, sizeof(c->t_revoked), "%s/groups/%s/members/%s/revoked", c->prefix,
		 c->group, c->id);
	if (trace_path) {
		c->trace = fopen(trace_path, "a");
		if (!c->trace) {
			mqb_cli_error("%s: %s", trace_path, strerror(errno));
			goto out;
		}
		/* fully buffered: flushed before every ack and after every assignment */
	}

	mosquitto_lib_init();
	c->mosq = mosquitto_new(c->id, true, c);
	if (!c->mosq) {
		mqb_cli_error("cannot create the MQTT client: %s", strerror(errno));
		goto out;
	}
	mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION,
			     c->v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
	if (c->v5) {
		mosquitto_connect_v5_callback_set(c->mosq, on_connect);
		mosquitto_message_v5_callback_set(c->mosq, on_message);
	} else {
		mosquitto_connect_callback_set(c->mosq, on_connect_v311);
		mosquitto_message_callback_set(c->mosq, on_message_v311);
	}
	mosquitto_subscribe_callback_set(c->mosq, on_subscribe);
	mosquitto_disconnect_callback_set(c->mosq, on_disconnect);
	mosquitto_publish_callback_set(c->mosq, on_publish);
	mosquitto_unsubscribe_callback_set(c->mosq, on_unsubscribe);
	if (!c->no_will) {
		char will[400];
		snprintf(will, sizeof(will), "{\"member_id\":\"%s\"}", c->id);
		if (mosquitto_will_set(c->mosq, c->t_leave, (int)strlen(will), will, 1, false)) {
			mqb_cli_error("cannot set the will");
			goto out;
		}
	}
	if (user && mosquitto_username_pw_set(c->mosq, user, pass) != MOSQ_ERR_SUCCESS) {
		mqb_cli_error("bad username/password");
		goto out;
	}
	if (cafile && mosquitto_tls_set(c->mosq, cafile, NULL, NULL, NULL, NULL) != MOSQ_ERR_SUCCESS) {
		mqb_cli_error("cannot use CA file %s", cafile);
		goto out;
	}
	int mrc = mosquitto_connect(c->mosq, host, port, 30);
	if (mrc != MOSQ_ERR_SUCCESS) {
		mqb_cli_error("cannot connect to %s:%d: %s", host, port,
			      mrc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(mrc));
		goto out;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	c->last_hb = c->last_flush = mqb_mono_ms();
	while (!g_stop && !c->done) {
		mrc = loop_turn(c, LOOP_WAIT_MS);
		if (mrc != MOSQ_ERR_SUCCESS && !g_stop) {
			usleep(300 * 1000);
			mosquitto_reconnect(c->mosq);
			continue;
		}
		int64_t now = mqb_mono_ms();
		if (now - c->last_flush >= ACK_FLUSH_MS)
			flush_acks(c);
		/* No assignment yet (the join was lost: mqbridged not running or not
		 * subscribed yet): ask again every few seconds. */
		if (!c->assigned_once && c->connected && c->joined &&
		    now - c->last_rejoin >= JOIN_RETRY_MS)
			send_join(c);
		if (c->assigned_once && c->connected && now - c->last_hb >= c->hb_ms) {
			char hb[64];
			snprintf(hb, sizeof(hb), "{\"generation\":%" PRId64 "}", c->gen);
			mosquitto_publish(c->mosq, NULL, c->t_hb, (int)strlen(hb), hb, 1, false);
			c->last_hb = now;
		}
	}
	/* Clean exit: ack what was printed, leave, disconnect. */
	leave_and_disconnect(c);
	fflush(stdout);
	rc = c->exit_code ? c->exit_code : MQB_CLI_OK;
out:
	if (c->mosq)
		mosquitto_destroy(c->mosq);
	if (c->trace)
		fclose(c->trace);
	for (int32_t p = 0; p <= c->max_part; p++)
		free(c->pend[p].off);
	if (cfg) {
		mqb_config_free(cfg);
	}
	return rc;
}
