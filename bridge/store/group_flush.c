/* group_flush.c — the flusher's grouped flush: one syncfs(2) for many partitions.
 *
 * At 1024 partitions a flusher pass found about one record per dirty partition and
 * fdatasync'ed each one separately: one fsync per message (bench/README.md). When a
 * pass has MQB_SYNCFS_GROUP_MIN or more partitions with unsynced data on one file
 * system, one syncfs() on that file system replaces their fdatasyncs and directory
 * fsyncs: it writes back every dirty page and inode of the file system and commits its
 * journal (the directory entries of new segments included) before it returns.
 *
 * Each partition's snapshot (what its durable watermark may move to) is taken, and its
 * flushlock held, before syncfs() starts, so a watermark never passes a byte written
 * after it; appends go on meanwhile and wait for the next flush.
 *
 * Errors: since Linux 5.8 (commit 735e4ae5ba28, "vfs: track per-sb writeback errors
 * and report them to syncfs") a writeback error of any file records itself in the
 * superblock's errseq (sb->s_wb_err) as well as in the file's mapping, and syncfs()
 * returns it once per open file description it is called on (a cursor sampled at
 * open). Before 5.8 syncfs() returned 0 whatever writeback did, so older kernels keep
 * the one-by-one path. On a syncfs() error nothing moves: the pass falls back to each
 * partition's own fdatasync(), whose per-file errseq still reports the failure to the
 * partition it belongs to, which then fails as before (io_failed, appends refused);
 * the others become durable. An error seen by a syncfs() on another descriptor is not
 * lost to us: our cursor is our own.
 *
 * Memory: the snapshot array is the caller's pass's; nothing outlives the call. */
#include "bridge/store/store_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/logging.h"

#define MOD "store"

int mqb_store__syncfs_reports_errors(void)
{
	static atomic_int known;   /* 0 unknown, 1 yes, 2 no */
	int k = atomic_load(&known);

	if (!k) {
		struct utsname u;
		int major = 0, minor = 0;

		k = 2;
		if (uname(&u) == 0 && sscanf(u.release, "%d.%d", &major, &minor) == 2 &&
		    (major > 5 || (major == 5 && minor >= 8)))
			k = 1;
		atomic_store(&known, k);
	}
	return k == 1;
}

typedef struct gslot {
	mqb_partition_t *p;
	mqb_flush_snap_t s;
	bool taken;     /* snapshot taken, flushlock held */
	bool done;
} gslot_t;

/* One partition's own fsyncs, as mqb_partition_flush() would. */
static void own_sync(gslot_t *g)
{
	mqb_partition__snap_sync(g->p, &g->s);
	mqb_partition__snap_end(g->p);
	g->done = true;
}

/* The slots from first on with first's file system, not done yet: syncfs once. */
static void sync_one_fs(gslot_t *v, size_t n, size_t first, mqb_group_flush_t *out)
{
	dev_t dev = v[first].p->dev;
	size_t members = 0;
	int rc, injected = 0, err = 0;
	int64_t t0, us;
	void *cbarg = NULL;
	mqb_fsync_cb_t *cb;

	for (size_t i = first; i < n; i++) {
		if (!v[i].taken || v[i].done || v[i].p->dev != dev)
			continue;
		members++;
		/* test hook (mqb_store_test_fail_next_fsync): a writeback error of that
		 * partition's file, which syncfs() reports too; left for its own fsync */
		if (!injected)
			injected = atomic_load(&v[i].p->test_fail_fsync);
	}
	if (members < MQB_SYNCFS_GROUP_MIN) {
		for (size_t i = first; i < n; i++)
			if (v[i].taken && !v[i].done && v[i].p->dev == dev)
				own_sync(&v[i]);
		return;
	}
	t0 = mqb_mono_us();
	rc = injected ? -1 : syncfs(v[first].p->dirfd);
	err = injected ? injected : errno;
	us = mqb_mono_us() - t0;
	if (rc < 0) {
		out->fallbacks++;
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, MOD, 5000, "%s: syncfs for %zu partitions: "
				    "%s; fsyncing each to find the failed one",
				    v[first].p->dir, members, strerror(err));
		for (size_t i = first; i < n; i++)
			if (v[i].taken && !v[i].done && v[i].p->dev == dev)
				own_sync(&v[i]);
		return;
	}
	out->syncfs++;
	for (size_t i = first; i < n; i++) {
		if (!v[i].taken || v[i].done || v[i].p->dev != dev)
			continue;
		if (mqb_partition__snap_synced(v[i].p, &v[i].s) == MQB_OK)
			out->partitions++;
		mqb_partition__snap_end(v[i].p);
		v[i].done = true;
	}
	cb = mqb_store__fsync_cb(v[first].p->st, &cbarg);
	if (cb)   /* one observation per syncfs (the fsync latency histogram) */
		cb(v[first].p, (uint64_t)us, cbarg);
}

void mqb_partition__flush_group(mqb_partition_t **parts, size_t n, mqb_group_flush_t *out)
{
	gslot_t *v = n >= MQB_SYNCFS_GROUP_MIN && mqb_store__syncfs_reports_errors() ?
		     calloc(n, sizeof *v) : NULL;

	if (!v) {   /* few, an old kernel or no memory: one by one */
		for (size_t i = 0; i < n; i++)
			mqb_partition_flush(parts[i]);
		return;
	}
	/* 1: every snapshot before the syncfs starts (flushlocks held till the end) */
	for (size_t i = 0; i < n; i++) {
		mqb_partition_t *p = parts[i];

		v[i].p = p;
		if (!p->dev_known) {
			struct stat stt;

			if (fstat(p->dirfd, &stt) == 0) {
				p->dev = stt.st_dev;
				p->dev_known = true;
			}
		}
		if (!p->dev_known) {   /* unknown file system: its own fsyncs */
			mqb_partition_flush(p);
			continue;
		}
		atomic_store(&p->flush_now, 0);
		v[i].taken = mqb_partition__snap_begin(p, &v[i].s);
	}
	/* 2: one syncfs per file system with enough of them, own fsyncs for the rest */
	for (size_t i = 0; i < n; i++)
		if (v[i].taken && !v[i].done)
			sync_one_fs(v, n, i, out);
	free(v);
}
