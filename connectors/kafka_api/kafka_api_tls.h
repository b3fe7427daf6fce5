/*
 * kafka_api_tls.h — TLS for the Kafka listener (OpenSSL), and the socket I/O every
 * client connection goes through: plain recv/send, or SSL_read/SSL_write when the
 * listener has TLS on (kafka_api.tls_cert / tls_key; tls_ca: client certificates
 * required and verified). TLS 1.2 is the oldest version served; renegotiation is off.
 *
 * The wrapper keeps the socket non-blocking and says what the epoll loop must wait
 * for: a TLS read may need the socket writable (handshake, session tickets) and a
 * TLS write may need it readable (mqb_kapi_io_events, mqb_kapi_io_should_read). The
 * handshake runs inside the first reads; a handshake that fails (a plaintext Kafka
 * client, an untrusted certificate, no client certificate, garbage) is counted
 * (mqbridge_kafka_api_tls_handshake_failures_total) and logged rate-limited with the
 * peer address and OpenSSL's reason; one still running after the timeout is closed
 * the same way (mqb_kapi_io_expired). A peer that connects and closes without sending
 * a byte (a port probe) is no failure.
 *
 * Threads: mqb_kapi_tls_new/free from the daemon's thread (or --check-config); the
 * io calls from the server thread only (OpenSSL's error queue is per thread).
 * SIGPIPE: OpenSSL writes with write(2); mqbridged ignores SIGPIPE (main.c).
 * Ownership: the tls context is owned by the connector and must outlive every
 * connection (the server); an io borrows its tls context and the peer string, owns
 * its SSL object (freed by mqb_kapi_io_end), and never closes the fd (the server does).
 */
#ifndef MQB_KAFKA_API_TLS_H
#define MQB_KAFKA_API_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "connectors/kafka_api/kafka_api_stats.h"

typedef struct mqb_kapi_tls mqb_kapi_tls_t;
struct ssl_st;

/* Load cert (PEM chain) and key (must match it), and ca when not NULL (clients must
 * then present a certificate it signed). NULL with errstr naming the key and file,
 * e.g. "tls_key /etc/k.pem: does not match tls_cert /etc/c.pem (key values mismatch)". */
mqb_kapi_tls_t *mqb_kapi_tls_new(const char *cert, const char *key, const char *ca,
				 int handshake_timeout_ms, char *errstr, size_t errstr_size);
void mqb_kapi_tls_free(mqb_kapi_tls_t *t);            /* NULL-safe */
/* Count handshakes and failures there (may be NULL); set before the server starts. */
void mqb_kapi_tls_set_stats(mqb_kapi_tls_t *t, mqb_kapi_stats_t *stats);
/* "" or why cert is not usable now ("expired 2025-01-01 ...", "not valid before ...":
 * a warning, not an error: an edge box may boot with its clock unset). */
void mqb_kapi_tls_validity(const mqb_kapi_tls_t *t, char *why, size_t why_size);

/* One connection's socket: fd (non-blocking) and, with TLS, its SSL object. */
typedef struct mqb_kapi_io {
	int fd;
	struct ssl_st *ssl;          /* NULL: plaintext */
	mqb_kapi_tls_t *tls;
	const char *peer;            /* the client's address, for the log (borrowed) */
	int64_t start_ms;            /* monotonic ms of the accept */
	bool hs_done;                /* the TLS handshake completed */
	bool read_wants_out;         /* the last SSL_read needs the socket writable */
	bool write_wants_in;         /* the last SSL_write needs the socket readable */
	bool dead;                   /* a fatal TLS error: no close_notify */
} mqb_kapi_io_t;

/* Set up io for an accepted fd; tls NULL: plaintext. 0, or -1 (no memory). */
int mqb_kapi_io_init(mqb_kapi_io_t *io, int fd, mqb_kapi_tls_t *tls, const char *peer);
/* Send close_notify when the session is healthy (best effort, non-blocking) and free
 * the SSL object. The fd stays open. Idempotent. */
void mqb_kapi_io_end(mqb_kapi_io_t *io);

/* As recv(2)/send(2) (MSG_NOSIGNAL): bytes moved, 0 from recv when the peer closed,
 * -1 with errno EAGAIN when the socket must become ready first (which way:
 * mqb_kapi_io_events), other errno when the connection is broken (EPROTO: TLS). */
ssize_t mqb_kapi_io_recv(mqb_kapi_io_t *io, void *buf, size_t len);
ssize_t mqb_kapi_io_send(mqb_kapi_io_t *io, const void *buf, size_t len);

static inline bool mqb_kapi_io_is_tls(const mqb_kapi_io_t *io) { return io->ssl != NULL; }
/* Epoll events the TLS layer needs beyond what the server asks for (0 in plaintext). */
uint32_t mqb_kapi_io_events(const mqb_kapi_io_t *io);
/* Whether the epoll events ev mean "call mqb_kapi_io_recv again". */
bool mqb_kapi_io_should_read(const mqb_kapi_io_t *io, uint32_t ev);
/* Decrypted input held inside OpenSSL: epoll will not report it. */
bool mqb_kapi_io_pending(const mqb_kapi_io_t *io);
/* True (logged and counted as a failed handshake) when io is still in its TLS
 * handshake past the timeout at now_ms: the server closes it. */
bool mqb_kapi_io_expired(mqb_kapi_io_t *io, int64_t now_ms);
/* The monotonic ms at which io's handshake times out, INT64_MAX when it is not in
 * one (plaintext, done, or dead): the server's loop wakes for it. */
int64_t mqb_kapi_io_deadline(const mqb_kapi_io_t *io);

#endif
