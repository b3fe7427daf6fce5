/*
 * config.h — mqbridged's configuration, parsed from one libconfig file.
 *
 * The core owns the top-level keys data_dir, log_level, groups_prefix and the sections
 * of core modules (stats, streams, routes, groups). Every other top-level group is a
 * section registered by the component that owns it (a connector: "mqtt", "kafka"):
 * the caller of mqb_config_load() passes the list of sections (bridge/daemon/main.c
 * builds it from its connector table; the CLI and tests pass what they need), each
 * section is parsed into its own struct, and its owner reads it back through a typed
 * accessor wrapping mqb_config_section(). How to write a section: config_table.h.
 *
 * mqb_config_load() reads and validates the whole file against typed tables (type,
 * range, default for every key); any unknown key (at the top level: against the core's
 * keys and every registered section, with a "did you mean"), wrong type, out-of-range
 * value, route naming an unknown stream, ... is an error whose message names file:line
 * and the key, e.g.
 *   "/etc/mqbridge/mqbridge.conf:12: streams.[0].partitions: must be 1..10000 (got 0)".
 * Checks that need another module are that module's: the route checks (topic filter,
 * key template) are a check-only entry the ingest module provides
 * (bridge/ingest/route_check.h), so the core links no layer above it; checks that need
 * a library (librdkafka accepting kafka.properties) are the connector's check_config.
 *
 * Order: core keys and sections are parsed in file order (first error wins); then the
 * core's checks across sections; then each registered section's check, in list order.
 *
 * Thread: load on any thread; the list is an argument (no global registry), so loads
 * may run concurrently. Ownership: mqb_config_load() returns a config that owns all its
 * strings, arrays and section structs; free it with mqb_config_free(). Nothing in it
 * refers to libconfig after load. The section descriptors are borrowed (static).
 */
#ifndef MQB_CONFIG_H
#define MQB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bridge/store/store.h"

/* A component's section descriptor (defined in config_table.h). */
typedef struct mqb_config_section mqb_config_section_t;
struct mqb_config_reg;

typedef struct mqb_stats_conf {
	char *listen;                /* "127.0.0.1:9883"; "" or "off" disables */
	char *token_file;            /* NULL: no auth */
	int line;
} mqb_stats_conf_t;

typedef struct mqb_stream_conf {
	mqb_stream_opts_t opts;      /* opts.name points at name */
	char *name;
	int line;
} mqb_stream_conf_t;

typedef struct mqb_route_conf {
	char *name;                  /* for metrics labels; default "route<N>" or the filter */
	char *filter;                /* MQTT topic filter */
	int qos;                     /* 0..2, default 1 */
	char *stream;                /* must name a configured stream */
	char *key;                   /* key template, NULL: no key (sticky partition) */
	int stream_index;            /* index into config->streams, resolved at load */
	int line;
} mqb_route_conf_t;

typedef enum { MQB_GROUP_EXCLUSIVE = 0, MQB_GROUP_SHARED = 1 } mqb_group_mode_t;
typedef enum { MQB_REBALANCE_EAGER = 0, MQB_REBALANCE_COOPERATIVE = 1 } mqb_rebalance_t;

typedef struct mqb_group_conf {
	char *name;
	char *stream;
	int stream_index;
	mqb_group_mode_t mode;       /* "exclusive" | "shared" */
	char *assignor;              /* range | roundrobin | sticky | cooperative-sticky */
	mqb_rebalance_t rebalance;   /* default cooperative for cooperative-sticky, else eager */
	int64_t session_timeout_ms;  /* 10000 */
	int64_t heartbeat_interval_ms; /* 3000 */
	int64_t rebalance_timeout_ms;  /* hand-over wait for "revoked" (default session timeout) */
	int64_t ack_timeout_ms;      /* 30000 */
	int max_deliveries;          /* 5 */
	char *dead_letter;           /* stream name or NULL (archive) */
	int dead_letter_index;       /* -1 when none */
	int prefetch;                /* 100 */
	bool start_latest;           /* start = "earliest" (false) | "latest" (true) */
	bool on_corrupt_start;       /* on_corrupt_state = "refuse" (false) | "start" (true) */
	int max_members;             /* 1024 */
	int64_t join_deadline_ms;    /* first heartbeat due (0: 2 x heartbeat_interval_ms) */
	int join_rate;               /* joins of new members per second per group (50) */
	int join_burst;              /* token bucket size (100) */
	int line;
} mqb_group_conf_t;

/* Background scrub of sealed segments (store.h, mqb_store_set_scrub). */
typedef struct mqb_scrub_conf {
	int64_t interval_ms;         /* pause between passes; 0 disables (21600000) */
	int64_t max_bytes_per_s;     /* read rate bound (1048576) */
} mqb_scrub_conf_t;

typedef struct mqb_config {
	char *path;                  /* the file loaded */
	char *data_dir;              /* "/var/lib/mqbridge" */
	char *log_level;             /* "info" */
	char *groups_prefix;         /* "mqbridge" */
	mqb_stats_conf_t stats;
	mqb_scrub_conf_t scrub;
	mqb_stream_conf_t *streams; size_t streams_count;
	mqb_route_conf_t *routes;   size_t routes_count;
	mqb_group_conf_t *groups;   size_t groups_count;
	struct mqb_config_reg *reg;  /* the registered sections (private to config.c) */
} mqb_config_t;

/* Load and validate path with the core's keys plus sections, a NULL-terminated list
 * (NULL: the core's keys only). NULL on error, with errstr "file:line: key: problem". */
mqb_config_t *mqb_config_load(const char *path, const mqb_config_section_t *const *sections,
			      char *errstr, size_t errstr_size);
/* Same from a string (tests); name is used in messages in place of the file name. */
mqb_config_t *mqb_config_load_string(const char *text, const char *name,
				     const mqb_config_section_t *const *sections,
				     char *errstr, size_t errstr_size);
void mqb_config_free(mqb_config_t *cfg);  /* NULL-safe */

/* The struct of the section registered as name (its defaults when the file has no such
 * group), or NULL when no section of that name was passed to the load. Owners wrap it
 * in a typed accessor (mqb_mqtt_conf(), mqb_kafka_conf()). */
const void *mqb_config_section(const mqb_config_t *cfg, const char *name);
/* True when the file has the section's group (false for an absent or unknown one). */
bool mqb_config_section_present(const mqb_config_t *cfg, const char *name);

/* Write the key reference (one markdown table per section: key, type, default, range,
 * meaning) generated from the core's tables and those of sections; docs/CONFIG.md
 * embeds it for the daemon's sections verbatim (unit.config checks that it does).
 * Returns 0, or -1 on a write error. */
int mqb_config_write_reference(FILE *out, const mqb_config_section_t *const *sections);

/* Index of the stream named name in cfg->streams, or -1. */
int mqb_config_stream_index(const mqb_config_t *cfg, const char *name);

#endif
