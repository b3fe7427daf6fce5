/*
 * test_kafka_api_tls.c — TLS on the Kafka listener (kafka_api.tls_cert / tls_key /
 * tls_ca) with real clients: a CA, a server certificate (127.0.0.1), a client
 * certificate and a second CA are made with the openssl CLI at test time
 * (tests/support/tls_certs.sh). Over SSL
 * kcat lists (-L), produces (-P) and consumes (-C) records identical to `log dump
 * --json`; a plaintext Kafka client, random bytes, a half ClientHello, a client that
 * sends nothing (closed at tls_handshake_timeout_ms, costing no CPU while it waits)
 * and a client trusting another CA
 * all fail while the daemon keeps serving, and each failure is counted and logged
 * with the peer and OpenSSL's reason (a port probe is not); SASL_SSL with kcat and
 * kafkajs; with tls_ca a client without a certificate, or with one from another CA,
 * is refused and one with a certificate of the CA works (kcat and kafkajs);
 * --check-config refuses a key of another certificate, a missing file, a lone
 * tls_cert or tls_key, a non-PEM certificate, a passphrase-protected key and tls_ca
 * without TLS, each at file:line with the file and the reason.
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
#define PARTS 2
#define N_MQTT 200
#define N_KCAT 20

static mqbt_broker_t broker;
static iu_daemon_t daemon_;
static int kport;
static char bootstrap[64], tdir[300], pwfile[400];
static char x_ca[400], x_cert[400], x_key[400];   /* "ssl.ca.location=..." etc. */

enum { WITH_SASL = 1, WITH_CA = 2 };

/* dir/name (static buffer rotation: up to 4 at once) */
static const char *tpath(const char *name)
{
	static char b[4][400];
	static int i;

	i = (i + 1) % 4;
	snprintf(b[i], sizeof b[i], "%s/%s", tdir, name);
	return b[i];
}

/* The config: tls_cert / tls_key when not NULL, extra keys of the kafka_api section. */
static void write_conf_files(const char *cert, const char *key, const char *extra)
{
	char rest[2048], c[500] = "", k[500] = "";

	if (cert)
		snprintf(c, sizeof c, "  tls_cert = \"%s\";\n", cert);
	if (key)
		snprintf(k, sizeof k, "  tls_key = \"%s\";\n", key);
	snprintf(rest, sizeof rest,
		 "streams = ( { name = \"%s\"; partitions = %d; } );\n"
		 "routes = ( { filter = \"t/+/v\"; stream = \"%s\"; key = \"{1}\"; } );\n"
		 "kafka_api = { listen = \"127.0.0.1:%d\"; tls_handshake_timeout_ms = 500;\n"
		 "  group_initial_rebalance_delay_ms = 0;\n"
		 "%s%s  %s };\n", STREAM, PARTS, STREAM, kport, c, k, extra ? extra : "");
	assert_int_equal(iu_daemon_config(&daemon_, broker.port, "kapi-tls", NULL, rest), 0);
}

static void write_conf(int flags)
{
	char extra[1024] = "";

	if (flags & WITH_SASL)
		snprintf(extra, sizeof extra, "sasl_password_file = \"%s\";", pwfile);
	if (flags & WITH_CA)
		snprintf(extra + strlen(extra), sizeof extra - strlen(extra), " tls_ca = \"%s\";",
			 tpath("ca.crt"));
	write_conf_files(tpath("server.crt"), tpath("server.key"), extra[0] ? extra : NULL);
}

static void restart(int flags)
{
	if (daemon_.pid > 0)
		assert_int_equal(mqbt_stop(daemon_.pid, 15000), 0);
	daemon_.pid = 0;
	write_conf(flags);
	kapi_daemon_start(&daemon_, kport);
}

static int group_setup(void **state)
{
	(void)state;
	if (kapi_env_begin(&broker, &daemon_, &kport, bootstrap, sizeof bootstrap) != 0)
		return -1;
	snprintf(tdir, sizeof tdir, "%s/tls", daemon_.dir);
	assert_int_equal(mkdir(tdir, 0700), 0);
	kapi_make_certs(tdir);
	snprintf(x_ca, sizeof x_ca, "ssl.ca.location=%s", tpath("ca.crt"));
	snprintf(x_cert, sizeof x_cert, "ssl.certificate.location=%s", tpath("client.crt"));
	snprintf(x_key, sizeof x_key, "ssl.key.location=%s", tpath("client.key"));
	snprintf(pwfile, sizeof pwfile, "%s/kafka.passwd", daemon_.dir);
	assert_int_equal(mqbt_write_file(pwfile, "alice:s3cret\n"), 0);
	assert_int_equal(chmod(pwfile, 0600), 0);
	restart(0);
	kapi_publish(&daemon_, broker.port, N_MQTT, 5, -1);
	return 0;
}

static int group_teardown(void **state)
{
	return kapi_teardown(&daemon_, state);
}

/* kcat -b bootstrap <tls args> <args> 2>&1; the exit status, output in *out. */
static int kcat_sh(const char *tls, const char *args, char **out)
{
	char cmd[2048];

	snprintf(cmd, sizeof cmd, "%s -b %s %s %s 2>&1", kcat(), bootstrap, tls, args);
	return kapi_sh(cmd, out);
}

static const char *ssl_args(void)
{
	static char b[600];

	snprintf(b, sizeof b, "-X security.protocol=ssl -X %s", x_ca);
	return b;
}

/* The kafka_api /stats counter name. */
static long long kstat(const char *name)
{
	char *body = NULL;
	int status = 0;
	long long v = -1;
	cJSON *doc, *it;

	assert_int_equal(mqbt_http_get(daemon_.stats_port, "/stats", &status, &body), 0);
	assert_int_equal(status, 200);
	doc = cJSON_Parse(body);
	it = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "kafka_api"), name);
	if (cJSON_IsNumber(it))
		v = (long long)it->valuedouble;
	cJSON_Delete(doc);
	free(body);
	assert_true(v >= 0);
	return v;
}

/* How often needle is in the daemon's log. */
static int log_count(const char *needle)
{
	return mqbt_count_in_file(daemon_.log, needle);
}

static void test_ssl_list_produce_consume(void **state)
{
	char path[400], args[600], *out;
	const char *extra[] = { "-X", "security.protocol=ssl", "-X", x_ca, NULL };
	FILE *f;

	(void)state;
	assert_true(log_count("serving the Kafka protocol over TLS") == 1);
	assert_int_equal(kcat_sh(ssl_args(), "-L", &out), 0);
	if (!strstr(out, "topic \"" STREAM "\" with 2 partitions"))
		fail_msg("kcat -L over TLS: %s", out);
	free(out);

	snprintf(path, sizeof path, "%s/in.txt", daemon_.dir);
	f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < N_KCAT; i++)
		fprintf(f, "kcat-%d\n", i);
	fclose(f);
	snprintf(args, sizeof args, "-P -t %s -p 1 -X acks=all -l %s", STREAM, path);
	if (kcat_sh(ssl_args(), args, &out) != 0)
		fail_msg("kcat -P over TLS: %s", out);
	free(out);
	/* every record, over TLS, as log dump prints it */
	kapi_assert_same_records(daemon_.data, bootstrap, extra, STREAM, N_MQTT + N_KCAT);
	assert_true(kstat("tls_handshakes") >= 3);
	assert_int_equal(kstat("tls_handshake_failures"), 0);
}

/* kcat speaking plaintext Kafka to the TLS port: no metadata, a failure counted and
 * logged with the peer and OpenSSL's reason; the daemon serves TLS clients on. */
static void test_plaintext_client_refused(void **state)
{
	char *out;
	long long f0 = kstat("tls_handshake_failures");

	(void)state;
	assert_int_not_equal(kcat_sh("", "-L -m 1", &out), 0);
	free(out);
	assert_true(kstat("tls_handshake_failures") > f0);
	assert_true(log_count("TLS handshake with 127.0.0.1 failed: ") >= 1);
	assert_int_equal(kcat_sh(ssl_args(), "-L", &out), 0);
	free(out);
	assert_true(iu_child_running(daemon_.pid));
}

/* Random bytes, half a ClientHello, nothing at all: closed (the last two at the
 * handshake timeout, 500 ms, checked once a second); a connect-and-close probe is
 * not a failure. */
static void test_garbage_and_silence(void **state)
{
	uint8_t junk[1000];
	/* a TLS handshake record header announcing 512 bytes, then 3 of them */
	const uint8_t half[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01 };
	long long f0 = kstat("tls_handshake_failures");
	int64_t t0, took;
	int fd;

	(void)state;
	srand(12);
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (uint8_t)rand();
	fd = kraw_connect(kport);
	send_all(fd, junk, sizeof junk);
	assert_true(closed_by_server(fd));
	close(fd);
	assert_int_equal(kstat("tls_handshake_failures"), f0 + 1);

	for (int k = 0; k < 2; k++) {
		int64_t cpu0 = mqbt_cpu_ms(daemon_.pid), cpu;

		fd = kraw_connect(kport);
		if (k == 1)
			send_all(fd, half, sizeof half);
		t0 = mqbt_now_ms();
		assert_true(closed_by_server(fd));
		took = mqbt_now_ms() - t0;
		cpu = mqbt_cpu_ms(daemon_.pid) - cpu0;
		close(fd);
		if (took < 450 || took > 3000)
			fail_msg("silent client %d closed after %lld ms (timeout 500 ms)", k,
				 (long long)took);
		/* waiting costs no CPU: a half record buffered in OpenSSL is not "pending
		 * input" for the loop (which would then spin until the timeout) */
		if (cpu > took / 4)
			fail_msg("mqbridged used %lld ms of CPU in %lld ms while client %d was "
				 "silent", (long long)cpu, (long long)took, k);
	}
	assert_int_equal(kstat("tls_handshake_failures"), f0 + 3);
	assert_true(log_count("not done after 500 ms (kafka_api.tls_handshake_timeout_ms)") >= 1);

	/* connect and close at once: no failure */
	fd = kraw_connect(kport);
	close(fd);
	mqbt_sleep_ms(100);
	assert_int_equal(kstat("tls_handshake_failures"), f0 + 3);
	assert_true(iu_child_running(daemon_.pid));
}

/* A client trusting another CA refuses the server's certificate. */
static void test_wrong_ca(void **state)
{
	char args[600], *out;
	long long f0 = kstat("tls_handshake_failures");

	(void)state;
	snprintf(args, sizeof args, "-X security.protocol=ssl -X ssl.ca.location=%s",
		 tpath("other-ca.crt"));
	assert_int_not_equal(kcat_sh(args, "-L -m 1", &out), 0);
	if (!strstr(out, "certificate verify failed"))
		fail_msg("kcat trusting another CA said: %s", out);
	free(out);
	assert_true(kstat("tls_handshake_failures") > f0);   /* the log line is rate-limited */
}

static void test_metrics(void **state)
{
	char *body = NULL;
	int status = 0;

	(void)state;
	assert_int_equal(mqbt_http_get(daemon_.stats_port, "/metrics", &status, &body), 0);
	assert_int_equal(status, 200);
	assert_non_null(strstr(body, "mqbridge_kafka_api_tls_handshake_failures_total "));
	assert_non_null(strstr(body, "mqbridge_kafka_api_tls_handshakes_total "));
	free(body);
}

/* SASL_SSL: kcat and kafkajs authenticate over TLS; a wrong password still fails. */
static void test_sasl_ssl(void **state)
{
	char tls[800], args[300], *out;
	int lines = 0;

	(void)state;
	restart(WITH_SASL);
	snprintf(tls, sizeof tls, "-X security.protocol=SASL_SSL -X %s -X sasl.mechanisms=PLAIN "
		 "-X sasl.username=alice -X sasl.password=s3cret", x_ca);
	snprintf(args, sizeof args, "-C -e -q -o beginning -t %s -f '%%s\\n'", STREAM);
	if (kcat_sh(tls, args, &out) != 0)
		fail_msg("kcat -C over SASL_SSL: %s", out);
	for (char *p = out; (p = strchr(p, '\n')); p++)
		lines++;
	assert_int_equal(lines, N_MQTT + N_KCAT);
	free(out);
	/* TLS without SASL: refused by the SASL gate, not served */
	assert_int_not_equal(kcat_sh(ssl_args(), "-L -m 1", &out), 0);
	free(out);
	snprintf(tls, sizeof tls, "-X security.protocol=SASL_SSL -X %s -X sasl.mechanisms=PLAIN "
		 "-X sasl.username=alice -X sasl.password=wrong", x_ca);
	assert_int_not_equal(kcat_sh(tls, "-L -m 3", &out), 0);
	if (!strstr(out, "Authentication failed"))
		fail_msg("kcat with a wrong password over SASL_SSL: %s", out);
	free(out);

	char env_ca[460], env_e[32];
	snprintf(env_ca, sizeof env_ca, "SSL_CA=%s", tpath("ca.crt"));
	snprintf(env_e, sizeof env_e, "EXPECT=%d", N_MQTT + N_KCAT + 5);
	const char *env[] = { "TOPIC=" STREAM, "GROUP=js-tls", "PRODUCE=5", env_e,
			      "TIMEOUT_MS=20000", "SASL_USER=alice", "SASL_PASSWORD=s3cret",
			      env_ca, NULL };
	if (kapi_kafkajs(bootstrap, env, &out) != 0)
		fail_msg("kafkajs over SASL_SSL: %s", out ? out : "");
	assert_non_null(strstr(out, "\"v\":\"js-4\""));
	assert_non_null(strstr(out, "\"v\":\"value-199\""));
	assert_non_null(strstr(out, "\"v\":\"kcat-19\""));
	free(out);
}

/* tls_ca: a client certificate of that CA is required. */
static void test_client_cert_required(void **state)
{
	char tls[1500], args[300], *out;
	int lines = 0;
	long long f0;

	(void)state;
	restart(WITH_CA);
	assert_int_not_equal(kcat_sh(ssl_args(), "-L -m 1", &out), 0);
	free(out);
	assert_true(log_count("peer did not return a certificate") >= 1);
	snprintf(tls, sizeof tls, "%s -X ssl.certificate.location=%s -X ssl.key.location=%s",
		 ssl_args(), tpath("rogue.crt"), tpath("rogue.key"));
	f0 = kstat("tls_handshake_failures");
	assert_int_not_equal(kcat_sh(tls, "-L -m 1", &out), 0);
	free(out);
	assert_true(kstat("tls_handshake_failures") > f0);   /* the log line is rate-limited */

	snprintf(tls, sizeof tls, "%s -X %s -X %s", ssl_args(), x_cert, x_key);
	snprintf(args, sizeof args, "-C -e -q -o beginning -t %s -p 1 -f '%%s\\n'", STREAM);
	if (kcat_sh(tls, args, &out) != 0)
		fail_msg("kcat -C with a client certificate: %s", out);
	for (char *p = out; (p = strstr(p, "kcat-")); p++)
		lines++;
	assert_int_equal(lines, N_KCAT);
	free(out);

	char env_ca[460], env_cert[460], env_key[460];
	snprintf(env_ca, sizeof env_ca, "SSL_CA=%s", tpath("ca.crt"));
	snprintf(env_cert, sizeof env_cert, "SSL_CERT=%s", tpath("client.crt"));
	snprintf(env_key, sizeof env_key, "SSL_KEY=%s", tpath("client.key"));
	const char *env[] = { "TOPIC=" STREAM, "GROUP=js-mtls", "PRODUCE=0", "EXPECT=5",
			      "TIMEOUT_MS=20000", env_ca, env_cert, env_key, NULL };
	if (kapi_kafkajs(bootstrap, env, &out) != 0)
		fail_msg("kafkajs with a client certificate: %s", out ? out : "");
	free(out);
	assert_true(iu_child_running(daemon_.pid));
}

/* 4000 records of 2000 bytes (8 MB) produced and read back over TLS (with the client
 * certificate): Produce requests of many TLS records, Fetch answers larger than the
 * socket buffer (partial SSL_write); the values come back byte for byte. */
static void test_bulk_over_tls(void **state)
{
	char path[400], cmd[6000], *out;
	FILE *f;

	(void)state;
	snprintf(path, sizeof path, "%s/bulk.txt", daemon_.dir);
	f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < 4000; i++) {
		fprintf(f, "bulk-%05d-", i);
		for (int k = 0; k < 1989; k++)
			fputc('a' + (i + k) % 26, f);
		fputc('\n', f);
	}
	fclose(f);
	snprintf(cmd, sizeof cmd, "%s -b %s %s -X %s -X %s -P -t %s -p 0 -X acks=all -l %s "
		 "2>&1 && %s -b %s %s -X %s -X %s -C -e -q -o beginning -t %s -p 0 -f '%%s\n' "
		 "| grep '^bulk-' | cmp - %s && echo same", kcat(), bootstrap, ssl_args(), x_cert,
		 x_key, STREAM, path, kcat(), bootstrap, ssl_args(), x_cert, x_key, STREAM, path);
	if (kapi_sh(cmd, &out) != 0 || !strstr(out, "same"))
		fail_msg("8 MB over TLS did not come back the same: %s", out);
	free(out);
}

static void test_check_config(void **state)
{
	char want[900];

	(void)state;
	write_conf_files(tpath("server.crt"), tpath("rogue.key"), NULL);
	snprintf(want, sizeof want, "kafka_api.tls_key %s: does not match tls_cert %s (key "
		 "values mismatch)", tpath("rogue.key"), tpath("server.crt"));
	kapi_check_config_refused(daemon_.conf, want);

	write_conf_files(tpath("server.crt"), tpath("missing.key"), NULL);
	kapi_check_config_refused(daemon_.conf, "missing.key");

	write_conf_files(tpath("server.crt"), NULL, NULL);
	kapi_check_config_refused(daemon_.conf, "tls_cert and tls_key go together (got only "
				  "tls_cert)");
	write_conf_files(NULL, tpath("server.key"), NULL);
	kapi_check_config_refused(daemon_.conf, "tls_cert and tls_key go together (got only "
				  "tls_key)");

	write_conf_files(pwfile, tpath("server.key"), NULL);     /* not PEM */
	snprintf(want, sizeof want, "kafka_api.tls_cert %s: not a usable PEM certificate (no "
		 "start line)", pwfile);
	kapi_check_config_refused(daemon_.conf, want);

	write_conf_files(tpath("server.crt"), tpath("enc.key"), NULL);
	kapi_check_config_refused(daemon_.conf, "enc.key: not a usable unencrypted PEM "
				  "private key");

	write_conf_files(NULL, NULL, "tls_ca = \"/etc/hostname\";");
	kapi_check_config_refused(daemon_.conf, "client certificates need TLS");

	write_conf_files(tpath("server.crt"), tpath("server.key"), "tls_ca = \"/etc/hostname\";");
	kapi_check_config_refused(daemon_.conf, "kafka_api.tls_ca /etc/hostname: no usable PEM "
				  "CA certificate");

	write_conf(WITH_CA | WITH_SASL);                       /* and a good one passes */
	kapi_check_config_ok(daemon_.conf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ssl_list_produce_consume),
		cmocka_unit_test(test_plaintext_client_refused),
		cmocka_unit_test(test_garbage_and_silence),
		cmocka_unit_test(test_wrong_ca),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_sasl_ssl),
		cmocka_unit_test(test_client_cert_required),
		cmocka_unit_test(test_bulk_over_tls),
		cmocka_unit_test(test_check_config),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
