/* sbuf.c — growable byte buffer (see sbuf.h). */
#include "bridge/sbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool reserve(mqb_sbuf_t *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (b->oom)
		return false;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return true;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void mqb_sbuf_append(mqb_sbuf_t *b, const void *data, size_t n)
{
	if (!reserve(b, n))
		return;
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void mqb_sbuf_puts(mqb_sbuf_t *b, const char *s)
{
	mqb_sbuf_append(b, s, strlen(s));
}

void mqb_sbuf_putc(mqb_sbuf_t *b, char c)
{
	mqb_sbuf_append(b, &c, 1);
}

void mqb_sbuf_printf(mqb_sbuf_t *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

char *mqb_sbuf_take(mqb_sbuf_t *b, size_t *len)
{
	char *p;

	if (!reserve(b, 0))
		return NULL;
	p = b->p;
	p[b->len] = '\0';
	if (len)
		*len = b->len;
	b->p = NULL;
	b->len = b->cap = 0;
	return p;
}

void mqb_sbuf_reset(mqb_sbuf_t *b)
{
	b->len = 0;
	b->oom = false;
	if (b->p)
		b->p[0] = '\0';
}

void mqb_sbuf_free(mqb_sbuf_t *b)
{
	if (!b)
		return;
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}
