/*
 * test_daemon.c — mqbridged as a process: arguments and exit codes, --check-config,
 * systemd notifications (READY=1 after SUBACK, STATUS=, WATCHDOG=1, STOPPING=1 on a
 * NOTIFY_SOCKET the test listens on), SIGHUP reloads and keeps running, SIGTERM stores what it
 * holds and exits 0, a second daemon on the same data_dir is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/integration/ingest_util.h"

static const char *const ROUTES =
	"streams = ( { name = \"telemetry\"; partitions = 4; } );\n"
	"routes = ( { filter = \"sensors/+/telemetry\"; stream = \"telemetry\"; key = \"{1}\"; "
	"qos = 1; } );";

static int run_daemon(const char *const extra[], char **out)
{
	const char *argv[8] = { mqbt_bin("mqbridged") };
	size_t i;

	for (i = 0; extra[i] && i < 6; i++)
		argv[i + 1] = extra[i];
	argv[i + 1] = NULL;
	return mqbt_run(argv, out, NULL, 20000);
}

static void test_args(void **state)
{
	char dir[256], good[300], bad[300], *out = NULL;

	(void)state;
	assert_int_equal(run_daemon((const char *[]){ "--version", NULL }, &out), 0);
	assert_non_null(strstr(out, "mqbridged " MQB_VERSION));
	free(out);
	assert_int_equal(run_daemon((const char *[]){ "--help", NULL }, &out), 0);
	assert_non_null(strstr(out, "--check-config"));
	free(out);
	/* bad usage: exit 2 */
	assert_int_equal(run_daemon((const char *[]){ NULL }, NULL), 2);
	assert_int_equal(run_daemon((const char *[]){ "--bogus", NULL }, NULL), 2);
	assert_int_equal(run_daemon((const char *[]){ "-c", NULL }, NULL), 2);
	assert_int_equal(run_daemon((const char *[]){ "-c", "x.conf", "extra", NULL }, NULL), 2);

	assert_int_equal(mqbt_tmpdir(dir, sizeof dir), 0);
	snprintf(good, sizeof good, "%s/good.conf", dir);
	snprintf(bad, sizeof bad, "%s/bad.conf", dir);
	assert_int_equal(mqbt_write_file(good, "data_dir = \"/tmp/x\";\n"
					 "streams = ( { name = \"s\"; partitions = 2; } );\n"
					 "routes = ( { filter = \"a/+\"; stream = \"s\"; } );\n"), 0);
	assert_int_equal(run_daemon((const char *[]){ "--check-config", "-c", good, NULL }, &out), 0);
	assert_non_null(strstr(out, "configuration OK"));
	free(out);

	/* errors name file:line and the key; exit 1 (message on stderr) */
	assert_int_equal(mqbt_write_file(bad, "data_dir = \"/tmp/x\";\n"
					 "streams = ( { name = \"s\"; partitions = 2; } );\n"
					 "routes = ( { filter = \"a/+\"; stream = \"nope\"; } );\n"), 0);
	{
		const char *const argv[] = { "/bin/sh", "-c", "\"$0\" --check-config -c \"$1\" 2>&1",
					     mqbt_bin("mqbridged"), bad, NULL };
		assert_int_equal(mqbt_run(argv, &out, NULL, 20000), 1);
		assert_non_null(strstr(out, "bad.conf:3"));
		assert_non_null(strstr(out, "stream"));
		free(out);
	}
	/* the MQTT connector's own check: an unreadable password file */
	assert_int_equal(mqbt_write_file(bad, "data_dir = \"/tmp/x\";\n"
					 "mqtt = { username = \"u\";\n"
					 "  password_file = \"/nonexistent/pw\"; };\n"), 0);
	{
		const char *const argv[] = { "/bin/sh", "-c", "\"$0\" --check-config -c \"$1\" 2>&1",
					     mqbt_bin("mqbridged"), bad, NULL };
		assert_int_equal(mqbt_run(argv, &out, NULL, 20000), 1);
		assert_non_null(strstr(out, "password_file"));
		free(out);
	}
	/* a missing file */
	assert_int_equal(run_daemon((const char *[]){ "--check-config", "-c", "/nonexistent.conf",
						      NULL }, NULL), 1);
	assert_int_equal(run_daemon((const char *[]){ "-c", "/nonexistent.conf", NULL }, NULL), 1);
	mqbt_rmrf(dir);
}

/* Collect every datagram sent to the notify socket during ms milliseconds. */
static void notify_collect(int fd, char *buf, size_t size, int ms)
{
	int64_t dl = mqbt_now_ms() + ms;
	size_t len = strlen(buf);

	while (mqbt_now_ms() < dl) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, 20) > 0) {
			ssize_t n = recv(fd, buf + len, size - len - 2, 0);

			if (n > 0) {
				len += (size_t)n;
				buf[len++] = '\n';
				buf[len] = '\0';
			}
		}
	}
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* READY=1 only after the subscription is acknowledged; watchdog pings at half of
 * WATCHDOG_USEC; SIGHUP reloads (same file: no change) between RELOADING=1 and READY=1; SIGTERM: STOPPING=1, the
 * records are stored, exit 0, and the store was closed cleanly. */
static void test_lifecycle_notify(void **state)
{
	static mqbt_broker_t b;
	static iu_daemon_t d;
	iu_pub_t pub;
	iu_records_t rs;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char env_sock[200], buf[16384] = "", *log;
	int fd, i;

	(void)state;
	iu_track_broker(&b);
	iu_track_daemon(&d);
	assert_int_equal(mqbt_mosquitto_start(&b, NULL), 0);
	assert_int_equal(mqbt_tmpdir(d.dir, sizeof d.dir), 0);
	assert_int_equal(iu_daemon_config(&d, b.port, "daemon-test", NULL, ROUTES), 0);

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof sa.sun_path, "%.90s/notify.sock", d.dir);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	snprintf(env_sock, sizeof env_sock, "NOTIFY_SOCKET=%s", sa.sun_path);
	{
		const char *const env[] = { env_sock, "WATCHDOG_USEC=400000", NULL };
		assert_int_equal(iu_daemon_start(&d, env), 0);
	}
	if (iu_daemon_wait_ready(&d, 10000) != 0) {
		iu_daemon_dump_log(&d);
		fail_msg("mqbridged did not become ready");
	}
	notify_collect(fd, buf, sizeof buf, 700);
#ifdef MQB_HAVE_SYSTEMD
	assert_non_null(strstr(buf, "READY=1"));
	assert_non_null(strstr(buf, "STATUS="));
	assert_true(count(buf, "WATCHDOG=1") >= 2);   /* every 200 ms */
	/* READY came after the log line saying every route is subscribed */
	log = mqbt_read_file(d.log, NULL);
	assert_non_null(strstr(log, "connected to 127.0.0.1"));
	free(log);
#else
	fprintf(stderr, "built without libsystemd: notifications are no-ops\n");
	assert_null(strstr(buf, "READY=1"));
#endif

	assert_int_equal(iu_pub_start(&pub, b.port, "daemon-test-pub", true), 0);
	for (i = 0; i < 100; i++) {
		char topic[64], payload[16];

		snprintf(topic, sizeof topic, "sensors/dev%d/telemetry", i % 10);
		snprintf(payload, sizeof payload, "%d", i);
		assert_int_equal(iu_pub_send(&pub, topic, payload, strlen(payload), 1, NULL), 0);
	}
	assert_int_equal(iu_pub_wait_acked(&pub, 10000), 0);
	iu_pub_stop(&pub);

	/* SIGHUP with the same file: a reload that changes nothing, announced to
	 * systemd as RELOADING=1 (with MONOTONIC_USEC) then READY=1 */
	buf[0] = '\0';
	mqbt_kill(d.pid, SIGHUP);
	notify_collect(fd, buf, sizeof buf, 200);
	assert_int_equal(mqbt_wait(d.pid, 0), -1);   /* still running */
#ifdef MQB_HAVE_SYSTEMD
	{
		const char *rl = strstr(buf, "RELOADING=1\nMONOTONIC_USEC=");

		if (!rl || !strstr(rl, "READY=1"))
			fail_msg("no RELOADING=1 ... READY=1 around the reload: %s", buf);
	}
#endif
	mqbt_sleep_ms(300);   /* the last messages reach ingest */
	mqbt_kill(d.pid, SIGTERM);
	assert_int_equal(mqbt_wait(d.pid, 15000), 0);
	notify_collect(fd, buf, sizeof buf, 100);
#ifdef MQB_HAVE_SYSTEMD
	assert_non_null(strstr(buf, "STOPPING=1"));
#endif
	close(fd);
	log = mqbt_read_file(d.log, NULL);
	assert_non_null(strstr(log, "SIGHUP: reloading"));
	assert_non_null(strstr(log, "reload: no change"));
	assert_non_null(strstr(log, "store closed cleanly"));
	free(log);

	assert_int_equal(iu_read_stream(d.data, "telemetry", 4, &rs), 0);
	assert_int_equal(rs.n, 100);
	iu_records_free(&rs);
	mqbt_mosquitto_destroy(&b);
	mqbt_rmrf(d.dir);
}

/* A second mqbridged on the same data_dir is refused (exit 1, names the holder);
 * the first keeps working. */
static void test_store_locked(void **state)
{
	static mqbt_broker_t b;
	static iu_daemon_t d, d2;
	char *log;

	(void)state;
	iu_track_broker(&b);
	iu_track_daemon(&d);
	iu_track_daemon(&d2);
	assert_int_equal(mqbt_mosquitto_start(&b, NULL), 0);
	assert_int_equal(mqbt_tmpdir(d.dir, sizeof d.dir), 0);
	assert_int_equal(iu_daemon_config(&d, b.port, "lock-test", NULL, ROUTES), 0);
	assert_int_equal(iu_daemon_start(&d, NULL), 0);
	assert_int_equal(iu_daemon_wait_ready(&d, 10000), 0);

	memcpy(d2.dir, d.dir, sizeof d.dir);
	snprintf(d2.conf, sizeof d2.conf, "%s", d.conf);
	snprintf(d2.log, sizeof d2.log, "%s/second.log", d.dir);
	{
		const char *argv[] = { mqbt_bin("mqbridged"), "-c", d.conf, NULL };
		assert_int_equal(mqbt_spawn(&d2.pid, argv, d2.log), 0);
	}
	assert_int_equal(mqbt_wait(d2.pid, 10000), 1);
	log = mqbt_read_file(d2.log, NULL);
	assert_non_null(log);
	assert_non_null(strstr(log, "cannot open the store"));
	free(log);
	assert_int_equal(mqbt_wait(d.pid, 0), -1);   /* the first one is unharmed */
	assert_int_equal(mqbt_stop(d.pid, 10000), 0);
	mqbt_mosquitto_destroy(&b);
	mqbt_rmrf(d.dir);
}

/* The broker is not there when mqbridged starts: it keeps retrying (backoff), is not
 * ready meanwhile, and becomes ready as soon as the broker appears. */
static void test_broker_late(void **state)
{
	static mqbt_broker_t b;
	static iu_daemon_t d;
	char *log;

	(void)state;
	iu_track_broker(&b);
	iu_track_daemon(&d);
	b.port = mqbt_free_port();
	assert_int_equal(mqbt_tmpdir(d.dir, sizeof d.dir), 0);
	assert_int_equal(iu_daemon_config(&d, b.port, "late-test", NULL, ROUTES), 0);
	assert_int_equal(iu_daemon_start(&d, NULL), 0);
	mqbt_sleep_ms(1200);
	assert_int_equal(mqbt_wait(d.pid, 0), -1);   /* running */
	log = mqbt_read_file(d.log, NULL);
	assert_non_null(strstr(log, "cannot connect to 127.0.0.1"));
	assert_null(strstr(log, "ready: "));
	free(log);
	assert_int_equal(mqbt_mosquitto_start(&b, NULL), 0);
	if (iu_daemon_wait_ready(&d, 10000) != 0) {
		iu_daemon_dump_log(&d);
		fail_msg("not ready after the broker came up");
	}
	assert_int_equal(mqbt_stop(d.pid, 10000), 0);
	d.pid = 0;
	mqbt_mosquitto_destroy(&b);
	mqbt_rmrf(d.dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_args, iu_teardown),
		cmocka_unit_test_teardown(test_lifecycle_notify, iu_teardown),
		cmocka_unit_test_teardown(test_store_locked, iu_teardown),
		cmocka_unit_test_teardown(test_broker_late, iu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
