/* recovery.c — partition recovery at open, recovery checkpoints, and log verify. */
#include "bridge/store/store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bridge/err.h"
#include "bridge/logging.h"
#include "bridge/store/crc32c.h"

#define MOD "store"
#define CKPT_MAGIC "MQBCKPT1"
#define CKPT_SIZE 36

/* --- checkpoint file ------------------------------------------------------------- */

int mqb_ckpt_write(mqb_partition_t *p, const mqb_ckpt_t *c)
{
	return mqb_ckpt_write_opt(p, c, true);
}

int mqb_ckpt_write_opt(mqb_partition_t *p, const mqb_ckpt_t *c, bool sync)
{
	uint8_t b[CKPT_SIZE];
	char tmp[PATH_MAX], path[PATH_MAX];
	int fd, rc = MQB_OK;

	memcpy(b, CKPT_MAGIC, 8);
	mqb_be64_put(b + 8, (uint64_t)c->offset);
	mqb_be64_put(b + 16, (uint64_t)c->seg_base);
	mqb_be64_put(b + 24, (uint64_t)c->pos);
	mqb_be32_put(b + 32, mqb_crc32c(0, b, 32));
	snprintf(tmp, sizeof(tmp), "%s/%s", p->dir, MQB_CKPT_TMP);
	snprintf(path, sizeof(path), "%s/%s", p->dir, MQB_CKPT_FILE);
	/* Once the file exists it is overwritten in place: 36 bytes in one sector, with
	 * their own CRC (a torn write would read as "no checkpoint": a full scan of the
	 * partition, never a wrong position). Creating a new file and renaming it over
	 * (plus two fsyncs) per partition per second was most of the flusher's CPU at
	 * 1024 partitions (inode allocation, issue 15). */
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (pwrite(fd, b, sizeof(b), 0) != (ssize_t)sizeof(b) ||
		    (sync && fdatasync(fd) < 0)) {
			rc = mqb_err_from_errno(errno);
			MQB_LOG_RATELIMITED(MQB_LOG_WARN, MOD, 10000, "%s: cannot write the "
					    "recovery checkpoint: %s", p->dir, strerror(errno));
		}
		close(fd);
	} else {
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, MQB_STORE_FILE_MODE);
		if (fd < 0 || pwrite(fd, b, sizeof(b), 0) != (ssize_t)sizeof(b) ||
		    (sync && fsync(fd) < 0) || rename(tmp, path) < 0 ||
		    (sync && fsync(p->dirfd) < 0)) {
			rc = mqb_err_from_errno(errno);
			MQB_LOG_RATELIMITED(MQB_LOG_WARN, MOD, 10000, "%s: cannot write the "
					    "recovery checkpoint: %s", p->dir, strerror(errno));
		}
		if (fd >= 0)
			close(fd);
	}
	p->ckpt_disk = *c;   /* what the file holds now (durable once synced) */
	p->ckpt_disk_known = rc == MQB_OK;
	return rc;
}

int mqb_ckpt_read(const char *dir, mqb_ckpt_t *c)
{
	uint8_t b[CKPT_SIZE + 1];
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, MQB_CKPT_FILE);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return MQB_ERR_NOTFOUND;
	n = pread(fd, b, sizeof(b), 0);
	close(fd);
	if (n != CKPT_SIZE || memcmp(b, CKPT_MAGIC, 8) ||
	    mqb_be32_get(b + 32) != mqb_crc32c(0, b, 32)) {
		mqb_warn(MOD, "%s: recovery checkpoint is invalid; scanning everything", path);
		return MQB_ERR_CORRUPT;
	}
	c->offset = (int64_t)mqb_be64_get(b + 8);
	c->seg_base = (int64_t)mqb_be64_get(b + 16);
	c->pos = (int64_t)mqb_be64_get(b + 24);
	if (c->offset < 0 || c->seg_base < 0 || c->pos < 0)
		return MQB_ERR_CORRUPT;
	return MQB_OK;
}

/* --- directory listing ------------------------------------------------------------ */

/* "<20 digits><suffix>" -> base */
static bool seg_name(const char *name, const char *suffix, int64_t *base)
{
	size_t sl = strlen(suffix);
	int64_t v = 0;

	if (strlen(name) != 20 + sl || strcmp(name + 20, suffix))
		return false;
	for (int i = 0; i < 20; i++) {
		if (name[i] < '0' || name[i] > '9')
			return false;
		if (v > (INT64_MAX - (name[i] - '0')) / 10)
			return false;
		v = v * 10 + (name[i] - '0');
	}
	*base = v;
	return true;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

typedef struct listing {
	int64_t *bases;
	size_t n, cap;
} listing_t;

static int list_add(listing_t *l, int64_t base)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		int64_t *b = realloc(l->bases, cap * sizeof(*b));
		if (!b)
			return MQB_ERR_NOMEM;
		l->bases = b;
		l->cap = cap;
	}
	l->bases[l->n++] = base;
	return MQB_OK;
}

static bool list_has(const listing_t *l, int64_t base)
{
	return bsearch(&base, l->bases, l->n, sizeof(*l->bases), cmp_i64) != NULL;
}

/*
 * Segments of dir, sorted; every other name goes to the problem callback (verify) or
 * the log (recovery). Orphan index files are reported too.
 */
static int list_dir(const char *dir, listing_t *l, mqb_problem_cb_t *cb, void *arg,
		    int *ignored)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[PATH_MAX];
	int rc = MQB_OK;

	if (!d)
		return mqb_err_from_errno(errno);
	while ((e = readdir(d))) {
		int64_t base;
		const char *n = e->d_name;
		if (!strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, MQB_CKPT_FILE) ||
		    !strcmp(n, MQB_CKPT_TMP) || !strcmp(n, MQB_CLEAN_MARKER))
			continue;
		if (seg_name(n, ".log", &base)) {
			rc = list_add(l, base);
			if (rc)
				break;
			continue;
		}
		if (seg_name(n, ".index", &base) || seg_name(n, ".timeindex", &base))
			continue;   /* orphans checked below */
		snprintf(path, sizeof(path), "%s/%s", dir, n);
		(*ignored)++;
		if (cb)
			cb(arg, path, -1, "unexpected file in a partition directory (not a "
			   "segment, index or checkpoint)");
		else
			mqb_warn(MOD, "%s: ignoring unexpected file (not a segment)", path);
	}
	closedir(d);
	if (!rc && l->n)
		qsort(l->bases, l->n, sizeof(*l->bases), cmp_i64);
	if (rc || !cb)
		return rc;
	/* orphan indexes (verify only; recovery leaves them alone) */
	d = opendir(dir);
	while (d && (e = readdir(d))) {
		int64_t base;
		if ((seg_name(e->d_name, ".index", &base) ||
		     seg_name(e->d_name, ".timeindex", &base)) && !list_has(l, base)) {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			cb(arg, path, -1, "index file without its segment");
		}
	}
	if (d)
		closedir(d);
	return MQB_OK;
}

/* --- recovery --------------------------------------------------------------------- */

typedef struct track_arg {
	mqb_partition_t *p;
	mqb_segment_t *s;
} track_arg_t;

static int track_cb(void *arg, int64_t pos, const mqb_batch_hdr_t *h)
{
	track_arg_t *t = arg;
	int rc = mqb_segment_track_batch(t->s, h, pos, (int64_t)mqb_batch_total_size(h),
					 t->p->opts.index_interval_bytes);
	/* a failed index write is not fatal here either: the data is fine */
	return rc == MQB_ERR_NOMEM ? rc : MQB_OK;
}

static int read_hdr(int fd, int64_t pos, mqb_batch_hdr_t *h)
{
	uint8_t b[MQB_BATCH_HDR_SIZE];
	if (pread(fd, b, sizeof(b), (off_t)pos) != (ssize_t)sizeof(b))
		return MQB_ERR_CORRUPT;
	return mqb_batch_header_peek(b, sizeof(b), h);
}

/*
 * Trust the bytes [0, upto) of s (fsynced before a checkpoint or a clean stop), but
 * not its indexes: load them, check the offset index's structure and a sample of its
 * entries against the batch headers they name (below), the time index's order, then
 * walk the batch headers from the last entry to upto. Sets the segment's writer
 * state. false: do a full scan instead.
 */
/* Must a complete offset index of the first upto bytes have an entry? Appends add one
 * for the first batch that starts at or after index_interval bytes (segment.c), so
 * only when such a batch exists: a segment of one large batch, or of a small batch
 * followed by a large one, rightly has none. An unreadable header answers true and
 * leaves the verdict to the scan. */
static bool index_entry_expected(int fd, int64_t upto, int64_t interval)
{
	int64_t pos = 0, total;
	mqb_batch_hdr_t h;

	while (pos < upto) {
		if (pos >= interval)
			return true;
		if (read_hdr(fd, pos, &h))
			return true;
		total = mqb_batch_total_size(&h);
		if (total <= 0)
			return true;
		pos += total;
	}
	return false;
}

/*
 * Which offset-index entries open checks against their batch headers. Checking every
 * entry cost one pread per index_interval_bytes of data at every open (~2,500 for a
 * 38 MB partition, ~130,000 for 512 MiB at the default 4 KiB), and with a cold page
 * cache readahead turned that into reading the whole store before READY (issue 15).
 * So, like Kafka with a cleanly closed segment, open checks the structure of the whole
 * index in memory (entries strictly increasing in offset and position, all below the
 * trusted bytes, none beyond the data's end, a sealed segment's index not empty where
 * entries are due, the time index ordered) and reads the headers of at most
 * MQB_INDEX_SAMPLE entries: all of them when there are that few, else entries
 * k * (n - 1) / (MQB_INDEX_SAMPLE - 1) for k = 0 .. MQB_INDEX_SAMPLE - 1, spread
 * evenly over the file and always including the first and the last (the walk to
 * upto starts at the last). A shifted, zeroed, truncated or foreign index fails
 * the order check or nearly every sampled entry, and is rebuilt here as before. A
 * single wrong entry between the samples is caught where it is used instead: readers
 * check the header an entry names before skipping to it (reader.c,
 * check_index_entry; range.c, extend) and, when it is wrong, read that segment from
 * its start, stop using its index and empty the .index file so that the next open
 * rebuilds it.
 */
static size_t sample_count(size_t n)
{
	return n < MQB_INDEX_SAMPLE ? n : MQB_INDEX_SAMPLE;
}

/* The k-th sampled entry (k < sample_count(n)) of an index of n entries. */
static size_t sample_entry(size_t n, size_t k)
{
	return n <= MQB_INDEX_SAMPLE ? k : k * (n - 1) / (MQB_INDEX_SAMPLE - 1);
}

bool mqb_index_entry_sampled(size_t n, size_t i)
{
	for (size_t k = 0; k < sample_count(n); k++)
		if (sample_entry(n, k) == i)
			return true;
	return false;
}

static bool fast_load(mqb_partition_t *p, mqb_segment_t *s, int64_t upto, bool sealed)
{
	uint32_t prev_rel = 0, prev_pos = 0, rel, pos, prev_trel = 0;
	int64_t walk = 0, ts, prev_ts = INT64_MIN, next;
	size_t keep;
	mqb_batch_hdr_t h;
	track_arg_t t = { p, s };

	if (s->oidx.fd < 0 || s->tidx.fd < 0 || mqb_index_load(&s->oidx) ||
	    mqb_index_load(&s->tidx))
		return false;
	/* offset index, in memory: strictly increasing, below upto */
	for (keep = 0; keep < s->oidx.n; keep++) {
		mqb_index_offset_at(&s->oidx, keep, &rel, &pos);
		if ((int64_t)pos >= upto)
			break;
		if (keep > 0 && (rel <= prev_rel || pos <= prev_pos))
			return false;
		prev_rel = rel;
		prev_pos = pos;
		walk = pos;
	}
	/* a sample of the kept entries: each at a batch ending at base + rel */
	for (size_t k = 0; k < sample_count(keep); k++) {
		mqb_index_offset_at(&s->oidx, sample_entry(keep, k), &rel, &pos);
		if (read_hdr(s->fh->fd, pos, &h) || h.magic != MQB_BATCH_MAGIC ||
		    mqb_batch_last_offset(&h) != s->base + rel || h.base_offset < s->base)
			return false;
	}
	if (keep < s->oidx.n && upto == atomic_load(&s->size))
		return false;           /* entries beyond the end of the data */
	/* a sealed segment (rolled, or closed cleanly) has complete indexes: an empty one
	 * where the data says there must be entries was lost. The active segment's may
	 * lag after a crash; the walk below adds the missing entries. */
	if (sealed && keep == 0 &&
	    index_entry_expected(s->fh->fd, upto, p->opts.index_interval_bytes))
		return false;
	if (sealed && s->oidx.n > 0 && s->tidx.n == 0)
		return false;
	if (mqb_index_truncate(&s->oidx, keep))
		return false;
	/* time index: strictly increasing timestamps; keep the entries up to the last
	 * indexed batch, the walk below re-creates later ones */
	for (keep = 0; keep < s->tidx.n; keep++) {
		mqb_index_time_at(&s->tidx, keep, &ts, &rel);
		if (!s->oidx.n || rel > prev_rel)
			break;
		if (ts <= prev_ts || rel < prev_trel)
			return false;
		prev_ts = ts;
		prev_trel = rel;
	}
	if (mqb_index_truncate(&s->tidx, keep))
		return false;
	s->max_ts = s->tidx_last_ts = prev_ts;
	/* the first batch: its timestamp starts segment_ms */
	if (upto > 0) {
		if (read_hdr(s->fh->fd, 0, &h) || h.base_offset != s->base)
			return false;
		s->first_ts = h.max_timestamp;
	}
	/* walk the headers from the last indexed batch to upto */
	next = s->base;
	s->next_offset = s->base;
	s->bytes_since_index = 0;
	while (walk < upto) {
		int64_t total;
		if (read_hdr(s->fh->fd, walk, &h) ||
		    mqb_batch_header_framing(&h, upto - walk, NULL, 0) != MQB_OK ||
		    h.base_offset < s->base)
			return false;
		total = (int64_t)mqb_batch_total_size(&h);
		if (next != s->base && h.base_offset != next)
			return false;
		if (s->oidx.n && walk == (int64_t)prev_pos) {
			/* the indexed batch itself */
			if (h.max_timestamp > s->max_ts)
				s->max_ts = h.max_timestamp;
			s->next_offset = mqb_batch_last_offset(&h) + 1;
			s->bytes_since_index = total;
		} else if (track_cb(&t, walk, &h)) {
			return false;
		}
		next = mqb_batch_last_offset(&h) + 1;
		walk += total;
	}
	return true;
}

static void reset_segment_state(mqb_segment_t *s)
{
	s->next_offset = s->base;
	s->max_ts = s->first_ts = s->tidx_last_ts = INT64_MIN;
	s->bytes_since_index = 0;
	s->oidx.n = s->tidx.n = 0;
	if (!s->rdonly) {
		mqb_index_truncate(&s->oidx, 0);
		mqb_index_truncate(&s->tidx, 0);
		s->oidx.n_written = s->tidx.n_written = 0;
		if (s->oidx.fd >= 0 && ftruncate(s->oidx.fd, 0) < 0)
			mqb_warn(MOD, "%s: cannot reset .index: %s", s->log_path, strerror(errno));
		if (s->tidx.fd >= 0 && ftruncate(s->tidx.fd, 0) < 0)
			mqb_warn(MOD, "%s: cannot reset .timeindex: %s", s->log_path,
				 strerror(errno));
	}
}

static void delete_segment_files(mqb_partition_t *p, int64_t base)
{
	static const char *const suffixes[] = { ".log", ".index", ".timeindex" };
	char path[PATH_MAX];

	for (int i = 0; i < 3; i++) {
		mqb_segment_path(path, sizeof(path), p->dir, base, suffixes[i]);
		if (unlink(path) < 0 && errno != ENOENT)
			mqb_warn(MOD, "%s: cannot delete: %s", path, strerror(errno));
	}
}

/* What one partition's recovery carries from segment to segment. */
typedef struct recovery {
	mqb_partition_t *p;
	mqb_recovery_report_t *rep;
	listing_t l;
	mqb_ckpt_t ck;
	bool clean;                   /* the clean-stop marker was there: trust everything */
	bool have_ck;                 /* ck holds a checkpoint to trust up to */
	bool cut;                     /* the log was cut: later segments are dropped */
	bool changed;                 /* files were changed: fsync the directory */
	bool created;                 /* a new partition: nothing on disk before this open */
	int64_t expect;               /* base offset the next segment must have (-1: any) */
	char *errstr;
	size_t errstr_size;
} recovery_t;

/* A segment after the cut: deleted (kept, unused, when read-only). */
static void recover_drop(recovery_t *r, int64_t base)
{
	char path[PATH_MAX];

	mqb_segment_path(path, sizeof(path), r->p->dir, base, ".log");
	r->rep->segments_deleted++;
	if (r->p->rdonly) {
		mqb_warn(MOD, "%s: after the cut; not used (read-only)", path);
	} else {
		mqb_error(MOD, "%s: deleted: it follows the cut", path);
		delete_segment_files(r->p, base);
		r->changed = true;
	}
}

/* A segment whose base offset does not continue the log: the cut starts there. */
static void recover_gap(recovery_t *r, int64_t base)
{
	mqb_recovery_report_t *rep = r->rep;
	char path[PATH_MAX];

	mqb_segment_path(path, sizeof(path), r->p->dir, base, ".log");
	mqb_error(MOD, "%s: base offset %" PRId64 " does not continue the log "
		  "(expected %" PRId64 "); it and later segments are dropped",
		  path, base, r->expect);
	r->cut = true;
	rep->truncated = true;
	snprintf(rep->cut_path, sizeof(rep->cut_path), "%s", path);
	rep->cut_position = 0;
	rep->first_lost_offset = r->expect;
	snprintf(rep->cut_reason, sizeof(rep->cut_reason),
		 "segment base offset %" PRId64 " does not continue the log", base);
}

/* Load what the clean marker or the checkpoint lets us trust of segment i (its
 * indexes checked, fast_load); returns the byte position the scan starts at. */
static int64_t recover_trusted(recovery_t *r, mqb_segment_t *s, size_t i)
{
	int64_t base = s->base, size = atomic_load(&s->size), trusted = 0;
	bool loaded = false;

	if (r->clean)
		trusted = size;
	else if (r->have_ck && base < r->ck.seg_base)
		trusted = size;
	else if (r->have_ck && base == r->ck.seg_base)
		trusted = r->ck.pos < size ? r->ck.pos : size;
	if (trusted > 0) {
		loaded = fast_load(r->p, s, trusted, r->clean || i + 1 < r->l.n);
		if (loaded && r->have_ck && base == r->ck.seg_base && trusted == r->ck.pos &&
		    s->next_offset != r->ck.offset)
			loaded = false;   /* checkpoint and data disagree: scan */
		if (!loaded) {
			mqb_warn(MOD, "%s: index missing or inconsistent; rebuilding it "
				 "from the data", s->log_path);
			r->rep->indexes_rebuilt++;
		}
		if (r->have_ck && !r->clean)
			r->rep->used_checkpoint = true;
	} else if (size > 0) {
		r->rep->indexes_rebuilt++;
	}
	if (loaded)
		return trusted;
	reset_segment_state(s);
	return 0;
}

/* The scan of segment i found a bad batch at end_pos: cut the log there. */
static int recover_cut(recovery_t *r, mqb_segment_t *s, size_t i, int64_t end_pos,
		       int64_t next_off, const char *why)
{
	mqb_recovery_report_t *rep = r->rep;
	int64_t size = atomic_load(&s->size);
	const listing_t *l = &r->l;

	r->cut = true;
	rep->truncated = true;
	snprintf(rep->cut_path, sizeof(rep->cut_path), "%s", s->log_path);
	rep->cut_position = end_pos;
	rep->cut_bytes = size - end_pos;
	rep->first_lost_offset = next_off;
	snprintf(rep->cut_reason, sizeof(rep->cut_reason), "%s", why);
	if (i + 1 < l->n)
		mqb_error(MOD, "%s: cut at byte %" PRId64 " (%" PRId64 " bytes "
			  "removed): %s; offsets from %" PRId64 " on are lost, "
			  "through at least %" PRId64 " (%zu later segment(s) are "
			  "deleted)", s->log_path, end_pos, size - end_pos, why,
			  next_off, l->bases[l->n - 1], l->n - i - 1);
	else
		mqb_error(MOD, "%s: cut at byte %" PRId64 " (%" PRId64 " bytes "
			  "removed): %s; offsets from %" PRId64 " on are lost",
			  s->log_path, end_pos, size - end_pos, why, next_off);
	if (!r->p->rdonly) {
		if (ftruncate(s->fh->fd, (off_t)end_pos) < 0) {
			int rc = mqb_err_from_errno(errno);
			mqb_errstr_set(r->errstr, r->errstr_size, "cannot truncate %s: %s",
				       s->log_path, strerror(errno));
			return rc;
		}
		r->changed = true;
	}
	atomic_store(&s->size, end_pos);
	return MQB_OK;
}

/* Scan segment i from start to its end (tracking batches into its indexes), cut the
 * log at the first bad batch, write the rebuilt index entries. */
static int recover_scan(recovery_t *r, mqb_segment_t *s, size_t i, int64_t start)
{
	int64_t size = atomic_load(&s->size), end_pos, next_off;
	track_arg_t t = { r->p, s };
	char why[200];
	int rc;

	rc = mqb_segment_scan(s->fh->fd, start, size, start ? s->next_offset : s->base,
			      track_cb, &t, &end_pos, &next_off, why, sizeof(why));
	r->rep->scanned_bytes += end_pos - start;
	if (rc == MQB_ERR_CORRUPT) {
		rc = recover_cut(r, s, i, end_pos, next_off, why);
		if (rc)
			return rc;
	} else if (rc) {
		mqb_errstr_set(r->errstr, r->errstr_size, "cannot read %s: %s", s->log_path,
			       mqb_strerror(rc));
		return rc;
	}
	if (!r->p->rdonly) {
		mqb_index_write_pending(&s->oidx);
		mqb_index_write_pending(&s->tidx);
		if (fdatasync(s->fh->fd) < 0)
			mqb_warn(MOD, "%s: fsync after recovery: %s", s->log_path,
				 strerror(errno));
	}
	return MQB_OK;
}

/* Open segment i, load or rebuild it, and add it to the partition. */
static int recover_segment(recovery_t *r, size_t i)
{
	mqb_partition_t *p = r->p;
	int64_t base = r->l.bases[i], start;
	mqb_segment_t *s;
	int rc;

	rc = mqb_segment_open(p->dir, base, false, p->rdonly, &s);
	if (rc) {
		char desc[200];
		mqb_errstr_set(r->errstr, r->errstr_size, "cannot open segment %" PRId64 " in %s: %s",
			       base, p->dir, mqb_segment_errdesc(rc, desc, sizeof(desc)));
		mqb_error(MOD, "%s: cannot open segment %" PRId64 ": %s", p->dir, base, desc);
		return rc;
	}
	start = recover_trusted(r, s, i);
	if (start < atomic_load(&s->size)) {
		rc = recover_scan(r, s, i, start);
		if (rc) {
			mqb_segment_unref(s);
			return rc;
		}
	}
	rc = mqb_partition__push_segment(p, s);
	if (rc) {
		mqb_segment_unref(s);
		mqb_errstr_set(r->errstr, r->errstr_size, "out of memory");
		return rc;
	}
	atomic_fetch_add(&p->size_bytes, atomic_load(&s->size));
	r->expect = s->next_offset;
	return MQB_OK;
}

/* An empty partition gets its first segment (writable partitions only). */
static int recover_first_segment(recovery_t *r)
{
	mqb_partition_t *p = r->p;
	mqb_segment_t *s;
	char desc[200];
	int rc;

	rc = mqb_segment_open(p->dir, 0, true, false, &s);
	if (!rc) {
		rc = mqb_partition__push_segment(p, s);
		if (rc)
			mqb_segment_unref(s);
	}
	if (rc) {
		mqb_errstr_set(r->errstr, r->errstr_size, "cannot create the first segment in %s: %s",
			       p->dir, mqb_segment_errdesc(rc, desc, sizeof(desc)));
		return rc;
	}
	r->changed = true;
	r->created = r->l.n == 0;
	return MQB_OK;
}

/* The partition's positions; the clean marker removed and a checkpoint written. */
static void recover_finish(recovery_t *r)
{
	mqb_partition_t *p = r->p;
	char path[PATH_MAX];

	if (p->nsegs) {
		atomic_store(&p->stored, p->active->next_offset);
		atomic_store(&p->durable, p->active->next_offset);
		atomic_store(&p->log_start, p->segs[0]->base);
		/* a clean stop wrote exactly this checkpoint before its marker: a stop
		 * with nothing appended since need not write it again */
		if (r->clean) {
			p->ckpt_disk = (mqb_ckpt_t){ p->active->next_offset, p->active->base,
						     atomic_load(&p->active->size) };
			p->ckpt_disk_known = true;
		}
	}
	if (!p->rdonly) {
		/* After a clean stop only the marker goes: the checkpoint written at that
		 * stop still holds, and the directory fsync that makes the removal durable
		 * is left to the store (mqb_partition__sync_open), which does it for every
		 * partition of the stream after all are recovered, before any append: one
		 * journal commit instead of three fsyncs per partition (1024 partitions
		 * took seconds to open, issue 15). */
		snprintf(path, sizeof(path), "%s/%s", p->dir, MQB_CLEAN_MARKER);
		if (unlink(path) == 0)
			p->open_sync_due = true;
		/* A new partition (its directory, empty first segment and checkpoint) is
		 * made durable the same way: with the other partitions of its stream, by
		 * one syncfs, or by its first append's directory fsync, whichever comes
		 * first, so no record is durable before its files are. Three fsyncs per
		 * partition made creating 1024 partitions take 3.6-4 s (issue 15). A crash
		 * before that leaves an empty partition with or without its files, and at
		 * worst a checkpoint that does not read back: the next open rebuilds them
		 * (an empty scan). */
		if (r->created)
			p->open_sync_due = true;
		else if (r->changed && fsync(p->dirfd) < 0)
			mqb_warn(MOD, "%s: directory fsync: %s", p->dir, strerror(errno));
		if (!r->clean || r->changed) {
			mqb_ckpt_t now = { atomic_load(&p->stored), p->active->base,
					   atomic_load(&p->active->size) };
			mqb_ckpt_write_opt(p, &now, !r->created);
		}
	}
	if (!r->clean && r->l.n)
		mqb_info(MOD, "%s: recovered: offsets %" PRId64 "..%" PRId64 ", %d segment(s), "
			 "%" PRId64 " bytes scanned%s%s", p->dir, atomic_load(&p->log_start),
			 atomic_load(&p->stored), (int)p->nsegs, r->rep->scanned_bytes,
			 r->rep->used_checkpoint ? " from the checkpoint" : "",
			 r->rep->truncated ? ", tail cut" : "");
}

int mqb_partition__recover(mqb_partition_t *p, bool full_scan, char *errstr,
			   size_t errstr_size)
{
	recovery_t r = { .p = p, .rep = &p->report, .expect = -1,
			 .errstr = errstr, .errstr_size = errstr_size };
	char path[PATH_MAX];
	int rc;

	rc = list_dir(p->dir, &r.l, NULL, NULL, &r.rep->files_ignored);
	if (rc) {
		mqb_errstr_set(errstr, errstr_size, "cannot list %s: %s", p->dir,
			       mqb_strerror(rc));
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s", p->dir, MQB_CLEAN_MARKER);
	r.clean = !full_scan && access(path, F_OK) == 0;
	if (!r.clean && !full_scan)
		r.have_ck = mqb_ckpt_read(p->dir, &r.ck) == MQB_OK;
	r.rep->clean = r.clean;

	for (size_t i = 0; i < r.l.n; i++) {
		int64_t base = r.l.bases[i];

		if (!r.cut && r.expect >= 0 && base != r.expect)
			recover_gap(&r, base);
		if (r.cut) {
			recover_drop(&r, base);
			continue;
		}
		rc = recover_segment(&r, i);
		if (rc)
			goto out;
	}
	if (p->nsegs == 0 && !p->rdonly) {
		rc = recover_first_segment(&r);
		if (rc)
			goto out;
	}
	recover_finish(&r);
out:
	free(r.l.bases);
	return rc;
}

int mqb_partition__sync_open(mqb_partition_t *p)
{
	if (!p->open_sync_due)
		return MQB_OK;
	if (fsync(p->dirfd) < 0) {
		int rc = mqb_err_from_errno(errno);
		mqb_warn(MOD, "%s: directory fsync: %s", p->dir, strerror(errno));
		return rc;
	}
	p->open_sync_due = false;
	return MQB_OK;
}

/* From this many partitions to sync on, one syncfs() is cheaper than the fsyncs (each
 * directory fsync took 0.1-10 ms on a loaded VM: 1-2 s at 1024 partitions, and 49-130
 * ms for the shipped 12 partitions, most of the time from exec to READY). */
#define SYNC_OPEN_SYNCFS_MIN 2

int mqb_partition__sync_open_all(mqb_partition_t **parts, int32_t n)
{
	int32_t due = 0, first = -1;
	bool *was = calloc(n > 0 ? (size_t)n : 1, sizeof *was);
	int rc = MQB_OK;

	if (!was)
		return MQB_ERR_NOMEM;   /* each append does its own (mqb_partition__sync_open) */
	for (int32_t i = 0; i < n; i++) {
		pthread_mutex_lock(&parts[i]->wlock);
		was[i] = parts[i]->open_sync_due;
		if (was[i] && due++ == 0)
			first = i;
		pthread_mutex_unlock(&parts[i]->wlock);
	}
	if (due > 0 && due < SYNC_OPEN_SYNCFS_MIN) {
		pthread_mutex_lock(&parts[first]->wlock);
		rc = mqb_partition__sync_open(parts[first]);
		pthread_mutex_unlock(&parts[first]->wlock);
	} else if (due > 0 && syncfs(parts[first]->dirfd) < 0) {
		rc = mqb_err_from_errno(errno);
		mqb_warn(MOD, "%s: syncfs: %s", parts[first]->dir, strerror(errno));
	} else {
		/* every removal made before the syncfs is durable: those flags go (an
		 * append may have done its own fsync meanwhile, harmless) */
		for (int32_t i = 0; i < n; i++) {
			if (!was[i])
				continue;
			pthread_mutex_lock(&parts[i]->wlock);
			parts[i]->open_sync_due = false;
			pthread_mutex_unlock(&parts[i]->wlock);
		}
	}
	free(was);
	return rc;
}

/* --- verify ------------------------------------------------------------------------ */

typedef struct vbatch {
	int64_t pos, last, maxts_so_far;
} vbatch_t;

typedef struct vcollect {
	vbatch_t *b;
	size_t n, cap;
	int64_t maxts;
} vcollect_t;

static int collect_cb(void *arg, int64_t pos, const mqb_batch_hdr_t *h)
{
	vcollect_t *c = arg;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 1024;
		vbatch_t *b = realloc(c->b, cap * sizeof(*b));
		if (!b)
			return MQB_ERR_NOMEM;
		c->b = b;
		c->cap = cap;
	}
	if (h->max_timestamp > c->maxts)
		c->maxts = h->max_timestamp;
	c->b[c->n].pos = pos;
	c->b[c->n].last = mqb_batch_last_offset(h);
	c->b[c->n].maxts_so_far = c->maxts;
	c->n++;
	return MQB_OK;
}

static const vbatch_t *find_pos(const vcollect_t *c, int64_t pos)
{
	size_t lo = 0, hi = c->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->b[mid].pos < pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->n && c->b[lo].pos == pos ? &c->b[lo] : NULL;
}

static const vbatch_t *find_last(const vcollect_t *c, int64_t last)
{
	size_t lo = 0, hi = c->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->b[mid].last < last)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->n && c->b[lo].last == last ? &c->b[lo] : NULL;
}

static int verify_index(const char *dir, int64_t base, const vcollect_t *c, bool timeidx,
			mqb_problem_cb_t *cb, void *arg)
{
	char path[PATH_MAX], msg[256];
	mqb_index_t ix;
	int problems = 0, rc;
	int64_t prev_a = INT64_MIN, prev_b = -1;

	mqb_segment_path(path, sizeof(path), dir, base, timeidx ? ".timeindex" : ".index");
	if (mqb_index_open(&ix, path, timeidx ? MQB_TIME_ENTRY_SIZE : MQB_OFFSET_ENTRY_SIZE,
			   true, false)) {
		cb(arg, path, -1, "index file is missing");
		return 1;
	}
	rc = mqb_index_load(&ix);
	if (rc == MQB_ERR_CORRUPT) {
		cb(arg, path, (int64_t)(ix.n * ix.esz), "index size is not a whole number of "
		   "entries (torn last entry)");
		problems++;
	} else if (rc) {
		cb(arg, path, -1, "index cannot be read");
		problems++;
	}
	for (size_t i = 0; i < ix.n; i++) {
		int64_t at = (int64_t)(i * ix.esz);
		if (!timeidx) {
			uint32_t rel, pos;
			const vbatch_t *b;
			mqb_index_offset_at(&ix, i, &rel, &pos);
			b = find_pos(c, pos);
			if (!b)
				snprintf(msg, sizeof(msg), "entry %zu points at byte %u, which is "
					 "not the start of a valid batch", i, pos);
			else if (b->last != base + (int64_t)rel)
				snprintf(msg, sizeof(msg), "entry %zu names offset %" PRId64 " but "
					 "the batch at byte %u ends at offset %" PRId64, i,
					 base + (int64_t)rel, pos, b->last);
			else if ((int64_t)rel <= prev_a || (int64_t)pos <= prev_b)
				snprintf(msg, sizeof(msg), "entry %zu is out of order", i);
			else
				msg[0] = 0;
			prev_a = rel;
			prev_b = pos;
		} else {
			int64_t ts;
			uint32_t rel;
			const vbatch_t *b;
			mqb_index_time_at(&ix, i, &ts, &rel);
			b = find_last(c, base + (int64_t)rel);
			if (!b)
				snprintf(msg, sizeof(msg), "entry %zu names offset %" PRId64 ", which "
					 "is not the last offset of a valid batch", i,
					 base + (int64_t)rel);
			else if (b->maxts_so_far != ts)
				snprintf(msg, sizeof(msg), "entry %zu says timestamp %" PRId64 " but "
					 "the largest timestamp up to offset %" PRId64 " is %" PRId64,
					 i, ts, b->last, b->maxts_so_far);
			else if (ts <= prev_a)
				snprintf(msg, sizeof(msg), "entry %zu is out of order", i);
			else
				msg[0] = 0;
			prev_a = ts;
		}
		if (msg[0]) {
			cb(arg, path, at, msg);
			problems++;
		}
	}
	ix.n_written = ix.n;
	mqb_index_close(&ix);
	return problems;
}

static void no_problem_cb(void *arg, const char *path, int64_t position, const char *what)
{
	(void)arg; (void)path; (void)position; (void)what;
}

int mqb_store_verify_partition(const char *dir, mqb_problem_cb_t *cb, void *arg,
			       int64_t *records_out)
{
	listing_t l = { 0 };
	int problems = 0, ignored = 0, rc;
	int64_t expect = -1, records = 0;
	char path[PATH_MAX], msg[300], why[200];

	if (!cb)
		cb = no_problem_cb;
	rc = list_dir(dir, &l, cb, arg, &ignored);
	if (rc)
		return rc;
	problems += ignored;
	for (size_t i = 0; i < l.n; i++) {
		int64_t base = l.bases[i], end_pos, next_off;
		vcollect_t c = { .maxts = INT64_MIN };
		struct stat sb;
		int fd;

		mqb_segment_path(path, sizeof(path), dir, base, ".log");
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &sb) < 0) {
			cb(arg, path, -1, "segment cannot be opened");
			problems++;
			if (fd >= 0)
				close(fd);
			continue;
		}
		if (expect >= 0 && base != expect) {
			snprintf(msg, sizeof(msg), "segment base offset %" PRId64 " does not "
				 "continue the previous segment (which ends before offset %" PRId64
				 ")", base, expect);
			cb(arg, path, 0, msg);
			problems++;
		}
		rc = mqb_segment_scan(fd, 0, sb.st_size, base, collect_cb, &c, &end_pos,
				      &next_off, why, sizeof(why));
		close(fd);
		if (rc == MQB_ERR_CORRUPT) {
			snprintf(msg, sizeof(msg), "invalid batch: %s; the %" PRId64 " bytes from "
				 "here on cannot be read (offsets from %" PRId64 ")", why,
				 (int64_t)sb.st_size - end_pos, next_off);
			cb(arg, path, end_pos, msg);
			problems++;
		} else if (rc) {
			cb(arg, path, end_pos, "read error");
			problems++;
		}
		records += next_off - base;
		problems += verify_index(dir, base, &c, false, cb, arg);
		problems += verify_index(dir, base, &c, true, cb, arg);
		free(c.b);
		expect = next_off;
	}
	free(l.bases);
	if (records_out)
		*records_out = records;
	return problems;
}
