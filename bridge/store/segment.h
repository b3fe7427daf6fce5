/*
 * segment.h — one segment of a partition: <base>.log plus its .index and .timeindex.
 *
 * A segment is reference counted: the partition's list holds one reference, each
 * reader positioned in it holds another. Retention unlinks the files and drops the
 * list's reference; the fds stay open until the last reader lets go, so a reader
 * never sees a file vanish under it. The writer state (next_offset, max_ts, index
 * appends) is changed only under the partition's writer lock; `size` is published
 * with release order after the bytes are written, so readers read up to it lock-free.
 */
#ifndef MQB_SEGMENT_H
#define MQB_SEGMENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bridge/store/batch.h"
#include "bridge/store/index.h"

typedef struct mqb_segment {
	int64_t base;                 /* base offset (the file name) */
	char *log_path;               /* owned */
	int fd;                       /* .log */
	_Atomic int64_t size;         /* committed bytes: readers read below this */
	atomic_int refs;
	mqb_index_t oidx;             /* .index */
	mqb_index_t tidx;             /* .timeindex */
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
 * success *out holds one reference. Indexes are opened, not loaded. */
int mqb_segment_open(const char *dir, int64_t base, bool create, bool rdonly,
		     mqb_segment_t **out);

mqb_segment_t *mqb_segment_ref(mqb_segment_t *s);
void mqb_segment_unref(mqb_segment_t *s);     /* closes and frees at zero; NULL-safe */
/* Unlink the three files (the fds stay valid for the remaining references). */
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
