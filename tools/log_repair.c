/*
 * log_repair.c — `mqbridge log repair DIR --stream S --partition P (--truncate |
 * --skip) [--dry-run]`: get a partition past its first corrupt batch, explicitly.
 *
 * It takes the data_dir lock (a read-write mqb_store_open with no stream opened), so
 * it refuses while mqbridged runs. Segments are validated from the first one as
 * recovery does (length, magic, CRC-32C, contiguous offsets). At the first bad batch:
 *  --truncate  the segment is cut there and every later segment deleted;
 *  --skip      the bad bytes (up to the next valid batch in the segment, else the end
 *              of the segment) are replaced by placeholder batches covering exactly
 *              the lost offsets: records with null key and value and the header
 *              mqbridge.lost = "corrupt", so offsets stay contiguous and readers
 *              continue. The segment is rewritten (temp + fsync + rename).
 * Either way the segment's indexes, the recovery checkpoint and the clean-shutdown
 * marker are removed, so the next open validates every batch and rebuilds indexes.
 * What is lost (offset range, count) is printed; --dry-run changes nothing.
 * See docs/CLI.md and docs/FORMAT.md ("Corruption").
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bridge/err.h"
#include "bridge/store/batch.h"
#include "bridge/store/store.h"
#include "tools/cli.h"
#include "tools/log_repair.h"

#define LOST_HEADER "mqbridge.lost"
#define PLACEHOLDER_MAX 10000        /* records per placeholder batch */

typedef struct seg {
	int64_t base;
	char path[4200];
} seg_t;

static int seg_cmp(const void *a, const void *b)
{
	int64_t x = ((const seg_t *)a)->base, y = ((const seg_t *)b)->base;
	return x < y ? -1 : x > y;
}

/* The .log segments of pdir, sorted by base. */
static seg_t *list_segments(const char *pdir, size_t *n)
{
	DIR *d = opendir(pdir);
	struct dirent *de;
	seg_t *v = NULL;
	size_t cap = 0;

	*n = 0;
	if (!d)
		return NULL;
	while ((de = readdir(d))) {
		const char *nm = de->d_name;
		seg_t *t;
		if (strlen(nm) != 24 || strcmp(nm + 20, ".log") != 0 ||
		    strspn(nm, "0123456789") != 20)
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 16;
			t = realloc(v, cap * sizeof(*v));
			if (!t)
				break;
			v = t;
		}
		v[*n].base = strtoll(nm, NULL, 10);
		snprintf(v[*n].path, sizeof(v[*n].path), "%s/%s", pdir, nm);
		(*n)++;
	}
	closedir(d);
	if (v)
		qsort(v, *n, sizeof(*v), seg_cmp);
	return v;
}

static uint8_t *load(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *buf = NULL;
	struct stat sb;

	if (!fp)
		return NULL;
	if (fstat(fileno(fp), &sb) == 0 && (buf = malloc((size_t)sb.st_size + 1)) &&
	    fread(buf, 1, (size_t)sb.st_size, fp) != (size_t)sb.st_size) {
		free(buf);
		buf = NULL;
	}
	*len = buf ? (size_t)sb.st_size : 0;
	fclose(fp);
	return buf;
}

/* Validate batches of buf from pos: returns true when they reach len exactly. *pos
 * and *next end after the last valid batch; *max_ts is its max timestamp. */
static bool scan(const uint8_t *buf, size_t len, size_t *pos, int64_t *next,
		 int64_t *max_ts, char *why, size_t why_size)
{
	while (*pos < len) {
		mqb_batch_hdr_t h;
		if (mqb_batch_header_parse(buf + *pos, len - *pos, &h, why, why_size))
			return false;
		if (h.base_offset != *next) {
			snprintf(why, why_size, "base offset %" PRId64 " where %" PRId64
				 " was expected", h.base_offset, *next);
			return false;
		}
		*pos += mqb_batch_total_size(&h);
		*next = mqb_batch_last_offset(&h) + 1;
		*max_ts = h.max_timestamp;
	}
	return true;
}

/* The first position after from where a valid batch with base offset > min_off
 * starts (CRC-32C makes a false match negligible), or -1. */
static int64_t resync(const uint8_t *buf, size_t len, size_t from, int64_t min_off,
		      mqb_batch_hdr_t *out)
{
	for (size_t p = from + 1; p + MQB_BATCH_HDR_SIZE <= len; p++) {
		if (buf[p + 16] != MQB_BATCH_MAGIC)
			continue;
		if (mqb_batch_header_parse(buf + p, len - p, out, NULL, 0) == MQB_OK &&
		    out->base_offset > min_off)
			return (int64_t)p;
	}
	return -1;
}

/* Append placeholder batches for offsets [first, last] to out. */
static int placeholders(mqb_buf_t *out, int64_t first, int64_t last, int64_t ts)
{
	static const mqb_rec_header_t hdr = { LOST_HEADER, sizeof(LOST_HEADER) - 1,
					      "corrupt", 7 };
	mqb_record_t *recs = calloc(PLACEHOLDER_MAX, sizeof(*recs));
	int rc = MQB_OK;

	if (!recs)
		return MQB_ERR_NOMEM;
	for (size_t i = 0; i < PLACEHOLDER_MAX; i++)
		recs[i] = (mqb_record_t){ .timestamp_ms = ts, .key_len = -1, .value_len = -1,
					  .headers = &hdr, .header_count = 1 };
	for (int64_t o = first; o <= last && rc == MQB_OK; o += PLACEHOLDER_MAX) {
		int64_t n = last - o + 1 < PLACEHOLDER_MAX ? last - o + 1 : PLACEHOLDER_MAX;
		rc = mqb_batch_encode(out, o, recs, (size_t)n);
	}
	free(recs);
	return rc;
}

static int write_file(const char *path, const uint8_t *a, size_t alen, const uint8_t *b,
		      size_t blen, const uint8_t *c, size_t clen)
{
	char tmp[4300];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.repair.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, MQB_STORE_FILE_MODE);
	if (fd < 0)
		return -1;
	if ((alen && write(fd, a, alen) != (ssize_t)alen) ||
	    (blen && write(fd, b, blen) != (ssize_t)blen) ||
	    (clen && write(fd, c, clen) != (ssize_t)clen) || fsync(fd) < 0) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	return rename(tmp, path);
}

/* Remove a segment's index files (rebuilt at the next open). */
static void drop_indexes(const char *log_path)
{
	char p[4300];
	size_t l = strlen(log_path) - 4;

	snprintf(p, sizeof(p), "%.*s.index", (int)l, log_path);
	unlink(p);
	snprintf(p, sizeof(p), "%.*s.timeindex", (int)l, log_path);
	unlink(p);
}

static void fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

int mqb_log_repair(const char *dir, const char *stream, int32_t partition, bool skip,
		   bool dry_run)
{
	char pdir[4096], err[512] = "", why[160] = "", path[4200];
	mqb_store_t *lock = NULL;
	seg_t *segs = NULL;
	size_t nsegs = 0, i, pos = 0, len = 0;
	uint8_t *buf = NULL;
	int64_t next = 0, max_ts = 0, lost_first, lost_last, resume_pos = -1;
	int status = MQB_CLI_FAIL;
	mqb_buf_t ph = { 0 };
	mqb_batch_hdr_t rh;

	/* the data_dir lock: refuses while mqbridged runs */
	lock = mqb_store_open(dir, 0, err, sizeof(err));
	if (!lock) {
		mqb_cli_error("%s: %s (stop mqbridged first)", dir, err);
		return MQB_CLI_FAIL;
	}
	snprintf(pdir, sizeof(pdir), "%s/%s-%d", dir, stream, partition);
	segs = list_segments(pdir, &nsegs);
	if (!segs || !nsegs) {
		mqb_cli_error("%s: no segments (%s)", pdir, errno ? strerror(errno) : "empty");
		goto out;
	}
	next = segs[0].base;
	for (i = 0; i < nsegs; i++) {
		free(buf);
		buf = load(segs[i].path, &len);
		if (!buf) {
			mqb_cli_error("%s: %s", segs[i].path, strerror(errno));
			goto out;
		}
		pos = 0;
		if (segs[i].base != next) {
			snprintf(why, sizeof(why), "segment starts at offset %" PRId64 " where %"
				 PRId64 " was expected", segs[i].base, next);
			break;
		}
		if (!scan(buf, len, &pos, &next, &max_ts, why, sizeof(why)))
			break;
	}
	if (i == nsegs) {
		printf("%s-%d: no corrupt batch (%zu segment(s), offsets %" PRId64 "..%" PRId64
		       "): nothing to repair\n", stream, partition, nsegs, segs[0].base, next - 1);
		status = MQB_CLI_OK;
		goto out;
	}
	printf("%s-%d: corrupt batch in %s at byte %zu: %s\n", stream, partition,
	       segs[i].path, pos, why);

	/* what the bad region covers: up to the next valid batch in this segment, else
	 * the end of the segment (next segment's base), else the end of the log */
	lost_first = next;
	if (pos < len && (resume_pos = resync(buf, len, pos, next - 1, &rh)) >= 0) {
		lost_last = rh.base_offset - 1;
	} else if (i + 1 < nsegs) {
		lost_last = segs[i + 1].base - 1;
	} else {
		lost_last = -1;   /* unknown: nothing valid follows in the last segment */
	}

	if (skip && pos == 0 && segs[i].base != lost_first) {
		mqb_cli_error("%s-%d: offsets %" PRId64 "..%" PRId64 " are missing between "
			      "segments: --skip cannot place them; use --truncate", stream,
			      partition, lost_first, segs[i].base - 1);
		goto out;
	}
	if (!skip) {
		/* --truncate: everything from the bad batch on */
		int64_t end = lost_last;
		if (i + 1 < nsegs) {           /* the last offset of the last segment */
			uint8_t *lb;
			size_t ll, lp = 0;
			int64_t ln = segs[nsegs - 1].base, lt;
			char w2[160];
			lb = load(segs[nsegs - 1].path, &ll);
			if (lb) {
				scan(lb, ll, &lp, &ln, &lt, w2, sizeof(w2));
				end = ln - 1;
			}
			free(lb);
		} else if (resume_pos >= 0) {
			size_t rp = (size_t)resume_pos;
			int64_t rn = rh.base_offset, rt;
			char w2[160];
			scan(buf, len, &rp, &rn, &rt, w2, sizeof(w2));
			end = rn - 1;
		}
		if (end >= lost_first)
			printf("%s-%d: --truncate %s offsets %" PRId64 "..%" PRId64 " (%" PRId64
			       " records): cut %s at byte %zu, %zu later segment(s) deleted\n",
			       stream, partition, dry_run ? "would lose" : "lost", lost_first,
			       end, end - lost_first + 1, segs[i].path, pos, nsegs - i - 1);
		else
			printf("%s-%d: --truncate %s the unreadable bytes from offset %" PRId64
			       " on (how many records they held cannot be known): cut %s at byte "
			       "%zu, %zu later segment(s) deleted\n", stream, partition,
			       dry_run ? "would lose" : "lost", lost_first, segs[i].path, pos,
			       nsegs - i - 1);
		if (dry_run) {
			status = MQB_CLI_OK;
			goto out;
		}
		for (size_t k = nsegs; k-- > i + 1;) {
			unlink(segs[k].path);
			drop_indexes(segs[k].path);
		}
		if (truncate(segs[i].path, (off_t)pos) < 0) {
			mqb_cli_error("%s: cannot truncate: %s", segs[i].path, strerror(errno));
			goto out;
		}
	} else {
		size_t tail = resume_pos >= 0 ? (size_t)resume_pos : len;
		if (lost_last < 0) {
			mqb_cli_error("%s-%d: nothing valid follows the bad batch in the last "
				      "segment, so the offsets it held cannot be known: use "
				      "--truncate", stream, partition);
			goto out;
		}
		if (lost_last >= lost_first)
			printf("%s-%d: --skip %s offsets %" PRId64 "..%" PRId64 " (%" PRId64
			       " records): bytes %zu..%zu of %s replaced by placeholder records "
			       "(null key and value, header %s=corrupt)\n", stream, partition,
			       dry_run ? "would lose" : "lost", lost_first, lost_last,
			       lost_last - lost_first + 1, pos, tail, segs[i].path, LOST_HEADER);
		else
			printf("%s-%d: --skip %s no record: bytes %zu..%zu of %s held no "
			       "offsets and are removed\n", stream, partition,
			       dry_run ? "would lose" : "lost", pos, tail, segs[i].path);
		if (dry_run) {
			status = MQB_CLI_OK;
			goto out;
		}
		if (lost_last >= lost_first &&
		    placeholders(&ph, lost_first, lost_last, max_ts) != MQB_OK) {
			mqb_cli_error("out of memory");
			goto out;
		}
		if (write_file(segs[i].path, buf, pos, ph.data, ph.len, buf + tail,
			       len - tail) < 0) {
			mqb_cli_error("%s: cannot rewrite: %s", segs[i].path, strerror(errno));
			goto out;
		}
	}
	drop_indexes(segs[i].path);
	snprintf(path, sizeof(path), "%s/recovery-point", pdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/.clean-shutdown", pdir);
	unlink(path);
	fsync_dir(pdir);
	printf("%s-%d: repaired; the next open validates every batch and rebuilds the "
	       "indexes (run `mqbridge log verify %s --stream %s` to check)\n", stream,
	       partition, dir, stream);
	status = MQB_CLI_OK;
out:
	mqb_buf_free(&ph);
	free(buf);
	free(segs);
	mqb_store_close(lock);
	return status;
}
