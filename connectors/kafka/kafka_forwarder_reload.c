/*
 * kafka_forwarder_reload.c — kafka.forward entries changed live (mqb_kafka_fwd_reload()
 * in kafka_forwarder.h), and the cursors kept for entries not configured now.
 *
 * The caller posts a request; the forwarder thread applies it between produce rounds
 * (mqb_kafka__reload_poll), so no record is half-produced. Entries are matched by
 * (stream, topic); an old and a new entry left over with the same stream are a topic
 * change (paired in file order); the rest are removed or added:
 *  - added: cursors as at start (a cursor saved for this stream and topic, else the
 *    log start), metrics series, retention hold, a topic handle; checked against the
 *    topic's metadata before the first record goes out.
 *  - removed: its records in flight must be delivered first (else the reload is
 *    refused, nothing changed); its cursor is written to the journal and kept as a
 *    saved cursor (re-adding the entry continues there); its retention hold goes.
 *  - topic changed: the same drain, then the cursor stays and only the destination
 *    changes: nothing is resent, nothing skipped; records below the cursor stay in the
 *    old topic. Sync pairs (offset translation) start again in the new topic.
 *  - more partitions in the store for a forwarded stream (a reload grew it): the new
 *    partitions are forwarded from their start, after the topic's metadata is checked
 *    again (a topic with fewer partitions than the stream is refused, as at start).
 * Removed entries stay allocated (retired) until destroy; their metrics counters stay
 * at their last value (the registry removes nothing), the collector's gauges go.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/logging.h"
#include "connectors/kafka/kafka_fwd_int.h"

#define DRAIN_MS 5000                /* wait for deliveries of removed/changed entries */

struct kfwd_reload {
	const mqb_config_t *cfg;
	_Atomic int done;
	int rc;
	char why[512];
};

/* --- saved cursors ---------------------------------------------------------------- */

static struct ksaved *saved_find(mqb_kafka_fwd_t *f, const char *stream, const char *topic,
				 int32_t partition)
{
	for (size_t i = 0; i < f->nsaved; i++)
		if (f->saved[i].partition == partition && strcmp(f->saved[i].stream, stream) == 0 &&
		    strcmp(f->saved[i].topic, topic) == 0)
			return &f->saved[i];
	return NULL;
}

int mqb_kafka__saved_put(mqb_kafka_fwd_t *f, const char *stream, const char *topic,
			 int32_t partition, int64_t cursor)
{
	struct ksaved *s = saved_find(f, stream, topic, partition);
	if (s) {
		s->cursor = cursor;
		return MQB_OK;
	}
	struct ksaved *v = realloc(f->saved, (f->nsaved + 1) * sizeof(*v));
	if (!v)
		return MQB_ERR_NOMEM;
	f->saved = v;
	s = &v[f->nsaved];
	s->stream = strdup(stream);
	s->topic = strdup(topic);
	if (!s->stream || !s->topic) {
		free(s->stream);
		free(s->topic);
		return MQB_ERR_NOMEM;
	}
	s->partition = partition;
	s->cursor = cursor;
	f->nsaved++;
	return MQB_OK;
}

bool mqb_kafka__saved_take(mqb_kafka_fwd_t *f, const char *stream, const char *topic,
			   int32_t partition, int64_t *cursor)
{
	struct ksaved *s = saved_find(f, stream, topic, partition);
	if (!s)
		return false;
	*cursor = s->cursor;
	free(s->stream);
	free(s->topic);
	*s = f->saved[--f->nsaved];
	return true;
}

void mqb_kafka__saved_free(mqb_kafka_fwd_t *f)
{
	for (size_t i = 0; i < f->nsaved; i++) {
		free(f->saved[i].stream);
		free(f->saved[i].topic);
	}
	free(f->saved);
	f->saved = NULL;
	f->nsaved = 0;
}

/* --- the plan --------------------------------------------------------------------- */

struct plan {
	size_t nnew;
	int *from;                   /* per new entry: old index kept/changed, or -1 added */
	bool *changed;               /* per new entry: topic changed */
	bool *old_used;              /* per old entry */
	struct kstream **made;       /* per new entry: built for an added entry */
	rd_kafka_topic_t **rkt;      /* per new entry: handle for an added/changed entry */
	int32_t *grow;               /* per new entry: partitions in the store if more */
};

static void plan_free(mqb_kafka_fwd_t *f, struct plan *pl)
{
	for (size_t j = 0; j < pl->nnew; j++) {
		if (pl->rkt && pl->rkt[j])
			rd_kafka_topic_destroy(pl->rkt[j]);
		if (pl->made && pl->made[j]) {
			for (int32_t p = 0; p < pl->made[j]->nparts; p++)
				mqb_kafka__part_free(f, &pl->made[j]->parts[p]);
			mqb_kafka__stream_free(pl->made[j]);
		}
	}
	free(pl->from);
	free(pl->changed);
	free(pl->old_used);
	free(pl->made);
	free(pl->rkt);
	free(pl->grow);
}

static int plan_make(mqb_kafka_fwd_t *f, const mqb_kafka_conf_t *kc, struct plan *pl)
{
	size_t n = kc->forward_count, no = f->nstreams;
	pl->nnew = n;
	pl->from = calloc(n + 1, sizeof(*pl->from));
	pl->changed = calloc(n + 1, sizeof(*pl->changed));
	pl->old_used = calloc(no + 1, sizeof(*pl->old_used));
	pl->made = calloc(n + 1, sizeof(*pl->made));
	pl->rkt = calloc(n + 1, sizeof(*pl->rkt));
	pl->grow = calloc(n + 1, sizeof(*pl->grow));
	if (!pl->from || !pl->changed || !pl->old_used || !pl->made || !pl->rkt || !pl->grow)
		return MQB_ERR_NOMEM;
	for (size_t j = 0; j < n; j++) {          /* same stream and topic: kept */
		pl->from[j] = -1;
		for (size_t i = 0; i < no; i++)
			if (!pl->old_used[i] && strcmp(f->streams[i]->stream, kc->forward[j].stream) == 0 &&
			    strcmp(f->streams[i]->topic, kc->forward[j].topic) == 0) {
				pl->from[j] = (int)i;
				pl->old_used[i] = true;
				break;
			}
	}
	for (size_t j = 0; j < n; j++) {          /* same stream left over: topic changed */
		if (pl->from[j] >= 0)
			continue;
		for (size_t i = 0; i < no; i++)
			if (!pl->old_used[i] && strcmp(f->streams[i]->stream, kc->forward[j].stream) == 0) {
				pl->from[j] = (int)i;
				pl->changed[j] = true;
				pl->old_used[i] = true;
				break;
			}
	}
	return MQB_OK;
}

static int64_t entry_inflight(const struct kstream *ks)
{
	int64_t n = 0;
	for (int32_t p = 0; p < ks->nparts; p++)
		n += ks->parts[p].inflight;
	return n;
}

/* Deliveries of removed and changed entries land before anything changes. */
static int drain(mqb_kafka_fwd_t *f, const struct plan *pl, char *why, size_t why_size)
{
	int64_t deadline = mqb_mono_ms() + DRAIN_MS;
	for (;;) {
		const struct kstream *busy = NULL;
		for (size_t i = 0; i < f->nstreams && !busy; i++)
			if (!pl->old_used[i] && entry_inflight(f->streams[i]) > 0)
				busy = f->streams[i];
		for (size_t j = 0; j < pl->nnew && !busy; j++)
			if (pl->changed[j] && entry_inflight(f->streams[pl->from[j]]) > 0)
				busy = f->streams[pl->from[j]];
		if (!busy)
			return MQB_OK;
		if (mqb_mono_ms() >= deadline) {
			mqb_errstr_set(why, why_size, "kafka.forward: %" PRId64 " record(s) of "
				       "stream %s to topic %s still wait for Kafka's delivery "
				       "reports after %d ms (Kafka down?); forward entries not "
				       "changed, reload again later", entry_inflight(busy),
				       busy->stream, busy->topic, DRAIN_MS);
			return MQB_ERR_AGAIN;
		}
		rd_kafka_poll(f->rk, 20);
		mqb_kafka__state_flush(f, false);
	}
}

/* A handle for topic; its slot's entry is set when the reload commits. */
static rd_kafka_topic_t *topic_new(mqb_kafka_fwd_t *f, const char *topic, char *why,
				   size_t why_size)
{
	struct ktopic *kt = mqb_kafka__topic_slot(f, topic);
	if (!kt) {
		mqb_errstr_set(why, why_size, "out of memory");
		return NULL;
	}
	rd_kafka_topic_conf_t *tc = rd_kafka_default_topic_conf_dup(f->rk);
	if (tc)
		rd_kafka_topic_conf_set_opaque(tc, kt);
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(f->rk, topic, tc);
	if (!rkt)
		mqb_errstr_set(why, why_size, "kafka topic %s: %s", topic,
			       rd_kafka_err2str(rd_kafka_last_error()));
	return rkt;
}

/* Position parts [from, ks->nparts) as at start: a saved cursor, else the log start. */
static int parts_open(mqb_kafka_fwd_t *f, struct kstream *ks, int32_t from, char *why,
		      size_t why_size)
{
	for (int32_t p = from; p < ks->nparts; p++) {
		struct kpart *kp = &ks->parts[p];
		int64_t cur;
		if (mqb_kafka__part_init(f, ks, p, why, why_size) != MQB_OK)
			return MQB_ERR_NOMEM;
		pthread_mutex_lock(&f->lock);
		bool had = mqb_kafka__saved_take(f, ks->stream, ks->topic, p, &cur);
		pthread_mutex_unlock(&f->lock);
		if (had)
			kp->win.cursor = kp->persisted = cur;
		if (mqb_kafka__part_position(f, kp, why, why_size) != MQB_OK)
			return MQB_ERR_NOMEM;
		if (!had)
			kp->persisted = -1;   /* written to the journal at the next flush */
	}
	return MQB_OK;
}

static struct kstream *entry_new(mqb_kafka_fwd_t *f, const mqb_kafka_forward_conf_t *fc,
				 char *why, size_t why_size)
{
	struct kstream *ks = calloc(1, sizeof(*ks));
	if (!ks || !(ks->stream = strdup(fc->stream)) || !(ks->topic = strdup(fc->topic)))
		goto nomem;
	ks->f = f;
	ks->kafka_parts = -1;
	snprintf(ks->why, sizeof(ks->why), "waiting for the topic's metadata");
	ks->nparts = mqb_store_partition_count(f->st, ks->stream);
	if (ks->nparts < 1) {
		mqb_errstr_set(why, why_size, "kafka.forward: stream %s is not open in the "
			       "store", fc->stream);
		mqb_kafka__stream_free(ks);
		return NULL;
	}
	ks->parts = calloc((size_t)ks->nparts, sizeof(*ks->parts));
	if (!ks->parts)
		goto nomem;
	if (parts_open(f, ks, 0, why, why_size) != MQB_OK) {
		for (int32_t p = 0; p < ks->nparts; p++)
			mqb_kafka__part_free(f, &ks->parts[p]);
		mqb_kafka__stream_free(ks);
		return NULL;
	}
	return ks;
nomem:
	mqb_errstr_set(why, why_size, "out of memory");
	mqb_kafka__stream_free(ks);
	return NULL;
}

/* Everything that can fail, before anything changes. */
static int prepare(mqb_kafka_fwd_t *f, const mqb_kafka_conf_t *kc, struct plan *pl,
		   char *why, size_t why_size)
{
	for (size_t j = 0; j < pl->nnew; j++) {
		if (pl->from[j] < 0) {
			pl->made[j] = entry_new(f, &kc->forward[j], why, why_size);
			if (!pl->made[j])
				return MQB_ERR_CONFIG;
			pl->rkt[j] = topic_new(f, kc->forward[j].topic, why, why_size);
		} else {
			struct kstream *ks = f->streams[pl->from[j]];
			int32_t n = mqb_store_partition_count(f->st, ks->stream);
			if (n > ks->nparts)
				pl->grow[j] = n;
			if (!pl->changed[j])
				continue;
			pl->rkt[j] = topic_new(f, kc->forward[j].topic, why, why_size);
		}
		if (!pl->rkt[j])
			return MQB_ERR_CONFIG;
	}
	return MQB_OK;
}

static void entry_recheck(struct kstream *ks, const char *why)
{
	atomic_store(&ks->state, MQB_KAFKA_STREAM_UNCHECKED);
	atomic_store(&ks->kafka_parts, -1);
	ks->next_check_ms = 0;
	pthread_mutex_lock(&ks->f->lock);
	snprintf(ks->why, sizeof(ks->why), "%s", why);
	pthread_mutex_unlock(&ks->f->lock);
}

/* More partitions for a kept entry (slock held for writing). */
static void entry_grow(mqb_kafka_fwd_t *f, struct kstream *ks, int32_t n)
{
	char why[256];
	int32_t was = ks->nparts;
	struct kpart *v = calloc((size_t)n, sizeof(*v));
	if (!v) {
		mqb_error(MOD, "reload: stream %s: out of memory: its new partitions are not "
			  "forwarded until a restart", ks->stream);
		return;
	}
	memcpy(v, ks->parts, (size_t)was * sizeof(*v));
	for (int32_t p = 0; p < was; p++)     /* windows and syncs own heap buffers: moved */
		v[p].ks = ks;
	free(ks->parts);
	ks->parts = v;
	ks->nparts = n;
	if (parts_open(f, ks, was, why, sizeof(why)) != MQB_OK) {
		for (int32_t p = was; p < n; p++)
			mqb_kafka__part_free(f, &ks->parts[p]);
		memset(&ks->parts[was], 0, (size_t)(n - was) * sizeof(*v));
		ks->nparts = was;
		mqb_error(MOD, "reload: stream %s: %s: its new partitions are not forwarded "
			  "until a restart", ks->stream, why);
		return;
	}
	entry_recheck(ks, "partitions added: checking the topic's partition count");
	mqb_notice(MOD, "reload: forwarding stream %s partitions %d..%d to %s from their "
		   "start", ks->stream, was, n - 1, ks->topic);
}

/* The retention floor of every partition a removed entry read. */
static void floors_after_remove(mqb_kafka_fwd_t *f, const struct kstream *gone)
{
	for (int32_t p = 0; p < gone->nparts; p++) {
		struct kpart *other = NULL;
		for (size_t i = 0; i < f->nstreams && !other; i++)
			if (strcmp(f->streams[i]->stream, gone->stream) == 0 && p < f->streams[i]->nparts)
				other = &f->streams[i]->parts[p];
		if (other)
			mqb_kafka__floor_update(f, other);
		else
			mqb_partition_set_retention_floor(gone->parts[p].p, -1);
	}
}

static int apply(mqb_kafka_fwd_t *f, const mqb_config_t *cfg, char *why, size_t why_size)
{
	const mqb_kafka_conf_t *kc = mqb_kafka_conf(cfg);
	struct plan pl;
	struct kstream **next = NULL, **gone = NULL;
	size_t ngone = 0;
	bool same = true;
	int rc;

	memset(&pl, 0, sizeof(pl));
	if (!kc || !kc->enabled) {
		mqb_errstr_set(why, why_size, "the kafka section was removed: needs a restart");
		return MQB_ERR_CONFIG;
	}
	rc = plan_make(f, kc, &pl);
	if (rc != MQB_OK) {
		mqb_errstr_set(why, why_size, "out of memory");
		goto out;
	}
	same = pl.nnew == f->nstreams;
	for (size_t j = 0; j < pl.nnew; j++)
		if (pl.from[j] < 0 || pl.changed[j] ||
		    mqb_store_partition_count(f->st, f->streams[pl.from[j]]->stream) >
		    f->streams[pl.from[j]]->nparts)
			same = false;
	if (same)
		goto out;                     /* forward entries unchanged */
	if (!f->rk) {
		mqb_errstr_set(why, why_size, "kafka: no producer (recreating it after a fatal "
			       "error); reload again later");
		rc = MQB_ERR_AGAIN;
		goto out;
	}
	if ((rc = drain(f, &pl, why, why_size)) != MQB_OK ||
	    (rc = prepare(f, kc, &pl, why, why_size)) != MQB_OK)
		goto out;
	next = calloc(pl.nnew + 1, sizeof(*next));
	gone = calloc(f->nstreams + 1, sizeof(*gone));
	struct kstream **ret = realloc(f->retired, (f->nretired + f->nstreams + 1) * sizeof(*ret));
	char **garb = realloc(f->garbage, (f->ngarbage + pl.nnew + 1) * sizeof(*garb));
	if (ret)
		f->retired = ret;
	if (garb)
		f->garbage = garb;
	if (!next || !gone || !ret || !garb) {
		mqb_errstr_set(why, why_size, "out of memory");
		rc = MQB_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < f->nstreams; i++)
		if (!pl.old_used[i])
			gone[ngone++] = f->streams[i];
	/* removed entries: final cursors into the journal, then saved */
	mqb_kafka__state_flush(f, true);
	pthread_mutex_lock(&f->lock);
	for (size_t g = 0; g < ngone; g++)
		for (int32_t p = 0; p < gone[g]->nparts; p++)
			if (mqb_kafka__saved_put(f, gone[g]->stream, gone[g]->topic, p,
						 gone[g]->parts[p].win.cursor) != MQB_OK)
				mqb_warn(MOD, "reload: out of memory: %s [%d] cursor kept in the "
					 "journal only until its next compaction", gone[g]->stream, p);
	pthread_mutex_unlock(&f->lock);

	pthread_rwlock_wrlock(&f->slock);
	for (struct ktopic *kt = f->topics; kt; kt = kt->next)
		kt->ks = NULL;             /* set again below for every entry */
	for (size_t j = 0; j < pl.nnew; j++) {
		struct kstream *ks;
		if (pl.from[j] < 0) {
			ks = next[j] = pl.made[j];
			pl.made[j] = NULL;
			ks->rkt = pl.rkt[j];
			pl.rkt[j] = NULL;
			mqb_notice(MOD, "reload: forwarding stream %s to topic %s added", ks->stream,
				   ks->topic);
			continue;
		}
		ks = next[j] = f->streams[pl.from[j]];
		if (pl.changed[j]) {
			char *old = ks->topic, *nt = strdup(kc->forward[j].topic);
			if (!nt) {
				mqb_error(MOD, "reload: out of memory: stream %s stays on topic %s",
					  ks->stream, old);
			} else {
				f->garbage[f->ngarbage++] = old;
				ks->topic = nt;
				rd_kafka_topic_destroy(ks->rkt);
				ks->rkt = pl.rkt[j];
				pl.rkt[j] = NULL;
				pthread_mutex_lock(&f->lock);
				for (int32_t p = 0; p < ks->nparts; p++) {
					mqb_fwd_syncs_free(&ks->parts[p].syncs);
					mqb_fwd_syncs_init(&ks->parts[p].syncs,
							   f->kc->sync_interval_offsets);
					ks->parts[p].persisted = -1;  /* cursor under the new topic */
				}
				pthread_mutex_unlock(&f->lock);
				entry_recheck(ks, "topic changed: waiting for the topic's metadata");
				mqb_notice(MOD, "reload: stream %s now forwarded to topic %s (was %s); "
					   "continuing at its cursor: records before it stay in %s",
					   ks->stream, nt, old, old);
			}
		}
		if (pl.grow[j])
			entry_grow(f, ks, pl.grow[j]);
	}
	for (size_t j = 0; j < pl.nnew; j++) {
		struct ktopic *kt = mqb_kafka__topic_slot(f, next[j]->topic);  /* exists */
		if (kt)
			kt->ks = next[j];
	}
	for (size_t g = 0; g < ngone; g++) {
		atomic_store(&gone[g]->state, MQB_KAFKA_STREAM_UNCHECKED);
		f->retired[f->nretired++] = gone[g];
	}
	free(f->streams);
	f->streams = next;
	f->nstreams = pl.nnew;
	next = NULL;
	pthread_rwlock_unlock(&f->slock);

	for (size_t g = 0; g < ngone; g++) {
		if (f->kc->block_on_backlog)
			floors_after_remove(f, gone[g]);
		rd_kafka_topic_destroy(gone[g]->rkt);   /* drained: no report refers to it */
		gone[g]->rkt = NULL;
		mqb_notice(MOD, "reload: forwarding stream %s to topic %s removed; its cursor is "
			   "kept (adding the entry again continues there)", gone[g]->stream,
			   gone[g]->topic);
	}
	for (size_t i = 0; f->kc->block_on_backlog && i < f->nstreams; i++)
		for (int32_t p = 0; p < f->streams[i]->nparts; p++)
			mqb_kafka__floor_update(f, &f->streams[i]->parts[p]);
	mqb_kafka__state_flush(f, true);
	rc = MQB_OK;
out:
	free(next);
	free(gone);
	plan_free(f, &pl);
	return rc;
}

void mqb_kafka__reload_poll(mqb_kafka_fwd_t *f)
{
	struct kfwd_reload *rq = atomic_exchange(&f->reload_req, NULL);
	if (!rq)
		return;
	rq->rc = apply(f, rq->cfg, rq->why, sizeof(rq->why));
	atomic_store(&rq->done, 1);
}

int mqb_kafka_fwd_reload(mqb_kafka_fwd_t *f, const mqb_config_t *new_cfg, int timeout_ms,
			 char *why, size_t why_size)
{
	const struct timespec tick = { 0, 5 * 1000 * 1000 };
	int64_t deadline = mqb_mono_ms() + timeout_ms;
	struct kfwd_reload *rq;
	int rc;

	if (!f || !new_cfg) {
		mqb_errstr_set(why, why_size, "kafka: no forwarder");
		return MQB_ERR_INVAL;
	}
	if (!f->started || f->joined)          /* no thread: apply here */
		return f->rk ? apply(f, new_cfg, why, why_size) : MQB_ERR_STATE;
	rq = calloc(1, sizeof(*rq));
	if (!rq) {
		mqb_errstr_set(why, why_size, "out of memory");
		return MQB_ERR_NOMEM;
	}
	rq->cfg = new_cfg;
	atomic_store(&f->reload_req, rq);
	for (;;) {
		struct kfwd_reload *mine = rq;
		if (atomic_load(&rq->done))
			break;
		/* once the thread took it, it finishes within DRAIN_MS: wait for that */
		if (mqb_mono_ms() >= deadline &&
		    atomic_compare_exchange_strong(&f->reload_req, &mine, NULL)) {
			mqb_errstr_set(why, why_size, "kafka: the forwarder thread did not take "
				       "the reload within %d ms", timeout_ms);
			free(rq);
			return MQB_ERR_AGAIN;
		}
		nanosleep(&tick, NULL);
	}
	rc = rq->rc;
	if (rc != MQB_OK)
		mqb_errstr_set(why, why_size, "%s", rq->why);
	free(rq);
	return rc;
}
