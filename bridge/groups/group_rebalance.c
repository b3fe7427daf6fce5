/*
 * group_rebalance.c — exclusive-mode rebalances, hand-overs, and the assignment message
 * (both modes).
 *
 * A rebalance bumps the generation, asks the assignor for a target owner per
 * partition (the current owners are its "previous" owners, so sticky assignors keep
 * them) and then:
 *   eager:       every owned partition is revoked; once all are handed over (the
 *                owners' "revoked" messages, an owner leaving, or rebalance_timeout_ms),
 *                the follow-up bumps the generation again and hands out the targets;
 *   cooperative: only partitions that move are revoked; unowned partitions go to their
 *                target at once; every other member keeps consuming. The follow-up
 *                (generation + 1) hands out the moved partitions.
 * A partition being revoked gets no new deliveries; its owner may still ack what it
 * holds until it sends "revoked". So no partition has two owners in one generation.
 */
#include <stdlib.h>
#include <string.h>

#include "bridge/err.h"
#include "bridge/logging.h"
#include "bridge/groups/group_internal.h"

int grp_send_assignment(grp_t *g, grp_member_t *mb)
{
	int32_t *as = NULL, *rv = NULL;
	size_t na = 0, nr = 0;
	int rc = MQB_ERR_NOMEM;

	if (mb->departed)
		return MQB_OK;
	as = malloc(((size_t)g->nparts + 1) * sizeof(*as));
	rv = malloc(((size_t)g->nparts + 1) * sizeof(*rv));
	if (!as || !rv)
		goto out;
	g->mode->member_parts(g, mb, as, &na, rv, &nr);
	mb->gen = g->generation;
	mqb_group_assignment_t a = {
		.generation = g->generation, .shared = g->mode->shared, .stream = g->conf->stream,
		.assigned = as, .n_assigned = na, .revoked = rv, .n_revoked = nr,
		.heartbeat_interval_ms = g->conf->heartbeat_interval_ms,
		.session_timeout_ms = g->conf->session_timeout_ms,
	};
	rc = mb->tp.ops->assignment(mb->tp.arg, g->conf->name, mb->id, &a);
	if (rc != MQB_OK)
		mqb_warn(GRP_LOG, "group %s: assignment to %s not sent: %s", g->conf->name,
			 mb->id, mqb_strerror(rc));
out:
	free(as);
	free(rv);
	return rc;
}

void grp_release_part(grp_t *g, grp_part_t *p)
{
	mqb_acktrack_revoke(p->at);
	grp_part_refresh(p);
	p->owner = NULL;
	p->revoking = false;
	g->dirty = true;
}

static void grant(grp_t *g, grp_part_t *p)
{
	if (!p->target)
		return;
	if (mqb_acktrack_assign(p->at, p->target->token, g->generation) == MQB_OK)
		p->owner = p->target;
	grp_part_refresh(p);
}

static void send_all(grp_t *g)
{
	for (size_t i = 0; i < g->n_members; i++)
		grp_send_assignment(g, g->members[i]);
}

static bool any_revoking(const grp_t *g)
{
	for (int32_t i = 0; i < g->nparts; i++)
		if (g->parts[i].revoking)
			return true;
	return false;
}

static int member_index(const grp_t *g, const grp_member_t *mb)
{
	for (size_t i = 0; i < g->n_members; i++)
		if (g->members[i] == mb)
			return (int)i;
	return -1;
}

void grp_rebalance(grp_t *g, int64_t now)
{
	mqb_assign_member_t *am = NULL;
	int32_t *prev = NULL, *target = NULL, *now_owner = NULL;
	bool *revoked = NULL;
	size_t n = g->n_members, np = (size_t)g->nparts;

	g->rebalance_needed = false;
	if (n == 0) {
		for (int32_t i = 0; i < g->nparts; i++)
			g->parts[i].target = NULL;
		g->rebalancing = false;
		return;
	}
	am = calloc(n, sizeof(*am));
	prev = malloc(np * sizeof(*prev));
	target = malloc(np * sizeof(*target));
	now_owner = malloc(np * sizeof(*now_owner));
	revoked = calloc(np, sizeof(*revoked));
	if (!am || !prev || !target || !now_owner || !revoked) {
		g->rebalance_needed = true;    /* try again on the next tick */
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		am[i].member_id = g->members[i]->id;
		am[i].instance_id = g->members[i]->instance_id;
	}
	for (size_t p = 0; p < np; p++)
		prev[p] = g->parts[p].owner ? member_index(g, g->parts[p].owner) : -1;
	int rc = g->assignor->assign(am, n, g->nparts, prev, target);
	if (rc != MQB_OK) {
		mqb_error(GRP_LOG, "group %s: assignor %s failed: %s", g->conf->name,
			  g->assignor->name, mqb_strerror(rc));
		g->rebalance_needed = true;
		goto out;
	}
	size_t min_moves = mqb_assign_min_moves(n, g->nparts, prev);
	size_t moves = mqb_assign_cooperative(g->nparts, prev, target, now_owner, revoked);
	g->generation++;
	g->rebalances++;
	g->dirty = true;
	for (size_t p = 0; p < np; p++) {
		grp_part_t *gp = &g->parts[p];
		gp->target = target[p] >= 0 ? g->members[target[p]] : NULL;
		bool revoke = g->cooperative ? revoked[p] : gp->owner != NULL;
		if (revoke) {
			if (!gp->revoking) {
				gp->revoking = true;
				gp->revoke_gen = g->generation;
				gp->revoke_deadline_ms = now + (g->conf->rebalance_timeout_ms > 0 ?
					g->conf->rebalance_timeout_ms : g->conf->session_timeout_ms);
			}
		} else if (gp->owner && gp->owner == gp->target) {
			gp->revoking = false;  /* it stays: a pending revoke is cancelled */
		} else if (!gp->owner && g->cooperative) {
			grant(g, gp);
		}
	}
	if (any_revoking(g)) {
		g->rebalancing = true;
	} else {
		for (size_t p = 0; p < np; p++)
			if (!g->parts[p].owner)
				grant(g, &g->parts[p]);
		g->rebalancing = false;
	}
	mqb_info(GRP_LOG, "group %s: rebalance to generation %lld (%s, %s): %zu members, "
		 "%zu partitions move (minimum %zu)%s", g->conf->name, (long long)g->generation,
		 g->assignor->name, g->cooperative ? "cooperative" : "eager", n, moves, min_moves,
		 g->rebalancing ? ", waiting for hand-over" : "");
	send_all(g);
out:
	free(am);
	free(prev);
	free(target);
	free(now_owner);
	free(revoked);
}

void grp_try_complete(grp_t *g, int64_t now)
{
	if (!g->rebalancing || any_revoking(g))
		return;
	g->generation++;
	g->dirty = true;
	for (int32_t p = 0; p < g->nparts; p++)
		if (!g->parts[p].owner)
			grant(g, &g->parts[p]);
	g->rebalancing = false;
	mqb_info(GRP_LOG, "group %s: hand-over complete, generation %lld", g->conf->name,
		 (long long)g->generation);
	send_all(g);
}

void grp_check_revokes(grp_t *g, int64_t now)
{
	bool released = false;

	for (int32_t p = 0; p < g->nparts; p++) {
		grp_part_t *gp = &g->parts[p];
		if (gp->revoking && now >= gp->revoke_deadline_ms) {
			mqb_warn(GRP_LOG, "group %s: member %s did not hand over partition %d within "
				 "%lld ms; taking it back", g->conf->name,
				 gp->owner ? gp->owner->id : "?", (int)p,
				 (long long)g->conf->rebalance_timeout_ms);
			grp_release_part(g, gp);
			released = true;
		}
	}
	if (released)
		grp_try_complete(g, now);
}

int grp_on_revoked(grp_t *g, grp_member_t *mb, int64_t gen, const int32_t *parts, size_t n,
		   const mqb_group_transport_t *via, int64_t now)
{
	for (size_t i = 0; i < n; i++) {
		int32_t p = parts[i];
		if (p < 0 || p >= g->nparts || g->parts[p].owner != mb) {
			grp_error(g, via, mb->id, MQB_GROUP_E_NOT_OWNER, "revoked",
				  "partition %d is not yours", (int)p);
			return MQB_ERR_PERM;
		}
	}
	mb->last_seen_ms = now;
	for (size_t i = 0; i < n; i++) {
		grp_part_t *gp = &g->parts[parts[i]];
		/* Partitions still assigned to it, or a "revoked" older than the request
		 * (from an earlier ownership period), are ignored. */
		if (gp->revoking && gen >= gp->revoke_gen)
			grp_release_part(g, gp);
	}
	grp_try_complete(g, now);
	return MQB_OK;
}
