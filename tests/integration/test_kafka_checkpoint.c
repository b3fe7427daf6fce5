/*
 * test_kafka_checkpoint.c — edge group offsets checkpointed into Kafka
 * (kafka.sync_group_offsets) and GET /offsets/translate?group=, with real parts:
 * mosquitto, mqbridged forwarding to the librdkafka mock cluster, `mqbridge consume`
 * as the edge group member, independent librdkafka clients on the Kafka side.
 *
 *  - the edge group accepts 60% of a forwarded stream; ?group= answers each partition's
 *    committed offset and its translation (<= committed, status ok); 404 for an unknown
 *    group, 409 for a group whose stream is not forwarded, 400 for group + offset;
 *  - edge group edge-busy: while a librdkafka member is in the Kafka group of the same
 *    name, no checkpoint is written (its committed offsets stay unset over several
 *    intervals, /stats counts skipped_active). The mock cluster of librdkafka 2.0.2
 *    refuses a member-less commit to any group it has seen a member in, even once
 *    empty, so "member leaves, then the checkpoint" is not tested here;
 *  - edge group edge-billing, whose Kafka group is empty: a checkpoint is written, the
 *    Kafka group's committed offsets are the translated ones, and a consumer in that
 *    group receives every record from at or before the edge group's position to the
 *    end, with no gap.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/integration/test_groups_util.h"
#include "tests/integration/test_kafka_util.h"

#define NPARTS 2
#define NREC 1000
#define ACCEPT 600
#define GROUP "edge-billing"
#define BUSY "edge-busy"         /* its Kafka group has a member throughout */

static gt_env_t E;
static kmock_t M;

static cJSON *http_json(const char *path, int *status)
{
	char *body = NULL;
	cJSON *doc = NULL;
	*status = 0;
	if (mqbt_http_get(E.http_port, path, status, &body) == 0 && body)
		doc = cJSON_Parse(body);
	free(body);
	return doc;
}

/* Committed offsets of the Kafka group for edge.ck [0..NPARTS) (-1 when none). */
static int kafka_committed(const char *group, int64_t off[NPARTS])
{
	char e[512];
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	rd_kafka_conf_set(c, "bootstrap.servers", M.bootstrap, e, sizeof(e));
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, e, sizeof(e));
	if (!rk)
		return -1;
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(NPARTS);
	for (int p = 0; p < NPARTS; p++)
		rd_kafka_topic_partition_list_add(l, "edge.ck", p);
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_ListConsumerGroupOffsets_t *req = rd_kafka_ListConsumerGroupOffsets_new(group, l);
	rd_kafka_ListConsumerGroupOffsets(rk, &req, 1, NULL, q);
	rd_kafka_ListConsumerGroupOffsets_destroy(req);
	rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 15000);
	int rc = -1;
	if (ev && !rd_kafka_event_error(ev)) {
		size_t n = 0;
		const rd_kafka_group_result_t **gr = rd_kafka_ListConsumerGroupOffsets_result_groups(
			rd_kafka_event_ListConsumerGroupOffsets_result(ev), &n);
		if (n == 1) {
			const rd_kafka_topic_partition_list_t *r = rd_kafka_group_result_partitions(gr[0]);
			for (int p = 0; p < NPARTS; p++) {
				rd_kafka_topic_partition_t *x =
					r ? rd_kafka_topic_partition_list_find(r, "edge.ck", p) : NULL;
				off[p] = x && !x->err && x->offset >= 0 ? x->offset : -1;
			}
			rc = 0;
		}
	}
	if (ev)
		rd_kafka_event_destroy(ev);
	rd_kafka_queue_destroy(q);
	rd_kafka_topic_partition_list_destroy(l);
	rd_kafka_destroy(rk);
	return rc;
}

static rd_kafka_t *kafka_member(const char *group)
{
	char e[512];
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	rd_kafka_conf_set(c, "bootstrap.servers", M.bootstrap, e, sizeof(e));
	rd_kafka_conf_set(c, "group.id", group, e, sizeof(e));
	rd_kafka_conf_set(c, "enable.auto.commit", "false", e, sizeof(e));
	rd_kafka_conf_set(c, "auto.offset.reset", "latest", e, sizeof(e));
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, e, sizeof(e));
	if (!rk)
		return NULL;
	rd_kafka_poll_set_consumer(rk);
	rd_kafka_topic_partition_list_t *s = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(s, "edge.ck", RD_KAFKA_PARTITION_UA);
	rd_kafka_subscribe(rk, s);
	rd_kafka_topic_partition_list_destroy(s);
	return rk;
}

static int64_t ckpt_stat(const char *group, const char *field)
{
	int st;
	cJSON *d = http_json("/stats", &st), *it;
	int64_t v = -1;
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(cJSON_GetObjectItem(d, "kafka_checkpoints"),
						   "checkpoints"))
		if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(it, "group")), group))
			v = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(it, field));
	cJSON_Delete(d);
	return v;
}

static void test_checkpoint(void **state)
{
	(void)state;
	const char *topics[] = { "edge.ck:2", NULL };
	char conf[2048];
	gt_member_t mem = { 0 };
	bool passed = false;

	assert_int_equal(kmock_start(&M, 1, topics), 0);
	snprintf(conf, sizeof(conf),
		 "streams = ( { name = \"ck\"; partitions = %d; flush = { interval_ms = 10; }; },\n"
		 "            { name = \"local\"; partitions = 1; } );\n"
		 "routes = ( { filter = \"ck/+\"; qos = 1; stream = \"ck\"; key = \"{1}\"; },\n"
		 "           { filter = \"local/+\"; qos = 1; stream = \"local\"; } );\n"
		 "kafka = { bootstrap_servers = \"%s\"; sync_interval_offsets = 50;\n"
		 "  sync_group_offsets = true; sync_group_offsets_interval_ms = 300;\n"
		 "  forward = ( { stream = \"ck\"; topic = \"edge.ck\"; } ); };\n"
		 "groups = ( { name = \"" GROUP "\"; stream = \"ck\"; },\n"
		 "           { name = \"" BUSY "\"; stream = \"ck\"; },\n"
		 "           { name = \"local-only\"; stream = \"local\"; } );\n",
		 NPARTS, M.bootstrap);
	assert_int_equal(gt_env_start(&E, conf), 0);
	assert_int_equal(gt_daemon_start(&E), 0);

	/* a member of the Kafka group, present before the edge group commits anything */
	rd_kafka_t *km = kafka_member(BUSY);
	assert_non_null(km);
	rd_kafka_topic_partition_list_t *asg = NULL;
	for (int i = 0; i < 150 && (!asg || asg->cnt == 0); i++) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(km, 100);
		if (m)
			rd_kafka_message_destroy(m);
		if (asg)
			rd_kafka_topic_partition_list_destroy(asg);
		asg = NULL;
		rd_kafka_assignment(km, &asg);
	}
	assert_true(asg && asg->cnt == NPARTS);
	rd_kafka_topic_partition_list_destroy(asg);

	gt_pub_t pub;
	assert_int_equal(gt_pub_open(&E, &pub, "ck-pub"), 0);
	for (int i = 0; i < NREC; i++) {
		char topic[64], payload[32];
		snprintf(topic, sizeof(topic), "ck/dev%d", i % 37);
		snprintf(payload, sizeof(payload), "%d", i);
		assert_int_equal(gt_pub(&pub, topic, payload), 0);
	}
	gt_pub_close(&pub);

	const char *extra[] = { "--count", "600", NULL };
	assert_int_equal(gt_member_start(&E, &mem, GROUP, "edge-1", extra), 0);
	assert_int_equal(mqbt_wait(mem.pid, 60000), 0);
	mem.pid = 0;
	assert_int_equal(gt_wait_sum(&E, GROUP, "committed", ACCEPT, 10000), ACCEPT);
	assert_int_equal(gt_member_start(&E, &mem, BUSY, "edge-2", extra), 0);
	assert_int_equal(mqbt_wait(mem.pid, 60000), 0);
	mem.pid = 0;
	assert_int_equal(gt_wait_sum(&E, BUSY, "committed", ACCEPT, 10000), ACCEPT);

	/* the translation: every partition translated, committed sums to ACCEPT */
	int st = 0;
	cJSON *d = NULL;
	int64_t committed[NPARTS] = { -1, -1 }, translated[NPARTS] = { -1, -1 };
	int64_t dl = mqbt_now_ms() + 30000;
	for (;;) {
		cJSON_Delete(d);
		d = http_json("/offsets/translate?group=" GROUP, &st);
		int64_t sum = 0;
		int ok = 0;
		cJSON *p;
		cJSON_ArrayForEach(p, cJSON_GetObjectItem(d, "partitions")) {
			int pn = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(p, "partition"));
			sum += (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(p, "committed"));
			if (pn >= 0 && pn < NPARTS && !strcmp(cJSON_GetStringValue(
					cJSON_GetObjectItem(p, "status")), "ok")) {
				committed[pn] = (int64_t)cJSON_GetNumberValue(
					cJSON_GetObjectItem(p, "committed"));
				translated[pn] = (int64_t)cJSON_GetNumberValue(
					cJSON_GetObjectItem(p, "kafka_offset"));
				ok++;
			}
		}
		if ((st == 200 && sum == ACCEPT && ok == NPARTS) || mqbt_now_ms() > dl)
			break;
		mqbt_sleep_ms(200);
	}
	assert_int_equal(st, 200);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(d, "stream")), "ck");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(d, "topic")), "edge.ck");
	cJSON_Delete(d);
	for (int p = 0; p < NPARTS; p++) {
		fprintf(stderr, "partition %d: committed %" PRId64 " -> kafka %" PRId64 "\n", p,
			committed[p], translated[p]);
		assert_true(translated[p] >= 0 && translated[p] <= committed[p]);
		assert_true(committed[p] - translated[p] <= 50);  /* at most a sync interval */
	}
	assert_int_equal(committed[0] + committed[1], ACCEPT);

	/* errors */
	cJSON_Delete(http_json("/offsets/translate?group=nope", &st));
	assert_int_equal(st, 404);
	cJSON_Delete(http_json("/offsets/translate?group=local-only", &st));
	assert_int_equal(st, 409);
	cJSON_Delete(http_json("/offsets/translate?group=" GROUP "&partition=0&offset=1", &st));
	assert_int_equal(st, 400);

	/* no checkpoint while the Kafka group has a member (intervals of 300 ms) */
	dl = mqbt_now_ms() + 20000;
	while (ckpt_stat(BUSY, "skipped_active") < 3 && mqbt_now_ms() < dl) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(km, 100);
		if (m)
			rd_kafka_message_destroy(m);
	}
	int64_t off[NPARTS];
	assert_int_equal(kafka_committed(BUSY, off), 0);
	assert_int_equal(off[0], -1);
	assert_int_equal(off[1], -1);
	assert_true(ckpt_stat(BUSY, "skipped_active") >= 3);
	assert_int_equal(ckpt_stat(BUSY, "written"), 0);
	rd_kafka_consumer_close(km);
	rd_kafka_destroy(km);

	/* the empty Kafka group of the same name gets the checkpoint */
	dl = mqbt_now_ms() + 20000;
	while (ckpt_stat(GROUP, "written") < 1 && mqbt_now_ms() < dl)
		mqbt_sleep_ms(100);
	assert_true(ckpt_stat(GROUP, "written") >= 1);
	assert_int_equal(kafka_committed(GROUP, off), 0);
	for (int p = 0; p < NPARTS; p++)
		assert_int_equal(off[p], translated[p]);

	/* a consumer in the Kafka group resumes there and sees every record to the end */
	char e[512];
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	rd_kafka_conf_set(c, "bootstrap.servers", M.bootstrap, e, sizeof(e));
	rd_kafka_conf_set(c, "group.id", GROUP, e, sizeof(e));
	rd_kafka_conf_set(c, "enable.auto.commit", "false", e, sizeof(e));
	rd_kafka_conf_set(c, "auto.offset.reset", "latest", e, sizeof(e));  /* no fallback */
	rd_kafka_t *kc = rd_kafka_new(RD_KAFKA_CONSUMER, c, e, sizeof(e));
	assert_non_null(kc);
	rd_kafka_poll_set_consumer(kc);
	rd_kafka_topic_partition_list_t *s = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(s, "edge.ck", RD_KAFKA_PARTITION_UA);
	rd_kafka_subscribe(kc, s);
	rd_kafka_topic_partition_list_destroy(s);
	int64_t first[NPARTS] = { -1, -1 }, next[NPARTS] = { -1, -1 }, got = 0, gaps = 0;
	dl = mqbt_now_ms() + 30000;
	int64_t want = NREC - ACCEPT;
	while (mqbt_now_ms() < dl) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(kc, 200);
		if (!m)
			continue;
		if (!m->err && m->partition >= 0 && m->partition < NPARTS) {
			int p = m->partition;
			if (first[p] < 0)
				first[p] = m->offset;
			else if (m->offset != next[p])
				gaps++;
			next[p] = m->offset + 1;
			got++;
		}
		rd_kafka_message_destroy(m);
		/* done when each partition reached the end of what the edge log holds */
		if (next[0] >= 0 && next[1] >= 0 &&
		    (next[0] - committed[0]) + (next[1] - committed[1]) >= want)
			break;
	}
	rd_kafka_consumer_close(kc);
	rd_kafka_destroy(kc);
	fprintf(stderr, "kafka consumer: %" PRId64 " records, first %" PRId64 "/%" PRId64
		", gaps %" PRId64 "\n", got, first[0], first[1], gaps);
	assert_int_equal(gaps, 0);
	for (int p = 0; p < NPARTS; p++) {
		assert_int_equal(first[p], translated[p]);
		assert_true(first[p] <= committed[p]);
	}
	assert_true((next[0] - committed[0]) + (next[1] - committed[1]) == want);
	assert_true(got >= want);

	/* Kafka gone: the daemon (checkpointer included) still stops promptly */
	kmock_stop(&M);
	mqbt_sleep_ms(1000);              /* a few checkpoint rounds against no broker */
	int64_t t0 = mqbt_now_ms();
	int rc = mqbt_stop(E.daemon, 30000);
	int64_t stop_ms = mqbt_now_ms() - t0;
	E.daemon = 0;
	fprintf(stderr, "stop with Kafka down: exit %d after %" PRId64 " ms\n", rc, stop_ms);
	assert_int_equal(rc, 0);
	assert_true(stop_ms < 10000);
	passed = true;
	gt_teardown(&E, &mem, 1, passed);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_checkpoint) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
