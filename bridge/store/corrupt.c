/*
 * corrupt.c — a partition's corruption state (store.h, "corruption"): set by whichever
 * reader or the scrub first meets a bad batch, logged once per bad batch, read by the
 * stats collector and the readiness check. corrupt_mu is a leaf lock.
 */
#include "bridge/store/store_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/clock.h"
#include "bridge/logging.h"

#define MOD "store"

/* The last offset seg may hold: the base of the next segment - 1, else stored - 1. */
static int64_t segment_last_offset(mqb_partition_t *p, const mqb_segment_t *seg)
{
	int64_t last = atomic_load(&p->stored) - 1;

	pthread_mutex_lock(&p->seglock);
	for (size_t i = 0; i + 1 < p->nsegs; i++)
		if (p->segs[i] == seg) {
			last = p->segs[i + 1]->base - 1;
			break;
		}
	pthread_mutex_unlock(&p->seglock);
	return last;
}

void mqb_partition__report_corrupt(mqb_partition_t *p, const mqb_segment_t *seg,
				   int64_t pos, int64_t first_offset, const char *why,
				   const char *found_by)
{
	int64_t last = segment_last_offset(p, seg);
	bool fresh = true;

	if (first_offset < seg->base)
		first_offset = seg->base;
	pthread_mutex_lock(&p->corrupt_mu);
	for (size_t i = 0; i < p->corrupt_nseen; i++)
		if (p->corrupt_seen[i].seg_base == seg->base && p->corrupt_seen[i].pos == pos)
			fresh = false;
	if (fresh) {
		size_t n = sizeof(p->corrupt_seen) / sizeof(p->corrupt_seen[0]);
		size_t k = p->corrupt_nseen < n ? p->corrupt_nseen++ : n - 1;
		p->corrupt_seen[k].seg_base = seg->base;
		p->corrupt_seen[k].pos = pos;
		atomic_fetch_add(&p->c_corrupt, 1);
	}
	if (fresh && (!p->corrupt_set || first_offset < p->corrupt.first_offset)) {
		mqb_corrupt_info_t *c = &p->corrupt;
		snprintf(c->file, sizeof(c->file), "%s", seg->log_path);
		c->byte_pos = pos;
		c->first_offset = first_offset;
		c->last_offset = last;
		if (!p->corrupt_set)
			c->first_seen_ms = mqb_now_ms();
		snprintf(c->why, sizeof(c->why), "%s", why ? why : "invalid batch");
		snprintf(c->found_by, sizeof(c->found_by), "%s", found_by);
		p->corrupt_set = true;
	}
	pthread_mutex_unlock(&p->corrupt_mu);
	if (fresh)
		mqb_error(MOD, "%s-%d: corrupt batch in %s at byte %" PRId64 " (%s; found by the "
			  "%s): offsets from %" PRId64 " up to at most %" PRId64 " cannot be read "
			  "and readers of this partition stop there; stop mqbridged and run "
			  "`mqbridge log repair DATA_DIR --stream %s --partition %d --truncate` "
			  "(or --skip); see docs/OPERATIONS.md", p->stream, p->id, seg->log_path,
			  pos, why ? why : "invalid batch", found_by, first_offset, last, p->stream,
			  p->id);
}

void mqb_partition__corrupt_forget_below(mqb_partition_t *p, int64_t log_start)
{
	pthread_mutex_lock(&p->corrupt_mu);
	if (p->corrupt_set && p->corrupt.last_offset < log_start) {
		mqb_info(MOD, "%s-%d: the segment with the corrupt batch (%s) was deleted by "
			 "retention: partition no longer corrupt", p->stream, p->id,
			 p->corrupt.file);
		p->corrupt_set = false;
	}
	pthread_mutex_unlock(&p->corrupt_mu);
}

bool mqb_partition_corrupt_info(mqb_partition_t *p, mqb_corrupt_info_t *out)
{
	bool set;

	pthread_mutex_lock(&p->corrupt_mu);
	set = p->corrupt_set;
	if (set && out) {
		*out = p->corrupt;
		out->batches = atomic_load(&p->c_corrupt);
	}
	pthread_mutex_unlock(&p->corrupt_mu);
	return set;
}

bool mqb_store_corrupt_first(mqb_store_t *st, mqb_partition_t **pp, mqb_corrupt_info_t *out)
{
	size_t n;
	mqb_partition_t **v = mqb_store__partitions(st, &n);
	bool found = false;

	for (size_t i = 0; v && i < n && !found; i++)
		if (mqb_partition_corrupt_info(v[i], out)) {
			if (pp)
				*pp = v[i];
			found = true;
		}
	free(v);
	return found;
}
