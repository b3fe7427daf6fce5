/*
 * downlink_consume.c — one downlink entry's librdkafka consumer: configuration,
 * rebalance (cooperative incremental, or eager when the group runs that), the loop
 * turn (held records, polling, pause/resume, commits, watermarks) and closing.
 * Downlink thread only, except on_queue_event (a librdkafka thread: wakeup only).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/logging.h"
#include "connectors/kafka/downlink_int.h"

#define POLL_BUDGET 1000
#define COMMIT_EVERY_MS 200
#define WATERMARKS_EVERY_MS 500
#define RETRY_MS 1000
#define REVOKE_DRAIN_MS 1000

/* --- librdkafka callbacks ---------------------------------------------------------- */

static void set_kafka_up(struct dl_entry *e, int up)
{
	atomic_store(&e->brokers_up, up);
	int was = atomic_exchange(&e->kafka_up, up > 0);
	if (was == (up > 0))
		return;
	if (up)
		mqb_notice(DL_MOD, "%s: Kafka connection up (%d broker%s)", e->label, up,
			   up == 1 ? "" : "s");
	else
		mqb_warn(DL_MOD, "%s: Kafka connection down: consuming %s resumes when it returns",
			 e->label, e->conf->topic);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct dl_entry *e = opaque;
	(void)rk;
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
		set_kafka_up(e, 0);
	MQB_LOG_RATELIMITED(MQB_LOG_WARN, DL_MOD, 10000, "%s: librdkafka: %s: %s", e->label,
			    rd_kafka_err2name(err), reason);
}

static int on_stats(rd_kafka_t *rk, char *json, size_t json_len, void *opaque)
{
	struct dl_entry *e = opaque;
	cJSON *doc = cJSON_ParseWithLength(json, json_len);
	int up = 0;
	(void)rk;
	if (!doc)
		return 0;
	const cJSON *brokers = cJSON_GetObjectItemCaseSensitive(doc, "brokers"), *b;
	cJSON_ArrayForEach(b, brokers) {
		const cJSON *state = cJSON_GetObjectItemCaseSensitive(b, "state");
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(b, "nodeid");
		if (cJSON_IsString(state) && strcmp(state->valuestring, "UP") == 0 &&
		    cJSON_IsNumber(id) && id->valuedouble >= 0)
			up++;
	}
	cJSON_Delete(doc);
	set_kafka_up(e, up);
	return 0;
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	if (level <= 4)
		MQB_LOG_RATELIMITED(level <= 3 ? MQB_LOG_ERROR : MQB_LOG_WARN, DL_MOD, 10000,
				    "librdkafka %s: %s", fac, buf);
	else
		mqb_debug(DL_MOD, "librdkafka %s: %s", fac, buf);
}

static struct dl_part *part_get(struct dl_entry *e, int32_t id)
{
	return id >= 0 && id < e->nparts ? e->parts[id] : NULL;
}

static void on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
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

static void on_queue_event(rd_kafka_t *rk, void *opaque)
{
	struct dl_entry *e = opaque;
	(void)rk;
	e->dl->pub.wakeup(e->dl->pub.ctx);
}

/* --- partitions -------------------------------------------------------------------- */

void mqb_dl__held_clear(struct dl_part *p)
{
	for (size_t i = 0; i < p->held.n; i++)
		rd_kafka_message_destroy(p->held.v[(p->held.head + i) % p->held.cap]);
	p->held.head = p->held.n = 0;
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
static void part_reset(struct dl_part *p, bool assigned)
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
			part_reset(p, false);
	}
	mqb_notice(DL_MOD, "%s: %d partition(s) of %s %s", e->label, parts->cnt, e->conf->topic,
		   lost ? "lost (nothing committed)" :
		   atomic_load(&e->kafka_up) ? "revoked (acknowledged records committed)" :
		   "revoked (Kafka down: acknowledged records committed only if in time)");
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
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
				part_reset(p, true);
		}
		mqb_notice(DL_MOD, "%s: %d partition(s) of %s assigned (%s)", e->label,
			   parts->cnt, e->conf->topic, e->cooperative ? "cooperative" : "eager");
		if (e->cooperative)
			error = rd_kafka_incremental_assign(rk, parts);
		else
			rd_kafka_assign(rk, parts);
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
		on_commit(e->rk, err, l, e);
	rd_kafka_topic_partition_list_destroy(l);
}

/* --- the consumer ------------------------------------------------------------------ */

static int conf_set(rd_kafka_conf_t *c, const char *k, const char *v, struct dl_entry *e,
		    int line, char *errstr, size_t errstr_size)
{
	char rderr[256];
	if (rd_kafka_conf_set(c, k, v, rderr, sizeof(rderr)) == RD_KAFKA_CONF_OK)
		return MQB_OK;
	mqb_errstr_set(errstr, errstr_size, "%s:%d: kafka.downlink.[%zu]: librdkafka refused "
		       "%s=%s: %s", e->dl->cfg->path ? e->dl->cfg->path : "<config>", line,
		       e->idx, k, v, rderr);
	return MQB_ERR_CONFIG;
}

/* Defaults (a user property may change them), the kafka section, then what the
 * downlink's guarantees need (not overridable). */
static rd_kafka_conf_t *consumer_conf(struct dl_entry *e, char *errstr, size_t errstr_size)
{
	const mqb_kafka_conf_t *k = &e->dl->cfg->kafka;
	const mqb_kafka_downlink_conf_t *c = e->conf;
	rd_kafka_conf_t *rc = rd_kafka_conf_new();
	const char *kv[][2] = {
		{ "partition.assignment.strategy", "cooperative-sticky" },
		{ "client.id", "mqbridge-downlink" },
		{ "statistics.interval.ms", "1000" },
		{ "queued.max.messages.kbytes", "8192" },
		{ "bootstrap.servers", k->bootstrap_servers },
	};
	const char *must[][2] = {
		{ "group.id", c->group },
		{ "enable.auto.commit", "false" },
		{ "enable.auto.offset.store", "false" },
		{ "enable.partition.eof", "false" },
		{ "auto.offset.reset", c->start_latest ? "latest" : "earliest" },
	};
	int rcode = MQB_OK;
	for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]) && !rcode; i++)
		rcode = conf_set(rc, kv[i][0], kv[i][1], e, c->line, errstr, errstr_size);
	for (size_t i = 0; i < k->properties_count && !rcode; i++)
		rcode = conf_set(rc, k->properties[i].key, k->properties[i].value, e,
				 k->properties[i].line, errstr, errstr_size);
	for (size_t i = 0; i < sizeof(must) / sizeof(must[0]) && !rcode; i++)
		rcode = conf_set(rc, must[i][0], must[i][1], e, c->line, errstr, errstr_size);
	if (rcode) {
		rd_kafka_conf_destroy(rc);
		return NULL;
	}
	rd_kafka_conf_set_opaque(rc, e);
	rd_kafka_conf_set_error_cb(rc, on_error);
	rd_kafka_conf_set_stats_cb(rc, on_stats);
	rd_kafka_conf_set_log_cb(rc, on_log);
	rd_kafka_conf_set_rebalance_cb(rc, on_rebalance);
	rd_kafka_conf_set_offset_commit_cb(rc, on_commit);
	return rc;
}

int mqb_dl__consumer_new(struct dl_entry *e, char *errstr, size_t errstr_size)
{
	char rderr[512];
	rd_kafka_conf_t *conf = consumer_conf(e, errstr, errstr_size);
	if (!conf)
		return MQB_ERR_CONFIG;
	e->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, rderr, sizeof(rderr));
	if (!e->rk) {
		rd_kafka_conf_destroy(conf);
		mqb_errstr_set(errstr, errstr_size, "%s:%d: kafka.downlink.[%zu]: librdkafka "
			       "refused the consumer configuration: %s",
			       e->dl->cfg->path ? e->dl->cfg->path : "<config>", e->conf->line,
			       e->idx, rderr);
		return MQB_ERR_CONFIG;
	}
	rd_kafka_poll_set_consumer(e->rk);
	rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(e->rk);
	if (q) {
		rd_kafka_queue_cb_event_enable(q, on_queue_event, e);
		rd_kafka_queue_destroy(q);
	}
	rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(sub, e->conf->topic, RD_KAFKA_PARTITION_UA);
	rd_kafka_resp_err_t err = rd_kafka_subscribe(e->rk, sub);
	rd_kafka_topic_partition_list_destroy(sub);
	if (err) {
		mqb_errstr_set(errstr, errstr_size, "kafka.downlink.[%zu]: subscribe to %s: %s",
			       e->idx, e->conf->topic, rd_kafka_err2str(err));
		return MQB_ERR_CONFIG;
	}
	return MQB_OK;
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
	part_reset(p, true);
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

/* Pause partitions that are full (held records) or all while MQTT is down. */
static void update_pauses(struct dl_entry *e)
{
	bool mqtt_up = atomic_load(&e->dl->mqtt_up);
	for (int32_t i = 0; i < e->nparts; i++) {
		struct dl_part *p = e->parts[i];
		if (!p || !p->assigned)
			continue;
		bool want = p->held.n > 0 || !mqtt_up;
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
void mqb_dl__close(struct dl_entry *e)
{
	if (!e->rk)
		return;
	if (atomic_load(&e->kafka_up))
		mqb_dl__commit(e, true);
	rd_kafka_consumer_close(e->rk);
	for (int32_t i = 0; i < e->nparts; i++)
		if (e->parts[i])
			part_reset(e->parts[i], false);
	rd_kafka_destroy(e->rk);
	e->rk = NULL;
}
