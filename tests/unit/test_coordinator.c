/*
 * test_coordinator.c — the coordinator core driven directly through its C calls (join,
 * leave, heartbeat, ack, revoked), a recording transport out (records, assignments and
 * error replies as the structs the coordinator hands over), time passed in, a real
 * segment store in a temporary directory. The MQTT wire format of the same traffic is
 * tested in test_groups_mqtt.c.
 */
#include <setjmp.h>
#include <sys/stat.h>
#include <unistd.h>
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
#include "bridge/store/store.h"
#include "tests/support/harness.h"

/* --- recording transport --------------------------------------------------------- */

/* What the coordinator sent to a member; topic names the member and what it was
 * ("<g>/<m>/records", ".../assignment", ".../error"), so tests can look it up. */
typedef struct sent {
	char *topic;
	char *payload;      /* records: the value */
	char props[512];    /* records: "stream=..;partition=..;offset=..;key=..;timestamp=..;
			     * delivery=..;generation=..;<header>=<value>;..." */
	int64_t gen;        /* assignment */
	unsigned assigned, revoked;   /* assignment: partitions as bitmasks */
	char code[32];      /* error */
} sent_t;

typedef struct world {
	char dir[256];
	mqb_config_t *cfg;
	mqb_store_t *st;
	mqb_coord_t *c;
	mqb_group_transport_t tp;
	sent_t *out;
	size_t n_out, cap_out;
	int fail_publish;
	int64_t now;
	const char *conf;   /* groups etc. (NULL: CONF) */
} world_t;

static sent_t *rec_add(world_t *w, const char *g, const char *m, const char *what)
{
	char t[256];

	if (w->n_out == w->cap_out) {
		w->cap_out = w->cap_out ? w->cap_out * 2 : 64;
		w->out = realloc(w->out, w->cap_out * sizeof(*w->out));
		assert_non_null(w->out);
	}
	sent_t *s = &w->out[w->n_out++];
	memset(s, 0, sizeof(*s));
	snprintf(t, sizeof(t), "%s/%s/%s", g, m, what);
	s->topic = strdup(t);
	return s;
}

#define PROP(...) do { size_t l_ = strlen(s->props); \
	snprintf(s->props + l_, sizeof(s->props) - l_, __VA_ARGS__); } while (0)

static int rec_deliver(void *arg, const char *g, const char *m, const mqb_group_record_t *r)
{
	world_t *w = arg;

	if (w->fail_publish)
		return MQB_ERR_CONN;
	sent_t *s = rec_add(w, g, m, "records");
	s->payload = strndup(r->value_len > 0 ? r->value : "",
			     r->value_len > 0 ? (size_t)r->value_len : 0);
	PROP("stream=%s;partition=%d;offset=%lld;", r->stream, (int)r->partition,
	     (long long)r->offset);
	if (r->key_len >= 0)
		PROP("key=%.*s;", (int)r->key_len, (const char *)r->key);
	PROP("timestamp=%lld;delivery=%u;generation=%lld;", (long long)r->timestamp_ms,
	     r->delivery, (long long)r->generation);
	for (size_t i = 0; i < r->header_count; i++)
		PROP("%.*s=%.*s;", (int)r->headers[i].key_len, r->headers[i].key,
		     (int)r->headers[i].value_len, (const char *)r->headers[i].value);
	return MQB_OK;
}

static int rec_assignment(void *arg, const char *g, const char *m, const mqb_group_assignment_t *a)
{
	world_t *w = arg;

	if (w->fail_publish)
		return MQB_ERR_CONN;
	sent_t *s = rec_add(w, g, m, "assignment");
	s->gen = a->generation;
	for (size_t i = 0; i < a->n_assigned; i++)
		s->assigned |= 1u << a->assigned[i];
	for (size_t i = 0; i < a->n_revoked; i++)
		s->revoked |= 1u << a->revoked[i];
	return MQB_OK;
}

static void rec_error(void *arg, const char *g, const char *m, mqb_group_errcode_t code,
		      const char *request, const char *message)
{
	world_t *w = arg;

	if (w->fail_publish)
		return;
	sent_t *s = rec_add(w, g, m, "error");
	snprintf(s->code, sizeof(s->code), "%s", mqb_group_errcode_name(code));
	assert_non_null(request);
	assert_non_null(message);
}

static const mqb_group_transport_ops_t rec_ops = {
	.name = "rec", .deliver = rec_deliver, .assignment = rec_assignment, .error = rec_error,
};

static void clear_out(world_t *w)
{
	for (size_t i = 0; i < w->n_out; i++) {
		free(w->out[i].topic);
		free(w->out[i].payload);
	}
	w->n_out = 0;
}

/* Last thing sent to "<g>/<m>/<what>" (NULL if none). */
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

	snprintf(text, sizeof(text), "data_dir = \"%s\";\n%s", w->dir, w->conf ? w->conf : CONF);
	w->cfg = mqb_config_load_string(text, "test.conf", NULL, errstr, sizeof(errstr));
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
}

static void world_close(world_t *w)
{
	mqb_coord_destroy(w->c);
	w->c = NULL;
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
	w->tp.ops = &rec_ops;
	w->tp.arg = w;
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

/* instance_id may be NULL, prefetch 0 (the group's). */
static int join(world_t *w, const char *g, const char *m, const char *instance_id, int prefetch)
{
	mqb_group_join_t j = { .group = g, .member_id = m, .instance_id = instance_id,
			       .prefetch = prefetch, .transport = w->tp };
	return mqb_coord_join(w->c, &j, w->now);
}

static int leave(world_t *w, const char *g, const char *m)
{
	return mqb_coord_leave(w->c, g, m, &w->tp, w->now);
}

static int heartbeat_gen(world_t *w, const char *g, const char *m, int64_t gen)
{
	return mqb_coord_heartbeat(w->c, g, m, gen, &w->tp, w->now);
}

static int heartbeat(world_t *w, const char *g, const char *m)
{
	return heartbeat_gen(w, g, m, mqb_coord_generation(w->c, g));
}

static int revoked(world_t *w, const char *g, const char *m, int64_t gen, const int32_t *parts,
		   size_t n)
{
	return mqb_coord_revoked(w->c, g, m, gen, parts, n, &w->tp, w->now);
}

static mqb_ack_type_t ack_type(const char *type)
{
	int t = mqb_ack_type_parse(type);
	assert_true(t >= 0);
	return (mqb_ack_type_t)t;
}

static int ack(world_t *w, const char *g, const char *m, int64_t gen, const char *stream,
	       int part, int64_t first, int64_t last, const char *type)
{
	mqb_offset_range_t r = { first, last };
	mqb_group_ack_entry_t e = { stream, part, ack_type(type), &r, 1 };
	return mqb_coord_ack(w->c, g, m, gen, &e, 1, &w->tp, w->now);
}

/* Last assignment of member m: generation, assigned and revoked as bitmasks. */
static int64_t assignment(world_t *w, const char *g, const char *m, unsigned *assigned,
			  unsigned *revoked_out)
{
	char t[256];
	snprintf(t, sizeof(t), "%s/%s/assignment", g, m);
	sent_t *s = last_to(w, t);
	*assigned = *revoked_out = 0;
	if (!s)
		return -1;
	*assigned = s->assigned;
	*revoked_out = s->revoked;
	return s->gen;
}

static const char *last_error(world_t *w, const char *g, const char *m)
{
	char t[256];
	snprintf(t, sizeof(t), "%s/%s/error", g, m);
	sent_t *s = last_to(w, t);
	return s ? s->code : NULL;
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
	snprintf(t, sizeof(t), "%s/%s/records", g, m);
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

	assert_int_equal(join(w, "eg", "m1", NULL, 0), MQB_OK);
	mqb_coord_tick(w->c, w->now);
	assert_int_equal(assignment(w, "eg", "m1", &a, &r), 1);
	assert_int_equal(a, 0xf);
	assert_int_equal(r, 0);

	assert_int_equal(join(w, "eg", "m2", NULL, 0), MQB_OK);
	mqb_coord_tick(w->c, w->now);
	/* eager: generation 2 revokes everything from m1, m2 gets nothing yet */
	assert_int_equal(assignment(w, "eg", "m1", &a, &r), 2);
	assert_int_equal(a, 0);
	assert_int_equal(r, 0xf);
	assert_int_equal(assignment(w, "eg", "m2", &a, &r), 2);
	assert_int_equal(a, 0);
	/* m1 hands over: generation 3, range: m1 [0,1], m2 [2,3] */
	assert_int_equal(revoked(w, "eg", "m1", 2, (const int32_t[]){ 0, 1, 2, 3 }, 4), MQB_OK);
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
	assert_int_equal(revoked(w, "eg", "m1", 4, (const int32_t[]){ 0, 1 }, 2), MQB_OK);
	assert_int_equal(assignment(w, "eg", "m1", &a, &r), 5);
	assert_int_equal(a, 0xf);
	assert_int_equal(mqb_coord_member_count(w->c, "eg"), 1);
}

static void test_cooperative_handover(void **state)
{
	world_t *w = *state;
	unsigned a, r;
	int64_t offs[64];
	int parts[64];

	append_n(w, "s", 0, 3);
	append_n(w, "s", 3, 3);
	assert_int_equal(join(w, "cg", "m1", NULL, 0), MQB_OK);
	mqb_coord_tick(w->c, w->now);
	assert_int_equal(assignment(w, "cg", "m1", &a, &r), 1);
	assert_int_equal(a, 0xf);
	assert_int_equal(records_to(w, "cg", "m1", offs, parts, 64), 6);

	clear_out(w);
	assert_int_equal(join(w, "cg", "m2", NULL, 0), MQB_OK);
	mqb_coord_tick(w->c, w->now);
	/* generation 2: m1 keeps two partitions and revokes two; m2 waits */
	assert_int_equal(assignment(w, "cg", "m1", &a, &r), 2);
	assert_int_equal(__builtin_popcount(a), 2);
	assert_int_equal(__builtin_popcount(r), 2);
	unsigned moving = r, kept = a;
	assert_int_equal(assignment(w, "cg", "m2", &a, &r), 2);
	assert_int_equal(a, 0);

	/* m1 keeps consuming the kept partitions meanwhile */
	append_n(w, "s", 0, 1);
	append_n(w, "s", 1, 1);
	append_n(w, "s", 2, 1);
	append_n(w, "s", 3, 1);
	mqb_coord_tick(w->c, w->now);
	size_t n = records_to(w, "cg", "m1", offs, parts, 64);
	for (size_t i = 0; i < n; i++)
		assert_true(kept & (1u << parts[i]));
	assert_true(n >= 1);

	/* a revoked message for a partition it does not own is refused, no change */
	assert_int_equal(revoked(w, "cg", "m2", 2, (const int32_t[]){ 0 }, 1), MQB_ERR_PERM);
	assert_string_equal(last_error(w, "cg", "m2"), "not_owner");

	/* m1 acks what it holds of the moving partitions, then hands over */
	for (int p = 0; p < 4; p++)
		if ((moving & (1u << p)) && (p == 0 || p == 3))
			assert_int_equal(ack(w, "cg", "m1", 2, "s", p, 0, 2, "accept"), MQB_OK);
	int32_t mv[2];
	int k = 0;
	for (int p = 0; p < 4; p++)
		if (moving & (1u << p))
			mv[k++] = p;
	assert_int_equal(revoked(w, "cg", "m1", 2, mv, 2), MQB_OK);
	assert_int_equal(assignment(w, "cg", "m2", &a, &r), 3);
	assert_int_equal(a, moving);
	/* m1 was told the new generation too, with the same partitions */
	assert_int_equal(assignment(w, "cg", "m1", &a, &r), 3);
	assert_int_equal(a, kept);
	/* the new owner starts at the committed offset */
	clear_out(w);
	mqb_coord_tick(w->c, w->now);
	n = records_to(w, "cg", "m2", offs, parts, 64);
	assert_true(n >= 1);
	for (size_t i = 0; i < n; i++) {
		assert_true(moving & (1u << parts[i]));
		if (parts[i] == 0 || parts[i] == 3)
			assert_true(offs[i] >= 3);   /* 0..2 were accepted by m1 */
	}
}

static void test_cooperative_timeout(void **state)
{
	world_t *w = *state;
	unsigned a, r;

	join(w, "cg", "m1", NULL, 0);
	mqb_coord_tick(w->c, w->now);
	join(w, "cg", "m2", NULL, 0);
	mqb_coord_tick(w->c, w->now);
	assert_int_equal(assignment(w, "cg", "m2", &a, &r), 2);
	assert_int_equal(a, 0);
	/* m1 never sends "revoked": after rebalance_timeout_ms the partitions move */
	w->now += 300;
	heartbeat(w, "cg", "m1");
	heartbeat(w, "cg", "m2");
	mqb_coord_tick(w->c, w->now);
	assert_int_equal(assignment(w, "cg", "m2", &a, &r), 2);
	w->now += 300;
	mqb_coord_tick(w->c, w->now);
	assert_int_equal(assignment(w, "cg", "m2", &a, &r), 3);
	assert_int_equal(__builtin_popcount(a), 2);
}

static void test_delivery_prefetch_acks(void **state)
{
	world_t *w = *state;
	int64_t offs[64];

	append_n(w, "one", 0, 10);
	join(w, "q", "m1", NULL, 3);
	mqb_coord_tick(w->c, w->now);
	/* the join lowered prefetch 4 -> 3 */
	assert_int_equal(records_to(w, "q", "m1", offs, NULL, 64), 3);
	assert_int_equal(offs[0], 0);
	assert_int_equal(offs[2], 2);
	sent_t *s = last_to(w, "q/m1/records");
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
	s = last_to(w, "q/m1/records");
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
	mqb_offset_range_t r2 = { 2, 2 }, r7 = { 7, 7 };
	mqb_group_ack_entry_t two[2] = { { "one", 0, MQB_ACK_ACCEPT, &r2, 1 },
					 { "one", 0, MQB_ACK_ACCEPT, &r7, 1 } };
	assert_int_equal(mqb_coord_ack(w->c, "q", "m1", 1, two, 2, &w->tp, w->now), MQB_ERR_RANGE);
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

	join(w, "q", "m1", NULL, 0);
	mqb_coord_tick(w->c, w->now);
	gen = mqb_coord_generation(w->c, "q");
	clear_out(w);

	/* what a transport could not decode: error reply, counted, no change */
	assert_int_equal(mqb_coord_refuse(w->c, "q", "m1", MQB_GROUP_E_MALFORMED, "ack",
					  "invalid JSON near byte 14", &w->tp), MQB_OK);
	assert_string_equal(last_error(w, "q", "m1"), "malformed");
	assert_int_equal(mqb_coord_refuse(w->c, "q", "m1", MQB_GROUP_E_MALFORMED, "heartbeat",
					  "payload must be a JSON object", &w->tp), MQB_OK);
	assert_int_equal(mqb_coord_refuse(w->c, "nosuch", "m1", MQB_GROUP_E_MALFORMED, "ack",
					  "x", &w->tp), MQB_ERR_NOTFOUND);
	/* a reversed range */
	assert_int_equal(ack(w, "q", "m1", 1, "one", 0, 5, 1, "accept"), MQB_ERR_INVAL);
	assert_string_equal(last_error(w, "q", "m1"), "malformed");
	/* unknown member */
	assert_int_equal(heartbeat_gen(w, "q", "ghost", 1), MQB_ERR_NOTFOUND);
	assert_string_equal(last_error(w, "q", "ghost"), "unknown_member");
	/* unknown group */
	assert_int_equal(heartbeat_gen(w, "nosuch", "m1", 1), MQB_ERR_NOTFOUND);
	assert_string_equal(last_error(w, "nosuch", "m1"), "unknown_group");
	/* stale generation heartbeat (older than the member's assignment) */
	join(w, "q", "m2", NULL, 0);
	mqb_coord_tick(w->c, w->now);
	assert_true(mqb_coord_generation(w->c, "q") > gen);
	assert_int_equal(heartbeat_gen(w, "q", "m2", gen - 1), MQB_ERR_STALE);
	assert_string_equal(last_error(w, "q", "m2"), "stale_generation");
	/* huge ack list */
	mqb_offset_range_t *rs = calloc(2000, sizeof(*rs));
	for (int i = 0; i < 2000; i++)
		rs[i] = (mqb_offset_range_t){ i * 2, i * 2 };
	mqb_group_ack_entry_t e = { "one", 0, MQB_ACK_ACCEPT, rs, 2000 };
	assert_int_equal(mqb_coord_ack(w->c, "q", "m1", 1, &e, 1, &w->tp, w->now), MQB_ERR_TOOBIG);
	assert_string_equal(last_error(w, "q", "m1"), "too_large");
	free(rs);
	/* a join option the transport cannot serve */
	mqb_group_join_t j = { .group = "q", .member_id = "m3", .transport = w->tp,
			       .invalid = "\"protocol\" must be \"v5\" or \"v311\"" };
	assert_int_equal(mqb_coord_join(w->c, &j, w->now), MQB_ERR_PROTO);
	assert_string_equal(last_error(w, "q", "m3"), "malformed");
	assert_int_equal(mqb_coord_member_count(w->c, "q"), 2);

	/* every refusal was counted */
	cJSON *d = mqb_coord_describe(w->c, "q", w->now);
	cJSON *ej = cJSON_GetObjectItem(d, "errors");
	assert_true(cJSON_GetObjectItem(ej, "malformed")->valueint >= 4);
	assert_int_equal(cJSON_GetObjectItem(ej, "unknown_member")->valueint, 1);
	assert_int_equal(cJSON_GetObjectItem(ej, "stale_generation")->valueint, 1);
	assert_int_equal(cJSON_GetObjectItem(ej, "too_large")->valueint, 1);
	cJSON_Delete(d);
}

static void test_join_flood_rate_limited(void **state)
{
	world_t *w = *state;
	int refused = 0;

	for (int i = 0; i < 30; i++) {
		int rc = (i % 2) ? leave(w, "q", "flood") : join(w, "q", "flood", NULL, 0);
		if (rc == MQB_ERR_AGAIN)
			refused++;
	}
	assert_int_equal(refused, 10);
	assert_string_equal(last_error(w, "q", "flood"), "rate_limited");
	/* after the window it may join again */
	w->now += 10001;
	assert_int_equal(join(w, "q", "flood", NULL, 0), MQB_OK);
}

static void test_session_timeout(void **state)
{
	world_t *w = *state;
	unsigned a, r;

	join(w, "q", "m1", NULL, 0);
	join(w, "q", "m2", NULL, 0);
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
		assert_int_equal(revoked(w, "q", "m1", g1, (const int32_t[]){ 0 }, 1), MQB_OK);
	}
	int64_t gen = assignment(w, "q", "m1", &a, &r);
	assert_int_equal(gen, mqb_coord_generation(w->c, "q"));
	assert_int_equal(a, 0x1);
	/* its heartbeats are now refused */
	assert_int_equal(heartbeat_gen(w, "q", "m2", 1), MQB_ERR_NOTFOUND);
}

static void test_static_membership(void **state)
{
	world_t *w = *state;
	unsigned a1, a2, r;

	join(w, "cg", "m1", "i1", 0);
	join(w, "cg", "m2", "i2", 0);
	mqb_coord_tick(w->c, w->now);
	int64_t gen = mqb_coord_generation(w->c, "cg");
	assignment(w, "cg", "m1", &a1, &r);
	assignment(w, "cg", "m2", &a2, &r);
	assert_int_equal(a1 | a2, 0xf);
	assert_int_equal(a1 & a2, 0);

	/* m1 dies (its will arrives as a leave) and comes back as m1b, same instance */
	assert_int_equal(leave(w, "cg", "m1"), MQB_OK);
	w->now += 500;
	heartbeat(w, "cg", "m2");
	mqb_coord_tick(w->c, w->now);
	assert_int_equal(mqb_coord_generation(w->c, "cg"), gen);  /* no rebalance */
	assert_int_equal(join(w, "cg", "m1b", "i1", 0), MQB_OK);
	mqb_coord_tick(w->c, w->now);
	unsigned b;
	assert_int_equal(assignment(w, "cg", "m1b", &b, &r), gen);
	assert_int_equal(b, a1);
	assert_int_equal(mqb_coord_generation(w->c, "cg"), gen);

	/* gone for longer than the session timeout: removed, m2 takes everything */
	assert_int_equal(leave(w, "cg", "m1b"), MQB_OK);
	for (int i = 0; i < 8; i++) {
		w->now += 200;
		heartbeat(w, "cg", "m2");
		mqb_coord_tick(w->c, w->now);
	}
	assert_int_equal(mqb_coord_member_count(w->c, "cg"), 1);
	assert_true(mqb_coord_generation(w->c, "cg") > gen);
	assignment(w, "cg", "m2", &a2, &r);
	assert_int_equal(a2, 0xf);
}

static void test_rejoin_redelivers(void **state)
{
	world_t *w = *state;
	int64_t offs[64];

	append_n(w, "one", 0, 5);
	join(w, "q", "m1", NULL, 0);
	mqb_coord_tick(w->c, w->now);
	assert_int_equal(records_to(w, "q", "m1", offs, NULL, 64), 4);
	ack(w, "q", "m1", 1, "one", 0, 0, 1, "accept");
	/* m1 restarts with the same client id: no rebalance, unacked records again */
	int64_t gen = mqb_coord_generation(w->c, "q");
	clear_out(w);
	assert_int_equal(join(w, "q", "m1", NULL, 0), MQB_OK);
	mqb_coord_tick(w->c, w->now);
	assert_int_equal(mqb_coord_generation(w->c, "q"), gen);
	size_t n = records_to(w, "q", "m1", offs, NULL, 64);
	assert_true(n >= 3);
	assert_int_equal(offs[0], 2);
	assert_int_equal(offs[1], 3);
	assert_int_equal(offs[2], 4);
	sent_t *s = NULL;
	for (size_t i = 0; i < w->n_out; i++)
		if (strstr(w->out[i].props, "offset=2;"))
			s = &w->out[i];
	assert_non_null(s);
	assert_non_null(strstr(s->props, "delivery=2;"));
}

static void test_persistence(void **state)
{
	world_t *w = *state;
	int64_t offs[64];

	append_n(w, "one", 0, 8);
	join(w, "q", "m1", NULL, 0);
	mqb_coord_tick(w->c, w->now);
	ack(w, "q", "m1", 1, "one", 0, 0, 2, "accept");
	ack(w, "q", "m1", 1, "one", 0, 3, 3, "reject");
	assert_int_equal(mqb_coord_committed(w->c, "q", 0), 4);
	w->now += 100;
	mqb_coord_tick(w->c, w->now);   /* batched save */

	/* "crash": reopen without a clean coordinator shutdown is simulated by a close
	 * (the save above is what counts) */
	world_close(w);
	clear_out(w);
	world_open(w);
	assert_int_equal(mqb_coord_committed(w->c, "q", 0), 4);
	join(w, "q", "m9", NULL, 0);
	mqb_coord_tick(w->c, w->now);
	assert_int_equal(records_to(w, "q", "m9", offs, NULL, 64), 4);
	assert_int_equal(offs[0], 4);

	/* reset refused while the group has a member, allowed once it is empty */
	char err[256];
	assert_int_equal(mqb_coord_reset(w->c, "q", "earliest", w->now, err, sizeof(err)),
			 MQB_ERR_STATE);
	assert_non_null(strstr(err, "member"));
	leave(w, "q", "m9");
	mqb_coord_tick(w->c, w->now);
	assert_int_equal(mqb_coord_reset(w->c, "q", "bogus", w->now, err, sizeof(err)),
			 MQB_ERR_INVAL);
	assert_int_equal(mqb_coord_reset(w->c, "q", "offset:6", w->now, err, sizeof(err)), MQB_OK);
	assert_int_equal(mqb_coord_committed(w->c, "q", 0), 6);
	assert_int_equal(mqb_coord_reset(w->c, "q", "latest", w->now, err, sizeof(err)), MQB_OK);
	assert_int_equal(mqb_coord_committed(w->c, "q", 0), 8);
	assert_int_equal(mqb_coord_reset(w->c, "q", "earliest", w->now, err, sizeof(err)), MQB_OK);
	world_close(w);
	world_open(w);
	assert_int_equal(mqb_coord_committed(w->c, "q", 0), 0);
	assert_int_equal(mqb_coord_reset(w->c, "nope", "earliest", w->now, err, sizeof(err)),
			 MQB_ERR_NOTFOUND);
}

static void test_shared_dead_letter(void **state)
{
	world_t *w = *state;
	int64_t offs[64];

	append_n(w, "one", 0, 4);
	join(w, "sh", "a", NULL, 0);
	join(w, "sh", "b", NULL, 0);
	mqb_coord_tick(w->c, w->now);
	/* prefetch 2 each: a gets 0,1 and b gets 2,3 */
	assert_int_equal(records_to(w, "sh", "a", offs, NULL, 64), 2);
	assert_int_equal(offs[0], 0);
	assert_int_equal(records_to(w, "sh", "b", offs, NULL, 64), 2);
	assert_int_equal(offs[0], 2);
	/* b cannot ack what a holds */
	assert_int_equal(ack(w, "sh", "b", 1, "one", 0, 0, 0, "accept"), MQB_ERR_PERM);
	assert_string_equal(last_error(w, "sh", "b"), "not_owner");
	/* a rejects 0 (archived), releases 1; b releases 2 and accepts 3 */
	assert_int_equal(ack(w, "sh", "a", 1, "one", 0, 0, 0, "reject"), MQB_OK);
	assert_int_equal(ack(w, "sh", "a", 1, "one", 0, 1, 1, "release"), MQB_OK);
	assert_int_equal(ack(w, "sh", "b", 1, "one", 0, 2, 2, "release"), MQB_OK);
	assert_int_equal(ack(w, "sh", "b", 1, "one", 0, 3, 3, "accept"), MQB_OK);
	clear_out(w);
	mqb_coord_tick(w->c, w->now);
	/* 1 and 2 are offered again (delivery 2); release again -> max_deliveries 2 */
	int64_t oa[8], ob[8];
	size_t na = records_to(w, "sh", "a", oa, NULL, 8), nb = records_to(w, "sh", "b", ob, NULL, 8);
	assert_int_equal(na + nb, 2);
	for (size_t i = 0; i < na; i++)
		assert_int_equal(ack(w, "sh", "a", 1, "one", 0, oa[i], oa[i], "release"), MQB_OK);
	for (size_t i = 0; i < nb; i++) {
		/* b lets its lock lapse instead */
		(void)ob[i];
	}
	w->now += 400;
	heartbeat(w, "sh", "a");
	heartbeat(w, "sh", "b");
	mqb_coord_tick(w->c, w->now);
	mqb_coord_flush(w->c);
	/* both reached max_deliveries: dead-lettered with their headers */
	mqb_partition_t *dp = mqb_store_partition(w->st, "dlq", 0);
	mqb_watermarks_t wm;
	mqb_partition_watermarks(dp, &wm);
	assert_int_equal(wm.stored, 2);
	mqb_reader_t *rd = mqb_reader_new(dp, 0);
	int64_t seen = 0;
	for (int i = 0; i < 2; i++) {
		mqb_record_t rec;
		assert_int_equal(mqb_reader_next_record(rd, &rec), MQB_OK);
		int64_t so = -1, dc = -1;
		const char *grp = NULL;
		for (size_t k = 0; k < rec.header_count; k++) {
			const mqb_rec_header_t *h = &rec.headers[k];
			char v[64];
			snprintf(v, sizeof(v), "%.*s", (int)h->value_len, (const char *)h->value);
			if (h->key_len == 22 && !memcmp(h->key, "mqbridge.source.offset", 22))
				so = atoll(v);
			if (h->key_len == 23 && !memcmp(h->key, "mqbridge.delivery.count", 23))
				dc = atoll(v);
			if (h->key_len == 14 && !memcmp(h->key, "mqbridge.group", 14))
				grp = "sh";
		}
		assert_non_null(grp);
		assert_true(so == 1 || so == 2);
		assert_int_equal(dc, 2);
		seen |= 1 << so;
	}
	assert_int_equal(seen, 0x6);
	mqb_reader_destroy(rd);
	assert_int_equal(mqb_coord_committed(w->c, "sh", 0), 4);
	cJSON *d = mqb_coord_describe(w->c, "sh", w->now);
	cJSON *p0 = cJSON_GetArrayItem(cJSON_GetObjectItem(d, "partitions"), 0);
	assert_int_equal(cJSON_GetObjectItem(p0, "dead_lettered")->valueint, 2);
	assert_int_equal(cJSON_GetObjectItem(p0, "archived")->valueint, 1);
	cJSON_Delete(d);
}

/* A second kind of transport: counts what it is handed. */
typedef struct counter {
	int records, assignments, errors;
	char last_error[32];
} counter_t;


/* --- issue 14 item 3: corrupt group state ------------------------------------------ */

static const char *CONF_STATE =
	"streams = ( { name = \"one\"; partitions = 1; } );\n"
	"routes = ( { filter = \"x/#\"; stream = \"one\"; } );\n"
	"groups = (\n"
	"  { name = \"q\"; stream = \"one\"; assignor = \"range\"; prefetch = 8;\n"
	"    session_timeout_ms = 1000; heartbeat_interval_ms = 200; },\n"
	"  { name = \"other\"; stream = \"one\"; assignor = \"range\";\n"
	"    session_timeout_ms = 1000; heartbeat_interval_ms = 200; } );\n";

static const char *CONF_STATE_START =
	"streams = ( { name = \"one\"; partitions = 1; } );\n"
	"routes = ( { filter = \"x/#\"; stream = \"one\"; } );\n"
	"groups = (\n"
	"  { name = \"q\"; stream = \"one\"; assignor = \"range\"; prefetch = 8;\n"
	"    session_timeout_ms = 1000; heartbeat_interval_ms = 200;\n"
	"    on_corrupt_state = \"start\"; },\n"
	"  { name = \"other\"; stream = \"one\"; assignor = \"range\";\n"
	"    session_timeout_ms = 1000; heartbeat_interval_ms = 200; } );\n";

/* Two saves of group q: committed 2 (seq 1, slot .state), then 4 (seq 2, .state.alt). */
static void two_saves(world_t *w)
{
	w->conf = CONF_STATE;
	world_close(w);
	world_open(w);
	append_n(w, "one", 0, 8);
	assert_int_equal(join(w, "q", "m1", NULL, 0), MQB_OK);
	mqb_coord_tick(w->c, w->now);
	ack(w, "q", "m1", 1, "one", 0, 0, 1, "accept");
	w->now += 100;
	mqb_coord_tick(w->c, w->now);
	assert_int_equal(mqb_coord_flush(w->c), MQB_OK);
	ack(w, "q", "m1", 1, "one", 0, 2, 3, "accept");
	w->now += 100;
	mqb_coord_tick(w->c, w->now);
	assert_int_equal(mqb_coord_flush(w->c), MQB_OK);
	char dir[512];
	struct stat ds;
	snprintf(dir, sizeof(dir), "%s/__groups", w->dir);
	assert_int_equal(stat(dir, &ds), 0);
	assert_int_equal(ds.st_mode & 0027, 0);   /* MQB_STORE_DIR_MODE 0750, whatever umask */
	world_close(w);     /* nothing dirty: no third save */
	clear_out(w);
}

static void slot_path(world_t *w, int slot, char *buf, size_t size)
{
	snprintf(buf, size, "%s/__groups/q.state%s", w->dir, slot ? ".alt" : "");
}

/* Flip a byte in the middle of a slot file. */
static void corrupt_slot(world_t *w, int slot)
{
	char path[512];
	slot_path(w, slot, path, sizeof(path));
	FILE *f = fopen(path, "r+b");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	assert_true(n > 8);
	fseek(f, n / 2, SEEK_SET);
	int ch = fgetc(f);
	fseek(f, n / 2, SEEK_SET);
	fputc(ch ^ 0x5a, f);
	fclose(f);
}

static void truncate_slot(world_t *w, int slot)
{
	char path[512];
	struct stat stt;
	slot_path(w, slot, path, sizeof(path));
	assert_int_equal(stat(path, &stt), 0);
	assert_int_equal(truncate(path, stt.st_size / 2), 0);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	char *buf = malloc(65536);
	*len = fread(buf, 1, 65536, f);
	fclose(f);
	return buf;
}

static void expect_failed(world_t *w)
{
	char path[2][512], err[1024];
	size_t len[2], len2;
	char *before[2];

	for (int i = 0; i < 2; i++) {
		slot_path(w, i, path[i], sizeof(path[i]));
		before[i] = slurp(path[i], &len[i]);
	}
	world_open(w);      /* the daemon starts: the group does not */
	cJSON *d = mqb_coord_describe(w->c, "q", w->now);
	assert_string_equal(cJSON_GetObjectItem(d, "state")->valuestring, "failed");
	const char *why = cJSON_GetObjectItem(d, "error")->valuestring;
	assert_non_null(strstr(why, "mqbridge groups reset"));
	assert_non_null(strstr(why, "__groups/q.state"));
	cJSON_Delete(d);
	/* joins are answered with an error and change nothing */
	assert_int_equal(join(w, "q", "m2", NULL, 0), MQB_ERR_CORRUPT);
	assert_string_equal(last_error(w, "q", "m2"), "internal");
	assert_int_equal(mqb_coord_member_count(w->c, "q"), 0);
	mqb_coord_group_metrics_t *m;
	size_t n;
	assert_int_equal(mqb_coord_metrics(w->c, &m, &n), MQB_OK);
	assert_true(m[0].failed);
	assert_false(m[1].failed);
	mqb_coord_metrics_free(m, n);
	/* the other group works */
	assert_int_equal(join(w, "other", "m3", NULL, 0), MQB_OK);
	w->now += 1000;
	mqb_coord_tick(w->c, w->now);
	assert_int_equal(mqb_coord_flush(w->c), MQB_OK);
	world_close(w);     /* stop: the corrupt files are kept as they were */
	for (int i = 0; i < 2; i++) {
		char *after = slurp(path[i], &len2);
		assert_int_equal(len2, len[i]);
		assert_memory_equal(after, before[i], len2);
		free(after);
		free(before[i]);
	}
	/* still refused at the next start; the operator's reset starts it anew */
	world_open(w);
	assert_int_equal(join(w, "q", "m2", NULL, 0), MQB_ERR_CORRUPT);
	assert_int_equal(mqb_coord_reset(w->c, "q", "offset:3", w->now, err, sizeof(err)),
			 MQB_OK);
	world_close(w);
	world_open(w);
	cJSON *d2 = mqb_coord_describe(w->c, "q", w->now);
	assert_string_equal(cJSON_GetObjectItem(d2, "state")->valuestring, "empty");
	cJSON_Delete(d2);
	assert_int_equal(mqb_coord_committed(w->c, "q", 0), 3);
	assert_int_equal(access(path[1], F_OK), -1);   /* the corrupt .alt went */
	assert_int_equal(join(w, "q", "m2", NULL, 0), MQB_OK);
}

static void test_state_both_slots_corrupt(void **state)
{
	world_t *w = *state;

	two_saves(w);
	corrupt_slot(w, 0);
	corrupt_slot(w, 1);
	expect_failed(w);
}

static void test_state_both_slots_truncated(void **state)
{
	world_t *w = *state;

	two_saves(w);
	truncate_slot(w, 0);
	truncate_slot(w, 1);
	expect_failed(w);
}

static void test_state_one_slot_corrupt(void **state)
{
	world_t *w = *state;

	two_saves(w);
	corrupt_slot(w, 1);             /* the newer save (committed 4) */
	world_open(w);
	assert_int_equal(mqb_coord_committed(w->c, "q", 0), 2);   /* the previous save */
	assert_int_equal(join(w, "q", "m2", NULL, 0), MQB_OK);
}

static void test_state_older_slot_truncated(void **state)
{
	world_t *w = *state;

	two_saves(w);
	truncate_slot(w, 0);            /* the older one: the newer is used */
	world_open(w);
	assert_int_equal(mqb_coord_committed(w->c, "q", 0), 4);
}

static void test_state_corrupt_start_chosen(void **state)
{
	world_t *w = *state;

	two_saves(w);
	corrupt_slot(w, 0);
	corrupt_slot(w, 1);
	w->conf = CONF_STATE_START;
	world_open(w);
	assert_int_equal(mqb_coord_committed(w->c, "q", 0), 0);   /* start = earliest */
	assert_int_equal(join(w, "q", "m2", NULL, 0), MQB_OK);
}

/* --- issue 14 item 5: join floods ---------------------------------------------------- */

static const char *CONF_FLOOD =
	"streams = ( { name = \"one\"; partitions = 1; } );\n"
	"routes = ( { filter = \"x/#\"; stream = \"one\"; } );\n"
	"groups = (\n"
	"  { name = \"q\"; stream = \"one\"; mode = \"shared\"; session_timeout_ms = 10000;\n"
	"    heartbeat_interval_ms = 200; join_deadline_ms = 500; max_members = 6;\n"
	"    join_rate = 4; join_burst = 5; } );\n";

static uint64_t errors_of(world_t *w, const char *code)
{
	cJSON *d = mqb_coord_describe(w->c, "q", w->now);
	uint64_t v = (uint64_t)cJSON_GetObjectItem(cJSON_GetObjectItem(d, "errors"),
						   code)->valuedouble;
	cJSON_Delete(d);
	return v;
}

static void test_join_flood_bounded(void **state)
{
	world_t *w = *state;
	char id[32];
	int ok = 0;

	w->conf = CONF_FLOOD;
	world_close(w);
	world_open(w);
	/* 1500 fake ids at once: the bucket lets join_burst in */
	for (int i = 0; i < 1500; i++) {
		snprintf(id, sizeof(id), "fake%d", i);
		if (join(w, "q", id, NULL, 0) == MQB_OK)
			ok++;
	}
	assert_int_equal(ok, 5);
	assert_int_equal(errors_of(w, "rate_limited"), 1495);
	/* the real member is refused while the bucket is empty, gets in with the next token */
	assert_int_equal(join(w, "q", "real", NULL, 0), MQB_ERR_AGAIN);
	w->now += 250;
	mqb_coord_tick(w->c, w->now);
	assert_int_equal(join(w, "q", "real", NULL, 0), MQB_OK);
	assert_int_equal(mqb_coord_member_count(w->c, "q"), 6);
	/* the group is full (max_members) */
	w->now += 1000;
	assert_int_equal(join(w, "q", "late", NULL, 0), MQB_ERR_TOOBIG);
	assert_int_equal(errors_of(w, "too_large"), 1);
	w->now -= 1000;
	/* the real member heartbeats; the fakes never do and go at the join deadline,
	 * long before the session timeout */
	w->now += 200;
	assert_int_equal(heartbeat(w, "q", "real"), MQB_OK);
	w->now += 200;
	mqb_coord_tick(w->c, w->now);
	assert_int_equal(mqb_coord_member_count(w->c, "q"), 1);
	cJSON *d = mqb_coord_describe(w->c, "q", w->now);
	assert_int_equal(cJSON_GetObjectItem(d, "join_deadline_removed")->valueint, 5);
	cJSON_Delete(d);
	/* confirmed: the session timeout applies again, not the join deadline */
	w->now += 2000;
	assert_int_equal(heartbeat(w, "q", "real"), MQB_OK);
	mqb_coord_tick(w->c, w->now);
	assert_int_equal(mqb_coord_member_count(w->c, "q"), 1);
	/* a rejoin restarts the deadline */
	assert_int_equal(join(w, "q", "real", NULL, 0), MQB_OK);
	w->now += 501;
	mqb_coord_tick(w->c, w->now);
	assert_int_equal(mqb_coord_member_count(w->c, "q"), 0);
}


/* The new group keys refuse bad values with file:line and the key. */
static void test_group_keys_bad_input(void **state)
{
	static const char *bad[][2] = {
		{ "join_deadline_ms = 100;", "join_deadline_ms: must be above heartbeat_interval_ms" },
		{ "on_corrupt_state = \"maybe\";", "on_corrupt_state: must be one of" },
		{ "max_members = 0;", "max_members: must be between 1 and 1024" },
		{ "max_members = 1025;", "max_members: must be between 1 and 1024" },
		{ "join_rate = 0;", "join_rate: must be between" },
		{ "join_burst = -1;", "join_burst: must be between" },
	};
	char text[1024], err[512];
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "data_dir = \"/tmp/x\";\n"
			 "streams = ( { name = \"s\"; partitions = 1; } );\n"
			 "routes = ( { filter = \"x\"; stream = \"s\"; } );\n"
			 "groups = ( { name = \"g\"; stream = \"s\"; heartbeat_interval_ms = 200;\n"
			 "  %s } );\n", bad[i][0]);
		err[0] = '\0';
		mqb_config_t *cfg = mqb_config_load_string(text, "t.conf", NULL, err, sizeof(err));
		if (cfg)
			fail_msg("accepted: %s", bad[i][0]);
		if (!strstr(err, bad[i][1]) || !strstr(err, "t.conf:5"))
			fail_msg("%s: %s", bad[i][0], err);
	}
}

static int cnt_deliver(void *arg, const char *g, const char *m, const mqb_group_record_t *r)
{
	((counter_t *)arg)->records++;
	return MQB_OK;
}

static int cnt_assignment(void *arg, const char *g, const char *m,
			  const mqb_group_assignment_t *a)
{
	((counter_t *)arg)->assignments++;
	return MQB_OK;
}

static void cnt_error(void *arg, const char *g, const char *m, mqb_group_errcode_t code,
		      const char *request, const char *message)
{
	counter_t *k = arg;
	k->errors++;
	snprintf(k->last_error, sizeof(k->last_error), "%s", mqb_group_errcode_name(code));
}

static const mqb_group_transport_ops_t cnt_ops = {
	.name = "other", .deliver = cnt_deliver, .assignment = cnt_assignment,
	.error = cnt_error,
};

static void test_mixed_transports(void **state)
{
	world_t *w = *state;
	counter_t k = { 0 };
	int64_t offs[8];

	append_n(w, "one", 0, 4);
	assert_int_equal(join(w, "sh", "a", NULL, 0), MQB_OK);
	mqb_group_join_t j = { .group = "sh", .member_id = "b",
			       .transport = { &cnt_ops, &k } };
	assert_int_equal(mqb_coord_join(w->c, &j, w->now), MQB_OK);
	mqb_coord_tick(w->c, w->now);
	/* one group, each member served by its own transport */
	assert_int_equal(records_to(w, "sh", "a", offs, NULL, 8), 2);
	assert_int_equal(k.records, 2);
	assert_int_equal(k.assignments, 1);
	assert_null(last_to(w, "sh/b/records"));
	/* a refusal is answered on the transport the request came in on */
	assert_int_equal(mqb_coord_ack(w->c, "sh", "b", 1, &(mqb_group_ack_entry_t){
		"one", 0, MQB_ACK_ACCEPT, &(mqb_offset_range_t){ offs[0], offs[0] }, 1 }, 1,
		&j.transport, w->now), MQB_ERR_PERM);
	assert_int_equal(k.errors, 1);
	assert_string_equal(k.last_error, "not_owner");
	assert_null(last_error(w, "sh", "b"));
	/* not a complete transport: refused, nothing joins */
	mqb_group_transport_ops_t half = { .name = "half", .deliver = cnt_deliver };
	mqb_group_join_t bad = { .group = "sh", .member_id = "c", .transport = { &half, &k } };
	assert_int_equal(mqb_coord_join(w->c, &bad, w->now), MQB_ERR_INVAL);
	assert_int_equal(mqb_coord_member_count(w->c, "sh"), 2);
	/* describe names each member's transport */
	cJSON *d = mqb_coord_describe(w->c, "sh", w->now), *m;
	int seen = 0;
	cJSON_ArrayForEach(m, cJSON_GetObjectItem(d, "members")) {
		const char *id = cJSON_GetObjectItem(m, "member_id")->valuestring;
		const char *pr = cJSON_GetObjectItem(m, "protocol")->valuestring;
		assert_string_equal(pr, strcmp(id, "a") == 0 ? "rec" : "other");
		seen++;
	}
	assert_int_equal(seen, 2);
	cJSON_Delete(d);
}

/* A reload's configuration: CONF's streams plus "late" (declared, not opened). */
static mqb_config_t *reload_cfg(world_t *w, const char *groups)
{
	char errstr[512], text[4096];
	mqb_config_t *cfg;

	snprintf(text, sizeof(text), "data_dir = \"%s\";\n"
		 "streams = ( { name = \"s\"; partitions = 4; },\n"
		 "            { name = \"one\"; partitions = 1; },\n"
		 "            { name = \"dlq\"; partitions = 1; },\n"
		 "            { name = \"late\"; partitions = 1; } );\n"
		 "routes = ( { filter = \"x/#\"; stream = \"s\"; } );\n"
		 "groups = ( %s );\n", w->dir, groups);
	cfg = mqb_config_load_string(text, "reload.conf", NULL, errstr, sizeof(errstr));
	if (!cfg)
		fail_msg("config: %s", errstr);
	return cfg;
}

#define Q_GROUP(extra) "{ name = \"q\"; stream = \"one\"; assignor = \"range\"; " \
	"session_timeout_ms = 1000; heartbeat_interval_ms = 200; max_deliveries = 3; " extra " }"
#define EG_GROUP "{ name = \"eg\"; stream = \"s\"; assignor = \"range\"; " \
	"rebalance = \"eager\"; session_timeout_ms = 1000; heartbeat_interval_ms = 200; }"

/* mqb_coord_reload: groups added, removed only when empty (kept with members, then
 * removed by the next reload), live settings applied (prefetch from the next
 * delivery), fixed settings and new groups that cannot start refused with nothing
 * changed. The running configuration is freed after each reload: the coordinator
 * must not borrow it. */
static void test_reload(void **state)
{
	world_t *w = *state;
	char errstr[512];
	int64_t offs[64];
	mqb_config_t *ncfg;

	append_n(w, "one", 0, 10);
	assert_int_equal(join(w, "q", "m1", NULL, 0), MQB_OK);
	assert_int_equal(join(w, "eg", "e1", NULL, 0), MQB_OK);
	mqb_coord_tick(w->c, w->now);
	assert_int_equal(records_to(w, "q", "m1", offs, NULL, 64), 4);   /* prefetch 4 */

	/* q: prefetch 4 -> 6; sh, cg removed (empty); eg removed but has e1: kept;
	 * "new" added on stream s */
	ncfg = reload_cfg(w, Q_GROUP("prefetch = 6;") ",\n"
			  "{ name = \"new\"; stream = \"s\"; mode = \"shared\"; }");
	assert_int_equal(mqb_coord_reload(w->c, ncfg, w->now, errstr, sizeof(errstr)), 1);
	mqb_config_free(w->cfg);
	w->cfg = ncfg;
	assert_true(mqb_coord_has_group(w->c, "new"));
	assert_true(mqb_coord_has_group(w->c, "eg"));      /* kept: it has a member */
	assert_false(mqb_coord_has_group(w->c, "sh"));
	assert_false(mqb_coord_has_group(w->c, "cg"));
	assert_int_equal(mqb_coord_group_count(w->c), 3);
	mqb_coord_tick(w->c, w->now);
	assert_int_equal(records_to(w, "q", "m1", offs, NULL, 64), 6);   /* 2 more */
	assert_int_equal(offs[5], 5);
	assert_int_equal(join(w, "new", "n1", NULL, 0), MQB_OK);
	assert_int_equal(join(w, "sh", "s1", NULL, 0), MQB_ERR_NOTFOUND);
	assert_string_equal(last_error(w, "sh", "s1"), "unknown_group");
	/* the views and metrics read the copies, not the freed configuration */
	cJSON *doc = mqb_coord_list(w->c, w->now);
	assert_non_null(doc);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "groups")), 3);
	cJSON_Delete(doc);

	/* a fixed setting changed: refused, nothing changes (prefetch stays 6) */
	ncfg = reload_cfg(w, "{ name = \"q\"; stream = \"one\"; mode = \"shared\"; prefetch = 8; }");
	errstr[0] = '\0';
	assert_int_equal(mqb_coord_reload(w->c, ncfg, w->now, errstr, sizeof(errstr)),
			 MQB_ERR_CONFIG);
	assert_non_null(strstr(errstr, "q.mode changed: needs a restart"));
	mqb_config_free(ncfg);
	assert_int_equal(mqb_coord_group_count(w->c), 3);
	/* a new group whose stream is not open: refused, nothing changes */
	ncfg = reload_cfg(w, Q_GROUP("prefetch = 8;") ",\n{ name = \"lg\"; stream = \"late\"; }");
	errstr[0] = '\0';
	assert_int_equal(mqb_coord_reload(w->c, ncfg, w->now, errstr, sizeof(errstr)),
			 MQB_ERR_CONFIG);
	assert_non_null(strstr(errstr, "new group lg: group lg: stream late is not open"));
	mqb_config_free(ncfg);
	assert_false(mqb_coord_has_group(w->c, "lg"));
	assert_true(mqb_coord_has_group(w->c, "new"));
	assert_int_equal(ack(w, "q", "m1", 1, "one", 0, 0, 5, "accept"), MQB_OK);
	mqb_coord_tick(w->c, w->now);
	assert_int_equal(records_to(w, "q", "m1", offs, NULL, 64), 10);  /* 6 + 4 left */

	/* e1 leaves: the next reload (same file) removes eg; "new" has n1: kept */
	assert_int_equal(leave(w, "eg", "e1"), MQB_OK);
	ncfg = reload_cfg(w, Q_GROUP("prefetch = 6;"));
	assert_int_equal(mqb_coord_reload(w->c, ncfg, w->now, errstr, sizeof(errstr)), 1);
	mqb_config_free(w->cfg);
	w->cfg = ncfg;
	assert_false(mqb_coord_has_group(w->c, "eg"));
	assert_true(mqb_coord_has_group(w->c, "new"));
	assert_int_equal(leave(w, "new", "n1"), MQB_OK);

	/* eg added back: it resumes from its saved state; q keeps its position */
	ncfg = reload_cfg(w, Q_GROUP("prefetch = 6;") ",\n" EG_GROUP);
	assert_int_equal(mqb_coord_reload(w->c, ncfg, w->now, errstr, sizeof(errstr)), 0);
	mqb_config_free(w->cfg);
	w->cfg = ncfg;
	assert_false(mqb_coord_has_group(w->c, "new"));
	assert_true(mqb_coord_has_group(w->c, "eg"));
	assert_int_equal(mqb_coord_committed(w->c, "q", 0), 6);
	assert_int_equal(ack(w, "q", "m1", 1, "one", 0, 6, 9, "accept"), MQB_OK);

	/* stream "one" grows to 2 partitions: q (exclusive) rebalances and its member gets
	 * both, records of the new partition are delivered */
	{
		mqb_stream_opts_t o = w->cfg->streams[1].opts;
		unsigned as = 0, rv = 0;
		int parts[64];
		size_t n;

		assert_string_equal(o.name, "one");
		o.partitions = 2;
		assert_int_equal(mqb_store_stream_grow(w->st, &o, errstr, sizeof(errstr)), MQB_OK);
		append_n(w, "one", 1, 3);
		ncfg = reload_cfg(w, Q_GROUP("prefetch = 6;") ",\n" EG_GROUP);
		assert_int_equal(mqb_coord_reload(w->c, ncfg, w->now, errstr, sizeof(errstr)), 0);
		mqb_config_free(w->cfg);
		w->cfg = ncfg;
		mqb_coord_tick(w->c, w->now);
		/* eager: partition 0 is revoked first, then both are assigned */
		int64_t gen = assignment(w, "q", "m1", &as, &rv);
		assert_int_equal(rv, 1u);
		int32_t p0 = 0;
		assert_int_equal(revoked(w, "q", "m1", gen, &p0, 1), MQB_OK);
		mqb_coord_tick(w->c, w->now);
		assert_true(assignment(w, "q", "m1", &as, &rv) > gen);
		assert_int_equal(as, 3u);                 /* partitions 0 and 1 */
		mqb_coord_tick(w->c, w->now);
		n = records_to(w, "q", "m1", offs, parts, 64);
		int in_p1 = 0;
		for (size_t k = 0; k < n; k++)
			in_p1 += parts[k] == 1;
		assert_int_equal(in_p1, 3);
	}
	assert_int_equal(mqb_coord_flush(w->c), MQB_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_eager_join_and_rebalance, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cooperative_handover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cooperative_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delivery_prefetch_acks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_join_flood_rate_limited, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_static_membership, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_both_slots_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_both_slots_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_one_slot_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_older_slot_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_corrupt_start_chosen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_join_flood_bounded, setup, teardown),
		cmocka_unit_test(test_group_keys_bad_input),
		cmocka_unit_test_setup_teardown(test_rejoin_redelivers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_dead_letter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mixed_transports, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
