/*
 * downlink_consumer.c — one downlink entry's librdkafka consumer: its configuration
 * (defaults, the kafka section, what the guarantees need), the connection-state
 * callbacks (error, statistics, log), the queue wakeup, and closing it.
 * Downlink thread only, except on_queue_event (a librdkafka thread: wakeup only).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "connectors/kafka/kafka_brokers.h"
#include "connectors/kafka/kafka_conf.h"
#include "bridge/err.h"
#include "bridge/logging.h"
#include "connectors/kafka/downlink_int.h"

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
	int up = mqb_kafka_brokers_up(json, json_len);

	(void)rk;
	if (up >= 0)
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

static void on_queue_event(rd_kafka_t *rk, void *opaque)
{
	struct dl_entry *e = opaque;
	(void)rk;
	e->dl->pub.wakeup(e->dl->pub.ctx);
}


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
	const mqb_kafka_conf_t *k = mqb_kafka_conf(e->dl->cfg);
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
	rd_kafka_conf_set_rebalance_cb(rc, mqb_dl__on_rebalance);
	rd_kafka_conf_set_offset_commit_cb(rc, mqb_dl__on_commit);
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

void mqb_dl__close(struct dl_entry *e)
{
	if (!e->rk)
		return;
	if (atomic_load(&e->kafka_up))
		mqb_dl__commit(e, true);
	rd_kafka_consumer_close(e->rk);
	for (int32_t i = 0; i < e->nparts; i++)
		if (e->parts[i])
			mqb_dl__part_reset(e->parts[i], false);
	rd_kafka_destroy(e->rk);
	e->rk = NULL;
}
