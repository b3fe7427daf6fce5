/*
 * pipeline_batch.c — pending batches: messages copied into a per-partition arena, one
 * append per partition per burst (or per linger), store errors kept for retry with the
 * source paused (see pipeline.h).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/ingest/pipeline.h"
#include "bridge/ingest/pipeline_int.h"
#include "bridge/logging.h"
#include "bridge/store/batch.h"

/* --- pending batches --------------------------------------------------------------- */

int mqb_pipeline__grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t nc;
	void *np;

	if (need <= *cap)
		return 0;
	nc = *cap ? *cap : 16;
	while (nc < need)
		nc *= 2;
	np = realloc(*p, nc * elem);
	if (!np)
		return -1;
	*p = np;
	*cap = nc;
	return 0;
}

static int arena_put(struct pl_part *pt, const void *data, size_t len, size_t *off)
{
	if (mqb_pipeline__grow((void **)&pt->arena, &pt->arena_cap, pt->arena_len + len + 1,
			       1) != 0)
		return -1;
	*off = pt->arena_len;
	if (len)
		memcpy(pt->arena + pt->arena_len, data, len);
	pt->arena_len += len;
	return 0;
}

static int hdr_put(struct pl_part *pt, const mqb_rec_header_t *src)
{
	struct pend_hdr *h;
	size_t vlen = src->value_len > 0 ? (size_t)src->value_len : 0;

	if (mqb_pipeline__grow((void **)&pt->hdrs, &pt->hdr_cap, pt->nhdr + 1,
			       sizeof *pt->hdrs) != 0)
		return -1;
	h = &pt->hdrs[pt->nhdr];
	h->key_len = src->key_len;
	h->val_len = src->value_len;
	if (arena_put(pt, src->key, src->key_len, &h->key_off) != 0 ||
	    arena_put(pt, src->value, vlen, &h->val_off) != 0)
		return -1;
	pt->nhdr++;
	pt->bytes += src->key_len + vlen + 6;
	return 0;
}

static void part_reset(struct pl_part *pt)
{
	pt->nrec = pt->first = pt->nhdr = pt->arena_len = pt->bytes = 0;
	pt->open_us = 0;
}

/* Adaptive: a batch lingers only when its partition's previous batch opened less than
 * linger_us ago (or it has none yet), i.e. when more records are likely to join it; a
 * sparse partition appends at the burst end as without linger and pays no latency. */
void mqb_pipeline__part_opened(mqb_pipeline_t *p, struct pl_part *pt)
{
	pt->open_us = mqb_mono_us();
	pt->linger = p->linger_us && (!pt->prev_open_us ||
				      pt->open_us - pt->prev_open_us < p->linger_us);
	pt->prev_open_us = pt->open_us;
	if (!pt->linger)
		p->linger_due = true;
	else if (!p->linger_next_us || pt->open_us + p->linger_us < p->linger_next_us)
		p->linger_next_us = pt->open_us + p->linger_us;
}

/* pt's whole batch is stored: the loss-window figures, and a keyless stream whose
 * sticky partition this was moves on (one batch per sticky partition) */
static void part_stored(mqb_pipeline_t *p, struct pl_part *pt)
{
	struct pl_stream *st = &p->streams[pt->stream];
	uint64_t age = pt->open_us ? (uint64_t)(mqb_mono_us() - pt->open_us) : 0;

	if (age > atomic_load(&p->age_max_us))
		atomic_store(&p->age_max_us, age);
	atomic_fetch_add(&p->age_sum_us, age);
	atomic_fetch_add(&p->age_count, 1);
	if (st->keyless_used && mqb_sticky_partition(&st->sticky) == pt->id) {
		mqb_sticky_next(&st->sticky);
		st->keyless_used = false;
	}
	part_reset(pt);
}

/* Append m to pt's pending batch. On failure the partial record is rolled back. */
int mqb_pipeline__part_add(struct pl_part *pt, const mqb_pipeline_msg_t *m, const char *key,
			   ssize_t key_len)
{
	size_t nrec0 = pt->nrec, nhdr0 = pt->nhdr, arena0 = pt->arena_len, bytes0 = pt->bytes;
	struct pend_rec *r;
	size_t i;

	if (mqb_pipeline__grow((void **)&pt->recs, &pt->rec_cap, pt->nrec + 1,
			       sizeof *pt->recs) != 0)
		return MQB_ERR_NOMEM;
	r = &pt->recs[pt->nrec];
	r->ts = m->timestamp_ms;
	r->key_len = key_len;
	r->hdr_first = pt->nhdr;
	if (arena_put(pt, key, key_len > 0 ? (size_t)key_len : 0, &r->key_off) != 0 ||
	    arena_put(pt, m->payload, m->payload_len, &r->val_off) != 0)
		goto nomem;
	r->val_len = m->payload_len;
	for (i = 0; i < m->header_count; i++)
		if (hdr_put(pt, &m->headers[i]) != 0)
			goto nomem;
	r->hdr_count = pt->nhdr - r->hdr_first;
	pt->nrec++;
	pt->bytes += 24 + (key_len > 0 ? (size_t)key_len : 0) + m->payload_len;
	return MQB_OK;

nomem:
	pt->nrec = nrec0;
	pt->nhdr = nhdr0;
	pt->arena_len = arena0;
	pt->bytes = bytes0;
	return MQB_ERR_NOMEM;
}

/* Point p->out / p->outh at pt's pending records (n of them). */
static int out_build(mqb_pipeline_t *p, struct pl_part *pt, size_t n)
{
	size_t i;

	if (mqb_pipeline__grow((void **)&p->out, &p->out_cap, n, sizeof *p->out) != 0 ||
	    mqb_pipeline__grow((void **)&p->outh, &p->outh_cap, pt->nhdr, sizeof *p->outh) != 0)
		return MQB_ERR_NOMEM;
	for (i = 0; i < pt->nhdr; i++) {
		struct pend_hdr *h = &pt->hdrs[i];

		p->outh[i].key = (const char *)pt->arena + h->key_off;
		p->outh[i].key_len = h->key_len;
		p->outh[i].value = pt->arena + h->val_off;
		p->outh[i].value_len = h->val_len;
	}
	for (i = 0; i < n; i++) {
		struct pend_rec *r = &pt->recs[pt->first + i];
		mqb_record_t *o = &p->out[i];

		memset(o, 0, sizeof *o);
		o->timestamp_ms = r->ts;
		o->key = r->key_len >= 0 ? pt->arena + r->key_off : NULL;
		o->key_len = r->key_len;
		o->value = pt->arena + r->val_off;
		o->value_len = (ssize_t)r->val_len;
		o->headers = r->hdr_count ? &p->outh[r->hdr_first] : NULL;
		o->header_count = r->hdr_count;
	}
	return MQB_OK;
}

static void count_stored(mqb_pipeline_t *p, struct pl_stream *st, const mqb_record_t *recs,
			 size_t n)
{
	uint64_t bytes = 0;
	size_t j;

	for (j = 0; j < n; j++)
		bytes += (uint64_t)recs[j].value_len;
	atomic_fetch_add(&p->stored, n);
	atomic_fetch_add(&p->stored_bytes, bytes);
	atomic_fetch_add(&p->batches, 1);
	atomic_fetch_sub(&p->pending, n);
	mqb_counter_add(st->m_stored, n);
	mqb_counter_add(st->m_bytes, bytes);
	if (p->on_stored)
		p->on_stored(p->arg, recs, n);
}

/* Append pt's pending records; splits on MQB_ERR_TOOBIG. MQB_OK when all stored. */
int mqb_pipeline__part_flush(mqb_pipeline_t *p, struct pl_part *pt)
{
	struct pl_stream *st = &p->streams[pt->stream];
	size_t n = pt->nrec - pt->first, pos, chunk_max;
	int rc = MQB_OK;

	if (n == 0)
		return MQB_OK;
	if (out_build(p, pt, n) != MQB_OK)
		return MQB_ERR_NOMEM;
	pos = 0;
	chunk_max = n;
	while (pos < n) {
		size_t chunk = n - pos < chunk_max ? n - pos : chunk_max;

		rc = mqb_partition_append(pt->p, &p->out[pos], chunk, NULL);
		if (rc == MQB_OK) {
			count_stored(p, st, &p->out[pos], chunk);
			pos += chunk;
			continue;
		}
		if (rc == MQB_ERR_TOOBIG && chunk > 1) {
			chunk_max = chunk / 2;
			continue;
		}
		if (rc == MQB_ERR_TOOBIG) {
			/* One record the store can never take. submit's size check and the
			 * config check (max_batch_bytes >= max_message_bytes + batch header)
			 * make this unreachable; should the store's limit still differ, the
			 * loss is counted as what it is, not as a store error. */
			mqb_pipeline__count_too_large(p);
			if (!p->acked_before_submit) {
				atomic_fetch_add(&p->lost_oversize, 1);
				mqb_counter_inc(p->m_lost_oversize);
			}
			atomic_fetch_sub(&p->pending, 1);
			MQB_LOG_RATELIMITED(MQB_LOG_ERROR, PL_MOD, 10000,
					    "record of %zu bytes too large for a batch of stream %s "
					    "(max_batch_bytes): accepted, then lost",
					    mqb_batch_record_size(&p->out[pos]), st->name);
			pos++;
			rc = MQB_OK;
			continue;
		}
		break;
	}
	if (pos == n) {
		part_stored(p, pt);
		return MQB_OK;
	}
	pt->first += pos;
	return rc;
}

void mqb_pipeline__mark_dirty(mqb_pipeline_t *p, struct pl_part *pt)
{
	if (pt->dirty)
		return;
	if (mqb_pipeline__grow((void **)&p->dirty, &p->dirty_cap, p->ndirty + 1,
			       sizeof *p->dirty) != 0)
		return;  /* cannot happen: capacity is reserved for every partition at new() */
	p->dirty[p->ndirty++] = pt;
	pt->dirty = true;
}

/* --- back-pressure ----------------------------------------------------------------- */

static void set_paused(mqb_pipeline_t *p, bool on)
{
	int64_t now = mqb_mono_ms();

	if (on && !atomic_load(&p->paused)) {
		atomic_store(&p->paused_since_ms, now);
		atomic_store(&p->paused, true);
		if (p->pause)
			p->pause(p->arg, true);
	} else if (!on && atomic_load(&p->paused)) {
		atomic_fetch_add(&p->paused_ms, (uint64_t)(now - atomic_load(&p->paused_since_ms)));
		atomic_store(&p->paused, false);
		if (p->pause)
			p->pause(p->arg, false);
	}
}

/* Every append of a pass succeeded: resume the source. */
static void flush_ok(mqb_pipeline_t *p)
{
	if (p->blocked)
		mqb_info(PL_MOD, "store accepts appends again; resuming");
	p->blocked = false;
	p->retry_ms = PL_RETRY_MIN_MS;
	set_paused(p, false);
}

/* Append every dirty partition (all), or every one not allowed to linger: a batch
 * lingers while it is under linger_bytes and not due within a quarter of linger_us.
 * Returns MQB_OK when every batch it tried is stored. */
int mqb_pipeline__flush_dirty(mqb_pipeline_t *p, bool all)
{
	size_t i, keep = 0;
	int first_err = MQB_OK;
	int64_t cut = 0, next = 0;

	all = all || !p->linger_us;
	if (!all)
		cut = mqb_mono_us() - p->linger_us + p->linger_us / 4;
	for (i = 0; i < p->ndirty; i++) {
		struct pl_part *pt = p->dirty[i];
		int rc;

		if (pt->nrec == pt->first) {         /* appended for its size meanwhile */
			pt->dirty = false;
			continue;
		}
		if (!all && pt->linger && pt->open_us > cut && pt->bytes < p->linger_bytes) {
			if (!next || pt->open_us + p->linger_us < next)
				next = pt->open_us + p->linger_us;
			p->dirty[keep++] = pt;
			continue;
		}
		rc = mqb_pipeline__part_flush(p, pt);
		if (rc == MQB_OK) {
			pt->dirty = false;
			continue;
		}
		p->dirty[keep++] = pt;
		if (first_err == MQB_OK) {
			first_err = rc;
			MQB_LOG_RATELIMITED(MQB_LOG_ERROR, PL_MOD, 5000,
					    "append to %s-%d failed: %s; %zu records kept, "
					    "reading paused, retrying",
					    p->streams[pt->stream].name, (int)pt->id,
					    mqb_strerror(rc), pt->nrec - pt->first);
		}
	}
	p->ndirty = keep;
	p->linger_next_us = next;
	p->linger_due = false;
	if (first_err == MQB_OK) {
		flush_ok(p);
		return MQB_OK;
	}
	atomic_fetch_add(&p->store_retries, 1);
	p->blocked = true;
	p->retry_at_ms = mqb_mono_ms() + p->retry_ms;
	p->retry_ms *= 2;
	if (p->retry_ms > PL_RETRY_MAX_MS)
		p->retry_ms = PL_RETRY_MAX_MS;
	set_paused(p, true);
	return first_err;
}

/* --- the source's calls ------------------------------------------------------------ */

/* A lingering batch is due within a quarter of linger (or a batch is full). */
static bool linger_pass_due(const mqb_pipeline_t *p)
{
	return p->linger_due || (p->linger_next_us &&
				 mqb_mono_us() >= p->linger_next_us - p->linger_us / 4);
}

int mqb_pipeline_end_burst(mqb_pipeline_t *p)
{
	if (p->blocked)
		return MQB_ERR_AGAIN;
	if (p->linger_us && !linger_pass_due(p))
		return MQB_OK;               /* every batch may linger: no pass, no clock walk */
	return mqb_pipeline__flush_dirty(p, false);
}

int mqb_pipeline_flush_now(mqb_pipeline_t *p)
{
	if (p->blocked)
		return MQB_ERR_AGAIN;
	return mqb_pipeline__flush_dirty(p, true);
}

int64_t mqb_pipeline_tick(mqb_pipeline_t *p, int64_t now_ms)
{
	int64_t w;

	if (p->blocked) {
		if (now_ms >= p->retry_at_ms)
			mqb_pipeline__flush_dirty(p, true);
		if (p->blocked) {
			w = p->retry_at_ms - mqb_mono_ms();
			return w > 0 ? w : 0;
		}
	}
	if (!p->linger_next_us)
		return -1;
	if (linger_pass_due(p))
		mqb_pipeline__flush_dirty(p, false);
	if (p->blocked)
		return p->retry_at_ms - mqb_mono_ms() > 0 ? p->retry_at_ms - mqb_mono_ms() : 0;
	if (!p->linger_next_us)
		return -1;
	/* wake when the first batch is due (its quarter early, rounded up to a ms) */
	w = p->linger_next_us - p->linger_us / 4 - mqb_mono_us();
	return w > 0 ? (w + 999) / 1000 : 0;
}

/* Give up every pending record (stop after the timeout). The source stays paused. */
static void drop_pending(mqb_pipeline_t *p)
{
	for (size_t i = 0; i < p->ndirty; i++) {
		part_reset(p->dirty[i]);
		p->dirty[i]->dirty = false;
	}
	p->ndirty = 0;
	p->blocked = false;
	p->linger_next_us = 0;
	atomic_store(&p->pending, 0);
}

int mqb_pipeline_flush(mqb_pipeline_t *p, int timeout_ms)
{
	int64_t deadline = mqb_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	int last = MQB_OK;

	while (p->ndirty > 0) {
		last = mqb_pipeline__flush_dirty(p, true);
		if (last == MQB_OK)
			break;
		if (mqb_mono_ms() >= deadline) {
			uint64_t n = atomic_load(&p->pending);

			drop_pending(p);
			atomic_fetch_add(&p->lost_shutdown, n);
			mqb_counter_add(p->m_lost_shutdown, n);
			mqb_error(PL_MOD, "shutdown: LOST %llu acknowledged records: the store "
				  "refused them for %d ms of retries (%s) and nothing else can "
				  "hold them; counted in mqbridge_ingest_lost_total"
				  "{reason=\"shutdown\"}", (unsigned long long)n, timeout_ms,
				  mqb_strerror(last));
			return MQB_ERR_IO;
		}
		struct timespec ts = { 0, 50 * 1000000L };
		nanosleep(&ts, NULL);
	}
	return MQB_OK;
}
