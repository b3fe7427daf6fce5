/*
 * kafka_raw.h — hand-built Kafka requests for the kafka_api integration tests: a
 * loopback connection, a request builder (header v1 with a null client id, classic
 * fields) and a response frame reader. For bad input and for fields a client library
 * never sends. Everything asserts (cmocka); header-only, static functions.
 */
#ifndef MQB_TEST_KAFKA_RAW_H
#define MQB_TEST_KAFKA_RAW_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static inline int kraw_connect(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { .tv_sec = 5 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return fd;
}

/* true when the server closed the connection (EOF or reset) within 5 s */
static inline bool closed_by_server(int fd)
{
	char b[256];
	ssize_t n;

	while ((n = recv(fd, b, sizeof b, 0)) > 0)
		;
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

static inline void send_all(int fd, const void *p, size_t n)
{
	assert_int_equal(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

static inline void put16(uint8_t *p, int v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

typedef struct rawreq {
	uint8_t b[4096];
	size_t n;
} rawreq_t;

static inline void rq_start(rawreq_t *q, int key, int ver, int corr)
{
	q->n = 4;
	put16(q->b + q->n, key); put16(q->b + q->n + 2, ver);
	put32(q->b + q->n + 4, (uint32_t)corr); put16(q->b + q->n + 8, -1);
	q->n += 10;
}
static inline void rq_i8(rawreq_t *q, int v) { q->b[q->n++] = (uint8_t)v; }
static inline void rq_i16(rawreq_t *q, int v) { put16(q->b + q->n, v); q->n += 2; }
static inline void rq_i32(rawreq_t *q, int32_t v) { put32(q->b + q->n, (uint32_t)v); q->n += 4; }
static inline void rq_i64(rawreq_t *q, int64_t v)
{
	rq_i32(q, (int32_t)(v >> 32));
	rq_i32(q, (int32_t)v);
}
static inline void rq_str(rawreq_t *q, const char *s)
{
	rq_i16(q, (int)strlen(s));
	memcpy(q->b + q->n, s, strlen(s));
	q->n += strlen(s);
}
static inline void rq_raw(rawreq_t *q, const void *p, size_t n)
{
	assert_true(q->n + n <= sizeof q->b);
	memcpy(q->b + q->n, p, n);
	q->n += n;
}
/* Send q followed by tail[0..tail_len) (a large field that does not fit q). */
static inline void rq_send_tail(int fd, rawreq_t *q, const void *tail, size_t tail_len)
{
	put32(q->b, (uint32_t)(q->n - 4 + tail_len));
	send_all(fd, q->b, q->n);
	if (tail_len)
		send_all(fd, tail, tail_len);
}
static inline void rq_send(int fd, rawreq_t *q) { rq_send_tail(fd, q, NULL, 0); }

/* One response frame (malloc'd body without the size); *len its length. */
static inline uint8_t *rq_recv(int fd, size_t *len)
{
	uint8_t sz[4], *body;
	uint32_t n;

	assert_int_equal(recv(fd, sz, 4, MSG_WAITALL), 4);
	n = (uint32_t)sz[0] << 24 | (uint32_t)sz[1] << 16 | (uint32_t)sz[2] << 8 | sz[3];
	assert_true(n >= 4 && n < (64u << 20));
	body = malloc(n);
	assert_non_null(body);
	assert_int_equal(recv(fd, body, n, MSG_WAITALL), (ssize_t)n);
	*len = n;
	return body;
}

static inline int16_t get16(const uint8_t *p) { return (int16_t)(p[0] << 8 | p[1]); }
static inline int32_t get32(const uint8_t *p)
{
	return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
}
static inline int64_t get64(const uint8_t *p)
{
	return (int64_t)((uint64_t)(uint32_t)get32(p) << 32 | (uint32_t)get32(p + 4));
}

#endif
