/*
 * downlink_consume.c — what one downlink entry does with its partitions: rebalance
 * (cooperative incremental, or eager when the group runs that), commits of the
 * acknowledged cursor, and the loop turn (held records, polling, pause/resume,
 * watermarks). Downlink thread only.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/logging.h"
#include "connectors/kafka/downlink_int.h"

#define POLL_BUDGET 1000
#define COMMIT_EVERY_MS 200
#define WATERMARKS_EVERY_MS 500
#define RETRY_MS 1000
#define REVOKE_DRAIN_MS 1000

static struct dl_part *part_get(struct dl_entry *e, int32_t id)
{
	return id >= 0 && id < e->nparts ? e->parts[id] : NULL;
}

void mqb_dl__on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
		      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
	struct dl_entry *e = opaque;
	(void)rk;
	if (err == RD_KAFKA_RESP_ERR__NO_OFFSET)
		return;
	for (int i = 0; offsets && i < offsets->cnt; i++) {
		rd_kafka_topic_partition_t *tp = &offsets->elems[i];
		struct dl_part *p = part_get(e, tp->partition);
		if (!err && !tp->err)
			continue;
		atomic_fetch_add(&e->fail[DL_FAIL_COMMIT], 1);
		if (p && p->committed == tp->offset)
			p->committed = -1;     /* commit it again on the next turn */
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, DL_MOD, 5000, "%s: commit of %s [%d] at %"
				    PRId64 " failed: %s; retrying", e->label, e->conf->topic,
				    tp->partition, tp->offset,
				    rd_kafka_err2str(err ? err : tp->err));
	}
}

/* --- partitions -------------------------------------------------------------------- */

void mqb_dl__held_clear(struct dl_part *p)
{
	for (size_t i = 0; i < p->held.n; i++)
		rd_kafka_message_destroy(p->held.v[(p->held.head + i) % p->held.cap]);
	p->held.head = p->held.n = p->held.bytes = 0;
	p->held.retry_at_ms = 0;
}

static int held_push(struct dl_part *p, rd_kafka_message_t *m)
{
	struct dl_held *h = &p->held;
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 16;
		rd_kafka_message_t **v = malloc(cap * sizeof(*v));
		if (!v)
			return MQB_ERR_NOMEM;
		for (size_t i = 0; i < h->n; i++)
			v[i] = h->v[(h->head + i) % h->cap];
		free(h->v);
		h->v = v;
		h->cap = cap;
		h->head = 0;
	}
	h->v[(h->head + h->n++) % h->cap] = m;
	h->bytes += m->len + m->key_len;
	return MQB_OK;
}

static struct dl_part *part_ensure(struct dl_entry *e, int32_t id)
{
	if (id < 0)
		return NULL;
	if (id >= e->nparts) {
		int32_t n = id + 1;
		struct dl_part **v = calloc((size_t)n, sizeof(*v));
		if (!v)
			return NULL;
		pthread_mutex_lock(&e->dl->lock);
		if (e->nparts)
			memcpy(v, e->parts, (size_t)e->nparts * sizeof(*v));
		free(e->parts);
		e->parts = v;
		e->nparts = n;
		pthread_mutex_unlock(&e->dl->lock);
	}
	if (!e->parts[id]) {
		struct dl_part *p = calloc(1, sizeof(*p));
		if (!p || mqb_fwd_window_init(&p->win, (size_t)e->conf->inflight_per_partition, 0)) {
			free(p);
			return NULL;
		}
		p->e = e;
		p->id = id;
		snprintf(p->id_str, sizeof(p->id_str), "%d", id);
		p->committed = -1;
		atomic_store(&p->a_cursor, -1);
		atomic_store(&p->a_committed, -1);
		atomic_store(&p->a_hwm, -1);
		pthread_mutex_lock(&e->dl->lock);
		e->parts[id] = p;
		pthread_mutex_unlock(&e->dl->lock);
	}
	return e->parts[id];
}

/* Forget everything in flight for p: later acks are ignored (generation). */
void mqb_dl__part_reset(struct dl_part *p, bool assigned)
{
	int64_t pending = atomic_exchange(&p->a_inflight, 0);
	if (pending > 0)
		atomic_fetch_add(&p->e->fail[DL_FAIL_ABANDONED], (uint64_t)pending);
	p->gen++;
	p->assigned = assigned;
	p->started = p->paused = p->need_rewind = false;
	mqb_dl__held_clear(p);
	atomic_store(&p->a_assigned, assigned);
	atomic_store(&p->a_paused, 0);
	if (assigned) {
		p->committed = -1;
		atomic_store(&p->a_cursor, -1);
		atomic_store(&p->a_committed, -1);
	}
}

/* Wait (bounded) for the acks of the revoked partitions' publishes. */
static void drain_acks(struct dl_entry *e, rd_kafka_topic_partition_list_t *parts, int ms)
{
	int64_t end = mqb_mono_ms() + ms;
	while (mqb_mono_ms() < end && atomic_load(&e->dl->mqtt_up)) {
		int64_t pending = 0;
		for (int i = 0; i < parts->cnt; i++) {
			struct dl_part *p = part_get(e, parts->elems[i].partition);
			if (p && p->assigned)
				pending += atomic_load(&p->a_inflight);
		}
		if (pending == 0)
			return;
		e->dl->pub.run(e->dl->pub.ctx, 20);
	}
}

static void revoke(struct dl_entry *e, rd_kafka_topic_partition_list_t *parts, bool lost)
{
	if (!lost) {
		drain_acks(e, parts, REVOKE_DRAIN_MS);
		mqb_dl__commit(e, atomic_load(&e->kafka_up));
	}
	for (int i = 0; i < parts->cnt; i++) {
		struct dl_part *p = part_get(e, parts->elems[i].partition);
		if (p)
			mqb_dl__part_reset(p, false);
	}
	mqb_notice(DL_MOD, "%s: %d partition(s) of %s %s", e->label, parts->cnt, e->conf->topic,
		   lost ? "lost (nothing committed)" :
		   atomic_load(&e->kafka_up) ? "revoked (acknowledged records committed)" :
		   "revoked (Kafka down: acknowledged records committed only if in time)");
}

void mqb_dl__on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
			 rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct dl_entry *e = opaque;
	rd_kafka_error_t *error = NULL;
	e->cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
	atomic_fetch_add(&e->rebalances, 1);
	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		for (int i = 0; i < parts->cnt; i++) {
			struct dl_part *p = part_ensure(e, parts->elems[i].partition);
			if (p)
				mqb_dl__part_reset(p, true);
		}
		mqb_notice(DL_MOD, "%s: %d partition(s) of %s assigned (%s)", e->label,
			   parts->cnt, e->conf->topic, e->cooperative ? "cooperative" : "eager");
		if (e->cooperative)
			error = rd_kafka_incremental_assign(rk, parts);
		else
			rd_kafka_assign(rk, parts);
		/* a partition we paused before it was revoked starts unpaused (our state
		 * says so): make sure librdkafka agrees */
		rd_kafka_resume_partitions(rk, parts);
	} else {
		if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
			mqb_warn(DL_MOD, "%s: rebalance error: %s", e->label, rd_kafka_err2str(err));
		revoke(e, parts, rd_kafka_assignment_lost(rk));
		if (e->cooperative)
			error = rd_kafka_incremental_unassign(rk, parts);
		else
			rd_kafka_assign(rk, NULL);
	}
	if (error) {
		mqb_error(DL_MOD, "%s: rebalance: %s", e->label, rd_kafka_error_string(error));
		rd_kafka_error_destroy(error);
	}
}

/* --- commits ----------------------------------------------------------------------- */

/* Commit every partition whose acknowledged cursor moved past its last commit. */
void mqb_dl__commit(struct dl_entry *e, bool sync)
{
	rd_kafka_topic_partition_list_t *l = NULL;
	for (int32_t i = 0; i < e->nparts; i++) {
		struct dl_part *p = e->parts[i];
		if (!p || !p->assigned || !p->started || p->win.cursor <= p->committed)
			continue;
		if (!l && !(l = rd_kafka_topic_partition_list_new(8)))
			return;
		rd_kafka_topic_partition_list_add(l, e->conf->topic, p->id)->offset = p->win.cursor;
		p->committed = p->win.cursor;
		atomic_store(&p->a_committed, p->committed);
	}
	if (!l)
		return;
	/* the commit callback reports the outcome (also of a sync commit) */
	rd_kafka_resp_err_t err = rd_kafka_commit(e->rk, l, sync ? 0 : 1);
	if (err && !sync)
		mqb_dl__on_commit(e->rk, err, l, e);
	rd_kafka_topic_partition_list_destroy(l);
}

/* --- the loop turn ----------------------------------------------------------------- */

static void hold(struct dl_part *p, rd_kafka_message_t *m, int rc, int64_t now)
{
	if (held_push(p, m) != MQB_OK) {
		/* cannot keep it: restart the partition from the acknowledged cursor */
		rd_kafka_message_destroy(m);
		p->need_rewind = true;
		return;
	}
	if (rc < 0)
		p->held.retry_at_ms = now + RETRY_MS;
}

/* Handle held records in order; stops at the first that must wait again. */
static void run_held(struct dl_part *p, int64_t now)
{
	struct dl_held *h = &p->held;
	if (h->n == 0 || h->retry_at_ms > now)
		return;
	h->retry_at_ms = 0;
	while (h->n > 0) {
		rd_kafka_message_t *m = h->v[h->head];
		int rc = mqb_dl__handle(p, m);
		if (rc != 1) {
			if (rc < 0)
				h->retry_at_ms = now + RETRY_MS;
			return;
		}
		h->bytes -= m->len + m->key_len;
		rd_kafka_message_destroy(m);
		h->head = (h->head + 1) % h->cap;
		h->n--;
	}
}

static void dispatch(struct dl_entry *e, rd_kafka_message_t *m, int64_t now)
{
	if (m->err) {
		if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
			MQB_LOG_RATELIMITED(MQB_LOG_WARN, DL_MOD, 10000, "%s: consume: %s",
					    e->label, rd_kafka_message_errstr(m));
		rd_kafka_message_destroy(m);
		return;
	}
	struct dl_part *p = part_get(e, m->partition);
	if (!p || !p->assigned) {
		rd_kafka_message_destroy(m);
		return;
	}
	int rc = p->held.n > 0 ? 0 : mqb_dl__handle(p, m);
	if (rc == 1)
		rd_kafka_message_destroy(m);
	else
		hold(p, m, rc, now);
}

/* Re-consume p from its acknowledged cursor after a failed publish. */
static void rewind_part(struct dl_entry *e, struct dl_part *p)
{
	int64_t from = p->started ? p->win.cursor : -1;
	mqb_dl__part_reset(p, true);
	if (from < 0)
		return;
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, e->conf->topic, p->id)->offset = from;
	rd_kafka_error_t *err = rd_kafka_seek_partitions(e->rk, l, 0);
	if (err) {
		mqb_warn(DL_MOD, "%s: seek %s [%d] to %" PRId64 ": %s", e->label, e->conf->topic,
			 p->id, from, rd_kafka_error_string(err));
		rd_kafka_error_destroy(err);
	}
	rd_kafka_topic_partition_list_destroy(l);
}

/* Whether p should be paused: MQTT down, or too much held (with hysteresis). */
static bool want_pause(struct dl_part *p, bool mqtt_up)
{
	size_t max = DL_HOLD_MAX(p->e->conf->inflight_per_partition);
	if (!mqtt_up)
		return true;
	if (p->paused)
		return p->held.n > max / 2 || p->held.bytes > DL_HOLD_BYTES / 2;
	return p->held.n >= max || p->held.bytes >= DL_HOLD_BYTES;
}

/* Pause partitions holding too much, or all while MQTT is down; resume the others. */
static void update_pauses(struct dl_entry *e)
{
	bool mqtt_up = atomic_load(&e->dl->mqtt_up);
	for (int32_t i = 0; i < e->nparts; i++) {
		struct dl_part *p = e->parts[i];
		if (!p || !p->assigned)
			continue;
		bool want = want_pause(p, mqtt_up);
		if (want == p->paused)
			continue;
		rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
		rd_kafka_topic_partition_list_add(l, e->conf->topic, p->id);
		rd_kafka_resp_err_t err = want ? rd_kafka_pause_partitions(e->rk, l) :
						 rd_kafka_resume_partitions(e->rk, l);
		rd_kafka_topic_partition_list_destroy(l);
		if (err)
			continue;
		p->paused = want;
		atomic_store(&p->a_paused, want);
	}
}

static void update_watermarks(struct dl_entry *e)
{
	for (int32_t i = 0; i < e->nparts; i++) {
		struct dl_part *p = e->parts[i];
		int64_t lo, hi;
		if (p && p->assigned &&
		    rd_kafka_get_watermark_offsets(e->rk, e->conf->topic, p->id, &lo, &hi) == 0 &&
		    hi >= 0)
			atomic_store(&p->a_hwm, hi);
	}
}

int mqb_dl__entry_turn(struct dl_entry *e, int64_t now)
{
	int n = 0;
	for (int32_t i = 0; i < e->nparts; i++) {
		struct dl_part *p = e->parts[i];
		if (p && p->need_rewind)
			rewind_part(e, p);
		if (p && p->assigned)
			run_held(p, now);
	}
	for (; n < POLL_BUDGET; n++) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(e->rk, 0);
		if (!m)
			break;
		dispatch(e, m, now);
	}
	update_pauses(e);
	for (int32_t i = 0; i < e->nparts; i++)
		if (e->parts[i] && e->parts[i]->started)
			atomic_store(&e->parts[i]->a_cursor, e->parts[i]->win.cursor);
	if (now >= e->next_commit_ms) {
		mqb_dl__commit(e, false);
		e->next_commit_ms = now + COMMIT_EVERY_MS;
	}
	if (now >= e->next_wm_ms) {
		update_watermarks(e);
		e->next_wm_ms = now + WATERMARKS_EVERY_MS;
	}
	return n >= POLL_BUDGET;
}

/* Final commit of what is acknowledged, leave the group, destroy the consumer. */
