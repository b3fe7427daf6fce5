/*
 * test_ingest_linger.c — mqtt.batch_linger_ms end to end (real mosquitto, real
 * mqbridged, a libmosquitto QoS 1 publisher, the store read back): 256 partitions, 200
 * topics each keyed to its partition, 200 ms linger so batches stay open across many
 * read bursts.
 *  - records per append grow well above one (they stay near one without linger: a
 *    burst of 100 QoS 1 messages touches ~100 partitions);
 *  - a SIGHUP that adds a route while batches linger is applied at once (the
 *    lingering batches are appended first, under the routes they came with), and the
 *    new route stores;
 *  - SIGTERM right after the last acknowledgement stores the batches still lingering;
 *  - at the end every message is stored exactly once, and per topic in publish order;
 *  - the loss window in /stats shows what lingered (>= 100 ms) and stays bounded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>

#include "tests/integration/ingest_util.h"

#define TOPICS 200
#define PHASE 3000          /* messages before and after the reload */
#define TAIL 50             /* published just before SIGTERM */
#define LINGER_MS 200

static mqbt_broker_t b;
static iu_daemon_t d;

static const char *const STREAM =
	"streams = ( { name = \"lg\"; partitions = 256; } );\n";
static const char *const ROUTE_A =
	"{ filter = \"lg/+\"; stream = \"lg\"; key = \"{1}\"; qos = 1; }";
static const char *const ROUTE_B =
	"{ filter = \"lg2/+\"; stream = \"lg\"; key = \"{1}\"; qos = 1; }";

static int teardown(void **state)
{
	return iu_teardown(state);
}

static int write_conf(bool with_b)
{
	char rest[1024], mqtt[64];

	snprintf(mqtt, sizeof mqtt, "batch_linger_ms = %d;", LINGER_MS);
	snprintf(rest, sizeof rest, "%sroutes = ( %s%s%s );", STREAM, ROUTE_A,
		 with_b ? ", " : "", with_b ? ROUTE_B : "");
	return iu_daemon_config(&d, b.port, "linger", mqtt, rest);
}

/* n messages round-robin over the topics; payload "<topic>:<seq>", seq per topic */
static void publish(iu_pub_t *pub, const char *prefix, int *seq, int n)
{
	char topic[32], payload[48];

	for (int i = 0; i < n; i++) {
		int t = i % TOPICS;

		snprintf(topic, sizeof topic, "%s/t%d", prefix, t);
		snprintf(payload, sizeof payload, "%s:%d", topic, seq[t]++);
		assert_int_equal(iu_pub_send(pub, topic, payload, strlen(payload), 1, NULL), 0);
		iu_pub_throttle(pub, 100);
	}
}

static void test_linger_end_to_end(void **state)
{
	static int seq_a[TOPICS], seq_b[TOPICS];
	iu_pub_t pub;
	iu_records_t rs;
	long long stored, batches, window, pending = 0;
	int tails = 0;
	int64_t t0;
	size_t total = 0;
	int *next;

	(void)state;
	iu_track_broker(&b);
	iu_track_daemon(&d);
	assert_int_equal(mqbt_mosquitto_start(&b, NULL), 0);
	assert_int_equal(mqbt_tmpdir(d.dir, sizeof d.dir), 0);
	d.stats_port = mqbt_free_port();
	assert_int_equal(write_conf(false), 0);
	assert_int_equal(iu_daemon_start(&d, NULL), 0);
	if (iu_daemon_wait_ready(&d, 30000) != 0) {
		iu_daemon_dump_log(&d);
		fail_msg("mqbridged not ready");
	}
	assert_int_equal(iu_pub_start(&pub, b.port, "linger-pub", true), 0);

	publish(&pub, "lg", seq_a, PHASE);
	assert_int_equal(iu_pub_wait_acked(&pub, 20000), 0);
	/* batches linger now; the reload must not wait for them to come due */
	assert_int_equal(write_conf(true), 0);
	t0 = mqbt_now_ms();
	if (mqbt_signal_wait_log(d.pid, SIGHUP, d.log, "configuration reloaded from", 20000)) {
		iu_daemon_dump_log(&d);
		fail_msg("no reload");
	}
	fprintf(stderr, "SIGHUP -> reloaded with batches lingering: %lld ms\n",
		(long long)(mqbt_now_ms() - t0));
	assert_int_equal(iu_daemon_wait_stored(&d, PHASE, 10000), 0);
	for (int i = 0, status = 0; i < 250 && status != 200; i++) {   /* new SUBACK */
		char *body = NULL;

		if (mqbt_http_get(d.stats_port, "/readyz", &status, &body) != 0)
			status = 0;
		free(body);
		if (status != 200)
			mqbt_sleep_ms(20);
	}

	publish(&pub, "lg", seq_a, PHASE);
	publish(&pub, "lg2", seq_b, PHASE / 10);
	assert_int_equal(iu_pub_wait_acked(&pub, 20000), 0);
	assert_int_equal(iu_daemon_wait_stored(&d, 2 * PHASE + PHASE / 10, 20000), 0);
	stored = iu_daemon_stat(&d, "stored");
	batches = iu_daemon_stat(&d, "batches");
	window = iu_daemon_stat(&d, "unstored_window_max_us");
	fprintf(stderr, "%lld records in %lld appends (%.1f per append); loss window max "
		"%lld us\n", stored, batches, batches > 0 ? (double)stored / (double)batches : 0,
		window);
	assert_true(batches > 0 && stored >= batches * 5 / 2);
	assert_true(window >= 100000);
	assert_true(window < (LINGER_MS + 5000) * 1000LL);   /* a loaded CI machine */

	/* a tail lingers when the stop comes: the stop stores it (a machine that stalls
	 * past the linger between the ack and the check gets another try) */
	for (int tries = 0; tries < 3 && pending <= 0; tries++) {
		publish(&pub, "lg", seq_a, TAIL);
		tails++;
		assert_int_equal(iu_pub_wait_acked(&pub, 20000), 0);
		pending = iu_daemon_stat(&d, "pending");
	}
	assert_true(pending > 0);
	mqbt_kill(d.pid, SIGTERM);
	assert_int_equal(mqbt_wait(d.pid, 20000), 0);
	d.pid = 0;
	iu_pub_stop(&pub);

	assert_int_equal(iu_read_stream(d.data, "lg", 256, &rs), 0);
	/* per topic: one partition, seq 0.. in offset order, none twice, none missing */
	next = calloc(2 * TOPICS, sizeof *next);
	assert_non_null(next);
	for (size_t k = 0; k < rs.n; k++) {
		int t = -1, s = -1, slot;
		bool is_b = strncmp(rs.v[k].value, "lg2/", 4) == 0;

		assert_int_equal(sscanf(rs.v[k].value + (is_b ? 5 : 4), "%d:%d", &t, &s), 2);
		assert_true(t >= 0 && t < TOPICS);
		slot = t + (is_b ? TOPICS : 0);
		if (s != next[slot])
			fail_msg("%s: expected seq %d (partition %d offset %lld)", rs.v[k].value,
				 next[slot], (int)rs.v[k].partition, (long long)rs.v[k].offset);
		next[slot]++;
	}
	for (int t = 0; t < TOPICS; t++) {
		assert_int_equal(next[t], seq_a[t]);
		assert_int_equal(next[TOPICS + t], seq_b[t]);
		total += (size_t)(seq_a[t] + seq_b[t]);
	}
	assert_int_equal(rs.n, total);
	assert_int_equal(total, (size_t)(2 * PHASE + PHASE / 10 + tails * TAIL));
	free(next);
	iu_records_free(&rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_linger_end_to_end, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
