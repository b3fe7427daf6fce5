/*
 * ingest_batch.c — pending batches: messages copied into a per-partition arena, one
 * append per partition per burst, store errors kept for retry with reading paused
 * (see ingest.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/logging.h"
#include "connectors/mqtt/ingest.h"
#include "connectors/mqtt/ingest_int.h"

/* --- pending batches --------------------------------------------------------------- */

int mqb_ingest__grow(void **p, size_t *cap, size_t need, size_t elem)
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

static int arena_put(struct ing_part *pt, const void *data, size_t len, size_t *off)
{
	if (mqb_ingest__grow((void **)&pt->arena, &pt->arena_cap, pt->arena_len + len + 1, 1) != 0)
		return -1;
	*off = pt->arena_len;
	if (len)
		memcpy(pt->arena + pt->arena_len, data, len);
	pt->arena_len += len;
	return 0;
}

static int hdr_put(struct ing_part *pt, const char *key, const void *val, ssize_t val_len)
{
	struct pend_hdr *h;
	size_t klen = strlen(key);

	if (mqb_ingest__grow((void **)&pt->hdrs, &pt->hdr_cap, pt->nhdr + 1, sizeof *pt->hdrs) != 0)
		return -1;
	h = &pt->hdrs[pt->nhdr];
	h->key_len = klen;
	h->val_len = val_len;
	if (arena_put(pt, key, klen, &h->key_off) != 0 ||
	    arena_put(pt, val, val_len > 0 ? (size_t)val_len : 0, &h->val_off) != 0)
		return -1;
	pt->nhdr++;
	pt->bytes += klen + (val_len > 0 ? (size_t)val_len : 0) + 6;
	return 0;
}

static void part_reset(struct ing_part *pt)
{
	pt->nrec = pt->first = pt->nhdr = pt->arena_len = pt->bytes = 0;
}

/* Append msg to pt's pending batch. On failure the partial record is rolled back. */
int mqb_ingest__part_add(struct ing_part *pt, const mqb_mqtt_msg_t *m, const char *key,
		    ssize_t key_len)
{
	static const char *const qos_str[] = { "0", "1", "2" };
	size_t nrec0 = pt->nrec, nhdr0 = pt->nhdr, arena0 = pt->arena_len, bytes0 = pt->bytes;
	struct pend_rec *r;
	size_t i;

	if (mqb_ingest__grow((void **)&pt->recs, &pt->rec_cap, pt->nrec + 1, sizeof *pt->recs) != 0)
		return MQB_ERR_NOMEM;
	r = &pt->recs[pt->nrec];
	r->ts = m->arrival_ms;
	r->key_len = key_len;
	r->hdr_first = pt->nhdr;
	if (arena_put(pt, key, key_len > 0 ? (size_t)key_len : 0, &r->key_off) != 0 ||
	    arena_put(pt, m->payload, m->payload_len, &r->val_off) != 0)
		goto nomem;
	r->val_len = m->payload_len;
	if (hdr_put(pt, "mqtt.topic", m->topic, (ssize_t)strlen(m->topic)) != 0 ||
	    hdr_put(pt, "mqtt.qos", qos_str[m->qos < 0 ? 0 : m->qos > 2 ? 2 : m->qos], 1) != 0)
		goto nomem;
	if (m->retain && hdr_put(pt, "mqtt.retain", "1", 1) != 0)
		goto nomem;
	if (m->content_type &&
	    hdr_put(pt, "mqtt.content_type", m->content_type,
		    (ssize_t)strlen(m->content_type)) != 0)
		goto nomem;
	if (m->response_topic &&
	    hdr_put(pt, "mqtt.response_topic", m->response_topic,
		    (ssize_t)strlen(m->response_topic)) != 0)
		goto nomem;
	if (m->correlation_data &&
	    hdr_put(pt, "mqtt.correlation_data", m->correlation_data,
		    (ssize_t)m->correlation_len) != 0)
		goto nomem;
	for (i = 0; i < m->user_prop_count; i++)
		if (hdr_put(pt, m->user_props[i].name, m->user_props[i].value,
			    (ssize_t)strlen(m->user_props[i].value)) != 0)
			goto nomem;
	/* re-fetch: hdr_put may not move recs, but keep it obviously right */
	r = &pt->recs[pt->nrec];
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

/* Append pt's pending records; splits on MQB_ERR_TOOBIG. MQB_OK when all stored. */
int mqb_ingest__part_flush(mqb_ingest_t *ing, struct ing_part *pt)
{
	struct ing_stream *st = &ing->streams[pt->stream];
	size_t n = pt->nrec - pt->first, i, j, pos, chunk_max;
	int rc = MQB_OK;

	if (n == 0)
		return MQB_OK;
	if (mqb_ingest__grow((void **)&ing->out, &ing->out_cap, n, sizeof *ing->out) != 0 ||
	    mqb_ingest__grow((void **)&ing->outh, &ing->outh_cap, pt->nhdr, sizeof *ing->outh) != 0)
		return MQB_ERR_NOMEM;
	for (i = 0; i < pt->nhdr; i++) {
		struct pend_hdr *h = &pt->hdrs[i];

		ing->outh[i].key = (const char *)pt->arena + h->key_off;
		ing->outh[i].key_len = h->key_len;
		ing->outh[i].value = pt->arena + h->val_off;
		ing->outh[i].value_len = h->val_len;
	}
	for (i = 0; i < n; i++) {
		struct pend_rec *r = &pt->recs[pt->first + i];
		mqb_record_t *o = &ing->out[i];

		memset(o, 0, sizeof *o);
		o->timestamp_ms = r->ts;
		o->key = r->key_len >= 0 ? pt->arena + r->key_off : NULL;
		o->key_len = r->key_len;
		o->value = pt->arena + r->val_off;
		o->value_len = (ssize_t)r->val_len;
		o->headers = r->hdr_count ? &ing->outh[r->hdr_first] : NULL;
		o->header_count = r->hdr_count;
	}

	pos = 0;
	chunk_max = n;
	while (pos < n) {
		size_t chunk = n - pos < chunk_max ? n - pos : chunk_max;
		uint64_t bytes = 0;

		rc = mqb_partition_append(pt->p, &ing->out[pos], chunk, NULL);
		if (rc == MQB_OK) {
			for (j = 0; j < chunk; j++)
				bytes += (uint64_t)ing->out[pos + j].value_len;
			atomic_fetch_add(&ing->stored, chunk);
			atomic_fetch_add(&ing->stored_bytes, bytes);
			atomic_fetch_add(&ing->batches, 1);
			atomic_fetch_sub(&ing->pending, chunk);
			mqb_counter_add(st->m_stored, chunk);
			mqb_counter_add(st->m_bytes, bytes);
			if (ing->stored_cb)
				ing->stored_cb(ing->stored_arg, &ing->out[pos], chunk);
			pos += chunk;
			continue;
		}
		if (rc == MQB_ERR_TOOBIG && chunk > 1) {
			chunk_max = chunk / 2;
			continue;
		}
		if (rc == MQB_ERR_TOOBIG) {
			/* one record the store can never take: it cannot be kept anywhere */
			atomic_fetch_add(&ing->store_error, 1);
			atomic_fetch_sub(&ing->pending, 1);
			mqb_counter_inc(ing->m_rej_store);
			MQB_LOG_RATELIMITED(MQB_LOG_ERROR, ING_MOD, 10000,
					    "record of %zd bytes too large for stream %s "
					    "(max_batch_bytes): rejected", ing->out[pos].value_len,
					    st->name);
			pos++;
			rc = MQB_OK;
			continue;
		}
		break;
	}
	if (pos == n) {
		part_reset(pt);
		return MQB_OK;
	}
	pt->first += pos;
	return rc;
}

void mqb_ingest__set_paused(mqb_ingest_t *ing, bool on)
{
	int64_t now = mqb_mono_ms();

	if (on && !atomic_load(&ing->paused)) {
		atomic_store(&ing->paused_since_ms, now);
		atomic_store(&ing->paused, true);
		mqb_mqtt_session_pause_reading(ing->session);
	} else if (!on && atomic_load(&ing->paused)) {
		atomic_fetch_add(&ing->paused_ms, (uint64_t)(now - atomic_load(&ing->paused_since_ms)));
		atomic_store(&ing->paused, false);
		mqb_mqtt_session_resume_reading(ing->session);
	}
}

/* Append every dirty partition. Returns MQB_OK when nothing is pending any more. */
int mqb_ingest__flush_all(mqb_ingest_t *ing)
{
	size_t i, keep = 0;
	int first_err = MQB_OK;

	for (i = 0; i < ing->ndirty; i++) {
		struct ing_part *pt = ing->dirty[i];
		int rc = mqb_ingest__part_flush(ing, pt);

		if (rc == MQB_OK) {
			pt->dirty = false;
			continue;
		}
		ing->dirty[keep++] = pt;
		if (first_err == MQB_OK) {
			first_err = rc;
			MQB_LOG_RATELIMITED(MQB_LOG_ERROR, ING_MOD, 5000,
					    "append to %s-%d failed: %s; %zu records kept, "
					    "reading paused, retrying",
					    ing->streams[pt->stream].name, (int)pt->id,
					    mqb_strerror(rc), pt->nrec - pt->first);
		}
	}
	ing->ndirty = keep;
	if (first_err == MQB_OK && ing->window_start_us) {
		uint64_t w = (uint64_t)(mqb_mono_us() - ing->window_start_us);

		if (w > atomic_load(&ing->window_max_us))
			atomic_store(&ing->window_max_us, w);
		atomic_fetch_add(&ing->window_sum_us, w);
		atomic_fetch_add(&ing->window_count, 1);
		ing->window_start_us = 0;
	}
	if (first_err == MQB_OK) {
		for (i = 0; i < ing->nstreams; i++) {
			if (ing->streams[i].keyless_used) {
				mqb_sticky_next(&ing->streams[i].sticky);
				ing->streams[i].keyless_used = false;
			}
		}
		if (ing->blocked)
			mqb_info(ING_MOD, "store accepts appends again; resuming");
		ing->blocked = false;
		ing->retry_ms = ING_RETRY_MIN_MS;
		mqb_ingest__set_paused(ing, false);
		return MQB_OK;
	}
	atomic_fetch_add(&ing->store_retries, 1);
	ing->blocked = true;
	ing->retry_at_ms = mqb_mono_ms() + ing->retry_ms;
	ing->retry_ms *= 2;
	if (ing->retry_ms > ING_RETRY_MAX_MS)
		ing->retry_ms = ING_RETRY_MAX_MS;
	mqb_ingest__set_paused(ing, true);
	return first_err;
}

void mqb_ingest__mark_dirty(mqb_ingest_t *ing, struct ing_part *pt)
{
	if (pt->dirty)
		return;
	if (mqb_ingest__grow((void **)&ing->dirty, &ing->dirty_cap, ing->ndirty + 1,
			     sizeof *ing->dirty) != 0)
		return;  /* cannot happen: capacity is reserved for every partition at new() */
	ing->dirty[ing->ndirty++] = pt;
	pt->dirty = true;
}
