/*
 * kafka_api_fx.h — what the kafka_api integration tests share: kcat's path, the
 * environment (a mosquitto on a free port, a test dir, free stats and Kafka ports, the
 * bootstrap address), the daemon start that waits for the Kafka listener, and the
 * records as `mqbridge log dump --json` and `kcat -C` print them, compared field by
 * field (kcat's extra arguments, e.g. TLS settings, are the caller's).
 * Header-only, static functions; they assert (cmocka). Include after ingest_util.h.
 */
#ifndef MQB_TESTS_KAFKA_API_FX_H
#define MQB_TESTS_KAFKA_API_FX_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* $KCAT, else Debian's kcat. */
static const char *kcat(void)
{
	const char *k = getenv("KCAT");

	return k && *k ? k : "/usr/bin/kcat";
}

/* Start the broker, make d's dir and pick the ports; bootstrap gets 127.0.0.1:kport.
 * -1 (with a message) when kcat is missing: the group setup fails then. */
static int kapi_env_begin(mqbt_broker_t *b, iu_daemon_t *d, int *kport, char *bootstrap,
			  size_t bootstrap_size)
{
	if (access(kcat(), X_OK) != 0) {
		fprintf(stderr, "kcat not found at %s (apt install kcat, or set KCAT)\n", kcat());
		return -1;
	}
	iu_track_broker(b);
	iu_track_daemon(d);
	assert_int_equal(mqbt_mosquitto_start(b, NULL), 0);
	assert_int_equal(mqbt_tmpdir(d->dir, sizeof d->dir), 0);
	d->stats_port = mqbt_free_port();
	*kport = mqbt_free_port();
	snprintf(bootstrap, bootstrap_size, "127.0.0.1:%d", *kport);
	return 0;
}

/* Start the daemon on its written config; wait until ready and the Kafka port listens. */
static void kapi_daemon_start(iu_daemon_t *d, int kport)
{
	assert_int_equal(iu_daemon_start(d, NULL), 0);
	if (iu_daemon_wait_ready(d, 30000) != 0) {
		iu_daemon_dump_log(d);
		fail_msg("mqbridged not ready");
	}
	assert_int_equal(mqbt_wait_port(kport, 10000), 0);
}

/* The group teardown: stop d's daemon (SIGTERM, 15 s), then iu_teardown. */
static inline int kapi_teardown(iu_daemon_t *d, void **state)
{
	if (d->pid > 0)
		assert_int_equal(mqbt_stop(d->pid, 15000), 0);
	d->pid = 0;
	return iu_teardown(state);
}

/* Publish n records over MQTT (QoS 1, v5) to broker_port: topic t/dev<i % devices>/v,
 * value "value-<i>", user property seq=<i>, pausing 50 ms after record pause_at (-1:
 * never; two time ranges for time lookups); wait until d stored them all. */
static inline void kapi_publish(iu_daemon_t *d, int broker_port, int n, int devices,
				int pause_at)
{
	iu_pub_t pub;

	assert_int_equal(iu_pub_start(&pub, broker_port, "kapi-pub", true), 0);
	for (int i = 0; i < n; i++) {
		char topic[64], val[64], seq[16];
		const char *props[] = { "seq", seq, NULL };

		snprintf(topic, sizeof topic, "t/dev%d/v", i % devices);
		snprintf(val, sizeof val, "value-%d", i);
		snprintf(seq, sizeof seq, "%d", i);
		assert_int_equal(iu_pub_send(&pub, topic, val, strlen(val), 1, props), 0);
		if (i == pause_at)
			mqbt_sleep_ms(50);
	}
	assert_int_equal(iu_pub_wait_acked(&pub, 30000), 0);
	iu_pub_stop(&pub);
	assert_int_equal(iu_daemon_wait_stored(d, n, 30000), 0);
}

/* Run a shell command line (30 s at most); its stdout in *out (stderr too with 2>&1
 * in cmd; never NULL, malloc'd); the exit status. */
static inline int kapi_sh(const char *cmd, char **out)
{
	const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
	size_t len = 0;
	int st;

	*out = NULL;
	st = mqbt_run(argv, out, &len, 30000);
	if (!*out)
		*out = strdup("");
	return st;
}

/* `mqbridged --check-config -c conf` fails and says want at "mqbridged.conf:" (a
 * file:line error). */
static inline void kapi_check_config_refused(const char *conf, const char *want)
{
	char cmd[1024], *out;

	snprintf(cmd, sizeof cmd, "%s --check-config -c %s 2>&1", mqbt_bin("mqbridged"), conf);
	assert_int_not_equal(kapi_sh(cmd, &out), 0);
	if (!strstr(out, want) || !strstr(out, "mqbridged.conf:"))
		fail_msg("--check-config: wanted \"%s\", got: %s", want, out);
	free(out);
}

/* `mqbridged --check-config -c conf` accepts it. */
static inline void kapi_check_config_ok(const char *conf)
{
	char cmd[1024], *out;

	snprintf(cmd, sizeof cmd, "%s --check-config -c %s 2>&1", mqbt_bin("mqbridged"), conf);
	if (kapi_sh(cmd, &out) != 0)
		fail_msg("--check-config of a good file: %s", out);
	free(out);
}

/* rel (e.g. "tests/js/kafka_group.js") in the source tree, found from this file's path
 * (CMake compiles the tests by absolute path). */
static inline void kapi_src_path(const char *rel, char *out, size_t size)
{
	char *cut;

	snprintf(out, size, "%s", __FILE__);
	cut = strstr(out, "tests/integration/");
	assert_non_null(cut);
	snprintf(cut, size - (size_t)(cut - out), "%s", rel);
}

/* Test certificates in dir (tests/support/tls_certs.sh: ca, other-ca, server for
 * 127.0.0.1, client, rogue from other-ca, enc.key with a passphrase). */
static inline void kapi_make_certs(const char *dir)
{
	char script[600], cmd[1400], *out;

	kapi_src_path("tests/support/tls_certs.sh", script, sizeof script);
	snprintf(cmd, sizeof cmd, "/bin/sh '%s' '%s'", script, dir);
	if (kapi_sh(cmd, &out) != 0 || !strstr(out, "certs-made"))
		fail_msg("making test certificates with openssl failed: %s", out);
	free(out);
}

/* tests/js/kafka_group.js (kafkajs) against bootstrap with env (NULL-terminated,
 * at most 16 "K=V": TOPIC, GROUP, PRODUCE, EXPECT, TIMEOUT_MS, SASL_*, SSL_*); its
 * exit status, its output in *out (malloc'd). */
static inline int kapi_kafkajs(const char *bootstrap, const char *const env[], char **out)
{
	char script[600], env_b[96];
	const char *argv[32] = { "/usr/bin/env" };
	size_t len = 0;
	int a = 1;

	kapi_src_path("tests/js/kafka_group.js", script, sizeof script);
	if (access(script, R_OK) != 0 || access("/usr/bin/node", X_OK) != 0)
		fail_msg("node or %s missing (scripts/deps.sh)", script);
	snprintf(env_b, sizeof env_b, "BROKER=%s", bootstrap);
	argv[a++] = env_b;
	argv[a++] = "KAFKAJS_NO_PARTITIONER_WARNING=1";
	for (int i = 0; env[i] && i < 16; i++)
		argv[a++] = env[i];
	argv[a++] = "/usr/bin/node";
	argv[a++] = script;
	argv[a] = NULL;
	*out = NULL;
	return mqbt_run(argv, out, &len, 60000);
}

/* Run argv (mqbt_run, 60 s); fail unless it exits want_status. Its output (malloc'd). */
static inline char *kapi_run(const char *const argv[], int want_status)
{
	char *out = NULL;
	size_t len = 0;
	int st = mqbt_run(argv, &out, &len, 60000);

	if (st != want_status)
		fail_msg("%s exited %d (wanted %d); output: %s", argv[0], st, want_status,
			 out ? out : "");
	if (!out)
		out = strdup("");
	return out;
}

/* One record as both tools print it, for comparison. */
typedef struct kapi_rec {
	int partition;
	long long offset, ts;
	char key[64], value[128], headers[512];
} kapi_rec_t;

static inline kapi_rec_t *kapi_rec_add(kapi_rec_t **v, size_t *n, size_t *cap)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 256;
		*v = realloc(*v, *cap * sizeof **v);
		assert_non_null(*v);
	}
	memset(&(*v)[*n], 0, sizeof **v);
	return &(*v)[(*n)++];
}

/* The records of stream in data_dir as `mqbridge log dump --json` prints them. */
static inline size_t kapi_dump_records(const char *data_dir, const char *stream,
				       kapi_rec_t **out)
{
	const char *argv[] = { mqbt_bin("mqbridge"), "log", "dump", data_dir, "--stream",
			       stream, "--json", NULL };
	char *text = kapi_run(argv, 0), *save = NULL;
	size_t n = 0, cap = 0;

	*out = NULL;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		cJSON *j = cJSON_Parse(l), *h;
		kapi_rec_t *r;

		assert_non_null(j);
		r = kapi_rec_add(out, &n, &cap);
		r->partition = cJSON_GetObjectItem(j, "partition")->valueint;
		r->offset = (long long)cJSON_GetObjectItem(j, "offset")->valuedouble;
		r->ts = (long long)cJSON_GetObjectItem(j, "timestamp")->valuedouble;
		snprintf(r->key, sizeof r->key, "%s",
			 cJSON_IsString(cJSON_GetObjectItem(j, "key"))
				 ? cJSON_GetObjectItem(j, "key")->valuestring : "");
		snprintf(r->value, sizeof r->value, "%s",
			 cJSON_GetObjectItem(j, "value")->valuestring);
		h = cJSON_GetObjectItem(j, "headers");
		for (int i = 0; h && i < cJSON_GetArraySize(h); i++) {
			cJSON *e = cJSON_GetArrayItem(h, i);
			size_t used = strlen(r->headers);

			snprintf(r->headers + used, sizeof r->headers - used, "%s%s=%s",
				 i ? "," : "", cJSON_GetObjectItem(e, "key")->valuestring,
				 cJSON_GetObjectItem(e, "value")->valuestring);
		}
		cJSON_Delete(j);
	}
	free(text);
	return n;
}

/* The records of stream as `kcat -b bootstrap <extra...> -C -e` prints them; extra is
 * NULL or a NULL-terminated list of arguments (at most 16). */
static inline size_t kapi_kcat_records(const char *bootstrap, const char *const extra[],
				       const char *stream, kapi_rec_t **out)
{
	const char *argv[40] = { kcat(), "-b", bootstrap };
	int a = 3;
	char *text, *save = NULL;
	size_t n = 0, cap = 0;

	for (int i = 0; extra && extra[i] && i < 16; i++)
		argv[a++] = extra[i];
	const char *rest[] = { "-C", "-e", "-q", "-o", "beginning", "-t", stream, "-f",
			       "%p\t%o\t%T\t%k\t%s\t%h\n", NULL };
	for (int i = 0; rest[i]; i++)
		argv[a++] = rest[i];
	argv[a] = NULL;
	text = kapi_run(argv, 0);
	*out = NULL;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		kapi_rec_t *r;
		char *f[6], *fs = l;
		int k = 0;

		for (char *t; k < 6 && (t = strsep(&fs, "\t")); )   /* keeps empty fields */
			f[k++] = t;
		assert_int_equal(k, 6);
		r = kapi_rec_add(out, &n, &cap);
		r->partition = atoi(f[0]);
		r->offset = atoll(f[1]);
		r->ts = atoll(f[2]);
		snprintf(r->key, sizeof r->key, "%s", f[3]);
		snprintf(r->value, sizeof r->value, "%s", f[4]);
		snprintf(r->headers, sizeof r->headers, "%s", f[5]);
	}
	free(text);
	return n;
}

/* qsort order: partition, then offset */
static inline int kapi_rec_by_pos(const void *a, const void *b)
{
	const kapi_rec_t *x = a, *y = b;

	if (x->partition != y->partition)
		return x->partition - y->partition;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* kcat (with extra arguments) reads every record of stream exactly as log dump
 * --json prints it: partition, offset, timestamp, key, value, headers; at least
 * want_at_least of them. */
static inline void kapi_assert_same_records(const char *data_dir, const char *bootstrap,
					    const char *const extra[], const char *stream,
					    size_t want_at_least)
{
	kapi_rec_t *d, *k;
	size_t nd = kapi_dump_records(data_dir, stream, &d),
	       nk = kapi_kcat_records(bootstrap, extra, stream, &k);

	assert_true(nd >= want_at_least);
	assert_int_equal(nk, nd);
	qsort(d, nd, sizeof *d, kapi_rec_by_pos);
	qsort(k, nk, sizeof *k, kapi_rec_by_pos);
	for (size_t i = 0; i < nd; i++) {
		assert_int_equal(k[i].partition, d[i].partition);
		assert_int_equal(k[i].offset, d[i].offset);
		assert_int_equal(k[i].ts, d[i].ts);
		assert_string_equal(k[i].key, d[i].key);
		assert_string_equal(k[i].value, d[i].value);
		assert_string_equal(k[i].headers, d[i].headers);
	}
	free(d);
	free(k);
}

#endif
