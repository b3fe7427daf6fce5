/*
 * pipeline.c — messages -> routed, partitioned, batched records (see pipeline.h):
 * the per-message path and construction. Batches and appends: pipeline_batch.c;
 * counters and metrics: pipeline_stats.c.
 */
#include "bridge/ingest/pipeline.h"
#include "bridge/ingest/pipeline_int.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/err.h"
#include "bridge/logging.h"
#include "bridge/store/batch.h"

/* --- the message path (source thread) ---------------------------------------------- */

int mqb_pipeline_route(const mqb_pipeline_t *p, const char *topic)
{
	return mqb_router_match(p->router, topic);
}

static const char *route_name(const mqb_pipeline_t *p, int idx)
{
	const mqb_route_conf_t *rc = &p->cfg->routes[idx];

	return rc->name ? rc->name : rc->filter;
}

/* The partition of m on route idx, or a rejection (counted and logged). */
static int pick_partition(mqb_pipeline_t *p, const mqb_pipeline_msg_t *m, int idx,
			  char *key, size_t *key_len, ssize_t *klen, struct pl_part **out)
{
	struct pl_route *rt = &p->routes[idx];
	struct pl_stream *st = &p->streams[rt->stream];
	int32_t part;
	int rc;

	if (rt->kt) {
		rc = mqb_keytmpl_render(rt->kt, m->topic, key, PL_KEY_MAX, key_len);
		if (rc != MQB_OK) {
			atomic_fetch_add(&p->key_template, 1);
			mqb_counter_inc(p->m_rej_key);
			MQB_LOG_RATELIMITED(MQB_LOG_WARN, PL_MOD, 10000,
					    "key template of route %s cannot be filled from topic "
					    "\"%.200s\" (%s): message rejected",
					    route_name(p, idx), m->topic, mqb_strerror(rc));
			return MQB_PIPELINE_KEY_TEMPLATE;
		}
		*klen = (ssize_t)*key_len;
		part = mqb_partition_for_key(key, *key_len, st->nparts);
	} else {
		part = mqb_sticky_partition(&st->sticky);
		st->keyless_used = true;
	}
	*out = &st->parts[part];
	return MQB_OK;
}

/* The whole record as the batch codec writes it must fit max_record_bytes and a batch
 * of its stream alone: else rejected "too_large" (and lost, when acknowledged). */
static int check_size(mqb_pipeline_t *p, const mqb_pipeline_msg_t *m, const char *key,
		      ssize_t klen, const struct pl_part *pt)
{
	const struct pl_stream *st = &p->streams[pt->stream];
	mqb_record_t rec;
	size_t size;

	memset(&rec, 0, sizeof rec);
	rec.key = klen >= 0 ? key : NULL;
	rec.key_len = klen;
	rec.value = m->payload;
	rec.value_len = (ssize_t)m->payload_len;
	rec.headers = m->header_count ? m->headers : NULL;
	rec.header_count = m->header_count;
	size = mqb_batch_record_size(&rec);
	if (size && (int64_t)size <= p->max_record_bytes && size <= st->max_rec)
		return MQB_OK;
	mqb_pipeline__count_too_large(p);
	MQB_LOG_RATELIMITED(MQB_LOG_WARN, PL_MOD, 10000,
			    "message on \"%.200s\" makes a record of %zu bytes (payload %zu, "
			    "%zu headers), over the limit of %lld (max_message_bytes) or %zu "
			    "(stream %s): %s", m->topic, size, m->payload_len, m->header_count,
			    (long long)p->max_record_bytes, st->max_rec, st->name,
			    p->acked_before_submit ? "already acknowledged, lost" : "rejected");
	return MQB_PIPELINE_TOO_LARGE;
}

int mqb_pipeline_submit(mqb_pipeline_t *p, const mqb_pipeline_msg_t *m)
{
	struct pl_part *pt;
	char key[PL_KEY_MAX];
	size_t key_len = 0;
	ssize_t klen = -1;
	int idx = m->route, rc;

	if (idx < 0 || (size_t)idx >= p->nroutes)
		idx = mqb_router_match(p->router, m->topic);
	if (idx < 0) {
		atomic_fetch_add(&p->no_route, 1);
		mqb_counter_inc(p->m_rej_no_route);
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, PL_MOD, 10000,
				    "no route matches topic \"%.200s\": message rejected", m->topic);
		return MQB_PIPELINE_NO_ROUTE;
	}
	atomic_fetch_add(&p->received, 1);
	mqb_counter_inc(p->routes[idx].m_received);
	rc = pick_partition(p, m, idx, key, &key_len, &klen, &pt);
	if (rc != MQB_OK)
		return rc;
	rc = check_size(p, m, key, klen, pt);
	if (rc != MQB_OK)
		return rc;
	if (mqb_pipeline__part_add(pt, m, key, klen) != MQB_OK) {
		/* out of memory: nothing else can hold it */
		atomic_fetch_add(&p->store_error, 1);
		mqb_counter_inc(p->m_rej_store);
		MQB_LOG_RATELIMITED(MQB_LOG_ERROR, PL_MOD, 10000,
				    "out of memory buffering a message on \"%.200s\": lost",
				    m->topic);
		return MQB_PIPELINE_STORE_ERROR;
	}
	atomic_fetch_add(&p->pending, 1);
	if (pt->nrec - pt->first == 1)
		mqb_pipeline__part_opened(p, pt);
	if (p->linger_us && pt->bytes >= p->linger_bytes)
		p->linger_due = true;
	mqb_pipeline__mark_dirty(p, pt);
	if (!p->blocked && (pt->bytes >= p->streams[pt->stream].flush_bytes ||
			    pt->nrec >= PL_BATCH_RECS_MAX)) {
		if (mqb_pipeline__part_flush(p, pt) != MQB_OK)
			mqb_pipeline__flush_dirty(p, true);  /* records the failure, pauses, schedules the retry */
	}
	return MQB_OK;
}

/* --- construction ------------------------------------------------------------------ */

static int streams_init(mqb_pipeline_t *p, char *errstr, size_t errstr_size)
{
	const mqb_config_t *cfg = p->cfg;
	size_t i, j, total_parts = 0;

	p->nstreams = cfg->streams_count;
	p->streams = calloc(p->nstreams ? p->nstreams : 1, sizeof *p->streams);
	if (!p->streams)
		goto nomem;
	for (i = 0; i < p->nstreams; i++) {
		struct pl_stream *st = &p->streams[i];
		const mqb_stream_conf_t *sc = &cfg->streams[i];
		int32_t np = mqb_store_partition_count(p->store, sc->name);

		st->name = sc->name;
		if (np < 1) {
			mqb_errstr_set(errstr, errstr_size, "ingest: stream %s is not open in the store",
				       sc->name);
			return MQB_ERR_NOTFOUND;
		}
		st->nparts = np;
		st->parts = calloc((size_t)np, sizeof *st->parts);
		if (!st->parts)
			goto nomem;
		for (j = 0; j < (size_t)np; j++) {
			st->parts[j].p = mqb_store_partition(p->store, sc->name, (int32_t)j);
			st->parts[j].stream = (int)i;
			st->parts[j].id = (int32_t)j;
			if (!st->parts[j].p) {
				mqb_errstr_set(errstr, errstr_size, "ingest: %s-%zu missing in the store",
					       sc->name, j);
				return MQB_ERR_NOTFOUND;
			}
		}
		total_parts += (size_t)np;
		st->flush_bytes = PL_BATCH_BYTES_MAX;
		if (sc->opts.max_batch_bytes > 0 &&
		    (size_t)sc->opts.max_batch_bytes / 2 < st->flush_bytes)
			st->flush_bytes = (size_t)sc->opts.max_batch_bytes / 2;
		/* the store refuses a batch over max_batch_bytes (-1: MQB_BATCH_MAX_SIZE) */
		st->max_rec = (size_t)(sc->opts.max_batch_bytes > 0 &&
				       sc->opts.max_batch_bytes < MQB_BATCH_MAX_SIZE
				       ? sc->opts.max_batch_bytes : MQB_BATCH_MAX_SIZE);
		st->max_rec = st->max_rec > MQB_BATCH_HDR_SIZE ? st->max_rec - MQB_BATCH_HDR_SIZE : 0;
		mqb_sticky_init(&st->sticky, np, 0);
	}
	/* room for every partition: mark_dirty never allocates */
	if (mqb_pipeline__grow((void **)&p->dirty, &p->dirty_cap, total_parts + 1,
			       sizeof *p->dirty) != 0)
		goto nomem;
	return MQB_OK;
nomem:
	mqb_errstr_set(errstr, errstr_size, "out of memory");
	return MQB_ERR_NOMEM;
}

static int routes_init(mqb_pipeline_t *p, char *errstr, size_t errstr_size)
{
	const mqb_config_t *cfg = p->cfg;
	size_t i;

	p->nroutes = cfg->routes_count;
	p->routes = calloc(p->nroutes ? p->nroutes : 1, sizeof *p->routes);
	if (!p->routes) {
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		return MQB_ERR_NOMEM;
	}
	for (i = 0; i < p->nroutes; i++) {
		const mqb_route_conf_t *rc = &cfg->routes[i];
		struct pl_route *rt = &p->routes[i];

		rt->stream = rc->stream_index >= 0 ? rc->stream_index
						   : mqb_config_stream_index(cfg, rc->stream);
		if (rt->stream < 0 || (size_t)rt->stream >= p->nstreams) {
			mqb_errstr_set(errstr, errstr_size, "ingest: route %zu names unknown stream %s",
				       i, rc->stream);
			return MQB_ERR_CONFIG;
		}
		rt->kt = mqb_router_keytmpl(p->router, (int)i);
	}
	return MQB_OK;
}

mqb_pipeline_t *mqb_pipeline_new(const mqb_pipeline_opts_t *opts, char *errstr,
				 size_t errstr_size)
{
	mqb_pipeline_t *p;

	if (!opts || !opts->cfg || !opts->store) {
		mqb_errstr_set(errstr, errstr_size, "ingest: no configuration or store");
		return NULL;
	}
	p = calloc(1, sizeof *p);
	if (!p) {
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		return NULL;
	}
	p->cfg = opts->cfg;
	p->store = opts->store;
	p->metrics = opts->metrics;
	p->pause = opts->pause;
	p->on_stored = opts->on_stored;
	p->arg = opts->arg;
	p->retry_ms = PL_RETRY_MIN_MS;
	p->max_record_bytes = opts->max_record_bytes > 0 ? opts->max_record_bytes : (1 << 20);
	p->acked_before_submit = opts->acked_before_submit;
	p->linger_us = opts->linger_ms > 0 ? (int64_t)opts->linger_ms * 1000 : 0;
	p->linger_bytes = opts->linger_bytes ? opts->linger_bytes : PL_LINGER_BYTES;
	p->router = mqb_router_from_config(p->cfg, errstr, errstr_size);
	if (!p->router || streams_init(p, errstr, errstr_size) != MQB_OK ||
	    routes_init(p, errstr, errstr_size) != MQB_OK) {
		mqb_pipeline_destroy(p);
		return NULL;
	}
	if (p->metrics)
		mqb_pipeline__metrics_init(p);
	return p;
}

void mqb_pipeline_destroy(mqb_pipeline_t *p)
{
	size_t i;
	int32_t j;

	if (!p)
		return;
	mqb_router_destroy(p->router);
	for (i = 0; i < p->nstreams; i++) {
		struct pl_stream *st = &p->streams[i];

		for (j = 0; st->parts && j < st->nparts; j++) {
			free(st->parts[j].arena);
			free(st->parts[j].recs);
			free(st->parts[j].hdrs);
		}
		free(st->parts);
	}
	free(p->streams);
	free(p->routes);
	free(p->dirty);
	free(p->out);
	free(p->outh);
	free(p);
}
