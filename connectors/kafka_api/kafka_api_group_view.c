/*
 * kafka_api_group_view.c — what operators see of the Kafka groups: GET /groups entries
 * (kind "kafka"), GET /groups/<g>, and the mqbridge_kafka_api_group_* metrics.
 * Called from the HTTP thread; takes the registry's lock.
 */
#include <stdio.h>
#include <string.h>

#include "connectors/kafka_api/kafka_api_group.h"
#include "connectors/kafka_api/kafka_api_codec.h"

static int64_t log_end(mqb_kgroups_t *kg, const char *stream, int32_t part)
{
	mqb_partition_t *p = kg->o.store ? mqb_store_partition(kg->o.store, stream, part) : NULL;
	mqb_watermarks_t wm;

	if (!p)
		return -1;
	mqb_partition_watermarks(p, &wm);
	return wm.stored;
}

static int64_t group_lag(mqb_kgroups_t *kg, kg_group_t *g)
{
	int64_t lag = 0;

	for (size_t i = 0; i < g->offs.n; i++) {
		int64_t end = log_end(kg, g->offs.e[i].stream, g->offs.e[i].partition);
		if (end >= 0 && g->offs.e[i].offset >= 0 && end > g->offs.e[i].offset)
			lag += end - g->offs.e[i].offset;
	}
	return lag;
}

/* The streams the group committed to, comma-separated (the list's "stream"). */
static void streams_of(kg_group_t *g, char *out, size_t size)
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < g->offs.n && len < size; i++) {
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = !strcmp(g->offs.e[j].stream, g->offs.e[i].stream);
		if (!seen) {
			int n = snprintf(out + len, size - len, "%s%s", len ? "," : "",
					 g->offs.e[i].stream);
			if (n < 0)
				break;
			len += (size_t)n;
		}
	}
}

static const char *state_of(const kg_group_t *g)
{
	return g->failed ? "failed" : kg_state_name(g->state);
}

void mqb_kgroups_list_json(mqb_kgroups_t *kg, cJSON *arr)
{
	char streams[512];

	mqb_kgroups_lock(kg);
	for (size_t i = 0; arr && i < kg->n; i++) {
		kg_group_t *g = kg->groups[i];
		cJSON *o = cJSON_CreateObject();
		if (!o)
			break;
		streams_of(g, streams, sizeof streams);
		cJSON_AddStringToObject(o, "name", g->name);
		cJSON_AddStringToObject(o, "kind", "kafka");
		cJSON_AddStringToObject(o, "stream", streams);
		cJSON_AddStringToObject(o, "mode", "kafka");
		cJSON_AddStringToObject(o, "state", state_of(g));
		if (g->failed)
			cJSON_AddStringToObject(o, "error", g->failed_why);
		cJSON_AddNumberToObject(o, "generation", g->generation);
		cJSON_AddNumberToObject(o, "members", (double)g->n);
		cJSON_AddNumberToObject(o, "lag", (double)group_lag(kg, g));
		cJSON_AddItemToArray(arr, o);
	}
	mqb_kgroups_unlock(kg);
}

/* A "consumer" protocol assignment (version, [topic, [partition]], user data) as
 * {"topic": [partitions]}; NULL when it is not one. */
static cJSON *consumer_assignment(const uint8_t *a, int32_t len)
{
	mqb_kr_t r;
	cJSON *o = cJSON_CreateObject();
	int32_t nt;

	if (!o || !a || len < 6)
		goto bad;
	mqb_kr_init(&r, a, (size_t)len);
	(void)mqb_kr_i16(&r);
	nt = mqb_kr_array(&r, 6);
	for (int32_t t = 0; t < nt && !r.err; t++) {
		mqb_kstr_t tn = mqb_kr_str(&r);
		int32_t np = mqb_kr_array(&r, 4);
		char name[256];
		cJSON *ps = cJSON_CreateArray();
		for (int32_t p = 0; p < np && !r.err; p++)
			cJSON_AddItemToArray(ps, cJSON_CreateNumber(mqb_kr_i32(&r)));
		if (r.err || !tn.s || tn.len <= 0 || (size_t)tn.len >= sizeof name) {
			cJSON_Delete(ps);
			goto bad;
		}
		memcpy(name, tn.s, (size_t)tn.len);
		name[tn.len] = '\0';
		cJSON_AddItemToObject(o, name, ps);
	}
	if (r.err)
		goto bad;
	return o;
bad:
	cJSON_Delete(o);
	return NULL;
}

cJSON *mqb_kgroups_describe_json(mqb_kgroups_t *kg, const char *name)
{
	kg_group_t *g;
	cJSON *o = NULL, *ms, *ps;
	char streams[512];

	mqb_kgroups_lock(kg);
	g = kg_find(kg, name);
	if (!g || !(o = cJSON_CreateObject()))
		goto out;
	streams_of(g, streams, sizeof streams);
	cJSON_AddStringToObject(o, "name", g->name);
	cJSON_AddStringToObject(o, "kind", "kafka");
	cJSON_AddStringToObject(o, "stream", streams);
	cJSON_AddStringToObject(o, "mode", "kafka");
	cJSON_AddStringToObject(o, "state", state_of(g));
	if (g->failed)
		cJSON_AddStringToObject(o, "error", g->failed_why);
	cJSON_AddStringToObject(o, "protocol_type", g->protocol_type ? g->protocol_type : "");
	cJSON_AddStringToObject(o, "assignor", g->protocol ? g->protocol : "");
	if (g->leader)
		cJSON_AddStringToObject(o, "leader", g->leader);
	cJSON_AddNumberToObject(o, "generation", g->generation);
	cJSON_AddNumberToObject(o, "rebalances", (double)g->rebalances);
	cJSON_AddNumberToObject(o, "commits", (double)g->commits);
	cJSON_AddNumberToObject(o, "expired_members", (double)g->expired);
	cJSON_AddNumberToObject(o, "lag", (double)group_lag(kg, g));
	ms = cJSON_AddArrayToObject(o, "members");
	for (size_t i = 0; ms && i < g->n; i++) {
		kg_member_t *m = g->members[i];
		cJSON *mj = cJSON_CreateObject(), *as;
		if (!mj)
			break;
		cJSON_AddStringToObject(mj, "member_id", m->id);
		if (m->instance_id)
			cJSON_AddStringToObject(mj, "instance_id", m->instance_id);
		cJSON_AddStringToObject(mj, "protocol", "kafka");
		cJSON_AddStringToObject(mj, "client_id", m->client_id);
		cJSON_AddStringToObject(mj, "client_host", m->client_host);
		cJSON_AddNumberToObject(mj, "session_timeout_ms", m->session_ms);
		as = g->state == KG_STABLE ? consumer_assignment(m->assign, m->assign_len) : NULL;
		if (as)
			cJSON_AddItemToObject(mj, "assignment", as);
		/* the CLI's column: the partitions of the first stream assigned */
		cJSON *flat = cJSON_AddArrayToObject(mj, "assigned");
		cJSON *t = as ? as->child : NULL;
		for (cJSON *p = t ? t->child : NULL; flat && p; p = p->next)
			cJSON_AddItemToArray(flat, cJSON_CreateNumber(p->valuedouble));
		cJSON_AddArrayToObject(mj, "revoking");
		cJSON_AddItemToArray(ms, mj);
	}
	ps = cJSON_AddArrayToObject(o, "partitions");
	for (size_t i = 0; ps && i < g->offs.n; i++) {
		const mqb_client_offset_t *e = &g->offs.e[i];
		int64_t end = log_end(kg, e->stream, e->partition);
		cJSON *pj = cJSON_CreateObject();
		if (!pj)
			break;
		cJSON_AddStringToObject(pj, "stream", e->stream);
		cJSON_AddNumberToObject(pj, "partition", e->partition);
		cJSON_AddNumberToObject(pj, "committed", (double)e->offset);
		cJSON_AddNumberToObject(pj, "log_end", (double)end);
		cJSON_AddNumberToObject(pj, "lag", (double)(end > e->offset ? end - e->offset : 0));
		if (e->metadata)
			cJSON_AddStringToObject(pj, "metadata", e->metadata);
		cJSON_AddNumberToObject(pj, "commit_time_ms", (double)e->commit_time_ms);
		cJSON_AddItemToArray(ps, pj);
	}
out:
	mqb_kgroups_unlock(kg);
	return o;
}

/* /metrics: per group members, generation, rebalances, commits, expired members. */
void mqb_kgroups_collect(mqb_metrics_emit_t *e, void *arg)
{
	mqb_kgroups_t *kg = arg;

	mqb_kgroups_lock(kg);
	for (size_t i = 0; i < kg->n; i++) {
		kg_group_t *g = kg->groups[i];
		mqb_metrics_emit(e, "mqbridge_kafka_api_group_members", "Members of a Kafka group",
				 "gauge", (double)g->n, "group", g->name, NULL);
		mqb_metrics_emit(e, "mqbridge_kafka_api_group_generation", "Generation of a Kafka "
				 "group", "gauge", (double)g->generation, "group", g->name, NULL);
		mqb_metrics_emit(e, "mqbridge_kafka_api_group_rebalances_total", "Rebalances of "
				 "a Kafka group", "counter", (double)g->rebalances, "group", g->name,
				 NULL);
		mqb_metrics_emit(e, "mqbridge_kafka_api_group_commits_total", "OffsetCommit "
				 "requests saved for a Kafka group", "counter", (double)g->commits,
				 "group", g->name, NULL);
		mqb_metrics_emit(e, "mqbridge_kafka_api_group_expired_members_total", "Members "
				 "removed for missing their session timeout", "counter",
				 (double)g->expired, "group", g->name, NULL);
		mqb_metrics_emit(e, "mqbridge_kafka_api_group_lag", "Records after the committed "
				 "offsets of a Kafka group", "gauge", (double)group_lag(kg, g),
				 "group", g->name, NULL);
	}
	mqb_metrics_emit(e, "mqbridge_kafka_api_groups_refused_total", "Kafka groups refused "
			 "(kafka_api.max_groups reached)", "counter", (double)kg->refused_groups,
			 NULL);
	mqb_kgroups_unlock(kg);
}
