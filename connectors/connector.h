/*
 * connector.h — the interface every connector (MQTT ingest source, Kafka forwarder
 * sink, ...) implements, as one statically initialised ops table:
 *
 *   const struct mqb_connector_ops mqb_connector_kafka = {
 *       .version = 1, .name = "kafka",
 *       .init = kafka_init, .start = kafka_start, .stop = kafka_stop,
 *       .destroy = kafka_destroy, .check_config = kafka_check_config,
 *       .config = &mqb_kafka_conf_section,
 *   };
 *
 * A connector brings its own configuration section (config: its key table, struct
 * and checks; see bridge/config_table.h): bridge/daemon/main.c passes the sections of
 * every connector in its table to mqb_config_load(), so adding a connector adds one
 * line there and no core file changes. The connector reads its section back through
 * its typed accessor (mqb_kafka_conf(cfg)).
 *
 * The daemon (bridge/daemon/main.c) drives them: check_config (also for --check-config),
 * init, start (the connector runs its own thread), and at shutdown stop then destroy.
 * The core never includes libmosquitto or librdkafka headers: only connectors do.
 *
 * Ownership: init receives borrowed pointers (config, store, metrics) that outlive
 * the connector; it returns an instance the connector owns and frees in destroy.
 *
 * Reload (SIGHUP, docs/OPERATIONS.md): main.c loads and checks the new file exactly
 * as --check-config does, decides which changes can apply live, opens new streams,
 * then calls each started connector's reload (if any) with the new configuration. A
 * connector without reload keeps reading the configuration it was started with: the
 * daemon keeps that one (the boot configuration) alive until exit. A connector with
 * reload borrows new_cfg from the moment reload returns MQB_OK and no longer reads
 * the configuration it had; the daemon frees a replaced configuration (never the
 * boot one) once every reloadable connector has switched away from it.
 */
#ifndef MQB_CONNECTOR_H
#define MQB_CONNECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "bridge/config.h"
#include "bridge/stats/metrics.h"
#include "bridge/store/store.h"

typedef struct mqb_connector_env {
	const mqb_config_t *cfg;     /* borrowed, outlives the connector */
	mqb_store_t *store;          /* borrowed */
	mqb_metrics_t *metrics;      /* borrowed; may be NULL (CLI, some tests) */
	/* The process's consumer-group coordinator (bridge/groups/group_host.h), shared
	 * by every transport that serves group members; NULL when no group is
	 * configured. Borrowed: destroyed after every component stopped. */
	struct mqb_group_host *groups;
} mqb_connector_env_t;

struct mqb_connector_ops {
	int version;                 /* 1 */
	const char *name;
	/* Its top-level configuration section, or NULL (it reads only core keys). */
	const mqb_config_section_t *config;
	/* Validate this connector's part of cfg (checks needing its library). 0 or -1 +
	 * errstr "file:line: key: problem". May be NULL. */
	int (*check_config)(const mqb_config_t *cfg, char *errstr, size_t errstr_size);
	/* Build an instance; NULL + errstr on failure. */
	void *(*init)(const mqb_connector_env_t *env, char *errstr, size_t errstr_size);
	int  (*start)(void *inst);   /* start its thread(s); MQB_OK or error */
	void (*stop)(void *inst);    /* stop threads, flush what it owes; idempotent */
	void (*destroy)(void *inst); /* free; NULL-safe */
	/* Optional: one-line readiness reason; returns 1 when ready. */
	int  (*ready)(void *inst, char *why, size_t why_size);
	/* Optional: 1 while the connector's thread still turns (it made progress within
	 * stall_ms), else 0 with why. The daemon stops pinging the systemd watchdog and
	 * /healthz while a component is stalled. */
	int  (*alive)(void *inst, int64_t stall_ms, char *why, size_t why_size);
	/* Optional, after stop: MQB_OK, or the error for which acknowledged data could
	 * not be kept (the daemon then exits MQB_EXIT_LOST). */
	int  (*stop_status)(void *inst);
	/* Optional: switch to new_cfg (validated; only keys the daemon classes as live
	 * differ from the running configuration, and new streams are already open in
	 * the store). Called on the daemon's thread; may block a few seconds. MQB_OK:
	 * the connector now borrows new_cfg; else an error with why and the connector
	 * still on its previous configuration. */
	int  (*reload)(void *inst, const mqb_config_t *new_cfg, char *why, size_t why_size);
};

/* Exit status of a daemon that stopped but lost acknowledged records on the way. */
#define MQB_EXIT_LOST 3

#endif
