/*
 * test_kafka_api_sasl.c — SASL/PLAIN on the Kafka listener (kafka_api.sasl_password_file)
 * with a real Kafka client (kcat, librdkafka): kcat with SASL_PLAINTEXT/PLAIN produces
 * (-P), lists (-L) and consumes (-C) the streams, kafkajs produces and consumes in a
 * group; a wrong password fails with
 * librdkafka's "Authentication failed" and the daemon keeps serving; raw requests show
 * the rules (only ApiVersions and SaslHandshake before authentication, anything else
 * closes the connection; an unknown mechanism gets UNSUPPORTED_SASL_MECHANISM with
 * the enabled list; a malformed PLAIN message gets SASL_AUTHENTICATION_FAILED and a
 * close); a password file readable by others or with a bad line is refused by
 * --check-config at file:line; /stats counts the failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>

#include "tests/integration/ingest_util.h"
#include "tests/integration/kafka_raw.h"
#include "tests/integration/kafka_api_fx.h"

#define STREAM "tel"
#define N_RECORDS 20

static mqbt_broker_t broker;
static iu_daemon_t daemon_;
static int kport;
static char bootstrap[64], pwfile[400];

static void write_conf(const char *pw)
{
	char rest[1024];

	snprintf(rest, sizeof rest,
		 "streams = ( { name = \"%s\"; partitions = 2; } );\n"
		 "routes = ( { filter = \"t/#\"; stream = \"%s\"; } );\n"
		 "kafka_api = { listen = \"127.0.0.1:%d\";\n"
		 "  sasl_password_file = \"%s\"; };\n", STREAM, STREAM, kport, pw);
	assert_int_equal(iu_daemon_config(&daemon_, broker.port, "kapi-sasl", NULL, rest), 0);
}

/* kcat with SASL/PLAIN as user:pass, then args; stderr joined to stdout. */
static int kcat_sasl(const char *user, const char *pass, const char *args, char **out)
{
	char cmd[1024];

	snprintf(cmd, sizeof cmd, "%s -b %s -X security.protocol=SASL_PLAINTEXT "
		 "-X sasl.mechanisms=PLAIN -X sasl.username=%s -X sasl.password='%s' %s 2>&1",
		 kcat(), bootstrap, user, pass, args);
	return kapi_sh(cmd, out);
}

static int group_setup(void **state)
{
	(void)state;
	if (kapi_env_begin(&broker, &daemon_, &kport, bootstrap, sizeof bootstrap) != 0)
		return -1;
	snprintf(pwfile, sizeof pwfile, "%s/kafka.passwd", daemon_.dir);
	/* the password is everything after the first ':' */
	assert_int_equal(mqbt_write_file(pwfile, "# users\n\nalice:s3cret:x\nbob:other\n"), 0);
	assert_int_equal(chmod(pwfile, 0640), 0);
	write_conf(pwfile);
	kapi_daemon_start(&daemon_, kport);
	return 0;
}

static int group_teardown(void **state)
{
	return kapi_teardown(&daemon_, state);
}

static void test_kcat_produce_list_consume(void **state)
{
	char path[400], args[600], *out;
	FILE *f;
	int lines = 0;

	(void)state;
	snprintf(path, sizeof path, "%s/in.txt", daemon_.dir);
	f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < N_RECORDS; i++)
		fprintf(f, "rec-%d\n", i);
	fclose(f);
	snprintf(args, sizeof args, "-P -t %s -p 0 -X acks=all -l %s", STREAM, path);
	if (kcat_sasl("alice", "s3cret:x", args, &out) != 0)
		fail_msg("kcat -P with SASL failed: %s", out);
	free(out);

	if (kcat_sasl("alice", "s3cret:x", "-L", &out) != 0 ||
	    !strstr(out, "topic \"" STREAM "\" with 2 partitions"))
		fail_msg("kcat -L with SASL: %s", out);
	free(out);

	snprintf(args, sizeof args, "-C -e -q -o beginning -t %s -p 0 -f '%%s\\n'", STREAM);
	if (kcat_sasl("bob", "other", args, &out) != 0)
		fail_msg("kcat -C with SASL failed: %s", out);
	for (char *p = out; (p = strstr(p, "rec-")); p++)
		lines++;
	assert_int_equal(lines, N_RECORDS);
	assert_non_null(strstr(out, "rec-19\n"));
	free(out);
}

/* kafkajs (tests/js/kafka_group.js) with SASL/PLAIN: produces 5 and consumes all in a
 * group */
static void test_kafkajs_sasl(void **state)
{
	char env_e[64], *out = NULL;
	int st;

	(void)state;
	snprintf(env_e, sizeof env_e, "EXPECT=%d", N_RECORDS + 5);
	const char *env[] = { "TOPIC=" STREAM, "GROUP=js", "PRODUCE=5", env_e,
			      "TIMEOUT_MS=20000", "SASL_USER=bob", "SASL_PASSWORD=other", NULL };
	st = kapi_kafkajs(bootstrap, env, &out);
	if (st != 0)
		fail_msg("kafkajs with SASL exited %d: %s", st, out ? out : "");
	assert_non_null(strstr(out, "\"v\":\"js-4\""));
	assert_non_null(strstr(out, "\"v\":\"rec-19\""));
	free(out);
}

static void test_wrong_password(void **state)
{
	char *out;

	(void)state;
	/* a wrong password, then a user that does not exist: a clear error, no hang */
	assert_int_not_equal(kcat_sasl("alice", "s3cret", "-L -m 3", &out), 0);
	if (!strstr(out, "Authentication failed: Invalid username or password"))
		fail_msg("kcat -L with a wrong password said: %s", out);
	free(out);
	assert_int_not_equal(kcat_sasl("mallory", "s3cret:x", "-L -m 3", &out), 0);
	assert_non_null(strstr(out, "Authentication failed"));
	free(out);
	/* without SASL at all: metadata never comes, kcat gives up */
	{
		char cmd[512];

		snprintf(cmd, sizeof cmd, "%s -b %s -L -m 2 2>&1", kcat(), bootstrap);
		assert_int_not_equal(kapi_sh(cmd, &out), 0);
		free(out);
	}
	/* still serving the right password */
	assert_int_equal(kcat_sasl("alice", "s3cret:x", "-L", &out), 0);
	free(out);
	assert_true(iu_child_running(daemon_.pid));
}

/* A SaslHandshake v1 for mech; returns the error code, *nmech the list's length. */
static int handshake(int fd, const char *mech, int *nmech, char *first, size_t first_size)
{
	rawreq_t q;
	uint8_t *b;
	size_t n;
	int err;

	rq_start(&q, 17, 1, 5);
	rq_str(&q, mech);
	rq_send(fd, &q);
	b = rq_recv(fd, &n);
	assert_true(n >= 4 + 2 + 4);
	assert_int_equal(get32(b), 5);
	err = get16(b + 4);
	*nmech = get32(b + 6);
	first[0] = '\0';
	if (*nmech > 0) {
		int l = get16(b + 10);

		assert_true(l >= 0 && (size_t)l < first_size && 12 + (size_t)l <= n);
		memcpy(first, b + 12, (size_t)l);
		first[l] = '\0';
	}
	free(b);
	return err;
}

/* SaslAuthenticate v1 with token; the error code, message in msg. */
static int authenticate(int fd, const void *tok, size_t len, char *msg, size_t msg_size)
{
	rawreq_t q;
	uint8_t *b;
	size_t n;
	int err, l;

	rq_start(&q, 36, 1, 6);
	rq_i32(&q, (int32_t)len);
	rq_raw(&q, tok, len);
	rq_send(fd, &q);
	b = rq_recv(fd, &n);
	assert_true(n >= 4 + 2 + 2);
	err = get16(b + 4);
	l = get16(b + 6);
	msg[0] = '\0';
	if (l > 0) {
		assert_true((size_t)l < msg_size && 8 + (size_t)l <= n);
		memcpy(msg, b + 8, (size_t)l);
		msg[l] = '\0';
	}
	free(b);
	return err;
}

static void metadata_v1(int fd)
{
	rawreq_t q;

	rq_start(&q, 3, 1, 9);
	rq_i32(&q, -1);
	rq_send(fd, &q);
}

static void test_raw_rules(void **state)
{
	char first[64], msg[256];
	int fd, nmech;
	rawreq_t q;
	uint8_t *b;
	size_t n;
	bool hs = false, au = false;

	(void)state;
	/* ApiVersions before authentication: answered, lists both SASL APIs */
	fd = kraw_connect(kport);
	rq_start(&q, 18, 0, 1);
	rq_send(fd, &q);
	b = rq_recv(fd, &n);
	assert_int_equal(get16(b + 4), 0);
	for (int i = 0; i < get32(b + 6); i++) {
		int key = get16(b + 10 + 6 * i);

		hs |= key == 17;
		au |= key == 36;
	}
	free(b);
	assert_true(hs && au);
	/* ... but Metadata before authentication closes the connection */
	metadata_v1(fd);
	assert_true(closed_by_server(fd));
	close(fd);

	/* an unknown mechanism: the enabled list, then a close */
	fd = kraw_connect(kport);
	assert_int_equal(handshake(fd, "SCRAM-SHA-256", &nmech, first, sizeof first), 33);
	assert_int_equal(nmech, 1);
	assert_string_equal(first, "PLAIN");
	assert_true(closed_by_server(fd));
	close(fd);

	/* SaslAuthenticate without a handshake: closed */
	fd = kraw_connect(kport);
	rq_start(&q, 36, 0, 2);
	rq_i32(&q, 0);
	rq_send(fd, &q);
	assert_true(closed_by_server(fd));
	close(fd);

	/* a malformed PLAIN message: SASL_AUTHENTICATION_FAILED with a message, a close */
	fd = kraw_connect(kport);
	assert_int_equal(handshake(fd, "PLAIN", &nmech, first, sizeof first), 0);
	assert_int_equal(authenticate(fd, "alice", 5, msg, sizeof msg), 58);
	assert_non_null(strstr(msg, "malformed"));
	assert_true(closed_by_server(fd));
	close(fd);

	/* the right password: Metadata is served on the same connection */
	fd = kraw_connect(kport);
	assert_int_equal(handshake(fd, "PLAIN", &nmech, first, sizeof first), 0);
	assert_int_equal(authenticate(fd, "\0bob\0other", 10, msg, sizeof msg), 0);
	metadata_v1(fd);
	b = rq_recv(fd, &n);
	assert_int_equal(get32(b), 9);
	free(b);
	/* a second handshake after authentication: ILLEGAL_SASL_STATE, closed */
	assert_int_equal(handshake(fd, "PLAIN", &nmech, first, sizeof first), 34);
	assert_true(closed_by_server(fd));
	close(fd);
	assert_true(iu_child_running(daemon_.pid));
}

static void test_stats(void **state)
{
	char *body = NULL;
	int status = 0;
	cJSON *doc, *k, *codes;

	(void)state;
	assert_int_equal(mqbt_http_get(daemon_.stats_port, "/stats", &status, &body), 0);
	assert_int_equal(status, 200);
	doc = cJSON_Parse(body);
	k = cJSON_GetObjectItem(doc, "kafka_api");
	assert_non_null(k);
	/* two kcat failures (wrong password, unknown user) + the malformed message; kcat
	 * (librdkafka) authenticates with SaslAuthenticate (6 runs), the raw tests 3 times */
	assert_true(cJSON_GetObjectItem(k, "auth_failures")->valuedouble >= 3);
	codes = cJSON_GetObjectItem(k, "errors_by_code");
	assert_true(cJSON_GetObjectItem(codes, "SASL_AUTHENTICATION_FAILED")->valuedouble >= 3);
	assert_true(cJSON_GetObjectItem(codes, "UNSUPPORTED_SASL_MECHANISM")->valuedouble >= 1);
	assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(k, "requests"),
					"SaslAuthenticate")->valuedouble >= 9);
	cJSON_Delete(doc);
	free(body);
}

/* --check-config refuses a bad password file at file:line */
static void check_refused(const char *want)
{
	kapi_check_config_refused(daemon_.conf, want);
}

static void test_bad_password_file(void **state)
{
	char bad[400];

	(void)state;
	snprintf(bad, sizeof bad, "%s/bad.passwd", daemon_.dir);
	assert_int_equal(mqbt_write_file(bad, "alice:a\nno-colon-here\n"), 0);
	assert_int_equal(chmod(bad, 0600), 0);
	write_conf(bad);
	check_refused("bad.passwd:2: expected user:password");
	assert_int_equal(chmod(pwfile, 0644), 0);     /* the good file, world-readable */
	write_conf(pwfile);
	check_refused("readable or writable by others");
	snprintf(bad, sizeof bad, "%s/missing.passwd", daemon_.dir);
	write_conf(bad);
	check_refused("missing.passwd: cannot read");
	/* and the good file at 0600 passes */
	assert_int_equal(chmod(pwfile, 0600), 0);
	write_conf(pwfile);
	kapi_check_config_ok(daemon_.conf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kcat_produce_list_consume),
		cmocka_unit_test(test_kafkajs_sasl),
		cmocka_unit_test(test_wrong_password),
		cmocka_unit_test(test_raw_rules),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_bad_password_file),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
