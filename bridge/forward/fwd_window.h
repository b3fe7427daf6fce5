/*
 * fwd_window.h — the delivered cursor of one forwarded partition: records are
 * produced in offset order, delivery reports may arrive in any order, and the cursor
 * (every offset below it is delivered) only moves over a contiguous run of delivered
 * offsets. Reports for offsets outside [cursor, next) (stale, from before a rewind)
 * are ignored.
 *
 * Ownership: the window owns its flag ring; one thread uses it.
 */
#ifndef MQB_FWD_WINDOW_H
#define MQB_FWD_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mqb_fwd_window {
	uint8_t *done;               /* size flags, indexed by offset % size */
	size_t size;
	int64_t cursor;              /* every offset below is delivered */
	int64_t next;                /* next offset to produce */
} mqb_fwd_window_t;

/* MQB_OK or MQB_ERR_NOMEM. Starts empty at offset start. */
int mqb_fwd_window_init(mqb_fwd_window_t *w, size_t size, int64_t start);
void mqb_fwd_window_free(mqb_fwd_window_t *w);   /* NULL-safe */

/* true when one more record may be produced (next - cursor < size). */
static inline bool mqb_fwd_window_room(const mqb_fwd_window_t *w)
{
	return (uint64_t)(w->next - w->cursor) < w->size;
}

/* The record at next was produced (caller checked room). */
static inline void mqb_fwd_window_produced(mqb_fwd_window_t *w) { w->next++; }

/* Offsets next..offset-1 have nothing to send (a hole in the local log): count them
 * as delivered. false when that would overflow the window (nothing changed). */
bool mqb_fwd_window_skip_to(mqb_fwd_window_t *w, int64_t offset);

/* A successful delivery report for offset: returns true when it was in the window
 * (then the cursor may have moved), false for a stale or unknown offset. */
bool mqb_fwd_window_delivered(mqb_fwd_window_t *w, int64_t offset);

/* Forget everything produced after the cursor: produce again from the cursor. */
void mqb_fwd_window_rewind(mqb_fwd_window_t *w);

/* Restart at offset (cursor = next = offset), e.g. after records were lost. */
void mqb_fwd_window_reset(mqb_fwd_window_t *w, int64_t offset);

#endif
