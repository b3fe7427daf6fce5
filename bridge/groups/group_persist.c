/*
 * group_persist.c — a group's position on disk (offsets.h) and operator resets.
 *
 * Saves are batched: the tick saves a dirty group at most every commit_interval_ms
 * (and mqb_coord_flush/destroy save at once). Acks accepted after the last save are
 * lost by a crash, so their records are delivered again after a restart (at least
 * once); nothing whose acceptance was saved is ever delivered again.
 *
 * With opts.async_save, the coordinator's thread only exports the state; a saver
 * thread writes it (temp file, fsync, rename, fsync dir), keeping the newest pending
 * state per group (older pending ones are replaced: the newer contains them). The
 * coordinator's loop then never waits on the disk. Flush/destroy/reset wait for it.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/err.h"
#include "bridge/logging.h"
#include "bridge/groups/group_internal.h"

static void clamp_to_log(grp_t *g, grp_part_t *p)
{
	mqb_watermarks_t wm;
	int64_t committed;

	mqb_partition_watermarks(p->sp, &wm);
	committed = g->mode->part_committed(p);
	if (committed < wm.log_start || committed > wm.stored) {
		int64_t to = committed < wm.log_start ? wm.log_start : wm.stored;
		mqb_warn(GRP_LOG, "group %s: %s-%d: saved position %" PRId64 " is outside the log "
			 "[%" PRId64 ", %" PRId64 "]; continuing at %" PRId64, g->conf->name,
			 g->conf->stream, (int)p->id, committed, wm.log_start, wm.stored, to);
		g->mode->part_reset(p, to);
	}
}

int grp_state_load(grp_t *g, char *errstr, size_t errstr_size)
{
	mqb_group_state_t gs;
	mqb_group_load_info_t info;
	char why[1024];
	int rc;

	memset(&gs, 0, sizeof(gs));
	memset(&info, 0, sizeof(info));
	rc = mqb_group_state_load(g->c->data_dir, g->conf->name, &gs, &info, why, sizeof(why));
	if (rc == MQB_ERR_NOTFOUND) {
		mqb_info(GRP_LOG, "group %s: no saved position; starting at the %s of each partition",
			 g->conf->name, g->conf->start_latest ? "end" : "start");
		return MQB_OK;
	}
	if (rc == MQB_ERR_CORRUPT && g->conf->on_corrupt_start) {
		/* The operator chose: never resume from garbage, start per config. */
		mqb_error(GRP_LOG, "group %s: saved state unusable (%s); starting at the %s of each "
			  "partition (on_corrupt_state = \"start\")", g->conf->name, why,
			  g->conf->start_latest ? "end" : "start");
		return MQB_OK;
	}
	if (rc == MQB_ERR_CORRUPT) {
		/* Never resume from garbage, never guess either: starting at `start` would
		 * redeliver everything or skip everything unconsumed. The group stays down
		 * (the rest of the daemon runs) until an operator decides. */
		g->failed = true;
		int n = snprintf(g->failed_why, sizeof(g->failed_why), "saved state unusable; "
			 "the group is not started. To start it anew stop mqbridged and run "
			 "`mqbridge groups reset -c %s --group %s --to earliest|latest|offset:N|"
			 "timestamp:MS`, or move %s/__groups/%s.state and %s.state.alt away, or set "
			 "on_corrupt_state = \"start\". Found: %s", g->c->cfg_path ?
			 g->c->cfg_path : "CONFIG", g->conf->name, g->c->data_dir,
			 g->conf->name, g->conf->name, why);
		(void)n;   /* a cut message still names the file and the command */
		mqb_error(GRP_LOG, "group %s: %s", g->conf->name, g->failed_why);
		return MQB_OK;
	}
	if (rc != MQB_OK) {
		mqb_errstr_set(errstr, errstr_size, "group %s: loading its state failed: %s",
			       g->conf->name, why);
		return rc;
	}
	if (info.slots_corrupt)
		mqb_error(GRP_LOG, "group %s: one state slot was corrupt (%s); resumed from the "
			 "previous save", g->conf->name, info.corrupt_why);
	g->seq = gs.seq;
	if (gs.mode != g->mode->gstate_mode) {
		mqb_warn(GRP_LOG, "group %s: saved state is for %s mode, the group is now %s; "
			 "starting per config", g->conf->name,
			 gs.mode == MQB_GSTATE_SHARED ? "shared" : "exclusive",
			 g->mode->name);
		goto out;
	}
	for (int32_t i = 0; i < g->nparts; i++) {
		const mqb_part_state_t *ps = mqb_group_state_part(&gs, i);
		grp_part_t *p = &g->parts[i];
		if (!ps)
			continue;
		rc = g->mode->part_import(p, ps);
		if (rc != MQB_OK)
			mqb_error(GRP_LOG, "group %s: partition %d: saved state refused (%s); starting "
				  "per config", g->conf->name, (int)i, mqb_strerror(rc));
		clamp_to_log(g, p);
		mqb_info(GRP_LOG, "group %s: %s-%d resumes at %" PRId64 " (%zu records to redeliver)",
			 g->conf->name, g->conf->stream, (int)i, ps->start, ps->n_recs);
	}
out:
	mqb_group_state_free(&gs);
	return MQB_OK;
}

typedef struct saver_job {
	grp_t *g;
	mqb_group_state_t gs;         /* pending state (owned) */
	bool pending;
	uint64_t seq;                 /* the saver's sequence for this group */
	atomic_bool failed;           /* the last background save failed */
} saver_job_t;

struct grp_saver {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t work, idle;
	bool stop;
	int busy;
	int first_error;
	saver_job_t *jobs;
	size_t n;
};

static saver_job_t *job_of(grp_saver_t *s, grp_t *g)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->jobs[i].g == g)
			return &s->jobs[i];
	return NULL;
}

static void *saver_main(void *arg)
{
	grp_saver_t *s = arg;
	char why[512];

	pthread_mutex_lock(&s->mu);
	for (;;) {
		saver_job_t *j = NULL;
		for (size_t i = 0; i < s->n && !j; i++)
			if (s->jobs[i].pending)
				j = &s->jobs[i];
		if (!j) {
			if (s->stop)
				break;
			pthread_cond_wait(&s->work, &s->mu);
			continue;
		}
		mqb_group_state_t gs = j->gs;
		memset(&j->gs, 0, sizeof(j->gs));
		j->pending = false;
		s->busy++;
		gs.seq = j->seq;
		pthread_mutex_unlock(&s->mu);
		int rc = mqb_group_state_save(j->g->c->data_dir, j->g->conf->name, &gs,
					      why, sizeof(why));
		if (rc != MQB_OK)
			MQB_LOG_RATELIMITED(MQB_LOG_ERROR, GRP_LOG, 5000, "group %s: saving offsets "
					    "failed: %s (will retry)", j->g->conf->name, why);
		uint64_t seq = gs.seq;
		mqb_group_state_free(&gs);
		pthread_mutex_lock(&s->mu);
		if (rc == MQB_OK) {
			j->seq = seq;
		} else {
			atomic_store(&j->failed, true);
			if (s->first_error == MQB_OK)
				s->first_error = rc;
		}
		s->busy--;
		pthread_cond_broadcast(&s->idle);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

int grp_saver_regroup(mqb_coord_t *c)
{
	grp_saver_t *s = c->saver;
	saver_job_t *jobs;

	if (!s)
		return MQB_OK;
	jobs = calloc(c->n_groups ? c->n_groups : 1, sizeof(*jobs));
	if (!jobs)
		return MQB_ERR_NOMEM;
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < c->n_groups; i++) {
		saver_job_t *old = job_of(s, c->groups[i]);

		jobs[i].g = c->groups[i];
		jobs[i].seq = old ? old->seq : c->groups[i]->seq;
		atomic_init(&jobs[i].failed, old ? atomic_load(&old->failed) : false);
	}
	for (size_t i = 0; i < s->n; i++)   /* idle: nothing pending, nothing to keep */
		mqb_group_state_free(&s->jobs[i].gs);
	free(s->jobs);
	s->jobs = jobs;
	s->n = c->n_groups;
	pthread_mutex_unlock(&s->mu);
	return MQB_OK;
}

int grp_saver_start(mqb_coord_t *c)
{
	grp_saver_t *s = calloc(1, sizeof(*s));

	if (!s)
		return MQB_ERR_NOMEM;
	s->jobs = calloc(c->n_groups ? c->n_groups : 1, sizeof(*s->jobs));
	if (!s->jobs) {
		free(s);
		return MQB_ERR_NOMEM;
	}
	s->n = c->n_groups;
	for (size_t i = 0; i < s->n; i++) {
		s->jobs[i].g = c->groups[i];
		s->jobs[i].seq = c->groups[i]->seq;
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->work, NULL);
	pthread_cond_init(&s->idle, NULL);
	if (pthread_create(&s->thread, NULL, saver_main, s) != 0) {
		free(s->jobs);
		free(s);
		return MQB_ERR_NOMEM;
	}
	c->saver = s;
	return MQB_OK;
}

int grp_saver_wait(mqb_coord_t *c)
{
	grp_saver_t *s = c->saver;
	int rc;

	if (!s)
		return MQB_OK;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		bool pending = false;
		for (size_t i = 0; i < s->n; i++)
			pending |= s->jobs[i].pending;
		if (!pending && !s->busy)
			break;
		pthread_cond_wait(&s->idle, &s->mu);
	}
	rc = s->first_error;
	s->first_error = MQB_OK;
	pthread_mutex_unlock(&s->mu);
	return rc;
}

void grp_saver_stop(mqb_coord_t *c)
{
	grp_saver_t *s = c->saver;

	if (!s)
		return;
	grp_saver_wait(c);
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_broadcast(&s->work);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	for (size_t i = 0; i < s->n; i++)
		mqb_group_state_free(&s->jobs[i].gs);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->work);
	pthread_cond_destroy(&s->idle);
	free(s->jobs);
	free(s);
	c->saver = NULL;
}

void grp_saver_check(grp_t *g)
{
	saver_job_t *j = g->c->saver ? job_of(g->c->saver, g) : NULL;

	if (j && atomic_exchange(&j->failed, false))
		g->dirty = true;
}

int grp_state_save(grp_t *g, int64_t now)
{
	mqb_group_state_t gs;
	char why[512];
	int rc = MQB_OK;

	memset(&gs, 0, sizeof(gs));
	gs.mode = g->mode->gstate_mode;
	gs.seq = g->seq;
	for (int32_t i = 0; i < g->nparts; i++) {
		mqb_part_state_t ps;
		memset(&ps, 0, sizeof(ps));
		grp_part_t *p = &g->parts[i];
		rc = g->mode->part_export(p, &ps);
		if (rc != MQB_OK)
			goto out;
		ps.partition = i;
		rc = mqb_group_state_add_part(&gs, &ps);
		free(ps.recs);
		if (rc != MQB_OK)
			goto out;
	}
	if (g->c->saver) {
		grp_saver_t *s = g->c->saver;
		saver_job_t *j = job_of(s, g);
		pthread_mutex_lock(&s->mu);
		mqb_group_state_free(&j->gs);   /* an older pending state: superseded */
		j->gs = gs;
		j->pending = true;
		memset(&gs, 0, sizeof(gs));
		pthread_cond_signal(&s->work);
		pthread_mutex_unlock(&s->mu);
		g->dirty = false;
		g->last_save_ms = now;
		goto out;
	}
	rc = mqb_group_state_save(g->c->data_dir, g->conf->name, &gs, why, sizeof(why));
	if (rc != MQB_OK) {
		MQB_LOG_RATELIMITED(MQB_LOG_ERROR, GRP_LOG, 5000, "group %s: saving offsets failed: "
				    "%s (will retry)", g->conf->name, why);
		goto out;
	}
	g->seq = gs.seq;
	g->dirty = false;
	g->last_save_ms = now;
out:
	if (rc != MQB_OK)
		g->last_save_ms = now;   /* retry after another interval, not at once */
	mqb_group_state_free(&gs);
	return rc;
}

int grp_reset_to(grp_t *g, const char *to, char *errstr, size_t errstr_size)
{
	int64_t arg = 0;
	int kind;   /* 0 earliest, 1 latest, 2 offset, 3 timestamp */
	char *end;

	if (strcmp(to, "earliest") == 0) {
		kind = 0;
	} else if (strcmp(to, "latest") == 0) {
		kind = 1;
	} else if (strncmp(to, "offset:", 7) == 0 || strncmp(to, "timestamp:", 10) == 0) {
		kind = to[0] == 'o' ? 2 : 3;
		const char *num = to + (kind == 2 ? 7 : 10);
		arg = strtoll(num, &end, 10);
		if (!*num || *end || arg < 0) {
			mqb_errstr_set(errstr, errstr_size, "bad number in \"%s\"", to);
			return MQB_ERR_INVAL;
		}
	} else {
		mqb_errstr_set(errstr, errstr_size, "--to must be earliest, latest, offset:N or "
			       "timestamp:MS (got \"%s\")", to);
		return MQB_ERR_INVAL;
	}
	for (int32_t i = 0; i < g->nparts; i++) {
		grp_part_t *p = &g->parts[i];
		mqb_watermarks_t wm;
		int64_t off;

		mqb_partition_watermarks(p->sp, &wm);
		switch (kind) {
		case 0: off = wm.log_start; break;
		case 1: off = wm.stored; break;
		case 2: off = arg; break;
		default: off = mqb_partition_offset_for_time(p->sp, arg); break;
		}
		if (off < wm.log_start)
			off = wm.log_start;
		if (off > wm.stored)
			off = wm.stored;
		g->mode->part_reset(p, off);
		mqb_info(GRP_LOG, "group %s: %s-%d reset to %" PRId64 " (%s)", g->conf->name,
			 g->conf->stream, (int)i, off, to);
	}
	return MQB_OK;
}
