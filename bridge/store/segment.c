/* segment.c — segment files: open/create, reference counting, index upkeep, scanning. */
#include "bridge/store/segment.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bridge/err.h"
#include "bridge/logging.h"
#include "bridge/store/store.h"   /* MQB_STORE_FILE_MODE */

#define SCAN_CHUNK (1 << 20)

void mqb_segment_path(char *out, size_t out_size, const char *dir, int64_t base,
		      const char *suffix)
{
	snprintf(out, out_size, "%s/%020" PRId64 "%s", dir, base, suffix);
}

static mqb_segfd_t *segfd_wrap(int fd)
{
	mqb_segfd_t *h = malloc(sizeof(*h));

	if (!h)
		return NULL;
	h->fd = fd;
	atomic_init(&h->refs, 1);
	return h;
}

mqb_segfd_t *mqb_segfd_open(const char *path, int *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	mqb_segfd_t *h;

	if (fd < 0) {
		*err = mqb_err_from_errno(errno);
		return NULL;
	}
	h = segfd_wrap(fd);
	if (!h) {
		close(fd);
		*err = MQB_ERR_NOMEM;
	}
	return h;
}

mqb_segfd_t *mqb_segfd_ref(mqb_segfd_t *h)
{
	if (h)
		atomic_fetch_add_explicit(&h->refs, 1, memory_order_relaxed);
	return h;
}

void mqb_segfd_unref(mqb_segfd_t *h)
{
	if (!h || atomic_fetch_sub_explicit(&h->refs, 1, memory_order_acq_rel) != 1)
		return;
	close(h->fd);
	free(h);
}

const char *mqb_segment_errdesc(int rc, char *buf, size_t buf_size)
{
	struct rlimit rl;

	if (rc != MQB_ERR_NFILE) {
		snprintf(buf, buf_size, "%s", mqb_strerror(rc));
		return buf;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		snprintf(buf, buf_size, "too many open files (limit %llu): raise LimitNOFILE "
			 "in the systemd unit (or ulimit -n), or use fewer partitions",
			 (unsigned long long)rl.rlim_cur);
	else
		snprintf(buf, buf_size, "too many open files (system-wide limit): raise "
			 "fs.file-max, or use fewer partitions");
	return buf;
}

int mqb_segment_open(const char *dir, int64_t base, bool create, bool rdonly,
		     mqb_segment_t **out)
{
	char path[PATH_MAX];
	mqb_segment_t *s;
	struct stat sb;
	int fd, rc = MQB_ERR_NOMEM;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return MQB_ERR_NOMEM;
	s->oidx.fd = s->tidx.fd = -1;
	s->base = s->next_offset = base;
	s->max_ts = s->first_ts = s->tidx_last_ts = INT64_MIN;
	s->rdonly = rdonly;
	atomic_init(&s->refs, 1);
	mqb_segment_path(path, sizeof(path), dir, base, ".log");
	s->log_path = strdup(path);
	if (!s->log_path)
		goto error;
	fd = open(path, rdonly ? O_RDONLY | O_CLOEXEC :
		  O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0), MQB_STORE_FILE_MODE);
	if (fd < 0 || fstat(fd, &sb) < 0) {
		rc = mqb_err_from_errno(errno);
		if (fd >= 0)
			close(fd);
		goto error;
	}
	s->fh = segfd_wrap(fd);
	if (!s->fh) {
		close(fd);
		rc = MQB_ERR_NOMEM;
		goto error;
	}
	atomic_init(&s->size, (int64_t)sb.st_size);
	mqb_segment_path(path, sizeof(path), dir, base, ".index");
	rc = mqb_index_open(&s->oidx, path, MQB_OFFSET_ENTRY_SIZE, rdonly, create);
	if (rc && (!rdonly || rc == MQB_ERR_NFILE))
		goto error;
	mqb_segment_path(path, sizeof(path), dir, base, ".timeindex");
	rc = mqb_index_open(&s->tidx, path, MQB_TIME_ENTRY_SIZE, rdonly, create);
	if (rc && (!rdonly || rc == MQB_ERR_NFILE))
		goto error;
	/* read-only: a missing index is fine, it is rebuilt in memory */
	s->oidx.esz = MQB_OFFSET_ENTRY_SIZE;
	s->tidx.esz = MQB_TIME_ENTRY_SIZE;
	*out = s;
	return MQB_OK;
error:
	mqb_segment_unref(s);
	return rc;
}

mqb_segment_t *mqb_segment_ref(mqb_segment_t *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	return s;
}

void mqb_segment_unref(mqb_segment_t *s)
{
	if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (s->rdonly) {
		/* never write to a read-only store's files */
		s->oidx.n_written = s->oidx.n;
		s->tidx.n_written = s->tidx.n;
	}
	mqb_index_close(&s->oidx);
	mqb_index_close(&s->tidx);
	mqb_segfd_unref(s->fh);
	free(s->log_path);
	free(s);
}

void mqb_segment_unlink(mqb_segment_t *s)
{
	char path[PATH_MAX];
	size_t n = strlen(s->log_path) - 4;   /* strip ".log" */

	unlink(s->log_path);
	snprintf(path, sizeof(path), "%.*s.index", (int)n, s->log_path);
	unlink(path);
	snprintf(path, sizeof(path), "%.*s.timeindex", (int)n, s->log_path);
	unlink(path);
	/* open handles stay valid for their holders; make sure the final close of an
	 * unlinked segment does not try to write index entries into the void */
	s->oidx.n_written = s->oidx.n;
	s->tidx.n_written = s->tidx.n;
}

mqb_segfd_t *mqb_segment_close_files(mqb_segment_t *s)
{
	mqb_segfd_t *h = s->fh;
	int rc;

	if (s->rdonly) {
		/* never write to a read-only store's files */
		s->oidx.n_written = s->oidx.n;
		s->tidx.n_written = s->tidx.n;
	}
	rc = mqb_index_close_fd(&s->oidx);
	if (mqb_index_close_fd(&s->tidx) && !rc)
		rc = MQB_ERR_IO;
	if (rc)
		mqb_warn("store", "%s: writing index entries: %s (rebuilt at recovery)",
			 s->log_path, mqb_strerror(rc));
	s->fh = NULL;
	return h;
}

int mqb_segment_track_batch(mqb_segment_t *s, const mqb_batch_hdr_t *hdr, int64_t pos,
			    int64_t len, int32_t index_interval)
{
	int64_t last = mqb_batch_last_offset(hdr);
	uint32_t rel = (uint32_t)(last - s->base);
	int rc = MQB_OK;

	if (s->first_ts == INT64_MIN)
		s->first_ts = hdr->max_timestamp;
	if (hdr->max_timestamp > s->max_ts)
		s->max_ts = hdr->max_timestamp;
	if (s->bytes_since_index >= index_interval) {
		rc = mqb_index_append_offset(&s->oidx, rel, (uint32_t)pos);
		if (!rc && s->max_ts > s->tidx_last_ts) {
			rc = mqb_index_append_time(&s->tidx, s->max_ts, rel);
			s->tidx_last_ts = s->max_ts;
		}
		s->bytes_since_index = 0;
	}
	s->bytes_since_index += len;
	s->next_offset = last + 1;
	return rc;
}

int mqb_segment_seal(mqb_segment_t *s)
{
	int rc = MQB_OK;

	if (s->rdonly)
		return MQB_OK;
	if (s->next_offset > s->base && s->max_ts > s->tidx_last_ts) {
		rc = mqb_index_append_time(&s->tidx, s->max_ts,
					   (uint32_t)(s->next_offset - 1 - s->base));
		s->tidx_last_ts = s->max_ts;
	}
	if (!rc)
		rc = mqb_index_write_pending(&s->oidx);
	if (!rc)
		rc = mqb_index_write_pending(&s->tidx);
	return rc;
}

/* Fill buf with file bytes [pos, pos + want); short read = file changed: IO. */
static int read_at(int fd, uint8_t *buf, size_t want, int64_t pos)
{
	size_t got = 0;
	while (got < want) {
		ssize_t r = pread(fd, buf + got, want - got, (off_t)(pos + (int64_t)got));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return MQB_ERR_IO;
		}
		if (r == 0)
			return MQB_ERR_IO;
		got += (size_t)r;
	}
	return MQB_OK;
}

/* Read want bytes at pos into *buf (grown to fit; *cap is its size): the scan's
 * window onto the segment. */
static int scan_window(int fd, uint8_t **buf, size_t *cap, int64_t pos, int64_t want)
{
	if ((size_t)want > *cap) {
		uint8_t *nb = realloc(*buf, (size_t)want);
		if (!nb)
			return MQB_ERR_NOMEM;
		*buf = nb;
		*cap = (size_t)want;
	}
	return read_at(fd, *buf, (size_t)want, pos);
}

#define SCAN_BAD(...) do { if (why && why_size) snprintf(why, why_size, __VA_ARGS__); \
			   rc = MQB_ERR_CORRUPT; goto out; } while (0)

int mqb_segment_scan(int fd, int64_t start, int64_t size, int64_t expect_offset,
		     mqb_scan_cb_t *cb, void *arg, int64_t *end_pos, int64_t *next_offset,
		     char *why, size_t why_size)
{
	uint8_t *buf = NULL;
	size_t cap = 0;
	int64_t buf_pos = 0, buf_len = 0;   /* file range held in buf */
	int64_t pos = start, off = expect_offset;
	int rc = MQB_OK;

	while (pos < size) {
		mqb_batch_hdr_t h;
		int64_t left = size - pos, total;
		char bwhy[160];

		if (left < MQB_BATCH_HDR_SIZE)
			SCAN_BAD("truncated batch header (%" PRId64 " bytes left)", left);
		/* make sure the header is in the buffer */
		if (pos < buf_pos || pos + MQB_BATCH_HDR_SIZE > buf_pos + buf_len) {
			rc = scan_window(fd, &buf, &cap, pos, left < SCAN_CHUNK ? left : SCAN_CHUNK);
			if (rc)
				goto out;
			buf_pos = pos;
			buf_len = left < SCAN_CHUNK ? left : SCAN_CHUNK;
		}
		mqb_batch_header_peek(buf + (pos - buf_pos), MQB_BATCH_HDR_SIZE, &h);
		if (h.batch_length < MQB_BATCH_HDR_SIZE - MQB_BATCH_LOG_OVERHEAD)
			SCAN_BAD("batch length %d below the minimum", h.batch_length);
		total = (int64_t)mqb_batch_total_size(&h);
		if (total > MQB_BATCH_MAX_SIZE)
			SCAN_BAD("batch of %" PRId64 " bytes exceeds the %d-byte limit", total,
				 MQB_BATCH_MAX_SIZE);
		if (total > left)
			SCAN_BAD("batch of %" PRId64 " bytes runs past the end of the segment "
				 "(%" PRId64 " bytes left)", total, left);
		if (pos + total > buf_pos + buf_len) {
			int64_t want = left < SCAN_CHUNK ? left : SCAN_CHUNK;
			if (want < total)
				want = total;
			rc = scan_window(fd, &buf, &cap, pos, want);
			if (rc)
				goto out;
			buf_pos = pos;
			buf_len = want;
		}
		if (mqb_batch_header_parse(buf + (pos - buf_pos), (size_t)total, &h, bwhy,
					   sizeof(bwhy)))
			SCAN_BAD("%s", bwhy);
		if (h.base_offset != off)
			SCAN_BAD("batch base offset %" PRId64 ", expected %" PRId64,
				 h.base_offset, off);
		if (cb) {
			rc = cb(arg, pos, &h);
			if (rc)
				goto out;
		}
		pos += total;
		off = mqb_batch_last_offset(&h) + 1;
	}
out:
	free(buf);
	*end_pos = pos;
	*next_offset = off;
	return rc;
}
