/*
 * kafka_api_group_req.c — the wire side of the group APIs: FindCoordinator,
 * JoinGroup, SyncGroup, Heartbeat, LeaveGroup, ListGroups, DescribeGroups (the
 * offsets APIs are in kafka_api_group_offsets.c). Each handler decodes the request,
 * calls the state machine (kafka_api_group.h) with the registry locked and writes the
 * answer. JoinGroup and a follower's SyncGroup park (KAPI_PARK) until the rebalance or
 * the leader's assignment completes them: the server re-runs them when the registry's
 * change count moved (mqb_kgroups_changes) or their wait is over.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "bridge/clock.h"
#include "connectors/kafka_api/kafka_api_group.h"
#include "connectors/kafka_api/kafka_api_group_codec.h"
#include "connectors/kafka_api/kafka_api_int.h"

#define KG_PARK_MS 60000             /* the server caps a park at 60 s */

static bool flexv(const mqb_kreq_hdr_t *h) { return h->flexible; }

/* Park a group call: re-run when the group registry changed, until answered. */
static mqb_kapi_verdict_t park(mqb_kapi_call_t *call)
{
	call->wait_ms = KG_PARK_MS;
	call->nwatch = KAPI_WATCH_MAX + 1;   /* "always re-run" */
	return KAPI_PARK;
}

static void note(mqb_kapi_call_t *call, int16_t e) { mqb_kapi_note_error(call, e); }

/* --- FindCoordinator (v0..v4) --------------------------------------------------------- */

static void coordinator(const mqb_kapi_ctx_t *ctx, mqb_kw_t *w, bool flex, int16_t v,
			int16_t err, const char *msg)
{
	if (v >= 1) {
		mqb_kw_i16(w, err);
		mqb_kgw_cstr(w, flex, err ? msg : NULL);
	} else
		mqb_kw_i16(w, err);
	mqb_kw_i32(w, err ? -1 : KAPI_NODE_ID);
	mqb_kgw_cstr(w, flex, err ? "" : ctx->adv_host);
	mqb_kw_i32(w, err ? -1 : ctx->adv_port);
}

static int16_t coordinator_error(const mqb_kapi_ctx_t *ctx, int8_t key_type, mqb_kstr_t key,
				 const char **msg)
{
	char name[256];

	if (key_type == 1) {
		*msg = "transactions are not supported";
		return KGERR_COORDINATOR_NOT_AVAILABLE;
	}
	if (key_type != 0) {
		*msg = "unknown key type";
		return KERR_INVALID_REQUEST;
	}
	if (!ctx->groups) {
		*msg = "consumer groups are not served";
		return KGERR_COORDINATOR_NOT_AVAILABLE;
	}
	if (!mqb_kg_cstr(key, name, sizeof name, false)) {
		*msg = "invalid group id";
		return KGERR_INVALID_GROUP_ID;
	}
	mqb_kgroups_lock(ctx->groups);
	int16_t e = kg_check_id(ctx->groups, name);
	mqb_kgroups_unlock(ctx->groups);
	*msg = e ? "invalid group id (allowed: [A-Za-z0-9._-]{1,200}, not a group of the "
		   "groups section)" : NULL;
	return e;
}

mqb_kapi_verdict_t mqb_kapi_find_coordinator(const mqb_kapi_ctx_t *ctx,
					     const mqb_kreq_hdr_t *h, mqb_kr_t *r,
					     mqb_kw_t *w, mqb_kapi_call_t *call)
{
	bool flex = flexv(h);
	int16_t v = h->api_version;
	const char *msg = NULL;

	if (v <= 3) {
		mqb_kstr_t key = mqb_kg_str(r, flex);
		int8_t kt = v >= 1 ? mqb_kr_i8(r) : 0;
		mqb_kg_tags(r, flex);
		if (r->err)
			return KAPI_CLOSE;
		int16_t e = coordinator_error(ctx, kt, key, &msg);
		note(call, e);
		if (v >= 1)
			mqb_kw_i32(w, 0);            /* throttle_time_ms */
		coordinator(ctx, w, flex, v, e, msg);
		mqb_kgw_tags(w, flex);
		return KAPI_RESPOND;
	}
	/* v4: batched keys */
	int8_t kt = mqb_kr_i8(r);
	int32_t n = mqb_kg_array(r, true, 1);

	mqb_kw_i32(w, 0);
	mqb_kgw_array(w, true, n < 0 ? 0 : n);
	for (int32_t i = 0; i < n && !r->err; i++) {
		mqb_kstr_t key = mqb_kr_compact_str(r);
		if (r->err)
			break;
		int16_t e = coordinator_error(ctx, kt, key, &msg);
		note(call, e);
		mqb_kgw_str(w, true, key.s ? key.s : "", key.s ? key.len : 0);
		mqb_kw_i32(w, e ? -1 : KAPI_NODE_ID);
		mqb_kgw_cstr(w, true, e ? "" : ctx->adv_host);
		mqb_kw_i32(w, e ? -1 : ctx->adv_port);
		mqb_kw_i16(w, e);
		mqb_kgw_cstr(w, true, e ? msg : NULL);
		mqb_kgw_tags(w, true);
	}
	mqb_kr_tags(r);
	mqb_kgw_tags(w, true);
	return r->err ? KAPI_CLOSE : KAPI_RESPOND;
}

/* --- JoinGroup (v0..v7) -------------------------------------------------------------------- */

#define KG_MAX_PROTOS 16

static void join_error(mqb_kw_t *w, bool flex, int16_t v, int16_t e, const char *member_id)
{
	if (v >= 2)
		mqb_kw_i32(w, 0);
	mqb_kw_i16(w, e);
	mqb_kw_i32(w, -1);                      /* generation_id */
	if (v >= 7)
		mqb_kgw_cstr(w, flex, NULL);     /* protocol_type */
	mqb_kgw_cstr(w, flex, v >= 7 ? NULL : "");  /* protocol_name */
	mqb_kgw_cstr(w, flex, "");              /* leader */
	mqb_kgw_cstr(w, flex, member_id ? member_id : "");
	mqb_kgw_array(w, flex, 0);
	mqb_kgw_tags(w, flex);
}

static void join_answer(mqb_kw_t *w, bool flex, int16_t v, kg_group_t *g, kg_member_t *m)
{
	bool leader = g->leader && !strcmp(g->leader, m->id);

	if (v >= 2)
		mqb_kw_i32(w, 0);
	mqb_kw_i16(w, 0);
	mqb_kw_i32(w, g->generation);
	if (v >= 7)
		mqb_kgw_cstr(w, flex, g->protocol_type);
	mqb_kgw_cstr(w, flex, g->protocol ? g->protocol : "");
	mqb_kgw_cstr(w, flex, g->leader ? g->leader : "");
	mqb_kgw_cstr(w, flex, m->id);
	mqb_kgw_array(w, flex, leader ? (int32_t)g->n : 0);
	for (size_t i = 0; leader && i < g->n; i++) {
		kg_member_t *o = g->members[i];
		const kg_proto_t *p = NULL;
		for (int k = 0; k < o->nprotos && !p; k++)
			if (g->protocol && !strcmp(o->protos[k].name, g->protocol))
				p = &o->protos[k];
		mqb_kgw_cstr(w, flex, o->id);
		if (v >= 5)
			mqb_kgw_cstr(w, flex, o->instance_id);
		mqb_kgw_bytes(w, flex, p ? p->meta : (const uint8_t *)"", p ? p->meta_len : 0);
		mqb_kgw_tags(w, flex);
	}
	mqb_kgw_tags(w, flex);
}

mqb_kapi_verdict_t mqb_kapi_join_group(const mqb_kapi_ctx_t *ctx, const mqb_kreq_hdr_t *h,
				       mqb_kr_t *r, mqb_kw_t *w, mqb_kapi_call_t *call)
{
	bool flex = flexv(h);
	int16_t v = h->api_version, e = 0;
	char group[256], member[256], inst[256], ptype[256], client[256], new_id[256] = "";
	char pnames[KG_MAX_PROTOS][256];
	kg_proto_t protos[KG_MAX_PROTOS];
	mqb_kstr_t gid, mid, iid = { NULL, -1 }, pt;
	int32_t session, rebalance, np;
	int nprotos = 0;
	bool ok;
	kg_group_t *g;
	kg_member_t *m;
	int64_t now = mqb_mono_ms();

	gid = mqb_kg_str(r, flex);
	session = mqb_kr_i32(r);
	rebalance = v >= 1 ? mqb_kr_i32(r) : session;
	mid = mqb_kg_str(r, flex);
	if (v >= 5)
		iid = mqb_kg_str(r, flex);
	pt = mqb_kg_str(r, flex);
	np = mqb_kg_array(r, flex, 2);
	ok = np >= 1 && np <= KG_MAX_PROTOS;
	for (int32_t i = 0; i < np && !r->err; i++) {
		mqb_kstr_t name = mqb_kg_str(r, flex), meta = mqb_kg_bytes(r, flex);
		mqb_kg_tags(r, flex);
		if (!ok || r->err)
			continue;
		if (!mqb_kg_cstr(name, pnames[nprotos], sizeof pnames[0], false)) {
			ok = false;
			continue;
		}
		protos[nprotos].name = pnames[nprotos];
		protos[nprotos].meta = (uint8_t *)(meta.s ? meta.s : "");
		protos[nprotos].meta_len = meta.s ? meta.len : 0;
		nprotos++;
	}
	mqb_kg_tags(r, flex);
	if (r->err)
		return KAPI_CLOSE;
	if (!ctx->groups) {
		e = KGERR_COORDINATOR_NOT_AVAILABLE;
		goto error;
	}
	if (!mqb_kg_cstr(gid, group, sizeof group, false)) {
		e = KGERR_INVALID_GROUP_ID;
		goto error;
	}
	if (!mqb_kg_cstr(mid, member, sizeof member, true)) {
		e = KGERR_UNKNOWN_MEMBER_ID;
		goto error;
	}
	if (iid.s && !mqb_kg_cstr(iid, inst, sizeof inst, false)) {
		e = KERR_INVALID_REQUEST;
		goto error;
	}
	if (!ok || !mqb_kg_cstr(pt, ptype, sizeof ptype, false)) {
		e = KGERR_INCONSISTENT_GROUP_PROTOCOL;
		goto error;
	}
	if (!mqb_kg_cstr(h->client_id, client, sizeof client, true))
		client[0] = '\0';

	mqb_kgroups_lock(ctx->groups);
	if (!call->gserial) {
		kg_join_req_t rq = {
			.member_id = member, .instance_id = iid.s ? inst : NULL,
			.client_id = client, .client_host = call->client_host,
			.session_ms = session, .rebalance_ms = rebalance, .protocol_type = ptype,
			.protos = protos, .nprotos = nprotos, .require_known_id = v >= 4,
		};
		e = kg_get(ctx->groups, group, true, &g);
		if (!e)
			e = kg_join(ctx->groups, g, &rq, now, &call->gserial, new_id);
		if (g)
			kg_gc(ctx->groups, g);
		if (e) {
			mqb_kgroups_unlock(ctx->groups);
			goto error;
		}
	}
	g = kg_find(ctx->groups, group);
	m = g ? kg_member_by_serial(g, call->gserial) : NULL;
	if (!m) {
		mqb_kgroups_unlock(ctx->groups);
		e = KGERR_UNKNOWN_MEMBER_ID;
		goto error;
	}
	if (!m->join_done) {
		if (call->final) {
			mqb_kgroups_unlock(ctx->groups);
			e = KGERR_REBALANCE_IN_PROGRESS;
			goto error;
		}
		mqb_kgroups_unlock(ctx->groups);
		return park(call);
	}
	m->join_done = false;
	join_answer(w, flex, v, g, m);
	mqb_kgroups_unlock(ctx->groups);
	return KAPI_RESPOND;
error:
	note(call, e);
	join_error(w, flex, v, e, e == KGERR_MEMBER_ID_REQUIRED ? new_id : member);
	return KAPI_RESPOND;
}

/* --- SyncGroup (v0..v5) -------------------------------------------------------------------- */

static void sync_answer(mqb_kw_t *w, bool flex, int16_t v, int16_t e, kg_group_t *g,
			const kg_member_t *m)
{
	if (v >= 1)
		mqb_kw_i32(w, 0);
	mqb_kw_i16(w, e);
	if (v >= 5) {
		mqb_kgw_cstr(w, flex, !e && g ? g->protocol_type : NULL);
		mqb_kgw_cstr(w, flex, !e && g ? g->protocol : NULL);
	}
	if (!e && m && m->assign)
		mqb_kgw_bytes(w, flex, m->assign, m->assign_len);
	else
		mqb_kgw_bytes(w, flex, "", 0);
	mqb_kgw_tags(w, flex);
}

mqb_kapi_verdict_t mqb_kapi_sync_group(const mqb_kapi_ctx_t *ctx, const mqb_kreq_hdr_t *h,
				       mqb_kr_t *r, mqb_kw_t *w, mqb_kapi_call_t *call)
{
	bool flex = flexv(h);
	int16_t v = h->api_version, e = 0;
	char group[256], member[256], inst[256], buf[256];
	mqb_kstr_t gid, mid, iid = { NULL, -1 }, pt = { NULL, -1 }, pn = { NULL, -1 };
	int32_t gen, na;
	const uint8_t *as_start;
	kg_group_t *g = NULL;
	kg_member_t *m = NULL;
	int64_t now = mqb_mono_ms();

	gid = mqb_kg_str(r, flex);
	gen = mqb_kr_i32(r);
	mid = mqb_kg_str(r, flex);
	if (v >= 3)
		iid = mqb_kg_str(r, flex);
	if (v >= 5) {
		pt = mqb_kg_str(r, flex);
		pn = mqb_kg_str(r, flex);
	}
	na = mqb_kg_array(r, flex, 4);
	as_start = r->p;
	for (int32_t i = 0; i < na && !r->err; i++) {
		(void)mqb_kg_str(r, flex);
		(void)mqb_kg_bytes(r, flex);
		mqb_kg_tags(r, flex);
	}
	mqb_kg_tags(r, flex);
	if (r->err)
		return KAPI_CLOSE;
	if (!ctx->groups) {
		e = KGERR_COORDINATOR_NOT_AVAILABLE;
		goto answer_nolock;
	}
	if (!mqb_kg_cstr(gid, group, sizeof group, false) ||
	    !mqb_kg_cstr(mid, member, sizeof member, false) ||
	    (iid.s && !mqb_kg_cstr(iid, inst, sizeof inst, false))) {
		e = KGERR_UNKNOWN_MEMBER_ID;
		goto answer_nolock;
	}
	mqb_kgroups_lock(ctx->groups);
	g = kg_find(ctx->groups, group);
	if (call->gserial) {             /* a parked follower */
		m = g ? kg_member_by_serial(g, call->gserial) : NULL;
		if (!m)
			e = KGERR_UNKNOWN_MEMBER_ID;
		else if (g->generation != call->ggen || g->state == KG_PREPARING)
			e = KGERR_REBALANCE_IN_PROGRESS;
		else if (g->state == KG_COMPLETING) {
			if (!call->final) {
				mqb_kgroups_unlock(ctx->groups);
				return park(call);
			}
			m->awaiting_sync = false;
			e = KGERR_REBALANCE_IN_PROGRESS;
		}
		goto answer;
	}
	e = kg_check_member(g, member, iid.s ? inst : NULL, gen, &m);
	if (e)
		goto answer;
	m->last_seen = now;
	if ((pt.s && (!mqb_kg_cstr(pt, buf, sizeof buf, false) || !g->protocol_type ||
		      strcmp(buf, g->protocol_type))) ||
	    (pn.s && (!mqb_kg_cstr(pn, buf, sizeof buf, false) || !g->protocol ||
		      strcmp(buf, g->protocol)))) {
		e = KGERR_INCONSISTENT_GROUP_PROTOCOL;
		goto answer;
	}
	if (g->state == KG_PREPARING) {
		e = KGERR_REBALANCE_IN_PROGRESS;
		goto answer;
	}
	if (g->state == KG_STABLE)
		goto answer;
	/* CompletingRebalance */
	if (g->leader && !strcmp(g->leader, m->id)) {
		mqb_kr_t ar;
		mqb_kr_init(&ar, as_start, (size_t)(r->end - as_start));
		for (int32_t i = 0; i < na && !e; i++) {
			mqb_kstr_t am = mqb_kg_str(&ar, flex), ab = mqb_kg_bytes(&ar, flex);
			mqb_kg_tags(&ar, flex);
			if (mqb_kg_cstr(am, buf, sizeof buf, false))
				e = kg_set_assignment(g, buf, (const uint8_t *)ab.s, ab.s ? ab.len : 0,
						      ctx->groups->o.max_member_bytes);
		}
		if (e) {
			/* an assignment we cannot keep: the group starts over */
			kg_prepare_rebalance(ctx->groups, g, now);
			goto answer;
		}
		kg_stabilize(ctx->groups, g, now);
		goto answer;
	}
	m->awaiting_sync = true;
	call->gserial = m->serial;
	call->ggen = g->generation;
	mqb_kgroups_unlock(ctx->groups);
	return park(call);
answer:
	if (m && !e)
		m->awaiting_sync = false;
	note(call, e);
	sync_answer(w, flex, v, e, g, m);
	mqb_kgroups_unlock(ctx->groups);
	return KAPI_RESPOND;
answer_nolock:
	note(call, e);
	sync_answer(w, flex, v, e, NULL, NULL);
	return KAPI_RESPOND;
}

/* --- Heartbeat (v0..v4) -------------------------------------------------------------------- */

mqb_kapi_verdict_t mqb_kapi_heartbeat(const mqb_kapi_ctx_t *ctx, const mqb_kreq_hdr_t *h,
				      mqb_kr_t *r, mqb_kw_t *w, mqb_kapi_call_t *call)
{
	bool flex = flexv(h);
	int16_t v = h->api_version, e;
	char group[256], member[256], inst[256];
	mqb_kstr_t gid, mid, iid = { NULL, -1 };
	int32_t gen;
	kg_member_t *m;

	gid = mqb_kg_str(r, flex);
	gen = mqb_kr_i32(r);
	mid = mqb_kg_str(r, flex);
	if (v >= 3)
		iid = mqb_kg_str(r, flex);
	mqb_kg_tags(r, flex);
	if (r->err)
		return KAPI_CLOSE;
	if (!ctx->groups)
		e = KGERR_COORDINATOR_NOT_AVAILABLE;
	else if (!mqb_kg_cstr(gid, group, sizeof group, false) ||
		 !mqb_kg_cstr(mid, member, sizeof member, false) ||
		 (iid.s && !mqb_kg_cstr(iid, inst, sizeof inst, false)))
		e = KGERR_UNKNOWN_MEMBER_ID;
	else {
		mqb_kgroups_lock(ctx->groups);
		kg_group_t *g = kg_find(ctx->groups, group);
		e = kg_check_member(g, member, iid.s ? inst : NULL, gen, &m);
		if (m)
			m->last_seen = mqb_mono_ms();
		if (m && g->state == KG_PREPARING)
			e = KGERR_REBALANCE_IN_PROGRESS;   /* rejoin */
		mqb_kgroups_unlock(ctx->groups);
	}
	note(call, e);
	if (v >= 1)
		mqb_kw_i32(w, 0);
	mqb_kw_i16(w, e);
	mqb_kgw_tags(w, flex);
	return KAPI_RESPOND;
}

/* --- LeaveGroup (v0..v4) -------------------------------------------------------------------- */

mqb_kapi_verdict_t mqb_kapi_leave_group(const mqb_kapi_ctx_t *ctx, const mqb_kreq_hdr_t *h,
					mqb_kr_t *r, mqb_kw_t *w, mqb_kapi_call_t *call)
{
	bool flex = flexv(h);
	int16_t v = h->api_version, e = 0;
	char group[256], member[256], inst[256];
	mqb_kstr_t gid;
	kg_group_t *g = NULL;
	int64_t now = mqb_mono_ms();
	const uint8_t *ms_start;
	int32_t n = 1;
	bool locked = false;

	gid = mqb_kg_str(r, flex);
	ms_start = r->p;
	if (v <= 2)
		(void)mqb_kg_str(r, flex);
	else {
		n = mqb_kg_array(r, flex, 2);
		for (int32_t i = 0; i < n && !r->err; i++) {
			(void)mqb_kg_str(r, flex);
			(void)mqb_kg_str(r, flex);
			mqb_kg_tags(r, flex);
		}
	}
	mqb_kg_tags(r, flex);
	if (r->err)
		return KAPI_CLOSE;
	if (!ctx->groups)
		e = KGERR_COORDINATOR_NOT_AVAILABLE;
	else if (!mqb_kg_cstr(gid, group, sizeof group, false))
		e = KGERR_INVALID_GROUP_ID;
	if (v >= 1)
		mqb_kw_i32(w, 0);
	if (!e) {
		locked = true;
		mqb_kgroups_lock(ctx->groups);
		g = kg_find(ctx->groups, group);
		if (!g)
			e = KGERR_UNKNOWN_MEMBER_ID;
	}
	if (v <= 2) {
		if (!e) {
			mqb_kr_t mr;
			mqb_kr_init(&mr, ms_start, (size_t)(r->end - ms_start));
			e = mqb_kg_cstr(mqb_kg_str(&mr, flex), member, sizeof member, false)
				? kg_leave(ctx->groups, g, member, NULL, now) : KGERR_UNKNOWN_MEMBER_ID;
		}
		mqb_kw_i16(w, e);
	} else {
		mqb_kr_t mr;

		mqb_kw_i16(w, e);
		mqb_kr_init(&mr, ms_start, (size_t)(r->end - ms_start));
		n = mqb_kg_array(&mr, flex, 2);
		mqb_kgw_array(w, flex, e ? 0 : n);
		for (int32_t i = 0; !e && i < n; i++) {
			mqb_kstr_t mid = mqb_kg_str(&mr, flex), iid = mqb_kg_str(&mr, flex);
			int16_t me;
			if (v >= 5)
				(void)mqb_kg_str(&mr, flex);  /* reason */
			mqb_kg_tags(&mr, flex);
			if (!mqb_kg_cstr(mid, member, sizeof member, true) ||
			    (iid.s && !mqb_kg_cstr(iid, inst, sizeof inst, false)))
				me = KGERR_UNKNOWN_MEMBER_ID;
			else
				me = kg_leave(ctx->groups, g, member, iid.s ? inst : NULL, now);
			note(call, me);
			mqb_kgw_str(w, flex, mid.s ? mid.s : "", mid.s ? mid.len : 0);
			mqb_kgw_str(w, flex, iid.s, iid.len);
			mqb_kw_i16(w, me);
			mqb_kgw_tags(w, flex);
		}
	}
	if (g)
		kg_gc(ctx->groups, g);
	if (locked)
		mqb_kgroups_unlock(ctx->groups);
	note(call, e);
	mqb_kgw_tags(w, flex);
	return KAPI_RESPOND;
}

/* --- ListGroups (v0..v4), DescribeGroups (v0..v5) ------------------------------------------ */

mqb_kapi_verdict_t mqb_kapi_list_groups(const mqb_kapi_ctx_t *ctx, const mqb_kreq_hdr_t *h,
					mqb_kr_t *r, mqb_kw_t *w, mqb_kapi_call_t *call)
{
	bool flex = flexv(h);
	int16_t v = h->api_version;
	char states[8][32];
	int nstates = 0;
	size_t count_at;
	int32_t count = 0;

	if (v >= 4) {
		int32_t n = mqb_kg_array(r, flex, 1);
		for (int32_t i = 0; i < n && !r->err; i++) {
			mqb_kstr_t s = mqb_kg_str(r, flex);
			if (nstates < 8 && mqb_kg_cstr(s, states[nstates], sizeof states[0], false))
				nstates++;
		}
	}
	mqb_kg_tags(r, flex);
	if (r->err)
		return KAPI_CLOSE;
	(void)call;
	if (v >= 1)
		mqb_kw_i32(w, 0);
	mqb_kw_i16(w, 0);
	if (!flex)
		count_at = mqb_kw_reserve32(w);
	else
		count_at = 0;
	if (flex) {
		/* compact arrays need the count first: count, then write */
		int32_t total = 0;
		if (ctx->groups) {
			mqb_kgroups_lock(ctx->groups);
			for (size_t i = 0; i < ctx->groups->n; i++) {
				bool pass = nstates == 0;
				for (int s = 0; s < nstates && !pass; s++)
					pass = !strcasecmp(states[s], kg_state_name(ctx->groups->groups[i]->state));
				total += pass;
			}
			mqb_kgroups_unlock(ctx->groups);
		}
		mqb_kgw_array(w, true, total);
		count = total;
	}
	if (ctx->groups) {
		int32_t written = 0;
		mqb_kgroups_lock(ctx->groups);
		for (size_t i = 0; i < ctx->groups->n && (!flex || written < count); i++) {
			kg_group_t *g = ctx->groups->groups[i];
			bool pass = nstates == 0;
			for (int s = 0; s < nstates && !pass; s++)
				pass = !strcasecmp(states[s], kg_state_name(g->state));
			if (!pass)
				continue;
			mqb_kgw_cstr(w, flex, g->name);
			mqb_kgw_cstr(w, flex, g->protocol_type ? g->protocol_type : "consumer");
			if (v >= 4)
				mqb_kgw_cstr(w, flex, kg_state_name(g->state));
			mqb_kgw_tags(w, flex);
			written++;
		}
		mqb_kgroups_unlock(ctx->groups);
		/* flexible: only the server thread adds or removes groups, so the
		 * count taken above still holds */
		if (!flex)
			count = written;
	}
	if (!flex)
		mqb_kw_patch_i32(w, count_at, count);
	mqb_kgw_tags(w, flex);
	return KAPI_RESPOND;
}

mqb_kapi_verdict_t mqb_kapi_describe_groups(const mqb_kapi_ctx_t *ctx,
					    const mqb_kreq_hdr_t *h, mqb_kr_t *r,
					    mqb_kw_t *w, mqb_kapi_call_t *call)
{
	bool flex = flexv(h);
	int16_t v = h->api_version;
	int32_t n = mqb_kg_array(r, flex, 1);
	const uint8_t *start = r->p;
	mqb_kr_t gr;

	for (int32_t i = 0; i < n && !r->err; i++)
		(void)mqb_kg_str(r, flex);
	if (v >= 3)
		(void)mqb_kr_i8(r);              /* include_authorized_operations */
	mqb_kg_tags(r, flex);
	if (r->err)
		return KAPI_CLOSE;
	if (v >= 1)
		mqb_kw_i32(w, 0);
	mqb_kgw_array(w, flex, n < 0 ? 0 : n);
	mqb_kr_init(&gr, start, (size_t)(r->end - start));
	if (ctx->groups)
		mqb_kgroups_lock(ctx->groups);
	for (int32_t i = 0; i < n; i++) {
		mqb_kstr_t gid = mqb_kg_str(&gr, flex);
		char name[256];
		kg_group_t *g = NULL;
		int16_t e = 0;

		if (!ctx->groups)
			e = KGERR_COORDINATOR_NOT_AVAILABLE;
		else if (!mqb_kg_cstr(gid, name, sizeof name, false) || kg_check_id(ctx->groups, name))
			e = KGERR_INVALID_GROUP_ID;
		else
			g = kg_find(ctx->groups, name);
		note(call, e);
		mqb_kw_i16(w, e);
		mqb_kgw_str(w, flex, gid.s ? gid.s : "", gid.s ? gid.len : 0);
		/* an unknown group is "Dead" with no members, as Kafka answers */
		mqb_kgw_cstr(w, flex, g ? kg_state_name(g->state) : "Dead");
		mqb_kgw_cstr(w, flex, g && g->protocol_type ? g->protocol_type : "");
		mqb_kgw_cstr(w, flex, g && g->protocol ? g->protocol : "");
		mqb_kgw_array(w, flex, g ? (int32_t)g->n : 0);
		for (size_t k = 0; g && k < g->n; k++) {
			kg_member_t *m = g->members[k];
			const kg_proto_t *p = NULL;
			for (int j = 0; j < m->nprotos && !p; j++)
				if (g->protocol && !strcmp(m->protos[j].name, g->protocol))
					p = &m->protos[j];
			mqb_kgw_cstr(w, flex, m->id);
			if (v >= 4)
				mqb_kgw_cstr(w, flex, m->instance_id);
			mqb_kgw_cstr(w, flex, m->client_id);
			mqb_kgw_cstr(w, flex, m->client_host);
			mqb_kgw_bytes(w, flex, p ? p->meta : (const uint8_t *)"", p ? p->meta_len : 0);
			mqb_kgw_bytes(w, flex, m->assign ? m->assign : (const uint8_t *)"",
				      m->assign ? m->assign_len : 0);
			mqb_kgw_tags(w, flex);
		}
		if (v >= 3)
			mqb_kw_i32(w, INT32_MIN);    /* authorized_operations: not asked */
		mqb_kgw_tags(w, flex);
	}
	if (ctx->groups)
		mqb_kgroups_unlock(ctx->groups);
	mqb_kgw_tags(w, flex);
	return KAPI_RESPOND;
}
