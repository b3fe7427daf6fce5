/*
 * test_kafka_api_groups.c — Kafka consumer groups served by mqbridged's kafka_api,
 * driven by clients written by others:
 *  - three `kcat -G` members (librdkafka's group client) on a 4-partition stream: every
 *    record consumed, each partition owned by exactly one member per generation
 *    (checked on GET /groups/<g> at every stable generation); kill -9 one member: its
 *    partitions move and the new records reach the others;
 *  - static membership (group.instance.id): a member killed and restarted at once
 *    takes its place again, same generation, no rebalance;
 *  - committed offsets survive kill -9 of mqbridged: after the restart /groups shows
 *    them and a new member reads only what came after;
 *  - kafkajs: a producer and a consumer group agree with `mqbridge log dump --json`;
 *  - /groups lists Kafka groups (kind "kafka") beside the configured mqbridge group
 *    (kind "mqbridge"), and `mqbridge groups describe` shows one;
 *  - the flexible versions (JoinGroup v7, SyncGroup v5, Heartbeat v4, OffsetCommit v8,
 *    OffsetFetch v7, LeaveGroup v4, ListGroups v4) and DescribeGroups by hand, since
 *    neither client sends them;
 *  - bad input: an invalid, too long or mqbridge-owned group id, an unknown member, a
 *    stale generation, an oversized assignment, a JoinGroup flood, too many groups:
 *    each gets its protocol error and the daemon keeps serving;
 *  - `mqbridge groups reset` on a Kafka group (refused while the daemon runs).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>

#include "tests/integration/ingest_util.h"
#include "tests/integration/kafka_raw.h"
#include "tests/integration/kafka_api_fx.h"

#define STREAM "kg"
#define PARTS 4
#define GROUP "kgrp"
#define MAX_MEMBERS 50
#define MAX_GROUPS 20

static mqbt_broker_t broker;
static iu_daemon_t daemon_;
static int kport;
static char bootstrap[64];
static int64_t produced[PARTS];    /* records per partition so far */

static int group_setup(void **state)
{
	char rest[1536];

	(void)state;
	if (kapi_env_begin(&broker, &daemon_, &kport, bootstrap, sizeof bootstrap) != 0)
		return -1;
	snprintf(rest, sizeof rest,
		 "streams = ( { name = \"%s\"; partitions = %d; } );\n"
		 "routes = ( { filter = \"t/+/v\"; stream = \"%s\"; } );\n"
		 "groups = ( { name = \"mqg\"; stream = \"%s\"; } );\n"
		 "kafka_api = { listen = \"127.0.0.1:%d\"; max_groups = %d; "
		 "max_group_members = %d; group_initial_rebalance_delay_ms = 300; "
		 "group_min_session_timeout_ms = 1000; };\n",
		 STREAM, PARTS, STREAM, STREAM, kport, MAX_GROUPS, MAX_MEMBERS);
	assert_int_equal(iu_daemon_config(&daemon_, broker.port, "kapi-groups", NULL, rest), 0);
	kapi_daemon_start(&daemon_, kport);
	return 0;
}

static int group_teardown(void **state)
{
	return kapi_teardown(&daemon_, state);
}

/* n records "<prefix>-<p>-<i>" into partition p (kcat -P, acks all). */
static void produce(int p, int n, const char *prefix)
{
	char path[600], part[16], *text = malloc((size_t)n * 48 + 1), *out = NULL;
	size_t len = 0, at = 0;

	assert_non_null(text);
	for (int i = 0; i < n; i++)
		at += (size_t)sprintf(text + at, "%s-%d-%lld\n", prefix, p,
				      (long long)(produced[p] + i));
	snprintf(path, sizeof path, "%s/produce.txt", daemon_.dir);
	assert_int_equal(mqbt_write_file(path, text), 0);
	snprintf(part, sizeof part, "%d", p);
	const char *argv[] = { kcat(), "-b", bootstrap, "-P", "-t", STREAM, "-p", part,
			       "-X", "acks=all", "-l", path, NULL };
	assert_int_equal(mqbt_run(argv, &out, &len, 30000), 0);
	free(out);
	free(text);
	produced[p] += n;
}

static void produce_all(int n, const char *prefix)
{
	for (int p = 0; p < PARTS; p++)
		produce(p, n, prefix);
}

/* --- the group as /groups/<g> shows it ----------------------------------------------- */

static cJSON *describe(const char *group)
{
	char path[128], *body = NULL;
	int status = 0;
	cJSON *doc;

	snprintf(path, sizeof path, "/groups/%s", group);
	if (mqbt_http_get(daemon_.stats_port, path, &status, &body) != 0 || status != 200) {
		free(body);
		return NULL;
	}
	doc = cJSON_Parse(body);
	free(body);
	return doc;
}

/*
 * Wait until the group is Stable with `members` members whose assignments of STREAM
 * are disjoint and cover every partition; returns the generation and each member's
 * partitions as a bit set by member id (owner[p] = index in members).
 */
static int wait_stable(const char *group, int members, int min_generation,
		       char ids[][256], unsigned *parts_of)
{
	int64_t end = mqbt_now_ms() + 30000;

	while (mqbt_now_ms() < end) {
		cJSON *doc = describe(group), *m;
		int owners[PARTS], n = 0, gen;
		bool ok = doc && !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(doc, "state")),
					 "Stable");

		for (int p = 0; p < PARTS; p++)
			owners[p] = 0;
		gen = doc ? cJSON_GetObjectItem(doc, "generation")->valueint : -1;
		ok = ok && gen >= min_generation &&
		     cJSON_GetArraySize(cJSON_GetObjectItem(doc, "members")) == members;
		cJSON *mlist = ok ? cJSON_GetObjectItem(doc, "members") : NULL;
		cJSON_ArrayForEach(m, mlist) {
			cJSON *a = cJSON_GetObjectItem(cJSON_GetObjectItem(m, "assignment"), STREAM), *p;
			unsigned bits = 0;
			cJSON_ArrayForEach(p, a) {
				assert_true(p->valueint >= 0 && p->valueint < PARTS);
				owners[p->valueint]++;
				bits |= 1u << p->valueint;
			}
			if (ids)
				snprintf(ids[n], 256, "%s", cJSON_GetObjectItem(m, "member_id")->valuestring);
			if (parts_of)
				parts_of[n] = bits;
			n++;
		}
		for (int p = 0; ok && p < PARTS; p++) {
			/* a stable generation never has a partition owned twice */
			assert_true(owners[p] <= 1);
			ok = owners[p] == 1;
		}
		cJSON_Delete(doc);
		if (ok)
			return gen;
		mqbt_sleep_ms(100);
	}
	fail_msg("group %s never became stable with %d members", group, members);
	return -1;
}

/* Wait until every partition's committed offset is `want` (or its log end: want -1). */
static void wait_committed(const char *group, const int64_t *want)
{
	int64_t end = mqbt_now_ms() + 20000;
	char *last = NULL;

	while (mqbt_now_ms() < end) {
		cJSON *doc = describe(group), *e;
		int ok = 0;

		cJSON *plist = doc ? cJSON_GetObjectItem(doc, "partitions") : NULL;
		cJSON_ArrayForEach(e, plist) {
			int p = cJSON_GetObjectItem(e, "partition")->valueint;
			if (p >= 0 && p < PARTS && !strcmp(cJSON_GetObjectItem(e, "stream")->valuestring,
							    STREAM) &&
			    (int64_t)cJSON_GetObjectItem(e, "committed")->valuedouble == want[p])
				ok++;
		}
		free(last);
		last = doc ? cJSON_PrintUnformatted(doc) : NULL;
		cJSON_Delete(doc);
		if (ok == PARTS) {
			free(last);
			return;
		}
		mqbt_sleep_ms(100);
	}
	fail_msg("group %s: committed offsets not reached: %s", group, last ? last : "(none)");
}

/* --- kcat -G members ------------------------------------------------------------------- */

typedef struct member {
	pid_t pid;
	char out[600];
} member_t;

static void member_start_in(member_t *m, int i, bool exit_at_end, const char *group,
			    const char *instance)
{
	char inst[128];

	snprintf(m->out, sizeof m->out, "%s/member%d.out", daemon_.dir, i);
	snprintf(inst, sizeof inst, "group.instance.id=%s", instance ? instance : "");
	const char *argv[] = { kcat(), "-b", bootstrap, "-G", group, STREAM, "-q", "-u",
			       "-f", "R %p %o %s\\n",
			       "-X", "session.timeout.ms=3000", "-X", "heartbeat.interval.ms=300",
			       "-X", "auto.commit.interval.ms=200",
			       "-X", "auto.offset.reset=earliest",
			       "-X", instance ? inst : "client.id=rdkafka",
			       exit_at_end ? "-e" : NULL, NULL };
	assert_int_equal(mqbt_spawn(&m->pid, argv, m->out), 0);
}

static void member_start(member_t *m, int i, bool exit_at_end)
{
	member_start_in(m, i, exit_at_end, GROUP, NULL);
}

/* Records a member printed: seen[p][o] set (offsets below cap). */
#define OFF_CAP 4096
static void member_seen(const member_t *m, unsigned char seen[PARTS][OFF_CAP], int *dups)
{
	size_t len;
	char *text = mqbt_read_file(m->out, &len), *save = NULL;

	for (char *l = text ? strtok_r(text, "\n", &save) : NULL; l;
	     l = strtok_r(NULL, "\n", &save)) {
		int p;
		long long o;
		if (sscanf(l, "R %d %lld", &p, &o) != 2 || p < 0 || p >= PARTS || o < 0 ||
		    o >= OFF_CAP)
			continue;
		if (seen[p][o] && dups)
			(*dups)++;
		seen[p][o] = 1;
	}
	free(text);
}

/* Wait until the members together printed every offset in [from[p], produced[p]). */
static void wait_consumed(member_t *ms, int n, const int64_t *from)
{
	int64_t end = mqbt_now_ms() + 30000;
	static unsigned char seen[PARTS][OFF_CAP];
	int missing = 0, first_p = -1;
	int64_t first_o = -1;

	while (mqbt_now_ms() < end) {
		missing = 0;
		first_p = -1;
		memset(seen, 0, sizeof seen);
		for (int i = 0; i < n; i++)
			if (ms[i].pid > 0)
				member_seen(&ms[i], seen, NULL);
		for (int p = 0; p < PARTS; p++)
			for (int64_t o = from[p]; o < produced[p]; o++)
				if (!seen[p][o]) {
					if (!missing++) {
						first_p = p;
						first_o = o;
					}
				}
		if (!missing)
			return;
		mqbt_sleep_ms(100);
	}
	iu_daemon_dump_log(&daemon_);
	fail_msg("%d records not consumed by the group (first: partition %d offset %lld)",
		 missing, first_p, (long long)first_o);
}

static void test_kcat_group_and_restart(void **state)
{
	member_t ms[3];
	char ids[3][256];
	unsigned parts[3];
	int64_t zero[PARTS] = { 0 }, mark[PARTS];
	int gen, victim = -1;

	(void)state;
	produce_all(500, "a");
	for (int i = 0; i < 3; i++)
		member_start(&ms[i], i, false);
	gen = wait_stable(GROUP, 3, 1, ids, parts);
	wait_consumed(ms, 3, zero);
	wait_committed(GROUP, produced);

	/* kill -9 a member that owns partitions: they move to the two others */
	for (int i = 0; i < 3 && victim < 0; i++)
		if (parts[i])
			victim = i;
	assert_true(victim >= 0);
	mqbt_kill(ms[victim].pid, SIGKILL);
	mqbt_wait(ms[victim].pid, 5000);
	ms[victim].pid = 0;
	memcpy(mark, produced, sizeof mark);
	produce_all(100, "b");
	int gen2 = wait_stable(GROUP, 2, gen + 1, ids, parts);
	assert_true(gen2 > gen);
	wait_consumed(ms, 3, mark);        /* the victim's partitions included */
	wait_committed(GROUP, produced);
	for (int i = 0; i < 3; i++)
		if (ms[i].pid > 0) {
			assert_int_equal(mqbt_stop(ms[i].pid, 10000), 0);
			ms[i].pid = 0;
		}

	/* kill -9 mqbridged: the committed offsets survive the restart */
	mqbt_kill(daemon_.pid, SIGKILL);
	mqbt_wait(daemon_.pid, 10000);
	daemon_.pid = 0;
	kapi_daemon_start(&daemon_, kport);
	wait_committed(GROUP, produced);
	memcpy(mark, produced, sizeof mark);
	produce_all(10, "c");
	member_start(&ms[0], 3, true);
	assert_int_equal(mqbt_wait(ms[0].pid, 30000), 0);
	ms[0].pid = 0;
	/* the new member read exactly what came after the committed offsets */
	static unsigned char seen[PARTS][OFF_CAP];
	int dups = 0, total = 0;
	memset(seen, 0, sizeof seen);
	member_seen(&ms[0], seen, &dups);
	for (int p = 0; p < PARTS; p++)
		for (int o = 0; o < OFF_CAP; o++) {
			total += seen[p][o];
			if (seen[p][o])
				assert_true(o >= mark[p] && o < produced[p]);
		}
	assert_int_equal(total, PARTS * 10);
	assert_int_equal(dups, 0);
}

/* Static membership: a member killed and restarted with its group.instance.id within
 * the session timeout takes its place again without a rebalance. */
static void test_static_member(void **state)
{
	member_t ms[2];
	char ids[2][256], leader[256];
	unsigned parts[2], parts2[2];
	int gen, gen2, victim;
	cJSON *doc;

	(void)state;
	member_start_in(&ms[0], 10, false, "static", "s0");
	member_start_in(&ms[1], 11, false, "static", "s1");
	gen = wait_stable("static", 2, 1, ids, parts);
	doc = describe("static");
	assert_non_null(doc);
	snprintf(leader, sizeof leader, "%s", cJSON_GetObjectItem(doc, "leader")->valuestring);
	victim = -1;
	cJSON *m;
	cJSON_ArrayForEach(m, cJSON_GetObjectItem(doc, "members"))
		if (strcmp(cJSON_GetObjectItem(m, "member_id")->valuestring, leader))
			/* a follower (a rejoining leader rebalances) */
			victim = !strcmp(cJSON_GetObjectItem(m, "instance_id")->valuestring, "s1");
	cJSON_Delete(doc);
	assert_true(victim >= 0);
	mqbt_kill(ms[victim].pid, SIGKILL);
	mqbt_wait(ms[victim].pid, 5000);
	member_start_in(&ms[victim], 20 + victim, false, "static", victim ? "s1" : "s0");
	mqbt_sleep_ms(1500);                  /* well past its rejoin; session is 3 s */
	gen2 = wait_stable("static", 2, 1, NULL, parts2);
	assert_int_equal(gen2, gen);          /* no rebalance */
	doc = describe("static");
	int instances = 0;
	cJSON_ArrayForEach(m, cJSON_GetObjectItem(doc, "members"))
		instances += cJSON_IsString(cJSON_GetObjectItem(m, "instance_id"));
	assert_int_equal(instances, 2);
	cJSON_Delete(doc);
	/* each member kept its partitions (a static member is renamed in place) */
	assert_int_equal(parts2[0], parts[0]);
	assert_int_equal(parts2[1], parts[1]);
	for (int i = 0; i < 2; i++)
		mqbt_stop(ms[i].pid, 10000);
}

/* --- kafkajs ------------------------------------------------------------------------------ */

static void test_kafkajs_group(void **state)
{
	char env_e[64], *out = NULL, *dump = NULL, *save = NULL;
	size_t dlen = 0;
	int64_t total = 0;
	int matched = 0, lines = 0;

	(void)state;
	for (int p = 0; p < PARTS; p++)
		total += produced[p];
	total += 100;
	snprintf(env_e, sizeof env_e, "EXPECT=%lld", (long long)total);
	const char *env[] = { "TOPIC=" STREAM, "GROUP=js", "PRODUCE=100", env_e,
			      "TIMEOUT_MS=30000", NULL };
	int st = kapi_kafkajs(bootstrap, env, &out);
	if (st != 0)
		fail_msg("kafkajs exited %d: %s", st, out ? out : "");
	const char *dargv[] = { mqbt_bin("mqbridge"), "log", "dump", daemon_.data, "--stream",
				STREAM, "--json", NULL };
	assert_int_equal(mqbt_run(dargv, &dump, &dlen, 30000), 0);
	/* every record kafkajs consumed is the record log dump shows at that place */
	cJSON **byp[PARTS] = { 0 };
	for (int p = 0; p < PARTS; p++)
		byp[p] = calloc(OFF_CAP, sizeof(cJSON *));
	for (char *l = strtok_r(dump, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		cJSON *j = cJSON_Parse(l);
		assert_non_null(j);
		int p = cJSON_GetObjectItem(j, "partition")->valueint;
		int o = (int)cJSON_GetObjectItem(j, "offset")->valuedouble;
		assert_true(p >= 0 && p < PARTS && o >= 0 && o < OFF_CAP);
		byp[p][o] = j;
		lines++;
	}
	assert_int_equal(lines, total);
	save = NULL;
	for (char *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		cJSON *j = cJSON_Parse(l), *d;
		assert_non_null(j);
		int p = cJSON_GetObjectItem(j, "p")->valueint, o = cJSON_GetObjectItem(j, "o")->valueint;
		assert_true(p >= 0 && p < PARTS && o >= 0 && o < OFF_CAP);
		d = byp[p][o];
		assert_non_null(d);
		assert_string_equal(cJSON_GetObjectItem(j, "v")->valuestring,
				    cJSON_GetObjectItem(d, "value")->valuestring);
		cJSON *k = cJSON_GetObjectItem(j, "k"), *dk = cJSON_GetObjectItem(d, "key");
		if (cJSON_IsString(k))
			assert_string_equal(k->valuestring, dk->valuestring);
		else
			assert_false(cJSON_IsString(dk));
		matched++;
		cJSON_Delete(j);
	}
	assert_int_equal(matched, total);
	for (int p = 0; p < PARTS; p++) {
		for (int o = 0; o < OFF_CAP; o++)
			cJSON_Delete(byp[p][o]);
		free(byp[p]);
	}
	free(out);
	free(dump);
	/* kafkajs committed everything it read */
	int64_t want[PARTS];
	for (int p = 0; p < PARTS; p++)
		want[p] = -2;
	cJSON *doc = describe("js"), *e;
	assert_non_null(doc);
	int64_t committed = 0;
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(doc, "partitions"))
		committed += (int64_t)cJSON_GetObjectItem(e, "committed")->valuedouble;
	assert_int_equal(committed, total);
	(void)want;
	cJSON_Delete(doc);
}

/* --- /groups and the CLI ------------------------------------------------------------------ */

static void test_groups_view(void **state)
{
	char *body = NULL, url[64], *out = NULL;
	int status = 0, kinds = 0;
	size_t len = 0;
	cJSON *doc, *g;

	(void)state;
	assert_int_equal(mqbt_http_get(daemon_.stats_port, "/groups", &status, &body), 0);
	assert_int_equal(status, 200);
	doc = cJSON_Parse(body);
	assert_non_null(doc);
	cJSON_ArrayForEach(g, cJSON_GetObjectItem(doc, "groups")) {
		const char *n = cJSON_GetObjectItem(g, "name")->valuestring;
		const char *k = cJSON_GetStringValue(cJSON_GetObjectItem(g, "kind"));
		assert_non_null(k);
		if (!strcmp(n, "mqg"))
			kinds += !strcmp(k, "mqbridge");
		if (!strcmp(n, GROUP))
			kinds += 2 * !strcmp(k, "kafka");
	}
	assert_int_equal(kinds, 3);
	cJSON_Delete(doc);
	free(body);
	snprintf(url, sizeof url, "http://127.0.0.1:%d", daemon_.stats_port);
	const char *argv[] = { mqbt_bin("mqbridge"), "groups", "describe", GROUP, "--url", url,
			       NULL };
	assert_int_equal(mqbt_run(argv, &out, &len, 10000), 0);
	assert_non_null(strstr(out, "kind kafka"));
	free(out);
	/* metrics */
	assert_int_equal(mqbt_http_get(daemon_.stats_port, "/metrics", &status, &body), 0);
	assert_non_null(strstr(body, "mqbridge_kafka_api_group_generation{group=\"" GROUP "\"}"));
	assert_non_null(strstr(body, "mqbridge_kafka_api_group_commits_total{group=\"js\"}"));
	free(body);
}

/* --- flexible versions by hand ------------------------------------------------------------ */

static void rq_uv(rawreq_t *q, uint64_t v)
{
	while (v >= 0x80) {
		rq_i8(q, (int)(v | 0x80));
		v >>= 7;
	}
	rq_i8(q, (int)v);
}
static void rq_cstr(rawreq_t *q, const char *s)   /* compact string; NULL: null */
{
	if (!s) {
		rq_uv(q, 0);
		return;
	}
	rq_uv(q, strlen(s) + 1);
	rq_raw(q, s, strlen(s));
}
/* A flexible request: header v2 (null client id, no tags). */
static void rq_fstart(rawreq_t *q, int key, int ver, int corr)
{
	rq_start(q, key, ver, corr);
	rq_i8(q, 0);
}

typedef struct rd { const uint8_t *p, *end; } rd_t;
static uint64_t rd_uv(rd_t *r)
{
	uint64_t v = 0;
	for (int s = 0; r->p < r->end; s += 7) {
		uint8_t b = *r->p++;
		v |= (uint64_t)(b & 0x7f) << s;
		if (!(b & 0x80))
			break;
	}
	return v;
}
static int16_t rd16(rd_t *r) { int16_t v = get16(r->p); r->p += 2; return v; }
static int32_t rd32(rd_t *r) { int32_t v = get32(r->p); r->p += 4; return v; }
static int64_t rd64(rd_t *r) { int64_t v = get64(r->p); r->p += 8; return v; }
static void rd_cstr(rd_t *r, char *out, size_t size)
{
	uint64_t n = rd_uv(r);
	size_t l = n ? (size_t)n - 1 : 0;
	assert_true(l < size && r->p + l <= r->end);
	memcpy(out, r->p, l);
	out[l] = '\0';
	r->p += l;
}

/* Answer of a flexible request: the reader past correlation id and header tags. */
static uint8_t *frecv(int fd, int corr, rd_t *r)
{
	size_t len;
	uint8_t *b = rq_recv(fd, &len);
	assert_int_equal(get32(b), corr);
	r->p = b + 4;
	r->end = b + len;
	assert_int_equal(rd_uv(r), 0);       /* response header tags */
	return b;
}

/* JoinGroup v7 with member_id; returns the error, fills id / generation / leader. */
static int16_t join_v7(int fd, const char *group, const char *member, char *id, int32_t *gen,
		       char *leader)
{
	rawreq_t q;
	rd_t r;
	char proto[64];
	uint8_t *b;
	int16_t e;

	rq_fstart(&q, 11, 7, 700);
	rq_cstr(&q, group);
	rq_i32(&q, 5000);
	rq_i32(&q, 5000);
	rq_cstr(&q, member);
	rq_cstr(&q, NULL);                   /* group_instance_id */
	rq_cstr(&q, "consumer");
	rq_uv(&q, 2);                        /* one protocol */
	rq_cstr(&q, "range");
	rq_uv(&q, 4); rq_raw(&q, "md!", 3);  /* metadata */
	rq_i8(&q, 0);
	rq_i8(&q, 0);
	rq_send(fd, &q);
	b = frecv(fd, 700, &r);
	(void)rd32(&r);                      /* throttle */
	e = rd16(&r);
	*gen = rd32(&r);
	rd_cstr(&r, proto, sizeof proto);    /* protocol_type (nullable) */
	rd_cstr(&r, proto, sizeof proto);    /* protocol_name */
	rd_cstr(&r, leader, 256);
	rd_cstr(&r, id, 256);
	free(b);
	return e;
}

static void test_flexible_versions(void **state)
{
	int fd = kraw_connect(kport);
	char id[256], id2[256], leader[256], meta[64];
	int32_t gen;
	rawreq_t q;
	rd_t r;
	uint8_t *b;

	(void)state;
	/* JoinGroup v7: first MEMBER_ID_REQUIRED with an id, then the generation */
	assert_int_equal(join_v7(fd, "flex", "", id, &gen, leader), 79);
	assert_true(strlen(id) > 0);
	assert_int_equal(join_v7(fd, "flex", id, id2, &gen, leader), 0);
	assert_string_equal(id2, id);
	assert_string_equal(leader, id);
	assert_true(gen >= 1);
	/* SyncGroup v5: the leader's assignment comes back */
	rq_fstart(&q, 14, 5, 701);
	rq_cstr(&q, "flex"); rq_i32(&q, gen); rq_cstr(&q, id); rq_cstr(&q, NULL);
	rq_cstr(&q, "consumer"); rq_cstr(&q, "range");
	rq_uv(&q, 2); rq_cstr(&q, id); rq_uv(&q, 4); rq_raw(&q, "abc", 3); rq_i8(&q, 0);
	rq_i8(&q, 0);
	rq_send(fd, &q);
	b = frecv(fd, 701, &r);
	(void)rd32(&r);
	assert_int_equal(rd16(&r), 0);
	rd_cstr(&r, meta, sizeof meta);
	assert_string_equal(meta, "consumer");
	rd_cstr(&r, meta, sizeof meta);
	assert_string_equal(meta, "range");
	rd_cstr(&r, meta, sizeof meta);
	assert_string_equal(meta, "abc");
	free(b);
	/* Heartbeat v4 */
	rq_fstart(&q, 12, 4, 702);
	rq_cstr(&q, "flex"); rq_i32(&q, gen); rq_cstr(&q, id); rq_cstr(&q, NULL); rq_i8(&q, 0);
	rq_send(fd, &q);
	b = frecv(fd, 702, &r);
	(void)rd32(&r);
	assert_int_equal(rd16(&r), 0);
	free(b);
	/* OffsetCommit v8: kg partition 1 at 3 with metadata */
	rq_fstart(&q, 8, 8, 703);
	rq_cstr(&q, "flex"); rq_i32(&q, gen); rq_cstr(&q, id); rq_cstr(&q, NULL);
	rq_uv(&q, 2); rq_cstr(&q, STREAM);
	rq_uv(&q, 2); rq_i32(&q, 1); rq_i64(&q, 3); rq_i32(&q, -1); rq_cstr(&q, "m8"); rq_i8(&q, 0);
	rq_i8(&q, 0);
	rq_i8(&q, 0);
	rq_send(fd, &q);
	b = frecv(fd, 703, &r);
	(void)rd32(&r);
	assert_int_equal(rd_uv(&r), 2);
	rd_cstr(&r, meta, sizeof meta);
	assert_string_equal(meta, STREAM);
	assert_int_equal(rd_uv(&r), 2);
	assert_int_equal(rd32(&r), 1);
	assert_int_equal(rd16(&r), 0);
	free(b);
	/* OffsetFetch v7 reads it back */
	rq_fstart(&q, 9, 7, 704);
	rq_cstr(&q, "flex");
	rq_uv(&q, 2); rq_cstr(&q, STREAM); rq_uv(&q, 2); rq_i32(&q, 1); rq_i8(&q, 0);
	rq_i8(&q, 0);                        /* require_stable */
	rq_i8(&q, 0);
	rq_send(fd, &q);
	b = frecv(fd, 704, &r);
	(void)rd32(&r);
	assert_int_equal(rd_uv(&r), 2);
	rd_cstr(&r, meta, sizeof meta);
	assert_int_equal(rd_uv(&r), 2);
	assert_int_equal(rd32(&r), 1);
	assert_int_equal(rd64(&r), 3);
	(void)rd32(&r);                      /* leader epoch */
	rd_cstr(&r, meta, sizeof meta);
	assert_string_equal(meta, "m8");
	assert_int_equal(rd16(&r), 0);
	free(b);
	/* LeaveGroup v4 (batch of one) */
	rq_fstart(&q, 13, 4, 705);
	rq_cstr(&q, "flex");
	rq_uv(&q, 2); rq_cstr(&q, id); rq_cstr(&q, NULL); rq_i8(&q, 0);
	rq_i8(&q, 0);
	rq_send(fd, &q);
	b = frecv(fd, 705, &r);
	(void)rd32(&r);
	assert_int_equal(rd16(&r), 0);
	assert_int_equal(rd_uv(&r), 2);
	rd_cstr(&r, meta, sizeof meta);
	assert_string_equal(meta, id);
	rd_cstr(&r, meta, sizeof meta);      /* instance id: null */
	assert_int_equal(rd16(&r), 0);
	free(b);
	close(fd);
}

/* ListGroups v4 (flexible, state filter) and DescribeGroups v1 (classic). */
static void test_list_describe(void **state)
{
	int fd = kraw_connect(kport);
	rawreq_t q;
	rd_t r;
	uint8_t *b;
	size_t len;
	char name[256], st[64], pt[64];
	int found = 0;
	uint64_t n;

	(void)state;
	rq_fstart(&q, 16, 4, 710);
	rq_uv(&q, 2); rq_cstr(&q, "Empty");
	rq_i8(&q, 0);
	rq_send(fd, &q);
	b = frecv(fd, 710, &r);
	(void)rd32(&r);
	assert_int_equal(rd16(&r), 0);
	n = rd_uv(&r);
	assert_true(n >= 2);
	for (uint64_t i = 0; i + 1 < n; i++) {
		rd_cstr(&r, name, sizeof name);
		rd_cstr(&r, pt, sizeof pt);
		rd_cstr(&r, st, sizeof st);
		assert_int_equal(rd_uv(&r), 0);
		assert_string_equal(st, "Empty");
		found += !strcmp(name, GROUP) || !strcmp(name, "js");
	}
	assert_int_equal(found, 2);
	free(b);

	rq_start(&q, 15, 1, 711);
	rq_i32(&q, 2); rq_str(&q, GROUP); rq_str(&q, "never-seen");
	rq_send(fd, &q);
	b = rq_recv(fd, &len);
	assert_int_equal(get32(b), 711);
	assert_int_equal(get32(b + 8), 2);
	size_t at = 12;
	assert_int_equal(get16(b + at), 0);
	at += 2;
	at += 2 + (size_t)get16(b + at);     /* group id */
	assert_int_equal(get16(b + at), 5);  /* "Empty" */
	assert_memory_equal(b + at + 2, "Empty", 5);
	at += 7;
	at += 2 + (size_t)get16(b + at);     /* protocol type */
	at += 2 + (size_t)get16(b + at);     /* protocol */
	assert_int_equal(get32(b + at), 0);  /* members */
	at += 4;
	assert_int_equal(get16(b + at), 0);
	at += 2;
	at += 2 + (size_t)get16(b + at);
	assert_int_equal(get16(b + at), 4);  /* "Dead" */
	assert_memory_equal(b + at + 2, "Dead", 4);
	free(b);
	close(fd);
}

/* --- bad input ---------------------------------------------------------------------------- */

/* FindCoordinator v2 for key: the error code. */
static int16_t find_coordinator(int fd, const char *key)
{
	rawreq_t q;
	size_t len;
	uint8_t *b;
	int16_t e;

	rq_start(&q, 10, 2, 800);
	rq_str(&q, key);
	rq_i8(&q, 0);
	rq_send(fd, &q);
	b = rq_recv(fd, &len);
	e = get16(b + 8);                    /* after correlation id and throttle */
	free(b);
	return e;
}

/* JoinGroup v3 (v4: member id required when version 4) for group; error, id, gen. */
static int16_t join_classic(int fd, int version, const char *group, const char *member,
			    char *id, int32_t *gen)
{
	rawreq_t q;
	size_t len, at;
	uint8_t *b;
	int16_t e;

	rq_start(&q, 11, version, 801);
	rq_str(&q, group);
	rq_i32(&q, 5000);
	rq_i32(&q, 5000);
	rq_str(&q, member);
	rq_str(&q, "consumer");
	rq_i32(&q, 1);
	rq_str(&q, "range");
	rq_i32(&q, 0);
	rq_send(fd, &q);
	b = rq_recv(fd, &len);
	e = get16(b + 8);
	if (gen)
		*gen = get32(b + 10);
	at = 14;
	at += 2 + (size_t)get16(b + at);     /* protocol name */
	at += 2 + (size_t)get16(b + at);     /* leader */
	if (id) {
		size_t n = (size_t)get16(b + at);
		memcpy(id, b + at + 2, n);
		id[n] = '\0';
	}
	free(b);
	return e;
}

static int16_t heartbeat(int fd, const char *group, int32_t gen, const char *member)
{
	rawreq_t q;
	size_t len;
	uint8_t *b;
	int16_t e;

	rq_start(&q, 12, 1, 802);
	rq_str(&q, group); rq_i32(&q, gen); rq_str(&q, member);
	rq_send(fd, &q);
	b = rq_recv(fd, &len);
	e = get16(b + 8);
	free(b);
	return e;
}

/* OffsetCommit v2 outside the group protocol (generation -1): the partition's error. */
static int16_t simple_commit(int fd, const char *group, const char *topic, int32_t part)
{
	rawreq_t q;
	size_t len;
	uint8_t *b;
	int16_t e;

	rq_start(&q, 8, 2, 803);
	rq_str(&q, group); rq_i32(&q, -1); rq_str(&q, ""); rq_i64(&q, -1);
	rq_i32(&q, 1); rq_str(&q, topic); rq_i32(&q, 1); rq_i32(&q, part); rq_i64(&q, 1);
	rq_str(&q, "");
	rq_send(fd, &q);
	b = rq_recv(fd, &len);
	/* corr, topics(1), name, partitions(1), index, error */
	e = get16(b + 4 + 4 + 2 + strlen(topic) + 4 + 4);
	free(b);
	return e;
}

static void test_bad_input(void **state)
{
	int fd = kraw_connect(kport);
	char longid[301], id[256];
	int32_t gen;
	int required = 0, full = 0, refused = 0;
	rawreq_t q;
	size_t len;
	uint8_t *b;

	(void)state;
	memset(longid, 'x', 300);
	longid[300] = '\0';
	assert_int_equal(find_coordinator(fd, "bad/id"), 24);      /* INVALID_GROUP_ID */
	assert_int_equal(find_coordinator(fd, longid), 24);
	assert_int_equal(find_coordinator(fd, "mqg"), 24);         /* an mqbridge group */
	assert_int_equal(find_coordinator(fd, GROUP), 0);
	assert_int_equal(join_classic(fd, 3, "mqg", "", NULL, NULL), 24);
	/* an unknown member, a known member with a stale generation */
	assert_int_equal(heartbeat(fd, GROUP, 1, "nobody"), 25);   /* UNKNOWN_MEMBER_ID */
	assert_int_equal(join_classic(fd, 3, "solo", "", id, &gen), 0);
	assert_true(gen >= 1);
	assert_int_equal(heartbeat(fd, "solo", gen - 1, id), 22);  /* ILLEGAL_GENERATION */
	assert_int_equal(heartbeat(fd, "solo", gen, id), 0);
	/* an oversized assignment (2 MiB > 1 MiB): refused, the group rebalances */
	size_t big = 2u << 20;
	uint8_t *blob = calloc(1, big);
	rq_start(&q, 14, 1, 804);
	rq_str(&q, "solo"); rq_i32(&q, gen); rq_str(&q, id);
	rq_i32(&q, 1); rq_str(&q, id); rq_i32(&q, (int32_t)big);
	rq_send_tail(fd, &q, blob, big);
	free(blob);
	b = rq_recv(fd, &len);
	assert_int_equal(get16(b + 8), 23);                        /* INCONSISTENT_GROUP_PROTOCOL */
	free(b);
	assert_int_equal(heartbeat(fd, "solo", gen, id), 27);      /* REBALANCE_IN_PROGRESS */
	/* a JoinGroup flood: member ids up to max_group_members, then GROUP_MAX_SIZE_REACHED */
	for (int i = 0; i < MAX_MEMBERS + 10; i++) {
		int16_t e = join_classic(fd, 4, "flood", "", NULL, NULL);
		required += e == 79;
		full += e == 81;
	}
	assert_int_equal(required, MAX_MEMBERS);
	assert_int_equal(full, 10);
	/* unknown stream or partition in a commit */
	assert_int_equal(simple_commit(fd, "solo2", "nosuch", 0), 3);
	assert_int_equal(simple_commit(fd, "solo2", STREAM, 99), 3);
	/* too many groups */
	for (int i = 0; i < MAX_GROUPS + 5; i++) {
		char g[32];
		snprintf(g, sizeof g, "many-%d", i);
		int16_t e = simple_commit(fd, g, STREAM, 0);
		refused += e == 30;                                   /* GROUP_AUTHORIZATION_FAILED */
		assert_true(e == 0 || e == 30);
	}
	assert_true(refused >= 5);
	close(fd);
	/* the daemon still serves: kcat lists the stream */
	char *out = NULL;
	size_t olen = 0;
	const char *argv[] = { kcat(), "-b", bootstrap, "-L", "-t", STREAM, NULL };
	assert_int_equal(mqbt_run(argv, &out, &olen, 20000), 0);
	assert_non_null(strstr(out, "with 4 partitions"));
	free(out);
	assert_true(iu_child_running(daemon_.pid));
}

/* With groups in the registry (offsets saved, members gone) and no client connected,
 * the listener thread sleeps: nothing in it is due, so it does not wake at all (a
 * 200 ms housekeeping tick, as before, would switch at least 15 times in 3 s). */
static void test_idle_listener_sleeps(void **state)
{
	long sw0, sw1;

	(void)state;
	mqbt_sleep_ms(1000);                 /* the last test's connections are gone */
	sw0 = mqbt_thread_switches(daemon_.pid, "mqb-kafka-api");
	mqbt_sleep_ms(3000);
	sw1 = mqbt_thread_switches(daemon_.pid, "mqb-kafka-api");
	fprintf(stderr, "idle Kafka listener thread: %ld switches in 3 s\n", sw1 - sw0);
	assert_true(sw0 >= 0 && sw1 >= sw0);
	if (sw1 - sw0 > 3)
		fail_msg("idle listener thread switched %ld times in 3 s", sw1 - sw0);
}

/* `mqbridge groups reset` on a Kafka group: refused while mqbridged runs, then done. */
static void test_reset(void **state)
{
	char *out = NULL;
	size_t len = 0;
	int64_t zero[PARTS] = { 0 };
	const char *argv[] = { mqbt_bin("mqbridge"), "groups", "reset", "-c", daemon_.conf,
			       "--group", GROUP, "--to", "earliest", NULL };

	(void)state;
	assert_int_not_equal(mqbt_run(argv, &out, &len, 20000), 0);   /* store in use */
	free(out);
	assert_int_equal(mqbt_stop(daemon_.pid, 15000), 0);
	daemon_.pid = 0;
	out = NULL;
	assert_int_equal(mqbt_run(argv, &out, &len, 20000), 0);
	assert_non_null(strstr(out, "Kafka group " GROUP " reset to earliest"));
	free(out);
	kapi_daemon_start(&daemon_, kport);
	wait_committed(GROUP, zero);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kcat_group_and_restart),
		cmocka_unit_test(test_static_member),
		cmocka_unit_test(test_kafkajs_group),
		cmocka_unit_test(test_groups_view),
		cmocka_unit_test(test_flexible_versions),
		cmocka_unit_test(test_list_describe),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_idle_listener_sleeps),
		cmocka_unit_test(test_reset),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
