/*
 * test_kapi_tls.c — the kafka_api TLS io wrapper (connectors/kafka_api/kafka_api_tls.h)
 * against an OpenSSL client over a non-blocking socketpair with small socket buffers:
 * the handshake driven by recv alone through WANT_READ/WANT_WRITE; 1 MiB sent with
 * partial writes (EAGAIN, then the rest) arriving intact; decrypted input left inside
 * OpenSSL reported by mqb_kapi_io_pending; close_notify read as end of stream;
 * plaintext bytes refused with EPROTO; a plaintext io passing bytes through; the
 * context refusing a key of another certificate. The certificate and keys are made
 * in memory with OpenSSL (no CLI) and written to a temp dir.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "connectors/kafka_api/kafka_api_tls.h"
#include "tests/support/harness.h"

static char dir[256], cert[300], key[300], key2[300];

static EVP_PKEY *write_key(const char *path)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	FILE *f = fopen(path, "w");

	assert_non_null(k);
	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	return k;
}

static int setup(void **state)
{
	EVP_PKEY *k;
	X509 *x = X509_new();
	FILE *f;

	(void)state;
	assert_int_equal(mqbt_tmpdir(dir, sizeof dir), 0);
	snprintf(cert, sizeof cert, "%s/c.pem", dir);
	snprintf(key, sizeof key, "%s/k.pem", dir);
	snprintf(key2, sizeof key2, "%s/k2.pem", dir);
	k = write_key(key);
	EVP_PKEY_free(write_key(key2));
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"test", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	f = fopen(cert, "w");
	assert_non_null(f);
	PEM_write_X509(f, x);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(k);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return mqbt_rmrf(dir);
}

typedef struct pair {
	int sv[2];
	mqb_kapi_tls_t *tls;
	mqb_kapi_io_t io;            /* the server side, sv[0] */
	SSL_CTX *cctx;
	SSL *c;                      /* the client, sv[1] */
} pair_t;

static void pair_open(pair_t *p, bool tls)
{
	char err[512];
	int small = 4096;

	memset(p, 0, sizeof *p);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p->sv), 0);
	for (int i = 0; i < 2; i++) {
		setsockopt(p->sv[i], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
		setsockopt(p->sv[i], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	}
	if (tls) {
		p->tls = mqb_kapi_tls_new(cert, key, NULL, 1000, err, sizeof err);
		if (!p->tls)
			fail_msg("tls_new: %s", err);
	}
	assert_int_equal(mqb_kapi_io_init(&p->io, p->sv[0], p->tls, "peer"), 0);
	assert_int_equal(mqb_kapi_io_is_tls(&p->io), tls);
	p->cctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(p->cctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_mode(p->cctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
	p->c = SSL_new(p->cctx);
	SSL_set_fd(p->c, p->sv[1]);
	SSL_set_connect_state(p->c);
}

static void pair_close(pair_t *p)
{
	mqb_kapi_io_end(&p->io);
	mqb_kapi_tls_free(p->tls);
	SSL_free(p->c);
	SSL_CTX_free(p->cctx);
	close(p->sv[0]);
	close(p->sv[1]);
}

/* Drive the handshake: the client connects, the server only calls recv. */
static void handshake(pair_t *p)
{
	char b[16];
	bool client_done = false;
	int i;

	for (i = 0; i < 1000 && !(client_done && p->io.hs_done); i++) {
		if (!client_done) {
			int rc = SSL_do_handshake(p->c);

			client_done = rc == 1;
			if (rc != 1) {
				int e = SSL_get_error(p->c, rc);
				assert_true(e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE);
			}
		}
		ssize_t n = mqb_kapi_io_recv(&p->io, b, sizeof b);
		assert_true(n < 0);
		assert_int_equal(errno, EAGAIN);
	}
	assert_true(client_done && p->io.hs_done);
	assert_false(mqb_kapi_io_pending(&p->io));
}

static void test_send_partial_writes(void **state)
{
	enum { N = 1 << 20 };
	uint8_t *src = malloc(N), *dst = malloc(N);
	size_t sent = 0, got = 0;
	int eagain = 0;
	pair_t p;

	(void)state;
	for (size_t i = 0; i < N; i++)
		src[i] = (uint8_t)(i * 7 + (i >> 9));
	pair_open(&p, true);
	handshake(&p);
	for (int turn = 0; turn < 100000 && got < N; turn++) {
		if (sent < N) {
			ssize_t n = mqb_kapi_io_send(&p.io, src + sent, N - sent);

			if (n > 0)
				sent += (size_t)n;
			else {
				assert_int_equal(errno, EAGAIN);
				eagain++;
			}
		}
		int r = SSL_read(p.c, dst + got, (int)(N - got));
		if (r > 0)
			got += (size_t)r;
		else
			assert_int_equal(SSL_get_error(p.c, r), SSL_ERROR_WANT_READ);
	}
	assert_int_equal(got, N);
	assert_memory_equal(src, dst, N);
	assert_true(eagain > 0);          /* the small buffer forced partial writes */
	assert_int_equal(mqb_kapi_io_events(&p.io), 0);   /* WANT_WRITE on send: EPOLLOUT is
							   * the server's (output pending) */
	pair_close(&p);
	free(src);
	free(dst);
}

static void test_pending_and_close(void **state)
{
	char msg[3000], b[100];
	size_t got = 0;
	pair_t p;

	(void)state;
	memset(msg, 'm', sizeof msg);
	pair_open(&p, true);
	handshake(&p);
	assert_int_equal(SSL_write(p.c, msg, sizeof msg), (int)sizeof msg);   /* one record */
	for (int i = 0; i < 1000 && got == 0; i++) {
		ssize_t n = mqb_kapi_io_recv(&p.io, b, sizeof b);
		if (n > 0)
			got += (size_t)n;
	}
	assert_int_equal(got, sizeof b);
	/* the rest of the record is decrypted inside OpenSSL: epoll would not say so */
	assert_true(mqb_kapi_io_pending(&p.io));
	while (mqb_kapi_io_pending(&p.io)) {
		ssize_t n = mqb_kapi_io_recv(&p.io, b, sizeof b);
		assert_true(n > 0);
		got += (size_t)n;
	}
	assert_int_equal(got, sizeof msg);
	/* close_notify: end of stream */
	SSL_shutdown(p.c);
	ssize_t n = -1;
	for (int i = 0; i < 100 && n < 0; i++)
		n = mqb_kapi_io_recv(&p.io, b, sizeof b);
	assert_int_equal(n, 0);
	pair_close(&p);
}

static void test_plaintext_refused_and_passthrough(void **state)
{
	static const char req[] = "\0\0\0\x0e\0\x12\0\0\0\0\0\x01\xff\xff\0\0\0\0";
	char b[64];
	pair_t p;
	ssize_t n;

	(void)state;
	/* a Kafka request where a ClientHello belongs: EPROTO */
	pair_open(&p, true);
	assert_int_equal(write(p.sv[1], req, sizeof req), (ssize_t)sizeof req);
	n = mqb_kapi_io_recv(&p.io, b, sizeof b);
	assert_int_equal(n, -1);
	assert_int_equal(errno, EPROTO);
	assert_true(p.io.dead);
	pair_close(&p);
	/* without TLS the bytes pass through */
	pair_open(&p, false);
	assert_int_equal(write(p.sv[1], req, sizeof req), (ssize_t)sizeof req);
	assert_int_equal(mqb_kapi_io_recv(&p.io, b, sizeof b), (ssize_t)sizeof req);
	assert_memory_equal(b, req, sizeof req);
	assert_int_equal(mqb_kapi_io_send(&p.io, "ok", 2), 2);
	assert_int_equal(read(p.sv[1], b, sizeof b), 2);
	assert_false(mqb_kapi_io_expired(&p.io, INT64_MAX));   /* no handshake to time out */
	pair_close(&p);
}

static void test_expired_handshake_and_bad_key(void **state)
{
	char err[512];
	pair_t p;

	(void)state;
	pair_open(&p, true);
	assert_false(mqb_kapi_io_expired(&p.io, p.io.start_ms + 999));
	assert_true(mqb_kapi_io_expired(&p.io, p.io.start_ms + 1000));
	pair_close(&p);
	assert_null(mqb_kapi_tls_new(cert, key2, NULL, 1000, err, sizeof err));
	assert_non_null(strstr(err, "does not match tls_cert"));
	assert_null(mqb_kapi_tls_new(key, key, NULL, 1000, err, sizeof err));
	assert_non_null(strstr(err, "not a usable PEM certificate"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_send_partial_writes),
		cmocka_unit_test(test_pending_and_close),
		cmocka_unit_test(test_plaintext_refused_and_passthrough),
		cmocka_unit_test(test_expired_handshake_and_bad_key),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
