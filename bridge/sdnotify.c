/*
 * sdnotify.c — see sdnotify.h. The notification protocol itself (sd_notify(3),
 * "NOTIFY_SOCKET"): one datagram of "KEY=VALUE\n..." to the AF_UNIX socket named by
 * $NOTIFY_SOCKET (a path, or "@name" in the abstract namespace). Spoken here directly
 * rather than through libsystemd: linking libsystemd mapped five more libraries
 * (libsystemd, libgcrypt, libgpg-error, libcap, liblzma) at every start, 3-5 ms of
 * CPU and ~50 page faults of the loader before main() (issue 15).
 */
#include "bridge/sdnotify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int mqb_sd_notify(const char *state)
{
#ifdef MQB_HAVE_SYSTEMD
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t plen, slen;
	socklen_t salen;
	int fd;
	ssize_t n;

	if (!state)
		return -EINVAL;
	if (!path || !*path)
		return 0;
	plen = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || plen >= sizeof sa.sun_path)
		return -EAFNOSUPPORT;   /* vsock addresses and the like: not for us */
	memcpy(sa.sun_path, path, plen);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';   /* abstract namespace: no terminating NUL counted */
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen +
			    (path[0] == '/' ? 1 : 0));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	slen = strlen(state);
	n = sendto(fd, state, slen, MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
	if (n < 0)
		n = -errno;
	close(fd);
	return n < 0 ? (int)n : 1;
#else
	(void)state;
	return 0;
#endif
}

int mqb_sd_notifyf(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return mqb_sd_notify(buf);
}

/* A decimal number that is all digits and fits: 0 ok, -1 otherwise. */
static int parse_u64(const char *s, unsigned long long *out)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || *end ? -1 : 0;
}

uint64_t mqb_sd_watchdog_usec(void)
{
#ifdef MQB_HAVE_SYSTEMD
	unsigned long long usec, pid;
	const char *p = getenv("WATCHDOG_PID");

	/* as sd_watchdog_enabled(3): WATCHDOG_PID, when set, must name this process */
	if (p && (parse_u64(p, &pid) != 0 || pid != (unsigned long long)getpid()))
		return 0;
	if (parse_u64(getenv("WATCHDOG_USEC"), &usec) != 0 || usec == 0)
		return 0;
	return (uint64_t)usec;
#else
	return 0;
#endif
}
