/*
 * store.h — the segment store: partitioned, ordered, durable logs on local disk.
 *
 * Layout (Kafka's): data_dir/<stream>-<partition>/<20-digit base offset>.log with
 * .index and .timeindex beside it; batches in .log are Kafka RecordBatch v2 (see
 * docs/FORMAT.md and batch.h). One mqb_partition_append() call = one batch.
 *
 * Threads: any number of threads may append to one partition (appends are serialised
 * by the partition's writer lock; in practice ingest is the one writer, plus the
 * groups' dead-letter writer) and any number of readers (mqb_reader_t, one per
 * thread) read concurrently up to the *stored* watermark. Watermarks are atomics:
 * reading them never waits on a writer.
 *
 * Ownership: the store owns every mqb_partition_t; they live until mqb_store_close().
 * Records passed to append are copied (encoded) before it returns. Batches handed out
 * by a reader point into the reader's buffer and are valid until the reader's next
 * call. Retention may delete a segment a reader is on: the reader keeps its open fd
 * (the file is unlinked, not truncated), and its next seek below log start gets
 * MQB_ERR_RANGE.
 *
 * File descriptors: a partition keeps its directory and its active segment's three
 * files open; older segments' files are closed (a reader in one opens its .log and
 * closes it when it moves on). At the open-file limit calls fail with MQB_ERR_NFILE
 * and a log line naming the limit; nothing is lost. See docs/FORMAT.md.
 */
#ifndef MQB_STORE_H
#define MQB_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct mqb_store mqb_store_t;
typedef struct mqb_partition mqb_partition_t;
typedef struct mqb_reader mqb_reader_t;

/* Per-stream settings (config keys under streams[]). -1 means "unlimited"/"off". */
typedef struct mqb_stream_opts {
	const char *name;            /* [A-Za-z0-9._-]{1,200}, not "." or ".." */
	int32_t partitions;          /* >= 1; cannot shrink an existing stream */
	int64_t segment_bytes;       /* roll when the active segment reaches this (64 MiB) */
	int64_t segment_ms;          /* roll when the active segment is this old (7 days) */
	int64_t retention_ms;        /* delete whole segments older than this (-1: keep) */
	int64_t retention_bytes;     /* per partition; delete oldest segments beyond (-1) */
	int64_t flush_interval_ms;   /* group commit: fsync at most this long after append (50) */
	int64_t flush_messages;      /* ... or after this many records (-1); 0/0: fsync each append */
	int32_t index_interval_bytes;/* one .index entry per this many bytes (4096) */
	int32_t max_batch_bytes;     /* refuse a batch larger than this (MQB_ERR_TOOBIG);
				      * 16 MiB, at most 1 GiB (-1: that limit) */
} mqb_stream_opts_t;

/* Fill o with the defaults above (name NULL, partitions 1). */
void mqb_stream_opts_defaults(mqb_stream_opts_t *o);

/* Returns true when name is a valid stream name (can never escape data_dir). */
bool mqb_stream_name_valid(const char *name);

/* --- the store ------------------------------------------------------------------ */

/*
 * Modes the store and the state files (statefile.h) create files and directories
 * with: owner read-write, group read, nothing for others (data_dir, <stream>-<p>,
 * segment .log/.index/.timeindex, recovery-point, .clean-shutdown, .lock, snapshot,
 * journal and temp files). They are the create modes passed to open(2)/mkdir(2), so
 * a umask can only narrow them (077 gives 0600/0700), never widen them: with the
 * common 022 the store is still not readable by others. Files and directories that
 * already exist keep their modes (see docs/FORMAT.md, "Permissions").
 */
#define MQB_STORE_FILE_MODE 0640
#define MQB_STORE_DIR_MODE  0750

enum {
	MQB_STORE_RDONLY    = 1 << 0,  /* no writes, no lock, no recovery changes (CLI) */
	MQB_STORE_FULL_SCAN = 1 << 1,  /* ignore the clean marker and checkpoints: validate
					* every batch at open (slow; tests, operators) */
};

/*
 * Open (creating if missing) data_dir. Read-write opens take an exclusive lock
 * (data_dir/.lock, flock) so two daemons never share a store: a second opener gets
 * NULL with errstr naming the holder's pid. Starts the flusher thread (group commit).
 */
mqb_store_t *mqb_store_open(const char *data_dir, int flags, char *errstr, size_t errstr_size);

/*
 * Open or create a stream's partitions, recovering each one (clean-shutdown marker
 * skips the scan; otherwise from the recovery checkpoint, see recovery.h). What
 * recovery cut is logged. In RDONLY stores the partition count is discovered from the
 * directories, and opts may be NULL: then every stream on disk is opened.
 * MQB_ERR_EXISTS if the stream is already open, MQB_ERR_CONFIG if opts->partitions is
 * below the count on disk, MQB_ERR_INVAL for a bad name or option.
 */
int mqb_store_stream_open(mqb_store_t *st, const mqb_stream_opts_t *opts,
			  char *errstr, size_t errstr_size);

/*
 * More partitions for an open stream (a configuration reload): partitions N..
 * opts->partitions-1 are created (or recovered, when their directories exist) and
 * from then on mqb_store_partition() and mqb_store_partition_count() see them; the
 * existing ones are untouched. The stream's other options stay those it was opened
 * with. MQB_OK (also when the count is the same), MQB_ERR_CONFIG for fewer partitions,
 * MQB_ERR_NOTFOUND when not open, MQB_ERR_INVAL in RDONLY, MQB_ERR_IO / NOMEM with
 * nothing changed. Any thread.
 */
int mqb_store_stream_grow(mqb_store_t *st, const mqb_stream_opts_t *opts, char *errstr,
			  size_t errstr_size);

/* Names of the streams opened (or discovered in RDONLY); NULL-terminated, owned by
 * the store, valid until mqb_store_close() (a stream opened later makes a new array;
 * the earlier ones stay valid). Any thread. */
const char *const *mqb_store_streams(mqb_store_t *st);
int32_t mqb_store_partition_count(mqb_store_t *st, const char *stream); /* -1: none */

/* The partition, or NULL. Borrowed: valid until mqb_store_close(). */
mqb_partition_t *mqb_store_partition(mqb_store_t *st, const char *stream, int32_t partition);

/* Apply retention and time-based roll to every partition (call every few seconds). */
void mqb_store_maintain(mqb_store_t *st);

/* fsync everything now (used at shutdown and by tests). */
int mqb_store_flush(mqb_store_t *st);

/* Store-wide counters (monotonic since open), e.g. to check the flusher sleeps when
 * idle. The flusher is deadline-driven: it sleeps until the earliest pending flush
 * (flush.interval_ms / flush.messages) or recovery checkpoint of any partition, and
 * an append to a clean partition wakes it; with nothing pending it does not wake
 * (at most once a minute). See docs/FORMAT.md, "Flushing". */
typedef struct mqb_store_stats {
	uint64_t flusher_wakeups;  /* returns from the flusher's sleep (deadline reached,
				    * woken by an append/roll/fsync, or spurious) */
	uint64_t flusher_passes;   /* its passes over every partition */
	uint64_t flusher_syncfs;   /* syncfs() calls made in place of per-partition fsyncs
				    * (MQB_SYNCFS_GROUP_MIN+ partitions to flush at once) */
	uint64_t flusher_syncfs_partitions;  /* partition flushes they made durable */
	uint64_t flusher_syncfs_fallbacks;   /* failed syncfs(): fsynced one by one */
} mqb_store_stats_t;
void mqb_store_stats(mqb_store_t *st, mqb_store_stats_t *out);

/* Clean stop: stop the flusher, fsync all, write checkpoints and the clean-shutdown
 * marker, release the lock, free everything. NULL-safe. */
void mqb_store_close(mqb_store_t *st);

/* --- records and appends --------------------------------------------------------- */

typedef struct mqb_rec_header {
	const char *key;  size_t key_len;     /* header keys are strings (not NUL-ended) */
	const void *value; ssize_t value_len; /* -1: null value */
} mqb_rec_header_t;

typedef struct mqb_record {
	int64_t offset;                       /* set by reads; ignored by append */
	int64_t timestamp_ms;                 /* CreateTime, ms since the epoch */
	const void *key;   ssize_t key_len;   /* -1: null key */
	const void *value; ssize_t value_len; /* -1: null value */
	const mqb_rec_header_t *headers;
	size_t header_count;
} mqb_record_t;

/*
 * Append n >= 1 records as one RecordBatch. On MQB_OK, *base_offset (if not NULL) is
 * the offset of recs[0]; the rest follow contiguously. The records are *stored*
 * (visible to readers) when this returns; *durable* once fsynced by the flush policy.
 * On error nothing is appended (a partial write is truncated away) and the log is
 * unchanged: MQB_ERR_NOSPC (disk full/quota: back off and retry), MQB_ERR_TOOBIG,
 * MQB_ERR_INVAL (bad record lengths), MQB_ERR_IO, MQB_ERR_CLOSED, MQB_ERR_STATE
 * (read-only store). One exception: with flush 0/0 the fsync runs inside append; if
 * it fails the batch is stored but not durable and MQB_ERR_IO is returned. After any
 * failed fsync the partition refuses appends (MQB_ERR_IO): the page cache can no
 * longer be trusted to reach the disk.
 */
int mqb_partition_append(mqb_partition_t *p, const mqb_record_t *recs, size_t n,
			 int64_t *base_offset);

typedef struct mqb_watermarks {
	int64_t log_start;   /* first offset still on disk */
	int64_t stored;      /* next offset to be written (= log end offset) */
	int64_t durable;     /* every offset below this is fsynced */
	int64_t size_bytes;  /* bytes of .log on disk */
	int32_t segments;    /* segment count */
} mqb_watermarks_t;

void mqb_partition_watermarks(mqb_partition_t *p, mqb_watermarks_t *out);
const char *mqb_partition_stream(const mqb_partition_t *p);
int32_t mqb_partition_id(const mqb_partition_t *p);

/* fsync now; the durable watermark reaches the stored one. */
int mqb_partition_flush(mqb_partition_t *p);

/*
 * Retention floor (added for the Kafka forwarder's kafka.block_on_backlog): while
 * floor >= 0, retention never deletes a segment holding an offset >= floor, so the
 * records a reader still owes stay on disk (the log grows past retention_bytes /
 * retention_ms until the floor moves; a full disk then back-pressures appends with
 * MQB_ERR_NOSPC). -1 removes it. Any thread; takes effect at the next maintain.
 */
void mqb_partition_set_retention_floor(mqb_partition_t *p, int64_t floor);

/* The first offset whose record timestamp >= ts_ms (Kafka ListOffsets semantics:
 * segments are found by their largest timestamp, then the .timeindex, then the
 * batches); the stored watermark when there is none. */
int64_t mqb_partition_offset_for_time(mqb_partition_t *p, int64_t ts_ms);

/* Counters for stats (monotonic since open). */
typedef struct mqb_partition_counters {
	uint64_t appends, records, bytes;     /* batches, records, encoded bytes appended */
	uint64_t fsyncs;                      /* fsync calls on this partition */
	uint64_t fsync_us_total;              /* time spent in them */
	uint64_t append_errors;
	uint64_t corrupt_batches;              /* distinct bad batches found (readers, scrub) */
	uint64_t index_rejected;               /* segments whose offset index a reader found
						* wrong (read from their start instead) */
} mqb_partition_counters_t;
void mqb_partition_counters(mqb_partition_t *p, mqb_partition_counters_t *out);

/* --- corruption (docs/FORMAT.md, "Corruption") ------------------------------------ */

/*
 * A batch that fails validation (length, magic, CRC-32C, offsets) when a reader or
 * the scrub reaches it puts its partition in the "corrupt" state: readers return
 * MQB_ERR_CORRUPT at that batch (they never skip it), one error line names the file
 * and byte (once per bad batch, not per retry), and this info is kept until the store
 * is closed (the operator repairs with `mqbridge log repair`, which needs the daemon
 * stopped) or retention deletes the segment. The state holds the bad batch with the
 * lowest offset; `batches` counts every distinct bad batch found since open.
 */
typedef struct mqb_corrupt_info {
	char file[512];          /* the .log path */
	int64_t byte_pos;        /* where the bad batch starts in it */
	int64_t first_offset;    /* the first offset readers cannot get past */
	int64_t last_offset;     /* upper bound of what the bad batch may cover: the last
				  * offset of its segment (what --truncate would drop) */
	int64_t first_seen_ms;   /* wall clock ms when first found */
	char why[160];           /* e.g. "CRC-32C mismatch (stored .., computed ..)" */
	char found_by[16];       /* "reader" or "scrub" */
	uint64_t batches;        /* distinct bad batches found in this partition */
} mqb_corrupt_info_t;

/* true and *out filled when p is in the corrupt state. Any thread. */
bool mqb_partition_corrupt_info(mqb_partition_t *p, mqb_corrupt_info_t *out);

/* The first partition (in stream order) in the corrupt state: true with *pp and *out,
 * false when none is. For a readiness check. Any thread. */
bool mqb_store_corrupt_first(mqb_store_t *st, mqb_partition_t **pp, mqb_corrupt_info_t *out);

/*
 * Background scrub: a store-owned thread ("mqb-scrub") that re-reads every sealed
 * segment (not the active one) once per interval_ms, validating each batch as
 * recovery does, at most max_bytes_per_s bytes read per second (it sleeps between
 * chunks), and reports a bad batch into the state above. interval_ms 0 disables it.
 * Call once after the streams are opened; takes effect at once (restarts the pass).
 * MQB_ERR_STATE in an RDONLY store, MQB_ERR_INVAL for a rate < 1 with interval > 0.
 */
int mqb_store_set_scrub(mqb_store_t *st, int64_t interval_ms, int64_t max_bytes_per_s);

typedef struct mqb_scrub_stats {
	uint64_t passes;         /* complete passes over every sealed segment */
	uint64_t segments;       /* segments checked */
	uint64_t bytes;          /* bytes read */
	uint64_t corrupt;        /* bad batches found by the scrub */
	uint64_t busy_us;        /* time spent in passes (reading + rate sleeps) */
} mqb_scrub_stats_t;
void mqb_store_scrub_stats(mqb_store_t *st, mqb_scrub_stats_t *out);

/* Optional: called after each successful fsync (from the flusher thread, or from the
 * appending thread under flush 0/0) once the durable watermark moved, e.g. for
 * latency measurement. Set before appends start. */
typedef void (mqb_fsync_cb_t)(mqb_partition_t *p, uint64_t fsync_us, void *arg);
void mqb_store_set_fsync_cb(mqb_store_t *st, mqb_fsync_cb_t *cb, void *arg);

/* --- readers ----------------------------------------------------------------------- */

/* A reader positioned at offset (clamped to nothing: MQB_ERR_RANGE later if below log
 * start). Owned by the caller; destroy with mqb_reader_destroy(). */
mqb_reader_t *mqb_reader_new(mqb_partition_t *p, int64_t offset);
void mqb_reader_destroy(mqb_reader_t *r);  /* NULL-safe */

/* Reposition. MQB_ERR_RANGE if offset < log start or > stored watermark. */
int mqb_reader_seek(mqb_reader_t *r, int64_t offset);

/*
 * The next whole RecordBatch at or containing the reader's offset, at most up to the
 * stored watermark: *batch and *len give its raw bytes (valid until the next call on
 * r). The batch may start before the reader's offset (the caller skips records below
 * it; mqb_batch_iter does). Returns MQB_OK, MQB_ERR_AGAIN at the stored watermark,
 * MQB_ERR_RANGE if the position fell below log start (retention), MQB_ERR_CORRUPT.
 */
int mqb_reader_next_batch(mqb_reader_t *r, const uint8_t **batch, size_t *len);

/* The offset the next call will deliver from. */
int64_t mqb_reader_position(const mqb_reader_t *r);

/*
 * Convenience: the next record at the reader's position (decodes batches internally).
 * rec's pointers (key, value, headers) are valid until the next call on r.
 * Same return codes as mqb_reader_next_batch. Use either this or next_batch on one
 * reader (after a seek, either again).
 */
int mqb_reader_next_record(mqb_reader_t *r, mqb_record_t *rec);

/* --- zero-copy ranges (range.c) -------------------------------------------------------- */

/*
 * A run of whole stored batches as bytes of a segment file, for sending them without
 * copying (sendfile). The range holds a reference on its segment and on the segment's
 * open .log descriptor: until mqb_range_release() neither a roll nor retention can
 * close fd (retention may unlink the file; an unlinked open file still reads the same
 * bytes). The bytes below the stored watermark never change, so they may be sent at
 * any later time. Ownership: the caller's, one release each; any thread.
 */
typedef struct mqb_range {
	int fd;                      /* the segment's .log, read-only; -1 when empty */
	int64_t pos, len;            /* bytes [pos, pos + len) of fd: whole batches */
	int64_t first_offset;        /* base offset of the first batch (it may start
				      * before the reader's position, as next_batch's) */
	int64_t next_offset;         /* the offset after the last batch */
	void *seg_, *fh_;            /* the held references (opaque) */
} mqb_range_t;

/*
 * The next whole batches at the reader's position as one range of one segment, up
 * to the stored watermark (the same boundary as next_batch): the batch holding the
 * position, then the following batches of that segment while the total stays
 * <= max_bytes. When the first batch alone is larger than max_bytes it is returned
 * alone if at_least_one (a Kafka Fetch's first batch, KIP-74), else MQB_ERR_TOOBIG
 * with the reader not moved. A range never crosses a segment end: call again for the
 * next segment. On MQB_OK the reader is positioned after the range.
 *
 * What is checked: every batch header walked (the first, and those near the end of
 * the range; the middle is found through the offset index) has a sane length, magic 2
 * and the expected base offset; the CRC is NOT computed (the bytes are not read).
 * Bytes the store wrote were CRC-checked in memory before the write, and recovery
 * re-validates everything past the last fsync checkpoint; bit rot on disk after that
 * is found by the scrub, `mqbridge log verify`, or a copying reader, which put the
 * partition in the corrupt state: a range stops before a known bad batch and
 * MQB_ERR_CORRUPT is returned at it. See docs/FORMAT.md, "Corruption".
 *
 * Returns MQB_OK (out->len > 0), MQB_ERR_AGAIN at the stored watermark, MQB_ERR_TOOBIG,
 * MQB_ERR_RANGE below log start (retention), MQB_ERR_CORRUPT, MQB_ERR_IO / NFILE /
 * NOMEM. On any error *out is empty (nothing to release, releasing is harmless).
 */
int mqb_reader_next_range(mqb_reader_t *r, int64_t max_bytes, bool at_least_one,
			  mqb_range_t *out);

/* Drop the range's references (the fd may close). NULL-safe; leaves *rg empty. */
void mqb_range_release(mqb_range_t *rg);

/* TEST ONLY: the next append's write to p fails with errnum (ENOSPC, EDQUOT, EIO)
 * after writing half the batch, as a full disk would. */
void mqb_store_test_fail_next_write(mqb_partition_t *p, int errnum);
/* TEST ONLY: the next fsync of p's data fails with errnum (as EIO from a dying disk). */
void mqb_store_test_fail_next_fsync(mqb_partition_t *p, int errnum);

#endif
