/*
 * range.c — zero-copy reads: whole stored batches handed out as (fd, position, length)
 * ranges of a segment file, with the segment and its .log descriptor held until the
 * caller releases them (store.h, mqb_reader_next_range). The batch bytes are not read
 * here: only the headers this walks, through a small window (hwin) of the reader.
 */
#include "bridge/store/store_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge/err.h"
#include "bridge/logging.h"

#define HWIN (8 * 1024)   /* header window: a few small batches, or one header */

static void range_empty(mqb_range_t *rg)
{
	memset(rg, 0, sizeof(*rg));
	rg->fd = -1;
}

void mqb_range_release(mqb_range_t *rg)
{
	if (!rg)
		return;
	mqb_segfd_unref(rg->fh_);
	mqb_segment_unref(rg->seg_);
	range_empty(rg);
}

/* The header of the batch at fpos of r's segment (committed bytes below size) into *h,
 * framing checked (length within the segment, magic). MQB_OK, MQB_ERR_CORRUPT with why,
 * MQB_ERR_IO or MQB_ERR_NOMEM. */
static int header_at(mqb_reader_t *r, int64_t fpos, int64_t size, mqb_batch_hdr_t *h,
		     char *why, size_t why_size)
{
	int64_t avail = size - fpos;

	if (avail < MQB_BATCH_HDR_SIZE) {
		snprintf(why, why_size, "truncated batch header");
		return MQB_ERR_CORRUPT;
	}
	if (!r->hwin || fpos < r->hwin_pos ||
	    fpos + MQB_BATCH_HDR_SIZE > r->hwin_pos + (int64_t)r->hwin_len) {
		size_t want = (size_t)(avail < HWIN ? avail : HWIN), got = 0;

		if (!r->hwin && !(r->hwin = malloc(HWIN)))
			return MQB_ERR_NOMEM;
		r->hwin_len = 0;
		while (got < want) {
			ssize_t n = pread(r->fh->fd, r->hwin + got, want - got,
					  (off_t)(fpos + (int64_t)got));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				MQB_LOG_RATELIMITED(MQB_LOG_ERROR, "store", 5000, "%s: read at %"
						    PRId64 " failed: %s", r->seg->log_path, fpos,
						    n < 0 ? strerror(errno) : "short file");
				return MQB_ERR_IO;
			}
			got += (size_t)n;
		}
		r->hwin_pos = fpos;
		r->hwin_len = want;
	}
	mqb_batch_header_peek(r->hwin + (fpos - r->hwin_pos), MQB_BATCH_HDR_SIZE, h);
	return mqb_batch_header_framing(h, avail, why, why_size);
}

/* The lowest known bad batch (corrupt.c) in r's segment at or after byte from, or -1. */
static int64_t known_bad_from(mqb_reader_t *r, int64_t from)
{
	mqb_partition_t *p = r->p;
	int64_t cut = -1;

	if (!atomic_load_explicit(&p->c_corrupt, memory_order_relaxed))
		return -1;
	pthread_mutex_lock(&p->corrupt_mu);
	for (size_t i = 0; i < p->corrupt_nseen; i++)
		if (p->corrupt_seen[i].seg_base == r->seg->base &&
		    p->corrupt_seen[i].pos >= from && (cut < 0 || p->corrupt_seen[i].pos < cut))
			cut = p->corrupt_seen[i].pos;
	pthread_mutex_unlock(&p->corrupt_mu);
	return cut;
}

static int bad_here(mqb_reader_t *r, int64_t fpos, int64_t first_offset, const char *why)
{
	mqb_partition__report_corrupt(r->p, r->seg, fpos, first_offset, why, "reader");
	return MQB_ERR_CORRUPT;
}

/* Position r at the batch holding r->pos (skipping batches before it, moving to the
 * next segment at a segment's end); *h its header, *size the segment's committed
 * bytes then. */
static int find_first(mqb_reader_t *r, mqb_batch_hdr_t *h, int64_t *size)
{
	mqb_partition_t *p = r->p;
	char why[160];

	for (int guard = 0; guard < 1000000; guard++) {
		int64_t stored = atomic_load_explicit(&p->stored, memory_order_acquire);
		int rc;

		if (r->pos < atomic_load(&p->log_start))
			return MQB_ERR_RANGE;
		if (r->pos >= stored)
			return MQB_ERR_AGAIN;
		if (!r->seg && (rc = mqb_reader__locate(r)) != MQB_OK)
			return rc;
		*size = atomic_load_explicit(&r->seg->size, memory_order_acquire);
		if (r->fpos >= *size) {
			if ((rc = mqb_reader__locate(r)) != MQB_OK)
				return rc;
			continue;
		}
		rc = header_at(r, r->fpos, *size, h, why, sizeof(why));
		if (rc == MQB_ERR_CORRUPT)
			return bad_here(r, r->fpos, r->next_off >= 0 ? r->next_off : r->pos, why);
		if (rc)
			return rc;
		if (r->next_off >= 0 && h->base_offset != r->next_off) {
			snprintf(why, sizeof(why), "base offset %" PRId64 " where %" PRId64
				 " was expected", h->base_offset, r->next_off);
			return bad_here(r, r->fpos, r->next_off, why);
		}
		if (mqb_batch_last_offset(h) >= r->pos)
			return MQB_OK;
		r->fpos += (int64_t)mqb_batch_total_size(h);   /* before the position */
		r->next_off = mqb_batch_last_offset(h) + 1;
	}
	return MQB_ERR_CORRUPT;
}

/* From the batch boundary fpos (next offset expect), whole batches of r's segment up
 * to byte limit: the offset index gives a boundary near the limit (checked against
 * the header found there), then headers are walked to it. *end and *next get the
 * range's end and the offset after it. A bad header stops the range there (and is
 * reported, as a copying reader would). */
static void extend(mqb_reader_t *r, int64_t fpos, int64_t expect, int64_t limit,
		   int64_t size, int64_t *end, int64_t *next)
{
	mqb_partition_t *p = r->p;
	mqb_batch_hdr_t h;
	uint32_t rel, ipos;
	char why[160];
	bool got;

	pthread_mutex_lock(&p->seglock);
	got = !atomic_load_explicit(&r->seg->oidx_untrusted, memory_order_relaxed) &&
	      mqb_index_lookup_pos(&r->seg->oidx, (uint32_t)(limit - 1 > UINT32_MAX ?
							    UINT32_MAX : limit - 1), &rel, &ipos);
	pthread_mutex_unlock(&p->seglock);
	/* The entry is not trusted blindly (open samples the index, recovery.c): the
	 * header at ipos must be a batch ending at base + rel and not before expect. The
	 * bytes skipped between fpos and ipos stay inside the range, so a wrong entry that
	 * passed this could only shorten the framing check, never drop records. A header
	 * that frames but names other offsets is a wrong entry: reported, and the index
	 * no longer used; one that does not frame is left to the walk (it may be the
	 * data that is bad, which the walk reports). */
	if (got && (int64_t)ipos > fpos &&
	    header_at(r, ipos, size, &h, why, sizeof(why)) == MQB_OK) {
		if (mqb_batch_last_offset(&h) == r->seg->base + rel && h.base_offset >= expect) {
			fpos = ipos;
			expect = h.base_offset;
		} else {
			snprintf(why, sizeof(why), "the batch there holds offsets %" PRId64 "..%"
				 PRId64, h.base_offset, mqb_batch_last_offset(&h));
			mqb_partition__index_wrong(p, r->seg, ipos, r->seg->base + rel, why);
		}
	}
	while (fpos < limit) {
		int rc = header_at(r, fpos, size, &h, why, sizeof(why));

		if (rc == MQB_OK && h.base_offset != expect) {
			snprintf(why, sizeof(why), "base offset %" PRId64 " where %" PRId64
				 " was expected", h.base_offset, expect);
			rc = MQB_ERR_CORRUPT;
		}
		if (rc == MQB_ERR_CORRUPT)
			(void)bad_here(r, fpos, expect, why);
		if (rc || fpos + (int64_t)mqb_batch_total_size(&h) > limit)
			break;
		fpos += (int64_t)mqb_batch_total_size(&h);
		expect = mqb_batch_last_offset(&h) + 1;
	}
	*end = fpos;
	*next = expect;
}

int mqb_reader_next_range(mqb_reader_t *r, int64_t max_bytes, bool at_least_one,
			  mqb_range_t *out)
{
	mqb_batch_hdr_t h;
	int64_t size = 0, start, end, next, bad, limit;
	int rc;

	range_empty(out);
	if (!r)
		return MQB_ERR_INVAL;
	r->it_valid = false;
	rc = find_first(r, &h, &size);
	if (rc)
		return rc;
	start = r->fpos;
	end = start + (int64_t)mqb_batch_total_size(&h);
	next = mqb_batch_last_offset(&h) + 1;
	bad = known_bad_from(r, start);
	if (bad >= 0 && bad < end)
		return MQB_ERR_CORRUPT;      /* reported when it was found */
	if (end - start > max_bytes && !at_least_one)
		return MQB_ERR_TOOBIG;
	limit = max_bytes >= size - start ? size : start + max_bytes;
	if (bad >= 0 && bad < limit)
		limit = bad;
	if (end < limit)
		extend(r, end, next, limit, size, &end, &next);
	out->seg_ = mqb_segment_ref(r->seg);
	out->fh_ = mqb_segfd_ref(r->fh);
	out->fd = r->fh->fd;
	out->pos = start;
	out->len = end - start;
	out->first_offset = h.base_offset;
	out->next_offset = next;
	r->fpos = end;
	r->next_off = next;
	r->pos = r->rec_pos = next;
	return MQB_OK;
}
