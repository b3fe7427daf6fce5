/*
 * kafka_api_group.c — the classic group state machine: members joining, the rebalance
 * (generation, leader, protocol), sync, leave, session expiry (kafka_api_group.h).
 */
#include "connectors/kafka_api/kafka_api_group.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/groups/offsets.h"
#include "bridge/logging.h"

#define KG_LOG "kafka_api"

const char *kg_state_name(kg_state_t s)
{
	switch (s) {
	case KG_EMPTY: return "Empty";
	case KG_PREPARING: return "PreparingRebalance";
	case KG_COMPLETING: return "CompletingRebalance";
	case KG_STABLE: return "Stable";
	}
	return "Unknown";
}

/* --- members ---------------------------------------------------------------------------- */

static void protos_free(kg_proto_t *p, int n)
{
	for (int i = 0; i < n; i++) {
		free(p[i].name);
		free(p[i].meta);
	}
	free(p);
}

static void member_free(kg_member_t *m)
{
	if (!m)
		return;
	free(m->id);
	free(m->instance_id);
	free(m->client_id);
	protos_free(m->protos, m->nprotos);
	free(m->assign);
	free(m);
}

static kg_proto_t *protos_copy(const kg_proto_t *src, int n)
{
	kg_proto_t *p = calloc((size_t)(n ? n : 1), sizeof *p);

	for (int i = 0; p && i < n; i++) {
		p[i].name = strdup(src[i].name);
		p[i].meta_len = src[i].meta_len < 0 ? 0 : src[i].meta_len;
		p[i].meta = malloc((size_t)p[i].meta_len + 1);
		if (!p[i].name || !p[i].meta) {
			protos_free(p, i + 1);
			return NULL;
		}
		if (p[i].meta_len)
			memcpy(p[i].meta, src[i].meta, (size_t)p[i].meta_len);
	}
	return p;
}

static bool protos_equal(const kg_member_t *m, const kg_join_req_t *rq)
{
	if (m->nprotos != rq->nprotos)
		return false;
	for (int i = 0; i < m->nprotos; i++)
		if (strcmp(m->protos[i].name, rq->protos[i].name) ||
		    m->protos[i].meta_len != rq->protos[i].meta_len ||
		    (m->protos[i].meta_len &&
		     memcmp(m->protos[i].meta, rq->protos[i].meta, (size_t)m->protos[i].meta_len)))
			return false;
	return true;
}

static bool member_supports(const kg_member_t *m, const char *proto)
{
	for (int i = 0; i < m->nprotos; i++)
		if (!strcmp(m->protos[i].name, proto))
			return true;
	return false;
}

kg_member_t *kg_member(kg_group_t *g, const char *id)
{
	for (size_t i = 0; id && i < g->n; i++)
		if (!strcmp(g->members[i]->id, id))
			return g->members[i];
	return NULL;
}

kg_member_t *kg_member_by_serial(kg_group_t *g, uint64_t serial)
{
	for (size_t i = 0; i < g->n; i++)
		if (g->members[i]->serial == serial)
			return g->members[i];
	return NULL;
}

static kg_member_t *member_by_instance(kg_group_t *g, const char *inst)
{
	for (size_t i = 0; inst && i < g->n; i++)
		if (g->members[i]->instance_id && !strcmp(g->members[i]->instance_id, inst))
			return g->members[i];
	return NULL;
}

static void member_remove(kg_group_t *g, kg_member_t *m)
{
	for (size_t i = 0; i < g->n; i++)
		if (g->members[i] == m) {
			memmove(&g->members[i], &g->members[i + 1], (g->n - i - 1) * sizeof *g->members);
			g->n--;
			break;
		}
	if (g->leader && !strcmp(g->leader, m->id)) {
		free(g->leader);
		g->leader = NULL;
	}
	member_free(m);
}

/* "<client id>-<16 hex digits>", as Kafka's "<client id>-<uuid>". */
static void new_member_id(mqb_kgroups_t *kg, const char *client_id, char *out)
{
	char cid[65];
	size_t j = 0;
	struct timespec ts;
	uint64_t x;

	for (size_t i = 0; client_id && client_id[i] && j < sizeof cid - 1; i++) {
		char c = client_id[i];
		cid[j++] = (c > ' ' && c < 127) ? c : '_';
	}
	cid[j] = '\0';
	clock_gettime(CLOCK_REALTIME, &ts);
	x = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (++kg->next_serial * 0x9e3779b97f4a7c15ULL);
	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 29;
	snprintf(out, 256, "%s-%016" PRIx64, j ? cid : "member", x);
}

static int member_add(mqb_kgroups_t *kg, kg_group_t *g, const char *id,
		      const kg_join_req_t *rq, kg_member_t **out)
{
	kg_member_t *m;

	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 4;
		kg_member_t **nm = realloc(g->members, cap * sizeof *nm);
		if (!nm)
			return MQB_ERR_NOMEM;
		g->members = nm;
		g->cap = cap;
	}
	m = calloc(1, sizeof *m);
	if (!m)
		return MQB_ERR_NOMEM;
	m->id = strdup(id);
	m->client_id = strdup(rq->client_id ? rq->client_id : "");
	m->instance_id = rq->instance_id ? strdup(rq->instance_id) : NULL;
	m->protos = protos_copy(rq->protos, rq->nprotos);
	if (!m->id || !m->client_id || (rq->instance_id && !m->instance_id) || !m->protos) {
		member_free(m);
		return MQB_ERR_NOMEM;
	}
	m->nprotos = rq->nprotos;
	snprintf(m->client_host, sizeof m->client_host, "%s",
		 rq->client_host ? rq->client_host : "");
	m->serial = ++kg->next_serial;
	g->members[g->n++] = m;
	*out = m;
	return MQB_OK;
}

static int member_update(kg_member_t *m, const kg_join_req_t *rq)
{
	kg_proto_t *p = protos_copy(rq->protos, rq->nprotos);

	if (!p)
		return MQB_ERR_NOMEM;
	protos_free(m->protos, m->nprotos);
	m->protos = p;
	m->nprotos = rq->nprotos;
	m->session_ms = rq->session_ms;
	m->rebalance_ms = rq->rebalance_ms;
	return MQB_OK;
}

/* --- pending member ids (JoinGroup v4+) -------------------------------------------- */

static int pending_find(kg_group_t *g, const char *id)
{
	for (size_t i = 0; i < g->npending; i++)
		if (!strcmp(g->pending[i].id, id))
			return (int)i;
	return -1;
}

static void pending_drop(kg_group_t *g, size_t i)
{
	free(g->pending[i].id);
	g->pending[i] = g->pending[--g->npending];
}

/* --- rebalance ------------------------------------------------------------------------ */

void kg_prepare_rebalance(mqb_kgroups_t *kg, kg_group_t *g, int64_t now)
{
	int32_t rt = 0;

	if (g->state == KG_PREPARING)
		return;
	for (size_t i = 0; i < g->n; i++) {
		kg_member_t *m = g->members[i];
		if (m->rebalance_ms > rt)
			rt = m->rebalance_ms;
		m->join_done = false;
		m->awaiting_sync = false;
		free(m->assign);
		m->assign = NULL;
		m->assign_len = 0;
	}
	g->join_not_before = g->state == KG_EMPTY ? now + kg->o.initial_rebalance_delay_ms : 0;
	g->state = KG_PREPARING;
	kg->changes++;
	g->rebalance_deadline = now + (rt > 0 ? rt : 60000);
	g->rebalances++;
}

/* The protocol every member supports that most members prefer (Kafka's vote). */
static const char *select_protocol(kg_group_t *g)
{
	const char *best = NULL;
	size_t best_votes = 0;
	kg_member_t *first = g->members[0];

	for (int c = 0; c < first->nprotos; c++) {
		const char *cand = first->protos[c].name;
		size_t votes = 0;
		bool all = true;

		for (size_t i = 0; i < g->n && all; i++)
			all = member_supports(g->members[i], cand);
		if (!all)
			continue;
		for (size_t i = 0; i < g->n; i++) {
			kg_member_t *m = g->members[i];
			/* m's most preferred protocol that everyone supports */
			for (int k = 0; k < m->nprotos; k++) {
				bool ok = true;
				for (size_t j = 0; j < g->n && ok; j++)
					ok = member_supports(g->members[j], m->protos[k].name);
				if (ok) {
					votes += !strcmp(m->protos[k].name, cand);
					break;
				}
			}
		}
		if (!best || votes > best_votes) {
			best = cand;
			best_votes = votes;
		}
	}
	return best;
}

void kg_gc(mqb_kgroups_t *kg, kg_group_t *g)
{
	if (g->n || g->npending || g->offs.n || g->failed)
		return;
	for (size_t i = 0; i < kg->n; i++)
		if (kg->groups[i] == g) {
			kg->groups[i] = kg->groups[--kg->n];
			break;
		}
	free(g->protocol_type);
	free(g->protocol);
	free(g->leader);
	free(g->members);
	free(g->pending);
	mqb_client_offsets_free(&g->offs);
	free(g);
}

void kg_maybe_complete(mqb_kgroups_t *kg, kg_group_t *g, int64_t now)
{
	bool all = true;
	const char *proto;

	if (g->state != KG_PREPARING)
		return;
	for (size_t i = 0; i < g->n && all; i++)
		all = g->members[i]->awaiting_join;
	if (now < g->rebalance_deadline && (!all || now < g->join_not_before))
		return;
	/* members that did not rejoin in time leave the group */
	for (size_t i = g->n; i-- > 0;)
		if (!g->members[i]->awaiting_join) {
			mqb_info(KG_LOG, "group %s: member %s did not rejoin within the rebalance "
				 "timeout; removed", g->name, g->members[i]->id);
			member_remove(g, g->members[i]);
		}
	g->generation++;
	kg->changes++;
	free(g->protocol);
	g->protocol = NULL;
	if (g->n == 0) {
		g->state = KG_EMPTY;
		free(g->leader);
		g->leader = NULL;
		free(g->protocol_type);
		g->protocol_type = NULL;
		return;
	}
	proto = select_protocol(g);
	g->protocol = strdup(proto ? proto : "");
	if (!g->leader || !kg_member(g, g->leader)) {
		free(g->leader);
		g->leader = strdup(g->members[0]->id);
	}
	g->state = KG_COMPLETING;
	for (size_t i = 0; i < g->n; i++) {
		g->members[i]->awaiting_join = false;
		g->members[i]->join_done = true;
		g->members[i]->last_seen = now;
	}
	mqb_info(KG_LOG, "group %s: generation %d with %zu member(s), protocol %s, leader %s",
		 g->name, (int)g->generation, g->n, g->protocol ? g->protocol : "?",
		 g->leader ? g->leader : "?");
}

void kg_stabilize(mqb_kgroups_t *kg, kg_group_t *g, int64_t now)
{
	kg->changes++;
	g->state = KG_STABLE;
	for (size_t i = 0; i < g->n; i++) {
		g->members[i]->awaiting_sync = false;
		g->members[i]->last_seen = now;
	}
}

/* --- requests ---------------------------------------------------------------------------- */

/* Whether rq's protocols fit the group's (same type, one protocol in common with all). */
static bool join_consistent(kg_group_t *g, const kg_join_req_t *rq, const kg_member_t *self)
{
	if (rq->nprotos < 1 || !rq->protocol_type[0])
		return false;
	if (g->n == 0 || (g->n == 1 && self))
		return true;
	if (g->protocol_type && strcmp(g->protocol_type, rq->protocol_type))
		return false;
	for (int k = 0; k < rq->nprotos; k++) {
		bool all = true;
		for (size_t i = 0; i < g->n && all; i++)
			if (g->members[i] != self)
				all = member_supports(g->members[i], rq->protos[k].name);
		if (all)
			return true;
	}
	return false;
}

int16_t kg_join(mqb_kgroups_t *kg, kg_group_t *g, const kg_join_req_t *rq, int64_t now,
		uint64_t *serial, char *new_id)
{
	kg_member_t *m = NULL;
	char id[256];
	int pi;

	if (rq->session_ms < kg->o.min_session_ms || rq->session_ms > kg->o.max_session_ms)
		return KGERR_INVALID_SESSION_TIMEOUT;
	for (int k = 0; k < rq->nprotos; k++)
		if (rq->protos[k].meta_len > kg->o.max_member_bytes)
			return KGERR_INCONSISTENT_GROUP_PROTOCOL;

	if (rq->member_id[0]) {
		m = kg_member(g, rq->member_id);
		pi = m ? -1 : pending_find(g, rq->member_id);
		if (!m && pi < 0) {
			if (rq->instance_id && member_by_instance(g, rq->instance_id))
				return KGERR_FENCED_INSTANCE_ID;
			return KGERR_UNKNOWN_MEMBER_ID;
		}
		if (m && rq->instance_id && (!m->instance_id || strcmp(m->instance_id, rq->instance_id)))
			return KGERR_FENCED_INSTANCE_ID;
		if (!join_consistent(g, rq, m))
			return KGERR_INCONSISTENT_GROUP_PROTOCOL;
		if (!m) {
			if (g->n >= (size_t)kg->o.max_members)
				return KGERR_GROUP_MAX_SIZE_REACHED;
			snprintf(id, sizeof id, "%s", rq->member_id);
			pending_drop(g, (size_t)pi);
			goto add;
		}
	} else if (rq->instance_id && (m = member_by_instance(g, rq->instance_id))) {
		/* a static member restarted: it takes its old place under a new id */
		if (!join_consistent(g, rq, m))
			return KGERR_INCONSISTENT_GROUP_PROTOCOL;
		new_member_id(kg, rq->client_id, id);
		char *nid = strdup(id);
		if (!nid)
			return KGERR_COORDINATOR_NOT_AVAILABLE;
		if (g->leader && !strcmp(g->leader, m->id)) {
			free(g->leader);
			g->leader = strdup(nid);
		}
		free(m->id);
		m->id = nid;
	} else {
		if (!join_consistent(g, rq, NULL))
			return KGERR_INCONSISTENT_GROUP_PROTOCOL;
		if (g->n + g->npending >= (size_t)kg->o.max_members)
			return KGERR_GROUP_MAX_SIZE_REACHED;
		new_member_id(kg, rq->client_id, id);
		if (rq->require_known_id && !rq->instance_id) {
			kg_pending_t *np = realloc(g->pending, (g->npending + 1) * sizeof *np);
			if (!np)
				return KGERR_COORDINATOR_NOT_AVAILABLE;
			g->pending = np;
			np[g->npending].id = strdup(id);
			if (!np[g->npending].id)
				return KGERR_COORDINATOR_NOT_AVAILABLE;
			np[g->npending].expires = now + rq->session_ms;
			g->npending++;
			snprintf(new_id, 256, "%s", id);
			return KGERR_MEMBER_ID_REQUIRED;
		}
		goto add;
	}

	/* a known member (re)joins */
	m->last_seen = now;
	m->client_host[0] = '\0';
	snprintf(m->client_host, sizeof m->client_host, "%s", rq->client_host ? rq->client_host : "");
	if (g->state == KG_PREPARING) {
		if (member_update(m, rq) != MQB_OK)
			return KGERR_COORDINATOR_NOT_AVAILABLE;
		m->awaiting_join = true;
	} else if (protos_equal(m, rq) && !(g->state == KG_STABLE && g->leader &&
					    !strcmp(g->leader, m->id))) {
		/* nothing changed: the current generation is its answer */
		m->session_ms = rq->session_ms;
		m->rebalance_ms = rq->rebalance_ms;
		m->join_done = true;
	} else {
		if (member_update(m, rq) != MQB_OK)
			return KGERR_COORDINATOR_NOT_AVAILABLE;
		kg_prepare_rebalance(kg, g, now);
		m->awaiting_join = true;
	}
	*serial = m->serial;
	kg_maybe_complete(kg, g, now);
	return 0;

add:
	if (member_add(kg, g, id, rq, &m) != MQB_OK)
		return KGERR_COORDINATOR_NOT_AVAILABLE;
	m->session_ms = rq->session_ms;
	m->rebalance_ms = rq->rebalance_ms;
	m->last_seen = now;
	if (!g->protocol_type)
		g->protocol_type = strdup(rq->protocol_type);
	kg_prepare_rebalance(kg, g, now);
	m->awaiting_join = true;
	*serial = m->serial;
	kg_maybe_complete(kg, g, now);
	return 0;
}

int16_t kg_leave(mqb_kgroups_t *kg, kg_group_t *g, const char *member_id,
		 const char *instance_id, int64_t now)
{
	kg_member_t *m = member_id && member_id[0] ? kg_member(g, member_id) : NULL;

	if (!m && instance_id)
		m = member_by_instance(g, instance_id);
	if (!m)
		return KGERR_UNKNOWN_MEMBER_ID;
	if (instance_id && (!m->instance_id || strcmp(m->instance_id, instance_id)))
		return KGERR_FENCED_INSTANCE_ID;
	mqb_info(KG_LOG, "group %s: member %s left", g->name, m->id);
	member_remove(g, m);
	kg->changes++;
	if (g->state == KG_PREPARING)
		kg_maybe_complete(kg, g, now);
	else if (g->state != KG_EMPTY)
		kg_prepare_rebalance(kg, g, now);
	kg_maybe_complete(kg, g, now);
	return 0;
}

int16_t kg_set_assignment(kg_group_t *g, const char *member_id, const uint8_t *a,
			  int32_t len, int32_t max_bytes)
{
	kg_member_t *m = kg_member(g, member_id);
	uint8_t *copy;

	if (!m)
		return 0;                    /* Kafka ignores assignments for non-members */
	if (len > max_bytes)
		return KGERR_INCONSISTENT_GROUP_PROTOCOL;
	copy = malloc(len > 0 ? (size_t)len : 1);
	if (!copy)
		return KGERR_COORDINATOR_NOT_AVAILABLE;
	if (len > 0)
		memcpy(copy, a, (size_t)len);
	free(m->assign);
	m->assign = copy;
	m->assign_len = len > 0 ? len : 0;
	return 0;
}

int16_t kg_check_member(kg_group_t *g, const char *member_id, const char *instance_id,
			int32_t generation, kg_member_t **out)
{
	kg_member_t *m = g ? kg_member(g, member_id) : NULL;

	*out = m;
	if (!m) {
		if (g && instance_id && member_by_instance(g, instance_id))
			return KGERR_FENCED_INSTANCE_ID;
		return KGERR_UNKNOWN_MEMBER_ID;
	}
	if (instance_id && (!m->instance_id || strcmp(m->instance_id, instance_id)))
		return KGERR_FENCED_INSTANCE_ID;
	if (generation != g->generation)
		return KGERR_ILLEGAL_GENERATION;
	return 0;
}

/* --- registry ---------------------------------------------------------------------------- */

kg_group_t *kg_find(mqb_kgroups_t *kg, const char *name)
{
	for (size_t i = 0; i < kg->n; i++)
		if (!strcmp(kg->groups[i]->name, name))
			return kg->groups[i];
	return NULL;
}

int16_t kg_check_id(mqb_kgroups_t *kg, const char *name)
{
	if (!mqb_group_name_valid(name))
		return KGERR_INVALID_GROUP_ID;
	for (size_t i = 0; kg->o.cfg && i < kg->o.cfg->groups_count; i++)
		if (!strcmp(kg->o.cfg->groups[i].name, name)) {
			MQB_LOG_RATELIMITED(MQB_LOG_NOTICE, KG_LOG, 5000, "refusing Kafka group id "
					    "%s: it names a group of the groups section (served by "
					    "mqbridge's coordinator); Kafka clients need another id",
					    name);
			return KGERR_INVALID_GROUP_ID;
		}
	return 0;
}

static kg_group_t *group_new(mqb_kgroups_t *kg, const char *name)
{
	kg_group_t *g;

	if (kg->n == kg->cap) {
		size_t cap = kg->cap ? kg->cap * 2 : 8;
		kg_group_t **ng = realloc(kg->groups, cap * sizeof *ng);
		if (!ng)
			return NULL;
		kg->groups = ng;
		kg->cap = cap;
	}
	g = calloc(1, sizeof *g);
	if (!g)
		return NULL;
	snprintf(g->name, sizeof g->name, "%s", name);
	kg->groups[kg->n++] = g;
	return g;
}

int16_t kg_get(mqb_kgroups_t *kg, const char *name, bool create, kg_group_t **out)
{
	int16_t e = kg_check_id(kg, name);
	kg_group_t *g;

	*out = NULL;
	if (e)
		return e;
	g = kg_find(kg, name);
	if (!g && create) {
		if (kg->n >= (size_t)kg->o.max_groups) {
			kg->refused_groups++;
			MQB_LOG_RATELIMITED(MQB_LOG_WARN, KG_LOG, 5000, "refusing Kafka group %s: "
					    "%zu groups exist (kafka_api.max_groups)", name, kg->n);
			return KGERR_GROUP_AUTHORIZATION_FAILED;
		}
		g = group_new(kg, name);
		if (!g)
			return KGERR_COORDINATOR_NOT_AVAILABLE;
	}
	if (g && g->failed)
		return KGERR_COORDINATOR_NOT_AVAILABLE;
	*out = g;
	return 0;
}

int kg_save_offsets(mqb_kgroups_t *kg, kg_group_t *g)
{
	char err[512] = "";
	int rc;

	if (!kg->o.data_dir)
		return MQB_OK;
	rc = mqb_client_offsets_save(kg->o.data_dir, "kafka", g->name, &g->offs, err, sizeof err);
	if (rc != MQB_OK)
		MQB_LOG_RATELIMITED(MQB_LOG_ERROR, KG_LOG, 5000, "group %s: saving committed "
				    "offsets failed: %s", g->name, err);
	return rc;
}

static int load_one(void *arg, const char *name)
{
	mqb_kgroups_t *kg = arg;
	kg_group_t *g;
	char err[600] = "";
	int rc;

	if (kg_check_id(kg, name) != 0 || kg_find(kg, name))
		return MQB_OK;
	g = group_new(kg, name);
	if (!g)
		return MQB_ERR_NOMEM;
	rc = mqb_client_offsets_load(kg->o.data_dir, "kafka", name, &g->offs, err, sizeof err);
	if (rc == MQB_OK) {
		mqb_info(KG_LOG, "group %s: %zu committed offset(s) loaded", name, g->offs.n);
	} else if (rc != MQB_ERR_NOTFOUND) {
		g->failed = true;
		snprintf(g->failed_why, sizeof g->failed_why, "committed offsets unreadable (%s); "
			 "the group is refused until the file is moved away or reset", err);
		mqb_error(KG_LOG, "group %s: %s", name, g->failed_why);
	}
	return MQB_OK;
}

mqb_kgroups_t *mqb_kgroups_new(const mqb_kgroups_opts_t *o)
{
	mqb_kgroups_t *kg = calloc(1, sizeof *kg);

	if (!kg)
		return NULL;
	kg->o = *o;
	pthread_mutex_init(&kg->mu, NULL);
	if (kg->o.data_dir && mqb_client_offsets_each(kg->o.data_dir, "kafka", load_one, kg)
	    != MQB_OK)
		mqb_error(KG_LOG, "cannot read %s/__groups/kafka: committed offsets not loaded",
			  kg->o.data_dir);
	return kg;
}

void mqb_kgroups_destroy(mqb_kgroups_t *kg)
{
	if (!kg)
		return;
	for (size_t i = 0; i < kg->n; i++) {
		kg_group_t *g = kg->groups[i];
		while (g->n)
			member_remove(g, g->members[g->n - 1]);
		while (g->npending)
			pending_drop(g, g->npending - 1);
		g->failed = false;
		mqb_client_offsets_free(&g->offs);
		free(g->protocol_type);
		free(g->protocol);
		free(g->leader);
		free(g->members);
		free(g->pending);
		free(g);
	}
	free(kg->groups);
	pthread_mutex_destroy(&kg->mu);
	free(kg);
}

void mqb_kgroups_tick(mqb_kgroups_t *kg, int64_t now)
{
	mqb_kgroups_lock(kg);
	for (size_t gi = kg->n; gi-- > 0;) {
		kg_group_t *g = kg->groups[gi];
		bool lost = false;

		for (size_t i = g->npending; i-- > 0;)
			if (now >= g->pending[i].expires)
				pending_drop(g, i);
		for (size_t i = g->n; i-- > 0;) {
			kg_member_t *m = g->members[i];
			if (m->awaiting_join || m->awaiting_sync || now - m->last_seen <= m->session_ms)
				continue;
			mqb_info(KG_LOG, "group %s: member %s sent nothing for its session timeout "
				 "(%d ms); removed", g->name, m->id, (int)m->session_ms);
			member_remove(g, m);
			g->expired++;
			kg->changes++;
			lost = true;
		}
		if (lost && g->state != KG_PREPARING)
			kg_prepare_rebalance(kg, g, now);
		kg_maybe_complete(kg, g, now);
		kg_gc(kg, g);
	}
	mqb_kgroups_unlock(kg);
}

/* The earliest moment g's state can change without a request. */
static int64_t group_deadline(const kg_group_t *g)
{
	int64_t d = INT64_MAX;
	bool all = true;

	for (size_t i = 0; i < g->npending; i++)
		if (g->pending[i].expires < d)
			d = g->pending[i].expires;
	for (size_t i = 0; i < g->n; i++) {
		const kg_member_t *m = g->members[i];
		all = all && m->awaiting_join;
		/* the tick removes a member once now - last_seen > session_ms */
		if (!m->awaiting_join && !m->awaiting_sync && m->last_seen + m->session_ms + 1 < d)
			d = m->last_seen + m->session_ms + 1;
	}
	if (g->state == KG_PREPARING) {
		if (g->rebalance_deadline < d)
			d = g->rebalance_deadline;
		if (all && g->join_not_before < d)
			d = g->join_not_before;
	}
	return d;
}

int64_t mqb_kgroups_next_deadline(mqb_kgroups_t *kg)
{
	int64_t d = INT64_MAX;

	mqb_kgroups_lock(kg);
	for (size_t i = 0; i < kg->n; i++) {
		int64_t gd = group_deadline(kg->groups[i]);
		if (gd < d)
			d = gd;
	}
	mqb_kgroups_unlock(kg);
	return d;
}

uint64_t mqb_kgroups_changes(mqb_kgroups_t *kg)
{
	uint64_t c;

	mqb_kgroups_lock(kg);
	c = kg->changes;
	mqb_kgroups_unlock(kg);
	return c;
}
