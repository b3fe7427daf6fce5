/*
 * mqtt_conf.h — the `mqtt` configuration section (the broker mqbridge subscribes to),
 * owned by the MQTT connector: its struct, its key table (mqtt_conf.c) registered with
 * the config core as mqb_mqtt_conf_section, and the typed accessor.
 *
 * Checks: inside the group (reconnect_max_ms >= reconnect_min_ms, password_file needs
 * username, certfile with keyfile and TLS, client_id UTF-8), and once the whole file is
 * loaded (also when the section is absent): every streams[].max_batch_bytes is at least
 * mqtt.max_message_bytes + MQB_BATCH_HDR_SIZE (the largest record fits a batch), and groups_prefix is an MQTT topic name (the group protocol
 * topics start with it). Errors "FILE:LINE: key.path: problem (got X)".
 *
 * Thread: filled inside mqb_config_load(); read-only afterwards, any thread may read it.
 * Ownership: the struct lives in the loaded mqb_config_t (mqb_config_free() frees it);
 * mqb_mqtt_conf() returns a borrowed pointer valid as long as the config.
 */
#ifndef MQB_MQTT_CONF_H
#define MQB_MQTT_CONF_H

#include <stdbool.h>
#include <stdint.h>

#include "bridge/config.h"

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
	int64_t max_message_bytes;   /* 1 MiB; larger records are refused (counted lost) */
	int max_inflight;            /* receive maximum / inflight (100) */
	int batch_linger_ms;         /* keep small batches open across bursts (ms) */
	int line;
} mqb_mqtt_conf_t;

/* The section descriptor to pass to mqb_config_load() (name "mqtt"). */
extern const mqb_config_section_t mqb_mqtt_conf_section;

/* cfg's mqtt section (its defaults when the file has none); NULL when cfg was loaded
 * without mqb_mqtt_conf_section. */
const mqb_mqtt_conf_t *mqb_mqtt_conf(const mqb_config_t *cfg);

#endif
