/*
 * cmd_offsets.c — `mqbridge offsets translate`: where in Kafka a consumer can continue
 * after consuming the local log up to an offset, from the forwarder's offset-sync pairs
 * (docs/KAFKA.md). Asks the running daemon's stats endpoint:
 *
 *   mqbridge offsets translate --stream S --partition P --offset O [--topic T]
 *   mqbridge offsets translate --stream S --group G   (each partition's committed offset)
 *            [--url http://127.0.0.1:9883] [--json]
 *
 * GET /offsets/translate?stream=S&partition=P&offset=O[&topic=T] per partition; the
 * group's committed offsets come from GET /groups/G.
 */
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
#include "tools/cli.h"

#define USAGE \
	"mqbridge offsets translate --stream S --partition P --offset O [--topic T]\n" \
	"                           [--url http://127.0.0.1:9883] [--json]\n" \
	"       mqbridge offsets translate --stream S --group G [--topic T] [--url URL] [--json]"


/* Percent-encode s for a query string. */
static void url_encode(char *out, size_t out_size, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (; *s && o + 4 < out_size; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
}

/* The "error" member of a JSON error body, or the body itself. */
static void print_http_error(int status, const char *body)
{
	cJSON *doc = body ? cJSON_Parse(body) : NULL;
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(doc, "error");
	mqb_cli_error("HTTP %d: %s", status, cJSON_IsString(e) ? e->valuestring :
		      (body && *body ? body : "(no body)"));
	cJSON_Delete(doc);
}

/* Translate one position; prints a line (or adds to arr for --json). 0 ok. */
static int translate_one(const char *url, const char *stream, const char *topic,
			 int64_t partition, int64_t offset, cJSON *arr)
{
	char path[1400], es[600], et[600] = "";
	char *body = NULL;
	url_encode(es, sizeof(es), stream);
	if (topic)
		url_encode(et, sizeof(et), topic);
	snprintf(path, sizeof(path), "/offsets/translate?stream=%s&partition=%lld&offset=%lld%s%s",
		 es, (long long)partition, (long long)offset, topic ? "&topic=" : "", et);
	int status = mqb_cli_http_get(url, path, &body);
	if (status < 0)
		return -1;
	if (status != 200) {
		print_http_error(status, body);
		free(body);
		return -1;
	}
	cJSON *doc = cJSON_Parse(body);
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(doc, "kafka_offset");
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(doc, "topic");
	int rc = -1;
	if (cJSON_IsNumber(k) && cJSON_IsString(t)) {
		if (arr) {
			cJSON_AddItemToArray(arr, doc);
			doc = NULL;
		} else {
			printf("%s [%lld] offset %lld -> Kafka %s [%lld] offset %lld\n", stream,
			       (long long)partition, (long long)offset, t->valuestring,
			       (long long)partition, (long long)k->valuedouble);
		}
		rc = 0;
	} else {
		mqb_cli_error("unexpected answer: %s", body);
	}
	cJSON_Delete(doc);
	free(body);
	return rc;
}

/* Every partition of the group: its committed offset, translated. */
static int translate_group(const char *url, const char *stream, const char *topic,
			   const char *group, cJSON *arr)
{
	char path[700], eg[600];
	char *body = NULL;
	int rc = 0;
	url_encode(eg, sizeof(eg), group);
	snprintf(path, sizeof(path), "/groups/%s", eg);
	int status = mqb_cli_http_get(url, path, &body);
	if (status < 0)
		return -1;
	if (status != 200) {
		print_http_error(status, body);
		free(body);
		return -1;
	}
	cJSON *doc = cJSON_Parse(body);
	const cJSON *gs = cJSON_GetObjectItemCaseSensitive(doc, "stream");
	const cJSON *parts = cJSON_GetObjectItemCaseSensitive(doc, "partitions"), *p;
	if (!cJSON_IsString(gs) || !cJSON_IsArray(parts)) {
		mqb_cli_error("unexpected answer for group %s", group);
		rc = -1;
	} else if (strcmp(gs->valuestring, stream) != 0) {
		mqb_cli_error("group %s consumes stream %s, not %s", group, gs->valuestring,
			      stream);
		rc = -1;
	} else {
		cJSON_ArrayForEach(p, parts) {
			const cJSON *pn = cJSON_GetObjectItemCaseSensitive(p, "partition");
			const cJSON *c = cJSON_GetObjectItemCaseSensitive(p, "committed");
			if (!cJSON_IsNumber(pn) || !cJSON_IsNumber(c)) {
				rc = -1;
				continue;
			}
			if (translate_one(url, stream, topic, (int64_t)pn->valuedouble,
					  (int64_t)c->valuedouble, arr))
				rc = -1;
		}
	}
	cJSON_Delete(doc);
	free(body);
	return rc;
}

int mqb_cmd_offsets(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "stream", required_argument, NULL, 's' },
		{ "partition", required_argument, NULL, 'p' },
		{ "offset", required_argument, NULL, 'o' },
		{ "group", required_argument, NULL, 'g' },
		{ "topic", required_argument, NULL, 't' },
		{ "url", required_argument, NULL, 'u' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *stream = NULL, *group = NULL, *topic = NULL, *url = "http://127.0.0.1:9883";
	int64_t partition = -1, offset = -1;
	int json = 0, c;
	if (argc >= 2 && mqb_cli_is_help(argv[1])) {
		printf("usage: %s\n", USAGE);
		return MQB_CLI_OK;
	}
	if (argc < 2 || strcmp(argv[1], "translate") != 0)
		return mqb_cli_usage(USAGE, argc < 2 ? "offsets: missing subcommand" :
				     "offsets: unknown subcommand '%s'", argv[1]);
	argc--;
	argv++;
	mqb_cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': stream = optarg; break;
		case 'g': group = optarg; break;
		case 't': topic = optarg; break;
		case 'u': url = optarg; break;
		case 'j': json = 1; break;
		case 'p':
			if (!mqb_cli_parse_i64(optarg, 0, INT32_MAX, &partition))
				return mqb_cli_usage(USAGE, "--partition: expected 0..%d, got '%s'",
						     INT32_MAX, optarg);
			break;
		case 'o':
			if (!mqb_cli_parse_i64(optarg, 0, INT64_MAX, &offset))
				return mqb_cli_usage(USAGE, "--offset: expected an integer >= 0, "
						     "got '%s'", optarg);
			break;
		case 'h':
			printf("usage: %s\n", USAGE);
			return MQB_CLI_OK;
		default:
			return mqb_cli_usage(USAGE, NULL);
		}
	}
	if (optind < argc)
		return mqb_cli_usage(USAGE, "unexpected argument '%s'", argv[optind]);
	if (!stream)
		return mqb_cli_usage(USAGE, "--stream is required");
	if (group && (partition >= 0 || offset >= 0))
		return mqb_cli_usage(USAGE, "give either --group or --partition and --offset");
	if (!group && (partition < 0 || offset < 0))
		return mqb_cli_usage(USAGE, "--partition and --offset (or --group) are required");

	cJSON *arr = json ? cJSON_CreateArray() : NULL;
	int rc = group ? translate_group(url, stream, topic, group, arr) :
		 translate_one(url, stream, topic, partition, offset, arr);
	if (arr) {
		char *s = cJSON_Print(arr);
		if (s)
			printf("%s\n", s);
		free(s);
		cJSON_Delete(arr);
	}
	return rc == 0 ? MQB_CLI_OK : MQB_CLI_FAIL;
}
