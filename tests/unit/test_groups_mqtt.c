/*
 * test_groups_mqtt.c — the consumer-group protocol over MQTT, byte for byte: control
 * messages (topic + JSON) into the MQTT groups transport (connectors/mqtt/
 * groups_transport.h) and a real coordinator, a recording publish callback out (topics,
 * payloads, MQTT 5 user properties, JSON envelopes, error replies), time passed in, a
 * real segment store in a temporary directory. The coordinator's logic is tested
 * through its C calls in test_coordinator.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "bridge/config.h"
#include "bridge/err.h"
#include "bridge/groups/coordinator.h"
#include "bridge/groups/coordinator_test.h"
#include "connectors/mqtt/groups_transport.h"
#include "bridge/store/store.h"
#include "tests/support/harness.h"
#include "connectors/mqtt/mqtt_conf.h"

/* --- recording transport --------------------------------------------------------- */

typedef struct sent {
	char *topic;
	char *payload;
	size_t len;
	char props[512];    /* "name=value;..." */
} sent_t;

typedef struct world {
	char dir[256];
	mqb_config_t *cfg;
	mqb_store_t *st;
	mqb_coord_t *c;
	mqb_mqtt_groups_t *t;
	sent_t *out;
	size_t n_out, cap_out;
	int fail_publish;
	int64_t now;
} world_t;

static int rec_publish(void *arg, const char *topic, const void *payload, size_t len,
		       const mqb_mqtt_userprop_t *props, size_t nprops)
{
	world_t *w = arg;

	if (w->fail_publish)
		return MQB_ERR_CONN;
	if (w->n_out == w->cap_out) {
		w->cap_out = w->cap_out ? w->cap_out * 2 : 64;
		w->out = realloc(w->out, w->cap_out * sizeof(*w->out));
		assert_non_null(w->out);
	}
	sent_t *s = &w->out[w->n_out++];
	s->topic = strdup(topic);
	s->payload = malloc(len + 1);
	memcpy(s->payload, payload, len);
	s->payload[len] = '\0';
	s->len = len;
	s->props[0] = '\0';
	for (size_t i = 0; i < nprops; i++) {
		size_t l = strlen(s->props);
		snprintf(s->props + l, sizeof(s->props) - l, "%s=%s;", props[i].name, props[i].value);
	}
	return MQB_OK;
}

static void clear_out(world_t *w)
{
	for (size_t i = 0; i < w->n_out; i++) {
		free(w->out[i].topic);
		free(w->out[i].payload);
	}
	w->n_out = 0;
}

/* Last message sent to topic (NULL if none). */
static sent_t *last_to(world_t *w, const char *topic)
{
	for (size_t i = w->n_out; i > 0; i--)
		if (strcmp(w->out[i - 1].topic, topic) == 0)
			return &w->out[i - 1];
	return NULL;
}

static const char *CONF =
	"streams = ( { name = \"s\"; partitions = 4; },\n"
	"            { name = \"one\"; partitions = 1; },\n"
	"            { name = \"dlq\"; partitions = 1; } );\n"
	"routes = ( { filter = \"x/#\"; stream = \"s\"; } );\n"
	"groups = (\n"
	"  { name = \"eg\"; stream = \"s\"; assignor = \"range\"; rebalance = \"eager\";\n"
	"    session_timeout_ms = 1000; heartbeat_interval_ms = 200; prefetch = 4; },\n"
	"  { name = \"cg\"; stream = \"s\"; assignor = \"cooperative-sticky\";\n"
	"    session_timeout_ms = 1000; heartbeat_interval_ms = 200; rebalance_timeout_ms = 500; },\n"
	"  { name = \"q\"; stream = \"one\"; assignor = \"range\"; prefetch = 4;\n"
	"    session_timeout_ms = 1000; heartbeat_interval_ms = 200; max_deliveries = 3; },\n"
	"  { name = \"sh\"; stream = \"one\"; mode = \"shared\"; prefetch = 2; max_deliveries = 2;\n"
	"    ack_timeout_ms = 300; dead_letter = \"dlq\"; session_timeout_ms = 5000;\n"
	"    heartbeat_interval_ms = 200; }\n"
	");\n";

static void world_open(world_t *w)
{
	char errstr[512], text[4096];
	mqb_coord_opts_t o;
	mqb_mqtt_groups_opts_t to;

	static const mqb_config_section_t *const sections[] = { &mqb_mqtt_conf_section, NULL };

	snprintf(text, sizeof(text), "data_dir = \"%s\";\n%s", w->dir, CONF);
	w->cfg = mqb_config_load_string(text, "test.conf", sections, errstr,
					 sizeof(errstr));
	if (!w->cfg)
		fail_msg("config: %s", errstr);
	w->st = mqb_store_open(w->dir, 0, errstr, sizeof(errstr));
	if (!w->st)
		fail_msg("store: %s", errstr);
	for (size_t i = 0; i < w->cfg->streams_count; i++)
		assert_int_equal(mqb_store_stream_open(w->st, &w->cfg->streams[i].opts, errstr,
						       sizeof(errstr)), MQB_OK);
	memset(&o, 0, sizeof(o));
	o.cfg = w->cfg;
	o.store = w->st;
	o.commit_interval_ms = 50;
	o.async_save = true;          /* what mqbridged runs */
	o.now_ms = w->now;
	w->c = mqb_coord_new(&o, errstr, sizeof(errstr));
	if (!w->c)
		fail_msg("coordinator: %s", errstr);
	memset(&to, 0, sizeof(to));
	to.coord = w->c;
	to.prefix = w->cfg->groups_prefix;
	to.v5 = true;
	to.publish = rec_publish;
	to.publish_arg = w;
	w->t = mqb_mqtt_groups_new(&to, errstr, sizeof(errstr));
	if (!w->t)
		fail_msg("transport: %s", errstr);
}

static void world_close(world_t *w)
{
	mqb_coord_destroy(w->c);
	w->c = NULL;
	mqb_mqtt_groups_destroy(w->t);
	w->t = NULL;
	mqb_store_close(w->st);
	w->st = NULL;
	mqb_config_free(w->cfg);
	w->cfg = NULL;
}

static int setup(void **state)
{
	world_t *w = calloc(1, sizeof(*w));
	assert_int_equal(mqbt_tmpdir(w->dir, sizeof(w->dir)), 0);
	w->now = 1000000;
	world_open(w);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	world_t *w = *state;
	world_close(w);
	clear_out(w);
	free(w->out);
	mqbt_rmrf(w->dir);
	free(w);
	return 0;
}

/* --- helpers ------------------------------------------------------------------------ */

static int send_msg(world_t *w, const char *topic, const char *json)
{
	return mqb_mqtt_groups_handle(w->t, topic, json, strlen(json), w->now);
}

static int join(world_t *w, const char *g, const char *m, const char *extra)
{
	char t[256], j[512];
	snprintf(t, sizeof(t), "mqbridge/groups/%s/join", g);
	snprintf(j, sizeof(j), "{\"member_id\":\"%s\"%s%s}", m, extra ? "," : "", extra ? extra : "");
	return send_msg(w, t, j);
}

static int leave(world_t *w, const char *g, const char *m)
{
	char t[256], j[512];
	snprintf(t, sizeof(t), "mqbridge/groups/%s/leave", g);
	snprintf(j, sizeof(j), "{\"member_id\":\"%s\"}", m);
	return send_msg(w, t, j);
}

static int member_msg(world_t *w, const char *g, const char *m, const char *leaf, const char *json)
{
	char t[256];
	snprintf(t, sizeof(t), "mqbridge/groups/%s/members/%s/%s", g, m, leaf);
	return send_msg(w, t, json);
}

static int heartbeat(world_t *w, const char *g, const char *m)
{
	char j[64];
	snprintf(j, sizeof(j), "{\"generation\":%lld", (long long)mqb_coord_generation(w->c, g));
	strcat(j, "}");
	return member_msg(w, g, m, "heartbeat", j);
}

static int ack(world_t *w, const char *g, const char *m, int64_t gen, const char *stream,
	       int part, int64_t first, int64_t last, const char *type)
{
	char j[512];
	snprintf(j, sizeof(j), "{\"generation\":%lld,\"acks\":[{\"stream\":\"%s\",\"partition\":%d,"
		 "\"ranges\":[[%lld,%lld]],\"type\":\"%s\"}]}", (long long)gen, stream, part,
		 (long long)first, (long long)last, type);
	return member_msg(w, g, m, "ack", j);
}

/* Parsed last assignment of member m: generation, assigned and revoked as bitmasks. */
static int64_t assignment(world_t *w, const char *g, const char *m, unsigned *assigned,
			  unsigned *revoked)
{
	char t[256];
	snprintf(t, sizeof(t), "mqbridge/groups/%s/members/%s/assignment", g, m);
	sent_t *s = last_to(w, t);
	*assigned = *revoked = 0;
	if (!s)
		return -1;
	cJSON *o = cJSON_Parse(s->payload);
	assert_non_null(o);
	int64_t gen = (int64_t)cJSON_GetObjectItem(o, "generation")->valuedouble;
	cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(o, "assigned")) {
		cJSON *p;
		cJSON_ArrayForEach(p, cJSON_GetObjectItem(e, "partitions"))
			*assigned |= 1u << p->valueint;
	}
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(o, "revoked")) {
		cJSON *p;
		cJSON_ArrayForEach(p, cJSON_GetObjectItem(e, "partitions"))
			*revoked |= 1u << p->valueint;
	}
	cJSON_Delete(o);
	return gen;
}

static const char *last_error(world_t *w, const char *g, const char *m)
{
	static char code[64];
	char t[256];
	snprintf(t, sizeof(t), "mqbridge/groups/%s/members/%s/error", g, m);
	sent_t *s = last_to(w, t);
	if (!s)
		return NULL;
	cJSON *o = cJSON_Parse(s->payload);
	assert_non_null(o);
	snprintf(code, sizeof(code), "%s", cJSON_GetObjectItem(o, "error")->valuestring);
	cJSON_Delete(o);
	return code;
}

static void append_n(world_t *w, const char *stream, int32_t part, int n)
{
	mqb_partition_t *p = mqb_store_partition(w->st, stream, part);
	assert_non_null(p);
	for (int i = 0; i < n; i++) {
		char v[32], k[16];
		snprintf(v, sizeof(v), "v%d", i);
		snprintf(k, sizeof(k), "k%d", i);
		mqb_rec_header_t h = { "mqtt.topic", 10, "x/y", 3 };
		mqb_record_t r = { .timestamp_ms = 1700000000000 + i, .key = k,
				   .key_len = (ssize_t)strlen(k), .value = v,
				   .value_len = (ssize_t)strlen(v), .headers = &h, .header_count = 1 };
		assert_int_equal(mqb_partition_append(p, &r, 1, NULL), MQB_OK);
	}
}

/* Offsets (from the "offset" property) of records sent to m, in order, into out. */
static size_t records_to(world_t *w, const char *g, const char *m, int64_t *out, int *parts,
			 size_t max)
{
	char t[256];
	size_t n = 0;
	snprintf(t, sizeof(t), "mqbridge/groups/%s/members/%s/records", g, m);
	for (size_t i = 0; i < w->n_out && n < max; i++) {
		if (strcmp(w->out[i].topic, t))
			continue;
		const char *o = strstr(w->out[i].props, "offset=");
		const char *p = strstr(w->out[i].props, "partition=");
		assert_non_null(o);
		assert_non_null(p);
		out[n] = atoll(o + 7);
		if (parts)
			parts[n] = atoi(p + 10);
		n++;
	}
	return n;
}

/* --- tests ------------------------------------------------------------------------ */

static void test_eager_join_and_rebalance(void **state)
{
	world_t *w = *state;
	unsigned a, r;

	assert_int_equal(join(w, "eg", "m1", NULL), MQB_OK);
	mqb_coord_tick(w->c, w->now);
	assert_int_equal(assignment(w, "eg", "m1", &a, &r), 1);
	assert_int_equal(a, 0xf);
	assert_int_equal(r, 0);

	assert_int_equal(join(w, "eg", "m2", NULL), MQB_OK);
	mqb_coord_tick(w->c, w->now);
	/* eager: generation 2 revokes everything from m1, m2 gets nothing yet */
	assert_int_equal(assignment(w, "eg", "m1", &a, &r), 2);
	assert_int_equal(a, 0);
	assert_int_equal(r, 0xf);
	assert_int_equal(assignment(w, "eg", "m2", &a, &r), 2);
	assert_int_equal(a, 0);
	/* m1 hands over: generation 3, range: m1 [0,1], m2 [2,3] */
	assert_int_equal(member_msg(w, "eg", "m1", "revoked",
				    "{\"generation\":2,\"partitions\":[0,1,2,3]}"), MQB_OK);
	assert_int_equal(assignment(w, "eg", "m1", &a, &r), 3);
	assert_int_equal(a, 0x3);
	assert_int_equal(assignment(w, "eg", "m2", &a, &r), 3);
	assert_int_equal(a, 0xc);
	assert_int_equal(mqb_coord_generation(w->c, "eg"), 3);

	/* clean leave of m2: m1 gets all after its own hand-over (eager) */
	assert_int_equal(leave(w, "eg", "m2"), MQB_OK);
	mqb_coord_tick(w->c, w->now);
	assert_int_equal(assignment(w, "eg", "m1", &a, &r), 4);
	assert_int_equal(r, 0x3);
	assert_int_equal(member_msg(w, "eg", "m1", "revoked",
				    "{\"generation\":4,\"partitions\":[0,1]}"), MQB_OK);
	assert_int_equal(assignment(w, "eg", "m1", &a, &r), 5);
	assert_int_equal(a, 0xf);
	assert_int_equal(mqb_coord_member_count(w->c, "eg"), 1);
}


static void test_session_timeout(void **state)
{
	world_t *w = *state;
	unsigned a, r;

	join(w, "q", "m1", NULL);
	join(w, "q", "m2", NULL);
	mqb_coord_tick(w->c, w->now);
	assert_int_equal(mqb_coord_member_count(w->c, "q"), 2);
	int64_t g0 = mqb_coord_generation(w->c, "q");
	for (int i = 0; i < 6; i++) {
		w->now += 200;
		heartbeat(w, "q", "m1");
		mqb_coord_tick(w->c, w->now);
	}
	/* m2 stayed silent > 1000 ms: removed, rebalance */
	assert_int_equal(mqb_coord_member_count(w->c, "q"), 1);
	assert_true(mqb_coord_generation(w->c, "q") > g0);
	/* 1 partition, eager: m1 may have to hand back its own first */
	int64_t g1 = assignment(w, "q", "m1", &a, &r);
	if (r) {
		char j[64];
		snprintf(j, sizeof(j), "{\"generation\":%lld,\"partitions\":[0]}", (long long)g1);
		assert_int_equal(member_msg(w, "q", "m1", "revoked", j), MQB_OK);
	}
	int64_t gen = assignment(w, "q", "m1", &a, &r);
	assert_int_equal(gen, mqb_coord_generation(w->c, "q"));
	assert_int_equal(a, 0x1);
	/* its heartbeats are now refused */
	assert_int_equal(member_msg(w, "q", "m2", "heartbeat", "{\"generation\":1}"),
			 MQB_ERR_NOTFOUND);
}


static void test_delivery_prefetch_acks(void **state)
{
	world_t *w = *state;
	int64_t offs[64];

	append_n(w, "one", 0, 10);
	join(w, "q", "m1", "\"prefetch\":3");
	mqb_coord_tick(w->c, w->now);
	/* the join lowered prefetch 4 -> 3 */
	assert_int_equal(records_to(w, "q", "m1", offs, NULL, 64), 3);
	assert_int_equal(offs[0], 0);
	assert_int_equal(offs[2], 2);
	sent_t *s = last_to(w, "mqbridge/groups/q/members/m1/records");
	assert_string_equal(s->payload, "v2");
	assert_non_null(strstr(s->props, "stream=one;partition=0;offset=2;key=k2;"
				    "timestamp=1700000000002;delivery=1;generation=1;mqtt.topic=x/y;"));
	mqb_coord_tick(w->c, w->now);
	assert_int_equal(records_to(w, "q", "m1", offs, NULL, 64), 3);

	/* out-of-order ack: 1 accepted first, committed stays 0 */
	assert_int_equal(ack(w, "q", "m1", 1, "one", 0, 1, 1, "accept"), MQB_OK);
	assert_int_equal(mqb_coord_committed(w->c, "q", 0), 0);
	assert_int_equal(ack(w, "q", "m1", 1, "one", 0, 0, 0, "accept"), MQB_OK);
	assert_int_equal(mqb_coord_committed(w->c, "q", 0), 2);
	mqb_coord_tick(w->c, w->now);
	assert_int_equal(records_to(w, "q", "m1", offs, NULL, 64), 5);
	assert_int_equal(offs[3], 3);
	assert_int_equal(offs[4], 4);

	/* release 2: it is delivered again (delivery=2) before anything new */
	assert_int_equal(ack(w, "q", "m1", 1, "one", 0, 2, 2, "release"), MQB_OK);
	mqb_coord_tick(w->c, w->now);
	assert_int_equal(records_to(w, "q", "m1", offs, NULL, 64), 6);
	assert_int_equal(offs[5], 2);
	s = last_to(w, "mqbridge/groups/q/members/m1/records");
	assert_non_null(strstr(s->props, "delivery=2;"));

	/* acks for offsets never delivered: refused, nothing changes */
	assert_int_equal(ack(w, "q", "m1", 1, "one", 0, 2, 9, "accept"), MQB_ERR_RANGE);
	assert_string_equal(last_error(w, "q", "m1"), "not_delivered");
	assert_int_equal(mqb_coord_committed(w->c, "q", 0), 2);
	/* a partition the group does not have */
	assert_int_equal(ack(w, "q", "m1", 1, "one", 7, 0, 0, "accept"), MQB_ERR_PERM);
	assert_string_equal(last_error(w, "q", "m1"), "not_owner");
	/* a range in the future generation */
	assert_int_equal(ack(w, "q", "m1", 9, "one", 0, 2, 2, "accept"), MQB_ERR_STALE);
	assert_string_equal(last_error(w, "q", "m1"), "stale_generation");

	/* a message with one good and one bad entry: all-or-nothing */
	assert_int_equal(member_msg(w, "q", "m1", "ack", "{\"generation\":1,\"acks\":["
				    "{\"stream\":\"one\",\"partition\":0,\"ranges\":[[2,2]],"
				    "\"type\":\"accept\"},{\"stream\":\"one\",\"partition\":0,"
				    "\"ranges\":[[7,7]],\"type\":\"accept\"}]}"), MQB_ERR_RANGE);
	assert_string_equal(last_error(w, "q", "m1"), "not_delivered");
	assert_int_equal(mqb_coord_committed(w->c, "q", 0), 2);   /* 2 was not accepted */

	/* reject is final (archived); committed moves past it */
	assert_int_equal(ack(w, "q", "m1", 1, "one", 0, 2, 4, "reject"), MQB_OK);
	assert_int_equal(mqb_coord_committed(w->c, "q", 0), 5);
	cJSON *d = mqb_coord_describe(w->c, "q", w->now);
	cJSON *p0 = cJSON_GetArrayItem(cJSON_GetObjectItem(d, "partitions"), 0);
	assert_int_equal(cJSON_GetObjectItem(p0, "archived")->valueint, 3);
	assert_int_equal(cJSON_GetObjectItem(p0, "committed")->valueint, 5);
	assert_int_equal(cJSON_GetObjectItem(p0, "log_end")->valueint, 10);
	assert_int_equal(cJSON_GetObjectItem(p0, "lag")->valueint, 5);
	assert_int_equal(cJSON_GetObjectItem(p0, "redeliveries")->valueint, 1);
	cJSON_Delete(d);
}


static void test_bad_input(void **state)
{
	world_t *w = *state;
	int64_t gen;

	join(w, "q", "m1", NULL);
	mqb_coord_tick(w->c, w->now);
	gen = mqb_coord_generation(w->c, "q");
	clear_out(w);

	/* malformed JSON on the member's own topic: error reply, no change */
	assert_int_equal(member_msg(w, "q", "m1", "ack", "{\"generation\":"), MQB_ERR_PROTO);
	assert_string_equal(last_error(w, "q", "m1"), "malformed");
	assert_int_equal(member_msg(w, "q", "m1", "heartbeat", "[1,2]"), MQB_ERR_PROTO);
	/* a reversed range */
	assert_int_equal(member_msg(w, "q", "m1", "ack", "{\"generation\":1,\"acks\":[{\"stream\":"
				    "\"one\",\"partition\":0,\"ranges\":[[5,1]],\"type\":\"accept\"}]}"),
			 MQB_ERR_PROTO);
	/* unknown member */
	assert_int_equal(member_msg(w, "q", "ghost", "heartbeat", "{\"generation\":1}"),
			 MQB_ERR_NOTFOUND);
	assert_string_equal(last_error(w, "q", "ghost"), "unknown_member");
	/* unknown group */
	assert_int_equal(member_msg(w, "nosuch", "m1", "heartbeat", "{\"generation\":1}"),
			 MQB_ERR_NOTFOUND);
	assert_string_equal(last_error(w, "nosuch", "m1"), "unknown_group");
	/* stale generation heartbeat (older than the member's assignment) */
	join(w, "q", "m2", NULL);
	mqb_coord_tick(w->c, w->now);
	assert_true(mqb_coord_generation(w->c, "q") > gen);
	char j[64];
	snprintf(j, sizeof(j), "{\"generation\":%lld}", (long long)gen - 1);
	assert_int_equal(member_msg(w, "q", "m2", "heartbeat", j), MQB_ERR_STALE);
	assert_string_equal(last_error(w, "q", "m2"), "stale_generation");
	/* huge ack list */
	size_t big = 2000 * 24 + 200;
	char *h = malloc(big), *p = h;
	p += sprintf(p, "{\"generation\":1,\"acks\":[{\"stream\":\"one\",\"partition\":0,\"ranges\":[");
	for (int i = 0; i < 2000; i++)
		p += sprintf(p, "%s[%d,%d]", i ? "," : "", i * 2, i * 2);
	sprintf(p, "],\"type\":\"accept\"}]}");
	assert_int_equal(member_msg(w, "q", "m1", "ack", h), MQB_ERR_TOOBIG);
	assert_string_equal(last_error(w, "q", "m1"), "too_large");
	free(h);
	/* bad protocol field in join */
	assert_int_equal(join(w, "q", "m3", "\"protocol\":\"v4\""), MQB_ERR_PROTO);
	assert_string_equal(last_error(w, "q", "m3"), "malformed");
	assert_int_equal(mqb_coord_member_count(w->c, "q"), 2);
	/* a topic outside the protocol */
	assert_int_equal(send_msg(w, "mqbridge/groups/q/members/m1/bogus", "{}"), MQB_ERR_PROTO);

	/* every refusal was counted */
	cJSON *d = mqb_coord_describe(w->c, "q", w->now);
	cJSON *e = cJSON_GetObjectItem(d, "errors");
	assert_true(cJSON_GetObjectItem(e, "malformed")->valueint >= 4);
	assert_int_equal(cJSON_GetObjectItem(e, "unknown_member")->valueint, 1);
	assert_int_equal(cJSON_GetObjectItem(e, "stale_generation")->valueint, 1);
	assert_int_equal(cJSON_GetObjectItem(e, "too_large")->valueint, 1);
	cJSON_Delete(d);
}


/* Plugin mode: the sender (the publishing client's id) must be the member a request
 * names; a refusal is answered to the sender, never to the named member, is counted
 * not_authorized and changes nothing. A disconnect ends the client's memberships. */
static int send_as(world_t *w, const char *sender, const char *topic, const char *json)
{
	return mqb_mqtt_groups_handle_as(w->t, topic, json, strlen(json), w->now, sender);
}

static void test_sender_must_be_member(void **state)
{
	world_t *w = *state;
	unsigned a, r;
	int64_t gen;
	char hb[64];

	assert_int_equal(send_as(w, "m1", "mqbridge/groups/eg/join", "{\"member_id\":\"m1\"}"),
			 MQB_OK);
	mqb_coord_tick(w->c, w->now);
	gen = assignment(w, "eg", "m1", &a, &r);
	assert_int_equal(a, 0xf);
	clear_out(w);
	assert_int_equal(send_as(w, "evil", "mqbridge/groups/eg/join",
				 "{\"member_id\":\"m1\"}"), MQB_ERR_PERM);
	assert_int_equal(send_as(w, "evil", "mqbridge/groups/eg/leave",
				 "{\"member_id\":\"m1\"}"), MQB_ERR_PERM);
	snprintf(hb, sizeof hb, "{\"generation\":%lld}", (long long)gen);
	assert_int_equal(send_as(w, "evil", "mqbridge/groups/eg/members/m1/heartbeat", hb),
			 MQB_ERR_PERM);
	assert_int_equal(send_as(w, "evil", "mqbridge/groups/eg/members/m1/ack",
				 "{\"generation\":1,\"acks\":[{\"stream\":\"s\",\"partition\":0,"
				 "\"ranges\":[[0,0]],\"type\":\"accept\"}]}"), MQB_ERR_PERM);
	assert_int_equal(send_as(w, "evil", "mqbridge/groups/eg/members/m1/revoked",
				 "{\"generation\":1,\"partitions\":[]}"), MQB_ERR_PERM);
	/* a malformed request is answered to the sender too, as malformed */
	assert_int_equal(send_as(w, "evil", "mqbridge/groups/eg/members/m1/heartbeat", "{"),
			 MQB_ERR_PROTO);
	assert_null(last_error(w, "eg", "m1"));
	assert_string_equal(last_error(w, "eg", "evil"), "malformed");
	/* a sender that is no usable id gets no reply, the refusal is still counted */
	assert_int_equal(send_as(w, "a/b", "mqbridge/groups/eg/leave",
				 "{\"member_id\":\"m1\"}"), MQB_ERR_PERM);
	cJSON *d = mqb_coord_describe(w->c, "eg", w->now);
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(d, "errors"),
					     "not_authorized")->valueint, 6);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(d, "members")), 1);
	cJSON_Delete(d);
	assert_int_equal(mqb_coord_generation(w->c, "eg"), gen);
	/* as itself: applied */
	assert_int_equal(send_as(w, "m1", "mqbridge/groups/eg/members/m1/heartbeat", hb), MQB_OK);
	/* the client disconnects: it leaves eg (and nothing else) */
	assert_int_equal(mqb_coord_member_gone(w->c, "m1", w->now), 1);
	assert_int_equal(mqb_coord_member_gone(w->c, "m1", w->now), 0);
	assert_int_equal(mqb_coord_member_gone(w->c, "nobody", w->now), 0);
	d = mqb_coord_describe(w->c, "eg", w->now);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(d, "members")), 0);
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(d, "errors"),
					     "unknown_member")->valueint, 0);
	cJSON_Delete(d);
}

/* Issue 14 item 9: a join or leave to a group that is not configured names its member
 * in the payload; it is answered on that member's error topic and counted. */
static void test_unknown_group_join(void **state)
{
	world_t *w = *state;
	char t[256];

	clear_out(w);
	assert_int_equal(mqb_coord_unknown_group_errors(w->c), 0);
	assert_int_equal(join(w, "nosuch", "m1", NULL), MQB_ERR_NOTFOUND);
	assert_string_equal(last_error(w, "nosuch", "m1"), "unknown_group");
	snprintf(t, sizeof(t), "mqbridge/groups/nosuch/members/m1/error");
	cJSON *o = cJSON_Parse(last_to(w, t)->payload);
	assert_string_equal(cJSON_GetObjectItem(o, "request")->valuestring, "join");
	cJSON_Delete(o);
	assert_int_equal(leave(w, "nosuch", "m2"), MQB_ERR_NOTFOUND);
	assert_string_equal(last_error(w, "nosuch", "m2"), "unknown_group");
	assert_int_equal(member_msg(w, "nosuch", "m3", "ack", "{\"generation\":1,\"acks\":[]}"),
			 MQB_ERR_NOTFOUND);
	assert_string_equal(last_error(w, "nosuch", "m3"), "unknown_group");
	/* a join that names nobody (not JSON, or a bad id): counted, no reply */
	size_t before = w->n_out;
	assert_int_equal(send_msg(w, "mqbridge/groups/nosuch/join", "{\"member_id\":"),
			 MQB_ERR_NOTFOUND);
	assert_int_equal(send_msg(w, "mqbridge/groups/nosuch/join", "{\"member_id\":\"a/b\"}"),
			 MQB_ERR_NOTFOUND);
	assert_int_equal(w->n_out, before);
	assert_int_equal(mqb_coord_unknown_group_errors(w->c), 5);
	/* configured groups' counters are untouched */
	cJSON *d = mqb_coord_describe(w->c, "q", w->now);
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(d, "errors"),
					     "unknown_group")->valueint, 0);
	cJSON_Delete(d);
}

/* Issue 14 item 10: the assignment tells the member its heartbeat interval and session
 * timeout (additive fields). */
static void test_assignment_timing_fields(void **state)
{
	world_t *w = *state;

	assert_int_equal(join(w, "sh", "m1", NULL), MQB_OK);
	mqb_coord_tick(w->c, w->now);
	sent_t *s = last_to(w, "mqbridge/groups/sh/members/m1/assignment");
	assert_non_null(s);
	cJSON *o = cJSON_Parse(s->payload);
	assert_non_null(o);
	assert_int_equal(cJSON_GetObjectItem(o, "heartbeat_interval_ms")->valueint, 200);
	assert_int_equal(cJSON_GetObjectItem(o, "session_timeout_ms")->valueint, 5000);
	assert_string_equal(cJSON_GetObjectItem(o, "mode")->valuestring, "shared");
	cJSON_Delete(o);
}


static void test_envelope_v311(void **state)
{
	world_t *w = *state;
	mqb_partition_t *p = mqb_store_partition(w->st, "one", 0);
	const uint8_t bin[3] = { 0xff, 0x00, 0x01 };
	mqb_record_t r = { .timestamp_ms = 5, .key = NULL, .key_len = -1, .value = bin,
			   .value_len = 3 };
	assert_int_equal(mqb_partition_append(p, &r, 1, NULL), MQB_OK);
	join(w, "q", "old", "\"protocol\":\"v311\"");
	mqb_coord_tick(w->c, w->now);
	sent_t *s = last_to(w, "mqbridge/groups/q/members/old/records");
	assert_non_null(s);
	assert_string_equal(s->props, "");
	cJSON *o = cJSON_Parse(s->payload);
	assert_non_null(o);
	assert_string_equal(cJSON_GetObjectItem(o, "stream")->valuestring, "one");
	assert_int_equal(cJSON_GetObjectItem(o, "offset")->valueint, 0);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "key")));
	assert_string_equal(cJSON_GetObjectItem(o, "value_b64")->valuestring, "/wAB");
	assert_int_equal(cJSON_GetObjectItem(o, "delivery")->valueint, 1);
	cJSON_Delete(o);
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_eager_join_and_rebalance, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delivery_prefetch_acks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_envelope_v311, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_group_join, setup, teardown),
		cmocka_unit_test_setup_teardown(test_assignment_timing_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sender_must_be_member, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
