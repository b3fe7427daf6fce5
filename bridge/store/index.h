/*
 * index.h — a segment's sparse lookup files, kept in memory and mirrored to disk.
 *
 * .index     8-byte entries: relative offset u32 (last offset of a batch - segment
 *            base) + file position u32 of that batch; one per ~index_interval_bytes.
 * .timeindex 12-byte entries: timestamp i64 (largest timestamp so far in the segment)
 *            + relative offset u32 (last offset of the batch where it was reached).
 * Both big-endian, append-only, like Kafka's. Entries are buffered and written with
 * one pwrite() per ~4 KiB; they are never trusted after a crash (recovery validates
 * or rebuilds them).
 *
 * The mqb_index_t owns its entry array and fd (-1 once a sealed segment's file is
 * closed). Not thread-safe: the partition's segment mutex guards lookups against the
 * writer's appends.
 */
#ifndef MQB_INDEX_H
#define MQB_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MQB_OFFSET_ENTRY_SIZE 8
#define MQB_TIME_ENTRY_SIZE   12

typedef struct mqb_index {
	int fd;                /* -1: memory only (read-only stores) */
	size_t esz;            /* entry size */
	uint8_t *raw;          /* entries as on disk */
	size_t n, cap;         /* entries held */
	size_t n_written;      /* entries already on disk */
	bool rdonly;           /* never change the file */
} mqb_index_t;

/* Open (rdonly: O_RDONLY, never written) or create path; trunc empties the file. */
int  mqb_index_open(mqb_index_t *ix, const char *path, size_t esz, bool rdonly, bool trunc);
/* Read the whole file into memory. MQB_ERR_CORRUPT if its size is not a multiple of
 * the entry size (the entries read so far stay). */
int  mqb_index_load(mqb_index_t *ix);
void mqb_index_close(mqb_index_t *ix);      /* writes pending entries first; NULL-safe */
/* Write pending entries and close the file only: the entries stay in memory for
 * lookups (a sealed segment's index is never written again). Returns the write's
 * result; the fd is closed either way. */
int  mqb_index_close_fd(mqb_index_t *ix);
int  mqb_index_write_pending(mqb_index_t *ix);
/* Keep the first n entries (memory and file). */
int  mqb_index_truncate(mqb_index_t *ix, size_t n);

int  mqb_index_append_offset(mqb_index_t *ix, uint32_t rel, uint32_t pos);
int  mqb_index_append_time(mqb_index_t *ix, int64_t ts, uint32_t rel);
void mqb_index_offset_at(const mqb_index_t *ix, size_t i, uint32_t *rel, uint32_t *pos);
void mqb_index_time_at(const mqb_index_t *ix, size_t i, int64_t *ts, uint32_t *rel);

/* Where to start scanning for relative offset rel: the last entry whose batch ends
 * before rel (rel' < rel): true with *erel (that batch's last offset - base) and *epos
 * (its position; the caller checks the header there names base + *erel, skips that
 * batch and scans forward), false when there is none (scan from position 0). */
bool mqb_index_lookup_offset(const mqb_index_t *ix, uint32_t rel, uint32_t *erel,
			     uint32_t *epos);
/* The last entry whose batch starts at or below position maxpos: true with *rel (its
 * batch's last offset - base) and *pos; false when none does. */
bool mqb_index_lookup_pos(const mqb_index_t *ix, uint32_t maxpos, uint32_t *rel,
			  uint32_t *pos);
/* Relative offset to start a timestamp scan from: the last entry with ts' < ts (every
 * record up to it is older than ts), or 0 when none. */
uint32_t mqb_index_lookup_time(const mqb_index_t *ix, int64_t ts);

#endif
