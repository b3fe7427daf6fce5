/* index.c — offset and time index files (sparse, append-only, rebuilt on recovery). */
#include "bridge/store/index.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bridge/err.h"
#include "bridge/logging.h"
#include "bridge/store/store.h"   /* MQB_STORE_FILE_MODE */
#include "bridge/store/batch.h"

#define PENDING_FLUSH_BYTES 4096

int mqb_index_open(mqb_index_t *ix, const char *path, size_t esz, bool rdonly, bool trunc)
{
	memset(ix, 0, sizeof(*ix));
	ix->esz = esz;
	ix->rdonly = rdonly;
	ix->fd = open(path, rdonly ? O_RDONLY | O_CLOEXEC :
		      O_RDWR | O_CREAT | O_CLOEXEC | (trunc ? O_TRUNC : 0), MQB_STORE_FILE_MODE);
	if (ix->fd < 0)
		return mqb_err_from_errno(errno);
	return MQB_OK;
}

static int ix_reserve(mqb_index_t *ix, size_t n)
{
	size_t cap;
	uint8_t *r;

	if (n <= ix->cap)
		return MQB_OK;
	cap = ix->cap ? ix->cap * 2 : 64;
	while (cap < n)
		cap *= 2;
	r = realloc(ix->raw, cap * ix->esz);
	if (!r)
		return MQB_ERR_NOMEM;
	ix->raw = r;
	ix->cap = cap;
	return MQB_OK;
}

int mqb_index_load(mqb_index_t *ix)
{
	struct stat sb;
	size_t n, want;
	ssize_t r;
	int rc;

	if (ix->fd < 0 || fstat(ix->fd, &sb) < 0)
		return MQB_ERR_IO;
	n = (size_t)sb.st_size / ix->esz;
	rc = ix_reserve(ix, n);
	if (rc)
		return rc;
	want = n * ix->esz;
	r = want ? pread(ix->fd, ix->raw, want, 0) : 0;
	if (r < 0 || (size_t)r != want)
		return MQB_ERR_IO;
	ix->n = ix->n_written = n;
	if ((size_t)sb.st_size % ix->esz)
		return MQB_ERR_CORRUPT;
	return MQB_OK;
}

int mqb_index_write_pending(mqb_index_t *ix)
{
	size_t off, len;

	if (ix->rdonly)
		ix->n_written = ix->n;
	if (ix->fd < 0 || ix->n_written == ix->n)
		return MQB_OK;
	off = ix->n_written * ix->esz;
	len = (ix->n - ix->n_written) * ix->esz;
	while (len) {
		ssize_t w = pwrite(ix->fd, ix->raw + off, len, (off_t)off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return mqb_err_from_errno(errno);
		}
		off += (size_t)w;
		len -= (size_t)w;
	}
	ix->n_written = ix->n;
	return MQB_OK;
}

void mqb_index_close(mqb_index_t *ix)
{
	if (!ix)
		return;
	if (ix->fd >= 0) {
		mqb_index_write_pending(ix);
		close(ix->fd);
	}
	free(ix->raw);
	memset(ix, 0, sizeof(*ix));
	ix->fd = -1;
}

int mqb_index_close_fd(mqb_index_t *ix)
{
	int rc;

	if (ix->fd < 0)
		return MQB_OK;
	rc = mqb_index_write_pending(ix);
	close(ix->fd);
	ix->fd = -1;
	ix->n_written = ix->n;   /* nothing is written after this */
	return rc;
}

int mqb_index_truncate(mqb_index_t *ix, size_t n)
{
	if (n >= ix->n)
		return MQB_OK;
	ix->n = n;
	if (ix->n_written > n) {
		ix->n_written = n;
		if (ix->fd >= 0 && !ix->rdonly && ftruncate(ix->fd, (off_t)(n * ix->esz)) < 0)
			return mqb_err_from_errno(errno);
	}
	return MQB_OK;
}

static int ix_push(mqb_index_t *ix)
{
	int rc = ix_reserve(ix, ix->n + 1);
	if (rc)
		return rc;
	ix->n++;
	if ((ix->n - ix->n_written) * ix->esz >= PENDING_FLUSH_BYTES)
		return mqb_index_write_pending(ix);
	return MQB_OK;
}

int mqb_index_append_offset(mqb_index_t *ix, uint32_t rel, uint32_t pos)
{
	int rc = ix_reserve(ix, ix->n + 1);
	uint8_t *e;
	if (rc)
		return rc;
	e = ix->raw + ix->n * ix->esz;
	mqb_be32_put(e, rel);
	mqb_be32_put(e + 4, pos);
	return ix_push(ix);
}

int mqb_index_append_time(mqb_index_t *ix, int64_t ts, uint32_t rel)
{
	int rc = ix_reserve(ix, ix->n + 1);
	uint8_t *e;
	if (rc)
		return rc;
	e = ix->raw + ix->n * ix->esz;
	mqb_be64_put(e, (uint64_t)ts);
	mqb_be32_put(e + 8, rel);
	return ix_push(ix);
}

void mqb_index_offset_at(const mqb_index_t *ix, size_t i, uint32_t *rel, uint32_t *pos)
{
	const uint8_t *e = ix->raw + i * ix->esz;
	*rel = mqb_be32_get(e);
	*pos = mqb_be32_get(e + 4);
}

void mqb_index_time_at(const mqb_index_t *ix, size_t i, int64_t *ts, uint32_t *rel)
{
	const uint8_t *e = ix->raw + i * ix->esz;
	*ts = (int64_t)mqb_be64_get(e);
	*rel = mqb_be32_get(e + 8);
}

bool mqb_index_lookup_offset(const mqb_index_t *ix, uint32_t rel, uint32_t *erel,
			     uint32_t *epos)
{
	size_t lo = 0, hi = ix->n;   /* first entry with rel' >= rel */
	uint32_t r, pos;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		mqb_index_offset_at(ix, mid, &r, &pos);
		if (r < rel)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return false;
	mqb_index_offset_at(ix, lo - 1, erel, epos);
	return true;
}

bool mqb_index_lookup_pos(const mqb_index_t *ix, uint32_t maxpos, uint32_t *rel,
			  uint32_t *pos)
{
	size_t lo = 0, hi = ix->n;   /* first entry with pos' > maxpos */
	uint32_t r, p;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		mqb_index_offset_at(ix, mid, &r, &p);
		if (p <= maxpos)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return false;
	mqb_index_offset_at(ix, lo - 1, rel, pos);
	return true;
}

uint32_t mqb_index_lookup_time(const mqb_index_t *ix, int64_t ts)
{
	size_t lo = 0, hi = ix->n;   /* first entry with ts' >= ts */
	int64_t t;
	uint32_t rel;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		mqb_index_time_at(ix, mid, &t, &rel);
		if (t < ts)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return 0;
	mqb_index_time_at(ix, lo - 1, &t, &rel);
	return rel;
}
