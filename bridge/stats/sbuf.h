/*
 * sbuf.h — a growable byte buffer for the renderers (stats module internal).
 *
 * An mqb_sbuf_t owns p (malloc'd, always NUL-terminated when non-NULL). A failed
 * allocation sets oom and turns later appends into no-ops, so callers check once at
 * the end. mqb_sbuf_take() hands p to the caller; mqb_sbuf_free() is safe after it.
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
void mqb_sbuf_free(mqb_sbuf_t *b);

#endif
