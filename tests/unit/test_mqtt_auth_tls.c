/*
 * test_mqtt_auth_tls.c — the MQTT session's credentials against a real mosquitto:
 * username + password file (right and wrong password), and TLS with a CA made here
 * by openssl (right CA connects, a foreign CA is refused). Skips the TLS part with a
 * message when openssl is not installed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/err.h"
#include "connectors/mqtt/session.h"
#include "tests/support/harness.h"

static mqbt_broker_t *g_broker;
static char g_dir[256];

static int teardown(void **state)
{
	(void)state;
	if (g_broker && g_broker->dir[0])
		mqbt_mosquitto_destroy(g_broker);
	g_broker = NULL;
	if (g_dir[0])
		mqbt_rmrf(g_dir);
	g_dir[0] = '\0';
	return 0;
}

static int sh(const char *cmd)
{
	const char *const argv[] = { "/bin/sh", "-c", cmd, NULL };

	return mqbt_run(argv, NULL, NULL, 60000);
}

static mqb_mqtt_conf_t conf_for(int port)
{
	mqb_mqtt_conf_t c;

	memset(&c, 0, sizeof c);
	c.host = "127.0.0.1";
	c.port = port;
	c.client_id = "auth-test";
	c.protocol = 5;
	c.keepalive = 10;
	c.clean_start = true;
	c.reconnect_min_ms = 100;
	c.reconnect_max_ms = 400;
	c.max_inflight = 20;
	c.max_message_bytes = 1 << 20;
	return c;
}

/* Connect and subscribe within ms; returns true when subscribed. */
static bool try_connect(const mqb_mqtt_conf_t *c, int ms, char *last_error, size_t size)
{
	mqb_mqtt_session_opts_t o;
	mqb_mqtt_session_t *s;
	mqb_mqtt_session_stats_t st;
	char err[256] = "";
	int64_t dl = mqbt_now_ms() + ms;
	bool ok;

	memset(&o, 0, sizeof o);
	o.conf = c;
	o.clean_start = -1;
	s = mqb_mqtt_session_new(&o, err, sizeof err);
	if (!s)
		fail_msg("session_new: %s", err);
	mqb_mqtt_session_subscribe(s, "a/#", 1, 0);
	mqb_mqtt_session_connect(s);
	while (!mqb_mqtt_session_subscribed(s) && mqbt_now_ms() < dl)
		mqb_mqtt_session_run(s, 20);
	ok = mqb_mqtt_session_subscribed(s);
	mqb_mqtt_session_stats(s, &st);
	snprintf(last_error, size, "%s", st.last_error);
	mqb_mqtt_session_disconnect(s, 500);
	mqb_mqtt_session_destroy(s);
	return ok;
}

static void test_password(void **state)
{
	static mqbt_broker_t b;
	char pwfile[300], mypw[300], cmd[1024], extra[512], why[160];
	mqb_mqtt_conf_t c;

	(void)state;
	g_broker = &b;
	assert_int_equal(mqbt_tmpdir(g_dir, sizeof g_dir), 0);
	snprintf(pwfile, sizeof pwfile, "%s/broker.pw", g_dir);
	snprintf(mypw, sizeof mypw, "%s/mqbridge.pw", g_dir);
	snprintf(cmd, sizeof cmd, "mosquitto_passwd -b -c '%s' bridge 's3cret' >/dev/null 2>&1",
		 pwfile);
	assert_int_equal(sh(cmd), 0);
	snprintf(extra, sizeof extra, "allow_anonymous false\npassword_file %s\n", pwfile);
	assert_int_equal(mqbt_mosquitto_start(&b, extra), 0);

	c = conf_for(b.port);
	c.username = "bridge";
	c.password_file = mypw;
	assert_int_equal(mqbt_write_file(mypw, "s3cret\n"), 0);   /* trailing newline ok */
	assert_true(try_connect(&c, 5000, why, sizeof why));

	assert_int_equal(mqbt_write_file(mypw, "wrong\n"), 0);
	assert_false(try_connect(&c, 1500, why, sizeof why));
	assert_true(why[0] != '\0');   /* the refusal is reported */
	fprintf(stderr, "wrong password: %s\n", why);

	c.username = NULL;
	c.password_file = NULL;
	assert_false(try_connect(&c, 1000, why, sizeof why));   /* anonymous refused */
}

static void test_tls(void **state)
{
	static mqbt_broker_t b;
	char cmd[4096], extra[1024], ca[300], other_ca[300], why[160];
	mqb_mqtt_conf_t c;
	int tls_port;

	(void)state;
	g_broker = &b;
	if (sh("command -v openssl >/dev/null") != 0) {
		fprintf(stderr, "openssl not installed: skipping the TLS test\n");
		skip();
	}
	assert_int_equal(mqbt_tmpdir(g_dir, sizeof g_dir), 0);
	snprintf(cmd, sizeof cmd,
		 "set -e; cd '%s'; exec >/dev/null 2>&1;"
		 "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca "
		 "  -keyout ca.key -out ca.crt;"
		 "openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key "
		 "  -out server.csr;"
		 "printf 'subjectAltName=IP:127.0.0.1\\n' > ext.cnf;"
		 "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
		 "  -days 2 -extfile ext.cnf -out server.crt;"
		 "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=other-ca "
		 "  -keyout other.key -out other.crt;"
		 "chmod 644 *.key",
		 g_dir);
	assert_int_equal(sh(cmd), 0);
	snprintf(ca, sizeof ca, "%s/ca.crt", g_dir);
	snprintf(other_ca, sizeof other_ca, "%s/other.crt", g_dir);
	tls_port = mqbt_free_port();
	snprintf(extra, sizeof extra,
		 "listener %d 127.0.0.1\ncafile %s/ca.crt\ncertfile %s/server.crt\n"
		 "keyfile %s/server.key\n", tls_port, g_dir, g_dir, g_dir);
	assert_int_equal(mqbt_mosquitto_start(&b, extra), 0);
	assert_int_equal(mqbt_wait_port(tls_port, 5000), 0);

	c = conf_for(tls_port);
	c.cafile = ca;
	assert_true(try_connect(&c, 5000, why, sizeof why));

	c.cafile = other_ca;   /* a CA that did not sign the server's certificate */
	assert_false(try_connect(&c, 1500, why, sizeof why));
	assert_true(why[0] != '\0');
	fprintf(stderr, "foreign CA: %s\n", why);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_password, teardown),
		cmocka_unit_test_teardown(test_tls, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
