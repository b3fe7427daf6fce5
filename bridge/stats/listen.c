/* listen.c — stats.listen parsing and the listening socket. */
#include "bridge/stats/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge/err.h"

int mqb_listen_parse(const char *spec, char *host, size_t host_size, int *port,
		     char *errstr, size_t errstr_size)
{
	const char *h, *colon, *p;
	size_t hl;
	char *end;
	long v;

	if (!spec || !*spec)
		goto bad;
	if (spec[0] == '[') {
		const char *rb = strchr(spec, ']');
		if (!rb || rb[1] != ':')
			goto bad;
		h = spec + 1;
		hl = (size_t)(rb - h);
		p = rb + 2;
	} else {
		colon = strrchr(spec, ':');
		if (!colon)
			goto bad;
		if (memchr(spec, ':', (size_t)(colon - spec))) {
			mqb_errstr_set(errstr, errstr_size, "stats.listen \"%s\": write an IPv6 "
				       "address in brackets, e.g. \"[::1]:9883\"", spec);
			return MQB_ERR_INVAL;
		}
		h = spec;
		hl = (size_t)(colon - spec);
		p = colon + 1;
	}
	if (hl == 0 || hl >= host_size)
		goto bad;
	if (*p < '0' || *p > '9')
		goto bad;
	errno = 0;
	v = strtol(p, &end, 10);
	if (errno || *end || v < 0 || v > 65535)
		goto bad;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (int)v;
	return MQB_OK;
bad:
	mqb_errstr_set(errstr, errstr_size, "stats.listen \"%s\": expected \"host:port\" or "
		       "\"[v6addr]:port\" with a port 0..65535", spec ? spec : "");
	return MQB_ERR_INVAL;
}

bool mqb_addr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127;
	}
	return false;
}

int mqb_listen_open(const char *spec, bool *loopback, int *port_out,
		    char *errstr, size_t errstr_size)
{
	char host[256], portstr[8];
	struct addrinfo hints, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int port, fd = -1, rc, one = 1;

	rc = mqb_listen_parse(spec, host, sizeof(host), &port, errstr, errstr_size);
	if (rc)
		return rc;
	snprintf(portstr, sizeof(portstr), "%d", port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(host, portstr, &hints, &ai);
	if (rc) {
		mqb_errstr_set(errstr, errstr_size, "stats.listen \"%s\": %s", spec,
			       gai_strerror(rc));
		return MQB_ERR_INVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto syserr;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 256) < 0)
		goto syserr;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		goto syserr;
	if (loopback)
		*loopback = mqb_addr_is_loopback((struct sockaddr *)&ss);
	if (port_out)
		*port_out = ss.ss_family == AF_INET6
			? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
			: ntohs(((struct sockaddr_in *)&ss)->sin_port);
	freeaddrinfo(ai);
	return fd;
syserr:
	rc = errno;
	mqb_errstr_set(errstr, errstr_size, "stats.listen \"%s\": %s", spec, strerror(rc));
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return mqb_err_from_errno(rc) == MQB_OK ? MQB_ERR_IO : mqb_err_from_errno(rc);
}
