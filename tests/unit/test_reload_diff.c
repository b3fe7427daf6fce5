/*
 * test_reload_diff.c — bridge/daemon/reload_diff.c: which changes between two
 * configuration files a SIGHUP reload applies live (routes, new streams, log_level)
 * and which need a restart, each named by its key path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

/* the daemon's file, compiled in here (it is part of the mqbridged executable only) */
#include "bridge/daemon/reload_diff.c"

#define BASE \
	"data_dir = \"/tmp/x\";\n" \
	"log_level = \"info\";\n" \
	"mqtt = { host = \"127.0.0.1\"; port = 1883; };\n" \
	"streams = ( { name = \"a\"; partitions = 2; } );\n" \
	"routes = ( { filter = \"a/#\"; stream = \"a\"; key = \"{1}\"; } );\n"

static mqb_reload_diff_t diff(const char *old_text, const char *new_text)
{
	config_t a, b;
	mqb_reload_diff_t d;

	config_init(&a);
	config_init(&b);
	assert_int_equal(config_read_string(&a, old_text), CONFIG_TRUE);
	assert_int_equal(config_read_string(&b, new_text), CONFIG_TRUE);
	assert_int_equal(mqb_reload_diff(&a, &b, &d), 0);
	config_destroy(&a);
	config_destroy(&b);
	return d;
}

static bool has(const mqb_reload_diff_t *d, const char *key)
{
	for (size_t i = 0; i < d->nrestart; i++)
		if (strcmp(d->restart[i], key) == 0)
			return true;
	return false;
}

static void test_same(void **state)
{
	mqb_reload_diff_t d = diff(BASE, BASE);

	(void)state;
	assert_int_equal(d.nrestart, 0);
	assert_false(d.routes);
	assert_false(d.log_level);
	assert_int_equal(d.nnew_streams, 0);
	mqb_reload_diff_free(&d);
}

static void test_live(void **state)
{
	mqb_reload_diff_t d = diff(BASE,
		"data_dir = \"/tmp/x\";\n"
		"log_level = \"debug\";\n"
		"mqtt = { host = \"127.0.0.1\"; port = 1883; };\n"
		"streams = ( { name = \"a\"; partitions = 2; }, { name = \"b\"; } );\n"
		"routes = ( { filter = \"a/#\"; stream = \"a\"; key = \"k{1}\"; qos = 2; },\n"
		"           { filter = \"b/#\"; stream = \"b\"; } );\n");

	(void)state;
	assert_int_equal(d.nrestart, 0);
	assert_true(d.routes);
	assert_true(d.log_level);
	assert_int_equal(d.nnew_streams, 1);
	assert_string_equal(d.new_streams[0], "b");
	mqb_reload_diff_free(&d);
}

static void test_restart(void **state)
{
	mqb_reload_diff_t d = diff(BASE "groups = ( { name = \"g\"; stream = \"a\"; } );\n",
		"data_dir = \"/tmp/y\";\n"
		"log_level = \"info\";\n"
		"mqtt = { host = \"127.0.0.1\"; port = 1884; keepalive = 30; };\n"
		"streams = ( { name = \"a\"; partitions = 4; } );\n"
		"routes = ( { filter = \"a/#\"; stream = \"a\"; key = \"{1}\"; } );\n"
		"kafka = { enabled = true; };\n");

	(void)state;
	assert_true(has(&d, "data_dir"));
	assert_true(has(&d, "mqtt.port"));
	assert_true(has(&d, "mqtt.keepalive"));            /* added */
	assert_false(has(&d, "streams.a.partitions"));     /* more partitions: live */
	assert_int_equal(d.ngrown_streams, 1);
	assert_string_equal(d.grown_streams[0], "a");
	assert_false(has(&d, "groups"));                   /* removed: live */
	assert_true(d.groups);
	assert_true(has(&d, "kafka"));                     /* added */
	assert_int_equal(d.nrestart, 4);
	assert_false(d.routes);
	mqb_reload_diff_free(&d);

	/* a stream removed needs a restart; an int written as 64-bit is the same value */
	d = diff(BASE, "data_dir = \"/tmp/x\"; log_level = \"info\";\n"
		 "mqtt = { host = \"127.0.0.1\"; port = 1883L; };\n"
		 "streams = ( );\n"
		 "routes = ( { filter = \"a/#\"; stream = \"a\"; key = \"{1}\"; } );\n");
	assert_true(has(&d, "streams.a"));
	assert_int_equal(d.nrestart, 1);
	mqb_reload_diff_free(&d);

	/* fewer partitions need a restart (the store cannot shrink a stream); more
	 * partitions with another change of the same stream: only that change does; the
	 * key added with more than the default 1 is more partitions */
	d = diff(BASE, "data_dir = \"/tmp/x\"; log_level = \"info\";\n"
		 "mqtt = { host = \"127.0.0.1\"; port = 1883; };\n"
		 "streams = ( { name = \"a\"; partitions = 1; } );\n"
		 "routes = ( { filter = \"a/#\"; stream = \"a\"; key = \"{1}\"; } );\n");
	assert_true(has(&d, "streams.a.partitions"));
	assert_int_equal(d.ngrown_streams, 0);
	mqb_reload_diff_free(&d);
	d = diff(BASE, "data_dir = \"/tmp/x\"; log_level = \"info\";\n"
		 "mqtt = { host = \"127.0.0.1\"; port = 1883; };\n"
		 "streams = ( { name = \"a\"; partitions = 3L; retention_ms = 5; } );\n"
		 "routes = ( { filter = \"a/#\"; stream = \"a\"; key = \"{1}\"; } );\n");
	assert_true(has(&d, "streams.a.retention_ms"));
	assert_int_equal(d.nrestart, 1);
	assert_int_equal(d.ngrown_streams, 1);
	mqb_reload_diff_free(&d);
	d = diff("streams = ( { name = \"b\"; } );\n",
		 "streams = ( { name = \"b\"; partitions = 2; } );\n");
	assert_int_equal(d.nrestart, 0);
	assert_int_equal(d.ngrown_streams, 1);
	mqb_reload_diff_free(&d);
}

#define GROUPS(body) BASE "groups = ( " body " );\n"

static void test_groups(void **state)
{
	mqb_reload_diff_t d;

	(void)state;
	/* added, removed: live */
	d = diff(GROUPS("{ name = \"g\"; stream = \"a\"; }"), BASE);
	assert_true(d.groups);
	assert_int_equal(d.nrestart, 0);
	mqb_reload_diff_free(&d);
	d = diff(BASE, GROUPS("{ name = \"g\"; stream = \"a\"; }"));
	assert_true(d.groups);
	assert_int_equal(d.nrestart, 0);
	mqb_reload_diff_free(&d);
	/* the same group listed in another order: no change */
	d = diff(GROUPS("{ name = \"h\"; stream = \"a\"; }, { name = \"g\"; stream = \"a\"; }"),
		 GROUPS("{ name = \"g\"; stream = \"a\"; }, { name = \"h\"; stream = \"a\"; }"));
	assert_false(d.groups);
	assert_int_equal(d.nrestart, 0);
	mqb_reload_diff_free(&d);
	/* live keys changed, added or dropped back to their default */
	d = diff(GROUPS("{ name = \"g\"; stream = \"a\"; prefetch = 10; }"),
		 GROUPS("{ name = \"g\"; stream = \"a\"; prefetch = 20; ack_timeout_ms = 500; "
			"session_timeout_ms = 3000; max_deliveries = 2; }"));
	assert_true(d.groups);
	assert_int_equal(d.nrestart, 0);
	mqb_reload_diff_free(&d);
	d = diff(GROUPS("{ name = \"g\"; stream = \"a\"; prefetch = 10; }"),
		 GROUPS("{ name = \"g\"; stream = \"a\"; }"));
	assert_true(d.groups);
	assert_int_equal(d.nrestart, 0);
	mqb_reload_diff_free(&d);
	/* the keys fixed at build: named per group */
	d = diff(GROUPS("{ name = \"g\"; stream = \"a\"; prefetch = 10; }"),
		 GROUPS("{ name = \"g\"; stream = \"b\"; mode = \"shared\"; prefetch = 10; }"));
	assert_true(has(&d, "groups.g.stream"));
	assert_true(has(&d, "groups.g.mode"));
	assert_int_equal(d.nrestart, 2);
	assert_false(d.groups);
	mqb_reload_diff_free(&d);
	d = diff(GROUPS("{ name = \"g\"; stream = \"a\"; assignor = \"range\"; }"),
		 GROUPS("{ name = \"g\"; stream = \"a\"; start = \"latest\"; }"));
	assert_true(has(&d, "groups.g.assignor"));         /* dropped */
	assert_true(has(&d, "groups.g.start"));            /* added */
	assert_int_equal(d.nrestart, 2);
	mqb_reload_diff_free(&d);
}

#define KAFKA(props, fwd) \
	BASE "kafka = { bootstrap_servers = \"k:9092\"; " props " forward = ( " fwd " ); };\n"

/* kafka.forward (entries added, removed, a topic changed) is live; every other kafka
 * key (connection, producer properties) and removing the section need a restart */
static void test_kafka_forward(void **state)
{
	const char *one = KAFKA("", "{ stream = \"a\"; topic = \"t\"; }");
	mqb_reload_diff_t d;

	(void)state;
	d = diff(one, KAFKA("", "{ stream = \"a\"; topic = \"t\"; }, { stream = \"b\"; topic = \"u\"; }"));
	assert_int_equal(d.nrestart, 0);
	assert_true(d.kafka_forward);
	mqb_reload_diff_free(&d);
	d = diff(one, KAFKA("", "{ stream = \"a\"; topic = \"t2\"; }"));
	assert_int_equal(d.nrestart, 0);
	assert_true(d.kafka_forward);
	mqb_reload_diff_free(&d);
	d = diff(one, BASE "kafka = { bootstrap_servers = \"k:9092\"; };\n");   /* list gone */
	assert_int_equal(d.nrestart, 0);
	assert_true(d.kafka_forward);
	mqb_reload_diff_free(&d);
	d = diff(one, one);
	assert_false(d.kafka_forward);
	mqb_reload_diff_free(&d);
	/* a topic change beside a producer property: only the property needs a restart */
	d = diff(one, KAFKA("properties = ( (\"linger.ms\", \"50\") );",
			    "{ stream = \"a\"; topic = \"t2\"; }"));
	assert_int_equal(d.nrestart, 1);
	assert_true(has(&d, "kafka.properties"));
	mqb_reload_diff_free(&d);
	d = diff(one, BASE);
	assert_true(has(&d, "kafka"));
	mqb_reload_diff_free(&d);
	d = diff(KAFKA("block_on_backlog = true;", "{ stream = \"a\"; topic = \"t\"; }"), one);
	assert_true(has(&d, "kafka.block_on_backlog"));
	assert_false(d.kafka_forward);
	mqb_reload_diff_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same),
		cmocka_unit_test(test_live),
		cmocka_unit_test(test_restart),
		cmocka_unit_test(test_groups),
		cmocka_unit_test(test_kafka_forward),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
