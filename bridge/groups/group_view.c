/*
 * group_view.c — what operators see: GET /groups, GET /groups/<g> documents and the
 * numbers behind the mqbridge_group_* metrics.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bridge/err.h"
#include "bridge/groups/group_internal.h"

static const char *group_state(const grp_t *g)
{
	if (g->failed)
		return "failed";
	if (!g->n_members)
		return "empty";
	if (g->rebalancing || g->rebalance_needed)
		return "rebalancing";
	return "stable";
}

typedef struct part_view {
	grp_part_view_t s;            /* what the partition's delivery state says */
	int64_t log_end;
	uint64_t dead, archived;
} part_view_t;

static void part_view(const grp_t *g, const grp_part_t *p, int64_t now, part_view_t *v)
{
	mqb_watermarks_t wm;

	mqb_partition_watermarks(p->sp, &wm);
	v->log_end = wm.stored;
	g->mode->part_view(p, now, &v->s);
	v->dead = p->dead_lettered;
	v->archived = p->archived;
}

static int64_t group_lag(const grp_t *g, int64_t now)
{
	int64_t lag = 0;

	for (int32_t i = 0; i < g->nparts; i++) {
		part_view_t v;
		part_view(g, &g->parts[i], now, &v);
		lag += v.log_end - v.s.committed;
	}
	return lag;
}

cJSON *mqb_coord_list(mqb_coord_t *c, int64_t now)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *arr = root ? cJSON_AddArrayToObject(root, "groups") : NULL;

	for (size_t i = 0; arr && i < c->n_groups; i++) {
		grp_t *g = c->groups[i];
		cJSON *o = cJSON_CreateObject();
		if (!o)
			break;
		cJSON_AddStringToObject(o, "name", g->conf->name);
		cJSON_AddStringToObject(o, "stream", g->conf->stream);
		cJSON_AddStringToObject(o, "mode", g->mode->name);
		cJSON_AddStringToObject(o, "state", group_state(g));
		if (g->failed)
			cJSON_AddStringToObject(o, "error", g->failed_why);
		cJSON_AddNumberToObject(o, "generation", (double)g->generation);
		cJSON_AddNumberToObject(o, "members", (double)g->n_members);
		cJSON_AddNumberToObject(o, "lag", (double)group_lag(g, now));
		cJSON_AddItemToArray(arr, o);
	}
	return root;
}

static cJSON *int_array(const int32_t *v, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; a && i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
	return a;
}

cJSON *mqb_coord_describe(mqb_coord_t *c, const char *group, int64_t now)
{
	grp_t *g = grp_find(c, group);
	cJSON *o, *ms, *ps, *es;
	int32_t *as = NULL, *rv = NULL;

	if (!g)
		return NULL;
	o = cJSON_CreateObject();
	as = malloc(((size_t)g->nparts + 1) * sizeof(*as));
	rv = malloc(((size_t)g->nparts + 1) * sizeof(*rv));
	if (!o || !as || !rv)
		goto out;
	cJSON_AddStringToObject(o, "name", g->conf->name);
	cJSON_AddStringToObject(o, "stream", g->conf->stream);
	cJSON_AddStringToObject(o, "mode", g->mode->name);
	if (g->assignor) {
		cJSON_AddStringToObject(o, "assignor", g->assignor->name);
		cJSON_AddStringToObject(o, "rebalance", g->cooperative ? "cooperative" : "eager");
	}
	cJSON_AddStringToObject(o, "state", group_state(g));
	if (g->failed)
		cJSON_AddStringToObject(o, "error", g->failed_why);
	cJSON_AddNumberToObject(o, "generation", (double)g->generation);
	cJSON_AddNumberToObject(o, "rebalances", (double)g->rebalances);
	cJSON_AddNumberToObject(o, "max_members", (double)grp_max_members(g));
	/* the settings a reload changes live, to see that it did */
	cJSON_AddNumberToObject(o, "prefetch", g->conf->prefetch > 0 ? g->conf->prefetch : 100);
	cJSON_AddNumberToObject(o, "session_timeout_ms", (double)g->conf->session_timeout_ms);
	cJSON_AddNumberToObject(o, "ack_timeout_ms", (double)g->conf->ack_timeout_ms);
	cJSON_AddNumberToObject(o, "max_deliveries", g->conf->max_deliveries);
	cJSON_AddNumberToObject(o, "join_deadline_ms", (double)grp_join_deadline(g));
	cJSON_AddNumberToObject(o, "join_deadline_removed", (double)g->join_deadline_removed);
	cJSON_AddNumberToObject(o, "lag", (double)group_lag(g, now));
	ms = cJSON_AddArrayToObject(o, "members");
	for (size_t i = 0; ms && i < g->n_members; i++) {
		grp_member_t *mb = g->members[i];
		cJSON *m = cJSON_CreateObject();
		size_t na = 0, nr = 0;
		int64_t oldest;
		if (!m)
			break;
		cJSON_AddStringToObject(m, "member_id", mb->id);
		if (mb->instance_id)
			cJSON_AddStringToObject(m, "instance_id", mb->instance_id);
		cJSON_AddStringToObject(m, "protocol", mb->tp.ops->name ? mb->tp.ops->name : "");
		cJSON_AddBoolToObject(m, "departed", mb->departed);
		cJSON_AddNumberToObject(m, "generation", (double)mb->gen);
		cJSON_AddNumberToObject(m, "prefetch", mb->prefetch);
		int inflight = g->mode->inflight(g, mb, now, &oldest);
		cJSON_AddNumberToObject(m, "prefetch_in_use", inflight);
		cJSON_AddNumberToObject(m, "oldest_unacked_ms", (double)oldest);
		cJSON_AddNumberToObject(m, "last_seen_ms_ago", (double)(now - mb->last_seen_ms));
		cJSON_AddNumberToObject(m, "delivered", (double)mb->delivered);
		cJSON_AddNumberToObject(m, "acked", (double)mb->acked);
		g->mode->member_parts(g, mb, as, &na, rv, &nr);
		cJSON_AddItemToObject(m, "assigned", int_array(as, na));
		cJSON_AddItemToObject(m, "revoking", int_array(rv, nr));
		cJSON_AddItemToArray(ms, m);
	}
	ps = cJSON_AddArrayToObject(o, "partitions");
	for (int32_t i = 0; ps && i < g->nparts; i++) {
		grp_part_t *p = &g->parts[i];
		part_view_t v;
		cJSON *pj = cJSON_CreateObject();
		if (!pj)
			break;
		part_view(g, p, now, &v);
		cJSON_AddNumberToObject(pj, "partition", i);
		if (!g->mode->shared) {   /* partitions have owners */
			if (p->owner)
				cJSON_AddStringToObject(pj, "owner", p->owner->id);
			else
				cJSON_AddNullToObject(pj, "owner");
		}
		cJSON_AddNumberToObject(pj, "committed", (double)v.s.committed);
		cJSON_AddNumberToObject(pj, "log_end", (double)v.log_end);
		cJSON_AddNumberToObject(pj, "lag", (double)(v.log_end - v.s.committed));
		cJSON_AddNumberToObject(pj, "in_flight", (double)v.s.inflight);
		cJSON_AddNumberToObject(pj, "redeliveries", (double)v.s.redeliveries);
		cJSON_AddNumberToObject(pj, "dead_lettered", (double)v.dead);
		cJSON_AddNumberToObject(pj, "archived", (double)v.archived);
		cJSON_AddItemToArray(ps, pj);
	}
	es = cJSON_AddObjectToObject(o, "errors");
	for (int k = 0; es && k < MQB_GROUP_E_COUNT; k++)
		cJSON_AddNumberToObject(es, mqb_group_errcode_name((mqb_group_errcode_t)k),
					(double)g->errors[k]);
out:
	free(as);
	free(rv);
	return o;
}

int mqb_coord_metrics(mqb_coord_t *c, mqb_coord_group_metrics_t **out, size_t *n)
{
	mqb_coord_group_metrics_t *m = calloc(c->n_groups ? c->n_groups : 1, sizeof(*m));

	*out = NULL;
	*n = 0;
	if (!m)
		return MQB_ERR_NOMEM;
	for (size_t i = 0; i < c->n_groups; i++) {
		grp_t *g = c->groups[i];
		mqb_coord_group_metrics_t *gm = &m[i];
		gm->group = g->conf->name;
		gm->stream = g->conf->stream;
		gm->members = (int64_t)g->n_members;
		gm->generation = g->generation;
		gm->rebalances = g->rebalances;
		gm->delivered = g->delivered;
		gm->acked = g->acked;
		gm->failed = g->failed;
		gm->join_deadline_removed = g->join_deadline_removed;
		for (int k = 0; k < MQB_GROUP_E_COUNT && k < 16; k++)
			gm->errors[k] = g->errors[k];
		gm->parts = calloc((size_t)g->nparts, sizeof(*gm->parts));
		if (!gm->parts) {
			mqb_coord_metrics_free(m, i);
			return MQB_ERR_NOMEM;
		}
		gm->n_parts = (size_t)g->nparts;
		for (int32_t p = 0; p < g->nparts; p++) {
			part_view_t v;
			part_view(g, &g->parts[p], 0, &v);
			gm->parts[p].partition = p;
			gm->parts[p].lag = v.log_end - v.s.committed;
			gm->redeliveries += v.s.redeliveries;
			gm->dead_lettered += v.dead;
			gm->archived += v.archived;
		}
	}
	*out = m;
	*n = c->n_groups;
	return MQB_OK;
}

uint64_t mqb_coord_unknown_group_errors(mqb_coord_t *c)
{
	return c->unknown_group_errors;
}

void mqb_coord_metrics_free(mqb_coord_group_metrics_t *m, size_t n)
{
	for (size_t i = 0; m && i < n; i++)
		free(m[i].parts);
	free(m);
}
