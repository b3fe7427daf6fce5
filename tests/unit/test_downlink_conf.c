/*
 * test_downlink_conf.c — the Kafka -> MQTT downlink's configuration and topic
 * template: kafka.downlink entries load with their defaults; the element check and
 * mqb_kafka_downlink_check_config report file:line and key; the template renders
 * {key} {partition} {offset} {header:NAME} and refuses what would change the topic's
 * shape (null key, missing header, '/', '+', '#', bad UTF-8), and an mqtt.topic header
 * must be a valid topic name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "connectors/kafka/kafka_conf.h"
#include "bridge/config.h"
#include "bridge/err.h"
#include "connectors/kafka/downlink.h"
#include "connectors/kafka/downlink_conf.h"
#include "connectors/kafka/downlink_topic.h"

#define HEAD \
	"data_dir = \"/tmp/x\";\n" \
	"streams = ( { name = \"s\"; partitions = 2; }, { name = \"dead\"; } );\n" \
	"routes = ( { filter = \"a/+\"; stream = \"s\"; } );\n"

static mqb_config_t *load(const char *text, char *err, size_t errsz)
{
	static const mqb_config_section_t *const sections[] = { &mqb_kafka_conf_section, NULL };

	return mqb_config_load_string(text, "d.conf", sections, err, errsz);
}

static void test_defaults(void **state)
{
	char err[512] = "";
	(void)state;
	mqb_config_t *cfg = load(HEAD "kafka = { bootstrap_servers = \"h:1\";\n"
				 "  downlink = ( { topic = \"site42.commands\"; group = \"g\";\n"
				 "    mqtt_topic = \"devices/{key}/commands\"; } ); };\n",
				 err, sizeof(err));
	if (!cfg)
		fail_msg("%s", err);
	assert_int_equal(mqb_kafka_conf(cfg)->downlink_count, 1);
	const mqb_kafka_downlink_conf_t *d = &mqb_kafka_conf(cfg)->downlink[0];
	assert_string_equal(d->topic, "site42.commands");
	assert_string_equal(d->group, "g");
	assert_int_equal(d->qos, 1);
	assert_false(d->start_latest);
	assert_false(d->allow_topic_header);
	assert_int_equal(d->on_unroutable, MQB_DL_UNROUTABLE_SKIP);
	assert_null(d->dead_letter);
	assert_int_equal(d->inflight_per_partition, 100);
	assert_int_equal(d->line, 5);
	assert_int_equal(mqb_kafka_downlink_check_config(cfg, err, sizeof(err)), MQB_OK);
	mqb_config_free(cfg);
}

static void expect_load_error(const char *entry, const char *want)
{
	char text[2048], err[512] = "";
	snprintf(text, sizeof(text), HEAD "kafka = { bootstrap_servers = \"h:1\";\n"
		 "  downlink = ( { topic = \"t\"; group = \"g\"; mqtt_topic = \"d/{key}\";\n"
		 "    %s } ); };\n", entry);
	mqb_config_t *cfg = load(text, err, sizeof(err));
	if (cfg || !strstr(err, want)) {
		mqb_config_free(cfg);
		fail_msg("want an error containing \"%s\", got: %s", want, err);
	}
}

static void test_load_errors(void **state)
{
	(void)state;
	expect_load_error("qos = 3;", "d.conf:6: kafka.downlink.[0].qos: must be between 0 and 2");
	expect_load_error("on_unroutable = \"dead_letter\";",
			  "kafka.downlink.[0].dead_letter: required with on_unroutable");
	expect_load_error("dead_letter = \"dead\";",
			  "kafka.downlink.[0].dead_letter: only with on_unroutable");
	expect_load_error("start = \"middle\";", "kafka.downlink.[0].start");
	expect_load_error("nope = 1;", "kafka.downlink.[0].nope");
}

static void expect_check_error(const char *entry, const char *want)
{
	char text[2048], err[512] = "";
	snprintf(text, sizeof(text), HEAD "kafka = { bootstrap_servers = \"h:1\";\n"
		 "  downlink = ( { group = \"g\"; %s } ); };\n", entry);
	mqb_config_t *cfg = load(text, err, sizeof(err));
	if (!cfg)
		fail_msg("did not load: %s", err);
	int rc = mqb_kafka_downlink_check_config(cfg, err, sizeof(err));
	mqb_config_free(cfg);
	if (rc != MQB_ERR_CONFIG || !strstr(err, want))
		fail_msg("want an error containing \"%s\", got %d: %s", want, rc, err);
}

static void test_check_errors(void **state)
{
	(void)state;
	expect_check_error("topic = \"a b\"; mqtt_topic = \"x\";",
			   "d.conf:5: kafka.downlink.[0].topic: not a valid Kafka topic name");
	expect_check_error("topic = \"t\"; mqtt_topic = \"d/{nope}\";",
			   "d.conf:5: kafka.downlink.[0].mqtt_topic: unknown field {nope}");
	expect_check_error("topic = \"t\"; mqtt_topic = \"d/{key\";",
			   "kafka.downlink.[0].mqtt_topic: unclosed '{'");
	expect_check_error("topic = \"t\"; mqtt_topic = \"d\"; on_unroutable = \"dead_letter\";"
			   " dead_letter = \"nostream\";",
			   "kafka.downlink.[0].dead_letter: no stream named \"nostream\"");
}

/* --- the template ------------------------------------------------------------------ */

static bool hdr(void *arg, const char *name, const void **v, size_t *len)
{
	const char *const *kv = arg;
	for (; kv[0]; kv += 2)
		if (strcmp(kv[0], name) == 0) {
			*v = kv[1];
			*len = strlen(kv[1]);
			return true;
		}
	return false;
}

static mqb_dl_unroutable_reason_t render(const char *tmpl, const char *key,
					 const char *const *headers, char *out, size_t size)
{
	char err[128];
	mqb_dl_tmpl_t *t = mqb_dl_tmpl_new(tmpl, err, sizeof(err));
	if (!t)
		fail_msg("template %s: %s", tmpl, err);
	mqb_dl_fields_t f = { .key = key, .key_len = key ? strlen(key) : 0, .partition = 3,
			      .offset = 1234567890123LL, .header = hdr, .arg = (void *)headers };
	mqb_dl_unroutable_reason_t r = mqb_dl_tmpl_render(t, &f, out, size, NULL);
	mqb_dl_tmpl_free(t);
	return r;
}

static void test_template(void **state)
{
	static const char *const h[] = { "kind", "set", "site", "42", "slash", "a/b",
					 "plus", "a+", "empty", "", "bad", "\xff", NULL };
	char out[256];
	(void)state;
	assert_int_equal(render("devices/{key}/commands", "dev7", h, out, sizeof(out)), MQB_DL_OK);
	assert_string_equal(out, "devices/dev7/commands");
	assert_int_equal(render("s{header:site}/{key}/p{partition}/{offset}/{header:kind}",
				"d", h, out, sizeof(out)), MQB_DL_OK);
	assert_string_equal(out, "s42/d/p3/1234567890123/set");
	assert_int_equal(render("a/{{x}/{key}", "k", h, out, sizeof(out)), MQB_DL_OK);
	assert_string_equal(out, "a/{x}/k");
	assert_int_equal(render("d/{key}", NULL, h, out, sizeof(out)), MQB_DL_NO_KEY);
	assert_int_equal(render("d/{header:x}", "k", h, out, sizeof(out)), MQB_DL_NO_HEADER);
	assert_int_equal(render("d/{key}", "a/b", h, out, sizeof(out)), MQB_DL_BAD_VALUE);
	assert_int_equal(render("d/{key}", "#", h, out, sizeof(out)), MQB_DL_BAD_VALUE);
	assert_int_equal(render("d/{key}", "", h, out, sizeof(out)), MQB_DL_BAD_VALUE);
	assert_int_equal(render("d/{header:slash}", "k", h, out, sizeof(out)), MQB_DL_BAD_VALUE);
	assert_int_equal(render("d/{header:plus}", "k", h, out, sizeof(out)), MQB_DL_BAD_VALUE);
	assert_int_equal(render("d/{header:empty}", "k", h, out, sizeof(out)), MQB_DL_BAD_VALUE);
	assert_int_equal(render("d/{header:bad}", "k", h, out, sizeof(out)), MQB_DL_BAD_VALUE);
	assert_int_equal(render("d/+/{key}", "k", h, out, sizeof(out)), MQB_DL_BAD_TOPIC);
	assert_int_equal(render("d/{key}/long", "k", h, out, 8), MQB_DL_BAD_TOPIC);
	assert_string_equal(mqb_dl_reason_name(MQB_DL_NO_HEADER), "no_header");
}

static void test_topic_header(void **state)
{
	char out[64];
	(void)state;
	assert_int_equal(mqb_dl_topic_copy("dev/1/cmd", 9, out, sizeof(out), NULL), MQB_DL_OK);
	assert_string_equal(out, "dev/1/cmd");
	assert_int_equal(mqb_dl_topic_copy("dev/#", 5, out, sizeof(out), NULL), MQB_DL_BAD_TOPIC);
	assert_int_equal(mqb_dl_topic_copy("", 0, out, sizeof(out), NULL), MQB_DL_BAD_TOPIC);
	assert_int_equal(mqb_dl_topic_copy("a\0b", 3, out, sizeof(out), NULL), MQB_DL_BAD_TOPIC);
	assert_int_equal(mqb_dl_topic_copy("\xc3\x28", 2, out, sizeof(out), NULL),
			 MQB_DL_BAD_TOPIC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_check_errors),
		cmocka_unit_test(test_template),
		cmocka_unit_test(test_topic_header),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
