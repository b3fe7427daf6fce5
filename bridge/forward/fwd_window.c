/*
 * fwd_window.c — contiguous delivered cursor over out-of-order reports
 * (fwd_window.h).
 */
#include "bridge/forward/fwd_window.h"

#include <stdlib.h>
#include <string.h>

#include "bridge/err.h"

int mqb_fwd_window_init(mqb_fwd_window_t *w, size_t size, int64_t start)
{
	memset(w, 0, sizeof(*w));
	w->done = calloc(size ? size : 1, 1);
	if (!w->done)
		return MQB_ERR_NOMEM;
	w->size = size ? size : 1;
	w->cursor = w->next = start;
	return MQB_OK;
}

void mqb_fwd_window_free(mqb_fwd_window_t *w)
{
	if (!w)
		return;
	free(w->done);
	w->done = NULL;
}

static void window_advance(mqb_fwd_window_t *w)
{
	while (w->cursor < w->next && w->done[(uint64_t)w->cursor % w->size]) {
		w->done[(uint64_t)w->cursor % w->size] = 0;
		w->cursor++;
	}
}

bool mqb_fwd_window_skip_to(mqb_fwd_window_t *w, int64_t offset)
{
	if (offset <= w->next)
		return true;
	if ((uint64_t)(offset - w->cursor) > w->size)
		return false;
	while (w->next < offset)
		w->done[(uint64_t)w->next++ % w->size] = 1;
	window_advance(w);
	return true;
}

bool mqb_fwd_window_delivered(mqb_fwd_window_t *w, int64_t offset)
{
	if (offset < w->cursor || offset >= w->next)
		return false;
	w->done[(uint64_t)offset % w->size] = 1;
	window_advance(w);
	return true;
}

void mqb_fwd_window_rewind(mqb_fwd_window_t *w)
{
	memset(w->done, 0, w->size);
	w->next = w->cursor;
}

void mqb_fwd_window_reset(mqb_fwd_window_t *w, int64_t offset)
{
	memset(w->done, 0, w->size);
	w->cursor = w->next = offset;
}
