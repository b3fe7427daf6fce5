/*
 * test_ingest_stopfull.c — SIGTERM while the disk is full (issue 14 item 4). data_dir
 * lives on a small tmpfs a filler file nearly fills; QoS 1 messages arrive until the
 * store answers ENOSPC and ingest holds acknowledged records in memory, paused. Then
 * SIGTERM: mqbridged retries for its stop timeout (10 s), logs the records it could
 * not store as LOST with their count and exits 3 (before: exit 0). After the filler
 * is removed and mqbridged restarts, the broker delivers what it still queued: every
 * message is stored exactly once except the LOST ones, whose count the log gave.
 * Needs to mount a tmpfs (root with CAP_SYS_ADMIN): skips with a message otherwise.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "tests/integration/ingest_util.h"

#define N 3000

static char g_mnt[280];
static iu_daemon_t *g_d;

static int teardown(void **state)
{
	if (g_d && iu_child_running(g_d->pid)) {
		mqbt_kill(g_d->pid, SIGKILL);
		mqbt_wait(g_d->pid, 5000);
		g_d->pid = 0;
	}
	if (g_mnt[0]) {
		umount2(g_mnt, MNT_DETACH);
		g_mnt[0] = '\0';
	}
	return iu_teardown(state);
}

static void test_stop_full(void **state)
{
	static mqbt_broker_t b;
	static iu_daemon_t d;
	iu_pub_t pub;
	iu_records_t rs;
	char routes[512], filler[400], payload[256], *log, *p;
	long long pending = 0, lost, on_disk;
	int64_t t0, stop_ms;
	int i, status;
	bool *seen;

	(void)state;
	iu_track_broker(&b);
	iu_track_daemon(&d);
	g_d = &d;
	assert_int_equal(mqbt_tmpdir(d.dir, sizeof d.dir), 0);
	snprintf(g_mnt, sizeof g_mnt, "%s/mnt", d.dir);
	if (mqbt_tmpfs_mount(g_mnt, "2m") != 0) {
		fprintf(stderr, "cannot mount a tmpfs (%s): skipping the stop-on-full-disk test\n",
			strerror(errno));
		g_mnt[0] = '\0';
		skip();
	}
	assert_int_equal(mqbt_fill_fs(g_mnt, 200 * 1024, filler, sizeof filler), 0);

	assert_int_equal(mqbt_mosquitto_start(&b, NULL), 0);
	d.stats_port = mqbt_free_port();
	snprintf(routes, sizeof routes,
		 "streams = ( { name = \"fill\"; partitions = 1; } );\n"
		 "routes = ( { filter = \"fill/+\"; stream = \"fill\"; key = \"{1}\"; qos = 1; } );");
	assert_int_equal(iu_daemon_config(&d, b.port, "stopfull", NULL, routes), 0);
	{
		char data[300];

		snprintf(data, sizeof data, "%s/data", g_mnt);
		assert_int_equal(iu_daemon_set_data_dir(&d, data), 0);
	}
	assert_int_equal(iu_daemon_start(&d, NULL), 0);
	if (iu_daemon_wait_ready(&d, 10000) != 0) {
		iu_daemon_dump_log(&d);
		fail_msg("not ready");
	}

	assert_int_equal(iu_pub_start(&pub, b.port, "stopfull-pub", true), 0);
	memset(payload, 's', sizeof payload);
	for (i = 0; i < N; i++) {
		int n = snprintf(payload, sizeof payload, "%d:", i);

		payload[n] = 's';
		assert_int_equal(iu_pub_send(&pub, "fill/k", payload, sizeof payload, 1, NULL), 0);
		iu_pub_throttle(&pub, 500);
	}
	assert_int_equal(iu_pub_wait_acked(&pub, 30000), 0);
	iu_pub_stop(&pub);
	/* paused, holding acknowledged records */
	for (i = 0; i < 200 && pending <= 0; i++) {
		pending = iu_daemon_stat(&d, "pending");
		mqbt_sleep_ms(50);
	}
	fprintf(stderr, "disk full: %lld stored, %lld held in memory\n",
		iu_daemon_stat(&d, "stored"), pending);
	assert_true(pending > 0);

	t0 = mqbt_now_ms();
	mqbt_kill(d.pid, SIGTERM);
	status = mqbt_wait(d.pid, 30000);
	stop_ms = mqbt_now_ms() - t0;
	d.pid = 0;
	fprintf(stderr, "SIGTERM on a full disk: exit %d after %lld ms\n", status,
		(long long)stop_ms);
	log = mqbt_read_file(d.log, NULL);
	assert_non_null(log);
	if (status != 3) {
		iu_daemon_dump_log(&d);
		fail_msg("exit status %d, want 3", status);
	}
	assert_true(stop_ms >= 9500);   /* it kept retrying for the stop timeout */
	p = strstr(log, "shutdown: LOST ");
	assert_non_null(p);
	lost = atoll(p + strlen("shutdown: LOST "));
	assert_non_null(strstr(log, "o space left on device"));
	assert_non_null(strstr(log, "lost acknowledged data while stopping (see above): exit "
				    "status 3"));
	free(log);
	fprintf(stderr, "logged as lost: %lld (held: %lld)\n", lost, pending);
	assert_true(lost > 0);
	assert_int_equal(iu_read_stream(d.data, "fill", 1, &rs), 0);
	on_disk = (long long)rs.n;
	iu_records_free(&rs);

	/* room again: the broker delivers what it still queued; only the LOST ones miss */
	assert_int_equal(unlink(filler), 0);
	assert_int_equal(iu_daemon_start(&d, NULL), 0);
	if (iu_daemon_wait_stored(&d, N - lost - on_disk, 30000) != 0) {
		iu_daemon_dump_log(&d);
		fail_msg("the queued messages were not stored after the restart");
	}
	mqbt_sleep_ms(300);
	mqbt_kill(d.pid, SIGTERM);
	assert_int_equal(mqbt_wait(d.pid, 20000), 0);
	d.pid = 0;
	assert_int_equal(iu_read_stream(d.data, "fill", 1, &rs), 0);
	fprintf(stderr, "stored %zu + lost %lld of %d\n", rs.n, lost, N);
	assert_int_equal((long long)rs.n + lost, N);
	seen = calloc(N, sizeof *seen);
	assert_non_null(seen);
	for (size_t k = 0; k < rs.n; k++) {
		int v = atoi(rs.v[k].value);

		assert_true(v >= 0 && v < N);
		assert_false(seen[v]);    /* once */
		seen[v] = true;
	}
	free(seen);
	iu_records_free(&rs);
	mqbt_mosquitto_destroy(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_stop_full, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
