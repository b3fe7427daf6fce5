/*
 * group_member.c — membership: join (dynamic and static), rejoin, leave (message or
 * will), heartbeats, session timeouts, static members' hold, join/leave rate limit.
 *
 * Join floods (anyone allowed to publish on the join topic can join under any member
 * id): three bounds that do not depend on the ids an attacker picks. New members' joins
 * take a token from a per-group bucket (join_rate per second, join_burst at most); a
 * group holds at most max_members; and a (re)joined member that sends no request
 * (heartbeat, ack, revoked) within the join deadline, min(join_deadline_ms,
 * session_timeout_ms), is removed. So fakes that never answer number at most about
 * join_burst + join_rate x deadline at any time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/err.h"
#include "bridge/logging.h"
#include "bridge/groups/group_internal.h"

grp_member_t *grp_member_find(grp_t *g, const char *id)
{
	for (size_t i = 0; i < g->n_members; i++)
		if (strcmp(g->members[i]->id, id) == 0)
			return g->members[i];
	return NULL;
}

static grp_member_t *member_by_instance(grp_t *g, const char *instance_id)
{
	for (size_t i = 0; i < g->n_members; i++)
		if (g->members[i]->instance_id && strcmp(g->members[i]->instance_id, instance_id) == 0)
			return g->members[i];
	return NULL;
}

void grp_member_free(grp_member_t *mb)
{
	if (!mb)
		return;
	free(mb->id);
	free(mb->instance_id);
	free(mb->held);
	free(mb);
}

/* (Re)name a member. */
static int member_set_id(grp_member_t *mb, const char *id)
{
	char *nid = strdup(id);

	if (!nid)
		return MQB_ERR_NOMEM;
	free(mb->id);
	mb->id = nid;
	return MQB_OK;
}

/* At most GRP_RL_MAX joins+leaves per member id per GRP_RL_WINDOW_MS. */
static bool rate_ok(grp_t *g, const char *id, int64_t now)
{
	grp_rl_t *slot = NULL, *free_slot = NULL, *oldest = &g->rl[0];

	for (size_t i = 0; i < GRP_RL_SLOTS && !slot; i++) {
		grp_rl_t *r = &g->rl[i];
		if (!r->id[0]) {
			if (!free_slot)
				free_slot = r;
		} else if (strcmp(r->id, id) == 0) {
			slot = r;
		} else if (r->window_start_ms < oldest->window_start_ms) {
			oldest = r;
		}
	}
	if (!slot) {
		slot = free_slot ? free_slot : oldest;
		snprintf(slot->id, sizeof(slot->id), "%s", id);
		slot->window_start_ms = now;
		slot->count = 0;
	}
	if (now - slot->window_start_ms >= GRP_RL_WINDOW_MS) {
		slot->window_start_ms = now;
		slot->count = 0;
	}
	return ++slot->count <= GRP_RL_MAX;
}

int64_t grp_join_deadline(const grp_t *g)
{
	int64_t d = g->conf->join_deadline_ms > 0 ? g->conf->join_deadline_ms
						   : 2 * g->conf->heartbeat_interval_ms;

	return d > 0 && d < g->conf->session_timeout_ms ? d : g->conf->session_timeout_ms;
}

int grp_max_members(const grp_t *g)
{
	int m = g->conf->max_members;

	return m > 0 && m < GRP_MAX_MEMBERS ? m : GRP_MAX_MEMBERS;
}

/* Take a token for a new member's join: join_rate per second, join_burst at most
 * (whatever the member id). false: none left. Unset (0) rate: no limit. */
static bool join_token(grp_t *g, int64_t now)
{
	double burst = g->conf->join_burst > 0 ? g->conf->join_burst : 1;

	if (g->conf->join_rate <= 0)
		return true;
	if (g->join_tokens_ms == 0 && g->join_tokens == 0) {
		g->join_tokens = burst;      /* first use: a full bucket */
	} else if (now > g->join_tokens_ms) {
		g->join_tokens += (double)(now - g->join_tokens_ms) * g->conf->join_rate / 1000.0;
		if (g->join_tokens > burst)
			g->join_tokens = burst;
	}
	g->join_tokens_ms = now;
	if (g->join_tokens < 1.0)
		return false;
	g->join_tokens -= 1.0;
	return true;
}

/* Give mb's partitions (and share locks) to its new incarnation token. */
static void member_new_incarnation(grp_t *g, grp_member_t *mb, int64_t now)
{
	uint64_t old = mb->token;

	mb->token = g->c->next_token++;
	g->mode->reincarnated(g, mb, old);
	mb->departed = false;
	mb->confirmed = false;        /* the join deadline starts again */
	mb->last_seen_ms = now;
	mb->joined_ms = now;
	g->dirty = true;
}

/* A known member (same member id, or same instance under a new id) joins again: a new
 * incarnation, no rebalance. */
static int member_rejoin(grp_t *g, grp_member_t *mb, const mqb_group_join_t *j,
			 const char *iid, int prefetch, int64_t now)
{
	bool was_departed = mb->departed;

	if (iid && (!mb->instance_id || strcmp(mb->instance_id, iid))) {
		char *ii = strdup(iid);
		if (!ii)
			return MQB_ERR_NOMEM;
		free(mb->instance_id);
		mb->instance_id = ii;
	}
	mb->tp = j->transport;
	mb->prefetch = prefetch;
	mb->prefetch_asked = j->prefetch > 0 ? j->prefetch : 0;
	member_new_incarnation(g, mb, now);
	mqb_info(GRP_LOG, "group %s: member %s %s (generation %lld, no rebalance)",
		 g->conf->name, mb->id, was_departed ? "returned" : "rejoined",
		 (long long)g->generation);
	grp_send_assignment(g, mb);
	return MQB_OK;
}

static int member_add(grp_t *g, const mqb_group_join_t *j, const char *iid, int prefetch,
		      int64_t now)
{
	const char *id = j->member_id;
	grp_member_t *mb;

	if (g->n_members >= (size_t)grp_max_members(g)) {
		grp_error(g, &j->transport, id, MQB_GROUP_E_TOO_LARGE, "join",
			  "group is full (%d members)", grp_max_members(g));
		return MQB_ERR_TOOBIG;
	}
	if (!join_token(g, now)) {
		grp_error(g, &j->transport, id, MQB_GROUP_E_RATE_LIMITED, "join",
			  "more than %d new members per second (join_rate); retry in a second",
			  g->conf->join_rate);
		return MQB_ERR_AGAIN;
	}
	if (g->n_members == g->cap_members) {
		size_t nc = g->cap_members ? g->cap_members * 2 : 8;
		grp_member_t **nm = realloc(g->members, nc * sizeof(*nm));
		if (!nm)
			return MQB_ERR_NOMEM;
		g->members = nm;
		g->cap_members = nc;
	}
	mb = calloc(1, sizeof(*mb));
	if (!mb || member_set_id(mb, id) != MQB_OK ||
	    (iid && !(mb->instance_id = strdup(iid)))) {
		grp_member_free(mb);
		return MQB_ERR_NOMEM;
	}
	mb->token = g->c->next_token++;
	mb->tp = j->transport;
	mb->prefetch = prefetch;
	mb->prefetch_asked = j->prefetch > 0 ? j->prefetch : 0;
	mb->joined_ms = mb->last_seen_ms = now;
	g->members[g->n_members++] = mb;
	mqb_info(GRP_LOG, "group %s: member %s joined%s%s (prefetch %d, %s)", g->conf->name, id,
		 mb->instance_id ? " as instance " : "", mb->instance_id ? mb->instance_id : "",
		 prefetch, mb->tp.ops->name ? mb->tp.ops->name : "?");
	g->mode->joined(g, mb);
	return MQB_OK;
}

int grp_on_join(grp_t *g, const mqb_group_join_t *j, int64_t now)
{
	const char *id = j->member_id;
	const char *iid = j->instance_id && *j->instance_id ? j->instance_id : NULL;
	const mqb_group_transport_t *via = &j->transport;
	int prefetch = g->conf->prefetch > 0 ? g->conf->prefetch : 100;

	if (!rate_ok(g, id, now)) {
		grp_error(g, via, id, MQB_GROUP_E_RATE_LIMITED, "join",
			  "more than %d joins/leaves in %d s", GRP_RL_MAX, GRP_RL_WINDOW_MS / 1000);
		return MQB_ERR_AGAIN;
	}
	if (j->invalid) {
		grp_error(g, via, id, MQB_GROUP_E_MALFORMED, "join", "%s", j->invalid);
		return MQB_ERR_PROTO;
	}
	if (!mqb_group_id_valid(id) || (iid && !mqb_group_id_valid(iid))) {
		grp_error(g, via, id, MQB_GROUP_E_MALFORMED, "join",
			  "member_id and instance_id must be ids (1..%d bytes of UTF-8 without "
			  "'+', '#', '/' or control characters)", MQB_GROUP_ID_MAX);
		return MQB_ERR_INVAL;
	}
	if (j->prefetch > 0 && j->prefetch < prefetch)
		prefetch = j->prefetch;

	grp_member_t *mb = grp_member_find(g, id);
	if (!mb && iid) {
		mb = member_by_instance(g, iid);
		if (mb) {
			/* Static member back under a new member id: the old incarnation is
			 * fenced, the partitions stay with the instance. */
			if (!mb->departed)
				grp_error(g, &mb->tp, mb->id, MQB_GROUP_E_UNKNOWN_MEMBER, "join",
					  "replaced by member %s with the same instance_id %s",
					  id, iid);
			if (member_set_id(mb, id) != MQB_OK)
				return MQB_ERR_NOMEM;
		}
	}
	return mb ? member_rejoin(g, mb, j, iid, prefetch, now)
		  : member_add(g, j, iid, prefetch, now);
}

void grp_member_remove(grp_t *g, grp_member_t *mb, int64_t now, const char *why)
{
	size_t i;

	g->mode->removed(g, mb);
	for (i = 0; i < g->n_members && g->members[i] != mb; i++)
		;
	if (i < g->n_members) {
		memmove(&g->members[i], &g->members[i + 1],
			(g->n_members - i - 1) * sizeof(*g->members));
		g->n_members--;
	}
	mqb_info(GRP_LOG, "group %s: member %s removed (%s); %zu left", g->conf->name, mb->id,
		 why, g->n_members);
	grp_member_free(mb);
	g->dirty = true;
}

int grp_on_leave(grp_t *g, const char *id, const mqb_group_transport_t *via, int64_t now)
{
	if (!rate_ok(g, id, now)) {
		grp_error(g, via, id, MQB_GROUP_E_RATE_LIMITED, "leave",
			  "more than %d joins/leaves in %d s", GRP_RL_MAX, GRP_RL_WINDOW_MS / 1000);
		return MQB_ERR_AGAIN;
	}
	grp_member_t *mb = grp_member_find(g, id);
	if (!mb || mb->departed) {
		grp_error(g, via, id, MQB_GROUP_E_UNKNOWN_MEMBER, "leave", "not a member of group %s",
			  g->conf->name);
		return MQB_ERR_NOTFOUND;
	}
	if (mb->instance_id) {
		/* Static member: keep its partitions for session_timeout_ms so that it can
		 * come back without a rebalance; nothing is delivered to it meanwhile. */
		mb->departed = true;
		mb->hold_until_ms = now + g->conf->session_timeout_ms;
		g->mode->departed(g, mb, now);
		mqb_info(GRP_LOG, "group %s: static member %s (instance %s) left; its partitions "
			 "are held for %lld ms", g->conf->name, id, mb->instance_id,
			 (long long)g->conf->session_timeout_ms);
		return MQB_OK;
	}
	grp_member_remove(g, mb, now, "left");
	return MQB_OK;
}

void grp_check_sessions(grp_t *g, int64_t now)
{
	for (size_t i = 0; i < g->n_members;) {
		grp_member_t *mb = g->members[i];
		if (mb->departed && now >= mb->hold_until_ms) {
			grp_member_remove(g, mb, now, "static member did not return within the "
					  "session timeout");
			continue;
		}
		if (!mb->departed && now - mb->last_seen_ms > g->conf->session_timeout_ms) {
			grp_member_remove(g, mb, now, "session timeout");
			continue;
		}
		if (!mb->departed && !mb->confirmed && now - mb->joined_ms > grp_join_deadline(g)) {
			g->join_deadline_removed++;
			grp_member_remove(g, mb, now, "no heartbeat within the join deadline");
			continue;
		}
		i++;
	}
}
