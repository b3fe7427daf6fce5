/*
 * client_offsets.h — crash-safe committed offsets of a consumer group whose members
 * assign partitions themselves (Kafka's classic protocol served by kafka_api): the
 * broker only stores what they commit, per (stream, partition), with the client's
 * metadata string and leader epoch. Protocol-free: the CLI's `groups reset` and the
 * kafka_api connector share it.
 *
 * File: data_dir/__groups/<kind>/<group>.offsets (kind e.g. "kafka"), one snapshot
 * file written through bridge/store/statefile.h (temp, fsync, rename, fsync dir):
 * after a crash it holds the previous or the new set, never a mix.
 * Payload (big-endian): "MQBK" u32 version(1) u16 group_len group u32 n, then per
 * entry: u16 stream_len stream i32 partition i64 offset i32 leader_epoch
 * i64 commit_time_ms (wall clock) i32 metadata_len (-1 null) metadata.
 * Decoding checks every length and refuses trailing bytes (MQB_ERR_CORRUPT).
 *
 * Memory: a mqb_client_offsets_t and its entries' strings are owned by whoever built
 * it; mqb_client_offsets_free() frees what decode/load returned.
 */
#ifndef MQB_GROUPS_CLIENT_OFFSETS_H
#define MQB_GROUPS_CLIENT_OFFSETS_H

#include <stddef.h>
#include <stdint.h>

#define MQB_CLIENT_OFFSETS_MAX 100000        /* entries per group */
#define MQB_CLIENT_OFFSETS_MAX_META 4096     /* metadata bytes per entry */

typedef struct mqb_client_offset {
	char *stream;
	int32_t partition;
	int64_t offset;
	int32_t leader_epoch;        /* -1: none */
	int64_t commit_time_ms;
	char *metadata;              /* NULL: null */
	int32_t metadata_len;
} mqb_client_offset_t;

typedef struct mqb_client_offsets {
	mqb_client_offset_t *e;
	size_t n, cap;
} mqb_client_offsets_t;

void mqb_client_offsets_free(mqb_client_offsets_t *o);
/* The entry for (stream, partition), or NULL. */
mqb_client_offset_t *mqb_client_offsets_find(const mqb_client_offsets_t *o,
					     const char *stream, int32_t partition);
/* Set (stream, partition) (copies the strings). MQB_OK, MQB_ERR_NOMEM, MQB_ERR_TOOBIG. */
int mqb_client_offsets_set(mqb_client_offsets_t *o, const mqb_client_offset_t *v);

int mqb_client_offsets_encode(const char *group, const mqb_client_offsets_t *o,
			      uint8_t **out, size_t *out_len);
int mqb_client_offsets_decode(const char *group, const uint8_t *buf, size_t len,
			      mqb_client_offsets_t *o, char *errstr, size_t errstr_size);

/* data_dir/__groups/<kind>/<group>.offsets into path. -1 when it does not fit. */
int mqb_client_offsets_path(char *path, size_t size, const char *data_dir,
			    const char *kind, const char *group);
/* Save (creates the directories). Durable on MQB_OK. */
int mqb_client_offsets_save(const char *data_dir, const char *kind, const char *group,
			    const mqb_client_offsets_t *o, char *errstr, size_t errstr_size);
/* Load: MQB_OK, MQB_ERR_NOTFOUND (nothing committed), MQB_ERR_CORRUPT (+ why). */
int mqb_client_offsets_load(const char *data_dir, const char *kind, const char *group,
			    mqb_client_offsets_t *o, char *errstr, size_t errstr_size);
/*
 * `mqbridge groups reset` for such a group (the daemon stopped: store opened by the
 * caller, so no member is connected): set every committed (stream, partition) to
 * to = earliest | latest | offset:N | timestamp:MS, clamped to the partition's log,
 * and save. MQB_ERR_NOTFOUND when nothing was saved for group, MQB_ERR_INVAL for a
 * bad `to` (errstr says which).
 */
struct mqb_store;
int mqb_client_offsets_reset(const char *data_dir, const char *kind, const char *group,
			     struct mqb_store *store, const char *to, mqb_client_offsets_t *out,
			     char *errstr, size_t errstr_size);

/* Call fn for every group name saved under data_dir/__groups/<kind>/ (file names that
 * are valid group names, mqb_group_name_valid). MQB_OK or the first non-OK fn return. */
int mqb_client_offsets_each(const char *data_dir, const char *kind,
			    int (*fn)(void *arg, const char *group), void *arg);

#endif
