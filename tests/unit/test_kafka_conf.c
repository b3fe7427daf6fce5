/*
 * test_kafka_conf.c — kafka.properties go to librdkafka verbatim; what it refuses is a
 * config error naming file:line and the key; conflicts only rd_kafka_new() sees are
 * caught too; a good section passes and gets mqbridge's defaults.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/config.h"
#include "connectors/kafka/kafka_conf.h"
#include "bridge/err.h"
#include "connectors/kafka/kafka_conf.h"

#define HEAD \
	"data_dir = \"/tmp/x\";\n" \
	"streams = ( { name = \"s\"; partitions = 2; } );\n" \
	"routes = ( { filter = \"a/+\"; stream = \"s\"; } );\n"

static mqb_config_t *load(const char *text)
{
	static const mqb_config_section_t *const sections[] = { &mqb_kafka_conf_section, NULL };
	char err[1024];
	mqb_config_t *cfg = mqb_config_load_string(text, "k.conf", sections, err, sizeof(err));
	if (!cfg)
		fail_msg("config did not load: %s", err);
	return cfg;
}

static void expect_check_error(const char *text, const char *want_prefix,
			       const char *want_sub)
{
	char err[1024] = "";
	mqb_config_t *cfg = load(text);
	int rc = mqb_kafka_check_config(cfg, err, sizeof(err));
	if (rc != MQB_ERR_CONFIG || strncmp(err, want_prefix, strlen(want_prefix)) != 0 ||
	    (want_sub && !strstr(err, want_sub))) {
		print_error("want error starting \"%s\" containing \"%s\"\ngot rc %d: %s\n",
			    want_prefix, want_sub ? want_sub : "", rc, err);
		mqb_config_free(cfg);
		fail();
	}
	mqb_config_free(cfg);
}

static void test_unknown_property(void **state)
{
	expect_check_error(HEAD
			   "kafka = { bootstrap_servers = \"127.0.0.1:1\";\n"
			   "  properties = (\n"
			   "    (\"linger.ms\", \"10\"),\n"
			   "    (\"no.such.property\", \"1\")\n"
			   "  );\n"
			   "  forward = ( { stream = \"s\"; topic = \"t\"; } ); };\n",
			   "k.conf:7: kafka.properties.no.such.property: ",
			   "No such configuration property");
}

static void test_bad_value(void **state)
{
	expect_check_error(HEAD
			   "kafka = { bootstrap_servers = \"127.0.0.1:1\";\n"
			   "  properties = ( (\"compression.type\", \"zip\") );\n"
			   "  forward = ( { stream = \"s\"; topic = \"t\"; } ); };\n",
			   "k.conf:5: kafka.properties.compression.type: ", "zip");
	expect_check_error(HEAD
			   "kafka = { bootstrap_servers = \"127.0.0.1:1\";\n"
			   "  properties = ( (\"linger.ms\", \"-5\") );\n"
			   "  forward = ( { stream = \"s\"; topic = \"t\"; } ); };\n",
			   "k.conf:5: kafka.properties.linger.ms: ", NULL);
}

/* Accepted property by property, refused by rd_kafka_new() as a whole. */
static void test_conflict(void **state)
{
	expect_check_error(HEAD
			   "kafka = { bootstrap_servers = \"127.0.0.1:1\";\n"
			   "  properties = ( (\"max.in.flight.requests.per.connection\", \"20\") );\n"
			   "  forward = ( { stream = \"s\"; topic = \"t\"; } ); };\n",
			   "k.conf:4: kafka.properties: librdkafka refused the configuration: ",
			   "max.in.flight");
}

static void test_good(void **state)
{
	char err[1024] = "", val[64];
	size_t vlen = sizeof(val);
	mqb_config_t *cfg = load(HEAD
				 "kafka = { bootstrap_servers = \"127.0.0.1:1\";\n"
				 "  properties = ( (\"compression.type\", \"zstd\"),\n"
				 "                 (\"security.protocol\", \"plaintext\") );\n"
				 "  queue_buffering_max_kbytes = 2048;\n"
				 "  forward = ( { stream = \"s\"; topic = \"edge.s\"; } ); };\n");
	assert_int_equal(mqb_kafka_check_config(cfg, err, sizeof(err)), MQB_OK);
	rd_kafka_conf_t *conf = mqb_kafka_conf_build(cfg, err, sizeof(err));
	assert_non_null(conf);
	assert_int_equal(rd_kafka_conf_get(conf, "enable.idempotence", val, &vlen), RD_KAFKA_CONF_OK);
	assert_string_equal(val, "true");
	vlen = sizeof(val);
	rd_kafka_conf_get(conf, "compression.type", val, &vlen);   /* user's wins */
	assert_string_equal(val, "zstd");
	vlen = sizeof(val);
	rd_kafka_conf_get(conf, "queue.buffering.max.kbytes", val, &vlen);
	assert_string_equal(val, "2048");
	vlen = sizeof(val);
	rd_kafka_conf_get(conf, "linger.ms", val, &vlen);
	assert_string_equal(val, "5");
	vlen = sizeof(val);
	rd_kafka_conf_get(conf, "bootstrap.servers", val, &vlen);
	assert_string_equal(val, "127.0.0.1:1");
	rd_kafka_conf_destroy(conf);
	mqb_config_free(cfg);

	/* no kafka section: nothing to check */
	cfg = load(HEAD);
	assert_int_equal(mqb_kafka_check_config(cfg, err, sizeof(err)), MQB_OK);
	mqb_config_free(cfg);
}

/* The compression default is gzip (every Kafka client reads it without a plugin,
 * kafkajs included; issue 14 §11), and docs/KAFKA.md says so. */
static void test_default_compression(void **state)
{
	const char *src = getenv("MQB_SOURCE_DIR");
	char err[1024] = "", val[64], path[4096], doc[65536];
	size_t vlen = sizeof(val), n;
	FILE *f;
	mqb_config_t *cfg = load(HEAD
				 "kafka = { bootstrap_servers = \"127.0.0.1:1\";\n"
				 "  forward = ( { stream = \"s\"; topic = \"edge.s\"; } ); };\n");
	rd_kafka_conf_t *conf = mqb_kafka_conf_build(cfg, err, sizeof(err));

	(void)state;
	assert_non_null(conf);
	assert_int_equal(rd_kafka_conf_get(conf, "compression.type", val, &vlen),
			 RD_KAFKA_CONF_OK);
	assert_string_equal(val, "gzip");
	rd_kafka_conf_destroy(conf);
	mqb_config_free(cfg);

	snprintf(path, sizeof(path), "%s/docs/KAFKA.md", src ? src : ".");
	f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s", path);
	n = fread(doc, 1, sizeof(doc) - 1, f);
	fclose(f);
	doc[n] = '\0';
	assert_non_null(strstr(doc, "`compression.type=gzip`"));
	assert_null(strstr(doc, "`compression.type=lz4`"));
}

static void test_topic_names(void **state)
{
	assert_true(mqb_kafka_topic_name_valid("edge.telemetry_1-x"));
	assert_false(mqb_kafka_topic_name_valid(""));
	assert_false(mqb_kafka_topic_name_valid("."));
	assert_false(mqb_kafka_topic_name_valid(".."));
	assert_false(mqb_kafka_topic_name_valid("a b"));
	assert_false(mqb_kafka_topic_name_valid("a/b"));
	char big[300];
	memset(big, 'a', 250);
	big[250] = '\0';
	assert_false(mqb_kafka_topic_name_valid(big));
	big[249] = '\0';
	assert_true(mqb_kafka_topic_name_valid(big));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unknown_property),
		cmocka_unit_test(test_bad_value),
		cmocka_unit_test(test_conflict),
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_default_compression),
		cmocka_unit_test(test_topic_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
