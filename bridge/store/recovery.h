/*
 * recovery.h — bringing a partition back after a stop, and checking one without
 * touching it.
 *
 * Opening a partition (mqb_store_stream_open) recovers it:
 *  - a clean-shutdown marker (written by mqb_store_close, removed at open) means the
 *    files are complete: indexes are loaded and checked cheaply (sizes, order, the
 *    first, the last and a sample of at most MQB_INDEX_SAMPLE entries against the
 *    batches they name; readers check every other entry when they use it), the tail
 *    batches are walked;
 *  - otherwise segments wholly below the recovery checkpoint (recovery-point, written
 *    by the flusher at most once a second after an fsync: temp + fsync + rename) are
 *    treated the same way, and everything from the checkpoint on is scanned: every
 *    batch's length, magic, CRC-32C and offsets (contiguous, the first one equal to
 *    the segment's base) are checked, indexes are rebuilt. At the first invalid batch
 *    the segment is truncated and all later segments are deleted; the log says which
 *    file, at which byte, and from which offset on data was lost (also kept in the
 *    partition's mqb_recovery_report_t). Files that are not segments, indexes or the
 *    store's own are ignored and logged. An index that fails its checks is rebuilt.
 * Read-only stores do all of this in memory only: nothing on disk changes.
 *
 * mqb_store_verify_partition() is the operator's check (mqbridge log verify): it
 * reads every batch of every segment and every index entry and reports each problem
 * through a callback, never modifying anything.
 */
#ifndef MQB_RECOVERY_H
#define MQB_RECOVERY_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mqb_partition mqb_partition_t;

typedef struct mqb_recovery_report {
	bool clean;                 /* clean-shutdown marker found */
	bool used_checkpoint;       /* scan started at the recovery checkpoint */
	int64_t scanned_bytes;      /* bytes validated batch by batch */
	int32_t indexes_rebuilt;    /* segments whose index was rebuilt */
	int32_t files_ignored;      /* unexpected files in the partition dir */
	int32_t segments_deleted;   /* segments after a cut, removed */
	bool truncated;             /* a segment was cut */
	char cut_path[PATH_MAX];    /* the segment that was cut */
	int64_t cut_position;       /* ... at this byte */
	int64_t cut_bytes;          /* bytes removed from it */
	int64_t first_lost_offset;  /* the first offset no longer present (-1: none) */
	char cut_reason[200];       /* why the batch there was invalid */
} mqb_recovery_report_t;

/* At most this many offset-index entries per segment are checked against their batch
 * headers at open (recovery.c explains the rule and why). */
#define MQB_INDEX_SAMPLE 16
/* Whether open checks entry i of a segment's offset index of n entries (kept below
 * the trusted bytes) against its batch header. For tests and tools. */
bool mqb_index_entry_sampled(size_t n, size_t i);

/* What recovery found and did when the partition was opened (owned by the partition). */
const mqb_recovery_report_t *mqb_partition_recovery_report(mqb_partition_t *p);

/* One problem: the file, a byte position in it (-1 when not applicable), a sentence. */
typedef void (mqb_problem_cb_t)(void *arg, const char *path, int64_t position,
				const char *what);

/*
 * Check every segment and index of one partition directory (read-only, works on a
 * live store too: a batch being written at the very end may show as torn). Returns
 * the number of problems reported through cb (may be NULL), or a negative mqb_err when
 * the directory cannot be read. *records_out (if not NULL) gets the number of valid records.
 */
int mqb_store_verify_partition(const char *partition_dir, mqb_problem_cb_t *cb, void *arg,
			       int64_t *records_out);

#endif
