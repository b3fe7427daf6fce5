/*
 * group_reload.c — a configuration reload for the coordinator (mqb_coord_reload in
 * coordinator.h): groups added, removed when empty, live settings changed in place.
 *
 * Order: every check and every new group is built first (a failure there changes
 * nothing); then empty groups that left the file are saved and freed, kept groups take
 * their new settings, new groups join the list, and the saver learns the new list.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/err.h"
#include "bridge/logging.h"
#include "bridge/groups/group_internal.h"

static const mqb_group_conf_t *conf_named(const mqb_config_t *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->groups_count; i++)
		if (strcmp(cfg->groups[i].name, name) == 0)
			return &cfg->groups[i];
	return NULL;
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The settings fixed when a group is built; NULL when nc changes none of them. */
static const char *fixed_change(const mqb_group_conf_t *oc, const mqb_group_conf_t *nc)
{
	if (!str_eq(oc->stream, nc->stream))
		return "stream";
	if (oc->mode != nc->mode)
		return "mode";
	if (!str_eq(oc->assignor, nc->assignor))
		return "assignor";
	if (oc->rebalance != nc->rebalance)
		return "rebalance";
	if (oc->start_latest != nc->start_latest)
		return "start";
	if (oc->on_corrupt_start != nc->on_corrupt_start)
		return "on_corrupt_state";
	return NULL;
}

/* Append "key old -> new" to buf when they differ. */
static void note(char *buf, size_t size, const char *key, int64_t a, int64_t b)
{
	size_t len = strlen(buf);

	if (a != b && len < size)
		snprintf(buf + len, size - len, "%s%s %" PRId64 " -> %" PRId64, len ? ", " : "",
			 key, a, b);
}

/* g takes nc's live settings (its name, stream and mode stay). */
static int group_update(grp_t *g, const mqb_group_conf_t *nc)
{
	mqb_group_conf_t *oc = &g->own;
	char changed[512] = "";
	char *dl = NULL;

	if (!str_eq(oc->dead_letter, nc->dead_letter)) {
		if (nc->dead_letter && !(dl = strdup(nc->dead_letter)))
			return MQB_ERR_NOMEM;
		mqb_notice(GRP_LOG, "group %s: dead_letter: %s -> %s", oc->name,
			   oc->dead_letter ? oc->dead_letter : "(none: archive)",
			   nc->dead_letter ? nc->dead_letter : "(none: archive)");
		free(oc->dead_letter);
		oc->dead_letter = dl;
		oc->dead_letter_index = nc->dead_letter_index;
	}
	oc->stream_index = nc->stream_index;
	note(changed, sizeof changed, "session_timeout_ms", oc->session_timeout_ms,
	     nc->session_timeout_ms);
	note(changed, sizeof changed, "heartbeat_interval_ms", oc->heartbeat_interval_ms,
	     nc->heartbeat_interval_ms);
	note(changed, sizeof changed, "rebalance_timeout_ms", oc->rebalance_timeout_ms,
	     nc->rebalance_timeout_ms);
	note(changed, sizeof changed, "ack_timeout_ms", oc->ack_timeout_ms, nc->ack_timeout_ms);
	note(changed, sizeof changed, "max_deliveries", oc->max_deliveries, nc->max_deliveries);
	note(changed, sizeof changed, "prefetch", oc->prefetch, nc->prefetch);
	note(changed, sizeof changed, "max_members", oc->max_members, nc->max_members);
	note(changed, sizeof changed, "join_deadline_ms", oc->join_deadline_ms,
	     nc->join_deadline_ms);
	note(changed, sizeof changed, "join_rate", oc->join_rate, nc->join_rate);
	note(changed, sizeof changed, "join_burst", oc->join_burst, nc->join_burst);
	oc->session_timeout_ms = nc->session_timeout_ms;
	oc->heartbeat_interval_ms = nc->heartbeat_interval_ms;
	oc->rebalance_timeout_ms = nc->rebalance_timeout_ms;
	oc->ack_timeout_ms = nc->ack_timeout_ms;
	oc->max_deliveries = nc->max_deliveries;
	oc->prefetch = nc->prefetch;
	oc->max_members = nc->max_members;
	oc->join_deadline_ms = nc->join_deadline_ms;
	oc->join_rate = nc->join_rate;
	oc->join_burst = nc->join_burst;
	oc->line = nc->line;
	if (!changed[0])
		return MQB_OK;
	mqb_notice(GRP_LOG, "group %s: reloaded: %s", oc->name, changed);
	for (int32_t i = 0; i < g->nparts; i++)
		g->mode->part_conf(g, &g->parts[i]);
	/* members keep what they asked for, within the group's new prefetch */
	int pf = oc->prefetch > 0 ? oc->prefetch : 100;
	for (size_t i = 0; i < g->n_members; i++) {
		grp_member_t *mb = g->members[i];
		mb->prefetch = mb->prefetch_asked > 0 && mb->prefetch_asked < pf ?
			       mb->prefetch_asked : pf;
	}
	return MQB_OK;
}

/* The partitions of g's stream that the store has now: a new array with g's parts
 * moved in by value and the new ones built (at their log start, as a new group
 * would), or NULL with *n unchanged when the stream did not grow or on failure
 * (errstr set then). Nothing of g changes here. */
static grp_part_t *grow_prepare(grp_t *g, int32_t *n, char *errstr, size_t errstr_size)
{
	int32_t np = mqb_store_partition_count(g->c->store, g->conf->stream);
	grp_part_t *parts;

	if (np <= g->nparts)
		return NULL;
	parts = calloc((size_t)np, sizeof(*parts));
	if (!parts) {
		mqb_errstr_set(errstr, errstr_size, "group %s: out of memory", g->conf->name);
		return NULL;
	}
	memcpy(parts, g->parts, (size_t)g->nparts * sizeof(*parts));
	for (int32_t i = g->nparts; i < np; i++) {
		grp_part_t *p = &parts[i];
		mqb_watermarks_t wm;

		p->id = i;
		p->sp = mqb_store_partition(g->c->store, g->conf->stream, i);
		if (!p->sp) {
			mqb_errstr_set(errstr, errstr_size, "group %s: %s-%d missing",
				       g->conf->name, g->conf->stream, (int)i);
			goto fail;
		}
		mqb_partition_watermarks(p->sp, &wm);
		if (g->mode->part_init(g, p, wm.log_start, errstr, errstr_size) != MQB_OK ||
		    !(p->rd = mqb_reader_new(p->sp, wm.log_start))) {
			mqb_errstr_set(errstr, errstr_size, "group %s: %s-%d: cannot start",
				       g->conf->name, g->conf->stream, (int)i);
			goto fail;
		}
	}
	*n = np;
	return parts;
fail:
	for (int32_t i = g->nparts; i < np; i++) {
		mqb_reader_destroy(parts[i].rd);
		if (parts[i].at || parts[i].sh)
			g->mode->part_fini(&parts[i]);
	}
	free(parts);
	return NULL;
}

/* g takes the grown array (grow_prepare); exclusive mode rebalances at the next tick. */
static void grow_apply(grp_t *g, grp_part_t *parts, int32_t n)
{
	mqb_notice(GRP_LOG, "group %s: stream %s now has %d partitions (was %d)%s",
		   g->conf->name, g->conf->stream, (int)n, (int)g->nparts,
		   g->mode->shared ? "" : ": rebalancing");
	free(g->parts);
	g->parts = parts;
	g->nparts = n;
	g->dirty = true;
	if (!g->mode->shared)
		g->rebalance_needed = true;
}

/* Save g's position (it stays on disk: adding the group again resumes there). */
static int group_save_now(grp_t *g, int64_t now)
{
	int rc;

	grp_process_dead(g, now);
	if (!g->dirty || g->failed)
		return MQB_OK;
	rc = grp_state_save(g, now);
	if (rc == MQB_OK)
		rc = grp_saver_wait(g->c);
	return rc;
}

int mqb_coord_reload(mqb_coord_t *c, const mqb_config_t *ncfg, int64_t now,
		     char *errstr, size_t errstr_size)
{
	grp_t **added = NULL, **list = NULL;
	grp_part_t **grown = NULL;        /* per running group: its grown partitions */
	int32_t *ngrown = NULL;
	size_t n_added = 0, n_list = 0, kept = 0;
	int rc = MQB_ERR_NOMEM;

	/* 1. checks and new groups: nothing running changes yet */
	for (size_t i = 0; i < c->n_groups; i++) {
		const mqb_group_conf_t *nc = conf_named(ncfg, c->groups[i]->conf->name);
		const char *key = nc ? fixed_change(c->groups[i]->conf, nc) : NULL;

		if (key) {
			mqb_errstr_set(errstr, errstr_size, "groups: %s.%s changed: needs a "
				       "restart", nc->name, key);
			return MQB_ERR_CONFIG;
		}
	}
	added = calloc(ncfg->groups_count + 1, sizeof(*added));
	list = calloc(c->n_groups + ncfg->groups_count + 1, sizeof(*list));
	grown = calloc(c->n_groups + 1, sizeof(*grown));
	ngrown = calloc(c->n_groups + 1, sizeof(*ngrown));
	if (!added || !list || !grown || !ngrown) {
		mqb_errstr_set(errstr, errstr_size, "groups: out of memory");
		goto fail;
	}
	for (size_t i = 0; i < c->n_groups; i++) {   /* streams with more partitions */
		char why[512] = "";

		grown[i] = grow_prepare(c->groups[i], &ngrown[i], why, sizeof why);
		if (!grown[i] && why[0]) {
			rc = MQB_ERR_NOMEM;
			mqb_errstr_set(errstr, errstr_size, "%s", why);
			goto fail;
		}
	}
	for (size_t i = 0; i < ncfg->groups_count; i++) {
		char why[512] = "";

		if (grp_find(c, ncfg->groups[i].name))
			continue;
		added[n_added] = grp_new(c, &ncfg->groups[i], now, why, sizeof why);
		if (!added[n_added]) {
			rc = MQB_ERR_CONFIG;
			mqb_errstr_set(errstr, errstr_size, "new group %s: %s",
				       ncfg->groups[i].name, why[0] ? why : "cannot start");
			goto fail;
		}
		n_added++;
	}
	/* 2. apply: more partitions, removals (empty groups only), updates, additions */
	for (size_t i = 0; i < c->n_groups; i++) {
		grp_t *g = c->groups[i];
		const mqb_group_conf_t *nc = conf_named(ncfg, g->conf->name);

		if (grown[i])
			grow_apply(g, grown[i], ngrown[i]);

		if (nc) {
			if (group_update(g, nc) != MQB_OK)
				mqb_error(GRP_LOG, "group %s: out of memory: its dead_letter "
					  "setting stays", g->conf->name);
			list[n_list++] = g;
			continue;
		}
		if (g->n_members) {
			mqb_error(GRP_LOG, "group %s: not removed: it has %zu member(s); it keeps "
				  "running with its previous settings (stop its consumers, then "
				  "reload again)", g->conf->name, g->n_members);
			list[n_list++] = g;
			kept++;
			continue;
		}
		if (group_save_now(g, now) != MQB_OK)
			mqb_error(GRP_LOG, "group %s: saving its position before removal failed; "
				  "the last saved one stays", g->conf->name);
		mqb_notice(GRP_LOG, "group %s: removed (no members); its saved position stays "
			   "in %s/__groups for a later return", g->conf->name, c->data_dir);
		grp_free(g);
	}
	for (size_t i = 0; i < n_added; i++) {
		mqb_notice(GRP_LOG, "group %s: added on stream %s", added[i]->conf->name,
			   added[i]->conf->stream);
		list[n_list++] = added[i];
	}
	free(c->groups);
	c->groups = list;
	c->n_groups = n_list;
	free(added);
	free(grown);
	free(ngrown);
	grp_saver_wait(c);
	if (grp_saver_regroup(c) != MQB_OK) {
		/* the old job list stays: saves of new groups would have no job */
		mqb_error(GRP_LOG, "groups: out of memory after a reload; saves fall back to "
			  "the coordinator's thread");
		grp_saver_stop(c);
	}
	return (int)kept;
fail:
	for (size_t i = 0; added && i < n_added; i++)
		grp_free(added[i]);
	for (size_t i = 0; grown && i < c->n_groups; i++) {
		grp_t *g = c->groups[i];

		for (int32_t k = g->nparts; grown[i] && k < ngrown[i]; k++) {
			mqb_reader_destroy(grown[i][k].rd);
			g->mode->part_fini(&grown[i][k]);
		}
		free(grown[i]);
	}
	free(grown);
	free(ngrown);
	free(added);
	free(list);
	return rc;
}

size_t mqb_coord_group_count(mqb_coord_t *c)
{
	return c->n_groups;
}
