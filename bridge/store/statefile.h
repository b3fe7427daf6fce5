/*
 * statefile.h — crash-safe small state: group offsets, the Kafka forwarder's cursor,
 * offset-sync pairs. Two tools, usable alone or together:
 *
 *  1. A snapshot file (mqb_statefile_write/read): the whole state in one file,
 *     replaced atomically (write path.tmp, fsync, rename over path, fsync the
 *     directory). After a crash the file holds either the old or the new content,
 *     never a mix. A header (magic "MQBS", version, payload length, CRC-32C) lets a
 *     reader reject a torn or corrupt file with MQB_ERR_CORRUPT.
 *
 *  2. A journal (mqb_journal_*): an append-only record log (path) plus its snapshot
 *     (path + ".snap"). Each record is framed with its length and a CRC-32C. Opening
 *     replays the snapshot, then every whole, valid journal record, through a
 *     callback; the first torn or corrupt record and everything after it are cut
 *     away (logged, and reported by mqb_journal_recovery()). Compaction writes the
 *     caller's live state as the new snapshot and starts an empty journal, so the
 *     files never grow without bound. An epoch number in both files makes
 *     compaction crash-safe: records already folded into a snapshot are never
 *     replayed twice.
 *
 * On-disk formats (all integers big-endian) are described in docs/STATEFILES.md.
 *
 * Ownership and threads: mqb_statefile_read() returns a malloc'd buffer the caller
 * frees. Records given to append/compact are copied to disk before the call returns;
 * record pointers handed to the replay callback are valid only during the callback.
 * A journal is used by one thread at a time (callers serialise), and one process
 * owns a path at a time (no locking is done here).
 */
#ifndef MQB_STATEFILE_H
#define MQB_STATEFILE_H

#include <stddef.h>
#include <stdint.h>

/* --- snapshot files ------------------------------------------------------------- */

/* Largest payload a snapshot file may carry (a sanity bound for readers). */
#define MQB_STATEFILE_MAX_BYTES ((size_t)256 << 20)

/*
 * Atomically replace path with data[0..len) (len may be 0). Durable when it returns
 * MQB_OK: data, file and directory entry are fsynced. On error path is unchanged
 * (the temp file is removed) — except when only the final directory fsync failed: the
 * new content is then in place but may not survive a power loss — and errstr (may be
 * NULL) says what failed:
 * MQB_ERR_IO, MQB_ERR_NOSPC, MQB_ERR_PERM, MQB_ERR_NOTFOUND (directory missing),
 * MQB_ERR_TOOBIG (len > MQB_STATEFILE_MAX_BYTES).
 */
int mqb_statefile_write(const char *path, const void *data, size_t len,
			char *errstr, size_t errstr_size);

/*
 * Read path written by mqb_statefile_write(). On MQB_OK *data is a malloc'd copy of
 * the payload (NUL-terminated for convenience; *len excludes the NUL) that the
 * caller frees. MQB_ERR_NOTFOUND if the file does not exist; MQB_ERR_CORRUPT if it
 * is truncated, too long, has a bad magic/version or a CRC mismatch (errstr says
 * which); MQB_ERR_IO otherwise. *data is NULL on error.
 */
int mqb_statefile_read(const char *path, void **data, size_t *len,
		       char *errstr, size_t errstr_size);

/* --- journals ---------------------------------------------------------------------- */

typedef struct mqb_journal mqb_journal_t;

/* Largest single journal record. A frame claiming more is treated as corrupt. */
#define MQB_JOURNAL_MAX_RECORD ((size_t)16 << 20)

enum mqb_journal_kind {
	MQB_JOURNAL_SNAPSHOT = 1,  /* the compacted state (at most once, first) */
	MQB_JOURNAL_RECORD   = 2,  /* one appended record, in append order */
};

/* Replay callback: called once per item at open. Return MQB_OK to continue; any
 * other value aborts the open, which returns that value. */
typedef int (mqb_journal_replay_cb_t)(void *arg, enum mqb_journal_kind kind,
				      const void *data, size_t len);

/*
 * Auto-compaction callback: serialise the caller's live state (everything replayed
 * and appended so far) into *data (malloc'd; the journal frees it) and *len.
 */
typedef int (mqb_journal_snapshot_cb_t)(void *arg, void **data, size_t *len);

typedef struct mqb_journal_opts {
	mqb_journal_replay_cb_t *replay;     /* required */
	mqb_journal_snapshot_cb_t *snapshot; /* optional: enables auto-compaction */
	void *arg;                           /* passed to both callbacks */
	/* With snapshot set: after an append leaves the journal larger than this many
	 * bytes, it is compacted (synced first). 0 means 1 MiB. */
	size_t compact_bytes;
} mqb_journal_opts_t;

/* What open found and repaired. */
typedef struct mqb_journal_recovery {
	uint64_t epoch;            /* epoch found at open (each compaction bumps it) */
	int had_snapshot;          /* 1 when a snapshot was replayed */
	uint64_t records;          /* journal records replayed */
	uint64_t cut_position;     /* byte position of the first bad record (if cut_bytes) */
	uint64_t cut_bytes;        /* bytes truncated away at the tail, 0 if none */
	const char *cut_reason;    /* static string, NULL if nothing was cut */
	int stale_journal;         /* 1 when a journal older than the snapshot was reset
				    * (a crash during compaction) */
} mqb_journal_recovery_t;

/*
 * Open (creating if missing) the journal at path and replay it: the snapshot
 * (path + ".snap") if any, then the journal's valid records. A torn or corrupt tail
 * is truncated away (fsynced) and logged; that is not an error. Errors (NULL, errstr
 * says why): the snapshot is corrupt (MQB state would be lost: never silently
 * ignored), the journal header is corrupt, the journal is newer than the snapshot
 * (snapshot lost), I/O errors, or the replay callback failed. Free with
 * mqb_journal_close().
 */
mqb_journal_t *mqb_journal_open(const char *path, const mqb_journal_opts_t *opts,
				char *errstr, size_t errstr_size);

/* Append one record (len 1..MQB_JOURNAL_MAX_RECORD). Written (not yet durable) on
 * MQB_OK; on error nothing is appended (a partial frame is truncated away):
 * MQB_ERR_NOSPC, MQB_ERR_IO, MQB_ERR_TOOBIG, MQB_ERR_INVAL. May auto-compact. */
int mqb_journal_append(mqb_journal_t *j, const void *rec, size_t len);

/* fsync the journal: every record appended so far survives a crash. */
int mqb_journal_sync(mqb_journal_t *j);

/*
 * Compact: data[0..len) is the caller's complete live state. It becomes the new
 * snapshot and the journal restarts empty (epoch + 1). Durable when it returns
 * MQB_OK. On error the old snapshot and journal remain valid.
 */
int mqb_journal_compact(mqb_journal_t *j, const void *data, size_t len);

/* Bytes in the journal file (header included): a caller's compaction trigger. */
uint64_t mqb_journal_bytes(const mqb_journal_t *j);

/* What open found and repaired (valid until close). */
const mqb_journal_recovery_t *mqb_journal_recovery(const mqb_journal_t *j);

/* Close (no implicit sync: call mqb_journal_sync() first if needed). NULL-safe. */
void mqb_journal_close(mqb_journal_t *j);

#endif
