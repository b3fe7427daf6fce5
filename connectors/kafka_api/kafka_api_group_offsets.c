/*
 * kafka_api_group_offsets.c — OffsetCommit (v0..v8) and OffsetFetch (v0..v7) for the
 * Kafka groups (kafka_api_group.h). A commit is validated (member and generation, or
 * an empty group for a "simple" commit with generation -1), applied to a copy of the
 * group's offsets, saved crash-safe, and only then applied and answered: a commit
 * answered without error survives kill -9.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "connectors/kafka_api/kafka_api_group.h"
#include "connectors/kafka_api/kafka_api_group_codec.h"
#include "connectors/kafka_api/kafka_api_int.h"

static int64_t wall_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static int16_t commit_group_error(const mqb_kapi_ctx_t *ctx, const char *group,
				  const char *member, const char *inst, int32_t gen,
				  kg_group_t **out)
{
	kg_group_t *g;
	kg_member_t *m;
	int16_t e;

	*out = NULL;
	if (gen < 0 && !member[0]) {
		/* a commit from outside the group protocol: only into an empty group */
		e = kg_get(ctx->groups, group, true, &g);
		if (e)
			return e;
		*out = g;
		return g->n ? KGERR_UNKNOWN_MEMBER_ID : 0;
	}
	e = kg_get(ctx->groups, group, false, &g);
	if (e)
		return e;
	*out = g;
	if (!g)
		return KGERR_UNKNOWN_MEMBER_ID;
	e = kg_check_member(g, member, inst, gen, &m);
	if (e)
		return e;
	m->last_seen = mqb_mono_ms();
	if (g->state == KG_COMPLETING)
		return KGERR_REBALANCE_IN_PROGRESS;
	return 0;
}

mqb_kapi_verdict_t mqb_kapi_offset_commit(const mqb_kapi_ctx_t *ctx,
					  const mqb_kreq_hdr_t *h, mqb_kr_t *r,
					  mqb_kw_t *w, mqb_kapi_call_t *call)
{
	bool flex = h->flexible;
	int16_t v = h->api_version, ge = 0;
	char group[256], member[256] = "", inst[256], topic[256];
	mqb_kstr_t gid, mid = { "", 0 }, iid = { NULL, -1 };
	int32_t gen = -1, nt;
	const uint8_t *topics_at;
	kg_group_t *g = NULL;
	mqb_client_offsets_t next = { 0 };
	bool locked = false, changed = false;
	int64_t now_wall = wall_ms();

	gid = mqb_kg_str(r, flex);
	if (v >= 1) {
		gen = mqb_kr_i32(r);
		mid = mqb_kg_str(r, flex);
	}
	if (v >= 2 && v <= 4)
		(void)mqb_kr_i64(r);             /* retention_time_ms: offsets are kept */
	if (v >= 7)
		iid = mqb_kg_str(r, flex);
	/* first pass: check the frame */
	topics_at = r->p;
	nt = mqb_kg_array(r, flex, 2);
	for (int32_t t = 0; t < nt && !r->err; t++) {
		(void)mqb_kg_str(r, flex);
		int32_t np = mqb_kg_array(r, flex, 12);
		for (int32_t p = 0; p < np && !r->err; p++) {
			(void)mqb_kr_i32(r);
			(void)mqb_kr_i64(r);
			if (v >= 6)
				(void)mqb_kr_i32(r);
			if (v == 1)
				(void)mqb_kr_i64(r);
			(void)mqb_kg_str(r, flex);
			mqb_kg_tags(r, flex);
		}
		mqb_kg_tags(r, flex);
	}
	mqb_kg_tags(r, flex);
	if (r->err)
		return KAPI_CLOSE;

	if (!ctx->groups)
		ge = KGERR_COORDINATOR_NOT_AVAILABLE;
	else if (!mqb_kg_cstr(gid, group, sizeof group, false))
		ge = KGERR_INVALID_GROUP_ID;
	else if (!mqb_kg_cstr(mid, member, sizeof member, true) ||
		 (iid.s && !mqb_kg_cstr(iid, inst, sizeof inst, false)))
		ge = KGERR_UNKNOWN_MEMBER_ID;
	else {
		mqb_kgroups_lock(ctx->groups);
		locked = true;
		ge = commit_group_error(ctx, group, member, iid.s ? inst : NULL, gen, &g);
		if (!ge) {
			/* work on a copy: the group's offsets change only once saved */
			for (size_t i = 0; i < g->offs.n && !ge; i++)
				if (mqb_client_offsets_set(&next, &g->offs.e[i]) != MQB_OK)
					ge = KGERR_COORDINATOR_NOT_AVAILABLE;
		}
	}

	/* second pass: apply to the copy, remember each partition's error */
	mqb_kr_t tr;
	int16_t perr[4096];
	int npe = 0;

	mqb_kr_init(&tr, topics_at, (size_t)(r->end - topics_at));
	nt = mqb_kg_array(&tr, flex, 2);
	for (int32_t t = 0; t < nt; t++) {
		mqb_kstr_t tn = mqb_kg_str(&tr, flex);
		bool tok = mqb_kg_cstr(tn, topic, sizeof topic, false);
		int32_t np = mqb_kg_array(&tr, flex, 12);
		for (int32_t p = 0; p < np; p++) {
			mqb_client_offset_t e = { .stream = topic, .leader_epoch = -1,
						  .commit_time_ms = now_wall };
			int16_t pe = ge;

			e.partition = mqb_kr_i32(&tr);
			e.offset = mqb_kr_i64(&tr);
			if (v >= 6)
				e.leader_epoch = mqb_kr_i32(&tr);
			if (v == 1) {
				int64_t ts = mqb_kr_i64(&tr);
				if (ts >= 0)
					e.commit_time_ms = ts;
			}
			mqb_kstr_t meta = mqb_kg_str(&tr, flex);
			mqb_kg_tags(&tr, flex);
			e.metadata = (char *)meta.s;
			e.metadata_len = meta.s ? meta.len : -1;
			if (!pe && (!tok || !mqb_kapi_partition(ctx, tn, e.partition)))
				pe = KERR_UNKNOWN_TOPIC_OR_PARTITION;
			if (!pe && meta.s && meta.len > MQB_CLIENT_OFFSETS_MAX_META)
				pe = KGERR_OFFSET_METADATA_TOO_LARGE;
			if (!pe && e.offset < -1)
				pe = KERR_OFFSET_OUT_OF_RANGE;
			if (!pe) {
				int rc = mqb_client_offsets_set(&next, &e);
				pe = rc == MQB_OK ? 0 : KGERR_COORDINATOR_NOT_AVAILABLE;
				changed |= rc == MQB_OK;
			}
			if (npe < (int)(sizeof perr / sizeof perr[0]))
				perr[npe++] = pe;
		}
		mqb_kg_tags(&tr, flex);
	}
	/* save before answering; a failed save fails every partition the request set */
	if (changed) {
		kg_group_t tmp;
		int rc;

		memset(&tmp, 0, sizeof tmp);
		memcpy(tmp.name, g->name, sizeof tmp.name);
		tmp.offs = next;
		rc = kg_save_offsets(ctx->groups, &tmp);
		if (rc == MQB_OK) {
			mqb_client_offsets_free(&g->offs);
			g->offs = next;
			memset(&next, 0, sizeof next);
			g->commits++;
		} else {
			for (int i = 0; i < npe; i++)
				if (!perr[i])
					perr[i] = KGERR_COORDINATOR_NOT_AVAILABLE;
		}
	}
	mqb_client_offsets_free(&next);
	if (g)
		kg_gc(ctx->groups, g);
	if (locked)
		mqb_kgroups_unlock(ctx->groups);

	/* answer */
	if (v >= 3)
		mqb_kw_i32(w, 0);
	mqb_kr_init(&tr, topics_at, (size_t)(r->end - topics_at));
	nt = mqb_kg_array(&tr, flex, 2);
	mqb_kgw_array(w, flex, nt);
	npe = 0;
	for (int32_t t = 0; t < nt; t++) {
		mqb_kstr_t tn = mqb_kg_str(&tr, flex);
		int32_t np = mqb_kg_array(&tr, flex, 12);
		mqb_kgw_str(w, flex, tn.s ? tn.s : "", tn.s ? tn.len : 0);
		mqb_kgw_array(w, flex, np);
		for (int32_t p = 0; p < np; p++) {
			int32_t part = mqb_kr_i32(&tr);
			int16_t pe;
			(void)mqb_kr_i64(&tr);
			if (v >= 6)
				(void)mqb_kr_i32(&tr);
			if (v == 1)
				(void)mqb_kr_i64(&tr);
			(void)mqb_kg_str(&tr, flex);
			mqb_kg_tags(&tr, flex);
			pe = npe < (int)(sizeof perr / sizeof perr[0]) ? perr[npe] : ge;
			npe++;
			mqb_kapi_note_error(call, pe);
			mqb_kw_i32(w, part);
			mqb_kw_i16(w, pe);
			mqb_kgw_tags(w, flex);
		}
		mqb_kg_tags(&tr, flex);
		mqb_kgw_tags(w, flex);
	}
	mqb_kgw_tags(w, flex);
	return KAPI_RESPOND;
}

static void fetch_partition(mqb_kw_t *w, bool flex, int16_t v, int32_t part,
			    const mqb_client_offset_t *e, int16_t err)
{
	mqb_kw_i32(w, part);
	mqb_kw_i64(w, e ? e->offset : -1);
	if (v >= 5)
		mqb_kw_i32(w, e ? e->leader_epoch : -1);
	if (e && e->metadata)
		mqb_kgw_str(w, flex, e->metadata, e->metadata_len);
	else
		mqb_kgw_cstr(w, flex, "");
	mqb_kw_i16(w, err);
	mqb_kgw_tags(w, flex);
}

mqb_kapi_verdict_t mqb_kapi_offset_fetch(const mqb_kapi_ctx_t *ctx,
					 const mqb_kreq_hdr_t *h, mqb_kr_t *r,
					 mqb_kw_t *w, mqb_kapi_call_t *call)
{
	bool flex = h->flexible;
	int16_t v = h->api_version, ge = 0;
	char group[256], topic[256];
	mqb_kstr_t gid;
	int32_t nt;
	const uint8_t *topics_at;
	kg_group_t *g = NULL;
	bool locked = false;

	gid = mqb_kg_str(r, flex);
	topics_at = r->p;
	nt = mqb_kg_array(r, flex, 2);
	for (int32_t t = 0; t < nt && !r->err; t++) {
		(void)mqb_kg_str(r, flex);
		int32_t np = mqb_kg_array(r, flex, 4);
		for (int32_t p = 0; p < np && !r->err; p++)
			(void)mqb_kr_i32(r);
		mqb_kg_tags(r, flex);
	}
	if (v >= 7)
		(void)mqb_kr_i8(r);              /* require_stable: no transactions here */
	mqb_kg_tags(r, flex);
	if (r->err || (nt < 0 && v < 2))
		return KAPI_CLOSE;
	if (!ctx->groups)
		ge = KGERR_COORDINATOR_NOT_AVAILABLE;
	else if (!mqb_kg_cstr(gid, group, sizeof group, false))
		ge = KGERR_INVALID_GROUP_ID;
	else {
		mqb_kgroups_lock(ctx->groups);
		locked = true;
		ge = kg_get(ctx->groups, group, false, &g);
	}
	mqb_kapi_note_error(call, ge);
	if (v >= 3)
		mqb_kw_i32(w, 0);
	if (nt < 0) {
		/* every committed offset of the group, grouped by stream */
		const mqb_client_offsets_t *o = g ? &g->offs : NULL;
		size_t n = o ? o->n : 0;
		int32_t ntopics = 0;
		for (size_t i = 0; i < n; i++) {
			bool seen = false;
			for (size_t j = 0; j < i && !seen; j++)
				seen = !strcmp(o->e[j].stream, o->e[i].stream);
			ntopics += !seen;
		}
		mqb_kgw_array(w, flex, ntopics);
		for (size_t i = 0; i < n; i++) {
			bool seen = false;
			int32_t np = 0;
			for (size_t j = 0; j < i && !seen; j++)
				seen = !strcmp(o->e[j].stream, o->e[i].stream);
			if (seen)
				continue;
			for (size_t j = i; j < n; j++)
				np += !strcmp(o->e[j].stream, o->e[i].stream);
			mqb_kgw_cstr(w, flex, o->e[i].stream);
			mqb_kgw_array(w, flex, np);
			for (size_t j = i; j < n; j++)
				if (!strcmp(o->e[j].stream, o->e[i].stream))
					fetch_partition(w, flex, v, o->e[j].partition, &o->e[j], 0);
			mqb_kgw_tags(w, flex);
		}
	} else {
		mqb_kr_t tr;
		mqb_kr_init(&tr, topics_at, (size_t)(r->end - topics_at));
		nt = mqb_kg_array(&tr, flex, 2);
		mqb_kgw_array(w, flex, nt);
		for (int32_t t = 0; t < nt; t++) {
			mqb_kstr_t tn = mqb_kg_str(&tr, flex);
			bool tok = mqb_kg_cstr(tn, topic, sizeof topic, false);
			int32_t np = mqb_kg_array(&tr, flex, 4);
			mqb_kgw_str(w, flex, tn.s ? tn.s : "", tn.s ? tn.len : 0);
			mqb_kgw_array(w, flex, np);
			for (int32_t p = 0; p < np; p++) {
				int32_t part = mqb_kr_i32(&tr);
				const mqb_client_offset_t *e =
					g && tok ? mqb_client_offsets_find(&g->offs, topic, part) : NULL;
				int16_t pe = v < 2 ? ge : 0;
				if (!pe && !e && (!tok || !mqb_kapi_partition(ctx, tn, part)))
					pe = KERR_UNKNOWN_TOPIC_OR_PARTITION;
				mqb_kapi_note_error(call, pe);
				fetch_partition(w, flex, v, part, pe ? NULL : e, pe);
			}
			mqb_kg_tags(&tr, flex);
			mqb_kgw_tags(w, flex);
		}
	}
	if (locked)
		mqb_kgroups_unlock(ctx->groups);
	if (v >= 2)
		mqb_kw_i16(w, ge);
	mqb_kgw_tags(w, flex);
	return KAPI_RESPOND;
}
