/*
 * mosq_ingest.c — PUBLISH -> record inside the broker (see mosq_ingest.h): the message
 * and tick callbacks, refusal accounting, construction.
 */
#include "connectors/mosquitto/mosq_ingest.h"

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <mqtt_protocol.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/ingest/pipeline.h"
#include "bridge/logging.h"

#define ING_MOD "plugin"
#define ING_FIXED_HDRS 6     /* topic, qos, retain, content type, response topic, corr. */
#define ING_LOG_EVERY_MS 5000

/* Why a message was not stored, and what the broker was told. */
enum ing_refusal {
	REF_TOO_LARGE,           /* final: ACL_DENIED (PUBACK/PUBREC 0x87) */
	REF_KEY_TEMPLATE,        /* final: ACL_DENIED */
	REF_STORE_FULL,          /* temporary: QoS 1/2 disconnected, QoS 0 dropped */
	REF_STORE_IO,            /* temporary */
	REF_PAUSED,              /* temporary: a store retry is pending */
	REF_NOMEM,               /* temporary */
	REF_COUNT
};

static const char *const ref_name[REF_COUNT] = {
	"too_large", "key_template", "store_full", "store_io", "store_retry_pending",
	"out_of_memory",
};

enum ing_outcome { OUT_REFUSED, OUT_DISCONNECTED, OUT_DROPPED_QOS0, OUT_COUNT };
static const char *const out_name[OUT_COUNT] = { "refused", "disconnected", "dropped_qos0" };

struct mqb_mosq_ingest {
	mosquitto_plugin_id_t *pid;
	mqb_pipeline_t *pipe;
	bool registered_msg, registered_tick;
	atomic_bool paused;                 /* the pipeline has a store retry pending */
	atomic_llong last_tick_ms;          /* mono ms of the last MOSQ_EVT_TICK */
	atomic_ullong accepted;             /* routed messages stored (callback said yes) */
	atomic_ullong passed;               /* unrouted messages left to the broker */
	atomic_ullong refused[REF_COUNT][OUT_COUNT];
	mqb_rec_header_t *hdrs;
	size_t hdr_cap;
	void **owned;                       /* property strings to mosquitto_free */
	size_t nowned, owned_cap;
};

/* --- headers --------------------------------------------------------------------- */

static int hdr_reserve(mqb_mosq_ingest_t *ing, size_t need)
{
	mqb_rec_header_t *n;
	size_t cap = ing->hdr_cap ? ing->hdr_cap : 16;

	if (need <= ing->hdr_cap)
		return 0;
	while (cap < need)
		cap *= 2;
	n = realloc(ing->hdrs, cap * sizeof *n);
	if (!n)
		return -1;
	ing->hdrs = n;
	ing->hdr_cap = cap;
	return 0;
}

static int own(mqb_mosq_ingest_t *ing, void *p)
{
	if (ing->nowned == ing->owned_cap) {
		size_t cap = ing->owned_cap ? ing->owned_cap * 2 : 32;
		void **n = realloc(ing->owned, cap * sizeof *n);

		if (!n) {
			mosquitto_free(p);
			return -1;
		}
		ing->owned = n;
		ing->owned_cap = cap;
	}
	ing->owned[ing->nowned++] = p;
	return 0;
}

static void own_release(mqb_mosq_ingest_t *ing)
{
	for (size_t i = 0; i < ing->nowned; i++)
		mosquitto_free(ing->owned[i]);
	ing->nowned = 0;
}

static void hdr_set(mqb_rec_header_t *h, const char *key, const void *val, ssize_t len)
{
	h->key = key;
	h->key_len = strlen(key);
	h->value = val;
	h->value_len = len;
}

/* The record headers, as the client-mode MQTT source writes them: mqtt.topic, mqtt.qos,
 * mqtt.retain (when set), mqtt.content_type, mqtt.response_topic,
 * mqtt.correlation_data, then the user properties in order. -1: out of memory. */
static int build_headers(mqb_mosq_ingest_t *ing, const struct mosquitto_evt_message *ev,
			 size_t *count)
{
	static const char *const qos_str[] = { "0", "1", "2" };
	const mosquitto_property *p;
	size_t n = 0;

	hdr_set(&ing->hdrs[n++], "mqtt.topic", ev->topic, (ssize_t)strlen(ev->topic));
	hdr_set(&ing->hdrs[n++], "mqtt.qos", qos_str[ev->qos > 2 ? 2 : ev->qos], 1);
	if (ev->retain)
		hdr_set(&ing->hdrs[n++], "mqtt.retain", "1", 1);
	for (p = ev->properties; p; p = mosquitto_property_next(p)) {
		int id = mosquitto_property_identifier(p);
		char *name = NULL, *value = NULL;
		void *bin = NULL;
		uint16_t blen = 0;

		if (hdr_reserve(ing, n + 1) != 0)
			return -1;
		switch (id) {
		case MQTT_PROP_CONTENT_TYPE:
		case MQTT_PROP_RESPONSE_TOPIC:
			if (!mosquitto_property_read_string(p, id, &value, false) || own(ing, value))
				return -1;
			hdr_set(&ing->hdrs[n++], id == MQTT_PROP_CONTENT_TYPE ? "mqtt.content_type"
				: "mqtt.response_topic", value, (ssize_t)strlen(value));
			break;
		case MQTT_PROP_CORRELATION_DATA:
			if (!mosquitto_property_read_binary(p, id, &bin, &blen, false))
				return -1;
			if (!bin)   /* zero length: nothing was allocated */
				bin = mosquitto_calloc(1, 1);
			if (!bin || own(ing, bin))
				return -1;
			hdr_set(&ing->hdrs[n++], "mqtt.correlation_data", bin, blen);
			break;
		case MQTT_PROP_USER_PROPERTY:
			if (!mosquitto_property_read_string_pair(p, id, &name, &value, false))
				return -1;
			if (own(ing, name) || own(ing, value))
				return -1;
			ing->hdrs[n].key = name;
			ing->hdrs[n].key_len = strlen(name);
			ing->hdrs[n].value = value;
			ing->hdrs[n].value_len = (ssize_t)strlen(value);
			n++;
			break;
		default:
			break;
		}
	}
	*count = n;
	return 0;
}

/* --- the message callback (broker thread) ------------------------------------------ */

static int refuse(mqb_mosq_ingest_t *ing, const struct mosquitto_evt_message *ev,
		  enum ing_refusal why)
{
	bool final = why == REF_TOO_LARGE || why == REF_KEY_TEMPLATE;
	enum ing_outcome out = final ? OUT_REFUSED : ev->qos == 0 ? OUT_DROPPED_QOS0
				 : OUT_DISCONNECTED;
	const char *cid = mosquitto_client_id(ev->client);

	atomic_fetch_add(&ing->refused[why][out], 1);
	/* One line per 5 s per reason: a reconnecting crowd of publishers resending into a
	 * full store must not turn into a log storm. */
	switch (why) {
	case REF_TOO_LARGE:
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, ING_MOD, ING_LOG_EVERY_MS,
				    "refused a %u-byte message from %.100s on %.200s: payload "
				    "over the limit", (unsigned)ev->payloadlen, cid ? cid : "?",
				    ev->topic);
		break;
	case REF_KEY_TEMPLATE:
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, ING_MOD, ING_LOG_EVERY_MS,
				    "refused a message from %.100s on %.200s: its route's key "
				    "template cannot be filled", cid ? cid : "?", ev->topic);
		break;
	default:
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, ING_MOD, ING_LOG_EVERY_MS,
				    "cannot store a QoS %d message from %.100s on %.200s now "
				    "(%s): %s", ev->qos, cid ? cid : "?", ev->topic, ref_name[why],
				    ev->qos ? "dropping the connection unacknowledged, the "
				    "publisher resends after reconnecting"
				    : "QoS 0 message dropped");
		break;
	}
	if (final || ev->qos == 0)
		return MOSQ_ERR_ACL_DENIED;
	return MOSQ_ERR_UNKNOWN;
}

static int on_message(int event, void *event_data, void *userdata)
{
	mqb_mosq_ingest_t *ing = userdata;
	struct mosquitto_evt_message *ev = event_data;
	mqb_pipeline_msg_t pm;
	size_t nh = 0;
	int route, rc;

	(void)event;
	route = mqb_pipeline_route(ing->pipe, ev->topic);
	if (route < 0) {
		atomic_fetch_add(&ing->passed, 1);
		return MOSQ_ERR_SUCCESS;   /* not ours: the broker handles it as usual */
	}
	if (atomic_load(&ing->paused)) {
		/* the retry is due here too: with per_listener_settings true mosquitto 2.0.11
		 * sends no MOSQ_EVT_TICK (plugin__handle_tick() skips that case) */
		mqb_pipeline_tick(ing->pipe, mqb_mono_ms());
		if (atomic_load(&ing->paused))
			return refuse(ing, ev, REF_PAUSED);
	}
	if (build_headers(ing, ev, &nh) != 0) {
		own_release(ing);
		return refuse(ing, ev, REF_NOMEM);
	}
	memset(&pm, 0, sizeof pm);
	pm.topic = ev->topic;
	pm.payload = ev->payload ? ev->payload : "";
	pm.payload_len = ev->payloadlen;
	pm.headers = ing->hdrs;
	pm.header_count = nh;
	pm.timestamp_ms = mqb_now_ms();
	pm.route = route;
	rc = mqb_pipeline_submit(ing->pipe, &pm);
	own_release(ing);
	switch (rc) {
	case MQB_OK:
		break;
	case MQB_PIPELINE_TOO_LARGE:
		return refuse(ing, ev, REF_TOO_LARGE);
	case MQB_PIPELINE_KEY_TEMPLATE:
		return refuse(ing, ev, REF_KEY_TEMPLATE);
	default:
		return refuse(ing, ev, REF_NOMEM);
	}
	/* Append now (page cache; fsync stays on the flusher). On failure the record stays
	 * in the pipeline and is appended by a later retry: the publisher, disconnected
	 * unacknowledged, may then store it a second time (at least once). */
	rc = mqb_pipeline_end_burst(ing->pipe);
	if (rc == MQB_OK) {
		atomic_fetch_add(&ing->accepted, 1);
		return MOSQ_ERR_SUCCESS;
	}
	return refuse(ing, ev, rc == MQB_ERR_NOSPC ? REF_STORE_FULL
		      : rc == MQB_ERR_AGAIN ? REF_PAUSED : REF_STORE_IO);
}

static int on_tick(int event, void *event_data, void *userdata)
{
	mqb_mosq_ingest_t *ing = userdata;
	int64_t now = mqb_mono_ms();

	(void)event;
	(void)event_data;
	atomic_store(&ing->last_tick_ms, now);
	mqb_pipeline_tick(ing->pipe, now);   /* a due store retry */
	return MOSQ_ERR_SUCCESS;
}

static void on_pause(void *arg, bool on)
{
	mqb_mosq_ingest_t *ing = arg;

	atomic_store(&ing->paused, on);
	if (on)
		mqb_warn(ING_MOD, "the store refuses appends: QoS 1/2 publishers on routed "
			 "topics are disconnected unacknowledged until it accepts again");
	else
		mqb_notice(ING_MOD, "the store accepts appends again");
}

/* --- stats (stats thread) ---------------------------------------------------------- */

static void ing_collect(mqb_metrics_emit_t *e, void *arg)
{
	mqb_mosq_ingest_t *ing = arg;

	for (int r = 0; r < REF_COUNT; r++)
		for (int o = 0; o < OUT_COUNT; o++) {
			unsigned long long v = atomic_load(&ing->refused[r][o]);
			bool final = r == REF_TOO_LARGE || r == REF_KEY_TEMPLATE;

			if (v == 0 && (final != (o == OUT_REFUSED)))
				continue;   /* combinations that cannot happen */
			mqb_metrics_emit(e, "mqbridge_plugin_refused_total",
					 "PUBLISHes on routed topics the plugin did not store, by "
					 "reason and what the broker did (refused: PUBACK/PUBREC "
					 "0x87; disconnected: dropped unacknowledged; dropped_qos0)",
					 "counter", (double)v, "reason", ref_name[r],
					 "outcome", out_name[o], NULL);
		}
	mqb_metrics_emit(e, "mqbridge_plugin_accepted_total",
			 "PUBLISHes on routed topics appended before the broker acknowledged",
			 "counter", (double)atomic_load(&ing->accepted), NULL);
	mqb_metrics_emit(e, "mqbridge_plugin_passed_total",
			 "PUBLISHes on unrouted topics left to the broker", "counter",
			 (double)atomic_load(&ing->passed), NULL);
}

static void ing_json(cJSON *sec, void *arg)
{
	mqb_mosq_ingest_t *ing = arg;
	cJSON *ref = cJSON_AddObjectToObject(sec, "refused");
	unsigned long long total = 0;

	cJSON_AddNumberToObject(sec, "accepted", (double)atomic_load(&ing->accepted));
	cJSON_AddNumberToObject(sec, "passed", (double)atomic_load(&ing->passed));
	cJSON_AddBoolToObject(sec, "paused", atomic_load(&ing->paused));
	for (int r = 0; r < REF_COUNT; r++) {
		unsigned long long v = 0;

		for (int o = 0; o < OUT_COUNT; o++)
			v += atomic_load(&ing->refused[r][o]);
		total += v;
		if (ref)
			cJSON_AddNumberToObject(ref, ref_name[r], (double)v);
	}
	cJSON_AddNumberToObject(sec, "refused_total", (double)total);
	cJSON_AddNumberToObject(sec, "disconnects", (double)(
		atomic_load(&ing->refused[REF_STORE_FULL][OUT_DISCONNECTED]) +
		atomic_load(&ing->refused[REF_STORE_IO][OUT_DISCONNECTED]) +
		atomic_load(&ing->refused[REF_PAUSED][OUT_DISCONNECTED]) +
		atomic_load(&ing->refused[REF_NOMEM][OUT_DISCONNECTED])));
}

int mqb_mosq_ingest_ready(void *arg, char *why, size_t why_size)
{
	mqb_mosq_ingest_t *ing = arg;

	if (!atomic_load(&ing->paused))
		return 1;
	mqb_errstr_set(why, why_size, "the store refuses appends (retrying)");
	return 0;
}

int mqb_mosq_ingest_alive(void *arg, int64_t stall_ms, char *why, size_t why_size)
{
	mqb_mosq_ingest_t *ing = arg;
	int64_t idle = mqb_mono_ms() - atomic_load(&ing->last_tick_ms);

	if (idle <= stall_ms)
		return 1;
	mqb_errstr_set(why, why_size, "the broker's thread has not turned for %lld ms",
		       (long long)idle);
	return 0;
}

/* --- construction ------------------------------------------------------------------ */

mqb_mosq_ingest_t *mqb_mosq_ingest_new(const mqb_mosq_ingest_opts_t *opts, char *errstr,
				       size_t errstr_size)
{
	mqb_mosq_ingest_t *ing;
	mqb_pipeline_opts_t po;

	if (!opts || !opts->cfg || !opts->store || !opts->plugin_id) {
		mqb_errstr_set(errstr, errstr_size, "plugin ingest: missing configuration, "
			       "store or plugin id");
		return NULL;
	}
	ing = calloc(1, sizeof *ing);
	if (!ing || hdr_reserve(ing, ING_FIXED_HDRS + 16) != 0) {
		free(ing);
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		return NULL;
	}
	ing->pid = opts->plugin_id;
	atomic_init(&ing->paused, false);
	atomic_init(&ing->last_tick_ms, mqb_mono_ms());
	memset(&po, 0, sizeof po);
	po.cfg = opts->cfg;
	po.store = opts->store;
	po.metrics = opts->metrics;
	po.max_record_bytes = opts->max_record_bytes;
	po.pause = on_pause;
	po.arg = ing;
	po.linger_ms = 0;   /* PUBACK means stored: the append happens inside on_message */
	ing->pipe = mqb_pipeline_new(&po, errstr, errstr_size);
	if (!ing->pipe)
		goto error;
	if (opts->metrics) {
		mqb_metrics_add_collector(opts->metrics, mqb_pipeline_collect, ing->pipe);
		mqb_metrics_add_collector(opts->metrics, ing_collect, ing);
		mqb_metrics_add_json(opts->metrics, "plugin", ing_json, ing);
	}
	if (mosquitto_callback_register(ing->pid, MOSQ_EVT_MESSAGE, on_message, NULL, ing)
	    != MOSQ_ERR_SUCCESS) {
		mqb_errstr_set(errstr, errstr_size, "cannot register the message callback");
		goto error;
	}
	ing->registered_msg = true;
	if (mosquitto_callback_register(ing->pid, MOSQ_EVT_TICK, on_tick, NULL, ing)
	    != MOSQ_ERR_SUCCESS) {
		mqb_errstr_set(errstr, errstr_size, "cannot register the tick callback");
		goto error;
	}
	ing->registered_tick = true;
	return ing;

error:
	mqb_mosq_ingest_destroy(ing, 0);
	return NULL;
}

int mqb_mosq_ingest_destroy(mqb_mosq_ingest_t *ing, int flush_timeout_ms)
{
	int rc = MQB_OK;

	if (!ing)
		return MQB_OK;
	if (ing->registered_msg)
		mosquitto_callback_unregister(ing->pid, MOSQ_EVT_MESSAGE, on_message, NULL);
	if (ing->registered_tick)
		mosquitto_callback_unregister(ing->pid, MOSQ_EVT_TICK, on_tick, NULL);
	if (ing->pipe && mqb_pipeline_pending(ing->pipe) > 0)
		rc = mqb_pipeline_flush(ing->pipe, flush_timeout_ms);
	mqb_pipeline_destroy(ing->pipe);
	own_release(ing);
	free(ing->owned);
	free(ing->hdrs);
	free(ing);
	return rc;
}
