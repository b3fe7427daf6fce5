/*
 * test_groups_acl.c — the Mosquitto ACL of docs/PROTOCOL.md §8 works as documented:
 * with mqbridged logged in as user "mqbridge" and members anonymous, a member
 * consumes normally, while another client subscribed to that member's topics
 * receives nothing of them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/integration/test_groups_util.h"

static gt_env_t e;
static gt_member_t m;
static pid_t spy;
static bool passed;

static int teardown(void **state)
{
	if (m.pid > 0) {
		mqbt_kill(m.pid, SIGKILL);
		mqbt_wait(m.pid, 5000);
	}
	if (spy > 0) {
		mqbt_kill(spy, SIGKILL);
		mqbt_wait(spy, 5000);
	}
	gt_env_stop(&e, !passed);
	return 0;
}

static void test_acl(void **state)
{
	char dir[256], acl[300], pw[300], mqpw[300], extra[1024], port[16], spy_out[300];

	if (access("/usr/bin/mosquitto_passwd", X_OK) != 0) {
		fprintf(stderr, "SKIP: mosquitto_passwd not installed\n");
		passed = true;
		skip();
	}
	assert_int_equal(mqbt_tmpdir(dir, sizeof(dir)), 0);
	snprintf(acl, sizeof(acl), "%s/acl", dir);
	snprintf(pw, sizeof(pw), "%s/passwd", dir);
	snprintf(mqpw, sizeof(mqpw), "%s/mqbridge.pw", dir);
	assert_int_equal(mqbt_write_file(acl,
		"# members: their own topics, plus join/leave\n"
		"pattern readwrite mqbridge/groups/+/members/%c/#\n"
		"pattern write mqbridge/groups/+/join\n"
		"pattern write mqbridge/groups/+/leave\n"
		"pattern write orders/#\n"
		"\n"
		"# the coordinator and ingest\n"
		"user mqbridge\n"
		"topic readwrite mqbridge/groups/#\n"
		"topic read orders/#\n"), 0);
	assert_int_equal(mqbt_write_file(pw, ""), 0);
	assert_int_equal(mqbt_write_file(mqpw, "s3cret\n"), 0);
	const char *mkpw[] = { "/usr/bin/mosquitto_passwd", "-b", pw, "mqbridge", "s3cret", NULL };
	assert_int_equal(mqbt_run(mkpw, NULL, NULL, 10000), 0);
	snprintf(extra, sizeof(extra), "password_file %s\nacl_file %s\n", pw, acl);
	/* broker with the ACL; mqbridged's config (with its credentials) written below */
	assert_int_equal(gt_env_start_ex(&e, "", extra), 0);
	char text[4096];
	snprintf(text, sizeof(text),
		 "data_dir = \"%s/data\";\n"
		 "mqtt = { host = \"127.0.0.1\"; port = %d; client_id = \"mqb-acl\";\n"
		 "         username = \"mqbridge\"; password_file = \"%s\"; };\n"
		 "stats = { listen = \"127.0.0.1:%d\"; };\n"
		 "streams = ( { name = \"orders\"; partitions = 2; } );\n"
		 "routes = ( { filter = \"orders/+\"; stream = \"orders\"; key = \"{1}\"; qos = 1; } );\n"
		 "groups = ( { name = \"billing\"; stream = \"orders\"; assignor = \"range\";\n"
		 "             session_timeout_ms = 4000; heartbeat_interval_ms = 300; } );\n",
		 e.dir, e.broker.port, mqpw, e.http_port);
	assert_int_equal(mqbt_write_file(e.conf, text), 0);
	assert_int_equal(gt_daemon_start(&e), 0);

	/* a spy subscribes to alice's topics under its own client id */
	snprintf(port, sizeof(port), "%d", e.broker.port);
	snprintf(spy_out, sizeof(spy_out), "%s/spy.out", e.dir);
	const char *spy_argv[] = { "/usr/bin/mosquitto_sub", "-p", port, "-i", "spy", "-q", "1",
				   "-t", "mqbridge/groups/billing/members/alice/#", NULL };
	assert_int_equal(mqbt_spawn(&spy, spy_argv, spy_out), 0);
	mqbt_sleep_ms(300);

	gt_pub_t pub = { 0 };
	assert_int_equal(gt_pub_open(&e, &pub, "acl-pub"), 0);
	for (int i = 0; i < 20; i++) {
		char t[32], v[16];
		snprintf(t, sizeof(t), "orders/d%d", i);
		snprintf(v, sizeof(v), "%d", i);
		assert_int_equal(gt_pub(&pub, t, v), 0);
	}
	gt_pub_close(&pub);
	assert_int_equal(gt_wait_sum(&e, "billing", "log_end", 20, 20000), 20);
	const char *cnt[] = { "--count", "20", NULL };
	assert_int_equal(gt_member_start(&e, &m, "billing", "alice", cnt), 0);
	assert_int_equal(mqbt_wait(m.pid, 30000), 0);
	m.pid = 0;
	assert_int_equal(gt_wait_sum(&e, "billing", "committed", 20, 10000), 20);
	mqbt_sleep_ms(300);
	mqbt_kill(spy, SIGTERM);
	mqbt_wait(spy, 5000);
	spy = 0;
	size_t len = 0;
	char *seen = mqbt_read_file(spy_out, &len);
	fprintf(stderr, "spy received %zu bytes of alice's topics\n", seen ? len : 0);
	assert_true(!seen || len == 0);
	free(seen);
	mqbt_rmrf(dir);
	passed = true;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_acl, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
