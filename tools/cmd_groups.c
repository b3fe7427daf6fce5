/*
 * cmd_groups.c — `mqbridge groups list|describe|reset`.
 *
 * list and describe ask the running daemon (GET /groups, GET /groups/<g> on its stats
 * endpoint, --url, default http://127.0.0.1:9883); Kafka groups (kafka_api, kind
 * "kafka") are listed beside mqbridge's and described in their own layout, and reset
 * rewrites their committed offsets (data_dir/__groups/kafka/<g>.offsets). reset works on the data directory
 * while mqbridged is stopped: the stats endpoint is read-only by design, and a group
 * whose daemon is stopped has no members, which is when Kafka allows a reset too. If
 * the daemon runs, the store's lock refuses the reset and the message says why.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bridge/clock.h"
#include "bridge/config.h"
#include "bridge/err.h"
#include "bridge/groups/client_offsets.h"
#include "bridge/groups/coordinator.h"
#include "bridge/groups/offsets.h"
#include "bridge/store/store.h"
#include "tools/cli.h"


#define USAGE \
	"mqbridge groups list [--url http://127.0.0.1:9883] [--json]\n" \
	"       mqbridge groups describe GROUP [--url URL] [--json]\n" \
	"       mqbridge groups reset -c mqbridged.conf --group G\n" \
	"                             --to earliest|latest|offset:N|timestamp:MS"


static cJSON *get_json(const char *url, const char *path, int *status)
{
	char *body = NULL;
	cJSON *doc = NULL;

	*status = mqb_cli_http_get(url, path, &body);
	if (*status < 0)
		return NULL;
	doc = cJSON_Parse(body);
	if (!doc)
		mqb_cli_error("%s%s: HTTP %d, not JSON: %.200s", url, path, *status, body);
	free(body);
	return doc;
}

static double num(cJSON *o, const char *k)
{
	return cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static const char *str(cJSON *o, const char *k)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
	return s ? s : "-";
}

static void print_ints(cJSON *a)
{
	cJSON *e;
	int first = 1;
	putchar('[');
	cJSON_ArrayForEach(e, a) {
		printf("%s%d", first ? "" : ",", e->valueint);
		first = 0;
	}
	putchar(']');
}

static int cmd_list(const char *url, bool json)
{
	int status;
	cJSON *doc = get_json(url, "/groups", &status);

	if (!doc)
		return MQB_CLI_FAIL;
	if (status != 200) {
		mqb_cli_error("HTTP %d: %s", status, str(doc, "error"));
		cJSON_Delete(doc);
		return MQB_CLI_FAIL;
	}
	if (json) {
		char *s = cJSON_Print(doc);
		puts(s);
		free(s);
	} else {
		cJSON *g;
		printf("%-24s %-9s %-20s %-9s %-11s %10s %7s %12s\n", "GROUP", "KIND", "STREAM",
		       "MODE", "STATE", "GENERATION", "MEMBERS", "LAG");
		cJSON_ArrayForEach(g, cJSON_GetObjectItem(doc, "groups"))
			printf("%-24s %-9s %-20s %-9s %-11s %10.0f %7.0f %12.0f\n", str(g, "name"),
			       str(g, "kind"), str(g, "stream"), str(g, "mode"), str(g, "state"),
			       num(g, "generation"), num(g, "members"), num(g, "lag"));
	}
	cJSON_Delete(doc);
	return MQB_CLI_OK;
}

/* A Kafka group (kafka_api): its members chose the assignment, the broker keeps the
 * committed offsets. */
static int describe_kafka(cJSON *doc)
{
	cJSON *e;

	printf("group %s  kind kafka  protocol %s/%s  leader %s\n", str(doc, "name"),
	       str(doc, "protocol_type"), str(doc, "assignor"), str(doc, "leader"));
	printf("state %s  generation %.0f  rebalances %.0f  commits %.0f  lag %.0f\n\n",
	       str(doc, "state"), num(doc, "generation"), num(doc, "rebalances"),
	       num(doc, "commits"), num(doc, "lag"));
	printf("%-40s %-16s %-16s %-15s  %s\n", "MEMBER", "INSTANCE", "CLIENT", "HOST",
	       "ASSIGNED");
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(doc, "members")) {
		cJSON *t;
		printf("%-40s %-16s %-16s %-15s ", str(e, "member_id"), str(e, "instance_id"),
		       str(e, "client_id"), str(e, "client_host"));
		cJSON_ArrayForEach(t, cJSON_GetObjectItem(e, "assignment")) {
			printf(" %s", t->string);
			print_ints(t);
		}
		putchar('\n');
	}
	printf("\n%-24s %9s %12s %12s %10s\n", "STREAM", "PARTITION", "COMMITTED", "LOG-END",
	       "LAG");
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(doc, "partitions"))
		printf("%-24s %9.0f %12.0f %12.0f %10.0f\n", str(e, "stream"), num(e, "partition"),
		       num(e, "committed"), num(e, "log_end"), num(e, "lag"));
	cJSON_Delete(doc);
	return MQB_CLI_OK;
}

static int cmd_describe(const char *url, const char *group, bool json)
{
	char path[512];
	int status;

	snprintf(path, sizeof(path), "/groups/%s", group);
	cJSON *doc = get_json(url, path, &status), *e;
	if (!doc)
		return MQB_CLI_FAIL;
	if (status != 200) {
		mqb_cli_error("%s", status == 404 ? "no such group" : str(doc, "error"));
		cJSON_Delete(doc);
		return MQB_CLI_FAIL;
	}
	if (json) {
		char *s = cJSON_Print(doc);
		puts(s);
		free(s);
		cJSON_Delete(doc);
		return MQB_CLI_OK;
	}
	if (!strcmp(str(doc, "kind"), "kafka"))
		return describe_kafka(doc);
	printf("group %s  stream %s  mode %s", str(doc, "name"), str(doc, "stream"), str(doc, "mode"));
	if (cJSON_GetObjectItem(doc, "assignor"))
		printf("  assignor %s (%s)", str(doc, "assignor"), str(doc, "rebalance"));
	printf("\nstate %s  generation %.0f  rebalances %.0f  lag %.0f\n\n", str(doc, "state"),
	       num(doc, "generation"), num(doc, "rebalances"),
	       num(doc, "lag"));
	printf("%-32s %-16s %8s %9s %12s  %s\n", "MEMBER", "INSTANCE", "PREFETCH", "IN-FLIGHT",
	       "OLDEST(ms)", "ASSIGNED");
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(doc, "members")) {
		printf("%-32s %-16s %8.0f %9.0f %12.0f  ", str(e, "member_id"), str(e, "instance_id"),
		       num(e, "prefetch"), num(e, "prefetch_in_use"), num(e, "oldest_unacked_ms"));
		print_ints(cJSON_GetObjectItem(e, "assigned"));
		if (cJSON_GetArraySize(cJSON_GetObjectItem(e, "revoking"))) {
			printf(" revoking ");
			print_ints(cJSON_GetObjectItem(e, "revoking"));
		}
		if (cJSON_IsTrue(cJSON_GetObjectItem(e, "departed")))
			printf(" (departed, held)");
		putchar('\n');
	}
	printf("\n%9s %-24s %12s %12s %10s %9s %12s %8s %8s\n", "PARTITION", "OWNER", "COMMITTED",
	       "LOG-END", "LAG", "IN-FLIGHT", "REDELIVERED", "DLQ", "ARCHIVED");
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(doc, "partitions"))
		printf("%9.0f %-24s %12.0f %12.0f %10.0f %9.0f %12.0f %8.0f %8.0f\n",
		       num(e, "partition"), str(e, "owner"), num(e, "committed"), num(e, "log_end"),
		       num(e, "lag"), num(e, "in_flight"), num(e, "redeliveries"),
		       num(e, "dead_lettered"), num(e, "archived"));
	cJSON_Delete(doc);
	return MQB_CLI_OK;
}

/* Reset a Kafka group's committed offsets (the daemon stopped: the store's lock). */
static int reset_kafka(mqb_config_t *cfg, const char *group, const char *to)
{
	char err[600] = "";
	mqb_store_t *st = mqb_store_open(cfg->data_dir, 0, err, sizeof(err));
	mqb_client_offsets_t o;
	int r, rc = MQB_CLI_FAIL;

	if (!st) {
		mqb_cli_error("cannot reset while the data directory is in use: %s. Stop mqbridged "
			      "first (a reset needs a group without members)", err);
		return MQB_CLI_FAIL;
	}
	for (size_t i = 0; i < cfg->streams_count; i++)
		if (mqb_store_stream_open(st, &cfg->streams[i].opts, err, sizeof(err)) != MQB_OK) {
			mqb_cli_error("%s", err);
			goto out;
		}
	r = mqb_client_offsets_reset(cfg->data_dir, "kafka", group, st, to, &o, err, sizeof(err));
	if (r != MQB_OK) {
		mqb_cli_error("%s", err);
		rc = r == MQB_ERR_INVAL ? MQB_CLI_USAGE : MQB_CLI_FAIL;
		goto out;
	}
	printf("Kafka group %s reset to %s:\n", group, to);
	for (size_t i = 0; i < o.n; i++)
		printf("  %s partition %d: %lld\n", o.e[i].stream, (int)o.e[i].partition,
		       (long long)o.e[i].offset);
	mqb_client_offsets_free(&o);
	rc = MQB_CLI_OK;
out:
	mqb_store_close(st);
	return rc;
}

static int cmd_reset(const char *conf, const char *group, const char *to)
{
	char err[512];
	mqb_config_t *cfg = NULL;
	mqb_store_t *st = NULL;
	mqb_coord_t *c = NULL;
	int rc = MQB_CLI_FAIL;
	bool found = false;

	cfg = mqb_cli_config_load(conf, err, sizeof(err));
	if (!cfg) {
		mqb_cli_error("%s", err);
		goto out;
	}
	for (size_t i = 0; i < cfg->groups_count; i++)
		found |= strcmp(cfg->groups[i].name, group) == 0;
	if (!found) {
		char path[4096];
		/* a Kafka group (kafka_api): its committed offsets under __groups/kafka */
		if (mqb_group_name_valid(group) &&
		    mqb_client_offsets_path(path, sizeof path, cfg->data_dir, "kafka", group) == 0 &&
		    access(path, F_OK) == 0) {
			rc = reset_kafka(cfg, group, to);
			goto out;
		}
		mqb_cli_error("no group %s in %s (nor a Kafka group with committed offsets in "
			      "%s/__groups/kafka)", group, conf, cfg->data_dir);
		goto out;
	}
	st = mqb_store_open(cfg->data_dir, 0, err, sizeof(err));
	if (!st) {
		mqb_cli_error("cannot reset while the data directory is in use: %s. Stop mqbridged "
			      "first (a reset needs a group without members)", err);
		goto out;
	}
	for (size_t i = 0; i < cfg->streams_count; i++)
		if (mqb_store_stream_open(st, &cfg->streams[i].opts, err, sizeof(err)) != MQB_OK) {
			mqb_cli_error("%s", err);
			goto out;
		}
	mqb_coord_opts_t o = { .cfg = cfg, .store = st, .now_ms = mqb_mono_ms() };
	c = mqb_coord_new(&o, err, sizeof(err));
	if (!c) {
		mqb_cli_error("%s", err);
		goto out;
	}
	int r = mqb_coord_reset(c, group, to, mqb_mono_ms(), err, sizeof(err));
	if (r != MQB_OK) {
		mqb_cli_error("%s", err);
		rc = r == MQB_ERR_INVAL ? MQB_CLI_USAGE : MQB_CLI_FAIL;
		goto out;
	}
	printf("group %s reset to %s:\n", group, to);
	cJSON *doc = mqb_coord_describe(c, group, mqb_mono_ms()), *e;
	cJSON *parts = cJSON_GetObjectItem(doc, "partitions");
	cJSON_ArrayForEach(e, parts)
		printf("  partition %.0f: %.0f\n", num(e, "partition"), num(e, "committed"));
	cJSON_Delete(doc);
	rc = MQB_CLI_OK;
out:
	mqb_coord_destroy(c);
	mqb_store_close(st);
	mqb_config_free(cfg);
	return rc;
}

int mqb_cmd_groups(int argc, char **argv)
{
	const char *url = "http://127.0.0.1:9883", *conf = NULL, *group = NULL, *to = NULL;
	bool json = false;
	int opt;
	static const struct option opts[] = {
		{ "url", required_argument, NULL, 'U' },
		{ "json", no_argument, NULL, 'j' },
		{ "group", required_argument, NULL, 'g' },
		{ "to", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};

	if (argc < 2)
		return mqb_cli_usage(USAGE, "a subcommand is required");
	if (mqb_cli_is_help(argv[1])) {
		printf("usage: %s\n", USAGE);
		return MQB_CLI_OK;
	}
	const char *sub = argv[1];
	mqb_cli_getopt_reset();
	while ((opt = getopt_long(argc - 1, argv + 1, "c:", opts, NULL)) != -1) {
		switch (opt) {
		case 'U': url = optarg; break;
		case 'j': json = true; break;
		case 'g': group = optarg; break;
		case 't': to = optarg; break;
		case 'c': conf = optarg; break;
		case 'H':
			printf("usage: %s\n", USAGE);
			return MQB_CLI_OK;
		default:
			return mqb_cli_usage(USAGE, NULL);
		}
	}
	int rest = argc - 1 - optind;
	char **rv = argv + 1 + optind;
	if (!strcmp(sub, "list")) {
		if (rest)
			return mqb_cli_usage(USAGE, "unexpected argument: %s", rv[0]);
		return cmd_list(url, json);
	}
	if (!strcmp(sub, "describe")) {
		if (rest == 1 && !group)
			group = rv[0];
		else if (rest)
			return mqb_cli_usage(USAGE, "unexpected argument: %s", rv[rest - 1]);
		if (!group)
			return mqb_cli_usage(USAGE, "describe needs a group");
		if (strchr(group, '/') || strchr(group, '?'))
			return mqb_cli_usage(USAGE, "bad group name: %s", group);
		return cmd_describe(url, group, json);
	}
	if (!strcmp(sub, "reset")) {
		if (rest)
			return mqb_cli_usage(USAGE, "unexpected argument: %s", rv[0]);
		if (!conf || !group || !to)
			return mqb_cli_usage(USAGE, "reset needs -c FILE, --group and --to");
		return cmd_reset(conf, group, to);
	}
	return mqb_cli_usage(USAGE, "unknown subcommand: %s", sub);
}
