/*
 * kafka_checkpoint.c — group offset translation and checkpoints into Kafka
 * (kafka_checkpoint.h).
 */
#include "connectors/kafka/kafka_checkpoint.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include <librdkafka/rdkafka.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/groups/offsets.h"
#include "bridge/logging.h"
#include "connectors/kafka/kafka_conf.h"

#define CK_LOG "kafka.checkpoint"
#define CK_TIMEOUT_MS 10000

static const mqb_group_conf_t *group_conf(const mqb_config_t *cfg, const char *group)
{
	for (size_t i = 0; i < cfg->groups_count; i++)
		if (strcmp(cfg->groups[i].name, group) == 0)
			return &cfg->groups[i];
	return NULL;
}

static const char *forward_topic(const mqb_config_t *cfg, const char *stream)
{
	const mqb_kafka_conf_t *kc = mqb_kafka_conf(cfg);
	for (size_t i = 0; kc && i < kc->forward_count; i++)
		if (strcmp(kc->forward[i].stream, stream) == 0)
			return kc->forward[i].topic;
	return NULL;
}

void mqb_kafka_group_tr_free(mqb_kafka_group_tr_t *tr)
{
	if (!tr)
		return;
	free(tr->parts);
	memset(tr, 0, sizeof(*tr));
}

int mqb_kafka_group_translate(mqb_kafka_fwd_t *f, const mqb_config_t *cfg, const char *group,
			      mqb_kafka_group_tr_t *out, char *errstr, size_t errstr_size)
{
	memset(out, 0, sizeof(*out));
	const mqb_group_conf_t *gc = group ? group_conf(cfg, group) : NULL;
	if (!gc) {
		mqb_errstr_set(errstr, errstr_size, "no group %s", group ? group : "");
		return MQB_ERR_NOTFOUND;
	}
	out->stream = gc->stream;
	out->topic = forward_topic(cfg, gc->stream);
	if (!out->topic) {
		mqb_errstr_set(errstr, errstr_size, "group %s consumes stream %s, which is not "
			       "forwarded to Kafka (kafka.forward)", group, gc->stream);
		return MQB_ERR_STATE;
	}
	mqb_group_state_t gs;
	memset(&gs, 0, sizeof(gs));
	char why[256] = "";
	int rc = mqb_group_state_load(cfg->data_dir, group, &gs, NULL, why, sizeof(why));
	if (rc == MQB_ERR_NOTFOUND)
		return MQB_OK;          /* nothing committed yet */
	if (rc != MQB_OK) {
		mqb_errstr_set(errstr, errstr_size, "group %s: saved state unreadable: %s", group,
			       why);
		return rc == MQB_ERR_NOMEM ? rc : MQB_ERR_CORRUPT;
	}
	if (gs.n_parts) {
		out->parts = calloc(gs.n_parts, sizeof(*out->parts));
		if (!out->parts) {
			mqb_group_state_free(&gs);
			mqb_errstr_set(errstr, errstr_size, "out of memory");
			return MQB_ERR_NOMEM;
		}
	}
	for (size_t i = 0; i < gs.n_parts; i++) {
		mqb_kafka_group_tr_part_t *p = &out->parts[out->n_parts++];
		const char *t = NULL;
		p->partition = gs.parts[i].partition;
		p->committed = gs.parts[i].start;
		p->kafka_offset = -1;
		int r = mqb_kafka_fwd_translate(f, gc->stream, out->topic, p->partition,
						p->committed, &p->kafka_offset, &t);
		if (r == MQB_OK)
			p->status = "ok";
		else if (r == MQB_ERR_RANGE)
			p->status = "before_oldest_sync_pair";
		else
			p->status = "no_sync_pair";
		if (r != MQB_OK)
			p->kafka_offset = -1;
	}
	mqb_group_state_free(&gs);
	return MQB_OK;
}

/* ---- checkpointer ---- */

typedef struct ck_group {
	const char *name;
	int64_t last_ok_ms;          /* wall clock of the last checkpoint written, 0 none */
	uint64_t written, skipped_active, failed;
} ck_group_t;

struct mqb_kafka_ckpt {
	const mqb_config_t *cfg;
	mqb_kafka_fwd_t *f;
	mqb_metrics_t *metrics;
	int64_t interval_ms;
	rd_kafka_t *rk;              /* admin client (a producer handle) */
	ck_group_t *groups; size_t n_groups;
	pthread_mutex_t lock;        /* guards groups' counters and stop */
	pthread_cond_t cond;
	bool stop, started;
	atomic_bool stopping;        /* stop, readable without the lock */
	pthread_t thr;
};

/* Wait for the answer on q in short slices, so that stop is not held up by a broker
 * that does not answer (the request itself times out in librdkafka). NULL on timeout
 * or stop. */
static rd_kafka_event_t *await(mqb_kafka_ckpt_t *c, rd_kafka_queue_t *q)
{
	int64_t end = mqb_mono_ms() + CK_TIMEOUT_MS + 1000;
	while (!atomic_load(&c->stopping) && mqb_mono_ms() < end) {
		rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 200);
		if (ev)
			return ev;
	}
	return NULL;
}

/* Fetch group's committed offsets for the partitions of l (into l's offsets). */
static int kafka_group_committed(mqb_kafka_ckpt_t *c, rd_kafka_t *rk, const char *group,
				 rd_kafka_topic_partition_list_t *l)
{
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_ListConsumerGroupOffsets_t *req = rd_kafka_ListConsumerGroupOffsets_new(group, l);
	rd_kafka_ListConsumerGroupOffsets(rk, &req, 1, NULL, q);
	rd_kafka_ListConsumerGroupOffsets_destroy(req);
	rd_kafka_event_t *ev = await(c, q);
	int rc = MQB_ERR_CONN;
	if (ev && !rd_kafka_event_error(ev)) {
		size_t n = 0;
		const rd_kafka_group_result_t **gr = rd_kafka_ListConsumerGroupOffsets_result_groups(
			rd_kafka_event_ListConsumerGroupOffsets_result(ev), &n);
		if (n == 1 && !rd_kafka_group_result_error(gr[0])) {
			const rd_kafka_topic_partition_list_t *r = rd_kafka_group_result_partitions(gr[0]);
			for (int i = 0; i < l->cnt; i++) {
				l->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
				rd_kafka_topic_partition_t *x = r ? rd_kafka_topic_partition_list_find(
					r, l->elems[i].topic, l->elems[i].partition) : NULL;
				if (x && !x->err)
					l->elems[i].offset = x->offset;
			}
			rc = MQB_OK;
		}
	}
	if (ev)
		rd_kafka_event_destroy(ev);
	rd_kafka_queue_destroy(q);
	return rc;
}

static bool err_means_active(rd_kafka_resp_err_t e)
{
	return e == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID ||
	       e == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
	       e == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS;
}

/* Commit l into group. MQB_OK, MQB_ERR_STATE (the group is active), other errors. */
static int kafka_group_alter(mqb_kafka_ckpt_t *c, rd_kafka_t *rk, const char *group,
			     const rd_kafka_topic_partition_list_t *l, char *why, size_t why_size)
{
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_AlterConsumerGroupOffsets_t *req = rd_kafka_AlterConsumerGroupOffsets_new(group, l);
	rd_kafka_AlterConsumerGroupOffsets(rk, &req, 1, NULL, q);
	rd_kafka_AlterConsumerGroupOffsets_destroy(req);
	rd_kafka_event_t *ev = await(c, q);
	int rc = MQB_ERR_CONN;
	if (!ev) {
		mqb_errstr_set(why, why_size, "timed out");
	} else if (rd_kafka_event_error(ev)) {
		mqb_errstr_set(why, why_size, "%s", rd_kafka_event_error_string(ev));
	} else {
		size_t n = 0;
		const rd_kafka_group_result_t **gr = rd_kafka_AlterConsumerGroupOffsets_result_groups(
			rd_kafka_event_AlterConsumerGroupOffsets_result(ev), &n);
		const rd_kafka_error_t *ge = n == 1 ? rd_kafka_group_result_error(gr[0]) : NULL;
		rc = MQB_OK;
		if (n != 1) {
			rc = MQB_ERR_PROTO;
			mqb_errstr_set(why, why_size, "unexpected answer");
		} else if (ge) {
			rc = err_means_active(rd_kafka_error_code(ge)) ? MQB_ERR_STATE : MQB_ERR_CONN;
			mqb_errstr_set(why, why_size, "%s", rd_kafka_error_string(ge));
		} else {
			const rd_kafka_topic_partition_list_t *r = rd_kafka_group_result_partitions(gr[0]);
			for (int i = 0; r && i < r->cnt && rc == MQB_OK; i++)
				if (r->elems[i].err) {
					rc = err_means_active(r->elems[i].err) ? MQB_ERR_STATE
									       : MQB_ERR_CONN;
					mqb_errstr_set(why, why_size, "%s [%d]: %s", r->elems[i].topic,
						       r->elems[i].partition,
						       rd_kafka_err2str(r->elems[i].err));
				}
		}
	}
	if (ev)
		rd_kafka_event_destroy(ev);
	rd_kafka_queue_destroy(q);
	return rc;
}

static void checkpoint_group(mqb_kafka_ckpt_t *c, ck_group_t *g)
{
	mqb_kafka_group_tr_t tr;
	char why[512] = "";
	if (mqb_kafka_group_translate(c->f, c->cfg, g->name, &tr, why, sizeof(why)) != MQB_OK) {
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, CK_LOG, 60000, "group %s: %s", g->name, why);
		return;
	}
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(
		(int)(tr.n_parts ? tr.n_parts : 1));
	for (size_t i = 0; i < tr.n_parts; i++)
		if (tr.parts[i].kafka_offset >= 0)
			rd_kafka_topic_partition_list_add(l, tr.topic, tr.parts[i].partition);
	int outcome = 0;                /* 0 nothing to do, 1 written, 2 active, 3 failed */
	if (l->cnt > 0) {
		rd_kafka_topic_partition_list_t *cur = rd_kafka_topic_partition_list_copy(l);
		if (kafka_group_committed(c, c->rk, g->name, cur) != MQB_OK) {
			outcome = 3;
			mqb_errstr_set(why, sizeof(why), "cannot fetch the Kafka group's offsets");
		} else {
			/* only forward: keep the partitions whose translation is past the commit */
			rd_kafka_topic_partition_list_t *w = rd_kafka_topic_partition_list_new(l->cnt);
			for (size_t i = 0; i < tr.n_parts; i++) {
				if (tr.parts[i].kafka_offset < 0)
					continue;
				rd_kafka_topic_partition_t *x = rd_kafka_topic_partition_list_find(
					cur, tr.topic, tr.parts[i].partition);
				if (x && x->offset >= 0 && x->offset >= tr.parts[i].kafka_offset)
					continue;
				rd_kafka_topic_partition_list_add(w, tr.topic, tr.parts[i].partition)
					->offset = tr.parts[i].kafka_offset;
			}
			if (w->cnt == 0) {
				outcome = 1;     /* already there: the checkpoint is current */
			} else {
				int rc = kafka_group_alter(c, c->rk, g->name, w, why, sizeof(why));
				outcome = rc == MQB_OK ? 1 : rc == MQB_ERR_STATE ? 2 : 3;
				if (rc == MQB_OK)
					mqb_info(CK_LOG, "group %s: checkpoint of %d partition(s) of %s "
						 "written", g->name, w->cnt, tr.topic);
			}
			rd_kafka_topic_partition_list_destroy(w);
		}
		rd_kafka_topic_partition_list_destroy(cur);
	}
	rd_kafka_topic_partition_list_destroy(l);
	mqb_kafka_group_tr_free(&tr);
	pthread_mutex_lock(&c->lock);
	if (outcome == 1) {
		g->written++;
		g->last_ok_ms = mqb_now_ms();
	} else if (outcome == 2) {
		g->skipped_active++;
	} else if (outcome == 3) {
		g->failed++;
	}
	pthread_mutex_unlock(&c->lock);
	if (outcome == 2)
		mqb_debug(CK_LOG, "group %s: Kafka group has members, no checkpoint", g->name);
	if (outcome == 3)
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, CK_LOG, 60000, "group %s: checkpoint failed: %s",
				    g->name, why);
}

static void *ck_main(void *arg)
{
	mqb_kafka_ckpt_t *c = arg;
	pthread_mutex_lock(&c->lock);
	while (!c->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		int64_t ns = ts.tv_nsec + (c->interval_ms % 1000) * 1000000;
		ts.tv_sec += c->interval_ms / 1000 + ns / 1000000000;
		ts.tv_nsec = ns % 1000000000;
		pthread_cond_timedwait(&c->cond, &c->lock, &ts);
		if (c->stop)
			break;
		pthread_mutex_unlock(&c->lock);
		for (size_t i = 0; i < c->n_groups && !atomic_load(&c->stopping); i++)
			checkpoint_group(c, &c->groups[i]);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

static void ck_collect(mqb_metrics_emit_t *e, void *arg)
{
	mqb_kafka_ckpt_t *c = arg;
	int64_t now = mqb_now_ms();
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n_groups; i++) {
		ck_group_t *g = &c->groups[i];
		mqb_metrics_emit(e, "mqbridge_kafka_checkpoints_total", "Checkpoints written into "
				 "the Kafka consumer group (or found current)", "counter",
				 (double)g->written, "group", g->name, NULL);
		mqb_metrics_emit(e, "mqbridge_kafka_checkpoints_skipped_active_total",
				 "Checkpoints not written because the Kafka group has members",
				 "counter", (double)g->skipped_active, "group", g->name, NULL);
		mqb_metrics_emit(e, "mqbridge_kafka_checkpoint_failures_total",
				 "Checkpoints that failed (Kafka unreachable, ...)", "counter",
				 (double)g->failed, "group", g->name, NULL);
		mqb_metrics_emit(e, "mqbridge_kafka_checkpoint_age_seconds", "Seconds since the "
				 "last checkpoint written (-1: none yet)", "gauge",
				 g->last_ok_ms ? (double)(now - g->last_ok_ms) / 1000.0 : -1.0,
				 "group", g->name, NULL);
	}
	pthread_mutex_unlock(&c->lock);
}

static void ck_json(cJSON *section, void *arg)
{
	mqb_kafka_ckpt_t *c = arg;
	int64_t now = mqb_now_ms();
	cJSON *arr = cJSON_AddArrayToObject(section, "checkpoints");
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; arr && i < c->n_groups; i++) {
		ck_group_t *g = &c->groups[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "group", g->name);
		cJSON_AddNumberToObject(o, "written", (double)g->written);
		cJSON_AddNumberToObject(o, "skipped_active", (double)g->skipped_active);
		cJSON_AddNumberToObject(o, "failed", (double)g->failed);
		cJSON_AddNumberToObject(o, "age_ms", g->last_ok_ms ? (double)(now - g->last_ok_ms)
								 : -1.0);
		cJSON_AddItemToArray(arr, o);
	}
	pthread_mutex_unlock(&c->lock);
}

mqb_kafka_ckpt_t *mqb_kafka_ckpt_new(const mqb_config_t *cfg, mqb_kafka_fwd_t *f,
				     mqb_metrics_t *metrics, char *errstr, size_t errstr_size)
{
	const mqb_kafka_conf_t *kc = mqb_kafka_conf(cfg);
	if (!kc || !kc->enabled || !kc->sync_group_offsets)
		return NULL;
	mqb_kafka_ckpt_t *c = calloc(1, sizeof(*c));
	if (!c || !(c->groups = calloc(cfg->groups_count ? cfg->groups_count : 1,
				       sizeof(*c->groups)))) {
		free(c);
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		return NULL;
	}
	c->cfg = cfg;
	c->f = f;
	c->metrics = metrics;
	c->interval_ms = kc->sync_group_offsets_interval_ms;
	for (size_t i = 0; i < cfg->groups_count; i++)
		if (forward_topic(cfg, cfg->groups[i].stream))
			c->groups[c->n_groups++].name = cfg->groups[i].name;
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_cond_init(&c->cond, &ca);
	pthread_condattr_destroy(&ca);
	rd_kafka_conf_t *rc = mqb_kafka_conf_build(cfg, errstr, errstr_size);
	if (rc)
		c->rk = rd_kafka_new(RD_KAFKA_PRODUCER, rc, errstr, errstr_size);
	if (!c->rk) {
		if (rc)
			rd_kafka_conf_destroy(rc);
		mqb_kafka_ckpt_destroy(c);
		return NULL;
	}
	if (metrics) {
		mqb_metrics_add_collector(metrics, ck_collect, c);
		mqb_metrics_add_json(metrics, "kafka_checkpoints", ck_json, c);
	}
	return c;
}

int mqb_kafka_ckpt_start(mqb_kafka_ckpt_t *c)
{
	if (!c || c->started)
		return MQB_OK;
	if (pthread_create(&c->thr, NULL, ck_main, c))
		return MQB_ERR_NOMEM;
	c->started = true;
	return MQB_OK;
}

void mqb_kafka_ckpt_stop(mqb_kafka_ckpt_t *c)
{
	if (!c || !c->started)
		return;
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	atomic_store(&c->stopping, true);
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thr, NULL);
	c->started = false;
}

void mqb_kafka_ckpt_destroy(mqb_kafka_ckpt_t *c)
{
	if (!c)
		return;
	mqb_kafka_ckpt_stop(c);
	if (c->rk)
		rd_kafka_destroy(c->rk);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c->groups);
	free(c);
}
