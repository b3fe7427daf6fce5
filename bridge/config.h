/*
 * config.h — mqbridged's configuration, parsed from one libconfig file.
 *
 * mqb_config_load() reads and validates the whole file against typed tables (type,
 * range, default for every key); any unknown key, wrong type, out-of-range value,
 * route naming an unknown stream, bad topic filter or key template is an error whose
 * message names file:line and the key, e.g.
 *   "/etc/mqbridge/mqbridge.conf:12: streams.[0].partitions: must be 1..10000 (got 0)".
 * Cross-component checks that need a library the core must not include (librdkafka
 * accepting kafka.properties) are done by that component, which reports with the
 * file/line kept in mqb_config_kv_t.
 *
 * Ownership: mqb_config_load() returns a config that owns all its strings and arrays;
 * free it with mqb_config_free(). Nothing in it refers to libconfig after load.
 */
#ifndef MQB_CONFIG_H
#define MQB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bridge/store/store.h"

typedef struct mqb_config_kv {       /* a free-form key = value (kafka.properties) */
	char *key, *value;
	int line;                    /* line in the file, for error messages */
} mqb_config_kv_t;

typedef struct mqb_mqtt_conf {
	char *host;                  /* "127.0.0.1" */
	int port;                    /* 1883 (8883 is not implied by TLS) */
	char *client_id;             /* "mqbridge" */
	int protocol;                /* 5 or 4 (3.1.1): from "v5" | "v311" */
	int keepalive;               /* s, 30 */
	bool clean_start;            /* false: persistent session */
	int64_t session_expiry_s;    /* MQTT 5 session expiry when !clean_start (86400) */
	char *username;              /* NULL: none */
	char *password_file;         /* NULL: none; first line is the password */
	char *cafile, *capath, *certfile, *keyfile;  /* TLS when cafile or capath set */
	bool tls_insecure;           /* skip hostname verification (false) */
	int64_t reconnect_min_ms;    /* 500 */
	int64_t reconnect_max_ms;    /* 30000 */
	int64_t max_message_bytes;   /* 1 MiB; larger payloads are rejected (counted) */
	int max_inflight;            /* receive maximum / inflight (100) */
	int line;
} mqb_mqtt_conf_t;

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

typedef struct mqb_kafka_forward_conf {
	char *stream;                /* must name a configured stream */
	char *topic;                 /* Kafka topic */
	int stream_index;
	int line;
} mqb_kafka_forward_conf_t;

typedef struct mqb_kafka_conf {
	bool enabled;                /* true when a kafka section exists */
	char *bootstrap_servers;
	mqb_config_kv_t *properties; size_t properties_count;
	mqb_kafka_forward_conf_t *forward; size_t forward_count;
	bool block_on_backlog;       /* false: retention may drop unforwarded records (counted) */
	int64_t sync_interval_offsets;  /* offset-sync pair every N offsets of drift (100) */
	int64_t queue_buffering_max_kbytes; /* memory bound for librdkafka's queue (16384) */
	/* INTERIM hook (issue 13, re-wired by issue 9): kafka.downlink entries; the element
	 * type and its key table live in connectors/kafka/downlink_conf.h. */
	struct mqb_kafka_downlink_conf *downlink; size_t downlink_count;
	int line;
} mqb_kafka_conf_t;

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
	int line;
} mqb_group_conf_t;

typedef struct mqb_config {
	char *path;                  /* the file loaded */
	char *data_dir;              /* "/var/lib/mqbridge" */
	char *log_level;             /* "info" */
	char *groups_prefix;         /* "mqbridge" */
	mqb_mqtt_conf_t mqtt;
	mqb_stats_conf_t stats;
	mqb_stream_conf_t *streams; size_t streams_count;
	mqb_route_conf_t *routes;   size_t routes_count;
	mqb_kafka_conf_t kafka;
	mqb_group_conf_t *groups;   size_t groups_count;
} mqb_config_t;

/* Load and validate path. NULL on error, with errstr "file:line: key: problem". */
mqb_config_t *mqb_config_load(const char *path, char *errstr, size_t errstr_size);
/* Same from a string (tests); name is used in messages in place of the file name. */
mqb_config_t *mqb_config_load_string(const char *text, const char *name,
				     char *errstr, size_t errstr_size);
void mqb_config_free(mqb_config_t *cfg);  /* NULL-safe */

/* Write the key reference (one markdown table per section: key, type, default, range,
 * meaning) generated from the loader's own tables; docs/CONFIG.md embeds it verbatim
 * (unit.config checks that it does). Returns 0, or -1 on a write error. */
int mqb_config_write_reference(FILE *out);

/* Index of the stream named name in cfg->streams, or -1. */
int mqb_config_stream_index(const mqb_config_t *cfg, const char *name);

#endif
