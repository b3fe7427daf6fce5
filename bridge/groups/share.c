/*
 * share.c — shared-mode record states of one partition (KIP-932). See share.h.
 *
 * The window [spso, speo) is a ring of max_window entries; entry i (offset spso + i)
 * lives at ring[(head + i) % cap].
 */
#include "bridge/groups/share.h"

#include <stdlib.h>
#include <string.h>

#include "bridge/err.h"

typedef struct ent {
	uint64_t member;           /* holder while acquired */
	int64_t deadline;          /* lock deadline while acquired */
	int64_t acquired_ms;       /* time of the acquisition */
	uint32_t deliveries;
	uint8_t state;             /* mqb_rec_state_t */
} ent_t;

struct mqb_share {
	mqb_share_opts_t opts;
	ent_t *ring;
	size_t cap, head, len;     /* len = speo - spso */
	int64_t spso;
	uint32_t n_acquired;
	uint64_t acquisitions, redeliveries, accepted, rejected, dead, expired;
};

void mqb_share_opts_defaults(mqb_share_opts_t *o)
{
	memset(o, 0, sizeof(*o));
	o->max_window = 200;
	o->max_deliveries = 5;
	o->lock_ms = 30000;
}

int mqb_share_set_limits(mqb_share_t *s, uint32_t max_deliveries, int64_t lock_ms)
{
	if (max_deliveries < 1 || lock_ms < 1)
		return MQB_ERR_INVAL;
	s->opts.max_deliveries = max_deliveries;
	s->opts.lock_ms = lock_ms;
	return MQB_OK;
}

mqb_share_t *mqb_share_new(const mqb_share_opts_t *o, char *errstr, size_t errstr_size)
{
	mqb_share_t *s;

	if (!o || o->start_offset < 0) {
		mqb_errstr_set(errstr, errstr_size, "share: start offset must be >= 0");
		return NULL;
	}
	if (o->max_window < 1 || o->max_window > 1000000) {
		mqb_errstr_set(errstr, errstr_size, "share: max_window must be 1..1000000");
		return NULL;
	}
	if (o->max_deliveries < 1) {
		mqb_errstr_set(errstr, errstr_size, "share: max_deliveries must be >= 1");
		return NULL;
	}
	if (o->lock_ms < 1) {
		mqb_errstr_set(errstr, errstr_size, "share: lock_ms must be >= 1");
		return NULL;
	}
	if (!(s = calloc(1, sizeof(*s))) || !(s->ring = calloc(o->max_window, sizeof(ent_t)))) {
		free(s);
		mqb_errstr_set(errstr, errstr_size, "share: out of memory");
		return NULL;
	}
	s->opts = *o;
	s->cap = o->max_window;
	s->spso = o->start_offset;
	return s;
}

void mqb_share_destroy(mqb_share_t *s)
{
	if (!s)
		return;
	free(s->ring);
	free(s);
}

static ent_t *at(const mqb_share_t *s, size_t i)
{
	return &s->ring[(s->head + i) % s->cap];
}

static int64_t speo(const mqb_share_t *s)
{
	return s->spso + (int64_t)s->len;
}

/* Move spso past the leading run of finished records. */
static void advance(mqb_share_t *s)
{
	while (s->len) {
		ent_t *e = at(s, 0);
		if (e->state != MQB_REC_ACKNOWLEDGED && e->state != MQB_REC_ARCHIVED)
			break;
		memset(e, 0, sizeof(*e));
		s->head = (s->head + 1) % s->cap;
		s->len--;
		s->spso++;
	}
	if (s->len == 0)
		s->head = 0;
}

static void acquire_one(mqb_share_t *s, ent_t *e, uint64_t member, int64_t now_ms)
{
	if (e->deliveries > 0)
		s->redeliveries++;
	if (e->deliveries < UINT32_MAX)
		e->deliveries++;
	e->state = MQB_REC_ACQUIRED;
	e->member = member;
	e->acquired_ms = now_ms;
	e->deadline = now_ms > INT64_MAX - s->opts.lock_ms ? INT64_MAX : now_ms + s->opts.lock_ms;
	s->acquisitions++;
	s->n_acquired++;
}

int mqb_share_acquire(mqb_share_t *s, uint64_t member, size_t max_n, int64_t log_end,
		      int64_t now_ms, mqb_share_acquired_t *out)
{
	size_t n = 0;

	if (member == MQB_MEMBER_NONE || (max_n && !out))
		return MQB_ERR_INVAL;
	for (size_t i = 0; i < s->len && n < max_n; i++) {
		ent_t *e = at(s, i);
		int64_t off = s->spso + (int64_t)i;
		if (e->state != MQB_REC_AVAILABLE || off >= log_end ||
		    e->deliveries >= s->opts.max_deliveries)
			continue;
		acquire_one(s, e, member, now_ms);
		out[n].offset = off;
		out[n++].deliveries = e->deliveries;
	}
	while (n < max_n && speo(s) < log_end && s->len < s->cap) {
		ent_t *e = at(s, s->len);
		memset(e, 0, sizeof(*e));
		out[n].offset = speo(s);
		s->len++;
		acquire_one(s, e, member, now_ms);
		out[n++].deliveries = e->deliveries;
	}
	return (int)n;
}

/* Release one acquired record (ack release, lock expiry, member left). */
static void release_one(mqb_share_t *s, ent_t *e, int64_t off, mqb_ack_result_t *res,
			mqb_finish_cb_t *cb, void *cb_arg)
{
	s->n_acquired--;
	e->member = MQB_MEMBER_NONE;
	if (e->deliveries >= s->opts.max_deliveries) {
		e->state = MQB_REC_ARCHIVED;
		s->dead++;
		if (res)
			res->dead++;
		if (cb)
			cb(cb_arg, off, e->deliveries, MQB_FINISH_MAX_DELIVERIES);
	} else {
		e->state = MQB_REC_AVAILABLE;
		if (res)
			res->released++;
	}
}

static int check_range(const mqb_share_t *s, uint64_t member, const mqb_offset_range_t *r,
		       int64_t now_ms)
{
	int64_t lo, hi;

	if (r->first < 0 || r->first > r->last)
		return MQB_ERR_INVAL;
	if (r->last >= speo(s))
		return MQB_ERR_RANGE;
	lo = r->first > s->spso ? r->first : s->spso;
	hi = r->last;
	for (int64_t off = lo; off <= hi; off++) {
		const ent_t *e = at(s, (size_t)(off - s->spso));
		if (e->state == MQB_REC_AVAILABLE)
			return MQB_ERR_RANGE;
		if (e->state == MQB_REC_ACQUIRED && (e->member != member || e->deadline <= now_ms))
			return MQB_ERR_PERM;
	}
	return MQB_OK;
}

int mqb_share_ack_check(const mqb_share_t *s, uint64_t member,
			const mqb_offset_range_t *ranges, size_t n_ranges, mqb_ack_type_t type,
			int64_t now_ms)
{
	int rc;

	if ((unsigned)type > MQB_ACK_REJECT)
		return MQB_ERR_INVAL;
	if (n_ranges > MQB_ACK_MAX_RANGES)
		return MQB_ERR_TOOBIG;
	if (member == MQB_MEMBER_NONE)
		return MQB_ERR_PERM;
	for (size_t k = 0; k < n_ranges; k++)
		if ((rc = check_range(s, member, &ranges[k], now_ms)))
			return rc;
	return MQB_OK;
}

int mqb_share_ack(mqb_share_t *s, uint64_t member, const mqb_offset_range_t *ranges,
		  size_t n_ranges, mqb_ack_type_t type, int64_t now_ms,
		  mqb_ack_result_t *res, mqb_finish_cb_t *cb, void *cb_arg)
{
	mqb_ack_result_t local;
	int rc;

	if (!res)
		res = &local;
	memset(res, 0, sizeof(*res));
	res->committed_before = res->committed_after = s->spso;
	if ((rc = mqb_share_ack_check(s, member, ranges, n_ranges, type, now_ms)))
		return rc;
	for (size_t k = 0; k < n_ranges; k++) {
		const mqb_offset_range_t *r = &ranges[k];
		int64_t lo = r->first > s->spso ? r->first : s->spso;

		if (r->first < s->spso)
			res->duplicates += (uint64_t)((r->last < s->spso ? r->last + 1 : s->spso) -
						      r->first);
		for (int64_t off = lo; off <= r->last; off++) {
			ent_t *e = at(s, (size_t)(off - s->spso));
			if (e->state != MQB_REC_ACQUIRED || e->member != member) {
				res->duplicates++;   /* finished, or acked earlier in this call */
				continue;
			}
			if (type == MQB_ACK_ACCEPT) {
				s->n_acquired--;
				e->state = MQB_REC_ACKNOWLEDGED;
				e->member = MQB_MEMBER_NONE;
				res->accepted++;
				s->accepted++;
			} else if (type == MQB_ACK_REJECT) {
				s->n_acquired--;
				e->state = MQB_REC_ARCHIVED;
				e->member = MQB_MEMBER_NONE;
				res->rejected++;
				s->rejected++;
				if (cb)
					cb(cb_arg, off, e->deliveries, MQB_FINISH_REJECTED);
			} else {
				release_one(s, e, off, res, cb, cb_arg);
			}
		}
	}
	advance(s);
	res->committed_after = s->spso;
	return MQB_OK;
}

size_t mqb_share_tick(mqb_share_t *s, int64_t now_ms, mqb_finish_cb_t *cb, void *cb_arg)
{
	size_t n = 0;

	for (size_t i = 0; i < s->len; i++) {
		ent_t *e = at(s, i);
		int64_t off = s->spso + (int64_t)i;
		if (e->state == MQB_REC_ACQUIRED && e->deadline <= now_ms) {
			release_one(s, e, off, NULL, cb, cb_arg);
			s->expired++;
			n++;
		} else if (e->state == MQB_REC_AVAILABLE &&
			   e->deliveries >= s->opts.max_deliveries) {
			/* only after import: the lock held at the stop was the last attempt */
			e->state = MQB_REC_ARCHIVED;
			s->dead++;
			if (cb)
				cb(cb_arg, off, e->deliveries, MQB_FINISH_MAX_DELIVERIES);
		}
	}
	advance(s);
	return n;
}

int64_t mqb_share_next_deadline(const mqb_share_t *s)
{
	int64_t min = INT64_MAX;

	for (size_t i = 0; s->n_acquired && i < s->len; i++) {
		const ent_t *e = at(s, i);
		if (e->state == MQB_REC_ACQUIRED && e->deadline < min)
			min = e->deadline;
	}
	return min;
}

size_t mqb_share_member_left(mqb_share_t *s, uint64_t member,
			     mqb_finish_cb_t *cb, void *cb_arg)
{
	size_t n = 0;

	for (size_t i = 0; member != MQB_MEMBER_NONE && i < s->len; i++) {
		ent_t *e = at(s, i);
		if (e->state == MQB_REC_ACQUIRED && e->member == member) {
			release_one(s, e, s->spso + (int64_t)i, NULL, cb, cb_arg);
			n++;
		}
	}
	advance(s);
	return n;
}

void mqb_share_reset(mqb_share_t *s, int64_t offset)
{
	memset(s->ring, 0, s->cap * sizeof(*s->ring));
	s->head = s->len = 0;
	s->n_acquired = 0;
	s->spso = offset < 0 ? 0 : offset;
}

void mqb_share_stats(const mqb_share_t *s, int64_t now_ms, mqb_share_stats_t *out)
{
	int64_t oldest = INT64_MAX;

	memset(out, 0, sizeof(*out));
	out->spso = s->spso;
	out->speo = speo(s);
	for (size_t i = 0; i < s->len; i++) {
		const ent_t *e = at(s, i);
		switch (e->state) {
		case MQB_REC_AVAILABLE:    out->available++; break;
		case MQB_REC_ACQUIRED:     out->acquired++;
			if (e->acquired_ms < oldest)
				oldest = e->acquired_ms;
			break;
		case MQB_REC_ACKNOWLEDGED: out->acknowledged++; break;
		default:                   out->archived++; break;
		}
	}
	out->acquisitions = s->acquisitions;
	out->redeliveries = s->redeliveries;
	out->accepted = s->accepted;
	out->rejected = s->rejected;
	out->dead = s->dead;
	out->expired = s->expired;
	out->oldest_acquired_ms = oldest == INT64_MAX ? -1 : now_ms - oldest;
}

int64_t mqb_share_spso(const mqb_share_t *s)
{
	return s->spso;
}

int64_t mqb_share_speo(const mqb_share_t *s)
{
	return speo(s);
}

int mqb_share_record_state(const mqb_share_t *s, int64_t offset, uint32_t *deliveries,
			   uint64_t *member)
{
	const ent_t *e;

	if (offset < s->spso || offset >= speo(s))
		return -1;
	e = at(s, (size_t)(offset - s->spso));
	if (deliveries)
		*deliveries = e->deliveries;
	if (member)
		*member = e->member;
	return e->state;
}

int mqb_share_export(const mqb_share_t *s, mqb_part_state_t *ps)
{
	size_t n = 0;

	memset(ps, 0, sizeof(*ps));
	ps->start = s->spso;
	ps->end = speo(s);
	if (s->len == 0)
		return MQB_OK;
	if (!(ps->recs = calloc(s->len, sizeof(*ps->recs))))
		return MQB_ERR_NOMEM;
	for (size_t i = 0; i < s->len; i++) {
		const ent_t *e = at(s, i);
		if (e->state == MQB_REC_AVAILABLE && e->deliveries == 0)
			continue;
		ps->recs[n].offset = s->spso + (int64_t)i;
		ps->recs[n].state = e->state == MQB_REC_ACQUIRED ? MQB_REC_AVAILABLE : e->state;
		ps->recs[n++].deliveries = e->deliveries;
	}
	ps->n_recs = n;
	return MQB_OK;
}

int mqb_share_import(mqb_share_t *s, const mqb_part_state_t *ps)
{
	if (ps->start < 0 || ps->end < ps->start || ps->end - ps->start > (int64_t)s->cap)
		return MQB_ERR_INVAL;
	for (size_t i = 0; i < ps->n_recs; i++) {
		const mqb_rec_state_entry_t *r = &ps->recs[i];
		if (r->offset < ps->start || r->offset >= ps->end || r->state > MQB_REC_ARCHIVED ||
		    (i && r->offset <= ps->recs[i - 1].offset))
			return MQB_ERR_INVAL;
	}
	mqb_share_reset(s, ps->start);
	s->len = (size_t)(ps->end - ps->start);
	for (size_t i = 0; i < ps->n_recs; i++) {
		ent_t *e = at(s, (size_t)(ps->recs[i].offset - ps->start));
		e->state = ps->recs[i].state == MQB_REC_ACQUIRED ? MQB_REC_AVAILABLE
								 : ps->recs[i].state;
		e->deliveries = ps->recs[i].deliveries;
	}
	advance(s);
	return MQB_OK;
}
