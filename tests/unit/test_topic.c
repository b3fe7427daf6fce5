/*
 * test_topic.c — MQTT topic filter / name validation and matching, against the
 * examples of MQTT 3.1.1 and 5.0 section 4.7, plus UTF-8 and length edge cases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "bridge/err.h"
#include "bridge/text.h"
#include "bridge/ingest/topic.h"

static void match(const char *filter, const char *topic)
{
	if (!mqb_topic_matches(filter, topic))
		fail_msg("\"%s\" should match \"%s\"", filter, topic);
}

static void nomatch(const char *filter, const char *topic)
{
	if (mqb_topic_matches(filter, topic))
		fail_msg("\"%s\" should not match \"%s\"", filter, topic);
}

/* 4.7.1.2 multi-level wildcard */
static void test_spec_hash(void **state)
{
	(void)state;
	match("sport/tennis/player1/#", "sport/tennis/player1");
	match("sport/tennis/player1/#", "sport/tennis/player1/ranking");
	match("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon");
	nomatch("sport/tennis/player1/#", "sport/tennis/player2");
	nomatch("sport/tennis/player1/#", "sport/tennis");
	match("sport/#", "sport");                 /* '#' includes the parent level */
	match("sport/#", "sport/");
	match("#", "sport/tennis/player1");
	match("#", "/");
	match("#", "a");

	assert_true(mqb_topic_filter_valid("#"));
	assert_true(mqb_topic_filter_valid("sport/tennis/#"));
	assert_false(mqb_topic_filter_valid("sport/tennis#"));
	assert_false(mqb_topic_filter_valid("sport/tennis/#/ranking"));
	assert_false(mqb_topic_filter_valid("#/"));
	assert_false(mqb_topic_filter_valid("##"));
}

/* 4.7.1.3 single-level wildcard */
static void test_spec_plus(void **state)
{
	(void)state;
	match("sport/tennis/+", "sport/tennis/player1");
	match("sport/tennis/+", "sport/tennis/player2");
	nomatch("sport/tennis/+", "sport/tennis/player1/ranking");
	nomatch("sport/+", "sport");
	match("sport/+", "sport/");                /* '+' matches an empty level */
	match("+/+", "/finance");
	match("/+", "/finance");
	nomatch("+", "/finance");
	match("+", "finance");
	match("+/tennis/#", "sport/tennis/player1");
	match("+/tennis/#", "sport/tennis");
	match("sport/+/player1", "sport/tennis/player1");
	nomatch("sport/+/player1", "sport/tennis/player2");
	match("+/+/+", "//");
	nomatch("+/+/+", "/");
	match("a/+/c", "a//c");

	assert_true(mqb_topic_filter_valid("+"));
	assert_true(mqb_topic_filter_valid("+/tennis/#"));
	assert_true(mqb_topic_filter_valid("sport/+/player1"));
	assert_true(mqb_topic_filter_valid("/+"));
	assert_true(mqb_topic_filter_valid("+/+"));
	assert_false(mqb_topic_filter_valid("sport+"));
	assert_false(mqb_topic_filter_valid("sport/+x"));
	assert_false(mqb_topic_filter_valid("x+/a"));
	assert_false(mqb_topic_filter_valid("++"));
}

/* 4.7.2 topics beginning with '$' */
static void test_spec_dollar(void **state)
{
	(void)state;
	nomatch("#", "$SYS/broker/clients");
	nomatch("+/monitor/Clients", "$SYS/monitor/Clients");
	match("$SYS/#", "$SYS/monitor/Clients");
	match("$SYS/monitor/+", "$SYS/monitor/Clients");
	match("$SYS/#", "$SYS");
	nomatch("+", "$SYS");
	match("$share", "$share");
	/* '$' elsewhere than at the start is an ordinary character */
	match("#", "a/$SYS");
	match("+/+", "a/$b");
}

/* 4.7.3 topic semantics: case, spaces, leading '/', exact levels */
static void test_spec_semantics(void **state)
{
	(void)state;
	nomatch("ACCOUNTS", "Accounts");
	nomatch("Accounts", "ACCOUNTS");
	match("Accounts payable", "Accounts payable");
	nomatch("finance", "/finance");
	nomatch("/finance", "finance");
	match("/finance", "/finance");
	match("a/b/c", "a/b/c");
	nomatch("a/b/c", "a/b");
	nomatch("a/b", "a/b/c");
	nomatch("a/b", "a/bc");
	nomatch("a/bc", "a/b");
	nomatch("a/b/", "a/b");
	match("a/b/", "a/b/");
	match("a/b/#", "a/b/");
	match("\xc3\xa9t\xc3\xa9/+", "\xc3\xa9t\xc3\xa9/x");   /* UTF-8 levels */
}

static void test_validity(void **state)
{
	char *big;
	const char *why = NULL;

	(void)state;
	assert_false(mqb_topic_filter_valid(""));
	assert_false(mqb_topic_filter_valid(NULL));
	assert_false(mqb_topic_name_valid(""));
	assert_true(mqb_topic_filter_valid("/"));
	assert_true(mqb_topic_filter_valid("a//b"));
	assert_true(mqb_topic_name_valid("/"));
	assert_true(mqb_topic_name_valid("sport/tennis"));
	assert_false(mqb_topic_name_valid("sport/+"));
	assert_false(mqb_topic_name_valid("sport/#"));
	assert_false(mqb_topic_name_valid("a+b"));       /* wildcards never in names */

	assert_int_equal(mqb_topic_filter_check("a/#/b", &why), MQB_ERR_INVAL);
	assert_string_equal(why, "'#' must be the last topic level");
	mqb_topic_filter_check("a/b+", &why);
	assert_string_equal(why, "'+' must occupy a whole topic level");
	mqb_topic_name_check("a/+", &why);
	assert_string_equal(why, "a topic name must not contain '+' or '#'");

	/* UTF-8: well-formed only */
	assert_true(mqb_topic_name_valid("caf\xc3\xa9"));
	assert_true(mqb_topic_name_valid("\xf0\x9f\x98\x80"));          /* U+1F600 */
	assert_false(mqb_topic_name_valid("a\xff"));
	assert_false(mqb_topic_name_valid("\xc0\xaf"));                 /* overlong '/' */
	assert_false(mqb_topic_name_valid("\xe0\x80\xaf"));             /* overlong '/' */
	assert_false(mqb_topic_name_valid("\xed\xa0\x80"));             /* surrogate */
	assert_false(mqb_topic_name_valid("\xf4\x90\x80\x80"));         /* > U+10FFFF */
	assert_false(mqb_topic_name_valid("\xc3"));                     /* truncated */
	assert_false(mqb_topic_filter_valid("a/\x80"));                 /* lone continuation */
	mqb_topic_filter_check("a/\xc3", &why);
	assert_string_equal(why, "not valid UTF-8");
	assert_false(mqb_utf8_valid("a\0b", 3));                        /* U+0000 */

	/* length: 65535 bytes is the limit */
	big = malloc(65537);
	assert_non_null(big);
	memset(big, 'a', 65535);
	big[65535] = '\0';
	assert_true(mqb_topic_name_valid(big));
	assert_true(mqb_topic_filter_valid(big));
	big[65535] = 'a';
	big[65536] = '\0';
	assert_false(mqb_topic_name_valid(big));
	mqb_topic_filter_check(big, &why);
	assert_string_equal(why, "longer than 65535 bytes");
	free(big);

	assert_int_equal(mqb_topic_levels("a"), 1);
	assert_int_equal(mqb_topic_levels("a/b/c"), 3);
	assert_int_equal(mqb_topic_levels("/"), 2);
	assert_int_equal(mqb_topic_levels("a/"), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_hash),
		cmocka_unit_test(test_spec_plus),
		cmocka_unit_test(test_spec_dollar),
		cmocka_unit_test(test_spec_semantics),
		cmocka_unit_test(test_validity),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
