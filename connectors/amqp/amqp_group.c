/*
 * amqp_group.c — links a peer receives on as a consumer-group member (address
 * <stream>/groups/<g>, docs/AMQP.md). The member joins the process's coordinator
 * (bridge/groups/group_host.h) when the peer first grants credit, with prefetch = that
 * credit; detach or connection loss is a leave, and this thread heartbeats for it.
 *
 * The coordinator's transport ops run on whichever thread made the coordinator call
 * (the groups ticker, an MQTT member's request, this thread) with the host lock held:
 * they copy what they are given into the member's queue and pn_connection_wake() its
 * connection; this thread sends it (records only while the link has credit).
 * Outcomes: accepted -> accept, released and modified -> release (the coordinator
 * counts every delivery, so the count the next delivery carries is raised either way),
 * rejected -> reject. Accepts are gathered per member during a Proton event batch and
 * acked after it (amqp_group_flush_acks): sorted into offset ranges per partition, one
 * mqb_coord_ack under one host lock and one ticker wake, instead of one of each per
 * delivery; any other outcome first flushes the member's pending accepts (order kept).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <proton/condition.h>
#include <proton/disposition.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/logging.h"
#include "connectors/amqp/amqp_int.h"

/* --- transport ops (any thread, host lock held) ------------------------------------ */

static void member_push(amqp_member_t *m, amqp_qitem_t *q)
{
	pthread_mutex_lock(&m->mu);
	if (!m->conn) {
		pthread_mutex_unlock(&m->mu);
		free(q);
		return;
	}
	*m->qtail = q;
	m->qtail = &q->next;
	m->qlen++;
	pn_connection_wake(m->conn);
	pthread_mutex_unlock(&m->mu);
}

static int op_deliver(void *arg, const char *group, const char *member,
		      const mqb_group_record_t *rec)
{
	amqp_member_t *m = arg;
	size_t n = sizeof(amqp_qitem_t) + rec->header_count * sizeof(mqb_rec_header_t);
	amqp_qitem_t *q;
	mqb_rec_header_t *h;
	char *p;

	(void)group; (void)member;
	n += (rec->key_len > 0 ? (size_t)rec->key_len : 0) +
	     (rec->value_len > 0 ? (size_t)rec->value_len : 0);
	for (size_t i = 0; i < rec->header_count; i++)
		n += rec->headers[i].key_len +
		     (rec->headers[i].value_len > 0 ? (size_t)rec->headers[i].value_len : 0);
	q = malloc(n);
	if (!q)
		return MQB_ERR_NOMEM;
	memset(q, 0, sizeof *q);
	q->kind = 0;
	q->partition = rec->partition;
	q->offset = rec->offset;
	q->generation = rec->generation;
	q->delivery = rec->delivery;
	h = (mqb_rec_header_t *)(q + 1);
	p = (char *)(h + rec->header_count);
	q->rec.offset = rec->offset;
	q->rec.timestamp_ms = rec->timestamp_ms;
	q->rec.key_len = rec->key_len;
	q->rec.value_len = rec->value_len;
	if (rec->key_len >= 0) {
		memcpy(p, rec->key, (size_t)rec->key_len);
		q->rec.key = p;
		p += rec->key_len;
	}
	if (rec->value_len >= 0) {
		memcpy(p, rec->value, (size_t)rec->value_len);
		q->rec.value = p;
		p += rec->value_len;
	}
	for (size_t i = 0; i < rec->header_count; i++) {
		h[i] = rec->headers[i];
		memcpy(p, h[i].key, h[i].key_len);
		h[i].key = p;
		p += h[i].key_len;
		if (h[i].value_len >= 0) {
			memcpy(p, h[i].value, (size_t)h[i].value_len);
			h[i].value = p;
			p += h[i].value_len;
		}
	}
	q->rec.headers = h;
	q->rec.header_count = rec->header_count;
	member_push(m, q);
	return MQB_OK;
}

static int op_assignment(void *arg, const char *group, const char *member,
			 const mqb_group_assignment_t *a)
{
	amqp_member_t *m = arg;
	amqp_qitem_t *q;

	(void)group; (void)member;
	m->generation = a->generation;
	if (!a->n_revoked)
		return MQB_OK;
	q = calloc(1, sizeof *q + a->n_revoked * sizeof(int32_t));
	if (!q)
		return MQB_ERR_NOMEM;
	q->kind = 1;
	q->generation = a->generation;
	q->revoked = (int32_t *)(q + 1);
	memcpy(q->revoked, a->revoked, a->n_revoked * sizeof(int32_t));
	q->n_revoked = a->n_revoked;
	member_push(m, q);
	return MQB_OK;
}

static void op_error(void *arg, const char *group, const char *member,
		     mqb_group_errcode_t code, const char *request, const char *message)
{
	amqp_member_t *m = arg;
	amqp_qitem_t *q;

	MQB_LOG_RATELIMITED(MQB_LOG_INFO, AMQP_LOG, 2000, "group %s member %s: %s refused: "
			    "%s: %s", group, member, request, mqb_group_errcode_name(code),
			    message);
	if (strcmp(request, "join") != 0 && code != MQB_GROUP_E_UNKNOWN_MEMBER)
		return;
	q = calloc(1, sizeof *q);
	if (!q)
		return;
	q->kind = 2;
	snprintf(q->msg, sizeof q->msg, "%s: %s", mqb_group_errcode_name(code), message);
	member_push(m, q);
}

static const mqb_group_transport_ops_t amqp_transport_ops = {
	.name = "amqp", .deliver = op_deliver, .assignment = op_assignment, .error = op_error,
};

static mqb_group_transport_t transport_of(amqp_member_t *m)
{
	return (mqb_group_transport_t){ &amqp_transport_ops, m };
}

/* --- the AMQP thread ---------------------------------------------------------------- */

static void flush_one(amqp_link_t *l);

static const mqb_group_conf_t *group_conf(const mqb_config_t *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->groups_count; i++)
		if (strcmp(cfg->groups[i].name, name) == 0)
			return &cfg->groups[i];
	return NULL;
}

int amqp_group_attach(amqp_link_t *l, char *why, size_t why_size)
{
	amqp_srv_t *s = l->conn->srv;
	const mqb_group_conf_t *gc = group_conf(s->cfg, l->addr.group);
	amqp_member_t *m;

	if (!s->groups || !gc || strcmp(gc->stream, l->addr.stream) != 0) {
		snprintf(why, why_size, "no group '%s' on stream '%s'", l->addr.group,
			 l->addr.stream);
		return MQB_ERR_NOTFOUND;
	}
	m = calloc(1, sizeof *m);
	if (!m) {
		snprintf(why, why_size, "out of memory");
		return MQB_ERR_NOMEM;
	}
	m->srv = s;
	m->link = l;
	snprintf(m->group, sizeof m->group, "%s", l->addr.group);
	snprintf(m->id, sizeof m->id, "amqp-%" PRIu64 "-%" PRIu64, l->conn->id, ++s->next_id);
	pthread_mutex_init(&m->mu, NULL);
	m->conn = l->conn->pn;
	m->qtail = &m->qhead;
	m->held_tail = &m->held;
	l->member = m;
	return MQB_OK;
}

static void join(amqp_link_t *l, int credit)
{
	amqp_member_t *m = l->member;
	amqp_srv_t *s = m->srv;
	mqb_group_join_t j = { .group = m->group, .member_id = m->id, .prefetch = credit,
			       .transport = transport_of(m) };
	mqb_coord_t *c = mqb_group_host_lock(s->groups);
	int rc = mqb_coord_join(c, &j, mqb_mono_ms());

	mqb_group_host_unlock(s->groups);
	if (rc != MQB_OK) {
		char why[128];

		snprintf(why, sizeof why, "join refused: %s", mqb_strerror(rc));
		amqp_link_fail(l->pn, rc == MQB_ERR_AGAIN ? "amqp:resource-limit-exceeded" :
			       "amqp:internal-error", why);
		return;
	}
	m->joined = true;
	mqb_info(AMQP_LOG, "group %s: member %s joined (prefetch %d)", m->group, m->id, credit);
	mqb_group_host_wake(s->groups);
}

static void send_record(amqp_link_t *l, amqp_qitem_t *q)
{
	amqp_srv_t *s = l->conn->srv;
	mqb_amqp_out_t o = { .rec = &q->rec, .partition = q->partition, .delivery = q->delivery };
	amqp_dctx_t *dc = malloc(sizeof *dc);
	const char *buf;
	size_t len;
	uint64_t tag = ++s->next_id;
	pn_delivery_t *d;

	if (!dc || mqb_amqp_map_out(s->mapper, &o, &buf, &len) != MQB_OK) {
		free(dc);
		return;   /* stays delivered: comes back after the lock expires */
	}
	dc->partition = q->partition;
	dc->offset = q->offset;
	dc->generation = q->generation;
	d = pn_delivery(l->pn, pn_dtag((const char *)&tag, sizeof tag));
	pn_delivery_set_context(d, dc);
	pn_link_send(l->pn, buf, len);
	pn_link_advance(l->pn);
	l->member->unacked++;
	mqb_counter_inc(s->stats->delivered);
}

void amqp_group_flow(amqp_link_t *l)
{
	amqp_member_t *m = l->member;
	amqp_srv_t *s = m->srv;
	amqp_qitem_t *q;

	if (!(pn_link_state(l->pn) & PN_LOCAL_ACTIVE))
		return;
	if (!m->joined && pn_link_credit(l->pn) > 0)
		join(l, pn_link_credit(l->pn));
	if (!m->joined)
		return;
	pthread_mutex_lock(&m->mu);
	if (m->qhead) {
		*m->held_tail = m->qhead;
		m->held_tail = m->qtail;
		m->qhead = NULL;
		m->qtail = &m->qhead;
		m->qlen = 0;
	}
	pthread_mutex_unlock(&m->mu);
	while ((q = m->held)) {
		if (q->kind == 0 && pn_link_credit(l->pn) <= 0)
			break;
		m->held = q->next;
		if (!m->held)
			m->held_tail = &m->held;
		if (q->kind == 0) {
			send_record(l, q);
		} else if (q->kind == 1) {
			mqb_group_transport_t tr = transport_of(m);
			mqb_coord_t *c;

			flush_one(l);   /* accepts of revoked partitions count first */
			c = mqb_group_host_lock(s->groups);

			mqb_coord_revoked(c, m->group, m->id, q->generation, q->revoked,
					  q->n_revoked, &tr, mqb_mono_ms());
			mqb_group_host_unlock(s->groups);
		} else {
			amqp_link_fail(l->pn, "amqp:internal-error", q->msg);
			free(q);
			return;
		}
		free(q);
	}
}

static int pend_cmp(const void *a, const void *b)
{
	const struct amqp_pend *x = a, *y = b;

	if (x->partition != y->partition)
		return x->partition < y->partition ? -1 : 1;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Ack the member's pending accepts: one entry per partition, consecutive offsets as one
 * range. The coordinator takes acks all-or-nothing; if the batch is refused (one record
 * whose lock moved on, say), each partition's entry is retried alone so the others
 * still count. Returns true if something was acked (the caller wakes the ticker). */
static bool flush_member(amqp_member_t *m, const char *stream, mqb_coord_t **c)
{
	amqp_srv_t *s = m->srv;
	size_t n = m->npend, ne = 0, nr = 0;
	mqb_group_ack_entry_t *e;
	mqb_offset_range_t *r;
	mqb_group_transport_t tr = transport_of(m);
	int64_t now = mqb_mono_ms();

	if (!n)
		return false;
	qsort(m->pend, n, sizeof *m->pend, pend_cmp);
	e = malloc(n * sizeof *e);
	r = malloc(n * sizeof *r);
	if (!e || !r) {
		/* no memory for ranges: ack one at a time */
		free(e);
		free(r);
		if (!*c)
			*c = mqb_group_host_lock(s->groups);
		for (size_t i = 0; i < n; i++) {
			mqb_offset_range_t one = { m->pend[i].offset, m->pend[i].offset };
			mqb_group_ack_entry_t a = { .stream = stream, .partition = m->pend[i].partition,
						    .type = MQB_ACK_ACCEPT, .ranges = &one,
						    .n_ranges = 1 };

			mqb_coord_ack(*c, m->group, m->id, m->generation, &a, 1, &tr, now);
		}
		m->npend = 0;
		return true;
	}
	for (size_t i = 0; i < n; i++) {
		const struct amqp_pend *p = &m->pend[i];

		if (ne && e[ne - 1].partition == p->partition &&
		    r[nr - 1].last + 1 == p->offset) {
			r[nr - 1].last = p->offset;
			continue;
		}
		if (ne && e[ne - 1].partition == p->partition && r[nr - 1].last == p->offset)
			continue;   /* the same record twice: once is enough */
		r[nr].first = r[nr].last = p->offset;
		if (!ne || e[ne - 1].partition != p->partition) {
			e[ne] = (mqb_group_ack_entry_t){ .stream = stream, .partition = p->partition,
							 .type = MQB_ACK_ACCEPT, .ranges = &r[nr],
							 .n_ranges = 0 };
			ne++;
		}
		e[ne - 1].n_ranges++;
		nr++;
	}
	if (!*c)
		*c = mqb_group_host_lock(s->groups);
	if (mqb_coord_ack(*c, m->group, m->id, m->generation, e, ne, &tr, now) != MQB_OK &&
	    ne > 1)
		for (size_t i = 0; i < ne; i++)
			mqb_coord_ack(*c, m->group, m->id, m->generation, &e[i], 1, &tr, now);
	free(e);
	free(r);
	m->npend = 0;
	return true;
}

void amqp_group_flush_acks(amqp_srv_t *s)
{
	mqb_coord_t *c = NULL;
	bool acked = false;

	if (!s->groups)
		return;
	for (amqp_conn_t *cn = s->conns; cn; cn = cn->next)
		for (amqp_link_t *l = cn->links; l; l = l->next)
			if (l->kind == AMQP_LINK_GROUP && l->member && l->member->npend)
				acked |= flush_member(l->member, l->addr.stream, &c);
	if (c)
		mqb_group_host_unlock(s->groups);
	if (acked)
		mqb_group_host_wake(s->groups);
}

static void flush_one(amqp_link_t *l)
{
	mqb_coord_t *c = NULL;

	if (flush_member(l->member, l->addr.stream, &c)) {
		mqb_group_host_unlock(l->member->srv->groups);
		mqb_group_host_wake(l->member->srv->groups);
	}
}

/* Remember an accept for the flush; false if there is no room (ack it now). */
static bool pend_add(amqp_member_t *m, int32_t partition, int64_t offset)
{
	if (m->npend == m->pend_cap) {
		size_t cap = m->pend_cap ? m->pend_cap * 2 : 256;
		struct amqp_pend *p = realloc(m->pend, cap * sizeof *p);

		if (!p)
			return false;
		m->pend = p;
		m->pend_cap = cap;
	}
	m->pend[m->npend].partition = partition;
	m->pend[m->npend].offset = offset;
	m->npend++;
	return true;
}

void amqp_group_delivery(amqp_link_t *l, pn_delivery_t *d)
{
	amqp_member_t *m = l->member;
	amqp_srv_t *s = m->srv;
	amqp_dctx_t *dc = pn_delivery_get_context(d);
	uint64_t state = pn_delivery_remote_state(d);
	mqb_group_ack_entry_t e;
	mqb_offset_range_t r;
	mqb_group_transport_t tr = transport_of(m);
	mqb_coord_t *c;
	int out;

	if (!dc || (!state && !pn_delivery_settled(d)))
		return;
	switch (state) {
	case PN_ACCEPTED: e.type = MQB_ACK_ACCEPT; out = AMQP_OUT_ACCEPTED; break;
	case PN_REJECTED: e.type = MQB_ACK_REJECT; out = AMQP_OUT_REJECTED; break;
	case PN_MODIFIED: e.type = MQB_ACK_RELEASE; out = AMQP_OUT_MODIFIED; break;
	default: e.type = MQB_ACK_RELEASE; out = AMQP_OUT_RELEASED; break;
	}
	mqb_counter_inc(s->stats->outcomes[out]);
	if (e.type != MQB_ACK_ACCEPT || !pend_add(m, dc->partition, dc->offset)) {
		flush_one(l);   /* what was accepted before this outcome goes first */
		r.first = r.last = dc->offset;
		e.stream = l->addr.stream;
		e.partition = dc->partition;
		e.ranges = &r;
		e.n_ranges = 1;
		c = mqb_group_host_lock(s->groups);
		mqb_coord_ack(c, m->group, m->id, m->generation, &e, 1, &tr, mqb_mono_ms());
		mqb_group_host_unlock(s->groups);
		mqb_group_host_wake(s->groups);
	}
	pn_delivery_set_context(d, NULL);
	free(dc);
	pn_delivery_settle(d);
	m->unacked--;
}

void amqp_group_detach(amqp_link_t *l)
{
	amqp_member_t *m = l->member;
	amqp_srv_t *s;
	amqp_qitem_t *q;

	if (!m)
		return;
	s = m->srv;
	if (m->joined) {
		mqb_group_transport_t tr = transport_of(m);
		mqb_coord_t *c;

		flush_one(l);   /* accepted before the detach: counted */
		c = mqb_group_host_lock(s->groups);

		mqb_coord_leave(c, m->group, m->id, &tr, mqb_mono_ms());
		/* no op reaches m after this: it is no member any more */
		pthread_mutex_lock(&m->mu);
		m->conn = NULL;
		pthread_mutex_unlock(&m->mu);
		mqb_group_host_unlock(s->groups);
		mqb_group_host_wake(s->groups);
		mqb_info(AMQP_LOG, "group %s: member %s left", m->group, m->id);
	}
	/* unsettled deliveries' contexts: the link is going, free them */
	for (pn_delivery_t *d = pn_unsettled_head(l->pn); d; d = pn_unsettled_next(d)) {
		free(pn_delivery_get_context(d));
		pn_delivery_set_context(d, NULL);
	}
	while ((q = m->qhead)) {
		m->qhead = q->next;
		free(q);
	}
	while ((q = m->held)) {
		m->held = q->next;
		free(q);
	}
	pthread_mutex_destroy(&m->mu);
	free(m->pend);
	free(m);
	l->member = NULL;
}

void amqp_group_heartbeats(amqp_srv_t *s)
{
	mqb_coord_t *c;
	int64_t now = mqb_mono_ms();

	if (!s->groups)
		return;
	c = NULL;
	for (amqp_conn_t *cn = s->conns; cn; cn = cn->next)
		for (amqp_link_t *l = cn->links; l; l = l->next) {
			amqp_member_t *m = l->member;
			mqb_group_transport_t tr;

			if (l->kind != AMQP_LINK_GROUP || !m || !m->joined)
				continue;
			if (!c)
				c = mqb_group_host_lock(s->groups);
			tr = transport_of(m);
			mqb_coord_heartbeat(c, m->group, m->id, m->generation, &tr, now);
		}
	if (c)
		mqb_group_host_unlock(s->groups);
}
