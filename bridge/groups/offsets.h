/*
 * offsets.h — crash-safe persistence of one consumer group's position.
 *
 * What is saved, per partition of the group's stream (mqb_part_state_t):
 *   - exclusive mode (acktrack.h): start = committed offset (first offset not yet
 *     finished), end = high water of deliveries (first offset never delivered), and
 *     the records in [start, end) that are NOT finished, each with its delivery count
 *     (state MQB_REC_AVAILABLE). Every other offset in [start, end) was accepted or
 *     rejected, so after a restart nothing accepted is delivered again.
 *   - shared mode (share.h): start = SPSO, end = SPEO, and every record in the window
 *     whose state is not "available with 0 deliveries": its state (acquired records are
 *     saved as available: locks do not survive a restart) and delivery count.
 *
 * File: data_dir/__groups/<group>.state, written through bridge/store/statefile.h
 * (write temp + fsync + rename + fsync dir, header with magic/length/CRC-32C). Saves
 * alternate between two slots, "<group>.state" and "<group>.state.alt", each carrying a
 * sequence number; load takes the valid slot with the highest sequence. So a slot
 * that is torn or corrupt (reported through errstr and mqb_group_load_info) costs at
 * most the last save, never the whole state, and never yields garbage.
 *
 * Payload encoding (inside the statefile frame, big-endian):
 *   "MQBG" u32 version(1) u64 seq u8 mode u16 group_len group
 *   u32 n_parts, then per part: i32 partition i64 start i64 end u32 n_recs,
 *   then per rec: i64 offset u8 state u32 deliveries.
 * Partitions must be in strictly increasing order.
 * Decoding checks every length and invariant (start <= end, recs strictly increasing
 * inside [start, end), state known, no trailing bytes) and refuses anything else
 * with MQB_ERR_CORRUPT.
 *
 * Memory: mqb_group_state_t and everything in it is owned by whoever built it;
 * mqb_group_state_free() frees a state returned by mqb_group_state_load/decode.
 */
#ifndef MQB_GROUPS_OFFSETS_H
#define MQB_GROUPS_OFFSETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Per-record state in a snapshot. Numeric values are part of the file format. */
typedef enum mqb_rec_state {
	MQB_REC_AVAILABLE    = 0,  /* may be (re)delivered; deliveries = attempts so far */
	MQB_REC_ACQUIRED     = 1,  /* shared: locked by a member (never saved: -> AVAILABLE) */
	MQB_REC_ACKNOWLEDGED = 2,  /* shared: accepted */
	MQB_REC_ARCHIVED     = 3,  /* shared: rejected or reached max_deliveries */
} mqb_rec_state_t;

typedef struct mqb_rec_state_entry {
	int64_t offset;
	uint8_t state;             /* mqb_rec_state_t */
	uint32_t deliveries;
} mqb_rec_state_entry_t;

typedef struct mqb_part_state {
	int32_t partition;
	int64_t start;             /* committed offset (exclusive) / SPSO (shared) */
	int64_t end;               /* delivery high water (exclusive) / SPEO (shared) */
	mqb_rec_state_entry_t *recs;  /* sorted by offset, all in [start, end) */
	size_t n_recs;
} mqb_part_state_t;

typedef enum { MQB_GSTATE_EXCLUSIVE = 0, MQB_GSTATE_SHARED = 1 } mqb_gstate_mode_t;

typedef struct mqb_group_state {
	uint64_t seq;              /* set by save; the higher wins at load */
	uint8_t mode;              /* mqb_gstate_mode_t */
	mqb_part_state_t *parts;
	size_t n_parts;
} mqb_group_state_t;

/* Hard limits checked by encode and decode. */
#define MQB_GSTATE_MAX_PARTS  100000
#define MQB_GSTATE_MAX_RECS   1000000   /* per partition */

/* Free a state from load/decode (parts and recs arrays) and zero it. NULL-safe. */
void mqb_group_state_free(mqb_group_state_t *gs);

/* Deep-copy helpers for building a state: append one partition (recs copied). */
int mqb_group_state_add_part(mqb_group_state_t *gs, const mqb_part_state_t *ps);

/* Look a partition up; NULL when absent. */
const mqb_part_state_t *mqb_group_state_part(const mqb_group_state_t *gs, int32_t partition);

/*
 * Encode gs (for group) into a malloc'd buffer (*out, *out_len; caller frees).
 * MQB_ERR_INVAL when gs breaks an invariant (the message in errstr).
 */
int mqb_group_state_encode(const char *group, const mqb_group_state_t *gs,
			   uint8_t **out, size_t *out_len, char *errstr, size_t errstr_size);

/*
 * Decode buf into *gs (zeroed first; free with mqb_group_state_free). If group is not
 * NULL it must match the group name stored. MQB_ERR_CORRUPT with the reason in
 * errstr on any malformed input; *gs is left empty then.
 */
int mqb_group_state_decode(const char *group, const uint8_t *buf, size_t len,
			   mqb_group_state_t *gs, char *errstr, size_t errstr_size);

/* Group names that may be used as file names: [A-Za-z0-9._-]{1,200}, not "."/"..". */
bool mqb_group_name_valid(const char *group);

/*
 * Save gs for group under data_dir/__groups/ (creating the directory), into the slot
 * after the last one saved or loaded; sets gs->seq. Crash-safe: on return MQB_OK the
 * state is durable; after a crash at any point, load yields this state or the previous.
 * The next sequence number comes from gs->seq (so pass the state that load returned,
 * or one whose seq you carried over).
 */
int mqb_group_state_save(const char *data_dir, const char *group, mqb_group_state_t *gs,
			 char *errstr, size_t errstr_size);

typedef struct mqb_group_load_info {
	int slots_valid;           /* 0, 1 or 2 */
	int slots_corrupt;         /* slots present but refused (torn, bad CRC, bad payload) */
	char corrupt_why[600];     /* every refused slot: "<file>: <why>; ..." */
} mqb_group_load_info_t;

/*
 * Load the newest valid state of group. MQB_OK: *gs filled. MQB_ERR_NOTFOUND: no state
 * saved yet (a new group: start per config). MQB_ERR_CORRUPT: slots exist but none is
 * valid (errstr says why; the caller decides: refuse to start the group, or start per
 * config after logging loudly). info (may be NULL) tells what was found, so the caller
 * can log "slot X corrupt, resumed from the previous save".
 */
int mqb_group_state_load(const char *data_dir, const char *group, mqb_group_state_t *gs,
			 mqb_group_load_info_t *info, char *errstr, size_t errstr_size);

/* Remove both slots (group reset / deleted group). Missing files are not an error. */
int mqb_group_state_remove(const char *data_dir, const char *group,
			   char *errstr, size_t errstr_size);

#endif
