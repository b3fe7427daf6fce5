/*
 * group_delivery.c — records out, acks in, dead letters.
 *
 * Which records a member gets is the mode's (group_exclusive.c, group_shared.c); this
 * file gives each member room up to its prefetch, reads records from the store and
 * hands them to the member's transport.
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

int grp_read_at(mqb_reader_t *r, int64_t offset, mqb_record_t *rec)
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

int grp_deliver_record(grp_t *g, grp_member_t *mb, grp_part_t *p, const mqb_record_t *rec,
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

void grp_part_lost(grp_t *g, grp_part_t *p)
{
	mqb_watermarks_t wm;

	mqb_partition_watermarks(p->sp, &wm);
	mqb_warn(GRP_LOG, "group %s: %s-%d: records below %" PRId64 " were deleted by retention "
		 "before being consumed; continuing there", g->conf->name, g->conf->stream,
		 (int)p->id, wm.log_start);
	g->mode->part_reset(p, wm.log_start);
	g->dirty = true;
}

int grp_deliver(grp_t *g, int64_t now)
{
	int total = 0;

	for (size_t i = 0; i < g->n_members; i++) {
		grp_member_t *mb = g->members[i];
		if (mb->departed)
			continue;
		int cap = mb->prefetch - g->mode->inflight(g, mb, now, NULL);
		if (cap <= 0)
			continue;
		total += g->mode->deliver(g, mb, cap, now);
	}
	return total;
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
		rc = g->mode->ack_check(g, p, mb, gen, e, now);
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
		mqb_ack_result_t res;
		int rc;

		memset(&res, 0, sizeof(res));
		rc = g->mode->ack(g, p, mb, gen, e, now, &res);
		if (rc != MQB_OK) {
			ack_refused(g, mb, e, rc, via);
			result = rc;
			continue;
		}
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
		rc = grp_read_at(g->dl_rd, d->offset, &rec);
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
