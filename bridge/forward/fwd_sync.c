/*
 * fwd_sync.c — offset-sync pairs and MirrorMaker-2-style translation (fwd_sync.h).
 */
#include "bridge/forward/fwd_sync.h"

#include <stdlib.h>
#include <string.h>

#include "bridge/err.h"

void mqb_fwd_syncs_init(mqb_fwd_syncs_t *s, int64_t interval)
{
	memset(s, 0, sizeof(*s));
	s->interval = interval > 0 ? interval : 100;
	s->prev_local = s->prev_kafka = -1;
}

void mqb_fwd_syncs_free(mqb_fwd_syncs_t *s)
{
	if (!s)
		return;
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

/* Drop every other pair in the older half, keeping the oldest and the newer half. */
static void syncs_thin(mqb_fwd_syncs_t *s)
{
	size_t half = s->n / 2, w = 1;
	for (size_t i = 1; i < half; i++)
		if (i % 2 == 0)
			s->v[w++] = s->v[i];
	memmove(&s->v[w], &s->v[half], (s->n - half) * sizeof(*s->v));
	s->n = w + (s->n - half);
}

void mqb_fwd_syncs_truncate(mqb_fwd_syncs_t *s, int64_t from)
{
	while (s->n > 0 && s->v[s->n - 1].local >= from)
		s->n--;
}

int mqb_fwd_syncs_add(mqb_fwd_syncs_t *s, int64_t local, int64_t kafka)
{
	if (local < 0 || kafka < 0)
		return MQB_ERR_INVAL;
	mqb_fwd_syncs_truncate(s, local);
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		if (cap > MQB_KAFKA_SYNCS_MAX)
			cap = MQB_KAFKA_SYNCS_MAX;
		if (cap > s->cap) {
			mqb_fwd_sync_pair_t *v = realloc(s->v, cap * sizeof(*v));
			if (!v)
				return MQB_ERR_NOMEM;
			s->v = v;
			s->cap = cap;
		}
	}
	if (s->n == s->cap)
		syncs_thin(s);
	s->v[s->n].local = local;
	s->v[s->n].kafka = kafka;
	s->n++;
	return MQB_OK;
}

bool mqb_fwd_syncs_observe(mqb_fwd_syncs_t *s, int64_t local, int64_t kafka)
{
	return mqb_fwd_syncs_due(s, local, kafka) &&
	       mqb_fwd_syncs_add(s, local, kafka) == MQB_OK;
}

bool mqb_fwd_syncs_due(mqb_fwd_syncs_t *s, int64_t local, int64_t kafka)
{
	bool sync = false;
	if (local < 0 || kafka < 0)
		return false;
	if (s->n == 0 || s->prev_local < 0)
		sync = true;                               /* first delivery (this run) */
	else if (local != s->prev_local + 1 || kafka != s->prev_kafka + 1)
		sync = true;                               /* gap: kafka - local changed */
	else if (local - s->v[s->n - 1].local >= s->interval)
		sync = true;                               /* bound the re-read window */
	s->prev_local = local;
	s->prev_kafka = kafka;
	return sync;
}

int mqb_fwd_syncs_translate(const mqb_fwd_syncs_t *s, int64_t offset, int64_t *kafka,
			      mqb_fwd_sync_pair_t *pair)
{
	if (offset < 0)
		return MQB_ERR_INVAL;
	if (s->n == 0)
		return MQB_ERR_NOTFOUND;
	if (offset < s->v[0].local)
		return MQB_ERR_RANGE;
	/* Binary search: the last pair with local <= offset. */
	size_t lo = 0, hi = s->n;  /* invariant: v[lo].local <= offset, answer in [lo, hi) */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->v[mid].local <= offset)
			lo = mid;
		else
			hi = mid;
	}
	const mqb_fwd_sync_pair_t *p = &s->v[lo];
	*kafka = p->kafka + (offset == p->local ? 0 : 1);
	if (pair)
		*pair = *p;
	return MQB_OK;
}
