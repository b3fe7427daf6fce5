/* statefile.c — crash-safe snapshot files and CRC-framed journals (see statefile.h). */
#include "bridge/store/statefile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bridge/err.h"
#include "bridge/logging.h"
#include "bridge/store/store.h"   /* MQB_STORE_FILE_MODE */
#include "bridge/store/batch.h"   /* mqb_be32/64 helpers */
#include "bridge/store/crc32c.h"

#define SF_MAGIC        "MQBS"
#define SF_VERSION      1u
#define SF_HDR          20   /* magic 4, version 4, length 8, crc 4 */

#define JN_MAGIC        "MQBJ"
#define JN_VERSION      1u
#define JN_HDR          20   /* magic 4, version 4, epoch 8, crc 4 */
#define JN_FRAME        8    /* length 4, crc 4 */

#define MOD "statefile"

struct mqb_journal {
	char *path;
	char *snap_path;
	int fd;
	uint64_t size;             /* bytes in the file; the next frame goes here */
	uint64_t epoch;
	int broken;                /* compaction half done: appends refused until it succeeds */
	mqb_journal_opts_t opts;
	mqb_journal_recovery_t rec;
	uint8_t *buf;              /* frame buffer for appends / payload buffer for replay */
	size_t buf_size;
};

/* --- small helpers ---------------------------------------------------------------- */

static int write_all(int fd, const void *buf, size_t len, uint64_t pos)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)pos);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		pos += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads exactly len bytes at pos; returns bytes read (< len only at end of file), -1. */
static ssize_t read_full(int fd, void *buf, size_t len, uint64_t pos)
{
	uint8_t *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, p + got, len - got, (off_t)(pos + got));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static char *str_concat(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = malloc(la + lb + 1);

	if (!s)
		return NULL;
	memcpy(s, a, la);
	memcpy(s + la, b, lb + 1);
	return s;
}

/* fsync the directory holding path, so a rename or create in it is durable. */
static int fsync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	char dir[4096];
	int fd, rc = 0;

	if (!slash) {
		strcpy(dir, ".");
	} else if (slash == path) {
		strcpy(dir, "/");
	} else {
		size_t n = (size_t)(slash - path);
		if (n >= sizeof(dir)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fsync(fd) != 0)
		rc = -1;
	close(fd);
	return rc;
}

/*
 * Write hdr + body to path.tmp, fsync, rename over path, fsync the directory.
 * With keep_fd, *keep_fd gets the open (read-write) descriptor of the new file.
 */
static int replace_file(const char *path, const uint8_t *hdr, size_t hdr_len,
			const void *body, size_t body_len, int *keep_fd,
			char *errstr, size_t errstr_size)
{
	char *tmp = str_concat(path, ".tmp");
	int fd = -1, err = MQB_OK;
	const char *what = NULL;

	if (!tmp)
		return MQB_ERR_NOMEM;
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
		  MQB_STORE_FILE_MODE);
	if (fd < 0) {
		what = "create";
		goto error;
	}
	if (write_all(fd, hdr, hdr_len, 0) != 0 ||
	    (body_len && write_all(fd, body, body_len, hdr_len) != 0)) {
		what = "write";
		goto error;
	}
	if (fsync(fd) != 0) {
		what = "fsync";
		goto error;
	}
	if (rename(tmp, path) != 0) {
		what = "rename";
		goto error;
	}
	if (fsync_parent(path) != 0) {
		/* The rename happened; only its durability is in doubt. */
		what = "fsync directory of";
		goto error;
	}
	if (keep_fd)
		*keep_fd = fd;
	else
		close(fd);
	free(tmp);
	return MQB_OK;

error:
	err = mqb_err_from_errno(errno);
	if (err == MQB_ERR_INVAL || err == MQB_ERR_AGAIN || err == MQB_ERR_EXISTS)
		err = MQB_ERR_IO;
	mqb_errstr_set(errstr, errstr_size, "%s %s: %s", what, tmp, strerror(errno));
	if (fd >= 0)
		close(fd);
	if (strcmp(what, "fsync directory of") != 0)
		unlink(tmp);
	free(tmp);
	return err;
}

/* --- snapshot files ----------------------------------------------------------------- */

static uint32_t sf_crc(const uint8_t *hdr, const void *data, size_t len)
{
	uint32_t crc = mqb_crc32c(0, hdr + 4, 12);   /* version + length */
	return mqb_crc32c(crc, data, len);
}

int mqb_statefile_write(const char *path, const void *data, size_t len,
			char *errstr, size_t errstr_size)
{
	uint8_t hdr[SF_HDR];

	if (!path || (len && !data)) {
		mqb_errstr_set(errstr, errstr_size, "statefile write: bad arguments");
		return MQB_ERR_INVAL;
	}
	if (len > MQB_STATEFILE_MAX_BYTES) {
		mqb_errstr_set(errstr, errstr_size, "%s: %zu bytes is more than the %zu allowed",
			       path, len, MQB_STATEFILE_MAX_BYTES);
		return MQB_ERR_TOOBIG;
	}
	memcpy(hdr, SF_MAGIC, 4);
	mqb_be32_put(hdr + 4, SF_VERSION);
	mqb_be64_put(hdr + 8, len);
	mqb_be32_put(hdr + 16, sf_crc(hdr, data, len));
	return replace_file(path, hdr, sizeof(hdr), data, len, NULL, errstr, errstr_size);
}

int mqb_statefile_read(const char *path, void **data, size_t *len,
		       char *errstr, size_t errstr_size)
{
	uint8_t hdr[SF_HDR];
	uint8_t *buf = NULL;
	struct stat sb;
	uint64_t plen;
	uint32_t crc;
	ssize_t n;
	int fd = -1, err = MQB_OK;

	if (!path || !data || !len)
		return MQB_ERR_INVAL;
	*data = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = errno == ENOENT ? MQB_ERR_NOTFOUND : MQB_ERR_IO;
		mqb_errstr_set(errstr, errstr_size, "open %s: %s", path, strerror(errno));
		goto done;
	}
	if (fstat(fd, &sb) != 0) {
		err = MQB_ERR_IO;
		mqb_errstr_set(errstr, errstr_size, "stat %s: %s", path, strerror(errno));
		goto done;
	}
	n = read_full(fd, hdr, sizeof(hdr), 0);
	if (n < 0) {
		err = MQB_ERR_IO;
		mqb_errstr_set(errstr, errstr_size, "read %s: %s", path, strerror(errno));
		goto done;
	}
	if (n < SF_HDR) {
		err = MQB_ERR_CORRUPT;
		mqb_errstr_set(errstr, errstr_size,
			       "%s: truncated: %zd bytes, shorter than the %d-byte header",
			       path, n, SF_HDR);
		goto done;
	}
	if (memcmp(hdr, SF_MAGIC, 4) != 0) {
		err = MQB_ERR_CORRUPT;
		mqb_errstr_set(errstr, errstr_size, "%s: bad magic (not a state file)", path);
		goto done;
	}
	if (mqb_be32_get(hdr + 4) != SF_VERSION) {
		err = MQB_ERR_CORRUPT;
		mqb_errstr_set(errstr, errstr_size, "%s: unsupported version %u", path,
			       mqb_be32_get(hdr + 4));
		goto done;
	}
	plen = mqb_be64_get(hdr + 8);
	if (plen > MQB_STATEFILE_MAX_BYTES || (uint64_t)sb.st_size != SF_HDR + plen) {
		err = MQB_ERR_CORRUPT;
		mqb_errstr_set(errstr, errstr_size,
			       "%s: %s: header says %llu payload bytes, file has %lld",
			       path, (uint64_t)sb.st_size < SF_HDR + plen ? "truncated"
								     : "wrong length",
			       (unsigned long long)plen, (long long)sb.st_size - SF_HDR);
		goto done;
	}
	buf = malloc(plen + 1);
	if (!buf) {
		err = MQB_ERR_NOMEM;
		mqb_errstr_set(errstr, errstr_size, "%s: out of memory", path);
		goto done;
	}
	n = read_full(fd, buf, plen, SF_HDR);
	if (n < 0 || (uint64_t)n != plen) {
		err = n < 0 ? MQB_ERR_IO : MQB_ERR_CORRUPT;
		mqb_errstr_set(errstr, errstr_size, "read %s: %s", path,
			       n < 0 ? strerror(errno) : "file shrank while reading");
		goto done;
	}
	crc = sf_crc(hdr, buf, plen);
	if (crc != mqb_be32_get(hdr + 16)) {
		err = MQB_ERR_CORRUPT;
		mqb_errstr_set(errstr, errstr_size,
			       "%s: CRC mismatch (stored 0x%08x, computed 0x%08x)",
			       path, mqb_be32_get(hdr + 16), crc);
		goto done;
	}
	buf[plen] = '\0';
	*data = buf;
	*len = plen;
	buf = NULL;
done:
	free(buf);
	if (fd >= 0)
		close(fd);
	return err;
}

/* --- journals ------------------------------------------------------------------------ */

static void jn_header(uint8_t *hdr, uint64_t epoch)
{
	memcpy(hdr, JN_MAGIC, 4);
	mqb_be32_put(hdr + 4, JN_VERSION);
	mqb_be64_put(hdr + 8, epoch);
	mqb_be32_put(hdr + 16, mqb_crc32c(0, hdr, 16));
}

/* Atomically replace the journal file with an empty one of the given epoch. */
static int jn_reset(mqb_journal_t *j, uint64_t epoch, char *errstr, size_t errstr_size)
{
	uint8_t hdr[JN_HDR];
	int fd = -1, err;

	jn_header(hdr, epoch);
	err = replace_file(j->path, hdr, sizeof(hdr), NULL, 0, &fd, errstr, errstr_size);
	if (err != MQB_OK)
		return err;
	if (j->fd >= 0)
		close(j->fd);
	j->fd = fd;
	j->size = JN_HDR;
	j->epoch = epoch;
	return MQB_OK;
}

static int jn_buf_reserve(mqb_journal_t *j, size_t need)
{
	uint8_t *nb;
	size_t ns;

	if (need <= j->buf_size)
		return MQB_OK;
	ns = j->buf_size ? j->buf_size : 4096;
	while (ns < need)
		ns *= 2;
	nb = realloc(j->buf, ns);
	if (!nb)
		return MQB_ERR_NOMEM;
	j->buf = nb;
	j->buf_size = ns;
	return MQB_OK;
}

static uint32_t jn_frame_crc(const uint8_t *len_be, const void *rec, size_t len)
{
	return mqb_crc32c(mqb_crc32c(0, len_be, 4), rec, len);
}

/* Load path.snap: *epoch and (if present) replay it. 0 / error. */
static int jn_load_snapshot(mqb_journal_t *j, uint64_t *epoch, void **snap, size_t *snap_len,
			    char *errstr, size_t errstr_size)
{
	char msg[512];
	int err;

	*epoch = 0;
	err = mqb_statefile_read(j->snap_path, snap, snap_len, msg, sizeof(msg));
	if (err == MQB_ERR_NOTFOUND)
		return MQB_OK;
	if (err != MQB_OK) {
		mqb_errstr_set(errstr, errstr_size, "journal snapshot: %s", msg);
		return err;
	}
	if (*snap_len < 8) {
		mqb_errstr_set(errstr, errstr_size,
			       "journal snapshot %s: %zu bytes, too short for its epoch",
			       j->snap_path, *snap_len);
		free(*snap);
		*snap = NULL;
		return MQB_ERR_CORRUPT;
	}
	*epoch = mqb_be64_get(*snap);
	j->rec.had_snapshot = 1;
	return MQB_OK;
}

/*
 * Open the journal file and check its header against the snapshot epoch; resets it
 * when missing, torn (shorter than its header) or stale.
 */
static int jn_open_file(mqb_journal_t *j, uint64_t snap_epoch, char *errstr, size_t errstr_size)
{
	uint8_t hdr[JN_HDR];
	struct stat sb;
	uint64_t epoch;
	ssize_t n;

	j->fd = open(j->path, O_RDWR | O_CLOEXEC);
	if (j->fd < 0) {
		if (errno != ENOENT) {
			mqb_errstr_set(errstr, errstr_size, "open %s: %s", j->path, strerror(errno));
			return mqb_err_from_errno(errno) == MQB_ERR_PERM ? MQB_ERR_PERM : MQB_ERR_IO;
		}
		if (snap_epoch > 0)
			mqb_warn(MOD, "journal %s missing beside snapshot epoch %llu: starting an "
				 "empty one", j->path, (unsigned long long)snap_epoch);
		return jn_reset(j, snap_epoch, errstr, errstr_size);
	}
	if (fstat(j->fd, &sb) != 0) {
		mqb_errstr_set(errstr, errstr_size, "stat %s: %s", j->path, strerror(errno));
		return MQB_ERR_IO;
	}
	n = read_full(j->fd, hdr, sizeof(hdr), 0);
	if (n < 0) {
		mqb_errstr_set(errstr, errstr_size, "read %s: %s", j->path, strerror(errno));
		return MQB_ERR_IO;
	}
	if (n < JN_HDR) {
		/* Journals are created whole by rename, so this is outside damage; nothing
		 * after a torn header can be a record. */
		j->rec.cut_position = 0;
		j->rec.cut_bytes = (uint64_t)sb.st_size;
		j->rec.cut_reason = "torn journal header";
		mqb_warn(MOD, "journal %s: %lld bytes, shorter than its header: reset",
			 j->path, (long long)sb.st_size);
		return jn_reset(j, snap_epoch, errstr, errstr_size);
	}
	if (memcmp(hdr, JN_MAGIC, 4) != 0 || mqb_be32_get(hdr + 16) != mqb_crc32c(0, hdr, 16)) {
		mqb_errstr_set(errstr, errstr_size, "journal %s: corrupt header (bad %s)",
			       j->path, memcmp(hdr, JN_MAGIC, 4) ? "magic" : "CRC");
		return MQB_ERR_CORRUPT;
	}
	if (mqb_be32_get(hdr + 4) != JN_VERSION) {
		mqb_errstr_set(errstr, errstr_size, "journal %s: unsupported version %u",
			       j->path, mqb_be32_get(hdr + 4));
		return MQB_ERR_CORRUPT;
	}
	epoch = mqb_be64_get(hdr + 8);
	if (epoch > snap_epoch) {
		mqb_errstr_set(errstr, errstr_size,
			       "journal %s: epoch %llu is newer than its snapshot's (%llu): the "
			       "snapshot %s was lost or replaced", j->path,
			       (unsigned long long)epoch, (unsigned long long)snap_epoch,
			       j->snap_path);
		return MQB_ERR_CORRUPT;
	}
	if (epoch < snap_epoch) {
		/* Crash between writing the snapshot and restarting the journal: its
		 * records are already in the snapshot. */
		j->rec.stale_journal = 1;
		mqb_info(MOD, "journal %s: epoch %llu older than snapshot epoch %llu "
			 "(compaction was interrupted): its records are in the snapshot, reset",
			 j->path, (unsigned long long)epoch, (unsigned long long)snap_epoch);
		return jn_reset(j, snap_epoch, errstr, errstr_size);
	}
	j->epoch = epoch;
	j->size = (uint64_t)sb.st_size;
	return MQB_OK;
}

/* Replay records from after the header; cut at the first bad one. */
static int jn_replay_records(mqb_journal_t *j, char *errstr, size_t errstr_size)
{
	uint64_t pos = JN_HDR, end = j->size;
	const char *reason = NULL;
	uint8_t fr[JN_FRAME];
	int err;

	while (pos < end) {
		uint32_t len;
		ssize_t n;

		if (end - pos < JN_FRAME) {
			reason = "torn record frame";
			break;
		}
		n = read_full(j->fd, fr, JN_FRAME, pos);
		if (n != JN_FRAME) {
			mqb_errstr_set(errstr, errstr_size, "read %s: %s", j->path,
				       n < 0 ? strerror(errno) : "short read");
			return MQB_ERR_IO;
		}
		len = mqb_be32_get(fr);
		if (len == 0 || len > MQB_JOURNAL_MAX_RECORD) {
			reason = "bad record length";
			break;
		}
		if (end - pos - JN_FRAME < len) {
			reason = "torn record (file ends inside it)";
			break;
		}
		err = jn_buf_reserve(j, len);
		if (err != MQB_OK) {
			mqb_errstr_set(errstr, errstr_size, "journal %s: out of memory", j->path);
			return err;
		}
		n = read_full(j->fd, j->buf, len, pos + JN_FRAME);
		if (n != (ssize_t)len) {
			mqb_errstr_set(errstr, errstr_size, "read %s: %s", j->path,
				       n < 0 ? strerror(errno) : "short read");
			return MQB_ERR_IO;
		}
		if (jn_frame_crc(fr, j->buf, len) != mqb_be32_get(fr + 4)) {
			reason = "record CRC mismatch";
			break;
		}
		err = j->opts.replay(j->opts.arg, MQB_JOURNAL_RECORD, j->buf, len);
		if (err != MQB_OK) {
			mqb_errstr_set(errstr, errstr_size,
				       "journal %s: replay callback failed at byte %llu: %s",
				       j->path, (unsigned long long)pos, mqb_strerror(err));
			return err;
		}
		j->rec.records++;
		pos += JN_FRAME + len;
	}
	if (reason) {
		j->rec.cut_position = pos;
		j->rec.cut_bytes = end - pos;
		j->rec.cut_reason = reason;
		mqb_warn(MOD, "journal %s: %s at byte %llu: cut %llu bytes (kept %llu records)",
			 j->path, reason, (unsigned long long)pos,
			 (unsigned long long)(end - pos), (unsigned long long)j->rec.records);
		if (ftruncate(j->fd, (off_t)pos) != 0 || fsync(j->fd) != 0) {
			mqb_errstr_set(errstr, errstr_size, "truncate %s to %llu: %s", j->path,
				       (unsigned long long)pos, strerror(errno));
			return MQB_ERR_IO;
		}
		j->size = pos;
	}
	return MQB_OK;
}

mqb_journal_t *mqb_journal_open(const char *path, const mqb_journal_opts_t *opts,
				char *errstr, size_t errstr_size)
{
	mqb_journal_t *j = NULL;
	void *snap = NULL;
	size_t snap_len = 0;
	uint64_t snap_epoch = 0;
	int err;

	if (!path || !*path || !opts || !opts->replay) {
		mqb_errstr_set(errstr, errstr_size, "journal open: path and replay callback are required");
		return NULL;
	}
	j = calloc(1, sizeof(*j));
	if (j) {
		j->fd = -1;
		j->opts = *opts;
		if (!j->opts.compact_bytes)
			j->opts.compact_bytes = (size_t)1 << 20;
		j->path = strdup(path);
		j->snap_path = str_concat(path, ".snap");
	}
	if (!j || !j->path || !j->snap_path) {
		mqb_errstr_set(errstr, errstr_size, "journal open %s: out of memory", path);
		goto error;
	}

	err = jn_load_snapshot(j, &snap_epoch, &snap, &snap_len, errstr, errstr_size);
	if (err != MQB_OK)
		goto error;
	err = jn_open_file(j, snap_epoch, errstr, errstr_size);
	if (err != MQB_OK)
		goto error;
	if (snap) {
		err = opts->replay(opts->arg, MQB_JOURNAL_SNAPSHOT, (uint8_t *)snap + 8,
				   snap_len - 8);
		if (err != MQB_OK) {
			mqb_errstr_set(errstr, errstr_size,
				       "journal %s: replay callback failed on the snapshot: %s",
				       path, mqb_strerror(err));
			goto error;
		}
	}
	err = jn_replay_records(j, errstr, errstr_size);
	if (err != MQB_OK)
		goto error;
	j->rec.epoch = j->epoch;
	free(snap);
	return j;

error:
	free(snap);
	mqb_journal_close(j);
	return NULL;
}

static void jn_auto_compact(mqb_journal_t *j)
{
	void *data = NULL;
	size_t len = 0;
	int err;

	err = mqb_journal_sync(j);
	if (err == MQB_OK)
		err = j->opts.snapshot(j->opts.arg, &data, &len);
	if (err == MQB_OK)
		err = mqb_journal_compact(j, data, len);
	free(data);
	if (err != MQB_OK)
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, MOD, 10000,
				    "journal %s: auto-compaction failed: %s (will retry)",
				    j->path, mqb_strerror(err));
}

int mqb_journal_append(mqb_journal_t *j, const void *rec, size_t len)
{
	int err;

	if (!j || !rec || len == 0)
		return MQB_ERR_INVAL;
	if (len > MQB_JOURNAL_MAX_RECORD)
		return MQB_ERR_TOOBIG;
	if (j->broken)
		return MQB_ERR_STATE;
	err = jn_buf_reserve(j, JN_FRAME + len);
	if (err != MQB_OK)
		return err;
	mqb_be32_put(j->buf, (uint32_t)len);
	memcpy(j->buf + JN_FRAME, rec, len);
	mqb_be32_put(j->buf + 4, jn_frame_crc(j->buf, rec, len));
	if (write_all(j->fd, j->buf, JN_FRAME + len, j->size) != 0) {
		int saved = errno;
		err = mqb_err_from_errno(saved);
		if (err != MQB_ERR_NOSPC && err != MQB_ERR_NOMEM)
			err = MQB_ERR_IO;
		/* Leave no partial frame behind. */
		if (ftruncate(j->fd, (off_t)j->size) != 0)
			mqb_error(MOD, "journal %s: cannot remove a partial record: %s",
				  j->path, strerror(errno));
		mqb_warn(MOD, "journal %s: append failed: %s", j->path, strerror(saved));
		return err;
	}
	j->size += JN_FRAME + len;
	if (j->opts.snapshot && j->size > j->opts.compact_bytes)
		jn_auto_compact(j);
	return MQB_OK;
}

int mqb_journal_sync(mqb_journal_t *j)
{
	if (!j)
		return MQB_ERR_INVAL;
	if (fdatasync(j->fd) != 0) {
		mqb_error(MOD, "journal %s: fsync failed: %s", j->path, strerror(errno));
		return MQB_ERR_IO;
	}
	return MQB_OK;
}

int mqb_journal_compact(mqb_journal_t *j, const void *data, size_t len)
{
	char msg[512];
	uint8_t *snap;
	uint64_t epoch;
	int err;

	if (!j || (len && !data))
		return MQB_ERR_INVAL;
	if (len > MQB_STATEFILE_MAX_BYTES - 8)
		return MQB_ERR_TOOBIG;
	epoch = j->epoch + 1;
	snap = malloc(len + 8);
	if (!snap)
		return MQB_ERR_NOMEM;
	mqb_be64_put(snap, epoch);
	if (len)
		memcpy(snap + 8, data, len);
	err = mqb_statefile_write(j->snap_path, snap, len + 8, msg, sizeof(msg));
	free(snap);
	if (err != MQB_OK) {
		/* The old snapshot and journal are intact. */
		mqb_warn(MOD, "journal %s: compaction: %s", j->path, msg);
		return err;
	}
	err = jn_reset(j, epoch, msg, sizeof(msg));
	if (err != MQB_OK) {
		/* The snapshot of epoch+1 is on disk; records appended to the old journal now
		 * would be dropped as stale at the next open, so refuse them until a
		 * compaction succeeds. */
		j->broken = 1;   /* j->epoch unchanged: a retry rewrites the same epoch */
		mqb_error(MOD, "journal %s: compaction: %s (appends refused until it succeeds)",
			  j->path, msg);
		return err;
	}
	j->broken = 0;
	return MQB_OK;
}

uint64_t mqb_journal_bytes(const mqb_journal_t *j)
{
	return j ? j->size : 0;
}

const mqb_journal_recovery_t *mqb_journal_recovery(const mqb_journal_t *j)
{
	return j ? &j->rec : NULL;
}

void mqb_journal_close(mqb_journal_t *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	free(j->buf);
	free(j->path);
	free(j->snap_path);
	free(j);
}
