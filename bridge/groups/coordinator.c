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

grp_t *grp_find(mqb_coord_t *c, const char *name)
{
	for (size_t i = 0; i < c->n_groups; i++)
		if (strcmp(c->groups[i].conf->name, name) == 0)
			return &c->groups[i];
	return NULL;
}

int grp_publish(grp_t *g, const char *topic, const void *payload, size_t len,
		const mqb_coord_prop_t *props, size_t nprops)
{
	return g->c->publish(g->c->publish_arg, topic, payload, len, props, nprops);
}

/* Count, log (rate-limited) and, when a member is named, reply on its error topic. */
void grp_error(grp_t *g, const char *member, mqb_ctl_errcode_t code, const char *request,
	       const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (code < MQB_CTL_E_COUNT)
		g->errors[code]++;
	MQB_LOG_RATELIMITED(MQB_LOG_WARN, GRP_LOG, 1000, "group %s: refused %s from %s: %s: %s",
			    g->conf->name, request ? request : "?",
			    member && *member ? member : "(unknown)",
			    mqb_ctl_errcode_name(code), msg);
	if (!member || !*member || !mqb_ctl_id_valid(member))
		return;
	char topic[1024];
	if (mqb_ctl_member_topic(topic, sizeof(topic), g->c->cfg->groups_prefix, g->conf->name,
				 member, "error") != MQB_OK)
		return;
	char *body = mqb_ctl_encode_error(code, msg, request);
	if (body) {
		grp_publish(g, topic, body, strlen(body), NULL, 0);
		free(body);
	}
}

static int group_init(mqb_coord_t *c, grp_t *g, const mqb_group_conf_t *gc, int64_t now,
		      char *errstr, size_t errstr_size)
{
	int rc = MQB_ERR_CONFIG;

	g->c = c;
	g->conf = gc;
	g->shared = gc->mode == MQB_GROUP_SHARED;
	g->assignor = mqb_assignor_find(gc->assignor ? gc->assignor : "range");
	if (!g->shared && !g->assignor) {
		mqb_errstr_set(errstr, errstr_size, "group %s: unknown assignor \"%s\"",
			       gc->name, gc->assignor);
		goto out;
	}
	g->cooperative = !g->shared && gc->rebalance == MQB_REBALANCE_COOPERATIVE;
	if (!mqb_group_name_valid(gc->name) || !mqb_ctl_id_valid(gc->name)) {
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
		if (g->shared) {
			mqb_share_opts_t so;
			mqb_share_opts_defaults(&so);
			so.start_offset = start;
			so.max_deliveries = gc->max_deliveries > 0 ? (uint32_t)gc->max_deliveries : 5;
			so.lock_ms = gc->ack_timeout_ms > 0 ? gc->ack_timeout_ms : 30000;
			p->sh = mqb_share_new(&so, errstr, errstr_size);
			if (!p->sh)
				goto out;
		} else {
			mqb_acktrack_opts_t ao;
			mqb_acktrack_opts_defaults(&ao);
			ao.start_offset = start;
			ao.max_deliveries = gc->max_deliveries > 0 ? (uint32_t)gc->max_deliveries : 0;
			p->at = mqb_acktrack_new(&ao, errstr, errstr_size);
			if (!p->at)
				goto out;
		}
		p->rd = mqb_reader_new(p->sp, start);
		if (!p->rd)
			goto out;
	}
	rc = grp_state_load(g, errstr, errstr_size);
	if (rc != MQB_OK)
		goto out;
	g->last_save_ms = now;
	mqb_info(GRP_LOG, "group %s: %s mode on stream %s (%d partitions)%s%s",
		 gc->name, g->shared ? "shared" : "exclusive", gc->stream, (int)g->nparts,
		 g->shared ? "" : ", assignor ", g->shared ? "" : g->assignor->name);
	rc = MQB_OK;
out:
	return rc;
}

static void group_fini(grp_t *g)
{
	for (size_t i = 0; i < g->n_members; i++)
		grp_member_free(g->members[i]);
	free(g->members);
	for (int32_t i = 0; g->parts && i < g->nparts; i++) {
		mqb_reader_destroy(g->parts[i].rd);
		mqb_acktrack_destroy(g->parts[i].at);
		mqb_share_destroy(g->parts[i].sh);
	}
	free(g->parts);
	free(g->dead);
	mqb_reader_destroy(g->dl_rd);
}

mqb_coord_t *mqb_coord_new(const mqb_coord_opts_t *o, char *errstr, size_t errstr_size)
{
	mqb_coord_t *c = NULL;

	if (!o || !o->cfg || !o->store || !o->publish) {
		mqb_errstr_set(errstr, errstr_size, "coordinator: cfg, store and publish required");
		goto error;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		goto nomem;
	c->cfg = o->cfg;
	c->store = o->store;
	c->publish = o->publish;
	c->publish_arg = o->publish_arg;
	c->transport_v5 = o->transport_v5;
	c->commit_interval_ms = o->commit_interval_ms > 0 ? o->commit_interval_ms : 100;
	c->next_token = 1;
	if (o->cfg->groups_count) {
		c->groups = calloc(o->cfg->groups_count, sizeof(*c->groups));
		if (!c->groups)
			goto nomem;
	}
	for (size_t i = 0; i < o->cfg->groups_count; i++) {
		c->n_groups = i + 1;
		if (group_init(c, &c->groups[i], &o->cfg->groups[i], o->now_ms,
			       errstr, errstr_size) != MQB_OK)
			goto error;
	}
	if (o->async_save && grp_saver_start(c) != MQB_OK)
		goto nomem;
	return c;
nomem:
	mqb_errstr_set(errstr, errstr_size, "coordinator: out of memory");
error:
	if (c) {
		for (size_t i = 0; i < c->n_groups; i++)
			group_fini(&c->groups[i]);
		free(c->groups);
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
		group_fini(&c->groups[i]);
	free(c->groups);
	free(c);
}

int mqb_coord_flush(mqb_coord_t *c)
{
	int rc = MQB_OK;

	for (size_t i = 0; c && i < c->n_groups; i++) {
		grp_t *g = &c->groups[i];
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

int mqb_coord_handle(mqb_coord_t *c, const char *topic, const void *payload, size_t len,
		     int64_t now)
{
	mqb_ctl_topic_t t;
	mqb_ctl_msg_t m;
	char why[256];
	int rc;

	memset(&m, 0, sizeof(m));
	rc = mqb_ctl_topic_parse(c->cfg->groups_prefix, topic, &t, why, sizeof(why));
	if (rc != MQB_OK) {
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, GRP_LOG, 1000, "ignored message on %s: %s",
				    topic, why);
		return rc;
	}
	grp_t *g = grp_find(c, t.group);
	if (!g) {
		/* No group state to count into: answer the member if it is named. */
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, GRP_LOG, 1000, "message for unknown group %s",
				    t.group);
		if (*t.member && mqb_ctl_id_valid(t.member)) {
			char et[1024];
			if (mqb_ctl_member_topic(et, sizeof(et), c->cfg->groups_prefix, t.group,
						 t.member, "error") == MQB_OK) {
				char *body = mqb_ctl_encode_error(MQB_CTL_E_UNKNOWN_GROUP,
								  "no such group", mqb_ctl_kind_name(t.kind));
				if (body) {
					c->publish(c->publish_arg, et, body, strlen(body), NULL, 0);
					free(body);
				}
			}
		}
		return MQB_ERR_NOTFOUND;
	}
	rc = mqb_ctl_parse(t.kind, payload, len, &m, why, sizeof(why));
	if (rc != MQB_OK) {
		/* join/leave name the member only inside the (bad) payload: no reply then. */
		grp_error(g, t.member, mqb_ctl_errcode_from_err(rc), mqb_ctl_kind_name(t.kind),
			  "%s", why);
		goto out;
	}
	switch (t.kind) {
	case MQB_CTL_JOIN:
		rc = grp_on_join(g, &m, payload, len, now);
		break;
	case MQB_CTL_LEAVE:
		rc = grp_on_leave(g, &m, now);
		break;
	default: {
		grp_member_t *mb = grp_member_find(g, t.member);
		if (!mb) {
			grp_error(g, t.member, MQB_CTL_E_UNKNOWN_MEMBER, mqb_ctl_kind_name(t.kind),
				  "not a member of group %s (join first)", g->conf->name);
			rc = MQB_ERR_NOTFOUND;
			break;
		}
		if (mb->departed) {
			grp_error(g, t.member, MQB_CTL_E_UNKNOWN_MEMBER, mqb_ctl_kind_name(t.kind),
				  "member left the group (join again)");
			rc = MQB_ERR_NOTFOUND;
			break;
		}
		/* Acks are checked per partition by acktrack/share (the generation in
		 * which the member got the partition is the floor), so in-flight acks
		 * from before a cooperative rebalance still count; "revoked" is checked
		 * per partition against the generation that asked for the revocation. */
		if (m.generation > g->generation ||
		    (t.kind == MQB_CTL_HEARTBEAT && m.generation < mb->gen)) {
			grp_error(g, t.member, MQB_CTL_E_STALE_GENERATION, mqb_ctl_kind_name(t.kind),
				  "generation %lld, current %lld (yours %lld)", (long long)m.generation,
				  (long long)g->generation, (long long)mb->gen);
			rc = MQB_ERR_STALE;
			break;
		}
		if (t.kind == MQB_CTL_HEARTBEAT)
			rc = grp_on_heartbeat(g, mb, &m, now);
		else if (t.kind == MQB_CTL_ACK)
			rc = grp_on_ack(g, mb, &m, now);
		else
			rc = grp_on_revoked(g, mb, &m, now);
		break;
	}
	}
out:
	mqb_ctl_msg_free(&m);
	return rc;
}

int mqb_coord_tick(mqb_coord_t *c, int64_t now)
{
	int delivered = 0;

	for (size_t i = 0; i < c->n_groups; i++) {
		grp_t *g = &c->groups[i];

		grp_check_sessions(g, now);
		if (g->shared) {
			grp_share_expire(g, now);
		} else {
			grp_check_revokes(g, now);
			if (g->rebalance_needed)
				grp_rebalance(g, now);
		}
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
	g->dirty = true;
	rc = grp_state_save(g, now);
	if (rc == MQB_OK)
		rc = grp_saver_wait(c);
	if (rc != MQB_OK)
		mqb_errstr_set(errstr, errstr_size, "group %s: saving the new position failed: %s",
			       group, mqb_strerror(rc));
	return rc;
}

int64_t mqb_coord_generation(mqb_coord_t *c, const char *group)
{
	grp_t *g = grp_find(c, group);
	return g ? g->generation : -1;
}

size_t mqb_coord_member_count(mqb_coord_t *c, const char *group)
{
	grp_t *g = grp_find(c, group);
	return g ? g->n_members : 0;
}

int64_t mqb_coord_committed(mqb_coord_t *c, const char *group, int32_t partition)
{
	grp_t *g = grp_find(c, group);

	if (!g || partition < 0 || partition >= g->nparts)
		return -1;
	if (g->shared) {
		mqb_share_stats_t st;
		mqb_share_stats(g->parts[partition].sh, 0, &st);
		return st.spso;
	}
	return mqb_acktrack_committed(g->parts[partition].at);
}
