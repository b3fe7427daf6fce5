/*
 * amqp_ingest.c — links a peer sends on (address <stream> or <stream>/partitions/<p>):
 * each complete message is mapped (amqp_map.h), partitioned (murmur2 of
 * x-opt-partition-key, the link's sticky partition without one, or the address's
 * partition) and queued per partition; after each event batch every partition's queue
 * is appended as one batch. A message is settled accepted once its batch is appended
 * (settle = "stored") or once the partition's durable watermark passed its offset
 * (settle = "durable"). A refused append (disk full, I/O error) keeps the queue, retries
 * with backoff and grants no credit meanwhile: back-pressure, never a drop.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <proton/condition.h>
#include <proton/disposition.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/logging.h"
#include "bridge/store/batch.h"
#include "connectors/amqp/amqp_int.h"

#define RETRY_MIN_MS 50
#define RETRY_MAX_MS 1000
#define APPEND_MAX_RECORDS 4096

static int32_t stream_max_batch(const amqp_srv_t *s, const char *stream)
{
	for (size_t i = 0; i < s->cfg->streams_count; i++)
		if (strcmp(s->cfg->streams[i].name, stream) == 0) {
			int32_t m = s->cfg->streams[i].opts.max_batch_bytes;

			return m > 0 ? m : 1073741824;
		}
	return 16 * 1024 * 1024;
}

static amqp_partq_t *partq_get(amqp_srv_t *s, const char *stream, int32_t partition)
{
	mqb_partition_t *p = mqb_store_partition(s->store, stream, partition);
	amqp_partq_t *q;

	if (!p)
		return NULL;
	for (size_t i = 0; i < s->npq; i++)
		if (s->pq[i].part == p)
			return &s->pq[i];
	if (s->npq == s->pq_cap) {
		size_t cap = s->pq_cap ? s->pq_cap * 2 : 16;
		amqp_partq_t *n = realloc(s->pq, cap * sizeof *n);

		if (!n)
			return NULL;
		/* the lists' tails point into the array: re-anchor them */
		for (size_t i = 0; i < s->npq; i++) {
			if (!n[i].head)
				n[i].tail = &n[i].head;
			if (!n[i].dhead)
				n[i].dtail = &n[i].dhead;
		}
		s->pq = n;
		s->pq_cap = cap;
	}
	q = &s->pq[s->npq++];
	memset(q, 0, sizeof *q);
	q->part = p;
	q->tail = &q->head;
	q->dtail = &q->dhead;
	q->max_batch = stream_max_batch(s, stream);
	return q;
}

void amqp_in_credit(amqp_link_t *l)
{
	amqp_srv_t *s = l->conn->srv;
	int window = s->conf->credit_window;
	int credit = pn_link_credit(l->pn);
	int room = window - credit - l->outstanding;

	if (!(pn_link_state(l->pn) & PN_LOCAL_ACTIVE))
		return;
	if (credit > window / 2 || room <= 0)
		return;
	if (s->store_paused) {
		if (!l->stalled) {
			l->stalled = true;
			mqb_counter_inc(s->stats->credit_stalls);
		}
		return;
	}
	pn_link_flow(l->pn, room);
	l->conn->wake = true;
}

void amqp_in_attach(amqp_link_t *l)
{
	mqb_sticky_init(&l->sticky, l->partitions, 0);
	amqp_in_credit(l);
}

static void settle_accepted(amqp_srv_t *s, amqp_msg_t *m)
{
	if (m->link && m->dlv) {
		pn_delivery_update(m->dlv, PN_ACCEPTED);
		pn_delivery_settle(m->dlv);
		m->link->outstanding--;
		m->link->conn->wake = true;
		mqb_counter_inc(s->stats->settled);
		amqp_in_credit(m->link);
	}
}

static void refuse(amqp_link_t *l, pn_delivery_t *d, int reason, const char *cond,
		   const char *why)
{
	amqp_srv_t *s = l->conn->srv;

	mqb_counter_inc(s->stats->rejected[reason]);
	MQB_LOG_RATELIMITED(MQB_LOG_INFO, AMQP_LOG, 2000, "connection %" PRIu64 ": message "
			    "to '%s' rejected: %s: %s", l->conn->id, l->addr.stream, cond, why);
	if (!pn_delivery_settled(d))
		amqp_reject(d, cond, why);
	else
		pn_delivery_settle(d);
}

/* Copy the mapped record into one allocation. */
static amqp_msg_t *msg_new(const mqb_record_t *r)
{
	size_t n = sizeof(amqp_msg_t) + r->header_count * sizeof(mqb_rec_header_t);
	amqp_msg_t *m;
	mqb_rec_header_t *h;
	char *p;

	n += (r->key_len > 0 ? (size_t)r->key_len : 0) + (r->value_len > 0 ? (size_t)r->value_len : 0);
	for (size_t i = 0; i < r->header_count; i++)
		n += r->headers[i].key_len +
		     (r->headers[i].value_len > 0 ? (size_t)r->headers[i].value_len : 0);
	m = malloc(n);
	if (!m)
		return NULL;
	memset(m, 0, sizeof *m);
	m->rec = *r;
	h = (mqb_rec_header_t *)(m + 1);
	p = (char *)(h + r->header_count);
	if (r->key_len > 0) {
		memcpy(p, r->key, (size_t)r->key_len);
		m->rec.key = p;
		p += r->key_len;
	} else if (r->key_len == 0) {
		m->rec.key = "";
	}
	if (r->value_len > 0) {
		memcpy(p, r->value, (size_t)r->value_len);
		m->rec.value = p;
		p += r->value_len;
	} else if (r->value_len == 0) {
		m->rec.value = "";
	}
	for (size_t i = 0; i < r->header_count; i++) {
		h[i] = r->headers[i];
		memcpy(p, h[i].key, h[i].key_len);
		h[i].key = p;
		p += h[i].key_len;
		if (h[i].value_len > 0) {
			memcpy(p, h[i].value, (size_t)h[i].value_len);
			h[i].value = p;
			p += h[i].value_len;
		} else if (h[i].value_len == 0) {
			h[i].value = "";
		}
	}
	m->rec.headers = h;
	return m;
}

/* Read what arrived of d; false when the message is not complete yet. */
static bool read_delivery(amqp_link_t *l, pn_delivery_t *d)
{
	size_t max = (size_t)l->conn->srv->conf->max_message_bytes;
	char scratch[4096];
	ssize_t n;

	for (;;) {
		size_t pend = pn_delivery_pending(d);

		if (pend == 0)
			break;
		if (!l->oversize && l->buf_len + pend > max)
			l->oversize = true;
		if (l->oversize) {
			n = pn_link_recv(l->pn, scratch, sizeof scratch);
		} else {
			if (l->buf_len + pend > l->buf_cap) {
				size_t cap = l->buf_cap ? l->buf_cap : 4096;
				char *nb;

				while (cap < l->buf_len + pend)
					cap *= 2;
				nb = realloc(l->buf, cap);
				if (!nb)
					return false;
				l->buf = nb;
				l->buf_cap = cap;
			}
			n = pn_link_recv(l->pn, l->buf + l->buf_len, pend);
			if (n > 0)
				l->buf_len += (size_t)n;
		}
		if (n <= 0)
			break;
	}
	return !pn_delivery_partial(d);
}

void amqp_in_delivery(amqp_link_t *l, pn_delivery_t *d)
{
	amqp_srv_t *s = l->conn->srv;
	mqb_amqp_in_t in;
	mqb_record_t rec;
	amqp_partq_t *q;
	amqp_msg_t *m;
	int32_t part;
	char why[256];
	int rc;

	if (!pn_delivery_readable(d) && !pn_delivery_aborted(d))
		return;
	if (pn_delivery_aborted(d)) {
		pn_delivery_settle(d);
		l->buf_len = 0;
		l->oversize = false;
		return;
	}
	if (!read_delivery(l, d))
		return;
	pn_link_advance(l->pn);
	mqb_counter_inc(s->stats->received);
	if (l->oversize) {
		l->oversize = false;
		l->buf_len = 0;
		snprintf(why, sizeof why, "message larger than max_message_bytes (%" PRId64 ")",
			 s->conf->max_message_bytes);
		refuse(l, d, AMQP_REJ_SIZE, "amqp:link:message-size-exceeded", why);
		amqp_in_credit(l);
		return;
	}
	rc = mqb_amqp_map_in(s->mapper, l->buf, l->buf_len, &in, why, sizeof why);
	l->buf_len = 0;
	if (rc != MQB_OK) {
		refuse(l, d, rc == MQB_ERR_PROTO ? AMQP_REJ_DECODE : AMQP_REJ_BODY,
		       rc == MQB_ERR_PROTO ? "amqp:decode-error" : "amqp:not-implemented", why);
		amqp_in_credit(l);
		return;
	}
	if (l->addr.kind == MQB_AMQP_ADDR_PARTITION) {
		part = l->addr.partition;
	} else if (in.key_len >= 0) {
		part = mqb_partition_for_key(in.key, (size_t)in.key_len, l->partitions);
	} else {
		part = mqb_sticky_partition(&l->sticky);
		l->sticky_used = true;
	}
	memset(&rec, 0, sizeof rec);
	rec.timestamp_ms = mqb_now_ms();
	rec.key = in.key;
	rec.key_len = in.key_len;
	rec.value = in.value;
	rec.value_len = in.value_len;
	rec.headers = in.headers;
	rec.header_count = in.header_count;
	q = partq_get(s, l->addr.stream, part);
	if (!q) {
		refuse(l, d, AMQP_REJ_DECODE, "amqp:internal-error", "partition not open");
		return;
	}
	if ((int64_t)mqb_batch_record_size(&rec) > s->conf->max_message_bytes ||
	    mqb_batch_record_size(&rec) > (size_t)q->max_batch - MQB_BATCH_HDR_SIZE) {
		refuse(l, d, AMQP_REJ_SIZE, "amqp:link:message-size-exceeded",
		       "the record (value, key and headers) is larger than max_message_bytes or "
		       "the stream's max_batch_bytes");
		amqp_in_credit(l);
		return;
	}
	m = msg_new(&rec);
	if (!m) {
		refuse(l, d, AMQP_REJ_DECODE, "amqp:internal-error", "out of memory");
		return;
	}
	m->size = mqb_batch_record_size(&rec);
	if (pn_delivery_settled(d)) {
		pn_delivery_settle(d);   /* pre-settled by the peer: nothing to answer */
	} else {
		m->link = l;
		m->dlv = d;
		l->outstanding++;
	}
	*q->tail = m;
	q->tail = &m->next;
	q->n++;
}

/* Append q's waiting messages (in batches of at most the stream's max_batch_bytes). */
static int flush_partq(amqp_srv_t *s, amqp_partq_t *q)
{
	mqb_record_t *recs = NULL;
	size_t cap = 0;
	int rc = MQB_OK;

	while (q->head) {
		size_t n = 0, bytes = MQB_BATCH_HDR_SIZE;
		int64_t base = -1;
		amqp_msg_t *m;

		for (m = q->head; m && n < APPEND_MAX_RECORDS; m = m->next) {
			if (n > 0 && bytes + m->size > (size_t)q->max_batch)
				break;
			bytes += m->size;
			n++;
		}
		if (n > cap) {
			mqb_record_t *nr = realloc(recs, n * sizeof *nr);

			if (!nr) {
				rc = MQB_ERR_NOMEM;
				break;
			}
			recs = nr;
			cap = n;
		}
		m = q->head;
		for (size_t i = 0; i < n; i++, m = m->next)
			recs[i] = m->rec;
		rc = mqb_partition_append(q->part, recs, n, &base);
		if (rc != MQB_OK)
			break;
		mqb_counter_add(s->stats->stored, n);
		for (size_t i = 0; i < n; i++) {
			m = q->head;
			q->head = m->next;
			q->n--;
			m->next = NULL;
			m->offset = base + (int64_t)i;
			if (s->conf->settle == MQB_AMQP_SETTLE_STORED || !m->link) {
				settle_accepted(s, m);
				free(m);
			} else {
				*q->dtail = m;
				q->dtail = &m->next;
			}
		}
		if (!q->head)
			q->tail = &q->head;
	}
	free(recs);
	return rc;
}

static void wake_changed(amqp_srv_t *s)
{
	for (amqp_conn_t *c = s->conns; c; c = c->next)
		if (c->wake) {
			c->wake = false;
			pn_connection_wake(c->pn);
		}
}

void amqp_in_flush(amqp_srv_t *s)
{
	int64_t now = mqb_mono_ms();
	bool was_paused = s->store_paused, failed = false;

	if (s->store_paused && now < s->retry_at_ms)
		return;
	for (size_t i = 0; i < s->npq && !failed; i++) {
		amqp_partq_t *q = &s->pq[i];
		int rc;

		if (!q->head)
			continue;
		rc = flush_partq(s, q);
		if (rc != MQB_OK) {
			failed = true;
			s->retry_backoff_ms = s->retry_backoff_ms ?
					      s->retry_backoff_ms * 2 : RETRY_MIN_MS;
			if (s->retry_backoff_ms > RETRY_MAX_MS)
				s->retry_backoff_ms = RETRY_MAX_MS;
			s->retry_at_ms = now + s->retry_backoff_ms;
			s->store_paused = true;
			/* every sender with messages waiting is now held without new credit */
			for (amqp_conn_t *c = s->conns; c; c = c->next)
				for (amqp_link_t *l = c->links; l; l = l->next)
					if (l->kind == AMQP_LINK_IN && l->outstanding > 0 &&
					    !l->stalled) {
						l->stalled = true;
						mqb_counter_inc(s->stats->credit_stalls);
					}
			MQB_LOG_RATELIMITED(MQB_LOG_WARN, AMQP_LOG, 5000, "append to %s-%d "
					    "refused (%s): %zu messages wait, no credit until it "
					    "succeeds", mqb_partition_stream(q->part),
					    (int)mqb_partition_id(q->part), mqb_strerror(rc), q->n);
		}
	}
	if (!failed) {
		s->store_paused = false;
		s->retry_backoff_ms = 0;
		if (was_paused) {
			mqb_notice(AMQP_LOG, "appends succeed again: credit resumes");
			for (amqp_conn_t *c = s->conns; c; c = c->next)
				for (amqp_link_t *l = c->links; l; l = l->next)
					if (l->kind == AMQP_LINK_IN) {
						l->stalled = false;
						amqp_in_credit(l);
					}
		}
	}
	for (amqp_conn_t *c = s->conns; c; c = c->next)
		for (amqp_link_t *l = c->links; l; l = l->next)
			if (l->kind == AMQP_LINK_IN && l->sticky_used) {
				mqb_sticky_next(&l->sticky);
				l->sticky_used = false;
			}
	wake_changed(s);
}

void amqp_in_check_durable(amqp_srv_t *s)
{
	for (size_t i = 0; i < s->npq; i++) {
		amqp_partq_t *q = &s->pq[i];
		mqb_watermarks_t wm;

		if (!q->dhead)
			continue;
		mqb_partition_watermarks(q->part, &wm);
		while (q->dhead && q->dhead->offset < wm.durable) {
			amqp_msg_t *m = q->dhead;

			q->dhead = m->next;
			settle_accepted(s, m);
			free(m);
		}
		if (!q->dhead)
			q->dtail = &q->dhead;
	}
	wake_changed(s);
}

void amqp_in_detach(amqp_link_t *l)
{
	amqp_srv_t *s = l->conn->srv;

	for (size_t i = 0; i < s->npq; i++) {
		for (amqp_msg_t *m = s->pq[i].head; m; m = m->next)
			if (m->link == l) {
				m->link = NULL;
				m->dlv = NULL;
			}
		for (amqp_msg_t *m = s->pq[i].dhead; m; m = m->next)
			if (m->link == l) {
				m->link = NULL;
				m->dlv = NULL;
			}
	}
}

bool amqp_in_busy(const amqp_srv_t *s)
{
	for (size_t i = 0; i < s->npq; i++)
		if (s->pq[i].head || s->pq[i].dhead)
			return true;
	return false;
}

void amqp_in_free(amqp_srv_t *s)
{
	for (size_t i = 0; i < s->npq; i++) {
		amqp_msg_t *lists[2] = { s->pq[i].head, s->pq[i].dhead };

		for (int k = 0; k < 2; k++)
			while (lists[k]) {
				amqp_msg_t *n = lists[k]->next;

				free(lists[k]);
				lists[k] = n;
			}
	}
	free(s->pq);
	s->pq = NULL;
	s->npq = s->pq_cap = 0;
}
