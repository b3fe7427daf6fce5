/*
 * scrub.c — the background scrub (store.h, mqb_store_set_scrub): its own thread,
 * owned by the store, re-reads every sealed segment once per interval at a bounded
 * rate and reports a bad batch into the partition's corruption state (corrupt.c).
 *
 * Rate: bytes are read in chunks of at most SCRUB_CHUNK; before each chunk the thread
 * sleeps until (bytes read in this pass) / max_bytes_per_s has elapsed since the pass
 * started, so over any pass the average never exceeds the rate (plus one chunk).
 * A segment is pinned by a reference while it is scrubbed; retention may unlink it
 * meanwhile (the open fd stays valid) and then a finding is not reported.
 */
#include "bridge/store/store_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/logging.h"

#define MOD "store"
#define SCRUB_CHUNK (64 * 1024)

struct mqb_scrub {
	mqb_store_t *st;
	pthread_t th;
	bool running;
	pthread_mutex_t mu;
	pthread_cond_t cond;          /* CLOCK_MONOTONIC */
	bool stop, restart;
	int64_t interval_ms, rate;    /* mu */
	/* the current pass (thread only) */
	int64_t pass_start_us, pass_bytes, pass_rate;
	uint8_t *buf;
	size_t cap;
	_Atomic uint64_t passes, segments, bytes, corrupt, busy_us;
};

/* mu held: wait until the monotonic us deadline, stop or a restart. false: stop. */
static bool wait_until_us(mqb_scrub_t *sc, int64_t deadline_us)
{
	while (!sc->stop && !sc->restart) {
		struct timespec ts;
		if (mqb_mono_us() >= deadline_us)
			return true;
		ts.tv_sec = (time_t)(deadline_us / 1000000);
		ts.tv_nsec = (long)(deadline_us % 1000000) * 1000L;
		pthread_cond_timedwait(&sc->cond, &sc->mu, &ts);
	}
	return !sc->stop;
}

/* Throttle before reading n more bytes. false: stop or restart asked. */
static bool throttle(mqb_scrub_t *sc, size_t n)
{
	int64_t due = sc->pass_start_us + (int64_t)((double)sc->pass_bytes * 1e6 /
						    (double)sc->pass_rate);
	bool go;

	pthread_mutex_lock(&sc->mu);
	go = wait_until_us(sc, due) && !sc->restart;
	pthread_mutex_unlock(&sc->mu);
	sc->pass_bytes += (int64_t)n;
	return go;
}

/* Read [pos, pos + len) of fd into sc->buf, chunk by chunk at the rate. */
static int read_range(mqb_scrub_t *sc, int fd, int64_t pos, size_t len)
{
	size_t got = 0;

	if (len > sc->cap) {
		uint8_t *b = realloc(sc->buf, len);
		if (!b)
			return MQB_ERR_NOMEM;
		sc->buf = b;
		sc->cap = len;
	}
	while (got < len) {
		size_t want = len - got < SCRUB_CHUNK ? len - got : SCRUB_CHUNK;
		ssize_t n;
		if (!throttle(sc, want))
			return MQB_ERR_CLOSED;
		n = pread(fd, sc->buf + got, want, (off_t)(pos + (int64_t)got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return MQB_ERR_IO;
		got += (size_t)n;
		atomic_fetch_add(&sc->bytes, (uint64_t)n);
	}
	return MQB_OK;
}

/* Validate every batch of seg (sealed: its size no longer changes). MQB_ERR_CLOSED
 * when asked to stop. */
static int scrub_segment(mqb_scrub_t *sc, mqb_partition_t *p, mqb_segment_t *seg)
{
	int64_t size = atomic_load(&seg->size), pos = 0, expect = seg->base;
	int err = MQB_OK, rc = MQB_OK;
	mqb_segfd_t *fh = mqb_segfd_open(seg->log_path, &err);
	char why[160] = "";

	if (!fh)
		return err == MQB_ERR_NOTFOUND ? MQB_OK : err;   /* deleted by retention */
	while (pos < size) {
		mqb_batch_hdr_t h;
		int64_t total;

		if (size - pos < MQB_BATCH_HDR_SIZE) {
			snprintf(why, sizeof(why), "truncated batch header");
			break;
		}
		rc = read_range(sc, fh->fd, pos, MQB_BATCH_HDR_SIZE);
		if (rc)
			goto out;
		mqb_batch_header_peek(sc->buf, MQB_BATCH_HDR_SIZE, &h);
		total = (int64_t)mqb_batch_total_size(&h);
		if (h.batch_length < MQB_BATCH_HDR_SIZE - MQB_BATCH_LOG_OVERHEAD ||
		    total > size - pos || total > MQB_BATCH_MAX_SIZE) {
			snprintf(why, sizeof(why), "bad batch length %" PRId32, h.batch_length);
			break;
		}
		rc = read_range(sc, fh->fd, pos, (size_t)total);
		if (rc)
			goto out;
		if (mqb_batch_header_parse(sc->buf, (size_t)total, &h, why, sizeof(why)))
			break;
		if (h.base_offset != expect) {
			snprintf(why, sizeof(why), "base offset %" PRId64 " where %" PRId64
				 " was expected", h.base_offset, expect);
			break;
		}
		expect = mqb_batch_last_offset(&h) + 1;
		pos += total;
	}
	if (pos < size && seg->base >= atomic_load(&p->log_start)) {
		atomic_fetch_add(&sc->corrupt, 1);
		mqb_partition__report_corrupt(p, seg, pos, expect, why, "scrub");
	}
out:
	mqb_segfd_unref(fh);
	return rc;
}

/* The sealed segments of p, referenced (free the array, unref each). */
static mqb_segment_t **sealed_segments(mqb_partition_t *p, size_t *n)
{
	mqb_segment_t **v = NULL;

	*n = 0;
	pthread_mutex_lock(&p->seglock);
	if (p->nsegs > 1 && (v = malloc((p->nsegs - 1) * sizeof(*v))))
		for (size_t i = 0; i + 1 < p->nsegs; i++)
			v[(*n)++] = mqb_segment_ref(p->segs[i]);
	pthread_mutex_unlock(&p->seglock);
	return v;
}

/* One pass over every sealed segment. false: stop or restart asked. */
static bool scrub_pass(mqb_scrub_t *sc)
{
	size_t np;
	mqb_partition_t **parts = mqb_store__partitions(sc->st, &np);
	bool go = true;

	sc->pass_start_us = mqb_mono_us();
	sc->pass_bytes = 0;
	for (size_t i = 0; i < np; i++) {
		size_t ns;
		mqb_segment_t **segs = sealed_segments(parts[i], &ns);
		for (size_t k = 0; k < ns; k++) {
			if (go) {
				int rc = scrub_segment(sc, parts[i], segs[k]);
				if (rc == MQB_ERR_CLOSED)
					go = false;
				else if (rc)
					MQB_LOG_RATELIMITED(MQB_LOG_WARN, MOD, 60000, "scrub: %s: %s",
							    segs[k]->log_path, mqb_strerror(rc));
				else
					atomic_fetch_add(&sc->segments, 1);
			}
			mqb_segment_unref(segs[k]);
		}
		free(segs);
	}
	free(parts);
	atomic_fetch_add(&sc->busy_us, (uint64_t)(mqb_mono_us() - sc->pass_start_us));
	if (go)
		atomic_fetch_add(&sc->passes, 1);
	return go;
}

static void *scrub_main(void *arg)
{
	mqb_scrub_t *sc = arg;

	pthread_mutex_lock(&sc->mu);
	while (!sc->stop) {
		int64_t interval = sc->interval_ms;
		sc->restart = false;
		sc->pass_rate = sc->rate;
		if (!interval) {            /* disabled: wait for a configure or stop */
			pthread_cond_wait(&sc->cond, &sc->mu);
			continue;
		}
		pthread_mutex_unlock(&sc->mu);
		scrub_pass(sc);
		pthread_mutex_lock(&sc->mu);
		if (!sc->restart)
			wait_until_us(sc, mqb_mono_us() + interval * 1000);
	}
	pthread_mutex_unlock(&sc->mu);
	return NULL;
}

mqb_scrub_t *mqb_scrub__new(mqb_store_t *st)
{
	mqb_scrub_t *sc = calloc(1, sizeof(*sc));
	pthread_condattr_t ca;

	if (!sc)
		return NULL;
	sc->st = st;
	pthread_mutex_init(&sc->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sc->cond, &ca);
	pthread_condattr_destroy(&ca);
	return sc;
}

int mqb_scrub__configure(mqb_scrub_t *sc, int64_t interval_ms, int64_t max_bytes_per_s)
{
	pthread_mutex_lock(&sc->mu);
	sc->interval_ms = interval_ms;
	sc->rate = max_bytes_per_s;
	sc->restart = true;
	pthread_cond_broadcast(&sc->cond);
	pthread_mutex_unlock(&sc->mu);
	if (!sc->running && interval_ms > 0) {
		if (pthread_create(&sc->th, NULL, scrub_main, sc))
			return MQB_ERR_NOMEM;
		sc->running = true;
		mqb_info(MOD, "scrub: every %" PRId64 " ms over sealed segments at most %"
			 PRId64 " bytes/s", interval_ms, max_bytes_per_s);
	}
	return MQB_OK;
}

void mqb_scrub__stats(mqb_scrub_t *sc, mqb_scrub_stats_t *out)
{
	out->passes = atomic_load(&sc->passes);
	out->segments = atomic_load(&sc->segments);
	out->bytes = atomic_load(&sc->bytes);
	out->corrupt = atomic_load(&sc->corrupt);
	out->busy_us = atomic_load(&sc->busy_us);
}

void mqb_scrub__stop(mqb_scrub_t *sc)
{
	if (!sc)
		return;
	if (sc->running) {
		pthread_mutex_lock(&sc->mu);
		sc->stop = true;
		pthread_cond_broadcast(&sc->cond);
		pthread_mutex_unlock(&sc->mu);
		pthread_join(sc->th, NULL);
	}
	pthread_mutex_destroy(&sc->mu);
	pthread_cond_destroy(&sc->cond);
	free(sc->buf);
	free(sc);
}
