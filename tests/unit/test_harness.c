/* test_harness.c — the test harness itself works: a real mosquitto starts on a free
 * port, answers, restarts on the same port, and children are run and reaped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/harness.h"

static void test_run_captures_output(void **state)
{
	const char *argv[] = { "/bin/sh", "-c", "echo hello; exit 3", NULL };
	char *out = NULL;
	size_t len = 0;

	assert_int_equal(mqbt_run(argv, &out, &len, 5000), 3);
	assert_non_null(out);
	assert_string_equal(out, "hello\n");
	free(out);
}

static void test_run_times_out(void **state)
{
	const char *argv[] = { "/bin/sleep", "10", NULL };
	int64_t t0 = mqbt_now_ms();

	assert_int_equal(mqbt_run(argv, NULL, NULL, 300), -1);
	assert_true(mqbt_now_ms() - t0 < 3000);
}

static void test_mosquitto_start_restart(void **state)
{
	mqbt_broker_t b = { 0 };

	assert_int_equal(mqbt_mosquitto_start(&b, NULL), 0);
	assert_true(b.port > 0);
	assert_int_equal(mqbt_wait_port(b.port, 1000), 0);
	int port = b.port;
	assert_int_equal(mqbt_mosquitto_restart(&b), 0);
	assert_int_equal(b.port, port);
	assert_int_equal(mqbt_wait_port(b.port, 1000), 0);
	mqbt_mosquitto_destroy(&b);
	assert_int_equal(mqbt_wait_port(port, 300), -1);
}

/* mqbt_proc_field: a number after "name:", -1 for a missing line or file; a name that
 * is only the prefix of another (VmRSS / VmRSSx) does not match it. */
static void test_proc_field(void **state)
{
	char path[64];
	int64_t pid = mqbt_proc_field("/proc/self/status", "Pid");

	(void)state;
	assert_int_equal(pid, (int64_t)getpid());
	assert_true(mqbt_proc_field("/proc/self/status", "VmRSS") > 0);
	assert_int_equal(mqbt_proc_field("/proc/self/status", "VmRS"), -1);
	assert_int_equal(mqbt_proc_field("/proc/self/status", "NoSuchField"), -1);
	assert_true(mqbt_proc_field("/proc/self/io", "syscr") > 0);
	snprintf(path, sizeof(path), "/proc/%d/nonexistent", (int)getpid());
	assert_int_equal(mqbt_proc_field(path, "syscr"), -1);
}

static void test_spawn_kill(void **state)
{
	const char *argv[] = { "/bin/sleep", "30", NULL };
	pid_t pid;

	assert_int_equal(mqbt_spawn(&pid, argv, NULL), 0);
	assert_int_equal(mqbt_wait(pid, 100), -1);
	mqbt_kill(pid, SIGKILL);
	assert_int_equal(mqbt_wait(pid, 5000), 128 + SIGKILL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_captures_output),
		cmocka_unit_test(test_run_times_out),
		cmocka_unit_test(test_mosquitto_start_restart),
		cmocka_unit_test(test_spawn_kill),
		cmocka_unit_test(test_proc_field),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
