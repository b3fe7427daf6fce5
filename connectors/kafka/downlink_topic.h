/*
 * downlink_topic.h — the downlink's MQTT topic template: a record's topic from
 * "devices/{key}/commands" with the fields {key}, {partition}, {offset} and
 * {header:NAME} (the first header NAME). Literal text is kept as is; "{{" is a '{'.
 *
 * A substituted value must be non-empty UTF-8 without '/', '+', '#' or NUL, so a key
 * can never add topic levels or wildcards; the rendered topic must pass
 * mqb_topic_name_check(). Anything else makes the record unroutable, with a reason.
 * No librdkafka here: the caller hands the record's fields in a mqb_dl_fields_t.
 *
 * Ownership: a compiled template owns its parts (mqb_dl_tmpl_free). Rendering writes
 * into the caller's buffer. Pure functions: any thread.
 */
#ifndef MQB_KAFKA_DOWNLINK_TOPIC_H
#define MQB_KAFKA_DOWNLINK_TOPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum mqb_dl_unroutable {
	MQB_DL_OK = 0,
	MQB_DL_NO_KEY,        /* {key} and the record has a null key */
	MQB_DL_NO_HEADER,     /* {header:NAME} and no such header */
	MQB_DL_BAD_VALUE,     /* a value is empty, not UTF-8, or holds '/', '+', '#', NUL */
	MQB_DL_BAD_TOPIC,     /* the topic (or an mqtt.topic header) is not a topic name */
	MQB_DL_NREASONS
} mqb_dl_unroutable_reason_t;

/* "no_key", "no_header", "bad_value", "bad_topic" (metric label values). */
const char *mqb_dl_reason_name(mqb_dl_unroutable_reason_t r);

/* What a template may use from one record. header() returns true and sets *v and *len
 * when the record has the header (value NULL, len 0: a null value). */
typedef struct mqb_dl_fields {
	const void *key; size_t key_len;   /* key NULL: null key */
	int32_t partition;
	int64_t offset;
	bool (*header)(void *arg, const char *name, const void **v, size_t *len);
	void *arg;
} mqb_dl_fields_t;

typedef struct mqb_dl_tmpl mqb_dl_tmpl_t;

/* Compile. NULL with errstr ("unknown field {x}", "unclosed {") on a bad template. */
mqb_dl_tmpl_t *mqb_dl_tmpl_new(const char *text, char *errstr, size_t errstr_size);
void mqb_dl_tmpl_free(mqb_dl_tmpl_t *t);   /* NULL-safe */

/* Render into out (size bytes, NUL-terminated). MQB_DL_OK or the reason it cannot;
 * *detail (may be NULL) then points at a static phrase or the header name. */
mqb_dl_unroutable_reason_t mqb_dl_tmpl_render(const mqb_dl_tmpl_t *t, const mqb_dl_fields_t *f,
					      char *out, size_t size, const char **detail);

/* Check a whole topic given by a record (the mqtt.topic header) and copy it into out. */
mqb_dl_unroutable_reason_t mqb_dl_topic_copy(const void *v, size_t len, char *out, size_t size,
					     const char **detail);

#endif
