/*
 * test_http.c — the stats endpoint against real TCP clients on 127.0.0.1: built-in
 * paths, 404/405+Allow, HEAD, routes and query args, readiness checks, liveness
 * stall, bearer token, huge headers, malformed requests, slow clients and a
 * connection flood (the endpoint keeps answering or recovers), listen parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bridge/err.h"
#include "bridge/stats/http.h"
#include "bridge/stats/listen.h"
#include "tests/support/harness.h"

/* --- a raw HTTP client ------------------------------------------------------------ */

static int connect_port(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Send raw, read the answer until the server closes or timeout; returns the status
 * code (or -1), the whole answer in *resp (malloc'd). */
static int raw_send(int fd, const char *raw, size_t len, char **resp, int timeout_ms)
{
	size_t off = 0, cap = 65536, n = 0;
	char *buf = malloc(cap + 1);
	int64_t deadline = mqbt_now_ms() + timeout_ms;
	int status = -1;

	while (off < len) {
		ssize_t w = send(fd, raw + off, len - off, MSG_NOSIGNAL);
		if (w <= 0)
			break;              /* the server may close early (e.g. huge header) */
		off += (size_t)w;
	}
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		int left = (int)(deadline - mqbt_now_ms());
		if (left <= 0 || poll(&p, 1, left) <= 0)
			break;
		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
		}
		ssize_t r = recv(fd, buf + n, cap - n, 0);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	if (n > 12 && strncmp(buf, "HTTP/1.", 7) == 0)
		status = atoi(buf + 9);
	if (resp)
		*resp = buf;
	else
		free(buf);
	return status;
}

static int raw_request(int port, const char *raw, size_t len, char **resp)
{
	int fd = connect_port(port), st;

	if (fd < 0)
		return -1;
	st = raw_send(fd, raw, len, resp, 10000);
	close(fd);
	return st;
}

#define RAW(port, s, resp) raw_request(port, s, strlen(s), resp)

/* "METHOD path" with Host and Connection: close, plus extra header lines. */
static int req(int port, const char *method, const char *path, const char *extra,
	       char **resp)
{
	char buf[2048];
	int n = snprintf(buf, sizeof(buf), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			 "Connection: close\r\n%s\r\n", method, path, extra ? extra : "");
	return raw_request(port, buf, (size_t)n, resp);
}

static const char *body_of(const char *resp)
{
	const char *b = strstr(resp, "\r\n\r\n");
	return b ? b + 4 : "";
}

static mqb_http_t *start(mqb_metrics_t *reg, const char *token_file,
			 const mqb_http_limits_t *lim)
{
	mqb_stats_conf_t conf = { .listen = "127.0.0.1:0", .token_file = (char *)token_file };
	char err[256] = "";
	mqb_http_t *http = mqb_http_start_limits(&conf, reg, lim, err, sizeof(err));

	if (!http)
		print_message("start failed: %s\n", err);
	assert_non_null(http);
	assert_true(mqb_http_port(http) > 0);
	return http;
}

/* --- built-in paths, 404, 405, HEAD ------------------------------------------------ */

static void test_builtin_paths(void **state)
{
	mqb_metrics_t *reg = mqb_metrics_new();
	mqb_http_t *http = start(reg, NULL, NULL);
	int port = mqb_http_port(http);
	char *r;
	cJSON *doc;

	mqb_counter_add(mqb_metrics_counter(reg, "mqbridge_messages_received_total", "recv",
					    "route", "r0", NULL), 42);

	assert_int_equal(req(port, "GET", "/metrics", NULL, &r), 200);
	assert_non_null(strstr(r, "Content-Type: text/plain; version=0.0.4"));
	assert_non_null(strstr(r, "mqbridge_messages_received_total{route=\"r0\"} 42\n"));
	assert_non_null(strstr(r, "mqbridge_build_info{version=\""));
	free(r);

	assert_int_equal(req(port, "GET", "/stats", NULL, &r), 200);
	assert_non_null(strstr(r, "Content-Type: application/json"));
	doc = cJSON_Parse(body_of(r));
	assert_non_null(doc);
	assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "process"), "version"));
	assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "process"), "open_fds")->valuedouble > 0);
	cJSON_Delete(doc);
	free(r);

	assert_int_equal(req(port, "GET", "/healthz", NULL, &r), 200);
	free(r);
	assert_int_equal(req(port, "GET", "/readyz", NULL, &r), 200);
	assert_string_equal(body_of(r), "ready\n");
	free(r);

	assert_int_equal(req(port, "GET", "/nope", NULL, &r), 404);
	free(r);
	assert_int_equal(req(port, "GET", "/metrics/extra", NULL, &r), 404);
	free(r);
	assert_int_equal(req(port, "POST", "/metrics", "Content-Length: 0\r\n", &r), 405);
	assert_non_null(strstr(r, "Allow: GET, HEAD\r\n"));
	free(r);
	assert_int_equal(req(port, "DELETE", "/stats", NULL, &r), 405);
	assert_non_null(strstr(r, "Allow: GET, HEAD\r\n"));
	free(r);

	/* HEAD: headers, no body. */
	assert_int_equal(req(port, "HEAD", "/metrics", NULL, &r), 200);
	assert_non_null(strstr(r, "Content-Type: text/plain; version=0.0.4"));
	assert_string_equal(body_of(r), "");
	free(r);

	/* Keep-alive: two requests on one connection (what Prometheus does). */
	{
		const char *two = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
				  "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
		int fd = connect_port(port);
		assert_true(fd >= 0);
		assert_int_equal(raw_send(fd, two, strlen(two), &r, 5000), 200);
		close(fd);
		const char *second = strstr(r + 1, "HTTP/1.1 200 OK");
		assert_non_null(second);
		assert_non_null(strstr(second, "# TYPE mqbridge_build_info gauge"));
		free(r);
	}

	/* Requests are counted by code. */
	assert_int_equal(req(port, "GET", "/metrics", NULL, &r), 200);
	assert_non_null(strstr(r, "mqbridge_http_requests_total{code=\"404\"} 2\n"));
	assert_non_null(strstr(r, "mqbridge_http_requests_total{code=\"405\"} 2\n"));
	free(r);

	mqb_http_stop(http);
	mqb_http_stop(NULL);
	mqb_metrics_destroy(reg);
}

/* --- routes and readiness ----------------------------------------------------------- */

static void groups_handler(const mqb_http_req_t *rq, mqb_http_resp_t *resp, void *arg)
{
	const char *g = mqb_http_req_query(rq, "verbose");
	(*(int *)arg)++;
	if (strcmp(mqb_http_req_path(rq), "/groups/missing") == 0) {
		mqb_http_resp_error(resp, 404, "no group %s", "missing");
		return;
	}
	mqb_http_resp_text(resp, 200, "path=%s method=%s verbose=%s\n", mqb_http_req_path(rq),
			   mqb_http_req_method(rq), g ? g : "(none)");
}

static int ready_flag;
static int check_mqtt(char *why, size_t n, void *arg)
{
	if (ready_flag)
		return 1;
	snprintf(why, n, "mqtt not connected\nsecond line is dropped");
	return 0;
}
static int check_never(char *why, size_t n, void *arg)
{
	snprintf(why, n, "store not open");
	return 0;
}

static void test_routes_and_ready(void **state)
{
	mqb_metrics_t *reg = mqb_metrics_new();
	mqb_http_t *http = start(reg, NULL, NULL);
	int port = mqb_http_port(http), calls = 0;
	char *r;

	assert_int_equal(mqb_http_add_route(http, "GET", "/groups", true, groups_handler, &calls),
			 MQB_OK);
	assert_int_equal(mqb_http_add_route(http, "GET", "/groups", true, groups_handler, &calls),
			 MQB_ERR_EXISTS);
	assert_int_equal(mqb_http_add_route(http, "GET", "/metrics", false, groups_handler, &calls),
			 MQB_ERR_EXISTS);
	assert_int_equal(mqb_http_add_route(http, "POST", "/x", false, groups_handler, &calls),
			 MQB_ERR_INVAL);
	assert_int_equal(mqb_http_add_route(http, "GET", "noslash", false, groups_handler, &calls),
			 MQB_ERR_INVAL);

	assert_int_equal(req(port, "GET", "/groups", NULL, &r), 200);
	assert_string_equal(body_of(r), "path=/groups method=GET verbose=(none)\n");
	free(r);
	assert_int_equal(req(port, "GET", "/groups/analytics?verbose=1%202", NULL, &r), 200);
	assert_string_equal(body_of(r), "path=/groups/analytics method=GET verbose=1 2\n");
	free(r);
	assert_int_equal(req(port, "HEAD", "/groups/analytics", NULL, &r), 200);
	assert_string_equal(body_of(r), "");
	free(r);
	assert_int_equal(req(port, "GET", "/groups/missing", NULL, &r), 404);
	assert_non_null(strstr(body_of(r), "\"error\""));
	free(r);
	assert_int_equal(req(port, "GET", "/groupsx", NULL, &r), 404);
	free(r);
	assert_int_equal(req(port, "PUT", "/groups/a", "Content-Length: 0\r\n", &r), 405);
	assert_non_null(strstr(r, "Allow: GET, HEAD\r\n"));
	free(r);
	assert_int_equal(calls, 4);

	assert_int_equal(mqb_http_remove_route(http, "GET", "/groups"), MQB_OK);
	assert_int_equal(mqb_http_remove_route(http, "GET", "/groups"), MQB_ERR_NOTFOUND);
	assert_int_equal(req(port, "GET", "/groups", NULL, &r), 404);
	free(r);

	/* Readiness: 503 with the first failing reason (one line), 200 when all pass. */
	ready_flag = 0;
	mqb_http_add_ready_check(http, check_mqtt, NULL);
	mqb_http_add_ready_check(http, check_never, NULL);
	assert_int_equal(req(port, "GET", "/readyz", NULL, &r), 503);
	assert_string_equal(body_of(r), "not ready: mqtt not connected\n");
	free(r);
	ready_flag = 1;
	assert_int_equal(req(port, "GET", "/readyz", NULL, &r), 503);
	assert_string_equal(body_of(r), "not ready: store not open\n");
	free(r);
	mqb_http_remove_ready_check(http, check_never, NULL);
	assert_int_equal(req(port, "GET", "/readyz", NULL, &r), 200);
	free(r);

	mqb_http_stop(http);
	mqb_metrics_destroy(reg);
}

static void test_healthz_stall(void **state)
{
	mqb_metrics_t *reg = mqb_metrics_new();
	mqb_http_t *http = start(reg, NULL, NULL);
	int port = mqb_http_port(http);
	char *r;

	mqb_http_set_stall_ms(http, 1000);   /* generous: the machine may be loaded */
	mqb_http_loop_tick(http);
	assert_int_equal(req(port, "GET", "/healthz", NULL, &r), 200);
	free(r);
	mqbt_sleep_ms(1300);
	assert_int_equal(req(port, "GET", "/healthz", NULL, &r), 503);
	assert_non_null(strstr(body_of(r), "main loop stalled"));
	free(r);
	mqb_http_loop_tick(http);
	assert_int_equal(req(port, "GET", "/healthz", NULL, &r), 200);
	free(r);
	mqb_http_stop(http);
	mqb_metrics_destroy(reg);
}

/* --- token -------------------------------------------------------------------------- */

static void test_token(void **state)
{
	mqb_metrics_t *reg = mqb_metrics_new();
	char dir[256], path[300], empty[300], err[256];
	mqb_stats_conf_t conf = { .listen = "127.0.0.1:0" };
	mqb_http_t *http;
	int port;
	char *r;

	assert_int_equal(mqbt_tmpdir(dir, sizeof(dir)), 0);
	snprintf(path, sizeof(path), "%s/token", dir);
	snprintf(empty, sizeof(empty), "%s/empty", dir);
	assert_int_equal(mqbt_write_file(path, "  s3cret-Token  \nignored second line\n"), 0);
	assert_int_equal(mqbt_write_file(empty, "\n"), 0);

	http = start(reg, path, NULL);
	port = mqb_http_port(http);
	assert_int_equal(req(port, "GET", "/metrics", NULL, &r), 401);
	assert_non_null(strstr(r, "WWW-Authenticate: Bearer"));
	free(r);
	assert_int_equal(req(port, "GET", "/nope", NULL, &r), 401);   /* no probing */
	free(r);
	assert_int_equal(req(port, "GET", "/metrics", "Authorization: Bearer wrong\r\n", &r), 401);
	free(r);
	assert_int_equal(req(port, "GET", "/metrics", "Authorization: Bearer s3cret-Toke\r\n", &r), 401);
	free(r);
	assert_int_equal(req(port, "GET", "/metrics", "Authorization: Bearer s3cret-Token2\r\n", &r), 401);
	free(r);
	assert_int_equal(req(port, "GET", "/metrics", "Authorization: Basic s3cret-Token\r\n", &r), 401);
	free(r);
	assert_int_equal(req(port, "GET", "/metrics", "Authorization: Bearer\r\n", &r), 401);
	free(r);
	assert_int_equal(req(port, "GET", "/metrics", "Authorization: Bearer s3cret-Token\r\n", &r), 200);
	assert_non_null(strstr(r, "mqbridge_build_info"));
	free(r);
	assert_int_equal(req(port, "GET", "/healthz", "Authorization: bearer  s3cret-Token\r\n", &r), 200);
	free(r);
	mqb_http_stop(http);

	/* Missing and empty token files refuse to start. */
	conf.token_file = empty;
	assert_null(mqb_http_start(&conf, reg, err, sizeof(err)));
	assert_non_null(strstr(err, "empty token"));
	snprintf(empty, sizeof(empty), "%s/missing", dir);
	conf.token_file = empty;
	assert_null(mqb_http_start(&conf, reg, err, sizeof(err)));
	assert_non_null(strstr(err, "missing"));
	mqbt_rmrf(dir);
	mqb_metrics_destroy(reg);
}

/* --- bad requests ------------------------------------------------------------------- */

static void test_huge_header_and_malformed(void **state)
{
	mqb_metrics_t *reg = mqb_metrics_new();
	mqb_http_t *http = start(reg, NULL, NULL);
	int port = mqb_http_port(http), st;
	size_t big = 64 * 1024;
	char *raw = malloc(big + 256), *r;
	int n = sprintf(raw, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ");

	memset(raw + n, 'a', big);
	n += (int)big;
	n += sprintf(raw + n, "\r\nConnection: close\r\n\r\n");
	st = raw_request(port, raw, (size_t)n, &r);
	print_message("64 KiB header -> %d\n", st);
	assert_true(st >= 400 && st < 500);
	free(r);
	free(raw);
	assert_int_equal(req(port, "GET", "/metrics", NULL, &r), 200);
	free(r);

	/* A missing Host (HTTP/1.1) is answered 400. Lines libmicrohttpd cannot parse at
	 * all (no method/URI/version) are closed without an answer; either way quickly,
	 * and the endpoint keeps serving. */
	assert_int_equal(RAW(port, "GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n", &r), 400);
	free(r);
	{
		const char *junk[] = { "GARBAGE\r\n\r\n", "GET\r\n\r\n", "\x01\x02\x03 / HTTP/1.1\r\n\r\n",
				       "GET /metrics HTTP/9.9\r\nHost: x\r\n\r\n",
				       "GET /metrics HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n",
				       "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n",
				       "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
				       NULL };
		for (int i = 0; junk[i]; i++) {
			int64_t t0 = mqbt_now_ms();
			st = RAW(port, junk[i], &r);
			print_message("junk %d -> %d\n", i, st);
			assert_true(st == -1 || (st >= 400 && st < 600));
			assert_true(mqbt_now_ms() - t0 < 2000);
			free(r);
			assert_int_equal(req(port, "GET", "/healthz", NULL, &r), 200);
			free(r);
		}
	}
	/* A GET with a body is refused before the body is read. */
	assert_int_equal(RAW(port, "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nab", &r), 400);
	free(r);
	assert_int_equal(req(port, "GET", "/healthz", NULL, &r), 200);
	free(r);
	mqb_http_stop(http);
	mqb_metrics_destroy(reg);
}

static void test_slow_clients(void **state)
{
	mqb_metrics_t *reg = mqb_metrics_new();
	mqb_http_t *http = start(reg, NULL, NULL);
	int port = mqb_http_port(http), fds[21];
	int64_t t0;
	char *r;

	/* 20 clients that connect and send nothing, one stuck mid request line. */
	for (int i = 0; i < 20; i++)
		assert_true((fds[i] = connect_port(port)) >= 0);
	assert_true((fds[20] = connect_port(port)) >= 0);
	assert_true(send(fds[20], "GET /metr", 9, MSG_NOSIGNAL) == 9);
	mqbt_sleep_ms(100);
	for (int i = 0; i < 5; i++) {
		t0 = mqbt_now_ms();
		assert_int_equal(req(port, "GET", "/metrics", NULL, &r), 200);
		free(r);
		assert_true(mqbt_now_ms() - t0 < 3000);   /* not the 10 s idle timeout */
	}
	for (int i = 0; i < 21; i++)
		close(fds[i]);
	mqb_http_stop(http);   /* must not hang on idle connections either */
	mqb_metrics_destroy(reg);
}

static void test_flood_recovers(void **state)
{
	mqb_metrics_t *reg = mqb_metrics_new();
	mqb_http_limits_t lim = { .connections = 8, .timeout_s = 1 };
	mqb_http_t *http = start(reg, NULL, &lim);
	int port = mqb_http_port(http), fds[24], st = -1;
	int64_t t0;
	char *r = NULL;

	/* 24 idle connections against a limit of 8: libmicrohttpd stops accepting at the
	 * limit (the rest wait in the kernel's backlog) and closes idle ones after the
	 * timeout, so the endpoint answers again after about (24 / 8) x 1 s. */
	for (int i = 0; i < 24; i++)
		fds[i] = connect_port(port);
	t0 = mqbt_now_ms();
	while (mqbt_now_ms() - t0 < 15000) {
		st = req(port, "GET", "/healthz", NULL, &r);
		free(r);
		r = NULL;
		if (st == 200)
			break;
		mqbt_sleep_ms(100);
	}
	print_message("endpoint answered again after %lld ms\n",
		      (long long)(mqbt_now_ms() - t0));
	assert_int_equal(st, 200);
	assert_true(mqbt_now_ms() - t0 < 8000);
	for (int i = 0; i < 24; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	mqb_http_stop(http);
	mqb_metrics_destroy(reg);
}

/* --- listen ------------------------------------------------------------------------- */

static void test_listen_parse(void **state)
{
	char host[64], err[256];
	int port;
	const char *bad[] = { "nocolon", "1.2.3.4:", ":9883", "::1:9883", "127.0.0.1:70000",
			      "127.0.0.1:-1", "[::1]9883", "[::1]:", "127.0.0.1:12x", NULL };

	assert_int_equal(mqb_listen_parse("127.0.0.1:9883", host, sizeof(host), &port, err,
					  sizeof(err)), MQB_OK);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 9883);
	assert_int_equal(mqb_listen_parse("[::1]:80", host, sizeof(host), &port, err,
					  sizeof(err)), MQB_OK);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 80);
	for (int i = 0; bad[i]; i++) {
		err[0] = '\0';
		assert_int_equal(mqb_listen_parse(bad[i], host, sizeof(host), &port, err,
						  sizeof(err)), MQB_ERR_INVAL);
		assert_non_null(strstr(err, "stats.listen"));
	}
	assert_true(mqb_http_listen_disabled("off"));
	assert_true(mqb_http_listen_disabled(""));
	assert_false(mqb_http_listen_disabled("127.0.0.1:1"));
	assert_false(mqb_http_listen_disabled(NULL));
}

static void test_listen_open(void **state)
{
	mqb_metrics_t *reg = mqb_metrics_new();
	mqb_stats_conf_t conf = { 0 };
	char err[256], spec[64];
	bool lo;
	int port, fd;
	mqb_http_t *http, *h2;
	char *r;

	/* Loopback v4; the same port twice: the second start fails with a reason. */
	conf.listen = "127.0.0.1:0";
	http = mqb_http_start(&conf, reg, err, sizeof(err));
	assert_non_null(http);
	snprintf(spec, sizeof(spec), "127.0.0.1:%d", mqb_http_port(http));
	conf.listen = spec;
	h2 = mqb_http_start(&conf, reg, err, sizeof(err));
	assert_null(h2);
	assert_non_null(strstr(err, "in use"));
	mqb_http_stop(http);

	/* Not loopback: allowed (it was configured), reported as such. */
	fd = mqb_listen_open("0.0.0.0:0", &lo, &port, err, sizeof(err));
	assert_true(fd >= 0);
	assert_false(lo);
	close(fd);
	fd = mqb_listen_open("127.0.0.2:0", &lo, &port, err, sizeof(err));
	assert_true(fd >= 0);
	assert_true(lo);
	close(fd);
	assert_true(mqb_listen_open("no.such.host.invalid:1", &lo, &port, err, sizeof(err)) < 0);
	assert_true(mqb_listen_open("192.0.2.1:0", &lo, &port, err, sizeof(err)) < 0);

	/* IPv6 loopback, when the machine has it. */
	conf.listen = "[::1]:0";
	http = mqb_http_start(&conf, reg, err, sizeof(err));
	if (http) {
		int s6 = socket(AF_INET6, SOCK_STREAM, 0);
		struct sockaddr_in6 a = { .sin6_family = AF_INET6,
					  .sin6_port = htons((uint16_t)mqb_http_port(http)) };
		a.sin6_addr = in6addr_loopback;
		assert_int_equal(connect(s6, (struct sockaddr *)&a, sizeof(a)), 0);
		assert_int_equal(raw_send(s6, "GET /healthz HTTP/1.1\r\nHost: x\r\n"
					  "Connection: close\r\n\r\n", 53, &r, 5000), 200);
		free(r);
		close(s6);
		mqb_http_stop(http);
	} else {
		print_message("no IPv6 loopback here (%s); v6 bind not exercised\n", err);
	}

	conf.listen = "off";
	assert_null(mqb_http_start(&conf, reg, err, sizeof(err)));
	assert_non_null(strstr(err, "disabled"));
	mqb_metrics_destroy(reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_builtin_paths),
		cmocka_unit_test(test_routes_and_ready),
		cmocka_unit_test(test_healthz_stall),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_huge_header_and_malformed),
		cmocka_unit_test(test_slow_clients),
		cmocka_unit_test(test_flood_recovers),
		cmocka_unit_test(test_listen_parse),
		cmocka_unit_test(test_listen_open),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
