/* test_store_corrupt.c — a bit flipped inside the checkpointed region of a sealed
 * segment (recovery trusts it: nothing scanned) is caught by readers and by the
 * background scrub: the partition enters the corrupt state (store.h), counted in the
 * metrics, named in /stats and the readiness check, logged once (issue 14 item 2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/stats/metrics.h"
#include "bridge/stats/store_metrics.h"
#include "bridge/store/recovery.h"
#include "bridge/store/store.h"
#include "tests/support/harness.h"
#include "tests/support/store_fx.h"

#define NB_PER_SEG 3     /* batches per segment with the segment_bytes below */

static int setup(void **state)
{
	if (fx_setup(state))
		return -1;
	fx_t *f = *state;
	f->o.index_interval_bytes = 512;
	f->o.segment_bytes = 4000;   /* 3 batches of 1181 bytes, then roll */
	return 0;
}

static int teardown(void **state)
{
	return fx_teardown(state);
}

static void append_batches(mqb_partition_t *p, int n)
{
	for (int b = 0; b < n; b++) {
		mqb_record_t recs[10];
		char vals[10][100];
		for (int i = 0; i < 10; i++) {
			memset(vals[i], 'x', sizeof(vals[i]));
			recs[i] = (mqb_record_t){ .timestamp_ms = 1000000 + i, .key = "key",
						  .key_len = 3, .value = vals[i], .value_len = 100 };
		}
		assert_int_equal(mqb_partition_append(p, recs, 10, NULL), MQB_OK);
	}
}

static int64_t file_size(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 ? sb.st_size : -1;
}

static void flip_bit(const char *path, int64_t pos, int bit)
{
	uint8_t b;
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, pos), 1);
	b ^= (uint8_t)(1u << bit);
	assert_int_equal(pwrite(fd, &b, 1, pos), 1);
	close(fd);
}

/* 12 batches (offsets 0..119) in 4 segments of 3; a clean close; then the clean marker
 * removed as by kill -9, the checkpoint kept (it claims everything: recovery scans
 * nothing), and one bit flipped in the value bytes of batch `batch` of segment `seg`.
 * Returns the byte position of that batch in its segment; *log gets the path. */
static int64_t corrupt_setup(fx_t *f, int seg, int batch, char *log, size_t log_size)
{
	char path[400];
	int64_t bsize;

	fx_open(f, 0);
	append_batches(f->p, 4 * NB_PER_SEG);
	fx_close(f);
	snprintf(log, log_size, "%s/%020d.log", f->pdir, seg * NB_PER_SEG * 10);
	bsize = file_size(log) / NB_PER_SEG;
	assert_int_equal(bsize, 1181);
	snprintf(path, sizeof(path), "%s/.clean-shutdown", f->pdir);
	assert_int_equal(unlink(path), 0);
	flip_bit(log, batch * bsize + 600, 3);     /* inside a record value */
	fx_open(f, 0);
	{
		const mqb_recovery_report_t *rep = mqb_partition_recovery_report(f->p);
		assert_false(rep->truncated);          /* trusted: the checkpoint covers it */
		assert_int_equal(rep->scanned_bytes, 0);
	}
	return batch * bsize;
}

/* stderr into a file, to count log lines */
static int grab_stderr(char *path, size_t n, int *saved)
{
	int fd;
	snprintf(path, n, "/tmp/mqbt-corrupt-log-%d", (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	*saved = dup(2);
	dup2(fd, 2);
	close(fd);
	return 0;
}

static char *release_stderr(const char *path, int saved)
{
	static char buf[65536];
	FILE *fp;
	size_t len;

	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	fp = fopen(path, "r");
	assert_non_null(fp);
	len = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[len] = '\0';
	fclose(fp);
	unlink(path);
	return buf;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *s = hay; (s = strstr(s, needle)); s += strlen(needle))
		n++;
	return n;
}

static void test_reader_detects_and_reports(void **state)
{
	fx_t *f = *state;
	char log[400], lpath[128], why[512];
	int64_t pos = corrupt_setup(f, 0, 2, log, sizeof(log));
	mqb_corrupt_info_t ci;
	mqb_partition_counters_t c;
	mqb_reader_t *r;
	mqb_record_t rec;
	int64_t n = 0, t0 = mqb_now_ms();
	int rc, saved;
	char *out;

	assert_false(mqb_partition_corrupt_info(f->p, &ci));
	assert_int_equal(mqb_store_ready_check(why, sizeof(why), f->st), 1);

	grab_stderr(lpath, sizeof(lpath), &saved);
	r = mqb_reader_new(f->p, 0);
	while ((rc = mqb_reader_next_record(r, &rec)) == MQB_OK)
		n++;
	/* a consumer retrying, as a group does */
	for (int i = 0; i < 20; i++) {
		assert_int_equal(mqb_reader_seek(r, 20), MQB_OK);
		assert_int_equal(mqb_reader_next_record(r, &rec), MQB_ERR_CORRUPT);
	}
	out = release_stderr(lpath, saved);
	assert_int_equal(rc, MQB_ERR_CORRUPT);
	assert_int_equal(n, 20);                   /* the two good batches before it */

	assert_true(mqb_partition_corrupt_info(f->p, &ci));
	assert_string_equal(ci.file, log);
	assert_int_equal(ci.byte_pos, pos);
	assert_int_equal(ci.first_offset, 20);
	assert_int_equal(ci.last_offset, 29);      /* the next segment starts at 30 */
	assert_true(ci.first_seen_ms >= t0 - 1000 && ci.first_seen_ms <= mqb_now_ms());
	assert_non_null(strstr(ci.why, "CRC-32C"));
	assert_string_equal(ci.found_by, "reader");
	assert_int_equal(ci.batches, 1);
	mqb_partition_counters(f->p, &c);
	assert_int_equal(c.corrupt_batches, 1);

	/* one error line naming file and byte, however often readers retry */
	assert_int_equal(count(out, "corrupt batch in"), 1);
	assert_non_null(strstr(out, log));
	assert_non_null(strstr(out, "at byte 2362"));
	assert_non_null(strstr(out, "mqbridge log repair"));

	/* readiness names the partition, file, byte and the repair */
	assert_int_equal(mqb_store_ready_check(why, sizeof(why), f->st), 0);
	assert_non_null(strstr(why, "partition s-0 has a corrupt batch in "
				    "00000000000000000000.log at byte 2362"));
	assert_non_null(strstr(why, "mqbridge log repair DATA_DIR --stream s --partition 0"));

	/* metric and /stats */
	{
		mqb_metrics_t *reg = mqb_metrics_new();
		size_t len;
		char *txt, *js;
		assert_int_equal(mqb_store_metrics_add(reg, f->st), MQB_OK);
		txt = mqb_metrics_render_prometheus(reg, &len);
		assert_non_null(strstr(txt, "mqbridge_store_corrupt_batches_total{stream=\"s\","
					    "partition=\"0\"} 1"));
		assert_non_null(strstr(txt, "mqbridge_partition_corrupt{stream=\"s\","
					    "partition=\"0\"} 1"));
		/* the batch rotted, not an index entry a reader was sent through */
		assert_non_null(strstr(txt, "\nmqbridge_store_index_rejected_total 0\n"));
		js = mqb_metrics_render_json(reg, &len);
		{
			cJSON *doc = cJSON_Parse(js), *po, *co;
			assert_non_null(doc);
			po = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(
				cJSON_GetObjectItem(doc, "streams"), "s"), "partitions"), 0);
			co = cJSON_GetObjectItem(po, "corrupt");
			assert_true(cJSON_IsObject(co));
			assert_string_equal(cJSON_GetObjectItem(co, "file")->valuestring, log);
			assert_int_equal(cJSON_GetObjectItem(co, "byte")->valuedouble, 2362);
			assert_int_equal(cJSON_GetObjectItem(co, "first_offset")->valuedouble, 20);
			assert_int_equal(cJSON_GetObjectItem(po, "corrupt_batches")->valuedouble, 1);
			cJSON_Delete(doc);
		}
		free(txt);
		free(js);
		mqb_store_set_fsync_cb(f->st, NULL, NULL);
		mqb_metrics_destroy(reg);
	}
	/* appends still work (the producer side is unaffected); later batches are readable
	 * by a reader that starts past the bad one */
	append_batches(f->p, 1);
	assert_int_equal(mqb_reader_seek(r, 30), MQB_OK);
	n = 0;
	while ((rc = mqb_reader_next_record(r, &rec)) == MQB_OK)
		n++;
	assert_int_equal(rc, MQB_ERR_AGAIN);
	assert_int_equal(n, 100);
	mqb_reader_destroy(r);
}

/* A bit flipped in a batch header's length field (not only the CRC'd part). */
static void test_reader_bad_length(void **state)
{
	fx_t *f = *state;
	char log[400];
	mqb_corrupt_info_t ci;
	mqb_reader_t *r;
	mqb_record_t rec;
	int rc;

	fx_open(f, 0);
	append_batches(f->p, 4 * NB_PER_SEG);
	fx_close(f);
	snprintf(log, sizeof(log), "%s/%020d.log", f->pdir, 30);
	flip_bit(log, 1181 + 9, 6);                /* batch 1 of segment 1: batchLength */
	fx_open(f, 0);
	r = mqb_reader_new(f->p, 30);
	while ((rc = mqb_reader_next_record(r, &rec)) == MQB_OK)
		;
	assert_int_equal(rc, MQB_ERR_CORRUPT);
	assert_int_equal(mqb_reader_position(r), 40);
	assert_true(mqb_partition_corrupt_info(f->p, &ci));
	assert_int_equal(ci.byte_pos, 1181);
	assert_int_equal(ci.first_offset, 40);
	assert_int_equal(ci.last_offset, 59);
	mqb_reader_destroy(r);
}

/* The scrub finds it without any reader, at the configured rate, and reports it. */
static void test_scrub_finds_at_bounded_rate(void **state)
{
	fx_t *f = *state;
	char log[400];
	int64_t pos = corrupt_setup(f, 1, 2, log, sizeof(log));
	const int64_t rate = 20000;
	mqb_scrub_stats_t ss;
	mqb_corrupt_info_t ci;
	int64_t deadline = mqb_mono_ms() + 10000;

	assert_int_equal(mqb_store_set_scrub(f->st, 3600000, rate), MQB_OK);
	do {
		usleep(20000);
		mqb_store_scrub_stats(f->st, &ss);
	} while (ss.passes < 1 && mqb_mono_ms() < deadline);
	assert_int_equal(ss.passes, 1);
	assert_int_equal(ss.corrupt, 1);
	assert_int_equal(ss.segments, 3);          /* the sealed ones, not the active */
	assert_true(mqb_partition_corrupt_info(f->p, &ci));
	assert_string_equal(ci.file, log);
	assert_int_equal(ci.byte_pos, pos);
	assert_int_equal(ci.first_offset, 50);
	assert_int_equal(ci.last_offset, 59);
	assert_string_equal(ci.found_by, "scrub");
	print_message("scrub: %llu bytes in %llu us at max %lld B/s (%.0f B/s)\n",
		      (unsigned long long)ss.bytes, (unsigned long long)ss.busy_us,
		      (long long)rate, (double)ss.bytes * 1e6 / (double)ss.busy_us);
	/* bounded rate: everything after the first read waited for its budget */
	assert_true(ss.bytes > 6 * 1181);
	assert_true((double)ss.busy_us >= (double)(ss.bytes - 1242) * 1e6 / (double)rate);
	assert_true(ss.busy_us < 5 * 1000000ull);
	/* a reader meeting it later does not count or log it again */
	{
		mqb_reader_t *r = mqb_reader_new(f->p, 30);
		mqb_record_t rec;
		int rc;
		while ((rc = mqb_reader_next_record(r, &rec)) == MQB_OK)
			;
		assert_int_equal(rc, MQB_ERR_CORRUPT);
		assert_true(mqb_partition_corrupt_info(f->p, &ci));
		assert_int_equal(ci.batches, 1);
		mqb_reader_destroy(r);
	}
}

/* On sound data the scrub reports nothing; RDONLY stores refuse it. */
static void test_scrub_clean(void **state)
{
	fx_t *f = *state;
	mqb_scrub_stats_t ss;
	int64_t deadline = mqb_mono_ms() + 10000;

	fx_open(f, 0);
	append_batches(f->p, 4 * NB_PER_SEG);
	assert_int_equal(mqb_store_set_scrub(f->st, 50, 1 << 30), MQB_OK);
	do {
		usleep(20000);
		mqb_store_scrub_stats(f->st, &ss);
	} while (ss.passes < 3 && mqb_mono_ms() < deadline);
	assert_true(ss.passes >= 3);
	assert_int_equal(ss.corrupt, 0);
	assert_false(mqb_partition_corrupt_info(f->p, NULL));
	assert_int_equal(mqb_store_set_scrub(f->st, 50, 0), MQB_ERR_INVAL);
	fx_close(f);
	fx_open(f, MQB_STORE_RDONLY);
	assert_int_equal(mqb_store_set_scrub(f->st, 50, 1000), MQB_ERR_STATE);
}

/* --- mqbridge log repair --------------------------------------------------------- */

static int repair(fx_t *f, char **out, const char *a1, const char *a2)
{
	const char *argv[] = { mqbt_bin("mqbridge"), "log", "repair", f->dir, "--stream", "s",
			       "--partition", "0", a1, a2, NULL };
	int rc = mqbt_run(argv, out, NULL, 30000);
	return rc;
}

/* every record from 0: contiguous; returns the count and how many are placeholders */
static int64_t read_all(mqb_partition_t *p, int64_t *lost)
{
	mqb_reader_t *r = mqb_reader_new(p, 0);
	mqb_record_t rec;
	int64_t n = 0;
	int rc;

	*lost = 0;
	while ((rc = mqb_reader_next_record(r, &rec)) == MQB_OK) {
		assert_int_equal(rec.offset, n);
		if (rec.header_count == 1 && rec.headers[0].key_len == 13 &&
		    !memcmp(rec.headers[0].key, "mqbridge.lost", 13)) {
			assert_int_equal(rec.value_len, -1);
			(*lost)++;
		}
		n++;
	}
	assert_int_equal(rc, MQB_ERR_AGAIN);
	mqb_reader_destroy(r);
	return n;
}

static void test_repair_skip(void **state)
{
	fx_t *f = *state;
	char log[400], *out = NULL;
	int64_t lost, before;
	struct stat sb;

	corrupt_setup(f, 0, 2, log, sizeof(log));
	fx_close(f);
	assert_int_equal(stat(log, &sb), 0);
	before = sb.st_size;
	assert_int_equal(repair(f, &out, "--skip", "--dry-run"), 0);
	assert_non_null(strstr(out, "would lose offsets 20..29 (10 records)"));
	free(out);
	assert_int_equal(stat(log, &sb), 0);
	assert_int_equal(sb.st_size, before);         /* dry run: unchanged */
	assert_int_equal(repair(f, &out, "--skip", NULL), 0);
	assert_non_null(strstr(out, "lost offsets 20..29 (10 records)"));
	assert_non_null(strstr(out, "at byte 2362"));
	free(out);
	fx_open(f, 0);
	assert_int_equal(read_all(f->p, &lost), 120);  /* flows past it, offsets kept */
	assert_int_equal(lost, 10);
	assert_false(mqb_partition_corrupt_info(f->p, NULL));
	fx_close(f);
	{
		const char *argv[] = { mqbt_bin("mqbridge"), "log", "verify", f->dir, NULL };
		assert_int_equal(mqbt_run(argv, NULL, NULL, 30000), 0);
	}
	/* a second run finds nothing to do */
	assert_int_equal(repair(f, &out, "--skip", NULL), 0);
	assert_non_null(strstr(out, "nothing to repair"));
	free(out);
}

/* The length field itself is bad: --skip finds the next valid batch by its CRC. A
 * bad last batch of the last segment cannot be skipped (its offsets are unknown). */
static void test_repair_skip_bad_length(void **state)
{
	fx_t *f = *state;
	char log[400], *out = NULL;
	int64_t lost;

	fx_open(f, 0);
	append_batches(f->p, 4 * NB_PER_SEG);
	fx_close(f);
	snprintf(log, sizeof(log), "%s/%020d.log", f->pdir, 30);
	flip_bit(log, 1181 + 9, 6);                /* batch 1 of segment 1: batchLength */
	assert_int_equal(repair(f, &out, "--skip", NULL), 0);
	assert_non_null(strstr(out, "lost offsets 40..49 (10 records)"));
	free(out);
	fx_open(f, 0);
	assert_int_equal(read_all(f->p, &lost), 120);
	assert_int_equal(lost, 10);
	fx_close(f);
	snprintf(log, sizeof(log), "%s/%020d.log", f->pdir, 90);
	flip_bit(log, 2 * 1181 + 600, 1);          /* the last batch of the log */
	assert_int_equal(repair(f, &out, "--skip", NULL), 1);
	free(out);
	assert_int_equal(repair(f, &out, "--truncate", NULL), 0);
	assert_non_null(strstr(out, "lost the unreadable bytes from offset 110"));
	free(out);
	fx_open(f, 0);
	assert_int_equal(read_all(f->p, &lost), 110);
}

static void test_repair_truncate(void **state)
{
	fx_t *f = *state;
	char log[400], *out = NULL;
	int64_t lost;
	mqb_watermarks_t w;

	corrupt_setup(f, 1, 1, log, sizeof(log));     /* offsets 40..49 */
	/* refused while the store (the daemon) holds the lock */
	assert_int_equal(repair(f, &out, "--truncate", NULL), 1);
	free(out);
	fx_close(f);
	assert_int_equal(repair(f, &out, "--truncate", "--skip"), 2);
	free(out);
	assert_int_equal(repair(f, &out, "--truncate", NULL), 0);
	assert_non_null(strstr(out, "lost offsets 40..119 (80 records)"));
	free(out);
	fx_open(f, 0);
	mqb_partition_watermarks(f->p, &w);
	assert_int_equal(w.stored, 40);
	assert_int_equal(read_all(f->p, &lost), 40);
	append_batches(f->p, 1);
	assert_int_equal(read_all(f->p, &lost), 50);
	assert_int_equal(lost, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reader_detects_and_reports, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_bad_length, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scrub_finds_at_bounded_rate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scrub_clean, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repair_skip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repair_skip_bad_length, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repair_truncate, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
