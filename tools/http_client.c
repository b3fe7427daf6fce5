/* http_client.c — the CLI's one HTTP client: GET a JSON document from mqbridged's
 * stats endpoint (groups list/describe, offsets translate). See cli.h. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bridge/clock.h"
#include "tools/cli.h"

#define CLI_HTTP_TIMEOUT_MS 5000
#define CLI_HTTP_MAX_BODY (16u << 20)

int mqb_cli_http_get(const char *url, const char *path, char **body)
{
	char host[256], port[16] = "80", req[2048];
	int fd = -1, status = -1;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai = NULL;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	*body = NULL;
	if (strncmp(url, "http://", 7) != 0) {
		mqb_cli_error("--url must start with http:// (got %s)", url);
		return -1;
	}
	const char *p = url + 7;
	size_t hl = strcspn(p, ":/");
	if (hl == 0 || hl >= sizeof(host)) {
		mqb_cli_error("bad --url %s", url);
		return -1;
	}
	memcpy(host, p, hl);
	host[hl] = '\0';
	p += hl;
	if (*p == ':') {
		size_t pl = strcspn(++p, "/");
		if (pl == 0 || pl >= sizeof(port)) {
			mqb_cli_error("bad port in --url %s", url);
			return -1;
		}
		memcpy(port, p, pl);
		port[pl] = '\0';
	}
	int gai = getaddrinfo(host, port, &hints, &ai);
	if (gai) {
		mqb_cli_error("%s: %s", host, gai_strerror(gai));
		return -1;
	}
	fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		mqb_cli_error("cannot connect to %s:%s (is mqbridged running with its stats "
			      "endpoint there?): %s", host, port, strerror(errno));
		goto out;
	}
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\n"
			 "Connection: close\r\n\r\n", path, host);
	if (n < 0 || (size_t)n >= sizeof(req) || write(fd, req, (size_t)n) != n) {
		mqb_cli_error("cannot send the request to %s", url);
		goto out;
	}
	int64_t deadline = mqb_mono_ms() + CLI_HTTP_TIMEOUT_MS;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - mqb_mono_ms();
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
			mqb_cli_error("no answer from %s within %d ms", url, CLI_HTTP_TIMEOUT_MS);
			goto out;
		}
		if (len + 4096 + 1 > cap) {
			if (cap >= CLI_HTTP_MAX_BODY) {
				mqb_cli_error("answer from %s too large", url);
				goto out;
			}
			cap = cap ? cap * 2 : 8192;
			char *nb = realloc(buf, cap);
			if (!nb)
				goto out;
			buf = nb;
		}
		ssize_t r = read(fd, buf + len, cap - len - 1);
		if (r < 0) {
			mqb_cli_error("reading from %s: %s", url, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (!buf)
		goto out;
	buf[len] = '\0';
	char *hdr_end = strstr(buf, "\r\n\r\n");
	if (!hdr_end || sscanf(buf, "HTTP/%*s %d", &status) != 1) {
		mqb_cli_error("malformed answer from %s", url);
		status = -1;
		goto out;
	}
	*body = strdup(hdr_end + 4);
	if (!*body)
		status = -1;
out:
	if (fd >= 0)
		close(fd);
	if (ai)
		freeaddrinfo(ai);
	free(buf);
	return status;
}
