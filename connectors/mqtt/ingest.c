/*
 * ingest.c — MQTT messages -> routed, partitioned, batched records (see ingest.h).
 */
#include "connectors/mqtt/ingest.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/keytmpl.h"
#include "bridge/logging.h"
#include "bridge/partitioner.h"
#include "bridge/router.h"

#define ING_MOD "ingest"
#define ING_KEY_MAX 4096              /* longest rendered key */
#define ING_BATCH_BYTES_MAX (1 << 20) /* flush a partition's batch at this size */
#define ING_BATCH_RECS_MAX 10000
#define ING_BURST_LINGER_US 500      /* fewer, larger batches under load */
#define ING_BURST_QOS0 1000          /* messages per all-QoS 0 burst */
#define ING_RETRY_MIN_MS 50
#define ING_RETRY_MAX_MS 1000

/* Pending records keep offsets into their partition's arena (it may move). */
struct pend_rec {
	int64_t ts;
	size_t key_off;
	ssize_t key_len;
	size_t val_off, val_len;
	size_t hdr_first, hdr_count;
};

struct pend_hdr {
	size_t key_off, key_len, val_off;
	ssize_t val_len;
};

struct ing_part {
	mqb_partition_t *p;
	int stream;
	int32_t id;
	uint8_t *arena;
	size_t arena_len, arena_cap;
	struct pend_rec *recs;
	size_t nrec, rec_cap, first;     /* recs[first..nrec) are not stored yet */
	struct pend_hdr *hdrs;
	size_t nhdr, hdr_cap;
	size_t bytes;                    /* approximate encoded size */
	bool dirty;
};

struct ing_stream {
	const char *name;
	int32_t nparts;
	struct ing_part *parts;
	mqb_sticky_t sticky;
	bool keyless_used;
	size_t flush_bytes;
	mqb_counter_t *m_stored, *m_bytes;
};

struct ing_route {
	int stream;
	uint32_t sub_id;                 /* subscription identifier of this route's filter */
	const mqb_keytmpl_t *kt;
	mqb_counter_t *m_received;
};

struct mqb_ingest {
	const mqb_config_t *cfg;
	mqb_store_t *store;
	mqb_metrics_t *metrics;
	mqb_router_t *router;
	mqb_mqtt_session_t *session;
	struct ing_route *routes;
	size_t nroutes;
	struct ing_stream *streams;
	size_t nstreams;
	struct ing_part **dirty;         /* partitions with pending records */
	size_t ndirty, dirty_cap;
	mqb_record_t *out;               /* scratch for appends */
	mqb_rec_header_t *outh;
	size_t out_cap, outh_cap;
	int64_t max_message_bytes;
	mqb_ingest_stored_fn *stored_cb;
	void *stored_arg;

	/* loss window: from reading (and so acknowledging) the first message of a burst
	 * to the append that stores it */
	int64_t window_start_us;
	_Atomic uint64_t window_max_us, window_sum_us, window_count, window_max_records;

	/* back-pressure */
	bool blocked;
	int64_t retry_at_ms, retry_ms;
	_Atomic int64_t paused_since_ms;   /* read by the stats collector */

	pthread_t thread;
	bool thread_started;
	atomic_bool stop;
	atomic_bool stopped;
	int stop_timeout_ms;
	int stop_rc;

	/* counters (atomics: read by the stats thread) */
	_Atomic uint64_t received, stored, stored_bytes, batches, no_route, too_large,
		key_template, store_error, duplicates, store_retries, pending, paused_ms;
	atomic_bool paused, subscribed, connected;
	_Atomic int64_t last_turn_ms;    /* monotonic: the thread's last loop turn */
	mqb_counter_t *m_rej_no_route, *m_rej_too_large, *m_rej_key, *m_rej_store;
};

/* --- pending batches --------------------------------------------------------------- */

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t nc;
	void *np;

	if (need <= *cap)
		return 0;
	nc = *cap ? *cap : 16;
	while (nc < need)
		nc *= 2;
	np = realloc(*p, nc * elem);
	if (!np)
		return -1;
	*p = np;
	*cap = nc;
	return 0;
}

static int arena_put(struct ing_part *pt, const void *data, size_t len, size_t *off)
{
	if (grow((void **)&pt->arena, &pt->arena_cap, pt->arena_len + len + 1, 1) != 0)
		return -1;
	*off = pt->arena_len;
	if (len)
		memcpy(pt->arena + pt->arena_len, data, len);
	pt->arena_len += len;
	return 0;
}

static int hdr_put(struct ing_part *pt, const char *key, const void *val, ssize_t val_len)
{
	struct pend_hdr *h;
	size_t klen = strlen(key);

	if (grow((void **)&pt->hdrs, &pt->hdr_cap, pt->nhdr + 1, sizeof *pt->hdrs) != 0)
		return -1;
	h = &pt->hdrs[pt->nhdr];
	h->key_len = klen;
	h->val_len = val_len;
	if (arena_put(pt, key, klen, &h->key_off) != 0 ||
	    arena_put(pt, val, val_len > 0 ? (size_t)val_len : 0, &h->val_off) != 0)
		return -1;
	pt->nhdr++;
	pt->bytes += klen + (val_len > 0 ? (size_t)val_len : 0) + 6;
	return 0;
}

static void part_reset(struct ing_part *pt)
{
	pt->nrec = pt->first = pt->nhdr = pt->arena_len = pt->bytes = 0;
}

/* Append msg to pt's pending batch. On failure the partial record is rolled back. */
static int part_add(struct ing_part *pt, const mqb_mqtt_msg_t *m, const char *key,
		    ssize_t key_len)
{
	static const char *const qos_str[] = { "0", "1", "2" };
	size_t nrec0 = pt->nrec, nhdr0 = pt->nhdr, arena0 = pt->arena_len, bytes0 = pt->bytes;
	struct pend_rec *r;
	size_t i;

	if (grow((void **)&pt->recs, &pt->rec_cap, pt->nrec + 1, sizeof *pt->recs) != 0)
		return MQB_ERR_NOMEM;
	r = &pt->recs[pt->nrec];
	r->ts = m->arrival_ms;
	r->key_len = key_len;
	r->hdr_first = pt->nhdr;
	if (arena_put(pt, key, key_len > 0 ? (size_t)key_len : 0, &r->key_off) != 0 ||
	    arena_put(pt, m->payload, m->payload_len, &r->val_off) != 0)
		goto nomem;
	r->val_len = m->payload_len;
	if (hdr_put(pt, "mqtt.topic", m->topic, (ssize_t)strlen(m->topic)) != 0 ||
	    hdr_put(pt, "mqtt.qos", qos_str[m->qos < 0 ? 0 : m->qos > 2 ? 2 : m->qos], 1) != 0)
		goto nomem;
	if (m->retain && hdr_put(pt, "mqtt.retain", "1", 1) != 0)
		goto nomem;
	if (m->content_type &&
	    hdr_put(pt, "mqtt.content_type", m->content_type,
		    (ssize_t)strlen(m->content_type)) != 0)
		goto nomem;
	if (m->response_topic &&
	    hdr_put(pt, "mqtt.response_topic", m->response_topic,
		    (ssize_t)strlen(m->response_topic)) != 0)
		goto nomem;
	if (m->correlation_data &&
	    hdr_put(pt, "mqtt.correlation_data", m->correlation_data,
		    (ssize_t)m->correlation_len) != 0)
		goto nomem;
	for (i = 0; i < m->user_prop_count; i++)
		if (hdr_put(pt, m->user_props[i].name, m->user_props[i].value,
			    (ssize_t)strlen(m->user_props[i].value)) != 0)
			goto nomem;
	/* re-fetch: hdr_put may not move recs, but keep it obviously right */
	r = &pt->recs[pt->nrec];
	r->hdr_count = pt->nhdr - r->hdr_first;
	pt->nrec++;
	pt->bytes += 24 + (key_len > 0 ? (size_t)key_len : 0) + m->payload_len;
	return MQB_OK;

nomem:
	pt->nrec = nrec0;
	pt->nhdr = nhdr0;
	pt->arena_len = arena0;
	pt->bytes = bytes0;
	return MQB_ERR_NOMEM;
}

/* Append pt's pending records; splits on MQB_ERR_TOOBIG. MQB_OK when all stored. */
static int part_flush(mqb_ingest_t *ing, struct ing_part *pt)
{
	struct ing_stream *st = &ing->streams[pt->stream];
	size_t n = pt->nrec - pt->first, nh = 0, i, j, pos, chunk_max;
	int rc = MQB_OK;

	if (n == 0)
		return MQB_OK;
	if (grow((void **)&ing->out, &ing->out_cap, n, sizeof *ing->out) != 0 ||
	    grow((void **)&ing->outh, &ing->outh_cap, pt->nhdr, sizeof *ing->outh) != 0)
		return MQB_ERR_NOMEM;
	for (i = 0; i < pt->nhdr; i++) {
		struct pend_hdr *h = &pt->hdrs[i];

		ing->outh[i].key = (const char *)pt->arena + h->key_off;
		ing->outh[i].key_len = h->key_len;
		ing->outh[i].value = pt->arena + h->val_off;
		ing->outh[i].value_len = h->val_len;
	}
	for (i = 0; i < n; i++) {
		struct pend_rec *r = &pt->recs[pt->first + i];
		mqb_record_t *o = &ing->out[i];

		memset(o, 0, sizeof *o);
		o->timestamp_ms = r->ts;
		o->key = r->key_len >= 0 ? pt->arena + r->key_off : NULL;
		o->key_len = r->key_len;
		o->value = pt->arena + r->val_off;
		o->value_len = (ssize_t)r->val_len;
		o->headers = r->hdr_count ? &ing->outh[r->hdr_first] : NULL;
		o->header_count = r->hdr_count;
		nh += r->hdr_count;
	}
	(void)nh;

	pos = 0;
	chunk_max = n;
	while (pos < n) {
		size_t chunk = n - pos < chunk_max ? n - pos : chunk_max;
		uint64_t bytes = 0;

		rc = mqb_partition_append(pt->p, &ing->out[pos], chunk, NULL);
		if (rc == MQB_OK) {
			for (j = 0; j < chunk; j++)
				bytes += (uint64_t)ing->out[pos + j].value_len;
			atomic_fetch_add(&ing->stored, chunk);
			atomic_fetch_add(&ing->stored_bytes, bytes);
			atomic_fetch_add(&ing->batches, 1);
			atomic_fetch_sub(&ing->pending, chunk);
			mqb_counter_add(st->m_stored, chunk);
			mqb_counter_add(st->m_bytes, bytes);
			if (ing->stored_cb)
				ing->stored_cb(ing->stored_arg, &ing->out[pos], chunk);
			pos += chunk;
			continue;
		}
		if (rc == MQB_ERR_TOOBIG && chunk > 1) {
			chunk_max = chunk / 2;
			continue;
		}
		if (rc == MQB_ERR_TOOBIG) {
			/* one record the store can never take: it cannot be kept anywhere */
			atomic_fetch_add(&ing->store_error, 1);
			atomic_fetch_sub(&ing->pending, 1);
			mqb_counter_inc(ing->m_rej_store);
			MQB_LOG_RATELIMITED(MQB_LOG_ERROR, ING_MOD, 10000,
					    "record of %zd bytes too large for stream %s "
					    "(max_batch_bytes): rejected", ing->out[pos].value_len,
					    st->name);
			pos++;
			rc = MQB_OK;
			continue;
		}
		break;
	}
	if (pos == n) {
		part_reset(pt);
		return MQB_OK;
	}
	pt->first += pos;
	return rc;
}

static void ing_set_paused(mqb_ingest_t *ing, bool on)
{
	int64_t now = mqb_mono_ms();

	if (on && !atomic_load(&ing->paused)) {
		atomic_store(&ing->paused_since_ms, now);
		atomic_store(&ing->paused, true);
		mqb_mqtt_session_pause_reading(ing->session);
	} else if (!on && atomic_load(&ing->paused)) {
		atomic_fetch_add(&ing->paused_ms, (uint64_t)(now - atomic_load(&ing->paused_since_ms)));
		atomic_store(&ing->paused, false);
		mqb_mqtt_session_resume_reading(ing->session);
	}
}

/* Append every dirty partition. Returns MQB_OK when nothing is pending any more. */
static int ing_flush_all(mqb_ingest_t *ing)
{
	size_t i, keep = 0;
	int first_err = MQB_OK;

	for (i = 0; i < ing->ndirty; i++) {
		struct ing_part *pt = ing->dirty[i];
		int rc = part_flush(ing, pt);

		if (rc == MQB_OK) {
			pt->dirty = false;
			continue;
		}
		ing->dirty[keep++] = pt;
		if (first_err == MQB_OK) {
			first_err = rc;
			MQB_LOG_RATELIMITED(MQB_LOG_ERROR, ING_MOD, 5000,
					    "append to %s-%d failed: %s; %zu records kept, "
					    "reading paused, retrying",
					    ing->streams[pt->stream].name, (int)pt->id,
					    mqb_strerror(rc), pt->nrec - pt->first);
		}
	}
	ing->ndirty = keep;
	if (first_err == MQB_OK && ing->window_start_us) {
		uint64_t w = (uint64_t)(mqb_mono_us() - ing->window_start_us);

		if (w > atomic_load(&ing->window_max_us))
			atomic_store(&ing->window_max_us, w);
		atomic_fetch_add(&ing->window_sum_us, w);
		atomic_fetch_add(&ing->window_count, 1);
		ing->window_start_us = 0;
	}
	if (first_err == MQB_OK) {
		for (i = 0; i < ing->nstreams; i++) {
			if (ing->streams[i].keyless_used) {
				mqb_sticky_next(&ing->streams[i].sticky);
				ing->streams[i].keyless_used = false;
			}
		}
		if (ing->blocked)
			mqb_info(ING_MOD, "store accepts appends again; resuming");
		ing->blocked = false;
		ing->retry_ms = ING_RETRY_MIN_MS;
		ing_set_paused(ing, false);
		return MQB_OK;
	}
	atomic_fetch_add(&ing->store_retries, 1);
	ing->blocked = true;
	ing->retry_at_ms = mqb_mono_ms() + ing->retry_ms;
	ing->retry_ms *= 2;
	if (ing->retry_ms > ING_RETRY_MAX_MS)
		ing->retry_ms = ING_RETRY_MAX_MS;
	ing_set_paused(ing, true);
	return first_err;
}

static void ing_mark_dirty(mqb_ingest_t *ing, struct ing_part *pt)
{
	if (pt->dirty)
		return;
	if (grow((void **)&ing->dirty, &ing->dirty_cap, ing->ndirty + 1, sizeof *ing->dirty) != 0)
		return;  /* cannot happen: capacity is reserved for every partition at new() */
	ing->dirty[ing->ndirty++] = pt;
	pt->dirty = true;
}

/* --- session callbacks (ingest thread) --------------------------------------------- */

static void ing_on_message(void *arg, const mqb_mqtt_msg_t *m)
{
	mqb_ingest_t *ing = arg;
	struct ing_route *rt;
	struct ing_stream *st;
	struct ing_part *pt;
	char key[ING_KEY_MAX];
	size_t key_len = 0;
	ssize_t klen = -1;
	int32_t part;
	int idx, rc;

	idx = mqb_router_match(ing->router, m->topic);
	if (idx < 0) {
		atomic_fetch_add(&ing->no_route, 1);
		mqb_counter_inc(ing->m_rej_no_route);
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, ING_MOD, 10000,
				    "no route matches topic \"%.200s\": message rejected", m->topic);
		return;
	}
	rt = &ing->routes[idx];
	if (m->sub_id_count && rt->sub_id) {
		/* A copy delivered through another (overlapping) subscription: the copy
		 * carrying the matching route's own subscription id is the one we keep. */
		size_t i;
		bool mine = false;

		for (i = 0; i < m->sub_id_count; i++)
			mine |= m->sub_ids[i] == rt->sub_id;
		if (!mine) {
			atomic_fetch_add(&ing->duplicates, 1);
			return;
		}
	}
	atomic_fetch_add(&ing->received, 1);
	mqb_counter_inc(rt->m_received);
	if ((int64_t)m->payload_len > ing->max_message_bytes) {
		atomic_fetch_add(&ing->too_large, 1);
		mqb_counter_inc(ing->m_rej_too_large);
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, ING_MOD, 10000,
				    "message on \"%.200s\" has %zu bytes, over max_message_bytes "
				    "%lld: rejected", m->topic, m->payload_len,
				    (long long)ing->max_message_bytes);
		return;
	}
	st = &ing->streams[rt->stream];
	if (rt->kt) {
		rc = mqb_keytmpl_render(rt->kt, m->topic, key, sizeof key, &key_len);
		if (rc != MQB_OK) {
			atomic_fetch_add(&ing->key_template, 1);
			mqb_counter_inc(ing->m_rej_key);
			MQB_LOG_RATELIMITED(MQB_LOG_WARN, ING_MOD, 10000,
					    "key template of route %s cannot be filled from topic "
					    "\"%.200s\" (%s): message rejected",
					    ing->cfg->routes[idx].name ? ing->cfg->routes[idx].name
								       : ing->cfg->routes[idx].filter,
					    m->topic, mqb_strerror(rc));
			return;
		}
		klen = (ssize_t)key_len;
		part = mqb_partition_for_key(key, key_len, st->nparts);
	} else {
		part = mqb_sticky_partition(&st->sticky);
		st->keyless_used = true;
	}
	pt = &st->parts[part];
	rc = part_add(pt, m, key, klen);
	if (rc != MQB_OK) {
		/* out of memory: nothing else can hold it */
		atomic_fetch_add(&ing->store_error, 1);
		mqb_counter_inc(ing->m_rej_store);
		MQB_LOG_RATELIMITED(MQB_LOG_ERROR, ING_MOD, 10000,
				    "out of memory buffering a message on \"%.200s\": lost",
				    m->topic);
		return;
	}
	if (atomic_fetch_add(&ing->pending, 1) == 0)
		ing->window_start_us = mqb_mono_us();
	if (atomic_load(&ing->pending) > atomic_load(&ing->window_max_records))
		atomic_store(&ing->window_max_records, atomic_load(&ing->pending));
	ing_mark_dirty(ing, pt);
	if (!ing->blocked && (pt->bytes >= st->flush_bytes || pt->nrec >= ING_BATCH_RECS_MAX)) {
		rc = part_flush(ing, pt);
		if (rc != MQB_OK)
			ing_flush_all(ing);  /* records the failure, pauses, schedules the retry */
	}
}

static void ing_on_burst_end(void *arg)
{
	mqb_ingest_t *ing = arg;

	if (!ing->blocked)
		ing_flush_all(ing);
}

static void ing_on_subscribe(void *arg, const char *filter, int granted)
{
	(void)arg;
	if (granted >= 0x80)
		mqb_error(ING_MOD, "subscription to %s refused by the broker: that route "
			  "receives nothing", filter);
}

/* --- thread ------------------------------------------------------------------------ */

static void *ing_thread(void *arg)
{
	mqb_ingest_t *ing = arg;
	int64_t deadline;
	int rc;

	mqb_mqtt_session_connect(ing->session);
	while (!atomic_load(&ing->stop)) {
		int64_t now = mqb_mono_ms();
		int timeout = 200;

		atomic_store(&ing->last_turn_ms, now);
		if (ing->blocked) {
			if (now >= ing->retry_at_ms)
				ing_flush_all(ing);
			if (ing->blocked) {
				int64_t w = ing->retry_at_ms - mqb_mono_ms();

				timeout = w < 1 ? 1 : (w > 200 ? 200 : (int)w);
			}
		}
		rc = mqb_mqtt_session_run(ing->session, timeout);
		if (rc == MQB_ERR_CLOSED)
			break;
		atomic_store(&ing->connected, mqb_mqtt_session_connected(ing->session));
		atomic_store(&ing->subscribed, mqb_mqtt_session_subscribed(ing->session));
	}

	/* Stop: read nothing more, store what we hold, then say goodbye to the broker
	 * (it keeps our session and queues what comes next). */
	mqb_mqtt_session_pause_reading(ing->session);
	deadline = mqb_mono_ms() + ing->stop_timeout_ms;
	ing->stop_rc = MQB_OK;
	while (ing->ndirty > 0) {
		if (ing_flush_all(ing) == MQB_OK)
			break;
		if (mqb_mono_ms() >= deadline) {
			mqb_error(ING_MOD, "shutdown: %llu acknowledged records could not be "
				  "stored and are lost",
				  (unsigned long long)atomic_load(&ing->pending));
			ing->stop_rc = MQB_ERR_IO;
			break;
		}
		struct timespec ts = { 0, 50 * 1000000L };
		nanosleep(&ts, NULL);
	}
	mqb_mqtt_session_disconnect(ing->session, 2000);
	atomic_store(&ing->connected, false);
	atomic_store(&ing->subscribed, false);
	return NULL;
}

int mqb_ingest_start(mqb_ingest_t *ing)
{
	int rc;

	if (!ing || ing->thread_started)
		return MQB_ERR_STATE;
	rc = pthread_create(&ing->thread, NULL, ing_thread, ing);
	if (rc != 0) {
		mqb_error(ING_MOD, "cannot start the ingest thread: %s", strerror(rc));
		return mqb_err_from_errno(rc);
	}
	ing->thread_started = true;
	atomic_store(&ing->last_turn_ms, mqb_mono_ms());
	return MQB_OK;
}

int mqb_ingest_stop(mqb_ingest_t *ing, int flush_timeout_ms)
{
	if (!ing || !ing->thread_started || atomic_exchange(&ing->stopped, true))
		return ing && ing->thread_started ? ing->stop_rc : MQB_OK;
	ing->stop_timeout_ms = flush_timeout_ms > 0 ? flush_timeout_ms : 0;
	atomic_store(&ing->stop, true);
	mqb_mqtt_session_wakeup(ing->session);
	pthread_join(ing->thread, NULL);
	return ing->stop_rc;
}

void mqb_ingest_set_stored_cb(mqb_ingest_t *ing, mqb_ingest_stored_fn *fn, void *arg)
{
	if (!ing)
		return;
	ing->stored_cb = fn;
	ing->stored_arg = arg;
}

/* --- stats ------------------------------------------------------------------------- */

void mqb_ingest_stats(mqb_ingest_t *ing, mqb_ingest_stats_t *out)
{
	memset(out, 0, sizeof *out);
	if (!ing)
		return;
	out->received = atomic_load(&ing->received);
	out->stored = atomic_load(&ing->stored);
	out->stored_bytes = atomic_load(&ing->stored_bytes);
	out->batches = atomic_load(&ing->batches);
	out->no_route = atomic_load(&ing->no_route);
	out->too_large = atomic_load(&ing->too_large);
	out->key_template = atomic_load(&ing->key_template);
	out->store_error = atomic_load(&ing->store_error);
	out->duplicates = atomic_load(&ing->duplicates);
	out->store_retries = atomic_load(&ing->store_retries);
	out->pending = atomic_load(&ing->pending);
	out->paused = atomic_load(&ing->paused);
	out->paused_ms_total = atomic_load(&ing->paused_ms);
	out->window_max_us = atomic_load(&ing->window_max_us);
	out->window_sum_us = atomic_load(&ing->window_sum_us);
	out->window_count = atomic_load(&ing->window_count);
	out->window_max_records = atomic_load(&ing->window_max_records);
	mqb_mqtt_session_stats(ing->session, &out->mqtt);
}

int mqb_ingest_alive(mqb_ingest_t *ing, int64_t stall_ms, char *why, size_t why_size)
{
	int64_t last;

	if (!ing || !ing->thread_started || atomic_load(&ing->stopped))
		return 1;
	last = atomic_load(&ing->last_turn_ms);
	if (last && mqb_mono_ms() - last > stall_ms) {
		mqb_errstr_set(why, why_size, "ingest thread stalled for %lld ms",
			       (long long)(mqb_mono_ms() - last));
		return 0;
	}
	return 1;
}

int mqb_ingest_ready(mqb_ingest_t *ing, char *why, size_t why_size)
{
	if (!ing) {
		mqb_errstr_set(why, why_size, "no ingest");
		return 0;
	}
	if (!atomic_load(&ing->connected)) {
		mqb_errstr_set(why, why_size, "mqtt not connected");
		return 0;
	}
	if (!atomic_load(&ing->subscribed)) {
		mqb_errstr_set(why, why_size, "mqtt subscriptions not acknowledged");
		return 0;
	}
	return 1;
}

static void ing_collect(mqb_metrics_emit_t *e, void *arg)
{
	mqb_ingest_t *ing = arg;
	mqb_ingest_stats_t s;
	double paused_s;

	mqb_ingest_stats(ing, &s);
	paused_s = (double)s.paused_ms_total / 1000.0;
	if (s.paused)
		paused_s += (double)(mqb_mono_ms() - atomic_load(&ing->paused_since_ms)) / 1000.0;
	mqb_metrics_emit(e, "mqbridge_mqtt_connected",
			 "1 while connected to the broker, else 0", "gauge",
			 s.mqtt.state == MQB_MQTT_CONNECTED ? 1.0 : 0.0, NULL);
	mqb_metrics_emit(e, "mqbridge_mqtt_subscribed",
			 "1 once every route's subscription is acknowledged", "gauge",
			 atomic_load(&ing->subscribed) ? 1.0 : 0.0, NULL);
	mqb_metrics_emit(e, "mqbridge_mqtt_reconnects_total",
			 "connections (re)established after a loss", "counter",
			 (double)(s.mqtt.connects > 0 ? s.mqtt.connects - 1 : 0), NULL);
	mqb_metrics_emit(e, "mqbridge_ingest_paused",
			 "1 while ingest is paused by back-pressure, else 0", "gauge",
			 s.paused ? 1.0 : 0.0, NULL);
	mqb_metrics_emit(e, "mqbridge_ingest_paused_seconds_total", "time spent paused",
			 "counter", paused_s, NULL);
	mqb_metrics_emit(e, "mqbridge_ingest_pending_records",
			 "records received and not yet appended to the store", "gauge",
			 (double)s.pending, NULL);
}

static void ing_json(cJSON *o, void *arg)
{
	mqb_ingest_t *ing = arg;
	mqb_ingest_stats_t s;
	cJSON *rej;

	mqb_ingest_stats(ing, &s);
	cJSON_AddStringToObject(o, "state", mqb_mqtt_state_name(s.mqtt.state));
	cJSON_AddBoolToObject(o, "subscribed", atomic_load(&ing->subscribed));
	cJSON_AddBoolToObject(o, "paused", s.paused);
	cJSON_AddNumberToObject(o, "connects", (double)s.mqtt.connects);
	cJSON_AddNumberToObject(o, "connect_attempts", (double)s.mqtt.connect_attempts);
	cJSON_AddNumberToObject(o, "disconnects", (double)s.mqtt.disconnects);
	cJSON_AddStringToObject(o, "last_error", s.mqtt.last_error);
	cJSON_AddNumberToObject(o, "messages_in", (double)s.mqtt.messages_in);
	cJSON_AddNumberToObject(o, "received", (double)s.received);
	cJSON_AddNumberToObject(o, "stored", (double)s.stored);
	cJSON_AddNumberToObject(o, "stored_bytes", (double)s.stored_bytes);
	cJSON_AddNumberToObject(o, "batches", (double)s.batches);
	cJSON_AddNumberToObject(o, "pending", (double)s.pending);
	cJSON_AddNumberToObject(o, "duplicates_skipped", (double)s.duplicates);
	cJSON_AddNumberToObject(o, "store_retries", (double)s.store_retries);
	cJSON_AddNumberToObject(o, "unstored_window_max_us", (double)s.window_max_us);
	cJSON_AddNumberToObject(o, "unstored_window_avg_us",
				s.window_count ? (double)s.window_sum_us / (double)s.window_count : 0.0);
	cJSON_AddNumberToObject(o, "unstored_window_max_records", (double)s.window_max_records);
	rej = cJSON_AddObjectToObject(o, "rejected");
	if (rej) {
		cJSON_AddNumberToObject(rej, "no_route", (double)s.no_route);
		cJSON_AddNumberToObject(rej, "too_large", (double)s.too_large);
		cJSON_AddNumberToObject(rej, "key_template", (double)s.key_template);
		cJSON_AddNumberToObject(rej, "store_error", (double)s.store_error);
	}
}

/* --- construction ------------------------------------------------------------------ */

static mqb_counter_t *rej_counter(mqb_metrics_t *m, const char *reason)
{
	if (!m)
		return NULL;
	return mqb_metrics_counter(m, "mqbridge_messages_rejected_total",
				   "messages not stored, by reason", "reason", reason, NULL);
}

mqb_ingest_t *mqb_ingest_new(const mqb_config_t *cfg, mqb_store_t *store,
			     mqb_metrics_t *metrics, char *errstr, size_t errstr_size)
{
	mqb_ingest_t *ing;
	mqb_mqtt_session_opts_t so;
	size_t i, j, total_parts = 0;
	char route_name[64];

	if (!cfg || !store) {
		mqb_errstr_set(errstr, errstr_size, "ingest: no configuration or store");
		return NULL;
	}
	ing = calloc(1, sizeof *ing);
	if (!ing) {
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		return NULL;
	}
	ing->cfg = cfg;
	ing->store = store;
	ing->metrics = metrics;
	ing->retry_ms = ING_RETRY_MIN_MS;
	ing->max_message_bytes = cfg->mqtt.max_message_bytes > 0 ? cfg->mqtt.max_message_bytes
								 : (1 << 20);
	ing->router = mqb_router_from_config(cfg, errstr, errstr_size);
	if (!ing->router)
		goto error;

	ing->nstreams = cfg->streams_count;
	ing->streams = calloc(ing->nstreams ? ing->nstreams : 1, sizeof *ing->streams);
	if (!ing->streams)
		goto nomem;
	for (i = 0; i < ing->nstreams; i++) {
		struct ing_stream *st = &ing->streams[i];
		const mqb_stream_conf_t *sc = &cfg->streams[i];
		int32_t np = mqb_store_partition_count(store, sc->name);

		st->name = sc->name;
		if (np < 1) {
			mqb_errstr_set(errstr, errstr_size, "ingest: stream %s is not open in the store",
				       sc->name);
			goto error;
		}
		st->nparts = np;
		st->parts = calloc((size_t)np, sizeof *st->parts);
		if (!st->parts)
			goto nomem;
		for (j = 0; j < (size_t)np; j++) {
			st->parts[j].p = mqb_store_partition(store, sc->name, (int32_t)j);
			st->parts[j].stream = (int)i;
			st->parts[j].id = (int32_t)j;
			if (!st->parts[j].p) {
				mqb_errstr_set(errstr, errstr_size, "ingest: %s-%zu missing in the store",
					       sc->name, j);
				goto error;
			}
		}
		total_parts += (size_t)np;
		st->flush_bytes = ING_BATCH_BYTES_MAX;
		if (sc->opts.max_batch_bytes > 0 &&
		    (size_t)sc->opts.max_batch_bytes / 2 < st->flush_bytes)
			st->flush_bytes = (size_t)sc->opts.max_batch_bytes / 2;
		mqb_sticky_init(&st->sticky, np, 0);
		if (metrics) {
			st->m_stored = mqb_metrics_counter(metrics, "mqbridge_messages_stored_total",
							   "records appended to the local log",
							   "stream", st->name, NULL);
			st->m_bytes = mqb_metrics_counter(metrics, "mqbridge_bytes_stored_total",
							  "MQTT payload bytes of the records stored",
							  "stream", st->name, NULL);
		}
	}
	if (grow((void **)&ing->dirty, &ing->dirty_cap, total_parts + 1, sizeof *ing->dirty) != 0)
		goto nomem;

	memset(&so, 0, sizeof so);
	so.conf = &cfg->mqtt;
	so.clean_start = -1;
	so.cb.on_message = ing_on_message;
	so.cb.on_burst_end = ing_on_burst_end;
	so.cb.on_subscribe = ing_on_subscribe;
	so.cb.arg = ing;
	so.log_name = "mqtt";
	/* libmosquitto acknowledges a QoS 1/2 message before our callback sees it: what
	 * was read but not yet appended is the loss window of a crash. A burst of at
	 * most max_inflight messages keeps that window at the broker's in-flight size. */
	so.max_burst = cfg->mqtt.max_inflight > 0 ? cfg->mqtt.max_inflight : 100;
	so.burst_linger_us = ING_BURST_LINGER_US;
	/* QoS 0 is at most once anyway: larger bursts, larger batches */
	so.max_burst_qos0 = so.max_burst > ING_BURST_QOS0 ? so.max_burst : ING_BURST_QOS0;
	ing->session = mqb_mqtt_session_new(&so, errstr, errstr_size);
	if (!ing->session)
		goto error;

	ing->nroutes = cfg->routes_count;
	ing->routes = calloc(ing->nroutes ? ing->nroutes : 1, sizeof *ing->routes);
	if (!ing->routes)
		goto nomem;
	for (i = 0; i < ing->nroutes; i++) {
		const mqb_route_conf_t *rc = &cfg->routes[i];
		struct ing_route *rt = &ing->routes[i];
		size_t first;
		int qos = rc->qos;

		rt->stream = rc->stream_index >= 0 ? rc->stream_index
						   : mqb_config_stream_index(cfg, rc->stream);
		if (rt->stream < 0 || (size_t)rt->stream >= ing->nstreams) {
			mqb_errstr_set(errstr, errstr_size, "ingest: route %zu names unknown stream %s",
				       i, rc->stream);
			goto error;
		}
		rt->kt = mqb_router_keytmpl(ing->router, (int)i);
		/* One subscription per distinct filter, at the highest QoS any route with
		 * that filter asks for; its identifier is 1 + the first route's index. */
		for (first = 0; first < i; first++)
			if (strcmp(cfg->routes[first].filter, rc->filter) == 0)
				break;
		rt->sub_id = (uint32_t)first + 1;
		for (j = first; j < ing->nroutes; j++)
			if (strcmp(cfg->routes[j].filter, rc->filter) == 0 && cfg->routes[j].qos > qos)
				qos = cfg->routes[j].qos;
		if (first == i &&
		    mqb_mqtt_session_subscribe_id(ing->session, rc->filter, qos,
						  MQB_MQTT_SUB_RETAIN_NEW_ONLY, rt->sub_id) != MQB_OK) {
			mqb_errstr_set(errstr, errstr_size, "ingest: cannot subscribe to %s",
				       rc->filter);
			goto error;
		}
		if (metrics) {
			const char *name = rc->name;

			if (!name) {
				snprintf(route_name, sizeof route_name, "route%zu", i);
				name = route_name;
			}
			rt->m_received = mqb_metrics_counter(metrics,
							     "mqbridge_messages_received_total",
							     "MQTT messages received, by route",
							     "route", name, NULL);
		}
	}
	if (metrics) {
		ing->m_rej_no_route = rej_counter(metrics, "no_route");
		ing->m_rej_too_large = rej_counter(metrics, "too_large");
		ing->m_rej_key = rej_counter(metrics, "key_template");
		ing->m_rej_store = rej_counter(metrics, "store_error");
		mqb_metrics_add_collector(metrics, ing_collect, ing);
		mqb_metrics_add_json(metrics, "mqtt", ing_json, ing);
	}
	return ing;

nomem:
	mqb_errstr_set(errstr, errstr_size, "out of memory");
error:
	mqb_ingest_destroy(ing);
	return NULL;
}

void mqb_ingest_destroy(mqb_ingest_t *ing)
{
	size_t i;
	int32_t j;

	if (!ing)
		return;
	mqb_ingest_stop(ing, 5000);
	mqb_mqtt_session_destroy(ing->session);
	mqb_router_destroy(ing->router);
	for (i = 0; i < ing->nstreams; i++) {
		struct ing_stream *st = &ing->streams[i];

		for (j = 0; st->parts && j < st->nparts; j++) {
			free(st->parts[j].arena);
			free(st->parts[j].recs);
			free(st->parts[j].hdrs);
		}
		free(st->parts);
	}
	free(ing->streams);
	free(ing->routes);
	free(ing->dirty);
	free(ing->out);
	free(ing->outh);
	free(ing);
}
