/*
 * test_plugin_diskfull.c — a real full disk under the plugin: data_dir on a small tmpfs
 * nearly filled by a filler file. A QoS 1 publisher (3.1.1) keeps publishing 256-byte
 * messages on a routed topic: once the store answers ENOSPC the broker drops its
 * connection unacknowledged (it sees failures: disconnects, acknowledgements stall);
 * an MQTT 5 QoS 0 publisher is not disconnected (its messages are dropped, counted);
 * /readyz turns 503 and /metrics counts the refusals by reason. When the filler goes,
 * the publisher's resends are stored and acknowledged: at the end every acknowledged
 * message is in the store (0 missing), duplicates counted.
 * The same with per_listener_settings true, where the broker sends the plugin no tick.
 * Needs to mount a tmpfs (root with CAP_SYS_ADMIN): skips with a message otherwise.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "tests/integration/ingest_util.h"
#include "tests/support/plugin_fx.h"

#define N 4000

static pf_broker_t pb;
static char g_mnt[300];

static int teardown(void **state)
{
	(void)state;
	if (pb.b.pid > 0) {   /* the broker holds files on the tmpfs */
		mqbt_kill(pb.b.pid, SIGKILL);
		mqbt_wait(pb.b.pid, 5000);
		pb.b.pid = 0;
	}
	if (g_mnt[0]) {
		umount2(g_mnt, MNT_DETACH);
		g_mnt[0] = '\0';
	}
	pf_destroy(&pb);
	return 0;
}

static long long metric(const char *needle)
{
	char *body = NULL, *p;
	int status = 0;
	long long v = -1;

	if (mqbt_http_get(pb.stats_port, "/metrics", &status, &body) == 0 && status == 200 &&
	    (p = strstr(body, needle)))
		v = atoll(p + strlen(needle));
	free(body);
	return v;
}

static void store_full(const char *conf_prefix)
{
	struct pf_load *l;
	pf_pub_t *q0;
	pthread_t th;
	iu_records_t rs;
	char conf[1024], filler[400], *body = NULL;
	unsigned char *count;
	int status = 0, n, missing = 0, dup = 0, acked = 0;
	long acked_full;
	long long full_refusals;

	assert_int_equal(mqbt_tmpdir(pb.dir, sizeof pb.dir), 0);
	snprintf(g_mnt, sizeof g_mnt, "%s/mnt", pb.dir);
	if (mqbt_tmpfs_mount(g_mnt, "2m") != 0) {
		fprintf(stderr, "cannot mount a tmpfs (%s): skipping the disk-full test\n",
			strerror(errno));
		g_mnt[0] = '\0';
		skip();
	}
	assert_int_equal(mqbt_fill_fs(g_mnt, 200 * 1024, filler, sizeof filler), 0);
	assert_int_equal(pf_config(&pb, "streams = ( { name = \"fill\"; partitions = 2; } );\n"
				   "routes = ( { filter = \"fill/+\"; stream = \"fill\"; "
				   "key = \"{1}\"; } );"), 0);
	{   /* data_dir on the tmpfs */
		char *text = mqbt_read_file(pb.conf, NULL), *p;

		assert_non_null(text);
		p = strchr(strstr(text, "data_dir = "), '\n');
		snprintf(pb.data, sizeof pb.data, "%s/data", g_mnt);
		snprintf(conf, sizeof conf, "data_dir = \"%s\";%s", pb.data, p);
		free(text);
		assert_int_equal(mqbt_write_file(pb.conf, conf), 0);
	}
	if ((conf_prefix ? pf_start_prefixed(&pb, conf_prefix, NULL) : pf_start(&pb, NULL)) != 0) {
		pf_dump_log(&pb);
		fail_msg("mosquitto with the plugin did not start");
	}

	l = calloc(1, sizeof *l);
	l->max_msgs = N;
	l->per_10ms = 20;
	l->max_unacked = 200;
	l->qos = 1;
	l->topic_prefix = "fill/";
	l->payload_len = 256;
	assert_int_equal(pf_load_connect(l, pb.b.port, "diskfull-pub"), 0);
	q0 = pf_pub_start(pb.b.port, "diskfull-q0", true, true);
	assert_non_null(q0);
	assert_int_equal(pthread_create(&th, NULL, pf_load_thread, l), 0);

	/* the store fills: refusals, disconnects, acknowledgements stall */
	for (int i = 0; i < 300 && metric("reason=\"store_full\",outcome=\"disconnected\"} ") < 1;
	     i++)
		mqbt_sleep_ms(50);
	assert_true(metric("reason=\"store_full\",outcome=\"disconnected\"} ") >= 1);
	mqbt_sleep_ms(2500);   /* the publisher reconnects and is refused again */
	for (int i = 0; i < 10; i++)
		assert_int_equal(pf_pub_send(q0, "fill/q0", "zero", 4, 0, NULL, NULL), 0);
	mqbt_sleep_ms(300);
	assert_int_equal(mqbt_http_get(pb.stats_port, "/readyz", &status, &body), 0);
	assert_int_equal(status, 503);
	free(body);
	acked_full = atomic_load(&l->nacked);
	mqbt_sleep_ms(1000);
	full_refusals = metric("reason=\"store_full\",outcome=\"disconnected\"} ") +
			metric("reason=\"store_retry_pending\",outcome=\"disconnected\"} ");
	fprintf(stderr, "store full: %ld acknowledged of %d published, %ld disconnects seen by the "
		"publisher, %lld QoS 1 refusals, QoS 0 dropped: %lld\n", atomic_load(&l->nacked),
		atomic_load(&l->n), atomic_load(&l->disconnects), full_refusals,
		metric("reason=\"store_retry_pending\",outcome=\"dropped_qos0\"} ") +
		metric("reason=\"store_full\",outcome=\"dropped_qos0\"} "));
	assert_int_equal(atomic_load(&l->nacked), acked_full);   /* nothing acked while full */
	assert_true(atomic_load(&l->nacked) < N);
	assert_true(atomic_load(&l->disconnects) >= 2);
	assert_int_equal(atomic_load(&q0->disconnects), 0);
	assert_true(metric("reason=\"store_retry_pending\",outcome=\"dropped_qos0\"} ") +
		    metric("reason=\"store_full\",outcome=\"dropped_qos0\"} ") >= 1);

	/* room again: the resends are stored and acknowledged */
	assert_int_equal(unlink(filler), 0);
	for (int i = 0; i < 600 && atomic_load(&l->nacked) < N; i++)
		mqbt_sleep_ms(100);
	atomic_store(&l->stop, true);   /* a publisher still refused would wait forever */
	pthread_join(th, NULL);
	if (atomic_load(&l->nacked) < N) {
		pf_dump_log(&pb);
		fail_msg("ingest did not resume: %ld of %d acknowledged 60 s after space returned",
			 atomic_load(&l->nacked), N);
	}
	pf_load_settle(l, 30000);
	assert_int_equal(mqbt_http_get(pb.stats_port, "/readyz", &status, &body), 0);
	assert_int_equal(status, 200);
	free(body);
	pf_load_close(l);
	pf_pub_stop(q0);
	mqbt_kill(pb.b.pid, SIGTERM);
	assert_int_equal(mqbt_wait(pb.b.pid, 20000), 0);
	pb.b.pid = 0;

	assert_int_equal(iu_read_stream(pb.data, "fill", 2, &rs), 0);
	n = atomic_load(&l->n);
	count = calloc((size_t)n + 1, 1);
	for (size_t k = 0; k < rs.n; k++) {
		int v = atoi(rs.v[k].value);

		assert_true(v >= 0 && v < n);
		if (count[v] < 255)
			count[v]++;
	}
	for (int i = 0; i < n; i++) {
		acked += l->acked[i];
		if (l->acked[i] && !count[i])
			missing++;
		if (count[i] > 1)
			dup += count[i] - 1;
	}
	fprintf(stderr, "after space returned: %d published, %d acknowledged, %zu stored, %d "
		"acknowledged but missing, %d duplicated\n", n, acked, rs.n, missing, dup);
	assert_int_equal(n, N);
	assert_int_equal(acked, N);
	assert_int_equal(missing, 0);
	free(count);
	iu_records_free(&rs);
	pf_load_free(l);
}

static void test_store_full(void **state)
{
	(void)state;
	store_full(NULL);
}

/* mosquitto 2.0.11 sends no MOSQ_EVT_TICK with per_listener_settings true: the store
 * retry must then run from the publishers' next PUBLISH, or ingest never resumes. */
static void test_store_full_per_listener(void **state)
{
	(void)state;
	store_full("per_listener_settings true\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_store_full, teardown),
		cmocka_unit_test_teardown(test_store_full_per_listener, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
