/*
 * test_ctlmsg.c — the MQTT control-message codec (connectors/mqtt/groups_codec.h):
 * topics, every message kind, and hostile or malformed input (each refused with the
 * right error and a one-line reason).
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

#include "bridge/err.h"
#include "connectors/mqtt/groups_codec.h"

static int parse(mqb_ctl_kind_t k, const char *json, mqb_ctl_msg_t *msg, char *why)
{
	return mqb_ctl_parse(k, json, strlen(json), msg, why, 256);
}

/* Expect rc and a one-line reason containing needle. */
static void expect_bad(mqb_ctl_kind_t k, const char *json, int rc, const char *needle)
{
	mqb_ctl_msg_t msg;
	char why[256] = "";

	int got = parse(k, json, &msg, why);
	if (got != rc || !strstr(why, needle))
		fail_msg("%s: %s -> %d (%s), want %d with \"%s\"", mqb_ctl_kind_name(k), json,
			 got, why, rc, needle);
	assert_null(strchr(why, '\n'));
	assert_null(msg.acks);
	assert_null(msg.ranges);
	assert_null(msg.partitions);
	mqb_ctl_msg_free(&msg);
}

static void test_topics(void **state)
{
	mqb_ctl_topic_t t;
	char why[256];

	(void)state;
	assert_int_equal(mqb_ctl_topic_parse("mqbridge", "mqbridge/groups/g1/join", &t, why, 256), MQB_OK);
	assert_int_equal(t.kind, MQB_CTL_JOIN);
	assert_string_equal(t.group, "g1");
	assert_string_equal(t.member, "");
	assert_int_equal(mqb_ctl_topic_parse("mqbridge", "mqbridge/groups/g1/leave", &t, why, 256), MQB_OK);
	assert_int_equal(t.kind, MQB_CTL_LEAVE);
	assert_int_equal(mqb_ctl_topic_parse("site/a", "site/a/groups/analytics/members/c-7/ack",
					     &t, why, 256), MQB_OK);
	assert_int_equal(t.kind, MQB_CTL_ACK);
	assert_string_equal(t.group, "analytics");
	assert_string_equal(t.member, "c-7");
	assert_int_equal(mqb_ctl_topic_parse("mqbridge", "mqbridge/groups/g/members/m/heartbeat",
					     &t, why, 256), MQB_OK);
	assert_int_equal(t.kind, MQB_CTL_HEARTBEAT);
	assert_int_equal(mqb_ctl_topic_parse("mqbridge", "mqbridge/groups/g/members/m/revoked",
					     &t, why, 256), MQB_OK);
	assert_int_equal(t.kind, MQB_CTL_REVOKED);

	const char *bad[] = {
		"mqbridge/groups/g", "mqbridge/groups/g/", "mqbridge/groups//join",
		"mqbridge/groups/g/join/x", "mqbridge/groups/g/joinx", "mqbridge/group/g/join",
		"mqbridgex/groups/g/join", "other/groups/g/join", "mqbridge/groups/g/members/m",
		"mqbridge/groups/g/members//ack", "mqbridge/groups/g/members/m/ack/x",
		"mqbridge/groups/g/members/m/assignment", "mqbridge/groups/g/members/m/error",
		"mqbridge/groups/+/join", "mqbridge/groups/#", "mqbridge/groups/g/members/+/ack",
		"mqbridge/groups/g/members/m#/ack", "mqbridge/groups/g\x01/join",
		"mqbridge/groups/g/members/m/heartbeat/", "", "mqbridge",
		"mqbridge/groups/\xff\xfe/join", "mqbridge/groups/\xc0\xaf/join",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		if (mqb_ctl_topic_parse("mqbridge", bad[i], &t, why, 256) != MQB_ERR_PROTO)
			fail_msg("accepted topic %s", bad[i]);
		assert_true(strlen(why) > 0);
	}
	/* an overlong group level */
	char longt[600];
	snprintf(longt, sizeof(longt), "mqbridge/groups/%0300d/join", 0);
	assert_int_equal(mqb_ctl_topic_parse("mqbridge", longt, &t, why, 256), MQB_ERR_PROTO);
	assert_int_equal(mqb_ctl_topic_parse(NULL, longt, &t, why, 256), MQB_ERR_PROTO);

	char buf[128];
	assert_int_equal(mqb_ctl_member_topic(buf, sizeof(buf), "mqbridge", "g", "m", "error"), MQB_OK);
	assert_string_equal(buf, "mqbridge/groups/g/members/m/error");
	assert_int_equal(mqb_ctl_member_topic(buf, 10, "mqbridge", "g", "m", "error"), MQB_ERR_TOOBIG);
}

static void test_ids(void **state)
{
	(void)state;
	assert_true(mqb_ctl_id_valid("sensor-7"));
	assert_true(mqb_ctl_id_valid("caf\xc3\xa9"));       /* UTF-8 é */
	assert_true(mqb_ctl_id_valid("a b.c_d:e"));
	assert_false(mqb_ctl_id_valid(""));
	assert_false(mqb_ctl_id_valid(NULL));
	assert_false(mqb_ctl_id_valid("a/b"));
	assert_false(mqb_ctl_id_valid("a+"));
	assert_false(mqb_ctl_id_valid("#"));
	assert_false(mqb_ctl_id_valid("tab\there"));
	assert_false(mqb_ctl_id_valid("del\x7f"));
	assert_false(mqb_ctl_id_valid("bad\xc3"));          /* truncated sequence */
	assert_false(mqb_ctl_id_valid("\xed\xa0\x80"));     /* surrogate */
	assert_false(mqb_ctl_id_valid("\xe0\x80\xaf"));     /* overlong */
	char id[MQB_CTL_ID_MAX + 2];
	memset(id, 'x', sizeof(id));
	id[MQB_CTL_ID_MAX] = '\0';
	assert_true(mqb_ctl_id_valid(id));
	id[MQB_CTL_ID_MAX] = 'x';
	id[MQB_CTL_ID_MAX + 1] = '\0';
	assert_false(mqb_ctl_id_valid(id));
}

static void test_join_leave_heartbeat(void **state)
{
	mqb_ctl_msg_t msg;
	char why[256];

	(void)state;
	assert_int_equal(parse(MQB_CTL_JOIN, "{\"member_id\":\"c1\"}", &msg, why), MQB_OK);
	assert_string_equal(msg.member_id, "c1");
	assert_string_equal(msg.instance_id, "");
	assert_int_equal(msg.prefetch, 0);
	mqb_ctl_msg_free(&msg);
	assert_int_equal(parse(MQB_CTL_JOIN, " {\"member_id\":\"c1\",\"instance_id\":\"i-1\","
			       "\"prefetch\":250,\"future\":{\"x\":[1]}} \n", &msg, why), MQB_OK);
	assert_string_equal(msg.instance_id, "i-1");
	assert_int_equal(msg.prefetch, 250);
	mqb_ctl_msg_free(&msg);
	assert_int_equal(parse(MQB_CTL_LEAVE, "{\"member_id\":\"c1\"}", &msg, why), MQB_OK);
	assert_string_equal(msg.member_id, "c1");
	assert_int_equal(parse(MQB_CTL_HEARTBEAT, "{\"generation\":9007199254740992}", &msg, why), MQB_OK);
	assert_int_equal(msg.generation, 9007199254740992LL);
	assert_int_equal(parse(MQB_CTL_HEARTBEAT, "{\"generation\":0}", &msg, why), MQB_OK);
	assert_int_equal(msg.generation, 0);
	assert_int_equal(parse(MQB_CTL_HEARTBEAT, "{\"generation\":7.0}", &msg, why), MQB_OK);
	assert_int_equal(msg.generation, 7);
	/* payload need not be NUL-terminated */
	const char raw[] = "{\"generation\":12}garbage";
	assert_int_equal(mqb_ctl_parse(MQB_CTL_HEARTBEAT, raw, 17, &msg, why, 256), MQB_OK);
	assert_int_equal(msg.generation, 12);

	expect_bad(MQB_CTL_JOIN, "{}", MQB_ERR_PROTO, "missing required field \"member_id\"");
	expect_bad(MQB_CTL_JOIN, "{\"member_id\":7}", MQB_ERR_PROTO, "must be a string");
	expect_bad(MQB_CTL_JOIN, "{\"member_id\":\"\"}", MQB_ERR_PROTO, "member_id");
	expect_bad(MQB_CTL_JOIN, "{\"member_id\":\"a/b\"}", MQB_ERR_PROTO, "'+', '#', '/'");
	expect_bad(MQB_CTL_JOIN, "{\"member_id\":\"a+\"}", MQB_ERR_PROTO, "member_id");
	expect_bad(MQB_CTL_JOIN, "{\"member_id\":\"a#\"}", MQB_ERR_PROTO, "member_id");
	expect_bad(MQB_CTL_JOIN, "{\"member_id\":\"a\\u0000b\"}", MQB_ERR_PROTO, "u0000");
	expect_bad(MQB_CTL_JOIN, "{\"member_id\":\"a\\n\"}", MQB_ERR_PROTO, "member_id");
	expect_bad(MQB_CTL_JOIN, "{\"member_id\":\"c\",\"instance_id\":null}", MQB_ERR_PROTO, "instance_id");
	expect_bad(MQB_CTL_JOIN, "{\"member_id\":\"c\",\"prefetch\":0}", MQB_ERR_PROTO, "prefetch");
	expect_bad(MQB_CTL_JOIN, "{\"member_id\":\"c\",\"prefetch\":65536}", MQB_ERR_PROTO, "out of range");
	expect_bad(MQB_CTL_JOIN, "{\"member_id\":\"c\",\"prefetch\":1.5}", MQB_ERR_PROTO, "integer");
	expect_bad(MQB_CTL_JOIN, "{\"member_id\":\"c\",\"prefetch\":\"10\"}", MQB_ERR_PROTO, "integer");
	expect_bad(MQB_CTL_LEAVE, "{\"member\":\"c\"}", MQB_ERR_PROTO, "member_id");
	expect_bad(MQB_CTL_HEARTBEAT, "{}", MQB_ERR_PROTO, "generation");
	expect_bad(MQB_CTL_HEARTBEAT, "{\"generation\":-1}", MQB_ERR_PROTO, "out of range");
	expect_bad(MQB_CTL_HEARTBEAT, "{\"generation\":9007199254740994}", MQB_ERR_PROTO, "out of range");
	expect_bad(MQB_CTL_HEARTBEAT, "{\"generation\":1e400}", MQB_ERR_PROTO, "integer");
	expect_bad(MQB_CTL_HEARTBEAT, "{\"generation\":true}", MQB_ERR_PROTO, "integer");
	expect_bad(MQB_CTL_HEARTBEAT, "[1]", MQB_ERR_PROTO, "JSON object");
	expect_bad(MQB_CTL_HEARTBEAT, "\"x\"", MQB_ERR_PROTO, "JSON object");
	expect_bad(MQB_CTL_HEARTBEAT, "{\"generation\":1} {}", MQB_ERR_PROTO, "invalid JSON");
	expect_bad(MQB_CTL_HEARTBEAT, "{\"generation\":1", MQB_ERR_PROTO, "invalid JSON");
	expect_bad(MQB_CTL_HEARTBEAT, "", MQB_ERR_PROTO, "empty");
	expect_bad(MQB_CTL_HEARTBEAT, "not json", MQB_ERR_PROTO, "invalid JSON");
	/* embedded NUL */
	assert_int_equal(mqb_ctl_parse(MQB_CTL_HEARTBEAT, "{\"generation\":1}\0x", 18, &msg, why, 256),
			 MQB_ERR_PROTO);
	assert_non_null(strstr(why, "NUL"));
	/* unknown kind */
	assert_int_equal(mqb_ctl_parse((mqb_ctl_kind_t)42, "{}", 2, &msg, why, 256), MQB_ERR_INVAL);
}

static void test_ack(void **state)
{
	mqb_ctl_msg_t msg;
	char why[256];

	(void)state;
	assert_int_equal(parse(MQB_CTL_ACK,
		"{\"generation\":3,\"acks\":["
		"{\"stream\":\"telemetry\",\"partition\":2,\"ranges\":[[0,4],[7,7]],\"type\":\"accept\"},"
		"{\"stream\":\"telemetry\",\"partition\":5,\"ranges\":[[10,12]],\"type\":\"reject\"},"
		"{\"stream\":\"telemetry\",\"partition\":0,\"ranges\":[[1,1]],\"type\":\"release\"}]}",
		&msg, why), MQB_OK);
	assert_int_equal(msg.generation, 3);
	assert_int_equal(msg.n_acks, 3);
	assert_int_equal(msg.n_ranges, 4);
	assert_string_equal(msg.acks[0].stream, "telemetry");
	assert_int_equal(msg.acks[0].partition, 2);
	assert_int_equal(msg.acks[0].type, MQB_ACK_ACCEPT);
	assert_int_equal(msg.acks[0].n_ranges, 2);
	assert_int_equal(msg.acks[0].ranges[1].first, 7);
	assert_int_equal(msg.acks[0].ranges[1].last, 7);
	assert_int_equal(msg.acks[1].type, MQB_ACK_REJECT);
	assert_int_equal(msg.acks[1].ranges[0].first, 10);
	assert_int_equal(msg.acks[1].ranges[0].last, 12);
	assert_int_equal(msg.acks[2].type, MQB_ACK_RELEASE);
	assert_int_equal(msg.acks[2].partition, 0);
	mqb_ctl_msg_free(&msg);
	assert_null(msg.acks);

	expect_bad(MQB_CTL_ACK, "{\"acks\":[]}", MQB_ERR_PROTO, "generation");
	expect_bad(MQB_CTL_ACK, "{\"generation\":1}", MQB_ERR_PROTO, "acks");
	expect_bad(MQB_CTL_ACK, "{\"generation\":1,\"acks\":{}}", MQB_ERR_PROTO, "must be an array");
	expect_bad(MQB_CTL_ACK, "{\"generation\":1,\"acks\":[]}", MQB_ERR_PROTO, "empty");
	expect_bad(MQB_CTL_ACK, "{\"generation\":1,\"acks\":[7]}", MQB_ERR_PROTO, "must be an object");
	expect_bad(MQB_CTL_ACK, "{\"generation\":1,\"acks\":[{\"partition\":0,\"ranges\":[[0,0]],"
		   "\"type\":\"accept\"}]}", MQB_ERR_PROTO, "stream");
	expect_bad(MQB_CTL_ACK, "{\"generation\":1,\"acks\":[{\"stream\":\"s\",\"partition\":-1,"
		   "\"ranges\":[[0,0]],\"type\":\"accept\"}]}", MQB_ERR_PROTO, "partition");
	expect_bad(MQB_CTL_ACK, "{\"generation\":1,\"acks\":[{\"stream\":\"s\",\"partition\":2147483648,"
		   "\"ranges\":[[0,0]],\"type\":\"accept\"}]}", MQB_ERR_PROTO, "partition");
	expect_bad(MQB_CTL_ACK, "{\"generation\":1,\"acks\":[{\"stream\":\"s\",\"partition\":0,"
		   "\"ranges\":[[0,0]],\"type\":\"ACCEPT\"}]}", MQB_ERR_PROTO, "\"type\" must be");
	expect_bad(MQB_CTL_ACK, "{\"generation\":1,\"acks\":[{\"stream\":\"s\",\"partition\":0,"
		   "\"ranges\":[[0,0]]}]}", MQB_ERR_PROTO, "\"type\" must be");
	expect_bad(MQB_CTL_ACK, "{\"generation\":1,\"acks\":[{\"stream\":\"s\",\"partition\":0,"
		   "\"ranges\":[[5,4]],\"type\":\"accept\"}]}", MQB_ERR_PROTO, "first 5 > last 4");
	expect_bad(MQB_CTL_ACK, "{\"generation\":1,\"acks\":[{\"stream\":\"s\",\"partition\":0,"
		   "\"ranges\":[[-1,4]],\"type\":\"accept\"}]}", MQB_ERR_PROTO, "offsets must be");
	expect_bad(MQB_CTL_ACK, "{\"generation\":1,\"acks\":[{\"stream\":\"s\",\"partition\":0,"
		   "\"ranges\":[[1.5,4]],\"type\":\"accept\"}]}", MQB_ERR_PROTO, "offsets must be");
	expect_bad(MQB_CTL_ACK, "{\"generation\":1,\"acks\":[{\"stream\":\"s\",\"partition\":0,"
		   "\"ranges\":[[1,\"4\"]],\"type\":\"accept\"}]}", MQB_ERR_PROTO, "offsets must be");
	expect_bad(MQB_CTL_ACK, "{\"generation\":1,\"acks\":[{\"stream\":\"s\",\"partition\":0,"
		   "\"ranges\":[[1]],\"type\":\"accept\"}]}", MQB_ERR_PROTO, "[first, last]");
	expect_bad(MQB_CTL_ACK, "{\"generation\":1,\"acks\":[{\"stream\":\"s\",\"partition\":0,"
		   "\"ranges\":[[1,2,3]],\"type\":\"accept\"}]}", MQB_ERR_PROTO, "[first, last]");
	expect_bad(MQB_CTL_ACK, "{\"generation\":1,\"acks\":[{\"stream\":\"s\",\"partition\":0,"
		   "\"ranges\":[5],\"type\":\"accept\"}]}", MQB_ERR_PROTO, "[first, last]");
	expect_bad(MQB_CTL_ACK, "{\"generation\":1,\"acks\":[{\"stream\":\"s\",\"partition\":0,"
		   "\"ranges\":[],\"type\":\"accept\"}]}", MQB_ERR_PROTO, "empty");
	expect_bad(MQB_CTL_ACK, "{\"generation\":1,\"acks\":[{\"stream\":\"s\",\"partition\":0,"
		   "\"ranges\":[[0,18014398509481984]],\"type\":\"accept\"}]}", MQB_ERR_PROTO, "2^53");
}

/* Build an ack message with n entries / ranges. */
static char *big_ack(size_t entries, size_t ranges_each)
{
	size_t cap = 64 + entries * (96 + ranges_each * 16), len = 0;
	char *s = malloc(cap);

	len += (size_t)snprintf(s + len, cap - len, "{\"generation\":1,\"acks\":[");
	for (size_t e = 0; e < entries; e++) {
		len += (size_t)snprintf(s + len, cap - len, "%s{\"stream\":\"s\",\"partition\":%zu,"
					"\"type\":\"accept\",\"ranges\":[", e ? "," : "", e);
		for (size_t r = 0; r < ranges_each; r++)
			len += (size_t)snprintf(s + len, cap - len, "%s[%zu,%zu]", r ? "," : "",
						r * 2, r * 2);
		len += (size_t)snprintf(s + len, cap - len, "]}");
	}
	snprintf(s + len, cap - len, "]}");
	return s;
}

static void test_limits(void **state)
{
	mqb_ctl_msg_t msg;
	char why[256];
	char *s;

	(void)state;
	/* exactly at the limits: accepted */
	s = big_ack(4, MQB_ACK_MAX_RANGES / 4);
	assert_true(strlen(s) <= MQB_CTL_MAX_PAYLOAD);
	assert_int_equal(parse(MQB_CTL_ACK, s, &msg, why), MQB_OK);
	assert_int_equal(msg.n_ranges, MQB_ACK_MAX_RANGES);
	assert_int_equal(msg.acks[3].ranges[0].first, 0);
	assert_int_equal(msg.acks[3].n_ranges, MQB_ACK_MAX_RANGES / 4);
	mqb_ctl_msg_free(&msg);
	free(s);
	/* one range too many */
	s = big_ack(1, MQB_ACK_MAX_RANGES + 1);
	expect_bad(MQB_CTL_ACK, s, MQB_ERR_TOOBIG, "more than 1024 ranges");
	free(s);
	/* too many entries */
	s = big_ack(MQB_CTL_MAX_ACKS + 1, 1);
	expect_bad(MQB_CTL_ACK, s, MQB_ERR_TOOBIG, "more than 256");
	free(s);
	/* payload over 64 KiB, even if valid JSON */
	size_t n = MQB_CTL_MAX_PAYLOAD + 100;
	s = malloc(n + 1);
	memset(s, ' ', n);
	memcpy(s, "{\"member_id\":\"a\"}", 17);
	s[n] = '\0';
	expect_bad(MQB_CTL_JOIN, s, MQB_ERR_TOOBIG, "larger than 65536");
	free(s);
	/* deep nesting is refused without crashing */
	n = 20000;
	s = malloc(2 * n + 32);
	size_t len = (size_t)sprintf(s, "{\"member_id\":\"a\",\"x\":");
	for (size_t i = 0; i < n; i++) s[len++] = '[';
	for (size_t i = 0; i < n; i++) s[len++] = ']';
	s[len++] = '}';
	s[len] = '\0';
	expect_bad(MQB_CTL_JOIN, s, MQB_ERR_PROTO, "invalid JSON");
	free(s);
	/* revoked partitions: too many, and bad items */
	len = 0;
	s = malloc(16 * (MQB_CTL_MAX_PARTITIONS + 2) + 64);
	len += (size_t)sprintf(s, "{\"generation\":2,\"partitions\":[");
	for (int i = 0; i <= MQB_CTL_MAX_PARTITIONS; i++)
		len += (size_t)sprintf(s + len, "%s%d", i ? "," : "", i);
	sprintf(s + len, "]}");
	expect_bad(MQB_CTL_REVOKED, s, MQB_ERR_TOOBIG, "more than 10000");
	free(s);
}

static void test_revoked(void **state)
{
	mqb_ctl_msg_t msg;
	char why[256];

	(void)state;
	assert_int_equal(parse(MQB_CTL_REVOKED, "{\"generation\":4,\"partitions\":[3,1,2147483647]}",
			       &msg, why), MQB_OK);
	assert_int_equal(msg.generation, 4);
	assert_int_equal(msg.n_partitions, 3);
	assert_int_equal(msg.partitions[0], 3);
	assert_int_equal(msg.partitions[2], 2147483647);
	mqb_ctl_msg_free(&msg);
	assert_int_equal(parse(MQB_CTL_REVOKED, "{\"generation\":4,\"partitions\":[]}", &msg, why), MQB_OK);
	assert_int_equal(msg.n_partitions, 0);
	mqb_ctl_msg_free(&msg);
	expect_bad(MQB_CTL_REVOKED, "{\"generation\":4}", MQB_ERR_PROTO, "partitions");
	expect_bad(MQB_CTL_REVOKED, "{\"generation\":4,\"partitions\":[1,-2]}", MQB_ERR_PROTO, "[1]");
	expect_bad(MQB_CTL_REVOKED, "{\"generation\":4,\"partitions\":[2147483648]}", MQB_ERR_PROTO, "partitions");
	expect_bad(MQB_CTL_REVOKED, "{\"generation\":4,\"partitions\":[\"1\"]}", MQB_ERR_PROTO, "partitions");
}

static void test_encode(void **state)
{
	int32_t a[] = { 0, 3, 5 }, r[] = { 7 };
	char *s;
	cJSON *j;

	(void)state;
	mqb_group_assignment_t as = { .generation = 1234567890123LL, .stream = "telemetry",
				      .assigned = a, .n_assigned = 3, .revoked = r, .n_revoked = 1 };
	mqb_group_assignment_t sh = { .generation = 2, .shared = true, .stream = "t" };
	s = mqb_ctl_encode_assignment(&as);
	assert_non_null(s);
	assert_string_equal(s, "{\"generation\":1234567890123,\"mode\":\"exclusive\","
			    "\"assigned\":[{\"stream\":\"telemetry\",\"partitions\":[0,3,5]}],"
			    "\"revoked\":[{\"stream\":\"telemetry\",\"partitions\":[7]}]}");
	free(s);
	s = mqb_ctl_encode_assignment(&sh);
	assert_string_equal(s, "{\"generation\":2,\"mode\":\"shared\",\"assigned\":[],\"revoked\":[]}");
	free(s);
	s = mqb_ctl_encode_error(MQB_GROUP_E_NOT_DELIVERED, "offset 9 of partition 2 was never "
				 "delivered to \"c\"", "ack");
	j = cJSON_Parse(s);
	assert_non_null(j);
	assert_string_equal(cJSON_GetObjectItem(j, "error")->valuestring, "not_delivered");
	assert_string_equal(cJSON_GetObjectItem(j, "request")->valuestring, "ack");
	assert_non_null(strstr(cJSON_GetObjectItem(j, "message")->valuestring, "\"c\""));
	cJSON_Delete(j);
	free(s);
	s = mqb_ctl_encode_error(MQB_GROUP_E_MALFORMED, NULL, NULL);
	assert_string_equal(s, "{\"error\":\"malformed\",\"message\":\"\",\"request\":\"\"}");
	free(s);

	assert_string_equal(mqb_group_errcode_name(MQB_GROUP_E_STALE_GENERATION), "stale_generation");
	assert_string_equal(mqb_group_errcode_name(MQB_GROUP_E_RATE_LIMITED), "rate_limited");
	assert_string_equal(mqb_group_errcode_name(MQB_GROUP_E_UNKNOWN_GROUP), "unknown_group");
	assert_int_equal(mqb_group_errcode_from_err(MQB_ERR_STALE), MQB_GROUP_E_STALE_GENERATION);
	assert_int_equal(mqb_group_errcode_from_err(MQB_ERR_PERM), MQB_GROUP_E_NOT_OWNER);
	assert_int_equal(mqb_group_errcode_from_err(MQB_ERR_RANGE), MQB_GROUP_E_NOT_DELIVERED);
	assert_int_equal(mqb_group_errcode_from_err(MQB_ERR_TOOBIG), MQB_GROUP_E_TOO_LARGE);
	assert_int_equal(mqb_group_errcode_from_err(MQB_ERR_PROTO), MQB_GROUP_E_MALFORMED);
	assert_int_equal(mqb_group_errcode_from_err(MQB_ERR_IO), MQB_GROUP_E_INTERNAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_topics),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_join_leave_heartbeat),
		cmocka_unit_test(test_ack),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_revoked),
		cmocka_unit_test(test_encode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
