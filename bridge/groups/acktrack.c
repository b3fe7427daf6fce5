/*
 * acktrack.c — exclusive-mode delivery/ack tracking of one partition. See acktrack.h.
 *
 * State: a sorted array of pending records (in flight or re-deliverable); every offset
 * in [committed, end) not in it is finished. committed is the first pending offset.
 */
#include "bridge/groups/acktrack.h"

#include <stdlib.h>
#include <string.h>

#include "bridge/err.h"

typedef struct pend {
	int64_t offset;
	int64_t delivered_ms;      /* time of the last delivery */
	uint32_t deliveries;
	uint8_t inflight;          /* 1: delivered to the owner, 0: re-deliverable */
	uint8_t finish;            /* scratch during ack: 1 = remove */
} pend_t;

struct mqb_acktrack {
	mqb_acktrack_opts_t opts;
	uint64_t owner;
	int64_t owner_gen;
	int64_t end;               /* delivery high water */
	pend_t *pend;
	size_t n_pend, cap_pend;
	uint32_t n_inflight;
	uint64_t deliveries, redeliveries, accepted, rejected, dead;
};

static const char *const ack_names[] = { "accept", "release", "reject" };

const char *mqb_ack_type_name(mqb_ack_type_t t)
{
	if ((unsigned)t > MQB_ACK_REJECT)
		return NULL;
	return ack_names[t];
}

int mqb_ack_type_parse(const char *name)
{
	for (int i = 0; name && i <= MQB_ACK_REJECT; i++)
		if (strcmp(name, ack_names[i]) == 0)
			return i;
	return -1;
}

void mqb_acktrack_opts_defaults(mqb_acktrack_opts_t *o)
{
	memset(o, 0, sizeof(*o));
	o->max_pending = 65536;
}

void mqb_acktrack_set_max_deliveries(mqb_acktrack_t *t, uint32_t max_deliveries)
{
	t->opts.max_deliveries = max_deliveries;
}

mqb_acktrack_t *mqb_acktrack_new(const mqb_acktrack_opts_t *o, char *errstr, size_t errstr_size)
{
	mqb_acktrack_t *t;

	if (!o || o->start_offset < 0) {
		mqb_errstr_set(errstr, errstr_size, "acktrack: start offset must be >= 0");
		return NULL;
	}
	if (o->max_pending < 1 || o->max_pending > 10000000) {
		mqb_errstr_set(errstr, errstr_size, "acktrack: max_pending must be 1..10000000");
		return NULL;
	}
	if (!(t = calloc(1, sizeof(*t)))) {
		mqb_errstr_set(errstr, errstr_size, "acktrack: out of memory");
		return NULL;
	}
	t->opts = *o;
	t->end = o->start_offset;
	return t;
}

void mqb_acktrack_destroy(mqb_acktrack_t *t)
{
	if (!t)
		return;
	free(t->pend);
	free(t);
}

/* Index of the first pending record with offset >= off. */
static size_t lower_bound(const mqb_acktrack_t *t, int64_t off)
{
	size_t lo = 0, hi = t->n_pend;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->pend[mid].offset < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void inflight_to_released(mqb_acktrack_t *t)
{
	for (size_t i = 0; i < t->n_pend; i++)
		t->pend[i].inflight = 0;
	t->n_inflight = 0;
}

int mqb_acktrack_assign(mqb_acktrack_t *t, uint64_t member, int64_t generation)
{
	if (member == MQB_MEMBER_NONE || generation < 0)
		return MQB_ERR_INVAL;
	if (member == t->owner)
		return MQB_OK;
	inflight_to_released(t);
	t->owner = member;
	t->owner_gen = generation;
	return MQB_OK;
}

void mqb_acktrack_revoke(mqb_acktrack_t *t)
{
	inflight_to_released(t);
	t->owner = MQB_MEMBER_NONE;
	t->owner_gen = 0;
}

uint64_t mqb_acktrack_owner(const mqb_acktrack_t *t)
{
	return t->owner;
}

/* Index of the lowest re-deliverable record, or n_pend. */
static size_t first_released(const mqb_acktrack_t *t)
{
	size_t i;

	if (t->n_pend == t->n_inflight)
		return t->n_pend;
	for (i = 0; i < t->n_pend; i++)
		if (!t->pend[i].inflight)
			break;
	return i;
}

int mqb_acktrack_next(const mqb_acktrack_t *t, int64_t *offset)
{
	size_t i;

	if (t->owner == MQB_MEMBER_NONE)
		return MQB_ERR_AGAIN;
	i = first_released(t);
	if (i < t->n_pend) {
		*offset = t->pend[i].offset;
		return MQB_OK;
	}
	if (t->n_pend >= t->opts.max_pending)
		return MQB_ERR_AGAIN;
	*offset = t->end;
	return MQB_OK;
}

int mqb_acktrack_deliver(mqb_acktrack_t *t, int64_t offset, int64_t now_ms,
			 uint32_t *deliveries)
{
	int64_t want;
	pend_t *p;
	size_t i;

	if (mqb_acktrack_next(t, &want) != MQB_OK || want != offset)
		return MQB_ERR_STATE;
	if (offset == t->end) {
		if (t->n_pend == t->cap_pend) {
			size_t cap = t->cap_pend ? t->cap_pend * 2 : 16;
			pend_t *np;
			if (cap > t->opts.max_pending)
				cap = t->opts.max_pending;
			if (!(np = realloc(t->pend, cap * sizeof(*np))))
				return MQB_ERR_NOMEM;
			t->pend = np;
			t->cap_pend = cap;
		}
		p = &t->pend[t->n_pend++];
		memset(p, 0, sizeof(*p));
		p->offset = offset;
		t->end++;
	} else {
		i = lower_bound(t, offset);
		p = &t->pend[i];
	}
	if (p->deliveries > 0)
		t->redeliveries++;
	if (p->deliveries < UINT32_MAX)
		p->deliveries++;
	p->inflight = 1;
	p->delivered_ms = now_ms;
	t->n_inflight++;
	t->deliveries++;
	if (deliveries)
		*deliveries = p->deliveries;
	return MQB_OK;
}

/* Check one range without changing anything. */
static int check_range(const mqb_acktrack_t *t, const mqb_offset_range_t *r,
		       mqb_ack_type_t type)
{
	if (r->first < 0 || r->first > r->last)
		return MQB_ERR_INVAL;
	if (r->last >= t->end)
		return MQB_ERR_RANGE;
	if (type == MQB_ACK_RELEASE)
		return MQB_OK;
	for (size_t i = lower_bound(t, r->first); i < t->n_pend && t->pend[i].offset <= r->last;
	     i++)
		if (!t->pend[i].inflight)
			return MQB_ERR_RANGE;
	return MQB_OK;
}

int mqb_acktrack_ack_check(const mqb_acktrack_t *t, uint64_t member, int64_t generation,
			   const mqb_offset_range_t *ranges, size_t n_ranges, mqb_ack_type_t type)
{
	int rc;

	if ((unsigned)type > MQB_ACK_REJECT)
		return MQB_ERR_INVAL;
	if (n_ranges > MQB_ACK_MAX_RANGES)
		return MQB_ERR_TOOBIG;
	if (member == MQB_MEMBER_NONE || member != t->owner)
		return MQB_ERR_PERM;
	if (generation < t->owner_gen)
		return MQB_ERR_STALE;
	for (size_t k = 0; k < n_ranges; k++)
		if ((rc = check_range(t, &ranges[k], type)))
			return rc;
	return MQB_OK;
}

int mqb_acktrack_ack(mqb_acktrack_t *t, uint64_t member, int64_t generation,
		     const mqb_offset_range_t *ranges, size_t n_ranges, mqb_ack_type_t type,
		     mqb_ack_result_t *res, mqb_finish_cb_t *cb, void *cb_arg)
{
	mqb_ack_result_t local;
	size_t i, k;
	int rc;

	if (!res)
		res = &local;
	memset(res, 0, sizeof(*res));
	res->committed_before = res->committed_after = mqb_acktrack_committed(t);
	if ((rc = mqb_acktrack_ack_check(t, member, generation, ranges, n_ranges, type)))
		return rc;

	for (k = 0; k < n_ranges; k++) {
		const mqb_offset_range_t *r = &ranges[k];
		uint64_t matched = 0;

		for (i = lower_bound(t, r->first); i < t->n_pend && t->pend[i].offset <= r->last;
		     i++) {
			pend_t *p = &t->pend[i];
			if (!p->inflight || p->finish)
				continue;   /* released already, or acked earlier in this call */
			matched++;
			p->inflight = 0;
			t->n_inflight--;
			if (type == MQB_ACK_ACCEPT) {
				p->finish = 1;
				res->accepted++;
				t->accepted++;
			} else if (type == MQB_ACK_REJECT) {
				p->finish = 1;
				res->rejected++;
				t->rejected++;
				if (cb)
					cb(cb_arg, p->offset, p->deliveries, MQB_FINISH_REJECTED);
			} else if (t->opts.max_deliveries &&
				   p->deliveries >= t->opts.max_deliveries) {
				p->finish = 1;
				res->dead++;
				t->dead++;
				if (cb)
					cb(cb_arg, p->offset, p->deliveries,
					   MQB_FINISH_MAX_DELIVERIES);
			} else {
				res->released++;
			}
		}
		res->duplicates += (uint64_t)(r->last - r->first + 1) - matched;
	}
	/* compact away finished records */
	for (i = 0, k = 0; i < t->n_pend; i++) {
		if (t->pend[i].finish)
			continue;
		t->pend[k++] = t->pend[i];
	}
	t->n_pend = k;
	res->committed_after = mqb_acktrack_committed(t);
	return MQB_OK;
}

void mqb_acktrack_reset(mqb_acktrack_t *t, int64_t offset)
{
	if (offset < 0)
		offset = 0;
	t->n_pend = 0;
	t->n_inflight = 0;
	t->end = offset;
}

int64_t mqb_acktrack_committed(const mqb_acktrack_t *t)
{
	return t->n_pend ? t->pend[0].offset : t->end;
}

void mqb_acktrack_stats(const mqb_acktrack_t *t, int64_t now_ms, mqb_acktrack_stats_t *out)
{
	int64_t oldest = INT64_MAX;

	memset(out, 0, sizeof(*out));
	out->committed = mqb_acktrack_committed(t);
	out->end = t->end;
	out->inflight = t->n_inflight;
	out->released = (uint32_t)(t->n_pend - t->n_inflight);
	out->deliveries = t->deliveries;
	out->redeliveries = t->redeliveries;
	out->accepted = t->accepted;
	out->rejected = t->rejected;
	out->dead = t->dead;
	for (size_t i = 0; i < t->n_pend; i++)
		if (t->pend[i].inflight && t->pend[i].delivered_ms < oldest)
			oldest = t->pend[i].delivered_ms;
	out->oldest_inflight_ms = oldest == INT64_MAX ? -1 : now_ms - oldest;
}

int mqb_acktrack_export(const mqb_acktrack_t *t, mqb_part_state_t *ps)
{
	memset(ps, 0, sizeof(*ps));
	ps->start = mqb_acktrack_committed(t);
	ps->end = t->end;
	if (t->n_pend == 0)
		return MQB_OK;
	if (!(ps->recs = calloc(t->n_pend, sizeof(*ps->recs))))
		return MQB_ERR_NOMEM;
	for (size_t i = 0; i < t->n_pend; i++) {
		ps->recs[i].offset = t->pend[i].offset;
		ps->recs[i].state = MQB_REC_AVAILABLE;
		ps->recs[i].deliveries = t->pend[i].deliveries;
	}
	ps->n_recs = t->n_pend;
	return MQB_OK;
}

int mqb_acktrack_import(mqb_acktrack_t *t, const mqb_part_state_t *ps)
{
	pend_t *np = NULL;

	if (ps->start < 0 || ps->end < ps->start || ps->n_recs > t->opts.max_pending)
		return MQB_ERR_INVAL;
	if (ps->n_recs == 0 ? ps->start != ps->end : ps->recs[0].offset != ps->start)
		return MQB_ERR_INVAL;
	for (size_t i = 0; i < ps->n_recs; i++) {
		const mqb_rec_state_entry_t *r = &ps->recs[i];
		if (r->state != MQB_REC_AVAILABLE || r->offset >= ps->end ||
		    (i && r->offset <= ps->recs[i - 1].offset))
			return MQB_ERR_INVAL;
	}
	if (ps->n_recs && !(np = calloc(ps->n_recs, sizeof(*np))))
		return MQB_ERR_NOMEM;
	for (size_t i = 0; i < ps->n_recs; i++) {
		np[i].offset = ps->recs[i].offset;
		np[i].deliveries = ps->recs[i].deliveries;
	}
	free(t->pend);
	t->pend = np;
	t->n_pend = t->cap_pend = ps->n_recs;
	t->n_inflight = 0;
	t->end = ps->end;
	t->owner = MQB_MEMBER_NONE;
	t->owner_gen = 0;
	return MQB_OK;
}
