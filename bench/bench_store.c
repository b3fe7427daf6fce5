/*
 * bench_store.c — segment store throughput and recovery time, beside their baselines.
 *
 *   bench_store [--size-mb N] [--dir PATH] [--cold]
 *
 * 1. append: 100-byte records in batches of 100, no fsync, N MiB of encoded batches
 *    into one partition; baseline: write() of the same encoded bytes (one batch
 *    encoded once, written N MiB worth) to a file in the same directory, same run.
 * 2. sequential read of the whole partition with a reader (record by record).
 * 3. clean open: the store closed cleanly, then mqb_store_open + stream open timed
 *    (best and median of 3, with the CPU time, read calls and bytes read from
 *    /proc/self/io), alternating with its baseline: reading every segment's .index and
 *    .timeindex file whole (the least an open that loads the indexes must do).
 *    --cold: as root, sync and write 3 to /proc/sys/vm/drop_caches before each open,
 *    both sides ("skipped (not root)" otherwise).
 * 4. recovery of that partition after an unclean stop (the writer process exits
 *    without closing the store), with the recovery checkpoint and without it.
 * The store runs in child processes where a process must die uncleanly. Page cache
 * is warm except for --cold's row. The load average is printed before and after.
 * See bench/README.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/logging.h"
#include "bridge/store/batch.h"
#include "bridge/store/recovery.h"
#include "bridge/store/store.h"
#include "tests/support/harness.h"

#define STREAM    "bench"
#define REC_BYTES 100
#define BATCH     100

struct child_result {
	int ok;
	int64_t records;
	int64_t bytes;            /* encoded bytes on disk */
	int64_t us;               /* timed section */
	int used_checkpoint;
	int64_t scanned_bytes;
	char err[256];
};

static void usage(void)
{
	fprintf(stderr, "usage: bench_store [--size-mb N] [--dir PATH] [--cold]\n"
			"  --size-mb N  size of the partition written and recovered (default "
			"1024)\n"
			"  --dir PATH   an existing directory to work in (default: a new one "
			"under /tmp)\n"
			"  --cold       also time the clean open with the page cache dropped "
			"before each open (root)\n");
}

static void fill_records(mqb_record_t *recs, uint8_t (*vals)[REC_BYTES], int64_t ts)
{
	int i;

	for (i = 0; i < BATCH; i++) {
		memset(vals[i], 'a' + i % 26, REC_BYTES);
		recs[i] = (mqb_record_t){ .timestamp_ms = ts, .key = NULL, .key_len = -1,
					  .value = vals[i], .value_len = REC_BYTES };
	}
}

static void open_stream_opts(mqb_stream_opts_t *o)
{
	mqb_stream_opts_defaults(o);
	o->name = STREAM;
	o->partitions = 1;
	o->flush_interval_ms = -1;          /* no fsync while appending */
	o->flush_messages = -1;
}

static mqb_store_t *open_store(const char *dir, struct child_result *res)
{
	mqb_stream_opts_t o;
	mqb_store_t *st;

	st = mqb_store_open(dir, 0, res->err, sizeof(res->err));
	if (!st)
		return NULL;
	open_stream_opts(&o);
	if (mqb_store_stream_open(st, &o, res->err, sizeof(res->err)) != MQB_OK) {
		mqb_store_close(st);
		return NULL;
	}
	return st;
}

/* Child: append n_batches, flush, wait for the recovery checkpoint, die uncleanly. */
static void child_append(const char *dir, int64_t n_batches, int wfd)
{
	struct child_result res = { 0 };
	uint8_t (*vals)[REC_BYTES] = malloc(BATCH * REC_BYTES);
	mqb_record_t recs[BATCH];
	mqb_partition_t *p;
	mqb_watermarks_t wm;
	mqb_store_t *st;
	char ckpt[4200];
	struct stat sb;
	int64_t i, t0, flushed_at;

	st = open_store(dir, &res);
	if (!st || !vals)
		goto out;
	p = mqb_store_partition(st, STREAM, 0);
	fill_records(recs, vals, mqb_now_ms());
	t0 = mqb_mono_us();
	for (i = 0; i < n_batches; i++) {
		int rc = mqb_partition_append(p, recs, BATCH, NULL);
		if (rc != MQB_OK) {
			snprintf(res.err, sizeof(res.err), "append: %s", mqb_strerror(rc));
			goto out;
		}
	}
	res.us = mqb_mono_us() - t0;
	mqb_partition_watermarks(p, &wm);
	res.records = wm.stored;
	res.bytes = wm.size_bytes;
	/* Make the data durable and let the flusher write a checkpoint for it. */
	flushed_at = mqb_now_ms();
	mqb_store_flush(st);
	snprintf(ckpt, sizeof(ckpt), "%s/" STREAM "-0/recovery-point", dir);
	for (i = 0; i < 400; i++) {
		if (stat(ckpt, &sb) == 0 &&
		    (int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000 >= flushed_at)
			break;
		usleep(10000);
	}
	res.ok = 1;
out:
	if (write(wfd, &res, sizeof(res)) != sizeof(res))
		_exit(2);
	_exit(0);                           /* no mqb_store_close: an unclean stop */
}

/* Child: time a recovering open, report, die uncleanly again. */
static void child_recover(const char *dir, int wfd)
{
	struct child_result res = { 0 };
	const mqb_recovery_report_t *rep;
	mqb_partition_t *p;
	mqb_watermarks_t wm;
	mqb_store_t *st;
	int64_t t0 = mqb_mono_us();

	st = open_store(dir, &res);
	if (st) {
		res.us = mqb_mono_us() - t0;
		p = mqb_store_partition(st, STREAM, 0);
		mqb_partition_watermarks(p, &wm);
		rep = mqb_partition_recovery_report(p);
		res.records = wm.stored;
		res.bytes = wm.size_bytes;
		res.used_checkpoint = rep->used_checkpoint;
		res.scanned_bytes = rep->scanned_bytes;
		res.ok = !rep->clean;
		if (rep->clean)
			snprintf(res.err, sizeof(res.err), "the store was found clean");
	}
	if (write(wfd, &res, sizeof(res)) != sizeof(res))
		_exit(2);
	_exit(0);
}

static int run_child(void (*fn)(const char *, int64_t, int), const char *dir, int64_t arg,
		     struct child_result *res)
{
	int fds[2], st;
	pid_t pid;
	ssize_t n;

	memset(res, 0, sizeof(*res));
	if (pipe(fds) != 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(fds[0]);
		fn(dir, arg, fds[1]);
		_exit(3);
	}
	close(fds[1]);
	n = read(fds[0], res, sizeof(*res));
	close(fds[0]);
	waitpid(pid, &st, 0);
	if (n != (ssize_t)sizeof(*res) || !res->ok) {
		fprintf(stderr, "bench_store: child failed: %s\n",
			n == (ssize_t)sizeof(*res) ? res->err : "no result");
		return -1;
	}
	return 0;
}

static void recover_adapter(const char *dir, int64_t unused, int wfd)
{
	(void)unused;
	child_recover(dir, wfd);
}

/* The fastest of RECOVERY_RUNS recovering opens (each child dies uncleanly, so each
 * run recovers again); without_ckpt deletes the checkpoint before each run. */
#define RECOVERY_RUNS 3
static int best_recovery(const char *dir, bool without_ckpt, struct child_result *best)
{
	struct child_result r;
	char ckpt[4200];
	int i;

	snprintf(ckpt, sizeof(ckpt), "%s/" STREAM "-0/recovery-point", dir);
	for (i = 0; i < RECOVERY_RUNS; i++) {
		if (without_ckpt && unlink(ckpt) != 0) {
			fprintf(stderr, "bench_store: unlink %s: %s\n", ckpt, strerror(errno));
			return -1;
		}
		if (run_child(recover_adapter, dir, 0, &r) != 0)
			return -1;
		if (without_ckpt && r.used_checkpoint) {
			fprintf(stderr, "bench_store: a checkpoint was used after deleting it\n");
			return -1;
		}
		if (i == 0 || r.us < best->us)
			*best = r;
	}
	return 0;
}

/* Baseline: write() the same encoded batch n_batches times. */
static int baseline_write(const char *dir, int64_t n_batches, int64_t *us, int64_t *bytes)
{
	uint8_t (*vals)[REC_BYTES] = malloc(BATCH * REC_BYTES);
	mqb_record_t recs[BATCH];
	mqb_buf_t buf = { 0 };
	char path[4200];
	int64_t i, t0;
	int fd, rc = -1;

	snprintf(path, sizeof(path), "%s/baseline.raw", dir);
	if (!vals)
		return -1;
	fill_records(recs, vals, mqb_now_ms());
	if (mqb_batch_encode(&buf, 0, recs, BATCH) != MQB_OK)
		goto done;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		goto done;
	t0 = mqb_mono_us();
	for (i = 0; i < n_batches; i++) {
		if (write(fd, buf.data, buf.len) != (ssize_t)buf.len) {
			perror("bench_store: baseline write");
			close(fd);
			goto done;
		}
	}
	*us = mqb_mono_us() - t0;
	*bytes = n_batches * (int64_t)buf.len;
	close(fd);
	rc = 0;
done:
	unlink(path);
	mqb_buf_free(&buf);
	free(vals);
	return rc;
}

/* Parent: open (recovering once more), read everything sequentially. */
static int read_all(const char *dir, int64_t *records, int64_t *us)
{
	struct child_result res = { 0 };
	mqb_partition_t *p;
	mqb_reader_t *r;
	mqb_record_t rec;
	mqb_store_t *st;
	int64_t n = 0, t0, sum = 0;
	int rc;

	st = open_store(dir, &res);
	if (!st) {
		fprintf(stderr, "bench_store: open: %s\n", res.err);
		return -1;
	}
	p = mqb_store_partition(st, STREAM, 0);
	r = mqb_reader_new(p, 0);
	t0 = mqb_mono_us();
	while ((rc = mqb_reader_next_record(r, &rec)) == MQB_OK) {
		sum += rec.value_len;
		n++;
	}
	*us = mqb_mono_us() - t0;
	*records = n;
	mqb_reader_destroy(r);
	mqb_store_close(st);
	if (rc != MQB_ERR_AGAIN || sum != n * REC_BYTES) {
		fprintf(stderr, "bench_store: read stopped: %s\n", mqb_strerror(rc));
		return -1;
	}
	return 0;
}

/* --- clean open ------------------------------------------------------------------ */

#define OPEN_RUNS 3

typedef struct io_snap {
	int64_t us, cpu_us, syscr, rchar, read_bytes;
} io_snap_t;

static void io_snap(io_snap_t *s)
{
	struct rusage ru;
	char line[128];
	long long v;
	FILE *fp = fopen("/proc/self/io", "r");

	memset(s, 0, sizeof(*s));
	while (fp && fgets(line, sizeof(line), fp)) {
		if (sscanf(line, "syscr: %lld", &v) == 1)
			s->syscr = v;
		else if (sscanf(line, "rchar: %lld", &v) == 1)
			s->rchar = v;
		else if (sscanf(line, "read_bytes: %lld", &v) == 1)
			s->read_bytes = v;
	}
	if (fp)
		fclose(fp);
	getrusage(RUSAGE_SELF, &ru);
	s->cpu_us = (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
		    ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
	s->us = mqb_mono_us();
}

static void io_diff(io_snap_t *d, const io_snap_t *a, const io_snap_t *b)
{
	d->us = b->us - a->us;
	d->cpu_us = b->cpu_us - a->cpu_us;
	d->syscr = b->syscr - a->syscr;
	d->rchar = b->rchar - a->rchar;
	d->read_bytes = b->read_bytes - a->read_bytes;
}

/* sync + drop the page cache (root). false with why when it cannot. */
static bool drop_caches(char *why, size_t why_size)
{
	int fd;

	if (geteuid() != 0) {
		snprintf(why, why_size, "not root");
		return false;
	}
	sync();
	fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "3", 1) != 1) {
		snprintf(why, why_size, "drop_caches: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return false;
	}
	close(fd);
	return true;
}

/* Baseline: read every .index and .timeindex of the partition whole. */
static int read_indexes(const char *pdir, int64_t *bytes)
{
	static uint8_t buf[1 << 16];
	char path[4400];
	struct dirent *e;
	DIR *d = opendir(pdir);

	*bytes = 0;
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		ssize_t n;
		int fd;

		if (!((l > 6 && !strcmp(e->d_name + l - 6, ".index")) ||
		      (l > 10 && !strcmp(e->d_name + l - 10, ".timeindex"))))
			continue;
		snprintf(path, sizeof(path), "%s/%s", pdir, e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			*bytes += n;
		close(fd);
	}
	closedir(d);
	return 0;
}

static int cmp_snap_us(const void *a, const void *b)
{
	const io_snap_t *x = a, *y = b;
	return x->us < y->us ? -1 : x->us > y->us;
}

/* OPEN_RUNS clean opens of dir (closed cleanly after each), alternating with the
 * baseline; sorted by wall time into open[] and base[]. */
static int clean_opens(const char *dir, bool cold, io_snap_t *open_r, io_snap_t *base_r,
		       char *why, size_t why_size)
{
	char pdir[4200];

	snprintf(pdir, sizeof(pdir), "%s/" STREAM "-0", dir);
	for (int i = 0; i < OPEN_RUNS; i++) {
		struct child_result res = { 0 };
		const mqb_recovery_report_t *rep;
		io_snap_t a, b;
		mqb_store_t *st;
		int64_t bytes;

		if (cold && !drop_caches(why, why_size))
			return 1;
		io_snap(&a);
		read_indexes(pdir, &bytes);
		io_snap(&b);
		io_diff(&base_r[i], &a, &b);
		if (cold && !drop_caches(why, why_size))
			return 1;
		io_snap(&a);
		st = open_store(dir, &res);
		io_snap(&b);
		if (!st) {
			snprintf(why, why_size, "open: %s", res.err);
			return -1;
		}
		io_diff(&open_r[i], &a, &b);
		rep = mqb_partition_recovery_report(mqb_store_partition(st, STREAM, 0));
		if (!rep->clean || rep->indexes_rebuilt || rep->scanned_bytes) {
			snprintf(why, why_size, "the open was not clean (rebuilt %d, scanned %"
				 PRId64 ")", rep->indexes_rebuilt, rep->scanned_bytes);
			mqb_store_close(st);
			return -1;
		}
		mqb_store_close(st);
	}
	qsort(open_r, OPEN_RUNS, sizeof(*open_r), cmp_snap_us);
	qsort(base_r, OPEN_RUNS, sizeof(*base_r), cmp_snap_us);
	return 0;
}

static void open_row(const char *what, const io_snap_t *r)
{
	printf("%-34s best %8.2f ms  median %8.2f ms  cpu %7.2f ms  %7" PRId64 " reads  "
	       "%9.1f KiB read, %9.1f KiB from disk\n", what, r[0].us / 1e3,
	       r[OPEN_RUNS / 2].us / 1e3, r[OPEN_RUNS / 2].cpu_us / 1e3, r[OPEN_RUNS / 2].syscr,
	       r[OPEN_RUNS / 2].rchar / 1024.0, r[OPEN_RUNS / 2].read_bytes / 1024.0);
}

static void print_load(const char *when)
{
	double la[3];

	if (getloadavg(la, 3) == 3)
		printf("load average %s: %.2f %.2f %.2f\n", when, la[0], la[1], la[2]);
}

static void row(const char *what, double recs, double us, double bytes, const char *note)
{
	double s = us / 1e6;

	printf("%-34s %12.0f %9.1f %9.3f  %s\n", what, recs / s, bytes / s / 1e6, s, note);
}

int main(int argc, char **argv)
{
	int64_t size_mb = 1024, n_batches, base_us = 0, base_bytes = 0, rd_recs = 0, rd_us = 0;
	const char *dir_arg = NULL;
	struct child_result app, rec_ck, rec_full;
	io_snap_t open_r[OPEN_RUNS], base_r[OPEN_RUNS];
	bool cold = false;
	char dir[4096], note[160];
	double ratio, mrecs;
	int i, ok = 1;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--size-mb") && i + 1 < argc) {
			char *end;
			size_mb = strtoll(argv[++i], &end, 10);
			if (*end || size_mb < 1 || size_mb > 65536) {
				usage();
				return 2;
			}
		} else if (!strcmp(argv[i], "--dir") && i + 1 < argc) {
			dir_arg = argv[++i];
		} else if (!strcmp(argv[i], "--cold")) {
			cold = true;
		} else {
			usage();
			return !strcmp(argv[i], "--help") ? 0 : 2;
		}
	}
	mqb_log_set_level(MQB_LOG_ERROR);   /* recovery notes would break the table */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (dir_arg) {
		snprintf(dir, sizeof(dir), "%s/bench_store.%d", dir_arg, (int)getpid());
		if (mkdir(dir, 0755) != 0) {
			fprintf(stderr, "bench_store: mkdir %s: %s\n", dir, strerror(errno));
			return 1;
		}
	} else if (mqbt_tmpdir(dir, sizeof(dir)) != 0) {
		fprintf(stderr, "bench_store: cannot create a temp dir\n");
		return 1;
	}
	{
		/* Size of one encoded batch, to write size_mb MiB of them. */
		uint8_t (*vals)[REC_BYTES] = malloc(BATCH * REC_BYTES);
		mqb_record_t recs[BATCH];
		mqb_buf_t b = { 0 };
		if (!vals)
			return 1;
		fill_records(recs, vals, mqb_now_ms());
		if (mqb_batch_encode(&b, 0, recs, BATCH) != MQB_OK)
			return 1;
		n_batches = size_mb * 1048576 / (int64_t)b.len;
		mqb_buf_free(&b);
		free(vals);
	}

	printf("mqbridge store benchmark: %" PRId64 " MiB, %d-byte records in batches of %d, "
	       "no fsync, dir %s (warm page cache)\n\n", size_mb, REC_BYTES, BATCH, dir);
	print_load("at start");
	printf("%-34s %12s %9s %9s  %s\n", "test", "records/s", "MB/s", "seconds", "notes");

	if (baseline_write(dir, n_batches, &base_us, &base_bytes) != 0) {
		ok = 0;
		goto done;
	}
	if (run_child(child_append, dir, n_batches,
		      &app) != 0) {
		ok = 0;
		goto done;
	}
	row("append baseline: raw write()", (double)n_batches * BATCH, (double)base_us,
	    (double)base_bytes, "same encoded bytes");
	ratio = ((double)app.records / app.us) / ((double)n_batches * BATCH / base_us);
	mrecs = (double)app.records / app.us;   /* records per us = M records/s */
	snprintf(note, sizeof(note), "ratio %.2f (target >= 0.5), %.2f M rec/s (target >= 1.5)%s",
		 ratio, mrecs, ratio >= 0.5 && mrecs >= 1.5 ? "" : "  BELOW TARGET");
	row("append: mqb_partition_append", (double)app.records, (double)app.us,
	    (double)app.bytes, note);

	if (read_all(dir, &rd_recs, &rd_us) != 0) {
		ok = 0;
		goto done;
	}
	row("sequential read: reader records", (double)rd_recs, (double)rd_us,
	    (double)app.bytes, "mqb_reader_next_record");

	/* read_all closed the store cleanly: time clean opens, warm then cold. */
	printf("\nclean open of the %" PRId64 " MiB partition (%d runs, alternating with the "
	       "baseline; median's cpu, read calls and bytes):\n", size_mb, OPEN_RUNS);
	for (int c = 0; c < (cold ? 2 : 1); c++) {
		char why[320] = "";
		int rc = clean_opens(dir, c == 1, open_r, base_r, why, sizeof(why));

		if (rc < 0) {
			fprintf(stderr, "bench_store: clean open: %s\n", why);
			ok = 0;
			goto done;
		}
		if (rc > 0) {
			printf("%-34s skipped (%s)\n", "clean open, cold", why);
			continue;
		}
		open_row(c ? "baseline, cold: read the indexes" :
			 "baseline, warm: read the indexes", base_r);
		open_row(c ? "clean open, cold: store+stream" :
			 "clean open, warm: store+stream", open_r);
	}
	printf("\n");

	/* read_all closed the store cleanly; make it unclean again with a writer that
	 * appends one more batch and dies (its checkpoint covers everything). */
	if (run_child(child_append, dir, 1, &app) != 0 ||
	    best_recovery(dir, false, &rec_ck) != 0) {
		ok = 0;
		goto done;
	}
	snprintf(note, sizeof(note), "best of 3, %s, scanned %.1f MiB of %.1f (target < 1 s)%s",
		 rec_ck.used_checkpoint ? "checkpoint used" : "CHECKPOINT NOT USED",
		 rec_ck.scanned_bytes / 1048576.0, rec_ck.bytes / 1048576.0,
		 rec_ck.us < 1000000 ? "" : "  ABOVE TARGET");
	row("recovery after kill, checkpoint", (double)rec_ck.records, (double)rec_ck.us,
	    (double)rec_ck.bytes, note);

	if (best_recovery(dir, true, &rec_full) != 0) {
		ok = 0;
		goto done;
	}
	snprintf(note, sizeof(note), "best of 3, full scan: %.1f MiB validated",
		 rec_full.scanned_bytes / 1048576.0);
	row("recovery after kill, no checkpoint", (double)rec_full.records, (double)rec_full.us,
	    (double)rec_full.bytes, note);
	printf("\n(records/s and MB/s of the recovery rows are the partition's size over the "
	       "recovery time)\n");
	print_load("at end");
done:
	mqbt_rmrf(dir);
	if (dir_arg) {
		char cmd[4300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench_store: could not remove %s\n", dir);
	}
	return ok ? 0 : 1;
}
