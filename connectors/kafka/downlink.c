/*
 * downlink.c — the downlink's lifecycle (downlink.h): config checks, building the
 * entries, the thread's loop (publisher turn, then every entry's consumer turn) and
 * the orderly stop (acks, commit, leave, close the publisher).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/logging.h"
#include "connectors/kafka/downlink_int.h"
#include "connectors/kafka/kafka_conf.h"

#define IDLE_WAIT_MS 100
#define STOP_DRAIN_MS 2000

/* --- configuration ----------------------------------------------------------------- */

static int check_entry(const mqb_config_t *cfg, size_t i, char *errstr, size_t errstr_size)
{
	const mqb_kafka_downlink_conf_t *d = &mqb_kafka_conf(cfg)->downlink[i];
	const char *file = cfg->path ? cfg->path : "<config>";
	char why[256] = "";
	if (!mqb_kafka_topic_name_valid(d->topic)) {
		mqb_errstr_set(errstr, errstr_size, "%s:%d: kafka.downlink.[%zu].topic: not a valid "
			       "Kafka topic name (got \"%s\")", file, d->line, i, d->topic);
		return MQB_ERR_CONFIG;
	}
	mqb_dl_tmpl_t *t = mqb_dl_tmpl_new(d->mqtt_topic, why, sizeof(why));
	mqb_dl_tmpl_free(t);
	if (!t) {
		mqb_errstr_set(errstr, errstr_size, "%s:%d: kafka.downlink.[%zu].mqtt_topic: %s "
			       "(got \"%s\")", file, d->line, i, why, d->mqtt_topic);
		return MQB_ERR_CONFIG;
	}
	if (d->dead_letter && mqb_config_stream_index(cfg, d->dead_letter) < 0) {
		mqb_errstr_set(errstr, errstr_size, "%s:%d: kafka.downlink.[%zu].dead_letter: no "
			       "stream named \"%s\"", file, d->line, i, d->dead_letter);
		return MQB_ERR_CONFIG;
	}
	for (size_t j = 0; j < i; j++)
		if (strcmp(mqb_kafka_conf(cfg)->downlink[j].topic, d->topic) == 0 &&
		    strcmp(mqb_kafka_conf(cfg)->downlink[j].group, d->group) == 0) {
			mqb_errstr_set(errstr, errstr_size, "%s:%d: kafka.downlink.[%zu]: topic %s "
				       "in group %s is already consumed by entry %zu", file,
				       d->line, i, d->topic, d->group, j);
			return MQB_ERR_CONFIG;
		}
	return MQB_OK;
}

int mqb_kafka_downlink_check_config(const mqb_config_t *cfg, char *errstr, size_t errstr_size)
{
	for (size_t i = 0; i < mqb_kafka_conf(cfg)->downlink_count; i++) {
		int rc = check_entry(cfg, i, errstr, errstr_size);
		if (rc)
			return rc;
	}
	return MQB_OK;
}

/* --- publisher events -------------------------------------------------------------- */

static void on_connection(void *arg, bool up)
{
	mqb_downlink_t *dl = arg;
	atomic_store(&dl->mqtt_up, up);
	if (!atomic_load(&dl->running))
		return;            /* our own disconnect at shutdown */
	if (up)
		mqb_notice(DL_MOD, "MQTT broker connected: publishing");
	else
		mqb_warn(DL_MOD, "MQTT broker disconnected: downlink partitions paused until it "
			 "returns");
}

/* --- lifecycle --------------------------------------------------------------------- */

static int entry_init(mqb_downlink_t *dl, size_t i, char *errstr, size_t errstr_size)
{
	struct dl_entry *e = &dl->entries[i];
	e->dl = dl;
	e->idx = i;
	e->conf = &mqb_kafka_conf(dl->cfg)->downlink[i];
	e->dead_index = -1;
	snprintf(e->label, sizeof(e->label), "downlink[%zu] %s", i, e->conf->topic);
	e->tmpl = mqb_dl_tmpl_new(e->conf->mqtt_topic, NULL, 0);
	if (!e->tmpl) {
		mqb_errstr_set(errstr, errstr_size, "kafka.downlink.[%zu].mqtt_topic: invalid", i);
		return MQB_ERR_CONFIG;
	}
	if (e->conf->dead_letter) {
		e->dead_index = mqb_config_stream_index(dl->cfg, e->conf->dead_letter);
		e->ndead = mqb_store_partition_count(dl->store, e->conf->dead_letter);
		if (e->dead_index < 0 || e->ndead < 1) {
			mqb_errstr_set(errstr, errstr_size, "kafka.downlink.[%zu].dead_letter: stream "
				       "%s is not open", i, e->conf->dead_letter);
			return MQB_ERR_CONFIG;
		}
	}
	return mqb_dl__consumer_new(e, errstr, errstr_size);
}

mqb_downlink_t *mqb_downlink_new(const mqb_config_t *cfg, mqb_store_t *store,
				 mqb_metrics_t *metrics, const mqb_dl_publisher_t *pub,
				 char *errstr, size_t errstr_size)
{
	if (mqb_kafka_downlink_check_config(cfg, errstr, errstr_size) != MQB_OK)
		return NULL;
	mqb_downlink_t *dl = calloc(1, sizeof(*dl));
	if (!dl || !(dl->entries = calloc(mqb_kafka_conf(cfg)->downlink_count,
						   sizeof(*dl->entries)))) {
		free(dl);
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		return NULL;
	}
	dl->cfg = cfg;
	dl->store = store;
	dl->metrics = metrics;
	dl->pub = *pub;
	dl->n = mqb_kafka_conf(cfg)->downlink_count;
	pthread_mutex_init(&dl->lock, NULL);
	for (size_t i = 0; i < dl->n; i++)
		if (entry_init(dl, i, errstr, errstr_size) != MQB_OK) {
			mqb_downlink_destroy(dl);
			return NULL;
		}
	mqb_dl_pub_events_t ev = { .on_done = mqb_dl__on_done, .on_connection = on_connection,
				   .arg = dl };
	dl->pub.bind(dl->pub.ctx, &ev);
	if (metrics) {
		mqb_metrics_add_collector(metrics, mqb_dl__metrics_collect, dl);
		mqb_metrics_add_json(metrics, "downlink", mqb_dl__json_section, dl);
	}
	return dl;
}

/* Before leaving: wait (bounded) for outstanding acks so they can be committed. */
static void drain_all(mqb_downlink_t *dl)
{
	int64_t end = mqb_mono_ms() + STOP_DRAIN_MS;
	while (mqb_mono_ms() < end && atomic_load(&dl->mqtt_up)) {
		int64_t pending = 0;
		for (size_t i = 0; i < dl->n; i++)
			for (int32_t j = 0; j < dl->entries[i].nparts; j++)
				if (dl->entries[i].parts[j])
					pending += atomic_load(&dl->entries[i].parts[j]->a_inflight);
		if (pending == 0)
			return;
		dl->pub.run(dl->pub.ctx, 20);
	}
}

static void *dl_thread(void *arg)
{
	mqb_downlink_t *dl = arg;
	int busy = 0;
	dl->pub.connect(dl->pub.ctx);
	while (atomic_load(&dl->running)) {
		dl->pub.run(dl->pub.ctx, busy ? 0 : IDLE_WAIT_MS);
		int64_t now = mqb_mono_ms();
		busy = 0;
		for (size_t i = 0; i < dl->n; i++)
			busy |= mqb_dl__entry_turn(&dl->entries[i], now);
		atomic_store(&dl->last_turn_ms, now);
	}
	drain_all(dl);
	for (size_t i = 0; i < dl->n; i++)
		mqb_dl__close(&dl->entries[i]);
	dl->pub.close(dl->pub.ctx, 1000);
	return NULL;
}

int mqb_downlink_start(mqb_downlink_t *dl)
{
	atomic_store(&dl->running, true);
	atomic_store(&dl->last_turn_ms, mqb_mono_ms());
	if (pthread_create(&dl->thr, NULL, dl_thread, dl) != 0) {
		atomic_store(&dl->running, false);
		return MQB_ERR_NOMEM;
	}
	dl->started = true;
	mqb_info(DL_MOD, "started: %zu Kafka topic(s) to MQTT", dl->n);
	return MQB_OK;
}

void mqb_downlink_stop(mqb_downlink_t *dl)
{
	if (!dl || !dl->started)
		return;
	atomic_store(&dl->running, false);
	dl->pub.wakeup(dl->pub.ctx);
	pthread_join(dl->thr, NULL);
	dl->started = false;
}

void mqb_downlink_destroy(mqb_downlink_t *dl)
{
	if (!dl)
		return;
	mqb_downlink_stop(dl);
	for (size_t i = 0; i < dl->n; i++) {
		struct dl_entry *e = &dl->entries[i];
		if (e->rk)
			rd_kafka_destroy(e->rk);
		for (int32_t j = 0; j < e->nparts; j++) {
			struct dl_part *p = e->parts[j];
			if (!p)
				continue;
			mqb_dl__held_clear(p);
			free(p->held.v);
			mqb_fwd_window_free(&p->win);
			free(p);
		}
		free(e->parts);
		free(e->scratch);
		mqb_dl_tmpl_free(e->tmpl);
	}
	free(dl->entries);
	pthread_mutex_destroy(&dl->lock);
	free(dl);
}

bool mqb_downlink_kafka_up(mqb_downlink_t *dl)
{
	for (size_t i = 0; dl && i < dl->n; i++)
		if (!atomic_load(&dl->entries[i].kafka_up))
			return false;
	return true;
}

int64_t mqb_downlink_last_turn_ms(mqb_downlink_t *dl)
{
	return dl ? atomic_load(&dl->last_turn_ms) : 0;
}
