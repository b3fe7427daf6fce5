/* reader.c — lock-free sequential reads of a partition up to the stored watermark. */
#include "bridge/store/store_int.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge/err.h"
#include "bridge/logging.h"

#define READ_AHEAD (256 * 1024)


mqb_segment_t *mqb_partition__find(mqb_partition_t *p, int64_t offset, int64_t *pos,
				   int64_t *pos_last, mqb_segfd_t **fh)
{
	mqb_segment_t *s = NULL;
	size_t lo = 0, hi;
	uint32_t erel, epos;

	*fh = NULL;
	*pos = 0;
	*pos_last = -1;
	pthread_mutex_lock(&p->seglock);
	hi = p->nsegs;
	while (lo < hi) {            /* first segment with base > offset */
		size_t mid = lo + (hi - lo) / 2;
		if (p->segs[mid]->base <= offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0) {
		s = mqb_segment_ref(p->segs[lo - 1]);
		*fh = mqb_segfd_ref(s->fh);
		if (offset > s->base && offset - s->base <= UINT32_MAX &&
		    !atomic_load_explicit(&s->oidx_untrusted, memory_order_relaxed) &&
		    mqb_index_lookup_offset(&s->oidx, (uint32_t)(offset - s->base), &erel,
					    &epos) && epos > 0) {
			*pos = epos;
			*pos_last = s->base + erel;
		}
	}
	pthread_mutex_unlock(&p->seglock);
	return s;
}

void mqb_partition__index_wrong(mqb_partition_t *p, mqb_segment_t *s, int64_t pos,
				int64_t last, const char *why)
{
	char path[PATH_MAX];

	if (atomic_exchange(&s->oidx_untrusted, true))
		return;                 /* already known: one report per segment */
	atomic_fetch_add(&p->c_index_rejected, 1);
	MQB_LOG_RATELIMITED(MQB_LOG_WARN, "store", 5000, "%s: offset index entry (offset %"
			    PRId64 " at byte %" PRId64 ") is wrong: %s; reading this segment "
			    "from its start%s", s->log_path, last, pos, why,
			    s->rdonly ? "" : "; the index is rebuilt at the next open");
	if (s->rdonly)
		return;
	/* Empty the file: a sealed segment with data and an empty index is rebuilt at
	 * the next open (recovery.c, fast_load); the active one is re-walked from its
	 * start after a crash, and entries the writer appends meanwhile leave zeroed
	 * entries before them, which fail the open's order check. The rebuild scans the
	 * segment: if it was the batch header that rotted, not the entry, that scan cuts
	 * the log there, as an open that checked every entry (before issue 15) did for
	 * any indexed batch; the walk from 0 meanwhile reports that batch to readers. */
	mqb_segment_path(path, sizeof(path), p->dir, s->base, ".index");
	if (truncate(path, 0) < 0 && errno != ENOENT)   /* ENOENT: retention won */
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, "store", 5000, "%s: cannot empty it: %s",
				    path, strerror(errno));
}

mqb_reader_t *mqb_reader_new(mqb_partition_t *p, int64_t offset)
{
	mqb_reader_t *r;

	if (!p)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->p = p;
	r->pos = r->rec_pos = offset;
	return r;
}

/* Let go of the current segment (and close the fd if this reader opened it). */
static void drop_segment(mqb_reader_t *r)
{
	mqb_segfd_unref(r->fh);
	mqb_segment_unref(r->seg);
	r->fh = NULL;
	r->seg = NULL;
	r->buf_len = 0;
	r->hwin_len = 0;
}

/*
 * The offset index said the batch at byte fpos of r's segment ends at offset last
 * (< r->pos). Entries are not all checked at open (recovery.c samples them), so check
 * this one before skipping to it: the header there must be a batch (magic, length
 * within the committed bytes) ending exactly at last, starting in this segment, and
 * before the wanted offset. Trusting a wrong entry would make the reader start at a
 * later batch (records skipped without a trace) or in the middle of one (a false
 * "corrupt" report). MQB_OK: r is positioned after that batch, its chain known.
 * Otherwise r is left for a walk from position 0; a wrong entry is reported
 * (mqb_partition__index_wrong), a read error is not (the walk meets it again).
 */
static int check_index_entry(mqb_reader_t *r, int64_t fpos, int64_t last)
{
	mqb_segment_t *s = r->seg;
	int64_t size = atomic_load_explicit(&s->size, memory_order_acquire), total;
	uint8_t b[MQB_BATCH_HDR_SIZE];
	mqb_batch_hdr_t h;
	char why[160];
	ssize_t n;

	if (fpos + MQB_BATCH_HDR_SIZE > size) {
		snprintf(why, sizeof(why), "byte %" PRId64 " is past the segment's %" PRId64
			 " bytes", fpos, size);
		goto wrong;
	}
	do
		n = pread(r->fh->fd, b, sizeof(b), (off_t)fpos);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(b))
		return MQB_ERR_IO;
	mqb_batch_header_peek(b, sizeof(b), &h);
	total = (int64_t)mqb_batch_total_size(&h);
	if (mqb_batch_header_framing(&h, size - fpos, NULL, 0) != MQB_OK) {
		snprintf(why, sizeof(why), "no batch starts there");
		goto wrong;
	}
	if (mqb_batch_last_offset(&h) != last || h.base_offset < s->base ||
	    last >= r->pos) {
		snprintf(why, sizeof(why), "the batch there holds offsets %" PRId64 "..%" PRId64,
			 h.base_offset, mqb_batch_last_offset(&h));
		goto wrong;
	}
	r->fpos = fpos + total;
	r->next_off = last + 1;
	return MQB_OK;
wrong:
	mqb_partition__index_wrong(r->p, s, fpos, last, why);
	return MQB_ERR_CORRUPT;
}

/* Position on the segment holding r->pos (dropping the current one). A sealed
 * segment's .log is opened here; if retention deleted it meanwhile the position is
 * below log start now: MQB_ERR_RANGE. */
int mqb_reader__locate(mqb_reader_t *r)
{
	mqb_partition_t *p = r->p;
	int64_t fpos = 0, flast = -1;
	mqb_segfd_t *fh;
	mqb_segment_t *s = mqb_partition__find(p, r->pos, &fpos, &flast, &fh);
	int rc = MQB_OK;

	if (s && s == r->seg) {
		/* the position is past the end of the segment that should hold it */
		mqb_partition__report_corrupt(p, s, atomic_load(&s->size), r->pos,
					      "offsets missing at the end of the segment",
					      "reader");
		mqb_segfd_unref(fh);
		mqb_segment_unref(s);
		return MQB_ERR_CORRUPT;
	}
	drop_segment(r);
	if (!s)
		return MQB_ERR_RANGE;
	if (!fh)
		fh = mqb_segfd_open(s->log_path, &rc);
	if (!fh) {
		char desc[200];
		if (rc == MQB_ERR_NOTFOUND && r->pos < atomic_load(&p->log_start))
			rc = MQB_ERR_RANGE;
		else
			MQB_LOG_RATELIMITED(MQB_LOG_ERROR, "store", 5000, "%s: cannot open for "
					    "reading: %s", s->log_path,
					    mqb_segment_errdesc(rc, desc, sizeof(desc)));
		mqb_segment_unref(s);   /* after the log line: it may be the last reference */
		return rc == MQB_ERR_RANGE || rc == MQB_ERR_NFILE || rc == MQB_ERR_NOMEM ?
		       rc : MQB_ERR_IO;
	}
	r->seg = s;
	r->fh = fh;
	r->fpos = 0;
	r->next_off = s->base;
	if (fpos > 0 && check_index_entry(r, fpos, flast) != MQB_OK) {
		r->fpos = 0;              /* walk from the start: correct, slower */
		r->next_off = s->base;
	}
	return MQB_OK;
}

void mqb_reader_destroy(mqb_reader_t *r)
{
	if (!r)
		return;
	drop_segment(r);
	mqb_batch_iter_destroy(&r->it);
	free(r->buf);
	free(r->hwin);
	free(r);
}

int mqb_reader_seek(mqb_reader_t *r, int64_t offset)
{
	if (offset < atomic_load(&r->p->log_start) || offset > atomic_load(&r->p->stored))
		return MQB_ERR_RANGE;
	drop_segment(r);
	r->it_valid = false;
	r->pos = r->rec_pos = offset;
	return MQB_OK;
}

int64_t mqb_reader_position(const mqb_reader_t *r)
{
	return r->it_valid ? r->rec_pos : r->pos;
}

/* A bad batch at the reader's position: the partition enters the corrupt state (one
 * log line per bad batch, however often readers retry). */
static int corrupt_here(mqb_reader_t *r, const char *why)
{
	mqb_partition__report_corrupt(r->p, r->seg, r->fpos,
				      r->next_off >= 0 ? r->next_off : r->pos, why, "reader");
	return MQB_ERR_CORRUPT;
}

/* Make [fpos, fpos + need) of the segment available in the buffer (need <= avail). */
static int fill(mqb_reader_t *r, int64_t need, int64_t avail)
{
	size_t want, got = 0;

	if (r->fpos >= r->buf_fpos && r->fpos + need <= r->buf_fpos + (int64_t)r->buf_len)
		return MQB_OK;
	want = (size_t)(avail < READ_AHEAD ? avail : READ_AHEAD);
	if (want < (size_t)need)
		want = (size_t)need;
	if (want > r->cap) {
		uint8_t *b = realloc(r->buf, want);
		if (!b)
			return MQB_ERR_NOMEM;
		r->buf = b;
		r->cap = want;
	}
	r->buf_len = 0;
	while (got < want) {
		ssize_t n = pread(r->fh->fd, r->buf + got, want - got,
				  (off_t)(r->fpos + (int64_t)got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			MQB_LOG_RATELIMITED(MQB_LOG_ERROR, "store", 5000,
					    "%s: read at %" PRId64 " failed: %s", r->seg->log_path,
					    r->fpos, n < 0 ? strerror(errno) : "short file");
			return MQB_ERR_IO;
		}
		got += (size_t)n;
	}
	r->buf_fpos = r->fpos;
	r->buf_len = want;
	return MQB_OK;
}

int mqb_reader_next_batch(mqb_reader_t *r, const uint8_t **batch, size_t *len)
{
	mqb_partition_t *p = r->p;

	for (int guard = 0; guard < 1000000; guard++) {
		int64_t stored = atomic_load_explicit(&p->stored, memory_order_acquire);
		int64_t size, avail, total;
		mqb_batch_hdr_t h;
		char why[160];
		const uint8_t *b;
		int rc;

		if (r->pos < atomic_load(&p->log_start))
			return MQB_ERR_RANGE;
		if (r->pos >= stored)
			return MQB_ERR_AGAIN;
		if (!r->seg) {
			rc = mqb_reader__locate(r);
			if (rc)
				return rc;
		}
		size = atomic_load_explicit(&r->seg->size, memory_order_acquire);
		if (r->fpos >= size) {
			/* this segment is done: the position is in a later one */
			rc = mqb_reader__locate(r);
			if (rc)
				return rc;
			continue;
		}
		avail = size - r->fpos;
		if (avail < MQB_BATCH_HDR_SIZE)
			return corrupt_here(r, "truncated batch header");
		rc = fill(r, MQB_BATCH_HDR_SIZE, avail);
		if (rc)
			return rc;
		b = r->buf + (r->fpos - r->buf_fpos);
		mqb_batch_header_peek(b, MQB_BATCH_HDR_SIZE, &h);
		total = (int64_t)mqb_batch_total_size(&h);
		if (h.batch_length < MQB_BATCH_HDR_SIZE - MQB_BATCH_LOG_OVERHEAD || total > avail ||
		    total > MQB_BATCH_MAX_SIZE) {
			snprintf(why, sizeof(why), "bad batch length %" PRId32, h.batch_length);
			return corrupt_here(r, why);
		}
		rc = fill(r, total, avail);
		if (rc)
			return rc;
		b = r->buf + (r->fpos - r->buf_fpos);
		if (mqb_batch_header_parse(b, (size_t)total, &h, why, sizeof(why)))
			return corrupt_here(r, why);
		if (r->next_off >= 0 && h.base_offset != r->next_off) {
			snprintf(why, sizeof(why), "base offset %" PRId64 " where %" PRId64
				 " was expected", h.base_offset, r->next_off);
			return corrupt_here(r, why);
		}
		r->fpos += total;
		r->next_off = mqb_batch_last_offset(&h) + 1;
		if (mqb_batch_last_offset(&h) < r->pos)
			continue;          /* before the position (index granularity) */
		r->pos = mqb_batch_last_offset(&h) + 1;
		*batch = b;
		*len = (size_t)total;
		return MQB_OK;
	}
	return MQB_ERR_CORRUPT;
}

int mqb_reader_next_record(mqb_reader_t *r, mqb_record_t *rec)
{
	for (;;) {
		const uint8_t *b;
		size_t len;
		int rc;

		if (r->it_valid) {
			rc = mqb_batch_iter_next(&r->it, rec);
			if (rc == 1) {
				if (rec->offset < r->rec_pos)
					continue;
				r->rec_pos = rec->offset + 1;
				return MQB_OK;
			}
			r->it_valid = false;
			if (rc < 0)
				return rc;
		}
		rc = mqb_reader_next_batch(r, &b, &len);
		if (rc)
			return rc;
		{
			mqb_rec_header_t *keep = r->it.hdrs;
			size_t keep_cap = r->it.hdrs_cap;
			rc = mqb_batch_iter_init(&r->it, b, len);
			r->it.hdrs = keep;
			r->it.hdrs_cap = keep_cap;
		}
		if (rc)
			return rc;
		r->it_valid = true;
	}
}
