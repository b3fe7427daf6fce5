/*
 * group_delivery.c — records out, acks in.
 *
 * exclusive: each member gets records of the partitions it owns (and is not handing
 *   over), in offset order per partition (acktrack_next: re-deliverable first), the
 *   partitions taking turns, until it holds `prefetch` unacked records.
 * shared: each member acquires available records (share.h) from the partitions in turn
 *   up to its prefetch; every delivery is locked for ack_timeout_ms.
 * Records are handed to the member's transport (transport.h) as mqb_group_record_t.
 * A record finished without accept: "reject" archives it; reaching max_deliveries
 * sends it to the dead_letter stream (archived when none is configured).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/err.h"
#include "bridge/logging.h"
#include "bridge/groups/group_internal.h"

void grp_finish_cb(void *arg, int64_t offset, uint32_t deliveries, mqb_finish_reason_t why)
{
	grp_fctx_t *fx = arg;
	grp_t *g = fx->g;
	grp_part_t *p = &g->parts[fx->part];

	if (why == MQB_FINISH_REJECTED || !g->conf->dead_letter) {
		p->archived++;
		return;
	}
	if (g->n_dead == g->cap_dead) {
		size_t nc = g->cap_dead ? g->cap_dead * 2 : 64;
		grp_dead_t *nd = realloc(g->dead, nc * sizeof(*nd));
		if (!nd) {
			mqb_error(GRP_LOG, "group %s: out of memory: %s-%d offset %" PRId64
				  " archived instead of dead-lettered", g->conf->name,
				  g->conf->stream, (int)fx->part, offset);
			p->archived++;
			return;
		}
		g->dead = nd;
		g->cap_dead = nc;
	}
	g->dead[g->n_dead++] = (grp_dead_t){ fx->part, offset, deliveries, (int)why };
}

/* Read the record at offset of p through r (seeking when needed). */
static int read_at(mqb_reader_t *r, int64_t offset, mqb_record_t *rec)
{
	int rc;

	if (mqb_reader_position(r) != offset) {
		rc = mqb_reader_seek(r, offset);
		if (rc != MQB_OK)
			return rc;
	}
	for (int guard = 0; guard < 100000; guard++) {
		rc = mqb_reader_next_record(r, rec);
		if (rc != MQB_OK)
			return rc;
		if (rec->offset == offset)
			return MQB_OK;
		if (rec->offset > offset)
			return MQB_ERR_CORRUPT;
	}
	return MQB_ERR_CORRUPT;
}

static int deliver_record(grp_t *g, grp_member_t *mb, grp_part_t *p, const mqb_record_t *rec,
			  uint32_t deliveries)
{
	mqb_group_record_t r = {
		.stream = g->conf->stream, .partition = p->id, .offset = rec->offset,
		.timestamp_ms = rec->timestamp_ms, .key = rec->key, .key_len = rec->key_len,
		.value = rec->value, .value_len = rec->value_len, .headers = rec->headers,
		.header_count = rec->header_count, .delivery = deliveries,
		.generation = g->generation,
	};
	int rc = mb->tp.ops->deliver(mb->tp.arg, g->conf->name, mb->id, &r);
	if (rc != MQB_OK)
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, GRP_LOG, 1000, "group %s: delivery to %s failed: %s",
				    g->conf->name, mb->id, mqb_strerror(rc));
	mb->delivered++;
	g->delivered++;
	return rc;
}

/* Re-read the in-flight count of an exclusive partition after its tracker changed
 * (ack, assign, revoke, reset): deliveries only add to it. */
void grp_part_refresh(grp_part_t *p)
{
	mqb_acktrack_stats_t st;

	if (!p->at)
		return;
	mqb_acktrack_stats(p->at, 0, &st);
	p->inflight = st.inflight;
}

/* The log lost what p was positioned on (retention): continue at log start. */
static void part_lost(grp_t *g, grp_part_t *p)
{
	mqb_watermarks_t wm;

	mqb_partition_watermarks(p->sp, &wm);
	mqb_warn(GRP_LOG, "group %s: %s-%d: records below %" PRId64 " were deleted by retention "
		 "before being consumed; continuing there", g->conf->name, g->conf->stream,
		 (int)p->id, wm.log_start);
	if (p->at) {
		mqb_acktrack_reset(p->at, wm.log_start);
		grp_part_refresh(p);
	} else
		mqb_share_reset(p->sh, wm.log_start);
	g->dirty = true;
}

/* Deliver one record of exclusive partition p to its owner: 1 done, 0 nothing. */
static int deliver_one_excl(grp_t *g, grp_part_t *p, int64_t now)
{
	mqb_watermarks_t wm;
	mqb_record_t rec;
	int64_t off;
	uint32_t dc = 0;

	if (mqb_acktrack_next(p->at, &off) != MQB_OK)
		return 0;
	mqb_partition_watermarks(p->sp, &wm);
	if (off >= wm.stored)
		return 0;
	if (off < wm.log_start) {
		part_lost(g, p);
		return 0;
	}
	int rc = read_at(p->rd, off, &rec);
	if (rc == MQB_ERR_RANGE) {
		part_lost(g, p);
		return 0;
	}
	if (rc != MQB_OK) {
		MQB_LOG_RATELIMITED(MQB_LOG_ERROR, GRP_LOG, 5000, "group %s: %s-%d offset %" PRId64
				    ": read failed: %s", g->conf->name, g->conf->stream, (int)p->id,
				    off, mqb_strerror(rc));
		return 0;
	}
	if (mqb_acktrack_deliver(p->at, off, now, &dc) != MQB_OK)
		return 0;
	p->inflight++;
	g->dirty = true;
	deliver_record(g, p->owner, p, &rec, dc);
	return 1;
}

static int deliver_excl(grp_t *g, grp_member_t *mb, int cap, int64_t now)
{
	int total = 0;
	bool progress = true;

	while (cap > 0 && progress) {
		progress = false;
		for (int32_t k = 0; k < g->nparts && cap > 0; k++) {
			grp_part_t *p = &g->parts[(mb->rr + (size_t)k) % (size_t)g->nparts];
			if (p->owner != mb || p->revoking)
				continue;
			if (deliver_one_excl(g, p, now)) {
				cap--;
				total++;
				progress = true;
			}
		}
		mb->rr++;
	}
	return total;
}

static int held_add(grp_member_t *mb, int32_t part, int64_t offset, int64_t deadline)
{
	if (mb->n_held == mb->cap_held) {
		size_t nc = mb->cap_held ? mb->cap_held * 2 : 64;
		struct grp_held *nh = realloc(mb->held, nc * sizeof(*nh));
		if (!nh)
			return MQB_ERR_NOMEM;
		mb->held = nh;
		mb->cap_held = nc;
	}
	mb->held[mb->n_held++] = (struct grp_held){ part, offset, deadline };
	return MQB_OK;
}

void grp_held_drop(grp_member_t *mb, int32_t part, int64_t first, int64_t last)
{
	size_t j = 0;

	for (size_t i = 0; i < mb->n_held; i++) {
		struct grp_held *h = &mb->held[i];
		if (h->part == part && h->offset >= first && h->offset <= last)
			continue;
		mb->held[j++] = *h;
	}
	mb->n_held = j;
}

static int deliver_shared(grp_t *g, grp_member_t *mb, int cap, int64_t now)
{
	mqb_share_acquired_t acq[256];
	int total = 0;

	for (int32_t k = 0; k < g->nparts && cap > 0; k++) {
		grp_part_t *p = &g->parts[(g->part_rr + (size_t)k) % (size_t)g->nparts];
		mqb_watermarks_t wm;

		mqb_partition_watermarks(p->sp, &wm);
		size_t want = (size_t)cap < 256 ? (size_t)cap : 256;
		int n = mqb_share_acquire(p->sh, mb->token, want, wm.stored, now, acq);
		for (int i = 0; i < n; i++) {
			mqb_record_t rec;
			int rc = read_at(p->rd, acq[i].offset, &rec);
			if (rc == MQB_ERR_RANGE) {
				part_lost(g, p);
				break;
			}
			if (rc != MQB_OK) {
				/* Not readable now: the lock lapses and it is offered again. */
				MQB_LOG_RATELIMITED(MQB_LOG_ERROR, GRP_LOG, 5000, "group %s: %s-%d offset %"
						    PRId64 ": read failed: %s", g->conf->name,
						    g->conf->stream, (int)p->id, acq[i].offset,
						    mqb_strerror(rc));
				continue;
			}
			held_add(mb, p->id, acq[i].offset, now + g->conf->ack_timeout_ms);
			deliver_record(g, mb, p, &rec, acq[i].deliveries);
			total++;
			cap--;
		}
		if (n > 0)
			g->dirty = true;
	}
	g->part_rr++;
	return total;
}

int grp_member_inflight(grp_t *g, grp_member_t *mb, int64_t now, int64_t *oldest_ms)
{
	int n = 0;
	int64_t oldest = -1;

	if (g->shared) {
		for (size_t i = 0; i < mb->n_held; i++) {
			int64_t age = now - (mb->held[i].deadline - g->conf->ack_timeout_ms);
			if (age > oldest)
				oldest = age;
		}
		n = (int)mb->n_held;
	} else {
		for (int32_t i = 0; i < g->nparts; i++) {
			if (g->parts[i].owner != mb)
				continue;
			n += (int)g->parts[i].inflight;
			if (oldest_ms) {   /* O(in flight): only for views */
				mqb_acktrack_stats_t st;
				mqb_acktrack_stats(g->parts[i].at, now, &st);
				if (st.oldest_inflight_ms > oldest)
					oldest = st.oldest_inflight_ms;
			}
		}
	}
	if (oldest_ms)
		*oldest_ms = oldest;
	return n;
}

int grp_deliver(grp_t *g, int64_t now)
{
	int total = 0;

	for (size_t i = 0; i < g->n_members; i++) {
		grp_member_t *mb = g->members[i];
		if (mb->departed)
			continue;
		int cap = mb->prefetch - grp_member_inflight(g, mb, now, NULL);
		if (cap <= 0)
			continue;
		total += g->shared ? deliver_shared(g, mb, cap, now) : deliver_excl(g, mb, cap, now);
	}
	return total;
}

void grp_share_expire(grp_t *g, int64_t now)
{
	for (int32_t i = 0; i < g->nparts; i++) {
		grp_fctx_t fx = { g, i };
		if (mqb_share_next_deadline(g->parts[i].sh) <= now &&
		    mqb_share_tick(g->parts[i].sh, now, grp_finish_cb, &fx) > 0)
			g->dirty = true;
	}
	for (size_t m = 0; m < g->n_members; m++) {
		grp_member_t *mb = g->members[m];
		size_t j = 0;
		for (size_t i = 0; i < mb->n_held; i++)
			if (mb->held[i].deadline > now)
				mb->held[j++] = mb->held[i];
		mb->n_held = j;
	}
}

static void ack_refused(grp_t *g, grp_member_t *mb, const mqb_group_ack_entry_t *e, int rc,
			const mqb_group_transport_t *via)
{
	grp_error(g, via, mb->id, mqb_group_errcode_from_err(rc), "ack",
		  "%s-%d [%" PRId64 "..%" PRId64 "]%s (%s): %s; nothing of this ack message was "
		  "applied", e->stream, (int)e->partition, e->n_ranges ? e->ranges[0].first : -1,
		  e->n_ranges ? e->ranges[0].last : -1, e->n_ranges > 1 ? " ..." : "",
		  mqb_ack_type_name(e->type), mqb_strerror(rc));
}

/*
 * An ack message is all-or-nothing: every entry is checked first (each refused entry
 * gets its error reply), and only when all pass are they applied. (Entries that
 * overlap on one partition, e.g. a release and an accept of the same offset, are
 * checked against the state before the message; the later one may then fail when
 * applied, and is reported.)
 */
int grp_on_ack(grp_t *g, grp_member_t *mb, int64_t gen, const mqb_group_ack_entry_t *acks,
	       size_t n_acks, const mqb_group_transport_t *via, int64_t now)
{
	int result = MQB_OK;

	mb->last_seen_ms = now;
	for (size_t i = 0; i < n_acks; i++) {
		const mqb_group_ack_entry_t *e = &acks[i];
		int rc;

		if (!e->stream || strcmp(e->stream, g->conf->stream) != 0 || e->partition < 0 ||
		    e->partition >= g->nparts) {
			grp_error(g, via, mb->id, MQB_GROUP_E_NOT_OWNER, "ack",
				  "%s-%d is not a partition of this group; nothing of this ack "
				  "message was applied", e->stream, (int)e->partition);
			result = MQB_ERR_PERM;
			continue;
		}
		grp_part_t *p = &g->parts[e->partition];
		rc = g->shared ? mqb_share_ack_check(p->sh, mb->token, e->ranges, e->n_ranges,
						     e->type, now)
			       : mqb_acktrack_ack_check(p->at, mb->token, gen, e->ranges,
							e->n_ranges, e->type);
		if (rc != MQB_OK) {
			ack_refused(g, mb, e, rc, via);
			result = rc;
		}
	}
	if (result != MQB_OK)
		return result;
	for (size_t i = 0; i < n_acks; i++) {
		const mqb_group_ack_entry_t *e = &acks[i];
		grp_part_t *p = &g->parts[e->partition];
		grp_fctx_t fx = { g, e->partition };
		mqb_ack_result_t res;
		int rc;

		memset(&res, 0, sizeof(res));
		if (g->shared)
			rc = mqb_share_ack(p->sh, mb->token, e->ranges, e->n_ranges, e->type, now,
					   &res, grp_finish_cb, &fx);
		else
			rc = mqb_acktrack_ack(p->at, mb->token, gen, e->ranges, e->n_ranges,
					      e->type, &res, grp_finish_cb, &fx);
		grp_part_refresh(p);
		if (rc != MQB_OK) {
			ack_refused(g, mb, e, rc, via);
			result = rc;
			continue;
		}
		if (g->shared)
			for (size_t r = 0; r < e->n_ranges; r++)
				grp_held_drop(mb, e->partition, e->ranges[r].first, e->ranges[r].last);
		uint64_t n = res.accepted + res.released + res.rejected + res.dead;
		mb->acked += n;
		g->acked += n;
		g->dirty = true;
	}
	return result;
}

/* Write pending dead letters: the source record with mqbridge.* headers added. */
int grp_process_dead(grp_t *g, int64_t now)
{
	const char *dls = g->conf->dead_letter;
	size_t done = 0;
	int rc = MQB_OK;

	while (done < g->n_dead) {
		grp_dead_t *d = &g->dead[done];
		grp_part_t *p = &g->parts[d->part];
		int32_t dn = mqb_store_partition_count(g->c->store, dls);
		mqb_partition_t *dp = dn > 0 ? mqb_store_partition(g->c->store, dls, d->part % dn) : NULL;
		mqb_record_t rec, out;

		if (!dp) {
			MQB_LOG_RATELIMITED(MQB_LOG_ERROR, GRP_LOG, 5000, "group %s: dead-letter stream "
					    "%s is not open", g->conf->name, dls);
			rc = MQB_ERR_NOTFOUND;
			break;
		}
		if (!g->dl_rd || g->dl_rd_part != d->part) {
			mqb_reader_destroy(g->dl_rd);
			g->dl_rd = mqb_reader_new(p->sp, d->offset);
			g->dl_rd_part = d->part;
			if (!g->dl_rd) {
				rc = MQB_ERR_NOMEM;
				break;
			}
		}
		rc = read_at(g->dl_rd, d->offset, &rec);
		if (rc == MQB_ERR_RANGE) {  /* gone by retention: nothing left to keep */
			p->archived++;
			done++;
			rc = MQB_OK;
			continue;
		}
		if (rc != MQB_OK)
			break;
		size_t nh = rec.header_count + 5;
		mqb_rec_header_t *hs = calloc(nh, sizeof(*hs));
		if (!hs) {
			rc = MQB_ERR_NOMEM;
			break;
		}
		char sp[16], so[24], dc[16];
		snprintf(sp, sizeof(sp), "%d", (int)d->part);
		snprintf(so, sizeof(so), "%" PRId64, d->offset);
		snprintf(dc, sizeof(dc), "%u", d->deliveries);
		memcpy(hs, rec.headers, rec.header_count * sizeof(*hs));
		const char *kv[5][2] = {
			{ "mqbridge.group", g->conf->name },
			{ "mqbridge.source.stream", g->conf->stream },
			{ "mqbridge.source.partition", sp },
			{ "mqbridge.source.offset", so },
			{ "mqbridge.delivery.count", dc },
		};
		for (size_t k = 0; k < 5; k++) {
			mqb_rec_header_t *h = &hs[rec.header_count + k];
			h->key = kv[k][0];
			h->key_len = strlen(kv[k][0]);
			h->value = kv[k][1];
			h->value_len = (ssize_t)strlen(kv[k][1]);
		}
		out = rec;
		out.headers = hs;
		out.header_count = nh;
		rc = mqb_partition_append(dp, &out, 1, NULL);
		free(hs);
		if (rc != MQB_OK) {
			MQB_LOG_RATELIMITED(MQB_LOG_ERROR, GRP_LOG, 5000, "group %s: dead-letter append "
					    "to %s failed: %s (will retry)", g->conf->name, dls,
					    mqb_strerror(rc));
			break;
		}
		p->dead_lettered++;
		done++;
	}
	if (done) {
		memmove(g->dead, g->dead + done, (g->n_dead - done) * sizeof(*g->dead));
		g->n_dead -= done;
	}
	return rc;
}
