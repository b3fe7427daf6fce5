/*
 * group_shared.c — shared mode (share groups, Kafka KIP-932): every member may get
 * records of every partition; a partition's delivery state is a share window
 * (share.h). Each member acquires available records from the partitions in turn up to
 * its prefetch; every delivery is locked for ack_timeout_ms. Members own no
 * partitions, so there are no rebalances and no hand-overs.
 */
#include <inttypes.h>
#include <stdlib.h>

#include "bridge/err.h"
#include "bridge/logging.h"
#include "bridge/groups/group_internal.h"

#define ACQUIRE_MAX 256       /* records acquired per partition and call */

/* --- what a member holds (partition, offset, lock deadline) --------------------------- */

static int held_add(grp_member_t *mb, int32_t part, int64_t offset, int64_t deadline)
{
	if (mb->n_held == mb->cap_held) {
		size_t nc = mb->cap_held ? mb->cap_held * 2 : 64;
		struct grp_held *nh = realloc(mb->held, nc * sizeof(*nh));
		if (!nh)
			return MQB_ERR_NOMEM;
		mb->held = nh;
		mb->cap_held = nc;
	}
	mb->held[mb->n_held++] = (struct grp_held){ part, offset, deadline };
	return MQB_OK;
}

static void held_drop(grp_member_t *mb, int32_t part, int64_t first, int64_t last)
{
	size_t j = 0;

	for (size_t i = 0; i < mb->n_held; i++) {
		struct grp_held *h = &mb->held[i];
		if (h->part == part && h->offset >= first && h->offset <= last)
			continue;
		mb->held[j++] = *h;
	}
	mb->n_held = j;
}

/* Every record token holds becomes available again (or finishes at max_deliveries). */
static void release_all(grp_t *g, uint64_t token)
{
	for (int32_t i = 0; i < g->nparts; i++) {
		grp_fctx_t fx = { g, i };
		mqb_share_member_left(g->parts[i].sh, token, grp_finish_cb, &fx);
	}
}

/* --- per-partition state ---------------------------------------------------------- */

static int sh_part_init(grp_t *g, grp_part_t *p, int64_t start, char *errstr,
			size_t errstr_size)
{
	mqb_share_opts_t so;

	mqb_share_opts_defaults(&so);
	so.start_offset = start;
	so.max_deliveries = g->conf->max_deliveries > 0 ? (uint32_t)g->conf->max_deliveries : 5;
	so.lock_ms = g->conf->ack_timeout_ms > 0 ? g->conf->ack_timeout_ms : 30000;
	p->sh = mqb_share_new(&so, errstr, errstr_size);
	return p->sh ? MQB_OK : MQB_ERR_NOMEM;
}

/* A reload changed the group's settings: the next releases and acquisitions use them. */
static void sh_part_conf(grp_t *g, grp_part_t *p)
{
	mqb_share_set_limits(p->sh, g->conf->max_deliveries > 0 ?
			     (uint32_t)g->conf->max_deliveries : 5,
			     g->conf->ack_timeout_ms > 0 ? g->conf->ack_timeout_ms : 30000);
}

static void sh_part_fini(grp_part_t *p)
{
	mqb_share_destroy(p->sh);
	p->sh = NULL;
}

static int64_t sh_part_committed(const grp_part_t *p)
{
	return mqb_share_spso(p->sh);
}

static void sh_part_view(const grp_part_t *p, int64_t now, grp_part_view_t *v)
{
	mqb_share_stats_t st;

	mqb_share_stats(p->sh, now, &st);
	v->committed = st.spso;
	v->inflight = st.acquired;
	v->redeliveries = st.redeliveries;
}

static void sh_part_reset(grp_part_t *p, int64_t offset)
{
	mqb_share_reset(p->sh, offset);
}

static int sh_part_export(const grp_part_t *p, mqb_part_state_t *ps)
{
	return mqb_share_export(p->sh, ps);
}

static int sh_part_import(grp_part_t *p, const mqb_part_state_t *ps)
{
	return mqb_share_import(p->sh, ps);
}

static int sh_ack_check(grp_t *g, grp_part_t *p, grp_member_t *mb, int64_t gen,
			const mqb_group_ack_entry_t *e, int64_t now)
{
	return mqb_share_ack_check(p->sh, mb->token, e->ranges, e->n_ranges, e->type, now);
}

static int sh_ack(grp_t *g, grp_part_t *p, grp_member_t *mb, int64_t gen,
		  const mqb_group_ack_entry_t *e, int64_t now, mqb_ack_result_t *res)
{
	grp_fctx_t fx = { g, p->id };
	int rc = mqb_share_ack(p->sh, mb->token, e->ranges, e->n_ranges, e->type, now, res,
			       grp_finish_cb, &fx);

	if (rc == MQB_OK)
		for (size_t r = 0; r < e->n_ranges; r++)
			held_drop(mb, p->id, e->ranges[r].first, e->ranges[r].last);
	return rc;
}

/* --- membership ----------------------------------------------------------------------- */

/* A new member gets every partition at once, in the group's one generation. */
static void sh_joined(grp_t *g, grp_member_t *mb)
{
	if (g->generation == 0)
		g->generation = 1;
	mb->gen = g->generation;
	grp_send_assignment(g, mb);
}

static void sh_reincarnated(grp_t *g, grp_member_t *mb, uint64_t old_token)
{
	release_all(g, old_token);
	mb->n_held = 0;
}

static void sh_departed(grp_t *g, grp_member_t *mb, int64_t now)
{
	release_all(g, mb->token);
	mb->n_held = 0;
}

static void sh_removed(grp_t *g, grp_member_t *mb)
{
	release_all(g, mb->token);
}

static int sh_revoked(grp_t *g, grp_member_t *mb, int64_t gen, const int32_t *parts, size_t n,
		      const mqb_group_transport_t *via, int64_t now)
{
	grp_error(g, via, mb->id, MQB_GROUP_E_NOT_OWNER, "revoked",
		  "a shared group has no partition ownership");
	return MQB_ERR_PERM;
}

static void sh_member_parts(const grp_t *g, const grp_member_t *mb, int32_t *as, size_t *na,
			    int32_t *rv, size_t *nr)
{
	for (int32_t i = 0; i < g->nparts; i++)
		as[i] = i;
	*na = (size_t)g->nparts;
	*nr = 0;
}

/* --- delivery and timers ---------------------------------------------------------------- */

static int sh_deliver(grp_t *g, grp_member_t *mb, int cap, int64_t now)
{
	mqb_share_acquired_t acq[ACQUIRE_MAX];
	int total = 0;

	for (int32_t k = 0; k < g->nparts && cap > 0; k++) {
		grp_part_t *p = &g->parts[(g->part_rr + (size_t)k) % (size_t)g->nparts];
		mqb_watermarks_t wm;

		mqb_partition_watermarks(p->sp, &wm);
		size_t want = (size_t)cap < ACQUIRE_MAX ? (size_t)cap : ACQUIRE_MAX;
		int n = mqb_share_acquire(p->sh, mb->token, want, wm.stored, now, acq);
		for (int i = 0; i < n; i++) {
			mqb_record_t rec;
			int rc = grp_read_at(p->rd, acq[i].offset, &rec);
			if (rc == MQB_ERR_RANGE) {
				grp_part_lost(g, p);
				break;
			}
			if (rc != MQB_OK) {
				/* Not readable now: the lock lapses and it is offered again. */
				MQB_LOG_RATELIMITED(MQB_LOG_ERROR, GRP_LOG, 5000, "group %s: %s-%d offset %"
						    PRId64 ": read failed: %s", g->conf->name,
						    g->conf->stream, (int)p->id, acq[i].offset,
						    mqb_strerror(rc));
				continue;
			}
			held_add(mb, p->id, acq[i].offset, now + g->conf->ack_timeout_ms);
			grp_deliver_record(g, mb, p, &rec, acq[i].deliveries);
			total++;
			cap--;
		}
		if (n > 0)
			g->dirty = true;
	}
	g->part_rr++;
	return total;
}

static int sh_inflight(grp_t *g, grp_member_t *mb, int64_t now, int64_t *oldest_ms)
{
	int64_t oldest = -1;

	for (size_t i = 0; oldest_ms && i < mb->n_held; i++) {
		int64_t age = now - (mb->held[i].deadline - g->conf->ack_timeout_ms);
		if (age > oldest)
			oldest = age;
	}
	if (oldest_ms)
		*oldest_ms = oldest;
	return (int)mb->n_held;
}

/* Expired locks: the records are available again (or finished at max_deliveries). */
static void sh_tick(grp_t *g, int64_t now)
{
	for (int32_t i = 0; i < g->nparts; i++) {
		grp_fctx_t fx = { g, i };
		if (mqb_share_next_deadline(g->parts[i].sh) <= now &&
		    mqb_share_tick(g->parts[i].sh, now, grp_finish_cb, &fx) > 0)
			g->dirty = true;
	}
	for (size_t m = 0; m < g->n_members; m++) {
		grp_member_t *mb = g->members[m];
		size_t j = 0;
		for (size_t i = 0; i < mb->n_held; i++)
			if (mb->held[i].deadline > now)
				mb->held[j++] = mb->held[i];
		mb->n_held = j;
	}
}

const grp_mode_t grp_mode_shared = {
	.name = "shared",
	.shared = true,
	.gstate_mode = MQB_GSTATE_SHARED,
	.part_init = sh_part_init,
	.part_fini = sh_part_fini,
	.part_conf = sh_part_conf,
	.part_committed = sh_part_committed,
	.part_view = sh_part_view,
	.part_reset = sh_part_reset,
	.part_export = sh_part_export,
	.part_import = sh_part_import,
	.ack_check = sh_ack_check,
	.ack = sh_ack,
	.joined = sh_joined,
	.reincarnated = sh_reincarnated,
	.departed = sh_departed,
	.removed = sh_removed,
	.revoked = sh_revoked,
	.member_parts = sh_member_parts,
	.deliver = sh_deliver,
	.inflight = sh_inflight,
	.tick = sh_tick,
};
