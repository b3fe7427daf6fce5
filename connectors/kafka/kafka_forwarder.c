/*
 * kafka_forwarder.c — the forwarder thread: store reader -> librdkafka producer,
 * cursors advanced by delivery reports, state in a journal (kafka_forwarder.h).
 */
#include "connectors/kafka/kafka_forwarder.h"

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <librdkafka/rdkafka.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/logging.h"
#include "bridge/store/statefile.h"
#include "connectors/kafka/kafka_brokers.h"
#include "connectors/kafka/kafka_conf.h"
#include "bridge/forward/fwd_state.h"
#include "bridge/forward/fwd_sync.h"
#include "connectors/kafka/kafka_fwd_int.h"
/* --- lookup -------------------------------------------------------------------------- */

static struct kstream *find_stream(mqb_kafka_fwd_t *f, const char *stream, const char *topic)
{
	for (size_t i = 0; i < f->nstreams; i++) {
		struct kstream *ks = f->streams[i];
		if (strcmp(ks->stream, stream) == 0 && (!topic || strcmp(ks->topic, topic) == 0))
			return ks;
	}
	return NULL;
}

static struct kpart *find_part(mqb_kafka_fwd_t *f, const char *stream, const char *topic,
			       int32_t partition)
{
	struct kstream *ks = find_stream(f, stream, topic);
	if (!ks || partition < 0 || partition >= ks->nparts)
		return NULL;
	return &ks->parts[partition];
}

/* --- journal -------------------------------------------------------------------------- */

static int replay_line(const mqb_fwd_state_line_t *ln, void *arg)
{
	mqb_kafka_fwd_t *f = arg;
	struct kpart *kp = find_part(f, ln->stream, ln->topic, ln->partition);
	if (!kp) {
		/* an entry not configured now: its cursor is kept for a later reload */
		if (ln->kind != 'C')
			return MQB_OK;
		pthread_mutex_lock(&f->lock);
		int rc = mqb_kafka__saved_put(f, ln->stream, ln->topic, ln->partition, ln->a);
		pthread_mutex_unlock(&f->lock);
		return rc;
	}
	if (ln->kind == 'C')
		kp->win.cursor = kp->persisted = ln->a;
	else if (mqb_fwd_syncs_add(&kp->syncs, ln->a, ln->b) != MQB_OK)
		return MQB_ERR_NOMEM;
	return MQB_OK;
}

static int journal_replay(void *arg, enum mqb_journal_kind kind, const void *data, size_t len)
{
	char err[256];
	int rc = mqb_fwd_state_parse(data, len, replay_line, arg, err, sizeof(err));
	if (rc)
		mqb_error(MOD, "forwarder state (%s): %s", kind == MQB_JOURNAL_SNAPSHOT ?
			  "snapshot" : "journal record", rc == MQB_ERR_CORRUPT ? err :
			  mqb_strerror(rc));
	return rc;
}

static void state_serialise(mqb_kafka_fwd_t *f, mqb_sbuf_t *b)
{
	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < f->nstreams; i++) {
		struct kstream *ks = f->streams[i];
		for (int32_t p = 0; p < ks->nparts; p++) {
			struct kpart *kp = &ks->parts[p];
			for (size_t j = 0; j < kp->syncs.n; j++)
				mqb_sbuf_printf(b, "S %s %s %d %" PRId64 " %" PRId64 "\n",
							ks->stream, ks->topic, p,
							kp->syncs.v[j].local, kp->syncs.v[j].kafka);
			mqb_sbuf_printf(b, "C %s %s %d %" PRId64 "\n", ks->stream,
						ks->topic, p, kp->win.cursor);
		}
	}
	for (size_t i = 0; i < f->nsaved; i++)
		mqb_sbuf_printf(b, "C %s %s %d %" PRId64 "\n", f->saved[i].stream,
				f->saved[i].topic, f->saved[i].partition, f->saved[i].cursor);
	pthread_mutex_unlock(&f->lock);
}

static int journal_snapshot(void *arg, void **data, size_t *len)
{
	mqb_sbuf_t b = MQB_SBUF_INIT;
	state_serialise(arg, &b);
	if (b.oom) {
		mqb_sbuf_free(&b);
		return MQB_ERR_NOMEM;
	}
	if (!b.p)
		mqb_sbuf_printf(&b, "\n");
	*data = b.p;
	*len = b.len;
	return b.p ? MQB_OK : MQB_ERR_NOMEM;
}

/* Append what changed (sync pairs from delivery reports, then cursors) as one
 * journal record; fsync at most every 500 ms (or when forced). */
static void state_flush(mqb_kafka_fwd_t *f, bool force)
{
	int64_t now = mqb_mono_ms();
	if (!force && now - f->last_append_ms < 10)
		return;
	f->last_append_ms = now;
	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < f->nstreams; i++) {
		struct kstream *ks = f->streams[i];
		for (int32_t p = 0; p < ks->nparts; p++) {
			struct kpart *kp = &ks->parts[p];
			if (kp->win.cursor == kp->persisted)
				continue;
			mqb_sbuf_printf(&f->pending, "C %s %s %d %" PRId64 "\n",
						ks->stream, ks->topic, p, kp->win.cursor);
			kp->persisted = kp->win.cursor;
		}
	}
	pthread_mutex_unlock(&f->lock);
	if (f->pending.len > 0 || f->pending.oom) {
		/* (after a failed allocation the buffer takes no more lines: report it) */
		int rc = f->pending.oom ? MQB_ERR_NOMEM :
			 mqb_journal_append(f->journal, f->pending.p, f->pending.len);
		if (rc != MQB_OK) {
			/* The cursors stay where the journal last has them: at-least-once. */
			MQB_LOG_RATELIMITED(MQB_LOG_ERROR, MOD, 10000, "cannot persist forwarder "
					    "cursors to %s: %s (will retry)", f->journal_path,
					    mqb_strerror(rc));
			pthread_mutex_lock(&f->lock);
			for (size_t i = 0; i < f->nstreams; i++)
				for (int32_t p = 0; p < f->streams[i]->nparts; p++)
					f->streams[i]->parts[p].persisted = -1;
			pthread_mutex_unlock(&f->lock);
		} else {
			f->unsynced = true;
		}
		mqb_sbuf_reset(&f->pending);
	}
	if (f->unsynced && (force || now - f->last_sync_ms >= 500)) {
		if (mqb_journal_sync(f->journal) == MQB_OK)
			f->unsynced = false;
		f->last_sync_ms = now;
	}
}

/* --- librdkafka callbacks (all run in the forwarder thread, from rd_kafka_poll) ----- */

static struct kcode *code_slot(mqb_kafka_fwd_t *f, int code)
{
	size_t n = atomic_load(&f->ncodes);
	for (size_t i = 0; i < n; i++)
		if (f->codes[i].code == code)
			return &f->codes[i];
	if (n == KF_MAX_CODES)
		return NULL;
	struct kcode *c = &f->codes[n];
	c->code = code;
	if (f->metrics)
		c->m = mqb_metrics_counter(f->metrics, "mqbridge_kafka_delivery_errors_total",
					   "Failed Kafka delivery reports, by error",
					   "code", rd_kafka_err2name(code), NULL);
	atomic_store(&f->ncodes, n + 1);
	return c;
}

/* kafka.block_on_backlog: the partition's retention floor is the lowest cursor of
 * every forward entry reading it (a stream may go to several topics). */
static void floor_update(mqb_kafka_fwd_t *f, struct kpart *kp)
{
	int64_t floor = kp->win.cursor;
	for (size_t i = 0; i < f->nstreams; i++) {
		struct kstream *ks = f->streams[i];
		if (ks != kp->ks && strcmp(ks->stream, kp->ks->stream) == 0 &&
		    kp->id < ks->nparts && ks->parts[kp->id].win.cursor < floor)
			floor = ks->parts[kp->id].win.cursor;
	}
	mqb_partition_set_retention_floor(kp->p, floor);
}

/* Publish the forwarder thread's counters to the atomics other threads read (once
 * per turn rather than per message). */
static void publish_state(mqb_kafka_fwd_t *f)
{
	for (size_t i = 0; i < f->nstreams; i++) {
		for (int32_t p = 0; p < f->streams[i]->nparts; p++) {
			struct kpart *kp = &f->streams[i]->parts[p];
			if (f->kc->block_on_backlog &&
			    atomic_load_explicit(&kp->a_cursor, memory_order_relaxed) != kp->win.cursor)
				floor_update(f, kp);
			atomic_store_explicit(&kp->a_cursor, kp->win.cursor, memory_order_relaxed);
			atomic_store_explicit(&kp->a_next, kp->win.next, memory_order_relaxed);
			atomic_store_explicit(&kp->a_inflight, kp->inflight, memory_order_relaxed);
			uint64_t d = kp->forwarded - kp->forwarded_pub;
			if (d) {
				atomic_fetch_add(&kp->a_forwarded, d);
				mqb_counter_add(kp->m_forwarded, d);
				kp->forwarded_pub = kp->forwarded;
			}
		}
	}
	atomic_store_explicit(&f->inflight_total, f->inflight_n, memory_order_relaxed);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	mqb_kafka_fwd_t *f = opaque;
	struct ktopic *kt = rd_kafka_topic_opaque(m->rkt);
	struct kstream *ks = kt ? kt->ks : NULL;
	f->inflight_n--;   /* every report ends one of our messages (part_pump's cap) */
	if (!ks || m->partition < 0 || m->partition >= ks->nparts)
		return;
	struct kpart *kp = &ks->parts[m->partition];
	int64_t off = (int64_t)(intptr_t)m->_private;
	kp->inflight--;
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		/* latency of one report in 8: reading the clock per message is measurable */
		if (f->m_latency && (kp->forwarded & 7) == 0)
			mqb_histogram_observe(f->m_latency, rd_kafka_message_latency(m) / 1e6);
		kp->backoff_ms = 0;
		mqb_fwd_window_delivered(&kp->win, off);
		kp->forwarded++;
		/* This thread is the only writer of the table: decide without the lock,
		 * take it only to add a pair (readers are the HTTP thread). */
		if (m->offset >= 0 && mqb_fwd_syncs_due(&kp->syncs, off, m->offset)) {
			pthread_mutex_lock(&f->lock);
			if (mqb_fwd_syncs_add(&kp->syncs, off, m->offset) == MQB_OK)
				mqb_sbuf_printf(&f->pending, "S %s %s %d %" PRId64 " %"
							PRId64 "\n", ks->stream, ks->topic,
							m->partition, off, (int64_t)m->offset);
			pthread_mutex_unlock(&f->lock);
		}
		return;
	}
	atomic_fetch_add(&kp->a_errors, 1);
	pthread_mutex_lock(&f->lock);
	struct kcode *c = code_slot(f, m->err);
	pthread_mutex_unlock(&f->lock);
	if (c) {
		atomic_fetch_add(&c->n, 1);
		mqb_counter_inc(c->m);
	}
	if (!kp->failed) {
		kp->backoff_ms = kp->backoff_ms ? kp->backoff_ms * 2 : KF_BACKOFF_MIN;
		if (kp->backoff_ms > KF_BACKOFF_MAX)
			kp->backoff_ms = KF_BACKOFF_MAX;
		kp->retry_at_ms = mqb_mono_ms() + kp->backoff_ms;
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, MOD, 5000, "delivery to %s [%d] failed at "
				    "local offset %" PRId64 ": %s; re-producing from %" PRId64
				    " in %" PRId64 " ms", ks->topic, m->partition, off,
				    rd_kafka_err2str(m->err), kp->win.cursor, kp->backoff_ms);
	}
	kp->failed = true;
}

/* Record the connection state; log its changes. */
static void set_connected(mqb_kafka_fwd_t *f, int up)
{
	int was = atomic_exchange(&f->connected, up > 0);
	atomic_store(&f->brokers_up, up);
	if (was == (up > 0))
		return;
	if (up)
		mqb_notice(MOD, "Kafka connection up (%d broker%s)", up, up == 1 ? "" : "s");
	else
		mqb_warn(MOD, "Kafka connection down: no broker reachable; records stay in the "
			 "local log and are forwarded when it returns");
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	mqb_kafka_fwd_t *f = opaque;
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		atomic_store(&f->fatal, 1);
		return;
	}
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
		set_connected(f, 0);
	MQB_LOG_RATELIMITED(MQB_LOG_WARN, MOD, 10000, "librdkafka: %s: %s",
			    rd_kafka_err2name(err), reason);
}

/* Count brokers in state UP from librdkafka's statistics JSON. */
static int on_stats(rd_kafka_t *rk, char *json, size_t json_len, void *opaque)
{
	mqb_kafka_fwd_t *f = opaque;
	int up = mqb_kafka_brokers_up(json, json_len);

	(void)rk;
	if (up >= 0)
		set_connected(f, up);
	return 0;
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	/* Connection failures repeat every reconnect.backoff while Kafka is down: the
	 * state change itself is logged by on_stats; these lines are rate-limited. */
	if (level <= 4)
		MQB_LOG_RATELIMITED(level <= 3 ? MQB_LOG_ERROR : MQB_LOG_WARN, MOD, 10000,
				    "librdkafka %s: %s", fac, buf);
	else
		mqb_debug(MOD, "librdkafka %s: %s", fac, buf);
}

/* --- producer lifecycle ----------------------------------------------------------------- */

static void producer_destroy(mqb_kafka_fwd_t *f)
{
	for (size_t i = 0; i < f->nstreams; i++) {
		if (f->streams[i]->rkt)
			rd_kafka_topic_destroy(f->streams[i]->rkt);
		f->streams[i]->rkt = NULL;
	}
	if (f->rk)
		rd_kafka_destroy(f->rk);
	f->rk = NULL;
}

/* queue.buffering.max.messages of conf (INT64_MAX when unset or unreadable). */
static int64_t conf_queue_max(const rd_kafka_conf_t *conf)
{
	char qmax[32];
	size_t qlen = sizeof(qmax);
	if (rd_kafka_conf_get(conf, "queue.buffering.max.messages", qmax, &qlen) ==
	    RD_KAFKA_CONF_OK && atoll(qmax) > 0)
		return atoll(qmax);
	return INT64_MAX;
}

static int producer_create(mqb_kafka_fwd_t *f, char *errstr, size_t errstr_size)
{
	char rderr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_dup(f->conf_tmpl);
	rd_kafka_conf_set_opaque(conf, f);
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_error_cb(conf, on_error);
	rd_kafka_conf_set_stats_cb(conf, on_stats);
	rd_kafka_conf_set_log_cb(conf, on_log);
	f->queue_max = conf_queue_max(conf);
	f->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rderr, sizeof(rderr));
	if (!f->rk) {
		rd_kafka_conf_destroy(conf);
		mqb_errstr_set(errstr, errstr_size, "%s:%d: kafka.properties: librdkafka "
			       "refused the configuration: %s",
			       f->cfg->path ? f->cfg->path : "<config>", f->kc->line, rderr);
		return MQB_ERR_CONFIG;
	}
	for (size_t i = 0; i < f->nstreams; i++) {
		rd_kafka_topic_conf_t *tc = rd_kafka_default_topic_conf_dup(f->rk);
		struct ktopic *kt = mqb_kafka__topic_slot(f, f->streams[i]->topic);
		if (kt)
			kt->ks = f->streams[i];
		if (tc)
			rd_kafka_topic_conf_set_opaque(tc, kt);
		f->streams[i]->rkt = rd_kafka_topic_new(f->rk, f->streams[i]->topic, tc);
		if (!f->streams[i]->rkt) {
			mqb_errstr_set(errstr, errstr_size, "kafka topic %s: %s",
				       f->streams[i]->topic,
				       rd_kafka_err2str(rd_kafka_last_error()));
			producer_destroy(f);
			return MQB_ERR_CONFIG;
		}
	}
	return MQB_OK;
}

/* Every produced record counts as undelivered again: re-produce from the cursor. */
static void part_rewind(struct kpart *kp)
{
	mqb_fwd_window_rewind(&kp->win);
	kp->inflight = 0;
	kp->failed = false;
	kp->reseek = true;
	kp->held = false;
}

static void handle_fatal(mqb_kafka_fwd_t *f)
{
	char reason[512] = "";
	char errstr[512];
	rd_kafka_resp_err_t err = rd_kafka_fatal_error(f->rk, reason, sizeof(reason));
	mqb_error(MOD, "Kafka producer fatal error %s: %s; recreating the producer and "
		  "re-producing every undelivered record from the delivered cursors",
		  rd_kafka_err2name(err), reason);
	rd_kafka_purge(f->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	int64_t deadline = mqb_mono_ms() + 5000;
	while (f->inflight_n > 0 && mqb_mono_ms() < deadline)
		rd_kafka_poll(f->rk, 50);
	producer_destroy(f);
	f->inflight_n = 0;
	for (size_t i = 0; i < f->nstreams; i++)
		for (int32_t p = 0; p < f->streams[i]->nparts; p++)
			part_rewind(&f->streams[i]->parts[p]);
	atomic_store(&f->fatal, 0);
	atomic_fetch_add(&f->restarts, 1);
	mqb_counter_inc(f->m_restarts);
	while (!atomic_load(&f->stopping)) {
		if (producer_create(f, errstr, sizeof(errstr)) == MQB_OK)
			return;
		MQB_LOG_RATELIMITED(MQB_LOG_ERROR, MOD, 10000, "cannot recreate the Kafka "
				    "producer: %s", errstr);
		struct timespec ts = { 1, 0 };
		nanosleep(&ts, NULL);
	}
}

/* --- the forwarding loop ---------------------------------------------------------------- */

static void stream_set_state(struct kstream *ks, int state, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void stream_set_state(struct kstream *ks, int state, const char *fmt, ...)
{
	va_list ap;
	char why[256];
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	int was = atomic_exchange(&ks->state, state);
	pthread_mutex_lock(&ks->f->lock);
	bool changed = strcmp(ks->why, why) != 0;
	snprintf(ks->why, sizeof(ks->why), "%s", why);
	pthread_mutex_unlock(&ks->f->lock);
	if (was == state && !changed)
		return;
	if (state == MQB_KAFKA_STREAM_REFUSED)
		mqb_error(MOD, "stream %s is NOT forwarded: %s", ks->stream, why);
	else if (state == MQB_KAFKA_STREAM_FORWARDING)
		mqb_info(MOD, "forwarding stream %s: %s", ks->stream, why);
	else
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, MOD, 30000, "stream %s not forwarded yet: %s",
				    ks->stream, why);
}

/* Check the topic's partition count; refuse the stream when Kafka has fewer. */
static void stream_check(mqb_kafka_fwd_t *f, struct kstream *ks, int64_t now)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t err = rd_kafka_metadata(f->rk, 0, ks->rkt, &md, 2000);
	ks->next_check_ms = now + 2000;
	if (err) {
		stream_set_state(ks, MQB_KAFKA_STREAM_UNCHECKED, "metadata for topic %s: %s",
				 ks->topic, rd_kafka_err2str(err));
		return;
	}
	if (md->topic_cnt < 1 || md->topics[0].err) {
		stream_set_state(ks, MQB_KAFKA_STREAM_UNCHECKED, "topic %s: %s", ks->topic,
				 md->topic_cnt < 1 ? "not in metadata" :
				 rd_kafka_err2str(md->topics[0].err));
	} else if (md->topics[0].partition_cnt < ks->nparts) {
		atomic_store(&ks->kafka_parts, md->topics[0].partition_cnt);
		stream_set_state(ks, MQB_KAFKA_STREAM_REFUSED, "Kafka topic %s has %d "
				 "partition%s, the local stream has %d (each local partition "
				 "goes to the same partition number); add partitions to the "
				 "topic", ks->topic, md->topics[0].partition_cnt,
				 md->topics[0].partition_cnt == 1 ? "" : "s", ks->nparts);
		ks->next_check_ms = now + 30000;
	} else {
		atomic_store(&ks->kafka_parts, md->topics[0].partition_cnt);
		stream_set_state(ks, MQB_KAFKA_STREAM_FORWARDING, "to topic %s (%d partitions)",
				 ks->topic, md->topics[0].partition_cnt);
	}
	rd_kafka_metadata_destroy(md);
}

/* Records below log start were deleted by retention before they were forwarded. */
static void part_lost(struct kpart *kp, int64_t log_start)
{
	int64_t lost = log_start - kp->win.cursor;
	mqb_error(MOD, "RECORDS LOST: retention deleted %" PRId64 " record%s of %s [%d] "
		  "(offsets %" PRId64 "..%" PRId64 ") before they were forwarded to Kafka "
		  "topic %s; set kafka.block_on_backlog = true or keep retention longer "
		  "than Kafka outages last to prevent this", lost, lost == 1 ? "" : "s",
		  kp->ks->stream, kp->id, kp->win.cursor, log_start - 1, kp->ks->topic);
	atomic_fetch_add(&kp->a_lost, (uint64_t)lost);
	mqb_counter_add(kp->m_lost, (uint64_t)lost);
	mqb_fwd_window_reset(&kp->win, log_start);
	part_rewind(kp);
}

static int produce_one(mqb_kafka_fwd_t *f, struct kpart *kp, const mqb_record_t *rec)
{
	rd_kafka_headers_t *hdrs = NULL;
	rd_kafka_vu_t vu[8];
	size_t n = 0;
	if (rec->header_count > 0) {
		hdrs = rd_kafka_headers_new(rec->header_count);
		for (size_t i = 0; i < rec->header_count; i++) {
			const mqb_rec_header_t *h = &rec->headers[i];
			rd_kafka_header_add(hdrs, h->key, (ssize_t)h->key_len,
					    h->value_len < 0 ? NULL : h->value,
					    h->value_len < 0 ? 0 : h->value_len);
		}
	}
	vu[n].vtype = RD_KAFKA_VTYPE_RKT; vu[n++].u.rkt = kp->ks->rkt;
	vu[n].vtype = RD_KAFKA_VTYPE_PARTITION; vu[n++].u.i32 = kp->id;
	vu[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS; vu[n++].u.i = RD_KAFKA_MSG_F_COPY;
	vu[n].vtype = RD_KAFKA_VTYPE_VALUE;
	vu[n].u.mem.ptr = rec->value_len < 0 ? NULL : (void *)rec->value;
	vu[n++].u.mem.size = rec->value_len < 0 ? 0 : (size_t)rec->value_len;
	if (rec->key_len >= 0) {
		vu[n].vtype = RD_KAFKA_VTYPE_KEY;
		vu[n].u.mem.ptr = (void *)rec->key;
		vu[n++].u.mem.size = (size_t)rec->key_len;
	}
	vu[n].vtype = RD_KAFKA_VTYPE_TIMESTAMP; vu[n++].u.i64 = rec->timestamp_ms;
	vu[n].vtype = RD_KAFKA_VTYPE_OPAQUE; vu[n++].u.ptr = (void *)(intptr_t)rec->offset;
	if (hdrs) {
		vu[n].vtype = RD_KAFKA_VTYPE_HEADERS;
		vu[n++].u.headers = hdrs;
	}
	rd_kafka_error_t *error = rd_kafka_produceva(f->rk, vu, n);
	if (!error)
		return RD_KAFKA_RESP_ERR_NO_ERROR;
	int code = rd_kafka_error_code(error);
	rd_kafka_error_destroy(error);
	if (hdrs)
		rd_kafka_headers_destroy(hdrs);  /* not taken on failure */
	return code;
}

/* Produce what is due on one partition. Returns the number of records handed over. */
static int part_pump(mqb_kafka_fwd_t *f, struct kpart *kp, int64_t now)
{
	mqb_watermarks_t wm;
	mqb_partition_watermarks(kp->p, &wm);
	if (kp->failed) {
		if (kp->inflight > 0 || now < kp->retry_at_ms)
			return 0;
		part_rewind(kp);
	}
	if (kp->win.next < wm.log_start) {
		if (kp->inflight > 0)
			return 0;   /* let what is in flight land first */
		part_lost(kp, wm.log_start);
	}
	if (kp->reseek) {
		int rc = mqb_reader_seek(kp->r, kp->win.next);
		if (rc != MQB_OK) {
			MQB_LOG_RATELIMITED(MQB_LOG_WARN, MOD, 10000, "%s [%d]: cannot position "
					    "at offset %" PRId64 ": %s", kp->ks->stream, kp->id,
					    kp->win.next, mqb_strerror(rc));
			return 0;
		}
		kp->reseek = false;
		kp->held = false;
	}
	int64_t limit = wm.durable < wm.stored ? wm.durable : wm.stored;
	int n = 0;
	/* f->queue_max: librdkafka would refuse more (QUEUE_FULL), and a refused record
	 * costs a re-seek and re-read of the store next turn */
	while (kp->win.next < limit && mqb_fwd_window_room(&kp->win) && n < KF_BUDGET &&
	       f->inflight_n < f->queue_max) {
		mqb_record_t rec;
		int rc = MQB_OK;
		if (kp->held) {
			rec = kp->held_rec;   /* refused last turn: still in the reader's buffer */
			kp->held = false;
		} else {
			rc = mqb_reader_next_record(kp->r, &rec);
		}
		if (rc == MQB_ERR_AGAIN)
			break;
		if (rc != MQB_OK) {
			if (rc != MQB_ERR_RANGE)
				MQB_LOG_RATELIMITED(MQB_LOG_ERROR, MOD, 10000, "%s [%d]: reading "
						    "offset %" PRId64 ": %s (will retry)",
						    kp->ks->stream, kp->id, kp->win.next,
						    mqb_strerror(rc));
			kp->reseek = true;
			break;
		}
		if (rec.offset < kp->win.next)
			continue;
		if (rec.offset > kp->win.next) {
			/* Not expected (local offsets are contiguous): nothing to send there. */
			mqb_warn(MOD, "%s [%d]: local offsets %" PRId64 "..%" PRId64 " missing",
				 kp->ks->stream, kp->id, kp->win.next, rec.offset - 1);
			if (!mqb_fwd_window_skip_to(&kp->win, rec.offset) ||
			    !mqb_fwd_window_room(&kp->win)) {
				kp->reseek = true;
				break;
			}
		}
		int err = produce_one(f, kp, &rec);
		if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			/* (queue.buffering.max.kbytes) produced again next turn; the reader is
			 * not called until then, so its pointers stay valid */
			atomic_fetch_add(&f->queue_full, 1);
			kp->held_rec = rec;
			kp->held = true;
			break;
		}
		if (err) {
			/* Permanent for this record (e.g. larger than message.max.bytes): hold
			 * the partition and retry with back-off; nothing is skipped. */
			MQB_LOG_RATELIMITED(MQB_LOG_ERROR, MOD, 10000, "%s [%d]: cannot produce "
					    "local offset %" PRId64 " to %s: %s (holding the "
					    "partition, retrying)", kp->ks->stream, kp->id,
					    rec.offset, kp->ks->topic, rd_kafka_err2str(err));
			pthread_mutex_lock(&f->lock);
			struct kcode *c = code_slot(f, err);
			pthread_mutex_unlock(&f->lock);
			if (c) {
				atomic_fetch_add(&c->n, 1);
				mqb_counter_inc(c->m);
			}
			atomic_fetch_add(&kp->a_errors, 1);
			kp->failed = true;
			kp->backoff_ms = kp->backoff_ms ? kp->backoff_ms * 2 : KF_BACKOFF_MIN;
			if (kp->backoff_ms > KF_BACKOFF_MAX)
				kp->backoff_ms = KF_BACKOFF_MAX;
			kp->retry_at_ms = now + kp->backoff_ms;
			break;
		}
		mqb_fwd_window_produced(&kp->win);
		kp->inflight++;
		f->inflight_n++;
		n++;
	}
	return n;
}

/*
 * librdkafka allocates every produced message, its header list and each header in the
 * producing thread, i.e. in this thread's glibc arena, and frees them here when the
 * delivery reports are served. glibc grows a thread arena (not the main one, which
 * grows by brk with a pad) one page per mprotect() as its top is used up (~1,900 calls
 * per drain of a backlog), and gives the top back (madvise) whenever it frees more
 * than the trim threshold there, so the next burst faults the same pages in again.
 *
 * arena_reserve() takes the range in large steps once and frees it except a small
 * allocation at its end: the range stays one free block below that allocation, which
 * glibc neither grows again nor trims. Untouched pages cost no memory; pages used by a
 * burst stay resident until arena_release() (malloc_trim) when the forwarder is idle.
 * Returns the end allocation, to be freed at exit.
 */
static void *arena_reserve(size_t bytes)
{
	enum { CHUNK = 96 * 1024, MAXN = 512 };   /* below the 128 KiB mmap threshold */
	void *v[MAXN];
	size_t n = bytes / CHUNK;
	if (n > MAXN)
		n = MAXN;
	for (size_t i = 0; i < n; i++)
		if ((v[i] = malloc(CHUNK)))
			*(volatile char *)v[i] = 0;   /* (a malloc/free pair may be elided) */
		else
			n = i;
	if (n == 0)
		return NULL;
	void *end = malloc(64);   /* above the range: keeps it off the arena's top */
	for (size_t i = 0; i < n; i++)   /* in order: they merge into one free range */
		free(v[i]);
	return end;
}

/* Idle after a burst (at most once a second): give the pages the burst used back. */
static void arena_release(mqb_kafka_fwd_t *f, int64_t now)
{
	if (f->arena_dirty && f->inflight_n == 0 && now - f->arena_trim_ms >= 1000) {
		malloc_trim(0);
		f->arena_dirty = false;
		f->arena_trim_ms = now;
	}
}

static void *forwarder_main(void *arg)
{
	mqb_kafka_fwd_t *f = arg;
	/* ~512 bytes per queued message (message, key and value copies, headers); while
	 * mqb_kafka_fwd_new() goes on (the arena's growth takes 5-10 ms in a VM) */
	void *arena_end = arena_reserve(f->queue_max < KF_ARENA_MAX / 512 ?
					(size_t)f->queue_max * 512 : KF_ARENA_MAX);
	pthread_mutex_lock(&f->lock);
	while (!f->go && !atomic_load(&f->stopping))
		pthread_cond_wait(&f->go_cond, &f->lock);
	bool go = f->go;
	pthread_mutex_unlock(&f->lock);
	if (!go) {   /* never started (or mqb_kafka_fwd_new failed): nothing to do */
		free(arena_end);
		return NULL;
	}
	/* the 500 ms between journal fsyncs count from here: none before the first
	 * records are handed over (the cursors it would make durable are the ones a
	 * restart starts from anyway) */
	f->last_sync_ms = mqb_mono_ms();
	while (!atomic_load(&f->stopping)) {
		int64_t now = mqb_mono_ms();
		int did = 0;
		if (atomic_load(&f->fatal))
			handle_fatal(f);
		if (!f->rk)
			break;
		mqb_kafka__reload_poll(f);   /* between rounds: nothing half-produced */
		for (size_t i = 0; i < f->nstreams; i++) {
			struct kstream *ks = f->streams[i];
			int state = atomic_load(&ks->state);
			if (state != MQB_KAFKA_STREAM_FORWARDING) {
				if (now < ks->next_check_ms)
					continue;
				stream_check(f, ks, now);
				/* checked now: produce in this turn (not after a poll's wait) */
				if (atomic_load(&ks->state) != MQB_KAFKA_STREAM_FORWARDING)
					continue;
			}
			for (int32_t p = 0; p < ks->nparts; p++)
				did += part_pump(f, &ks->parts[p], now);
		}
		rd_kafka_poll(f->rk, did ? 0 : 10);
		publish_state(f);
		state_flush(f, false);
		if (did)
			f->arena_dirty = true;
		else
			arena_release(f, now);
	}
	/* Stop: hand nothing more over; give what is in flight flush_ms to be delivered. */
	if (f->rk) {
		int64_t deadline = mqb_mono_ms() + f->flush_ms;
		while (f->inflight_n > 0 && mqb_mono_ms() < deadline &&
		       !atomic_load(&f->fatal))
			rd_kafka_poll(f->rk, 20);
	}
	publish_state(f);
	state_flush(f, true);
	free(arena_end);
	return NULL;
}

/* --- public API ------------------------------------------------------------------------ */

static int part_init(mqb_kafka_fwd_t *f, struct kstream *ks, int32_t p,
		     char *errstr, size_t errstr_size)
{
	struct kpart *kp = &ks->parts[p];
	kp->ks = ks;
	kp->id = p;
	snprintf(kp->id_str, sizeof(kp->id_str), "%d", p);
	kp->p = mqb_store_partition(f->st, ks->stream, p);
	if (!kp->p) {
		mqb_errstr_set(errstr, errstr_size, "stream %s partition %d is not open",
			       ks->stream, p);
		return MQB_ERR_NOTFOUND;
	}
	if (mqb_fwd_window_init(&kp->win, KF_WINDOW, 0) != MQB_OK) {
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		return MQB_ERR_NOMEM;
	}
	mqb_fwd_syncs_init(&kp->syncs, f->kc->sync_interval_offsets);
	kp->persisted = -1;
	if (f->metrics) {
		/* per partition up to MQB_JSON_DETAIL_MAX partitions; above, every
		 * partition of the stream adds to one counter labelled by the stream alone
		 * (2 series per partition were 2,048 at 1024). Chosen when the partition is
		 * set up: partitions a reload adds beyond 64 go to the stream's counter,
		 * those that were per partition stay so (each record is counted once). */
		const char *plabel = ks->nparts > MQB_JSON_DETAIL_MAX ? NULL : "partition";
		kp->m_lost = mqb_metrics_counter(f->metrics, "mqbridge_kafka_records_lost_total",
						 "Records deleted by retention before they were "
						 "forwarded to Kafka", "stream", ks->stream,
						 plabel, kp->id_str, NULL);
		kp->m_forwarded = mqb_metrics_counter(f->metrics,
						      "mqbridge_kafka_records_forwarded_total",
						      "Records delivered to Kafka (acknowledged)",
						      "stream", ks->stream, plabel,
						      kp->id_str, NULL);
	}
	return MQB_OK;
}

/* After the journal replay: clamp each cursor into the local log and open readers. */
static int part_position(mqb_kafka_fwd_t *f, struct kpart *kp, char *errstr,
			 size_t errstr_size)
{
	mqb_watermarks_t wm;
	mqb_partition_watermarks(kp->p, &wm);
	if (kp->persisted < 0) {
		kp->win.cursor = wm.log_start;   /* never forwarded: from the beginning */
	} else if (kp->win.cursor > wm.stored) {
		mqb_warn(MOD, "%s [%d]: forwarder cursor %" PRId64 " is beyond the local log "
			 "end %" PRId64 " (recovery cut records that were already forwarded); "
			 "continuing at %" PRId64, kp->ks->stream, kp->id, kp->win.cursor, wm.stored,
			 wm.stored);
		kp->win.cursor = wm.stored;
		mqb_fwd_syncs_truncate(&kp->syncs, wm.stored);
	}
	kp->win.next = kp->win.cursor;
	/* kafka.block_on_backlog: retention keeps what is not forwarded yet (the first
	 * floor is this cursor; floor_update takes the minimum once all are placed) */
	if (f->kc->block_on_backlog)
		mqb_partition_set_retention_floor(kp->p, kp->win.cursor);
	atomic_store(&kp->a_cursor, kp->win.cursor);
	atomic_store(&kp->a_next, kp->win.next);
	kp->r = mqb_reader_new(kp->p, kp->win.cursor < wm.log_start ? wm.log_start : kp->win.cursor);
	if (!kp->r) {
		mqb_errstr_set(errstr, errstr_size, "%s [%d]: cannot open a reader",
			       kp->ks->stream, kp->id);
		return MQB_ERR_NOMEM;
	}
	kp->reseek = kp->win.cursor >= wm.log_start;
	return MQB_OK;
}

mqb_kafka_fwd_t *mqb_kafka_fwd_new(const mqb_config_t *cfg, mqb_store_t *store,
				   mqb_metrics_t *metrics, const char *state_dir,
				   char *errstr, size_t errstr_size)
{
	char dir[4096];
	mqb_kafka_fwd_t *f = calloc(1, sizeof(*f));
	if (!f) {
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->go_cond, NULL);
	pthread_rwlock_init(&f->slock, NULL);
	f->cfg = cfg;
	f->kc = mqb_kafka_conf(cfg);
	f->st = store;
	f->metrics = metrics;
	f->flush_ms = 5000;
	/* librdkafka's own checks are the producer's creation below (no trial instance) */
	if (mqb_kafka_check_entries(cfg, errstr, errstr_size) != MQB_OK)
		goto error;
	f->conf_tmpl = mqb_kafka_conf_build(cfg, errstr, errstr_size);
	if (!f->conf_tmpl)
		goto error;
	/* The thread now: it reserves its malloc arena while this one builds the rest,
	 * then waits for mqb_kafka_fwd_start() (or the stop of a failed new). */
	f->queue_max = conf_queue_max(f->conf_tmpl);
	int trc = pthread_create(&f->thread, NULL, forwarder_main, f);
	if (trc) {
		mqb_errstr_set(errstr, errstr_size, "cannot create the forwarder thread: %s",
			       strerror(trc));
		goto error;
	}
	pthread_setname_np(f->thread, "mqb-kafka");
	f->spawned = true;

	f->nstreams = f->kc->forward_count;
	f->streams = calloc(f->nstreams ? f->nstreams : 1, sizeof(*f->streams));
	if (!f->streams) {
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		goto error;
	}
	for (size_t i = 0; i < f->nstreams; i++) {
		struct kstream *ks = f->streams[i] = calloc(1, sizeof(*ks));
		if (!ks || !(ks->stream = strdup(f->kc->forward[i].stream)) ||
		    !(ks->topic = strdup(f->kc->forward[i].topic))) {
			mqb_errstr_set(errstr, errstr_size, "out of memory");
			goto error;
		}
		ks->f = f;
		ks->kafka_parts = -1;
		snprintf(ks->why, sizeof(ks->why), "waiting for the topic's metadata");
		ks->nparts = mqb_store_partition_count(store, ks->stream);
		if (ks->nparts < 1) {
			mqb_errstr_set(errstr, errstr_size, "kafka.forward: stream %s is not open "
				       "in the store", ks->stream);
			goto error;
		}
		ks->parts = calloc((size_t)ks->nparts, sizeof(*ks->parts));
		if (!ks->parts) {
			mqb_errstr_set(errstr, errstr_size, "out of memory");
			goto error;
		}
		for (int32_t p = 0; p < ks->nparts; p++)
			if (part_init(f, ks, p, errstr, errstr_size) != MQB_OK)
				goto error;
	}
	/* The producer first: its threads connect, fetch metadata and the idempotent
	 * producer id while this thread reads the journal and places the cursors (nothing
	 * is produced before mqb_kafka_fwd_start()). */
	if (producer_create(f, errstr, errstr_size) != MQB_OK)
		goto error;

	if (state_dir)
		snprintf(dir, sizeof(dir), "%s", state_dir);
	else
		snprintf(dir, sizeof(dir), "%s/.kafka", cfg->data_dir ? cfg->data_dir : ".");
	if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
		mqb_errstr_set(errstr, errstr_size, "cannot create %s: %s", dir, strerror(errno));
		goto error;
	}
	size_t plen = strlen(dir) + sizeof("/forwarder.journal");
	f->journal_path = malloc(plen);
	if (!f->journal_path) {
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		goto error;
	}
	snprintf(f->journal_path, plen, "%s/forwarder.journal", dir);
	mqb_journal_opts_t jo = { .replay = journal_replay, .snapshot = journal_snapshot,
				  .arg = f, .compact_bytes = 1 << 20 };
	f->journal = mqb_journal_open(f->journal_path, &jo, errstr, errstr_size);
	if (!f->journal) {
		char why[512];
		snprintf(why, sizeof(why), "%s", errstr ? errstr : "");
		mqb_errstr_set(errstr, errstr_size, "kafka forwarder state: %s (moving %s "
			       "away makes every stream forward again from its log start)",
			       why, dir);
		goto error;
	}
	for (size_t i = 0; i < f->nstreams; i++)
		for (int32_t p = 0; p < f->streams[i]->nparts; p++)
			if (part_position(f, &f->streams[i]->parts[p], errstr, errstr_size))
				goto error;
	for (size_t i = 0; f->kc->block_on_backlog && i < f->nstreams; i++)
		for (int32_t p = 0; p < f->streams[i]->nparts; p++)
			floor_update(f, &f->streams[i]->parts[p]);

	if (metrics) {
		static const double bounds[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
						 0.25, 0.5, 1, 2.5, 5, 10, 30, 60 };
		f->m_latency = mqb_metrics_histogram(metrics,
						     "mqbridge_kafka_produce_latency_seconds",
						     "Time from produce to delivery report",
						     bounds, sizeof(bounds) / sizeof(bounds[0]), NULL);
		f->m_restarts = mqb_metrics_counter(metrics, "mqbridge_kafka_producer_restarts_total",
						    "Producer recreated after a fatal error", NULL);
		mqb_metrics_add_collector(metrics, mqb_kafka__metrics_collect, f);
		mqb_metrics_add_json(metrics, "kafka", mqb_kafka__json_section, f);
	}
	return f;
error:
	mqb_kafka_fwd_destroy(f);
	return NULL;
}

const mqb_config_t *mqb_kafka_fwd_config(mqb_kafka_fwd_t *f)
{
	return f->cfg;
}

int mqb_kafka_fwd_start(mqb_kafka_fwd_t *f)
{
	if (!f->spawned || f->started || f->joined)
		return MQB_ERR_STATE;
	pthread_mutex_lock(&f->lock);
	f->go = true;
	pthread_cond_signal(&f->go_cond);
	pthread_mutex_unlock(&f->lock);
	f->started = true;
	return MQB_OK;
}

void mqb_kafka_fwd_stop(mqb_kafka_fwd_t *f, int flush_ms)
{
	if (!f || !f->spawned || f->joined)
		return;
	f->flush_ms = flush_ms;
	pthread_mutex_lock(&f->lock);
	atomic_store(&f->stopping, true);
	pthread_cond_signal(&f->go_cond);
	pthread_mutex_unlock(&f->lock);
	pthread_join(f->thread, NULL);
	f->joined = true;
}

void mqb_kafka_fwd_destroy(mqb_kafka_fwd_t *f)
{
	if (!f)
		return;
	mqb_kafka_fwd_stop(f, 5000);
	if (f->rk)
		rd_kafka_purge(f->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	/* Undelivered records stay behind the persisted cursor: nothing is lost. */
	f->stopping = true;
	producer_destroy(f);
	if (f->journal) {
		mqb_journal_sync(f->journal);
		mqb_journal_close(f->journal);
	}
	for (size_t i = 0; f->streams && i < f->nstreams; i++) {
		struct kstream *ks = f->streams[i];
		for (int32_t p = 0; ks && ks->parts && p < ks->nparts; p++) {
			if (ks->parts[p].p && f->kc->block_on_backlog)
				mqb_partition_set_retention_floor(ks->parts[p].p, -1);
			mqb_kafka__part_free(f, &ks->parts[p]);
		}
		mqb_kafka__stream_free(ks);
	}
	free(f->streams);
	for (size_t i = 0; i < f->nretired; i++) {
		for (int32_t p = 0; p < f->retired[i]->nparts; p++)
			mqb_kafka__part_free(f, &f->retired[i]->parts[p]);
		mqb_kafka__stream_free(f->retired[i]);
	}
	free(f->retired);
	for (size_t i = 0; i < f->ngarbage; i++)
		free(f->garbage[i]);
	free(f->garbage);
	mqb_kafka__saved_free(f);
	while (f->topics) {
		struct ktopic *kt = f->topics;
		f->topics = kt->next;
		free(kt->name);
		free(kt);
	}
	if (f->conf_tmpl)
		rd_kafka_conf_destroy(f->conf_tmpl);
	mqb_sbuf_free(&f->pending);
	free(f->journal_path);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->go_cond);
	pthread_rwlock_destroy(&f->slock);
	free(f);
}

int mqb_kafka_fwd_translate(mqb_kafka_fwd_t *f, const char *stream, const char *topic,
			    int32_t partition, int64_t offset, int64_t *kafka_offset,
			    const char **topic_out)
{
	pthread_rwlock_rdlock(&f->slock);
	struct kpart *kp = find_part(f, stream, topic, partition);
	if (!kp) {
		pthread_rwlock_unlock(&f->slock);
		return MQB_ERR_NOTFOUND;
	}
	if (topic_out)
		*topic_out = kp->ks->topic;   /* kept until destroy even if a reload changes it */
	pthread_mutex_lock(&f->lock);
	int rc = mqb_fwd_syncs_translate(&kp->syncs, offset, kafka_offset, NULL);
	pthread_mutex_unlock(&f->lock);
	pthread_rwlock_unlock(&f->slock);
	return rc;
}

int mqb_kafka_fwd_status(mqb_kafka_fwd_t *f, const char *stream, const char *topic,
			 int32_t partition, mqb_kafka_part_status_t *out)
{
	pthread_rwlock_rdlock(&f->slock);
	struct kpart *kp = find_part(f, stream, topic, partition);
	if (kp)
		mqb_kafka__part_status(kp, out);
	pthread_rwlock_unlock(&f->slock);
	return kp ? MQB_OK : MQB_ERR_NOTFOUND;
}

void mqb_kafka__part_status(struct kpart *kp, mqb_kafka_part_status_t *out)
{
	mqb_watermarks_t wm;
	mqb_partition_watermarks(kp->p, &wm);
	out->state = atomic_load(&kp->ks->state);
	out->cursor = atomic_load(&kp->a_cursor);
	out->produced = atomic_load(&kp->a_next);
	out->inflight = atomic_load(&kp->a_inflight);
	out->stored = wm.stored;
	out->durable = wm.durable;
	out->log_start = wm.log_start;
	out->forwarded = atomic_load(&kp->a_forwarded);
	out->lost = atomic_load(&kp->a_lost);
	out->delivery_errors = atomic_load(&kp->a_errors);
}

bool mqb_kafka_fwd_connected(mqb_kafka_fwd_t *f)
{
	return atomic_load(&f->connected) != 0;
}

uint64_t mqb_kafka_fwd_restarts(mqb_kafka_fwd_t *f)
{
	return atomic_load(&f->restarts);
}

int mqb_kafka_fwd_test_fatal(mqb_kafka_fwd_t *f)
{
	if (!f->rk)
		return MQB_ERR_STATE;
	return rd_kafka_test_fatal_error(f->rk, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
					 "mqbridge test: injected fatal error") ?
	       MQB_ERR_STATE : MQB_OK;
}

/* --- for kafka_forwarder_reload.c ------------------------------------------------------ */

int mqb_kafka__part_init(mqb_kafka_fwd_t *f, struct kstream *ks, int32_t p, char *errstr,
			 size_t errstr_size)
{
	return part_init(f, ks, p, errstr, errstr_size);
}

int mqb_kafka__part_position(mqb_kafka_fwd_t *f, struct kpart *kp, char *errstr,
			     size_t errstr_size)
{
	return part_position(f, kp, errstr, errstr_size);
}

void mqb_kafka__floor_update(mqb_kafka_fwd_t *f, struct kpart *kp)
{
	floor_update(f, kp);
}

void mqb_kafka__state_flush(mqb_kafka_fwd_t *f, bool force)
{
	state_flush(f, force);
}

void mqb_kafka__part_free(mqb_kafka_fwd_t *f, struct kpart *kp)
{
	(void)f;
	mqb_reader_destroy(kp->r);
	mqb_fwd_window_free(&kp->win);
	mqb_fwd_syncs_free(&kp->syncs);
}

void mqb_kafka__stream_free(struct kstream *ks)
{
	if (!ks)
		return;
	free(ks->parts);
	free(ks->stream);
	free(ks->topic);
	free(ks);
}

struct ktopic *mqb_kafka__topic_slot(mqb_kafka_fwd_t *f, const char *name)
{
	struct ktopic *kt;
	for (kt = f->topics; kt; kt = kt->next)
		if (strcmp(kt->name, name) == 0)
			return kt;
	kt = calloc(1, sizeof(*kt));
	if (!kt || !(kt->name = strdup(name))) {
		free(kt);
		return NULL;
	}
	kt->next = f->topics;
	f->topics = kt;
	return kt;
}
