/*
 * sbuf.h — a growable text/byte buffer (mqb_core): what the stats renderers (metrics,
 * HTTP JSON) and the forwarder's journal lines (bridge/forward/fwd_state.h) build
 * their output in.
 *
 * Threads: none of its own; a buffer belongs to whoever fills it.
 * Ownership: an mqb_sbuf_t owns p (malloc'd, always NUL-terminated when non-NULL). A
 * failed allocation sets oom and turns later appends into no-ops, so callers check
 * once at the end. mqb_sbuf_take() hands p to the caller (free() it);
 * mqb_sbuf_free() is safe after it.
 */
#ifndef MQB_SBUF_H
#define MQB_SBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct mqb_sbuf {
	char *p;
	size_t len, cap;
	bool oom;
} mqb_sbuf_t;

#define MQB_SBUF_INIT { NULL, 0, 0, false }

void mqb_sbuf_append(mqb_sbuf_t *b, const void *data, size_t n);
void mqb_sbuf_puts(mqb_sbuf_t *b, const char *s);
void mqb_sbuf_putc(mqb_sbuf_t *b, char c);
void mqb_sbuf_printf(mqb_sbuf_t *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The string (never NULL unless oom: an empty buffer gives ""), owned by the caller. */
char *mqb_sbuf_take(mqb_sbuf_t *b, size_t *len);
/* Empty the buffer and clear oom, keeping the allocation for reuse. */
void mqb_sbuf_reset(mqb_sbuf_t *b);
void mqb_sbuf_free(mqb_sbuf_t *b);     /* NULL-safe */

#endif
