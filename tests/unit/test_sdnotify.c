/*
 * test_sdnotify.c — the sd_notify protocol spoken without libsystemd (bridge/sdnotify.h):
 * a datagram reaches a socket named by NOTIFY_SOCKET as a path and as "@name" in the
 * abstract namespace; no NOTIFY_SOCKET is a quiet no-op; an address of another kind is
 * refused; WATCHDOG_USEC is read only when it is a whole number and WATCHDOG_PID (when
 * set) names this process.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "bridge/sdnotify.h"
#include "tests/support/harness.h"

/* A datagram socket bound at name ('@' first: abstract). */
static int bound(const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(name);
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
				    (name[0] == '@' ? 0 : 1));
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memcpy(sa.sun_path, name, n);
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, len), 0);
	return fd;
}

static void expect_datagram(int fd, const char *want)
{
	char buf[600];
	ssize_t n = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);

	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, want);
}

static void test_notify(void **state)
{
	char dir[256], path[300], abs[64];
	int fd;

	(void)state;
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(mqb_sd_notify("READY=1"), 0);   /* no systemd: nothing to tell */

	assert_int_equal(mqbt_tmpdir(dir, sizeof dir), 0);
	snprintf(path, sizeof path, "%s/notify", dir);
	fd = bound(path);
	setenv("NOTIFY_SOCKET", path, 1);
	assert_int_equal(mqb_sd_notify("READY=1\nSTATUS=running"), 1);
	expect_datagram(fd, "READY=1\nSTATUS=running");
	assert_int_equal(mqb_sd_notifyf("STATUS=%s %d", "degraded:", 3), 1);
	expect_datagram(fd, "STATUS=degraded: 3");
	close(fd);
	mqbt_rmrf(dir);
	/* nobody listens there any more: an error, not a crash */
	assert_true(mqb_sd_notify("WATCHDOG=1") < 0);

	snprintf(abs, sizeof abs, "@mqbt-notify-%d", (int)getpid());
	fd = bound(abs);
	setenv("NOTIFY_SOCKET", abs, 1);
	assert_int_equal(mqb_sd_notify("STOPPING=1"), 1);
	expect_datagram(fd, "STOPPING=1");
	close(fd);

	setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
	assert_true(mqb_sd_notify("READY=1") < 0);
	setenv("NOTIFY_SOCKET", "/", 1);
	assert_true(mqb_sd_notify("READY=1") < 0);
	unsetenv("NOTIFY_SOCKET");
}

static void test_watchdog(void **state)
{
	char pid[32];

	(void)state;
	unsetenv("WATCHDOG_PID");
	unsetenv("WATCHDOG_USEC");
	assert_int_equal(mqb_sd_watchdog_usec(), 0);
	setenv("WATCHDOG_USEC", "400000", 1);
	assert_int_equal(mqb_sd_watchdog_usec(), 400000);
	snprintf(pid, sizeof pid, "%d", (int)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	assert_int_equal(mqb_sd_watchdog_usec(), 400000);
	snprintf(pid, sizeof pid, "%d", (int)getpid() + 1);
	setenv("WATCHDOG_PID", pid, 1);   /* meant for another process */
	assert_int_equal(mqb_sd_watchdog_usec(), 0);
	setenv("WATCHDOG_PID", "12x", 1);
	assert_int_equal(mqb_sd_watchdog_usec(), 0);
	unsetenv("WATCHDOG_PID");
	static const char *const bad[] = { "", "0", "-5", "4e5", "400000 ", " 400000",
					   "99999999999999999999999" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		setenv("WATCHDOG_USEC", bad[i], 1);
		assert_int_equal(mqb_sd_watchdog_usec(), 0);
	}
	unsetenv("WATCHDOG_USEC");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_notify),
		cmocka_unit_test(test_watchdog),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
