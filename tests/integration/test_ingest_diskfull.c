/*
 * test_ingest_diskfull.c — a real full disk under mqbridged: its data_dir lives on a
 * small tmpfs that a filler file nearly fills. QoS 1 messages keep coming; the store
 * answers ENOSPC; mqbridged pauses reading (the broker keeps the rest in mqbridge's
 * session) and loses nothing; once the filler is removed it resumes by itself and
 * every message is stored exactly once, in order per key.
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

#define N 5000
#define KEYS 5

static char g_mnt[280];
static iu_daemon_t *g_d;

static int teardown(void **state)
{
	/* the daemon first (it holds files on the tmpfs), then the mount, then dirs */
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

static void test_disk_full(void **state)
{
	static mqbt_broker_t b;
	static iu_daemon_t d;
	iu_pub_t pub;
	iu_records_t rs;
	char routes[512], filler[400], payload[256], topic[32], *log;
	long long stored_while_full;
	bool saw_paused = false;
	int i;

	(void)state;
	iu_track_broker(&b);
	iu_track_daemon(&d);
	g_d = &d;
	assert_int_equal(mqbt_tmpdir(d.dir, sizeof d.dir), 0);
	snprintf(g_mnt, sizeof g_mnt, "%s/mnt", d.dir);
	if (mqbt_tmpfs_mount(g_mnt, "2m") != 0) {
		fprintf(stderr, "cannot mount a tmpfs (%s): skipping the disk-full test\n",
			strerror(errno));
		g_mnt[0] = '\0';
		skip();
	}
	/* leave about 200 KiB free */
	assert_int_equal(mqbt_fill_fs(g_mnt, 200 * 1024, filler, sizeof filler), 0);

	assert_int_equal(mqbt_mosquitto_start(&b, NULL), 0);
	d.stats_port = mqbt_free_port();
	snprintf(routes, sizeof routes,
		 "streams = ( { name = \"fill\"; partitions = 2; } );\n"
		 "routes = ( { filter = \"fill/+\"; stream = \"fill\"; key = \"{1}\"; qos = 1; } );");
	assert_int_equal(iu_daemon_config(&d, b.port, "diskfull", NULL, routes), 0);
	/* data_dir on the tmpfs */
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

	assert_int_equal(iu_pub_start(&pub, b.port, "diskfull-pub", true), 0);
	memset(payload, 'd', sizeof payload);
	for (i = 0; i < N; i++) {
		int n = snprintf(payload, sizeof payload, "%d:", i);

		payload[n] = 'd';
		snprintf(topic, sizeof topic, "fill/k%d", i % KEYS);
		assert_int_equal(iu_pub_send(&pub, topic, payload, sizeof payload, 1, NULL), 0);
		iu_pub_throttle(&pub, 500);
	}
	assert_int_equal(iu_pub_wait_acked(&pub, 30000), 0);   /* the broker has them all */
	iu_pub_stop(&pub);
	for (i = 0; i < 100 && !saw_paused; i++) {
		char *body = NULL;
		int status = 0;

		if (mqbt_http_get(d.stats_port, "/stats", &status, &body) == 0 && body) {
			cJSON *doc = cJSON_Parse(body);
			cJSON *m = doc ? cJSON_GetObjectItem(doc, "mqtt") : NULL;

			saw_paused = cJSON_IsTrue(m ? cJSON_GetObjectItem(m, "paused") : NULL);
			cJSON_Delete(doc);
		}
		free(body);
		mqbt_sleep_ms(50);
	}
	stored_while_full = iu_daemon_stat(&d, "stored");
	fprintf(stderr, "disk full: %lld of %d stored, reading paused: %s\n", stored_while_full,
		N, saw_paused ? "yes" : "no");
	assert_true(saw_paused);
	assert_true(stored_while_full < N);
	assert_int_equal(mqbt_wait(d.pid, 0), -1);   /* still running */

	/* make room: ingest resumes by itself */
	assert_int_equal(unlink(filler), 0);
	if (iu_daemon_wait_stored(&d, N, 30000) != 0) {
		iu_daemon_dump_log(&d);
		fail_msg("did not resume");
	}
	log = mqbt_read_file(d.log, NULL);
	assert_non_null(strstr(log, "o space left on device"));
	assert_non_null(strstr(log, "resuming"));
	free(log);
	mqbt_kill(d.pid, SIGTERM);
	assert_int_equal(mqbt_wait(d.pid, 20000), 0);
	d.pid = 0;

	assert_int_equal(iu_read_stream(d.data, "fill", 2, &rs), 0);
	assert_int_equal(rs.n, N);
	{
		int next[KEYS] = { 0 };

		for (size_t k = 0; k < rs.n; k++) {
			int v = atoi(rs.v[k].value), key = atoi(rs.v[k].key + 1);

			assert_int_equal(v % KEYS, key);
			assert_int_equal(v, next[key] * KEYS + key);   /* once, in order */
			next[key]++;
		}
	}
	iu_records_free(&rs);
	mqbt_mosquitto_destroy(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_disk_full, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
