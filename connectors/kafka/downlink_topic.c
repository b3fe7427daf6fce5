/*
 * downlink_topic.c — compiling and rendering the downlink topic template
 * (downlink_topic.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/err.h"
#include "bridge/ingest/topic.h"
#include "bridge/text.h"
#include "connectors/kafka/downlink_topic.h"

enum part_kind { P_TEXT, P_KEY, P_PARTITION, P_OFFSET, P_HEADER };

struct part {
	enum part_kind kind;
	char *s;                     /* text, or the header name */
	size_t len;
};

struct mqb_dl_tmpl {
	struct part *parts;
	size_t n;
};

const char *mqb_dl_reason_name(mqb_dl_unroutable_reason_t r)
{
	static const char *const names[] = { "ok", "no_key", "no_header", "bad_value",
					     "bad_topic" };
	return (unsigned)r < MQB_DL_NREASONS ? names[r] : "unknown";
}

void mqb_dl_tmpl_free(mqb_dl_tmpl_t *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		free(t->parts[i].s);
	free(t->parts);
	free(t);
}

static int add_part(mqb_dl_tmpl_t *t, enum part_kind k, const char *s, size_t len)
{
	struct part *np = realloc(t->parts, (t->n + 1) * sizeof(*np));
	if (!np)
		return MQB_ERR_NOMEM;
	t->parts = np;
	np[t->n] = (struct part){ .kind = k, .len = len };
	if (s) {
		np[t->n].s = strndup(s, len);
		if (!np[t->n].s)
			return MQB_ERR_NOMEM;
	}
	t->n++;
	return MQB_OK;
}

/* One "{...}" at text (after the '{'), ending at close. */
static int add_field(mqb_dl_tmpl_t *t, const char *f, size_t len, char *errstr,
		     size_t errstr_size)
{
	if (len == 3 && memcmp(f, "key", 3) == 0)
		return add_part(t, P_KEY, NULL, 0);
	if (len == 9 && memcmp(f, "partition", 9) == 0)
		return add_part(t, P_PARTITION, NULL, 0);
	if (len == 6 && memcmp(f, "offset", 6) == 0)
		return add_part(t, P_OFFSET, NULL, 0);
	if (len > 7 && memcmp(f, "header:", 7) == 0)
		return add_part(t, P_HEADER, f + 7, len - 7);
	mqb_errstr_set(errstr, errstr_size, "unknown field {%.*s} (known: {key}, {partition}, "
		       "{offset}, {header:NAME})", (int)len, f);
	return MQB_ERR_INVAL;
}

static int compile(mqb_dl_tmpl_t *t, const char *text, char *errstr, size_t errstr_size)
{
	const char *p = text;
	while (*p) {
		if (p[0] == '{' && p[1] == '{') {
			if (add_part(t, P_TEXT, "{", 1))
				return MQB_ERR_NOMEM;
			p += 2;
		} else if (*p == '{') {
			const char *close = strchr(p, '}');
			if (!close) {
				mqb_errstr_set(errstr, errstr_size, "unclosed '{'");
				return MQB_ERR_INVAL;
			}
			int rc = add_field(t, p + 1, (size_t)(close - p - 1), errstr, errstr_size);
			if (rc)
				return rc;
			p = close + 1;
		} else {
			size_t n = strcspn(p, "{");
			if (add_part(t, P_TEXT, p, n))
				return MQB_ERR_NOMEM;
			p += n;
		}
	}
	return MQB_OK;
}

mqb_dl_tmpl_t *mqb_dl_tmpl_new(const char *text, char *errstr, size_t errstr_size)
{
	mqb_dl_tmpl_t *t = calloc(1, sizeof(*t));
	if (!t) {
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		return NULL;
	}
	if (compile(t, text, errstr, errstr_size) != MQB_OK) {
		mqb_dl_tmpl_free(t);
		return NULL;
	}
	return t;
}

/* A substituted value: non-empty UTF-8 with no '/', '+', '#' or NUL. */
static bool value_ok(const void *v, size_t len)
{
	if (!v || len == 0 || !mqb_utf8_valid(v, len))
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = ((const char *)v)[i];
		if (c == '/' || c == '+' || c == '#' || c == '\0')
			return false;
	}
	return true;
}

static bool append(char *out, size_t size, size_t *at, const void *s, size_t len)
{
	if (*at + len >= size)
		return false;
	memcpy(out + *at, s, len);
	*at += len;
	out[*at] = '\0';
	return true;
}

/* The value of one field part; reason on failure. */
static mqb_dl_unroutable_reason_t part_value(const struct part *pt, const mqb_dl_fields_t *f,
					     char num[24], const void **v, size_t *len,
					     const char **detail)
{
	switch (pt->kind) {
	case P_TEXT:
		*v = pt->s; *len = pt->len;
		return MQB_DL_OK;
	case P_PARTITION:
		*len = (size_t)snprintf(num, 24, "%" PRId32, f->partition); *v = num;
		return MQB_DL_OK;
	case P_OFFSET:
		*len = (size_t)snprintf(num, 24, "%" PRId64, f->offset); *v = num;
		return MQB_DL_OK;
	case P_KEY:
		if (!f->key) {
			*detail = "null key";
			return MQB_DL_NO_KEY;
		}
		*v = f->key; *len = f->key_len;
		break;
	case P_HEADER:
		if (!f->header || !f->header(f->arg, pt->s, v, len)) {
			*detail = pt->s;
			return MQB_DL_NO_HEADER;
		}
		break;
	}
	if (!value_ok(*v, *len)) {
		*detail = pt->kind == P_KEY ? "key" : pt->s;
		return MQB_DL_BAD_VALUE;
	}
	return MQB_DL_OK;
}

mqb_dl_unroutable_reason_t mqb_dl_tmpl_render(const mqb_dl_tmpl_t *t, const mqb_dl_fields_t *f,
					      char *out, size_t size, const char **detail)
{
	const char *dummy;
	size_t at = 0;
	if (!detail)
		detail = &dummy;
	*detail = "";
	if (size == 0)
		return MQB_DL_BAD_TOPIC;
	out[0] = '\0';
	for (size_t i = 0; i < t->n; i++) {
		char num[24];
		const void *v = NULL;
		size_t len = 0;
		mqb_dl_unroutable_reason_t r = part_value(&t->parts[i], f, num, &v, &len, detail);
		if (r != MQB_DL_OK)
			return r;
		if (!append(out, size, &at, v, len)) {
			*detail = "topic too long";
			return MQB_DL_BAD_TOPIC;
		}
	}
	if (mqb_topic_name_check(out, detail) != MQB_OK)
		return MQB_DL_BAD_TOPIC;
	return MQB_DL_OK;
}

mqb_dl_unroutable_reason_t mqb_dl_topic_copy(const void *v, size_t len, char *out, size_t size,
					     const char **detail)
{
	const char *dummy;
	if (!detail)
		detail = &dummy;
	*detail = "mqtt.topic header";
	if (!v || len == 0 || len >= size || memchr(v, '\0', len))
		return MQB_DL_BAD_TOPIC;
	memcpy(out, v, len);
	out[len] = '\0';
	if (mqb_topic_name_check(out, detail) != MQB_OK)
		return MQB_DL_BAD_TOPIC;
	return MQB_DL_OK;
}
