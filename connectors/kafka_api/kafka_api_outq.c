/* kafka_api_outq.c — a connection's output queue of bytes and file ranges (see
 * kafka_api_outq.h). */
#include "connectors/kafka_api/kafka_api_outq.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge/err.h"
#include "bridge/logging.h"

#define STAGE_SIZE (64 << 10)        /* copy mode: read ranges this much at a time */
#define KEEP_BUF (1 << 20)           /* a larger buffer is freed once sent */
#define COMPACT_AT (256 << 10)       /* move unsent bytes down past this much sent */

static void release(mqb_kapi_outq_t *q, mqb_range_t *rg)
{
	mqb_range_release(rg);
	if (q->shared && q->shared->held > 0)
		q->shared->held--;
}

int mqb_kapi_outq_add_file(mqb_kapi_outq_t *q, mqb_range_t *rg)
{
	if (mqb_kapi_outq_nfiles(q) >= KAPI_OUTQ_MAX_FILES ||
	    (q->shared && q->shared->held >= q->shared->max))
		return MQB_ERR_TOOBIG;
	if (q->n == q->cap && q->head > 0) {       /* reuse the sent slots */
		memmove(q->files, q->files + q->head, (q->n - q->head) * sizeof(*q->files));
		q->n -= q->head;
		q->head = 0;
	}
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 8;
		mqb_kapi_file_t *f = realloc(q->files, cap * sizeof(*f));

		if (!f)
			return MQB_ERR_NOMEM;
		q->files = f;
		q->cap = cap;
	}
	q->files[q->n].at = q->buf.len;
	q->files[q->n].rg = *rg;
	q->files[q->n].sent = 0;
	q->n++;
	q->file_bytes += rg->len;
	q->file_added += rg->len;
	if (q->shared)
		q->shared->held++;
	memset(rg, 0, sizeof(*rg));
	rg->fd = -1;
	return MQB_OK;
}

void mqb_kapi_outq_truncate(mqb_kapi_outq_t *q, size_t len, size_t nfiles_before)
{
	while (q->n > nfiles_before && q->n > q->head) {
		mqb_kapi_file_t *f = &q->files[--q->n];

		q->file_bytes -= f->rg.len - f->sent;
		q->file_added -= f->rg.len;
		release(q, &f->rg);
	}
	if (len < q->buf.len)
		q->buf.len = len;
}

/* The head range is done: release it (the fd may close). */
static void pop_file(mqb_kapi_outq_t *q)
{
	release(q, &q->files[q->head].rg);
	q->head++;
	q->stage_len = q->stage_off = 0;
	if (q->head == q->n)
		q->head = q->n = 0;
}

/* Everything sent: start the buffer over (free a large one); or, with much sent and
 * more queued, move the unsent bytes down so the buffer does not grow forever. */
static void compact(mqb_kapi_outq_t *q)
{
	if (q->off == q->buf.len && q->head == q->n) {
		q->buf.len = q->off = 0;
		if (q->buf.cap > KEEP_BUF)
			mqb_buf_free(&q->buf);
		return;
	}
	if (q->off < COMPACT_AT || q->off < q->buf.cap / 2)
		return;
	memmove(q->buf.data, q->buf.data + q->off, q->buf.len - q->off);
	q->buf.len -= q->off;
	for (size_t i = q->head; i < q->n; i++)
		q->files[i].at -= q->off;
	q->off = 0;
}

/* Copy mode: have unsent bytes of the head range in the staging buffer. */
static int stage_fill(mqb_kapi_outq_t *q)
{
	mqb_kapi_file_t *f = &q->files[q->head];
	int64_t left = f->rg.len - f->sent;
	size_t want = (size_t)(left < STAGE_SIZE ? left : STAGE_SIZE), got = 0;

	if (q->stage_off < q->stage_len)
		return 0;
	if (!q->stage && !(q->stage = malloc(STAGE_SIZE)))
		return -1;
	while (got < want) {
		ssize_t n = pread(f->rg.fd, q->stage + got, want - got,
				  (off_t)(f->rg.pos + f->sent + (int64_t)got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			MQB_LOG_RATELIMITED(MQB_LOG_ERROR, "kafka_api", 5000, "reading stored "
					    "batches to send: %s", n < 0 ? strerror(errno) :
					    "file shorter than stored");
			return -1;
		}
		got += (size_t)n;
	}
	q->stage_len = want;
	q->stage_off = 0;
	return 0;
}

int mqb_kapi_outq_peek(mqb_kapi_outq_t *q, bool copy_files, mqb_kapi_chunk_t *ch)
{
	memset(ch, 0, sizeof(*ch));
	ch->fd = -1;
	if (q->head < q->n && q->files[q->head].at == q->off) {
		mqb_kapi_file_t *f = &q->files[q->head];

		ch->more = q->head + 1 < q->n || q->off < q->buf.len;
		if (copy_files) {
			if (stage_fill(q) != 0)
				return -1;
			ch->data = q->stage + q->stage_off;
			ch->len = q->stage_len - q->stage_off;
			ch->more = ch->more || f->sent + (int64_t)ch->len < f->rg.len;
			return 1;
		}
		ch->fd = f->rg.fd;
		ch->pos = f->rg.pos + f->sent;
		ch->len = (size_t)(f->rg.len - f->sent);
		return 1;
	}
	compact(q);
	if (q->off == q->buf.len)
		return 0;
	ch->data = q->buf.data + q->off;
	ch->len = (q->head < q->n ? q->files[q->head].at : q->buf.len) - q->off;
	ch->more = q->head < q->n;
	return 1;
}

void mqb_kapi_outq_consumed(mqb_kapi_outq_t *q, size_t n)
{
	if (q->head < q->n && q->files[q->head].at == q->off) {
		mqb_kapi_file_t *f = &q->files[q->head];

		f->sent += (int64_t)n;
		q->file_bytes -= (int64_t)n;
		if (q->stage_off < q->stage_len)
			q->stage_off += n;
		if (f->sent >= f->rg.len)
			pop_file(q);
		return;
	}
	q->off += n;
}

void mqb_kapi_outq_free(mqb_kapi_outq_t *q)
{
	if (!q)
		return;
	mqb_kapi_files_budget_t *shared = q->shared;

	for (size_t i = q->head; i < q->n; i++)
		release(q, &q->files[i].rg);
	free(q->files);
	free(q->stage);
	mqb_buf_free(&q->buf);
	memset(q, 0, sizeof(*q));
	q->shared = shared;
}
