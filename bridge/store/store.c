/* store.c — the store: data_dir lock, streams and their partitions, the flusher thread. */
#include "bridge/store/store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/logging.h"

#define MOD "store"
/* The flusher sleeps until the earliest deadline any partition reports (see
 * mqb_partition__flusher_tick) or until woken; with none pending it still looks once
 * a minute (a safety net, not a policy). After a failed allocation it retries soon. */
#define FLUSHER_IDLE_MAX_MS 60000
#define FLUSHER_RETRY_MS    5

typedef struct store_stream {
	char *name;
	int32_t n;
	mqb_partition_t **parts;
} store_stream_t;

struct mqb_store {
	char *dir;
	int flags;
	int lockfd;
	pthread_mutex_t mu;               /* streams, names */
	store_stream_t *streams;
	size_t nstreams;
	const char **names;               /* NULL-terminated; replaced when a stream opens */
	const char ***names_retired;      /* earlier names arrays, freed at close */
	size_t nretired;
	pthread_t flusher;
	bool flusher_running;
	atomic_bool open_sync_pending;     /* a stream opened: sync its markers' removal */
	pthread_mutex_t fmu;
	pthread_cond_t fcond;
	bool stop, wake;
	/* The flusher's plan, for mqb_store__flusher_deadline(): planned is the ms it
	 * sleeps until (0 while it runs a pass), requested the earliest deadline asked
	 * for since its pass began. Both seq_cst: an appender stores requested, then
	 * loads planned; the flusher stores planned, then loads requested; one of the
	 * two sees the other, so a deadline is never slept through. */
	_Atomic int64_t planned, requested;
	_Atomic int64_t nparts;           /* every stream's partitions (checkpoint pace) */
	_Atomic uint64_t flusher_wakeups, flusher_passes;
	_Atomic uint64_t flusher_syncfs, flusher_syncfs_partitions, flusher_syncfs_fallbacks;
	mqb_fsync_cb_t *fsync_cb;
	void *fsync_arg;
	mqb_scrub_t *scrub;               /* scrub.c, NULL until mqb_store_set_scrub() */
	mqb_append_watchers_t watchers;   /* append_watch.c */
};

mqb_append_watchers_t *mqb_store__watchers(mqb_store_t *st) { return &st->watchers; }

mqb_fsync_cb_t *mqb_store__fsync_cb(mqb_store_t *st, void **arg)
{
	*arg = st->fsync_arg;
	return st->fsync_cb;
}

void mqb_store_set_fsync_cb(mqb_store_t *st, mqb_fsync_cb_t *cb, void *arg)
{
	st->fsync_cb = cb;
	st->fsync_arg = arg;
}

/* The store whose flusher runs on this thread (NULL elsewhere). */
static _Thread_local const mqb_store_t *flusher_self;

void mqb_store__wake_flusher(mqb_store_t *st)
{
	if (flusher_self == st)
		return;   /* the flusher recomputes its deadlines after every pass */
	pthread_mutex_lock(&st->fmu);
	st->wake = true;
	pthread_cond_signal(&st->fcond);
	pthread_mutex_unlock(&st->fmu);
}

void mqb_store__flusher_deadline(mqb_store_t *st, int64_t when)
{
	int64_t cur = atomic_load(&st->requested);

	while (when < cur && !atomic_compare_exchange_weak(&st->requested, &cur, when))
		;
	if (flusher_self != st && when < atomic_load(&st->planned))
		mqb_store__wake_flusher(st);
}

int64_t mqb_store__ckpt_interval_ms(mqb_store_t *st)
{
	int64_t ms = atomic_load_explicit(&st->nparts, memory_order_relaxed) * 1000 /
		     MQB_CKPT_PER_S;

	return ms > MQB_CKPT_INTERVAL_MS ? ms : MQB_CKPT_INTERVAL_MS;
}

void mqb_store_stats(mqb_store_t *st, mqb_store_stats_t *out)
{
	out->flusher_wakeups = atomic_load(&st->flusher_wakeups);
	out->flusher_passes = atomic_load(&st->flusher_passes);
	out->flusher_syncfs = atomic_load(&st->flusher_syncfs);
	out->flusher_syncfs_partitions = atomic_load(&st->flusher_syncfs_partitions);
	out->flusher_syncfs_fallbacks = atomic_load(&st->flusher_syncfs_fallbacks);
}

/* Every partition, copied under the lock (partitions live until close). *oom (if not
 * NULL) is set when there are partitions but no memory to list them. */
static mqb_partition_t **all_partitions(mqb_store_t *st, size_t *n, bool *oom)
{
	mqb_partition_t **v = NULL;
	size_t total = 0, k = 0;

	pthread_mutex_lock(&st->mu);
	for (size_t i = 0; i < st->nstreams; i++)
		total += (size_t)st->streams[i].n;
	if (total)
		v = malloc(total * sizeof(*v));
	if (v)
		for (size_t i = 0; i < st->nstreams; i++)
			for (int32_t j = 0; j < st->streams[i].n; j++)
				v[k++] = st->streams[i].parts[j];
	pthread_mutex_unlock(&st->mu);
	*n = k;
	if (oom)
		*oom = total && !v;
	return v;
}

mqb_partition_t **mqb_store__partitions(mqb_store_t *st, size_t *n)
{
	return all_partitions(st, n, NULL);
}

int mqb_store_set_scrub(mqb_store_t *st, int64_t interval_ms, int64_t max_bytes_per_s)
{
	if (st->flags & MQB_STORE_RDONLY)
		return MQB_ERR_STATE;
	if (interval_ms < 0 || (interval_ms > 0 && max_bytes_per_s < 1))
		return MQB_ERR_INVAL;
	if (!st->scrub) {
		if (!interval_ms)
			return MQB_OK;
		st->scrub = mqb_scrub__new(st);
		if (!st->scrub)
			return MQB_ERR_NOMEM;
	}
	return mqb_scrub__configure(st->scrub, interval_ms, max_bytes_per_s);
}

void mqb_store_scrub_stats(mqb_store_t *st, mqb_scrub_stats_t *out)
{
	memset(out, 0, sizeof(*out));
	if (st->scrub)
		mqb_scrub__stats(st->scrub, out);
}

/* When a flush is due and MQB_SYNCFS_GROUP_MIN or more partitions hold unsynced data,
 * flush all of them now, grouped (group_flush.c): the syncfs() makes the ones not due
 * yet durable anyway. The ticks below then find them clean. */
static bool flush_grouped(mqb_store_t *st, mqb_partition_t **v, size_t n)
{
	mqb_partition_t **g;
	size_t ng = 0, ndue = 0;
	int64_t now = mqb_mono_ms();
	mqb_group_flush_t gf = { 0 };

	if (n < MQB_SYNCFS_GROUP_MIN || !mqb_store__syncfs_reports_errors() ||
	    !(g = malloc(n * sizeof *g)))
		return false;
	for (size_t i = 0; i < n; i++) {
		int state = mqb_partition__flush_state(v[i], now);
		if (state >= 0)
			g[ng++] = v[i];
		ndue += state == 1;
	}
	if (ndue && ng >= MQB_SYNCFS_GROUP_MIN) {
		mqb_partition__flush_group(g, ng, &gf);
		atomic_fetch_add(&st->flusher_syncfs, gf.syncfs);
		atomic_fetch_add(&st->flusher_syncfs_partitions, gf.partitions);
		atomic_fetch_add(&st->flusher_syncfs_fallbacks, gf.fallbacks);
	}
	free(g);
	return ng >= MQB_SYNCFS_GROUP_MIN;
}

/* One pass of the flusher over every partition: the earliest deadline they report. */
static int64_t flusher_pass(mqb_store_t *st)
{
	size_t n;
	bool oom;
	mqb_partition_t **v = all_partitions(st, &n, &oom);
	int64_t next = oom ? mqb_mono_ms() + FLUSHER_RETRY_MS : INT64_MAX;
	bool grouped;

	if (v && atomic_exchange(&st->open_sync_pending, false))
		mqb_partition__sync_open_all(v, (int32_t)n);

	grouped = flush_grouped(st, v, n);
	for (size_t i = 0; i < n; i++) {
		int64_t d = mqb_partition__flusher_tick(v[i], mqb_mono_ms(), grouped);
		if (d < next)
			next = d;
	}
	free(v);
	atomic_fetch_add_explicit(&st->flusher_passes, 1, memory_order_relaxed);
	return next;
}

/* fmu held: sleep until the monotonic ms deadline, a wake-up call or stop. */
static void flusher_sleep(mqb_store_t *st, int64_t deadline)
{
	int64_t now = mqb_mono_ms();
	struct timespec ts;

	if (st->wake || st->stop || deadline <= now)
		return;
	if (deadline - now > FLUSHER_IDLE_MAX_MS)
		deadline = now + FLUSHER_IDLE_MAX_MS;
	ts.tv_sec = (time_t)(deadline / 1000);
	ts.tv_nsec = (long)(deadline % 1000) * 1000000L;
	pthread_cond_timedwait(&st->fcond, &st->fmu, &ts);
	atomic_fetch_add_explicit(&st->flusher_wakeups, 1, memory_order_relaxed);
}

/* The group-commit thread: deadline-driven, no fixed tick (docs/FORMAT.md, Flushing).
 * A wake-up call set before or during a pass is seen by the next flusher_sleep(), so
 * a deadline created while the flusher computes its sleep is never missed. */
static void *flusher_main(void *arg)
{
	mqb_store_t *st = arg;
	int64_t next = 0;

	flusher_self = st;
	pthread_mutex_lock(&st->fmu);
	while (!st->stop) {
		int64_t asked;

		atomic_store(&st->planned, next);
		asked = atomic_load(&st->requested);   /* asked for during the pass */
		if (asked < next) {
			next = asked;
			atomic_store(&st->planned, next);
		}
		flusher_sleep(st, next);
		st->wake = false;
		if (st->stop)
			break;
		/* the pass reads every partition's state: what was asked before it began
		 * is seen there; what is asked during it lands in requested, unsignalled */
		atomic_store(&st->planned, 0);
		atomic_store(&st->requested, INT64_MAX);
		pthread_mutex_unlock(&st->fmu);
		next = flusher_pass(st);
		pthread_mutex_lock(&st->fmu);
	}
	pthread_mutex_unlock(&st->fmu);
	return NULL;
}

static int mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return MQB_ERR_INVAL;
	memcpy(buf, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] == '/' || buf[i] == 0) {
			char c = buf[i];
			buf[i] = 0;
			if (mkdir(buf, MQB_STORE_DIR_MODE) < 0 && errno != EEXIST)
				return mqb_err_from_errno(errno);
			buf[i] = c;
		}
	}
	return MQB_OK;
}

/* Others who may write data_dir could replace segments or state files under us. */
static void warn_if_shared(const char *data_dir)
{
	struct stat sb;

	if (stat(data_dir, &sb) == 0 && (sb.st_mode & (S_IWGRP | S_IWOTH)))
		mqb_warn(MOD, "data_dir %s is %s-writable (mode %04o): other users can change "
			 "or delete the store; chmod %s to 0750 or stricter", data_dir,
			 (sb.st_mode & S_IWOTH) ? "world" : "group",
			 (unsigned)(sb.st_mode & 07777), data_dir);
}

mqb_store_t *mqb_store_open(const char *data_dir, int flags, char *errstr, size_t errstr_size)
{
	mqb_store_t *st;
	char path[PATH_MAX], pid[32];
	struct stat sb;
	int rc;

	if (!data_dir || !*data_dir) {
		mqb_errstr_set(errstr, errstr_size, "data_dir is empty");
		return NULL;
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		return NULL;
	}
	atomic_init(&st->requested, INT64_MAX);   /* nothing asked for yet */
	st->lockfd = -1;
	st->flags = flags;
	pthread_mutex_init(&st->mu, NULL);
	pthread_mutex_init(&st->fmu, NULL);
	mqb_append_watchers__init(&st->watchers);
	{
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&st->fcond, &ca);
		pthread_condattr_destroy(&ca);
	}
	st->dir = strdup(data_dir);
	st->names = calloc(1, sizeof(*st->names));
	if (!st->dir || !st->names) {
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		goto error;
	}
	if (flags & MQB_STORE_RDONLY) {
		if (stat(data_dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
			mqb_errstr_set(errstr, errstr_size, "%s: not a directory", data_dir);
			goto error;
		}
		return st;
	}
	rc = mkdir_p(data_dir);
	if (rc) {
		mqb_errstr_set(errstr, errstr_size, "cannot create data_dir %s: %s", data_dir,
			       strerror(errno));
		goto error;
	}
	warn_if_shared(data_dir);
	snprintf(path, sizeof(path), "%s/.lock", data_dir);
	st->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC,
			  MQB_STORE_FILE_MODE);
	if (st->lockfd < 0) {
		char desc[200];
		mqb_errstr_set(errstr, errstr_size, "cannot open %s: %s", path,
			       errno == EMFILE || errno == ENFILE ?
			       mqb_segment_errdesc(MQB_ERR_NFILE, desc, sizeof(desc)) :
			       strerror(errno));
		goto error;
	}
	if (flock(st->lockfd, LOCK_EX | LOCK_NB) < 0) {
		ssize_t n = pread(st->lockfd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = 0;
		pid[strcspn(pid, "\n")] = 0;
		mqb_errstr_set(errstr, errstr_size, "data_dir %s is in use by another process "
			       "(pid %s)", data_dir, pid[0] ? pid : "unknown");
		goto error;
	}
	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(st->lockfd, 0) < 0 ||
	    pwrite(st->lockfd, pid, strlen(pid), 0) != (ssize_t)strlen(pid))
		mqb_warn(MOD, "%s: cannot record our pid: %s", path, strerror(errno));
	if (pthread_create(&st->flusher, NULL, flusher_main, st)) {
		mqb_errstr_set(errstr, errstr_size, "cannot start the flusher thread");
		goto error;
	}
	st->flusher_running = true;
	return st;
error:
	mqb_store_close(st);
	return NULL;
}

/* Highest partition number + 1 of stream name on disk (0: none). */
static int32_t disk_partitions(const char *data_dir, const char *name)
{
	DIR *d = opendir(data_dir);
	struct dirent *e;
	size_t nl = strlen(name);
	int32_t n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		const char *s = e->d_name, *q;
		long v;
		if (strncmp(s, name, nl) || s[nl] != '-' || !s[nl + 1])
			continue;
		for (q = s + nl + 1; *q >= '0' && *q <= '9'; q++)
			;
		if (*q || (s[nl + 1] == '0' && s[nl + 2]) || q - (s + nl + 1) > 6)
			continue;
		v = strtol(s + nl + 1, NULL, 10);
		if (v + 1 > n)
			n = (int32_t)(v + 1);
	}
	closedir(d);
	return n;
}

static store_stream_t *find_stream(mqb_store_t *st, const char *name)
{
	for (size_t i = 0; i < st->nstreams; i++)
		if (!strcmp(st->streams[i].name, name))
			return &st->streams[i];
	return NULL;
}

/* Partitions from..to-1 of opts' stream, created or recovered, into parts[0..]. On an
 * error the ones opened stay in parts (the caller closes every non-NULL entry). */
static int open_parts(mqb_store_t *st, const mqb_stream_opts_t *opts, int32_t from,
		      int32_t to, bool rdonly, mqb_partition_t **parts, char *errstr,
		      size_t errstr_size)
{
	for (int32_t i = from; i < to; i++) {
		mqb_partition_t *p = mqb_partition__new(st, st->dir, opts, i, rdonly, errstr,
							errstr_size);
		int rc;

		if (!p)
			return MQB_ERR_IO;
		parts[i - from] = p;
		rc = mqb_partition__recover(p, st->flags & MQB_STORE_FULL_SCAN, errstr,
					    errstr_size);
		if (rc)
			return rc;
	}
	/* The clean-shutdown markers' removal is made durable by the flusher once the
	 * stream is open (st->open_sync_pending), or by the first append to a partition,
	 * whichever comes first: not here, before READY. Without a flusher, now. */
	if (st->flusher_running)
		return MQB_OK;
	int rc = mqb_partition__sync_open_all(parts, to - from);

	if (rc) {
		mqb_errstr_set(errstr, errstr_size, "stream %s: cannot sync %s: %s",
			       opts->name, st->dir, mqb_strerror(rc));
		return rc;
	}
	for (int32_t i = 0; i < to - from; i++) {
		rc = mqb_partition__sync_open(parts[i]);
		if (rc) {
			mqb_errstr_set(errstr, errstr_size, "stream %s: cannot sync %s: %s",
				       opts->name, parts[i]->dir, mqb_strerror(rc));
			return rc;
		}
	}
	return MQB_OK;
}

static int open_one(mqb_store_t *st, const mqb_stream_opts_t *opts, char *errstr,
		    size_t errstr_size)
{
	bool rdonly = st->flags & MQB_STORE_RDONLY;
	int32_t on_disk = disk_partitions(st->dir, opts->name), n = opts->partitions;
	mqb_partition_t **parts = NULL;
	store_stream_t *ss;
	const char **names, ***retired;
	int rc = MQB_OK;

	if (rdonly) {
		n = on_disk;
		if (n == 0) {
			mqb_errstr_set(errstr, errstr_size, "stream %s: no partitions in %s",
				       opts->name, st->dir);
			return MQB_ERR_NOTFOUND;
		}
	} else if (on_disk > n) {
		mqb_errstr_set(errstr, errstr_size, "stream %s: %d partitions configured but %d "
			       "exist on disk; a stream cannot shrink", opts->name, n, on_disk);
		return MQB_ERR_CONFIG;
	}
	parts = calloc((size_t)n, sizeof(*parts));
	if (!parts) {
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		return MQB_ERR_NOMEM;
	}
	rc = open_parts(st, opts, 0, n, rdonly, parts, errstr, errstr_size);
	if (rc)
		goto error;
	pthread_mutex_lock(&st->mu);
	ss = realloc(st->streams, (st->nstreams + 1) * sizeof(*ss));
	if (ss)
		st->streams = ss;
	/* a new names array: another thread may be reading the current one without the
	 * lock (mqb_store_streams()), so it is retired, not freed, until close */
	names = ss ? malloc((st->nstreams + 2) * sizeof(*names)) : NULL;
	retired = names ? realloc(st->names_retired,
				  (st->nretired + 1) * sizeof(*retired)) : NULL;
	if (retired)
		st->names_retired = retired;
	if (!ss || !names || !retired) {
		pthread_mutex_unlock(&st->mu);
		free(names);
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		rc = MQB_ERR_NOMEM;
		goto error;
	}
	ss = &st->streams[st->nstreams];
	ss->name = parts[0]->stream;
	ss->n = n;
	ss->parts = parts;
	memcpy(names, st->names, st->nstreams * sizeof(*names));
	names[st->nstreams] = ss->name;
	names[st->nstreams + 1] = NULL;
	st->names_retired[st->nretired++] = st->names;
	__atomic_store_n(&st->names, names, __ATOMIC_RELEASE);
	st->nstreams++;
	atomic_fetch_add(&st->nparts, n);
	pthread_mutex_unlock(&st->mu);
	atomic_store(&st->open_sync_pending, true);   /* the markers' removal (open_parts) */
	if (st->flusher_running)
		mqb_store__wake_flusher(st);   /* new partitions: their deadlines count */
	return MQB_OK;
error:
	for (int32_t i = 0; i < n; i++)
		mqb_partition__close(parts[i], false);
	free(parts);
	return rc;
}

int mqb_store_stream_open(mqb_store_t *st, const mqb_stream_opts_t *opts,
			  char *errstr, size_t errstr_size)
{
	if (!st)
		return MQB_ERR_INVAL;
	if (!opts) {
		/* read-only discovery: every <stream>-<N> directory */
		DIR *d;
		struct dirent *e;
		int rc = MQB_OK;

		if (!(st->flags & MQB_STORE_RDONLY)) {
			mqb_errstr_set(errstr, errstr_size, "stream options are required");
			return MQB_ERR_INVAL;
		}
		d = opendir(st->dir);
		if (!d) {
			mqb_errstr_set(errstr, errstr_size, "cannot list %s: %s", st->dir,
				       strerror(errno));
			return MQB_ERR_IO;
		}
		while (!rc && (e = readdir(d))) {
			char name[256];
			const char *dash = strrchr(e->d_name, '-');
			mqb_stream_opts_t o;
			size_t nl = dash ? (size_t)(dash - e->d_name) : 0;
			if (!dash || nl == 0 || nl >= sizeof(name))
				continue;
			memcpy(name, e->d_name, nl);
			name[nl] = 0;
			if (!mqb_stream_name_valid(name) || disk_partitions(st->dir, name) == 0)
				continue;
			pthread_mutex_lock(&st->mu);
			bool have = find_stream(st, name) != NULL;
			pthread_mutex_unlock(&st->mu);
			if (have)
				continue;
			mqb_stream_opts_defaults(&o);
			o.name = name;
			rc = open_one(st, &o, errstr, errstr_size);
		}
		closedir(d);
		return rc;
	}
	if (!mqb_stream_name_valid(opts->name)) {
		mqb_errstr_set(errstr, errstr_size, "invalid stream name '%s' (1..200 of "
			       "[A-Za-z0-9._-], not . or ..)", opts->name ? opts->name : "(null)");
		return MQB_ERR_INVAL;
	}
	if (!(st->flags & MQB_STORE_RDONLY) &&
	    (opts->partitions < 1 || opts->index_interval_bytes < 1 ||
	     opts->segment_bytes == 0 || opts->segment_bytes < -1 || opts->segment_ms < -1 ||
	     opts->retention_ms < -1 || opts->retention_bytes < -1 ||
	     opts->flush_interval_ms < -1 || opts->flush_messages < -1 ||
	     opts->max_batch_bytes < -1 || opts->max_batch_bytes == 0 ||
	     opts->max_batch_bytes > MQB_BATCH_MAX_SIZE)) {
		mqb_errstr_set(errstr, errstr_size, "stream %s: invalid options (partitions >= 1, "
			       "index_interval_bytes >= 1, sizes/times > 0 or -1, max_batch_bytes "
			       "<= %d)", opts->name, MQB_BATCH_MAX_SIZE);
		return MQB_ERR_INVAL;
	}
	pthread_mutex_lock(&st->mu);
	bool have = find_stream(st, opts->name) != NULL;
	pthread_mutex_unlock(&st->mu);
	if (have) {
		mqb_errstr_set(errstr, errstr_size, "stream %s is already open", opts->name);
		return MQB_ERR_EXISTS;
	}
	return open_one(st, opts, errstr, errstr_size);
}

int mqb_store_stream_grow(mqb_store_t *st, const mqb_stream_opts_t *opts, char *errstr,
			  size_t errstr_size)
{
	mqb_partition_t **parts = NULL, **grown;
	store_stream_t *ss;
	int32_t have, n, i;
	int rc = MQB_OK;

	if (!st || !opts || !opts->name || (st->flags & MQB_STORE_RDONLY))
		return MQB_ERR_INVAL;
	have = mqb_store_partition_count(st, opts->name);
	n = opts->partitions;
	if (have < 1) {
		mqb_errstr_set(errstr, errstr_size, "stream %s is not open", opts->name);
		return MQB_ERR_NOTFOUND;
	}
	if (n < have) {
		mqb_errstr_set(errstr, errstr_size, "stream %s: %d partitions configured but %d "
			       "exist; a stream cannot shrink", opts->name, n, have);
		return MQB_ERR_CONFIG;
	}
	if (n == have)
		return MQB_OK;
	parts = calloc((size_t)(n - have), sizeof(*parts));
	if (!parts) {
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		return MQB_ERR_NOMEM;
	}
	rc = open_parts(st, opts, have, n, false, parts, errstr, errstr_size);
	if (rc)
		goto error;
	/* parts is read only under st->mu (mqb_store_partition, all_partitions) */
	pthread_mutex_lock(&st->mu);
	ss = find_stream(st, opts->name);
	bool raced = !ss || ss->n != have;
	grown = !raced ? realloc(ss->parts, (size_t)n * sizeof(*grown)) : NULL;
	if (grown) {
		memcpy(grown + have, parts, (size_t)(n - have) * sizeof(*grown));
		ss->parts = grown;
		ss->n = n;
		atomic_fetch_add(&st->nparts, n - have);
	}
	pthread_mutex_unlock(&st->mu);
	if (!grown) {
		mqb_errstr_set(errstr, errstr_size, raced ? "stream %s changed meanwhile" :
			       "stream %s: out of memory", opts->name);
		rc = MQB_ERR_NOMEM;
		goto error;
	}
	free(parts);
	atomic_store(&st->open_sync_pending, true);   /* partitions left on disk earlier */
	if (st->flusher_running)
		mqb_store__wake_flusher(st);
	return MQB_OK;
error:
	for (i = 0; i < n - have; i++)
		if (parts[i])
			mqb_partition__close(parts[i], false);
	free(parts);
	return rc;
}

const char *const *mqb_store_streams(mqb_store_t *st)
{
	return __atomic_load_n(&st->names, __ATOMIC_ACQUIRE);
}

int32_t mqb_store_partition_count(mqb_store_t *st, const char *stream)
{
	store_stream_t *ss;
	int32_t n;

	pthread_mutex_lock(&st->mu);
	ss = stream ? find_stream(st, stream) : NULL;
	n = ss ? ss->n : -1;
	pthread_mutex_unlock(&st->mu);
	return n;
}

mqb_partition_t *mqb_store_partition(mqb_store_t *st, const char *stream, int32_t partition)
{
	store_stream_t *ss;
	mqb_partition_t *p = NULL;

	if (!st || !stream)
		return NULL;
	pthread_mutex_lock(&st->mu);
	ss = find_stream(st, stream);
	if (ss && partition >= 0 && partition < ss->n)
		p = ss->parts[partition];
	pthread_mutex_unlock(&st->mu);
	return p;
}

void mqb_store_maintain(mqb_store_t *st)
{
	size_t n;
	mqb_partition_t **v = all_partitions(st, &n, NULL);
	int64_t now = mqb_now_ms();

	for (size_t i = 0; i < n; i++)
		mqb_partition__maintain(v[i], now);
	free(v);
}

int mqb_store_flush(mqb_store_t *st)
{
	size_t n;
	mqb_partition_t **v = all_partitions(st, &n, NULL);
	int rc = MQB_OK;

	for (size_t i = 0; i < n; i++) {
		int r = mqb_partition_flush(v[i]);
		if (r && !rc)
			rc = r;
	}
	free(v);
	return rc;
}

void mqb_store_close(mqb_store_t *st)
{
	if (!st)
		return;
	mqb_scrub__stop(st->scrub);   /* before the partitions it reads go away */
	st->scrub = NULL;
	if (st->flusher_running) {
		pthread_mutex_lock(&st->fmu);
		st->stop = true;
		pthread_cond_signal(&st->fcond);
		pthread_mutex_unlock(&st->fmu);
		pthread_join(st->flusher, NULL);
	}
	{
		/* every partition of every stream closed together: one file-system sync
		 * for all their checkpoints and one for all their markers */
		size_t total = 0, k = 0;
		mqb_partition_t **all;

		for (size_t i = 0; i < st->nstreams; i++)
			total += (size_t)st->streams[i].n;
		all = calloc(total ? total : 1, sizeof *all);
		for (size_t i = 0; i < st->nstreams; i++) {
			for (int32_t j = 0; j < st->streams[i].n; j++) {
				if (all)
					all[k++] = st->streams[i].parts[j];
				else   /* no memory: one at a time */
					mqb_partition__close(st->streams[i].parts[j],
							     !(st->flags & MQB_STORE_RDONLY));
			}
			free(st->streams[i].parts);
		}
		if (all)
			mqb_partition__close_all(all, k, !(st->flags & MQB_STORE_RDONLY));
		free(all);
	}
	free(st->streams);
	free(st->names);
	for (size_t i = 0; i < st->nretired; i++)
		free(st->names_retired[i]);
	free(st->names_retired);
	if (st->lockfd >= 0)
		close(st->lockfd);   /* releases the flock */
	pthread_mutex_destroy(&st->mu);
	pthread_mutex_destroy(&st->fmu);
	pthread_cond_destroy(&st->fcond);
	mqb_append_watchers__fini(&st->watchers);
	free(st->dir);
	free(st);
}
