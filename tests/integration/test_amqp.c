/*
 * test_amqp.c — the AMQP 1.0 connector (docs/AMQP.md) driven by a client written by
 * others: Debian's python3-qpid-proton (tests/amqp/amqp_client.py, run with
 * /usr/bin/python3) against a real mqbridged (and a real mosquitto for its MQTT side).
 *
 *   send_mapping  3000 messages with application properties and partition keys: each
 *                 stored once, in its murmur2 partition, properties and amqp.* headers
 *   bad_input     garbage bytes, a wrong SASL password, an oversized message, an unknown
 *                 address, a link flood, a receiver that never grants credit: each
 *                 refused with its condition; the daemon keeps running, nothing stored
 *   store_full    data_dir on a nearly full tmpfs: no credit while appends fail, nothing
 *                 rejected; space back: all 600 accepted and stored once (skips without
 *                 the right to mount a tmpfs)
 *   tls           tls_cert + tls_key: amqps with a self-signed certificate works; plain
 *                 AMQP to that listener is refused
 *   shared_group  three AMQP receivers and one `mqbridge consume` (MQTT) member share a
 *                 group: every record accepted once, by one of them; a
 *                 receiver that releases everything fills the dead-letter stream with
 *                 exactly the records that reached max_deliveries (counts 0 then 1)
 *   exclusive_group  two receivers split the partitions; one is killed, its partitions
 *                 move to the other; every record arrives, offset order per partition
 *   rhea          rhea (Node, tests/js/node_modules) sends 500 and reads them back from a
 *                 shared group; the store holds each once in its murmur2 partition
 *   durable_kill  settle = "durable": kill -9 while a sender runs, 10 times; every
 *                 message the client saw accepted is in the store after restart
 *                 (resends are not needed for the check: each round sends new values)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bridge/ingest/partitioner.h"
#include "tests/integration/ingest_util.h"

static mqbt_broker_t broker;
static iu_daemon_t daemon_;
static int amqp_port;
static char url[64];

static const char *client(void)
{
	static char path[512];

	snprintf(path, sizeof path, "%s/tests/amqp/amqp_client.py",
		 getenv("MQB_SOURCE_DIR") ? getenv("MQB_SOURCE_DIR") : ".");
	return path;
}

/* Run the client with args (NULL-terminated); its stdout in *out (caller frees). */
static int run_client(char **out, int timeout_ms, ...)
{
	const char *argv[24] = { "/usr/bin/python3", client() };
	int n = 2, rc;
	va_list ap;

	va_start(ap, timeout_ms);
	while (n < 23 && (argv[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	rc = mqbt_run(argv, out, NULL, timeout_ms);
	if (rc != 0)
		fprintf(stderr, "amqp_client %s: exit %d: %s\n", argv[2], rc, out && *out ? *out : "");
	return rc;
}

/* Start mosquitto and mqbridged with the amqp section amqp_extra and rest. */
static void start_env(const char *amqp_extra, const char *rest)
{
	char text[4096];

	iu_track_broker(&broker);
	iu_track_daemon(&daemon_);
	assert_int_equal(mqbt_mosquitto_start(&broker, NULL), 0);
	if (!daemon_.dir[0])
		assert_int_equal(mqbt_tmpdir(daemon_.dir, sizeof daemon_.dir), 0);
	daemon_.stats_port = mqbt_free_port();
	amqp_port = mqbt_free_port();
	snprintf(url, sizeof url, "amqp://127.0.0.1:%d", amqp_port);
	snprintf(text, sizeof text,
		 "streams = ( { name = \"t\"; partitions = 4; }, { name = \"t2\"; partitions = 2; },\n"
		 "            { name = \"dlq\"; partitions = 1; } );\n"
		 "routes = ( { filter = \"unused/#\"; stream = \"t\"; } );\n"
		 "amqp = { listen = \"127.0.0.1:%d\"; %s };\n%s\n", amqp_port, amqp_extra,
		 rest ? rest : "");
	assert_int_equal(iu_daemon_config(&daemon_, broker.port, "mqb-amqp", NULL, text), 0);
	assert_int_equal(iu_daemon_start(&daemon_, NULL), 0);
	assert_int_equal(iu_daemon_wait_ready(&daemon_, 15000), 0);
	assert_int_equal(mqbt_wait_port(amqp_port, 5000), 0);
}

static void stop_env(void)
{
	assert_int_equal(mqbt_stop(daemon_.pid, 10000), 0);
	daemon_.pid = 0;
}

static void test_send_mapping(void **state)
{
	const int n = 3000;
	iu_records_t rs;
	char *out = NULL, num[16];
	char *seen;

	(void)state;
	start_env("settle = \"stored\";", NULL);
	snprintf(num, sizeof num, "%d", n);
	assert_int_equal(run_client(&out, 60000, "send", url, "t", num, NULL), 0);
	assert_non_null(strstr(out, "accepted 3000 rejected 0"));
	free(out);
	stop_env();
	assert_int_equal(iu_read_stream(daemon_.data, "t", 4, &rs), 0);
	assert_int_equal(rs.n, n);
	seen = calloc((size_t)n, 1);
	for (size_t i = 0; i < rs.n; i++) {
		const iu_rec_t *r = &rs.v[i];
		int v = atoi(r->value + 1);
		char key[16], p[16], nn[16], id[16];

		assert_true(v >= 0 && v < n);
		assert_int_equal(seen[v], 0);
		seen[v] = 1;
		snprintf(key, sizeof key, "k%d", v % 97);
		assert_string_equal(r->key, key);
		assert_int_equal(r->partition, mqb_partition_for_key(key, strlen(key), 4));
		snprintf(p, sizeof p, "x%d", v);
		snprintf(nn, sizeof nn, "%d", v);
		snprintf(id, sizeof id, "id%d", v);
		assert_string_equal(iu_hdr(r, "p"), p);
		assert_string_equal(iu_hdr(r, "n"), nn);
		assert_string_equal(iu_hdr(r, "amqp.subject"), "s");
		assert_string_equal(iu_hdr(r, "amqp.message-id"), id);
	}
	free(seen);
	iu_records_free(&rs);
}

/* Connect, write bytes, and wait for the daemon to close: true when it did. */
static bool garbage_closed(const void *bytes, size_t len)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)amqp_port) };
	struct timeval tv = { 3, 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char buf[512];
	bool closed = false;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
		return false;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (write(fd, bytes, len) == (ssize_t)len) {
		for (int i = 0; i < 20; i++) {
			ssize_t r = read(fd, buf, sizeof buf);

			if (r == 0 || (r < 0 && errno == ECONNRESET)) {
				closed = true;
				break;
			}
			if (r < 0)
				break;
		}
	}
	close(fd);
	return closed;
}

static void test_bad_input(void **state)
{
	char pw[400], extra[600], *out = NULL, *body = NULL;
	int status = 0;
	iu_records_t rs;
	static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	unsigned char junk[300];

	(void)state;
	assert_int_equal(mqbt_tmpdir(pw, sizeof pw - 20), 0);
	strcat(pw, "/passwd");
	assert_int_equal(mqbt_write_file(pw, "# users\nalice:secret\n"), 0);
	assert_int_equal(chmod(pw, 0600), 0);
	snprintf(extra, sizeof extra, "password_file = \"%s\"; max_links_per_connection = 4; "
		 "max_message_bytes = 4096; max_frame_size = 4096;", pw);
	start_env(extra, "groups = ( { name = \"g\"; stream = \"t\"; mode = \"shared\"; } );");

	/* garbage: not an AMQP header, then an AMQP header followed by junk frames */
	assert_true(garbage_closed(http, sizeof http - 1));
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (unsigned char)(i * 37 + 11);
	memcpy(junk, "AMQP\x03\x01\x00\x00", 8);
	assert_true(garbage_closed(junk, sizeof junk));
	/* SASL: a wrong password, then the right one */
	assert_int_equal(run_client(&out, 20000, "probe", url, "t", "--send", "--user", "alice",
				    "--password", "wrong", NULL), 0);
	assert_non_null(strstr(out, "amqp:unauthorized-access"));
	free(out);
	assert_int_equal(run_client(&out, 20000, "probe", url, "t", "--send", "--user", "alice",
				    "--password", "secret", NULL), 0);
	assert_non_null(strstr(out, "ok"));
	free(out);
	/* an unknown stream, a bad address, an unknown group */
	assert_int_equal(run_client(&out, 20000, "probe", url, "nope", "--send", NULL), 0);
	assert_non_null(strstr(out, "amqp:not-found"));
	free(out);
	assert_int_equal(run_client(&out, 20000, "probe", url, "t/partitions/9", NULL), 0);
	assert_non_null(strstr(out, "amqp:not-found"));
	free(out);
	assert_int_equal(run_client(&out, 20000, "probe", url, "t/whatever/1", NULL), 0);
	assert_non_null(strstr(out, "amqp:invalid-field"));
	free(out);
	assert_int_equal(run_client(&out, 20000, "probe", url, "t/groups/nog", NULL), 0);
	assert_non_null(strstr(out, "amqp:not-found"));
	free(out);
	/* an oversized message (larger than the frame size too) */
	assert_int_equal(run_client(&out, 20000, "send", url, "t", "1", "--size", "100000", NULL), 0);
	assert_non_null(strstr(out, "accepted 0 rejected 1"));
	free(out);
	/* a link flood on one connection */
	assert_int_equal(run_client(&out, 20000, "probe", url, "t", "--send", "--links", "40",
				    NULL), 0);
	assert_non_null(strstr(out, "opened 4 refused 36"));
	free(out);
	/* a receiver that never grants credit: attached, but no member */
	assert_int_equal(run_client(&out, 20000, "probe", url, "t/groups/g", "--credit", "0",
				    NULL), 0);
	assert_non_null(strstr(out, "ok"));
	free(out);
	assert_int_equal(mqbt_http_get(daemon_.stats_port, "/groups/g", &status, &body), 0);
	assert_int_equal(status, 200);
	assert_non_null(strstr(body, "\"members\":\t[]"));
	free(body);
	assert_int_equal(mqbt_http_get(daemon_.stats_port, "/stats", &status, &body), 0);
	assert_non_null(strstr(body, "\"amqp\""));
	free(body);
	/* still running, nothing stored */
	assert_true(iu_child_running(daemon_.pid));
	stop_env();
	assert_int_equal(iu_read_stream(daemon_.data, "t", 4, &rs), 0);
	assert_int_equal(rs.n, 0);
	iu_records_free(&rs);
	mqbt_rmrf(pw);
}

/* TLS (tls_cert + tls_key): amqps works, plain AMQP to the TLS listener is refused. */
static void test_tls(void **state)
{
	char dir[300], crt[400], key[400], extra[1000], *out = NULL, surl[64];
	iu_records_t rs;

	(void)state;
	assert_int_equal(mqbt_tmpdir(dir, sizeof dir), 0);
	snprintf(crt, sizeof crt, "%s/amqp.crt", dir);
	snprintf(key, sizeof key, "%s/amqp.key", dir);
	{
		const char *argv[] = { "/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048",
				       "-nodes", "-subj", "/CN=localhost", "-days", "1", "-keyout",
				       key, "-out", crt, NULL };

		assert_int_equal(mqbt_run(argv, NULL, NULL, 60000), 0);
	}
	snprintf(extra, sizeof extra, "settle = \"stored\"; tls_cert = \"%s\"; "
		 "tls_key = \"%s\";", crt, key);
	start_env(extra, NULL);
	snprintf(surl, sizeof surl, "amqps://127.0.0.1:%d", amqp_port);
	assert_int_equal(run_client(&out, 30000, "send", surl, "t", "20", "--tls", NULL), 0);
	assert_non_null(strstr(out, "accepted 20 rejected 0"));
	free(out);
	assert_int_equal(run_client(&out, 30000, "probe", url, "t", "--send", NULL), 0);
	assert_null(strstr(out, "ok"));
	free(out);
	stop_env();
	assert_int_equal(iu_read_stream(daemon_.data, "t", 4, &rs), 0);
	assert_int_equal(rs.n, 20);
	iu_records_free(&rs);
	mqbt_rmrf(dir);
}

/* The store full: a small tmpfs under data_dir, nearly filled after the start. */
static char g_mnt[400];

static int full_teardown(void **state)
{
	iu_teardown(state);             /* the daemon first: it holds files there */
	if (g_mnt[0]) {
		umount2(g_mnt, MNT_DETACH);
		*strrchr(g_mnt, '/') = '\0';
		mqbt_rmrf(g_mnt);
		g_mnt[0] = '\0';
	}
	return 0;
}

/* Disk full: appends fail, so no credit and nothing rejected or dropped; once space
 * returns every message is accepted and stored once. */
static void test_store_full(void **state)
{
	char filler[500], log[500], acc[500], n[16] = "600";
	pid_t snd;
	char *text;
	int status = 0;
	long long stalls;
	iu_records_t rs;
	int lines = 0;

	(void)state;
	iu_track_daemon(&daemon_);
	assert_int_equal(mqbt_tmpdir(daemon_.dir, sizeof daemon_.dir), 0);
	snprintf(g_mnt, sizeof g_mnt, "%s/data", daemon_.dir);
	if (mqbt_tmpfs_mount(g_mnt, "4m") != 0) {
		fprintf(stderr, "cannot mount a tmpfs (%s): skipping the store-full test\n",
			strerror(errno));
		g_mnt[0] = '\0';
		skip();
	}
	start_env("settle = \"stored\"; credit_window = 50;", NULL);
	assert_int_equal(mqbt_fill_fs(g_mnt, 100 * 1024, filler, sizeof filler), 0);
	snprintf(log, sizeof log, "%s/sender.log", daemon_.dir);
	snprintf(acc, sizeof acc, "%s/accepted.txt", daemon_.dir);
	{
		const char *argv[] = { "/usr/bin/python3", client(), "send", url, "t", n, "--size",
				       "2000", "--accepted", acc, NULL };

		assert_int_equal(mqbt_spawn(&snd, argv, log), 0);
	}
	/* stalled: credit withheld (wait for it: the interpreter's start takes seconds on
	 * a loaded box), not all accepted, nothing rejected */
	for (int64_t dl = mqbt_now_ms() + 30000;;) {
		char *body = NULL;
		cJSON *doc, *a;

		stalls = 0;
		assert_int_equal(mqbt_http_get(daemon_.stats_port, "/stats", &status, &body), 0);
		doc = cJSON_Parse(body);
		a = cJSON_GetObjectItem(doc, "amqp");
		stalls = (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(a, "credit_stalls"));
		assert_int_equal((long long)cJSON_GetNumberValue(cJSON_GetObjectItem(
			cJSON_GetObjectItem(a, "rejected"), "too_large")), 0);
		cJSON_Delete(doc);
		free(body);
		if (stalls > 0 || mqbt_now_ms() > dl)
			break;
		mqbt_sleep_ms(100);
	}
	assert_true(stalls > 0);
	mqbt_sleep_ms(500);          /* held there: nothing more is accepted */
	text = mqbt_read_file(acc, NULL);
	for (char *p = text; p && *p; p++)
		lines += *p == '\n';
	free(text);
	fprintf(stderr, "store_full: %d of %s accepted while full\n", lines, n);
	assert_true(lines < 600);
	assert_true(iu_child_running(snd));
	/* space again: everything goes through */
	assert_int_equal(unlink(filler), 0);
	assert_int_equal(mqbt_wait(snd, 60000), 0);
	text = mqbt_read_file(log, NULL);
	assert_non_null(text);
	assert_non_null(strstr(text, "accepted 600 rejected 0"));
	free(text);
	stop_env();
	assert_int_equal(iu_read_stream(daemon_.data, "t", 4, &rs), 0);
	assert_int_equal(rs.n, 600);
	iu_records_free(&rs);
}

/* Records a `mqbridge consume --trace` member received ("<ms> R <gen> <p> <off> <n>"):
 * counted into byoff[p][off]; returns how many. */
static int count_trace(const char *path, int byoff[4][1000])
{
	char *text = mqbt_read_file(path, NULL), *save = NULL;
	int k = 0;

	if (!text)
		return 0;
	for (char *ln = strtok_r(text, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
		long long ms, gen, off;
		int p, d;

		if (sscanf(ln, "%lld R %lld %d %lld %d", &ms, &gen, &p, &off, &d) == 5 &&
		    p >= 0 && p < 4 && off >= 0 && off < 1000) {
			byoff[p][off]++;
			k++;
		}
	}
	free(text);
	return k;
}

/* Lines of a recv --out file: values counted into seen[] (and (partition, offset) into
 * byoff when not NULL); returns the line count. */
static int count_out(const char *path, int *seen, int n, int *count0, int *count1,
		     int byoff[4][1000])
{
	char *text = mqbt_read_file(path, NULL), *save = NULL;
	int lines = 0;

	if (!text)
		return 0;
	for (char *ln = strtok_r(text, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
		char part[32], off[32], val[32];
		int dc;

		if (sscanf(ln, "%31s %31s %d %31s", part, off, &dc, val) != 4)
			continue;
		lines++;
		if (byoff) {
			int p = atoi(part), o = atoi(off);

			if (p >= 0 && p < 4 && o >= 0 && o < 1000)
				byoff[p][o]++;
		}
		if (val[0] == 'v' && atoi(val + 1) < n)
			seen[atoi(val + 1)]++;
		if (dc == 0 && count0)
			(*count0)++;
		if (dc == 1 && count1)
			(*count1)++;
	}
	free(text);
	return lines;
}

static void test_shared_group(void **state)
{
	const int n = 600, nd = 50;
	pid_t pids[3];
	char outs[3][400], rel[400], trace[400];
	int seen[600] = { 0 }, c0 = 0, c1 = 0, lines = 0, k_mqtt;
	static int byoff[4][1000];
	pid_t consume;
	char *out = NULL;
	iu_records_t rs;

	(void)state;
	start_env("settle = \"stored\";",
		  "groups = ( { name = \"g\"; stream = \"t\"; mode = \"shared\"; prefetch = 20; },\n"
		  "           { name = \"g2\"; stream = \"t2\"; mode = \"shared\"; "
		  "max_deliveries = 2; dead_letter = \"dlq\"; } );");
	for (int i = 0; i < 3; i++) {
		char addr[] = "t/groups/g";
		const char *argv[] = { "/usr/bin/python3", client(), "recv", url, addr, "--mode",
				       "accept", "--idle", "3", "--out", outs[i], NULL };

		snprintf(outs[i], sizeof outs[i], "%s/recv%d.txt", daemon_.dir, i);
		assert_int_equal(mqbt_spawn(&pids[i], argv, NULL), 0);
	}
	/* and one MQTT member: the reference client, same group */
	{
		char port[16];
		const char *argv[] = { mqbt_bin("mqbridge"), "consume", "--group", "g", "-p", port,
				       "-i", "mqtt-member", "--trace", trace, "--quiet", NULL };

		snprintf(port, sizeof port, "%d", broker.port);
		snprintf(trace, sizeof trace, "%s/consume.trace", daemon_.dir);
		assert_int_equal(mqbt_spawn(&consume, argv, NULL), 0);
	}
	{
		/* the AMQP members are listed with their transport, beside the MQTT one
		 * (three Python interpreters start first: up to 30 s on a loaded box) */
		int namqp = 0;

		for (int64_t dl = mqbt_now_ms() + 30000; namqp < 3 && mqbt_now_ms() < dl;) {
			char *body = NULL;
			int status = 0;
			const char *p;

			namqp = 0;
			if (mqbt_http_get(daemon_.stats_port, "/groups/g", &status, &body) == 0 &&
			    status == 200)
				for (p = body; (p = strstr(p, "\"protocol\":\t\"amqp\"")); p++)
					namqp++;
			free(body);
			if (namqp < 3)
				mqbt_sleep_ms(100);
		}
		assert_int_equal(namqp, 3);
	}
	assert_int_equal(run_client(&out, 60000, "send", url, "t", "600", NULL), 0);
	assert_non_null(strstr(out, "accepted 600"));
	free(out);
	for (int i = 0; i < 3; i++)
		assert_int_equal(mqbt_wait(pids[i], 60000), 0);
	mqbt_stop(consume, 10000);
	for (int i = 0; i < 3; i++) {
		int k = count_out(outs[i], seen, n, NULL, NULL, byoff);

		fprintf(stderr, "amqp receiver %d: %d records\n", i, k);
		assert_true(k > 0);   /* each member got a share */
		lines += k;
	}
	k_mqtt = count_trace(trace, byoff);
	fprintf(stderr, "mqtt member: %d records\n", k_mqtt);
	assert_true(k_mqtt > 0);
	assert_int_equal(lines + k_mqtt, n);
	/* every record accepted once, by exactly one member */
	for (int p = 0; p < 4; p++)
		for (int o = 0; o < 1000; o++)
			assert_true(byoff[p][o] <= 1);
	for (int i = 0; i < n; i++)
		assert_true(seen[i] <= 1);

	/* release everything: after max_deliveries (2) each record is dead-lettered */
	snprintf(rel, sizeof rel, "%s/release.txt", daemon_.dir);
	assert_int_equal(run_client(&out, 60000, "send", url, "t2", "50", NULL), 0);
	free(out);
	assert_int_equal(run_client(&out, 60000, "recv", url, "t2/groups/g2", "--mode", "release",
				    "--idle", "2", "--out", rel, NULL), 0);
	free(out);
	memset(seen, 0, sizeof seen);
	assert_int_equal(count_out(rel, seen, nd, &c0, &c1, NULL), 2 * nd);
	assert_int_equal(c0, nd);
	assert_int_equal(c1, nd);
	stop_env();
	assert_int_equal(iu_read_stream(daemon_.data, "dlq", 1, &rs), 0);
	assert_int_equal(rs.n, nd);
	iu_records_free(&rs);
}

/* Offsets of one recv --out file per partition must ascend (a redelivery, delivery count
 * > 0, may go back); counts (p, off) into byoff. */
static int check_order(const char *path, int byoff[4][1000])
{
	char *text = mqbt_read_file(path, NULL), *save = NULL;
	long last[4] = { -1, -1, -1, -1 };
	int n = 0;

	if (!text)
		return 0;
	for (char *ln = strtok_r(text, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
		int p, o, dc;

		if (sscanf(ln, "%d %d %d", &p, &o, &dc) != 3)
			continue;
		if (p < 0 || p > 3 || o < 0 || o >= 1000)
			continue;
		/* offset order per partition; only a redelivery (a record handed over
		 * unsettled by a rebalance) may go back */
		if (o <= last[p] && dc == 0)
			fprintf(stderr, "%s: partition %d offset %d after %ld\n", path, p, o, last[p]);
		assert_true(o > last[p] || dc > 0);
		last[p] = o;
		byoff[p][o]++;
		n++;
	}
	free(text);
	return n;
}

/* Exclusive group: two AMQP receivers split the partitions; one is killed (connection
 * loss = leave), its partitions move to the other; offset order per partition kept. */
static void test_exclusive_group(void **state)
{
	static int byoff[4][1000];
	char outs[2][400], *out = NULL;
	pid_t pids[2];
	int got = 0, total = 0;

	(void)state;
	start_env("settle = \"stored\";",
		  "groups = ( { name = \"ge\"; stream = \"t\"; mode = \"exclusive\"; "
		  "assignor = \"range\"; session_timeout_ms = 3000; heartbeat_interval_ms = 1000; "
		  "prefetch = 5; } );");
	assert_int_equal(run_client(&out, 60000, "send", url, "t", "400", NULL), 0);
	free(out);
	for (int i = 0; i < 2; i++) {
		const char *argv[] = { "/usr/bin/python3", client(), "recv", url, "t/groups/ge",
				       "--idle", "3", "--credit", "5", "--delay", "0.02",
				       "--out", outs[i], NULL };

		snprintf(outs[i], sizeof outs[i], "%s/excl%d.txt", daemon_.dir, i);
		assert_int_equal(mqbt_spawn(&pids[i], argv, NULL), 0);
		mqbt_sleep_ms(300);
	}
	mqbt_sleep_ms(2500);
	mqbt_kill(pids[0], SIGKILL);
	mqbt_wait(pids[0], 5000);
	assert_int_equal(mqbt_wait(pids[1], 60000), 0);
	for (int i = 0; i < 2; i++) {
		int k = check_order(outs[i], byoff);

		fprintf(stderr, "exclusive receiver %d: %d records\n", i, k);
		if (k == 0)
			iu_daemon_dump_log(&daemon_);
		assert_true(k > 0);
		total += k;
	}
	for (int p = 0; p < 4; p++)
		for (int o = 0; o < 1000; o++)
			got += byoff[p][o] > 0;
	fprintf(stderr, "exclusive: %d distinct of 400, %d deliveries\n", got, total);
	assert_int_equal(got, 400);   /* every record reached a member (at-least-once) */
	stop_env();
}

/* rhea (Node): 500 messages in, read back from a shared group by rhea, and the store. */
static void test_rhea(void **state)
{
	char js[512], port[16], *out = NULL;
	const char *src = getenv("MQB_SOURCE_DIR") ? getenv("MQB_SOURCE_DIR") : ".";
	iu_records_t rs;
	static char seen[500];

	(void)state;
	snprintf(js, sizeof js, "%s/tests/js/node_modules/rhea/package.json", src);
	if (access("/usr/bin/node", X_OK) != 0 || access(js, R_OK) != 0) {
		fprintf(stderr, "test_rhea: skipped (no node, or no tests/js/node_modules: npm ci)\n");
		return;
	}
	snprintf(js, sizeof js, "%s/tests/amqp/rhea_client.js", src);
	start_env("settle = \"stored\";",
		  "groups = ( { name = \"g\"; stream = \"t\"; mode = \"shared\"; } );");
	snprintf(port, sizeof port, "%d", amqp_port);
	{
		const char *argv[] = { "/usr/bin/node", js, port, "send", "t", "500", NULL };

		assert_int_equal(mqbt_run(argv, &out, NULL, 60000), 0);
		assert_non_null(strstr(out, "accepted 500 rejected 0"));
		free(out);
	}
	{
		const char *argv[] = { "/usr/bin/node", js, port, "recv", "t/groups/g", "5000", NULL };

		assert_int_equal(mqbt_run(argv, &out, NULL, 60000), 0);
		assert_non_null(strstr(out, "received 500"));
		free(out);
	}
	stop_env();
	assert_int_equal(iu_read_stream(daemon_.data, "t", 4, &rs), 0);
	assert_int_equal(rs.n, 500);
	for (size_t i = 0; i < rs.n; i++) {
		const iu_rec_t *r = &rs.v[i];
		int v = atoi(r->value + 1);
		char key[16];

		assert_true(r->value[0] == 'r' && v >= 0 && v < 500 && !seen[v]);
		seen[v] = 1;
		snprintf(key, sizeof key, "k%d", v);
		assert_string_equal(r->key, key);
		assert_int_equal(r->partition, mqb_partition_for_key(key, strlen(key), 4));
		assert_string_equal(iu_hdr(r, "src"), "rhea");
	}
	iu_records_free(&rs);
}

/* Lines in the sender's accepted file so far (0 while it does not exist). */
static long acc_lines(const char *path)
{
	char *text = mqbt_read_file(path, NULL);
	long n = 0;

	for (const char *p = text; p && *p; p++)
		n += *p == '\n';
	free(text);
	return n;
}

/* settle = "durable": kill -9 while a sender runs; what it saw accepted survives. */
static void test_durable_kill(void **state)
{
	const int rounds = 10;
	char acc[400], *text, *save = NULL;
	iu_records_t rs;
	char *seen;
	long accepted = 0, missing = 0;
	const long span = 1000000;

	(void)state;
	start_env("settle = \"durable\";", NULL);
	snprintf(acc, sizeof acc, "%s/accepted.txt", daemon_.dir);
	for (int r = 0; r < rounds; r++) {
		char start[32], n[32];
		const char *argv[] = { "/usr/bin/python3", client(), "send", url, "t", n,
				       "--start", start, "--accepted", acc, NULL };
		pid_t snd;

		if (r > 0) {
			assert_int_equal(iu_daemon_start(&daemon_, NULL), 0);
			assert_int_equal(iu_daemon_wait_ready(&daemon_, 15000), 0);
			assert_int_equal(mqbt_wait_port(amqp_port, 5000), 0);
		}
		snprintf(start, sizeof start, "%ld", (long)r * span);
		snprintf(n, sizeof n, "%ld", span);
		long before = acc_lines(acc);

		assert_int_equal(mqbt_spawn(&snd, argv, NULL), 0);
		/* kill while messages are being accepted: wait for the first acceptances of
		 * this round (the interpreter's start takes seconds on a loaded box) */
		for (int64_t dl = mqbt_now_ms() + 20000;
		     acc_lines(acc) <= before && mqbt_now_ms() < dl;)
			mqbt_sleep_ms(20);
		mqbt_sleep_ms(100 + 60 * (r % 5));
		mqbt_kill(daemon_.pid, SIGKILL);
		assert_int_equal(mqbt_wait(daemon_.pid, 10000), 128 + SIGKILL);
		daemon_.pid = 0;
		if (mqbt_wait(snd, 15000) < 0) {
			mqbt_kill(snd, SIGKILL);
			mqbt_wait(snd, 5000);
		}
	}
	/* recover with a clean start and stop, then read what is stored */
	assert_int_equal(iu_daemon_start(&daemon_, NULL), 0);
	assert_int_equal(iu_daemon_wait_ready(&daemon_, 15000), 0);
	stop_env();
	assert_int_equal(iu_read_stream(daemon_.data, "t", 4, &rs), 0);
	seen = calloc((size_t)(rounds * span), 1);
	assert_non_null(seen);
	for (size_t i = 0; i < rs.n; i++) {
		long v = atol(rs.v[i].value + 1);

		if (v >= 0 && v < rounds * span)
			seen[v] = 1;
	}
	text = mqbt_read_file(acc, NULL);
	assert_non_null(text);
	for (char *ln = strtok_r(text, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
		long v = atol(ln);

		accepted++;
		if (v < 0 || v >= rounds * span || !seen[v])
			missing++;
	}
	fprintf(stderr, "durable_kill: %d kills, %ld accepted, %zu stored, %ld missing\n",
		rounds, accepted, rs.n, missing);
	assert_true(accepted > rounds * 10);
	assert_int_equal(missing, 0);
	free(text);
	free(seen);
	iu_records_free(&rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_send_mapping, iu_teardown),
		cmocka_unit_test_teardown(test_bad_input, iu_teardown),
		cmocka_unit_test_teardown(test_tls, iu_teardown),
		cmocka_unit_test_teardown(test_store_full, full_teardown),
		cmocka_unit_test_teardown(test_shared_group, iu_teardown),
		cmocka_unit_test_teardown(test_exclusive_group, iu_teardown),
		cmocka_unit_test_teardown(test_rhea, iu_teardown),
		cmocka_unit_test_teardown(test_durable_kill, iu_teardown),
	};

	if (access("/usr/bin/python3", X_OK) != 0) {
		fprintf(stderr, "skipped: /usr/bin/python3 not found\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
