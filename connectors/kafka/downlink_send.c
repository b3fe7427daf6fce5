/*
 * downlink_send.c — one Kafka record to MQTT: place it in its partition's window,
 * route it (template or mqtt.topic header), publish it with its headers as MQTT 5
 * user properties, or handle it as unroutable (count, log, skip or dead-letter).
 * Completions move the window's acknowledged cursor. Downlink thread only.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/err.h"
#include "bridge/logging.h"
#include "bridge/text.h"
#include "connectors/kafka/downlink_int.h"

#define DL_TOPIC_MAX 4096
#define DL_MAX_PROPS 64
#define TOPIC_HEADER "mqtt.topic"

static bool header_lookup(void *arg, const char *name, const void **v, size_t *len)
{
	rd_kafka_headers_t *hdrs = arg;
	return hdrs && rd_kafka_header_get(hdrs, 0, name, v, len) == RD_KAFKA_RESP_ERR_NO_ERROR;
}

static mqb_dl_unroutable_reason_t route(struct dl_part *p, rd_kafka_message_t *m,
					rd_kafka_headers_t *hdrs, char *topic,
					const char **detail)
{
	const void *v;
	size_t len;
	if (p->e->conf->allow_topic_header && header_lookup(hdrs, TOPIC_HEADER, &v, &len))
		return mqb_dl_topic_copy(v, len, topic, DL_TOPIC_MAX, detail);
	mqb_dl_fields_t f = { .key = m->key, .key_len = m->key_len, .partition = m->partition,
			      .offset = m->offset, .header = header_lookup, .arg = hdrs };
	return mqb_dl_tmpl_render(p->e->tmpl, &f, topic, DL_TOPIC_MAX, detail);
}

/* Make room for need bytes of scratch; false when out of memory. */
static bool scratch_reserve(struct dl_entry *e, size_t need)
{
	if (need <= e->scratch_cap)
		return true;
	size_t cap = e->scratch_cap ? e->scratch_cap : 4096;
	while (cap < need)
		cap *= 2;
	char *n = realloc(e->scratch, cap);
	if (!n)
		return false;
	e->scratch = n;
	e->scratch_cap = cap;
	return true;
}

/* Headers whose name and value are UTF-8 without NUL become user properties; the
 * others are left out (MQTT 5 user properties are UTF-8 strings). */
static size_t build_props(struct dl_entry *e, rd_kafka_headers_t *hdrs, mqb_dl_prop_t *props)
{
	size_t n = 0, need = 0, cnt = hdrs ? rd_kafka_header_cnt(hdrs) : 0;
	const char *name;
	const void *v;
	size_t len;
	for (size_t i = 0; i < cnt && i < DL_MAX_PROPS; i++)
		if (!rd_kafka_header_get_all(hdrs, i, &name, &v, &len))
			need += strlen(name) + len + 2;
	if (!scratch_reserve(e, need))
		return 0;
	char *at = e->scratch;
	for (size_t i = 0; i < cnt && n < DL_MAX_PROPS; i++) {
		if (rd_kafka_header_get_all(hdrs, i, &name, &v, &len))
			continue;
		size_t nl = strlen(name);
		if (!v || !mqb_utf8_valid(name, nl) || !mqb_utf8_valid(v, len) ||
		    memchr(v, '\0', len))
			continue;
		props[n].name = name;
		memcpy(at, v, len);
		at[len] = '\0';
		props[n++].value = at;
		at += len + 1;
	}
	return n;
}

static int publish(struct dl_part *p, rd_kafka_message_t *m, rd_kafka_headers_t *hdrs,
		   const char *topic)
{
	struct dl_entry *e = p->e;
	mqb_dl_prop_t props[DL_MAX_PROPS];
	struct dl_ticket *t = malloc(sizeof(*t));
	if (!t)
		return MQB_ERR_NOMEM;
	*t = (struct dl_ticket){ .p = p, .gen = p->gen, .offset = m->offset };
	mqb_dl_pubmsg_t pm = { .topic = topic, .payload = m->payload, .len = m->len,
			       .qos = e->conf->qos, .retain = e->conf->retain,
			       .props = props, .nprops = build_props(e, hdrs, props) };
	int rc = e->dl->pub.publish(e->dl->pub.ctx, &pm, t);
	if (rc != MQB_OK) {
		free(t);
		return rc;
	}
	atomic_fetch_add(&p->a_inflight, 1);
	atomic_fetch_add(&p->published, 1);
	return MQB_OK;
}

/* Append m to the dead-letter stream with where it came from and why. */
static int dead_letter(struct dl_part *p, rd_kafka_message_t *m, rd_kafka_headers_t *hdrs,
		       const char *why)
{
	struct dl_entry *e = p->e;
	const char *dl_name = e->conf->dead_letter;
	mqb_partition_t *dp = mqb_store_partition(e->dl->store, dl_name, p->id % e->ndead);
	mqb_rec_header_t h[DL_MAX_PROPS + 4];
	size_t n = 0, cnt = hdrs ? rd_kafka_header_cnt(hdrs) : 0;
	char part[16], off[24];
	const char *name;
	const void *v;
	size_t len;
	for (size_t i = 0; i < cnt && n < DL_MAX_PROPS; i++)
		if (!rd_kafka_header_get_all(hdrs, i, &name, &v, &len))
			h[n++] = (mqb_rec_header_t){ name, strlen(name), v, v ? (ssize_t)len : -1 };
	snprintf(part, sizeof(part), "%" PRId32, m->partition);
	snprintf(off, sizeof(off), "%" PRId64, m->offset);
	const char *topic = rd_kafka_topic_name(m->rkt);
	h[n++] = (mqb_rec_header_t){ "kafka.topic", 11, topic, (ssize_t)strlen(topic) };
	h[n++] = (mqb_rec_header_t){ "kafka.partition", 15, part, (ssize_t)strlen(part) };
	h[n++] = (mqb_rec_header_t){ "kafka.offset", 12, off, (ssize_t)strlen(off) };
	h[n++] = (mqb_rec_header_t){ "unroutable.reason", 17, why, (ssize_t)strlen(why) };
	rd_kafka_timestamp_type_t tt;
	int64_t ts = rd_kafka_message_timestamp(m, &tt);
	mqb_record_t r = { .timestamp_ms = ts >= 0 ? ts : 0,
			   .key = m->key, .key_len = m->key ? (ssize_t)m->key_len : -1,
			   .value = m->payload, .value_len = m->payload ? (ssize_t)m->len : -1,
			   .headers = h, .header_count = n };
	return dp ? mqb_partition_append(dp, &r, 1, NULL) : MQB_ERR_NOTFOUND;
}

/* 1 handled (committed past), -1 retry later (dead-lettering failed). */
static int unroutable(struct dl_part *p, rd_kafka_message_t *m, rd_kafka_headers_t *hdrs,
		      mqb_dl_unroutable_reason_t r, const char *detail)
{
	struct dl_entry *e = p->e;
	char why[160];
	snprintf(why, sizeof(why), "%s: %s", mqb_dl_reason_name(r), detail ? detail : "");
	if (e->conf->on_unroutable == MQB_DL_UNROUTABLE_DEAD_LETTER) {
		int rc = dead_letter(p, m, hdrs, why);
		if (rc != MQB_OK) {
			atomic_fetch_add(&e->fail[DL_FAIL_DEAD_LETTER], 1);
			MQB_LOG_RATELIMITED(MQB_LOG_ERROR, DL_MOD, 5000, "%s: cannot append %s [%d] "
					    "offset %" PRId64 " to dead-letter stream %s: %s; "
					    "retrying", e->label, e->conf->topic, p->id, m->offset,
					    e->conf->dead_letter, mqb_strerror(rc));
			return -1;
		}
		atomic_fetch_add(&p->dead_lettered, 1);
	}
	atomic_fetch_add(&e->unroutable[r], 1);
	atomic_fetch_add(&p->unroutable, 1);
	MQB_LOG_RATELIMITED(MQB_LOG_WARN, DL_MOD, 5000, "%s: %s [%d] offset %" PRId64
			    " is unroutable (%s): %s", e->label, e->conf->topic, p->id, m->offset,
			    why, e->conf->on_unroutable == MQB_DL_UNROUTABLE_DEAD_LETTER ?
			    "dead-lettered" : "skipped");
	mqb_fwd_window_produced(&p->win);
	mqb_fwd_window_delivered(&p->win, m->offset);
	return 1;
}

/* Place offset in the window: 1 ready to send, 0 no room, 2 already handled. */
static int place(struct dl_part *p, int64_t off)
{
	mqb_fwd_window_t *w = &p->win;
	if (!p->started) {
		mqb_fwd_window_reset(w, off);
		p->started = true;
	} else if (off < w->next) {
		return 2;
	} else if (off > w->next) {
		if (w->cursor == w->next)
			mqb_fwd_window_reset(w, off);      /* a gap (compaction, markers) */
		else if (!mqb_fwd_window_skip_to(w, off))
			return 0;
	}
	return mqb_fwd_window_room(w) ? 1 : 0;
}

int mqb_dl__handle(struct dl_part *p, rd_kafka_message_t *m)
{
	struct dl_entry *e = p->e;
	rd_kafka_headers_t *hdrs = NULL;
	char topic[DL_TOPIC_MAX];
	const char *detail = NULL;
	int pl = place(p, m->offset);
	if (pl != 1) {
		if (pl == 2)
			atomic_fetch_add(&p->duplicates_skipped, 1);
		return pl == 2 ? 1 : 0;
	}
	if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
		hdrs = NULL;
	mqb_dl_unroutable_reason_t r = route(p, m, hdrs, topic, &detail);
	if (r != MQB_DL_OK)
		return unroutable(p, m, hdrs, r, detail);
	int rc = publish(p, m, hdrs, topic);
	if (rc != MQB_OK) {
		atomic_fetch_add(&e->fail[DL_FAIL_REFUSED], 1);
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, DL_MOD, 5000, "%s: publish of %s [%d] offset %"
				    PRId64 " to %s refused: %s; retrying", e->label,
				    e->conf->topic, p->id, m->offset, topic, mqb_strerror(rc));
		return -1;
	}
	mqb_fwd_window_produced(&p->win);
	return 1;
}

void mqb_dl__on_done(void *arg, void *cookie, int status)
{
	struct dl_ticket *t = cookie;
	struct dl_part *p = t->p;
	(void)arg;
	if (t->gen != p->gen) {
		free(t);       /* revoked or restarted since: abandoned (counted then) */
		return;
	}
	atomic_fetch_sub(&p->a_inflight, 1);
	if (status == MQB_OK) {
		if (mqb_fwd_window_delivered(&p->win, t->offset))
			atomic_fetch_add(&p->acked, 1);
	} else {
		struct dl_entry *e = p->e;
		atomic_fetch_add(&e->fail[status == MQB_ERR_CLOSED ? DL_FAIL_ABANDONED : DL_FAIL_NACK], 1);
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, DL_MOD, 5000, "%s: publish of %s [%d] offset %"
				    PRId64 " failed: %s; not committed past it", e->label,
				    e->conf->topic, p->id, t->offset, mqb_strerror(status));
		p->need_rewind = status != MQB_ERR_CLOSED;
	}
	atomic_store(&p->a_cursor, p->win.cursor);
	free(t);
}
