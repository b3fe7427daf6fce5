/*
 * coordinator.c — the coordinator's frame: groups from config, message dispatch,
 * error replies, the tick that drives timers, delivery and persistence.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/err.h"
#include "bridge/logging.h"
#include "bridge/groups/group_internal.h"
#include "bridge/groups/offsets.h"   /* mqb_group_state_remove */

grp_t *grp_find(mqb_coord_t *c, const char *name)
{
	for (size_t i = 0; i < c->n_groups; i++)
		if (strcmp(c->groups[i]->conf->name, name) == 0)
			return c->groups[i];
	return NULL;
}

void grp_error(grp_t *g, const mqb_group_transport_t *via, const char *member,
	       mqb_group_errcode_t code, const char *request, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (code < MQB_GROUP_E_COUNT)
		g->errors[code]++;
	MQB_LOG_RATELIMITED(MQB_LOG_WARN, GRP_LOG, 1000, "group %s: refused %s from %s: %s: %s",
			    g->conf->name, request ? request : "?",
			    member && *member ? member : "(unknown)",
			    mqb_group_errcode_name(code), msg);
	if (via && via->ops && via->ops->error && member && *member)
		via->ops->error(via->arg, g->conf->name, member, code, request, msg);
}

static void conf_free(mqb_group_conf_t *gc)
{
	free(gc->name);
	free(gc->stream);
	free(gc->assignor);
	free(gc->dead_letter);
	memset(gc, 0, sizeof(*gc));
}

/* dst = a deep copy of src (dst empty). MQB_OK or MQB_ERR_NOMEM (dst emptied). */
static int conf_copy(mqb_group_conf_t *dst, const mqb_group_conf_t *src)
{
	*dst = *src;
	dst->name = strdup(src->name);
	dst->stream = strdup(src->stream);
	dst->assignor = src->assignor ? strdup(src->assignor) : NULL;
	dst->dead_letter = src->dead_letter ? strdup(src->dead_letter) : NULL;
	if (!dst->name || !dst->stream || (src->assignor && !dst->assignor) ||
	    (src->dead_letter && !dst->dead_letter)) {
		conf_free(dst);
		return MQB_ERR_NOMEM;
	}
	return MQB_OK;
}

static int group_init(mqb_coord_t *c, grp_t *g, const mqb_group_conf_t *src, int64_t now,
		      char *errstr, size_t errstr_size)
{
	int rc = MQB_ERR_NOMEM;
	const mqb_group_conf_t *gc = &g->own;

	g->c = c;
	if (conf_copy(&g->own, src) != MQB_OK) {
		mqb_errstr_set(errstr, errstr_size, "group %s: out of memory", src->name);
		goto out;
	}
	g->conf = gc;
	rc = MQB_ERR_CONFIG;
	g->mode = gc->mode == MQB_GROUP_SHARED ? &grp_mode_shared : &grp_mode_exclusive;
	if (!g->mode->shared) {
		g->assignor = mqb_assignor_find(gc->assignor ? gc->assignor : "range");
		if (!g->assignor) {
			mqb_errstr_set(errstr, errstr_size, "group %s: unknown assignor \"%s\"",
				       gc->name, gc->assignor);
			goto out;
		}
		g->cooperative = gc->rebalance == MQB_REBALANCE_COOPERATIVE;
	}
	if (!mqb_group_name_valid(gc->name) || !mqb_group_id_valid(gc->name)) {
		mqb_errstr_set(errstr, errstr_size, "group name \"%s\" is not usable as a file "
			       "name and topic level", gc->name);
		goto out;
	}
	g->nparts = mqb_store_partition_count(c->store, gc->stream);
	if (g->nparts <= 0) {
		mqb_errstr_set(errstr, errstr_size, "group %s: stream %s is not open",
			       gc->name, gc->stream);
		goto out;
	}
	rc = MQB_ERR_NOMEM;
	g->parts = calloc((size_t)g->nparts, sizeof(*g->parts));
	if (!g->parts)
		goto out;
	for (int32_t i = 0; i < g->nparts; i++) {
		grp_part_t *p = &g->parts[i];
		mqb_watermarks_t wm;

		p->id = i;
		p->sp = mqb_store_partition(c->store, gc->stream, i);
		if (!p->sp) {
			rc = MQB_ERR_NOTFOUND;
			mqb_errstr_set(errstr, errstr_size, "group %s: %s-%d missing",
				       gc->name, gc->stream, (int)i);
			goto out;
		}
		mqb_partition_watermarks(p->sp, &wm);
		int64_t start = gc->start_latest ? wm.stored : wm.log_start;
		rc = g->mode->part_init(g, p, start, errstr, errstr_size);
		if (rc != MQB_OK)
			goto out;
		rc = MQB_ERR_NOMEM;
		p->rd = mqb_reader_new(p->sp, start);
		if (!p->rd)
			goto out;
	}
	rc = grp_state_load(g, errstr, errstr_size);
	if (rc != MQB_OK)
		goto out;
	g->last_save_ms = now;
	mqb_info(GRP_LOG, "group %s: %s mode on stream %s (%d partitions)%s%s",
		 gc->name, g->mode->name, gc->stream, (int)g->nparts,
		 g->assignor ? ", assignor " : "", g->assignor ? g->assignor->name : "");
	rc = MQB_OK;
out:
	return rc;
}

void grp_free(grp_t *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->n_members; i++)
		grp_member_free(g->members[i]);
	free(g->members);
	for (int32_t i = 0; g->parts && i < g->nparts; i++) {
		mqb_reader_destroy(g->parts[i].rd);
		g->mode->part_fini(&g->parts[i]);
	}
	free(g->parts);
	free(g->dead);
	mqb_reader_destroy(g->dl_rd);
	conf_free(&g->own);
	free(g);
}

/* A new group from src: NULL + errstr when it cannot start (stream not open, ...). */
grp_t *grp_new(mqb_coord_t *c, const mqb_group_conf_t *src, int64_t now,
			char *errstr, size_t errstr_size)
{
	grp_t *g = calloc(1, sizeof(*g));

	if (!g) {
		mqb_errstr_set(errstr, errstr_size, "group %s: out of memory", src->name);
		return NULL;
	}
	if (group_init(c, g, src, now, errstr, errstr_size) != MQB_OK) {
		grp_free(g);
		return NULL;
	}
	return g;
}

mqb_coord_t *mqb_coord_new(const mqb_coord_opts_t *o, char *errstr, size_t errstr_size)
{
	mqb_coord_t *c = NULL;

	if (!o || !o->cfg || !o->store) {
		mqb_errstr_set(errstr, errstr_size, "coordinator: cfg and store required");
		goto error;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		goto nomem;
	c->data_dir = strdup(o->cfg->data_dir);
	c->cfg_path = o->cfg->path ? strdup(o->cfg->path) : NULL;
	if (!c->data_dir || (o->cfg->path && !c->cfg_path))
		goto nomem;
	c->store = o->store;
	c->commit_interval_ms = o->commit_interval_ms > 0 ? o->commit_interval_ms : 100;
	c->next_token = 1;
	if (o->cfg->groups_count) {
		c->groups = calloc(o->cfg->groups_count, sizeof(*c->groups));
		if (!c->groups)
			goto nomem;
	}
	for (size_t i = 0; i < o->cfg->groups_count; i++) {
		c->groups[i] = grp_new(c, &o->cfg->groups[i], o->now_ms, errstr, errstr_size);
		if (!c->groups[i])
			goto error;
		c->n_groups = i + 1;
	}
	if (o->async_save && grp_saver_start(c) != MQB_OK)
		goto nomem;
	return c;
nomem:
	mqb_errstr_set(errstr, errstr_size, "coordinator: out of memory");
error:
	if (c) {
		for (size_t i = 0; i < c->n_groups; i++)
			grp_free(c->groups[i]);
		free(c->groups);
		free(c->data_dir);
		free(c->cfg_path);
		free(c);
	}
	return NULL;
}

void mqb_coord_destroy(mqb_coord_t *c)
{
	if (!c)
		return;
	mqb_coord_flush(c);
	grp_saver_stop(c);
	for (size_t i = 0; i < c->n_groups; i++)
		grp_free(c->groups[i]);
	free(c->groups);
	free(c->data_dir);
	free(c->cfg_path);
	free(c);
}

int mqb_coord_flush(mqb_coord_t *c)
{
	int rc = MQB_OK;

	for (size_t i = 0; c && i < c->n_groups; i++) {
		grp_t *g = c->groups[i];
		if (g->failed)
			continue;
		grp_process_dead(g, 0);
		grp_saver_check(g);
		if (g->dirty) {
			int r = grp_state_save(g, g->last_save_ms);
			if (r != MQB_OK && rc == MQB_OK)
				rc = r;
		}
	}
	if (c) {
		int r = grp_saver_wait(c);
		if (r != MQB_OK && rc == MQB_OK)
			rc = r;
	}
	return rc;
}

bool mqb_coord_has_group(mqb_coord_t *c, const char *group)
{
	return grp_find(c, group) != NULL;
}

/* Answer and count a request for a group that is not configured. */
static void unknown_group(mqb_coord_t *c, const char *group, const char *member,
			  const char *request, const mqb_group_transport_t *via)
{
	c->unknown_group_errors++;
	MQB_LOG_RATELIMITED(MQB_LOG_WARN, GRP_LOG, 1000, "refused %s from %s: unknown_group: "
			    "no group %s is configured", request ? request : "?",
			    member && *member ? member : "(unknown)", group);
	if (via && via->ops && via->ops->error && member && *member)
		via->ops->error(via->arg, group, member, MQB_GROUP_E_UNKNOWN_GROUP, request,
				"no such group");
}

/* The group a request names; NULL after answering "unknown_group" (counted in
 * c->unknown_group_errors: there is no group state to count into) or, for a group that
 * refused to start, "internal" with the reason (*rc says which). */
static grp_t *request_group(mqb_coord_t *c, const char *group, const char *member,
			    const char *request, const mqb_group_transport_t *via, int *rc)
{
	grp_t *g = group && member ? grp_find(c, group) : NULL;

	*rc = MQB_ERR_NOTFOUND;
	if (!group || !member)
		return NULL;
	if (!g) {
		unknown_group(c, group, member, request, via);
		return NULL;
	}
	if (g->failed) {
		grp_error(g, via, member, MQB_GROUP_E_INTERNAL, request, "group %s is down: its "
			  "saved state is corrupt (the operator must reset it)", g->conf->name);
		*rc = MQB_ERR_CORRUPT;
		return NULL;
	}
	*rc = MQB_OK;
	return g;
}

/*
 * The joined member a heartbeat, ack or revoked comes from, with its generation
 * checked; NULL after the refusal (*rc). Acks are checked per partition by
 * acktrack/share (the generation in which the member got the partition is the floor),
 * so in-flight acks from before a cooperative rebalance still count; "revoked" is
 * checked per partition against the generation that asked for the revocation. A
 * heartbeat (is_heartbeat) must also not be older than the member's last assignment.
 */
static grp_member_t *request_member(grp_t *g, const char *member, int64_t gen,
				    const char *request, bool is_heartbeat,
				    const mqb_group_transport_t *via, int *rc)
{
	grp_member_t *mb = grp_member_find(g, member);

	*rc = MQB_ERR_NOTFOUND;
	if (!mb) {
		grp_error(g, via, member, MQB_GROUP_E_UNKNOWN_MEMBER, request,
			  "not a member of group %s (join first)", g->conf->name);
		return NULL;
	}
	if (mb->departed) {
		grp_error(g, via, member, MQB_GROUP_E_UNKNOWN_MEMBER, request,
			  "member left the group (join again)");
		return NULL;
	}
	/* It reads its topics and answers: past the join deadline check (a heartbeat that
	 * crossed an assignment is late, not dead). */
	mb->confirmed = true;
	if (gen > g->generation || (is_heartbeat && gen < mb->gen)) {
		grp_error(g, via, member, MQB_GROUP_E_STALE_GENERATION, request,
			  "generation %lld, current %lld (yours %lld)", (long long)gen,
			  (long long)g->generation, (long long)mb->gen);
		*rc = MQB_ERR_STALE;
		return NULL;
	}
	*rc = MQB_OK;
	return mb;
}

/* true when t has every op the coordinator calls. */
static bool transport_ok(const mqb_group_transport_t *t)
{
	return t && t->ops && t->ops->deliver && t->ops->assignment && t->ops->error;
}

int mqb_coord_join(mqb_coord_t *c, const mqb_group_join_t *j, int64_t now)
{
	if (!j || !j->group || !j->member_id || !transport_ok(&j->transport))
		return MQB_ERR_INVAL;
	int rc;
	grp_t *g = request_group(c, j->group, j->member_id, "join", &j->transport, &rc);

	return g ? grp_on_join(g, j, now) : rc;
}

int mqb_coord_leave(mqb_coord_t *c, const char *group, const char *member_id,
		    const mqb_group_transport_t *via, int64_t now)
{
	int rc;
	grp_t *g = request_group(c, group, member_id, "leave", via, &rc);

	return g ? grp_on_leave(g, member_id, via, now) : rc;
}

int mqb_coord_heartbeat(mqb_coord_t *c, const char *group, const char *member_id,
			int64_t gen, const mqb_group_transport_t *via, int64_t now)
{
	int rc;
	grp_t *g = request_group(c, group, member_id, "heartbeat", via, &rc);
	grp_member_t *mb;

	if (g && (mb = request_member(g, member_id, gen, "heartbeat", true, via, &rc)))
		mb->last_seen_ms = now;
	return rc;
}

int mqb_coord_ack(mqb_coord_t *c, const char *group, const char *member_id, int64_t gen,
		  const mqb_group_ack_entry_t *acks, size_t n_acks,
		  const mqb_group_transport_t *via, int64_t now)
{
	int rc;
	grp_t *g = request_group(c, group, member_id, "ack", via, &rc);
	grp_member_t *mb;

	if (g && (mb = request_member(g, member_id, gen, "ack", false, via, &rc)))
		rc = grp_on_ack(g, mb, gen, acks, n_acks, via, now);
	return rc;
}

int mqb_coord_revoked(mqb_coord_t *c, const char *group, const char *member_id, int64_t gen,
		      const int32_t *partitions, size_t n_partitions,
		      const mqb_group_transport_t *via, int64_t now)
{
	int rc;
	grp_t *g = request_group(c, group, member_id, "revoked", via, &rc);
	grp_member_t *mb;

	if (g && (mb = request_member(g, member_id, gen, "revoked", false, via, &rc)))
		rc = g->mode->revoked(g, mb, gen, partitions, n_partitions, via, now);
	return rc;
}

int mqb_coord_member_gone(mqb_coord_t *c, const char *member_id, int64_t now)
{
	int left = 0;

	for (size_t i = 0; member_id && i < c->n_groups; i++) {
		grp_t *g = c->groups[i];
		grp_member_t *mb = g->failed ? NULL : grp_member_find(g, member_id);

		if (mb && !mb->departed && grp_on_leave(g, member_id, NULL, now) == MQB_OK)
			left++;
	}
	return left;
}

int mqb_coord_refuse(mqb_coord_t *c, const char *group, const char *member,
		     mqb_group_errcode_t code, const char *request, const char *message,
		     const mqb_group_transport_t *via)
{
	grp_t *g = grp_find(c, group);

	if (!g) {
		unknown_group(c, group, member, request, via);
		return MQB_ERR_NOTFOUND;
	}
	grp_error(g, via, member, code, request, "%s", message ? message : "");
	return MQB_OK;
}

int mqb_coord_tick(mqb_coord_t *c, int64_t now)
{
	int delivered = 0;

	for (size_t i = 0; i < c->n_groups; i++) {
		grp_t *g = c->groups[i];

		if (g->failed)
			continue;   /* no members, nothing to deliver, never save over the evidence */
		grp_check_sessions(g, now);
		g->mode->tick(g, now);
		int n = grp_deliver(g, now);
		if (n > 0)
			delivered += n;
		grp_saver_check(g);
		if (grp_process_dead(g, now) == MQB_OK && g->dirty &&
		    now - g->last_save_ms >= c->commit_interval_ms)
			grp_state_save(g, now);
	}
	return delivered;
}

int mqb_coord_reset(mqb_coord_t *c, const char *group, const char *to, int64_t now,
		    char *errstr, size_t errstr_size)
{
	grp_t *g = grp_find(c, group);

	if (!g) {
		mqb_errstr_set(errstr, errstr_size, "no such group: %s", group);
		return MQB_ERR_NOTFOUND;
	}
	if (g->n_members) {
		mqb_errstr_set(errstr, errstr_size, "group %s has %zu member(s); reset needs an "
			       "empty group (stop its consumers first)", group, g->n_members);
		return MQB_ERR_STATE;
	}
	int rc = grp_reset_to(g, to, errstr, errstr_size);
	if (rc != MQB_OK)
		return rc;
	if (g->failed) {
		/* The corrupt slots go: the new position becomes the only state. */
		rc = mqb_group_state_remove(c->data_dir, group, errstr, errstr_size);
		if (rc != MQB_OK)
			return rc;
		mqb_notice(GRP_LOG, "group %s: corrupt saved state removed by an operator reset",
			   group);
		g->failed = false;
		g->failed_why[0] = '\0';
		g->seq = 0;
	}
	g->dirty = true;
	rc = grp_state_save(g, now);
	if (rc == MQB_OK)
		rc = grp_saver_wait(c);
	if (rc != MQB_OK)
		mqb_errstr_set(errstr, errstr_size, "group %s: saving the new position failed: %s",
			       group, mqb_strerror(rc));
	return rc;
}
