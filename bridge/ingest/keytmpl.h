/*
 * keytmpl.h — record key templates: how a route turns an MQTT topic into a record key.
 *
 * Syntax: literal text with placeholders
 *   {N}      topic level N counted from 0 ("sensors/dev7/telemetry": {1} = "dev7")
 *   {topic}  the whole topic
 *   {{ }}    a literal '{' or '}'
 * e.g. "{1}", "dev-{1}/{3}", "{topic}". An empty template is refused (a route without a
 * key uses the sticky partitioner instead).
 *
 * Ownership: mqb_keytmpl_compile() returns an object owned by the caller (free with
 * mqb_keytmpl_free(), NULL-safe); it does not keep the template string. Rendering
 * writes into a caller buffer and never allocates, so it is safe on the ingest path
 * and from several threads at once.
 */
#ifndef MQB_KEYTMPL_H
#define MQB_KEYTMPL_H

#include <stddef.h>

typedef struct mqb_keytmpl mqb_keytmpl_t;

#define MQB_KEYTMPL_MAX_LEVEL 65535

/* Compile tmpl. NULL on error with errstr naming the problem and its position, e.g.
 * "unclosed '{' at column 5". */
mqb_keytmpl_t *mqb_keytmpl_compile(const char *tmpl, char *errstr, size_t errstr_size);
void mqb_keytmpl_free(mqb_keytmpl_t *kt);

/* Highest {N} used, or -1 when the template uses no level placeholder. */
int mqb_keytmpl_max_level(const mqb_keytmpl_t *kt);

/*
 * Render against topic into buf[0..size) (not NUL-terminated; *len_out gets the
 * length). Returns MQB_OK; MQB_ERR_NOTFOUND when the topic has fewer levels than a
 * {N} needs (the ingest counts the message as rejected); MQB_ERR_TOOBIG when the key
 * does not fit in size bytes; MQB_ERR_INVAL when kt or topic is NULL.
 */
int mqb_keytmpl_render(const mqb_keytmpl_t *kt, const char *topic,
		       char *buf, size_t size, size_t *len_out);

#endif
