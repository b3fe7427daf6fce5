/*
 * config.c — mqbridged's configuration: the core's key tables (one per core section:
 * name, type, range, default, description) and the load/free entry points (see
 * config.h and docs/CONFIG.md). Connectors' sections come with their owners
 * (connectors/mqtt/mqtt_conf.c, connectors/kafka/kafka_conf.c) and are merged into the
 * top-level table by config_section.c. The generic table reader is config_table.c, the
 * core's checks beyond one key are config_check.c, file reading and the
 * integer-literal guard config_text.c, the markdown reference config_doc.c.
 *
 * Errors: loading stops at the first error; the message is
 * "FILE:LINE: key.path: problem (got X)".
 */
#include "bridge/config.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/config_check.h"
#include "bridge/config_table.h"
#include "bridge/err.h"

#define OFF(type, field) offsetof(type, field)
#define I64MAX INT64_MAX

/* --- tables --------------------------------------------------------------------- */

static const mqb_cfgt_choice_t log_level_choices[] = {
	{ "error", 0 }, { "warn", 0 }, { "notice", 0 }, { "info", 0 }, { "debug", 0 },
	{ NULL, 0 } };
static const mqb_cfgt_choice_t mode_choices[] = {
	{ "exclusive", MQB_GROUP_EXCLUSIVE }, { "shared", MQB_GROUP_SHARED }, { NULL, 0 } };
static const mqb_cfgt_choice_t assignor_choices[] = {
	{ "range", 0 }, { "roundrobin", 0 }, { "sticky", 0 }, { "cooperative-sticky", 0 },
	{ NULL, 0 } };
static const mqb_cfgt_choice_t rebalance_choices[] = {
	{ "eager", MQB_REBALANCE_EAGER }, { "cooperative", MQB_REBALANCE_COOPERATIVE },
	{ NULL, 0 } };
static const mqb_cfgt_choice_t start_choices[] = {
	{ "earliest", 0 }, { "latest", 1 }, { NULL, 0 } };
static const mqb_cfgt_choice_t on_corrupt_choices[] = {
	{ "refuse", 0 }, { "start", 1 }, { NULL, 0 } };

#define K_STR MQB_CFGT_STR
#define K_CHOICE MQB_CFGT_CHOICE
#define K_INT MQB_CFGT_INT
#define K_I64 MQB_CFGT_I64
#define K_ENUM MQB_CFGT_ENUMK
#define K_END MQB_CFGT_END


static const mqb_cfgt_key_t stats_keys[] = {
	K_STR("listen", mqb_stats_conf_t, listen, "127.0.0.1:9883", 0,
	      "HTTP endpoint host:port or [v6addr]:port (port 0: any free one); \"\" or \"off\" disables it"),
	K_STR("token_file", mqb_stats_conf_t, token_file, NULL,
	      MQB_CFGF_PATH | MQB_CFGF_READABLE | MQB_CFGF_NONEMPTY,
	      "when set, requests need \"Authorization: Bearer <first line of the file>\""),
	K_END
};
static const mqb_cfgt_table_t stats_table = {
	"stats", stats_keys, 0, OFF(mqb_stats_conf_t, line), mqb_config_check_stats };

static const mqb_cfgt_key_t scrub_keys[] = {
	K_I64("interval_ms", mqb_scrub_conf_t, interval_ms, 0, I64MAX, 21600000, 0,
	      "pause between two passes of the background scrub over every sealed segment (0: no scrub)"),
	K_I64("max_bytes_per_s", mqb_scrub_conf_t, max_bytes_per_s, 1024, I64MAX, 1048576, 0,
	      "the scrub reads at most this many bytes per second"),
	K_END
};
static const mqb_cfgt_table_t scrub_table = { "scrub", scrub_keys, 0, MQB_CFGT_NOLINE, NULL };

static const mqb_cfgt_key_t flush_keys[] = {
	K_I64("interval_ms", mqb_stream_conf_t, opts.flush_interval_ms, 0, 3600000, 50, 0,
	      "group commit: fsync at most this long after an append (0 with messages = 0: every append)"),
	K_I64("messages", mqb_stream_conf_t, opts.flush_messages, 0, I64MAX, -1, MQB_CFGF_MINUS1,
	      "... or once this many records are unsynced (-1: no count limit)"),
	K_END
};
static const mqb_cfgt_table_t flush_table = { "flush", flush_keys, 0, MQB_CFGT_NOLINE, NULL };

static const mqb_cfgt_key_t stream_keys[] = {
	K_STR("name", mqb_stream_conf_t, name, NULL, MQB_CFGF_REQUIRED,
	      "stream name: [A-Za-z0-9._-]{1,200}, not \".\" or \"..\" (a directory name)"),
	K_INT("partitions", mqb_stream_conf_t, opts.partitions, 1, 10000, 1, 0,
	      "number of partitions (cannot shrink an existing stream)"),
	K_I64("segment_bytes", mqb_stream_conf_t, opts.segment_bytes, 4096, 2147483647,
	      67108864, 0, "roll the active segment at this size"),
	K_I64("segment_ms", mqb_stream_conf_t, opts.segment_ms, 1000, I64MAX, 604800000, 0,
	      "roll the active segment at this age"),
	K_I64("retention_ms", mqb_stream_conf_t, opts.retention_ms, 1000, I64MAX, -1,
	      MQB_CFGF_MINUS1, "delete whole segments older than this (-1: keep forever)"),
	K_I64("retention_bytes", mqb_stream_conf_t, opts.retention_bytes, 4096, I64MAX, -1,
	      MQB_CFGF_MINUS1, "per partition: delete oldest segments beyond this size (-1: no limit)"),
	K_INT("index_interval_bytes", mqb_stream_conf_t, opts.index_interval_bytes, 64,
	      16777216, 4096, 0, "one .index entry per this many bytes of log"),
	K_INT("max_batch_bytes", mqb_stream_conf_t, opts.max_batch_bytes, 1024, 1073741824,
	      16777216, 0, "largest batch the store accepts; at least mqtt.max_message_bytes + 61"),
	{ .name = "flush", .type = MQB_CFGT_GROUP, .off = 0, .sub = &flush_table,
	  .desc = "durability: { interval_ms; messages; }" },
	K_END
};
static const mqb_cfgt_table_t stream_table = {
	"streams[]", stream_keys, sizeof(mqb_stream_conf_t), OFF(mqb_stream_conf_t, line),
	mqb_config_check_stream };

static const mqb_cfgt_key_t route_keys[] = {
	{ .name = "name", .type = MQB_CFGT_STRING, .off = OFF(mqb_route_conf_t, name),
	  .flags = MQB_CFGF_NONEMPTY, .def_doc = "the filter",
	  .desc = "label for metrics and logs; unique" },
	K_STR("filter", mqb_route_conf_t, filter, NULL, MQB_CFGF_REQUIRED,
	      "MQTT topic filter ('+' one level, '#' the rest)"),
	K_INT("qos", mqb_route_conf_t, qos, 0, 2, 1, 0, "subscription QoS"),
	K_STR("stream", mqb_route_conf_t, stream, NULL, MQB_CFGF_REQUIRED,
	      "the stream matching messages are stored in"),
	K_STR("key", mqb_route_conf_t, key, NULL, 0,
	      "record key template: {N} topic level N (from 0), {topic}; none: sticky partition"),
	K_END
};
static const mqb_cfgt_table_t route_table = {
	"routes[]", route_keys, sizeof(mqb_route_conf_t), OFF(mqb_route_conf_t, line),
	mqb_config_check_route };

static const mqb_cfgt_key_t group_keys[] = {
	K_STR("name", mqb_group_conf_t, name, NULL, MQB_CFGF_REQUIRED,
	      "group name: [A-Za-z0-9._-]{1,200} (a topic level and a directory name)"),
	K_STR("stream", mqb_group_conf_t, stream, NULL, MQB_CFGF_REQUIRED,
	      "the stream the group consumes"),
	K_ENUM("mode", mqb_group_conf_t, mode, MQB_GROUP_EXCLUSIVE, mode_choices, 0,
	       "\"exclusive\" (consumer group) or \"shared\" (share group)"),
	K_CHOICE("assignor", mqb_group_conf_t, assignor, "cooperative-sticky", assignor_choices,
		 "partition assignor (exclusive mode)"),
	{ .name = "rebalance", .type = MQB_CFGT_ENUM, .off = OFF(mqb_group_conf_t, rebalance),
	  .def_int = MQB_REBALANCE_EAGER, .choices = rebalance_choices,
	  .def_doc = "`\"cooperative\"` with cooperative-sticky, else `\"eager\"`",
	  .desc = "eager: revoke everything on a rebalance; cooperative: only what moves" },
	K_I64("session_timeout_ms", mqb_group_conf_t, session_timeout_ms, 100, 3600000, 10000, 0,
	      "a member silent this long is removed"),
	{ .name = "heartbeat_interval_ms", .type = MQB_CFGT_INT64,
	  .off = OFF(mqb_group_conf_t, heartbeat_interval_ms), .min = 10, .max = 3600000,
	  .def_int = 3000, .def_doc = "`3000` (session_timeout_ms / 3 when that is less)",
	  .desc = "heartbeat period members are told to use; below session_timeout_ms" },
	{ .name = "rebalance_timeout_ms", .type = MQB_CFGT_INT64,
	  .off = OFF(mqb_group_conf_t, rebalance_timeout_ms), .min = 100, .max = 3600000,
	  .def_int = 10000, .def_doc = "session_timeout_ms",
	  .desc = "how long a cooperative hand-over waits for \"revoked\"" },
	K_I64("ack_timeout_ms", mqb_group_conf_t, ack_timeout_ms, 100, 86400000, 30000, 0,
	      "shared mode: delivery lock duration"),
	K_INT("max_deliveries", mqb_group_conf_t, max_deliveries, 1, 1000, 5, 0,
	      "shared mode: deliveries before a record is dead-lettered or archived"),
	K_STR("dead_letter", mqb_group_conf_t, dead_letter, NULL, MQB_CFGF_NONEMPTY,
	      "stream receiving records that reached max_deliveries (none: archive)"),
	K_INT("prefetch", mqb_group_conf_t, prefetch, 1, 65535, 100, 0,
	      "unacknowledged records per member (a member's join may ask for fewer)"),
	K_ENUM("start", mqb_group_conf_t, start_latest, 0, start_choices, MQB_CFGF_BOOL,
	       "where a new group starts: \"earliest\" or \"latest\""),
	K_ENUM("on_corrupt_state", mqb_group_conf_t, on_corrupt_start, 0, on_corrupt_choices,
	       MQB_CFGF_BOOL, "both saved state slots corrupt: \"refuse\" (the group stays down "
	       "until `mqbridge groups reset`) or \"start\" (log and start per `start`)"),
	K_INT("max_members", mqb_group_conf_t, max_members, 1, 1024, 1024, 0,
	      "members per group; more joins are refused (too_large)"),
	{ .name = "join_deadline_ms", .type = MQB_CFGT_INT64,
	  .off = OFF(mqb_group_conf_t, join_deadline_ms), .min = 0, .max = 3600000,
	  .def_int = 0, .def_doc = "`0`: 2 x heartbeat_interval_ms",
	  .desc = "a new member with no heartbeat within min(this, session_timeout_ms) of its "
		  "join is removed; above heartbeat_interval_ms" },
	K_INT("join_rate", mqb_group_conf_t, join_rate, 1, 100000, 50, 0,
	      "joins of new members per second (token bucket, whatever the member id)"),
	K_INT("join_burst", mqb_group_conf_t, join_burst, 1, 100000, 100, 0,
	      "joins of new members accepted at once before join_rate applies"),
	K_END
};
static const mqb_cfgt_table_t group_table = {
	"groups[]", group_keys, sizeof(mqb_group_conf_t), OFF(mqb_group_conf_t, line),
	mqb_config_check_group };

static const mqb_cfgt_key_t root_keys[] = {
	K_STR("data_dir", mqb_config_t, data_dir, "/var/lib/mqbridge",
	      MQB_CFGF_PATH | MQB_CFGF_NONEMPTY,
	      "segment store directory (relative: against the current directory)"),
	K_CHOICE("log_level", mqb_config_t, log_level, "info", log_level_choices,
		 "how much the daemon logs"),
	K_STR("groups_prefix", mqb_config_t, groups_prefix, "mqbridge", MQB_CFGF_NONEMPTY,
	      "first topic level(s) of the group protocol topics"),
	{ .name = "stats", .type = MQB_CFGT_GROUP, .off = OFF(mqb_config_t, stats),
	  .sub = &stats_table, .desc = "HTTP stats endpoint" },
	{ .name = "scrub", .type = MQB_CFGT_GROUP, .off = OFF(mqb_config_t, scrub),
	  .sub = &scrub_table,
	  .desc = "background re-check of sealed segments for corruption (docs/FORMAT.md)" },
	{ .name = "streams", .type = MQB_CFGT_LIST, .off = OFF(mqb_config_t, streams),
	  .count_off = OFF(mqb_config_t, streams_count), .sub = &stream_table,
	  .flags = MQB_CFGF_REQUIRED, .desc = "the logs" },
	{ .name = "routes", .type = MQB_CFGT_LIST, .off = OFF(mqb_config_t, routes),
	  .count_off = OFF(mqb_config_t, routes_count), .sub = &route_table,
	  .flags = MQB_CFGF_REQUIRED, .desc = "topic filter -> stream, first match wins" },
	{ .name = "groups", .type = MQB_CFGT_LIST, .off = OFF(mqb_config_t, groups),
	  .count_off = OFF(mqb_config_t, groups_count), .sub = &group_table,
	  .desc = "consumer groups for queue consumers over MQTT" },
	K_END
};
static const mqb_cfgt_table_t root_table = {
	"", root_keys, 0, MQB_CFGT_NOLINE, NULL };

_Static_assert(sizeof(mqb_group_mode_t) == sizeof(int), "enum stored as int");
_Static_assert(sizeof(mqb_rebalance_t) == sizeof(int), "enum stored as int");
_Static_assert(sizeof(int32_t) == sizeof(int), "int32 stored as int");

/* --- reference, load, free ---------------------------------------------------------- */

int mqb_config_write_reference(FILE *out, const mqb_config_section_t *const *sections)
{
	char err[256];
	mqb_cfgt_ctx_t ctx = { .name = "reference", .errstr = err, .errstr_size = sizeof(err) };
	struct mqb_config_reg *reg = mqb_config_reg_new(&ctx, &root_table, sections);
	int rc;

	if (!reg)
		return -1;
	rc = mqb_cfgt_write_reference(out, mqb_config_reg_root(reg));
	mqb_config_reg_free(reg);
	return rc;
}

void mqb_config_free(mqb_config_t *cfg)
{
	if (!cfg)
		return;
	mqb_config_reg_free_sections(cfg);
	mqb_cfgt_free(mqb_config_reg_root(cfg->reg), cfg);
	mqb_config_reg_free(cfg->reg);
	free(cfg->path);
	free(cfg);
}

/* Parse the libconfig tree lc into a new config with the core's keys and sections. */
static mqb_config_t *config_parse(mqb_cfgt_ctx_t *ctx, const config_t *lc, const char *name,
				  const mqb_config_section_t *const *sections)
{
	struct mqb_config_reg *reg = mqb_config_reg_new(ctx, &root_table, sections);
	const config_setting_t *root = config_root_setting(lc);
	mqb_config_t *cfg;

	if (!reg)
		return NULL;
	cfg = calloc(1, mqb_config_reg_size(reg));
	if (!cfg) {
		mqb_config_reg_free(reg);
		mqb_cfgt_error_line(ctx, name, 0, "", "out of memory");
		return NULL;
	}
	cfg->reg = reg;
	if (!(cfg->path = strdup(name))) {
		mqb_cfgt_error_line(ctx, name, 0, "", "out of memory");
		goto error;
	}
	if (mqb_cfgt_defaults(ctx, mqb_config_reg_root(reg), cfg) != 0 ||
	    mqb_cfgt_parse_group(ctx, mqb_config_reg_root(reg), cfg, root, "") != 0 ||
	    mqb_config_finalize(ctx, cfg, lc) != 0 ||
	    mqb_config_reg_check(ctx, cfg, root) != 0)
		goto error;
	return cfg;
error:
	mqb_config_free(cfg);
	return NULL;
}

static mqb_config_t *config_load(const char *path, const char *text, const char *name,
				 const mqb_config_section_t *const *sections,
				 char *errstr, size_t errstr_size)
{
	mqb_cfgt_ctx_t ctx = { .name = name, .errstr = errstr, .errstr_size = errstr_size };
	mqb_config_t *cfg = NULL;
	char *dir = NULL, *owned = NULL;
	config_t lc;

	config_init(&lc);
	if (path) {
		owned = mqb_cfgt_read_file(&ctx, path);
		if (!owned)
			goto out;
		text = owned;
		dir = strdup(path);
		if (!dir) {
			mqb_cfgt_error_line(&ctx, name, 0, "", "out of memory");
			goto out;
		}
		ctx.include_dir = dirname(dir);
		config_set_include_dir(&lc, ctx.include_dir);
	}
	if (mqb_cfgt_check_text(&ctx, path, text) != 0)
		goto out;
	if (!config_read_string(&lc, text)) {
		mqb_cfgt_error_line(&ctx, config_error_file(&lc), config_error_line(&lc), "",
				    "%s", config_error_text(&lc));
		goto out;
	}
	cfg = config_parse(&ctx, &lc, name, sections);
out:
	config_destroy(&lc);
	free(owned);
	free(dir);
	return cfg;
}

mqb_config_t *mqb_config_load(const char *path, const mqb_config_section_t *const *sections,
			      char *errstr, size_t errstr_size)
{
	return config_load(path, NULL, path, sections, errstr, errstr_size);
}

mqb_config_t *mqb_config_load_string(const char *text, const char *name,
				     const mqb_config_section_t *const *sections,
				     char *errstr, size_t errstr_size)
{
	return config_load(NULL, text, name ? name : "<string>", sections, errstr,
			   errstr_size);
}
