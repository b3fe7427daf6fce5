/*
 * segment.h — one segment of a partition: <base>.log plus its .index and .timeindex.
 *
 * A segment is reference counted: the partition's list holds one reference, each
 * reader positioned in it holds another. The writer state (next_offset, max_ts, index
 * appends) is changed only under the partition's writer lock; `size` is published
 * with release order after the bytes are written, so readers read up to it lock-free.
 *
 * File descriptors (so a store with many segments stays far below RLIMIT_NOFILE):
 * only the active segment (the last of its partition) keeps its files open. When a
 * segment stops being the active one its .index/.timeindex fds are closed (the
 * entries stay in memory) and its .log fd handle (mqb_segfd_t, reference counted) is
 * dropped. Whoever still needs that fd holds its own reference to the handle: the
 * writer's dirty list until the fsync, and readers positioned in the segment. A
 * reader in a sealed segment opens the .log itself (mqb_segfd_open) and closes it
 * when it moves on. Retention unlinks the files; every open handle stays valid, so a
 * reader never sees a file vanish under it.
 */
#ifndef MQB_SEGMENT_H
#define MQB_SEGMENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bridge/store/batch.h"
#include "bridge/store/index.h"

/* A shared .log fd: closed when the last reference goes. */
typedef struct mqb_segfd {
	int fd;
	atomic_int refs;
} mqb_segfd_t;

/* Open path read-only into a new handle (one reference). On failure NULL and *err is
 * the mqb_err (MQB_ERR_NFILE at the fd limit, MQB_ERR_NOTFOUND if unlinked). */
mqb_segfd_t *mqb_segfd_open(const char *path, int *err);
mqb_segfd_t *mqb_segfd_ref(mqb_segfd_t *h);
void mqb_segfd_unref(mqb_segfd_t *h);         /* closes at zero; NULL-safe */

typedef struct mqb_segment {
	int64_t base;                 /* base offset (the file name) */
	char *log_path;               /* owned */
	mqb_segfd_t *fh;              /* .log while active (or during recovery), else NULL;
				       * changed under the partition's seglock */
	_Atomic int64_t size;         /* committed bytes: readers read below this */
	atomic_int refs;
	mqb_index_t oidx;             /* .index */
	mqb_index_t tidx;             /* .timeindex */
	/* A reader found an offset-index entry that does not name the batch at its
	 * position (mqb_partition__index_wrong): lookups in oidx are skipped from then on
	 * and readers walk this segment from position 0. Set once, never cleared. */
	atomic_bool oidx_untrusted;
	/* writer state (partition writer lock) */
	int64_t next_offset;          /* offset after the last batch */
	int64_t max_ts;               /* largest record timestamp, INT64_MIN when empty */
	int64_t first_ts;             /* first batch's max timestamp (for segment_ms) */
	int64_t bytes_since_index;
	int64_t tidx_last_ts;         /* timestamp of the last .timeindex entry */
	bool dirty;                   /* written since the last fsync (in the dirty list) */
	bool rdonly;
} mqb_segment_t;

/* "<dir>/<20-digit base><suffix>" into out. */
void mqb_segment_path(char *out, size_t out_size, const char *dir, int64_t base,
		      const char *suffix);

/* Open an existing segment or create an empty one (create: files truncated). On
 * success *out holds one reference and its three files are open. Indexes are opened,
 * not loaded. */
int mqb_segment_open(const char *dir, int64_t base, bool create, bool rdonly,
		     mqb_segment_t **out);

/* The segment stops being active: pending index entries are written and the index
 * fds closed (entries stay in memory for lookups); the .log handle is detached and
 * returned (the caller unrefs it after dropping its locks; NULL if already closed).
 * Partition seglock held (readers read s->fh under it). */
mqb_segfd_t *mqb_segment_close_files(mqb_segment_t *s);

/* rc described for a log line or errstr. For MQB_ERR_NFILE it names the process's
 * RLIMIT_NOFILE and what to do about it; otherwise mqb_strerror(rc). Returns buf. */
const char *mqb_segment_errdesc(int rc, char *buf, size_t buf_size);

mqb_segment_t *mqb_segment_ref(mqb_segment_t *s);
void mqb_segment_unref(mqb_segment_t *s);     /* closes and frees at zero; NULL-safe */
/* Unlink the three files (open handles stay valid for their holders). */
void mqb_segment_unlink(mqb_segment_t *s);

/* Write-path bookkeeping after a batch (hdr) was written at position pos: index entries
 * every index_interval bytes, a time entry when the largest timestamp grew. */
int mqb_segment_track_batch(mqb_segment_t *s, const mqb_batch_hdr_t *hdr, int64_t pos,
			    int64_t len, int32_t index_interval);
/* At roll/close: a last .timeindex entry for the largest timestamp, pending entries
 * written out. */
int mqb_segment_seal(mqb_segment_t *s);

/*
 * Validate the batches of fd from position start up to size: length, magic, CRC,
 * offsets contiguous starting at expect_offset. For each valid batch, cb (if set) gets
 * its position and header. Reads in large chunks. Returns MQB_OK when it reached
 * size exactly, MQB_ERR_CORRUPT when it stopped at an invalid batch (why says why),
 * MQB_ERR_IO/NOMEM otherwise. *end_pos is the end of the last valid batch and
 * *next_offset the offset after it.
 */
typedef int (mqb_scan_cb_t)(void *arg, int64_t pos, const mqb_batch_hdr_t *hdr);
int mqb_segment_scan(int fd, int64_t start, int64_t size, int64_t expect_offset,
		     mqb_scan_cb_t *cb, void *arg, int64_t *end_pos, int64_t *next_offset,
		     char *why, size_t why_size);

#endif
