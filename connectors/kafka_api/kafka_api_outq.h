/*
 * kafka_api_outq.h — a Kafka connection's output queue: the response bytes in one
 * buffer, and file ranges (a zero-copy Fetch's record batches, mqb_range_t from the
 * store) placed between those bytes. The server sends the bytes with send() and the
 * ranges with sendfile(), or, on a connection that cannot use sendfile (TLS), reads
 * the ranges into a small staging buffer and sends that through the normal path.
 *
 * Handlers write the response into buf as before; a Fetch adds a range with
 * mqb_kapi_outq_add_file(), which places it after the bytes written so far. Size
 * fields count the ranges' lengths (file_added tells how many bytes were added), so
 * every size is known before any byte is queued.
 *
 * Thread: the connection's (the server thread). Ownership: the queue owns buf, the
 * staging buffer and every range added (each is released once fully sent, when a
 * request that added it is dropped, or at free), so a segment's fd stays open exactly
 * as long as bytes of it are still to be sent.
 */
#ifndef MQB_KAFKA_API_OUTQ_H
#define MQB_KAFKA_API_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge/store/batch.h"
#include "bridge/store/store.h"

/* Ranges one connection may hold (each may hold a segment's fd open); more, or more
 * than the server-wide budget (mqb_kapi_outq_t.shared), are read into the buffer
 * instead (same bytes, copied). */
#define KAPI_OUTQ_MAX_FILES 64

/* The server's budget of ranges held by all its connections (so that many stuck
 * clients cannot take the fds the store needs to roll segments). */
typedef struct mqb_kapi_files_budget {
	size_t held, max;
} mqb_kapi_files_budget_t;

typedef struct mqb_kapi_file {
	size_t at;                   /* sent after byte `at` of buf, before the rest */
	mqb_range_t rg;
	int64_t sent;                /* bytes of rg sent */
} mqb_kapi_file_t;

typedef struct mqb_kapi_outq {
	mqb_buf_t buf;               /* response bytes */
	size_t off;                  /* bytes of buf sent */
	mqb_kapi_file_t *files;      /* files[head..n) queued, in order */
	size_t head, n, cap;
	int64_t file_bytes;          /* unsent bytes of the queued ranges */
	int64_t file_added;          /* bytes of ranges added, ever (size fields) */
	uint8_t *stage;              /* copy mode: bytes of files[head] read, not sent */
	size_t stage_len, stage_off;
	mqb_kapi_files_budget_t *shared;   /* the server's, or NULL: no shared limit */
} mqb_kapi_outq_t;

/* The next thing to send: bytes (data, len) when fd < 0, else len bytes of fd at pos.
 * more: something follows right away (send with MSG_MORE). */
typedef struct mqb_kapi_chunk {
	const uint8_t *data;
	size_t len;
	int fd;
	int64_t pos;
	bool more;
} mqb_kapi_chunk_t;

/* Unsent bytes, ranges included (the back-pressure measure). */
static inline int64_t mqb_kapi_outq_pending(const mqb_kapi_outq_t *q)
{
	return (int64_t)(q->buf.len - q->off) + q->file_bytes;
}

static inline size_t mqb_kapi_outq_nfiles(const mqb_kapi_outq_t *q)
{
	return q->n - q->head;
}

/* Queue *rg after the bytes in buf now; the queue takes it over (*rg is left empty).
 * MQB_ERR_NOMEM, or MQB_ERR_TOOBIG at KAPI_OUTQ_MAX_FILES or the shared budget, leaves
 * *rg with the caller. */
int mqb_kapi_outq_add_file(mqb_kapi_outq_t *q, mqb_range_t *rg);

/* Drop what a request added and cannot send (a parked or refused Fetch): buf back to
 * len bytes and the ranges from index nfiles_before (q->n then) on released. */
void mqb_kapi_outq_truncate(mqb_kapi_outq_t *q, size_t len, size_t nfiles_before);

/* The next chunk to send: 1 with *ch, 0 when everything is sent (buf is reset then),
 * -1 when a range cannot be read (copy mode; logged). copy_files: read ranges into
 * the staging buffer and hand them out as bytes (no sendfile). */
int mqb_kapi_outq_peek(mqb_kapi_outq_t *q, bool copy_files, mqb_kapi_chunk_t *ch);

/* n bytes of the chunk peek returned were sent (n <= ch.len). */
void mqb_kapi_outq_consumed(mqb_kapi_outq_t *q, size_t n);

/* Release everything. NULL-safe; q is empty and reusable afterwards. */
void mqb_kapi_outq_free(mqb_kapi_outq_t *q);

#endif
