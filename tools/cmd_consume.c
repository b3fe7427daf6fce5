/*
 * cmd_consume.c — `mqbridge consume`: a reference consumer-group member over MQTT, on
 * the project's MQTT session (connectors/mqtt/session.h: reconnect with backoff, read
 * bursts with the socket corked so PUBACKs and acks leave together).
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
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bridge/clock.h"
#include "bridge/config.h"
#include "bridge/err.h"
#include "bridge/text.h"
#include "connectors/mqtt/mqtt_conf.h"
#include "connectors/mqtt/session.h"
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
#define RECONNECT_MS 300          /* reconnect after 150..300 ms (session backoff) */
#define RECEIVE_MAX 20            /* our Receive Maximum (libmosquitto's default) */
#define KEEPALIVE_S 30

typedef struct pend {             /* offsets printed, not yet acked, of one partition */
	int64_t *off;
	size_t n, cap;
} pend_t;

typedef struct consumer {
	mqb_mqtt_session_t *sess;
	const char *group, *id, *instance_id, *prefix;
	int v5;
	int prefetch;
	const char *ack_type;          /* NULL: --ack none */
	bool json, quiet, no_will;
	int64_t count, printed;
	int64_t hb_ms, ack_delay_ms;
	int64_t gen;
	bool assigned_once, joined;
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
} consumer_t;

/* What the command line (and -c's config) say about the broker. */
typedef struct consume_args {
	const char *host, *user, *cafile, *conf, *trace_path;
	char *pass;
	int port;
	bool hb_set;                   /* --heartbeat-ms given: -c's does not override */
} consume_args_t;

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

static int publish_str(consumer_t *c, const char *topic, const char *s, int *mid)
{
	return mqb_mqtt_session_publish(c->sess, topic, s, strlen(s), 1, false, NULL, mid);
}

static void publish_json(consumer_t *c, const char *topic, cJSON *o)
{
	char *s = cJSON_PrintUnformatted(o);
	if (s) {
		publish_str(c, topic, s, NULL);
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
	if (!s || publish_str(c, c->t_leave, s, &c->leave_mid) != MQB_OK)
		c->leave_acked = true;   /* nothing to wait for */
	free(s);
	cJSON_Delete(o);
}

static void on_publish(void *arg, int mid)
{
	consumer_t *c = arg;
	if (c->done && mid == c->leave_mid)
		c->leave_acked = true;
}

static void on_unsubscribe(void *arg, int mid)
{
	consumer_t *c = arg;
	if (c->done && mid == c->unsub_mid)
		c->unsubscribed = true;
}

static void flush_acks(consumer_t *c);

static bool connected(const consumer_t *c)
{
	return mqb_mqtt_session_connected(c->sess);
}

/* Run the session until *flag is set, the connection is gone or deadline passed. */
static void run_until(consumer_t *c, const bool *flag, int64_t deadline)
{
	while (connected(c) && !*flag && mqb_mono_ms() < deadline)
		mqb_mqtt_session_run(c->sess, 10);
}

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
	if (!connected(c))
		return;
	send_leave(c);
	run_until(c, &c->leave_acked, deadline);
	if (connected(c) &&
	    mqb_mqtt_session_unsubscribe_mid(c->sess, c->t_sub, &c->unsub_mid) == MQB_OK &&
	    c->unsub_mid)
		run_until(c, &c->unsubscribed, deadline);
	while (connected(c) && mqb_mono_ms() - c->last_rx_ms < EXIT_QUIET_MS &&
	       mqb_mono_ms() < deadline)
		mqb_mqtt_session_run(c->sess, 10);
	if (connected(c))
		mqb_mqtt_session_disconnect(c->sess, 1000);
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

/*
 * Base64 text as the daemon sends it (canonical, padded) decoded by bridge/text.h. A
 * value that merely starts with "base64:" (a text key "base64:abc" is sent as is,
 * docs/PROTOCOL.md §3) has always been read as its run of base64 characters up to the
 * first other one (padding included), so that run is taken, padded to a whole
 * quantum (a lone last character holds no whole byte and is dropped) and decoded.
 */
static void *b64_bytes(const char *s, size_t *len)
{
	size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
	size_t pad = n % 4 == 1 ? 0 : (4 - n % 4) % 4;
	char *t;
	void *out;

	*len = 0;
	if (n % 4 == 1)
		n--;
	if (!pad)
		return mqb_base64_decode(s, n, len);
	t = malloc(n + pad);
	if (!t)
		return NULL;
	memcpy(t, s, n);
	memset(t + n, '=', pad);
	out = mqb_base64_decode(t, n + pad, len);
	free(t);
	return out;
}

/* "base64:..." user-property values carry bytes that are not UTF-8. */
static void *prop_bytes(const char *v, size_t *len)
{
	if (strncmp(v, "base64:", 7) == 0)
		return b64_bytes(v + 7, len);
	*len = strlen(v);
	return strdup(v);
}

static void record_v5(consumer_t *c, const mqb_mqtt_msg_t *msg)
{
	mqb_rec_header_t hs[128];
	void *hv[128], *hk[128];
	size_t nh = 0;
	mqb_record_t rec;
	int32_t part = -1;
	int64_t gen = 0, delivery = 0;
	void *key = NULL;
	size_t key_len = 0;

	memset(&rec, 0, sizeof(rec));
	rec.key_len = -1;
	for (size_t i = 0; i < msg->user_prop_count; i++) {
		const char *name = msg->user_props[i].name, *value = msg->user_props[i].value;

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
	}
	if (key) {
		rec.key = key;
		rec.key_len = (ssize_t)key_len;
	}
	rec.value = msg->payload;
	rec.value_len = (ssize_t)msg->payload_len;
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
		void *r = b64_bytes(v->valuestring, &n);
		*len = (ssize_t)n;
		return r;
	}
	*len = -1;
	return NULL;
}

static void record_envelope(consumer_t *c, const mqb_mqtt_msg_t *msg)
{
	cJSON *o = cJSON_ParseWithLength(msg->payload, msg->payload_len);
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

static void handle_assignment(consumer_t *c, const mqb_mqtt_msg_t *msg)
{
	cJSON *o = cJSON_ParseWithLength(msg->payload, msg->payload_len);
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

static void handle_error(consumer_t *c, const mqb_mqtt_msg_t *msg)
{
	cJSON *o = cJSON_ParseWithLength(msg->payload, msg->payload_len);
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

static void on_message(void *arg, const mqb_mqtt_msg_t *msg)
{
	consumer_t *c = arg;
	const char *leaf = strrchr(msg->topic, '/');

	c->last_rx_ms = mqb_mono_ms();
	if (!leaf)
		return;
	leaf++;
	if (!strcmp(leaf, "records")) {
		if (c->v5)
			record_v5(c, msg);
		else
			record_envelope(c, msg);
	} else if (!strcmp(leaf, "assignment")) {
		handle_assignment(c, msg);
	} else if (!strcmp(leaf, "error")) {
		handle_error(c, msg);
	}
}

static void on_connect_refused(void *arg, int reason)
{
	(void)arg;
	mqb_cli_error("connection refused: %s", mqb_mqtt_reason_string(reason));
}

static void on_subscribe(void *arg, const char *filter, int granted_qos)
{
	consumer_t *c = arg;

	(void)filter;
	if (granted_qos > 2) {
		mqb_cli_error("subscription to %s refused (broker ACL?)", c->t_sub);
		c->exit_code = 1;
		g_stop = 1;
		return;
	}
	send_join(c);     /* (re)join after every (re)connect */
}

static void on_disconnect(void *arg, int reason)
{
	consumer_t *c = arg;

	if (reason && !g_stop && !c->done)
		mqb_cli_error("disconnected (%s); reconnecting", mqb_mqtt_strerror(reason));
}

/* --- the loop ---------------------------------------------------------------------------- */

/* Timers between turns: acks every ACK_FLUSH_MS, the join again while no assignment
 * came, heartbeats. */
static void tick(consumer_t *c)
{
	int64_t now = mqb_mono_ms();

	if (!connected(c))
		return;
	if (now - c->last_flush >= ACK_FLUSH_MS)
		flush_acks(c);
	/* No assignment yet (the join was lost: mqbridged not running or not
	 * subscribed yet): ask again every few seconds. */
	if (!c->assigned_once && c->joined && now - c->last_rejoin >= JOIN_RETRY_MS)
		send_join(c);
	if (c->assigned_once && now - c->last_hb >= c->hb_ms) {
		char hb[64];
		snprintf(hb, sizeof(hb), "{\"generation\":%" PRId64 "}", c->gen);
		publish_str(c, c->t_hb, hb, NULL);
		c->last_hb = now;
	}
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

/* Parse argv into c and a. -1 when the command may go on, else its exit status. */
static int parse_args(int argc, char **argv, consumer_t *c, consume_args_t *a)
{
	int64_t v;
	int opt;
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
		case 'h': a->host = optarg; break;
		case 'p':
			if (!mqb_cli_parse_i64(optarg, 1, 65535, &v))
				return mqb_cli_usage(USAGE, "-p must be a port number");
			a->port = (int)v;
			break;
		case 'u': a->user = optarg; break;
		case 'P': a->pass = optarg; break;
		case 'C': a->cafile = optarg; break;
		case 'i': c->id = optarg; break;
		case 'c': a->conf = optarg; break;
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
			a->hb_set = true;
			break;
		case 'd':
			if (!mqb_cli_parse_i64(optarg, 0, 60000, &c->ack_delay_ms))
				return mqb_cli_usage(USAGE, "--ack-delay-ms must be 0..60000");
			break;
		case 't': a->trace_path = optarg; break;
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
	return -1;
}

/* -c: broker, credentials, prefix and heartbeat interval from mqbridged's config.
 * *cfg (the caller frees it) backs the strings put into c and a. */
static bool apply_config(consumer_t *c, consume_args_t *a, mqb_config_t **cfg)
{
	const mqb_mqtt_conf_t *mc;
	char err[512];

	*cfg = mqb_cli_config_load(a->conf, err, sizeof(err));
	if (!*cfg) {
		mqb_cli_error("%s", err);
		return false;
	}
	mc = mqb_mqtt_conf(*cfg);
	a->host = mc->host;
	a->port = mc->port;
	if (!a->user)
		a->user = mc->username;
	if (!a->pass && mc->password_file)
		a->pass = read_password_file(mc->password_file);
	if (!a->cafile)
		a->cafile = mc->cafile;
	c->prefix = (*cfg)->groups_prefix;
	for (size_t i = 0; i < (*cfg)->groups_count && !a->hb_set; i++)
		if (!strcmp((*cfg)->groups[i].name, c->group))
			c->hb_ms = (*cfg)->groups[i].heartbeat_interval_ms;
	return true;
}

static void make_topics(consumer_t *c)
{
	snprintf(c->t_join, sizeof(c->t_join), "%s/groups/%s/join", c->prefix, c->group);
	snprintf(c->t_leave, sizeof(c->t_leave), "%s/groups/%s/leave", c->prefix, c->group);
	snprintf(c->t_sub, sizeof(c->t_sub), "%s/groups/%s/members/%s/#", c->prefix, c->group, c->id);
	snprintf(c->t_hb, sizeof(c->t_hb), "%s/groups/%s/members/%s/heartbeat", c->prefix, c->group,
		 c->id);
	snprintf(c->t_ack, sizeof(c->t_ack), "%s/groups/%s/members/%s/ack", c->prefix, c->group, c->id);
	snprintf(c->t_revoked, sizeof(c->t_revoked), "%s/groups/%s/members/%s/revoked", c->prefix,
		 c->group, c->id);
}

/* The session (clean start, will on .../leave unless --no-will, our subscription),
 * connected: false with a message printed when the broker cannot be reached. */
static bool open_session(consumer_t *c, const consume_args_t *a)
{
	mqb_mqtt_conf_t mc;
	mqb_mqtt_session_opts_t so;
	mqb_mqtt_will_t will;
	char err[256], wp[400];

	memset(&mc, 0, sizeof(mc));
	mc.host = (char *)a->host;
	mc.port = a->port;
	mc.client_id = (char *)c->id;
	mc.protocol = c->v5 ? 5 : 4;
	mc.keepalive = KEEPALIVE_S;
	mc.clean_start = true;
	mc.username = (char *)a->user;
	mc.cafile = (char *)a->cafile;
	mc.reconnect_min_ms = mc.reconnect_max_ms = RECONNECT_MS;
	mc.max_inflight = RECEIVE_MAX;
	memset(&so, 0, sizeof(so));
	so.conf = &mc;
	so.clean_start = 1;
	so.password = a->user ? a->pass : NULL;
	so.receive_maximum = RECEIVE_MAX;
	so.max_burst = READ_BURST;
	so.cork_reads = true;
	so.log_name = "consume";
	if (!c->no_will) {
		snprintf(wp, sizeof(wp), "{\"member_id\":\"%s\"}", c->id);
		will = (mqb_mqtt_will_t){ c->t_leave, wp, strlen(wp), 1, false };
		so.will = &will;
	}
	so.cb = (mqb_mqtt_callbacks_t){ .on_disconnect = on_disconnect,
					.on_message = on_message,
					.on_subscribe = on_subscribe,
					.on_publish = on_publish,
					.on_unsubscribe = on_unsubscribe,
					.on_connect_refused = on_connect_refused,
					.arg = c };
	c->sess = mqb_mqtt_session_new(&so, err, sizeof(err));
	if (!c->sess) {
		mqb_cli_error("%s", err);
		return false;
	}
	if (mqb_mqtt_session_subscribe(c->sess, c->t_sub, 1, 0) != MQB_OK) {
		mqb_cli_error("cannot subscribe to %s", c->t_sub);
		return false;
	}
	if (mqb_mqtt_session_connect_sync(c->sess, err, sizeof(err)) != MQB_OK) {
		mqb_cli_error("cannot connect to %s:%d: %s", a->host, a->port, err);
		return false;
	}
	return true;
}

static void cleanup(consumer_t *c, mqb_config_t *cfg)
{
	mqb_mqtt_session_destroy(c->sess);
	if (c->trace)
		fclose(c->trace);
	for (int32_t p = 0; p <= c->max_part; p++)
		free(c->pend[p].off);
	mqb_config_free(cfg);
}

int mqb_cmd_consume(int argc, char **argv)
{
	static consumer_t cs;
	consumer_t *c = &cs;
	consume_args_t a = { .host = "127.0.0.1", .port = 1883 };
	mqb_config_t *cfg = NULL;
	char idbuf[128];
	int rc;

	memset(c, 0, sizeof(*c));
	c->v5 = 1;
	c->ack_type = "accept";
	c->prefix = "mqbridge";
	c->hb_ms = 3000;
	c->max_part = -1;
	rc = parse_args(argc, argv, c, &a);
	if (rc >= 0)
		return rc;
	rc = MQB_CLI_FAIL;
	if (a.conf && !apply_config(c, &a, &cfg))
		return MQB_CLI_FAIL;
	if (!c->id) {
		snprintf(idbuf, sizeof(idbuf), "mqbridge-consume-%d", (int)getpid());
		c->id = idbuf;
	}
	if (strpbrk(c->id, "+#/") || strpbrk(c->group, "+#/")) {
		rc = mqb_cli_usage(USAGE, "client id and group may not contain '+', '#' or '/'");
		goto out;
	}
	make_topics(c);
	if (a.trace_path) {
		c->trace = fopen(a.trace_path, "a");
		if (!c->trace) {
			mqb_cli_error("%s: %s", a.trace_path, strerror(errno));
			goto out;
		}
		/* fully buffered: flushed before every ack and after every assignment */
	}
	if (!open_session(c, &a))
		goto out;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	c->last_hb = c->last_flush = mqb_mono_ms();
	while (!g_stop && !c->done) {
		mqb_mqtt_session_run(c->sess, LOOP_WAIT_MS);
		tick(c);
	}
	/* Clean exit: ack what was printed, leave, disconnect. */
	leave_and_disconnect(c);
	fflush(stdout);
	rc = c->exit_code ? c->exit_code : MQB_CLI_OK;
out:
	cleanup(c, cfg);
	return rc;
}
