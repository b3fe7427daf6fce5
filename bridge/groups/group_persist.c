/*
 * group_persist.c — a group's position on disk (offsets.h) and operator resets.
 *
 * Saves are batched: the tick saves a dirty group at most every commit_interval_ms
 * (and mqb_coord_flush/destroy save at once). Acks accepted after the last save are
 * lost by a crash, so their records are delivered again after a restart (at least
 * once); nothing whose acceptance was saved is ever delivered again.
 */
#include <inttypes.h>
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
	if (p->at) {
		committed = mqb_acktrack_committed(p->at);
	} else {
		mqb_share_stats_t st;
		mqb_share_stats(p->sh, 0, &st);
		committed = st.spso;
	}
	if (committed < wm.log_start || committed > wm.stored) {
		int64_t to = committed < wm.log_start ? wm.log_start : wm.stored;
		mqb_warn(GRP_LOG, "group %s: %s-%d: saved position %" PRId64 " is outside the log "
			 "[%" PRId64 ", %" PRId64 "]; continuing at %" PRId64, g->conf->name,
			 g->conf->stream, (int)p->id, committed, wm.log_start, wm.stored, to);
		if (p->at)
			mqb_acktrack_reset(p->at, to);
		else
			mqb_share_reset(p->sh, to);
	}
}

int grp_state_load(grp_t *g, char *errstr, size_t errstr_size)
{
	mqb_group_state_t gs;
	mqb_group_load_info_t info;
	char why[512];
	int rc;

	memset(&gs, 0, sizeof(gs));
	memset(&info, 0, sizeof(info));
	rc = mqb_group_state_load(g->c->cfg->data_dir, g->conf->name, &gs, &info, why, sizeof(why));
	if (rc == MQB_ERR_NOTFOUND) {
		mqb_info(GRP_LOG, "group %s: no saved position; starting at the %s of each partition",
			 g->conf->name, g->conf->start_latest ? "end" : "start");
		return MQB_OK;
	}
	if (rc == MQB_ERR_CORRUPT) {
		/* Never resume from garbage: start per config (at least once) and say so. */
		mqb_error(GRP_LOG, "group %s: saved state unusable (%s); starting at the %s of each "
			  "partition", g->conf->name, why, g->conf->start_latest ? "end" : "start");
		return MQB_OK;
	}
	if (rc != MQB_OK) {
		mqb_errstr_set(errstr, errstr_size, "group %s: loading its state failed: %s",
			       g->conf->name, why);
		return rc;
	}
	if (info.slots_corrupt)
		mqb_warn(GRP_LOG, "group %s: one state slot was corrupt (%s); resumed from the "
			 "previous save", g->conf->name, info.corrupt_why);
	g->seq = gs.seq;
	if ((gs.mode == MQB_GSTATE_SHARED) != g->shared) {
		mqb_warn(GRP_LOG, "group %s: saved state is for %s mode, the group is now %s; "
			 "starting per config", g->conf->name,
			 gs.mode == MQB_GSTATE_SHARED ? "shared" : "exclusive",
			 g->shared ? "shared" : "exclusive");
		goto out;
	}
	for (int32_t i = 0; i < g->nparts; i++) {
		const mqb_part_state_t *ps = mqb_group_state_part(&gs, i);
		grp_part_t *p = &g->parts[i];
		if (!ps)
			continue;
		rc = p->at ? mqb_acktrack_import(p->at, ps) : mqb_share_import(p->sh, ps);
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

int grp_state_save(grp_t *g, int64_t now)
{
	mqb_group_state_t gs;
	char why[512];
	int rc = MQB_OK;

	memset(&gs, 0, sizeof(gs));
	gs.mode = g->shared ? MQB_GSTATE_SHARED : MQB_GSTATE_EXCLUSIVE;
	gs.seq = g->seq;
	for (int32_t i = 0; i < g->nparts; i++) {
		mqb_part_state_t ps;
		memset(&ps, 0, sizeof(ps));
		grp_part_t *p = &g->parts[i];
		rc = p->at ? mqb_acktrack_export(p->at, &ps) : mqb_share_export(p->sh, &ps);
		if (rc != MQB_OK)
			goto out;
		ps.partition = i;
		rc = mqb_group_state_add_part(&gs, &ps);
		free(ps.recs);
		if (rc != MQB_OK)
			goto out;
	}
	rc = mqb_group_state_save(g->c->cfg->data_dir, g->conf->name, &gs, why, sizeof(why));
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
		if (p->at)
			mqb_acktrack_reset(p->at, off);
		else
			mqb_share_reset(p->sh, off);
		mqb_info(GRP_LOG, "group %s: %s-%d reset to %" PRId64 " (%s)", g->conf->name,
			 g->conf->stream, (int)i, off, to);
	}
	return MQB_OK;
}
