/* partition.c — one partition's log: append, roll, retention, fsync policy, watermarks. */
#include "bridge/store/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/logging.h"

#define MOD "store"

void mqb_stream_opts_defaults(mqb_stream_opts_t *o)
{
	memset(o, 0, sizeof(*o));
	o->partitions = 1;
	o->segment_bytes = 64LL << 20;
	o->segment_ms = 7LL * 24 * 3600 * 1000;
	o->retention_ms = -1;
	o->retention_bytes = -1;
	o->flush_interval_ms = 50;
	o->flush_messages = -1;
	o->index_interval_bytes = 4096;
	o->max_batch_bytes = 16 << 20;
}

bool mqb_stream_name_valid(const char *name)
{
	size_t n;

	if (!name)
		return false;
	n = strlen(name);
	if (n < 1 || n > 200 || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

mqb_partition_t *mqb_partition__new(mqb_store_t *st, const char *data_dir,
				    const mqb_stream_opts_t *opts, int32_t id, bool rdonly,
				    char *errstr, size_t errstr_size)
{
	mqb_partition_t *p = calloc(1, sizeof(*p));
	char path[PATH_MAX];

	if (!p) {
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		return NULL;
	}
	p->dirfd = -1;
	p->st = st;
	p->id = id;
	p->rdonly = rdonly;
	p->opts = *opts;
	pthread_mutex_init(&p->wlock, NULL);
	pthread_mutex_init(&p->flushlock, NULL);
	pthread_mutex_init(&p->seglock, NULL);
	pthread_mutex_init(&p->corrupt_mu, NULL);
	p->report.first_lost_offset = -1;
	atomic_init(&p->retention_floor, -1);
	p->stream = strdup(opts->name);
	snprintf(path, sizeof(path), "%s/%s-%d", data_dir, opts->name, id);
	p->dir = strdup(path);
	if (!p->stream || !p->dir) {
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		goto error;
	}
	p->opts.name = p->stream;
	if (!rdonly && mkdir(path, MQB_STORE_DIR_MODE) < 0 && errno != EEXIST) {
		mqb_errstr_set(errstr, errstr_size, "cannot create %s: %s", path, strerror(errno));
		goto error;
	}
	p->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->dirfd < 0) {
		char desc[200];
		mqb_errstr_set(errstr, errstr_size, "cannot open %s: %s", path,
			       mqb_segment_errdesc(mqb_err_from_errno(errno), desc,
						   sizeof(desc)));
		goto error;
	}
	return p;
error:
	mqb_partition__close(p, false);
	return NULL;
}

int mqb_partition__push_segment(mqb_partition_t *p, mqb_segment_t *s)
{
	mqb_segfd_t *prev_fh = NULL;

	if (p->nsegs == p->segcap) {
		size_t cap = p->segcap ? p->segcap * 2 : 8;
		mqb_segment_t **n;
		pthread_mutex_lock(&p->seglock);
		n = realloc(p->segs, cap * sizeof(*n));
		if (n) {
			p->segs = n;
			p->segcap = cap;
		}
		pthread_mutex_unlock(&p->seglock);
		if (!n)
			return MQB_ERR_NOMEM;
	}
	pthread_mutex_lock(&p->seglock);
	if (p->active)
		prev_fh = mqb_segment_close_files(p->active);
	p->segs[p->nsegs++] = s;
	p->active = s;
	atomic_store(&p->log_start, p->segs[0]->base);
	atomic_store(&p->nsegs_pub, (int)p->nsegs);
	pthread_mutex_unlock(&p->seglock);
	/* closes the fd unless a reader or the pending fsync still holds it */
	mqb_segfd_unref(prev_fh);
	return MQB_OK;
}

/* --- flushing ---------------------------------------------------------------------- */

typedef mqb_flush_snap_t flush_snap_t;

/* wlock held: what the next fsync must cover. */
static void snap_take(mqb_partition_t *p, flush_snap_t *s)
{
	s->target = atomic_load(&p->stored);
	s->segs = p->dirty;
	s->n = p->ndirty;
	for (size_t i = 0; i < s->n; i++)
		s->segs[i].seg->dirty = false;
	p->dirty = NULL;
	p->ndirty = p->dirtycap = 0;
	p->sealed_dirty = 0;
	s->dir = p->dir_dirty;
	p->dir_dirty = false;
	s->ck.offset = s->target;
	s->ck.seg_base = p->active->base;
	s->ck.pos = atomic_load(&p->active->size);
	/* index entries to disk too, so recovery's walk after a crash stays short */
	mqb_index_write_pending(&p->active->oidx);
	mqb_index_write_pending(&p->active->tidx);
	atomic_store(&p->unflushed, 0);
	atomic_store(&p->first_unflushed_ms, 0);
}

/* Drop the snapshot's references to its segments and their fds. */
static void snap_release(flush_snap_t *s)
{
	for (size_t i = 0; i < s->n; i++) {
		mqb_segfd_unref(s->segs[i].fh);
		mqb_segment_unref(s->segs[i].seg);
	}
	free(s->segs);
	s->segs = NULL;
	s->n = 0;
}

/* flushlock held: the snapshot's data is durable (rc 0) or not: move the watermark. */
static int snap_commit(mqb_partition_t *p, flush_snap_t *s, int rc)
{
	if (rc) {
		p->io_failed = 1;
		return rc == MQB_ERR_NOSPC ? MQB_ERR_IO : rc;
	}
	if (p->io_failed)
		return MQB_ERR_IO;
	if (s->target > atomic_load(&p->durable))
		atomic_store(&p->durable, s->target);
	p->ckpt_next = s->ck;
	if (!p->ckpt_pending) {
		/* a checkpoint deadline now exists: the flusher may be asleep with none
		 * (fsyncs outside it: flush 0/0 appends, mqb_partition_flush callers) */
		p->ckpt_pending = true;
		mqb_store__flusher_deadline(p->st, p->ckpt_last_ms +
					    mqb_store__ckpt_interval_ms(p->st));
	}
	return MQB_OK;
}

/* flushlock held: fsync, then move the durable watermark. */
static int snap_sync(mqb_partition_t *p, flush_snap_t *s)
{
	int64_t t0 = mqb_mono_us(), us;
	int rc = MQB_OK;
	void *cbarg = NULL;
	mqb_fsync_cb_t *cb;

	for (size_t i = 0; i < s->n; i++) {
		int injected = atomic_exchange(&p->test_fail_fsync, 0);
		if (injected)
			errno = injected;
		if (!rc && (injected || fdatasync(s->segs[i].fh->fd) < 0)) {
			rc = mqb_err_from_errno(errno);
			mqb_error(MOD, "%s: fsync failed: %s; the partition refuses appends "
				  "from now on", s->segs[i].seg->log_path, strerror(errno));
		}
	}
	snap_release(s);
	if (!rc && s->dir && fsync(p->dirfd) < 0) {
		rc = mqb_err_from_errno(errno);
		mqb_error(MOD, "%s: directory fsync failed: %s", p->dir, strerror(errno));
	}
	us = mqb_mono_us() - t0;
	atomic_fetch_add(&p->c_fsyncs, 1);
	atomic_fetch_add(&p->c_fsync_us, (uint64_t)us);
	rc = snap_commit(p, s, rc);
	if (rc)
		return rc;
	cb = mqb_store__fsync_cb(p->st, &cbarg);
	if (cb)
		cb(p, (uint64_t)us, cbarg);
	return MQB_OK;
}

bool mqb_partition__snap_begin(mqb_partition_t *p, flush_snap_t *s)
{
	if (p->rdonly)
		return false;
	pthread_mutex_lock(&p->wlock);
	if (p->ndirty == 0 && !p->dir_dirty &&
	    atomic_load(&p->durable) == atomic_load(&p->stored)) {
		pthread_mutex_unlock(&p->wlock);
		return false;
	}
	snap_take(p, s);
	pthread_mutex_lock(&p->flushlock);   /* order: wlock -> flushlock */
	pthread_mutex_unlock(&p->wlock);     /* appends go on while we sync */
	return true;
}

int mqb_partition__snap_sync(mqb_partition_t *p, flush_snap_t *s)
{
	return snap_sync(p, s);
}

/* Everything written before the caller's syncfs() began is durable: the segments'
 * data and sizes, the directory entries of new segments, the index files (which the
 * own path leaves to the checkpoint/recovery). */
int mqb_partition__snap_synced(mqb_partition_t *p, flush_snap_t *s)
{
	snap_release(s);
	return snap_commit(p, s, MQB_OK);
}

void mqb_partition__snap_end(mqb_partition_t *p)
{
	pthread_mutex_unlock(&p->flushlock);
}

/* wlock held on entry and exit. */
static int flush_locked(mqb_partition_t *p)
{
	flush_snap_t s;
	int rc;

	if (p->ndirty == 0 && !p->dir_dirty &&
	    atomic_load(&p->durable) == atomic_load(&p->stored))
		return MQB_OK;
	snap_take(p, &s);
	pthread_mutex_lock(&p->flushlock);
	rc = snap_sync(p, &s);
	pthread_mutex_unlock(&p->flushlock);
	return rc;
}

int mqb_partition_flush(mqb_partition_t *p)
{
	flush_snap_t s;
	int rc;

	if (!p)
		return MQB_ERR_INVAL;
	if (p->rdonly)
		return MQB_OK;
	pthread_mutex_lock(&p->wlock);
	if (p->ndirty == 0 && !p->dir_dirty &&
	    atomic_load(&p->durable) == atomic_load(&p->stored)) {
		pthread_mutex_unlock(&p->wlock);
		return MQB_OK;
	}
	snap_take(p, &s);
	pthread_mutex_lock(&p->flushlock);   /* order: wlock -> flushlock */
	pthread_mutex_unlock(&p->wlock);     /* appends go on while we fsync */
	rc = snap_sync(p, &s);
	pthread_mutex_unlock(&p->flushlock);
	return rc;
}

/* The monotonic ms at which the flusher must next look at p (INT64_MAX: never, until
 * something wakes it). Reads atomics and, under flushlock, the checkpoint state. */
static int64_t next_deadline(mqb_partition_t *p)
{
	int64_t when = INT64_MAX, first;

	if (atomic_load(&p->stored) > atomic_load(&p->durable)) {
		first = atomic_load(&p->first_unflushed_ms);
		if (p->opts.flush_interval_ms >= 0 && first)
			when = first + p->opts.flush_interval_ms;
		if ((p->opts.flush_messages > 0 &&
		     atomic_load(&p->unflushed) >= p->opts.flush_messages) ||
		    atomic_load(&p->flush_now))
			when = 0;
	}
	int64_t ckpt_ms = mqb_store__ckpt_interval_ms(p->st);
	pthread_mutex_lock(&p->flushlock);
	if (p->ckpt_pending && p->ckpt_last_ms + ckpt_ms < when)
		when = p->ckpt_last_ms + ckpt_ms;
	pthread_mutex_unlock(&p->flushlock);
	return when;
}

int mqb_partition__flush_state(mqb_partition_t *p, int64_t now_ms)
{
	int64_t first;

	if (p->rdonly || atomic_load(&p->stored) <= atomic_load(&p->durable))
		return -1;
	first = atomic_load(&p->first_unflushed_ms);
	if (p->opts.flush_interval_ms >= 0 && first &&
	    now_ms - first >= p->opts.flush_interval_ms)
		return 1;
	if (p->opts.flush_messages > 0 && atomic_load(&p->unflushed) >= p->opts.flush_messages)
		return 1;
	return atomic_load(&p->flush_now) ? 1 : 0;
}

int64_t mqb_partition__flusher_tick(mqb_partition_t *p, int64_t now_ms, bool grouped)
{
	bool due;
	mqb_ckpt_t ck;

	if (p->rdonly)
		return INT64_MAX;
	/* grouped: one fdatasync per partition coming due during this loop was the
	 * cascade the grouped pass replaces (each made the next one due) */
	if (!grouped && mqb_partition__flush_state(p, now_ms) == 1) {
		atomic_store(&p->flush_now, 0);
		mqb_partition_flush(p);
	}
	pthread_mutex_lock(&p->flushlock);
	due = p->ckpt_pending &&
	      now_ms - p->ckpt_last_ms >= mqb_store__ckpt_interval_ms(p->st);
	if (due) {
		ck = p->ckpt_next;
		p->ckpt_pending = false;
		p->ckpt_last_ms = now_ms;
	}
	pthread_mutex_unlock(&p->flushlock);
	if (due && !grouped) {
		mqb_ckpt_write(p, &ck);
	} else if (due) {
		/* it names bytes fsynced before this write, so it is never ahead of the
		 * data whenever it reaches the disk; a crash before the next syncfs leaves
		 * the older one (a longer recovery scan). Not known durable: a close
		 * writes it again with its own sync. */
		mqb_ckpt_write_opt(p, &ck, false);
		p->ckpt_disk_known = false;
	}
	return next_deadline(p);
}

/* --- appends ----------------------------------------------------------------------- */

/* wlock held: seal the active segment and start a new one at the log end. */
static int roll(mqb_partition_t *p, const char *why)
{
	mqb_segment_t *old = p->active, *s;
	int rc;

	pthread_mutex_lock(&p->seglock);
	rc = mqb_segment_seal(old);
	pthread_mutex_unlock(&p->seglock);
	if (rc)
		mqb_warn(MOD, "%s: writing index entries at roll: %s", old->log_path,
			 mqb_strerror(rc));
	rc = mqb_segment_open(p->dir, old->next_offset, true, false, &s);
	if (rc) {
		char desc[200];
		MQB_LOG_RATELIMITED(MQB_LOG_ERROR, MOD, 5000, "%s: cannot create segment %"
				    PRId64 ": %s", p->dir, old->next_offset,
				    mqb_segment_errdesc(rc, desc, sizeof(desc)));
		return rc;
	}
	rc = mqb_partition__push_segment(p, s);
	if (rc) {
		mqb_segment_unlink(s);
		mqb_segment_unref(s);
		return rc;
	}
	p->dir_dirty = true;
	mqb_debug(MOD, "%s: rolled to segment %" PRId64 " (%s)", p->dir, s->base, why);
	/* the old segment's fd lives on in the dirty list until its fsync: bound them */
	if (old->dirty && ++p->sealed_dirty >= MQB_SEALED_DIRTY_MAX) {
		if (p->sealed_dirty >= 2 * MQB_SEALED_DIRTY_MAX)
			return flush_locked(p);
		atomic_store(&p->flush_now, 1);
		mqb_store__flusher_deadline(p->st, 0);
	}
	return MQB_OK;
}

/* Write len bytes at pos, all or nothing (a partial write is cut off again). */
static int write_all(mqb_partition_t *p, int fd, const uint8_t *buf, size_t len, int64_t pos)
{
	size_t done = 0;
	int err = 0;

	if (p->test_fail_errno) {
		/* test hook: a torn write of half the batch, then the failure */
		ssize_t torn = pwrite(fd, buf, len / 2, (off_t)pos);
		(void)torn;
		err = p->test_fail_errno;
		p->test_fail_errno = 0;
	}
	while (!err && done < len) {
		ssize_t w = pwrite(fd, buf + done, len - done, (off_t)(pos + (int64_t)done));
		if (w < 0) {
			if (errno == EINTR)
				continue;
			err = errno;
		} else {
			done += (size_t)w;
		}
	}
	if (!err)
		return MQB_OK;
	if (ftruncate(fd, (off_t)pos) < 0)
		mqb_error(MOD, "cannot cut a failed write back to %" PRId64 ": %s", pos,
			  strerror(errno));
	MQB_LOG_RATELIMITED(MQB_LOG_WARN, MOD, 5000, "%s: append failed: %s", p->dir,
			    strerror(err));
	return mqb_err_from_errno(err);
}

/* wlock held: remember that seg needs an fsync before durable may pass its data. */
static void mark_dirty(mqb_partition_t *p, mqb_segment_t *seg)
{
	if (seg->dirty)
		return;
	if (p->ndirty == p->dirtycap) {
		size_t cap = p->dirtycap ? p->dirtycap * 2 : 4;
		mqb_dirty_t *d = realloc(p->dirty, cap * sizeof(*d));
		if (!d) {
			/* cannot track it: fsync it now instead */
			if (fdatasync(seg->fh->fd) < 0)
				p->io_failed = 1;
			return;
		}
		p->dirty = d;
		p->dirtycap = cap;
	}
	/* seg is the active segment: its .log handle is open */
	p->dirty[p->ndirty].seg = mqb_segment_ref(seg);
	p->dirty[p->ndirty].fh = mqb_segfd_ref(seg->fh);
	p->ndirty++;
	seg->dirty = true;
}

int mqb_partition_append(mqb_partition_t *p, const mqb_record_t *recs, size_t n,
			 int64_t *base_offset)
{
	mqb_segment_t *seg;
	mqb_batch_hdr_t hdr;
	int64_t base, pos, len;
	bool first, stored = false;
	int64_t first_ms = 0;
	int rc;

	if (!p || !recs || n == 0)
		return MQB_ERR_INVAL;
	pthread_mutex_lock(&p->wlock);
	if (p->closed) {
		rc = MQB_ERR_CLOSED;
		goto out;
	}
	if (p->rdonly) {
		rc = MQB_ERR_STATE;
		goto out;
	}
	if (p->io_failed) {
		rc = MQB_ERR_IO;
		goto out;
	}
	if (p->open_sync_due) {   /* the flusher has not made the marker's removal durable */
		rc = mqb_partition__sync_open(p);
		if (rc)
			goto out;
	}
	base = atomic_load_explicit(&p->stored, memory_order_relaxed);
	p->enc.len = 0;
	rc = mqb_batch_encode(&p->enc, base, recs, n);
	if (rc)
		goto out;
	len = (int64_t)p->enc.len;
	if ((p->opts.max_batch_bytes > 0 && len > p->opts.max_batch_bytes) ||
	    len > MQB_BATCH_MAX_SIZE) {
		rc = MQB_ERR_TOOBIG;
		goto out;
	}
	mqb_batch_header_peek(p->enc.data, p->enc.len, &hdr);

	seg = p->active;
	pos = atomic_load_explicit(&seg->size, memory_order_relaxed);
	if (pos > 0) {
		const char *why = NULL;
		if (p->opts.segment_bytes > 0 && pos + len > p->opts.segment_bytes)
			why = "segment_bytes";
		else if (p->opts.segment_ms >= 0 &&
			 hdr.max_timestamp - seg->first_ts >= p->opts.segment_ms)
			why = "segment_ms";
		else if (pos + len > UINT32_MAX ||
			 mqb_batch_last_offset(&hdr) - seg->base > UINT32_MAX)
			why = "32-bit index limit";
		if (why) {
			rc = roll(p, why);
			if (rc)
				goto out;
			seg = p->active;
			pos = 0;
		}
	}
	rc = write_all(p, seg->fh->fd, p->enc.data, p->enc.len, pos);
	if (rc)
		goto out;

	pthread_mutex_lock(&p->seglock);
	rc = mqb_segment_track_batch(seg, &hdr, pos, len, p->opts.index_interval_bytes);
	pthread_mutex_unlock(&p->seglock);
	if (rc) {
		/* the batch is written; indexes are rebuilt at recovery if they lag */
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, MOD, 5000, "%s: index update failed: %s",
				    seg->log_path, mqb_strerror(rc));
		rc = MQB_OK;
	}
	mark_dirty(p, seg);
	atomic_store_explicit(&seg->size, pos + len, memory_order_release);
	atomic_fetch_add(&p->size_bytes, len);
	/* seq_cst: ordered before the watch-mask load below (append_watch.h) */
	atomic_store(&p->stored, base + (int64_t)n);
	stored = true;
	atomic_fetch_add_explicit(&p->c_appends, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&p->c_records, n, memory_order_relaxed);
	atomic_fetch_add_explicit(&p->c_bytes, (uint64_t)len, memory_order_relaxed);
	first = atomic_fetch_add(&p->unflushed, (int64_t)n) == 0;
	if (first) {
		first_ms = mqb_mono_ms();
		atomic_store(&p->first_unflushed_ms, first_ms);
	}
	if (base_offset)
		*base_offset = base;

	if (p->opts.flush_interval_ms == 0 && p->opts.flush_messages == 0)
		rc = flush_locked(p);
	else if (p->opts.flush_messages > 0 &&
		 atomic_load(&p->unflushed) >= p->opts.flush_messages)
		mqb_store__flusher_deadline(p->st, 0);
	else if (first && p->opts.flush_interval_ms >= 0)
		/* the first append to a clean partition sets its flush deadline; the
		 * flusher is told only if it plans to wake up later than that */
		mqb_store__flusher_deadline(p->st, first_ms + p->opts.flush_interval_ms);
out:
	if (rc && rc != MQB_ERR_TOOBIG && rc != MQB_ERR_INVAL)
		atomic_fetch_add(&p->c_errors, 1);
	pthread_mutex_unlock(&p->wlock);
	if (stored)
		mqb_append_watchers__appended(mqb_store__watchers(p->st), &p->watch_mask);
	return rc;
}

/* --- maintenance: time roll and retention ------------------------------------------ */

void mqb_partition__maintain(mqb_partition_t *p, int64_t now)
{
	pthread_mutex_lock(&p->wlock);
	if (p->closed || p->rdonly)
		goto out;
	if (p->opts.segment_ms >= 0 && atomic_load(&p->active->size) > 0 &&
	    now - p->active->first_ts >= p->opts.segment_ms)
		roll(p, "segment_ms");
	while (p->nsegs > 1) {
		mqb_segment_t *s = p->segs[0];
		int64_t ssize = atomic_load(&s->size);
		const char *why = NULL;

		if (p->opts.retention_ms >= 0 && s->max_ts < now - p->opts.retention_ms)
			why = "retention_ms";
		else if (p->opts.retention_bytes >= 0 &&
			 atomic_load(&p->size_bytes) - ssize >= p->opts.retention_bytes)
			why = "retention_bytes";
		if (!why)
			break;
		int64_t floor = atomic_load(&p->retention_floor);
		if (floor >= 0 && s->next_offset > floor) {
			/* a reader still owes records of this segment (the Kafka forwarder
			 * with kafka.block_on_backlog): keep it */
			if (!p->retention_held)
				mqb_warn(MOD, "%s: %s would delete segment %" PRId64 " (offsets %"
					 PRId64 "..%" PRId64 ") but offset %" PRId64 " is not "
					 "forwarded yet: kept until it is", p->dir, why, s->base,
					 s->base, s->next_offset - 1, floor);
			p->retention_held = true;
			break;
		}
		p->retention_held = false;
		pthread_mutex_lock(&p->seglock);
		memmove(p->segs, p->segs + 1, (p->nsegs - 1) * sizeof(*p->segs));
		p->nsegs--;
		atomic_store(&p->log_start, p->segs[0]->base);
		atomic_store(&p->nsegs_pub, (int)p->nsegs);
		pthread_mutex_unlock(&p->seglock);
		atomic_fetch_sub(&p->size_bytes, ssize);
		mqb_info(MOD, "%s: deleted segment %" PRId64 " (%" PRId64 " bytes, offsets %"
			 PRId64 "..%" PRId64 ") by %s; log start now %" PRId64, p->dir,
			 s->base, ssize, s->base, s->next_offset - 1, why, p->segs[0]->base);
		mqb_segment_unlink(s);
		mqb_segment_unref(s);
		mqb_partition__corrupt_forget_below(p, atomic_load(&p->log_start));
	}
out:
	pthread_mutex_unlock(&p->wlock);
}

void mqb_partition_set_retention_floor(mqb_partition_t *p, int64_t floor)
{
	atomic_store(&p->retention_floor, floor < 0 ? -1 : floor);
}

/* --- close ------------------------------------------------------------------------- */

/* wlock held, clean close: seal the active segment, fsync what is not durable yet and
 * write the checkpoint of the log end (fsynced when sync; skipped when the file holds
 * it already, e.g. nothing was appended since a clean open). true: the clean marker
 * may follow once the checkpoint is durable. */
static bool close_prepare(mqb_partition_t *p, bool sync)
{
	int rc;

	pthread_mutex_lock(&p->seglock);
	rc = mqb_segment_seal(p->active);
	pthread_mutex_unlock(&p->seglock);
	if (!rc)
		rc = flush_locked(p);
	if (!rc && !p->io_failed) {
		mqb_ckpt_t ck = { atomic_load(&p->stored), p->active->base,
				  atomic_load(&p->active->size) };
		if (!p->ckpt_disk_known || memcmp(&ck, &p->ckpt_disk, sizeof ck) != 0)
			rc = mqb_ckpt_write_opt(p, &ck, sync);
	}
	if (rc || p->io_failed) {
		mqb_warn(MOD, "%s: unclean close (%s): recovery will scan at next open",
			 p->dir, mqb_strerror(rc ? rc : MQB_ERR_IO));
		return false;
	}
	return true;
}

/* Create the clean-shutdown marker; with sync, fsync it and the directory. */
static void close_mark(mqb_partition_t *p, bool sync)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", p->dir, MQB_CLEAN_MARKER);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, MQB_STORE_FILE_MODE);
	if (fd < 0 || (sync && (fsync(fd) < 0 || fsync(p->dirfd) < 0)))
		mqb_warn(MOD, "%s: cannot write the clean-shutdown marker: %s",
			 p->dir, strerror(errno));
	if (fd >= 0)
		close(fd);
}

static void close_free(mqb_partition_t *p)
{
	for (size_t i = 0; i < p->ndirty; i++) {
		mqb_segfd_unref(p->dirty[i].fh);
		mqb_segment_unref(p->dirty[i].seg);
	}
	free(p->dirty);
	for (size_t i = 0; i < p->nsegs; i++)
		mqb_segment_unref(p->segs[i]);
	free(p->segs);
	mqb_buf_free(&p->enc);
	if (p->dirfd >= 0)
		close(p->dirfd);
	pthread_mutex_destroy(&p->wlock);
	pthread_mutex_destroy(&p->flushlock);
	pthread_mutex_destroy(&p->seglock);
	pthread_mutex_destroy(&p->corrupt_mu);
	free(p->stream);
	free(p->dir);
	free(p);
}

void mqb_partition__close(mqb_partition_t *p, bool clean)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->wlock);
	p->closed = true;
	if (clean && !p->rdonly && p->active && close_prepare(p, true))
		close_mark(p, true);
	pthread_mutex_unlock(&p->wlock);
	close_free(p);
}

/* syncfs() once per file system holding one of the n directories (want[i]). 0, or -1
 * (logged; errno of the failure). */
static int sync_filesystems(mqb_partition_t **parts, const bool *want, size_t n,
			    const char *what)
{
	dev_t *devs = calloc(n ? n : 1, sizeof *devs);
	size_t ndev = 0;
	int rc = 0;

	if (!devs)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct stat stt;
		size_t k;

		if (!want[i])
			continue;
		if (fstat(parts[i]->dirfd, &stt) < 0) {
			rc = -1;
			break;
		}
		for (k = 0; k < ndev && devs[k] != stt.st_dev; k++)
			;
		if (k < ndev)
			continue;
		devs[ndev++] = stt.st_dev;
		if (syncfs(parts[i]->dirfd) < 0)
			rc = -1;
	}
	if (rc)
		mqb_warn(MOD, "%s: syncfs for the %s: %s", n ? parts[0]->dir : "?", what,
			 strerror(errno));
	free(devs);
	return rc;
}

void mqb_partition__close_all(mqb_partition_t **parts, size_t n, bool clean)
{
	bool *mark;
	size_t nmark = 0;

	mark = n >= 2 && clean ? calloc(n, sizeof *mark) : NULL;
	if (!mark) {   /* one partition (or no memory): its own fsyncs */
		for (size_t i = 0; i < n; i++)
			mqb_partition__close(parts[i], clean);
		return;
	}
	/* 1: every partition's data fsynced (the dirty ones: flush_locked), checkpoints
	 * written; appends refused from here on (closed) */
	for (size_t i = 0; i < n; i++) {
		mqb_partition_t *p = parts[i];

		if (!p)
			continue;
		pthread_mutex_lock(&p->wlock);
		p->closed = true;
		mark[i] = !p->rdonly && p->active && close_prepare(p, false);
		nmark += mark[i];
		pthread_mutex_unlock(&p->wlock);
	}
	/* 2: the checkpoints durable before any marker exists; a failure leaves every
	 * partition without its marker (recovery scans at the next open: safe) */
	if (nmark && sync_filesystems(parts, mark, n, "checkpoints") != 0) {
		mqb_warn(MOD, "unclean close of %zu partition(s): no clean-shutdown markers; "
			 "recovery will scan at next open", nmark);
		nmark = 0;
	}
	/* 3: the markers, then made durable together */
	if (nmark) {
		for (size_t i = 0; i < n; i++)
			if (mark[i])
				close_mark(parts[i], false);
		sync_filesystems(parts, mark, n, "clean-shutdown markers");
	}
	for (size_t i = 0; i < n; i++)
		if (parts[i])
			close_free(parts[i]);
	free(mark);
}

/* --- queries ----------------------------------------------------------------------- */

void mqb_partition_watermarks(mqb_partition_t *p, mqb_watermarks_t *out)
{
	out->log_start = atomic_load(&p->log_start);
	out->stored = atomic_load(&p->stored);
	out->durable = atomic_load(&p->durable);
	out->size_bytes = atomic_load(&p->size_bytes);
	out->segments = atomic_load(&p->nsegs_pub);
}

const char *mqb_partition_stream(const mqb_partition_t *p) { return p->stream; }
int32_t mqb_partition_id(const mqb_partition_t *p) { return p->id; }

const mqb_recovery_report_t *mqb_partition_recovery_report(mqb_partition_t *p)
{
	return &p->report;
}

void mqb_partition_counters(mqb_partition_t *p, mqb_partition_counters_t *out)
{
	out->appends = atomic_load(&p->c_appends);
	out->records = atomic_load(&p->c_records);
	out->bytes = atomic_load(&p->c_bytes);
	out->fsyncs = atomic_load(&p->c_fsyncs);
	out->fsync_us_total = atomic_load(&p->c_fsync_us);
	out->append_errors = atomic_load(&p->c_errors);
	out->corrupt_batches = atomic_load(&p->c_corrupt);
	out->index_rejected = atomic_load(&p->c_index_rejected);
}

void mqb_store_test_fail_next_write(mqb_partition_t *p, int errnum)
{
	pthread_mutex_lock(&p->wlock);
	p->test_fail_errno = errnum;
	pthread_mutex_unlock(&p->wlock);
}

void mqb_store_test_fail_next_fsync(mqb_partition_t *p, int errnum)
{
	atomic_store(&p->test_fail_fsync, errnum);
}

int64_t mqb_partition_offset_for_time(mqb_partition_t *p, int64_t ts_ms)
{
	int64_t start = -1, result;
	mqb_reader_t *r;
	const uint8_t *b;
	size_t len;

	pthread_mutex_lock(&p->seglock);
	for (size_t i = 0; i < p->nsegs; i++) {
		mqb_segment_t *s = p->segs[i];
		if (s->next_offset > s->base && s->max_ts >= ts_ms) {
			/* Open checks the time index's order only (recovery.c), not each
			 * entry against the data. A wrong entry that passes (a timestamp
			 * too small, or an offset too large) can only move start later:
			 * the answer is then a valid offset later than the first record at
			 * or after ts_ms; one too large moves it earlier, which costs
			 * reading but gives the right answer. start goes through the
			 * reader, which checks the offset-index entry it uses, so it
			 * cannot misplace a read. mqbridge log verify checks every entry. */
			start = s->base + mqb_index_lookup_time(&s->tidx, ts_ms);
			break;
		}
	}
	pthread_mutex_unlock(&p->seglock);
	result = atomic_load(&p->stored);
	if (start < 0)
		return result;
	r = mqb_reader_new(p, start);
	if (!r)
		return result;
	while (mqb_reader_next_batch(r, &b, &len) == MQB_OK) {
		mqb_batch_iter_t it;
		mqb_record_t rec;
		bool found = false;
		if (mqb_batch_iter_init(&it, b, len) == MQB_OK &&
		    it.hdr.max_timestamp >= ts_ms) {
			while (mqb_batch_iter_next(&it, &rec) == 1) {
				if (rec.offset >= start && rec.timestamp_ms >= ts_ms) {
					result = rec.offset;
					found = true;
					break;
				}
			}
		}
		mqb_batch_iter_destroy(&it);
		if (found)
			break;
	}
	mqb_reader_destroy(r);
	return result;
}
