/*
 * kafka_api_tls.c — the listener's OpenSSL context and the per-connection I/O wrapper
 * (see kafka_api_tls.h).
 */
#include "connectors/kafka_api/kafka_api_tls.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/logging.h"

#define TLS_MOD "kafka_api"
#define TLS_SID_CTX "mqbridge-kafka-api"

struct mqb_kapi_tls {
	SSL_CTX *ctx;
	int handshake_timeout_ms;
	mqb_kapi_stats_t *stats;     /* may be NULL */
};

/* The first error on OpenSSL's queue as "reason" (the queue is emptied); "" if none.
 * Returns the error's reason code (0: none). */
static int ssl_reason(char *out, size_t size)
{
	unsigned long e = ERR_get_error();
	const char *r;

	out[0] = '\0';
	if (!e)
		return 0;
	r = ERR_reason_error_string(e);
	if (r)
		snprintf(out, size, "%s", r);
	else
		ERR_error_string_n(e, out, size);
	ERR_clear_error();
	return ERR_GET_REASON(e);
}

/* A passphrase-protected key is refused, never prompted for on a terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf; (void)size; (void)rwflag; (void)arg;
	return 0;
}

mqb_kapi_tls_t *mqb_kapi_tls_new(const char *cert, const char *key, const char *ca,
				 int handshake_timeout_ms, char *errstr, size_t errstr_size)
{
	mqb_kapi_tls_t *t = calloc(1, sizeof *t);
	char why[256];

	ERR_clear_error();
	if (!t || !(t->ctx = SSL_CTX_new(TLS_server_method()))) {
		mqb_errstr_set(errstr, errstr_size, "TLS context: out of memory");
		goto fail;
	}
	t->handshake_timeout_ms = handshake_timeout_ms;
	SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(t->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
			    SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* partial writes: the output buffer is sent as far as the socket takes it; it may
	 * move (grow) between a short write and its retry */
	SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_default_passwd_cb(t->ctx, no_passphrase);
	SSL_CTX_set_session_id_context(t->ctx, (const unsigned char *)TLS_SID_CTX,
				       sizeof TLS_SID_CTX - 1);
	if (SSL_CTX_use_certificate_chain_file(t->ctx, cert) != 1) {
		ssl_reason(why, sizeof why);
		mqb_errstr_set(errstr, errstr_size, "tls_cert %s: not a usable PEM certificate "
			       "(%s)", cert, why);
		goto fail;
	}
	/* a key of another certificate fails here already (key values mismatch) */
	if (SSL_CTX_use_PrivateKey_file(t->ctx, key, SSL_FILETYPE_PEM) != 1) {
		if (ssl_reason(why, sizeof why) == X509_R_KEY_VALUES_MISMATCH)
			mqb_errstr_set(errstr, errstr_size, "tls_key %s: does not match tls_cert "
				       "%s (%s)", key, cert, why);
		else
			mqb_errstr_set(errstr, errstr_size, "tls_key %s: not a usable unencrypted "
				       "PEM private key (%s)", key, why);
		goto fail;
	}
	if (SSL_CTX_check_private_key(t->ctx) != 1) {
		ssl_reason(why, sizeof why);
		mqb_errstr_set(errstr, errstr_size, "tls_key %s: does not match tls_cert %s (%s)",
			       key, cert, why);
		goto fail;
	}
	if (ca) {
		STACK_OF(X509_NAME) *names;

		if (SSL_CTX_load_verify_locations(t->ctx, ca, NULL) != 1 ||
		    !(names = SSL_load_client_CA_file(ca))) {
			ssl_reason(why, sizeof why);
			mqb_errstr_set(errstr, errstr_size, "tls_ca %s: no usable PEM CA "
				       "certificate (%s)", ca, why[0] ? why : "none found");
			goto fail;
		}
		SSL_CTX_set_client_CA_list(t->ctx, names);   /* takes names */
		SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	return t;
fail:
	ERR_clear_error();
	mqb_kapi_tls_free(t);
	return NULL;
}

void mqb_kapi_tls_free(mqb_kapi_tls_t *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

void mqb_kapi_tls_set_stats(mqb_kapi_tls_t *t, mqb_kapi_stats_t *stats) { t->stats = stats; }

void mqb_kapi_tls_validity(const mqb_kapi_tls_t *t, char *why, size_t why_size)
{
	X509 *x = SSL_CTX_get0_certificate(t->ctx);
	const ASN1_TIME *nb, *na;

	why[0] = '\0';
	if (!x)
		return;
	nb = X509_get0_notBefore(x);
	na = X509_get0_notAfter(x);
	if (X509_cmp_current_time(na) < 0)
		mqb_errstr_set(why, why_size, "the certificate has expired");
	else if (X509_cmp_current_time(nb) > 0)
		mqb_errstr_set(why, why_size, "the certificate is not valid yet (is the clock "
			       "set?)");
}

/* --- per connection --------------------------------------------------------------- */

int mqb_kapi_io_init(mqb_kapi_io_t *io, int fd, mqb_kapi_tls_t *tls, const char *peer)
{
	memset(io, 0, sizeof *io);
	io->fd = fd;
	io->tls = tls;
	io->peer = peer;
	io->start_ms = mqb_mono_ms();
	if (!tls)
		return 0;
	io->ssl = SSL_new(tls->ctx);
	if (!io->ssl || SSL_set_fd(io->ssl, fd) != 1) {
		SSL_free(io->ssl);
		io->ssl = NULL;
		ERR_clear_error();
		return -1;
	}
	SSL_set_accept_state(io->ssl);
	return 0;
}

void mqb_kapi_io_end(mqb_kapi_io_t *io)
{
	if (!io->ssl)
		return;
	if (io->hs_done && !io->dead) {
		ERR_clear_error();
		(void)SSL_shutdown(io->ssl);     /* one try: close_notify if the socket takes it */
		ERR_clear_error();
	}
	SSL_free(io->ssl);
	io->ssl = NULL;
}

static void count_failure(mqb_kapi_io_t *io)
{
	if (io->tls->stats)
		mqb_counter_inc(io->tls->stats->tls_failures);
}

/* A handshake that failed: count and log it with OpenSSL's reason (queue emptied). */
static void handshake_failed(mqb_kapi_io_t *io, const char *fallback)
{
	char why[256], verify[160] = "";
	long v = SSL_get_verify_result(io->ssl);

	ssl_reason(why, sizeof why);
	if (v != X509_V_OK)
		snprintf(verify, sizeof verify, ": %s", X509_verify_cert_error_string(v));
	count_failure(io);
	MQB_LOG_RATELIMITED(MQB_LOG_NOTICE, TLS_MOD, 5000, "TLS handshake with %s failed: %s%s",
			    io->peer && *io->peer ? io->peer : "a client",
			    why[0] ? why : fallback, verify);
}

static void handshake_done(mqb_kapi_io_t *io)
{
	X509 *peer_cert;

	io->hs_done = true;
	if (io->tls->stats)
		mqb_counter_inc(io->tls->stats->tls_handshakes);
	if (mqb_log_get_level() < MQB_LOG_DEBUG)
		return;
	peer_cert = SSL_get0_peer_certificate(io->ssl);
	char subject[256] = "none";
	if (peer_cert)
		X509_NAME_oneline(X509_get_subject_name(peer_cert), subject, sizeof subject);
	mqb_debug(TLS_MOD, "TLS with %s: %s %s, client certificate %s", io->peer,
		  SSL_get_version(io->ssl), SSL_get_cipher_name(io->ssl), subject);
}

/* After an SSL_read/SSL_write returned rc <= 0: EAGAIN (-1), 0 (peer closed) or -1
 * with errno set for a broken connection; for_read says which call it was. */
static ssize_t ssl_fail(mqb_kapi_io_t *io, int rc, bool for_read)
{
	int saved = errno, e = SSL_get_error(io->ssl, rc);
	bool handshaking = !io->hs_done;

	switch (e) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		if (for_read)
			io->read_wants_out = e == SSL_ERROR_WANT_WRITE;
		else
			io->write_wants_in = e == SSL_ERROR_WANT_READ;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:      /* close_notify, or EOF (IGNORE_UNEXPECTED_EOF) */
		io->dead = true;
		if (handshaking && BIO_number_read(SSL_get_rbio(io->ssl)) > 0)
			handshake_failed(io, "the client closed the connection");
		ERR_clear_error();
		if (!for_read) {
			errno = EPIPE;
			return -1;
		}
		return 0;
	case SSL_ERROR_SYSCALL:
		io->dead = true;
		if (handshaking && BIO_number_read(SSL_get_rbio(io->ssl)) > 0)
			handshake_failed(io, saved ? strerror(saved) : "connection lost");
		ERR_clear_error();
		errno = saved ? saved : ECONNRESET;
		return -1;
	default:                         /* SSL_ERROR_SSL: a protocol error */
		io->dead = true;
		if (handshaking) {
			handshake_failed(io, "protocol error");
		} else {
			char why[256];

			ssl_reason(why, sizeof why);
			MQB_LOG_RATELIMITED(MQB_LOG_NOTICE, TLS_MOD, 5000, "TLS error from %s, "
					    "closing the connection: %s", io->peer,
					    why[0] ? why : "protocol error");
		}
		errno = EPROTO;
		return -1;
	}
}

ssize_t mqb_kapi_io_recv(mqb_kapi_io_t *io, void *buf, size_t len)
{
	int rc;

	if (!io->ssl)
		return recv(io->fd, buf, len, 0);
	if (io->dead) {
		errno = EPROTO;
		return -1;
	}
	ERR_clear_error();
	rc = SSL_read(io->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
	if (!io->hs_done && SSL_is_init_finished(io->ssl))
		handshake_done(io);
	if (rc > 0) {
		io->read_wants_out = false;
		return rc;
	}
	return ssl_fail(io, rc, true);
}

ssize_t mqb_kapi_io_send(mqb_kapi_io_t *io, const void *buf, size_t len)
{
	int rc;

	if (!io->ssl)
		return send(io->fd, buf, len, MSG_NOSIGNAL);
	if (io->dead) {
		errno = EPIPE;
		return -1;
	}
	ERR_clear_error();
	rc = SSL_write(io->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
	if (!io->hs_done && SSL_is_init_finished(io->ssl))
		handshake_done(io);
	if (rc > 0) {
		io->write_wants_in = false;
		return rc;
	}
	return ssl_fail(io, rc, false);
}

uint32_t mqb_kapi_io_events(const mqb_kapi_io_t *io)
{
	return (io->read_wants_out ? EPOLLOUT : 0u) | (io->write_wants_in ? EPOLLIN : 0u);
}

bool mqb_kapi_io_should_read(const mqb_kapi_io_t *io, uint32_t ev)
{
	return (ev & EPOLLIN) || (io->read_wants_out && (ev & EPOLLOUT));
}

bool mqb_kapi_io_pending(const mqb_kapi_io_t *io)
{
	/* SSL_pending: decrypted application bytes only. Not SSL_has_pending: that is
	 * also true for half a record in the read buffer, which needs more bytes from
	 * the socket (epoll reports them) — the loop would spin on it. */
	return io->ssl && !io->dead && SSL_pending(io->ssl) > 0;
}

int64_t mqb_kapi_io_deadline(const mqb_kapi_io_t *io)
{
	if (!io->ssl || io->hs_done || io->dead)
		return INT64_MAX;
	return io->start_ms + io->tls->handshake_timeout_ms;
}

bool mqb_kapi_io_expired(mqb_kapi_io_t *io, int64_t now_ms)
{
	if (!io->ssl || io->hs_done || io->dead ||
	    now_ms - io->start_ms < io->tls->handshake_timeout_ms)
		return false;
	io->dead = true;
	count_failure(io);
	MQB_LOG_RATELIMITED(MQB_LOG_NOTICE, TLS_MOD, 5000, "TLS handshake with %s failed: "
			    "not done after %d ms (kafka_api.tls_handshake_timeout_ms)",
			    io->peer && *io->peer ? io->peer : "a client",
			    io->tls->handshake_timeout_ms);
	return true;
}
