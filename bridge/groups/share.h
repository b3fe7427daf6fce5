/*
 * share.h — shared-mode (share group, Kafka KIP-932) record state for ONE partition.
 *
 * Transport-free and deterministic: no threads, no clock (now_ms is passed in), no I/O.
 * The coordinator runtime owns one mqb_share_t per partition of a shared group and
 * reads the records' data from the store itself.
 *
 * Window. Records in [SPSO, SPEO) are tracked, each in one state:
 *   Available    may be acquired (delivery count = acquisitions so far)
 *   Acquired     locked by one member until a deadline (now + lock_ms at acquisition)
 *   Acknowledged accepted: finished
 *   Archived     rejected, or released/expired at max_deliveries: finished
 * Records at or beyond SPEO (up to the log end) are Available with count 0 and join
 * the window when first acquired. SPSO advances past the leading run of
 * Acknowledged/Archived records; it is the group's committed start offset. The window
 * SPEO - SPSO never exceeds max_window (like Kafka's
 * group.share.partition.max.record.locks, default 200): when it is full, acquire hands
 * out only Available records inside it.
 *
 * Transitions:
 *   acquire(member, max_n, log_end, now): Available -> Acquired(member, now + lock_ms),
 *       count + 1, lowest offsets first, at most max_n records.
 *   ack accept:  Acquired(by member) -> Acknowledged.
 *   ack release: Acquired(by member) -> Available; if count >= max_deliveries ->
 *       Archived and reported (MQB_FINISH_MAX_DELIVERIES: dead-letter candidate).
 *   ack reject:  Acquired(by member) -> Archived, reported (MQB_FINISH_REJECTED).
 *   tick(now): Acquired with deadline <= now -> as release (lock expiry).
 *   member_left(member): its Acquired records -> as release. Following KIP-932 the
 *       delivery count is NOT lowered: the count was raised at acquisition, the
 *       attempt happened. So a record whose consumer dies max_deliveries times goes to
 *       the dead letter like any other.
 * Ack validation, checked for ALL ranges before ANY state changes (no change on error):
 *   ranges need 0 <= first <= last (MQB_ERR_INVAL), at most MQB_ACK_MAX_RANGES
 *   (MQB_ERR_TOOBIG); every offset must be Acquired by member with its lock not
 *   expired at now (Acquired by another member, or by this one with an expired lock:
 *   MQB_ERR_PERM "not_owner"; Available or beyond SPEO: MQB_ERR_RANGE "not_delivered").
 *   Offsets already Acknowledged/Archived (or below SPSO) are harmless duplicates.
 * Restart: export saves SPSO, SPEO and the states; import turns Acquired into Available
 * (locks do not survive) and keeps delivery counts. A record that was acquired for its
 * max_deliveries-th time when the bridge stopped is never handed out again: the next
 * tick() archives it and reports it (MQB_FINISH_MAX_DELIVERIES), as a lock expiry would.
 */
#ifndef MQB_GROUPS_SHARE_H
#define MQB_GROUPS_SHARE_H

#include <stddef.h>
#include <stdint.h>

#include "bridge/groups/acktrack.h"   /* mqb_ack_type_t, ranges, result, finish cb */
#include "bridge/groups/offsets.h"    /* mqb_rec_state_t, mqb_part_state_t */

typedef struct mqb_share mqb_share_t;

typedef struct mqb_share_opts {
	int64_t start_offset;      /* SPSO to start from */
	uint32_t max_window;       /* max SPEO - SPSO (200); 1..1000000 */
	uint32_t max_deliveries;   /* >= 1 (5) */
	int64_t lock_ms;           /* acquisition lock duration, ack_timeout_ms (30000) */
} mqb_share_opts_t;

void mqb_share_opts_defaults(mqb_share_opts_t *o);

mqb_share_t *mqb_share_new(const mqb_share_opts_t *o, char *errstr, size_t errstr_size);
void mqb_share_destroy(mqb_share_t *s);  /* NULL-safe */
/* A configuration reload: max_deliveries (>= 1) applies from the next release or
 * expiry on, lock_ms (>= 1) to the next acquisitions (held locks keep their deadline).
 * MQB_ERR_INVAL (nothing changed) when out of range. */
int mqb_share_set_limits(mqb_share_t *s, uint32_t max_deliveries, int64_t lock_ms);

/* One acquired record, as handed out by acquire. */
typedef struct mqb_share_acquired {
	int64_t offset;
	uint32_t deliveries;       /* including this one */
} mqb_share_acquired_t;

/*
 * Acquire up to max_n Available records below log_end for member (non-zero) at
 * now_ms, in offset order, into out[]. Returns the number acquired (0 when none is
 * available or the window is full) or a negative mqb_err (MQB_ERR_INVAL).
 */
int mqb_share_acquire(mqb_share_t *s, uint64_t member, size_t max_n, int64_t log_end,
		      int64_t now_ms, mqb_share_acquired_t *out);

/* Only validate (same checks and return values as mqb_share_ack, no change). */
int mqb_share_ack_check(const mqb_share_t *s, uint64_t member,
			const mqb_offset_range_t *ranges, size_t n_ranges, mqb_ack_type_t type,
			int64_t now_ms);

/* Apply acks from member at now_ms; see above. res, cb may be NULL. */
int mqb_share_ack(mqb_share_t *s, uint64_t member, const mqb_offset_range_t *ranges,
		  size_t n_ranges, mqb_ack_type_t type, int64_t now_ms,
		  mqb_ack_result_t *res, mqb_finish_cb_t *cb, void *cb_arg);

/* Expire locks with deadline <= now_ms. Returns the number of records expired. */
size_t mqb_share_tick(mqb_share_t *s, int64_t now_ms, mqb_finish_cb_t *cb, void *cb_arg);

/* The earliest lock deadline, or INT64_MAX when nothing is acquired (for timers). */
int64_t mqb_share_next_deadline(const mqb_share_t *s);

/* Release every record member holds (it left or died). Returns how many. */
size_t mqb_share_member_left(mqb_share_t *s, uint64_t member,
			     mqb_finish_cb_t *cb, void *cb_arg);

/*
 * The log start moved past SPSO (retention) or an operator reset: restart the window
 * at offset, dropping all state below and in it. Acquired records are forgotten too
 * (their later acks are refused as not delivered).
 */
void mqb_share_reset(mqb_share_t *s, int64_t offset);

typedef struct mqb_share_stats {
	int64_t spso, speo;
	uint32_t available, acquired, acknowledged, archived;  /* inside the window */
	uint64_t acquisitions;     /* total records acquired */
	uint64_t redeliveries;     /* acquisitions of records acquired before */
	uint64_t accepted, rejected, dead, expired;
	int64_t oldest_acquired_ms;  /* now_ms - acquisition time of the oldest; -1 if none */
} mqb_share_stats_t;

void mqb_share_stats(const mqb_share_t *s, int64_t now_ms, mqb_share_stats_t *out);

/* SPSO (the committed start offset) and SPEO, in O(1). */
int64_t mqb_share_spso(const mqb_share_t *s);
int64_t mqb_share_speo(const mqb_share_t *s);

/* State of one offset (for tests and describe): MQB_REC_* or -1 outside the window.
 * *deliveries and *member may be NULL. */
int mqb_share_record_state(const mqb_share_t *s, int64_t offset, uint32_t *deliveries,
			   uint64_t *member);

/* Snapshot (ps->recs malloc'd, caller frees) / restore (MQB_ERR_INVAL if inconsistent,
 * no change then). */
int mqb_share_export(const mqb_share_t *s, mqb_part_state_t *ps);
int mqb_share_import(mqb_share_t *s, const mqb_part_state_t *ps);

#endif
