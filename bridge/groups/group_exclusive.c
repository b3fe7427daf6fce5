/*
 * group_exclusive.c — exclusive mode (Kafka consumer groups): each partition has one
 * owner, chosen by the assignor in a rebalance (group_rebalance.c); its delivery state
 * is an acktrack (acktrack.h). Each member gets records of the partitions it owns (and
 * is not handing over), in offset order per partition (acktrack_next: re-deliverable
 * first), the partitions taking turns, until it holds `prefetch` unacked records.
 */
#include <inttypes.h>
#include <stdlib.h>

#include "bridge/err.h"
#include "bridge/logging.h"
#include "bridge/groups/group_internal.h"

void grp_part_refresh(grp_part_t *p)
{
	mqb_acktrack_stats_t st;

	mqb_acktrack_stats(p->at, 0, &st);
	p->inflight = st.inflight;
}

/* --- per-partition state ---------------------------------------------------------- */

static int ex_part_init(grp_t *g, grp_part_t *p, int64_t start, char *errstr,
			size_t errstr_size)
{
	mqb_acktrack_opts_t ao;

	mqb_acktrack_opts_defaults(&ao);
	ao.start_offset = start;
	ao.max_deliveries = g->conf->max_deliveries > 0 ? (uint32_t)g->conf->max_deliveries : 0;
	p->at = mqb_acktrack_new(&ao, errstr, errstr_size);
	return p->at ? MQB_OK : MQB_ERR_NOMEM;
}

/* A reload changed the group's settings: max_deliveries counts from now on. */
static void ex_part_conf(grp_t *g, grp_part_t *p)
{
	mqb_acktrack_set_max_deliveries(p->at, g->conf->max_deliveries > 0 ?
					(uint32_t)g->conf->max_deliveries : 0);
}

static void ex_part_fini(grp_part_t *p)
{
	mqb_acktrack_destroy(p->at);
	p->at = NULL;
}

static int64_t ex_part_committed(const grp_part_t *p)
{
	return mqb_acktrack_committed(p->at);
}

static void ex_part_view(const grp_part_t *p, int64_t now, grp_part_view_t *v)
{
	mqb_acktrack_stats_t st;

	mqb_acktrack_stats(p->at, now, &st);
	v->committed = st.committed;
	v->inflight = st.inflight;
	v->redeliveries = st.redeliveries;
}

static void ex_part_reset(grp_part_t *p, int64_t offset)
{
	mqb_acktrack_reset(p->at, offset);
	grp_part_refresh(p);
}

static int ex_part_export(const grp_part_t *p, mqb_part_state_t *ps)
{
	return mqb_acktrack_export(p->at, ps);
}

static int ex_part_import(grp_part_t *p, const mqb_part_state_t *ps)
{
	int rc = mqb_acktrack_import(p->at, ps);

	grp_part_refresh(p);
	return rc;
}

static int ex_ack_check(grp_t *g, grp_part_t *p, grp_member_t *mb, int64_t gen,
			const mqb_group_ack_entry_t *e, int64_t now)
{
	return mqb_acktrack_ack_check(p->at, mb->token, gen, e->ranges, e->n_ranges, e->type);
}

static int ex_ack(grp_t *g, grp_part_t *p, grp_member_t *mb, int64_t gen,
		  const mqb_group_ack_entry_t *e, int64_t now, mqb_ack_result_t *res)
{
	grp_fctx_t fx = { g, p->id };
	int rc = mqb_acktrack_ack(p->at, mb->token, gen, e->ranges, e->n_ranges, e->type, res,
				  grp_finish_cb, &fx);

	grp_part_refresh(p);
	return rc;
}

/* --- membership ----------------------------------------------------------------------- */

static void ex_joined(grp_t *g, grp_member_t *mb)
{
	g->rebalance_needed = true;
}

/* Its partitions go to the new incarnation; in-flight records are delivered again. */
static void ex_reincarnated(grp_t *g, grp_member_t *mb, uint64_t old_token)
{
	for (int32_t i = 0; i < g->nparts; i++) {
		grp_part_t *p = &g->parts[i];
		if (p->owner != mb)
			continue;
		if (p->revoking) {
			/* A member that restarted has nothing in flight to hand over. */
			grp_release_part(g, p);
			continue;
		}
		mqb_acktrack_assign(p->at, mb->token, g->generation);
		grp_part_refresh(p);
	}
}

/* A static member left: it keeps its partitions, but has nothing to hand over. */
static void ex_departed(grp_t *g, grp_member_t *mb, int64_t now)
{
	for (int32_t p = 0; p < g->nparts; p++)
		if (g->parts[p].owner == mb && g->parts[p].revoking)
			grp_release_part(g, &g->parts[p]);
	grp_try_complete(g, now);
}

static void ex_removed(grp_t *g, grp_member_t *mb)
{
	for (int32_t p = 0; p < g->nparts; p++) {
		if (g->parts[p].owner == mb)
			grp_release_part(g, &g->parts[p]);
		if (g->parts[p].target == mb)
			g->parts[p].target = NULL;
	}
	g->rebalance_needed = true;
}

static void ex_member_parts(const grp_t *g, const grp_member_t *mb, int32_t *as, size_t *na,
			    int32_t *rv, size_t *nr)
{
	*na = *nr = 0;
	for (int32_t i = 0; i < g->nparts; i++) {
		if (g->parts[i].owner != mb)
			continue;
		if (g->parts[i].revoking)
			rv[(*nr)++] = i;
		else
			as[(*na)++] = i;
	}
}

/* --- delivery and timers ---------------------------------------------------------------- */

/* Deliver one record of partition p to its owner: 1 done, 0 nothing. */
static int deliver_one(grp_t *g, grp_part_t *p, int64_t now)
{
	mqb_watermarks_t wm;
	mqb_record_t rec;
	int64_t off;
	uint32_t dc = 0;

	if (mqb_acktrack_next(p->at, &off) != MQB_OK)
		return 0;
	mqb_partition_watermarks(p->sp, &wm);
	if (off >= wm.stored)
		return 0;
	if (off < wm.log_start) {
		grp_part_lost(g, p);
		return 0;
	}
	int rc = grp_read_at(p->rd, off, &rec);
	if (rc == MQB_ERR_RANGE) {
		grp_part_lost(g, p);
		return 0;
	}
	if (rc != MQB_OK) {
		MQB_LOG_RATELIMITED(MQB_LOG_ERROR, GRP_LOG, 5000, "group %s: %s-%d offset %" PRId64
				    ": read failed: %s", g->conf->name, g->conf->stream, (int)p->id,
				    off, mqb_strerror(rc));
		return 0;
	}
	if (mqb_acktrack_deliver(p->at, off, now, &dc) != MQB_OK)
		return 0;
	p->inflight++;
	g->dirty = true;
	grp_deliver_record(g, p->owner, p, &rec, dc);
	return 1;
}

static int ex_deliver(grp_t *g, grp_member_t *mb, int cap, int64_t now)
{
	int total = 0;
	bool progress = true;

	while (cap > 0 && progress) {
		progress = false;
		for (int32_t k = 0; k < g->nparts && cap > 0; k++) {
			grp_part_t *p = &g->parts[(mb->rr + (size_t)k) % (size_t)g->nparts];
			if (p->owner != mb || p->revoking)
				continue;
			if (deliver_one(g, p, now)) {
				cap--;
				total++;
				progress = true;
			}
		}
		mb->rr++;
	}
	return total;
}

static int ex_inflight(grp_t *g, grp_member_t *mb, int64_t now, int64_t *oldest_ms)
{
	int n = 0;
	int64_t oldest = -1;

	for (int32_t i = 0; i < g->nparts; i++) {
		if (g->parts[i].owner != mb)
			continue;
		n += (int)g->parts[i].inflight;
		if (oldest_ms) {   /* O(in flight): only for views */
			mqb_acktrack_stats_t st;
			mqb_acktrack_stats(g->parts[i].at, now, &st);
			if (st.oldest_inflight_ms > oldest)
				oldest = st.oldest_inflight_ms;
		}
	}
	if (oldest_ms)
		*oldest_ms = oldest;
	return n;
}

static void ex_tick(grp_t *g, int64_t now)
{
	grp_check_revokes(g, now);
	if (g->rebalance_needed)
		grp_rebalance(g, now);
}

const grp_mode_t grp_mode_exclusive = {
	.name = "exclusive",
	.shared = false,
	.gstate_mode = MQB_GSTATE_EXCLUSIVE,
	.part_init = ex_part_init,
	.part_fini = ex_part_fini,
	.part_conf = ex_part_conf,
	.part_committed = ex_part_committed,
	.part_view = ex_part_view,
	.part_reset = ex_part_reset,
	.part_export = ex_part_export,
	.part_import = ex_part_import,
	.ack_check = ex_ack_check,
	.ack = ex_ack,
	.joined = ex_joined,
	.reincarnated = ex_reincarnated,
	.departed = ex_departed,
	.removed = ex_removed,
	.revoked = grp_on_revoked,
	.member_parts = ex_member_parts,
	.deliver = ex_deliver,
	.inflight = ex_inflight,
	.tick = ex_tick,
};
