/*
 * store_int.h — the store's private structures, shared by partition.c, reader.c,
 * recovery.c and store.c. Not for use outside bridge/store/.
 *
 * Locks of a partition, always taken in this order: wlock (the writer: appends, roll,
 * retention, flush snapshot) -> flushlock (serialises fsyncs so the durable watermark
 * only moves over fsynced bytes) -> seglock (the segment list and index arrays; held
 * only for a few instructions, readers take it to find a segment).
 */
#ifndef MQB_STORE_INT_H
#define MQB_STORE_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bridge/store/append_watch.h"
#include "bridge/store/batch.h"
#include "bridge/store/recovery.h"
#include "bridge/store/segment.h"
#include "bridge/store/store.h"

#define MQB_CKPT_FILE        "recovery-point"
#define MQB_CKPT_TMP         "recovery-point.tmp"
#define MQB_CLEAN_MARKER     ".clean-shutdown"
#define MQB_CKPT_INTERVAL_MS 1000
/* Recovery checkpoints of the whole store, on average at most this many a second: a
 * partition's comes MQB_CKPT_INTERVAL_MS after its last one, or partitions / this
 * many seconds after it when that is longer (8 s at 1024 partitions). Each one is an
 * open, a write and a close, and a page and an inode for the next flush to write back;
 * 1024 a second were a fifth of the store's CPU at 1024 partitions and 10,000
 * records/s (issue 15). Recovery after a crash scans from it: at most that many
 * seconds of a partition's records. */
#define MQB_CKPT_PER_S       128

/* Sealed segments written but not yet fsynced keep their .log fd (in the dirty list)
 * until the fsync. When this many pile up (tiny segments, or a policy that rarely
 * fsyncs), a roll asks the flusher to fsync now (Kafka flushes a segment when it
 * rolls, too); at 2x this many the roll fsyncs them itself. This bounds the fds a
 * partition holds. */
#ifndef MQB_SEALED_DIRTY_MAX
#define MQB_SEALED_DIRTY_MAX 32
#endif

/* A recovery checkpoint: everything below offset is fsynced; it ends at byte pos of
 * segment seg_base. */
typedef struct mqb_ckpt {
	int64_t offset, seg_base, pos;
} mqb_ckpt_t;

/* A segment written since the last fsync, with a reference to the .log fd to fsync
 * (the segment itself may have stopped being active and closed its files). */
typedef struct mqb_dirty {
	mqb_segment_t *seg;
	mqb_segfd_t *fh;
} mqb_dirty_t;

/* append_watch.c: the store's table of append watches. */
typedef struct mqb_append_watchers {
	pthread_mutex_t mu;            /* used (slot allocation) */
	uint32_t used;
	_Atomic int efd[MQB_APPEND_WATCH_MAX];   /* -1 until first used; closed at fini */
	_Atomic uint32_t all_mask;     /* bits armed for every partition */
} mqb_append_watchers_t;
void mqb_append_watchers__init(mqb_append_watchers_t *t);
void mqb_append_watchers__fini(mqb_append_watchers_t *t);
/* After an append moved a partition's stored watermark (seq_cst store): fire and
 * disarm the watches in *pmask (the partition's watch_mask) and all_mask. Lock-free. */
void mqb_append_watchers__appended(mqb_append_watchers_t *t, _Atomic uint32_t *pmask);
mqb_append_watchers_t *mqb_store__watchers(mqb_store_t *st);   /* store.c */

struct mqb_partition {
	mqb_store_t *st;
	char *stream;                  /* owned */
	int32_t id;
	char *dir;                     /* owned: data_dir/<stream>-<id> */
	int dirfd;
	dev_t dev;                     /* file system of dir, when dev_known (flusher) */
	bool dev_known;
	mqb_stream_opts_t opts;        /* opts.name == stream */
	bool rdonly;

	pthread_mutex_t wlock, flushlock, seglock;

	/* segment list: changed under wlock + seglock, read under seglock */
	mqb_segment_t **segs;
	size_t nsegs, segcap;
	mqb_segment_t *active;         /* == segs[nsegs - 1] */

	/* writer state (wlock) */
	mqb_buf_t enc;
	mqb_dirty_t *dirty;            /* referenced segments written since last fsync */
	size_t ndirty, dirtycap;
	bool dir_dirty;                /* a segment file was created: fsync the dir */
	bool open_sync_due;            /* recovery removed the clean marker: fsync the dir */
	size_t sealed_dirty;           /* dirty entries of segments no longer active */
	atomic_int flush_now;          /* a roll asks the flusher for an fsync */
	bool closed;
	atomic_int io_failed;          /* an fsync failed: refuse appends (MQB_ERR_IO) */
	int test_fail_errno;
	atomic_int test_fail_fsync;    /* test hook: errno for the next fsync */

	/* flush bookkeeping (read by the flusher without wlock) */
	_Atomic int64_t unflushed;     /* records appended since the last flush snapshot */
	_Atomic int64_t first_unflushed_ms; /* monotonic ms of the first of them, 0: none */

	/* watermarks */
	_Atomic int64_t log_start, stored, durable, size_bytes;
	_Atomic uint32_t watch_mask;   /* append watches armed on this partition */
	atomic_int nsegs_pub;

	/* counters */
	_Atomic uint64_t c_appends, c_records, c_bytes, c_fsyncs, c_fsync_us, c_errors;

	/* retention floor (mqb_partition_set_retention_floor): -1 none */
	_Atomic int64_t retention_floor;
	bool retention_held;           /* wlock: "held by the floor" logged */

	/* checkpoint (flushlock) */
	mqb_ckpt_t ckpt_next;          /* state after the last successful fsync */
	mqb_ckpt_t ckpt_disk;          /* what the checkpoint file holds (flusher thread,
					* then close), when ckpt_disk_known */
	bool ckpt_disk_known;
	bool ckpt_pending;
	int64_t ckpt_last_ms;

	mqb_recovery_report_t report;

	/* corruption state (corrupt.c): corrupt_mu is a leaf lock */
	pthread_mutex_t corrupt_mu;
	bool corrupt_set;
	mqb_corrupt_info_t corrupt;
	struct { int64_t seg_base, pos; } corrupt_seen[16];  /* dedup of reports */
	size_t corrupt_nseen;
	_Atomic uint64_t c_corrupt;
	_Atomic uint64_t c_index_rejected;   /* segments whose .index a reader rejected */
};

/* store.c */
mqb_fsync_cb_t *mqb_store__fsync_cb(mqb_store_t *st, void **arg);
/* Wake the flusher to recompute its deadlines (a partition got one while it may be
 * asleep). Any thread, any partition lock held; a no-op on the flusher thread itself,
 * which recomputes after every pass anyway. */
void mqb_store__wake_flusher(mqb_store_t *st);
/* A partition has a new deadline at monotonic ms `when` (0: now). The flusher is
 * woken only when `when` is earlier than the moment it already plans to wake up (or
 * the pass it is running would miss it): at 1024 partitions every first append to a
 * clean partition used to wake it for a pass over all of them, back to back under
 * load (issue 15). Any thread, any partition lock held. */
void mqb_store__flusher_deadline(mqb_store_t *st, int64_t when);
/* The checkpoint interval for the store's current partition count (ms, see
 * MQB_CKPT_PER_S). Any thread. */
int64_t mqb_store__ckpt_interval_ms(mqb_store_t *st);

/* partition.c */
mqb_partition_t *mqb_partition__new(mqb_store_t *st, const char *data_dir,
				    const mqb_stream_opts_t *opts, int32_t id, bool rdonly,
				    char *errstr, size_t errstr_size);
void mqb_partition__close(mqb_partition_t *p, bool clean);  /* NULL-safe; frees */
/* Close (and free) parts[0..n-1] (NULL entries skipped) as mqb_partition__close does,
 * with the same guarantee (log data, then checkpoint, durable before the clean marker,
 * which is durable on return), but with one syncfs() per file system for all the
 * checkpoints and one for all the markers instead of three fsyncs per partition
 * (1024 partitions took 9.8 s to stop, issue 15). */
void mqb_partition__close_all(mqb_partition_t **parts, size_t n, bool clean);
/* Append a created/loaded segment to the list (wlock or not yet shared); it becomes
 * the active one and the previous active segment closes its files. */
int  mqb_partition__push_segment(mqb_partition_t *p, mqb_segment_t *s);
/* The flusher's work on p at now_ms (monotonic): fsync when the policy says so,
 * checkpoint when due. Returns the monotonic ms of p's next deadline (the pending
 * flush by flush.interval_ms, an fsync asked for by flush.messages or a roll: 0, the
 * pending checkpoint), INT64_MAX when it has none. Whatever creates a deadline while
 * the flusher sleeps calls mqb_store__flusher_deadline(). */
/* grouped: this pass flushes data with grouped syncfs calls (store.c flush_grouped):
 * the tick leaves data flushes to the next pass and writes the checkpoint without its
 * own fdatasync (the next syncfs, or the close, makes it durable). */
int64_t mqb_partition__flusher_tick(mqb_partition_t *p, int64_t now_ms, bool grouped);
/* 1 when the running kernel's syncfs() reports writeback errors (>= 5.8). */
int mqb_store__syncfs_reports_errors(void);
/* The flusher's look before its pass: 1 when p's data flush is due at now_ms, 0 when
 * p holds unsynced records not due yet, -1 when it has none (or is read-only). */
int mqb_partition__flush_state(mqb_partition_t *p, int64_t now_ms);

/* From this many partitions with unsynced data on one file system, one flusher pass
 * makes them durable with one syncfs(2) instead of one fdatasync each (docs/FORMAT.md,
 * "Flushing"; bench/README.md, bench_ingest --partitions). */
#define MQB_SYNCFS_GROUP_MIN 8

/* One flush of a partition, in steps (partition.c), for the grouped flush
 * (group_flush.c): begin (wlock, then flushlock: what the fsync must cover, captured
 * before it starts), then either sync (its own fdatasyncs, as mqb_partition_flush) or
 * synced (the caller made everything written before it durable: syncfs), then end. */
typedef struct mqb_flush_snap {
	int64_t target;
	mqb_dirty_t *segs;
	size_t n;
	bool dir;
	mqb_ckpt_t ck;
} mqb_flush_snap_t;
bool mqb_partition__snap_begin(mqb_partition_t *p, mqb_flush_snap_t *s);  /* false: clean */
int  mqb_partition__snap_sync(mqb_partition_t *p, mqb_flush_snap_t *s);
int  mqb_partition__snap_synced(mqb_partition_t *p, mqb_flush_snap_t *s);
void mqb_partition__snap_end(mqb_partition_t *p);

/* What mqb_partition__flush_group did. */
typedef struct mqb_group_flush {
	uint64_t syncfs;       /* syncfs() calls that succeeded */
	uint64_t partitions;   /* partitions made durable by them */
	uint64_t fallbacks;    /* syncfs() failures: those partitions fsynced one by one */
} mqb_group_flush_t;
/* Flush the n partitions (flusher thread): those sharing a file system with at least
 * MQB_SYNCFS_GROUP_MIN - 1 others with one syncfs() per file system, the rest (and all
 * of them on kernels before 5.8, whose syncfs() does not report writeback errors) one
 * by one as mqb_partition_flush(). Adds to *out. */
void mqb_partition__flush_group(mqb_partition_t **parts, size_t n, mqb_group_flush_t *out);
void mqb_partition__maintain(mqb_partition_t *p, int64_t now_wall_ms);

/* corrupt.c: a reader or the scrub found a bad batch at byte pos of seg whose first
 * offset is (at least) first_offset. Logs once per (segment, pos), counts it and sets
 * the partition's corrupt state. Takes seglock briefly: call with no partition lock. */
void mqb_partition__report_corrupt(mqb_partition_t *p, const mqb_segment_t *seg,
				   int64_t pos, int64_t first_offset, const char *why,
				   const char *found_by);
/* retention moved log start: forget a corruption whose segment is gone. */
void mqb_partition__corrupt_forget_below(mqb_partition_t *p, int64_t log_start);

/* scrub.c */
typedef struct mqb_scrub mqb_scrub_t;
mqb_scrub_t *mqb_scrub__new(mqb_store_t *st);          /* thread starts at configure */
int  mqb_scrub__configure(mqb_scrub_t *sc, int64_t interval_ms, int64_t max_bytes_per_s);
void mqb_scrub__stats(mqb_scrub_t *sc, mqb_scrub_stats_t *out);
void mqb_scrub__stop(mqb_scrub_t *sc);   /* NULL-safe: joins and frees */

/* store.c: every partition, copied (free() the array); partitions live until close. */
mqb_partition_t **mqb_store__partitions(mqb_store_t *st, size_t *n);

/* recovery.c */
/* Make what recovery changed without an fsync (the clean marker's removal) durable.
 * wlock held (or p not shared yet). The clean marker says "nothing was appended after
 * this stop", so its removal must be durable before the first append writes a byte:
 * mqb_partition_append calls this when open_sync_due is still set. */
int  mqb_partition__sync_open(mqb_partition_t *p);
/* The same for the due ones of n partitions of one file system (takes each wlock):
 * two or more with one syncfs() instead of a directory fsync each. The flusher does
 * it right after a stream opens, so the start-up does not wait for it (READY came
 * 49-130 ms later at 12 partitions under load, issue 15) and appends rarely do. */
int  mqb_partition__sync_open_all(mqb_partition_t **parts, int32_t n);
int  mqb_partition__recover(mqb_partition_t *p, bool full_scan, char *errstr,
			    size_t errstr_size);
int  mqb_ckpt_write(mqb_partition_t *p, const mqb_ckpt_t *c);
/* sync false: written but not fsynced (a clean stop of many partitions syncs the file
 * system once instead, mqb_partition__close_all). */
int  mqb_ckpt_write_opt(mqb_partition_t *p, const mqb_ckpt_t *c, bool sync);
int  mqb_ckpt_read(const char *dir, mqb_ckpt_t *c);

/* reader.c: the segment holding offset (+1 reference) and where to start in it:
 * *pos 0 (walk from the start), or the position of the batch the offset index says
 * ends at offset *pos_last < offset (NOT checked: the caller checks that header before
 * skipping it, mqb_reader__locate). *fh gets a reference to its open .log handle, or
 * NULL when the segment's files are closed (sealed): the caller opens it
 * (mqb_segfd_open). */
mqb_segment_t *mqb_partition__find(mqb_partition_t *p, int64_t offset, int64_t *pos,
				   int64_t *pos_last, mqb_segfd_t **fh);
/* reader.c: an offset-index entry of s (at byte pos, naming last offset last) is
 * wrong (why): the first time, s->oidx_untrusted is set, the partition's counter
 * c_index_rejected grows, a warning names the segment, and (writable stores) the
 * .index file is emptied so that the next open rebuilds it (recovery.c: a sealed
 * segment with data but no entries). Any thread, no lock held. */
void mqb_partition__index_wrong(mqb_partition_t *p, mqb_segment_t *s, int64_t pos,
				int64_t last, const char *why);

/* reader.c: a reader's state (range.c walks it too). */
struct mqb_reader {
	mqb_partition_t *p;
	int64_t pos;              /* next offset next_batch delivers from */
	mqb_segment_t *seg;       /* referenced, or NULL: locate pos first */
	mqb_segfd_t *fh;          /* seg's .log: shared with the writer while seg is
				   * active, else opened by this reader; NULL with seg */
	int64_t fpos;             /* byte position of the next batch in seg */
	int64_t next_off;         /* offset after the last valid batch read in seg (or
				   * after the checked index entry the reader entered at),
				   * -1 when unknown */
	uint8_t *buf;             /* read-ahead of seg bytes [buf_fpos, buf_fpos+buf_len) */
	size_t cap, buf_len;
	int64_t buf_fpos;
	mqb_batch_iter_t it;      /* next_record's current batch */
	bool it_valid;
	int64_t rec_pos;          /* next offset next_record delivers */
	uint8_t *hwin;            /* range.c: a small window of seg bytes [hwin_pos,
				   * hwin_pos+hwin_len) for walking batch headers */
	size_t hwin_len;
	int64_t hwin_pos;
};

/* reader.c: position r on the segment holding r->pos (dropping the current one),
 * opening a sealed segment's .log. MQB_ERR_RANGE when retention deleted it. */
int mqb_reader__locate(mqb_reader_t *r);

#endif
