/*
 * test_config.c — the config loader: defaults, every kind of error (each message must
 * name the file, the line and the key path), and every shipped file under conf/ loads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bridge/config.h"
#include "bridge/config_table.h"
#include "tests/support/config_fx.h"

#define MIN_OK \
	"streams = ( { name = \"s\"; } );\n" \
	"routes = ( { filter = \"a/+\"; stream = \"s\"; } );\n"

/* libconfig 1.5 leaks a token buffer when it reports a syntax error (inside its own
 * parser; nothing of mqbridge's). Keep LeakSanitizer about our code. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libconfig.so\n";
}

static mqb_config_t *load(const char *text, char *err, size_t errsz)
{
	err[0] = '\0';
	return mqb_config_load_string(text, "t.conf", mqb_test_sections(), err, errsz);
}

/* Load text and expect exactly the error message want. */
static void expect_error(const char *text, const char *want)
{
	char err[1024];
	mqb_config_t *cfg = load(text, err, sizeof(err));

	if (cfg || strcmp(err, want) != 0) {
		print_error("config:\n%s\nwant error: %s\ngot:        %s\n", text, want,
			    cfg ? "(loaded fine)" : err);
		mqb_config_free(cfg);
		fail();
	}
}

/* Expect an error that starts with prefix (for messages with system text in them). */
static void expect_error_prefix(const char *text, const char *prefix)
{
	char err[1024];
	mqb_config_t *cfg = load(text, err, sizeof(err));

	if (cfg || strncmp(err, prefix, strlen(prefix)) != 0) {
		print_error("config:\n%s\nwant prefix: %s\ngot:         %s\n", text, prefix,
			    cfg ? "(loaded fine)" : err);
		mqb_config_free(cfg);
		fail();
	}
}

static void test_defaults(void **state)
{
	char err[1024];
	mqb_config_t *cfg = load(MIN_OK, err, sizeof(err));
	char cwd[PATH_MAX];

	(void)state;
	if (!cfg)
		fail_msg("%s", err);
	assert_string_equal(cfg->data_dir, "/var/lib/mqbridge");
	assert_string_equal(cfg->log_level, "info");
	assert_string_equal(cfg->groups_prefix, "mqbridge");
	assert_string_equal(cfg->path, "t.conf");
	assert_string_equal(mqb_mqtt_conf(cfg)->host, "127.0.0.1");
	assert_int_equal(mqb_mqtt_conf(cfg)->port, 1883);
	assert_string_equal(mqb_mqtt_conf(cfg)->client_id, "mqbridge");
	assert_int_equal(mqb_mqtt_conf(cfg)->protocol, 5);
	assert_int_equal(mqb_mqtt_conf(cfg)->keepalive, 30);
	assert_false(mqb_mqtt_conf(cfg)->clean_start);
	assert_int_equal(mqb_mqtt_conf(cfg)->session_expiry_s, 86400);
	assert_null(mqb_mqtt_conf(cfg)->username);
	assert_null(mqb_mqtt_conf(cfg)->password_file);
	assert_null(mqb_mqtt_conf(cfg)->cafile);
	assert_int_equal(mqb_mqtt_conf(cfg)->reconnect_min_ms, 500);
	assert_int_equal(mqb_mqtt_conf(cfg)->reconnect_max_ms, 30000);
	assert_int_equal(mqb_mqtt_conf(cfg)->max_message_bytes, 1048576);
	assert_int_equal(mqb_mqtt_conf(cfg)->max_inflight, 100);
	assert_string_equal(cfg->stats.listen, "127.0.0.1:9883");
	assert_null(cfg->stats.token_file);

	assert_int_equal(cfg->streams_count, 1);
	assert_string_equal(cfg->streams[0].name, "s");
	assert_ptr_equal(cfg->streams[0].opts.name, cfg->streams[0].name);
	assert_int_equal(cfg->streams[0].opts.partitions, 1);
	assert_int_equal(cfg->streams[0].opts.segment_bytes, 67108864);
	assert_int_equal(cfg->streams[0].opts.segment_ms, 604800000);
	assert_int_equal(cfg->streams[0].opts.retention_ms, -1);
	assert_int_equal(cfg->streams[0].opts.retention_bytes, -1);
	assert_int_equal(cfg->streams[0].opts.flush_interval_ms, 50);
	assert_int_equal(cfg->streams[0].opts.flush_messages, -1);
	assert_int_equal(cfg->streams[0].opts.index_interval_bytes, 4096);
	assert_int_equal(cfg->streams[0].opts.max_batch_bytes, 16777216);
	assert_int_equal(cfg->streams[0].line, 1);

	assert_int_equal(cfg->routes_count, 1);
	assert_string_equal(cfg->routes[0].filter, "a/+");
	assert_string_equal(cfg->routes[0].name, "a/+");
	assert_int_equal(cfg->routes[0].qos, 1);
	assert_null(cfg->routes[0].key);
	assert_int_equal(cfg->routes[0].stream_index, 0);
	assert_int_equal(cfg->routes[0].line, 2);

	assert_false(mqb_kafka_conf(cfg)->enabled);
	assert_int_equal(mqb_kafka_conf(cfg)->forward_count, 0);
	assert_int_equal(cfg->groups_count, 0);
	mqb_config_free(cfg);

	/* relative paths are resolved against the current directory */
	cfg = load("data_dir = \"./_data\";\n" MIN_OK, err, sizeof(err));
	if (!cfg)
		fail_msg("%s", err);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(strncmp(cfg->data_dir, cwd, strlen(cwd)), 0);
	assert_string_equal(cfg->data_dir + strlen(cwd), "/_data");
	assert_int_equal(mqb_config_stream_index(cfg, "s"), 0);
	assert_int_equal(mqb_config_stream_index(cfg, "nope"), -1);
	mqb_config_free(cfg);
	mqb_config_free(NULL);
}

static void test_full(void **state)
{
	char err[1024];
	const char *text =
		"data_dir = \"/tmp/x\"; log_level = \"debug\"; groups_prefix = \"edge/mqb\";\n"
		"mqtt = { host = \"broker\"; port = 8883; protocol = \"v311\"; clean_start = true;\n"
		"  session_expiry_s = 4294967295L; max_message_bytes = 2048; };\n"
		"stats = { listen = \"[::1]:9000\"; };\n"
		"streams = ( { name = \"t\"; partitions = 12; segment_bytes = 2147483647L;\n"
		"              retention_ms = 10000000000L; flush = { interval_ms = 0; messages = 0; }; },\n"
		"            { name = \"dlq\"; max_batch_bytes = 4096; } );\n"
		"routes = ( { name = \"r1\"; filter = \"s/+/t\"; qos = 2; stream = \"t\"; key = \"d-{1}\"; },\n"
		"           { filter = \"#\"; qos = 0; stream = \"dlq\"; key = \"{topic}\"; } );\n"
		"kafka = { bootstrap_servers = \"k:9092\";\n"
		"  properties = { compression = { type = \"lz4\"; }; linger = { ms = 5; };\n"
		"                 enable = { \"ssl.certificate.verification\" = true; }; };\n"
		"  forward = ( { stream = \"t\"; topic = \"edge.t\"; } ); block_on_backlog = true; };\n"
		"groups = ( { name = \"g1\"; stream = \"t\"; assignor = \"range\";\n"
		"             session_timeout_ms = 1500; start = \"latest\"; },\n"
		"           { name = \"g2\"; stream = \"t\"; mode = \"shared\"; dead_letter = \"dlq\";\n"
		"             max_deliveries = 3; rebalance = \"eager\"; } );\n";
	mqb_config_t *cfg;

	(void)state;
	/* libconfig 1.5 cannot quote names: the "ssl..." line above is a syntax error */
	cfg = load(text, err, sizeof(err));
	assert_null(cfg);
	assert_string_equal(err, "t.conf:12: syntax error");

	text =
		"data_dir = \"/tmp/x\"; log_level = \"debug\"; groups_prefix = \"edge/mqb\";\n"
		"mqtt = { host = \"broker\"; port = 8883; protocol = \"v311\"; clean_start = true;\n"
		"  session_expiry_s = 4294967295L; max_message_bytes = 2048; };\n"
		"stats = { listen = \"[::1]:9000\"; };\n"
		"streams = ( { name = \"t\"; partitions = 12; segment_bytes = 2147483647L;\n"
		"              retention_ms = 10000000000L; flush = { interval_ms = 0; messages = 0; }; },\n"
		"            { name = \"dlq\"; max_batch_bytes = 4096; } );\n"
		"routes = ( { name = \"r1\"; filter = \"s/+/t\"; qos = 2; stream = \"t\"; key = \"d-{1}\"; },\n"
		"           { filter = \"#\"; qos = 0; stream = \"dlq\"; key = \"{topic}\"; } );\n"
		"kafka = { bootstrap_servers = \"k:9092\";\n"
		"  properties = { compression = { type = \"lz4\"; }; linger = { ms = 5; };\n"
		"                 socket = { keepalive = { enable = true; }; }; };\n"
		"  forward = ( { stream = \"t\"; topic = \"edge.t\"; } ); block_on_backlog = true; };\n"
		"groups = ( { name = \"g1\"; stream = \"t\"; assignor = \"range\";\n"
		"             session_timeout_ms = 1500; start = \"latest\"; },\n"
		"           { name = \"g2\"; stream = \"t\"; mode = \"shared\"; dead_letter = \"dlq\";\n"
		"             max_deliveries = 3; rebalance = \"eager\"; } );\n";
	cfg = load(text, err, sizeof(err));
	if (!cfg)
		fail_msg("%s", err);
	assert_string_equal(cfg->log_level, "debug");
	assert_string_equal(cfg->groups_prefix, "edge/mqb");
	assert_int_equal(mqb_mqtt_conf(cfg)->protocol, 4);
	assert_int_equal(mqb_mqtt_conf(cfg)->port, 8883);
	assert_true(mqb_mqtt_conf(cfg)->clean_start);
	assert_int_equal(mqb_mqtt_conf(cfg)->session_expiry_s, 4294967295LL);
	assert_string_equal(cfg->stats.listen, "[::1]:9000");
	assert_int_equal(cfg->streams[0].opts.partitions, 12);
	assert_int_equal(cfg->streams[0].opts.segment_bytes, 2147483647LL);
	assert_int_equal(cfg->streams[0].opts.retention_ms, 10000000000LL);
	assert_int_equal(cfg->streams[0].opts.flush_interval_ms, 0);
	assert_int_equal(cfg->streams[0].opts.flush_messages, 0);
	assert_int_equal(cfg->streams[1].line, 7);
	assert_string_equal(cfg->routes[0].name, "r1");
	assert_int_equal(cfg->routes[0].qos, 2);
	assert_string_equal(cfg->routes[0].key, "d-{1}");
	assert_int_equal(cfg->routes[1].stream_index, 1);
	assert_int_equal(cfg->routes[1].line, 9);

	assert_true(mqb_kafka_conf(cfg)->enabled);
	assert_string_equal(mqb_kafka_conf(cfg)->bootstrap_servers, "k:9092");
	assert_true(mqb_kafka_conf(cfg)->block_on_backlog);
	assert_int_equal(mqb_kafka_conf(cfg)->sync_interval_offsets, 100);
	assert_int_equal(mqb_kafka_conf(cfg)->queue_buffering_max_kbytes, 16384);
	assert_int_equal(mqb_kafka_conf(cfg)->properties_count, 3);
	assert_string_equal(mqb_kafka_conf(cfg)->properties[0].key, "compression.type");
	assert_string_equal(mqb_kafka_conf(cfg)->properties[0].value, "lz4");
	assert_int_equal(mqb_kafka_conf(cfg)->properties[0].line, 11);
	assert_string_equal(mqb_kafka_conf(cfg)->properties[1].key, "linger.ms");
	assert_string_equal(mqb_kafka_conf(cfg)->properties[1].value, "5");
	assert_string_equal(mqb_kafka_conf(cfg)->properties[2].key, "socket.keepalive.enable");
	assert_string_equal(mqb_kafka_conf(cfg)->properties[2].value, "true");
	assert_int_equal(mqb_kafka_conf(cfg)->properties[2].line, 12);
	assert_int_equal(mqb_kafka_conf(cfg)->forward_count, 1);
	assert_string_equal(mqb_kafka_conf(cfg)->forward[0].topic, "edge.t");
	assert_int_equal(mqb_kafka_conf(cfg)->forward[0].stream_index, 0);

	assert_int_equal(cfg->groups_count, 2);
	assert_int_equal(cfg->groups[0].mode, MQB_GROUP_EXCLUSIVE);
	assert_string_equal(cfg->groups[0].assignor, "range");
	assert_int_equal(cfg->groups[0].rebalance, MQB_REBALANCE_EAGER);
	assert_int_equal(cfg->groups[0].session_timeout_ms, 1500);
	assert_int_equal(cfg->groups[0].heartbeat_interval_ms, 500);  /* session / 3 */
	assert_int_equal(cfg->groups[0].rebalance_timeout_ms, 1500);
	assert_true(cfg->groups[0].start_latest);
	assert_null(cfg->groups[0].dead_letter);
	assert_int_equal(cfg->groups[0].dead_letter_index, -1);
	assert_int_equal(cfg->groups[1].mode, MQB_GROUP_SHARED);
	assert_string_equal(cfg->groups[1].assignor, "cooperative-sticky");
	assert_int_equal(cfg->groups[1].rebalance, MQB_REBALANCE_EAGER);
	assert_int_equal(cfg->groups[1].heartbeat_interval_ms, 3000);
	assert_int_equal(cfg->groups[1].session_timeout_ms, 10000);
	assert_int_equal(cfg->groups[1].ack_timeout_ms, 30000);
	assert_int_equal(cfg->groups[1].max_deliveries, 3);
	assert_int_equal(cfg->groups[1].prefetch, 100);
	assert_false(cfg->groups[1].start_latest);
	assert_int_equal(cfg->groups[1].dead_letter_index, 1);
	assert_int_equal(cfg->groups[1].stream_index, 0);
	mqb_config_free(cfg);

	/* default rebalance for cooperative-sticky is cooperative; list form of properties */
	cfg = load(MIN_OK "groups = ( { name = \"g\"; stream = \"s\"; } );\n"
		   "kafka = { bootstrap_servers = \"k:1\"; properties = ( (\"linger.ms\", 5),\n"
		   "  (\"compression.type\", \"zstd\"), (\"x.y\", 1.5) ); };\n", err, sizeof(err));
	if (!cfg)
		fail_msg("%s", err);
	assert_int_equal(cfg->groups[0].rebalance, MQB_REBALANCE_COOPERATIVE);
	assert_int_equal(mqb_kafka_conf(cfg)->properties_count, 3);
	assert_string_equal(mqb_kafka_conf(cfg)->properties[0].key, "linger.ms");
	assert_string_equal(mqb_kafka_conf(cfg)->properties[0].value, "5");
	assert_int_equal(mqb_kafka_conf(cfg)->properties[0].line, 4);
	assert_string_equal(mqb_kafka_conf(cfg)->properties[1].value, "zstd");
	assert_int_equal(mqb_kafka_conf(cfg)->properties[1].line, 5);
	assert_string_equal(mqb_kafka_conf(cfg)->properties[2].value, "1.5");
	assert_int_equal(mqb_kafka_conf(cfg)->forward_count, 0);
	mqb_config_free(cfg);
}

static void test_syntax_errors(void **state)
{
	(void)state;
	expect_error("data_dir = \"/x\";\nmqtt = { port = 1883 ;\n", "t.conf:3: syntax error");
	expect_error("data_dir = \"/x\";\nmqtt = { port == 1883; };\n", "t.conf:2: syntax error");
	/* libconfig 1.5 would truncate these silently */
	expect_error(MIN_OK "\n# 99999999999\nmqtt = { session_expiry_s = 4294967295; };\n",
		     "t.conf:5: integer 4294967295 does not fit in 32 bits: write 4294967295L");
	expect_error(MIN_OK "mqtt = { session_expiry_s = 0xFFFFFFFF; };\n",
		     "t.conf:3: integer 0xFFFFFFFF does not fit in 32 bits: write 0xFFFFFFFFL");
	expect_error(MIN_OK "mqtt = { session_expiry_s = 2147483648; };\n",
		     "t.conf:3: integer 2147483648 does not fit in 32 bits: write 2147483648L");
	expect_error("streams = ( { name = \"s\"; retention_bytes = 10000000000; } );\n",
		     "t.conf:1: integer 10000000000 does not fit in 32 bits: write 10000000000L");
	expect_error("data_dir \"/x\";\n", "t.conf:1: syntax error");
	expect_error("a = 1;\na = 2;\n" MIN_OK, "t.conf:2: duplicate setting name");
	expect_error("streams = ( { name = \"unterminated; } );\n",
		     "t.conf:2: syntax error");      /* libconfig reports it at the end */
}

/* The 32-bit literal check only refuses what libconfig would truncate. */
static void test_int_literals_ok(void **state)
{
	char err[1024];
	mqb_config_t *cfg;

	(void)state;
	cfg = load(MIN_OK "# 99999999999 in a comment\nmqtt = { host = \"h99999999999\";\n"
		   "  session_expiry_s = 0x7FFFFFFF; max_message_bytes = 2147483L; };\n"
		   "/* 88888888888 */ stats = { listen = \"[::1]:9999\"; };\n", err, sizeof(err));
	if (!cfg)
		fail_msg("%s", err);
	assert_int_equal(mqb_mqtt_conf(cfg)->session_expiry_s, 0x7fffffff);
	assert_int_equal(mqb_mqtt_conf(cfg)->max_message_bytes, 2147483);
	assert_string_equal(mqb_mqtt_conf(cfg)->host, "h99999999999");
	mqb_config_free(cfg);
	cfg = load(MIN_OK "mqtt = { session_expiry_s = 2147483647; };\n", err, sizeof(err));
	if (!cfg)
		fail_msg("%s", err);
	assert_int_equal(mqb_mqtt_conf(cfg)->session_expiry_s, 2147483647);
	mqb_config_free(cfg);
}

static void test_unknown_keys(void **state)
{
	(void)state;
	expect_error("data_dri = \"/x\";\n" MIN_OK,
		     "t.conf:1: data_dri: unknown key (did you mean \"data_dir\"?)");
	expect_error(MIN_OK "frobnicate = 1;\n", "t.conf:3: frobnicate: unknown key");
	expect_error(MIN_OK "mqtt = {\n  host = \"h\";\n  hots = \"x\";\n};\n",
		     "t.conf:5: mqtt.hots: unknown key (did you mean \"host\"?)");
	expect_error(MIN_OK "stats = { lisen = \"x\"; };\n",
		     "t.conf:3: stats.lisen: unknown key (did you mean \"listen\"?)");
	expect_error("streams = ( { name = \"s\"; },\n  { name = \"t\"; partition = 2; } );\n"
		     "routes = ( { filter = \"a\"; stream = \"s\"; } );\n",
		     "t.conf:2: streams.[1].partition: unknown key (did you mean \"partitions\"?)");
	expect_error("streams = ( { name = \"s\"; flush = { interval = 5; }; } );\n"
		     "routes = ( { filter = \"a\"; stream = \"s\"; } );\n",
		     "t.conf:1: streams.[0].flush.interval: unknown key "
		     "(did you mean \"interval_ms\"?)");
	expect_error("streams = ( { name = \"s\"; } );\n"
		     "routes = ( { filter = \"a\"; stream = \"s\"; topic = \"x\"; } );\n",
		     "t.conf:2: routes.[0].topic: unknown key");
	expect_error(MIN_OK "kafka = { bootstrap_servers = \"k\";\n"
		     "  forward = ( { stream = \"s\"; topic = \"t\"; partitions = 3; } ); };\n",
		     "t.conf:4: kafka.forward.[0].partitions: unknown key");
	expect_error(MIN_OK "groups = ( { name = \"g\"; stream = \"s\";\n  prefech = 5; } );\n",
		     "t.conf:4: groups.[0].prefech: unknown key (did you mean \"prefetch\"?)");
	expect_error(MIN_OK "kafka = { bootstrap_servers = \"k\"; linger_ms = 5; };\n",
		     "t.conf:3: kafka.linger_ms: unknown key");
}

static void test_type_errors(void **state)
{
	(void)state;
	expect_error(MIN_OK "mqtt = { port = \"1883\"; };\n",
		     "t.conf:3: mqtt.port: must be an integer (got \"1883\")");
	expect_error(MIN_OK "mqtt = { port = 1883.0; };\n",
		     "t.conf:3: mqtt.port: must be an integer (got 1883)");
	expect_error(MIN_OK "mqtt = { clean_start = 1; };\n",
		     "t.conf:3: mqtt.clean_start: must be true or false (got 1)");
	expect_error(MIN_OK "mqtt = { host = 5; };\n",
		     "t.conf:3: mqtt.host: must be a string (got 5)");
	expect_error(MIN_OK "mqtt = \"localhost\";\n",
		     "t.conf:3: mqtt: must be a group { ... } (got \"localhost\")");
	expect_error("streams = { name = \"s\"; };\nroutes = ( { filter = \"a\"; stream = \"s\"; } );\n",
		     "t.conf:1: streams: must be a list ( { ... }, ... ) (got a group { ... })");
	expect_error("streams = ( \"s\" );\nroutes = ( { filter = \"a\"; stream = \"s\"; } );\n",
		     "t.conf:1: streams.[0]: must be a group { ... } (got \"s\")");
	expect_error(MIN_OK "mqtt = { protocol = \"v4\"; };\n",
		     "t.conf:3: mqtt.protocol: must be one of \"v5\", \"v311\" (got \"v4\")");
	expect_error(MIN_OK "log_level = \"verbose\";\n",
		     "t.conf:3: log_level: must be one of \"error\", \"warn\", \"notice\", "
		     "\"info\", \"debug\" (got \"verbose\")");
	expect_error(MIN_OK "groups = ( { name = \"g\"; stream = \"s\"; mode = \"queue\"; } );\n",
		     "t.conf:3: groups.[0].mode: must be one of \"exclusive\", \"shared\" "
		     "(got \"queue\")");
	expect_error(MIN_OK "groups = ( { name = \"g\"; stream = \"s\"; assignor = \"rr\"; } );\n",
		     "t.conf:3: groups.[0].assignor: must be one of \"range\", \"roundrobin\", "
		     "\"sticky\", \"cooperative-sticky\" (got \"rr\")");
	expect_error(MIN_OK "groups = ( { name = \"g\"; stream = \"s\"; start = \"now\"; } );\n",
		     "t.conf:3: groups.[0].start: must be one of \"earliest\", \"latest\" "
		     "(got \"now\")");
	expect_error(MIN_OK "kafka = { bootstrap_servers = \"k\"; properties = 5; };\n",
		     "t.conf:3: kafka.properties: must be a group { name = value; ... } or a "
		     "list of (\"name\", value) pairs (got 5)");
	expect_error(MIN_OK "kafka = { bootstrap_servers = \"k\"; properties = ( \"a=b\" ); };\n",
		     "t.conf:3: kafka.properties.[0]: must be a pair (\"name\", value) "
		     "(got \"a=b\")");
	expect_error(MIN_OK "kafka = { bootstrap_servers = \"k\";\n"
		     "  properties = { a = [1, 2]; }; };\n",
		     "t.conf:4: kafka.properties: property \"a\" must be a string, number or "
		     "boolean (got an array [ ... ])");
}

static void test_range_errors(void **state)
{
	(void)state;
	expect_error("streams = (\n  { name = \"s\";\n    partitions = 0; } );\n"
		     "routes = ( { filter = \"a\"; stream = \"s\"; } );\n",
		     "t.conf:3: streams.[0].partitions: must be between 1 and 10000 (got 0)");
	expect_error("streams = ( { name = \"s\"; partitions = 10001; } );\n"
		     "routes = ( { filter = \"a\"; stream = \"s\"; } );\n",
		     "t.conf:1: streams.[0].partitions: must be between 1 and 10000 (got 10001)");
	expect_error(MIN_OK "mqtt = { port = 70000; };\n",
		     "t.conf:3: mqtt.port: must be between 1 and 65535 (got 70000)");
	expect_error(MIN_OK "mqtt = { port = 10000000000L; };\n",
		     "t.conf:3: mqtt.port: must be between 1 and 65535 (got 10000000000)");
	expect_error(MIN_OK "mqtt = { keepalive = 2; };\n",
		     "t.conf:3: mqtt.keepalive: must be between 5 and 65535 (got 2)");
	expect_error("streams = ( { name = \"s\"; retention_ms = 0; } );\n"
		     "routes = ( { filter = \"a\"; stream = \"s\"; } );\n",
		     "t.conf:1: streams.[0].retention_ms: must be -1 (off) or between 1000 and "
		     "9223372036854775807 (got 0)");
	expect_error("streams = ( { name = \"s\"; flush = { interval_ms = -5; }; } );\n"
		     "routes = ( { filter = \"a\"; stream = \"s\"; } );\n",
		     "t.conf:1: streams.[0].flush.interval_ms: must be between 0 and 3600000 "
		     "(got -5)");
	expect_error("streams = ( { name = \"s\"; } );\n"
		     "routes = ( { filter = \"a\"; stream = \"s\"; qos = 3; } );\n",
		     "t.conf:2: routes.[0].qos: must be between 0 and 2 (got 3)");
	expect_error(MIN_OK "groups = ( { name = \"g\"; stream = \"s\"; max_deliveries = 0; } );\n",
		     "t.conf:3: groups.[0].max_deliveries: must be between 1 and 1000 (got 0)");
	expect_error(MIN_OK "groups = ( { name = \"g\"; stream = \"s\"; prefetch = 0; } );\n",
		     "t.conf:3: groups.[0].prefetch: must be between 1 and 65535 (got 0)");
	expect_error(MIN_OK "mqtt = { max_message_bytes = 0; };\n",
		     "t.conf:3: mqtt.max_message_bytes: must be between 1 and 268435455 (got 0)");
}

static void test_required_and_empty(void **state)
{
	(void)state;
	expect_error("routes = ( { filter = \"a\"; stream = \"s\"; } );\n",
		     "t.conf: streams: required key missing");
	expect_error("streams = ( { name = \"s\"; } );\n",
		     "t.conf: routes: required key missing");
	expect_error("streams = ();\nroutes = ( { filter = \"a\"; stream = \"s\"; } );\n",
		     "t.conf:1: streams: at least one stream is required");
	expect_error("streams = ( { name = \"s\"; } );\nroutes = ();\n",
		     "t.conf:2: routes: at least one route is required");
	expect_error("streams = ( { partitions = 2; } );\n"
		     "routes = ( { filter = \"a\"; stream = \"s\"; } );\n",
		     "t.conf:1: streams.[0].name: required key missing");
	expect_error("streams = ( { name = \"s\"; } );\n"
		     "routes = ( { filter = \"a\"; } );\n",
		     "t.conf:2: routes.[0].stream: required key missing");
	expect_error(MIN_OK "kafka = {\n  forward = ();\n};\n",
		     "t.conf:3: kafka.bootstrap_servers: required key missing");
	expect_error(MIN_OK "kafka = { bootstrap_servers = \"\"; };\n",
		     "t.conf:3: kafka.bootstrap_servers: must not be empty");
	expect_error(MIN_OK "mqtt = { host = \"\"; };\n", "t.conf:3: mqtt.host: must not be empty");
	expect_error(MIN_OK "data_dir = \"\";\n", "t.conf:3: data_dir: must not be empty");
	expect_error(MIN_OK "groups = ( { stream = \"s\"; } );\n",
		     "t.conf:3: groups.[0].name: required key missing");
}

static void test_cross_field(void **state)
{
	(void)state;
	/* route naming an unknown stream */
	expect_error("streams = ( { name = \"s\"; } );\nroutes = (\n"
		     "  { filter = \"a\"; stream = \"s\"; },\n"
		     "  { filter = \"b\"; stream = \"nope\"; } );\n",
		     "t.conf:4: routes.[1].stream: no stream with this name is configured "
		     "(got \"nope\")");
	/* duplicate stream names */
	expect_error("streams = ( { name = \"s\"; },\n  { name = \"s\"; } );\n"
		     "routes = ( { filter = \"a\"; stream = \"s\"; } );\n",
		     "t.conf:2: streams.[1].name: duplicate stream name (first at line 1) "
		     "(got \"s\")");
	/* stream name validity */
	expect_error("streams = ( { name = \"../etc\"; } );\n"
		     "routes = ( { filter = \"a\"; stream = \"../etc\"; } );\n",
		     "t.conf:1: streams.[0].name: must be 1..200 of [A-Za-z0-9._-] and not "
		     "\".\" or \"..\" (got \"../etc\")");
	expect_error("streams = ( { name = \"..\"; } );\n"
		     "routes = ( { filter = \"a\"; stream = \"..\"; } );\n",
		     "t.conf:1: streams.[0].name: must be 1..200 of [A-Za-z0-9._-] and not "
		     "\".\" or \"..\" (got \"..\")");
	expect_error("streams = ( { name = \"\"; } );\n"
		     "routes = ( { filter = \"a\"; stream = \"s\"; } );\n",
		     "t.conf:1: streams.[0].name: must be 1..200 of [A-Za-z0-9._-] and not "
		     "\".\" or \"..\" (got \"\")");
	/* bad topic filters */
	expect_error("streams = ( { name = \"s\"; } );\n"
		     "routes = ( { filter = \"a/#/b\"; stream = \"s\"; } );\n",
		     "t.conf:2: routes.[0].filter: bad MQTT topic filter: '#' must be the last "
		     "topic level (got \"a/#/b\")");
	expect_error("streams = ( { name = \"s\"; } );\n"
		     "routes = ( { filter = \"a/b+\"; stream = \"s\"; } );\n",
		     "t.conf:2: routes.[0].filter: bad MQTT topic filter: '+' must occupy a "
		     "whole topic level (got \"a/b+\")");
	expect_error("streams = ( { name = \"s\"; } );\n"
		     "routes = ( { filter = \"\"; stream = \"s\"; } );\n",
		     "t.conf:2: routes.[0].filter: bad MQTT topic filter: must not be empty "
		     "(got \"\")");
	expect_error("streams = ( { name = \"s\"; } );\n"
		     "routes = ( { filter = \"a/\\xff\"; stream = \"s\"; } );\n",
		     "t.conf:2: routes.[0].filter: bad MQTT topic filter: not valid UTF-8 "
		     "(got \"a/\xff\")");
	expect_error("streams = ( { name = \"s\"; } );\n"
		     "routes = ( { filter = \"$share/g/a/#\"; stream = \"s\"; } );\n",
		     "t.conf:2: routes.[0].filter: shared subscriptions ($share/...) are not "
		     "supported: the filter is matched against topic names "
		     "(got \"$share/g/a/#\")");
	/* a shadowed duplicate filter and duplicate route names */
	expect_error("streams = ( { name = \"s\"; } );\n"
		     "routes = ( { filter = \"a/+\"; stream = \"s\"; },\n"
		     "  { filter = \"a/+\"; stream = \"s\"; key = \"{1}\"; } );\n",
		     "t.conf:3: routes.[1].filter: same filter as routes.[0] (line 2): this "
		     "route could never match (got \"a/+\")");
	expect_error("streams = ( { name = \"s\"; } );\n"
		     "routes = ( { name = \"r\"; filter = \"a\"; stream = \"s\"; },\n"
		     "  { name = \"r\"; filter = \"b\"; stream = \"s\"; } );\n",
		     "t.conf:3: routes.[1].name: duplicate route name (first at line 2) "
		     "(got \"r\")");
	/* bad key templates */
	expect_error("streams = ( { name = \"s\"; } );\n"
		     "routes = ( { filter = \"a/+\"; stream = \"s\"; key = \"{1\"; } );\n",
		     "t.conf:2: routes.[0].key: bad key template: unclosed '{' at column 1 "
		     "(got \"{1\")");
	expect_error("streams = ( { name = \"s\"; } );\n"
		     "routes = ( { filter = \"a/+\"; stream = \"s\"; key = \"x{one}\"; } );\n",
		     "t.conf:2: routes.[0].key: bad key template: bad placeholder '{one}' at "
		     "column 2: expected {N} (0..65535) or {topic} (got \"x{one}\")");
	expect_error("streams = ( { name = \"s\"; } );\n"
		     "routes = ( { filter = \"a/+\"; stream = \"s\"; key = \"\"; } );\n",
		     "t.conf:2: routes.[0].key: bad key template: must not be empty (leave the "
		     "key out for keyless records) (got \"\")");
	expect_error("streams = ( { name = \"s\"; } );\n"
		     "routes = ( { filter = \"a/+\"; stream = \"s\"; key = \"{2}\"; } );\n",
		     "t.conf:2: routes.[0].key: uses topic level {2} but filter \"a/+\" only "
		     "matches topics with 2 levels (0..1) (got \"{2}\")");
	/* mqtt cross checks */
	expect_error(MIN_OK "mqtt = { reconnect_min_ms = 1000;\n  reconnect_max_ms = 500; };\n",
		     "t.conf:4: mqtt.reconnect_max_ms: must be >= reconnect_min_ms (1000) "
		     "(got 500)");
	expect_error(MIN_OK "mqtt = { password_file = \"/dev/null\"; };\n",
		     "t.conf:3: mqtt.password_file: needs username to be set");
	expect_error(MIN_OK "mqtt = { cafile = \"/dev/null\"; certfile = \"/dev/null\"; };\n",
		     "t.conf:3: mqtt.certfile: certfile and keyfile must be set together");
	expect_error(MIN_OK "mqtt = { certfile = \"/dev/null\"; keyfile = \"/dev/null\"; };\n",
		     "t.conf:3: mqtt.certfile: a client certificate needs TLS: set cafile or "
		     "capath");
	expect_error(MIN_OK "mqtt = { client_id = \"id\\xc3\"; };\n",
		     "t.conf:3: mqtt.client_id: must be UTF-8 of at most 65535 bytes");
	expect_error(MIN_OK "stats = { listen = \"9883\"; };\n",
		     "t.conf:3: stats.listen: must be host:port, [ipv6]:port (port 0..65535, "
		     "0: any free one), \"\" or \"off\" (got \"9883\")");
	expect_error(MIN_OK "stats = { listen = \"127.0.0.1:65536\"; };\n",
		     "t.conf:3: stats.listen: must be host:port, [ipv6]:port (port 0..65535, "
		     "0: any free one), \"\" or \"off\" (got \"127.0.0.1:65536\")");
	expect_error(MIN_OK "stats = { listen = \"[]:80\"; };\n",
		     "t.conf:3: stats.listen: must be host:port, [ipv6]:port (port 0..65535, "
		     "0: any free one), \"\" or \"off\" (got \"[]:80\")");
	expect_error(MIN_OK "stats = { listen = \"h:+80\"; };\n",
		     "t.conf:3: stats.listen: must be host:port, [ipv6]:port (port 0..65535, "
		     "0: any free one), \"\" or \"off\" (got \"h:+80\")");
	expect_error(MIN_OK "stats = { listen = \"::1:80\"; };\n",
		     "t.conf:3: stats.listen: must be host:port, [ipv6]:port (port 0..65535, "
		     "0: any free one), \"\" or \"off\" (got \"::1:80\")");
	expect_error("streams = ( { name = \"s\"; max_batch_bytes = 1048576; } );\n"
		     "routes = ( { filter = \"a\"; stream = \"s\"; } );\n",
		     "t.conf:1: streams.[0].max_batch_bytes: must be at least "
		     "mqtt.max_message_bytes + 61 (1048637) so the largest record fits in a "
		     "batch with its header (got 1048576)");
	/* the record limit plus the batch header: one byte short is refused */
	expect_error("streams = ( { name = \"s\"; max_batch_bytes = 70000; } );\n"
		     "routes = ( { filter = \"a\"; stream = \"s\"; } );\n"
		     "mqtt = { max_message_bytes = 69940; };\n",
		     "t.conf:1: streams.[0].max_batch_bytes: must be at least "
		     "mqtt.max_message_bytes + 61 (70001) so the largest record fits in a "
		     "batch with its header (got 70000)");
	{
		char err[1024];
		mqb_config_t *c = load("streams = ( { name = \"s\"; max_batch_bytes = 70000; } );\n"
				       "routes = ( { filter = \"a\"; stream = \"s\"; } );\n"
				       "mqtt = { max_message_bytes = 69939; };\n", err, sizeof err);

		if (!c)
			fail_msg("exactly max_message_bytes + 61 refused: %s", err);
		mqb_config_free(c);
	}
	expect_error(MIN_OK "groups_prefix = \"mqb/+\";\n",
		     "t.conf:3: groups_prefix: must be a topic name without wildcards, a leading "
		     "'$' or a trailing '/' (got \"mqb/+\")");
	expect_error(MIN_OK "groups_prefix = \"mqb/\";\n",
		     "t.conf:3: groups_prefix: must be a topic name without wildcards, a leading "
		     "'$' or a trailing '/' (got \"mqb/\")");
	/* kafka */
	expect_error(MIN_OK "kafka = { bootstrap_servers = \"k\";\n"
		     "  forward = ( { stream = \"x\"; topic = \"t\"; } ); };\n",
		     "t.conf:4: kafka.forward.[0].stream: no stream with this name is configured "
		     "(got \"x\")");
	expect_error(MIN_OK "kafka = { bootstrap_servers = \"k\";\n"
		     "  forward = ( { stream = \"s\"; topic = \"a b\"; } ); };\n",
		     "t.conf:4: kafka.forward.[0].topic: not a valid Kafka topic name "
		     "([A-Za-z0-9._-], 1..249 chars, not \".\" or \"..\") (got \"a b\")");
	expect_error(MIN_OK "kafka = { bootstrap_servers = \"k\";\n"
		     "  forward = ( { stream = \"s\"; topic = \"t\"; },\n"
		     "              { stream = \"s\"; topic = \"t\"; } ); };\n",
		     "t.conf:5: kafka.forward.[1]: same stream and topic as kafka.forward.[0] "
		     "(line 4)");
	expect_error("streams = ( { name = \"s\"; }, { name = \"s2\"; } );\n"
		     "routes = ( { filter = \"a/+\"; stream = \"s\"; } );\n"
		     "kafka = { bootstrap_servers = \"k\";\n"
		     "  forward = ( { stream = \"s\"; topic = \"t\"; },\n"
		     "              { stream = \"s2\"; topic = \"t\"; } ); };\n",
		     "t.conf:5: kafka.forward.[1].topic: already fed by stream \"s\" "
		     "(kafka.forward.[0], line 4): one stream per Kafka topic (got \"t\")");
	expect_error(MIN_OK "kafka = { bootstrap_servers = \"k\";\n"
		     "  properties = ( (\"linger.ms\", 1),\n   (\"acks\", \"1\") ); };\n",
		     "t.conf:5: kafka.properties: \"acks\" cannot be set here: mqbridge needs "
		     "acks=all to advance its cursor safely");
	expect_error(MIN_OK "kafka = { bootstrap_servers = \"k\";\n"
		     "  properties = ( (\"linger.ms\", 1),\n   (\"linger.ms\", 2) ); };\n",
		     "t.conf:5: kafka.properties.[1]: property \"linger.ms\" set twice "
		     "(first at line 4)");
	expect_error(MIN_OK "kafka = { bootstrap_servers = \"k\";\n"
		     "  properties = ( (\"\", 1) ); };\n",
		     "t.conf:4: kafka.properties.[0]: property name must not be empty");
	/* groups */
	expect_error(MIN_OK "groups = ( { name = \"g\"; stream = \"x\"; } );\n",
		     "t.conf:3: groups.[0].stream: no stream with this name is configured "
		     "(got \"x\")");
	expect_error(MIN_OK "groups = ( { name = \"g\"; stream = \"s\"; },\n"
		     "  { name = \"g\"; stream = \"s\"; } );\n",
		     "t.conf:4: groups.[1].name: duplicate group name (first at line 3) "
		     "(got \"g\")");
	expect_error(MIN_OK "groups = ( { name = \"a/b\"; stream = \"s\"; } );\n",
		     "t.conf:3: groups.[0].name: must be 1..200 of [A-Za-z0-9._-] and not "
		     "\".\" or \"..\" (got \"a/b\")");
	expect_error(MIN_OK "groups = ( { name = \"g\"; stream = \"s\"; dead_letter = \"x\"; } );\n",
		     "t.conf:3: groups.[0].dead_letter: no stream with this name is configured "
		     "(got \"x\")");
	expect_error(MIN_OK "groups = ( { name = \"g\"; stream = \"s\"; dead_letter = \"s\"; } );\n",
		     "t.conf:3: groups.[0].dead_letter: must differ from the group's stream "
		     "(got \"s\")");
	expect_error(MIN_OK "groups = ( { name = \"g\"; stream = \"s\";\n"
		     "  session_timeout_ms = 3000; heartbeat_interval_ms = 3000; } );\n",
		     "t.conf:4: groups.[0].heartbeat_interval_ms: must be below "
		     "session_timeout_ms (3000) (got 3000)");
}

/* --- sections registered by their owners ------------------------------------------- */

typedef struct test_sec {
	int port;
	char *name;
	char *extra;                 /* set by the check, freed by the section's free */
	int line;
} test_sec_t;

static const mqb_cfgt_key_t test_keys[] = {
	MQB_CFGT_INT("port", test_sec_t, port, 1, 9, 5, 0, "a port"),
	MQB_CFGT_STR("name", test_sec_t, name, "x", 0, "a name"),
	MQB_CFGT_END
};
static const mqb_cfgt_table_t test_table = {
	"amqp", test_keys, 0, offsetof(test_sec_t, line), NULL };

static int sec_check(mqb_cfgt_ctx_t *ctx, const mqb_config_t *cfg, void *conf,
		      const config_setting_t *root)
{
	test_sec_t *t = conf;

	if (t->port == 7)
		return mqb_cfgt_error(ctx, mqb_cfgt_member(config_setting_get_member(root, "amqp"),
							   "port"),
				      "amqp.port", "%d streams is not %d (got %d)",
				      (int)cfg->streams_count, t->port, t->port);
	t->extra = strdup("checked");
	return t->extra ? 0 : -1;
}

static void sec_free(void *conf)
{
	free(((test_sec_t *)conf)->extra);
}

static const mqb_config_section_t test_section = {
	.name = "amqp", .desc = "a test section", .table = &test_table,
	.size = sizeof(test_sec_t), .check = sec_check, .free = sec_free };

static mqb_config_t *load_with(const char *text, const mqb_config_section_t *const *secs,
			       char *err, size_t errsz)
{
	err[0] = '\0';
	return mqb_config_load_string(text, "t.conf", secs, err, errsz);
}

static void test_sections(void **state)
{
	static const mqb_config_section_t *const own[] = { &test_section, NULL };
	static const mqb_config_section_t *const twice[] = { &test_section, &test_section, NULL };
	char err[1024];
	const test_sec_t *t;
	mqb_config_t *cfg;

	(void)state;
	/* the core alone: no connector section is known */
	cfg = load_with(MIN_OK, NULL, err, sizeof(err));
	if (!cfg)
		fail_msg("%s", err);
	assert_null(mqb_config_section(cfg, "mqtt"));
	assert_false(mqb_config_section_present(cfg, "mqtt"));
	mqb_config_free(cfg);
	assert_null(load_with(MIN_OK "mqtt = { };\n", NULL, err, sizeof(err)));
	assert_string_equal(err, "t.conf:3: mqtt: unknown key");

	/* an absent section holds its defaults; its check runs anyway */
	cfg = load_with(MIN_OK, own, err, sizeof(err));
	if (!cfg)
		fail_msg("%s", err);
	t = mqb_config_section(cfg, "amqp");
	assert_non_null(t);
	assert_false(mqb_config_section_present(cfg, "amqp"));
	assert_int_equal(t->port, 5);
	assert_string_equal(t->name, "x");
	assert_string_equal(t->extra, "checked");
	assert_int_equal(t->line, 0);
	mqb_config_free(cfg);

	cfg = load_with(MIN_OK "amqp = { port = 3; name = \"y\"; };\n", own, err, sizeof(err));
	if (!cfg)
		fail_msg("%s", err);
	t = mqb_config_section(cfg, "amqp");
	assert_true(mqb_config_section_present(cfg, "amqp"));
	assert_int_equal(t->port, 3);
	assert_string_equal(t->name, "y");
	assert_int_equal(t->line, 3);
	mqb_config_free(cfg);

	/* the section's errors keep file:line and key; suggestions span every section */
	assert_null(load_with(MIN_OK "amqp = { port = 10; };\n", own, err, sizeof(err)));
	assert_string_equal(err, "t.conf:3: amqp.port: must be between 1 and 9 (got 10)");
	assert_null(load_with(MIN_OK "amqp = {\n port = 7; };\n", own, err, sizeof(err)));
	assert_string_equal(err, "t.conf:4: amqp.port: 1 streams is not 7 (got 7)");
	assert_null(load_with(MIN_OK "amqp = { prot = 1; };\n", own, err, sizeof(err)));
	assert_string_equal(err, "t.conf:3: amqp.prot: unknown key (did you mean \"port\"?)");
	assert_null(load_with(MIN_OK "amqb = { };\n", own, err, sizeof(err)));
	assert_string_equal(err, "t.conf:3: amqb: unknown key (did you mean \"amqp\"?)");
	assert_null(load_with(MIN_OK "data_dri = \"/x\";\n", own, err, sizeof(err)));
	assert_string_equal(err, "t.conf:3: data_dri: unknown key (did you mean \"data_dir\"?)");
	assert_null(load_with(MIN_OK, twice, err, sizeof(err)));
	assert_string_equal(err, "t.conf: internal: configuration section \"amqp\" registered "
			    "twice");

	/* the daemon's sections: present only when the file has the group */
	cfg = load(MIN_OK "mqtt = { };\n", err, sizeof(err));
	if (!cfg)
		fail_msg("%s", err);
	assert_true(mqb_config_section_present(cfg, "mqtt"));
	assert_false(mqb_config_section_present(cfg, "kafka"));
	assert_ptr_equal(mqb_config_section(cfg, "mqtt"), mqb_mqtt_conf(cfg));
	assert_ptr_equal(mqb_config_section(cfg, "kafka"), mqb_kafka_conf(cfg));
	mqb_config_free(cfg);
}

static void test_files(void **state)
{
	char dir[] = "/tmp/mqb-test-config-XXXXXX";
	char path[PATH_MAX], pw[PATH_MAX], text[PATH_MAX * 3], err[PATH_MAX * 2];
	mqb_config_t *cfg;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(pw, sizeof(pw), "%s/password", dir);
	f = fopen(pw, "w");
	assert_non_null(f);
	fputs("secret\n", f);
	fclose(f);

	/* readable password file: loads; the message names the real file */
	snprintf(path, sizeof(path), "%s/m.conf", dir);
	snprintf(text, sizeof(text), MIN_OK "mqtt = { username = \"u\";\n"
		 "  password_file = \"%s\"; };\n", pw);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	cfg = mqb_config_load(path, mqb_test_sections(), err, sizeof(err));
	if (!cfg)
		fail_msg("%s", err);
	assert_string_equal(mqb_mqtt_conf(cfg)->password_file, pw);
	assert_string_equal(cfg->path, path);
	mqb_config_free(cfg);

	/* unreadable (missing) password file */
	snprintf(text, sizeof(text), MIN_OK "mqtt = { username = \"u\";\n"
		 "  password_file = \"%s/missing\"; };\n", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	cfg = mqb_config_load(path, mqb_test_sections(), err, sizeof(err));
	assert_null(cfg);
	snprintf(text, sizeof(text), "%s:4: mqtt.password_file: cannot read file: No such file "
		 "or directory (got \"%s/missing\")", path, dir);
	assert_string_equal(err, text);

	/* a directory where a file is expected; a file where a directory is */
	snprintf(text, sizeof(text), MIN_OK "mqtt = { cafile = \"%s\"; };\n", dir);
	expect_error_prefix(text, "t.conf:3: mqtt.cafile: is a directory, not a file");
	snprintf(text, sizeof(text), MIN_OK "mqtt = { capath = \"%s\"; };\n", pw);
	expect_error_prefix(text, "t.conf:3: mqtt.capath: not a directory");

	/* syntax errors name the file */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("data_dir = \"/x\";\n\nmqtt = { port = ; };\n", f);
	fclose(f);
	cfg = mqb_config_load(path, mqb_test_sections(), err, sizeof(err));
	assert_null(cfg);
	snprintf(text, sizeof(text), "%s:3: syntax error", path);
	assert_string_equal(err, text);

	/* a binary file (NUL byte) is refused before libconfig sees it */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(MIN_OK, f);
	fputc('\0', f);
	fputs("junk", f);
	fclose(f);
	cfg = mqb_config_load(path, mqb_test_sections(), err, sizeof(err));
	assert_null(cfg);
	snprintf(text, sizeof(text), "%s: contains a NUL byte: not a text file", path);
	assert_string_equal(err, text);

	/* a file that does not exist */
	snprintf(path, sizeof(path), "%s/none.conf", dir);
	cfg = mqb_config_load(path, mqb_test_sections(), err, sizeof(err));
	assert_null(cfg);
	snprintf(text, sizeof(text), "%s: cannot read the file", path);
	assert_int_equal(strncmp(err, text, strlen(text)), 0);

	/* @include is resolved next to the including file, errors name the included file */
	snprintf(path, sizeof(path), "%s/routes.inc", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("routes = (\n  { filter = \"a\"; stream = \"s\"; qos = 7; } );\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/main.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("streams = ( { name = \"s\"; } );\n@include \"routes.inc\"\n", f);
	fclose(f);
	cfg = mqb_config_load(path, mqb_test_sections(), err, sizeof(err));
	assert_null(cfg);
	snprintf(text, sizeof(text), "%s/routes.inc:2: routes.[0].qos: must be between 0 and 2 "
		 "(got 7)", dir);
	assert_string_equal(err, text);

	unlink(path);
	snprintf(path, sizeof(path), "%s/routes.inc", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/m.conf", dir);
	unlink(path);
	unlink(pw);
	assert_int_equal(rmdir(dir), 0);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Issue 14 §7: what libconfig would take wrongly, and what --check-config passed but
 * start-up refused, is a FILE:LINE error naming what was written. */
static void test_gaps(void **state)
{
	char dir[] = "/tmp/mqb-test-gaps-XXXXXX";
	char path[PATH_MAX], inc[PATH_MAX], text[PATH_MAX * 3], want[PATH_MAX * 3];
	char err[PATH_MAX * 2];
	mqb_config_t *cfg;

	(void)state;
	/* an escaped NUL would cut the string ("/var/d\x00y" read as "/var/d") */
	expect_error("data_dir = \"/var/d\\x00y\";\n" MIN_OK,
		     "t.conf:1: string contains \\x00, a NUL byte, which would cut the "
		     "string short there");
	expect_error(MIN_OK "mqtt = { client_id = \"a\";\n  topic_prefix = \"x\\x00\"; };\n",
		     "t.conf:4: string contains \\x00, a NUL byte, which would cut the "
		     "string short there");
	/* other escapes and a literal backslash before x00 are fine */
	cfg = load("data_dir = \"/tmp/a\\\\x00\\x41\";\n" MIN_OK, err, sizeof(err));
	if (!cfg)
		fail_msg("%s", err);
	assert_string_equal(cfg->data_dir, "/tmp/a\\x00A");
	mqb_config_free(cfg);

	/* an L literal beyond 64 bits: named as written, not as libconfig's saturated value */
	expect_error(MIN_OK "mqtt = { port = 99999999999999999999L; };\n",
		     "t.conf:3: integer 99999999999999999999L does not fit in 64 bits "
		     "(-9223372036854775808..9223372036854775807)");
	expect_error(MIN_OK "mqtt = { port = 9223372036854775808L; };\n",
		     "t.conf:3: integer 9223372036854775808L does not fit in 64 bits "
		     "(-9223372036854775808..9223372036854775807)");
	expect_error(MIN_OK "mqtt = { port = -9223372036854775809L; };\n",
		     "t.conf:3: integer -9223372036854775809L does not fit in 64 bits "
		     "(-9223372036854775808..9223372036854775807)");
	expect_error(MIN_OK "mqtt = { port = 0x1FFFFFFFFFFFFFFFFL; };\n",
		     "t.conf:3: integer 0x1FFFFFFFFFFFFFFFFL does not fit in 64 bits "
		     "(-9223372036854775808..9223372036854775807)");
	/* the largest one still reaches the range check with its own value */
	expect_error(MIN_OK "mqtt = { port = 9223372036854775807L; };\n",
		     "t.conf:3: mqtt.port: must be between 1 and 65535 (got 9223372036854775807)");
	expect_error(MIN_OK "mqtt = { port = 000000000000000000001883L; keepalive = 2; };\n",
		     "t.conf:3: mqtt.keepalive: must be between 5 and 65535 (got 2)");

	assert_non_null(mkdtemp(dir));
	/* data_dir that is a regular file, or under one */
	snprintf(inc, sizeof(inc), "%s/file", dir);
	write_text(inc, "x\n");
	snprintf(text, sizeof(text), MIN_OK "\ndata_dir = \"%s\";\n", inc);
	snprintf(want, sizeof(want), "t.conf:4: data_dir: exists and is not a directory "
		 "(got \"%s\")", inc);
	expect_error(text, want);
	snprintf(text, sizeof(text), "data_dir = \"%s/sub\";\n" MIN_OK, inc);
	snprintf(want, sizeof(want), "t.conf:1: data_dir: a component of the path is not a "
		 "directory (got \"%s/sub\")", inc);
	expect_error(text, want);
	/* a directory, or one yet to be created, is fine */
	snprintf(text, sizeof(text), "data_dir = \"%s/new\";\n" MIN_OK, dir);
	cfg = load(text, err, sizeof(err));
	if (!cfg)
		fail_msg("%s", err);
	mqb_config_free(cfg);

	/* a file that includes itself, and a cycle through another file */
	snprintf(path, sizeof(path), "%s/self.conf", dir);
	write_text(path, MIN_OK "# a comment\n@include \"self.conf\"\n");
	cfg = mqb_config_load(path, mqb_test_sections(), err, sizeof(err));
	assert_null(cfg);
	snprintf(want, sizeof(want), "%s:4: @include \"self.conf\": include cycle "
		 "(%s -> self.conf)", path, path);
	assert_string_equal(err, want);

	snprintf(path, sizeof(path), "%s/b.inc", dir);
	write_text(path, "\n  @include \"main.conf\"\n");
	snprintf(path, sizeof(path), "%s/main.conf", dir);
	write_text(path, MIN_OK "@include \"b.inc\"\n");
	cfg = mqb_config_load(path, mqb_test_sections(), err, sizeof(err));
	assert_null(cfg);
	snprintf(want, sizeof(want), "%s/b.inc:2: @include \"main.conf\": include cycle "
		 "(%s -> b.inc -> main.conf)", dir, path);
	assert_string_equal(err, want);

	/* included files get the same literal checks */
	snprintf(path, sizeof(path), "%s/b.inc", dir);
	write_text(path, "mqtt = {\n  session_expiry_s = 4294967295; };\n");
	snprintf(path, sizeof(path), "%s/main.conf", dir);
	cfg = mqb_config_load(path, mqb_test_sections(), err, sizeof(err));
	assert_null(cfg);
	snprintf(want, sizeof(want), "%s/b.inc:2: integer 4294967295 does not fit in 32 bits: "
		 "write 4294967295L", dir);
	assert_string_equal(err, want);

	/* an include that names a directory: reported where it is named, with the reason
	 * (found by fuzz_config: the message named "/" instead of the including file) */
	snprintf(path, sizeof(path), "%s/sub.d", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/main.conf", dir);
	write_text(path, MIN_OK "@include \"sub.d\"\n");
	cfg = mqb_config_load(path, mqb_test_sections(), err, sizeof(err));
	assert_null(cfg);
	snprintf(want, sizeof(want), "%s:3: @include \"sub.d\": %s/sub.d: cannot read the "
		 "file: Is a directory", path, dir);
	assert_string_equal(err, want);

	/* an include of the same file twice, not nested, is no cycle */
	snprintf(path, sizeof(path), "%s/b.inc", dir);
	write_text(path, "# nothing\n");
	snprintf(path, sizeof(path), "%s/main.conf", dir);
	write_text(path, MIN_OK "@include \"b.inc\"\n@include \"b.inc\"\n");
	cfg = mqb_config_load(path, mqb_test_sections(), err, sizeof(err));
	if (!cfg)
		fail_msg("%s", err);
	mqb_config_free(cfg);

	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	assert_int_equal(system(path), 0);
}

/* Every file shipped in conf/ and conf/examples/ must load. */
static void test_shipped_files(void **state)
{
	const char *src = getenv("MQB_SOURCE_DIR");
	const char *sub[] = { "conf", "conf/examples" };
	int loaded = 0;

	(void)state;
	if (!src)
		src = ".";
	for (size_t i = 0; i < 2; i++) {
		char d[PATH_MAX];
		DIR *dh;
		struct dirent *de;

		snprintf(d, sizeof(d), "%s/%s", src, sub[i]);
		dh = opendir(d);
		if (!dh)
			fail_msg("cannot open %s (is MQB_SOURCE_DIR set?)", d);
		while ((de = readdir(dh))) {
			char p[PATH_MAX + 300], err[1024];
			size_t n = strlen(de->d_name);
			mqb_config_t *cfg;

			if (n < 6 || strcmp(de->d_name + n - 5, ".conf") != 0)
				continue;
			snprintf(p, sizeof(p), "%s/%s", d, de->d_name);
			cfg = mqb_config_load(p, mqb_test_sections(), err, sizeof(err));
			if (!cfg)
				fail_msg("%s", err);
			assert_true(cfg->streams_count > 0);
			assert_true(cfg->routes_count > 0);
			mqb_config_free(cfg);
			loaded++;
		}
		closedir(dh);
	}
	assert_true(loaded >= 3);
}

/* docs/CONFIG.md embeds the reference generated from the tables, verbatim. */
static void test_reference_doc(void **state)
{
	const char *src = getenv("MQB_SOURCE_DIR");
	char path[PATH_MAX], *gen = NULL, *doc;
	size_t genlen = 0;
	FILE *f, *mem;
	long n;

	(void)state;
	mem = open_memstream(&gen, &genlen);
	assert_non_null(mem);
	assert_int_equal(mqb_config_write_reference(mem, mqb_test_sections()), 0);
	fclose(mem);
	assert_non_null(strstr(gen, "| `streams[].partitions` | integer | `1` | 1..10000 |"));

	snprintf(path, sizeof(path), "%s/docs/CONFIG.md", src ? src : ".");
	f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	doc = calloc(1, (size_t)n + 1);
	assert_non_null(doc);
	assert_int_equal(fread(doc, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	if (!strstr(doc, gen)) {
		const char *bd = getenv("MQB_BUILD_DIR");
		char out[PATH_MAX];

		snprintf(out, sizeof(out), "%s/config-reference.md", bd ? bd : ".");
		f = fopen(out, "w");
		if (f) {
			fputs(gen, f);
			fclose(f);
		}
		fail_msg("docs/CONFIG.md does not contain the generated reference: paste %s "
			 "between its GENERATED REFERENCE markers", out);
	}
	free(doc);
	free(gen);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_int_literals_ok),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_type_errors),
		cmocka_unit_test(test_range_errors),
		cmocka_unit_test(test_required_and_empty),
		cmocka_unit_test(test_cross_field),
		cmocka_unit_test(test_sections),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_gaps),
		cmocka_unit_test(test_shipped_files),
		cmocka_unit_test(test_reference_doc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
